/*
 * pool/worker.c - the worker threads, the same for both kinds of worker.
 *
 * Workers run tasks from their own ring (runq.c), refilled in batches from
 * the submitters' inboxes, the shared FIFO, or by stealing.  A worker
 * without work spins (`nspin`): it looks SPIN_ROUNDS times, yielding the
 * CPU between looks, then parks on `nsleep` (the parking lot's key).  The
 * slow looks are the point: tasks pile up between two looks and move in
 * one batch, the submitters' cache lines are left alone, and on a small
 * machine the spinner gives its CPU to the submitter.  Where a task runs
 * is the kind's business (p->kind: tworker.c, pworker.c): this file only
 * takes tasks and hands them over.
 *
 * Waking (Go's scheduler rules, simplified):
 *  - a submitter wakes a parked worker only if nobody spins, so a burst
 *    of submissions costs at most one futex wake;
 *  - the last worker spinning wakes another when it stops (see below), so
 *    the pool ramps up to all its workers.
 * Missed wake-ups: a submitter publishes its task, then reads nspin and
 * nsleep; a worker going to sleep increments nsleep, then reads every
 * queue, and re-reads them under the parking lot's bucket lock.  Each side
 * needs a store-load barrier between the two; the submitter's is only a
 * compiler barrier and the sleeper's a membarrier (wv__barrier_light and
 * _heavy, core/membarrier_linux.c), so that submitting costs no locked
 * instruction.  That pairing does not cover a submitter that saw a worker
 * spinning and so woke nobody, while that worker, the last one looking,
 * found other work and stopped looking without seeing the new task yet:
 * hence the last one looking always wakes another (Go's resetspinning).
 *
 * Leaving: a worker exits when the pool is terminated or broken, or
 * closed with nothing left anywhere; on its way out it cancels whatever
 * its own ring still holds.  Threads count themselves in `threads`.
 *
 * maxtasksperchild: a worker never takes more tasks than it may still
 * run, so it retires with an empty ring; the kind then either renews
 * what it holds and the thread goes on (processes: a fresh child), or a
 * replacement thread takes over its slot and joins it first.  Elastic
 * workers above `min` retire after idle_ms parked.
 *
 * Lock: pool->mu guards the slots' states and the live count's decisions
 * (spawn, leave, retire, grow); no lock is held while a task runs.
 */
#include "internal.h"

#include <sched.h>
#include <stdio.h>

#define SPIN_ROUNDS 64
#define IN_HAND     8 /* tasks taken from the ring at once */
#define GRAB_MAX    64
#define GRAB_SMALL  16 /* a batch this small: pause before the next */

static __thread wv_pool_t *self_pool;
/* The thread pool whose tasks this thread runs (its workers only: a
 * process pool's tasks run in its children, its callbacks on the
 * handler). */
static __thread wv_pool_t *task_pool;

void wv__pool_enter(wv_pool_t *p)
{
    self_pool = p;
}

bool wv__pool_is_self(const wv_pool_t *p)
{
    return self_pool == p;
}

bool wv__pool_in_task(const wv_pool_t *p)
{
    return task_pool == p;
}

/* ------------------------------------------------------------- tasks */

static void task_free_arg(struct ptask *t)
{
    if (t->kind == T_HEAP)
        wv__free(t->u.heap);
}

void wv__task_discard(struct ptask *t, int err)
{
    if (t->kind == T_CHUNK) {
        wv__chunk_discard(t, err);
        return;
    }
    task_free_arg(t);
    if (t->ref) {
        wv_future_t *f = t->ref;
        if (err == WV_ECANCELED)
            wv_future_cancel(f);
        else
            wv__future_fail_pending(f, err);
        wv_future_unref(f);
    }
}

/* Runs an apply task on worker w (in its child, for a pool of processes):
 * the future (if any) gets the outcome. */
static void run_apply(wv_pool_t *p, struct worker *w, struct ptask *t)
{
    wv_future_t *f = t->ref;
    const void *arg = t->kind == T_HEAP ? t->u.heap : t->u.arg;

    if (wv__task_expired(t->deadline)) {
        wv__task_discard(t, WV_ETIMEDOUT);
        return;
    }
    if (f && wv_future_set_running(f) != 0) { /* cancelled or expired */
        task_free_arg(t);
        wv_future_unref(f);
        return;
    }
    p->kind->run_apply(p, w, t->fn, arg, t->len, t->deadline, f);
    task_free_arg(t);
    wv_future_unref(f);
}

static void run_task(wv_pool_t *p, struct worker *w, struct ptask *t)
{
    if (t->kind == T_CHUNK)
        wv__chunk_run(p, w, t);
    else
        run_apply(p, w, t);
}

/* ----------------------------------------------------------- workers */

static void wake_one(wv_pool_t *p)
{
    wv__unpark(&p->nsleep, 1, NULL, NULL);
}

/* After adding work: wakes a parked worker if nobody is looking.  The
 * light barrier pairs with the heavy one of a worker going to sleep. */
void wv__pool_wake(wv_pool_t *p)
{
    wv__barrier_light();
    if (__atomic_load_n(&p->nspin, __ATOMIC_RELAXED) == 0 &&
        __atomic_load_n(&p->nsleep, __ATOMIC_RELAXED) > 0)
        wake_one(p);
}

static bool inboxes_empty(wv_pool_t *p)
{
    for (unsigned i = 0, n = wv__pool_inboxes(p); i < n; i++)
        if (!wv__lq_empty(p->ib[i]))
            return false;
    return true;
}

static bool queued_work(wv_pool_t *p)
{
    return wv__gq_len(&p->gq) || !inboxes_empty(p);
}

static bool should_exit(wv_pool_t *p)
{
    uint32_t f = wv__pool_flags(p);

    if (f & (P_TERMINATED | P_BROKEN))
        return true;
    /* lazy first: an imap submits its last chunk, then drops lazy. */
    return (f & P_QUIET) && __atomic_load_n(&p->lazy, __ATOMIC_SEQ_CST) == 0 &&
           !queued_work(p);
}

/* Most tasks worker w may take now. */
static unsigned room(const wv_pool_t *p, const struct worker *w)
{
    unsigned n = GRAB_MAX;

    if (p->maxtasks && p->maxtasks - w->done < n)
        n = p->maxtasks - w->done;
    return n;
}

/* Refills w's (empty) ring from the FIFO or by stealing. */
static unsigned refill(wv_pool_t *p, struct worker *w)
{
    size_t len = wv__gq_len(&p->gq);
    unsigned max = room(p, w);

    for (unsigned i = 0, n = wv__pool_inboxes(p); i < n; i++) {
        struct lq *ib = p->ib[(w->index + i) % n];
        if (!wv__lq_empty(ib)) {
            unsigned got = wv__lq_steal(ib, &w->q, max, false);
            if (got)
                return got;
        }
    }
    if (len) {
        unsigned live = __atomic_load_n(&p->live, __ATOMIC_RELAXED);
        size_t share = len / (live ? live : 1) + 1;
        unsigned n = wv__gq_take(&p->gq, &w->q, share < max ? share : max);
        if (n)
            return n;
    }
    for (unsigned i = 1; i < p->max; i++) {
        struct worker *v = &p->workers[(w->index + i) % p->max];
        if (wv__lq_empty(&v->q))
            continue;
        unsigned n = wv__lq_steal(&v->q, &w->q, max, true);
        if (n)
            return n;
    }
    return 0;
}

static bool any_work(wv_pool_t *p)
{
    if (queued_work(p))
        return true;
    for (unsigned i = 0; i < p->max; i++)
        if (!wv__lq_empty(&p->workers[i].q))
            return true;
    return false;
}

static bool park_ok(void *arg)
{
    wv_pool_t *p = arg;
    return !queued_work(p) && !should_exit(p);
}

enum idle { FOUND, EXIT, RETIRE };

/* No work in w's ring: spin, then park, until there is some. */
static enum idle find_work(wv_pool_t *p, struct worker *w)
{
    for (;;) {
        __atomic_add_fetch(&p->nspin, 1, __ATOMIC_SEQ_CST);
        for (int round = 0; round < SPIN_ROUNDS; round++) {
            /* After a small batch, let tasks pile up before looking: one
             * take then moves many, and the submitters' cache lines stay
             * theirs in between. */
            if (round > 0 || w->last < GRAB_SMALL)
                sched_yield();
            unsigned n = w->last = refill(p, w);
            if (n) {
                /* The last one looking wakes another (Go's rule), even if
                 * it sees no more work: a submitter that saw it spinning
                 * did not wake anyone, and its task may not be visible
                 * here yet (no barrier on the submit path). */
                if (__atomic_sub_fetch(&p->nspin, 1, __ATOMIC_SEQ_CST) == 0)
                    wv__pool_wake(p);
                return FOUND;
            }
            if (should_exit(p)) {
                __atomic_sub_fetch(&p->nspin, 1, __ATOMIC_SEQ_CST);
                return EXIT;
            }
        }
        __atomic_sub_fetch(&p->nspin, 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&p->nsleep, 1, __ATOMIC_SEQ_CST);
        wv__barrier_heavy(); /* pairs with maybe_wake's light one */
        if (any_work(p) || should_exit(p)) {
            __atomic_sub_fetch(&p->nsleep, 1, __ATOMIC_SEQ_CST);
            continue;
        }
        /* Only elastic pools count more than min workers: those above
         * it may leave once idle. */
        int64_t deadline = -1;
        if (__atomic_load_n(&p->live, __ATOMIC_RELAXED) > p->min)
            deadline = wv_deadline_in(p->idle_ms);
        wv__park_req_t req = {
            .key = &p->nsleep,
            .validate = park_ok,
            .arg = p,
            .deadline = deadline,
            .flags = WV__PARK_NOCANCEL,
        };
        uintptr_t token;
        int err = wv__park(&req, &token);
        __atomic_sub_fetch(&p->nsleep, 1, __ATOMIC_SEQ_CST);
        if (err == WV_ETIMEDOUT)
            return RETIRE;
    }
}

static int worker_main(void *arg);

int wv__worker_spawn(wv_pool_t *p, struct worker *w, wv_thread_t *pred)
{
    char name[48];
    snprintf(name, sizeof name, "%s-%u", p->name, ++p->spawned);
    wv_thread_opts_t topts = {.name = name, .stack_size = p->stack_size};

    w->predecessor = pred;
    w->done = 0;
    __atomic_add_fetch(&p->threads, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&p->live, 1, __ATOMIC_SEQ_CST);
    int err = wv_thread_start(&w->thread, &topts, worker_main, w);
    if (err) {
        __atomic_sub_fetch(&p->live, 1, __ATOMIC_SEQ_CST);
        __atomic_sub_fetch(&p->threads, 1, __ATOMIC_SEQ_CST);
        w->thread = pred;
        return err;
    }
    w->state = W_LIVE;
    return 0;
}

static bool nobody_idle(wv_pool_t *p)
{
    return __atomic_load_n(&p->nspin, __ATOMIC_SEQ_CST) == 0 &&
           __atomic_load_n(&p->nsleep, __ATOMIC_SEQ_CST) == 0;
}

/*
 * Elastic growth: one more worker when work waits (anywhere, rings
 * included) and no worker is idle to take it.  Checked on every
 * submission and before every task of an elastic pool: whatever sequence
 * of events leaves work waiting with every worker busy, the last of them
 * was one of these, so the check cannot be missed.
 */
void wv__pool_grow(wv_pool_t *p)
{
    if (__atomic_load_n(&p->live, __ATOMIC_RELAXED) >= p->max ||
        !nobody_idle(p) || !any_work(p))
        return;
    wv__lock_acquire_nocancel(&p->mu);
    unsigned live = __atomic_load_n(&p->live, __ATOMIC_RELAXED);
    if (live < p->max && wv__pool_flags(p) == 0 && nobody_idle(p)) {
        for (unsigned i = 0; i < p->max; i++) {
            struct worker *w = &p->workers[i];
            if (w->state == W_LIVE)
                continue;
            wv_thread_t *old = w->state == W_EXITED ? w->thread : NULL;
            w->initial = false;
            if (wv__worker_spawn(p, w, old) != 0)
                w->thread = old;
            break;
        }
    }
    wv_lock_release(&p->mu);
}

static void init_report(wv_pool_t *p, struct worker *w, int err)
{
    if (!w->initial) {
        if (err)
            wv__pool_break(p);
        return;
    }
    if (err)
        __atomic_store_n(&p->init_err, err, __ATOMIC_RELAXED);
    if (__atomic_sub_fetch(&p->init_left, 1, __ATOMIC_ACQ_REL) == 0)
        wv_event_set(&p->init_done);
}

/* Worker w leaves (its ring drained by now), replaced by a new thread if
 * `replace` and the pool goes on.  Returns true when w must carry on
 * instead (no thread could be had for its replacement). */
static bool worker_leave(wv_pool_t *p, struct worker *w, bool replace)
{
    wv__lock_acquire_nocancel(&p->mu);
    w->state = W_EXITED;
    if (replace && !should_exit(p)) {
        /* The new worker takes over the slot and joins this thread.  It
         * counts itself live before this one stops counting: live never
         * reads 0 in between, where a pool closed meanwhile would look
         * finished to its handler and its join would return with the
         * replacement still to come. */
        w->initial = false;
        if (wv__worker_spawn(p, w, w->thread) != 0) {
            /* No thread: carry on in this one (the caller loops). */
            w->state = W_LIVE;
            w->done = 0;
            wv_lock_release(&p->mu);
            return true;
        }
    }
    __atomic_sub_fetch(&p->live, 1, __ATOMIC_SEQ_CST);
    bool last = __atomic_load_n(&p->live, __ATOMIC_SEQ_CST) == 0;
    wv_lock_release(&p->mu);
    if (last)
        wv__handler_wake(p);
    return false;
}

/*
 * An extra worker idle for idle_ms leaves, if the pool keeps its minimum:
 * decided and counted in one critical section, so that two leaving at once
 * cannot both count on the other staying.  Work that came meanwhile (its
 * submitter saw this worker parked, or counted it live) is handed on.
 * Returns false when the worker must stay.
 */
static bool retire(wv_pool_t *p, struct worker *w)
{
    wv__lock_acquire_nocancel(&p->mu);
    bool go = __atomic_load_n(&p->live, __ATOMIC_RELAXED) > p->min &&
              wv__lq_empty(&w->q);
    if (go) {
        __atomic_sub_fetch(&p->live, 1, __ATOMIC_SEQ_CST);
        w->state = W_EXITED;
    }
    wv_lock_release(&p->mu);
    if (!go)
        return false;
    /* A submitter that counted this worker live (and so did not grow the
     * pool) pushed with only the light barrier: the heavy one makes its
     * task visible to the look below, as for a worker going to sleep. */
    wv__barrier_heavy();
    if (any_work(p)) {
        wv__pool_wake(p);
        wv__pool_grow(p);
    }
    return true;
}

static void drain_own(struct worker *w, int err)
{
    struct ptask t;
    while (wv__lq_pop(&w->q, &t))
        wv__task_discard(&t, err);
}

/*
 * Runs tasks taken from the ring together (one CAS for all).  They count
 * as started, but a terminate that comes meanwhile still drops the rest.
 * Returns true when the worker has run its maxtasksperchild.
 */
static bool run_hand(wv_pool_t *p, struct worker *w, struct ptask *hand,
                     unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (wv__pool_flags(p) & (P_TERMINATED | P_BROKEN)) {
            int err = wv__pool_flags(p) & P_BROKEN ? WV_EBROKEN : WV_ECANCELED;
            for (; i < n; i++)
                wv__task_discard(&hand[i], err);
            return false;
        }
        if (p->max > p->min)
            wv__pool_grow(p); /* before a task that may take long */
        run_task(p, w, &hand[i]);
        w->done++;
    }
    return p->maxtasks && w->done >= p->maxtasks;
}

static int worker_main(void *arg)
{
    struct worker *w = arg;
    wv_pool_t *p = w->pool;
    wv_thread_t *me = wv_thread_current();

    self_pool = p;
    task_pool = p->kind == &wv__pool_threads ? p : NULL;
    if (w->predecessor) {
        wv_thread_join(w->predecessor, NULL, -1);
        wv_thread_free(w->predecessor);
        w->predecessor = NULL;
    }
    /* A process pool's initializer runs in the worker's child. */
    int err = p->kind->worker_open(p, w);
    init_report(p, w, err);
    if (err) {
        p->kind->worker_close(p, w);
        worker_leave(p, w, false);
        wv__pool_thread_end(p, me);
        return 0;
    }
    for (;;) {
        struct ptask hand[IN_HAND];
        unsigned n = wv__lq_pop_many(&w->q, hand, IN_HAND);
        if (n) {
            if (!run_hand(p, w, hand, n))
                continue;
            if (p->kind->worker_recycle(p, w)) {
                w->done = 0; /* a fresh child: the thread stays */
                continue;
            }
            if (!worker_leave(p, w, true))
                break; /* replaced, or gone with the pool */
            continue;
        }
        enum idle r = find_work(p, w);
        if (r == FOUND)
            continue;
        if (r == RETIRE) {
            if (!retire(p, w))
                continue;
            break;
        }
        uint32_t f = wv__pool_flags(p);
        drain_own(w, f & P_BROKEN ? WV_EBROKEN : WV_ECANCELED);
        worker_leave(p, w, false);
        break;
    }
    p->kind->worker_close(p, w);
    wv__pool_thread_end(p, me);
    return 0;
}

/*
 * pool/pool.c - the pool: workers, life cycle, submission, apply.
 *
 * Workers run tasks from their own ring (runq.c), refilled in batches from
 * the submitters' inboxes, the shared FIFO, or by stealing.  A worker
 * without work spins (`nspin`): it looks SPIN_ROUNDS times, yielding the
 * CPU between looks, then parks on `nsleep` (the parking lot's key).  The
 * slow looks are the point: tasks pile up between two looks and move in
 * one batch, the submitters' cache lines are left alone, and on a small
 * machine the spinner gives its CPU to the submitter.
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
 * Life cycle: flags only ever gain bits (P_CLOSED, P_TERMINATED,
 * P_BROKEN).  A worker exits when the pool is terminated or broken, or
 * closed with nothing left anywhere; on its way out it cancels whatever
 * its own ring still holds.  Threads count themselves in `threads`; a pool
 * freed from one of its own threads (`orphan`) is freed by the last of
 * them.
 *
 * maxtasksperchild: a worker never takes more tasks than it may still
 * run, so it retires with an empty ring; its replacement takes over its
 * slot and joins it first.  Elastic workers above `min` retire after
 * idle_ms parked.
 */
#include "internal.h"

#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SPIN_ROUNDS     64
#define IN_HAND         8 /* tasks taken from the ring at once */
#define GRAB_MAX        64
#define GRAB_SMALL      16 /* a batch this small: pause before the next */
#define DEFAULT_IDLE_MS 10000

static __thread wv_pool_t *self_pool;
/* The thread pool whose tasks this thread runs (its workers only: a
 * process pool's tasks run in its children, its callbacks on the
 * handler). */
static __thread wv_pool_t *task_pool;
unsigned wv__fault_push_delay_us;

void wv__pool_enter(wv_pool_t *p)
{
    self_pool = p;
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

int wv_task_return(wv_task_t *task, const void *data, size_t len)
{
    if (!task || (len && !data))
        return WV_EINVAL;
    if (task->record) {
        if (len > task->cap)
            return WV_EMSGSIZE;
        /* map's per-item path: the common record sizes copy inline, not
         * through two library calls. */
        if (len == 8)
            memcpy(task->out, data, 8);
        else if (len == 4)
            memcpy(task->out, data, 4);
        else if (len)
            memcpy(task->out, data, len);
        if (len < task->cap)
            memset((char *)task->out + len, 0, task->cap - len);
    } else if (len <= TASK_INLINE) {
        if (len)
            memcpy(task->buf, data, len);
        wv__free(task->heap);
        task->heap = NULL;
    } else {
        void *copy = wv__malloc(len);
        if (!copy)
            return WV_ENOMEM;
        memcpy(copy, data, len);
        wv__free(task->heap);
        task->heap = copy;
    }
    task->len = len;
    return 0;
}

size_t wv_task_index(const wv_task_t *task)
{
    return task ? task->index : 0;
}

/* Calls an apply task's function; its result is then task_result's. */
static int call_apply(wv_task_t *task, wv_pool_fn fn, const void *arg,
                      size_t len)
{
    task->out = NULL;
    task->heap = NULL;
    task->len = 0;
    task->index = 0;
    task->record = false;
    return wv__task_rc(fn(task, arg, len));
}

static const void *task_result(const wv_task_t *task)
{
    return task->heap ? task->heap : task->buf;
}

/* Runs an apply task (in w's child, for a pool of processes): the future
 * (if any) gets the outcome. */
static void run_apply(wv_pool_t *p, struct worker *w, struct ptask *t)
{
    wv_future_t *f = t->ref;
    const void *arg = t->kind == T_HEAP ? t->u.heap : t->u.arg;

    if (t->deadline && wv_now() >= t->deadline) {
        wv__task_discard(t, WV_ETIMEDOUT);
        return;
    }
    if (f && wv_future_set_running(f) != 0) { /* cancelled or expired */
        task_free_arg(t);
        wv_future_unref(f);
        return;
    }
    wv_task_t task;
    int rc = p->procs
                 ? wv__pw_apply(p, w, t->fn, arg, t->len, t->deadline, &task)
                 : call_apply(&task, t->fn, arg, t->len);
    task_free_arg(t);
    if (f) {
        if (rc == 0)
            rc = wv_future_set_result(f, task_result(&task), task.len);
        if (rc != 0)
            wv_future_set_error(f, rc);
        wv_future_unref(f);
    }
    if (task.heap)
        wv__free(task.heap);
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
static void maybe_wake(wv_pool_t *p)
{
    wv__barrier_light();
    if (__atomic_load_n(&p->nspin, __ATOMIC_RELAXED) == 0 &&
        __atomic_load_n(&p->nsleep, __ATOMIC_RELAXED) > 0)
        wake_one(p);
}

static unsigned inboxes(wv_pool_t *p)
{
    return __atomic_load_n(&p->nib, __ATOMIC_ACQUIRE);
}

static bool inboxes_empty(wv_pool_t *p)
{
    for (unsigned i = 0, n = inboxes(p); i < n; i++)
        if (!wv__lq_empty(p->ib[i]))
            return false;
    return true;
}

static uint32_t quiesce(wv_pool_t *p, uint32_t bits);
static void drain_queues(wv_pool_t *p, int err);

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

    for (unsigned i = 0, n = inboxes(p); i < n; i++) {
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
                    maybe_wake(p);
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

/* Starts a worker in slot w (pool->mu held).  `pred` is a thread to join
 * first (the one w's slot had).  0, WV_ENOMEM, WV_EAGAIN. */
static int spawn(wv_pool_t *p, struct worker *w, wv_thread_t *pred)
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
static void maybe_grow(wv_pool_t *p)
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
            if (spawn(p, w, old) != 0)
                w->thread = old;
            break;
        }
    }
    wv_lock_release(&p->mu);
}

/* The pool breaks: a replacement's initializer failed.  (Its own error is
 * the initializer's to report; tasks fail with WV_EBROKEN.) */
void wv__pool_break(wv_pool_t *p)
{
    if (quiesce(p, P_BROKEN) & P_BROKEN)
        return; /* broken already */
    drain_queues(p, WV_EBROKEN);
    wv__unpark(&p->nsleep, INT32_MAX, NULL, NULL);
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
    __atomic_sub_fetch(&p->live, 1, __ATOMIC_SEQ_CST);
    w->state = W_EXITED;
    if (replace && !should_exit(p)) {
        /* The new worker takes over the slot and joins this thread. */
        w->initial = false;
        if (spawn(p, w, w->thread) != 0) {
            /* No thread: carry on in this one (the caller loops). */
            __atomic_add_fetch(&p->live, 1, __ATOMIC_SEQ_CST);
            w->state = W_LIVE;
            w->done = 0;
            wv_lock_release(&p->mu);
            return true;
        }
    }
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
        maybe_wake(p);
        maybe_grow(p);
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
            maybe_grow(p); /* before a task that may take long */
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
    task_pool = p->procs ? NULL : p;
    if (w->predecessor) {
        wv_thread_join(w->predecessor, NULL, -1);
        wv_thread_free(w->predecessor);
        w->predecessor = NULL;
    }
    /* A process pool's initializer runs in the worker's child. */
    int err = p->procs  ? wv__pw_open(p, w)
              : p->init ? wv__task_rc(p->init(p->initarg))
                        : 0;
    init_report(p, w, err);
    if (err) {
        wv__pw_close(p, w);
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
            if (p->procs) {           /* a fresh child; the dispatcher stays */
                wv__pw_recycle(p, w); /* counts anew from 0 */
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
    wv__pw_close(p, w);
    wv__pool_thread_end(p, me);
    return 0;
}

/* -------------------------------------------------------- submission */

/*
 * Inboxes.  Each submitting thread gets its own (up to MAX_INBOX per
 * pool; later ones use the shared FIFO), found through a small per-thread
 * cache keyed by the pool's unique id, so that a new pool at a freed
 * one's address is never mistaken for it.  An inbox outlives its thread
 * and is freed with the pool.
 */
#define TL_INBOXES 4

static __thread struct tl_inbox {
    const wv_pool_t *pool;
    uint64_t id;
    struct lq *q;
} tl_inbox[TL_INBOXES];
static __thread unsigned tl_inbox_next;
static uint64_t pool_ids;

/* size bytes of zeroed memory aligned to a cache line; *mem is what to
 * free. */
static void *calloc_aligned(size_t size, void **mem)
{
    char *raw = wv__calloc(1, size + WV__CACHELINE);
    if (!raw)
        return NULL;
    *mem = raw;
    return raw + (WV__CACHELINE - (uintptr_t)raw % WV__CACHELINE);
}

static struct lq *inbox_of(wv_pool_t *p)
{
    for (int i = 0; i < TL_INBOXES; i++)
        if (tl_inbox[i].pool == p && tl_inbox[i].id == p->id)
            return tl_inbox[i].q;
    if (inboxes(p) == MAX_INBOX)
        return NULL;
    struct lq *q = NULL;
    wv__lock_acquire_nocancel(&p->mu);
    unsigned n = p->nib;
    if (n < MAX_INBOX && (q = calloc_aligned(sizeof *q, &p->ib_mem[n]))) {
        p->ib[n] = q;
        __atomic_store_n(&p->nib, n + 1, __ATOMIC_RELEASE);
    }
    wv_lock_release(&p->mu);
    if (q)
        tl_inbox[tl_inbox_next++ % TL_INBOXES] = (struct tl_inbox){p, p->id, q};
    return q;
}

static int refused(uint32_t f, uint32_t refuse)
{
    if (f & P_BROKEN)
        return WV_EBROKEN;
    return f & refuse ? WV_ESHUTDOWN : 0;
}

/*
 * The submission path.  Into the caller's inbox: mark it busy, then look
 * at the flags (light barrier; a closer sets its flag, runs the heavy
 * barrier, then waits for every inbox to be not busy), add, unmark.  So a
 * closer knows that every submission it did not refuse is visible once
 * it has waited.  The shared FIFO checks the flags under its lock, which a
 * closer takes once.  No locked instruction on the inbox path.
 */
int wv__pool_push(wv_pool_t *p, const struct ptask *t, bool internal)
{
    uint32_t refuse = internal ? P_TERMINATED : P_TERMINATED | P_CLOSED;
    struct lq *ib = inbox_of(p);
    int err;

    if (ib) {
        __atomic_store_n(&ib->busy, 1, __ATOMIC_RELAXED);
        wv__barrier_light();
        err = refused(__atomic_load_n(&p->flags, __ATOMIC_RELAXED), refuse);
        if (WV__UNLIKELY(wv__fault_push_delay_us))
            usleep(wv__fault_push_delay_us); /* tests: widen the window */
        bool done = !err && wv__ib_push(ib, t);
        __atomic_store_n(&ib->busy, 0, __ATOMIC_RELEASE);
        if (err)
            return err;
        if (done)
            goto pushed;
    }
    if ((err = refused(wv__pool_flags(p), refuse)))
        return err;
    if ((err = wv__gq_push(&p->gq, t, &p->flags, refuse))) {
        int why = refused(wv__pool_flags(p), refuse);
        return why ? why : err;
    }
pushed:
    maybe_wake(p);
    if (p->max > p->min)
        maybe_grow(p);
    return 0;
}

/* Sets flag bit(s), then waits until no submission is in flight: after
 * this, every task ever accepted is visible in a queue. */
static uint32_t quiesce(wv_pool_t *p, uint32_t bits)
{
    uint32_t old = __atomic_fetch_or(&p->flags, bits, __ATOMIC_SEQ_CST);
    wv__barrier_heavy();
    wv__lock_acquire_nocancel(&p->gq.lock); /* pushers inside have left */
    wv_lock_release(&p->gq.lock);
    for (unsigned i = 0, n = inboxes(p); i < n; i++) {
        unsigned spins = 0; /* a submitter preempted mid-push */
        while (__atomic_load_n(&p->ib[i]->busy, __ATOMIC_ACQUIRE))
            wv__backoff(&spins);
    }
    __atomic_or_fetch(&p->flags, P_QUIET, __ATOMIC_SEQ_CST);
    return old;
}

/* Drops every task queued and not taken by a worker. */
static void drain_queues(wv_pool_t *p, int err)
{
    struct ptask t;

    while (wv__gq_pop(&p->gq, &t))
        wv__task_discard(&t, err);
    for (unsigned i = 0, n = inboxes(p); i < n; i++)
        while (wv__lq_pop(p->ib[i], &t))
            wv__task_discard(&t, err);
}

int wv_pool_apply_async(wv_pool_t *pool, const wv_task_opts_t *opts,
                        wv_pool_fn fn, const void *arg, size_t len,
                        wv_future_t **fut)
{
    int err;

    if (!pool || !fn || (len && !arg) || len > UINT32_MAX)
        return WV_EINVAL;
    if (wv__pw_foreign(pool))
        return WV_EPERM;
    if ((err = refused(wv__pool_flags(pool), P_CLOSED | P_TERMINATED)))
        return err;
    bool watch = opts && (opts->callback || opts->error_callback);
    int64_t deadline = opts && opts->deadline > 0 ? opts->deadline : 0;
    struct ptask t = {.fn = fn, .deadline = deadline};
    struct cbrec *rec = NULL;
    wv_future_t *f = NULL;

    if (len <= TASK_INLINE) {
        wv__task_meta(&t, T_INLINE, (uint32_t)len);
        if (len)
            memcpy(t.u.arg, arg, len);
    } else {
        wv__task_meta(&t, T_HEAP, (uint32_t)len);
        if (!(t.u.heap = wv__malloc(len)))
            return WV_ENOMEM;
        memcpy(t.u.heap, arg, len);
    }
    if (fut || watch || deadline) {
        if ((err = wv_future_new(&f)))
            goto out_free_arg;
        if (watch && !(rec = wv__cbrec_new(pool, opts))) {
            err = WV_ENOMEM;
            goto out_free_future;
        }
        /* Should the push fail, the entry finds the future failed below
         * and drops it. */
        if (deadline && (err = wv__handler_deadline(pool, f, false, deadline)))
            goto out_free_rec;
        t.ref = wv_future_ref(f); /* the task's */
    }
    if ((err = wv__pool_push(pool, &t, false))) {
        if (f) {
            wv__future_fail_pending(f, err);
            wv_future_unref(f); /* the task's */
        }
        goto out_free_rec;
    }
    /* The task may be done already: then the callbacks are queued now. */
    if (rec)
        wv__cbrec_arm(rec, f);
    if (fut)
        *fut = f;
    else
        wv_future_unref(f);
    return 0;

out_free_rec:
    wv__cbrec_drop(rec);
out_free_future:
    wv_future_unref(f);
out_free_arg:
    if (t.kind == T_HEAP)
        wv__free(t.u.heap);
    return err;
}

int wv_pool_apply(wv_pool_t *pool, wv_pool_fn fn, const void *arg, size_t len,
                  void *out, size_t cap, size_t *out_len, int64_t deadline)
{
    if (!pool || !fn || (len && !arg) || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    if (wv__pw_foreign(pool))
        return WV_EPERM;
    if (task_pool == pool) { /* from one of its own tasks */
        wv_task_t task;
        int rc = call_apply(&task, fn, arg, len);
        if (rc == 0) {
            if (out && task.len)
                memcpy(out, task_result(&task),
                       task.len < cap ? task.len : cap);
            if (out_len)
                *out_len = task.len;
        }
        wv__free(task.heap);
        return rc;
    }
    wv_task_opts_t opts = {.deadline = deadline > 0 ? deadline : 0};
    wv_future_t *f;
    int err = wv_pool_apply_async(pool, &opts, fn, arg, len, &f);
    if (err)
        return err;
    const void *r;
    size_t rlen;
    err = wv_future_get(f, &r, &rlen, deadline == 0 ? -1 : deadline);
    if (err == 0) {
        if (out && rlen)
            memcpy(out, r, rlen < cap ? rlen : cap);
        if (out_len)
            *out_len = rlen;
    } else if (err == WV_ETIMEDOUT || err == WV_ECANCELED) {
        wv_future_cancel(f); /* not started: never will */
    }
    wv_future_unref(f);
    return err;
}

/* -------------------------------------------------------- life cycle */

static void pool_destroy(wv_pool_t *p)
{
    wv__gq_destroy(&p->gq);
    wv__handler_destroy(p);
    for (unsigned i = 0; i < p->nib; i++)
        wv__free(p->ib_mem[i]);
    wv__free(p->workers_mem);
    wv__free(p);
}

static int check_opts(const wv_pool_opts_t *o)
{
    unsigned min = o->workers ? o->workers : (unsigned)wv_cpu_count();

    if ((unsigned)o->kind > WV_POOL_PROCESSES)
        return WV_EINVAL;
    if ((o->max_workers && o->max_workers < min) || o->idle_timeout_ms < 0)
        return WV_EINVAL;
    return 0;
}

static int start_workers(wv_pool_t *p)
{
    int err = 0;
    unsigned started = 0;

    p->init_left = p->min;
    wv__lock_acquire_nocancel(&p->mu);
    for (unsigned i = 0; i < p->min && !err; i++) {
        p->workers[i].initial = true;
        if (!(err = spawn(p, &p->workers[i], NULL)))
            started++;
    }
    wv_lock_release(&p->mu);
    /* Workers that never started report for themselves. */
    if (started < p->min && __atomic_sub_fetch(&p->init_left, p->min - started,
                                               __ATOMIC_ACQ_REL) == 0)
        wv_event_set(&p->init_done);
    wv_event_wait(&p->init_done, -1);
    if (!err)
        err = __atomic_load_n(&p->init_err, __ATOMIC_RELAXED);
    return err;
}

int wv_pool_new(wv_pool_t **out, const wv_pool_opts_t *opts)
{
    wv_pool_opts_t defaults = {0};
    int err;

    if (!opts)
        opts = &defaults;
    if (!out)
        return WV_EINVAL;
    if ((err = check_opts(opts)))
        return err;
    wv_pool_t *p = wv__calloc(1, sizeof *p);
    if (!p)
        return WV_ENOMEM;
    p->min = opts->workers ? opts->workers : (unsigned)wv_cpu_count();
    p->max = opts->max_workers ? opts->max_workers : p->min;
    p->idle_ms =
        opts->idle_timeout_ms ? opts->idle_timeout_ms : DEFAULT_IDLE_MS;
    p->maxtasks = opts->maxtasksperchild;
    p->init = opts->initializer;
    p->initarg = opts->initarg;
    p->stack_size = opts->stack_size;
    p->procs = opts->kind == WV_POOL_PROCESSES;
    p->pid = getpid();
    snprintf(p->name, sizeof p->name, "%s", opts->name ? opts->name : "pool");
    wv__gq_init(&p->gq);
    p->cbq_end = &p->cbq;
    p->id = __atomic_add_fetch(&pool_ids, 1, __ATOMIC_RELAXED);
    wv__barrier_init();
    p->workers = calloc_aligned(p->max * sizeof *p->workers, &p->workers_mem);
    if (!p->workers) {
        pool_destroy(p);
        return WV_ENOMEM;
    }
    for (unsigned i = 0; i < p->max; i++) {
        p->workers[i].pool = p;
        p->workers[i].index = i;
    }
    if ((err = wv__handler_start(p))) {
        pool_destroy(p);
        return err;
    }
    if (p->procs) { /* the workers need their fork server */
        wv_event_wait(&p->zygote_ready, -1);
        err = p->zygote_err;
    }
    if (err || (err = start_workers(p))) {
        wv_pool_terminate(p);
        wv_pool_join(p, -1);
        wv_pool_free(p);
        return err;
    }
    *out = p;
    return 0;
}

void wv_pool_close(wv_pool_t *pool)
{
    if (!pool || wv__pw_foreign(pool))
        return;
    quiesce(pool, P_CLOSED);
    wv__unpark(&pool->nsleep, INT32_MAX, NULL, NULL);
    if (__atomic_load_n(&pool->live, __ATOMIC_SEQ_CST) == 0)
        wv__handler_wake(pool);
}

void wv_pool_terminate(wv_pool_t *pool)
{
    if (!pool || wv__pw_foreign(pool))
        return;
    quiesce(pool, P_TERMINATED);
    if (pool->procs) /* running tasks fail with WV_ECANCELED */
        wv__pw_kill_all(pool);
    drain_queues(pool, WV_ECANCELED);
    /* What the workers hold but have not started: theirs to drop too, but
     * one may be stuck in a long task, so take it now. */
    struct ptask t;
    for (unsigned i = 0; i < pool->max; i++) {
        struct lq *q = &pool->workers[i].q;
        while (wv__lq_pop(q, &t))
            wv__task_discard(&t, WV_ECANCELED);
    }
    wv__unpark(&pool->nsleep, INT32_MAX, NULL, NULL);
    if (__atomic_load_n(&pool->live, __ATOMIC_SEQ_CST) == 0)
        wv__handler_wake(pool);
}

static int join_thread(wv_thread_t *t, int64_t deadline)
{
    return t ? wv_thread_join(t, NULL, deadline) : 0;
}

int wv_pool_join(wv_pool_t *pool, int64_t deadline)
{
    if (!pool || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    if (wv__pw_foreign(pool))
        return WV_EPERM;
    if (self_pool == pool)
        return WV_EDEADLK;
    if (!(wv__pool_flags(pool) & (P_CLOSED | P_TERMINATED | P_BROKEN)))
        return WV_EINVAL;
    /* The handler finishes last: after every worker and callback. */
    int err = join_thread(pool->handler, deadline);
    if (err)
        return err;
    /* Every worker is gone once the handler is: no slot changes now. */
    for (unsigned i = 0; i < pool->max && !err; i++)
        err = join_thread(pool->workers[i].thread, deadline);
    return err;
}

static void free_threads(wv_pool_t *p, wv_thread_t *except)
{
    for (unsigned i = 0; i < p->max; i++) {
        wv_thread_t *t = p->workers[i].thread;
        if (t && t != except) {
            wv_thread_join(t, NULL, -1);
            wv_thread_free(t);
        }
    }
    if (p->handler && p->handler != except) {
        wv_thread_join(p->handler, NULL, -1);
        wv_thread_free(p->handler);
    }
    if (except)
        wv_thread_free(except); /* itself: detached, gone at its return */
}

void wv__pool_thread_end(wv_pool_t *p, wv_thread_t *self)
{
    if (__atomic_sub_fetch(&p->threads, 1, __ATOMIC_SEQ_CST) != 0 ||
        !__atomic_load_n(&p->orphan, __ATOMIC_SEQ_CST))
        return;
    self_pool = NULL;
    free_threads(p, self);
    pool_destroy(p);
}

void wv_pool_free(wv_pool_t *pool)
{
    if (!pool || wv__pw_foreign(pool))
        return;
    if (!(wv__pool_flags(pool) & P_CLOSED))
        wv_pool_terminate(pool);
    if (self_pool == pool) {
        /* From inside: the last of the pool's threads frees it.  Holding a
         * count of our own keeps that from happening before orphan is
         * set. */
        __atomic_add_fetch(&pool->threads, 1, __ATOMIC_SEQ_CST);
        __atomic_store_n(&pool->orphan, true, __ATOMIC_SEQ_CST);
        wv__pool_thread_end(pool, NULL);
        return;
    }
    wv_pool_join(pool, -1);
    free_threads(pool, NULL);
    pool_destroy(pool);
}

unsigned wv_pool_workers(const wv_pool_t *pool)
{
    return pool ? __atomic_load_n(&pool->live, __ATOMIC_RELAXED) : 0;
}

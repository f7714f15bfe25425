/*
 * pool/pool.c - the pool: submission (apply, apply_async) and life cycle
 * (new, close, terminate, join, free).
 *
 * The worker threads live in worker.c, the kinds of worker behind
 * p->kind (tworker.c, pworker.c), callbacks and deadlines on the handler
 * thread (handler.c), map and imap in map.c.
 *
 * Submission: a task is copied by value into the submitter's inbox or the
 * shared FIFO (see wv__pool_push for how close and terminate never strand
 * an accepted task); no lock and no locked instruction on the inbox path.
 *
 * Life cycle: flags only ever gain bits (P_CLOSED, P_TERMINATED,
 * P_BROKEN, then P_QUIET once no submission is in flight).  Threads (the
 * workers, the handler, a kind's own) count themselves in `threads`; a
 * pool freed from one of its own threads (`orphan`) is freed by the last
 * of them.  wv_pool_new starts the handler, then the kind (pool_start),
 * then the workers; the handler finishes last, after every worker and
 * callback, and stops the kind (pool_stop) on its way out.
 *
 * Lock: pool->mu guards the workers' slots and the inbox table's growth.
 */
#include "internal.h"

#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_IDLE_MS 10000

unsigned wv__fault_push_delay_us;

static uint32_t quiesce(wv_pool_t *p, uint32_t bits);
static void drain_queues(wv_pool_t *p, int err);

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
    if (wv__pool_inboxes(p) == MAX_INBOX)
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
 * barrier, then waits for every inbox to be not busy), add, wake a
 * worker, unmark.  So a closer knows that every submission it did not
 * refuse is visible once it has waited, and a pool freed meanwhile (by
 * one of its own tasks) is not freed under the submitter.  No locked
 * instruction.  Else into the shared FIFO, which checks the flags under
 * its lock (a closer takes it once); a thread with an inbox stays marked
 * busy through that too.
 *
 * A full inbox means the workers are behind.  Before spilling into the
 * FIFO, the submitter gives its CPU away once (sched_yield), so that
 * where there are no more cores than threads the workers catch up and
 * the backlog stays in the inbox, rather than the FIFO growing by a
 * malloc'd segment every 127 tasks (a page fault each, measured 50,000
 * per million tasks when the submitter outran two workers on two cores).
 * If the inbox is still full after the yield (the workers are busy with
 * long tasks), it spills without yielding again until a push fits.
 */
static int push(wv_pool_t *p, struct lq *ib, const struct ptask *t,
                uint32_t refuse)
{
    int err;

    if (ib) {
        wv__barrier_light();
        if ((err =
                 refused(__atomic_load_n(&p->flags, __ATOMIC_RELAXED), refuse)))
            return err;
        if (WV__UNLIKELY(wv__fault_push_delay_us))
            usleep(wv__fault_push_delay_us); /* tests: widen the window */
        bool done = wv__ib_push(ib, t);
        if (!done && !ib->spilling) {
            sched_yield(); /* still busy: a closer waits for the retry */
            done = wv__ib_push(ib, t);
            ib->spilling = !done;
        }
        if (done) {
            ib->spilling = false;
            return 0;
        }
    }
    if ((err = refused(wv__pool_flags(p), refuse)))
        return err;
    if ((err = wv__gq_push(&p->gq, t, &p->flags, refuse))) {
        int why = refused(wv__pool_flags(p), refuse);
        return why ? why : err;
    }
    return 0;
}

int wv__pool_push(wv_pool_t *p, const struct ptask *t, bool internal)
{
    uint32_t refuse = internal ? P_TERMINATED : P_TERMINATED | P_CLOSED;
    struct lq *ib = inbox_of(p);

    if (ib)
        __atomic_store_n(&ib->busy, 1, __ATOMIC_RELAXED);
    int err = push(p, ib, t, refuse);
    if (!err) {
        wv__pool_wake(p);
        if (p->max > p->min)
            wv__pool_grow(p);
    }
    if (ib)
        __atomic_store_n(&ib->busy, 0, __ATOMIC_RELEASE);
    return err;
}

/* Sets flag bit(s), then waits until no submission is in flight: after
 * this, every task ever accepted is visible in a queue. */
static uint32_t quiesce(wv_pool_t *p, uint32_t bits)
{
    uint32_t old = __atomic_fetch_or(&p->flags, bits, __ATOMIC_SEQ_CST);
    wv__barrier_heavy();
    wv__lock_acquire_nocancel(&p->gq.lock); /* pushers inside have left */
    wv_lock_release(&p->gq.lock);
    for (unsigned i = 0, n = wv__pool_inboxes(p); i < n; i++) {
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
    for (unsigned i = 0, n = wv__pool_inboxes(p); i < n; i++)
        while (wv__lq_pop(p->ib[i], &t))
            wv__task_discard(&t, err);
}

int wv_pool_apply_async(wv_pool_t *pool, const wv_task_opts_t *opts,
                        wv_pool_fn fn, const void *arg, size_t len,
                        wv_future_t **fut)
{
    int err;

    int64_t deadline;
    int derr = wv__opts_deadline(opts, &deadline);

    if (!pool || !fn || (len && !arg) || len > UINT32_MAX || derr == WV_EINVAL)
        return WV_EINVAL;
    if (wv__pw_foreign(pool))
        return WV_EPERM;
    if ((err = refused(wv__pool_flags(pool), P_CLOSED | P_TERMINATED)))
        return err;
    if (derr)
        return derr; /* WV_NOWAIT: a task cannot start without waiting */
    bool watch = opts && (opts->callback || opts->error_callback);
    bool timed = deadline != WV_FOREVER;
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
    if (fut || watch || timed) {
        if ((err = wv_future_new(&f)))
            goto out_free_arg;
        if (watch && !(rec = wv__cbrec_new(pool, opts))) {
            err = WV_ENOMEM;
            goto out_free_future;
        }
        /* Should the push fail, the entry finds the future failed below
         * and drops it. */
        if (timed && (err = wv__handler_deadline(pool, f, false, deadline)))
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
    if (wv__pool_in_task(pool)) /* from one of its own tasks */
        return wv__apply_inline(fn, arg, len, out, cap, out_len);
    /* WV_NOWAIT: apply_async refuses it (WV_EAGAIN), nothing submitted. */
    wv_task_opts_t opts = WV_TASK_OPTS_INIT;
    opts.deadline = deadline;
    wv_future_t *f;
    int err = wv_pool_apply_async(pool, &opts, fn, arg, len, &f);
    if (err)
        return err;
    const void *r;
    size_t rlen;
    err = wv_future_get(f, &r, &rlen, deadline);
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

/* The pool breaks: a replacement's initializer failed.  (Its own error is
 * the initializer's to report; tasks fail with WV_EBROKEN.) */
void wv__pool_break(wv_pool_t *p)
{
    if (quiesce(p, P_BROKEN) & P_BROKEN)
        return; /* broken already */
    drain_queues(p, WV_EBROKEN);
    wv__unpark(&p->nsleep, INT32_MAX, NULL, NULL);
}

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
        if (!(err = wv__worker_spawn(p, &p->workers[i], NULL)))
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
    p->kind = p->procs ? &wv__pool_processes : &wv__pool_threads;
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
    if (p->kind->pool_start) /* the workers' fork server */
        err = p->kind->pool_start(p);
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
    if (pool->kind->kill) /* processes: running tasks fail (WV_ECANCELED) */
        pool->kind->kill(pool);
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
    if (wv__pool_is_self(pool))
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
    if (!err)
        err = join_thread(pool->kind_thread, deadline);
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
    wv_thread_t *own[2] = {p->handler, p->kind_thread};
    for (int i = 0; i < 2; i++)
        if (own[i] && own[i] != except) {
            wv_thread_join(own[i], NULL, -1);
            wv_thread_free(own[i]);
        }
    if (except)
        wv_thread_free(except); /* itself: detached, gone at its return */
}

void wv__pool_thread_end(wv_pool_t *p, wv_thread_t *self)
{
    if (__atomic_sub_fetch(&p->threads, 1, __ATOMIC_SEQ_CST) != 0 ||
        !__atomic_load_n(&p->orphan, __ATOMIC_SEQ_CST))
        return;
    wv__pool_enter(NULL);
    free_threads(p, self);
    pool_destroy(p);
}

void wv_pool_free(wv_pool_t *pool)
{
    if (!pool || wv__pw_foreign(pool))
        return;
    if (!(wv__pool_flags(pool) & P_CLOSED))
        wv_pool_terminate(pool);
    if (wv__pool_is_self(pool)) {
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

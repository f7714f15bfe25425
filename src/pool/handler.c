/*
 * pool/handler.c - the pool's handler thread: callbacks and deadlines.
 *
 * Python's Pool runs callbacks on a result-handler thread so that a slow
 * callback never holds a worker; so does weave.  A task with callbacks has
 * a record (cbrec) that rides on its future's done callback: whoever
 * completes the future (a worker, a cancel, an expiry, a terminate) only
 * queues the record here, and this thread runs the user's callback.
 *
 * The same thread enforces deadlines: a binary heap (core/heap.h) of
 * (time, future or job); at the time a future still pending is failed with
 * WV_ETIMEDOUT (a running one is left alone) and a job is cancelled.  Entries
 * whose futures completed early stay until their time; when the heap has
 * doubled since the last clean-up, those are dropped in one pass, so that a
 * flood of tasks with far deadlines does not grow it without bound.
 *
 * The thread ends when the pool is closed, terminated or broken, no
 * worker is left, every pending callback has run (cb_pending counts
 * them from before their task is queued), and the kind has closed what
 * its workers held (kind_open: a process pool's children); it then stops
 * the kind (pool_stop: the process kind's fork server).  Lock: hlock protects
 * the callback queue and the heap; nothing runs with it held.
 */
#include "internal.h"

#include "../core/heap.h"

#include <stdio.h>

#define BATCH 64

void wv__handler_wake(wv_pool_t *p)
{
    wv__lock_acquire_nocancel(&p->hlock);
    wv_cond_notify(&p->hcond, 1);
    wv_lock_release(&p->hlock);
}

void wv__pool_kind_closed(wv_pool_t *p)
{
    wv__handler_wake(p);
}

/* ------------------------------------------------------------ callbacks */

struct cbrec *wv__cbrec_new(wv_pool_t *p, const wv_task_opts_t *opts)
{
    struct cbrec *rec = wv__malloc(sizeof *rec);

    if (!rec)
        return NULL;
    *rec = (struct cbrec){
        .pool = p,
        .cb = opts->callback,
        .ecb = opts->error_callback,
        .arg = opts->cb_arg,
    };
    __atomic_add_fetch(&p->cb_pending, 1, __ATOMIC_SEQ_CST);
    return rec;
}

void wv__cbrec_drop(struct cbrec *rec)
{
    if (!rec)
        return;
    wv_pool_t *p = rec->pool;
    wv__free(rec);
    if (__atomic_sub_fetch(&p->cb_pending, 1, __ATOMIC_SEQ_CST) == 0)
        wv__handler_wake(p);
}

/* The future's done callback, in the completing thread: queue only. */
static void on_done(wv_future_t *f, void *arg)
{
    struct cbrec *rec = arg;
    wv_pool_t *p = rec->pool;

    rec->fut = wv_future_ref(f);
    rec->next = NULL;
    wv__lock_acquire_nocancel(&p->hlock);
    *p->cbq_end = rec;
    p->cbq_end = &rec->next;
    wv_cond_notify(&p->hcond, 1);
    wv_lock_release(&p->hlock);
}

void wv__cbrec_arm(struct cbrec *rec, wv_future_t *f)
{
    /* The future is new and still ours: its first callback needs no
     * memory, so this cannot fail. */
    int err = wv_future_add_done_callback(f, on_done, rec);
    WV__ASSERT(err == 0);
}

static void run_callback(struct cbrec *rec)
{
    const void *data;
    size_t len;
    int err = wv_future_get(rec->fut, &data, &len, 0);

    if (err == 0) {
        if (rec->cb)
            rec->cb(data, len, rec->arg);
    } else if (rec->ecb) {
        rec->ecb(err, rec->arg);
    }
    wv_future_unref(rec->fut);
    wv__cbrec_drop(rec);
}

/* ------------------------------------------------------------ deadlines */

static inline bool dl_before(const void *ctx, const struct dl *a,
                             const struct dl *b)
{
    (void)ctx;
    return a->at < b->at;
}

WV__HEAP_DEFINE(dl_heap, struct dl, dl_before, wv__heap_no_index)

static void dl_drop(struct dl *d)
{
    if (d->is_job)
        wv__job_unref(d->obj);
    else
        wv_future_unref(d->obj);
}

int wv__handler_deadline(wv_pool_t *p, void *obj, bool is_job, int64_t at)
{
    wv__lock_acquire_nocancel(&p->hlock);
    if (p->heap_len == p->heap_cap) {
        size_t cap = p->heap_cap ? 2 * p->heap_cap : 16;
        struct dl *h = wv__realloc(p->heap, cap * sizeof *h);
        if (!h) {
            wv_lock_release(&p->hlock);
            return WV_ENOMEM;
        }
        p->heap = h;
        p->heap_cap = cap;
    }
    if (is_job)
        wv__job_ref(obj);
    else
        wv_future_ref(obj);
    dl_heap_push(NULL, p->heap, p->heap_len++, (struct dl){at, obj, is_job});
    if (p->heap[0].obj == obj)
        wv_cond_notify(&p->hcond, 1);
    wv_lock_release(&p->hlock);
    return 0;
}

/* Drops the entries of futures and jobs already over (hlock held; a
 * last reference only frees memory). */
static void prune(wv_pool_t *p)
{
    size_t n = 0;

    for (size_t i = 0; i < p->heap_len; i++) {
        struct dl *d = &p->heap[i];
        if (d->is_job ? wv__job_over(d->obj) : wv_future_is_ready(d->obj))
            dl_drop(d);
        else
            p->heap[n++] = *d;
    }
    p->heap_len = n;
    dl_heap_heapify(NULL, p->heap, n);
    p->heap_pruned = n;
}

/* ------------------------------------------------------------ the thread */

static bool finished(wv_pool_t *p)
{
    return (wv__pool_flags(p) & (P_CLOSED | P_TERMINATED | P_BROKEN)) &&
           __atomic_load_n(&p->live, __ATOMIC_SEQ_CST) == 0 &&
           __atomic_load_n(&p->cb_pending, __ATOMIC_SEQ_CST) == 0 &&
           /* process pools: the fork server outlives every child */
           __atomic_load_n(&p->kind_open, __ATOMIC_SEQ_CST) == 0;
}

/* Takes the due deadlines (up to BATCH), or the callback queue. */
static size_t take_due(wv_pool_t *p, struct dl *due, struct cbrec **cbs)
{
    int64_t now = p->heap_len ? wv_now() : 0;
    size_t n = 0;

    while (n < BATCH && p->heap_len && p->heap[0].at <= now) {
        due[n++] = p->heap[0];
        dl_heap_remove(NULL, p->heap, p->heap_len--, 0);
    }
    *cbs = p->cbq;
    p->cbq = NULL;
    p->cbq_end = &p->cbq;
    return n;
}

static int handler_main(void *arg)
{
    wv_pool_t *p = arg;
    wv_thread_t *me = wv_thread_current();
    struct dl due[BATCH];

    wv__pool_enter(p);
    wv__lock_acquire_nocancel(&p->hlock);
    for (;;) {
        struct cbrec *cbs;
        size_t n = take_due(p, due, &cbs);
        if (n || cbs) {
            wv_lock_release(&p->hlock);
            for (size_t i = 0; i < n; i++) {
                if (due[i].is_job)
                    wv__job_cancel(due[i].obj, WV_ETIMEDOUT);
                else
                    wv__future_fail_pending(due[i].obj, WV_ETIMEDOUT);
                dl_drop(&due[i]);
            }
            for (struct cbrec *next; cbs; cbs = next) {
                next = cbs->next;
                run_callback(cbs);
            }
            wv__lock_acquire_nocancel(&p->hlock);
            continue;
        }
        if (p->heap_len > 256 && p->heap_len > 2 * p->heap_pruned)
            prune(p);
        if (finished(p))
            break;
        wv_cond_wait(&p->hcond, &p->hlock, p->heap_len ? p->heap[0].at : -1);
    }
    size_t left = p->heap_len;
    p->heap_len = 0;
    wv_lock_release(&p->hlock);
    for (size_t i = 0; i < left; i++)
        dl_drop(&p->heap[i]);
    if (p->kind->pool_stop) /* every worker and its child is gone */
        p->kind->pool_stop(p);
    wv__pool_thread_end(p, me);
    return 0;
}

void wv__handler_destroy(wv_pool_t *p)
{
    /* Entries added after the handler finished (a submission that lost a
     * race with close, then was refused) are still here. */
    for (size_t i = 0; i < p->heap_len; i++)
        dl_drop(&p->heap[i]);
    wv__free(p->heap);
    p->heap = NULL;
    p->heap_len = 0;
}

int wv__handler_start(wv_pool_t *p)
{
    char name[48];
    snprintf(name, sizeof name, "%s-handler", p->name);
    wv_thread_opts_t opts = {.name = name};

    __atomic_add_fetch(&p->threads, 1, __ATOMIC_SEQ_CST);
    int err = wv_thread_start(&p->handler, &opts, handler_main, p);
    if (err) {
        __atomic_sub_fetch(&p->threads, 1, __ATOMIC_SEQ_CST);
        p->handler = NULL;
    }
    return err;
}

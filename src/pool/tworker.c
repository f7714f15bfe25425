/*
 * pool/tworker.c - the thread kind of worker (wv__pool_threads), and the
 * task's side of the API (wv_task_return, wv_task_index).
 *
 * A thread pool's task runs in the worker thread that took it: apply
 * calls fn with a wv_task_t on the stack; a map or imap chunk calls fn on
 * each item, its result record written in place (the caller's array, or
 * the iterator's slot).  The same item loop, wv__chunk_items, is a worker
 * process's body for a chunk (pworker.c), there over the channel.
 *
 * A result's copies: wv_task_return copies it once into the task (inline
 * up to TASK_INLINE bytes, else to the heap); the future then adopts a
 * heap result as it is (wv__future_set_result_owned) and copies only an
 * inline one.  A record (map, imap) is copied once, into its place.
 *
 * No state and no lock of its own: everything here runs in the worker
 * thread, on the task's own memory.
 */
#include "internal.h"

#include <string.h>

/* ------------------------------------------------------------- results */

static int return_record(wv_task_t *task, const void *data, size_t len)
{
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
    task->len = len;
    return 0;
}

int wv_task_return(wv_task_t *task, const void *data, size_t len)
{
    if (!task || (len && !data))
        return WV_EINVAL;
    if (task->record)
        return return_record(task, data, len);
    if (WV__UNLIKELY(task->sink != NULL)) /* a worker process's apply */
        return task->sink(task, data, len);
    if (len <= TASK_INLINE) {
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

/* ----------------------------------------------------------------- apply */

/* Calls an apply task's function; its result is then in task->buf, or
 * task->heap when longer (the caller frees it). */
static int call_apply(wv_task_t *task, wv_pool_fn fn, const void *arg,
                      size_t len)
{
    *task = (wv_task_t){0};
    return wv__task_rc(fn(task, arg, len));
}

static const void *task_result(const wv_task_t *task)
{
    return task->heap ? task->heap : task->buf;
}

int wv__apply_inline(wv_pool_fn fn, const void *arg, size_t len, void *out,
                     size_t cap, size_t *out_len)
{
    wv_task_t task;
    int rc = call_apply(&task, fn, arg, len);

    if (rc == 0) {
        if (out && task.len)
            memcpy(out, task_result(&task), task.len < cap ? task.len : cap);
        if (out_len)
            *out_len = task.len;
    }
    wv__free(task.heap);
    return rc;
}

static void thread_apply(wv_pool_t *p, struct worker *w, wv_pool_fn fn,
                         const void *arg, size_t len, int64_t deadline,
                         wv_future_t *f)
{
    wv_task_t task;
    int rc = call_apply(&task, fn, arg, len);

    (void)p, (void)w, (void)deadline; /* a running thread is never stopped */
    if (f) {
        if (rc == 0 && task.heap) {
            /* The future takes the heap copy as it is: no second copy. */
            if (wv__future_set_result_owned(f, task.heap, task.len) == 0)
                task.heap = NULL;
        } else if (rc == 0) {
            rc = wv_future_set_result(f, task.buf, task.len);
        }
        if (rc != 0)
            wv_future_set_error(f, rc);
    }
    wv__free(task.heap);
}

/* ---------------------------------------------------------------- chunks */

int wv__chunk_items(const struct pw_chunk *k, uint64_t *progress)
{
    wv_task_t task = {.cap = k->out_size, .record = true};
    size_t n = k->n, isz = k->in_size, osz = k->out_size;

    for (size_t i = 0; i < n; i++) {
        int rc;
        if (k->cancel &&
            (__atomic_load_n(k->cancel, __ATOMIC_RELAXED) & WV__JOB_CANCEL))
            return 0; /* stopped: *progress says where */
        if (wv__task_expired(k->deadline)) {
            rc = WV_ETIMEDOUT;
        } else {
            task.out = k->out ? k->out + i * osz : NULL;
            task.index = k->base + i;
            task.len = 0;
            rc = wv__task_rc(k->fn(&task, k->in + i * isz, isz));
        }
        if (k->errs)
            k->errs[i] = rc;
        else if (rc)
            return rc;
        if (progress)
            __atomic_store_n(progress, i + 1, __ATOMIC_RELAXED);
    }
    return 0;
}

static int thread_chunk(wv_pool_t *p, struct worker *w,
                        const struct pw_chunk *k, size_t *done)
{
    uint64_t progress = 0;
    int rc = wv__chunk_items(k, &progress);

    (void)p, (void)w;
    *done = (size_t)progress;
    return rc;
}

/* ------------------------------------------------------------- the kind */

static int thread_open(wv_pool_t *p, struct worker *w)
{
    (void)w;
    return p->init ? wv__task_rc(p->init(p->initarg)) : 0;
}

static void thread_close(wv_pool_t *p, struct worker *w)
{
    (void)p, (void)w;
}

/* maxtasksperchild: a fresh thread (its wv_local values destroyed). */
static bool thread_recycle(wv_pool_t *p, struct worker *w)
{
    (void)p, (void)w;
    return false;
}

const struct wv__pool_kind_ops wv__pool_threads = {
    .worker_open = thread_open,
    .worker_close = thread_close,
    .worker_recycle = thread_recycle,
    .run_apply = thread_apply,
    .run_chunk = thread_chunk,
};

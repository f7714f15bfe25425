/*
 * pool/map.c - map, map_async, imap and imap_unordered.
 *
 * A map is a job cut into chunks; each chunk is one queued task (T_CHUNK)
 * holding a reference to the job and a range of items.  Items are read
 * from the caller's array and results written to the caller's array (map)
 * or to the iterator's slots (imap) in place: no per-item copy, no
 * per-item allocation, one queued task per chunk.
 *
 * Stopping.  Because chunks use the caller's memory, no call may return
 * while a chunk is still using it.  `active` counts the chunks running,
 * plus the CANCEL bit.  A chunk enters (count + 1) only while CANCEL is
 * clear, and looks at CANCEL before each item; a stop (deadline, failure,
 * terminate, wv_imap_free) sets CANCEL, and whoever brings the count to
 * zero with CANCEL set - the stopper itself when nothing runs - declares
 * the job stopped: the map future fails, the iterator is told, `stopped`
 * is set.  From then on chunks still queued only drop their reference,
 * never touching the caller's memory or the iterator.  The first stop's
 * code wins (cancel_err, set before CANCEL).
 *
 * imap keeps `window` chunks queued or running; consuming a chunk's last
 * result hands its slot to the next chunk, so memory stays bounded
 * whatever n is.  Lock: it->mu protects the slots' state and the queue of
 * finished slots.
 */
#include "internal.h"

#include <string.h>

#define CANCEL 0x80000000u

struct slot {
    size_t chunk; /* [mu] chunk index held */
    size_t count; /* [mu] its items */
    bool done;    /* [mu] its results are in */
    char *buf;    /* count * out_size result bytes */
    int *errs;    /* each item's outcome */
};

struct job {
    uint32_t refs;
    uint32_t active;    /* CANCEL | chunks running */
    int cancel_err;     /* the first stop's code; set before CANCEL */
    size_t failed;      /* the failing item, when item_failed */
    bool item_failed;   /* an item's failure stopped the job */
    size_t chunks_left; /* chunks not finished (map) */
    wv_pool_fn fn;
    const char *in;
    size_t in_size;
    char *out; /* map: the caller's array */
    size_t out_size;
    size_t n, chunk;
    int64_t deadline; /* 0 = none */
    wv_future_t *fut; /* map: done when all chunks are */
    wv_event_t stopped;
    bool stop_seen;     /* stop_done ran: it must run once */
    struct wv_imap *it; /* imap */
};

struct wv_imap {
    wv_pool_t *pool;
    struct job *job;
    bool unordered;
    bool lazy; /* counted in pool->lazy */
    size_t nchunks;
    size_t submitted; /* chunks submitted */
    size_t consumed;  /* chunks whose results were all returned */
    size_t yielded;   /* items returned */
    size_t window;
    struct slot *slots; /* [window] */
    struct slot *cur;   /* being returned */
    size_t pos;         /* next item in cur */
    bool release;       /* cur is used up: reuse it at the next call */
    int refused;        /* the pool refused a chunk: the code to return */
    wv_lock_t mu;
    wv_cond_t cv;
    bool stopped;  /* [mu] the job stopped: no slot will fill any more */
    size_t *doneq; /* [mu] unordered: finished slots, in order */
    size_t dq_head, dq_len;
};

void wv__job_ref(void *job)
{
    struct job *j = job;
    __atomic_add_fetch(&j->refs, 1, __ATOMIC_RELAXED);
}

void wv__job_unref(void *job)
{
    struct job *j = job;
    if (__atomic_sub_fetch(&j->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    wv_future_unref(j->fut);
    wv__free(j);
}

/* The job has stopped and nothing runs: tell everyone, once. */
static void stop_done(struct job *j)
{
    int err = __atomic_load_n(&j->cancel_err, __ATOMIC_ACQUIRE);

    /* A second stop would mean a chunk entered a stopped job, and may be
     * touching the caller's memory or a freed iterator. */
    WV__ASSERT(!__atomic_exchange_n(&j->stop_seen, true, __ATOMIC_ACQ_REL));
    if (j->fut)
        wv_future_set_error(j->fut, err);
    if (j->it) {
        struct wv_imap *it = j->it;
        wv__lock_acquire_nocancel(&it->mu);
        it->stopped = true;
        wv_cond_notify_all(&it->cv);
        wv_lock_release(&it->mu);
    }
    wv_event_set(&j->stopped); /* the last touch of the iterator is above */
}

void wv__job_cancel(void *job, int err)
{
    struct job *j = job;
    int zero = 0;

    __atomic_compare_exchange_n(&j->cancel_err, &zero, err, false,
                                __ATOMIC_RELEASE, __ATOMIC_RELAXED);
    uint32_t old = __atomic_fetch_or(&j->active, CANCEL, __ATOMIC_ACQ_REL);
    if (!(old & CANCEL) && old == 0)
        stop_done(j);
}

/* An item failed: the job stops with its code (if first). */
static void job_fail(struct job *j, int err, size_t index)
{
    int zero = 0;

    if (__atomic_compare_exchange_n(&j->cancel_err, &zero, err, false,
                                    __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
        j->failed = index;
        j->item_failed = true;
    }
    wv__job_cancel(j, err);
}

static bool job_enter(struct job *j)
{
    uint32_t a = __atomic_load_n(&j->active, __ATOMIC_RELAXED);

    do {
        if (a & CANCEL)
            return false;
    } while (!__atomic_compare_exchange_n(&j->active, &a, a + 1, false,
                                          __ATOMIC_ACQUIRE, __ATOMIC_RELAXED));
    return true;
}

static void job_leave(struct job *j)
{
    if (__atomic_sub_fetch(&j->active, 1, __ATOMIC_ACQ_REL) == CANCEL)
        stop_done(j);
}

bool wv__job_over(void *job)
{
    struct job *j = job;
    return __atomic_load_n(&j->stop_seen, __ATOMIC_ACQUIRE) ||
           (j->fut && wv_future_is_ready(j->fut));
}

static bool job_cancelled(struct job *j)
{
    return __atomic_load_n(&j->active, __ATOMIC_RELAXED) & CANCEL;
}

/* A map chunk is finished (run or not): the last one completes the map. */
static void chunk_finish(struct job *j)
{
    if (!j->fut || __atomic_sub_fetch(&j->chunks_left, 1, __ATOMIC_ACQ_REL))
        return;
    if (__atomic_load_n(&j->active, __ATOMIC_ACQUIRE) & CANCEL)
        return; /* stop_done fails the future */
    wv_future_set_result(j->fut, NULL, 0);
}

static int item_deadline(struct job *j)
{
    if (j->deadline && wv_now() >= j->deadline) {
        wv__job_cancel(j, WV_ETIMEDOUT);
        return WV_ETIMEDOUT;
    }
    return 0;
}

/* A chunk's task handle: results are records of out_size bytes. */
static void chunk_task_handle(const struct job *j, wv_task_t *task)
{
    task->cap = j->out_size;
    task->heap = NULL;
    task->record = true;
}

/* Calls fn on item i, its result record at out. */
static int call_item(struct job *j, wv_task_t *task, size_t i, char *out)
{
    task->out = out;
    task->index = i;
    task->len = 0;
    return wv__task_rc(j->fn(task, j->in + i * j->in_size, j->in_size));
}

static void run_map(struct job *j, size_t lo, size_t hi)
{
    wv_task_t task;

    chunk_task_handle(j, &task);
    for (size_t i = lo; i < hi; i++) {
        if (job_cancelled(j) || item_deadline(j))
            return;
        int rc =
            call_item(j, &task, i, j->out ? j->out + i * j->out_size : NULL);
        if (rc) {
            job_fail(j, rc, i);
            return;
        }
    }
}

/* Slot si's results are in: the consumer may take them. */
static void slot_done(struct wv_imap *it, struct slot *s, size_t si)
{
    wv__lock_acquire_nocancel(&it->mu);
    s->done = true;
    if (it->unordered)
        it->doneq[(it->dq_head + it->dq_len++) % it->window] = si;
    wv_cond_notify_all(&it->cv);
    wv_lock_release(&it->mu);
}

static void run_imap(struct job *j, size_t lo, size_t hi, size_t si)
{
    struct wv_imap *it = j->it;
    struct slot *s = &it->slots[si];
    wv_task_t task;

    chunk_task_handle(j, &task);
    for (size_t i = lo; i < hi; i++) {
        int rc;
        if (job_cancelled(j) || item_deadline(j))
            rc = __atomic_load_n(&j->cancel_err, __ATOMIC_ACQUIRE);
        else
            rc = call_item(j, &task, i,
                           s->buf ? s->buf + (i - lo) * j->out_size : NULL);
        s->errs[i - lo] = rc;
    }
    slot_done(it, s, si);
}

/* A chunk in worker w's child: its items cross in one copy each way. */
static void proc_map(wv_pool_t *p, struct worker *w, struct job *j, size_t lo,
                     size_t hi)
{
    struct pw_chunk k = {
        .fn = j->fn,
        .in = j->in + lo * j->in_size,
        .n = hi - lo,
        .in_size = j->in_size,
        .out = j->out ? j->out + lo * j->out_size : NULL,
        .out_size = j->out_size,
        .base = lo,
        .deadline = j->deadline,
    };
    size_t done;

    if (job_cancelled(j) || item_deadline(j))
        return;
    int rc = wv__pw_chunk(p, w, &k, &done);
    if (rc == 0)
        return;
    if (rc == WV_ETIMEDOUT && j->deadline && wv_now() >= j->deadline)
        wv__job_cancel(j, rc); /* the job's deadline, as run_map's */
    else
        job_fail(j, rc, lo + done);
}

static void proc_imap(wv_pool_t *p, struct worker *w, struct job *j, size_t lo,
                      size_t hi, size_t si)
{
    struct wv_imap *it = j->it;
    struct slot *s = &it->slots[si];
    struct pw_chunk k = {
        .fn = j->fn,
        .in = j->in + lo * j->in_size,
        .n = hi - lo,
        .in_size = j->in_size,
        .out = s->buf,
        .out_size = j->out_size,
        .errs = s->errs,
        .base = lo,
        .deadline = j->deadline,
    };
    size_t done = 0;
    int rc;

    if (job_cancelled(j) || item_deadline(j))
        rc = __atomic_load_n(&j->cancel_err, __ATOMIC_ACQUIRE);
    else
        rc = wv__pw_chunk(p, w, &k, &done);
    for (size_t i = done; i < k.n; i++) /* the items it did not finish */
        s->errs[i] = rc;
    slot_done(it, s, si);
}

void wv__chunk_run(wv_pool_t *p, struct worker *w, struct ptask *t)
{
    struct job *j = t->ref;
    size_t lo = t->u.chunk.lo, hi = t->u.chunk.hi;

    if (job_enter(j)) {
        if (p->procs && j->it)
            proc_imap(p, w, j, lo, hi, t->u.chunk.slot);
        else if (p->procs)
            proc_map(p, w, j, lo, hi);
        else if (j->it)
            run_imap(j, lo, hi, t->u.chunk.slot);
        else
            run_map(j, lo, hi);
        job_leave(j);
    }
    chunk_finish(j);
    wv__job_unref(j);
}

void wv__chunk_discard(struct ptask *t, int err)
{
    struct job *j = t->ref;

    wv__job_cancel(j, err);
    chunk_finish(j);
    wv__job_unref(j);
}

/* ------------------------------------------------------------- map */

/* Process pools: the automatic chunk of map holds at most this many
 * bytes of records. */
#define PROC_CHUNK_BYTES (1u << 20)

/* The chunk size asked for, or `automatic`; at least 1, at most n. */
static size_t chunk_size(size_t asked, size_t n, size_t automatic)
{
    size_t c = asked ? asked : automatic;
    if (c > n)
        c = n;
    return c ? c : 1;
}

static int check_map(wv_pool_t *p, wv_pool_fn fn, const void *in, size_t n,
                     size_t in_size, const void *out, size_t out_size)
{
    if (!p || !fn || (n && in_size && !in) || (n && out_size && !out))
        return WV_EINVAL;
    return wv__pw_foreign(p) ? WV_EPERM : 0;
}

static struct job *job_new(wv_pool_t *p, wv_pool_fn fn, const void *in,
                           size_t n, size_t in_size, void *out, size_t out_size,
                           size_t chunk, int64_t deadline)
{
    struct job *j = wv__calloc(1, sizeof *j);

    if (!j)
        return NULL;
    j->refs = 1;
    j->fn = fn;
    j->in = in;
    j->in_size = in_size;
    j->out = out;
    j->out_size = out_size;
    j->n = n;
    j->chunk = chunk;
    j->deadline = deadline > 0 ? deadline : 0;
    return j;
}

static struct ptask chunk_task(struct job *j, size_t c, size_t slot)
{
    struct ptask t = {.fn = j->fn, .ref = j, .kind = T_CHUNK};

    t.u.chunk.lo = c * j->chunk;
    t.u.chunk.hi =
        j->n - t.u.chunk.lo > j->chunk ? t.u.chunk.lo + j->chunk : j->n;
    t.u.chunk.slot = slot;
    return t;
}

/* Queues every chunk.  On failure the job is stopped and this waits until
 * no chunk uses the caller's memory. */
static int push_chunks(wv_pool_t *p, struct job *j, size_t nchunks)
{
    for (size_t c = 0; c < nchunks; c++) {
        struct ptask t = chunk_task(j, c, 0);
        wv__job_ref(j);
        int err = wv__pool_push(p, &t, false);
        if (err) {
            wv__job_unref(j);
            __atomic_sub_fetch(&j->chunks_left, nchunks - c - 1,
                               __ATOMIC_ACQ_REL);
            wv__job_cancel(j, err);
            chunk_finish(j); /* chunk c */
            wv_event_wait(&j->stopped, -1);
            return err;
        }
    }
    return 0;
}

/* map_async's body; `heap` = enforce the deadline on the handler. */
static int map_start(wv_pool_t *p, wv_pool_fn fn, const void *in, size_t n,
                     size_t in_size, void *out, size_t out_size,
                     const wv_task_opts_t *opts, bool heap, struct job **jp)
{
    wv_task_opts_t none = {0};
    int err;

    if (!opts)
        opts = &none;
    if ((err = check_map(p, fn, in, n, in_size, out, out_size)))
        return err;
    uint32_t f = wv__pool_flags(p);
    if (f & P_BROKEN)
        return WV_EBROKEN;
    if (f & (P_CLOSED | P_TERMINATED))
        return WV_ESHUTDOWN;
    size_t automatic = wv__ceil_div(n, 4 * p->max); /* Python's */
    if (p->procs && in_size + out_size) {
        /* A chunk's records cross in one copy each way: chunks that stay
         * in the cache and in the channel's first window cost less than
         * a few big ones (which grow the windows, page by page), and
         * their round trips are few next to the items. */
        size_t cap = PROC_CHUNK_BYTES / (in_size + out_size);
        if (automatic > cap)
            automatic = cap ? cap : 1;
    }
    size_t chunk = chunk_size(opts->chunksize, n, automatic);
    size_t nchunks = wv__ceil_div(n, chunk);
    struct job *j =
        job_new(p, fn, in, n, in_size, out, out_size, chunk, opts->deadline);
    if (!j)
        return WV_ENOMEM;
    j->chunks_left = nchunks;
    struct cbrec *rec = NULL;
    if ((err = wv_future_new(&j->fut)))
        goto out_free;
    wv_future_set_running(j->fut); /* cannot be cancelled: see pool.h */
    err = WV_ENOMEM;
    if ((opts->callback || opts->error_callback) &&
        !(rec = wv__cbrec_new(p, opts)))
        goto out_free;
    if (heap && j->deadline &&
        (err = wv__handler_deadline(p, j, true, j->deadline)))
        goto out_drop_rec;
    if (nchunks == 0)
        wv_future_set_result(j->fut, NULL, 0);
    else if ((err = push_chunks(p, j, nchunks)))
        goto out_drop_rec;
    if (rec)
        wv__cbrec_arm(rec, j->fut);
    *jp = j;
    return 0;

out_drop_rec:
    wv__cbrec_drop(rec);
    wv__job_cancel(j, err); /* the deadline entry, if any, finds it over */
out_free:
    wv__job_unref(j);
    return err;
}

int wv_pool_map_async(wv_pool_t *pool, const wv_task_opts_t *opts,
                      wv_pool_fn fn, const void *in, size_t n, size_t in_size,
                      void *out, size_t out_size, wv_future_t **fut)
{
    struct job *j;

    if (!fut)
        return WV_EINVAL;
    int err =
        map_start(pool, fn, in, n, in_size, out, out_size, opts, true, &j);
    if (err)
        return err;
    *fut = wv_future_ref(j->fut);
    wv__job_unref(j);
    return 0;
}

int wv_pool_map(wv_pool_t *pool, const wv_task_opts_t *opts, wv_pool_fn fn,
                const void *in, size_t n, size_t in_size, void *out,
                size_t out_size, size_t *failed)
{
    struct job *j;
    int64_t deadline = opts && opts->deadline > 0 ? opts->deadline : -1;
    int err =
        map_start(pool, fn, in, n, in_size, out, out_size, opts, false, &j);

    if (err)
        return err;
    err = wv_future_wait(j->fut, deadline);
    if (err) {
        /* Timed out, or the calling coroutine was cancelled: stop the
         * items not started and wait for those running (they use `out`). */
        wv__job_cancel(j, err);
        while (wv_future_wait(j->fut, -1) != 0)
            ;
    }
    err = wv_future_error(j->fut);
    if (err && failed && j->item_failed &&
        __atomic_load_n(&j->cancel_err, __ATOMIC_ACQUIRE) == err)
        *failed = j->failed;
    wv__job_unref(j);
    return err;
}

/* ------------------------------------------------------------ imap */

static void imap_release_lazy(struct wv_imap *it)
{
    if (!it->lazy)
        return;
    it->lazy = false;
    __atomic_sub_fetch(&it->pool->lazy, 1, __ATOMIC_SEQ_CST);
    /* Workers of a closed pool may now be free to go. */
    wv__unpark(&it->pool->nsleep, INT32_MAX, NULL, NULL);
}

/* Queues the next chunk into slot si (it->mu held). */
static int submit_next(struct wv_imap *it, size_t si)
{
    struct job *j = it->job;
    struct slot *s = &it->slots[si];
    size_t c = it->submitted;
    struct ptask t = chunk_task(j, c, si);

    s->chunk = c;
    s->count = t.u.chunk.hi - t.u.chunk.lo;
    s->done = false;
    if (j->out_size)
        memset(s->buf, 0, s->count * j->out_size);
    wv__job_ref(j);
    int err = wv__pool_push(it->pool, &t, true);
    if (err) {
        wv__job_unref(j);
        return err;
    }
    if (++it->submitted == it->nchunks)
        imap_release_lazy(it);
    return 0;
}

static void imap_destroy(struct wv_imap *it)
{
    if (it->slots)
        for (size_t i = 0; i < it->window; i++) {
            wv__free(it->slots[i].buf);
            wv__free(it->slots[i].errs);
        }
    wv__free(it->slots);
    wv__free(it->doneq);
    wv__free(it);
}

static int imap_alloc(struct wv_imap *it, size_t chunk, size_t out_size)
{
    if (!(it->slots = wv__calloc(it->window, sizeof *it->slots)) ||
        !(it->doneq = wv__calloc(it->window, sizeof *it->doneq)))
        return WV_ENOMEM;
    for (size_t i = 0; i < it->window; i++) {
        struct slot *s = &it->slots[i];
        if (!(s->errs = wv__calloc(chunk, sizeof *s->errs)) ||
            (out_size && !(s->buf = wv__calloc(chunk, out_size))))
            return WV_ENOMEM;
    }
    return 0;
}

static int imap_start(wv_pool_t *p, wv_pool_fn fn, const void *in, size_t n,
                      size_t in_size, size_t out_size,
                      const wv_task_opts_t *opts, bool unordered,
                      wv_imap_t **out)
{
    wv_task_opts_t none = {0};
    int err;

    if (!opts)
        opts = &none;
    if (!out || (err = check_map(p, fn, in, n, in_size, "", 0)))
        return WV_EINVAL;
    if (wv__pool_flags(p) & P_BROKEN)
        return WV_EBROKEN;
    if (wv__pool_flags(p) & (P_CLOSED | P_TERMINATED))
        return WV_ESHUTDOWN; /* checked again once counted in lazy */
    size_t automatic = n / (16 * p->max);
    size_t chunk =
        chunk_size(opts->chunksize, n, automatic > 1024 ? 1024 : automatic);
    size_t nchunks = wv__ceil_div(n, chunk);
    size_t window = opts->window ? opts->window : 4 * p->max;
    if (window > nchunks)
        window = nchunks ? nchunks : 1;

    struct wv_imap *it = wv__calloc(1, sizeof *it);
    if (!it)
        return WV_ENOMEM;
    it->pool = p;
    it->unordered = unordered;
    it->nchunks = nchunks;
    it->window = window;
    err = WV_ENOMEM;
    if (imap_alloc(it, chunk, out_size) ||
        !(it->job = job_new(p, fn, in, n, in_size, NULL, out_size, chunk,
                            opts->deadline)))
        goto out_free;
    err = 0;
    it->job->it = it;
    if (it->job->deadline &&
        (err = wv__handler_deadline(p, it->job, true, it->job->deadline)))
        goto out_free;
    if (nchunks) {
        /* Counted before the flags are read again: a close that this
         * check misses comes after, and its workers then wait for us. */
        it->lazy = true;
        __atomic_add_fetch(&p->lazy, 1, __ATOMIC_SEQ_CST);
        uint32_t f = wv__pool_flags(p);
        if (f & (P_CLOSED | P_TERMINATED | P_BROKEN)) {
            wv_imap_free(it);
            return f & P_BROKEN ? WV_EBROKEN : WV_ESHUTDOWN;
        }
    }
    wv__lock_acquire_nocancel(&it->mu);
    for (size_t s = 0; s < window && it->submitted < nchunks && !err; s++)
        err = submit_next(it, s);
    wv_lock_release(&it->mu);
    if (err) {
        wv_imap_free(it);
        return err;
    }
    *out = it;
    return 0;

out_free:
    if (it->job) {
        wv__job_cancel(it->job, err);
        wv__job_unref(it->job);
    }
    imap_destroy(it);
    return err;
}

int wv_pool_imap(wv_pool_t *pool, const wv_task_opts_t *opts, wv_pool_fn fn,
                 const void *in, size_t n, size_t in_size, size_t out_size,
                 wv_imap_t **it)
{
    return imap_start(pool, fn, in, n, in_size, out_size, opts, false, it);
}

int wv_pool_imap_unordered(wv_pool_t *pool, const wv_task_opts_t *opts,
                           wv_pool_fn fn, const void *in, size_t n,
                           size_t in_size, size_t out_size, wv_imap_t **it)
{
    return imap_start(pool, fn, in, n, in_size, out_size, opts, true, it);
}

/* Refills the slots that wait for a chunk (it->mu held). */
static int imap_refill(struct wv_imap *it)
{
    if (it->release) {
        size_t si = (size_t)(it->cur - it->slots);
        if (it->submitted < it->nchunks) {
            int err = submit_next(it, si);
            if (err == WV_ESHUTDOWN || err == WV_EBROKEN) {
                /* Terminated or broken: no chunk will come any more. */
                it->refused = err == WV_EBROKEN ? WV_EBROKEN : WV_ECANCELED;
                it->nchunks = it->submitted;
                imap_release_lazy(it);
            } else if (err) {
                return err;
            }
        }
        it->release = false;
        it->cur = NULL;
    }
    return 0;
}

/* The next slot to return from, waiting for it (it->mu held). */
static int imap_wait(struct wv_imap *it, int64_t deadline)
{
    for (;;) {
        if (it->unordered && it->dq_len) {
            it->cur = &it->slots[it->doneq[it->dq_head]];
            it->dq_head = (it->dq_head + 1) % it->window;
            it->dq_len--;
            break;
        }
        struct slot *s = &it->slots[it->consumed % it->window];
        if (!it->unordered && s->done && s->chunk == it->consumed &&
            it->consumed < it->submitted) {
            it->cur = s;
            break;
        }
        if (it->stopped || it->consumed == it->submitted) {
            int err = __atomic_load_n(&it->job->cancel_err, __ATOMIC_ACQUIRE);
            return err ? err : it->refused ? it->refused : WV_ECANCELED;
        }
        int err = wv_cond_wait(&it->cv, &it->mu, deadline);
        if (err == WV_ETIMEDOUT || err == WV_EAGAIN || err == WV_ECANCELED ||
            err == WV_EINVAL)
            return err;
    }
    it->pos = 0;
    return 0;
}

int wv_imap_next(wv_imap_t *it, size_t *index, const void **result,
                 int64_t deadline)
{
    if (!it)
        return WV_EINVAL;
    wv__lock_acquire_nocancel(&it->mu);
    int err = imap_refill(it);
    if (err)
        goto out;
    if (it->yielded == it->job->n) {
        err = WV_EOF;
        goto out;
    }
    if (!it->cur && (err = imap_wait(it, deadline)))
        goto out;
    struct slot *s = it->cur;
    size_t k = it->pos++;
    if (index)
        *index = s->chunk * it->job->chunk + k;
    if (result)
        *result = s->buf ? s->buf + k * it->job->out_size : NULL;
    err = s->errs[k];
    it->yielded++;
    if (it->pos == s->count) {
        it->release = true;
        it->consumed++;
    }
out:
    wv_lock_release(&it->mu);
    return err;
}

void wv_imap_free(wv_imap_t *it)
{
    if (!it)
        return;
    struct job *j = it->job;
    wv__job_cancel(j, WV_ECANCELED);
    wv_event_wait(&j->stopped, -1);
    imap_release_lazy(it);
    wv__job_unref(j);
    imap_destroy(it);
}

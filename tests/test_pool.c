/*
 * tests/test_pool.c - the thread pool: apply, apply_async, callbacks, map,
 * map_async, imap, close/terminate/join/free, deadlines, cancellation,
 * initializer, maxtasksperchild, elastic growth, races and faults.
 *
 * Tasks that must stay "running" block on an Event the test sets, so every
 * interleaving a case relies on is forced, never hoped for.
 */
#include "pool/internal.h"
#include "runner.h"

#include <string.h>

static wv_pool_t *make(unsigned workers)
{
    wv_pool_opts_t opts = {.workers = workers, .name = "tp"};
    wv_pool_t *p;
    WVT_OK(wv_pool_new(&p, &opts));
    return p;
}

/* ------------------------------------------------------------ tasks */

static int square(wv_task_t *t, const void *arg, size_t len)
{
    int x;
    if (len != sizeof x)
        return WV_EINVAL;
    memcpy(&x, arg, sizeof x);
    int r = x * x;
    return wv_task_return(t, &r, sizeof r);
}

static int fail_with(wv_task_t *t, const void *arg, size_t len)
{
    int err;
    memcpy(&err, arg, sizeof err);
    return err;
}

static long counter;

static int bump(wv_task_t *t, const void *arg, size_t len)
{
    __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    return 0;
}

/* Blocks on the Event its argument points at; counts itself running. */
static uint32_t blocked_running;

static int block_on(wv_task_t *t, const void *arg, size_t len)
{
    wv_event_t *e;
    memcpy(&e, arg, sizeof e);
    __atomic_add_fetch(&blocked_running, 1, __ATOMIC_SEQ_CST);
    wv_event_wait(e, WV_FOREVER);
    __atomic_sub_fetch(&blocked_running, 1, __ATOMIC_SEQ_CST);
    return wv_task_return(t, "done", 4);
}

/* Occupies every one of n workers until *e is set. */
static void occupy(wv_pool_t *p, unsigned n, wv_event_t *e)
{
    __atomic_store_n(&blocked_running, 0, __ATOMIC_SEQ_CST);
    for (unsigned i = 0; i < n; i++)
        WVT_OK(wv_pool_apply_async(p, NULL, block_on, &e, sizeof e, NULL));
    WVT_POLL(__atomic_load_n(&blocked_running, __ATOMIC_SEQ_CST) == n, 5000);
}

/* ------------------------------------------------------------ apply */

WVT_TEST(pool_apply_result_and_errors)
{
    wv_pool_t *p = make(2);
    int x = 12, r = 0, err = WV_EIO;
    size_t len = 0;

    WVT_OK(wv_pool_apply(p, square, &x, sizeof x, &r, sizeof r, &len, WV_FOREVER));
    WVT_EQ(r, 144);
    WVT_EQ(len, sizeof r);
    WVT_ERR(wv_pool_apply(p, fail_with, &err, sizeof err, NULL, 0, NULL, WV_FOREVER),
            WV_EIO);
    err = 7; /* positive: not an error code */
    WVT_ERR(wv_pool_apply(p, fail_with, &err, sizeof err, NULL, 0, NULL, WV_FOREVER),
            WV_EINVAL);
    wv_pool_free(p);
}

/* Arguments and results past the inline size take the heap path. */
static int reverse(wv_task_t *t, const void *arg, size_t len)
{
    char buf[256];
    for (size_t i = 0; i < len; i++)
        buf[i] = ((const char *)arg)[len - 1 - i];
    return wv_task_return(t, buf, len);
}

WVT_TEST(pool_apply_large_argument_and_result)
{
    wv_pool_t *p = make(2);
    char in[200], out[200], expect[200];
    size_t len;

    for (int i = 0; i < 200; i++) {
        in[i] = (char)i;
        expect[199 - i] = (char)i;
    }
    WVT_OK(wv_pool_apply(p, reverse, in, sizeof in, out, sizeof out, &len, WV_FOREVER));
    WVT_EQ(len, 200);
    WVT_ASSERT(memcmp(out, expect, sizeof out) == 0);
    /* A short buffer gets the beginning and the full length. */
    memset(out, 0, sizeof out);
    WVT_OK(wv_pool_apply(p, reverse, in, sizeof in, out, 10, &len, WV_FOREVER));
    WVT_EQ(len, 200);
    WVT_ASSERT(memcmp(out, expect, 10) == 0 && out[10] == 0);
    wv_pool_free(p);
}

WVT_TEST(pool_invalid_arguments)
{
    wv_pool_t *p;
    wv_pool_opts_t bad = {.workers = 4, .max_workers = 2};
    int x = 1;

    WVT_ERR(wv_pool_new(NULL, NULL), WV_EINVAL);
    WVT_ERR(wv_pool_new(&p, &bad), WV_EINVAL);
    bad = (wv_pool_opts_t){.idle_timeout_ms = -5};
    WVT_ERR(wv_pool_new(&p, &bad), WV_EINVAL);
    bad = (wv_pool_opts_t){.kind = WV_POOL_PROCESSES, .idle_timeout_ms = -1};
    WVT_ERR(wv_pool_new(&p, &bad), WV_EINVAL);
    bad = (wv_pool_opts_t){.kind = 9};
    WVT_ERR(wv_pool_new(&p, &bad), WV_EINVAL);

    p = make(1);
    WVT_ERR(wv_pool_apply_async(NULL, NULL, bump, NULL, 0, NULL), WV_EINVAL);
    WVT_ERR(wv_pool_apply_async(p, NULL, NULL, NULL, 0, NULL), WV_EINVAL);
    WVT_ERR(wv_pool_apply_async(p, NULL, bump, NULL, 4, NULL), WV_EINVAL);
    WVT_ERR(wv_pool_apply(p, bump, &x, sizeof x, NULL, 0, NULL, -7),
            WV_EINVAL);
    WVT_ERR(wv_pool_map(p, NULL, square, NULL, 3, sizeof x, NULL, 0, NULL),
            WV_EINVAL);
    WVT_ERR(wv_pool_map(p, NULL, square, &x, 1, sizeof x, NULL, sizeof x, NULL),
            WV_EINVAL);
    WVT_ERR(wv_pool_map_async(p, NULL, square, &x, 1, sizeof x, NULL, 0, NULL),
            WV_EINVAL);
    WVT_ERR(wv_pool_imap(p, NULL, square, &x, 1, sizeof x, 4, NULL),
            WV_EINVAL);
    WVT_ERR(wv_imap_next(NULL, NULL, NULL, 0), WV_EINVAL);
    WVT_ERR(wv_task_return(NULL, NULL, 0), WV_EINVAL);
    WVT_ERR(wv_pool_join(p, WV_FOREVER), WV_EINVAL); /* not closed */
    WVT_ERR(wv_pool_join(NULL, WV_FOREVER), WV_EINVAL);
    wv_pool_free(p);
    wv_pool_free(NULL);
    wv_imap_free(NULL);
    WVT_EQ(wv_pool_workers(NULL), 0);
}

WVT_TEST(pool_default_size_is_cpu_count)
{
    wv_pool_t *p;
    WVT_OK(wv_pool_new(&p, NULL));
    WVT_EQ(wv_pool_workers(p), wv_cpu_count());
    wv_pool_close(p);
    WVT_OK(wv_pool_join(p, WV_FOREVER));
    WVT_EQ(wv_pool_workers(p), 0);
    wv_pool_free(p);
}

/* ------------------------------------------------------- callbacks */

struct cbs {
    long ok, failed, sum;
    int last_err;
    bool off_worker; /* every callback ran on the handler thread */
    uint32_t *seen;  /* per task: callbacks run */
};

static bool on_handler(void)
{
    const char *name = wv_thread_name(wv_thread_current());
    size_t n = strlen(name);
    return n > 8 && strcmp(name + n - 8, "-handler") == 0;
}

static void on_result(const void *result, size_t len, void *arg)
{
    struct cbs *c = arg;
    int r;
    memcpy(&r, result, sizeof r);
    c->ok++; /* callbacks run one at a time, on one thread */
    c->sum += r;
    if (!on_handler())
        c->off_worker = false;
}

static void on_error(int err, void *arg)
{
    struct cbs *c = arg;
    c->failed++;
    c->last_err = err;
    if (!on_handler())
        c->off_worker = false;
}

WVT_TEST(pool_apply_async_callbacks_run_on_handler)
{
    wv_pool_t *p = make(2);
    struct cbs c = {.off_worker = true};
    wv_task_opts_t o = {
        .callback = on_result, .error_callback = on_error, .cb_arg = &c};
    wv_future_t *f;
    const void *data;
    size_t len;

    for (int i = 1; i <= 100; i++)
        WVT_OK(wv_pool_apply_async(p, &o, square, &i, sizeof i, NULL));
    int e = WV_ERANGE;
    WVT_OK(wv_pool_apply_async(p, &o, fail_with, &e, sizeof e, &f));
    WVT_ERR(wv_future_get(f, &data, &len, WV_FOREVER), WV_ERANGE);
    WVT_ERR(wv_future_error(f), WV_ERANGE);
    wv_future_unref(f);
    wv_pool_close(p);
    WVT_OK(wv_pool_join(p, WV_FOREVER)); /* callbacks included */
    WVT_EQ(c.ok, 100);
    WVT_EQ(c.sum, 100 * 101 * 201 / 6);
    WVT_EQ(c.failed, 1);
    WVT_EQ(c.last_err, WV_ERANGE);
    WVT_ASSERT(c.off_worker);
    wv_pool_free(p);
}

/* A slow callback holds the handler, never the workers. */
static void slow_callback(const void *result, size_t len, void *arg)
{
    wv_event_wait(arg, WV_FOREVER);
}

WVT_TEST(pool_slow_callback_does_not_stall_workers)
{
    wv_pool_t *p = make(2);
    wv_event_t release = WV_EVENT_INIT;
    wv_task_opts_t o = {.callback = slow_callback, .cb_arg = &release};
    wv_future_t *fs[200];

    WVT_OK(wv_pool_apply_async(p, &o, bump, NULL, 0, NULL));
    for (int i = 0; i < 200; i++)
        WVT_OK(wv_pool_apply_async(p, &o, bump, NULL, 0, &fs[i]));
    for (int i = 0; i < 200; i++) {
        WVT_OK(wv_future_wait(fs[i], WV_FOREVER));
        wv_future_unref(fs[i]);
    }
    wv_event_set(&release);
    wv_pool_close(p);
    WVT_OK(wv_pool_join(p, WV_FOREVER));
    wv_pool_free(p);
}

/* Many submitters at once, each task with a callback: each runs once. */
struct many {
    wv_pool_t *pool;
    uint32_t seen[8 * 2000];
    long per;
};

static void mark(const void *result, size_t len, void *arg)
{
    __atomic_add_fetch((uint32_t *)arg, 1, __ATOMIC_RELAXED);
}

static void mark_error(int err, void *arg)
{
    WVT_FAIL("task failed: %s", wv_err_name(err));
}

static void submit_many(int i, void *arg)
{
    struct many *m = arg;
    for (long k = 0; k < m->per; k++) {
        wv_task_opts_t o = {.callback = mark,
                            .error_callback = mark_error,
                            .cb_arg = &m->seen[i * m->per + k]};
        wv_future_t *f = NULL;
        WVT_OK(wv_pool_apply_async(m->pool, &o, bump, NULL, 0, k % 3 ? NULL : &f));
        wv_future_unref(f);
        if (k % 7 == 0) /* and some without callbacks */
            WVT_OK(wv_pool_apply_async(m->pool, NULL, bump, NULL, 0, NULL));
    }
}

WVT_TEST(pool_many_submitters_callbacks_exactly_once)
{
    static struct many m;
    m.per = wvt_scale(500);
    m.pool = make(3);
    __atomic_store_n(&counter, 0, __ATOMIC_RELAXED);
    memset(m.seen, 0, sizeof m.seen);
    wvt_run_threads(8, submit_many, &m);
    wv_pool_close(m.pool);
    WVT_OK(wv_pool_join(m.pool, WV_FOREVER));
    for (long i = 0; i < 8 * m.per; i++)
        WVT_EQ(m.seen[i], 1);
    WVT_EQ(counter, 8 * (m.per + (m.per + 6) / 7));
    wv_pool_free(m.pool);
}

/* ------------------------------------------------- close, terminate */

WVT_TEST(pool_submit_after_close_or_terminate)
{
    wv_pool_t *p = make(1);
    int x = 2;
    wv_imap_t *it;
    wv_future_t *f;
    struct cbs c = {0};
    wv_task_opts_t o = {.error_callback = on_error, .cb_arg = &c};

    wv_pool_close(p);
    WVT_ERR(wv_pool_apply_async(p, &o, bump, NULL, 0, &f), WV_ESHUTDOWN);
    WVT_ERR(wv_pool_apply(p, square, &x, sizeof x, NULL, 0, NULL, WV_FOREVER),
            WV_ESHUTDOWN);
    WVT_ERR(wv_pool_map(p, NULL, square, &x, 1, sizeof x, &x, sizeof x, NULL),
            WV_ESHUTDOWN);
    WVT_ERR(wv_pool_imap(p, NULL, square, &x, 1, sizeof x, sizeof x, &it),
            WV_ESHUTDOWN);
    wv_pool_close(p); /* twice is fine */
    wv_pool_terminate(p);
    WVT_OK(wv_pool_join(p, WV_FOREVER));
    WVT_OK(wv_pool_join(p, 0)); /* and again */
    WVT_EQ(c.failed, 0);        /* refused: no callback */
    wv_pool_free(p);
}

WVT_TEST(pool_close_runs_queued_tasks)
{
    wv_pool_t *p = make(2);
    wv_event_t go = WV_EVENT_INIT;
    __atomic_store_n(&counter, 0, __ATOMIC_RELAXED);
    occupy(p, 2, &go);
    for (int i = 0; i < 1000; i++)
        WVT_OK(wv_pool_apply_async(p, NULL, bump, NULL, 0, NULL));
    wv_pool_close(p);
    WVT_ERR(wv_pool_join(p, 0), WV_EAGAIN);
    WVT_ERR(wv_pool_join(p, wv_deadline_in(20)), WV_ETIMEDOUT);
    wv_event_set(&go);
    WVT_OK(wv_pool_join(p, WV_FOREVER));
    WVT_EQ(counter, 1000);
    wv_pool_free(p);
}

WVT_TEST(pool_terminate_cancels_queued_tasks)
{
    wv_pool_t *p = make(1);
    wv_event_t go = WV_EVENT_INIT;
    struct cbs c = {.off_worker = true};
    wv_task_opts_t o = {.error_callback = on_error, .cb_arg = &c};
    wv_future_t *running, *queued[100];
    const void *data;
    size_t len;
    wv_event_t *e = &go;

    __atomic_store_n(&counter, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&blocked_running, 0, __ATOMIC_SEQ_CST);
    WVT_OK(wv_pool_apply_async(p, NULL, block_on, &e, sizeof e, &running));
    WVT_POLL(__atomic_load_n(&blocked_running, __ATOMIC_SEQ_CST) == 1, 5000);
    for (int i = 0; i < 100; i++)
        WVT_OK(wv_pool_apply_async(p, &o, bump, NULL, 0, &queued[i]));
    wv_pool_terminate(p);
    for (int i = 0; i < 100; i++) {
        WVT_ASSERT(wv_future_is_cancelled(queued[i]));
        wv_future_unref(queued[i]);
    }
    WVT_ASSERT(wv_future_is_running(running));
    wv_event_set(&go); /* the running task is never killed */
    WVT_OK(wv_pool_join(p, WV_FOREVER));
    WVT_OK(wv_future_get(running, &data, &len, 0));
    WVT_ASSERT(len == 4 && memcmp(data, "done", 4) == 0);
    wv_future_unref(running);
    WVT_EQ(counter, 0);
    WVT_EQ(c.failed, 100);
    WVT_EQ(c.last_err, WV_ECANCELED);
    WVT_ASSERT(c.off_worker);
    wv_pool_free(p);
}

/* Freeing an open pool terminates it: queued tasks never run. */
WVT_TEST(pool_free_with_tasks_queued)
{
    wv_pool_t *p = make(1);
    wv_event_t go = WV_EVENT_INIT;
    wv_future_t *f;

    __atomic_store_n(&counter, 0, __ATOMIC_RELAXED);
    occupy(p, 1, &go);
    for (int i = 0; i < 50; i++)
        WVT_OK(wv_pool_apply_async(p, NULL, bump, NULL, 0, NULL));
    WVT_OK(wv_pool_apply_async(p, NULL, bump, NULL, 0, &f));
    wv_event_set(&go);
    wv_pool_free(p);
    WVT_ASSERT(wv_future_is_ready(f));
    WVT_LE(counter, 51);
    wv_future_unref(f);
}

/* -------------------------------------------- cancel and deadlines */

WVT_TEST(pool_cancel_queued_task)
{
    wv_pool_t *p = make(1);
    wv_event_t go = WV_EVENT_INIT;
    struct cbs c = {0};
    wv_task_opts_t o = {
        .callback = on_result, .error_callback = on_error, .cb_arg = &c};
    wv_future_t *f;

    __atomic_store_n(&counter, 0, __ATOMIC_RELAXED);
    occupy(p, 1, &go);
    WVT_OK(wv_pool_apply_async(p, &o, bump, NULL, 0, &f));
    WVT_OK(wv_future_cancel(f));
    WVT_ERR(wv_future_wait(f, 0), 0);
    WVT_ERR(wv_future_error(f), WV_ECANCELED);
    wv_event_set(&go);
    wv_pool_close(p);
    WVT_OK(wv_pool_join(p, WV_FOREVER));
    WVT_EQ(counter, 0); /* it never ran */
    WVT_EQ(c.failed, 1);
    WVT_EQ(c.last_err, WV_ECANCELED);
    wv_future_unref(f);
    wv_pool_free(p);
}

/* The deadline fails the task at the deadline, while every worker is
 * still busy: not when a worker gets to it. */
WVT_TEST(pool_task_deadline_fires_while_workers_busy)
{
    wv_pool_t *p = make(1);
    wv_event_t go = WV_EVENT_INIT;
    struct cbs c = {0};
    wv_task_opts_t o = {.error_callback = on_error,
                        .cb_arg = &c,
                        .deadline = wv_deadline_in(30)};
    wv_future_t *f, *g;

    __atomic_store_n(&counter, 0, __ATOMIC_RELAXED);
    occupy(p, 1, &go);
    WVT_OK(wv_pool_apply_async(p, &o, bump, NULL, 0, &f));
    o.error_callback = NULL; /* fire and forget with a deadline */
    WVT_OK(wv_pool_apply_async(p, &o, bump, NULL, 0, NULL));
    o.deadline = wv_deadline_in(60000);
    WVT_OK(wv_pool_apply_async(p, &o, bump, NULL, 0, &g)); /* in time */
    WVT_ERR(wv_future_get(f, NULL, NULL, WV_FOREVER), WV_ETIMEDOUT);
    WVT_EQ(__atomic_load_n(&blocked_running, __ATOMIC_SEQ_CST), 1);
    wv_event_set(&go);
    WVT_OK(wv_future_get(g, NULL, NULL, WV_FOREVER));
    wv_pool_close(p);
    WVT_OK(wv_pool_join(p, WV_FOREVER));
    WVT_EQ(counter, 1); /* only g ran */
    WVT_EQ(c.failed, 1);
    WVT_EQ(c.last_err, WV_ETIMEDOUT);
    wv_future_unref(f);
    wv_future_unref(g);
    wv_pool_free(p);
}

WVT_TEST(pool_apply_deadline)
{
    wv_pool_t *p = make(1);
    wv_event_t go = WV_EVENT_INIT;

    __atomic_store_n(&counter, 0, __ATOMIC_RELAXED);
    occupy(p, 1, &go);
    WVT_ERR(wv_pool_apply(p, bump, NULL, 0, NULL, 0, NULL, wv_deadline_in(20)),
            WV_ETIMEDOUT);
    wv_event_set(&go);
    wv_pool_close(p);
    WVT_OK(wv_pool_join(p, WV_FOREVER));
    WVT_EQ(counter, 0); /* not started by its deadline: never run */
    wv_pool_free(p);
}

/* ----------------------------------------------- from inside a pool */

static wv_pool_t *inner_pool;

static int apply_inside(wv_task_t *t, const void *arg, size_t len)
{
    int x = 9, r = 0;
    int err = wv_pool_apply(inner_pool, square, &x, sizeof x, &r, sizeof r,
                            NULL, WV_FOREVER);
    if (err)
        return err;
    if (wv_pool_join(inner_pool, WV_FOREVER) != WV_EDEADLK)
        return WV_EPROTO;
    return wv_task_return(t, &r, sizeof r);
}

/* apply from a task runs inline: a one-worker pool would deadlock. */
WVT_TEST(pool_apply_from_own_task)
{
    int r = 0;
    inner_pool = make(1);
    WVT_OK(wv_pool_apply(inner_pool, apply_inside, NULL, 0, &r, sizeof r, NULL, WV_FOREVER));
    WVT_EQ(r, 81);
    wv_pool_free(inner_pool);
}

static int join_inside(wv_task_t *t, const void *arg, size_t len)
{
    wv_pool_close(inner_pool);
    return wv_pool_join(inner_pool, WV_FOREVER);
}

WVT_TEST(pool_join_from_own_task_is_edeadlk)
{
    wv_future_t *f;
    inner_pool = make(1);
    WVT_OK(wv_pool_apply_async(inner_pool, NULL, join_inside, NULL, 0, &f));
    WVT_ERR(wv_future_get(f, NULL, NULL, WV_FOREVER), WV_EDEADLK);
    wv_future_unref(f);
    WVT_OK(wv_pool_join(inner_pool, WV_FOREVER));
    wv_pool_free(inner_pool);
}

static wv_event_t freed_done;

static void free_from_callback(const void *result, size_t len, void *arg)
{
    wv_pool_t *p = arg;
    WVT_ERR(wv_pool_join(p, WV_FOREVER), WV_EDEADLK);
    wv_pool_free(p); /* GLib deadlocks here */
    wv_event_set(&freed_done);
}

WVT_TEST(pool_free_from_callback)
{
    wv_pool_t *p = make(2);
    wv_task_opts_t o = {.callback = free_from_callback, .cb_arg = p};
    wv_event_init(&freed_done);
    for (int i = 0; i < 20; i++)
        WVT_OK(wv_pool_apply_async(p, NULL, bump, NULL, 0, NULL));
    WVT_OK(wv_pool_apply_async(p, &o, bump, NULL, 0, NULL));
    WVT_OK(wv_event_wait(&freed_done, WV_FOREVER));
    /* The runner's leak check waits for the pool's threads to be gone. */
}

static int free_from_task(wv_task_t *t, const void *arg, size_t len)
{
    wv_pool_t *p;
    memcpy(&p, arg, sizeof p);
    wv_pool_free(p);
    wv_event_set(&freed_done);
    return 0;
}

WVT_TEST(pool_free_from_task)
{
    wv_pool_t *p = make(2);
    wv_event_init(&freed_done);
    WVT_OK(wv_pool_apply_async(p, NULL, free_from_task, &p, sizeof p, NULL));
    WVT_OK(wv_event_wait(&freed_done, WV_FOREVER));
}

/* -------------------------------------------------------------- map */

WVT_TEST(pool_map_results_in_order)
{
    wv_pool_t *p = make(3);
    long n = wvt_scale(25000);
    int *in = malloc(n * sizeof *in), *out = malloc(n * sizeof *out);
    size_t chunks[] = {0, 1, 7, 1000, (size_t)n * 2};

    for (long i = 0; i < n; i++)
        in[i] = (int)(i % 40000) - 20000;
    for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
        wv_task_opts_t o = {.chunksize = chunks[c]};
        memset(out, 0xff, n * sizeof *out);
        WVT_OK(wv_pool_map(p, &o, square, in, n, sizeof *in, out, sizeof *out, NULL));
        for (long i = 0; i < n; i++)
            WVT_EQ(out[i], in[i] * in[i]);
    }
    WVT_OK(wv_pool_map(p, NULL, square, NULL, 0, sizeof *in, NULL, 0, NULL));
    free(in);
    free(out);
    wv_pool_free(p);
}

static int fail_at_5000(wv_task_t *t, const void *arg, size_t len)
{
    int i = *(const int *)arg;
    if (i == 5000)
        return WV_ERANGE;
    __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    return wv_task_return(t, &i, sizeof i);
}

WVT_TEST(pool_map_first_failure_stops_it)
{
    wv_pool_t *p = make(2);
    static int in[100000], out[100000];
    size_t failed = 0;
    wv_task_opts_t o = {.chunksize = 100};

    for (int i = 0; i < 100000; i++)
        in[i] = i;
    __atomic_store_n(&counter, 0, __ATOMIC_RELAXED);
    WVT_ERR(wv_pool_map(p, &o, fail_at_5000, in, 100000, sizeof *in, out, sizeof *out, &failed),
            WV_ERANGE);
    WVT_EQ(failed, 5000);
    /* Items not started after the failure were skipped. */
    WVT_LT(__atomic_load_n(&counter, __ATOMIC_RELAXED), 100000 - 1);
    wv_pool_free(p);
}

/* A result record shorter than out_size is padded; too long is refused. */
static int short_record(wv_task_t *t, const void *arg, size_t len)
{
    if (wv_task_return(t, "abcdefghij", 10) != WV_EMSGSIZE)
        return WV_EPROTO;
    if (wv_task_index(t) != (size_t) * (const int *)arg)
        return WV_EPROTO;
    return wv_task_return(t, "ab", 2);
}

WVT_TEST(pool_map_records)
{
    wv_pool_t *p = make(2);
    int in[64];
    char out[64][8];

    for (int i = 0; i < 64; i++)
        in[i] = i;
    memset(out, 'x', sizeof out);
    WVT_OK(wv_pool_map(p, NULL, short_record, in, 64, sizeof *in, out, 8, NULL));
    for (int i = 0; i < 64; i++)
        WVT_ASSERT(memcmp(out[i], "ab\0\0\0\0\0\0", 8) == 0);
    wv_pool_free(p);
}

WVT_TEST(pool_map_async_and_callback)
{
    wv_pool_t *p = make(2);
    static int in[5000], out[5000];
    struct cbs c = {.off_worker = true};
    wv_task_opts_t o = {
        .callback = on_result, .error_callback = on_error, .cb_arg = &c};
    wv_future_t *f;
    int zero = 0;

    for (int i = 0; i < 5000; i++)
        in[i] = i;
    /* on_result reads an int: give it one by mapping nothing first */
    o.callback = NULL;
    WVT_OK(wv_pool_map_async(p, &o, square, in, 5000, sizeof *in, out, sizeof *out, &f));
    WVT_ERR(wv_future_cancel(f), WV_EBUSY);
    WVT_OK(wv_future_get(f, NULL, NULL, WV_FOREVER));
    for (int i = 0; i < 5000; i++)
        WVT_EQ(out[i], i * i);
    wv_future_unref(f);
    in[77] = 5000; /* fail_at_5000 fails there */
    WVT_OK(wv_pool_map_async(p, &o, fail_at_5000, in, 5000, sizeof *in, out, sizeof *out, &f));
    WVT_ERR(wv_future_get(f, NULL, NULL, WV_FOREVER), WV_ERANGE);
    wv_future_unref(f);
    WVT_OK(wv_pool_map_async(p, &o, square, &zero, 0, sizeof zero, NULL, 0, &f));
    WVT_OK(wv_future_wait(f, 0)); /* nothing to do: done at once */
    wv_future_unref(f);
    wv_pool_close(p);
    WVT_OK(wv_pool_join(p, WV_FOREVER));
    WVT_EQ(c.failed, 1);
    WVT_EQ(c.last_err, WV_ERANGE);
    WVT_ASSERT(c.off_worker);
    wv_pool_free(p);
}

/* map's deadline: it returns once the items running have finished, and no
 * item starts after it returned. */
static uint32_t map_inflight;
static bool map_returned;

static int slow_item(wv_task_t *t, const void *arg, size_t len)
{
    if (__atomic_load_n(&map_returned, __ATOMIC_SEQ_CST))
        WVT_FAIL("an item started after map returned");
    __atomic_add_fetch(&map_inflight, 1, __ATOMIC_SEQ_CST);
    wv_sleep_ms(1);
    __atomic_sub_fetch(&map_inflight, 1, __ATOMIC_SEQ_CST);
    return 0;
}

WVT_TEST(pool_map_deadline)
{
    wv_pool_t *p = make(2);
    static char in[100000];
    wv_task_opts_t o = {.deadline = wv_deadline_in(30), .chunksize = 10};

    __atomic_store_n(&map_returned, false, __ATOMIC_SEQ_CST);
    WVT_ERR(wv_pool_map(p, &o, slow_item, in, sizeof in, 1, NULL, 0, NULL),
            WV_ETIMEDOUT);
    __atomic_store_n(&map_returned, true, __ATOMIC_SEQ_CST);
    WVT_EQ(__atomic_load_n(&map_inflight, __ATOMIC_SEQ_CST), 0);
    wv_pool_close(p); /* the chunks left are skipped, not run */
    WVT_OK(wv_pool_join(p, WV_FOREVER));
    wv_pool_free(p);
}

/* ------------------------------------------------------------- imap */

static int square_or_fail(wv_task_t *t, const void *arg, size_t len)
{
    int x = *(const int *)arg;
    if (x % 1000 == 7)
        return WV_EIO;
    return square(t, arg, len);
}

static void imap_all(bool unordered, size_t chunksize, size_t window)
{
    wv_pool_t *p = make(3);
    long n = wvt_scale(5000);
    int *in = malloc(n * sizeof *in);
    char *seen = calloc(n, 1);
    wv_task_opts_t o = {.chunksize = chunksize, .window = window};
    wv_imap_t *it;
    size_t index, expect = 0;
    const void *r;
    int err;

    for (long i = 0; i < n; i++)
        in[i] = (int)i;
    WVT_OK(unordered ? wv_pool_imap_unordered(p, &o, square_or_fail, in, n, sizeof *in, sizeof(int), &it)
                     : wv_pool_imap(p, &o, square_or_fail, in, n, sizeof *in, sizeof(int), &it));
    while ((err = wv_imap_next(it, &index, &r, WV_FOREVER)) != WV_EOF) {
        WVT_LT(index, n);
        if (!unordered)
            WVT_EQ(index, expect++);
        WVT_EQ(seen[index], 0);
        seen[index] = 1;
        if (index % 1000 == 7) {
            WVT_ERR(err, WV_EIO);
        } else {
            WVT_OK(err);
            WVT_EQ(*(const int *)r, (int)(index * index));
        }
    }
    for (long i = 0; i < n; i++)
        WVT_EQ(seen[i], 1);
    WVT_ERR(wv_imap_next(it, &index, &r, WV_FOREVER), WV_EOF);
    wv_imap_free(it);
    free(in);
    free(seen);
    wv_pool_free(p);
}

WVT_TEST(pool_imap_ordered)
{
    imap_all(false, 0, 0);
    imap_all(false, 1, 1);
    imap_all(false, 13, 3);
}

WVT_TEST(pool_imap_unordered)
{
    imap_all(true, 0, 0);
    imap_all(true, 1, 2);
    imap_all(true, 64, 5);
}

/* At most `window` chunks are ahead of the consumer. */
static long imap_consumed, imap_ran;
static bool imap_overrun;

static int count_ahead(wv_task_t *t, const void *arg, size_t len)
{
    long ran = __atomic_add_fetch(&imap_ran, 1, __ATOMIC_SEQ_CST);
    if (ran - __atomic_load_n(&imap_consumed, __ATOMIC_SEQ_CST) > 3 * 4)
        __atomic_store_n(&imap_overrun, true, __ATOMIC_SEQ_CST);
    return 0;
}

WVT_TEST(pool_imap_window_bounds_work_ahead)
{
    wv_pool_t *p = make(2);
    static char in[2000];
    wv_task_opts_t o = {.chunksize = 4, .window = 3};
    wv_imap_t *it;
    int err;

    WVT_OK(wv_pool_imap(p, &o, count_ahead, in, sizeof in, 1, 0, &it));
    /* Nobody consumes: the workers must stop after 3 chunks. */
    WVT_POLL(__atomic_load_n(&imap_ran, __ATOMIC_SEQ_CST) == 12, 5000);
    WVT_ERR(wv_imap_next(it, NULL, NULL, 0), 0);
    __atomic_add_fetch(&imap_consumed, 1, __ATOMIC_SEQ_CST);
    while ((err = wv_imap_next(it, NULL, NULL, WV_FOREVER)) == 0)
        __atomic_add_fetch(&imap_consumed, 1, __ATOMIC_SEQ_CST);
    WVT_ERR(err, WV_EOF);
    WVT_EQ(imap_consumed, 2000);
    WVT_ASSERT(!imap_overrun);
    wv_imap_free(it);
    wv_pool_free(p);
}

WVT_TEST(pool_imap_free_early_and_close)
{
    wv_pool_t *p = make(2);
    static int in[10000];
    wv_imap_t *it, *it2;
    size_t index;

    __atomic_store_n(&counter, 0, __ATOMIC_RELAXED);
    WVT_OK(wv_pool_imap(p, NULL, square, in, 10000, sizeof *in, sizeof(int), &it));
    WVT_OK(wv_imap_next(it, &index, NULL, WV_FOREVER));
    WVT_EQ(index, 0);
    wv_imap_free(it); /* stops it half way */

    /* An imap made before close runs to its end after it. */
    WVT_OK(wv_pool_imap(p, NULL, bump, in, 10000, sizeof *in, 0, &it2));
    wv_pool_close(p);
    long got = 0;
    while (wv_imap_next(it2, NULL, NULL, WV_FOREVER) == 0)
        got++;
    WVT_EQ(got, 10000);
    WVT_EQ(counter, 10000);
    wv_imap_free(it2);
    WVT_OK(wv_pool_join(p, WV_FOREVER));
    wv_pool_free(p);
}

WVT_TEST(pool_imap_terminated)
{
    wv_pool_t *p = make(1);
    wv_event_t go = WV_EVENT_INIT;
    static int in[100];
    wv_imap_t *it;

    occupy(p, 1, &go);
    WVT_OK(wv_pool_imap(p, NULL, square, in, 100, sizeof *in, sizeof(int), &it));
    wv_pool_terminate(p);
    WVT_ERR(wv_imap_next(it, NULL, NULL, WV_FOREVER), WV_ECANCELED);
    WVT_ERR(wv_imap_next(it, NULL, NULL, 0), WV_ECANCELED);
    wv_event_set(&go);
    wv_imap_free(it);
    WVT_OK(wv_pool_join(p, WV_FOREVER));
    wv_pool_free(p);
}

WVT_TEST(pool_imap_next_deadline)
{
    wv_pool_t *p = make(1);
    wv_event_t go = WV_EVENT_INIT;
    static int in[10];
    wv_imap_t *it;
    size_t index;

    occupy(p, 1, &go);
    WVT_OK(wv_pool_imap(p, NULL, square, in, 10, sizeof *in, sizeof(int), &it));
    WVT_ERR(wv_imap_next(it, &index, NULL, 0), WV_EAGAIN);
    WVT_ERR(wv_imap_next(it, &index, NULL, wv_deadline_in(10)), WV_ETIMEDOUT);
    wv_event_set(&go);
    for (size_t i = 0; i < 10; i++) {
        WVT_OK(wv_imap_next(it, &index, NULL, WV_FOREVER));
        WVT_EQ(index, i); /* nothing was lost by the time-outs */
    }
    wv_imap_free(it);
    wv_pool_free(p);
}

/* ------------------------------------ initializer, maxtasksperchild */

static uint32_t inits;
static __thread bool initialized;
static uint32_t init_fail_at; /* 0: never */

static int init_worker(void *arg)
{
    uint32_t n = __atomic_add_fetch(&inits, 1, __ATOMIC_SEQ_CST);
    if (n == __atomic_load_n(&init_fail_at, __ATOMIC_SEQ_CST))
        return WV_EMFILE;
    initialized = true;
    return 0;
}

static int check_initialized(wv_task_t *t, const void *arg, size_t len)
{
    int tid = wv_thread_native_id(wv_thread_current());
    if (!initialized)
        return WV_EPROTO;
    return wv_task_return(t, &tid, sizeof tid);
}

WVT_TEST(pool_initializer_runs_in_each_worker)
{
    wv_pool_opts_t opts = {.workers = 3, .initializer = init_worker};
    wv_pool_t *p;
    __atomic_store_n(&inits, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&init_fail_at, 0, __ATOMIC_SEQ_CST);
    WVT_OK(wv_pool_new(&p, &opts));
    WVT_EQ(inits, 3); /* all ran before wv_pool_new returned */
    static char in[3000];
    static int tids[3000];
    WVT_OK(wv_pool_map(p, NULL, check_initialized, in, sizeof in, 1, tids, sizeof *tids, NULL));
    wv_pool_free(p);

    /* A failing initializer fails wv_pool_new, leaving nothing behind. */
    __atomic_store_n(&inits, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&init_fail_at, 2, __ATOMIC_SEQ_CST);
    WVT_ERR(wv_pool_new(&p, &opts), WV_EMFILE);
}

static void tid_destroy(void *v)
{
    __atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST);
}

static wv_local_t tid_local;

static int record_tid(wv_task_t *t, const void *arg, size_t len)
{
    if (!wv_local_get(&tid_local))
        wv_local_set(&tid_local, (void *)1);
    return check_initialized(t, arg, len);
}

WVT_TEST(pool_maxtasksperchild_replaces_workers)
{
    wv_pool_opts_t opts = {
        .workers = 2, .maxtasksperchild = 3, .initializer = init_worker};
    wv_pool_t *p;
    static char in[60];
    int tids[60];

    __atomic_store_n(&inits, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&init_fail_at, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&counter, 0, __ATOMIC_SEQ_CST);
    WVT_OK(wv_local_init(&tid_local, tid_destroy));
    WVT_OK(wv_pool_new(&p, &opts));
    wv_task_opts_t o = {.chunksize = 1};
    WVT_OK(wv_pool_map(p, &o, record_tid, in, 60, 1, tids, sizeof *tids, NULL));
    /* No thread ran more than 3 tasks; each ran its initializer. */
    int distinct = 0;
    for (int i = 0; i < 60; i++) {
        int same = 0, first = 1;
        for (int j = 0; j < 60; j++) {
            same += tids[j] == tids[i];
            if (j < i && tids[j] == tids[i])
                first = 0;
        }
        WVT_LE(same, 3);
        distinct += first;
    }
    WVT_GE(distinct, 20);
    wv_pool_close(p);
    WVT_OK(wv_pool_join(p, WV_FOREVER));
    WVT_GE(inits, (uint32_t)distinct);
    /* Every worker that ran a task set a thread-local value, destroyed
     * when it retired (or at join, for the last ones). */
    WVT_EQ(counter, distinct);
    wv_pool_free(p);
    wv_local_destroy(&tid_local);
}

/* A replacement whose initializer fails breaks the pool (as
 * concurrent.futures' BrokenThreadPool), instead of respawning forever. */
WVT_TEST(pool_broken_by_failing_replacement)
{
    wv_pool_opts_t opts = {
        .workers = 1, .maxtasksperchild = 2, .initializer = init_worker};
    wv_pool_t *p;
    wv_future_t *f[6];

    __atomic_store_n(&inits, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&init_fail_at, 2, __ATOMIC_SEQ_CST);
    WVT_OK(wv_pool_new(&p, &opts));
    for (int i = 0; i < 6; i++)
        WVT_OK(wv_pool_apply_async(p, NULL, bump, NULL, 0, &f[i]));
    WVT_OK(wv_future_get(f[0], NULL, NULL, WV_FOREVER));
    WVT_OK(wv_future_get(f[1], NULL, NULL, WV_FOREVER));
    for (int i = 2; i < 6; i++)
        WVT_ERR(wv_future_get(f[i], NULL, NULL, WV_FOREVER), WV_EBROKEN);
    WVT_ERR(wv_pool_apply_async(p, NULL, bump, NULL, 0, NULL), WV_EBROKEN);
    WVT_OK(wv_pool_join(p, WV_FOREVER));
    for (int i = 0; i < 6; i++)
        wv_future_unref(f[i]);
    wv_pool_free(p);
}

/* ----------------------------------------------------------- elastic */

static wv_barrier_t elastic_barrier;

static int meet(wv_task_t *t, const void *arg, size_t len)
{
    int r = wv_barrier_wait(&elastic_barrier, WV_FOREVER);
    return r < 0 ? r : 0;
}

WVT_TEST(pool_elastic_grows_and_shrinks)
{
    wv_pool_opts_t opts = {
        .workers = 1, .max_workers = 4, .idle_timeout_ms = 20};
    wv_pool_t *p;
    wv_future_t *f[4];

    WVT_OK(wv_pool_new(&p, &opts));
    WVT_EQ(wv_pool_workers(p), 1);
    /* Four tasks that can only finish together: needs four workers. */
    WVT_OK(wv_barrier_init(&elastic_barrier, 4, NULL, NULL));
    for (int i = 0; i < 4; i++)
        WVT_OK(wv_pool_apply_async(p, NULL, meet, NULL, 0, &f[i]));
    for (int i = 0; i < 4; i++) {
        WVT_OK(wv_future_get(f[i], NULL, NULL, WV_FOREVER));
        wv_future_unref(f[i]);
    }
    WVT_GE(wv_pool_workers(p), 4);
    WVT_POLL(wv_pool_workers(p) == 1, 5000); /* idle ones leave */
    WVT_OK(wv_pool_apply(p, bump, NULL, 0, NULL, 0, NULL, WV_FOREVER));
    wv_pool_free(p);
}

/* ------------------------------------------------------------ races */

struct race {
    wv_pool_t *pool;
    wv_barrier_t start;
    long accepted[4];
    bool terminate;
};

static void submit_until_refused(int i, void *arg)
{
    struct race *r = arg;
    wv_barrier_wait(&r->start, WV_FOREVER);
    for (;;) {
        int err = wv_pool_apply_async(r->pool, NULL, bump, NULL, 0, NULL);
        if (err) {
            WVT_ERR(err, WV_ESHUTDOWN);
            return;
        }
        r->accepted[i]++;
    }
}

static void race_party(int i, void *arg)
{
    struct race *r = arg;
    if (i < 4) {
        submit_until_refused(i, arg);
        return;
    }
    wv_barrier_wait(&r->start, WV_FOREVER);
    WVT_POLL(__atomic_load_n(&counter, __ATOMIC_RELAXED) > 100, 5000);
    if (r->terminate)
        wv_pool_terminate(r->pool);
    else
        wv_pool_close(r->pool);
}

/* Submitters racing with close: every accepted task runs exactly once (an
 * accepted task left behind in an inbox would be lost, or hang join). */
WVT_TEST(pool_close_races_submitters)
{
    for (int round = 0; round < wvt_scale(10); round++) {
        struct race r = {.pool = make(2), .terminate = round % 2};
        WVT_OK(wv_barrier_init(&r.start, 5, NULL, NULL));
        __atomic_store_n(&counter, 0, __ATOMIC_RELAXED);
        /* Half the rounds, submitters dawdle inside their submission,
         * so that the close lands in the middle of some. */
        wv__fault_push_delay_us = round % 4 < 2 ? 100 : 0;
        wvt_run_threads(5, race_party, &r);
        wv__fault_push_delay_us = 0;
        WVT_OK(wv_pool_join(r.pool, WV_FOREVER));
        long accepted = 0;
        for (int i = 0; i < 4; i++)
            accepted += r.accepted[i];
        if (r.terminate)
            WVT_LE(counter, accepted);
        else
            WVT_EQ(counter, accepted);
        wv_pool_free(r.pool);
    }
}

/* Futures under terminate: each ends done or cancelled, none pending. */
static void submit_futures(int i, void *arg)
{
    struct race *r = arg;
    wv_future_t *f[256];
    int n = 0;

    wv_barrier_wait(&r->start, WV_FOREVER);
    while (n < 256 &&
           wv_pool_apply_async(r->pool, NULL, bump, NULL, 0, &f[n]) == 0)
        n++;
    for (int k = 0; k < n; k++) {
        WVT_OK(wv_future_wait(f[k], WV_FOREVER));
        WVT_ASSERT(wv_future_is_successful(f[k]) || wv_future_is_cancelled(f[k]));
        wv_future_unref(f[k]);
    }
}

static void terminate_party(int i, void *arg)
{
    struct race *r = arg;
    if (i < 4) {
        submit_futures(i, arg);
        return;
    }
    wv_barrier_wait(&r->start, WV_FOREVER);
    wv_pool_terminate(r->pool);
}

WVT_TEST(pool_terminate_races_submitters)
{
    for (int round = 0; round < wvt_scale(10); round++) {
        struct race r = {.pool = make(2)};
        WVT_OK(wv_barrier_init(&r.start, 5, NULL, NULL));
        wvt_run_threads(5, terminate_party, &r);
        WVT_OK(wv_pool_join(r.pool, WV_FOREVER));
        wv_pool_free(r.pool);
    }
}

/* Many tasks, many submitters, stealing: counts must be exact. */
static void stress_submit(int i, void *arg)
{
    struct race *r = arg;
    long n = wvt_scale(20000);
    static int in[1000];
    for (long k = 0; k < n; k++)
        WVT_OK(wv_pool_apply_async(r->pool, NULL, bump, NULL, 0, NULL));
    WVT_OK(wv_pool_map(r->pool, NULL, bump, in, 1000, sizeof *in, NULL, 0, NULL));
}

WVT_TEST(pool_stress_many_submitters)
{
    struct race r = {.pool = make(4)};
    __atomic_store_n(&counter, 0, __ATOMIC_RELAXED);
    wvt_run_threads(MAX_INBOX + 4, stress_submit, &r); /* past the inboxes */
    wv_pool_close(r.pool);
    WVT_OK(wv_pool_join(r.pool, WV_FOREVER));
    WVT_EQ(counter, (MAX_INBOX + 4) * (wvt_scale(20000) + 1000));
    wv_pool_free(r.pool);
}

/* ------------------------------------------------------------ faults */

static void noop_result(const void *result, size_t len, void *arg)
{
}

static void count_error(int err, void *arg)
{
    if (err != WV_ENOMEM)
        WVT_FAIL("unexpected error %s", wv_err_name(err));
}

/* One pass of every call with the n-th allocation failing: each call
 * either works or says WV_ENOMEM, and nothing leaks or hangs. */
static void fault_pass(long n)
{
    static int in[300], out[300];
    char big[100] = {0};
    wv_pool_t *p;
    wv_future_t *f = NULL;
    wv_imap_t *it;
    wv_task_opts_t o = {.callback = noop_result,
                        .error_callback = count_error,
                        .deadline = wv_deadline_in(60000)};
    int err;

    wvt_alloc_fail_at(n);
    wv_pool_opts_t opts = {.workers = 2};
    if ((err = wv_pool_new(&p, &opts))) {
        WVT_ERR(err, WV_ENOMEM);
        return;
    }
    err = wv_pool_apply_async(p, &o, reverse, big, sizeof big, &f);
    if (err)
        WVT_ERR(err, WV_ENOMEM);
    else
        wv_future_wait(f, WV_FOREVER);
    wv_future_unref(f);
    err = wv_pool_map(p, NULL, square, in, 300, sizeof *in, out, sizeof *out,
                      NULL);
    if (err)
        WVT_ERR(err, WV_ENOMEM);
    err = wv_pool_imap(p, NULL, square, in, 300, sizeof *in, sizeof *out, &it);
    if (err) {
        WVT_ERR(err, WV_ENOMEM);
    } else {
        while ((err = wv_imap_next(it, NULL, NULL, WV_FOREVER)) != WV_EOF)
            if (err)
                WVT_ERR(err, WV_ENOMEM);
        wv_imap_free(it);
    }
    wv_pool_free(p);
}

WVT_TEST_TIMEOUT(pool_failed_allocations, 120)
{
    wvt_alloc_install();
    long live = wvt_alloc_live();
    long before = wvt_alloc_count();
    fault_pass(0);
    long total = wvt_alloc_count() - before;
    WVT_EQ(wvt_alloc_live(), live);
    for (long n = 1; n <= total + 5; n++) {
        fault_pass(n);
        wvt_alloc_fail_at(0);
        WVT_EQ(wvt_alloc_live(), live);
    }
    wvt_alloc_uninstall();
}

/* ------------------------------------------------ nested, EINTR */

static wv_pool_t *tree_pool;

static int tree(wv_task_t *t, const void *arg, size_t len)
{
    int depth = *(const int *)arg;
    __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    if (depth == 0)
        return 0;
    depth--;
    for (int i = 0; i < 2; i++) {
        int err = wv_pool_apply_async(tree_pool, NULL, tree, &depth,
                                      sizeof depth, NULL);
        if (err)
            WVT_FAIL("nested submission: %s", wv_err_name(err));
    }
    return 0;
}

/* Tasks submitting tasks (from worker threads, through their inboxes). */
WVT_TEST(pool_tasks_submit_tasks)
{
    int depth = 12;
    tree_pool = make(3);
    __atomic_store_n(&counter, 0, __ATOMIC_RELAXED);
    WVT_OK(wv_pool_apply_async(tree_pool, NULL, tree, &depth, sizeof depth, NULL));
    WVT_POLL(__atomic_load_n(&counter, __ATOMIC_RELAXED) == (1 << 13) - 1,
             10000);
    wv_pool_close(tree_pool);
    WVT_OK(wv_pool_join(tree_pool, WV_FOREVER));
    WVT_EQ(counter, (1 << 13) - 1);
    wv_pool_free(tree_pool);
}

/* Every futex wait returning early (as on a signal) changes nothing. */
WVT_TEST(pool_spurious_wakeups)
{
    wv_pool_t *p = make(2);
    static int in[20000], out[20000];
    wv_imap_t *it;
    int err;

    for (int round = 0; round < 20; round++) {
        wv__fault_futex_eintr(1000);
        for (int i = 0; i < 20000; i++)
            in[i] = i % 1000;
        WVT_OK(wv_pool_map(p, NULL, square, in, 20000, sizeof *in, out, sizeof *out, NULL));
        for (int i = 0; i < 20000; i++)
            WVT_EQ(out[i], in[i] * in[i]);
        WVT_OK(wv_pool_imap(p, NULL, square, in, 2000, sizeof *in, sizeof *out, &it));
        long got = 0;
        while ((err = wv_imap_next(it, NULL, NULL, WV_FOREVER)) == 0)
            got++;
        WVT_ERR(err, WV_EOF);
        WVT_EQ(got, 2000);
        wv_imap_free(it);
        /* let both workers fall asleep, to be woken, EINTR and all */
        WVT_POLL(__atomic_load_n(&p->nsleep, __ATOMIC_SEQ_CST) == 2, 5000);
    }
    wv__fault_futex_eintr(0);
    wv_pool_free(p);
}

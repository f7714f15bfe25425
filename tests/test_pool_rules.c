/*
 * tests/test_pool_rules.c - the pool's argument rules: deadlines as
 * weave/core.h defines them (WV_FOREVER = none, WV_NOWAIT = WV_EAGAIN at
 * once with nothing submitted, any other negative = WV_EINVAL), and
 * map/imap sizes whose arrays cannot exist.
 *
 * "Nothing ran" is checked after close + join: every task the pool
 * accepted has run or failed by then, so a counter still at 0 means none
 * was accepted.
 */
#include "pool/internal.h"
#include "runner.h"

#include <string.h>

static long ran;

static int count(wv_task_t *t, const void *arg, size_t len)
{
    __atomic_add_fetch(&ran, 1, __ATOMIC_RELAXED);
    return wv_task_return(t, "x", 1);
}

static long errors_seen;

static void on_any(const void *result, size_t len, void *arg)
{
    __atomic_add_fetch(&errors_seen, 1, __ATOMIC_RELAXED);
}

static void on_error(int err, void *arg)
{
    __atomic_add_fetch(&errors_seen, 1, __ATOMIC_RELAXED);
}

static wv_pool_t *make(wv_pool_kind_t kind)
{
    wv_pool_opts_t opts = {.kind = kind, .workers = 2, .name = "rules"};
    wv_pool_t *p;
    WVT_OK(wv_pool_new(&p, &opts));
    return p;
}

/* Closes, joins and frees p; the tasks that ran, and the callbacks. */
static void finish(wv_pool_t *p, long want_ran, long want_cbs)
{
    wv_pool_close(p);
    WVT_OK(wv_pool_join(p, WV_FOREVER));
    wv_pool_free(p);
    WVT_EQ(__atomic_load_n(&ran, __ATOMIC_RELAXED), want_ran);
    WVT_EQ(__atomic_load_n(&errors_seen, __ATOMIC_RELAXED), want_cbs);
}

/* Every submitting call refuses opts with deadline `d`, with code `err`,
 * and submits nothing. */
static void refused_everywhere(wv_pool_t *p, int64_t d, int err)
{
    static int in[64], out[64];
    wv_task_opts_t o = WV_TASK_OPTS_INIT;
    o.deadline = d;
    o.callback = on_any;
    o.error_callback = on_error;
    wv_future_t *f = (wv_future_t *)&o; /* must stay untouched */
    wv_imap_t *it = (wv_imap_t *)&o;
    size_t failed = 77;

    for (int i = 0; i < 64; i++)
        out[i] = -1;
    WVT_ERR(wv_pool_apply(p, count, NULL, 0, NULL, 0, NULL, d), err);
    WVT_ERR(wv_pool_apply_async(p, &o, count, NULL, 0, &f), err);
    WVT_ASSERT(f == (wv_future_t *)&o);
    WVT_ERR(wv_pool_apply_async(p, &o, count, NULL, 0, NULL), err);
    WVT_ERR(wv_pool_map(p, &o, count, in, 64, sizeof *in, out, sizeof *out,
                        &failed),
            err);
    WVT_EQ(failed, 77);
    WVT_ERR(wv_pool_map_async(p, &o, count, in, 64, sizeof *in, out,
                              sizeof *out, &f),
            err);
    WVT_ASSERT(f == (wv_future_t *)&o);
    WVT_ERR(wv_pool_imap(p, &o, count, in, 64, sizeof *in, 4, &it), err);
    WVT_ERR(wv_pool_imap_unordered(p, &o, count, in, 64, sizeof *in, 4, &it),
            err);
    WVT_ASSERT(it == (wv_imap_t *)&o);
    for (int i = 0; i < 64; i++)
        WVT_EQ(out[i], -1);
}

WVT_TEST(pool_rules_nowait_is_eagain_and_submits_nothing)
{
    wv_pool_t *p = make(WV_POOL_THREADS);

    ran = errors_seen = 0;
    refused_everywhere(p, WV_NOWAIT, WV_EAGAIN);
    finish(p, 0, 0);
}

WVT_TEST(pool_rules_negative_deadline_is_einval)
{
    wv_pool_t *p = make(WV_POOL_THREADS);

    ran = errors_seen = 0;
    refused_everywhere(p, -5, WV_EINVAL);
    refused_everywhere(p, INT64_MIN, WV_EINVAL);
    finish(p, 0, 0);
}

WVT_TEST(pool_rules_process_pool_same_rules)
{
    wv_pool_t *p = make(WV_POOL_PROCESSES);

    ran = errors_seen = 0;
    refused_everywhere(p, WV_NOWAIT, WV_EAGAIN);
    refused_everywhere(p, -5, WV_EINVAL);
    finish(p, 0, 0);
}

/* WV_TASK_OPTS_INIT and NULL are "no deadline"; WV_FOREVER waits. */
WVT_TEST(pool_rules_forever_and_null_run)
{
    wv_pool_t *p = make(WV_POOL_THREADS);
    static int in[10], out[10];
    wv_task_opts_t o = WV_TASK_OPTS_INIT;
    wv_future_t *f;
    wv_imap_t *it;

    ran = errors_seen = 0;
    WVT_EQ(o.deadline, WV_FOREVER);
    WVT_OK(wv_pool_apply(p, count, NULL, 0, NULL, 0, NULL, WV_FOREVER));
    WVT_OK(wv_pool_apply_async(p, &o, count, NULL, 0, &f));
    WVT_OK(wv_future_wait(f, WV_FOREVER));
    WVT_ASSERT(wv_future_is_successful(f));
    wv_future_unref(f);
    WVT_OK(wv_pool_apply_async(p, NULL, count, NULL, 0, NULL));
    WVT_OK(
        wv_pool_map(p, &o, count, in, 10, sizeof *in, out, sizeof *out, NULL));
    WVT_OK(wv_pool_map(p, NULL, count, in, 10, sizeof *in, out, sizeof *out,
                       NULL));
    WVT_OK(wv_pool_imap(p, &o, count, in, 10, sizeof *in, 1, &it));
    int err;
    while ((err = wv_imap_next(it, NULL, NULL, WV_FOREVER)) == 0)
        ;
    WVT_ERR(err, WV_EOF);
    wv_imap_free(it);
    finish(p, 3 + 10 + 10 + 10, 0);
}

/* A deadline already past is no error: the task fails with WV_ETIMEDOUT. */
WVT_TEST(pool_rules_past_deadline_times_out)
{
    wv_pool_t *p = make(WV_POOL_THREADS);
    wv_task_opts_t o = WV_TASK_OPTS_INIT;
    wv_future_t *f;

    ran = errors_seen = 0;
    o.deadline = 1;
    WVT_OK(wv_pool_apply_async(p, &o, count, NULL, 0, &f));
    WVT_OK(wv_future_wait(f, WV_FOREVER));
    WVT_ERR(wv_future_error(f), WV_ETIMEDOUT);
    wv_future_unref(f);
    WVT_ERR(wv_pool_apply(p, count, NULL, 0, NULL, 0, NULL, 1), WV_ETIMEDOUT);
    finish(p, 0, 0);
}

/* apply from one of the pool's own tasks runs inline: it never waits, so
 * WV_NOWAIT runs it too. */
static wv_pool_t *self;

static int apply_inside(wv_task_t *t, const void *arg, size_t len)
{
    char r = 0;
    size_t n = 0;
    int err = wv_pool_apply(self, count, NULL, 0, &r, 1, &n, WV_NOWAIT);
    if (err)
        return err;
    return n == 1 && r == 'x' ? 0 : WV_EIO;
}

WVT_TEST(pool_rules_nowait_apply_inline_runs)
{
    self = make(WV_POOL_THREADS);
    ran = errors_seen = 0;
    WVT_OK(
        wv_pool_apply(self, apply_inside, NULL, 0, NULL, 0, NULL, WV_FOREVER));
    finish(self, 1, 0);
}

/* n records of in_size or out_size bytes past SIZE_MAX: no such array. */
WVT_TEST(pool_rules_map_size_overflow)
{
    wv_pool_t *p = make(WV_POOL_THREADS);
    static int in[4], out[4];
    size_t huge = SIZE_MAX / 4 + 2;
    wv_future_t *f;
    wv_imap_t *it;

    ran = errors_seen = 0;
    WVT_ERR(wv_pool_map(p, NULL, count, in, huge, 4, out, 0, NULL), WV_EINVAL);
    WVT_ERR(wv_pool_map(p, NULL, count, in, huge, 0, out, 4, NULL), WV_EINVAL);
    WVT_ERR(wv_pool_map(p, NULL, count, in, 3, SIZE_MAX / 2, out, 4, NULL),
            WV_EINVAL);
    WVT_ERR(wv_pool_map_async(p, NULL, count, in, huge, 4, out, 0, &f),
            WV_EINVAL);
    WVT_ERR(wv_pool_map_async(p, NULL, count, in, huge, 0, out, 4, &f),
            WV_EINVAL);
    WVT_ERR(wv_pool_imap(p, NULL, count, in, huge, 4, 0, &it), WV_EINVAL);
    WVT_ERR(wv_pool_imap(p, NULL, count, in, huge, 0, 4, &it), WV_EINVAL);
    WVT_ERR(wv_pool_imap_unordered(p, NULL, count, in, 2, 1, SIZE_MAX, &it),
            WV_EINVAL);
    /* The largest that fits is accepted (n * size == SIZE_MAX would be
     * too, in principle; here simply the edge of the check). */
    WVT_OK(
        wv_pool_map(p, NULL, count, in, 4, sizeof *in, out, sizeof *out, NULL));
    finish(p, 4, 0);
}

/* ------------------------------------------------ a result's copies */

/*
 * The copies of an apply's result that allocate, counted by the
 * allocator hook: an allocation of exactly the result's (odd) size is one
 * copy of it.  A process pool's result crosses child -> channel (in the
 * child) -> future: one allocation in the parent, the future's storage.
 * A thread pool's: wv_task_return's heap copy, which the future adopts.
 * (Before: the parent copied it into a task buffer, then the future
 * copied it again: two.)
 */
#define ODD_LEN 7777

static long odd_allocs;

static void *odd_malloc(size_t n)
{
    if (n == ODD_LEN)
        __atomic_add_fetch(&odd_allocs, 1, __ATOMIC_RELAXED);
    return malloc(n);
}

static void *odd_realloc(void *q, size_t n)
{
    if (n == ODD_LEN)
        __atomic_add_fetch(&odd_allocs, 1, __ATOMIC_RELAXED);
    return realloc(q, n);
}

static void *odd_calloc(size_t k, size_t n)
{
    if (k * n == ODD_LEN)
        __atomic_add_fetch(&odd_allocs, 1, __ATOMIC_RELAXED);
    return calloc(k, n);
}

static int odd_result(wv_task_t *t, const void *arg, size_t len)
{
    static char b[ODD_LEN];
    memset(b, 'r', sizeof b);
    return wv_task_return(t, b, sizeof b);
}

static void count_copies(wv_pool_kind_t kind, long want)
{
    wv_pool_t *p = make(kind);
    wv_future_t *f;
    const void *r;
    size_t len;

    WVT_OK(wv_set_allocator(odd_malloc, odd_realloc, odd_calloc, free));
    odd_allocs = 0;
    WVT_OK(wv_pool_apply_async(p, NULL, odd_result, NULL, 0, &f));
    WVT_OK(wv_future_get(f, &r, &len, WV_FOREVER));
    WVT_EQ(len, ODD_LEN);
    WVT_ASSERT(((const char *)r)[0] == 'r' &&
               ((const char *)r)[ODD_LEN - 1] == 'r');
    WVT_EQ(__atomic_load_n(&odd_allocs, __ATOMIC_RELAXED), want);
    wv_future_unref(f);
    wv_pool_free(p);
    WVT_OK(wv_set_allocator(NULL, NULL, NULL, NULL));
}

WVT_TEST(pool_rules_process_result_one_copy_in_parent)
{
    count_copies(WV_POOL_PROCESSES, 1);
}

WVT_TEST(pool_rules_thread_result_adopted_by_future)
{
    count_copies(WV_POOL_THREADS, 1);
}

/*
 * In the child, the result goes straight into the channel: one that
 * outgrows the window while fn runs must leave fn's argument readable
 * (it lies in the old mapping), and a second wv_task_return replaces the
 * first.
 */
static int grow_twice(wv_task_t *t, const void *arg, size_t len)
{
    size_t big = 5u << 20; /* past the first window (2 MiB) */
    char *b = malloc(2 * big);
    if (!b)
        return WV_ENOMEM;
    memset(b, 'a', big);
    int rc = wv_task_return(t, b, big);
    /* The argument, read after the growth. */
    for (size_t i = 0; rc == 0 && i < len; i++)
        if (((const unsigned char *)arg)[i] != (unsigned char)i)
            rc = WV_EIO;
    memset(b, 'b', 2 * big);
    if (rc == 0)
        rc = wv_task_return(t, b, 2 * big);
    for (size_t i = 0; rc == 0 && i < len; i++)
        if (((const unsigned char *)arg)[i] != (unsigned char)i)
            rc = WV_EIO;
    free(b);
    return rc;
}

WVT_TEST(pool_rules_process_result_grows_window_during_task)
{
    wv_pool_t *p = make(WV_POOL_PROCESSES);
    static unsigned char arg[100000];
    wv_future_t *f;
    const void *r;
    size_t len;

    for (size_t i = 0; i < sizeof arg; i++)
        arg[i] = (unsigned char)i;
    for (int round = 0; round < 2; round++) {
        WVT_OK(wv_pool_apply_async(p, NULL, grow_twice, arg, sizeof arg, &f));
        WVT_OK(wv_future_get(f, &r, &len, WV_FOREVER));
        WVT_EQ(len, 10u << 20);
        const char *c = r;
        WVT_ASSERT(c[0] == 'b' && c[len / 2] == 'b' && c[len - 1] == 'b');
        wv_future_unref(f);
    }
    wv_pool_free(p);
}

/*
 * tests/test_future.c - futures.
 */
#include "core/internal.h"
#include "runner.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

WVT_TEST(future_result)
{
    wv_future_t *f;
    const void *data;
    size_t len;
    int value = 1234;

    WVT_OK(wv_future_new(&f));
    WVT_ASSERT(!wv_future_is_ready(f));
    WVT_ASSERT(!wv_future_is_successful(f));
    WVT_ERR(wv_future_get(f, &data, &len, WV_NOWAIT), WV_EAGAIN);
    WVT_ERR(wv_future_wait(f, wv_now() + 10), WV_ETIMEDOUT);
    WVT_ERR(wv_future_wait(f, -2), WV_EINVAL);
    WVT_EQ(wv_future_error(f), 0);

    WVT_OK(wv_future_set_result(f, &value, sizeof value));
    value = 0; /* the future has its own copy */
    WVT_ASSERT(wv_future_is_ready(f));
    WVT_ASSERT(wv_future_is_successful(f));
    WVT_OK(wv_future_get(f, &data, &len, WV_NOWAIT));
    WVT_EQ(len, sizeof(int));
    WVT_EQ(*(const int *)data, 1234);
    WVT_OK(wv_future_get(f, NULL, NULL, WV_FOREVER));
    WVT_ERR(wv_future_set_result(f, &value, sizeof value), WV_EALREADY);
    WVT_ERR(wv_future_set_error(f, WV_EIO), WV_EALREADY);
    WVT_ERR(wv_future_cancel(f), WV_EALREADY);
    WVT_ERR(wv_future_set_running(f), WV_EALREADY);
    WVT_EQ(wv_future_error(f), 0);
    wv_future_unref(f);

    /* a large value (heap copy) and an empty one */
    char big[1000];
    memset(big, 'z', sizeof big);
    WVT_OK(wv_future_new(&f));
    WVT_OK(wv_future_set_result(f, big, sizeof big));
    WVT_OK(wv_future_get(f, &data, &len, WV_NOWAIT));
    WVT_EQ(len, sizeof big);
    WVT_EQ(memcmp(data, big, sizeof big), 0);
    wv_future_unref(f);
    WVT_OK(wv_future_new(&f));
    WVT_ERR(wv_future_set_result(f, NULL, 5), WV_EINVAL);
    WVT_OK(wv_future_set_result(f, NULL, 0));
    WVT_OK(wv_future_get(f, &data, &len, WV_NOWAIT));
    WVT_EQ(len, 0);
    wv_future_unref(f);
    WVT_ERR(wv_future_new(NULL), WV_EINVAL);
    wv_future_unref(NULL);
}

WVT_TEST(future_error)
{
    wv_future_t *f;
    WVT_OK(wv_future_new(&f));
    WVT_ERR(wv_future_set_error(f, 0), WV_EINVAL);
    WVT_ERR(wv_future_set_error(f, 5), WV_EINVAL);
    WVT_OK(wv_future_set_running(f));
    WVT_ASSERT(wv_future_is_running(f));
    WVT_OK(wv_future_set_error(f, WV_EIO));
    WVT_ASSERT(wv_future_is_ready(f));
    WVT_ASSERT(!wv_future_is_successful(f));
    WVT_ERR(wv_future_error(f), WV_EIO);
    WVT_ERR(wv_future_get(f, NULL, NULL, WV_FOREVER), WV_EIO);
    WVT_OK(wv_future_wait(f, WV_NOWAIT));
    wv_future_unref(f);
}

WVT_TEST(future_cancel)
{
    wv_future_t *f;
    WVT_OK(wv_future_new(&f));
    WVT_OK(wv_future_cancel(f));
    WVT_OK(wv_future_cancel(f));
    WVT_ASSERT(wv_future_is_cancelled(f));
    WVT_ASSERT(wv_future_is_ready(f));
    WVT_ERR(wv_future_get(f, NULL, NULL, WV_FOREVER), WV_ECANCELED);
    WVT_ERR(wv_future_error(f), WV_ECANCELED);
    WVT_ERR(wv_future_set_running(f), WV_ECANCELED);
    WVT_ERR(wv_future_set_result(f, "x", 1), WV_EALREADY);
    wv_future_unref(f);

    WVT_OK(wv_future_new(&f));
    WVT_OK(wv_future_set_running(f));
    WVT_ERR(wv_future_set_running(f), WV_EALREADY);
    WVT_ERR(wv_future_cancel(f), WV_EBUSY); /* running: too late */
    WVT_OK(wv_future_set_result(f, "x", 1));
    wv_future_unref(f);
}

struct cb_log {
    int order[8];
    int n;
    wv_future_t *seen;
};

static void log_cb(wv_future_t *f, void *arg)
{
    struct cb_log *log = arg;
    log->seen = f;
    log->order[log->n++] = wv_future_is_successful(f) ? 1 : 2;
}

static void log_cb_second(wv_future_t *f, void *arg)
{
    struct cb_log *log = arg;
    log->order[log->n++] = 10;
}

WVT_TEST(future_callbacks)
{
    struct cb_log log = {0};
    wv_future_t *f;
    WVT_OK(wv_future_new(&f));
    WVT_ERR(wv_future_add_done_callback(f, NULL, NULL), WV_EINVAL);
    WVT_OK(wv_future_add_done_callback(f, log_cb, &log));
    WVT_OK(wv_future_add_done_callback(f, log_cb_second, &log));
    WVT_OK(wv_future_add_done_callback(f, log_cb, &log));
    WVT_EQ(log.n, 0);
    WVT_OK(wv_future_set_result(f, "v", 1));
    WVT_EQ(log.n, 3); /* run by the completer, in order, once each */
    WVT_EQ(log.order[0], 1);
    WVT_EQ(log.order[1], 10);
    WVT_EQ(log.order[2], 1);
    WVT_ASSERT(log.seen == f);
    /* registered after completion: runs at once, in the caller */
    WVT_OK(wv_future_add_done_callback(f, log_cb_second, &log));
    WVT_EQ(log.n, 4);
    WVT_EQ(log.order[3], 10);
    wv_future_unref(f);

    /* cancellation runs them too */
    struct cb_log log2 = {0};
    WVT_OK(wv_future_new(&f));
    WVT_OK(wv_future_add_done_callback(f, log_cb, &log2));
    WVT_OK(wv_future_cancel(f));
    WVT_EQ(log2.n, 1);
    WVT_EQ(log2.order[0], 2);
    wv_future_unref(f);

    /* freed while pending: callbacks never run, nothing leaks */
    struct cb_log log3 = {0};
    WVT_OK(wv_future_new(&f));
    WVT_OK(wv_future_add_done_callback(f, log_cb, &log3));
    WVT_OK(wv_future_add_done_callback(f, log_cb, &log3));
    wv_future_unref(f);
    WVT_EQ(log3.n, 0);
}

static int callbacks_under_faults(void *p)
{
    struct cb_log log = {0};
    wv_future_t *f;
    int err = wv_future_new(&f);
    if (err)
        return err;
    /* the first registration never allocates */
    WVT_OK(wv_future_add_done_callback(f, log_cb, &log));
    err = wv_future_add_done_callback(f, log_cb_second, &log);
    char big[100] = {0};
    int err2 = wv_future_set_result(f, big, sizeof big);
    if (err2 == WV_ENOMEM) {
        /* still pending: the completer can fail it instead */
        WVT_ASSERT(!wv_future_is_ready(f));
        WVT_OK(wv_future_set_error(f, WV_ENOMEM));
    }
    WVT_EQ(log.n, err ? 1 : 2); /* a refused callback never runs */
    wv_future_unref(f);
    return err ? err : err2;
}

WVT_TEST(future_faultsim)
{
    WVT_GE(wvt_faultsim(callbacks_under_faults, NULL), 3);
}

struct fan {
    wv_future_t *f;
    int got;
};

static void fan_wait(int i, void *p)
{
    struct fan *fan = p;
    if (i == 0) {
        WVT_POLL(wv__parked_count(fan->f) == 7, 5000);
        long v = 77;
        WVT_OK(wv_future_set_result(fan->f, &v, sizeof v));
        return;
    }
    const void *data;
    WVT_OK(wv_future_get(fan->f, &data, NULL, wv_deadline_in(10000)));
    WVT_EQ(*(const long *)data, 77);
    __atomic_add_fetch(&fan->got, 1, __ATOMIC_RELAXED);
}

WVT_TEST(future_many_waiters)
{
    struct fan fan = {0};
    WVT_OK(wv_future_new(&fan.f));
    wvt_run_threads(8, fan_wait, &fan);
    WVT_EQ(fan.got, 7);
    wv_future_unref(fan.f);
}

/* Completion, cancellation and timed waits racing on many futures. */
struct race {
    wv_future_t *fs[64];
    int rounds;
    int completed, cancelled;
};

static void race_party(int i, void *p)
{
    struct race *r = p;
    for (int n = 0; n < 64; n++) {
        wv_future_t *f = r->fs[n];
        if (i == 0) {
            if (wv_future_set_running(f) == 0) {
                int v = n;
                WVT_OK(wv_future_set_result(f, &v, sizeof v));
                __atomic_add_fetch(&r->completed, 1, __ATOMIC_RELAXED);
            }
        } else if (i == 1) {
            if (wv_future_cancel(f) == 0)
                __atomic_add_fetch(&r->cancelled, 1, __ATOMIC_RELAXED);
        } else {
            const void *data;
            int err = wv_future_get(f, &data, NULL, wv_deadline_in(10000));
            if (err == 0)
                WVT_EQ(*(const int *)data, n);
            else
                WVT_ERR(err, WV_ECANCELED);
        }
    }
}

WVT_TEST(future_stress)
{
    for (int round = 0; round < wvt_scale(200); round++) {
        struct race r = {0};
        for (int n = 0; n < 64; n++)
            WVT_OK(wv_future_new(&r.fs[n]));
        wvt_run_threads(4, race_party, &r);
        WVT_EQ(r.completed + r.cancelled, 64); /* each exactly one way */
        for (int n = 0; n < 64; n++) {
            WVT_ASSERT(wv_future_is_ready(r.fs[n]));
            wv_future_unref(r.fs[n]);
        }
    }
}

static void drop_ref_cb(wv_future_t *f, void *arg)
{
    wv_future_unref(f); /* a callback may give back the last reference */
}

WVT_TEST(future_refcount)
{
    wv_future_t *f;
    WVT_OK(wv_future_new(&f));
    WVT_ASSERT(wv_future_ref(f) == f);
    WVT_OK(wv_future_add_done_callback(f, drop_ref_cb, NULL));
    WVT_OK(wv_future_set_result(f, "abc", 3));
    const void *data;
    WVT_OK(wv_future_get(f, &data, NULL, WV_NOWAIT));
    WVT_EQ(memcmp(data, "abc", 3), 0);
    wv_future_unref(f); /* the last one */
}

/* An allocator that is slow for big blocks, and counts what is live. */
static long slow_live;

static void *slow_malloc(size_t n)
{
    if (n > 1000) {
        struct timespec ts = {0, 200 * 1000};
        nanosleep(&ts, NULL);
    }
    void *p = malloc(n);
    if (p)
        __atomic_add_fetch(&slow_live, 1, __ATOMIC_RELAXED);
    return p;
}

static void *slow_calloc(size_t c, size_t n)
{
    void *p = calloc(c, n);
    if (p)
        __atomic_add_fetch(&slow_live, 1, __ATOMIC_RELAXED);
    return p;
}

static void *slow_realloc(void *old, size_t n)
{
    void *p = realloc(old, n);
    if (p && !old)
        __atomic_add_fetch(&slow_live, 1, __ATOMIC_RELAXED);
    return p;
}

static void slow_free(void *p)
{
    if (p)
        __atomic_sub_fetch(&slow_live, 1, __ATOMIC_RELAXED);
    free(p);
}

struct setter_race {
    wv_future_t *f;
    int arrived; /* a spinning start gate: both go at the same instant */
    int won;
};

static void race_set(int i, void *p)
{
    struct setter_race *r = p;
    char big[4000];
    memset(big, 'a' + i, sizeof big);
    __atomic_add_fetch(&r->arrived, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(&r->arrived, __ATOMIC_ACQUIRE) < 2)
        wv__cpu_relax();
    int err = wv_future_set_result(r->f, big, sizeof big);
    if (err == 0)
        __atomic_add_fetch(&r->won, 1, __ATOMIC_RELAXED);
    else
        WVT_ERR(err, WV_EALREADY);
}

WVT_TEST(future_set_result_race)
{
    /* Two completers with heap-sized values race; the allocation of the
     * copy (made before the claim) is slow, so both are past the early
     * "already done?" check: one wins, and the loser's copy is freed. */
    WVT_OK(wv_set_allocator(slow_malloc, slow_realloc, slow_calloc, slow_free));
    for (int round = 0; round < wvt_scale(200); round++) {
        struct setter_race r = {0};
        WVT_OK(wv_future_new(&r.f));
        wvt_run_threads(2, race_set, &r);
        WVT_EQ(r.won, 1);
        wv_future_unref(r.f);
        WVT_EQ(__atomic_load_n(&slow_live, __ATOMIC_RELAXED), 0);
    }
    WVT_OK(wv_set_allocator(NULL, NULL, NULL, NULL));
}

#define CB_ROUNDS 50000

struct cb_race {
    wv_future_t *f[CB_ROUNDS];
    int arrived[CB_ROUNDS];
    int runs[CB_ROUNDS][2]; /* per callback: how many times it ran */
    int rounds;
};

static void count_cb(wv_future_t *f, void *arg)
{
    int *n = arg;
    (void)f;
    __atomic_add_fetch(n, 1, __ATOMIC_RELAXED);
}

static void cb_race_party(int i, void *p)
{
    struct cb_race *r = p;
    for (int k = 0; k < r->rounds; k++) {
        /* both sides start round k together */
        __atomic_add_fetch(&r->arrived[k], 1, __ATOMIC_ACQ_REL);
        for (int spin = 0;
             __atomic_load_n(&r->arrived[k], __ATOMIC_ACQUIRE) < 2; spin++)
            if (spin > 1000)
                sched_yield();
        if (i == 0) {
            long v = k;
            WVT_OK(wv_future_set_result(r->f[k], &v, sizeof v));
        } else {
            /* The first registration is inline, the second allocates: the
             * completer may publish before, between or after them. */
            for (int c = 0; c < 2; c++)
                WVT_OK(wv_future_add_done_callback(r->f[k], count_cb,
                                                   &r->runs[k][c]));
        }
    }
}

WVT_TEST(future_callbacks_race_completion)
{
    /* A completer that sees no callback takes no lock; an adder racing it
     * must then run the callbacks itself: each exactly once. */
    struct cb_race *r = calloc(1, sizeof *r);
    WVT_ASSERT(r != NULL);
    r->rounds = wvt_scale(CB_ROUNDS / 4); /* at most CB_ROUNDS */
    for (int k = 0; k < r->rounds; k++)
        WVT_OK(wv_future_new(&r->f[k]));
    wvt_run_threads(2, cb_race_party, r);
    for (int k = 0; k < r->rounds; k++) {
        WVT_EQ(r->runs[k][0], 1);
        WVT_EQ(r->runs[k][1], 1);
        wv_future_unref(r->f[k]);
    }
    free(r);
}

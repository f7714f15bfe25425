/*
 * tests/test_once.c - wv_once.
 */
#include "core/internal.h"
#include "runner.h"

struct init {
    wv_once_t once;
    int runs;
    int fail_first; /* fail this many runs */
    wv_event_t entered, proceed;
    bool block;
};

static int init_fn(void *p)
{
    struct init *in = p;
    int run = __atomic_add_fetch(&in->runs, 1, __ATOMIC_RELAXED);
    if (in->block) {
        wv_event_set(&in->entered);
        WVT_OK(wv_event_wait(&in->proceed, wv_deadline_in(10000)));
    }
    return run <= in->fail_first ? WV_EIO : 0;
}

static void call_once(int i, void *p)
{
    struct init *in = p;
    WVT_OK(wv_once(&in->once, init_fn, in, wv_deadline_in(10000)));
    WVT_ASSERT(wv_once_is_done(&in->once));
}

WVT_TEST(once_runs_once)
{
    struct init in = {.once = WV_ONCE_INIT};
    WVT_ASSERT(!wv_once_is_done(&in.once));
    wvt_run_threads(8, call_once, &in);
    WVT_EQ(in.runs, 1);
    WVT_OK(wv_once(&in.once, init_fn, &in, WV_NOWAIT));
    WVT_OK(wv_once(&in.once, NULL, NULL, WV_NOWAIT)); /* done: fn unused */
    WVT_EQ(in.runs, 1);
    wv_once_t fresh = WV_ONCE_INIT;
    WVT_ERR(wv_once(&fresh, NULL, NULL, WV_FOREVER), WV_EINVAL);
}

WVT_TEST(once_failure_retries)
{
    struct init in = {.once = WV_ONCE_INIT, .fail_first = 2};
    WVT_ERR(wv_once(&in.once, init_fn, &in, WV_FOREVER), WV_EIO);
    WVT_ASSERT(!wv_once_is_done(&in.once));
    WVT_ERR(wv_once(&in.once, init_fn, &in, WV_FOREVER), WV_EIO);
    WVT_OK(wv_once(&in.once, init_fn, &in, WV_FOREVER));
    WVT_OK(wv_once(&in.once, init_fn, &in, WV_FOREVER));
    WVT_EQ(in.runs, 3);
    WVT_ASSERT(wv_once_is_done(&in.once));
}

static void run_blocking(void *p)
{
    struct init *in = p;
    int err = wv_once(&in->once, init_fn, in, WV_FOREVER);
    WVT_ASSERT(err == 0 || err == WV_EIO);
}

WVT_TEST(once_waiters_deadline)
{
    struct init in = {.once = WV_ONCE_INIT, .block = true};
    wvt_thread_t *t = wvt_spawn(run_blocking, &in);
    WVT_OK(wv_event_wait(&in.entered, wv_deadline_in(5000)));
    /* the initializer is running elsewhere */
    WVT_ERR(wv_once(&in.once, init_fn, &in, WV_NOWAIT), WV_EAGAIN);
    int64_t deadline = wv_now() + 20;
    WVT_ERR(wv_once(&in.once, init_fn, &in, deadline), WV_ETIMEDOUT);
    WVT_GE(wv_now(), deadline);
    WVT_ERR(wv_once(&in.once, init_fn, &in, -2), WV_EINVAL);
    wv_event_set(&in.proceed);
    wvt_join(t);
    WVT_OK(wv_once(&in.once, init_fn, &in, WV_NOWAIT));
    WVT_EQ(in.runs, 1);
}

struct handover {
    struct init in;
    int result;
};

static void waiter_takes_over(void *p)
{
    struct handover *h = p;
    h->result = wv_once(&h->in.once, init_fn, &h->in, wv_deadline_in(10000));
}

WVT_TEST(once_failure_hands_over)
{
    /* The first runner fails while another caller waits: the waiter wakes
     * and runs the initializer itself. */
    struct handover h = {
        .in = {.once = WV_ONCE_INIT, .fail_first = 1, .block = true}};
    wvt_thread_t *first = wvt_spawn(run_blocking, &h.in);
    WVT_OK(wv_event_wait(&h.in.entered, wv_deadline_in(5000)));
    wv_event_clear(&h.in.entered);
    wvt_thread_t *second = wvt_spawn(waiter_takes_over, &h);
    WVT_POLL(wv__parked_count(&h.in.once) == 1, 5000);
    wv_event_set(&h.in.proceed); /* the first run fails now */
    wvt_join(first);
    wvt_join(second);
    WVT_OK(h.result);
    WVT_EQ(h.in.runs, 2);
    WVT_ASSERT(wv_once_is_done(&h.in.once));
}

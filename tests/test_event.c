/*
 * tests/test_event.c - threading.Event.
 */
#include "core/internal.h"
#include "runner.h"

WVT_TEST(event_basic)
{
    wv_event_t e;
    wv_event_init(&e);
    WVT_ASSERT(!wv_event_is_set(&e));
    WVT_ERR(wv_event_wait(&e, WV_NOWAIT), WV_EAGAIN);
    int64_t deadline = wv_now() + 20;
    WVT_ERR(wv_event_wait(&e, deadline), WV_ETIMEDOUT);
    WVT_GE(wv_now(), deadline);
    WVT_ERR(wv_event_wait(&e, -4), WV_EINVAL);
    WVT_EQ(wv_event_set(&e), 0);
    WVT_ASSERT(wv_event_is_set(&e));
    WVT_OK(wv_event_wait(&e, WV_NOWAIT));
    WVT_OK(wv_event_wait(&e, -4)); /* does not wait: deadline unused */
    WVT_EQ(wv_event_set(&e), 0);   /* idempotent */
    wv_event_clear(&e);
    WVT_ASSERT(!wv_event_is_set(&e));
    WVT_EQ(e._state, 0);
    wv_event_destroy(&e);
}

struct crowd {
    wv_event_t e;
    int passed;
};

static void wait_set(void *p)
{
    struct crowd *c = p;
    WVT_OK(wv_event_wait(&c->e, wv_deadline_in(10000)));
    __atomic_add_fetch(&c->passed, 1, __ATOMIC_RELAXED);
}

WVT_TEST(event_wakes_all)
{
    struct crowd c = {WV_EVENT_INIT, 0};
    wvt_thread_t *ts[8];
    for (int i = 0; i < 8; i++)
        ts[i] = wvt_spawn(wait_set, &c);
    WVT_POLL(wv__parked_count(&c.e) == 8, 5000);
    WVT_EQ(wv_event_set(&c.e), 8);
    for (int i = 0; i < 8; i++)
        wvt_join(ts[i]);
    WVT_EQ(c.passed, 8);
}

WVT_TEST(event_pulse_is_seen)
{
    /* set() then clear() before the waiters run: each still returns 0,
     * as Python's wait() returns True for a flag set during the wait. */
    struct crowd c = {WV_EVENT_INIT, 0};
    wvt_thread_t *ts[4];
    for (int i = 0; i < 4; i++)
        ts[i] = wvt_spawn(wait_set, &c);
    WVT_POLL(wv__parked_count(&c.e) == 4, 5000);
    WVT_EQ(wv_event_set(&c.e), 4);
    wv_event_clear(&c.e);
    for (int i = 0; i < 4; i++)
        wvt_join(ts[i]);
    WVT_EQ(c.passed, 4);
    WVT_ASSERT(!wv_event_is_set(&c.e));
}

struct flip {
    wv_event_t e;
    int stop;
    long waits, sets;
};

static void flipper(int i, void *p)
{
    struct flip *f = p;
    if (i == 0) {
        while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE)) {
            wv_event_set(&f->e);
            wv_event_clear(&f->e);
            __atomic_add_fetch(&f->sets, 1, __ATOMIC_RELAXED);
        }
        wv_event_set(&f->e); /* release the last waiters */
        return;
    }
    for (long n = 0; n < wvt_scale(20000); n++) {
        int err = wv_event_wait(&f->e, wv_now() + 1);
        WVT_ASSERT(err == 0 || err == WV_ETIMEDOUT);
        __atomic_add_fetch(&f->waits, 1, __ATOMIC_RELAXED);
    }
}

static void flip_waiters(int i, void *p)
{
    flipper(i + 1, p);
}

static void setter_main(void *p)
{
    flipper(0, p);
}

WVT_TEST(event_stress)
{
    /* Set/clear pulses racing waiters with 1 ms deadlines: no waiter may
     * hang (a lost wake-up would show as a runner time-out), none may
     * fail with anything but a time-out, and the WAITERS bit ends clear. */
    struct flip f = {WV_EVENT_INIT, 0, 0, 0};
    wvt_thread_t *setter = wvt_spawn(setter_main, &f);
    wvt_run_threads(4, flip_waiters, &f);
    __atomic_store_n(&f.stop, 1, __ATOMIC_RELEASE);
    wvt_join(setter);
    WVT_EQ(f.waits, 4 * wvt_scale(20000));
    WVT_GT(f.sets, 0);
    WVT_EQ(wv__parked_count(&f.e), 0);
    WVT_EQ(f.e._state, 1); /* SET, and no stale WAITERS */
}

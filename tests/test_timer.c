/*
 * tests/test_timer.c - threading.Timer.
 */
#include "core/internal.h"
#include "runner.h"

struct fired {
    int calls;
    int64_t at;
    wv_timer_t *self;
};

static void on_fire(void *p)
{
    struct fired *f = p;
    f->at = wv_now();
    __atomic_add_fetch(&f->calls, 1, __ATOMIC_RELEASE);
}

WVT_TEST(timer_fires_after_delay)
{
    struct fired f = {0};
    wv_timer_t *t;
    int64_t t0 = wv_now();
    WVT_OK(wv_timer_start(&t, 20, on_fire, &f));
    WVT_OK(wv_timer_join(t, wv_deadline_in(10000)));
    WVT_EQ(f.calls, 1);
    WVT_GE(f.at, t0 + 20);
    WVT_ERR(wv_timer_cancel(t), WV_EALREADY);
    wv_timer_free(t);
    WVT_EQ(f.calls, 1);

    WVT_ERR(wv_timer_start(&t, -1, on_fire, &f), WV_EINVAL);
    WVT_ERR(wv_timer_start(&t, 10, NULL, &f), WV_EINVAL);
    WVT_ERR(wv_timer_start(NULL, 10, on_fire, &f), WV_EINVAL);
}

WVT_TEST(timer_cancel)
{
    struct fired f = {0};
    wv_timer_t *t;
    WVT_OK(wv_timer_start(&t, 60000, on_fire, &f));
    WVT_OK(wv_timer_cancel(t));
    WVT_OK(wv_timer_cancel(t)); /* again: still cancelled */
    /* A cancelled timer's thread ends without waiting out its delay. */
    WVT_OK(wv_timer_join(t, wv_deadline_in(10000)));
    WVT_EQ(f.calls, 0);
    wv_timer_free(t);
}

WVT_TEST(timer_free_cancels)
{
    struct fired f = {0};
    wv_timer_t *t;
    WVT_OK(wv_timer_start(&t, 60000, on_fire, &f));
    wv_timer_free(t); /* returns promptly (the case has a time limit) */
    WVT_EQ(f.calls, 0);
    wv_timer_free(NULL);
}

static void free_myself(void *p)
{
    struct fired *f = p;
    wv_timer_t *self;
    while (!(self = __atomic_load_n(&f->self, __ATOMIC_ACQUIRE)))
        wvt_pause();
    wv_timer_free(self);
    __atomic_add_fetch(&f->calls, 1, __ATOMIC_RELEASE);
}

WVT_TEST(timer_free_from_callback)
{
    struct fired f = {0};
    wv_timer_t *t;
    WVT_OK(wv_timer_start(&t, 1, free_myself, &f));
    __atomic_store_n(&f.self, t, __ATOMIC_RELEASE);
    WVT_POLL(__atomic_load_n(&f.calls, __ATOMIC_ACQUIRE) == 1, 5000);
    /* the timer's thread frees the timer and exits; the runner checks that
     * no thread and no memory is left behind */
}

WVT_TEST(timer_cancel_races_fire)
{
    /* Cancel right around the expiry: the function runs iff cancel
     * reported WV_EALREADY, never both, never neither. */
    for (int i = 0; i < wvt_scale(200); i++) {
        struct fired f = {0};
        wv_timer_t *t;
        WVT_OK(wv_timer_start(&t, 1, on_fire, &f));
        if (i % 2)
            wvt_pause();
        int err = wv_timer_cancel(t);
        WVT_OK(wv_timer_join(t, wv_deadline_in(10000)));
        if (err == 0)
            WVT_EQ(f.calls, 0);
        else {
            WVT_ERR(err, WV_EALREADY);
            WVT_EQ(f.calls, 1);
        }
        wv_timer_free(t);
    }
}

static void never_fires(void *p)
{
    WVT_FAIL("a timer whose start failed must never fire");
}

static int start_and_cancel(void *p)
{
    wv_timer_t *t;
    int err = wv_timer_start(&t, 60000, p ? never_fires : on_fire, NULL);
    if (err)
        return err;
    WVT_OK(wv_timer_cancel(t));
    wv_timer_free(t);
    return 0;
}

WVT_TEST(timer_faultsim)
{
    /* The timer and its thread are two allocations: each may fail, and
     * then nothing is left running or allocated. */
    WVT_GE(wvt_faultsim(start_and_cancel, (void *)1), 2);
}

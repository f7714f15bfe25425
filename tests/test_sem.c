/*
 * tests/test_sem.c - threading.Semaphore and BoundedSemaphore.
 */
#include "core/internal.h"
#include "runner.h"

static wv_sem_t static_sem = WV_SEM_INIT(2);
static wv_sem_t static_bounded = WV_BOUNDED_SEM_INIT(1);

WVT_TEST(sem_basic)
{
    wv_sem_t s;
    WVT_OK(wv_sem_init(&s, 2));
    WVT_EQ(wv_sem_value(&s), 2);
    WVT_OK(wv_sem_acquire(&s, WV_FOREVER));
    WVT_OK(wv_sem_acquire(&s, WV_NOWAIT));
    WVT_EQ(wv_sem_value(&s), 0);
    WVT_ERR(wv_sem_acquire(&s, WV_NOWAIT), WV_EAGAIN);
    int64_t deadline = wv_now() + 20;
    WVT_ERR(wv_sem_acquire(&s, deadline), WV_ETIMEDOUT);
    WVT_GE(wv_now(), deadline);
    WVT_ERR(wv_sem_acquire(&s, -9), WV_EINVAL);
    WVT_OK(wv_sem_release(&s, 5)); /* unbounded: may exceed the start */
    WVT_EQ(wv_sem_value(&s), 5);
    WVT_ERR(wv_sem_release(&s, 0), WV_EINVAL);
    WVT_EQ(s._state & 1, 0); /* no stale WAITERS bit */
    wv_sem_destroy(&s);

    WVT_ERR(wv_sem_init(&s, WV_SEM_VALUE_MAX + 1u), WV_EINVAL);
    WVT_OK(wv_sem_init(&s, WV_SEM_VALUE_MAX));
    WVT_ERR(wv_sem_release(&s, 1), WV_EOVERFLOW);
    WVT_EQ(wv_sem_value(&s), WV_SEM_VALUE_MAX);

    WVT_EQ(wv_sem_value(&static_sem), 2);
    WVT_OK(wv_sem_acquire(&static_sem, 0));
    WVT_OK(wv_sem_release(&static_sem, 1));
}

WVT_TEST(sem_bounded)
{
    wv_sem_t s;
    WVT_ERR(wv_sem_init_bounded(&s, 0), WV_EINVAL);
    WVT_OK(wv_sem_init_bounded(&s, 3));
    WVT_ERR(wv_sem_release(&s, 1), WV_EOVERFLOW); /* Python's ValueError */
    WVT_EQ(wv_sem_value(&s), 3);                  /* unchanged */
    WVT_OK(wv_sem_acquire(&s, 0));
    WVT_OK(wv_sem_acquire(&s, 0));
    WVT_ERR(wv_sem_release(&s, 3), WV_EOVERFLOW);
    WVT_EQ(wv_sem_value(&s), 1);
    WVT_OK(wv_sem_release(&s, 2));
    WVT_EQ(wv_sem_value(&s), 3);

    WVT_OK(wv_sem_acquire(&static_bounded, 0));
    WVT_OK(wv_sem_release(&static_bounded, 1));
    WVT_ERR(wv_sem_release(&static_bounded, 1), WV_EOVERFLOW);
}

struct waiters {
    wv_sem_t sem;
    int passed;
};

static void take_one(void *p)
{
    struct waiters *w = p;
    WVT_OK(wv_sem_acquire(&w->sem, WV_FOREVER));
    __atomic_add_fetch(&w->passed, 1, __ATOMIC_RELAXED);
}

WVT_TEST(sem_release_n_wakes_n)
{
    struct waiters w = {WV_SEM_INIT(0), 0};
    wvt_thread_t *ts[4];
    for (int i = 0; i < 4; i++)
        ts[i] = wvt_spawn(take_one, &w);
    WVT_POLL(wv__parked_count(&w.sem) == 4, 5000);
    WVT_OK(wv_sem_release(&w.sem, 2));
    WVT_POLL(__atomic_load_n(&w.passed, __ATOMIC_RELAXED) == 2, 5000);
    WVT_POLL(wv__parked_count(&w.sem) == 2, 5000);
    WVT_EQ(wv_sem_value(&w.sem), 0);
    WVT_OK(wv_sem_release(&w.sem, 2));
    for (int i = 0; i < 4; i++)
        wvt_join(ts[i]);
    WVT_EQ(w.passed, 4);
    WVT_EQ(w.sem._state, 0);
}

struct limit {
    wv_sem_t sem;
    int inside, max_inside;
    long iterations;
};

static void limited(int i, void *p)
{
    struct limit *l = p;
    for (long n = 0; n < l->iterations; n++) {
        int64_t deadline = n % 5 == 0 ? wv_now() + 1 : WV_FOREVER;
        int err = wv_sem_acquire(&l->sem, deadline);
        if (err) {
            WVT_ERR(err, WV_ETIMEDOUT);
            continue;
        }
        int now = __atomic_add_fetch(&l->inside, 1, __ATOMIC_RELAXED);
        int max = __atomic_load_n(&l->max_inside, __ATOMIC_RELAXED);
        while (now > max &&
               !__atomic_compare_exchange_n(&l->max_inside, &max, now, false,
                                            __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            ;
        __atomic_sub_fetch(&l->inside, 1, __ATOMIC_RELAXED);
        WVT_OK(wv_sem_release(&l->sem, 1));
    }
}

WVT_TEST(sem_stress_limit)
{
    struct limit l = {.iterations = wvt_scale(50000)};
    WVT_OK(wv_sem_init_bounded(&l.sem, 3));
    wvt_run_threads(8, limited, &l);
    WVT_LE(l.max_inside, 3);
    WVT_GE(l.max_inside, 1);
    WVT_EQ(wv_sem_value(&l.sem), 3);
    WVT_EQ(wv__parked_count(&l.sem), 0);
}

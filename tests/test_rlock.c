/*
 * tests/test_rlock.c - threading.RLock.
 */
#include "core/internal.h"
#include "runner.h"

static wv_rlock_t static_rlock = WV_RLOCK_INIT;

WVT_TEST(rlock_reentrant)
{
    wv_rlock_t r;
    wv_rlock_init(&r);
    WVT_ASSERT(!wv_rlock_is_owned(&r));
    WVT_ERR(wv_rlock_release(&r), WV_EPERM);
    for (int i = 0; i < 3; i++)
        WVT_OK(wv_rlock_acquire(&r, WV_FOREVER));
    WVT_ASSERT(wv_rlock_is_owned(&r));
    for (int i = 0; i < 3; i++)
        WVT_OK(wv_rlock_release(&r));
    WVT_ASSERT(!wv_rlock_is_owned(&r));
    WVT_ERR(wv_rlock_release(&r), WV_EPERM);
    wv_rlock_destroy(&r);

    WVT_OK(wv_rlock_acquire(&static_rlock, 0));
    WVT_OK(wv_rlock_acquire(&static_rlock, 0)); /* owner: never waits */
    WVT_OK(wv_rlock_release(&static_rlock));
    WVT_OK(wv_rlock_release(&static_rlock));
}

struct other {
    wv_rlock_t *r;
};

static void not_the_owner(void *p)
{
    wv_rlock_t *r = p;
    WVT_ASSERT(!wv_rlock_is_owned(r));
    WVT_ERR(wv_rlock_release(r), WV_EPERM);
    WVT_ERR(wv_rlock_acquire(r, WV_NOWAIT), WV_EAGAIN);
    WVT_ERR(wv_rlock_acquire(r, wv_now() + 10), WV_ETIMEDOUT);
}

WVT_TEST(rlock_owner_only)
{
    wv_rlock_t r = WV_RLOCK_INIT;
    WVT_OK(wv_rlock_acquire(&r, WV_FOREVER));
    WVT_OK(wv_rlock_acquire(&r, WV_FOREVER));
    wvt_thread_t *t = wvt_spawn(not_the_owner, &r);
    wvt_join(t);
    WVT_OK(wv_rlock_release(&r));
    WVT_OK(wv_rlock_release(&r));
}

WVT_TEST(rlock_count_overflow)
{
    wv_rlock_t r = WV_RLOCK_INIT;
    WVT_OK(wv_rlock_acquire(&r, WV_FOREVER));
    r._count = UINT32_MAX; /* as if acquired 4 billion times */
    WVT_ERR(wv_rlock_acquire(&r, WV_FOREVER), WV_EOVERFLOW);
    r._count = 1;
    WVT_OK(wv_rlock_release(&r));
}

struct rshared {
    wv_rlock_t r;
    long counter;
    long iterations;
};

static void recurse(struct rshared *s, int depth)
{
    WVT_OK(wv_rlock_acquire(&s->r, WV_FOREVER));
    if (depth)
        recurse(s, depth - 1);
    else
        s->counter++;
    WVT_OK(wv_rlock_release(&s->r));
}

static void rhammer(int i, void *p)
{
    struct rshared *s = p;
    for (long n = 0; n < s->iterations; n++)
        recurse(s, (int)(n % 4));
}

WVT_TEST(rlock_stress)
{
    struct rshared s = {.r = WV_RLOCK_INIT, .iterations = wvt_scale(50000)};
    wvt_run_threads(6, rhammer, &s);
    WVT_EQ(s.counter, 6 * s.iterations);
    WVT_ASSERT(!wv_lock_is_locked(&s.r._lock));
    WVT_EQ(s.r._owner, 0);
}

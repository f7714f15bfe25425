/*
 * tests/test_lock.c - threading.Lock.
 */
#include "runner.h"
#include "sync/internal.h"

#include <signal.h>

static wv_lock_t static_lock = WV_LOCK_INIT;

WVT_TEST(lock_basic)
{
    wv_lock_t l;
    wv_lock_init(&l);
    WVT_ASSERT(!wv_lock_is_locked(&l));
    WVT_OK(wv_lock_acquire(&l, WV_FOREVER));
    WVT_ASSERT(wv_lock_is_locked(&l));
    WVT_ERR(wv_lock_acquire(&l, WV_NOWAIT), WV_EAGAIN);
    WVT_OK(wv_lock_release(&l));
    WVT_ASSERT(!wv_lock_is_locked(&l));
    WVT_ERR(wv_lock_release(&l), WV_EPERM); /* Python's RuntimeError */
    WVT_OK(wv_lock_acquire(&l, WV_NOWAIT));
    WVT_OK(wv_lock_release(&l));
    wv_lock_destroy(&l);

    WVT_ASSERT(!wv_lock_is_locked(&static_lock));
    WVT_OK(wv_lock_acquire(&static_lock, 0));
    WVT_OK(wv_lock_release(&static_lock));
}

WVT_TEST(lock_deadline)
{
    wv_lock_t l = WV_LOCK_INIT;
    WVT_OK(wv_lock_acquire(&l, WV_FOREVER));

    int64_t deadline = wv_now() + 30;
    WVT_ERR(wv_lock_acquire(&l, deadline), WV_ETIMEDOUT);
    WVT_GE(wv_now(), deadline);
    /* a deadline in the past: times out without waiting... */
    WVT_ERR(wv_lock_acquire(&l, 1), WV_ETIMEDOUT);
    WVT_ERR(wv_lock_acquire(&l, -2), WV_EINVAL);
    WVT_ERR(wv_lock_acquire(&l, INT64_MIN), WV_EINVAL);
    WVT_OK(wv_lock_release(&l));
    /* ...but succeeds while the lock is free */
    WVT_OK(wv_lock_acquire(&l, 1));
    WVT_OK(wv_lock_release(&l));
    WVT_EQ(wv__parked_count(&l), 0);
    WVT_EQ(l._state, 0); /* no stale PARKED bit left by the time-outs */
}

struct shared {
    wv_lock_t lock;
    long counter; /* [lock], deliberately not atomic: TSan checks it */
    int inside;
    long iterations;
};

static void hammer(int i, void *p)
{
    struct shared *s = p;
    for (long n = 0; n < s->iterations; n++) {
        WVT_OK(wv_lock_acquire(&s->lock, WV_FOREVER));
        WVT_EQ(__atomic_add_fetch(&s->inside, 1, __ATOMIC_RELAXED), 1);
        s->counter++;
        __atomic_sub_fetch(&s->inside, 1, __ATOMIC_RELAXED);
        WVT_OK(wv_lock_release(&s->lock));
    }
}

WVT_TEST(lock_stress_mutual_exclusion)
{
    struct shared s = {.lock = WV_LOCK_INIT, .iterations = wvt_scale(200000)};
    wvt_run_threads(8, hammer, &s);
    WVT_EQ(s.counter, 8 * s.iterations);
    WVT_ASSERT(!wv_lock_is_locked(&s.lock));
    WVT_EQ(wv__parked_count(&s.lock), 0);
}

static void hammer_with_deadlines(int i, void *p)
{
    struct shared *s = p;
    long got = 0;
    for (long n = 0; n < s->iterations; n++) {
        int64_t deadline = (n % 3 == 0) ? 0 : wv_now() + (n % 2);
        int err = wv_lock_acquire(&s->lock, deadline);
        if (err) {
            WVT_ASSERT(err == WV_ETIMEDOUT || err == WV_EAGAIN);
            continue;
        }
        WVT_EQ(__atomic_add_fetch(&s->inside, 1, __ATOMIC_RELAXED), 1);
        s->counter++;
        got++;
        __atomic_sub_fetch(&s->inside, 1, __ATOMIC_RELAXED);
        WVT_OK(wv_lock_release(&s->lock));
    }
    WVT_GE(got, 0);
}

WVT_TEST(lock_stress_deadlines)
{
    /* Time-outs and try-locks mixed with hand-offs must never leave two
     * holders, a lost waiter or a stale state. */
    struct shared s = {.lock = WV_LOCK_INIT, .iterations = wvt_scale(50000)};
    wvt_run_threads(6, hammer_with_deadlines, &s);
    WVT_ASSERT(!wv_lock_is_locked(&s.lock));
    WVT_EQ(wv__parked_count(&s.lock), 0);
    WVT_OK(wv_lock_acquire(&s.lock, 0));
    WVT_OK(wv_lock_release(&s.lock));
}

struct cross {
    wv_lock_t lock;
    wv_event_t acquired;
};

static void acquire_and_leave(void *p)
{
    struct cross *c = p;
    WVT_OK(wv_lock_acquire(&c->lock, WV_FOREVER));
    wv_event_set(&c->acquired);
}

WVT_TEST(lock_release_by_other_thread)
{
    /* A Lock is not owned: any thread may release it (Python allows it,
     * and it is how a Lock serves as a binary semaphore). */
    struct cross c = {WV_LOCK_INIT, WV_EVENT_INIT};
    wvt_thread_t *t = wvt_spawn(acquire_and_leave, &c);
    WVT_OK(wv_event_wait(&c.acquired, wv_deadline_in(5000)));
    wvt_join(t);
    WVT_ASSERT(wv_lock_is_locked(&c.lock));
    WVT_OK(wv_lock_release(&c.lock));
    WVT_ASSERT(!wv_lock_is_locked(&c.lock));
}

struct starve {
    wv_lock_t lock;
    int stop;
    int waiter_result;
};

static void barger(void *p)
{
    struct starve *s = p;
    while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
        wv_lock_acquire(&s->lock, WV_FOREVER);
        for (int i = 0; i < 800; i++) /* hold it ~20 us */
            wv__cpu_relax();
        wv_lock_release(&s->lock); /* and take it again at once */
    }
}

WVT_TEST(lock_no_starvation)
{
    /* Two threads hold the lock almost all the time and re-take it the
     * moment they release it, so a third, parked, thread loses every race
     * (it needs tens of microseconds to wake up).  It must still get the
     * lock, through the hand-off to waiters older than 1 ms. */
    struct starve s = {.lock = WV_LOCK_INIT};
    uint64_t handoffs = __atomic_load_n(&wv__lock_handoffs, __ATOMIC_RELAXED);
    wvt_thread_t *a = wvt_spawn(barger, &s);
    wvt_thread_t *b = wvt_spawn(barger, &s);
    for (int i = 0; i < 20; i++) {
        WVT_OK(wv_lock_acquire(&s.lock, wv_deadline_in(10000)));
        WVT_OK(wv_lock_release(&s.lock));
    }
    __atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
    wvt_join(a);
    wvt_join(b);
    (void)handoffs; /* whether it took hand-offs depends on the machine */
}

static void on_signal(int sig)
{
    (void)sig;
}

struct eintr {
    wv_lock_t lock;
    int got;
};

static void wait_for_lock(void *p)
{
    struct eintr *e = p;
    WVT_OK(wv_lock_acquire(&e->lock, WV_FOREVER));
    __atomic_store_n(&e->got, 1, __ATOMIC_RELEASE);
    WVT_OK(wv_lock_release(&e->lock));
}

WVT_TEST(lock_eintr)
{
    /* Signals (no SA_RESTART) and injected EINTRs hit a parked waiter:
     * it must neither fail nor get the lock before it is released. */
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    WVT_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
    struct eintr e = {WV_LOCK_INIT, 0};
    WVT_OK(wv_lock_acquire(&e.lock, WV_FOREVER));
    wv__fault_futex_eintr(100);
    wvt_thread_t *t = wvt_spawn(wait_for_lock, &e);
    WVT_POLL(wv__parked_count(&e.lock) == 1, 5000);
    for (int i = 0; i < 100; i++)
        pthread_kill(wvt_pthread(t), SIGUSR1);
    WVT_EQ(__atomic_load_n(&e.got, __ATOMIC_ACQUIRE), 0);
    WVT_OK(wv_lock_release(&e.lock));
    wvt_join(t);
    WVT_EQ(e.got, 1);
    wv__fault_futex_eintr(0);
    signal(SIGUSR1, SIG_DFL);
}

static void timed_waiter(void *p)
{
    wv_lock_t *l = p;
    WVT_ERR(wv_lock_acquire(l, wv_now() + 20), WV_ETIMEDOUT);
}

WVT_TEST(lock_parked_bit_cleared_by_last_timeout)
{
    wv_lock_t l = WV_LOCK_INIT;
    WVT_OK(wv_lock_acquire(&l, WV_FOREVER));
    wvt_thread_t *t1 = wvt_spawn(timed_waiter, &l);
    wvt_thread_t *t2 = wvt_spawn(timed_waiter, &l);
    wvt_join(t1);
    wvt_join(t2);
    WVT_EQ(wv__parked_count(&l), 0);
    WVT_EQ(l._state, WV_LOCK_HELD); /* no stale PARKED bit */
    WVT_OK(wv_lock_release(&l));
    WVT_EQ(l._state, 0);
}

struct spurious {
    wv_lock_t lock;
    int stop;
    long eperm;
};

static void wrong_releaser(void *p)
{
    struct spurious *s = p;
    /* Releases whatever it finds: WV_EPERM when the lock is free (the
     * inline XADD then sets HELD for an instant and the slow path clears
     * it), a legal release of somebody else's hold otherwise, as Python
     * allows any thread to release a Lock. */
    while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE))
        if (wv_lock_release(&s->lock) == WV_EPERM)
            __atomic_add_fetch(&s->eperm, 1, __ATOMIC_RELAXED);
}

static void honest_worker(int i, void *p)
{
    struct spurious *s = p;
    for (long n = 0; n < wvt_scale(100000); n++) {
        int err = wv_lock_acquire(&s->lock, wv_now() + 2);
        if (err) {
            WVT_ERR(err, WV_ETIMEDOUT);
            continue;
        }
        err = wv_lock_release(&s->lock); /* the releaser may have been first */
        WVT_ASSERT(err == 0 || err == WV_EPERM);
    }
}

WVT_TEST(lock_stress_wrong_releases)
{
    /* Releases of a free lock race acquires, timed waits and parking: the
     * word must never stay corrupted and no waiter may be stranded (a
     * stranded waiter would run into its deadline, not hang, so the end
     * state is what is checked). */
    struct spurious s = {.lock = WV_LOCK_INIT};
    wvt_thread_t *releaser = wvt_spawn(wrong_releaser, &s);
    wvt_run_threads(3, honest_worker, &s);
    __atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
    wvt_join(releaser);
    WVT_GT(s.eperm, 0);
    WVT_EQ(wv__parked_count(&s.lock), 0);
    WVT_OK(wv_lock_acquire(&s.lock, WV_NOWAIT)); /* nobody holds it */
    WVT_OK(wv_lock_release(&s.lock));
    WVT_EQ(s.lock._state, 0); /* and a stale PARKED is gone with it */
}

struct handoff {
    wv_lock_t lock;
    wv_event_t checked; /* main has looked at the lock after releasing */
    int got;
};

static void old_waiter(void *p)
{
    struct handoff *h = p;
    WVT_OK(wv_lock_acquire(&h->lock, wv_deadline_in(10000)));
    __atomic_store_n(&h->got, 1, __ATOMIC_RELEASE);
    WVT_OK(wv_event_wait(&h->checked, wv_deadline_in(10000)));
    WVT_OK(wv_lock_release(&h->lock));
}

WVT_TEST(lock_handoff_to_old_waiter)
{
    /* A waiter parked for more than 1 ms is handed the lock: the release
     * leaves it held (for the waiter, who keeps it until we have looked),
     * so the releaser's own try-acquire right after fails. */
    struct handoff h = {WV_LOCK_INIT, WV_EVENT_INIT, 0};
    uint64_t before = __atomic_load_n(&wv__lock_handoffs, __ATOMIC_RELAXED);
    WVT_OK(wv_lock_acquire(&h.lock, WV_FOREVER));
    wvt_thread_t *t = wvt_spawn(old_waiter, &h);
    WVT_POLL(wv__parked_count(&h.lock) == 1, 5000);
    int64_t parked_at = wv_now();
    WVT_POLL(wv_now() - parked_at >= 3, 5000); /* older than 1 ms */
    WVT_OK(wv_lock_release(&h.lock));
    WVT_EQ(__atomic_load_n(&wv__lock_handoffs, __ATOMIC_RELAXED), before + 1);
    WVT_ERR(wv_lock_acquire(&h.lock, WV_NOWAIT), WV_EAGAIN);
    wv_event_set(&h.checked);
    wvt_join(t);
    WVT_EQ(h.got, 1);
    WVT_ASSERT(!wv_lock_is_locked(&h.lock));
}

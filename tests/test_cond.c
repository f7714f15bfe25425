/*
 * tests/test_cond.c - threading.Condition.
 */
#include "core/internal.h"
#include "runner.h"

WVT_TEST(cond_requires_lock)
{
    wv_cond_t c = WV_COND_INIT;
    wv_lock_t l = WV_LOCK_INIT;
    wv_rlock_t r = WV_RLOCK_INIT;

    WVT_ERR(wv_cond_wait(&c, &l, WV_FOREVER), WV_EPERM);
    WVT_ERR(wv_cond_wait_rlock(&c, &r, WV_FOREVER), WV_EPERM);
    WVT_EQ(wv_cond_notify(&c, 1), 0); /* nobody waits: fine */
    WVT_EQ(wv_cond_notify_all(&c), 0);
    WVT_OK(wv_lock_acquire(&l, WV_FOREVER));
    WVT_ERR(wv_cond_wait(&c, &l, WV_NOWAIT), WV_EAGAIN);
    WVT_ASSERT(wv_lock_is_locked(&l)); /* kept */
    WVT_ERR(wv_cond_wait(&c, &l, -3), WV_EINVAL);
    WVT_ERR(wv_cond_wait_for(&c, &l, NULL, NULL, WV_FOREVER), WV_EINVAL);
    WVT_OK(wv_lock_release(&l));
}

WVT_TEST(cond_timeout_keeps_lock)
{
    wv_cond_t c;
    wv_lock_t l = WV_LOCK_INIT;
    wv_cond_init(&c);
    WVT_OK(wv_lock_acquire(&l, WV_FOREVER));
    int64_t deadline = wv_now() + 25;
    WVT_ERR(wv_cond_wait(&c, &l, deadline), WV_ETIMEDOUT);
    WVT_GE(wv_now(), deadline);
    WVT_ASSERT(wv_lock_is_locked(&l));
    WVT_EQ(c._waiters, 0);
    WVT_OK(wv_lock_release(&l));
    wv_cond_destroy(&c);
}

struct box {
    wv_lock_t lock;
    wv_cond_t cond;
    int value; /* [lock] */
    int woken; /* waiters that returned */
};

static void wait_value(void *p)
{
    struct box *b = p;
    WVT_OK(wv_lock_acquire(&b->lock, WV_FOREVER));
    WVT_OK(wv_cond_wait(&b->cond, &b->lock, WV_FOREVER));
    WVT_ASSERT(wv_lock_is_locked(&b->lock));
    __atomic_add_fetch(&b->woken, 1, __ATOMIC_RELAXED);
    WVT_OK(wv_lock_release(&b->lock));
}

WVT_TEST(cond_notify_n)
{
    struct box b = {WV_LOCK_INIT, WV_COND_INIT, 0, 0};
    wvt_thread_t *ts[5];
    for (int i = 0; i < 5; i++)
        ts[i] = wvt_spawn(wait_value, &b);
    WVT_POLL(wv__parked_count(&b.cond) == 5, 5000);

    WVT_EQ(wv_cond_notify(&b.cond, 2), 2);
    WVT_POLL(__atomic_load_n(&b.woken, __ATOMIC_RELAXED) == 2, 5000);
    WVT_EQ(wv__parked_count(&b.cond), 3); /* exactly two left */
    WVT_EQ(wv_cond_notify(&b.cond, 0), 0);
    WVT_EQ(wv_cond_notify_all(&b.cond), 3);
    for (int i = 0; i < 5; i++)
        wvt_join(ts[i]);
    WVT_EQ(b.woken, 5);
    WVT_EQ(b.cond._waiters, 0);
}

static bool value_is_3(void *p)
{
    return ((struct box *)p)->value == 3;
}

static void wait_for_3(void *p)
{
    struct box *b = p;
    WVT_OK(wv_lock_acquire(&b->lock, WV_FOREVER));
    WVT_OK(wv_cond_wait_for(&b->cond, &b->lock, value_is_3, b,
                            wv_deadline_in(10000)));
    WVT_EQ(b->value, 3);
    WVT_OK(wv_lock_release(&b->lock));
}

WVT_TEST(cond_wait_for)
{
    struct box b = {WV_LOCK_INIT, WV_COND_INIT, 0, 0};
    wvt_thread_t *t = wvt_spawn(wait_for_3, &b);
    for (int v = 1; v <= 3; v++) {
        WVT_POLL(wv__parked_count(&b.cond) == 1, 5000);
        WVT_OK(wv_lock_acquire(&b.lock, WV_FOREVER));
        b.value = v;
        WVT_EQ(wv_cond_notify_all(&b.cond), 1);
        WVT_OK(wv_lock_release(&b.lock));
        if (v < 3) /* woken, predicate false: it waits again */
            WVT_POLL(wv__parked_count(&b.cond) == 1, 5000);
    }
    wvt_join(t);

    /* Predicate already true: no wait at all, even with deadline 0. */
    WVT_OK(wv_lock_acquire(&b.lock, WV_FOREVER));
    WVT_OK(wv_cond_wait_for(&b.cond, &b.lock, value_is_3, &b, WV_NOWAIT));
    b.value = 4;
    WVT_ERR(wv_cond_wait_for(&b.cond, &b.lock, value_is_3, &b, WV_NOWAIT),
            WV_EAGAIN);
    WVT_ERR(wv_cond_wait_for(&b.cond, &b.lock, value_is_3, &b, wv_now() + 10),
            WV_ETIMEDOUT);
    WVT_ASSERT(wv_lock_is_locked(&b.lock));
    WVT_OK(wv_lock_release(&b.lock));
}

struct rbox {
    wv_rlock_t r;
    wv_cond_t cond;
    int value;
};

static bool rvalue_set(void *p)
{
    return ((struct rbox *)p)->value != 0;
}

static void rlock_waiter(void *p)
{
    struct rbox *b = p;
    for (int i = 0; i < 3; i++)
        WVT_OK(wv_rlock_acquire(&b->r, WV_FOREVER));
    WVT_OK(wv_cond_wait_for_rlock(&b->cond, &b->r, rvalue_set, b, WV_FOREVER));
    /* the count was restored: three releases, no more */
    WVT_ASSERT(wv_rlock_is_owned(&b->r));
    for (int i = 0; i < 3; i++)
        WVT_OK(wv_rlock_release(&b->r));
    WVT_ERR(wv_rlock_release(&b->r), WV_EPERM);
}

WVT_TEST(cond_with_rlock)
{
    struct rbox b = {WV_RLOCK_INIT, WV_COND_INIT, 0};
    wvt_thread_t *t = wvt_spawn(rlock_waiter, &b);
    WVT_POLL(wv__parked_count(&b.cond) == 1, 5000);
    /* released entirely (count 3) while waiting: we can take it */
    WVT_OK(wv_rlock_acquire(&b.r, wv_deadline_in(5000)));
    b.value = 1;
    WVT_EQ(wv_cond_notify(&b.cond, 1), 1);
    WVT_OK(wv_rlock_release(&b.r));
    wvt_join(t);

    WVT_OK(wv_rlock_acquire(&b.r, WV_FOREVER));
    WVT_OK(wv_rlock_acquire(&b.r, WV_FOREVER));
    WVT_ERR(wv_cond_wait_rlock(&b.cond, &b.r, wv_now() + 5), WV_ETIMEDOUT);
    WVT_OK(wv_rlock_release(&b.r));
    WVT_OK(wv_rlock_release(&b.r));
    WVT_ERR(wv_rlock_release(&b.r), WV_EPERM);
}

/* A bounded buffer on one lock and two conditions, many threads. */
#define CAP 8
struct bounded {
    wv_lock_t lock;
    wv_cond_t not_full, not_empty;
    long items[CAP];
    int head, len;
    long per_producer;
    long sum, count;
};

static void producer(int i, void *p)
{
    struct bounded *b = p;
    if (i % 2) /* odd threads consume */
        return;
    for (long n = 1; n <= b->per_producer; n++) {
        WVT_OK(wv_lock_acquire(&b->lock, WV_FOREVER));
        while (b->len == CAP)
            WVT_OK(wv_cond_wait(&b->not_full, &b->lock, WV_FOREVER));
        b->items[(b->head + b->len++) % CAP] = n;
        wv_cond_notify(&b->not_empty, 1);
        WVT_OK(wv_lock_release(&b->lock));
    }
}

static void consumer(int i, void *p)
{
    struct bounded *b = p;
    if (i % 2 == 0) {
        producer(i, p);
        return;
    }
    for (long n = 0; n < b->per_producer; n++) {
        WVT_OK(wv_lock_acquire(&b->lock, WV_FOREVER));
        while (b->len == 0)
            WVT_OK(wv_cond_wait(&b->not_empty, &b->lock, WV_FOREVER));
        b->sum += b->items[b->head];
        b->head = (b->head + 1) % CAP;
        b->len--;
        b->count++;
        wv_cond_notify(&b->not_full, 1);
        WVT_OK(wv_lock_release(&b->lock));
    }
}

WVT_TEST(cond_stress_bounded_buffer)
{
    struct bounded b = {.per_producer = wvt_scale(40000)};
    wvt_run_threads(8, consumer, &b); /* 4 producers, 4 consumers */
    WVT_EQ(b.count, 4 * b.per_producer);
    WVT_EQ(b.sum, 4 * b.per_producer * (b.per_producer + 1) / 2);
    WVT_EQ(b.len, 0);
}

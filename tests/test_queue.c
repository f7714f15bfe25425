/*
 * tests/test_queue.c - queue.Queue, LifoQueue, PriorityQueue.
 */
#include "queue/internal.h"
#include "runner.h"

#include <string.h>

#define P(x) ((void *)(intptr_t)(x))
#define I(p) ((int)(intptr_t)(p))

static wv_queue_t *make(wv_queue_kind_t kind, size_t maxsize)
{
    wv_queue_opts_t opts = {.kind = kind, .maxsize = maxsize};
    wv_queue_t *q;
    WVT_OK(wv_queue_new(&q, &opts));
    return q;
}

WVT_TEST(queue_fifo_lifo_order)
{
    wv_queue_t *q = make(WV_QUEUE_FIFO, 0);
    void *item;
    /* enough items to wrap and grow the ring several times */
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++)
            WVT_OK(wv_queue_put(q, P(i), WV_NOWAIT));
        for (int i = 0; i < 60; i++) {
            WVT_OK(wv_queue_get(q, &item, WV_NOWAIT));
            WVT_EQ(I(item), i);
        }
        for (int i = 100; i < 200; i++)
            WVT_OK(wv_queue_put(q, P(i), WV_NOWAIT));
        for (int i = 60; i < 200; i++) {
            WVT_OK(wv_queue_get(q, &item, WV_NOWAIT));
            WVT_EQ(I(item), i);
        }
    }
    WVT_ASSERT(wv_queue_is_empty(q));
    wv_queue_free(q);

    q = make(WV_QUEUE_LIFO, 0);
    for (int i = 0; i < 50; i++)
        WVT_OK(wv_queue_put(q, P(i), WV_NOWAIT));
    for (int i = 49; i >= 0; i--) {
        WVT_OK(wv_queue_get(q, &item, WV_NOWAIT));
        WVT_EQ(I(item), i);
    }
    wv_queue_free(q);
}

/* Items are (priority << 16 | serial); compare looks at priority only, so
 * equal priorities must come out in put order. */
static int cmp_prio(const void *a, const void *b)
{
    int pa = I(a) >> 16, pb = I(b) >> 16;
    return (pa > pb) - (pa < pb);
}

WVT_TEST(queue_priority_order_stable)
{
    wv_queue_opts_t opts = {.kind = WV_QUEUE_PRIORITY, .compare = cmp_prio};
    wv_queue_t *q;
    WVT_OK(wv_queue_new(&q, &opts));
    unsigned seed = 12345;
    int n = 2000;
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        int prio = (int)((seed >> 16) % 20);
        WVT_OK(wv_queue_put(q, P(prio << 16 | i), WV_NOWAIT));
    }
    int prev_prio = -1, prev_serial = -1;
    for (int i = 0; i < n; i++) {
        void *item;
        WVT_OK(wv_queue_get(q, &item, WV_NOWAIT));
        int prio = I(item) >> 16, serial = I(item) & 0xffff;
        WVT_GE(prio, prev_prio);
        if (prio == prev_prio)
            WVT_GT(serial, prev_serial);
        prev_prio = prio;
        prev_serial = serial;
    }
    WVT_ERR(wv_queue_get(q, &(void *){0}, WV_NOWAIT), WV_EAGAIN);
    wv_queue_free(q);
}

WVT_TEST(queue_bad_options)
{
    wv_queue_t *q;
    wv_queue_opts_t opts = {.kind = WV_QUEUE_PRIORITY};
    WVT_ERR(wv_queue_new(&q, &opts), WV_EINVAL); /* no compare */
    opts.kind = (wv_queue_kind_t)7;
    WVT_ERR(wv_queue_new(&q, &opts), WV_EINVAL);
    WVT_ERR(wv_queue_new(NULL, NULL), WV_EINVAL);
    WVT_OK(wv_queue_new(&q, NULL));
    WVT_ERR(wv_queue_get(q, NULL, WV_NOWAIT), WV_EINVAL);
    void *items[2];
    WVT_ERR(wv_queue_get_many(q, items, 0, WV_NOWAIT), WV_EINVAL);
    WVT_ERR(wv_queue_get(q, items, -2), WV_EINVAL);
    wv_queue_free(q);
    wv_queue_free(NULL);
}

WVT_TEST(queue_bounded_full_and_empty)
{
    wv_queue_t *q = make(WV_QUEUE_FIFO, 2);
    void *item;
    WVT_ERR(wv_queue_get(q, &item, WV_NOWAIT), WV_EAGAIN); /* Empty */
    int64_t deadline = wv_now() + 15;
    WVT_ERR(wv_queue_get(q, &item, deadline), WV_ETIMEDOUT);
    WVT_GE(wv_now(), deadline);
    WVT_OK(wv_queue_put(q, P(1), WV_NOWAIT));
    WVT_OK(wv_queue_put(q, P(2), WV_NOWAIT));
    WVT_ASSERT(wv_queue_is_full(q));
    WVT_EQ(wv_queue_qsize(q), 2);
    WVT_ERR(wv_queue_put(q, P(3), WV_NOWAIT), WV_EAGAIN); /* Full */
    deadline = wv_now() + 15;
    WVT_ERR(wv_queue_put(q, P(3), deadline), WV_ETIMEDOUT);
    WVT_GE(wv_now(), deadline);
    WVT_EQ(wv_queue_qsize(q), 2);
    WVT_OK(wv_queue_get(q, &item, WV_NOWAIT));
    WVT_EQ(I(item), 1);
    WVT_ASSERT(!wv_queue_is_full(q));
    WVT_OK(wv_queue_put(q, P(3), WV_NOWAIT));
    wv_queue_free(q);
}

struct blocked {
    wv_queue_t *q;
    int result;
    void *item;
};

static void blocked_put(void *p)
{
    struct blocked *b = p;
    b->result = wv_queue_put(b->q, P(99), wv_deadline_in(10000));
}

static void blocked_get(void *p)
{
    struct blocked *b = p;
    b->result = wv_queue_get(b->q, &b->item, wv_deadline_in(10000));
}

WVT_TEST(queue_blocking_handoff)
{
    wv_queue_t *q = make(WV_QUEUE_FIFO, 1);
    struct blocked b = {q, 1, NULL};
    void *item;
    WVT_OK(wv_queue_put(q, P(1), WV_NOWAIT));
    wvt_thread_t *t = wvt_spawn(blocked_put, &b);
    WVT_POLL(wv__queue_parked(q) == 1, 5000); /* the put is blocked */
    WVT_OK(wv_queue_get(q, &item, wv_deadline_in(10000)));
    WVT_EQ(I(item), 1);
    wvt_join(t);
    WVT_OK(b.result);
    WVT_OK(wv_queue_get(q, &item, WV_NOWAIT));
    WVT_EQ(I(item), 99);

    b.result = 1;
    t = wvt_spawn(blocked_get, &b);
    WVT_POLL(wv__queue_parked(q) == 1, 5000);
    WVT_OK(wv_queue_put(q, P(7), WV_FOREVER));
    wvt_join(t);
    WVT_OK(b.result);
    WVT_EQ(I(b.item), 7);
    wv_queue_free(q);
}

static void do_join(void *p)
{
    struct blocked *b = p;
    b->result = wv_queue_join(b->q, wv_deadline_in(10000));
}

WVT_TEST(queue_task_done_join)
{
    wv_queue_t *q = make(WV_QUEUE_FIFO, 0);
    void *item;
    WVT_OK(wv_queue_join(q, WV_NOWAIT)); /* nothing put: done */
    WVT_ERR(wv_queue_task_done(q), WV_EOVERFLOW);
    for (int i = 0; i < 3; i++)
        WVT_OK(wv_queue_put(q, P(i), WV_NOWAIT));
    WVT_ERR(wv_queue_join(q, WV_NOWAIT), WV_EAGAIN);
    WVT_ERR(wv_queue_join(q, wv_now() + 10), WV_ETIMEDOUT);

    struct blocked b = {q, 1, NULL};
    wvt_thread_t *t = wvt_spawn(do_join, &b);
    WVT_POLL(wv__queue_parked(q) == 1, 5000);
    for (int i = 0; i < 3; i++) {
        WVT_OK(wv_queue_get(q, &item, WV_NOWAIT));
        WVT_EQ(b.result, 1); /* still joining */
        WVT_OK(wv_queue_task_done(q));
    }
    wvt_join(t);
    WVT_OK(b.result);
    WVT_ERR(wv_queue_task_done(q), WV_EOVERFLOW);
    wv_queue_free(q);
}

static int freed_items;
static void free_item(void *item)
{
    __atomic_add_fetch(&freed_items, 1, __ATOMIC_RELAXED);
    free(item);
}

WVT_TEST(queue_shutdown_drains)
{
    wv_queue_opts_t opts = {.maxsize = 4, .free_item = free_item};
    wv_queue_t *q;
    void *item;
    WVT_OK(wv_queue_new(&q, &opts));
    WVT_OK(wv_queue_put(q, strdup("a"), WV_NOWAIT));
    WVT_OK(wv_queue_put(q, strdup("b"), WV_NOWAIT));
    wv_queue_shutdown(q, false);
    WVT_ASSERT(wv_queue_is_shutdown(q));
    char *c = strdup("c");
    WVT_ERR(wv_queue_put(q, c, WV_NOWAIT), WV_ESHUTDOWN);
    free(c); /* still ours */
    WVT_OK(wv_queue_get(q, &item, WV_NOWAIT));
    WVT_ASSERT(strcmp(item, "a") == 0);
    free(item);
    WVT_OK(wv_queue_get(q, &item, WV_FOREVER));
    WVT_ASSERT(strcmp(item, "b") == 0);
    free(item);
    WVT_ERR(wv_queue_get(q, &item, WV_FOREVER), WV_ESHUTDOWN);
    WVT_ERR(wv_queue_get_many(q, &item, 1, WV_FOREVER), WV_ESHUTDOWN);
    wv_queue_shutdown(q, true); /* twice is fine */
    wv_queue_free(q);
    WVT_EQ(freed_items, 0);
}

WVT_TEST(queue_shutdown_wakes_waiters)
{
    wv_queue_t *q = make(WV_QUEUE_FIFO, 1);
    struct blocked getter = {q, 1, NULL}, putter = {q, 1, NULL};
    wvt_thread_t *g = wvt_spawn(blocked_get, &getter);
    WVT_POLL(wv__queue_parked(q) == 1, 5000);
    wv_queue_shutdown(q, false);
    wvt_join(g);
    WVT_ERR(getter.result, WV_ESHUTDOWN);
    wv_queue_free(q);

    q = make(WV_QUEUE_FIFO, 1);
    putter.q = q;
    WVT_OK(wv_queue_put(q, P(1), WV_NOWAIT));
    wvt_thread_t *p = wvt_spawn(blocked_put, &putter);
    WVT_POLL(wv__queue_parked(q) == 1, 5000);
    wv_queue_shutdown(q, false);
    wvt_join(p);
    WVT_ERR(putter.result, WV_ESHUTDOWN);
    void *item;
    WVT_OK(wv_queue_get(q, &item, WV_NOWAIT)); /* the 1 put before */
    WVT_EQ(I(item), 1);
    wv_queue_free(q);
}

WVT_TEST(queue_shutdown_immediate)
{
    wv_queue_opts_t opts = {.free_item = free_item};
    wv_queue_t *q;
    void *item;
    freed_items = 0;
    WVT_OK(wv_queue_new(&q, &opts));
    for (int i = 0; i < 5; i++)
        WVT_OK(wv_queue_put(q, strdup("x"), WV_NOWAIT));
    WVT_OK(wv_queue_get(q, &item, WV_NOWAIT));
    free(item);
    struct blocked joiner = {q, 1, NULL};
    wvt_thread_t *j = wvt_spawn(do_join, &joiner);
    WVT_POLL(wv__queue_parked(q) == 1, 5000);
    wv_queue_shutdown(q, true);
    WVT_EQ(freed_items, 4); /* the ones left, discarded */
    WVT_EQ(wv_queue_qsize(q), 0);
    WVT_ERR(wv_queue_get(q, &item, WV_NOWAIT), WV_ESHUTDOWN);
    /* join: 5 put, 4 discarded count as done, 1 still unfinished */
    WVT_ERR(wv_queue_join(q, WV_NOWAIT), WV_EAGAIN);
    WVT_OK(wv_queue_task_done(q));
    wvt_join(j);
    WVT_OK(joiner.result);
    wv_queue_free(q);
}

static void do_long_join(void *p)
{
    struct blocked *b = p;
    int err = wv_queue_join(b->q, wv_deadline_in(60000));
    __atomic_store_n(&b->result, err, __ATOMIC_RELEASE);
}

WVT_TEST(queue_shutdown_immediate_releases_join)
{
    /* Every item discarded: the unfinished count drops to 0 and a join
     * that was waiting returns. */
    wv_queue_opts_t opts = {.free_item = free_item};
    wv_queue_t *q;
    freed_items = 0;
    WVT_OK(wv_queue_new(&q, &opts));
    for (int i = 0; i < 3; i++)
        WVT_OK(wv_queue_put(q, strdup("z"), WV_NOWAIT));
    struct blocked joiner = {q, 1, NULL};
    wvt_thread_t *j = wvt_spawn(do_long_join, &joiner);
    WVT_POLL(wv__queue_parked(q) == 1, 5000);
    wv_queue_shutdown(q, true);
    /* woken by the shutdown, not by its own (distant) deadline */
    WVT_POLL(__atomic_load_n(&joiner.result, __ATOMIC_ACQUIRE) != 1, 5000);
    wvt_join(j);
    WVT_OK(joiner.result);
    WVT_EQ(freed_items, 3);
    wv_queue_free(q);
}

WVT_TEST(queue_free_discards_items)
{
    wv_queue_opts_t opts = {.kind = WV_QUEUE_LIFO, .free_item = free_item};
    wv_queue_t *q;
    freed_items = 0;
    WVT_OK(wv_queue_new(&q, &opts));
    for (int i = 0; i < 40; i++)
        WVT_OK(wv_queue_put(q, strdup("y"), WV_NOWAIT));
    wv_queue_free(q);
    WVT_EQ(freed_items, 40);
}

WVT_TEST(queue_get_many)
{
    wv_queue_t *q = make(WV_QUEUE_FIFO, 0);
    void *items[8];
    for (int i = 0; i < 5; i++)
        WVT_OK(wv_queue_put(q, P(i), WV_NOWAIT));
    WVT_EQ(wv_queue_get_many(q, items, 3, WV_NOWAIT), 3);
    WVT_EQ(I(items[0]) + I(items[1]) + I(items[2]), 0 + 1 + 2);
    WVT_EQ(wv_queue_get_many(q, items, 8, WV_NOWAIT), 2);
    WVT_EQ(I(items[0]), 3);
    WVT_EQ(I(items[1]), 4);
    WVT_ERR(wv_queue_get_many(q, items, 8, WV_NOWAIT), WV_EAGAIN);
    WVT_ERR(wv_queue_get_many(q, items, 8, wv_now() + 5), WV_ETIMEDOUT);
    wv_queue_free(q);
}

/* Many producers and consumers through a small bounded queue: every item
 * arrives exactly once. */
struct mpmc {
    wv_queue_t *q;
    long per_producer;
    unsigned char *seen;
    long received;
    wv_sem_t producers_done;
};

static void mpmc_party(int i, void *p)
{
    struct mpmc *m = p;
    if (i < 4) {
        for (long n = 0; n < m->per_producer; n++) {
            long id = i * m->per_producer + n + 1;
            WVT_OK(wv_queue_put(m->q, P(id), wv_deadline_in(20000)));
        }
        WVT_OK(wv_sem_release(&m->producers_done, 1));
        return;
    }
    for (;;) {
        void *items[16];
        int n = wv_queue_get_many(m->q, items, (i % 2) ? 16 : 1,
                                  wv_deadline_in(20000));
        if (n == WV_ESHUTDOWN)
            return;
        WVT_GT(n, 0);
        for (int k = 0; k < n; k++) {
            long id = (long)(intptr_t)items[k];
            WVT_EQ(__atomic_exchange_n(&m->seen[id], 1, __ATOMIC_RELAXED), 0);
            WVT_OK(wv_queue_task_done(m->q));
        }
        __atomic_add_fetch(&m->received, n, __ATOMIC_RELAXED);
    }
}

static void mpmc_closer(void *p)
{
    struct mpmc *m = p;
    for (int i = 0; i < 4; i++)
        WVT_OK(wv_sem_acquire(&m->producers_done, wv_deadline_in(60000)));
    WVT_OK(wv_queue_join(m->q, wv_deadline_in(60000)));
    wv_queue_shutdown(m->q, false);
}

WVT_TEST(queue_stress_mpmc)
{
    struct mpmc m = {.q = make(WV_QUEUE_FIFO, 16),
                     .per_producer = wvt_scale(50000)};
    long total = 4 * m.per_producer;
    m.seen = calloc((size_t)total + 1, 1);
    WVT_ASSERT(m.seen);
    wvt_thread_t *closer = wvt_spawn(mpmc_closer, &m);
    wvt_run_threads(8, mpmc_party, &m);
    wvt_join(closer);
    WVT_EQ(m.received, total);
    for (long id = 1; id <= total; id++)
        WVT_EQ(m.seen[id], 1);
    free(m.seen);
    wv_queue_free(m.q);
}

static int new_put_grow(void *p)
{
    wv_queue_t *q;
    int err = wv_queue_new(&q, NULL);
    if (err)
        return err;
    /* past the first allocation of the ring: growth can fail too */
    for (int i = 0; i < 40; i++) {
        size_t before = wv_queue_qsize(q);
        err = wv_queue_put(q, P(i), WV_NOWAIT);
        if (err) {
            WVT_EQ(wv_queue_qsize(q), before); /* not put */
            break;
        }
    }
    wv_queue_free(q);
    return err;
}

WVT_TEST(queue_faultsim)
{
    WVT_GE(wvt_faultsim(new_put_grow, NULL), 3);
}

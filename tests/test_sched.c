/*
 * tests/test_sched.c - coroutines through the scheduler: spawn, yield,
 * join, sleep, cancel at every blocking point, groups, wake-ups from other
 * threads, descriptor waits, thread exit, stacks given back.
 */
#include "coro/internal.h"
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------- basics */

static void *ret_arg_plus_one(void *arg)
{
    return (char *)arg + 1;
}

WVT_TEST(sched_spawn_join_result)
{
    wv_coro_t *co;
    void *res = NULL;
    char buf[2];

    WVT_OK(wv_coro_spawn(&co, ret_arg_plus_one, buf, NULL));
    WVT_ERR(wv_coro_join(co, 0, &res), WV_EAGAIN); /* not run yet */
    WVT_OK(wv_coro_join(co, WV_FOREVER, &res));
    WVT_ASSERT(res == buf + 1);
    WVT_OK(wv_coro_join(co, 0, &res)); /* again: still the result */
    WVT_ASSERT(!wv_coro_was_cancelled(co));
    wv_coro_free(co);
    WVT_OK(wv_coro_run(WV_FOREVER));
}

static char order[64];
static int norder;

static void *yielder(void *arg)
{
    for (int i = 0; i < 3; i++) {
        order[norder++] = *(char *)arg;
        WVT_OK(wv_coro_yield());
    }
    return NULL;
}

WVT_TEST(sched_yield_interleaves_in_spawn_order)
{
    static char a = 'a', b = 'b', c = 'c';

    norder = 0;
    WVT_OK(wv_go(yielder, &a));
    WVT_OK(wv_go(yielder, &b));
    WVT_OK(wv_go(yielder, &c));
    WVT_EQ(norder, 0); /* nothing runs before the spawner blocks */
    WVT_OK(wv_coro_run(WV_FOREVER));
    order[norder] = '\0';
    WVT_ASSERT(strcmp(order, "abcabcabc") == 0);
}

static long counter;

static void *bump(void *arg)
{
    (void)arg;
    counter++;
    return NULL;
}

WVT_TEST(sched_run_deadline_zero_runs_one_round)
{
    counter = 0;
    WVT_OK(wv_coro_run(0)); /* no scheduler yet: nothing to run */
    for (int i = 0; i < 10; i++)
        WVT_OK(wv_go(bump, NULL));
    WVT_OK(wv_coro_run(0));
    WVT_EQ(counter, 10);
    WVT_ERR(wv_coro_run(-2), WV_EINVAL);
}

WVT_TEST_TIMEOUT(sched_million_spawned_and_joined, 120)
{
    long n = wvt_scale(250000); /* 1M in release builds */
    wv__stack_stats_t before, after;
    wv_group_t *g;

    counter = 0;
    wv__stack_stats(&before);
    WVT_OK(wv_group_new(&g));
    for (long i = 0; i < n; i++)
        WVT_OK(wv_group_spawn(g, bump, NULL, NULL));
    WVT_EQ(wv_group_count(g), n);
    WVT_OK(wv_group_join(g, WV_FOREVER));
    WVT_EQ(counter, n);
    WVT_EQ(wv_group_count(g), 0);
    wv_group_free(g);
    /* Stacks are taken at first run and given back at the end: a burst
     * of coroutines that run one after the other maps two stacks (the
     * next starts before the last is given back), not n. */
    wv__stack_stats(&after);
    WVT_LE(after.maps - before.maps, 2);
    /* joinable ones too */
    for (long i = 0; i < n / 10; i++) {
        wv_coro_t *co;
        WVT_OK(wv_coro_spawn(&co, bump, NULL, NULL));
        WVT_OK(wv_coro_join(co, WV_FOREVER, NULL));
        wv_coro_free(co);
    }
    WVT_EQ(counter, n + n / 10);
}

/* -------------------------------------------------------------- sleep */

static void *sleeper(void *arg)
{
    long ms = (long)arg;
    WVT_OK(wv_sleep_ms(ms));
    order[norder++] = (char)('0' + ms / 10);
    return NULL;
}

WVT_TEST(sched_sleeps_end_in_deadline_order)
{
    norder = 0;
    WVT_OK(wv_go(sleeper, (void *)30L));
    WVT_OK(wv_go(sleeper, (void *)10L));
    WVT_OK(wv_go(sleeper, (void *)20L));
    WVT_OK(wv_go(sleeper, (void *)0L));
    int64_t t0 = wv_now();
    WVT_OK(wv_coro_run(WV_FOREVER));
    WVT_GE(wv_now() - t0, 30);
    order[norder] = '\0';
    WVT_ASSERT(strcmp(order, "0123") == 0);
}

/* ------------------------------------------------------------- joining */

static wv_event_t ev;

static void *wait_event(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)wv_event_wait(&ev, WV_FOREVER);
}

WVT_TEST(sched_join_deadline_then_result)
{
    wv_coro_t *co;
    void *res = (void *)1;

    wv_event_init(&ev);
    WVT_OK(wv_coro_spawn(&co, wait_event, NULL, NULL));
    WVT_ERR(wv_coro_join(co, wv_deadline_in(20), &res), WV_ETIMEDOUT);
    WVT_ASSERT(res == (void *)1);
    WVT_ERR(wv_coro_join(co, -5, &res), WV_EINVAL);
    WVT_ERR(wv_coro_join(NULL, 0, &res), WV_EINVAL);
    wv_event_set(&ev);
    WVT_OK(wv_coro_join(co, WV_FOREVER, &res));
    WVT_ASSERT(res == NULL); /* the event wait returned 0 */
    wv_coro_free(co);
}

static void *join_self(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)wv_coro_join(wv_coro_self(), 0, NULL);
}

WVT_TEST(sched_join_self_is_deadlock)
{
    wv_coro_t *co;
    void *res;

    WVT_OK(wv_coro_spawn(&co, join_self, NULL, NULL));
    WVT_OK(wv_coro_join(co, WV_FOREVER, &res));
    WVT_EQ((intptr_t)res, WV_EDEADLK);
    wv_coro_free(co);
    WVT_ASSERT(strcmp(wv_coro_name(NULL), "main") == 0);
    WVT_ASSERT(wv_coro_self() == NULL);
    WVT_ASSERT(!wv_coro_cancelled());
}

static void *names(void *arg)
{
    (void)arg;
    WVT_ASSERT(strcmp(wv_coro_name(NULL), "worker-7") == 0);
    WVT_ASSERT(wv_coro_self() != NULL);
    return NULL;
}

WVT_TEST(sched_names)
{
    wv_coro_t *co;
    wv_coro_opts_t o = {.name = "worker-7"};

    WVT_OK(wv_coro_spawn(&co, names, NULL, &o));
    WVT_ASSERT(strcmp(wv_coro_name(co), "worker-7") == 0);
    WVT_OK(wv_coro_join(co, WV_FOREVER, NULL));
    wv_coro_free(co);
    WVT_OK(wv_coro_spawn(&co, names, NULL, NULL));
    WVT_ASSERT(strcmp(wv_coro_name(co), "coro") == 0);
    wv_coro_cancel(co); /* cancelled before it ran: body never starts */
    WVT_OK(wv_coro_join(co, WV_FOREVER, NULL));
    WVT_ASSERT(wv_coro_was_cancelled(co));
    wv_coro_free(co);
}

/* The thread's own code blocking in weave runs the coroutines. */
static void *set_event(void *arg)
{
    (void)arg;
    wv_event_set(&ev);
    return NULL;
}

WVT_TEST(sched_main_blocking_runs_coroutines)
{
    wv_event_init(&ev);
    WVT_OK(wv_go(set_event, NULL));
    WVT_OK(wv_event_wait(&ev, wv_deadline_in(10000)));
    WVT_OK(wv_coro_run(WV_FOREVER));
}

/* ------------------------------------------------------- cancellation */

static wv_lock_t lk;
static wv_cond_t cv;
static wv_sem_t sem;
static wv_queue_t *q;
static wv_future_t *fut;
static wv_coro_t *target;
static wv_group_t *grp;
static int pipefd[2];

enum point {
    P_SLEEP,
    P_LOCK,
    P_COND,
    P_SEM,
    P_EVENT,
    P_QUEUE,
    P_FUTURE,
    P_JOIN,
    P_GROUP,
    P_FDWAIT,
    P_YIELD,
    NPOINTS
};
static const char *point_name[NPOINTS] = {
    "sleep",  "lock", "cond",  "sem",    "event", "queue",
    "future", "join", "group", "fdwait", "yield",
};

static int block_at(enum point p)
{
    void *item;
    switch (p) {
    case P_SLEEP:
        return wv_sleep_ms(100000);
    case P_LOCK:
        return wv_lock_acquire(&lk, WV_FOREVER);
    case P_COND: {
        int err = wv_lock_acquire(&lk, WV_FOREVER);
        if (err)
            return err;
        err = wv_cond_wait(&cv, &lk, WV_FOREVER);
        WVT_OK(wv_lock_release(&lk)); /* the lock is held again */
        return err;
    }
    case P_SEM:
        return wv_sem_acquire(&sem, WV_FOREVER);
    case P_EVENT:
        return wv_event_wait(&ev, WV_FOREVER);
    case P_QUEUE:
        return wv_queue_get(q, &item, WV_FOREVER);
    case P_FUTURE:
        return wv_future_wait(fut, WV_FOREVER);
    case P_JOIN:
        return wv_coro_join(target, WV_FOREVER, NULL);
    case P_GROUP:
        return wv_group_join(grp, WV_FOREVER);
    case P_FDWAIT:
        return wv_fdwait(pipefd[0], POLLIN, WV_FOREVER, NULL);
    case P_YIELD:
        for (;;) {
            int err = wv_coro_yield();
            if (err)
                return err;
        }
    default:
        return WV_EINVAL;
    }
}

static volatile int reached;

static void *blocker(void *arg)
{
    enum point p = (enum point)(intptr_t)arg;
    reached = 1;
    int first = block_at(p);
    /* Every later blocking call fails at once too. */
    int second = wv_sleep_ms(100000);
    WVT_ASSERT(wv_coro_cancelled());
    return (void *)(intptr_t)(first == WV_ECANCELED && second == WV_ECANCELED);
}

static void *forever(void *arg)
{
    (void)arg;
    wv_event_t never;
    wv_event_init(&never);
    return (void *)(intptr_t)wv_event_wait(&never, WV_FOREVER);
}

static void *spinner(void *arg)
{
    while (wv_coro_yield() == 0)
        ;
    return arg;
}

WVT_TEST(sched_cancel_at_every_blocking_point)
{
    for (int p = 0; p < NPOINTS; p++) {
        wv_coro_t *co, *other = NULL;
        void *ok = NULL;

        wv_lock_init(&lk);
        wv_cond_init(&cv);
        wv_sem_init(&sem, 0);
        wv_event_init(&ev);
        WVT_OK(wv_queue_new(&q, NULL));
        WVT_OK(wv_future_new(&fut));
        WVT_OK(wv_group_new(&grp));
        WVT_EQ(pipe2(pipefd, O_CLOEXEC), 0);
        WVT_OK(wv_coro_spawn(&target, forever, NULL, NULL));
        WVT_OK(wv_group_spawn(grp, forever, NULL, NULL));
        if (p == P_LOCK)
            WVT_OK(wv_lock_acquire(&lk, 0));
        if (p == P_YIELD) /* something else runnable to yield to */
            WVT_OK(wv_coro_spawn(&other, spinner, NULL, NULL));

        reached = 0;
        WVT_OK(wv_coro_spawn(&co, blocker, (void *)(intptr_t)p, NULL));
        WVT_ERR(wv_coro_join(co, wv_deadline_in(30), NULL), WV_ETIMEDOUT);
        WVT_EQ(reached, 1);
        wv_coro_cancel(co);
        WVT_OK(wv_coro_join(co, wv_deadline_in(10000), &ok));
        if (!(intptr_t)ok)
            WVT_FAIL("cancel at %s: not WV_ECANCELED", point_name[p]);
        wv_coro_free(co);

        if (p == P_LOCK)
            WVT_OK(wv_lock_release(&lk));
        wv_coro_free(other);
        wv_coro_free(target); /* cancels it */
        wv_group_free(grp);
        close(pipefd[0]);
        close(pipefd[1]);
        wv_future_free(fut);
        wv_queue_free(q);
    }
    WVT_OK(wv_coro_run(WV_FOREVER));
}

/* ------------------------------------------- wake-ups from other threads */

static wv_pool_t *pool;

static int slow_square(wv_task_t *task, const void *arg, size_t len)
{
    (void)len;
    long v = *(const long *)arg;
    WVT_OK(wv_event_wait(&ev, WV_FOREVER)); /* until the coroutines ran */
    v *= v;
    return wv_task_return(task, &v, sizeof v);
}

static long ticks;

static void *ticker(void *arg)
{
    (void)arg;
    while (!wv_event_is_set(&ev)) {
        ticks++;
        if (ticks == 1000)
            wv_event_set(&ev); /* the pool task may finish now */
        wv_coro_yield();
    }
    return NULL;
}

static void *await_future(void *arg)
{
    (void)arg;
    const void *data;
    size_t len;
    WVT_OK(wv_future_get(fut, WV_FOREVER, &data, &len));
    WVT_EQ(len, sizeof(long));
    return (void *)*(const long *)data;
}

/* A coroutine waiting on a thread-pool future parks; its thread runs the
 * others meanwhile; the worker's completion wakes it. */
WVT_TEST(sched_coroutine_waits_on_pool_future)
{
    wv_pool_opts_t o = {.workers = 1};
    wv_coro_t *co;
    void *res;
    long seven = 7;

    wv_event_init(&ev);
    ticks = 0;
    WVT_OK(wv_pool_new(&pool, &o));
    WVT_OK(wv_pool_apply_async(pool, slow_square, &seven, sizeof seven, NULL,
                               &fut));
    WVT_OK(wv_coro_spawn(&co, await_future, NULL, NULL));
    WVT_OK(wv_go(ticker, NULL));
    WVT_OK(wv_coro_join(co, wv_deadline_in(10000), &res));
    WVT_EQ((long)res, 49);
    WVT_GE(ticks, 1000);
    wv_coro_free(co);
    WVT_OK(wv_coro_run(WV_FOREVER));
    wv_future_free(fut);
    wv_pool_close(pool);
    WVT_OK(wv_pool_join(pool, WV_FOREVER));
    wv_pool_free(pool);
}

/*
 * tests/test_sched.c - coroutines through the scheduler: spawn, yield,
 * join, sleep, cancel at every blocking point, groups, wake-ups from other
 * threads, descriptor waits, thread exit, stacks given back.
 */
#include "coro/internal.h"
#include "loop/internal.h"
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
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

    WVT_OK(wv_coro_spawn(&co, NULL, ret_arg_plus_one, buf));
    WVT_ERR(wv_coro_join(co, &res, 0), WV_EAGAIN); /* not run yet */
    WVT_OK(wv_coro_join(co, &res, WV_FOREVER));
    WVT_ASSERT(res == buf + 1);
    WVT_OK(wv_coro_join(co, &res, 0)); /* again: still the result */
    WVT_ASSERT(!wv_coro_is_cancelled(co));
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
    /* 1M in release builds; TSan makes a fiber per coroutine (slow). */
    long n = wvt_sanitized() ? 20000 : 1000000;
    wv__stack_stats_t before, after;
    wv_group_t *g;

    counter = 0;
    wv__stack_stats(&before);
    WVT_OK(wv_group_new(&g));
    for (long i = 0; i < n; i++)
        WVT_OK(wv_group_spawn(g, NULL, bump, NULL));
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
        WVT_OK(wv_coro_spawn(&co, NULL, bump, NULL));
        WVT_OK(wv_coro_join(co, NULL, WV_FOREVER));
        wv_coro_free(co);
    }
    WVT_EQ(counter, n + n / 10);
}

/* -------------------------------------------------------------- sleep */

/* Every sleeper's deadline is counted from one base taken before the
 * spawns, STEP apart, so the order of their ends is their deadlines'
 * order as long as the four start within STEP of the base: the first run
 * of a coroutine maps its stack, which under TSan, beside another suite,
 * took over 10 ms (a sleeper that starts past its deadline ends at once,
 * out of order). */
static int64_t sleep_base, sleep_step;

static void *sleeper(void *arg)
{
    long i = (long)arg;
    WVT_OK(wv_sleep_until(sleep_base + i * sleep_step));
    order[norder++] = (char)('0' + i);
    return NULL;
}

WVT_TEST(sched_sleeps_end_in_deadline_order)
{
    norder = 0;
    sleep_step = wvt_sanitized() ? 250 : 10;
    sleep_base = wv_now();
    WVT_OK(wv_go(sleeper, (void *)3L));
    WVT_OK(wv_go(sleeper, (void *)1L));
    WVT_OK(wv_go(sleeper, (void *)2L));
    WVT_OK(wv_go(sleeper, (void *)0L));
    WVT_OK(wv_coro_run(WV_FOREVER));
    WVT_GE(wv_now() - sleep_base, 3 * sleep_step);
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
    WVT_OK(wv_coro_spawn(&co, NULL, wait_event, NULL));
    WVT_ERR(wv_coro_join(co, &res, wv_deadline_in(20)), WV_ETIMEDOUT);
    WVT_ASSERT(res == (void *)1);
    WVT_ERR(wv_coro_join(co, &res, -5), WV_EINVAL);
    WVT_ERR(wv_coro_join(NULL, &res, 0), WV_EINVAL);
    wv_event_set(&ev);
    WVT_OK(wv_coro_join(co, &res, WV_FOREVER));
    WVT_ASSERT(res == NULL); /* the event wait returned 0 */
    wv_coro_free(co);
}

static void *join_self(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)wv_coro_join(wv_coro_self(), NULL, 0);
}

WVT_TEST(sched_join_self_is_deadlock)
{
    wv_coro_t *co;
    void *res;

    WVT_OK(wv_coro_spawn(&co, NULL, join_self, NULL));
    WVT_OK(wv_coro_join(co, &res, WV_FOREVER));
    WVT_EQ((intptr_t)res, WV_EDEADLK);
    wv_coro_free(co);
    WVT_ASSERT(strcmp(wv_coro_name(NULL), "main") == 0);
    WVT_ASSERT(wv_coro_self() == NULL);
    WVT_ASSERT(!wv_coro_is_cancelled(NULL));
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

    WVT_OK(wv_coro_spawn(&co, &o, names, NULL));
    WVT_ASSERT(strcmp(wv_coro_name(co), "worker-7") == 0);
    WVT_OK(wv_coro_join(co, NULL, WV_FOREVER));
    wv_coro_free(co);
    WVT_OK(wv_coro_spawn(&co, NULL, names, NULL));
    WVT_ASSERT(strcmp(wv_coro_name(co), "coro") == 0);
    wv_coro_cancel(co); /* cancelled before it ran: body never starts */
    WVT_OK(wv_coro_join(co, NULL, WV_FOREVER));
    WVT_ASSERT(wv_coro_is_cancelled(co));
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
        return wv_coro_join(target, NULL, WV_FOREVER);
    case P_GROUP:
        return wv_group_join(grp, WV_FOREVER);
    case P_FDWAIT:
        return wv_fdwait(pipefd[0], POLLIN, NULL, WV_FOREVER);
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
    WVT_ASSERT(wv_coro_is_cancelled(NULL));
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
        WVT_OK(wv_coro_spawn(&target, NULL, forever, NULL));
        WVT_OK(wv_group_spawn(grp, NULL, forever, NULL));
        if (p == P_LOCK)
            WVT_OK(wv_lock_acquire(&lk, 0));
        if (p == P_YIELD) /* something else runnable to yield to */
            WVT_OK(wv_coro_spawn(&other, NULL, spinner, NULL));

        reached = 0;
        WVT_OK(wv_coro_spawn(&co, NULL, blocker, (void *)(intptr_t)p));
        WVT_ERR(wv_coro_join(co, NULL, wv_deadline_in(30)), WV_ETIMEDOUT);
        WVT_EQ(reached, 1);
        wv_coro_cancel(co);
        WVT_OK(wv_coro_join(co, &ok, wv_deadline_in(10000)));
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
        wv_future_unref(fut);
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
    WVT_OK(wv_future_get(fut, &data, &len, WV_FOREVER));
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
    WVT_OK(wv_pool_apply_async(pool, NULL, slow_square, &seven, sizeof seven,
                               &fut));
    WVT_OK(wv_coro_spawn(&co, NULL, await_future, NULL));
    WVT_OK(wv_go(ticker, NULL));
    WVT_OK(wv_coro_join(co, &res, wv_deadline_in(10000)));
    WVT_EQ((long)res, 49);
    WVT_GE(ticks, 1000);
    wv_coro_free(co);
    WVT_OK(wv_coro_run(WV_FOREVER));
    wv_future_unref(fut);
    wv_pool_close(pool);
    WVT_OK(wv_pool_join(pool, WV_FOREVER));
    wv_pool_free(pool);
}

/* A thread's wake-ups and cancels reach a coroutine parked on another
 * thread's scheduler; a thread joins a coroutine of another thread. */
static wv_coro_t *remote_target;
static int remote_phase;

static void remote_canceller(void *arg)
{
    (void)arg;
    WVT_POLL(__atomic_load_n(&remote_phase, __ATOMIC_ACQUIRE) == 1, 10000);
    /* A join from this thread times out while the coroutine is parked. */
    WVT_ERR(wv_coro_join(remote_target, NULL, wv_deadline_in(10)),
            WV_ETIMEDOUT);
    wv_coro_cancel(remote_target);
    void *res;
    WVT_OK(wv_coro_join(remote_target, &res, wv_deadline_in(10000)));
    WVT_EQ((intptr_t)res, WV_ECANCELED);
}

static void *park_then_report(void *arg)
{
    (void)arg;
    __atomic_store_n(&remote_phase, 1, __ATOMIC_RELEASE);
    return forever(NULL);
}

WVT_TEST(sched_cancel_and_join_from_another_thread)
{
    WVT_OK(wv_coro_spawn(&remote_target, NULL, park_then_report, NULL));
    remote_phase = 0;
    wvt_thread_t *t = wvt_spawn(remote_canceller, NULL);
    WVT_OK(wv_coro_run(wv_deadline_in(10000)));
    wvt_join(t);
    WVT_ASSERT(wv_coro_is_cancelled(remote_target));
    wv_coro_free(remote_target);
}

/* Threads, each with its own coroutines, pass tokens around a ring of
 * semaphores: every wake-up crosses a thread; none is lost. */
#define RING_THREADS 4
#define RING_COROS   16
static wv_sem_t ring[RING_THREADS];
static long ring_rounds;
static long ring_done[RING_THREADS];

struct ring_arg {
    int i;
};

static void *ring_coro(void *arg)
{
    int i = ((struct ring_arg *)arg)->i;
    for (long r = 0; r < ring_rounds; r++) {
        WVT_OK(wv_sem_acquire(&ring[i], wv_deadline_in(30000)));
        WVT_OK(wv_sem_release(&ring[(i + 1) % RING_THREADS], 1));
        ring_done[i]++;
    }
    return NULL;
}

static void ring_thread(int i, void *arg)
{
    static struct ring_arg args[RING_THREADS];
    (void)arg;
    args[i].i = i;
    for (int c = 0; c < RING_COROS; c++)
        WVT_OK(wv_go(ring_coro, &args[i]));
    WVT_OK(wv_coro_run(wv_deadline_in(60000)));
}

WVT_TEST_TIMEOUT(sched_cross_thread_wakeups_stress, 120)
{
    ring_rounds = wvt_scale(500);
    for (int i = 0; i < RING_THREADS; i++) {
        wv_sem_init(&ring[i], 0);
        ring_done[i] = 0;
    }
    /* Tokens enough for every coroutine of one thread to hold one. */
    WVT_OK(wv_sem_release(&ring[0], RING_COROS));
    wvt_run_threads(RING_THREADS, ring_thread, NULL);
    for (int i = 0; i < RING_THREADS; i++)
        WVT_EQ(ring_done[i], ring_rounds * RING_COROS);
}

/* A thread that returns with coroutines parked cancels them and runs
 * them to their end before it exits. */
static long exit_cancelled;

static void *count_cancel(void *arg)
{
    (void)arg;
    wv_event_t never;
    wv_event_init(&never);
    if (wv_event_wait(&never, WV_FOREVER) == WV_ECANCELED)
        __atomic_add_fetch(&exit_cancelled, 1, __ATOMIC_RELAXED);
    return NULL;
}

static void leave_coroutines(int i, void *arg)
{
    (void)i;
    (void)arg;
    for (int c = 0; c < 10; c++)
        WVT_OK(wv_go(count_cancel, NULL));
    WVT_ERR(wv_coro_run(0), WV_EAGAIN); /* they all park */
}

WVT_TEST(sched_thread_exit_cancels_leftovers)
{
    wv__stack_stats_t before, after;

    exit_cancelled = 0;
    wv__stack_stats(&before);
    wvt_run_threads(3, leave_coroutines, NULL);
    WVT_EQ(exit_cancelled, 30);
    wv__stack_stats(&after);
    WVT_EQ(after.mapped, before.mapped); /* their stacks were unmapped */
}

/* Groups: cancelled from another thread while members are parked on two
 * threads; joined from a third. */
static wv_group_t *shared_group;
static int group_members_parked;

static void *grp_member(void *arg)
{
    (void)arg;
    __atomic_add_fetch(&group_members_parked, 1, __ATOMIC_SEQ_CST);
    wv_event_t never;
    wv_event_init(&never);
    WVT_ERR(wv_event_wait(&never, WV_FOREVER), WV_ECANCELED);
    return NULL;
}

static void group_thread(int i, void *arg)
{
    (void)arg;
    if (i < 2) {
        for (int c = 0; c < 50; c++)
            WVT_OK(wv_group_spawn(shared_group, NULL, grp_member, NULL));
        WVT_OK(wv_coro_run(wv_deadline_in(20000)));
    } else {
        WVT_POLL(__atomic_load_n(&group_members_parked, __ATOMIC_SEQ_CST) ==
                     100,
                 10000);
        WVT_ERR(wv_group_join(shared_group, 0), WV_EAGAIN);
        wv_group_cancel(shared_group);
        WVT_ERR(wv_group_spawn(shared_group, NULL, grp_member, NULL),
                WV_ECANCELED);
        WVT_OK(wv_group_join(shared_group, wv_deadline_in(20000)));
    }
}

WVT_TEST(sched_group_cancel_across_threads)
{
    group_members_parked = 0;
    WVT_OK(wv_group_new(&shared_group));
    wvt_run_threads(3, group_thread, NULL);
    WVT_EQ(wv_group_count(shared_group), 0);
    wv_group_free(shared_group);
    WVT_ERR(wv_group_new(NULL), WV_EINVAL);
    WVT_ERR(wv_group_join(NULL, 0), WV_EINVAL);
    wv_group_free(NULL);
}

/* A group's member list is biased to the first thread that spawns into it
 * (coro/bias.h); a second thread spawning into it meanwhile revokes the
 * bias while the first thread's members come and go. */
static wv_group_t *churn_group;
static int churn_done, churn_started;

static void *churn_member(void *arg)
{
    (void)arg;
    for (int y = 0; y < 3; y++)
        wv_coro_yield();
    __atomic_add_fetch(&churn_done, 1, __ATOMIC_RELAXED);
    return NULL;
}

/* TSan makes each coroutine's fiber with a 768 KiB memset. */
static int churn_rounds(void)
{
    return wvt_sanitized() ? 40 : (int)wvt_scale(2000);
}

static void group_churn_thread(int i, void *arg)
{
    (void)arg;
    if (i == 1) { /* the second thread comes once the bias is the first's */
        WVT_POLL(wv__group_bias(churn_group) != 0, 10000);
    } else {
        WVT_OK(wv_group_spawn(churn_group, NULL, churn_member, NULL));
        WVT_EQ(wv__group_bias(churn_group), 1);
    }
    __atomic_add_fetch(&churn_started, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&churn_started, __ATOMIC_SEQ_CST) < 2)
        sched_yield();
    for (int round = 0; round < churn_rounds(); round++) {
        for (int c = 0; c < 10; c++)
            WVT_OK(wv_group_spawn(churn_group, NULL, churn_member, NULL));
        WVT_OK(wv_coro_run(wv_deadline_in(20000)));
    }
}

WVT_TEST(sched_group_bias_revoked_while_members_churn)
{
    churn_done = churn_started = 0;
    WVT_OK(wv_group_new(&churn_group));
    WVT_EQ(wv__group_bias(churn_group), 0);
    wvt_run_threads(2, group_churn_thread, NULL);
    WVT_OK(wv_group_join(churn_group, 0));
    WVT_EQ(wv_group_count(churn_group), 0);
    WVT_EQ(wv__group_members(churn_group), 0);
    WVT_EQ(wv__group_bias(churn_group), 0); /* revoked: shared */
    WVT_EQ(churn_done, 1 + 2 * 10 * churn_rounds());
    wv_group_free(churn_group);
}

static void *join_own_group(void *arg)
{
    return (void *)(intptr_t)wv_group_join(arg, 0);
}

WVT_TEST(sched_group_member_cannot_join_its_group)
{
    wv_group_t *g;
    WVT_OK(wv_group_new(&g));
    WVT_OK(wv_group_spawn(g, NULL, join_own_group, g));
    WVT_OK(wv_group_join(g, WV_FOREVER));
    wv_group_free(g);
}

/* ------------------------------------------------------ descriptor waits */

static int echo_fds[2];

static void *pipe_writer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++) {
        char c = (char)i;
        WVT_EQ(write(echo_fds[1], &c, 1), 1);
        wv_coro_yield();
    }
    close(echo_fds[1]);
    return NULL;
}

static void *pipe_reader(void *arg)
{
    (void)arg;
    int got = 0;
    for (;;) {
        short rev;
        WVT_OK(wv_fdwait(echo_fds[0], POLLIN, &rev, wv_deadline_in(10000)));
        char c;
        ssize_t r = read(echo_fds[0], &c, 1);
        if (r == 0)
            break;
        if (r < 0) {
            WVT_EQ(errno, EAGAIN);
            continue;
        }
        WVT_EQ(c, (char)got);
        got++;
    }
    return (void *)(intptr_t)got;
}

WVT_TEST(sched_fdwait_pipe_between_coroutines)
{
    wv_coro_t *rd;
    void *got;

    WVT_EQ(pipe2(echo_fds, O_CLOEXEC | O_NONBLOCK), 0);
    WVT_OK(wv_coro_spawn(&rd, NULL, pipe_reader, NULL));
    WVT_OK(wv_go(pipe_writer, NULL));
    WVT_OK(wv_coro_join(rd, &got, wv_deadline_in(10000)));
    WVT_EQ((intptr_t)got, 100);
    wv_coro_free(rd);
    WVT_OK(wv_coro_run(WV_FOREVER));
    close(echo_fds[0]);
}

static void *fdwait_errors(void *arg)
{
    (void)arg;
    int fds[2];
    short rev = 0;
    WVT_EQ(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    WVT_ERR(wv_fdwait(fds[0], POLLIN, &rev, 0), WV_EAGAIN);
    WVT_ERR(wv_fdwait(fds[0], POLLIN, &rev, wv_deadline_in(20)), WV_ETIMEDOUT);
    WVT_ERR(wv_fdwait(fds[0], 0, &rev, WV_FOREVER), WV_EINVAL);
    WVT_ERR(wv_fdwait(fds[0], POLLIN, &rev, -3), WV_EINVAL);
    WVT_ERR(wv_fdwait(987, POLLIN, &rev, wv_deadline_in(1000)), WV_EBADF);
    /* a writable pipe is ready at once */
    WVT_OK(wv_fdwait(fds[1], POLLOUT, &rev, wv_deadline_in(1000)));
    WVT_ASSERT(rev & POLLOUT);
    /* a regular file is always ready (epoll refuses it; poll says so) */
    int f = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    WVT_GE(f, 0);
    WVT_OK(wv_fdwait(f, POLLIN, &rev, wv_deadline_in(1000)));
    WVT_ASSERT(rev & POLLIN);
    close(f);
    /* a hang-up is reported though not asked for */
    close(fds[1]);
    WVT_OK(wv_fdwait(fds[0], POLLIN, &rev, wv_deadline_in(1000)));
    WVT_ASSERT(rev & POLLHUP);
    close(fds[0]);
    return NULL;
}

WVT_TEST(sched_fdwait_errors_and_edges)
{
    wv_coro_t *co;
    WVT_OK(wv_coro_spawn(&co, NULL, fdwait_errors, NULL));
    WVT_OK(wv_coro_join(co, NULL, wv_deadline_in(10000)));
    wv_coro_free(co);
    fdwait_errors(NULL); /* the same from the thread's own code */
    WVT_OK(wv_coro_run(WV_FOREVER));
}

static void *wait_busy(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)wv_fdwait(echo_fds[0], POLLIN, NULL,
                                       wv_deadline_in(10000));
}

WVT_TEST(sched_fdwait_same_direction_twice_is_busy)
{
    wv_coro_t *a, *b;
    void *ra, *rb;

    WVT_EQ(pipe2(echo_fds, O_CLOEXEC | O_NONBLOCK), 0);
    WVT_OK(wv_coro_spawn(&a, NULL, wait_busy, NULL));
    WVT_OK(wv_coro_spawn(&b, NULL, wait_busy, NULL));
    WVT_OK(wv_coro_join(b, &rb, wv_deadline_in(10000)));
    WVT_EQ((intptr_t)rb, WV_EBUSY);
    WVT_EQ(write(echo_fds[1], "x", 1), 1);
    WVT_OK(wv_coro_join(a, &ra, wv_deadline_in(10000)));
    WVT_EQ((intptr_t)ra, 0);
    wv_coro_free(a);
    wv_coro_free(b);
    WVT_OK(wv_coro_run(WV_FOREVER));
    close(echo_fds[0]);
    close(echo_fds[1]);
}

/* Other layers' descriptor waits park the coroutine too: communicate
 * with a child process while another coroutine keeps running. */
static void *run_cat(void *arg)
{
    (void)arg;
    const char *argv[] = {"cat", NULL};
    wv_popen_opts_t o = {.argv = argv};
    wv_popen_t *p;
    wv_bytes_t out;
    static char in[1 << 20];
    memset(in, 'w', sizeof in);
    o.in.how = o.out.how = WV_STDIO_PIPE;
    WVT_OK(wv_popen_new(&p, &o));
    WVT_OK(wv_popen_communicate(p, in, sizeof in, &out, NULL,
                                wv_deadline_in(20000)));
    WVT_EQ(out.len, sizeof in);
    WVT_ASSERT(memcmp(out.data, in, sizeof in) == 0);
    wv_popen_free(p);
    wv_event_set(&ev);
    return NULL;
}

WVT_TEST(sched_subprocess_communicate_parks_the_coroutine)
{
    wv_event_init(&ev);
    ticks = 0;
    WVT_OK(wv_go(run_cat, NULL));
    WVT_OK(wv_go(ticker, NULL));
    WVT_OK(wv_coro_run(wv_deadline_in(30000)));
    WVT_GT(ticks, 0);
}

/* -------------------------------------------------------------- faults */

static int spawn_and_run(void *arg)
{
    (void)arg;
    wv_coro_t *co;
    wv_group_t *g;
    wv_coro_opts_t o = {.name = "faulty"};
    int err = wv_coro_spawn(&co, &o, ret_arg_plus_one, NULL);
    if (err)
        return err;
    err = wv_group_new(&g);
    if (!err) {
        err = wv_group_spawn(g, NULL, bump, NULL);
        WVT_OK(wv_group_join(g, WV_FOREVER));
        wv_group_free(g);
    }
    WVT_OK(wv_coro_join(co, NULL, WV_FOREVER));
    wv_coro_free(co);
    wv__sched_trim(); /* recycled records count as live allocations */
    return err;
}

WVT_TEST(sched_failed_allocations)
{
    /* The scheduler exists before faults start: its making is covered by
     * the thread case below. */
    WVT_OK(wv_go(bump, NULL));
    WVT_OK(wv_coro_run(WV_FOREVER));
    wv__sched_trim();
    wvt_alloc_install();
    long points = wvt_faultsim(spawn_and_run, NULL);
    wvt_alloc_uninstall();
    WVT_GE(points, 3);
}

static void *sleep_5ms(void *arg)
{
    (void)arg;
    WVT_OK(wv_sleep_ms(5));
    counter++;
    return NULL;
}

WVT_TEST(sched_idle_wait_survives_eintr)
{
    counter = 0;
    for (int i = 0; i < 5; i++)
        WVT_OK(wv_go(sleep_5ms, NULL));
    wv__fault_futex_eintr(50);
    WVT_OK(wv_coro_run(wv_deadline_in(10000)));
    wv__fault_futex_eintr(0);
    WVT_EQ(counter, 5);
}

/* The RLock's owner is the coroutine, not the thread. */
static wv_rlock_t rl;

static void *try_rlock(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)wv_rlock_acquire(&rl, 0);
}

WVT_TEST(sched_rlock_owner_is_the_coroutine)
{
    wv_coro_t *co;
    void *res;

    wv_rlock_init(&rl);
    WVT_OK(wv_rlock_acquire(&rl, 0));
    WVT_OK(wv_rlock_acquire(&rl, 0)); /* main again: recursive */
    WVT_OK(wv_coro_spawn(&co, NULL, try_rlock, NULL));
    WVT_OK(wv_coro_join(co, &res, WV_FOREVER));
    WVT_EQ((intptr_t)res, WV_EAGAIN); /* another party */
    wv_coro_free(co);
    WVT_OK(wv_rlock_release(&rl));
    WVT_OK(wv_rlock_release(&rl));
}

/* ----------------------------------------------------------- stacks */

static int depth(int n)
{
    volatile char pad[512];
    pad[0] = (char)n;
    return n == 0 ? pad[0] : depth(n - 1) + pad[0];
}

static void *recurse_forever(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)depth(1 << 30);
}

static void overflow_child(void)
{
    wv_coro_opts_t o = {.name = "bottomless", .stack_size = 64 * 1024};
    WVT_OK(wv_coro_spawn(NULL, &o, recurse_forever, NULL));
    wv_coro_run(WV_FOREVER);
}

WVT_TEST(sched_stack_overflow_names_the_coroutine)
{
    int fds[2], status;
    char buf[4096];
    size_t len = 0;
    ssize_t r;

    WVT_EQ(pipe2(fds, O_CLOEXEC), 0);
    pid_t pid = fork();
    WVT_GE(pid, 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        overflow_child();
        _exit(0);
    }
    close(fds[1]);
    while (len + 1 < sizeof buf &&
           (r = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    close(fds[0]);
    WVT_EQ(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status))
        WVT_FAIL("status %#x; stderr was: %s", status, buf);
    WVT_EQ(WTERMSIG(status), SIGSEGV);
#if WEAVE_SANITIZER != 2
    if (!strstr(buf, "weave: stack overflow in coroutine \"bottomless\""))
        WVT_FAIL("no overflow message; stderr was: %s", buf);
#endif
}

/* 100k coroutines alive at once, each sleeping a random few ms. */
static void *nap(void *arg)
{
    WVT_OK(wv_sleep_ms((intptr_t)arg));
    counter++;
    return NULL;
}

WVT_TEST_TIMEOUT(sched_100k_alive_at_once, 120)
{
    /* TSan counts each live coroutine as a thread (at most 8128). */
#if WEAVE_SANITIZER == 2
    long n = 5000;
#else
    long n = wvt_sanitized() ? 10000 : 100000;
#endif
    wv_group_t *g;
    wv__stack_stats_t before, peak, after;
    unsigned seed = 12345;

    counter = 0;
    wv__stack_stats(&before);
    WVT_OK(wv_group_new(&g));
    for (long i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        WVT_OK(wv_group_spawn(g, NULL, nap,
                              (void *)(intptr_t)(1 + (seed >> 16) % 20)));
    }
    WVT_ERR(wv_coro_run(0), WV_EAGAIN); /* every one started and parked */
    wv__stack_stats(&peak);
    WVT_GE(peak.mapped - before.mapped, n - 64); /* all alive at once */
    WVT_OK(wv_group_join(g, wv_deadline_in(60000)));
    WVT_EQ(counter, n);
    wv_group_free(g);
    wv__stack_pool_drain();
    wv__stack_stats(&after);
    WVT_LE(after.mapped, before.mapped);
}

/* ------------------------------------------------------------- review */

/* A negative descriptor is bad input, cheap to detect: WV_EBADF at once,
 * not a sleep until the deadline (poll(2) ignores negative entries). */
static void *fdwait_negative(void *arg)
{
    (void)arg;
    short rev = 1;
    int64_t t0 = wv_now();
    WVT_ERR(wv_fdwait(-1, POLLIN, &rev, wv_deadline_in(2000)), WV_EBADF);
    WVT_ERR(wv_fdwait(-5, POLLOUT, &rev, 0), WV_EBADF);
    WVT_LT(wv_now() - t0, 1000);
    return NULL;
}

WVT_TEST(sched_fdwait_negative_fd_is_ebadf)
{
    wv_coro_t *co;
    fdwait_negative(NULL); /* a thread without a scheduler */
    WVT_OK(wv_coro_spawn(&co, NULL, fdwait_negative, NULL));
    WVT_OK(wv_coro_join(co, NULL, wv_deadline_in(10000)));
    wv_coro_free(co);
    fdwait_negative(NULL); /* the thread's own code, with a scheduler */
    WVT_OK(wv_coro_run(WV_FOREVER));
}

/* "No effect on one that has returned": wv_coro_is_cancelled stays false
 * when the cancel comes after the end, from this thread or another. */
static void cancel_from_thread(void *arg)
{
    wv_coro_cancel(arg);
}

WVT_TEST(sched_cancel_after_return_has_no_effect)
{
    wv_coro_t *co;
    char buf[2];

    WVT_OK(wv_coro_spawn(&co, NULL, ret_arg_plus_one, buf));
    WVT_OK(wv_coro_join(co, NULL, WV_FOREVER));
    wv_coro_cancel(co);
    WVT_ASSERT(!wv_coro_is_cancelled(co));
    wvt_join(wvt_spawn(cancel_from_thread, co));
    WVT_ASSERT(!wv_coro_is_cancelled(co));
    void *res = NULL;
    WVT_OK(wv_coro_join(co, &res, 0));
    WVT_ASSERT(res == buf + 1);
    wv_coro_free(co);
    WVT_OK(wv_coro_run(WV_FOREVER));
}

/* A kick from another thread takes the owner's idle word, then writes
 * the owner's eventfd.  If the owner wakes meanwhile for another reason,
 * finishes and gives its descriptors back (wv_coro_run), the eventfd's
 * number may belong to a new descriptor by the time the kicker writes:
 * eight bytes into somebody else's pipe.  The hook holds the kicker
 * between the two steps while the owner does exactly that. */
static int kick_fds[2], victim[2];
static int owner_tid, owner_reopened, kick_done, stray_bytes, kick_held;
static wv_event_t kick_ev;

static void *wait_kick_pipe(void *arg)
{
    (void)arg;
    WVT_OK(wv_fdwait(kick_fds[0], POLLIN, NULL, wv_deadline_in(10000)));
    return NULL;
}

static void kick_owner(void *arg)
{
    (void)arg;
    __atomic_store_n(&owner_tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
    WVT_OK(wv_go(wait_kick_pipe, NULL));
    /* Parks: the thread sleeps in epoll_wait (a descriptor is watched). */
    WVT_OK(wv_event_wait(&kick_ev, wv_deadline_in(10000)));
    WVT_OK(wv_coro_run(wv_deadline_in(10000))); /* closes the loop's fds */
    WVT_EQ(pipe2(victim, O_CLOEXEC | O_NONBLOCK), 0);
    __atomic_store_n(&owner_reopened, 1, __ATOMIC_RELEASE);
    WVT_POLL(__atomic_load_n(&kick_done, __ATOMIC_ACQUIRE), 10000);
    struct pollfd p = {.fd = victim[0], .events = POLLIN};
    __atomic_store_n(&stray_bytes, poll(&p, 1, 0), __ATOMIC_RELEASE);
    close(victim[0]);
    close(victim[1]);
}

static void held_kicker(void)
{
    wv__fault_kick(NULL);
    kick_held++;
    /* Wake the owner another way, then give it time to reopen. */
    WVT_EQ(write(kick_fds[1], "x", 1), 1);
    int64_t end = wv_now() + 300;
    while (!__atomic_load_n(&owner_reopened, __ATOMIC_ACQUIRE) &&
           wv_now() < end)
        wvt_pause();
}

/* true when thread tid sleeps in epoll_wait or epoll_pwait with a
 * timeout, or in io_uring_enter waiting for a completion (the io_uring
 * backend's idle wait) (/proc/.../syscall: number, then the arguments in
 * hex). */
static bool in_epoll_wait(int tid)
{
    char path[64], buf[256] = "";
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool got = fgets(buf, sizeof buf, f) != NULL;
    fclose(f);
    long nr = -1, timeout = 0;
    unsigned long a0, a1, a2;
    if (got && sscanf(buf, "%ld %lx %lx %lx %lx", &nr, &a0, &a1, &a2,
                      (unsigned long *)&timeout) != 5)
        return false;
#ifdef SYS_epoll_wait
    if (nr == SYS_epoll_wait)
        return timeout != 0;
#endif
#ifdef SYS_io_uring_enter
    if (nr == SYS_io_uring_enter) /* a2: min_complete */
        return a2 > 0;
#endif
    return nr == SYS_epoll_pwait && timeout != 0;
}

WVT_TEST(sched_kick_never_writes_a_reused_descriptor)
{
    WVT_EQ(pipe2(kick_fds, O_CLOEXEC | O_NONBLOCK), 0);
    wv_event_init(&kick_ev);
    owner_tid = owner_reopened = kick_done = kick_held = 0;
    stray_bytes = -1;
    wvt_thread_t *t = wvt_spawn(kick_owner, NULL);
    WVT_POLL(__atomic_load_n(&owner_tid, __ATOMIC_ACQUIRE) != 0, 10000);
    WVT_POLL(in_epoll_wait(owner_tid), 10000);
    wv__fault_kick(held_kicker);
    wv_event_set(&kick_ev); /* a remote wake-up: inbox, then kick */
    wv__fault_kick(NULL);
    __atomic_store_n(&kick_done, 1, __ATOMIC_RELEASE);
    wvt_join(t);
    WVT_EQ(kick_held, 1); /* the owner was asleep in epoll_wait */
    WVT_EQ(stray_bytes, 0);
    close(kick_fds[0]);
    close(kick_fds[1]);
}

/* A fork copies only the calling thread, and of its parties only the
 * one that forked goes on in the child.  The child must not run copies of
 * the thread's other coroutines, nor collect from the parent's epoll set
 * (shared across fork): a readiness the child took was lost to the
 * parent's coroutine.  Forked from the thread's own code, then from a
 * coroutine (the child's coroutine then sleeps: only it runs). */
static int fork_fds[2];
static int reader_ran_in;

static void *fork_reader(void *arg)
{
    (void)arg;
    int err = wv_fdwait(fork_fds[0], POLLIN, NULL, wv_deadline_in(10000));
    __atomic_store_n(&reader_ran_in, (int)getpid(), __ATOMIC_RELAXED);
    return (void *)(intptr_t)err;
}

/* Forks; the child waits in weave a little and reports whether the
 * reader's copy ran.  Returns the child's exit status. */
static void *fork_and_wait(void *arg)
{
    int status;
    int pid = wv_fork();
    WVT_GE(pid, 0);
    if (pid == 0) {
        int err = arg ? wv_sleep_ms(50) : wv_coro_run(wv_deadline_in(2000));
        _exit(err == 0 && reader_ran_in != (int)getpid() ? 0 : 1);
    }
    WVT_EQ(waitpid(pid, &status, 0), pid);
    return (void *)(intptr_t)status;
}

WVT_TEST(sched_fork_child_has_only_the_forking_party)
{
    for (int from_coro = 0; from_coro < 2; from_coro++) {
        wv_coro_t *rd, *fk;
        void *res = (void *)1, *status = NULL;

        reader_ran_in = 0;
        WVT_EQ(pipe2(fork_fds, O_CLOEXEC | O_NONBLOCK), 0);
        WVT_OK(wv_coro_spawn(&rd, NULL, fork_reader, NULL));
        WVT_ERR(wv_coro_run(0), WV_EAGAIN);    /* it waits on the pipe */
        WVT_EQ(write(fork_fds[1], "x", 1), 1); /* ready, not collected */
        if (from_coro) {
            WVT_OK(wv_coro_spawn(&fk, NULL, fork_and_wait, &fk));
            WVT_OK(wv_coro_join(fk, &status, wv_deadline_in(10000)));
            wv_coro_free(fk);
        } else {
            status = fork_and_wait(NULL);
        }
        WVT_ASSERT(WIFEXITED((int)(intptr_t)status));
        WVT_EQ(WEXITSTATUS((int)(intptr_t)status), 0);
        WVT_OK(wv_coro_join(rd, &res, wv_deadline_in(2000)));
        WVT_EQ((intptr_t)res, 0);
        WVT_EQ(reader_ran_in, (int)getpid());
        wv_coro_free(rd);
        WVT_OK(wv_coro_run(WV_FOREVER));
        close(fork_fds[0]);
        close(fork_fds[1]);
    }
}

/* wv_local is coroutine-local (weave/sync.h: "with coroutines, in every
 * coroutine"); a coroutine's values are destroyed when it returns, and
 * the thread's own value is its own. */
static wv_local_t coro_local;
static int local_dtors;

static void count_dtor(void *value)
{
    (void)value;
    local_dtors++;
}

static void *own_local(void *arg)
{
    WVT_ASSERT(wv_local_get(&coro_local) == NULL);
    WVT_OK(wv_local_set(&coro_local, arg));
    for (int i = 0; i < 3; i++) {
        WVT_OK(wv_coro_yield());
        WVT_ASSERT(wv_local_get(&coro_local) == arg);
    }
    return NULL;
}

WVT_TEST(sched_local_is_per_coroutine)
{
    static char a, b, m;
    wv_coro_t *ca, *cb;

    local_dtors = 0;
    WVT_OK(wv_local_init(&coro_local, count_dtor));
    WVT_OK(wv_local_set(&coro_local, &m));
    WVT_OK(wv_coro_spawn(&ca, NULL, own_local, &a));
    WVT_OK(wv_coro_spawn(&cb, NULL, own_local, &b));
    WVT_OK(wv_coro_join(ca, NULL, WV_FOREVER));
    WVT_OK(wv_coro_join(cb, NULL, WV_FOREVER));
    WVT_ASSERT(wv_local_get(&coro_local) == &m);
    WVT_EQ(local_dtors, 2); /* a's and b's, at their return */
    wv_coro_free(ca);
    wv_coro_free(cb);
    WVT_OK(wv_coro_run(WV_FOREVER));
    wv_local_destroy(&coro_local); /* the thread's value */
    WVT_EQ(local_dtors, 3);
}

/* A descriptor number that is not open is WV_EBADF whatever its size.  A
 * coroutine's wait sized the loop's per-descriptor table by the number
 * first: (INT_MAX - 1) asked for tens of GiB (WV_ENOMEM where that
 * fails; where it does not, all of it was zeroed). */
static void *fdwait_huge_number(void *arg)
{
    (void)arg;
    WVT_ERR(wv_fdwait(INT_MAX - 1, POLLIN, NULL, wv_deadline_in(1000)),
            WV_EBADF);
    return NULL;
}

WVT_TEST(sched_fdwait_closed_huge_fd_is_ebadf)
{
    wv_coro_t *co;
    fdwait_huge_number(NULL);
    WVT_OK(wv_coro_spawn(&co, NULL, fdwait_huge_number, NULL));
    WVT_OK(wv_coro_join(co, NULL, wv_deadline_in(10000)));
    wv_coro_free(co);
    WVT_OK(wv_coro_run(WV_FOREVER));
}

/* A wait that ends without its descriptor firing (a time-out) leaves no
 * registration armed behind it: if the descriptor's number is then
 * closed and reused while its old description lives on elsewhere (a dup,
 * a forked child's copy), the old one's hang-up must not be reported to
 * whoever waits on the number next. */
static void *fdwait_number_reused(void *arg)
{
    int p[2], n[2];
    short rev = 0;
    (void)arg;
    WVT_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    WVT_ERR(wv_fdwait(p[0], POLLIN, NULL, wv_deadline_in(10)), WV_ETIMEDOUT);
    int num = p[0], keep = fcntl(p[0], F_DUPFD_CLOEXEC, 100);
    WVT_GE(keep, 0);
    close(p[0]);
    close(p[1]); /* the old description is hung up now */
    WVT_EQ(pipe2(n, O_CLOEXEC | O_NONBLOCK), 0);
    if (n[0] != num) { /* put the new pipe on the old number */
        WVT_EQ(dup3(n[0], num, O_CLOEXEC), num);
        close(n[0]);
    }
    WVT_ERR(wv_fdwait(num, POLLIN, &rev, wv_deadline_in(50)), WV_ETIMEDOUT);
    WVT_EQ(write(n[1], "x", 1), 1);
    WVT_OK(wv_fdwait(num, POLLIN, &rev, wv_deadline_in(1000)));
    WVT_EQ(rev, POLLIN);
    close(num);
    close(n[1]);
    close(keep);
    return NULL;
}

WVT_TEST(sched_fdwait_reused_number_gets_no_stale_event)
{
    wv_coro_t *co;
    WVT_OK(wv_coro_spawn(&co, NULL, fdwait_number_reused, NULL));
    WVT_OK(wv_coro_join(co, NULL, wv_deadline_in(10000)));
    wv_coro_free(co);
    WVT_OK(wv_coro_run(WV_FOREVER));
}

/* A thread that exits cancels every coroutine left, those spawned while
 * it runs them to their end included: a cancelled coroutine whose clean-up
 * spawns a helper that waits must not keep the thread from ending. */
static void *helper_waits(void *arg)
{
    (void)arg;
    wv_event_t never;
    wv_event_init(&never);
    return (void *)(intptr_t)wv_event_wait(&never, WV_FOREVER);
}

static void *cleanup_spawns(void *arg)
{
    (void)arg;
    wv_event_t never;
    wv_event_init(&never);
    WVT_ERR(wv_event_wait(&never, WV_FOREVER), WV_ECANCELED);
    WVT_OK(wv_go(helper_waits, NULL)); /* spawned while the thread exits */
    return NULL;
}

static int leave_cleanup_spawner(void *arg)
{
    (void)arg;
    WVT_OK(wv_go(cleanup_spawns, NULL));
    WVT_ERR(wv_coro_run(0), WV_EAGAIN);
    return 0;
}

WVT_TEST(sched_thread_exit_cancels_coroutines_spawned_meanwhile)
{
    wv_thread_t *t;
    WVT_OK(wv_thread_start(&t, NULL, leave_cleanup_spawner, NULL));
    WVT_OK(wv_thread_join(t, NULL, wv_deadline_in(5000)));
    wv_thread_free(t);
}

/* The multi-descriptor wait from a coroutine: a descriptor epoll refuses
 * (always ready) does not hide the state of the others; no descriptor is
 * a sleep to the deadline, as poll's. */
static void *fds_mixed(void *arg)
{
    (void)arg;
    int p[2];
    WVT_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    WVT_EQ(write(p[1], "x", 1), 1);
    int f = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    WVT_GE(f, 0);
    struct pollfd fds[3] = {
        {.fd = f, .events = POLLIN},
        {.fd = p[0], .events = POLLIN},
        {.fd = -1, .events = POLLIN},
    };
    WVT_OK(wv__fds_wait(fds, 3, wv_deadline_in(1000)));
    WVT_ASSERT(fds[0].revents & POLLIN);
    WVT_ASSERT(fds[1].revents & POLLIN);
    WVT_EQ(fds[2].revents, 0);
    int64_t t0 = wv_now();
    WVT_ERR(wv__fds_wait(NULL, 0, wv_deadline_in(20)), WV_ETIMEDOUT);
    WVT_GE(wv_now() - t0, 20);
    WVT_ERR(wv__fds_wait(NULL, 0, 0), WV_EAGAIN);
    close(f);
    close(p[0]);
    close(p[1]);
    return NULL;
}

WVT_TEST(sched_fds_wait_mixed_and_empty)
{
    wv_coro_t *co;
    WVT_OK(wv_coro_spawn(&co, NULL, fds_mixed, NULL));
    WVT_OK(wv_coro_join(co, NULL, wv_deadline_in(10000)));
    wv_coro_free(co);
    WVT_OK(wv_coro_run(WV_FOREVER));
}

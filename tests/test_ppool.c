/*
 * tests/test_ppool.c - the pool of processes: the pool API over worker
 * processes, and what Python's Pool cannot survive (workers killed in
 * every phase, tasks that crash or never return, terminate while tasks
 * run).  The runner fails a case that leaves a process or descriptor.
 */
#include "runner.h"

#include "pool/internal.h"
#include "proc/internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static wv_pool_t *make(unsigned workers, unsigned maxtasks)
{
    wv_pool_t *p;
    wv_pool_opts_t o = {.kind = WV_POOL_PROCESSES,
                        .workers = workers,
                        .maxtasksperchild = maxtasks};
    WVT_OK(wv_pool_new(&p, &o));
    return p;
}

/* ------------------------------------------------------------ tasks */

/* Returns {getpid(), x * x}. */
struct pid_sq {
    int pid;
    long sq;
};

static int pid_square(wv_task_t *t, const void *arg, size_t len)
{
    long x;
    if (len != sizeof x)
        return WV_EINVAL;
    memcpy(&x, arg, sizeof x);
    struct pid_sq r = {getpid(), x * x};
    return wv_task_return(t, &r, sizeof r);
}

static int square(wv_task_t *t, const void *arg, size_t len)
{
    (void)len;
    long x = *(const long *)arg, sq = x * x;
    return wv_task_return(t, &sq, sizeof sq);
}

static int get_pid(wv_task_t *t, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    int pid = getpid();
    return wv_task_return(t, &pid, sizeof pid);
}

/* Fails items whose value is 13 with WV_EMFILE (any recognisable code). */
static int square_or_fail(wv_task_t *t, const void *arg, size_t len)
{
    (void)len;
    long x = *(const long *)arg;
    if (x == 13)
        return WV_EMFILE;
    long sq = x * x;
    return wv_task_return(t, &sq, sizeof sq);
}

/* What a task does, by its argument. */
enum { DO_OK, DO_KILL, DO_SEGV, DO_EXIT, DO_HANG };

/* Shared with the workers (mapped before the pool forks them): a hanging
 * task counts itself in before it hangs. */
static uint32_t *hanging;

static void share_hanging(void)
{
    if (!hanging)
        hanging = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    WVT_ASSERT(hanging != MAP_FAILED);
    __atomic_store_n(hanging, 0, __ATOMIC_SEQ_CST);
}

static int act(wv_task_t *t, const void *arg, size_t len)
{
    (void)len;
    int what = *(const int *)arg;
    switch (what) {
    case DO_KILL:
        raise(SIGKILL);
        break;
    case DO_SEGV: { /* a real fault: a store to a page with no access */
        volatile int *page =
            mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        signal(SIGSEGV, SIG_DFL);
        *page = 1;
        break;
    }
    case DO_EXIT:
        _exit(3);
    case DO_HANG:
        if (hanging)
            __atomic_add_fetch(hanging, 1, __ATOMIC_SEQ_CST);
        for (;;)
            pause();
    default:
        break;
    }
    int pid = getpid();
    return wv_task_return(t, &pid, sizeof pid);
}

static int apply_act(wv_pool_t *p, int what, int64_t deadline, int *pid)
{
    return wv_pool_apply(p, act, &what, sizeof what, pid, sizeof *pid, NULL,
                         deadline);
}

/* ------------------------------------------------------------ basics */

WVT_TEST(ppool_apply_runs_in_other_processes)
{
    wv_pool_t *p = make(2, 0);
    WVT_EQ(wv_pool_workers(p), 2);
    for (long x = 0; x < 50; x++) {
        struct pid_sq r;
        size_t n;
        WVT_OK(wv_pool_apply(p, pid_square, &x, sizeof x, &r, sizeof r, &n, -1));
        WVT_EQ(n, sizeof r);
        WVT_EQ(r.sq, x * x);
        WVT_NE(r.pid, getpid());
    }
    wv_pool_close(p);
    WVT_OK(wv_pool_join(p, -1));
    wv_pool_free(p);
}

WVT_TEST(ppool_default_size_is_cpu_count)
{
    wv_pool_t *p;
    wv_pool_opts_t o = {.kind = WV_POOL_PROCESSES};
    WVT_OK(wv_pool_new(&p, &o));
    WVT_EQ(wv_pool_workers(p), wv_cpu_count());
    wv_pool_free(p);
}

static struct {
    int results, errors;
    long sum;
    int err;
} cbs;

static void on_result(const void *res, size_t len, void *arg)
{
    (void)arg;
    WVT_EQ(len, sizeof(long));
    cbs.sum += *(const long *)res;
    cbs.results++;
}

static void on_error(int err, void *arg)
{
    (void)arg;
    cbs.err = err;
    cbs.errors++;
}

WVT_TEST(ppool_apply_async_callbacks_exactly_once)
{
    wv_pool_t *p = make(2, 0);
    wv_task_opts_t o = {.callback = on_result, .error_callback = on_error};
    long want = 0;

    memset(&cbs, 0, sizeof cbs);
    for (long x = 0; x < 200; x++) {
        WVT_OK(wv_pool_apply_async(p, &o, square_or_fail, &x, sizeof x, NULL));
        if (x != 13)
            want += x * x;
    }
    wv_pool_close(p);
    WVT_OK(wv_pool_join(p, -1));
    WVT_EQ(cbs.results, 199);
    WVT_EQ(cbs.errors, 1);
    WVT_EQ(cbs.err, WV_EMFILE);
    WVT_EQ(cbs.sum, want);
    wv_pool_free(p);
}

WVT_TEST(ppool_map_and_failing_item)
{
    enum { N = 200000 };
    wv_pool_t *p = make(2, 0);
    long *in = malloc(N * sizeof *in), *out = malloc(N * sizeof *out);
    size_t failed = 0;

    WVT_ASSERT(in && out);
    for (long i = 0; i < N; i++)
        in[i] = i + 100;
    WVT_OK(wv_pool_map(p, NULL, square, in, N, sizeof *in, out, sizeof *out, NULL));
    for (long i = 0; i < N; i++)
        WVT_EQ(out[i], (i + 100) * (i + 100));
    /* One failing item: its code and index. */
    for (long i = 0; i < N; i++)
        in[i] = i == 77777 ? 13 : i + 100;
    WVT_ERR(wv_pool_map(p, NULL, square_or_fail, in, N, sizeof *in, out, sizeof *out, &failed),
            WV_EMFILE);
    WVT_EQ(failed, 77777);
    /* Explicit small chunks: many round trips. */
    wv_task_opts_t o = {.chunksize = 7};
    for (long i = 0; i < N; i++)
        in[i] = i;
    WVT_OK(wv_pool_map(p, &o, square, in, 5000, sizeof *in, out, sizeof *out, NULL));
    for (long i = 0; i < 5000; i++)
        WVT_EQ(out[i], i * i);
    free(in);
    free(out);
    wv_pool_free(p);
}

/* starmap: records of several arguments. */
struct pair {
    int a, b;
};

static int add_pair(wv_task_t *t, const void *arg, size_t len)
{
    (void)len;
    const struct pair *pr = arg;
    int sum = pr->a + pr->b;
    return wv_task_return(t, &sum, sizeof sum);
}

WVT_TEST(ppool_starmap_records)
{
    struct pair in[1000];
    int out[1000];
    wv_pool_t *p = make(2, 0);
    for (int i = 0; i < 1000; i++)
        in[i] = (struct pair){i, 3 * i};
    WVT_OK(wv_pool_map(p, NULL, add_pair, in, 1000, sizeof in[0], out, sizeof out[0], NULL));
    for (int i = 0; i < 1000; i++)
        WVT_EQ(out[i], 4 * i);
    wv_pool_free(p);
}

static void check_imap(bool unordered)
{
    enum { N = 3000 };
    static long in[N];
    static bool seen[N];
    wv_pool_t *p = make(2, 0);
    wv_imap_t *it;
    wv_task_opts_t o = {.chunksize = 64};

    memset(seen, 0, sizeof seen);
    for (long i = 0; i < N; i++)
        in[i] = i == 1234 ? 13 : i + 20;
    if (unordered)
        WVT_OK(wv_pool_imap_unordered(p, &o, square_or_fail, in, N, sizeof in[0], sizeof(long), &it));
    else
        WVT_OK(wv_pool_imap(p, &o, square_or_fail, in, N, sizeof in[0], sizeof(long), &it));
    size_t idx, count = 0;
    const void *res;
    int rc;
    while ((rc = wv_imap_next(it, &idx, &res, -1)) != WV_EOF) {
        WVT_LT(idx, N);
        WVT_ASSERT(!seen[idx]);
        seen[idx] = true;
        if (!unordered)
            WVT_EQ(idx, count);
        if (idx == 1234) {
            WVT_ERR(rc, WV_EMFILE);
        } else {
            WVT_OK(rc);
            WVT_EQ(*(const long *)res, (long)(idx + 20) * (long)(idx + 20));
        }
        count++;
    }
    WVT_EQ(count, N);
    wv_imap_free(it);
    wv_pool_free(p);
}

WVT_TEST(ppool_imap_ordered)
{
    check_imap(false);
}

WVT_TEST(ppool_imap_unordered)
{
    check_imap(true);
}

/* Arguments and results far larger than the first window, both ways. */
static int echo_doubled(wv_task_t *t, const void *arg, size_t len)
{
    char *out = malloc(2 * len);
    if (!out)
        return WV_ENOMEM;
    memcpy(out, arg, len);
    memcpy(out + len, arg, len);
    int rc = wv_task_return(t, out, 2 * len);
    free(out);
    return rc;
}

WVT_TEST(ppool_large_arguments_and_results)
{
    size_t len = (size_t)5 << 20;
    char *arg = malloc(len), *out = malloc(2 * len);
    wv_pool_t *p = make(1, 0);
    WVT_ASSERT(arg && out);
    for (size_t i = 0; i < len; i++)
        arg[i] = (char)(i * 31 + 7);
    for (int round = 0; round < 3; round++) {
        size_t n = 0;
        WVT_OK(wv_pool_apply(p, echo_doubled, arg, len, out, 2 * len, &n, -1));
        WVT_EQ(n, 2 * len);
        WVT_ASSERT(memcmp(out, arg, len) == 0);
        WVT_ASSERT(memcmp(out + len, arg, len) == 0);
        arg[round] ^= 1;
    }
    /* A small one after the big ones. */
    long x = 9, sq = 0;
    WVT_OK(wv_pool_apply(p, square, &x, sizeof x, &sq, sizeof sq, NULL, -1));
    WVT_EQ(sq, 81);
    free(arg);
    free(out);
    wv_pool_free(p);
}

/* ------------------------------------------------------- dead workers */

static void dies_and_pool_goes_on(int how)
{
    wv_pool_t *p = make(2, 0);
    int pid = 0;

    for (int round = 0; round < 3; round++) {
        WVT_ERR(apply_act(p, how, -1, &pid), WV_EWORKERLOST);
        /* Replaced: the pool still has its workers and runs tasks. */
        for (int i = 0; i < 4; i++) {
            WVT_OK(apply_act(p, DO_OK, -1, &pid));
            WVT_NE(pid, getpid());
        }
        WVT_EQ(wv_pool_workers(p), 2);
    }
    wv_pool_close(p);
    WVT_OK(wv_pool_join(p, -1));
    wv_pool_free(p);
}

WVT_TEST(ppool_task_killed_fails_with_workerlost)
{
    dies_and_pool_goes_on(DO_KILL);
}

WVT_TEST(ppool_task_segfault_fails_with_workerlost)
{
    dies_and_pool_goes_on(DO_SEGV);
}

WVT_TEST(ppool_task_exit_fails_with_workerlost)
{
    dies_and_pool_goes_on(DO_EXIT);
}

/* Killed from outside while idle: it held nothing, so nothing fails. */
WVT_TEST(ppool_worker_killed_idle_fails_nothing)
{
    wv_pool_t *p = make(1, 0);
    int pid = 0, pid2 = 0;

    WVT_OK(apply_act(p, DO_OK, -1, &pid));
    WVT_OK(kill(pid, SIGKILL));
    /* Whenever the dispatcher notices, no task fails for it. */
    for (int i = 0; i < 20; i++) {
        WVT_OK(apply_act(p, DO_OK, -1, &pid2));
        WVT_NE(pid2, pid);
    }
    wv_pool_free(p);
}

/* Killed from outside in the middle of a task: that task, only; the tasks
 * queued behind it run on the replacement. */
WVT_TEST(ppool_worker_killed_mid_task)
{
    share_hanging();
    wv_pool_t *p = make(1, 0);
    wv_future_t *f, *g[10];
    int hang = DO_HANG, pid = 0, victim = 0;

    WVT_OK(wv_pool_apply_async(p, NULL, act, &hang, sizeof hang, &f));
    for (long i = 0; i < 10; i++)
        WVT_OK(wv_pool_apply_async(p, NULL, square, &i, sizeof i, &g[i]));
    WVT_POLL(__atomic_load_n(hanging, __ATOMIC_SEQ_CST) == 1, 10000);
    WVT_EQ(wv__pw_pids(p, &victim, 1), 1);
    WVT_OK(kill(victim, SIGKILL));
    WVT_OK(wv_future_wait(f, wv_now() + 30000));
    WVT_ERR(wv_future_get(f, NULL, NULL, 0), WV_EWORKERLOST);
    wv_future_unref(f);
    for (long i = 0; i < 10; i++) {
        const void *res;
        WVT_OK(wv_future_wait(g[i], wv_now() + 30000));
        WVT_OK(wv_future_get(g[i], &res, NULL, 0));
        WVT_EQ(*(const long *)res, i * i);
        wv_future_unref(g[i]);
    }
    WVT_OK(apply_act(p, DO_OK, -1, &pid));
    WVT_NE(pid, victim);
    wv_pool_free(p);
}

/* Killed after writing its result, before answering: the task it held
 * fails; the next ones run. */
WVT_TEST(ppool_worker_killed_while_returning)
{
    wv__pw_crash_at = WV__PW_CRASH_RETURNING;
    wv__pw_crash_after = 2; /* the third result of each child */
    wv_pool_t *p = make(1, 0);
    int pid, lost = 0, ok = 0;

    for (int i = 0; i < 9; i++) {
        int rc = apply_act(p, DO_OK, -1, &pid);
        if (rc == WV_EWORKERLOST)
            lost++;
        else {
            WVT_OK(rc);
            ok++;
        }
    }
    WVT_EQ(lost, 3);
    WVT_EQ(ok, 6);
    wv__pw_crash_at = 0;
    wv_pool_free(p);
}

/* Killed after picking a task up, before running it: it held it. */
WVT_TEST(ppool_worker_killed_after_taking)
{
    wv__pw_crash_at = WV__PW_CRASH_TAKEN;
    wv__pw_crash_after = 1;
    wv_pool_t *p = make(1, 0);
    int pid;
    WVT_OK(apply_act(p, DO_OK, -1, &pid));
    WVT_ERR(apply_act(p, DO_OK, -1, &pid), WV_EWORKERLOST);
    WVT_OK(apply_act(p, DO_OK, -1, &pid));
    wv__pw_crash_at = 0;
    wv_pool_free(p);
}

/* A map whose chunk's worker dies: the map fails at that item. */
static int die_at_500(wv_task_t *t, const void *arg, size_t len)
{
    (void)len;
    long x = *(const long *)arg;
    if (x == 500)
        raise(SIGKILL);
    return wv_task_return(t, &x, sizeof x);
}

WVT_TEST(ppool_map_worker_lost_names_the_item)
{
    long in[2000], out[2000];
    size_t failed = 0;
    wv_pool_t *p = make(2, 0);
    for (long i = 0; i < 2000; i++)
        in[i] = i;
    WVT_ERR(wv_pool_map(p, NULL, die_at_500, in, 2000, sizeof in[0], out, sizeof out[0], &failed),
            WV_EWORKERLOST);
    WVT_EQ(failed, 500);
    /* The pool goes on. */
    WVT_OK(wv_pool_map(p, NULL, square, in, 2000, sizeof in[0], out, sizeof out[0], NULL));
    WVT_EQ(out[1999], 1999L * 1999);
    wv_pool_free(p);
}

/* ---------------------------------------------------------- deadlines */

WVT_TEST(ppool_task_past_deadline_is_killed)
{
    wv_pool_t *p = make(1, 0);
    int pid;
    WVT_ERR(apply_act(p, DO_HANG, wv_now() + 100, &pid), WV_ETIMEDOUT);
    WVT_OK(apply_act(p, DO_OK, -1, &pid)); /* a fresh worker */
    /* With a future and callbacks too. */
    wv_task_opts_t o = {.deadline = wv_now() + 100};
    wv_future_t *f;
    int hang = DO_HANG;
    WVT_OK(wv_pool_apply_async(p, &o, act, &hang, sizeof hang, &f));
    WVT_OK(wv_future_wait(f, wv_now() + 30000));
    WVT_ERR(wv_future_get(f, NULL, NULL, 0), WV_ETIMEDOUT);
    wv_future_unref(f);
    WVT_OK(apply_act(p, DO_OK, -1, &pid));
    wv_pool_free(p);
}

static int hang_at_7(wv_task_t *t, const void *arg, size_t len)
{
    (void)len;
    long x = *(const long *)arg;
    while (x == 7)
        pause();
    return wv_task_return(t, &x, sizeof x);
}

WVT_TEST(ppool_map_deadline_kills_a_hanging_item)
{
    long in[100], out[100];
    wv_pool_t *p = make(2, 0);
    for (long i = 0; i < 100; i++)
        in[i] = i;
    wv_task_opts_t o = {.deadline = wv_now() + 200, .chunksize = 5};
    WVT_ERR(wv_pool_map(p, &o, hang_at_7, in, 100, sizeof in[0], out, sizeof out[0], NULL),
            WV_ETIMEDOUT);
    WVT_OK(wv_pool_map(p, NULL, square, in, 100, sizeof in[0], out, sizeof out[0], NULL));
    wv_pool_free(p);
}

/* ------------------------------------------------- life cycle, options */

WVT_TEST(ppool_maxtasksperchild_recycles)
{
    enum { TASKS = 12 };
    wv_pool_t *p = make(2, 3);
    int pids[TASKS];
    for (int i = 0; i < TASKS; i++)
        WVT_OK(wv_pool_apply(p, get_pid, NULL, 0, &pids[i], sizeof(int), NULL, -1));
    /* No process ran more than 3 tasks. */
    for (int i = 0; i < TASKS; i++) {
        int same = 0;
        for (int j = 0; j < TASKS; j++)
            same += pids[j] == pids[i];
        WVT_LE(same, 3);
    }
    WVT_EQ(wv_pool_workers(p), 2);
    wv_pool_free(p);
}

static int init_value;

static int set_init(void *arg)
{
    init_value = *(int *)arg;
    return init_value == 99 ? WV_EMFILE : 0;
}

static int read_init(wv_task_t *t, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return wv_task_return(t, &init_value, sizeof init_value);
}

static int crash_init(void *arg)
{
    (void)arg;
    raise(SIGKILL);
    return 0;
}

WVT_TEST(ppool_initializer_runs_in_each_child)
{
    static int v = 42;
    wv_pool_t *p;
    wv_pool_opts_t o = {.kind = WV_POOL_PROCESSES,
                        .workers = 2,
                        .initializer = set_init,
                        .initarg = &v,
                        .maxtasksperchild = 1};
    WVT_OK(wv_pool_new(&p, &o));
    for (int i = 0; i < 5; i++) { /* every replacement ran it too */
        int got = 0;
        WVT_OK(wv_pool_apply(p, read_init, NULL, 0, &got, sizeof got, NULL, -1));
        WVT_EQ(got, 42);
    }
    WVT_EQ(init_value, 0); /* never in the parent */
    wv_pool_free(p);

    static int bad = 99;
    o.initarg = &bad;
    WVT_ERR(wv_pool_new(&p, &o), WV_EMFILE);
    o.initializer = crash_init;
    WVT_ERR(wv_pool_new(&p, &o), WV_EWORKERLOST);
}

WVT_TEST(ppool_terminate_cancels_running_tasks)
{
    share_hanging();
    wv_pool_t *p = make(2, 0);
    wv_future_t *f[6];
    int hang = DO_HANG;
    for (int i = 0; i < 6; i++)
        WVT_OK(wv_pool_apply_async(p, NULL, act, &hang, sizeof hang, &f[i]));
    /* Two run (hanging), four wait: all fail with WV_ECANCELED. */
    WVT_POLL(__atomic_load_n(hanging, __ATOMIC_SEQ_CST) == 2, 10000);
    wv_pool_terminate(p);
    WVT_OK(wv_pool_join(p, wv_now() + 30000));
    for (int i = 0; i < 6; i++) {
        WVT_OK(wv_future_wait(f[i], 0));
        WVT_ERR(wv_future_get(f[i], NULL, NULL, 0), WV_ECANCELED);
        wv_future_unref(f[i]);
    }
    wv_pool_free(p);
}

WVT_TEST(ppool_free_with_tasks_queued)
{
    for (int round = 0; round < 5; round++) {
        wv_pool_t *p = make(2, 0);
        wv_future_t *f[50];
        for (long i = 0; i < 50; i++)
            WVT_OK(wv_pool_apply_async(p, NULL, square, &i, sizeof i, &f[i]));
        wv_pool_free(p); /* terminates: nothing left behind */
        for (int i = 0; i < 50; i++) {
            WVT_OK(wv_future_wait(f[i], 0));
            int rc = wv_future_get(f[i], NULL, NULL, 0);
            WVT_ASSERT(rc == 0 || rc == WV_ECANCELED);
            wv_future_unref(f[i]);
        }
    }
}

/* A task may not use the pool it inherited. */
static int use_pool(wv_task_t *t, const void *arg, size_t len)
{
    (void)len;
    wv_pool_t *p;
    memcpy(&p, arg, sizeof p);
    long x = 2;
    int rc = wv_pool_apply(p, square, &x, sizeof x, NULL, 0, NULL, -1);
    return wv_task_return(t, &rc, sizeof rc);
}

WVT_TEST(ppool_inherited_pool_is_refused_in_a_worker)
{
    wv_pool_t *p = make(1, 0);
    int rc = 0;
    WVT_OK(wv_pool_apply(p, use_pool, &p, sizeof p, &rc, sizeof rc, NULL, -1));
    WVT_ERR(rc, WV_EPERM);
    wv_pool_free(p);
}

/* -------------------------------------------------------------- stress */

static int sometimes_die(wv_task_t *t, const void *arg, size_t len)
{
    (void)len;
    long x = *(const long *)arg;
    if (x % 17 == 5)
        raise(SIGKILL);
    return wv_task_return(t, &x, sizeof x);
}

static struct {
    wv_lock_t mu;
    int ok, lost, other;
    long sum;
} tally;

static void tally_ok(const void *res, size_t len, void *arg)
{
    (void)arg;
    WVT_EQ(len, sizeof(long));
    tally.sum += *(const long *)res;
    tally.ok++;
}

static void tally_err(int err, void *arg)
{
    (void)arg;
    if (err == WV_EWORKERLOST)
        tally.lost++;
    else
        tally.other++;
}

WVT_TEST_TIMEOUT(ppool_stress_workers_dying_at_random, 120)
{
    long n = wvt_scale(100);
    wv_pool_t *p = make(3, 7);
    wv_task_opts_t o = {.callback = tally_ok, .error_callback = tally_err};
    long want_sum = 0, want_lost = 0;

    memset(&tally, 0, sizeof tally);
    for (long x = 0; x < n; x++) {
        WVT_OK(wv_pool_apply_async(p, &o, sometimes_die, &x, sizeof x, NULL));
        if (x % 17 == 5)
            want_lost++;
        else
            want_sum += x;
    }
    wv_pool_close(p);
    WVT_OK(wv_pool_join(p, -1));
    /* Every task accounted for once; exactly the dying ones lost. */
    WVT_EQ(tally.lost, want_lost);
    WVT_EQ(tally.ok, n - want_lost);
    WVT_EQ(tally.other, 0);
    WVT_EQ(tally.sum, want_sum);
    wv_pool_free(p);
}

/* ----------------------------------------------------- injected faults */

/* Creating a process pool with the nth allocation failing: every path
 * returns WV_ENOMEM and leaves nothing behind (the runner checks processes
 * and descriptors; faultsim checks allocations).  (Submissions are not
 * faulted here: a submitter's inbox that cannot be allocated falls back to
 * the shared FIFO, by design.) */
static int pool_life(void *arg)
{
    (void)arg;
    wv_pool_t *p;
    wv_pool_opts_t o = {.kind = WV_POOL_PROCESSES, .workers = 2};
    int err = wv_pool_new(&p, &o);
    if (err)
        return err;
    wv_pool_close(p);
    err = wv_pool_join(p, -1);
    wv_pool_free(p);
    return err;
}

WVT_TEST_TIMEOUT(ppool_failed_allocations, 120)
{
    WVT_GT(wvt_faultsim(pool_life, NULL), 5);
}

/* Every futex wait of the children and the parent returns early, as if a
 * signal had interrupted it: the retry paths run, nothing is lost. */
WVT_TEST(ppool_interrupted_waits)
{
    wv__fault_futex_eintr(100000); /* inherited by the children */
    wv_pool_t *p = make(2, 0);
    wv_task_opts_t o = {.callback = on_result, .error_callback = on_error};
    memset(&cbs, 0, sizeof cbs);
    long want = 0;
    for (long x = 0; x < 300; x++) {
        WVT_OK(wv_pool_apply_async(p, &o, square, &x, sizeof x, NULL));
        want += x * x;
    }
    wv_pool_close(p);
    WVT_OK(wv_pool_join(p, -1));
    WVT_EQ(cbs.results, 300);
    WVT_EQ(cbs.sum, want);
    wv_pool_free(p);
    wv__fault_futex_eintr(0);
}

/* ----------------------------------------------------- threaded parents */

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;

/* Returns whether the worker could take the mutex and stdout's lock (as
 * trylocks: a worker that inherited them held must not hang the test). */
static int take_locks(wv_task_t *t, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    int got = 0;
    if (pthread_mutex_trylock(&held) == 0) {
        got |= 1;
        pthread_mutex_unlock(&held);
    }
    if (ftrylockfile(stdout) == 0) {
        got |= 2;
        funlockfile(stdout);
    }
    return wv_task_return(t, &got, sizeof got);
}

struct holder {
    wv_event_t taken, release;
};

static void hold_locks(void *arg)
{
    struct holder *h = arg;
    pthread_mutex_lock(&held);
    flockfile(stdout);
    wv_event_set(&h->taken);
    wv_event_wait(&h->release, -1);
    funlockfile(stdout);
    pthread_mutex_unlock(&held);
}

/* Workers, replacements included, are forked from the pool's fork server,
 * a copy of the program when the pool was made: locks that another thread
 * takes later are free in every worker (a plain fork would copy them
 * held). */
WVT_TEST(ppool_workers_do_not_inherit_locks_held_later)
{
    struct holder h = {WV_EVENT_INIT, WV_EVENT_INIT};
    wv_pool_t *p = make(2, 1); /* a fresh child for every task */
    wvt_thread_t *t = wvt_spawn(hold_locks, &h);
    WVT_OK(wv_event_wait(&h.taken, -1));
    for (int i = 0; i < 6; i++) {
        int got = 0;
        WVT_OK(wv_pool_apply(p, take_locks, NULL, 0, &got, sizeof got, NULL, -1));
        WVT_EQ(got, 3);
    }
    wv_event_set(&h.release);
    wvt_join(t);
    wv_pool_free(p);
}

/* ------------------------------------------------ found by the review */

/* Shared with the workers: [0] children started, [1] starts of the task. */
static uint32_t *counts;

static int count_child(void *arg)
{
    (void)arg;
    __atomic_add_fetch(&counts[0], 1, __ATOMIC_SEQ_CST);
    return 0;
}

static int count_start(wv_task_t *t, const void *arg, size_t len)
{
    (void)t;
    (void)arg;
    (void)len;
    __atomic_add_fetch(&counts[1], 1, __ATOMIC_SEQ_CST);
    return 0;
}

/* A request nobody picked up by its deadline (the child is stopped) fails
 * with WV_ETIMEDOUT: one child is replaced and the task never starts (it
 * was once sent again and again, to child after child). */
WVT_TEST(ppool_deadline_before_pickup_runs_nothing)
{
    counts = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    WVT_ASSERT(counts != MAP_FAILED);
    wv_pool_opts_t o = {
        .kind = WV_POOL_PROCESSES, .workers = 1, .initializer = count_child};
    wv_pool_t *p;
    WVT_OK(wv_pool_new(&p, &o));
    for (int round = 0; round < 5; round++) {
        int victim, pid;
        WVT_EQ(wv__pw_pids(p, &victim, 1), 1);
        WVT_OK(kill(victim, SIGSTOP));
        uint32_t c0 = counts[0], t0 = counts[1];
        WVT_ERR(wv_pool_apply(p, count_start, "x", 1, NULL, 0, NULL, wv_now() + 50),
                WV_ETIMEDOUT);
        /* One worker: this returns once the dispatcher is done with it. */
        WVT_OK(wv_pool_apply(p, get_pid, NULL, 0, &pid, sizeof pid, NULL, -1));
        WVT_EQ(counts[1] - t0, 0); /* never started */
        WVT_EQ(counts[0] - c0, 1); /* exactly one replacement */
    }
    wv_pool_free(p);
    munmap(counts, 4096);
}

static int ret_bytes(wv_task_t *t, const void *arg, size_t len)
{
    size_t n;
    (void)len;
    memcpy(&n, arg, sizeof n);
    char *b = malloc(n);
    if (!b)
        return WV_ENOMEM;
    memset(b, 7, n);
    int rc = wv_task_return(t, b, n);
    free(b);
    return rc;
}

/* An argument of argsz bytes that asks for a result of res bytes. */
static int ret_call(wv_pool_t *p, size_t argsz, size_t res)
{
    char *arg = calloc(1, argsz);
    WVT_ASSERT(arg);
    memcpy(arg, &res, sizeof res);
    int rc = wv_pool_apply(p, ret_bytes, arg, argsz, NULL, 0, NULL, -1);
    free(arg);
    return rc;
}

/* A child that grew the window and died before telling: the parent once
 * grew from its stale size, cutting the file under the next child
 * (SIGBUS). */
WVT_TEST(ppool_window_after_a_child_died_growing_it)
{
    wv__pw_crash_at = WV__PW_CRASH_RETURNING;
    wv__pw_crash_after = 2; /* each child dies at its third result */
    wv_pool_t *p = make(1, 0);
    WVT_OK(ret_call(p, 8, 8));
    WVT_OK(ret_call(p, 8, 8));
    WVT_ERR(ret_call(p, 8, 8 << 20), WV_EWORKERLOST); /* grew it, died */
    WVT_OK(ret_call(p, 2 << 20, 8));                  /* the parent grows it */
    WVT_OK(ret_call(p, 8, 8 << 20));
    wv__pw_crash_at = 0;
    wv_pool_free(p);
}

static wv_pool_t *cb_pool;
static int cb_pid, cb_rc = 1;
static uint32_t cb_done;

static void apply_from_callback(const void *res, size_t len, void *arg)
{
    (void)res;
    (void)len;
    (void)arg;
    cb_rc = wv_pool_apply(cb_pool, get_pid, NULL, 0, &cb_pid, sizeof cb_pid,
                          NULL, -1);
    __atomic_store_n(&cb_done, 1, __ATOMIC_SEQ_CST);
}

/* A process pool's task never runs in the parent, even when a callback
 * applies it (a thread pool runs it inline there). */
WVT_TEST(ppool_apply_from_a_callback_runs_in_a_worker)
{
    cb_pool = make(1, 0);
    wv_task_opts_t o = {.callback = apply_from_callback};
    WVT_OK(wv_pool_apply_async(cb_pool, &o, get_pid, NULL, 0, NULL));
    WVT_POLL(__atomic_load_n(&cb_done, __ATOMIC_SEQ_CST), 10000);
    WVT_OK(cb_rc);
    WVT_NE(cb_pid, getpid());
    wv_pool_free(cb_pool);
}

/* Terminate racing the replacement of dying workers: every task fails
 * with WV_ECANCELED or its own WV_EWORKERLOST, never WV_EBROKEN. */
WVT_TEST_TIMEOUT(ppool_terminate_while_workers_are_replaced, 120)
{
    int rounds = (int)wvt_scale(10);
    for (int r = 0; r < rounds; r++) {
        wv_pool_t *p = make(2, 0);
        wv_future_t *f[20];
        int die = DO_KILL;
        for (int i = 0; i < 20; i++)
            WVT_OK(wv_pool_apply_async(p, NULL, act, &die, sizeof die, &f[i]));
        /* Terminate at a different moment each round. */
        WVT_POLL(wv_future_is_ready(f[r % 10]), 10000);
        wv_pool_terminate(p);
        WVT_OK(wv_pool_join(p, wv_now() + 30000));
        for (int i = 0; i < 20; i++) {
            int rc = wv_future_get(f[i], NULL, NULL, 0);
            WVT_ASSERT(rc == WV_ECANCELED || rc == WV_EWORKERLOST);
            wv_future_unref(f[i]);
        }
        wv_pool_free(p);
    }
}

/* With the program's fork server, the workers are its children; once it
 * is stopped the pool breaks, and never forks the threaded parent. */
WVT_TEST(ppool_program_fork_server_stopped_breaks_the_pool)
{
    WVT_OK(wv_forkserver_start());
    int server = wv__forkserver_pid();
    wv_pool_t *p = make(1, 0);
    int pid = 0;
    WVT_OK(apply_act(p, DO_OK, -1, &pid));
    WVT_EQ(wv__pw_pids(p, &pid, 1), 1);
    int worker = pid;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    WVT_ASSERT(f && fgets(buf, sizeof buf, f));
    fclose(f);
    int ppid = 0;
    WVT_EQ(sscanf(strrchr(buf, ')') + 2, "%*c %d", &ppid), 1);
    WVT_EQ(ppid, server);
    wv_forkserver_stop(); /* its daemon children die with it */
    int rc = apply_act(p, DO_OK, -1, &pid);
    WVT_ASSERT(rc == WV_EWORKERLOST || rc == WV_EBROKEN);
    WVT_ERR(apply_act(p, DO_OK, -1, &pid), WV_EBROKEN);
    wv_pool_free(p);
    /* The server leaves its children to init, which reaps them. */
    WVT_POLL(kill(worker, 0) != 0, 10000);
}

/* The case: a pool created while another thread holds locks that
 * tasks need.  With the program's fork server started first (as
 * pool.h asks of such programs), every worker is a fork of the server's
 * clean image: the tasks take the locks. */
WVT_TEST(ppool_created_while_a_thread_holds_locks)
{
    WVT_OK(wv_forkserver_start()); /* first, while single-threaded */
    struct holder h = {WV_EVENT_INIT, WV_EVENT_INIT};
    wvt_thread_t *t = wvt_spawn(hold_locks, &h);
    WVT_OK(wv_event_wait(&h.taken, -1));
    wv_pool_t *p = make(2, 1); /* made now, a fresh child per task */
    for (int i = 0; i < 6; i++) {
        int got = 0;
        WVT_OK(wv_pool_apply(p, take_locks, NULL, 0, &got, sizeof got, NULL, -1));
        WVT_EQ(got, 3);
    }
    wv_pool_free(p);
    wv_event_set(&h.release);
    wvt_join(t);
    wv_forkserver_stop();
}

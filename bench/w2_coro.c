/*
 * bench/w2_coro.c - W2 for weave (BENCH.md): spawning coroutines, and the
 * memory a blocked coroutine holds.  The peers' versions are in
 * peers/go/w2_spawn.go and peers/py/w2_spawn.py.
 *
 * spawn: N = 1M wv_group_spawn into one group (made before timing) of a
 * body that bumps a counter, then wv_group_join; timed from the first
 * spawn until the join returns, counter checked.  The counter is a plain
 * long: coroutines of one thread never run at once.  Extra row spawn_go:
 * the same with wv_go (detached) and wv_coro_run.
 *
 * mem: N = 100k coroutines (default options) each blocked in
 * wv_event_wait on one shared wv_event_t; B/coroutine = (RSS once all have
 * reached the wait - RSS just before the first spawn) / N, RSS from
 * /proc/self/statm; then the event is set and the group joined (checked).
 * One measurement per fresh process, as the peers: weave-bench starts
 * itself again (/proc/self/exe --w2-mem, which runs bench_w2_mem_child and
 * prints the value alone) 3 times and reports the median.
 */
#include "common.h"
#include "weave_bench.h"

#include <weave/coro.h>
#include <weave/sync.h>

#include <sys/wait.h>
#include <unistd.h>

#define N_SPAWN 1000000L
#define N_MEM   100000L
#define RUNS    5
#define PROCS   3 /* mem: fresh processes, one measurement each */

/* ---------------------------------------------------------------- spawn */

static void *bump(void *arg)
{
    (*(long *)arg)++;
    return NULL;
}

static double spawn_group_once(void)
{
    wv_group_t *g;
    long counter = 0;

    BENCH_CHECK(wv_group_new(&g) == 0);
    double t0 = bench_now();
    for (long i = 0; i < N_SPAWN; i++)
        BENCH_CHECK(wv_group_spawn(g, NULL, bump, &counter) == 0);
    BENCH_CHECK(wv_group_join(g, WV_FOREVER) == 0);
    double t1 = bench_now();
    BENCH_CHECK(counter == N_SPAWN);
    BENCH_CHECK(wv_group_count(g) == 0);
    wv_group_free(g);
    return (t1 - t0) * 1e9 / (double)N_SPAWN;
}

static double spawn_go_once(void)
{
    long counter = 0;

    double t0 = bench_now();
    for (long i = 0; i < N_SPAWN; i++)
        BENCH_CHECK(wv_go(bump, &counter) == 0);
    BENCH_CHECK(wv_coro_run(WV_FOREVER) == 0);
    double t1 = bench_now();
    BENCH_CHECK(counter == N_SPAWN);
    return (t1 - t0) * 1e9 / (double)N_SPAWN;
}

static void measure(const char *metric, double (*once)(void))
{
    double runs[RUNS];

    once(); /* warm-up */
    for (int i = 0; i < RUNS; i++)
        runs[i] = once();
    bench_report("W2", "weave", metric, runs, RUNS, "ns");
}

/* ------------------------------------------------------------------ mem */

static long rss_bytes(void)
{
    long size, resident;
    FILE *f = fopen("/proc/self/statm", "r");
    BENCH_CHECK(f != NULL);
    BENCH_CHECK(fscanf(f, "%ld %ld", &size, &resident) == 2);
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

struct blocked {
    wv_event_t ev;
    long reached, woken;
};

static void *blocked_body(void *arg)
{
    struct blocked *b = arg;
    b->reached++;
    BENCH_CHECK(wv_event_wait(&b->ev, WV_FOREVER) == 0);
    b->woken++;
    return NULL;
}

int bench_w2_mem_child(void)
{
    static struct blocked b;
    wv_group_t *g;

    wv_event_init(&b.ev);
    BENCH_CHECK(wv_group_new(&g) == 0);
    long before = rss_bytes();
    for (long i = 0; i < N_MEM; i++)
        BENCH_CHECK(wv_group_spawn(g, NULL, blocked_body, &b) == 0);
    /* From the thread's own code a yield runs every runnable coroutine
     * once: each gets to its wait and parks there. */
    for (int i = 0; i < 2 && b.reached < N_MEM; i++)
        BENCH_CHECK(wv_coro_yield() == 0);
    BENCH_CHECK(b.reached == N_MEM && b.woken == 0);
    long after = rss_bytes();
    wv_event_set(&b.ev);
    BENCH_CHECK(wv_group_join(g, WV_FOREVER) == 0);
    BENCH_CHECK(b.woken == N_MEM);
    wv_group_free(g);
    wv_event_destroy(&b.ev);
    printf("%.6g\n", (double)(after - before) / (double)N_MEM);
    return 0;
}

/* Runs `weave-bench --w2-mem` afresh and returns what it printed. */
static double mem_in_child(void)
{
    int fds[2];
    char buf[64];
    size_t len = 0;
    ssize_t r;
    int status;

    BENCH_CHECK(pipe(fds) == 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    BENCH_CHECK(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        if (dup2(fds[1], 1) < 0)
            _exit(127);
        close(fds[1]);
        execl("/proc/self/exe", "weave-bench", "--w2-mem", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    while (len < sizeof buf - 1 &&
           (r = read(fds[0], buf + len, sizeof buf - 1 - len)) != 0) {
        BENCH_CHECK(r > 0);
        len += (size_t)r;
    }
    close(fds[0]);
    BENCH_CHECK(waitpid(pid, &status, 0) == pid);
    BENCH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    buf[len] = '\0';
    char *end;
    double v = strtod(buf, &end);
    BENCH_CHECK(end != buf && v > 0);
    return v;
}

void bench_w2(void)
{
    double runs[PROCS];

    measure("spawn", spawn_group_once);
    measure("spawn_go", spawn_go_once);
    for (int i = 0; i < PROCS; i++)
        runs[i] = mem_in_child();
    bench_report("W2", "weave", "mem", runs, PROCS, "B");
}

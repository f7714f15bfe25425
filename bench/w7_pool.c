/*
 * bench/w7_pool.c - W7 (BENCH.md): a pool of 2 worker processes, created
 * and started before timing (one small map first), a fresh pool for each
 * of 3 runs.
 *
 *   map_sq    wv_pool_map of f(x) = x * x over N longs (records in, records
 *             out, results in order, checked); items/s.  The result array
 *             is malloc'd inside the timed region, as Python's Pool.map
 *             builds its result list there; extra rows: weave-warm-out
 *             (one array, written by every run) and weave-cow (the
 *             same without the program's fork server: see bench_w7).
 *   burn_eff  a map of 200 items with the automatic chunk size (25, as
 *             Python's Pool.map), each burning 5 ms of its process's CPU
 *             time and returning its item, as the Python peer's; the
 *             results are collected and their sum checked; the ideal
 *             (200 x 5 ms / 2 = 0.5 s) over the elapsed time.  Reported again
 * as the peer weave-chunk1 with one task per item (chunksize 1): 200 round
 * trips to the children.
 */
#include "common.h"
#include "weave_bench.h"

#include <weave.h>

#include <sys/mman.h>

#define N_SQ  1000000L /* BENCH.md: N = 1M, as Python's Pool.map */
#define RUNS  3
#define BURNS 200

static int square(wv_task_t *t, const void *arg, size_t len)
{
    (void)len;
    long x = *(const long *)arg, r = x * x;
    return wv_task_return(t, &r, sizeof r);
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int burn(wv_task_t *t, const void *arg, size_t len)
{
    (void)len;
    double end = cpu_now() + 0.005;
    while (cpu_now() < end)
        ;
    return wv_task_return(t, arg, sizeof(long)); /* its item, as Python's */
}

static wv_pool_t *pool_of_two(long *in, long *out)
{
    wv_pool_opts_t opts = {.kind = WV_POOL_PROCESSES, .workers = 2};
    wv_pool_t *p;
    BENCH_CHECK(wv_pool_new(&p, &opts) == 0);
    BENCH_CHECK(wv_pool_map(p, NULL, square, in, 100, sizeof *in, out,
                            sizeof *out, NULL) == 0);
    return p;
}

/* Pages no earlier workload of this process touched: the fork server
 * started below shares none of them. */
static void *fresh_pages(size_t size)
{
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    BENCH_CHECK(m != MAP_FAILED);
    return m;
}

/* One timed map_sq into out, or into an array malloc'd inside the timed
 * region when out is NULL (as Python's Pool.map builds its result list). */
static double map_sq_once(wv_pool_t *p, long *in, long *out)
{
    double t0 = bench_now();
    long *res = out ? out : malloc(N_SQ * sizeof *res);
    BENCH_CHECK(res != NULL);
    BENCH_CHECK(wv_pool_map(p, NULL, square, in, N_SQ, sizeof *in, res,
                            sizeof *res, NULL) == 0);
    double t1 = bench_now();
    for (long i = 0; i < N_SQ; i++)
        BENCH_CHECK(res[i] == i * i);
    if (out)
        memset(out, 0, N_SQ * sizeof *out);
    else
        free(res);
    return (double)N_SQ / (t1 - t0);
}

void bench_w7(void)
{
    /* The program's fork server, started first thing, as docs/pool.md
     * advises for process pools: the pools' children come from a copy of
     * the program taken before the arrays below existed, so writing the
     * results into them copies no page (see the extra row). */
    BENCH_CHECK(wv_forkserver_start() == 0);

    size_t bytes = N_SQ * sizeof(long);
    long *in = fresh_pages(bytes), *out = fresh_pages(bytes);
    long idx[BURNS], res[BURNS];
    double sq[RUNS], sqwarm[RUNS], sqcow[RUNS], eff[RUNS], eff1[RUNS];

    for (long i = 0; i < N_SQ; i++)
        in[i] = i;
    for (long i = 0; i < BURNS; i++)
        idx[i] = i;
    for (int r = 0; r < RUNS; r++) {
        wv_pool_t *p = pool_of_two(in, out);
        sq[r] = map_sq_once(p, in, NULL);
        wv_pool_free(p);
        p = pool_of_two(in, out);
        sqwarm[r] = map_sq_once(p, in, out);
        wv_pool_free(p);

        for (size_t chunk = 0; chunk < 2; chunk++) {
            p = pool_of_two(in, out);
            wv_task_opts_t o = WV_TASK_OPTS_INIT;
            o.chunksize = chunk;
            double t0 = bench_now();
            memset(res, 0, sizeof res);
            BENCH_CHECK(wv_pool_map(p, &o, burn, idx, BURNS, sizeof idx[0], res,
                                    sizeof res[0], NULL) == 0);
            long sum = 0;
            for (long i = 0; i < BURNS; i++)
                sum += res[i];
            double t1 = bench_now();
            BENCH_CHECK(sum == (long)BURNS * (BURNS - 1) / 2);
            (chunk ? eff1 : eff)[r] = (BURNS * 0.005 / 2) / (t1 - t0);
            wv_pool_free(p);
        }
    }
    wv_forkserver_stop();

    /* weave-cow (extra): no program fork server, so each pool forks its
     * own from the program as it is at the pool's creation, arrays
     * included: every first write of a result page copies it and flushes
     * the TLBs of the pool's threads (copy on write). */
    for (int r = 0; r < RUNS; r++) {
        wv_pool_t *p = pool_of_two(in, out);
        sqcow[r] = map_sq_once(p, in, out);
        wv_pool_free(p);
    }
    bench_report("W7", "weave", "map_sq", sq, RUNS, "items/s");
    bench_report("W7", "weave-warm-out", "map_sq", sqwarm, RUNS, "items/s");
    bench_report("W7", "weave-cow", "map_sq", sqcow, RUNS, "items/s");
    bench_report("W7", "weave", "burn_eff", eff, RUNS, "ratio");
    bench_report("W7", "weave-chunk1", "burn_eff", eff1, RUNS, "ratio");
    munmap(in, bytes);
    munmap(out, bytes);
}

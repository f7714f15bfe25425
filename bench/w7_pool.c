/*
 * bench/w7_pool.c - W7 (BENCH.md): a pool of 2 worker processes, created
 * and started before timing (one small map first), a fresh pool for each
 * of 3 runs.
 *
 *   map_sq    wv_pool_map of f(x) = x * x over N longs (records in, records
 *             out, results in order, checked); items/s.
 *   burn_eff  a map of 200 items with the automatic chunk size (25, as
 *             Python's Pool.map), each burning 5 ms of its process's CPU
 *             time and returning its item, as the Python peer's; the
 *             results are collected and their sum checked; the ideal
 *             (200 x 5 ms / 2 = 0.5 s) over the elapsed time.  Reported again as the peer weave-chunk1 with one task
 *             per item (chunksize 1): 200 round trips to the children.
 */
#include "common.h"
#include "weave_bench.h"

#include <weave.h>

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

void bench_w7(void)
{
    long *in = malloc(N_SQ * sizeof *in), *out = malloc(N_SQ * sizeof *out);
    long idx[BURNS], res[BURNS];
    double sq[RUNS], eff[RUNS], eff1[RUNS];

    BENCH_CHECK(in && out);
    for (long i = 0; i < N_SQ; i++)
        in[i] = i;
    for (long i = 0; i < BURNS; i++)
        idx[i] = i;
    for (int r = 0; r < RUNS; r++) {
        wv_pool_t *p = pool_of_two(in, out);
        double t0 = bench_now();
        BENCH_CHECK(wv_pool_map(p, NULL, square, in, N_SQ, sizeof *in, out,
                                sizeof *out, NULL) == 0);
        double t1 = bench_now();
        for (long i = 0; i < N_SQ; i++)
            BENCH_CHECK(out[i] == i * i);
        memset(out, 0, N_SQ * sizeof *out);
        sq[r] = (double)N_SQ / (t1 - t0);
        wv_pool_free(p);

        for (size_t chunk = 0; chunk < 2; chunk++) {
            p = pool_of_two(in, out);
            wv_task_opts_t o = WV_TASK_OPTS_INIT;
            o.chunksize = chunk;
            t0 = bench_now();
            memset(res, 0, sizeof res);
            BENCH_CHECK(wv_pool_map(p, &o, burn, idx, BURNS, sizeof idx[0],
                                    res, sizeof res[0], NULL) == 0);
            long sum = 0;
            for (long i = 0; i < BURNS; i++)
                sum += res[i];
            t1 = bench_now();
            BENCH_CHECK(sum == (long)BURNS * (BURNS - 1) / 2);
            (chunk ? eff1 : eff)[r] = (BURNS * 0.005 / 2) / (t1 - t0);
            wv_pool_free(p);
        }
    }
    bench_report("W7", "weave", "map_sq", sq, RUNS, "items/s");
    bench_report("W7", "weave", "burn_eff", eff, RUNS, "ratio");
    bench_report("W7", "weave-chunk1", "burn_eff", eff1, RUNS, "ratio");
    free(in);
    free(out);
}

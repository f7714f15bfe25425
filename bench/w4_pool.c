/*
 * bench/w4_pool.c - W4 (BENCH.md): a pool of 2 worker threads, created
 * before timing; timed: submit N empty tasks, then wait until all N have
 * finished.  Three ways, three metrics:
 *
 *   throughput          apply_async with no future (fire and forget, as
 *                       GLib's push and Go's `go` and channel send), then
 *                       close + join (as GLib's g_thread_pool_free(wait));
 *   throughput_futures  apply_async with a future each, then every future
 *                       waited for: the peers that return each task's
 *                       completion to the submitter (Python's submit +
 *                       wait, libuv's after_work callback) report this;
 *   map_items           one wv_pool_map over N ints (results checked), a
 *                       weave-only row.
 *
 * Each task of the first two does what the peers' tasks do (GLib's, libuv's
 * work callback, Go's): one relaxed atomic add to one shared counter; the
 * total is checked.
 */
#include "common.h"
#include "weave_bench.h"

#include <weave.h>

#define N    1000000L
#define RUNS 5

static long done; /* shared by the two workers, as the peers' counter */

static int bump(wv_task_t *t, const void *arg, size_t len)
{
    (void)t;
    (void)arg;
    (void)len;
    __atomic_fetch_add(&done, 1, __ATOMIC_RELAXED);
    return 0;
}

static int square(wv_task_t *t, const void *arg, size_t len)
{
    int x = *(const int *)arg, r = x * x;
    return wv_task_return(t, &r, sizeof r);
}

static wv_pool_t *pool_of_two(void)
{
    wv_pool_opts_t opts = {.workers = 2};
    wv_pool_t *p;
    BENCH_CHECK(wv_pool_new(&p, &opts) == 0);
    return p;
}

static long counted(void)
{
    return __atomic_exchange_n(&done, 0, __ATOMIC_ACQUIRE);
}

static double fire_and_forget(void)
{
    wv_pool_t *p = pool_of_two();
    double t0 = bench_now();
    for (long i = 0; i < N; i++)
        BENCH_CHECK(wv_pool_apply_async(p, NULL, bump, NULL, 0, NULL) == 0);
    wv_pool_close(p);
    BENCH_CHECK(wv_pool_join(p, WV_FOREVER) == 0);
    double t1 = bench_now();
    wv_pool_free(p);
    BENCH_CHECK(counted() == N);
    return (double)N / (t1 - t0);
}

static double with_futures(wv_pool_t *p, wv_future_t **f)
{
    double t0 = bench_now();
    for (long i = 0; i < N; i++)
        BENCH_CHECK(wv_pool_apply_async(p, NULL, bump, NULL, 0, &f[i]) == 0);
    for (long i = 0; i < N; i++)
        BENCH_CHECK(wv_future_wait(f[i], WV_FOREVER) == 0);
    double t1 = bench_now();
    for (long i = 0; i < N; i++)
        wv_future_unref(f[i]);
    BENCH_CHECK(counted() == N);
    return (double)N / (t1 - t0);
}

static double mapped(wv_pool_t *p, int *in, int *out)
{
    double t0 = bench_now();
    BENCH_CHECK(wv_pool_map(p, NULL, square, in, N, sizeof *in, out, sizeof *out, NULL) == 0);
    double t1 = bench_now();
    for (long i = 0; i < N; i++)
        BENCH_CHECK(out[i] == in[i] * in[i]);
    return (double)N / (t1 - t0);
}

void bench_w4(void)
{
    double runs[RUNS];

    fire_and_forget();
    for (int i = 0; i < RUNS; i++)
        runs[i] = fire_and_forget();
    bench_report("W4", "weave", "throughput", runs, RUNS, "tasks/s");

    wv_pool_t *p = pool_of_two();
    wv_future_t **f = malloc(N * sizeof *f);
    BENCH_CHECK(f);
    with_futures(p, f);
    for (int i = 0; i < RUNS; i++)
        runs[i] = with_futures(p, f);
    free(f);
    bench_report("W4", "weave", "throughput_futures", runs, RUNS, "tasks/s");

    int *in = malloc(N * sizeof *in), *out = malloc(N * sizeof *out);
    BENCH_CHECK(in && out);
    for (long i = 0; i < N; i++)
        in[i] = (int)(i % 30000);
    mapped(p, in, out);
    for (int i = 0; i < RUNS; i++)
        runs[i] = mapped(p, in, out);
    free(in);
    free(out);
    wv_pool_free(p);
    bench_report("W4", "weave", "map_items", runs, RUNS, "items/s");
}

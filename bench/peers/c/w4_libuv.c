/*
 * bench/peers/c/w4_libuv.c - W4 for libuv: uv_queue_work on libuv's
 * threadpool with UV_THREADPOOL_SIZE=2.  The N requests are allocated before
 * timing; timed: N x uv_queue_work from the loop's thread (a 3rd thread),
 * then uv_run until every after_work callback ran on it.  A work callback
 * bumps a counter on a pool thread, an after_work callback another on the
 * loop's thread.  libuv starts its threads at the first uv_queue_work: the
 * warm-up run does that before timing.
 *
 * Every task's completion is delivered back to the submitter (after_work,
 * on the loop's thread), as a future per task is: the metric is therefore
 * `throughput_futures`, compared with weave's apply_async with a future
 * per task, not with its fire-and-forget `throughput`.
 */
#include "common.h"

#include <stdatomic.h>
#include <uv.h>

#define N    1000000L
#define RUNS 5

static atomic_long ran; /* work callbacks, on the pool's threads */
static long finished;   /* after_work callbacks, on the loop's thread */
static long failed;

static void work(uv_work_t *req)
{
    atomic_fetch_add_explicit(&ran, 1, memory_order_relaxed);
}

static void after_work(uv_work_t *req, int status)
{
    finished++;
    failed += status != 0;
}

static double once(uv_loop_t *loop, uv_work_t *reqs)
{
    atomic_store(&ran, 0);
    finished = failed = 0;
    double t0 = bench_now();
    for (long i = 0; i < N; i++)
        failed += uv_queue_work(loop, &reqs[i], work, after_work) != 0;
    int alive = uv_run(loop, UV_RUN_DEFAULT);
    double t1 = bench_now();
    BENCH_CHECK(alive == 0 && failed == 0);
    BENCH_CHECK(finished == N && atomic_load(&ran) == N);
    return (double)N / (t1 - t0);
}

int main(void)
{
    static uv_loop_t loop;
    double runs[RUNS];

    /* Read once, at the threadpool's start: before any libuv call. */
    BENCH_CHECK(setenv("UV_THREADPOOL_SIZE", "2", 1) == 0);
    BENCH_CHECK(uv_loop_init(&loop) == 0);
    uv_work_t *reqs = calloc((size_t)N, sizeof *reqs);
    BENCH_CHECK(reqs != NULL);
    once(&loop, reqs);
    for (int i = 0; i < RUNS; i++)
        runs[i] = once(&loop, reqs);
    bench_report("W4", "libuv-uv_queue_work", "throughput_futures", runs, RUNS,
                 "tasks/s");
    BENCH_CHECK(uv_loop_close(&loop) == 0);
    free(reqs);
    return 0;
}

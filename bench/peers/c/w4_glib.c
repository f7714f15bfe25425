/*
 * bench/peers/c/w4_glib.c - W4 for GLib: a GThreadPool of 2 threads, shared
 * (exclusive=FALSE: its threads come from GLib's global set of threads and
 * are started by the pushes) and exclusive (its 2 threads are started by
 * g_thread_pool_new).  Each run creates a fresh pool before timing; timed:
 * N x g_thread_pool_push, then g_thread_pool_free(pool, FALSE, TRUE), which
 * returns once every task ran.  A task bumps a counter.
 */
#include "common.h"

#include <glib.h>
#include <stdatomic.h>

#define N    1000000L
#define RUNS 5

static atomic_long done;
static int token; /* every task's data: pushing NULL is not allowed */

static void task(gpointer data, gpointer user_data)
{
    atomic_fetch_add_explicit(&done, 1, memory_order_relaxed);
}

static double once(gboolean exclusive)
{
    GError *err = NULL;
    GThreadPool *pool = g_thread_pool_new(task, NULL, 2, exclusive, &err);
    long failed = 0;

    BENCH_CHECK(pool != NULL && err == NULL);
    atomic_store(&done, 0);
    double t0 = bench_now();
    for (long i = 0; i < N; i++)
        failed += !g_thread_pool_push(pool, &token, NULL);
    g_thread_pool_free(pool, FALSE, TRUE);
    double t1 = bench_now();
    BENCH_CHECK(failed == 0);
    BENCH_CHECK(atomic_load(&done) == N);
    return (double)N / (t1 - t0);
}

static void measure(const char *peer, gboolean exclusive)
{
    double runs[RUNS];
    once(exclusive);
    for (int i = 0; i < RUNS; i++)
        runs[i] = once(exclusive);
    bench_report("W4", peer, "throughput", runs, RUNS, "tasks/s");
}

int main(void)
{
    measure("glib-GThreadPool", FALSE);
    measure("glib-GThreadPool-exclusive", TRUE);
    return 0;
}

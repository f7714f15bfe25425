/*
 * bench/w5_lock.c - W5 for weave: wv_lock_t, uncontended and with two
 * threads contending (BENCH.md).  The peers' versions are in
 * peers/c/w5_lock.c (pthread mutex, C11 atomic), peers/go and peers/py.
 */
#include "common.h"
#include "weave_bench.h"

#include <weave.h>

#define N    10000000L /* uncontended lock+unlock pairs */
#define P    5000000L  /* increments per thread, contended */
#define RUNS 5

static double uncontended_once(void)
{
    wv_lock_t lock = WV_LOCK_INIT;
    double t0 = bench_now();
    for (long i = 0; i < N; i++) {
        wv_lock_acquire(&lock, WV_FOREVER);
        wv_lock_release(&lock);
    }
    double t1 = bench_now();
    BENCH_CHECK(!wv_lock_is_locked(&lock));
    return (t1 - t0) * 1e9 / (double)N;
}

struct contended {
    wv_lock_t lock;
    wv_barrier_t start;
    long counter;
    double t0;
};

static int incrementer(void *arg)
{
    struct contended *c = arg;
    if (wv_barrier_wait(&c->start, WV_FOREVER) == 1)
        c->t0 = bench_now(); /* the last to arrive starts the clock */
    for (long i = 0; i < P; i++) {
        wv_lock_acquire(&c->lock, WV_FOREVER);
        c->counter++;
        wv_lock_release(&c->lock);
    }
    return 0;
}

static double contended_once(void)
{
    struct contended c = {WV_LOCK_INIT, WV_BARRIER_INIT(2, NULL, NULL), 0, 0};
    wv_thread_t *t[2];
    for (int i = 0; i < 2; i++)
        BENCH_CHECK(wv_thread_start(&t[i], NULL, incrementer, &c) == 0);
    for (int i = 0; i < 2; i++) {
        /* join returns after the thread's body: good enough an end mark */
        BENCH_CHECK(wv_thread_join(t[i], NULL, WV_FOREVER) == 0);
        wv_thread_free(t[i]);
    }
    double t1 = bench_now();
    BENCH_CHECK(c.counter == 2 * P);
    return (t1 - c.t0) * 1e9 / (double)(2 * P);
}

void bench_w5(void)
{
    double runs[RUNS];

    uncontended_once(); /* warm-up */
    for (int i = 0; i < RUNS; i++)
        runs[i] = uncontended_once();
    bench_report("W5", "weave", "uncontended", runs, RUNS, "ns");

    contended_once();
    for (int i = 0; i < RUNS; i++)
        runs[i] = contended_once();
    bench_report("W5", "weave", "contended2", runs, RUNS, "ns");
}

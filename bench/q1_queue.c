/*
 * bench/q1_queue.c - Q1, an extra workload of weave's own (not in
 * BENCH.md): one producer thread puts N integers into a bounded
 * queue.Queue (maxsize 1024), one consumer thread gets them; items/s from
 * the first put to the last get.  The consumer checks the sum.  Peers:
 * peers/c/q1_queue.c (pthread mutex + condition variables), a Go buffered
 * channel, Python's queue.Queue.
 */
#include "common.h"
#include "weave_bench.h"

#include <weave.h>

#define N    2000000L
#define CAP  1024
#define RUNS 5

struct q1 {
    wv_queue_t *q;
    wv_barrier_t start;
    double t0;
    long sum;
};

static int producer(void *arg)
{
    struct q1 *b = arg;
    if (wv_barrier_wait(&b->start, WV_FOREVER) == 1)
        b->t0 = bench_now();
    for (long i = 1; i <= N; i++)
        if (wv_queue_put(b->q, (void *)(intptr_t)i, WV_FOREVER) != 0)
            return 1;
    return 0;
}

static int consumer(void *arg)
{
    struct q1 *b = arg;
    void *item;
    if (wv_barrier_wait(&b->start, WV_FOREVER) == 1)
        b->t0 = bench_now();
    for (long i = 0; i < N; i++) {
        if (wv_queue_get(b->q, &item, WV_FOREVER) != 0)
            return 1;
        b->sum += (long)(intptr_t)item;
    }
    return 0;
}

static double once(void)
{
    wv_queue_opts_t opts = {.kind = WV_QUEUE_FIFO, .maxsize = CAP};
    struct q1 b = {.start = WV_BARRIER_INIT(2, NULL, NULL)};
    wv_thread_t *p, *c;
    int rp, rc;

    BENCH_CHECK(wv_queue_new(&b.q, &opts) == 0);
    BENCH_CHECK(wv_thread_start(&c, NULL, consumer, &b) == 0);
    BENCH_CHECK(wv_thread_start(&p, NULL, producer, &b) == 0);
    BENCH_CHECK(wv_thread_join(c, &rc, WV_FOREVER) == 0 && rc == 0);
    double t1 = bench_now();
    BENCH_CHECK(wv_thread_join(p, &rp, WV_FOREVER) == 0 && rp == 0);
    wv_thread_free(p);
    wv_thread_free(c);
    wv_queue_free(b.q);
    BENCH_CHECK(b.sum == N * (N + 1) / 2);
    return (double)N / (t1 - b.t0);
}

void bench_q1(void)
{
    double runs[RUNS];

    once();
    for (int i = 0; i < RUNS; i++)
        runs[i] = once();
    bench_report("Q1", "weave", "items", runs, RUNS, "items/s");
}

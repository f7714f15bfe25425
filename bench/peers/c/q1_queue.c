/*
 * bench/peers/c/q1_queue.c - Q1 for raw C: the textbook bounded buffer, a
 * ring of 1024 items under a pthread mutex with two condition variables.
 */
#include "common.h"

#include <pthread.h>
#include <stdint.h>

#define N    2000000L
#define CAP  1024
#define RUNS 5

struct ring {
    pthread_mutex_t m;
    pthread_cond_t not_empty, not_full;
    long items[CAP];
    int head, len;
    pthread_barrier_t start;
    double t0;
    long sum;
};

static void *producer(void *arg)
{
    struct ring *r = arg;
    if (pthread_barrier_wait(&r->start) == PTHREAD_BARRIER_SERIAL_THREAD)
        r->t0 = bench_now();
    for (long i = 1; i <= N; i++) {
        pthread_mutex_lock(&r->m);
        while (r->len == CAP)
            pthread_cond_wait(&r->not_full, &r->m);
        r->items[(r->head + r->len++) % CAP] = i;
        pthread_cond_signal(&r->not_empty);
        pthread_mutex_unlock(&r->m);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct ring *r = arg;
    if (pthread_barrier_wait(&r->start) == PTHREAD_BARRIER_SERIAL_THREAD)
        r->t0 = bench_now();
    for (long i = 0; i < N; i++) {
        pthread_mutex_lock(&r->m);
        while (r->len == 0)
            pthread_cond_wait(&r->not_empty, &r->m);
        r->sum += r->items[r->head];
        r->head = (r->head + 1) % CAP;
        r->len--;
        pthread_cond_signal(&r->not_full);
        pthread_mutex_unlock(&r->m);
    }
    return NULL;
}

static double once(void)
{
    static struct ring r;
    pthread_t p, c;

    r = (struct ring){.m = PTHREAD_MUTEX_INITIALIZER,
                      .not_empty = PTHREAD_COND_INITIALIZER,
                      .not_full = PTHREAD_COND_INITIALIZER};
    pthread_barrier_init(&r.start, NULL, 2);
    BENCH_CHECK(pthread_create(&c, NULL, consumer, &r) == 0);
    BENCH_CHECK(pthread_create(&p, NULL, producer, &r) == 0);
    pthread_join(c, NULL);
    double t1 = bench_now();
    pthread_join(p, NULL);
    pthread_barrier_destroy(&r.start);
    BENCH_CHECK(r.sum == N * (N + 1) / 2);
    return (double)N / (t1 - r.t0);
}

int main(void)
{
    double runs[RUNS];
    once();
    for (int i = 0; i < RUNS; i++)
        runs[i] = once();
    bench_report("Q1", "c-pthread-mutex-cond", "items", runs, RUNS, "items/s");
    return 0;
}

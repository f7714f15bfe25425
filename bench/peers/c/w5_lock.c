/*
 * bench/peers/c/w5_lock.c - W5 for raw C: the default pthread mutex, and a
 * C11 seq_cst atomic fetch_add (the lower bound: no lock at all).
 */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>

#define N    10000000L
#define P    5000000L
#define RUNS 5

/* ------------------------------------------------------- pthread mutex */

static double mutex_uncontended(void)
{
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    double t0 = bench_now();
    for (long i = 0; i < N; i++) {
        pthread_mutex_lock(&m);
        pthread_mutex_unlock(&m);
    }
    return (bench_now() - t0) * 1e9 / (double)N;
}

struct shared {
    pthread_mutex_t m;
    pthread_barrier_t start;
    long counter;
    atomic_long acounter;
    double t0;
    int use_atomic;
};

static void *incrementer(void *arg)
{
    struct shared *s = arg;
    if (pthread_barrier_wait(&s->start) == PTHREAD_BARRIER_SERIAL_THREAD)
        s->t0 = bench_now();
    if (s->use_atomic) {
        for (long i = 0; i < P; i++)
            atomic_fetch_add(&s->acounter, 1);
        return NULL;
    }
    for (long i = 0; i < P; i++) {
        pthread_mutex_lock(&s->m);
        s->counter++;
        pthread_mutex_unlock(&s->m);
    }
    return NULL;
}

static double contended(int use_atomic)
{
    struct shared s = {.m = PTHREAD_MUTEX_INITIALIZER,
                       .use_atomic = use_atomic};
    pthread_t t[2];
    atomic_init(&s.acounter, 0);
    pthread_barrier_init(&s.start, NULL, 2);
    for (int i = 0; i < 2; i++)
        BENCH_CHECK(pthread_create(&t[i], NULL, incrementer, &s) == 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    double t1 = bench_now();
    pthread_barrier_destroy(&s.start);
    BENCH_CHECK((use_atomic ? atomic_load(&s.acounter) : s.counter) == 2 * P);
    return (t1 - s.t0) * 1e9 / (double)(2 * P);
}

/* ------------------------------------------------------------- atomic */

static double atomic_uncontended(void)
{
    atomic_long c;
    atomic_init(&c, 0);
    double t0 = bench_now();
    for (long i = 0; i < N; i++)
        atomic_fetch_add(&c, 1);
    double t = (bench_now() - t0) * 1e9 / (double)N;
    BENCH_CHECK(atomic_load(&c) == N);
    return t;
}

static void measure(const char *peer, const char *metric, double (*fn)(int),
                    int arg)
{
    double runs[RUNS];
    fn(arg);
    for (int i = 0; i < RUNS; i++)
        runs[i] = fn(arg);
    bench_report("W5", peer, metric, runs, RUNS, "ns");
}

static double mutex_unc(int unused)
{
    return mutex_uncontended();
}

static double atomic_unc(int unused)
{
    return atomic_uncontended();
}

int main(void)
{
    measure("c-pthread_mutex", "uncontended", mutex_unc, 0);
    measure("c-pthread_mutex", "contended2", contended, 0);
    measure("c-atomic-fetch_add", "uncontended", atomic_unc, 0);
    measure("c-atomic-fetch_add", "contended2", contended, 1);
    return 0;
}

/*
 * bench/w1_coro.c - W1 for weave: two coroutines on the main thread hand
 * control to each other through the scheduler, each calling wv_coro_yield
 * S/2 times (BENCH.md).  The peers' versions are in peers/c/w1_switch.c
 * (a hand-written switch, swapcontext), peers/go and peers/py.
 *
 * Both coroutines are spawned, then joined by the main thread, whose join
 * runs the scheduler.  Timed from the moment both have started (the first
 * one to see the other started takes t0) until the last one finished its
 * yields.  Checked: each side's count, and that after every yield the
 * other side had run in between (a yield that returned at once would
 * measure nothing).
 */
#include "common.h"
#include "weave_bench.h"

#include <weave/coro.h>

#define S    10000000L /* switches in all */
#define RUNS 5

struct w1 {
    long half;         /* yields per side */
    long count[2];     /* yields made by each side */
    int turn;          /* the side that ran last, -1 none yet */
    long out_of_turn;  /* yields after which the other had not run */
    int started, done; /* sides that started, that finished */
    double t0, t1;
};

struct w1_side {
    struct w1 *s;
    int me;
};

static void *switcher(void *arg)
{
    struct w1_side *side = arg;
    struct w1 *s = side->s;
    int me = side->me;

    s->started++;
    while (s->started < 2) /* the other side's stack is taken on its start */
        BENCH_CHECK(wv_coro_yield() == 0);
    if (s->t0 == 0)
        s->t0 = bench_now();
    for (long i = 0; i < s->half; i++) {
        s->out_of_turn += s->turn == me;
        s->turn = me;
        s->count[me]++;
        BENCH_CHECK(wv_coro_yield() == 0);
    }
    if (++s->done == 2)
        s->t1 = bench_now();
    return NULL;
}

static double switch_once(void)
{
    struct w1 s = {.half = S / 2, .turn = -1};
    struct w1_side sides[2] = {{&s, 0}, {&s, 1}};
    wv_coro_t *co[2];

    for (int i = 0; i < 2; i++)
        BENCH_CHECK(wv_coro_spawn(&co[i], NULL, switcher, &sides[i]) == 0);
    for (int i = 0; i < 2; i++) {
        BENCH_CHECK(wv_coro_join(co[i], NULL, WV_FOREVER) == 0);
        wv_coro_free(co[i]);
    }
    BENCH_CHECK(s.count[0] == s.half && s.count[1] == s.half);
    BENCH_CHECK(s.out_of_turn == 0);
    return (s.t1 - s.t0) * 1e9 / (double)(2 * s.half);
}

void bench_w1(void)
{
    double runs[RUNS];

    switch_once(); /* warm-up: the scheduler is made, stacks pooled */
    for (int i = 0; i < RUNS; i++)
        runs[i] = switch_once();
    bench_report("W1", "weave", "switch", runs, RUNS, "ns");
}

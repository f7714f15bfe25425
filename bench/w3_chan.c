/*
 * bench/w3_chan.c - W3 for weave: unbuffered channel ping-pong between two
 * coroutines of the main thread (BENCH.md).  One round trip: A sends i on
 * ping, B receives it and sends it back on pong, A receives and checks it.
 * The peers' versions are in peers/go/w3_chan.go and peers/py/w3_chan.py.
 *
 * B is spawned first, so that it waits on ping when A starts; timed in A,
 * from its first send to its last receive.  The channels are made before
 * and freed after.
 */
#include "common.h"
#include "weave_bench.h"

#include <weave/chan.h>
#include <weave/coro.h>

#define T    1000000L /* round trips */
#define RUNS 5

struct w3 {
    wv_chan_t *ping, *pong;
    long echoed; /* round trips B completed */
    double t0, t1;
};

static void *echo(void *arg) /* B */
{
    struct w3 *s = arg;
    for (long i = 0; i < T; i++) {
        long v;
        BENCH_CHECK(wv_chan_recv(s->ping, &v, WV_FOREVER) == 0);
        BENCH_CHECK(wv_chan_send(s->pong, &v, WV_FOREVER) == 0);
        s->echoed++;
    }
    return NULL;
}

static void *pinger(void *arg) /* A */
{
    struct w3 *s = arg;
    s->t0 = bench_now();
    for (long i = 0; i < T; i++) {
        long v = -1;
        BENCH_CHECK(wv_chan_send(s->ping, &i, WV_FOREVER) == 0);
        BENCH_CHECK(wv_chan_recv(s->pong, &v, WV_FOREVER) == 0);
        BENCH_CHECK(v == i);
    }
    s->t1 = bench_now();
    return NULL;
}

static double roundtrip_once(void)
{
    struct w3 s = {0};
    wv_coro_t *a, *b;

    BENCH_CHECK(wv_chan_new(&s.ping, sizeof(long), 0) == 0);
    BENCH_CHECK(wv_chan_new(&s.pong, sizeof(long), 0) == 0);
    BENCH_CHECK(wv_coro_spawn(&b, NULL, echo, &s) == 0);
    BENCH_CHECK(wv_coro_spawn(&a, NULL, pinger, &s) == 0);
    BENCH_CHECK(wv_coro_join(a, NULL, WV_FOREVER) == 0);
    BENCH_CHECK(wv_coro_join(b, NULL, WV_FOREVER) == 0);
    wv_coro_free(a);
    wv_coro_free(b);
    wv_chan_free(s.ping);
    wv_chan_free(s.pong);
    BENCH_CHECK(s.echoed == T);
    return (s.t1 - s.t0) * 1e9 / (double)T;
}

void bench_w3(void)
{
    double runs[RUNS];

    roundtrip_once(); /* warm-up */
    for (int i = 0; i < RUNS; i++)
        runs[i] = roundtrip_once();
    bench_report("W3", "weave", "roundtrip", runs, RUNS, "ns");
}

/*
 * bench/w6_ipc.c - W6 (BENCH.md), weave's side: one producer process, one
 * consumer process (the parent, which times), 64-byte and 1 MiB messages.
 *
 * This release has no cross-process Queue yet (W6's subject), so weave's
 * rows are its Pipe, labelled apart from "weave" so that no goal is
 * judged on them: `weave-Pipe` (duplex, a socketpair, like
 * multiprocessing.Pipe()) and `weave-Pipe-oneway` (a pipe).  Each message
 * is received into the consumer's buffer; its length and sequence byte
 * are checked.  The producer waits for a go message, as BENCH.md says.
 */
#include "common.h"
#include "weave_bench.h"

#include <weave.h>

#include <string.h>

#define M    1000000L
#define K    2000L
#define RUNS 3
#define BIG  (1L << 20)

struct job {
    wv_conn_t *rx, *tx; /* consumer's end, producer's end */
    wv_conn_t *go_rx, *go_tx;
    long n;
    size_t size;
};

static int producer(void *arg)
{
    struct job *j = arg;
    char go;
    size_t len;
    char *msg = malloc(j->size);

    wv_conn_free(j->rx);
    wv_conn_free(j->go_tx);
    if (!msg || wv_conn_recv(j->go_rx, &go, 1, &len, WV_FOREVER))
        return 1;
    memset(msg, 'x', j->size);
    for (long i = 0; i < j->n; i++) {
        msg[0] = (char)i;
        if (wv_conn_send(j->tx, msg, j->size, WV_FOREVER))
            return 2;
    }
    free(msg);
    return 0;
}

static double once(long n, size_t size, bool duplex)
{
    struct job j = {.n = n, .size = size};
    wv_process_t *p;
    char *buf = malloc(size);
    size_t len;
    int code;

    BENCH_CHECK(buf && wv_pipe(&j.rx, &j.tx, duplex) == 0);
    BENCH_CHECK(wv_pipe(&j.go_rx, &j.go_tx, false) == 0);
    BENCH_CHECK(wv_process_start(&p, NULL, producer, &j) == 0);
    wv_conn_free(j.tx);
    wv_conn_free(j.go_rx);
    double t0 = bench_now();
    BENCH_CHECK(wv_conn_send(j.go_tx, "g", 1, WV_FOREVER) == 0);
    for (long i = 0; i < n; i++) {
        BENCH_CHECK(wv_conn_recv(j.rx, buf, size, &len, WV_FOREVER) == 0);
        BENCH_CHECK(len == size && buf[0] == (char)i);
    }
    double t1 = bench_now();
    BENCH_CHECK(wv_process_join(p, &code, WV_FOREVER) == 0 && code == 0);
    wv_process_free(p);
    wv_conn_free(j.rx);
    wv_conn_free(j.go_tx);
    free(buf);
    return t1 - t0;
}

static void measure(const char *peer, bool duplex)
{
    double runs[RUNS];

    once(M / 10, 64, duplex);
    for (int i = 0; i < RUNS; i++)
        runs[i] = (double)M / once(M, 64, duplex);
    bench_report("W6", peer, "msgs_64B", runs, RUNS, "msgs/s");
    for (int i = 0; i < RUNS; i++)
        runs[i] = (double)K * BIG / once(K, BIG, duplex) / 1e9;
    bench_report("W6", peer, "bw_1MiB", runs, RUNS, "GB/s");
}

/* ---------------------------------------------------- the Queue (weave) */

struct qjob {
    wv_mpqueue_t *q;
    wv_pevent_t *go;
    long n;
    size_t size;
};

static int qproducer(void *arg)
{
    struct qjob *j = arg;
    char *msg = malloc(j->size);

    if (!msg || wv_pevent_wait(j->go, WV_FOREVER))
        return 1;
    memset(msg, 'x', j->size);
    for (long i = 0; i < j->n; i++) {
        msg[0] = (char)i;
        if (wv_mpqueue_put(j->q, msg, j->size, WV_FOREVER))
            return 2;
    }
    free(msg);
    return 0;
}

static double qonce(long n, size_t size)
{
    struct qjob j = {.n = n, .size = size};
    wv_value_t *go;
    wv_process_t *p;
    char *buf = malloc(size);
    size_t len;
    int code;

    BENCH_CHECK(buf && wv_mpqueue_new(&j.q, NULL) == 0);
    BENCH_CHECK(wv_value_new(&go, sizeof(wv_pevent_t), false) == 0);
    j.go = wv_value_ptr(go);
    wv_pevent_init(j.go);
    BENCH_CHECK(wv_process_start(&p, NULL, qproducer, &j) == 0);
    double t0 = bench_now();
    wv_pevent_set(j.go);
    for (long i = 0; i < n; i++) {
        BENCH_CHECK(wv_mpqueue_get(j.q, buf, size, &len, WV_FOREVER) == 0);
        BENCH_CHECK(len == size && buf[0] == (char)i);
    }
    double t1 = bench_now();
    BENCH_CHECK(wv_process_join(p, &code, WV_FOREVER) == 0 && code == 0);
    wv_process_free(p);
    wv_mpqueue_free(j.q);
    wv_value_free(go);
    free(buf);
    return t1 - t0;
}

static void measure_queue(void)
{
    double runs[RUNS];

    qonce(M / 10, 64);
    for (int i = 0; i < RUNS; i++)
        runs[i] = (double)M / qonce(M, 64);
    bench_report("W6", "weave", "msgs_64B", runs, RUNS, "msgs/s");
    for (int i = 0; i < RUNS; i++)
        runs[i] = (double)K * BIG / qonce(K, BIG) / 1e9;
    bench_report("W6", "weave", "bw_1MiB", runs, RUNS, "GB/s");
}

void bench_w6(void)
{
    measure_queue();
    measure("weave-Pipe", true);
    measure("weave-Pipe-oneway", false);
}

/*
 * bench/w9b_bulk.c - W9b for weave (BENCH.md's style): 1 GiB over one
 * loopback TCP connection, plain and TLS, through weave's streams.
 *
 * Two threads of this process, the receiver (main thread) pinned to CPU 0,
 * the sender to CPU 1, each running its side in a coroutine of its own
 * scheduler.  The sender writes 64 KiB chunks with wv_stream_write, then
 * wv_stream_write_eof; the receiver reads with wv_stream_read into a
 * 64 KiB buffer until WV_EOF (bench/bulk.h: data and check).  Timed in the
 * receiver from just before it writes a 1-byte go-signal until the end was
 * read.  `bulk`: over plain TCP; `bulk_tls`: the same bytes through
 * wv_tls_client / wv_tls_server streams (TLS 1.3, OpenSSL's default suite,
 * reported on stderr), the certificate made at start by the openssl
 * command in a temporary directory; the handshake precedes the timing.
 * One warm-up run, then 3 timed runs, each on a fresh connection.
 */
#include "bulk.h"
#include "common.h"
#include "weave_bench.h"

#include <weave.h>
#include <weave/stream.h>
#include <weave/tls.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

struct bulk {
    int listener; /* 127.0.0.1:port, made once */
    int port;
    wv_tls_ctx_t *server_ctx; /* NULL: plain TCP */
    wv_tls_ctx_t *client_ctx;
    const unsigned char *source;
    int sender_fd;      /* the sender's connected socket */
    int sender_err;     /* the sender's outcome */
    const char *cipher; /* the suite the receiver saw */
};

/* Pins the calling thread to cpu, if the machine has it.  Asked of the
 * machine (sysconf), not of wv_cpu_count: that counts the caller's
 * affinity mask, and a sender thread made by the main thread, already
 * pinned to CPU 0, inherits a mask of one CPU; it then stayed on CPU 0
 * beside the receiver and the run measured one CPU doing both sides. */
static void pin_self(int cpu)
{
    cpu_set_t set;
    if (cpu >= sysconf(_SC_NPROCESSORS_ONLN))
        return;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static int open_stream(wv_stream_t **s, struct bulk *b, int fd, bool server)
{
    int64_t d = wv_deadline_in(10000);
    if (!b->server_ctx)
        return wv_stream_new(s, NULL, fd);
    return server ? wv_tls_server(s, NULL, b->server_ctx, fd, d)
                  : wv_tls_client(s, NULL, b->client_ctx, fd, "localhost", d);
}

/* The sender's coroutine: go-signal, 1 GiB, the end, then waits for the
 * receiver's end (so that its close never resets unread bytes). */
static void *send_side(void *arg)
{
    struct bulk *b = arg;
    wv_stream_t *s;
    char go;
    size_t n;
    int err = open_stream(&s, b, b->sender_fd, false);

    if (err) {
        b->sender_err = err;
        close(b->sender_fd);
        return NULL;
    }
    err = wv_stream_read_exactly(s, &go, 1, &n, WV_FOREVER);
    for (uint64_t off = 0; !err && off < BULK_TOTAL; off += BULK_CHUNK)
        err = wv_stream_write(s, b->source + off % BULK_SOURCE, BULK_CHUNK,
                              NULL, WV_FOREVER);
    if (!err)
        err = wv_stream_write_eof(s, WV_FOREVER);
    if (!err) {
        char tail[64];
        int end;
        while ((end = wv_stream_read(s, tail, sizeof tail, &n, WV_FOREVER)) ==
               0)
            ;
        err = end == WV_EOF ? 0 : end;
    }
    wv_stream_free(s);
    b->sender_err = err;
    return NULL;
}

static void run_coroutine(wv_coro_fn fn, void *arg)
{
    wv_coro_t *co;
    BENCH_CHECK(wv_coro_spawn(&co, NULL, fn, arg) == 0);
    BENCH_CHECK(wv_coro_run(WV_FOREVER) == 0);
    wv_coro_free(co);
}

static void *sender_thread(void *arg)
{
    struct bulk *b = arg;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)b->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    pin_self(1);
    b->sender_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (b->sender_fd < 0 ||
        connect(b->sender_fd, (struct sockaddr *)&a, sizeof a) != 0) {
        b->sender_err = -errno;
        return NULL;
    }
    run_coroutine(send_side, b);
    return NULL;
}

struct receive {
    struct bulk *b;
    int fd;
    double seconds; /* the timed transfer */
    uint64_t total; /* bytes received */
    int err;        /* 0, or what went wrong */
};

static void *receive_side(void *arg)
{
    struct receive *r = arg;
    static unsigned char buf[BULK_CHUNK];
    wv_stream_t *s;
    size_t n;
    int err = open_stream(&s, r->b, r->fd, true);

    if (err) {
        close(r->fd);
        r->err = err;
        return NULL;
    }
    if (r->b->server_ctx)
        r->b->cipher = wv_tls_cipher(s);
    double t0 = bench_now();
    err = wv_stream_write(s, "g", 1, NULL, WV_FOREVER);
    if (!err)
        err = wv_stream_drain(s, WV_FOREVER);
    while (!err) {
        err = wv_stream_read(s, buf, sizeof buf, &n, WV_FOREVER);
        if (err)
            break;
        if (!bulk_check(buf, n, r->total))
            err = WV_EPROTO;
        r->total += n;
    }
    r->seconds = bench_now() - t0;
    r->err = err == WV_EOF ? 0 : err;
    wv_stream_write_eof(s, wv_deadline_in(5000));
    wv_stream_free(s);
    return NULL;
}

static double bulk_run(struct bulk *b)
{
    pthread_t sender;
    struct receive r = {.b = b};

    b->sender_err = 0;
    BENCH_CHECK(pthread_create(&sender, NULL, sender_thread, b) == 0);
    r.fd = accept4(b->listener, NULL, NULL, SOCK_CLOEXEC);
    BENCH_CHECK(r.fd >= 0);
    run_coroutine(receive_side, &r);
    BENCH_CHECK(pthread_join(sender, NULL) == 0);
    if (r.err || b->sender_err)
        fprintf(stderr, "W9b: receiver %s, sender %s\n", wv_strerror(r.err),
                wv_strerror(b->sender_err));
    BENCH_CHECK(r.err == 0 && b->sender_err == 0);
    BENCH_CHECK(r.total == BULK_TOTAL);
    return (double)BULK_TOTAL / r.seconds / 1e9;
}

static void bulk_measure(struct bulk *b, const char *metric)
{
    double runs[BULK_RUNS];
    bulk_run(b); /* warm-up */
    for (int i = 0; i < BULK_RUNS; i++)
        runs[i] = bulk_run(b);
    bench_report("W9b", "weave", metric, runs, BULK_RUNS, "GB/s");
}

static void remove_cert(const char *dir, const char *cert, const char *key)
{
    unlink(cert);
    unlink(key);
    rmdir(dir);
}

static bool make_tls(struct bulk *b, const char *cert, const char *key)
{
    wv_tls_ctx_opts_t so = {.server = true,
                            .cert_file = cert,
                            .key_file = key,
                            .min_version = WV_TLS_1_3};
    wv_tls_ctx_opts_t co = {.ca_file = cert, .min_version = WV_TLS_1_3};
    int err = wv_tls_ctx_new(&b->server_ctx, &so);
    if (!err)
        err = wv_tls_ctx_new(&b->client_ctx, &co);
    if (err)
        fprintf(stderr, "W9b: TLS context: %s (%s)\n", wv_strerror(err),
                wv_tls_error_reason());
    return err == 0;
}

void bench_w9b(void)
{
    struct bulk b = {0};
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    char dir[] = "/tmp/weave-w9b-XXXXXX", cert[64], key[64];

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    b.source = bulk_source();
    b.listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    BENCH_CHECK(b.source && b.listener >= 0);
    BENCH_CHECK(bind(b.listener, (struct sockaddr *)&a, sizeof a) == 0);
    BENCH_CHECK(listen(b.listener, 16) == 0);
    BENCH_CHECK(getsockname(b.listener, (struct sockaddr *)&a, &len) == 0);
    b.port = ntohs(a.sin_port);
    pin_self(0);

    bulk_measure(&b, "bulk");

    if (!bulk_make_cert(dir, cert, key, sizeof cert)) {
        fprintf(stderr, "W9b: no certificate (the openssl command failed): "
                        "no bulk_tls\n");
    } else if (make_tls(&b, cert, key)) {
        bulk_measure(&b, "bulk_tls");
        fprintf(stderr, "W9b weave bulk_tls: TLS 1.3, %s\n",
                b.cipher ? b.cipher : "?");
    }
    if (dir[strlen(dir) - 1] != 'X')
        remove_cert(dir, cert, key);
    wv_tls_ctx_free(b.server_ctx);
    wv_tls_ctx_free(b.client_ctx);
    close(b.listener);
    free((void *)b.source);
}

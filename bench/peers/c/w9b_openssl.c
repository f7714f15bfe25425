/*
 * bench/peers/c/w9b_openssl.c - W9b's c-openssl peer (extra row of
 * bulk_tls): the shape of weave's TLS run written on OpenSSL's API
 * directly, the floor of a TLS stream on OpenSSL.
 *
 *   peer-c-w9b-openssl
 *
 * Two threads of this process, the receiver (main thread, the TLS server)
 * pinned to CPU 0, the sender (the TLS client) to CPU 1, blocking sockets,
 * one SSL_CTX each: TLS 1.3 only, TLS_AES_256_GCM_SHA384 (OpenSSL's
 * default suite, which weave gets too), read-ahead on (as weave's
 * contexts), an EC P-256 certificate for localhost made at start with the
 * openssl command in a temporary directory and verified by the client.
 * After the handshake (untimed) the sender SSL_write()s 64 KiB chunks of
 * bench/bulk.h's data, then SSL_shutdown (close_notify); the receiver
 * SSL_read()s into a 64 KiB buffer until the close_notify, checking every
 * read (bench/bulk.h).  Timed in the receiver from just before it writes
 * the 1-byte go-signal until the end was read.  One warm-up run, then 3,
 * each on a fresh connection.  `W9b c-openssl bulk_tls` GB/s.
 */
#include "bulk.h"
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#define SUITE "TLS_AES_256_GCM_SHA384"

static const unsigned char *source;
static int port;
static SSL_CTX *server_ctx, *client_ctx;
static char dir[] = "/tmp/weave-w9b-XXXXXX", cert[64], key[64];

static void pin_thread(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static SSL_CTX *make_ctx(bool server)
{
    SSL_CTX *c =
        SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    BENCH_CHECK(c != NULL);
    BENCH_CHECK(SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) == 1);
    BENCH_CHECK(SSL_CTX_set_ciphersuites(c, SUITE) == 1);
    SSL_CTX_set_read_ahead(c, 1);
    if (server) {
        BENCH_CHECK(SSL_CTX_use_certificate_file(c, cert, SSL_FILETYPE_PEM));
        BENCH_CHECK(SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM));
    } else {
        BENCH_CHECK(SSL_CTX_load_verify_locations(c, cert, NULL) == 1);
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    }
    return c;
}

static int listen_any(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BENCH_CHECK(fd >= 0);
    BENCH_CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    BENCH_CHECK(listen(fd, 16) == 0);
    BENCH_CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    port = ntohs(a.sin_port);
    return fd;
}

/* The client's side: handshake, go-signal, 1 GiB, close_notify, then the
 * receiver's close_notify.  NULL if all went well. */
static void *sender(void *arg)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    char go, tail[64];
    void *err = (void *)1;
    SSL *ssl = NULL;
    (void)arg;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    pin_thread(1);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        goto out;
    ssl = SSL_new(client_ctx);
    if (!ssl || !SSL_set_fd(ssl, fd) || !SSL_set1_host(ssl, "localhost") ||
        !SSL_set_tlsext_host_name(ssl, "localhost") || SSL_connect(ssl) != 1 ||
        SSL_read(ssl, &go, 1) != 1)
        goto out;
    for (uint64_t off = 0; off < BULK_TOTAL; off += BULK_CHUNK)
        if (SSL_write(ssl, source + off % BULK_SOURCE, BULK_CHUNK) !=
            BULK_CHUNK)
            goto out;
    SSL_shutdown(ssl);
    while (SSL_read(ssl, tail, sizeof tail) > 0)
        ;
    err = NULL;
out:
    if (err)
        ERR_print_errors_fp(stderr);
    SSL_free(ssl);
    if (fd >= 0)
        close(fd);
    return err;
}

static double run(int listener)
{
    static unsigned char buf[BULK_CHUNK];
    pthread_t thread;
    uint64_t total = 0;
    void *sender_err;
    int n;

    BENCH_CHECK(pthread_create(&thread, NULL, sender, NULL) == 0);
    int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    BENCH_CHECK(fd >= 0);
    SSL *ssl = SSL_new(server_ctx);
    BENCH_CHECK(ssl && SSL_set_fd(ssl, fd) && SSL_accept(ssl) == 1);
    double t0 = bench_now();
    BENCH_CHECK(SSL_write(ssl, "g", 1) == 1);
    while ((n = SSL_read(ssl, buf, sizeof buf)) > 0) {
        BENCH_CHECK(bulk_check(buf, (size_t)n, total));
        total += (uint64_t)n;
    }
    double seconds = bench_now() - t0;
    BENCH_CHECK(SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN);
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
    BENCH_CHECK(pthread_join(thread, &sender_err) == 0);
    BENCH_CHECK(sender_err == NULL);
    BENCH_CHECK(total == BULK_TOTAL);
    return (double)BULK_TOTAL / seconds / 1e9;
}

int main(void)
{
    double runs[BULK_RUNS];

    signal(SIGPIPE, SIG_IGN);
    source = bulk_source();
    BENCH_CHECK(source != NULL);
    BENCH_CHECK(bulk_make_cert(dir, cert, key, sizeof cert));
    server_ctx = make_ctx(true);
    client_ctx = make_ctx(false);
    unlink(cert);
    unlink(key);
    rmdir(dir);
    int listener = listen_any();
    pin_thread(0);
    run(listener); /* warm-up */
    for (int i = 0; i < BULK_RUNS; i++)
        runs[i] = run(listener);
    close(listener);
    SSL_CTX_free(server_ctx);
    SSL_CTX_free(client_ctx);
    bench_report("W9b", "c-openssl", "bulk_tls", runs, BULK_RUNS, "GB/s");
    return 0;
}

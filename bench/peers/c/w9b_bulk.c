/*
 * bench/peers/c/w9b_bulk.c - W9b's peers (BENCH.md's style): 1 GiB over
 * one loopback TCP connection, the data and its check from bench/bulk.h.
 *
 *   peer-c-w9b c-rw | openssl
 *
 * c-rw: the shape of weave's W9b, without weave: two threads of this
 * process, the receiver (main thread) pinned to CPU 0 and the sender to
 * CPU 1, blocking sockets; the sender write()s 64 KiB chunks (all of each,
 * looping on short writes), then shutdown(SHUT_WR); the receiver read()s
 * into a 64 KiB buffer until 0, checking every read.  Timed in the
 * receiver from just before it writes the 1-byte go-signal until the end
 * was read.  `W9b c-rw bulk` GB/s.
 *
 * openssl: the openssl command's own TLS client and server moving the same
 * bytes: `openssl s_server -quiet -naccept 1` (its stdout a pipe this
 * program reads, counts and checks; its stdin a pipe never written, so it
 * never sees an end there) pinned to CPU 0, and `openssl s_client -quiet
 * -no_ign_eof` (its stdin a pipe a thread of this program fills with the
 * 1 GiB, then closes: s_client then sends close_notify and the server
 * ends) pinned to CPU 1, both with TLS 1.3 and TLS_AES_256_GCM_SHA384
 * (OpenSSL's default suite, which weave's bulk_tls gets too), an EC P-256
 * certificate made at start in a temporary directory.  Timed from outside:
 * from just before s_client is started (s_server already listening) until
 * the server's output ended, so the time includes s_client's start, the
 * handshake, and the two pipes the bytes cross besides the connection.
 * `W9b openssl-s_server/s_client bulk_tls` GB/s.
 */
#include "bulk.h"
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define SUITE "TLS_AES_256_GCM_SHA384"

static const unsigned char *source;
static int port;

static void pin_thread(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
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

/* ------------------------------------------------------------- c-rw */

static void *rw_sender(void *arg)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    char go, tail[64];
    intptr_t err = 1;
    (void)arg;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    pin_thread(1);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        read(fd, &go, 1) != 1)
        goto out;
    for (uint64_t off = 0; off < BULK_TOTAL; off += BULK_CHUNK)
        if (write_all(fd, source + off % BULK_SOURCE, BULK_CHUNK) != 0)
            goto out;
    shutdown(fd, SHUT_WR);
    while (read(fd, tail, sizeof tail) > 0) /* the receiver's end */
        ;
    err = 0;
out:
    if (fd >= 0)
        close(fd);
    return (void *)err;
}

static double rw_run(int listener)
{
    static unsigned char buf[BULK_CHUNK];
    pthread_t sender;
    uint64_t total = 0;
    void *sender_err;
    ssize_t n;

    BENCH_CHECK(pthread_create(&sender, NULL, rw_sender, NULL) == 0);
    int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    BENCH_CHECK(fd >= 0);
    double t0 = bench_now();
    BENCH_CHECK(write(fd, "g", 1) == 1);
    while ((n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        BENCH_CHECK(n > 0);
        BENCH_CHECK(bulk_check(buf, (size_t)n, total));
        total += (uint64_t)n;
    }
    double seconds = bench_now() - t0;
    close(fd);
    BENCH_CHECK(pthread_join(sender, &sender_err) == 0);
    BENCH_CHECK(sender_err == NULL);
    BENCH_CHECK(total == BULK_TOTAL);
    return (double)BULK_TOTAL / seconds / 1e9;
}

static void rw_peer(void)
{
    double runs[BULK_RUNS];
    int listener = listen_any();
    pin_thread(0);
    rw_run(listener); /* warm-up */
    for (int i = 0; i < BULK_RUNS; i++)
        runs[i] = rw_run(listener);
    close(listener);
    bench_report("W9b", "c-rw", "bulk", runs, BULK_RUNS, "GB/s");
}

/* ----------------------------------------------------- openssl tools */

static char dir[] = "/tmp/weave-w9b-XXXXXX", cert[64], key[64];

/* Starts argv with stdin and stdout on the given descriptors, pinned to
 * cpu; every other descriptor of ours closes at its exec (CLOEXEC). */
static pid_t spawn(char **argv, int in, int out, int cpu, int quiet)
{
    pid_t pid = fork();
    BENCH_CHECK(pid >= 0);
    if (pid == 0) {
        cpu_set_t set;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        sched_setaffinity(0, sizeof set, &set);
        dup2(in, 0);
        dup2(out, 1);
        dup2(quiet, 2); /* their chatter ("verify return:1", "DONE") */
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* True once something listens on 127.0.0.1:port (/proc/net/tcp). */
static bool listening(void)
{
    char line[256], want[32];
    bool found = false;
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f)
        return false;
    snprintf(want, sizeof want, "0100007F:%04X 00000000:0000 0A", port);
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, want) != NULL;
    fclose(f);
    return found;
}

static int free_port(void)
{
    int fd = listen_any();
    close(fd);
    return port;
}

struct feed {
    int fd; /* s_client's stdin */
    int err;
};

static void *feeder(void *arg)
{
    struct feed *f = arg;
    for (uint64_t off = 0; off < BULK_TOTAL; off += BULK_CHUNK)
        if (write_all(f->fd, source + off % BULK_SOURCE, BULK_CHUNK) != 0) {
            f->err = errno ? errno : EPIPE;
            break;
        }
    close(f->fd);
    return NULL;
}

static double openssl_run(void)
{
    static unsigned char buf[BULK_CHUNK];
    char accept_arg[32], connect_arg[32];
    int quiet_in[2], server_out[2], client_in[2], status;
    uint64_t total = 0;
    ssize_t n;

    free_port();
    snprintf(accept_arg, sizeof accept_arg, "127.0.0.1:%d", port);
    snprintf(connect_arg, sizeof connect_arg, "127.0.0.1:%d", port);
    char *server_argv[] = {
        "openssl", "s_server", "-quiet",        "-naccept", "1",
        "-accept", accept_arg, "-cert",         cert,       "-key",
        key,       "-tls1_3",  "-ciphersuites", SUITE,      NULL};
    char *client_argv[] = {
        "openssl",     "s_client",  "-quiet",  "-no_ign_eof",
        "-connect",    connect_arg, "-tls1_3", "-ciphersuites",
        SUITE,         "-CAfile",   cert,      "-verify_return_error",
        "-servername", "localhost", NULL};
    BENCH_CHECK(pipe2(quiet_in, O_CLOEXEC) == 0);
    BENCH_CHECK(pipe2(server_out, O_CLOEXEC) == 0);
    BENCH_CHECK(pipe2(client_in, O_CLOEXEC) == 0);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    BENCH_CHECK(null >= 0);
    pid_t server = spawn(server_argv, quiet_in[0], server_out[1], 0, null);
    close(server_out[1]);
    for (double t = bench_now(); !listening(); usleep(2000)) {
        BENCH_CHECK(waitpid(server, &status, WNOHANG) == 0);
        BENCH_CHECK(bench_now() - t < 10);
    }

    double t0 = bench_now();
    pid_t client = spawn(client_argv, client_in[0], null, 1, null);
    close(null);
    close(client_in[0]);
    struct feed feed = {.fd = client_in[1]};
    pthread_t thread;
    BENCH_CHECK(pthread_create(&thread, NULL, feeder, &feed) == 0);
    while ((n = read(server_out[0], buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        BENCH_CHECK(n > 0);
        BENCH_CHECK(bulk_check(buf, (size_t)n, total));
        total += (uint64_t)n;
    }
    double seconds = bench_now() - t0;

    BENCH_CHECK(pthread_join(thread, NULL) == 0);
    close(server_out[0]);
    close(quiet_in[0]);
    close(quiet_in[1]);
    BENCH_CHECK(waitpid(client, &status, 0) == client);
    BENCH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    BENCH_CHECK(waitpid(server, &status, 0) == server);
    BENCH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    BENCH_CHECK(feed.err == 0);
    BENCH_CHECK(total == BULK_TOTAL);
    return (double)BULK_TOTAL / seconds / 1e9;
}

static void openssl_peer(void)
{
    double runs[BULK_RUNS];
    BENCH_CHECK(bulk_make_cert(dir, cert, key, sizeof cert));
    /* No warm-up run: every run starts both tools afresh anyway. */
    for (int i = 0; i < BULK_RUNS; i++)
        runs[i] = openssl_run();
    unlink(cert);
    unlink(key);
    rmdir(dir);
    bench_report("W9b", "openssl-s_server/s_client", "bulk_tls", runs,
                 BULK_RUNS, "GB/s");
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    source = bulk_source();
    BENCH_CHECK(source != NULL);
    if (argc == 2 && strcmp(argv[1], "c-rw") == 0)
        rw_peer();
    else if (argc == 2 && strcmp(argv[1], "openssl") == 0)
        openssl_peer();
    else {
        fprintf(stderr, "usage: peer-c-w9b c-rw | openssl\n");
        return 2;
    }
    return 0;
}

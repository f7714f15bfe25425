/*
 * bench/w9_echo.c - W9 and W9c for weave (BENCH.md): the echo server and
 * memory per idle connection.
 *
 * `weave-bench --echo-server PORT` (bench_echo_server): weave's W9 echo
 * server on 127.0.0.1:PORT until SIGTERM.  One thread: the server
 * (wv_server_t, threads = 0) runs its acceptor and a coroutine per
 * connection on the main thread's scheduler, which runs while the main
 * thread's own code waits for SIGTERM on a signalfd through wv_fdwait.
 * Each handler wraps its socket in a stream (wv_stream_t, borrowing the
 * descriptor the server owns) and loops: wv_stream_read of up to 64 KiB
 * into a buffer on its own stack, wv_stream_write of what came,
 * wv_stream_drain.  WEAVE_LOOP in the environment picks the loop's
 * backend where the library reads it (bench/run runs the server with
 * epoll and io_uring).
 *
 * The load generator (bench/peers/c/w9_load.c) drives it: `weave-bench
 * W9` and `W9c` run that program against this one, as bench/run does;
 * W9c's idle connections are this server's handlers parked in
 * wv_stream_read.
 */
#include "common.h"
#include "weave_bench.h"

#include <weave.h>
#include <weave/stream.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define ECHO_BUF (64 * 1024)

/* ------------------------------------------------------ the echo server */

static void echo_handler(wv_sock_t *conn, const wv_addr_t *peer, void *arg)
{
    wv_stream_opts_t opts = {.borrow_fd = true}; /* the server owns it */
    wv_stream_t *s;
    char buf[ECHO_BUF];
    size_t n;

    (void)peer;
    (void)arg;
    if (wv_stream_new(&s, &opts, wv_sock_fd(conn)) != 0)
        return;
    while (wv_stream_read(s, buf, sizeof buf, &n, WV_FOREVER) == 0)
        if (wv_stream_write(s, buf, n, NULL, WV_FOREVER) != 0 ||
            wv_stream_drain(s, WV_FOREVER) != 0)
            break;
    wv_stream_free(s);
}

int bench_echo_server(const char *port_text)
{
    wv_server_opts_t opts = {0};
    wv_server_t *server;
    wv_addr_t addr;
    sigset_t term;
    int port = atoi(port_text), err;

    if (port <= 0 || port > 65535 ||
        wv_addr_from_ip(&addr, "127.0.0.1", (uint16_t)port) != 0) {
        fprintf(stderr, "--echo-server: bad port %s\n", port_text);
        return 2;
    }
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigaddset(&term, SIGINT);
    sigprocmask(SIG_BLOCK, &term, NULL);
    int sfd = signalfd(-1, &term, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        perror("signalfd");
        return 1;
    }
    opts.addr = &addr;
    opts.threads = 0; /* this thread's scheduler runs everything */
    err = wv_server_new(&server, &opts, echo_handler, NULL);
    if (err) {
        fprintf(stderr, "--echo-server: %s\n", wv_strerror(err));
        return 1;
    }
    /* The thread's own code waits here; its coroutines run meanwhile. */
    err = wv_fdwait(sfd, POLLIN, NULL, WV_FOREVER);
    wv_server_stop(server, wv_deadline_in(1000));
    wv_server_free(server);
    close(sfd);
    return err ? 1 : 0;
}

/* ------------------------------------------- W9 and W9c: the load side */

/* Runs bench/peers' load generator (beside this program's directory)
 * against this program's echo server, its output on ours. */
static void run_loadgen(const char *mode)
{
    char self[PATH_MAX], load[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    BENCH_CHECK(n > 0);
    self[n] = 0;
    char *slash = strrchr(self, '/');
    BENCH_CHECK(slash != NULL);
    *slash = 0;
    snprintf(load, sizeof load, "%s/peers/peer-c-w9-load", self);
    *slash = '/';
    fflush(NULL);
    pid_t pid = fork();
    BENCH_CHECK(pid >= 0);
    if (pid == 0) {
        execl(load, load, mode, "weave", "--", self, "--echo-server", "@PORT@",
              (char *)NULL);
        fprintf(stderr, "cannot run %s: %s\n", load, strerror(errno));
        _exit(127);
    }
    int status;
    BENCH_CHECK(waitpid(pid, &status, 0) == pid);
    BENCH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

void bench_w9(void)
{
    run_loadgen("echo");
}

void bench_w9c(void)
{
    run_loadgen("idle");
}

/*
 * bench/peers/c/w8_spawn.c - W8 with raw system calls: `c-fork+exec`
 * (fork, execvp, waitpid) and `c-posix_spawn` (glibc posix_spawnp with
 * file actions for the pipes).  pipe_cat_256MiB: one poll loop over the
 * two non-blocking pipes, 64 KiB writes and reads.  Two rows per peer
 * (BENCH.md): PEER reads into an output buffer allocated and pre-faulted
 * (written) before timing, the same one every run; PEER-coldbuf malloc's
 * its output buffer inside the timed region each run (fresh pages, faulted
 * in by the reads), as communicate must allocate its result.
 * Usage: peer-c-w8 c-fork+exec | c-posix_spawn
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

#define SPAWNS      2000
#define WARM_SPAWNS 200
#define CAT_BYTES   ((size_t)256 << 20)
#define CHUNK       (64 << 10)
#define RUNS        3

extern char **environ;
static bool use_fork;

/* Starts argv with stdin from in_fd and stdout to out_fd (-1: inherit). */
static pid_t start(char *const *argv, int in_fd, int out_fd, int close1,
                   int close2)
{
    pid_t pid;
    if (use_fork) {
        pid = fork();
        if (pid == 0) {
            if (in_fd >= 0) {
                dup2(in_fd, 0);
                dup2(out_fd, 1);
                close(in_fd);
                close(out_fd);
                close(close1);
                close(close2);
            }
            execvp(argv[0], argv);
            _exit(127);
        }
        BENCH_CHECK(pid > 0);
        return pid;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (in_fd >= 0) {
        posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
        posix_spawn_file_actions_addclose(&fa, in_fd);
        posix_spawn_file_actions_addclose(&fa, out_fd);
        posix_spawn_file_actions_addclose(&fa, close1);
        posix_spawn_file_actions_addclose(&fa, close2);
    }
    BENCH_CHECK(posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) == 0);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

static void reap_ok(pid_t pid)
{
    int st;
    BENCH_CHECK(waitpid(pid, &st, 0) == pid);
    BENCH_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void spawn_true(long n)
{
    static char *argv[] = {"/bin/true", NULL};
    for (long i = 0; i < n; i++)
        reap_ok(start(argv, -1, -1, -1, -1));
}

static double cat_once(const char *in, char *out)
{
    static char *argv[] = {"cat", NULL};
    int to[2], from[2];
    size_t fed = 0, got = 0;
    char *cold = NULL;

    double t0 = bench_now();
    if (!out) { /* the -coldbuf row */
        out = cold = malloc(CAT_BYTES);
        BENCH_CHECK(out != NULL);
    }
    BENCH_CHECK(pipe(to) == 0 && pipe(from) == 0);
    pid_t pid = start(argv, to[0], from[1], to[1], from[0]);
    close(to[0]);
    close(from[1]);
    fcntl(to[1], F_SETFL, O_NONBLOCK);
    fcntl(from[0], F_SETFL, O_NONBLOCK);
    int wfd = to[1];
    for (;;) {
        struct pollfd p[2] = {{from[0], POLLIN, 0}, {wfd, POLLOUT, 0}};
        int n = wfd >= 0 ? 2 : 1;
        if (poll(p, (nfds_t)n, -1) < 0 && errno != EINTR)
            BENCH_CHECK(0);
        if (n == 2 && p[1].revents) {
            size_t k = CAT_BYTES - fed < CHUNK ? CAT_BYTES - fed : CHUNK;
            ssize_t w = write(wfd, in + fed, k);
            if (w > 0)
                fed += (size_t)w;
            if (fed == CAT_BYTES) {
                close(wfd);
                wfd = -1;
            }
        }
        if (p[0].revents) {
            size_t room = CAT_BYTES - got < CHUNK ? CAT_BYTES - got : CHUNK;
            ssize_t r = read(from[0], out + got, room ? room : 1);
            if (r == 0)
                break;
            if (r > 0)
                got += (size_t)r;
        }
    }
    close(from[0]);
    reap_ok(pid);
    double t1 = bench_now();
    BENCH_CHECK(got == CAT_BYTES && memcmp(in, out, CAT_BYTES) == 0);
    if (cold)
        free(cold);
    else
        memset(out, 0, CAT_BYTES); /* stays faulted in for the next run */
    return (double)CAT_BYTES / (t1 - t0) / 1e9;
}

int main(int argc, char **argv)
{
    double runs[RUNS];
    const char *peer = argc > 1 ? argv[1] : "c-posix_spawn";

    use_fork = strcmp(peer, "c-fork+exec") == 0;
    BENCH_CHECK(use_fork || strcmp(peer, "c-posix_spawn") == 0);
    signal(SIGPIPE, SIG_IGN);
    spawn_true(WARM_SPAWNS);
    for (int i = 0; i < RUNS; i++) {
        double t0 = bench_now();
        spawn_true(SPAWNS);
        runs[i] = SPAWNS / (bench_now() - t0);
    }
    bench_report("W8", peer, "spawn_true", runs, RUNS, "spawns/s");

    char *in = malloc(CAT_BYTES);
    BENCH_CHECK(in != NULL);
    for (size_t i = 0; i < CAT_BYTES; i++)
        in[i] = (char)(i * 131 + (i >> 20));
    char *out = malloc(CAT_BYTES);
    BENCH_CHECK(out != NULL);
    memset(out, 0, CAT_BYTES); /* pre-faulted, before any timing */
    cat_once(in, out);
    for (int i = 0; i < RUNS; i++)
        runs[i] = cat_once(in, out);
    bench_report("W8", peer, "pipe_cat_256MiB", runs, RUNS, "GB/s");
    char cold_peer[64];
    snprintf(cold_peer, sizeof cold_peer, "%s-coldbuf", peer);
    for (int i = 0; i < RUNS; i++)
        runs[i] = cat_once(in, NULL);
    bench_report("W8", cold_peer, "pipe_cat_256MiB", runs, RUNS, "GB/s");
    free(in);
    free(out);
    return 0;
}

/*
 * bench/peers/c/w8_libuv.c - W8 for libuv: uv_spawn, the loop run until
 * the exit callback.  pipe_cat_256MiB: stdin and stdout are
 * UV_CREATE_PIPE; one uv_write of the whole input then uv_shutdown,
 * uv_read_start reading into the output buffer.  Two rows (BENCH.md):
 *   libuv-uv_spawn          the output buffer allocated and pre-faulted
 *                           (written) before timing, the same one every run;
 *   libuv-uv_spawn-coldbuf  the output buffer malloc'd inside the timed
 *                           region each run (fresh pages, faulted in by the
 *                           reads), as communicate must allocate its result.
 */
#include "common.h"

#include <uv.h>

#define SPAWNS      2000
#define WARM_SPAWNS 200
#define CAT_BYTES   ((size_t)256 << 20)
#define RUNS        3

static uv_loop_t loop;
static int64_t exit_status;
static int exit_signal;
static char *out;
static size_t got;

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    exit_status = status;
    exit_signal = sig;
    uv_close((uv_handle_t *)p, NULL);
}

static void spawn_true(long n)
{
    static char *argv[] = {"/bin/true", NULL};
    uv_process_options_t o = {
        .exit_cb = on_exit_cb, .file = argv[0], .args = argv};
    uv_stdio_container_t stdio[3] = {{UV_INHERIT_FD, {.fd = 0}},
                                     {UV_INHERIT_FD, {.fd = 1}},
                                     {UV_INHERIT_FD, {.fd = 2}}};
    o.stdio = stdio;
    o.stdio_count = 3;
    for (long i = 0; i < n; i++) {
        uv_process_t p;
        exit_status = -1;
        BENCH_CHECK(uv_spawn(&loop, &p, &o) == 0);
        uv_run(&loop, UV_RUN_DEFAULT);
        BENCH_CHECK(exit_status == 0 && exit_signal == 0);
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    size_t room = CAT_BYTES - got;
    *buf = uv_buf_init(out + got,
                       room ? (unsigned)(room < (1u << 20) ? room : (1u << 20))
                            : 0);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    if (n > 0)
        got += (size_t)n;
    else if (n < 0)
        uv_close((uv_handle_t *)s, NULL);
}

static void on_written(uv_write_t *w, int status)
{
    BENCH_CHECK(status == 0);
}

static void on_shutdown(uv_shutdown_t *s, int status)
{
    uv_close((uv_handle_t *)s->handle, NULL);
}

static double cat_once(char *in, int cold)
{
    static char *argv[] = {"cat", NULL};
    uv_pipe_t to, from;
    uv_process_t p;
    uv_write_t w;
    uv_shutdown_t sd;
    uv_process_options_t o = {
        .exit_cb = on_exit_cb, .file = argv[0], .args = argv};
    uv_stdio_container_t stdio[3];

    got = 0;
    double t0 = bench_now();
    if (cold) {
        out = malloc(CAT_BYTES);
        BENCH_CHECK(out != NULL);
    }
    uv_pipe_init(&loop, &to, 0);
    uv_pipe_init(&loop, &from, 0);
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&to;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&from;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    o.stdio = stdio;
    o.stdio_count = 3;
    exit_status = -1;
    BENCH_CHECK(uv_spawn(&loop, &p, &o) == 0);
    uv_buf_t buf = uv_buf_init(in, (unsigned)CAT_BYTES);
    BENCH_CHECK(uv_write(&w, (uv_stream_t *)&to, &buf, 1, on_written) == 0);
    BENCH_CHECK(uv_shutdown(&sd, (uv_stream_t *)&to, on_shutdown) == 0);
    BENCH_CHECK(uv_read_start((uv_stream_t *)&from, on_alloc, on_read) == 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    double t1 = bench_now();
    BENCH_CHECK(exit_status == 0 && got == CAT_BYTES);
    BENCH_CHECK(memcmp(in, out, CAT_BYTES) == 0);
    if (cold) {
        free(out);
        out = NULL;
    } else {
        memset(out, 0, CAT_BYTES); /* stays faulted in for the next run */
    }
    return (double)CAT_BYTES / (t1 - t0) / 1e9;
}

int main(void)
{
    double runs[RUNS];

    BENCH_CHECK(uv_loop_init(&loop) == 0);
    spawn_true(WARM_SPAWNS);
    for (int i = 0; i < RUNS; i++) {
        double t0 = bench_now();
        spawn_true(SPAWNS);
        runs[i] = SPAWNS / (bench_now() - t0);
    }
    bench_report("W8", "libuv-uv_spawn", "spawn_true", runs, RUNS, "spawns/s");

    char *in = malloc(CAT_BYTES);
    BENCH_CHECK(in != NULL);
    for (size_t i = 0; i < CAT_BYTES; i++)
        in[i] = (char)(i * 131 + (i >> 20));
    char *warm = malloc(CAT_BYTES);
    BENCH_CHECK(warm != NULL);
    memset(warm, 0, CAT_BYTES); /* pre-faulted, before any timing */
    out = warm;
    cat_once(in, 0);
    for (int i = 0; i < RUNS; i++)
        runs[i] = cat_once(in, 0);
    bench_report("W8", "libuv-uv_spawn", "pipe_cat_256MiB", runs, RUNS, "GB/s");
    for (int i = 0; i < RUNS; i++)
        runs[i] = cat_once(in, 1);
    bench_report("W8", "libuv-uv_spawn-coldbuf", "pipe_cat_256MiB", runs, RUNS,
                 "GB/s");
    out = warm;
    free(in);
    free(out);
    return 0;
}

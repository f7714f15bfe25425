/*
 * bench/w8_subproc.c - W8 (BENCH.md), weave's side.
 *
 * spawn_true: wv_popen_new of /bin/true (stdio inherited) and
 * wv_popen_wait, 2000 times in a row, exit status checked; spawns/s.
 * Warm-up: 200 spawns.
 * pipe_cat_256MiB: wv_popen_new of cat with stdin and stdout pipes, then
 * wv_popen_communicate of 256 MiB (feeding stdin and reading stdout at
 * once into weave's growing buffer), which also waits for the exit; the
 * output compared with the input; GB/s = 2^28 / elapsed / 1e9, start and
 * wait included.  pipe_cat_256MiB_lent: the same with the input lent
 * (opts.borrow_input: vmsplice, the contract libuv's uv_write has, the
 * buffer kept until the write is done), against libuv's pipe_cat_256MiB.
 */
#include "common.h"
#include "weave_bench.h"

#include <weave.h>

#define SPAWNS      2000
#define WARM_SPAWNS 200
#define CAT_BYTES   ((size_t)256 << 20)
#define RUNS        3

static void spawn_true(long n)
{
    static const char *argv[] = {"/bin/true", NULL};
    wv_popen_opts_t o = {.argv = argv};

    for (long i = 0; i < n; i++) {
        wv_popen_t *p;
        int code = -1;
        BENCH_CHECK(wv_popen_new(&p, &o) == 0);
        BENCH_CHECK(wv_popen_wait(p, &code, WV_FOREVER) == 0 && code == 0);
        wv_popen_free(p);
    }
}

static double cat_once(const char *in, bool lend)
{
    static const char *argv[] = {"cat", NULL};
    wv_popen_opts_t o = {.argv = argv, .borrow_input = lend};
    wv_popen_t *p;
    wv_bytes_t out;
    int code = -1;

    o.in.how = o.out.how = WV_STDIO_PIPE;
    double t0 = bench_now();
    BENCH_CHECK(wv_popen_new(&p, &o) == 0);
    BENCH_CHECK(wv_popen_communicate(p, in, CAT_BYTES, &out, NULL, WV_FOREVER) == 0);
    BENCH_CHECK(wv_popen_returncode(p, &code) == 0 && code == 0);
    double t1 = bench_now();
    BENCH_CHECK(out.len == CAT_BYTES && memcmp(out.data, in, CAT_BYTES) == 0);
    wv_popen_free(p);
    return (double)CAT_BYTES / (t1 - t0) / 1e9;
}

void bench_w8(void)
{
    double runs[RUNS];

    spawn_true(WARM_SPAWNS);
    for (int i = 0; i < RUNS; i++) {
        double t0 = bench_now();
        spawn_true(SPAWNS);
        runs[i] = SPAWNS / (bench_now() - t0);
    }
    bench_report("W8", "weave", "spawn_true", runs, RUNS, "spawns/s");

    char *in = malloc(CAT_BYTES);
    BENCH_CHECK(in != NULL);
    for (size_t i = 0; i < CAT_BYTES; i++)
        in[i] = (char)(i * 131 + (i >> 20));
    /* The two ways alternate, so that neither has the other's leftover
     * memory state all along. */
    double lent[RUNS];
    cat_once(in, false);
    cat_once(in, true);
    for (int i = 0; i < RUNS; i++) {
        runs[i] = cat_once(in, false);
        lent[i] = cat_once(in, true);
    }
    bench_report("W8", "weave", "pipe_cat_256MiB", runs, RUNS, "GB/s");
    bench_report("W8", "weave", "pipe_cat_256MiB_lent", lent, RUNS, "GB/s");
    free(in);
}

/*
 * bench/peers/c/w8_glib.c - W8 for GLib: spawn_true with g_spawn_sync
 * (G_SPAWN_DEFAULT, stdio inherited: NULL output pointers), and
 * pipe_cat_256MiB with GSubprocess + g_subprocess_communicate
 * (g_spawn_sync cannot feed stdin).
 */
#include "common.h"

#include <gio/gio.h>

#define SPAWNS      2000
#define WARM_SPAWNS 200
#define CAT_BYTES   ((size_t)256 << 20)
#define RUNS        3

static void spawn_true(long n)
{
    static char *argv[] = {"/bin/true", NULL};
    for (long i = 0; i < n; i++) {
        int status = -1;
        BENCH_CHECK(g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                                 NULL, NULL, &status, NULL));
        BENCH_CHECK(g_spawn_check_wait_status(status, NULL));
    }
}

static double cat_once(char *in)
{
    GBytes *input = g_bytes_new_static(in, CAT_BYTES), *output = NULL;
    double t0 = bench_now();
    GSubprocess *p = g_subprocess_new(G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                          G_SUBPROCESS_FLAGS_STDOUT_PIPE,
                                      NULL, "cat", NULL);
    BENCH_CHECK(p != NULL);
    BENCH_CHECK(g_subprocess_communicate(p, input, NULL, &output, NULL, NULL));
    BENCH_CHECK(g_subprocess_wait_check(p, NULL, NULL));
    double t1 = bench_now();
    gsize len;
    const char *data = g_bytes_get_data(output, &len);
    BENCH_CHECK(len == CAT_BYTES && memcmp(in, data, CAT_BYTES) == 0);
    g_bytes_unref(output);
    g_bytes_unref(input);
    g_object_unref(p);
    return (double)CAT_BYTES / (t1 - t0) / 1e9;
}

int main(void)
{
    double runs[RUNS];

    spawn_true(WARM_SPAWNS);
    for (int i = 0; i < RUNS; i++) {
        double t0 = bench_now();
        spawn_true(SPAWNS);
        runs[i] = SPAWNS / (bench_now() - t0);
    }
    bench_report("W8", "glib-g_spawn_sync", "spawn_true", runs, RUNS,
                 "spawns/s");

    char *in = malloc(CAT_BYTES);
    BENCH_CHECK(in != NULL);
    for (size_t i = 0; i < CAT_BYTES; i++)
        in[i] = (char)(i * 131 + (i >> 20));
    cat_once(in);
    for (int i = 0; i < RUNS; i++)
        runs[i] = cat_once(in);
    bench_report("W8", "glib-GSubprocess", "pipe_cat_256MiB", runs, RUNS,
                 "GB/s");
    free(in);
    return 0;
}

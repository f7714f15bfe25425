/*
 * bench/weave_bench.c - `weave-bench [W1 W2 ...]`: weave's side of the
 * workloads of BENCH.md, one line per metric on stdout, spreads on stderr.
 * With no argument, every workload weave implements so far.  The peers'
 * programs live in bench/peers/; bench/run runs everything side by side.
 */
#include "weave_bench.h"
#include "common.h"

#include <signal.h>
#include <string.h>

struct workload {
    const char *name;
    void (*run)(void); /* NULL: its layer does not exist yet */
    const char *layer;
};

static const struct workload workloads[] = {
    {"W1", bench_w1, "coroutines"},
    {"W2", bench_w2, "coroutines"},
    {"W3", bench_w3, "channels"},
    {"W4", bench_w4, "thread pool"},
    {"W5", bench_w5, "sync"},
    {"W6", bench_w6, "process queues"},
    {"W7", bench_w7, "process pool"},
    {"W8", bench_w8, "subprocess"},
    {"W9", bench_w9, "network"}, /* through peer-c-w9-load */
    {"W9b", bench_w9b, "network"},
    {"W9c", bench_w9c, "network"}, /* through peer-c-w9-load */
    {"W10", bench_w10, "manager"},
    {"W10-redis", bench_w10_redis, "manager"}, /* W10 over Redis Streams */
    {"W10-redis-workers", bench_w10_redis_workers, "manager"},
    {"W11", bench_w11, "rpc"},
    {"Q1", bench_q1, "queue"}, /* weave's own, not in BENCH.md */
};
#define NWORKLOADS (sizeof workloads / sizeof workloads[0])

static int run_named(const char *name)
{
    for (size_t i = 0; i < NWORKLOADS; i++) {
        if (strcmp(workloads[i].name, name) != 0)
            continue;
        if (!workloads[i].run) {
            fprintf(stderr, "%s: needs the %s layer, not built yet\n", name,
                    workloads[i].layer);
            return 2;
        }
        workloads[i].run();
        return 0;
    }
    fprintf(stderr, "unknown workload %s\n", name);
    return 2;
}

int main(int argc, char **argv)
{
    int status = 0;

    signal(SIGPIPE, SIG_IGN);
#ifdef WEAVE_BENCH_CORO
    /* W2's memory, measured in a fresh process (w2_coro.c) */
    if (argc == 2 && strcmp(argv[1], "--w2-mem") == 0)
        return bench_w2_mem_child();
#endif
    if (argc == 3 && strcmp(argv[1], "--echo-server") == 0)
        return bench_echo_server(argv[2]);
    if (argc == 4 && strcmp(argv[1], "--w10-worker") == 0)
        return bench_w10_worker(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "--w10-redis-worker") == 0)
        return bench_w10_redis_worker(argv[2]);
    if (argc == 4 && strcmp(argv[1], "--w10-py-worker") == 0)
        return bench_w10_py_worker(argv[2], argv[3]);
    if (argc == 2 && strcmp(argv[1], "--w11-server") == 0)
        return bench_w11_server();
    if (argc >= 2 &&
        (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        printf("usage: weave-bench [W1 W2 ...] | --echo-server PORT\n");
        return 0;
    }
    if (argc == 1) {
        for (size_t i = 0; i < NWORKLOADS; i++)
            if (workloads[i].run)
                workloads[i].run();
        return 0;
    }
    for (int i = 1; i < argc; i++)
        status |= run_named(argv[i]);
    return status;
}

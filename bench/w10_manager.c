/*
 * bench/w10_manager.c - W10 (a task queue over loopback TCP with an
 * authkey) and W11 (sequential RPC) for weave's manager (BENCH.md).
 *
 * W10: this process is the master and hosts the manager (a task and a
 * result queue, as the tutorial's master does), its proxies reaching the
 * queues directly.  One worker process (weave-bench --w10-worker PORT
 * MODE, started and connected before timing) loops: take tasks, put n*n
 * into the result queue, until it takes -1.  Timed in the master: N puts
 * of one task each, then N gets of one result each; the sum of the
 * results is checked.
 *   weave        the worker takes up to 256 tasks per request and returns
 *                their results with one request (wv_proxy_get_many,
 *                wv_proxy_put_many): what a weave worker writes.
 *   weave-1by1   the worker makes one get and one put per task, as a
 *                Python worker does: a round trip each (N scaled).
 * W11: a server process (weave-bench --w11-server) registers Calc.add;
 * this process connects and calls add(i, 1) N times, checking each.
 */
#include "common.h"
#include "weave_bench.h"

#include <weave.h>

#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define KEY  "w10-authkey"
#define RUNS 3

static void ok(int err, const char *what)
{
    if (err) {
        fprintf(stderr, "W10/W11 %s: %s\n", what, wv_strerror(err));
        exit(3);
    }
}

static wv_manager_opts_t opts(uint16_t port)
{
    wv_manager_opts_t o = {.host = "127.0.0.1",
                           .port = port,
                           .authkey = KEY,
                           .authkey_len = strlen(KEY)};
    return o;
}

/* Starts argv; its first stdout line, which says it is ready, is read
 * into line. */
static wv_popen_t *start_cmd(const char *const *argv, char *line, size_t cap)
{
    wv_popen_opts_t o = {.argv = argv};
    o.out.how = WV_STDIO_PIPE;
    wv_popen_t *p;
    ok(wv_popen_new(&p, &o), "start a helper process");
    size_t n = 0;
    while (n + 1 < cap) { /* one line, byte by byte: it is short */
        size_t got;
        int err = wv_popen_read(p, WV_STDOUT, line + n, 1, &got,
                                wv_deadline_in(10000));
        ok(err, "helper's ready line");
        if (line[n] == '\n')
            break;
        n += got;
    }
    line[n] = '\0';
    return p;
}

/* ----------------------------------------------------------------- W10 */

int bench_w10_worker(const char *port, const char *mode)
{
    wv_manager_opts_t o = opts((uint16_t)atoi(port));
    wv_manager_t *m;
    wv_proxy_t *task, *result;
    ok(wv_manager_connect(&m, &o, wv_deadline_in(10000)), "connect");
    ok(wv_manager_proxy(m, "get_task_queue", &task, wv_deadline_in(10000)),
       "task queue");
    ok(wv_manager_proxy(m, "get_result_queue", &result, wv_deadline_in(10000)),
       "result queue");
    printf("ready\n");
    fflush(stdout);
    bool batch = strcmp(mode, "batch") == 0;
    wv_obj_t *in[256], *out[256];
    for (;;) {
        size_t got = 1, put;
        int err = batch ? wv_proxy_get_many(task, in, 256, &got, WV_FOREVER)
                        : wv_proxy_get(task, &in[0], WV_FOREVER);
        ok(err, "get task");
        for (size_t i = 0; i < got; i++) {
            int64_t n;
            ok(wv_obj_get_int(in[i], &n), "task is no int");
            if (n < 0) {
                /* The stop; any further stops taken in the same batch
                 * belong to the other workers: back they go. */
                for (size_t j = i + 1; j < got; j++)
                    ok(wv_proxy_put(task, in[j], WV_FOREVER), "stop back");
                for (size_t j = i; j < got; j++)
                    wv_obj_free(in[j]);
                for (size_t j = 0; j < i; j++)
                    wv_obj_free(out[j]);
                goto out;
            }
            wv_obj_free(in[i]);
            ok(wv_obj_new_int(&out[i], n * n), "result");
        }
        if (batch) {
            ok(wv_proxy_put_many(result, out, got, &put, WV_FOREVER),
               "put results");
        } else {
            ok(wv_proxy_put(result, out[0], WV_FOREVER), "put result");
        }
        for (size_t i = 0; i < got; i++)
            wv_obj_free(out[i]);
    }
out:
    wv_proxy_free(task);
    wv_proxy_free(result);
    wv_manager_free(m);
    return 0;
}

static double w10_once(wv_proxy_t *task, wv_proxy_t *result, int64_t n)
{
    double t0 = bench_now();
    for (int64_t i = 1; i <= n; i++) {
        wv_obj_t *v;
        ok(wv_obj_new_int(&v, i), "task");
        ok(wv_proxy_put(task, v, WV_FOREVER), "put task");
        wv_obj_free(v);
    }
    int64_t sum = 0;
    for (int64_t i = 0; i < n; i++) {
        wv_obj_t *v;
        int64_t r;
        ok(wv_proxy_get(result, &v, wv_deadline_in(20000)), "get result");
        ok(wv_obj_get_int(v, &r), "result is no int");
        sum += r;
        wv_obj_free(v);
    }
    double t = bench_now() - t0;
    BENCH_CHECK(sum == n * (n + 1) * (2 * n + 1) / 6);
    return (double)n / t;
}

/* CPU time of every thread of this process but the calling one (the
 * manager's server threads, for the master's main thread), in us. */
static double others_cpu_us(void)
{
    struct rusage all, me;
    getrusage(RUSAGE_SELF, &all);
    getrusage(RUSAGE_THREAD, &me);
    double a = (double)all.ru_utime.tv_sec * 1e6 + all.ru_utime.tv_usec +
               (double)all.ru_stime.tv_sec * 1e6 + all.ru_stime.tv_usec;
    double b = (double)me.ru_utime.tv_sec * 1e6 + me.ru_utime.tv_usec +
               (double)me.ru_stime.tv_sec * 1e6 + me.ru_stime.tv_usec;
    return a - b;
}

/* One row: `workers` worker processes (weave-bench --w10-worker, or
 * Python's worker when python is given), the master here. */
static void w10_row(const char *peer, const char *mode, int64_t n, int workers,
                    const char *python, const char *script, bool cpu)
{
    wv_manager_opts_t o = opts(0);
    wv_manager_t *m;
    ok(wv_manager_new(&m, &o), "manager");
    ok(wv_manager_register_queue(m, "get_task_queue", 0), "register");
    ok(wv_manager_register_queue(m, "get_result_queue", 0), "register");
    ok(wv_manager_start(m), "start");
    wv_addr_t a;
    ok(wv_manager_addr(m, &a), "address");
    char port[16], line[64];
    snprintf(port, sizeof port, "%u", wv_addr_port(&a));
    wv_popen_t *worker[8];
    for (int w = 0; w < workers; w++) {
        if (python) { /* w10_dist.py --worker manager PORT */
            const char *args[] = {python,    script, "--worker",
                                  "manager", port,   NULL};
            worker[w] = start_cmd(args, line, sizeof line);
        } else {
            const char *args[] = {"/proc/self/exe", "--w10-worker", port, mode,
                                  NULL};
            worker[w] = start_cmd(args, line, sizeof line);
        }
        BENCH_CHECK(strcmp(line, "ready") == 0);
    }
    wv_proxy_t *task, *result;
    ok(wv_manager_proxy(m, "get_task_queue", &task, 0), "proxy");
    ok(wv_manager_proxy(m, "get_result_queue", &result, 0), "proxy");
    double runs[RUNS], cpu_us[RUNS];
    w10_once(task, result, n / 10); /* warm-up */
    for (int i = 0; i < RUNS; i++) {
        double c0 = others_cpu_us();
        runs[i] = w10_once(task, result, n);
        cpu_us[i] = (others_cpu_us() - c0) / (double)n;
    }
    for (int w = 0; w < workers; w++) {
        wv_obj_t *stop;
        ok(wv_obj_new_int(&stop, -1), "stop");
        ok(wv_proxy_put(task, stop, 0), "stop");
        wv_obj_free(stop);
    }
    for (int w = 0; w < workers; w++) {
        int code;
        ok(wv_popen_wait(worker[w], &code, wv_deadline_in(10000)),
           "worker's end");
        BENCH_CHECK(code == 0);
        wv_popen_free(worker[w]);
    }
    wv_proxy_free(task);
    wv_proxy_free(result);
    wv_manager_free(m);
    bench_report("W10", peer, "tasks", runs, RUNS, "tasks/s");
    if (cpu)
        bench_report("W10", peer, "server_cpu", cpu_us, RUNS, "us");
}

void bench_w10(void)
{
    w10_row("weave", "batch", 200000, 1, NULL, NULL, true);
    w10_row("weave-1by1", "one", 20000, 1, NULL, NULL, false);
    w10_row("weave-2workers", "batch", 200000, 2, NULL, NULL, false);
    w10_row("weave-4workers", "batch", 200000, 4, NULL, NULL, false);
    w10_row("weave-8workers", "batch", 200000, 8, NULL, NULL, false);
    bench_w10_redis_if_possible(); /* w10_redis.c: over Redis Streams */
}

/* weave's manager serving Python's worker (BaseManager proxies, a round
 * trip per get and per put): weave-bench --w10-py-worker PYTHON SCRIPT. */
int bench_w10_py_worker(const char *python, const char *script)
{
    w10_row("weave-manager+py-worker", "one", 20000, 1, python, script, false);
    return 0;
}

/* ----------------------------------------------------------------- W11 */

static int add(void *arg, const wv_obj_t *args, const wv_obj_t *kwds,
               wv_obj_t **result)
{
    int64_t a, b;
    if (args->u.seq.len != 2 || wv_obj_get_int(args->u.seq.items[0], &a) ||
        wv_obj_get_int(args->u.seq.items[1], &b))
        return WV_EINVAL;
    return wv_obj_new_int(result, a + b);
}

int bench_w11_server(void)
{
    wv_manager_opts_t o = opts(0);
    wv_manager_t *m;
    ok(wv_manager_new(&m, &o), "manager");
    ok(wv_manager_register(m, "Calc", "add", add, NULL), "register");
    ok(wv_manager_start(m), "start");
    wv_addr_t a;
    ok(wv_manager_addr(m, &a), "address");
    printf("%u\n", wv_addr_port(&a));
    fflush(stdout);
    /* Until the client shuts it down (or 60 s). */
    int err = wv_manager_serve_forever(m, wv_deadline_in(60000));
    wv_manager_free(m);
    return err ? 3 : 0;
}

static double w11_once(wv_proxy_t *calc, int64_t n)
{
    double t0 = bench_now();
    for (int64_t i = 0; i < n; i++) {
        wv_obj_t *args, *x, *one, *r;
        ok(wv_obj_new_tuple(&args, 2), "args");
        ok(wv_obj_new_int(&x, i), "i");
        ok(wv_obj_append(args, x), "args");
        ok(wv_obj_new_int(&one, 1), "1");
        ok(wv_obj_append(args, one), "args");
        ok(wv_proxy_call(calc, "add", args, NULL, &r, WV_FOREVER), "add");
        BENCH_CHECK(r->kind == WV_OBJ_INT && r->u.i == i + 1);
        wv_obj_free(r);
        wv_obj_free(args);
    }
    return (double)n / (bench_now() - t0);
}

void bench_w11(void)
{
    char line[64];
    const char *args[] = {"/proc/self/exe", "--w11-server", NULL};
    wv_popen_t *server = start_cmd(args, line, sizeof line);
    wv_manager_opts_t o = opts((uint16_t)atoi(line));
    wv_manager_t *c;
    wv_proxy_t *calc;
    ok(wv_manager_connect(&c, &o, wv_deadline_in(10000)), "connect");
    ok(wv_manager_proxy(c, "Calc", &calc, wv_deadline_in(10000)), "Calc");
    double runs[RUNS];
    w11_once(calc, 3000); /* warm-up */
    for (int i = 0; i < RUNS; i++)
        runs[i] = w11_once(calc, 30000);
    wv_proxy_free(calc);
    ok(wv_manager_shutdown(c, wv_deadline_in(5000)), "shutdown");
    wv_manager_free(c);
    int code;
    ok(wv_popen_wait(server, &code, wv_deadline_in(10000)), "server's end");
    BENCH_CHECK(code == 0);
    wv_popen_free(server);
    bench_report("W11", "weave", "rpc_add", runs, RUNS, "calls/s");
}

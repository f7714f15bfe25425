/*
 * bench/w10_redis.c - W10 (BENCH.md) over Redis Streams: weave's
 * manager API with a redis:// url (docs/redis.md).  `weave-bench W10`
 * prints row weave-redis after the manager's rows (when redis-server is
 * installed), `weave-bench W10-redis` that row alone, and `weave-bench
 * W10-redis-workers` the rows with 2, 4 and 8 workers (a program of its
 * own, so that each stays within the runner's 30 s).
 *
 * As the py-redis-lists peer does, this program starts its own
 * redis-server on a free port of 127.0.0.1 (no persistence,
 * --requirepass, a temporary directory) and stops it at the end.  Worker
 * processes (weave-bench --w10-redis-worker URL, started and connected
 * before timing) loop: take up to 256 tasks (wv_proxy_get_many: one
 * XREADGROUP, then XACK + XDEL without waiting), put their results with
 * one pipelined write (wv_proxy_put_many: an XADD each), until a -1.
 * Timed in the master: N tasks put, N results got, the results' sum
 * checked, as every W10 row; but the master puts and gets in batches of
 * 256 (put_many: 256 XADDs pipelined; get_many: one XREADGROUP), where
 * the Python peer makes a round trip per task: with a broker in another
 * process, one round trip per task caps any client near 9k/s on this
 * machine (BENCH.md), and batching is what weave's API is for.
 *   weave-redis            1 worker, N = 200k (as W10's weave row)
 *   weave-redis-Nworkers   2, 4, 8 workers, N = 100k
 */
#include "common.h"
#include "weave_bench.h"

#include <weave.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PASSWORD "w10-authkey"
#define RUNS     3
#define BATCH    256

static void ok(int err, const char *what)
{
    if (err) {
        fprintf(stderr, "W10 redis %s: %s\n", what, wv_strerror(err));
        exit(3);
    }
}

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    BENCH_CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
                getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A redis-server of our own, ready (it answered AUTH and PING). */
struct server {
    wv_popen_t *proc;
    char dir[64];
    char url[128];
};

static bool server_start(struct server *s)
{
    uint16_t port = free_port();
    char ports[16];
    snprintf(ports, sizeof ports, "%u", port);
    snprintf(s->url, sizeof s->url, "redis://:%s@127.0.0.1:%u", PASSWORD, port);
    const char *argv[] = {"redis-server",
                          "--bind",
                          "127.0.0.1",
                          "--port",
                          ports,
                          "--save",
                          "",
                          "--appendonly",
                          "no",
                          "--requirepass",
                          PASSWORD,
                          "--dir",
                          s->dir,
                          "--daemonize",
                          "no",
                          "--logfile",
                          "",
                          "--loglevel",
                          "warning",
                          NULL};
    wv_popen_opts_t o = {.argv = argv};
    o.out.how = o.err.how = WV_STDIO_DEVNULL;
    if (wv_popen_new(&s->proc, &o))
        return false;
    wv_manager_opts_t mo = {.url = s->url};
    for (int64_t end = wv_deadline_in(10000); wv_now() < end;) {
        wv_manager_t *m;
        int code;
        if (wv_manager_connect(&m, &mo, wv_deadline_in(1000)) == 0) {
            wv_manager_free(m);
            return true;
        }
        if (wv_popen_poll(s->proc, &code) == 0)
            break; /* exited: the port was taken */
        wv_sleep_ms(20);
    }
    wv_popen_kill(s->proc);
    wv_popen_wait(s->proc, NULL, wv_deadline_in(5000));
    wv_popen_free(s->proc);
    return false;
}

static void server_stop(struct server *s)
{
    int code;
    wv_popen_terminate(s->proc);
    if (wv_popen_wait(s->proc, &code, wv_deadline_in(5000))) {
        wv_popen_kill(s->proc);
        wv_popen_wait(s->proc, &code, wv_deadline_in(5000));
    }
    wv_popen_free(s->proc);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "W10 redis: could not remove %s\n", s->dir);
}

/* ------------------------------------------------------------- worker */

int bench_w10_redis_worker(const char *url)
{
    wv_manager_opts_t o = {.url = url};
    wv_manager_t *m;
    wv_proxy_t *task, *result;
    ok(wv_manager_connect(&m, &o, wv_deadline_in(10000)), "connect");
    ok(wv_manager_proxy(m, "tasks", &task, wv_deadline_in(10000)), "tasks");
    ok(wv_manager_proxy(m, "results", &result, wv_deadline_in(10000)),
       "results");
    printf("ready\n");
    fflush(stdout);
    wv_obj_t *in[BATCH], *out[BATCH];
    for (;;) {
        size_t got;
        ok(wv_proxy_get_many(task, in, BATCH, &got, WV_FOREVER), "get tasks");
        for (size_t i = 0; i < got; i++) {
            int64_t n;
            ok(wv_obj_get_int(in[i], &n), "task is no int");
            if (n < 0) { /* the stop; the rest back for the others */
                if (i + 1 < got)
                    ok(wv_proxy_put_many(task, in + i + 1, got - i - 1, NULL,
                                         WV_FOREVER),
                       "stops back");
                for (size_t j = i; j < got; j++)
                    wv_obj_free(in[j]);
                for (size_t j = 0; j < i; j++)
                    wv_obj_free(out[j]);
                goto out;
            }
            wv_obj_free(in[i]);
            ok(wv_obj_new_int(&out[i], n * n), "result");
        }
        ok(wv_proxy_put_many(result, out, got, NULL, WV_FOREVER),
           "put results");
        for (size_t i = 0; i < got; i++)
            wv_obj_free(out[i]);
    }
out:
    wv_proxy_free(task);
    wv_proxy_free(result);
    wv_manager_free(m);
    return 0;
}

/* ------------------------------------------------------------- master */

static double once(wv_proxy_t *task, wv_proxy_t *result, int64_t n)
{
    wv_obj_t *batch[BATCH];
    double t0 = bench_now();
    for (int64_t i = 1; i <= n;) {
        size_t k = 0;
        for (; k < BATCH && i <= n; k++, i++)
            ok(wv_obj_new_int(&batch[k], i), "task");
        ok(wv_proxy_put_many(task, batch, k, NULL, WV_FOREVER), "put tasks");
        for (size_t j = 0; j < k; j++)
            wv_obj_free(batch[j]);
    }
    int64_t sum = 0;
    for (int64_t left = n; left > 0;) {
        size_t got;
        ok(wv_proxy_get_many(result, batch, BATCH, &got, wv_deadline_in(20000)),
           "get results");
        for (size_t j = 0; j < got; j++) {
            int64_t r;
            ok(wv_obj_get_int(batch[j], &r), "result is no int");
            sum += r;
            wv_obj_free(batch[j]);
        }
        left -= (int64_t)got;
    }
    double t = bench_now() - t0;
    BENCH_CHECK(sum == n * (n + 1) * (2 * n + 1) / 6);
    return (double)n / t;
}

/* Starts argv; waits for its "ready" line. */
static wv_popen_t *start_worker(const char *url)
{
    const char *argv[] = {"/proc/self/exe", "--w10-redis-worker", url, NULL};
    wv_popen_opts_t o = {.argv = argv};
    o.out.how = WV_STDIO_PIPE;
    wv_popen_t *p;
    ok(wv_popen_new(&p, &o), "start a worker");
    char line[16];
    size_t n = 0;
    while (n + 1 < sizeof line) {
        size_t got;
        ok(wv_popen_read(p, WV_STDOUT, line + n, 1, &got,
                         wv_deadline_in(10000)),
           "worker's ready line");
        if (line[n] == '\n')
            break;
        n += got;
    }
    line[n] = '\0';
    BENCH_CHECK(strcmp(line, "ready") == 0);
    return p;
}

static void row(const char *peer, int workers, int64_t n)
{
    struct server s;
    strcpy(s.dir, "/tmp/weave-bench-redis-XXXXXX");
    BENCH_CHECK(mkdtemp(s.dir));
    bool up = false;
    for (int attempt = 0; attempt < 5 && !up; attempt++)
        up = server_start(&s);
    BENCH_CHECK(up);
    wv_popen_t *worker[8];
    for (int w = 0; w < workers; w++)
        worker[w] = start_worker(s.url);
    wv_manager_opts_t o = {.url = s.url};
    wv_manager_t *m;
    wv_proxy_t *task, *result;
    ok(wv_manager_connect(&m, &o, wv_deadline_in(10000)), "connect");
    ok(wv_manager_proxy(m, "tasks", &task, wv_deadline_in(10000)), "tasks");
    ok(wv_manager_proxy(m, "results", &result, wv_deadline_in(10000)),
       "results");
    double runs[RUNS];
    once(task, result, n / 10); /* warm-up */
    for (int i = 0; i < RUNS; i++)
        runs[i] = once(task, result, n);
    for (int w = 0; w < workers; w++) {
        wv_obj_t *stop;
        ok(wv_obj_new_int(&stop, -1), "stop");
        ok(wv_proxy_put(task, stop, wv_deadline_in(5000)), "stop");
        wv_obj_free(stop);
    }
    for (int w = 0; w < workers; w++) {
        int code;
        ok(wv_popen_wait(worker[w], &code, wv_deadline_in(10000)),
           "worker's end");
        BENCH_CHECK(code == 0);
        wv_popen_free(worker[w]);
    }
    size_t left;
    ok(wv_proxy_qsize(task, &left, wv_deadline_in(5000)), "qsize");
    BENCH_CHECK(left == 0);
    wv_proxy_free(task);
    wv_proxy_free(result);
    wv_manager_free(m);
    server_stop(&s);
    bench_report("W10", peer, "tasks", runs, RUNS, "tasks/s");
}

static bool have_redis(void)
{
    if (system("command -v redis-server >/dev/null 2>&1") == 0)
        return true;
    fprintf(stderr, "W10 weave-redis: no redis-server (Debian: "
                    "redis-server): not measured\n");
    return false;
}

static void need_redis(void)
{
    if (!have_redis())
        exit(3);
}

void bench_w10_redis(void)
{
    need_redis();
    row("weave-redis", 1, 200000);
}

void bench_w10_redis_if_possible(void)
{
    if (have_redis())
        row("weave-redis", 1, 200000);
}

void bench_w10_redis_workers(void)
{
    need_redis();
    row("weave-redis-2workers", 2, 100000);
    row("weave-redis-4workers", 4, 100000);
    row("weave-redis-8workers", 8, 100000);
}

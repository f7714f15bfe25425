/*
 * tests/test_redis.c - the manager's redis:// backend (docs/redis.md)
 * against a real redis-server: each case starts its own on a free port of
 * 127.0.0.1 with its own temporary directory (AOF on, appendfsync always,
 * where durability is tested) and kills it and removes the directory at
 * the end.  Without redis-server (Debian: redis-server) a case says
 * "skipped" and passes.
 *
 * Waits are bounded polls, pipes between processes or deadlines, never
 * sleeps that hope a race went one way.
 */
#include "runner.h"

#include "weave/manager.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PASSWORD "s3cret"

/* ------------------------------------------------------------ helpers */

static wv_obj_t *vint(int64_t i)
{
    wv_obj_t *v;
    WVT_OK(wv_obj_new_int(&v, i));
    return v;
}

static int64_t get_int(const wv_obj_t *v)
{
    int64_t i;
    WVT_OK(wv_obj_get_int(v, &i));
    return i;
}

static void sh(const char *cmd)
{
    WVT_EQ(system(cmd), 0);
}

static bool have_redis(void)
{
    if (system("command -v redis-server >/dev/null 2>&1") == 0)
        return true;
    printf("skipped: no redis-server (Debian's redis-server package)\n");
    return false;
}

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    WVT_OK(bind(fd, (struct sockaddr *)&a, sizeof a));
    WVT_OK(getsockname(fd, (struct sockaddr *)&a, &len));
    close(fd);
    return ntohs(a.sin_port);
}

/* A redis-server of the case's own. */
struct rs {
    pid_t pid;
    uint16_t port;
    char dir[64];
    char url[160];
    const char *password; /* NULL: none */
    bool aof;
    const char *tls_dir; /* TLS only (rediss://): its certificates */
    wv_tls_ctx_t *tls;   /* a client context trusting them */
};

static void rs_spawn(struct rs *r)
{
    char port[16], cert[128], key[128], ca[128];
    snprintf(port, sizeof port, "%u", r->port);
    const char *argv[40] = {"redis-server",
                            "--bind",
                            "127.0.0.1",
                            "--dir",
                            r->dir,
                            "--save",
                            "",
                            "--appendonly",
                            r->aof ? "yes" : "no",
                            "--appendfsync",
                            "always",
                            "--daemonize",
                            "no",
                            "--logfile",
                            "",
                            "--loglevel",
                            "warning"};
    int argc = 17;
    if (r->password) {
        argv[argc++] = "--requirepass";
        argv[argc++] = r->password;
    }
    if (r->tls_dir) {
        snprintf(cert, sizeof cert, "%s/srv.pem", r->tls_dir);
        snprintf(key, sizeof key, "%s/srv.key", r->tls_dir);
        snprintf(ca, sizeof ca, "%s/ca.pem", r->tls_dir);
        const char *tls[] = {"--port",
                             "0",
                             "--tls-port",
                             port,
                             "--tls-cert-file",
                             cert,
                             "--tls-key-file",
                             key,
                             "--tls-ca-cert-file",
                             ca,
                             "--tls-auth-clients",
                             "no"};
        memcpy(argv + argc, tls, sizeof tls);
        argc += 12;
    } else {
        argv[argc++] = "--port";
        argv[argc++] = port;
    }
    argv[argc] = NULL;
    pid_t pid = fork();
    WVT_ASSERT(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 1);
        dup2(null, 2);
        execvp("redis-server", (char **)argv);
        _exit(127);
    }
    r->pid = pid;
}

/* Waits until the server answers (a client's connect: AUTH and PING);
 * false if it exited first (its port was taken) or ms passed. */
static bool rs_ready(struct rs *r, int64_t ms)
{
    wv_manager_opts_t o = {.url = r->url, .tls = r->tls};
    int64_t end = wv_deadline_in(ms);
    while (wv_now() < end) {
        wv_manager_t *m;
        if (wv_manager_connect(&m, &o, wv_deadline_in(1000)) == 0) {
            wv_manager_free(m);
            return true;
        }
        int st;
        if (waitpid(r->pid, &st, WNOHANG) == r->pid) {
            r->pid = 0;
            return false;
        }
        wvt_pause();
    }
    return false;
}

static void rs_kill(struct rs *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGKILL);
        int st;
        WVT_EQ(waitpid(r->pid, &st, 0), r->pid);
    }
    r->pid = 0;
}

static void rs_url(struct rs *r)
{
    snprintf(r->url, sizeof r->url, "%s://%s%s%s127.0.0.1:%u/0",
             r->tls_dir ? "rediss" : "redis", r->password ? ":" : "",
             r->password ? r->password : "", r->password ? "@" : "", r->port);
}

static void rs_start(struct rs *r)
{
    strcpy(r->dir, "/tmp/wvredisXXXXXX");
    WVT_ASSERT(mkdtemp(r->dir));
    for (int attempt = 0; attempt < 5; attempt++) {
        r->port = free_port(); /* may be taken before redis binds it */
        rs_url(r);
        rs_spawn(r);
        if (rs_ready(r, 10000))
            return;
        rs_kill(r);
    }
    WVT_FAIL("redis-server did not start");
}

/* The same server again: same port, same directory (its AOF). */
static void rs_restart(struct rs *r)
{
    rs_spawn(r);
    WVT_ASSERT(rs_ready(r, 20000));
}

static void rs_stop(struct rs *r)
{
    char cmd[128];
    rs_kill(r);
    snprintf(cmd, sizeof cmd, "rm -rf %s", r->dir);
    sh(cmd);
}

static wv_manager_t *rconnect(const struct rs *r)
{
    wv_manager_opts_t o = {.url = r->url, .tls = r->tls};
    wv_manager_t *m;
    WVT_OK(wv_manager_connect(&m, &o, wv_deadline_in(5000)));
    return m;
}

static wv_proxy_t *rproxy(wv_manager_t *m, const char *typeid)
{
    wv_proxy_t *p;
    WVT_OK(wv_manager_proxy(m, typeid, &p, wv_deadline_in(5000)));
    return p;
}

/* The first line redis-cli prints for a command. */
static void cli(const struct rs *r, const char *args, char *out, size_t cap)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "redis-cli -p %u -a %s --no-auth-warning %s 2>&1",
             r->port, r->password, args);
    FILE *f = popen(cmd, "r");
    WVT_ASSERT(f);
    out[0] = '\0';
    if (!fgets(out, (int)cap, f))
        out[0] = '\0';
    while (fgetc(f) != EOF) /* the rest */
        ;
    pclose(f);
    out[strcspn(out, "\n")] = '\0';
}

/* ------------------------------------------------------------- basics */

WVT_TEST(redis_put_get_lease_ack_basics)
{
    if (!have_redis())
        return;
    struct rs r = {.password = PASSWORD};
    rs_start(&r);
    wv_manager_t *m = rconnect(&r);
    wv_proxy_t *q = rproxy(m, "jobs");
    WVT_ASSERT(strcmp(wv_proxy_ident(q), "weave:jobs") == 0);
    WVT_ASSERT(strcmp(wv_proxy_typeid(q), "jobs") == 0);
    wv_obj_t *t, *s, *v;
    WVT_OK(wv_obj_new_tuple(&t, 2));
    WVT_OK(wv_obj_append(t, vint(7)));
    WVT_OK(wv_obj_new_str(&s, "seven", 5));
    WVT_OK(wv_obj_append(t, s));
    for (int i = 1; i <= 3; i++) {
        wv_obj_t *x = vint(i);
        WVT_OK(wv_proxy_put(q, x, wv_deadline_in(5000)));
        wv_obj_free(x);
    }
    WVT_OK(wv_proxy_put(q, t, wv_deadline_in(5000)));
    size_t n;
    WVT_OK(wv_proxy_qsize(q, &n, wv_deadline_in(5000)));
    WVT_EQ(n, 4);
    /* The entry's layout: one field p, the pickle (docs/redis.md). */
    char line[256];
    cli(&r, "XLEN weave:jobs", line, sizeof line);
    WVT_ASSERT(strcmp(line, "4") == 0);
    cli(&r, "--no-raw XRANGE weave:jobs - + COUNT 1", line, sizeof line);
    WVT_ASSERT(strstr(line, "1)"));
    cli(&r, "--raw XRANGE weave:jobs - + COUNT 1", line, sizeof line);
    WVT_ASSERT(strchr(line, '-')); /* the id, "ms-seq" */
    /* the field: the line after the id */
    cli(&r, "--raw XRANGE weave:jobs - + COUNT 1 | sed -n 2p", line,
        sizeof line);
    WVT_ASSERT(strcmp(line, "p") == 0);

    /* get: queue.get; get_leased: the item stays pending until ack. */
    WVT_OK(wv_proxy_get(q, &v, wv_deadline_in(5000)));
    WVT_EQ(get_int(v), 1);
    wv_obj_free(v);
    /* Its XACK + XDEL went out with the get, not with this proxy's next
     * command: the entry leaves the stream while the proxy idles. */
    WVT_POLL(
        (cli(&r, "XLEN weave:jobs", line, sizeof line), strcmp(line, "3") == 0),
        10000);
    uint64_t lease, lease2;
    WVT_OK(wv_proxy_get_leased(q, &v, &lease, 60000, wv_deadline_in(5000)));
    WVT_EQ(get_int(v), 2);
    wv_obj_free(v);
    WVT_OK(wv_proxy_qsize(q, &n, wv_deadline_in(5000)));
    WVT_EQ(n, 2); /* the leased one is not queued */
    WVT_OK(wv_proxy_ack(q, lease, wv_deadline_in(5000)));
    WVT_ERR(wv_proxy_ack(q, lease, wv_deadline_in(5000)), WV_ENOENT);
    WVT_ERR(wv_proxy_ack(q, 12345, wv_deadline_in(5000)), WV_ENOENT);
    /* Batches. */
    wv_obj_t *items[8];
    size_t got, done;
    WVT_OK(wv_proxy_get_many(q, items, 8, &got, wv_deadline_in(5000)));
    WVT_EQ(got, 2);
    WVT_EQ(get_int(items[0]), 3);
    WVT_ASSERT(wv_obj_equal(items[1], t));
    wv_obj_free(items[0]);
    wv_obj_free(items[1]);
    for (int i = 0; i < 5; i++)
        items[i] = vint(10 + i);
    WVT_OK(wv_proxy_put_many(q, items, 5, &done, wv_deadline_in(5000)));
    WVT_EQ(done, 5);
    for (int i = 0; i < 5; i++)
        wv_obj_free(items[i]);
    WVT_OK(wv_proxy_get_leased(q, &v, &lease, 60000, 0));
    WVT_EQ(get_int(v), 10);
    wv_obj_free(v);
    WVT_OK(wv_proxy_get_leased(q, &v, &lease2, 60000, 0));
    WVT_NE(lease, lease2);
    WVT_EQ(get_int(v), 11);
    wv_obj_free(v);
    WVT_OK(wv_proxy_ack(q, lease2, wv_deadline_in(5000)));
    WVT_OK(wv_proxy_ack(q, lease, wv_deadline_in(5000)));
    WVT_OK(wv_proxy_get_many(q, items, 8, &got, 0));
    WVT_EQ(got, 3);
    for (size_t i = 0; i < got; i++)
        wv_obj_free(items[i]);
    /* Empty: at once for deadline 0, at the deadline otherwise. */
    WVT_ERR(wv_proxy_get(q, &v, 0), WV_EAGAIN);
    int64_t t0 = wv_now();
    WVT_ERR(wv_proxy_get(q, &v, wv_deadline_in(150)), WV_ETIMEDOUT);
    WVT_GE(wv_now() - t0, 150);
    WVT_ERR(wv_proxy_get_leased(q, &v, &lease, 1000, wv_deadline_in(150)),
            WV_ETIMEDOUT);
    WVT_OK(wv_proxy_qsize(q, &n, wv_deadline_in(5000)));
    WVT_EQ(n, 0);
    /* Acknowledged entries are trimmed. */
    cli(&r, "XLEN weave:jobs", line, sizeof line);
    WVT_ASSERT(strcmp(line, "0") == 0);
    /* What Redis Streams have no mapping for. */
    wv_obj_t *res;
    WVT_ERR(wv_proxy_task_done(q, 0), WV_ENOTSUP);
    WVT_ERR(wv_proxy_join(q, 0), WV_ENOTSUP);
    WVT_ERR(wv_proxy_call(q, "qsize", NULL, NULL, &res, 0), WV_ENOTSUP);
    WVT_ERR(wv_manager_shutdown(m, 0), WV_ENOTSUP);
    wv_obj_free(t);
    wv_proxy_free(q);
    wv_manager_free(m);
    rs_stop(&r);
}

WVT_TEST(redis_bad_input)
{
    static const char *bad[] = {"redis:/127.0.0.1:1",
                                "http://127.0.0.1:1",
                                "redis://",
                                "redis://127.0.0.1:0",
                                "redis://127.0.0.1:70000",
                                "redis://127.0.0.1:1/x",
                                "redis://u@h:1",
                                "redis://[::1:1"};
    wv_manager_t *m;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wv_manager_opts_t o = {.url = bad[i]};
        int err = wv_manager_connect(&m, &o, wv_deadline_in(1000));
        if (err != WV_EINVAL)
            WVT_FAIL("%s: %s", bad[i], wv_err_name(err));
    }
    wv_manager_opts_t o = {.url = "redis://127.0.0.1:1", .redis_prefix = ""};
    WVT_ERR(wv_manager_connect(&m, &o, wv_deadline_in(1000)), WV_EINVAL);
    o.redis_prefix = NULL;
    WVT_ERR(wv_manager_new(&m, &o), WV_EINVAL); /* no Redis server */
    WVT_ERR(wv_manager_connect(&m, &o, wv_deadline_in(1000)), WV_ECONNREFUSED);
    if (!have_redis())
        return;
    struct rs r = {.password = PASSWORD};
    rs_start(&r);
    m = rconnect(&r);
    wv_proxy_t *q;
    WVT_ERR(wv_manager_proxy(m, "", &q, 0), WV_EINVAL);
    q = rproxy(m, "q");
    wv_obj_t *v;
    uint64_t lease;
    size_t got;
    WVT_ERR(wv_proxy_put(q, NULL, 0), WV_EINVAL);
    WVT_ERR(wv_proxy_get(q, NULL, 0), WV_EINVAL);
    WVT_ERR(wv_proxy_get_leased(q, &v, &lease, 0, 0), WV_EINVAL);
    WVT_ERR(wv_proxy_get_many(q, &v, 0, &got, 0), WV_EINVAL);
    /* An entry another writer left that is no item of ours: dropped,
     * said once, and the queue goes on. */
    char line[256];
    cli(&r, "XADD weave:q '*' other field", line, sizeof line);
    cli(&r, "XADD weave:q '*' p notapickle", line, sizeof line);
    wv_obj_t *x = vint(5);
    WVT_OK(wv_proxy_put(q, x, wv_deadline_in(5000)));
    wv_obj_free(x);
    WVT_ERR(wv_proxy_get(q, &v, wv_deadline_in(5000)), WV_EPROTO);
    WVT_ERR(wv_proxy_get(q, &v, wv_deadline_in(5000)), WV_EPROTO);
    WVT_OK(wv_proxy_get(q, &v, wv_deadline_in(5000)));
    WVT_EQ(get_int(v), 5);
    wv_obj_free(v);
    wv_proxy_free(q);
    wv_manager_free(m);
    rs_stop(&r);
}

WVT_TEST(redis_lease_expires_and_goes_to_another_worker)
{
    if (!have_redis())
        return;
    struct rs r = {.password = PASSWORD};
    rs_start(&r);
    wv_manager_t *m = rconnect(&r);
    wv_proxy_t *a = rproxy(m, "jobs"), *b = rproxy(m, "jobs");
    wv_obj_t *x = vint(99), *v;
    WVT_OK(wv_proxy_put(a, x, wv_deadline_in(5000)));
    uint64_t la, lb;
    WVT_OK(wv_proxy_get_leased(a, &v, &la, 300, wv_deadline_in(5000)));
    wv_obj_free(v);
    int64_t t0 = wv_now();
    WVT_OK(wv_proxy_get_leased(b, &v, &lb, 300, wv_deadline_in(10000)));
    WVT_GE(wv_now() - t0, 250); /* not before the lease ran out */
    WVT_EQ(get_int(v), 99);
    wv_obj_free(v);
    WVT_EQ(la, lb); /* a lease names the entry */
    WVT_ERR(wv_proxy_ack(a, la, wv_deadline_in(5000)), WV_ENOENT);
    WVT_OK(wv_proxy_ack(b, lb, wv_deadline_in(5000)));
    WVT_ERR(wv_proxy_get_leased(a, &v, &la, 300, wv_deadline_in(400)),
            WV_ETIMEDOUT);
    wv_obj_free(x);
    wv_proxy_free(a);
    wv_proxy_free(b);
    wv_manager_free(m);
    rs_stop(&r);
}

WVT_TEST(redis_renewed_lease_is_not_taken)
{
    /* a renews its lease before each of b's tries: b, whose takers' lease
     * is 1 s, finds nothing idle that long for 1.6 s and more; without the
     * renewals its third try would take the entry. */
    if (!have_redis())
        return;
    struct rs r = {.password = PASSWORD};
    rs_start(&r);
    wv_manager_t *m = rconnect(&r);
    wv_proxy_t *a = rproxy(m, "jobs"), *b = rproxy(m, "jobs");
    wv_obj_t *x = vint(7), *v;
    WVT_OK(wv_proxy_put(a, x, wv_deadline_in(5000)));
    uint64_t la, lb;
    WVT_OK(wv_proxy_get_leased(a, &v, &la, 1000, wv_deadline_in(5000)));
    wv_obj_free(v);
    int64_t t0 = wv_now();
    for (int i = 0; i < 4 || wv_now() - t0 < 1500; i++) {
        WVT_OK(wv_proxy_renew(a, la, 1000, wv_deadline_in(5000)));
        WVT_ERR(wv_proxy_get_leased(b, &v, &lb, 1000, wv_deadline_in(400)),
                WV_ETIMEDOUT);
    }
    WVT_OK(wv_proxy_ack(a, la, wv_deadline_in(5000)));
    WVT_ERR(wv_proxy_renew(a, la, 1000, wv_deadline_in(5000)), WV_ENOENT);
    WVT_ERR(wv_proxy_renew(a, la + 1, 1000, wv_deadline_in(5000)), WV_ENOENT);
    WVT_ERR(wv_proxy_renew(a, la, 0, wv_deadline_in(5000)), WV_EINVAL);
    wv_obj_free(x);
    wv_proxy_free(a);
    wv_proxy_free(b);
    wv_manager_free(m);
    rs_stop(&r);
}

/* ----------------------------------------------- masters and workers */

/* A worker process: takes tasks with a lease, puts each task's value
 * into "results" and acknowledges it, until it takes -1.  reported[n]
 * is set for a task whose result or ack failed (it may be done twice). */
static void worker(const struct rs *r, int64_t lease_ms, int ready_fd,
                   unsigned char *reported)
{
    wv_manager_opts_t o = {.url = r->url};
    wv_manager_t *m;
    if (wv_manager_connect(&m, &o, wv_deadline_in(5000)))
        _exit(10);
    wv_proxy_t *t, *res;
    if (wv_manager_proxy(m, "tasks", &t, wv_deadline_in(5000)) ||
        wv_manager_proxy(m, "results", &res, wv_deadline_in(5000)))
        _exit(11);
    if (ready_fd >= 0 && write(ready_fd, "r", 1) != 1)
        _exit(12);
    for (;;) {
        wv_obj_t *v;
        uint64_t lease;
        int64_t n;
        int err =
            wv_proxy_get_leased(t, &v, &lease, lease_ms, wv_deadline_in(60000));
        if (err)
            _exit(13);
        if (wv_obj_get_int(v, &n))
            _exit(14);
        if (n < 0) {
            wv_proxy_ack(t, lease, wv_deadline_in(20000));
            wv_obj_free(v);
            break;
        }
        err = wv_proxy_put(res, v, wv_deadline_in(20000));
        wv_obj_free(v);
        if (err && reported)
            reported[n] = 1; /* not acknowledged: redone after the lease */
        else if (wv_proxy_ack(t, lease, wv_deadline_in(20000)) && reported)
            reported[n] = 1; /* in doubt, or redone already */
    }
    wv_proxy_free(t);
    wv_proxy_free(res);
    wv_manager_free(m);
    _exit(0);
}

static void wait_ok(pid_t pid)
{
    int st;
    WVT_EQ(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        WVT_FAIL("child %d: status %#x", (int)pid, st);
}

#define MASTERS    2
#define WORKERS    3
#define PER_MASTER 400

WVT_TEST_TIMEOUT(redis_many_masters_and_workers_each_result_once, 120)
{
    if (!have_redis())
        return;
    struct rs r = {.password = PASSWORD};
    rs_start(&r);
    pid_t workers[WORKERS], masters[MASTERS];
    for (int w = 0; w < WORKERS; w++)
        if ((workers[w] = fork()) == 0)
            worker(&r, 30000, -1, NULL);
    for (int k = 0; k < MASTERS; k++) {
        if ((masters[k] = fork()) == 0) { /* half one by one, half batched */
            wv_manager_t *m = rconnect(&r);
            wv_proxy_t *t = rproxy(m, "tasks");
            wv_obj_t *batch[50];
            for (int i = 0; i < PER_MASTER / 2; i++) {
                wv_obj_t *x = vint(k * PER_MASTER + i);
                if (wv_proxy_put(t, x, wv_deadline_in(10000)))
                    _exit(20);
                wv_obj_free(x);
            }
            for (int i = PER_MASTER / 2; i < PER_MASTER; i += 50) {
                size_t done;
                for (int j = 0; j < 50; j++)
                    batch[j] = vint(k * PER_MASTER + i + j);
                if (wv_proxy_put_many(t, batch, 50, &done,
                                      wv_deadline_in(10000)) ||
                    done != 50)
                    _exit(21);
                for (int j = 0; j < 50; j++)
                    wv_obj_free(batch[j]);
            }
            wv_proxy_free(t);
            wv_manager_free(m);
            _exit(0);
        }
    }
    wv_manager_t *m = rconnect(&r);
    wv_proxy_t *res = rproxy(m, "results"), *t = rproxy(m, "tasks");
    static unsigned char seen[MASTERS * PER_MASTER];
    for (long total = 0; total < MASTERS * PER_MASTER;) {
        wv_obj_t *items[64];
        size_t got;
        WVT_OK(wv_proxy_get_many(res, items, 64, &got, wv_deadline_in(30000)));
        for (size_t i = 0; i < got; i++) {
            int64_t n = get_int(items[i]);
            WVT_ASSERT(n >= 0 && n < MASTERS * PER_MASTER);
            if (seen[n]++)
                WVT_FAIL("result %lld twice", (long long)n);
            wv_obj_free(items[i]);
        }
        total += (long)got;
    }
    for (int k = 0; k < MASTERS; k++)
        wait_ok(masters[k]);
    for (int w = 0; w < WORKERS; w++) {
        wv_obj_t *stop = vint(-1);
        WVT_OK(wv_proxy_put(t, stop, wv_deadline_in(5000)));
        wv_obj_free(stop);
    }
    for (int w = 0; w < WORKERS; w++)
        wait_ok(workers[w]);
    wv_obj_t *v;
    WVT_ERR(wv_proxy_get(res, &v, 0), WV_EAGAIN); /* nothing more */
    wv_proxy_free(t);
    wv_proxy_free(res);
    wv_manager_free(m);
    rs_stop(&r);
}

WVT_TEST(redis_killed_worker_tasks_are_redone_after_the_lease)
{
    if (!have_redis())
        return;
    struct rs r = {.password = PASSWORD};
    rs_start(&r);
    wv_manager_t *m = rconnect(&r);
    wv_proxy_t *t = rproxy(m, "tasks");
    wv_obj_t *items[3] = {vint(1), vint(2), vint(3)};
    WVT_OK(wv_proxy_put_many(t, items, 3, NULL, wv_deadline_in(5000)));
    int ready[2];
    WVT_OK(pipe(ready));
    pid_t pid = fork();
    WVT_ASSERT(pid >= 0);
    if (pid == 0) { /* takes two tasks, and dies holding them */
        wv_manager_t *c = rconnect(&r);
        wv_proxy_t *ct = rproxy(c, "tasks");
        wv_obj_t *v;
        uint64_t lease;
        for (int i = 0; i < 2; i++)
            if (wv_proxy_get_leased(ct, &v, &lease, 400, wv_deadline_in(5000)))
                _exit(1);
        if (write(ready[1], "x", 1) != 1)
            _exit(2);
        pause();
        _exit(3);
    }
    char b;
    WVT_EQ(read(ready[0], &b, 1), 1);
    kill(pid, SIGKILL);
    int st;
    WVT_EQ(waitpid(pid, &st, 0), pid);
    /* Another worker takes the third at once, then the dead one's two
     * once their lease ran out. */
    int64_t sum = 0;
    for (int i = 0; i < 3; i++) {
        wv_obj_t *v;
        uint64_t lease;
        WVT_OK(wv_proxy_get_leased(t, &v, &lease, 400, wv_deadline_in(10000)));
        sum += get_int(v);
        wv_obj_free(v);
        WVT_OK(wv_proxy_ack(t, lease, wv_deadline_in(5000)));
    }
    WVT_EQ(sum, 6);
    size_t n;
    WVT_OK(wv_proxy_qsize(t, &n, wv_deadline_in(5000)));
    WVT_EQ(n, 0);
    for (int i = 0; i < 3; i++)
        wv_obj_free(items[i]);
    close(ready[0]);
    close(ready[1]);
    wv_proxy_free(t);
    wv_manager_free(m);
    rs_stop(&r);
}

/* ------------------------------------------------ failed allocations */

/* A connect, a proxy, two puts, a get, a leased get, its ack, a qsize,
 * a put_many of three and get_many until they came, on a stream of its
 * own; the first error. */
static int cycle(const struct rs *r, int n)
{
    wv_manager_opts_t o = {.url = r->url};
    wv_manager_t *m = NULL;
    wv_proxy_t *q = NULL;
    wv_obj_t *x = NULL, *v = NULL;
    uint64_t lease;
    size_t k;
    char typeid[32];
    snprintf(typeid, sizeof typeid, "f%d", n);
    int64_t d = wv_deadline_in(5000);
    int err = wv_manager_connect(&m, &o, d);
    if (!err)
        err = wv_manager_proxy(m, typeid, &q, d);
    if (!err)
        err = wv_obj_new_int(&x, 5);
    for (int i = 0; i < 2 && !err; i++)
        err = wv_proxy_put(q, x, d);
    if (!err && !(err = wv_proxy_get(q, &v, d)))
        wv_obj_free(v);
    if (!err && !(err = wv_proxy_get_leased(q, &v, &lease, 60000, d))) {
        wv_obj_free(v);
        err = wv_proxy_ack(q, lease, d);
    }
    if (!err)
        err = wv_proxy_qsize(q, &k, d);
    wv_obj_t *three[3] = {x, x, x}, *got[8];
    if (!err)
        err = wv_proxy_put_many(q, three, 3, NULL, d);
    for (size_t left = 3; !err && left > 0; left -= k) {
        if ((err = wv_proxy_get_many(q, got, 8, &k, d)))
            break;
        WVT_LE(k, left);
        for (size_t i = 0; i < k; i++)
            wv_obj_free(got[i]);
    }
    wv_obj_free(x);
    wv_proxy_free(q);
    wv_manager_free(m);
    return err;
}

/* Each allocation of the cycle fails in turn: the call that meets it
 * fails with WV_ENOMEM, or WV_EINDOUBT where its request had gone out;
 * nothing leaks; the proxy's later calls (none here) would go on. */
WVT_TEST_TIMEOUT(redis_every_failed_allocation_is_reported_and_freed, 120)
{
    if (!have_redis())
        return;
    struct rs r = {.password = PASSWORD};
    rs_start(&r);
    wvt_alloc_install();
    int n = 1;
    for (;; n++) {
        long before = wvt_alloc_count();
        wvt_alloc_fail_at(n);
        int err = cycle(&r, n);
        bool reached = wvt_alloc_count() - before >= n;
        wvt_alloc_fail_at(0);
        WVT_EQ(wvt_alloc_live(), 0);
        if (!reached) {
            WVT_OK(err);
            break;
        }
        if (err != WV_ENOMEM && err != WV_EINDOUBT && err != 0)
            WVT_FAIL("allocation %d: %s", n, wv_err_name(err));
    }
    wvt_alloc_uninstall();
    WVT_GT(n, 20);
    printf("%d allocation points\n", n - 1);
    rs_stop(&r);
}

/* ------------------------------------------------- the server restarts */

#define RESTART_TASKS 1500

/* Shared between the processes of the restart case. */
struct restart_state {
    unsigned char put[RESTART_TASKS];      /* 1 put, 2 in doubt, 3 error */
    unsigned char reported[RESTART_TASKS]; /* a worker's report */
    int puts_done;                         /* [atomic] */
};

WVT_TEST_TIMEOUT(redis_server_killed_and_restarted_loses_no_task, 180)
{
    if (!have_redis())
        return;
    struct rs r = {.password = PASSWORD, .aof = true};
    rs_start(&r);
    struct restart_state *st = mmap(NULL, sizeof *st, PROT_READ | PROT_WRITE,
                                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    WVT_ASSERT(st != MAP_FAILED);
    pid_t workers[2], master;
    for (int w = 0; w < 2; w++)
        if ((workers[w] = fork()) == 0)
            worker(&r, 1000, -1, st->reported);
    if ((master = fork()) == 0) {
        wv_manager_t *m = rconnect(&r);
        wv_proxy_t *t = rproxy(m, "tasks");
        for (int i = 0; i < RESTART_TASKS; i++) {
            wv_obj_t *x = vint(i);
            int err = wv_proxy_put(t, x, wv_deadline_in(30000));
            wv_obj_free(x);
            st->put[i] = err == 0 ? 1 : err == WV_EINDOUBT ? 2 : 3;
            __atomic_store_n(&st->puts_done, i + 1, __ATOMIC_RELEASE);
        }
        wv_proxy_free(t);
        wv_manager_free(m);
        _exit(0);
    }
    /* Kill the server mid-run: some tasks put, some done, some not. */
    WVT_POLL(__atomic_load_n(&st->puts_done, __ATOMIC_ACQUIRE) >=
                 RESTART_TASKS / 3,
             60000);
    rs_kill(&r);
    rs_restart(&r);
    wait_ok(master);
    /* Every task whose put returned 0 is done; none twice unless a worker
     * reported it; an error other than "in doubt" is none. */
    wv_manager_t *m = rconnect(&r);
    wv_proxy_t *res = rproxy(m, "results"), *t = rproxy(m, "tasks");
    static unsigned char seen[RESTART_TASKS];
    int confirmed = 0, doubt = 0, got_confirmed = 0;
    for (int i = 0; i < RESTART_TASKS; i++) {
        WVT_ASSERT(st->put[i] == 1 || st->put[i] == 2);
        confirmed += st->put[i] == 1;
        doubt += st->put[i] == 2;
    }
    while (got_confirmed < confirmed) {
        wv_obj_t *items[64];
        size_t got;
        WVT_OK(wv_proxy_get_many(res, items, 64, &got, wv_deadline_in(30000)));
        for (size_t i = 0; i < got; i++) {
            int64_t n = get_int(items[i]);
            wv_obj_free(items[i]);
            WVT_ASSERT(n >= 0 && n < RESTART_TASKS);
            WVT_ASSERT(st->put[n] != 0);
            if (seen[n]++ && !st->reported[n])
                WVT_FAIL("task %lld done twice, unreported", (long long)n);
            if (seen[n] == 1 && st->put[n] == 1)
                got_confirmed++;
        }
    }
    for (int w = 0; w < 2; w++) {
        wv_obj_t *stop = vint(-1);
        WVT_OK(wv_proxy_put(t, stop, wv_deadline_in(5000)));
        wv_obj_free(stop);
    }
    for (int w = 0; w < 2; w++)
        wait_ok(workers[w]);
    /* Stragglers: in-doubt tasks that were queued after all, and
     * duplicates of reported ones. */
    wv_obj_t *v;
    while (wv_proxy_get(res, &v, 0) == 0) {
        int64_t n = get_int(v);
        wv_obj_free(v);
        if (seen[n]++ && !st->reported[n])
            WVT_FAIL("task %lld done twice, unreported", (long long)n);
    }
    printf("%d confirmed, %d in doubt\n", confirmed, doubt);
    munmap(st, sizeof *st);
    wv_proxy_free(t);
    wv_proxy_free(res);
    wv_manager_free(m);
    rs_stop(&r);
}

/* --------------------------------------------------------- failures */

/* A listener of ours that answers every connection with text (or, text
 * NULL, says nothing and keeps it open). */
struct fake {
    int fd;
    uint16_t port;
    const char *text;
    wvt_thread_t *th;
    int conn;
};

static void fake_serve(void *arg)
{
    struct fake *f = arg;
    f->conn = accept4(f->fd, NULL, NULL, SOCK_CLOEXEC);
    if (f->conn >= 0 && f->text && write(f->conn, f->text, strlen(f->text)) < 0)
        return;
}

static void fake_start(struct fake *f, const char *text)
{
    f->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    WVT_OK(bind(f->fd, (struct sockaddr *)&a, sizeof a));
    WVT_OK(listen(f->fd, 4));
    WVT_OK(getsockname(f->fd, (struct sockaddr *)&a, &len));
    f->port = ntohs(a.sin_port);
    f->text = text;
    f->conn = -1;
    f->th = wvt_spawn(fake_serve, f);
}

static void fake_stop(struct fake *f)
{
    wvt_join(f->th);
    if (f->conn >= 0)
        close(f->conn);
    close(f->fd);
}

WVT_TEST(redis_wrong_password_and_servers_that_are_not_redis)
{
    wv_manager_t *m;
    char url[128];
    struct fake f;
    /* Garbage. */
    fake_start(&f, "HTTP/1.1 400 Bad Request\r\n\r\n");
    snprintf(url, sizeof url, "redis://127.0.0.1:%u", f.port);
    wv_manager_opts_t o = {.url = url};
    WVT_ERR(wv_manager_connect(&m, &o, wv_deadline_in(5000)), WV_EPROTO);
    fake_stop(&f);
    /* Valid RESP, but no Redis: PING is not answered PONG. */
    fake_start(&f, "+OK\r\n+OK\r\n");
    snprintf(url, sizeof url, "redis://:pw@127.0.0.1:%u", f.port);
    WVT_ERR(wv_manager_connect(&m, &o, wv_deadline_in(5000)), WV_EPROTO);
    fake_stop(&f);
    /* Silent: the deadline. */
    fake_start(&f, NULL);
    snprintf(url, sizeof url, "redis://127.0.0.1:%u", f.port);
    int64_t t0 = wv_now();
    WVT_ERR(wv_manager_connect(&m, &o, wv_deadline_in(300)), WV_ETIMEDOUT);
    WVT_LT(wv_now() - t0, 3000);
    fake_stop(&f);
    if (!have_redis())
        return;
    struct rs r = {.password = PASSWORD};
    rs_start(&r);
    snprintf(url, sizeof url, "redis://:wrong@127.0.0.1:%u", r.port);
    WVT_ERR(wv_manager_connect(&m, &o, wv_deadline_in(5000)), WV_EAUTH);
    snprintf(url, sizeof url, "redis://127.0.0.1:%u", r.port); /* none */
    WVT_ERR(wv_manager_connect(&m, &o, wv_deadline_in(5000)), WV_EAUTH);
    snprintf(url, sizeof url, "redis://default:%s@127.0.0.1:%u/3", PASSWORD,
             r.port); /* user and password, db 3 */
    WVT_OK(wv_manager_connect(&m, &o, wv_deadline_in(5000)));
    wv_manager_free(m);
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%u/99999", PASSWORD,
             r.port);
    WVT_ERR(wv_manager_connect(&m, &o, wv_deadline_in(5000)), WV_EINVAL);
    rs_stop(&r);
    /* A server without a password: none sent, an empty one neither. */
    struct rs open = {0};
    rs_start(&open);
    snprintf(url, sizeof url, "redis://:@127.0.0.1:%u", open.port);
    WVT_OK(wv_manager_connect(&m, &o, wv_deadline_in(5000)));
    wv_manager_free(m);
    snprintf(url, sizeof url, "redis://:pw@127.0.0.1:%u", open.port);
    WVT_ERR(wv_manager_connect(&m, &o, wv_deadline_in(5000)), WV_EAUTH);
    rs_stop(&open);
}

WVT_TEST(redis_server_gone_longer_than_the_deadline)
{
    if (!have_redis())
        return;
    struct rs r = {.password = PASSWORD};
    rs_start(&r);
    wv_manager_t *m = rconnect(&r);
    wv_proxy_t *q = rproxy(m, "q");
    wv_obj_t *x = vint(1), *v;
    WVT_OK(wv_proxy_put(q, x, wv_deadline_in(5000)));
    WVT_OK(wv_proxy_get(q, &v, wv_deadline_in(5000)));
    wv_obj_free(v);
    rs_kill(&r);
    /* Each call reconnects with back-off until its deadline, then says
     * why: nobody listens.  Nothing was sent: no doubt. */
    int64_t t0 = wv_now();
    WVT_ERR(wv_proxy_get(q, &v, wv_deadline_in(400)), WV_ECONNREFUSED);
    WVT_GE(wv_now() - t0, 390);
    WVT_LT(wv_now() - t0, 3000);
    WVT_ERR(wv_proxy_put(q, x, wv_deadline_in(300)), WV_ECONNREFUSED);
    size_t n;
    WVT_ERR(wv_proxy_qsize(q, &n, 0), WV_ECONNREFUSED);
    /* Back: the same proxy goes on. */
    rs_restart(&r);
    WVT_OK(wv_proxy_put(q, x, wv_deadline_in(5000)));
    WVT_OK(wv_proxy_get(q, &v, wv_deadline_in(5000)));
    WVT_EQ(get_int(v), 1);
    wv_obj_free(v);
    wv_obj_free(x);
    wv_proxy_free(q);
    wv_manager_free(m);
    rs_stop(&r);
}

/* A server that restarted while a proxy sat idle (its last get's
 * acknowledgements maybe unanswered) is noticed before the next request
 * goes out: that request is sent on a new connection, not in doubt. */
WVT_TEST(redis_restart_between_calls_puts_no_request_in_doubt)
{
    if (!have_redis())
        return;
    struct rs r = {.password = PASSWORD, .aof = true};
    rs_start(&r);
    wv_manager_t *m = rconnect(&r);
    wv_proxy_t *q = rproxy(m, "q");
    wv_obj_t *x = vint(3), *v;
    for (int round = 0; round < 3; round++) {
        WVT_OK(wv_proxy_put(q, x, wv_deadline_in(5000)));
        WVT_OK(wv_proxy_get(q, &v, wv_deadline_in(5000)));
        wv_obj_free(v);
        rs_kill(&r);
        rs_restart(&r);
        WVT_OK(wv_proxy_put(q, x, wv_deadline_in(5000))); /* no doubt */
        WVT_OK(wv_proxy_get(q, &v, wv_deadline_in(5000)));
        WVT_EQ(get_int(v), 3);
        wv_obj_free(v);
        rs_kill(&r);
        rs_restart(&r);
    }
    WVT_ERR(wv_proxy_get(q, &v, 0), WV_EAGAIN); /* each got once */
    wv_obj_free(x);
    wv_proxy_free(q);
    wv_manager_free(m);
    rs_stop(&r);
}

/* A get blocked in XREADGROUP across a restart still ends by its
 * deadline, and takes what is put after the restart. */
WVT_TEST(redis_blocking_get_survives_a_restart)
{
    if (!have_redis())
        return;
    struct rs r = {.password = PASSWORD, .aof = true};
    rs_start(&r);
    int ready[2];
    WVT_OK(pipe(ready));
    pid_t pid = fork();
    WVT_ASSERT(pid >= 0);
    if (pid == 0) {
        wv_manager_t *m = rconnect(&r);
        wv_proxy_t *q = rproxy(m, "q");
        wv_obj_t *v;
        if (write(ready[1], "r", 1) != 1)
            _exit(1);
        int64_t t0 = wv_now();
        int err = wv_proxy_get(q, &v, wv_deadline_in(20000));
        if (err) {
            fprintf(stderr, "get: %s\n", wv_err_name(err));
            _exit(2);
        }
        if (get_int(v) != 42 || wv_now() - t0 > 20500)
            _exit(3);
        wv_obj_free(v);
        /* And a get that waits while the server is away, past it. */
        t0 = wv_now();
        if (write(ready[1], "r", 1) != 1)
            _exit(4);
        err = wv_proxy_get(q, &v, wv_deadline_in(700));
        if (err != WV_ETIMEDOUT && err != WV_ECONNREFUSED)
            _exit(5);
        if (wv_now() - t0 < 690 || wv_now() - t0 > 3500)
            _exit(6);
        wv_proxy_free(q);
        wv_manager_free(m);
        _exit(0);
    }
    char b;
    WVT_EQ(read(ready[0], &b, 1), 1);
    /* The child is connected and about to block (or blocking): kill the
     * server under it, bring it back, then put. */
    rs_kill(&r);
    rs_restart(&r);
    wv_manager_t *m = rconnect(&r);
    wv_proxy_t *q = rproxy(m, "q");
    wv_obj_t *x = vint(42);
    WVT_OK(wv_proxy_put(q, x, wv_deadline_in(5000)));
    wv_obj_free(x);
    WVT_EQ(read(ready[0], &b, 1), 1);
    rs_kill(&r);
    wait_ok(pid);
    close(ready[0]);
    close(ready[1]);
    wv_proxy_free(q);
    wv_manager_free(m);
    rs_stop(&r);
}

/* --------------------------------------------------- lost replies */

/* A man in the middle between a client and redis-server: forwards both
 * ways, one connection at a time; once armed with a word, the first
 * request containing it is forwarded, the server's reply waited for and
 * dropped, and the connection cut: the request ran, its reply was lost. */
struct mitm {
    int lfd;
    uint16_t port, target;
    const char *cut; /* [atomic] the armed word, NULL: none */
    int stop;        /* [atomic] */
    wvt_thread_t *th;
};

static bool forward(int from, int to, const char *cut, bool *cutting)
{
    char buf[65536];
    ssize_t n = read(from, buf, sizeof buf);
    if (n <= 0)
        return false;
    if (cut && memmem(buf, (size_t)n, cut, strlen(cut)))
        *cutting = true;
    return write(to, buf, (size_t)n) == n;
}

static void mitm_conn(struct mitm *x, int c)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(x->target),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) {
        for (bool cutting = false;
             !__atomic_load_n(&x->stop, __ATOMIC_ACQUIRE);) {
            struct pollfd p[2] = {{c, POLLIN, 0}, {s, POLLIN, 0}};
            if (poll(p, 2, 50) < 0)
                break;
            if (p[0].revents) {
                const char *cut = __atomic_load_n(&x->cut, __ATOMIC_ACQUIRE);
                if (!forward(c, s, cut, &cutting))
                    break;
                if (cutting) { /* the reply comes, and goes nowhere */
                    struct pollfd r = {s, POLLIN, 0};
                    WVT_EQ(poll(&r, 1, 5000), 1);
                    __atomic_store_n(&x->cut, NULL, __ATOMIC_RELEASE);
                    break;
                }
            }
            if (p[1].revents && !forward(s, c, NULL, &cutting))
                break;
        }
    }
    close(s);
    close(c);
}

static void mitm_serve(void *arg)
{
    struct mitm *x = arg;
    while (!__atomic_load_n(&x->stop, __ATOMIC_ACQUIRE)) {
        struct pollfd p = {x->lfd, POLLIN, 0};
        if (poll(&p, 1, 50) == 1) {
            int c = accept4(x->lfd, NULL, NULL, SOCK_CLOEXEC);
            if (c >= 0)
                mitm_conn(x, c);
        }
    }
}

static void mitm_start(struct mitm *x, uint16_t target)
{
    x->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    WVT_OK(bind(x->lfd, (struct sockaddr *)&a, sizeof a));
    WVT_OK(listen(x->lfd, 8));
    WVT_OK(getsockname(x->lfd, (struct sockaddr *)&a, &len));
    x->port = ntohs(a.sin_port);
    x->target = target;
    x->th = wvt_spawn(mitm_serve, x);
}

static void mitm_stop(struct mitm *x)
{
    __atomic_store_n(&x->stop, 1, __ATOMIC_RELEASE);
    wvt_join(x->th);
    close(x->lfd);
}

static void mitm_arm(struct mitm *x, const char *word)
{
    __atomic_store_n(&x->cut, word, __ATOMIC_RELEASE);
}

/* What each call does when its reply is lost (docs/redis.md): a put is
 * in doubt (and was queued), a get hands out what the lost reply held,
 * once; an ack that ran is in doubt. */
WVT_TEST(redis_lost_replies_put_in_doubt_get_recovers_ack_in_doubt)
{
    if (!have_redis())
        return;
    struct rs r = {.password = PASSWORD};
    rs_start(&r);
    struct mitm x = {0};
    mitm_start(&x, r.port);
    char url[128];
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%u", PASSWORD, x.port);
    wv_manager_opts_t o = {.url = url};
    wv_manager_t *m;
    WVT_OK(wv_manager_connect(&m, &o, wv_deadline_in(5000)));
    wv_proxy_t *q = rproxy(m, "q");
    wv_manager_t *direct = rconnect(&r);
    wv_proxy_t *d = rproxy(direct, "q");
    size_t n;
    /* put: ran, reply lost: in doubt, and queued. */
    wv_obj_t *a = vint(1), *b = vint(2), *v;
    mitm_arm(&x, "XADD");
    WVT_ERR(wv_proxy_put(q, a, wv_deadline_in(5000)), WV_EINDOUBT);
    WVT_ASSERT(!__atomic_load_n(&x.cut, __ATOMIC_ACQUIRE)); /* it cut */
    WVT_OK(wv_proxy_qsize(d, &n, wv_deadline_in(5000)));
    WVT_EQ(n, 1);
    /* get: delivered into a lost reply; the next try hands it out. */
    mitm_arm(&x, "XREADGROUP");
    WVT_OK(wv_proxy_get(q, &v, wv_deadline_in(5000)));
    WVT_ASSERT(!__atomic_load_n(&x.cut, __ATOMIC_ACQUIRE));
    WVT_EQ(get_int(v), 1);
    wv_obj_free(v);
    WVT_ERR(wv_proxy_get(d, &v, 0), WV_EAGAIN); /* once only */
    WVT_ERR(wv_proxy_get(q, &v, 0), WV_EAGAIN);
    /* The same for a leased get, while the caller holds another lease. */
    uint64_t held, lease;
    WVT_OK(wv_proxy_put(d, a, wv_deadline_in(5000)));
    WVT_OK(wv_proxy_put(d, b, wv_deadline_in(5000)));
    WVT_OK(wv_proxy_get_leased(q, &v, &held, 60000, wv_deadline_in(5000)));
    WVT_EQ(get_int(v), 1);
    wv_obj_free(v);
    mitm_arm(&x, "XREADGROUP");
    WVT_OK(wv_proxy_get_leased(q, &v, &lease, 60000, wv_deadline_in(5000)));
    WVT_ASSERT(!__atomic_load_n(&x.cut, __ATOMIC_ACQUIRE));
    WVT_EQ(get_int(v), 2);
    wv_obj_free(v);
    WVT_ERR(wv_proxy_get_leased(q, &v, &lease, 60000, 0), WV_EAGAIN);
    /* ack: ran, reply lost: sent again, finds nothing: in doubt. */
    mitm_arm(&x, "EVAL");
    WVT_ERR(wv_proxy_ack(q, lease, wv_deadline_in(5000)), WV_EINDOUBT);
    WVT_OK(wv_proxy_ack(q, held, wv_deadline_in(5000)));
    WVT_ERR(wv_proxy_ack(q, held, wv_deadline_in(5000)), WV_ENOENT);
    WVT_OK(wv_proxy_qsize(d, &n, wv_deadline_in(5000)));
    WVT_EQ(n, 0);
    char line[64];
    cli(&r, "XLEN weave:q", line, sizeof line);
    WVT_ASSERT(strcmp(line, "0") == 0); /* acknowledged: trimmed */
    wv_obj_free(a);
    wv_obj_free(b);
    wv_proxy_free(q);
    wv_proxy_free(d);
    wv_manager_free(m);
    wv_manager_free(direct);
    mitm_stop(&x);
    rs_stop(&r);
}

/* ------------------------------------------------------------ Python */

/* A python3 that can import redis (redis-py), or NULL. */
static const char *python_with_redis(void)
{
    static const char *const pythons[] = {"python3", "/usr/bin/python3"};
    for (size_t i = 0; i < sizeof pythons / sizeof pythons[0]; i++) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "%s -c 'import redis' >/dev/null 2>&1",
                 pythons[i]);
        if (system(cmd) == 0)
            return pythons[i];
    }
    return NULL;
}

/* redis-py reads what weave put (one field p, a pickle) as the group's
 * consumer, acknowledges it, and puts an answer that weave reads: the
 * layout of docs/redis.md, both ways. */
WVT_TEST_TIMEOUT(redis_python_reads_and_writes_weave_queues, 60)
{
    if (!have_redis())
        return;
    const char *python = python_with_redis();
    if (!python) {
        printf("skipped: no python3 with redis-py (Debian: python3-redis)\n");
        return;
    }
    struct rs r = {.password = PASSWORD};
    rs_start(&r);
    wv_manager_t *m = rconnect(&r);
    wv_proxy_t *q = rproxy(m, "py"), *back = rproxy(m, "back");
    wv_obj_t *t, *s, *v;
    WVT_OK(wv_obj_new_tuple(&t, 2));
    WVT_OK(wv_obj_append(t, vint(7)));
    WVT_OK(wv_obj_new_str(&s, "seven", 5));
    WVT_OK(wv_obj_append(t, s));
    WVT_OK(wv_proxy_put(q, t, wv_deadline_in(5000)));
    static const char script[] =
        "import pickle, sys, redis\n"
        "r = redis.Redis(port=int(sys.argv[1]), password=sys.argv[2])\n"
        "got = r.xreadgroup('weave', 'py-1', {'weave:py': '>'}, count=1,"
        " block=5000)\n"
        "[(_, [(id, fields)])] = got\n"
        "item = pickle.loads(fields[b'p'])\n"
        "assert item == (7, 'seven'), item\n"
        "r.xack('weave:py', 'weave', id); r.xdel('weave:py', id)\n"
        "r.xadd('weave:back', {'p': pickle.dumps(('back', 42))})\n";
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s -c \"%s\" %u %s", python, script, r.port,
             PASSWORD);
    sh(cmd);
    WVT_OK(wv_proxy_get(back, &v, wv_deadline_in(5000)));
    WVT_ASSERT(v->kind == WV_OBJ_TUPLE && v->u.seq.len == 2);
    WVT_EQ(get_int(v->u.seq.items[1]), 42);
    wv_obj_free(v);
    size_t n;
    WVT_OK(wv_proxy_qsize(q, &n, wv_deadline_in(5000)));
    WVT_EQ(n, 0);
    WVT_ERR(wv_proxy_get(q, &v, 0), WV_EAGAIN); /* Python took it */
    wv_obj_free(t);
    wv_proxy_free(q);
    wv_proxy_free(back);
    wv_manager_free(m);
    rs_stop(&r);
}

/* ------------------------------------------------------- coroutines */

struct coro_pair {
    const struct rs *r;
    int waiting; /* the getter is in its get */
    int64_t got;
};

static void *coro_getter(void *arg)
{
    struct coro_pair *cp = arg;
    wv_manager_t *m = rconnect(cp->r);
    wv_proxy_t *q = rproxy(m, "q");
    wv_obj_t *v;
    cp->waiting = 1;
    WVT_OK(wv_proxy_get(q, &v, wv_deadline_in(10000)));
    cp->got = get_int(v);
    wv_obj_free(v);
    wv_proxy_free(q);
    wv_manager_free(m);
    return NULL;
}

static void *coro_putter(void *arg)
{
    struct coro_pair *cp = arg;
    wv_manager_t *m = rconnect(cp->r);
    wv_proxy_t *q = rproxy(m, "q");
    while (!cp->waiting) /* runs only if the getter parked */
        WVT_OK(wv_coro_yield());
    wv_obj_t *v = vint(77);
    WVT_OK(wv_proxy_put(q, v, wv_deadline_in(10000)));
    wv_obj_free(v);
    wv_proxy_free(q);
    wv_manager_free(m);
    return NULL;
}

/* Two coroutines of one thread: the one waiting in a get parks, so the
 * other makes the put it waits for.  A get that blocked the thread would
 * run out its deadline and fail the case. */
WVT_TEST(redis_get_parks_only_its_coroutine)
{
    if (!have_redis())
        return;
    struct rs r = {.password = PASSWORD};
    rs_start(&r);
    struct coro_pair cp = {&r, 0, 0};
    WVT_OK(wv_go(coro_getter, &cp));
    WVT_OK(wv_go(coro_putter, &cp));
    WVT_OK(wv_coro_run(wv_deadline_in(30000)));
    WVT_EQ(cp.got, 77);
    rs_stop(&r);
}

/* ---------------------------------------------------------------- TLS */

WVT_TEST_TIMEOUT(redis_over_tls, 60)
{
    if (!have_redis())
        return;
    if (system("ldd \"$(command -v redis-server)\" 2>/dev/null | "
               "grep -q libssl") != 0) {
        printf("skipped: redis-server built without TLS (no libssl)\n");
        return;
    }
    char dir[] = "/tmp/wvredistlsXXXXXX", cmd[2048], ca[96];
    WVT_ASSERT(mkdtemp(dir));
    snprintf(cmd, sizeof cmd,
             "set -e; cd %s; exec >/dev/null 2>&1;"
             "K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';"
             "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext;"
             "openssl req -x509 $K -keyout ca.key -out ca.pem -days 30 "
             "-subj /CN=weave-redis-ca;"
             "openssl req $K -keyout srv.key -out srv.csr -subj /CN=localhost;"
             "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key "
             "-CAcreateserial -out srv.pem -days 30 -extfile ext;"
             "chmod 644 srv.key",
             dir);
    sh(cmd);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    wv_tls_ctx_opts_t to = {.ca_file = ca};
    wv_tls_ctx_t *ctx;
    WVT_OK(wv_tls_ctx_new(&ctx, &to));
    struct rs r = {.password = PASSWORD, .tls_dir = dir, .tls = ctx};
    rs_start(&r);
    wv_manager_t *m = rconnect(&r);
    wv_proxy_t *q = rproxy(m, "q");
    wv_obj_t *x = vint(5), *v;
    WVT_OK(wv_proxy_put(q, x, wv_deadline_in(5000)));
    WVT_OK(wv_proxy_get(q, &v, wv_deadline_in(5000)));
    WVT_ASSERT(wv_obj_equal(v, x));
    wv_obj_free(v);
    wv_obj_free(x);
    wv_proxy_free(q);
    wv_manager_free(m);
    /* The system's trust store does not know our CA; plain redis://
     * to a TLS port is no Redis. */
    wv_manager_opts_t o = {.url = r.url};
    WVT_ERR(wv_manager_connect(&m, &o, wv_deadline_in(5000)), WV_ECERT);
    char url[128];
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%u", PASSWORD, r.port);
    o.url = url;
    int err = wv_manager_connect(&m, &o, wv_deadline_in(2000));
    WVT_ASSERT(err == WV_EPROTO || err == WV_ECONNRESET || err == WV_ETIMEDOUT);
    rs_stop(&r);
    wv_tls_ctx_free(ctx);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    sh(cmd);
}

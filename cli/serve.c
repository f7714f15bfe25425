/*
 * cli/serve.c - weave serve: a manager with a task and a result queue
 * (the tutorials' task_master.py without the master's own loop), bound
 * to an address, until SIGINT or SIGTERM.
 *
 * Beside the two queues it registers the object weave_status, whose
 * methods weave status and the workers call over the same authenticated
 * wire:
 *   stats()              a dict: address, uptime, clients, each queue's
 *                        numbers (wv_manager_queue_stats), done, failed,
 *                        rate (reports per second, the last minute)
 *   report(exit, signal) a worker's account of one job it ran and whose
 *                        result it put: done, and failed unless exit is
 *                        0 and signal None
 * Counting done and failed from the workers' reports, rather than by
 * reading the result queue, leaves the results to whoever collects them;
 * a worker that does not report (a Python task_worker) shows in the
 * result queue's puts only.
 *
 * With --redis URL the two queues are kept in Redis Streams instead of
 * its memory (cli/serve_redis.c): stats() then gives each queue's depth
 * in Redis only ('qsize', and 'redis': True).
 *
 * Signals: SIGINT and SIGTERM are blocked before the manager's threads
 * start (they inherit the mask) and taken by sigtimedwait in the main
 * thread, which then shuts the manager down: no handler runs beside
 * the server's threads, and serve starts no child.
 */
#include "remote.h"
#include "serve_redis.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The recent rate's window: reports counted per second, a minute of
 * them. */
#define WINDOW 60

typedef struct serve {
    cli_remote_t r;
    wv_manager_t *m;
    serve_redis_t *redis;       /* --redis: the queues' backend, or NULL */
    char where[WV_ADDR_STRLEN]; /* the address listened on, under lock
                                   (known only once the server runs) */
    int64_t started;            /* wv_now() before the start */
    uint64_t done;              /* [atomic] jobs reported */
    uint64_t failed;            /* [atomic] of which failed */
    /* Guards where, count and second. */
    wv_lock_t lock;
    /* Reports per second of the last minute: slot sec % WINDOW counts
     * the reports of second sec, for the second stamped in its second[]
     * (an older stamp: the slot is stale). */
    uint64_t count[WINDOW];
    int64_t second[WINDOW];
} serve_t;

static void usage(FILE *f)
{
    fputs("usage: weave serve [options]\n"
          "\n"
          "Serve a task queue and a result queue, as the tutorials'\n"
          "task_master.py does, until SIGINT or SIGTERM; prints the address\n"
          "it listens on.  Workers (weave worker, a Python task_worker)\n"
          "take tasks; weave submit puts them; weave status shows numbers.\n"
          "\n"
          "options:\n"
          "  --bind HOST:PORT      listen there (default 127.0.0.1:5000;\n"
          "                        port 0: a free one; :PORT every address)\n",
          f);
    fputs("  --redis URL           keep the queues in Redis Streams, shared\n"
          "                        with other serves and --redis clients and\n"
          "                        kept across restarts: redis://[[USER]:\n"
          "                        PASSWORD@]HOST[:PORT][/DB], rediss://...\n"
          "                        (the system's CAs); no password in URL:\n"
          "                        $WEAVE_REDIS_PASSWORD, else $REDISCLI_AUTH\n"
          "  --redis-prefix P      the streams' key prefix (weave)\n",
          f);
    fputs(CLI_REMOTE_USAGE_KEY, f);
    fputs("  --tls-cert FILE       TLS: the server's certificate (PEM)\n"
          "  --tls-key FILE        TLS: its private key (PEM)\n"
          "  -h, --help            this help\n"
          "\n"
          "exit status:\n"
          "  0    stopped by SIGINT or SIGTERM\n",
          f);
    fputs(CLI_REMOTE_USAGE_EXIT, f);
}

/* ------------------------------------------------------ weave_status */

static int dict_put(wv_obj_t *d, const char *key, wv_obj_t *v)
{
    wv_obj_t *k;
    if (!v || wv_obj_new_str(&k, key, strlen(key))) {
        wv_obj_free(v);
        return WV_ENOMEM;
    }
    int err = wv_obj_dict_set(d, k, v);
    if (err) {
        wv_obj_free(k);
        wv_obj_free(v);
    }
    return err;
}

static wv_obj_t *num(uint64_t n)
{
    wv_obj_t *v;
    return wv_obj_new_int(&v, (int64_t)n) ? NULL : v;
}

/* A queue in Redis: its depth only (Redis counts no puts or takes). */
static wv_obj_t *redis_queue_stats(serve_t *s, const char *typeid)
{
    size_t n;
    wv_obj_t *d, *yes;
    if (serve_redis_qsize(s->redis, typeid, &n) || wv_obj_new_dict(&d, 2))
        return NULL;
    if (dict_put(d, "qsize", num(n)) ||
        dict_put(d, "redis", wv_obj_new_bool(&yes, true) ? NULL : yes)) {
        wv_obj_free(d);
        return NULL;
    }
    return d;
}

static wv_obj_t *queue_stats(serve_t *s, const char *typeid)
{
    wv_manager_queue_stats_t st;
    wv_obj_t *d;
    if (s->redis)
        return redis_queue_stats(s, typeid);
    if (wv_manager_queue_stats(s->m, typeid, &st) || wv_obj_new_dict(&d, 7))
        return NULL;
    if (dict_put(d, "qsize", num(st.qsize)) ||
        dict_put(d, "leased", num(st.leased)) ||
        dict_put(d, "puts", num(st.puts)) ||
        dict_put(d, "gets", num(st.gets)) ||
        dict_put(d, "acks", num(st.acks)) ||
        dict_put(d, "renewals", num(st.renewals)) ||
        dict_put(d, "redelivered", num(st.redelivered))) {
        wv_obj_free(d);
        return NULL;
    }
    return d;
}

static void window_add(serve_t *s)
{
    int64_t sec = wv_now() / 1000;
    size_t slot = (size_t)(sec % WINDOW);
    wv_lock_acquire(&s->lock, WV_FOREVER);
    if (s->second[slot] != sec) {
        s->second[slot] = sec;
        s->count[slot] = 0;
    }
    s->count[slot]++;
    wv_lock_release(&s->lock);
}

/* Reports per second over the last minute (over the uptime, when
 * shorter), the current second included. */
static double window_rate(serve_t *s)
{
    int64_t now = wv_now(), sec = now / 1000;
    uint64_t sum = 0;
    wv_lock_acquire(&s->lock, WV_FOREVER);
    for (size_t i = 0; i < WINDOW; i++)
        if (s->second[i] > sec - WINDOW)
            sum += s->count[i];
    wv_lock_release(&s->lock);
    double span = (double)(now - s->started) / 1000.0;
    if (span > WINDOW)
        span = WINDOW;
    return span > 0 ? (double)sum / span : 0.0;
}

static int stats(void *arg, const wv_obj_t *args, const wv_obj_t *kwds,
                 wv_obj_t **result)
{
    serve_t *s = arg;
    wv_obj_t *d, *queues, *v;
    (void)args;
    (void)kwds;
    if (wv_obj_new_dict(&d, 8))
        return WV_ENOMEM;
    if (wv_obj_new_dict(&queues, 2) ||
        dict_put(queues, s->r.task_queue, queue_stats(s, s->r.task_queue)) ||
        dict_put(queues, s->r.result_queue,
                 queue_stats(s, s->r.result_queue)) ||
        dict_put(d, "queues", queues))
        goto fail;
    char where[WV_ADDR_STRLEN];
    wv_lock_acquire(&s->lock, WV_FOREVER);
    memcpy(where, s->where, sizeof where);
    wv_lock_release(&s->lock);
    if (wv_obj_new_str(&v, where, strlen(where)) || dict_put(d, "address", v))
        goto fail;
    if (wv_obj_new_float(&v, (double)(wv_now() - s->started) / 1000.0) ||
        dict_put(d, "uptime", v))
        goto fail;
    if (dict_put(d, "clients", num(wv_manager_clients(s->m))))
        goto fail;
    if (wv_obj_new_float(&v, window_rate(s)) || dict_put(d, "rate", v))
        goto fail;
    if (dict_put(d, "done", num(__atomic_load_n(&s->done, __ATOMIC_RELAXED))) ||
        dict_put(d, "failed",
                 num(__atomic_load_n(&s->failed, __ATOMIC_RELAXED))))
        goto fail;
    *result = d;
    return 0;
fail:
    wv_obj_free(d);
    return WV_ENOMEM;
}

static int report(void *arg, const wv_obj_t *args, const wv_obj_t *kwds,
                  wv_obj_t **result)
{
    serve_t *s = arg;
    int64_t code = 0;
    (void)kwds;
    (void)result;
    if (args->u.seq.len != 2)
        return WV_EINVAL;
    const wv_obj_t *exitval = args->u.seq.items[0];
    const wv_obj_t *sig = args->u.seq.items[1];
    bool ok = exitval->kind != WV_OBJ_NONE &&
              wv_obj_get_int(exitval, &code) == 0 && code == 0 &&
              sig->kind == WV_OBJ_NONE;
    __atomic_add_fetch(&s->done, 1, __ATOMIC_RELAXED);
    window_add(s);
    if (!ok)
        __atomic_add_fetch(&s->failed, 1, __ATOMIC_RELAXED);
    return 0;
}

/* ------------------------------------------------------------ serving */

static int parse(serve_t *s, int argc, char **argv, bool *help)
{
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            *help = true;
            return 0;
        }
        int got = cli_remote_option(&s->r, argc, argv, &i);
        if (got < 0)
            return -1;
        if (got == 0) {
            fprintf(stderr,
                    "weave serve: unknown option '%s' "
                    "(weave serve --help)\n",
                    argv[i]);
            return -1;
        }
    }
    if (!strcmp(s->r.task_queue, s->r.result_queue)) {
        fputs("weave serve: the task and result queues need two names\n",
              stderr);
        return -1;
    }
    return 0;
}

/* The two queues in the manager's memory. */
static int register_queues(serve_t *s)
{
    const char *names[2] = {s->r.task_queue, s->r.result_queue};
    for (int i = 0; i < 2; i++) {
        int err = wv_manager_register_queue(s->m, names[i], 0);
        if (err == WV_EINVAL) {
            fprintf(stderr,
                    "weave serve: %s: a queue's name is an identifier\n",
                    names[i]);
            return CLI_EXIT_USAGE;
        }
        if (err) {
            fprintf(stderr, "weave serve: %s\n", wv_strerror(err));
            return CLI_EXIT_ERROR;
        }
    }
    return 0;
}

static int setup(serve_t *s)
{
    wv_manager_opts_t o = cli_remote_opts(&s->r);
    o.refuse_remote_shutdown = true;
    int err = wv_manager_new(&s->m, &o);
    if (err) {
        fprintf(stderr, "weave serve: %s\n", wv_strerror(err));
        return CLI_EXIT_ERROR;
    }
    int rc = s->r.redis ? serve_redis_new(&s->redis, &s->r, s->m)
                        : register_queues(s);
    if (rc)
        return rc;
    err = wv_manager_register(s->m, CLI_STATUS_TYPEID, "stats", stats, s);
    if (!err)
        err = wv_manager_register(s->m, CLI_STATUS_TYPEID, "report", report, s);
    if (err == WV_EEXIST) {
        fprintf(stderr, "weave serve: %s is taken by weave itself\n",
                CLI_STATUS_TYPEID);
        return CLI_EXIT_USAGE;
    }
    if (err) {
        fprintf(stderr, "weave serve: %s\n", wv_strerror(err));
        return CLI_EXIT_ERROR;
    }
    return 0;
}

static int listen_and_wait(serve_t *s)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    s->started = wv_now();
    int err = wv_manager_start(s->m);
    wv_addr_t a;
    if (!err)
        err = wv_manager_addr(s->m, &a);
    if (err) {
        char where[300];
        fprintf(stderr, "weave serve: cannot listen on %s: %s\n",
                cli_remote_where(&s->r, where, sizeof where), wv_strerror(err));
        return CLI_EXIT_UNREACHABLE;
    }
    wv_lock_acquire(&s->lock, WV_FOREVER);
    wv_addr_format(&a, s->where, sizeof s->where);
    wv_lock_release(&s->lock);
    printf("weave serve: listening on %s%s (queues %s, %s%s%s)\n", s->where,
           s->r.tls_ctx ? " with TLS" : "", s->r.task_queue, s->r.result_queue,
           s->redis ? " in " : "", s->redis ? s->r.redis_where : "");
    fflush(stdout);
    int sig;
    struct timespec tick = {1, 0};
    do
        sig = sigtimedwait(&set, NULL, &tick);
    while (sig < 0);
    fprintf(stderr, "weave serve: %s: stopping\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    serve_redis_stop(s->redis);
    wv_manager_shutdown(s->m, wv_deadline_in(5000));
    return 0;
}

int cli_serve_main(int argc, char **argv)
{
    serve_t *s = calloc(1, sizeof *s);
    if (!s) {
        fputs("weave serve: out of memory\n", stderr);
        return CLI_EXIT_ERROR;
    }
    cli_remote_init(&s->r, "serve", true);
    wv_lock_init(&s->lock);
    bool help = false;
    int rc = CLI_EXIT_USAGE;
    if (parse(s, argc, argv, &help) == 0) {
        if (help) {
            usage(stdout);
            rc = 0;
        } else if ((rc = cli_remote_ready(&s->r)) == 0 &&
                   (rc = setup(s)) == 0) {
            rc = listen_and_wait(s);
        }
    }
    wv_manager_free(s->m);
    serve_redis_free(s->redis); /* after the server: no call runs now */
    cli_remote_free(&s->r);
    wv_lock_destroy(&s->lock);
    free(s);
    return rc;
}

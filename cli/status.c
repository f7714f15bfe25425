/*
 * cli/status.c - weave status: a served manager's numbers, asked over the
 * authenticated wire by calling weave_status.stats() (cli/serve.c).  A
 * manager that is no weave serve (a Python task_master, a program of its
 * own) has no such object: then only the queues' depths are shown, from
 * their qsize().
 *
 * On Redis (--redis URL) there is no weave_status (wv_proxy_call
 * answers WV_ENOTSUP) and Redis keeps no counts of puts or takes: the
 * queues' depths only, each stream's qsize (the consumer group's lag:
 * entries never delivered; leased ones not counted):
 *     redis://127.0.0.1:6379/0 (Redis, prefix weave: depths only)
 *     get_task_queue: 5 queued
 * Asking makes the stream and its group if missing (an empty queue).
 *
 * Output, one line each, words that a script can cut:
 *     weave serve at 127.0.0.1:5000, up 12.3 s, 3 clients
 *     get_task_queue: 5 queued, 2 leased, 10 put, 7 taken, 5 acked,
 *         1 redelivered, 12 renewed      (on one line)
 *     get_result_queue: 3 queued, 0 leased, 5 put, 2 taken, 0 acked,
 *         0 redelivered, 0 renewed       (on one line)
 *     jobs: 5 done, 1 failed, 0.41 done/s
 */
#include "remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fputs("usage: weave status [options] [HOST:PORT | --redis URL]\n"
          "\n"
          "A served manager's numbers: each queue's depth, its leased,\n"
          "put, taken, acknowledged and redelivered items; the clients\n"
          "connected; the jobs the workers reported done and failed, and\n"
          "their rate.  Against a manager that is no weave serve, the\n"
          "queues' depths only; on Redis (--redis) too: each queue's\n"
          "entries not yet taken.\n"
          "\n"
          "options:\n",
          f);
    fputs(CLI_REMOTE_USAGE_CONNECT, f);
    fputs(CLI_REMOTE_USAGE_REDIS, f);
    fputs(CLI_REMOTE_USAGE_KEY, f);
    fputs("  -h, --help            this help\n"
          "\n"
          "exit status:\n"
          "  0    the numbers were printed\n",
          f);
    fputs(CLI_REMOTE_USAGE_EXIT, f);
}

static int64_t num(const wv_obj_t *d, const char *key)
{
    int64_t v = 0;
    wv_obj_get_int(wv_obj_dict_get(d, key), &v);
    return v;
}

static void print_queue(const char *name, const wv_obj_t *q)
{
    if (!q || q->kind != WV_OBJ_DICT) {
        printf("%s: no such queue\n", name);
        return;
    }
    if (wv_obj_dict_get(q, "redis")) { /* weave serve --redis */
        printf("%s: %lld queued (in Redis)\n", name,
               (long long)num(q, "qsize"));
        return;
    }
    printf("%s: %lld queued, %lld leased, %lld put, %lld taken, %lld acked, "
           "%lld redelivered, %lld renewed\n",
           name, (long long)num(q, "qsize"), (long long)num(q, "leased"),
           (long long)num(q, "puts"), (long long)num(q, "gets"),
           (long long)num(q, "acks"), (long long)num(q, "redelivered"),
           (long long)num(q, "renewals"));
}

static void print_stats(const cli_remote_t *r, const wv_obj_t *d)
{
    const wv_obj_t *addr = wv_obj_dict_get(d, "address");
    const wv_obj_t *up = wv_obj_dict_get(d, "uptime");
    double uptime = up && up->kind == WV_OBJ_FLOAT ? up->u.f : 0;
    const wv_obj_t *queues = wv_obj_dict_get(d, "queues");
    /* The clients less this status's own connection. */
    int64_t clients = num(d, "clients") - 1;
    printf("weave serve at %s, up %.1f s, %lld client%s\n",
           addr && addr->kind == WV_OBJ_STR ? addr->u.s.data : "?", uptime,
           (long long)(clients > 0 ? clients : 0), clients == 1 ? "" : "s");
    print_queue(r->task_queue, wv_obj_dict_get(queues, r->task_queue));
    print_queue(r->result_queue, wv_obj_dict_get(queues, r->result_queue));
    int64_t done = num(d, "done");
    const wv_obj_t *rate = wv_obj_dict_get(d, "rate");
    printf("jobs: %lld done, %lld failed, %.2f done/s, %.2f/s in the last "
           "minute\n",
           (long long)done, (long long)num(d, "failed"),
           uptime > 0 ? (double)done / uptime : 0.0,
           rate && rate->kind == WV_OBJ_FLOAT ? rate->u.f : 0.0);
}

/* A manager without weave_status: the depths, by qsize(). */
static int plain_depths(cli_remote_t *r, wv_manager_t *m, int64_t deadline)
{
    const char *names[2] = {r->task_queue, r->result_queue};
    char where[300];
    cli_remote_where(r, where, sizeof where);
    if (cli_remote_is_redis(r))
        printf("%s (Redis, prefix %s: depths only)\n", where,
               r->redis_prefix ? r->redis_prefix : "weave");
    else
        printf("manager at %s (no weave serve: depths only)\n", where);
    for (int i = 0; i < 2; i++) {
        wv_proxy_t *p;
        size_t n;
        int err = wv_manager_proxy(m, names[i], &p, deadline);
        if (!err) {
            err = wv_proxy_qsize(p, &n, deadline);
            wv_proxy_free(p);
        }
        if (err == WV_ENOENT)
            printf("%s: no such queue\n", names[i]);
        else if (err)
            return cli_remote_fail(r, names[i], err);
        else
            printf("%s: %zu queued\n", names[i], n);
    }
    return 0;
}

static int show(cli_remote_t *r)
{
    int64_t deadline = wv_deadline_in(r->connect_ms);
    wv_manager_t *m;
    wv_proxy_t *p = NULL;
    wv_obj_t *res = NULL;
    int err = cli_remote_connect(r, &m, deadline);
    if (err)
        return cli_remote_fail(r, "manager", err);
    int rc = 0;
    /* On Redis any name is a stream: asking for weave_status would
     * make one. */
    err = cli_remote_is_redis(r)
              ? WV_ENOENT
              : wv_manager_proxy(m, CLI_STATUS_TYPEID, &p, deadline);
    if (err == WV_ENOENT) {
        rc = plain_depths(r, m, deadline);
    } else if (err ||
               (err = wv_proxy_call(p, "stats", NULL, NULL, &res, deadline))) {
        rc = cli_remote_fail(r, CLI_STATUS_TYPEID, err);
    } else if (res->kind != WV_OBJ_DICT) {
        rc = cli_remote_fail(r, CLI_STATUS_TYPEID, WV_EPROTO);
    } else {
        print_stats(r, res);
    }
    wv_obj_free(res);
    wv_proxy_free(p);
    wv_manager_free(m);
    if (!rc && fflush(stdout) != 0) {
        perror("weave status: standard output");
        rc = CLI_EXIT_ERROR;
    }
    return rc;
}

int cli_status_main(int argc, char **argv)
{
    cli_remote_t r;
    cli_remote_init(&r, "status", false);
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        if (cli_is_help(argv[i])) {
            usage(stdout);
            cli_remote_free(&r);
            return 0;
        }
        int got = cli_remote_option(&r, argc, argv, &i);
        if (got < 0) {
            rc = CLI_EXIT_USAGE;
        } else if (got == 0 && argv[i][0] == '-') {
            fprintf(stderr,
                    "weave status: unknown option '%s' (weave status --help)\n",
                    argv[i]);
            rc = CLI_EXIT_USAGE;
        } else if (got == 0 && cli_remote_address(&r, argv[i]) < 0) {
            rc = CLI_EXIT_USAGE;
        }
    }
    if (!rc && !(rc = cli_remote_ready(&r)))
        rc = show(&r);
    cli_remote_free(&r);
    return rc;
}

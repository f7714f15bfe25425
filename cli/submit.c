/*
 * cli/submit.c - weave submit: put commands on a served task queue, with
 * weave map's inputs and replacement strings; --wait collects their
 * results and exits as weave map does.
 *
 * Each task is {'id': N, 'cmd': LINE, 'batch': B}: N the input's number
 * from 1 ({#}), LINE the command as weave map --dry-run shows it (what
 * /bin/sh -c runs), B this submission's name (host:pid:ms).  They go in
 * batches of up to 256 per request (wv_proxy_put_many).
 *
 * --wait takes results from the result queue until it has one for each
 * id of its batch.  A result of another batch (another submitter's, a
 * Python master's) is put back, and the next get waits 20 ms, so that
 * submitters sharing one result queue each find their own: correct, but
 * a queue shared by many waiting submitters is shuffled a lot; one
 * collector per result queue is the fast setup.  A second result of the
 * same task (a worker killed between its put and its ack: the task ran
 * twice) is dropped, so each task's result is printed once.
 * On Redis (--redis URL) the same: the queues are streams.  A put
 * whose reply a broken connection lost (WV_EINDOUBT) is not put again
 * (a task twice would run twice): submit says how many tasks were
 * confirmed, that the rest are in doubt, and exits 69.
 * Rejected: a result queue per submission: weave serve's queues are
 * registered before it starts (so are Python's), and a Python worker
 * could not know where to put.
 */
#include "remote.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK         256
#define SLICE_MS      250 /* a get's wait, between looks at signals */
#define FOREIGN_PAUSE 20  /* ms after putting back another's result */
#define CALL_MS       10000

typedef struct submit {
    cli_remote_t r;
    const char *arg_file; /* -a */
    bool null_sep;        /* -0 */
    bool wait;            /* --wait */
    int64_t wait_ms;      /* --wait-timeout, 0: none */
    char **cmd;           /* the command's words */
    size_t ncmd;
    bool has_args; /* ::: given */
    char **args;
    size_t nargs;
    cli_inputs_t inputs;
    cli_template_t tmpl;
    char batch[320];
    wv_manager_t *m;
    wv_proxy_t *task, *result;
    bool *seen; /* --wait: seen[id - 1] */
    size_t got, failed, dups;
} submit_t;

static void usage(FILE *f)
{
    fputs("usage: weave submit [options] command [args...] [::: input...]\n"
          "\n"
          "Put one command per input on a served task queue, with weave\n"
          "map's inputs and replacement strings ({} {.} {/} {#}; the input\n"
          "appended when none is given).  Each task is {'id': N, 'cmd':\n"
          "LINE, 'batch': B}, LINE run by /bin/sh -c on a worker.\n"
          "\n"
          "options:\n"
          "  -a FILE, --arg-file FILE  inputs from FILE, one per line\n"
          "  -0, --null            inputs NUL-terminated\n"
          "  --wait                collect the results: print each task's\n"
          "                        stdout and stderr, exit as weave map\n"
          "  --wait-timeout SECS   stop waiting after SECS (exit 75)\n",
          f);
    fputs(CLI_REMOTE_USAGE_CONNECT, f);
    fputs(CLI_REMOTE_USAGE_REDIS, f);
    fputs(CLI_REMOTE_USAGE_KEY, f);
    fputs(
        "  -h, --help            this help\n"
        "\n"
        "exit status:\n"
        "  0    the tasks were put (--wait: and all succeeded)\n"
        "  1-100  --wait: that many tasks failed; 101: more than 100\n"
        "  69   also: --redis, a put in doubt (the connection broke\n"
        "       before Redis answered: those tasks may or may not be queued)\n"
        "  75   --wait-timeout passed before every result came\n"
        "  130  interrupted by SIGINT (143: SIGTERM); the tasks stay queued\n",
        f);
    fputs(CLI_REMOTE_USAGE_EXIT, f);
}

static int oom(void)
{
    fputs("weave submit: out of memory\n", stderr);
    return CLI_EXIT_ERROR;
}

/* ------------------------------------------------------------ options */

static int submit_option(submit_t *s, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v = NULL;
    int got;
    if ((got = cli_remote_option(&s->r, argc, argv, i)))
        return got;
    if ((got =
             cli_opt_value("submit", argc, argv, i, "-a", "--arg-file", &v))) {
        s->arg_file = v;
        return got;
    }
    if ((got = cli_opt_value("submit", argc, argv, i, NULL, "--wait-timeout",
                             &v))) {
        s->wait = true;
        return got < 0 || cli_parse_seconds("submit", "--wait-timeout", v,
                                            &s->wait_ms)
                   ? -1
                   : 1;
    }
    if (!strcmp(a, "-0") || !strcmp(a, "--null")) {
        s->null_sep = true;
        return 1;
    }
    if (!strcmp(a, "--wait")) {
        s->wait = true;
        return 1;
    }
    fprintf(stderr, "weave submit: unknown option '%s' (weave submit --help)\n",
            a);
    return -1;
}

static int parse(submit_t *s, int argc, char **argv, bool *help)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (!strcmp(argv[i], "--")) {
            i++;
            break;
        }
        if (cli_is_help(argv[i])) {
            *help = true;
            return 0;
        }
        if (submit_option(s, argc, argv, &i) < 0)
            return -1;
    }
    s->cmd = argv + i;
    for (; i < argc && strcmp(argv[i], ":::"); i++)
        s->ncmd++;
    if (i < argc) {
        s->has_args = true;
        s->args = argv + i + 1;
        s->nargs = (size_t)(argc - i - 1);
    }
    if (!s->ncmd) {
        fputs("weave submit: no command (weave submit --help)\n", stderr);
        return -1;
    }
    if (s->has_args && s->arg_file) {
        fputs("weave submit: ::: and -a together (weave submit --help)\n",
              stderr);
        return -1;
    }
    return 0;
}

static int load_inputs(submit_t *s)
{
    if (s->has_args) {
        for (size_t i = 0; i < s->nargs; i++)
            if (cli_inputs_add(&s->inputs, s->args[i]) < 0)
                return oom();
        return 0;
    }
    int fd = STDIN_FILENO;
    if (s->arg_file && (fd = open(s->arg_file, O_RDONLY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "weave submit: cannot read %s: %s\n", s->arg_file,
                strerror(errno));
        return CLI_EXIT_NOFILE;
    }
    int rc = cli_inputs_read(&s->inputs, fd, s->null_sep ? '\0' : '\n');
    int saved = errno;
    if (fd != STDIN_FILENO)
        close(fd);
    if (rc < 0) {
        fprintf(stderr, "weave submit: cannot read %s: %s\n",
                s->arg_file ? s->arg_file : "standard input", strerror(saved));
        return saved == ENOMEM ? CLI_EXIT_ERROR : CLI_EXIT_NOFILE;
    }
    return 0;
}

/* ------------------------------------------------------------ putting */

static int connect_all(submit_t *s)
{
    int64_t deadline = wv_deadline_in(s->r.connect_ms);
    int err = cli_remote_connect(&s->r, &s->m, deadline);
    if (err)
        return cli_remote_fail(&s->r, "manager", err);
    if ((err = wv_manager_proxy(s->m, s->r.task_queue, &s->task, deadline)))
        return cli_remote_fail(&s->r, s->r.task_queue, err);
    if (s->wait &&
        (err = wv_manager_proxy(s->m, s->r.result_queue, &s->result, deadline)))
        return cli_remote_fail(&s->r, s->r.result_queue, err);
    return 0;
}

static int put_chunk(submit_t *s, size_t from, size_t n)
{
    wv_obj_t *tasks[CHUNK];
    size_t made = 0, done = 0;
    int err = 0;
    for (; made < n && !err; made++) {
        cli_command_t c;
        if (cli_command_make(&c, &s->tmpl, s->inputs.items[from + made],
                             from + made + 1) < 0) {
            err = WV_ENOMEM;
            break;
        }
        err = cli_task_new(&tasks[made], from + made + 1, c.shell, s->batch);
        cli_command_free(&c);
        if (err)
            break;
    }
    if (!err)
        err = wv_proxy_put_many(s->task, tasks, n, &done,
                                wv_deadline_in(CALL_MS));
    for (size_t i = 0; i < made; i++)
        wv_obj_free(tasks[i]);
    if (err == WV_EINDOUBT) {
        fprintf(stderr,
                "weave submit: %zu of %zu tasks put, then the connection "
                "broke: %zu more may or may not be queued (not put again)\n",
                from + done, s->inputs.count, n - done);
        return CLI_EXIT_UNREACHABLE;
    }
    if (err) {
        fprintf(stderr, "weave submit: %zu of %zu tasks put, then: %s\n",
                from + done, s->inputs.count, wv_strerror(err));
        return err == WV_ENOMEM ? CLI_EXIT_ERROR : cli_remote_exit_status(err);
    }
    return 0;
}

static int put_all(submit_t *s)
{
    for (size_t i = 0; i < s->inputs.count; i += CHUNK) {
        size_t n = s->inputs.count - i < CHUNK ? s->inputs.count - i : CHUNK;
        int rc = put_chunk(s, i, n);
        if (rc)
            return rc;
    }
    return 0;
}

/* --------------------------------------------------------- collecting */

/* The id of a result of this batch, or 0 (another's, or no result). */
static uint64_t own_id(const submit_t *s, const wv_obj_t *r)
{
    const wv_obj_t *batch = wv_obj_dict_get(r, "batch");
    int64_t id;
    if (!batch || batch->kind != WV_OBJ_STR ||
        strcmp(batch->u.s.data, s->batch))
        return 0;
    if (wv_obj_get_int(wv_obj_dict_get(r, "id"), &id) || id < 1 ||
        (uint64_t)id > s->inputs.count)
        return 0;
    return (uint64_t)id;
}

static void print_bytes(int fd, const wv_obj_t *v)
{
    if (v && (v->kind == WV_OBJ_BYTES || v->kind == WV_OBJ_STR) && v->u.s.len)
        cli_write_all(fd, v->u.s.data, v->u.s.len);
}

static void take_result(submit_t *s, uint64_t id, const wv_obj_t *r)
{
    if (s->seen[id - 1]) {
        s->dups++;
        return;
    }
    s->seen[id - 1] = true;
    s->got++;
    print_bytes(STDOUT_FILENO, wv_obj_dict_get(r, "stdout"));
    print_bytes(STDERR_FILENO, wv_obj_dict_get(r, "stderr"));
    int64_t code = 1;
    const wv_obj_t *sig = wv_obj_dict_get(r, "signal");
    if (wv_obj_get_int(wv_obj_dict_get(r, "exit"), &code) ||
        (sig && sig->kind != WV_OBJ_NONE) || code != 0)
        s->failed++;
}

static int collect(submit_t *s)
{
    int64_t end = s->wait_ms ? wv_deadline_in(s->wait_ms) : WV_FOREVER;
    while (s->got < s->inputs.count) {
        if (cli_signal_caught) {
            fprintf(stderr,
                    "weave submit: interrupted: %zu of %zu results, %zu "
                    "failed; the other tasks stay queued\n",
                    s->got, s->inputs.count, s->failed);
            return 128 + cli_signal_caught;
        }
        if (end != WV_FOREVER && wv_now() >= end) {
            fprintf(stderr,
                    "weave submit: --wait-timeout: %zu of %zu results, %zu "
                    "failed\n",
                    s->got, s->inputs.count, s->failed);
            return CLI_EXIT_TIMEOUT;
        }
        int64_t slice = wv_deadline_in(SLICE_MS);
        wv_obj_t *r;
        int err = wv_proxy_get(s->result, &r, end < slice ? end : slice);
        if (err == WV_ETIMEDOUT || err == WV_EAGAIN)
            continue;
        if (err) {
            fprintf(stderr,
                    "weave submit: lost the manager after %zu of %zu "
                    "results: %s\n",
                    s->got, s->inputs.count, wv_strerror(err));
            return cli_remote_exit_status(err);
        }
        uint64_t id = own_id(s, r);
        if (id) {
            take_result(s, id, r);
        } else {
            err = wv_proxy_put(s->result, r, wv_deadline_in(CALL_MS));
            if (err)
                fprintf(stderr,
                        "weave submit: a result of another batch is "
                        "lost: %s\n",
                        wv_strerror(err));
            wv_sleep_ms(FOREIGN_PAUSE);
        }
        wv_obj_free(r);
    }
    return s->failed > 100 ? CLI_EXIT_FAILED_MAX : (int)s->failed;
}

/* ------------------------------------------------------------- the run */

static int run(submit_t *s)
{
    int rc = load_inputs(s);
    if (rc)
        return rc;
    if (cli_template_init(&s->tmpl, s->cmd, s->ncmd) < 0)
        return oom();
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    snprintf(s->batch, sizeof s->batch, "%s:%d:%lld", host, (int)getpid(),
             (long long)wv_now());
    if (s->wait && !(s->seen = calloc(s->inputs.count + 1, 1)))
        return oom();
    if ((rc = cli_remote_ready(&s->r)) || (rc = connect_all(s)))
        return rc;
    if (cli_signals_catch() < 0) {
        perror("weave submit: pipe");
        return CLI_EXIT_ERROR;
    }
    rc = put_all(s);
    if (!rc && s->wait)
        rc = collect(s);
    cli_signals_restore();
    return rc;
}

int cli_submit_main(int argc, char **argv)
{
    submit_t *s = calloc(1, sizeof *s);
    if (!s)
        return oom();
    cli_remote_init(&s->r, "submit", false);
    bool help = false;
    int rc = CLI_EXIT_USAGE;
    if (parse(s, argc, argv, &help) == 0) {
        if (help) {
            usage(stdout);
            rc = 0;
        } else {
            rc = run(s);
        }
    }
    wv_proxy_free(s->task);
    wv_proxy_free(s->result);
    wv_manager_free(s->m);
    cli_template_destroy(&s->tmpl);
    cli_inputs_free(&s->inputs);
    free(s->seen);
    cli_remote_free(&s->r);
    free(s);
    return rc;
}

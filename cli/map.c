/*
 * cli/map.c - weave map: run a command once per input, N at a time.
 *
 * Design.  One thread.  The main thread's own code starts the jobs in
 * input order, taking a slot of a semaphore of N (-j) for each: when the
 * N slots are taken, its acquire parks it and the thread's scheduler runs
 * the coroutines.  Each job is a coroutine of a group: it starts the
 * command in a process group of its own (wv_popen_new, new_process_group)
 * with stdout and stderr piped, and wv_popen_communicate parks it until
 * both pipes end and the child is reaped, or the job's deadline
 * (--timeout); then it prints (or keeps, for --keep-order) the output,
 * writes the joblog line, and gives its slot back.  Two more coroutines:
 * the watcher, which waits for signals on a self-pipe and sends SIGKILL
 * to the jobs left a grace after a SIGTERM, and the progress display,
 * redrawn every 100 ms (at most ten times a second).
 *
 * Invariants.  Coroutines of one thread switch only in weave calls, so
 * the counters need no lock; job->pid is the pid of a child not yet
 * reaped (its process group therefore exists and cannot be another's),
 * 0 otherwise: signalling -pid is safe exactly while pid != 0.  A job's
 * output is written whole, by one write of stdout and one of stderr with
 * no switch point between them: jobs never interleave.
 *
 * Rejected: a signalfd for SIGINT/SIGTERM (bench/w9_echo.c's way).  It
 * needs the signals blocked, and wv_popen_new gives the child the
 * caller's signal mask: every job would start with SIGINT and SIGTERM
 * blocked and ignore the SIGTERM that stops it.  A handler writing to a
 * self-pipe (cli_signals_catch, signals.c) leaves the mask alone, and a
 * caught signal is reset to its default in the child.  Rejected too: a
 * thread per job (the issue asks for coroutines, and 10,000 short jobs
 * would pay a thread each).
 */
#include "map.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <weave.h>

/* SIGTERM first, SIGKILL this long after if the job is still there. */
#define GRACE_MS 2000
/* The progress display's period: ten redraws a second at most. */
#define REDRAW_MS 100

typedef struct map map_t;

/* One input's job. */
typedef struct job {
    map_t *m;
    uint64_t seq;      /* {#}: from 1 */
    const char *input; /* owned by m->inputs */
    int pid;           /* the running child, 0 when none (see above) */
    bool ready;        /* --keep-order: out and err wait for their turn */
    char *out, *err;   /* --keep-order: the output kept (malloc) */
    size_t out_len, err_len;
} job_t;

/* What one run of a job gave. */
typedef struct outcome {
    wv_popen_t *p;       /* owns out and err's bytes; NULL if not started */
    wv_bytes_t out, err; /* what the job wrote */
    char *msg;           /* weave's own message (could not start), malloc */
    int exitval;         /* exit status, 0 if killed by a signal */
    int signal;          /* the signal that killed it, 0 if none */
    bool timed_out;      /* weave killed it at its --timeout */
    double start;        /* seconds since the epoch */
    double runtime;      /* seconds */
} outcome_t;

struct map {
    map_opts_t o;
    cli_inputs_t inputs;
    cli_template_t tmpl;
    job_t *jobs; /* one per input */
    size_t total;
    wv_sem_t slots;  /* -j: a slot per running job */
    size_t started;  /* jobs[0..started) were started */
    size_t finished; /* jobs ended (failed ones included) */
    size_t failed;   /* ended without success, retries spent */
    size_t killed;   /* stopped by weave at a halt or a signal */
    size_t next_out; /* --keep-order: the next job to print */
    bool stop;       /* start no more jobs */
    bool halted;     /* --halt stopped the run */
    int signal;      /* SIGINT or SIGTERM received, SIGPIPE for a closed
                        stdout, 0 if none */
    int64_t kill_at; /* when the watcher SIGKILLs what is left, 0: never */
    void *joblog;    /* --joblog's file, or NULL */
    cli_progress_t progress;
};

static int oom(void)
{
    fputs("weave map: out of memory\n", stderr);
    return CLI_EXIT_ERROR;
}

static double epoch_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sends sig to the process group of every running job. */
static void signal_running(map_t *m, int sig)
{
    for (size_t i = 0; i < m->started; i++)
        if (m->jobs[i].pid > 0)
            kill(-m->jobs[i].pid, sig);
}

/* Starts no more jobs and stops the running ones: SIGTERM now, SIGKILL
 * after the grace (the watcher's). */
static void stop_all(map_t *m)
{
    m->stop = true;
    signal_running(m, SIGTERM);
    m->kill_at = wv_now() + GRACE_MS;
    cli_signals_wake(); /* the watcher looks at kill_at */
}

/* -------------------------------------------------------- one run */

static int start_job(outcome_t *r, const cli_command_t *c)
{
    wv_popen_opts_t po = {0};
    if (c->argv)
        po.argv = (const char *const *)c->argv;
    else
        po.shell = c->shell;
    po.in.how = WV_STDIO_DEVNULL;
    po.out.how = WV_STDIO_PIPE;
    po.err.how = WV_STDIO_PIPE;
    po.new_process_group = true;
    int err = wv_popen_new(&r->p, &po);
    if (err) {
        const char *what = c->argv ? c->argv[0] : "/bin/sh";
        size_t n = strlen(what) + 64;
        r->msg = malloc(n);
        if (r->msg)
            snprintf(r->msg, n, "weave map: %s: %s\n", what, wv_strerror(err));
        /* As a shell says it: 127 not found, 126 found but not run. */
        r->exitval = err == WV_ENOENT ? 127 : 126;
        r->p = NULL;
    }
    return err;
}

/* Waits for the job to end; at its deadline, SIGTERM to its group, then
 * SIGKILL after the grace. */
static int wait_job(map_t *m, outcome_t *r, int64_t deadline)
{
    int pid = wv_popen_pid(r->p);
    int err = wv_popen_communicate(r->p, NULL, 0, &r->out, &r->err, deadline);
    if (err == WV_ETIMEDOUT) {
        r->timed_out = true;
        kill(-pid, SIGTERM);
        err = wv_popen_communicate(r->p, NULL, 0, &r->out, &r->err,
                                   wv_deadline_in(GRACE_MS));
    }
    if (err == WV_ETIMEDOUT) {
        kill(-pid, SIGKILL);
        err = wv_popen_communicate(r->p, NULL, 0, &r->out, &r->err, WV_FOREVER);
    }
    (void)m;
    return err;
}

static void run_once(map_t *m, job_t *j, const cli_command_t *c, outcome_t *r)
{
    memset(r, 0, sizeof *r);
    r->start = epoch_now();
    int64_t t0 = wv_now();
    if (start_job(r, c))
        return;
    j->pid = wv_popen_pid(r->p);
    /* The start parks this coroutine until the child runs its program:
     * a stop (a signal, a halt) that came meanwhile found no pid here to
     * signal.  This job was started before the stop, so it is stopped
     * like the others. */
    if (m->stop)
        kill(-j->pid, SIGTERM);
    int64_t deadline = m->o.timeout_ms ? t0 + m->o.timeout_ms : WV_FOREVER;
    int err = wait_job(m, r, deadline);
    int code = 0;
    if (err) {
        /* Could not collect it (out of memory): free kills and reaps. */
        kill(-j->pid, SIGKILL);
        wv_popen_wait(r->p, &code, WV_FOREVER);
    } else {
        wv_popen_returncode(r->p, &code);
    }
    j->pid = 0;
    r->exitval = code >= 0 ? code : 0;
    r->signal = code < 0 ? -code : 0;
    if (err && !code)
        r->exitval = 1;
    r->runtime = (double)(wv_now() - t0) / 1000.0;
}

static void outcome_free(outcome_t *r)
{
    wv_popen_free(r->p);
    free(r->msg);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------ output */

static void print_output(map_t *m, const char *out, size_t out_len,
                         const char *err, size_t err_len)
{
    if (!out_len && !err_len)
        return;
    cli_progress_erase(&m->progress);
    if (out_len && cli_write_all(STDOUT_FILENO, out, out_len) != 0 &&
        errno == EPIPE && !m->signal) {
        /* Whoever read the output is gone (weave map ... | head): stop
         * as after a signal, rather than die by SIGPIPE and leave the
         * jobs running in their groups; exit 128 + SIGPIPE. */
        m->signal = SIGPIPE;
        stop_all(m);
    }
    if (err_len)
        cli_write_all(STDERR_FILENO, err, err_len);
}

static char *copy_bytes(const char *s, size_t n)
{
    char *c = malloc(n ? n : 1);
    if (c && n)
        memcpy(c, s, n);
    return c;
}

/* --keep-order: prints the jobs whose turn has come. */
static void flush_in_order(map_t *m)
{
    while (m->next_out < m->total && m->jobs[m->next_out].ready) {
        job_t *j = &m->jobs[m->next_out++];
        print_output(m, j->out, j->out_len, j->err, j->err_len);
        free(j->out);
        free(j->err);
        j->out = j->err = NULL;
    }
}

static void emit(map_t *m, job_t *j, const outcome_t *r)
{
    const char *err = r->msg ? r->msg : r->err.data;
    size_t err_len = r->msg ? strlen(r->msg) : r->err.len;
    if (!m->o.keep_order) {
        print_output(m, r->out.data, r->out.len, err, err_len);
        return;
    }
    j->out = copy_bytes(r->out.data, r->out.len);
    j->err = copy_bytes(err, err_len);
    j->out_len = j->out ? r->out.len : 0;
    j->err_len = j->err ? err_len : 0;
    j->ready = true;
    flush_in_order(m);
}

/* -------------------------------------------------------------- a job */

static void finish(map_t *m, job_t *j, const cli_command_t *c,
                   const outcome_t *r)
{
    bool ok = !r->msg && r->exitval == 0 && r->signal == 0;
    m->finished++;
    if (!ok && m->stop && r->signal && !r->timed_out)
        m->killed++;
    else if (!ok)
        m->failed++;
    if (m->joblog) {
        cli_joblog_entry_t e = {
            .seq = j->seq,
            .start = r->start,
            .runtime = r->runtime,
            .received = r->out.len + r->err.len,
            .exitval = r->exitval,
            .signal = r->signal,
            .command = c->shell,
        };
        cli_joblog_write(m->joblog, &e);
    }
    emit(m, j, r);
    if (!ok && m->o.halt != HALT_NEVER && !m->stop &&
        m->failed >= m->o.halt_fails) {
        m->halted = true;
        if (m->o.halt == HALT_NOW)
            stop_all(m);
        else
            m->stop = true;
    }
}

static void *job_main(void *arg)
{
    job_t *j = arg;
    map_t *m = j->m;
    cli_command_t c;
    outcome_t r;
    if (cli_command_make(&c, &m->tmpl, j->input, j->seq) < 0) {
        memset(&r, 0, sizeof r);
        r.msg = strdup("weave map: out of memory\n");
        r.exitval = 1;
        cli_command_t none = {.shell = ""};
        finish(m, j, &none, &r);
        outcome_free(&r);
        wv_sem_release(&m->slots, 1);
        return NULL;
    }
    for (unsigned attempt = 0;; attempt++) {
        run_once(m, j, &c, &r);
        bool ok = !r.msg && r.exitval == 0 && r.signal == 0;
        if (ok || attempt >= m->o.retries || m->stop)
            break;
        outcome_free(&r);
    }
    finish(m, j, &c, &r);
    outcome_free(&r);
    cli_command_free(&c);
    wv_sem_release(&m->slots, 1);
    return NULL;
}

/* ---------------------------------------------- watcher and progress */

static void *watcher_main(void *arg)
{
    map_t *m = arg;
    for (;;) {
        int64_t deadline = m->kill_at ? m->kill_at : WV_FOREVER;
        int err = wv_fdwait(cli_signal_fd, POLLIN, NULL, deadline);
        if (err == WV_ETIMEDOUT) {
            signal_running(m, SIGKILL);
            m->kill_at = 0;
            continue;
        }
        if (err)
            return NULL; /* cancelled: the run is over */
        unsigned char b;
        while (read(cli_signal_fd, &b, 1) == 1) {
            if (b == 0)
                continue;
            if (m->signal) {
                signal_running(m, SIGKILL); /* a second Ctrl-C */
                continue;
            }
            m->signal = b;
            stop_all(m);
        }
    }
}

static void *progress_main(void *arg)
{
    map_t *m = arg;
    for (;;) {
        cli_progress_draw(&m->progress, m->finished, m->failed, m->total);
        if (wv_sleep_ms(REDRAW_MS))
            return NULL; /* cancelled: the run is over */
    }
}

/* --------------------------------------------------------- the run */

static int load_inputs(map_t *m)
{
    const map_opts_t *o = &m->o;
    if (o->has_args) {
        for (size_t i = 0; i < o->nargs; i++)
            if (cli_inputs_add(&m->inputs, o->args[i]) < 0)
                return oom();
        return 0;
    }
    int fd = STDIN_FILENO;
    if (o->arg_file) {
        fd = open(o->arg_file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "weave map: cannot read %s: %s\n", o->arg_file,
                    strerror(errno));
            return CLI_EXIT_NOFILE;
        }
    }
    int rc = cli_inputs_read(&m->inputs, fd, o->null_sep ? '\0' : '\n');
    int saved = errno;
    if (fd != STDIN_FILENO)
        close(fd);
    if (rc < 0) {
        fprintf(stderr, "weave map: cannot read %s: %s\n",
                o->arg_file ? o->arg_file : "standard input", strerror(saved));
        return saved == ENOMEM ? CLI_EXIT_ERROR : CLI_EXIT_NOFILE;
    }
    return 0;
}

static int dry_run(map_t *m)
{
    for (size_t i = 0; i < m->total; i++) {
        cli_command_t c;
        if (cli_command_make(&c, &m->tmpl, m->inputs.items[i], i + 1) < 0)
            return oom();
        printf("%s\n", c.shell);
        cli_command_free(&c);
    }
    if (fflush(stdout) != 0) {
        perror("weave map: standard output");
        return CLI_EXIT_ERROR;
    }
    return 0;
}

/* Starts the jobs in order, a slot each; returns when all have ended. */
static int dispatch(map_t *m, wv_group_t *g)
{
    for (size_t i = 0; i < m->total && !m->stop; i++) {
        wv_sem_acquire(&m->slots, WV_FOREVER);
        if (m->stop)
            break;
        int err = wv_group_spawn(g, NULL, job_main, &m->jobs[i]);
        if (err) {
            fprintf(stderr, "weave map: cannot start a job: %s\n",
                    wv_strerror(err));
            stop_all(m);
            break;
        }
        m->started++;
    }
    return wv_group_join(g, WV_FOREVER);
}

static void summary(map_t *m)
{
    if (!m->signal && !m->halted)
        return;
    fprintf(stderr,
            "weave map: %s: %zu of %zu jobs ended, %zu failed, %zu killed, "
            "%zu not started\n",
            m->signal ? "interrupted" : "halted", m->finished, m->total,
            m->failed, m->killed, m->total - m->started);
}

static int exit_status(const map_t *m)
{
    if (m->signal)
        return 128 + m->signal;
    return m->failed > 100 ? CLI_EXIT_FAILED_MAX : (int)m->failed;
}

static int run(map_t *m)
{
    wv_group_t *g = NULL;
    wv_coro_t *watcher = NULL, *progress = NULL;
    int rc = CLI_EXIT_ERROR;
    if (cli_signals_catch() < 0) {
        perror("weave map: pipe");
        return CLI_EXIT_ERROR;
    }
    if (wv_group_new(&g) || wv_coro_spawn(&watcher, NULL, watcher_main, m))
        goto out;
    if (m->progress.on && wv_coro_spawn(&progress, NULL, progress_main, m))
        goto out;
    m->progress.start_ms = wv_now();
    dispatch(m, g);
    flush_in_order(m);
    rc = 0;
out:
    if (progress) {
        wv_coro_cancel(progress);
        wv_coro_free(progress);
    }
    if (watcher) {
        wv_coro_cancel(watcher);
        wv_coro_free(watcher);
    }
    wv_group_free(g);
    cli_progress_erase(&m->progress);
    cli_signals_restore();
    if (rc)
        return oom();
    summary(m);
    return exit_status(m);
}

static int prepare(map_t *m)
{
    int rc = load_inputs(m);
    if (rc)
        return rc;
    if (cli_template_init(&m->tmpl, m->o.cmd, m->o.ncmd) < 0)
        return oom();
    m->total = m->inputs.count;
    m->jobs = calloc(m->total ? m->total : 1, sizeof *m->jobs);
    if (!m->jobs)
        return oom();
    for (size_t i = 0; i < m->total; i++) {
        m->jobs[i].m = m;
        m->jobs[i].seq = i + 1;
        m->jobs[i].input = m->inputs.items[i];
    }
    unsigned n = m->o.jobs ? m->o.jobs : (unsigned)wv_cpu_count();
    wv_sem_init(&m->slots, n ? n : 1);
    m->progress.on = m->o.progress || m->o.bar || isatty(STDERR_FILENO);
    m->progress.bar = m->o.bar;
    if (m->o.joblog && !m->o.dry_run) {
        m->joblog = cli_joblog_open(m->o.joblog);
        if (!m->joblog) {
            fprintf(stderr, "weave map: cannot write %s: %s\n", m->o.joblog,
                    strerror(errno));
            return CLI_EXIT_NOFILE;
        }
    }
    return 0;
}

int cli_map_main(int argc, char **argv)
{
    map_t *m = calloc(1, sizeof *m);
    if (!m) {
        fputs("weave map: out of memory\n", stderr);
        return CLI_EXIT_ERROR;
    }
    int rc;
    if (map_opts_parse(&m->o, argc, argv) < 0) {
        rc = CLI_EXIT_USAGE;
    } else if (m->o.help) {
        cli_map_usage(STDOUT_FILENO);
        rc = 0;
    } else if ((rc = prepare(m)) == 0) {
        rc = m->o.dry_run ? dry_run(m) : run(m);
    }
    if (m->joblog && cli_joblog_close(m->joblog) != 0 && rc == 0)
        rc = CLI_EXIT_NOFILE;
    cli_template_destroy(&m->tmpl);
    cli_inputs_free(&m->inputs);
    free(m->jobs);
    free(m);
    return rc;
}

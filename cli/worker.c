/*
 * cli/worker.c - weave worker: take commands from a manager's task
 * queue, run them N at a time, put each one's result on the result
 * queue (the tutorials' task_worker.py, for shell commands).
 *
 * Design.  One thread, one connection, one owner of it.  The main
 * thread's own code is the only one that talks to the manager: it takes
 * a task when a slot is free (a leased get that waits a slice: 1 s when
 * idle, 100 ms while jobs run or results wait), starts a coroutine for
 * it, and delivers what the jobs finished (put the result, ack the
 * lease, report to weave_status).  Job coroutines run their command
 * (wv_popen_new in a process group of its own, wv_popen_communicate
 * until the end or the --timeout) and queue their result on a local list,
 * setting an event that wakes the main code when it waits with nothing
 * to take.  A watcher coroutine turns SIGINT and SIGTERM (a self-pipe)
 * into a stop.  Coroutines of one thread switch only inside weave calls,
 * so the lists and counters need no lock.
 *
 * Delivery is at least once: the result is put, then the lease acked.
 * A worker killed between the two has its task redone by another worker
 * and its result arrives twice; weave submit --wait keeps the first one
 * of each task (by batch and id).  A worker killed before the put loses
 * nothing: the manager puts back the leases of a connection that ends.
 * Leases last --lease (60 s by default) and are renewed every third of
 * it while their job runs (wv_proxy_renew): a job may run for as long as
 * it needs, and the tasks of a worker that hangs without dying go to
 * others a lease later.
 * Against a CPython manager (no leases: WV_ENOTSUP) tasks are taken
 * with a plain get, and a task a stop interrupts is put back by hand.
 *
 * Connection loss: the main code drops the connection and reconnects
 * with back-off, 0.1 s doubling to 10 s; running jobs go on, and their
 * results wait in the list and are put after the reconnection (their
 * leases died with the old connection: no ack is sent for them).
 *
 * Stop (SIGINT, SIGTERM): take no more; the running jobs' process groups
 * get SIGTERM, SIGKILL 2 s later; their tasks are handed back, not
 * reported (the leases end with the connection; plain gets are put back).
 * Results already finished are delivered.  Exit 0.
 *
 * On Redis (--redis URL: the queues are streams, docs/redis.md) the
 * same loop, with the library's Redis proxies: leases and renewals
 * work alike, but a lease held by a worker that died (or whose
 * connection broke: a reconnection makes a new consumer) is not put
 * back at once: another worker takes it once it has been idle for its
 * own --lease (takers of one queue should use one --lease).  There is
 * no weave_status to report to (wv_proxy_call answers WV_ENOTSUP).  A
 * put whose reply a broken connection lost (WV_EINDOUBT: the result may
 * or may not be queued) is said on stderr and put again, up to three
 * times: a result twice is harmless (submit --wait keeps the first of
 * each task), a result lost is not.  An ack in doubt counts as done: if
 * the first one did not take, the task runs again elsewhere a lease
 * later and its second result is dropped the same way.
 *
 * Rejected: a second connection for deliveries, so that a waiting get
 * never delays a result: a worker would then count twice among the
 * manager's clients, and leases would belong to one connection while
 * acks travel on another.  The delay is at most one slice (100 ms).
 */
#include "remote.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GRACE_MS         2000
#define IDLE_SLICE_MS    1000
#define BUSY_SLICE_MS    100
#define BACKOFF_MIN_MS   100
#define BACKOFF_MAX_MS   10000
#define CALL_MS          10000 /* the deadline of one put, ack, report */
#define LEASE_DEFAULT_MS 60000 /* renewed every third of it */

typedef struct worker worker_t;

typedef struct job {
    worker_t *w;
    wv_obj_t *task;   /* the task as taken (owned) */
    uint64_t lease;   /* its lease, when leased */
    bool leased;      /* taken with a lease (a weave manager) */
    uint64_t gen;     /* the connection it was taken on */
    int64_t renewed;  /* when its lease was taken or last renewed */
    int pid;          /* the running child, 0 when none */
    bool handed_back; /* a stop killed it: no result, the task goes back */
    wv_obj_t *result; /* once finished, unless handed back */
    int exitval;      /* for the report: exit status, or -1 */
    int signal;       /* for the report: signal, 0 if none */
    struct job *next; /* in the running or the finished list */
} job_t;

struct worker {
    cli_remote_t r;
    unsigned jobs;          /* -j */
    int64_t timeout_ms;     /* --timeout, 0: none */
    int64_t lease_ms;       /* --lease, 0: derived */
    unsigned long max_jobs; /* --max-jobs, 0: no limit */
    int64_t idle_exit_ms;   /* --idle-exit, 0: never */
    char host[256];         /* gethostname */
    char name[300];         /* host:pid, the results' 'worker' */
    wv_manager_t *m;        /* the connection, NULL while none */
    wv_proxy_t *task, *result, *status;
    uint64_t gen;            /* connections made so far */
    bool plain;              /* a CPython manager: no leases */
    bool no_renew;           /* a manager without wv_proxy_renew */
    wv_group_t *g;           /* the job coroutines */
    job_t *running;          /* jobs with a command running */
    job_t *finished, **tail; /* jobs to deliver, oldest first */
    size_t nrunning;
    uint64_t taken;     /* tasks taken so far */
    int64_t idle_since; /* when the worker last had work */
    wv_event_t wake;    /* a job finished, or a stop */
    bool stop;          /* a signal came: take no more */
    int64_t kill_at;    /* SIGKILL what runs then, 0: never */
};

static void usage(FILE *f)
{
    fputs(
        "usage: weave worker [options] [HOST:PORT | --redis URL]\n"
        "\n"
        "Run the commands taken from a manager's task queue, N at a time,\n"
        "and put each one's result on its result queue: exit code, signal,\n"
        "run time, stdout and stderr.  A task is a str (run by /bin/sh -c)\n"
        "or a dict with a 'cmd' str (weave submit's).  Tasks are leased:\n"
        "a worker killed mid-job loses none.  Reconnects with back-off when\n"
        "the manager goes away.\n"
        "\n"
        "options:\n"
        "  -j N, --jobs N        N jobs at a time (default: the CPUs)\n"
        "  --timeout SECS        a job still running after SECS gets SIGTERM\n"
        "                        on its process group, SIGKILL 2 s later\n"
        "  --lease SECS          how long a task stays leased without\n"
        "                        news from its worker, which renews it\n"
        "                        every third of it (default: 60)\n"
        "  --max-jobs N          take N tasks, finish them, exit\n"
        "  --once                --max-jobs 1\n"
        "  --idle-exit SECS      exit once no task came for SECS\n",
        f);
    fputs(CLI_REMOTE_USAGE_CONNECT, f);
    fputs(CLI_REMOTE_USAGE_REDIS, f);
    fputs(CLI_REMOTE_USAGE_KEY, f);
    fputs("  -h, --help            this help\n"
          "\n"
          "On Redis, a task held by a worker that died goes to another once\n"
          "idle for --lease (use one --lease for all workers); nothing is\n"
          "reported to weave status; a result whose put is in doubt (the\n"
          "connection broke before Redis answered) is put again (weave\n"
          "submit --wait drops the duplicate).\n"
          "\n"
          "exit status:\n"
          "  0    --max-jobs or --idle-exit reached, or SIGINT or SIGTERM\n"
          "       (running jobs are stopped and their tasks handed back)\n",
          f);
    fputs(CLI_REMOTE_USAGE_EXIT, f);
}

static int oom(void)
{
    fputs("weave worker: out of memory\n", stderr);
    return CLI_EXIT_ERROR;
}

/* ----------------------------------------------------------- a job */

static void signal_running(worker_t *w, int sig, bool hand_back)
{
    for (job_t *j = w->running; j; j = j->next) {
        if (hand_back)
            j->handed_back = true;
        if (j->pid > 0)
            kill(-j->pid, sig);
    }
}

static void unlink_running(worker_t *w, job_t *j)
{
    job_t **pp = &w->running;
    while (*pp != j)
        pp = &(*pp)->next;
    *pp = j->next;
    j->next = NULL;
    w->nrunning--;
}

/* Runs the command; fills run (its out and err belong to *p). */
static void run_command(job_t *j, const char *cmd, wv_popen_t **p,
                        cli_run_t *run, char *msg, size_t cap)
{
    worker_t *w = j->w;
    /* SIGKILL to the job's process if this worker dies: its task is
     * redone elsewhere, so it must not run on here too. */
    wv_popen_opts_t po = {
        .shell = cmd, .new_process_group = true, .death_signal = SIGKILL};
    po.in.how = WV_STDIO_DEVNULL;
    po.out.how = WV_STDIO_PIPE;
    po.err.how = WV_STDIO_PIPE;
    int64_t t0 = wv_now();
    int err = wv_popen_new(p, &po);
    if (err) {
        snprintf(msg, cap, "weave worker: /bin/sh: %s\n", wv_strerror(err));
        run->exitval = err == WV_ENOENT ? 127 : 126;
        *p = NULL;
        return;
    }
    j->pid = wv_popen_pid(*p);
    if (w->stop) { /* the stop came while the start parked us */
        j->handed_back = true;
        kill(-j->pid, SIGTERM);
    }
    wv_bytes_t out = {0}, errb = {0};
    int64_t deadline = w->timeout_ms ? t0 + w->timeout_ms : WV_FOREVER;
    err = wv_popen_communicate(*p, NULL, 0, &out, &errb, deadline);
    if (err == WV_ETIMEDOUT) {
        run->timed_out = true;
        kill(-j->pid, SIGTERM);
        err = wv_popen_communicate(*p, NULL, 0, &out, &errb,
                                   wv_deadline_in(GRACE_MS));
    }
    if (err == WV_ETIMEDOUT) {
        kill(-j->pid, SIGKILL);
        err = wv_popen_communicate(*p, NULL, 0, &out, &errb, WV_FOREVER);
    }
    int code = 0;
    if (err) {
        kill(-j->pid, SIGKILL);
        wv_popen_wait(*p, &code, WV_FOREVER);
        snprintf(msg, cap, "weave worker: %s\n", wv_strerror(err));
    } else {
        wv_popen_returncode(*p, &code);
    }
    j->pid = 0;
    run->exitval = code >= 0 ? code : 0;
    run->signal = code < 0 ? -code : 0;
    if (err && !code)
        run->exitval = 1;
    run->out = out.data;
    run->out_len = out.len;
    run->err = errb.data;
    run->err_len = errb.len;
    run->seconds = (double)(wv_now() - t0) / 1000.0;
}

static void *job_main(void *arg)
{
    job_t *j = arg;
    worker_t *w = j->w;
    cli_run_t run = {0};
    wv_popen_t *p = NULL;
    char msg[512] = "";
    const char *cmd = cli_task_cmd(j->task);
    if (!cmd) {
        snprintf(msg, sizeof msg,
                 "weave worker: a task is a str or a dict with a 'cmd' "
                 "str\n");
        run.exitval = 2;
    } else {
        run_command(j, cmd, &p, &run, msg, sizeof msg);
    }
    if (msg[0]) {
        run.err = msg;
        run.err_len = strlen(msg);
    }
    j->exitval = run.signal ? -1 : run.exitval;
    j->signal = run.signal;
    if (!j->handed_back &&
        cli_result_new(&j->result, j->task, &run, w->host, w->name))
        fputs("weave worker: out of memory: a result is lost\n", stderr);
    wv_popen_free(p);
    unlink_running(w, j);
    *w->tail = j;
    w->tail = &j->next;
    wv_event_set(&w->wake);
    return NULL;
}

static void job_free(job_t *j)
{
    wv_obj_free(j->task);
    wv_obj_free(j->result);
    free(j);
}

/* ------------------------------------------------------ the watcher */

static void *watcher_main(void *arg)
{
    worker_t *w = arg;
    for (;;) {
        int64_t deadline = w->kill_at ? w->kill_at : WV_FOREVER;
        int err = wv_fdwait(cli_signal_fd, POLLIN, NULL, deadline);
        if (err == WV_ETIMEDOUT) {
            signal_running(w, SIGKILL, true);
            w->kill_at = 0;
            continue;
        }
        if (err)
            return NULL; /* cancelled: the worker is ending */
        unsigned char b;
        while (read(cli_signal_fd, &b, 1) == 1) {
            if (w->stop) {
                signal_running(w, SIGKILL, true); /* a second signal */
                continue;
            }
            fprintf(stderr,
                    "weave worker: %s: stopping, %zu running jobs "
                    "handed back\n",
                    b == SIGINT ? "SIGINT" : "SIGTERM", w->nrunning);
            w->stop = true;
            signal_running(w, SIGTERM, true);
            w->kill_at = wv_deadline_in(GRACE_MS);
            wv_event_set(&w->wake);
        }
    }
}

/* ------------------------------------------------------ connection */

static void disconnect(worker_t *w)
{
    wv_proxy_free(w->task);
    wv_proxy_free(w->result);
    wv_proxy_free(w->status);
    wv_manager_free(w->m);
    w->task = w->result = w->status = NULL;
    w->m = NULL;
}

static void lost(worker_t *w, int err)
{
    char where[300];
    fprintf(stderr, "weave worker: lost %s (%s); reconnecting\n",
            cli_remote_where(&w->r, where, sizeof where), wv_strerror(err));
    disconnect(w);
}

/* One attempt: the connection and the proxies.  0 or WV_E*; *what
 * names the object that failed (for messages). */
static int connect_once(worker_t *w, int64_t deadline, const char **what)
{
    *what = "manager";
    int err = cli_remote_connect(&w->r, &w->m, deadline);
    if (!err) {
        *what = w->r.task_queue;
        err = wv_manager_proxy(w->m, w->r.task_queue, &w->task, deadline);
    }
    if (!err) {
        *what = w->r.result_queue;
        err = wv_manager_proxy(w->m, w->r.result_queue, &w->result, deadline);
    }
    /* On Redis any name is a stream: asking would make one. */
    if (!err && !cli_remote_is_redis(&w->r) &&
        wv_manager_proxy(w->m, CLI_STATUS_TYPEID, &w->status, deadline) != 0)
        w->status = NULL; /* no weave serve: nobody to report to */
    if (err) {
        disconnect(w);
        return err;
    }
    w->gen++;
    char where[300];
    fprintf(stderr, "weave worker: connected to %s\n",
            cli_remote_where(&w->r, where, sizeof where));
    return 0;
}

/* A refused key, a missing queue or a peer that is no manager will not
 * change by retrying. */
static bool is_final(int err)
{
    return err == WV_EAUTH || err == WV_ENOENT || err == WV_EPROTO ||
           err == WV_ECERT || err == WV_ENOMEM || err == WV_EINVAL ||
           err == WV_ENOSYS || err == WV_EREMOTE;
}

/* Waits ms unless a stop comes first. */
static void pause_ms(worker_t *w, int64_t ms)
{
    int64_t until = wv_deadline_in(ms);
    while (!w->stop && wv_now() < until) {
        wv_event_clear(&w->wake);
        wv_event_wait(&w->wake, until);
    }
}

/* Connects, retrying with back-off until the deadline, or (WV_FOREVER)
 * until a stop.  0, or the last error, said on stderr.  A first
 * connection (a deadline) gives up at once on an error that retrying
 * will not change; a reconnection goes on, the manager may come back
 * right. */
static int reconnect(worker_t *w, int64_t deadline)
{
    int64_t backoff = BACKOFF_MIN_MS;
    const char *what;
    int cause = 0; /* the last error that said more than a time-out */
    for (;;) {
        int64_t attempt = wv_deadline_in(w->r.connect_ms);
        if (deadline != WV_FOREVER && deadline < attempt)
            attempt = deadline;
        int err = connect_once(w, attempt, &what);
        if (!err || w->stop)
            return err;
        bool give_up = deadline != WV_FOREVER &&
                       (is_final(err) || wv_now() + backoff >= deadline);
        /* An attempt cut short by the overall deadline says less than
         * the refusal before it. */
        if (err != WV_ETIMEDOUT)
            cause = err;
        else if (give_up && cause)
            err = cause;
        if (give_up || (deadline == WV_FOREVER && backoff == BACKOFF_MAX_MS))
            cli_remote_fail(&w->r, what, err);
        if (give_up)
            return err;
        pause_ms(w, backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
}

/* ---------------------------------------------------------- delivery */

static int hand_task_back(worker_t *w, job_t *j)
{
    if (j->leased) /* the lease ends with the connection */
        return 0;
    return wv_proxy_put(w->task, j->task, wv_deadline_in(CALL_MS));
}

/* Appends n to a tuple, or None when n < 0.  0 or WV_ENOMEM. */
static int append_code(wv_obj_t *tuple, int n)
{
    wv_obj_t *v;
    if (n >= 0 ? wv_obj_new_int(&v, n) : wv_obj_new_none(&v))
        return WV_ENOMEM;
    if (wv_obj_append(tuple, v)) {
        wv_obj_free(v);
        return WV_ENOMEM;
    }
    return 0;
}

/* weave_status.report(exit, signal), when the manager is a weave serve.
 * 0, or the error that lost the connection. */
static int report(worker_t *w, const job_t *j)
{
    wv_obj_t *args, *res = NULL;
    if (!w->status || wv_obj_new_tuple(&args, 2))
        return 0;
    int err = append_code(args, j->exitval);
    if (!err)
        err = append_code(args, j->signal ? j->signal : -1);
    if (!err)
        err = wv_proxy_call(w->status, "report", args, NULL, &res,
                            wv_deadline_in(CALL_MS));
    wv_obj_free(res);
    wv_obj_free(args);
    return cli_remote_is_lost(err) ? err : 0;
}

/* Delivers one finished job.  0, or the error that lost the connection
 * (the job then stays to be delivered after the reconnection). */
static int deliver_one(worker_t *w, job_t *j)
{
    if (j->handed_back)
        return hand_task_back(w, j);
    if (!j->result)
        return 0; /* out of memory: said so already */
    int err = wv_proxy_put(w->result, j->result, wv_deadline_in(CALL_MS));
    for (int again = 0; err == WV_EINDOUBT && again < 3; again++) {
        fputs("weave worker: a result's put is in doubt (the connection "
              "broke before Redis answered): putting it again\n",
              stderr);
        err = wv_proxy_put(w->result, j->result, wv_deadline_in(CALL_MS));
    }
    if (err && (cli_remote_is_lost(err) || err == WV_ETIMEDOUT))
        return err; /* kept: put again on the next connection */
    if (err) {
        /* Refused for good (a full queue past the deadline is a time-out,
         * above): said, never dropped in silence.  A leased task is not
         * acked and runs again when its lease ends. */
        fprintf(stderr, "weave worker: a result could not be put (%s): %s\n",
                wv_strerror(err),
                j->leased ? "its task runs again when its lease ends"
                          : "it is lost");
        return 0;
    }
    /* The result is out: the job counts as delivered, whatever follows. */
    wv_obj_free(j->result);
    j->result = NULL;
    if (j->leased && j->gen == w->gen) {
        err = wv_proxy_ack(w->task, j->lease, wv_deadline_in(CALL_MS));
        if (err == WV_ENOENT)
            fputs("weave worker: a task's lease had expired: it may run "
                  "twice (--lease)\n",
                  stderr);
        if (err == WV_EINDOUBT) /* Redis: maybe acked; else redone */
            err = 0;
        if (cli_remote_is_lost(err))
            return err;
    }
    return report(w, j);
}

static void deliver(worker_t *w)
{
    while (w->m && w->finished) {
        job_t *j = w->finished;
        int err = deliver_one(w, j);
        if (err && (j->result || (j->handed_back && !j->leased))) {
            lost(w, err); /* not delivered: kept for the next connection */
            return;
        }
        w->finished = j->next;
        if (!w->finished)
            w->tail = &w->finished;
        job_free(j);
        w->idle_since = wv_now(); /* --idle-exit counts from here */
        if (err) {
            lost(w, err);
            return;
        }
    }
}

/* ------------------------------------------------------------ taking */

static int start_job(worker_t *w, wv_obj_t *task, bool leased, uint64_t lease)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j) {
        wv_obj_free(task);
        return WV_ENOMEM;
    }
    j->w = w;
    j->task = task;
    j->leased = leased;
    j->lease = lease;
    j->gen = w->gen;
    j->renewed = wv_now();
    j->next = w->running;
    w->running = j;
    w->nrunning++;
    w->taken++;
    int err = wv_group_spawn(w->g, NULL, job_main, j);
    if (err) {
        unlink_running(w, j);
        job_free(j);
    }
    return err;
}

static void take(worker_t *w)
{
    int64_t slice = w->nrunning || w->finished ? BUSY_SLICE_MS : IDLE_SLICE_MS;
    int64_t deadline = wv_deadline_in(slice);
    wv_obj_t *task;
    uint64_t lease = 0;
    int err = WV_ENOTSUP;
    if (!w->plain) {
        err =
            wv_proxy_get_leased(w->task, &task, &lease, w->lease_ms, deadline);
        if (err == WV_ENOTSUP)
            w->plain = true; /* a CPython manager: plain gets from now on */
    }
    if (w->plain)
        err = wv_proxy_get(w->task, &task, deadline);
    if (err == 0 && w->stop) {
        /* The stop came while the get waited: hand the task back (a
         * leased one goes back when the connection closes). */
        if (w->plain && wv_proxy_put(w->task, task, wv_deadline_in(CALL_MS)))
            fputs("weave worker: a task taken at the stop is lost\n", stderr);
        wv_obj_free(task);
        return;
    }
    if (err == 0) {
        w->idle_since = wv_now();
        if ((err = start_job(w, task, !w->plain, lease)) != 0)
            fprintf(stderr, "weave worker: cannot start a job: %s\n",
                    wv_strerror(err));
        return;
    }
    if (err == WV_ETIMEDOUT || err == WV_EAGAIN)
        return;
    lost(w, err);
}

/* Renews the leases of the running jobs a third of a lease after they
 * were taken or last renewed, so that a job may outlast its lease while
 * its worker lives; a worker that hangs stops renewing and its tasks go
 * to others a lease later.  The due leases are gathered first: the
 * renewals wait, and jobs end meanwhile. */
static void renew(worker_t *w)
{
    if (w->plain || w->no_renew || !w->m)
        return;
    int64_t now = wv_now();
    uint64_t due[64];
    size_t n = 0;
    for (job_t *j = w->running; j && n < 64; j = j->next)
        if (j->leased && j->gen == w->gen &&
            now - j->renewed >= w->lease_ms / 3) {
            due[n++] = j->lease;
            j->renewed = now;
        }
    for (size_t i = 0; i < n; i++) {
        int err = wv_proxy_renew(w->task, due[i], w->lease_ms,
                                 wv_deadline_in(CALL_MS));
        if (err == WV_ENOENT)
            fputs("weave worker: a task's lease expired before its renewal: "
                  "it may run twice (--lease)\n",
                  stderr);
        else if (err == WV_ENOTSUP)
            w->no_renew = true;
        else if (err)
            lost(w, err);
        if (err && err != WV_ENOENT)
            return;
    }
}

/* How long the main loop may wait: renewals come due every third of a
 * lease. */
static int64_t wait_slice(const worker_t *w)
{
    int64_t third = w->lease_ms / 3;
    return third > 0 && third < IDLE_SLICE_MS ? third : IDLE_SLICE_MS;
}

static bool taking_done(const worker_t *w)
{
    if (w->max_jobs && w->taken >= w->max_jobs)
        return true;
    return w->idle_exit_ms && !w->nrunning && !w->finished &&
           wv_now() - w->idle_since >= w->idle_exit_ms;
}

/* The main loop; returns when stopped or done. */
static void serve_tasks(worker_t *w)
{
    while (!w->stop) {
        wv_event_clear(&w->wake);
        if (!w->m) {
            reconnect(w, WV_FOREVER);
            continue;
        }
        deliver(w);
        renew(w);
        if (!w->m)
            continue;
        if (taking_done(w)) {
            if (!w->nrunning && !w->finished)
                return;
            wv_event_wait(&w->wake, wv_deadline_in(wait_slice(w)));
        } else if (w->nrunning >= w->jobs) {
            wv_event_wait(&w->wake, wv_deadline_in(wait_slice(w)));
        } else {
            take(w);
        }
    }
}

/* After a stop: the jobs end (SIGTERM, SIGKILL after the grace, by the
 * watcher), then what finished is delivered and the rest handed back. */
static void wind_down(worker_t *w)
{
    int err = wv_group_join(w->g, wv_deadline_in(GRACE_MS + 10000));
    if (err) {
        signal_running(w, SIGKILL, true);
        wv_group_join(w->g, WV_FOREVER);
    }
    if (w->m)
        deliver(w);
    while (w->finished) {
        job_t *j = w->finished;
        w->finished = j->next;
        if (j->result || (j->handed_back && !j->leased))
            fputs("weave worker: the manager is gone: a task or result "
                  "could not be handed back\n",
                  stderr);
        job_free(j);
    }
    w->tail = &w->finished;
}

/* ------------------------------------------------------------ options */

static int parse(worker_t *w, int argc, char **argv, bool *help)
{
    const char *v;
    unsigned long n;
    int got;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            *help = true;
            return 0;
        }
        if ((got = cli_remote_option(&w->r, argc, argv, &i)) != 0) {
            if (got < 0)
                return -1;
        } else if ((got = cli_opt_value("worker", argc, argv, &i, "-j",
                                        "--jobs", &v))) {
            if (got < 0 ||
                cli_parse_count("worker", "-j", v, 1, 100000, &n) < 0)
                return -1;
            w->jobs = (unsigned)n;
        } else if ((got = cli_opt_value("worker", argc, argv, &i, NULL,
                                        "--timeout", &v))) {
            if (got < 0 ||
                cli_parse_seconds("worker", "--timeout", v, &w->timeout_ms))
                return -1;
        } else if ((got = cli_opt_value("worker", argc, argv, &i, NULL,
                                        "--lease", &v))) {
            if (got < 0 ||
                cli_parse_seconds("worker", "--lease", v, &w->lease_ms))
                return -1;
        } else if ((got = cli_opt_value("worker", argc, argv, &i, NULL,
                                        "--max-jobs", &v))) {
            if (got < 0 || cli_parse_count("worker", "--max-jobs", v, 1,
                                           1000000000, &w->max_jobs))
                return -1;
        } else if ((got = cli_opt_value("worker", argc, argv, &i, NULL,
                                        "--idle-exit", &v))) {
            if (got < 0 ||
                cli_parse_seconds("worker", "--idle-exit", v, &w->idle_exit_ms))
                return -1;
        } else if (!strcmp(a, "--once")) {
            w->max_jobs = 1;
        } else if (a[0] == '-') {
            fprintf(stderr,
                    "weave worker: unknown option '%s' (weave worker --help)\n",
                    a);
            return -1;
        } else if (cli_remote_address(&w->r, a) < 0) {
            return -1;
        }
    }
    return 0;
}

static int run(worker_t *w)
{
    wv_coro_t *watcher = NULL;
    int rc = 0;
    if (cli_signals_catch() < 0) {
        perror("weave worker: pipe");
        return CLI_EXIT_ERROR;
    }
    if (wv_group_new(&w->g) || wv_coro_spawn(&watcher, NULL, watcher_main, w)) {
        rc = oom();
        goto out;
    }
    int err = reconnect(w, wv_deadline_in(w->r.connect_ms));
    if (err && !w->stop) {
        rc = cli_remote_exit_status(err);
        goto out;
    }
    w->idle_since = wv_now();
    serve_tasks(w);
    wind_down(w);
out:
    if (watcher) {
        wv_coro_cancel(watcher);
        wv_coro_free(watcher);
    }
    wv_group_free(w->g);
    disconnect(w);
    cli_signals_restore();
    return rc;
}

int cli_worker_main(int argc, char **argv)
{
    worker_t *w = calloc(1, sizeof *w);
    if (!w)
        return oom();
    cli_remote_init(&w->r, "worker", false);
    w->tail = &w->finished;
    wv_event_init(&w->wake);
    bool help = false;
    int rc = CLI_EXIT_USAGE;
    if (parse(w, argc, argv, &help) == 0) {
        if (help) {
            usage(stdout);
            rc = 0;
        } else if ((rc = cli_remote_ready(&w->r)) == 0) {
            if (!w->jobs)
                w->jobs = (unsigned)(wv_cpu_count() > 0 ? wv_cpu_count() : 1);
            if (!w->lease_ms)
                w->lease_ms = LEASE_DEFAULT_MS;
            if (gethostname(w->host, sizeof w->host - 1) < 0)
                strcpy(w->host, "?");
            snprintf(w->name, sizeof w->name, "%s:%d", w->host, (int)getpid());
            rc = run(w);
        }
    }
    wv_event_destroy(&w->wake);
    cli_remote_free(&w->r);
    free(w);
    return rc;
}

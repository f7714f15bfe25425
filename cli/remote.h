/*
 * cli/remote.h - what weave serve, submit, worker and status share: the
 * manager's address, its authkey (from a file or the environment, never
 * from the command line), TLS, the queues' names, connecting with clear
 * messages and exit statuses, and the tasks' and results' format on the
 * wire (docs/cli.md, "Tasks and results").
 */
#ifndef WEAVE_CLI_REMOTE_H
#define WEAVE_CLI_REMOTE_H

#include "cli.h"

#include <weave.h>

/* The defaults of the tutorials' task_master.py. */
#define CLI_TASK_QUEUE   "get_task_queue"
#define CLI_RESULT_QUEUE "get_result_queue"
#define CLI_DEFAULT_PORT 5000
/* The typeid and methods that weave serve registers for weave status
 * and for the workers' reports. */
#define CLI_STATUS_TYPEID "weave_status"

/* A manager's address, key, TLS and queue names, from the options. */
typedef struct cli_remote {
    const char *cmd;          /* "worker": messages say "weave worker: " */
    bool server;              /* serve: --bind, a server TLS context */
    char *host;               /* malloc'd; NULL: 127.0.0.1 */
    uint16_t port;            /* CLI_DEFAULT_PORT unless given */
    const char *authkey_file; /* --authkey-file */
    char *authkey;            /* the key read (malloc) */
    size_t authkey_len;
    const char *task_queue;   /* --task-queue, default CLI_TASK_QUEUE */
    const char *result_queue; /* --result-queue, default CLI_RESULT_QUEUE */
    const char *tls_cert;     /* serve: --tls-cert */
    const char *tls_key;      /* serve: --tls-key */
    const char *tls_ca;       /* clients: --tls-ca (implies TLS) */
    bool tls;                 /* clients: --tls (system CAs) */
    bool tls_insecure;        /* clients: --tls-insecure (no verification) */
    wv_tls_ctx_t *tls_ctx;    /* made by cli_remote_ready, or NULL */
    int64_t connect_ms;       /* --connect-timeout, default 10 s */
    const char *redis;        /* --redis URL as given, or NULL (serve:
                               * its queues' backend) */
    const char *redis_prefix; /* --redis-prefix, NULL: the library's */
    char *redis_url;          /* the url used: --redis with the password of
                               * the environment added (malloc), or NULL */
    char *redis_where;        /* the url without its password (malloc) */
    bool addressed;           /* --connect or HOST:PORT given */
} cli_remote_t;

/* The environment variables that give a Redis password, in order. */
#define CLI_REDIS_PASSWORD_ENV "WEAVE_REDIS_PASSWORD"
#define CLI_REDIS_CLI_ENV      "REDISCLI_AUTH"

/* The client reaches Redis (--redis), not a manager. */
static inline bool cli_remote_is_redis(const cli_remote_t *r)
{
    return r->redis != NULL;
}

/* Sets the defaults for the subcommand cmd. */
void cli_remote_init(cli_remote_t *r, const char *cmd, bool server);
void cli_remote_free(cli_remote_t *r);

/*
 * Takes argv[*i] (and its value) if it is one of the shared options:
 * --bind/--connect, --authkey-file, --task-queue, --result-queue, the
 * TLS options, --connect-timeout, --redis and --redis-prefix (clients);
 * refuses --authkey.  1 if taken (*i
 * moved past its value), 0 if it is none of them, -1 after a one-line
 * message (exit CLI_EXIT_USAGE).
 */
int cli_remote_option(cli_remote_t *r, int argc, char **argv, int *i);
/* A positional HOST:PORT for the clients.  0 or -1 (message printed). */
int cli_remote_address(cli_remote_t *r, const char *text);
/* The options' help text, shared by the subcommands' --help. */
extern const char CLI_REMOTE_USAGE_CONNECT[];
extern const char CLI_REMOTE_USAGE_REDIS[];
extern const char CLI_REMOTE_USAGE_KEY[];
extern const char CLI_REMOTE_USAGE_EXIT[];

/* Reads the authkey (or, with --redis, makes the url with the
 * environment's password) and makes the TLS context.  0, or an exit
 * status after a one-line message. */
int cli_remote_ready(cli_remote_t *r);
/* --redis: checks the url's scheme, makes r->redis_url (the password of
 * the environment added: cli/remote_redis.c) and r->redis_where.  0, or
 * an exit status after a one-line message. */
int cli_remote_redis_ready(cli_remote_t *r);
/* The manager options for r (pointing into r). */
wv_manager_opts_t cli_remote_opts(const cli_remote_t *r);
/* The options of a client of the Redis of --redis (serve: its backend,
 * without TLS options: rediss:// trusts the system's CAs). */
wv_manager_opts_t cli_remote_redis_opts(const cli_remote_t *r);
/* "HOST:PORT" of r, or the Redis url without its password, in buf. */
const char *cli_remote_where(const cli_remote_t *r, char *buf, size_t cap);

/* One connection, within deadline: 0, or a WV_E* code.  Prints nothing. */
int cli_remote_connect(cli_remote_t *r, wv_manager_t **out, int64_t deadline);
/* Prints "weave CMD: cannot reach HOST:PORT: why" (or the key refused,
 * or not a manager) and returns the exit status for err. */
int cli_remote_fail(const cli_remote_t *r, const char *what, int err);
/* The exit status for a connection error err. */
int cli_remote_exit_status(int err);
/* err means the connection is unusable (lost, reset, closed...), as
 * opposed to a queue's answer (empty, full, no lease). */
bool cli_remote_is_lost(int err);

/* -------------------------------------------------- tasks and results */

/* A task as submit writes it: {'id': id, 'cmd': cmd, 'batch': batch}. */
int cli_task_new(wv_obj_t **out, uint64_t id, const char *cmd,
                 const char *batch);
/* The command of a task: a str, or a dict's 'cmd' str; NULL if the task
 * is neither. */
const char *cli_task_cmd(const wv_obj_t *task);

/* What one run of a task gave, for cli_result_new. */
typedef struct cli_run {
    int exitval;     /* its exit status, when no signal ended it */
    int signal;      /* the signal that ended it, 0 if none */
    double seconds;  /* its run time */
    const char *out; /* its stdout, out_len bytes */
    size_t out_len;
    const char *err; /* its stderr, err_len bytes */
    size_t err_len;
    bool timed_out; /* the worker killed it at its --timeout */
} cli_run_t;

/* The result of task: the task dict's own entries (a str task: 'id'
 * None and 'cmd'), then 'exit', 'signal', 'time', 'stdout', 'stderr',
 * 'timed_out', 'host', 'worker'. */
int cli_result_new(wv_obj_t **out, const wv_obj_t *task, const cli_run_t *run,
                   const char *host, const char *worker);

/* ------------------------------------------------------- subcommands */

int cli_serve_main(int argc, char **argv);
int cli_submit_main(int argc, char **argv);
int cli_worker_main(int argc, char **argv);
int cli_status_main(int argc, char **argv);

/* argv[*i] is "-h" or "--help". */
bool cli_is_help(const char *arg);
/* An option with a value: "--name V", "--name=V", "-x V", "-xV".  As
 * map's: 1 and *val, 0 if argv[*i] is not it, -1 when the value is
 * missing (message printed, using cmd). */
int cli_opt_value(const char *cmd, int argc, char **argv, int *i,
                  const char *shortname, const char *longname,
                  const char **val);
/* A decimal number of seconds above 0 (at most 1e8), in ms. */
int cli_parse_seconds(const char *cmd, const char *opt, const char *v,
                      int64_t *ms);
/* A whole number from min to max. */
int cli_parse_count(const char *cmd, const char *opt, const char *v,
                    unsigned long min, unsigned long max, unsigned long *out);

#endif /* WEAVE_CLI_REMOTE_H */

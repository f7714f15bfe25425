/*
 * cli/cli.h - the weave command's internal interface: what the files of
 * cli/ share.  The command uses the library's public API (weave.h) and
 * libc only, never an internal header.
 *
 * Exit statuses (documented in weave.1, docs/cli.md and each --help):
 * see the CLI_EXIT_* constants.
 */
#ifndef WEAVE_CLI_H
#define WEAVE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    CLI_EXIT_FAILED_MAX = 101,  /* 101: more than 100 jobs failed */
    CLI_EXIT_INTERRUPTED = 130, /* SIGINT (143 for SIGTERM: 128 + signal) */
    CLI_EXIT_UNREACHABLE = 69,  /* the manager cannot be reached (serve:
                                   its address cannot be listened on) */
    CLI_EXIT_TIMEOUT = 75,      /* submit --wait-timeout passed first */
    CLI_EXIT_PROTOCOL = 76,     /* the peer is no manager, or lacks the
                                   queue named */
    CLI_EXIT_AUTH = 77,         /* the manager refused the authkey */
    CLI_EXIT_ERROR = 253,       /* out of memory, cannot start a scheduler */
    CLI_EXIT_NOFILE = 254,      /* an input file or the joblog unusable */
    CLI_EXIT_USAGE = 255,       /* bad usage: option, value, no command */
};

/* ------------------------------------------------------------ input.c */

/* The inputs of a map: strings owned by the list. */
typedef struct cli_inputs {
    char **items; /* items[0..count) */
    size_t count;
    size_t cap;
    char *buf; /* the text read from a file or stdin, items point into it */
} cli_inputs_t;

/* Appends a copy of s.  0, or -1 when out of memory. */
int cli_inputs_add(cli_inputs_t *in, const char *s);
/* Reads every input of fd, one per line (sep '\n') or NUL-terminated
 * (sep '\0'); a last input without its separator counts.  0, or -1 with
 * errno set (the read failed, or out of memory). */
int cli_inputs_read(cli_inputs_t *in, int fd, char sep);
void cli_inputs_free(cli_inputs_t *in);

/* ---------------------------------------------------------- command.c */

/* A command template: the words after the options, joined by spaces. */
typedef struct cli_template {
    char *line;     /* the words joined by single spaces */
    bool shell;     /* it has a shell metacharacter: run by /bin/sh -c */
    bool has_input; /* it has {}, {.} or {/}: the input is not appended */
} cli_template_t;

int cli_template_init(cli_template_t *t, char *const *words, size_t n);
void cli_template_destroy(cli_template_t *t);

/* One job's command, made from the template, its input and its sequence
 * number.  argv is set when the job is exec'd directly, else shell. */
typedef struct cli_command {
    char *shell;   /* the /bin/sh -c line; also how the job is shown */
    char **argv;   /* NULL-terminated, or NULL to run shell */
    char *wordbuf; /* argv's strings */
} cli_command_t;

int cli_command_make(cli_command_t *c, const cli_template_t *t,
                     const char *input, uint64_t seq);
void cli_command_free(cli_command_t *c);

/* ----------------------------------------------------------- progress.c */

typedef struct cli_progress {
    bool on;    /* drawn at all */
    bool bar;   /* --bar: the one-line bar instead of the status line */
    bool shown; /* something is on the line now */
    int64_t start_ms;
} cli_progress_t;

void cli_progress_draw(cli_progress_t *p, size_t done, size_t failed,
                       size_t total);
void cli_progress_erase(cli_progress_t *p);

/* ------------------------------------------------------------ joblog.c */

typedef struct cli_joblog_entry {
    uint64_t seq;
    double start;    /* seconds since the epoch */
    double runtime;  /* seconds */
    size_t received; /* bytes of stdout and stderr */
    int exitval;
    int signal;
    const char *command;
} cli_joblog_entry_t;

/* Opens path (truncated) and writes the header.  NULL on failure (errno). */
void *cli_joblog_open(const char *path);
int cli_joblog_write(void *log, const cli_joblog_entry_t *e);
int cli_joblog_close(void *log);

/* ------------------------------------------------------------- util */

/* Writes all of buf to fd, retrying EINTR and short writes.  0 or -1. */
int cli_write_all(int fd, const void *buf, size_t len);

/* ------------------------------------------------------ subcommands */

int cli_map_main(int argc, char **argv);
void cli_map_usage(int fd);

/* ---------------------------------------------------------- signals.c */

/* SIGINT and SIGTERM set cli_signal_caught (and write their number to
 * the pipe cli_signal_fd, when >= 0); SIGPIPE is caught and ignored
 * (writes fail with EPIPE), and a job started later gets all three at
 * their default.  0 or -1 (errno). */
int cli_signals_catch(void);
void cli_signals_restore(void);
extern volatile int cli_signal_caught;
extern int cli_signal_fd; /* read end of the self-pipe, or -1 */
/* Writes a 0 byte to the self-pipe (safe from any thread): wakes the
 * watcher without a signal, to look at its state again. */
void cli_signals_wake(void);

#endif /* WEAVE_CLI_H */

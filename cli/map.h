/*
 * cli/map.h - weave map's options (map_opts.c parses them, map.c runs).
 */
#ifndef WEAVE_CLI_MAP_H
#define WEAVE_CLI_MAP_H

#include "cli.h"

enum { HALT_NEVER = 0, HALT_SOON, HALT_NOW };

typedef struct map_opts {
    unsigned jobs;            /* -j: jobs at a time; 0 = wv_cpu_count() */
    const char *arg_file;     /* -a: inputs from this file */
    bool null_sep;            /* -0: inputs NUL-terminated, not lines */
    bool keep_order;          /* -k: outputs in input order */
    int64_t timeout_ms;       /* --timeout: per job, 0 = none */
    unsigned retries;         /* --retries: runs again after a failure */
    int halt;                 /* --halt: HALT_* */
    unsigned long halt_fails; /* --halt ...,fail=N */
    const char *joblog;       /* --joblog FILE */
    bool dry_run;             /* --dry-run: print the commands only */
    bool progress;            /* --progress: the status line even off a tty */
    bool bar;                 /* --bar: the one-line bar */
    bool help;                /* -h, --help */
    char **cmd;               /* the command's words, cmd[0..ncmd) */
    size_t ncmd;
    bool has_args; /* ":::" was given */
    char **args;   /* the inputs after ":::", args[0..nargs) */
    size_t nargs;
} map_opts_t;

/* Parses argv[1..argc) (argv[0] is "map").  0, or -1 after a one-line
 * message on stderr (exit CLI_EXIT_USAGE). */
int map_opts_parse(map_opts_t *o, int argc, char **argv);

#endif /* WEAVE_CLI_MAP_H */

/*
 * cli/main.c - the weave command: subcommand dispatch, --help, --version.
 * Each subcommand lives in a file of its own (map.c, serve.c, submit.c,
 * worker.c, status.c).
 */
#include "remote.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <weave.h>

int cli_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static const char USAGE[] =
    "usage: weave <command> [options] [arguments]\n"
    "\n"
    "Python's concurrency toolbox, from the shell.\n"
    "\n"
    "commands:\n"
    "  map      run a command once per input, N at a time\n"
    "  serve    serve a task queue and a result queue\n"
    "  submit   put commands on a served queue, optionally wait for them\n"
    "  worker   run commands taken from a served queue, N at a time\n"
    "  status   queue depths, clients, leased, done, failed, rates\n"
    "\n"
    "  weave <command> --help   that command's options\n"
    "  weave --version          the version of weave\n"
    "\n"
    "See weave(1).\n";

static const struct {
    const char *name;
    int (*main)(int argc, char **argv);
} COMMANDS[] = {
    {"map", cli_map_main},       {"serve", cli_serve_main},
    {"submit", cli_submit_main}, {"worker", cli_worker_main},
    {"status", cli_status_main},
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(USAGE, stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        printf("weave %s\n", wv_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof *COMMANDS; i++)
        if (!strcmp(cmd, COMMANDS[i].name))
            return COMMANDS[i].main(argc - 1, argv + 1);
    if (cmd[0] == '-')
        fprintf(stderr, "weave: unknown option '%s' (weave --help)\n", cmd);
    else
        fprintf(stderr, "weave: unknown command '%s' (weave --help)\n", cmd);
    return CLI_EXIT_USAGE;
}

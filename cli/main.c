/*
 * cli/main.c - the weave command: subcommand dispatch, --help, --version.
 * Each subcommand lives in a file of its own (map.c); those not built yet
 * say so and exit 64, rather than pretend.
 */
#include "cli.h"

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
    "  serve    (not built yet) serve task and result queues\n"
    "  submit   (not built yet) put commands on a served queue\n"
    "  worker   (not built yet) run commands taken from a served queue\n"
    "  status   (not built yet) queue depths, workers, rates\n"
    "\n"
    "  weave <command> --help   that command's options\n"
    "  weave --version          the version of weave\n"
    "\n"
    "See weave(1).\n";

static const char *const NOT_BUILT[] = {"serve", "submit", "worker", "status"};

static int not_built(const char *name, int argc, char **argv)
{
    bool help = false;
    for (int i = 1; i < argc; i++)
        help |= !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
    if (help)
        printf("usage: weave %s ...\n\n"
               "weave %s is not built yet (issue 19, part 2): it exits "
               "with status 64.\n",
               name, name);
    else
        fprintf(stderr, "weave: %s: not built yet\n", name);
    return CLI_EXIT_NOT_BUILT;
}

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
    if (!strcmp(cmd, "map"))
        return cli_map_main(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof NOT_BUILT / sizeof *NOT_BUILT; i++)
        if (!strcmp(cmd, NOT_BUILT[i]))
            return not_built(cmd, argc - 1, argv + 1);
    if (cmd[0] == '-')
        fprintf(stderr, "weave: unknown option '%s' (weave --help)\n", cmd);
    else
        fprintf(stderr, "weave: unknown command '%s' (weave --help)\n", cmd);
    return CLI_EXIT_USAGE;
}

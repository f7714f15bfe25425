/*
 * cli/map_usage.c - weave map --help.  Kept beside weave.1 and
 * docs/cli.md: the three say the same.
 */
#include "cli.h"

static const char USAGE[] =
    "usage: weave map [options] command [args...] [::: input...]\n"
    "\n"
    "Runs command once per input, N at a time.  Inputs: after :::, or\n"
    "from -a FILE, or from standard input, one per line.  In the command,\n"
    "{} is the input, {.} the input without its extension, {/} its\n"
    "basename, {#} the job's number from 1; with none of {} {.} {/}, the\n"
    "input is appended.  A command without shell metacharacters\n"
    "( | & ; < > ( ) $ ` \\ \" ' * ? [ ] # ~ = % ! { } tab newline ) is\n"
    "exec'd directly; with one it runs under /bin/sh -c, each input\n"
    "quoted.  Jobs get /dev/null as stdin; each job's stdout and stderr\n"
    "are printed together when it ends, never mixed with another's.\n"
    "\n"
    "options:\n"
    "  -j, --jobs N         N jobs at a time (default: the CPU count)\n"
    "  -a, --arg-file FILE  inputs from FILE, one per line\n"
    "  -0, --null           inputs end with NUL, not newline\n"
    "  -k, --keep-order     print outputs in input order\n"
    "      --timeout SECS   kill a job's process group after SECS (SIGTERM,\n"
    "                       SIGKILL 2 s later); it counts as failed\n"
    "      --retries N      run a failed job again, up to N more times\n"
    "      --halt H         never | now,fail=N (kill running jobs once N\n"
    "                       failed) | soon,fail=N (start no more, let the\n"
    "                       running ones end)\n"
    "      --joblog FILE    one line per job: Seq Host Starttime JobRuntime\n"
    "                       Send Receive Exitval Signal Command (tabs)\n"
    "      --dry-run        print each command, run nothing\n"
    "      --progress       the status line on stderr even off a terminal\n"
    "      --bar            a one-line bar instead of the status line\n"
    "  -h, --help           this text\n"
    "\n"
    "On a terminal, stderr shows done/total, failed, rate, elapsed and\n"
    "ETA, redrawn at most ten times a second and erased at the end.\n"
    "\n"
    "exit status:\n"
    "  0        every job succeeded\n"
    "  1-100    that many jobs failed\n"
    "  101      more than 100 jobs failed\n"
    "  130      interrupted by SIGINT (143: SIGTERM); running jobs were\n"
    "           sent SIGTERM, a summary printed\n"
    "  141      standard output closed (its reader left): stopped alike\n"
    "  253      out of memory, or the scheduler could not start\n"
    "  254      the input file (or stdin) cannot be read, or the joblog\n"
    "           cannot be written\n"
    "  255      bad usage: unknown option, bad value, no command\n";

void cli_map_usage(int fd)
{
    cli_write_all(fd, USAGE, sizeof USAGE - 1);
}

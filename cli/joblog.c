/*
 * cli/joblog.c - --joblog FILE: one tab-separated line per job, after a
 * header, in GNU parallel's columns:
 *   Seq Host Starttime JobRuntime Send Receive Exitval Signal Command
 * Host is ":" (this machine, as parallel writes it); Starttime is seconds
 * since the epoch with milliseconds, JobRuntime seconds with
 * milliseconds; Send is 0 (jobs get no input); Receive the bytes of
 * stdout and stderr; Exitval the exit status (0 when a signal killed the
 * job) and Signal that signal (0 when none).  Lines are written as jobs
 * end, flushed each, so the log of an interrupted run is complete.
 */
#include "cli.h"

#include <stdio.h>

void *cli_joblog_open(const char *path)
{
    FILE *f = fopen(path, "we");
    if (!f)
        return NULL;
    fputs("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal"
          "\tCommand\n",
          f);
    fflush(f);
    return f;
}

int cli_joblog_write(void *log, const cli_joblog_entry_t *e)
{
    FILE *f = log;
    fprintf(f, "%llu\t:\t%.3f\t%9.3f\t0\t%zu\t%d\t%d\t%s\n",
            (unsigned long long)e->seq, e->start, e->runtime, e->received,
            e->exitval, e->signal, e->command);
    return fflush(f) == 0 ? 0 : -1;
}

int cli_joblog_close(void *log)
{
    return log ? fclose(log) : 0;
}

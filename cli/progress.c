/*
 * cli/progress.c - the progress display of weave map on standard error:
 * one line, redrawn in place ("\r" and erase-to-end-of-line), cut to the
 * terminal's width.  The status line (the default on a terminal, and
 * --progress) says done/total, failed, rate, elapsed and ETA; --bar draws
 * a bar with the percentage, done/total and ETA.  The caller limits the
 * redraws (map.c: at most ten a second) and erases the line before it
 * prints a job's output and at the end, so nothing of it is left.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <weave.h>

static int width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
        return ws.ws_col;
    return 80;
}

static void hms(char *out, size_t cap, double secs)
{
    long s = secs < 0 ? 0 : (long)(secs + 0.5);
    if (s >= 3600)
        snprintf(out, cap, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(out, cap, "%ld:%02ld", s / 60, s % 60);
}

void cli_progress_draw(cli_progress_t *p, size_t done, size_t failed,
                       size_t total)
{
    if (!p->on)
        return;
    double elapsed = (double)(wv_now() - p->start_ms) / 1000.0;
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    char el[32], eta[32] = "?";
    hms(el, sizeof el, elapsed);
    if (rate > 0)
        hms(eta, sizeof eta, (double)(total - done) / rate);
    char line[512];
    int cols = width() - 1;
    if (cols > (int)sizeof line - 16)
        cols = (int)sizeof line - 16;
    int n;
    if (p->bar) {
        int pct = total ? (int)(done * 100 / total) : 100;
        char tail[96];
        int tn = snprintf(tail, sizeof tail, " %3d%% %zu/%zu ETA %s", pct, done,
                          total, eta);
        int barw = cols - tn - 2;
        if (barw < 4)
            barw = 4;
        int fill = total ? (int)((size_t)barw * done / total) : barw;
        n = snprintf(line, sizeof line, "\r\033[K[");
        for (int i = 0; i < barw && n < (int)sizeof line - 100; i++)
            line[n++] = i < fill ? '#' : '.';
        n += snprintf(line + n, sizeof line - (size_t)n, "]%s", tail);
    } else {
        n = snprintf(line, sizeof line,
                     "\r\033[Kweave map: %zu/%zu done, %zu failed, %.1f/s, "
                     "elapsed %s, ETA %s",
                     done, total, failed, rate, el, eta);
        if (n > cols + 4)
            n = cols + 4; /* "\r\033[K" takes no column */
    }
    if (n < 0 || n > (int)sizeof line)
        n = (int)strlen(line);
    cli_write_all(STDERR_FILENO, line, (size_t)n);
    p->shown = true;
}

void cli_progress_erase(cli_progress_t *p)
{
    if (!p->shown)
        return;
    cli_write_all(STDERR_FILENO, "\r\033[K", 4);
    p->shown = false;
}

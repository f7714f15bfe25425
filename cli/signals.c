/*
 * cli/signals.c - how the weave command hears SIGINT and SIGTERM: a
 * handler that notes the signal and writes its number to a self-pipe,
 * which the subcommand's watcher waits on (wv_fdwait) beside whatever
 * else wakes it.  SIGPIPE is caught by a handler that does nothing, not
 * ignored: an ignored signal stays ignored in the jobs a subcommand
 * starts, a caught one is reset to its default at their exec, and a
 * write to a closed stdout fails with EPIPE.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

volatile int cli_signal_caught;
int cli_signal_fd = -1;
static int signal_wfd = -1;

static void on_signal(int sig)
{
    int saved = errno;
    cli_signal_caught = sig;
    unsigned char b = (unsigned char)sig;
    if (signal_wfd >= 0 && write(signal_wfd, &b, 1) < 0) {
        /* full pipe: enough signals are pending already */
    }
    errno = saved;
}

static void on_sigpipe(int sig)
{
    (void)sig;
}

int cli_signals_catch(void)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    cli_signal_fd = fds[0];
    signal_wfd = fds[1];
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct sigaction pipe_sa = {.sa_handler = on_sigpipe};
    sigemptyset(&pipe_sa.sa_mask);
    sigaction(SIGPIPE, &pipe_sa, NULL);
    return 0;
}

void cli_signals_restore(void)
{
    struct sigaction sa = {.sa_handler = SIG_DFL};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);
    if (cli_signal_fd >= 0) {
        close(cli_signal_fd);
        close(signal_wfd);
    }
    cli_signal_fd = signal_wfd = -1;
}

void cli_signals_wake(void)
{
    unsigned char b = 0;
    if (signal_wfd >= 0 && write(signal_wfd, &b, 1) < 0) {
        /* full: the watcher has bytes to read and will look anyway */
    }
}

/*
 * proc/spawn_linux.c - starting a program: vfork, then exec.
 *
 * The child is made with vfork: it borrows the parent's memory and stack
 * until it calls execve (or _exit), while the calling thread is suspended.
 * That costs no page-table copy (a fork of a large parent does) and is
 * what glibc's posix_spawn and Python's _posixsubprocess do.  Between
 * vfork and execve the child runs only system calls on data the parent
 * prepared (wv__spawn_plan_t): no malloc, no lock, no stdio, so a parent
 * with other threads is safe, whatever those threads hold.
 *
 * Signals.  The parent blocks every signal around vfork: a handler must
 * not run in the child, which shares the parent's memory.  The child sets
 * every caught signal back to SIG_DFL (ignored ones stay ignored, as
 * across exec), then restores the caller's mask just before execve.
 *
 * Errors.  A step that fails in the child (chdir, dup2, setsid, every
 * execve candidate) writes its errno to a close-on-exec pipe and _exits
 * with 127; the parent reads the pipe after vfork returns: an empty read
 * (the write end closed by the exec) means the program runs; 4 bytes are
 * the real error, returned by the start after reaping the child.  The pipe
 * rather than the shared memory alone because sanitizers (TSan) turn
 * vfork into fork, where memory is not shared; it costs four cheap
 * system calls next to an exec.
 *
 * The pidfd is opened after vfork returns: the child cannot have been
 * reaped by then (it is ours and unreaped), so its pid is still its own.
 *
 * Rejected: clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD) on a stack of our
 * own saves the pidfd_open call, but the sanitizers intercept clone (TSan
 * runs fork hooks in the child, which would corrupt the parent's state),
 * and glibc's posix_spawn cannot clear close-on-exec on pass_fds nor close
 * everything but a set of descriptors.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* Closes [lo, hi]: close_range (Linux 5.9), else one by one up to limit. */
static void close_span(unsigned lo, unsigned hi, unsigned limit)
{
    if (lo > hi)
        return;
    if (syscall(SYS_close_range, lo, hi, 0) == 0)
        return;
    for (unsigned fd = lo; fd <= hi && fd < limit; fd++)
        close((int)fd);
}

/* Child: closes every descriptor from 3 up but the kept ones (sorted)
 * and errfd. */
static void close_others(const wv__spawn_plan_t *pl, int errfd)
{
    unsigned lo = 3;
    size_t i = 0;
    bool err_kept = false;

    for (;;) {
        int next = i < pl->nkeep ? pl->keep[i] : -1;
        if (!err_kept && (next < 0 || errfd < next)) {
            next = errfd;
            err_kept = true;
        } else if (next >= 0) {
            i++;
        } else {
            close_span(lo, ~0u, pl->fd_limit);
            return;
        }
        if ((unsigned)next >= lo) {
            close_span(lo, (unsigned)next - 1, pl->fd_limit);
            lo = (unsigned)next + 1;
        }
    }
}

/* Child: puts the planned descriptors at 0, 1 and 2.  A source below 3
 * that is not its own target is moved up first, so that no dup2 over a
 * low number destroys a source still to be used. */
static int redirect(const wv__spawn_plan_t *pl)
{
    int src[3] = {pl->stdio[0], pl->stdio[1], pl->stdio[2]};

    for (int i = 0; i < 3; i++)
        if (src[i] >= 0 && src[i] < 3 && src[i] != i &&
            (src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3)) < 0)
            return errno;
    for (int i = 0; i < 3; i++) {
        if (src[i] < 0)
            continue;
        /* dup2 onto itself would leave close-on-exec set. */
        int r = src[i] == i ? fcntl(i, F_SETFD, 0) : dup2(src[i], i);
        if (r < 0)
            return errno;
    }
    if (pl->err_to_out && dup2(1, 2) < 0)
        return errno;
    return 0;
}

/* Child: every caught signal back to SIG_DFL (its handler is the
 * parent's code, in the parent's memory). */
static void reset_signals(void)
{
    struct sigaction sa;

    for (int sig = 1; sig < NSIG; sig++) {
        if (sigaction(sig, NULL, &sa) < 0)
            continue; /* glibc's own signals: EINVAL */
        if (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN)
            continue;
        sa.sa_handler = SIG_DFL;
        sa.sa_flags = 0;
        sigaction(sig, &sa, NULL);
    }
}

/* Child: execve on each candidate, like execvp: the first error that is
 * not "no such file here" wins, else ENOENT. */
static int exec_program(const wv__spawn_plan_t *pl)
{
    int err = 0;

    for (size_t i = 0; i < pl->npaths; i++) {
        execve(pl->paths[i], pl->argv, pl->envp);
        if (err == 0 && errno != ENOENT && errno != ENOTDIR)
            err = errno;
    }
    return err ? err : ENOENT;
}

/* The child, from vfork to execve.  Only system calls. */
static _Noreturn void child(const wv__spawn_plan_t *pl, int errfd,
                            const sigset_t *mask)
{
    int err = 0;

    reset_signals();
    if (pl->new_session && setsid() < 0)
        err = errno;
    else if (pl->pgid >= 0 && setpgid(0, pl->pgid) < 0)
        err = errno;
    else
        err = redirect(pl);
    for (size_t i = 0; !err && i < pl->nkeep; i++)
        if (fcntl(pl->keep[i], F_SETFD, 0) < 0)
            err = errno;
    if (!err && pl->close_others)
        close_others(pl, errfd);
    if (!err && pl->cwd && chdir(pl->cwd) < 0)
        err = errno;
    if (!err) {
        pthread_sigmask(SIG_SETMASK, mask, NULL);
        err = exec_program(pl);
    }
    while (write(errfd, &err, sizeof err) < 0 && errno == EINTR)
        ;
    _exit(127);
}

/* vfork in a frame of its own: the child never returns from it. */
static __attribute__((noinline)) int start(const wv__spawn_plan_t *pl,
                                           int errfd, const sigset_t *mask)
{
    int pid = vfork();
    if (pid == 0)
        child(pl, errfd, mask);
    return pid;
}

static void reap_pid(int pid)
{
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* The error pipe, its write end at 3 or above (the child's stdio is
 * rebuilt below 3). */
static int error_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    if (fds[1] >= 3)
        return 0;
    int high = fcntl(fds[1], F_DUPFD_CLOEXEC, 3);
    int err = high < 0 ? -errno : 0;
    close(fds[1]);
    fds[1] = high;
    if (err)
        close(fds[0]);
    return err;
}

int wv__spawn(const wv__spawn_plan_t *pl, int *pid_out, int *pidfd_out)
{
    int errpipe[2], err, child_err = 0;
    sigset_t all, old;
    ssize_t n;

    if ((err = error_pipe(errpipe)) != 0)
        return err;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int pid = start(pl, errpipe[1], &old);
    int fork_err = pid < 0 ? errno : 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(errpipe[1]);
    if (pid < 0) {
        close(errpipe[0]);
        return fork_err == ENOMEM ? WV_ENOMEM : WV_EAGAIN;
    }
    while ((n = read(errpipe[0], &child_err, sizeof child_err)) < 0 &&
           errno == EINTR)
        ;
    close(errpipe[0]);
    if (n == (ssize_t)sizeof child_err) {
        reap_pid(pid);
        return -child_err;
    }
    int pidfd = wv__pidfd_open(pid);
    if (pidfd < 0) {
        kill(pid, SIGKILL);
        reap_pid(pid);
        return pidfd;
    }
    *pid_out = pid;
    *pidfd_out = pidfd;
    return 0;
}

unsigned wv__fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur > (1u << 20))
        return 1u << 20;
    return (unsigned)rl.rlim_cur;
}

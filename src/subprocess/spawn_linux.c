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
 * Signals.  The parent blocks every signal it can around vfork (all but
 * glibc's two internal ones, which target the parent's thread id, not
 * the child's): a handler must not run in the child, which shares the
 * parent's memory.  The child sets
 * every caught signal back to SIG_DFL (ignored ones stay ignored, as
 * across exec), then restores the caller's mask just before execve.
 *
 * Errors.  A step that fails in the child (chdir, dup2, setsid, every
 * execve candidate) stores its errno in the parent's memory (struct
 * child_ctx, on the parent's stack) and _exits with 127; vfork returns
 * in the parent only after the child's execve succeeded or it exited, so
 * the word is final by then: 0 means the program runs, else it is the
 * real error, returned by the start after reaping the child (glibc's
 * posix_spawn does the same).  ThreadSanitizer and valgrind turn vfork
 * into fork, where no memory is shared: a probe (one child that sets a
 * word, once per process) finds that out, and the error then comes
 * through a close-on-exec pipe instead (four more system calls a start).
 *
 * The pidfd is opened after vfork returns, with every signal still
 * blocked, so that no SIGCHLD handler of the program (a waitpid(-1)
 * loop) can reap the child first.  A child reaped all the same (SIGCHLD
 * ignored: the kernel reaps it; another thread's waitpid(-1)) is
 * WV_ECHILD: no raw pid is ever signalled, and a pidfd that turns out to
 * name a process that is not our child (its pid reused) is dropped.
 *
 * clone3 (x86_64, Linux 5.5+, unsanitized builds).  The same vfork, made
 * by clone3(CLONE_VM | CLONE_VFORK | CLONE_CLEAR_SIGHAND | CLONE_PIDFD)
 * on the parent's stack (clone3_x86_64.S): the kernel resets the caught
 * signals to SIG_DFL in the child (ignored ones stay ignored), so the
 * child needs neither the loop of 64 sigaction queries nor a blocked
 * mask, and the pidfd comes with the child, so no SIGCHLD handler can
 * reap it first and no pidfd_open or check follows.  That is 69 system
 * calls fewer per start, which on a VM where one costs 1.5 us is 6% of
 * a start of /bin/true (W8 spawn_true).  A kernel or a tool that refuses
 * it (ENOSYS: valgrind, older kernels; EINVAL, E2BIG: no
 * CLONE_CLEAR_SIGHAND) sends every later start the vfork way.  The
 * sanitizers must see the child (they turn vfork into fork, and a raw
 * clone3 child would run instrumented code on their shared state), so
 * their builds keep vfork.
 *
 * Rejected: clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD) on a stack of our
 * own saves the pidfd_open call, but the sanitizers intercept clone (TSan
 * runs fork hooks in the child, which would corrupt the parent's state),
 * and the old clone cannot clear the signal handlers; glibc's posix_spawn
 * cannot clear close-on-exec on pass_fds nor close everything but a set
 * of descriptors.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

#if WEAVE_CLONE3 && !WEAVE_SANITIZER
#include <linux/sched.h> /* struct clone_args, CLONE_CLEAR_SIGHAND */
#include <stdint.h>
#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
/* clone3 with args->stack = 0, called as vfork is (clone3_x86_64.S):
 * the child's pid, 0 in the child, or -errno. */
long wv__clone3_vfork(struct clone_args *args, size_t size);
#define USE_CLONE3 1
#else
#define USE_CLONE3 0
#endif

/* The RLIMIT_NOFILE soft limit, at most 2^20 (a system call). */
static unsigned fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur > (1u << 20))
        return 1u << 20;
    return (unsigned)rl.rlim_cur;
}

/* Closes [lo, hi]: close_range (Linux 5.9), else one by one up to the
 * descriptor limit. */
static void close_span(unsigned lo, unsigned hi)
{
    if (lo > hi)
        return;
    if (syscall(SYS_close_range, lo, hi, 0) == 0)
        return;
    unsigned limit = fd_limit();
    for (unsigned fd = lo; fd <= hi && fd < limit; fd++)
        close((int)fd);
}

/* Child: closes every descriptor from 3 up but the kept ones (sorted)
 * and errfd. */
static void close_others(const wv__spawn_plan_t *pl, int errfd)
{
    unsigned lo = 3;
    size_t i = 0;
    bool err_kept = errfd < 0;

    for (;;) {
        int next = i < pl->nkeep ? pl->keep[i] : -1;
        if (!err_kept && (next < 0 || errfd < next)) {
            next = errfd;
            err_kept = true;
        } else if (next >= 0) {
            i++;
        } else {
            close_span(lo, ~0u);
            return;
        }
        if ((unsigned)next >= lo) {
            close_span(lo, (unsigned)next - 1);
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

/* What the child gets from the parent, on the parent's stack. */
struct child_ctx {
    const wv__spawn_plan_t *pl;
    const sigset_t *mask; /* the caller's signal mask, for the program;
                           * NULL: the kernel cleared the handlers and the
                           * mask is the caller's already (clone3) */
    int errfd;            /* the error pipe's write end, or -1 */
    volatile int err;     /* the child's error, when vfork shares memory */
};

/* The child, from vfork to execve.  Only system calls. */
static _Noreturn void child(struct child_ctx *c)
{
    const wv__spawn_plan_t *pl = c->pl;
    int err = 0;

    if (c->mask)
        reset_signals();
    if (pl->death_signal > 0) {
        if (prctl(PR_SET_PDEATHSIG, pl->death_signal) < 0)
            err = errno;
        else if (getppid() != pl->parent) /* the caller died already */
            kill(getpid(), pl->death_signal);
    }
    if (!err && pl->new_session && setsid() < 0)
        err = errno;
    else if (!err && pl->pgid >= 0 && setpgid(0, pl->pgid) < 0)
        err = errno;
    else if (!err)
        err = redirect(pl);
    for (size_t i = 0; !err && i < pl->nkeep; i++)
        if (fcntl(pl->keep[i], F_SETFD, 0) < 0)
            err = errno;
    if (!err && pl->close_others)
        close_others(pl, c->errfd);
    if (!err && pl->cwd && chdir(pl->cwd) < 0)
        err = errno;
    if (!err) {
        if (c->mask)
            pthread_sigmask(SIG_SETMASK, c->mask, NULL);
        err = exec_program(pl);
    }
    c->err = err;
    if (c->errfd >= 0)
        wv__write(c->errfd, &err, sizeof err);
    _exit(127);
}

/* vfork in a frame of its own: the child never returns from it. */
static __attribute__((noinline)) int start(struct child_ctx *c)
{
    int pid = vfork();
    if (pid == 0)
        child(c);
    return pid;
}

/*
 * Does vfork share our memory (the kernel's vfork), or is it a fork in
 * disguise (ThreadSanitizer's and valgrind's)?  Asked once per process,
 * of a child that only sets a word and exits.  Only with shared memory
 * can the child's error come back without the pipe.
 */
static bool vfork_shares_memory(void)
{
    static int answer; /* 0: not asked yet, 1: shares, 2: does not */
    int a = __atomic_load_n(&answer, __ATOMIC_RELAXED);
    if (a)
        return a == 1;
    volatile int flag = 0;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int pid = vfork();
    if (pid == 0) {
        flag = 1;
        _exit(0);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0)
        return false; /* the pipe this time; ask again next time */
    wv__waitpid(pid, NULL, 0);
    __atomic_store_n(&answer, flag ? 1 : 2, __ATOMIC_RELAXED);
    return flag;
}

static void reap_pid(int pid)
{
    wv__waitpid(pid, NULL, 0);
}

/* The error pipe, its write end at 3 or above (the child's stdio is
 * rebuilt below 3). */
static int error_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    int err = wv__fd_above_stdio(&fds[1]);
    if (err) {
        close(fds[0]);
        close(fds[1]);
    }
    return err;
}

/* After vfork: the child's error (0: it runs the program). */
static int child_error(struct child_ctx *c, int errfd)
{
    int err = 0;
    ssize_t n;

    if (errfd < 0)
        return c->err;
    n = wv__read(errfd, &err, sizeof err);
    close(errfd);
    return n == (ssize_t)sizeof err ? err : 0;
}

#if USE_CLONE3
static int clone3_works = 1; /* [atomic] 0 once a clone3 was refused */

/* clone3 in a frame of its own, as vfork (start). */
static __attribute__((noinline)) long start3(struct child_ctx *c, int *pidfd)
{
    struct clone_args args = {
        .flags = CLONE_VM | CLONE_VFORK | CLONE_CLEAR_SIGHAND | CLONE_PIDFD,
        .pidfd = (uint64_t)(uintptr_t)pidfd,
        .exit_signal = SIGCHLD,
    };
    long pid = wv__clone3_vfork(&args, sizeof args);
    if (pid == 0)
        child(c);
    return pid;
}

/* The clone3 way: 1 if clone3 is refused (then the vfork way is taken). */
static int spawn3(const wv__spawn_plan_t *pl, int *pid_out, int *pidfd_out,
                  int *result)
{
    struct child_ctx c = {pl, NULL, -1, 0};
    int pidfd = -1;
    long pid = start3(&c, &pidfd);

    if (pid == -ENOSYS || pid == -EINVAL || pid == -E2BIG) {
        __atomic_store_n(&clone3_works, 0, __ATOMIC_RELAXED);
        return 1;
    }
    if (pid < 0) {
        *result = pid == -ENOMEM ? WV_ENOMEM : WV_EAGAIN;
        return 0;
    }
    if (c.err) { /* final: the child has exited (CLONE_VFORK) */
        int code;
        wv__pidfd_reap(pidfd, &code);
        close(pidfd);
        *result = -c.err;
        return 0;
    }
    *pid_out = (int)pid;
    *pidfd_out = pidfd;
    *result = 0;
    return 0;
}
#endif

int wv__spawn(const wv__spawn_plan_t *pl, int *pid_out, int *pidfd_out)
{
#if USE_CLONE3
    int result;
    if (__atomic_load_n(&clone3_works, __ATOMIC_RELAXED) &&
        !spawn3(pl, pid_out, pidfd_out, &result))
        return result;
#endif
    struct child_ctx c = {pl, NULL, -1, 0};
    int errpipe[2] = {-1, -1}, err;
    sigset_t all, old;

    if (!vfork_shares_memory() && (err = error_pipe(errpipe)) != 0)
        return err;
    c.errfd = errpipe[1];
    c.mask = &old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int pid = start(&c);
    int fork_err = pid < 0 ? errno : 0;
    if (errpipe[1] >= 0)
        close(errpipe[1]);
    if (pid < 0) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (errpipe[0] >= 0)
            close(errpipe[0]);
        return fork_err == ENOMEM ? WV_ENOMEM : WV_EAGAIN;
    }
    err = child_error(&c, errpipe[0]);
    int pidfd = err ? -1 : wv__pidfd_hold(pid);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        reap_pid(pid);
        return -err;
    }
    if (pidfd < 0)
        return pidfd;
    *pid_out = pid;
    *pidfd_out = pidfd;
    return 0;
}

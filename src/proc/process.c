/*
 * proc/process.c - multiprocessing.Process and os.fork.
 *
 * A child is made one of two ways (wv_process_opts_t.start):
 *
 *  - fork: forked here, then held by a pidfd (pidfd_open, Linux 5.3).
 *    Waiting for it is waiting for the pidfd to become readable, with a
 *    deadline and through weave's fd waiter; it needs no SIGCHLD handler.
 *    Reaping (waitid P_PIDFD) happens once, under reap_lock.
 *  - the fork server (forkserver.c): forked by the server, which sends
 *    back the child's pidfd and the read end of a pipe on which it writes
 *    the child's exit code once it has reaped it.  Waiting is waiting for
 *    that pipe.  A pipe that ends without a code means the server died:
 *    the code is lost, and the handle waits for the pidfd instead, then
 *    answers WV_ECHILD, as when somebody else reaped a child of ours.
 *
 * Either way the pidfd carries the signals (pidfd_send_signal, which
 * works on any process we may signal), so they never reach a process
 * that got a recycled pid, and every joiner reads the cached exit code
 * once it is collected.  The descriptors stay open until the handle is
 * freed.
 *
 * We fork with fork(), not clone3(CLONE_PIDFD): the atfork handlers of
 * glibc (allocator, stdio) and weave (parking lot, fork server) must run.
 */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

struct wv_process {
    int pid;
    int pidfd;
    int statusfd; /* the server's status pipe; -1: forked here */
    wv_lock_t reap_lock;
    bool reaped;  /* [reap_lock] written once; read with acquire */
    bool lost;    /* [reap_lock] the status pipe ended without a code (the
                     server died); read with acquire */
    int exitcode; /* valid once reaped */
    int reap_err; /* WV_ECHILD: reaped by someone else, or code lost */
    char name[WV_PROCESS_NAME_MAX + 1];
};

static uint32_t process_counter; /* for "Process-N" */

int wv__pidfd_open(int pid)
{
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd;
}

int wv__pidfd_hold(int pid)
{
    int fd = wv__pidfd_open(pid);
    if (fd == WV_ESRCH)
        return WV_ECHILD; /* reaped already, by somebody else */
    if (fd < 0) {
        /* Still ours and unreaped (nobody else waits for it, or it would
         * be gone): safe to kill by pid, and to reap. */
        kill(pid, SIGKILL);
        wv__waitpid(pid, NULL, 0);
        return fd;
    }
    siginfo_t si;
    if (waitid(P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG | WNOWAIT) < 0 &&
        errno == ECHILD) {
        close(fd); /* its pid was reused: not our child */
        return WV_ECHILD;
    }
    return fd;
}

int wv__pidfd_reap(int pidfd, int *code)
{
    siginfo_t si;
    int r;

    memset(&si, 0, sizeof si);
    r = wv__waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED);
    if (r < 0) /* ECHILD: reaped behind our back */
        return r;
    *code = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
    return 0;
}

int wv__pidfd_signal(int pidfd, int sig)
{
    if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) == 0)
        return 0;
    /* ESRCH: it has ended (reaped or not): nothing to do, as Python. */
    return errno == ESRCH ? 0 : -errno;
}

void wv__process_run(const char *name, bool daemon, int parent,
                     wv_process_fn fn, void *arg)
{
    if (daemon) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) /* the parent died before prctl */
            _exit(1);
    }
    prctl(PR_SET_NAME, name);
    int rc = fn(arg);
    fflush(NULL);
    _exit(rc < 0 ? 1 : rc & 0xff);
}

/* Checks opts; the start method too unless `via` (it is not used then). */
static int check_opts(const wv_process_opts_t *o, const void *arg, bool via)
{
    if (!via && (o->start < WV_START_AUTO || o->start > WV_START_FORKSERVER))
        return WV_EINVAL;
    if (o->arg_size > 0 && !arg)
        return WV_EINVAL;
    if (o->arg_size > WV_PROCESS_ARG_MAX)
        return WV_EMSGSIZE;
    if (o->nfds > WV_PROCESS_MAX_FDS || (o->nfds > 0 && !o->fds))
        return WV_EINVAL;
    for (size_t i = 0; i < o->nfds; i++)
        if (o->fds[i] < 0)
            return WV_EBADF;
    return 0;
}

/* Forks the child here. */
static int fork_child(wv_process_t *p, const wv_process_opts_t *opts,
                      wv_process_fn fn, void *arg)
{
    int parent = getpid();
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    fflush(NULL);
    /* No SIGCHLD handler of the program may reap the child before its
     * pidfd is had (see wv__pidfd_hold). */
    pthread_sigmask(SIG_BLOCK, &chld, &old);
    int pid = fork();
    if (pid == 0) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        wv__process_run(p->name, opts->daemon, parent, fn, arg);
    }
    int err = pid < 0 ? (errno == ENOMEM ? WV_ENOMEM : WV_EAGAIN) : 0;
    if (!err) {
        p->pid = pid;
        p->pidfd = wv__pidfd_hold(pid);
        err = p->pidfd < 0 ? p->pidfd : 0;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return err;
}

/* A new handle named as opts says, or NULL. */
static wv_process_t *new_handle(const wv_process_opts_t *opts)
{
    wv_process_t *p = wv__calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->statusfd = -1;
    if (opts->name)
        snprintf(p->name, sizeof p->name, "%s", opts->name);
    else
        snprintf(p->name, sizeof p->name, "Process-%u",
                 __atomic_add_fetch(&process_counter, 1, __ATOMIC_RELAXED));
    return p;
}

/* Makes the child: through server `via` if not NULL, else as opts->start
 * says (NULL server: the global one). */
static int start(wv__fserver_t *via, wv_process_t **out,
                 const wv_process_opts_t *opts, wv_process_fn fn, void *arg)
{
    static const wv_process_opts_t defaults;
    int err;

    if (!out || !fn)
        return WV_EINVAL;
    if (!opts)
        opts = &defaults;
    if ((err = check_opts(opts, arg, via != NULL)) != 0)
        return err;
    wv_process_t *p = new_handle(opts);
    if (!p)
        return WV_ENOMEM;
    int method = via ? WV_START_FORKSERVER : opts->start;
    if (method == WV_START_AUTO)
        method = wv__forkserver_running() ? WV_START_FORKSERVER : WV_START_FORK;
    if (method == WV_START_FORKSERVER) {
        err = wv__fserver_spawn(via, opts, p->name, fn, arg, &p->pid, &p->pidfd,
                                &p->statusfd);
        if (err == WV_ENOTCONN && !via && opts->start == WV_START_AUTO)
            method = WV_START_FORK; /* stopped since we looked */
    }
    if (method == WV_START_FORK)
        err = fork_child(p, opts, fn, arg);
    if (err) {
        wv__free(p);
        return err;
    }
    *out = p;
    return 0;
}

int wv_process_start(wv_process_t **out, const wv_process_opts_t *opts,
                     wv_process_fn fn, void *arg)
{
    return start(NULL, out, opts, fn, arg);
}

int wv__process_start_via(wv__fserver_t *s, wv_process_t **out,
                          const wv_process_opts_t *opts, wv_process_fn fn,
                          void *arg)
{
    return s ? start(s, out, opts, fn, arg) : WV_EINVAL;
}

int wv__process_method(const wv_process_t *p)
{
    return p->statusfd >= 0 ? WV_START_FORKSERVER : WV_START_FORK;
}

static bool is_reaped(const wv_process_t *p)
{
    return __atomic_load_n(&p->reaped, __ATOMIC_ACQUIRE);
}

/* What tells that the child has ended (or, for the server's children,
 * that its code has come). */
static int end_fd(const wv_process_t *p)
{
    if (p->statusfd < 0 || __atomic_load_n(&p->lost, __ATOMIC_ACQUIRE))
        return p->pidfd;
    return p->statusfd;
}

static void set_reaped(wv_process_t *p, int exitcode, int err)
{
    p->exitcode = exitcode;
    p->reap_err = err;
    __atomic_store_n(&p->reaped, true, __ATOMIC_RELEASE);
}

/* A child forked here has ended (its pidfd is readable): reap it. */
static void reap(wv_process_t *p)
{
    int code = 0;
    int err = wv__pidfd_reap(p->pidfd, &code);
    set_reaped(p, code, err);
}

/* The status pipe of a child of the server is readable: its code, or its
 * end without one (the server died). */
static void read_status(wv_process_t *p)
{
    int32_t code;
    ssize_t n;

    n = wv__read(p->statusfd, &code, sizeof code);
    if (n == (ssize_t)sizeof code)
        set_reaped(p, code, 0);
    else if (n >= 0) /* the end (4 bytes are never split) */
        __atomic_store_n(&p->lost, true, __ATOMIC_RELEASE);
    /* EAGAIN: nothing yet after all; wait again. */
}

/* The pidfd is readable: the child has ended.  (Checked here, since a
 * joiner that waited on the status pipe may find the pipe lost by
 * another meanwhile.) */
static bool has_ended(const wv_process_t *p)
{
    struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
    return poll(&pfd, 1, 0) == 1;
}

/* end_fd(p) turned readable: collect what it tells, once. */
static void collect(wv_process_t *p)
{
    wv__lock_acquire_nocancel(&p->reap_lock);
    if (!p->reaped) {
        if (p->statusfd < 0)
            reap(p);
        else if (!p->lost)
            read_status(p);
        else if (has_ended(p)) /* and its code died with the server */
            set_reaped(p, 0, WV_ECHILD);
    }
    wv_lock_release(&p->reap_lock);
}

int wv__process_hold(wv_process_t **out, const char *name)
{
    wv_process_opts_t o = {.name = name};
    wv_process_t *p = new_handle(&o);
    if (!p)
        return WV_ENOMEM;
    p->pidfd = -1;
    *out = p;
    return 0;
}

void wv__process_adopt(wv_process_t *p, int pid, int pidfd)
{
    p->pid = pid;
    p->pidfd = pidfd;
}

void wv__process_unhold(wv_process_t *p)
{
    wv__free(p);
}

int wv__process_reaped(const wv_process_t *p, int *code)
{
    if (!is_reaped(p))
        return WV_EAGAIN;
    if (p->reap_err)
        return p->reap_err;
    if (code)
        *code = p->exitcode;
    return 0;
}

int wv_process_join(wv_process_t *p, int *exitcode, int64_t deadline)
{
    if (!p || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    while (!is_reaped(p)) {
        int err = wv__fd_wait(end_fd(p), POLLIN, deadline, NULL);
        if (err)
            return err;
        collect(p);
    }
    if (p->reap_err)
        return p->reap_err;
    if (exitcode)
        *exitcode = p->exitcode;
    return 0;
}

/* The pidfd is readable once the child has ended, zombie or reaped:
 * polling it reaps nothing. */
bool wv_process_is_alive(const wv_process_t *p)
{
    if (!p || is_reaped(p))
        return false;
    return wv__fd_wait(p->pidfd, POLLIN, WV_NOWAIT, NULL) == WV_EAGAIN;
}

int wv_process_exitcode(wv_process_t *p, int *code)
{
    return wv_process_join(p, code, 0);
}

int wv_process_pid(const wv_process_t *p)
{
    return p ? p->pid : 0;
}

const char *wv_process_name(const wv_process_t *p)
{
    return p ? p->name : NULL;
}

int wv_process_send_signal(wv_process_t *p, int sig)
{
    if (!p || sig <= 0 || sig >= NSIG)
        return WV_EINVAL;
    return wv__pidfd_signal(p->pidfd, sig);
}

int wv_process_terminate(wv_process_t *p)
{
    return wv_process_send_signal(p, SIGTERM);
}

int wv_process_kill(wv_process_t *p)
{
    return wv_process_send_signal(p, SIGKILL);
}

void wv_process_free(wv_process_t *p)
{
    if (!p)
        return;
    if (!is_reaped(p))
        wv_process_kill(p);
    /* Not cancellable, and bounded: the child is dying, and the server (if
     * it is the server's) reports it at once or is gone. */
    while (!is_reaped(p)) {
        struct pollfd pfd = {.fd = end_fd(p), .events = POLLIN};
        if (p->statusfd >= 0 && wv__poll(&pfd, 1, WV_FOREVER) < 0)
            break;
        collect(p);
    }
    close(p->pidfd);
    if (p->statusfd >= 0)
        close(p->statusfd);
    wv__free(p);
}

int wv_fork(void)
{
    fflush(NULL);
    int pid = fork();
    return pid < 0 ? -errno : pid;
}

int wv__process_pidfd(const wv_process_t *p)
{
    return p->pidfd;
}

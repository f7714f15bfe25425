/*
 * proc/process.c - multiprocessing.Process and os.fork.
 *
 * A child is forked, then held by a pidfd (pidfd_open, Linux 5.3): waiting
 * for it is waiting for the pidfd to become readable, with a deadline and
 * through weave's fd waiter, and needs no SIGCHLD handler; signals go
 * through pidfd_send_signal, so they can never reach another process that
 * got a recycled pid.  The pidfd stays open until the handle is freed.
 *
 * Reaping (waitid P_PIDFD) happens once, under reap_lock; every joiner
 * then reads the cached exit code.
 *
 * We fork with fork(), not clone3(CLONE_PIDFD): the atfork handlers of
 * glibc (allocator, stdio) and weave (parking lot) must run.
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
    wv_lock_t reap_lock;
    bool reaped;  /* [reap_lock] written once; read with acquire */
    int exitcode; /* valid once reaped */
    int reap_err; /* WV_ECHILD: someone else reaped it (SIGCHLD ignored) */
    char name[WV_PROCESS_NAME_MAX + 1];
};

static uint32_t process_counter; /* for "Process-N" */

static int pidfd_open(int pid)
{
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd;
}

/* In the child: never returns. */
static void child_main(const wv_process_opts_t *opts, const char *name,
                       int parent, wv_process_fn fn, void *arg)
{
    if (opts && opts->daemon) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) /* the parent died before prctl */
            _exit(1);
    }
    prctl(PR_SET_NAME, name);
    int rc = fn(arg);
    fflush(NULL);
    _exit(rc < 0 ? 1 : rc & 0xff);
}

int wv_process_start(wv_process_t **out, const wv_process_opts_t *opts,
                     wv_process_fn fn, void *arg)
{
    if (!out || !fn)
        return WV_EINVAL;
    wv_process_t *p = wv__calloc(1, sizeof *p);
    if (!p)
        return WV_ENOMEM;
    if (opts && opts->name)
        snprintf(p->name, sizeof p->name, "%s", opts->name);
    else
        snprintf(p->name, sizeof p->name, "Process-%u",
                 __atomic_add_fetch(&process_counter, 1, __ATOMIC_RELAXED));
    int parent = getpid();
    fflush(NULL);
    int pid = fork();
    if (pid < 0) {
        int err = -errno;
        wv__free(p);
        return err == WV_ENOMEM ? WV_ENOMEM : WV_EAGAIN;
    }
    if (pid == 0)
        child_main(opts, p->name, parent, fn, arg);
    p->pid = pid;
    p->pidfd = pidfd_open(pid);
    if (p->pidfd < 0) {
        int err = p->pidfd;
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        wv__free(p);
        return err == WV_ENOSYS ? WV_ENOSYS : err;
    }
    *out = p;
    return 0;
}

static bool is_reaped(const wv_process_t *p)
{
    return __atomic_load_n(&p->reaped, __ATOMIC_ACQUIRE);
}

/* The child has ended (its pidfd is readable): reap it, once. */
static void reap(wv_process_t *p)
{
    siginfo_t si;

    wv__lock_acquire_nocancel(&p->reap_lock);
    if (!p->reaped) {
        memset(&si, 0, sizeof si);
        int r;
        while ((r = waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED)) < 0 &&
               errno == EINTR)
            ;
        if (r < 0)
            p->reap_err = -errno; /* ECHILD: reaped behind our back */
        else
            p->exitcode =
                si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
        __atomic_store_n(&p->reaped, true, __ATOMIC_RELEASE);
    }
    wv_lock_release(&p->reap_lock);
}

int wv_process_join(wv_process_t *p, int64_t deadline, int *exitcode)
{
    if (!p || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    if (!is_reaped(p)) {
        int err = wv__fd_wait(p->pidfd, POLLIN, deadline, NULL);
        if (err)
            return err;
        reap(p);
    }
    if (p->reap_err)
        return p->reap_err;
    if (exitcode)
        *exitcode = p->exitcode;
    return 0;
}

bool wv_process_is_alive(wv_process_t *p)
{
    return p && wv_process_join(p, 0, NULL) == WV_EAGAIN;
}

int wv_process_exitcode(wv_process_t *p, int *code)
{
    return wv_process_join(p, 0, code);
}

int wv_process_pid(const wv_process_t *p)
{
    return p ? p->pid : 0;
}

const char *wv_process_name(const wv_process_t *p)
{
    return p ? p->name : NULL;
}

int wv_process_signal(wv_process_t *p, int sig)
{
    if (!p || sig <= 0 || sig >= NSIG)
        return WV_EINVAL;
    if (syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) == 0)
        return 0;
    /* ESRCH: it has ended (reaped or not): nothing to do, as Python. */
    return errno == ESRCH ? 0 : -errno;
}

int wv_process_terminate(wv_process_t *p)
{
    return wv_process_signal(p, SIGTERM);
}

int wv_process_kill(wv_process_t *p)
{
    return wv_process_signal(p, SIGKILL);
}

void wv_process_free(wv_process_t *p)
{
    if (!p)
        return;
    if (!is_reaped(p)) {
        wv_process_kill(p);
        reap(p);
    }
    close(p->pidfd);
    wv__free(p);
}

int wv_fork(void)
{
    fflush(NULL);
    int pid = fork();
    return pid < 0 ? -errno : pid;
}

/*
 * proc/forkserver.c - the fork server: a clean single-threaded process,
 * forked early, that forks the children of wv_process_start on request
 * (Python's forkserver start method).
 *
 * Why.  fork() copies only the calling thread.  A lock that another thread
 * holds at that moment (a pthread mutex, a stdio FILE, some library's
 * internal lock) stays locked in the child, which hangs at its first use;
 * atfork handlers reset only the locks whose owners registered one.  The
 * server is forked while the program still has one thread and never
 * starts another, so its children are copies of a process in which no
 * other thread ever held anything.
 *
 * Instances.  The client's side of a server is a struct wv__fserver.
 * The global server (wv_forkserver_start, used by WV_START_AUTO and
 * WV_START_FORKSERVER) is one static instance, started only while the
 * program has one thread.  Private servers (wv__fserver_new, the process
 * pool's "zygotes") are allocated ones, forked from the calling thread
 * whatever else runs: the caller accepts that the server copies this
 * instant's memory, locks held by other threads included.  From then on
 * the server is single-threaded, so every child forked through it, however
 * late, is a copy of that instant.  Instances share everything below;
 * they differ only in how they start and end (the global one restarts
 * a dead server, stops at exit; a private one dies with its creating
 * thread or at wv__fserver_free, and is never replaced).
 *
 * Protocol, over a SOCK_STREAM socketpair (a request carries up to 1 GiB
 * of argument bytes: more than one SOCK_SEQPACKET datagram can hold):
 *   ready    one byte from the server once it has armed its death signal;
 *            the forking thread waits for it, so it is alive at prctl
 *            (the getppid check alone misses a thread that exits while
 *            its process lives on).
 *   request  struct request, then arg_size argument bytes; the descriptors
 *            for the child ride on the header (SCM_RIGHTS).
 *   reply    struct reply; on success with two descriptors: the child's
 *            pidfd and the read end of its status pipe.
 * One request per server is in flight at a time: a client thread holds
 * that instance's lock from its request to the end of its reply.  The
 * function travels as an address, valid in the server because it is a
 * fork of the same image.
 *
 * The server has one epoll set: its request socket, and the pidfd of each
 * child not yet reaped.  A child's entry carries that pidfd and the write
 * end of the child's status pipe in its 64 bits of data, so the server
 * keeps no table and allocates nothing.  When a pidfd turns readable the
 * server reaps the child (waitid P_PIDFD), writes its exit code to the
 * pipe (an int32: the exit status, or minus the signal: Python's
 * exitcode) and closes both.  Exits are handled before the request of the
 * same wake-up.  The server leaves at the end of its request socket
 * (wv_forkserver_stop, wv__fserver_free, the client's exit) or when the
 * thread that forked it dies (PR_SET_PDEATHSIG); it never waits for its
 * children: they live on as a fork's children do when their parent
 * exits, and the daemons among them, whose death signal is tied to the
 * server, die.  At start-up it closes every descriptor it inherited but
 * stdio and its socket (other servers' sockets included), and its
 * children close all of the server's: no server's descriptors reach
 * another server or its children.
 *
 * The client sees the server's death as the end of the request socket
 * (WV_EPIPE for this and every later start through it) and as a status
 * pipe closed without a code (process.c then waits for the child's pidfd
 * and answers WV_ECHILD).
 *
 * Forks of the client (wv_fork, WV_START_FORK, anything that runs the
 * atfork handlers) do not inherit servers: one handler forgets the global
 * server in the child, another every private server on the registry's
 * list, closing their copies of the socket and pidfd.  The owner pid of
 * each instance is checked on every use (WV_ENOTCONN elsewhere), for
 * forks that run no handler; those keep copies of the descriptors
 * (close-on-exec, above stdio), which nothing here closes: the numbers
 * may name something else by then.  Such a copy cannot keep a server
 * alive: stop and free shut the socket down (shutdown(SHUT_RDWR)) rather
 * than only closing our end.  The same holds for a fork made while a
 * private server is being created or freed (off the list, fds open).
 *
 * Lock order: an instance's lock, then registry.lock (the global start
 * forks holding its lock, and the atfork prepare handler takes the
 * registry's).  registry.lock is held across fork and never while
 * waiting for anything else.
 */
#include "forkserver.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* ------------------------------------------------------------ the client */

/* The client's view of one server.  Every field but the lock and the
 * list links is [lock]: written and read under it; owner is also read
 * without it, atomically, as a hint.  sock and pidfd change only while
 * the server is off the registry's list (private servers) or under the
 * global start's rule (the global one), so the atfork handlers may read
 * them. */
struct wv__fserver {
    wv_lock_t lock;       /* serializes requests, launch and teardown */
    int owner;            /* pid of the process it serves; 0: no server */
    int sock;             /* our end of the request socket, non-blocking */
    int pid;              /* the server */
    int pidfd;            /* the server's pidfd, to reap it */
    bool dead;            /* it died or the stream broke: spawns are WV_EPIPE */
    bool listed;          /* [registry.lock] on the registry's list */
    wv__list_node_t link; /* [registry.lock] that list */
};

/* The global server (wv_forkserver_start). */
static wv__fserver_t global = {.sock = -1, .pidfd = -1};
static bool global_hooks; /* [global.lock] atfork and atexit installed */

/* The private servers (wv__fserver_new) this process owns, for the
 * atfork handler that forgets them in a child.  The lock protects the
 * list; it is held across fork (prepare to parent/child handler) and
 * never while another lock is taken. */
static struct {
    wv_lock_t lock;
    wv__list_t servers; /* [lock] of wv__fserver_t, by link */
} registry;
static int registry_err; /* set at load by registry_setup */

/* In the child of a fork: s is the parent's.  Only the forking thread
 * exists: nobody holds s's lock any more.  The copies are closed only
 * when s is the parent's own (else they are stale numbers, from a fork
 * that ran no handler, that may name something else by now). */
static void forget(wv__fserver_t *s, bool close_copies)
{
    if (close_copies && s->sock >= 0)
        close(s->sock);
    if (close_copies && s->pidfd >= 0)
        close(s->pidfd);
    s->sock = s->pidfd = -1;
    s->pid = 0;
    s->dead = false;
    __atomic_store_n(&s->owner, 0, __ATOMIC_RELAXED);
    wv_lock_init(&s->lock);
}

static void forget_global(void)
{
    forget(&global, global.owner == getppid());
}

static void registry_prepare(void)
{
    wv__lock_acquire_nocancel(&registry.lock);
}

static void registry_parent(void)
{
    wv_lock_release(&registry.lock);
}

static void registry_child(void)
{
    int parent = getppid();
    wv__list_foreach_safe(it, &registry.servers) {
        wv__fserver_t *s = wv__container_of(it, wv__fserver_t, link);
        wv__list_remove(&registry.servers, it);
        forget(s, s->owner == parent);
        s->listed = false;
    }
    wv_lock_init(&registry.lock);
}

/* At load rather than by pthread_once: a fork while another thread is
 * inside a once leaves it "in progress" for ever in the child where the
 * C library does not reset it (TSan, musl). */
__attribute__((constructor)) static void registry_setup(void)
{
    if (pthread_atfork(registry_prepare, registry_parent, registry_child))
        registry_err = WV_ENOMEM;
}

static void list_server(wv__fserver_t *s)
{
    wv__lock_acquire_nocancel(&registry.lock);
    wv__list_insert_head(&registry.servers, &s->link);
    s->listed = true;
    wv_lock_release(&registry.lock);
}

static void unlist_server(wv__fserver_t *s)
{
    wv__lock_acquire_nocancel(&registry.lock);
    if (s->listed) {
        wv__list_remove(&registry.servers, &s->link);
        s->listed = false;
    }
    wv_lock_release(&registry.lock);
}

static bool is_owner(const wv__fserver_t *s)
{
    return __atomic_load_n(&s->owner, __ATOMIC_RELAXED) == getpid();
}

bool wv__forkserver_running(void)
{
    return is_owner(&global);
}

int wv__fserver_pid(wv__fserver_t *s)
{
    int pid = 0;

    if (!s)
        s = &global;
    if (!is_owner(s))
        return 0;
    wv__lock_acquire_nocancel(&s->lock);
    if (s->owner == getpid())
        pid = s->pid;
    wv_lock_release(&s->lock);
    return pid;
}

int wv__forkserver_pid(void)
{
    return wv__fserver_pid(&global);
}

static void stop_at_exit(void)
{
    wv_forkserver_stop();
}

#if WEAVE_SANITIZER == 2
/*
 * ThreadSanitizer runs helper threads of its own (one, or two after a
 * fork), which hold none of the program's locks.  They block every
 * signal, which tells them apart in /proc (so, in this build only, does a
 * program's thread that blocks them all).
 */
static bool is_sanitizer_thread(int task_dir, const char *tid)
{
    /* Signals 1-31 but those that cannot be blocked. */
    const unsigned long long all =
        0x7fffffffull & ~(1ull << (SIGKILL - 1)) & ~(1ull << (SIGSTOP - 1));
    char path[64], buf[4096];
    ssize_t n = 0;

    snprintf(path, sizeof path, "%s/status", tid);
    int fd = openat(task_dir, path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
    }
    buf[n > 0 ? n : 0] = '\0';
    const char *blocked = strstr(buf, "\nSigBlk:");
    if (!blocked)
        return false;
    return (strtoull(blocked + 9, NULL, 16) & all) == all;
}
#else
static bool is_sanitizer_thread(int task_dir, const char *tid)
{
    return false;
}
#endif

/* Threads of this process (from /proc), or a WV_E* code. */
static int count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;

    if (!d)
        return errno == ENOMEM ? WV_ENOMEM : -errno;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.' && !is_sanitizer_thread(dirfd(d), e->d_name);
    closedir(d);
    return n;
}

/* 0 when this process runs no thread but the caller, else WV_EBUSY.  A
 * thread joined a moment ago may still be listed: pthread_join returns
 * before the kernel has let go of the thread.  So a count that is too
 * high gets 20 ms to settle before the answer is WV_EBUSY. */
static int check_single_threaded(void)
{
    int64_t end = wv_now() + 20;
    struct timespec nap = {0, 100 * 1000};

    for (;;) {
        int n = count_threads();
        if (n < 0)
            return n;
        if (n <= 1)
            return 0;
        if (wv_now() >= end)
            return WV_EBUSY;
        nanosleep(&nap, NULL);
    }
}

/* The process of pidfd has ended (not waiting). */
static bool has_ended(int pidfd)
{
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

/* [lock] Waits for the server to leave after the end of its socket (it
 * does at once), and reaps it.  Not cancellable: nothing is left behind. */
static void teardown(wv__fserver_t *s)
{
    int sock = s->sock, pidfd = s->pidfd;
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    siginfo_t si;

    /* Forgotten first: a fork meanwhile must not close these numbers in
     * its child, where they may name something else by then. */
    s->sock = s->pidfd = -1;
    shutdown(sock, SHUT_RDWR); /* EOF for the server even if a copy of
                                  our end survives somewhere */
    close(sock);
    wv__poll(&p, 1, WV_FOREVER);
    wv__waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG);
    close(pidfd);
    s->pid = 0;
    s->dead = false;
    __atomic_store_n(&s->owner, 0, __ATOMIC_RELAXED);
}

/* The server's first byte: it has armed its death signal (or it died:
 * WV_EPIPE).  It comes at once. */
static int await_ready(int sock)
{
    char byte;
    ssize_t n;

    n = wv__read(sock, &byte, 1);
    return n == 1 ? 0 : WV_EPIPE;
}

/*
 * [lock, or s not yet shared] Forks the server.  The calling thread waits
 * for it to arm its death signal, so the server dies with this thread
 * from the start.  A program that closed its stdio gets numbers below 3
 * for the socket or the pidfd: they move above 2, or the server and its
 * children would keep the socket as stdio.
 */
static int launch(wv__fserver_t *s)
{
    int sv[2], err;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    if ((err = wv__fd_above_stdio(&sv[0])) != 0 ||
        (err = wv__fd_above_stdio(&sv[1])) != 0) {
        close(sv[0]);
        close(sv[1]);
        return err;
    }
    int client = getpid();
    fflush(NULL); /* else each child would print what is pending now */
    int pid = fork();
    if (pid == 0)
        wv__fserver_main(sv[1], client);
    close(sv[1]);
    err = pid < 0 ? (errno == ENOMEM ? WV_ENOMEM : WV_EAGAIN) : 0;
    int pidfd = pid < 0 ? -1 : wv__pidfd_open(pid);
    if (!err && pidfd < 0)
        err = pidfd;
    if (!err)
        err = wv__fd_above_stdio(&pidfd);
    if (!err)
        err = await_ready(sv[0]);
    if (!err && fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0)
        err = -errno;
    if (err) {
        if (pid > 0) {
            kill(pid, SIGKILL);
            wv__waitpid(pid, NULL, 0);
        }
        if (pidfd >= 0)
            close(pidfd);
        close(sv[0]);
        return err;
    }
    s->sock = sv[0];
    s->pid = pid;
    s->pidfd = pidfd;
    s->dead = false;
    __atomic_store_n(&s->owner, client, __ATOMIC_RELAXED);
    return 0;
}

int wv_forkserver_start(void)
{
    int owner = __atomic_load_n(&global.owner, __ATOMIC_RELAXED);
    int err = 0;

    if (owner != 0 && owner != getpid())
        forget(&global, true); /* a fork that ran no atfork handler */
    wv__lock_acquire_nocancel(&global.lock);
    if (global.owner != 0 && !global.dead && !has_ended(global.pidfd))
        goto out;
    global.dead = global.owner != 0;
    err = check_single_threaded(); /* else it would copy their locks */
    if (!err && global.owner != 0)
        teardown(&global); /* it died: replace it */
    if (!err && !global_hooks) {
        if (pthread_atfork(NULL, NULL, forget_global) != 0 ||
            atexit(stop_at_exit) != 0)
            err = WV_ENOMEM;
        global_hooks = !err;
    }
    if (!err)
        err = launch(&global);
out:
    wv_lock_release(&global.lock);
    return err;
}

void wv_forkserver_stop(void)
{
    if (!is_owner(&global))
        return;
    wv__lock_acquire_nocancel(&global.lock);
    if (global.owner == getpid())
        teardown(&global);
    wv_lock_release(&global.lock);
}

int wv__fserver_new(wv__fserver_t **out)
{
    int err;

    if (!out)
        return WV_EINVAL;
    if (registry_err)
        return registry_err;
    wv__fserver_t *s = wv__calloc(1, sizeof *s);
    if (!s)
        return WV_ENOMEM;
    wv_lock_init(&s->lock);
    s->sock = s->pidfd = -1;
    /* A fork by another thread before list_server keeps copies of the
     * new descriptors: close-on-exec, and shut down at free. */
    if ((err = launch(s)) != 0) {
        wv__free(s);
        return err;
    }
    list_server(s);
    *out = s;
    return 0;
}

void wv__fserver_free(wv__fserver_t *s)
{
    if (!s)
        return;
    /* Off the list before its descriptors close (see teardown). */
    unlist_server(s);
    /* In a fork of the owner, nothing here is ours to close: the atfork
     * handler closed the copies, or (a fork that ran none) the numbers
     * may name something else by now. */
    if (is_owner(s)) {
        wv__lock_acquire_nocancel(&s->lock);
        teardown(s);
        wv_lock_release(&s->lock);
    }
    wv__free(s);
}

/* [lock] Sends a request and its argument bytes.  *sent_some tells
 * whether part of it went out (the stream is then ours to finish). */
static int send_request(int sock, const struct wv__fserver_request *req,
                        const void *arg, const int *fds, size_t nfds,
                        bool *sent_some)
{
    size_t total = sizeof *req + req->arg_size, off = 0;
    wv__fd_control_t ctl;

    while (off < total) {
        struct iovec iov[2];
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = 0};
        size_t arg_off = off < sizeof *req ? 0 : off - sizeof *req;
        if (off < sizeof *req)
            iov[m.msg_iovlen++] =
                (struct iovec){(char *)req + off, sizeof *req - off};
        if (req->arg_size > arg_off)
            iov[m.msg_iovlen++] = (struct iovec){
                (char *)arg + arg_off, (size_t)req->arg_size - arg_off};
        if (off == 0 && nfds > 0)
            wv__fds_attach(&m, &ctl, fds, nfds);
        ssize_t n = wv__sendmsg(sock, &m, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            *sent_some = true;
        } else if (n == WV_EAGAIN) {
            int err = wv__fd_wait(sock, POLLOUT, WV_FOREVER, NULL);
            if (err)
                return err;
        } else if (n < 0) {
            return n == WV_ECONNRESET ? WV_EPIPE : (int)n;
        }
    }
    return 0;
}

/* [lock] Receives a reply and the descriptors on it (got[0..*ngot)).
 * *trunc: some did not fit (too many descriptors open here). */
static int recv_reply(int sock, struct wv__fserver_reply *rep, int got[2],
                      size_t *ngot, bool *trunc)
{
    return wv__fserver_recv(sock, rep, sizeof *rep, got, ngot, 2, trunc);
}

/* [lock] One request and its reply.  A stream left half-way is no use
 * any more: the server is then dead to us (and told so by a shutdown). */
static int ask(wv__fserver_t *s, const struct wv__fserver_request *req,
               const void *arg, const int *fds, int *pid, int *pidfd,
               int *statusfd)
{
    struct wv__fserver_reply rep;
    int got[2];
    size_t ngot = 0;
    bool sent_some = false, trunc = false;

    /* Room for the reply's two descriptors, or the child would be made
     * and its handle lost on the way. */
    int spare[2] = {fcntl(s->sock, F_DUPFD_CLOEXEC, 0),
                    fcntl(s->sock, F_DUPFD_CLOEXEC, 0)};
    if (spare[0] >= 0)
        close(spare[0]);
    if (spare[1] >= 0)
        close(spare[1]);
    if (spare[0] < 0 || spare[1] < 0)
        return errno == ENFILE ? WV_ENFILE : WV_EMFILE;
    int err = send_request(s->sock, req, arg, fds, req->nfds, &sent_some);
    if (err && !sent_some && err != WV_EPIPE)
        return err; /* nothing went out (a bad descriptor, say) */
    if (!err)
        err = recv_reply(s->sock, &rep, got, &ngot, &trunc);
    if (!err && rep.err == 0 && ngot != 2 && trunc) {
        /* Another thread took the room meanwhile.  The reply was read
         * whole, so the stream is in step: end the child we cannot
         * hold (through its pidfd, which comes first, if it came). */
        if (ngot >= 1)
            syscall(SYS_pidfd_send_signal, got[0], SIGKILL, NULL, 0);
        else
            kill(rep.pid, SIGKILL);
        wv__fserver_close_all(got, ngot);
        return WV_EMFILE;
    }
    if (!err && rep.err == 0 && ngot != 2)
        err = WV_EPIPE; /* not our server's reply */
    if (err) {
        wv__fserver_close_all(got, ngot);
        shutdown(s->sock, SHUT_RDWR);
        s->dead = true;
        return WV_EPIPE;
    }
    if (rep.err) {
        wv__fserver_close_all(got, ngot);
        return rep.err;
    }
    *pid = rep.pid;
    *pidfd = got[0];
    *statusfd = got[1];
    return 0;
}

int wv__fserver_spawn(wv__fserver_t *s, const wv_process_opts_t *opts,
                      const char *name, wv_process_fn fn, void *arg, int *pid,
                      int *pidfd, int *statusfd)
{
    struct wv__fserver_request req;
    int err;

    if (!s)
        s = &global;
    memset(&req, 0, sizeof req);
    req.magic = WV__FSERVER_MAGIC;
    req.fn = fn;
    req.arg = arg;
    req.arg_size = opts->arg_size;
    req.daemon = opts->daemon;
    req.nfds = (uint32_t)opts->nfds;
    snprintf(req.name, sizeof req.name, "%s", name);
    for (size_t i = 0; i < opts->nfds; i++) {
        int flags = fcntl(opts->fds[i], F_GETFD);
        if (flags < 0)
            return WV_EBADF;
        req.targets[i] = opts->fds[i];
        req.cloexec |= (uint64_t)(flags & FD_CLOEXEC ? 1 : 0) << i;
    }
    if (!is_owner(s))
        return WV_ENOTCONN;
    wv__lock_acquire_nocancel(&s->lock);
    if (s->owner != getpid())
        err = WV_ENOTCONN; /* stopped meanwhile */
    else if (s->dead)
        err = WV_EPIPE;
    else
        err = ask(s, &req, arg, opts->fds, pid, pidfd, statusfd);
    wv_lock_release(&s->lock);
    return err;
}

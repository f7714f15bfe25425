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
 * Protocol, over a SOCK_STREAM socketpair (a request carries up to 1 GiB
 * of argument bytes: more than one SOCK_SEQPACKET datagram can hold):
 *   request  struct request, then arg_size argument bytes; the descriptors
 *            for the child ride on the header (SCM_RIGHTS).
 *   reply    struct reply; on success with two descriptors: the child's
 *            pidfd and the read end of its status pipe.
 * One request is in flight at a time: a client thread holds fs.lock from
 * its request to the end of its reply.  The function travels as an
 * address, valid in the server because it is a fork of the same image.
 *
 * The server has one epoll set: its request socket, and the pidfd of each
 * child not yet reaped.  A child's entry carries that pidfd and the write
 * end of the child's status pipe in its 64 bits of data, so the server
 * keeps no table and allocates nothing.  When a pidfd turns readable the
 * server reaps the child (waitid P_PIDFD), writes its exit code to the
 * pipe (an int32: the exit status, or minus the signal: Python's
 * exitcode) and closes both.  Exits are handled before the request of the
 * same wake-up.  The server leaves at the end of its request socket
 * (wv_forkserver_stop, the client's exit) or when the thread that forked
 * it dies (PR_SET_PDEATHSIG); it never waits for its children: they live
 * on as a fork's children do when their parent exits, and the daemons
 * among them, whose death signal is tied to the server, die.
 *
 * The client sees the server's death as the end of the request socket
 * (WV_EPIPE for this and every later start) and as a status pipe closed
 * without a code (process.c then waits for the child's pidfd and answers
 * WV_ECHILD).
 *
 * A fork of the client (wv_fork, WV_START_FORK) does not inherit the
 * server: an atfork handler forgets it in the child, and fs.owner (a pid)
 * is checked on every use, for forks that run no handlers.
 *
 * Lock order: fs.lock alone; nothing else is taken while it is held.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define MAGIC       0x53465657u /* "WVFS" */
#define REQUEST_KEY UINT64_MAX  /* epoll data of the request socket */
#define MAX_EVENTS  64

struct request {
    uint32_t magic;
    uint32_t nfds;     /* descriptors attached (SCM_RIGHTS) */
    wv_process_fn fn;  /* an address of the image both share */
    void *arg;         /* passed as it is when arg_size is 0 */
    uint64_t arg_size; /* argument bytes following the header */
    uint64_t cloexec;  /* bit i: descriptor i is close-on-exec */
    int32_t daemon;    /* opts->daemon */
    int32_t targets[WV_PROCESS_MAX_FDS]; /* descriptor i's number */
    char name[WV_PROCESS_NAME_MAX + 1];  /* NUL-terminated */
};

struct reply {
    int32_t err; /* 0 or a WV_E* code */
    int32_t pid; /* the child, on success */
};

/* The client's view of its server.  Every field but the lock is [lock]:
 * written and read under it; owner is also read without it, atomically,
 * as a hint. */
static struct {
    wv_lock_t lock; /* serializes requests, start and stop */
    int owner;      /* pid of the process it serves; 0: no server */
    int sock;       /* our end of the request socket, non-blocking */
    int pid;        /* the server */
    int pidfd;      /* the server's pidfd, to reap it */
    bool dead;      /* it died or the stream broke: starts are WV_EPIPE */
    bool hooks;     /* the atfork and atexit handlers are installed */
} fs = {.sock = -1, .pidfd = -1};

/* Closes descriptors lo..hi (inclusive); nothing if lo > hi. */
static void close_fds(unsigned lo, unsigned hi)
{
    if (lo > hi || syscall(SYS_close_range, lo, hi, 0) == 0)
        return;
    /* Before Linux 5.9: one by one, up to the descriptor limit. */
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = lo; fd <= (long)hi && fd < max; fd++)
        close((int)fd);
}

/* Takes the descriptors of every SCM_RIGHTS message in m into fds[*n..cap);
 * closes those past cap. */
static void take_fds(struct msghdr *m, int *fds, size_t *n, size_t cap)
{
    for (struct cmsghdr *h = CMSG_FIRSTHDR(m); h; h = CMSG_NXTHDR(m, h)) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
            continue;
        size_t count = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof fd);
            if (*n < cap)
                fds[(*n)++] = fd;
            else
                close(fd);
        }
    }
}

static void close_all(const int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
}

/* ------------------------------------------------------------ the server */

/* Dispositions the server changes, and what they were (for its children):
 * SIGINT ignored (a terminal's ^C is the client's to handle), SIGCHLD at
 * its default (or waitid would find nothing to reap), SIGPIPE ignored (a
 * status pipe whose reader is gone). */
static const int server_signals[3] = {SIGINT, SIGCHLD, SIGPIPE};
static struct sigaction saved_actions[3];

static void set_server_signals(void)
{
    for (int i = 0; i < 3; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = server_signals[i] == SIGCHLD ? SIG_DFL : SIG_IGN;
        sigaction(server_signals[i], &sa, &saved_actions[i]);
    }
}

/* Reads exactly len bytes into buf, or skips them (buf NULL).  false at
 * the end of the socket or on an error. */
static bool read_full(int fd, char *buf, uint64_t len)
{
    char scratch[4096];
    while (len > 0) {
        size_t want = len < sizeof scratch ? (size_t)len : sizeof scratch;
        ssize_t n = read(fd, buf ? buf : scratch, buf ? (size_t)len : want);
        if (n == 0 || (n < 0 && errno != EINTR))
            return false;
        if (n > 0) {
            len -= (uint64_t)n;
            if (buf)
                buf += n;
        }
    }
    return true;
}

/* Reads a request's header and the descriptors riding on it.  false at
 * the end of the socket, or on a request that is none of ours.  *trunc:
 * the descriptors did not all fit (this process has too many open); the
 * header was read whole all the same, so the stream is still in step. */
static bool recv_header(int sock, struct request *req, int *fds, size_t *nfds,
                        bool *trunc)
{
    wv__fd_control_t ctl;
    size_t got = 0;

    *trunc = false;
    *nfds = 0;
    while (got < sizeof *req) {
        struct iovec iov = {(char *)req + got, sizeof *req - got};
        struct msghdr m = {.msg_iov = &iov,
                           .msg_iovlen = 1,
                           .msg_control = ctl.buf,
                           .msg_controllen = sizeof ctl.buf};
        ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        got += (size_t)n;
        take_fds(&m, fds, nfds, WV_PROCESS_MAX_FDS);
        if (m.msg_flags & MSG_CTRUNC)
            *trunc = true;
    }
    if (req->magic != MAGIC || req->arg_size > WV_PROCESS_ARG_MAX ||
        (!*trunc && req->nfds != *nfds))
        goto fail;
    for (size_t i = 0; i < *nfds; i++)
        if (req->targets[i] < 0)
            goto fail;
    req->name[sizeof req->name - 1] = '\0';
    return true;
fail:
    close_all(fds, *nfds);
    return false;
}

/*
 * In a child of the server: puts each descriptor received at its number
 * in the client and closes every other descriptor of the server's (its
 * socket, epoll set, status pipes, siblings' pidfds), stdio aside.
 * `mine` lists the server's descriptors that may sit below 3 (a client
 * that had closed its stdio).
 */
static void place_fds(const struct request *req, const int *fds, size_t nfds,
                      const int *mine, size_t nmine)
{
    int moved[WV_PROCESS_MAX_FDS], top = 2;

    for (size_t i = 0; i < nmine; i++)
        top = mine[i] > top ? mine[i] : top;
    for (size_t i = 0; i < nfds; i++) {
        top = fds[i] > top ? fds[i] : top;
        top = req->targets[i] > top ? req->targets[i] : top;
    }
    /* First out of the way, above every number in play... */
    for (size_t i = 0; i < nfds; i++) {
        moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, top + 1);
        if (moved[i] < 0)
            _exit(1); /* nobody to tell: fail as fn would */
    }
    /* ...then nothing of the server's below them... */
    close_fds(3, (unsigned)top);
    for (size_t i = 0; i < nmine; i++)
        if (mine[i] <= 2)
            close(mine[i]);
    for (size_t i = 0; i < nfds; i++)
        if (fds[i] <= 2)
            close(fds[i]);
    /* ...then each at its number, and nothing above. */
    for (size_t i = 0; i < nfds; i++) {
        int flags = (req->cloexec >> i) & 1 ? O_CLOEXEC : 0;
        if (dup3(moved[i], req->targets[i], flags) < 0)
            _exit(1);
    }
    close_fds((unsigned)top + 1, ~0u);
}

/* A child's pidfd turned readable: reap the child, report its code,
 * forget it.  false if it had not ended after all. */
static bool report_exit(int ep, uint64_t key)
{
    int pidfd = (int)(key >> 32), statusfd = (int)(uint32_t)key;
    siginfo_t si;
    int r;

    memset(&si, 0, sizeof si);
    do
        r = waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0 && si.si_pid == 0)
        return false;
    if (r == 0) {
        int32_t code = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
        /* 4 bytes into an empty pipe: whole, never blocking.  A reader
         * that is gone makes it EPIPE (SIGPIPE is ignored here). */
        ssize_t n = write(statusfd, &code, sizeof code);
        (void)n;
    }
    /* r < 0 (reaped by someone else: cannot happen here): no code, which
     * the client reads as it reads the server's death, WV_ECHILD. */
    epoll_ctl(ep, EPOLL_CTL_DEL, pidfd, NULL);
    close(pidfd);
    close(statusfd);
    return true;
}

/* Forks the child of a request.  On success *pid, and out[] holds its
 * pidfd (kept in the epoll set) and the read end of its status pipe. */
static int spawn(const struct request *req, void *arg, const int *fds,
                 size_t nfds, int sock, int ep, int *pid, int out[2])
{
    int pipefd[2];

    if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
        return -errno;
    int server = getpid();
    int child = fork();
    if (child == 0) {
        int mine[] = {sock, ep, pipefd[0], pipefd[1]};
        for (int i = 0; i < 3; i++)
            sigaction(server_signals[i], &saved_actions[i], NULL);
        place_fds(req, fds, nfds, mine, 4);
        wv__process_run(req->name, req->daemon, server, req->fn, arg);
    }
    int err = child < 0 ? (errno == ENOMEM ? WV_ENOMEM : WV_EAGAIN) : 0;
    int pidfd = child < 0 ? -1 : wv__pidfd_open(child);
    if (!err && pidfd < 0)
        err = pidfd;
    if (!err) {
        struct epoll_event ev = {.events = EPOLLIN};
        ev.data.u64 = (uint64_t)(uint32_t)pidfd << 32 | (uint32_t)pipefd[1];
        if (epoll_ctl(ep, EPOLL_CTL_ADD, pidfd, &ev) < 0)
            err = -errno;
    }
    if (err) {
        if (child > 0) {
            kill(child, SIGKILL);
            while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
                ;
        }
        if (pidfd >= 0)
            close(pidfd);
        close(pipefd[0]);
        close(pipefd[1]);
        return err;
    }
    *pid = child;
    out[0] = pidfd;
    out[1] = pipefd[0];
    return 0;
}

/* Sends a reply, with the child's pidfd and status pipe on success.  It
 * fits: the client reads each reply before its next request. */
static bool send_reply(int sock, const struct reply *rep, const int out[2])
{
    wv__fd_control_t ctl;
    struct iovec iov = {(void *)rep, sizeof *rep};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n;

    if (rep->err == 0)
        wv__fds_attach(&m, &ctl, out, 2);
    do
        n = sendmsg(sock, &m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof *rep;
}

/* Serves one request.  false: the client is gone (or spoke nonsense). */
static bool serve(int sock, int ep)
{
    struct request req;
    struct reply rep = {0, 0};
    int fds[WV_PROCESS_MAX_FDS], out[2] = {-1, -1};
    size_t nfds;
    bool ok = true;

    bool trunc;

    if (!recv_header(sock, &req, fds, &nfds, &trunc))
        return false;
    if (trunc) /* refused, but the stream goes on */
        rep.err = WV_EMFILE;
    void *arg = req.arg, *copy = NULL;
    if (req.arg_size > 0) {
        /* The child keeps this mapping; the server unmaps its own. */
        copy = rep.err ? MAP_FAILED
                       : mmap(NULL, req.arg_size, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (copy == MAP_FAILED) {
            copy = NULL;
            if (!rep.err)
                rep.err = WV_ENOMEM;
        }
        ok = read_full(sock, copy, req.arg_size);
        arg = copy;
    }
    if (ok && rep.err == 0)
        rep.err = spawn(&req, arg, fds, nfds, sock, ep, &rep.pid, out);
    if (copy)
        munmap(copy, req.arg_size);
    close_all(fds, nfds);
    if (ok)
        ok = send_reply(sock, &rep, out);
    if (out[1] >= 0)
        close(out[1]); /* the client has its own now */
    return ok;
}

/* The server's life; never returns. */
_Noreturn static void server_main(int sock, int client)
{
    struct epoll_event evs[MAX_EVENTS];
    bool serving = true;
    int n;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != client) /* the client died before prctl */
        _exit(0);
    prctl(PR_SET_NAME, "wv-forkserver");
    set_server_signals();
    /* Copies of the client's descriptors would keep its pipes and files
     * open behind its back: keep only stdio and the request socket. */
    if (sock > 3)
        close_fds(3, (unsigned)sock - 1);
    close_fds(sock < 3 ? 3 : (unsigned)sock + 1, ~0u);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = REQUEST_KEY};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, sock, &ev) < 0)
        _exit(1);
    while (serving) {
        bool request = false;
        n = epoll_wait(ep, evs, MAX_EVENTS, -1);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == REQUEST_KEY)
                request = true;
            else
                report_exit(ep, evs[i].data.u64);
        }
        if (n < 0 && errno != EINTR)
            _exit(1);
        if (request)
            serving = serve(sock, ep);
    }
    /* Report the children that have ended; the others go on without us. */
    epoll_ctl(ep, EPOLL_CTL_DEL, sock, NULL);
    bool progress = true;
    while (progress && (n = epoll_wait(ep, evs, MAX_EVENTS, 0)) > 0)
        for (int i = 0; i < n; i++)
            progress = report_exit(ep, evs[i].data.u64) && progress;
    _exit(0);
}

/* ------------------------------------------------------------ the client */

bool wv__forkserver_running(void)
{
    return __atomic_load_n(&fs.owner, __ATOMIC_RELAXED) == getpid();
}

int wv__forkserver_pid(void)
{
    int pid = 0;
    if (!wv__forkserver_running())
        return 0;
    wv__lock_acquire_nocancel(&fs.lock);
    if (fs.owner == getpid())
        pid = fs.pid;
    wv_lock_release(&fs.lock);
    return pid;
}

/* In the child of a fork: the server is the parent's.  Only the forking
 * thread exists: nobody holds the lock any more. */
static void forget_server(void)
{
    if (fs.sock >= 0)
        close(fs.sock);
    if (fs.pidfd >= 0)
        close(fs.pidfd);
    fs.sock = fs.pidfd = -1;
    fs.pid = 0;
    fs.dead = false;
    __atomic_store_n(&fs.owner, 0, __ATOMIC_RELAXED);
    wv_lock_init(&fs.lock);
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
static void teardown(void)
{
    int sock = fs.sock, pidfd = fs.pidfd;
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    siginfo_t si;

    /* Forgotten first: a fork meanwhile must not close these numbers in
     * its child, where they may name something else by then. */
    fs.sock = fs.pidfd = -1;
    shutdown(sock, SHUT_RDWR); /* EOF for the server even if a copy of
                                  our end survives somewhere */
    close(sock);
    while (poll(&p, 1, -1) < 0 && errno == EINTR)
        ;
    while (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG) < 0 &&
           errno == EINTR)
        ;
    close(pidfd);
    fs.pid = 0;
    fs.dead = false;
    __atomic_store_n(&fs.owner, 0, __ATOMIC_RELAXED);
}

/* [lock] Forks the server. */
static int launch(void)
{
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    /* A program that closed its stdio gets numbers below 3 here, which
     * the server and its children keep as stdio: move both ends up. */
    for (int i = 0; i < 2; i++)
        if (sv[i] < 3) {
            int fd = fcntl(sv[i], F_DUPFD_CLOEXEC, 3);
            if (fd < 0) {
                int err = -errno;
                close(sv[0]);
                close(sv[1]);
                return err;
            }
            close(sv[i]);
            sv[i] = fd;
        }
    int client = getpid();
    fflush(NULL); /* else each child would print what is pending now */
    int pid = fork();
    if (pid == 0)
        server_main(sv[1], client);
    close(sv[1]);
    int err = pid < 0 ? (errno == ENOMEM ? WV_ENOMEM : WV_EAGAIN) : 0;
    int pidfd = pid < 0 ? -1 : wv__pidfd_open(pid);
    if (!err && pidfd < 0)
        err = pidfd;
    if (!err && fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0)
        err = -errno;
    if (err) {
        if (pid > 0) {
            kill(pid, SIGKILL);
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
        }
        if (pidfd >= 0)
            close(pidfd);
        close(sv[0]);
        return err;
    }
    fs.sock = sv[0];
    fs.pid = pid;
    fs.pidfd = pidfd;
    fs.dead = false;
    __atomic_store_n(&fs.owner, client, __ATOMIC_RELAXED);
    return 0;
}

int wv_forkserver_start(void)
{
    int owner = __atomic_load_n(&fs.owner, __ATOMIC_RELAXED);
    int err = 0;

    if (owner != 0 && owner != getpid())
        forget_server(); /* a fork that ran no atfork handler */
    wv__lock_acquire_nocancel(&fs.lock);
    if (fs.owner != 0 && !fs.dead && !has_ended(fs.pidfd))
        goto out;
    fs.dead = fs.owner != 0;
    err = check_single_threaded(); /* else it would copy their locks */
    if (!err && fs.owner != 0)
        teardown(); /* it died: replace it */
    if (!err && !fs.hooks) {
        if (pthread_atfork(NULL, NULL, forget_server) != 0 ||
            atexit(stop_at_exit) != 0)
            err = WV_ENOMEM;
        fs.hooks = !err;
    }
    if (!err)
        err = launch();
out:
    wv_lock_release(&fs.lock);
    return err;
}

void wv_forkserver_stop(void)
{
    if (!wv__forkserver_running())
        return;
    wv__lock_acquire_nocancel(&fs.lock);
    if (fs.owner == getpid())
        teardown();
    wv_lock_release(&fs.lock);
}

/* [lock] Sends a request and its argument bytes.  *sent_some tells
 * whether part of it went out (the stream is then ours to finish). */
static int send_request(const struct request *req, const void *arg,
                        const int *fds, size_t nfds, bool *sent_some)
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
        ssize_t n = sendmsg(fs.sock, &m, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            *sent_some = true;
        } else if (n < 0 && errno == EAGAIN) {
            int err = wv__fd_wait(fs.sock, POLLOUT, WV_FOREVER, NULL);
            if (err)
                return err;
        } else if (n < 0 && errno != EINTR) {
            return errno == ECONNRESET ? WV_EPIPE : -errno;
        }
    }
    return 0;
}

/* [lock] Receives a reply and the descriptors on it (got[0..*ngot)).
 * *trunc: some did not fit (too many descriptors open here). */
static int recv_reply(struct reply *rep, int got[2], size_t *ngot, bool *trunc)
{
    wv__fd_control_t ctl;
    size_t have = 0;

    *ngot = 0;
    *trunc = false;
    while (have < sizeof *rep) {
        struct iovec iov = {(char *)rep + have, sizeof *rep - have};
        struct msghdr m = {.msg_iov = &iov,
                           .msg_iovlen = 1,
                           .msg_control = ctl.buf,
                           .msg_controllen = sizeof ctl.buf};
        ssize_t n = recvmsg(fs.sock, &m, MSG_CMSG_CLOEXEC);
        if (n > 0) {
            have += (size_t)n;
            take_fds(&m, got, ngot, 2);
            *trunc |= (m.msg_flags & MSG_CTRUNC) != 0;
        } else if (n == 0) {
            return WV_EPIPE;
        } else if (errno == EAGAIN) {
            int err = wv__fd_wait(fs.sock, POLLIN, WV_FOREVER, NULL);
            if (err)
                return err;
        } else if (errno != EINTR) {
            return errno == ECONNRESET ? WV_EPIPE : -errno;
        }
    }
    return 0;
}

/* [lock] One request and its reply.  A stream left half-way is no use
 * any more: the server is then dead to us (and told so by a shutdown). */
static int ask(const struct request *req, const void *arg, const int *fds,
               int *pid, int *pidfd, int *statusfd)
{
    struct reply rep;
    int got[2];
    size_t ngot = 0;
    bool sent_some = false, trunc = false;

    /* Room for the reply's two descriptors, or the child would be made
     * and its handle lost on the way. */
    int spare[2] = {fcntl(fs.sock, F_DUPFD_CLOEXEC, 0),
                    fcntl(fs.sock, F_DUPFD_CLOEXEC, 0)};
    if (spare[0] >= 0)
        close(spare[0]);
    if (spare[1] >= 0)
        close(spare[1]);
    if (spare[0] < 0 || spare[1] < 0)
        return errno == ENFILE ? WV_ENFILE : WV_EMFILE;
    int err = send_request(req, arg, fds, req->nfds, &sent_some);
    if (err && !sent_some && err != WV_EPIPE)
        return err; /* nothing went out (a bad descriptor, say) */
    if (!err)
        err = recv_reply(&rep, got, &ngot, &trunc);
    if (!err && rep.err == 0 && ngot != 2 && trunc) {
        /* Another thread took the room meanwhile.  The reply was read
         * whole, so the stream is in step: end the child we cannot
         * hold (through its pidfd, which comes first, if it came). */
        if (ngot >= 1)
            syscall(SYS_pidfd_send_signal, got[0], SIGKILL, NULL, 0);
        else
            kill(rep.pid, SIGKILL);
        close_all(got, ngot);
        return WV_EMFILE;
    }
    if (!err && rep.err == 0 && ngot != 2)
        err = WV_EPIPE; /* not our server's reply */
    if (err) {
        close_all(got, ngot);
        shutdown(fs.sock, SHUT_RDWR);
        fs.dead = true;
        return WV_EPIPE;
    }
    if (rep.err) {
        close_all(got, ngot);
        return rep.err;
    }
    *pid = rep.pid;
    *pidfd = got[0];
    *statusfd = got[1];
    return 0;
}

int wv__forkserver_spawn(const wv_process_opts_t *opts, const char *name,
                         wv_process_fn fn, void *arg, int *pid, int *pidfd,
                         int *statusfd)
{
    struct request req;
    int err;

    memset(&req, 0, sizeof req);
    req.magic = MAGIC;
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
    if (!wv__forkserver_running())
        return WV_ENOTCONN;
    wv__lock_acquire_nocancel(&fs.lock);
    if (fs.owner != getpid())
        err = WV_ENOTCONN; /* stopped meanwhile */
    else if (fs.dead)
        err = WV_EPIPE;
    else
        err = ask(&req, arg, opts->fds, pid, pidfd, statusfd);
    wv_lock_release(&fs.lock);
    return err;
}

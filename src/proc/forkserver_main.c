/*
 * proc/forkserver_main.c - the fork server's side: the process that forks
 * the children (forkserver.c tells the design and the protocol).
 *
 * It runs one thread and allocates nothing: requests are read into the
 * stack, argument bytes into a mapping the child keeps, and the children
 * not yet reaped live in the epoll set (see report_exit).
 */
#include "forkserver.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define REQUEST_KEY UINT64_MAX /* epoll data of the request socket */
#define MAX_EVENTS  64

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

void wv__fserver_close_all(const int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
}

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
        ssize_t n = wv__read(fd, buf ? buf : scratch, buf ? (size_t)len : want);
        if (n <= 0)
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
int wv__fserver_recv(int sock, void *buf, size_t len, int *fds, size_t *nfds,
                     size_t cap, bool *trunc)
{
    wv__fd_control_t ctl;
    size_t have = 0;

    *nfds = 0;
    *trunc = false;
    while (have < len) {
        struct iovec iov = {(char *)buf + have, len - have};
        struct msghdr m = {.msg_iov = &iov,
                           .msg_iovlen = 1,
                           .msg_control = ctl.buf,
                           .msg_controllen = sizeof ctl.buf};
        ssize_t n = wv__recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
        if (n > 0) {
            have += (size_t)n;
            wv__fds_take(&m, fds, nfds, cap);
            *trunc |= (m.msg_flags & MSG_CTRUNC) != 0;
        } else if (n == 0) {
            return WV_EPIPE;
        } else if (n == WV_EAGAIN) {
            int err = wv__fd_wait(sock, POLLIN, WV_FOREVER, NULL);
            if (err)
                return err;
        } else {
            return n == WV_ECONNRESET ? WV_EPIPE : (int)n;
        }
    }
    return 0;
}

static bool recv_header(int sock, struct wv__fserver_request *req, int *fds,
                        size_t *nfds, bool *trunc)
{
    if (wv__fserver_recv(sock, req, sizeof *req, fds, nfds, WV_PROCESS_MAX_FDS,
                         trunc) != 0)
        goto fail;
    if (req->magic != WV__FSERVER_MAGIC || req->arg_size > WV_PROCESS_ARG_MAX ||
        (!*trunc && req->nfds != *nfds))
        goto fail;
    for (size_t i = 0; i < *nfds; i++)
        if (req->targets[i] < 0)
            goto fail;
    req->name[sizeof req->name - 1] = '\0';
    return true;
fail:
    wv__fserver_close_all(fds, *nfds);
    return false;
}

/*
 * In a child of the server: puts each descriptor received at its number
 * in the client and closes every other descriptor of the server's (its
 * socket, epoll set, status pipes, siblings' pidfds), stdio aside.
 * `mine` lists the server's descriptors that may sit below 3 (a client
 * that had closed its stdio).
 */
static void place_fds(const struct wv__fserver_request *req, const int *fds,
                      size_t nfds, const int *mine, size_t nmine)
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
    r = wv__waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG);
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
static int spawn(const struct wv__fserver_request *req, void *arg,
                 const int *fds, size_t nfds, int sock, int ep, int *pid,
                 int out[2])
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
            wv__waitpid(child, NULL, 0);
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
static bool send_reply(int sock, const struct wv__fserver_reply *rep,
                       const int out[2])
{
    wv__fd_control_t ctl;
    struct iovec iov = {(void *)rep, sizeof *rep};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n;

    if (rep->err == 0)
        wv__fds_attach(&m, &ctl, out, 2);
    n = wv__sendmsg(sock, &m, MSG_NOSIGNAL);
    return n == (ssize_t)sizeof *rep;
}

/* Serves one request.  false: the client is gone (or spoke nonsense). */
static bool serve(int sock, int ep)
{
    struct wv__fserver_request req;
    struct wv__fserver_reply rep = {0, 0};
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
    wv__fserver_close_all(fds, nfds);
    if (ok)
        ok = send_reply(sock, &rep, out);
    if (out[1] >= 0)
        close(out[1]); /* the client has its own now */
    return ok;
}

/* The server's life; never returns. */
void wv__fserver_main(int sock, int client)
{
    struct epoll_event evs[MAX_EVENTS];
    bool serving = true;
    int n;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != client) /* the client died before prctl */
        _exit(0);
    /* Armed: the forking thread, which waits for this byte, was alive at
     * prctl (the getppid check alone misses a thread that exits while
     * its process lives on). */
    if (write(sock, "r", 1) != 1)
        _exit(1);
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
        n = wv__epoll_wait(ep, evs, MAX_EVENTS, -1);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == REQUEST_KEY)
                request = true;
            else
                report_exit(ep, evs[i].data.u64);
        }
        if (n < 0)
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

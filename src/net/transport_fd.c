/*
 * net/transport_fd.c - the plain descriptor transport (net/transport.h):
 * a socket or a pipe end, non-blocking, waited on with wv__fd_wait.
 *
 * SIGPIPE: sockets write with sendmsg(MSG_NOSIGNAL); anything else goes
 * through wv__pipe_writev (ipc/conn.c), which blocks SIGPIPE around the
 * write and takes back the one the write raised, as Pipes and
 * subprocess do.  The end of the writing direction is shutdown(SHUT_WR)
 * for a socket and close for a pipe (the only way a pipe's reader sees
 * the end), which a borrowed descriptor refuses.
 *
 * Threads: read and writev share nothing but the descriptor number; only
 * shutdown changes state (a pipe's fd), and the stream calls it from its
 * writing side.  Reading a pipe's writing end never happens: a pipe end
 * has one direction.
 */
#include "transport.h"

#include "../core/internal.h"
#include "../core/io.h"
#include "../ipc/internal.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

struct fd_transport {
    wv__transport_t base; /* ops, fd (-1 once a pipe end was closed) */
    bool is_socket;       /* send/shutdown, not writev/close */
    bool drained;         /* a stream socket's last read was short */
    bool borrowed;        /* the caller's: never closed */
    int saved_flags;      /* its status flags before O_NONBLOCK */
    wv__tring_t *ring;    /* a plain thread's pairs' (wv__fd_send_recv) */
};

static ssize_t fd_read(wv__transport_t *t, void *buf, size_t len, short *want)
{
    struct fd_transport *f = (struct fd_transport *)t;

    if (t->fd < 0)
        return WV_EBADF;
    if (f->drained) {
        /* The last read was short: the socket's queue was empty then,
         * and this read would most likely say EAGAIN.  The wait knows
         * whether data came since (WV__POLL_GUESS). */
        f->drained = false;
        *want = POLLIN | WV__POLL_GUESS;
        return WV_EAGAIN;
    }
    ssize_t n = wv__read(t->fd, buf, len);
    if (n == WV_EAGAIN)
        *want = POLLIN;
    else if (n > 0 && (size_t)n < len && f->is_socket)
        f->drained = true;
    return n;
}

static ssize_t fd_writev(wv__transport_t *t, const struct iovec *iov, int niov,
                         short *want)
{
    struct fd_transport *f = (struct fd_transport *)t;
    ssize_t n;

    if (t->fd < 0)
        return WV_EBADF;
    if (f->is_socket && niov == 1) { /* send: no msghdr to copy in */
        n = wv__sendto(t->fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL,
                       NULL, 0);
    } else if (f->is_socket) {
        struct msghdr m = {.msg_iov = (struct iovec *)iov,
                           .msg_iovlen = (size_t)niov};
        n = wv__sendmsg(t->fd, &m, MSG_NOSIGNAL);
    } else {
        n = wv__pipe_writev(t->fd, iov, niov);
    }
    if (n == WV_EAGAIN)
        *want = POLLOUT;
    return n;
}

static int fd_wait(wv__transport_t *t, short want, int64_t deadline)
{
    if (t->fd < 0)
        return WV_EBADF;
    return wv__fd_wait_again(t->fd, want, deadline, &t->reg);
}

static ssize_t fd_read_wait(wv__transport_t *t, void *buf, size_t len,
                            int64_t deadline)
{
    if (t->fd < 0 || !((struct fd_transport *)t)->is_socket)
        return WV_ENOSYS;
    return wv__fd_io(t->fd, buf, len, NULL, deadline);
}

static ssize_t fd_writev_wait(wv__transport_t *t, const struct iovec *iov,
                              int niov, int64_t deadline)
{
    if (t->fd < 0 || !((struct fd_transport *)t)->is_socket)
        return WV_ENOSYS;
    struct msghdr m = {.msg_iov = (struct iovec *)iov,
                       .msg_iovlen = (size_t)niov};
    return wv__fd_io(t->fd, NULL, 0, &m, deadline);
}

static ssize_t fd_writev_read_wait(wv__transport_t *t, const struct iovec *iov,
                                   int niov, ssize_t *sent, void *buf,
                                   size_t len, int64_t deadline)
{
    struct fd_transport *f = (struct fd_transport *)t;

    *sent = 0;
    if (t->fd < 0 || !f->is_socket)
        return WV_ENOSYS;
    struct msghdr m = {.msg_iov = (struct iovec *)iov,
                       .msg_iovlen = (size_t)niov};
    return wv__fd_send_recv(t->fd, &m, sent, buf, len, deadline, &f->ring);
}

static int fd_shutdown(wv__transport_t *t, short *want)
{
    struct fd_transport *f = (struct fd_transport *)t;

    if (t->fd < 0)
        return 0;
    if (f->is_socket)
        return shutdown(t->fd, SHUT_WR) ? -errno : 0;
    if (f->borrowed)
        return WV_ENOTSUP;
    close(t->fd); /* never retried: the descriptor is gone either way */
    t->fd = -1;
    return 0;
}

static void fd_close(wv__transport_t *t)
{
    struct fd_transport *f = (struct fd_transport *)t;

    wv__tring_free(f->ring);
    if (t->fd >= 0) {
        if (f->borrowed)
            fcntl(t->fd, F_SETFL, f->saved_flags);
        else
            close(t->fd);
    }
    wv__free(f);
}

void wv__transport_fd_abandon(wv__transport_t *t)
{
    ((struct fd_transport *)t)->borrowed = true;
    fd_close(t);
}

static const wv__transport_ops_t fd_ops = {
    .read = fd_read,
    .writev = fd_writev,
    .wait = fd_wait,
    .read_wait = fd_read_wait,
    .writev_wait = fd_writev_wait,
    .writev_read_wait = fd_writev_read_wait,
    .shutdown = fd_shutdown,
    .close = fd_close,
};

int wv__transport_fd_new(wv__transport_t **out, int fd, bool borrow)
{
    struct stat st;

    if (fd < 0)
        return WV_EBADF;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fstat(fd, &st) < 0)
        return -errno;
    if (S_ISSOCK(st.st_mode)) { /* a byte stream, or bytes get lost */
        int type = 0;
        socklen_t len = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
            return -errno;
        if (type != SOCK_STREAM)
            return WV_EINVAL;
    }
    struct fd_transport *f = wv__malloc(sizeof *f);
    if (!f)
        return WV_ENOMEM;
    if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        int err = -errno;
        wv__free(f);
        return err;
    }
    *f = (struct fd_transport){
        .base = {.ops = &fd_ops, .fd = fd},
        .is_socket = S_ISSOCK(st.st_mode),
        .borrowed = borrow,
        .saved_flags = flags,
    };
    *out = &f->base;
    return 0;
}

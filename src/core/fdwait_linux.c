/*
 * core/fdwait_linux.c - waiting for file descriptors, with a deadline.
 *
 * Every wait on descriptors (a pidfd, a pipe, a socket, the three pipes
 * of a subprocess) goes through wv__fds_wait, so that the loop layer can
 * make a coroutine's wait park the coroutine instead of the thread, the
 * same seam as wv__park for state words.  wv__fd_wait is its one-fd
 * form.  Plain threads poll(2) through wv__poll (core/io.h), which retries
 * EINTR with the time left recomputed from the absolute deadline.
 */
#include "internal.h"

#include "io.h"

#include <errno.h>
#include <poll.h>

int wv__fds_wait(struct pollfd *fds, size_t n, int64_t deadline)
{
    if (!wv__deadline_ok(deadline))
        return WV_EINVAL;
    const wv__waiter_kind_t *kind = wv__waiter_kind();
    if (kind->fds_wait)
        return kind->fds_wait(fds, n, deadline);
    int ready = wv__poll(fds, (nfds_t)n, deadline);
    if (ready > 0)
        return 0;
    if (ready < 0)
        return ready;
    return deadline == 0 ? WV_EAGAIN : WV_ETIMEDOUT;
}

int wv__fd_wait(int fd, short events, int64_t deadline, short *revents)
{
    struct pollfd p = {.fd = fd, .events = events};
    int err = wv__fds_wait(&p, 1, deadline);

    if (err)
        return err;
    if (revents)
        *revents = p.revents;
    return p.revents & POLLNVAL ? WV_EBADF : 0;
}

int wv__fd_wait_again(int fd, short events, int64_t deadline, uint64_t *reg)
{
    const wv__waiter_kind_t *kind = wv__waiter_kind();

    if (!kind->fd_wait_again || !wv__deadline_ok(deadline))
        return wv__fd_wait(fd, events & ~WV__POLL_GUESS, deadline, NULL);
    return kind->fd_wait_again(fd, events, deadline, reg);
}

/* wv__fd_io past its epoll check: the waiter kind decides. */
ssize_t wv__fd_io_kind(int fd, void *buf, size_t len, struct msghdr *msg,
                       int64_t deadline)
{
    const wv__waiter_kind_t *kind = wv__waiter_kind();

    if (!kind->fd_io || deadline == 0 || !wv__deadline_ok(deadline))
        return WV_ENOSYS;
    return kind->fd_io(fd, buf, len, msg, deadline);
}

ssize_t wv__fd_send_recv(int fd, struct msghdr *msg, ssize_t *sent, void *buf,
                         size_t len, int64_t deadline, wv__tring_t **ring)
{
    const wv__waiter_kind_t *kind = wv__waiter_kind();
    size_t msg_len = 0;

    *sent = 0;
    for (size_t i = 0; i < (size_t)msg->msg_iovlen; i++)
        msg_len += msg->msg_iov[i].iov_len;
    if (deadline == 0 || !wv__deadline_ok(deadline) || msg_len == 0 ||
        msg_len > INT32_MAX || len == 0)
        return WV_ENOSYS;
    if (kind->fd_send_recv)
        return kind->fd_send_recv(fd, msg, msg_len, sent, buf, len, deadline);
    if (wv__tring_get(ring) != 0) /* no memory now included: one at a time */
        return WV_ENOSYS;
    return wv__tring_send_recv(*ring, fd, msg, msg_len, sent, buf, len,
                               deadline);
}

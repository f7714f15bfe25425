/*
 * net/sock.c - the socket handle: adopt, pair, listen, accept, shutdown,
 * the I/O calls, descriptor passing, UDP and socket options.
 *
 * Every descriptor is non-blocking; every call is one loop "try the
 * system call; on EAGAIN wait for readiness through wv__fd_wait_again
 * (the one fd seam: a coroutine parks on its thread's epoll loop, on an
 * edge-triggered registration the handle keeps, a thread polls) against
 * the caller's absolute deadline; try again".  Readiness can be
 * stale (another thread read first), so EAGAIN after a wake-up simply
 * waits again.  The handle is three ints: no call allocates.
 */
#include "internal.h"

#include "../ipc/internal.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

_Static_assert(WV_SOCK_MAX_FDS <= WV__MAX_FDS,
               "one control buffer holds every descriptor of a message");

/* ------------------------------------------------------------ handle */

int wv__sock_wrap(wv_sock_t **out, int fd, int family, int type)
{
    wv_sock_t *s = wv__malloc(sizeof *s);
    if (!s)
        return WV_ENOMEM;
    *s = (wv_sock_t){.fd = fd, .family = family, .type = type};
    *out = s;
    return 0;
}

int wv__socket(int family, int type)
{
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

int wv__sock_wait(const wv_sock_t *s, short events, int64_t deadline)
{
    int err = wv__would_wait(deadline);
    /* The registration word is the loop's note, not the socket's state:
     * waiting on a const socket may renew it (sockets are never const
     * objects, only const handles). */
    uint64_t *reg = (uint64_t *)&s->reg;
    return err ? err : wv__fd_wait_again(s->fd, events, deadline, reg);
}

void wv__sock_nodelay(int fd, int family)
{
    int on = 1;
    if (family == AF_INET || family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

/* A socket option as an int: 0 or -errno. */
static int get_int(int fd, int level, int name, int *value)
{
    socklen_t len = sizeof *value;
    return getsockopt(fd, level, name, value, &len) ? -errno : 0;
}

static int set_int(const wv_sock_t *s, int level, int name, int value)
{
    if (!s)
        return WV_EINVAL;
    if (s->fd < 0)
        return WV_EBADF;
    return setsockopt(s->fd, level, name, &value, sizeof value) ? -errno : 0;
}

int wv_sock_adopt(wv_sock_t **out, int fd)
{
    if (!out)
        return WV_EINVAL;
    int type, err;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if ((err = get_int(fd, SOL_SOCKET, SO_TYPE, &type)))
        return err;
    if (getsockname(fd, (struct sockaddr *)&ss, &len))
        return -errno;
    int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
    if (fl < 0 || fdfl < 0)
        return -errno;
    if ((err = wv__sock_wrap(out, fd, ss.ss_family, type)))
        return err;
    /* Only now that nothing can fail: on error fd is left as it was. */
    (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    (void)fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC);
    return 0;
}

int wv_sock_pair(wv_sock_t **a, wv_sock_t **b, int type)
{
    if (!a || !b ||
        (type != SOCK_STREAM && type != SOCK_DGRAM && type != SOCK_SEQPACKET))
        return WV_EINVAL;
    int sv[2], err;
    wv_sock_t *x, *y;
    if (socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
        return -errno;
    if ((err = wv__sock_wrap(&x, sv[0], AF_UNIX, type)))
        goto out_close;
    if ((err = wv__sock_wrap(&y, sv[1], AF_UNIX, type))) {
        wv__free(x);
        goto out_close;
    }
    *a = x;
    *b = y;
    return 0;
out_close:
    close(sv[0]);
    close(sv[1]);
    return err;
}

int wv_sock_fd(const wv_sock_t *s)
{
    if (!s)
        return WV_EINVAL;
    return s->fd >= 0 ? s->fd : WV_EBADF;
}

int wv_sock_close(wv_sock_t *s)
{
    if (!s)
        return WV_EINVAL;
    if (s->fd >= 0)
        close(s->fd); /* Linux frees the descriptor even on EINTR */
    s->fd = -1;
    return 0;
}

void wv_sock_free(wv_sock_t *s)
{
    if (!s)
        return;
    wv_sock_close(s);
    wv__free(s);
}

/* getsockname or getpeername into *out. */
static int get_addr(const wv_sock_t *s, wv_addr_t *out, bool peer)
{
    if (!s || !out)
        return WV_EINVAL;
    if (s->fd < 0)
        return WV_EBADF;
    memset(out, 0, sizeof *out);
    socklen_t len = sizeof out->storage;
    struct sockaddr *sa = (struct sockaddr *)&out->storage;
    if ((peer ? getpeername(s->fd, sa, &len) : getsockname(s->fd, sa, &len)))
        return -errno;
    out->len = len;
    return 0;
}

int wv_sock_local_addr(const wv_sock_t *s, wv_addr_t *out)
{
    return get_addr(s, out, false);
}

int wv_sock_peer_addr(const wv_sock_t *s, wv_addr_t *out)
{
    return get_addr(s, out, true);
}

/* ---------------------------------------------------------- listening */

/* Binds fd to addr with the options a listener or UDP socket asked. */
static int bind_with(int fd, const wv_addr_t *addr, bool reuseaddr,
                     bool reuseport, bool v6only)
{
    int on = 1;
    int family = wv_addr_family(addr);
    if (reuseaddr && family != AF_UNIX &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on))
        return -errno;
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on))
        return -errno;
    if (family == AF_INET6) {
        int v6 = v6only;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof v6))
            return -errno;
    }
    if (bind(fd, (const struct sockaddr *)&addr->storage, addr->len))
        return -errno;
    return 0;
}

int wv_sock_listen(wv_sock_t **out, const wv_listen_opts_t *opts,
                   const wv_addr_t *addr)
{
    static const wv_listen_opts_t defaults;
    if (!out || !addr || wv_addr_family(addr) == AF_UNSPEC)
        return WV_EINVAL;
    if (!opts)
        opts = &defaults;
    int family = wv_addr_family(addr);
    int fd = wv__socket(family, SOCK_STREAM), err;
    if (fd < 0)
        return fd;
    err = bind_with(fd, addr, !opts->exclusive, opts->reuseport, opts->v6only);
    if (!err && listen(fd, opts->backlog > 0 ? opts->backlog : SOMAXCONN))
        err = -errno;
    if (!err)
        err = wv__sock_wrap(out, fd, family, SOCK_STREAM);
    if (err)
        close(fd);
    return err;
}

int wv_sock_accept(wv_sock_t *l, wv_sock_t **out, wv_addr_t *peer,
                   int64_t deadline)
{
    if (!l || !out)
        return WV_EINVAL;
    if (l->fd < 0)
        return WV_EBADF;
    wv_addr_t scratch;
    wv_addr_t *a = peer ? peer : &scratch;
    for (;;) {
        memset(a, 0, sizeof *a);
        socklen_t len = sizeof a->storage;
        int fd = wv__accept4(l->fd, (struct sockaddr *)&a->storage, &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            a->len = len;
            wv__sock_nodelay(fd, l->family);
            int err = wv__sock_wrap(out, fd, l->family, l->type);
            if (err)
                close(fd);
            return err;
        }
        if (fd != WV_EAGAIN)
            return fd;
        int err = wv__sock_wait(l, POLLIN, deadline);
        if (err)
            return err;
    }
}

int wv_sock_shutdown(wv_sock_t *s, int how)
{
    if (!s || (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR))
        return WV_EINVAL;
    if (s->fd < 0)
        return WV_EBADF;
    return shutdown(s->fd, how) ? -errno : 0;
}

/* ---------------------------------------------------------------- I/O */

/* One send of a datagram or stream bytes, waiting for room; the bytes
 * sent, or an error. */
static ssize_t send_one(wv_sock_t *s, const void *buf, size_t len,
                        const wv_addr_t *to, int64_t deadline)
{
    const struct sockaddr *sa =
        to ? (const struct sockaddr *)&to->storage : NULL;
    socklen_t salen = to ? to->len : 0;
    for (;;) {
        ssize_t n = wv__sendto(s->fd, buf, len, MSG_NOSIGNAL, sa, salen);
        if (n != WV_EAGAIN)
            return n;
        int err = wv__sock_wait(s, POLLOUT, deadline);
        if (err)
            return err;
    }
}

int wv_sock_send(wv_sock_t *s, const void *buf, size_t len, size_t *sent,
                 int64_t deadline)
{
    if (!s || (!buf && len))
        return WV_EINVAL;
    if (s->fd < 0)
        return WV_EBADF;
    ssize_t n = send_one(s, buf, len, NULL, deadline);
    if (n < 0)
        return (int)n;
    if (sent)
        *sent = (size_t)n;
    return 0;
}

int wv_sock_sendall(wv_sock_t *s, const void *buf, size_t len, size_t *sent,
                    int64_t deadline)
{
    size_t done = 0;
    int err = 0;
    if (!s || (!buf && len))
        return WV_EINVAL;
    if (s->fd < 0)
        return WV_EBADF;
    do {
        ssize_t n =
            send_one(s, (const char *)buf + done, len - done, NULL, deadline);
        if (n < 0) {
            err = (int)n;
            break;
        }
        done += (size_t)n;
    } while (done < len);
    if (sent)
        *sent = done;
    return err;
}

int wv_sock_sendto(wv_sock_t *s, const void *buf, size_t len,
                   const wv_addr_t *to, int64_t deadline)
{
    if (!s || (!buf && len))
        return WV_EINVAL;
    if (s->fd < 0)
        return WV_EBADF;
    ssize_t n = send_one(s, buf, len, to, deadline);
    return n < 0 ? (int)n : 0;
}

/* A receive's result: WV_EOF for the end of a stream. */
static int received(const wv_sock_t *s, ssize_t n, size_t cap, size_t *got)
{
    if (n < 0)
        return (int)n;
    if (n == 0 && cap > 0 && s->type == SOCK_STREAM)
        return WV_EOF;
    *got = (size_t)n;
    return 0;
}

int wv_sock_recvfrom(wv_sock_t *s, void *buf, size_t cap, size_t *got,
                     wv_addr_t *from, int64_t deadline)
{
    if (!s || !got || (!buf && cap))
        return WV_EINVAL;
    if (s->fd < 0)
        return WV_EBADF;
    *got = 0;
    if (cap == 0 && s->type == SOCK_STREAM)
        return 0;
    for (;;) {
        struct sockaddr *sa = NULL;
        socklen_t len = 0;
        if (from) {
            memset(from, 0, sizeof *from);
            sa = (struct sockaddr *)&from->storage;
            len = sizeof from->storage;
        }
        ssize_t n = wv__recvfrom(s->fd, buf, cap, 0, sa, from ? &len : NULL);
        if (n != WV_EAGAIN) {
            if (from && n >= 0)
                from->len = len;
            return received(s, n, cap, got);
        }
        int err = wv__sock_wait(s, POLLIN, deadline);
        if (err)
            return err;
    }
}

int wv_sock_recv(wv_sock_t *s, void *buf, size_t cap, size_t *got,
                 int64_t deadline)
{
    return wv_sock_recvfrom(s, buf, cap, got, NULL, deadline);
}

/* ------------------------------------------------- descriptor passing */

int wv_sock_send_fds(wv_sock_t *s, const void *buf, size_t len, const int *fds,
                     size_t nfds, size_t *sent, int64_t deadline)
{
    if (!s || !buf || len == 0 || nfds > WV_SOCK_MAX_FDS || (nfds && !fds))
        return WV_EINVAL;
    if (s->fd < 0)
        return WV_EBADF;
    if (nfds == 0)
        return wv_sock_sendall(s, buf, len, sent, deadline);
    wv__fd_control_t ctl;
    struct iovec iov = {(void *)buf, len};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    wv__fds_attach(&m, &ctl, fds, nfds);
    ssize_t n;
    for (;;) { /* the first chunk carries the descriptors */
        n = wv__sendmsg(s->fd, &m, MSG_NOSIGNAL);
        if (n != WV_EAGAIN)
            break;
        int err = wv__sock_wait(s, POLLOUT, deadline);
        if (err) {
            n = err;
            break;
        }
    }
    if (n < 0) {
        if (sent)
            *sent = 0;
        return (int)n;
    }
    size_t more = 0;
    int err = wv_sock_sendall(s, (const char *)buf + n, len - (size_t)n, &more,
                              deadline);
    if (sent)
        *sent = (size_t)n + more;
    return err;
}

/* Takes the descriptors of m's control data into fds[0..*nfds): 0, or
 * WV_EMSGSIZE with every one closed if they did not all fit or the kernel
 * dropped some. */
static int take_fds(struct msghdr *m, int *fds, size_t *nfds)
{
    size_t room = *nfds, n = 0;
    bool lost = (m->msg_flags & MSG_CTRUNC) != 0;
    if (wv__fds_take(m, fds, &n, room))
        lost = true;
    *nfds = n;
    if (!lost)
        return 0;
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
    *nfds = 0;
    return WV_EMSGSIZE;
}

int wv_sock_recv_fds(wv_sock_t *s, void *buf, size_t cap, size_t *got, int *fds,
                     size_t *nfds, int64_t deadline)
{
    if (!s || !got || !nfds || (!buf && cap) || (!fds && *nfds))
        return WV_EINVAL;
    if (s->fd < 0)
        return WV_EBADF;
    *got = 0;
    wv__fd_control_t ctl;
    struct iovec iov = {buf, cap};
    for (;;) {
        struct msghdr m = {.msg_iov = &iov,
                           .msg_iovlen = 1,
                           .msg_control = ctl.buf,
                           .msg_controllen = sizeof ctl.buf};
        ssize_t n = wv__recvmsg(s->fd, &m, MSG_CMSG_CLOEXEC);
        if (n >= 0) {
            int err = take_fds(&m, fds, nfds);
            if (err) {
                *got = (size_t)n;
                return err;
            }
            if (*nfds) { /* bytes with descriptors are never the end */
                *got = (size_t)n;
                return 0;
            }
            return received(s, n, cap, got);
        }
        if (n != WV_EAGAIN) {
            *nfds = 0;
            return (int)n;
        }
        int err = wv__sock_wait(s, POLLIN, deadline);
        if (err) {
            *nfds = 0;
            return err;
        }
    }
}

/* ---------------------------------------------------------------- UDP */

int wv_udp_new(wv_sock_t **out, const wv_udp_opts_t *opts,
               const wv_addr_t *local, const wv_addr_t *remote)
{
    static const wv_udp_opts_t defaults;
    if (!out)
        return WV_EINVAL;
    if (!opts)
        opts = &defaults;
    int family = local          ? wv_addr_family(local)
                 : remote       ? wv_addr_family(remote)
                 : opts->family ? opts->family
                                : AF_INET;
    if (family == AF_UNSPEC ||
        (local && remote && wv_addr_family(remote) != family))
        return WV_EINVAL;
    int fd = wv__socket(family, SOCK_DGRAM), err = 0, on = 1;
    if (fd < 0)
        return fd;
    if (opts->broadcast &&
        setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &on, sizeof on))
        err = -errno;
    if (!err && local)
        err = bind_with(fd, local, opts->reuse, opts->reuse, false);
    /* A UDP connect only sets the default peer: it never waits. */
    if (!err && remote &&
        connect(fd, (const struct sockaddr *)&remote->storage, remote->len))
        err = -errno;
    if (!err)
        err = wv__sock_wrap(out, fd, family, SOCK_DGRAM);
    if (err)
        close(fd);
    return err;
}

/* MCAST_JOIN_GROUP / MCAST_LEAVE_GROUP: one call for IPv4 and IPv6. */
static int group_op(wv_sock_t *s, const wv_addr_t *group, unsigned ifindex,
                    int op)
{
    if (!s || !group)
        return WV_EINVAL;
    if (s->fd < 0)
        return WV_EBADF;
    int family = wv_addr_family(group);
    const struct sockaddr_in *in = (const void *)&group->storage;
    const struct sockaddr_in6 *in6 = (const void *)&group->storage;
    if (family != s->family ||
        (family == AF_INET && !IN_MULTICAST(ntohl(in->sin_addr.s_addr))) ||
        (family == AF_INET6 && !IN6_IS_ADDR_MULTICAST(&in6->sin6_addr)) ||
        (family != AF_INET && family != AF_INET6))
        return WV_EINVAL;
    struct group_req req = {.gr_interface = ifindex};
    memcpy(&req.gr_group, &group->storage, group->len);
    int level = family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
    return setsockopt(s->fd, level, op, &req, sizeof req) ? -errno : 0;
}

int wv_sock_join_group(wv_sock_t *s, const wv_addr_t *group, unsigned ifindex)
{
    return group_op(s, group, ifindex, MCAST_JOIN_GROUP);
}

int wv_sock_leave_group(wv_sock_t *s, const wv_addr_t *group, unsigned ifindex)
{
    return group_op(s, group, ifindex, MCAST_LEAVE_GROUP);
}

/* ------------------------------------------------------------ options */

int wv_sock_set_nodelay(wv_sock_t *s, bool on)
{
    return set_int(s, IPPROTO_TCP, TCP_NODELAY, on);
}

int wv_sock_set_keepalive(wv_sock_t *s, bool on, int idle_s, int interval_s,
                          int count)
{
    if (idle_s < 0 || interval_s < 0 || count < 0)
        return WV_EINVAL;
    int err = set_int(s, SOL_SOCKET, SO_KEEPALIVE, on);
    if (!err && on && idle_s)
        err = set_int(s, IPPROTO_TCP, TCP_KEEPIDLE, idle_s);
    if (!err && on && interval_s)
        err = set_int(s, IPPROTO_TCP, TCP_KEEPINTVL, interval_s);
    if (!err && on && count)
        err = set_int(s, IPPROTO_TCP, TCP_KEEPCNT, count);
    return err;
}

int wv_sock_set_reuseaddr(wv_sock_t *s, bool on)
{
    return set_int(s, SOL_SOCKET, SO_REUSEADDR, on);
}

int wv_sock_set_reuseport(wv_sock_t *s, bool on)
{
    return set_int(s, SOL_SOCKET, SO_REUSEPORT, on);
}

int wv_sock_set_sndbuf(wv_sock_t *s, int bytes)
{
    return bytes < 0 ? WV_EINVAL : set_int(s, SOL_SOCKET, SO_SNDBUF, bytes);
}

int wv_sock_set_rcvbuf(wv_sock_t *s, int bytes)
{
    return bytes < 0 ? WV_EINVAL : set_int(s, SOL_SOCKET, SO_RCVBUF, bytes);
}

int wv_sock_set_broadcast(wv_sock_t *s, bool on)
{
    return set_int(s, SOL_SOCKET, SO_BROADCAST, on);
}

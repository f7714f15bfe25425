/*
 * net/connect.c - stream connections: one address (wv_sock_connect), or
 * a host name's addresses raced RFC 8305's way (wv_tcp_connect, "Happy
 * Eyeballs", as asyncio's happy_eyeballs_delay and Python's
 * create_connection(all_errors) do it).
 *
 * The race (wv__connect_addrs) is one loop over a small set of pending
 * non-blocking connects, waited on together with wv__fds_wait (a
 * coroutine parks on its loop for all of them at once).  An attempt
 * starts when there is none pending, when one failed (RFC 8305 section
 * 5: do not wait out the delay after a failure), or `delay` after the
 * last one started.  The first socket that turns writable with SO_ERROR
 * 0 wins; every other pending one is closed before returning, so no
 * descriptor outlives the call on any path.
 *
 * Rejected: one coroutine per attempt.  It would need a scheduler on
 * plain threads, an allocation per attempt and cross-coroutine
 * cancellation, where one poll set does all of it.
 */
#include "internal.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_DELAY_MS 250
#define SMALL            8 /* attempts kept on the stack */

/* A Unix connect whose listener's backlog is full says EAGAIN and gives
 * nothing to wait on: retry it this often. */
#define UNIX_RETRY_MS 5

/*
 * Starts connecting a new socket to a: 0 (connected at once) or
 * WV_EINPROGRESS, with *fd; or an error, with nothing left open.
 */
static int start(const wv_addr_t *a, const wv_addr_t *local, int *fd)
{
    int family = wv_addr_family(a);
    int s = wv__socket(family, SOCK_STREAM), err = 0;
    if (s < 0)
        return s;
    if (local && bind(s, (const struct sockaddr *)&local->storage, local->len))
        err = -errno;
    if (!err)
        err = wv__connect(s, (const struct sockaddr *)&a->storage, a->len);
    if (err && err != WV_EINPROGRESS) {
        close(s);
        return err;
    }
    wv__sock_nodelay(s, family);
    *fd = s;
    return err;
}

/* A pending connect that polled ready: 0 (connected) or its error. */
static int finished(int fd)
{
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len))
        return -errno;
    return -soerr;
}

/* Waits for the one pending connect fd: 0, or its error with fd
 * closed. */
static int wait_one(int fd, int64_t deadline)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int err = wv__fds_wait(&p, 1, deadline);
    if (!err)
        err = finished(fd);
    if (err)
        close(fd);
    return err;
}

/* Unix sockets: connect, retrying a full backlog (EAGAIN) until the
 * deadline. */
static int connect_unix(const wv_addr_t *a, const wv_addr_t *local,
                        int64_t deadline, int *fd)
{
    for (;;) {
        int err = start(a, local, fd);
        if (err == WV_EINPROGRESS) /* not Linux's way, but allowed */
            return wait_one(*fd, deadline);
        if (err != WV_EAGAIN)
            return err;
        if ((err = wv__would_wait(deadline)))
            return err;
        int64_t now = wv_now();
        if (deadline > 0 && now >= deadline)
            return WV_ETIMEDOUT;
        int64_t nap = now + UNIX_RETRY_MS;
        if ((err = wv_sleep_until(deadline > 0 && deadline < nap ? deadline
                                                                 : nap)))
            return err;
    }
}

/* When the wait for pending attempts ends: the overall deadline, or the
 * start of the next attempt if that comes first. */
static int64_t wait_until(int64_t deadline, bool more, int64_t next_at)
{
    if (!more || deadline == 0)
        return deadline;
    return deadline < 0 || next_at < deadline ? next_at : deadline;
}

/*
 * Looks at the pending attempts p[0..*n) that polled ready: the winner's
 * descriptor (removed from p), or -1 with the failed ones closed and
 * removed, *last set to the latest failure.
 */
static int reap(struct pollfd *p, size_t *n, int *last)
{
    for (size_t i = 0; i < *n;) {
        if (!p[i].revents) {
            i++;
            continue;
        }
        int fd = p[i].fd, err = finished(fd);
        if (err == WV_EINPROGRESS || err == WV_EALREADY) { /* not yet */
            i++;
            continue;
        }
        p[i] = p[--*n];
        if (!err)
            return fd;
        close(fd);
        *last = err;
    }
    return -1;
}

int wv__connect_addrs(const wv_addr_t *addrs, size_t n, const wv_addr_t *local,
                      int64_t delay_ms, int64_t deadline, int *fd)
{
    if (n == 0)
        return WV_EAI_NONAME;
    if (n == 1 && wv_addr_family(&addrs[0]) == AF_UNIX)
        return connect_unix(&addrs[0], local, deadline, fd);
    struct pollfd small[SMALL], *p = small;
    if (n > SMALL && !(p = wv__malloc(n * sizeof *p)))
        return WV_ENOMEM;
    size_t next = 0, npend = 0;
    int64_t next_at = 0;
    int err = 0, last = WV_ECONNREFUSED, won = -1;
    for (;;) {
        if (next > 0 && deadline > 0 && wv_now() >= deadline) {
            err = WV_ETIMEDOUT;
            break;
        }
        if (next < n && (npend == 0 || wv_now() >= next_at)) {
            int s = -1;
            err = start(&addrs[next++], local, &s);
            if (!err) {
                won = s;
                break;
            }
            if (err == WV_EINPROGRESS) {
                p[npend++] = (struct pollfd){.fd = s, .events = POLLOUT};
                next_at = wv_now() + delay_ms;
            } else {
                last = err;
            }
            continue;
        }
        if (npend == 0) { /* every address tried and failed */
            err = last;
            break;
        }
        int64_t until = wait_until(deadline, next < n, next_at);
        err = wv__fds_wait(p, npend, until);
        if (err == WV_ETIMEDOUT && until != deadline)
            continue; /* time to start the next attempt */
        if (err)
            break;
        size_t before = npend;
        if ((won = reap(p, &npend, &last)) >= 0)
            break;
        if (npend < before)
            next_at = 0; /* a failure starts the next one at once */
    }
    for (size_t i = 0; i < npend; i++)
        close(p[i].fd);
    if (p != small)
        wv__free(p);
    if (won < 0)
        return err;
    *fd = won;
    return 0;
}

int wv_sock_connect(wv_sock_t **out, const wv_connect_opts_t *opts,
                    const wv_addr_t *addr, int64_t deadline)
{
    if (!out || !addr || wv_addr_family(addr) == AF_UNSPEC)
        return WV_EINVAL;
    int fd, err = wv__connect_addrs(addr, 1, opts ? opts->local : NULL,
                                    DEFAULT_DELAY_MS, deadline, &fd);
    if (err)
        return err;
    if ((err = wv__sock_wrap(out, fd, wv_addr_family(addr), SOCK_STREAM)))
        close(fd);
    return err;
}

/* The addresses of ai in RFC 8305's order (section 4): the families
 * interleaved, the first address's family first, each in its own order.
 * A new array of *n entries, or NULL (no memory). */
static wv_addr_t *interleave(const wv_addrinfo_t *ai, size_t *n)
{
    size_t count = 0;
    for (const wv_addrinfo_t *a = ai; a; a = a->next)
        count++;
    wv_addr_t *out = wv__malloc((count ? count : 1) * sizeof *out);
    if (!out)
        return NULL;
    int first = ai ? ai->family : AF_UNSPEC;
    const wv_addrinfo_t *x = ai, *y = ai; /* next of each kind */
    size_t k = 0;
    for (bool want_first = true; k < count; want_first = !want_first) {
        const wv_addrinfo_t **cur = want_first ? &x : &y;
        while (*cur && ((*cur)->family == first) != want_first)
            *cur = (*cur)->next;
        if (*cur) {
            out[k++] = (*cur)->addr;
            *cur = (*cur)->next;
        }
    }
    *n = count;
    return out;
}

int wv_tcp_connect(wv_sock_t **out, const wv_connect_opts_t *opts,
                   const char *host, uint16_t port, int64_t deadline)
{
    static const wv_connect_opts_t defaults;
    if (!out || !host)
        return WV_EINVAL;
    if (!opts)
        opts = &defaults;
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    struct addrinfo hints = {.ai_family = opts->family,
                             .ai_socktype = SOCK_STREAM,
                             .ai_protocol = IPPROTO_TCP};
    wv_addrinfo_t *ai;
    int err = wv_getaddrinfo(&ai, &hints, host, service, deadline);
    if (err)
        return err;
    size_t n;
    wv_addr_t *addrs = interleave(ai, &n);
    wv_addrinfo_free(ai);
    if (!addrs)
        return WV_ENOMEM;
    int64_t delay =
        opts->attempt_delay_ms > 0 ? opts->attempt_delay_ms : DEFAULT_DELAY_MS;
    int fd;
    err = wv__connect_addrs(addrs, n, opts->local, delay, deadline, &fd);
    wv__free(addrs);
    if (err)
        return err;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int family = getsockname(fd, (struct sockaddr *)&ss, &len) == 0
                     ? ss.ss_family
                     : AF_INET;
    if ((err = wv__sock_wrap(out, fd, family, SOCK_STREAM)))
        close(fd);
    return err;
}

/*
 * core/io_linux.c - the EINTR retry loops of weave's descriptor and child
 * system calls, in one place (core/io.h says why).
 *
 * Each helper is one loop: make the call, return its result, or -errno
 * for any error but EINTR, which is retried at once.  A retried call with
 * a relative timeout would stretch it: poll counts from an absolute
 * deadline instead, and epoll_wait and sigtimedwait are only used with
 * no timeout or a zero one.  The test hook injects EINTR before
 * the real call, so that the retry path runs without a signal.
 */
#include "io.h"

#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/sendfile.h>
#include <unistd.h>

static uint32_t fault_eintr; /* wv__fault_io_eintr budget */

void wv__fault_io_eintr(uint32_t n)
{
    __atomic_store_n(&fault_eintr, n, __ATOMIC_RELAXED);
}

/* true (once per budget unit) when the call should meet an EINTR. */
static bool take_fault(void)
{
    uint32_t n = __atomic_load_n(&fault_eintr, __ATOMIC_RELAXED);
    while (WV__UNLIKELY(n > 0)) {
        if (__atomic_compare_exchange_n(&fault_eintr, &n, n - 1, false,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return true;
    }
    return false;
}

/* Evaluates `call` (a system call returning -1 and errno on failure) until
 * it does not fail with EINTR; the result, or -errno. */
#define RETRY_EINTR(type, call)                                                \
    do {                                                                       \
        for (;;) {                                                             \
            if (take_fault())                                                  \
                continue;                                                      \
            type r_ = (call);                                                  \
            if (r_ >= 0)                                                       \
                return r_;                                                     \
            if (errno != EINTR)                                                \
                return (type)-errno;                                           \
        }                                                                      \
    } while (0)

ssize_t wv__read(int fd, void *buf, size_t len)
{
    RETRY_EINTR(ssize_t, read(fd, buf, len));
}

ssize_t wv__write(int fd, const void *buf, size_t len)
{
    RETRY_EINTR(ssize_t, write(fd, buf, len));
}

ssize_t wv__writev(int fd, const struct iovec *iov, int niov)
{
    RETRY_EINTR(ssize_t, writev(fd, iov, niov));
}

ssize_t wv__vmsplice(int fd, const struct iovec *iov, int niov, unsigned flags)
{
    RETRY_EINTR(ssize_t, vmsplice(fd, iov, (size_t)niov, flags));
}

ssize_t wv__recvmsg(int fd, struct msghdr *m, int flags)
{
    RETRY_EINTR(ssize_t, recvmsg(fd, m, flags));
}

ssize_t wv__sendmsg(int fd, const struct msghdr *m, int flags)
{
    RETRY_EINTR(ssize_t, sendmsg(fd, m, flags));
}

int wv__accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    RETRY_EINTR(int, accept4(fd, addr, len, flags));
}

ssize_t wv__sendto(int fd, const void *buf, size_t len, int flags,
                   const struct sockaddr *to, socklen_t tolen)
{
    RETRY_EINTR(ssize_t, sendto(fd, buf, len, flags, to, tolen));
}

ssize_t wv__recvfrom(int fd, void *buf, size_t len, int flags,
                     struct sockaddr *from, socklen_t *fromlen)
{
    RETRY_EINTR(ssize_t, recvfrom(fd, buf, len, flags, from, fromlen));
}

int wv__connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    if (connect(fd, addr, len) == 0)
        return 0;
    return errno == EINTR ? -EINPROGRESS : -errno;
}

ssize_t wv__sendfile(int out, int in, off_t *offset, size_t count)
{
    RETRY_EINTR(ssize_t, sendfile(out, in, offset, count));
}

ssize_t wv__splice(int in, int out, size_t len, unsigned flags)
{
    RETRY_EINTR(ssize_t, splice(in, NULL, out, NULL, len, flags));
}

ssize_t wv__pread(int fd, void *buf, size_t len, off_t offset)
{
    RETRY_EINTR(ssize_t, pread(fd, buf, len, offset));
}

int wv__flock(int fd, int op)
{
    RETRY_EINTR(int, flock(fd, op));
}

int wv__waitid(idtype_t type, id_t id, siginfo_t *info, int options)
{
    RETRY_EINTR(int, waitid(type, id, info, options));
}

pid_t wv__waitpid(pid_t pid, int *status, int options)
{
    RETRY_EINTR(pid_t, waitpid(pid, status, options));
}

int wv__epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
    RETRY_EINTR(int, epoll_wait(epfd, evs, max, timeout));
}

int wv__sigtimedwait(const sigset_t *set, siginfo_t *info,
                     const struct timespec *timeout)
{
    RETRY_EINTR(int, sigtimedwait(set, info, timeout));
}

int wv__poll(struct pollfd *fds, nfds_t n, int64_t deadline)
{
    for (;;) {
        if (take_fault())
            continue; /* as if poll had met a signal */
        int timeout = wv__deadline_timeout_ms(deadline);
        int ready = poll(fds, n, timeout);
        if (ready > 0)
            return ready;
        if (ready < 0 && errno != EINTR)
            return -errno;
        if (ready == 0 && timeout == 0)
            return 0;
        /* EINTR, or poll's millisecond rounded short: look again. */
    }
}

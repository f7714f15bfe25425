/*
 * core/io.h - system calls on descriptors and children that retry EINTR,
 * in one place (core/io_linux.c).
 *
 * weave never installs a signal handler, but its callers may, without
 * SA_RESTART: any slow system call can then fail with EINTR.  Every such
 * call in weave goes through these helpers (or through the futex helper,
 * core/futex_linux.c, for waits on state words), which retry it and
 * return what the call returns, or -errno (never EINTR).  No helper sets
 * a policy beyond that: EAGAIN, short transfers and the end of a stream
 * are the caller's.  Kept apart from core/internal.h so that the system
 * headers their types need are included only by the files that use them.
 */
#ifndef WV_CORE_IO_H
#define WV_CORE_IO_H

#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>

/* read(2), write(2), writev(2): bytes transferred (0: the end, for
 * reads), or -errno. */
ssize_t wv__read(int fd, void *buf, size_t len);
ssize_t wv__write(int fd, const void *buf, size_t len);
ssize_t wv__writev(int fd, const struct iovec *iov, int niov);
/* vmsplice(2) of iov into the pipe fd: bytes moved, or -errno. */
ssize_t wv__vmsplice(int fd, const struct iovec *iov, int niov, unsigned flags);
/* recvmsg(2), sendmsg(2): bytes, or -errno. */
ssize_t wv__recvmsg(int fd, struct msghdr *m, int flags);
ssize_t wv__sendmsg(int fd, const struct msghdr *m, int flags);

/* accept4(2): the new descriptor, or -errno.  sendto(2), recvfrom(2):
 * bytes, or -errno. */
int wv__accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
ssize_t wv__sendto(int fd, const void *buf, size_t len, int flags,
                   const struct sockaddr *to, socklen_t tolen);
ssize_t wv__recvfrom(int fd, void *buf, size_t len, int flags,
                     struct sockaddr *from, socklen_t *fromlen);
/* connect(2): 0 or -errno.  An interrupted connect goes on in the
 * background (a retry would say EALREADY), so EINTR is returned as
 * -EINPROGRESS: wait for writability and read SO_ERROR, as for a
 * non-blocking connect. */
int wv__connect(int fd, const struct sockaddr *addr, socklen_t len);
/* sendfile(2), splice(2): bytes moved, or -errno. */
ssize_t wv__sendfile(int out, int in, off_t *offset, size_t count);
ssize_t wv__splice(int in, int out, size_t len, unsigned flags);
/* pread(2): bytes (0: the end), or -errno. */
ssize_t wv__pread(int fd, void *buf, size_t len, off_t offset);

/* flock(2): 0 or -errno. */
int wv__flock(int fd, int op);

/* waitid(2): 0 or -errno.  waitpid(2): the pid (0 with WNOHANG and no
 * change), or -errno. */
int wv__waitid(idtype_t type, id_t id, siginfo_t *info, int options);
pid_t wv__waitpid(pid_t pid, int *status, int options);

/*
 * poll(2) until `deadline` (absolute wv_now() milliseconds, WV_FOREVER
 * or 0): the number of ready entries, 0 once the deadline has passed (at
 * once for 0), or -errno.  EINTR and a wake-up before the deadline (poll
 * rounds to milliseconds) poll again with the time left recomputed from
 * the absolute deadline, so neither stretches it.
 */
int wv__poll(struct pollfd *fds, nfds_t n, int64_t deadline);

/* epoll_wait(2) with the same timeout on each retry: meant for -1 or 0.
 * The number of events, or -errno. */
struct epoll_event;
int wv__epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout);

/* sigtimedwait(2) with the same (relative) timeout on each retry: meant
 * for a zero timeout (taking a pending signal).  The signal number, or
 * -errno. */
int wv__sigtimedwait(const sigset_t *set, siginfo_t *info,
                     const struct timespec *timeout);

/* Test hook: the next n calls of these helpers each meet one injected
 * EINTR (the system call is not made) before the real call. */
void wv__fault_io_eintr(uint32_t n);

#endif /* WV_CORE_IO_H */

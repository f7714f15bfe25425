/*
 * net/sendfile_linux.c - wv_sock_sendfile: a file's bytes into a stream
 * socket without copying them through user space.
 *
 * sendfile(2) first.  Where it refuses the source (EINVAL, ENOSYS,
 * ESPIPE, EOPNOTSUPP: a pipe, a socket, a file system without splice
 * support), the bytes are moved another way, chosen once: splice(2)
 * from a pipe straight into the socket, read(2)/pread(2) and send for
 * anything else.  Every way waits for the socket (and, for splice and
 * read, for the source) with the caller's one deadline, and counts what
 * went into *sent.
 *
 * Neither sendfile nor splice takes MSG_NOSIGNAL: a socket whose peer
 * went away raises SIGPIPE (the kernel's splice_to_socket and
 * sock_sendpage pass no such flag).  Each call is therefore made with
 * SIGPIPE blocked and the signal it raised taken back
 * (wv__sigpipe_hold/release, as the Pipe's writes do), so the caller sees
 * WV_EPIPE and nothing else.
 */
#include "internal.h"

#include "../ipc/internal.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK    ((size_t)1 << 30) /* most bytes asked of one call */
#define COPY_BUF 16384             /* read/send fallback's buffer */

enum way { BY_SENDFILE, BY_SPLICE, BY_COPY };

/* sendfile or splice with SIGPIPE held back: bytes or an error. */
static ssize_t move(enum way way, int sock, int file, off_t *offset, size_t len)
{
    wv__sigpipe_t guard;
    wv__sigpipe_hold(&guard);
    ssize_t n =
        way == BY_SENDFILE
            ? wv__sendfile(sock, file, offset, len)
            : wv__splice(file, sock, len, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
    wv__sigpipe_release(&guard, n < 0 ? (int)n : 0);
    return n;
}

static bool refused(ssize_t n)
{
    return n == WV_EINVAL || n == WV_ENOSYS || n == WV_ESPIPE ||
           n == WV_ENOTSUP;
}

/* The way to go once sendfile refused `file`. */
static enum way fallback(int file, int64_t offset)
{
    struct stat st;
    if (offset < 0 && fstat(file, &st) == 0 && S_ISFIFO(st.st_mode))
        return BY_SPLICE;
    return BY_COPY;
}

/* splice met EAGAIN: the pipe is empty or the socket full.  Waits for
 * whichever it was. */
static int splice_wait(const wv_sock_t *s, int file, int64_t deadline)
{
    int queued = 0;
    if (ioctl(file, FIONREAD, &queued) == 0 && queued > 0)
        return wv__sock_wait(s, POLLOUT, deadline);
    int err = wv__would_wait(deadline);
    return err ? err : wv__fd_wait(file, POLLIN, deadline, NULL);
}

/* One read of up to len bytes of file (at *offset, advancing it, when
 * offset is given), waiting for a non-blocking source: bytes, 0 at the
 * end, or an error. */
static ssize_t read_some(int file, void *buf, size_t len, off_t *offset,
                         int64_t deadline)
{
    for (;;) {
        ssize_t n = offset ? wv__pread(file, buf, len, *offset)
                           : wv__read(file, buf, len);
        if (n > 0 && offset)
            *offset += n;
        if (n != WV_EAGAIN)
            return n;
        int err = wv__would_wait(deadline);
        if (err || (err = wv__fd_wait(file, POLLIN, deadline, NULL)))
            return err;
    }
}

/* The read-and-send way for the rest of the count. */
static int copy(wv_sock_t *s, int file, off_t *offset, size_t count,
                size_t *done, int64_t deadline)
{
    char buf[COPY_BUF];
    while (*done < count) {
        size_t want = count - *done < sizeof buf ? count - *done : sizeof buf;
        ssize_t n = read_some(file, buf, want, offset, deadline);
        if (n <= 0)
            return n == 0 ? WV_EOF : (int)n;
        size_t went = 0;
        int err = wv_sock_sendall(s, buf, (size_t)n, &went, deadline);
        *done += went;
        if (err)
            return err;
    }
    return 0;
}

int wv_sock_sendfile(wv_sock_t *s, int file_fd, int64_t offset, size_t count,
                     size_t *sent, int64_t deadline)
{
    size_t done = 0;
    int err = 0;
    if (!s)
        return WV_EINVAL;
    if (s->fd < 0 || file_fd < 0)
        return WV_EBADF;
    off_t off = (off_t)offset;
    off_t *offp = offset >= 0 ? &off : NULL;
    enum way way = BY_SENDFILE;
    while (done < count && !err) {
        if (way == BY_COPY) {
            err = copy(s, file_fd, offp, count, &done, deadline);
            break;
        }
        size_t want = count - done < CHUNK ? count - done : CHUNK;
        ssize_t n = move(way, s->fd, file_fd, offp, want);
        if (n > 0) {
            done += (size_t)n;
        } else if (n == 0) {
            err = WV_EOF;
        } else if (way == BY_SENDFILE && done == 0 && refused(n)) {
            way = fallback(file_fd, offset);
        } else if (n == WV_EAGAIN) {
            err = way == BY_SPLICE ? splice_wait(s, file_fd, deadline)
                                   : wv__sock_wait(s, POLLOUT, deadline);
        } else {
            err = (int)n;
        }
    }
    if (sent)
        *sent = done;
    return err;
}

/*
 * net/transport.h - the byte transport under a wv_stream_t.
 *
 * A stream (net/stream.c) owns its buffers, its limits, its deadlines
 * and its waiting; a transport only moves bytes, never waits, and says
 * what it would need to go on.  Plain descriptors are the first
 * transport (net/transport_fd.c); TLS is meant to be the second, and
 * plugs in under the very same stream API:
 *
 *   - read / writev move what they can at once: bytes (> 0), 0 for the
 *     end (read), or WV_EAGAIN with *want set to the poll events that
 *     must come first.  A plain descriptor always wants POLLIN to read
 *     and POLLOUT to write; OpenSSL's SSL_read can answer WANT_WRITE
 *     (and SSL_write WANT_READ) during a renegotiation or key update:
 *     its transport returns WV_EAGAIN with *want = POLLOUT from a read,
 *     and the stream waits for that before calling read again.
 *   - wait parks the caller (a thread polls, a coroutine parks alone)
 *     until `want` or the deadline: for both transports, wv__fd_wait on
 *     t->fd.  A memory transport (the fuzz target's) never waits.
 *   - shutdown ends the writing direction: shutdown(SHUT_WR) for a
 *     socket, close for a pipe, SSL_shutdown (close_notify) then
 *     shutdown(SHUT_WR) for TLS, which may itself want to wait (WV_EAGAIN
 *     and *want: the stream waits and calls it again).
 *   - close releases everything at once, without waiting: the
 *     descriptor (unless borrowed) and the transport's own memory.
 *
 * A TLS transport's handshake belongs to its constructor (it may wait,
 * with a deadline, using the same want/wait loop), not to the stream.
 * Bytes a TLS object holds decrypted are returned by its read without
 * waiting, so the stream needs no SSL_pending check.
 *
 * Threads: the stream calls read and writev from at most one reader and
 * one writer at a time, possibly at once.  The fd transport shares
 * nothing between them; a TLS transport (one SSL object for both
 * directions) must take a lock of its own around SSL_read / SSL_write,
 * never held across a wait.
 *
 * Errors from read and writev are WV_E* codes (-errno): WV_ECONNRESET and
 * WV_EPIPE in particular pass to the stream's caller as they are, and
 * SIGPIPE must never be raised.  A transport's TLS-level failure (a bad
 * record) is WV_EPROTO; a certificate that failed verification, WV_ECERT.
 */
#ifndef WV_NET_TRANSPORT_H
#define WV_NET_TRANSPORT_H

#include "weave/stream.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct iovec;
typedef struct wv__transport wv__transport_t;

typedef struct wv__transport_ops {
    /* Reads up to len (> 0) bytes into buf, without waiting: bytes, 0 at
     * the end, WV_EAGAIN with *want, or another WV_E* code. */
    ssize_t (*read)(wv__transport_t *t, void *buf, size_t len, short *want);
    /* Writes iov[0..niov) (niov >= 1, not all empty), without waiting:
     * bytes written (> 0), WV_EAGAIN with *want, or another WV_E*. */
    ssize_t (*writev)(wv__transport_t *t, const struct iovec *iov, int niov,
                      short *want);
    /* Waits until `want` (POLLIN, POLLOUT) or the deadline, after read,
     * writev, flush or shutdown said WV_EAGAIN with `want` on this thread
     * (the wait is for the next edge: wv__fd_wait_again), with the
     * contract of wv_fdwait: 0, WV_ETIMEDOUT, WV_EAGAIN (deadline 0),
     * WV_ECANCELED, WV_EINVAL (bad deadline), WV_ENOMEM... */
    int (*wait)(wv__transport_t *t, short want, int64_t deadline);
    /* Optional: read, or writev, waiting until something moved or the
     * deadline, when the caller's loop carries out the I/O itself
     * (wv__fd_io): bytes (> 0), 0 at the end (read), WV_ETIMEDOUT,
     * WV_ECANCELED, or another WV_E*; WV_ENOSYS: not here, use read or
     * writev and wait. */
    ssize_t (*read_wait)(wv__transport_t *t, void *buf, size_t len,
                         int64_t deadline);
    ssize_t (*writev_wait)(wv__transport_t *t, const struct iovec *iov,
                           int niov, int64_t deadline);
    /* Optional: the writev of iov, then a read into buf, as one
     * submission where that can be done (wv__fd_send_recv, whose
     * contract this is); WV_ENOSYS: not here, write then read.  Not for
     * a transport that holds bytes of its own (flush). */
    ssize_t (*writev_read_wait)(wv__transport_t *t, const struct iovec *iov,
                                int niov, ssize_t *sent, void *buf, size_t len,
                                int64_t deadline);
    /* Ends the writing direction without waiting: 0, WV_EAGAIN with
     * *want (call again after waiting), WV_ENOTSUP (it cannot be done:
     * a borrowed pipe), or another WV_E*. */
    int (*shutdown)(wv__transport_t *t, short *want);
    /* Releases the descriptor (closes it unless borrowed) and frees t.
     * Never fails, never waits. */
    void (*close)(wv__transport_t *t);
    /* May be NULL (nothing of its own is ever held).  Writes out bytes
     * the transport itself holds (TLS: records already encrypted for
     * bytes writev reported written), without waiting: 0 once none are
     * left, WV_EAGAIN with *want, or another WV_E*.  The stream calls it
     * after its own buffer is empty, wherever it promises the bytes
     * reached the descriptor (drain, write_eof, close). */
    int (*flush)(wv__transport_t *t, short *want);
} wv__transport_ops_t;

/* The head of every transport, which extends it. */
struct wv__transport {
    const wv__transport_ops_t *ops;
    int fd;       /* the descriptor it moves bytes through; -1 if none */
    uint64_t reg; /* fd's loop registration (wv__fd_wait_again) */
};

/*
 * The plain descriptor transport over fd (net/transport_fd.c): sets
 * O_NONBLOCK, tells a socket (send with MSG_NOSIGNAL, shutdown) from
 * anything else (writev with SIGPIPE blocked, close), and closes fd at
 * close unless `borrow`, when it gives back fd's original status flags.
 * 0 with *out, WV_EBADF (fd not open), WV_EINVAL (a socket that is no
 * SOCK_STREAM), another -errno of fcntl, WV_ENOMEM; on error fd is left
 * as it was.
 */
int wv__transport_fd_new(wv__transport_t **out, int fd, bool borrow);

/* Frees a transport of wv__transport_fd_new that no stream took, leaving
 * its fd open with its original flags: fd "left as it was". */
void wv__transport_fd_abandon(wv__transport_t *t);

/*
 * A stream over any transport; the stream owns t from a successful
 * return on (its close and free call t->ops->close).  On error t is left
 * to the caller.  The options as wv_stream_new's (borrow_fd aside: the
 * transport's business).  Errors: WV_EINVAL, WV_ENOMEM.
 */
int wv__stream_new(wv_stream_t **out, const wv_stream_opts_t *opts,
                   wv__transport_t *t);

/* The transport under s; NULL once s was closed. */
wv__transport_t *wv__stream_transport(const wv_stream_t *s);

#endif /* WV_NET_TRANSPORT_H */

/*
 * weave/stream.h - buffered byte streams: asyncio's StreamReader and
 * StreamWriter over a socket or pipe descriptor.
 *
 *     wv_stream_t *s;
 *     wv_stream_new(&s, NULL, fd);              // s owns fd from now on
 *     int64_t d = wv_deadline_in(5000);
 *     wv_stream_write(s, "PING\r\n", 6, NULL, d);
 *     wv_stream_drain(s, d);                    // pushed to the peer
 *     char line[256];
 *     size_t n;
 *     int err = wv_stream_read_until(s, "\r\n", 2, line, sizeof line,
 *                                    &n, d);   // "PONG\r\n", n == 6
 *     wv_stream_free(s);
 *
 * A stream has a read buffer and a write buffer of its own.  Reads take
 * from the read buffer and refill it from the descriptor; writes are
 * copied into the write buffer and reach the descriptor (many small
 * writes in one writev) when it passes the high-water mark, or at
 * wv_stream_drain, wv_stream_write_eof or wv_stream_close.  Python's
 * asyncio sends in the background; a C stream has no background, so
 * bytes written stay in the stream until one of those calls: a protocol
 * that writes a request, then reads the answer, drains in between.
 *
 * Waiting: the descriptor is switched to non-blocking mode, and every
 * wait goes through wv_fdwait (weave/coro.h) with the caller's deadline:
 * from a plain thread the thread waits; from a coroutine (or the own code
 * of a thread with a scheduler) only the caller waits and its thread runs
 * the others.  Deadlines as everywhere (weave/core.h).
 *
 * The end and errors of the peer, on every read call:
 *     WV_EOF          the peer closed its end (or shut down its writing)
 *                     and every byte it sent has been read: nothing more
 *                     will come (asyncio: b"" from read, at_eof())
 *     WV_ECONNRESET   the peer reset the connection (a TCP RST: it closed
 *                     with unread data, or with SO_LINGER 0); bytes
 *                     buffered before it are still read first
 * and on every call that writes:
 *     WV_EPIPE        the peer is gone (closed its reading end or the
 *                     connection); never a SIGPIPE
 *     WV_ECONNRESET   the peer reset the connection
 * Both are sticky: once the descriptor said so, later calls of that
 * direction say it again (after the read buffer is empty, for reads).
 *
 * Threads: one party reading and one writing at a time may use a stream
 * at once (the two directions share nothing but the descriptor); two
 * readers or two writers need a lock of the caller's.  wv_stream_close
 * and wv_stream_free must not run beside any other call.
 *
 * Memory: the buffers are allocated on first use (16 KiB to read, 4 KiB
 * to write) and grow by doubling, bounded: the read buffer to the
 * read_until limit rounded up to a power of two (or to the n of a
 * read_exactly: the caller's choice), the write buffer to the high-water
 * mark (likewise rounded).  On the steady path no call allocates.  A call whose
 * allocation fails returns WV_ENOMEM and has consumed and accepted nothing.
 */
#ifndef WEAVE_STREAM_H
#define WEAVE_STREAM_H

#include "weave/core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wv_stream wv_stream_t;

/* The limit of read_until (readline...) when the options say 0: 64 KiB,
 * asyncio's default. */
#define WV_STREAM_LIMIT (64 * 1024)
/* The write buffer's high-water mark when the options say 0: 64 KiB, as
 * asyncio; the low-water mark is then a quarter of the high one. */
#define WV_STREAM_HIGH_WATER (64 * 1024)

/* Options of wv_stream_new; a zeroed struct (or NULL) gives the defaults. */
typedef struct wv_stream_opts {
    /* The caller keeps the descriptor: the stream never closes it (but
     * shuts it down with wv_stream_write_eof, for a socket), and
     * wv_stream_free gives back its original file status flags (blocking
     * mode).  Default (false): the stream owns it and closes it at
     * wv_stream_close or wv_stream_free. */
    bool borrow_fd;
    /* The most bytes read_until and readline look through for their
     * delimiter, delimiter included (asyncio's limit); 0: WV_STREAM_LIMIT.
     * The read buffer never grows past it because of a peer. */
    size_t limit;
    /* Back-pressure (asyncio's set_write_buffer_limits).  A write that
     * would take the write buffer past high_water first writes to the
     * descriptor, waiting as needed, until the buffer holds at most
     * low_water bytes.  0: WV_STREAM_HIGH_WATER, and low_water 0 then
     * means high_water / 4.  low_water must not exceed high_water. */
    size_t high_water;
    size_t low_water;
    /* A read that finds nothing in the read buffer first writes out
     * every pending byte, as if wv_stream_drain had been called with the
     * read's deadline (an error of that write is the read's, and stays
     * the stream's write error).  A request/response peer then writes its
     * message and reads the answer without a drain of its own, and where
     * io_uring is the chosen backend (wv_loop_backend) the write and the
     * read of a TCP or Unix socket go to the kernel as one submission,
     * the read linked to start once every byte is sent: one system call
     * per exchange where the readiness path makes three (send, poll,
     * recv).  A coroutine's pair goes through its thread's loop; a plain
     * thread's through a small io_uring of the stream's own, made at its
     * first such read (one more descriptor, close-on-exec, freed with the
     * stream).  Elsewhere (epoll, TLS, a pipe, deadline 0, no memory for
     * the ring) it is the drain, then the read.  Default (false): reads
     * never write. */
    bool flush_on_read;
} wv_stream_opts_t;

/*
 * Makes a stream over fd, a connected stream socket (TCP, Unix) or
 * either end of a pipe (or a FIFO, a terminal...), and sets O_NONBLOCK
 * on it (on the open file description: every descriptor duplicated from
 * it sees the change).  With the default options the stream owns fd from
 * a successful return on; when the call fails fd is left as it was
 * (flags included), the caller's to close.  Free with wv_stream_free.
 * Errors: WV_EINVAL (out NULL, low_water > high_water, a socket that is
 * no stream socket: a datagram's or seqpacket's boundaries, and the bytes
 * past a short read's end, would be lost), WV_EBADF (fd negative or not
 * open), another -errno of fcntl(2), WV_ENOMEM.
 */
WV_EXTERN int wv_stream_new(wv_stream_t **out, const wv_stream_opts_t *opts,
                            int fd);

/*
 * Closes the stream if needed and frees it.  Unlike wv_stream_close it
 * does not wait: bytes still in the write buffer are written only if the
 * descriptor takes them at once, the rest is dropped.  A borrowed
 * descriptor is left open, in its original blocking mode.  NULL: no-op.
 */
WV_EXTERN void wv_stream_free(wv_stream_t *s);

/* ------------------------------------------------------------- reading */

/* With wv_stream_opts_t.flush_on_read, every read below that finds
 * nothing buffered writes out the pending bytes first: it can then also
 * fail as wv_stream_drain does (WV_EPIPE, WV_ECONNRESET, WV_ETIMEDOUT
 * with the bytes not yet written still pending, ...). */

/*
 * Reads up to cap bytes into buf: what the read buffer holds, or else
 * what one read of the descriptor brings (asyncio's read(n)), waiting
 * only while nothing is there.  0 with *len > 0 (0 only when cap is 0).
 * Errors: WV_EOF (*len 0: the end, everything was read), WV_ECONNRESET,
 * WV_ETIMEDOUT, WV_EAGAIN (deadline 0, nothing there), WV_ECANCELED (a
 * cancelled coroutine), WV_EBADF (the stream was closed), WV_EINVAL (s,
 * len NULL, or buf NULL with cap > 0), another -errno of read(2).
 * *len is 0 on every error.
 */
WV_EXTERN int wv_stream_read(wv_stream_t *s, void *buf, size_t cap, size_t *len,
                             int64_t deadline);

/*
 * Reads exactly n bytes into buf (asyncio's readexactly): 0 and *len ==
 * n once they are all there.  WV_EOF when the end comes first: the bytes
 * that came, fewer than n, are then in buf and *len says how many
 * (IncompleteReadError.partial); they are consumed.  On every other
 * error *len is 0 and nothing is consumed: what arrived stays buffered
 * for the next read, so a time-out loses nothing.  The read buffer grows
 * to n bytes if needed.  Errors: WV_EOF (as said), WV_ECONNRESET,
 * WV_ETIMEDOUT, WV_EAGAIN, WV_ECANCELED, WV_EBADF, WV_ENOMEM, WV_EINVAL
 * (s, len NULL, buf NULL with n > 0).
 */
WV_EXTERN int wv_stream_read_exactly(wv_stream_t *s, void *buf, size_t n,
                                     size_t *len, int64_t deadline);

/*
 * Reads up to and including the first occurrence of delim[0..dlen)
 * (asyncio's readuntil): 0 with the bytes, delimiter included, in
 * buf[0..*len).  The delimiter must end within the first L bytes, L the
 * smaller of the stream's limit and cap; otherwise the call answers
 * WV_ELIMIT (asyncio's LimitOverrunError) as soon as L bytes are
 * buffered without it, and consumes nothing: every byte stays readable,
 * by wv_stream_read or wv_stream_peek, and a later read_until finds a
 * delimiter after them.  WV_EOF when the end comes before a delimiter:
 * the bytes that came (fewer than L, maybe none) are then in buf, *len
 * says how many, and they are consumed (IncompleteReadError.partial).
 * On every other error *len is 0 and nothing is consumed.
 * Errors: WV_ELIMIT, WV_EOF (as said), WV_ECONNRESET, WV_ETIMEDOUT,
 * WV_EAGAIN, WV_ECANCELED, WV_EBADF, WV_ENOMEM, WV_EINVAL (s, delim, buf
 * or len NULL, dlen 0, cap < dlen).
 */
WV_EXTERN int wv_stream_read_until(wv_stream_t *s, const void *delim,
                                   size_t dlen, void *buf, size_t cap,
                                   size_t *len, int64_t deadline);

/*
 * One line, "\n" included (asyncio's readline): read_until with "\n",
 * except at the end: a last line without "\n" is returned with 0 (buf
 * then does not end in "\n"), and WV_EOF (*len 0) comes only once
 * nothing is left.  Errors: those of wv_stream_read_until.
 */
WV_EXTERN int wv_stream_readline(wv_stream_t *s, void *buf, size_t cap,
                                 size_t *len, int64_t deadline);

/*
 * Reading without copying.  Waits until the read buffer holds at least
 * one byte, then gives its bytes in place: 0 with *data, *len > 0.  The
 * bytes stay buffered until wv_stream_consume; *data is valid until the
 * next call on the stream's read side (or its close or free).
 * Errors: those of wv_stream_read (*data NULL and *len 0), WV_ENOMEM,
 * WV_EINVAL (s, data or len NULL).
 */
WV_EXTERN int wv_stream_peek(wv_stream_t *s, const void **data, size_t *len,
                             int64_t deadline);

/*
 * read_until without copying: waits for the delimiter exactly as
 * wv_stream_read_until with L the stream's limit, and gives the bytes
 * up to and including it in place, *data valid as for wv_stream_peek:
 * 0 with *data, *len.  Nothing is consumed, not even at the end: WV_EOF
 * gives the bytes left (maybe none) in *data, *len.  Errors: those of
 * wv_stream_read_until.
 */
WV_EXTERN int wv_stream_peek_until(wv_stream_t *s, const void *delim,
                                   size_t dlen, const void **data, size_t *len,
                                   int64_t deadline);

/*
 * Drops the first n buffered bytes (after a peek).  Never waits.
 * Errors: WV_EINVAL (s NULL, n more than the read buffer holds).
 */
WV_EXTERN int wv_stream_consume(wv_stream_t *s, size_t n);

/*
 * true once the end was read and the read buffer is empty (asyncio's
 * at_eof): every further read answers WV_EOF.  Never does I/O: the end
 * is known only after a read met it.  false for NULL.
 */
WV_EXTERN bool wv_stream_at_eof(const wv_stream_t *s);

/*
 * Bytes in the read buffer: read and not yet taken (the next read call
 * gets them without any I/O).  Never does I/O: bytes still in the
 * descriptor (or, for TLS, in the TLS library) are not counted.  A
 * server that answers requests as they come uses it to write its
 * answers out only when no further request is already here.  0 for
 * NULL.
 */
WV_EXTERN size_t wv_stream_read_pending(const wv_stream_t *s);

/* ------------------------------------------------------------- writing */

/*
 * Writes data[0..len): copies it into the write buffer (no system call)
 * while the buffer stays within the high-water mark.  Otherwise first
 * writes out buffered bytes, waiting as needed, until at most the
 * low-water mark is left (asyncio's write + drain); then copies data,
 * or, if it is still too large, writes it to the descriptor straight
 * (with the buffered bytes before it, in one writev) and buffers the
 * tail.  *done (may be NULL) gets the bytes of data accepted, also on
 * error: accepted bytes are written or buffered, and reach the peer in
 * order unless it goes away; the rest was not taken.  A time-out while
 * waiting for the low-water mark accepts nothing; only data larger than
 * high_water - low_water can be taken in part.  With deadline 0 this
 * means: all or nothing (WV_EAGAIN, *done 0), except such large data.
 * Errors: WV_ETIMEDOUT, WV_EAGAIN, WV_ECANCELED, WV_EPIPE,
 * WV_ECONNRESET, WV_ESHUTDOWN (after wv_stream_write_eof or
 * wv_stream_close), WV_ENOMEM, WV_EINVAL (s NULL, data NULL with len >
 * 0), another -errno of write(2).
 */
WV_EXTERN int wv_stream_write(wv_stream_t *s, const void *data, size_t len,
                              size_t *done, int64_t deadline);

/*
 * Writes out everything buffered, waiting as needed (asyncio's drain,
 * which waits only down to the low-water mark; here the buffer is
 * emptied, as C's fflush).  0 once the descriptor took every byte.
 * A time-out keeps the bytes not yet written buffered.  Errors:
 * WV_ETIMEDOUT, WV_EAGAIN, WV_ECANCELED, WV_EPIPE, WV_ECONNRESET,
 * WV_EINVAL (s NULL), another -errno of write(2).  0 on a stream
 * closed or shut down for writing (nothing is buffered then).
 */
WV_EXTERN int wv_stream_drain(wv_stream_t *s, int64_t deadline);

/*
 * Bytes written to the stream and not yet to the descriptor (asyncio's
 * get_write_buffer_size).  0 for NULL.
 */
WV_EXTERN size_t wv_stream_write_pending(const wv_stream_t *s);

/*
 * Ends the writing side (asyncio's write_eof): drains, then shuts the
 * socket down for writing (shutdown SHUT_WR: the peer reads the end and
 * can still answer) or closes a pipe's writing end.  Later writes answer
 * WV_ESHUTDOWN; reading goes on.  A second call: 0.  Errors: those of
 * wv_stream_drain (then nothing is shut: call again), WV_ENOTSUP (a
 * borrowed descriptor that is no socket: the stream will not close it),
 * WV_EBADF (closed), another -errno of shutdown(2).
 */
WV_EXTERN int wv_stream_write_eof(wv_stream_t *s, int64_t deadline);

/*
 * Closes gracefully (asyncio's close + wait_closed): drains with the
 * deadline, then closes the descriptor (an owned one; a borrowed one is
 * only let go).  On WV_ETIMEDOUT, WV_EAGAIN or WV_ECANCELED nothing is
 * closed and nothing dropped: call again, or free to drop the rest.  On
 * another error of the drain (WV_EPIPE, WV_ECONNRESET...) the stream is
 * closed anyway, the unsent bytes dropped, and the error returned.
 * After a close, reads answer WV_EBADF and writes WV_ESHUTDOWN; a second
 * close is 0.  Errors: those said, WV_EINVAL (s NULL).
 */
WV_EXTERN int wv_stream_close(wv_stream_t *s, int64_t deadline);

/* The descriptor under s; -1 once closed (a pipe's writing end: also once
 * wv_stream_write_eof closed it); WV_EINVAL for NULL. */
WV_EXTERN int wv_stream_fileno(const wv_stream_t *s);

#ifdef __cplusplus
}
#endif

#endif /* WEAVE_STREAM_H */

/*
 * net/stream.c - buffered streams (weave/stream.h) over a transport
 * (net/transport.h): asyncio's StreamReader and StreamWriter.
 *
 * Read side.  rbuf[rpos..rend) holds the bytes read and not yet taken.
 * A refill first moves them to the front (when the room there is larger
 * than at the tail), grows the buffer to what the caller needs (doubling from
 * RBUF_MIN: for read_until never past the limit rounded up, for read_exactly
 * past n), then makes one transport read into all the free tail: one system
 * call brings as much as fits.  A plain read that finds the buffer empty
 * and is given at least RBUF_MIN bytes of room reads straight into the
 * caller's buffer (one copy less).  The search for a delimiter resumes
 * where the last one ended (dlen - 1 bytes before), so a peer dribbling
 * one byte at a time costs O(limit) scanning per call, not O(limit^2).
 * The end (WV_EOF) and a transport error are kept in rerr and reported
 * once the buffered bytes are taken: they are sticky.
 *
 * Write side.  wbuf[wpos..wend) holds bytes accepted and not yet handed
 * to the transport.  A write that keeps the buffer within high_water is
 * a copy (writes coalesce: the descriptor sees one writev for many).
 * Beyond it the writer flushes, waiting as needed, down to low_water
 * (asyncio's drain), before it accepts a byte: a time-out there takes
 * nothing.  Data still too large for the room left goes to the
 * transport straight, after the buffered bytes in the same writev; only
 * its tail, once it fits, is copied.  The buffer is made high_water
 * large before the first byte of such data is written, so the tail copy
 * cannot fail: *done is exact, and a failed allocation takes nothing.
 * Write errors (WV_EPIPE, WV_ECONNRESET...) are kept in werr.
 *
 * Rejected: flushing before every read (stdio's line-buffered terminal
 * trick): it would make the reading side touch the writing side's
 * buffer, and one reader beside one writer could no longer share a
 * stream without a lock.  Rejected: asyncio's unbounded write buffer
 * with drain() as the only back-pressure: a C caller that never drains
 * would grow it without bound.
 *
 * Threads: the read side's fields and the write side's are disjoint, so
 * one reader and one writer may run at once; `closed` changes only in
 * close and free, which run alone (weave/stream.h).
 */
#include "transport.h"

#include "../core/internal.h"

#include <poll.h>
#include <string.h>
#include <sys/uio.h>

#define RBUF_MIN (16 * 1024) /* first read buffer, and least direct read */
#define WBUF_MIN (4 * 1024)  /* first write buffer */

struct wv_stream {
    wv__transport_t *t; /* the bytes' way in and out; NULL once closed */
    bool closed;        /* wv_stream_close ran (or its drain failed hard) */

    /* Read side: buffered bytes rbuf[rpos..rend) of rcap. */
    char *rbuf;
    size_t rcap, rpos, rend;
    size_t limit; /* read_until's most bytes looked through */
    int rerr;     /* sticky: WV_EOF, or the transport's read error */

    /* Write side: pending bytes wbuf[wpos..wend) of wcap. */
    char *wbuf;
    size_t wcap, wpos, wend;
    size_t high, low;   /* back-pressure marks (high >= low) */
    int werr;           /* sticky: the transport's write error */
    bool wshut;         /* write_eof or close: no more writes */
    bool flush_on_read; /* a read that must wait writes out wbuf first */
};

/* ----------------------------------------------------------- creation */

int wv__stream_new(wv_stream_t **out, const wv_stream_opts_t *opts,
                   wv__transport_t *t)
{
    wv_stream_opts_t o = opts ? *opts : (wv_stream_opts_t){0};

    if (!out || !t)
        return WV_EINVAL;
    if (!o.limit)
        o.limit = WV_STREAM_LIMIT;
    if (!o.high_water) {
        o.high_water = WV_STREAM_HIGH_WATER;
        if (!o.low_water)
            o.low_water = o.high_water / 4;
    }
    if (o.low_water > o.high_water)
        return WV_EINVAL;
    wv_stream_t *s = wv__calloc(1, sizeof *s);
    if (!s)
        return WV_ENOMEM;
    s->t = t;
    s->limit = o.limit;
    s->high = o.high_water;
    s->low = o.low_water;
    s->flush_on_read = o.flush_on_read;
    *out = s;
    return 0;
}

int wv_stream_new(wv_stream_t **out, const wv_stream_opts_t *opts, int fd)
{
    wv__transport_t *t;

    if (!out)
        return WV_EINVAL;
    int err = wv__transport_fd_new(&t, fd, opts && opts->borrow_fd);
    if (err)
        return err;
    err = wv__stream_new(out, opts, t);
    if (err)
        wv__transport_fd_abandon(t);
    return err;
}

/* -------------------------------------------------------- read buffer */

static size_t rbuffered(const wv_stream_t *s)
{
    return s->rend - s->rpos;
}

static void rconsume(wv_stream_t *s, size_t n)
{
    s->rpos += n;
    if (s->rpos == s->rend)
        s->rpos = s->rend = 0;
}

/* Makes rbuf hold at least `want` (>= 1) bytes, with room after rend. */
static int rreserve(wv_stream_t *s, size_t want)
{
    size_t have = rbuffered(s);

    if (s->rcap < want || s->rcap == have) {
        size_t cap = s->rcap ? s->rcap : RBUF_MIN;
        while (cap < want || cap == have) {
            if (cap > SIZE_MAX / 2)
                return WV_ENOMEM;
            cap *= 2;
        }
        char *buf = wv__realloc(s->rbuf, cap);
        if (!buf)
            return WV_ENOMEM;
        s->rbuf = buf;
        s->rcap = cap;
    }
    /* Move the bytes down when the room at the front is the larger:
     * reads then get the most room, and each byte moves at most about
     * once per buffer's worth read. */
    if (s->rpos > 0 && s->rcap - s->rend < s->rpos) {
        memmove(s->rbuf, s->rbuf + s->rpos, have);
        s->rpos = 0;
        s->rend = have;
    }
    return 0;
}

/* One transport read into buf, waiting while there is nothing: the bytes
 * (> 0), or an error; the end and transport errors are kept in rerr. */
/* Errors of a wait, which end a call, not the stream. */
static bool wait_error(ssize_t n)
{
    return n == WV_ETIMEDOUT || n == WV_ECANCELED || n == WV_EAGAIN ||
           n == WV_EINVAL || n == WV_ENOMEM;
}

static int flush_all(wv_stream_t *s, int64_t deadline);
static void wconsume(wv_stream_t *s, size_t n);
static size_t wpending(const wv_stream_t *s);

/* A transport read's result as read_some returns it: bytes, or a wait's
 * error (the stream goes on), or the end or a read error (kept). */
static ssize_t read_result(wv_stream_t *s, ssize_t n)
{
    if (n > 0 || (n < 0 && wait_error(n)))
        return n;
    s->rerr = n == 0 ? WV_EOF : (int)n;
    return s->rerr;
}

/* flush_on_read: the pending bytes go out, with the read where the
 * transport can pair them (wv__fd_send_recv): the read's result then, or
 * WV_ENOSYS when the read is still to be made. */
static ssize_t flush_then_read(wv_stream_t *s, void *buf, size_t len,
                               int64_t deadline)
{
    if (s->werr)
        return s->werr;
    if (s->t->ops->writev_read_wait) {
        struct iovec iov = {s->wbuf + s->wpos, wpending(s)};
        ssize_t sent;
        ssize_t n = s->t->ops->writev_read_wait(s->t, &iov, 1, &sent, buf, len,
                                                deadline);
        if (sent > 0)
            wconsume(s, (size_t)sent);
        if (sent < 0) /* the send's error: the read never started */
            return s->werr = (int)sent;
        /* Done, unless it could not pair or the send stopped short of a
         * cancel of its own (the rest goes below, then the read). */
        if (n != WV_ENOSYS && !(n == WV_ECANCELED && wpending(s)))
            return read_result(s, n);
    }
    int err = flush_all(s, deadline);
    return err ? err : WV_ENOSYS;
}

static ssize_t read_some(wv_stream_t *s, void *buf, size_t len,
                         int64_t deadline)
{
    if (s->flush_on_read && wpending(s)) {
        ssize_t n = flush_then_read(s, buf, len, deadline);
        if (n != WV_ENOSYS)
            return n;
    }
    if (s->t->ops->read_wait) {
        ssize_t n = s->t->ops->read_wait(s->t, buf, len, deadline);
        if (n != WV_ENOSYS)
            return read_result(s, n);
    }
    for (;;) {
        short want = POLLIN;
        ssize_t n = s->t->ops->read(s->t, buf, len, &want);
        if (n > 0)
            return n;
        if (n == WV_EAGAIN) {
            int err = s->t->ops->wait(s->t, want, deadline);
            if (err)
                return err;
            continue;
        }
        s->rerr = n == 0 ? WV_EOF : (int)n;
        return s->rerr;
    }
}

/* One refill of rbuf, grown to hold `want` bytes if needed. */
static int fill(wv_stream_t *s, size_t want, int64_t deadline)
{
    if (s->rerr)
        return s->rerr;
    int err = rreserve(s, want);
    if (err)
        return err;
    ssize_t n = read_some(s, s->rbuf + s->rend, s->rcap - s->rend, deadline);
    if (n < 0)
        return (int)n;
    s->rend += (size_t)n;
    return 0;
}

static int read_check(const wv_stream_t *s)
{
    return s->closed ? WV_EBADF : 0;
}

/* ---------------------------------------------------------------- read */

int wv_stream_read(wv_stream_t *s, void *buf, size_t cap, size_t *len,
                   int64_t deadline)
{
    if (!s || !len || (!buf && cap))
        return WV_EINVAL;
    *len = 0;
    int err = read_check(s);
    if (err || cap == 0)
        return err;
    while (rbuffered(s) == 0) {
        if (s->rerr)
            return s->rerr;
        if (cap >= RBUF_MIN) { /* nothing buffered: no copy needed */
            ssize_t n = read_some(s, buf, cap, deadline);
            if (n < 0)
                return (int)n;
            *len = (size_t)n;
            return 0;
        }
        err = fill(s, 1, deadline);
        if (err)
            return err;
    }
    size_t n = rbuffered(s) < cap ? rbuffered(s) : cap;
    memcpy(buf, s->rbuf + s->rpos, n);
    rconsume(s, n);
    *len = n;
    return 0;
}

int wv_stream_read_exactly(wv_stream_t *s, void *buf, size_t n, size_t *len,
                           int64_t deadline)
{
    if (!s || !len || (!buf && n))
        return WV_EINVAL;
    *len = 0;
    int err = read_check(s);
    if (err)
        return err;
    while (rbuffered(s) < n && !err)
        err = fill(s, n, deadline);
    if (err && err != WV_EOF)
        return err;
    size_t got = rbuffered(s) < n ? rbuffered(s) : n;
    if (got)
        memcpy(buf, s->rbuf + s->rpos, got);
    rconsume(s, got);
    *len = got;
    return got == n ? 0 : WV_EOF;
}

/*
 * Waits until the delimiter ends within the first `limit` buffered bytes:
 * 0 and *found = the bytes up to and including it.  WV_ELIMIT when limit
 * bytes are buffered without it; the read side's error (WV_EOF...) when
 * it ends first, *found then the bytes buffered; a wait's error.
 */
static int find_until(wv_stream_t *s, const char *delim, size_t dlen,
                      size_t limit, int64_t deadline, size_t *found)
{
    size_t from = 0; /* no match starts before rbuf[rpos + from] */

    for (;;) {
        size_t have = rbuffered(s);
        size_t look = have < limit ? have : limit;
        if (look >= dlen) {
            const char *at = s->rbuf + s->rpos;
            const char *p = memmem(at + from, look - from, delim, dlen);
            if (p) {
                *found = (size_t)(p - at) + dlen;
                return 0;
            }
            from = look - dlen + 1;
        }
        if (have >= limit)
            return WV_ELIMIT;
        *found = have;
        if (s->rerr)
            return s->rerr;
        /* Grow towards the limit, never past it for a peer's sake. */
        size_t want = have + 1 > limit ? limit : have + 1;
        int err = fill(s, want, deadline);
        if (err && err != s->rerr)
            return err;
    }
}

static int until_check(const wv_stream_t *s, const void *delim, size_t dlen)
{
    if (!s || !delim || dlen == 0)
        return WV_EINVAL;
    return 0;
}

int wv_stream_read_until(wv_stream_t *s, const void *delim, size_t dlen,
                         void *buf, size_t cap, size_t *len, int64_t deadline)
{
    size_t found = 0;

    if (until_check(s, delim, dlen) || !buf || !len || cap < dlen)
        return WV_EINVAL;
    *len = 0;
    int err = read_check(s);
    if (err)
        return err;
    size_t limit = s->limit < cap ? s->limit : cap;
    err = find_until(s, delim, dlen, limit, deadline, &found);
    if (err && err != WV_EOF)
        return err;
    WV__ASSERT(found <= cap);
    if (found)
        memcpy(buf, s->rbuf + s->rpos, found);
    rconsume(s, found);
    *len = found;
    return err;
}

int wv_stream_readline(wv_stream_t *s, void *buf, size_t cap, size_t *len,
                       int64_t deadline)
{
    int err = wv_stream_read_until(s, "\n", 1, buf, cap, len, deadline);

    return err == WV_EOF && *len > 0 ? 0 : err;
}

int wv_stream_peek(wv_stream_t *s, const void **data, size_t *len,
                   int64_t deadline)
{
    if (!s || !data || !len)
        return WV_EINVAL;
    *data = NULL;
    *len = 0;
    int err = read_check(s);
    while (!err && rbuffered(s) == 0)
        err = fill(s, 1, deadline);
    if (err)
        return err;
    *data = s->rbuf + s->rpos;
    *len = rbuffered(s);
    return 0;
}

int wv_stream_peek_until(wv_stream_t *s, const void *delim, size_t dlen,
                         const void **data, size_t *len, int64_t deadline)
{
    size_t found = 0;

    if (until_check(s, delim, dlen) || !data || !len)
        return WV_EINVAL;
    *data = NULL;
    *len = 0;
    int err = read_check(s);
    if (err)
        return err;
    err = find_until(s, delim, dlen, s->limit, deadline, &found);
    if (err && err != WV_EOF)
        return err;
    *data = found ? s->rbuf + s->rpos : NULL;
    *len = found;
    return err;
}

int wv_stream_consume(wv_stream_t *s, size_t n)
{
    if (!s || n > rbuffered(s))
        return WV_EINVAL;
    rconsume(s, n);
    return 0;
}

bool wv_stream_at_eof(const wv_stream_t *s)
{
    return s && s->rerr == WV_EOF && rbuffered(s) == 0;
}

/* --------------------------------------------------------------- write */

static size_t wpending(const wv_stream_t *s)
{
    return s->wend - s->wpos;
}

/* Makes wbuf able to hold `want` bytes in all. */
static int wreserve(wv_stream_t *s, size_t want)
{
    if (s->wcap >= want)
        return 0;
    size_t cap = s->wcap ? s->wcap : WBUF_MIN;
    while (cap < want) {
        if (cap > SIZE_MAX / 2)
            return WV_ENOMEM;
        cap *= 2;
    }
    char *buf = wv__realloc(s->wbuf, cap);
    if (!buf)
        return WV_ENOMEM;
    s->wbuf = buf;
    s->wcap = cap;
    return 0;
}

/* Appends data to wbuf: WV_ENOMEM (nothing appended) or 0. */
static int wappend(wv_stream_t *s, const void *data, size_t len)
{
    size_t have = wpending(s);
    int err = wreserve(s, have + len);
    if (err)
        return err;
    if (s->wcap - s->wend < len) {
        memmove(s->wbuf, s->wbuf + s->wpos, have);
        s->wpos = 0;
        s->wend = have;
    }
    memcpy(s->wbuf + s->wend, data, len);
    s->wend += len;
    return 0;
}

/* Marks n bytes of wbuf written. */
static void wconsume(wv_stream_t *s, size_t n)
{
    s->wpos += n;
    if (s->wpos == s->wend)
        s->wpos = s->wend = 0;
}

/*
 * One transport writev of the pending bytes, then data[0..len) (may be
 * empty), waiting while nothing goes: the bytes of data written (the
 * pending ones go first) in *sent, or an error (kept in werr if final).
 */
static int write_some(wv_stream_t *s, const char *data, size_t len,
                      size_t *sent, int64_t deadline)
{
    struct iovec iov[2];
    int niov = 0;

    *sent = 0;
    if (wpending(s))
        iov[niov++] = (struct iovec){s->wbuf + s->wpos, wpending(s)};
    if (len)
        iov[niov++] = (struct iovec){(void *)data, len};
    for (bool direct = s->t->ops->writev_wait != NULL;;) {
        short want = POLLOUT;
        ssize_t n = WV_ENOSYS;
        if (direct && (n = s->t->ops->writev_wait(s->t, iov, niov, deadline)) ==
                          WV_ENOSYS)
            direct = false;
        if (!direct)
            n = s->t->ops->writev(s->t, iov, niov, &want);
        else if (n < 0 && wait_error(n))
            return (int)n;
        if (n > 0) {
            size_t from_buf = wpending(s) < (size_t)n ? wpending(s) : (size_t)n;
            wconsume(s, from_buf);
            *sent = (size_t)n - from_buf;
            return 0;
        }
        if (n == 0 || n == WV_EAGAIN) {
            int err = s->t->ops->wait(s->t, want, deadline);
            if (err)
                return err;
            continue;
        }
        s->werr = (int)n;
        return s->werr;
    }
}

/* Writes out pending bytes until at most `keep` are left. */
static int flush_to(wv_stream_t *s, size_t keep, int64_t deadline)
{
    size_t sent;

    while (wpending(s) > keep) {
        int err = write_some(s, NULL, 0, &sent, deadline);
        if (err)
            return err;
    }
    return 0;
}

/* Writes out every pending byte, then what the transport holds itself:
 * the bytes have reached the descriptor. */
static int flush_all(wv_stream_t *s, int64_t deadline)
{
    int err = flush_to(s, 0, deadline);

    while (!err && s->t->ops->flush) {
        short want = POLLOUT;
        err = s->t->ops->flush(s->t, &want);
        if (err != WV_EAGAIN)
            break;
        err = s->t->ops->wait(s->t, want, deadline);
    }
    if (err && err != WV_EAGAIN && err != WV_ETIMEDOUT && err != WV_ECANCELED &&
        err != WV_EINVAL && !s->werr)
        s->werr = err;
    return err;
}

static int write_check(const wv_stream_t *s)
{
    if (s->wshut)
        return WV_ESHUTDOWN;
    return s->werr;
}

/* data does not fit the buffer even at low_water: it goes out straight,
 * its tail copied once it fits.  *done: the bytes of data taken. */
static int write_large(wv_stream_t *s, const char *data, size_t len,
                       size_t *done, int64_t deadline)
{
    size_t off = 0, sent;
    int err = wreserve(s, s->high); /* the tail copy cannot fail */

    while (!err && len - off > s->high - wpending(s)) {
        err = write_some(s, data + off, len - off, &sent, deadline);
        off += sent;
    }
    if (!err) {
        err = wappend(s, data + off, len - off);
        WV__ASSERT(err == 0);
        off = len;
    }
    *done = off;
    return err;
}

int wv_stream_write(wv_stream_t *s, const void *data, size_t len, size_t *done,
                    int64_t deadline)
{
    size_t taken = 0;

    if (done)
        *done = 0;
    if (!s || (!data && len))
        return WV_EINVAL;
    int err = write_check(s);
    if (err || len == 0)
        return err;
    /* Invariant: wpending(s) <= s->high (the subtractions cannot wrap,
     * and a huge len cannot overflow a sum). */
    if (len > s->high - wpending(s)) {
        err = flush_to(s, s->low, deadline);
        if (err)
            return err;
    }
    if (len <= s->high - wpending(s)) {
        err = wappend(s, data, len);
        taken = err ? 0 : len;
    } else {
        err = write_large(s, data, len, &taken, deadline);
    }
    if (done)
        *done = taken;
    return err;
}

int wv_stream_drain(wv_stream_t *s, int64_t deadline)
{
    if (!s)
        return WV_EINVAL;
    if (s->closed)
        return 0;
    if (s->werr)
        return s->werr;
    return flush_all(s, deadline);
}

size_t wv_stream_read_pending(const wv_stream_t *s)
{
    return s ? rbuffered(s) : 0;
}

size_t wv_stream_write_pending(const wv_stream_t *s)
{
    return s ? wpending(s) : 0;
}

int wv_stream_write_eof(wv_stream_t *s, int64_t deadline)
{
    if (!s)
        return WV_EINVAL;
    if (s->closed)
        return WV_EBADF;
    if (s->wshut)
        return 0;
    int err = wv_stream_drain(s, deadline);
    for (;;) {
        if (err)
            return err;
        short want = POLLOUT;
        err = s->t->ops->shutdown(s->t, &want);
        if (err != WV_EAGAIN)
            break;
        err = s->t->ops->wait(s->t, want, deadline);
    }
    if (!err)
        s->wshut = true;
    return err;
}

/* -------------------------------------------------------------- close */

/* Closes the transport and drops both buffers. */
static void release(wv_stream_t *s)
{
    s->t->ops->close(s->t);
    s->t = NULL;
    s->closed = s->wshut = true;
    wv__free(s->rbuf);
    wv__free(s->wbuf);
    s->rbuf = s->wbuf = NULL;
    s->rcap = s->rpos = s->rend = 0;
    s->wcap = s->wpos = s->wend = 0;
}

/* A drain's outcome after which close closes: success, or an error that
 * is no wait's (a time-out, a cancel, a bad deadline...): the peer's or
 * the descriptor's, which a later call would meet again. */
static bool is_final(int err)
{
    return err != WV_EAGAIN && err != WV_ETIMEDOUT && err != WV_ECANCELED &&
           err != WV_EINVAL && err != WV_ENOMEM;
}

int wv_stream_close(wv_stream_t *s, int64_t deadline)
{
    if (!s)
        return WV_EINVAL;
    if (s->closed)
        return 0;
    int err = s->werr && wpending(s) ? s->werr : flush_all(s, deadline);
    if (!is_final(err))
        return err; /* nothing closed: the caller may try again */
    release(s);
    return err;
}

wv__transport_t *wv__stream_transport(const wv_stream_t *s)
{
    return s->closed ? NULL : s->t;
}

int wv_stream_fileno(const wv_stream_t *s)
{
    if (!s)
        return WV_EINVAL;
    return s->closed ? -1 : s->t->fd;
}

void wv_stream_free(wv_stream_t *s)
{
    if (!s)
        return;
    if (!s->closed) {
        if (!s->werr)
            flush_all(s, WV_NOWAIT); /* what goes at once */
        release(s);
    }
    wv__free(s);
}

/*
 * proc/conn.c - multiprocessing.Pipe: Connections carrying framed messages.
 *
 * Wire format: every message is a 16-byte header, then its bytes:
 *     u64 length | u32 number of descriptors | u32 magic "WVMG"
 * (host byte order: both ends are on one machine).  Descriptors travel as
 * SCM_RIGHTS attached to the header's first byte.  The magic catches
 * bytes that are not ours: the connection then answers WV_EPROTO and
 * never reads again (wv__frame_parse is what the fuzz target feeds).
 *
 * Received descriptors are checked against the frames, since the peer
 * need not be weave: a Unix stream socket hands one sendmsg's descriptors
 * to the recvmsg that reads that sendmsg's first byte, and stops after
 * it.  So the descriptors a recvmsg brings belong to the last frame whose
 * header starts among the bytes it read, and that frame must declare
 * exactly as many.  Descriptors with no such frame, a count that differs,
 * descriptors the kernel dropped (MSG_CTRUNC), or a frame declaring
 * descriptors that did not come with it: the connection is broken
 * (WV_EPROTO) and every descriptor received is closed at once, so a peer
 * cannot fill our descriptor table nor slip one frame's descriptor into
 * another.  A frame's owner is checked when its header is in (at once, or
 * when the frame is taken).  Reads happen only while the frame at the
 * head is incomplete, so at most two batches wait: the head frame's and
 * one for a frame starting in the read that completed the head.
 *
 * The receive buffer grows with the bytes that come, at most doubling
 * what is buffered, never to what a header announces: a 16-byte header
 * cannot make us reserve 1 GiB.
 *
 * Descriptors are non-blocking; every wait goes through wv__fd_wait with
 * the caller's deadline.  Receiving assembles whole messages in rbuf (one
 * copy, but a message never half-lands in the caller's buffer, and a
 * message that arrives past a deadline stays for the next call).
 * Sending writes header and data with one writev/sendmsg; if the deadline
 * passes after part of a message went out, the rest is copied to `pend`
 * and written before anything else, so the stream stays framed and a
 * message is sent whole or not at all.
 *
 * SIGPIPE: sockets use MSG_NOSIGNAL; pipes block SIGPIPE around the write
 * and take back the one the write raised.
 *
 * Threads: one thread sending and one receiving at a time (the two sides
 * share nothing but the descriptor).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAGIC     0x474d5657u /* "WVMG" */
#define NBATCH    2           /* descriptor batches waiting, at most */
#define RBUF_MIN  (64 * 1024)
#define PIPE_SIZE (1024 * 1024)

enum { CAN_SEND = 1, CAN_RECV = 2, IS_SOCKET = 4 };

struct frame {
    uint64_t len;
    uint32_t nfds;
    uint32_t magic;
};

struct wv_conn {
    int fd;
    unsigned mode;
    /* receiving */
    char *rbuf; /* bytes read, not yet consumed: [rpos, rlen) */
    size_t rcap, rpos, rlen;
    uint64_t rbase; /* stream offset of rbuf[0] */
    struct {
        uint64_t at; /* stream offset of the header of the frame it goes to */
        uint32_t n;  /* descriptors: rfds[0, n) for the first batch */
    } batch[NBATCH]; /* received, not yet handed out, in stream order */
    size_t nbatch;
    int rfds[NBATCH * WV_CONN_MAX_FDS]; /* their descriptors, in order */
    size_t nrfds;
    bool eof;    /* the other end closed */
    bool broken; /* bytes that are not frames: WV_EPROTO */
    /* sending */
    char *pend; /* rest of a committed message */
    size_t pend_len, pend_off;
    bool send_broken; /* a frame could not be completed: WV_EPIPE */
};

int wv__frame_parse(const void *buf, size_t n, uint64_t *len, uint32_t *nfds)
{
    struct frame f;

    if (n < sizeof f)
        return WV_EAGAIN;
    memcpy(&f, buf, sizeof f);
    if (f.magic != MAGIC || f.len > WV_CONN_MAX_MSG || f.nfds > WV_CONN_MAX_FDS)
        return WV_EPROTO;
    *len = f.len;
    *nfds = f.nfds;
    return 0;
}

/* ------------------------------------------------------------- set up */

static wv_conn_t *conn_new(int fd, unsigned mode)
{
    wv_conn_t *c = wv__calloc(1, sizeof *c);
    if (c) {
        c->fd = fd;
        c->mode = mode;
    }
    return c;
}

int wv_pipe(wv_conn_t **a, wv_conn_t **b, bool duplex)
{
    int fds[2];

    if (!a || !b)
        return WV_EINVAL;
    if (duplex) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
                       fds) < 0)
            return -errno;
    } else {
        if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
            return -errno;
        fcntl(fds[1], F_SETPIPE_SZ, PIPE_SIZE); /* best effort */
    }
    unsigned both = CAN_SEND | CAN_RECV | IS_SOCKET;
    *a = conn_new(fds[0], duplex ? both : CAN_RECV);
    *b = conn_new(fds[1], duplex ? both : CAN_SEND);
    if (!*a || !*b) {
        wv__free(*a);
        wv__free(*b);
        *a = *b = NULL;
        close(fds[0]);
        close(fds[1]);
        return WV_ENOMEM;
    }
    return 0;
}

int wv_conn_fileno(const wv_conn_t *c)
{
    if (!c)
        return WV_EINVAL;
    return c->fd >= 0 ? c->fd : WV_EBADF;
}

/* -------------------------------------------------------------- send */

void wv__fds_attach(struct msghdr *m, wv__fd_control_t *ctl, const int *fds,
                    size_t n)
{
    memset(ctl, 0, sizeof *ctl);
    m->msg_control = ctl->buf;
    m->msg_controllen = CMSG_SPACE(sizeof(int) * n);
    struct cmsghdr *h = CMSG_FIRSTHDR(m);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(h), fds, sizeof(int) * n);
}

size_t wv__fds_take(struct msghdr *m, int *fds, size_t *n, size_t cap)
{
    size_t closed = 0;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(m); h; h = CMSG_NXTHDR(m, h)) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof fd);
            if (*n < cap)
                fds[(*n)++] = fd;
            else {
                close(fd);
                closed++;
            }
        }
    }
    return closed;
}

/* One write of iov (with descriptors, if any).  Returns bytes or -errno. */
static ssize_t write_some(wv_conn_t *c, struct iovec *iov, int niov,
                          const int *fds, size_t nfds)
{
    if (c->mode & IS_SOCKET) {
        wv__fd_control_t cm;
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)niov};
        if (nfds)
            wv__fds_attach(&m, &cm, fds, nfds);
        return wv__sendmsg(c->fd, &m, MSG_NOSIGNAL);
    }
    return wv__pipe_writev(c->fd, iov, niov);
}

void wv__sigpipe_hold(wv__sigpipe_t *g)
{
    /* Keep the SIGPIPE a closed reader would raise.  Only if the caller
     * had it blocked already can one be pending from before, not ours to
     * take: look then, and only then (a system call saved). */
    sigset_t pipe_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &g->old);
    g->was_pending = false;
    if (sigismember(&g->old, SIGPIPE)) {
        sigpending(&pending);
        g->was_pending = sigismember(&pending, SIGPIPE);
    }
}

void wv__sigpipe_release(wv__sigpipe_t *g, int err)
{
    if (err == WV_EPIPE && !g->was_pending) {
        sigset_t pipe_set;
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        struct timespec zero = {0, 0};
        wv__sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* writev, or vmsplice when `lend`, without dying of SIGPIPE. */
static ssize_t pipe_out(int fd, const struct iovec *iov, int niov, bool lend)
{
    wv__sigpipe_t guard;
    wv__sigpipe_hold(&guard);
    ssize_t n = lend ? wv__vmsplice(fd, iov, niov, SPLICE_F_NONBLOCK)
                     : wv__writev(fd, iov, niov);
    wv__sigpipe_release(&guard, n < 0 ? (int)n : 0);
    return n;
}

ssize_t wv__pipe_writev(int fd, const struct iovec *iov, int niov)
{
    return pipe_out(fd, iov, niov, false);
}

ssize_t wv__pipe_vmsplice(int fd, const struct iovec *iov, int niov)
{
    return pipe_out(fd, iov, niov, true);
}

/* Advances iov past n written bytes; returns the iovs left. */
static int iov_advance(struct iovec **iov, int niov, size_t n)
{
    while (niov && n >= (*iov)->iov_len) {
        n -= (*iov)->iov_len;
        (*iov)++;
        niov--;
    }
    if (niov) {
        (*iov)->iov_base = (char *)(*iov)->iov_base + n;
        (*iov)->iov_len -= n;
    }
    return niov;
}

/* The deadline passed with part of a message written: keep the rest. */
static int commit_rest(wv_conn_t *c, struct iovec *iov, int niov)
{
    size_t rest = 0;
    for (int i = 0; i < niov; i++)
        rest += iov[i].iov_len;
    char *p = wv__malloc(rest);
    if (!p) {
        /* Half a frame is on the wire and the rest is lost: the stream
         * can never be framed again. */
        c->send_broken = true;
        return WV_ENOMEM;
    }
    for (size_t off = 0; niov; iov++, niov--) {
        memcpy(p + off, iov->iov_base, iov->iov_len);
        off += iov->iov_len;
    }
    c->pend = p;
    c->pend_len = rest;
    c->pend_off = 0;
    return 0;
}

static int map_write_err(int err)
{
    return err == WV_ECONNRESET || err == WV_ENOTCONN ? WV_EPIPE : err;
}

/*
 * Writes *iov (*niov entries) waiting up to deadline, advancing them past
 * what went out and adding its size to *written; `fds` go with the first
 * byte.  0 once all is written; else the write error or the deadline's,
 * with *iov and *niov saying what is left.
 */
static int write_iov(wv_conn_t *c, struct iovec **iov, int *niov,
                     const int *fds, size_t nfds, int64_t deadline,
                     size_t *written)
{
    while (*niov) {
        bool first = *written == 0;
        ssize_t n =
            write_some(c, *iov, *niov, first ? fds : NULL, first ? nfds : 0);
        if (n > 0) {
            *written += (size_t)n;
            *niov = iov_advance(iov, *niov, (size_t)n);
            continue;
        }
        if (n != WV_EAGAIN)
            return map_write_err((int)n);
        int err = wv__fd_wait(c->fd, POLLOUT, deadline, NULL);
        if (err)
            return err;
    }
    return 0;
}

/* Writes a message whole: once something of it went out, a deadline
 * commits the rest (a write error does not: the peer is gone). */
static int write_all(wv_conn_t *c, struct iovec *iov, int niov, const int *fds,
                     size_t nfds, int64_t deadline)
{
    size_t written = 0;
    int err = write_iov(c, &iov, &niov, fds, nfds, deadline, &written);

    if ((err == WV_ETIMEDOUT || err == WV_EAGAIN) && written)
        return commit_rest(c, iov, niov);
    return err;
}

int wv_conn_flush(wv_conn_t *c, int64_t deadline)
{
    if (!c || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    if (c->fd < 0)
        return WV_EBADF;
    if (c->send_broken)
        return WV_EPIPE;
    if (!c->pend)
        return 0;
    struct iovec rest = {c->pend + c->pend_off, c->pend_len - c->pend_off};
    struct iovec *iov = &rest;
    int niov = 1;
    int err = write_iov(c, &iov, &niov, NULL, 0, deadline, &c->pend_off);
    if (err)
        return err;
    wv__free(c->pend);
    c->pend = NULL;
    c->pend_len = c->pend_off = 0;
    return 0;
}

int wv_conn_send_fds(wv_conn_t *c, const void *data, size_t len, const int *fds,
                     size_t nfds, int64_t deadline)
{
    if (!c || (len && !data) || (nfds && !fds) || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    if (!(c->mode & CAN_SEND))
        return WV_EBADF;
    if (nfds && !(c->mode & IS_SOCKET))
        return WV_ENOTSUP;
    if (len > WV_CONN_MAX_MSG || nfds > WV_CONN_MAX_FDS)
        return WV_EMSGSIZE;
    int err = wv_conn_flush(c, deadline);
    if (err)
        return err;
    struct frame f = {len, (uint32_t)nfds, MAGIC};
    struct iovec iov[2] = {{&f, sizeof f}, {(void *)data, len}};
    return write_all(c, iov, len ? 2 : 1, fds, nfds, deadline);
}

int wv_conn_send(wv_conn_t *c, const void *data, size_t len, int64_t deadline)
{
    return wv_conn_send_fds(c, data, len, NULL, 0, deadline);
}

/* ----------------------------------------------------------- receive */

/* Closes every descriptor received and not handed out. */
static void drop_fds(wv_conn_t *c)
{
    for (size_t i = 0; i < c->nrfds; i++)
        close(c->rfds[i]);
    c->nrfds = c->nbatch = 0;
}

/* The peer broke the protocol: the connection is no use any more. */
static int broken(wv_conn_t *c)
{
    c->broken = true;
    drop_fds(c);
    return WV_EPROTO;
}

/*
 * The frame the descriptors read with the stream bytes [x, y) go to: the
 * last frame whose header starts in [x, y).  0 with its offset in *at and
 * (if its header is in) its declared count in *declared (else UINT32_MAX);
 * WV_EPROTO when no frame starts there, or the bytes are no frames.
 */
static int fds_owner(const wv_conn_t *c, uint64_t x, uint64_t y, uint64_t *at,
                     uint32_t *declared)
{
    uint64_t f = c->rbase + c->rpos; /* frames are contiguous from here */
    bool found = false;
    while (f < y) {
        size_t i = (size_t)(f - c->rbase);
        uint64_t len;
        uint32_t nfds = UINT32_MAX;
        if (c->rlen - i >= sizeof(struct frame) &&
            wv__frame_parse(c->rbuf + i, c->rlen - i, &len, &nfds))
            return WV_EPROTO;
        if (f >= x) {
            found = true;
            *at = f;
            *declared = nfds;
        }
        if (nfds == UINT32_MAX) /* header incomplete: the last start */
            break;
        f += sizeof(struct frame) + len;
    }
    return found ? 0 : WV_EPROTO;
}

/*
 * Takes the descriptors of a control message read with the stream bytes
 * [x, y): queued for their frame, or, if the peer broke the protocol
 * with them, closed with every other (WV_EPROTO).
 */
static int keep_fds(wv_conn_t *c, struct msghdr *m, uint64_t x, uint64_t y)
{
    int got[WV_CONN_MAX_FDS];
    size_t n = 0;
    bool bad = (m->msg_flags & MSG_CTRUNC) != 0; /* the kernel dropped some */

    /* More than WV_CONN_MAX_FDS cannot happen: the buffer holds no more. */
    if (wv__fds_take(m, got, &n, WV_CONN_MAX_FDS))
        bad = true;
    if (!n && !bad)
        return 0;
    uint64_t at = 0;
    uint32_t declared = 0;
    if (!bad && fds_owner(c, x, y, &at, &declared) == 0 &&
        (declared == UINT32_MAX || declared == n) && c->nbatch < NBATCH &&
        (!c->nbatch || c->batch[c->nbatch - 1].at < at)) {
        memcpy(c->rfds + c->nrfds, got, n * sizeof(int));
        c->nrfds += n;
        c->batch[c->nbatch].at = at;
        c->batch[c->nbatch].n = (uint32_t)n;
        c->nbatch++;
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        close(got[i]);
    return broken(c);
}

/* Forgets the consumed bytes [0, rpos) of rbuf, sliding the rest down. */
static void slide(wv_conn_t *c)
{
    memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
    c->rbase += c->rpos;
    c->rlen -= c->rpos;
    c->rpos = 0;
}

/* Room for `need` unconsumed bytes in rbuf (and some to read into). */
static int reserve(wv_conn_t *c, size_t need)
{
    if (c->rpos && c->rpos == c->rlen)
        slide(c);
    if (c->rcap - c->rpos >= need && c->rcap - c->rlen >= 4096)
        return 0;
    if (c->rpos) { /* slide the unconsumed bytes down first */
        slide(c);
        if (c->rcap >= need && c->rcap - c->rlen >= 4096)
            return 0;
    }
    size_t cap = c->rcap ? c->rcap : RBUF_MIN;
    while (cap < need || cap - c->rlen < 4096)
        cap *= 2;
    char *b = wv__realloc(c->rbuf, cap);
    if (!b)
        return WV_ENOMEM;
    c->rbuf = b;
    c->rcap = cap;
    return 0;
}

/* Reads what is there into rbuf.  0 (something read or EOF noted),
 * WV_EAGAIN (nothing there), or an error. */
static int read_some(wv_conn_t *c)
{
    ssize_t n;
    struct iovec iov = {c->rbuf + c->rlen, c->rcap - c->rlen};

    if (c->mode & IS_SOCKET) {
        union {
            char buf[CMSG_SPACE(sizeof(int) * WV_CONN_MAX_FDS)];
            struct cmsghdr align;
        } cm;
        struct msghdr m = {.msg_iov = &iov,
                           .msg_iovlen = 1,
                           .msg_control = cm.buf,
                           .msg_controllen = sizeof cm.buf};
        n = wv__recvmsg(c->fd, &m, MSG_CMSG_CLOEXEC);
        if (n > 0) {
            uint64_t from = c->rbase + c->rlen;
            c->rlen += (size_t)n;
            return keep_fds(c, &m, from, from + (uint64_t)n);
        }
    } else {
        n = wv__read(c->fd, iov.iov_base, iov.iov_len);
    }
    if (n > 0) {
        c->rlen += (size_t)n;
        return 0;
    }
    if (n == 0 || n == WV_ECONNRESET) {
        c->eof = true;
        return 0;
    }
    return (int)n;
}

/* A whole frame is buffered: 0 with its length and descriptor count;
 * WV_EAGAIN if more must be read first (after reserving room for it). */
static int buffered_frame(wv_conn_t *c, uint64_t *len, uint32_t *nfds)
{
    size_t have = c->rlen - c->rpos;
    int err;

    if (have < sizeof(struct frame)) /* rbuf may not exist yet */
        return (err = reserve(c, sizeof(struct frame))) ? err : WV_EAGAIN;
    if ((err = wv__frame_parse(c->rbuf + c->rpos, have, len, nfds)))
        return broken(c);
    size_t whole = sizeof(struct frame) + (size_t)*len;
    if (have >= whole)
        return 0;
    /* Room for twice what came, not for what the header claims. */
    size_t grown = 2 * have + RBUF_MIN;
    err = reserve(c, grown < whole ? grown : whole);
    return err ? err : WV_EAGAIN;
}

/*
 * Makes a whole frame available, waiting up to deadline.  Returns 0 with
 * its length and descriptor count, or WV_EOF, WV_EPROTO, WV_ETIMEDOUT...
 * `cap`: a frame longer than this is reported (WV_EMSGSIZE, *len set) as
 * soon as its header is in, without waiting for its bytes.
 */
static int next_frame(wv_conn_t *c, size_t cap, uint64_t *len, uint32_t *nfds,
                      int64_t deadline)
{
    for (;;) {
        if (c->broken)
            return WV_EPROTO;
        if (c->rlen - c->rpos >= sizeof(struct frame)) {
            int perr = wv__frame_parse(c->rbuf + c->rpos, c->rlen - c->rpos,
                                       len, nfds);
            if (perr)
                return broken(c);
            if (*len > cap)
                return WV_EMSGSIZE;
        }
        int err = buffered_frame(c, len, nfds);
        if (err != WV_EAGAIN)
            return err;
        if (c->eof)
            return c->rlen == c->rpos ? WV_EOF : broken(c); /* cut short */
        err = read_some(c);
        if (err == WV_EAGAIN)
            err = wv__fd_wait(c->fd, POLLIN, deadline, NULL);
        if (err)
            return err;
    }
}

/* Whether the descriptors that came with the frame at the head are the
 * `declared` it says: the first batch's when it is the frame's, none
 * else. */
static bool fds_match(const wv_conn_t *c, uint32_t declared)
{
    uint64_t at = c->rbase + c->rpos;
    if (c->nbatch && c->batch[0].at == at)
        return c->batch[0].n == declared;
    return declared == 0 && (!c->nbatch || c->batch[0].at > at);
}

/* nfds NULL: descriptors that came with the message are closed. */
int wv_conn_recv_fds(wv_conn_t *c, void *buf, size_t cap, size_t *len, int *fds,
                     size_t *nfds, int64_t deadline)
{
    uint64_t flen;
    uint32_t fn;
    size_t room = nfds ? *nfds : WV_CONN_MAX_FDS;

    if (!c || (cap && !buf) || (nfds && room && !fds) ||
        !wv__deadline_ok(deadline))
        return WV_EINVAL;
    if (!(c->mode & CAN_RECV))
        return WV_EBADF;
    int err = next_frame(c, cap, &flen, &fn, deadline);
    if (err == WV_EMSGSIZE && len)
        *len = (size_t)flen;
    if (err)
        return err;
    if (!fds_match(c, fn))
        return broken(c);
    if (fn > room) {
        if (nfds)
            *nfds = fn;
        return WV_EMSGSIZE;
    }
    if (flen)
        memcpy(buf, c->rbuf + c->rpos + sizeof(struct frame), (size_t)flen);
    c->rpos += sizeof(struct frame) + (size_t)flen;
    for (uint32_t i = 0; i < fn; i++) {
        if (nfds)
            fds[i] = c->rfds[i];
        else
            close(c->rfds[i]);
    }
    if (fn) {
        memmove(c->rfds, c->rfds + fn, (c->nrfds - fn) * sizeof(int));
        c->nrfds -= fn;
        memmove(c->batch, c->batch + 1, --c->nbatch * sizeof c->batch[0]);
    }
    if (len)
        *len = (size_t)flen;
    if (nfds)
        *nfds = fn;
    return 0;
}

int wv_conn_recv(wv_conn_t *c, void *buf, size_t cap, size_t *len,
                 int64_t deadline)
{
    return wv_conn_recv_fds(c, buf, cap, len, NULL, NULL, deadline);
}

int wv_conn_poll(wv_conn_t *c, int64_t deadline)
{
    uint64_t len;
    uint32_t nfds;

    if (!c || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    if (!(c->mode & CAN_RECV))
        return WV_EBADF;
    int err = next_frame(c, SIZE_MAX, &len, &nfds, deadline);
    if (!err && !fds_match(c, nfds))
        return broken(c);
    return err == WV_EOF ? 0 : err;
}

int wv_conn_close(wv_conn_t *c)
{
    if (!c)
        return WV_EINVAL;
    if (c->fd < 0)
        return 0;
    if (c->pend)
        wv_conn_flush(c, 0); /* what goes without waiting */
    close(c->fd);
    c->fd = -1;
    c->mode = 0; /* sends and receives: WV_EBADF */
    drop_fds(c);
    return 0;
}

void wv_conn_free(wv_conn_t *c)
{
    if (!c)
        return;
    wv_conn_close(c);
    wv__free(c->rbuf);
    wv__free(c->pend);
    wv__free(c);
}

size_t wv__conn_pending(const wv_conn_t *c)
{
    return c->pend ? c->pend_len - c->pend_off : 0;
}

int wv__fd_above_stdio(int *fd)
{
    if (*fd >= 3)
        return 0;
    int moved = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
    if (moved < 0)
        return -errno;
    close(*fd);
    *fd = moved;
    return 0;
}

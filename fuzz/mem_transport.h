/*
 * fuzz/mem_transport.h - the memory transport (net/transport.h) that the
 * fuzz targets put under a stream: reads hand out the fuzzer's input,
 * writes are kept up to a bound.  Its users: fuzz_stream.c (chunked,
 * keeps nothing), fuzz_mgr_wire.c (chunked or not, as the input says;
 * keeps 4 KiB) and fuzz_mgr_serve.c (not chunked; keeps 4 MiB).
 *
 * Reads: not chunked, every read gets what it asks for, as far as the
 * input goes.  Chunked, the input is a script of chunks, u8 len and len
 * bytes (a last chunk cut short by the end of the input carries what is
 * left), handed out one chunk a read at most, the rest of a chunk to the
 * next read when a read asks for less; len 0 is a read that would block,
 * once (WV_EAGAIN, POLLIN).  Then 0, the end.
 *
 * Writes: the bytes go into the target's buffer while there is room, the
 * rest is dropped and out_full set; a write always reports every byte
 * written, so the writer never waits.  A target that keeps nothing passes
 * no buffer (out NULL, out_max 0).
 *
 * Wait never waits: ready again at once, WV_EAGAIN for deadline 0, as
 * wv_fdwait with nothing pending.  Shutdown and close do nothing: the
 * target owns the struct mem and its buffer, which outlive the stream.
 *
 * Everything is static inline: a target that leaves mem_flatten unused
 * gets no warning for it.
 */
#ifndef WV_FUZZ_MEM_TRANSPORT_H
#define WV_FUZZ_MEM_TRANSPORT_H

#include "net/transport.h"

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

struct mem {
    wv__transport_t base; /* ops &mem_ops, no descriptor (fd -1) */
    const uint8_t *in;    /* the input left: the bytes, or the chunk script */
    size_t left;          /* bytes of it */
    bool chunked;         /* in is a chunk script, one chunk a read at most */
    size_t chunk_off;     /* of the current chunk, already handed out */
    uint8_t *out;         /* the first out_max bytes written; or NULL */
    size_t out_max;       /* out's size: 0 keeps nothing */
    size_t out_len;       /* bytes kept in out */
    bool out_full;        /* a write did not fit whole: bytes were dropped */
};

/* The length of the chunk that starts script (left >= 1 bytes of it): its
 * first byte, cut to the bytes that follow. */
static inline size_t mem_chunk_len(const uint8_t *script, size_t left)
{
    size_t clen = script[0];
    return clen < left - 1 ? clen : left - 1;
}

static inline ssize_t mem_read(wv__transport_t *t, void *buf, size_t len,
                               short *want)
{
    struct mem *m = (struct mem *)t;
    if (m->left == 0)
        return 0; /* the end */
    if (!m->chunked) {
        size_t n = len < m->left ? len : m->left;
        memcpy(buf, m->in, n);
        m->in += n, m->left -= n;
        return (ssize_t)n;
    }
    size_t clen = mem_chunk_len(m->in, m->left);
    if (clen == 0) { /* would block, once */
        m->in++, m->left--;
        *want = POLLIN;
        return WV_EAGAIN;
    }
    size_t n = clen - m->chunk_off < len ? clen - m->chunk_off : len;
    memcpy(buf, m->in + 1 + m->chunk_off, n);
    m->chunk_off += n;
    if (m->chunk_off == clen) {
        m->in += 1 + clen, m->left -= 1 + clen;
        m->chunk_off = 0;
    }
    return (ssize_t)n;
}

static inline ssize_t mem_writev(wv__transport_t *t, const struct iovec *iov,
                                 int niov, short *want)
{
    struct mem *m = (struct mem *)t;
    size_t n = 0;
    for (int i = 0; i < niov; i++) {
        size_t room = m->out_max - m->out_len;
        size_t take = iov[i].iov_len < room ? iov[i].iov_len : room;
        m->out_full |= take < iov[i].iov_len;
        if (take > 0) /* out may be NULL */
            memcpy(m->out + m->out_len, iov[i].iov_base, take);
        m->out_len += take;
        n += iov[i].iov_len;
    }
    return (ssize_t)n;
}

static inline int mem_wait(wv__transport_t *t, short want, int64_t deadline)
{
    return deadline == 0 ? WV_EAGAIN : 0; /* ready again at once */
}

static inline int mem_shutdown(wv__transport_t *t, short *want)
{
    return 0;
}

static inline void mem_close(wv__transport_t *t)
{
}

static const wv__transport_ops_t mem_ops = {
    .read = mem_read,
    .writev = mem_writev,
    .wait = mem_wait,
    .shutdown = mem_shutdown,
    .close = mem_close,
};

/* m reading in[0..len), chunked or not, and keeping up to out_max bytes of
 * what is written in out (NULL and 0: nothing). */
static inline void mem_init(struct mem *m, const uint8_t *in, size_t len,
                            bool chunked, uint8_t *out, size_t out_max)
{
    *m = (struct mem){.base = {.ops = &mem_ops, .fd = -1},
                      .in = in,
                      .left = len,
                      .chunked = chunked,
                      .out = out,
                      .out_max = out_max};
}

/* Copies the bytes m's reads will hand out, in order, into flat (room for
 * m->left bytes); returns their count.  Before m's first read. */
static inline size_t mem_flatten(const struct mem *m, uint8_t *flat)
{
    if (!m->chunked) {
        memcpy(flat, m->in, m->left);
        return m->left;
    }
    size_t len = 0;
    for (size_t i = 0; i < m->left;) {
        size_t clen = mem_chunk_len(m->in + i, m->left - i);
        memcpy(flat + len, m->in + i + 1, clen);
        len += clen;
        i += 1 + clen;
    }
    return len;
}

#endif /* WV_FUZZ_MEM_TRANSPORT_H */

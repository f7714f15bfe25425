/*
 * fuzz/fuzz_mgr_wire.c - libFuzzer target: the manager's wire layer
 * (manager/wire.h) fed a peer's bytes it must not trust: frames, and both
 * roles of the handshake.
 *
 * The stream reads through a memory transport (as fuzz/fuzz_stream.c's)
 * that hands out the peer's bytes and records what weave writes.  Input:
 *     u8 mode
 *         bits 0-1  0: frames with a small max (1 + next byte), until
 *                   an error; 1: the server's handshake; 2: the
 *                   client's; 3: frames with no max (SIZE_MAX)
 *         bit 2     strict (the handshakes)
 *         bit 3     chunked: the rest is a script of chunks, u8 len and
 *                   len bytes, one chunk a read (len 0: the read would
 *                   block once); else every read gets what it asks
 *     (frames, mode 0: u8 max - 1)
 *     the peer's bytes
 * Key b'abc'.  The nonce is fixed (this file's wv__mgr_random, which the
 * static link takes over manager/nonce_linux.c's: 40 zero bytes), so a
 * recorded answer to "#CHALLENGE#{sha256}" + 40 zeros passes and the
 * server's second half is reached (fuzz/make_mgr_wire_seeds.py).
 *
 * Checked: frames come out exactly as a reference parse of the bytes
 * says (length, payload, the NUL after it), errors are those of a peer
 * (WV_EOF only at a frame's start, WV_EPROTO, WV_EMSGSIZE only over the
 * max); a handshake ends in 0, WV_EAUTH, WV_EPROTO or WV_EOF; every
 * frame weave writes is at most 256 bytes, and #FAILURE# is the last;
 * nothing crashes, reads out of bounds or leaks (ASan).
 */
#include "core/internal.h"
#include "manager/hmac.h"
#include "manager/wire.h"
#include "net/transport.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_mgr_wire: %s:%d: %s\n", __FILE__, __LINE__,  \
                    #cond);                                                    \
            abort();                                                           \
        }                                                                      \
    } while (0)

#define OUT_MAX 4096 /* what weave may write in a handshake, and more */

/* The fixed nonce of a fuzz build (see the top). */
int wv__mgr_random(void *buf, size_t n)
{
    memset(buf, 0, n);
    return 0;
}

struct mem {
    wv__transport_t base;
    const uint8_t *in; /* the peer's bytes, or the chunk script */
    size_t left;
    bool chunked;
    size_t chunk_off; /* of the current chunk, already handed out */
    uint8_t out[OUT_MAX];
    size_t out_len;
};

static ssize_t mem_read(wv__transport_t *t, void *buf, size_t len, short *want)
{
    struct mem *m = (struct mem *)t;
    if (m->left == 0)
        return 0;
    if (!m->chunked) {
        size_t n = len < m->left ? len : m->left;
        memcpy(buf, m->in, n);
        m->in += n, m->left -= n;
        return (ssize_t)n;
    }
    size_t clen = m->in[0];
    if (clen > m->left - 1)
        clen = m->left - 1;
    if (clen == 0) {
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

static ssize_t mem_writev(wv__transport_t *t, const struct iovec *iov, int niov,
                          short *want)
{
    struct mem *m = (struct mem *)t;
    size_t n = 0;
    for (int i = 0; i < niov; i++) {
        size_t room = OUT_MAX - m->out_len;
        size_t take = iov[i].iov_len < room ? iov[i].iov_len : room;
        memcpy(m->out + m->out_len, iov[i].iov_base, take);
        m->out_len += take;
        n += iov[i].iov_len;
    }
    return (ssize_t)n;
}

static int mem_wait(wv__transport_t *t, short want, int64_t deadline)
{
    return deadline == 0 ? WV_EAGAIN : 0;
}

static int mem_shutdown(wv__transport_t *t, short *want)
{
    return 0;
}

static void mem_close(wv__transport_t *t)
{
}

static const wv__transport_ops_t mem_ops = {
    .read = mem_read,
    .writev = mem_writev,
    .wait = mem_wait,
    .shutdown = mem_shutdown,
    .close = mem_close,
};

/* The peer's bytes in order, whatever the chunking: a malloc'd copy. */
static uint8_t *flatten(const struct mem *m, size_t *len)
{
    uint8_t *flat = malloc(m->left + 1);
    CHECK(flat);
    *len = 0;
    if (!m->chunked) {
        memcpy(flat, m->in, m->left);
        *len = m->left;
        return flat;
    }
    for (size_t i = 0; i < m->left;) {
        size_t clen = m->in[i];
        if (clen > m->left - i - 1)
            clen = m->left - i - 1;
        memcpy(flat + *len, m->in + i + 1, clen);
        *len += clen;
        i += 1 + clen;
    }
    return flat;
}

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Frames until an error, each checked against a reference parse. */
static void frames(wv_stream_t *s, struct mem *m, size_t max)
{
    size_t len, pos = 0;
    uint8_t *flat = flatten(m, &len);
    for (;;) {
        char *got;
        size_t n;
        int err = wv__mgr_recv_frame(s, max, &got, &n, WV_FOREVER);
        size_t rest = len - pos;
        if (err == WV_EOF) {
            CHECK(rest == 0);
            break;
        }
        CHECK(rest >= 1);
        uint64_t want = rest >= 4 ? be(flat + pos, 4) : 0;
        size_t head = 4;
        if (rest >= 4 && want == 0xffffffffu) {
            want = rest >= 12 ? be(flat + pos + 4, 8) : 0;
            head = 12;
        }
        if (err) {
            CHECK(got == NULL && n == 0);
            if (err == WV_EMSGSIZE)
                CHECK(rest >= head && (want > max || want == SIZE_MAX));
            else
                CHECK(err == WV_EPROTO &&
                      (rest < head || (head == 4 && want >= 0x80000000u) ||
                       (want <= max && rest - head < want)));
            break;
        }
        CHECK(rest >= head && (want & 0x80000000u ? head == 12 : true));
        CHECK(n == want && n <= max && rest - head >= n);
        CHECK(got[n] == '\0' && memcmp(got, flat + pos + head, n) == 0);
        wv__free(got);
        pos += head + n;
    }
    free(flat);
}

/* What weave wrote: frames of at most 256 bytes, #FAILURE# last. */
static void check_written(const struct mem *m)
{
    size_t pos = 0;
    CHECK(m->out_len < OUT_MAX);
    while (pos < m->out_len) {
        CHECK(m->out_len - pos >= 4);
        uint64_t n = be(m->out + pos, 4);
        CHECK(n <= WV__MGR_HANDSHAKE_MAX && m->out_len - pos - 4 >= n);
        bool failure = n == 9 && memcmp(m->out + pos + 4, "#FAILURE#", 9) == 0;
        pos += 4 + n;
        CHECK(!failure || pos == m->out_len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    size_t max = SIZE_MAX;
    data++, size--;
    if ((mode & 3) == 0) {
        if (size < 1)
            return 0;
        max = 1 + (size_t)data[0];
        data++, size--;
    }
    struct mem *m = calloc(1, sizeof *m);
    CHECK(m);
    m->base.ops = &mem_ops;
    m->base.fd = -1;
    m->in = data;
    m->left = size;
    m->chunked = mode & 8;
    wv_stream_t *s;
    CHECK(wv__stream_new(&s, NULL, &m->base) == 0);
    if ((mode & 3) == 0 || (mode & 3) == 3) {
        frames(s, m, max);
    } else {
        wv__mgr_auth_t auth = {"abc", 3, mode & 4};
        int err = (mode & 3) == 1 ? wv__mgr_auth_server(s, &auth, WV_FOREVER)
                                  : wv__mgr_auth_client(s, &auth, WV_FOREVER);
        CHECK(err == 0 || err == WV_EAUTH || err == WV_EPROTO || err == WV_EOF);
        check_written(m);
    }
    wv_stream_free(s);
    free(m);
    return 0;
}

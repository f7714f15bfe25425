/*
 * fuzz/fuzz_mgr_wire.c - libFuzzer target: the manager's wire layer
 * (manager/wire.h) fed a peer's bytes it must not trust: frames, and both
 * roles of the handshake.
 *
 * The stream reads through the memory transport of fuzz/mem_transport.h,
 * which hands out the peer's bytes and keeps what weave writes.  Input:
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
#include "mem_transport.h"
#include "net/transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The peer's bytes in order, whatever the chunking: a malloc'd copy. */
static uint8_t *flatten(const struct mem *m, size_t *len)
{
    uint8_t *flat = malloc(m->left + 1);
    CHECK(flat);
    *len = mem_flatten(m, flat);
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
    uint8_t *out = malloc(OUT_MAX);
    CHECK(out);
    struct mem m;
    mem_init(&m, data, size, mode & 8, out, OUT_MAX);
    wv_stream_t *s;
    CHECK(wv__stream_new(&s, NULL, &m.base) == 0);
    if ((mode & 3) == 0 || (mode & 3) == 3) {
        frames(s, &m, max);
    } else {
        wv__mgr_auth_t auth = {"abc", 3, mode & 4};
        int err = (mode & 3) == 1 ? wv__mgr_auth_server(s, &auth, WV_FOREVER)
                                  : wv__mgr_auth_client(s, &auth, WV_FOREVER);
        CHECK(err == 0 || err == WV_EAUTH || err == WV_EPROTO || err == WV_EOF);
        check_written(&m);
    }
    wv_stream_free(s);
    free(out);
    return 0;
}

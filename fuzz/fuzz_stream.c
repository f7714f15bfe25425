/*
 * fuzz/fuzz_stream.c - libFuzzer target: a stream's delimiter search
 * (read_until, readline, peek_until) over bytes from an untrusted peer,
 * arriving in chunks of the fuzzer's choosing.
 *
 * The stream reads through the chunked memory transport of
 * fuzz/mem_transport.h, which hands out one chunk per read, so the fuzzer
 * decides every boundary: a delimiter split across reads, a chunk that
 * stops one byte short of the limit, a "would block" between two bytes.
 * Input:
 *     u16 limit (little-endian; limit = 1 + value % 4096)
 *     u8  dlen (1 + value % 4), then dlen delimiter bytes
 *     u8  seed of the calls' choice (readline, read_until with a
 *         caller's buffer of some size, peek_until + consume, read of
 *         some bytes; deadline 0 or forever)
 *     then chunks: u8 len, len bytes (len 0: the read would block once)
 * Invariants checked: every byte comes out exactly once, in order; a
 * line ends at the first delimiter, within the limit; WV_ELIMIT only
 * when at least `limit` bytes without a delimiter are there, WV_EOF only
 * at the end, and nothing crashes, reads out of bounds or leaks (ASan).
 */
#include "mem_transport.h"
#include "net/transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIMIT 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_stream: %s:%d: %s\n", __FILE__, __LINE__,    \
                    #cond);                                                    \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* Where the first delimiter in rem[0..len) ends; 0 if none. */
static size_t first_end(const uint8_t *rem, size_t len, const void *delim,
                        size_t dlen)
{
    const uint8_t *p = memmem(rem, len, delim, dlen);
    return p ? (size_t)(p - rem) + dlen : 0;
}

struct run {
    wv_stream_t *s;
    const uint8_t *delim;
    size_t dlen, limit;
    uint8_t *want; /* every byte of the chunks, in order */
    size_t want_len, pos;
};

/* A delimited read's result against the expected bytes from pos on. */
static void check_until(struct run *r, const uint8_t *delim, size_t dlen,
                        size_t limit, int err, const void *got, size_t len,
                        bool last_line_ok)
{
    const uint8_t *rem = r->want + r->pos;
    size_t rem_len = r->want_len - r->pos;
    size_t end = first_end(rem, rem_len, delim, dlen);

    if (err == WV_EAGAIN) {
        CHECK(len == 0);
        return;
    }
    if (err == WV_ELIMIT) {
        CHECK(len == 0);
        CHECK(end == 0 || end > limit);
        CHECK(rem_len >= limit);
        return;
    }
    if (err == 0 && end) {
        CHECK(len == end && end <= limit);
    } else {
        CHECK(err == WV_EOF || (err == 0 && last_line_ok && len > 0));
        CHECK(end == 0 && len == rem_len && rem_len < limit);
    }
    CHECK(len == 0 || memcmp(got, rem, len) == 0);
}

/* One call chosen by x; false once the stream is at its end. */
static bool step(struct run *r, uint32_t x, uint8_t *buf)
{
    int64_t deadline = (x >> 20) & 1 ? WV_NOWAIT : WV_FOREVER;
    size_t len = 0;
    int err;

    switch (x % 4) {
    case 0: {
        size_t cap = 1 + (x >> 8) % (MAX_LIMIT + 8);
        size_t limit = cap < r->limit ? cap : r->limit;
        err = wv_stream_readline(r->s, buf, cap, &len, deadline);
        check_until(r, (const uint8_t *)"\n", 1, limit, err, buf, len, true);
        break;
    }
    case 1: {
        size_t cap = r->dlen + (x >> 8) % (MAX_LIMIT + 8);
        size_t limit = cap < r->limit ? cap : r->limit;
        err = wv_stream_read_until(r->s, r->delim, r->dlen, buf, cap, &len,
                                   deadline);
        check_until(r, r->delim, r->dlen, limit, err, buf, len, false);
        break;
    }
    case 2: {
        const void *p;
        err = wv_stream_peek_until(r->s, r->delim, r->dlen, &p, &len, deadline);
        check_until(r, r->delim, r->dlen, r->limit, err, p, len, false);
        if (err == 0 || err == WV_EOF)
            CHECK(wv_stream_consume(r->s, len) == 0);
        break;
    }
    default: {
        size_t cap = 1 + (x >> 8) % 64;
        err = wv_stream_read(r->s, buf, cap, &len, deadline);
        CHECK(err == 0 || err == WV_EOF || err == WV_EAGAIN);
        CHECK(err ? len == 0 : len > 0 && len <= cap);
        CHECK(r->pos + len <= r->want_len);
        CHECK(memcmp(buf, r->want + r->pos, len) == 0);
        if (err == WV_EOF)
            CHECK(r->pos == r->want_len);
    }
    }
    r->pos += len;
    return err != WV_EOF && !wv_stream_at_eof(r->s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[MAX_LIMIT + 8];
    if (size < 4)
        return 0;
    size_t limit = 1 + (size_t)(data[0] | data[1] << 8) % MAX_LIMIT;
    size_t dlen = 1 + data[2] % 4;
    if (size < 4 + dlen)
        return 0;
    const uint8_t *delim = data + 3;
    uint32_t x = data[3 + dlen];
    const uint8_t *script = data + 4 + dlen;
    size_t left = size - 4 - dlen;

    struct mem m; /* chunked, keeps nothing: the target only reads */
    mem_init(&m, script, left, true, NULL, 0);
    struct run r = {.delim = delim, .dlen = dlen, .limit = limit};
    r.want = malloc(left + 1);
    CHECK(r.want);
    r.want_len = mem_flatten(&m, r.want); /* the bytes the chunks carry */

    wv_stream_opts_t o = {.limit = limit};
    CHECK(wv__stream_new(&r.s, &o, &m.base) == 0);
    size_t steps = 0, most = 4 * (size + 16);
    while (step(&r, x, buf)) {
        x = x * 1103515245u + 12345u;
        CHECK(++steps < most);
    }
    CHECK(r.pos == r.want_len);
    wv_stream_free(r.s);
    free(r.want);
    return 0;
}

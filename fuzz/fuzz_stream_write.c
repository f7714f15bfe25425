/*
 * fuzz/fuzz_stream_write.c - libFuzzer target: a stream's writing side
 * (write with back-pressure, drain, write_eof) over a memory transport
 * that takes a fuzzer-chosen number of bytes at a time, says "would
 * block" when it has no room, and lets a wait time out.
 *
 * Input:
 *     u16 high_water - 1, u16 low_water (taken modulo high_water + 1)
 *     u8  seed of the peer: how much each wait frees, which waits time
 *         out
 *     then calls: u8 op, and for writes u16 len (little-endian):
 *         op % 4 == 0  write len % 20000 bytes (op & 4: deadline 0)
 *         op % 4 == 1  drain (op & 4: deadline 0)
 *         op % 4 == 2  the peer frees (op >> 2) * 64 bytes of room
 *         op % 4 == 3  write_eof (once), or a free of the stream at once
 * Invariants: the bytes the transport takes are exactly the written
 * data's accepted bytes (*done of each write), once and in order; a
 * write that succeeds took all, one that fails took a prefix, and none
 * when it fits within high_water - low_water; the buffer never holds
 * more than high_water; in the end a drain delivers every accepted byte.
 */
#include "net/transport.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define MAX_WRITE 20000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_stream_write: %s:%d: %s\n", __FILE__,        \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

static unsigned char pat(uint64_t i)
{
    return (unsigned char)(i * 7 + (i >> 9));
}

/* The memory peer: takes up to `room` bytes, checking each against the
 * pattern. */
struct sink {
    wv__transport_t base;
    uint64_t got;   /* bytes taken so far */
    size_t room;    /* bytes it takes before it would block */
    uint32_t x;     /* the peer's generator */
    bool unlimited; /* the final drain: room without end */
};

static ssize_t sink_read(wv__transport_t *t, void *buf, size_t len, short *want)
{
    return 0;
}

static ssize_t sink_writev(wv__transport_t *t, const struct iovec *iov,
                           int niov, short *want)
{
    struct sink *k = (struct sink *)t;
    size_t n = 0;
    for (int i = 0; i < niov; i++) {
        const unsigned char *p = iov[i].iov_base;
        for (size_t j = 0; j < iov[i].iov_len; j++) {
            if (!k->unlimited && k->room == 0)
                break;
            CHECK(p[j] == pat(k->got));
            k->got++;
            n++;
            if (!k->unlimited)
                k->room--;
        }
    }
    CHECK(n > 0 || k->room == 0);
    if (n == 0) {
        *want = POLLOUT;
        return WV_EAGAIN;
    }
    return (ssize_t)n;
}

static int sink_wait(wv__transport_t *t, short want, int64_t deadline)
{
    struct sink *k = (struct sink *)t;
    CHECK(want == POLLOUT);
    if (deadline == 0)
        return WV_EAGAIN;
    k->x = k->x * 1103515245u + 12345u;
    if ((k->x >> 16) % 8 == 0)
        return WV_ETIMEDOUT;
    k->room += 1 + (k->x >> 8) % 3000;
    return 0;
}

static int sink_shutdown(wv__transport_t *t, short *want)
{
    return 0;
}

static void sink_close(wv__transport_t *t)
{
}

static const wv__transport_ops_t sink_ops = {
    .read = sink_read,
    .writev = sink_writev,
    .wait = sink_wait,
    .shutdown = sink_shutdown,
    .close = sink_close,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char buf[MAX_WRITE];
    if (size < 5)
        return 0;
    size_t high = 1 + (size_t)(data[0] | data[1] << 8);
    size_t low = (size_t)(data[2] | data[3] << 8) % (high + 1);
    struct sink k = {.base = {.ops = &sink_ops, .fd = -1}, .x = data[4]};
    wv_stream_opts_t o = {.high_water = high, .low_water = low};
    wv_stream_t *s;
    CHECK(wv__stream_new(&s, &o, &k.base) == 0);

    uint64_t off = 0; /* bytes accepted */
    bool shut = false;
    for (size_t i = 5; i < size; i++) {
        uint8_t op = data[i];
        int64_t deadline = op & 4 ? WV_NOWAIT : WV_FOREVER;
        if (op % 4 == 0 && i + 2 < size) {
            size_t len = (size_t)(data[i + 1] | data[i + 2] << 8) % MAX_WRITE;
            i += 2;
            for (size_t j = 0; j < len; j++)
                buf[j] = pat(off + j);
            size_t done = 12345;
            int err = wv_stream_write(s, buf, len, &done, deadline);
            if (shut) {
                CHECK(err == WV_ESHUTDOWN && done == 0);
                continue;
            }
            CHECK(err == 0 || err == WV_EAGAIN || err == WV_ETIMEDOUT);
            CHECK(err ? done <= len : done == len);
            if (err && len <= high - low)
                CHECK(done == 0);
            off += done;
        } else if (op % 4 == 1) {
            int err = wv_stream_drain(s, deadline);
            CHECK(err == 0 || err == WV_EAGAIN || err == WV_ETIMEDOUT);
            if (!err)
                CHECK(wv_stream_write_pending(s) == 0);
        } else if (op % 4 == 2) {
            k.room += (size_t)(op >> 2) * 64;
        } else if (op % 4 == 3 && !shut) {
            k.unlimited = true;
            CHECK(wv_stream_write_eof(s, WV_FOREVER) == 0);
            k.unlimited = false;
            shut = true;
        }
        CHECK(wv_stream_write_pending(s) <= high);
        CHECK(k.got + wv_stream_write_pending(s) == off);
    }
    k.unlimited = true;
    CHECK(wv_stream_drain(s, WV_FOREVER) == 0);
    CHECK(k.got == off);
    wv_stream_free(s);
    return 0;
}

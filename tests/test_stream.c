/*
 * test_stream.c - buffered streams (weave/stream.h) over socketpairs,
 * pipes and a loopback TCP pair.
 *
 * Chunk boundaries are forced without timing: the test writes raw bytes
 * to the peer descriptor one piece at a time and asks the stream with
 * deadline 0 in between, so every piece is a read of its own.  Blocking
 * cases (back-pressure, time-outs) check what was accepted against what
 * arrived, byte for byte, never how long anything took.
 */
#include "runner.h"

#include "loop/internal.h"
#include "net/transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers */

static void socket_pair(int sv[2])
{
    WVT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void pipe_pair(int p[2])
{
    WVT_EQ(pipe2(p, O_CLOEXEC), 0);
}

/* A connected loopback TCP pair, made with plain socket calls. */
static void tcp_pair(int *a, int *b)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof sin;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    WVT_GE(l, 0);
    WVT_EQ(bind(l, (struct sockaddr *)&sin, sizeof sin), 0);
    WVT_EQ(listen(l, 1), 0);
    WVT_EQ(getsockname(l, (struct sockaddr *)&sin, &len), 0);
    *a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    WVT_GE(*a, 0);
    WVT_EQ(connect(*a, (struct sockaddr *)&sin, sizeof sin), 0);
    *b = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    WVT_GE(*b, 0);
    close(l);
}

static void put(int fd, const void *data, size_t len)
{
    WVT_EQ(write(fd, data, len), (ssize_t)len);
}

static wv_stream_t *stream_on(int fd, const wv_stream_opts_t *opts)
{
    wv_stream_t *s = NULL;
    WVT_OK(wv_stream_new(&s, opts, fd));
    return s;
}

/* A raw thread writing len bytes of data to fd, blocking. */
struct feed {
    int fd;
    const void *data;
    size_t len;
};

static void feeder(void *arg)
{
    struct feed *f = arg;
    put(f->fd, f->data, f->len);
}

/* The byte at offset i of the patterned streams. */
static unsigned char pat(uint64_t i)
{
    return (unsigned char)(i * 7 + (i >> 9));
}

static void fill_pat(unsigned char *buf, uint64_t from, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = pat(from + i);
}

/* Reads s to its end, checking the pattern; returns the bytes read. */
static uint64_t read_pat_to_end(wv_stream_t *s)
{
    static __thread unsigned char buf[7919];
    uint64_t off = 0;
    size_t n;
    int err;
    while ((err = wv_stream_read(s, buf, sizeof buf, &n, WV_FOREVER)) == 0) {
        for (size_t i = 0; i < n; i++)
            if (buf[i] != pat(off + i))
                WVT_FAIL("byte %llu differs", (unsigned long long)(off + i));
        off += n;
    }
    WVT_ERR(err, WV_EOF);
    return off;
}

/* ------------------------------------------------------ read_until */

WVT_TEST(stream_read_pending_counts_the_buffer_without_io)
{
    int sv[2];
    socket_pair(sv);
    wv_stream_t *s = stream_on(sv[0], NULL);
    char buf[16];
    size_t n;
    WVT_EQ(wv_stream_read_pending(s), 0);
    put(sv[1], "one\ntwo\n", 8);
    WVT_EQ(wv_stream_read_pending(s), 0); /* in the socket, not read yet */
    WVT_OK(wv_stream_readline(s, buf, sizeof buf, &n, WV_FOREVER));
    WVT_EQ(n, 4);
    WVT_EQ(wv_stream_read_pending(s), 4); /* "two\n", one read brought */
    put(sv[1], "3", 1);
    WVT_EQ(wv_stream_read_pending(s), 4); /* asking reads nothing */
    WVT_OK(wv_stream_read(s, buf, sizeof buf, &n, WV_FOREVER));
    WVT_EQ(n, 4);
    WVT_EQ(wv_stream_read_pending(s), 0);
    close(sv[1]);
    wv_stream_free(s);
}

WVT_TEST(stream_readline_one_byte_at_a_time)
{
    int sv[2];
    socket_pair(sv);
    wv_stream_t *s = stream_on(sv[0], NULL);
    const char *text = "hello\nworld, again\n\nlast";
    const char *lines[] = {"hello\n", "world, again\n", "\n"};
    char buf[64];
    size_t n, at = 0;
    for (size_t i = 0; text[i]; i++) {
        put(sv[1], text + i, 1);
        int err = wv_stream_readline(s, buf, sizeof buf, &n, WV_NOWAIT);
        if (text[i] != '\n') {
            WVT_ERR(err, WV_EAGAIN);
            WVT_EQ(n, 0);
            continue;
        }
        WVT_OK(err);
        WVT_EQ(n, strlen(lines[at]));
        WVT_ASSERT(memcmp(buf, lines[at], n) == 0);
        at++;
    }
    WVT_EQ(at, 3);
    close(sv[1]);
    /* The last line has no "\n": readline gives it, then the end. */
    WVT_OK(wv_stream_readline(s, buf, sizeof buf, &n, WV_FOREVER));
    WVT_EQ(n, 4);
    WVT_ASSERT(memcmp(buf, "last", 4) == 0);
    WVT_ASSERT(wv_stream_at_eof(s));
    WVT_ERR(wv_stream_readline(s, buf, sizeof buf, &n, WV_FOREVER), WV_EOF);
    WVT_EQ(n, 0);
    wv_stream_free(s);
}

/* A delimiter of several bytes split at every position across two
 * reads, after a near miss that shares its first bytes. */
WVT_TEST(stream_read_until_delimiter_straddles_reads)
{
    const char *delim = "--END--";
    const char *msg = "a--EN-b--END--";
    size_t len = strlen(msg);
    for (size_t cut = 1; cut < len; cut++) {
        int sv[2];
        socket_pair(sv);
        wv_stream_t *s = stream_on(sv[0], NULL);
        char buf[64];
        size_t n;
        put(sv[1], msg, cut);
        WVT_ERR(wv_stream_read_until(s, delim, 7, buf, sizeof buf, &n, 0),
                WV_EAGAIN);
        put(sv[1], msg + cut, len - cut);
        put(sv[1], "tail", 4);
        WVT_OK(wv_stream_read_until(s, delim, 7, buf, sizeof buf, &n, 0));
        WVT_EQ(n, len);
        WVT_ASSERT(memcmp(buf, msg, len) == 0);
        WVT_OK(wv_stream_read(s, buf, sizeof buf, &n, 0));
        WVT_EQ(n, 4);
        wv_stream_free(s);
        close(sv[1]);
    }
}

WVT_TEST(stream_read_until_byte_by_byte_multibyte)
{
    int sv[2];
    socket_pair(sv);
    wv_stream_t *s = stream_on(sv[0], NULL);
    const char *msg = "x\r\r\n";
    char buf[16];
    size_t n;
    for (size_t i = 0; i < 3; i++) {
        put(sv[1], msg + i, 1);
        WVT_ERR(wv_stream_read_until(s, "\r\n", 2, buf, sizeof buf, &n, 0),
                WV_EAGAIN);
    }
    put(sv[1], msg + 3, 1);
    WVT_OK(wv_stream_read_until(s, "\r\n", 2, buf, sizeof buf, &n, 0));
    WVT_EQ(n, 4);
    WVT_ASSERT(memcmp(buf, msg, 4) == 0);
    wv_stream_free(s);
    close(sv[1]);
}

/* LimitOverrunError: the error, the bytes still readable, then a later
 * delimiter found. */
WVT_TEST(stream_read_until_limit_overrun_keeps_bytes)
{
    int sv[2];
    socket_pair(sv);
    wv_stream_opts_t o = {.limit = 16};
    wv_stream_t *s = stream_on(sv[0], &o);
    char buf[64];
    size_t n;
    put(sv[1], "0123456789abcdefXYZ\nok\n", 23);
    WVT_ERR(wv_stream_readline(s, buf, sizeof buf, &n, WV_FOREVER), WV_ELIMIT);
    WVT_EQ(n, 0);
    WVT_ERR(wv_stream_readline(s, buf, sizeof buf, &n, WV_FOREVER),
            WV_ELIMIT); /* the same again: nothing was consumed */
    const void *p;
    WVT_OK(wv_stream_peek(s, &p, &n, 0));
    WVT_EQ(n, 23);
    WVT_ASSERT(memcmp(p, "0123456789abcdef", 16) == 0);
    WVT_OK(wv_stream_read(s, buf, 16, &n, 0));
    WVT_EQ(n, 16);
    WVT_OK(wv_stream_readline(s, buf, sizeof buf, &n, 0));
    WVT_EQ(n, 4);
    WVT_ASSERT(memcmp(buf, "XYZ\n", 4) == 0);
    WVT_OK(wv_stream_readline(s, buf, sizeof buf, &n, 0));
    WVT_EQ(n, 3);
    /* A limit overrun also ends a wait: 16 bytes without "\n". */
    put(sv[1], "aaaaaaaaaaaaaaaaaaaa", 20);
    WVT_ERR(wv_stream_readline(s, buf, sizeof buf, &n, WV_FOREVER), WV_ELIMIT);
    /* The caller's buffer is a limit too. */
    WVT_OK(wv_stream_read(s, buf, 20, &n, 0));
    put(sv[1], "abcdefgh\n", 9);
    WVT_ERR(wv_stream_readline(s, buf, 8, &n, 0), WV_ELIMIT);
    WVT_OK(wv_stream_readline(s, buf, 9, &n, 0));
    WVT_EQ(n, 9);
    wv_stream_free(s);
    close(sv[1]);
}

/* A hostile peer sending no delimiter cannot grow the read buffer past
 * the limit: the overrun comes, and the buffer holds what it held. */
WVT_TEST(stream_read_until_limit_bounds_the_buffer)
{
    int sv[2];
    socket_pair(sv);
    wv_stream_t *s = stream_on(sv[0], NULL); /* 64 KiB */
    static char junk[4096];
    memset(junk, 'j', sizeof junk);
    char line[128];
    size_t n;
    const void *p;
    int err;
    /* The peer writes what the socket takes, the stream reads what came,
     * until the stream has seen the limit's worth without a "\n". */
    int fl = fcntl(sv[1], F_GETFL);
    WVT_EQ(fcntl(sv[1], F_SETFL, fl | O_NONBLOCK), 0);
    while ((err = wv_stream_peek_until(s, "\n", 1, &p, &n, 0)) == WV_EAGAIN)
        while (write(sv[1], junk, sizeof junk) > 0)
            ;
    WVT_ERR(err, WV_ELIMIT);
    WVT_OK(wv_stream_peek(s, &p, &n, 0));
    WVT_EQ(n, WV_STREAM_LIMIT); /* the buffer stopped at the limit */
    /* The caller's buffer is the limit when smaller: no growth for it. */
    wvt_alloc_install();
    WVT_ERR(wv_stream_read_until(s, "\n", 1, line, sizeof line, &n, 0),
            WV_ELIMIT);
    WVT_ERR(wv_stream_readline(s, line, sizeof line, &n, WV_FOREVER),
            WV_ELIMIT);
    WVT_EQ(wvt_alloc_count(), 0);
    wvt_alloc_uninstall();
    WVT_OK(wv_stream_consume(s, WV_STREAM_LIMIT));
    wv_stream_free(s);
    close(sv[1]);
}

/* ---------------------------------------------------- read_exactly, EOF */

WVT_TEST(stream_read_exactly_eof_midway)
{
    int sv[2];
    socket_pair(sv);
    wv_stream_t *s = stream_on(sv[0], NULL);
    char buf[16];
    size_t n;
    put(sv[1], "abc", 3);
    WVT_ERR(wv_stream_read_exactly(s, buf, 5, &n, 0), WV_EAGAIN);
    WVT_EQ(n, 0);
    put(sv[1], "defgh", 5);
    WVT_OK(wv_stream_read_exactly(s, buf, 5, &n, 0));
    WVT_EQ(n, 5);
    WVT_ASSERT(memcmp(buf, "abcde", 5) == 0);
    WVT_ERR(wv_stream_read_exactly(s, buf, 5, &n, wv_deadline_in(20)),
            WV_ETIMEDOUT);
    close(sv[1]);
    WVT_ERR(wv_stream_read_exactly(s, buf, 5, &n, WV_FOREVER), WV_EOF);
    WVT_EQ(n, 3); /* IncompleteReadError.partial */
    WVT_ASSERT(memcmp(buf, "fgh", 3) == 0);
    WVT_ASSERT(wv_stream_at_eof(s));
    WVT_ERR(wv_stream_read(s, buf, sizeof buf, &n, WV_FOREVER), WV_EOF);
    WVT_ERR(wv_stream_read_exactly(s, buf, 1, &n, 0), WV_EOF);
    WVT_EQ(n, 0);
    WVT_OK(wv_stream_read_exactly(s, buf, 0, &n, 0)); /* nothing asked */
    WVT_ERR(wv_stream_read_until(s, "\n", 1, buf, sizeof buf, &n, 0), WV_EOF);
    wv_stream_free(s);
}

WVT_TEST(stream_read_exactly_larger_than_the_buffer)
{
    int sv[2];
    socket_pair(sv);
    wv_stream_t *s = stream_on(sv[0], NULL);
    static unsigned char big[100000], got[100000];
    fill_pat(big, 0, sizeof big);
    /* More than the socket holds: a thread feeds it. */
    struct feed f = {sv[1], big, sizeof big};
    wvt_thread_t *t = wvt_spawn(feeder, &f);
    size_t n;
    WVT_OK(wv_stream_read_exactly(s, got, sizeof got, &n, WV_FOREVER));
    WVT_EQ(n, sizeof got);
    WVT_ASSERT(memcmp(big, got, sizeof got) == 0);
    wvt_join(t);
    wv_stream_free(s);
    close(sv[1]);
}

/* The end and a reset are two codes: a TCP peer closing normally gives
 * WV_EOF, one closing with SO_LINGER 0 (an RST) gives WV_ECONNRESET. */
WVT_TEST(stream_eof_and_reset_differ)
{
    int a, b;
    tcp_pair(&a, &b);
    wv_stream_t *s = stream_on(a, NULL);
    char buf[16];
    size_t n;
    put(b, "bye", 3);
    close(b);
    WVT_OK(wv_stream_read(s, buf, sizeof buf, &n, WV_FOREVER));
    WVT_EQ(n, 3);
    WVT_ERR(wv_stream_read(s, buf, sizeof buf, &n, WV_FOREVER), WV_EOF);
    WVT_ASSERT(wv_stream_at_eof(s));
    wv_stream_free(s);

    tcp_pair(&a, &b);
    s = stream_on(a, NULL);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    WVT_EQ(setsockopt(b, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(b);
    WVT_ERR(wv_stream_read(s, buf, sizeof buf, &n, WV_FOREVER), WV_ECONNRESET);
    WVT_ASSERT(!wv_stream_at_eof(s));
    WVT_ERR(wv_stream_readline(s, buf, sizeof buf, &n, WV_FOREVER),
            WV_ECONNRESET); /* sticky */
    int err = wv_stream_write(s, "x", 1, NULL, 0);
    if (!err)
        err = wv_stream_drain(s, WV_FOREVER);
    WVT_ASSERT(err == WV_EPIPE || err == WV_ECONNRESET);
    wv_stream_free(s);
}

/* ------------------------------------------------------------ peeking */

WVT_TEST(stream_peek_and_consume)
{
    int sv[2];
    socket_pair(sv);
    wv_stream_t *s = stream_on(sv[0], NULL);
    const void *p;
    size_t n;
    WVT_ERR(wv_stream_peek(s, &p, &n, 0), WV_EAGAIN);
    WVT_ASSERT(p == NULL && n == 0);
    put(sv[1], "key: value\r\nrest", 16);
    WVT_OK(wv_stream_peek_until(s, "\r\n", 2, &p, &n, WV_FOREVER));
    WVT_EQ(n, 12);
    WVT_ASSERT(memcmp(p, "key: value\r\n", 12) == 0);
    WVT_ERR(wv_stream_consume(s, 17), WV_EINVAL);
    WVT_OK(wv_stream_consume(s, n));
    WVT_OK(wv_stream_peek(s, &p, &n, 0));
    WVT_EQ(n, 4);
    close(sv[1]);
    WVT_ERR(wv_stream_peek_until(s, "\r\n", 2, &p, &n, WV_FOREVER), WV_EOF);
    WVT_EQ(n, 4); /* the rest, not consumed */
    WVT_ASSERT(memcmp(p, "rest", 4) == 0);
    WVT_ASSERT(!wv_stream_at_eof(s));
    WVT_OK(wv_stream_consume(s, 4));
    WVT_ASSERT(wv_stream_at_eof(s));
    WVT_ERR(wv_stream_peek(s, &p, &n, 0), WV_EOF);
    wv_stream_free(s);
}

/* ------------------------------------------------------------- writes */

/* Small writes stay in the buffer (no system call) and leave in one
 * writev, intact and in order. */
WVT_TEST(stream_small_writes_coalesce)
{
    int sv[2];
    socket_pair(sv);
    wv_stream_t *s = stream_on(sv[0], NULL);
    char rec[32], all[4096];
    size_t total = 0, done;
    for (int i = 0; i < 300; i++) {
        int len = snprintf(rec, sizeof rec, "r%03d;", i);
        memcpy(all + total, rec, (size_t)len);
        total += (size_t)len;
        WVT_OK(wv_stream_write(s, rec, (size_t)len, &done, WV_NOWAIT));
        WVT_EQ(done, len);
    }
    WVT_EQ(wv_stream_write_pending(s), total);
    char got[4096];
    WVT_EQ(recv(sv[1], got, sizeof got, MSG_DONTWAIT), -1); /* nothing */
    WVT_OK(wv_stream_drain(s, WV_NOWAIT));
    WVT_EQ(wv_stream_write_pending(s), 0);
    WVT_EQ(recv(sv[1], got, sizeof got, 0), (ssize_t)total); /* one go */
    WVT_ASSERT(memcmp(got, all, total) == 0);
    wv_stream_free(s);
    close(sv[1]);
}

/* Many small writes from a thread, read as lines by another. */
static void line_writer(void *arg)
{
    wv_stream_t *s = arg;
    char rec[32];
    for (int i = 0; i < (int)wvt_scale(20000); i++) {
        int len = snprintf(rec, sizeof rec, "line %d\n", i);
        WVT_OK(wv_stream_write(s, rec, (size_t)len, NULL, WV_FOREVER));
    }
    WVT_OK(wv_stream_close(s, WV_FOREVER));
}

WVT_TEST(stream_many_small_writes_arrive_in_order)
{
    int sv[2];
    socket_pair(sv);
    wv_stream_opts_t o = {.high_water = 4096};
    wv_stream_t *w = stream_on(sv[0], &o), *r = stream_on(sv[1], NULL);
    wvt_thread_t *t = wvt_spawn(line_writer, w);
    char line[64], want[32];
    size_t n;
    int i = 0, err;
    while ((err = wv_stream_readline(r, line, sizeof line, &n, WV_FOREVER)) ==
           0) {
        int len = snprintf(want, sizeof want, "line %d\n", i++);
        WVT_EQ(n, len);
        WVT_ASSERT(memcmp(line, want, n) == 0);
    }
    WVT_ERR(err, WV_EOF);
    WVT_EQ(i, wvt_scale(20000));
    wvt_join(t);
    wv_stream_free(w);
    wv_stream_free(r);
}

/* Writes patterned bytes to s from *off on, as the stream accepts them. */
static int write_pat(wv_stream_t *s, uint64_t *off, size_t len,
                     int64_t deadline)
{
    static __thread unsigned char buf[1 << 20];
    size_t done = 12345;
    WVT_LE(len, sizeof buf);
    fill_pat(buf, *off, len);
    int err = wv_stream_write(s, buf, len, &done, deadline);
    WVT_LE(done, len);
    if (!err)
        WVT_EQ(done, len);
    *off += done;
    return err;
}

struct reader {
    wv_stream_t *s;
    uint64_t got;
};

static void reader_fn(void *arg)
{
    struct reader *r = arg;
    r->got = read_pat_to_end(r->s);
}

/* Back-pressure: writes with deadline 0 fill the buffer to the high mark
 * and the socket; then one is refused whole (EAGAIN, nothing taken).  A
 * time-out while blocked takes nothing (or, for data larger than the
 * marks allow, exactly what *done says); a reader draining the peer
 * lets a blocked writer go on, and every byte accepted arrives. */
WVT_TEST(stream_back_pressure_and_time_outs_lose_nothing)
{
    int sv[2];
    socket_pair(sv);
    wv_stream_opts_t o = {.high_water = 8192, .low_water = 2048};
    wv_stream_t *w = stream_on(sv[0], &o), *r = stream_on(sv[1], NULL);
    uint64_t off = 0;
    int err;
    while ((err = write_pat(w, &off, 1000, WV_NOWAIT)) == 0)
        WVT_LE(wv_stream_write_pending(w), 8192);
    WVT_ERR(err, WV_EAGAIN);
    size_t pending = wv_stream_write_pending(w);
    WVT_GT(pending + 1000, 8192);
    uint64_t before = off;
    WVT_ERR(write_pat(w, &off, 1000, wv_deadline_in(30)), WV_ETIMEDOUT);
    WVT_EQ(off, before);
    WVT_EQ(wv_stream_write_pending(w), pending);
    WVT_ERR(wv_stream_drain(w, WV_NOWAIT), WV_EAGAIN);
    WVT_ERR(wv_stream_drain(w, wv_deadline_in(10)), WV_ETIMEDOUT);
    WVT_ERR(wv_stream_close(w, WV_NOWAIT), WV_EAGAIN); /* not closed */
    WVT_GE(wv_stream_fileno(w), 0);
    /* Larger than high - low: may be taken in part. */
    err = write_pat(w, &off, 100000, wv_deadline_in(30));
    WVT_ERR(err, WV_ETIMEDOUT);
    WVT_LE(wv_stream_write_pending(w), 8192);

    struct reader rd = {r, 0};
    wvt_thread_t *t = wvt_spawn(reader_fn, &rd);
    /* Blocked at the high mark until the reader drains the peer. */
    for (int i = 0; i < (int)wvt_scale(50); i++) {
        WVT_OK(write_pat(w, &off, 1000, WV_FOREVER));
        WVT_LE(wv_stream_write_pending(w), 8192);
    }
    WVT_OK(write_pat(w, &off, 300000, WV_FOREVER)); /* straight through */
    WVT_LE(wv_stream_write_pending(w), 8192);
    WVT_OK(wv_stream_close(w, WV_FOREVER));
    wvt_join(t);
    WVT_EQ(rd.got, off);
    wv_stream_free(w);
    wv_stream_free(r);
}

/* ------------------------------------------------ coroutines, threads */

struct pump {
    wv_stream_t *s;
    uint64_t bytes;
};

static void *coro_writer(void *arg)
{
    struct pump *p = arg;
    uint64_t off = 0;
    while (off < p->bytes) {
        size_t len = (size_t)(off % 5000) + 1;
        if (len > p->bytes - off)
            len = (size_t)(p->bytes - off);
        WVT_OK(write_pat(p->s, &off, len, WV_FOREVER));
    }
    WVT_OK(wv_stream_write_eof(p->s, WV_FOREVER));
    return NULL;
}

static void *coro_reader(void *arg)
{
    struct pump *p = arg;
    p->bytes = read_pat_to_end(p->s);
    return NULL;
}

/* Two coroutines of one thread stream megabytes to each other through a
 * socketpair holding far less: if either blocked the thread, the other
 * could never run, and the test would hang. */
WVT_TEST(stream_two_coroutines_on_one_thread)
{
    int sv[2];
    socket_pair(sv);
    struct pump wp = {stream_on(sv[0], NULL), (uint64_t)wvt_scale(1 << 20)};
    struct pump rp = {stream_on(sv[1], NULL), 0};
    wv_coro_t *cr, *cw;
    WVT_OK(wv_coro_spawn(&cr, NULL, coro_reader, &rp));
    WVT_OK(wv_coro_spawn(&cw, NULL, coro_writer, &wp));
    WVT_OK(wv_coro_join(cw, NULL, WV_FOREVER));
    WVT_OK(wv_coro_join(cr, NULL, WV_FOREVER));
    WVT_EQ(rp.bytes, wp.bytes);
    wv_coro_free(cr);
    wv_coro_free(cw);
    WVT_OK(wv_coro_run(WV_FOREVER)); /* closes the thread's loop */
    wv_stream_free(wp.s);
    wv_stream_free(rp.s);
}

/* One stream, read by one thread and written by another at once: an
 * echo peer sends back every line. */
static void echo_fn(void *arg)
{
    wv_stream_t *s = arg;
    char line[128];
    size_t n;
    int err;
    while ((err = wv_stream_readline(s, line, sizeof line, &n, WV_FOREVER)) ==
           0) {
        WVT_OK(wv_stream_write(s, line, n, NULL, WV_FOREVER));
        WVT_OK(wv_stream_drain(s, WV_FOREVER)); /* answer at once */
    }
    WVT_ERR(err, WV_EOF);
    WVT_OK(wv_stream_close(s, WV_FOREVER));
}

static void sender_fn(void *arg)
{
    wv_stream_t *s = arg;
    char rec[32];
    for (int i = 0; i < (int)wvt_scale(5000); i++) {
        int len = snprintf(rec, sizeof rec, "echo %d\n", i);
        WVT_OK(wv_stream_write(s, rec, (size_t)len, NULL, WV_FOREVER));
        if (i % 7 == 0)
            WVT_OK(wv_stream_drain(s, WV_FOREVER));
    }
    WVT_OK(wv_stream_write_eof(s, WV_FOREVER));
}

WVT_TEST(stream_one_reader_and_one_writer_thread)
{
    int sv[2];
    socket_pair(sv);
    wv_stream_t *a = stream_on(sv[0], NULL), *b = stream_on(sv[1], NULL);
    wvt_thread_t *echo = wvt_spawn(echo_fn, b);
    wvt_thread_t *send = wvt_spawn(sender_fn, a);
    char line[64], want[32];
    size_t n;
    int i = 0, err;
    while ((err = wv_stream_readline(a, line, sizeof line, &n, WV_FOREVER)) ==
           0) {
        int len = snprintf(want, sizeof want, "echo %d\n", i++);
        WVT_EQ(n, len);
        WVT_ASSERT(memcmp(line, want, n) == 0);
    }
    WVT_ERR(err, WV_EOF);
    WVT_EQ(i, wvt_scale(5000));
    wvt_join(send);
    wvt_join(echo);
    wv_stream_free(a);
    wv_stream_free(b);
}

/* ------------------------------------------------- the writing side ends */

static void check_no_sigpipe(void)
{
    sigset_t pending;
    sigpending(&pending);
    WVT_ASSERT(!sigismember(&pending, SIGPIPE));
}

WVT_TEST(stream_write_to_closed_peer_is_epipe)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would end the test */
    int sv[2];
    socket_pair(sv);
    wv_stream_t *s = stream_on(sv[0], NULL);
    close(sv[1]);
    WVT_OK(wv_stream_write(s, "x", 1, NULL, WV_FOREVER)); /* buffered */
    WVT_ERR(wv_stream_drain(s, WV_FOREVER), WV_EPIPE);
    WVT_ERR(wv_stream_write(s, "x", 1, NULL, WV_FOREVER), WV_EPIPE);
    WVT_ERR(wv_stream_close(s, WV_FOREVER), WV_EPIPE); /* 1 byte dropped */
    WVT_EQ(wv_stream_fileno(s), -1);
    WVT_OK(wv_stream_close(s, WV_FOREVER));
    wv_stream_free(s);

    int p[2];
    pipe_pair(p);
    s = stream_on(p[1], NULL);
    close(p[0]);
    static char big[100000];
    size_t done = 1;
    WVT_ERR(wv_stream_write(s, big, sizeof big, &done, WV_FOREVER), WV_EPIPE);
    WVT_EQ(done, 0);
    wv_stream_free(s);
    check_no_sigpipe();
}

/* write_eof: the peer reads the end and can still answer. */
WVT_TEST(stream_write_eof_half_closes)
{
    int sv[2];
    socket_pair(sv);
    wv_stream_t *a = stream_on(sv[0], NULL), *b = stream_on(sv[1], NULL);
    char buf[32];
    size_t n;
    WVT_OK(wv_stream_write(a, "question", 8, NULL, WV_FOREVER));
    WVT_OK(wv_stream_write_eof(a, WV_FOREVER));
    WVT_OK(wv_stream_write_eof(a, WV_FOREVER)); /* again: 0 */
    WVT_ERR(wv_stream_write(a, "x", 1, NULL, 0), WV_ESHUTDOWN);
    WVT_ERR(wv_stream_read_exactly(b, buf, sizeof buf, &n, WV_FOREVER), WV_EOF);
    WVT_EQ(n, 8);
    WVT_OK(wv_stream_write(b, "answer", 6, NULL, WV_FOREVER));
    WVT_OK(wv_stream_close(b, WV_FOREVER));
    WVT_OK(wv_stream_read_exactly(a, buf, 6, &n, WV_FOREVER));
    WVT_ASSERT(memcmp(buf, "answer", 6) == 0);
    WVT_ERR(wv_stream_read(a, buf, sizeof buf, &n, WV_FOREVER), WV_EOF);
    wv_stream_free(a);
    wv_stream_free(b);

    /* A pipe's writing end is closed; a borrowed one cannot be. */
    int p[2];
    pipe_pair(p);
    wv_stream_opts_t o = {.borrow_fd = true};
    wv_stream_t *w = stream_on(p[1], &o);
    WVT_OK(wv_stream_write(w, "x", 1, NULL, 0));
    WVT_ERR(wv_stream_write_eof(w, WV_FOREVER), WV_ENOTSUP);
    wv_stream_free(w);
    w = stream_on(p[1], NULL);
    WVT_OK(wv_stream_write(w, "yz", 2, NULL, 0));
    WVT_OK(wv_stream_write_eof(w, WV_FOREVER));
    WVT_EQ(wv_stream_fileno(w), -1);
    wv_stream_t *r = stream_on(p[0], NULL);
    WVT_ERR(wv_stream_read_exactly(r, buf, 4, &n, WV_FOREVER), WV_EOF);
    WVT_EQ(n, 3);
    WVT_ASSERT(memcmp(buf, "xyz", 3) == 0);
    wv_stream_free(w);
    wv_stream_free(r);
}

/* ---------------------------------------------------- life and misuse */

WVT_TEST(stream_borrowed_fd_is_left_open_and_blocking)
{
    int sv[2];
    socket_pair(sv);
    wv_stream_opts_t o = {.borrow_fd = true};
    wv_stream_t *s = stream_on(sv[0], &o);
    WVT_EQ(wv_stream_fileno(s), sv[0]);
    WVT_ASSERT(fcntl(sv[0], F_GETFL) & O_NONBLOCK);
    WVT_OK(wv_stream_write(s, "abc", 3, NULL, 0));
    WVT_OK(wv_stream_close(s, WV_FOREVER)); /* flushed, not closed */
    WVT_EQ(wv_stream_fileno(s), -1);
    WVT_ASSERT(!(fcntl(sv[0], F_GETFL) & O_NONBLOCK));
    char buf[8];
    size_t n;
    WVT_ERR(wv_stream_read(s, buf, sizeof buf, &n, 0), WV_EBADF);
    WVT_ERR(wv_stream_write(s, "x", 1, NULL, 0), WV_ESHUTDOWN);
    WVT_ERR(wv_stream_write_eof(s, 0), WV_EBADF);
    WVT_OK(wv_stream_drain(s, 0));
    wv_stream_free(s);
    WVT_EQ(read(sv[1], buf, sizeof buf), 3);
    close(sv[0]);
    close(sv[1]);
}

WVT_TEST(stream_limit_code_is_weaves_own)
{
    WVT_LT(WV_ELIMIT, -4000); /* no errno counterpart */
    WVT_ASSERT(strcmp(wv_err_name(WV_ELIMIT), "WV_ELIMIT") == 0);
    WVT_ASSERT(strcmp(wv_strerror(WV_ELIMIT), "unknown error") != 0);
}

WVT_TEST(stream_bad_arguments)
{
    wv_stream_t *s = NULL;
    WVT_ERR(wv_stream_new(&s, NULL, -1), WV_EBADF);
    int sv[2];
    pipe_pair(sv);
    close(sv[0]);
    close(sv[1]);
    WVT_ERR(wv_stream_new(&s, NULL, sv[1]), WV_EBADF); /* closed */
    socket_pair(sv);
    int dg[2];
    WVT_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dg), 0);
    WVT_ERR(wv_stream_new(&s, NULL, dg[0]), WV_EINVAL); /* no byte stream */
    close(dg[0]);
    close(dg[1]);
    wv_stream_opts_t o = {.high_water = 10, .low_water = 11};
    WVT_ERR(wv_stream_new(&s, &o, sv[0]), WV_EINVAL);
    WVT_ASSERT(!(fcntl(sv[0], F_GETFL) & O_NONBLOCK)); /* left as it was */
    s = stream_on(sv[0], NULL);
    char buf[8];
    size_t n;
    WVT_ERR(wv_stream_read(s, NULL, 1, &n, 0), WV_EINVAL);
    WVT_OK(wv_stream_read(s, buf, 0, &n, 0));
    WVT_ERR(wv_stream_read_until(s, "", 0, buf, sizeof buf, &n, 0), WV_EINVAL);
    WVT_ERR(wv_stream_read_until(s, "abc", 3, buf, 2, &n, 0), WV_EINVAL);
    WVT_ERR(wv_stream_write(s, NULL, 1, NULL, 0), WV_EINVAL);
    WVT_OK(wv_stream_write(s, NULL, 0, NULL, 0));
    /* A bad deadline is reported only when the call would wait. */
    WVT_ERR(wv_stream_read(s, buf, sizeof buf, &n, -5), WV_EINVAL);
    WVT_OK(wv_stream_write(s, "a", 1, NULL, -5)); /* buffered, no wait */
    wv_stream_free(s);
    close(sv[1]);
}

/* Failed allocations: WV_ENOMEM, and nothing consumed, accepted or lost. */
WVT_TEST(stream_failed_allocations_lose_nothing)
{
    int sv[2];
    socket_pair(sv);
    wvt_alloc_install();
    wv_stream_t *s = NULL;
    wvt_alloc_fail_at(1);
    WVT_ERR(wv_stream_new(&s, NULL, sv[0]), WV_ENOMEM);
    WVT_ASSERT(!(fcntl(sv[0], F_GETFL) & O_NONBLOCK));
    WVT_EQ(wvt_alloc_live(), 0);
    WVT_OK(wv_stream_new(&s, NULL, sv[0]));
    long live = wvt_alloc_live(); /* the stream and its transport */

    /* A line longer than the first buffer: its growth fails. */
    static char line[40000];
    memset(line, 'l', sizeof line - 1);
    line[sizeof line - 1] = '\n';
    struct feed f = {sv[1], line, sizeof line};
    wvt_thread_t *t = wvt_spawn(feeder, &f);
    static char got[40000];
    size_t n;
    wvt_alloc_fail_at(1); /* the first buffer */
    WVT_ERR(wv_stream_readline(s, got, sizeof got, &n, WV_FOREVER), WV_ENOMEM);
    WVT_EQ(wvt_alloc_live(), live);
    WVT_OK(wv_stream_read_exactly(s, got, 10, &n, WV_FOREVER));
    wvt_alloc_fail_at(1); /* a growth */
    WVT_ERR(wv_stream_readline(s, got + 10, sizeof got - 10, &n, WV_FOREVER),
            WV_ENOMEM);
    WVT_EQ(n, 0);
    WVT_OK(wv_stream_readline(s, got + 10, sizeof got - 10, &n, WV_FOREVER));
    WVT_EQ(n + 10, sizeof line);
    WVT_ASSERT(memcmp(got, line, sizeof line) == 0);
    wvt_join(t);

    /* Writes: nothing accepted when the buffer cannot be had. */
    size_t done = 9;
    wvt_alloc_fail_at(1);
    WVT_ERR(wv_stream_write(s, "abc", 3, &done, WV_FOREVER), WV_ENOMEM);
    WVT_EQ(done, 0);
    WVT_EQ(wv_stream_write_pending(s), 0);
    WVT_OK(wv_stream_write(s, "abc", 3, &done, WV_FOREVER));
    static char big[100000];
    wvt_alloc_fail_at(1); /* the buffer's growth to the high mark */
    WVT_ERR(wv_stream_write(s, big, sizeof big, &done, WV_FOREVER), WV_ENOMEM);
    WVT_EQ(done, 0);
    WVT_EQ(wv_stream_write_pending(s), 3);
    WVT_OK(wv_stream_drain(s, WV_FOREVER));
    char buf[4];
    WVT_EQ(read(sv[1], buf, sizeof buf), 3);
    wv_stream_free(s);
    WVT_EQ(wvt_alloc_live(), 0);
    wvt_alloc_uninstall();
    close(sv[1]);
}

/* Every allocation of a whole exchange failing in turn. */
static int exchange(void *arg)
{
    (void)arg;
    int sv[2];
    socket_pair(sv);
    wv_stream_t *a = NULL, *b = NULL;
    char line[32];
    size_t n;
    int err = wv_stream_new(&a, NULL, sv[0]);
    if (err) {
        close(sv[0]);
        close(sv[1]);
        return err;
    }
    err = wv_stream_new(&b, NULL, sv[1]);
    if (err) {
        close(sv[1]);
        goto out;
    }
    err = wv_stream_write(a, "ping\n", 5, NULL, WV_FOREVER);
    if (!err)
        err = wv_stream_drain(a, WV_FOREVER);
    if (!err)
        err = wv_stream_readline(b, line, sizeof line, &n, WV_FOREVER);
    if (!err)
        WVT_EQ(n, 5);
    wv_stream_free(b);
out:
    wv_stream_free(a);
    return err;
}

WVT_TEST(stream_faultsim_exchange)
{
    wvt_alloc_install();
    WVT_GE(wvt_faultsim(exchange, NULL), 4);
    wvt_alloc_uninstall();
}

/* Deadline 0 never waits and, when it would, has no effect. */
WVT_TEST(stream_deadline_zero)
{
    int sv[2];
    socket_pair(sv);
    wv_stream_t *s = stream_on(sv[0], NULL);
    char buf[16];
    size_t n;
    const void *p;
    WVT_ERR(wv_stream_read(s, buf, sizeof buf, &n, 0), WV_EAGAIN);
    WVT_ERR(wv_stream_readline(s, buf, sizeof buf, &n, 0), WV_EAGAIN);
    WVT_ERR(wv_stream_read_exactly(s, buf, 4, &n, 0), WV_EAGAIN);
    WVT_ERR(wv_stream_peek(s, &p, &n, 0), WV_EAGAIN);
    WVT_ERR(wv_stream_peek_until(s, "\n", 1, &p, &n, 0), WV_EAGAIN);
    put(sv[1], "ab", 2);
    WVT_ERR(wv_stream_read_exactly(s, buf, 4, &n, 0), WV_EAGAIN);
    WVT_ERR(wv_stream_readline(s, buf, sizeof buf, &n, 0), WV_EAGAIN);
    WVT_OK(wv_stream_read(s, buf, sizeof buf, &n, 0));
    WVT_EQ(n, 2);
    WVT_ASSERT(memcmp(buf, "ab", 2) == 0);
    /* A deadline in the past that need not wait succeeds. */
    put(sv[1], "c\n", 2);
    WVT_OK(wv_stream_readline(s, buf, sizeof buf, &n, 1));
    WVT_EQ(n, 2);
    WVT_ERR(wv_stream_read(s, buf, sizeof buf, &n, 1), WV_ETIMEDOUT);
    wv_stream_free(s);
    close(sv[1]);
}

/* Pipes both ways, and a coroutine reading while the thread writes. */
static void *pipe_reader(void *arg)
{
    wv_stream_t *s = arg;
    char line[64];
    size_t n;
    int count = 0, err;
    while ((err = wv_stream_readline(s, line, sizeof line, &n, WV_FOREVER)) ==
           0)
        count++;
    WVT_ERR(err, WV_EOF);
    return (void *)(intptr_t)count;
}

WVT_TEST(stream_over_pipes)
{
    int p[2];
    pipe_pair(p);
    wv_stream_t *r = stream_on(p[0], NULL), *w = stream_on(p[1], NULL);
    wv_coro_t *co;
    WVT_OK(wv_coro_spawn(&co, NULL, pipe_reader, r));
    for (int i = 0; i < 10000; i++)
        WVT_OK(wv_stream_write(w, "a pipe line\n", 12, NULL, WV_FOREVER));
    WVT_OK(wv_stream_close(w, WV_FOREVER));
    void *count;
    WVT_OK(wv_coro_join(co, &count, WV_FOREVER));
    WVT_EQ((intptr_t)count, 10000);
    wv_coro_free(co);
    WVT_OK(wv_coro_run(WV_FOREVER)); /* closes the thread's loop */
    wv_stream_free(r);
    wv_stream_free(w);
}

/* A time-out in the middle of a line keeps what came. */
WVT_TEST(stream_time_out_mid_line_keeps_bytes)
{
    int sv[2];
    socket_pair(sv);
    wv_stream_t *s = stream_on(sv[0], NULL);
    char buf[16];
    size_t n;
    put(sv[1], "abc", 3);
    WVT_ERR(wv_stream_readline(s, buf, sizeof buf, &n, wv_deadline_in(20)),
            WV_ETIMEDOUT);
    WVT_EQ(n, 0);
    put(sv[1], "\n", 1);
    WVT_OK(wv_stream_readline(s, buf, sizeof buf, &n, wv_deadline_in(20)));
    WVT_EQ(n, 4);
    WVT_ASSERT(memcmp(buf, "abc\n", 4) == 0);
    wv_stream_free(s);
    close(sv[1]);
}

static void *blocked_reader(void *arg)
{
    char buf[8];
    size_t n;
    return (void *)(intptr_t)wv_stream_read_exactly(arg, buf, sizeof buf, &n,
                                                    WV_FOREVER);
}

/* A coroutine parked in a stream call is cancelled: WV_ECANCELED, and
 * the bytes it was waiting for are still there for the next read. */
WVT_TEST(stream_cancelled_coroutine)
{
    int sv[2];
    socket_pair(sv);
    wv_stream_t *s = stream_on(sv[0], NULL);
    put(sv[1], "abc", 3);
    wv_coro_t *co;
    WVT_OK(wv_coro_spawn(&co, NULL, blocked_reader, s));
    WVT_ERR(wv_coro_run(0), WV_EAGAIN); /* it runs, and parks */
    wv_coro_cancel(co);
    void *res;
    WVT_OK(wv_coro_join(co, &res, WV_FOREVER));
    WVT_ERR((int)(intptr_t)res, WV_ECANCELED);
    wv_coro_free(co);
    WVT_OK(wv_coro_run(WV_FOREVER));
    char buf[8];
    size_t n;
    WVT_OK(wv_stream_read(s, buf, sizeof buf, &n, 0));
    WVT_EQ(n, 3);
    wv_stream_free(s);
    close(sv[1]);
}

/* ------------------------------------------- the transport interface */

/*
 * A shim transport over the descriptor one: reads and writes of 1 to 7
 * bytes, and every third read answers WV_EAGAIN wanting POLLOUT, as a
 * TLS read that must first write (SSL_ERROR_WANT_WRITE).  The stream
 * must wait for what the transport wants, not for its own direction, and
 * lose nothing to short transfers.
 */
struct shim {
    wv__transport_t base;
    wv__transport_t *inner;
    unsigned calls;
};

static ssize_t shim_read(wv__transport_t *t, void *buf, size_t len, short *want)
{
    struct shim *sh = (struct shim *)t;
    if (++sh->calls % 3 == 0) {
        *want = POLLOUT;
        return WV_EAGAIN;
    }
    size_t most = 1 + sh->calls % 7;
    return sh->inner->ops->read(sh->inner, buf, len < most ? len : most, want);
}

static ssize_t shim_writev(wv__transport_t *t, const struct iovec *iov,
                           int niov, short *want)
{
    struct shim *sh = (struct shim *)t;
    struct iovec one = iov[0];
    size_t most = 1 + ++sh->calls % 7;
    if (one.iov_len > most)
        one.iov_len = most;
    return sh->inner->ops->writev(sh->inner, &one, 1, want);
}

static int shim_wait(wv__transport_t *t, short want, int64_t deadline)
{
    struct shim *sh = (struct shim *)t;
    return sh->inner->ops->wait(sh->inner, want, deadline);
}

static int shim_shutdown(wv__transport_t *t, short *want)
{
    struct shim *sh = (struct shim *)t;
    return sh->inner->ops->shutdown(sh->inner, want);
}

static void shim_close(wv__transport_t *t)
{
    struct shim *sh = (struct shim *)t;
    sh->inner->ops->close(sh->inner);
    free(sh);
}

static const wv__transport_ops_t shim_ops = {
    .read = shim_read,
    .writev = shim_writev,
    .wait = shim_wait,
    .shutdown = shim_shutdown,
    .close = shim_close,
};

static wv_stream_t *shim_stream(int fd, const wv_stream_opts_t *opts)
{
    struct shim *sh = calloc(1, sizeof *sh);
    WVT_ASSERT(sh);
    WVT_OK(wv__transport_fd_new(&sh->inner, fd, false));
    sh->base = (wv__transport_t){.ops = &shim_ops, .fd = fd};
    wv_stream_t *s = NULL;
    WVT_OK(wv__stream_new(&s, opts, &sh->base));
    return s;
}

static void shim_writer(void *arg)
{
    wv_stream_t *s = arg;
    uint64_t off = 0;
    for (int i = 0; i < (int)wvt_scale(75); i++)
        WVT_OK(write_pat(s, &off, (size_t)(i * 37 % 9000) + 1, WV_FOREVER));
    WVT_OK(wv_stream_write_eof(s, WV_FOREVER));
}

WVT_TEST(stream_over_a_short_transfer_transport)
{
    int sv[2];
    socket_pair(sv);
    wv_stream_opts_t o = {.high_water = 4096, .low_water = 1024};
    wv_stream_t *w = shim_stream(sv[0], &o), *r = shim_stream(sv[1], NULL);
    wvt_thread_t *t = wvt_spawn(shim_writer, w);
    uint64_t want = 0;
    for (int i = 0; i < (int)wvt_scale(75); i++)
        want += (uint64_t)(i * 37 % 9000) + 1;
    WVT_EQ(read_pat_to_end(r), want);
    wvt_join(t);

    /* Lines, and a multi-byte delimiter, through 1- to 7-byte reads. */
    char line[64];
    size_t n;
    wv_stream_free(r);
    int p[2];
    socket_pair(p);
    r = shim_stream(p[1], NULL);
    put(p[0], "first line\nsecond\r\n\r\nthird\n", 27);
    close(p[0]);
    WVT_OK(wv_stream_readline(r, line, sizeof line, &n, WV_FOREVER));
    WVT_EQ(n, 11);
    WVT_OK(wv_stream_read_until(r, "\r\n\r\n", 4, line, sizeof line, &n,
                                WV_FOREVER));
    WVT_EQ(n, 10);
    WVT_ASSERT(memcmp(line, "second\r\n\r\n", 10) == 0);
    WVT_OK(wv_stream_readline(r, line, sizeof line, &n, WV_FOREVER));
    WVT_EQ(n, 6);
    WVT_ERR(wv_stream_readline(r, line, sizeof line, &n, WV_FOREVER), WV_EOF);
    wv_stream_free(r);
    wv_stream_free(w);
}

/* free never waits: bytes the peer does not take are dropped. */
WVT_TEST(stream_free_does_not_wait)
{
    int sv[2];
    socket_pair(sv);
    wv_stream_t *s = stream_on(sv[0], NULL);
    static char chunk[4096];
    int err;
    while ((err = wv_stream_write(s, chunk, sizeof chunk, NULL, 0)) == 0)
        ;
    WVT_ERR(err, WV_EAGAIN);
    WVT_GT(wv_stream_write_pending(s), 0);
    wv_stream_free(s); /* the runner's time-out would catch a wait */
    close(sv[1]);
}

/* ------------------------------------ the read skipped after a short one */

/* After a short read, the stream waits without the read that would say
 * EAGAIN (WV__POLL_GUESS).  Data that came while the reader was parked on
 * something else was reported to the loop then, with no wait for it: the
 * guessing wait must see that note and read, not wait for an edge that
 * will not come again. */
struct guess {
    wv_stream_t *s;
    int peer, other[2];
    wv_event_t go, got_a;
    char got[8];
    int err;
};

static void *guess_reader(void *arg)
{
    struct guess *g = arg;
    char buf[4096];
    size_t n = 0;
    WVT_OK(wv_stream_read(g->s, buf, sizeof buf, &n, wv_deadline_in(10000)));
    WVT_ASSERT(n == 1 && buf[0] == 'a'); /* short: the queue was empty */
    wv_event_set(&g->got_a);
    WVT_OK(wv_event_wait(&g->go, wv_deadline_in(10000)));
    g->err = wv_stream_read(g->s, buf, sizeof buf, &n, wv_deadline_in(5000));
    if (!g->err)
        memcpy(g->got, buf, n < sizeof g->got ? n : sizeof g->got);
    return NULL;
}

static void *guess_writer(void *arg)
{
    struct guess *g = arg;
    WVT_EQ(write(g->peer, "a", 1), 1);
    /* the reader reads "a", then parks on go */
    WVT_OK(wv_event_wait(&g->got_a, wv_deadline_in(10000)));
    WVT_EQ(write(g->peer, "b", 1), 1);
    /* A descriptor wait that is ready at once makes the loop collect
     * every event, the reader's socket's edge among them, while the
     * reader waits for `go`, not for its socket. */
    WVT_EQ(write(g->other[1], "x", 1), 1);
    WVT_OK(wv_fdwait(g->other[0], POLLIN, NULL, wv_deadline_in(10000)));
    wv_event_set(&g->go);
    return NULL;
}

WVT_TEST(stream_short_read_then_data_while_parked_elsewhere)
{
    WVT_OK(wv_loop_set_backend(WV_LOOP_EPOLL)); /* the epoll backend's */
    struct guess g = {0};
    int sv[2];
    socket_pair(sv);
    socket_pair(g.other);
    g.s = stream_on(sv[0], NULL);
    g.peer = sv[1];
    wv_event_init(&g.go);
    wv_event_init(&g.got_a);
    WVT_OK(wv_go(guess_reader, &g));
    WVT_OK(wv_go(guess_writer, &g));
    WVT_OK(wv_coro_run(wv_deadline_in(30000)));
    WVT_OK(g.err);
    WVT_EQ(g.got[0], 'b');
    wv_stream_free(g.s);
    close(sv[1]);
    close(g.other[0]);
    close(g.other[1]);
}

/* The peer's end after a short read: no edge comes again for it (the one
 * that woke the reader carried it), so the guessing wait must read. */
struct guess_end {
    wv_stream_t *s;
    int peer;
    int err;
};

static void *end_reader(void *arg)
{
    struct guess_end *g = arg;
    char buf[4096];
    size_t n = 0;
    WVT_OK(wv_stream_read(g->s, buf, sizeof buf, &n, wv_deadline_in(10000)));
    WVT_ASSERT(n == 3 && memcmp(buf, "abc", 3) == 0);
    g->err = wv_stream_read(g->s, buf, sizeof buf, &n, wv_deadline_in(5000));
    return NULL;
}

static void *end_writer(void *arg)
{
    struct guess_end *g = arg;
    WVT_EQ(write(g->peer, "abc", 3), 3); /* the reader parked first */
    WVT_EQ(shutdown(g->peer, SHUT_WR), 0);
    return NULL;
}

WVT_TEST(stream_short_read_then_the_end)
{
    WVT_OK(wv_loop_set_backend(WV_LOOP_EPOLL)); /* the epoll backend's */
    struct guess_end g = {0};
    int sv[2];
    socket_pair(sv);
    g.s = stream_on(sv[0], NULL);
    g.peer = sv[1];
    WVT_OK(wv_go(end_reader, &g));
    WVT_OK(wv_go(end_writer, &g));
    WVT_OK(wv_coro_run(wv_deadline_in(30000)));
    WVT_ERR(g.err, WV_EOF);
    wv_stream_free(g.s);
    close(sv[1]);
}

/* ------------------------------------------------ the io_uring backend */

/* Forces io_uring for this case's process; false (the case is skipped)
 * where it is not usable. */
static bool on_io_uring(void)
{
    int err = wv_loop_set_backend(WV_LOOP_IO_URING);
    if (err == WV_ENOSYS) {
        printf("skip: io_uring is not usable here\n");
        return false;
    }
    WVT_OK(err);
    WVT_EQ(wv_loop_backend(), WV_LOOP_IO_URING);
    return true;
}

/* A ring receive that times out was cancelled before it returned: the
 * bytes that come later are neither written into the caller's buffer
 * behind its back nor lost, and the next read gets them. */
struct ring_cancel {
    wv_stream_t *s;
    int peer;
    char buf[64];
};

static void *ring_cancel_reader(void *arg)
{
    struct ring_cancel *r = arg;
    size_t n = 0;
    memset(r->buf, '-', sizeof r->buf);
    WVT_ERR(wv_stream_read(r->s, r->buf, sizeof r->buf, &n, wv_deadline_in(20)),
            WV_ETIMEDOUT);
    WVT_EQ(write(r->peer, "late", 4), 4);
    WVT_OK(wv_coro_yield());
    for (size_t i = 0; i < sizeof r->buf; i++)
        WVT_EQ(r->buf[i], '-'); /* nothing landed after the return */
    char again[64];
    WVT_OK(
        wv_stream_read(r->s, again, sizeof again, &n, wv_deadline_in(10000)));
    WVT_ASSERT(n == 4 && memcmp(again, "late", 4) == 0);
    return NULL;
}

WVT_TEST(stream_io_uring_receive_cancelled_at_its_deadline)
{
    if (!on_io_uring())
        return;
    struct ring_cancel r = {0};
    int sv[2];
    socket_pair(sv);
    r.s = stream_on(sv[0], NULL);
    r.peer = sv[1];
    WVT_OK(wv_go(ring_cancel_reader, &r));
    WVT_OK(wv_coro_run(wv_deadline_in(30000)));
    wv_stream_free(r.s);
    close(sv[1]);
}

/* On io_uring a coroutine's stream reads and writes are ring operations;
 * on epoll they are system calls made after readiness, and the stream
 * does not ask the loop for them (wv__tls_io_by_readiness). */
struct ring_use {
    wv_stream_t *s;
    int peer;
    uint64_t ios;
    bool by_readiness;
};

static void *ring_use_fn(void *arg)
{
    struct ring_use *u = arg;
    uint64_t before = wv__loop_ios();
    for (int i = 0; i < 50; i++) {
        char c = (char)('a' + i % 26), got = 0;
        size_t n;
        WVT_EQ(write(u->peer, &c, 1), 1);
        WVT_OK(wv_stream_read(u->s, &got, 1, &n, wv_deadline_in(10000)));
        WVT_EQ(got, c);
        WVT_OK(wv_stream_write(u->s, &c, 1, NULL, WV_FOREVER));
        WVT_OK(wv_stream_drain(u->s, wv_deadline_in(10000)));
        WVT_EQ(read(u->peer, &got, 1), 1);
        WVT_EQ(got, c);
    }
    u->ios = wv__loop_ios() - before;
    u->by_readiness = wv__tls_io_by_readiness;
    return NULL;
}

static struct ring_use ring_use_on(wv_loop_backend_t b)
{
    struct ring_use u = {0};
    int sv[2];
    socket_pair(sv);
    WVT_OK(wv_loop_set_backend(b));
    u.s = stream_on(sv[0], NULL);
    u.peer = sv[1];
    WVT_OK(wv_go(ring_use_fn, &u));
    WVT_OK(wv_coro_run(wv_deadline_in(30000)));
    WVT_ASSERT(!wv__tls_io_by_readiness); /* the run gave the set back */
    wv_stream_free(u.s);
    close(sv[1]);
    return u;
}

WVT_TEST(stream_io_goes_through_the_ring_on_io_uring)
{
    if (!on_io_uring())
        return;
    struct ring_use u = ring_use_on(WV_LOOP_IO_URING);
    WVT_GE(u.ios, 100); /* each read and each write */
    WVT_ASSERT(!u.by_readiness);
}

WVT_TEST(stream_io_on_epoll_is_by_readiness)
{
    struct ring_use u = ring_use_on(WV_LOOP_EPOLL);
    WVT_EQ(u.ios, 0);
    WVT_ASSERT(u.by_readiness);
}

WVT_TEST(stream_loop_backend_choice)
{
    WVT_ERR(wv_loop_set_backend((wv_loop_backend_t)7), WV_EINVAL);
    WVT_OK(wv_loop_set_backend(WV_LOOP_EPOLL));
    WVT_EQ(wv_loop_backend(), WV_LOOP_EPOLL);
    WVT_OK(wv_loop_set_backend(WV_LOOP_AUTO));
    WVT_NE(wv_loop_backend(), WV_LOOP_AUTO); /* always a real one */
}

/* ------------------------------------------------------------ batching */

WVT_TEST(stream_loop_batch_arguments)
{
    WVT_OK(wv_loop_set_batch(0, 0)); /* off: always allowed */
    WVT_ERR(wv_loop_set_batch(1, 200), WV_EINVAL);
    WVT_ERR(wv_loop_set_batch(257, 200), WV_EINVAL);
    WVT_ERR(wv_loop_set_batch(32, 0), WV_EINVAL);
    WVT_ERR(wv_loop_set_batch(0, 200), WV_EINVAL);
    WVT_ERR(wv_loop_set_batch(32, 1000001), WV_EINVAL);
    int err = wv_loop_set_batch(32, 200);
    WVT_EQ(err, wv__uring_batch_usable() ? 0 : WV_ENOSYS);
    WVT_OK(wv_loop_set_batch(0, 0));
}

/* A raw client on a plain thread: each round writes a numbered 16-byte
 * message on every connection, then reads every echo back and checks it,
 * so that several of the server's reads complete close together. */
struct batch_client {
    int *fds;
    int conns, rounds;
};

static void batch_client_fn(void *arg)
{
    struct batch_client *c = arg;
    for (int r = 0; r < c->rounds; r++) {
        char msg[32];
        for (int i = 0; i < c->conns; i++) {
            snprintf(msg, sizeof msg, "%07d:%08d", i, r);
            WVT_EQ(write(c->fds[i], msg, 16), 16);
        }
        for (int i = 0; i < c->conns; i++) {
            char got[16];
            size_t n = 0;
            while (n < sizeof got) {
                ssize_t k = read(c->fds[i], got + n, sizeof got - n);
                WVT_ASSERT(k > 0);
                n += (size_t)k;
            }
            snprintf(msg, sizeof msg, "%07d:%08d", i, r);
            WVT_ASSERT(memcmp(got, msg, 16) == 0);
        }
    }
    for (int i = 0; i < c->conns; i++)
        close(c->fds[i]);
}

/* W9's handler: echo what comes until the end. */
static void *batch_echo(void *arg)
{
    wv_stream_t *s = arg;
    char buf[256];
    for (;;) {
        size_t n = 0;
        int err = wv_stream_read(s, buf, sizeof buf, &n, wv_deadline_in(30000));
        if (err == WV_EOF)
            break;
        WVT_OK(err);
        WVT_OK(wv_stream_write(s, buf, n, NULL, WV_FOREVER));
        WVT_OK(wv_stream_drain(s, wv_deadline_in(30000)));
    }
    wv_stream_free(s);
    return NULL;
}

/* `conns` echo coroutines on this thread's loop against the raw client;
 * the blocking waits the loop made as batches. */
static uint64_t batch_exchange(int conns, int rounds)
{
    int server[64], client[64];
    WVT_ASSERT(conns <= 64);
    for (int i = 0; i < conns; i++) {
        int sv[2];
        socket_pair(sv);
        server[i] = sv[0], client[i] = sv[1];
    }
    uint64_t before = wv__loop_batches();
    for (int i = 0; i < conns; i++)
        WVT_OK(wv_go(batch_echo, stream_on(server[i], NULL)));
    struct batch_client c = {client, conns, rounds};
    wvt_thread_t *t = wvt_spawn(batch_client_fn, &c);
    WVT_OK(wv_coro_run(wv_deadline_in(60000)));
    wvt_join(t); /* the server's ends went with their streams */
    return wv__loop_batches() - before;
}

/* Batching on io_uring where the kernel has the min wait; false (the
 * case is skipped) elsewhere. */
static bool batching_here(void)
{
    if (!on_io_uring())
        return false;
    if (!wv__uring_batch_usable()) {
        printf("skip: io_uring's min wait (Linux 6.12) is not here\n");
        return false;
    }
    return true;
}

WVT_TEST(stream_loop_batch_serves_every_connection)
{
    if (!batching_here())
        return;
    WVT_OK(wv_loop_set_batch(8, 200));
    /* Every echo checked by the client; the waits went in as batches. */
    WVT_GT(batch_exchange(8, (int)wvt_scale(300)), 0);
}

WVT_TEST(stream_loop_batch_from_the_environment)
{
    if (!batching_here())
        return;
    WVT_OK(setenv("WEAVE_LOOP_BATCH", "8,200", 1));
    WVT_GT(batch_exchange(8, (int)wvt_scale(100)), 0);
}

WVT_TEST(stream_loop_batch_bad_environment_is_off)
{
    if (!batching_here())
        return;
    WVT_OK(setenv("WEAVE_LOOP_BATCH", "1,200", 1)); /* below 2: invalid */
    WVT_EQ(batch_exchange(8, (int)wvt_scale(100)), 0);
}

WVT_TEST(stream_loop_batch_never_holds_a_lone_exchange)
{
    if (!batching_here())
        return;
    WVT_OK(wv_loop_set_batch(32, 200000));
    /* One read or write in flight at a time: no wait is a batch (each
     * would hold the round trip 200 ms). */
    WVT_EQ(batch_exchange(1, (int)wvt_scale(200)), 0);
}

/* Eight reads wait on idle connections while a coroutine sleeps: each
 * wait of the loop is a batch (8 in flight) with a 1 s min wait, which
 * the kernel would keep past the sleep's timer: 40 sleeps of 10 ms would
 * take 40 s and time the case out. */
static void *idle_read(void *arg)
{
    wv_stream_t *s = arg;
    char buf[16];
    size_t n;
    WVT_ERR(wv_stream_read(s, buf, sizeof buf, &n, WV_FOREVER), WV_EOF);
    return NULL;
}

static void *sleeper(void *arg)
{
    int *fds = arg;
    for (int i = 0; i < 40; i++)
        WVT_OK(wv_sleep_ms(10));
    for (int i = 0; i < 8; i++)
        WVT_OK(shutdown(fds[i], SHUT_WR)); /* the idle reads end */
    return NULL;
}

WVT_TEST(stream_loop_batch_never_holds_a_timer)
{
    if (!batching_here())
        return;
    WVT_OK(wv_loop_set_batch(8, 1000000));
    int server[8], client[8];
    wv_stream_t *s[8];
    for (int i = 0; i < 8; i++) {
        int sv[2];
        socket_pair(sv);
        server[i] = sv[0], client[i] = sv[1];
        s[i] = stream_on(server[i], NULL);
        WVT_OK(wv_go(idle_read, s[i]));
    }
    uint64_t before = wv__loop_batches();
    WVT_OK(wv_go(sleeper, client));
    WVT_OK(wv_coro_run(wv_deadline_in(60000)));
    WVT_GT(wv__loop_batches() - before, 0); /* the waits were batches */
    for (int i = 0; i < 8; i++) {
        wv_stream_free(s[i]); /* and its end */
        close(client[i]);
    }
}

WVT_TEST(stream_loop_batch_is_ignored_on_epoll)
{
    WVT_OK(wv_loop_set_backend(WV_LOOP_EPOLL));
    int err = wv_loop_set_batch(8, 200);
    WVT_ASSERT(err == 0 || err == WV_ENOSYS);
    WVT_EQ(batch_exchange(8, (int)wvt_scale(100)), 0);
}

/* ------------------------------------------------------- flush_on_read */

/* Pairs need a kernel of 6.1 or later (DEFER_TASKRUN, CQE skipping). */
static bool kernel_pairs(void)
{
    struct utsname u;
    int major = 0, minor = 0;
    WVT_EQ(uname(&u), 0);
    sscanf(u.release, "%d.%d", &major, &minor);
    return major > 6 || (major == 6 && minor >= 1);
}

/* A raw peer: reads each 8-byte request whole, answers with it reversed. */
static void reverse_peer(void *arg)
{
    int fd = *(int *)arg;
    char req[8], rep[8];
    for (;;) {
        size_t got = 0;
        while (got < sizeof req) {
            ssize_t n = read(fd, req + got, sizeof req - got);
            if (n <= 0)
                return;
            got += (size_t)n;
        }
        for (int i = 0; i < 8; i++)
            rep[i] = req[7 - i];
        WVT_EQ(write(fd, rep, sizeof rep), (ssize_t)sizeof rep);
    }
}

struct exchange {
    wv_stream_t *s;
    int rounds;
    uint64_t pairs; /* wv__loop_pairs() made by this party */
};

/* Writes each request with no drain and reads the answer: without
 * flush_on_read the request would sit in the buffer and the read would
 * time out. */
static void *exchange_fn(void *arg)
{
    struct exchange *x = arg;
    uint64_t before = wv__loop_pairs();
    for (int i = 0; i < x->rounds; i++) {
        char req[16], rep[8], want[8];
        snprintf(req, sizeof req, "%08d", i);
        WVT_OK(wv_stream_write(x->s, req, 8, NULL, WV_FOREVER));
        WVT_EQ(wv_stream_write_pending(x->s), 8);
        size_t n;
        WVT_OK(wv_stream_read_exactly(x->s, rep, sizeof rep, &n,
                                      wv_deadline_in(10000)));
        WVT_EQ(wv_stream_write_pending(x->s), 0);
        for (int k = 0; k < 8; k++)
            want[k] = req[7 - k];
        WVT_ASSERT(memcmp(rep, want, 8) == 0);
    }
    x->pairs = wv__loop_pairs() - before;
    return NULL;
}

/* fn(arg) in a coroutine of this thread, joined (then the thread's loop
 * closed), or on the thread itself. */
static void run_as(bool in_coroutine, void *(*fn)(void *), void *arg)
{
    if (!in_coroutine) {
        fn(arg);
        return;
    }
    wv_coro_t *co;
    WVT_OK(wv_coro_spawn(&co, NULL, fn, arg));
    WVT_OK(wv_coro_join(co, NULL, WV_FOREVER));
    wv_coro_free(co);
    WVT_OK(wv_coro_run(WV_FOREVER));
}

static wv_stream_t *flushing_stream(int fd)
{
    wv_stream_opts_t o = {.flush_on_read = true};
    return stream_on(fd, &o);
}

/* Fills fd's socket to the brim with 'f' (fd left non-blocking); the
 * bytes written. */
static size_t fill_socket(int fd)
{
    char fill[4096];
    size_t filled = 0;
    memset(fill, 'f', sizeof fill);
    WVT_OK(fcntl(fd, F_SETFL, O_NONBLOCK));
    for (;;) {
        ssize_t n = write(fd, fill, sizeof fill);
        if (n < 0) {
            WVT_EQ(errno, EAGAIN);
            return filled;
        }
        filled += (size_t)n;
    }
}

static void flush_on_read_exchange(bool in_coroutine, bool tcp)
{
    int a, b;
    if (tcp) {
        tcp_pair(&a, &b);
    } else {
        int sv[2];
        socket_pair(sv);
        a = sv[0], b = sv[1];
    }
    struct exchange x = {flushing_stream(a), (int)wvt_scale(2000), 0};
    wvt_thread_t *peer = wvt_spawn(reverse_peer, &b);
    run_as(in_coroutine, exchange_fn, &x); /* a thread: on its own ring */
    /* Each exchange went in as one submission where pairs exist. */
    if (wv_loop_backend() == WV_LOOP_IO_URING && kernel_pairs())
        WVT_EQ(x.pairs, (uint64_t)x.rounds);
    else
        WVT_EQ(x.pairs, 0);
    wv_stream_free(x.s);
    shutdown(b, SHUT_WR); /* the peer's read ends */
    wvt_join(peer);
    close(b);
}

WVT_TEST(stream_flush_on_read_coroutine_unix)
{
    flush_on_read_exchange(true, false);
}

WVT_TEST(stream_flush_on_read_coroutine_tcp)
{
    flush_on_read_exchange(true, true);
}

WVT_TEST(stream_flush_on_read_thread)
{
    flush_on_read_exchange(false, true);
}

/* The write fails (the peer is gone): the read says why, the error stays
 * the stream's write error, and nothing was read. */
static void *write_fails_fn(void *arg)
{
    wv_stream_t *s = arg;
    char buf[16];
    size_t n = 99;
    WVT_OK(wv_stream_write(s, "request!", 8, NULL, WV_FOREVER));
    int err = wv_stream_read(s, buf, sizeof buf, &n, wv_deadline_in(10000));
    WVT_ASSERT(err == WV_EPIPE || err == WV_ECONNRESET);
    WVT_EQ(n, 0);
    WVT_ERR(wv_stream_write(s, "x", 1, NULL, WV_FOREVER), err);
    return NULL;
}

static void write_error_case(bool in_coroutine)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would end the test */
    int sv[2];
    socket_pair(sv);
    close(sv[1]);
    wv_stream_t *s = flushing_stream(sv[0]);
    run_as(in_coroutine, write_fails_fn, s);
    wv_stream_free(s);
    check_no_sigpipe();
}

WVT_TEST(stream_flush_on_read_write_error_is_the_reads)
{
    write_error_case(true);
}

/* The peer reads nothing until told: the socket fills, the request's
 * write blocks inside the read, and the read's deadline ends it with the
 * unwritten bytes still pending.  The next read writes them out and gets
 * the answer: the peer receives every byte once, in order. */
struct blocked {
    wv_stream_t *s;
    int peer;
    size_t filled;
};

static void *blocked_write_fn(void *arg)
{
    struct blocked *bw = arg;
    static char big[48 * 1024];
    memset(big, 'r', sizeof big);
    WVT_OK(wv_stream_write(bw->s, big, sizeof big, NULL, WV_FOREVER));
    char buf[8];
    size_t n;
    WVT_ERR(wv_stream_read(bw->s, buf, sizeof buf, &n, wv_deadline_in(50)),
            WV_ETIMEDOUT);
    WVT_GT(wv_stream_write_pending(bw->s), 0);
    return NULL;
}

static void *blocked_finish_fn(void *arg)
{
    struct blocked *bw = arg;
    char buf[8];
    WVT_OK(wv_stream_read_exactly(bw->s, buf, 4, &(size_t){0},
                                  wv_deadline_in(10000)));
    WVT_ASSERT(memcmp(buf, "done", 4) == 0);
    WVT_EQ(wv_stream_write_pending(bw->s), 0);
    return NULL;
}

static void drain_and_answer(void *arg)
{
    struct blocked *bw = arg;
    size_t want = bw->filled + 48 * 1024, got = 0;
    char buf[4096];
    while (got < want) {
        ssize_t n = read(bw->peer, buf, sizeof buf);
        WVT_GT(n, 0);
        for (ssize_t i = 0; i < n; i++)
            WVT_EQ(buf[i], got + (size_t)i < bw->filled ? 'f' : 'r');
        got += (size_t)n;
    }
    WVT_EQ(write(bw->peer, "done", 4), 4);
}

static void blocked_write_case(bool in_coroutine)
{
    int sv[2];
    socket_pair(sv);
    struct blocked bw = {.peer = sv[1], .filled = fill_socket(sv[0])};
    bw.s = flushing_stream(sv[0]);
    run_as(in_coroutine, blocked_write_fn, &bw);
    wvt_thread_t *peer = wvt_spawn(drain_and_answer, &bw);
    run_as(in_coroutine, blocked_finish_fn, &bw);
    wvt_join(peer);
    wv_stream_free(bw.s);
    close(sv[1]);
}

WVT_TEST(stream_flush_on_read_deadline_while_the_write_blocks)
{
    blocked_write_case(true);
}

/* A cancelled exchange: while the write blocks (nothing of it went: it
 * stays pending), and while the read waits after the write went (the
 * peer has the bytes, once, and none stay pending to be sent again). */
struct cancelled {
    wv_stream_t *s;
    int err;
};

static void *cancelled_exchange_fn(void *arg)
{
    struct cancelled *c = arg;
    char buf[8];
    size_t n;
    WVT_OK(wv_stream_write(c->s, "12345678", 8, NULL, WV_FOREVER));
    c->err = wv_stream_read(c->s, buf, sizeof buf, &n, WV_FOREVER);
    return NULL;
}

static void cancel_exchange(wv_stream_t *s, int *err)
{
    struct cancelled c = {s, 0};
    wv_coro_t *co;
    WVT_OK(wv_coro_spawn(&co, NULL, cancelled_exchange_fn, &c));
    WVT_ERR(wv_coro_run(0), WV_EAGAIN); /* it runs, and parks */
    wv_coro_cancel(co);
    WVT_OK(wv_coro_join(co, NULL, WV_FOREVER));
    wv_coro_free(co);
    *err = c.err;
}

WVT_TEST(stream_flush_on_read_cancelled)
{
    int sv[2];
    socket_pair(sv);
    wv_stream_t *s = flushing_stream(sv[0]);
    int err;

    /* The write went; the read was waiting. */
    cancel_exchange(s, &err);
    WVT_ERR(err, WV_ECANCELED);
    WVT_EQ(wv_stream_write_pending(s), 0);
    char buf[16];
    WVT_EQ(read(sv[1], buf, sizeof buf), 8);
    WVT_ASSERT(memcmp(buf, "12345678", 8) == 0);

    /* The socket full: the write could not go. */
    size_t filled = fill_socket(sv[0]);
    cancel_exchange(s, &err);
    WVT_ERR(err, WV_ECANCELED);
    WVT_EQ(wv_stream_write_pending(s), 8);
    /* Let it through: the peer takes the fill, then the 8 bytes once. */
    char fill[4096];
    size_t got = 0;
    while (got < filled) {
        size_t want = filled - got < sizeof fill ? filled - got : sizeof fill;
        ssize_t n = read(sv[1], fill, want);
        WVT_GT(n, 0);
        got += (size_t)n;
    }
    WVT_OK(wv_stream_drain(s, wv_deadline_in(10000)));
    WVT_EQ(read(sv[1], buf, sizeof buf), 8);
    WVT_ASSERT(memcmp(buf, "12345678", 8) == 0);
    WVT_OK(wv_coro_run(WV_FOREVER));
    wv_stream_free(s);
    close(sv[1]);
}

/* The request went; the answer comes after the read's deadline: the read
 * says WV_ETIMEDOUT with nothing pending, nothing lands in its buffer
 * (large enough to be read into directly) after it returned, and the
 * next read gets the answer. */
struct late {
    wv_stream_t *s;
    int peer;
};

static void *late_answer_fn(void *arg)
{
    struct late *l = arg;
    static char buf[64 * 1024];
    size_t n = 99;
    WVT_OK(wv_stream_write(l->s, "question", 8, NULL, WV_FOREVER));
    memset(buf, '-', sizeof buf);
    WVT_ERR(wv_stream_read(l->s, buf, sizeof buf, &n, wv_deadline_in(30)),
            WV_ETIMEDOUT);
    WVT_EQ(n, 0);
    WVT_EQ(wv_stream_write_pending(l->s), 0);
    char got[16];
    WVT_EQ(read(l->peer, got, sizeof got), 8);
    WVT_ASSERT(memcmp(got, "question", 8) == 0);
    put(l->peer, "answer", 6);
    if (wv_coro_self())
        WVT_OK(wv_coro_yield()); /* a late completion would land now */
    for (size_t i = 0; i < 64; i++)
        WVT_EQ(buf[i], '-');
    WVT_OK(wv_stream_read(l->s, buf, sizeof buf, &n, wv_deadline_in(10000)));
    WVT_ASSERT(n == 6 && memcmp(buf, "answer", 6) == 0);
    return NULL;
}

static void late_answer_case(bool in_coroutine)
{
    int sv[2];
    socket_pair(sv);
    struct late l = {flushing_stream(sv[0]), sv[1]};
    run_as(in_coroutine, late_answer_fn, &l);
    wv_stream_free(l.s);
    close(sv[1]);
}

WVT_TEST(stream_flush_on_read_deadline_after_the_send)
{
    late_answer_case(true);
}

/* The same from a plain thread (its pairs on the descriptor's own ring
 * where io_uring is chosen; else the drain, then the read). */
WVT_TEST(stream_flush_on_read_thread_write_error)
{
    write_error_case(false);
}

WVT_TEST(stream_flush_on_read_thread_deadline_while_the_write_blocks)
{
    blocked_write_case(false);
}

WVT_TEST(stream_flush_on_read_thread_deadline_after_the_send)
{
    late_answer_case(false);
}

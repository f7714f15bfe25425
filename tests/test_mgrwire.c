/*
 * tests/test_mgrwire.c - the manager's wire layer (manager/wire.h):
 * frames over socketpairs, the HMAC vectors of MANAGER-PROTOCOL.md 2.4,
 * both handshake roles against each other, against scripted hostile
 * peers, and against every CPython interpreter present (python3 and
 * pyenv's 3.8 ... 3.13), through multiprocessing.connection's Listener
 * and Client, which run the manager's very handshake and framing.
 */
#include "runner.h"

#include "core/internal.h"
#include "manager/hmac.h"
#include "manager/wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glob.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define KEY "abc"

/* ------------------------------------------------------------ helpers */

static size_t unhex(const char *hex, unsigned char *out)
{
    size_t n = 0;
    for (; hex[0] && hex[1]; hex += 2) {
        unsigned v;
        WVT_EQ(sscanf(hex, "%2x", &v), 1);
        out[n++] = (unsigned char)v;
    }
    return n;
}

/* A socketpair: *s a stream over sv[0], *peer the raw sv[1]. */
static void pair(wv_stream_t **s, int *peer)
{
    int sv[2];
    WVT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    WVT_OK(wv_stream_new(s, NULL, sv[0]));
    *peer = sv[1];
}

static void write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        WVT_GT(n, 0);
        p += n, len -= (size_t)n;
    }
}

/* Reads exactly len bytes; false at the end before them. */
static bool read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        WVT_GE(n, 0);
        if (n == 0)
            return false;
        p += n, len -= (size_t)n;
    }
    return true;
}

static void peer_send(int fd, const void *data, size_t len)
{
    unsigned char head[4];
    head[0] = (unsigned char)(len >> 24), head[1] = (unsigned char)(len >> 16);
    head[2] = (unsigned char)(len >> 8), head[3] = (unsigned char)len;
    write_all(fd, head, 4);
    write_all(fd, data, len);
}

/* One frame of at most cap bytes from the raw end: its length. */
static size_t peer_recv(int fd, void *buf, size_t cap)
{
    unsigned char head[4];
    WVT_ASSERT(read_all(fd, head, 4));
    size_t len = (size_t)head[0] << 24 | head[1] << 16 | head[2] << 8 | head[3];
    WVT_LE(len, cap);
    WVT_ASSERT(read_all(fd, buf, len));
    return len;
}

/* true when the raw end reads the end (nothing more was sent). */
static bool peer_at_end(int fd)
{
    char c;
    ssize_t n;
    while ((n = read(fd, &c, 1)) < 0 && errno == EINTR)
        ;
    return n == 0;
}

static void hmac_of(wv__mgr_digest_t d, const char *key, const void *msg,
                    size_t len, unsigned char *out, size_t *out_len)
{
    WVT_OK(wv__mgr_hmac(d, key, strlen(key), msg, len, out, out_len));
}

static unsigned char pat(size_t i)
{
    return (unsigned char)(i * 7 + i / 251);
}

static char *pattern(size_t len)
{
    char *p = malloc(len + 1);
    WVT_ASSERT(p);
    for (size_t i = 0; i < len; i++)
        p[i] = (char)pat(i);
    return p;
}

static void expect_frame(wv_stream_t *s, size_t len)
{
    char *got;
    size_t n;
    WVT_OK(wv__mgr_recv_frame(s, SIZE_MAX, &got, &n, wv_deadline_in(10000)));
    WVT_EQ(n, len);
    WVT_EQ(got[len], 0);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)got[i] != pat(i))
            WVT_FAIL("byte %zu of %zu", i, len);
    wv__free(got);
}

/* ------------------------------------------------------------- frames */

static const size_t sizes[] = {0, 1, 16384, 16385, 1 << 20};
#define NSIZES (sizeof sizes / sizeof sizes[0])

struct sender {
    wv_stream_t *s;
    bool framed; /* wv__mgr_send_framed, else wv__mgr_send_frame */
};

static void send_sizes(void *arg)
{
    struct sender *sd = arg;
    for (size_t i = 0; i < NSIZES; i++) {
        char *p = pattern(sizes[i]);
        int64_t d = wv_deadline_in(10000);
        if (sd->framed) {
            char *buf = malloc(4 + sizes[i]);
            memcpy(buf + 4, p, sizes[i]);
            WVT_OK(wv__mgr_send_framed(sd->s, buf, sizes[i], d));
            free(buf);
        } else {
            WVT_OK(wv__mgr_send_frame(sd->s, p, sizes[i], d));
        }
        free(p);
    }
}

WVT_TEST(mgrwire_frame_round_trips)
{
    for (int framed = 0; framed < 2; framed++) {
        int sv[2];
        wv_stream_t *a, *b;
        WVT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        WVT_OK(wv_stream_new(&a, NULL, sv[0]));
        WVT_OK(wv_stream_new(&b, NULL, sv[1]));
        struct sender sd = {a, framed};
        wvt_thread_t *th = wvt_spawn(send_sizes, &sd);
        for (size_t i = 0; i < NSIZES; i++)
            expect_frame(b, sizes[i]);
        wvt_join(th);
        wv_stream_free(a);
        char *got;
        size_t n;
        WVT_ERR(wv__mgr_recv_frame(b, 100, &got, &n, wv_deadline_in(5000)),
                WV_EOF);
        WVT_ASSERT(got == NULL && n == 0);
        wv_stream_free(b);
    }
}

WVT_TEST(mgrwire_frame_header_bytes)
{
    wv_stream_t *s;
    int peer;
    pair(&s, &peer);
    unsigned char head[4];
    int64_t d = wv_deadline_in(5000);
    WVT_OK(wv__mgr_send_frame(s, "#WELCOME#", 9, d));
    WVT_ASSERT(read_all(peer, head, 4));
    WVT_ASSERT(memcmp(head, "\0\0\0\x09", 4) == 0);
    char buf[16];
    WVT_ASSERT(read_all(peer, buf, 9));
    WVT_ERR(wv__mgr_send_framed(s, buf, (size_t)INT32_MAX + 1, d), WV_EMSGSIZE);
    WVT_ERR(wv__mgr_send_frame(NULL, "x", 1, d), WV_EINVAL);
    WVT_ERR(wv__mgr_send_frame(s, NULL, 1, d), WV_EINVAL);
    char *got;
    size_t n;
    WVT_ERR(wv__mgr_recv_frame(s, 1, NULL, &n, d), WV_EINVAL);
    WVT_ERR(wv__mgr_recv_frame(s, 1, &got, NULL, d), WV_EINVAL);
    wv_stream_free(s);
    close(peer);
}

/* Feeds raw bytes, then the end, and receives one frame with max. */
static int feed(const void *raw, size_t len, size_t max, char **got, size_t *n)
{
    wv_stream_t *s;
    int peer;
    pair(&s, &peer);
    write_all(peer, raw, len);
    close(peer);
    int err = wv__mgr_recv_frame(s, max, got, n, wv_deadline_in(5000));
    wv_stream_free(s);
    return err;
}

WVT_TEST(mgrwire_frame_escape_and_bad_lengths)
{
    char *got;
    size_t n;
    /* The escape with a small length is read, as CPython does. */
    WVT_OK(feed("\xff\xff\xff\xff\0\0\0\0\0\0\0\x05hello", 17, 256, &got, &n));
    WVT_EQ(n, 5);
    WVT_ASSERT(memcmp(got, "hello", 6) == 0);
    wv__free(got);
    WVT_OK(feed("\xff\xff\xff\xff\0\0\0\0\0\0\0\0", 12, 0, &got, &n));
    WVT_EQ(n, 0);
    wv__free(got);
    /* Other negative lengths. */
    WVT_ERR(feed("\xff\xff\xff\xfe", 4, 256, &got, &n), WV_EPROTO);
    WVT_ERR(feed("\x80\0\0\0", 4, 256, &got, &n), WV_EPROTO);
    WVT_ERR(feed("\x80\0\0\0"
                 "abcd",
                 8, 256, &got, &n),
            WV_EPROTO);
    WVT_ASSERT(got == NULL && n == 0);
    /* The end before, and inside, a frame. */
    WVT_ERR(feed("", 0, 256, &got, &n), WV_EOF);
    WVT_ERR(feed("\0\0", 2, 256, &got, &n), WV_EPROTO);
    WVT_ERR(feed("\0\0\0\x0a"
                 "abc",
                 7, 256, &got, &n),
            WV_EPROTO);
    WVT_ERR(feed("\xff\xff\xff\xff\0\0", 6, 256, &got, &n), WV_EPROTO);
    WVT_ERR(feed("\xff\xff\xff\xff\0\0\0\0\0\0\0\x05he", 14, 256, &got, &n),
            WV_EPROTO);
    /* A length announced huge, with max unbounded: the buffer grows with
     * what comes (the end after 3 bytes), never to 2^62. */
    wvt_alloc_install();
    WVT_ERR(feed("\xff\xff\xff\xff\x40\0\0\0\0\0\0\0"
                 "abc",
                 15, SIZE_MAX, &got, &n),
            WV_EPROTO);
    WVT_EQ(wvt_alloc_live(), 0);
    WVT_ERR(feed("\x7f\xff\xff\xff"
                 "abc",
                 7, SIZE_MAX, &got, &n),
            WV_EPROTO);
    WVT_EQ(wvt_alloc_live(), 0);
    wvt_alloc_uninstall();
    WVT_ASSERT(got == NULL && n == 0);
}

WVT_TEST(mgrwire_frame_over_max_reads_no_body)
{
    static const char *heads[] = {
        "\0\0\x01\x01", /* 257 */
        "\xff\xff\xff\xff\0\0\0\0\0\0\x01\x01",
        "\xff\xff\xff\xff\x7f\xff\xff\xff\xff\xff\xff\xff"};
    static const size_t head_len[] = {4, 12, 12};
    for (int i = 0; i < 3; i++) {
        wv_stream_t *s;
        int peer;
        pair(&s, &peer);
        write_all(peer, heads[i], head_len[i]);
        write_all(peer, "BODY", 4);
        char *got, rest[8];
        size_t n;
        int64_t d = wv_deadline_in(5000);
        WVT_ERR(wv__mgr_recv_frame(s, 256, &got, &n, d), WV_EMSGSIZE);
        WVT_ASSERT(got == NULL && n == 0);
        /* The body is still there, unread. */
        WVT_OK(wv_stream_read_exactly(s, rest, 4, &n, d));
        WVT_ASSERT(memcmp(rest, "BODY", 4) == 0);
        wv_stream_free(s);
        close(peer);
    }
}

struct dribble {
    int fd;
    const unsigned char *data;
    size_t len;
};

static void dribble(void *arg)
{
    struct dribble *dr = arg;
    for (size_t i = 0; i < dr->len; i++)
        write_all(dr->fd, dr->data + i, 1);
}

WVT_TEST(mgrwire_frame_byte_by_byte)
{
    size_t len = 3000, total = 4 + len + 12 + 7 + 4;
    unsigned char *raw = malloc(total), *p = raw;
    char *body = pattern(len);
    memcpy(p, "\0\0\x0b\xb8", 4), p += 4;
    memcpy(p, body, len), p += len;
    memcpy(p, "\xff\xff\xff\xff\0\0\0\0\0\0\0\x07", 12), p += 12;
    memcpy(p, body, 7), p += 7;
    memcpy(p, "\0\0\0\0", 4);
    wv_stream_t *s;
    struct dribble dr = {.data = raw, .len = total};
    pair(&s, &dr.fd);
    wvt_thread_t *th = wvt_spawn(dribble, &dr);
    expect_frame(s, len);
    expect_frame(s, 7);
    expect_frame(s, 0);
    wvt_join(th);
    close(dr.fd);
    char *got;
    size_t n;
    WVT_ERR(wv__mgr_recv_frame(s, 1, &got, &n, wv_deadline_in(5000)), WV_EOF);
    wv_stream_free(s);
    free(body);
    free(raw);
}

WVT_TEST(mgrwire_frame_deadlines)
{
    wv_stream_t *s;
    int peer;
    pair(&s, &peer);
    char *got;
    size_t n;
    WVT_ERR(wv__mgr_recv_frame(s, 256, &got, &n, 0), WV_EAGAIN);
    int64_t t0 = wv_now();
    WVT_ERR(wv__mgr_recv_frame(s, 256, &got, &n, wv_deadline_in(100)),
            WV_ETIMEDOUT);
    WVT_GE(wv_now() - t0, 90);
    /* Half a header: the time-out loses nothing of it. */
    write_all(peer, "\0\0", 2);
    WVT_ERR(wv__mgr_recv_frame(s, 256, &got, &n, wv_deadline_in(50)),
            WV_ETIMEDOUT);
    write_all(peer,
              "\0\x03"
              "abc",
              5);
    WVT_OK(wv__mgr_recv_frame(s, 256, &got, &n, wv_deadline_in(5000)));
    WVT_EQ(n, 3);
    WVT_ASSERT(memcmp(got, "abc", 3) == 0);
    wv__free(got);
    /* Inside a body: a time-out, and no leak. */
    write_all(peer,
              "\0\0\0\x0a"
              "abc",
              7);
    wvt_alloc_install();
    WVT_ERR(wv__mgr_recv_frame(s, 256, &got, &n, wv_deadline_in(50)),
            WV_ETIMEDOUT);
    WVT_EQ(wvt_alloc_live(), 0);
    wvt_alloc_uninstall();
    wv_stream_free(s);
    close(peer);
}

/* One frame of 200000 bytes (the buffer grows from 64 KiB twice) from a
 * fresh socketpair, every allocation of it a fault point. */
static int recv_big(void *arg)
{
    size_t len = 200000;
    int sv[2];
    WVT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int buf = 1 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    char *body = pattern(len);
    peer_send(sv[1], body, len);
    free(body);
    close(sv[1]);
    wv_stream_t *s;
    int err = wv_stream_new(&s, NULL, sv[0]);
    if (err) {
        close(sv[0]);
        return err;
    }
    char *got;
    size_t n;
    err = wv__mgr_recv_frame(s, SIZE_MAX, &got, &n, wv_deadline_in(5000));
    if (!err) {
        WVT_EQ(n, len);
        wv__free(got);
    } else {
        WVT_ASSERT(got == NULL && n == 0);
    }
    wv_stream_free(s);
    return err;
}

WVT_TEST(mgrwire_frame_enomem)
{
    WVT_GE(wvt_faultsim(recv_big, NULL), 4);
}

/* -------------------------------------------------------------- HMAC */

struct vector {
    wv__mgr_digest_t digest;
    const char *msg, *mac;
};

/* MANAGER-PROTOCOL.md 2.4 (key b'abc'): the messages after #CHALLENGE#
 * and the answers' MACs, from scenario_server3.13_client3.13 (modern),
 * scenario_server3.8_client3.8 (legacy) and scenario_server3.13_client3.8
 * (a 3.8 client's raw MD5 over a modern 48-byte message). */
static const struct vector vectors[] = {
    {WV__MGR_SHA256,
     "7b7368613235367d3250fb7816c0cee3255906d4222a5d529d91e7bc13289c6a3d12c5b2"
     "4d295b95ab18bbcf6da1275e",
     "e4b0f0e00421ed2f1dff1a98377d87dcbb3db4ca958a97724ade6f1d33ed2b0e"},
    {WV__MGR_SHA256,
     "7b7368613235367dc3037e38661ca78264340cd1ac243a350fd71f1e5e0ffa4c773e6591"
     "e09de2b739f3920c3975c83f",
     "246ec58c3573982283e134b93e329af2f8021c97914737135d8d2a6879fb7d63"},
    {WV__MGR_MD5, "dcffe7c420cf268777470d18d82a872cc74456cb",
     "a9f93337edf05540c56de610a77498d3"},
    {WV__MGR_MD5, "15447880663d9b66f729b90e4b79e08d0f6caa0a",
     "9f590b3fd1d32e6fe0e05b5ba8432904"},
    {WV__MGR_MD5,
     "7b7368613235367d879ed7ebb380225ac1e00508ebc87cbdd28dcfb8c2839a1dc46c92da"
     "496178aa5112e897c3216dd6",
     "ad6ff7e261f66fc3077404f652497752"},
    {WV__MGR_MD5, "1bd995105604469d9b34982818eee68bb609a5df",
     "2f8e17e0cbdbccb261b3ca34f507e0b7"},
};

WVT_TEST(mgrwire_hmac_vectors)
{
    if (!wv__mgr_crypto_present()) {
        printf("no libcrypto in this build: skipped\n");
        return;
    }
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        unsigned char msg[64], want[64], mac[WV__MGR_DIGEST_MAX];
        size_t len = unhex(vectors[i].msg, msg), mac_len;
        size_t want_len = unhex(vectors[i].mac, want);
        hmac_of(vectors[i].digest, KEY, msg, len, mac, &mac_len);
        WVT_EQ(mac_len, want_len);
        WVT_ASSERT(memcmp(mac, want, mac_len) == 0);
        WVT_ASSERT(wv__mgr_equal(mac, want, mac_len));
        mac[mac_len - 1] ^= 1;
        WVT_ASSERT(!wv__mgr_equal(mac, want, mac_len));
    }
    /* The sizes of the other digests, and an empty key. */
    static const size_t size_of[] = {16, 32, 48, 32, 48};
    for (int d = WV__MGR_MD5; d <= WV__MGR_SHA3_384; d++) {
        unsigned char mac[WV__MGR_DIGEST_MAX];
        size_t mac_len;
        hmac_of((wv__mgr_digest_t)d, "", "m", 1, mac, &mac_len);
        WVT_EQ(mac_len, size_of[d]);
    }
    /* HMAC-SHA256(key "key", "The quick brown fox jumps over the lazy
     * dog"), the well-known value. */
    unsigned char mac[WV__MGR_DIGEST_MAX], want[32];
    size_t mac_len;
    const char *fox = "The quick brown fox jumps over the lazy dog";
    hmac_of(WV__MGR_SHA256, "key", fox, strlen(fox), mac, &mac_len);
    unhex("f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8",
          want);
    WVT_ASSERT(memcmp(mac, want, 32) == 0);
    unsigned char r1[40], r2[40];
    WVT_OK(wv__mgr_random(r1, sizeof r1));
    WVT_OK(wv__mgr_random(r2, sizeof r2));
    WVT_ASSERT(memcmp(r1, r2, sizeof r1) != 0);
}

/* A build without libcrypto: both roles answer WV_ENOSYS, having sent
 * nothing (checked in the WEAVE_TLS=OFF build; skipped elsewhere). */
WVT_TEST(mgrwire_auth_enosys_without_crypto)
{
    if (wv__mgr_crypto_present()) {
        printf("libcrypto present: skipped\n");
        return;
    }
    wv__mgr_auth_t auth = {KEY, 3, false};
    for (int server = 0; server < 2; server++) {
        wv_stream_t *s;
        int peer;
        pair(&s, &peer);
        int64_t d = wv_deadline_in(5000);
        WVT_ERR(server ? wv__mgr_auth_server(s, &auth, d)
                       : wv__mgr_auth_client(s, &auth, d),
                WV_ENOSYS);
        wv_stream_free(s);
        WVT_ASSERT(peer_at_end(peer));
        close(peer);
    }
}

/* ------------------------------------------------ a role in a thread */

struct role {
    wv_stream_t *s;
    wv__mgr_auth_t auth;
    bool server;
    int64_t deadline;
    int err;
    wvt_thread_t *th;
};

static void role_run(void *arg)
{
    struct role *r = arg;
    r->err = r->server ? wv__mgr_auth_server(r->s, &r->auth, r->deadline)
                       : wv__mgr_auth_client(r->s, &r->auth, r->deadline);
}

/* Runs a side of the handshake over fd (the role owns it) in a thread. */
static void role_start(struct role *r, int fd, bool server, const char *key,
                       bool strict)
{
    memset(r, 0, sizeof *r);
    WVT_OK(wv_stream_new(&r->s, NULL, fd));
    r->auth.key = key;
    r->auth.keylen = strlen(key);
    r->auth.strict = strict;
    r->server = server;
    r->deadline = wv_deadline_in(10000);
    r->th = wvt_spawn(role_run, r);
}

/* Joins; the stream stays open (r->s) for the caller. */
static int role_join(struct role *r)
{
    wvt_join(r->th);
    return r->err;
}

static bool no_crypto(void)
{
    if (wv__mgr_crypto_present())
        return false;
    printf("no libcrypto in this build: skipped\n");
    return true;
}

/* Server and client in C over a socketpair: both results. */
static void c_vs_c(const char *skey, bool sstrict, const char *ckey,
                   bool cstrict, int *serr, int *cerr)
{
    int sv[2];
    WVT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct role srv, cli;
    role_start(&srv, sv[0], true, skey, sstrict);
    role_start(&cli, sv[1], false, ckey, cstrict);
    *serr = role_join(&srv);
    if (*serr)
        wv_stream_free(srv.s); /* nothing more for the client */
    *cerr = role_join(&cli);
    if (*serr == 0) {
        /* Frames flow after the handshake. */
        if (*cerr == 0) {
            int64_t d = wv_deadline_in(5000);
            char *got;
            size_t n;
            WVT_OK(wv__mgr_send_frame(cli.s, "req", 3, d));
            WVT_OK(wv__mgr_recv_frame(srv.s, 16, &got, &n, d));
            WVT_EQ(n, 3);
            wv__free(got);
        }
        wv_stream_free(srv.s);
    }
    wv_stream_free(cli.s);
}

WVT_TEST(mgrwire_c_server_c_client)
{
    if (no_crypto())
        return;
    int serr, cerr;
    for (int strict = 0; strict < 4; strict++) {
        c_vs_c(KEY, strict & 1, KEY, strict & 2, &serr, &cerr);
        WVT_OK(serr);
        WVT_OK(cerr);
    }
    /* The client's answer is wrong: the server says #FAILURE#. */
    c_vs_c(KEY, false, "abd", false, &serr, &cerr);
    WVT_ERR(serr, WV_EAUTH);
    WVT_ERR(cerr, WV_EAUTH);
    c_vs_c("", false, KEY, true, &serr, &cerr);
    WVT_ERR(serr, WV_EAUTH);
    WVT_ERR(cerr, WV_EAUTH);
    /* Empty keys on both sides work (CPython 3.13 does the same). */
    c_vs_c("", false, "", false, &serr, &cerr);
    WVT_OK(serr);
    WVT_OK(cerr);
}

/* ----------------------------------------------- scripted CPython peers */

/*
 * A client as CPython plays it, scripted on the raw end: answers the
 * server's challenge (legacy: raw MD5 whatever the message; else in the
 * form asked, or with digest `answer_with` when >= 0), reads the
 * verdict, sends its challenge (legacy: 20 bytes; else {name} + 40 with
 * name = `challenge_with`'s) and checks the server's answer.  Returns
 * the verdict read (0 welcome, WV_EAUTH failure); *answered: whether the
 * server's answer was right.
 */
static const char *const names[] = {"md5", "sha256", "sha384", "sha3_256",
                                    "sha3_384"};

/* The frame answering msg[0..len) with digest d (or raw MD5). */
static size_t answer_for(const char *key, const unsigned char *msg, size_t len,
                         int d, bool raw, unsigned char *out)
{
    size_t skip = 0, mac_len;
    if (!raw) {
        skip = (size_t)sprintf((char *)out, "{%s}", names[d]);
    }
    hmac_of(raw ? WV__MGR_MD5 : (wv__mgr_digest_t)d, key, msg, len, out + skip,
            &mac_len);
    return skip + mac_len;
}

static size_t challenge_for(bool legacy, int d, unsigned char *out)
{
    memcpy(out, "#CHALLENGE#", 11);
    size_t skip =
        legacy ? 0 : (size_t)sprintf((char *)out + 11, "{%s}", names[d]);
    WVT_OK(wv__mgr_random(out + 11 + skip, legacy ? 20 : 40));
    return 11 + skip + (legacy ? 20 : 40);
}

static bool is_verdict(const unsigned char *buf, size_t n, const char *what)
{
    return n == 9 && memcmp(buf, what, 9) == 0;
}

struct script {
    bool legacy;        /* play CPython <= 3.11 */
    int answer_with;    /* client: the digest of our answer, -1: as asked */
    int challenge_with; /* the digest named in our challenge */
};

static int script_client(int fd, const struct script *sc, bool *answered)
{
    unsigned char buf[300], reply[128], chal[128];
    size_t n = peer_recv(fd, buf, sizeof buf);
    WVT_ASSERT(n == 59 && memcmp(buf, "#CHALLENGE#{sha256}", 19) == 0);
    int d = sc->answer_with >= 0 ? sc->answer_with : WV__MGR_SHA256;
    size_t m = answer_for(KEY, buf + 11, n - 11, d, sc->legacy, reply);
    peer_send(fd, reply, m);
    n = peer_recv(fd, buf, sizeof buf);
    if (is_verdict(buf, n, "#FAILURE#"))
        return WV_EAUTH;
    WVT_ASSERT(is_verdict(buf, n, "#WELCOME#"));
    size_t c = challenge_for(sc->legacy, sc->challenge_with, chal);
    peer_send(fd, chal, c);
    n = peer_recv(fd, buf, sizeof buf);
    m = answer_for(KEY, chal + 11, c - 11, sc->challenge_with,
                   sc->legacy || c - 11 == 20, reply);
    *answered = n == m && memcmp(buf, reply, m) == 0;
    peer_send(fd, *answered ? "#WELCOME#" : "#FAILURE#", 9);
    return 0;
}

static int script_server(int fd, const struct script *sc, bool *answered)
{
    unsigned char buf[300], reply[128], chal[128];
    size_t c = challenge_for(sc->legacy, sc->challenge_with, chal);
    peer_send(fd, chal, c);
    size_t n = peer_recv(fd, buf, sizeof buf);
    size_t m = answer_for(KEY, chal + 11, c - 11, sc->challenge_with,
                          sc->legacy, reply);
    *answered = n == m && memcmp(buf, reply, m) == 0;
    peer_send(fd, *answered ? "#WELCOME#" : "#FAILURE#", 9);
    if (!*answered)
        return 0;
    n = peer_recv(fd, buf, sizeof buf);
    WVT_ASSERT(n == 59 && memcmp(buf, "#CHALLENGE#{sha256}", 19) == 0);
    m = answer_for(KEY, buf + 11, n - 11, WV__MGR_SHA256, sc->legacy, reply);
    peer_send(fd, reply, m);
    n = peer_recv(fd, buf, sizeof buf);
    return is_verdict(buf, n, "#WELCOME#") ? 0 : WV_EAUTH;
}

/* weave (server if `server`) against a scripted peer: weave's result;
 * *peer_err and *answered as the script says. */
static int vs_script(bool server, bool strict, const struct script *sc,
                     int *peer_err, bool *answered)
{
    int sv[2];
    WVT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct role r;
    role_start(&r, sv[0], server, KEY, strict);
    *answered = false;
    *peer_err = server ? script_client(sv[1], sc, answered)
                       : script_server(sv[1], sc, answered);
    int err = role_join(&r);
    wv_stream_free(r.s);
    close(sv[1]);
    return err;
}

WVT_TEST(mgrwire_scripted_digests_and_legacy)
{
    if (no_crypto())
        return;
    int perr;
    bool answered;
    /* Every allowed digest, both ways, modern. */
    for (int d = 0; d < 5; d++) {
        struct script sc = {false, d, d};
        WVT_OK(vs_script(true, d != WV__MGR_MD5 ? true : false, &sc, &perr,
                         &answered));
        WVT_OK(perr);
        WVT_ASSERT(answered);
        WVT_OK(vs_script(false, false, &sc, &perr, &answered));
        WVT_OK(perr);
        WVT_ASSERT(answered);
    }
    /* Legacy peers (CPython <= 3.11): accepted unless strict. */
    struct script legacy = {true, -1, WV__MGR_MD5};
    WVT_OK(vs_script(true, false, &legacy, &perr, &answered));
    WVT_OK(perr);
    WVT_ASSERT(answered);
    WVT_OK(vs_script(false, false, &legacy, &perr, &answered));
    WVT_OK(perr);
    WVT_ASSERT(answered);
    WVT_ERR(vs_script(true, true, &legacy, &perr, &answered), WV_EAUTH);
    WVT_ERR(perr, WV_EAUTH); /* #FAILURE# to its raw MD5 answer */
    /* A strict client answers no 20-byte challenge: nothing is sent. */
    int sv[2];
    WVT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    unsigned char chal[64];
    peer_send(sv[1], chal, challenge_for(true, 0, chal));
    struct role r;
    role_start(&r, sv[0], false, KEY, true);
    WVT_ERR(role_join(&r), WV_EAUTH);
    wv_stream_free(r.s);
    WVT_ASSERT(peer_at_end(sv[1]));
    close(sv[1]);
    /* {md5} in strict mode: refused as well. */
    struct script md5 = {false, WV__MGR_MD5, WV__MGR_MD5};
    WVT_ERR(vs_script(true, true, &md5, &perr, &answered), WV_EAUTH);
    WVT_ERR(perr, WV_EAUTH);
}

/* Replays the 3.13 and 3.8 servers' captured challenges to a weave
 * client: its answers are the captured bytes. */
WVT_TEST(mgrwire_client_answers_captured_challenges)
{
    if (no_crypto())
        return;
    for (size_t i = 0; i < 3; i++) {
        const struct vector *v = &vectors[i == 0 ? 0 : i == 1 ? 2 : 1];
        unsigned char msg[64], want[64], frame[128], got[300];
        size_t len = unhex(v->msg, msg), want_len = 0;
        if (v->digest == WV__MGR_SHA256)
            want_len = (size_t)sprintf((char *)want, "{sha256}");
        want_len += unhex(v->mac, want + want_len);
        memcpy(frame, "#CHALLENGE#", 11);
        memcpy(frame + 11, msg, len);
        int sv[2];
        WVT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        struct role r;
        role_start(&r, sv[0], false, KEY, false);
        peer_send(sv[1], frame, 11 + len);
        size_t n = peer_recv(sv[1], got, sizeof got);
        WVT_EQ(n, want_len);
        WVT_ASSERT(memcmp(got, want, n) == 0);
        peer_send(sv[1], "#FAILURE#", 9); /* and the client stops */
        WVT_ERR(role_join(&r), WV_EAUTH);
        wv_stream_free(r.s);
        WVT_ASSERT(peer_at_end(sv[1]));
        close(sv[1]);
    }
}

/* ----------------------------------------------------- hostile peers */

/* The server's challenge, read on the raw end: its message. */
static size_t read_challenge(int fd, unsigned char *msg)
{
    unsigned char buf[300];
    size_t n = peer_recv(fd, buf, sizeof buf);
    WVT_EQ(n, 59);
    memcpy(msg, buf + 11, n - 11);
    return n - 11;
}

/* The server refuses a response frame (written before its challenge is
 * read) with WV_EPROTO, reads no byte of its body, and sends nothing
 * after its challenge. */
static void refuse_frame(const void *head, size_t head_len)
{
    wv_stream_t *s;
    int peer;
    pair(&s, &peer);
    char body[300];
    memset(body, 'x', sizeof body);
    write_all(peer, head, head_len);
    write_all(peer, body, sizeof body);
    wv__mgr_auth_t auth = {KEY, 3, false};
    WVT_ERR(wv__mgr_auth_server(s, &auth, wv_deadline_in(5000)), WV_EPROTO);
    char rest[300];
    size_t n;
    WVT_OK(wv_stream_read_exactly(s, rest, sizeof rest, &n, 0));
    wv_stream_free(s);
    unsigned char msg[64];
    read_challenge(peer, msg);
    WVT_ASSERT(peer_at_end(peer));
    close(peer);
}

WVT_TEST(mgrwire_hostile_long_frames)
{
    if (no_crypto())
        return;
    refuse_frame("\0\0\x01\x01", 4); /* 257 bytes */
    refuse_frame("\xff\xff\xff\xff\0\0\0\0\0\0\x01\x01", 12);
    refuse_frame("\xff\xff\xff\xff\x7f\xff\xff\xff\xff\xff\xff\xff", 12);
    refuse_frame("\xff\xff\xff\xfe", 4);
    /* A 256-byte response is read, found wrong: #FAILURE#, then nothing. */
    wv_stream_t *s;
    int peer;
    pair(&s, &peer);
    char body[256];
    memset(body, 'x', sizeof body);
    peer_send(peer, body, sizeof body);
    wv__mgr_auth_t auth = {KEY, 3, false};
    WVT_ERR(wv__mgr_auth_server(s, &auth, wv_deadline_in(5000)), WV_EAUTH);
    wv_stream_free(s);
    unsigned char msg[64], verdict[16];
    read_challenge(peer, msg);
    WVT_ASSERT(is_verdict(verdict, peer_recv(peer, verdict, 16), "#FAILURE#"));
    WVT_ASSERT(peer_at_end(peer));
    close(peer);
}

WVT_TEST(mgrwire_hostile_silent_client)
{
    if (no_crypto())
        return;
    wv_stream_t *s;
    int peer;
    pair(&s, &peer);
    wv__mgr_auth_t auth = {KEY, 3, false};
    int64_t t0 = wv_now();
    WVT_ERR(wv__mgr_auth_server(s, &auth, wv_deadline_in(200)), WV_ETIMEDOUT);
    WVT_GE(wv_now() - t0, 190);
    WVT_LT(wv_now() - t0, 5000);
    wv_stream_free(s);
    close(peer);
    /* A client that leaves: WV_EOF. */
    pair(&s, &peer);
    close(peer);
    int err = wv__mgr_auth_server(s, &auth, wv_deadline_in(5000));
    WVT_ASSERT(err == WV_EPIPE || err == WV_ECONNRESET);
    wv_stream_free(s);
    pair(&s, &peer);
    close(peer);
    WVT_ERR(wv__mgr_auth_client(s, &auth, wv_deadline_in(5000)), WV_EOF);
    wv_stream_free(s);
}

/* A client with the key that answers right, then challenges the server
 * with the server's own message: refused, nothing answered. */
WVT_TEST(mgrwire_hostile_reflection)
{
    if (no_crypto())
        return;
    int sv[2];
    WVT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct role r;
    role_start(&r, sv[0], true, KEY, false);
    unsigned char msg[64], reply[64], frame[80], verdict[16];
    size_t len = read_challenge(sv[1], msg);
    peer_send(sv[1], reply,
              answer_for(KEY, msg, len, WV__MGR_SHA256, false, reply));
    WVT_ASSERT(is_verdict(verdict, peer_recv(sv[1], verdict, 16), "#WELCOME#"));
    memcpy(frame, "#CHALLENGE#", 11);
    memcpy(frame + 11, msg, len);
    peer_send(sv[1], frame, 11 + len);
    WVT_ERR(role_join(&r), WV_EAUTH);
    wv_stream_free(r.s);
    WVT_ASSERT(peer_at_end(sv[1]));
    close(sv[1]);
}

/* Malformed challenges and verdicts. */
static int client_given(const void *frame, size_t len)
{
    int sv[2];
    WVT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct role r;
    role_start(&r, sv[0], false, KEY, false);
    peer_send(sv[1], frame, len);
    int err = role_join(&r);
    wv_stream_free(r.s);
    WVT_ASSERT(peer_at_end(sv[1])); /* nothing answered */
    close(sv[1]);
    return err;
}

WVT_TEST(mgrwire_hostile_challenges)
{
    if (no_crypto())
        return;
    WVT_ERR(client_given("#WELCOME#", 9), WV_EPROTO);
    WVT_ERR(client_given("", 0), WV_EPROTO);
    WVT_ERR(client_given("#CHALLENGE#", 11), WV_EPROTO);
    WVT_ERR(client_given("#CHALLENGE#0123456789012345678", 30), WV_EPROTO);
    WVT_ERR(client_given("#CHALLENGE#{sha1}0123456789012345678901", 40),
            WV_EPROTO);
    WVT_ERR(client_given("#CHALLENGE#{sha256x}012345678901234567890", 41),
            WV_EPROTO);
    WVT_ERR(client_given("#CHALLENGE#sha256}0123456789012345678901", 40),
            WV_EPROTO);
    /* A verdict that is neither. */
    int sv[2];
    WVT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct role r;
    role_start(&r, sv[0], false, KEY, false);
    unsigned char chal[64], buf[300];
    peer_send(sv[1], chal, challenge_for(false, WV__MGR_SHA256, chal));
    peer_recv(sv[1], buf, sizeof buf);
    peer_send(sv[1], "#WELCOME", 8);
    WVT_ERR(role_join(&r), WV_EPROTO);
    wv_stream_free(r.s);
    close(sv[1]);
}

/* ------------------------------------------------------ real CPython */

static int listener(int *port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof sin;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    WVT_GE(l, 0);
    WVT_EQ(bind(l, (struct sockaddr *)&sin, sizeof sin), 0);
    WVT_EQ(listen(l, 16), 0);
    WVT_EQ(getsockname(l, (struct sockaddr *)&sin, &len), 0);
    *port = ntohs(sin.sin_port);
    return l;
}

static int connect_to(int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    WVT_GE(fd, 0);
    WVT_EQ(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    return fd;
}

/* The interpreters to try: python3, then pyenv's 3.8 ... 3.13. */
struct python {
    char path[512];
    int minor; /* 3.minor */
};

static wv_popen_t *spawn(const char *const *argv)
{
    wv_popen_t *pp;
    wv_popen_opts_t o = {.argv = argv,
                         .in = {.how = WV_STDIO_DEVNULL},
                         .out = {.how = WV_STDIO_PIPE},
                         .err = {.how = WV_STDIO_PIPE}};
    WVT_OK(wv_popen_new(&pp, &o));
    return pp;
}

/* Runs argv to its end: its exit code, its output in out (cap). */
static int run(const char *const *argv, char *out, size_t cap)
{
    wv_popen_t *pp = spawn(argv);
    wv_bytes_t o = {0}, e = {0};
    int code;
    WVT_OK(wv_popen_communicate(pp, NULL, 0, &o, &e, wv_deadline_in(60000)));
    WVT_OK(wv_popen_wait(pp, &code, wv_deadline_in(10000)));
    snprintf(out, cap, "%.*s%.*s", (int)o.len, o.data ? o.data : "", (int)e.len,
             e.data ? e.data : "");
    wv_popen_free(pp);
    return code;
}

/* The newest pyenv 3.minor's interpreter into path; false if none. */
static bool pyenv_path(int minor, char *path, size_t cap)
{
    const char *home = getenv("HOME");
    char pat_[512];
    glob_t g;
    snprintf(pat_, sizeof pat_, "%s/.pyenv/versions/3.%d.*/bin/python3.%d",
             home ? home : "", minor, minor);
    if (glob(pat_, 0, NULL, &g) != 0)
        return false;
    snprintf(path, cap, "%s", g.gl_pathv[g.gl_pathc - 1]);
    globfree(&g);
    return access(path, X_OK) == 0;
}

/* python3 of the PATH, then pyenv's 3.8 ... 3.13, each with its minor
 * version (asked of it). */
static int pythons(struct python *py, int cap)
{
    int n = 0;
    for (int minor = 7; minor <= 13 && n < cap; minor++) {
        char path[512] = "python3", out[256];
        if (minor > 7 && !pyenv_path(minor, path, sizeof path)) {
            printf("python 3.%d: not installed, skipped\n", minor);
            continue;
        }
        const char *argv[] = {path, "-c",
                              "import sys; print(sys.version_info[1])", NULL};
        if (run(argv, out, sizeof out) != 0) {
            printf("%s: does not run, skipped\n", path);
            continue;
        }
        snprintf(py[n].path, sizeof py[n].path, "%s", path);
        py[n].minor = atoi(out);
        n++;
    }
    return n;
}

/* Python as the client: connects with key, sends frames of 0, 5 and
 * 100000 bytes, checks each echo; exit 3 on AuthenticationError. */
static const char py_client[] =
    "import sys\n"
    "from multiprocessing.connection import Client\n"
    "from multiprocessing import AuthenticationError\n"
    "try:\n"
    "    c = Client(('127.0.0.1', int(sys.argv[1])), "
    "authkey=sys.argv[2].encode())\n"
    "except AuthenticationError:\n"
    "    sys.exit(3)\n"
    "for n in (0, 5, 100000):\n"
    "    data = bytes((i * 7 + i // 251) % 256 for i in range(n))\n"
    "    c.send_bytes(data)\n"
    "    assert c.recv_bytes() == data, n\n"
    "c.close()\n";

/* Python as the server: prints its port, accepts one connection, echoes
 * frames until the end; exit 3 on AuthenticationError. */
static const char py_server[] =
    "import sys\n"
    "from multiprocessing.connection import Listener\n"
    "from multiprocessing import AuthenticationError\n"
    "l = Listener(('127.0.0.1', 0), authkey=sys.argv[1].encode())\n"
    "print(l.address[1], flush=True)\n"
    "try:\n"
    "    c = l.accept()\n"
    "except AuthenticationError:\n"
    "    sys.exit(3)\n"
    "while True:\n"
    "    try:\n"
    "        data = c.recv_bytes()\n"
    "    except EOFError:\n"
    "        break\n"
    "    c.send_bytes(data)\n"
    "c.close()\n"
    "l.close()\n";

/* Echoes frames on an authenticated stream until the end. */
static void echo_frames(wv_stream_t *s, int64_t d)
{
    char *got;
    size_t n;
    int err;
    while ((err = wv__mgr_recv_frame(s, 1 << 20, &got, &n, d)) == 0) {
        WVT_OK(wv__mgr_send_frame(s, got, n, d));
        wv__free(got);
    }
    WVT_ERR(err, WV_EOF);
}

static void wait_code(wv_popen_t *pp, int want, const char *path)
{
    wv_bytes_t o = {0}, e = {0};
    int code;
    WVT_OK(wv_popen_communicate(pp, NULL, 0, &o, &e, wv_deadline_in(60000)));
    WVT_OK(wv_popen_wait(pp, &code, wv_deadline_in(10000)));
    if (code != want)
        WVT_FAIL("%s exited %d, expected %d: %.*s", path, code, want,
                 (int)e.len, e.data ? e.data : "");
    wv_popen_free(pp);
}

/* weave serves one Python client: weave's handshake result. */
static int serve_python(const struct python *py, const char *key, bool strict,
                        int want_code)
{
    int port, l = listener(&port);
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", port);
    const char *argv[] = {py->path, "-c", py_client, port_s, key, NULL};
    wv_popen_t *pp = spawn(argv);
    struct pollfd pfd = {.fd = l, .events = POLLIN};
    WVT_EQ(poll(&pfd, 1, 30000), 1);
    int fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    WVT_GE(fd, 0);
    close(l);
    wv_stream_t *s;
    WVT_OK(wv_stream_new(&s, NULL, fd));
    wv__mgr_auth_t auth = {KEY, 3, strict};
    int64_t d = wv_deadline_in(30000);
    int err = wv__mgr_auth_server(s, &auth, d);
    if (!err)
        echo_frames(s, d);
    wv_stream_free(s);
    wait_code(pp, want_code, py->path);
    return err;
}

WVT_TEST_TIMEOUT(mgrwire_python_client, 300)
{
    if (no_crypto())
        return;
    struct python py[8];
    int n = pythons(py, 8);
    for (int i = 0; i < n; i++) {
        printf("python 3.%d (%s): weave server\n", py[i].minor, py[i].path);
        fflush(stdout);
        WVT_OK(serve_python(&py[i], KEY, false, 0));
        WVT_ERR(serve_python(&py[i], "abd", false, 3), WV_EAUTH);
        if (py[i].minor >= 12)
            WVT_OK(serve_python(&py[i], KEY, true, 0));
        else
            WVT_ERR(serve_python(&py[i], KEY, true, 3), WV_EAUTH);
    }
    if (n == 0)
        printf("no python found: skipped\n");
}

/* weave as the client of one Python Listener: weave's result. */
static int dial_python(const struct python *py, const char *key, bool strict,
                       int want_code)
{
    const char *argv[] = {py->path, "-c", py_server, key, NULL};
    wv_popen_t *pp = spawn(argv);
    wv_stream_t *out;
    wv_stream_opts_t bo = {.borrow_fd = true};
    WVT_OK(wv_stream_new(&out, &bo, wv_popen_fd(pp, WV_STDOUT)));
    char line[64];
    size_t n;
    WVT_OK(wv_stream_readline(out, line, sizeof line - 1, &n,
                              wv_deadline_in(30000)));
    wv_stream_free(out);
    line[n] = '\0';
    wv_stream_t *s;
    WVT_OK(wv_stream_new(&s, NULL, connect_to(atoi(line))));
    wv__mgr_auth_t auth = {KEY, 3, strict};
    int64_t d = wv_deadline_in(30000);
    int err = wv__mgr_auth_client(s, &auth, d);
    if (!err) {
        static const size_t lens[] = {0, 5, 100000};
        for (int i = 0; i < 3; i++) {
            char *p = pattern(lens[i]);
            WVT_OK(wv__mgr_send_frame(s, p, lens[i], d));
            free(p);
            expect_frame(s, lens[i]);
        }
    }
    wv_stream_free(s);
    wait_code(pp, want_code, py->path);
    return err;
}

WVT_TEST_TIMEOUT(mgrwire_python_server, 300)
{
    if (no_crypto())
        return;
    struct python py[8];
    int n = pythons(py, 8);
    for (int i = 0; i < n; i++) {
        printf("python 3.%d (%s): weave client\n", py[i].minor, py[i].path);
        fflush(stdout);
        WVT_OK(dial_python(&py[i], KEY, false, 0));
        WVT_ERR(dial_python(&py[i], "abd", false, 3), WV_EAUTH);
        if (py[i].minor >= 12)
            WVT_OK(dial_python(&py[i], KEY, true, 0));
        else /* the 20-byte challenge is refused: Python reads the end */
            WVT_ERR(dial_python(&py[i], KEY, true, 1), WV_EAUTH);
    }
    if (n == 0)
        printf("no python found: skipped\n");
}

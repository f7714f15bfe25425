/*
 * manager/wire.c - frames and the mutual HMAC handshake of CPython's
 * multiprocessing.connection (manager/wire.h; MANAGER-PROTOCOL.md
 * sections 1, 2 and 6).
 *
 * Frames.  The header is read with wv_stream_read_exactly, so a deadline
 * that expires inside a header loses nothing; the body is read with
 * wv_stream_read straight into the caller's buffer, which grows with the
 * bytes that came (doubling from 64 KiB, at most 1 MiB a read), never to
 * a length the peer only announced: a peer that announces 2 GiB and
 * sends 10 bytes costs 64 KiB.  After any error inside a body the stream
 * is out of step with the frames and only good for closing.
 *
 * The handshake, as CPython 3.12+ plays it, with what section 6 asks of
 * a C peer on top:
 *   - every handshake frame is at most 256 bytes, checked on the header
 *     (the -1 escape included) before a byte of the body is read;
 *   - our nonce is 40 bytes of getrandom, fresh per call, behind the
 *     {sha256} prefix; a challenge that equals the one we sent on this
 *     connection is refused (reflection);
 *   - answers are compared with CRYPTO_memcmp;
 *   - after #FAILURE# nothing is sent (CPython sends a #TRACEBACK pickle
 *     with its traceback to the unauthenticated peer); the close is the
 *     caller's;
 *   - strict mode refuses MD5 in every form, raw or {md5}, both as the
 *     answer we check and as the challenge we answer.
 * Rejected: a cache of the nonces of every connection, to refuse a
 * challenge reflected across connections: the server challenges first
 * and answers only an authenticated client, so such a reflection gains
 * the peer nothing it could not compute itself.
 *
 * The digest names and lengths are parsed here; the HMAC itself is
 * manager/hmac.h's (libcrypto, or nothing: WV_ENOSYS).
 */
#include "wire.h"

#include "hmac.h"

#include "../core/internal.h"

#include <string.h>

/* A frame body is read in reads of at most this, into a buffer that
 * starts at BODY_FIRST bytes and doubles. */
#define BODY_CHUNK (1024 * 1024)
#define BODY_FIRST (64 * 1024)

/* The escape header: -1, then an unsigned 64-bit length. */
#define ESCAPE_LEN 8

#define CHALLENGE     "#CHALLENGE#"
#define CHALLENGE_LEN 11
#define WELCOME       "#WELCOME#"
#define FAILURE       "#FAILURE#"
#define VERDICT_LEN   9

/* Our nonce: {sha256} + 40 random bytes (CPython 3.12+'s form). */
#define NONCE_LEN   40
#define PREFIX      "{sha256}"
#define PREFIX_LEN  8
#define MESSAGE_LEN (PREFIX_LEN + NONCE_LEN)
/* A challenge's message is at least this long (CPython's
 * _MD5ONLY_MESSAGE_LENGTH); the legacy forms are 16 and 20 bytes. */
#define LEGACY_MSG    20
#define LEGACY_ANSWER 16
/* The '}' of a {name} prefix lies within the first 10 bytes (CPython:
 * message.find(b'}', 1, _MAX_DIGEST_LEN + 2)). */
#define NAME_MAX_LEN 8

static const struct {
    const char *name;
    wv__mgr_digest_t digest;
} digests[] = {
    {"md5", WV__MGR_MD5},           {"sha256", WV__MGR_SHA256},
    {"sha384", WV__MGR_SHA384},     {"sha3_256", WV__MGR_SHA3_256},
    {"sha3_384", WV__MGR_SHA3_384},
};

/* ------------------------------------------------------------ frames */

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

int wv__mgr_send_frame(wv_stream_t *s, const void *data, size_t len,
                       int64_t deadline)
{
    unsigned char head[4 + ESCAPE_LEN];
    size_t head_len = 4;
    if (!s || (!data && len))
        return WV_EINVAL;
    if (len <= INT32_MAX) {
        put_be32(head, (uint32_t)len);
    } else {
        put_be32(head, UINT32_MAX);
        put_be32(head + 4, (uint32_t)((uint64_t)len >> 32));
        put_be32(head + 8, (uint32_t)len);
        head_len += ESCAPE_LEN;
    }
    int err = wv_stream_write(s, head, head_len, NULL, deadline);
    if (!err && len)
        err = wv_stream_write(s, data, len, NULL, deadline);
    return err ? err : wv_stream_drain(s, deadline);
}

int wv__mgr_send_framed(wv_stream_t *s, char *buf, size_t payload_len,
                        int64_t deadline)
{
    if (!s || !buf)
        return WV_EINVAL;
    if (payload_len > INT32_MAX)
        return WV_EMSGSIZE;
    put_be32((unsigned char *)buf, (uint32_t)payload_len);
    int err = wv_stream_write(s, buf, 4 + payload_len, NULL, deadline);
    return err ? err : wv_stream_drain(s, deadline);
}

/* Reads n header bytes: the end before the first is first_eof (WV_EOF
 * for a frame's first byte), within them WV_EPROTO. */
static int read_head(wv_stream_t *s, unsigned char *buf, size_t n,
                     int first_eof, int64_t deadline)
{
    size_t got;
    int err = wv_stream_read_exactly(s, buf, n, &got, deadline);
    if (err == WV_EOF)
        return got == 0 ? first_eof : WV_EPROTO;
    return err;
}

/* The payload length a header announces. */
static int read_length(wv_stream_t *s, uint64_t *len, int64_t deadline)
{
    unsigned char head[ESCAPE_LEN];
    int err = read_head(s, head, 4, WV_EOF, deadline);
    if (err)
        return err;
    int32_t n = (int32_t)get_be32(head);
    if (n >= 0) {
        *len = (uint64_t)n;
        return 0;
    }
    if (n != -1)
        return WV_EPROTO;
    err = read_head(s, head, ESCAPE_LEN, WV_EPROTO, deadline);
    if (err)
        return err;
    *len = (uint64_t)get_be32(head) << 32 | get_be32(head + 4);
    return 0;
}

/* Reads the len-byte body into scratch if it fits (and a NUL), else into
 * a buffer grown as bytes come: *out. */
static int read_body(wv_stream_t *s, size_t len, char *scratch, size_t room,
                     char **out, int64_t deadline)
{
    if (scratch && len < room) {
        size_t got;
        int err = wv_stream_read_exactly(s, scratch, len, &got, deadline);
        if (err)
            return err == WV_EOF ? WV_EPROTO : err;
        scratch[len] = '\0';
        *out = scratch;
        return 0;
    }
    size_t cap = len < BODY_FIRST ? len : BODY_FIRST, got = 0;
    char *buf = wv__malloc(cap + 1);
    if (!buf)
        return WV_ENOMEM;
    while (got < len) {
        if (got == cap) {
            size_t grown = cap > (len - cap) ? len : cap * 2;
            char *p = wv__realloc(buf, grown + 1);
            if (!p) {
                wv__free(buf);
                return WV_ENOMEM;
            }
            buf = p, cap = grown;
        }
        size_t want = cap - got < BODY_CHUNK ? cap - got : BODY_CHUNK, n;
        int err = wv_stream_read(s, buf + got, want, &n, deadline);
        if (err) {
            wv__free(buf);
            return err == WV_EOF ? WV_EPROTO : err;
        }
        got += n;
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
}

int wv__mgr_recv_frame(wv_stream_t *s, size_t max, char **out, size_t *len,
                       int64_t deadline)
{
    return wv__mgr_recv_frame_into(s, max, NULL, 0, out, len, deadline);
}

int wv__mgr_recv_frame_into(wv_stream_t *s, size_t max, char *scratch,
                            size_t room, char **out, size_t *len,
                            int64_t deadline)
{
    uint64_t n;
    if (!s || !out || !len)
        return WV_EINVAL;
    *out = NULL;
    *len = 0;
    int err = read_length(s, &n, deadline);
    if (err)
        return err;
    if (n > max || n >= SIZE_MAX)
        return WV_EMSGSIZE;
    err = read_body(s, (size_t)n, scratch, room, out, deadline);
    if (!err)
        *len = (size_t)n;
    return err;
}

/* --------------------------------------------------------- handshake */

/* One handshake frame: over 256 bytes is a protocol error. */
static int recv_small(wv_stream_t *s, char **out, size_t *len, int64_t deadline)
{
    int err = wv__mgr_recv_frame(s, WV__MGR_HANDSHAKE_MAX, out, len, deadline);
    return err == WV_EMSGSIZE ? WV_EPROTO : err;
}

/*
 * The {name} prefix of msg (CPython's _get_digest_name_and_payload):
 * true with *digest and *skip (the prefix's length) for an allowed name.
 */
static bool parse_prefix(const char *msg, size_t len, wv__mgr_digest_t *digest,
                         size_t *skip)
{
    if (len < 2 || msg[0] != '{')
        return false;
    size_t room = len - 1 < NAME_MAX_LEN + 1 ? len - 1 : NAME_MAX_LEN + 1;
    const char *close = memchr(msg + 1, '}', room);
    if (!close)
        return false;
    size_t name_len = (size_t)(close - msg - 1);
    for (size_t i = 0; i < sizeof digests / sizeof digests[0]; i++) {
        if (strlen(digests[i].name) == name_len &&
            memcmp(digests[i].name, msg + 1, name_len) == 0) {
            *digest = digests[i].digest;
            *skip = name_len + 2;
            return true;
        }
    }
    return false;
}

/* The frame sent back to a challenge whose message is msg[0..len):
 * answer[0..*answer_len).  Errors: WV_EPROTO (too short, no allowed
 * prefix), WV_EAUTH (strict, and MD5 asked for), WV_ENOSYS. */
static int make_answer(const wv__mgr_auth_t *auth, const char *msg, size_t len,
                       char *answer, size_t *answer_len)
{
    wv__mgr_digest_t digest = WV__MGR_MD5;
    size_t skip = 0, mac_len;
    if (len < LEGACY_MSG)
        return WV_EPROTO;
    if (len != LEGACY_MSG && !parse_prefix(msg, len, &digest, &skip))
        return WV_EPROTO;
    if (auth->strict && digest == WV__MGR_MD5)
        return WV_EAUTH;
    /* The prefix is sent back as it came; the MAC covers the whole msg. */
    memcpy(answer, msg, skip);
    int err = wv__mgr_hmac(digest, auth->key, auth->keylen, msg, len,
                           (unsigned char *)answer + skip, &mac_len);
    if (err)
        return err;
    *answer_len = skip + mac_len;
    return 0;
}

/* Whether answer[0..len) is right for our message msg (CPython's
 * _verify_challenge); WV_ENOSYS when the digest is unavailable here. */
static int check_answer(const wv__mgr_auth_t *auth, const char *msg,
                        size_t msg_len, const char *answer, size_t len,
                        bool *ok)
{
    wv__mgr_digest_t digest = WV__MGR_MD5;
    unsigned char expected[WV__MGR_DIGEST_MAX];
    size_t skip = 0, mac_len;
    *ok = false;
    if (len != LEGACY_ANSWER && len != LEGACY_MSG &&
        !parse_prefix(answer, len, &digest, &skip))
        return 0;
    if (auth->strict && digest == WV__MGR_MD5)
        return 0;
    int err = wv__mgr_hmac(digest, auth->key, auth->keylen, msg, msg_len,
                           expected, &mac_len);
    if (err)
        return err;
    *ok = len - skip == mac_len &&
          wv__mgr_equal(expected, answer + skip, mac_len);
    return 0;
}

/* #WELCOME# -> 0, #FAILURE# -> WV_EAUTH, anything else WV_EPROTO. */
static int recv_verdict(wv_stream_t *s, int64_t deadline)
{
    char *frame;
    size_t len;
    int err = recv_small(s, &frame, &len, deadline);
    if (err)
        return err;
    if (len == VERDICT_LEN && memcmp(frame, WELCOME, len) == 0)
        err = 0;
    else if (len == VERDICT_LEN && memcmp(frame, FAILURE, len) == 0)
        err = WV_EAUTH;
    else
        err = WV_EPROTO;
    wv__free(frame);
    return err;
}

/*
 * deliver_challenge: sends our challenge (kept in challenge[]), checks
 * the answer and sends the verdict.
 */
static int deliver(wv_stream_t *s, const wv__mgr_auth_t *auth,
                   char challenge[CHALLENGE_LEN + MESSAGE_LEN],
                   int64_t deadline)
{
    char *msg = challenge + CHALLENGE_LEN, *answer;
    size_t len;
    bool ok;
    memcpy(challenge, CHALLENGE PREFIX, CHALLENGE_LEN + PREFIX_LEN);
    int err = wv__mgr_random(msg + PREFIX_LEN, NONCE_LEN);
    if (!err)
        err = wv__mgr_send_frame(s, challenge, CHALLENGE_LEN + MESSAGE_LEN,
                                 deadline);
    if (!err)
        err = recv_small(s, &answer, &len, deadline);
    if (err)
        return err;
    err = check_answer(auth, msg, MESSAGE_LEN, answer, len, &ok);
    wv__free(answer);
    if (err)
        return err;
    err = wv__mgr_send_frame(s, ok ? WELCOME : FAILURE, VERDICT_LEN, deadline);
    return err ? err : ok ? 0 : WV_EAUTH;
}

/*
 * answer_challenge: reads the peer's challenge, sends the answer and
 * reads the verdict.  ours: the message of the challenge we sent on this
 * connection (reflection guard), or NULL.
 */
static int answer(wv_stream_t *s, const wv__mgr_auth_t *auth, const char *ours,
                  int64_t deadline)
{
    char reply[WV__MGR_HANDSHAKE_MAX], *frame;
    size_t len, reply_len;
    int err = recv_small(s, &frame, &len, deadline);
    if (err)
        return err;
    if (len < CHALLENGE_LEN || memcmp(frame, CHALLENGE, CHALLENGE_LEN) != 0)
        err = WV_EPROTO;
    else if (ours && len == CHALLENGE_LEN + MESSAGE_LEN &&
             memcmp(frame + CHALLENGE_LEN, ours, MESSAGE_LEN) == 0)
        err = WV_EAUTH;
    else
        err = make_answer(auth, frame + CHALLENGE_LEN, len - CHALLENGE_LEN,
                          reply, &reply_len);
    wv__free(frame);
    if (!err)
        err = wv__mgr_send_frame(s, reply, reply_len, deadline);
    return err ? err : recv_verdict(s, deadline);
}

static bool auth_ok(const wv_stream_t *s, const wv__mgr_auth_t *auth)
{
    return s && auth && (auth->key || auth->keylen == 0);
}

int wv__mgr_auth_server(wv_stream_t *s, const wv__mgr_auth_t *auth,
                        int64_t deadline)
{
    char challenge[CHALLENGE_LEN + MESSAGE_LEN];
    if (!auth_ok(s, auth))
        return WV_EINVAL;
    if (!wv__mgr_crypto_present())
        return WV_ENOSYS;
    int err = deliver(s, auth, challenge, deadline);
    return err ? err : answer(s, auth, challenge + CHALLENGE_LEN, deadline);
}

int wv__mgr_auth_client(wv_stream_t *s, const wv__mgr_auth_t *auth,
                        int64_t deadline)
{
    char challenge[CHALLENGE_LEN + MESSAGE_LEN];
    if (!auth_ok(s, auth))
        return WV_EINVAL;
    if (!wv__mgr_crypto_present())
        return WV_ENOSYS;
    int err = answer(s, auth, NULL, deadline);
    return err ? err : deliver(s, auth, challenge, deadline);
}

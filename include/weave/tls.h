/*
 * weave/tls.h - TLS over a connected socket, as a buffered stream
 * (weave/stream.h): Python's ssl.SSLContext and an asyncio stream made
 * with ssl=.  A library built with WEAVE_TLS=OFF (no OpenSSL: a cross
 * build) answers every call that can fail with WV_ENOSYS.
 *
 *     wv_tls_ctx_t *ctx;
 *     wv_tls_ctx_new(&ctx, NULL);               // client, system CAs
 *     wv_stream_t *s;
 *     int64_t d = wv_deadline_in(5000);
 *     int err = wv_tls_client(&s, NULL, ctx, fd, "example.org", d);
 *     // err: 0, WV_ECERT (wv_tls_error_reason() says why), WV_EPROTO...
 *     wv_stream_write(s, "GET / HTTP/1.0\r\n\r\n", 18, NULL, d);
 *     wv_stream_drain(s, d);
 *     ... wv_stream_readline(s, line, sizeof line, &n, d) ...
 *     wv_stream_free(s);
 *     wv_tls_ctx_free(ctx);
 *
 * A context holds what many connections share: the role, the trust
 * anchors, the own certificate and key, ALPN, the verification policy
 * and the session cache.  It is immutable once made, and any number of
 * threads may make streams from it at once.  Each stream made from it
 * holds a reference of its own (as OpenSSL's SSL holds its SSL_CTX):
 * wv_tls_ctx_free drops the creator's, and the context goes when the
 * last stream using it is freed.
 *
 * Defaults are Python's ssl.create_default_context(): a client verifies
 * the server's chain against the system's trust store (or the CAs given)
 * and its name against the server_name given (SNI is sent too); TLS 1.2
 * is the least version; renegotiation is refused.  Turning verification
 * off takes an option named for what it is (insecure_skip_verify).
 *
 * Once the handshake is done the stream is an ordinary wv_stream_t: the
 * same read, readline, read_until, write, drain, close.  Differences:
 *  - wv_stream_write_eof sends TLS's close_notify, then shuts the socket
 *    down for writing; the peer reads WV_EOF.  wv_stream_close and
 *    wv_stream_free send close_notify too if it goes at once.
 *  - A peer that closes the connection without close_notify (a possibly
 *    truncated stream) is reported as WV_ECONNRESET, not WV_EOF (Python:
 *    SSLEOFError), unless the context says allow_unclean_eof.
 *  - A bad record or any other TLS failure is WV_EPROTO; a certificate
 *    that fails verification (ours, by the peer, or the peer's, by us) is
 *    WV_ECERT.  wv_tls_error_reason() gives OpenSSL's reason for either.
 *  - Session tickets arrive after a TLS 1.3 handshake, with the first
 *    bytes read: a client connection that never reads stores no session.
 *
 * Threads: as any stream (one reader and one writer at a time); a lock
 * inside serialises them around the TLS object, never held while
 * waiting.  Waiting is the stream's: a thread polls, a coroutine parks
 * alone.  SIGPIPE is never raised (sends use MSG_NOSIGNAL).
 */
#ifndef WEAVE_TLS_H
#define WEAVE_TLS_H

#include "weave/core.h"
#include "weave/stream.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wv_tls_ctx wv_tls_ctx_t;

/* What a server asks of its clients' certificates (verify_client). */
enum {
    WV_TLS_CLIENT_CERT_NONE = 0, /* ask for none (the default) */
    WV_TLS_CLIENT_CERT_OPTIONAL, /* ask; verify one if sent (CERT_OPTIONAL) */
    WV_TLS_CLIENT_CERT_REQUIRED, /* refuse a client without a valid one */
};

/* The least protocol version (min_version). */
enum {
    WV_TLS_1_2 = 0, /* the default: TLS 1.2 and 1.3 */
    WV_TLS_1_3 = 1, /* TLS 1.3 only */
};

/* Options of wv_tls_ctx_new; a zeroed struct (or NULL) is a client with
 * the system's trust store.  Strings are copied or loaded during the
 * call: none is kept. */
typedef struct wv_tls_ctx_opts {
    /* A server context (wv_tls_server); default: a client's. */
    bool server;

    /* Trust anchors: a PEM file, a hashed directory (c_rehash), PEM
     * text in memory (NUL-terminated); any combination.  A client with
     * none of them uses the system's trust store; a server needs them
     * only to verify client certificates. */
    const char *ca_file;
    const char *ca_dir;
    const char *ca_pem;

    /* The own certificate chain (leaf first) and private key: a file or
     * PEM text in memory each.  Required for a server; a client presents
     * them to a server that asks (mutual TLS).  The key must match. */
    const char *cert_file;
    const char *key_file;
    const char *cert_pem;
    const char *key_pem;

    /* Server: WV_TLS_CLIENT_CERT_NONE, _OPTIONAL or _REQUIRED, verified
     * against the CAs above. */
    int verify_client;

    /* Client: DANGEROUS - accept any server certificate, of any name,
     * expired or self-signed: encryption without authentication, open to
     * a man in the middle.  For tests and pinned environments only. */
    bool insecure_skip_verify;

    /* ALPN protocols in preference order ("h2", "http/1.1"), alpn_count
     * of them, each 1..255 bytes.  A server picks the first of its own
     * that the client offers, and goes on without ALPN if none matches. */
    const char *const *alpn;
    size_t alpn_count;

    /* WV_TLS_1_2 (default) or WV_TLS_1_3. */
    int min_version;

    /* Report a peer's close without close_notify as WV_EOF, as a clean
     * end (for peers known to skip it); default: WV_ECONNRESET. */
    bool allow_unclean_eof;

    /* No session resumption: a client keeps no sessions, a server issues
     * no tickets and caches none.  Default: resumption on. */
    bool no_resumption;
} wv_tls_ctx_opts_t;

/*
 * Makes a context.  0 with *out; free with wv_tls_ctx_free.
 * Errors: WV_EINVAL (out NULL, an unknown verify_client or min_version,
 * verify_client on a client or without CAs to verify against,
 * a server without a certificate and key, a key without a certificate or
 * the other way round, insecure_skip_verify on a server, a bad ALPN
 * list), WV_ENOENT (a file or directory that is not there), WV_EPROTO
 * (a certificate, key or CA that does not parse, a key that does not
 * match the certificate), WV_ENOMEM.
 */
WV_EXTERN int wv_tls_ctx_new(wv_tls_ctx_t **out, const wv_tls_ctx_opts_t *opts);

/* Drops the caller's reference: the context is freed now, or when the
 * last stream made from it is.  NULL: no-op. */
WV_EXTERN void wv_tls_ctx_free(wv_tls_ctx_t *ctx);

/* Options of wv_tls_client and wv_tls_server; NULL gives the defaults. */
typedef struct wv_tls_opts {
    /* The stream's own options (borrow_fd, limit, water marks). */
    wv_stream_opts_t stream;
} wv_tls_opts_t;

/*
 * Makes a TLS client stream over fd, a connected stream socket, and does
 * the handshake with the deadline (waiting as a stream does).
 * server_name (may be NULL) is sent as SNI (unless it is an IP address)
 * and, unless the context says insecure_skip_verify, the server's
 * certificate must be valid for it (a DNS name or an IP address in its
 * subjectAltName); NULL with verification on is WV_EINVAL.  A session
 * the context kept for the same server_name and peer address is offered
 * for resumption.  On success the stream owns fd (unless
 * opts->stream.borrow_fd); on error fd is left open, its flags as they
 * were, the caller's to close.
 * Errors: WV_ECERT (verification failed: wv_tls_error_reason), WV_EPROTO
 * (not TLS, no common protocol version or cipher...), WV_ETIMEDOUT,
 * WV_EAGAIN (deadline 0 and the handshake must wait: a handshake cannot
 * be tried without effect, the peer may have its first message; the
 * connection is of no further use), WV_ECANCELED,
 * WV_ECONNRESET (the peer closed or reset the connection during the
 * handshake), WV_EPIPE, WV_EINVAL (out, ctx NULL, a server context, fd
 * no stream socket, a bad option), WV_EBADF, WV_ENOMEM.
 */
WV_EXTERN int wv_tls_client(wv_stream_t **out, const wv_tls_opts_t *opts,
                            wv_tls_ctx_t *ctx, int fd, const char *server_name,
                            int64_t deadline);

/*
 * Makes a TLS server stream over fd (an accepted connection) and does
 * the handshake with the deadline.  Ownership of fd and the errors as
 * wv_tls_client's (WV_ECERT: a client certificate required and missing
 * or not valid); WV_EINVAL for a client context.
 */
WV_EXTERN int wv_tls_server(wv_stream_t **out, const wv_tls_opts_t *opts,
                            wv_tls_ctx_t *ctx, int fd, int64_t deadline);

/* ------------------------------------------------ after the handshake */

/* true if s is a TLS stream (not closed).  false for NULL. */
WV_EXTERN bool wv_tls_is_tls(const wv_stream_t *s);

/* The ALPN protocol agreed ("h2"), or NULL (none; not a TLS stream;
 * NULL).  Valid until s is closed or freed. */
WV_EXTERN const char *wv_tls_alpn(const wv_stream_t *s);

/* The protocol version ("TLSv1.3"), or NULL (not a TLS stream, NULL). */
WV_EXTERN const char *wv_tls_version(const wv_stream_t *s);

/* The cipher suite's name ("TLS_AES_256_GCM_SHA384"), or NULL. */
WV_EXTERN const char *wv_tls_cipher(const wv_stream_t *s);

/* true if the handshake resumed an earlier session (no full
 * handshake).  false for NULL and non-TLS streams. */
WV_EXTERN bool wv_tls_is_resumed(const wv_stream_t *s);

/*
 * The subject of the peer's certificate, one line, RFC 2253
 * ("CN=localhost,O=weave"), NUL-terminated into buf[0..cap).
 * 0, WV_ENOENT (the peer sent none), WV_ERANGE (cap too small; buf then
 * holds a truncated, terminated string), WV_EINVAL (s or buf NULL, cap
 * 0, not a TLS stream), WV_ENOMEM.
 */
WV_EXTERN int wv_tls_peer_subject(const wv_stream_t *s, char *buf, size_t cap);

/*
 * OpenSSL's reason for the last WV_ECERT or WV_EPROTO a TLS call returned
 * on the calling thread ("certificate has expired", "hostname mismatch",
 * "tlsv13 alert certificate required", "wrong version number"): a static
 * string, or "" if none.  Read it right after the failed call (a
 * coroutine: before it waits again; other coroutines of the thread
 * write the same slot).
 */
WV_EXTERN const char *wv_tls_error_reason(void);

#ifdef __cplusplus
}
#endif

#endif /* WEAVE_TLS_H */

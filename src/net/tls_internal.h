/*
 * net/tls_internal.h - what the TLS context (net/tls_ctx.c) and the TLS
 * transport (net/tls.c) share.
 */
#ifndef WV_NET_TLS_INTERNAL_H
#define WV_NET_TLS_INTERNAL_H

#include "weave/tls.h"

#include <openssl/ssl.h>
#include <stdbool.h>

/* The parts of a context the transport reads; all fixed after
 * wv_tls_ctx_new but the reference count and the session cache. */
typedef struct wv__tls_ctx_view {
    SSL_CTX *ssl_ctx;       /* the OpenSSL context every SSL is made from */
    bool server;            /* a server's context */
    bool verify;            /* the peer's certificate is verified */
    bool allow_unclean_eof; /* an end without close_notify is WV_EOF */
    bool resumption;        /* sessions are kept and offered (client) */
} wv__tls_ctx_view_t;

const wv__tls_ctx_view_t *wv__tls_ctx_view(const wv_tls_ctx_t *ctx);

/* One more reference (a stream's); wv_tls_ctx_free drops one. */
void wv__tls_ctx_ref(wv_tls_ctx_t *ctx);

/* The client's session for key, with a reference the caller drops
 * (SSL_SESSION_free), or NULL. */
SSL_SESSION *wv__tls_session_get(wv_tls_ctx_t *ctx, const char *key);

/* Keeps sess (the reference passes to the cache) for key. */
void wv__tls_session_put(wv_tls_ctx_t *ctx, const char *key, SSL_SESSION *sess);

/* The transport's session key of ssl, for the new-session callback. */
const char *wv__tls_session_key(SSL *ssl);

/* The reason string of the calling thread's last TLS failure. */
void wv__tls_set_reason(const char *why);

#endif /* WV_NET_TLS_INTERNAL_H */

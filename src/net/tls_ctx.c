/*
 * net/tls_ctx.c - TLS contexts (weave/tls.h): an SSL_CTX built from
 * options, with weave's defaults, and the client's session cache.
 *
 * Ownership: reference-counted inside.  The creator holds one reference
 * (dropped by wv_tls_ctx_free), every stream made from the context one
 * more (dropped when its transport closes), so freeing a context while
 * its connections live is safe, as SSL_CTX_free is in OpenSSL.
 *
 * Sessions.  A server resumes with OpenSSL's own means: stateless
 * tickets (TLS 1.3 and 1.2) and its internal cache, under one session id
 * context.  A client keeps sessions here, keyed by the server name and
 * the peer's address ("localhost|127.0.0.1:4433"), one per key, the
 * newest (a TLS 1.3 server sends tickets after the handshake: OpenSSL
 * hands them to new_session while the client reads).  At most
 * CACHE_SLOTS keys; the least recently stored goes first.  Rejected: the
 * application getting and setting sessions itself (Go's and Python's
 * way): every caller would need the same cache; and OpenSSL's internal
 * client cache, which has no lookup by server.
 *
 * Lock: cache_lock protects cache[] and stamp; nothing else changes
 * after wv_tls_ctx_new but refs (atomic).
 */
#include "tls_internal.h"

#include "../core/internal.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>

#define CACHE_SLOTS 64

struct cache_slot {
    char *key;          /* "name|address", or NULL: a free slot */
    SSL_SESSION *sess;  /* the newest session for key (owned) */
    unsigned long when; /* stamp of the last store: least goes first */
};

struct wv_tls_ctx {
    wv__tls_ctx_view_t view; /* what the transport reads */
    atomic_long refs;        /* the creator's and one per stream */
    unsigned char *alpn;     /* ALPN wire format (length-prefixed) */
    size_t alpn_len;
    pthread_mutex_t cache_lock;
    struct cache_slot cache[CACHE_SLOTS];
    unsigned long stamp; /* the last store's stamp */
};

const wv__tls_ctx_view_t *wv__tls_ctx_view(const wv_tls_ctx_t *ctx)
{
    return &ctx->view;
}

void wv__tls_ctx_ref(wv_tls_ctx_t *ctx)
{
    atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------ sessions */

SSL_SESSION *wv__tls_session_get(wv_tls_ctx_t *ctx, const char *key)
{
    SSL_SESSION *sess = NULL;

    pthread_mutex_lock(&ctx->cache_lock);
    for (int i = 0; i < CACHE_SLOTS; i++) {
        struct cache_slot *c = &ctx->cache[i];
        if (c->key && strcmp(c->key, key) == 0) {
            if (SSL_SESSION_is_resumable(c->sess) &&
                SSL_SESSION_up_ref(c->sess))
                sess = c->sess;
            break;
        }
    }
    pthread_mutex_unlock(&ctx->cache_lock);
    return sess;
}

void wv__tls_session_put(wv_tls_ctx_t *ctx, const char *key, SSL_SESSION *sess)
{
    struct cache_slot *slot = NULL;

    pthread_mutex_lock(&ctx->cache_lock);
    for (int i = 0; i < CACHE_SLOTS && !slot; i++)
        if (ctx->cache[i].key && strcmp(ctx->cache[i].key, key) == 0)
            slot = &ctx->cache[i];
    for (int i = 0; i < CACHE_SLOTS && !slot; i++)
        if (!ctx->cache[i].key)
            slot = &ctx->cache[i];
    if (!slot) { /* the least recently stored key goes */
        slot = &ctx->cache[0];
        for (int i = 1; i < CACHE_SLOTS; i++)
            if (ctx->cache[i].when < slot->when)
                slot = &ctx->cache[i];
    }
    if (!slot->key || strcmp(slot->key, key) != 0) {
        size_t len = strlen(key) + 1;
        char *copy = wv__malloc(len);
        if (!copy) { /* not kept: the next connection is a full one */
            pthread_mutex_unlock(&ctx->cache_lock);
            SSL_SESSION_free(sess);
            return;
        }
        memcpy(copy, key, len);
        wv__free(slot->key);
        slot->key = copy;
    }
    if (slot->sess)
        SSL_SESSION_free(slot->sess);
    slot->sess = sess;
    slot->when = ++ctx->stamp;
    pthread_mutex_unlock(&ctx->cache_lock);
}

/* OpenSSL's new-session callback (client): 1 keeps the reference. */
static int new_session(SSL *ssl, SSL_SESSION *sess)
{
    wv_tls_ctx_t *ctx = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    const char *key = wv__tls_session_key(ssl);

    if (!ctx || !key || !SSL_SESSION_is_resumable(sess))
        return 0;
    wv__tls_session_put(ctx, key, sess);
    return 1;
}

/* ---------------------------------------------------------------- ALPN */

/* The server's choice: its first protocol the client offers. */
static int alpn_select(SSL *ssl, const unsigned char **out,
                       unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
    wv_tls_ctx_t *ctx = arg;
    unsigned char *chosen;

    if (SSL_select_next_proto(&chosen, outlen, ctx->alpn,
                              (unsigned int)ctx->alpn_len, in,
                              inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

static int alpn_encode(wv_tls_ctx_t *ctx, const char *const *list, size_t n)
{
    size_t len = 0;

    if (n && !list)
        return WV_EINVAL;
    for (size_t i = 0; i < n; i++) {
        size_t l = list[i] ? strlen(list[i]) : 0;
        if (l == 0 || l > 255)
            return WV_EINVAL;
        len += 1 + l;
    }
    if (!n)
        return 0;
    if (len > 65535)
        return WV_EINVAL;
    ctx->alpn = wv__malloc(len);
    if (!ctx->alpn)
        return WV_ENOMEM;
    for (size_t i = 0, at = 0; i < n; i++) {
        size_t l = strlen(list[i]);
        ctx->alpn[at++] = (unsigned char)l;
        memcpy(ctx->alpn + at, list[i], l);
        at += l;
    }
    ctx->alpn_len = len;
    return 0;
}

/* -------------------------------------------------------- certificates */

static int file_check(const char *path, bool dir)
{
    struct stat st;

    if (stat(path, &st) < 0)
        return -errno;
    return (dir ? S_ISDIR(st.st_mode) : !S_ISDIR(st.st_mode)) ? 0 : WV_EINVAL;
}

/* Every certificate of the PEM text pem, in order, to fn(ctx, x). */
static int pem_each(SSL_CTX *sc, const char *pem,
                    int (*fn)(SSL_CTX *sc, X509 *x, int index))
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x;
    int index = 0, err = 0;

    if (!bio)
        return WV_ENOMEM;
    while (!err && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        err = fn(sc, x, index++) ? 0 : WV_EPROTO;
        X509_free(x);
    }
    BIO_free(bio);
    return err ? err : index ? 0 : WV_EPROTO;
}

static int add_ca(SSL_CTX *sc, X509 *x, int index)
{
    return X509_STORE_add_cert(SSL_CTX_get_cert_store(sc), x);
}

static int add_chain(SSL_CTX *sc, X509 *x, int index)
{
    return index == 0 ? SSL_CTX_use_certificate(sc, x)
                      : SSL_CTX_add1_chain_cert(sc, x);
}

static int load_trust(SSL_CTX *sc, const wv_tls_ctx_opts_t *o)
{
    int err;

    if (o->ca_file && (err = file_check(o->ca_file, false)))
        return err;
    if (o->ca_dir && (err = file_check(o->ca_dir, true)))
        return err;
    if ((o->ca_file || o->ca_dir) &&
        !SSL_CTX_load_verify_locations(sc, o->ca_file, o->ca_dir))
        return WV_EPROTO;
    if (o->ca_pem && (err = pem_each(sc, o->ca_pem, add_ca)))
        return err;
    if (!o->server && !o->ca_file && !o->ca_dir && !o->ca_pem &&
        !o->insecure_skip_verify && !SSL_CTX_set_default_verify_paths(sc))
        return WV_EPROTO;
    return 0;
}

static int load_key_pem(SSL_CTX *sc, const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key;
    int ok;

    if (!bio)
        return WV_ENOMEM;
    key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    ok = key && SSL_CTX_use_PrivateKey(sc, key);
    EVP_PKEY_free(key);
    BIO_free(bio);
    return ok ? 0 : WV_EPROTO;
}

static int load_own(SSL_CTX *sc, const wv_tls_ctx_opts_t *o)
{
    bool has_cert = o->cert_file || o->cert_pem;
    bool has_key = o->key_file || o->key_pem;
    int err = 0;

    if (has_cert != has_key || (o->cert_file && o->cert_pem) ||
        (o->key_file && o->key_pem) || (o->server && !has_cert))
        return WV_EINVAL;
    if (!has_cert)
        return 0;
    if (o->cert_file && !(err = file_check(o->cert_file, false)))
        err = SSL_CTX_use_certificate_chain_file(sc, o->cert_file) ? 0
                                                                   : WV_EPROTO;
    if (!err && o->cert_pem)
        err = pem_each(sc, o->cert_pem, add_chain);
    if (!err && o->key_file && !(err = file_check(o->key_file, false)))
        err = SSL_CTX_use_PrivateKey_file(sc, o->key_file, SSL_FILETYPE_PEM)
                  ? 0
                  : WV_EPROTO;
    if (!err && o->key_pem)
        err = load_key_pem(sc, o->key_pem);
    if (!err && !SSL_CTX_check_private_key(sc))
        err = WV_EPROTO;
    return err;
}

/* ---------------------------------------------------------- the context */

static int check_opts(const wv_tls_ctx_opts_t *o)
{
    if (o->verify_client < WV_TLS_CLIENT_CERT_NONE ||
        o->verify_client > WV_TLS_CLIENT_CERT_REQUIRED ||
        (o->verify_client && !o->server) ||
        (o->verify_client && !o->ca_file && !o->ca_dir && !o->ca_pem) ||
        (o->min_version != WV_TLS_1_2 && o->min_version != WV_TLS_1_3) ||
        (o->insecure_skip_verify && o->server))
        return WV_EINVAL;
    return 0;
}

/* Everything of the SSL_CTX that comes from options. */
static int configure(wv_tls_ctx_t *ctx, const wv_tls_ctx_opts_t *o)
{
    SSL_CTX *sc = ctx->view.ssl_ctx;
    int verify = SSL_VERIFY_NONE, err;

    SSL_CTX_set_app_data(sc, ctx);
    SSL_CTX_set_min_proto_version(
        sc, o->min_version == WV_TLS_1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(sc, SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(sc, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(sc, 1);
    if ((err = load_trust(sc, o)) || (err = load_own(sc, o)))
        return err;
    if (!o->server && !o->insecure_skip_verify)
        verify = SSL_VERIFY_PEER;
    if (o->verify_client == WV_TLS_CLIENT_CERT_OPTIONAL)
        verify = SSL_VERIFY_PEER;
    if (o->verify_client == WV_TLS_CLIENT_CERT_REQUIRED)
        verify = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(sc, verify, NULL);
    ctx->view.verify = verify != SSL_VERIFY_NONE;
    if ((err = alpn_encode(ctx, o->alpn, o->alpn_count)))
        return err;
    if (ctx->alpn && o->server)
        SSL_CTX_set_alpn_select_cb(sc, alpn_select, ctx);
    if (ctx->alpn && !o->server &&
        SSL_CTX_set_alpn_protos(sc, ctx->alpn, (unsigned int)ctx->alpn_len))
        return WV_ENOMEM;
    if (o->no_resumption) {
        SSL_CTX_set_options(sc, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(sc, 0);
        SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
    } else if (o->server) {
        SSL_CTX_set_session_id_context(sc, (const unsigned char *)"weave", 5);
    } else {
        SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_CLIENT |
                                               SSL_SESS_CACHE_NO_INTERNAL);
        SSL_CTX_sess_set_new_cb(sc, new_session);
    }
    ctx->view.resumption = !o->no_resumption;
    return 0;
}

static void ctx_destroy(wv_tls_ctx_t *ctx)
{
    for (int i = 0; i < CACHE_SLOTS; i++) {
        wv__free(ctx->cache[i].key);
        if (ctx->cache[i].sess)
            SSL_SESSION_free(ctx->cache[i].sess);
    }
    SSL_CTX_free(ctx->view.ssl_ctx);
    pthread_mutex_destroy(&ctx->cache_lock);
    wv__free(ctx->alpn);
    wv__free(ctx);
}

int wv_tls_ctx_new(wv_tls_ctx_t **out, const wv_tls_ctx_opts_t *opts)
{
    wv_tls_ctx_opts_t o = opts ? *opts : (wv_tls_ctx_opts_t){0};
    int err;

    if (!out || (err = check_opts(&o)))
        return WV_EINVAL;
    wv_tls_ctx_t *ctx = wv__calloc(1, sizeof *ctx);
    if (!ctx)
        return WV_ENOMEM;
    pthread_mutex_init(&ctx->cache_lock, NULL);
    atomic_init(&ctx->refs, 1);
    ctx->view.server = o.server;
    ctx->view.allow_unclean_eof = o.allow_unclean_eof;
    ERR_clear_error();
    ctx->view.ssl_ctx =
        SSL_CTX_new(o.server ? TLS_server_method() : TLS_client_method());
    err = ctx->view.ssl_ctx ? configure(ctx, &o) : WV_ENOMEM;
    ERR_clear_error(); /* nothing of ours is left on the thread's queue */
    if (err) {
        ctx_destroy(ctx);
        return err;
    }
    *out = ctx;
    return 0;
}

void wv_tls_ctx_free(wv_tls_ctx_t *ctx)
{
    if (ctx &&
        atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) == 1)
        ctx_destroy(ctx);
}

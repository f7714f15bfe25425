/*
 * net/tls_none.c - weave/tls.h in a build without OpenSSL (WEAVE_TLS=OFF,
 * e.g. a cross build with no OpenSSL of the target's): every call that
 * can fail returns WV_ENOSYS, the queries answer as for a plain stream.
 */
#include "../core/internal.h"
#include "weave/tls.h"

int wv_tls_ctx_new(wv_tls_ctx_t **out, const wv_tls_ctx_opts_t *opts)
{
    (void)opts;
    return out ? WV_ENOSYS : WV_EINVAL;
}

void wv_tls_ctx_free(wv_tls_ctx_t *ctx)
{
    (void)ctx;
}

int wv_tls_client(wv_stream_t **out, const wv_tls_opts_t *opts,
                  wv_tls_ctx_t *ctx, int fd, const char *server_name,
                  int64_t deadline)
{
    (void)opts, (void)fd, (void)server_name, (void)deadline;
    return out && ctx ? WV_ENOSYS : WV_EINVAL;
}

int wv_tls_server(wv_stream_t **out, const wv_tls_opts_t *opts,
                  wv_tls_ctx_t *ctx, int fd, int64_t deadline)
{
    (void)opts, (void)fd, (void)deadline;
    return out && ctx ? WV_ENOSYS : WV_EINVAL;
}

bool wv_tls_is_tls(const wv_stream_t *s)
{
    (void)s;
    return false;
}

const char *wv_tls_alpn(const wv_stream_t *s)
{
    (void)s;
    return NULL;
}

const char *wv_tls_version(const wv_stream_t *s)
{
    (void)s;
    return NULL;
}

const char *wv_tls_cipher(const wv_stream_t *s)
{
    (void)s;
    return NULL;
}

bool wv_tls_is_resumed(const wv_stream_t *s)
{
    (void)s;
    return false;
}

int wv_tls_peer_subject(const wv_stream_t *s, char *buf, size_t cap)
{
    (void)cap;
    return s && buf ? WV_ENOSYS : WV_EINVAL;
}

const char *wv_tls_error_reason(void)
{
    return "built without TLS (WEAVE_TLS=OFF)";
}

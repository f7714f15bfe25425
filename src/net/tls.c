/*
 * net/tls.c - the TLS transport (net/transport.h) and TLS streams
 * (weave/tls.h): an OpenSSL SSL object over a non-blocking socket.
 *
 * The BIO.  OpenSSL talks to the socket through a BIO of our own (rejected:
 * SSL_set_fd, whose socket BIO writes with write(2), raising SIGPIPE on a
 * gone peer; and a pair of memory BIOs, one copy more each way).  Its read
 * is recv: bytes, the end, or "retry" on EAGAIN.  Its write never refuses:
 * it appends the records to `out`, our own buffer, which is then sent with
 * send(MSG_NOSIGNAL) as far as the socket takes it.  So SSL_write never
 * answers WANT_WRITE, and OpenSSL's rule that a write retried after
 * WANT_WRITE must pass the same bytes (which the stream, after a time-out,
 * could not keep) never applies.  The price: bytes writev reports written
 * may still sit in `out`, encrypted; writev sends them before anything
 * new, and the stream's drain, write_eof and close wait for them through
 * the flush op.  `out` holds at most one writev's records (WRITE_MAX
 * bytes of plain text, plus their overhead), since writev first empties
 * it.
 *
 * Lock.  One SSL object serves both directions, so `lock` serialises
 * every call into it (SSL_read, SSL_write, SSL_shutdown, the accessors)
 * and protects `out`, rd_err, wr_err, fatal, fatal_err, shut_sent.  Held only
 * around calls that do not wait (the socket is non-blocking); never across a
 * wait.  A read that made records of its own (a TLS 1.3 key update's
 * answer) sends them too, and if they do not all go, asks to wait for
 * POLLOUT as well as POLLIN.
 *
 * OpenSSL's error queue is per thread: every entry clears it first and
 * clears it again before returning, so nothing of ours is ever left on
 * the caller's queue.
 *
 * The end.  close_notify is a clean end: read returns 0, the stream's
 * WV_EOF.  A connection that ends without it (recv's 0 inside a record, or
 * before a close_notify) may be a truncation: WV_ECONNRESET, unless the
 * context allows unclean ends (then 0).
 */
#include "tls_internal.h"
#include "transport.h"

#include "../core/internal.h"
#include "../core/io.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define WRITE_MAX (64 * 1024) /* plain text per writev: four records */

struct tls {
    wv__transport_t base; /* ops, fd */
    SSL *ssl;             /* the TLS state, both directions (lock) */
    wv_tls_ctx_t *ctx;    /* its context; a reference of ours */
    pthread_mutex_t lock; /* see the file's comment */
    char *out;            /* records made, not yet sent: out[opos..olen) */
    size_t opos, olen, ocap;
    int rd_err;        /* recv's error (WV_ECONNRESET...), or 0 */
    int wr_err;        /* send's error (WV_EPIPE...), or 0 */
    bool rd_eof;       /* recv returned 0 */
    bool fatal;        /* a fatal SSL error: no close_notify then */
    int fatal_err;     /* its code, sticky (later answers lose the why) */
    bool shut_sent;    /* SSL_shutdown sent close_notify */
    bool done;         /* the handshake is complete */
    bool borrowed;     /* the caller's fd: never closed */
    int saved_flags;   /* fd's status flags before O_NONBLOCK */
    char *session_key; /* client: "name|address" of the session cache */
    char alpn[256];    /* the agreed ALPN protocol, or "" */
};

static __thread const char *tls_reason;

void wv__tls_set_reason(const char *why)
{
    tls_reason = why;
}

const char *wv_tls_error_reason(void)
{
    return tls_reason ? tls_reason : "";
}

const char *wv__tls_session_key(SSL *ssl)
{
    struct tls *t = SSL_get_app_data(ssl);
    return t ? t->session_key : NULL;
}

/* ---------------------------------------------------------------- BIO */

static int bio_write(BIO *bio, const char *data, size_t len, size_t *written)
{
    struct tls *t = BIO_get_data(bio);

    BIO_clear_retry_flags(bio);
    if (t->ocap - t->olen < len) {
        size_t cap = t->ocap ? t->ocap : 16 * 1024;
        while (cap - t->olen < len)
            cap *= 2;
        char *buf = wv__realloc(t->out, cap);
        if (!buf) {
            t->wr_err = WV_ENOMEM; /* fatal: a record is lost */
            return 0;
        }
        t->out = buf;
        t->ocap = cap;
    }
    memcpy(t->out + t->olen, data, len);
    t->olen += len;
    *written = len;
    return 1;
}

static int bio_read(BIO *bio, char *buf, size_t len, size_t *got)
{
    struct tls *t = BIO_get_data(bio);
    ssize_t n = wv__read(t->base.fd, buf, len);

    BIO_clear_retry_flags(bio);
    if (n > 0) {
        *got = (size_t)n;
        return 1;
    }
    if (n == WV_EAGAIN)
        BIO_set_retry_read(bio);
    else if (n == 0)
        t->rd_eof = true;
    else
        t->rd_err = (int)n;
    return 0;
}

static long bio_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
    struct tls *t = BIO_get_data(bio);

    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; /* out is sent by the transport, not here */
    case BIO_CTRL_EOF:
        return t->rd_eof;
    default:
        return 0;
    }
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

/* Made once, kept for the process's life (OpenSSL's own are static). */
static void bio_method_init(void)
{
    BIO_METHOD *m =
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "weave");
    if (m && BIO_meth_set_write_ex(m, bio_write) &&
        BIO_meth_set_read_ex(m, bio_read) && BIO_meth_set_ctrl(m, bio_ctrl))
        bio_method = m;
    else
        BIO_meth_free(m);
}

/* --------------------------------------------------------- the socket */

/* Sends out[opos..olen), lock held: 0 once empty, WV_EAGAIN, or an error
 * (kept in wr_err). */
static int out_flush(struct tls *t)
{
    if (t->wr_err)
        return t->wr_err;
    while (t->opos < t->olen) {
        struct iovec iov = {t->out + t->opos, t->olen - t->opos};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n = wv__sendmsg(t->base.fd, &m, MSG_NOSIGNAL);
        if (n == WV_EAGAIN)
            return WV_EAGAIN;
        if (n < 0)
            return t->wr_err = (int)n;
        t->opos += (size_t)n;
    }
    t->opos = t->olen = 0;
    return 0;
}

static bool is_cert_reason(int reason)
{
    switch (reason) {
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        return true;
    default:
        return false;
    }
}

/*
 * The WV_E* code of a failed SSL call whose SSL_get_error was `code`,
 * lock held: WV_EAGAIN with *want, 0 for the end (close_notify, or an
 * allowed unclean end), or an error.  Clears the error queue.
 */
static int ssl_fail(struct tls *t, int code, short *want)
{
    const wv__tls_ctx_view_t *v = wv__tls_ctx_view(t->ctx);
    unsigned long e = ERR_peek_last_error();
    int err;

    if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
        *want = code == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        if (t->opos < t->olen && !t->wr_err) /* not on a dead socket */
            *want |= POLLOUT;
        return WV_EAGAIN;
    }
    if (code == SSL_ERROR_ZERO_RETURN)
        return 0;
    if (t->fatal) {
        ERR_clear_error();
        return t->fatal_err;
    }
    if (t->rd_err || t->wr_err) {
        err = t->rd_err ? t->rd_err : t->wr_err;
    } else if (code == SSL_ERROR_SYSCALL ||
               ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        err = t->done && v->allow_unclean_eof ? 0 : WV_ECONNRESET;
        wv__tls_set_reason("the peer closed the connection without "
                           "close_notify");
    } else if (v->verify && SSL_get_verify_result(t->ssl) != X509_V_OK) {
        err = WV_ECERT;
        wv__tls_set_reason(
            X509_verify_cert_error_string(SSL_get_verify_result(t->ssl)));
    } else {
        const char *why = ERR_reason_error_string(e);
        err = is_cert_reason(ERR_GET_REASON(e)) ? WV_ECERT : WV_EPROTO;
        wv__tls_set_reason(why ? why : "TLS failure");
    }
    t->fatal = true;
    t->fatal_err = err;
    ERR_clear_error();
    return err;
}

/* ---------------------------------------------------------- transport */

static ssize_t tls_read(wv__transport_t *base, void *buf, size_t len,
                        short *want)
{
    struct tls *t = (struct tls *)base;
    size_t got = 0, n;
    int code = SSL_ERROR_NONE;

    pthread_mutex_lock(&t->lock);
    ERR_clear_error();
    while (got < len) {
        if (!SSL_read_ex(t->ssl, (char *)buf + got, len - got, &n)) {
            code = SSL_get_error(t->ssl, 0);
            break;
        }
        got += n;
        if (!SSL_has_pending(t->ssl))
            break; /* the next would be a recv: let the stream decide */
    }
    if (t->opos < t->olen)
        out_flush(t); /* records a read made (a key update's answer) */
    ssize_t ret = got ? (ssize_t)got : ssl_fail(t, code, want);
    ERR_clear_error();
    pthread_mutex_unlock(&t->lock);
    return ret;
}

static ssize_t tls_writev(wv__transport_t *base, const struct iovec *iov,
                          int niov, short *want)
{
    struct tls *t = (struct tls *)base;
    size_t total = 0, n;
    int code = SSL_ERROR_NONE;

    pthread_mutex_lock(&t->lock);
    ERR_clear_error();
    int err = out_flush(t);
    if (err) {
        if (err == WV_EAGAIN)
            *want = POLLOUT;
        pthread_mutex_unlock(&t->lock);
        return err;
    }
    for (int i = 0; i < niov && total < WRITE_MAX; i++) {
        size_t len = iov[i].iov_len;
        if (len > WRITE_MAX - total)
            len = WRITE_MAX - total;
        if (len == 0)
            continue;
        if (!SSL_write_ex(t->ssl, iov[i].iov_base, len, &n)) {
            code = SSL_get_error(t->ssl, 0);
            break;
        }
        total += n;
    }
    err = out_flush(t); /* WV_EAGAIN: the rest goes with the next call */
    ssize_t ret = total                    ? (ssize_t)total
                  : code != SSL_ERROR_NONE ? ssl_fail(t, code, want)
                                           : err;
    ERR_clear_error();
    pthread_mutex_unlock(&t->lock);
    if (ret == WV_EAGAIN && code == SSL_ERROR_NONE)
        *want = POLLOUT;
    return ret;
}

static int tls_wait(wv__transport_t *t, short want, int64_t deadline)
{
    return wv__fd_wait_again(t->fd, want, deadline, &t->reg);
}

static int tls_flush(wv__transport_t *base, short *want)
{
    struct tls *t = (struct tls *)base;

    pthread_mutex_lock(&t->lock);
    int err = out_flush(t);
    pthread_mutex_unlock(&t->lock);
    if (err == WV_EAGAIN)
        *want = POLLOUT;
    return err;
}

/* Sends close_notify once, lock held; 0, WV_EAGAIN or an error. */
static int send_close_notify(struct tls *t)
{
    if (!t->shut_sent && !t->fatal && t->done) {
        ERR_clear_error();
        if (SSL_shutdown(t->ssl) < 0) {
            short want;
            int err = ssl_fail(t, SSL_get_error(t->ssl, -1), &want);
            ERR_clear_error();
            if (err != WV_EAGAIN)
                return err;
        }
        ERR_clear_error();
        t->shut_sent = true;
    }
    return out_flush(t);
}

static int tls_shutdown(wv__transport_t *base, short *want)
{
    struct tls *t = (struct tls *)base;

    pthread_mutex_lock(&t->lock);
    int err = send_close_notify(t);
    pthread_mutex_unlock(&t->lock);
    if (err == WV_EAGAIN)
        *want = POLLOUT;
    if (err)
        return err;
    return shutdown(t->base.fd, SHUT_WR) ? -errno : 0;
}

/* Frees t, leaving fd open with its flags when `keep_fd`. */
static void tls_release(struct tls *t, bool keep_fd)
{
    if (keep_fd || t->borrowed)
        fcntl(t->base.fd, F_SETFL, t->saved_flags);
    else
        close(t->base.fd);
    SSL_free(t->ssl);
    wv_tls_ctx_free(t->ctx);
    pthread_mutex_destroy(&t->lock);
    wv__free(t->out);
    wv__free(t->session_key);
    wv__free(t);
}

static void tls_close(wv__transport_t *base)
{
    struct tls *t = (struct tls *)base;

    pthread_mutex_lock(&t->lock);
    send_close_notify(t); /* what goes at once: close never waits */
    pthread_mutex_unlock(&t->lock);
    tls_release(t, false);
}

static const wv__transport_ops_t tls_ops = {
    .read = tls_read,
    .writev = tls_writev,
    .wait = tls_wait,
    .shutdown = tls_shutdown,
    .close = tls_close,
    .flush = tls_flush,
};

/* ---------------------------------------------------------- handshake */

/* The handshake, waiting as needed: 0 or an error. */
static int handshake(struct tls *t, int64_t deadline)
{
    for (;;) {
        short want = 0;
        pthread_mutex_lock(&t->lock);
        ERR_clear_error();
        int ok = SSL_do_handshake(t->ssl) == 1;
        int err = ok ? 0 : ssl_fail(t, SSL_get_error(t->ssl, 0), &want);
        ERR_clear_error();
        int ferr = out_flush(t);
        pthread_mutex_unlock(&t->lock);
        if (ok && !ferr)
            return 0;
        if (err == 0 && !ok)
            err = WV_ECONNRESET; /* close_notify before the end of it */
        if (err && err != WV_EAGAIN)
            return err;
        if (ferr && ferr != WV_EAGAIN)
            return ferr;
        if (ferr == WV_EAGAIN)
            want |= POLLOUT;
        err = wv__fd_wait_again(t->base.fd, want, deadline, &t->base.reg);
        if (err)
            return err;
    }
}

/* "name|address:port" of fd's peer, for the client's session cache. */
static char *session_key(int fd, const char *name)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char addr[INET6_ADDRSTRLEN] = "", key[512];
    int port = 0;

    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof addr);
            port = ntohs(sin->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof addr);
            port = ntohs(sin6->sin6_port);
        }
    }
    int n = snprintf(key, sizeof key, "%s|%s:%d", name ? name : "", addr, port);
    if (n < 0 || (size_t)n >= sizeof key)
        return NULL;
    char *copy = wv__malloc((size_t)n + 1);
    if (copy)
        memcpy(copy, key, (size_t)n + 1);
    return copy;
}

static bool is_ip(const char *name)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, name, buf) == 1 ||
           inet_pton(AF_INET6, name, buf) == 1;
}

/* Client settings of t->ssl: SNI, the name to verify, a session. */
static int client_setup(struct tls *t, const char *name)
{
    const wv__tls_ctx_view_t *v = wv__tls_ctx_view(t->ctx);
    X509_VERIFY_PARAM *param = SSL_get0_param(t->ssl);

    if (name && !is_ip(name) && !SSL_set_tlsext_host_name(t->ssl, name))
        return WV_EINVAL;
    if (name && v->verify) {
        X509_VERIFY_PARAM_set_hostflags(param,
                                        X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (!(is_ip(name) ? X509_VERIFY_PARAM_set1_ip_asc(param, name)
                          : X509_VERIFY_PARAM_set1_host(param, name, 0)))
            return WV_EINVAL;
    }
    if (!v->resumption)
        return 0;
    t->session_key = session_key(t->base.fd, name);
    if (!t->session_key)
        return WV_ENOMEM;
    SSL_SESSION *sess = wv__tls_session_get(t->ctx, t->session_key);
    if (sess) {
        SSL_set_session(t->ssl, sess);
        SSL_SESSION_free(sess);
    }
    return 0;
}

/* A transport over fd with a fresh SSL object of ctx; fd untouched on
 * error. */
static int tls_new(struct tls **out, wv_tls_ctx_t *ctx, int fd, bool borrow)
{
    struct stat st;
    int type = 0;
    socklen_t len = sizeof type;

    if (fd < 0)
        return WV_EBADF;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISSOCK(st.st_mode) ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
        type != SOCK_STREAM)
        return WV_EINVAL;
    pthread_once(&bio_once, bio_method_init);
    struct tls *t = wv__calloc(1, sizeof *t);
    if (!t || !bio_method)
        goto out_nomem;
    t->base = (wv__transport_t){.ops = &tls_ops, .fd = fd};
    t->borrowed = borrow;
    t->saved_flags = flags;
    t->ssl = SSL_new(wv__tls_ctx_view(ctx)->ssl_ctx);
    BIO *bio = t->ssl ? BIO_new(bio_method) : NULL;
    if (!bio)
        goto out_nomem;
    BIO_set_data(bio, t);
    BIO_set_init(bio, 1);
    SSL_set_bio(t->ssl, bio, bio); /* t->ssl owns it */
    SSL_set_app_data(t->ssl, t);
    if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        int err = -errno;
        SSL_free(t->ssl);
        wv__free(t);
        return err;
    }
    pthread_mutex_init(&t->lock, NULL);
    wv__tls_ctx_ref(ctx);
    t->ctx = ctx;
    *out = t;
    return 0;
out_nomem:
    if (t)
        SSL_free(t->ssl);
    wv__free(t);
    return WV_ENOMEM;
}

static int tls_stream(wv_stream_t **out, const wv_tls_opts_t *opts,
                      wv_tls_ctx_t *ctx, int fd, const char *name, bool server,
                      int64_t deadline)
{
    const wv_stream_opts_t *so = opts ? &opts->stream : NULL;
    struct tls *t = NULL;

    size_t high = so && so->high_water ? so->high_water : WV_STREAM_HIGH_WATER;

    if (!out || !ctx || wv__tls_ctx_view(ctx)->server != server ||
        (so && so->low_water > high))
        return WV_EINVAL; /* before the handshake, not after it */
    if (!server && !name && wv__tls_ctx_view(ctx)->verify)
        return WV_EINVAL;
    ERR_clear_error();
    int err = tls_new(&t, ctx, fd, so && so->borrow_fd);
    if (err)
        return err;
    if (server)
        SSL_set_accept_state(t->ssl);
    else
        SSL_set_connect_state(t->ssl);
    err = server ? 0 : client_setup(t, name);
    if (!err)
        err = handshake(t, deadline);
    if (!err) {
        const unsigned char *p;
        unsigned int plen;
        t->done = true;
        SSL_get0_alpn_selected(t->ssl, &p, &plen);
        if (plen) /* at most 255 */
            memcpy(t->alpn, p, plen);
        t->alpn[plen] = '\0';
        err = wv__stream_new(out, so, &t->base);
    }
    ERR_clear_error();
    if (err)
        tls_release(t, true);
    return err;
}

int wv_tls_client(wv_stream_t **out, const wv_tls_opts_t *opts,
                  wv_tls_ctx_t *ctx, int fd, const char *server_name,
                  int64_t deadline)
{
    return tls_stream(out, opts, ctx, fd, server_name, false, deadline);
}

int wv_tls_server(wv_stream_t **out, const wv_tls_opts_t *opts,
                  wv_tls_ctx_t *ctx, int fd, int64_t deadline)
{
    return tls_stream(out, opts, ctx, fd, NULL, true, deadline);
}

/* ----------------------------------------------------------- accessors */

/* s's TLS transport, or NULL. */
static struct tls *tls_of(const wv_stream_t *s)
{
    wv__transport_t *t = s ? wv__stream_transport(s) : NULL;
    return t && t->ops == &tls_ops ? (struct tls *)t : NULL;
}

bool wv_tls_is_tls(const wv_stream_t *s)
{
    return tls_of(s) != NULL;
}

const char *wv_tls_alpn(const wv_stream_t *s)
{
    struct tls *t = tls_of(s);
    return t && t->alpn[0] ? t->alpn : NULL;
}

const char *wv_tls_version(const wv_stream_t *s)
{
    struct tls *t = tls_of(s);
    if (!t)
        return NULL;
    pthread_mutex_lock(&t->lock);
    const char *v = SSL_get_version(t->ssl);
    pthread_mutex_unlock(&t->lock);
    return v;
}

const char *wv_tls_cipher(const wv_stream_t *s)
{
    struct tls *t = tls_of(s);
    if (!t)
        return NULL;
    pthread_mutex_lock(&t->lock);
    const char *c = SSL_CIPHER_get_name(SSL_get_current_cipher(t->ssl));
    pthread_mutex_unlock(&t->lock);
    return c;
}

bool wv_tls_is_resumed(const wv_stream_t *s)
{
    struct tls *t = tls_of(s);
    if (!t)
        return false;
    pthread_mutex_lock(&t->lock);
    bool reused = SSL_session_reused(t->ssl);
    pthread_mutex_unlock(&t->lock);
    return reused;
}

int wv_tls_peer_subject(const wv_stream_t *s, char *buf, size_t cap)
{
    struct tls *t = tls_of(s);
    int err = WV_ENOENT;

    if (!t || !buf || !cap)
        return WV_EINVAL;
    buf[0] = '\0';
    pthread_mutex_lock(&t->lock);
    X509 *peer = SSL_get0_peer_certificate(t->ssl);
    BIO *mem = peer ? BIO_new(BIO_s_mem()) : NULL;
    if (peer && !mem)
        err = WV_ENOMEM;
    if (mem && X509_NAME_print_ex(mem, X509_get_subject_name(peer), 0,
                                  XN_FLAG_RFC2253) >= 0) {
        char *text;
        long len = BIO_get_mem_data(mem, &text);
        size_t n = (size_t)len < cap ? (size_t)len : cap - 1;
        memcpy(buf, text, n);
        buf[n] = '\0';
        err = (size_t)len < cap ? 0 : WV_ERANGE;
    }
    BIO_free(mem);
    ERR_clear_error();
    pthread_mutex_unlock(&t->lock);
    return err;
}

/*
 * test_tls.c - TLS streams (weave/tls.h) between real peers: weave and
 * weave over loopback TCP and socketpairs, from threads and from two
 * coroutines of one thread; weave against `openssl s_server`,
 * `openssl s_client` and Python's ssl module.
 *
 * Every case makes its own CA and certificates with the openssl command
 * into a mkdtemp directory (EC keys: quick), and removes it at the end.
 * Servers that are programs announce nothing: the test connects with
 * retries bounded by a deadline, and the connection that succeeds is the
 * one it uses.  Python's server prints its port once it listens.
 */
#include "runner.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---------------------------------------------------------- the PKI */

struct pki {
    char dir[64];
    char path[16][128];
};

/* The files of a pki, by name. */
static const char *pf(struct pki *p, const char *name)
{
    static const char *names[] = {
        "ca.pem",    "srv.pem",   "srv.key",     "expired.pem",
        "wrong.pem", "wrong.key", "expired.key", "self.pem",
        "self.key",  "cli.pem",   "cli.key",     "other.key",
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(names[i], name) == 0) {
            strcpy(p->path[i], p->dir);
            strcat(p->path[i], "/");
            strcat(p->path[i], name);
            return p->path[i];
        }
    WVT_FAIL("no such pki file: %s", name);
}

static void sh(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        WVT_FAIL("command failed (%d): %s", rc, cmd);
}

/*
 * A CA; srv: localhost and 127.0.0.1, signed by it; expired: the same
 * names, expired; wrong: for wrong.example; self: self-signed for
 * localhost; cli: a client certificate (CN weave-client) of the CA.
 */
static bool pki_make(struct pki *p)
{
    char cmd[4096];
    /* The certificates come from the openssl command (Debian's openssl
     * package; .ci/run installs it): without it there is nothing to test
     * against, and the case says so and passes. */
    if (system("command -v openssl >/dev/null 2>&1") != 0) {
        fprintf(stderr, "skipped: no openssl command\n");
        return false;
    }
    strcpy(p->dir, "/tmp/wvtlsXXXXXX");
    WVT_ASSERT(mkdtemp(p->dir));
    snprintf(
        cmd, sizeof cmd,
        "set -e; cd %s; exec 2>/dev/null >/dev/null;"
        "K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';"
        "printf '[srv]\\nsubjectAltName=DNS:localhost,IP:127.0.0.1\\n"
        "extendedKeyUsage=serverAuth\\n[wrong]\\nsubjectAltName="
        "DNS:wrong.example\\n[cli]\\nextendedKeyUsage=clientAuth\\n' > ext;"
        "openssl req -x509 $K -keyout ca.key -out ca.pem -days 30 "
        "-subj /CN=weave-test-ca;"
        "sign() { openssl req $K -keyout $1.key -out $1.csr -subj /CN=$2;"
        " openssl x509 -req -in $1.csr -CA ca.pem -CAkey ca.key "
        "-CAcreateserial -out $1.pem -days $3 -extfile ext -extensions $4; }"
        ";sign srv localhost 30 srv; sign expired localhost -1 srv;"
        "sign wrong wrong.example 30 wrong; sign cli weave-client 30 cli;"
        "openssl req -x509 $K -keyout self.key -out self.pem -days 30 "
        "-subj /CN=localhost -addext subjectAltName=DNS:localhost;"
        "openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:prime256v1"
        " -out other.key",
        p->dir);
    sh(cmd);
    return true;
}

static void pki_free(struct pki *p)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", p->dir);
    sh(cmd);
}

/* The whole of a small file, NUL-terminated (free it). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    WVT_ASSERT(f);
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    WVT_GT(n, 0);
    fclose(f);
    return buf;
}

/* ---------------------------------------------------------- contexts */

static wv_tls_ctx_t *server_ctx(struct pki *p, const char *cert,
                                const char *key, int verify_client)
{
    static const char *alpn[] = {"http/1.1", "weave/1"};
    wv_tls_ctx_opts_t o = {.server = true,
                           .cert_file = pf(p, cert),
                           .key_file = pf(p, key),
                           .verify_client = verify_client,
                           .alpn = alpn,
                           .alpn_count = 2};
    if (verify_client)
        o.ca_file = pf(p, "ca.pem");
    wv_tls_ctx_t *ctx = NULL;
    WVT_OK(wv_tls_ctx_new(&ctx, &o));
    return ctx;
}

static wv_tls_ctx_t *client_ctx(struct pki *p, bool with_cert)
{
    static const char *alpn[] = {"weave/1", "h2"};
    wv_tls_ctx_opts_t o = {
        .ca_file = pf(p, "ca.pem"), .alpn = alpn, .alpn_count = 2};
    if (with_cert) {
        o.cert_file = pf(p, "cli.pem");
        o.key_file = pf(p, "cli.key");
    }
    wv_tls_ctx_t *ctx = NULL;
    WVT_OK(wv_tls_ctx_new(&ctx, &o));
    return ctx;
}

/* ---------------------------------------------------------- sockets */

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

/* Connects to 127.0.0.1:port: the descriptor, or -errno. */
static int try_connect(int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    WVT_GE(fd, 0);
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0)
        return fd;
    int err = -errno;
    close(fd);
    return err;
}

static int connect_to(int port)
{
    int fd = try_connect(port);
    WVT_GE(fd, 0);
    return fd;
}

/* Connects until a server program listens, within 10 s. */
static int connect_retry(int port)
{
    int64_t end = wv_now() + 10000;
    int fd;
    while ((fd = try_connect(port)) == WV_ECONNREFUSED && wv_now() < end)
        wvt_pause();
    WVT_GE(fd, 0);
    return fd;
}

/* A port nothing listens on now (bound, then let go). */
static int free_port(void)
{
    int port, l = listener(&port);
    close(l);
    return port;
}

/* --------------------------------------------------- a weave server */

/* Serves `conns` connections of lfd with ctx, one at a time: each line
 * read is written back, until the end; then close.  Records each
 * handshake's result, whether it resumed, and the client's subject. */
struct server {
    int lfd;
    wv_tls_ctx_t *ctx;
    int conns;
    int err[8];
    bool resumed[8];
    char subject[8][128];
    wvt_thread_t *th;
};

static void serve(void *arg)
{
    struct server *sv = arg;
    for (int i = 0; i < sv->conns; i++) {
        int fd = accept4(sv->lfd, NULL, NULL, SOCK_CLOEXEC);
        WVT_GE(fd, 0);
        wv_stream_t *s = NULL;
        int64_t d = wv_deadline_in(10000);
        sv->err[i] = wv_tls_server(&s, NULL, sv->ctx, fd, d);
        WVT_EQ(ERR_peek_error(), 0);
        if (sv->err[i]) {
            close(fd);
            continue;
        }
        sv->resumed[i] = wv_tls_is_resumed(s);
        wv_tls_peer_subject(s, sv->subject[i], sizeof sv->subject[i]);
        char line[256];
        size_t n;
        int err;
        while ((err = wv_stream_readline(s, line, sizeof line, &n, d)) == 0) {
            WVT_OK(wv_stream_write(s, line, n, NULL, d));
            WVT_OK(wv_stream_drain(s, d));
        }
        if (err != WV_EOF)
            sv->err[i] = err;
        wv_stream_close(s, d);
        wv_stream_free(s);
    }
}

static void server_start(struct server *sv, wv_tls_ctx_t *ctx, int conns,
                         int *port)
{
    memset(sv, 0, sizeof *sv);
    sv->lfd = listener(port);
    sv->ctx = ctx;
    sv->conns = conns;
    sv->th = wvt_spawn(serve, sv);
}

static void server_join(struct server *sv)
{
    wvt_join(sv->th);
    close(sv->lfd);
}

/* Writes line, reads it back. */
static void ping(wv_stream_t *s, const char *line)
{
    char buf[256];
    size_t n, len = strlen(line);
    int64_t d = wv_deadline_in(10000);
    WVT_OK(wv_stream_write(s, line, len, NULL, d));
    WVT_OK(wv_stream_drain(s, d));
    WVT_OK(wv_stream_readline(s, buf, sizeof buf, &n, d));
    WVT_EQ(n, len);
    WVT_ASSERT(memcmp(buf, line, len) == 0);
}

/* Ends a client: write_eof (close_notify), then the server's end. */
static void finish(wv_stream_t *s)
{
    char buf[16];
    size_t n;
    int64_t d = wv_deadline_in(10000);
    WVT_OK(wv_stream_write_eof(s, d));
    WVT_ERR(wv_stream_read(s, buf, sizeof buf, &n, d), WV_EOF);
    WVT_OK(wv_stream_close(s, d));
    wv_stream_free(s);
}

/* ------------------------------------------------------ weave, weave */

WVT_TEST(tls_echo_alpn_and_accessors)
{
    struct pki p;
    if (!pki_make(&p))
        return;
    wv_tls_ctx_t *sctx = server_ctx(&p, "srv.pem", "srv.key", 0);
    wv_tls_ctx_t *cctx = client_ctx(&p, false);
    struct server sv;
    int port;
    server_start(&sv, sctx, 1, &port);
    wv_stream_t *s = NULL;
    int fd = connect_to(port);
    WVT_OK(
        wv_tls_client(&s, NULL, cctx, fd, "localhost", wv_deadline_in(10000)));
    WVT_ASSERT(wv_tls_is_tls(s));
    WVT_ASSERT(wv_tls_alpn(s) && strcmp(wv_tls_alpn(s), "weave/1") == 0);
    WVT_ASSERT(strcmp(wv_tls_version(s), "TLSv1.3") == 0);
    WVT_ASSERT(wv_tls_cipher(s) && wv_tls_cipher(s)[0]);
    WVT_ASSERT(!wv_tls_is_resumed(s));
    char subj[128], tiny[4];
    WVT_OK(wv_tls_peer_subject(s, subj, sizeof subj));
    WVT_ASSERT(strcmp(subj, "CN=localhost") == 0);
    WVT_ERR(wv_tls_peer_subject(s, tiny, sizeof tiny), WV_ERANGE);
    WVT_ASSERT(strcmp(tiny, "CN=") == 0);
    WVT_EQ(wv_stream_fileno(s), fd);
    ping(s, "hello\n");
    ping(s, "world, again\n");
    finish(s);
    server_join(&sv);
    WVT_OK(sv.err[0]);
    WVT_ERR(wv_tls_peer_subject(NULL, subj, sizeof subj), WV_EINVAL);
    wv_tls_ctx_free(sctx); /* streams hold their own references */
    wv_tls_ctx_free(cctx);
    pki_free(&p);
}

/* The same, with everything from PEM text in memory, by IP address. */
WVT_TEST(tls_pem_in_memory_and_ip_name)
{
    struct pki p;
    if (!pki_make(&p))
        return;
    char *ca = slurp(pf(&p, "ca.pem")), *cert = slurp(pf(&p, "srv.pem"));
    char *key = slurp(pf(&p, "srv.key"));
    wv_tls_ctx_t *sctx, *cctx;
    WVT_OK(wv_tls_ctx_new(&sctx, &(wv_tls_ctx_opts_t){.server = true,
                                                      .cert_pem = cert,
                                                      .key_pem = key}));
    WVT_OK(wv_tls_ctx_new(&cctx, &(wv_tls_ctx_opts_t){.ca_pem = ca}));
    struct server sv;
    int port;
    server_start(&sv, sctx, 1, &port);
    wv_stream_t *s;
    int fd = connect_to(port);
    WVT_OK(
        wv_tls_client(&s, NULL, cctx, fd, "127.0.0.1", wv_deadline_in(10000)));
    WVT_ASSERT(wv_tls_alpn(s) == NULL);
    ping(s, "by address\n");
    finish(s);
    server_join(&sv);
    wv_tls_ctx_free(sctx);
    wv_tls_ctx_free(cctx);
    free(ca);
    free(cert);
    free(key);
    pki_free(&p);
}

WVT_TEST(tls_resumption_second_connection_resumed)
{
    struct pki p;
    if (!pki_make(&p))
        return;
    wv_tls_ctx_t *sctx = server_ctx(&p, "srv.pem", "srv.key", 0);
    wv_tls_ctx_t *cctx = client_ctx(&p, false);
    struct server sv;
    int port;
    server_start(&sv, sctx, 3, &port);
    for (int i = 0; i < 3; i++) {
        wv_stream_t *s;
        WVT_OK(wv_tls_client(&s, NULL, cctx, connect_to(port), "localhost",
                             wv_deadline_in(10000)));
        WVT_EQ(wv_tls_is_resumed(s), i > 0);
        ping(s, "a ticket comes with the first read\n");
        finish(s);
    }
    server_join(&sv);
    WVT_ASSERT(!sv.resumed[0] && sv.resumed[1] && sv.resumed[2]);
    wv_tls_ctx_free(sctx);
    wv_tls_ctx_free(cctx);
    pki_free(&p);
}

WVT_TEST(tls_mutual_required_client_cert)
{
    struct pki p;
    if (!pki_make(&p))
        return;
    wv_tls_ctx_t *sctx =
        server_ctx(&p, "srv.pem", "srv.key", WV_TLS_CLIENT_CERT_REQUIRED);
    wv_tls_ctx_t *with = client_ctx(&p, true), *without = client_ctx(&p, false);
    struct server sv;
    int port;
    server_start(&sv, sctx, 2, &port);
    wv_stream_t *s;
    WVT_OK(wv_tls_client(&s, NULL, with, connect_to(port), "localhost",
                         wv_deadline_in(10000)));
    ping(s, "with a certificate\n");
    finish(s);
    /* TLS 1.3: the client's handshake ends before the server judged its
     * (missing) certificate; the refusal comes with the first read. */
    int fd = connect_to(port);
    int err = wv_tls_client(&s, NULL, without, fd, "localhost",
                            wv_deadline_in(10000));
    if (err == 0) {
        char buf[64];
        size_t n;
        err = wv_stream_readline(s, buf, sizeof buf, &n, wv_deadline_in(10000));
        WVT_ASSERT(strstr(wv_tls_error_reason(), "certificate required"));
        wv_stream_free(s);
    } else {
        close(fd);
    }
    WVT_ERR(err, WV_ECERT);
    server_join(&sv);
    WVT_OK(sv.err[0]);
    WVT_ASSERT(strcmp(sv.subject[0], "CN=weave-client") == 0);
    WVT_ERR(sv.err[1], WV_ECERT);
    wv_tls_ctx_free(sctx);
    wv_tls_ctx_free(with);
    wv_tls_ctx_free(without);
    pki_free(&p);
}

/* A client against a server presenting `cert`: the handshake's result,
 * the reason kept in why. */
static int against(struct pki *p, const char *cert, const char *key,
                   const char *name, bool insecure, char *why, size_t cap)
{
    wv_tls_ctx_t *sctx = server_ctx(p, cert, key, 0);
    wv_tls_ctx_t *cctx;
    WVT_OK(wv_tls_ctx_new(
        &cctx,
        &(wv_tls_ctx_opts_t){.ca_file = insecure ? NULL : pf(p, "ca.pem"),
                             .insecure_skip_verify = insecure}));
    struct server sv;
    int port;
    server_start(&sv, sctx, 1, &port);
    wv_stream_t *s;
    int fd = connect_to(port);
    int err = wv_tls_client(&s, NULL, cctx, fd, name, wv_deadline_in(10000));
    snprintf(why, cap, "%s", wv_tls_error_reason());
    WVT_EQ(ERR_peek_error(), 0); /* nothing left on the thread's queue */
    if (err == 0) {
        ping(s, "insecure, but encrypted\n");
        finish(s);
    } else {
        close(fd);
    }
    server_join(&sv);
    wv_tls_ctx_free(sctx);
    wv_tls_ctx_free(cctx);
    return err;
}

WVT_TEST(tls_bad_certificates_refused)
{
    struct pki p;
    char why[256];
    if (!pki_make(&p))
        return;
    WVT_ERR(against(&p, "wrong.pem", "wrong.key", "localhost", false, why,
                    sizeof why),
            WV_ECERT);
    WVT_ASSERT(strstr(why, "hostname mismatch"));
    WVT_OK(against(&p, "wrong.pem", "wrong.key", "localhost", true, why,
                   sizeof why));
    WVT_ERR(against(&p, "expired.pem", "expired.key", "localhost", false, why,
                    sizeof why),
            WV_ECERT);
    WVT_ASSERT(strstr(why, "expired"));
    WVT_ERR(against(&p, "self.pem", "self.key", "localhost", false, why,
                    sizeof why),
            WV_ECERT);
    WVT_ASSERT(strstr(why, "self"));
    WVT_ERR(against(&p, "srv.pem", "srv.key", "other.example", false, why,
                    sizeof why),
            WV_ECERT);
    pki_free(&p);
}

/* Garbage instead of a ClientHello: WV_EPROTO, and the server goes on. */
WVT_TEST(tls_garbage_handshake_then_server_goes_on)
{
    struct pki p;
    if (!pki_make(&p))
        return;
    wv_tls_ctx_t *sctx = server_ctx(&p, "srv.pem", "srv.key", 0);
    wv_tls_ctx_t *cctx = client_ctx(&p, false);
    struct server sv;
    int port;
    server_start(&sv, sctx, 2, &port);
    int fd = connect_to(port);
    const char junk[] = "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";
    WVT_EQ(write(fd, junk, sizeof junk - 1), (ssize_t)sizeof junk - 1);
    char c;
    WVT_GE(read(fd, &c, 1), 0); /* an alert, or the end */
    close(fd);
    wv_stream_t *s;
    WVT_OK(wv_tls_client(&s, NULL, cctx, connect_to(port), "localhost",
                         wv_deadline_in(10000)));
    ping(s, "still serving\n");
    finish(s);
    server_join(&sv);
    WVT_ERR(sv.err[0], WV_EPROTO);
    WVT_OK(sv.err[1]);
    wv_tls_ctx_free(sctx);
    wv_tls_ctx_free(cctx);
    pki_free(&p);
}

/* A peer that never answers: WV_ETIMEDOUT; deadline 0: WV_EAGAIN; the
 * descriptor is the caller's again, blocking as it was. */
WVT_TEST(tls_handshake_deadline)
{
    struct pki p;
    if (!pki_make(&p))
        return;
    wv_tls_ctx_t *cctx = client_ctx(&p, false);
    int sv[2];
    WVT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    wv_stream_t *s = NULL;
    int64_t t0 = wv_now();
    WVT_ERR(wv_tls_client(&s, NULL, cctx, sv[0], "localhost", t0 + 200),
            WV_ETIMEDOUT);
    WVT_GE(wv_now() - t0, 190);
    WVT_ERR(wv_tls_client(&s, NULL, cctx, sv[0], "localhost", WV_NOWAIT),
            WV_EAGAIN);
    WVT_EQ(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
    WVT_ASSERT(s == NULL);
    close(sv[0]);
    close(sv[1]);
    wv_tls_ctx_free(cctx);
    pki_free(&p);
}

/* ------------------------------------------------------- ends, resets */

struct raw_end {
    wv_tls_ctx_t *ctx;
    int fd;
    int how; /* 0: close_notify (write_eof), 1: FIN only, 2: RST */
};

static void raw_server(void *arg)
{
    struct raw_end *r = arg;
    wv_stream_t *s;
    wv_tls_opts_t o = {.stream = {.borrow_fd = true}};
    WVT_OK(wv_tls_server(&s, &o, r->ctx, r->fd, wv_deadline_in(10000)));
    WVT_OK(wv_stream_write(s, "bye\n", 4, NULL, WV_FOREVER));
    WVT_OK(wv_stream_drain(s, WV_FOREVER));
    char buf[8];
    size_t n; /* the client read "bye": a reset cannot take it away */
    WVT_OK(wv_stream_readline(s, buf, sizeof buf, &n, wv_deadline_in(10000)));
    if (r->how == 0) {
        WVT_OK(wv_stream_write_eof(s, wv_deadline_in(10000)));
    } else if (r->how == 1) {
        WVT_EQ(shutdown(r->fd, SHUT_WR), 0);
    } else { /* a reset: the last close with SO_LINGER 0 */
        struct linger lg = {1, 0};
        WVT_EQ(setsockopt(r->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
        close(r->fd);
        r->fd = -1;
    }
    if (r->how == 0) /* the client's close_notify comes back */
        WVT_ERR(wv_stream_read(s, buf, sizeof buf, &n, wv_deadline_in(10000)),
                WV_EOF);
    wv_stream_free(s);
}

static int end_seen(struct pki *p, int how, bool allow_unclean)
{
    wv_tls_ctx_t *sctx = server_ctx(p, "srv.pem", "srv.key", 0), *cctx;
    WVT_OK(wv_tls_ctx_new(
        &cctx, &(wv_tls_ctx_opts_t){.ca_file = pf(p, "ca.pem"),
                                    .allow_unclean_eof = allow_unclean}));
    int port, l = listener(&port);
    int cfd = connect_to(port);
    struct raw_end r = {sctx, accept4(l, NULL, NULL, SOCK_CLOEXEC), how};
    close(l);
    WVT_GE(r.fd, 0);
    wvt_thread_t *th = wvt_spawn(raw_server, &r);
    wv_stream_t *s;
    char buf[64];
    size_t n;
    WVT_OK(
        wv_tls_client(&s, NULL, cctx, cfd, "localhost", wv_deadline_in(10000)));
    WVT_OK(wv_stream_readline(s, buf, sizeof buf, &n, wv_deadline_in(10000)));
    WVT_EQ(n, 4);
    WVT_OK(wv_stream_write(s, "ok\n", 3, NULL, WV_FOREVER));
    WVT_OK(wv_stream_drain(s, WV_FOREVER));
    int err = wv_stream_read(s, buf, sizeof buf, &n, wv_deadline_in(10000));
    WVT_ERR(wv_stream_read(s, buf, sizeof buf, &n, 0), err); /* sticky */
    if (how == 0)
        WVT_OK(wv_stream_write_eof(s, wv_deadline_in(10000)));
    wvt_join(th);
    wv_stream_free(s);
    if (r.fd >= 0)
        close(r.fd);
    wv_tls_ctx_free(sctx);
    wv_tls_ctx_free(cctx);
    return err;
}

WVT_TEST(tls_close_notify_is_eof_unclean_end_is_reset)
{
    struct pki p;
    if (!pki_make(&p))
        return;
    WVT_ERR(end_seen(&p, 0, false), WV_EOF);
    WVT_ERR(end_seen(&p, 1, false), WV_ECONNRESET);
    WVT_ERR(end_seen(&p, 1, true), WV_EOF);
    WVT_ERR(end_seen(&p, 2, false), WV_ECONNRESET);
    pki_free(&p);
}

/* ------------------------------------------------------ big transfers */

static unsigned char pat(uint64_t i)
{
    return (unsigned char)(i * 7 + (i >> 11));
}

struct pump {
    wv_stream_t *s;
    uint64_t bytes;
    int lines;
};

/* Writes `lines` numbered lines, then `bytes` patterned bytes. */
static void pump_out(void *arg)
{
    struct pump *p = arg;
    static __thread unsigned char buf[(1 << 20) + 13];
    char line[64];
    for (int i = 0; i < p->lines; i++) {
        int n = snprintf(line, sizeof line, "line %d\n", i);
        WVT_OK(wv_stream_write(p->s, line, (size_t)n, NULL, WV_FOREVER));
    }
    for (uint64_t off = 0; off < p->bytes;) {
        size_t n = p->bytes - off < sizeof buf ? p->bytes - off : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = pat(off + i);
        size_t done;
        WVT_OK(wv_stream_write(p->s, buf, n, &done, WV_FOREVER));
        WVT_EQ(done, n);
        off += n;
    }
    WVT_OK(wv_stream_drain(p->s, WV_FOREVER));
}

/* Reads what pump_out wrote: readline, then read_exactly pieces. */
static void pump_in(void *arg)
{
    struct pump *p = arg;
    static __thread unsigned char buf[(1 << 20) + 7];
    char line[64], want[64];
    size_t n;
    for (int i = 0; i < p->lines; i++) {
        WVT_OK(wv_stream_readline(p->s, line, sizeof line, &n, WV_FOREVER));
        WVT_EQ(n, (size_t)snprintf(want, sizeof want, "line %d\n", i));
        WVT_ASSERT(memcmp(line, want, n) == 0);
    }
    for (uint64_t off = 0; off < p->bytes;) {
        size_t len = p->bytes - off < sizeof buf ? p->bytes - off : sizeof buf;
        WVT_OK(wv_stream_read_exactly(p->s, buf, len, &n, WV_FOREVER));
        for (size_t i = 0; i < n; i++)
            if (buf[i] != pat(off + i))
                WVT_FAIL("byte %llu differs", (unsigned long long)(off + i));
        off += n;
    }
}

struct duplex {
    wv_tls_ctx_t *ctx;
    int fd;
    uint64_t bytes;
};

/* The server side: reads and writes at once, one thread each. */
static void duplex_server(void *arg)
{
    struct duplex *d = arg;
    wv_stream_t *s;
    WVT_OK(wv_tls_server(&s, NULL, d->ctx, d->fd, wv_deadline_in(10000)));
    struct pump in = {s, d->bytes, 1000}, out = {s, d->bytes, 1000};
    wvt_thread_t *w = wvt_spawn(pump_out, &out);
    pump_in(&in);
    wvt_join(w);
    WVT_OK(wv_stream_write_eof(s, WV_FOREVER));
    char c;
    size_t n;
    WVT_ERR(wv_stream_read(s, &c, 1, &n, WV_FOREVER), WV_EOF);
    WVT_OK(wv_stream_close(s, WV_FOREVER));
    wv_stream_free(s);
}

/* 64 MiB each way at once over loopback TCP, byte-checked; one reader
 * and one writer thread on each stream. */
WVT_TEST_TIMEOUT(tls_big_transfer_both_ways, 240)
{
    struct pki p;
    if (!pki_make(&p))
        return;
    wv_tls_ctx_t *sctx = server_ctx(&p, "srv.pem", "srv.key", 0);
    wv_tls_ctx_t *cctx = client_ctx(&p, false);
    int port, l = listener(&port);
    int cfd = connect_to(port);
    uint64_t bytes = wvt_sanitized() ? 16u << 20 : 64u << 20;
    struct duplex d = {sctx, accept4(l, NULL, NULL, SOCK_CLOEXEC), bytes};
    close(l);
    wvt_thread_t *th = wvt_spawn(duplex_server, &d);
    wv_stream_t *s;
    WVT_OK(
        wv_tls_client(&s, NULL, cctx, cfd, "localhost", wv_deadline_in(10000)));
    struct pump in = {s, bytes, 1000}, out = {s, bytes, 1000};
    wvt_thread_t *w = wvt_spawn(pump_out, &out);
    pump_in(&in);
    wvt_join(w);
    char c;
    size_t n;
    WVT_ERR(wv_stream_read(s, &c, 1, &n, WV_FOREVER), WV_EOF);
    WVT_OK(wv_stream_write_eof(s, WV_FOREVER));
    wvt_join(th);
    wv_stream_free(s);
    wv_tls_ctx_free(sctx);
    wv_tls_ctx_free(cctx);
    pki_free(&p);
}

/* ----------------------------------------------- coroutines, one thread */

struct co_side {
    wv_tls_ctx_t *ctx;
    int fd;
    uint64_t bytes;
};

static void *co_server(void *arg)
{
    struct co_side *c = arg;
    wv_stream_t *s;
    WVT_OK(wv_tls_server(&s, NULL, c->ctx, c->fd, wv_deadline_in(20000)));
    struct pump in = {s, c->bytes, 100};
    pump_in(&in);
    WVT_OK(wv_stream_write(s, "done\n", 5, NULL, WV_FOREVER));
    WVT_OK(wv_stream_close(s, WV_FOREVER));
    wv_stream_free(s);
    return NULL;
}

static void *co_client(void *arg)
{
    struct co_side *c = arg;
    wv_stream_t *s;
    char line[16];
    size_t n;
    WVT_OK(wv_tls_client(&s, NULL, c->ctx, c->fd, "localhost",
                         wv_deadline_in(20000)));
    struct pump out = {s, c->bytes, 100};
    pump_out(&out);
    WVT_OK(wv_stream_readline(s, line, sizeof line, &n, WV_FOREVER));
    WVT_EQ(n, 5);
    WVT_ERR(wv_stream_readline(s, line, sizeof line, &n, WV_FOREVER), WV_EOF);
    wv_stream_free(s);
    return NULL;
}

/* Both ends of a socketpair, each a coroutine of this one thread: the
 * handshake and 4 MiB need each to park alone, or neither goes on. */
WVT_TEST(tls_two_coroutines_on_one_thread)
{
    struct pki p;
    if (!pki_make(&p))
        return;
    wv_tls_ctx_t *sctx = server_ctx(&p, "srv.pem", "srv.key", 0);
    wv_tls_ctx_t *cctx = client_ctx(&p, false);
    int sv[2];
    WVT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct co_side a = {sctx, sv[0], 4u << 20}, b = {cctx, sv[1], 4u << 20};
    wv_coro_t *cs, *cc;
    WVT_OK(wv_coro_spawn(&cs, NULL, co_server, &a));
    WVT_OK(wv_coro_spawn(&cc, NULL, co_client, &b));
    WVT_OK(wv_coro_join(cc, NULL, WV_FOREVER));
    WVT_OK(wv_coro_join(cs, NULL, WV_FOREVER));
    wv_coro_free(cs);
    wv_coro_free(cc);
    WVT_OK(wv_coro_run(WV_FOREVER));
    wv_tls_ctx_free(sctx);
    wv_tls_ctx_free(cctx);
    pki_free(&p);
}

/* ------------------------------------------------------------ options */

WVT_TEST(tls_ctx_option_errors)
{
    struct pki p;
    if (!pki_make(&p))
        return;
    wv_tls_ctx_t *ctx = NULL;
    WVT_ERR(wv_tls_ctx_new(NULL, NULL), WV_EINVAL);
    WVT_ERR(wv_tls_ctx_new(&ctx, &(wv_tls_ctx_opts_t){.server = true}),
            WV_EINVAL);
    WVT_ERR(wv_tls_ctx_new(&ctx,
                           &(wv_tls_ctx_opts_t){.server = true,
                                                .cert_file = pf(&p, "srv.pem"),
                                                .key_file = pf(&p, "srv.key"),
                                                .insecure_skip_verify = true}),
            WV_EINVAL);
    WVT_ERR(wv_tls_ctx_new(&ctx, &(wv_tls_ctx_opts_t){.min_version = 7}),
            WV_EINVAL);
    WVT_ERR(wv_tls_ctx_new(&ctx,
                           &(wv_tls_ctx_opts_t){
                               .server = true,
                               .cert_file = pf(&p, "srv.pem"),
                               .key_file = pf(&p, "srv.key"),
                               .verify_client = WV_TLS_CLIENT_CERT_REQUIRED}),
            WV_EINVAL); /* no CA to verify clients against */
    WVT_ERR(wv_tls_ctx_new(&ctx, &(wv_tls_ctx_opts_t){.ca_file = "/nope"}),
            WV_ENOENT);
    WVT_ERR(wv_tls_ctx_new(&ctx, &(wv_tls_ctx_opts_t){.ca_pem = "junk"}),
            WV_EPROTO);
    WVT_ERR(wv_tls_ctx_new(
                &ctx, &(wv_tls_ctx_opts_t){.server = true,
                                           .cert_file = pf(&p, "srv.pem"),
                                           .key_file = pf(&p, "other.key")}),
            WV_EPROTO);
    const char *bad_alpn[] = {""};
    WVT_ERR(wv_tls_ctx_new(
                &ctx, &(wv_tls_ctx_opts_t){.alpn = bad_alpn, .alpn_count = 1}),
            WV_EINVAL);
    WVT_ASSERT(ctx == NULL);
    /* The system store by default; a server context refuses a client's
     * call, and verification needs a name. */
    WVT_OK(wv_tls_ctx_new(&ctx, NULL));
    int sv[2];
    wv_stream_t *s;
    WVT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    WVT_ERR(wv_tls_server(&s, NULL, ctx, sv[0], 0), WV_EINVAL);
    WVT_ERR(wv_tls_client(&s, NULL, ctx, sv[0], NULL, 0), WV_EINVAL);
    WVT_ERR(wv_tls_client(&s, NULL, ctx, -1, "x", 0), WV_EBADF);
    wv_tls_ctx_free(ctx);
    close(sv[0]);
    close(sv[1]);
    /* A plain stream is no TLS stream. */
    WVT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    WVT_OK(wv_stream_new(&s, NULL, sv[0]));
    WVT_ASSERT(!wv_tls_is_tls(s) && !wv_tls_alpn(s) && !wv_tls_version(s));
    wv_stream_free(s);
    close(sv[1]);
    pki_free(&p);
}

/* ------------------------------------------------- real programs: openssl */

/* Starts argv with stdin and stdout piped, stderr to /dev/null. */
static wv_popen_t *spawn(const char *const *argv)
{
    wv_popen_t *pp;
    wv_popen_opts_t o = {.argv = argv,
                         .in = {.how = WV_STDIO_PIPE},
                         .out = {.how = WV_STDIO_PIPE},
                         .err = {.how = WV_STDIO_DEVNULL}};
    WVT_OK(wv_popen_new(&pp, &o));
    return pp;
}

static void reap(wv_popen_t *pp, bool kill_it)
{
    int code;
    if (kill_it)
        wv_popen_kill(pp);
    WVT_OK(wv_popen_wait(pp, &code, wv_deadline_in(10000)));
    wv_popen_free(pp);
}

/* weave against `openssl s_server -rev` (lines come back reversed). */
static int vs_s_server(struct pki *p, bool server_wants_cert, bool with_cert,
                       const char *name)
{
    char port_s[16];
    int port = free_port();
    snprintf(port_s, sizeof port_s, "%d", port);
    const char *argv[] = {"openssl",
                          "s_server",
                          "-accept",
                          port_s,
                          "-cert",
                          pf(p, "srv.pem"),
                          "-key",
                          pf(p, "srv.key"),
                          "-CAfile",
                          pf(p, "ca.pem"),
                          "-rev",
                          "-naccept",
                          "1",
                          "-alpn",
                          "weave/1",
                          server_wants_cert ? "-Verify" : "-quiet",
                          server_wants_cert ? "1" : NULL,
                          NULL};
    wv_popen_t *pp = spawn(argv);
    wv_tls_ctx_t *cctx = client_ctx(p, with_cert);
    int fd = connect_retry(port);
    wv_stream_t *s;
    int err = wv_tls_client(&s, NULL, cctx, fd, name, wv_deadline_in(10000));
    if (!err) {
        char buf[64];
        size_t n;
        int64_t d = wv_deadline_in(10000);
        WVT_ASSERT(wv_tls_alpn(s) && strcmp(wv_tls_alpn(s), "weave/1") == 0);
        WVT_OK(wv_stream_write(s, "hello\n", 6, NULL, d));
        WVT_OK(wv_stream_drain(s, d));
        err = wv_stream_readline(s, buf, sizeof buf, &n, d);
        if (!err) {
            WVT_EQ(n, 6);
            WVT_ASSERT(memcmp(buf, "olleh\n", 6) == 0);
        }
        wv_stream_free(s);
    } else {
        close(fd);
    }
    reap(pp, true);
    wv_tls_ctx_free(cctx);
    return err;
}

WVT_TEST_TIMEOUT(tls_interop_openssl_s_server, 60)
{
    struct pki p;
    if (!pki_make(&p))
        return;
    WVT_OK(vs_s_server(&p, false, false, "localhost"));
    WVT_OK(vs_s_server(&p, true, true, "localhost"));
    WVT_ERR(vs_s_server(&p, true, false, "localhost"), WV_ECERT);
    WVT_ERR(vs_s_server(&p, false, false, "wrong.example"), WV_ECERT);
    pki_free(&p);
}

/* Serves one connection of l: reads a line, answers "pong <line>". */
struct one {
    int lfd;
    wv_tls_ctx_t *ctx;
    int err;
    char alpn[32];
    wvt_thread_t *th;
};

static void serve_one(void *arg)
{
    struct one *o = arg;
    int fd = accept4(o->lfd, NULL, NULL, SOCK_CLOEXEC);
    WVT_GE(fd, 0);
    wv_stream_t *s;
    int64_t d = wv_deadline_in(20000);
    o->err = wv_tls_server(&s, NULL, o->ctx, fd, d);
    if (o->err) {
        close(fd);
        return;
    }
    snprintf(o->alpn, sizeof o->alpn, "%s",
             wv_tls_alpn(s) ? wv_tls_alpn(s) : "");
    char line[128];
    size_t n;
    o->err = wv_stream_readline(s, line, sizeof line, &n, d);
    if (!o->err) {
        WVT_OK(wv_stream_write(s, "pong ", 5, NULL, d));
        WVT_OK(wv_stream_write(s, line, n, NULL, d));
        o->err = wv_stream_write_eof(s, d);
    }
    wv_stream_close(s, d);
    wv_stream_free(s);
}

/* Runs argv (a client of the server in `o`), "ping\n" on its stdin; its
 * stdout. */
static char *run_client(const char *const *argv)
{
    wv_popen_t *pp = spawn(argv);
    wv_bytes_t out = {0}, err = {0};
    WVT_OK(wv_popen_communicate(pp, "ping\n", 5, &out, &err,
                                wv_deadline_in(20000)));
    char *text = calloc(1, out.len + 1);
    if (out.len)
        memcpy(text, out.data, out.len);
    reap(pp, false);
    return text;
}

WVT_TEST_TIMEOUT(tls_interop_openssl_s_client, 60)
{
    struct pki p;
    if (!pki_make(&p))
        return;
    struct one o = {0};
    int port;
    o.lfd = listener(&port);
    o.ctx = server_ctx(&p, "srv.pem", "srv.key", WV_TLS_CLIENT_CERT_OPTIONAL);
    o.th = wvt_spawn(serve_one, &o);
    char conn[32];
    snprintf(conn, sizeof conn, "127.0.0.1:%d", port);
    const char *argv[] = {"openssl",
                          "s_client",
                          "-connect",
                          conn,
                          "-CAfile",
                          pf(&p, "ca.pem"),
                          "-verify_hostname",
                          "localhost",
                          "-verify_return_error",
                          "-quiet",
                          "-alpn",
                          "weave/1",
                          "-cert",
                          pf(&p, "cli.pem"),
                          "-key",
                          pf(&p, "cli.key"),
                          NULL};
    char *text = run_client(argv);
    wvt_join(o.th);
    WVT_OK(o.err);
    WVT_ASSERT(strcmp(o.alpn, "weave/1") == 0);
    WVT_ASSERT(strstr(text, "pong ping\n"));
    free(text);
    close(o.lfd);
    wv_tls_ctx_free(o.ctx);
    pki_free(&p);
}

/* --------------------------------------------- real programs: Python ssl */

WVT_TEST_TIMEOUT(tls_interop_python_client, 60)
{
    struct pki p;
    if (!pki_make(&p))
        return;
    struct one o = {0};
    int port;
    o.lfd = listener(&port);
    o.ctx = server_ctx(&p, "srv.pem", "srv.key", 0);
    o.th = wvt_spawn(serve_one, &o);
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", port);
    const char *argv[] = {
        "python3",
        "-c",
        "import socket, ssl, sys\n"
        "ctx = ssl.create_default_context(cafile=sys.argv[1])\n"
        "ctx.set_alpn_protocols(['weave/1'])\n"
        "raw = socket.create_connection(('127.0.0.1', int(sys.argv[2])))\n"
        "s = ctx.wrap_socket(raw, server_hostname='localhost')\n"
        "s.sendall(sys.stdin.readline().encode())\n"
        "data = b''\n"
        "while True:\n"
        "    chunk = s.recv(100)\n"
        "    if not chunk: break\n"
        "    data += chunk\n"
        "print(data.decode().strip(), s.version(), "
        "s.selected_alpn_protocol())\n",
        pf(&p, "ca.pem"),
        port_s,
        NULL};
    char *text = run_client(argv);
    wvt_join(o.th);
    WVT_OK(o.err);
    if (!strstr(text, "pong ping TLSv1.3 weave/1"))
        WVT_FAIL("python said: %s", text);
    free(text);
    close(o.lfd);
    wv_tls_ctx_free(o.ctx);
    pki_free(&p);
}

WVT_TEST_TIMEOUT(tls_interop_python_server, 60)
{
    struct pki p;
    if (!pki_make(&p))
        return;
    const char *argv[] = {"python3",
                          "-c",
                          "import socket, ssl, sys\n"
                          "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
                          "ctx.load_cert_chain(sys.argv[1], sys.argv[2])\n"
                          "ctx.set_alpn_protocols(['weave/1'])\n"
                          "l = socket.create_server(('127.0.0.1', 0))\n"
                          "print(l.getsockname()[1], flush=True)\n"
                          "c, _ = l.accept()\n"
                          "s = ctx.wrap_socket(c, server_side=True)\n"
                          "line = s.recv(100)\n"
                          "s.sendall(b'python ' + line)\n"
                          "s.unwrap().close()\n",
                          pf(&p, "srv.pem"),
                          pf(&p, "srv.key"),
                          NULL};
    wv_popen_t *pp = spawn(argv);
    wv_stream_t *out;
    wv_stream_opts_t bo = {.borrow_fd = true};
    WVT_OK(wv_stream_new(&out, &bo, wv_popen_fd(pp, WV_STDOUT)));
    char line[64];
    size_t n;
    WVT_OK(wv_stream_readline(out, line, sizeof line - 1, &n,
                              wv_deadline_in(20000)));
    wv_stream_free(out);
    line[n] = '\0';
    wv_tls_ctx_t *cctx = client_ctx(&p, false);
    wv_stream_t *s;
    WVT_OK(wv_tls_client(&s, NULL, cctx, connect_to(atoi(line)), "localhost",
                         wv_deadline_in(20000)));
    WVT_ASSERT(wv_tls_alpn(s) && strcmp(wv_tls_alpn(s), "weave/1") == 0);
    int64_t d = wv_deadline_in(20000);
    WVT_OK(wv_stream_write(s, "hi\n", 3, NULL, d));
    WVT_OK(wv_stream_drain(s, d));
    WVT_OK(wv_stream_readline(s, line, sizeof line, &n, d));
    WVT_EQ(n, 10);
    WVT_ASSERT(memcmp(line, "python hi\n", 10) == 0);
    /* Python's unwrap sent close_notify: a clean end. */
    WVT_ERR(wv_stream_read(s, line, sizeof line, &n, d), WV_EOF);
    WVT_OK(wv_stream_close(s, d));
    wv_stream_free(s);
    reap(pp, false);
    wv_tls_ctx_free(cctx);
    pki_free(&p);
}

/* WV_ECERT is weave's own code, clear of errno and of the other
 * branches' codes, with a name and a message. */
WVT_TEST(tls_ecert_is_a_weave_code)
{
    WVT_EQ(WV_ECERT, -4087);
    WVT_ASSERT(strcmp(wv_err_name(WV_ECERT), "WV_ECERT") == 0);
    WVT_ASSERT(strcmp(wv_strerror(WV_ECERT), "unknown error") != 0);
}

/* TLS 1.2 against `openssl s_server -tls1_2`: the session comes with the
 * handshake there, and the second connection resumes it. */
WVT_TEST_TIMEOUT(tls_interop_openssl_tls12_resumption, 60)
{
    struct pki p;
    if (!pki_make(&p))
        return;
    char port_s[16];
    int port = free_port();
    snprintf(port_s, sizeof port_s, "%d", port);
    const char *argv[] = {
        "openssl",         "s_server", "-accept",         port_s,    "-cert",
        pf(&p, "srv.pem"), "-key",     pf(&p, "srv.key"), "-tls1_2", "-rev",
        "-naccept",        "2",        "-quiet",          NULL};
    wv_popen_t *pp = spawn(argv);
    wv_tls_ctx_t *cctx = client_ctx(&p, false);
    for (int i = 0; i < 2; i++) {
        wv_stream_t *s;
        char buf[64];
        size_t n;
        int64_t d = wv_deadline_in(10000);
        WVT_OK(
            wv_tls_client(&s, NULL, cctx, connect_retry(port), "localhost", d));
        WVT_ASSERT(strcmp(wv_tls_version(s), "TLSv1.2") == 0);
        WVT_EQ(wv_tls_is_resumed(s), i == 1);
        WVT_OK(wv_stream_write(s, "abc\n", 4, NULL, d));
        WVT_OK(wv_stream_drain(s, d));
        WVT_OK(wv_stream_readline(s, buf, sizeof buf, &n, d));
        WVT_ASSERT(n == 4 && memcmp(buf, "cba\n", 4) == 0);
        wv_stream_free(s);
    }
    reap(pp, true);
    wv_tls_ctx_free(cctx);
    pki_free(&p);
}

/* Every allocation of a context's own can fail: WV_ENOMEM, nothing
 * left behind. */
static int ctx_with_alpn(void *arg)
{
    static const char *alpn[] = {"h2", "http/1.1"};
    wv_tls_ctx_t *ctx;
    int err = wv_tls_ctx_new(
        &ctx,
        &(wv_tls_ctx_opts_t){.ca_file = arg, .alpn = alpn, .alpn_count = 2});
    if (!err)
        wv_tls_ctx_free(ctx);
    return err;
}

WVT_TEST(tls_ctx_allocation_failures)
{
    struct pki p;
    if (!pki_make(&p))
        return;
    wvt_alloc_install();
    WVT_GE(wvt_faultsim(ctx_with_alpn, (void *)pf(&p, "ca.pem")), 2);
    wvt_alloc_uninstall();
    pki_free(&p);
}

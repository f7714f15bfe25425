/*
 * The echo of net_echo_server.c over TLS, with a certificate this program
 * makes for itself at run time:
 *
 *     server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
 *     server_ctx.load_cert_chain("cert.pem", "key.pem")
 *     client_ctx = ssl.create_default_context(cafile="cert.pem")
 *
 *     async def handle(reader, writer):
 *         while line := await reader.readline():
 *             writer.write(line); await writer.drain()
 *         writer.close()
 *
 *     server = await asyncio.start_server(handle, "127.0.0.1", 0,
 *                                         ssl=server_ctx)
 *     reader, writer = await asyncio.open_connection(
 *         "localhost", port, ssl=client_ctx)    # verifies, checks the name
 *
 * The key (EC P-256) and the self-signed certificate for "localhost" and
 * 127.0.0.1 are made in memory with libcrypto, no openssl command, no
 * file: PEM text that goes to the contexts as cert_pem/key_pem (server)
 * and ca_pem (clients, which trust that one certificate and nothing
 * else).  Verification stays on: every client checks the chain and the
 * host name, and one more client, asking for another name, must be
 * refused with WV_ECERT.  Only built with TLS (WEAVE_TLS=ON).
 */
#include <weave.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENTS  10
#define MESSAGES 20

static const int64_t LIMIT = 20000; /* ms: no wait of this demo lasts longer */
static int echoed_ok;               /* clients whose every line came back */
static char version[32];            /* the protocol the clients got */
static bool wrong_name_was_refused; /* with WV_ECERT */

/* ----------------------------------------------- a certificate in memory */

/* The PEM text of what a BIO holds, NUL-terminated, malloc'd; NULL on
 * failure. */
static char *bio_text(BIO *b)
{
    char *data, *text;
    long len = BIO_get_mem_data(b, &data);
    if (len <= 0 || !(text = malloc((size_t)len + 1)))
        return NULL;
    memcpy(text, data, (size_t)len);
    text[len] = '\0';
    return text;
}

static EVP_PKEY *make_key(void)
{
    EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
    EVP_PKEY *key = NULL;
    if (kc && EVP_PKEY_keygen_init(kc) == 1 &&
        EVP_PKEY_CTX_set_ec_paramgen_curve_nid(kc, NID_X9_62_prime256v1) == 1)
        EVP_PKEY_keygen(kc, &key);
    EVP_PKEY_CTX_free(kc);
    return key;
}

/* Adds one extension given in openssl.cnf's syntax; true on success. */
static bool add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    bool ok = ext && X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* A self-signed certificate for localhost and 127.0.0.1, a day long. */
static X509 *make_cert(EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_NAME *name = x ? X509_get_subject_name(x) : NULL;
    bool ok =
        name && X509_set_version(x, 2) == 1 &&
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1) == 1 &&
        X509_gmtime_adj(X509_getm_notBefore(x), -60) &&
        X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600) &&
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   (const unsigned char *)"localhost", -1, -1,
                                   0) == 1 &&
        X509_set_issuer_name(x, name) == 1 && X509_set_pubkey(x, key) == 1 &&
        add_ext(x, NID_basic_constraints, "critical,CA:TRUE") &&
        add_ext(x, NID_key_usage, "critical,digitalSignature,keyCertSign") &&
        add_ext(x, NID_subject_key_identifier, "hash") &&
        add_ext(x, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1") &&
        X509_sign(x, key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* Makes a key and its certificate as PEM text: 0, or -1 (nothing left). */
static int make_pem(char **cert_pem, char **key_pem)
{
    EVP_PKEY *key = make_key();
    X509 *cert = key ? make_cert(key) : NULL;
    BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
    int err = -1;

    *cert_pem = *key_pem = NULL;
    if (cert && cb && kb && PEM_write_bio_X509(cb, cert) == 1 &&
        PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) == 1) {
        *cert_pem = bio_text(cb);
        *key_pem = bio_text(kb);
        err = *cert_pem && *key_pem ? 0 : -1;
    }
    if (err) {
        free(*cert_pem);
        free(*key_pem);
    }
    BIO_free(cb);
    BIO_free(kb);
    X509_free(cert);
    EVP_PKEY_free(key);
    return err;
}

/* -------------------------------------------------------- server, clients */

static void handle(wv_sock_t *conn, const wv_addr_t *peer, void *arg)
{
    wv_tls_ctx_t *ctx = arg;
    wv_tls_opts_t o = {.stream = {.borrow_fd = true}}; /* the server's fd */
    int64_t deadline = wv_deadline_in(LIMIT);
    wv_stream_t *s;
    char line[1024];
    size_t n;

    (void)peer;
    /* The client that asked for a wrong name aborts its handshake: that
     * one ends here, with the alert it sent. */
    if (wv_tls_server(&s, &o, ctx, wv_sock_fd(conn), deadline) != 0)
        return;
    while (wv_stream_readline(s, line, sizeof line, &n, deadline) == 0)
        if (wv_stream_write(s, line, n, NULL, deadline) != 0 ||
            wv_stream_drain(s, deadline) != 0)
            break;
    wv_stream_close(s, deadline); /* close_notify, then the end */
    wv_stream_free(s);
}

struct client {
    int id;
    uint16_t port;
    wv_tls_ctx_t *ctx;
};

/* Sends the lines and checks each echo: true if all came back. */
static bool exchange(wv_stream_t *s, int id, int64_t deadline)
{
    for (int m = 0; m < MESSAGES; m++) {
        char line[64], back[64];
        size_t n;
        int len = snprintf(line, sizeof line, "client %d message %d\n", id, m);
        if (wv_stream_write(s, line, (size_t)len, NULL, deadline) != 0 ||
            wv_stream_drain(s, deadline) != 0 ||
            wv_stream_readline(s, back, sizeof back, &n, deadline) != 0 ||
            n != (size_t)len || memcmp(line, back, n) != 0)
            return false;
    }
    /* Our close_notify; the server answers with its own, then the end. */
    char extra;
    size_t n;
    return wv_stream_write_eof(s, deadline) == 0 &&
           wv_stream_read(s, &extra, 1, &n, deadline) == WV_EOF;
}

static void *client(void *arg)
{
    struct client *c = arg;
    wv_tls_opts_t o = {.stream = {.borrow_fd = true}}; /* sock keeps it */
    int64_t deadline = wv_deadline_in(LIMIT);
    wv_sock_t *sock;
    wv_stream_t *s;

    if (wv_tcp_connect(&sock, NULL, "localhost", c->port, deadline) != 0)
        return NULL;
    int err =
        wv_tls_client(&s, &o, c->ctx, wv_sock_fd(sock), "localhost", deadline);
    if (err) {
        printf("client %d: %s (%s)\n", c->id, wv_err_name(err),
               wv_tls_error_reason());
    } else {
        if (c->id == 0)
            snprintf(version, sizeof version, "%s", wv_tls_version(s));
        echoed_ok += exchange(s, c->id, deadline);
        wv_stream_free(s);
    }
    wv_sock_free(sock);
    return NULL;
}

/* A client that asks for another name: the certificate must not do. */
static bool wrong_name_refused(uint16_t port, wv_tls_ctx_t *ctx)
{
    wv_tls_opts_t o = {.stream = {.borrow_fd = true}};
    int64_t deadline = wv_deadline_in(LIMIT);
    wv_sock_t *sock;
    wv_stream_t *s;

    if (wv_tcp_connect(&sock, NULL, "127.0.0.1", port, deadline) != 0)
        return false;
    int err =
        wv_tls_client(&s, &o, ctx, wv_sock_fd(sock), "example.org", deadline);
    printf("a client asking for example.org: %s (%s)\n", wv_err_name(err),
           err ? wv_tls_error_reason() : "accepted");
    if (err == 0)
        wv_stream_free(s);
    wv_sock_free(sock);
    return err == WV_ECERT;
}

static void *run_clients(void *arg)
{
    struct client *c = arg;
    wv_group_t *g;

    if (wv_group_new(&g) != 0)
        return NULL;
    for (int i = 0; i < CLIENTS; i++)
        if (wv_group_spawn(g, NULL, client, &c[i]) != 0)
            break;
    wv_group_join(g, wv_deadline_in(LIMIT));
    wv_group_free(g);
    wrong_name_was_refused = wrong_name_refused(c[0].port, c[0].ctx);
    return NULL;
}

static int run(const char *cert_pem, const char *key_pem)
{
    wv_tls_ctx_opts_t so = {
        .server = true, .cert_pem = cert_pem, .key_pem = key_pem};
    wv_tls_ctx_opts_t co = {.ca_pem = cert_pem}; /* trusts that one only */
    wv_tls_ctx_t *sctx, *cctx;
    wv_server_t *server;
    wv_coro_t *runner;
    wv_addr_t addr;
    struct client c[CLIENTS];
    char text[WV_ADDR_STRLEN];

    if (wv_tls_ctx_new(&sctx, &so) != 0)
        return 1;
    if (wv_tls_ctx_new(&cctx, &co) != 0)
        goto out_sctx;
    wv_server_opts_t o = {.addr = &addr};
    if (wv_addr_from_ip(&addr, "127.0.0.1", 0) != 0 ||
        wv_server_new(&server, &o, handle, sctx) != 0)
        goto out_cctx;
    if (wv_server_addr(server, &addr) != 0)
        goto out_server;
    wv_addr_format(&addr, text, sizeof text);
    printf("TLS echo server listening on %s\n", text);
    for (int i = 0; i < CLIENTS; i++)
        c[i] = (struct client){i, wv_addr_port(&addr), cctx};
    if (wv_coro_spawn(&runner, NULL, run_clients, c) == 0) {
        wv_coro_join(runner, NULL, wv_deadline_in(2 * LIMIT));
        wv_coro_free(runner);
    }
out_server:
    wv_server_stop(server, wv_deadline_in(LIMIT));
    wv_server_free(server);
out_cctx:
    wv_tls_ctx_free(cctx);
out_sctx:
    wv_tls_ctx_free(sctx);
    printf("%d clients (%s), %d messages each: %d echoed every line\n", CLIENTS,
           version, MESSAGES, echoed_ok);
    return wrong_name_was_refused && echoed_ok == CLIENTS ? 0 : 1;
}

int main(void)
{
    char *cert_pem, *key_pem;

    if (make_pem(&cert_pem, &key_pem) != 0) {
        fprintf(stderr, "cannot make a certificate\n");
        return 1;
    }
    printf("made a key and a self-signed certificate for localhost\n");
    int code = run(cert_pem, key_pem);
    free(cert_pem);
    free(key_pem);
    return code;
}

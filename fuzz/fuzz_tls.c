/*
 * fuzz/fuzz_tls.c - libFuzzer target: the TLS transport (net/tls.c) fed
 * a peer's bytes it must not trust, during the handshake.
 *
 * The input's first byte picks the side weave plays and the context;
 * the rest is what the peer sends, written into the other end of a Unix
 * socketpair, which is then shut down for writing, before weave's
 * handshake starts.  So weave reads every byte, then the end:
 *     bit 0   0: weave is the server (the input is a ClientHello and
 *             what follows), 1: weave is the client (the input is a
 *             server's first flight: ServerHello, and for TLS 1.2 the
 *             Certificate, ServerKeyExchange... in plain text)
 *     bit 1   TLS 1.3 only (min_version WV_TLS_1_3)
 *     bit 2   client: insecure_skip_verify (the certificate and
 *             key exchange are parsed past verification); else it
 *             verifies against the fuzzer's own certificate
 * The handshake cannot complete (the peer would need the keys), so the
 * call must end with one of the errors of a peer that is not speaking
 * TLS or hung up: WV_EPROTO, WV_ECERT, WV_ECONNRESET; never a crash, an
 * out-of-bounds access or a leak (ASan), never a hang (the deadline).
 * Its reason string must be readable.
 *
 * Rejected: a memory transport under the TLS object, as fuzz_stream.c
 * has under the stream: the TLS transport is built on its socket (its
 * BIO recvs and sends), and the seam the fuzzer should cross is exactly
 * that one.  Rejected too: feeding records after a completed handshake;
 * without a build of OpenSSL that fakes its cryptography, every such
 * record fails its MAC at the first byte.
 *
 * The contexts are made once, with a key and self-signed certificate
 * made in memory (libcrypto), and kept for the process's life.
 */
#include "weave/tls.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INPUT_MAX (64 * 1024) /* fits the socketpair's buffer at once */

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_tls: %s:%d: %s\n", __FILE__, __LINE__,       \
                    #cond);                                                    \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* The PEM text a memory BIO holds, NUL-terminated, malloc'd. */
static char *bio_text(BIO *b)
{
    char *data;
    long len = BIO_get_mem_data(b, &data);
    CHECK(len > 0);
    char *text = malloc((size_t)len + 1);
    CHECK(text);
    memcpy(text, data, (size_t)len);
    text[len] = '\0';
    return text;
}

/* A P-256 key and a self-signed certificate for "localhost", as PEM. */
static void make_pem(char **cert_pem, char **key_pem)
{
    EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
    EVP_PKEY *key = NULL;
    CHECK(kc && EVP_PKEY_keygen_init(kc) == 1 &&
          EVP_PKEY_CTX_set_ec_paramgen_curve_nid(kc, NID_X9_62_prime256v1) ==
              1 &&
          EVP_PKEY_keygen(kc, &key) == 1);
    EVP_PKEY_CTX_free(kc);
    X509 *x = X509_new();
    CHECK(x);
    X509_NAME *name = X509_get_subject_name(x);
    CHECK(X509_set_version(x, 2) == 1 &&
          ASN1_INTEGER_set(X509_get_serialNumber(x), 1) == 1 &&
          X509_gmtime_adj(X509_getm_notBefore(x), -60) &&
          X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600) &&
          X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                     (const unsigned char *)"localhost", -1, -1,
                                     0) == 1 &&
          X509_set_issuer_name(x, name) == 1 && X509_set_pubkey(x, key) == 1 &&
          X509_sign(x, key, EVP_sha256()) > 0);
    BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
    CHECK(cb && kb && PEM_write_bio_X509(cb, x) == 1 &&
          PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) == 1);
    *cert_pem = bio_text(cb);
    *key_pem = bio_text(kb);
    BIO_free(cb);
    BIO_free(kb);
    X509_free(x);
    EVP_PKEY_free(key);
}

/* The contexts, by the input's low three bits (see the head comment). */
static wv_tls_ctx_t *ctxs[8];

static void make_contexts(void)
{
    char *cert, *key;
    make_pem(&cert, &key);
    for (int i = 0; i < 8; i++) {
        wv_tls_ctx_opts_t o = {.no_resumption = true,
                               .min_version = i & 2 ? WV_TLS_1_3 : WV_TLS_1_2};
        if (i & 1) {
            o.insecure_skip_verify = i & 4;
            o.ca_pem = i & 4 ? NULL : cert;
        } else {
            o.server = true;
            o.cert_pem = cert;
            o.key_pem = key;
        }
        CHECK(wv_tls_ctx_new(&ctxs[i], &o) == 0);
    }
    free(cert);
    free(key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > INPUT_MAX)
        return 0;
    if (!ctxs[0])
        make_contexts();
    int mode = data[0] & 7, sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    int bytes = INPUT_MAX * 2;
    CHECK(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes) == 0);
    for (size_t off = 1; off < size;) {
        ssize_t n = write(sv[1], data + off, size - off);
        CHECK(n > 0);
        off += (size_t)n;
    }
    CHECK(shutdown(sv[1], SHUT_WR) == 0);

    wv_stream_t *s = NULL;
    int64_t deadline = wv_deadline_in(10000);
    int err = mode & 1 ? wv_tls_client(&s, NULL, ctxs[mode], sv[0], "localhost",
                                       deadline)
                       : wv_tls_server(&s, NULL, ctxs[mode], sv[0], deadline);
    if (err != WV_EPROTO && err != WV_ECERT && err != WV_ECONNRESET)
        fprintf(stderr, "fuzz_tls: mode %d: %s (%s)\n", mode, wv_err_name(err),
                wv_tls_error_reason());
    CHECK(err == WV_EPROTO || err == WV_ECERT || err == WV_ECONNRESET);
    CHECK(s == NULL);
    CHECK(strlen(wv_tls_error_reason()) < 4096);
    close(sv[0]); /* on error the descriptor stays the caller's */
    close(sv[1]);
    return 0;
}

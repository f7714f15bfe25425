/*
 * manager/hmac_openssl.c - manager/hmac.h on OpenSSL's libcrypto.
 *
 * HMAC through the one-shot HMAC() (not deprecated in OpenSSL 3, unlike
 * HMAC_CTX), with the EVP_MD of each of CPython's five allowed digests;
 * the compare is CRYPTO_memcmp.  The nonces are manager/nonce_linux.c's.
 *
 * MD5 under a FIPS provider: EVP_md5() exists but HMAC() fails; that is
 * reported as WV_ENOSYS (the legacy handshake is then unavailable), not
 * as an authentication failure.
 */
#include "hmac.h"

#include "../core/internal.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

bool wv__mgr_crypto_present(void)
{
    return true;
}

static const EVP_MD *md_of(wv__mgr_digest_t digest)
{
    switch (digest) {
    case WV__MGR_MD5:
        return EVP_md5();
    case WV__MGR_SHA256:
        return EVP_sha256();
    case WV__MGR_SHA384:
        return EVP_sha384();
    case WV__MGR_SHA3_256:
        return EVP_sha3_256();
    case WV__MGR_SHA3_384:
        return EVP_sha3_384();
    }
    return NULL;
}

int wv__mgr_hmac(wv__mgr_digest_t digest, const void *key, size_t keylen,
                 const void *msg, size_t msglen, unsigned char *out,
                 size_t *outlen)
{
    static const unsigned char empty[1];
    const EVP_MD *md = md_of(digest);
    unsigned int n = 0;
    *outlen = 0;
    if (!md)
        return WV_EINVAL;
    WV__ASSERT((size_t)EVP_MD_size(md) <= WV__MGR_DIGEST_MAX);
    if (keylen > INT32_MAX)
        return WV_EINVAL;
    /* HMAC() reads a NULL key as "no key given": pass an empty one. */
    if (!HMAC(md, keylen ? key : empty, (int)keylen, msglen ? msg : empty,
              msglen, out, &n)) {
        ERR_clear_error();
        return WV_ENOSYS;
    }
    *outlen = n;
    return 0;
}

bool wv__mgr_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

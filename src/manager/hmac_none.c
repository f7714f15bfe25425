/*
 * manager/hmac_none.c - manager/hmac.h in a build without OpenSSL
 * (WEAVE_TLS=OFF): no digest, so the manager's handshake answers
 * WV_ENOSYS on both sides, before anything is sent.
 */
#include "hmac.h"

#include "../core/internal.h"

bool wv__mgr_crypto_present(void)
{
    return false;
}

int wv__mgr_hmac(wv__mgr_digest_t digest, const void *key, size_t keylen,
                 const void *msg, size_t msglen, unsigned char *out,
                 size_t *outlen)
{
    (void)digest, (void)key, (void)keylen, (void)msg, (void)msglen;
    (void)out;
    *outlen = 0;
    return WV_ENOSYS;
}

bool wv__mgr_equal(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= x[i] ^ y[i];
    return diff == 0;
}

int wv__mgr_random(void *buf, size_t n)
{
    (void)buf, (void)n;
    return WV_ENOSYS;
}

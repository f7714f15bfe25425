/*
 * manager/hmac.h - the cryptography under the manager's handshake
 * (manager/wire.c): HMAC with the five digests CPython allows, a
 * constant-time compare, and nonces from the kernel's CSPRNG.
 *
 * Two implementations, picked by CMake: hmac_openssl.c (libcrypto, with
 * WEAVE_TLS) and hmac_none.c (a build without OpenSSL: no digest is
 * available, and the handshake answers WV_ENOSYS), and nonce_linux.c
 * for the nonces beside the first.  wire.c stays free of all three.  Internal
 * to weave.
 */
#ifndef WV_MANAGER_HMAC_H
#define WV_MANAGER_HMAC_H

#include <stdbool.h>
#include <stddef.h>

/* The digests of CPython 3.12+'s _ALLOWED_DIGESTS, in its order. */
typedef enum wv__mgr_digest {
    WV__MGR_MD5,
    WV__MGR_SHA256,
    WV__MGR_SHA384,
    WV__MGR_SHA3_256,
    WV__MGR_SHA3_384,
} wv__mgr_digest_t;

/* The largest digest of the five (sha384, sha3_384). */
#define WV__MGR_DIGEST_MAX 48

/* true when this build can compute HMACs (it has libcrypto). */
bool wv__mgr_crypto_present(void);

/*
 * HMAC-digest(key, msg) into out (WV__MGR_DIGEST_MAX bytes of room);
 * *outlen gets its size (16, 32 or 48).  An empty key is allowed.
 * Errors: WV_ENOSYS (no libcrypto; or the digest is not offered: MD5
 * under a FIPS provider), WV_ENOMEM, WV_EINVAL (no such digest).
 */
int wv__mgr_hmac(wv__mgr_digest_t digest, const void *key, size_t keylen,
                 const void *msg, size_t msglen, unsigned char *out,
                 size_t *outlen);

/* true iff a[0..n) == b[0..n), in time that depends on n only. */
bool wv__mgr_equal(const void *a, const void *b, size_t n);

/*
 * Fills buf[0..n) (n <= 256) from the kernel's CSPRNG (getrandom(2),
 * manager/nonce_linux.c).  Errors: WV_ENOSYS (no libcrypto: the
 * handshake is unavailable anyway), another -errno of getrandom.
 */
int wv__mgr_random(void *buf, size_t n);

#endif /* WV_MANAGER_HMAC_H */

/*
 * manager/nonce_linux.c - the handshake's nonces (manager/hmac.h) from
 * getrandom(2): the kernel's CSPRNG, no user-space state to reseed after
 * a fork.
 *
 * A file of its own, not a part of hmac_openssl.c, so that the fuzz
 * target (fuzz/fuzz_mgr_wire.c) can link its own wv__mgr_random, a
 * fixed nonce, against the static library: with it, a recorded
 * transcript answers the server's challenge and the fuzzer reaches the
 * server's second half.  Only in builds with libcrypto; hmac_none.c has
 * its own.
 */
#include "hmac.h"

#include "../core/internal.h"

#include <errno.h>
#include <sys/random.h>

int wv__mgr_random(void *buf, size_t n)
{
    WV__ASSERT(n <= 256);
    /* Up to 256 bytes never come short once the pool is initialised;
     * before that, flags 0 waits for it. */
    ssize_t got = getrandom(buf, n, 0);
    if (got == (ssize_t)n)
        return 0;
    return got < 0 ? -errno : WV_EIO;
}

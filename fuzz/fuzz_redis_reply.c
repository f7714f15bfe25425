/*
 * fuzz/fuzz_redis_reply.c - libFuzzer target: what a Redis server (or
 * anything listening where one was expected) sends to the redis://
 * backend.  The bytes go through hiredis's reader with the backend's
 * reply objects (weave's allocator, capped arrays) and every reply is
 * taken apart as an XREADGROUP, an XAUTOCLAIM and a qsize reply would be,
 * entries' pickles decoded.  Nothing may crash, read out of bounds or
 * leak, and the only errors are WV_EPROTO and WV_ENOMEM.
 */
#include "manager/redis.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int err = wv__redis_parse(data, size);
    if (err && err != WV_EPROTO && err != WV_ENOMEM)
        abort();
    return 0;
}

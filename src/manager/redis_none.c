/*
 * manager/redis_none.c - the redis:// backend of a library built without
 * hiredis (CMake found no pkg-config "hiredis"): a redis:// or rediss://
 * address is refused with WV_ENOSYS, and nothing else can be reached.
 */
#include "redis.h"

int wv__redis_open(wv_manager_t *m, const wv_manager_opts_t *opts,
                   int64_t deadline)
{
    return WV_ENOSYS;
}

void wv__redis_close(struct mgr_redis *r)
{
}

int wv__redis_proxy_new(struct mgr_redis *r, const char *typeid,
                        struct rproxy **out, int64_t deadline)
{
    return WV_ENOSYS;
}

void wv__redis_proxy_free(struct rproxy *q)
{
}

const char *wv__redis_proxy_key(const struct rproxy *q)
{
    return NULL;
}

int wv__redis_put_many(struct rproxy *q, wv_obj_t *const *items, size_t n,
                       size_t *done, int64_t deadline)
{
    return WV_ENOSYS;
}

int wv__redis_get_many(struct rproxy *q, wv_obj_t **items, size_t max,
                       size_t *got, int64_t deadline)
{
    return WV_ENOSYS;
}

int wv__redis_get_leased(struct rproxy *q, wv_obj_t **item, uint64_t *lease,
                         int64_t lease_ms, int64_t deadline)
{
    return WV_ENOSYS;
}

int wv__redis_ack(struct rproxy *q, uint64_t lease, int64_t deadline)
{
    return WV_ENOSYS;
}

int wv__redis_renew(struct rproxy *q, uint64_t lease, int64_t deadline)
{
    return WV_ENOSYS;
}

int wv__redis_qsize(struct rproxy *q, size_t *n, int64_t deadline)
{
    return WV_ENOSYS;
}

int wv__redis_parse(const void *data, size_t len)
{
    return WV_ENOSYS;
}

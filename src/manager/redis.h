/*
 * manager/redis.h - the redis:// backend of the manager's client
 * (docs/redis.md): what redis_conn.c (the connection: RESP over weave's
 * streams, with hiredis's formatter and reader, reconnection with
 * back-off) and redis_queue.c (the queue operations on Redis Streams)
 * share with the rest of the manager.
 *
 * A redis:// client manager holds only its configuration (struct
 * mgr_redis, immutable after wv_manager_connect).  Each proxy holds its
 * own connection (struct rconn) and consumer name, so that a get blocked
 * in XREADGROUP on one proxy never holds up another proxy's call: two
 * coroutines of one thread each park on their own socket.  A proxy is
 * used by one caller at a time, as every proxy.
 *
 * Built without hiredis (redis_none.c), every entry point answers
 * WV_ENOSYS.
 */
#ifndef WEAVE_MANAGER_REDIS_H
#define WEAVE_MANAGER_REDIS_H

#include "weave/manager.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mgr_redis;
struct rproxy;

/* Parses opts->url, connects once (AUTH, SELECT, PING: no retry, so that
 * a wrong password or a server that is no Redis is reported at once) and
 * sets m->redis.  Errors: WV_EINVAL (a malformed url), WV_EAUTH,
 * WV_EPROTO, the connection's, WV_ENOMEM, WV_ENOSYS (no hiredis). */
int wv__redis_open(wv_manager_t *m, const wv_manager_opts_t *opts,
                   int64_t deadline);
void wv__redis_close(struct mgr_redis *r);

/* A proxy's Redis half: its connection, made now, and the group of its
 * stream, made if missing. */
int wv__redis_proxy_new(struct mgr_redis *r, const char *typeid,
                        struct rproxy **out, int64_t deadline);
void wv__redis_proxy_free(struct rproxy *q);
const char *wv__redis_proxy_key(const struct rproxy *q);

/* The queue operations; contracts as weave/manager.h says for redis://
 * proxies. */
int wv__redis_put_many(struct rproxy *q, wv_obj_t *const *items, size_t n,
                       size_t *done, int64_t deadline);
int wv__redis_get_many(struct rproxy *q, wv_obj_t **items, size_t max,
                       size_t *got, int64_t deadline);
int wv__redis_get_leased(struct rproxy *q, wv_obj_t **item, uint64_t *lease,
                         int64_t lease_ms, int64_t deadline);
int wv__redis_ack(struct rproxy *q, uint64_t lease, int64_t deadline);
int wv__redis_renew(struct rproxy *q, uint64_t lease, int64_t deadline);
int wv__redis_qsize(struct rproxy *q, size_t *n, int64_t deadline);

/* The fuzz target's entry (fuzz/fuzz_redis_reply.c): reads replies from
 * data as a connection does (hiredis's reader with our objects) and takes
 * each apart as a get, a claim and a qsize do.  0, WV_EPROTO (bytes that
 * are no RESP, or too large), WV_ENOMEM; WV_ENOSYS without hiredis. */
int wv__redis_parse(const void *data, size_t len);

#endif /* WEAVE_MANAGER_REDIS_H */

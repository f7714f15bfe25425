/*
 * cli/serve_redis.h - weave serve --redis: the served queues kept in
 * Redis Streams (cli/serve_redis.c).
 */
#ifndef WEAVE_CLI_SERVE_REDIS_H
#define WEAVE_CLI_SERVE_REDIS_H

#include "remote.h"

typedef struct serve_redis serve_redis_t;

/* Connects to r's Redis (its password checked now) and registers r's
 * task and result queues on m (not started) as objects that forward to
 * Redis.  0, or an exit status after a one-line message; *out is to be
 * freed with serve_redis_free either way, after m is. */
int serve_redis_new(serve_redis_t **out, const cli_remote_t *r,
                    wv_manager_t *m);
/* The depth of the queue typeid in Redis.  0 or WV_E*. */
int serve_redis_qsize(serve_redis_t *b, const char *typeid, size_t *n);
/* Ends the waiting gets (each at its next slice: within SLICE_MS), so
 * that the server's shutdown does not wait for them.  NULL: no-op. */
void serve_redis_stop(serve_redis_t *b);
void serve_redis_free(serve_redis_t *b);

#endif /* WEAVE_CLI_SERVE_REDIS_H */

/*
 * manager/rqueue.h - what the two halves of a Redis stream queue share:
 * redis_queue.c (the proxy, puts, acks, and the helpers below) and
 * redis_read.c (gets, leases, qsize: taking entries apart).  The mapping
 * onto Redis Streams and its invariants are in redis_queue.c's header.
 */
#ifndef WEAVE_MANAGER_RQUEUE_H
#define WEAVE_MANAGER_RQUEUE_H

#include "rconn.h"
#include "redis.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GROUP        "weave"
#define BLOCK_MAX_MS 10000 /* a blocking read's longest wait */
#define REPLY_SLACK  2000  /* ms a reply may take past its wait */
#define PIPELINE     1024  /* commands written before reading replies */
#define SEQ_BITS     20    /* a lease id is ms << SEQ_BITS | seq */
#define BAD_ENTRY    1     /* an entry that is no item of ours (WV_EPROTO) */

/* A proxy's Redis half; used by one caller at a time. */
struct rproxy {
    struct rconn c;
    char *key;          /* "<prefix>:<typeid>" */
    char consumer[128]; /* this proxy's consumer in the group */
    uint64_t *held;     /* leases handed out, not yet acknowledged */
    size_t nheld, held_cap;
    bool recover;       /* a read's reply was lost: read own history */
    int64_t next_claim; /* when get_leased next looks for expired ones */
};

/* An entry id "ms-seq" packed into a lease id; false if it does not
 * fit.  And back. */
bool wv__rq_id_pack(const char *s, uint64_t *out);
void wv__rq_id_format(uint64_t lease, char *buf, size_t cap);

/* The leases the caller holds: is id one (at: where), take one, drop
 * the one at. */
bool wv__rq_is_held(const struct rproxy *q, uint64_t id, size_t *at);
int wv__rq_hold(struct rproxy *q, uint64_t id);
void wv__rq_unhold(struct rproxy *q, size_t at);

/* The deadline has passed (or is 0); the error of a wait that found
 * nothing (WV_EAGAIN for deadline 0, else WV_ETIMEDOUT); a short wait
 * before trying a refused command again (0, or the deadline's error). */
bool wv__rq_passed(int64_t deadline);
int wv__rq_expired(int64_t deadline);
int wv__rq_pause_retry(int64_t deadline);

/* One command, sent and answered; on any error the connection is
 * dropped (out of step) and the proxy marked for recovery. */
int wv__rq_command(struct rproxy *q, int argc, const char **argv,
                   const size_t *lens, struct rreply **out, int64_t deadline);

/* After a command failed with *err: true to go round again (a broken
 * connection, dropped; a group that vanished, made again; a server
 * loading its data, waited for), false with *err final. */
bool wv__rq_again(struct rproxy *q, int *err, int64_t deadline);

#endif /* WEAVE_MANAGER_RQUEUE_H */

/*
 * manager/redis_queue.c - a manager queue on a Redis stream
 * (docs/redis.md): one stream per queue, "<prefix>:<typeid>", one
 * consumer group "weave" that every proxy reads as a consumer of its own.
 *
 *   put, put_many   XADD key * p <pickle>, pipelined
 *   get, get_many   XREADGROUP GROUP weave <me> COUNT n BLOCK ms
 *                   STREAMS key >, then XACK + XDEL of what came, sent
 *                   without waiting for their replies (rconn.h: replayed
 *                   after a reconnect)
 *   get_leased      XPENDING key weave IDLE lease_ms - + 1 and XCLAIM
 *                   (now and then: an entry idle that long is an expired
 *                   lease), else XREADGROUP COUNT 1: left pending
 *   ack             one script: XPENDING of the entry for <me>, and only
 *                   if it is still ours, XACK + XDEL
 *   qsize           XINFO GROUPS (the group's lag) and XLEN
 *
 * Invariants.  An entry taken by XREADGROUP or XCLAIM is pending for
 * this proxy's consumer until acknowledged, so a reply lost with a
 * connection loses no entry: after a broken read (q->recover) the next
 * get reads the consumer's own pending entries first (XREADGROUP ... 0)
 * and hands out those it does not hold (q->held: the leases handed out
 * and not yet acknowledged).  A lease id is the entry's id packed
 * (ms << 20 | seq), so it names the entry on any connection.
 *
 * A put whose XADD went out and whose reply did not come back is in
 * doubt (WV_EINDOUBT): retrying it could queue the item twice.
 *
 * This file: the helpers the queue's halves share (rqueue.h), puts,
 * acks and the proxy's life; redis_read.c: gets, leases and qsize.
 */
#include "rqueue.h"

#include "mgr.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------- entry ids */

/* "ms-seq" packed into one lease id; false if it does not fit. */
bool wv__rq_id_pack(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long ms = strtoull(s, &end, 10), seq;
    if (end == s || *end != '-')
        return false;
    const char *p = end + 1;
    seq = strtoull(p, &end, 10);
    if (end == p || *end || ms >= (1ull << (64 - SEQ_BITS)) ||
        seq >= (1ull << SEQ_BITS))
        return false;
    *out = (uint64_t)ms << SEQ_BITS | seq;
    return true;
}

void wv__rq_id_format(uint64_t lease, char *buf, size_t cap)
{
    snprintf(buf, cap, "%" PRIu64 "-%" PRIu64, lease >> SEQ_BITS,
             lease & (((uint64_t)1 << SEQ_BITS) - 1));
}

bool wv__rq_is_held(const struct rproxy *q, uint64_t id, size_t *at)
{
    for (size_t i = 0; i < q->nheld; i++)
        if (q->held[i] == id) {
            if (at)
                *at = i;
            return true;
        }
    return false;
}

int wv__rq_hold(struct rproxy *q, uint64_t id)
{
    if (q->nheld == q->held_cap) {
        size_t cap = q->held_cap ? q->held_cap * 2 : 8;
        uint64_t *grown = wv__realloc(q->held, cap * sizeof *grown);
        if (!grown)
            return WV_ENOMEM;
        q->held = grown;
        q->held_cap = cap;
    }
    q->held[q->nheld++] = id;
    return 0;
}

void wv__rq_unhold(struct rproxy *q, size_t at)
{
    q->held[at] = q->held[--q->nheld];
}

/* ------------------------------------------------------------ helpers */

bool wv__rq_passed(int64_t deadline)
{
    return deadline == 0 || (deadline > 0 && wv_now() >= deadline);
}

/* The error for a wait that ended with nothing. */
int wv__rq_expired(int64_t deadline)
{
    return deadline == 0 ? WV_EAGAIN : WV_ETIMEDOUT;
}

/* Waits a little before trying a command again that the server refused
 * for now (loading its data after a restart); the deadline's error once
 * it passed. */
int wv__rq_pause_retry(int64_t deadline)
{
    if (wv__rq_passed(deadline))
        return wv__rq_expired(deadline);
    int64_t until = wv_deadline_in(50);
    if (deadline > 0 && until > deadline)
        until = deadline;
    return wv_sleep_until(until);
}

/* One command, sent and answered. */
int wv__rq_command(struct rproxy *q, int argc, const char **argv,
                   const size_t *lens, struct rreply **out, int64_t deadline)
{
    int err = wv__rc_send(&q->c, argc, argv, lens, false, deadline);
    if (!err)
        err = wv__rc_flush(&q->c, deadline);
    if (!err)
        err = wv__rc_reply(&q->c, out, deadline);
    if (err) { /* out of step: what it delivered is found by recovery */
        wv__rc_drop(&q->c);
        q->recover = true;
    }
    return err;
}

/* XGROUP CREATE key weave 0 MKSTREAM: an existing group is fine. */
static int make_group(struct rproxy *q, int64_t deadline)
{
    const char *argv[] = {"XGROUP", "CREATE", q->key, GROUP, "0", "MKSTREAM"};
    struct rreply *r;
    int err = wv__rq_command(q, 6, argv, NULL, &r, deadline);
    if (err)
        return err;
    err = wv__rc_error(r);
    if (err == WV_EREMOTE && strncmp(r->str, "BUSYGROUP", 9) == 0)
        err = 0;
    wv__rc_reply_free(r);
    return err;
}

/* After a command failed with err: true to go round again (a broken
 * connection, dropped; a group that vanished, made again; a server
 * loading its data, waited for), false with *err final. */
bool wv__rq_again(struct rproxy *q, int *err, int64_t deadline)
{
    if (*err == WV_EAGAIN) /* LOADING: the connection is fine, wait */
        return (*err = wv__rq_pause_retry(deadline)) == 0;
    if (wv__rc_is_conn_err(*err) && *err != WV_ECANCELED) {
        wv__rc_drop(&q->c);
        q->recover = true;
        if (wv__rq_passed(deadline)) {
            *err = WV_ETIMEDOUT;
            return false;
        }
        return true;
    }
    if (*err == WV_ENOENT) { /* NOGROUP: a server restarted without data */
        *err = make_group(q, deadline);
        if (*err && wv__rc_is_conn_err(*err))
            return wv__rq_again(q, err, deadline);
        return *err == 0;
    }
    return false;
}

/* ------------------------------------------------------------ writing */

/* XADD of items[0..n) (at most PIPELINE), pipelined; *done counts the
 * leading ones Redis took.  *lost: requests went out whose replies were
 * not all read (the connection is dropped): in doubt.  A refusal (an
 * error reply) after which a later item was taken: in doubt too, as the
 * caller cannot tell which. */
static int put_round(struct rproxy *q, wv_obj_t *const *items, size_t n,
                     size_t *done, bool *lost, int64_t deadline)
{
    int err = 0, refused = 0;
    size_t k = 0, ok_after = 0;
    *done = 0;
    *lost = false;
    for (; k < n; k++) {
        char *pickle;
        size_t len;
        if ((err = wv_pickle_dumps(items[k], 0, &pickle, &len)))
            break; /* that item is not sent; those before it are */
        const char *argv[] = {"XADD", q->key, "*", "p", pickle};
        size_t lens[] = {4, strlen(q->key), 1, 1, len};
        err = wv__rc_send(&q->c, 5, argv, lens, false, deadline);
        wv_free(pickle);
        if (err && (k > 0 || err != WV_ENOMEM)) { /* maybe partly out */
            *lost = true;
            goto out_drop;
        }
        if (err)
            return err; /* nothing written */
    }
    int werr = k ? wv__rc_flush(&q->c, deadline) : 0;
    for (size_t i = 0; i < k && !werr; i++) {
        struct rreply *r;
        if ((werr = wv__rc_reply(&q->c, &r, deadline)))
            break;
        int rerr = wv__rc_error(r);
        wv__rc_reply_free(r);
        if (rerr && !refused)
            refused = rerr;
        else if (!rerr && !refused)
            (*done)++;
        else if (!rerr)
            ok_after++;
    }
    if (werr) {
        *lost = true;
        err = werr;
        goto out_drop;
    }
    if (refused)
        return ok_after ? WV_EINDOUBT : refused;
    return err;
out_drop:
    wv__rc_drop(&q->c);
    return err;
}

int wv__redis_put_many(struct rproxy *q, wv_obj_t *const *items, size_t n,
                       size_t *done, int64_t deadline)
{
    size_t total = 0;
    int err = 0;
    while (total < n) {
        if ((err = wv__rc_ensure(&q->c, deadline)))
            break;
        size_t chunk = n - total > PIPELINE ? PIPELINE : n - total, took;
        bool lost;
        int64_t io = deadline == 0 ? wv_deadline_in(REPLY_SLACK) : deadline;
        err = put_round(q, items + total, chunk, &took, &lost, io);
        total += took;
        if (lost) {
            err = WV_EINDOUBT;
            break;
        }
        /* LOADING: refused, the rest not run: safe to send again. */
        if (err == WV_EAGAIN && (err = wv__rq_pause_retry(deadline)) == 0)
            continue;
        if (err)
            break;
    }
    if (done)
        *done = total;
    return err;
}

/* ------------------------------------------------------- acknowledging */

/* The entry still pending for this consumer: acknowledged and deleted
 * (1), else nothing (0): another consumer claimed it, or it is gone. */
static const char ACK_SCRIPT[] =
    "local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], "
    "1, ARGV[3]) "
    "if #p == 0 then return 0 end "
    "redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) "
    "redis.call('XDEL', KEYS[1], ARGV[2]) "
    "return 1";

/* A renewal: the entry's idle time back to 0 (XCLAIM to its own
 * consumer, JUSTID: no delivery counted), only while it is this
 * consumer's. */
static const char RENEW_SCRIPT[] =
    "local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], "
    "1, ARGV[3]) "
    "if #p == 0 then return 0 end "
    "redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[2], 'JUSTID') "
    "return 1";

/*
 * Runs script (ACK_SCRIPT or RENEW_SCRIPT) on the entry of a lease this
 * proxy holds, again after a reconnection: 0 if it acted, WV_ENOENT if
 * the entry is no longer this consumer's (the lease is then let go).
 * With ack, a 0 after a request that may have run already (its reply lost
 * with the connection) is WV_EINDOUBT: the first one may have acked it.
 * A renewal sent twice does no harm; it says WV_ENOENT.
 */
static int on_held_entry(struct rproxy *q, uint64_t lease, const char *script,
                         bool ack, int64_t deadline)
{
    size_t at;
    if (!wv__rq_is_held(q, lease, &at))
        return WV_ENOENT;
    char id[48];
    wv__rq_id_format(lease, id, sizeof id);
    const char *argv[] = {"EVAL", script, "1", q->key, GROUP, id, q->consumer};
    bool retried = false;
    for (;;) {
        struct rreply *r;
        int err = wv__rc_ensure(&q->c, deadline);
        if (err)
            return err;
        int64_t io = deadline == 0 ? wv_deadline_in(REPLY_SLACK) : deadline;
        err = wv__rq_command(q, 7, argv, NULL, &r, io);
        if (!err) {
            err = wv__rc_error(r);
            if (!err)
                err = r->type != RC_INT ? WV_EPROTO
                      : r->integer == 1 ? 0
                      : retried && ack  ? WV_EINDOUBT
                                        : WV_ENOENT;
            wv__rc_reply_free(r);
            if (err != WV_EAGAIN) {
                /* Acked, in doubt, or another's: no longer held (a
                 * renewed lease stays held). */
                if (err != WV_EPROTO && (ack || err != 0))
                    wv__rq_unhold(q, at);
                return err;
            }
        }
        if (wv__rc_is_conn_err(err) && err != WV_EAGAIN)
            retried = true;
        if (!wv__rq_again(q, &err, deadline))
            return err;
    }
}

int wv__redis_ack(struct rproxy *q, uint64_t lease, int64_t deadline)
{
    return on_held_entry(q, lease, ACK_SCRIPT, true, deadline);
}

int wv__redis_renew(struct rproxy *q, uint64_t lease, int64_t deadline)
{
    return on_held_entry(q, lease, RENEW_SCRIPT, false, deadline);
}

/* ------------------------------------------------------------- proxies */

int wv__redis_proxy_new(struct mgr_redis *r, const char *typeid,
                        struct rproxy **out, int64_t deadline)
{
    if (!*typeid)
        return WV_EINVAL;
    struct rproxy *q = wv__calloc(1, sizeof *q);
    size_t len = strlen(r->prefix) + 1 + strlen(typeid) + 1;
    if (!q || !(q->key = wv__malloc(len))) {
        wv__free(q);
        return WV_ENOMEM;
    }
    snprintf(q->key, len, "%s:%s", r->prefix, typeid);
    snprintf(q->consumer, sizeof q->consumer, "%s:%" PRIu64, r->consumer_base,
             __atomic_fetch_add(&r->next_consumer, 1, __ATOMIC_RELAXED));
    q->c.cfg = r;
    int err;
    do
        err = wv__rc_ensure(&q->c, deadline);
    while (!err && (err = make_group(q, deadline)) &&
           wv__rq_again(q, &err, deadline));
    if (err) {
        wv__redis_proxy_free(q);
        return err;
    }
    *out = q;
    return 0;
}

void wv__redis_proxy_free(struct rproxy *q)
{
    if (!q)
        return;
    if (q->c.s && q->c.skip) { /* the acknowledgements' replies */
        struct rreply *r;
        const char *argv[] = {"PING"};
        if (wv__rq_command(q, 1, argv, NULL, &r, wv_deadline_in(1000)) == 0)
            wv__rc_reply_free(r);
    }
    if (q->c.s && q->c.skip == 0 && q->nheld == 0 && !q->recover) {
        /* nothing pending for this consumer: it can go */
        struct rreply *r;
        const char *argv[] = {"XGROUP", "DELCONSUMER", q->key, GROUP,
                              q->consumer};
        if (wv__rq_command(q, 5, argv, NULL, &r, wv_deadline_in(1000)) == 0)
            wv__rc_reply_free(r);
    }
    wv__rc_free(&q->c);
    wv__free(q->held);
    wv__free(q->key);
    wv__free(q);
}

const char *wv__redis_proxy_key(const struct rproxy *q)
{
    return q->key;
}

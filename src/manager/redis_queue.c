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
 */
#include "rconn.h"
#include "redis.h"

#include "mgr.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROUP        "weave"
#define BLOCK_MAX_MS 10000 /* a blocking read's longest wait */
#define REPLY_SLACK  2000  /* ms a reply may take past its wait */
#define PIPELINE     1024  /* commands written before reading replies */
#define SEQ_BITS     20
#define BAD_ENTRY    1 /* an entry that is no item of ours (WV_EPROTO) */

/* A proxy's Redis half. */
struct rproxy {
    struct rconn c;
    char *key;          /* "<prefix>:<typeid>" */
    char consumer[128]; /* this proxy's consumer in the group */
    uint64_t *held;     /* leases handed out, not yet acknowledged */
    size_t nheld, held_cap;
    bool recover;       /* a read's reply was lost: read own history */
    int64_t next_claim; /* when get_leased next looks for expired ones */
};

/* ---------------------------------------------------------- entry ids */

/* "ms-seq" packed into one lease id; false if it does not fit. */
static bool id_pack(const char *s, uint64_t *out)
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

static void id_format(uint64_t lease, char *buf, size_t cap)
{
    snprintf(buf, cap, "%" PRIu64 "-%" PRIu64, lease >> SEQ_BITS,
             lease & (((uint64_t)1 << SEQ_BITS) - 1));
}

static bool is_held(const struct rproxy *q, uint64_t id, size_t *at)
{
    for (size_t i = 0; i < q->nheld; i++)
        if (q->held[i] == id) {
            if (at)
                *at = i;
            return true;
        }
    return false;
}

static int hold(struct rproxy *q, uint64_t id)
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

static void unhold(struct rproxy *q, size_t at)
{
    q->held[at] = q->held[--q->nheld];
}

/* ------------------------------------------------------------ helpers */

static bool passed(int64_t deadline)
{
    return deadline == 0 || (deadline > 0 && wv_now() >= deadline);
}

/* The error for a wait that ended with nothing. */
static int expired(int64_t deadline)
{
    return deadline == 0 ? WV_EAGAIN : WV_ETIMEDOUT;
}

/* Waits a little before trying a command again that the server refused
 * for now (loading its data after a restart); the deadline's error once
 * it passed. */
static int pause_retry(int64_t deadline)
{
    if (passed(deadline))
        return expired(deadline);
    int64_t until = wv_deadline_in(50);
    if (deadline > 0 && until > deadline)
        until = deadline;
    return wv_sleep_until(until);
}

/* One command, sent and answered. */
static int command(struct rproxy *q, int argc, const char **argv,
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
    int err = command(q, 6, argv, NULL, &r, deadline);
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
static bool again(struct rproxy *q, int *err, int64_t deadline)
{
    if (*err == WV_EAGAIN) /* LOADING: the connection is fine, wait */
        return (*err = pause_retry(deadline)) == 0;
    if (wv__rc_is_conn_err(*err) && *err != WV_ECANCELED) {
        wv__rc_drop(&q->c);
        q->recover = true;
        if (passed(deadline)) {
            *err = WV_ETIMEDOUT;
            return false;
        }
        return true;
    }
    if (*err == WV_ENOENT) { /* NOGROUP: a server restarted without data */
        *err = make_group(q, deadline);
        if (*err && wv__rc_is_conn_err(*err))
            return again(q, err, deadline);
        return *err == 0;
    }
    return false;
}

/* --------------------------------------------------------- decoding */

/* The replies that hold entries. */
enum { READ, AUTOCLAIMED, CLAIMED };

/* The entries of an XREADGROUP reply (one stream: READ), an XAUTOCLAIM
 * one or an XCLAIM one; NULL for none. */
static const struct rreply *entries_of(const struct rreply *r, int kind)
{
    if (r->type != RC_ARRAY)
        return NULL;
    if (kind == CLAIMED)
        return r;
    if (kind == AUTOCLAIMED)
        return r->elements >= 2 && r->element[1]->type == RC_ARRAY
                   ? r->element[1]
                   : NULL;
    if (r->elements != 1 || r->element[0]->type != RC_ARRAY ||
        r->element[0]->elements != 2 ||
        r->element[0]->element[1]->type != RC_ARRAY)
        return NULL;
    return r->element[0]->element[1];
}

/* One entry [id, [field, value...]]: its id and its item (field "p", a
 * pickle).  WV_ENOENT for an entry deleted since (its fields nil),
 * WV_EPROTO for one that is no item of ours. */
static int decode_entry(const struct rreply *e, const char **id,
                        uint64_t *packed, wv_obj_t **item)
{
    if (e->type != RC_ARRAY || e->elements != 2 ||
        e->element[0]->type != RC_STRING)
        return WV_EPROTO;
    *id = e->element[0]->str;
    if (!id_pack(*id, packed))
        return WV_EPROTO;
    const struct rreply *fields = e->element[1];
    if (fields->type == RC_NIL)
        return WV_ENOENT;
    if (fields->type != RC_ARRAY)
        return WV_EPROTO;
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const struct rreply *f = fields->element[i],
                            *v = fields->element[i + 1];
        if (f->type == RC_STRING && f->len == 1 && f->str[0] == 'p' &&
            v->type == RC_STRING) {
            int err = wv_pickle_loads(item, v->str, v->len, NULL, NULL);
            return err == WV_ENOMEM ? err : err ? WV_EPROTO : 0;
        }
    }
    return WV_EPROTO;
}

/* An entry's id, "" if it has none. */
static const char *entry_id(const struct rreply *e)
{
    if (e->type != RC_ARRAY || e->elements != 2 ||
        e->element[0]->type != RC_STRING)
        return "";
    return e->element[0]->str;
}

/* XACK key weave ids... and XDEL key ids..., replies not awaited. */
static int ack_later(struct rproxy *q, const char **ids, size_t n)
{
    if (n == 0)
        return 0;
    const char **argv = wv__malloc((n + 3) * sizeof *argv);
    if (!argv)
        return WV_ENOMEM;
    argv[0] = "XACK";
    argv[1] = q->key;
    argv[2] = GROUP;
    memcpy(argv + 3, ids, n * sizeof *ids);
    int64_t deadline = wv_deadline_in(REPLY_SLACK);
    int err = wv__rc_send(&q->c, (int)n + 3, argv, NULL, true, deadline);
    argv[1] = "XDEL";
    argv[2] = q->key;
    if (!err)
        err = wv__rc_send(&q->c, (int)n + 2, argv + 1, NULL, true, deadline);
    wv__free(argv);
    return err;
}

/*
 * Hands out entries: up to max items into items[*got...].  Plain
 * (!leased): each is acknowledged and deleted, as are entries deleted
 * since and one that does not decode.  Leased: each is held.  history:
 * entries already held are skipped.  An entry that does not decode ends
 * the batch: BAD_ENTRY if it came first (it is dropped), else it is left
 * pending for the next call (q->recover).  *more: entries were left
 * pending.
 */
static int hand_out(struct rproxy *q, const struct rreply *entries,
                    wv_obj_t **items, size_t max, size_t *got, bool leased,
                    bool history, bool *more)
{
    const char *stack_ids[64], **ids = stack_ids;
    size_t nids = 0, n = entries ? entries->elements : 0;
    int err = 0;
    *more = false;
    if (n > 64 && !(ids = wv__malloc(n * sizeof *ids)))
        return WV_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *id = NULL;
        uint64_t packed = 0;
        wv_obj_t *item = NULL;
        if (history && id_pack(entry_id(entries->element[i]), &packed) &&
            is_held(q, packed, NULL))
            continue;
        if (*got == max) {
            *more = true;
            break;
        }
        int bad = decode_entry(entries->element[i], &id, &packed, &item);
        if (bad == WV_ENOMEM || (bad == WV_EPROTO && !id)) {
            err = bad; /* no id to drop it by: out of step */
            *more = true;
            break;
        }
        if (bad == WV_EPROTO && *got > 0) { /* for the next call */
            *more = true;
            break;
        }
        if (bad == 0 && leased && (err = hold(q, packed))) {
            wv_obj_free(item);
            *more = true;
            break;
        }
        if (bad == 0)
            items[(*got)++] = item;
        if (bad || !leased)
            ids[nids++] = id;
        if (bad == WV_EPROTO) {
            err = BAD_ENTRY;
            break;
        }
    }
    int aerr = ack_later(q, ids, nids);
    if (ids != stack_ids)
        wv__free(ids);
    if (aerr && *got > 0) {
        /* The items are the caller's now.  Their acknowledgements wait
         * in the replay for the next connection (or, out of memory, stay
         * pending: not lost, and not delivered again unless a lease
         * expiry claims them). */
        if (wv__rc_is_conn_err(aerr))
            wv__rc_drop(&q->c);
        aerr = 0;
    }
    if (*more)
        q->recover = true;
    if (*got > 0) /* handed out: the caller's; what stopped us waits */
        return 0;
    return err ? err : aerr;
}

/* ------------------------------------------------------------ reading */

/* XREADGROUP for up to count entries: new ones (">", waiting up to
 * block_ms if > 0), or this consumer's pending ones ("0"). */
static int read_group(struct rproxy *q, bool history, size_t count,
                      int64_t block_ms, struct rreply **out)
{
    char counts[24], blocks[24];
    snprintf(counts, sizeof counts, "%zu", count);
    snprintf(blocks, sizeof blocks, "%" PRId64, block_ms);
    const char *argv[11] = {"XREADGROUP", "GROUP", GROUP,
                            q->consumer,  "COUNT", counts};
    int argc = 6;
    if (!history && block_ms > 0) {
        argv[argc++] = "BLOCK";
        argv[argc++] = blocks;
    }
    argv[argc++] = "STREAMS";
    argv[argc++] = q->key;
    argv[argc++] = history ? "0" : ">";
    int64_t reply = wv_deadline_in(block_ms + REPLY_SLACK);
    struct rreply *r;
    int err = command(q, argc, argv, NULL, &r, reply);
    if (!err && (err = wv__rc_error(r)))
        wv__rc_reply_free(r);
    else if (!err)
        *out = r;
    return err;
}

/* How long a blocking read may wait now, in ms (0: do not block). */
static int64_t block_for(int64_t deadline, int64_t cap)
{
    if (deadline == 0)
        return 0;
    int64_t left = deadline < 0 ? cap : deadline - wv_now();
    if (left > cap)
        left = cap;
    return left > 0 ? left : 0;
}

/* One round of a get: from the history if recovering, else new entries
 * (blocking up to block_ms).  0 with *got possibly 0; BAD_ENTRY. */
static int get_round(struct rproxy *q, wv_obj_t **items, size_t max,
                     size_t *got, bool leased, int64_t block_ms)
{
    bool history = q->recover, more;
    struct rreply *r = NULL;
    int err = read_group(q, history, history ? q->nheld + max : max,
                         history ? 0 : block_ms, &r);
    if (err)
        return err;
    if (history)
        q->recover = false; /* hand_out sets it again if need be */
    err = hand_out(q, entries_of(r, READ), items, max, got, leased, history,
                   &more);
    if (!err && history && entries_of(r, READ) &&
        entries_of(r, READ)->elements == q->nheld + max)
        q->recover = true; /* maybe more than we asked for */
    wv__rc_reply_free(r);
    return err;
}

int wv__redis_get_many(struct rproxy *q, wv_obj_t **items, size_t max,
                       size_t *got, int64_t deadline)
{
    *got = 0;
    for (;;) {
        int err = wv__rc_ensure(&q->c, deadline);
        if (err)
            return err;
        bool history = q->recover;
        err = get_round(q, items, max, got, false,
                        block_for(deadline, BLOCK_MAX_MS));
        if (!err && *got > 0)
            return 0;
        if (err == BAD_ENTRY)
            return WV_EPROTO; /* an entry that is no item of ours: dropped */
        if (err && !again(q, &err, deadline))
            return err;
        if (!err && !history && passed(deadline))
            return expired(deadline);
    }
}

/* One entry idle for lease_ms (an expired lease), made ours: XPENDING
 * IDLE finds the oldest such entry (a scan of the whole pending list, in
 * Redis), XCLAIM with the same min-idle takes it unless another taker
 * was first.  Rejected: XAUTOCLAIM COUNT 1, which scans only ten pending
 * entries per call from a cursor, so an expired lease behind many live
 * ones waits for many calls.  WV_EAGAIN: none. */
static int claim_round(struct rproxy *q, wv_obj_t **item, int64_t lease_ms)
{
    char idle[24];
    snprintf(idle, sizeof idle, "%" PRId64, lease_ms);
    const char *pending[] = {"XPENDING", q->key, GROUP, "IDLE",
                             idle,       "-",    "+",   "1"};
    struct rreply *r;
    int err = command(q, 8, pending, NULL, &r, wv_deadline_in(REPLY_SLACK));
    if (err)
        return err;
    char id[48] = "";
    if (!(err = wv__rc_error(r)) && r->type == RC_ARRAY && r->elements > 0) {
        const struct rreply *e = r->element[0];
        if (e->type == RC_ARRAY && e->elements >= 1 &&
            e->element[0]->type == RC_STRING && e->element[0]->len < sizeof id)
            memcpy(id, e->element[0]->str, e->element[0]->len + 1);
        else
            err = WV_EPROTO;
    }
    wv__rc_reply_free(r);
    if (err || !id[0])
        return err ? err : WV_EAGAIN;
    const char *claim[] = {"XCLAIM", q->key, GROUP, q->consumer, idle, id};
    if ((err = command(q, 6, claim, NULL, &r, wv_deadline_in(REPLY_SLACK))))
        return err;
    size_t got = 0;
    bool more;
    if (!(err = wv__rc_error(r)))
        err = hand_out(q, entries_of(r, CLAIMED), item, 1, &got, true, false,
                       &more);
    wv__rc_reply_free(r);
    return err ? err : got ? 0 : WV_EAGAIN;
}

int wv__redis_get_leased(struct rproxy *q, wv_obj_t **item, uint64_t *lease,
                         int64_t lease_ms, int64_t deadline)
{
    int64_t every = lease_ms / 4 < 10     ? 10
                    : lease_ms / 4 > 1000 ? 1000
                                          : lease_ms / 4;
    for (;;) {
        size_t got = 0;
        int err = wv__rc_ensure(&q->c, deadline);
        if (err)
            return err;
        bool history = q->recover;
        if (!history && wv_now() >= q->next_claim) {
            err = claim_round(q, item, lease_ms);
            if (err == WV_EAGAIN) { /* none expired */
                q->next_claim = wv_now() + every;
            } else if (!err) {
                *lease = q->held[q->nheld - 1];
                return 0;
            } else if (err == BAD_ENTRY) {
                return WV_EPROTO;
            } else if (again(q, &err, deadline)) {
                continue;
            } else {
                return err;
            }
        }
        int64_t until_claim = q->next_claim - wv_now();
        err = get_round(q, item, 1, &got, true,
                        block_for(deadline, until_claim > 0 ? until_claim : 0));
        if (!err && got) {
            *lease = q->held[q->nheld - 1];
            return 0;
        }
        if (err == BAD_ENTRY)
            return WV_EPROTO;
        if (err && !again(q, &err, deadline))
            return err;
        if (!err && !history && passed(deadline))
            return expired(deadline);
    }
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
        if (err == WV_EAGAIN && (err = pause_retry(deadline)) == 0)
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

int wv__redis_ack(struct rproxy *q, uint64_t lease, int64_t deadline)
{
    size_t at;
    if (!is_held(q, lease, &at))
        return WV_ENOENT;
    char id[48];
    id_format(lease, id, sizeof id);
    const char *argv[] = {"EVAL", ACK_SCRIPT, "1",        q->key,
                          GROUP,  id,         q->consumer};
    bool retried = false;
    for (;;) {
        struct rreply *r;
        int err = wv__rc_ensure(&q->c, deadline);
        if (err)
            return err;
        int64_t io = deadline == 0 ? wv_deadline_in(REPLY_SLACK) : deadline;
        err = command(q, 7, argv, NULL, &r, io);
        if (!err) {
            err = wv__rc_error(r);
            if (!err)
                err = r->type != RC_INT ? WV_EPROTO
                      : r->integer == 1 ? 0
                      : retried         ? WV_EINDOUBT
                                        : WV_ENOENT;
            wv__rc_reply_free(r);
            if (err != WV_EAGAIN) {
                if (err != WV_EPROTO)
                    unhold(q, at);
                return err;
            }
        }
        if (wv__rc_is_conn_err(err) && err != WV_EAGAIN)
            retried = true;
        if (!again(q, &err, deadline))
            return err;
    }
}

/* ---------------------------------------------------------------- qsize */

/* The value of name in a flat [name, value, ...] array, or NULL. */
static const struct rreply *field(const struct rreply *r, const char *name)
{
    if (r->type != RC_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == RC_STRING &&
            strcmp(r->element[i]->str, name) == 0)
            return r->element[i + 1];
    return NULL;
}

/* From XINFO GROUPS and XLEN: the group's lag (entries never delivered),
 * or, where Redis does not know it, the entries not pending. */
static int qsize_of(const struct rreply *groups, const struct rreply *len,
                    size_t *n)
{
    if (groups->type != RC_ARRAY || len->type != RC_INT)
        return WV_EPROTO;
    for (size_t i = 0; i < groups->elements; i++) {
        const struct rreply *name = field(groups->element[i], "name");
        if (!name || name->type != RC_STRING || strcmp(name->str, GROUP) != 0)
            continue;
        const struct rreply *lag = field(groups->element[i], "lag");
        const struct rreply *pending = field(groups->element[i], "pending");
        if (lag && lag->type == RC_INT && lag->integer >= 0) {
            *n = (size_t)lag->integer;
            return 0;
        }
        long long p = pending && pending->type == RC_INT ? pending->integer : 0;
        *n = len->integer > p ? (size_t)(len->integer - p) : 0;
        return 0;
    }
    *n = len->integer > 0 ? (size_t)len->integer : 0; /* no group yet */
    return 0;
}

/* XINFO GROUPS and XLEN, pipelined, into qsize_of. */
static int qsize_round(struct rproxy *q, size_t *n, int64_t deadline)
{
    const char *info[] = {"XINFO", "GROUPS", q->key};
    const char *xlen[] = {"XLEN", q->key};
    struct rreply *groups = NULL, *len = NULL;
    int err = wv__rc_send(&q->c, 3, info, NULL, false, deadline);
    if (!err)
        err = wv__rc_send(&q->c, 2, xlen, NULL, false, deadline);
    if (!err)
        err = wv__rc_flush(&q->c, deadline);
    if (!err)
        err = wv__rc_reply(&q->c, &groups, deadline);
    if (!err)
        err = wv__rc_reply(&q->c, &len, deadline);
    if (err) /* out of step */
        wv__rc_drop(&q->c);
    else if (!(err = wv__rc_error(len))) {
        if (groups->type == RC_ERROR && strstr(groups->str, "no such key"))
            *n = 0; /* no stream (deleted since) */
        else if (!(err = wv__rc_error(groups)))
            err = qsize_of(groups, len, n);
    }
    wv__rc_reply_free(groups);
    wv__rc_reply_free(len);
    return err;
}

int wv__redis_qsize(struct rproxy *q, size_t *n, int64_t deadline)
{
    for (;;) {
        int err = wv__rc_ensure(&q->c, deadline);
        if (err)
            return err;
        int64_t io = deadline == 0 ? wv_deadline_in(REPLY_SLACK) : deadline;
        if (!(err = qsize_round(q, n, io)) || !again(q, &err, deadline))
            return err;
    }
}

/* ------------------------------------------------------------ fuzzing */

int wv__redis_parse(const void *data, size_t len)
{
    redisReader *rd = wv__rc_reader_new();
    if (!rd)
        return WV_ENOMEM;
    int err = redisReaderFeed(rd, data, len) == REDIS_OK ? 0 : WV_ENOMEM;
    while (!err) {
        void *reply = NULL;
        if (redisReaderGetReply(rd, &reply) != REDIS_OK) {
            err = rd->err == REDIS_ERR_OOM ? WV_ENOMEM : WV_EPROTO;
            break;
        }
        if (!reply)
            break;
        struct rreply *r = reply;
        wv__rc_error(r);
        for (int kind = READ; kind <= CLAIMED; kind++) {
            const struct rreply *es = entries_of(r, kind);
            for (size_t k = 0; es && k < es->elements; k++) {
                const char *id = NULL;
                uint64_t packed;
                wv_obj_t *item = NULL;
                if (decode_entry(es->element[k], &id, &packed, &item) == 0)
                    wv_obj_free(item);
                if (id_pack(entry_id(es->element[k]), &packed)) {
                    char back[48];
                    id_format(packed, back, sizeof back);
                    WV__ASSERT(id_pack(back, &packed));
                }
            }
        }
        size_t n; /* as qsize: [XINFO GROUPS's reply, XLEN's] */
        if (r->type == RC_ARRAY && r->elements == 2)
            qsize_of(r->element[0], r->element[1], &n);
        wv__rc_reply_free(r);
    }
    redisReaderFree(rd);
    return err;
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
    while (!err && (err = make_group(q, deadline)) && again(q, &err, deadline));
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
        if (command(q, 1, argv, NULL, &r, wv_deadline_in(1000)) == 0)
            wv__rc_reply_free(r);
    }
    if (q->c.s && q->c.skip == 0 && q->nheld == 0 && !q->recover) {
        /* nothing pending for this consumer: it can go */
        struct rreply *r;
        const char *argv[] = {"XGROUP", "DELCONSUMER", q->key, GROUP,
                              q->consumer};
        if (command(q, 5, argv, NULL, &r, wv_deadline_in(1000)) == 0)
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

/*
 * manager/redis_read.c - the reading half of a queue on a Redis stream
 * (the mapping: redis_queue.c): gets and leased gets (XREADGROUP, the
 * consumer's own pending entries after a lost reply, expired leases
 * taken over with XPENDING IDLE + XCLAIM), taking stream entries apart
 * into items, and qsize.  Every entry handed out is either acknowledged
 * at once (XACK + XDEL, written without waiting: rconn.h's replay) or
 * held as a lease (q->held) until wv__redis_ack.
 */
#include "rqueue.h"

#include "mgr.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

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
    if (!wv__rq_id_pack(*id, packed))
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
    /* Written now, not with the proxy's next command: an idle proxy
     * would leave the entries pending (and in the stream) for as long as
     * it idles, and a process that died then would have them delivered
     * again.  One write, no round trip. */
    if (!err)
        err = wv__rc_flush(&q->c, deadline);
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
        if (history && wv__rq_id_pack(entry_id(entries->element[i]), &packed) &&
            wv__rq_is_held(q, packed, NULL))
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
        if (bad == 0 && leased && (err = wv__rq_hold(q, packed))) {
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
    int err = wv__rq_command(q, argc, argv, NULL, &r, reply);
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
        if (err && !wv__rq_again(q, &err, deadline))
            return err;
        if (!err && !history && wv__rq_passed(deadline))
            return wv__rq_expired(deadline);
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
    int err =
        wv__rq_command(q, 8, pending, NULL, &r, wv_deadline_in(REPLY_SLACK));
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
    if ((err = wv__rq_command(q, 6, claim, NULL, &r,
                              wv_deadline_in(REPLY_SLACK))))
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
            } else if (wv__rq_again(q, &err, deadline)) {
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
        if (err && !wv__rq_again(q, &err, deadline))
            return err;
        if (!err && !history && wv__rq_passed(deadline))
            return wv__rq_expired(deadline);
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
        if (!(err = qsize_round(q, n, io)) || !wv__rq_again(q, &err, deadline))
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
                if (wv__rq_id_pack(entry_id(es->element[k]), &packed)) {
                    char back[48];
                    wv__rq_id_format(packed, back, sizeof back);
                    WV__ASSERT(wv__rq_id_pack(back, &packed));
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

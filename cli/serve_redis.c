/*
 * cli/serve_redis.c - weave serve --redis URL: the task and result
 * queues that serve registers are kept in Redis Streams (docs/redis.md),
 * so that the CPython BaseManager clients and weave workers connected to
 * this serve share durable queues with other serves and with --redis
 * clients on the same Redis (docs/cli.md, "weave serve --redis").
 *
 * Design.  Each queue is registered as an RPC object (wv_manager_register)
 * whose methods are a queue's, as weave's own server answers them
 * (src/manager/object.c): put, put_nowait, get, get_nowait, qsize,
 * empty, full, and weave's _wv_get_leased, _wv_ack, _wv_renew,
 * _wv_put_many, _wv_get_many, with the same arguments and replies; each
 * forwards to a redis:// proxy.  A CPython client's AutoProxy learns the
 * methods from the server and calls them as a queue's; a weave client
 * sends the same requests to any manager.
 *
 * A Redis proxy serves one caller at a time, and the methods run in the
 * coroutines of the server's threads, many at once: each queue has a
 * pool of proxies, borrowed for one call and given back after.  A
 * waiting get borrows its proxy for a slice of at most SLICE_MS at a
 * time, so that no proxy stays busy long.  A lease is the entry pending
 * for one proxy's consumer, and Redis acks and renews it only through
 * that consumer: a table maps each lease handed out to its proxy, and
 * _wv_ack and _wv_renew wait (a slice at most) for that proxy to be free.
 * A lease the table does not know (taken through another serve, or
 * before a restart) answers KeyError (WV_ENOENT at the worker, which
 * says the task may run twice): it expires in Redis after the takers'
 * lease and is redone, at least once.  A client whose connection ends
 * does not hand its leases back at once: they expire in Redis.
 *
 * A stop (serve_redis_stop, before the server's shutdown) ends the
 * waiting gets at their next slice, as a manager's shutdown ends its
 * queues' waits: they answer a RuntimeError naming WV_ESHUTDOWN (a weave
 * worker then leaves, as from a manager's shut-down queue).
 *
 * Lock order: a queue's lock only; no call to Redis is made under it.
 * The pool's proxies live until serve ends (the pool grows to the
 * number of calls at once, at most MAX_PROXIES).
 *
 * Rejected: a library-level "queue backed by a redis:// proxy"
 * registration in src/manager/: it would need the same pool and lease
 * table inside the server, a second kind of queue object behind every
 * queue method and its statistics, for one user (this command); the
 * public RPC registration does the job without touching the library.
 */
#include "serve_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLICE_MS    500 /* a proxy's longest borrow by a waiting call */
#define MAX_PROXIES 256 /* per queue; more calls at once wait their turn */
#define CALL_MS     10000

typedef struct slot {
    wv_proxy_t *p; /* a redis:// proxy of the queue */
    bool busy;     /* lent to a call */
} slot_t;

typedef struct lease {
    uint64_t id; /* the lease (the stream entry) */
    size_t slot; /* the proxy whose consumer holds it */
} lease_t;

struct rqueue {
    wv_manager_t *rm;    /* the Redis client (borrowed) */
    const int *stopping; /* [atomic] serve is stopping: waits end */
    char *typeid;        /* the queue's name */
    wv_lock_t lock;      /* guards slots, nslots, leases, nleases */
    wv_cond_t freed;     /* a slot was given back */
    slot_t slots[MAX_PROXIES];
    size_t nslots;   /* slots made */
    lease_t *leases; /* leases handed out and not acked (malloc) */
    size_t nleases, cap;
};

struct serve_redis {
    int stopping;        /* [atomic] serve_redis_stop was called */
    wv_manager_t *rm;    /* the Redis client */
    struct rqueue *q[2]; /* the task and result queues */
};

/* ---------------------------------------------------------- the pool */

static void give_back(struct rqueue *q, size_t idx)
{
    wv_lock_acquire(&q->lock, WV_FOREVER);
    q->slots[idx].busy = false;
    wv_lock_release(&q->lock);
    wv_cond_notify_all(&q->freed);
}

/* A slot of q to lend: a free proxy (*made true), else an empty slot
 * (one whose proxy could not be made) or a new one; false if all
 * MAX_PROXIES are busy.  Under q's lock. */
static bool pick_locked(struct rqueue *q, size_t *idx, bool *made)
{
    size_t empty = q->nslots;
    for (size_t i = 0; i < q->nslots; i++) {
        if (q->slots[i].busy)
            continue;
        if (q->slots[i].p) {
            *idx = i;
            *made = true;
            return true;
        }
        empty = i;
    }
    if (empty == q->nslots && q->nslots == MAX_PROXIES)
        return false;
    if (empty == q->nslots)
        q->nslots++;
    *idx = empty;
    *made = false;
    return true;
}

/* Lends a free proxy of q, making one if none is free (*idx its slot). */
static int borrow_any(struct rqueue *q, size_t *idx, int64_t deadline)
{
    bool made;
    wv_lock_acquire(&q->lock, WV_FOREVER);
    while (!pick_locked(q, idx, &made)) {
        int err = wv_cond_wait(&q->freed, &q->lock, deadline);
        if (err == WV_ETIMEDOUT || err == WV_ECANCELED) {
            wv_lock_release(&q->lock);
            return err;
        }
    }
    q->slots[*idx].busy = true;
    wv_lock_release(&q->lock);
    if (made)
        return 0;
    /* The slot is ours (busy); its proxy is made outside the lock. */
    wv_proxy_t *p;
    int err = wv_manager_proxy(q->rm, q->typeid, &p, wv_deadline_in(CALL_MS));
    if (!err) {
        q->slots[*idx].p = p; /* busy: nobody else looks at it */
        return 0;
    }
    give_back(q, *idx); /* empty, to be filled by a later call */
    return err;
}

/* Lends the proxy of slot idx, once free. */
static int borrow_slot(struct rqueue *q, size_t idx, int64_t deadline)
{
    int err = 0;
    wv_lock_acquire(&q->lock, WV_FOREVER);
    while (q->slots[idx].busy && !err)
        err = wv_cond_wait(&q->freed, &q->lock, deadline);
    if (!q->slots[idx].busy) {
        q->slots[idx].busy = true;
        err = 0;
    }
    wv_lock_release(&q->lock);
    return err;
}

/* The slot holding lease, or false. */
static bool lease_find(struct rqueue *q, uint64_t id, size_t *slot)
{
    bool found = false;
    wv_lock_acquire(&q->lock, WV_FOREVER);
    for (size_t i = 0; i < q->nleases && !found; i++)
        if (q->leases[i].id == id) {
            *slot = q->leases[i].slot;
            found = true;
        }
    wv_lock_release(&q->lock);
    return found;
}

static void lease_drop_locked(struct rqueue *q, uint64_t id)
{
    for (size_t i = 0; i < q->nleases; i++)
        if (q->leases[i].id == id) {
            q->leases[i] = q->leases[--q->nleases];
            return;
        }
}

/* Records that slot holds lease id (an expired lease taken again is the
 * same entry: its record moves).  0 or WV_ENOMEM. */
static int lease_add(struct rqueue *q, uint64_t id, size_t slot)
{
    int err = 0;
    wv_lock_acquire(&q->lock, WV_FOREVER);
    lease_drop_locked(q, id);
    if (q->nleases == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        lease_t *l = realloc(q->leases, cap * sizeof *l);
        if (l) {
            q->leases = l;
            q->cap = cap;
        }
    }
    if (q->nleases < q->cap)
        q->leases[q->nleases++] = (lease_t){id, slot};
    else
        err = WV_ENOMEM;
    wv_lock_release(&q->lock);
    return err;
}

static void lease_drop(struct rqueue *q, uint64_t id)
{
    wv_lock_acquire(&q->lock, WV_FOREVER);
    lease_drop_locked(q, id);
    wv_lock_release(&q->lock);
}

/* ------------------------------------------------------ the arguments */

static const wv_obj_t *arg(const wv_obj_t *args, const wv_obj_t *kwds, size_t i,
                           const char *name)
{
    if (args && i < args->u.seq.len)
        return args->u.seq.items[i];
    return kwds ? wv_obj_dict_get(kwds, name) : NULL;
}

/* Python's (block, timeout) as a deadline: 0 for no wait, WV_FOREVER. */
static int deadline_of(const wv_obj_t *block, const wv_obj_t *timeout,
                       int64_t *deadline)
{
    if (block && ((block->kind == WV_OBJ_BOOL && !block->u.b) ||
                  (block->kind == WV_OBJ_INT && block->u.i == 0))) {
        *deadline = 0;
        return 0;
    }
    if (!timeout || timeout->kind == WV_OBJ_NONE) {
        *deadline = WV_FOREVER;
        return 0;
    }
    double s = timeout->kind == WV_OBJ_FLOAT ? timeout->u.f
               : timeout->kind == WV_OBJ_INT ? (double)timeout->u.i
                                             : -1;
    if (s < 0)
        return WV_EINVAL;
    *deadline = wv_deadline_in((int64_t)(s * 1000.0));
    return 0;
}

/* The error as the client expects it: queue.Empty or Full for a wait
 * that ended, KeyError for no such lease, ValueError for bad input;
 * other codes go as they are (a RuntimeError naming the code). */
static int reply_err(int err, bool put, wv_obj_t **result)
{
    const char *module = "builtins", *name = NULL;
    if (err == WV_ETIMEDOUT || err == WV_EAGAIN) {
        module = "queue";
        name = put ? "Full" : "Empty";
    } else if (err == WV_ENOENT) {
        name = "KeyError";
    } else if (err == WV_EINVAL) {
        name = "ValueError";
    }
    if (!name)
        return err;
    return wv_obj_new_exception(result, module, name, NULL) ? WV_ENOMEM
                                                            : WV_EREMOTE;
}

/* A connection error worth another slice (Redis restarting). */
static bool is_transient(int err)
{
    return cli_remote_is_lost(err) && err != WV_ECANCELED &&
           err != WV_ESHUTDOWN && err != WV_EINDOUBT;
}

/* ------------------------------------------------------- the methods */

typedef int (*take_fn)(wv_proxy_t *p, void *ctx, int64_t deadline);

/* Runs take on a borrowed proxy in slices until it gives something,
 * fails otherwise, or the caller's deadline passes.  *slot: the proxy
 * used last. */
static int sliced(struct rqueue *q, take_fn take, void *ctx, int64_t deadline,
                  size_t *slot)
{
    for (;;) {
        int64_t slice = wv_deadline_in(SLICE_MS), d = deadline;
        if (deadline != 0 && (deadline < 0 || deadline > slice))
            d = slice;
        int err = borrow_any(q, slot, wv_deadline_in(CALL_MS));
        if (!err) {
            err = take(q->slots[*slot].p, ctx, d);
            give_back(q, *slot);
        }
        if (err == WV_ETIMEDOUT &&
            __atomic_load_n(q->stopping, __ATOMIC_ACQUIRE))
            return WV_ESHUTDOWN; /* as a manager's queue shut down */
        bool more = deadline < 0 || wv_now() < deadline;
        if (d == deadline || !more ||
            !(err == WV_ETIMEDOUT || is_transient(err)))
            return err;
    }
}

struct take_ctx {
    wv_obj_t **items; /* out */
    size_t max, got;
    uint64_t lease;
    int64_t lease_ms;
};

static int take_get(wv_proxy_t *p, void *ctx, int64_t deadline)
{
    struct take_ctx *c = ctx;
    return wv_proxy_get_many(p, c->items, c->max, &c->got, deadline);
}

static int take_leased(wv_proxy_t *p, void *ctx, int64_t deadline)
{
    struct take_ctx *c = ctx;
    return wv_proxy_get_leased(p, c->items, &c->lease, c->lease_ms, deadline);
}

static int m_put(void *arg_, const wv_obj_t *args, const wv_obj_t *kwds,
                 wv_obj_t **result)
{
    struct rqueue *q = arg_;
    const wv_obj_t *item = arg(args, kwds, 0, "item");
    size_t slot;
    if (!item)
        return reply_err(WV_EINVAL, true, result);
    /* Queues on Redis are unbounded: a put never waits for room. */
    int err = borrow_any(q, &slot, wv_deadline_in(CALL_MS));
    if (!err) {
        err = wv_proxy_put(q->slots[slot].p, item, wv_deadline_in(CALL_MS));
        give_back(q, slot);
    }
    return err ? reply_err(err, true, result) : 0;
}

static int m_get(void *arg_, const wv_obj_t *args, const wv_obj_t *kwds,
                 wv_obj_t **result)
{
    struct rqueue *q = arg_;
    int64_t deadline;
    size_t slot;
    int err = deadline_of(arg(args, kwds, 0, "block"),
                          arg(args, kwds, 1, "timeout"), &deadline);
    struct take_ctx c = {.items = result, .max = 1};
    if (!err)
        err = sliced(q, take_get, &c, deadline, &slot);
    return err ? reply_err(err, false, result) : 0;
}

static int m_get_nowait(void *arg_, const wv_obj_t *args, const wv_obj_t *kwds,
                        wv_obj_t **result)
{
    struct rqueue *q = arg_;
    struct take_ctx c = {.items = result, .max = 1};
    size_t slot;
    (void)args;
    (void)kwds;
    int err = sliced(q, take_get, &c, 0, &slot);
    return err ? reply_err(err, false, result) : 0;
}

/* _wv_get_many(max, block, timeout): a list of 1 to max items. */
static int m_get_many(void *arg_, const wv_obj_t *args, const wv_obj_t *kwds,
                      wv_obj_t **result)
{
    struct rqueue *q = arg_;
    int64_t max, deadline;
    size_t slot;
    int err = wv_obj_get_int(arg(args, kwds, 0, "max"), &max);
    if (!err && (max < 1 || max > 65536))
        err = WV_EINVAL;
    if (!err)
        err = deadline_of(arg(args, kwds, 1, "block"),
                          arg(args, kwds, 2, "timeout"), &deadline);
    if (err)
        return reply_err(err, false, result);
    wv_obj_t **items = malloc((size_t)max * sizeof *items), *list = NULL;
    if (!items)
        return WV_ENOMEM;
    struct take_ctx c = {.items = items, .max = (size_t)max};
    err = sliced(q, take_get, &c, deadline, &slot);
    if (!err && (err = wv_obj_new_list(&list, c.got)) == 0)
        for (size_t i = 0; i < c.got; i++) {
            wv_obj_append(list, items[i]); /* room was made */
            items[i] = NULL;
        }
    for (size_t i = 0; i < c.got; i++)
        wv_obj_free(items[i]);
    free(items);
    if (err)
        return reply_err(err, false, result);
    *result = list;
    return 0;
}

/* _wv_put_many(items, block, timeout): (count put, 0 or the error). */
static int m_put_many(void *arg_, const wv_obj_t *args, const wv_obj_t *kwds,
                      wv_obj_t **result)
{
    struct rqueue *q = arg_;
    const wv_obj_t *items = arg(args, kwds, 0, "items");
    size_t slot, done = 0;
    if (!items || items->kind != WV_OBJ_LIST)
        return reply_err(WV_EINVAL, true, result);
    int err = borrow_any(q, &slot, wv_deadline_in(CALL_MS));
    if (!err) {
        err =
            wv_proxy_put_many(q->slots[slot].p, items->u.seq.items,
                              items->u.seq.len, &done, wv_deadline_in(CALL_MS));
        give_back(q, slot);
    }
    wv_obj_t *pair, *count, *code;
    if (wv_obj_new_tuple(&pair, 2))
        return WV_ENOMEM;
    if (wv_obj_new_int(&count, (int64_t)done) || wv_obj_append(pair, count) ||
        wv_obj_new_int(&code, err) || wv_obj_append(pair, code)) {
        wv_obj_free(pair);
        return WV_ENOMEM;
    }
    *result = pair;
    return 0;
}

/* _wv_get_leased(lease_ms, block, timeout): (lease, item). */
static int m_get_leased(void *arg_, const wv_obj_t *args, const wv_obj_t *kwds,
                        wv_obj_t **result)
{
    struct rqueue *q = arg_;
    int64_t deadline;
    size_t slot;
    wv_obj_t *item = NULL;
    struct take_ctx c = {.items = &item};
    int err = wv_obj_get_int(arg(args, kwds, 0, "lease_ms"), &c.lease_ms);
    if (!err && c.lease_ms <= 0)
        err = WV_EINVAL;
    if (!err)
        err = deadline_of(arg(args, kwds, 1, "block"),
                          arg(args, kwds, 2, "timeout"), &deadline);
    if (!err)
        err = sliced(q, take_leased, &c, deadline, &slot);
    if (err)
        return reply_err(err, false, result);
    /* Out of memory below: the lease stands in Redis and expires. */
    wv_obj_t *pair, *id;
    if (lease_add(q, c.lease, slot) || wv_obj_new_tuple(&pair, 2)) {
        wv_obj_free(item);
        return WV_ENOMEM;
    }
    if (wv_obj_new_int(&id, (int64_t)c.lease) || wv_obj_append(pair, id) ||
        wv_obj_append(pair, item)) {
        wv_obj_free(pair);
        wv_obj_free(item);
        return WV_ENOMEM;
    }
    *result = pair;
    return 0;
}

/* _wv_ack(lease) and _wv_renew(lease, lease_ms), through the proxy that
 * holds the lease. */
static int on_lease(struct rqueue *q, const wv_obj_t *args,
                    const wv_obj_t *kwds, bool renew, wv_obj_t **result)
{
    int64_t id, lease_ms = 1;
    size_t slot;
    int err = wv_obj_get_int(arg(args, kwds, 0, "lease"), &id);
    if (!err && renew)
        err = wv_obj_get_int(arg(args, kwds, 1, "lease_ms"), &lease_ms);
    if (!err && lease_ms <= 0)
        err = WV_EINVAL;
    if (!err && !lease_find(q, (uint64_t)id, &slot))
        err = WV_ENOENT;
    if (!err)
        err = borrow_slot(q, slot, wv_deadline_in(CALL_MS));
    if (err)
        return reply_err(err, false, result);
    wv_proxy_t *p = q->slots[slot].p;
    if (renew)
        err =
            wv_proxy_renew(p, (uint64_t)id, lease_ms, wv_deadline_in(CALL_MS));
    else
        err = wv_proxy_ack(p, (uint64_t)id, wv_deadline_in(CALL_MS));
    give_back(q, slot);
    if (!renew || err == WV_ENOENT)
        lease_drop(q, (uint64_t)id);
    if (!renew && err == WV_EINDOUBT)
        err = 0; /* maybe acked; else redone a lease later */
    return err ? reply_err(err, false, result) : 0;
}

static int m_ack(void *arg_, const wv_obj_t *args, const wv_obj_t *kwds,
                 wv_obj_t **result)
{
    return on_lease(arg_, args, kwds, false, result);
}

static int m_renew(void *arg_, const wv_obj_t *args, const wv_obj_t *kwds,
                   wv_obj_t **result)
{
    return on_lease(arg_, args, kwds, true, result);
}

static int qsize_of(struct rqueue *q, size_t *n)
{
    size_t slot;
    int err = borrow_any(q, &slot, wv_deadline_in(CALL_MS));
    if (!err) {
        err = wv_proxy_qsize(q->slots[slot].p, n, wv_deadline_in(CALL_MS));
        give_back(q, slot);
    }
    return err;
}

static int m_qsize(void *arg_, const wv_obj_t *args, const wv_obj_t *kwds,
                   wv_obj_t **result)
{
    size_t n;
    (void)args;
    (void)kwds;
    int err = qsize_of(arg_, &n);
    return err ? err : wv_obj_new_int(result, (int64_t)n);
}

static int m_empty(void *arg_, const wv_obj_t *args, const wv_obj_t *kwds,
                   wv_obj_t **result)
{
    size_t n;
    (void)args;
    (void)kwds;
    int err = qsize_of(arg_, &n);
    return err ? err : wv_obj_new_bool(result, n == 0);
}

static int m_full(void *arg_, const wv_obj_t *args, const wv_obj_t *kwds,
                  wv_obj_t **result)
{
    (void)arg_;
    (void)args;
    (void)kwds;
    return wv_obj_new_bool(result, false); /* unbounded */
}

/* ------------------------------------------------------ registration */

static const struct {
    const char *name;
    wv_manager_fn fn;
} METHODS[] = {
    {"put", m_put},
    {"put_nowait", m_put},
    {"get", m_get},
    {"get_nowait", m_get_nowait},
    {"qsize", m_qsize},
    {"empty", m_empty},
    {"full", m_full},
    {"_wv_get_leased", m_get_leased},
    {"_wv_ack", m_ack},
    {"_wv_renew", m_renew},
    {"_wv_put_many", m_put_many},
    {"_wv_get_many", m_get_many},
};

static void rqueue_free(struct rqueue *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->nslots; i++)
        wv_proxy_free(q->slots[i].p);
    free(q->leases);
    free(q->typeid);
    wv_cond_destroy(&q->freed);
    wv_lock_destroy(&q->lock);
    free(q);
}

static int rqueue_register(serve_redis_t *b, wv_manager_t *m,
                           const char *typeid, struct rqueue **out)
{
    struct rqueue *q = calloc(1, sizeof *q);
    if (!q || !(q->typeid = strdup(typeid))) {
        free(q);
        return WV_ENOMEM;
    }
    q->rm = b->rm;
    q->stopping = &b->stopping;
    wv_lock_init(&q->lock);
    wv_cond_init(&q->freed);
    *out = q;
    int err = 0;
    for (size_t i = 0; i < sizeof METHODS / sizeof *METHODS && !err; i++)
        err = wv_manager_register(m, typeid, METHODS[i].name, METHODS[i].fn, q);
    return err;
}

int serve_redis_new(serve_redis_t **out, const cli_remote_t *r, wv_manager_t *m)
{
    serve_redis_t *b = calloc(1, sizeof *b);
    if (!b) {
        fputs("weave serve: out of memory\n", stderr);
        return CLI_EXIT_ERROR;
    }
    *out = b;
    wv_manager_opts_t o = cli_remote_redis_opts(r);
    int err = wv_manager_connect(&b->rm, &o, wv_deadline_in(r->connect_ms));
    if (err) {
        fprintf(stderr, "weave serve: --redis %s: %s\n", r->redis_where,
                err == WV_EAUTH ? "the password was refused, or one is "
                                  "wanted (WEAVE_REDIS_PASSWORD or "
                                  "REDISCLI_AUTH)"
                                : wv_strerror(err));
        return cli_remote_exit_status(err);
    }
    const char *names[2] = {r->task_queue, r->result_queue};
    for (int i = 0; i < 2 && !err; i++)
        err = rqueue_register(b, m, names[i], &b->q[i]);
    if (err == WV_EINVAL) {
        fputs("weave serve: a queue's name is an identifier\n", stderr);
        return CLI_EXIT_USAGE;
    }
    if (err) {
        fprintf(stderr, "weave serve: %s\n", wv_strerror(err));
        return CLI_EXIT_ERROR;
    }
    return 0;
}

int serve_redis_qsize(serve_redis_t *b, const char *typeid, size_t *n)
{
    for (int i = 0; i < 2; i++)
        if (b->q[i] && !strcmp(b->q[i]->typeid, typeid))
            return qsize_of(b->q[i], n);
    return WV_ENOENT;
}

void serve_redis_stop(serve_redis_t *b)
{
    if (b)
        __atomic_store_n(&b->stopping, 1, __ATOMIC_RELEASE);
}

void serve_redis_free(serve_redis_t *b)
{
    if (!b)
        return;
    rqueue_free(b->q[0]);
    rqueue_free(b->q[1]);
    wv_manager_free(b->rm);
    free(b);
}

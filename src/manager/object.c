/*
 * manager/object.c - the objects a manager serves: queues (queue.Queue,
 * with weave's leases) and sets of registered functions, and the
 * dispatch of a method call on them, shared by local proxies and the
 * server's connections.
 *
 * Leases.  An item taken with a lease leaves the queue for the object's
 * lease list, with its expiry and the connection that took it.  It goes
 * back into the queue when that connection ends, or when a get notices
 * the expiry: every get first puts back what expired, and a get of a
 * queue that has ever leased waits in slices of at most LEASE_TICK, so
 * that a waiting taker notices an expiry while it waits.  (Rejected: a
 * timer per lease on some thread's loop: the leases would then belong to
 * a thread, while takers of one queue may wait on any thread.)
 *
 * Counting for join: a get leaves the queue's unfinished count as it is,
 * as Python's does.  An ack is the task_done of a leased item; an item
 * put back is put (one more unfinished task) and then counted done once
 * (its failed attempt), so join never sees it finished in between.
 *
 * Counting for monitors (wv_manager_queue_stats): relaxed atomic counts
 * where items move: puts in q_put, gets in q_get and the batches, acks
 * in q_ack, redeliveries in put_back.  Each is exact; a snapshot of
 * several is not atomic as a whole (a monitor's numbers, not a ledger).
 */
#include "mgr.h"

#include <stdio.h>
#include <string.h>

#define LEASE_TICK 250 /* ms */

static void count(uint64_t *counter, uint64_t n)
{
    __atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

static uint64_t counted(const uint64_t *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/* ----------------------------------------------------------- queues */

static int64_t earlier(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

/* Puts back the leases that match (expired ones, or all of owner's). */
static void put_back(struct mgr_obj *o, const void *owner, bool all_of_owner)
{
    struct mgr_lease *back = NULL, **pp;
    int64_t now = wv_now();
    wv_lock_acquire(&o->lease_lock, WV_FOREVER);
    for (pp = &o->leases; *pp;) {
        struct mgr_lease *l = *pp;
        bool hit = all_of_owner ? l->owner == owner : l->expires <= now;
        if (hit) {
            *pp = l->next;
            l->next = back;
            back = l;
        } else {
            pp = &l->next;
        }
    }
    wv_lock_release(&o->lease_lock);
    while (back) {
        struct mgr_lease *l = back;
        back = l->next;
        if (wv_queue_put(o->queue, l->item, 0) == 0) {
            wv_queue_task_done(o->queue);
            count(&o->redelivered, 1);
            wv__free(l);
            continue;
        }
        /* A bounded queue is full (or shut down): keep the lease, expired,
         * with no owner, for the next get to try again. */
        l->owner = NULL;
        l->expires = now;
        wv_lock_acquire(&o->lease_lock, WV_FOREVER);
        l->next = o->leases;
        o->leases = l;
        wv_lock_release(&o->lease_lock);
    }
}

int wv__mgr_q_put(struct mgr_obj *o, const wv_obj_t *item, int64_t deadline)
{
    wv_obj_t *ref = wv_obj_ref((wv_obj_t *)item);
    int err = wv_queue_put(o->queue, ref, deadline);
    if (err)
        wv_obj_free(ref);
    else
        count(&o->puts, 1);
    return err;
}

int wv__mgr_q_get(struct mgr_obj *o, wv_obj_t **item, int64_t deadline)
{
    for (;;) {
        int64_t slice = deadline;
        if (__atomic_load_n(&o->next_lease, __ATOMIC_RELAXED)) {
            put_back(o, NULL, false);
            if (deadline != 0)
                slice = earlier(deadline, wv_deadline_in(LEASE_TICK));
        }
        void *got;
        int err = wv_queue_get(o->queue, &got, slice);
        if (err == 0) {
            *item = got;
            count(&o->gets, 1);
            return 0;
        }
        if (err == WV_EOF)
            return WV_ESHUTDOWN;
        if (err != WV_ETIMEDOUT || slice == deadline)
            return err;
    }
}

int wv__mgr_q_get_leased(struct mgr_obj *o, wv_obj_t **item, uint64_t *lease,
                         int64_t lease_ms, const void *owner, int64_t deadline)
{
    struct mgr_lease *l = wv__malloc(sizeof *l);
    if (!l)
        return WV_ENOMEM;
    /* Mark the queue as leasing before the get, so that takers waiting
     * from now on wait in slices. */
    uint64_t zero = 0;
    __atomic_compare_exchange_n(&o->next_lease, &zero, 1, false,
                                __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    int err = wv__mgr_q_get(o, &l->item, deadline);
    if (err) {
        wv__free(l);
        return err;
    }
    l->owner = owner;
    l->expires = wv_deadline_in(lease_ms);
    l->id = __atomic_fetch_add(&o->next_lease, 1, __ATOMIC_RELAXED);
    wv_lock_acquire(&o->lease_lock, WV_FOREVER);
    l->next = o->leases;
    o->leases = l;
    wv_lock_release(&o->lease_lock);
    *lease = l->id;
    *item = wv_obj_ref(l->item);
    return 0;
}

int wv__mgr_q_ack(struct mgr_obj *o, uint64_t lease)
{
    struct mgr_lease *l, **pp;
    wv_lock_acquire(&o->lease_lock, WV_FOREVER);
    for (pp = &o->leases; (l = *pp) && l->id != lease; pp = &l->next)
        ;
    if (l)
        *pp = l->next;
    wv_lock_release(&o->lease_lock);
    if (!l)
        return WV_ENOENT;
    wv_obj_free(l->item);
    wv__free(l);
    wv_queue_task_done(o->queue);
    count(&o->acks, 1);
    return 0;
}

int wv__mgr_q_renew(struct mgr_obj *o, uint64_t lease, int64_t lease_ms)
{
    struct mgr_lease *l;
    wv_lock_acquire(&o->lease_lock, WV_FOREVER);
    for (l = o->leases; l && l->id != lease; l = l->next)
        ;
    if (l)
        l->expires = wv_deadline_in(lease_ms);
    wv_lock_release(&o->lease_lock);
    if (!l)
        return WV_ENOENT;
    count(&o->renewals, 1);
    return 0;
}

void wv__mgr_q_count_gets(struct mgr_obj *o, size_t n)
{
    count(&o->gets, n);
}

int wv_manager_queue_stats(wv_manager_t *m, const char *typeid,
                           wv_manager_queue_stats_t *out)
{
    if (!m || m->is_client || !typeid || !out)
        return WV_EINVAL;
    struct mgr_obj *o = wv__mgr_find_typeid(m, typeid);
    if (!o)
        return WV_ENOENT;
    if (o->kind != MGR_QUEUE)
        return WV_EINVAL;
    memset(out, 0, sizeof *out);
    wv_lock_acquire(&o->lease_lock, WV_FOREVER);
    for (const struct mgr_lease *l = o->leases; l; l = l->next)
        out->leased++;
    wv_lock_release(&o->lease_lock);
    out->qsize = wv_queue_qsize(o->queue);
    out->puts = counted(&o->puts);
    out->gets = counted(&o->gets);
    out->acks = counted(&o->acks);
    out->renewals = counted(&o->renewals);
    out->redelivered = counted(&o->redelivered);
    return 0;
}

size_t wv_manager_clients(const wv_manager_t *m)
{
    if (!m || m->is_client)
        return 0;
    return __atomic_load_n(&m->clients, __ATOMIC_RELAXED);
}

void wv__mgr_release_owner(wv_manager_t *m, const void *owner)
{
    for (size_t i = 0; i < m->nobjs; i++)
        if (m->objs[i]->kind == MGR_QUEUE)
            put_back(m->objs[i], owner, true);
}

void wv__mgr_obj_free(struct mgr_obj *o)
{
    if (!o)
        return;
    while (o->leases) {
        struct mgr_lease *l = o->leases;
        o->leases = l->next;
        wv_obj_free(l->item);
        wv__free(l);
    }
    wv_queue_free(o->queue);
    wv_lock_destroy(&o->lease_lock);
    for (size_t i = 0; i < o->nmethods; i++)
        wv__free(o->methods[i].name);
    wv__free(o->methods);
    wv__free(o->typeid);
    wv__free(o);
}

/* ----------------------------------------------------------- exposed */

static const char *const queue_methods[] = {
    "empty", "full",       "get",   "get_nowait", "join",
    "put",   "put_nowait", "qsize", "shutdown",   "task_done",
};

int wv__mgr_exposed(const struct mgr_obj *o, wv_obj_t **out)
{
    size_t n = o->kind == MGR_QUEUE ? 10 : o->nmethods;
    wv_obj_t *t, *name;
    int err = wv_obj_new_tuple(&t, n);
    for (size_t i = 0; !err && i < n; i++) {
        const char *s =
            o->kind == MGR_QUEUE ? queue_methods[i] : o->methods[i].name;
        err = wv_obj_new_str(&name, s, strlen(s));
        if (!err && (err = wv_obj_append(t, name)))
            wv_obj_free(name);
    }
    if (err) {
        wv_obj_free(t);
        return err;
    }
    *out = t;
    return 0;
}

/* ---------------------------------------------------------- dispatch */

/* A call's argument by position or keyword, borrowed, or NULL. */
static const wv_obj_t *arg(const wv_obj_t *args, const wv_obj_t *kwds,
                           size_t pos, const char *name)
{
    if (args && pos < args->u.seq.len)
        return args->u.seq.items[pos];
    return kwds ? wv_obj_dict_get(kwds, name) : NULL;
}

static bool truth(const wv_obj_t *v, bool dflt)
{
    if (!v)
        return dflt;
    switch (v->kind) {
    case WV_OBJ_NONE:
        return false;
    case WV_OBJ_BOOL:
        return v->u.b;
    case WV_OBJ_INT:
        return v->u.i != 0;
    case WV_OBJ_FLOAT:
        return v->u.f != 0;
    default:
        return true;
    }
}

static int timeout_deadline(const wv_obj_t *block, const wv_obj_t *timeout,
                            int64_t *deadline);

/* Python's (block, timeout) as a deadline, within the server's cap
 * (opts.max_wait_ms); WV_EINVAL for a timeout that is negative or no
 * number. */
static int block_deadline(const struct mgr_obj *o, const wv_obj_t *block,
                          const wv_obj_t *timeout, int64_t *deadline)
{
    int err = timeout_deadline(block, timeout, deadline);
    if (!err && *deadline != 0 && o->max_wait_ms > 0)
        *deadline = earlier(*deadline, wv_deadline_in(o->max_wait_ms));
    return err;
}

static int timeout_deadline(const wv_obj_t *block, const wv_obj_t *timeout,
                            int64_t *deadline)
{
    if (!truth(block, true)) {
        *deadline = 0;
        return 0;
    }
    if (!timeout || timeout->kind == WV_OBJ_NONE) {
        *deadline = WV_FOREVER;
        return 0;
    }
    double s;
    if (timeout->kind == WV_OBJ_FLOAT)
        s = timeout->u.f;
    else if (timeout->kind == WV_OBJ_INT || timeout->kind == WV_OBJ_BOOL)
        s = timeout->kind == WV_OBJ_INT ? (double)timeout->u.i : timeout->u.b;
    else
        return WV_EINVAL;
    if (!(s >= 0) || s > 1e9)
        return WV_EINVAL;
    /* Python waits at least the timeout: round up to the millisecond
     * (without libm, which the library does not link). */
    double ms = s * 1000.0;
    int64_t whole = (int64_t)ms;
    *deadline = wv_deadline_in(whole + ((double)whole < ms));
    return 0;
}

struct reply {
    enum mgr_reply kind;
    wv_obj_t *value;
};

static void reply_exc(struct reply *r, const char *module, const char *name,
                      const char *text)
{
    r->kind = MGR_ERROR;
    if (wv__mgr_exc(&r->value, module, name, text))
        r->value = NULL;
}

static void reply_text(struct reply *r, enum mgr_reply kind, const char *text)
{
    r->kind = kind;
    if (wv_obj_new_str(&r->value, text, strlen(text)))
        r->value = NULL;
}

/* A queue's error as Python's exception; *r's kind and value. */
static void reply_queue_err(struct reply *r, int err, bool putting)
{
    if (err == WV_EAGAIN || err == WV_ETIMEDOUT)
        reply_exc(r, "queue", putting ? "Full" : "Empty", NULL);
    else if (err == WV_ESHUTDOWN || err == WV_EOF)
        reply_text(r, MGR_TRACEBACK, "weave: the queue was shut down");
    else if (err == WV_EOVERFLOW)
        reply_exc(r, "builtins", "ValueError",
                  "task_done() called too many times");
    else if (err == WV_EINVAL)
        reply_exc(r, "builtins", "ValueError",
                  "'timeout' must be a non-negative number");
    else if (err == WV_ENOENT)
        reply_exc(r, "builtins", "KeyError", "no such lease");
    else
        reply_exc(r, "builtins", "RuntimeError", wv_err_name(err));
}

/* (a, b), taking both; NULL (both freed) when out of memory. */
static wv_obj_t *tuple2(wv_obj_t *a, wv_obj_t *b)
{
    wv_obj_t *t;
    if (wv_obj_new_tuple(&t, 2) == 0) {
        if (wv_obj_append(t, a) == 0 && (a = NULL, 1) &&
            wv_obj_append(t, b) == 0)
            return t;
        wv_obj_free(t);
    }
    wv_obj_free(a);
    wv_obj_free(b);
    return NULL;
}

static int make_int(wv_obj_t **out, int64_t i)
{
    return wv_obj_new_int(out, i);
}

/* _wv_put_many(items, block, timeout): the items in order until one
 * cannot be put; replies (count put, 0 or the weave error that stopped
 * it). */
static void many_put(struct mgr_obj *o, const wv_obj_t *args,
                     const wv_obj_t *kwds, struct reply *r)
{
    const wv_obj_t *items = arg(args, kwds, 0, "items");
    int64_t deadline;
    if (!items || items->kind != WV_OBJ_LIST) {
        reply_exc(r, "builtins", "TypeError", "_wv_put_many takes a list");
        return;
    }
    int err = block_deadline(o, arg(args, kwds, 1, "block"),
                             arg(args, kwds, 2, "timeout"), &deadline);
    if (err) {
        reply_queue_err(r, err, true);
        return;
    }
    size_t n = 0;
    while (n < items->u.seq.len &&
           (err = wv__mgr_q_put(o, items->u.seq.items[n], deadline)) == 0)
        n++;
    wv_obj_t *count, *code;
    if (wv_obj_new_int(&count, (int64_t)n) == 0) {
        if (wv_obj_new_int(&code, err) == 0)
            r->value = tuple2(count, code);
        else
            wv_obj_free(count);
    }
    if (!r->value)
        reply_text(r, MGR_UNSERIALIZABLE, "weave: out of memory");
}

/* _wv_get_many(max, block, timeout): 1 to max items, as a list. */
static void many_get(struct mgr_obj *o, const wv_obj_t *args,
                     const wv_obj_t *kwds, struct reply *r)
{
    int64_t max, deadline;
    int err = wv_obj_get_int(arg(args, kwds, 0, "max"), &max);
    if (!err && (max < 1 || max > 65536))
        err = WV_EINVAL;
    if (!err)
        err = block_deadline(o, arg(args, kwds, 1, "block"),
                             arg(args, kwds, 2, "timeout"), &deadline);
    wv_obj_t *list, *first;
    if (!err && (err = wv_obj_new_list(&list, (size_t)max)) == 0 &&
        (err = wv__mgr_q_get(o, &first, deadline)))
        wv_obj_free(list);
    if (err) {
        reply_queue_err(r, err, false);
        return;
    }
    wv_obj_append(list, first); /* room was made for max items */
    void *more[64];
    while (list->u.seq.len < (size_t)max) {
        size_t want = (size_t)max - list->u.seq.len;
        int got =
            wv_queue_get_many(o->queue, more, want < 64 ? (int)want : 64, 0);
        if (got <= 0)
            break;
        for (int i = 0; i < got; i++)
            wv_obj_append(list, more[i]);
        count(&o->gets, (uint64_t)got);
    }
    r->value = list;
}

/* The queue methods; false if method is none of them. */
static bool queue_call(struct mgr_obj *o, const char *method,
                       const wv_obj_t *args, const wv_obj_t *kwds,
                       const void *owner, struct reply *r)
{
    int64_t deadline;
    int err = 0;
    r->kind = MGR_RETURN;
    r->value = NULL;
    if (strcmp(method, "put") == 0 || strcmp(method, "put_nowait") == 0) {
        const wv_obj_t *item = arg(args, kwds, 0, "item");
        bool nowait = method[3] == '_';
        if (!item) {
            reply_exc(r, "builtins", "TypeError", "put() needs an item");
            return true;
        }
        err = nowait ? (deadline = 0, 0)
                     : block_deadline(o, arg(args, kwds, 1, "block"),
                                      arg(args, kwds, 2, "timeout"), &deadline);
        if (!err)
            err = wv__mgr_q_put(o, item, deadline);
        if (err)
            reply_queue_err(r, err, true);
    } else if (strcmp(method, "get") == 0 ||
               strcmp(method, "get_nowait") == 0) {
        bool nowait = method[3] == '_';
        err = nowait ? (deadline = 0, 0)
                     : block_deadline(o, arg(args, kwds, 0, "block"),
                                      arg(args, kwds, 1, "timeout"), &deadline);
        if (!err)
            err = wv__mgr_q_get(o, &r->value, deadline);
        if (err)
            reply_queue_err(r, err, false);
    } else if (strcmp(method, "_wv_get_leased") == 0) {
        const wv_obj_t *ms = arg(args, kwds, 0, "lease_ms");
        wv_obj_t *item, *pair, *id;
        uint64_t lease;
        int64_t lease_ms;
        err = wv_obj_get_int(ms, &lease_ms);
        if (!err && lease_ms <= 0)
            err = WV_EINVAL;
        if (!err)
            err = block_deadline(o, arg(args, kwds, 1, "block"),
                                 arg(args, kwds, 2, "timeout"), &deadline);
        if (!err)
            err = wv__mgr_q_get_leased(o, &item, &lease, lease_ms, owner,
                                       deadline);
        if (err) {
            reply_queue_err(r, err, false);
            return true;
        }
        if (wv_obj_new_tuple(&pair, 2) == 0) {
            if (make_int(&id, (int64_t)lease) == 0 &&
                wv_obj_append(pair, id) != 0)
                wv_obj_free(id);
            if (wv_obj_append(pair, item) == 0)
                item = NULL;
            if (pair->u.seq.len == 2)
                r->value = pair;
            else
                wv_obj_free(pair);
        }
        /* Out of memory: the lease stands and expires; the item returns. */
        wv_obj_free(item);
        if (!r->value)
            reply_text(r, MGR_UNSERIALIZABLE, "weave: out of memory");
    } else if (strcmp(method, "_wv_put_many") == 0) {
        many_put(o, args, kwds, r);
    } else if (strcmp(method, "_wv_get_many") == 0) {
        many_get(o, args, kwds, r);
    } else if (strcmp(method, "_wv_ack") == 0) {
        int64_t lease;
        err = wv_obj_get_int(arg(args, kwds, 0, "lease"), &lease);
        if (!err)
            err = wv__mgr_q_ack(o, (uint64_t)lease);
        if (err)
            reply_queue_err(r, err, false);
    } else if (strcmp(method, "_wv_renew") == 0) {
        int64_t lease, lease_ms;
        err = wv_obj_get_int(arg(args, kwds, 0, "lease"), &lease);
        if (!err)
            err = wv_obj_get_int(arg(args, kwds, 1, "lease_ms"), &lease_ms);
        if (!err && lease_ms <= 0)
            err = WV_EINVAL;
        if (!err)
            err = wv__mgr_q_renew(o, (uint64_t)lease, lease_ms);
        if (err)
            reply_queue_err(r, err, false);
    } else if (strcmp(method, "qsize") == 0) {
        make_int(&r->value, (int64_t)wv_queue_qsize(o->queue));
    } else if (strcmp(method, "empty") == 0 || strcmp(method, "full") == 0) {
        bool b = method[0] == 'e' ? wv_queue_is_empty(o->queue)
                                  : wv_queue_is_full(o->queue);
        wv_obj_new_bool(&r->value, b);
    } else if (strcmp(method, "task_done") == 0) {
        if ((err = wv_queue_task_done(o->queue)))
            reply_queue_err(r, err, false);
    } else if (strcmp(method, "join") == 0) {
        err = wv_queue_join(o->queue, o->max_wait_ms > 0
                                          ? wv_deadline_in(o->max_wait_ms)
                                          : WV_FOREVER);
        if (err == WV_ETIMEDOUT)
            reply_text(r, MGR_TRACEBACK,
                       "weave: join waited past the server's max_wait_ms");
        else if (err)
            reply_queue_err(r, err, false);
    } else if (strcmp(method, "shutdown") == 0) {
        wv_queue_shutdown(o->queue,
                          truth(arg(args, kwds, 0, "immediate"), false));
    } else {
        return false;
    }
    return true;
}

static void funcs_call(struct mgr_obj *o, size_t i, const wv_obj_t *args,
                       const wv_obj_t *kwds, struct reply *r)
{
    wv_obj_t *result = NULL;
    int err = o->methods[i].fn(o->methods[i].arg, args, kwds, &result);
    if (err == 0) {
        r->kind = MGR_RETURN;
        r->value = result;
    } else if (err == WV_EREMOTE && result) {
        r->kind = MGR_ERROR;
        r->value = result;
    } else {
        wv_obj_free(result);
        char text[96];
        snprintf(text, sizeof text, "%s: %s", wv_err_name(err),
                 wv_strerror(err));
        reply_exc(r, "builtins", "RuntimeError", text);
    }
}

void wv__mgr_call(wv_manager_t *m, struct mgr_obj *o, const char *method,
                  const wv_obj_t *args, const wv_obj_t *kwds, const void *owner,
                  enum mgr_reply *kind, wv_obj_t **value)
{
    struct reply r = {MGR_RETURN, NULL};
    bool done = false;
    (void)m;
    if (o->kind == MGR_QUEUE) {
        done = queue_call(o, method, args, kwds, owner, &r);
    } else {
        for (size_t i = 0; i < o->nmethods && !done; i++) {
            if (strcmp(o->methods[i].name, method) == 0) {
                funcs_call(o, i, args, kwds, &r);
                done = true;
            }
        }
    }
    if (!done &&
        (strcmp(method, "__str__") == 0 || strcmp(method, "__repr__") == 0)) {
        char text[160];
        snprintf(text, sizeof text, "<weave %s '%s'>",
                 o->kind == MGR_QUEUE ? "queue" : "object", o->typeid);
        reply_text(&r, MGR_RETURN, text);
        done = true;
    }
    if (!done) {
        char text[200];
        snprintf(text, sizeof text,
                 "AttributeError: method '%.64s' of '%.64s' is not exposed",
                 method, o->typeid);
        reply_text(&r, MGR_TRACEBACK, text);
    }
    *kind = r.kind;
    *value = r.value;
}

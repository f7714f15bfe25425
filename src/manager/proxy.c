/*
 * manager/proxy.c - the operations of a proxy: a queue's put, get,
 * qsize, task_done, join, weave's leases, and any method by name.  A
 * proxy of a server reaches its object directly (object.c); a client's
 * makes the method call over the method connection (client.c) with
 * Python's arguments and turns the reply into weave's codes.
 */
#include "mgr.h"

#include <string.h>

#define REPLY_SLACK 2000 /* ms a reply may take past a server's timeout */

static bool is_queue(const wv_proxy_t *p)
{
    return p && (!p->obj || p->obj->kind == MGR_QUEUE);
}

/* Builds a tuple of n values (new references), consuming them even on
 * error. */
static int tuple_of(wv_obj_t **out, size_t n, wv_obj_t **items)
{
    *out = NULL; /* wv_obj_new_tuple leaves it alone when it fails */
    int err = wv_obj_new_tuple(out, n);
    for (size_t i = 0; i < n; i++) {
        if (!err && items[i] && (err = wv_obj_append(*out, items[i])) == 0)
            continue;
        wv_obj_free(items[i]);
        if (!items[i] && !err)
            err = WV_ENOMEM;
    }
    if (err && *out) {
        wv_obj_free(*out);
        *out = NULL;
    }
    return err;
}

static wv_obj_t *new_bool(bool b)
{
    wv_obj_t *v;
    return wv_obj_new_bool(&v, b) ? NULL : v;
}

/* Python's timeout for a deadline (> 0): the seconds left, at least 0. */
static wv_obj_t *new_timeout(int64_t deadline)
{
    wv_obj_t *v;
    int64_t left = deadline - wv_now();
    return wv_obj_new_float(&v, left > 0 ? (double)left / 1000.0 : 0.0) ? NULL
                                                                        : v;
}

/* How long the reply of a call that waits until deadline may take. */
static int64_t reply_deadline(int64_t deadline)
{
    if (deadline < 0)
        return WV_FOREVER;
    int64_t slack = wv_deadline_in(REPLY_SLACK);
    return deadline == 0 ? slack : deadline + REPLY_SLACK;
}

/* The error a queue's reply means: queue.Empty or Full is the deadline's
 * (WV_EAGAIN for none), a shut-down queue WV_ESHUTDOWN, anything else
 * WV_EREMOTE.  Frees value. */
static int queue_reply(enum mgr_reply kind, wv_obj_t *value, int64_t deadline)
{
    int err = WV_EREMOTE;
    if (kind == MGR_ERROR && (wv_obj_is_global(value, "queue", "Empty") ||
                              wv_obj_is_global(value, "_queue", "Empty") ||
                              wv_obj_is_global(value, "queue", "Full")))
        err = deadline == 0 ? WV_EAGAIN : WV_ETIMEDOUT;
    else if (kind == MGR_ERROR &&
             wv_obj_is_global(value, "builtins", "ValueError"))
        err = WV_EINVAL;
    else if (kind == MGR_ERROR &&
             wv_obj_is_global(value, "builtins", "KeyError"))
        err = WV_ENOENT;
    else if (kind == MGR_TRACEBACK && value && value->kind == WV_OBJ_STR &&
             strstr(value->u.s.data, "shut down"))
        err = WV_ESHUTDOWN;
    else if (kind == MGR_TRACEBACK && value && value->kind == WV_OBJ_STR &&
             strstr(value->u.s.data, "'_wv_"))
        err = WV_ENOTSUP; /* a server without weave's methods: CPython's */
    else if (kind == MGR_PROXY)
        err = WV_ENOTSUP;
    wv_obj_free(value);
    return err;
}

/* A remote queue call with Python's (block, timeout) after the given
 * arguments; get_nowait/put_nowait for deadline 0. */
static int remote_wait_call(wv_proxy_t *p, const char *method,
                            const char *nowait, wv_obj_t **lead, size_t n,
                            wv_obj_t **result, int64_t deadline)
{
    wv_obj_t *items[4], *args;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        items[k++] = lead[i];
    if (deadline != 0) {
        items[k++] = new_bool(true);
        if (deadline > 0)
            items[k++] = new_timeout(deadline);
    } else if (nowait) {
        method = nowait;
    } else {
        items[k++] = new_bool(false);
    }
    int err = tuple_of(&args, k, items);
    if (err)
        return err;
    enum mgr_reply kind;
    wv_obj_t *value;
    err = wv__mgr_method(p, method, args, NULL, &kind, &value,
                         reply_deadline(deadline));
    wv_obj_free(args);
    if (err)
        return err;
    if (kind != MGR_RETURN)
        return queue_reply(kind, value, deadline);
    if (result)
        *result = value;
    else
        wv_obj_free(value);
    return 0;
}

int wv_proxy_put(wv_proxy_t *p, const wv_obj_t *item, int64_t deadline)
{
    if (!is_queue(p) || !item)
        return WV_EINVAL;
    if (p->rq)
        return wv__redis_put_many(p->rq, (wv_obj_t *const *)&item, 1, NULL,
                                  deadline);
    if (p->obj)
        return wv__mgr_q_put(p->obj, item, deadline);
    wv_obj_t *lead = wv_obj_ref((wv_obj_t *)item);
    return remote_wait_call(p, "put", "put_nowait", &lead, 1, NULL, deadline);
}

int wv_proxy_get(wv_proxy_t *p, wv_obj_t **item, int64_t deadline)
{
    if (!is_queue(p) || !item)
        return WV_EINVAL;
    if (p->rq) {
        size_t got;
        return wv__redis_get_many(p->rq, item, 1, &got, deadline);
    }
    if (p->obj)
        return wv__mgr_q_get(p->obj, item, deadline);
    return remote_wait_call(p, "get", "get_nowait", NULL, 0, item, deadline);
}

int wv_proxy_get_leased(wv_proxy_t *p, wv_obj_t **item, uint64_t *lease,
                        int64_t lease_ms, int64_t deadline)
{
    if (!is_queue(p) || !item || !lease || lease_ms <= 0)
        return WV_EINVAL;
    if (p->rq)
        return wv__redis_get_leased(p->rq, item, lease, lease_ms, deadline);
    if (p->obj)
        return wv__mgr_q_get_leased(p->obj, item, lease, lease_ms, NULL,
                                    deadline);
    wv_obj_t *ms, *pair;
    if (wv_obj_new_int(&ms, lease_ms))
        return WV_ENOMEM;
    int err =
        remote_wait_call(p, "_wv_get_leased", NULL, &ms, 1, &pair, deadline);
    if (err)
        return err;
    int64_t id;
    if (pair->kind != WV_OBJ_TUPLE || pair->u.seq.len != 2 ||
        wv_obj_get_int(pair->u.seq.items[0], &id)) {
        wv_obj_free(pair);
        return WV_EPROTO;
    }
    *lease = (uint64_t)id;
    *item = wv_obj_ref(pair->u.seq.items[1]);
    wv_obj_free(pair);
    return 0;
}

/* A call without waiting on the server's side with the n arguments
 * items (taken: freed whatever happens): its reply's value in *result
 * (NULL: freed), or the error. */
static int remote_args(wv_proxy_t *p, const char *method, wv_obj_t **items,
                       size_t n, wv_obj_t **result, int64_t deadline)
{
    wv_obj_t *args;
    int err = tuple_of(&args, n, items);
    if (err)
        return err;
    enum mgr_reply kind;
    wv_obj_t *value;
    err = wv__mgr_method(p, method, args, NULL, &kind, &value, deadline);
    wv_obj_free(args);
    if (err)
        return err;
    if (kind != MGR_RETURN)
        return queue_reply(kind, value, -1);
    if (result)
        *result = value;
    else
        wv_obj_free(value);
    return 0;
}

static int remote_simple(wv_proxy_t *p, const char *method, wv_obj_t *arg1,
                         wv_obj_t **result, int64_t deadline)
{
    return remote_args(p, method, &arg1, arg1 ? 1 : 0, result, deadline);
}

int wv_proxy_ack(wv_proxy_t *p, uint64_t lease, int64_t deadline)
{
    if (!is_queue(p))
        return WV_EINVAL;
    if (p->rq)
        return wv__redis_ack(p->rq, lease, deadline);
    if (p->obj)
        return wv__mgr_q_ack(p->obj, lease);
    wv_obj_t *id;
    if (wv_obj_new_int(&id, (int64_t)lease))
        return WV_ENOMEM;
    return remote_simple(p, "_wv_ack", id, NULL, deadline);
}

int wv_proxy_renew(wv_proxy_t *p, uint64_t lease, int64_t lease_ms,
                   int64_t deadline)
{
    if (!is_queue(p) || lease_ms <= 0)
        return WV_EINVAL;
    if (p->rq)
        return wv__redis_renew(p->rq, lease, deadline);
    if (p->obj)
        return wv__mgr_q_renew(p->obj, lease, lease_ms);
    wv_obj_t *two[2] = {NULL, NULL};
    wv_obj_new_int(&two[0], (int64_t)lease);
    wv_obj_new_int(&two[1], lease_ms);
    /* tuple_of says WV_ENOMEM for a NULL item and frees the others */
    return remote_args(p, "_wv_renew", two, 2, NULL, deadline);
}

int wv_proxy_qsize(wv_proxy_t *p, size_t *n, int64_t deadline)
{
    if (!is_queue(p) || !n)
        return WV_EINVAL;
    if (p->rq)
        return wv__redis_qsize(p->rq, n, deadline);
    if (p->obj) {
        *n = wv_queue_qsize(p->obj->queue);
        return 0;
    }
    wv_obj_t *v = NULL;
    int64_t i = 0;
    int err = remote_simple(p, "qsize", NULL, &v, deadline);
    if (err)
        return err;
    err = wv_obj_get_int(v, &i) || i < 0 ? WV_EPROTO : 0;
    wv_obj_free(v);
    if (!err)
        *n = (size_t)i;
    return err;
}

int wv_proxy_task_done(wv_proxy_t *p, int64_t deadline)
{
    if (!is_queue(p))
        return WV_EINVAL;
    if (p->rq)
        return WV_ENOTSUP;
    if (p->obj) {
        int err = wv_queue_task_done(p->obj->queue);
        return err == WV_EOVERFLOW ? WV_EINVAL : err;
    }
    return remote_simple(p, "task_done", NULL, NULL, deadline);
}

int wv_proxy_join(wv_proxy_t *p, int64_t deadline)
{
    if (!is_queue(p))
        return WV_EINVAL;
    if (p->rq)
        return WV_ENOTSUP;
    if (p->obj)
        return wv_queue_join(p->obj->queue, deadline);
    return remote_simple(p, "join", NULL, NULL, deadline);
}

int wv_proxy_call(wv_proxy_t *p, const char *method, const wv_obj_t *args,
                  const wv_obj_t *kwds, wv_obj_t **result, int64_t deadline)
{
    if (!p || !method || !result || (args && args->kind != WV_OBJ_TUPLE) ||
        (kwds && kwds->kind != WV_OBJ_DICT))
        return WV_EINVAL;
    if (p->rq)
        return WV_ENOTSUP;
    enum mgr_reply kind;
    wv_obj_t *value = NULL;
    if (p->obj) {
        wv_obj_t *no_args = NULL, *no_kwds = NULL;
        if ((!args && wv_obj_new_tuple(&no_args, 0)) ||
            (!kwds && wv_obj_new_dict(&no_kwds, 0))) {
            wv_obj_free(no_args);
            return WV_ENOMEM;
        }
        wv__mgr_call(p->mgr, p->obj, method, args ? args : no_args,
                     kwds ? kwds : no_kwds, NULL, &kind, &value);
        wv_obj_free(no_args);
        wv_obj_free(no_kwds);
    } else {
        int err =
            wv__mgr_method(p, method, args, kwds, &kind, &value, deadline);
        if (err)
            return err;
    }
    if (!value && wv_obj_new_none(&value))
        return WV_ENOMEM;
    *result = value;
    if (kind == MGR_RETURN)
        return 0;
    return kind == MGR_PROXY ? WV_ENOTSUP : WV_EREMOTE;
}

int wv_proxy_put_many(wv_proxy_t *p, wv_obj_t *const *items, size_t n,
                      size_t *done, int64_t deadline)
{
    size_t k = 0;
    int err = 0;
    if (!is_queue(p) || !items || n == 0)
        return WV_EINVAL;
    if (done)
        *done = 0;
    if (p->rq)
        return wv__redis_put_many(p->rq, items, n, done, deadline);
    if (!p->obj && !__atomic_load_n(&p->mgr->plain_server, __ATOMIC_RELAXED)) {
        wv_obj_t *list, *pair;
        if ((err = wv_obj_new_list(&list, n)))
            return err;
        for (size_t i = 0; i < n; i++)
            wv_obj_append(list, wv_obj_ref(items[i])); /* room made */
        err = remote_wait_call(p, "_wv_put_many", NULL, &list, 1, &pair,
                               deadline);
        if (err != WV_ENOTSUP) {
            int64_t count, code;
            if (err)
                return err;
            if (pair->kind != WV_OBJ_TUPLE || pair->u.seq.len != 2 ||
                wv_obj_get_int(pair->u.seq.items[0], &count) ||
                wv_obj_get_int(pair->u.seq.items[1], &code) || count < 0 ||
                (size_t)count > n || code > 0 || code < -4096) {
                wv_obj_free(pair);
                return WV_EPROTO;
            }
            wv_obj_free(pair);
            if (done)
                *done = (size_t)count;
            if (code == WV_ETIMEDOUT && deadline == 0)
                code = WV_EAGAIN;
            return (int)code;
        }
        __atomic_store_n(&p->mgr->plain_server, 1, __ATOMIC_RELAXED);
    }
    /* One at a time: a server of ours, or a CPython one. */
    for (; k < n && (err = wv_proxy_put(p, items[k], deadline)) == 0; k++)
        ;
    if (done)
        *done = k;
    return err;
}

int wv_proxy_get_many(wv_proxy_t *p, wv_obj_t **items, size_t max, size_t *got,
                      int64_t deadline)
{
    if (!is_queue(p) || !items || !got || max == 0)
        return WV_EINVAL;
    *got = 0;
    if (p->rq)
        return wv__redis_get_many(p->rq, items, max, got, deadline);
    if (p->obj) {
        int err = wv__mgr_q_get(p->obj, &items[0], deadline);
        if (err)
            return err;
        int n =
            max > 1
                ? wv_queue_get_many(p->obj->queue, (void **)items + 1,
                                    max - 1 > 65536 ? 65536 : (int)(max - 1), 0)
                : 0;
        *got = 1 + (n > 0 ? (size_t)n : 0);
        wv__mgr_q_count_gets(p->obj, *got - 1);
        return 0;
    }
    wv_obj_t *lead, *list;
    int err = WV_ENOTSUP;
    if (!__atomic_load_n(&p->mgr->plain_server, __ATOMIC_RELAXED)) {
        if (wv_obj_new_int(&lead, max > 65536 ? 65536 : (int64_t)max))
            return WV_ENOMEM;
        err = remote_wait_call(p, "_wv_get_many", NULL, &lead, 1, &list,
                               deadline);
    }
    if (err == WV_ENOTSUP) { /* a CPython server: one get from now on */
        __atomic_store_n(&p->mgr->plain_server, 1, __ATOMIC_RELAXED);
        err = wv_proxy_get(p, &items[0], deadline);
        *got = err ? 0 : 1;
        return err;
    }
    if (err)
        return err;
    if (list->kind != WV_OBJ_LIST || list->u.seq.len == 0 ||
        list->u.seq.len > max) {
        wv_obj_free(list);
        return WV_EPROTO;
    }
    for (size_t i = 0; i < list->u.seq.len; i++)
        items[i] = wv_obj_ref(list->u.seq.items[i]);
    *got = list->u.seq.len;
    wv_obj_free(list);
    return 0;
}

/*
 * tests/test_manager.c - the manager (weave/manager.h): local and remote
 * proxies, RPC, leases, shutdown, hostile peers, and CPython in both
 * roles: Python workers and clients against a weave manager, and a weave
 * worker against a Python master, for every interpreter on the machine
 * (python3 and pyenv's 3.8 to 3.13).
 */
#include "runner.h"

#include "weave/manager.h"

#include "manager/mgr.h"
#include "queue/internal.h"

#include <arpa/inet.h>
#include <glob.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEY "abc"

/* ------------------------------------------------------------ helpers */

static wv_obj_t *vint(int64_t i)
{
    wv_obj_t *v;
    WVT_OK(wv_obj_new_int(&v, i));
    return v;
}

static wv_obj_t *vstr(const char *s)
{
    wv_obj_t *v;
    WVT_OK(wv_obj_new_str(&v, s, strlen(s)));
    return v;
}

static wv_obj_t *vtuple2(wv_obj_t *a, wv_obj_t *b)
{
    wv_obj_t *t;
    WVT_OK(wv_obj_new_tuple(&t, 2));
    WVT_OK(wv_obj_append(t, a));
    WVT_OK(wv_obj_append(t, b));
    return t;
}

static int64_t get_int(const wv_obj_t *v)
{
    int64_t i;
    WVT_OK(wv_obj_get_int(v, &i));
    return i;
}

static wv_manager_opts_t server_opts(void)
{
    wv_manager_opts_t o = {
        .host = "127.0.0.1", .port = 0, .authkey = KEY, .authkey_len = 3};
    return o;
}

/* A started manager with a task and a result queue, on a free port. */
static wv_manager_t *start_master(uint16_t *port)
{
    wv_manager_opts_t o = server_opts();
    wv_manager_t *m;
    WVT_OK(wv_manager_new(&m, &o));
    WVT_OK(wv_manager_register_queue(m, "get_task_queue", 0));
    WVT_OK(wv_manager_register_queue(m, "get_result_queue", 0));
    WVT_OK(wv_manager_start(m));
    wv_addr_t a;
    WVT_OK(wv_manager_addr(m, &a));
    *port = wv_addr_port(&a);
    WVT_GT(*port, 0);
    return m;
}

static wv_manager_t *connect_to(uint16_t port, const char *key)
{
    wv_manager_opts_t o = {.host = "127.0.0.1",
                           .port = port,
                           .authkey = key,
                           .authkey_len = strlen(key)};
    wv_manager_t *c;
    WVT_OK(wv_manager_connect(&c, &o, wv_deadline_in(10000)));
    return c;
}

static wv_proxy_t *proxy(wv_manager_t *m, const char *typeid)
{
    wv_proxy_t *p;
    WVT_OK(wv_manager_proxy(m, typeid, &p, wv_deadline_in(10000)));
    return p;
}

/* ------------------------------------------------------ local proxies */

WVT_TEST(manager_local_queue_is_python_queue)
{
    wv_manager_opts_t o = server_opts();
    wv_manager_t *m;
    WVT_OK(wv_manager_new(&m, &o));
    WVT_OK(wv_manager_register_queue(m, "q", 2));
    WVT_ERR(wv_manager_register_queue(m, "q", 0), WV_EEXIST);
    WVT_ERR(wv_manager_register_queue(m, "not an id", 0), WV_EINVAL);
    wv_proxy_t *p;
    WVT_ERR(wv_manager_proxy(m, "nope", &p, 0), WV_ENOENT);
    p = proxy(m, "q");
    wv_obj_t *a = vint(1), *b = vstr("two"), *got;
    WVT_OK(wv_proxy_put(p, a, 0));
    WVT_OK(wv_proxy_put(p, b, 0));
    WVT_ERR(wv_proxy_put(p, a, 0), WV_EAGAIN); /* full: queue.Full */
    WVT_ERR(wv_proxy_put(p, a, wv_deadline_in(20)), WV_ETIMEDOUT);
    size_t n;
    WVT_OK(wv_proxy_qsize(p, &n, 0));
    WVT_EQ(n, 2);
    WVT_OK(wv_proxy_get(p, &got, 0));
    WVT_ASSERT(wv_obj_equal(got, a));
    wv_obj_free(got);
    WVT_OK(wv_proxy_get(p, &got, 0));
    WVT_ASSERT(wv_obj_equal(got, b));
    wv_obj_free(got);
    WVT_ERR(wv_proxy_get(p, &got, 0), WV_EAGAIN);
    WVT_ERR(wv_proxy_get(p, &got, wv_deadline_in(20)), WV_ETIMEDOUT);
    WVT_ERR(wv_proxy_join(p, 0), WV_EAGAIN);
    WVT_OK(wv_proxy_task_done(p, 0));
    WVT_OK(wv_proxy_task_done(p, 0));
    WVT_ERR(wv_proxy_task_done(p, 0), WV_EINVAL);
    WVT_OK(wv_proxy_join(p, 0));
    wv_obj_free(a);
    wv_obj_free(b);
    wv_proxy_free(p);
    wv_manager_free(m);
}

static int add_fn(void *arg, const wv_obj_t *args, const wv_obj_t *kwds,
                  wv_obj_t **result)
{
    (void)arg;
    (void)kwds;
    int64_t x, y;
    if (args->u.seq.len != 2 || wv_obj_get_int(args->u.seq.items[0], &x) ||
        wv_obj_get_int(args->u.seq.items[1], &y)) {
        wv_obj_t *a;
        if (wv_obj_new_tuple(&a, 1))
            return WV_ENOMEM;
        wv_obj_t *t;
        if (wv_obj_new_str(&t, "add takes two ints", 18)) {
            wv_obj_free(a);
            return WV_ENOMEM;
        }
        wv_obj_append(a, t);
        int err = wv_obj_new_exception(result, "builtins", "TypeError", a);
        if (err)
            wv_obj_free(a);
        return err ? err : WV_EREMOTE;
    }
    return wv_obj_new_int(result, x + y);
}

static int fail_fn(void *arg, const wv_obj_t *args, const wv_obj_t *kwds,
                   wv_obj_t **result)
{
    (void)arg;
    (void)args;
    (void)kwds;
    (void)result;
    return WV_EPERM;
}

/* Calc.echo: its arguments back, as the tuple that came. */
static int echo_fn(void *arg, const wv_obj_t *args, const wv_obj_t *kwds,
                   wv_obj_t **result)
{
    (void)arg;
    (void)kwds;
    *result = wv_obj_ref((wv_obj_t *)args);
    return 0;
}

static wv_manager_t *start_calc(uint16_t *port)
{
    wv_manager_opts_t o = server_opts();
    wv_manager_t *m;
    WVT_OK(wv_manager_new(&m, &o));
    WVT_OK(wv_manager_register(m, "Calc", "add", add_fn, NULL));
    WVT_OK(wv_manager_register(m, "Calc", "fail", fail_fn, NULL));
    WVT_OK(wv_manager_register(m, "Calc", "echo", echo_fn, NULL));
    WVT_ERR(wv_manager_register(m, "Calc", "add", add_fn, NULL), WV_EEXIST);
    WVT_OK(wv_manager_start(m));
    wv_addr_t a;
    WVT_OK(wv_manager_addr(m, &a));
    *port = wv_addr_port(&a);
    WVT_ERR(wv_manager_register(m, "Calc", "late", add_fn, NULL), WV_EINVAL);
    return m;
}

static void check_calc(wv_proxy_t *calc)
{
    wv_obj_t *args = vtuple2(vint(40), vint(2)), *r;
    WVT_OK(wv_proxy_call(calc, "add", args, NULL, &r, wv_deadline_in(5000)));
    WVT_EQ(get_int(r), 42);
    wv_obj_free(r);
    wv_obj_free(args);
    args = vtuple2(vint(1), vstr("x"));
    WVT_ERR(wv_proxy_call(calc, "add", args, NULL, &r, wv_deadline_in(5000)),
            WV_EREMOTE);
    WVT_ASSERT(wv_obj_is_global(r, "builtins", "TypeError"));
    wv_obj_free(r);
    wv_obj_free(args);
    WVT_ERR(wv_proxy_call(calc, "fail", NULL, NULL, &r, wv_deadline_in(5000)),
            WV_EREMOTE);
    WVT_ASSERT(wv_obj_is_global(r, "builtins", "RuntimeError"));
    wv_obj_free(r);
    WVT_ERR(wv_proxy_call(calc, "nope", NULL, NULL, &r, wv_deadline_in(5000)),
            WV_EREMOTE);
    WVT_EQ(r->kind, WV_OBJ_STR); /* the server's text */
    wv_obj_free(r);
    /* Messages past the stack buffers both ways (a request and a reply
     * of some KiB), with a shared node, and small ones after them. */
    char big[3000];
    memset(big, 'b', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    wv_obj_t *list, *s = vstr(big);
    WVT_OK(wv_obj_new_list(&list, 2));
    for (int i = 0; i < 40; i++) /* out of the list's first room */
        WVT_OK(wv_obj_append(list, vint(i)));
    WVT_OK(wv_obj_append(list, wv_obj_ref(s)));
    args = vtuple2(s, list);
    WVT_OK(wv_proxy_call(calc, "echo", args, NULL, &r, wv_deadline_in(5000)));
    WVT_ASSERT(wv_obj_equal(r, args));
    WVT_EQ(r->u.seq.items[1]->u.seq.len, 41);
    wv_obj_free(r);
    wv_obj_free(args);
    args = vtuple2(vint(2), vint(3));
    WVT_OK(wv_proxy_call(calc, "add", args, NULL, &r, wv_deadline_in(5000)));
    WVT_EQ(get_int(r), 5);
    wv_obj_free(r);
    wv_obj_free(args);
}

WVT_TEST(manager_rpc_local_and_remote)
{
    uint16_t port;
    wv_manager_t *m = start_calc(&port);
    wv_proxy_t *local = proxy(m, "Calc");
    check_calc(local);
    wv_proxy_free(local);
    wv_manager_t *c = connect_to(port, KEY);
    wv_proxy_t *remote = proxy(c, "Calc");
    WVT_ASSERT(strcmp(wv_proxy_typeid(remote), "Calc") == 0);
    check_calc(remote);
    /* A method name that is not UTF-8 cannot be pickled as a str: refused
     * before anything is sent, and the proxy goes on. */
    wv_obj_t *r;
    WVT_ERR(wv_proxy_call(remote, "\xff", NULL, NULL, &r, wv_deadline_in(5000)),
            WV_EINVAL);
    check_calc(remote);
    wv_proxy_free(remote);
    wv_manager_free(c);
    wv_manager_free(m);
}

/* ---------------------------------------------------- remote queues */

WVT_TEST(manager_remote_queue_round_trips_values)
{
    uint16_t port;
    wv_manager_t *m = start_master(&port);
    wv_manager_t *c = connect_to(port, KEY);
    wv_proxy_t *t = proxy(c, "get_task_queue");
    wv_proxy_t *local = proxy(m, "get_task_queue");
    WVT_ASSERT(strcmp(wv_proxy_ident(t), wv_proxy_ident(local)) == 0);
    wv_obj_t *items[4] = {vint(7), vstr("seven"), vtuple2(vint(-1), vstr("x")),
                          NULL};
    WVT_OK(wv_obj_new_bigint(&items[3], "\x00\x00\x00\x00\x00\x00\x00\x00\x80",
                             9));
    for (int i = 0; i < 4; i++)
        WVT_OK(wv_proxy_put(t, items[i], wv_deadline_in(5000)));
    size_t n;
    WVT_OK(wv_proxy_qsize(t, &n, wv_deadline_in(5000)));
    WVT_EQ(n, 4);
    for (int i = 0; i < 4; i++) {
        wv_obj_t *got;
        /* alternately through the network and directly */
        WVT_OK(wv_proxy_get(i % 2 ? local : t, &got, wv_deadline_in(5000)));
        WVT_ASSERT(wv_obj_equal(got, items[i]));
        wv_obj_free(got);
        wv_obj_free(items[i]);
    }
    wv_obj_t *got;
    int64_t t0 = wv_now();
    WVT_ERR(wv_proxy_get(t, &got, wv_deadline_in(150)), WV_ETIMEDOUT);
    WVT_GE(wv_now() - t0, 150);
    WVT_ERR(wv_proxy_get(t, &got, 0), WV_EAGAIN);
    /* The connection is still in step after the time-outs. */
    wv_obj_t *x = vint(5);
    WVT_OK(wv_proxy_put(local, x, 0));
    WVT_OK(wv_proxy_get(t, &got, wv_deadline_in(5000)));
    WVT_ASSERT(wv_obj_equal(got, x));
    wv_obj_free(got);
    wv_obj_free(x);
    for (int i = 0; i < 5; i++)
        WVT_OK(wv_proxy_task_done(t, wv_deadline_in(5000)));
    WVT_ERR(wv_proxy_task_done(t, wv_deadline_in(5000)), WV_EINVAL);
    WVT_OK(wv_proxy_join(t, wv_deadline_in(5000)));
    wv_proxy_free(local);
    wv_proxy_free(t);
    wv_manager_free(c);
    wv_manager_free(m);
}

static void batches(wv_proxy_t *q, wv_proxy_t *check)
{
    wv_obj_t *items[300], *got[300];
    for (int i = 0; i < 300; i++)
        items[i] = vint(i);
    size_t done, n;
    WVT_OK(wv_proxy_put_many(q, items, 300, &done, wv_deadline_in(5000)));
    WVT_EQ(done, 300);
    WVT_OK(wv_proxy_qsize(check, &n, wv_deadline_in(5000)));
    WVT_EQ(n, 300);
    size_t total = 0;
    while (total < 300) {
        WVT_OK(wv_proxy_get_many(q, got, 128, &n, wv_deadline_in(5000)));
        WVT_ASSERT(n >= 1 && n <= 128);
        for (size_t i = 0; i < n; i++) {
            WVT_EQ(get_int(got[i]), (int64_t)(total + i)); /* in order */
            wv_obj_free(got[i]);
        }
        total += n;
    }
    WVT_ERR(wv_proxy_get_many(q, got, 128, &n, 0), WV_EAGAIN);
    WVT_EQ(n, 0);
    WVT_ERR(wv_proxy_get_many(q, got, 128, &n, wv_deadline_in(50)),
            WV_ETIMEDOUT);
    for (int i = 0; i < 300; i++)
        wv_obj_free(items[i]);
}

WVT_TEST(manager_batches_local_and_remote)
{
    uint16_t port;
    wv_manager_t *m = start_master(&port);
    wv_proxy_t *local = proxy(m, "get_task_queue");
    batches(local, local);
    wv_manager_t *c = connect_to(port, KEY);
    wv_proxy_t *remote = proxy(c, "get_task_queue");
    batches(remote, local);
    /* A bounded queue stops a batch where it is full. */
    wv_proxy_free(remote);
    wv_manager_free(c);
    wv_proxy_free(local);
    wv_manager_free(m);
    wv_manager_opts_t o = server_opts();
    WVT_OK(wv_manager_new(&m, &o));
    WVT_OK(wv_manager_register_queue(m, "small", 5));
    WVT_OK(wv_manager_start(m));
    wv_addr_t a;
    WVT_OK(wv_manager_addr(m, &a));
    c = connect_to(wv_addr_port(&a), KEY);
    remote = proxy(c, "small");
    wv_obj_t *items[8];
    for (int i = 0; i < 8; i++)
        items[i] = vint(i);
    size_t done;
    WVT_ERR(wv_proxy_put_many(remote, items, 8, &done, 0), WV_EAGAIN);
    WVT_EQ(done, 5);
    WVT_ERR(wv_proxy_put_many(remote, items, 8, &done, wv_deadline_in(30)),
            WV_ETIMEDOUT);
    WVT_EQ(done, 0);
    for (int i = 0; i < 8; i++)
        wv_obj_free(items[i]);
    wv_proxy_free(remote);
    wv_manager_free(c);
    wv_manager_free(m);
}

WVT_TEST(manager_wrong_key_and_unknown_typeid)
{
    uint16_t port;
    wv_manager_t *m = start_master(&port);
    wv_manager_opts_t o = {
        .host = "127.0.0.1", .port = port, .authkey = "abd", .authkey_len = 3};
    wv_manager_t *c;
    WVT_ERR(wv_manager_connect(&c, &o, wv_deadline_in(10000)), WV_EAUTH);
    c = connect_to(port, KEY);
    wv_proxy_t *p;
    WVT_ERR(wv_manager_proxy(c, "get_nothing", &p, wv_deadline_in(5000)),
            WV_ENOENT);
    wv_manager_free(c);
    o.authkey = NULL;
    WVT_ERR(wv_manager_connect(&c, &o, 0), WV_EINVAL);
    wv_manager_free(m);
}

/* A second worker waits in get while the first takes the item. */
struct waiter {
    uint16_t port;
    int64_t got;
};

static void wait_for_item(void *arg)
{
    struct waiter *w = arg;
    wv_manager_t *c = connect_to(w->port, KEY);
    wv_proxy_t *t = proxy(c, "get_task_queue");
    wv_obj_t *v;
    uint64_t lease;
    WVT_OK(wv_proxy_get_leased(t, &v, &lease, 10000, wv_deadline_in(20000)));
    w->got = get_int(v);
    wv_obj_free(v);
    WVT_OK(wv_proxy_ack(t, lease, wv_deadline_in(5000)));
    wv_proxy_free(t);
    wv_manager_free(c);
}

/* A master, and a remote worker's connection that took item x (put by
 * the master's own proxy, local) with a lease of `term` ms. */
struct leased {
    uint16_t port;
    wv_manager_t *m, *c;
    wv_proxy_t *local, *t;
    wv_obj_t *x;
    uint64_t lease;
};

static void leased_open(struct leased *l, int64_t item, int64_t term)
{
    wv_obj_t *v;
    l->m = start_master(&l->port);
    l->local = proxy(l->m, "get_task_queue");
    l->x = vint(item);
    WVT_OK(wv_proxy_put(l->local, l->x, 0));
    l->c = connect_to(l->port, KEY);
    l->t = proxy(l->c, "get_task_queue");
    WVT_OK(
        wv_proxy_get_leased(l->t, &v, &l->lease, term, wv_deadline_in(5000)));
    WVT_ASSERT(wv_obj_equal(v, l->x));
    wv_obj_free(v);
}

static void leased_close(struct leased *l)
{
    wv_obj_free(l->x);
    wv_proxy_free(l->t);
    wv_proxy_free(l->local);
    wv_manager_free(l->c);
    wv_manager_free(l->m);
}

WVT_TEST(manager_lease_expires_and_goes_to_a_waiting_worker)
{
    struct leased l;
    leased_open(&l, 99, 300);
    /* Another worker waits; the lease runs out; the item is its. */
    struct waiter w = {l.port, 0};
    wvt_thread_t *th = wvt_spawn(wait_for_item, &w);
    wvt_join(th);
    WVT_EQ(w.got, 99);
    WVT_ERR(wv_proxy_ack(l.t, l.lease, wv_deadline_in(5000)), WV_ENOENT);
    size_t n;
    WVT_OK(wv_proxy_qsize(l.local, &n, 0));
    WVT_EQ(n, 0);
    WVT_OK(wv_proxy_join(l.local, 0)); /* the ack counted as done */
    leased_close(&l);
}

WVT_TEST(manager_renewed_lease_outlives_its_first_term)
{
    struct leased l;
    wv_obj_t *v;
    uint64_t lease;
    leased_open(&l, 5, 1000);
    WVT_OK(wv_proxy_renew(l.t, l.lease, 60000, wv_deadline_in(5000)));
    /* Past the first term (and a tick of the expiry scan), the item is
     * still leased: a get that waits that long finds nothing.  Without
     * the renewal it would come back at 1 s (the case above). */
    WVT_ERR(wv_proxy_get(l.local, &v, wv_deadline_in(2500)), WV_ETIMEDOUT);
    wv_manager_queue_stats_t st;
    WVT_OK(wv_manager_queue_stats(l.m, "get_task_queue", &st));
    WVT_EQ(st.leased, 1);
    WVT_EQ(st.redelivered, 0);
    WVT_EQ(st.renewals, 1);
    WVT_OK(wv_proxy_ack(l.t, l.lease, wv_deadline_in(5000)));
    /* Acknowledged, or never given: nothing to renew. */
    WVT_ERR(wv_proxy_renew(l.t, l.lease, 1000, wv_deadline_in(5000)),
            WV_ENOENT);
    WVT_ERR(wv_proxy_renew(l.t, l.lease + 100, 1000, wv_deadline_in(5000)),
            WV_ENOENT);
    WVT_ERR(wv_proxy_renew(l.t, l.lease, 0, wv_deadline_in(5000)), WV_EINVAL);
    WVT_ERR(wv_proxy_renew(NULL, l.lease, 1000, 0), WV_EINVAL);
    /* The master's own proxy renews in process. */
    WVT_OK(wv_proxy_put(l.local, l.x, 0));
    WVT_OK(wv_proxy_get_leased(l.local, &v, &lease, 1000, 0));
    wv_obj_free(v);
    WVT_OK(wv_proxy_renew(l.local, lease, 60000, 0));
    WVT_OK(wv_proxy_ack(l.local, lease, 0));
    WVT_ERR(wv_proxy_renew(l.local, lease, 60000, 0), WV_ENOENT);
    leased_close(&l);
}

/* A remote renewal with each of its own allocations failing (the lease
 * and the term as ints, then their tuple; the server is idle meanwhile):
 * WV_ENOMEM, nothing leaked, the lease still held and renewable. */
WVT_TEST(manager_remote_renew_survives_failed_allocations)
{
    wvt_alloc_install();
    struct leased l;
    leased_open(&l, 5, 60000);
    for (long n = 1; n <= 3; n++) {
        long live = wvt_alloc_live();
        wvt_alloc_fail_at(n);
        WVT_ERR(wv_proxy_renew(l.t, l.lease, 60000, wv_deadline_in(5000)),
                WV_ENOMEM);
        wvt_alloc_fail_at(0);
        WVT_EQ(wvt_alloc_live(), live);
    }
    WVT_OK(wv_proxy_renew(l.t, l.lease, 60000, wv_deadline_in(5000)));
    WVT_OK(wv_proxy_ack(l.t, l.lease, wv_deadline_in(5000)));
    leased_close(&l);
    wvt_alloc_uninstall();
}

/* wv_manager_queue_stats and wv_manager_clients: each count moves with
 * what a remote worker does (put, leased get, ack, a lease put back). */
WVT_TEST(manager_queue_stats_count_what_clients_do)
{
    uint16_t port;
    wv_manager_t *m = start_master(&port);
    wv_manager_queue_stats_t st;
    WVT_ERR(wv_manager_queue_stats(m, "nope", &st), WV_ENOENT);
    WVT_ERR(wv_manager_queue_stats(NULL, "get_task_queue", &st), WV_EINVAL);
    WVT_EQ(wv_manager_clients(m), 0);
    wv_manager_t *c = connect_to(port, KEY);
    WVT_ERR(wv_manager_queue_stats(c, "get_task_queue", &st), WV_EINVAL);
    wv_proxy_t *t = proxy(c, "get_task_queue");
    wv_obj_t *x = vint(7), *v;
    for (int i = 0; i < 3; i++)
        WVT_OK(wv_proxy_put(t, x, wv_deadline_in(5000)));
    WVT_EQ(wv_manager_clients(m), 1);
    uint64_t l1, l2;
    WVT_OK(wv_proxy_get_leased(t, &v, &l1, 300, wv_deadline_in(5000)));
    wv_obj_free(v);
    WVT_OK(wv_proxy_get_leased(t, &v, &l2, 60000, wv_deadline_in(5000)));
    wv_obj_free(v);
    WVT_OK(wv_manager_queue_stats(m, "get_task_queue", &st));
    WVT_EQ(st.qsize, 1);
    WVT_EQ(st.leased, 2);
    WVT_EQ(st.puts, 3);
    WVT_EQ(st.gets, 2);
    WVT_OK(wv_proxy_ack(t, l2, wv_deadline_in(5000)));
    WVT_OK(wv_proxy_get(t, &v, wv_deadline_in(5000))); /* the third */
    wv_obj_free(v);
    /* The queue is empty: this get waits until l1 expires and is put
     * back, and takes it. */
    WVT_OK(wv_proxy_get(t, &v, wv_deadline_in(5000)));
    wv_obj_free(v);
    WVT_OK(wv_manager_queue_stats(m, "get_task_queue", &st));
    WVT_EQ(st.acks, 1);
    WVT_EQ(st.redelivered, 1);
    WVT_EQ(st.leased, 0);
    WVT_EQ(st.qsize, 0);
    WVT_EQ(st.gets, 4);
    WVT_OK(wv_manager_queue_stats(m, "get_result_queue", &st));
    WVT_EQ(st.puts, 0);
    wv_obj_free(x);
    wv_proxy_free(t);
    wv_manager_free(c);
    WVT_POLL(wv_manager_clients(m) == 0, 5000);
    wv_manager_free(m);
}

WVT_TEST(manager_killed_worker_loses_no_task)
{
    uint16_t port;
    wv_manager_t *m = start_master(&port);
    wv_proxy_t *local = proxy(m, "get_task_queue");
    wv_obj_t *x = vstr("job"), *v;
    WVT_OK(wv_proxy_put(local, x, 0));
    int ready[2];
    WVT_OK(pipe(ready));
    pid_t pid = fork();
    WVT_ASSERT(pid >= 0);
    if (pid == 0) { /* a worker that takes the job and dies */
        wv_manager_t *c = connect_to(port, KEY);
        wv_proxy_t *t = proxy(c, "get_task_queue");
        uint64_t lease;
        if (wv_proxy_get_leased(t, &v, &lease, 60000, wv_deadline_in(5000)))
            _exit(1);
        if (write(ready[1], "x", 1) != 1)
            _exit(2);
        pause();
        _exit(3);
    }
    char b;
    WVT_EQ(read(ready[0], &b, 1), 1);
    size_t n;
    WVT_OK(wv_proxy_qsize(local, &n, 0));
    WVT_EQ(n, 0); /* leased, not queued */
    kill(pid, SIGKILL);
    int st;
    WVT_EQ(waitpid(pid, &st, 0), pid);
    /* Its connection ended: the job is back long before the lease's
     * minute is over. */
    WVT_OK(wv_proxy_get(local, &v, wv_deadline_in(20000)));
    WVT_ASSERT(wv_obj_equal(v, x));
    wv_obj_free(v);
    wv_obj_free(x);
    close(ready[0]);
    close(ready[1]);
    wv_proxy_free(local);
    wv_manager_free(m);
}

WVT_TEST(manager_max_wait_caps_what_a_client_may_hold)
{
    wv_manager_opts_t o = server_opts();
    o.max_wait_ms = 100;
    wv_manager_t *m;
    WVT_OK(wv_manager_new(&m, &o));
    WVT_OK(wv_manager_register_queue(m, "q", 1));
    WVT_OK(wv_manager_start(m));
    wv_addr_t a;
    WVT_OK(wv_manager_addr(m, &a));
    wv_manager_t *c = connect_to(wv_addr_port(&a), KEY);
    wv_proxy_t *q = proxy(c, "q");
    wv_obj_t *v = vint(1), *got;
    int64_t t0 = wv_now();
    /* A get that would wait forever is answered queue.Empty at the cap. */
    WVT_ERR(wv_proxy_get(q, &got, WV_FOREVER), WV_ETIMEDOUT);
    WVT_GE(wv_now() - t0, 100);
    WVT_OK(wv_proxy_put(q, v, WV_FOREVER));
    WVT_ERR(wv_proxy_put(q, v, WV_FOREVER), WV_ETIMEDOUT); /* full */
    WVT_ERR(wv_proxy_join(q, WV_FOREVER), WV_EREMOTE);     /* not done */
    WVT_OK(wv_proxy_get(q, &got, WV_FOREVER));
    wv_obj_free(got);
    wv_obj_free(v);
    wv_proxy_free(q);
    wv_manager_free(c);
    wv_manager_free(m);
    o.max_wait_ms = -1;
    WVT_ERR(wv_manager_new(&m, &o), WV_EINVAL);
}

WVT_TEST(manager_remote_shutdown_ends_serve_forever)
{
    uint16_t port;
    wv_manager_t *m = start_master(&port);
    wv_manager_t *c = connect_to(port, KEY);
    WVT_ERR(wv_manager_serve_forever(m, wv_deadline_in(10)), WV_ETIMEDOUT);
    WVT_OK(wv_manager_shutdown(c, wv_deadline_in(5000)));
    WVT_OK(wv_manager_serve_forever(m, wv_deadline_in(10000)));
    wv_manager_free(c);
    /* Nobody listens any more. */
    wv_manager_opts_t o = {
        .host = "127.0.0.1", .port = port, .authkey = KEY, .authkey_len = 3};
    WVT_ERR(wv_manager_connect(&c, &o, wv_deadline_in(5000)), WV_ECONNREFUSED);
    wv_manager_free(m);
}

/* ------------------------------------------------------- coroutines */

struct coro_pair {
    uint16_t port;
    int64_t got;
};

static void *coro_getter(void *arg)
{
    struct coro_pair *cp = arg;
    wv_manager_t *c = connect_to(cp->port, KEY);
    wv_proxy_t *q = proxy(c, "get_task_queue");
    wv_obj_t *v;
    WVT_OK(wv_proxy_get(q, &v, wv_deadline_in(20000)));
    cp->got = get_int(v);
    wv_obj_free(v);
    wv_proxy_free(q);
    wv_manager_free(c);
    return NULL;
}

static void *coro_putter(void *arg)
{
    struct coro_pair *cp = arg;
    wv_manager_t *c = connect_to(cp->port, KEY);
    wv_proxy_t *q = proxy(c, "get_task_queue");
    WVT_OK(wv_sleep_ms(50)); /* let the getter wait first (either order
                                passes; this one is the interesting) */
    wv_obj_t *v = vint(77);
    WVT_OK(wv_proxy_put(q, v, wv_deadline_in(20000)));
    wv_obj_free(v);
    wv_proxy_free(q);
    wv_manager_free(c);
    return NULL;
}

/* Two coroutines of one thread: the one waiting in a remote get parks,
 * so the other, on the same thread, can make the put it waits for. */
WVT_TEST(manager_client_calls_park_only_the_coroutine)
{
    uint16_t port;
    wv_manager_t *m = start_master(&port);
    struct coro_pair cp = {port, 0};
    WVT_OK(wv_go(coro_getter, &cp));
    WVT_OK(wv_go(coro_putter, &cp));
    WVT_OK(wv_coro_run(wv_deadline_in(30000)));
    WVT_EQ(cp.got, 77);
    wv_manager_free(m);
}

/* ---------------------------------------------------------- stress */

#define STRESS_CLIENTS 4

struct stress {
    uint16_t port;
    long per_producer;
    long total;
    long taken;          /* [atomic] items got so far */
    unsigned char *seen; /* [atomic bytes] per item */
};

static void stress_producer(int i, struct stress *st)
{
    wv_manager_t *c = connect_to(st->port, KEY);
    wv_proxy_t *q = proxy(c, "get_task_queue");
    long base = i * st->per_producer;
    for (long k = 0; k < st->per_producer;) {
        wv_obj_t *batch[16];
        size_t n = 0, done;
        while (n < 16 && k + (long)n < st->per_producer) {
            batch[n] = vint(base + k + (long)n);
            n++;
        }
        if (k % 3 == 0) { /* batches and single puts, mixed */
            WVT_OK(
                wv_proxy_put_many(q, batch, n, &done, wv_deadline_in(20000)));
            WVT_EQ(done, n);
        } else {
            for (size_t j = 0; j < n; j++)
                WVT_OK(wv_proxy_put(q, batch[j], wv_deadline_in(20000)));
        }
        for (size_t j = 0; j < n; j++)
            wv_obj_free(batch[j]);
        k += (long)n;
    }
    wv_proxy_free(q);
    wv_manager_free(c);
}

static void stress_consumer(int i, struct stress *st)
{
    wv_manager_t *c = connect_to(st->port, KEY);
    wv_proxy_t *q = proxy(c, "get_task_queue");
    while (__atomic_load_n(&st->taken, __ATOMIC_ACQUIRE) < st->total) {
        wv_obj_t *got[8];
        size_t n = 1;
        int err = i % 2 ? wv_proxy_get_many(q, got, 8, &n, wv_deadline_in(100))
                        : wv_proxy_get(q, &got[0], wv_deadline_in(100));
        if (err == WV_ETIMEDOUT)
            continue;
        WVT_OK(err);
        for (size_t j = 0; j < n; j++) {
            int64_t k = get_int(got[j]);
            WVT_ASSERT(k >= 0 && k < st->total);
            WVT_EQ(__atomic_exchange_n(&st->seen[k], 1, __ATOMIC_ACQ_REL), 0);
            wv_obj_free(got[j]);
        }
        __atomic_add_fetch(&st->taken, (long)n, __ATOMIC_ACQ_REL);
    }
    wv_proxy_free(q);
    wv_manager_free(c);
}

static void stress_party(int i, void *arg)
{
    if (i < STRESS_CLIENTS / 2)
        stress_producer(i, arg);
    else
        stress_consumer(i, arg);
}

/* Two producers and two consumers on connections of their own, a server
 * of two threads: every item is got exactly once. */
WVT_TEST_TIMEOUT(manager_many_clients_each_item_exactly_once, 120)
{
    wv_manager_opts_t o = server_opts();
    o.threads = 2;
    wv_manager_t *m;
    WVT_OK(wv_manager_new(&m, &o));
    WVT_OK(wv_manager_register_queue(m, "get_task_queue", 64));
    WVT_OK(wv_manager_start(m));
    wv_addr_t a;
    WVT_OK(wv_manager_addr(m, &a));
    struct stress st = {.port = wv_addr_port(&a),
                        .per_producer = wvt_scale(500)};
    st.total = st.per_producer * (STRESS_CLIENTS / 2);
    st.seen = calloc((size_t)st.total, 1);
    WVT_ASSERT(st.seen);
    wvt_run_threads(STRESS_CLIENTS, stress_party, &st);
    WVT_EQ(st.taken, st.total);
    for (long k = 0; k < st.total; k++)
        WVT_EQ(st.seen[k], 1);
    free(st.seen);
    wv_manager_free(m);
}

/* Every allocation of the local side failing in turn: WV_ENOMEM, and
 * nothing left behind. */
static int manager_life(void *arg)
{
    (void)arg;
    wv_manager_opts_t o = server_opts();
    wv_manager_t *m;
    wv_proxy_t *p = NULL;
    wv_obj_t *v = NULL, *got = NULL;
    int err = wv_manager_new(&m, &o);
    if (err)
        return err;
    if ((err = wv_manager_register_queue(m, "q", 0)) ||
        (err = wv_manager_register(m, "Calc", "add", add_fn, NULL)) ||
        (err = wv_manager_proxy(m, "q", &p, 0)) ||
        (err = wv_obj_new_int(&v, 5)) || (err = wv_proxy_put(p, v, 0)) ||
        (err = wv_proxy_get(p, &got, 0)))
        goto out;
    if (!wv_obj_equal(got, v))
        err = WV_EPROTO;
out:
    wv_obj_free(got);
    wv_obj_free(v);
    wv_proxy_free(p);
    wv_manager_free(m);
    return err;
}

WVT_TEST(manager_local_side_survives_every_failed_allocation)
{
    WVT_GT(wvt_faultsim(manager_life, NULL), 5);
}

/* ------------------------------------------------------------ TLS */

/* A self-signed certificate for localhost in a new temporary directory
 * (the openssl command); false (and a message) without it. */
static bool make_cert(char *dir, char *cert, char *key)
{
    if (system("openssl version >/dev/null 2>&1") != 0) {
        printf("no openssl command: skipped\n");
        return false;
    }
    WVT_ASSERT(mkdtemp(dir));
    snprintf(cert, 256, "%s/cert.pem", dir);
    snprintf(key, 256, "%s/key.pem", dir);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt "
             "ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost "
             "-addext subjectAltName=DNS:localhost -keyout %s -out %s "
             ">/dev/null 2>&1",
             key, cert);
    WVT_EQ(system(cmd), 0);
    return true;
}

WVT_TEST_TIMEOUT(manager_over_tls, 60)
{
    char dir[] = "/tmp/wvt-mgr-tls-XXXXXX", cert[256], key[256];
    if (!make_cert(dir, cert, key))
        return;
    wv_tls_ctx_opts_t so = {.server = true, .cert_file = cert, .key_file = key};
    wv_tls_ctx_opts_t co = {.ca_file = cert};
    wv_tls_ctx_t *sctx, *cctx, *other;
    WVT_OK(wv_tls_ctx_new(&sctx, &so));
    WVT_OK(wv_tls_ctx_new(&cctx, &co));
    WVT_OK(wv_tls_ctx_new(&other, NULL)); /* the system's trust store */
    wv_manager_opts_t o = server_opts();
    o.tls = sctx;
    o.handshake_ms = 500; /* the plain client below waits for it */
    wv_manager_t *m;
    WVT_OK(wv_manager_new(&m, &o));
    WVT_OK(wv_manager_register_queue(m, "q", 0));
    WVT_OK(wv_manager_start(m));
    wv_addr_t a;
    WVT_OK(wv_manager_addr(m, &a));
    wv_manager_opts_t c = {.host = "127.0.0.1",
                           .port = wv_addr_port(&a),
                           .authkey = KEY,
                           .authkey_len = 3,
                           .tls = cctx,
                           .tls_server_name = "localhost"};
    wv_manager_t *client;
    WVT_OK(wv_manager_connect(&client, &c, wv_deadline_in(10000)));
    wv_proxy_t *q = proxy(client, "q");
    wv_obj_t *v = vstr("secret"), *got;
    WVT_OK(wv_proxy_put(q, v, wv_deadline_in(5000)));
    WVT_OK(wv_proxy_get(q, &got, wv_deadline_in(5000)));
    WVT_ASSERT(wv_obj_equal(got, v));
    wv_obj_free(got);
    wv_obj_free(v);
    wv_proxy_free(q);
    wv_manager_free(client);
    /* A server we cannot verify, and a client without TLS: refused. */
    c.tls = other;
    WVT_ERR(wv_manager_connect(&client, &c, wv_deadline_in(10000)), WV_ECERT);
    c.tls = NULL;
    int err = wv_manager_connect(&client, &c, wv_deadline_in(10000));
    WVT_ASSERT(err == WV_EPROTO || err == WV_ECONNRESET || err == WV_EOF ||
               err == WV_EPIPE);
    wv_manager_free(m);
    wv_tls_ctx_free(sctx);
    wv_tls_ctx_free(cctx);
    wv_tls_ctx_free(other);
    unlink(cert);
    unlink(key);
    rmdir(dir);
}

/* ---------------------------------------------------- hostile peers */

static int raw_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    WVT_OK(connect(fd, (struct sockaddr *)&sa, sizeof sa));
    return fd;
}

/* Reads until the server closes; the bytes read. */
static size_t drain_until_closed(int fd)
{
    char buf[4096];
    size_t total = 0;
    ssize_t n;
    struct timeval tv = {20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while ((n = read(fd, buf, sizeof buf)) > 0)
        total += (size_t)n;
    WVT_EQ(n, 0); /* closed, not timed out */
    return total;
}

WVT_TEST(manager_hostile_peers_are_dropped_and_it_serves_on)
{
    wv_manager_opts_t o = server_opts();
    o.handshake_ms = 300;
    wv_manager_t *m;
    WVT_OK(wv_manager_new(&m, &o));
    WVT_OK(wv_manager_register_queue(m, "q", 0));
    WVT_OK(wv_manager_start(m));
    wv_addr_t a;
    WVT_OK(wv_manager_addr(m, &a));
    uint16_t port = wv_addr_port(&a);
    /* Silent: dropped at the handshake's deadline, after the challenge. */
    int fd = raw_connect(port);
    size_t got = drain_until_closed(fd);
    WVT_EQ(got, 4 + 11 + 48);
    close(fd);
    /* An oversized answer: closed without a verdict. */
    fd = raw_connect(port);
    WVT_EQ(write(fd, "\x00\x00\x10\x00", 4), 4);
    got = drain_until_closed(fd);
    WVT_EQ(got, 4 + 11 + 48);
    close(fd);
    /* Garbage answer: #FAILURE#, and nothing after it (no traceback). */
    fd = raw_connect(port);
    WVT_EQ(write(fd, "\x00\x00\x00\x10xxxxxxxxxxxxxxxx", 20), 20);
    got = drain_until_closed(fd);
    WVT_EQ(got, 4 + 11 + 48 + 4 + 9);
    close(fd);
    /* It still serves. */
    wv_manager_t *c = connect_to(port, KEY);
    wv_proxy_t *q = proxy(c, "q");
    wv_obj_t *v = vint(1), *back;
    WVT_OK(wv_proxy_put(q, v, wv_deadline_in(5000)));
    WVT_OK(wv_proxy_get(q, &back, wv_deadline_in(5000)));
    wv_obj_free(back);
    wv_obj_free(v);
    wv_proxy_free(q);
    wv_manager_free(c);
    wv_manager_free(m);
}

/* A raw, authenticated connection to a manager, for hostile requests. */
static wv_stream_t *raw_manager_conn(uint16_t port)
{
    wv_stream_t *s;
    WVT_OK(wv_stream_new(&s, NULL, raw_connect(port)));
    wv__mgr_auth_t auth = {KEY, 3, false};
    WVT_OK(wv__mgr_auth_client(s, &auth, wv_deadline_in(5000)));
    return s;
}

/* Appends a SHORT_BINUNICODE of text at p; the bytes written. */
static size_t put_str(unsigned char *p, const char *text)
{
    size_t n = strlen(text);
    p[0] = 0x8c;
    p[1] = (unsigned char)n;
    memcpy(p + 2, text, n);
    return n + 2;
}

/* The pickle of os.system('touch PATH') called: STACK_GLOBAL, REDUCE. */
static size_t put_os_system(unsigned char *p, const char *path)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "touch %s", path);
    size_t n = put_str(p, "os");
    n += put_str(p + n, "system");
    p[n++] = 0x93; /* STACK_GLOBAL */
    n += put_str(p + n, cmd);
    p[n++] = 0x85; /* TUPLE1 */
    p[n++] = 0x52; /* REDUCE */
    return n;
}

/* (ident or None, method, (x,), {}) with x = os.system(...). */
static size_t hostile_request(unsigned char *p, const char *ident,
                              const char *method, const char *path)
{
    size_t n = 0;
    p[n++] = 0x80, p[n++] = 4, p[n++] = 0x28; /* PROTO 4, MARK */
    if (ident)
        n += put_str(p + n, ident);
    else
        p[n++] = 0x4e; /* NONE */
    n += put_str(p + n, method);
    n += put_os_system(p + n, path);
    p[n++] = 0x85; /* TUPLE1: the args */
    p[n++] = 0x7d; /* EMPTY_DICT */
    p[n++] = 0x74; /* TUPLE */
    p[n++] = 0x2e; /* STOP */
    return n;
}

static enum mgr_reply raw_reply(wv_stream_t *s, wv_obj_t **value)
{
    char *buf;
    size_t len;
    enum mgr_reply kind;
    WVT_OK(wv__mgr_recv_frame(s, 1 << 20, &buf, &len, wv_deadline_in(5000)));
    WVT_OK(wv__mgr_decode_reply(buf, len, NULL, &kind, value));
    free(buf);
    return kind;
}

WVT_TEST(manager_hostile_requests_after_auth_run_nothing)
{
    uint16_t port;
    wv_manager_t *m = start_master(&port);
    char dir[] = "/tmp/wvt-mgr-XXXXXX", path[256];
    WVT_ASSERT(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/ran", dir);
    unsigned char req[512];
    wv_obj_t *v;
    /* os.system(...) as create's typeid: an error reply, nothing run. */
    wv_stream_t *s = raw_manager_conn(port);
    size_t n = hostile_request(req, NULL, "create", path);
    WVT_OK(wv__mgr_send_frame(s, req, n, wv_deadline_in(5000)));
    WVT_EQ(raw_reply(s, &v), MGR_TRACEBACK);
    wv_obj_free(v);
    wv_stream_free(s);
    /* Put as an item: stored as data, handed out as data. */
    wv_proxy_t *local = proxy(m, "get_task_queue");
    s = raw_manager_conn(port);
    wv_obj_t *name = vstr("MainProcess"), *args;
    WVT_OK(wv_obj_new_tuple(&args, 1));
    WVT_OK(wv_obj_append(args, name));
    char *buf;
    size_t len;
    /* The encoding leaves 4 bytes for the frame's length first. */
    WVT_OK(wv__mgr_encode_request(NULL, "accept_connection", args, NULL, NULL,
                                  &buf, &len));
    wv_obj_free(args);
    WVT_OK(wv__mgr_send_frame(s, buf + 4, len - 4, wv_deadline_in(5000)));
    wv_free(buf);
    WVT_EQ(raw_reply(s, &v), MGR_RETURN);
    wv_obj_free(v);
    n = hostile_request(req, wv_proxy_ident(local), "put", path);
    WVT_OK(wv__mgr_send_frame(s, req, n, wv_deadline_in(5000)));
    WVT_EQ(raw_reply(s, &v), MGR_RETURN);
    wv_obj_free(v);
    WVT_OK(wv_proxy_get(local, &v, 0));
    WVT_ASSERT(wv_obj_is_global(v, "os", "system"));
    WVT_EQ(v->kind, WV_OBJ_INSTANCE);
    wv_obj_free(v);
    /* A frame of 2^40 bytes announced: the connection ends, unread. */
    WVT_OK(wv_stream_write(s,
                           "\xff\xff\xff\xff\x00\x00\x01\x00\x00\x00\x00\x00",
                           12, NULL, wv_deadline_in(5000)));
    WVT_OK(wv_stream_drain(s, wv_deadline_in(5000)));
    WVT_ERR(wv__mgr_recv_frame(s, 1 << 20, &buf, &len, wv_deadline_in(5000)),
            WV_EOF);
    wv_stream_free(s);
    /* A truncated pickle ends its connection too. */
    s = raw_manager_conn(port);
    WVT_OK(wv__mgr_send_frame(s, req, n - 3, wv_deadline_in(5000)));
    WVT_ERR(wv__mgr_recv_frame(s, 1 << 20, &buf, &len, wv_deadline_in(5000)),
            WV_EOF);
    wv_stream_free(s);
    /* Nothing ran, and it serves on. */
    WVT_ASSERT(access(path, F_OK) != 0);
    rmdir(dir);
    wv_manager_t *c = connect_to(port, KEY);
    wv_proxy_t *q = proxy(c, "get_task_queue");
    WVT_OK(wv_proxy_qsize(q, &n, wv_deadline_in(5000)));
    WVT_EQ(n, 0);
    wv_proxy_free(q);
    wv_manager_free(c);
    wv_proxy_free(local);
    wv_manager_free(m);
}

struct local_get {
    wv_proxy_t *p;
    wv_obj_t *got;
    int err;
};

static void local_getter(void *arg)
{
    struct local_get *lg = arg;
    lg->err = wv_proxy_get(lg->p, &lg->got, wv_deadline_in(10000));
}

/* A client killed while its get waits: the item put afterwards is handed
 * back to the queue, not written into the dead connection. */
/* true once a connection to the server's port, on its side, is in
 * CLOSE_WAIT (/proc/net/tcp, state 08): the server's socket has taken its
 * peer's FIN, so the server can see that the client left.  (On a loaded
 * machine the FIN of a killed process can be processed well after its
 * death.) */
static bool server_saw_close(uint16_t port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    char line[256];
    bool seen = false;
    if (!f)
        return false;
    while (!seen && fgets(line, sizeof line, f)) {
        unsigned lport, state;
        if (sscanf(line, " %*d: %*8x:%4x %*8x:%*4x %2x", &lport, &state) == 2)
            seen = lport == port && state == 0x08;
    }
    fclose(f);
    return seen;
}

WVT_TEST(manager_client_gone_mid_get_loses_no_task)
{
    uint16_t port;
    wv_manager_t *m = start_master(&port);
    wv_proxy_t *local = proxy(m, "get_task_queue");
    int ready[2];
    WVT_OK(pipe(ready));
    pid_t pid = fork();
    WVT_ASSERT(pid >= 0);
    if (pid == 0) { /* sends get(timeout=60) and dies waiting */
        wv_stream_t *s = raw_manager_conn(port);
        wv_obj_t *name = vstr("MainProcess"), *args, *t, *kw, *v;
        char *buf;
        size_t len;
        WVT_OK(wv_obj_new_tuple(&args, 1));
        WVT_OK(wv_obj_append(args, name));
        WVT_OK(wv__mgr_encode_request(NULL, "accept_connection", args, NULL,
                                      NULL, &buf, &len));
        WVT_OK(wv__mgr_send_frame(s, buf + 4, len - 4, wv_deadline_in(5000)));
        WVT_EQ(raw_reply(s, &v), MGR_RETURN);
        WVT_OK(wv_obj_new_dict(&kw, 1));
        WVT_OK(wv_obj_dict_set(kw, vstr("timeout"), vint(60)));
        t = vstr(wv_proxy_ident(local));
        WVT_OK(wv__mgr_encode_request(t, "get", NULL, kw, NULL, &buf, &len));
        WVT_OK(wv__mgr_send_frame(s, buf + 4, len - 4, wv_deadline_in(5000)));
        if (write(ready[1], "x", 1) != 1)
            _exit(2);
        pause();
        _exit(3);
    }
    char b;
    WVT_EQ(read(ready[0], &b, 1), 1);
    /* The server's get waits (the interleaving this case is about). */
    WVT_POLL(wv__queue_parked(local->obj->queue) == 1, 10000);
    kill(pid, SIGKILL);
    int st;
    WVT_EQ(waitpid(pid, &st, 0), pid);
    /* The hand-back needs the server to see the client gone when its get
     * returns; the window before that is the one only leases close. */
    WVT_POLL(server_saw_close(port), 10000);
    /* A second getter waits behind it: the put goes to the server's get
     * (conditions wake in order), which finds its client gone and puts
     * the item back, for this one. */
    struct local_get lg = {local, NULL, 0};
    wvt_thread_t *th = wvt_spawn(local_getter, &lg);
    WVT_POLL(wv__queue_parked(local->obj->queue) == 2, 10000);
    wv_obj_t *x = vint(42);
    WVT_OK(wv_proxy_put(local, x, 0));
    wvt_join(th);
    WVT_OK(lg.err);
    WVT_ASSERT(wv_obj_equal(lg.got, x));
    wv_obj_free(lg.got);
    wv_obj_free(x);
    WVT_OK(wv_proxy_task_done(local, 0));
    /* The hand-back counted right: join returns once the server thread's
     * task_done for the failed hand-out is in (it may come just after
     * the getter woke). */
    WVT_OK(wv_proxy_join(local, wv_deadline_in(10000)));
    close(ready[0]);
    close(ready[1]);
    wv_proxy_free(local);
    wv_manager_free(m);
}

/* ------------------------------------------------------------ CPython */

/* python3 and pyenv's 3.8 to 3.13 where present. */
static int find_pythons(char paths[][256], int cap)
{
    int n = 0;
    if (system("python3 -c 'import multiprocessing' >/dev/null 2>&1") == 0)
        snprintf(paths[n++], 256, "python3");
    const char *home = getenv("HOME");
    for (int minor = 8; minor <= 13 && home && n < cap; minor++) {
        char pat[256];
        glob_t g;
        snprintf(pat, sizeof pat, "%s/.pyenv/versions/3.%d.*/bin/python3.%d",
                 home, minor, minor);
        if (glob(pat, 0, NULL, &g) == 0 && g.gl_pathc > 0)
            snprintf(paths[n++], 256, "%s", g.gl_pathv[0]);
        globfree(&g);
    }
    if (n == 0)
        printf("no python3: skipped\n");
    return n;
}

/* Runs python with the script and two arguments; its output in *out
 * (freed by the caller) and its exit code. */
static int run_python(const char *python, const char *script, const char *a1,
                      const char *a2, char **out)
{
    const char *argv[] = {python, "-c", script, a1, a2, NULL};
    wv_popen_opts_t o = {.argv = argv};
    o.out.how = WV_STDIO_PIPE;
    o.err.how = WV_STDIO_STDOUT;
    wv_completed_t res;
    WVT_OK(wv_subprocess_run(&o, NULL, 0, false, &res, wv_deadline_in(60000)));
    *out = strdup(res.out ? res.out : "");
    int code = res.returncode;
    wv_completed_free(&res);
    return code;
}

struct pyrun {
    const char *python, *script, *a1, *a2;
    char *out;
    int code;
};

static void pyrun_thread(void *arg)
{
    struct pyrun *r = arg;
    r->code = run_python(r->python, r->script, r->a1, r->a2, &r->out);
}

static const char py_worker[] =
    "import sys, queue\n"
    "from multiprocessing.managers import BaseManager\n"
    "class QueueManager(BaseManager): pass\n"
    "QueueManager.register('get_task_queue')\n"
    "QueueManager.register('get_result_queue')\n"
    "m = QueueManager(address=('127.0.0.1', int(sys.argv[1])), "
    "authkey=b'abc')\n"
    "m.connect()\n"
    "task = m.get_task_queue()\n"
    "result = m.get_result_queue()\n"
    "for i in range(int(sys.argv[2])):\n"
    "    n = task.get(timeout=10)\n"
    "    result.put('%d * %d = %d' % (n, n, n * n))\n"
    "try:\n"
    "    task.get(timeout=0.2)\n"
    "    sys.exit(4)\n"
    "except queue.Empty:\n"
    "    print('worker exit.', flush=True)\n";

/* weave as master, a CPython worker (the tutorial's pattern). */
WVT_TEST_TIMEOUT(manager_python_worker_against_weave_master, 240)
{
    char pythons[8][256];
    int np = find_pythons(pythons, 8);
    for (int i = 0; i < np; i++) {
        uint16_t port;
        wv_manager_t *m = start_master(&port);
        wv_proxy_t *task = proxy(m, "get_task_queue");
        wv_proxy_t *result = proxy(m, "get_result_queue");
        for (int k = 0; k < 10; k++) {
            wv_obj_t *n = vint(k * 1001);
            WVT_OK(wv_proxy_put(task, n, 0));
            wv_obj_free(n);
        }
        char port_s[16];
        snprintf(port_s, sizeof port_s, "%u", port);
        struct pyrun r = {pythons[i], py_worker, port_s, "10", NULL, 0};
        wvt_thread_t *th = wvt_spawn(pyrun_thread, &r);
        for (int k = 0; k < 10; k++) {
            wv_obj_t *v;
            WVT_OK(wv_proxy_get(result, &v, wv_deadline_in(30000)));
            char want[64];
            snprintf(want, sizeof want, "%d * %d = %lld", k * 1001, k * 1001,
                     (long long)k * 1001 * k * 1001);
            WVT_EQ(v->kind, WV_OBJ_STR);
            if (strcmp(v->u.s.data, want) != 0)
                WVT_FAIL("%s: got '%s', want '%s'", pythons[i], v->u.s.data,
                         want);
            wv_obj_free(v);
        }
        wvt_join(th);
        if (r.code != 0 || !strstr(r.out, "worker exit."))
            WVT_FAIL("%s exited %d: %s", pythons[i], r.code, r.out);
        printf("%s: worker ok\n", pythons[i]);
        free(r.out);
        wv_proxy_free(task);
        wv_proxy_free(result);
        wv_manager_free(m);
    }
}

static const char py_calc[] =
    "import sys\n"
    "from multiprocessing.managers import BaseManager, RemoteError\n"
    "class M(BaseManager): pass\n"
    "M.register('Calc')\n"
    "M.register('get_task_queue')\n"
    "m = M(address=('127.0.0.1', int(sys.argv[1])), authkey=b'abc')\n"
    "m.connect()\n"
    "calc = m.Calc()\n"
    "print('add', calc.add(40, 2))\n"
    "try:\n"
    "    calc.add(1, 'x')\n"
    "except TypeError as e:\n"
    "    print('TypeError', e.args[0])\n"
    "try:\n"
    "    calc.fail()\n"
    "except RuntimeError as e:\n"
    "    print('RuntimeError', e.args[0].split(':')[0])\n"
    "try:\n"
    "    m.get_task_queue()\n"
    "except RemoteError:\n"
    "    print('no such typeid')\n";

WVT_TEST_TIMEOUT(manager_python_client_calls_weave_functions, 240)
{
    char pythons[8][256];
    int np = find_pythons(pythons, 8);
    uint16_t port;
    wv_manager_t *m = start_calc(&port);
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%u", port);
    for (int i = 0; i < np; i++) {
        char *out;
        int code = run_python(pythons[i], py_calc, port_s, "", &out);
        if (code != 0 || !strstr(out, "add 42\n") ||
            !strstr(out, "TypeError add takes two ints\n") ||
            !strstr(out, "RuntimeError WV_EPERM\n") ||
            !strstr(out, "no such typeid\n"))
            WVT_FAIL("%s exited %d: %s", pythons[i], code, out);
        printf("%s: rpc ok\n", pythons[i]);
        free(out);
    }
    wv_manager_free(m);
}

static const char py_master[] =
    "import sys, queue\n"
    "from multiprocessing.managers import BaseManager\n"
    "task_queue = queue.Queue()\n"
    "result_queue = queue.Queue()\n"
    "class QueueManager(BaseManager): pass\n"
    "QueueManager.register('get_task_queue', callable=lambda: task_queue)\n"
    "QueueManager.register('get_result_queue', "
    "callable=lambda: result_queue)\n"
    "if __name__ == '__main__':\n"
    "    m = QueueManager(address=('127.0.0.1', 0), authkey=b'abc')\n"
    "    m.start()\n"
    "    print('READY', m.address[1], flush=True)\n"
    "    task = m.get_task_queue()\n"
    "    result = m.get_result_queue()\n"
    "    for n in range(0, 10000, 997):\n"
    "        task.put(n)\n"
    "    for i in range(11):\n"
    "        print('Result:', result.get(timeout=30), flush=True)\n"
    "    m.shutdown()\n"
    "    print('master exit.', flush=True)\n";

/* weave as a worker of a CPython master (its server process). */
WVT_TEST_TIMEOUT(manager_weave_worker_against_python_master, 240)
{
    char pythons[8][256];
    int np = find_pythons(pythons, 8);
    for (int i = 0; i < np; i++) {
        const char *argv[] = {pythons[i], "-c", py_master, NULL};
        wv_popen_opts_t o = {.argv = argv};
        o.out.how = WV_STDIO_PIPE;
        wv_popen_t *pp;
        WVT_OK(wv_popen_new(&pp, &o));
        wv_stream_t *out;
        wv_stream_opts_t bo = {.borrow_fd = true};
        WVT_OK(wv_stream_new(&out, &bo, wv_popen_fd(pp, WV_STDOUT)));
        char line[64];
        size_t n;
        WVT_OK(wv_stream_readline(out, line, sizeof line - 1, &n,
                                  wv_deadline_in(30000)));
        wv_stream_free(out);
        line[n] = '\0';
        WVT_ASSERT(strncmp(line, "READY ", 6) == 0);
        wv_manager_t *c = connect_to((uint16_t)atoi(line + 6), KEY);
        wv_proxy_t *task = proxy(c, "get_task_queue");
        wv_proxy_t *result = proxy(c, "get_result_queue");
        wv_obj_t *v[4];
        size_t got, put;
        int done = 0;
        uint64_t lease;
        /* CPython's queues have no leases; batches fall back to one
         * call per item. */
        WVT_ERR(
            wv_proxy_get_leased(task, v, &lease, 1000, wv_deadline_in(5000)),
            WV_ENOTSUP);
        WVT_ERR(wv_proxy_renew(task, 1, 1000, wv_deadline_in(5000)),
                WV_ENOTSUP);
        while (wv_proxy_get_many(task, v, 4, &got, wv_deadline_in(1000)) == 0) {
            WVT_EQ(got, 1);
            int64_t k = get_int(v[0]);
            char text[64];
            snprintf(text, sizeof text, "%lld * %lld = %lld", (long long)k,
                     (long long)k, (long long)(k * k));
            wv_obj_t *r = vstr(text);
            WVT_OK(
                wv_proxy_put_many(result, &r, 1, &put, wv_deadline_in(5000)));
            WVT_EQ(put, 1);
            wv_obj_free(r);
            wv_obj_free(v[0]);
            done++;
        }
        WVT_EQ(done, 11);
        wv_proxy_free(task);
        wv_proxy_free(result);
        wv_manager_free(c);
        wv_bytes_t text;
        WVT_OK(wv_popen_communicate(pp, NULL, 0, &text, NULL,
                                    wv_deadline_in(30000)));
        int code;
        WVT_OK(wv_popen_wait(pp, &code, wv_deadline_in(10000)));
        if (code != 0 || !strstr(text.data, "Result: 9970 * 9970 = 99400900") ||
            !strstr(text.data, "master exit."))
            WVT_FAIL("%s exited %d: %s", pythons[i], code, text.data);
        printf("%s: master ok\n", pythons[i]);
        wv_popen_free(pp);
    }
}

static const char py_calc_server[] =
    "import sys\n"
    "from multiprocessing.managers import BaseManager\n"
    "class Calc:\n"
    "    def add(self, a, b): return a + b\n"
    "    def div(self, a, b): return a // b\n"
    "class M(BaseManager): pass\n"
    "M.register('Calc', Calc)\n"
    "if __name__ == '__main__':\n"
    "    m = M(address=('127.0.0.1', 0), authkey=b'abc')\n"
    "    m.start()\n"
    "    print(m.address[1], flush=True)\n"
    "    sys.stdin.read()\n"
    "    m.shutdown()\n";

/* A weave client calls functions of a CPython manager; a wrong key is
 * refused by it. */
WVT_TEST_TIMEOUT(manager_weave_client_calls_python_functions, 240)
{
    char pythons[8][256];
    int np = find_pythons(pythons, 8);
    for (int i = 0; i < np; i++) {
        const char *argv[] = {pythons[i], "-c", py_calc_server, NULL};
        wv_popen_opts_t o = {.argv = argv};
        o.in.how = WV_STDIO_PIPE;
        o.out.how = WV_STDIO_PIPE;
        o.err.how = WV_STDIO_DEVNULL; /* its traceback of the wrong key */
        wv_popen_t *pp;
        WVT_OK(wv_popen_new(&pp, &o));
        char line[32];
        size_t n = 0, got;
        while (n + 1 < sizeof line) {
            WVT_OK(wv_popen_read(pp, WV_STDOUT, line + n, 1, &got,
                                 wv_deadline_in(30000)));
            if (line[n] == '\n')
                break;
            n += got;
        }
        line[n] = '\0';
        uint16_t port = (uint16_t)atoi(line);
        wv_manager_opts_t bad = {.host = "127.0.0.1",
                                 .port = port,
                                 .authkey = "abd",
                                 .authkey_len = 3};
        wv_manager_t *c;
        WVT_ERR(wv_manager_connect(&c, &bad, wv_deadline_in(10000)), WV_EAUTH);
        c = connect_to(port, KEY);
        wv_proxy_t *calc = proxy(c, "Calc");
        wv_obj_t *args = vtuple2(vint(40), vint(2)), *r;
        WVT_OK(
            wv_proxy_call(calc, "add", args, NULL, &r, wv_deadline_in(10000)));
        WVT_EQ(get_int(r), 42);
        wv_obj_free(r);
        wv_obj_free(args);
        args = vtuple2(vint(1), vint(0));
        WVT_ERR(
            wv_proxy_call(calc, "div", args, NULL, &r, wv_deadline_in(10000)),
            WV_EREMOTE);
        WVT_ASSERT(wv_obj_is_global(r, "builtins", "ZeroDivisionError"));
        wv_obj_free(r);
        wv_obj_free(args);
        WVT_ERR(wv_manager_proxy(c, "Nothing", &calc, wv_deadline_in(10000)),
                WV_ENOENT);
        wv_proxy_free(calc);
        wv_manager_free(c);
        wv_popen_close_stdin(pp);
        int code;
        WVT_OK(wv_popen_wait(pp, &code, wv_deadline_in(30000)));
        WVT_EQ(code, 0);
        wv_popen_free(pp);
        printf("%s: its functions called, a wrong key refused\n", pythons[i]);
    }
}

static const char py_wrong_key[] =
    "import sys\n"
    "from multiprocessing import AuthenticationError\n"
    "from multiprocessing.managers import BaseManager\n"
    "class M(BaseManager): pass\n"
    "m = M(address=('127.0.0.1', int(sys.argv[1])), authkey=b'abd')\n"
    "try:\n"
    "    m.connect()\n"
    "except AuthenticationError as e:\n"
    "    print('AuthenticationError', e)\n"
    "    sys.exit(0)\n"
    "sys.exit(5)\n";

/* A CPython client with a wrong key: refused, both sides say so. */
WVT_TEST_TIMEOUT(manager_python_wrong_key_is_refused, 240)
{
    char pythons[8][256];
    int np = find_pythons(pythons, 8);
    uint16_t port;
    wv_manager_t *m = start_master(&port);
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%u", port);
    for (int i = 0; i < np; i++) {
        char *out;
        int code = run_python(pythons[i], py_wrong_key, port_s, "", &out);
        if (code != 0 || !strstr(out, "AuthenticationError"))
            WVT_FAIL("%s exited %d: %s", pythons[i], code, out);
        free(out);
        WVT_POLL(wv_manager_refused(m) == (uint64_t)i + 1, 10000);
    }
    wv_manager_free(m);
}

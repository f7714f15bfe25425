/*
 * weave/manager.h - distributed objects: a manager that serves named
 * queues and functions over TCP, guarded by an authkey, to weave and
 * CPython clients alike, and the client side that uses them from another
 * process or machine (Python's multiprocessing.managers.BaseManager).
 *
 * The master of the tutorials' "distributed processes":
 *
 *     wv_manager_opts_t o = {.host = "0.0.0.0", .port = 5000,
 *                            .authkey = "abc", .authkey_len = 3};
 *     wv_manager_t *m;
 *     wv_manager_new(&m, &o);
 *     wv_manager_register_queue(m, "get_task_queue", 0);
 *     wv_manager_register_queue(m, "get_result_queue", 0);
 *     wv_manager_start(m);                       // serves on its threads
 *     wv_proxy_t *task, *result;
 *     wv_manager_proxy(m, "get_task_queue", &task, WV_FOREVER);
 *     wv_manager_proxy(m, "get_result_queue", &result, WV_FOREVER);
 *     wv_proxy_put(task, n, WV_FOREVER);         // n: a wv_obj_t
 *     wv_proxy_get(result, &r, wv_deadline_in(10000));
 *
 * and a worker elsewhere does the same with wv_manager_connect instead of
 * new/register/start: its proxies reach the master's queues over the
 * network.  A worker may be CPython's task_worker.py, and a weave worker
 * may serve CPython's task_master.py: the wire is CPython's
 * (MANAGER-PROTOCOL.md in the sources), 3.8 to 3.13.
 *
 * Safety.  Both sides prove the authkey with CPython's HMAC challenge
 * before anything else.  What travels is pickles, which CPython runs;
 * weave decodes them into inert values (weave/obj.h) and never imports,
 * calls or executes anything a peer sends, whatever it knows.  A peer
 * that is not authenticated gets a deadline, a 256-byte frame limit and a
 * cap on how many such peers wait at once; an authenticated one a frame
 * limit and the decoder's limits.  The handshake binds nothing to the
 * connection and the frames are cleartext, as Python's are: across an
 * untrusted network give the manager a TLS context.
 *
 * Waiting: every call that talks to the network or waits on a queue takes
 * a deadline (weave/core.h) and waits as weave's calls do: a thread
 * blocks, a coroutine parks.
 *
 * Values: items, arguments and results are wv_obj_t trees.  A call that
 * sends a value borrows it (the caller keeps its reference); a call that
 * hands one out gives the caller a reference to free with wv_obj_free.
 *
 * Redis (docs/redis.md).  A client whose opts.url is "redis://..." or
 * "rediss://..." reaches a Redis server (6.2 or later) instead of a
 * manager: its queues are Redis streams, "<redis_prefix>:<typeid>", that
 * any number of masters and workers share and that survive a restart of
 * either side (and of Redis, with its AOF on).  The same calls, with
 * these differences, said again at each call below:
 *  - each proxy has a connection of its own, made again after it breaks
 *    (back-off from 20 ms to 1 s, within the call's deadline); a call
 *    whose deadline passes while Redis cannot be reached returns the
 *    connection's error (WV_ECONNREFUSED...), not WV_ETIMEDOUT;
 *  - a put whose request went out and whose reply was lost with the
 *    connection returns WV_EINDOUBT: the item may or may not be queued;
 *    gets lose nothing to a broken connection (docs/redis.md);
 *  - a lease expires when another taker finds it idle for its own
 *    lease_ms (takers of one queue should use one lease_ms); a lease id
 *    names the stream entry; wv_proxy_renew makes it idle no more (its
 *    lease_ms is then the takers', not the argument);
 *  - queues are unbounded; task_done, join, wv_proxy_call and
 *    wv_manager_shutdown answer WV_ENOTSUP;
 *  - an entry that is no pickled item (another program's) is dropped and
 *    reported, once, as WV_EPROTO by the get that meets it.
 * Built without hiredis, a redis:// url answers WV_ENOSYS.
 */
#ifndef WEAVE_MANAGER_H
#define WEAVE_MANAGER_H

#include "weave/core.h"
#include "weave/net.h"
#include "weave/obj.h"
#include "weave/tls.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wv_manager wv_manager_t;
typedef struct wv_proxy wv_proxy_t;

typedef struct wv_manager_opts {
    /* Where to listen (server) or whom to reach (client): a host name or
     * address and a port (a server's port 0 picks a free one: see
     * wv_manager_addr), or a Unix socket path in unix_path instead.
     * A server's host NULL is "127.0.0.1"; "0.0.0.0" or "::" listens on
     * every address, as BaseManager(address=('', port)). */
    const char *host;
    uint16_t port;
    const char *unix_path;
    /* The authkey (required, 1 to 256 bytes; Python's authkey=b'abc'),
     * copied. */
    const void *authkey;
    size_t authkey_len;
    /* Refuse CPython's legacy HMAC-MD5 answer (<= 3.11 peers), both
     * ways: only for deployments without such peers. */
    bool strict_auth;
    /* A TLS context (weave/tls.h): a server context for a server, a
     * client one for a client; NULL (the default, as Python's) is plain
     * TCP.  Borrowed: it must outlive the manager. */
    wv_tls_ctx_t *tls;
    /* A client's TLS server name (NULL: host). */
    const char *tls_server_name;
    /* Server: its threads, each serving many connections with a
     * coroutine per connection (0: 1). */
    unsigned threads;
    /* Server: connections at once (0: 1024), and of those, how many may
     * still be authenticating (0: 64; beyond it new ones are closed at
     * once), each within handshake_ms (0: 5000). */
    size_t max_connections;
    size_t max_unauthenticated;
    int64_t handshake_ms;
    /* The largest frame taken from an authenticated peer (0: 64 MiB);
     * a larger one ends the connection (WV_EMSGSIZE). */
    size_t max_frame;
    /* Limits of the pickle decoder (zero: weave/obj.h's defaults). */
    wv_pickle_limits_t limits;
    /* Server: ignore a client's "shutdown" request (CPython honours it
     * from any authenticated client). */
    bool refuse_remote_shutdown;
    /* Server: the longest a client's call may wait on the server (a get
     * without a timeout, a join); past it a get answers queue.Empty, a
     * put queue.Full, a join an error.  0: as long as the client asks,
     * as Python's server. */
    int64_t max_wait_ms;
    /* Client: a Redis server instead of a manager (docs/redis.md):
     * "redis://[[user]:password@]host[:port][/db]" (port 6379, db 0 by
     * default; %XX escapes in user and password), or "rediss://..." for
     * TLS (with the client context in tls, or the system's trust store
     * when tls is NULL; the name checked is tls_server_name or host).
     * Each queue is a Redis stream "<redis_prefix>:<typeid>" read by one
     * consumer group, "weave"; host, port, unix_path and authkey are then
     * unused.  Copied.  A library built without hiredis answers
     * WV_ENOSYS.  A server (wv_manager_new) takes no url: WV_EINVAL. */
    const char *url;
    /* The streams' key prefix (NULL: "weave"), copied. */
    const char *redis_prefix;
} wv_manager_opts_t;

/* ------------------------------------------------------------- server */

/*
 * Makes a manager that will serve (BaseManager(address, authkey)):
 * register its objects, then wv_manager_start or serve_forever.  The
 * options are copied.  Errors: WV_EINVAL (out or opts NULL, no authkey or
 * one over 256 bytes, both host/port and unix_path, a url: Redis is the
 * server then), WV_ENOMEM.
 */
WV_EXTERN int wv_manager_new(wv_manager_t **out, const wv_manager_opts_t *opts);

/*
 * Registers a queue.Queue under typeid (BaseManager.register(typeid,
 * callable=lambda: a_queue)): one queue, made now, that every client
 * gets for that typeid; maxsize 0 is unbounded.  typeid is a Python
 * identifier (CPython clients make a method of it), copied.  Errors:
 * WV_EINVAL (NULL, not an identifier, started), WV_EEXIST (typeid taken),
 * WV_ENOMEM.
 */
WV_EXTERN int wv_manager_register_queue(wv_manager_t *m, const char *typeid,
                                        size_t maxsize);

/*
 * A function a client may call as a method of the object typeid (the
 * RPC: BaseManager.register('Calc', Calc); calc = m.Calc();
 * calc.add(1, 2)).  It runs in the coroutine that serves the caller's
 * connection, on one of the server's threads: weave calls it makes wait
 * by parking; a call that blocks its thread stalls that thread's other
 * connections for as long.  args is a TUPLE and kwds a DICT (both
 * borrowed, valid during the call).  It returns 0 and sets *result to a
 * new value (or leaves it NULL for None), or returns WV_EREMOTE and sets
 * *result to an exception value (wv_obj_new_exception) that the client
 * gets raised, or returns another WV_E* code, which the client gets as a
 * RuntimeError naming the code.  The manager frees *result.
 */
typedef int (*wv_manager_fn)(void *arg, const wv_obj_t *args,
                             const wv_obj_t *kwds, wv_obj_t **result);

/*
 * Adds method to the object typeid (made on first use, the exposed
 * methods in the order of registration).  Errors: WV_EINVAL (NULL, a name
 * that is not an identifier, started, typeid is a queue), WV_EEXIST (the
 * method exists), WV_ENOMEM.
 */
WV_EXTERN int wv_manager_register(wv_manager_t *m, const char *typeid,
                                  const char *method, wv_manager_fn fn,
                                  void *arg);

/*
 * Listens and serves on the manager's threads, returning at once
 * (BaseManager.start, with threads instead of a process: C has no lock
 * to escape).  Errors: WV_EINVAL (NULL, a client, started), the errors of
 * wv_server_new (WV_EADDRINUSE...), WV_ENOMEM.
 */
WV_EXTERN int wv_manager_start(wv_manager_t *m);

/*
 * The address a started server listens on (the port picked for port 0).
 * Errors: WV_EINVAL (NULL, not a started server).
 */
WV_EXTERN int wv_manager_addr(const wv_manager_t *m, wv_addr_t *out);

/*
 * Starts the server unless started, and waits until it is shut down:
 * by wv_manager_shutdown from another thread, or a client's shutdown
 * request (Server.serve_forever), or the deadline.  Returns 0 after a
 * shutdown (the server then has stopped), WV_ETIMEDOUT (still serving),
 * WV_ECANCELED, or wv_manager_start's errors.
 */
WV_EXTERN int wv_manager_serve_forever(wv_manager_t *m, int64_t deadline);

/*
 * Server: stops accepting, ends every queue wait (a waiting get fails
 * with WV_ESHUTDOWN on a local proxy, queue.Empty on a remote one),
 * closes the connections (cancelling what still runs at the deadline)
 * and wakes serve_forever.  Client: asks the server to shut down (its
 * "shutdown" request; CPython's server exits).  A second call returns 0.
 * Errors: WV_EINVAL, a client's connection errors, WV_EREMOTE (the server
 * refused), WV_ENOTSUP (a Redis client: Redis serves others too).
 */
WV_EXTERN int wv_manager_shutdown(wv_manager_t *m, int64_t deadline);

/* Server: connections turned away before authentication so far (a
 * wrong key, a handshake past its deadline or malformed, too many
 * authenticating at once): how a server reports a refused key, which
 * its peer sees as WV_EAUTH or Python's AuthenticationError.  0 for NULL
 * or a client. */
WV_EXTERN uint64_t wv_manager_refused(const wv_manager_t *m);

/* A queue's numbers (wv_manager_queue_stats): a snapshot, each count
 * since the queue was made. */
typedef struct wv_manager_queue_stats {
    size_t qsize;         /* items queued now (leased ones not counted) */
    size_t leased;        /* items out on a lease now, not yet acked */
    uint64_t puts;        /* items put by anyone (put, put_many; a get
                             handed back because its client left counts
                             as a put again); puts back of leases are not
                             counted here but in redelivered */
    uint64_t gets;        /* items taken: get, get_many, get_leased */
    uint64_t acks;        /* leases acknowledged (wv_proxy_ack) */
    uint64_t renewals;    /* leases extended (wv_proxy_renew) */
    uint64_t redelivered; /* leased items put back: lease expired, or
                             its taker's connection ended */
} wv_manager_queue_stats_t;

/*
 * Server: the numbers of the queue registered as typeid, read without
 * waiting (for a monitor: weave status).  Errors: WV_EINVAL (NULL, a
 * client, typeid not a queue), WV_ENOENT (no such typeid).
 */
WV_EXTERN int wv_manager_queue_stats(wv_manager_t *m, const char *typeid,
                                     wv_manager_queue_stats_t *out);

/* Server: clients connected now, counted as Python counts a client's
 * threads: method connections (a CPython client opens one per thread
 * that calls a proxy, plus short control connections, not counted).  0
 * for NULL or a client. */
WV_EXTERN size_t wv_manager_clients(const wv_manager_t *m);

/* Shuts a server down (deadline 0) and frees the manager, its queues and
 * their items; a client's connections are closed.  Its proxies must be
 * freed before.  NULL: no-op. */
WV_EXTERN void wv_manager_free(wv_manager_t *m);

/* ------------------------------------------------------------- client */

/*
 * Connects to a manager (BaseManager(address, authkey).connect()): one
 * connection, the handshake and a "dummy" request to prove both, as
 * Python's connect does.  Errors: WV_EINVAL (out or opts NULL, no
 * authkey), WV_EAUTH (the key was refused, or the server did not know
 * it), WV_ECONNREFUSED and the other errors of wv_tcp_connect, WV_EPROTO
 * (the peer is not a manager), WV_ETIMEDOUT, WV_ENOMEM.
 * With opts->url (Redis): one connection, AUTH, SELECT and PING, closed
 * again (each proxy makes its own), tried once.  Errors: WV_EINVAL (a
 * malformed url, an empty redis_prefix, a db the server does not have),
 * WV_EAUTH (the password was refused, or the server wants one),
 * WV_EPROTO (the peer is not Redis), WV_ECERT and the other errors of
 * wv_tls_client (rediss://), those of wv_tcp_connect, WV_ETIMEDOUT,
 * WV_ENOMEM, WV_ENOSYS (built without hiredis).
 */
WV_EXTERN int wv_manager_connect(wv_manager_t **out,
                                 const wv_manager_opts_t *opts,
                                 int64_t deadline);

/* -------------------------------------------------------------- proxies */

/*
 * A proxy for the object registered as typeid (Python's
 * manager.get_task_queue()).  On a server it reaches the object
 * directly; on a client it makes the object on the server ("create") and
 * holds one reference until freed.  A proxy is used by one caller at a
 * time; a client's proxies share one connection for their method calls
 * (one call at a time on it), as a Python thread's proxies do.
 * Errors: WV_EINVAL (NULL), WV_ENOENT (no such typeid: the server says
 * KeyError), the connection's errors, WV_ENOMEM.
 * Redis: any non-empty typeid names a queue (no registration): the
 * proxy connects (reconnecting within the deadline), makes the stream
 * and its consumer group "weave" if missing, and is a consumer of its
 * own (<hostname>:<pid>:<random>:<n>).  wv_proxy_ident gives the
 * stream's key.  Errors: WV_EINVAL (typeid ""), the connection's
 * errors, WV_EREMOTE (Redis refused: the key holds another type).
 */
WV_EXTERN int wv_manager_proxy(wv_manager_t *m, const char *typeid,
                               wv_proxy_t **out, int64_t deadline);

/* Drops the proxy (a client's "decref", errors ignored, as Python
 * does).  Redis: waits (1 s at most) for the replies of its last
 * acknowledgements, removes its consumer from the group if it holds no
 * lease (a held lease stays pending, to expire for another taker), and
 * closes its connection.  NULL: no-op. */
WV_EXTERN void wv_proxy_free(wv_proxy_t *p);

/*
 * queue.put(item): item is copied (by reference count on a server, by
 * pickling on a client; the caller keeps its reference).  A bounded
 * queue that stays full until the deadline: WV_ETIMEDOUT (WV_EAGAIN for
 * deadline 0: queue.Full).  Errors: WV_EINVAL (NULL, not a queue),
 * WV_ESHUTDOWN (the queue or manager was shut down), the connection's
 * errors.  Redis: XADD; 0 once Redis took it (and, with appendfsync
 * always, wrote it to disk); WV_EINDOUBT (the request went out and its
 * reply was lost: maybe queued), WV_EREMOTE (Redis refused it: out of
 * memory, a key of another type).
 */
WV_EXTERN int wv_proxy_put(wv_proxy_t *p, const wv_obj_t *item,
                           int64_t deadline);

/*
 * queue.get(): the oldest item, to free with wv_obj_free.  Nothing
 * until the deadline: WV_ETIMEDOUT (deadline 0: WV_EAGAIN at once, as
 * get_nowait raises queue.Empty).  On a client the server waits with
 * Python's timeout (the time left) and the reply is awaited a little
 * longer; if even that passes, the connection is closed (a late reply
 * would be lost in it) and the next call opens another.  Errors as put's.
 * Redis: XREADGROUP (blocking up to 10 s at a time, within the
 * deadline), then XACK + XDEL; for deadline 0 the reply may still take
 * up to 2 s.  An entry delivered into a reply that a broken connection
 * lost stays pending for this proxy and is handed out by its next get.
 * Errors: those of the connection, WV_EPROTO (an entry that is no item
 * of ours: dropped).
 */
WV_EXTERN int wv_proxy_get(wv_proxy_t *p, wv_obj_t **item, int64_t deadline);

/*
 * Batches (weave's, for throughput): puts n items in order with one
 * request, or takes up to max items with one request (waiting until the
 * deadline only while the queue is empty), where put and get take one
 * round trip per item.  put_many stops at the first item that cannot be
 * put (a bounded queue full until the deadline): *done (may be NULL)
 * counts the items put, always the first *done of them.  get_many gives
 * 1 to max items in items[0..*got), each to free with wv_obj_free.
 * Against a CPython server, which has no such method, each falls back to
 * one put or get per item.  Errors: as put's and get's; WV_EINVAL (NULL,
 * n or max 0).  Redis: put_many writes its XADDs pipelined (1024 at a
 * time) and reads their replies after; on WV_EINDOUBT, *done counts the
 * items confirmed and the rest may or may not be queued.  get_many is one
 * XREADGROUP COUNT max.
 */
WV_EXTERN int wv_proxy_put_many(wv_proxy_t *p, wv_obj_t *const *items, size_t n,
                                size_t *done, int64_t deadline);
WV_EXTERN int wv_proxy_get_many(wv_proxy_t *p, wv_obj_t **items, size_t max,
                                size_t *got, int64_t deadline);

/* queue.qsize(): items queued now (not counting leased ones).  Errors:
 * WV_EINVAL, the connection's errors.  Redis: the consumer group's lag,
 * entries never delivered (Redis 7; before, or where Redis cannot tell,
 * XLEN minus the pending entries: an estimate). */
WV_EXTERN int wv_proxy_qsize(wv_proxy_t *p, size_t *n, int64_t deadline);

/* queue.task_done() and queue.join(): errors WV_EINVAL (task_done more
 * often than items were got: Python's ValueError), WV_ETIMEDOUT (join),
 * the connection's errors; WV_ENOTSUP for Redis (use leases). */
WV_EXTERN int wv_proxy_task_done(wv_proxy_t *p, int64_t deadline);
WV_EXTERN int wv_proxy_join(wv_proxy_t *p, int64_t deadline);

/*
 * At-least-once delivery (weave's, beyond Python): takes the oldest item
 * as wv_proxy_get does, but the server keeps it, leased to this caller
 * for lease_ms, under *lease.  wv_proxy_ack ends the lease: the item is
 * done.  A lease that expires, or whose connection ends (the worker
 * died), puts the item back in the queue for another taker; its ack then
 * fails with WV_ENOENT.  So an acknowledged item is never delivered
 * again, and an item is never lost before its ack.  Python clients of the
 * same queue see plain get and put.  Errors: as get's, WV_EINVAL
 * (lease_ms <= 0), WV_ENOTSUP (a CPython server, which has no leases),
 * and for ack WV_ENOENT (no such lease: expired, or acknowledged
 * before).
 * Redis: the item is an entry left pending for this proxy's consumer;
 * it expires when a get_leased (of any process) finds it idle for that
 * caller's lease_ms, and is then that caller's (XPENDING IDLE + XCLAIM,
 * looked for at most every lease_ms / 4, 10 ms to 1 s); a worker that
 * died holds its leases until then.  *lease is the entry's id (ms << 20 | seq).
 * ack checks and acknowledges in one script (XPENDING for this consumer,
 * XACK, XDEL), so an ack after expiry is WV_ENOENT; an ack whose reply
 * a broken connection lost is sent again, and WV_EINDOUBT if that one
 * finds nothing (the first may have taken it).  A lease this proxy did
 * not hand out: WV_ENOENT at once.
 */
WV_EXTERN int wv_proxy_get_leased(wv_proxy_t *p, wv_obj_t **item,
                                  uint64_t *lease, int64_t lease_ms,
                                  int64_t deadline);
WV_EXTERN int wv_proxy_ack(wv_proxy_t *p, uint64_t lease, int64_t deadline);

/*
 * Extends a lease: it now expires lease_ms from the server's receipt of
 * this call (not from its first expiry), so a worker whose task outlasts
 * the lease it asked for keeps it by renewing before it runs out (a
 * third of the lease before, say).  A lease that already expired and
 * went back to the queue cannot be renewed: WV_ENOENT, as its ack would
 * say.  The connection's end still puts it back.  On redis:// the entry's
 * idle time goes back to 0 (XCLAIM to its own consumer, only while it is
 * still this proxy's): it lasts the takers' lease_ms from now, whatever
 * lease_ms says; a renewal is sent again after a reconnection.  Errors:
 * WV_EINVAL (not a queue proxy, lease_ms <= 0), WV_ENOENT, WV_ENOTSUP (a
 * CPython server), the connection's errors.
 */
WV_EXTERN int wv_proxy_renew(wv_proxy_t *p, uint64_t lease, int64_t lease_ms,
                             int64_t deadline);

/*
 * Calls method on the proxy's object with args (a TUPLE, or NULL for
 * none) and kwds (a DICT, or NULL), both borrowed, and gives its result
 * in *result (a new value; None as a NONE node).  Any method the object
 * exposes: a registered function, or a queue's methods by their Python
 * names; on a CPython server any method of any registered type.
 * Errors: WV_EREMOTE (the method raised: *result is then the exception
 * (an INSTANCE, e.g. builtins.ValueError('bad', 42)), or the server's
 * error text (a STR: its traceback, unknown method...)), WV_EINVAL
 * (NULL, args not a tuple, kwds not a dict), WV_ENOTSUP (the server
 * answered with a proxy to another object; a Redis proxy), the
 * connection's errors.
 */
WV_EXTERN int wv_proxy_call(wv_proxy_t *p, const char *method,
                            const wv_obj_t *args, const wv_obj_t *kwds,
                            wv_obj_t **result, int64_t deadline);

/* The typeid and the server's ident of the proxy's object (borrowed,
 * valid while p is).  NULL for NULL. */
WV_EXTERN const char *wv_proxy_typeid(const wv_proxy_t *p);
WV_EXTERN const char *wv_proxy_ident(const wv_proxy_t *p);

#ifdef __cplusplus
}
#endif
#endif /* WEAVE_MANAGER_H */

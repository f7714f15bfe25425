/*
 * manager/mgr.h - what the manager's files share: the manager, its
 * registered objects, proxies, and the messages of CPython's protocol
 * (MANAGER-PROTOCOL.md, section 3) as values.
 *
 * One struct wv_manager is either a server (wv_manager_new: objects
 * registered, served by a wv_server_t) or a client (wv_manager_connect:
 * the address and key, and one method connection shared by its proxies).
 * A proxy points at the object itself (server) or names it by ident
 * (client).
 *
 * Lock order: a client's call lock (mgr->call_lock), then an object's
 * lease lock (obj->lease_lock).  Nothing waits while holding a lease
 * lock.
 */
#ifndef WEAVE_MANAGER_MGR_H
#define WEAVE_MANAGER_MGR_H

#include "weave/manager.h"
#include "weave/queue.h"
#include "weave/stream.h"
#include "weave/sync.h"

#include "../core/internal.h"
#include "redis.h"
#include "wire.h"

enum mgr_obj_kind { MGR_QUEUE = 1, MGR_FUNCS };

/* A registered function: one exposed method of a MGR_FUNCS object. */
struct mgr_method {
    char *name;
    wv_manager_fn fn;
    void *arg;
};

/* An item taken with a lease, until acknowledged or put back. */
struct mgr_lease {
    uint64_t id;
    wv_obj_t *item;
    int64_t expires;   /* wv_now() deadline */
    const void *owner; /* the connection that took it (NULL: local) */
    struct mgr_lease *next;
};

/* A registered object: one per typeid, living as long as the manager. */
struct mgr_obj {
    enum mgr_obj_kind kind;
    char *typeid;
    char ident[24];      /* the server's name for it on the wire */
    int64_t max_wait_ms; /* the manager's cap on a call's wait (0: none) */
    /* CPython's reference count (create/incref/decref), kept only to
     * answer as CPython does: the object is never destroyed by it. */
    long refs;
    /* MGR_QUEUE: the queue, of wv_obj_t * items it owns. */
    wv_queue_t *queue;
    /* Leased items (MGR_QUEUE), under lease_lock. */
    wv_lock_t lease_lock;
    struct mgr_lease *leases;
    /* [atomic] The next lease's id; 0 until the queue's first lease. */
    uint64_t next_lease;
    /* [atomic] MGR_QUEUE's counts since it was made, for
     * wv_manager_queue_stats: items put (puts back not counted), taken
     * (leased or not), leases acknowledged, leased items put back. */
    uint64_t puts, gets, acks, renewals, redelivered;
    /* MGR_FUNCS: its methods, in registration order. */
    struct mgr_method *methods;
    size_t nmethods;
};

struct wv_manager {
    bool is_client;
    wv_manager_opts_t opts; /* host, unix_path, authkey point at copies */
    char *host, *unix_path, *server_name;
    char *authkey;
    wv__mgr_auth_t auth;
    /* Server. */
    struct mgr_obj **objs;
    size_t nobjs;
    wv_server_t *server;
    uint64_t ident_base; /* objects' idents count up from it */
    wv_event_t stopped;  /* set by a shutdown, remote or local */
    wv_lock_t stop_lock; /* one wv_server_stop at a time */
    int shutting;        /* [atomic] a shutdown began */
    size_t unauth;       /* [atomic] connections authenticating */
    uint64_t refused;    /* [atomic] connections turned away before auth */
    size_t clients;      /* [atomic] method connections open now */
    wv_lock_t refs_lock; /* guards every obj->refs */
    /* Client: the method connection (NULL until first needed). */
    wv_lock_t call_lock; /* one method call at a time */
    wv_stream_t *conn;
    /* [atomic] The server answered a weave method (_wv_*) with "no such
     * method": a CPython server; batches go one call per item at once. */
    int plain_server;
    /* Client of a redis:// url (redis.h): its configuration; each proxy
     * has a connection of its own.  NULL for a manager's client. */
    struct mgr_redis *redis;
};

struct wv_proxy {
    wv_manager_t *mgr;
    struct mgr_obj *obj; /* server: the object; client: NULL */
    char *typeid;
    char *ident;       /* client: the server's ident */
    wv_obj_t *name;    /* client: ident as a STR node, reused per call */
    struct rproxy *rq; /* redis:// client: the stream's proxy */
};

/* A manager with its options copied (server.c); client: a client's. */
int wv__mgr_alloc(wv_manager_t **out, const wv_manager_opts_t *opts,
                  bool client);
/* The client's halves of wv_manager_shutdown and wv_manager_free
 * (client.c). */
int wv__mgr_client_shutdown(wv_manager_t *m, int64_t deadline);
void wv__mgr_client_close(wv_manager_t *m);

/* Serves an authenticated connection: its first request, and the method
 * calls that follow if it was accept_connection, until the peer leaves
 * or sends what does not decode (server.c; the fuzz target's entry). */
void wv__mgr_serve_stream(wv_manager_t *m, wv_stream_t *s);

/* ---------------------------------------------------------- messages */

/* Reply kinds (the first item of a reply tuple). */
enum mgr_reply {
    MGR_RETURN = 1,
    MGR_ERROR,
    MGR_TRACEBACK,
    MGR_UNSERIALIZABLE,
    MGR_PROXY
};

/* Bytes of a caller's buffer for a message, on its stack: most messages
 * fit, and then need no allocation. */
#define WV__MGR_SCRATCH 512

/* Encodes (ident or None, method, args or (), kwds or {}) as a pickle
 * after 4 bytes left for the frame's length (*len counts them), in
 * scratch (WV__MGR_SCRATCH bytes) if it fits, else in a new buffer
 * (freed with wv_free): what wv__mgr_send_buf takes.  The parts are
 * borrowed.  WV_EINVAL for a method name that is not UTF-8, WV_ENOMEM. */
int wv__mgr_encode_request(const wv_obj_t *ident, const char *method,
                           const wv_obj_t *args, const wv_obj_t *kwds,
                           char *scratch, char **buf, size_t *len);
/* Encodes (kind's name, value) likewise; value NULL is None. */
int wv__mgr_encode_reply(enum mgr_reply kind, const wv_obj_t *value,
                         char *scratch, char **buf, size_t *len);
/* Decodes a reply: its kind and value (a new reference). WV_EPROTO if it
 * is not a 2-tuple with a known kind. */
int wv__mgr_decode_reply(const char *data, size_t len,
                         const wv_pickle_limits_t *limits, enum mgr_reply *kind,
                         wv_obj_t **value);

/* Values the protocol needs: queue.Empty(), queue.Full(), and
 * builtins.<name>(text) (KeyError, ValueError, RuntimeError...). */
int wv__mgr_exc(wv_obj_t **out, const char *module, const char *name,
                const char *text);

/* A copy of s (NULL for NULL or out of memory), freed with wv__free. */
char *wv__mgr_strdup(const char *s);

/* Writes an encoded message (wv__mgr_encode_*: len bytes, the first 4
 * free for the frame's length) as one frame into the stream, drains it
 * if flush, and frees buf unless it is scratch (whatever happens). */
int wv__mgr_send_buf(wv_stream_t *s, char *buf, size_t len, const char *scratch,
                     bool flush, int64_t deadline);

/* A client's method call on p's object over the method connection,
 * opened if needed and closed on any error (client.c). */
int wv__mgr_method(wv_proxy_t *p, const char *method, const wv_obj_t *args,
                   const wv_obj_t *kwds, enum mgr_reply *kind, wv_obj_t **value,
                   int64_t deadline);

/* ------------------------------------------------------------ objects */

/* The object of a typeid, or NULL. */
struct mgr_obj *wv__mgr_find_typeid(wv_manager_t *m, const char *typeid);
/* The object of an ident, or NULL. */
struct mgr_obj *wv__mgr_find_ident(wv_manager_t *m, const char *ident);
/* Puts back every item leased by owner (a connection that ended). */
void wv__mgr_release_owner(wv_manager_t *m, const void *owner);

/* The queue operations, shared by local proxies and the server's
 * dispatch; errors as weave/manager.h says for the proxies. */
int wv__mgr_q_put(struct mgr_obj *o, const wv_obj_t *item, int64_t deadline);
int wv__mgr_q_get(struct mgr_obj *o, wv_obj_t **item, int64_t deadline);
int wv__mgr_q_get_leased(struct mgr_obj *o, wv_obj_t **item, uint64_t *lease,
                         int64_t lease_ms, const void *owner, int64_t deadline);
int wv__mgr_q_ack(struct mgr_obj *o, uint64_t lease);
/* A lease's expiry moved to lease_ms from now: 0 or WV_ENOENT. */
int wv__mgr_q_renew(struct mgr_obj *o, uint64_t lease, int64_t lease_ms);
/* Counts n items taken from the queue by a batch, beyond its first. */
void wv__mgr_q_count_gets(struct mgr_obj *o, size_t n);
/* Frees an object (at the manager's free). */
void wv__mgr_obj_free(struct mgr_obj *o);

/* The dispatch of one method call on an object (server side): fills
 * *kind and *value with the reply. */
void wv__mgr_call(wv_manager_t *m, struct mgr_obj *o, const char *method,
                  const wv_obj_t *args, const wv_obj_t *kwds, const void *owner,
                  enum mgr_reply *kind, wv_obj_t **value);

/* A server's exposed names for o, as a TUPLE of STR. */
int wv__mgr_exposed(const struct mgr_obj *o, wv_obj_t **out);

#endif /* WEAVE_MANAGER_MGR_H */

/*
 * manager/server.c - the manager as a server (BaseManager.start,
 * Server.serve_forever): registration, and a coroutine per connection on
 * a wv_server_t that speaks CPython's protocol (MANAGER-PROTOCOL.md,
 * section 3).
 *
 * A connection: the handshake within handshake_ms (a cap on how many run
 * at once), then one request.  A control request (dummy, create, incref,
 * decref, get_methods, number_of_objects, debug_info, shutdown) gets one
 * reply and the connection is closed, as CPython does; accept_connection
 * turns it into a method connection: requests (ident, method, args, kwds)
 * answered one by one until the client leaves.  A request that does not
 * decode ends the connection (WV_EPROTO); one that decodes but makes no
 * sense gets a #TRACEBACK with a short text (no paths, no repr of the
 * peer's bytes).
 *
 * Replies are written into the connection's stream and drained only when
 * no further request is already buffered: a client that pipelines its
 * requests gets its replies in few writes.
 *
 * Idents are "%x" of a random 48-bit base plus the object's index: opaque
 * (no address of ours), stable for the manager's life, and shaped like
 * CPython's, which a Python client only compares.
 */
#include "mgr.h"

#include <ctype.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define DEFAULT_MAX_FRAME ((size_t)64 << 20)
#define REPLY_WRITE_MS    30000 /* a reply's write, at most */

static bool is_identifier(const char *s)
{
    if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

/* Copies the options and their strings into m. */
static int copy_opts(wv_manager_t *m, const wv_manager_opts_t *opts)
{
    if (opts->url) /* a redis:// client: the url says all (redis_conn.c) */
        return 0;
    if (!opts->authkey || opts->authkey_len == 0 || opts->authkey_len > 256)
        return WV_EINVAL;
    if ((opts->unix_path && opts->host) || opts->max_wait_ms < 0 ||
        opts->handshake_ms < 0)
        return WV_EINVAL;
    m->opts = *opts;
    m->authkey = wv__malloc(opts->authkey_len);
    if (!m->authkey)
        return WV_ENOMEM;
    memcpy(m->authkey, opts->authkey, opts->authkey_len);
    if ((opts->host && !(m->host = wv__mgr_strdup(opts->host))) ||
        (opts->unix_path &&
         !(m->unix_path = wv__mgr_strdup(opts->unix_path))) ||
        (opts->tls_server_name &&
         !(m->server_name = wv__mgr_strdup(opts->tls_server_name))))
        return WV_ENOMEM;
    m->opts.host = m->host;
    m->opts.unix_path = m->unix_path;
    m->opts.tls_server_name = m->server_name;
    m->opts.authkey = m->authkey;
    if (!m->opts.max_frame)
        m->opts.max_frame = DEFAULT_MAX_FRAME;
    if (!m->opts.handshake_ms)
        m->opts.handshake_ms = 5000;
    if (!m->opts.max_unauthenticated)
        m->opts.max_unauthenticated = 64;
    if (!m->opts.max_connections)
        m->opts.max_connections = 1024;
    m->auth.key = m->authkey;
    m->auth.keylen = opts->authkey_len;
    m->auth.strict = opts->strict_auth;
    return 0;
}

int wv__mgr_alloc(wv_manager_t **out, const wv_manager_opts_t *opts,
                  bool client)
{
    if (!out || !opts)
        return WV_EINVAL;
    wv_manager_t *m = wv__calloc(1, sizeof *m);
    if (!m)
        return WV_ENOMEM;
    m->is_client = client;
    wv_event_init(&m->stopped);
    wv_lock_init(&m->refs_lock);
    wv_lock_init(&m->call_lock);
    wv_lock_init(&m->stop_lock);
    int err = copy_opts(m, opts);
    if (err) {
        wv_manager_free(m);
        return err;
    }
    *out = m;
    return 0;
}

int wv_manager_new(wv_manager_t **out, const wv_manager_opts_t *opts)
{
    if (opts && opts->url)
        return WV_EINVAL; /* Redis is a server already */
    int err = wv__mgr_alloc(out, opts, false);
    if (err)
        return err;
    uint64_t base = 0;
    if (getrandom(&base, sizeof base, 0) != (ssize_t)sizeof base)
        base = (uint64_t)wv_now() * 2654435761u;
    (*out)->ident_base = (base & 0xffffffffffffull) | 0x100000000000ull;
    return 0;
}

/* ---------------------------------------------------------- registry */

static int add_obj(wv_manager_t *m, const char *typeid, enum mgr_obj_kind kind,
                   struct mgr_obj **out)
{
    if (!m || m->is_client || m->server || !is_identifier(typeid))
        return WV_EINVAL;
    if (wv__mgr_find_typeid(m, typeid))
        return WV_EEXIST;
    struct mgr_obj *o = wv__calloc(1, sizeof *o);
    struct mgr_obj **objs =
        wv__realloc(m->objs, (m->nobjs + 1) * sizeof *m->objs);
    if (!o || !objs || !(o->typeid = wv__mgr_strdup(typeid))) {
        if (objs)
            m->objs = objs;
        wv__free(o);
        return WV_ENOMEM;
    }
    m->objs = objs;
    o->kind = kind;
    o->max_wait_ms = m->opts.max_wait_ms;
    wv_lock_init(&o->lease_lock);
    snprintf(o->ident, sizeof o->ident, "%llx",
             (unsigned long long)(m->ident_base + m->nobjs * 16));
    m->objs[m->nobjs++] = o;
    *out = o;
    return 0;
}

static void item_free(void *item)
{
    wv_obj_free(item);
}

int wv_manager_register_queue(wv_manager_t *m, const char *typeid,
                              size_t maxsize)
{
    struct mgr_obj *o;
    wv_queue_opts_t qo = {.maxsize = maxsize, .free_item = item_free};
    int err = add_obj(m, typeid, MGR_QUEUE, &o);
    if (err)
        return err;
    if ((err = wv_queue_new(&o->queue, &qo))) {
        m->nobjs--;
        wv__mgr_obj_free(o);
    }
    return err;
}

int wv_manager_register(wv_manager_t *m, const char *typeid, const char *method,
                        wv_manager_fn fn, void *arg)
{
    if (!m || !fn || !is_identifier(method) || !is_identifier(typeid))
        return WV_EINVAL;
    struct mgr_obj *o = wv__mgr_find_typeid(m, typeid);
    int err;
    if (!o && (err = add_obj(m, typeid, MGR_FUNCS, &o)))
        return err;
    if (o->kind != MGR_FUNCS || m->server)
        return WV_EINVAL;
    for (size_t i = 0; i < o->nmethods; i++)
        if (strcmp(o->methods[i].name, method) == 0)
            return WV_EEXIST;
    struct mgr_method *ms =
        wv__realloc(o->methods, (o->nmethods + 1) * sizeof *ms);
    if (!ms)
        return WV_ENOMEM;
    o->methods = ms;
    char *name = wv__mgr_strdup(method);
    if (!name)
        return WV_ENOMEM;
    ms[o->nmethods++] = (struct mgr_method){name, fn, arg};
    return 0;
}

struct mgr_obj *wv__mgr_find_typeid(wv_manager_t *m, const char *typeid)
{
    for (size_t i = 0; i < m->nobjs; i++)
        if (strcmp(m->objs[i]->typeid, typeid) == 0)
            return m->objs[i];
    return NULL;
}

struct mgr_obj *wv__mgr_find_ident(wv_manager_t *m, const char *ident)
{
    for (size_t i = 0; i < m->nobjs; i++)
        if (strcmp(m->objs[i]->ident, ident) == 0)
            return m->objs[i];
    return NULL;
}

/* ------------------------------------------------------- connections */

/* The stream of an accepted connection, TLS if asked; the handshake of
 * TLS counts in the manager's handshake deadline. */
static int open_stream(wv_manager_t *m, wv_sock_t *sock, wv_stream_t **s,
                       int64_t deadline)
{
    /* A reply left in the buffer goes out with the next request's read:
     * on io_uring, one submission for both (wv_stream_opts_t). */
    wv_stream_opts_t so = {.borrow_fd = true, .flush_on_read = true};
    if (m->opts.tls) {
        wv_tls_opts_t to = {.stream = so};
        return wv_tls_server(s, &to, m->opts.tls, wv_sock_fd(sock), deadline);
    }
    return wv_stream_new(s, &so, wv_sock_fd(sock));
}

/* Sends a reply (value taken over); 0, or the error that ends the
 * connection (a reply could not be encoded or written in time). */
static int send_reply(wv_stream_t *s, enum mgr_reply kind, wv_obj_t *value,
                      bool flush)
{
    char scratch[WV__MGR_SCRATCH], *buf;
    size_t len;
    int err = wv__mgr_encode_reply(kind, value, scratch, &buf, &len);
    wv_obj_free(value);
    if (err) {
        /* Unencodable (out of memory): say so, as CPython does. */
        wv_obj_t *text;
        if (wv_obj_new_str(&text, "weave: out of memory", 20))
            return WV_ENOMEM;
        err =
            wv__mgr_encode_reply(MGR_UNSERIALIZABLE, text, scratch, &buf, &len);
        wv_obj_free(text);
        if (err)
            return err;
    }
    /* What the write buffer cannot hold is written within the deadline,
     * or the connection ends: a client that stops reading must not hold
     * this coroutine while megabytes wait.  The rest (a whole small
     * reply) goes out with the next request's read (flush_on_read),
     * waiting as long as that read does: such a client then holds its
     * connection as an idle one does, sending nothing more through. */
    return wv__mgr_send_buf(s, buf, len, scratch, flush,
                            wv_deadline_in(REPLY_WRITE_MS));
}

static int send_text(wv_stream_t *s, enum mgr_reply kind, const char *text)
{
    wv_obj_t *v;
    if (wv_obj_new_str(&v, text, strlen(text)))
        return WV_ENOMEM;
    return send_reply(s, kind, v, true);
}

/* A request's four parts, borrowed from the decoded tuple. */
struct request {
    wv_obj_t *tuple;
    const wv_obj_t *ident; /* STR or NONE */
    const char *method;
    const wv_obj_t *args; /* TUPLE */
    const wv_obj_t *kwds; /* DICT */
};

static int read_request(wv_manager_t *m, wv_stream_t *s, struct request *r,
                        int64_t deadline)
{
    char scratch[WV__MGR_SCRATCH], *buf;
    size_t len;
    int err = wv__mgr_recv_frame_into(s, m->opts.max_frame, scratch,
                                      sizeof scratch, &buf, &len, deadline);
    if (err)
        return err;
    if (len == 0) { /* CPython's end of a method connection */
        if (buf != scratch)
            wv__free(buf);
        return WV_EOF;
    }
    err = wv_pickle_loads(&r->tuple, buf, len, &m->opts.limits, NULL);
    if (buf != scratch)
        wv__free(buf);
    if (err)
        return err;
    wv_obj_t *t = r->tuple, **it = t->u.seq.items;
    if (t->kind != WV_OBJ_TUPLE || t->u.seq.len != 4 ||
        (it[0]->kind != WV_OBJ_STR && it[0]->kind != WV_OBJ_NONE) ||
        it[1]->kind != WV_OBJ_STR || it[2]->kind != WV_OBJ_TUPLE ||
        it[3]->kind != WV_OBJ_DICT) {
        wv_obj_free(t);
        return WV_EPROTO;
    }
    r->ident = it[0];
    r->method = it[1]->u.s.data;
    r->args = it[2];
    r->kwds = it[3];
    return 0;
}

/* true if the peer closed or reset the connection: poll(2) with no
 * wait (POLLRDHUP: the peer's end, even with unread bytes before it). */
static bool peer_gone(wv_stream_t *s)
{
    struct pollfd p = {.fd = wv_stream_fileno(s), .events = POLLRDHUP};
    return p.fd >= 0 && poll(&p, 1, 0) == 1 &&
           (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* A get whose client left while it waited: its items go back into the
 * queue rather than into a dead connection (a write to it could even
 * succeed, the peer's reset coming later).  The window between this
 * check and the reply stays: only leases close it.  Returns true if the
 * items were handed back (the connection is then to be closed). */
static bool hand_back(struct mgr_obj *o, const char *method,
                      enum mgr_reply kind, wv_obj_t *value, wv_stream_t *s)
{
    bool many = strcmp(method, "_wv_get_many") == 0;
    if (kind != MGR_RETURN || o->kind != MGR_QUEUE ||
        !(many || strcmp(method, "get") == 0) || !peer_gone(s))
        return false;
    size_t n = many ? value->u.seq.len : 1;
    for (size_t i = 0; i < n; i++) {
        /* Put back (one more unfinished task), then count the failed
         * hand-out done: join's count is as before the get.  A bounded
         * queue full by now loses the item, as the dead client would
         * have. */
        if (wv__mgr_q_put(o, many ? value->u.seq.items[i] : value, 0) == 0)
            wv_queue_task_done(o->queue);
    }
    wv_obj_free(value);
    return true;
}

static void method_loop(wv_manager_t *m, wv_stream_t *s)
{
    struct request r;
    while (read_request(m, s, &r, WV_FOREVER) == 0) {
        struct mgr_obj *o = r.ident->kind == WV_OBJ_STR
                                ? wv__mgr_find_ident(m, r.ident->u.s.data)
                                : NULL;
        enum mgr_reply kind;
        wv_obj_t *value;
        if (!o) {
            wv_obj_free(r.tuple);
            if (send_text(s, MGR_TRACEBACK,
                          "KeyError: no object of that ident"))
                break;
            continue;
        }
        int64_t began = wv_now();
        wv__mgr_call(m, o, r.method, r.args, r.kwds, s, &kind, &value);
        /* Only a call that waited can have outlived its client. */
        if (wv_now() - began > 0 && hand_back(o, r.method, kind, value, s)) {
            wv_obj_free(r.tuple);
            break;
        }
        wv_obj_free(r.tuple);
        /* Not flushed: the next read_request writes it out before it
         * waits (flush_on_read), with its read where the loop can. */
        if (send_reply(s, kind, value, false))
            break;
    }
    wv__mgr_release_owner(m, s);
}

/* The object named by a control request's first argument (a typeid for
 * create, an ident for the others), or NULL. */
static struct mgr_obj *control_obj(wv_manager_t *m, const struct request *r,
                                   bool by_typeid)
{
    if (r->args->u.seq.len < 1 || r->args->u.seq.items[0]->kind != WV_OBJ_STR)
        return NULL;
    const char *name = r->args->u.seq.items[0]->u.s.data;
    return by_typeid ? wv__mgr_find_typeid(m, name)
                     : wv__mgr_find_ident(m, name);
}

static void begin_shutdown(wv_manager_t *m)
{
    if (__atomic_exchange_n(&m->shutting, 1, __ATOMIC_ACQ_REL))
        return;
    for (size_t i = 0; i < m->nobjs; i++)
        if (m->objs[i]->queue)
            wv_queue_shutdown(m->objs[i]->queue, false);
    wv_event_set(&m->stopped);
}

static void reply_create(wv_manager_t *m, wv_stream_t *s,
                         const struct request *r)
{
    struct mgr_obj *o = control_obj(m, r, true);
    wv_obj_t *pair = NULL, *ident = NULL, *exposed = NULL;
    if (!o) {
        send_text(s, MGR_TRACEBACK, "KeyError: no such typeid");
        return;
    }
    if (wv_obj_new_tuple(&pair, 2) ||
        wv_obj_new_str(&ident, o->ident, strlen(o->ident)) ||
        wv_obj_append(pair, ident) || (ident = NULL, 0) ||
        wv__mgr_exposed(o, &exposed) || wv_obj_append(pair, exposed)) {
        wv_obj_free(ident);
        wv_obj_free(exposed);
        wv_obj_free(pair);
        send_text(s, MGR_TRACEBACK, "MemoryError");
        return;
    }
    wv_lock_acquire(&m->refs_lock, WV_FOREVER);
    o->refs++;
    wv_lock_release(&m->refs_lock);
    send_reply(s, MGR_RETURN, pair, true);
}

static void reply_count(wv_manager_t *m, wv_stream_t *s)
{
    long n = 0;
    wv_lock_acquire(&m->refs_lock, WV_FOREVER);
    for (size_t i = 0; i < m->nobjs; i++)
        n += m->objs[i]->refs > 0;
    wv_lock_release(&m->refs_lock);
    wv_obj_t *v;
    if (wv_obj_new_int(&v, n) == 0)
        send_reply(s, MGR_RETURN, v, true);
}

/* get_methods(token): the token's state is (typeid, address, ident). */
static void reply_methods(wv_manager_t *m, wv_stream_t *s,
                          const struct request *r)
{
    const wv_obj_t *tok = r->args->u.seq.len ? r->args->u.seq.items[0] : 0;
    const wv_obj_t *st =
        tok && tok->kind == WV_OBJ_INSTANCE ? tok->u.inst.state : NULL;
    struct mgr_obj *o = NULL;
    if (st && st->kind == WV_OBJ_TUPLE && st->u.seq.len == 3 &&
        st->u.seq.items[2]->kind == WV_OBJ_STR)
        o = wv__mgr_find_ident(m, st->u.seq.items[2]->u.s.data);
    wv_obj_t *exposed;
    if (!o)
        send_text(s, MGR_TRACEBACK, "KeyError: no object of that ident");
    else if (wv__mgr_exposed(o, &exposed) == 0)
        send_reply(s, MGR_RETURN, exposed, true);
}

static void reply_debug_info(wv_manager_t *m, wv_stream_t *s)
{
    char text[4096];
    size_t at = 0;
    text[0] = 0;
    wv_lock_acquire(&m->refs_lock, WV_FOREVER);
    for (size_t i = 0; i < m->nobjs && at < sizeof text - 200; i++)
        at += (size_t)snprintf(text + at, sizeof text - at,
                               "%s  %s:       refcount=%ld\n    <weave %s>",
                               i ? "\n" : "", m->objs[i]->ident,
                               m->objs[i]->refs, m->objs[i]->typeid);
    wv_lock_release(&m->refs_lock);
    send_text(s, MGR_RETURN, text);
}

/* One control request; true if the connection goes on as a method
 * connection. */
static bool control(wv_manager_t *m, wv_stream_t *s, const struct request *r)
{
    const char *f = r->method;
    if (strcmp(f, "dummy") == 0) {
        send_reply(s, MGR_RETURN, NULL, true);
    } else if (strcmp(f, "create") == 0) {
        reply_create(m, s, r);
    } else if (strcmp(f, "incref") == 0 || strcmp(f, "decref") == 0) {
        struct mgr_obj *o = control_obj(m, r, false);
        if (!o) {
            send_text(s, MGR_TRACEBACK, "KeyError: no object of that ident");
            return false;
        }
        /* The count only answers; it never destroys (§5.1). */
        wv_lock_acquire(&m->refs_lock, WV_FOREVER);
        o->refs += f[0] == 'i' ? 1 : (o->refs > 0 ? -1 : 0);
        wv_lock_release(&m->refs_lock);
        send_reply(s, MGR_RETURN, NULL, true);
    } else if (strcmp(f, "accept_connection") == 0) {
        send_reply(s, MGR_RETURN, NULL, true);
        return true;
    } else if (strcmp(f, "get_methods") == 0) {
        reply_methods(m, s, r);
    } else if (strcmp(f, "number_of_objects") == 0) {
        reply_count(m, s);
    } else if (strcmp(f, "debug_info") == 0) {
        reply_debug_info(m, s);
    } else if (strcmp(f, "shutdown") == 0) {
        if (m->opts.refuse_remote_shutdown) {
            send_text(s, MGR_TRACEBACK, "weave: remote shutdown refused");
            return false;
        }
        /* CPython answers twice (§3.4); its clients read one. */
        send_reply(s, MGR_RETURN, NULL, false);
        send_reply(s, MGR_RETURN, NULL, true);
        begin_shutdown(m);
    } else {
        send_text(s, MGR_TRACEBACK, "AssertionError: unrecognized function");
    }
    return false;
}

static void serve_conn(wv_sock_t *sock, const wv_addr_t *peer, void *arg)
{
    wv_manager_t *m = arg;
    wv_stream_t *s = NULL;
    (void)peer;
    if (__atomic_load_n(&m->shutting, __ATOMIC_ACQUIRE))
        return;
    size_t waiting = __atomic_add_fetch(&m->unauth, 1, __ATOMIC_ACQ_REL);
    int err = WV_EAGAIN;
    if (waiting <= m->opts.max_unauthenticated) {
        int64_t deadline = wv_deadline_in(m->opts.handshake_ms);
        err = open_stream(m, sock, &s, deadline);
        if (!err)
            err = wv__mgr_auth_server(s, &m->auth, deadline);
    }
    __atomic_sub_fetch(&m->unauth, 1, __ATOMIC_ACQ_REL);
    if (!err)
        wv__mgr_serve_stream(m, s);
    else
        __atomic_add_fetch(&m->refused, 1, __ATOMIC_RELAXED);
    wv_stream_free(s);
}

void wv__mgr_serve_stream(wv_manager_t *m, wv_stream_t *s)
{
    struct request r;
    if (read_request(m, s, &r, WV_FOREVER) == 0) {
        bool method_conn = control(m, s, &r);
        wv_obj_free(r.tuple);
        if (method_conn) {
            __atomic_add_fetch(&m->clients, 1, __ATOMIC_RELAXED);
            method_loop(m, s);
            __atomic_sub_fetch(&m->clients, 1, __ATOMIC_RELAXED);
        }
    }
}

/* ------------------------------------------------------------- life */

static int listen_addr(const wv_manager_t *m, wv_addr_t *a)
{
    if (m->unix_path)
        return wv_addr_from_unix(a, m->unix_path);
    const char *host = m->host ? m->host : "127.0.0.1";
    if (wv_addr_from_ip(a, host, m->opts.port) == 0)
        return 0;
    wv_addrinfo_t *ai;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)m->opts.port);
    int err = wv_getaddrinfo(&ai, &hints, host, port, WV_FOREVER);
    if (err)
        return err;
    *a = ai->addr;
    wv_addrinfo_free(ai);
    return 0;
}

int wv_manager_start(wv_manager_t *m)
{
    if (!m || m->is_client || m->server)
        return WV_EINVAL;
    wv_addr_t a;
    int err = listen_addr(m, &a);
    if (err)
        return err;
    wv_server_opts_t so = {
        .addr = &a,
        .threads = m->opts.threads ? m->opts.threads : 1,
        .max_connections = m->opts.max_connections,
        .backlog = 128,
    };
    return wv_server_new(&m->server, &so, serve_conn, m);
}

uint64_t wv_manager_refused(const wv_manager_t *m)
{
    return m ? __atomic_load_n(&m->refused, __ATOMIC_RELAXED) : 0;
}

int wv_manager_addr(const wv_manager_t *m, wv_addr_t *out)
{
    if (!m || !out || !m->server)
        return WV_EINVAL;
    return wv_server_addr(m->server, out);
}

/* Stops the server (once; later callers wait for the first). */
static int stop_server(wv_manager_t *m, int64_t deadline)
{
    int err = wv_lock_acquire(&m->stop_lock, WV_FOREVER);
    if (err)
        return err;
    err = m->server ? wv_server_stop(m->server, deadline) : 0;
    wv_lock_release(&m->stop_lock);
    return err == WV_ETIMEDOUT ? 0 : err;
}

int wv_manager_serve_forever(wv_manager_t *m, int64_t deadline)
{
    if (!m || m->is_client)
        return WV_EINVAL;
    int err = m->server ? 0 : wv_manager_start(m);
    if (!err)
        err = wv_event_wait(&m->stopped, deadline);
    if (!err)
        err = stop_server(m, wv_deadline_in(1000));
    return err;
}

int wv_manager_shutdown(wv_manager_t *m, int64_t deadline)
{
    if (!m)
        return WV_EINVAL;
    if (m->is_client)
        return wv__mgr_client_shutdown(m, deadline);
    begin_shutdown(m);
    return stop_server(m, deadline);
}

void wv_manager_free(wv_manager_t *m)
{
    if (!m)
        return;
    if (m->is_client) {
        wv__mgr_client_close(m);
        wv__redis_close(m->redis);
    } else {
        begin_shutdown(m);
        wv_server_free(m->server);
    }
    for (size_t i = 0; i < m->nobjs; i++)
        wv__mgr_obj_free(m->objs[i]);
    wv__free(m->objs);
    wv_event_destroy(&m->stopped);
    wv_lock_destroy(&m->refs_lock);
    wv_lock_destroy(&m->call_lock);
    wv_lock_destroy(&m->stop_lock);
    if (m->authkey)
        memset(m->authkey, 0, m->opts.authkey_len);
    wv__free(m->authkey);
    wv__free(m->host);
    wv__free(m->unix_path);
    wv__free(m->server_name);
    wv__free(m);
}

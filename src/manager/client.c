/*
 * manager/client.c - the manager as a client (BaseManager.connect) and
 * the proxies of both sides.
 *
 * A client does what CPython's does (MANAGER-PROTOCOL.md, 3.6): each
 * control request (dummy, create, decref, shutdown) on a connection of
 * its own, handshake included, closed after the reply; method calls on
 * one method connection (accept_connection), opened on the first call
 * and shared by the manager's proxies, one call at a time (call_lock).
 *
 * A method call whose reply does not come in time leaves the connection
 * out of step (the late reply would answer the next request), so the
 * connection is closed and the next call opens another.  (Calls that make
 * the server wait send Python's timeout and wait for the reply a little
 * longer: proxy.c.)
 *
 * A proxy of a server-side manager reaches the object directly: the same
 * operations (object.c) without the network.
 */
#include "mgr.h"

#include "../net/internal.h"

#include <string.h>
#include <unistd.h>

static int connect_sock(wv_manager_t *m, wv_sock_t **sock, int64_t deadline)
{
    if (m->unix_path) {
        wv_addr_t a;
        int err = wv_addr_from_unix(&a, m->unix_path);
        return err ? err : wv_sock_connect(sock, NULL, &a, deadline);
    }
    return wv_tcp_connect(sock, NULL, m->host ? m->host : "127.0.0.1",
                          m->opts.port, deadline);
}

/* A new authenticated connection to the server. */
static int open_conn(wv_manager_t *m, wv_stream_t **out, int64_t deadline)
{
    wv_sock_t *sock;
    int err = connect_sock(m, &sock, deadline);
    if (err)
        return err;
    int fd = sock->fd; /* the stream takes the descriptor over */
    sock->fd = -1;
    wv_sock_free(sock);
    /* A request goes out with the read of its reply: one system call
     * where the caller's loop or thread can pair them (not over TLS). */
    wv_stream_opts_t so = {.flush_on_read = true};
    if (m->opts.tls) {
        const char *name = m->server_name ? m->server_name : m->host;
        wv_tls_opts_t to = {.stream = so};
        err = wv_tls_client(out, &to, m->opts.tls, fd,
                            name ? name : "127.0.0.1", deadline);
    } else {
        err = wv_stream_new(out, &so, fd);
    }
    if (err) {
        close(fd);
        return err;
    }
    if ((err = wv__mgr_auth_client(*out, &m->auth, deadline))) {
        wv_stream_free(*out);
        *out = NULL;
    }
    return err;
}

/* Sends one request on s and reads its reply. */
static int roundtrip(wv_manager_t *m, wv_stream_t *s, const wv_obj_t *ident,
                     const char *method, const wv_obj_t *args,
                     const wv_obj_t *kwds, enum mgr_reply *kind,
                     wv_obj_t **value, int64_t deadline)
{
    char scratch[WV__MGR_SCRATCH], *buf;
    size_t len;
    int err =
        wv__mgr_encode_request(ident, method, args, kwds, scratch, &buf, &len);
    if (err)
        return err;
    /* Not flushed: the reply's read writes it out (flush_on_read). */
    if ((err = wv__mgr_send_buf(s, buf, len, scratch, false, deadline)))
        return err;
    /* The reply in the same buffer, when it fits. */
    if ((err = wv__mgr_recv_frame_into(s, m->opts.max_frame, scratch,
                                       sizeof scratch, &buf, &len, deadline)))
        return err == WV_EOF ? WV_ECONNRESET : err;
    err = wv__mgr_decode_reply(buf, len, &m->opts.limits, kind, value);
    if (buf != scratch)
        wv__free(buf);
    return err;
}

/* A control request on a connection of its own. */
static int control(wv_manager_t *m, const char *method, const wv_obj_t *args,
                   enum mgr_reply *kind, wv_obj_t **value, int64_t deadline)
{
    wv_stream_t *s;
    int err = open_conn(m, &s, deadline);
    if (err)
        return err;
    err = roundtrip(m, s, NULL, method, args, NULL, kind, value, deadline);
    wv_stream_free(s);
    return err;
}

/* A tuple of one STR. */
static int str_args(wv_obj_t **out, const char *s)
{
    wv_obj_t *v;
    int err = wv_obj_new_tuple(out, 1);
    if (err)
        return err;
    if ((err = wv_obj_new_str(&v, s, strlen(s)))) {
        wv_obj_free(*out);
        return err;
    }
    if ((err = wv_obj_append(*out, v))) {
        wv_obj_free(v);
        wv_obj_free(*out);
    }
    return err;
}

/* A reply that is no #RETURN as an error code; *value stays for the
 * caller (the exception or text). */
static int reply_err(enum mgr_reply kind)
{
    if (kind == MGR_RETURN)
        return 0;
    return kind == MGR_PROXY ? WV_ENOTSUP : WV_EREMOTE;
}

int wv_manager_connect(wv_manager_t **out, const wv_manager_opts_t *opts,
                       int64_t deadline)
{
    wv_manager_t *m;
    int err = wv__mgr_alloc(&m, opts, true);
    if (err)
        return err;
    enum mgr_reply kind;
    wv_obj_t *value;
    if (opts->url) {
        err = wv__redis_open(m, opts, deadline);
    } else if (!(err = control(m, "dummy", NULL, &kind, &value, deadline))) {
        err = reply_err(kind);
        wv_obj_free(value);
    }
    if (err) {
        wv_manager_free(m);
        return err;
    }
    *out = m;
    return 0;
}

int wv__mgr_client_shutdown(wv_manager_t *m, int64_t deadline)
{
    if (m->redis)
        return WV_ENOTSUP; /* no one to ask: Redis serves others too */
    enum mgr_reply kind;
    wv_obj_t *value;
    int err = control(m, "shutdown", NULL, &kind, &value, deadline);
    if (!err) {
        err = reply_err(kind);
        wv_obj_free(value);
    }
    return err;
}

void wv__mgr_client_close(wv_manager_t *m)
{
    wv_stream_free(m->conn);
    m->conn = NULL;
}

/* A method call on the method connection (opened if needed). */
int wv__mgr_method(wv_proxy_t *p, const char *method, const wv_obj_t *args,
                   const wv_obj_t *kwds, enum mgr_reply *kind, wv_obj_t **value,
                   int64_t deadline)
{
    wv_manager_t *m = p->mgr;
    int err = wv_lock_acquire(&m->call_lock, deadline);
    if (err)
        return err;
    if (!m->conn) {
        wv_obj_t *name;
        if (!(err = open_conn(m, &m->conn, deadline)) &&
            !(err = str_args(&name, "MainProcess"))) {
            wv_obj_t *v;
            err = roundtrip(m, m->conn, NULL, "accept_connection", name, NULL,
                            kind, &v, deadline);
            wv_obj_free(name);
            if (!err) {
                err = reply_err(*kind);
                wv_obj_free(v);
            }
        }
        if (err)
            wv__mgr_client_close(m);
    }
    if (!err) {
        err = roundtrip(m, m->conn, p->name, method, args, kwds, kind, value,
                        deadline);
        if (err) /* out of step, or broken */
            wv__mgr_client_close(m);
    }
    wv_lock_release(&m->call_lock);
    return err;
}

/* ---------------------------------------------------------- proxies */

/* The server's "create": the object's ident. */
static int remote_create(wv_proxy_t *p, const char *typeid, int64_t deadline)
{
    wv_obj_t *args, *value;
    enum mgr_reply kind;
    int err = str_args(&args, typeid);
    if (err)
        return err;
    err = control(p->mgr, "create", args, &kind, &value, deadline);
    wv_obj_free(args);
    if (err)
        return err;
    if (kind != MGR_RETURN) {
        /* CPython: KeyError for an unknown typeid, in its traceback. */
        bool missing = value && value->kind == WV_OBJ_STR &&
                       strstr(value->u.s.data, "KeyError");
        wv_obj_free(value);
        return missing ? WV_ENOENT : WV_EREMOTE;
    }
    const wv_obj_t *ident = NULL;
    if (value->kind == WV_OBJ_TUPLE && value->u.seq.len == 2)
        ident = value->u.seq.items[0];
    err = WV_EPROTO;
    if (ident && ident->kind == WV_OBJ_STR) {
        p->name = wv_obj_ref((wv_obj_t *)ident);
        p->ident = p->name->u.s.data;
        err = 0;
    }
    wv_obj_free(value);
    return err;
}

int wv_manager_proxy(wv_manager_t *m, const char *typeid, wv_proxy_t **out,
                     int64_t deadline)
{
    if (!m || !typeid || !out)
        return WV_EINVAL;
    wv_proxy_t *p = wv__calloc(1, sizeof *p);
    if (!p)
        return WV_ENOMEM;
    p->mgr = m;
    int err = WV_ENOMEM;
    if ((p->typeid = wv__mgr_strdup(typeid))) {
        if (m->redis) {
            err = wv__redis_proxy_new(m->redis, typeid, &p->rq, deadline);
        } else if (m->is_client) {
            err = remote_create(p, typeid, deadline);
        } else {
            p->obj = wv__mgr_find_typeid(m, typeid);
            p->ident = p->obj ? p->obj->ident : NULL;
            err = p->obj ? 0 : WV_ENOENT;
        }
    }
    if (err) {
        wv__free(p->typeid);
        wv__free(p);
        return err;
    }
    *out = p;
    return 0;
}

void wv_proxy_free(wv_proxy_t *p)
{
    if (!p)
        return;
    wv__redis_proxy_free(p->rq);
    if (p->name) { /* decref, as a Python proxy's finalizer: errors are
                      ignored (the server may be gone) */
        wv_obj_t *args, *value;
        enum mgr_reply kind;
        if (str_args(&args, p->ident) == 0) {
            if (control(p->mgr, "decref", args, &kind, &value,
                        wv_deadline_in(1000)) == 0)
                wv_obj_free(value);
            wv_obj_free(args);
        }
        wv_obj_free(p->name);
    }
    wv__free(p->typeid);
    wv__free(p);
}

const char *wv_proxy_typeid(const wv_proxy_t *p)
{
    return p ? p->typeid : NULL;
}

const char *wv_proxy_ident(const wv_proxy_t *p)
{
    if (p && p->rq)
        return wv__redis_proxy_key(p->rq);
    return p ? p->ident : NULL;
}

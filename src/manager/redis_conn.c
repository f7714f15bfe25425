/*
 * manager/redis_conn.c - a connection to Redis for the redis:// backend
 * (rconn.h): the url, connecting (TCP or TLS) with AUTH and SELECT,
 * reconnection with back-off, commands and replies.
 *
 * hiredis does the protocol only: redisFormatCommandArgv builds each
 * command and a redisReader parses the replies, with object functions of
 * ours (weave's allocator, a cap on an array's length).  The I/O is
 * weave's: a socket connected with a deadline, a wv_stream_t (or a TLS
 * stream for rediss://), so that every call has a deadline and a
 * coroutine caller parks.  Rejected: hiredis's own I/O.  Its blocking
 * context (redisConnectWithTimeout) blocks the thread under a coroutine
 * and has one timeout for all calls, not a deadline per call; its async
 * context needs an adapter to an event loop per thread and callbacks,
 * and 0.14 (Debian's) has no TLS at all.
 */
#include "rconn.h"

#include "mgr.h"

#include "../net/internal.h"

#include <hiredis/hiredis.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define BACKOFF_MIN_MS 20
#define BACKOFF_MAX_MS 1000

/* ----------------------------------------------------------- replies */

/* Links a new object into its parent array, as hiredis's own do. */
static void *linked(const redisReadTask *task, struct rreply *r)
{
    if (task->parent) {
        struct rreply *parent = task->parent->obj;
        parent->element[task->idx] = r;
    }
    return r;
}

static struct rreply *new_reply(int type)
{
    struct rreply *r = wv__calloc(1, sizeof *r);
    if (r)
        r->type = type;
    return r;
}

static void *create_string(const redisReadTask *task, char *str, size_t len)
{
    struct rreply *r = new_reply(task->type);
    if (!r || !(r->str = wv__malloc(len + 1))) {
        wv__free(r);
        return NULL;
    }
    memcpy(r->str, str, len);
    r->str[len] = '\0';
    r->len = len;
    return linked(task, r);
}

static void *create_array(const redisReadTask *task, int elements)
{
    /* hiredis 0.14 passes a count read as long long through an int: a
     * server's huge or negative count must not become an allocation. */
    if (elements < 0 || elements > RC_MAX_ELEMENTS)
        return NULL;
    struct rreply *r = new_reply(RC_ARRAY);
    if (!r)
        return NULL;
    if (elements > 0 &&
        !(r->element = wv__calloc((size_t)elements, sizeof *r->element))) {
        wv__free(r);
        return NULL;
    }
    r->elements = (size_t)elements;
    return linked(task, r);
}

static void *create_integer(const redisReadTask *task, long long value)
{
    struct rreply *r = new_reply(RC_INT);
    if (!r)
        return NULL;
    r->integer = value;
    return linked(task, r);
}

static void *create_nil(const redisReadTask *task)
{
    struct rreply *r = new_reply(RC_NIL);
    return r ? linked(task, r) : NULL;
}

void wv__rc_reply_free(struct rreply *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->elements; i++)
        wv__rc_reply_free(r->element[i]);
    wv__free(r->element);
    wv__free(r->str);
    wv__free(r);
}

static void free_object(void *r)
{
    wv__rc_reply_free(r);
}

static redisReplyObjectFunctions reply_fns = {
    create_string, create_array, create_integer, create_nil, free_object};

redisReader *wv__rc_reader_new(void)
{
    return redisReaderCreateWithFunctions(&reply_fns);
}

int wv__rc_error(const struct rreply *r)
{
    static const struct {
        const char *prefix;
        int err;
    } codes[] = {{"NOAUTH", WV_EAUTH},    {"WRONGPASS", WV_EAUTH},
                 {"LOADING", WV_EAGAIN},  {"BUSY ", WV_EAGAIN},
                 {"TRYAGAIN", WV_EAGAIN}, {"MASTERDOWN", WV_EAGAIN},
                 {"NOGROUP", WV_ENOENT}};
    if (!r || r->type != RC_ERROR)
        return 0;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strncmp(r->str, codes[i].prefix, strlen(codes[i].prefix)) == 0)
            return codes[i].err;
    /* Redis 5's answer to a wrong password, and to AUTH without one. */
    if (strstr(r->str, "invalid password") ||
        strstr(r->str, "without any password"))
        return WV_EAUTH;
    return WV_EREMOTE;
}

/* ---------------------------------------------------------- the wire */

bool wv__rc_is_conn_err(int err)
{
    return err == WV_EOF || err == WV_ECONNRESET || err == WV_EPIPE ||
           err == WV_ETIMEDOUT || err == WV_EAGAIN || err == WV_EPROTO ||
           err == WV_ECANCELED || err == WV_ENOTCONN || err == WV_EBADF;
}

void wv__rc_drop(struct rconn *c)
{
    wv_stream_free(c->s);
    c->s = NULL;
    if (c->reader)
        redisReaderFree(c->reader);
    c->reader = NULL;
    c->skip = 0;
}

void wv__rc_free(struct rconn *c)
{
    wv__rc_drop(c);
    wv__free(c->replay);
    c->replay = NULL;
    c->replay_len = c->replay_cap = c->replay_cmds = 0;
}

static int keep_for_replay(struct rconn *c, const char *cmd, size_t len)
{
    if (c->replay_len + len > c->replay_cap) {
        size_t cap = c->replay_cap ? c->replay_cap : 256;
        while (cap < c->replay_len + len)
            cap *= 2;
        char *grown = wv__realloc(c->replay, cap);
        if (!grown)
            return WV_ENOMEM;
        c->replay = grown;
        c->replay_cap = cap;
    }
    memcpy(c->replay + c->replay_len, cmd, len);
    c->replay_len += len;
    c->replay_cmds++;
    return 0;
}

int wv__rc_send(struct rconn *c, int argc, const char **argv,
                const size_t *lens, bool later, int64_t deadline)
{
    char *cmd;
    int len = redisFormatCommandArgv(&cmd, argc, argv, lens);
    if (len < 0)
        return WV_ENOMEM;
    int err = later ? keep_for_replay(c, cmd, (size_t)len) : 0;
    if (!err)
        err = wv_stream_write(c->s, cmd, (size_t)len, NULL, deadline);
    if (!err && later)
        c->skip++;
    redisFreeCommand(cmd);
    return err;
}

int wv__rc_flush(struct rconn *c, int64_t deadline)
{
    return wv_stream_drain(c->s, deadline);
}

/* The next reply, whatever it answers. */
static int next_reply(struct rconn *c, struct rreply **out, int64_t deadline)
{
    for (;;) {
        void *reply = NULL;
        if (redisReaderGetReply(c->reader, &reply) != REDIS_OK)
            return c->reader->err == REDIS_ERR_OOM ? WV_ENOMEM : WV_EPROTO;
        if (reply) {
            *out = reply;
            return 0;
        }
        if (c->reader->len - c->reader->pos > RC_MAX_PENDING)
            return WV_EPROTO;
        const void *data;
        size_t len;
        int err = wv_stream_peek(c->s, &data, &len, deadline);
        if (err)
            return err == WV_EOF ? WV_ECONNRESET : err;
        if (redisReaderFeed(c->reader, data, len) != REDIS_OK)
            return WV_ENOMEM;
        wv_stream_consume(c->s, len);
    }
}

int wv__rc_reply(struct rconn *c, struct rreply **out, int64_t deadline)
{
    while (c->skip > 0) {
        struct rreply *r;
        int err = next_reply(c, &r, deadline);
        if (err)
            return err;
        wv__rc_reply_free(r);
        if (--c->skip == 0) /* every fire-and-forget command answered */
            c->replay_len = c->replay_cmds = 0;
    }
    return next_reply(c, out, deadline);
}

/* ------------------------------------------------------- connecting */

static int connect_stream(struct rconn *c, int64_t deadline)
{
    const struct mgr_redis *cfg = c->cfg;
    wv_sock_t *sock;
    int err = wv_tcp_connect(&sock, NULL, cfg->host, cfg->port, deadline);
    if (err)
        return err;
    int fd = sock->fd; /* the stream takes the descriptor over */
    sock->fd = -1;
    wv_sock_free(sock);
    if (cfg->tls) {
        const char *name = cfg->server_name ? cfg->server_name : cfg->host;
        err = wv_tls_client(&c->s, NULL, cfg->tls_ctx, fd, name, deadline);
    } else {
        err = wv_stream_new(&c->s, NULL, fd);
    }
    if (err)
        close(fd);
    return err;
}

/* AUTH, SELECT and PING, pipelined, and their replies checked. */
static int handshake(struct rconn *c, int64_t deadline)
{
    const struct mgr_redis *cfg = c->cfg;
    char db[24];
    int err = 0, sent = 0;
    if (cfg->password) {
        const char *argv[] = {"AUTH", cfg->user, cfg->password};
        if (cfg->user)
            err = wv__rc_send(c, 3, argv, NULL, false, deadline);
        else
            err = wv__rc_send(c, 2, (const char *[]){"AUTH", cfg->password},
                              NULL, false, deadline);
        sent++;
    }
    if (!err && cfg->db) {
        snprintf(db, sizeof db, "%ld", cfg->db);
        err = wv__rc_send(c, 2, (const char *[]){"SELECT", db}, NULL, false,
                          deadline);
        sent++;
    }
    if (!err)
        err =
            wv__rc_send(c, 1, (const char *[]){"PING"}, NULL, false, deadline);
    sent++;
    if (!err)
        err = wv__rc_flush(c, deadline);
    for (int i = 0; i < sent && !err; i++) {
        struct rreply *r;
        if ((err = next_reply(c, &r, deadline)))
            break;
        err = wv__rc_error(r);
        if (err == WV_EREMOTE && i < sent - 1 && cfg->db)
            err = WV_EINVAL; /* SELECT: no such db */
        if (!err && i == sent - 1 &&
            !(r->type == RC_STATUS && strcmp(r->str, "PONG") == 0))
            err = WV_EPROTO;
        wv__rc_reply_free(r);
    }
    return err;
}

int wv__rc_open(struct rconn *c, int64_t deadline)
{
    wv__rc_drop(c);
    if (!(c->reader = wv__rc_reader_new()))
        return WV_ENOMEM;
    int err = connect_stream(c, deadline);
    if (!err)
        err = handshake(c, deadline);
    if (!err && c->replay_len) { /* acknowledgements not yet answered */
        err = wv_stream_write(c->s, c->replay, c->replay_len, NULL, deadline);
        c->skip = c->replay_cmds;
    }
    if (err)
        wv__rc_drop(c);
    return err;
}

static bool is_permanent(int err)
{
    return err == WV_EAUTH || err == WV_EPROTO || err == WV_ECERT ||
           err == WV_EINVAL || err == WV_ENOMEM || err == WV_ECANCELED ||
           err == WV_EAI_NONAME || err == WV_EAI_FAIL;
}

/* true if the idle connection's peer has gone: its end or a reset is
 * waiting to be read (a server that restarted while we sat idle). */
static bool is_stale(struct rconn *c)
{
    /* The replies of fire-and-forget commands that are here already go
     * first: behind them may wait the end of a server gone since, and a
     * request written after them would be in doubt for nothing. */
    while (c->skip > 0) {
        struct rreply *r;
        int err = next_reply(c, &r, WV_NOWAIT);
        if (err == WV_EAGAIN)
            return false; /* not all here yet: the connection lives */
        if (err)
            return true;
        wv__rc_reply_free(r);
        if (--c->skip == 0)
            c->replay_len = c->replay_cmds = 0;
    }
    if (wv_stream_read_pending(c->s) > 0)
        return false;
    const void *data;
    size_t len;
    int err = wv_stream_peek(c->s, &data, &len, WV_NOWAIT);
    return err && err != WV_EAGAIN;
}

int wv__rc_ensure(struct rconn *c, int64_t deadline)
{
    if (c->s && !is_stale(c))
        return 0;
    for (;;) {
        int64_t attempt = deadline == 0 ? wv_deadline_in(2000) : deadline;
        int err = wv__rc_open(c, attempt);
        if (!err) {
            c->backoff_ms = 0;
            return 0;
        }
        if (is_permanent(err))
            return err;
        int64_t now = wv_now();
        if (deadline == 0 || (deadline > 0 && now >= deadline))
            return err == WV_EAGAIN ? WV_ETIMEDOUT : err;
        c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (c->backoff_ms > BACKOFF_MAX_MS)
            c->backoff_ms = BACKOFF_MAX_MS;
        int64_t until = now + c->backoff_ms;
        if (deadline > 0 && until > deadline)
            until = deadline;
        int serr = wv_sleep_until(until);
        if (serr)
            return serr;
        if (until == deadline) /* no time for another attempt */
            return err == WV_EAGAIN ? WV_ETIMEDOUT : err;
    }
}

/* --------------------------------------------------------- the url */

/* Copies s[0..n) with %XX decoded, or NULL. */
static char *unescape(const char *s, size_t n)
{
    char *out = wv__malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2]) &&
            sscanf(s + i + 1, "%2x", &v) == 1) {
            *o++ = (char)v;
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

/* redis://[[user]:password@]host[:port][/db] into r. */
static int parse_url(struct mgr_redis *r, const char *url)
{
    const char *p;
    if (strncmp(url, "redis://", 8) == 0) {
        p = url + 8;
    } else if (strncmp(url, "rediss://", 9) == 0) {
        p = url + 9;
        r->tls = true;
    } else {
        return WV_EINVAL;
    }
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon)
            return WV_EINVAL; /* a user without a password */
        if (colon > p && !(r->user = unescape(p, (size_t)(colon - p))))
            return WV_ENOMEM;
        if (at > colon + 1 && /* "redis://:@host": no password */
            !(r->password = unescape(colon + 1, (size_t)(at - colon - 1))))
            return WV_ENOMEM;
        p = at + 1;
    }
    const char *host = p, *end;
    if (*p == '[') { /* [ipv6] */
        host = p + 1;
        if (!(end = strchr(host, ']')))
            return WV_EINVAL;
        p = end + 1;
    } else {
        end = p + strcspn(p, ":/");
        p = end;
    }
    if (end == host)
        return WV_EINVAL;
    if (!(r->host = unescape(host, (size_t)(end - host))))
        return WV_ENOMEM;
    r->port = 6379;
    char *rest;
    if (*p == ':') {
        unsigned long port = strtoul(p + 1, &rest, 10);
        if (rest == p + 1 || port == 0 || port > 65535)
            return WV_EINVAL;
        r->port = (uint16_t)port;
        p = rest;
    }
    if (*p == '/' && p[1]) {
        long db = strtol(p + 1, &rest, 10);
        if (rest == p + 1 || *rest || db < 0)
            return WV_EINVAL;
        r->db = db;
    } else if (*p && strcmp(p, "/") != 0) {
        return WV_EINVAL;
    }
    return 0;
}

static int configure(struct mgr_redis *r, const wv_manager_opts_t *opts)
{
    int err = parse_url(r, opts->url);
    if (err)
        return err;
    const char *prefix = opts->redis_prefix ? opts->redis_prefix : "weave";
    if (!*prefix || !(r->prefix = wv__mgr_strdup(prefix)))
        return *prefix ? WV_ENOMEM : WV_EINVAL;
    if (opts->tls_server_name &&
        !(r->server_name = wv__mgr_strdup(opts->tls_server_name)))
        return WV_ENOMEM;
    if (r->tls) {
        r->tls_ctx = opts->tls;
        if (!r->tls_ctx) {
            if ((err = wv_tls_ctx_new(&r->tls_ctx, NULL)))
                return err;
            r->own_ctx = true;
        }
    }
    char host[64] = "";
    uint32_t rnd = 0;
    gethostname(host, sizeof host - 1);
    if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        rnd = (uint32_t)wv_now();
    snprintf(r->consumer_base, sizeof r->consumer_base, "%s:%ld:%08x", host,
             (long)getpid(), rnd);
    return 0;
}

void wv__redis_close(struct mgr_redis *r)
{
    if (!r)
        return;
    if (r->own_ctx)
        wv_tls_ctx_free(r->tls_ctx);
    if (r->password)
        memset(r->password, 0, strlen(r->password));
    wv__free(r->host);
    wv__free(r->user);
    wv__free(r->password);
    wv__free(r->server_name);
    wv__free(r->prefix);
    wv__free(r);
}

int wv__redis_open(wv_manager_t *m, const wv_manager_opts_t *opts,
                   int64_t deadline)
{
    struct mgr_redis *r = wv__calloc(1, sizeof *r);
    if (!r)
        return WV_ENOMEM;
    int err = configure(r, opts);
    if (!err) { /* one attempt: a wrong password or url is said at once */
        struct rconn c = {.cfg = r};
        err = wv__rc_open(&c, deadline);
        wv__rc_free(&c);
    }
    if (err) {
        wv__redis_close(r);
        return err;
    }
    m->redis = r;
    return 0;
}

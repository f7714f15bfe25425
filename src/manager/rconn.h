/*
 * manager/rconn.h - one connection to a Redis server (redis_conn.c), for
 * redis_queue.c: RESP commands formatted by hiredis, written into a weave
 * stream (TCP or TLS) and answered through hiredis's reader into reply
 * trees of our own (struct rreply, weave's allocator, bounded sizes).
 *
 * Every wait has the caller's deadline and goes through the stream: a
 * thread blocks, a coroutine parks.  Nothing here retries a command:
 * redis_queue.c decides, per command, what a broken connection means.
 *
 * Fire-and-forget commands (the XACK + XDEL after a plain get): written
 * at once, their replies read and dropped before the next command's
 * reply (c->skip).  Their bytes are kept (c->replay) until those replies
 * came, and written again first thing after a reconnect: they are
 * idempotent, and so an acknowledgement is never lost with a connection.
 */
#ifndef WEAVE_MANAGER_RCONN_H
#define WEAVE_MANAGER_RCONN_H

#include "weave/manager.h"
#include "weave/stream.h"

#include <hiredis/read.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_NIL    REDIS_REPLY_NIL
#define RC_STRING REDIS_REPLY_STRING
#define RC_ARRAY  REDIS_REPLY_ARRAY
#define RC_INT    REDIS_REPLY_INTEGER
#define RC_STATUS REDIS_REPLY_STATUS
#define RC_ERROR  REDIS_REPLY_ERROR

/* The most elements of one array, and bytes of one reply buffered
 * before it is complete, taken from a server: beyond, WV_EPROTO. */
#define RC_MAX_ELEMENTS (1 << 20)
#define RC_MAX_PENDING  ((size_t)512 << 20)

/* A reply: hiredis's redisReply, made with weave's allocator. */
struct rreply {
    int type;          /* RC_* */
    long long integer; /* RC_INT */
    char *str;         /* RC_STRING, RC_STATUS, RC_ERROR: NUL-ended */
    size_t len;        /* of str */
    size_t elements;   /* RC_ARRAY */
    struct rreply **element;
};

/* A client manager's Redis configuration (immutable once connected). */
struct mgr_redis {
    char *host; /* a name or numeric address, no brackets */
    uint16_t port;
    char *user;     /* NULL: AUTH with the password only */
    char *password; /* NULL: no AUTH */
    long db;        /* SELECT db unless 0 */
    bool tls;       /* rediss:// */
    wv_tls_ctx_t *tls_ctx;
    bool own_ctx;           /* tls_ctx made here (the system's trust store) */
    char *server_name;      /* TLS: the name checked (NULL: host) */
    char *prefix;           /* the streams' key prefix */
    char consumer_base[96]; /* "<hostname>:<pid>:<random>" */
    uint64_t next_consumer; /* [atomic] proxies made so far */
};

/* A connection; zeroed = not connected. */
struct rconn {
    const struct mgr_redis *cfg;
    wv_stream_t *s;      /* NULL: not connected */
    redisReader *reader; /* with s */
    size_t skip;         /* replies to drop before the next one */
    char *replay;        /* fire-and-forget commands not yet answered */
    size_t replay_len, replay_cap;
    size_t replay_cmds; /* commands in replay */
    int64_t backoff_ms; /* the next wait before a reconnect */
};

/* Errors of a connection that is gone or out of step: after one, the
 * caller drops the connection. */
bool wv__rc_is_conn_err(int err);

/* One attempt to connect: TCP or TLS, AUTH, SELECT, PING, then the
 * replay.  Errors: WV_EAUTH (refused password, or NOAUTH), WV_EPROTO
 * (no Redis: a reply that does not parse or is not PONG), WV_EAGAIN
 * (the server is loading its data: try later), the connection's. */
int wv__rc_open(struct rconn *c, int64_t deadline);
/* Connected, or connects with back-off (20 ms doubling to 1 s) until
 * the deadline; a permanent error (WV_EAUTH, WV_EPROTO, WV_ECERT,
 * WV_EINVAL, WV_ENOMEM) at once; at the deadline the last attempt's
 * error.  A connection whose peer is already gone (a server restarted
 * while it sat idle) is dropped and made again first. */
int wv__rc_ensure(struct rconn *c, int64_t deadline);
/* Drops the connection (the replay stays for the next). */
void wv__rc_drop(struct rconn *c);
/* Drops it and frees the replay. */
void wv__rc_free(struct rconn *c);

/* Buffers one command (argv[i] of lens[i] bytes); may write when the
 * buffer is full.  With later, its reply will be dropped unread and its
 * bytes are kept for a replay. */
int wv__rc_send(struct rconn *c, int argc, const char **argv,
                const size_t *lens, bool later, int64_t deadline);
/* Writes out what is buffered. */
int wv__rc_flush(struct rconn *c, int64_t deadline);
/* The next reply (those of fire-and-forget commands dropped first), to
 * free with wv__rc_reply_free.  Errors: the stream's, WV_ECONNRESET for
 * its end, WV_EPROTO (does not parse, too large), WV_ENOMEM. */
int wv__rc_reply(struct rconn *c, struct rreply **out, int64_t deadline);
void wv__rc_reply_free(struct rreply *r);

/* An error reply's code: WV_EAUTH (NOAUTH, WRONGPASS), WV_EAGAIN
 * (LOADING, BUSY, TRYAGAIN, MASTERDOWN: the command did not run, try
 * later), WV_ENOENT (NOGROUP), WV_EREMOTE (anything else); 0 for a
 * reply that is no error. */
int wv__rc_error(const struct rreply *r);

/* The reader's functions, for the fuzz target: a reader that makes
 * struct rreply trees. */
redisReader *wv__rc_reader_new(void);

#endif /* WEAVE_MANAGER_RCONN_H */

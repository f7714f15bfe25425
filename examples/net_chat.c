/*
 * A chat server: every line a member says goes to every other member,
 * never back to its sender; members join and leave at any time.
 *
 *     members = {}                     # writer -> its outbox
 *
 *     async def deliver(writer, outbox):
 *         while (line := await outbox.get()) is not None:
 *             writer.write(line); await writer.drain()
 *
 *     async def handle(reader, writer):
 *         name = (await reader.readline()).split()[1]
 *         outbox = asyncio.Queue(OUTBOX)
 *         members[writer] = outbox
 *         task = asyncio.create_task(deliver(writer, outbox))
 *         while line := await reader.readline():
 *             for w, box in members.items():
 *                 if w is not writer:
 *                     box.put_nowait(b"%s: %s" % (name, line))
 *         del members[writer]; outbox.put_nowait(None); await task
 *
 *     server = await asyncio.start_server(handle, "127.0.0.1", 0)
 *
 * One slow member cannot hold up the others: each member has an outbox,
 * a buffered channel of OUTBOX lines, and a writer coroutine of its own
 * that empties it into the member's socket.  A broadcast only puts the
 * line into each outbox without waiting (WV_NOWAIT); a member whose
 * outbox is full has stopped reading: its outbox is closed and it is
 * dropped (its writer sends what the outbox holds, then shuts the
 * connection down for writing: its client reads the end), as Redis drops
 * a client past its output buffer limit, rather than stalling every
 * sender behind it.  Everything runs on one thread, so the member list
 * needs no lock: a coroutine switches only where it waits, and the
 * broadcast loop never waits.
 *
 * Six clients on the same thread: alice, bob, carol and dave stay; eve
 * says her lines and leaves in order (shuts down her side, reads to the
 * end); frank joins and vanishes with a reset before anyone speaks.
 * Every client waits for all six to have joined, then says ROUND lines;
 * the four who stay wait for "* eve left" and say ROUND more.  Each
 * checks it got exactly the others' lines, each sender's in order, and
 * none of its own.
 */
#include <weave.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define OUTBOX      256 /* lines a member's outbox holds */
#define MAX_MEMBERS 16
#define LINE        256 /* longest line, "\n" included */
#define ROUND       10  /* lines each client says per round */
#define CLIENTS     6
#define STAYERS     4 /* alice, bob, carol, dave */

static const int64_t LIMIT = 20000; /* ms: no wait of this demo lasts longer */

/* ------------------------------------------------------------ the server */

/* A line in an outbox: channels copy values, so the text travels along. */
struct line {
    size_t len;
    char text[LINE];
};

struct member {
    char name[32];
    wv_chan_t *outbox; /* struct line values; closed: dropped or leaving */
    wv_sock_t *conn;   /* the server's; the writer writes, the handler reads */
};

/* The members now: touched only by this thread's coroutines, never
 * across a wait. */
static struct member *members[MAX_MEMBERS];
static int dropped; /* members dropped for a full outbox */

static bool member_add(struct member *m)
{
    for (int i = 0; i < MAX_MEMBERS; i++)
        if (!members[i]) {
            members[i] = m;
            return true;
        }
    return false;
}

static void member_remove(struct member *m)
{
    for (int i = 0; i < MAX_MEMBERS; i++)
        if (members[i] == m)
            members[i] = NULL;
}

/* Fills l with the text of fmt (cut to LINE - 1 bytes). */
static void line_printf(struct line *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->text, sizeof l->text, fmt, ap);
    va_end(ap);
    l->len = n < 0 ? 0 : n < (int)sizeof l->text ? (size_t)n : LINE - 1;
}

/* Puts l into every outbox but from's, without waiting. */
static void broadcast(const struct member *from, const struct line *l)
{
    for (int i = 0; i < MAX_MEMBERS; i++) {
        struct member *m = members[i];
        if (!m || m == from)
            continue;
        if (wv_chan_send(m->outbox, l, WV_NOWAIT) == WV_EAGAIN) {
            wv_chan_close(m->outbox); /* too slow: dropped */
            dropped++;
        }
        /* WV_ESHUTDOWN: closed already (dropped, or its writer failed) */
    }
}

/* The member's writer: its outbox into its socket, until the outbox is
 * closed and empty or the socket fails. */
static void *deliver(void *arg)
{
    struct member *m = arg;
    struct line l;

    while (wv_chan_recv(m->outbox, &l, WV_FOREVER) == 0)
        if (wv_sock_sendall(m->conn, l.text, l.len, NULL,
                            wv_deadline_in(LIMIT)) != 0)
            break;
    /* Gone, or failed: later broadcasts skip it; a dropped member's
     * client sees the end. */
    wv_chan_close(m->outbox);
    wv_sock_shutdown(m->conn, SHUT_WR);
    return NULL;
}

/* Reads "name NAME\n" into m->name: 0 or a WV_E* code. */
static int read_name(wv_stream_t *s, struct member *m)
{
    char line[LINE];
    size_t n;
    int err =
        wv_stream_readline(s, line, sizeof line, &n, wv_deadline_in(LIMIT));
    if (err)
        return err;
    if (n < 7 || memcmp(line, "name ", 5) != 0 || n - 6 >= sizeof m->name)
        return WV_EPROTO;
    memcpy(m->name, line + 5, n - 6);
    m->name[n - 6] = '\0';
    return 0;
}

/* Relays the member's lines until it leaves (or the server stops). */
static void relay(wv_stream_t *s, struct member *m)
{
    char text[LINE];
    struct line l;
    size_t n;

    while (wv_stream_readline(s, text, sizeof text, &n, WV_FOREVER) == 0)
        if (n > 0 && text[n - 1] == '\n') { /* a last line without: dropped */
            line_printf(&l, "%s: %.*s", m->name, (int)n, text);
            broadcast(m, &l);
        }
}

static void handle(wv_sock_t *conn, const wv_addr_t *peer, void *arg)
{
    struct member m = {.conn = conn};
    wv_stream_opts_t borrow = {.borrow_fd = true}; /* the server owns conn */
    wv_stream_t *s;
    wv_coro_t *writer;
    struct line l;

    (void)peer, (void)arg;
    if (wv_stream_new(&s, &borrow, wv_sock_fd(conn)) != 0)
        return;
    if (read_name(s, &m) != 0 ||
        wv_chan_new(&m.outbox, sizeof(struct line), OUTBOX) != 0)
        goto out_stream;
    if (!member_add(&m))
        goto out_chan;
    if (wv_coro_spawn(&writer, NULL, deliver, &m) != 0)
        goto out_remove;
    /* The welcome goes through the outbox too: one writer per socket. */
    line_printf(&l, "* welcome %s\n", m.name);
    wv_chan_send(m.outbox, &l, WV_NOWAIT); /* an empty outbox takes it */
    line_printf(&l, "* %s joined\n", m.name);
    broadcast(&m, &l);
    relay(s, &m);
    member_remove(&m);
    line_printf(&l, "* %s left\n", m.name);
    broadcast(&m, &l);
    wv_chan_close(m.outbox); /* the writer sends the rest, then ends */
    wv_coro_join(writer, NULL, wv_deadline_in(LIMIT));
    wv_coro_free(writer); /* cancels it if the join was cut short */
    goto out_chan;
out_remove:
    member_remove(&m);
out_chan:
    wv_chan_free(m.outbox);
out_stream:
    wv_stream_free(s);
}

/* ----------------------------------------------------------- the clients */

static const char *const names[CLIENTS] = {"alice", "bob", "carol",
                                           "dave",  "eve", "frank"};

struct client {
    int id;
    uint16_t port;
    wv_chan_t *joined, *go; /* the start: every client has joined */
    int got[CLIENTS];       /* lines received from each sender */
    bool ok;                /* exactly the others' lines, in order */
};

static int say(wv_sock_t *s, const char *text)
{
    return wv_sock_sendall(s, text, strlen(text), NULL, wv_deadline_in(LIMIT));
}

static int say_round(wv_sock_t *s, struct client *c, int round)
{
    char text[LINE];
    int err = 0;
    for (int j = 0; j < ROUND && err == 0; j++) {
        snprintf(text, sizeof text, "line %d\n", round * ROUND + j);
        err = say(s, text);
    }
    return err;
}

/* Takes one received line into c->got: false if it is not a line this
 * client should have (its own, out of order, unknown).  *left is set by
 * "* eve left". */
static bool take(struct client *c, const char *line, bool *left)
{
    char name[32];
    int num;

    if (line[0] == '*') {
        *left |= strcmp(line, "* eve left\n") == 0;
        return true;
    }
    if (sscanf(line, "%31[^:]: line %d\n", name, &num) != 2)
        return false;
    for (int k = 0; k < CLIENTS; k++)
        if (strcmp(name, names[k]) == 0) {
            if (k == c->id || num != c->got[k])
                return false;
            c->got[k]++;
            return true;
        }
    return false;
}

/* Whether every line of the others has come: ROUND from eve (one
 * round), 2 * ROUND from each other stayer, none from frank. */
static bool all_came(const struct client *c)
{
    for (int k = 0; k < STAYERS; k++)
        if (k != c->id && c->got[k] < 2 * ROUND)
            return false;
    return c->got[4] >= ROUND;
}

/* Reads lines until all_came(c), or with want_left until "* eve left". */
static bool read_until(wv_stream_t *s, struct client *c, bool want_left)
{
    char line[LINE];
    size_t n;
    bool left = false;

    while (want_left ? !left : !all_came(c)) {
        if (wv_stream_readline(s, line, sizeof line - 1, &n,
                               wv_deadline_in(LIMIT)) != 0)
            return false;
        line[n] = '\0';
        if (!take(c, line, &left))
            return false;
    }
    return true;
}

/* The part after joining, by role. */
static bool chat(wv_sock_t *sock, wv_stream_t *s, struct client *c)
{
    if (c->id == 5) { /* frank: gone at once, with a reset */
        struct linger hard = {.l_onoff = 1, .l_linger = 0};
        setsockopt(wv_sock_fd(sock), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
        return true;
    }
    if (say_round(sock, c, 0) != 0)
        return false;
    if (c->id == 4) { /* eve: leaves in order, reading to the end */
        char buf[LINE];
        size_t n;
        wv_sock_shutdown(sock, SHUT_WR);
        while (wv_stream_read(s, buf, sizeof buf, &n, wv_deadline_in(LIMIT)) ==
               0)
            ;
        return wv_stream_at_eof(s);
    }
    return read_until(s, c, true) && say_round(sock, c, 1) == 0 &&
           read_until(s, c, false);
}

static void *client(void *arg)
{
    struct client *c = arg;
    wv_stream_opts_t borrow = {.borrow_fd = true};
    wv_sock_t *sock;
    wv_stream_t *s;
    char line[LINE], want[64];
    size_t n;

    if (wv_tcp_connect(&sock, NULL, "127.0.0.1", c->port,
                       wv_deadline_in(LIMIT)) != 0)
        return NULL;
    if (wv_stream_new(&s, &borrow, wv_sock_fd(sock)) != 0)
        goto out_sock;
    snprintf(line, sizeof line, "name %s\n", names[c->id]);
    snprintf(want, sizeof want, "* welcome %s\n", names[c->id]);
    if (say(sock, line) != 0 || wv_stream_readline(s, line, sizeof line - 1, &n,
                                                   wv_deadline_in(LIMIT)) != 0)
        goto out_stream;
    line[n] = '\0';
    if (strcmp(line, want) != 0 ||
        wv_chan_send(c->joined, NULL, wv_deadline_in(LIMIT)) != 0 ||
        wv_chan_recv(c->go, NULL, wv_deadline_in(LIMIT)) != WV_EOF)
        goto out_stream;
    c->ok = chat(sock, s, c);
out_stream:
    wv_stream_free(s);
out_sock:
    wv_sock_free(sock);
    return NULL;
}

/* Closes go once all have joined: every client waiting in it wakes. */
static void *starter(void *arg)
{
    struct client *c = arg;
    for (int i = 0; i < CLIENTS; i++)
        if (wv_chan_recv(c->joined, NULL, wv_deadline_in(LIMIT)) != 0)
            break;
    wv_chan_close(c->go);
    return NULL;
}

static int run_clients(uint16_t port, struct client *c)
{
    wv_chan_t *joined, *go;
    wv_group_t *g;
    int err = wv_chan_new(&joined, 0, CLIENTS);

    if (err)
        return err;
    if ((err = wv_chan_new(&go, 0, 0)) != 0)
        goto out_joined;
    if ((err = wv_group_new(&g)) != 0)
        goto out_go;
    for (int i = 0; i < CLIENTS && err == 0; i++) {
        c[i] =
            (struct client){.id = i, .port = port, .joined = joined, .go = go};
        err = wv_group_spawn(g, NULL, client, &c[i]);
    }
    if (err == 0)
        err = wv_group_spawn(g, NULL, starter, &c[0]);
    if (err)
        wv_chan_close(go); /* nobody waits for the start any more */
    int join = wv_group_join(g, wv_deadline_in(2 * LIMIT));
    err = err ? err : join;
    wv_group_free(g);
out_go:
    wv_chan_free(go);
out_joined:
    wv_chan_free(joined);
    return err;
}

int main(void)
{
    wv_addr_t addr;
    wv_server_t *server;
    struct client c[CLIENTS] = {0};
    int ok = 0;

    wv_server_opts_t o = {.addr = &addr};
    if (wv_addr_from_ip(&addr, "127.0.0.1", 0) != 0 ||
        wv_server_new(&server, &o, handle, NULL) != 0 ||
        wv_server_addr(server, &addr) != 0) {
        fprintf(stderr, "cannot start the server\n");
        return 1;
    }
    printf("chat server on port %u\n", (unsigned)wv_addr_port(&addr));
    int err = run_clients(wv_addr_port(&addr), c);
    int stop = wv_server_stop(server, wv_deadline_in(LIMIT));
    wv_server_free(server);
    for (int i = 0; i < CLIENTS; i++) {
        int from = 0, lines = 0;
        for (int k = 0; k < CLIENTS; k++)
            if (c[i].got[k]) {
                from++;
                lines += c[i].got[k];
            }
        if (i < STAYERS)
            printf("%-5s %s: %d lines from %d others\n", names[i],
                   c[i].ok ? "ok" : "FAILED", lines, from);
        else
            printf("%-5s %s: %s\n", names[i], c[i].ok ? "ok" : "FAILED",
                   i == 4 ? "said her lines and left in order"
                          : "joined and left with a reset");
        ok += c[i].ok;
    }
    printf("%d of %d clients ok, %d dropped as too slow\n", ok, CLIENTS,
           dropped);
    return err == 0 && stop == 0 && ok == CLIENTS && dropped == 0 ? 0 : 1;
}

/*
 * net/server.c - asyncio.start_server: an accept loop that runs a handler
 * coroutine per connection, on the calling thread or on N threads of the
 * server's own.
 *
 * Per serving thread (struct lane): a listener, an acceptor coroutine in
 * a group of its own (`accepting`), the handlers in another (`handlers`),
 * and a spare descriptor.  With N > 1 threads each lane binds its own
 * SO_REUSEPORT listener to the same TCP address, so the kernel spreads
 * the connections and no two threads wait on one socket; a Unix address
 * cannot be shared that way, and its lanes wait on the first lane's
 * listener (each thread wakes, one accept wins, the others wait again).
 * docs/net.md, "Servers", has the choice and the rejected options.
 *
 * The connection limit is one counting semaphore over every lane, taken
 * by the acceptor after each accept and given back when a handler ends:
 * beyond the limit, each lane holds the one connection it accepted and
 * the others wait in the kernel's backlog.
 *
 * Out of descriptors: accept fails with EMFILE/ENFILE and the connection
 * stays queued, so a loop that waits for readiness again would spin.  As
 * libuv does, each lane keeps a spare descriptor (/dev/null): it closes
 * it, accepts the connection into the freed number and closes that at
 * once (the client sees its connection end), then opens the spare again.
 *
 * Stopping (wv_server_stop): cancel the acceptors and wait for them (they
 * park in accept, a cancellation point), close the listeners, wait for the
 * handlers until the deadline, cancel those left and wait for them, then
 * join the lanes' threads, whose wv_coro_run returns when nothing is left.
 * Every step works across threads (groups are joined and cancelled from
 * any thread).
 */
#include "internal.h"

#include "weave/coro.h"
#include "weave/sync.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct lane {
    wv_server_t *srv;
    wv_sock_t *listener; /* this lane's, or NULL: lane 0's (shared) */
    wv_thread_t *thread; /* NULL: the creating thread's scheduler */
    wv_group_t *accepting, *handlers;
    int spare; /* a descriptor to give up at EMFILE, or -1 */
    int ready; /* [atomic] the acceptor is spawned (threads: 1; error < 0) */
    wv_event_t started;
};

struct wv_server {
    char *path;     /* a Unix listener's file, removed at the stop */
    dev_t path_dev; /* ... if it is still the one made (stat) */
    ino_t path_ino;
    wv_server_fn fn;
    void *arg;
    size_t stack_size;
    bool limited;
    wv_sem_t slots;  /* free connection slots, when limited */
    uint64_t served; /* [atomic] connections handed to a handler */
    uint64_t shed;   /* [atomic] connections closed at EMFILE */
    uint32_t active; /* [atomic] handlers running */
    bool stopped;    /* wv_server_stop ran */
    unsigned nlanes;
    struct lane lanes[];
};

/* One accepted connection, handed to its handler's coroutine. */
struct conn {
    struct lane *lane;
    wv_sock_t *sock;
    wv_addr_t peer;
};

static wv_sock_t *listener_of(struct lane *l)
{
    return l->listener ? l->listener : l->srv->lanes[0].listener;
}

static void slot_give_back(wv_server_t *s)
{
    if (s->limited)
        wv_sem_release(&s->slots, 1);
}

static void *handle(void *arg)
{
    struct conn *c = arg;
    wv_server_t *s = c->lane->srv;

    s->fn(c->sock, &c->peer, s->arg);
    wv_sock_free(c->sock);
    wv__free(c);
    __atomic_sub_fetch(&s->active, 1, __ATOMIC_RELAXED);
    slot_give_back(s);
    return NULL;
}

/* At EMFILE / ENFILE: takes one queued connection and closes it, by way
 * of the spare descriptor.  Returns whether one was shed. */
static bool shed_one(struct lane *l)
{
    if (l->spare < 0)
        return false;
    close(l->spare);
    l->spare = -1;
    int fd = wv__accept4(wv_sock_fd(listener_of(l)), NULL, NULL,
                         SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
        /* Counted before the close, which its client may see first. */
        __atomic_add_fetch(&l->srv->shed, 1, __ATOMIC_RELAXED);
        close(fd);
    }
    l->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fd >= 0;
}

static void *accept_loop(void *arg)
{
    struct lane *l = arg;
    wv_server_t *s = l->srv;

    for (;;) {
        struct conn *c = wv__malloc(sizeof *c);
        int err =
            c ? wv_sock_accept(listener_of(l), &c->sock, &c->peer, WV_FOREVER)
              : WV_ENOMEM;
        /* The slot after the accept: a loop waiting for one must not
         * leave its listener's queue unserved while another loop holds a
         * slot idle waiting on its own (SO_REUSEPORT pins a connection to
         * one listener).  So each loop holds at most one connection that
         * waits for a slot. */
        if (err == 0 && s->limited &&
            (err = wv_sem_acquire(&s->slots, WV_FOREVER)) != 0)
            wv_sock_free(c->sock); /* cancelled: the server stops */
        else if (err == 0) {
            c->lane = l;
            wv_coro_opts_t o = {.stack_size = s->stack_size};
            __atomic_add_fetch(&s->active, 1, __ATOMIC_RELAXED);
            err = wv_group_spawn(l->handlers, &o, handle, c);
            if (err == 0) {
                __atomic_add_fetch(&s->served, 1, __ATOMIC_RELAXED);
                continue;
            }
            /* No coroutine for it (memory, or stopping): it is closed. */
            __atomic_sub_fetch(&s->active, 1, __ATOMIC_RELAXED);
            wv_sock_free(c->sock);
            slot_give_back(s);
        }
        wv__free(c);
        if (err == WV_ECANCELED)
            return NULL;
        if ((err == WV_EMFILE || err == WV_ENFILE) && shed_one(l))
            continue;
        if (err == WV_EMFILE || err == WV_ENFILE || err == WV_ENOMEM) {
            /* Nothing to shed with: let the handlers free something
             * rather than spin on a ready listener. */
            if (wv_sleep_until(wv_deadline_in(10)) == WV_ECANCELED)
                return NULL;
        }
        /* Anything else (a connection reset while queued, ECONNABORTED,
         * EPROTO...) concerns that connection only: go on. */
    }
}

/* Spawns lane l's acceptor on the calling thread's scheduler. */
static int lane_start(struct lane *l)
{
    l->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int err = wv_group_spawn(l->accepting, NULL, accept_loop, l);
    return err;
}

static int lane_main(void *arg)
{
    struct lane *l = arg;
    int err = lane_start(l);
    __atomic_store_n(&l->ready, err ? err : 1, __ATOMIC_RELEASE);
    wv_event_set(&l->started);
    if (err == 0)
        wv_coro_run(WV_FOREVER);
    return 0;
}

static void lane_destroy(struct lane *l)
{
    wv_group_free(l->accepting);
    wv_group_free(l->handlers);
    wv_sock_free(l->listener);
    if (l->spare >= 0)
        close(l->spare);
}

/* Lane i's listener: its own (lane 0; every lane with SO_REUSEPORT for TCP
 * on several threads), or none (a shared Unix listener). */
static int lane_listen(wv_server_t *s, unsigned i, const wv_server_opts_t *o)
{
    struct lane *l = &s->lanes[i];
    bool tcp = wv_addr_family(o->addr) != AF_UNIX;
    if (i > 0 && !tcp)
        return 0;
    wv_listen_opts_t lo = {
        .backlog = o->backlog,
        .reuseport = tcp && s->nlanes > 1,
        .v6only = o->v6only,
    };
    wv_addr_t at = *o->addr;
    if (i > 0) /* port 0: the one lane 0 got */
        wv_sock_local_addr(s->lanes[0].listener, &at);
    int err = wv_sock_listen(&l->listener, &lo, &at);
    if (err || tcp)
        return err;
    /* A path (not an abstract name): remember the file, to remove it at
     * the stop unless somebody replaced it meanwhile (Python 3.13's
     * cleanup_socket). */
    const struct sockaddr_un *un = (const void *)&at.storage;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    struct stat st;
    if (at.len > off + 1 && un->sun_path[0] != '\0' &&
        stat(un->sun_path, &st) == 0) {
        size_t n = strnlen(un->sun_path, at.len - off);
        if (!(s->path = wv__malloc(n + 1)))
            return WV_ENOMEM;
        memcpy(s->path, un->sun_path, n);
        s->path[n] = '\0';
        s->path_dev = st.st_dev;
        s->path_ino = st.st_ino;
    }
    return 0;
}

/* Removes the Unix listener's file if it is still the one made. */
static void remove_path(wv_server_t *s)
{
    struct stat st;
    if (s->path && stat(s->path, &st) == 0 && st.st_dev == s->path_dev &&
        st.st_ino == s->path_ino)
        unlink(s->path);
    wv__free(s->path);
    s->path = NULL;
}

/* Waits for the acceptors of the first n lanes, after cancelling them. */
static void stop_accepting(wv_server_t *s, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        wv_group_cancel(s->lanes[i].accepting);
    for (unsigned i = 0; i < n; i++)
        if (s->lanes[i].accepting)
            wv_group_join(s->lanes[i].accepting, WV_FOREVER);
}

/* Joins the lanes' threads (their loops end once their coroutines have)
 * and frees everything of the first n lanes, and s. */
static void teardown(wv_server_t *s, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        struct lane *l = &s->lanes[i];
        if (l->handlers) {
            wv_group_cancel(l->handlers);
            wv_group_join(l->handlers, WV_FOREVER);
        }
        if (l->thread) {
            wv_thread_join(l->thread, NULL, WV_FOREVER);
            wv_thread_free(l->thread);
        }
    }
    for (unsigned i = 0; i < n; i++)
        lane_destroy(&s->lanes[i]);
    remove_path(s);
    if (s->limited)
        wv_sem_destroy(&s->slots);
    wv__free(s);
}

int wv_server_new(wv_server_t **out, const wv_server_opts_t *opts,
                  wv_server_fn fn, void *arg)
{
    if (!out || !opts || !opts->addr || !fn ||
        opts->max_connections > UINT32_MAX || opts->threads > 1024)
        return WV_EINVAL;
    unsigned n = opts->threads ? opts->threads : 1;
    wv_server_t *s = wv__calloc(1, sizeof *s + n * sizeof s->lanes[0]);
    if (!s)
        return WV_ENOMEM;
    s->fn = fn;
    s->arg = arg;
    s->stack_size = opts->stack_size;
    s->nlanes = n;
    if ((s->limited = opts->max_connections > 0))
        wv_sem_init(&s->slots, (unsigned)opts->max_connections);

    int err = 0;
    unsigned made = 0;
    while (made < n && !err) {
        struct lane *l = &s->lanes[made++];
        l->srv = s;
        l->spare = -1;
        wv_event_init(&l->started);
        if ((err = wv_group_new(&l->accepting)) == 0 &&
            (err = wv_group_new(&l->handlers)) == 0)
            err = lane_listen(s, made - 1, opts);
    }
    for (unsigned i = 0; i < made && !err; i++) {
        struct lane *l = &s->lanes[i];
        if (!opts->threads) {
            err = lane_start(l);
            continue;
        }
        char name[32];
        snprintf(name, sizeof name, "wv-server-%u", i);
        wv_thread_opts_t to = {.name = name};
        if ((err = wv_thread_start(&l->thread, &to, lane_main, l)) != 0)
            break;
        wv_event_wait(&l->started, WV_FOREVER);
        int r = __atomic_load_n(&l->ready, __ATOMIC_ACQUIRE);
        if (r < 0)
            err = r;
    }
    if (err) {
        stop_accepting(s, made);
        teardown(s, made);
        return err;
    }
    *out = s;
    return 0;
}

int wv_server_addr(const wv_server_t *s, wv_addr_t *out)
{
    if (!s || !out)
        return WV_EINVAL;
    return wv_sock_local_addr(s->lanes[0].listener, out);
}

size_t wv_server_active(const wv_server_t *s)
{
    return s ? __atomic_load_n(&s->active, __ATOMIC_RELAXED) : 0;
}

uint64_t wv_server_served(const wv_server_t *s)
{
    return s ? __atomic_load_n(&s->served, __ATOMIC_RELAXED) : 0;
}

uint64_t wv_server_shed(const wv_server_t *s)
{
    return s ? __atomic_load_n(&s->shed, __ATOMIC_RELAXED) : 0;
}

int wv_server_stop(wv_server_t *s, int64_t deadline)
{
    if (!s || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    if (s->stopped)
        return 0;
    s->stopped = true;
    stop_accepting(s, s->nlanes);
    /* No more connections: those queued in the backlog are reset. */
    for (unsigned i = 0; i < s->nlanes; i++)
        wv_sock_close(s->lanes[i].listener);
    remove_path(s);
    int result = 0;
    for (unsigned i = 0; i < s->nlanes; i++) {
        wv_group_t *h = s->lanes[i].handlers;
        int err = deadline == WV_NOWAIT ? (wv_group_count(h) ? WV_ETIMEDOUT : 0)
                                        : wv_group_join(h, deadline);
        if (err == WV_ECANCELED)
            return err; /* the caller was cancelled: stop again later */
        if (err) {
            result = WV_ETIMEDOUT;
            wv_group_cancel(h);
        }
    }
    for (unsigned i = 0; i < s->nlanes; i++)
        wv_group_join(s->lanes[i].handlers, WV_FOREVER);
    return result;
}

void wv_server_free(wv_server_t *s)
{
    if (!s)
        return;
    if (!s->stopped)
        wv_server_stop(s, WV_NOWAIT);
    teardown(s, s->nlanes);
}

/*
 * loop/loop_linux.c - the loop's Linux backend: descriptor waits on epoll,
 * and the idle wait (futex, or epoll_wait when descriptors are watched)
 * that other threads interrupt.  The timers are portable (loop/timer.c);
 * this file only asks them for the earliest deadline, which bounds the
 * idle wait, and frees or forgets them with the loop.
 *
 * Descriptor waits come in two kinds.  A wait on a descriptor the loop
 * knows nothing about (wv_fdwait: a pipe, a pidfd, anybody's socket) uses
 * a one-shot registration (EPOLLONESHOT), re-armed with EPOLL_CTL_MOD on
 * each wait: one epoll_ctl per wait.  A MOD that finds nothing (ENOENT:
 * that description was closed, or the number names another one now)
 * becomes an ADD, and an ADD that finds an entry (EEXIST) a MOD.
 * A descriptor whose owner keeps a registration word (the network layer's
 * sockets and streams: wv__loop_fd_add_edge) is registered once,
 * edge-triggered, for both directions, and its later waits cost no system
 * call; its owner waits only after an attempt said EAGAIN, so the next
 * edge is what it waits for.
 *
 * The loop never deletes a registration: closing a descriptor's last
 * reference removes it from the set, and one that outlives its number
 * (kept open by a dup or a child) can only report stale events.  Those
 * are told apart by a generation: each ADD for a number takes a new one,
 * which the events carry (epoll data: number | generation << 32) and the
 * number's record holds; an event of another generation is dropped.  The
 * owner's registration word names the epoll set (a process-wide epoch,
 * new for each set made: after a fork or a release, old words name none)
 * and the generation, so a socket whose number was reused by another, or
 * that a wv_fdwait turned one-shot, is registered again.
 *
 * The idle word (l->idle): the owner stores IDLE_FUTEX or IDLE_EPOLL
 * before its last look at its inbox (`pending`), then sleeps; a kicker,
 * after publishing its work, exchanges the word to IDLE_AWAKE and pays for
 * a futex wake or an eventfd write only when the owner announced a sleep.
 * Both sides' accesses are sequentially consistent: one of them sees the
 * other (Dekker).  A kicker that took IDLE_EPOLL writes the eventfd after
 * the owner may have woken for another reason: the owner counts that
 * write as owed when it finds its word already taken, and does not close
 * the eventfd before it has read every owed write, or the kicker's write
 * could land in a descriptor that reused the number.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

enum { IDLE_AWAKE = 0, IDLE_FUTEX = 1, IDLE_EPOLL = 2 };

#define EV_KICK UINT64_MAX /* epoll data of the eventfd */
/* What WV_LOOP_AUTO means where io_uring is usable (docs/net.md). */
#define AUTO_BACKEND WV_LOOP_IO_URING
#define MAX_EVENTS   64
#define EDGE_END     0x80 /* in fdrec.edges: the peer's end or an error came */

static void (*fault_kick)(void); /* wv__fault_kick */

/* ------------------------------------------------------------ backends */

static int backend_set = -1; /* wv_loop_set_backend's, or -1: WEAVE_LOOP */

static wv_loop_backend_t backend_of_env(void)
{
    const char *e = getenv("WEAVE_LOOP");
    if (e && strcmp(e, "epoll") == 0)
        return WV_LOOP_EPOLL;
    if (e && strcmp(e, "io_uring") == 0)
        return WV_LOOP_IO_URING;
    return WV_LOOP_AUTO;
}

int wv_loop_set_backend(wv_loop_backend_t b)
{
    if (b != WV_LOOP_AUTO && b != WV_LOOP_EPOLL && b != WV_LOOP_IO_URING)
        return WV_EINVAL;
    if (b == WV_LOOP_IO_URING && !wv__uring_usable())
        return WV_ENOSYS;
    __atomic_store_n(&backend_set, (int)b, __ATOMIC_RELAXED);
    return 0;
}

wv_loop_backend_t wv_loop_backend(void)
{
    int b = __atomic_load_n(&backend_set, __ATOMIC_RELAXED);
    wv_loop_backend_t want = b >= 0 ? (wv_loop_backend_t)b : backend_of_env();
    if (want == WV_LOOP_EPOLL || !wv__uring_usable())
        return WV_LOOP_EPOLL;
    return want == WV_LOOP_IO_URING ? WV_LOOP_IO_URING : AUTO_BACKEND;
}
/* --------------------------------------------------------- batching */

/* wv_loop_set_batch's completions << 32 | microseconds (0: off), or
 * BATCH_ENV until the environment was read. */
#define BATCH_ENV UINT64_MAX
static uint64_t batch_cfg = BATCH_ENV;

#define BATCH_MAX_N  256     /* the ring's entries */
#define BATCH_MAX_US 1000000 /* a second */

static bool batch_valid(unsigned long n, unsigned long us)
{
    return n >= 2 && n <= BATCH_MAX_N && us >= 1 && us <= BATCH_MAX_US;
}

/* WEAVE_LOOP_BATCH=N,US; anything else (or no kernel for it): off. */
static uint64_t batch_of_env(void)
{
    const char *e = getenv("WEAVE_LOOP_BATCH");
    unsigned long n, us;
    char end;
    if (!e || sscanf(e, "%lu,%lu%c", &n, &us, &end) != 2 ||
        !batch_valid(n, us) || !wv__uring_batch_usable())
        return 0;
    return (uint64_t)n << 32 | us;
}

int wv_loop_set_batch(unsigned completions, unsigned max_wait_us)
{
    uint64_t cfg = 0;
    if (completions || max_wait_us) {
        if (!batch_valid(completions, max_wait_us))
            return WV_EINVAL;
        if (!wv__uring_batch_usable())
            return WV_ENOSYS;
        cfg = (uint64_t)completions << 32 | max_wait_us;
    }
    __atomic_store_n(&batch_cfg, cfg, __ATOMIC_RELAXED);
    return 0;
}

void wv__loop_batch_get(unsigned *n, unsigned *us)
{
    uint64_t cfg = __atomic_load_n(&batch_cfg, __ATOMIC_RELAXED);
    if (WV__UNLIKELY(cfg == BATCH_ENV)) {
        uint64_t want = batch_of_env();
        /* A racing wv_loop_set_batch wins over the environment. */
        __atomic_compare_exchange_n(&batch_cfg, &cfg, want, false,
                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
        cfg = __atomic_load_n(&batch_cfg, __ATOMIC_RELAXED);
    }
    *n = (unsigned)(cfg >> 32);
    *us = (unsigned)cfg;
}

/* Test aids (their getters below). */
static __thread uint64_t ctl_calls, stale_events, pairs, batches, ios;

uint64_t wv__loop_pairs(void)
{
    return pairs;
}

void wv__loop_note_pair(void)
{
    pairs++;
}

uint64_t wv__loop_ios(void)
{
    return ios;
}

uint64_t wv__loop_batches(void)
{
    return batches;
}

void wv__loop_note_batch(void)
{
    batches++;
}

uint64_t wv__loop_ctl_calls(void)
{
    return ctl_calls;
}

uint64_t wv__loop_stale_events(void)
{
    return stale_events;
}

int wv__loop_init(wv__loop_t *l, void (*ready)(wv__fdw_t *))
{
    *l = (wv__loop_t){.epfd = -1, .evfd = -1, .ready = ready};
    return 0;
}

/* Reads every eventfd write a kicker still owes, waiting for those not
 * made yet (the kicker is between its exchange and its write). */
static void settle_kicks(wv__loop_t *l)
{
    while (l->kicks_owed > 0) {
        struct pollfd p = {.fd = l->evfd, .events = POLLIN};
        uint64_t v;
        if (poll(&p, 1, -1) > 0 && read(l->evfd, &v, sizeof v) == sizeof v)
            l->kicks_owed -= (int64_t)v;
    }
}

__thread bool wv__tls_io_by_readiness
    __attribute__((tls_model("initial-exec")));

void wv__loop_destroy(wv__loop_t *l)
{
    wv__tls_io_by_readiness = false;
    wv__uring_close(l);
    if (l->evfd >= 0)
        settle_kicks(l);
    if (l->epfd >= 0)
        close(l->epfd);
    if (l->evfd >= 0)
        close(l->evfd);
    wv__timers_destroy(l);
    wv__free(l->fds);
    l->fds = NULL;
    l->epfd = l->evfd = -1;
}

void wv__loop_release_fds(wv__loop_t *l)
{
    if (l->nwait > 0 || l->evfd < 0)
        return;
    wv__tls_io_by_readiness = false;
    wv__uring_close(l);
    settle_kicks(l);
    if (l->epfd >= 0)
        close(l->epfd);
    close(l->evfd);
    l->epfd = l->evfd = -1;
    l->epoch = 0;
    for (size_t i = 0; i < l->nfds; i++)
        l->fds[i].mode = FDREC_NONE;
}

void wv__loop_after_fork(wv__loop_t *l)
{
    /* Closing only drops the child's references: the parent's set and
     * registrations live on.  Collecting from them here would take
     * readiness the parent's coroutines wait for. */
    wv__tls_io_by_readiness = false;
    wv__uring_forget(l);
    if (l->epfd >= 0)
        close(l->epfd);
    if (l->evfd >= 0)
        close(l->evfd);
    l->epfd = l->evfd = -1;
    l->epoch = 0;
    for (size_t i = 0; i < l->nfds; i++)
        l->fds[i] = (struct wv__fdrec){0};
    l->nwait = 0;
    wv__timers_after_fork(l);
    l->kicks_owed = 0;
    l->idle = IDLE_AWAKE;
}

/* ----------------------------------------------------------- descriptors */

/* Makes the loop's descriptor set and its eventfd: an epoll set, or an
 * io_uring ring (wv_loop_backend). */
static int ensure_set(wv__loop_t *l)
{
    if (l->evfd >= 0)
        return 0;
    int ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ev < 0)
        return errno == EMFILE || errno == ENFILE ? -errno : WV_ENOMEM;
    int err = 0;
    if (wv_loop_backend() == WV_LOOP_IO_URING) {
        err = wv__uring_open(l);
    } else {
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event e = {.events = EPOLLIN, .data.u64 = EV_KICK};
        if (ep < 0)
            err = errno == EMFILE || errno == ENFILE ? -errno : WV_ENOMEM;
        else if (epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e) != 0)
            err = -errno;
        if (err && ep >= 0)
            close(ep);
        if (!err)
            l->epfd = ep;
    }
    if (err) {
        close(ev);
        return err;
    }
    l->evfd = ev;
    wv__tls_io_by_readiness = !l->uring;
    static uint32_t epochs;
    do
        l->epoch = __atomic_add_fetch(&epochs, 1, __ATOMIC_RELAXED);
    while (l->epoch == 0);
    return 0;
}

static int ensure_fdrec(wv__loop_t *l, int fd)
{
    if ((size_t)fd < l->nfds)
        return 0;
    /* The table grows with the number: make sure it names a descriptor
     * before sizing it (INT_MAX - 1 would ask for tens of GiB). */
    if (fcntl(fd, F_GETFD) < 0)
        return WV_EBADF;
    size_t n = l->nfds ? l->nfds : 64;
    while (n <= (size_t)fd)
        n *= 2;
    struct wv__fdrec *f = wv__realloc(l->fds, n * sizeof *f);
    if (!f)
        return WV_ENOMEM;
    for (size_t i = l->nfds; i < n; i++)
        f[i] = (struct wv__fdrec){0};
    l->fds = f;
    l->nfds = n;
    return 0;
}

static uint32_t interest(const struct wv__fdrec *r)
{
    uint32_t ev = 0;

    if (r->rd)
        ev |= (r->rd->events & POLLIN ? EPOLLIN : 0) |
              (r->rd->events & POLLPRI ? EPOLLPRI : 0);
    if (r->wr)
        ev |= EPOLLOUT;
    return ev;
}

/* Puts fd in the set as `ev` (ADD for a number with no registration of
 * ours, else MOD; the other when the kernel disagrees).  A new
 * registration takes a new generation. */
static int reg_ctl(wv__loop_t *l, int fd, uint32_t ev)
{
    struct wv__fdrec *r = &l->fds[fd];
    int op = r->mode != FDREC_NONE ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

    for (int tries = 0; tries < 2; tries++) {
        uint32_t gen = op == EPOLL_CTL_ADD ? r->gen + 1 : r->gen;
        struct epoll_event e = {.events = ev,
                                .data.u64 = (uint64_t)gen << 32 | (uint32_t)fd};
        ctl_calls++;
        if (epoll_ctl(l->epfd, op, fd, &e) == 0) {
            if (gen != r->gen)
                r->edges = 0; /* they came for another registration */
            r->gen = gen;
            return 0;
        }
        if (errno != (op == EPOLL_CTL_MOD ? ENOENT : EEXIST))
            return -errno;
        op = op == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    }
    return WV_EBADF;
}

/* Arms fd's one-shot registration for what its waits want now. */
static int arm(wv__loop_t *l, int fd)
{
    struct wv__fdrec *r = &l->fds[fd];
    int err = reg_ctl(l, fd, interest(r) | EPOLLONESHOT);

    if (!err)
        r->mode = FDREC_ONESHOT;
    return err;
}

/* Takes fd's wait slots for w; WV_EBUSY when one is taken. */
static int take_slots(struct wv__fdrec *r, wv__fdw_t *w)
{
    bool rd = w->events & (POLLIN | POLLPRI), wr = w->events & POLLOUT;

    if ((rd && r->rd) || (wr && r->wr))
        return WV_EBUSY;
    if (rd)
        r->rd = w;
    if (wr)
        r->wr = w;
    w->revents = 0;
    return 0;
}

static void drop_slots(struct wv__fdrec *r, wv__fdw_t *w)
{
    if (r->rd == w)
        r->rd = NULL;
    if (r->wr == w)
        r->wr = NULL;
}

static int prepare(wv__loop_t *l, const wv__fdw_t *w)
{
    if (w->fd < 0)
        return WV_EBADF;
    int err = ensure_set(l);
    return err ? err : ensure_fdrec(l, w->fd);
}

int wv__loop_fd_add(wv__loop_t *l, wv__fdw_t *w)
{
    int err = prepare(l, w);
    if (err)
        return err;
    struct wv__fdrec *r = &l->fds[w->fd];
    if ((err = take_slots(r, w)))
        return err;
    err = l->uring ? wv__uring_fd_add(l, w) : arm(l, w->fd);
    if (err) {
        drop_slots(r, w);
        return err == WV_ENOENT ? WV_EBADF : err;
    }
    l->nwait++;
    return 0;
}

static uint64_t reg_word(const wv__loop_t *l, const struct wv__fdrec *r)
{
    return (uint64_t)l->epoch << 32 | r->gen;
}

int wv__loop_fd_add_edge(wv__loop_t *l, wv__fdw_t *w, uint64_t *reg, bool guess)
{
    int err = prepare(l, w);
    if (err)
        return err;
    struct wv__fdrec *r = &l->fds[w->fd];
    if (l->uring) /* a poll in the ring: no registration to keep */
        return wv__loop_fd_add(l, w);
    /* A one-shot wait in progress on this number wants the level: an
     * edge-triggered registration could miss what is ready already.
     * Join its one-shot registration instead (correct for us too). */
    if (r->mode == FDREC_ONESHOT && (r->rd || r->wr))
        return wv__loop_fd_add(l, w);
    bool registered = r->mode == FDREC_EDGE &&
                      __atomic_load_n(reg, __ATOMIC_RELAXED) == reg_word(l, r);
    uint8_t dirs =
        (w->events & POLLIN ? POLLIN : 0) | (w->events & POLLOUT ? POLLOUT : 0);
    /* The peer's end or an error is a state, not an edge that comes
     * again: once seen, a guess always reads. */
    uint8_t came = registered ? r->edges & (dirs | EDGE_END) : 0;
    r->edges &= (uint8_t)~dirs; /* stale after EAGAIN, or taken now */
    if (guess && came)
        return 1;
    if ((err = take_slots(r, w)))
        return err;
    if (!registered) {
        /* A new registration: the kernel reports what is ready now. */
        err = reg_ctl(l, w->fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
        if (err) {
            drop_slots(r, w);
            return err == WV_ENOENT ? WV_EBADF : err;
        }
        r->mode = FDREC_EDGE;
        __atomic_store_n(reg, reg_word(l, r), __ATOMIC_RELAXED);
    }
    l->nwait++;
    return 0;
}

void wv__loop_fd_del(wv__loop_t *l, wv__fdw_t *w)
{
    /* A one-shot registration left armed for nobody stays: its event, if
     * any, finds no wait (or, for a number that names another descriptor
     * by then, carries an old generation) and is dropped. */
    if (l->uring)
        wv__uring_fd_del(l, w);
    drop_slots(&l->fds[w->fd], w);
    l->nwait--;
}

void wv__loop_slots_drop(wv__loop_t *l, wv__fdw_t *w)
{
    drop_slots(&l->fds[w->fd], w);
}

bool wv__loop_completes(wv__loop_t *l)
{
    if (l->evfd >= 0) /* the set exists: no call on epoll's hot path */
        return l->uring != NULL;
    return ensure_set(l) == 0 && l->uring;
}

int wv__loop_io_add(wv__loop_t *l, wv__uio_t *io)
{
    int err = wv__uring_io_add(l, io);
    if (!err) {
        l->nwait++;
        ios++;
    }
    return err;
}

int wv__loop_io_add_pair(wv__loop_t *l, wv__uio_t *snd, wv__uio_t *rcv)
{
    if (!l->uring)
        return WV_ENOSYS;
    int err = wv__uring_io_add_pair(l, snd, rcv);
    if (!err) {
        l->nwait += 2;
        pairs++;
    }
    return err;
}

void wv__loop_io_cancel(wv__loop_t *l, wv__uio_t *io)
{
    wv__uring_io_cancel(l, io);
}

void wv__loop_io_end(wv__loop_t *l, wv__uio_t *io)
{
    (void)io;
    l->nwait--;
}

static short to_poll(uint32_t ev)
{
    return (
        short)((ev & (EPOLLIN | EPOLLRDHUP) ? POLLIN : 0) |
               (ev & EPOLLOUT ? POLLOUT : 0) | (ev & EPOLLPRI ? POLLPRI : 0) |
               (ev & EPOLLERR ? POLLERR : 0) | (ev & EPOLLHUP ? POLLHUP : 0));
}

static void dispatch(wv__loop_t *l, const struct epoll_event *e)
{
    if (e->data.u64 == EV_KICK) {
        uint64_t v;
        if (read(l->evfd, &v, sizeof v) == sizeof v)
            l->kicks_owed -= (int64_t)v;
        return;
    }
    int fd = (int)(uint32_t)e->data.u64;
    if ((size_t)fd >= l->nfds)
        return;
    struct wv__fdrec *r = &l->fds[fd];
    if (r->gen != (uint32_t)(e->data.u64 >> 32)) {
        stale_events++; /* a registration this number had before */
        return;
    }
    short got = to_poll(e->events);
    wv__fdw_t *waits[2] = {r->rd, r->wr != r->rd ? r->wr : NULL};
    wv__fdw_t *fired[2] = {NULL, NULL};

    /* Report to every wait the event concerns; re-arm a one-shot
     * registration for those still waiting (it is disarmed now). */
    short left = (short)(got & (POLLIN | POLLOUT));
    if (got & (POLLERR | POLLHUP))
        left = POLLIN | POLLOUT;
    for (int i = 0; i < 2; i++) {
        wv__fdw_t *w = waits[i];
        short m = w ? (short)(got & (w->events | POLLERR | POLLHUP)) : 0;
        if (!m)
            continue;
        w->revents = m;
        left &= (short)~w->events;
        if (r->rd == w)
            r->rd = NULL;
        if (r->wr == w)
            r->wr = NULL;
        fired[i] = w;
    }
    /* An edge with no wait for it is noted, for a wait that guesses
     * (WV__POLL_GUESS): it is not reported again. */
    if (r->mode == FDREC_EDGE)
        r->edges |=
            (uint8_t)left |
            (e->events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR) ? EDGE_END : 0);
    if (r->mode == FDREC_ONESHOT && (r->rd || r->wr) && arm(l, fd) != 0) {
        /* The descriptor went away under a waiter: tell it. */
        for (int i = 0; i < 2; i++) {
            wv__fdw_t *w = waits[i];
            if (w && !fired[i]) {
                w->revents = POLLNVAL;
                fired[i] = w;
            }
        }
        r->rd = r->wr = NULL;
    }
    for (int i = 0; i < 2; i++)
        if (fired[i])
            l->ready(fired[i]);
}

static void epoll_once(wv__loop_t *l, int timeout)
{
    struct epoll_event ev[MAX_EVENTS];
    int n = epoll_wait(l->epfd, ev, MAX_EVENTS, timeout);

    for (int i = 0; i < n; i++)
        dispatch(l, &ev[i]);
}

/* Ends an idle announcement; a word a kicker took in epoll mode means
 * its eventfd write is owed. */
static void wake_up(wv__loop_t *l, uint32_t mode)
{
    if (__atomic_exchange_n(&l->idle, IDLE_AWAKE, __ATOMIC_ACQUIRE) ==
            IDLE_AWAKE &&
        mode == IDLE_EPOLL)
        l->kicks_owed++;
}

void wv__loop_poll(wv__loop_t *l, bool block, int64_t deadline,
                   bool (*pending)(void *), void *arg)
{
    if (!block) {
        if (l->uring)
            wv__uring_poll(l, false, 0);
        else if (l->nwait > 0)
            epoll_once(l, 0);
        return;
    }
    uint32_t mode = l->nwait > 0 ? IDLE_EPOLL : IDLE_FUTEX;
    __atomic_store_n(&l->idle, mode, __ATOMIC_SEQ_CST);
    if (pending(arg)) {
        wake_up(l, mode);
        if (l->uring)
            wv__uring_poll(l, false, 0);
        else if (mode == IDLE_EPOLL)
            epoll_once(l, 0);
        return;
    }
    if (mode == IDLE_EPOLL && l->uring)
        wv__uring_poll(l, true, deadline);
    else if (mode == IDLE_EPOLL)
        epoll_once(l, wv__deadline_timeout_ms(deadline));
    else
        wv__futex_wait(&l->idle, IDLE_FUTEX, deadline, false);
    wake_up(l, mode);
}

void wv__loop_kick(wv__loop_t *l)
{
    if (__atomic_load_n(&l->idle, __ATOMIC_SEQ_CST) == IDLE_AWAKE)
        return;
    uint32_t old = __atomic_exchange_n(&l->idle, IDLE_AWAKE, __ATOMIC_SEQ_CST);
    if (old == IDLE_FUTEX) {
        wv__futex_wake(&l->idle, 1, false);
    } else if (old == IDLE_EPOLL) {
        int fd = l->evfd;
        uint64_t one = 1;
        void (*hook)(void) = __atomic_load_n(&fault_kick, __ATOMIC_RELAXED);
        if (WV__UNLIKELY(hook != NULL))
            hook();
        ssize_t r = write(fd, &one, sizeof one);
        (void)r;
    }
}

void wv__fault_kick(void (*hook)(void))
{
    __atomic_store_n(&fault_kick, hook, __ATOMIC_RELAXED);
}

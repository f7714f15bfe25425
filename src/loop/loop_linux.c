/*
 * loop/loop_linux.c - the loop's Linux backend: descriptor waits on epoll,
 * and the idle wait (futex, or epoll_wait when descriptors are watched)
 * that other threads interrupt.  The timers are portable (loop/timer.c);
 * this file only asks them for the earliest deadline, which bounds the
 * idle wait, and frees or forgets them with the loop.
 *
 * Descriptor waits use one-shot registrations (EPOLLONESHOT), re-armed
 * with EPOLL_CTL_MOD on each wait: the loop does not own the descriptors,
 * so it must survive one being closed and its number reused between two
 * waits.  A MOD that finds nothing (ENOENT: the old description was
 * closed, so epoll forgot it) becomes an ADD, and an ADD that finds an
 * entry (EEXIST) a MOD.  A wait that ends without firing deletes its
 * still armed registration: a description kept open elsewhere would
 * otherwise fire it under a number that names another descriptor now.
 * The costs one epoll_ctl per wait (two for a wait that times out); the
 * network layer, owning its sockets, will keep registrations instead.
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
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

enum { IDLE_AWAKE = 0, IDLE_FUTEX = 1, IDLE_EPOLL = 2 };

#define EV_KICK    UINT64_MAX /* epoll data of the eventfd */
#define MAX_EVENTS 64

static void (*fault_kick)(void); /* wv__fault_kick */

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

void wv__loop_destroy(wv__loop_t *l)
{
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
    if (l->nwait > 0 || l->epfd < 0)
        return;
    settle_kicks(l);
    close(l->epfd);
    close(l->evfd);
    l->epfd = l->evfd = -1;
    for (size_t i = 0; i < l->nfds; i++)
        l->fds[i].registered = false;
}

void wv__loop_after_fork(wv__loop_t *l)
{
    /* Closing only drops the child's references: the parent's set and
     * registrations live on.  Collecting from them here would take
     * readiness the parent's coroutines wait for. */
    if (l->epfd >= 0)
        close(l->epfd);
    if (l->evfd >= 0)
        close(l->evfd);
    l->epfd = l->evfd = -1;
    for (size_t i = 0; i < l->nfds; i++)
        l->fds[i] = (struct wv__fdrec){0};
    l->nwait = 0;
    wv__timers_after_fork(l);
    l->kicks_owed = 0;
    l->idle = IDLE_AWAKE;
}

/* ----------------------------------------------------------- descriptors */

static int ensure_epoll(wv__loop_t *l)
{
    if (l->epfd >= 0)
        return 0;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return errno == EMFILE || errno == ENFILE ? -errno : WV_ENOMEM;
    int ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ev < 0) {
        int err = -errno;
        close(ep);
        return err;
    }
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = EV_KICK};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e) != 0) {
        int err = -errno;
        close(ev);
        close(ep);
        return err;
    }
    l->epfd = ep;
    l->evfd = ev;
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

/* Arms fd's one-shot registration for what its waits want now. */
static int arm(wv__loop_t *l, int fd)
{
    struct wv__fdrec *r = &l->fds[fd];
    struct epoll_event e = {.events = interest(r) | EPOLLONESHOT,
                            .data.u64 = (uint64_t)fd};
    int op = r->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

    if (epoll_ctl(l->epfd, op, fd, &e) != 0) {
        if (errno != (op == EPOLL_CTL_MOD ? ENOENT : EEXIST))
            return -errno;
        op = op == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
        if (epoll_ctl(l->epfd, op, fd, &e) != 0)
            return -errno;
    }
    r->registered = true;
    return 0;
}

int wv__loop_fd_add(wv__loop_t *l, wv__fdw_t *w)
{
    if (w->fd < 0)
        return WV_EBADF;
    int err = ensure_epoll(l);
    if (!err)
        err = ensure_fdrec(l, w->fd);
    if (err)
        return err;

    struct wv__fdrec *r = &l->fds[w->fd];
    bool rd = w->events & (POLLIN | POLLPRI), wr = w->events & POLLOUT;
    if ((rd && r->rd) || (wr && r->wr))
        return WV_EBUSY;
    if (rd)
        r->rd = w;
    if (wr)
        r->wr = w;
    w->revents = 0;
    err = arm(l, w->fd);
    if (err) {
        if (rd)
            r->rd = NULL;
        if (wr)
            r->wr = NULL;
        return err == WV_ENOENT ? WV_EBADF : err;
    }
    l->nwait++;
    return 0;
}

void wv__loop_fd_del(wv__loop_t *l, wv__fdw_t *w)
{
    struct wv__fdrec *r = &l->fds[w->fd];
    bool armed = r->rd == w || r->wr == w; /* it did not fire */

    if (r->rd == w)
        r->rd = NULL;
    if (r->wr == w)
        r->wr = NULL;
    l->nwait--;
    /* A registration left armed for nobody must go: closed while a dup
     * or a child keeps its description open, it stays in the set, and
     * its next event would be reported, under the same number, to a
     * later wait on another descriptor.  (One that fired is disarmed,
     * and silent, until re-armed for its own descriptor.) */
    if (armed && !r->rd && !r->wr && r->registered) {
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
        r->registered = false;
    }
}

static short to_poll(uint32_t ev)
{
    return (short)((ev & EPOLLIN ? POLLIN : 0) | (ev & EPOLLOUT ? POLLOUT : 0) |
                   (ev & EPOLLPRI ? POLLPRI : 0) |
                   (ev & EPOLLERR ? POLLERR : 0) |
                   (ev & EPOLLHUP ? POLLHUP : 0));
}

static void dispatch(wv__loop_t *l, const struct epoll_event *e)
{
    if (e->data.u64 == EV_KICK) {
        uint64_t v;
        if (read(l->evfd, &v, sizeof v) == sizeof v)
            l->kicks_owed -= (int64_t)v;
        return;
    }
    int fd = (int)e->data.u64;
    if ((size_t)fd >= l->nfds)
        return;
    struct wv__fdrec *r = &l->fds[fd];
    short got = to_poll(e->events);
    wv__fdw_t *waits[2] = {r->rd, r->wr != r->rd ? r->wr : NULL};
    wv__fdw_t *fired[2] = {NULL, NULL};

    /* Report to every wait the event concerns; re-arm for those still
     * waiting (one-shot: the registration is disarmed now). */
    for (int i = 0; i < 2; i++) {
        wv__fdw_t *w = waits[i];
        short m = w ? (short)(got & (w->events | POLLERR | POLLHUP)) : 0;
        if (!m)
            continue;
        w->revents = m;
        if (r->rd == w)
            r->rd = NULL;
        if (r->wr == w)
            r->wr = NULL;
        fired[i] = w;
    }
    if ((r->rd || r->wr) && arm(l, fd) != 0) {
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
        if (l->nwait > 0)
            epoll_once(l, 0);
        return;
    }
    uint32_t mode = l->nwait > 0 ? IDLE_EPOLL : IDLE_FUTEX;
    __atomic_store_n(&l->idle, mode, __ATOMIC_SEQ_CST);
    if (pending(arg)) {
        wake_up(l, mode);
        if (mode == IDLE_EPOLL)
            epoll_once(l, 0);
        return;
    }
    if (mode == IDLE_EPOLL)
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

/*
 * coro/fdwait.c - descriptor waits of the coroutine waiter kind, and
 * wv_fdwait: a coroutine (or a thread's own code once it has a
 * scheduler) waits through the thread's loop (epoll), so only that party
 * waits; a thread without a scheduler polls.
 */
#include "sched.h"

#include <errno.h>
#include <poll.h>

/* ---------------------------------------------------- descriptor waits */

void wv__coro_fd_ready(wv__fdw_t *f)
{
    wake_local(wv__tls_sched, f->party);
}

/* One look at fds without waiting, as poll(2) with timeout 0: 0 when
 * one is ready, `none` otherwise. */
static int look(struct pollfd *fds, size_t n, int none)
{
    int ready = poll(fds, (nfds_t)n, 0);

    if (ready < 0)
        return -errno;
    return ready > 0 ? 0 : none;
}

int wv__coro_fds_wait(struct pollfd *fds, size_t n, int64_t deadline)
{
    struct sched *s = wv__tls_sched;
    struct wv_coro *co = s->current;

    if (is_cancelled(co))
        return WV_ECANCELED;
    if (deadline == 0)
        return look(fds, n, WV_EAGAIN);
    if (n == 0) { /* no descriptor: a sleep to the deadline, as poll */
        wv__waiter_t w;
        wv__waiter_init(&w);
        return wv__coro_sleep(&w, deadline, 0);
    }

    wv__fdw_t small[4], *ws = small;
    if (n > 4) {
        ws = wv__malloc(n * sizeof *ws);
        if (!ws)
            return WV_ENOMEM;
    }
    wv__waiter_t w;
    wv__waiter_init(&w);
    size_t added = 0;
    bool ready = false, fired = false;
    int err = 0;
    for (size_t i = 0; i < n; i++) {
        fds[i].revents = 0;
        ws[i] = (wv__fdw_t){.fd = -1};
        if (fds[i].fd < 0)
            continue;
        ws[i] = (wv__fdw_t){
            .fd = fds[i].fd,
            .events = (short)(fds[i].events & (POLLIN | POLLOUT | POLLPRI)),
            .party = &w,
        };
        err = wv__loop_fd_add(&s->loop, &ws[i]);
        if (err == WV_EPERM) {
            /* A regular file or the like: always ready, as poll says. */
            fds[i].revents = (short)(fds[i].events & (POLLIN | POLLOUT));
            ready = true;
        } else if (err == WV_EBADF) {
            fds[i].revents = POLLNVAL;
            ready = true;
        } else if (err) {
            break;
        } else {
            added++;
            continue;
        }
        ws[i].fd = -1;
        err = 0;
    }
    if (!err && !ready)
        err = wv__coro_sleep(&w, deadline, 0);
    for (size_t i = 0; i < n && added > 0; i++) {
        if (ws[i].fd < 0)
            continue;
        wv__loop_fd_del(&s->loop, &ws[i]);
        added--;
        fds[i].revents = ws[i].revents;
        if (ws[i].revents)
            ready = fired = true;
    }
    if (ws != small)
        wv__free(ws);
    if (ready && !fired)        /* a descriptor epoll refused is ready: the */
        return look(fds, n, 0); /* others' states come from one look */
    if (ready)
        return 0;
    return err;
}

int wv__coro_fd_wait_again(int fd, short events, int64_t deadline,
                           uint64_t *reg)
{
    struct sched *s = wv__tls_sched;

    if (is_cancelled(s->current))
        return WV_ECANCELED;
    bool guess = events & WV__POLL_GUESS;
    events &= ~WV__POLL_GUESS;
    if (deadline == 0) {
        struct pollfd p = {.fd = fd, .events = events};
        int err = look(&p, 1, WV_EAGAIN);
        return !err && p.revents & POLLNVAL ? WV_EBADF : err;
    }
    wv__waiter_t w;
    wv__waiter_init(&w);
    wv__fdw_t f = {.fd = fd, .events = events, .party = &w};
    int err = wv__loop_fd_add_edge(&s->loop, &f, reg, guess);
    if (err == WV_EPERM || err == 1) /* a regular file, or an edge came */
        return 0;
    if (err)
        return err;
    err = wv__coro_sleep(&w, deadline, 0);
    wv__loop_fd_del(&s->loop, &f);
    if (f.revents & POLLNVAL)
        return WV_EBADF;
    return f.revents ? 0 : err;
}

/* After the wait for a (and b, if any) ended: what is still in flight is
 * cancelled and waited for, since the kernel owns its buffer until it
 * completes. */
static void settle(struct sched *s, wv__waiter_t *w, wv__uio_t *a, wv__uio_t *b)
{
    if (!a->f.op && !(b && b->f.op))
        return;
    wv__loop_io_cancel(&s->loop, a);
    if (b)
        wv__loop_io_cancel(&s->loop, b);
    while (a->f.op || (b && b->f.op)) {
        wv__waiter_init(w);
        (void)wv__coro_sleep(w, WV_FOREVER, WV__PARK_NOCANCEL);
    }
}

ssize_t wv__coro_fd_io(int fd, void *buf, size_t len, struct msghdr *msg,
                       int64_t deadline)
{
    struct sched *s = wv__tls_sched;

    if (!wv__loop_completes(&s->loop))
        return WV_ENOSYS;
    if (is_cancelled(s->current))
        return WV_ECANCELED;
    wv__waiter_t w;
    wv__waiter_init(&w);
    wv__uio_t io = {
        .f = {.fd = fd, .party = &w}, .buf = buf, .len = len, .msg = msg};
    int err = wv__loop_io_add(&s->loop, &io);
    if (err)
        return err;
    err = wv__coro_sleep(&w, deadline, 0);
    settle(s, &w, &io, NULL);
    wv__loop_io_end(&s->loop, &io);
    return wv__io_result(io.res, err);
}

ssize_t wv__coro_fd_send_recv(int fd, struct msghdr *msg, size_t msg_len,
                              ssize_t *sent, void *buf, size_t len,
                              int64_t deadline)
{
    struct sched *s = wv__tls_sched;

    if (!wv__loop_completes(&s->loop))
        return WV_ENOSYS;
    if (is_cancelled(s->current))
        return WV_ECANCELED;
    wv__waiter_t w;
    wv__waiter_init(&w);
    wv__uio_t snd = {.f = {.fd = fd, .party = &w}, .len = msg_len, .msg = msg};
    wv__uio_t rcv = {.f = {.fd = fd, .party = &w}, .buf = buf, .len = len};
    int err = wv__loop_io_add_pair(&s->loop, &snd, &rcv);
    if (err)
        return err;
    /* One completion ends both halves (wv__loop_io_add_pair). */
    err = wv__coro_sleep(&w, deadline, 0);
    settle(s, &w, &snd, &rcv);
    wv__loop_io_end(&s->loop, &snd);
    wv__loop_io_end(&s->loop, &rcv);
    /* A send the kernel had finished counts, even past the deadline. */
    *sent = snd.res == WV_ECANCELED || snd.res == WV_EINTR ? 0 : snd.res;
    return wv__io_result(rcv.res, err);
}

int wv_fdwait(int fd, short events, short *revents, int64_t deadline)
{
    if (!(events & (POLLIN | POLLOUT | POLLPRI)))
        return WV_EINVAL;
    if (fd < 0) /* poll(2) would ignore it and sleep to the deadline */
        return WV_EBADF;
    return wv__fd_wait(fd, events, deadline, revents);
}

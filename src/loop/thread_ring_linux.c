/*
 * loop/thread_ring_linux.c - a plain thread's send-then-recv pair
 * (flush_on_read outside a coroutine) on a small io_uring, one per
 * stream descriptor (its transport owns it: net/transport_fd.c).
 *
 * A thread that sends a request and blocks for the answer pays three
 * system calls on the readiness path (send, poll, recv).  Here the send
 * (MSG_WAITALL, linked, its success silent) and the recv go in with one
 * io_uring_enter that also waits for the recv: one system call.  The
 * pair's rules are the loop's (uring_linux.c, wv__uring_io_add_pair):
 * exactly one completion ends it, the recv's (the send succeeded) or the
 * send's failure (the kernel then drops the recv without one).
 *
 * The ring (4 entries, COOP_TASKRUN: not SINGLE_ISSUER, since a stream's
 * reads may come from one thread and then another, one at a time) is
 * made at the transport's first pair and freed with it; a kernel without
 * what pairs need (COOP_TASKRUN, 5.19, vouches for the silent success,
 * 5.17, and the send held to every byte, 5.18), or WEAVE_LOOP=epoll,
 * gets WV_ENOSYS: the readiness path.  A fork's child never uses its
 * parent's ring (mapped shared): a fork generation, bumped by an atfork
 * handler, tells it to let its copy go.
 *
 * Each pair's completions carry its own sequence number (user_data =
 * seq << 2 | what), so a late cancel answer from an earlier pair is
 * recognised and dropped.
 */
#include "internal.h"

#include <weave/coro.h>

#ifdef WEAVE_IO_URING

#include <errno.h>
#include <liburing.h>
#include <pthread.h>

/* user_data's low bits: what completed (UD_NOTE: ignored). */
enum { UD_NOTE = 0, UD_SEND = 1, UD_RECV = 2, UD_CANCEL_RECV = 3 };

struct wv__tring {
    struct io_uring ring;
    uint64_t seq;
    unsigned fork_gen;
};

/* A slot's value once this process knows it cannot have a ring. */
#define WV__TRING_NONE ((wv__tring_t *)1)

static unsigned fork_gen; /* bumped in every child */
/* Rings made and freed: a new ring may be mapped where a freed one was,
 * in another thread; an atomic step at each end orders the old owner's
 * writes before the new owner's for TSan, which does not take munmap and
 * mmap as synchronisation. */
static unsigned long ring_turns;

static void after_fork_child(void)
{
    __atomic_add_fetch(&fork_gen, 1, __ATOMIC_RELAXED);
}

/* At load, not by pthread_once (see coro/stack.c's make_key). */
__attribute__((constructor)) static void tring_init(void)
{
    pthread_atfork(NULL, NULL, after_fork_child);
}

int wv__tring_get(wv__tring_t **slot)
{
    unsigned gen = __atomic_load_n(&fork_gen, __ATOMIC_RELAXED);
    wv__tring_t *t = *slot;
    if (t == WV__TRING_NONE)
        return WV_ENOSYS;
    if (t && t->fork_gen == gen)
        return 0;
    if (t) { /* the parent's: unmap and close this process's copy only */
        wv__tring_free(t);
        *slot = NULL;
    }
    if (wv_loop_backend() != WV_LOOP_IO_URING) {
        *slot = WV__TRING_NONE;
        return WV_ENOSYS;
    }
    t = wv__calloc(1, sizeof *t);
    if (!t)
        return WV_ENOMEM;
    struct io_uring_params p = {.flags = IORING_SETUP_CLAMP |
                                         IORING_SETUP_COOP_TASKRUN};
    int rc = io_uring_queue_init_params(4, &t->ring, &p);
    if (rc != 0) {
        wv__free(t);
        if (rc == -EINVAL || rc == -ENOSYS || rc == -EPERM) {
            *slot = WV__TRING_NONE; /* this kernel: for good */
            return WV_ENOSYS;
        }
        return rc == -EMFILE || rc == -ENFILE ? rc : WV_ENOMEM;
    }
    if (!(t->ring.features & IORING_FEAT_CQE_SKIP)) {
        io_uring_queue_exit(&t->ring);
        wv__free(t);
        *slot = WV__TRING_NONE;
        return WV_ENOSYS;
    }
    __atomic_fetch_add(&ring_turns, 1, __ATOMIC_ACQ_REL);
    t->fork_gen = gen;
    *slot = t;
    return 0;
}

void wv__tring_free(wv__tring_t *t)
{
    if (!t || t == WV__TRING_NONE)
        return;
    __atomic_fetch_add(&ring_turns, 1, __ATOMIC_ACQ_REL);
    io_uring_queue_exit(&t->ring);
    wv__free(t);
}

/* A cancel of pair seq's `what` half, its answer tagged `tag`. */
static void cancel_half(wv__tring_t *t, uint64_t seq, uint64_t what,
                        uint64_t tag)
{
    struct io_uring_sqe *e = io_uring_get_sqe(&t->ring);
    if (!e)
        return; /* 4 entries, at most 2 queued: not reached */
    io_uring_prep_cancel64(e, seq << 2 | what, 0);
    io_uring_sqe_set_data64(e, seq << 2 | tag);
}

ssize_t wv__tring_send_recv(wv__tring_t *t, int fd, struct msghdr *msg,
                            size_t msg_len, ssize_t *sent, void *buf,
                            size_t len, int64_t deadline)
{
    *sent = 0;
    uint64_t seq = ++t->seq;
    struct io_uring_sqe *e = io_uring_get_sqe(&t->ring);
    struct io_uring_sqe *r = e ? io_uring_get_sqe(&t->ring) : NULL;
    if (!r) /* the ring is empty between pairs: not reached */
        return WV_ENOSYS;
    io_uring_prep_sendmsg(e, fd, msg, MSG_NOSIGNAL | MSG_WAITALL);
    io_uring_sqe_set_data64(e, seq << 2 | UD_SEND);
    io_uring_sqe_set_flags(e, IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS);
    io_uring_prep_recv(r, fd, buf, len, 0);
    io_uring_sqe_set_data64(r, seq << 2 | UD_RECV);
    wv__loop_note_pair();

    int err = 0;                /* the wait's: WV_ETIMEDOUT once cancelled */
    int32_t sres = 0, rres = 0; /* the halves' results, once done */
    bool done = false;
    while (!done) {
        struct __kernel_timespec ts, *tp = NULL;
        if (!err && deadline >= 0) {
            int ms = wv__deadline_timeout_ms(deadline);
            ts.tv_sec = ms / 1000;
            ts.tv_nsec = (long long)(ms % 1000) * 1000000;
            tp = &ts;
        }
        struct io_uring_cqe *c;
        int rc = io_uring_submit_and_wait_timeout(&t->ring, &c, 1, tp, NULL);
        if (rc == -ETIME && !err) {
            /* The send: stopped if still going, else done (silently). */
            err = WV_ETIMEDOUT;
            cancel_half(t, seq, UD_SEND, UD_NOTE);
            cancel_half(t, seq, UD_RECV, UD_CANCEL_RECV);
            continue;
        }
        unsigned head, n = 0;
        bool again = false;
        io_uring_for_each_cqe(&t->ring, head, c)
        {
            n++;
            if (c->user_data >> 2 != seq)
                continue; /* an earlier pair's late cancel answer */
            switch (c->user_data & 3) {
            case UD_SEND: /* only a failure completes: the recv dropped */
                sres = c->res;
                rres = -ECANCELED;
                done = true;
                break;
            case UD_RECV: /* the send succeeded, every byte */
                sres = (int32_t)msg_len;
                rres = c->res;
                done = true;
                break;
            case UD_CANCEL_RECV:
                /* Found nothing: the recv behind a completed send is
                 * still this thread's task work, issued by the next
                 * enter; ask again then. */
                again |= c->res == -ENOENT;
                break;
            }
        }
        io_uring_cq_advance(&t->ring, n);
        if (again && !done)
            cancel_half(t, seq, UD_RECV, UD_CANCEL_RECV);
    }
    *sent = sres == -ECANCELED || sres == -EINTR ? 0 : sres;
    return wv__io_result(rres, err); /* bytes that came count, even late */
}

#else /* built without liburing */

int wv__tring_get(wv__tring_t **slot)
{
    (void)slot;
    return WV_ENOSYS;
}

void wv__tring_free(wv__tring_t *t)
{
    (void)t;
}

ssize_t wv__tring_send_recv(wv__tring_t *t, int fd, struct msghdr *msg,
                            size_t msg_len, ssize_t *sent, void *buf,
                            size_t len, int64_t deadline)
{
    (void)t, (void)fd, (void)msg, (void)msg_len, (void)buf, (void)len;
    (void)deadline;
    *sent = 0;
    return WV_ENOSYS;
}

#endif /* WEAVE_IO_URING */

/*
 * loop/uring_linux.c - the loop's io_uring backend (liburing), chosen per
 * loop when it is made (loop_linux.c: wv_loop_set_backend, WEAVE_LOOP).
 *
 * What goes through the ring
 *  - Descriptor waits: each is one IORING_OP_POLL_ADD (one-shot, level:
 *    it fires at once for a descriptor that is ready already), so a wait
 *    costs an entry in the submission queue, not a system call.  The
 *    edge-triggered registrations of the epoll backend are not needed:
 *    a wait after EAGAIN is an ordinary poll here.
 *  - Socket I/O of the streams (wv__loop_io_add): a recv or a sendmsg is
 *    submitted and the coroutine parks until it completes; the kernel
 *    waits for readiness itself (IORING_FEAT_FAST_POLL).  A scheduler
 *    round's receives and sends go in with one io_uring_enter, which also
 *    collects what completed: that is where this backend saves system
 *    calls over epoll (one recv, one send and a share of epoll_wait per
 *    round trip of a ping-pong).
 *  - Kicks: an 8-byte read of the loop's eventfd is always in flight; a
 *    kicker's write completes it (and ends the wait in io_uring_enter),
 *    and its value counts the writes, as the epoll backend's read does.
 *
 * Operations are named by a slot of this loop's table and a generation
 * (user_data = slot | generation << 32), never by a pointer to the
 * waiting party: a wait that ends without its completion (deadline,
 * cancel) leaves its slot orphaned, asks the kernel to remove the poll,
 * and the late completion only frees the slot.  An I/O operation owns
 * its buffer until it completes, so its party, after cancelling, waits
 * for the completion (coro/fdwait.c): nothing writes into memory that
 * was given back.
 *
 * Everything here runs on the loop's thread; the ring is never shared.
 * After a fork the child unmaps the parent's ring and closes its
 * descriptor without touching the queues.
 */
#include "internal.h"

#ifdef WEAVE_IO_URING

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RING_ENTRIES 256
#define KICK_TOKEN   UINT64_MAX       /* the eventfd read */
#define NOTE_TOKEN   (UINT64_MAX - 1) /* removals and cancels: ignored */

enum { OP_FREE, OP_POLL, OP_IO, OP_CANCEL };

struct op {
    uint32_t gen;
    uint8_t kind;
    bool orphan;        /* its party left: the completion frees the slot */
    wv__fdw_t *party;   /* OP_POLL: the wait; OP_IO: &uio->f */
    uint32_t next_free; /* slot + 1 of the next free one, or 0 */
    uint32_t link;      /* OP_IO of a pair: slot + 1 of the other one
                           (0: no pair); OP_CANCEL: slot + 1 of the
                           operation it ends */
    uint32_t link_gen;  /* ... and its generation */
    bool pair_send;     /* OP_IO of a pair: this is the send */
};

struct wv__uring {
    struct io_uring ring;
    struct op *ops;
    uint32_t nops, free_head;
    bool kick_pending; /* the eventfd read is in flight */
    bool deferred;     /* IORING_SETUP_DEFER_TASKRUN */
    bool can_skip;     /* send-then-recv pairs (wv__uring_io_add_pair) */
    bool can_batch;    /* min_wait_usec (IORING_FEAT_MIN_TIMEOUT, 6.12) */
    uint32_t expect;   /* I/O in flight (not polls), a pair counted once */
    uint64_t kick_value;
};

#ifndef IORING_FEAT_MIN_TIMEOUT
#define IORING_FEAT_MIN_TIMEOUT (1U << 15)
#endif

/* ---------------------------------------------------------- availability */

/* What this kernel offers, probed once on a small ring: PROBED, plus
 * USABLE (every feature and operation the backend needs) and BATCH (the
 * min wait, IORING_FEAT_MIN_TIMEOUT, 6.12; a ring's features do not
 * depend on its setup flags). */
enum { PROBED = 1, USABLE = 2, BATCH = 4 };

static int probe(void)
{
    static int state; /* 0: not probed yet */
    int s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);
    if (s)
        return s;
    struct io_uring r;
    s = PROBED;
    if (io_uring_queue_init(4, &r, 0) == 0) {
        unsigned need = IORING_FEAT_NODROP | IORING_FEAT_FAST_POLL |
                        IORING_FEAT_EXT_ARG | IORING_FEAT_SUBMIT_STABLE;
        struct io_uring_probe *p = io_uring_get_probe_ring(&r);
        if ((r.features & need) == need && p &&
            io_uring_opcode_supported(p, IORING_OP_POLL_ADD) &&
            io_uring_opcode_supported(p, IORING_OP_POLL_REMOVE) &&
            io_uring_opcode_supported(p, IORING_OP_ASYNC_CANCEL) &&
            io_uring_opcode_supported(p, IORING_OP_RECV) &&
            io_uring_opcode_supported(p, IORING_OP_SENDMSG) &&
            io_uring_opcode_supported(p, IORING_OP_READ))
            s |= USABLE | (r.features & IORING_FEAT_MIN_TIMEOUT ? BATCH : 0);
        if (p)
            io_uring_free_probe(p);
        io_uring_queue_exit(&r);
    }
    __atomic_store_n(&state, s, __ATOMIC_RELEASE);
    return s;
}

bool wv__uring_usable(void)
{
    return probe() & USABLE;
}

bool wv__uring_batch_usable(void)
{
    return probe() & BATCH;
}

/* ----------------------------------------------------------- the table */

/* The user_data naming slot's operation now. */
static uint64_t token_of(const struct wv__uring *u, uint32_t slot)
{
    return (uint64_t)u->ops[slot].gen << 32 | slot;
}

/* Counted in expect: I/O whose success posts a completion (not a pair's
 * send, whose success is silent; a pair's failure ends both halves). */
static bool posts(const struct op *o)
{
    return o->kind == OP_IO && !(o->link && o->pair_send);
}

static int op_new(struct wv__uring *u, uint8_t kind, wv__fdw_t *party,
                  uint64_t *token)
{
    if (!u->free_head) {
        uint32_t n = u->nops ? u->nops * 2 : 64;
        struct op *ops = wv__realloc(u->ops, n * sizeof *ops);
        if (!ops)
            return WV_ENOMEM;
        for (uint32_t i = u->nops; i < n; i++)
            ops[i] = (struct op){.next_free = i + 1 < n ? i + 2 : 0};
        u->ops = ops;
        u->free_head = u->nops + 1;
        u->nops = n;
    }
    uint32_t slot = u->free_head - 1;
    struct op *o = &u->ops[slot];
    u->free_head = o->next_free;
    o->kind = kind;
    o->orphan = false;
    o->party = party;
    o->link = 0;
    u->expect += kind == OP_IO;
    *token = token_of(u, slot);
    return 0;
}

static void op_free(struct wv__uring *u, uint32_t slot)
{
    struct op *o = &u->ops[slot];
    u->expect -= posts(o);
    o->gen++;
    o->kind = OP_FREE;
    o->party = NULL;
    o->next_free = u->free_head;
    u->free_head = slot + 1;
}

/* A submission queue entry, submitting what is queued when it is full. */
static struct io_uring_sqe *sqe_get(struct wv__uring *u)
{
    struct io_uring_sqe *e = io_uring_get_sqe(&u->ring);
    if (!e) {
        io_uring_submit(&u->ring);
        e = io_uring_get_sqe(&u->ring);
    }
    return e;
}

static void kick_arm(wv__loop_t *l)
{
    struct wv__uring *u = l->uring;
    struct io_uring_sqe *e = sqe_get(u);
    if (!e)
        return; /* the next poll submits and re-arms (kick_pending false) */
    io_uring_prep_read(e, l->evfd, &u->kick_value, sizeof u->kick_value, 0);
    io_uring_sqe_set_data64(e, KICK_TOKEN);
    u->kick_pending = true;
}

/* ------------------------------------------------------------ life */

int wv__uring_open(wv__loop_t *l)
{
    struct wv__uring *u = wv__calloc(1, sizeof *u);
    if (!u)
        return WV_ENOMEM;
    /* Completions run as task work of this thread only when it enters
     * the ring to collect them (DEFER_TASKRUN: no lock taken against the
     * other CPUs that make sockets ready, no interrupting signal), where
     * the kernel has it (6.1); else at least without the interrupt. */
    static const unsigned tries[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
            IORING_SETUP_TASKRUN_FLAG,
        IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
        0,
    };
    int err = -EINVAL;
    for (size_t i = 0; i < sizeof tries / sizeof *tries && err == -EINVAL;
         i++) {
        struct io_uring_params p = {.flags = IORING_SETUP_CLAMP | tries[i]};
        err = io_uring_queue_init_params(RING_ENTRIES, &u->ring, &p);
        u->deferred = !err && (tries[i] & IORING_SETUP_DEFER_TASKRUN);
    }
    /* Pairs need the silent success (5.17) and a send that MSG_WAITALL
     * holds to every byte (5.18): DEFER_TASKRUN (6.1) vouches for both. */
    u->can_skip = u->deferred && (u->ring.features & IORING_FEAT_CQE_SKIP);
    /* Batching waits (wait()) with the min wait the kernel applies. */
    u->can_batch = u->deferred && (u->ring.features & IORING_FEAT_MIN_TIMEOUT);
    if (err) {
        wv__free(u);
        return err == -ENOMEM || err == -EMFILE || err == -ENFILE ? err
                                                                  : WV_ENOMEM;
    }
    l->uring = u;
    return 0;
}

/* Collects every completion there is (or waits for the kick read), for
 * the close: the eventfd's value read by the ring must be counted. */
static void settle_ring(wv__loop_t *l)
{
    struct wv__uring *u = l->uring;
    if (u->kick_pending) {
        struct io_uring_sqe *e = sqe_get(u);
        if (e) {
            io_uring_prep_cancel64(e, KICK_TOKEN, 0);
            io_uring_sqe_set_data64(e, NOTE_TOKEN);
        }
        io_uring_submit(&u->ring);
    }
    while (u->kick_pending) {
        struct io_uring_cqe *c;
        if (io_uring_wait_cqe(&u->ring, &c) != 0)
            break;
        if (c->user_data == KICK_TOKEN) {
            u->kick_pending = false;
            if (c->res == sizeof u->kick_value)
                l->kicks_owed -= (int64_t)u->kick_value;
        }
        io_uring_cqe_seen(&u->ring, c);
    }
}

void wv__uring_close(wv__loop_t *l)
{
    struct wv__uring *u = l->uring;
    if (!u)
        return;
    settle_ring(l);
    io_uring_queue_exit(&u->ring);
    wv__free(u->ops);
    wv__free(u);
    l->uring = NULL;
}

void wv__uring_forget(wv__loop_t *l)
{
    struct wv__uring *u = l->uring;
    if (!u)
        return;
    /* The parent's ring: unmap and close our references only. */
    io_uring_queue_exit(&u->ring);
    wv__free(u->ops);
    wv__free(u);
    l->uring = NULL;
}

/* ----------------------------------------------------------- waits */

/* A slot and a submission entry for party's operation of `kind`, with
 * party->op set and the slot's token in *token (the caller tags the entry
 * after preparing it: io_uring_prep_* clear user_data); NULL (nothing
 * taken) when there is no memory for the slot or no entry. */
static struct io_uring_sqe *op_start(struct wv__uring *u, uint8_t kind,
                                     wv__fdw_t *party, uint64_t *token)
{
    if (op_new(u, kind, party, token))
        return NULL;
    struct io_uring_sqe *e = sqe_get(u);
    if (!e) {
        op_free(u, (uint32_t)*token);
        return NULL;
    }
    party->op = (uint32_t)*token + 1;
    return e;
}

int wv__uring_fd_add(wv__loop_t *l, wv__fdw_t *w)
{
    uint64_t token;
    struct io_uring_sqe *e = op_start(l->uring, OP_POLL, w, &token);
    if (!e)
        return WV_ENOMEM;
    io_uring_prep_poll_add(e, w->fd, (unsigned)(uint16_t)w->events);
    io_uring_sqe_set_data64(e, token);
    return 0;
}

void wv__uring_fd_del(wv__loop_t *l, wv__fdw_t *w)
{
    struct wv__uring *u = l->uring;
    if (!w->op)
        return; /* it completed */
    uint32_t slot = w->op - 1;
    struct op *o = &u->ops[slot];
    o->orphan = true;
    o->party = NULL;
    w->op = 0;
    struct io_uring_sqe *e = sqe_get(u);
    if (e) { /* else it stays until it fires, then frees its slot */
        io_uring_prep_poll_remove(e, token_of(u, slot));
        io_uring_sqe_set_data64(e, NOTE_TOKEN);
    }
    /* Now, not with the next round: a poll holds its file, and the
     * caller may be about to close the descriptor (a listener closed
     * with its accept's poll still in the ring would go on listening),
     * and with the deferred work run, which lets go of the file. */
    io_uring_submit_and_get_events(&u->ring);
}

int wv__uring_io_add(wv__loop_t *l, wv__uio_t *io)
{
    uint64_t token;
    struct io_uring_sqe *e = op_start(l->uring, OP_IO, &io->f, &token);
    if (!e)
        return WV_ENOMEM;
    if (io->msg)
        io_uring_prep_sendmsg(e, io->f.fd, io->msg, MSG_NOSIGNAL);
    else
        io_uring_prep_recv(e, io->f.fd, io->buf, io->len, 0);
    io_uring_sqe_set_data64(e, token);
    return 0;
}

/*
 * The send is linked before the recv (IOSQE_IO_LINK: the recv starts
 * once the send is done, and is dropped if it fails) and completes
 * silently when it succeeds (IOSQE_CQE_SKIP_SUCCESS; MSG_WAITALL makes
 * sending fewer bytes than asked a failure, retried by the kernel until
 * then).  So exactly one of the two posts a completion that ends the
 * pair: the recv's when the send succeeded (whatever the recv's outcome:
 * a cancel of ours, the end, bytes), or the send's failure, after which
 * the kernel cancels the recv without a completion (a failed request
 * whose success would have been silent takes its link's completions
 * with it; a kernel that posted the recv's -ECANCELED anyway would find
 * its slot freed, a stale token).  complete() ends both with whichever
 * comes.  Both entries go into one submission (a link cut by a
 * submission in between would start the recv at once).
 */
int wv__uring_io_add_pair(wv__loop_t *l, wv__uio_t *snd, wv__uio_t *rcv)
{
    struct wv__uring *u = l->uring;
    if (!u->can_skip)
        return WV_ENOSYS;
    if (io_uring_sq_space_left(&u->ring) < 2)
        io_uring_submit(&u->ring);
    if (io_uring_sq_space_left(&u->ring) < 2)
        return WV_ENOMEM;
    uint64_t st, rt;
    if (op_new(u, OP_IO, &snd->f, &st))
        return WV_ENOMEM;
    if (op_new(u, OP_IO, &rcv->f, &rt)) {
        op_free(u, (uint32_t)st);
        return WV_ENOMEM;
    }
    struct io_uring_sqe *e = io_uring_get_sqe(&u->ring);
    io_uring_prep_sendmsg(e, snd->f.fd, snd->msg, MSG_NOSIGNAL | MSG_WAITALL);
    io_uring_sqe_set_data64(e, st);
    io_uring_sqe_set_flags(e, IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS);
    e = io_uring_get_sqe(&u->ring);
    io_uring_prep_recv(e, rcv->f.fd, rcv->buf, rcv->len, 0);
    io_uring_sqe_set_data64(e, rt);
    struct op *so = &u->ops[(uint32_t)st], *ro = &u->ops[(uint32_t)rt];
    so->link = (uint32_t)rt + 1;
    so->link_gen = (uint32_t)(rt >> 32);
    so->pair_send = true;
    u->expect--; /* the send is silent when it succeeds (posts()) */
    ro->link = (uint32_t)st + 1;
    ro->link_gen = (uint32_t)(st >> 32);
    ro->pair_send = false;
    snd->f.op = (uint32_t)st + 1;
    rcv->f.op = (uint32_t)rt + 1;
    return 0;
}

/*
 * Asks the kernel to end the operation in `target`.  The cancel has a
 * slot of its own (OP_CANCEL) so that its answer comes back: one that
 * found nothing (-ENOENT) while its target, a pair's recv, is still open
 * is made again (complete()).  That recv's send has just completed: the
 * kernel queues the recv as task work of this thread, issued only when
 * the next io_uring_enter runs that work, and a cancel submitted before
 * cannot see it.  Without memory for the slot, an
 * untracked cancel: the operation may then end by itself only.
 */
static void cancel_start(struct wv__uring *u, uint32_t target)
{
    uint64_t token = NOTE_TOKEN, mine;
    if (op_new(u, OP_CANCEL, NULL, &mine) == 0) {
        struct op *c = &u->ops[(uint32_t)mine];
        c->link = target + 1;
        c->link_gen = u->ops[target].gen;
        token = mine;
    }
    struct io_uring_sqe *e = sqe_get(u);
    if (!e) { /* the operation ends by itself: its party waits on */
        if (token != NOTE_TOKEN)
            op_free(u, (uint32_t)token);
        return;
    }
    io_uring_prep_cancel64(e, token_of(u, target), 0);
    io_uring_sqe_set_data64(e, token);
}

void wv__uring_io_cancel(wv__loop_t *l, wv__uio_t *io)
{
    if (io->f.op)
        cancel_start(l->uring, io->f.op - 1);
}

/* ----------------------------------------------------------- polling */

static void complete(wv__loop_t *l, const struct io_uring_cqe *c)
{
    struct wv__uring *u = l->uring;
    if (c->user_data == NOTE_TOKEN)
        return;
    if (c->user_data == KICK_TOKEN) {
        u->kick_pending = false;
        if (c->res == sizeof u->kick_value)
            l->kicks_owed -= (int64_t)u->kick_value;
        return;
    }
    uint32_t slot = (uint32_t)c->user_data;
    if (slot >= u->nops || u->ops[slot].gen != (uint32_t)(c->user_data >> 32))
        return;
    struct op *o = &u->ops[slot];
    if (o->kind == OP_CANCEL) {
        uint32_t target = o->link - 1, gen = o->link_gen;
        op_free(u, slot);
        struct op *t = &u->ops[target];
        /* Only a pair's recv can be open and not yet visible; anything
         * else a cancel does not find has completed (a pair's send
         * silently). */
        if (c->res == -ENOENT && t->gen == gen && t->kind == OP_IO && t->link &&
            !t->pair_send)
            cancel_start(u, target); /* not issued yet: again */
        return;
    }
    wv__fdw_t *w = o->party;
    bool orphan = o->orphan;
    uint8_t kind = o->kind;
    wv__fdw_t *other = NULL;
    if (o->link && u->ops[o->link - 1].gen == o->link_gen) {
        /* The pair's other half ends with this one (see
         * wv__uring_io_add_pair): a send still open when its recv
         * completes succeeded; a recv still open when its send fails
         * was dropped. */
        struct op *lo = &u->ops[o->link - 1];
        wv__uio_t *lio = (wv__uio_t *)lo->party;
        bool lorphan = lo->orphan;
        op_free(u, o->link - 1);
        if (!lorphan && lio) {
            lio->f.op = 0;
            lio->res = o->pair_send ? -ECANCELED : (int32_t)lio->len;
            other = &lio->f;
        }
    }
    op_free(u, slot);
    if (orphan || !w)
        return;
    w->op = 0;
    if (kind == OP_POLL)
        wv__loop_slots_drop(l, w);
    if (kind == OP_IO) {
        wv__uio_t *io = (wv__uio_t *)w;
        io->res = c->res; /* and io->f.op is 0: done */
        if (other)
            l->ready(other);
    } else {
        w->revents = c->res >= 0        ? (short)c->res
                     : c->res == -EBADF ? POLLNVAL
                                        : POLLERR;
        if (!w->revents)
            w->revents = POLLERR;
    }
    l->ready(w);
}

/*
 * Submits what is queued and waits for `want` completions, for at most
 * `min_us` microseconds, then for the first one until `tp` (the kernel's
 * min_wait_usec, 6.12).  liburing 2.3 (Debian 12) has no call for it: its
 * io_uring_getevents_arg names the field `pad`, so the entries are
 * published as liburing's own submit does and the system call is made
 * here.
 */
static void wait_batch(struct wv__uring *u, unsigned want, unsigned min_us,
                       struct __kernel_timespec *tp)
{
    struct io_uring_sq *sq = &u->ring.sq;
    unsigned tail = sq->sqe_tail;
    if (sq->sqe_head != tail) {
        sq->sqe_head = tail;
        io_uring_smp_store_release(sq->ktail, tail);
    }
    unsigned submit = tail - IO_URING_READ_ONCE(*sq->khead);
    struct io_uring_getevents_arg arg = {
        .sigmask_sz = _NSIG / 8,
        .pad = min_us,
        .ts = (uint64_t)(uintptr_t)tp,
    };
    (void)syscall(__NR_io_uring_enter, u->ring.ring_fd, submit, want,
                  IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg,
                  sizeof arg);
    wv__loop_note_batch();
}

void wv__uring_poll(wv__loop_t *l, bool block, int64_t deadline)
{
    struct wv__uring *u = l->uring;
    if (!u->kick_pending && block)
        kick_arm(l);
    if (!block) {
        /* A look costs no system call unless there are entries to submit
         * or completions waiting to be made (the TASKRUN flag). */
        bool work = IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_TASKRUN;
        if (io_uring_sq_ready(&u->ring) || work) {
            if (u->deferred || work)
                io_uring_submit_and_get_events(&u->ring);
            else
                io_uring_submit(&u->ring);
        }
    } else {
        struct __kernel_timespec ts, *tp = NULL;
        struct io_uring_cqe *c;
        unsigned n, us;
        wv__loop_batch_get(&n, &us);
        if (deadline >= 0) {
            int ms = wv__deadline_timeout_ms(deadline);
            ts.tv_sec = ms / 1000;
            ts.tv_nsec = (long long)(ms % 1000) * 1000000;
            tp = &ts;
            /* The kernel ends a min wait no sooner than its end, even
             * past the timeout: a timer due first bounds it. */
            if ((uint64_t)ms * 1000 < us)
                us = (unsigned)ms * 1000;
        }
        /* Batching (wv_loop_set_batch): never more completions than
         * can come, so a lone exchange is not held to the min wait. */
        unsigned want = n < u->expect ? n : u->expect;
        if (us && u->can_batch && want > 1)
            wait_batch(u, want, us, tp);
        else
            io_uring_submit_and_wait_timeout(&u->ring, &c, 1, tp, NULL);
    }
    unsigned head, n = 0;
    struct io_uring_cqe *c;
    io_uring_for_each_cqe(&u->ring, head, c)
    {
        complete(l, c);
        n++;
    }
    io_uring_cq_advance(&u->ring, n);
}

#else /* built without liburing: the loop is epoll only */

bool wv__uring_usable(void)
{
    return false;
}
bool wv__uring_batch_usable(void)
{
    return false;
}
int wv__uring_open(wv__loop_t *l)
{
    (void)l;
    return WV_ENOSYS;
}
void wv__uring_close(wv__loop_t *l)
{
    (void)l;
}
void wv__uring_forget(wv__loop_t *l)
{
    (void)l;
}
int wv__uring_fd_add(wv__loop_t *l, wv__fdw_t *w)
{
    (void)l, (void)w;
    return WV_ENOSYS;
}
void wv__uring_fd_del(wv__loop_t *l, wv__fdw_t *w)
{
    (void)l, (void)w;
}
int wv__uring_io_add(wv__loop_t *l, wv__uio_t *io)
{
    (void)l, (void)io;
    return WV_ENOSYS;
}
int wv__uring_io_add_pair(wv__loop_t *l, wv__uio_t *snd, wv__uio_t *rcv)
{
    (void)l, (void)snd, (void)rcv;
    return WV_ENOSYS;
}
void wv__uring_io_cancel(wv__loop_t *l, wv__uio_t *io)
{
    (void)l, (void)io;
}
void wv__uring_poll(wv__loop_t *l, bool block, int64_t deadline)
{
    (void)l, (void)block, (void)deadline;
}

#endif /* WEAVE_IO_URING */

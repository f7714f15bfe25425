/*
 * loop/internal.h - the per-thread event loop core under the coroutine
 * scheduler: a timer heap, descriptor readiness (epoll), and the idle
 * wait that a thread's scheduler blocks in when nothing is runnable, which
 * other threads interrupt (wv__loop_kick).
 *
 * The loop knows nothing of coroutines: it hands expired timers and ready
 * descriptor waits back to its owner (coro/sched.c) through callbacks.
 * Every function except wv__loop_kick runs on the loop's own thread.
 * The timers are portable (timer.c); descriptor waits and the idle wait
 * are the backend's (loop_linux.c: epoll, eventfd, futex), which owns the
 * loop's life cycle and calls wv__timers_* for the timers' part.
 * The head comments of timer.c, loop_linux.c and coro/sched.c explain the
 * design.
 */
#ifndef WV_LOOP_INTERNAL_H
#define WV_LOOP_INTERNAL_H

#include "../core/internal.h"
#include "weave/coro.h"

#include <sys/socket.h>

/* ---------------------------------------------------------------- timers */

/* A timer, embedded in its owner (a coroutine). */
typedef struct wv__timer {
    int64_t when; /* deadline, wv_now() milliseconds */
    uint32_t idx; /* position in the heap + 1; 0 = not armed */
} wv__timer_t;

/* ------------------------------------------------------ descriptor waits */

/*
 * One descriptor of a wait, on the waiting party's stack.  The loop sets
 * revents and calls the loop's `ready` callback when one of `events` (or
 * an error or hang-up) is reported.
 */
typedef struct wv__fdw {
    int fd;
    short events;  /* POLLIN, POLLOUT, POLLPRI */
    short revents; /* [loop] what was reported */
    uint32_t op;   /* [loop, io_uring] its operation's slot + 1 while
                      it is in flight, else 0 */
    void *party;   /* the owner's: who waits */
} wv__fdw_t;

/*
 * A socket operation the io_uring backend carries out (a recv into buf,
 * or a sendmsg of msg when msg is set), on the waiting party's stack.
 * The loop sets res, clears f.op (nonzero while it is in flight) and
 * calls `ready(&f)` when it completed.
 */
typedef struct wv__uio {
    wv__fdw_t f; /* fd, party */
    void *buf;
    size_t len;
    struct msghdr *msg;
    int32_t res; /* [loop] bytes, or -errno */
} wv__uio_t;

/* What the loop keeps per descriptor number. */
struct wv__fdrec {
    wv__fdw_t *rd; /* waiting for POLLIN/POLLPRI, or NULL */
    wv__fdw_t *wr; /* waiting for POLLOUT, or NULL */
    uint32_t gen;  /* tags this number's registration's events */
    uint8_t mode;  /* FDREC_*: how it is believed to be in the set */
    uint8_t edges; /* FDREC_EDGE: POLLIN / POLLOUT edges that came with
                      no wait for them, since the last wait */
};

enum { FDREC_NONE, FDREC_ONESHOT, FDREC_EDGE };

typedef struct wv__loop {
    /* timers (timer.c): a binary min-heap (core/heap.h) of armed timers */
    wv__timer_t **heap;
    uint32_t nheap, capheap;
    /* descriptors */
    int epfd;                /* -1 until the first descriptor wait */
    uint32_t epoch;          /* names this epoll set among all (0: none) */
    struct wv__uring *uring; /* the io_uring backend's ring, or NULL */
    int evfd;                /* eventfd for kicks while in epoll_wait; -1 */
    int nwait;               /* descriptor waits in progress */
    struct wv__fdrec *fds;
    size_t nfds;
    /* the idle wait: IDLE_* below; written by the owner, cleared by kicks */
    uint32_t idle;
    /* eventfd writes that kickers owe (they took an IDLE_EPOLL word) and
     * that were not read yet; may dip below 0 while one is read before
     * its debt is counted.  evfd is not closed while this is above 0. */
    int64_t kicks_owed;
    void (*ready)(wv__fdw_t *w); /* set by the owner */
} wv__loop_t;

int wv__loop_init(wv__loop_t *l, void (*ready)(wv__fdw_t *));
void wv__loop_destroy(wv__loop_t *l);
/* Closes the epoll set and its eventfd when no descriptor wait is in
 * progress (the next wait makes them again). */
void wv__loop_release_fds(wv__loop_t *l);
/* In a forked child: lets go of the epoll set and the eventfd, which the
 * child shares with its parent, and forgets every descriptor wait and
 * timer (their parties do not exist there). */
void wv__loop_after_fork(wv__loop_t *l);

/* Makes room for n armed timers, so that wv__timer_add cannot fail.
 * Returns 0 or WV_ENOMEM. */
int wv__timer_reserve(wv__loop_t *l, uint32_t n);
/* Arms t for `when` (re-arms an armed one); room was reserved. */
void wv__timer_add(wv__loop_t *l, wv__timer_t *t, int64_t when);
/* Disarms t if armed. */
void wv__timer_del(wv__loop_t *l, wv__timer_t *t);
/* The earliest armed deadline, or -1 when none is armed. */
static inline int64_t wv__timer_next(const wv__loop_t *l)
{
    return l->nheap ? l->heap[0]->when : -1;
}
/* Disarms and returns the earliest timer due at `now`, or NULL. */
wv__timer_t *wv__timer_pop_due(wv__loop_t *l, int64_t now);
/* For the backend's wv__loop_destroy: frees the heap. */
void wv__timers_destroy(wv__loop_t *l);
/* For the backend's wv__loop_after_fork: forgets every armed timer (their
 * parties do not exist in the child). */
void wv__timers_after_fork(wv__loop_t *l);

/*
 * Starts waiting for w->events on w->fd.  Returns 0, WV_EBUSY (another
 * wait of this loop on fd for the same direction), WV_EBADF, WV_EPERM (a
 * descriptor epoll cannot watch: a regular file, always ready), WV_ENOMEM.
 */
int wv__loop_fd_add(wv__loop_t *l, wv__fdw_t *w);
/*
 * The same for a descriptor whose owner keeps an edge-triggered
 * registration (*reg, 0 at first: the owner's word naming its
 * registration, which this call makes or renews): the caller's last
 * attempt at I/O on w->fd in w->events' directions, on this thread, said
 * EAGAIN, so the next edge is what it waits for.  Costs no system call
 * while the registration stands.  With `guess` (WV__POLL_GUESS) the
 * caller skipped that attempt after a short read: 1 (no wait made) when
 * an edge came since the last wait, else the wait.  Errors as
 * wv__loop_fd_add.
 */
int wv__loop_fd_add_edge(wv__loop_t *l, wv__fdw_t *w, uint64_t *reg,
                         bool guess);
/* Ends the wait w (whether it fired or not). */
void wv__loop_fd_del(wv__loop_t *l, wv__fdw_t *w);

/*
 * Completion I/O, where the loop's backend is io_uring: makes the loop's
 * descriptor set if needed and tells whether its backend carries out
 * socket operations itself.
 */
bool wv__loop_completes(wv__loop_t *l);
/* Submits io (l completes).  0 or WV_ENOMEM. */
int wv__loop_io_add(wv__loop_t *l, wv__uio_t *io);
/*
 * Submits snd (a sendmsg: snd->msg, its total length in snd->len) and,
 * linked behind it, rcv (a recv), so that a message and the wait for the
 * answer cost one io_uring_enter: rcv starts once snd has sent every
 * byte, and is dropped if snd fails or sends fewer.  One completion ends
 * both halves and wakes their party: rcv's (snd->res = snd->len) or
 * snd's failure (rcv->res = -ECANCELED).  0, WV_ENOMEM, or WV_ENOSYS
 * where the backend cannot (epoll; a kernel without DEFER_TASKRUN): then
 * nothing was submitted.
 */
int wv__loop_io_add_pair(wv__loop_t *l, wv__uio_t *snd, wv__uio_t *rcv);
/* Asks the kernel to end io early; it still completes (res -ECANCELED,
 * or what it did): its party waits for that before giving back io. */
void wv__loop_io_cancel(wv__loop_t *l, wv__uio_t *io);
/* io completed; its party is done with it. */
void wv__loop_io_end(wv__loop_t *l, wv__uio_t *io);

/* For the io_uring backend: a fired wait lets go of its descriptor's
 * wait slots. */
void wv__loop_slots_drop(wv__loop_t *l, wv__fdw_t *w);

/* The io_uring backend (uring_linux.c, when built with it). */
bool wv__uring_usable(void);
int wv__uring_open(wv__loop_t *l);
void wv__uring_close(wv__loop_t *l);
void wv__uring_forget(wv__loop_t *l);
int wv__uring_fd_add(wv__loop_t *l, wv__fdw_t *w);
void wv__uring_fd_del(wv__loop_t *l, wv__fdw_t *w);
int wv__uring_io_add(wv__loop_t *l, wv__uio_t *io);
int wv__uring_io_add_pair(wv__loop_t *l, wv__uio_t *snd, wv__uio_t *rcv);
void wv__uring_io_cancel(wv__loop_t *l, wv__uio_t *io);
void wv__uring_poll(wv__loop_t *l, bool block, int64_t deadline);

/*
 * Collects descriptor readiness (calling `ready` for each wait that
 * fired) and, when `block`, waits for it, for a kick or until `deadline`
 * (-1: no deadline).  Without descriptor waits, blocking is a futex wait
 * on l->idle.  `pending` is checked after announcing the idle state: when
 * it returns true the wait is skipped (the owner's Dekker partner of the
 * kick).
 */
void wv__loop_poll(wv__loop_t *l, bool block, int64_t deadline,
                   bool (*pending)(void *), void *arg);

/* From any thread: ends a blocking wv__loop_poll of l, now or at once
 * when it next blocks after its `pending` check.  Async-safe. */
void wv__loop_kick(wv__loop_t *l);

/* Test hook: wv__loop_kick calls hook() after it took an epoll sleeper's
 * idle word and read the eventfd's number, before it writes the eventfd,
 * as if the kicker were preempted there.  NULL turns it off. */
void wv__fault_kick(void (*hook)(void));

/* Test aids: this thread's loop's epoll_ctl calls, and the events it
 * dropped as stale (an old generation), since the thread started. */
uint64_t wv__loop_ctl_calls(void);
uint64_t wv__loop_stale_events(void);
/* Send-then-recv pairs this thread submitted (io_uring: its loop's, or
 * as a plain thread on its own ring), and the thread ring's count. */
uint64_t wv__loop_pairs(void);
void wv__loop_note_pair(void);
/* Single socket reads and writes this thread's loop carried out
 * (io_uring: wv__loop_io_add), pairs not counted. */
uint64_t wv__loop_ios(void);
/* Blocking waits this thread's loop made as a batch (wv_loop_set_batch). */
uint64_t wv__loop_batches(void);
void wv__loop_note_batch(void);

/* wv_loop_set_batch's setting, or WEAVE_LOOP_BATCH's: completions and
 * microseconds, both 0 when off. */
void wv__loop_batch_get(unsigned *n, unsigned *us);
/* io_uring usable, with the min wait (IORING_FEAT_MIN_TIMEOUT, Linux
 * 6.12, which has the deferred task work a loop's ring batches with). */
bool wv__uring_batch_usable(void);

#endif /* WV_LOOP_INTERNAL_H */

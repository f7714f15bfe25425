/*
 * coro/sched.h - the scheduler's records and its hot path, shared by
 * coro/sched.c (everything else about coroutines) and coro/chan.c.
 *
 * A channel operation between coroutines of one thread is a park or a
 * wake-up of a party of this thread's scheduler.  Both go through the
 * waiter kind's function pointers in general; chan.c inlines them instead
 * when the waiter's kind is the calling thread's scheduler's
 * (wv__tls_sched), which is the whole of W3's round trip: one call level
 * and one frame less on each side of a switch (W3 51 -> 47 ns).  Only
 * what that needs is here: the records, the run queue, a local wake-up,
 * the switch and a park.  Their contracts are sched.c's (see the top of
 * that file).
 */
#ifndef WV_CORO_SCHED_H
#define WV_CORO_SCHED_H

#include "bias.h"
#include "internal.h"

#include "../loop/internal.h"
#include "../sync/internal.h"
#include "weave/coro.h"

/* Polls the loop between runs at least every POLL_EVERY switches. */
#define POLL_EVERY 64

struct sched;

struct wv_coro {
    wv__ctx_t ctx;
    struct sched *sched;
    struct wv_coro *next; /* run queue, record cache */
    wv__list_node_t live; /* the scheduler's live coroutines */
    wv__waiter_t *wait;   /* what it sleeps on; NULL otherwise */
    unsigned wait_flags;
    wv__timer_t timer;
    wv__stack_t *stack; /* from its first run to its reaping */
    size_t stack_size;
    wv_coro_fn fn;
    void *arg;
    void *result;
    char *name;           /* owned copy, or NULL: "coro" */
    wv__locals_t *locals; /* its wv_local values while switched out */
    wv_group_t *group;
    wv__list_node_t gmember; /* [group lock] its group's members */
    uint32_t done;           /* [atomic] DONE_BIT | JOIN_BIT */
    uint32_t refs;           /* [atomic] joinable: handle + life */
    bool cancelled;          /* [atomic] */
    bool joinable;
    bool started;
    bool dead;
    bool native; /* the thread's own code */
};

struct sched {
    wv__waiter_kind_t kind; /* this scheduler's waiter kind */
    struct wv_coro *current;
    struct wv_coro main; /* the thread's own code */
    struct wv_coro *rq_head, *rq_tail;
    struct wv_coro *dead; /* finished, to be reaped by the next party */
    wv__list_t live_list; /* every coroutine not finished, by co->live */
    size_t live;
    wv__waiter_t *inbox;      /* [atomic] woken by other threads */
    uint32_t cancels;         /* [atomic] a remote cancel is pending */
    wv__waiter_t *run_waiter; /* wv_coro_run's, while it waits */
    struct wv_coro *cache;    /* finished records, for reuse */
    unsigned ticks;
    bool exiting; /* the thread exits: new coroutines start cancelled */
    wv__loop_t loop;
    struct sched *next_free; /* [free_lock] recycled schedulers */
};

static inline struct sched *kind_sched(const wv__waiter_kind_t *k)
{
    return (struct sched *)(void *)((char *)k - offsetof(struct sched, kind));
}

static inline bool is_cancelled(const struct wv_coro *co)
{
    return __atomic_load_n(&co->cancelled, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------ run queue */

static inline void rq_push(struct sched *s, struct wv_coro *co)
{
    co->next = NULL;
    if (s->rq_tail)
        s->rq_tail->next = co;
    else
        s->rq_head = co;
    s->rq_tail = co;
}

static inline struct wv_coro *rq_pop(struct sched *s)
{
    struct wv_coro *co = s->rq_head;

    if (co) {
        s->rq_head = co->next;
        if (!s->rq_head)
            s->rq_tail = NULL;
    }
    return co;
}

/* The calling thread's scheduler, NULL before its first spawn. */
extern __thread struct sched *wv__tls_sched
    __attribute__((tls_model("initial-exec")));

/* sched.c's cold halves of the inline functions below. */
void wv__sched_start(struct wv_coro *co);
void wv__sched_reap(struct sched *s);
struct wv_coro *wv__sched_wait_runnable(struct sched *s);
void wv__sched_poll(struct sched *s, bool block);

/* The kind's word_wait (coro/wordwait_linux.c): a wait on a futex word
 * shared between processes that parks only the calling party. */
int wv__coro_word_wait(uint32_t *addr, uint32_t expected, int64_t deadline,
                       unsigned flags);

/* Runs `next` instead of the current party, which is parked, finished or
 * queued.  Returns when the current party is resumed. */
static inline void switch_to(struct sched *s, struct wv_coro *next)
{
    struct wv_coro *prev = s->current;

    if (next == prev)
        return; /* woken while it polled on its own stack */
    s->current = next;
    wv__party = next->native ? NULL : next;
    prev->locals = wv__locals_cur;
    wv__locals_cur = next->locals;
    if (WV__UNLIKELY(!next->started))
        wv__sched_start(next);
    if (WV__UNLIKELY(prev->dead))
        wv__ctx_exit(&prev->ctx, &next->ctx); /* never returns */
    wv__ctx_swap(&prev->ctx, &next->ctx);
    if (WV__UNLIKELY(s->dead != NULL))
        wv__sched_reap(s);
}

/* Makes the party sleeping on w (of this thread's scheduler) runnable. */
static inline void wake_local(struct sched *s, wv__waiter_t *w)
{
    struct wv_coro *co = w->ctx ? (struct wv_coro *)w->ctx : &s->main;
    uint32_t st = w->state;

    w->state = WV__W_WOKEN;
    if (st == WV__W_SLEEPING)
        rq_push(s, co);
}

/* The current party stopped being runnable (parked, finished): runs the
 * next one.  Returns when the current party runs again.  Inlined: it is
 * half of every park (W3's round trip has two). */
static inline __attribute__((always_inline)) void schedule(struct sched *s)
{
    struct wv_coro *next;

    if (WV__UNLIKELY((++s->ticks % POLL_EVERY) == 0))
        wv__sched_poll(s, false);
    if (WV__UNLIKELY((next = rq_pop(s)) == NULL))
        next = wv__sched_wait_runnable(s);
    switch_to(s, next);
}

/* The coroutine kind's sleep (wv__waiter_kind_t.sleep) for a waiter of
 * scheduler s, which is the calling thread's. */
static inline __attribute__((always_inline)) int
wv__sched_park(struct sched *s, wv__waiter_t *w, int64_t deadline,
               unsigned flags)
{
    struct wv_coro *co = s->current;

    if (w->state == WV__W_WOKEN)
        return 0;
    if (!(flags & WV__PARK_NOCANCEL) && is_cancelled(co))
        return WV_ECANCELED;
    if (deadline == 0)
        return WV_ETIMEDOUT;
    w->state = WV__W_SLEEPING;
    co->wait = w;
    co->wait_flags = flags;
    if (deadline > 0)
        wv__timer_add(&s->loop, &co->timer, deadline);
    schedule(s);
    co->wait = NULL;
    if (co->timer.idx)
        wv__timer_del(&s->loop, &co->timer);
    switch (w->state) {
    case WV__W_WOKEN:
        return 0;
    case WV__W_TIMEDOUT:
        return WV_ETIMEDOUT;
    default:
        WV__ASSERT(w->state == WV__W_CANCELED);
        return WV_ECANCELED;
    }
}

/* Shared by sched.c, group.c and fdwait.c. */

/* A group (group.c); sched.c reads `word` when a fork drops members. */
struct wv_group {
    wv__bias_t bias;    /* the lock over `members` (bias.h) */
    uint32_t word;      /* [atomic] members not finished */
    bool cancelled;     /* [lock] for writers; read early without it */
    wv__list_t members; /* [lock] by co->gmember */
};

/* Parks the calling party on w until woken, the deadline or (without
 * WV__PARK_NOCANCEL) a cancel: the coroutine kind's sleep. */
int wv__coro_sleep(wv__waiter_t *w, int64_t deadline, unsigned flags);
/* Makes a coroutine on the calling thread's scheduler (wv_coro_spawn's
 * and wv_group_spawn's body); the caller sets co->group first if any. */
int wv__coro_spawn(struct wv_coro **out, wv_coro_fn fn, void *arg,
                   const wv_coro_opts_t *opts, bool joinable);
/* Cancels co's park if it sleeps cancellably (co of s's thread). */
void wv__coro_cancel_local(struct sched *s, struct wv_coro *co);
/* co, a group member, has finished: it leaves its group (group.c). */
void wv__group_leave(struct wv_coro *co);
/* The kind's descriptor wait and its readiness callback (fdwait.c). */
int wv__coro_fds_wait(struct pollfd *fds, size_t n, int64_t deadline);
int wv__coro_fd_wait_again(int fd, short events, int64_t deadline,
                           uint64_t *reg);
ssize_t wv__coro_fd_io(int fd, void *buf, size_t len, struct msghdr *msg,
                       int64_t deadline);
/* wv__fd_send_recv for a coroutine: the pair through its loop. */
ssize_t wv__coro_fd_send_recv(int fd, struct msghdr *msg, size_t msg_len,
                              ssize_t *sent, void *buf, size_t len,
                              int64_t deadline);
void wv__coro_fd_ready(wv__fdw_t *f);

#endif /* WV_CORO_SCHED_H */

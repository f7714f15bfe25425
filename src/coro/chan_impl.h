/*
 * coro/chan_impl.h - a channel's records and its lock, shared by chan.c
 * (send, receive, close, select) and chan_lock.c (the lock's slow path).
 * Private to the channel: the design is at the top of chan.c.
 */
#ifndef WV_CORO_CHAN_IMPL_H
#define WV_CORO_CHAN_IMPL_H

#include "sched.h"

#include "weave/chan.h"

#define GAVE_UP UINT32_MAX /* claim word: the select withdrew */

typedef struct wv__chan_entry entry_t;

/* A waiting party, on its stack for the duration of its wait. */
struct wv__chan_wait {
    wv__waiter_t w; /* how it sleeps and is woken */
    uint32_t claim; /* select only: 0, idx + 1 or GAVE_UP (atomic) */
    int err;        /* its result, set by the waker: 0, WV_EOF or
                     * WV_ESHUTDOWN (the channel was closed) */
};

struct queue {
    entry_t *head; /* oldest */
    entry_t *tail;
};

struct wv_chan {
    uintptr_t owner;    /* [atomic] the owner's token, or OWNER_* */
    uintptr_t busy;     /* [atomic] the owner's token while it holds it */
    uint32_t lock;      /* leaf lock once shared: 0 free, 1, 2 sleepers */
    bool closed;        /* [lock] */
    size_t len;         /* [lock] values in the ring (atomic stores) */
    size_t head;        /* [lock] byte offset of the oldest value */
    size_t tail;        /* [lock] byte offset of the next free slot */
    struct queue sendq; /* [lock] blocked senders */
    struct queue recvq; /* [lock] blocked receivers */
    size_t elem_size;   /* bytes per value */
    size_t cap;         /* values the ring holds */
    size_t bytes;       /* cap * elem_size: the ring's size */
    unsigned char ring[] __attribute__((aligned(16)));
};

/* ------------------------------------------------------------------ lock */

/*
 * A biased lock (docs/chan.md, "The lock").  Most channels are used by one
 * thread's coroutines only, where a leaf lock's two atomic instructions
 * per operation are a tenth of a round trip.  So the first thread to lock
 * a channel becomes its owner, and locks it with plain stores:
 *
 *     owner:  busy = me; compiler barrier; owner still me? -> held
 *     unlock: busy = 0 (release)
 *
 * A second thread revokes the bias, once, and from then on every thread
 * takes the leaf lock:
 *
 *     owner = REVOKING (CAS); wv__barrier_heavy();
 *     wait until busy == 0; owner = SHARED (release)
 *
 * The barrier pair is Dekker's: either the owner sees REVOKING and backs
 * off, or the revoker sees its busy word and waits for the owner's
 * section to end: a few queue operations, never a sleep, except that a
 * select holding some of its channels may wait for a later one's lock
 * (address order: no cycle).  Threads that meet REVOKING wait for SHARED.
 * Both waits spin, then sleep with backoff.  Without a cheap heavy
 * barrier (membarrier refused), channels are never biased.  The unlock
 * tells the two cases apart by busy == this thread's token: only the
 * owner ever writes its token there.
 */
#define OWNER_NONE     1 /* nobody has locked it yet */
#define OWNER_SHARED   2 /* every thread takes the leaf lock */
#define OWNER_REVOKING 3 /* a thread is revoking the owner's bias */

/* This thread's token, 0 until its first slow lock (0 matches no owner
 * word).  Tokens come from a counter and are never reused: a thread that
 * reused a dead owner's token would enter its sections with nothing
 * ordering them after the dead owner's (a thread-local address is reused
 * with its thread's stack).  Defined in chan_lock.c. */
extern __thread uintptr_t wv__chan_bias_token
    __attribute__((tls_model("initial-exec")));

/* The first lock (which claims the bias), a revocation, and a lock that
 * met one in progress (chan_lock.c). */
__attribute__((noinline)) void wv__chan_lock_slow(wv_chan_t *ch);

/* Enters the owner's section if ch is still biased to self. */
static inline bool try_bias(wv_chan_t *ch, uintptr_t self)
{
    __atomic_store_n(&ch->busy, self, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* wv__barrier_light */
    if (WV__LIKELY(__atomic_load_n(&ch->owner, __ATOMIC_RELAXED) == self))
        return true;
    __atomic_store_n(&ch->busy, 0, __ATOMIC_RELEASE);
    return false;
}

/* The owner's plain stores, or a shared channel's leaf lock, inline; the
 * rest (the first lock, revocation) out of line.  Acquire: a thread that
 * sees SHARED may take the leaf lock before the revoker does, and must
 * see the last owner's section (the revoker's release of SHARED).  A
 * thread without a token yet goes the slow way once, which gives it one:
 * chan_unlock tells a biased hold by busy == token, and a token of 0
 * would match an idle busy word. */
static inline void chan_lock(wv_chan_t *ch)
{
    uintptr_t o = __atomic_load_n(&ch->owner, __ATOMIC_ACQUIRE);
    if (WV__LIKELY(o == wv__chan_bias_token) && WV__LIKELY(try_bias(ch, o)))
        return;
    if (o == OWNER_SHARED && WV__LIKELY(wv__chan_bias_token != 0))
        wv__leaf_lock(&ch->lock);
    else
        wv__chan_lock_slow(ch);
}

static inline void chan_unlock(wv_chan_t *ch)
{
    if (WV__LIKELY(__atomic_load_n(&ch->busy, __ATOMIC_RELAXED) ==
                   wv__chan_bias_token))
        __atomic_store_n(&ch->busy, 0, __ATOMIC_RELEASE);
    else
        wv__leaf_unlock(&ch->lock);
}

#endif /* WV_CORO_CHAN_IMPL_H */

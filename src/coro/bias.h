/*
 * coro/bias.h - a biased lock, for objects that one thread's coroutines
 * use almost always alone: channels (chan.c) and groups (group.c).
 *
 * Most channels and groups are used by one thread's coroutines only,
 * where a leaf lock's two atomic instructions per operation are a tenth
 * of a channel round trip or a third of a spawn.  So the first thread to
 * lock one becomes its owner, and locks it with plain stores:
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
 * section to end: a few list operations, never a sleep, except that a
 * select holding some of its channels may wait for a later one's lock
 * (address order: no cycle).  Threads that meet REVOKING wait for SHARED.
 * Both waits spin, then sleep with backoff.  Without a cheap heavy
 * barrier (membarrier refused), nothing is ever biased.  The unlock tells
 * the two cases apart by busy == this thread's token: only the owner ever
 * writes its token there.  docs/chan.md, "The lock", has the measurements
 * and the rejected options.
 *
 * A bias is a lock like any other across fork: the child's thread is a
 * copy of the forking one, and a section another thread held at the fork
 * is never left there.
 */
#ifndef WV_CORO_BIAS_H
#define WV_CORO_BIAS_H

#include "../core/internal.h"

#define OWNER_NONE     1 /* nobody has locked it yet */
#define OWNER_SHARED   2 /* every thread takes the leaf lock */
#define OWNER_REVOKING 3 /* a thread is revoking the owner's bias */

typedef struct wv__bias {
    uintptr_t owner; /* [atomic] the owner's token, or OWNER_* */
    uintptr_t busy;  /* [atomic] the owner's token while it holds it */
    uint32_t lock;   /* leaf lock once shared: 0 free, 1, 2 sleepers */
} wv__bias_t;

#define WV__BIAS_INIT                                                          \
    {                                                                          \
        OWNER_NONE, 0, 0                                                       \
    }

/* Call once before the first lock of any bias of the process (it readies
 * the heavy barrier, whose availability decides whether biases exist). */
static inline void wv__bias_init(wv__bias_t *b)
{
    wv__barrier_init();
    *b = (wv__bias_t)WV__BIAS_INIT;
}

/* This thread's token, 0 until its first slow lock (0 matches no owner
 * word).  Tokens come from a counter and are never reused: a thread that
 * reused a dead owner's token would enter its sections with nothing
 * ordering them after the dead owner's (a thread-local address is reused
 * with its thread's stack).  Defined in bias.c. */
extern __thread uintptr_t wv__bias_token
    __attribute__((tls_model("initial-exec")));

/* The first lock (which claims the bias), a revocation, and a lock that
 * met one in progress (bias.c). */
__attribute__((noinline)) void wv__bias_lock_slow(wv__bias_t *b);

/* Enters the owner's section if b is still biased to self. */
static inline bool wv__bias_try(wv__bias_t *b, uintptr_t self)
{
    __atomic_store_n(&b->busy, self, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* wv__barrier_light */
    if (WV__LIKELY(__atomic_load_n(&b->owner, __ATOMIC_RELAXED) == self))
        return true;
    __atomic_store_n(&b->busy, 0, __ATOMIC_RELEASE);
    return false;
}

/* The owner's plain stores, or a shared lock's leaf lock, inline; the
 * rest (the first lock, revocation) out of line.  Acquire: a thread that
 * sees SHARED may take the leaf lock before the revoker does, and must
 * see the last owner's section (the revoker's release of SHARED).  A
 * thread without a token yet goes the slow way once, which gives it one:
 * wv__bias_unlock tells a biased hold by busy == token, and a token of 0
 * would match an idle busy word. */
static inline void wv__bias_lock(wv__bias_t *b)
{
    uintptr_t o = __atomic_load_n(&b->owner, __ATOMIC_ACQUIRE);
    if (WV__LIKELY(o == wv__bias_token) && WV__LIKELY(wv__bias_try(b, o)))
        return;
    if (o == OWNER_SHARED && WV__LIKELY(wv__bias_token != 0))
        wv__leaf_lock(&b->lock);
    else
        wv__bias_lock_slow(b);
}

static inline void wv__bias_unlock(wv__bias_t *b)
{
    if (WV__LIKELY(__atomic_load_n(&b->busy, __ATOMIC_RELAXED) ==
                   wv__bias_token))
        __atomic_store_n(&b->busy, 0, __ATOMIC_RELEASE);
    else
        wv__leaf_unlock(&b->lock);
}

/* The owner's half of wv__bias_lock alone, for fast paths that must make
 * no call (chan.c): true if b is biased to the calling thread and is now
 * held by it, to be released with wv__bias_unlock_own; false, b not held,
 * otherwise (the caller then takes wv__bias_lock's path). */
static inline bool wv__bias_lock_own(wv__bias_t *b)
{
    uintptr_t o = __atomic_load_n(&b->owner, __ATOMIC_ACQUIRE);
    return WV__LIKELY(o == wv__bias_token) && WV__LIKELY(wv__bias_try(b, o));
}

/* Releases a hold that wv__bias_lock_own took: the unlock's biased half,
 * without its test (the caller knows how it holds b). */
static inline void wv__bias_unlock_own(wv__bias_t *b)
{
    __atomic_store_n(&b->busy, 0, __ATOMIC_RELEASE);
}

/* Test aid: 1 biased to the calling thread, 2 biased to another, 0
 * otherwise (not yet locked, or shared). */
int wv__bias_state(const wv__bias_t *b);

#endif /* WV_CORO_BIAS_H */

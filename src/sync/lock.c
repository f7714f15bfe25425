/*
 * sync/lock.c - threading.Lock: the slow paths behind the inline fast
 * paths of weave/sync.h.
 *
 * State word:  bit 0 HELD    the lock is held (WV_LOCK_HELD);
 *              bit 1 PARKED  waiters may be parked on the lock's address.
 * Acquire: exchange(HELD).  It found 0: acquired.  It found HELD: nothing
 * changed, the lock is somebody else's.  It found PARKED set: the exchange
 * just cleared that bit, which the slow path puts back before anything
 * else; in the meantime a release may take the fast path and skip the
 * wake-up, but the exchanging thread is itself an acquirer that will take
 * and release the lock (or see it held by someone whose release will see
 * PARKED again), so the parked waiters are woken at the latest then.
 * Release: CAS HELD -> 0; only with PARKED set does it leave the fast path.
 * Exchange+CAS measured 4.41 ns per pair here, CAS+CAS 4.52.
 *
 * The last touch rule.  A release must not touch the lock after the atomic
 * step that makes it free, because the next holder may free it at once
 * (glibc bug 13690 is this bug).  So with PARKED set, the lock stays HELD
 * until the unpark callback, under the bucket lock, stores the new state
 * (free, or handed to the woken waiter).  An earlier version released with
 * one XADD and fixed up PARKED afterwards: faster by 0.4 ns, and a
 * use-after-free.
 *
 * PARKED is set by a waiter (CAS) before it parks; the parking lot
 * re-validates HELD|PARKED under the bucket lock, so a release cannot slip
 * in between.  It is cleared under the bucket lock: by the releaser's
 * callback when the last waiter is dequeued, or by a timed-out waiter that
 * was the last.  A stale PARKED costs one slow release that finds nobody.
 *
 * Spinning.  A waiter looks at the word SPIN_ROUNDS times, SPIN_PAUSES
 * `pause`s apart, before parking, and only while nobody is parked.  Both
 * alternatives measured worse on the 2-thread benchmark (BENCH.md W5):
 * a tight spin (a load every pause) keeps pulling the lock's cache line
 * away from the holder and ownership ping-pongs (11-20 ns/increment); no
 * spin at all makes the woken waiter re-park at once, before it ever
 * sleeps, so every release takes the slow path (35-50 ns), as counted
 * with an instrumented build.  Sparse looks let the holder run its
 * critical sections back to back while a waiter still catches the lock
 * within ~1 us of it going free.
 *
 * Throughput over fairness, with a bound.  A woken waiter competes with
 * running threads (barging), but when the waiter at the head of the queue
 * has waited FAIR_MS or more, the release hands the lock over without
 * freeing it (token HANDOFF), as Go's starvation mode does.  Rejected:
 * waking a waiter at every contended release (pthread's default mutex),
 * and strict FIFO hand-off, where every release waits ~30 us for a
 * sleeping thread to be scheduled while the lock is idle.
 */
#include "internal.h"

#define HELD   WV_LOCK_HELD
#define PARKED 2u

#define TOKEN_NORMAL  0
#define TOKEN_HANDOFF 1

#ifndef SPIN_ROUNDS
#define SPIN_ROUNDS 4 /* looks at the state word before parking */
#endif
#ifndef SPIN_PAUSES
#define SPIN_PAUSES 50 /* cpu_relax between two looks */
#endif
#ifndef FAIR_MS
#define FAIR_MS 1 /* a waiter older than this is handed the lock */
#endif

uint64_t wv__lock_handoffs;

void wv_lock_init(wv_lock_t *l)
{
    __atomic_store_n(&l->_state, 0, __ATOMIC_RELAXED);
}

void wv_lock_destroy(wv_lock_t *l)
{
    (void)l;
}

bool wv_lock_is_locked(const wv_lock_t *l)
{
    return __atomic_load_n(&l->_state, __ATOMIC_RELAXED) & HELD;
}

/* One attempt at a free lock: 0, or WV_EAGAIN if it is held. */
static int try_take(wv_lock_t *l)
{
    uint32_t s = __atomic_load_n(&l->_state, __ATOMIC_RELAXED);

    while (!(s & HELD))
        if (__atomic_compare_exchange_n(&l->_state, &s, s | HELD, true,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return 0;
    return WV_EAGAIN;
}

static int lock_slow(wv_lock_t *l, int64_t deadline, unsigned flags)
{
    wv__word_wait_t wait = {
        .key = l,
        .word = &l->_state,
        .bit = PARKED,
        .mask = ~0u,
        .expect = HELD | PARKED,
        .deadline = deadline,
        .flags = flags,
    };
    unsigned spins = 0;

    for (;;) {
        uint32_t s = __atomic_load_n(&l->_state, __ATOMIC_RELAXED);
        if (!(s & HELD)) {
            if (__atomic_compare_exchange_n(&l->_state, &s, s | HELD, true,
                                            __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                return 0;
            continue;
        }
        if (deadline == 0)
            return WV_EAGAIN;
        if (!(s & PARKED) && spins < SPIN_ROUNDS) {
            spins++;
            for (int i = 0; i < SPIN_PAUSES; i++)
                wv__cpu_relax();
            continue;
        }
        if (!wv__deadline_ok(deadline))
            return WV_EINVAL;
        if (!wait.since)
            wait.since = wv_now(); /* kept across re-parks, for fairness */
        uintptr_t token;
        int err = wv__park_word(&wait, &token);
        if (err == 0 && token == TOKEN_HANDOFF)
            return 0; /* the releaser left HELD set for us */
        if (err == WV_ETIMEDOUT || err == WV_ECANCELED)
            return try_take(l) == 0 ? 0 : err; /* the state wins */
        spins = 0; /* woken, or the state changed: compete again */
    }
}

/* After an exchange to HELD found `old` (not 0) in the word. */
static int after_exchange(wv_lock_t *l, int64_t deadline, uint32_t old,
                          unsigned flags)
{
    if (old & PARKED) {
        /* Our exchange wiped PARKED: put it back before anything else. */
        __atomic_fetch_or(&l->_state, PARKED, __ATOMIC_RELAXED);
    }
    if (!(old & HELD))
        return 0; /* the lock was free: the exchange took it */
    return lock_slow(l, deadline, flags);
}

int wv_lock_acquire_slow(wv_lock_t *l, int64_t deadline, uint32_t old)
{
    return after_exchange(l, deadline, old, 0);
}

int wv_lock_acquire(wv_lock_t *l, int64_t deadline)
{
    uint32_t old = __atomic_exchange_n(&l->_state, HELD, __ATOMIC_ACQUIRE);

    return old == 0 ? 0 : wv_lock_acquire_slow(l, deadline, old);
}

void wv__lock_acquire_nocancel(wv_lock_t *l)
{
    uint32_t old = __atomic_exchange_n(&l->_state, HELD, __ATOMIC_ACQUIRE);

    if (old == 0)
        return;
    int err = after_exchange(l, WV_FOREVER, old, WV__PARK_NOCANCEL);
    WV__ASSERT(err == 0);
}

struct release {
    wv_lock_t *lock;
    int err;
};

/* Under the bucket lock, with HELD set by the releaser: the word can only
 * change meanwhile by gaining PARKED or by an acquirer's exchange wiping
 * it (that acquirer restores it afterwards), so a plain store is safe.
 * Unless two releases of one acquisition raced here (a misuse): the second
 * finds the lock already free, changes nothing and reports WV_EPERM. */
static uintptr_t unpark_cb(void *arg, wv__unpark_result_t r)
{
    struct release *rel = arg;
    wv_lock_t *l = rel->lock;
    uint32_t rest = r.have_more ? PARKED : 0;

    if (!(__atomic_load_n(&l->_state, __ATOMIC_RELAXED) & HELD)) {
        rel->err = WV_EPERM; /* any waiter woken here just competes */
        return TOKEN_NORMAL;
    }
    if (r.unparked && wv_now() - r.since >= FAIR_MS) {
        __atomic_store_n(&l->_state, HELD | rest, __ATOMIC_RELAXED);
        __atomic_add_fetch(&wv__lock_handoffs, 1, __ATOMIC_RELAXED);
        return TOKEN_HANDOFF;
    }
    __atomic_store_n(&l->_state, rest, __ATOMIC_RELEASE);
    return TOKEN_NORMAL;
}

int wv_lock_release_slow(wv_lock_t *l)
{
    for (;;) {
        uint32_t s = __atomic_load_n(&l->_state, __ATOMIC_RELAXED);
        if (!(s & HELD))
            return WV_EPERM;
        if (s & PARKED)
            break;
        if (__atomic_compare_exchange_n(&l->_state, &s, 0, true,
                                        __ATOMIC_RELEASE, __ATOMIC_RELAXED))
            return 0;
    }
    struct release rel = {l, 0};
    wv__unpark(l, 1, unpark_cb, &rel);
    return rel.err;
}

int wv_lock_release(wv_lock_t *l)
{
    uint32_t held = HELD;

    if (__atomic_compare_exchange_n(&l->_state, &held, 0, true,
                                    __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        return 0;
    return wv_lock_release_slow(l);
}

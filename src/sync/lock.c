/*
 * sync/lock.c - threading.Lock.
 *
 * State word:  bit 0 LOCKED  the lock is held;
 *              bit 1 PARKED  waiters may be parked on the lock's address.
 * Acquire: CAS 0 -> LOCKED.  Release: CAS LOCKED -> 0.  Only when PARKED is
 * set does either leave the fast path.
 *
 * PARKED is set by a waiter (CAS) before it parks; the parking lot
 * re-validates LOCKED|PARKED under the bucket lock, so a release cannot
 * slip in between.  It is cleared under the bucket lock: by the releaser's
 * unpark callback when the last waiter is dequeued, or by a timed-out
 * waiter that was the last.  A stale PARKED bit costs one slow release that
 * finds nobody, never a lost wake-up.
 *
 * Throughput over fairness, with a bound: a woken waiter competes with
 * running threads (barging keeps the lock's cache line on one core, which
 * is what the 2-thread benchmark measures), but when the waiter about to be
 * woken has waited FAIR_MS or more, the releaser hands the lock over
 * without unlocking it (token HANDOFF), as Go's starvation mode does.
 *
 * Rejected: waking a waiter on every contended release (pthread): a futex
 * wake per release; and strict FIFO hand-off: every release then waits for
 * a sleeping thread to be scheduled (~30 us here) while nobody holds the
 * lock's critical section.
 */
#include "internal.h"

#define LOCKED 1u
#define PARKED 2u

#define TOKEN_NORMAL  0
#define TOKEN_HANDOFF 1

#define SPIN_LIMIT 200 /* loads of the state word before parking */
#define FAIR_MS    1   /* a waiter older than this is handed the lock */

void wv_lock_init(wv_lock_t *l)
{
    __atomic_store_n(&l->_state, 0, __ATOMIC_RELAXED);
}

void wv_lock_destroy(wv_lock_t *l)
{
    (void)l;
}

bool wv_lock_locked(const wv_lock_t *l)
{
    return __atomic_load_n(&l->_state, __ATOMIC_RELAXED) & LOCKED;
}

static bool park_validate(void *arg)
{
    wv_lock_t *l = arg;
    return __atomic_load_n(&l->_state, __ATOMIC_RELAXED) == (LOCKED | PARKED);
}

static void park_timed_out(void *arg, bool was_last)
{
    wv_lock_t *l = arg;
    if (was_last)
        __atomic_fetch_and(&l->_state, ~PARKED, __ATOMIC_RELAXED);
}

static int lock_slow(wv_lock_t *l, int64_t deadline, unsigned flags)
{
    int64_t since = 0;
    unsigned spins = 0;

    for (;;) {
        uint32_t s = __atomic_load_n(&l->_state, __ATOMIC_RELAXED);
        if (!(s & LOCKED)) {
            if (__atomic_compare_exchange_n(&l->_state, &s, s | LOCKED, true,
                                            __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                return 0;
            continue;
        }
        if (deadline == 0)
            return WV_EAGAIN;
        /* Spin only while nobody is parked: if somebody is, the lock is
         * held for long stretches and spinning would only burn the core. */
        if (!(s & PARKED) && spins < SPIN_LIMIT) {
            spins++;
            wv__cpu_relax();
            continue;
        }
        if (!wv__deadline_ok(deadline))
            return WV_EINVAL;
        if (!(s & PARKED) &&
            !__atomic_compare_exchange_n(&l->_state, &s, s | PARKED, false,
                                         __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            continue;
        if (!since)
            since = wv_now();

        wv__park_req_t req = {
            .key = l,
            .validate = park_validate,
            .timed_out = park_timed_out,
            .arg = l,
            .deadline = deadline,
            .since = since,
            .flags = flags,
        };
        uintptr_t token;
        int err = wv__park(&req, &token);
        if (err == 0 && token == TOKEN_HANDOFF)
            return 0; /* the releaser left LOCKED set for us */
        if (err == WV_ETIMEDOUT || err == WV_ECANCELED)
            return err;
        spins = 0; /* woken, or the state changed: compete again */
    }
}

int wv_lock_acquire(wv_lock_t *l, int64_t deadline)
{
    uint32_t s = 0;

    if (WV__LIKELY(__atomic_compare_exchange_n(
            &l->_state, &s, LOCKED, true, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)))
        return 0;
    return lock_slow(l, deadline, 0);
}

void wv__lock_acquire_nocancel(wv_lock_t *l)
{
    uint32_t s = 0;

    if (__atomic_compare_exchange_n(&l->_state, &s, LOCKED, true,
                                    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return;
    int err = lock_slow(l, WV_FOREVER, WV__PARK_NOCANCEL);
    WV__ASSERT(err == 0);
}

/* Under the bucket lock, with LOCKED|PARKED set and held by the releaser:
 * nobody else can change the word but to set PARKED, already set. */
static uintptr_t unpark_cb(void *arg, wv__unpark_result_t r)
{
    wv_lock_t *l = arg;
    uint32_t rest = r.have_more ? PARKED : 0;

    if (r.unparked && wv_now() - r.since >= FAIR_MS) {
        __atomic_store_n(&l->_state, LOCKED | rest, __ATOMIC_RELAXED);
        return TOKEN_HANDOFF;
    }
    __atomic_store_n(&l->_state, rest, __ATOMIC_RELEASE);
    return TOKEN_NORMAL;
}

static int unlock_slow(wv_lock_t *l)
{
    for (;;) {
        uint32_t s = __atomic_load_n(&l->_state, __ATOMIC_RELAXED);
        if (!(s & LOCKED))
            return WV_EPERM;
        if (s & PARKED)
            break;
        if (__atomic_compare_exchange_n(&l->_state, &s, 0, true,
                                        __ATOMIC_RELEASE, __ATOMIC_RELAXED))
            return 0;
    }
    wv__unpark(l, 1, unpark_cb, l);
    return 0;
}

int wv_lock_release(wv_lock_t *l)
{
    uint32_t s = LOCKED;

    if (WV__LIKELY(__atomic_compare_exchange_n(
            &l->_state, &s, 0, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED)))
        return 0;
    return unlock_slow(l);
}

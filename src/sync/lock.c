/*
 * sync/lock.c - threading.Lock: the slow paths behind the inline fast
 * paths of weave/sync.h.
 *
 * State word:  bit 31 HELD    the lock is held (WV__LOCK_HELD);
 *              bit 0  PARKED  waiters may be parked on the lock's address.
 * Acquire: CAS 0 -> HELD.  Release: fetch_add(HELD), one `lock xadd`, which
 * toggles bit 31 only (the carry leaves the word): HELD -> 0, and
 * HELD|PARKED -> PARKED.  An XADD cannot refuse, unlike a CAS, so a release
 * of a lock that was not held first sets HELD, then sees it from the old
 * value and toggles it back (a misuse costs a brief false "held"; the
 * waiters that parked meanwhile are woken).  XADD+CAS measured 4.0 ns per
 * lock/unlock here against 4.5 ns for CAS+CAS.
 *
 * PARKED is set by a waiter (CAS) before it parks; the parking lot
 * re-validates HELD|PARKED under the bucket lock, so a release cannot slip
 * in between.  It is cleared under the bucket lock only: by the releaser's
 * unpark callback when the last waiter is dequeued, or by a timed-out
 * waiter that was the last.  A stale PARKED costs one slow release that
 * finds nobody, never a lost wake-up.
 *
 * Spinning.  A waiter looks at the word SPIN_ROUNDS times, SPIN_PAUSES
 * `pause`s apart, before parking, and only while nobody is parked.  Both
 * alternatives measured worse on the 2-thread benchmark (BENCH.md W5):
 * a tight spin (a load every pause) keeps pulling the lock's cache line
 * away from the holder and ownership ping-pongs (11-20 ns/increment); no
 * spin at all makes the woken waiter re-park at once, before it ever
 * sleeps, so every release takes the slow path (35-50 ns).  Sparse looks
 * let the holder run its critical sections back to back while the waiter
 * still catches the lock within ~1 us of it going free.
 *
 * Throughput over fairness, with a bound.  A woken waiter competes with
 * running threads (barging), but a waiter that has waited FAIR_MS or more
 * is handed the lock: the releaser's unpark callback re-acquires the lock
 * on its behalf, if nobody barged in since the release, and passes it over
 * with token HANDOFF.  A barger can win that window now and then, not
 * every time, so a waiter cannot starve (Go's starvation mode has the same
 * purpose).  Rejected: waking a waiter at every contended release
 * (pthread's default mutex), and strict FIFO hand-off, where every release
 * waits ~30 us for a sleeping thread to be scheduled with the lock idle.
 */
#include "internal.h"

#define HELD WV__LOCK_HELD
#define PARKED 1u

#define TOKEN_NORMAL 0
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
    return __atomic_load_n(&l->_state, __ATOMIC_RELAXED) & HELD;
}

static bool park_validate(void *arg)
{
    wv_lock_t *l = arg;
    return __atomic_load_n(&l->_state, __ATOMIC_RELAXED) == (HELD | PARKED);
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
        if (!(s & HELD)) {
            if (__atomic_compare_exchange_n(&l->_state, &s, s | HELD, true,
                                            __ATOMIC_ACQUIRE,
                                            __ATOMIC_RELAXED))
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
            return 0; /* the releaser took the lock for us */
        if (err == WV_ETIMEDOUT || err == WV_ECANCELED)
            return err;
        spins = 0; /* woken, or the state changed: compete again */
    }
}

int wv__lock_acquire(wv_lock_t *l, int64_t deadline)
{
    uint32_t s = 0;

    if (__atomic_compare_exchange_n(&l->_state, &s, HELD, true,
                                    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return 0;
    return lock_slow(l, deadline, 0);
}

void wv__lock_acquire_nocancel(wv_lock_t *l)
{
    uint32_t s = 0;

    if (__atomic_compare_exchange_n(&l->_state, &s, HELD, true,
                                    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return;
    int err = lock_slow(l, WV_FOREVER, WV__PARK_NOCANCEL);
    WV__ASSERT(err == 0);
}

/* Under the bucket lock, after a release left PARKED in the word (and
 * maybe HELD, if somebody barged in since). */
static uintptr_t unpark_cb(void *arg, wv__unpark_result_t r)
{
    wv_lock_t *l = arg;
    uint32_t rest = r.have_more ? PARKED : 0;

    if (r.unparked && wv_now() - r.since >= FAIR_MS) {
        uint32_t s = PARKED; /* free: nobody barged in */
        if (__atomic_compare_exchange_n(&l->_state, &s, HELD | rest, false,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return TOKEN_HANDOFF;
    }
    if (!rest)
        __atomic_fetch_and(&l->_state, ~PARKED, __ATOMIC_RELAXED);
    return TOKEN_NORMAL;
}

int wv__lock_release_slow(wv_lock_t *l, uint32_t old)
{
    int err = 0;

    if (!(old & HELD)) {
        /* Not held: our add set HELD; toggle it back.  Waiters that parked
         * while it looked held must not be left behind. */
        old = __atomic_fetch_add(&l->_state, HELD, __ATOMIC_RELEASE);
        err = WV_EPERM;
    }
    if (old & PARKED)
        wv__unpark(l, 1, unpark_cb, l);
    return err;
}

int wv__lock_release(wv_lock_t *l)
{
    uint32_t old = __atomic_fetch_add(&l->_state, HELD, __ATOMIC_RELEASE);

    if (old == HELD)
        return 0;
    return wv__lock_release_slow(l, old);
}

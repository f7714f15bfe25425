/*
 * sync/barrier.c - threading.Barrier.
 *
 * Python's algorithm, over weave's Lock and Condition.  _state:
 *    0 FILLING    arrivals are counted; the last one releases;
 *    1 DRAINING   released: waiters are returning; new arrivals wait;
 *   -1 RESETTING  reset while waiters were inside: they return WV_EBROKEN;
 *                 new arrivals wait;
 *   -2 BROKEN     every wait returns WV_EBROKEN until reset.
 * _count counts the threads inside wait (arrived, not yet returned); the last
 * to leave a DRAINING or RESETTING barrier turns it back to FILLING.  As no
 * generation can start before the previous one has fully left, a waiter
 * that re-takes the lock after its deadline reads its own generation's
 * outcome in _state, exactly.  All fields are protected by _lock.
 */
#include "internal.h"

enum { FILLING = 0, DRAINING = 1, RESETTING = -1, BROKEN = -2 };

int wv_barrier_init(wv_barrier_t *b, unsigned parties,
                    wv_barrier_action_fn action, void *arg)
{
    if (parties == 0)
        return WV_EINVAL;
    *b = (wv_barrier_t)WV_BARRIER_INIT(parties, action, arg);
    return 0;
}

/* Waits for the parties of a released, reset or broken generation that
 * are still on their way out: they touch the barrier until they have
 * re-taken and released its lock.  Nobody may be *waiting* at the barrier
 * (counted in a FILLING one): that is the caller's bug. */
void wv_barrier_destroy(wv_barrier_t *b)
{
    wv__lock_acquire_nocancel(&b->_lock);
    while (b->_count > 0 && b->_state != FILLING)
        wv_cond_wait(&b->_cond, &b->_lock, WV_FOREVER);
    wv_lock_release(&b->_lock);
}

static bool not_in_transition(void *arg)
{
    wv_barrier_t *b = arg;
    return b->_state != DRAINING && b->_state != RESETTING;
}

static bool not_filling(void *arg)
{
    wv_barrier_t *b = arg;
    return b->_state != FILLING;
}

static void break_locked(wv_barrier_t *b)
{
    b->_state = BROKEN;
    wv_cond_notify_all(&b->_cond);
}

static void leave_locked(wv_barrier_t *b)
{
    if (--b->_count != 0)
        return;
    if (b->_state == DRAINING || b->_state == RESETTING)
        b->_state = FILLING;
    /* The last one out: arrivals wait for FILLING, a destroy for 0. */
    wv_cond_notify_all(&b->_cond);
}

/* The last arrival: run the action, then release everyone. */
static int release_locked(wv_barrier_t *b)
{
    if (b->_action) {
        int err = b->_action(b->_arg);
        if (err < 0) {
            break_locked(b);
            return err;
        }
    }
    b->_state = DRAINING;
    wv_cond_notify_all(&b->_cond);
    return 0;
}

/* An arrival that is not the last: wait for the release. */
static int wait_released(wv_barrier_t *b, int64_t deadline)
{
    int err = wv_cond_wait_for(&b->_cond, &b->_lock, not_filling, b, deadline);
    if (err == WV_EAGAIN || err == WV_EINVAL)
        return err; /* deadline 0 or bad: the caller withdraws */
    if (err) {
        break_locked(b);
        return err;
    }
    return b->_state == DRAINING ? 0 : WV_EBROKEN;
}

int wv_barrier_wait(wv_barrier_t *b, int64_t deadline)
{
    wv__lock_acquire_nocancel(&b->_lock);

    int err =
        wv_cond_wait_for(&b->_cond, &b->_lock, not_in_transition, b, deadline);
    if (err == 0 && b->_state == BROKEN)
        err = WV_EBROKEN;
    if (err) {
        wv_lock_release(&b->_lock);
        return err;
    }

    unsigned index = b->_count++;
    if (index + 1 == b->_parties)
        err = release_locked(b);
    else
        err = wait_released(b, deadline);
    leave_locked(b);
    wv_lock_release(&b->_lock);
    return err ? err : (int)index;
}

void wv_barrier_abort(wv_barrier_t *b)
{
    wv__lock_acquire_nocancel(&b->_lock);
    break_locked(b);
    wv_lock_release(&b->_lock);
}

void wv_barrier_reset(wv_barrier_t *b)
{
    wv__lock_acquire_nocancel(&b->_lock);
    if (b->_count > 0) {
        if (b->_state == FILLING || b->_state == BROKEN)
            b->_state = RESETTING;
        /* DRAINING or RESETTING already: the last to leave resets. */
    } else {
        b->_state = FILLING;
    }
    wv_cond_notify_all(&b->_cond);
    wv_lock_release(&b->_lock);
}

unsigned wv_barrier_parties(const wv_barrier_t *b)
{
    return b->_parties;
}

unsigned wv_barrier_n_waiting(wv_barrier_t *b)
{
    wv__lock_acquire_nocancel(&b->_lock);
    unsigned n = b->_state == FILLING ? b->_count : 0;
    wv_lock_release(&b->_lock);
    return n;
}

bool wv_barrier_is_broken(wv_barrier_t *b)
{
    wv__lock_acquire_nocancel(&b->_lock);
    bool broken = b->_state == BROKEN;
    wv_lock_release(&b->_lock);
    return broken;
}

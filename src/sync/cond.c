/*
 * sync/cond.c - threading.Condition.
 *
 * A waiter parks on the condition's address.  The parking lot queues it
 * *before* the user's lock is released (before_sleep), so a notifier that
 * changes the shared state under the lock and then notifies always finds
 * it queued: no wake-up is lost.  _waiters is a hint, set under the bucket
 * lock when a waiter queues and cleared when the last one leaves, that
 * lets notify skip the parking lot when nobody waits.
 *
 * After waking, the waiter re-takes the lock itself.  notify_all therefore
 * wakes every waiter to compete for the lock (a thundering herd); moving
 * them onto the lock's queue instead (parking_lot's requeue) is a possible
 * refinement, not done: Python's Condition wakes them all too.
 */
#include "internal.h"

void wv_cond_init(wv_cond_t *c)
{
    if (!c)
        return;

    __atomic_store_n(&c->_waiters, 0, __ATOMIC_RELAXED);
}

void wv_cond_destroy(wv_cond_t *c)
{
    (void)c;
}

/* How a wait releases and re-takes the user's lock: Lock or RLock. */
struct waiting {
    wv_cond_t *cond;
    wv_lock_t *lock;
    wv_rlock_t *rlock;
    uint32_t count; /* the RLock's count, restored after the wait */
};

static bool park_validate(void *arg)
{
    struct waiting *w = arg;
    __atomic_store_n(&w->cond->_waiters, 1, __ATOMIC_RELAXED);
    return true;
}

static void park_before_sleep(void *arg)
{
    struct waiting *w = arg;
    if (w->rlock) {
        w->count = w->rlock->_count;
        w->rlock->_count = 0;
        __atomic_store_n(&w->rlock->_owner, 0, __ATOMIC_RELAXED);
    }
    wv_lock_release(w->lock);
}

static void park_timed_out(void *arg, bool was_last)
{
    struct waiting *w = arg;
    if (was_last)
        __atomic_store_n(&w->cond->_waiters, 0, __ATOMIC_RELAXED);
}

static int wait_locked(struct waiting *w, int64_t deadline)
{
    int err = wv__would_wait(deadline);
    if (err)
        return err;

    wv__park_req_t req = {
        .key = w->cond,
        .validate = park_validate,
        .before_sleep = park_before_sleep,
        .timed_out = park_timed_out,
        .arg = w,
        .deadline = deadline,
    };
    uintptr_t token;
    err = wv__park(&req, &token);
    WV__ASSERT(err != WV_EAGAIN);

    wv__lock_acquire_nocancel(w->lock);
    if (w->rlock) {
        __atomic_store_n(&w->rlock->_owner, wv__self(), __ATOMIC_RELAXED);
        w->rlock->_count = w->count;
    }
    return err;
}

int wv_cond_wait(wv_cond_t *c, wv_lock_t *l, int64_t deadline)
{
    if (!c || !l)
        return WV_EINVAL;
    if (!wv_lock_is_locked(l))
        return WV_EPERM;
    struct waiting w = {.cond = c, .lock = l};
    return wait_locked(&w, deadline);
}

int wv_cond_wait_rlock(wv_cond_t *c, wv_rlock_t *r, int64_t deadline)
{
    if (!c || !r)
        return WV_EINVAL;
    if (!wv_rlock_is_owned(r))
        return WV_EPERM;
    struct waiting w = {.cond = c, .lock = &r->_lock, .rlock = r};
    return wait_locked(&w, deadline);
}

static int wait_for(struct waiting *w, wv_pred_fn pred, void *arg,
                    int64_t deadline)
{
    while (!pred(arg)) {
        int err = wait_locked(w, deadline);
        if (err)
            return pred(arg) ? 0 : err;
    }
    return 0;
}

int wv_cond_wait_for(wv_cond_t *c, wv_lock_t *l, wv_pred_fn pred, void *arg,
                     int64_t deadline)
{
    if (!c || !l || !pred)
        return WV_EINVAL;
    if (!wv_lock_is_locked(l))
        return WV_EPERM;
    if (!pred)
        return WV_EINVAL;
    struct waiting w = {.cond = c, .lock = l};
    return wait_for(&w, pred, arg, deadline);
}

int wv_cond_wait_for_rlock(wv_cond_t *c, wv_rlock_t *r, wv_pred_fn pred,
                           void *arg, int64_t deadline)
{
    if (!c || !r || !pred)
        return WV_EINVAL;
    if (!wv_rlock_is_owned(r))
        return WV_EPERM;
    if (!pred)
        return WV_EINVAL;
    struct waiting w = {.cond = c, .lock = &r->_lock, .rlock = r};
    return wait_for(&w, pred, arg, deadline);
}

static uintptr_t unpark_cb(void *arg, wv__unpark_result_t r)
{
    wv_cond_t *c = arg;
    if (!r.have_more)
        __atomic_store_n(&c->_waiters, 0, __ATOMIC_RELAXED);
    return 0;
}

int wv_cond_notify(wv_cond_t *c, unsigned n)
{
    if (!c)
        return WV_EINVAL;
    if (n == 0 || !__atomic_load_n(&c->_waiters, __ATOMIC_RELAXED))
        return 0;
    return (int)wv__unpark(c, n > INT32_MAX ? INT32_MAX : n, unpark_cb, c);
}

int wv_cond_notify_all(wv_cond_t *c)
{
    if (!c)
        return WV_EINVAL;

    return wv_cond_notify(c, UINT32_MAX);
}

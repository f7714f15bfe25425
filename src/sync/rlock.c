/*
 * sync/rlock.c - threading.RLock: a Lock plus an owner and a count.
 *
 * _owner is wv__self() of the holder, or 0.  Only the holder writes it (after
 * acquiring _lock, before releasing it); others read it to learn that they
 * are *not* the owner, which a stale value can never make them believe
 * wrongly, so relaxed atomics suffice.  _count is touched by the owner only.
 */
#include "internal.h"

void wv_rlock_init(wv_rlock_t *r)
{
    if (!r)
        return;

    wv_lock_init(&r->_lock);
    r->_count = 0;
    __atomic_store_n(&r->_owner, 0, __ATOMIC_RELAXED);
}

void wv_rlock_destroy(wv_rlock_t *r)
{
    (void)r;
}

bool wv_rlock_is_owned(const wv_rlock_t *r)
{
    if (!r)
        return false;

    return __atomic_load_n(&r->_owner, __ATOMIC_RELAXED) == wv__self();
}

int wv_rlock_acquire(wv_rlock_t *r, int64_t deadline)
{
    if (!r)
        return WV_EINVAL;

    uintptr_t self = wv__self();

    if (__atomic_load_n(&r->_owner, __ATOMIC_RELAXED) == self) {
        if (r->_count == UINT32_MAX)
            return WV_EOVERFLOW;
        r->_count++;
        return 0;
    }
    int err = wv_lock_acquire(&r->_lock, deadline);
    if (err)
        return err;
    __atomic_store_n(&r->_owner, self, __ATOMIC_RELAXED);
    r->_count = 1;
    return 0;
}

int wv_rlock_release(wv_rlock_t *r)
{
    if (!r)
        return WV_EINVAL;
    if (__atomic_load_n(&r->_owner, __ATOMIC_RELAXED) != wv__self())
        return WV_EPERM;
    if (--r->_count == 0) {
        __atomic_store_n(&r->_owner, 0, __ATOMIC_RELAXED);
        wv_lock_release(&r->_lock);
    }
    return 0;
}

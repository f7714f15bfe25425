/*
 * sync/event.c - threading.Event.
 *
 * State word: bit 0 SET, bit 1 WAITERS (somebody may be parked).  A waiter
 * parks only while the word is exactly WAITERS (validated under the bucket
 * lock).  set() with nobody waiting is one CAS.  With WAITERS on, SET is
 * turned on *inside* the unpark callback, under the bucket lock, together
 * with dequeuing every waiter: so set() is atomic with the wake-up (a
 * waiter parked during set() is always woken, one that parks after it is
 * not), and the callback is set()'s last touch of the event, which may be
 * freed by a woken waiter at once (a one-shot completion on the stack).
 * A woken waiter returns 0 even if the flag was cleared again before it
 * ran, as Python's wait() returns True for a flag set during the wait.
 */
#include "internal.h"

#define SET     1u
#define WAITERS 2u

void wv_event_init(wv_event_t *e)
{
    if (!e)
        return;

    __atomic_store_n(&e->_state, 0, __ATOMIC_RELAXED);
}

void wv_event_destroy(wv_event_t *e)
{
    (void)e;
}

bool wv_event_is_set(const wv_event_t *e)
{
    if (!e)
        return false;

    return __atomic_load_n(&e->_state, __ATOMIC_ACQUIRE) & SET;
}

#define TOKEN_SET 1

static uintptr_t unpark_cb(void *arg, wv__unpark_result_t r)
{
    wv_event_t *e = arg;
    (void)r; /* everyone was unparked: nobody is left */
    __atomic_store_n(&e->_state, SET, __ATOMIC_RELEASE);
    return TOKEN_SET;
}

int wv_event_set(wv_event_t *e)
{
    if (!e)
        return WV_EINVAL;

    uint32_t s = __atomic_load_n(&e->_state, __ATOMIC_RELAXED);

    while (!(s & WAITERS)) {
        if (s & SET)
            return 0;
        if (__atomic_compare_exchange_n(&e->_state, &s, s | SET, true,
                                        __ATOMIC_RELEASE, __ATOMIC_RELAXED))
            return 0;
    }
    return (int)wv__unpark(e, INT32_MAX, unpark_cb, e);
}

void wv_event_clear(wv_event_t *e)
{
    if (!e)
        return;

    __atomic_fetch_and(&e->_state, ~SET, __ATOMIC_RELAXED);
}

int wv_event_wait(wv_event_t *e, int64_t deadline)
{
    if (!e)
        return WV_EINVAL;

    uint32_t s = __atomic_load_n(&e->_state, __ATOMIC_ACQUIRE);

    if (s & SET)
        return 0;
    int err = wv__would_wait(deadline);
    if (err)
        return err;
    wv__word_wait_t wait = {
        .key = e,
        .word = &e->_state,
        .bit = WAITERS,
        .mask = ~0u,
        .expect = WAITERS, /* not set, somebody parked */
        .deadline = deadline,
    };
    for (;;) {
        if (s & SET)
            return 0;
        uintptr_t token;
        err = wv__park_word(&wait, &token);
        if (err == 0 && token == TOKEN_SET)
            return 0; /* set() woke us, even if cleared since */
        if (err == WV_ETIMEDOUT || err == WV_ECANCELED)
            return wv_event_is_set(e) ? 0 : err;
        s = __atomic_load_n(&e->_state, __ATOMIC_ACQUIRE);
    }
}

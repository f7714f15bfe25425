/*
 * sync/once.c - run an initializer exactly once, with failure handling.
 *
 * State word: INIT 0, RUNNING 1, DONE 2, plus WAITERS (4) while parties
 * may be parked on the address.  The runner publishes DONE (or INIT back,
 * after a failure) with one CAS when nobody waits; otherwise inside the
 * unpark callback, under the bucket lock, so that no caller can see the
 * outcome, return and free the once before the runner is done with it.
 * Every later caller needs only the acquire load of the fast path.  After
 * a failure the waiters wake and one of them runs the initializer next.
 */
#include "internal.h"

enum { INIT = 0, RUNNING = 1, DONE = 2, WAITERS = 4 };

bool wv_once_is_done(const wv_once_t *once)
{
    if (!once)
        return false;

    return __atomic_load_n(&once->_state, __ATOMIC_ACQUIRE) == DONE;
}

struct outcome {
    wv_once_t *once;
    uint32_t end;
};

static uintptr_t unpark_cb(void *arg, wv__unpark_result_t r)
{
    struct outcome *o = arg;
    (void)r; /* everyone was unparked; late arrivals re-validate */
    __atomic_store_n(&o->once->_state, o->end, __ATOMIC_RELEASE);
    return 0;
}

static int run(wv_once_t *once, int (*fn)(void *), void *arg)
{
    int err = fn(arg);
    struct outcome o = {once, err < 0 ? INIT : DONE};
    uint32_t running = RUNNING;

    if (!__atomic_compare_exchange_n(&once->_state, &running, o.end, false,
                                     __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        wv__unpark(once, INT32_MAX, unpark_cb, &o); /* WAITERS was set */
    return err < 0 ? err : 0;
}

int wv_once(wv_once_t *once, int (*fn)(void *arg), void *arg, int64_t deadline)
{
    if (!once)
        return WV_EINVAL;

    uint32_t s = __atomic_load_n(&once->_state, __ATOMIC_ACQUIRE);

    if (WV__LIKELY(s == DONE))
        return 0;
    if (!fn)
        return WV_EINVAL;
    for (;;) {
        if (s == DONE)
            return 0;
        if (s == INIT) {
            if (__atomic_compare_exchange_n(&once->_state, &s, RUNNING, false,
                                            __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE))
                return run(once, fn, arg);
            continue;
        }
        int err = wv__would_wait(deadline);
        if (err)
            return err;
        wv__word_wait_t wait = {
            .key = once,
            .word = &once->_state,
            .bit = WAITERS,
            .mask = ~0u,
            .expect = RUNNING | WAITERS,
            .deadline = deadline,
        };
        uintptr_t token;
        err = wv__park_word(&wait, &token);
        s = __atomic_load_n(&once->_state, __ATOMIC_ACQUIRE);
        if (err == WV_ETIMEDOUT || err == WV_ECANCELED)
            return s == DONE ? 0 : err; /* the state wins */
    }
}

/*
 * sync/sem.c - threading.Semaphore and BoundedSemaphore.
 *
 * State word: value << 1 | WAITERS.  One word, so that "value is 0 and
 * somebody is parked" is a single state that the parking lot validates: a
 * release that raises the value either happens before a waiter's validation
 * (which then fails and the waiter retries) or sees WAITERS and unparks.
 * With WAITERS on, the value is raised inside the unpark callback, under
 * the bucket lock: the release is then atomic with the wake-ups, and the
 * callback is its last touch of the semaphore, which a woken waiter may
 * free at once.  _max (0 = unbounded) is fixed at init.
 */
#include "internal.h"

#define WAITERS 1u
#define ONE     2u

int wv_sem_init(wv_sem_t *s, unsigned value)
{
    if (!s)
        return WV_EINVAL;
    if (value > WV_SEM_VALUE_MAX)
        return WV_EINVAL;
    __atomic_store_n(&s->_state, (uint32_t)value << 1, __ATOMIC_RELAXED);
    s->_max = 0;
    return 0;
}

int wv_sem_init_bounded(wv_sem_t *s, unsigned value)
{
    if (value == 0 || value > WV_SEM_VALUE_MAX)
        return WV_EINVAL;
    __atomic_store_n(&s->_state, (uint32_t)value << 1, __ATOMIC_RELAXED);
    s->_max = value;
    return 0;
}

void wv_sem_destroy(wv_sem_t *s)
{
    (void)s;
}

unsigned wv_sem_value(const wv_sem_t *s)
{
    if (!s)
        return 0;

    return __atomic_load_n(&s->_state, __ATOMIC_RELAXED) >> 1;
}

static bool try_take(wv_sem_t *s, uint32_t *v)
{
    while (*v >= ONE) {
        if (__atomic_compare_exchange_n(&s->_state, v, *v - ONE, true,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return true;
    }
    return false;
}

int wv_sem_acquire(wv_sem_t *s, int64_t deadline)
{
    if (!s)
        return WV_EINVAL;

    uint32_t v = __atomic_load_n(&s->_state, __ATOMIC_RELAXED);

    if (WV__LIKELY(try_take(s, &v)))
        return 0;
    int err = wv__would_wait(deadline);
    if (err)
        return err;
    wv__word_wait_t wait = {
        .key = s,
        .word = &s->_state,
        .bit = WAITERS,
        .mask = ~0u,
        .expect = WAITERS, /* value 0, somebody parked */
        .deadline = deadline,
    };
    for (;;) {
        if (try_take(s, &v))
            return 0;
        uintptr_t token;
        err = wv__park_word(&wait, &token);
        v = __atomic_load_n(&s->_state, __ATOMIC_RELAXED);
        if (err == WV_ETIMEDOUT || err == WV_ECANCELED)
            return try_take(s, &v) ? 0 : err; /* the state wins */
    }
}

struct release {
    wv_sem_t *sem;
    uint32_t n, limit;
    int err;
};

static bool fits(uint32_t v, uint32_t n, uint32_t limit)
{
    return n <= limit && (v >> 1) <= limit - n;
}

/* Under the bucket lock: raise the value and settle WAITERS in one step.
 * Waiters are woken even if the release overflows (they re-check). */
static uintptr_t unpark_cb(void *arg, wv__unpark_result_t r)
{
    struct release *rel = arg;
    uint32_t v = __atomic_load_n(&rel->sem->_state, __ATOMIC_RELAXED);

    for (;;) {
        /* Acquirers may lower the value meanwhile (they take no bucket
         * lock): the outcome is that of the attempt that lands. */
        bool ok = fits(v, rel->n, rel->limit);
        uint32_t nv = ok ? v + rel->n * ONE : v;
        if (!r.have_more)
            nv &= ~WAITERS;
        if (__atomic_compare_exchange_n(&rel->sem->_state, &v, nv, true,
                                        __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
            rel->err = ok ? 0 : WV_EOVERFLOW;
            return 0;
        }
    }
}

int wv_sem_release(wv_sem_t *s, unsigned n)
{
    if (!s)
        return WV_EINVAL;

    uint32_t limit = s->_max ? s->_max : WV_SEM_VALUE_MAX;
    uint32_t v = __atomic_load_n(&s->_state, __ATOMIC_RELAXED);

    if (n == 0)
        return WV_EINVAL;
    while (!(v & WAITERS)) {
        if (!fits(v, n, limit))
            return WV_EOVERFLOW;
        if (__atomic_compare_exchange_n(&s->_state, &v, v + n * ONE, true,
                                        __ATOMIC_RELEASE, __ATOMIC_RELAXED))
            return 0;
    }
    struct release rel = {s, n, limit, 0};
    wv__unpark(s, n, unpark_cb, &rel);
    return rel.err;
}

/*
 * proc/psync.c - Lock, RLock, Semaphore and Event shared by processes.
 *
 * Lock and RLock are POSIX robust, process-shared mutexes: the kernel
 * walks a dying thread's robust list and marks the mutexes it held, so
 * the next locker learns of the death (EOWNERDEAD), which nothing built
 * on a bare futex can do without that list (glibc owns it).  Deadlines
 * use pthread_mutex_clocklock on CLOCK_MONOTONIC, the clock of wv_now.
 *
 * Semaphore and Event are state words in shared memory with shared
 * futexes.  `waiters` spares the release a system call when nobody
 * waits: a waiter counts itself (seq_cst) before sleeping on the word,
 * and a releaser changes the word (seq_cst) before reading the count, so
 * one of them sees the other; the futex itself re-checks the word.  A
 * waiter killed while counted leaves the count too high: that costs a
 * needless wake-up, never a lost one.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

_Static_assert(sizeof(pthread_mutex_t) <= sizeof(wv_plock_t),
               "wv_plock_t must hold a pthread mutex");

static pthread_mutex_t *mutex(wv_plock_t *l)
{
    return (pthread_mutex_t *)(void *)l->_opaque;
}

int wv_plock_init(wv_plock_t *l, bool recursive)
{
    pthread_mutexattr_t a;
    int r;

    if (!l)
        return WV_EINVAL;
    if ((r = pthread_mutexattr_init(&a)))
        return -r;
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_settype(&a, recursive ? PTHREAD_MUTEX_RECURSIVE
                                            : PTHREAD_MUTEX_ERRORCHECK);
    r = pthread_mutex_init(mutex(l), &a);
    pthread_mutexattr_destroy(&a);
    return -r;
}

int wv_plock_acquire(wv_plock_t *l, int64_t deadline)
{
    struct timespec ts;
    int r;

    if (!l || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    if (deadline == 0) {
        r = pthread_mutex_trylock(mutex(l));
        return r == EBUSY ? WV_EAGAIN : -r;
    }
    if (!wv__deadline_timespec(deadline, &ts))
        return -pthread_mutex_lock(mutex(l));
    r = pthread_mutex_clocklock(mutex(l), CLOCK_MONOTONIC, &ts);
    return -r;
}

int wv_plock_release(wv_plock_t *l)
{
    return l ? -pthread_mutex_unlock(mutex(l)) : WV_EINVAL;
}

int wv_plock_consistent(wv_plock_t *l)
{
    return l ? -pthread_mutex_consistent(mutex(l)) : WV_EINVAL;
}

void wv_plock_destroy(wv_plock_t *l)
{
    if (l)
        pthread_mutex_destroy(mutex(l));
}

/* ------------------------------------------------------------ Semaphore */

struct psem {
    uint32_t value;
    uint32_t limit; /* 0: none */
    uint32_t waiters;
    uint32_t unused;
};

_Static_assert(sizeof(struct psem) <= sizeof(wv_psem_t), "psem fits");

#define SEM(s) ((struct psem *)(void *)(s)->_opaque)

int wv_psem_init(wv_psem_t *s, uint32_t value, uint32_t limit)
{
    if (!s || value > INT32_MAX || (limit && value > limit))
        return WV_EINVAL;
    *SEM(s) = (struct psem){value, limit, 0, 0};
    return 0;
}

static bool try_take(struct psem *p)
{
    uint32_t v = __atomic_load_n(&p->value, __ATOMIC_RELAXED);
    while (v > 0)
        if (__atomic_compare_exchange_n(&p->value, &v, v - 1, false,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return true;
    return false;
}

int wv_psem_acquire(wv_psem_t *s, int64_t deadline)
{
    if (!s || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    struct psem *p = SEM(s);
    for (;;) {
        if (try_take(p))
            return 0;
        if (deadline == 0)
            return WV_EAGAIN;
        __atomic_add_fetch(&p->waiters, 1, __ATOMIC_SEQ_CST);
        int err = 0;
        if (__atomic_load_n(&p->value, __ATOMIC_SEQ_CST) == 0)
            err = wv__futex_wait(&p->value, 0, deadline, true);
        __atomic_sub_fetch(&p->waiters, 1, __ATOMIC_RELAXED);
        if (err == WV_ETIMEDOUT)
            return try_take(p) ? 0 : WV_ETIMEDOUT;
    }
}

int wv_psem_release(wv_psem_t *s, uint32_t n)
{
    if (!s)
        return WV_EINVAL;
    struct psem *p = SEM(s);
    uint32_t v = __atomic_load_n(&p->value, __ATOMIC_RELAXED);
    do {
        uint64_t next = (uint64_t)v + n;
        if (next > INT32_MAX || (p->limit && next > p->limit))
            return WV_EOVERFLOW;
    } while (!__atomic_compare_exchange_n(&p->value, &v, v + n, false,
                                          __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
    if (n && __atomic_load_n(&p->waiters, __ATOMIC_SEQ_CST))
        wv__futex_wake(&p->value, n > INT32_MAX ? INT32_MAX : (int)n, true);
    return 0;
}

uint32_t wv_psem_value(const wv_psem_t *s)
{
    return s ? __atomic_load_n(&SEM(s)->value, __ATOMIC_RELAXED) : 0;
}

/* ---------------------------------------------------------------- Event */

struct pevent {
    uint32_t state; /* 0 clear, 1 set */
    uint32_t waiters;
};

_Static_assert(sizeof(struct pevent) <= sizeof(wv_pevent_t), "fits");

#define EV(e) ((struct pevent *)(void *)(e)->_opaque)

void wv_pevent_init(wv_pevent_t *e)
{
    if (e)
        *EV(e) = (struct pevent){0, 0};
}

void wv_pevent_set(wv_pevent_t *e)
{
    struct pevent *p = EV(e);
    __atomic_store_n(&p->state, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&p->waiters, __ATOMIC_SEQ_CST))
        wv__futex_wake(&p->state, INT32_MAX, true);
}

void wv_pevent_clear(wv_pevent_t *e)
{
    __atomic_store_n(&EV(e)->state, 0, __ATOMIC_SEQ_CST);
}

bool wv_pevent_is_set(const wv_pevent_t *e)
{
    return __atomic_load_n(&EV(e)->state, __ATOMIC_ACQUIRE) != 0;
}

int wv_pevent_wait(wv_pevent_t *e, int64_t deadline)
{
    if (!e || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    struct pevent *p = EV(e);
    if (__atomic_load_n(&p->state, __ATOMIC_ACQUIRE))
        return 0;
    if (deadline == 0)
        return WV_EAGAIN;
    __atomic_add_fetch(&p->waiters, 1, __ATOMIC_SEQ_CST);
    int err = 0;
    while (!__atomic_load_n(&p->state, __ATOMIC_SEQ_CST) && !err)
        err = wv__futex_wait(&p->state, 0, deadline, true);
    __atomic_sub_fetch(&p->waiters, 1, __ATOMIC_RELAXED);
    return __atomic_load_n(&p->state, __ATOMIC_ACQUIRE) ? 0 : err;
}

/* ------------------------------------------------------------ Condition */

_Static_assert(sizeof(pthread_cond_t) <= sizeof(wv_pcond_t), "cond fits");

static pthread_cond_t *cond(wv_pcond_t *c)
{
    return (pthread_cond_t *)(void *)c->_opaque;
}

int wv_pcond_init(wv_pcond_t *c)
{
    pthread_condattr_t a;
    int r;

    if (!c)
        return WV_EINVAL;
    if ((r = pthread_condattr_init(&a)))
        return -r;
    pthread_condattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC); /* wv_now's clock */
    r = pthread_cond_init(cond(c), &a);
    pthread_condattr_destroy(&a);
    return -r;
}

int wv_pcond_wait(wv_pcond_t *c, wv_plock_t *l, int64_t deadline)
{
    struct timespec ts;

    if (!c || !l || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    if (deadline == 0)
        return WV_EAGAIN;
    if (!wv__deadline_timespec(deadline, &ts))
        return -pthread_cond_wait(cond(c), mutex(l));
    return -pthread_cond_timedwait(cond(c), mutex(l), &ts);
}

int wv_pcond_notify(wv_pcond_t *c, unsigned n)
{
    if (!c)
        return WV_EINVAL;
    for (unsigned i = 0; i < n; i++)
        pthread_cond_signal(cond(c));
    return 0;
}

int wv_pcond_notify_all(wv_pcond_t *c)
{
    return c ? -pthread_cond_broadcast(cond(c)) : WV_EINVAL;
}

void wv_pcond_destroy(wv_pcond_t *c)
{
    if (c)
        pthread_cond_destroy(cond(c));
}

/* -------------------------------------------------------------- Barrier */

/*
 * A generation ends either complete (its waiters return their index) or
 * reset (they return WV_EBROKEN).  A waiter woken late learns which from
 * reset_bits, one bit per generation modulo 64: a waiter is never 64
 * generations late, since a generation cannot complete without it.
 */
struct pbarrier {
    wv_plock_t lock;
    wv_pcond_t cond;
    uint32_t parties;
    uint32_t count;      /* [lock] arrived in this generation */
    uint32_t generation; /* [lock] */
    uint32_t broken;     /* [lock] */
    uint64_t reset_bits; /* [lock] */
};

_Static_assert(sizeof(struct pbarrier) <= sizeof(wv_pbarrier_t), "fits");

#define BAR(b) ((struct pbarrier *)(void *)(b)->_opaque)

int wv_pbarrier_init(wv_pbarrier_t *b, unsigned parties)
{
    int err;

    if (!b || parties == 0 || parties > INT32_MAX)
        return WV_EINVAL;
    struct pbarrier *p = BAR(b);
    *p = (struct pbarrier){.parties = parties};
    if ((err = wv_plock_init(&p->lock, false)))
        return err;
    if ((err = wv_pcond_init(&p->cond))) {
        wv_plock_destroy(&p->lock);
        return err;
    }
    return 0;
}

/* Takes the barrier's lock; a holder that died broke the barrier. */
static void bar_lock(struct pbarrier *p)
{
    int err = wv_plock_acquire(&p->lock, WV_FOREVER);
    if (err == WV_EOWNERDEAD) {
        p->broken = 1;
        wv_plock_consistent(&p->lock);
        wv_pcond_notify_all(&p->cond);
    }
}

static void next_generation(struct pbarrier *p, bool reset)
{
    uint64_t bit = 1ull << (p->generation % 64);
    p->reset_bits = reset ? p->reset_bits | bit : p->reset_bits & ~bit;
    p->generation++;
    p->reset_bits &= ~(1ull << (p->generation % 64));
    p->count = 0;
    wv_pcond_notify_all(&p->cond);
}

int wv_pbarrier_wait(wv_pbarrier_t *b, int64_t deadline)
{
    if (!b || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    struct pbarrier *p = BAR(b);
    int ret;

    bar_lock(p);
    uint32_t gen = p->generation;
    if (p->broken) {
        ret = WV_EBROKEN;
    } else if (p->count + 1 == p->parties) {
        ret = (int)p->parties - 1;
        next_generation(p, false);
    } else if (deadline == 0) {
        ret = WV_EAGAIN;
    } else {
        int index = (int)p->count++;
        for (;;) {
            if (p->generation != gen) {
                ret = p->reset_bits >> (gen % 64) & 1 ? WV_EBROKEN : index;
                break;
            }
            if (p->broken) {
                ret = WV_EBROKEN;
                break;
            }
            int err = wv_pcond_wait(&p->cond, &p->lock, deadline);
            if (err == WV_EOWNERDEAD) {
                p->broken = 1;
                wv_plock_consistent(&p->lock);
                wv_pcond_notify_all(&p->cond);
            } else if (err == WV_ETIMEDOUT && p->generation == gen &&
                       !p->broken) {
                p->broken = 1; /* Python breaks it */
                wv_pcond_notify_all(&p->cond);
                ret = WV_ETIMEDOUT;
                break;
            }
        }
    }
    wv_plock_release(&p->lock);
    return ret;
}

void wv_pbarrier_abort(wv_pbarrier_t *b)
{
    struct pbarrier *p = BAR(b);
    bar_lock(p);
    p->broken = 1;
    wv_pcond_notify_all(&p->cond);
    wv_plock_release(&p->lock);
}

void wv_pbarrier_reset(wv_pbarrier_t *b)
{
    struct pbarrier *p = BAR(b);
    bar_lock(p);
    next_generation(p, true);
    p->broken = 0;
    wv_plock_release(&p->lock);
}

bool wv_pbarrier_is_broken(wv_pbarrier_t *b)
{
    struct pbarrier *p = BAR(b);
    bar_lock(p);
    bool broken = p->broken;
    wv_plock_release(&p->lock);
    return broken;
}

void wv_pbarrier_destroy(wv_pbarrier_t *b)
{
    if (!b)
        return;
    wv_pcond_destroy(&BAR(b)->cond);
    wv_plock_destroy(&BAR(b)->lock);
}

unsigned wv__pbarrier_waiting(wv_pbarrier_t *b)
{
    struct pbarrier *p = BAR(b);
    bar_lock(p);
    unsigned n = p->count;
    wv_plock_release(&p->lock);
    return n;
}

/*
 * proc/psync.c - Lock, RLock, Semaphore, Event, Condition and Barrier
 * shared by processes.
 *
 * Every wait here is a wait on a futex word in shared memory, and goes
 * through wv__shared_wait (core/internal.h): a plain thread sleeps in
 * the kernel as it always did; a coroutine parks, and only it, while a
 * helper thread sleeps for it (coro/wordwait_linux.c, docs/waiting.md).
 * The releasing side is unchanged: a FUTEX_WAKE on the shared word, from
 * whichever process.
 *
 * Lock and RLock are POSIX robust, process-shared mutexes (glibc's): the
 * kernel walks a dying thread's robust list and marks the mutexes it
 * held, so the next locker learns of the death (EOWNERDEAD), which
 * nothing built on a bare futex can do without that list (glibc owns
 * it).  A plain thread locks them with pthread_mutex_clocklock on
 * CLOCK_MONOTONIC, the clock of wv_now.  A party of a coroutine
 * scheduler (a coroutine, or the thread's own code once it has one)
 * takes them with trylock and does the waiting itself, on the mutex's
 * futex word, as glibc's own slow path does: set FUTEX_WAITERS, sleep
 * while the word holds that value, and after having slept, lock with
 * FUTEX_WAITERS set (others may sleep too).  That word is the kernel's
 * robust-futex ABI (owner TID | FUTEX_WAITERS | FUTEX_OWNER_DIED), and
 * glibc's unlock wakes one sleeper on it when FUTEX_WAITERS is set.
 *
 * Ownership.  The kernel and glibc know a lock's owner as a thread (its
 * TID in the word, the robust list of the thread).  Coroutines of one
 * thread are different parties, so the lock also records the party that
 * holds it (wv__self()) and its depth.  A party that finds the lock held
 * by its own thread but by another party of it waits for it like any
 * other waiter (the holder runs meanwhile and wakes it through the word);
 * the same party again is EDEADLK (Lock) or a recursion (RLock).  A
 * thread's death releases (EOWNERDEAD) the locks of all its parties.
 * No priority inheritance: FUTEX_LOCK_PI acquires inside the kernel for
 * the calling thread, so a helper thread cannot wait for a coroutine.
 *
 * Semaphore and Event are state words in shared memory.  `waiters`
 * spares the release a system call when nobody waits: a waiter counts
 * itself (seq_cst) before sleeping on the word, and a releaser changes
 * the word (seq_cst) before reading the count, so one of them sees the
 * other; the futex itself re-checks the word.  A waiter killed while
 * counted leaves the count too high: that costs a needless wake-up,
 * never a lost one.  The Condition is a sequence word of the same kind.
 */
#include "internal.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct plock {
    pthread_mutex_t m; /* robust, process-shared */
    uint64_t party;    /* [m] wv__self() of the holding party, 0: none */
    uint32_t depth;    /* [m] its acquisitions not yet released */
};

_Static_assert(sizeof(struct plock) <= sizeof(wv_plock_t),
               "wv_plock_t must hold a pthread mutex and its party");

#define PL(l) ((struct plock *)(void *)(l)->_opaque)

static pthread_mutex_t *mutex(wv_plock_t *l)
{
    return &PL(l)->m;
}

/* The robust futex word of glibc's mutex (its first field). */
static uint32_t *lock_word(struct plock *p)
{
    return (uint32_t *)(void *)&p->m.__data.__lock;
}

/* The calling thread's TID, cached; the child of a fork forgets it. */
static __thread uint32_t tid_cache;
static pthread_once_t tid_once = PTHREAD_ONCE_INIT;

static void tid_forget(void)
{
    tid_cache = 0;
}

static void tid_init(void)
{
    int r = pthread_atfork(NULL, NULL, tid_forget);
    WV__ASSERT(r == 0);
}

static uint32_t my_tid(void)
{
    if (WV__UNLIKELY(!tid_cache)) {
        pthread_once(&tid_once, tid_init);
        tid_cache = (uint32_t)syscall(SYS_gettid);
    }
    return tid_cache;
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
    PL(l)->party = 0;
    PL(l)->depth = 0;
    return -r;
}

/* After an acquisition (0 or EOWNERDEAD): the calling party holds it. */
static void took(struct plock *p, int r)
{
    if (r == WV_EOWNERDEAD)
        p->depth = 0; /* the dead holder's count */
    if (p->depth++ == 0)
        __atomic_store_n(&p->party, wv__self(), __ATOMIC_RELAXED);
}

/* A plain thread: glibc sleeps in the kernel. */
static int acquire_thread(struct plock *p, int64_t deadline)
{
    struct timespec ts;
    int r;

    if (deadline == 0) {
        r = pthread_mutex_trylock(&p->m);
        return r == EBUSY ? WV_EAGAIN : -r;
    }
    if (!wv__deadline_timespec(deadline, &ts))
        return -pthread_mutex_lock(&p->m);
    return -pthread_mutex_clocklock(&p->m, CLOCK_MONOTONIC, &ts);
}

/* Held by another party of the calling thread (word: the locker's TID). */
static bool held_by_sibling(struct plock *p, uint32_t word)
{
    return (word & FUTEX_TID_MASK) == my_tid() &&
           __atomic_load_n(&p->party, __ATOMIC_RELAXED) != wv__self();
}

/* A party of a scheduler: trylock, and wait on the word in between. */
static int acquire_parked(struct plock *p, int64_t deadline, unsigned flags)
{
    uint32_t *word = lock_word(p);
    bool slept = false, timed_out = false;

    for (;;) {
        uint32_t v = __atomic_load_n(word, __ATOMIC_RELAXED);
        if (!held_by_sibling(p, v)) {
            int r = pthread_mutex_trylock(&p->m);
            if (r != EBUSY) {
                if (slept && (r == 0 || r == EOWNERDEAD))
                    __atomic_fetch_or(word, FUTEX_WAITERS, __ATOMIC_RELAXED);
                return -r;
            }
            v = __atomic_load_n(word, __ATOMIC_RELAXED);
            if (!(v & FUTEX_TID_MASK))
                continue; /* released meanwhile */
        }
        if (deadline == 0)
            return timed_out ? WV_ETIMEDOUT : WV_EAGAIN;
        if (!(v & FUTEX_WAITERS) &&
            !__atomic_compare_exchange_n(word, &v, v | FUTEX_WAITERS, false,
                                         __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            continue;
        int err = wv__shared_wait(word, v | FUTEX_WAITERS, deadline, flags);
        slept = true;
        if (err == WV_ETIMEDOUT) {
            deadline = 0; /* one more look: a lock freed just now wins */
            timed_out = true;
        } else if (err) {
            return err;
        }
    }
}

int wv__plock_acquire(wv_plock_t *l, int64_t deadline, unsigned flags)
{
    if (!l || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    struct plock *p = PL(l);
    int r = wv__waiter_kind()->word_wait ? acquire_parked(p, deadline, flags)
                                         : acquire_thread(p, deadline);
    if (r == 0 || r == WV_EOWNERDEAD)
        took(p, r);
    return r;
}

int wv_plock_acquire(wv_plock_t *l, int64_t deadline)
{
    return wv__plock_acquire(l, deadline, 0);
}

int wv_plock_release(wv_plock_t *l)
{
    if (!l)
        return WV_EINVAL;
    struct plock *p = PL(l);
    /* Only the holding party: its thread's TID in the word (so the
     * fields below are ours to read), and itself in `party`. */
    if ((__atomic_load_n(lock_word(p), __ATOMIC_RELAXED) & FUTEX_TID_MASK) !=
            my_tid() ||
        __atomic_load_n(&p->party, __ATOMIC_RELAXED) != wv__self() ||
        p->depth == 0)
        return WV_EPERM;
    if (--p->depth == 0)
        __atomic_store_n(&p->party, 0, __ATOMIC_RELAXED);
    int r = pthread_mutex_unlock(&p->m);
    if (r) { /* cannot be, the checks above are glibc's: undo */
        if (p->depth++ == 0)
            __atomic_store_n(&p->party, wv__self(), __ATOMIC_RELAXED);
    }
    return -r;
}

int wv_plock_consistent(wv_plock_t *l)
{
    return l ? -pthread_mutex_consistent(mutex(l)) : WV_EINVAL;
}

void wv_plock_destroy(wv_plock_t *l)
{
    if (!l)
        return;
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

int wv_psem_init(wv_psem_t *s, unsigned value)
{
    if (!s || value > WV_SEM_VALUE_MAX)
        return WV_EINVAL;
    *SEM(s) = (struct psem){value, 0, 0, 0};
    return 0;
}

int wv_psem_init_bounded(wv_psem_t *s, unsigned value)
{
    if (!s || value == 0 || value > WV_SEM_VALUE_MAX)
        return WV_EINVAL;
    *SEM(s) = (struct psem){value, value, 0, 0};
    return 0;
}

void wv_psem_destroy(wv_psem_t *s)
{
    (void)s; /* nothing held outside the shared memory */
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
            err = wv__shared_wait(&p->value, 0, deadline, 0);
        __atomic_sub_fetch(&p->waiters, 1, __ATOMIC_RELAXED);
        if (err == WV_ETIMEDOUT)
            return try_take(p) ? 0 : WV_ETIMEDOUT;
        if (err)
            return err; /* cancelled */
    }
}

int wv_psem_release(wv_psem_t *s, unsigned n)
{
    if (!s || n == 0)
        return WV_EINVAL;
    struct psem *p = SEM(s);
    uint32_t v = __atomic_load_n(&p->value, __ATOMIC_RELAXED);
    do {
        uint64_t next = (uint64_t)v + n;
        if (next > INT32_MAX || (p->limit && next > p->limit))
            return WV_EOVERFLOW;
    } while (!__atomic_compare_exchange_n(&p->value, &v, v + n, false,
                                          __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
    if (__atomic_load_n(&p->waiters, __ATOMIC_SEQ_CST))
        wv__futex_wake(&p->value, n > INT32_MAX ? INT32_MAX : (int)n, true);
    return 0;
}

unsigned wv_psem_value(const wv_psem_t *s)
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

void wv_pevent_destroy(wv_pevent_t *e)
{
    (void)e; /* nothing held outside the shared memory */
}

int wv_pevent_set(wv_pevent_t *e)
{
    if (!e)
        return WV_EINVAL;
    struct pevent *p = EV(e);
    __atomic_store_n(&p->state, 1, __ATOMIC_SEQ_CST);
    if (!__atomic_load_n(&p->waiters, __ATOMIC_SEQ_CST))
        return 0;
    int woken = wv__futex_wake(&p->state, INT32_MAX, true);
    return woken > 0 ? woken : 0;
}

void wv_pevent_clear(wv_pevent_t *e)
{
    if (e)
        __atomic_store_n(&EV(e)->state, 0, __ATOMIC_SEQ_CST);
}

bool wv_pevent_is_set(const wv_pevent_t *e)
{
    return e && __atomic_load_n(&EV(e)->state, __ATOMIC_ACQUIRE) != 0;
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
        err = wv__shared_wait(&p->state, 0, deadline, 0);
    __atomic_sub_fetch(&p->waiters, 1, __ATOMIC_RELAXED);
    return __atomic_load_n(&p->state, __ATOMIC_ACQUIRE) ? 0 : err;
}

/* ------------------------------------------------------------ Condition */

/*
 * A sequence word, bumped by every notify, and a count of the parties
 * between their look at it and their return (as the Semaphore's).  A
 * waiter counts itself and reads `seq` before it releases the lock, so a
 * notify made after the release (or under the lock after it) changes
 * the word it sleeps on.  notify(n) wakes n sleepers; a waiter that had
 * not reached its sleep yet sees the new `seq` and returns too, which
 * is a spurious wake-up as POSIX allows (the caller re-checks its
 * predicate, as with any condition).
 */
struct pcond {
    uint32_t seq;     /* bumped by every notify */
    uint32_t waiters; /* [atomic] parties inside wv_pcond_wait */
};

_Static_assert(sizeof(struct pcond) <= sizeof(wv_pcond_t), "cond fits");

#define COND(c) ((struct pcond *)(void *)(c)->_opaque)

int wv_pcond_init(wv_pcond_t *c)
{
    if (!c)
        return WV_EINVAL;
    *COND(c) = (struct pcond){0, 0};
    return 0;
}

int wv_pcond_wait(wv_pcond_t *c, wv_plock_t *l, int64_t deadline)
{
    if (!c || !l || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    if (deadline == 0)
        return WV_EAGAIN;
    struct pcond *p = COND(c);
    __atomic_add_fetch(&p->waiters, 1, __ATOMIC_SEQ_CST);
    uint32_t seq = __atomic_load_n(&p->seq, __ATOMIC_SEQ_CST);
    int err = wv_plock_release(l);
    if (err) {
        __atomic_sub_fetch(&p->waiters, 1, __ATOMIC_RELAXED);
        return err;
    }
    do
        err = wv__shared_wait(&p->seq, seq, deadline, 0);
    while (!err && __atomic_load_n(&p->seq, __ATOMIC_SEQ_CST) == seq);
    __atomic_sub_fetch(&p->waiters, 1, __ATOMIC_RELAXED);
    /* The caller returns holding the lock, cancelled or not. */
    int lerr = wv__plock_acquire(l, WV_FOREVER, WV__PARK_NOCANCEL);
    if (lerr)
        return lerr; /* WV_EOWNERDEAD: held, the data may be broken */
    if (err == WV_ETIMEDOUT &&
        __atomic_load_n(&p->seq, __ATOMIC_SEQ_CST) != seq)
        err = 0; /* notified as the deadline passed: the notify wins */
    return err;
}

static void notify(struct pcond *p, int n)
{
    __atomic_add_fetch(&p->seq, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&p->waiters, __ATOMIC_SEQ_CST))
        wv__futex_wake(&p->seq, n, true);
}

int wv_pcond_notify(wv_pcond_t *c, unsigned n)
{
    if (!c)
        return WV_EINVAL;
    if (n)
        notify(COND(c), n > INT32_MAX ? INT32_MAX : (int)n);
    return 0;
}

int wv_pcond_notify_all(wv_pcond_t *c)
{
    if (!c)
        return WV_EINVAL;
    notify(COND(c), INT32_MAX);
    return 0;
}

void wv_pcond_destroy(wv_pcond_t *c)
{
    (void)c; /* nothing held */
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
    int err = wv__plock_acquire(&p->lock, WV_FOREVER, WV__PARK_NOCANCEL);
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
            } else if ((err == WV_ETIMEDOUT || err == WV_ECANCELED) &&
                       p->generation == gen && !p->broken) {
                p->broken = 1; /* Python breaks it; so does wv_barrier */
                wv_pcond_notify_all(&p->cond);
                ret = err;
                break;
            }
        }
    }
    wv_plock_release(&p->lock);
    return ret;
}

void wv_pbarrier_abort(wv_pbarrier_t *b)
{
    if (!b)
        return;

    struct pbarrier *p = BAR(b);
    bar_lock(p);
    p->broken = 1;
    wv_pcond_notify_all(&p->cond);
    wv_plock_release(&p->lock);
}

void wv_pbarrier_reset(wv_pbarrier_t *b)
{
    if (!b)
        return;

    struct pbarrier *p = BAR(b);
    bar_lock(p);
    next_generation(p, true);
    p->broken = 0;
    wv_plock_release(&p->lock);
}

bool wv_pbarrier_is_broken(wv_pbarrier_t *b)
{
    if (!b)
        return false;

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

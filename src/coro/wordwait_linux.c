/*
 * coro/wordwait_linux.c - a coroutine's wait on a futex word shared
 * between processes: the coroutine kind's word_wait (wv__shared_wait in
 * core/internal.h), used by every process-shared primitive.
 *
 * Another process wakes such a word with a plain FUTEX_WAKE; nothing
 * that a scheduler's epoll loop can watch sees it.  So the wait is done
 * by a helper thread on the coroutine's behalf, as Go lends an OS thread
 * to a goroutine in a blocking system call:
 *
 *   coroutine                              helper (pooled thread)
 *   word == expected? else return 0
 *   take an idle helper (or make one)
 *   fill the request, state = WAITING -->  futex_waitv({word == expected,
 *   park (timer, cancel as any park)                   state == WAITING})
 *                                          woken, or word != expected:
 *                                          CAS WAITING -> DONE, then wake
 *                                          the coroutine through the
 *                                          scheduler's inbox + kick
 *
 * No wake-up is lost: the kernel compares the word with `expected` as it
 * queues the helper, so a change made after the coroutine's own look
 * either fails that comparison or is followed by a FUTEX_WAKE that finds
 * the helper queued.  A coroutine that times out or is cancelled CASes
 * WAITING -> ABANDONED and wakes the helper through the second futex of
 * its vector (the private state word); if the helper won the CAS, a
 * wake-up is in flight and the coroutine waits for it and returns 0 (a
 * wake-up that races a time-out wins, as in the parking lot).  A
 * FUTEX_WAKE meant for one waiter (an unlock, a Semaphore release) may
 * pick the helper of an abandoned request; the helper cannot tell
 * (futex_waitv names one of the futexes that woke it, the last), so a
 * helper leaving an abandoned request after it slept always passes one
 * wake-up on (FUTEX_WAKE 1): spurious at worst, never swallowed.
 *
 * Once its coroutine has returned, the word's memory may be gone (the
 * caller frees or unmaps it): a helper never reads the word itself, only
 * names it to the kernel, and takes the kernel's EFAULT as "abandoned"
 * (changed_or_abandoned).
 *
 * Without futex_waitv (Linux < 5.16) a helper sleeps on the shared word
 * alone, in slices of SLICE_MS, and looks at its state between them: an
 * abandoned request keeps its helper at most that long.
 *
 * Threads: a helper's request fields are written by the coroutine before
 * its release store of WAITING, and read by the helper after its acquire
 * load; `state` is the only word both write.  Idle helpers sit on a list
 * under pool_lock; at most IDLE_MAX are kept, the others exit, and so
 * does one left idle for IDLE_MS (wv__word_wait_drain ends them at once,
 * for tests that count threads).  After fork the child has no helpers
 * (their threads do not exist there): the list is emptied and their
 * records leaked, as other threads' are.
 */
#include "sched.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449 /* the same number on x86_64 and aarch64 */
#endif

/* The kernel's struct futex_waitv (5.16), spelled out for older headers. */
struct waitv {
    uint64_t val;
    uint64_t uaddr;
    uint32_t flags;
    uint32_t reserved;
};
#define WAITV_U32     0x02u /* FUTEX2_SIZE_U32 */
#define WAITV_PRIVATE 0x80u /* FUTEX2_PRIVATE */

enum { H_IDLE, H_WAITING, H_DONE, H_ABANDONED, H_EXIT };

#define IDLE_MAX     16
#define IDLE_MS      1000 /* an idle helper ends after this long */
#define SLICE_MS     50
#define HELPER_STACK (256 * 1024)

struct helper {
    struct helper *next_idle; /* [pool_lock] */
    uint32_t state;           /* [atomic] H_*; also the helper's futex */
    uint32_t *addr;           /* the request: the shared word */
    uint32_t expected;        /* sleep while *addr == expected */
    wv__waiter_t *w;          /* the parked party's waiter */
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct helper *idle;     /* [pool_lock] */
static unsigned nidle;          /* [pool_lock] */
static int have_waitv = 1;      /* [atomic] 0 once ENOSYS was seen */
static unsigned fault_delay_us; /* [atomic] wv__fault_word_wait_delay */
static uint32_t fault_hold;     /* [atomic] wv__fault_word_wait_hold:
                                   HOLD_OFF, HOLD_ARMED or HOLD_HELD */

enum { HOLD_OFF, HOLD_ARMED, HOLD_HELD };

/* ------------------------------------------------------------ helpers */

static void pool_prepare(void)
{
    pthread_mutex_lock(&pool_lock);
}

static void pool_parent(void)
{
    pthread_mutex_unlock(&pool_lock);
}

static void pool_child(void)
{
    idle = NULL; /* their threads stayed in the parent */
    nidle = 0;
    pthread_mutex_unlock(&pool_lock);
}

/* At load rather than by pthread_once, as coro/stack.c's key: a fork
 * while a once is in progress would hang the child's first shared-word
 * wait where the C library does not reset it (TSan, musl). */
__attribute__((constructor)) static void pool_init(void)
{
    int r = pthread_atfork(pool_prepare, pool_parent, pool_child);
    WV__ASSERT(r == 0);
}

/* After a sleep that failed with EAGAIN (a word differs) or EFAULT (the
 * shared word is not mapped): 0 when the shared word changed, 1 when the
 * request was abandoned.  It looks at `state`, never at the shared word:
 * once the request is abandoned its coroutine may have returned and the
 * word's memory be gone (EFAULT; or a read here would fault).  `state`
 * leaves WAITING for good (DONE is the helper's own move), so WAITING now
 * was WAITING when the kernel looked, and then the shared word differed.
 * EFAULT while WAITING is a word unmapped under a running call, the
 * caller's bug: answered as a wake-up, its coroutine's own look faults. */
static int changed_or_abandoned(struct helper *h)
{
    return __atomic_load_n(&h->state, __ATOMIC_ACQUIRE) == H_WAITING ? 0 : 1;
}

/* Sleeps on the shared word and the helper's state word at once.
 * Returns 0 when the shared word was woken or differs (or cannot be
 * told apart), 1 when only a look at `state` is needed. */
static int wait_both(struct helper *h)
{
    if (__atomic_load_n(&have_waitv, __ATOMIC_RELAXED)) {
        struct waitv v[2] = {
            {h->expected, (uint64_t)(uintptr_t)h->addr, WAITV_U32, 0},
            {H_WAITING, (uint64_t)(uintptr_t)&h->state,
             WAITV_U32 | WAITV_PRIVATE, 0},
        };
        long r = syscall(SYS_futex_waitv, v, 2, 0, NULL, CLOCK_MONOTONIC);
        if (r == 0)
            return 0; /* the shared word was woken */
        if (r == 1)
            return 1;
        if (errno == EINTR)
            return 1;
        if (errno == EAGAIN || errno == EFAULT)
            return changed_or_abandoned(h);
        WV__ASSERT(errno == ENOSYS);
        __atomic_store_n(&have_waitv, 0, __ATOMIC_RELAXED);
    }
    /* Old kernel: the shared word alone, a slice at a time; the call is
     * made here, not through wv__futex_wait, for the EFAULT above. */
    struct timespec ts;
    wv__deadline_timespec(wv_now() + SLICE_MS, &ts);
    long r = syscall(SYS_futex, h->addr, FUTEX_WAIT_BITSET, h->expected, &ts,
                     NULL, FUTEX_BITSET_MATCH_ANY);
    if (r == 0)
        return 0;
    if (errno == ETIMEDOUT || errno == EINTR)
        return 1;
    WV__ASSERT(errno == EAGAIN || errno == EFAULT);
    return changed_or_abandoned(h);
}

/* Test hook: the first helper to get here while the hook is armed stays
 * here, as if preempted between its look at `state` and its sleep, until
 * the hook is turned off. */
static void hold_here(void)
{
    uint32_t st = HOLD_ARMED;
    if (!__atomic_compare_exchange_n(&fault_hold, &st, HOLD_HELD, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        return;
    while (__atomic_load_n(&fault_hold, __ATOMIC_ACQUIRE) == HOLD_HELD)
        wv__futex_wait(&fault_hold, HOLD_HELD, WV_FOREVER, false);
}

/* Serves one request, until it is answered or abandoned. */
static void serve(struct helper *h)
{
    bool slept = false; /* queued on the word at least once */

    while (__atomic_load_n(&h->state, __ATOMIC_ACQUIRE) == H_WAITING) {
        if (WV__UNLIKELY(__atomic_load_n(&fault_hold, __ATOMIC_RELAXED)))
            hold_here();
        int again = wait_both(h);
        slept = true;
        if (again)
            continue;
        unsigned us = __atomic_load_n(&fault_delay_us, __ATOMIC_RELAXED);
        if (WV__UNLIKELY(us)) { /* test hook: preempted right here */
            struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};
            nanosleep(&ts, NULL);
        }
        uint32_t st = H_WAITING;
        if (__atomic_compare_exchange_n(&h->state, &st, H_DONE, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            wv__waiter_wake(h->w); /* h->w may vanish after this */
            return;
        }
        break;
    }
    /* Abandoned.  A FUTEX_WAKE on the word may have picked this helper,
     * even when futex_waitv said the state word woke it: when both were
     * woken it reports the last of them.  Pass it on to another waiter
     * of the word (a spurious wake-up at worst).  The coroutine may have
     * returned and the word's memory gone: FUTEX_WAKE on an address is
     * harmless then (EFAULT, or a spurious wake-up of whoever waits at a
     * reused address, which re-checks). */
    if (slept)
        wv__futex_wake(h->addr, 1, true);
}

/* Back on the idle list; false when the list is full (the thread ends). */
static bool put_back(struct helper *h)
{
    bool kept = false;

    pthread_mutex_lock(&pool_lock);
    __atomic_store_n(&h->state, H_IDLE, __ATOMIC_RELAXED);
    if (nidle < IDLE_MAX) {
        h->next_idle = idle;
        idle = h;
        nidle++;
        kept = true;
    }
    pthread_mutex_unlock(&pool_lock);
    return kept;
}

/* Takes h off the idle list if it is still there (not taken). */
static bool unlink_idle(struct helper *h)
{
    bool found = false;

    pthread_mutex_lock(&pool_lock);
    for (struct helper **pp = &idle; *pp; pp = &(*pp)->next_idle) {
        if (*pp == h) {
            *pp = h->next_idle;
            nidle--;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&pool_lock);
    return found;
}

/* Waits for a request: true, or false when the helper is to end (idle
 * for IDLE_MS, or drained). */
static bool wait_for_work(struct helper *h)
{
    for (;;) {
        uint32_t st = __atomic_load_n(&h->state, __ATOMIC_ACQUIRE);
        if (st == H_EXIT)
            return false;
        if (st != H_IDLE)
            return true; /* a request (maybe abandoned already) */
        int err = wv__futex_wait(&h->state, H_IDLE, wv_now() + IDLE_MS, false);
        if (err == WV_ETIMEDOUT && unlink_idle(h))
            return false;
    }
}

static void *helper_main(void *arg)
{
    struct helper *h = arg;

    while (wait_for_work(h)) {
        serve(h);
        if (!put_back(h))
            break;
    }
    /* A late FUTEX_WAKE on h->state from an abandoning coroutine is a
     * system call on an address, harmless once h is freed. */
    wv__free(h);
    return NULL;
}

/* A new helper thread, signals blocked (weave's threads take none). */
static struct helper *helper_new(void)
{
    struct helper *h = wv__calloc(1, sizeof *h);
    if (!h)
        return NULL;
    pthread_attr_t a;
    pthread_t t;
    sigset_t all, old;
    if (pthread_attr_init(&a) != 0) {
        wv__free(h);
        return NULL;
    }
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, HELPER_STACK);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int r = pthread_create(&t, &a, helper_main, h);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&a);
    if (r != 0) {
        wv__free(h);
        return NULL;
    }
    return h;
}

static struct helper *helper_get(void)
{
    pthread_mutex_lock(&pool_lock);
    struct helper *h = idle;
    if (h) {
        idle = h->next_idle;
        nidle--;
    }
    pthread_mutex_unlock(&pool_lock);
    return h ? h : helper_new();
}

/* ------------------------------------------------------ the kind's op */

int wv__coro_word_wait(uint32_t *addr, uint32_t expected, int64_t deadline,
                       unsigned flags)
{
    struct sched *s = wv__tls_sched;

    if (!(flags & WV__PARK_NOCANCEL) && is_cancelled(s->current))
        return WV_ECANCELED;
    if (__atomic_load_n(addr, __ATOMIC_SEQ_CST) != expected)
        return 0;
    if (deadline == 0)
        return WV_ETIMEDOUT;
    struct helper *h = helper_get();
    if (!h) /* no thread to lend: block this one, as a thread would */
        return wv__futex_wait(addr, expected, deadline, true);

    wv__waiter_t w;
    wv__waiter_init(&w);
    h->addr = addr;
    h->expected = expected;
    h->w = &w;
    __atomic_store_n(&h->state, H_WAITING, __ATOMIC_RELEASE);
    wv__futex_wake(&h->state, 1, false);

    int err = wv__sched_park(s, &w, deadline, flags);
    if (!err)
        return 0;
    uint32_t st = H_WAITING;
    if (__atomic_compare_exchange_n(&h->state, &st, H_ABANDONED, false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        /* h may be reused (or freed) from here on: only its address. */
        wv__futex_wake(&h->state, 1, false);
        return err;
    }
    /* The helper answered first: its wake-up is in flight, and wins. */
    wv__sched_park(s, &w, WV_FOREVER, WV__PARK_NOCANCEL);
    return 0;
}

void wv__word_wait_drain(void)
{
    pthread_mutex_lock(&pool_lock);
    while (idle) {
        struct helper *h = idle;
        idle = h->next_idle;
        __atomic_store_n(&h->state, H_EXIT, __ATOMIC_RELEASE);
        /* h may be freed before this: a call on an address, harmless. */
        wv__futex_wake(&h->state, 1, false);
    }
    nidle = 0;
    pthread_mutex_unlock(&pool_lock);
}

void wv__fault_word_wait_delay(unsigned us)
{
    __atomic_store_n(&fault_delay_us, us, __ATOMIC_RELAXED);
}

void wv__fault_word_wait_hold(bool on)
{
    __atomic_store_n(&fault_hold, on ? HOLD_ARMED : HOLD_OFF, __ATOMIC_RELEASE);
    if (!on)
        wv__futex_wake(&fault_hold, INT32_MAX, false);
}

bool wv__word_wait_held(void)
{
    return __atomic_load_n(&fault_hold, __ATOMIC_ACQUIRE) == HOLD_HELD;
}

unsigned wv__word_wait_idle(void)
{
    pthread_mutex_lock(&pool_lock);
    unsigned n = nidle;
    pthread_mutex_unlock(&pool_lock);
    return n;
}

/*
 * weave/sync.h - Python's `threading`: threads, Lock, RLock, Condition,
 * Semaphore, BoundedSemaphore, Event, Barrier, once, thread-local values
 * and Timer.
 *
 * Every blocking call takes a deadline (see weave/core.h): -1 waits forever,
 * 0 returns WV_EAGAIN at once instead of waiting, a time on wv_now()'s clock
 * returns WV_ETIMEDOUT when reached.  Every wait goes through weave's waiter
 * abstraction, so the same calls made from a coroutine park only that
 * coroutine, and a coroutine may be woken by a thread and the reverse.
 *
 * The small primitives (lock, rlock, cond, sem, event, barrier, once, local)
 * are embedded by the caller: each has a static initializer and an init
 * function; none of them allocates and their destroy functions are
 * optional no-ops kept for symmetry, except wv_local_destroy.  They are
 * private to one process (see the proc layer for process-shared versions).
 * The fields of their structs are private: use the functions.
 *
 * Misuse that is cheap to detect returns an error instead of corrupting
 * state: releasing an unlocked Lock or an RLock owned by someone else is
 * WV_EPERM, over-releasing a BoundedSemaphore is WV_EOVERFLOW.
 */
#ifndef WEAVE_SYNC_H
#define WEAVE_SYNC_H

#include "weave/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- Thread */

/* threading.Thread.  Opaque; created by wv_thread_start. */
typedef struct wv_thread wv_thread_t;

/* A thread's body: its return value is handed to wv_thread_join. */
typedef int (*wv_thread_fn)(void *arg);

/* Longest name kept (bytes, without the NUL); longer names are cut. */
#define WV_THREAD_NAME_MAX 63

typedef struct wv_thread_opts {
    /* Name (copied).  NULL gives "Thread-N" as Python does.  The first 15
     * bytes are also given to the OS (pthread_setname_np), so debuggers,
     * `top -H` and /proc/PID/task/TID/comm show it. */
    const char *name;
    /* Stack size in bytes; 0 = the system default. */
    size_t stack_size;
} wv_thread_opts_t;

/*
 * Starts a thread running fn(arg).  opts may be NULL.  On success *out is a
 * handle the caller must pass to wv_thread_free exactly once.
 * Errors: WV_EINVAL (out or fn NULL, or a stack_size the system refuses,
 * such as one below PTHREAD_STACK_MIN), WV_ENOMEM, WV_EAGAIN (the system
 * refused another thread).  On error fn is never called and *out is
 * untouched.
 */
WV_EXTERN int wv_thread_start(wv_thread_t **out, const wv_thread_opts_t *opts,
                              wv_thread_fn fn, void *arg);

/*
 * Waits until the thread's function has returned and the thread is gone
 * (its wv_local destructors included), then stores its return value in
 * *result (if result is not NULL).  Several threads may join the same
 * thread, at once or in turn; each returns only once the thread is gone.
 * Errors: WV_ETIMEDOUT, WV_EAGAIN (deadline 0, still running), WV_EINVAL (t
 * NULL, bad deadline, or t is a thread weave did not start: the main thread
 * or a foreign one), WV_EDEADLK (t is the calling thread), WV_ECANCELED
 * (the calling coroutine was cancelled).
 */
WV_EXTERN int wv_thread_join(wv_thread_t *t, int *result, int64_t deadline);

/*
 * Releases the handle.  A thread still running is detached: it goes on and
 * cleans up after itself when its function returns.  NULL is a no-op.  The
 * handles of wv_thread_current and wv_thread_main must not be freed.
 */
WV_EXTERN void wv_thread_free(wv_thread_t *t);

/* true from wv_thread_start until fn has returned (always true for the main
 * thread and for foreign threads). */
WV_EXTERN bool wv_thread_is_alive(const wv_thread_t *t);

/* The thread's name: owned by t, valid as long as the handle. */
WV_EXTERN const char *wv_thread_name(const wv_thread_t *t);

/* The kernel's thread id (Python's native_id, what `ps -L` and gdb show).
 * Waits, briefly, if the thread has not begun to run yet. */
WV_EXTERN int wv_thread_native_id(wv_thread_t *t);

/*
 * The calling thread's handle (threading.current_thread()).  For the main
 * thread it is the one of wv_thread_main; for a thread weave did not start it
 * is a handle named after the OS name of the thread, valid until that thread
 * exits.  Never NULL, never fails, never to be freed.
 */
WV_EXTERN wv_thread_t *wv_thread_current(void);

/* The main thread's handle, named "MainThread" (threading.main_thread()). */
WV_EXTERN wv_thread_t *wv_thread_main(void);

/* ------------------------------------------------------------------ Lock */

/*
 * threading.Lock: a non-recursive mutual exclusion lock, 4 bytes, not owned
 * by any thread in particular (any thread may release it, as in Python).
 * Uncontended acquire and release are one atomic instruction each.  Under
 * contention a waiter spins briefly, then parks; the lock is not fair in
 * general (a running thread may barge ahead of a parked one, which is what
 * makes it fast), but a waiter parked for more than 1 ms is handed the lock
 * directly on the next release, so nobody starves.
 *
 * A Lock may be freed by whoever holds it last, as soon as nobody else can
 * use it, even while the thread that released it to them is still inside
 * wv_lock_release: a release touches the lock for the last time in the
 * atomic step that makes it free (true of every weave primitive's release,
 * set and notify, see docs/waiting.md).
 */
typedef struct wv_lock {
    uint32_t _state;
} wv_lock_t;

/* clang-format off */
#define WV_LOCK_INIT {0}
/* clang-format on */

WV_EXTERN void wv_lock_init(wv_lock_t *l);
/* No-op: a Lock holds no resources.  It must not be held or waited on. */
WV_EXTERN void wv_lock_destroy(wv_lock_t *l);

/*
 * Acquires the lock, waiting until `deadline`.  A thread that already holds
 * the lock and acquires it again deadlocks until its deadline, as in Python.
 * Errors: WV_EAGAIN (deadline 0 and held), WV_ETIMEDOUT, WV_EINVAL (l NULL,
 * or a bad deadline when the lock is held), WV_ECANCELED (calling coroutine
 * cancelled).
 *
 * The uncontended case is one atomic exchange, inlined into the caller
 * (a C99 inline definition: the library also exports wv_lock_acquire as a
 * symbol, for bindings and for calls the compiler does not inline).
 * Defined below.
 *
 * wv_lock_release(l) releases the lock.  Errors: WV_EPERM (the lock was
 * not held), WV_EINVAL (l NULL).  Inlined as wv_lock_acquire, and exported
 * too.
 */

/*
 * The out-of-line halves of the two inline calls, part of the ABI because
 * the inline halves call them: the state word's encoding is fixed from
 * here (bit 0 set while the lock is held, bit 1 while waiters may be
 * parked), acquire is one exchange (it found 0: acquired) and release one
 * compare-and-swap from "held, nobody parked" to 0.  `old` is what the
 * exchange found.  Not for direct use: call wv_lock_acquire/release.
 */
WV_EXTERN int wv_lock_acquire_slow(wv_lock_t *l, int64_t deadline,
                                   uint32_t old);
WV_EXTERN int wv_lock_release_slow(wv_lock_t *l);

/* Bit 0 of the state word: the lock is held (part of the ABI, above). */
#define WV_LOCK_HELD 1u

WV_EXTERN inline int wv_lock_acquire(wv_lock_t *l, int64_t deadline)
{
    if (__builtin_expect(l != 0, 1)) {
        uint32_t old =
            __atomic_exchange_n(&l->_state, WV_LOCK_HELD, __ATOMIC_ACQUIRE);
        if (__builtin_expect(old == 0, 1))
            return 0;
        return wv_lock_acquire_slow(l, deadline, old);
    }
    return WV_EINVAL;
}

WV_EXTERN inline int wv_lock_release(wv_lock_t *l)
{
    if (__builtin_expect(l != 0, 1)) {
        uint32_t held = WV_LOCK_HELD;
        if (__builtin_expect(__atomic_compare_exchange_n(&l->_state, &held, 0,
                                                         1, __ATOMIC_RELEASE,
                                                         __ATOMIC_RELAXED),
                             1))
            return 0;
        return wv_lock_release_slow(l);
    }
    return WV_EINVAL;
}

/* true while the lock is held (a snapshot). */
WV_EXTERN bool wv_lock_is_locked(const wv_lock_t *l);

/* ----------------------------------------------------------------- RLock */

/*
 * threading.RLock: a reentrant lock owned by the thread (or coroutine) that
 * acquired it; that owner may acquire it again, and must release it as
 * many times.
 */
typedef struct wv_rlock {
    wv_lock_t _lock;
    uint32_t _count;
    uintptr_t _owner;
} wv_rlock_t;

/* clang-format off */
#define WV_RLOCK_INIT {WV_LOCK_INIT, 0, 0}
/* clang-format on */

WV_EXTERN void wv_rlock_init(wv_rlock_t *r);
WV_EXTERN void wv_rlock_destroy(wv_rlock_t *r);

/* Errors: as wv_lock_acquire; WV_EOVERFLOW if the owner's count would pass
 * UINT32_MAX. */
WV_EXTERN int wv_rlock_acquire(wv_rlock_t *r, int64_t deadline);

/* Errors: WV_EPERM (the caller is not the owner, or the lock is free). */
WV_EXTERN int wv_rlock_release(wv_rlock_t *r);

/* true if the calling thread (or coroutine) owns r. */
WV_EXTERN bool wv_rlock_is_owned(const wv_rlock_t *r);

/* ------------------------------------------------------------- Condition */

/*
 * threading.Condition, with the lock passed to each wait as in pthreads:
 * the same cond may only ever be used with one lock at a time.  The lock
 * must be held to wait; notify may be called with or without it, but a
 * notification is only guaranteed to reach a waiter that began waiting
 * before the notifier changed the shared state under the lock.
 */
typedef struct wv_cond {
    uint32_t _waiters;
} wv_cond_t;

/* clang-format off */
#define WV_COND_INIT {0}
/* clang-format on */

WV_EXTERN void wv_cond_init(wv_cond_t *c);
WV_EXTERN void wv_cond_destroy(wv_cond_t *c);

/*
 * Atomically releases l and waits for a notification or the deadline, then
 * re-acquires l (always, even on error, waiting as long as that takes) and
 * returns.  As in Python, a return of 0 does not prove the awaited state
 * holds: check it in a loop, or use wv_cond_wait_for.
 * Errors: WV_EPERM (l not held), WV_EAGAIN (deadline 0: l is kept, nothing
 * happens), WV_ETIMEDOUT, WV_EINVAL (bad deadline), WV_ECANCELED.
 */
WV_EXTERN int wv_cond_wait(wv_cond_t *c, wv_lock_t *l, int64_t deadline);

/* As wv_cond_wait with an RLock, which must be owned by the caller; it is
 * released completely (whatever its count) and restored after. */
WV_EXTERN int wv_cond_wait_rlock(wv_cond_t *c, wv_rlock_t *r, int64_t deadline);

/* A predicate over caller state, evaluated with the lock held. */
typedef bool (*wv_pred_fn)(void *arg);

/*
 * Python's wait_for: waits until pred(arg) is true (checked first, then
 * after every wake-up) or the deadline passes.  Returns 0 when pred is true
 * (even if the deadline passed at the same moment); otherwise as
 * wv_cond_wait.  The lock is held on return in every case.
 */
WV_EXTERN int wv_cond_wait_for(wv_cond_t *c, wv_lock_t *l, wv_pred_fn pred,
                               void *arg, int64_t deadline);
WV_EXTERN int wv_cond_wait_for_rlock(wv_cond_t *c, wv_rlock_t *r,
                                     wv_pred_fn pred, void *arg,
                                     int64_t deadline);

/*
 * Wakes up to n waiters (oldest first).  Returns how many were woken.
 * Notifying after releasing the lock is allowed, but then the waiters may
 * already have returned: the caller must know the condition still exists
 * (as with pthread_cond_signal).
 */
WV_EXTERN int wv_cond_notify(wv_cond_t *c, unsigned n);

/* Wakes every waiter.  Returns how many were woken. */
WV_EXTERN int wv_cond_notify_all(wv_cond_t *c);

/* ------------------------------------------------------------- Semaphore */

/*
 * threading.Semaphore and BoundedSemaphore: a counter that acquire
 * decrements, waiting while it is 0, and release increments.  A bounded
 * semaphore refuses to be released above its initial value.  The value is
 * limited to WV_SEM_VALUE_MAX.
 */
typedef struct wv_sem {
    uint32_t _state;
    uint32_t _max; /* 0 = unbounded */
} wv_sem_t;

#define WV_SEM_VALUE_MAX 0x7fffffffu
/* clang-format off */
#define WV_SEM_INIT(value) {(uint32_t)(value) << 1, 0}
/* clang-format on */
/* clang-format off */
#define WV_BOUNDED_SEM_INIT(value) \
    {(uint32_t)(value) << 1, (uint32_t)(value)}
/* clang-format on */

/* Errors: WV_EINVAL (value > WV_SEM_VALUE_MAX). */
WV_EXTERN int wv_sem_init(wv_sem_t *s, unsigned value);
/* Errors: WV_EINVAL (value 0 or > WV_SEM_VALUE_MAX). */
WV_EXTERN int wv_sem_init_bounded(wv_sem_t *s, unsigned value);
WV_EXTERN void wv_sem_destroy(wv_sem_t *s);

/* Errors: WV_EAGAIN (deadline 0 and value 0), WV_ETIMEDOUT, WV_EINVAL (bad
 * deadline), WV_ECANCELED. */
WV_EXTERN int wv_sem_acquire(wv_sem_t *s, int64_t deadline);

/*
 * Adds n to the value and wakes up to n waiters.  Errors: WV_EINVAL (n 0),
 * WV_EOVERFLOW (a bounded semaphore would exceed its initial value, or the
 * value WV_SEM_VALUE_MAX; the value is then unchanged).
 */
WV_EXTERN int wv_sem_release(wv_sem_t *s, unsigned n);

/* The current value (a snapshot). */
WV_EXTERN unsigned wv_sem_value(const wv_sem_t *s);

/* ----------------------------------------------------------------- Event */

/* threading.Event: a flag that threads wait to see set. */
typedef struct wv_event {
    uint32_t _state;
} wv_event_t;

/* clang-format off */
#define WV_EVENT_INIT {0}
/* clang-format on */

WV_EXTERN void wv_event_init(wv_event_t *e);
WV_EXTERN void wv_event_destroy(wv_event_t *e);

/* Sets the flag and wakes every waiter.  Returns how many were woken. */
WV_EXTERN int wv_event_set(wv_event_t *e);
/* Clears the flag. */
WV_EXTERN void wv_event_clear(wv_event_t *e);
WV_EXTERN bool wv_event_is_set(const wv_event_t *e);

/*
 * Waits until the flag is set.  Returns 0 if it was set (even if cleared
 * again before this waiter ran, as in Python).  Errors: WV_EAGAIN (deadline
 * 0, not set), WV_ETIMEDOUT, WV_EINVAL (bad deadline), WV_ECANCELED.
 */
WV_EXTERN int wv_event_wait(wv_event_t *e, int64_t deadline);

/* --------------------------------------------------------------- Barrier */

/*
 * threading.Barrier: `parties` threads meet; each wait returns when all have
 * arrived.  An optional action runs in the last arriving thread before the
 * others are released.  The barrier breaks when a waiter's deadline
 * expires, when abort is called or when the action fails; it then stays
 * broken (every wait returns WV_EBROKEN) until reset.  As in Python, a
 * released generation drains (every waiter returns) before the next one can
 * fill, so each waiter's outcome is exact even when its deadline races the
 * release.
 */
typedef int (*wv_barrier_action_fn)(void *arg);

typedef struct wv_barrier {
    wv_lock_t _lock;
    wv_cond_t _cond;
    uint32_t _parties;
    uint32_t _count; /* threads inside wait */
    int32_t _state;  /* 0 filling, 1 draining, -1 resetting, -2 broken */
    wv_barrier_action_fn _action;
    void *_arg;
} wv_barrier_t;

/* clang-format off */
#define WV_BARRIER_INIT(parties, action, arg) \
    {WV_LOCK_INIT, WV_COND_INIT, (parties), 0, 0, (action), (arg)}
/* clang-format on */

/*
 * action may be NULL.  If it returns a negative code the barrier breaks:
 * the thread that ran it gets that code, the others WV_EBROKEN.
 * Errors: WV_EINVAL (parties 0).
 */
WV_EXTERN int wv_barrier_init(wv_barrier_t *b, unsigned parties,
                              wv_barrier_action_fn action, void *arg);

/*
 * Waits until the parties of the last released, reset or broken generation
 * have all left wait(): they still touch the barrier for a moment after the
 * one that calls destroy has returned.  Nobody may be waiting at the
 * barrier.  After it returns the memory may be freed.
 */
WV_EXTERN void wv_barrier_destroy(wv_barrier_t *b);

/*
 * Arrives and waits for the others.  Returns the arrival index, from 0 (the
 * first) to parties-1 (the last, which ran the action).  Errors:
 * WV_EBROKEN (broken before or while waiting, or reset while waiting),
 * WV_ETIMEDOUT (the deadline expired: if the caller had arrived, it broke
 * the barrier; if it was still waiting for the previous generation to
 * drain, it leaves without arriving), WV_EAGAIN (deadline 0 and others
 * still missing: the caller leaves without arriving, nothing is broken),
 * WV_EINVAL (bad deadline), WV_ECANCELED (a cancelled coroutine, which
 * breaks the barrier like a deadline), or the action's own error.
 */
WV_EXTERN int wv_barrier_wait(wv_barrier_t *b, int64_t deadline);

/* Breaks the barrier: current and future waiters get WV_EBROKEN. */
WV_EXTERN void wv_barrier_abort(wv_barrier_t *b);

/* Returns the barrier to its initial state; current waiters get
 * WV_EBROKEN.  New arrivals wait until they have left. */
WV_EXTERN void wv_barrier_reset(wv_barrier_t *b);

WV_EXTERN unsigned wv_barrier_parties(const wv_barrier_t *b);
/* How many have arrived and wait now (a snapshot). */
WV_EXTERN unsigned wv_barrier_n_waiting(wv_barrier_t *b);
WV_EXTERN bool wv_barrier_is_broken(wv_barrier_t *b);

/* ------------------------------------------------------------------ once */

/*
 * Runs an initializer exactly once (pthread_once, with failure handling):
 * the first caller runs fn(arg); the others wait for it.  If fn returns a
 * negative code, nothing is recorded: that caller gets the code, the
 * waiting callers wake up, and the next caller to get there (waiting or
 * new) runs fn again.
 */
typedef struct wv_once {
    uint32_t _state;
} wv_once_t;

/* clang-format off */
#define WV_ONCE_INIT {0}
/* clang-format on */

/*
 * Returns 0 once fn has succeeded (at once, with one atomic load, after
 * that), or fn's error if this caller ran it and it failed.  Errors:
 * WV_ETIMEDOUT / WV_EAGAIN (another caller is running fn and the deadline
 * passed / was 0), WV_EINVAL (bad deadline), WV_ECANCELED.  Calling
 * wv_once on the same object from inside fn deadlocks until the deadline.
 */
WV_EXTERN int wv_once(wv_once_t *once, int (*fn)(void *arg), void *arg,
                      int64_t deadline);

/* true once an initializer has succeeded. */
WV_EXTERN bool wv_once_is_done(const wv_once_t *once);

/* ----------------------------------------------------------------- local */

/*
 * threading.local: one slot whose value is different in every thread (and,
 * with coroutines, in every coroutine).  A value starts as NULL.  When a
 * thread started by weave or by pthreads exits, the destructor (if any) is
 * called on its non-NULL values, in that thread; destructors may set values
 * again (repeated up to 4 rounds, as pthreads do).  The main thread's values
 * are not destroyed at exit().  Unlike pthread keys, there is no limit on
 * the number of locals.
 */
typedef struct wv_local {
    uint32_t _index; /* 0 until first use */
    void (*_dtor)(void *value);
} wv_local_t;

/* clang-format off */
#define WV_LOCAL_INIT(dtor) {0, (dtor)}
/* clang-format on */

/* Errors: WV_ENOMEM. */
WV_EXTERN int wv_local_init(wv_local_t *l, void (*dtor)(void *value));

/*
 * Releases the slot.  The destructor runs (in the calling thread) on the
 * value of every thread that still has one, so nothing leaks: call it only
 * when no thread uses the local any more.  A value that a destructor sets
 * on this same local meanwhile starts the local anew (destroy it again).
 * A WV_LOCAL_INIT local that was never used needs no destroy.
 */
WV_EXTERN void wv_local_destroy(wv_local_t *l);

/* The calling thread's value, or NULL.  Never fails, never allocates. */
WV_EXTERN void *wv_local_get(wv_local_t *l);

/*
 * Sets the calling thread's value (NULL clears it, without calling the
 * destructor: the caller keeps the old value).  Errors: WV_ENOMEM (the
 * first value of a thread, or of a new local, may need memory), WV_EAGAIN
 * (the system has no pthread key left for weave's own exit hook: only
 * possible if the process already used all of them).
 */
WV_EXTERN int wv_local_set(wv_local_t *l, void *value);

/* ----------------------------------------------------------------- Timer */

/*
 * threading.Timer: calls fn(arg) after a delay, in a thread of its own,
 * unless cancelled first.
 */
typedef struct wv_timer wv_timer_t;

/*
 * Starts a timer that calls fn(arg) after delay_ms milliseconds.  Errors:
 * WV_EINVAL (out or fn NULL, delay_ms < 0), WV_ENOMEM, WV_EAGAIN (no
 * thread).  On error fn is never called.
 */
WV_EXTERN int wv_timer_start(wv_timer_t **out, int64_t delay_ms,
                             void (*fn)(void *arg), void *arg);

/*
 * Cancels the timer if fn has not started.  Returns 0 if it was cancelled
 * (fn will never run), WV_EALREADY if fn has already started or finished.
 */
WV_EXTERN int wv_timer_cancel(wv_timer_t *t);

/* Waits until the timer's thread has finished (fn returned, or the timer
 * was cancelled).  Errors: as wv_thread_join. */
WV_EXTERN int wv_timer_join(wv_timer_t *t, int64_t deadline);

/* Cancels the timer if still waiting, waits for fn if it is running, and
 * frees everything.  NULL is a no-op. */
WV_EXTERN void wv_timer_free(wv_timer_t *t);

#ifdef __cplusplus
}
#endif
#endif /* WEAVE_SYNC_H */

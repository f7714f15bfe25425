/*
 * sync/internal.h - what the sync layer shares with the layers above it.
 */
#ifndef WV_SYNC_INTERNAL_H
#define WV_SYNC_INTERNAL_H

#include "../core/internal.h"
#include "weave/sync.h"

/*
 * wv_lock_acquire without a deadline that a coroutine's cancellation cannot
 * interrupt: re-taking the user's lock after a condition wait must always
 * succeed, or the caller would return without the lock it must hold.
 */
void wv__lock_acquire_nocancel(wv_lock_t *l);

/* Lock hand-offs to starving waiters so far, process-wide (test aid:
 * shows that the starvation bound engaged). */
extern uint64_t wv__lock_handoffs;

/*
 * The per-party storage of wv_local values (sync/local.c).  A thread gets
 * one lazily, and so does a coroutine (one made while wv__party is set is
 * the coroutine's: no thread-exit key); the coroutine scheduler keeps each
 * party's array and makes it current around every switch, which makes
 * wv_local coroutine-local, and releases a coroutine's when it returns.
 */
typedef struct wv__locals wv__locals_t;

/* The running party's array, NULL until it sets a value: a plain
 * thread-local, so that a switch saves and restores it inline. */
extern __thread wv__locals_t *wv__locals_cur
    __attribute__((tls_model("initial-exec")));
static inline wv__locals_t *wv__locals_current(void)
{
    return wv__locals_cur;
}
static inline void wv__locals_set_current(wv__locals_t *locals)
{
    wv__locals_cur = locals;
}
/* Runs the destructors of every value in `locals` and frees it. */
void wv__locals_release(wv__locals_t *locals);
/* Releases the calling thread's locals now (a weave thread, before it
 * reports itself done) instead of at its exit. */
void wv__locals_thread_exit(void);

#endif /* WV_SYNC_INTERNAL_H */

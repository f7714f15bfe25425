/*
 * core/waiter.c - the built-in waiter kind (threads sleep on a futex) and
 * the per-thread record of which kind the running party uses.
 *
 * State of a thread waiter's word (wv__waiter.state, WV__W_* in
 * core/internal.h):
 *   PARKED   -> SLEEPING  the sleeper, before it enters futex_wait;
 *   any      -> WOKEN     the waker, with one exchange; only if the old
 *                         value was SLEEPING does it pay for FUTEX_WAKE.
 * A waker that wins the race before the sleeper reaches the kernel thus
 * costs no system call at all.
 */
#include "internal.h"

__thread const wv__waiter_kind_t *wv__kind;
__thread void *wv__party;
static __thread char tls_self; /* its address names the thread */

static int thread_sleep(wv__waiter_t *w, int64_t deadline, unsigned flags)
{
    (void)flags; /* threads are never cancelled */
    for (;;) {
        uint32_t s = __atomic_load_n(&w->state, __ATOMIC_ACQUIRE);
        if (s == WV__W_WOKEN)
            return 0;
        if (s == WV__W_PARKED &&
            !__atomic_compare_exchange_n(&w->state, &s, WV__W_SLEEPING, false,
                                         __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE))
            continue; /* woken meanwhile */
        if (wv__futex_wait(&w->state, WV__W_SLEEPING, deadline, false) ==
            WV_ETIMEDOUT) {
            s = __atomic_load_n(&w->state, __ATOMIC_ACQUIRE);
            return s == WV__W_WOKEN ? 0 : WV_ETIMEDOUT;
        }
    }
}

static void thread_wake(wv__waiter_t *w)
{
    /* After this exchange the sleeper may return and its stack frame (and
     * so *w) be reused; FUTEX_WAKE on a stale address is harmless: at worst
     * a spurious wake-up of whoever sleeps there now, which re-checks. */
    uint32_t *word = &w->state;
    if (__atomic_exchange_n(word, WV__W_WOKEN, __ATOMIC_RELEASE) ==
        WV__W_SLEEPING)
        wv__futex_wake(word, 1, false);
}

const wv__waiter_kind_t wv__thread_waiter = {
    .name = "thread",
    .sleep = thread_sleep,
    .wake = thread_wake,
};

int wv__shared_wait(uint32_t *addr, uint32_t expected, int64_t deadline,
                    unsigned flags)
{
    const wv__waiter_kind_t *kind = wv__waiter_kind();

    if (kind->word_wait)
        return kind->word_wait(addr, expected, deadline, flags);
    if (deadline == 0)
        return __atomic_load_n(addr, __ATOMIC_SEQ_CST) != expected
                   ? 0
                   : WV_ETIMEDOUT;
    return wv__futex_wait(addr, expected, deadline, true);
}

void wv__waiter_set_kind(const wv__waiter_kind_t *kind, void *ctx)
{
    wv__kind = kind == &wv__thread_waiter ? NULL : kind;
    wv__party = ctx;
}

uintptr_t wv__self(void)
{
    return wv__party ? (uintptr_t)wv__party : (uintptr_t)&tls_self;
}

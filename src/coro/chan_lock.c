/*
 * coro/chan_lock.c - the slow path of a channel's biased lock: a thread's
 * first lock, which claims the bias or gives the thread its token, and
 * the revocation of an owner's bias by a second thread (chan_impl.h has
 * the protocol and the inline fast path; docs/chan.md, "The lock").
 */
#include "chan_impl.h"

__thread uintptr_t wv__chan_bias_token
    __attribute__((tls_model("initial-exec")));
static uintptr_t next_token = 4; /* [atomic] above the OWNER_* states */

/* The first lock (which claims the bias), a revocation, and a lock that
 * met one in progress. */
void wv__chan_lock_slow(wv_chan_t *ch)
{
    if (!wv__chan_bias_token)
        wv__chan_bias_token =
            __atomic_fetch_add(&next_token, 1, __ATOMIC_RELAXED);
    uintptr_t self = wv__chan_bias_token;
    unsigned spins = 0;
    for (;;) {
        uintptr_t o = __atomic_load_n(&ch->owner, __ATOMIC_ACQUIRE);
        if (o == OWNER_SHARED) {
            wv__leaf_lock(&ch->lock);
            return;
        }
        if (o == self) {
            if (try_bias(ch, self))
                return;
        } else if (o == OWNER_NONE) {
            uintptr_t to = __atomic_load_n(&wv__barrier_cheap, __ATOMIC_RELAXED)
                               ? self
                               : OWNER_SHARED;
            __atomic_compare_exchange_n(&ch->owner, &o, to, false,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED);
        } else if (o == OWNER_REVOKING) {
            wv__backoff(&spins);
        } else if (__atomic_compare_exchange_n(&ch->owner, &o, OWNER_REVOKING,
                                               false, __ATOMIC_ACQUIRE,
                                               __ATOMIC_RELAXED)) {
            wv__barrier_heavy(); /* pairs with try_bias's compiler barrier */
            while (__atomic_load_n(&ch->busy, __ATOMIC_ACQUIRE) != 0)
                wv__backoff(&spins);
            __atomic_store_n(&ch->owner, OWNER_SHARED, __ATOMIC_RELEASE);
        }
    }
}

/* Test aid (coro/internal.h): 1 biased to the calling thread, 2 biased to
 * another, 0 otherwise (not yet locked, or shared). */
int wv__chan_bias(const wv_chan_t *ch)
{
    uintptr_t o = __atomic_load_n(&ch->owner, __ATOMIC_ACQUIRE);
    if (o == OWNER_NONE || o == OWNER_SHARED || o == OWNER_REVOKING)
        return 0;
    return o == wv__chan_bias_token ? 1 : 2;
}

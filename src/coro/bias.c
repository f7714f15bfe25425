/*
 * coro/bias.c - the slow path of the biased lock: a thread's first lock,
 * which claims the bias or gives the thread its token, and the
 * revocation of an owner's bias by a second thread (bias.h has the
 * protocol and the inline fast path; docs/chan.md, "The lock").
 */
#include "bias.h"
#include "chan_impl.h"

__thread uintptr_t wv__bias_token __attribute__((tls_model("initial-exec")));
static uintptr_t next_token = 4; /* [atomic] above the OWNER_* states */

/* The first lock (which claims the bias), a revocation, and a lock that
 * met one in progress. */
void wv__bias_lock_slow(wv__bias_t *ch)
{
    if (!wv__bias_token)
        wv__bias_token = __atomic_fetch_add(&next_token, 1, __ATOMIC_RELAXED);
    uintptr_t self = wv__bias_token;
    unsigned spins = 0;
    for (;;) {
        uintptr_t o = __atomic_load_n(&ch->owner, __ATOMIC_ACQUIRE);
        if (o == OWNER_SHARED) {
            wv__leaf_lock(&ch->lock);
            return;
        }
        if (o == self) {
            if (wv__bias_try(ch, self))
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
            wv__barrier_heavy(); /* pairs with wv__bias_try's compiler barrier
                                  */
            while (__atomic_load_n(&ch->busy, __ATOMIC_ACQUIRE) != 0)
                wv__backoff(&spins);
            __atomic_store_n(&ch->owner, OWNER_SHARED, __ATOMIC_RELEASE);
        }
    }
}

int wv__bias_state(const wv__bias_t *ch)
{
    uintptr_t o = __atomic_load_n(&ch->owner, __ATOMIC_ACQUIRE);
    if (o == OWNER_NONE || o == OWNER_SHARED || o == OWNER_REVOKING)
        return 0;
    return o == wv__bias_token ? 1 : 2;
}

/* Test aid (coro/internal.h): a channel's bias (wv__bias_state). */
int wv__chan_bias(const wv_chan_t *ch)
{
    return wv__bias_state(&ch->bias);
}

/*
 * core/futex_linux.c - the futex system call, the one place where weave
 * sleeps a thread in the kernel.
 *
 * Waits use FUTEX_WAIT_BITSET, whose timeout is an absolute CLOCK_MONOTONIC
 * time: a deadline converts once and survives any number of EINTR returns
 * without drift.  EINTR is reported as a (spurious) wake-up: every caller
 * loops on its own condition, which is the one retry the rules ask for.
 */
#include "internal.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint32_t fault_eintr; /* wv__fault_futex_eintr budget */

void wv__fault_futex_eintr(uint32_t n)
{
    __atomic_store_n(&fault_eintr, n, __ATOMIC_RELAXED);
}

static bool take_fault(void)
{
    uint32_t n = __atomic_load_n(&fault_eintr, __ATOMIC_RELAXED);

    while (n > 0) {
        if (__atomic_compare_exchange_n(&fault_eintr, &n, n - 1, false,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return true;
    }
    return false;
}

int wv__futex_wait(uint32_t *addr, uint32_t expected, int64_t deadline,
                   bool shared)
{
    struct timespec ts, *tsp = NULL;
    int op = FUTEX_WAIT_BITSET | (shared ? 0 : FUTEX_PRIVATE_FLAG);

    if (WV__UNLIKELY(take_fault()))
        return 0;
    if (wv__deadline_timespec(deadline, &ts))
        tsp = &ts;
    long r = syscall(SYS_futex, addr, op, expected, tsp, NULL,
                     FUTEX_BITSET_MATCH_ANY);
    if (r == -1 && errno == ETIMEDOUT)
        return WV_ETIMEDOUT;
    /* 0, EAGAIN (value changed) and EINTR all mean: look again. */
    WV__ASSERT(r == 0 || errno == EAGAIN || errno == EINTR);
    return 0;
}

int wv__futex_wake(uint32_t *addr, int n, bool shared)
{
    int op = FUTEX_WAKE | (shared ? 0 : FUTEX_PRIVATE_FLAG);
    long r = syscall(SYS_futex, addr, op, n, NULL, NULL, 0);

    return r < 0 ? 0 : (int)r;
}

void wv__backoff(unsigned *n)
{
    if (++*n < 64) {
        wv__cpu_relax();
        return;
    }
    unsigned shift = *n - 64 < 10 ? *n - 64 : 10;
    struct timespec ts = {0, 1000L << shift};
    nanosleep(&ts, NULL);
}

#define LEAF_SPINS 64

void wv__leaf_lock_slow(uint32_t *lock)
{
    for (int i = 0; i < LEAF_SPINS; i++) {
        wv__cpu_relax();
        uint32_t c = 0;
        if (__atomic_load_n(lock, __ATOMIC_RELAXED) == 0 &&
            __atomic_compare_exchange_n(lock, &c, 1, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return;
    }
    while (__atomic_exchange_n(lock, 2, __ATOMIC_ACQUIRE) != 0)
        wv__futex_wait(lock, 2, WV_FOREVER, false);
}

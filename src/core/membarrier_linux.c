/*
 * core/membarrier_linux.c - asymmetric memory barriers.
 *
 * Some protocols pair a hot side, run millions of times a second (a
 * submitter publishing a task, then reading "is a worker asleep?"), with a
 * cold side (a worker about to sleep, a pool closing).  Both need a full
 * barrier between their store and their load, and a full barrier costs a
 * locked instruction that waits for every pending store, cache misses
 * included.  membarrier(2) lets the cold side pay for both: after
 * wv__barrier_heavy() returns, every other thread of the process has
 * executed a full barrier, so the hot side needs only a compiler barrier
 * (wv__barrier_light).  Where the system call is missing or refused,
 * wv__barrier_light becomes a real fence and wv__barrier_heavy a fence too:
 * correct everywhere, only fast where it can be.
 */
#include "internal.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

bool wv__barrier_cheap;
uint32_t wv__fence_word;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void registration(void)
{
    long r = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
                     0, 0);
    __atomic_store_n(&wv__barrier_cheap, r == 0, __ATOMIC_SEQ_CST);
}

void wv__barrier_init(void)
{
    pthread_once(&once, registration);
}

void wv__barrier_heavy(void)
{
    wv__fence();
    if (__atomic_load_n(&wv__barrier_cheap, __ATOMIC_RELAXED) &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
        WV__ASSERT(!"membarrier failed after registering");
}

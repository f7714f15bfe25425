/*
 * The bank balance without a lock: the tutorials' demonstration that
 * `balance = balance + n` is not one step.  Two threads each add and
 * subtract their amount 100,000 times; when their steps interleave, one
 * thread's store overwrites the other's and the balance drifts from 0.
 *
 * In C an unsynchronised data race is undefined behaviour, so the balance
 * is read and written with relaxed atomic loads and stores: each access is
 * well-defined, but the read-modify-write is still two separate steps, and
 * that is the race being shown (ThreadSanitizer stays quiet about it).
 * A C thread runs its 100,000 steps in well under a millisecond, before the
 * other one has even started, so both wait at a start gate (a Barrier) to
 * really run side by side.  bank_balance.c is the fixed version.
 */
#include <weave.h>

#include <stdio.h>

static long balance = 0;
static wv_barrier_t start_gate = WV_BARRIER_INIT(2, NULL, NULL);

static long get(void)
{
    return __atomic_load_n(&balance, __ATOMIC_RELAXED);
}

static void set(long value)
{
    __atomic_store_n(&balance, value, __ATOMIC_RELAXED);
}

static void change_it(long n)
{
    set(get() + n); /* balance = balance + n */
    set(get() - n); /* balance = balance - n */
}

static int run_thread(void *arg)
{
    long n = (long)(intptr_t)arg;

    wv_barrier_wait(&start_gate, WV_FOREVER);
    for (int i = 0; i < 100000; i++)
        change_it(n);
    return 0;
}

int main(void)
{
    wv_thread_t *t1, *t2;

    if (wv_thread_start(&t1, NULL, run_thread, (void *)5) ||
        wv_thread_start(&t2, NULL, run_thread, (void *)8)) {
        fprintf(stderr, "cannot start the threads\n");
        return 1;
    }
    wv_thread_join(t1, NULL, WV_FOREVER);
    wv_thread_join(t2, NULL, WV_FOREVER);
    wv_thread_free(t1);
    wv_thread_free(t2);
    printf("balance = %ld", get());
    if (get() != 0)
        printf("  <- lost updates: the threads raced\n");
    else
        printf("  (no interleaving this time: run it again)\n");
    return 0;
}

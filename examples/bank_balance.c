/*
 * The bank balance, made safe with a Lock:
 *
 *     balance = 0
 *     lock = threading.Lock()
 *
 *     def change_it(n):
 *         global balance
 *         balance = balance + n
 *         balance = balance - n
 *
 *     def run_thread(n):
 *         for i in range(100000):
 *             lock.acquire()
 *             try:
 *                 change_it(n)
 *             finally:
 *                 lock.release()
 *
 *     t1 = threading.Thread(target=run_thread, args=(5,))
 *     t2 = threading.Thread(target=run_thread, args=(8,))
 *     t1.start(); t2.start(); t1.join(); t2.join()
 *     print(balance)
 *
 * bank_balance_race.c is the same program without the lock.
 */
#include <weave.h>

#include <stdio.h>

static long balance = 0;
static wv_lock_t lock = WV_LOCK_INIT;

static void change_it(long n)
{
    balance = balance + n;
    balance = balance - n;
}

static int run_thread(void *arg)
{
    long n = (long)(intptr_t)arg;

    for (int i = 0; i < 100000; i++) {
        wv_lock_acquire(&lock, WV_FOREVER);
        change_it(n);
        wv_lock_release(&lock);
    }
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
    printf("balance = %ld\n", balance);
    return balance == 0 ? 0 : 1;
}

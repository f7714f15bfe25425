/* A program outside weave's tree, built against the installed package. */
#include <weave.h>

#include <stdio.h>
#include <string.h>

static wv_lock_t lock = WV_LOCK_INIT;
static long counter;

static int work(void *arg)
{
    wv_queue_t *q = arg;
    for (long i = 0; i < 1000; i++) {
        wv_lock_acquire(&lock, WV_FOREVER);
        counter++;
        wv_lock_release(&lock);
    }
    return wv_queue_put(q, (void *)"done", WV_FOREVER);
}

int main(void)
{
    wv_queue_t *q;
    wv_thread_t *t;
    void *msg;
    int result;

    if (wv_queue_new(&q, NULL) || wv_thread_start(&t, NULL, work, q))
        return 1;
    if (wv_queue_get(q, &msg, wv_deadline_in(10000)) ||
        wv_thread_join(t, &result, WV_FOREVER) || result != 0)
        return 1;
    wv_thread_free(t);
    wv_queue_free(q);
    printf("consumer %s %s %ld\n", wv_version(), (char *)msg, counter);
    return strcmp(msg, "done") != 0 || counter != 1000;
}

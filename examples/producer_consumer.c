/*
 * A producer and a consumer over a bounded queue.Queue:
 *
 *     q = queue.Queue(maxsize=3)
 *
 *     def producer():
 *         for i in range(10):
 *             q.put(i)
 *             print('Produced', i)
 *         q.shutdown()             # Python 3.13: no more items
 *
 *     def consumer():
 *         while True:
 *             try:
 *                 item = q.get()
 *             except queue.ShutDown:
 *                 break
 *             print('Consumed', item)
 *             q.task_done()
 *
 *     threads = [threading.Thread(target=producer),
 *                threading.Thread(target=consumer)]
 *     for t in threads: t.start()
 *     for t in threads: t.join()
 *     q.join()
 *     print('All items processed.')
 *
 * With room for 3 items, the producer runs at most 3 ahead: put() waits
 * for the consumer.
 */
#include <weave.h>

#include <stdio.h>

static wv_queue_t *q;

static int producer(void *arg)
{
    for (intptr_t i = 0; i < 10; i++) {
        int err = wv_queue_put(q, (void *)i, WV_FOREVER);
        if (err)
            return err;
        printf("Produced %d\n", (int)i);
    }
    wv_queue_shutdown(q, false);
    return 0;
}

static int consumer(void *arg)
{
    void *item;

    while (wv_queue_get(q, &item, WV_FOREVER) == 0) {
        printf("Consumed %d\n", (int)(intptr_t)item);
        wv_queue_task_done(q);
    }
    return 0;
}

int main(void)
{
    wv_queue_opts_t opts = {.kind = WV_QUEUE_FIFO, .maxsize = 3};
    wv_thread_t *threads[2];
    int results[2] = {-1, -1};

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (wv_queue_new(&q, &opts) ||
        wv_thread_start(&threads[0], NULL, producer, NULL) ||
        wv_thread_start(&threads[1], NULL, consumer, NULL)) {
        fprintf(stderr, "cannot set up\n");
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        wv_thread_join(threads[i], &results[i], WV_FOREVER);
        wv_thread_free(threads[i]);
    }
    wv_queue_join(q, WV_FOREVER);
    printf("All items processed.\n");
    wv_queue_free(q);
    return results[0] || results[1];
}

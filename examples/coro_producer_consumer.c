/*
 * The tutorials' coroutine notes: a coroutine is a user-level thread with
 * its own registers and stack; switching saves one context and restores
 * another; the program, not the OS, decides when; to the CPU it is all
 * one thread.  The classic illustration, Python's generator-based
 * producer/consumer:
 *
 *     def consumer():
 *         r = ''
 *         while True:
 *             n = yield r
 *             if not n:
 *                 return
 *             print('[CONSUMER] Consuming %s...' % n)
 *             r = '200 OK'
 *
 *     def produce(c):
 *         c.send(None)
 *         for n in range(1, 6):
 *             print('[PRODUCER] Producing %s...' % n)
 *             r = c.send(n)
 *             print('[PRODUCER] Consumer return: %s' % r)
 *         c.close()
 *
 * Here the two are coroutines with stacks of their own, talking over two
 * unbuffered channels (a send completes only when the other side
 * receives: each hand-off is a switch), on the main thread only.
 */
#include <weave.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static wv_chan_t *work, *replies;
static pthread_t main_thread;

static void *consumer(void *arg)
{
    int n;
    (void)arg;
    /* Until the producer closes the channel: WV_EPIPE. */
    while (wv_chan_recv(work, &n, WV_FOREVER) == 0) {
        printf("[CONSUMER] Consuming %d... (same thread: %s)\n", n,
               pthread_equal(pthread_self(), main_thread) ? "yes" : "no");
        char r[16] = "200 OK";
        if (wv_chan_send(replies, r, WV_FOREVER) != 0)
            return (void *)1;
    }
    return NULL;
}

static void *producer(void *arg)
{
    (void)arg;
    for (int n = 1; n <= 5; n++) {
        char r[16];
        printf("[PRODUCER] Producing %d...\n", n);
        if (wv_chan_send(work, &n, WV_FOREVER) != 0 ||
            wv_chan_recv(replies, r, WV_FOREVER) != 0)
            return (void *)1;
        printf("[PRODUCER] Consumer return: %s\n", r);
    }
    wv_chan_close(work);
    return NULL;
}

int main(void)
{
    wv_coro_t *c, *p;
    void *rc = NULL, *rp = NULL;
    wv_coro_opts_t co = {.name = "consumer"}, po = {.name = "producer"};

    main_thread = pthread_self();
    if (wv_chan_new(&work, sizeof(int), 0) != 0 ||
        wv_chan_new(&replies, 16, 0) != 0 ||
        wv_coro_spawn(&c, &co, consumer, NULL) != 0 ||
        wv_coro_spawn(&p, &po, producer, NULL) != 0)
        return 1;
    int err = wv_coro_join(p, &rp, wv_deadline_in(10000));
    if (!err)
        err = wv_coro_join(c, &rc, wv_deadline_in(10000));
    wv_coro_free(p);
    wv_coro_free(c);
    wv_chan_free(work);
    wv_chan_free(replies);
    if (err || rc || rp) {
        fprintf(stderr, "failed: %s\n", err ? wv_strerror(err) : "a channel");
        return 1;
    }
    printf("both coroutines finished, on one thread\n");
    return 0;
}

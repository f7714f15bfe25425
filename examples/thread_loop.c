/*
 * The tutorials' first threading scene:
 *
 *     def loop():
 *         print('thread %s is running...' % threading.current_thread().name)
 *         n = 0
 *         while n < 5:
 *             n = n + 1
 *             print('thread %s >>> %s' % (threading.current_thread().name, n))
 *             time.sleep(1)
 *         print('thread %s ended.' % threading.current_thread().name)
 *
 *     print('thread %s is running...' % threading.current_thread().name)
 *     t = threading.Thread(target=loop, name='LoopThread')
 *     t.start()
 *     t.join()
 *     print('thread %s ended.' % threading.current_thread().name)
 *
 * (The sleeps are 0.1 s instead of 1 s.)
 */
#include <weave.h>

#include <stdio.h>

static const char *current_name(void)
{
    return wv_thread_name(wv_thread_current());
}

static int loop(void *arg)
{
    printf("thread %s is running...\n", current_name());
    for (int n = 1; n <= 5; n++) {
        printf("thread %s >>> %d\n", current_name(), n);
        wv_sleep_ms(100);
    }
    printf("thread %s ended.\n", current_name());
    return 0;
}

int main(void)
{
    wv_thread_t *t;
    wv_thread_opts_t opts = {.name = "LoopThread"};

    printf("thread %s is running...\n", current_name());
    int err = wv_thread_start(&t, &opts, loop, NULL);
    if (err) {
        fprintf(stderr, "cannot start the thread: %s\n", wv_strerror(err));
        return 1;
    }
    wv_thread_join(t, NULL, WV_FOREVER);
    wv_thread_free(t);
    printf("thread %s ended.\n", current_name());
    return 0;
}

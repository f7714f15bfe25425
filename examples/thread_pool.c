/*
 * The tutorials' Pool scene, with a pool of threads (ThreadPool):
 *
 *     def long_time_task(name):
 *         print('Run task %s (%s)...' % (name, os.getpid()))
 *         start = time.time()
 *         time.sleep(random.random() * 3)
 *         end = time.time()
 *         print('Task %s runs %0.2f seconds.' % (name, (end - start)))
 *
 *     p = Pool(4)
 *     for i in range(5):
 *         p.apply_async(long_time_task, args=(i,), callback=done)
 *     print('Waiting for all subprocesses done...')
 *     p.close()
 *     p.join()
 *     print('All subprocesses done.')
 *
 * Threads share one pid, so each task prints its worker's name instead.
 * Sleeps are scaled down to 0.05-0.3 s.  With 5 tasks on 4 workers, the
 * fifth starts when the first worker is free.  The callback (Python's
 * `callback=`) runs on the pool's handler thread, never on a worker, and
 * prints the value the task returned.
 */
#include <weave.h>

#include <stdio.h>
#include <stdlib.h>

static int long_time_task(wv_task_t *task, const void *arg, size_t len)
{
    int name = *(const int *)arg;
    printf("Run task %d (%s)...\n", name, wv_thread_name(wv_thread_current()));
    int64_t start = wv_now();
    wv_sleep_ms(50 + rand() % 250);
    double secs = (double)(wv_now() - start) / 1000;
    printf("Task %d runs %0.2f seconds.\n", name, secs);
    return wv_task_return(task, &secs, sizeof secs);
}

static void done(const void *result, size_t len, void *arg)
{
    double secs = *(const double *)result;
    printf("Callback: task %d returned %0.2f\n", (int)(intptr_t)arg, secs);
}

int main(void)
{
    wv_pool_opts_t opts = {.workers = 4, .name = "worker"};
    wv_pool_t *p;
    int err;

    setvbuf(stdout, NULL, _IOLBF, 0);
    srand((unsigned)wv_now());
    printf("Parent thread %s.\n", wv_thread_name(wv_thread_current()));
    if ((err = wv_pool_new(&p, &opts))) {
        fprintf(stderr, "pool: %s\n", wv_strerror(err));
        return 1;
    }
    for (int i = 0; i < 5; i++) {
        wv_task_opts_t o = {.callback = done, .cb_arg = (void *)(intptr_t)i};
        if ((err = wv_pool_apply_async(p, &o, long_time_task, &i, sizeof i, NULL))) {
            fprintf(stderr, "apply_async: %s\n", wv_strerror(err));
            return 1;
        }
    }
    printf("Waiting for all subprocesses done...\n");
    wv_pool_close(p);
    err = wv_pool_join(p, WV_FOREVER);
    wv_pool_free(p);
    printf("All subprocesses done.\n");
    return err ? 1 : 0;
}

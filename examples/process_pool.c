/*
 * The tutorials' Pool scene, with processes (multiprocessing.Pool):
 *
 *     def long_time_task(name):
 *         print('Run task %s (%s)...' % (name, os.getpid()))
 *         start = time.time()
 *         time.sleep(random.random() * 3)
 *         end = time.time()
 *         print('Task %s runs %0.2f seconds.' % (name, (end - start)))
 *         return "AAAA"
 *
 *     print('Parent process %s.' % os.getpid())
 *     p = Pool(4)
 *     for i in range(5):
 *         p.apply_async(long_time_task, args=(i,), callback=call_print)
 *     print('Waiting for all subprocesses done...')
 *     p.close()
 *     p.join()
 *     print('All subprocesses done.')
 *
 * Each task runs in one of four worker processes and prints its pid; its
 * return value (here the pid and the time it slept) crosses back as bytes
 * and the callback, in the parent, prints it.  Sleeps are scaled down to
 * 0.05-0.3 s.
 */
#include <weave.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct result {
    int pid;
    double secs;
};

static int long_time_task(wv_task_t *task, const void *arg, size_t len)
{
    int name = *(const int *)arg;
    printf("Run task %d (%d)...\n", name, (int)getpid());
    srand((unsigned)(getpid() ^ wv_now()));
    int64_t start = wv_now();
    wv_sleep_ms(50 + rand() % 250);
    struct result r = {getpid(), (double)(wv_now() - start) / 1000};
    printf("Task %d runs %0.2f seconds.\n", name, r.secs);
    return wv_task_return(task, &r, sizeof r);
}

static int pids[5], npids;

static void call_print(const void *result, size_t len, void *arg)
{
    const struct result *r = result;
    printf("Callback: task %d returned (%d, %0.2f)\n", (int)(intptr_t)arg,
           r->pid, r->secs);
    int i = 0;
    while (i < npids && pids[i] != r->pid)
        i++;
    if (i == npids)
        pids[npids++] = r->pid;
}

int main(void)
{
    wv_pool_opts_t opts = {.kind = WV_POOL_PROCESSES, .workers = 4};
    wv_pool_t *p;
    int err;

    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("Parent process %d.\n", (int)getpid());
    if ((err = wv_pool_new(&p, &opts))) {
        fprintf(stderr, "pool: %s\n", wv_strerror(err));
        return 1;
    }
    for (int i = 0; i < 5; i++) {
        wv_task_opts_t o = {.callback = call_print,
                            .cb_arg = (void *)(intptr_t)i};
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
    printf("The tasks ran in %d processes.\n", npids);
    return err ? 1 : 0;
}

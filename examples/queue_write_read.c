/*
 * The tutorials' Queue scene: one process writes, another reads.
 *
 *     def write(q):
 *         print('Process to write: %s' % os.getpid())
 *         for value in ['A', 'B', 'C']:
 *             print('Put %s to queue...' % value)
 *             q.put(value)
 *             time.sleep(random.random())
 *
 *     def read(q):
 *         print('Process to read: %s' % os.getpid())
 *         while True:
 *             value = q.get(True)
 *             print('Get %s from queue.' % value)
 *
 *     q = Queue()
 *     pw = Process(target=write, args=(q,))
 *     pr = Process(target=read, args=(q,))
 *     pw.start(); pr.start()
 *     pw.join()
 *     pr.terminate()     # the reader loops forever
 *
 * The queue lives in shared memory made before the fork, so both children
 * have it.  Killing the reader cannot damage it: a get that dies half way
 * leaves its message for the next reader (see wv_mpqueue_t).  Python's
 * version counts on its sleeps for the reader to have printed all three
 * before the terminate; here the queue is a JoinableQueue: the reader
 * calls task_done once it has printed a value, and the parent joins the
 * queue before terminating the reader.  The sleeps are scaled down to at
 * most 0.1 s.
 */
#include <weave.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static wv_mpqueue_t *q;

static int writer(void *arg)
{
    const char *values[] = {"A", "B", "C"};
    srand((unsigned)getpid());
    printf("Process to write: %d\n", getpid());
    for (int i = 0; i < 3; i++) {
        printf("Put %s to queue...\n", values[i]);
        fflush(stdout);
        if (wv_mpqueue_put(q, values[i], 1, WV_FOREVER))
            return 1;
        wv_sleep_ms(rand() % 100);
    }
    return 0;
}

static int reader(void *arg)
{
    char value[16];
    size_t len;

    printf("Process to read: %d\n", getpid());
    fflush(stdout);
    for (;;) {
        if (wv_mpqueue_get(q, value, sizeof value, &len, WV_FOREVER))
            return 1;
        printf("Get %.*s from queue.\n", (int)len, value);
        fflush(stdout);
        wv_mpqueue_task_done(q);
    }
}

int main(void)
{
    wv_process_t *pw, *pr;
    int code;

    if (wv_mpqueue_new(&q, &(wv_mpqueue_opts_t){.joinable = true}) ||
        wv_process_start(&pw, &(wv_process_opts_t){.name = "writer"}, writer,
                         NULL) ||
        wv_process_start(&pr, &(wv_process_opts_t){.name = "reader"}, reader,
                         NULL))
        return 1;
    if (wv_process_join(pw, &code, WV_FOREVER) || code != 0)
        return 1;
    if (wv_mpqueue_join(q, wv_deadline_in(10000))) /* all three printed */
        return 1;
    wv_process_terminate(pr);
    if (wv_process_join(pr, &code, wv_deadline_in(10000)))
        return 1;
    printf("reader terminated: exit code %d\n", code);
    wv_process_free(pw);
    wv_process_free(pr);
    wv_mpqueue_free(q);
    return 0;
}

/*
 * The tutorials' distributed processes, the worker (task_worker.py):
 *
 *     class QueueManager(BaseManager): pass
 *     QueueManager.register('get_task_queue')
 *     QueueManager.register('get_result_queue')
 *     m = QueueManager(address=(server_addr, 5000), authkey=b'abc')
 *     m.connect()
 *     task = m.get_task_queue()
 *     result = m.get_result_queue()
 *     for i in range(10):
 *         try:
 *             n = task.get(timeout=1)
 *             print('run task %d * %d...' % (n, n))
 *             r = '%d * %d = %d' % (n, n, n*n)
 *             time.sleep(1)
 *             result.put(r)
 *         except queue.Empty:
 *             print('task queue is empty.')
 *     print('worker exit.')
 *
 * It serves this example's task_master or the tutorial's task_master.py
 * alike: MGR_HOST (default 127.0.0.1), MGR_PORT (default 5000) and
 * WORKER_SLEEP (seconds per task, default 1) from the environment, as the
 * tutorial's pair takes them.
 */
#include <weave.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(int err, const char *what)
{
    if (err) {
        fprintf(stderr, "%s: %s\n", what, wv_strerror(err));
        exit(1);
    }
}

int main(void)
{
    const char *host = getenv("MGR_HOST");
    const char *port = getenv("MGR_PORT");
    const char *nap = getenv("WORKER_SLEEP");
    int64_t nap_ms = nap ? (int64_t)(atof(nap) * 1000) : 1000;
    wv_manager_opts_t o = {
        .host = host ? host : "127.0.0.1",
        .port = port ? (uint16_t)atoi(port) : 5000,
        .authkey = "abc",
        .authkey_len = 3,
    };
    printf("Connect to server %s...\n", o.host);
    wv_manager_t *m;
    check(wv_manager_connect(&m, &o, wv_deadline_in(10000)), "connect");
    wv_proxy_t *task, *result;
    check(wv_manager_proxy(m, "get_task_queue", &task, wv_deadline_in(10000)),
          "task queue");
    check(
        wv_manager_proxy(m, "get_result_queue", &result, wv_deadline_in(10000)),
        "result queue");
    for (int i = 0; i < 10; i++) {
        wv_obj_t *v;
        int err = wv_proxy_get(task, &v, wv_deadline_in(1000));
        if (err == WV_ETIMEDOUT) {
            printf("task queue is empty.\n");
            continue;
        }
        check(err, "get task");
        int64_t n;
        check(wv_obj_get_int(v, &n), "task is no int");
        wv_obj_free(v);
        printf("run task %lld * %lld...\n", (long long)n, (long long)n);
        fflush(stdout);
        char text[96];
        snprintf(text, sizeof text, "%lld * %lld = %lld", (long long)n,
                 (long long)n, (long long)(n * n));
        if (nap_ms > 0)
            wv_sleep_ms(nap_ms);
        wv_obj_t *r;
        check(wv_obj_new_str(&r, text, strlen(text)), "value");
        check(wv_proxy_put(result, r, wv_deadline_in(10000)), "put result");
        wv_obj_free(r);
    }
    wv_proxy_free(task);
    wv_proxy_free(result);
    wv_manager_free(m);
    printf("worker exit.\n");
    return 0;
}

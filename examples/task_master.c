/*
 * The tutorials' distributed processes, the master (task_master.py):
 *
 *     task_queue = queue.Queue()
 *     result_queue = queue.Queue()
 *     class QueueManager(BaseManager): pass
 *     QueueManager.register('get_task_queue', callable=lambda: task_queue)
 *     QueueManager.register('get_result_queue',
 *                           callable=lambda: result_queue)
 *     manager = QueueManager(address=('', 5000), authkey=b'abc')
 *     manager.start()
 *     task = manager.get_task_queue()
 *     result = manager.get_result_queue()
 *     for i in range(10):
 *         n = random.randint(0, 10000)
 *         print('Put task %d...' % n)
 *         task.put(n)
 *     print('Try get results...')
 *     for i in range(10):
 *         r = result.get(timeout=10)
 *         print('Result: %s' % r)
 *     manager.shutdown()
 *
 * The manager serves both queues on its own threads; the master's proxies
 * reach them directly.  Workers connect over TCP with the authkey: this
 * example's task_worker, or the tutorial's task_worker.py unchanged (the
 * wire is CPython's).
 *
 * With MGR_PORT set, it listens there (on MGR_HOST, default 127.0.0.1)
 * and waits for workers started by hand, as the tutorial does.  Without
 * it (make demo), it takes a free port and starts ./task_worker beside
 * itself as its worker.
 */
#include <weave.h>

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void check(int err, const char *what)
{
    if (err) {
        fprintf(stderr, "%s: %s\n", what, wv_strerror(err));
        exit(1);
    }
}

/* Starts the task_worker that sits beside this program, on port. */
static wv_popen_t *start_worker(uint16_t port)
{
    static char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 32);
    check(n < 0 ? WV_ENOENT : 0, "readlink /proc/self/exe");
    path[n] = '\0';
    char *dir = dirname(path);
    static char worker[4200], env[32];
    snprintf(worker, sizeof worker, "%s/task_worker", dir);
    snprintf(env, sizeof env, "MGR_PORT=%u", port);
    const char *argv[] = {worker, NULL};
    const char *envs[] = {env, "WORKER_SLEEP=0", NULL};
    wv_popen_opts_t o = {.argv = argv, .env_mode = WV_ENV_ADD, .env = envs};
    wv_popen_t *p;
    check(wv_popen_new(&p, &o), "start task_worker");
    return p;
}

int main(void)
{
    const char *port_env = getenv("MGR_PORT");
    const char *host = getenv("MGR_HOST");
    wv_manager_opts_t o = {
        .host = host ? host : "127.0.0.1",
        .port = port_env ? (uint16_t)atoi(port_env) : 0,
        .authkey = "abc",
        .authkey_len = 3,
    };
    wv_manager_t *manager;
    check(wv_manager_new(&manager, &o), "manager");
    check(wv_manager_register_queue(manager, "get_task_queue", 0), "register");
    check(wv_manager_register_queue(manager, "get_result_queue", 0),
          "register");
    check(wv_manager_start(manager), "start");
    wv_addr_t addr;
    check(wv_manager_addr(manager, &addr), "address");
    char where[WV_ADDR_STRLEN];
    wv_addr_format(&addr, where, sizeof where);
    printf("Serving on %s\n", where);
    fflush(stdout);

    wv_proxy_t *task, *result;
    check(wv_manager_proxy(manager, "get_task_queue", &task, WV_FOREVER),
          "task queue");
    check(wv_manager_proxy(manager, "get_result_queue", &result, WV_FOREVER),
          "result queue");
    srand(1);
    for (int i = 0; i < 10; i++) {
        int n = rand() % 10001;
        printf("Put task %d...\n", n);
        wv_obj_t *v;
        check(wv_obj_new_int(&v, n), "value");
        check(wv_proxy_put(task, v, WV_FOREVER), "put");
        wv_obj_free(v);
    }
    fflush(stdout);
    wv_popen_t *worker = port_env ? NULL : start_worker(wv_addr_port(&addr));

    printf("Try get results...\n");
    fflush(stdout);
    for (int i = 0; i < 10; i++) {
        wv_obj_t *r;
        check(wv_proxy_get(result, &r, wv_deadline_in(10000)), "get result");
        printf("Result: %s\n", r->kind == WV_OBJ_STR ? r->u.s.data : "?");
        wv_obj_free(r);
    }
    if (worker) {
        int code;
        check(wv_popen_wait(worker, &code, wv_deadline_in(10000)),
              "task_worker");
        check(code ? WV_ECALLEDPROCESS : 0, "task_worker's exit");
        wv_popen_free(worker);
    }
    wv_proxy_free(task);
    wv_proxy_free(result);
    check(wv_manager_shutdown(manager, wv_deadline_in(1000)), "shutdown");
    wv_manager_free(manager);
    printf("master exit.\n");
    return 0;
}

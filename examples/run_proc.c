/*
 * The tutorials' multiprocessing.Process scene:
 *
 *     def run_proc(name):
 *         print('Run child process %s (%s)...' % (name, os.getpid()))
 *
 *     print('Parent process %s.' % os.getpid())
 *     p = Process(target=run_proc, args=('test',))
 *     print('Child process will start.')
 *     p.start()
 *     p.join()
 *     print('Child process end.')
 */
#include <weave.h>

#include <stdio.h>
#include <unistd.h>

static int run_proc(void *arg)
{
    printf("Run child process %s (%d)...\n", (const char *)arg, getpid());
    return 0;
}

int main(void)
{
    wv_process_t *p;
    int code, err;

    printf("Parent process %d.\n", getpid());
    printf("Child process will start.\n");
    if ((err = wv_process_start(&p, NULL, run_proc, "test")) ||
        (err = wv_process_join(p, &code, WV_FOREVER))) {
        fprintf(stderr, "process: %s\n", wv_strerror(err));
        return 1;
    }
    wv_process_free(p);
    printf("Child process end.\n");
    return code;
}

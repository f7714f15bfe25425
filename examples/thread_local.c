/*
 * threading.local: each thread binds its own "student".
 *
 *     local_school = threading.local()
 *
 *     def process_student():
 *         std = local_school.student
 *         print('Hello, %s (in %s)' % (std, threading.current_thread().name))
 *
 *     def process_thread(name):
 *         local_school.student = name
 *         process_student()
 *
 *     t1 = threading.Thread(target=process_thread, args=('Alice',),
 *                           name='Thread-A')
 *     t2 = threading.Thread(target=process_thread, args=('Bob',),
 *                           name='Thread-B')
 *     t1.start(); t2.start(); t1.join(); t2.join()
 */
#include <weave.h>

#include <stdio.h>

static wv_local_t local_school_student = WV_LOCAL_INIT(NULL);

static void process_student(void)
{
    const char *std = wv_local_get(&local_school_student);
    printf("Hello, %s (in %s)\n", std, wv_thread_name(wv_thread_current()));
}

static int process_thread(void *name)
{
    int err = wv_local_set(&local_school_student, name);
    if (err)
        return err;
    process_student();
    return 0;
}

int main(void)
{
    wv_thread_t *t1, *t2;
    wv_thread_opts_t a = {.name = "Thread-A"}, b = {.name = "Thread-B"};
    int r1 = -1, r2 = -1;

    if (wv_thread_start(&t1, &a, process_thread, "Alice") ||
        wv_thread_start(&t2, &b, process_thread, "Bob")) {
        fprintf(stderr, "cannot start the threads\n");
        return 1;
    }
    wv_thread_join(t1, &r1, WV_FOREVER);
    wv_thread_join(t2, &r2, WV_FOREVER);
    wv_thread_free(t1);
    wv_thread_free(t2);
    wv_local_destroy(&local_school_student);
    return r1 || r2;
}

/*
 * tests/test_thread.c - threading.Thread.
 */
#include "core/internal.h"
#include "runner.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int return_42(void *arg)
{
    return 42;
}

WVT_TEST(thread_start_join_result)
{
    wv_thread_t *t;
    int result = 0;
    WVT_OK(wv_thread_start(&t, NULL, return_42, NULL));
    WVT_OK(wv_thread_join(t, &result, wv_deadline_in(10000)));
    WVT_EQ(result, 42);
    WVT_ASSERT(!wv_thread_is_alive(t));
    result = 0;
    WVT_OK(wv_thread_join(t, &result, WV_NOWAIT)); /* again: at once */
    WVT_EQ(result, 42);
    WVT_OK(wv_thread_join(t, NULL, WV_FOREVER));
    wv_thread_free(t);
    wv_thread_free(NULL);

    WVT_ERR(wv_thread_start(NULL, NULL, return_42, NULL), WV_EINVAL);
    WVT_ERR(wv_thread_start(&t, NULL, NULL, NULL), WV_EINVAL);
    WVT_ERR(wv_thread_join(NULL, NULL, WV_FOREVER), WV_EINVAL);
}

struct named {
    char name[64];
    char os_name[32];
    int native_id;
    int gettid_value;
    wv_thread_t *current;
};

static int record_identity(void *p)
{
    struct named *n = p;
    snprintf(n->name, sizeof n->name, "%s",
             wv_thread_name(wv_thread_current()));
    pthread_getname_np(pthread_self(), n->os_name, sizeof n->os_name);
    n->current = wv_thread_current();
    n->native_id = wv_thread_native_id(wv_thread_current());
    n->gettid_value = (int)gettid();
    return 0;
}

WVT_TEST(thread_names_and_ids)
{
    struct named n = {0};
    wv_thread_t *t;
    wv_thread_opts_t opts = {.name = "LoopThread-with-a-long-name"};

    WVT_OK(wv_thread_start(&t, &opts, record_identity, &n));
    WVT_OK(wv_thread_join(t, NULL, wv_deadline_in(10000)));
    WVT_ASSERT(strcmp(n.name, "LoopThread-with-a-long-name") == 0);
    WVT_ASSERT(strcmp(wv_thread_name(t), "LoopThread-with-a-long-name") == 0);
    /* the OS (debuggers, top -H) sees the first 15 bytes */
    WVT_ASSERT(strcmp(n.os_name, "LoopThread-with") == 0);
    WVT_ASSERT(n.current == t);
    WVT_EQ(n.native_id, n.gettid_value);
    WVT_EQ(wv_thread_native_id(t), n.gettid_value);
    wv_thread_free(t);

    /* default names: Thread-N, increasing */
    wv_thread_t *a, *b;
    WVT_OK(wv_thread_start(&a, NULL, return_42, NULL));
    WVT_OK(wv_thread_start(&b, NULL, return_42, NULL));
    int na = 0, nb = 0;
    WVT_EQ(sscanf(wv_thread_name(a), "Thread-%d", &na), 1);
    WVT_EQ(sscanf(wv_thread_name(b), "Thread-%d", &nb), 1);
    WVT_GT(nb, na);
    WVT_OK(wv_thread_join(a, NULL, WV_FOREVER));
    WVT_OK(wv_thread_join(b, NULL, WV_FOREVER));
    wv_thread_free(a);
    wv_thread_free(b);

    /* a name too long is cut at WV_THREAD_NAME_MAX bytes */
    char longname[200];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    opts.name = longname;
    WVT_OK(wv_thread_start(&t, &opts, return_42, NULL));
    WVT_EQ(strlen(wv_thread_name(t)), WV_THREAD_NAME_MAX);
    WVT_OK(wv_thread_join(t, NULL, WV_FOREVER));
    wv_thread_free(t);
}

WVT_TEST(thread_main_and_current)
{
    /* The case runs in the forked child's only thread: its main thread. */
    WVT_ASSERT(wv_thread_current() == wv_thread_main());
    WVT_ASSERT(strcmp(wv_thread_name(wv_thread_main()), "MainThread") == 0);
    WVT_ASSERT(wv_thread_is_alive(wv_thread_main()));
    WVT_EQ(wv_thread_native_id(wv_thread_main()), getpid());
    WVT_ERR(wv_thread_join(wv_thread_main(), NULL, WV_NOWAIT), WV_EINVAL);
    wv_thread_free(wv_thread_current()); /* ignored, as documented */
}

static void foreign_identity(void *p)
{
    struct named *n = p;
    pthread_setname_np(pthread_self(), "foreign-worker");
    wv_thread_t *me = wv_thread_current();
    snprintf(n->name, sizeof n->name, "%s", wv_thread_name(me));
    n->native_id = wv_thread_native_id(me);
    n->gettid_value = (int)gettid();
    WVT_ASSERT(me != wv_thread_main());
    WVT_ASSERT(wv_thread_current() == me);
    WVT_ERR(wv_thread_join(me, NULL, WV_NOWAIT), WV_EINVAL);
}

WVT_TEST(thread_foreign_current)
{
    struct named n = {0};
    wvt_thread_t *t = wvt_spawn(foreign_identity, &n);
    wvt_join(t);
    WVT_ASSERT(strcmp(n.name, "foreign-worker") == 0);
    WVT_EQ(n.native_id, n.gettid_value);
}

static int wait_event(void *p)
{
    return wv_event_wait(p, wv_deadline_in(10000)) == 0 ? 5 : -1;
}

static int join_self(void *p)
{
    return wv_thread_join(wv_thread_current(), NULL, WV_NOWAIT);
}

WVT_TEST(thread_join_deadline)
{
    wv_event_t e = WV_EVENT_INIT;
    wv_thread_t *t;
    int result = 0;
    WVT_OK(wv_thread_start(&t, NULL, wait_event, &e));
    WVT_ASSERT(wv_thread_is_alive(t));
    WVT_ERR(wv_thread_join(t, &result, WV_NOWAIT), WV_EAGAIN);
    int64_t deadline = wv_now() + 20;
    WVT_ERR(wv_thread_join(t, &result, deadline), WV_ETIMEDOUT);
    WVT_GE(wv_now(), deadline);
    WVT_ERR(wv_thread_join(t, &result, -3), WV_EINVAL);
    WVT_EQ(result, 0); /* untouched on error */
    wv_event_set(&e);
    WVT_OK(wv_thread_join(t, &result, wv_deadline_in(10000)));
    WVT_EQ(result, 5);
    wv_thread_free(t);

    WVT_OK(wv_thread_start(&t, NULL, join_self, NULL));
    WVT_OK(wv_thread_join(t, &result, WV_FOREVER));
    WVT_ERR(result, WV_EDEADLK);
    wv_thread_free(t);
}

WVT_TEST(thread_free_detaches)
{
    /* Freeing a running thread's handle detaches it: it finishes on its
     * own and releases everything (the runner checks no thread is left). */
    static wv_event_t e = WV_EVENT_INIT; /* outlives this frame */
    wv_thread_t *t;
    WVT_OK(wv_thread_start(&t, NULL, wait_event, &e));
    wv_thread_free(t);
    wv_event_set(&e);
}

static int count_up(void *p)
{
    __atomic_add_fetch((int *)p, 1, __ATOMIC_RELAXED);
    return 0;
}

WVT_TEST(thread_many)
{
    enum { N = 200 };
    wv_thread_t *ts[N];
    int counter = 0;
    for (int i = 0; i < N; i++)
        WVT_OK(wv_thread_start(&ts[i], NULL, count_up, &counter));
    for (int i = 0; i < N; i++) {
        WVT_OK(wv_thread_join(ts[i], NULL, wv_deadline_in(10000)));
        wv_thread_free(ts[i]);
    }
    WVT_EQ(counter, N);
}

static int never_runs(void *p)
{
    WVT_FAIL("a thread whose start failed must never run");
}

static int start_one(void *p)
{
    wv_thread_t *t;
    wv_thread_opts_t opts = {.name = "faulty"};
    int err = wv_thread_start(&t, &opts, p ? never_runs : return_42, NULL);
    if (err)
        return err;
    WVT_OK(wv_thread_join(t, NULL, WV_FOREVER));
    wv_thread_free(t);
    return 0;
}

WVT_TEST(thread_faultsim)
{
    WVT_GE(wvt_faultsim(start_one, NULL), 1);
}

WVT_TEST(thread_stack_size)
{
    wv_thread_t *t;
    wv_thread_opts_t opts = {.stack_size = 1}; /* below PTHREAD_STACK_MIN */
    WVT_ERR(wv_thread_start(&t, &opts, return_42, NULL), WV_EINVAL);
    opts.stack_size = 4u << 20;
    int result;
    WVT_OK(wv_thread_start(&t, &opts, return_42, NULL));
    WVT_OK(wv_thread_join(t, &result, WV_FOREVER));
    WVT_EQ(result, 42);
    wv_thread_free(t);
}

struct joiners {
    wv_thread_t *target;
    wv_event_t go;
    int results[4];
};

static void join_target(int i, void *p)
{
    struct joiners *j = p;
    WVT_OK(wv_thread_join(j->target, &j->results[i], wv_deadline_in(10000)));
}

static int wait_go(void *p)
{
    struct joiners *j = p;
    WVT_OK(wv_event_wait(&j->go, wv_deadline_in(10000)));
    return 9;
}

static void release_later(int i, void *p)
{
    struct joiners *j = p;
    if (i == 4) {
        WVT_POLL(wv__parked_count(&j->go) == 1, 5000);
        wv_event_set(&j->go);
        return;
    }
    join_target(i, p);
}

WVT_TEST(thread_several_joiners)
{
    struct joiners j = {.go = WV_EVENT_INIT};
    WVT_OK(wv_thread_start(&j.target, NULL, wait_go, &j));
    wvt_run_threads(5, release_later, &j);
    for (int i = 0; i < 4; i++)
        WVT_EQ(j.results[i], 9);
    wv_thread_free(j.target);
}

WVT_TEST(thread_join_deadline_zero_never_blocks)
{
    /* After the body is done, deadline 0 still does not wait for the
     * thread's exit: it reaps it or says WV_EAGAIN. */
    wv_thread_t *t;
    WVT_OK(wv_thread_start(&t, NULL, return_42, NULL));
    int result = 0, err;
    while ((err = wv_thread_join(t, &result, WV_NOWAIT)) == WV_EAGAIN)
        wvt_pause();
    WVT_OK(err);
    WVT_EQ(result, 42);
    wv_thread_free(t);
}

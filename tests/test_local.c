/*
 * tests/test_local.c - threading.local.
 */
#include "core/internal.h"
#include "runner.h"

#include <string.h>

static int dtor_calls;
static intptr_t dtor_sum;

static void count_dtor(void *value)
{
    __atomic_add_fetch(&dtor_calls, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&dtor_sum, (intptr_t)value, __ATOMIC_RELAXED);
}

static wv_local_t student = WV_LOCAL_INIT(NULL);

static void bind_student(int i, void *p)
{
    const char *names[] = {"Alice", "Bob", "Carol", "Dave"};
    WVT_ASSERT(wv_local_get(&student) == NULL);
    WVT_OK(wv_local_set(&student, (void *)names[i]));
    for (int n = 0; n < 1000; n++)
        WVT_ASSERT(wv_local_get(&student) == names[i]);
    WVT_OK(wv_local_set(&student, NULL));
    WVT_ASSERT(wv_local_get(&student) == NULL);
}

WVT_TEST(local_per_thread)
{
    wvt_run_threads(4, bind_student, NULL);
    WVT_ASSERT(wv_local_get(&student) == NULL);
    WVT_OK(wv_local_set(&student, (void *)"main"));
    WVT_ASSERT(strcmp(wv_local_get(&student), "main") == 0);
    WVT_OK(wv_local_set(&student, NULL));
    wv_local_destroy(&student);
}

static wv_local_t counted = WV_LOCAL_INIT(count_dtor);

static void set_and_exit(int i, void *p)
{
    WVT_OK(wv_local_set(&counted, (void *)(intptr_t)(i + 1)));
}

WVT_TEST(local_dtor_at_thread_exit)
{
    dtor_calls = 0;
    dtor_sum = 0;
    wvt_run_threads(5, set_and_exit, NULL);
    WVT_EQ(dtor_calls, 5);
    WVT_EQ(dtor_sum, 1 + 2 + 3 + 4 + 5);
    wv_local_destroy(&counted);
    WVT_EQ(dtor_calls, 5);
}

struct parked {
    wv_local_t *local;
    wv_barrier_t b;
    int index;
};

struct parked_arg {
    struct parked *pk;
    int i;
};

static void set_then_wait(void *p)
{
    struct parked_arg *a = p;
    WVT_OK(wv_local_set(a->pk->local, (void *)(intptr_t)(10 + a->i)));
    WVT_GE(wv_barrier_wait(&a->pk->b, wv_deadline_in(10000)), 0);
    /* main destroys the local now, running our value's destructor */
    WVT_GE(wv_barrier_wait(&a->pk->b, wv_deadline_in(10000)), 0);
    WVT_ASSERT(wv_local_get(a->pk->local) == NULL);
}

WVT_TEST(local_destroy_runs_every_dtor)
{
    wv_local_t l;
    struct parked pk = {.local = &l};
    struct parked_arg args[3];
    wvt_thread_t *ts[3];

    dtor_calls = 0;
    dtor_sum = 0;
    WVT_OK(wv_local_init(&l, count_dtor));
    WVT_OK(wv_barrier_init(&pk.b, 4, NULL, NULL));
    WVT_OK(wv_local_set(&l, (void *)(intptr_t)100));
    for (int i = 0; i < 3; i++) {
        args[i] = (struct parked_arg){&pk, i};
        ts[i] = wvt_spawn(set_then_wait, &args[i]);
    }
    WVT_GE(wv_barrier_wait(&pk.b, wv_deadline_in(10000)), 0);
    wv_local_destroy(&l); /* the threads are alive, holding values */
    WVT_EQ(dtor_calls, 4);
    WVT_EQ(dtor_sum, 100 + 10 + 11 + 12);
    WVT_GE(wv_barrier_wait(&pk.b, wv_deadline_in(10000)), 0);
    for (int i = 0; i < 3; i++)
        wvt_join(ts[i]);
    WVT_EQ(dtor_calls, 4); /* nothing left for the thread exits */
}

WVT_TEST(local_many_and_reuse)
{
    /* Far more locals than pthread keys (1024), and indices reused. */
    enum { N = 3000 };
    wv_local_t *ls = calloc(N, sizeof *ls);
    WVT_ASSERT(ls);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            WVT_OK(wv_local_init(&ls[i], NULL));
            WVT_ASSERT(wv_local_get(&ls[i]) == NULL); /* reused: clean */
            WVT_OK(wv_local_set(&ls[i], (void *)(intptr_t)(i + 1)));
        }
        for (int i = 0; i < N; i++)
            WVT_EQ((intptr_t)wv_local_get(&ls[i]), i + 1);
        for (int i = 0; i < N; i++)
            wv_local_destroy(&ls[i]);
    }
    free(ls);
}

static int resets;
static wv_local_t sticky;

static void sticky_dtor(void *value)
{
    /* a destructor that sets a value again, as pthreads allow */
    if (__atomic_add_fetch(&resets, 1, __ATOMIC_RELAXED) < 3)
        WVT_OK(wv_local_set(&sticky, value));
}

static void set_sticky(int i, void *p)
{
    WVT_OK(wv_local_set(&sticky, (void *)(intptr_t)1));
}

WVT_TEST(local_dtor_sets_again)
{
    WVT_OK(wv_local_init(&sticky, sticky_dtor));
    wvt_run_threads(1, set_sticky, NULL);
    WVT_EQ(resets, 3);
    wv_local_destroy(&sticky);
}

struct fresh {
    wv_local_t l;
    int err;
};

static void set_in_fresh_thread(int i, void *p)
{
    struct fresh *f = p;
    f->err = wv_local_init(&f->l, NULL);
    if (f->err)
        return;
    f->err = wv_local_set(&f->l, (void *)(intptr_t)5);
    if (!f->err)
        WVT_EQ((intptr_t)wv_local_get(&f->l), 5);
    else
        WVT_ASSERT(wv_local_get(&f->l) == NULL);
    wv_local_destroy(&f->l);
}

static int set_fresh_local(void *p)
{
    /* A fresh thread per attempt: its first value needs its storage, which
     * then lives until the thread exits (joined here), so every attempt
     * must end with nothing allocated. */
    wvt_run_threads(1, set_in_fresh_thread, p);
    return ((struct fresh *)p)->err;
}

WVT_TEST(local_faultsim)
{
    struct fresh f;
    /* The registry of indices lives as long as the process: size it
     * first, so that what the loop measures is the per-thread storage. */
    WVT_OK(wv_local_init(&f.l, NULL));
    wv_local_destroy(&f.l);
    WVT_GE(wvt_faultsim(set_fresh_local, &f), 2);
}

static int thread_sets_local(void *p)
{
    WVT_OK(wv_local_set(p, (void *)(intptr_t)7));
    return 0;
}

WVT_TEST(local_weave_thread_join_waits_for_dtors)
{
    wv_local_t l;
    wv_thread_t *t;
    dtor_calls = 0;
    dtor_sum = 0;
    WVT_OK(wv_local_init(&l, count_dtor));
    WVT_OK(wv_thread_start(&t, NULL, thread_sets_local, &l));
    WVT_OK(wv_thread_join(t, NULL, wv_deadline_in(10000)));
    WVT_EQ(dtor_calls, 1); /* ran before join returned */
    WVT_EQ(dtor_sum, 7);
    wv_thread_free(t);
    wv_local_destroy(&l);
}

static wv_event_t dtor_may_finish = WV_EVENT_INIT;

static void slow_dtor(void *value)
{
    WVT_OK(wv_event_wait(&dtor_may_finish, wv_deadline_in(20000)));
}

WVT_TEST(local_join_deadline_covers_dtors)
{
    /* A weave thread's local destructors run before it counts as done, so
     * a join deadline bounds them too. */
    static wv_local_t l = WV_LOCAL_INIT(slow_dtor);
    wv_thread_t *t;
    WVT_OK(wv_thread_start(&t, NULL, thread_sets_local, &l));
    WVT_ERR(wv_thread_join(t, NULL, wv_now() + 30), WV_ETIMEDOUT);
    WVT_ASSERT(wv_thread_is_alive(t));
    wv_event_set(&dtor_may_finish);
    WVT_OK(wv_thread_join(t, NULL, wv_deadline_in(10000)));
    wv_thread_free(t);
    wv_local_destroy(&l);
}

static wv_local_t first_local, second_local;
static char seen_in_dtor[64];
static intptr_t second_seen_in_dtor;

static void dtor_reads_others(void *value)
{
    /* pthreads let a destructor read the dying thread's other values;
     * so does weave, and the thread's own identity is still valid */
    second_seen_in_dtor = (intptr_t)wv_local_get(&second_local);
    snprintf(seen_in_dtor, sizeof seen_in_dtor, "%s",
             wv_thread_name(wv_thread_current()));
}

static int set_both(void *p)
{
    WVT_OK(wv_local_set(&first_local, (void *)(intptr_t)1));
    WVT_OK(wv_local_set(&second_local, (void *)(intptr_t)22));
    return 0;
}

WVT_TEST(local_dtor_sees_thread_state)
{
    WVT_OK(wv_local_init(&first_local, dtor_reads_others)); /* lower index */
    WVT_OK(wv_local_init(&second_local, NULL));
    wv_thread_t *t;
    wv_thread_opts_t opts = {.name = "dying"};
    WVT_OK(wv_thread_start(&t, &opts, set_both, NULL));
    WVT_OK(wv_thread_join(t, NULL, wv_deadline_in(10000)));
    wv_thread_free(t);
    WVT_EQ(second_seen_in_dtor, 22);
    WVT_ASSERT(strcmp(seen_in_dtor, "dying") == 0);
    wv_local_destroy(&first_local);
    wv_local_destroy(&second_local);
}

static int stubborn_calls;
static wv_local_t stubborn;

static void stubborn_dtor(void *value)
{
    /* sets its value again every time (a logger re-creating its buffer) */
    __atomic_add_fetch(&stubborn_calls, 1, __ATOMIC_RELAXED);
    wv_local_set(&stubborn, value);
}

static void set_stubborn(int i, void *p)
{
    WVT_OK(wv_local_set(&stubborn, (void *)(intptr_t)9));
}

WVT_TEST(local_dtor_rounds_are_bounded)
{
    /* At thread exit the destructors run at most 4 rounds, as pthreads
     * bound them; then what is left is dropped. */
    WVT_OK(wv_local_init(&stubborn, stubborn_dtor));
    stubborn_calls = 0;
    wvt_run_threads(1, set_stubborn, NULL);
    WVT_EQ(stubborn_calls, 4);

    /* destroy: a value set again by the destructor starts the local anew,
     * so destroy ends; the new value is then cleared and destroyed. */
    stubborn_calls = 0;
    WVT_OK(wv_local_set(&stubborn, (void *)(intptr_t)9));
    wv_local_destroy(&stubborn);
    WVT_EQ(stubborn_calls, 1);
    WVT_ASSERT(wv_local_get(&stubborn) == (void *)(intptr_t)9);
    WVT_OK(wv_local_set(&stubborn, NULL));
    wv_local_destroy(&stubborn);
    WVT_EQ(stubborn_calls, 1);
}

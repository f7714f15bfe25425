/*
 * tests/test_park.c - the parking lot and the waiter abstraction.
 *
 * The last cases install a second waiter kind, written here, on a thread,
 * and drive every blocking primitive through it: what the coroutine
 * scheduler will do.  The primitives must not notice.
 */
#include "core/internal.h"
#include "runner.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static int key_a, key_b;

WVT_TEST(park_timeout)
{
    wv__park_req_t req = {.key = &key_a, .deadline = wv_now() + 20};
    uintptr_t token = 99;
    int64_t t0 = wv_now();
    WVT_ERR(wv__park(&req, &token), WV_ETIMEDOUT);
    WVT_GE(wv_now(), t0 + 20);
    WVT_EQ(token, 99); /* untouched on time-out */
    WVT_EQ(wv__parked_count(&key_a), 0);

    req.deadline = 0; /* queued, then times out at once */
    WVT_ERR(wv__park(&req, &token), WV_ETIMEDOUT);
    WVT_EQ(wv__parked_count(&key_a), 0);
}

static bool refuse(void *arg)
{
    (*(int *)arg)++;
    return false;
}

WVT_TEST(park_validate_refuses)
{
    int calls = 0;
    wv__park_req_t req = {.key = &key_a,
                          .validate = refuse,
                          .arg = &calls,
                          .deadline = WV_FOREVER};
    uintptr_t token;
    WVT_ERR(wv__park(&req, &token), WV_EAGAIN);
    WVT_EQ(calls, 1);
    WVT_EQ(wv__parked_count(&key_a), 0);
}

struct fifo {
    int order[8];
    int next;      /* slots taken */
    int published; /* slots written (release) */
    uintptr_t tokens[8];
};

struct fifo_arg {
    struct fifo *f;
    int id;
};

static void park_and_record(void *p)
{
    struct fifo_arg *a = p;
    wv__park_req_t req = {.key = &key_b, .deadline = WV_FOREVER};
    uintptr_t token;
    WVT_OK(wv__park(&req, &token));
    int slot = __atomic_fetch_add(&a->f->next, 1, __ATOMIC_SEQ_CST);
    a->f->order[slot] = a->id;
    a->f->tokens[a->id] = token;
    __atomic_add_fetch(&a->f->published, 1, __ATOMIC_RELEASE);
}

static uintptr_t token_cb(void *arg, wv__unpark_result_t r)
{
    wv__unpark_result_t *out = arg;
    *out = r;
    return 1000 + r.unparked;
}

WVT_TEST(park_fifo_and_tokens)
{
    struct fifo f = {0};
    struct fifo_arg args[6];
    wvt_thread_t *ts[6];

    /* Park one thread at a time so the queue order is known. */
    for (int i = 0; i < 6; i++) {
        args[i] = (struct fifo_arg){&f, i};
        ts[i] = wvt_spawn(park_and_record, &args[i]);
        WVT_POLL(wv__parked_count(&key_b) == (unsigned)i + 1, 5000);
    }
    wv__unpark_result_t r;
    WVT_EQ(wv__unpark(&key_b, 1, token_cb, &r), 1);
    WVT_EQ(r.unparked, 1);
    WVT_ASSERT(r.have_more);
    WVT_POLL(__atomic_load_n(&f.published, __ATOMIC_ACQUIRE) == 1, 5000);
    WVT_EQ(f.order[0], 0);
    WVT_EQ(f.tokens[0], 1001);

    WVT_EQ(wv__unpark(&key_b, 2, token_cb, &r), 2);
    WVT_ASSERT(r.have_more);
    WVT_POLL(__atomic_load_n(&f.published, __ATOMIC_ACQUIRE) == 3, 5000);
    /* the two woken together are the two oldest, in some order */
    WVT_EQ(f.order[1] + f.order[2], 1 + 2);
    WVT_EQ(f.tokens[1], 1002);

    WVT_EQ(wv__unpark(&key_b, 100, token_cb, &r), 3);
    WVT_ASSERT(!r.have_more);
    for (int i = 0; i < 6; i++)
        wvt_join(ts[i]);
    WVT_EQ(f.next, 6);
    /* nobody left: the callback still runs, with nothing unparked */
    WVT_EQ(wv__unpark(&key_b, 1, token_cb, &r), 0);
    WVT_EQ(r.unparked, 0);
    WVT_ASSERT(!r.have_more);
}

/* Time-outs racing unparks: every unpark that reports a waiter must reach
 * one that returns 0, and a time-out must never eat a wake-up. */
struct race {
    int woken;
    int timed_out;
    int stop;
};

static void racer(void *p)
{
    struct race *r = p;
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        wv__park_req_t req = {.key = &key_a, .deadline = wv_now() + 1};
        uintptr_t token;
        int err = wv__park(&req, &token);
        if (err == 0) {
            WVT_EQ(token, 7);
            __atomic_add_fetch(&r->woken, 1, __ATOMIC_RELAXED);
        } else {
            WVT_ERR(err, WV_ETIMEDOUT);
            __atomic_add_fetch(&r->timed_out, 1, __ATOMIC_RELAXED);
        }
    }
}

static uintptr_t seven(void *arg, wv__unpark_result_t r)
{
    return 7;
}

WVT_TEST(park_timeout_unpark_race)
{
    struct race r = {0};
    wvt_thread_t *ts[3];
    long unparked = 0;

    for (int i = 0; i < 3; i++)
        ts[i] = wvt_spawn(racer, &r);
    int64_t end = wv_now() + (wvt_sanitized() ? 1500 : 800);
    while (wv_now() < end)
        unparked += wv__unpark(&key_a, 1, seven, NULL);
    /* Then the hard case, on purpose: each wake-up held 2 ms after its
     * dequeue, so the 1 ms deadlines expire in between and the waiters
     * must wait for their in-flight wake-up (and its token). */
    wv__fault_delay(0, 0, 2000);
    end = wv_now() + 300;
    while (wv_now() < end)
        unparked += wv__unpark(&key_a, 1, seven, NULL);
    wv__fault_delay(0, 0, 0);
    __atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 3; i++)
        wvt_join(ts[i]);
    WVT_EQ(unparked, r.woken);
    WVT_GT(r.woken, 0);
    WVT_EQ(wv__parked_count(&key_a), 0);
}

static void park_forever_b(void *p)
{
    wv__park_req_t req = {.key = &key_b, .deadline = WV_FOREVER};
    uintptr_t token;
    WVT_OK(wv__park(&req, &token));
}

WVT_TEST(park_eintr)
{
    /* Spurious futex returns (EINTR) must not end a wait early. */
    wv__fault_futex_eintr(1000);
    wvt_thread_t *t = wvt_spawn(park_forever_b, NULL);
    WVT_POLL(wv__parked_count(&key_b) == 1, 5000);
    WVT_EQ(wv__unpark(&key_b, 1, NULL, NULL), 1);
    wvt_join(t);
    wv__fault_futex_eintr(0);
}

static void on_sigusr1(int sig)
{
    (void)sig;
}

WVT_TEST(park_real_signals)
{
    /* Real EINTR: a handler installed without SA_RESTART, signals sent to
     * the parked thread while it waits.  It must stay parked. */
    struct sigaction sa = {.sa_handler = on_sigusr1};
    sigemptyset(&sa.sa_mask);
    WVT_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
    wvt_thread_t *t = wvt_spawn(park_forever_b, NULL);
    WVT_POLL(wv__parked_count(&key_b) == 1, 5000);
    for (int i = 0; i < 200; i++) {
        pthread_kill(wvt_pthread(t), SIGUSR1);
        if (i % 20 == 0)
            wvt_pause();
    }
    WVT_EQ(wv__parked_count(&key_b), 1);
    WVT_EQ(wv__unpark(&key_b, 1, NULL, NULL), 1);
    wvt_join(t);
    signal(SIGUSR1, SIG_DFL);
}

WVT_TEST(park_after_fork)
{
    /* A thread is parked when we fork: the child starts with an empty
     * parking lot, and its waits work. */
    wvt_thread_t *t = wvt_spawn(park_forever_b, NULL);
    WVT_POLL(wv__parked_count(&key_b) == 1, 5000);
    pid_t pid = fork();
    WVT_GE(pid, 0);
    if (pid == 0) {
        int ok = wv__parked_count(&key_b) == 0;
        wv__park_req_t req = {.key = &key_b, .deadline = wv_now() + 5};
        uintptr_t token;
        ok = ok && wv__park(&req, &token) == WV_ETIMEDOUT;
        ok = ok && wv__unpark(&key_b, 1, NULL, NULL) == 0;
        _exit(ok ? 0 : 1);
    }
    int status;
    WVT_EQ(waitpid(pid, &status, 0), pid);
    WVT_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    WVT_EQ(wv__unpark(&key_b, 1, NULL, NULL), 1);
    wvt_join(t);
}

/* ------------------------------------------------ a second waiter kind */

/*
 * A "green" waiter: sleeps on a pthread condition variable instead of a
 * futex, counts its sleeps and wakes, and can be cancelled, like a
 * coroutine.  Each party using it has its own green_party as ctx.
 */
struct green_party {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int sleeps;
    int wakes;
    bool cancel; /* [mu] next cancellable sleep returns WV_ECANCELED */
};

static int green_sleep(wv__waiter_t *w, int64_t deadline, unsigned flags)
{
    struct green_party *g = w->ctx;
    int err = 0;

    pthread_mutex_lock(&g->mu);
    g->sleeps++;
    while (w->state == 0) {
        if (g->cancel && !(flags & WV__PARK_NOCANCEL)) {
            g->cancel = false;
            err = WV_ECANCELED;
            break;
        }
        if (deadline >= 0 && wv_now() >= deadline) {
            err = WV_ETIMEDOUT;
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 1000000; /* re-check deadline and cancel each ms */
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    }
    pthread_mutex_unlock(&g->mu);
    return err;
}

static void green_wake(wv__waiter_t *w)
{
    struct green_party *g = w->ctx;
    pthread_mutex_lock(&g->mu);
    g->wakes++;
    w->state = 1;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static const wv__waiter_kind_t green_kind = {
    .name = "green",
    .sleep = green_sleep,
    .wake = green_wake,
};

struct green_test {
    struct green_party party;
    wv_lock_t lock;
    wv_cond_t cond;
    wv_event_t event;
    wv_sem_t sem;
    wv_queue_t *queue;
    wv_future_t *future;
    wv_barrier_t barrier;
    int step;       /* how far the green party got */
    bool ready;     /* [lock] predicate of the condition */
    int errors[16]; /* results of the cancelled calls */
};

static int step(struct green_test *g)
{
    return __atomic_load_n(&g->step, __ATOMIC_ACQUIRE);
}

static void next_step(struct green_test *g)
{
    __atomic_add_fetch(&g->step, 1, __ATOMIC_ACQ_REL);
}

static void green_main(void *p)
{
    struct green_test *g = p;
    void *item;
    const void *data;
    size_t len;

    wv__waiter_set_kind(&green_kind, &g->party);
    WVT_EQ(wv__waiter_kind(), &green_kind);
    WVT_EQ(wv__self(), (uintptr_t)&g->party);

    WVT_OK(wv_lock_acquire(&g->lock, WV_FOREVER)); /* main holds it */
    next_step(g);                                  /* 1 */
    while (!g->ready)
        WVT_OK(wv_cond_wait(&g->cond, &g->lock, WV_FOREVER));
    WVT_OK(wv_lock_release(&g->lock));
    next_step(g); /* 2 */
    WVT_OK(wv_event_wait(&g->event, WV_FOREVER));
    next_step(g); /* 3 */
    WVT_OK(wv_sem_acquire(&g->sem, WV_FOREVER));
    next_step(g); /* 4 */
    WVT_OK(wv_queue_get(g->queue, &item, WV_FOREVER));
    WVT_EQ((intptr_t)item, 42);
    next_step(g); /* 5 */
    WVT_OK(wv_future_get(g->future, &data, &len, WV_FOREVER));
    WVT_EQ(*(const int *)data, 7);
    next_step(g); /* 6 */
    WVT_ERR(wv_barrier_wait(&g->barrier, WV_FOREVER), 0);
    next_step(g); /* 7 */
    WVT_OK(wv_sleep_ms(2));
    wv__waiter_set_kind(&wv__thread_waiter, NULL);
}

WVT_TEST(waiter_second_kind)
{
    struct green_test g = {0};
    int value = 7;

    pthread_mutex_init(&g.party.mu, NULL);
    pthread_cond_init(&g.party.cv, NULL);
    WVT_OK(wv_queue_new(&g.queue, NULL));
    WVT_OK(wv_future_new(&g.future));
    WVT_OK(wv_barrier_init(&g.barrier, 2, NULL, NULL));
    WVT_OK(wv_lock_acquire(&g.lock, WV_FOREVER));

    wvt_thread_t *t = wvt_spawn(green_main, &g);
    /* Each blocking call parks the green party (through its kind) until
     * this plain thread wakes it. */
    WVT_POLL(wv__parked_count(&g.lock) == 1, 5000);
    WVT_OK(wv_lock_release(&g.lock));
    WVT_POLL(step(&g) == 1, 5000);
    WVT_POLL(wv__parked_count(&g.cond) == 1, 5000);
    WVT_OK(wv_lock_acquire(&g.lock, WV_FOREVER));
    g.ready = true;
    WVT_EQ(wv_cond_notify(&g.cond, 1), 1);
    WVT_OK(wv_lock_release(&g.lock));
    WVT_POLL(step(&g) == 2, 5000);
    WVT_POLL(wv__parked_count(&g.event) == 1, 5000);
    WVT_EQ(wv_event_set(&g.event), 1);
    WVT_POLL(step(&g) == 3, 5000);
    WVT_POLL(wv__parked_count(&g.sem) == 1, 5000);
    WVT_OK(wv_sem_release(&g.sem, 1));
    WVT_POLL(step(&g) == 4, 5000);
    WVT_OK(wv_sleep_ms(1));
    WVT_OK(wv_queue_put(g.queue, (void *)(intptr_t)42, WV_FOREVER));
    WVT_POLL(step(&g) == 5, 5000);
    WVT_POLL(wv__parked_count(g.future) == 1, 5000);
    WVT_OK(wv_future_set_result(g.future, &value, sizeof value));
    WVT_POLL(step(&g) == 6, 5000);
    /* The green party arrives first (index 0) and parks on the
     * barrier's condition; this thread is the last (index 1).  Without
     * the poll, step 6 is set before the green party's arrival and this
     * thread could arrive first (TSan's timing did). */
    WVT_POLL(wv__parked_count(&g.barrier._cond) == 1, 5000);
    WVT_EQ(wv_barrier_wait(&g.barrier, WV_FOREVER), 1);
    wvt_join(t);

    WVT_EQ(step(&g), 7);
    /* lock, cond, event, sem, future, sleep at least; the queue get and
     * the barrier may or may not have had to wait. */
    WVT_GE(g.party.sleeps, 6);
    WVT_GE(g.party.wakes, 5);
    wv_queue_free(g.queue);
    wv_future_unref(g.future);
    pthread_cond_destroy(&g.party.cv);
    pthread_mutex_destroy(&g.party.mu);
}

static int sleeps_so_far(struct green_test *g)
{
    pthread_mutex_lock(&g->party.mu);
    int n = g->party.sleeps;
    pthread_mutex_unlock(&g->party.mu);
    return n;
}

static void cancel_party(struct green_test *g)
{
    pthread_mutex_lock(&g->party.mu);
    g->party.cancel = true;
    pthread_cond_signal(&g->party.cv);
    pthread_mutex_unlock(&g->party.mu);
}

static void green_cancelled(void *p)
{
    struct green_test *g = p;
    void *item;
    int i = 0;

    wv__waiter_set_kind(&green_kind, &g->party);
    /* Each call blocks, is cancelled by the main thread, and returns
     * WV_ECANCELED; a condition wait still returns with the lock held. */
    g->errors[i++] = wv_lock_acquire(&g->lock, WV_FOREVER);
    next_step(g);
    g->errors[i++] = wv_event_wait(&g->event, WV_FOREVER);
    next_step(g);
    g->errors[i++] = wv_queue_get(g->queue, &item, WV_FOREVER);
    next_step(g);
    g->errors[i++] = wv_future_wait(g->future, WV_FOREVER);
    next_step(g);
    g->errors[i++] = wv_sleep_ms(60000);
    next_step(g);
    WVT_OK(wv_lock_acquire(&g->lock, WV_FOREVER)); /* main releases it */
    next_step(g);
    g->errors[i++] = wv_cond_wait(&g->cond, &g->lock, WV_FOREVER);
    WVT_ASSERT(wv_lock_is_locked(&g->lock)); /* re-taken despite the cancel */
    WVT_OK(wv_lock_release(&g->lock));
    next_step(g);
    wv__waiter_set_kind(&wv__thread_waiter, NULL);
}

WVT_TEST(waiter_cancellation)
{
    struct green_test g = {0};

    pthread_mutex_init(&g.party.mu, NULL);
    pthread_cond_init(&g.party.cv, NULL);
    WVT_OK(wv_queue_new(&g.queue, NULL));
    WVT_OK(wv_future_new(&g.future));
    WVT_OK(wv_lock_acquire(&g.lock, WV_FOREVER));

    wvt_thread_t *t = wvt_spawn(green_cancelled, &g);
    const void *keys[] = {&g.lock, &g.event, NULL, g.future, NULL};
    for (int s = 0; s < 5; s++) {
        if (keys[s])
            WVT_POLL(wv__parked_count(keys[s]) == 1, 5000);
        else
            WVT_POLL(sleeps_so_far(&g) > s, 5000);
        cancel_party(&g);
        WVT_POLL(step(&g) == s + 1, 5000);
        if (keys[s])
            WVT_EQ(wv__parked_count(keys[s]), 0);
    }
    WVT_OK(wv_lock_release(&g.lock));
    WVT_POLL(step(&g) == 6, 5000);
    WVT_POLL(wv__parked_count(&g.cond) == 1, 5000);
    cancel_party(&g);
    wvt_join(t);
    for (int i = 0; i < 6; i++)
        WVT_ERR(g.errors[i], WV_ECANCELED);
    WVT_ASSERT(!wv_lock_is_locked(&g.lock));
    /* The primitives are intact: they still work. */
    WVT_OK(wv_lock_acquire(&g.lock, 0));
    WVT_OK(wv_lock_release(&g.lock));
    WVT_EQ(wv_event_set(&g.event), 0);
    wv_queue_free(g.queue);
    wv_future_unref(g.future);
    pthread_cond_destroy(&g.party.cv);
    pthread_mutex_destroy(&g.party.mu);
}

WVT_TEST(park_word_only_on_a_word_worth_waiting)
{
    /* wv__park_word must not set its bit on a word it would not wait on:
     * the bit would stick (a once that is DONE would look busy forever). */
    uint32_t word = 2; /* say, DONE */
    wv__word_wait_t w = {.key = &word,
                         .word = &word,
                         .bit = 4,
                         .mask = ~0u,
                         .expect = 1 | 4,
                         .deadline = WV_FOREVER};
    uintptr_t token;
    WVT_ERR(wv__park_word(&w, &token), WV_EAGAIN);
    WVT_EQ(word, 2); /* untouched */
    word = 1;        /* RUNNING: worth waiting on, with a deadline */
    w.deadline = wv_now() + 5;
    WVT_ERR(wv__park_word(&w, &token), WV_ETIMEDOUT);
    WVT_EQ(word, 1); /* the last waiter to give up cleared the bit */
}

/*
 * tests/test_pshared_coro.c - the process-shared primitives (Lock, RLock,
 * Semaphore, Event, Condition, Barrier, the shared-memory Queue's get,
 * put and join) wait in a coroutine by parking only the coroutine
 * (DESIGN.md principle 3; docs/waiting.md, "Shared futex words").
 *
 * Every case has the same shape: coroutine A blocks on the primitive;
 * coroutine B, of the same thread, waits until A is inside its call,
 * then yields 100 times and completes a channel round trip with a third
 * coroutine, all while A has not returned: a wait that blocked the
 * thread would let B run only after A returned (then B sees A done and
 * the case fails), or never (then A's 10 s deadline ends it, and the
 * case fails on A's result).  Then, per case:
 *   woken_by_process  B tells a forked child (a pipe), which releases A;
 *   woken_by_thread   the same with another thread of this process;
 *   deadline          A's deadline (100 ms; 1 s in sanitizer builds)
 *                     passes: WV_ETIMEDOUT;
 *   cancel            B cancels A: WV_ECANCELED.
 * Plus: a plock whose holder process dies (WV_EOWNERDEAD), the ownership
 * of a plock between coroutines of one thread, and wake-ups racing
 * cancels (no unit of a Semaphore lost in a helper), and a helper that
 * goes on after its coroutine returned and the word was unmapped.
 * Ordering is by pipes and flags, never by sleeps.
 */
#include "coro/internal.h"
#include "proc/internal.h"
#include "runner.h"

#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

struct shared {
    wv_plock_t lock;
    wv_plock_t rlock;
    wv_psem_t sem;
    wv_pevent_t ev;
    wv_pcond_t cond;
    int flag;
    wv_pbarrier_t bar;
};

static wv_shm_t *shm;
static struct shared *S;
static wv_mpqueue_t *Q;

/* A wrong outcome that no weave call returns. */
#define BAD (-9999)

/* How a primitive is made to block, blocked on, and released. */
struct prim {
    void (*setup)(void);    /* in the test, first */
    void (*hold)(void);     /* in the waker, before it reports ready */
    int (*block)(int64_t);  /* coroutine A's call; 0 when it got it */
    void (*wake)(void);     /* the waker's release */
    void (*teardown)(void); /* in the test, last */
};

/* -------------------------------------------------------- Lock, RLock */

static void lock_setup(void)
{
    WVT_OK(wv_plock_init(&S->lock, false));
}

static void lock_hold(void)
{
    WVT_OK(wv_plock_acquire(&S->lock, WV_FOREVER));
}

static int lock_block(int64_t deadline)
{
    int err = wv_plock_acquire(&S->lock, deadline);
    if (err)
        return err;
    return wv_plock_release(&S->lock) ? BAD : 0;
}

static void lock_wake(void)
{
    WVT_OK(wv_plock_release(&S->lock));
}

static void lock_teardown(void)
{
    wv_plock_destroy(&S->lock);
}

static const struct prim plock = {lock_setup, lock_hold, lock_block, lock_wake,
                                  lock_teardown};

static void rlock_setup(void)
{
    WVT_OK(wv_plock_init(&S->rlock, true));
}

static void rlock_hold(void)
{
    WVT_OK(wv_plock_acquire(&S->rlock, WV_FOREVER));
    WVT_OK(wv_plock_acquire(&S->rlock, WV_FOREVER));
}

static int rlock_block(int64_t deadline)
{
    int err = wv_plock_acquire(&S->rlock, deadline);
    if (err)
        return err;
    if (wv_plock_acquire(&S->rlock, 0) || wv_plock_release(&S->rlock) ||
        wv_plock_release(&S->rlock) || wv_plock_release(&S->rlock) != WV_EPERM)
        return BAD;
    return 0;
}

static void rlock_wake(void)
{
    WVT_OK(wv_plock_release(&S->rlock));
    WVT_OK(wv_plock_release(&S->rlock));
}

static void rlock_teardown(void)
{
    wv_plock_destroy(&S->rlock);
}

static const struct prim prlock = {rlock_setup, rlock_hold, rlock_block,
                                   rlock_wake, rlock_teardown};

/* ---------------------------------------------------- Semaphore, Event */

static void sem_setup(void)
{
    WVT_OK(wv_psem_init(&S->sem, 0));
}

static int sem_block(int64_t deadline)
{
    int err = wv_psem_acquire(&S->sem, deadline);
    return err ? err : wv_psem_value(&S->sem) == 0 ? 0 : BAD;
}

static void sem_wake(void)
{
    WVT_OK(wv_psem_release(&S->sem, 1));
}

static void nothing(void)
{
}

static const struct prim psem = {sem_setup, NULL, sem_block, sem_wake, nothing};

static void event_setup(void)
{
    wv_pevent_init(&S->ev);
}

static int event_block(int64_t deadline)
{
    return wv_pevent_wait(&S->ev, deadline);
}

static void event_wake(void)
{
    wv_pevent_set(&S->ev);
}

static const struct prim pevent = {event_setup, NULL, event_block, event_wake,
                                   nothing};

/* ------------------------------------------------- Condition, Barrier */

static void cond_setup(void)
{
    WVT_OK(wv_plock_init(&S->lock, false));
    WVT_OK(wv_pcond_init(&S->cond));
    S->flag = 0;
}

/* Returns the wait's result; BAD unless the lock is held after it. */
static int cond_block(int64_t deadline)
{
    int err = wv_plock_acquire(&S->lock, WV_FOREVER);
    if (err)
        return BAD;
    while (!S->flag && !err)
        err = wv_pcond_wait(&S->cond, &S->lock, deadline);
    if (wv_plock_release(&S->lock))
        return BAD;
    return err;
}

static void cond_wake(void)
{
    WVT_OK(wv_plock_acquire(&S->lock, WV_FOREVER));
    S->flag = 1;
    WVT_OK(wv_pcond_notify_all(&S->cond));
    WVT_OK(wv_plock_release(&S->lock));
}

static void cond_teardown(void)
{
    wv_pcond_destroy(&S->cond);
    wv_plock_destroy(&S->lock);
}

static const struct prim pcond = {cond_setup, NULL, cond_block, cond_wake,
                                  cond_teardown};

static void bar_setup(void)
{
    WVT_OK(wv_pbarrier_init(&S->bar, 2));
}

static int bar_block(int64_t deadline)
{
    int i = wv_pbarrier_wait(&S->bar, deadline);
    return i < 0 ? i : 0;
}

static void bar_wake(void)
{
    /* After A's deadline or cancel the barrier is broken: EBROKEN. */
    int i = wv_pbarrier_wait(&S->bar, WV_FOREVER);
    WVT_ASSERT(i >= 0 || i == WV_EBROKEN);
}

static void bar_teardown(void)
{
    wv_pbarrier_destroy(&S->bar);
}

static const struct prim pbarrier = {bar_setup, NULL, bar_block, bar_wake,
                                     bar_teardown};

/* -------------------------------------------------------------- Queue */

static void queue_new(size_t maxsize, bool joinable)
{
    wv_mpqueue_opts_t o = {.maxsize = maxsize, .joinable = joinable};
    WVT_OK(wv_mpqueue_new(&Q, &o));
}

static void queue_free(void)
{
    wv_mpqueue_free(Q);
    Q = NULL;
}

static void get_setup(void)
{
    queue_new(4, false);
}

static int get_block(int64_t deadline)
{
    char buf[16];
    size_t n = 0;
    int err = wv_mpqueue_get(Q, buf, sizeof buf, &n, deadline);
    if (err)
        return err;
    return n == 5 && memcmp(buf, "hello", 5) == 0 ? 0 : BAD;
}

static void get_wake(void)
{
    WVT_OK(wv_mpqueue_put(Q, "hello", 5, WV_FOREVER));
}

static const struct prim pq_get = {get_setup, NULL, get_block, get_wake,
                                   queue_free};

static void put_setup(void)
{
    queue_new(1, false);
    WVT_OK(wv_mpqueue_put(Q, "x", 1, 0)); /* full */
}

static int put_block(int64_t deadline)
{
    return wv_mpqueue_put(Q, "hello", 5, deadline);
}

static void take_one(void)
{
    char buf[16];
    size_t n;
    WVT_OK(wv_mpqueue_get(Q, buf, sizeof buf, &n, WV_FOREVER));
}

static const struct prim pq_put = {put_setup, NULL, put_block, take_one,
                                   queue_free};

static void join_setup(void)
{
    queue_new(4, true);
    WVT_OK(wv_mpqueue_put(Q, "x", 1, 0)); /* one task unfinished */
}

static int join_block(int64_t deadline)
{
    return wv_mpqueue_join(Q, deadline);
}

static void join_wake(void)
{
    take_one();
    WVT_OK(wv_mpqueue_task_done(Q));
}

static const struct prim pq_join = {join_setup, NULL, join_block, join_wake,
                                    queue_free};

/* ------------------------------------------------------------ harness */

enum { WAKE_PROCESS, WAKE_THREAD, DEADLINE, CANCEL };

static const struct prim *P;
static int ready_fd[2], go_fd[2];

static void waker_body(void)
{
    char c = 'r';
    if (P->hold)
        P->hold();
    WVT_EQ(write(ready_fd[1], &c, 1), 1);
    WVT_EQ(read(go_fd[0], &c, 1), 1);
    P->wake();
}

static int waker_process(void *arg)
{
    (void)arg;
    waker_body();
    if (Q)
        wv_mpqueue_free(Q); /* its copy: gives back its participant slot */
    return 0;
}

static void waker_thread(void *arg)
{
    (void)arg;
    waker_body();
}

static void go(void)
{
    char c = 'g';
    WVT_EQ(write(go_fd[1], &c, 1), 1);
}

struct run {
    int mode;
    int64_t deadline;
    wv_coro_t *a;
    wv_chan_t *ch;
    int result;      /* A's */
    bool entered;    /* A is inside its blocking call */
    bool done;       /* A returned */
    int ticks;       /* B's yields while A had not returned */
    bool round_trip; /* B's channel round trip, A not returned */
};

static void *coro_a(void *arg)
{
    struct run *r = arg;
    r->entered = true;
    r->result = P->block(r->deadline);
    r->done = true;
    return NULL;
}

static void *coro_b(void *arg)
{
    struct run *r = arg;
    while (!r->entered)
        wv_coro_yield();
    for (int i = 0; i < 100 && !r->done; i++) {
        wv_coro_yield();
        r->ticks += !r->done;
    }
    int v = 41;
    if (wv_chan_send(r->ch, &v, WV_FOREVER) == 0 &&
        wv_chan_recv(r->ch, &v, WV_FOREVER) == 0)
        r->round_trip = v == 42 && !r->done;
    if (r->mode == CANCEL)
        wv_coro_cancel(r->a);
    else if (r->mode == WAKE_PROCESS || r->mode == WAKE_THREAD)
        go();
    return NULL;
}

static void *coro_c(void *arg)
{
    struct run *r = arg;
    int v;
    if (wv_chan_recv(r->ch, &v, WV_FOREVER) == 0) {
        v++;
        wv_chan_send(r->ch, &v, WV_FOREVER);
    }
    return NULL;
}

static void run(const struct prim *p, int mode)
{
    P = p;
    WVT_OK(wv_shm_anon(&shm, sizeof *S));
    S = wv_shm_addr(shm);
    p->setup();
    WVT_EQ(pipe2(ready_fd, O_CLOEXEC), 0);
    WVT_EQ(pipe2(go_fd, O_CLOEXEC), 0);

    /* The waker is forked before this thread has a scheduler. */
    wv_process_t *proc = NULL;
    wvt_thread_t *th = NULL;
    if (mode == WAKE_PROCESS)
        WVT_OK(wv_process_start(&proc, NULL, waker_process, NULL));
    else
        th = wvt_spawn(waker_thread, NULL);
    char c;
    WVT_EQ(read(ready_fd[0], &c, 1), 1);

    struct run r = {.mode = mode};
    /* Long enough for B's 100 yields and round trip (sanitizers are
     * slow), which must happen while A is parked. */
    int64_t wait_ms = wvt_sanitized() ? 1000 : 100;
    WVT_OK(wv_chan_new(&r.ch, sizeof(int), 0));
    int64_t t0 = wv_now();
    r.deadline = t0 + (mode == DEADLINE ? wait_ms : 10000);
    WVT_OK(wv_coro_spawn(&r.a, NULL, coro_a, &r));
    WVT_OK(wv_go(coro_b, &r));
    WVT_OK(wv_go(coro_c, &r));
    WVT_OK(wv_coro_run(WV_FOREVER));
    int64_t took = wv_now() - t0;

    if (mode != WAKE_PROCESS && mode != WAKE_THREAD)
        go(); /* the waker releases what it held, and ends */
    if (proc) {
        int code = -1;
        WVT_OK(wv_process_join(proc, &code, WV_FOREVER));
        wv_process_free(proc);
        WVT_EQ(code, 0);
    } else {
        wvt_join(th);
    }
    WVT_OK(wv_coro_run(WV_FOREVER)); /* gives the join's epoll set back */

    /* The thread ran B and C while A was parked. */
    WVT_EQ(r.ticks, 100);
    WVT_ASSERT(r.round_trip);
    switch (mode) {
    case DEADLINE:
        WVT_ERR(r.result, WV_ETIMEDOUT);
        WVT_GE(took, wait_ms);
        break;
    case CANCEL:
        WVT_ERR(r.result, WV_ECANCELED);
        WVT_ASSERT(wv_coro_is_cancelled(r.a));
        break;
    default:
        WVT_OK(r.result);
    }
    wv_coro_free(r.a);
    wv_chan_free(r.ch);
    close(ready_fd[0]);
    close(ready_fd[1]);
    close(go_fd[0]);
    close(go_fd[1]);
    p->teardown();
    wv_shm_free(shm);
    wv__word_wait_drain(); /* the helper threads, for the thread count */
}

#define PRIM_TESTS(p)                                                          \
    WVT_TEST(pshared_coro_##p##_woken_by_process)                              \
    {                                                                          \
        run(&p, WAKE_PROCESS);                                                 \
    }                                                                          \
    WVT_TEST(pshared_coro_##p##_woken_by_thread)                               \
    {                                                                          \
        run(&p, WAKE_THREAD);                                                  \
    }                                                                          \
    WVT_TEST(pshared_coro_##p##_deadline)                                      \
    {                                                                          \
        run(&p, DEADLINE);                                                     \
    }                                                                          \
    WVT_TEST(pshared_coro_##p##_cancel)                                        \
    {                                                                          \
        run(&p, CANCEL);                                                       \
    }

PRIM_TESTS(plock)
PRIM_TESTS(prlock)
PRIM_TESTS(psem)
PRIM_TESTS(pevent)
PRIM_TESTS(pcond)
PRIM_TESTS(pbarrier)
PRIM_TESTS(pq_get)
PRIM_TESTS(pq_put)
PRIM_TESTS(pq_join)

/* The holder process dies holding the lock: the kernel marks it
 * (robust list) and wakes the parked coroutine's helper. */
static int dead_block(int64_t deadline)
{
    int err = wv_plock_acquire(&S->lock, deadline);
    if (err != WV_EOWNERDEAD)
        return err ? err : BAD;
    if (wv_plock_consistent(&S->lock) || wv_plock_release(&S->lock))
        return BAD;
    return 0;
}

static void die(void)
{
    _exit(0); /* holding the lock */
}

static const struct prim plock_dead = {lock_setup, lock_hold, dead_block, die,
                                       lock_teardown};

WVT_TEST(pshared_coro_plock_owner_dies_eownerdead)
{
    run(&plock_dead, WAKE_PROCESS);
}

/* ------------------------------------ a plock between sibling coroutines */

struct sib {
    wv_plock_t *l;
    bool held;     /* X holds the lock */
    bool released; /* X is about to release it */
    bool entered;  /* A is inside its acquire */
    int result;    /* A's acquire */
    bool saw_released;
    int foreign_release; /* A's release of X's lock */
};

static void *sib_x(void *arg)
{
    struct sib *s = arg;
    if (wv_plock_acquire(s->l, WV_FOREVER))
        return NULL;
    s->held = true;
    while (!s->entered)
        wv_coro_yield();
    for (int i = 0; i < 10; i++)
        wv_coro_yield(); /* A stays parked meanwhile */
    s->released = true;
    wv_plock_release(s->l);
    return NULL;
}

static void *sib_a(void *arg)
{
    struct sib *s = arg;
    while (!s->held)
        wv_coro_yield();
    s->foreign_release = wv_plock_release(s->l);
    s->entered = true;
    s->result = wv_plock_acquire(s->l, wv_deadline_in(10000));
    s->saw_released = s->released;
    if (!s->result)
        wv_plock_release(s->l);
    return NULL;
}

/* Two coroutines of one thread are two parties: A waits for X (neither
 * EDEADLK nor a recursive acquisition), and cannot release X's lock. */
static void sibling(bool recursive)
{
    WVT_OK(wv_shm_anon(&shm, sizeof *S));
    S = wv_shm_addr(shm);
    struct sib s = {.l = &S->lock};
    WVT_OK(wv_plock_init(s.l, recursive));
    WVT_OK(wv_go(sib_x, &s));
    WVT_OK(wv_go(sib_a, &s));
    WVT_OK(wv_coro_run(WV_FOREVER));
    WVT_ERR(s.foreign_release, WV_EPERM);
    WVT_OK(s.result);
    WVT_ASSERT(s.saw_released);
    wv_plock_destroy(s.l);
    wv_shm_free(shm);
    wv__word_wait_drain();
}

WVT_TEST(pshared_coro_plock_sibling_waits)
{
    sibling(false);
}

WVT_TEST(pshared_coro_prlock_sibling_waits)
{
    sibling(true);
}

static void *relock(void *arg)
{
    wv_plock_t *l = arg;
    WVT_OK(wv_plock_acquire(l, WV_FOREVER));
    WVT_ERR(wv_plock_acquire(l, WV_FOREVER), WV_EDEADLK);
    WVT_ERR(wv_plock_acquire(l, 0), WV_EDEADLK);
    WVT_OK(wv_plock_release(l));
    WVT_ERR(wv_plock_release(l), WV_EPERM);
    return NULL;
}

/* The same party again: EDEADLK, reported at once, never a hang. */
WVT_TEST(pshared_coro_plock_same_coroutine_edeadlk)
{
    WVT_OK(wv_shm_anon(&shm, sizeof *S));
    S = wv_shm_addr(shm);
    WVT_OK(wv_plock_init(&S->lock, false));
    WVT_OK(wv_go(relock, &S->lock));
    WVT_OK(wv_coro_run(WV_FOREVER));
    wv_plock_destroy(&S->lock);
    wv_shm_free(shm);
}

/* ------------------------------- many waiters, releases and cancels race */

#define MANY 16

struct many {
    wv_coro_t *co[MANY];
    int result[MANY];
    int entered;
    int finished;
};

struct many_arg {
    struct many *m;
    int i;
};

static void *many_waiter(void *arg)
{
    struct many_arg *a = arg;
    a->m->entered++;
    a->m->result[a->i] = wv_psem_acquire(&S->sem, wv_deadline_in(10000));
    a->m->finished++;
    return NULL;
}

static void *many_canceller(void *arg)
{
    struct many *m = arg;
    char c = 'g';
    while (m->entered < MANY)
        wv_coro_yield();
    WVT_EQ(write(go_fd[1], &c, 1), 1); /* the child starts releasing */
    while (m->finished < 2)            /* cancels race the releases */
        wv_coro_yield();
    for (int i = 0; i < MANY; i += 4)
        wv_coro_cancel(m->co[i]);
    return NULL;
}

static int release_many(void *arg)
{
    char c;
    (void)arg;
    if (read(go_fd[0], &c, 1) != 1)
        return 1;
    for (int i = 0; i < MANY; i++)
        if (wv_psem_release(&S->sem, 1))
            return 1;
    return 0;
}

/* Sixteen coroutines wait on one Semaphore; another process releases
 * sixteen units one at a time while a sibling cancels every fourth
 * waiter (those not served yet).  Each unit ends up taken or left in the
 * semaphore, never lost in a helper: a lost wake-up would leave a waiter until
 * its 10 s deadline (WV_ETIMEDOUT). */
WVT_TEST(pshared_coro_psem_many_waiters_releases_and_cancels)
{
    WVT_OK(wv_shm_anon(&shm, sizeof *S));
    S = wv_shm_addr(shm);
    WVT_OK(wv_psem_init(&S->sem, 0));
    WVT_EQ(pipe2(go_fd, O_CLOEXEC), 0);
    wv_process_t *proc;
    WVT_OK(wv_process_start(&proc, NULL, release_many, NULL));

    struct many m = {0};
    struct many_arg args[MANY];
    for (int i = 0; i < MANY; i++) {
        args[i] = (struct many_arg){&m, i};
        WVT_OK(wv_coro_spawn(&m.co[i], NULL, many_waiter, &args[i]));
    }
    WVT_OK(wv_go(many_canceller, &m));
    WVT_OK(wv_coro_run(WV_FOREVER));
    int code = -1;
    WVT_OK(wv_process_join(proc, &code, WV_FOREVER));
    wv_process_free(proc);
    WVT_EQ(code, 0);
    WVT_OK(wv_coro_run(WV_FOREVER));

    int taken = 0;
    for (int i = 0; i < MANY; i++) {
        if (m.result[i] == 0)
            taken++;
        else
            WVT_ERR(m.result[i], WV_ECANCELED);
        WVT_ASSERT(m.result[i] == 0 || i % 4 == 0);
        wv_coro_free(m.co[i]);
    }
    WVT_EQ(taken + (int)wv_psem_value(&S->sem), MANY);
    close(go_fd[0]);
    close(go_fd[1]);
    wv_shm_free(shm);
    wv__word_wait_drain();
}

/* ----------------------------------- a wake-up that meets an abandon */

struct handoff {
    wv_coro_t *a, *b;
    int ra, rb;
};

static void *handoff_a(void *arg)
{
    struct handoff *h = arg;
    h->ra = wv_psem_acquire(&S->sem, wv_deadline_in(10000));
    return NULL;
}

static void *handoff_b(void *arg)
{
    struct handoff *h = arg;
    h->rb = wv_psem_acquire(&S->sem, wv_deadline_in(5000));
    return NULL;
}

/* Waits (parked) for the thread's release, then cancels A while the
 * helper that the release woke is held in transit by the delay hook. */
static void *handoff_cancel(void *arg)
{
    struct handoff *h = arg;
    char c;
    for (int i = 0; i < 100; i++)
        wv_coro_yield(); /* A and B parked, their helpers asleep */
    WVT_EQ(write(go_fd[1], &c, 1), 1);
    WVT_OK(wv_fdwait(ready_fd[0], POLLIN, NULL, WV_FOREVER));
    WVT_EQ(read(ready_fd[0], &c, 1), 1); /* released */
    wv_coro_cancel(h->a);
    return NULL;
}

static void release_one(void *arg)
{
    char c = 'r';
    (void)arg;
    WVT_EQ(read(go_fd[0], &c, 1), 1);
    WVT_OK(wv_psem_release(&S->sem, 1)); /* FUTEX_WAKE 1: one helper */
    WVT_EQ(write(ready_fd[1], &c, 1), 1);
}

/* A release wakes one helper (FIFO: A's, the first queued, in most
 * rounds), and A is cancelled while that helper is held before it
 * answers: the helper must pass the wake-up on, or B sleeps with the
 * unit in the semaphore until its deadline.  (Caught: without the
 * pass-on, this case fails.) */
WVT_TEST(pshared_coro_psem_wakeup_passed_on_after_cancel)
{
    WVT_OK(wv_shm_anon(&shm, sizeof *S));
    S = wv_shm_addr(shm);
    WVT_OK(wv_psem_init(&S->sem, 0));
    WVT_EQ(pipe2(ready_fd, O_CLOEXEC), 0);
    WVT_EQ(pipe2(go_fd, O_CLOEXEC), 0);
    wv__fault_word_wait_delay(200 * 1000);
    for (int round = 0; round < 6; round++) {
        struct handoff h = {0};
        int64_t t0 = wv_now();
        wvt_thread_t *th = wvt_spawn(release_one, NULL);
        WVT_OK(wv_coro_spawn(&h.a, NULL, handoff_a, &h));
        WVT_OK(wv_coro_spawn(&h.b, NULL, handoff_b, &h));
        WVT_OK(wv_go(handoff_cancel, &h));
        WVT_OK(wv_coro_run(WV_FOREVER));
        wvt_join(th);
        /* A cancelled before any helper answered; B got the unit. */
        WVT_ERR(h.ra, WV_ECANCELED);
        WVT_OK(h.rb);
        WVT_LT(wv_now() - t0, 4000); /* not at B's deadline (its last
                                        look takes the unit too) */
        WVT_EQ(wv_psem_value(&S->sem), 0);
        wv_coro_free(h.a);
        wv_coro_free(h.b);
    }
    wv__fault_word_wait_delay(0);
    WVT_OK(wv_coro_run(WV_FOREVER));
    close(ready_fd[0]);
    close(ready_fd[1]);
    close(go_fd[0]);
    close(go_fd[1]);
    wv_shm_free(shm);
    wv__word_wait_drain();
}

/* ------------------------------------ a word unmapped after its last call */

struct gone {
    wv_coro_t *a;
    int ra;
};

static void *gone_waiter(void *arg)
{
    struct gone *g = arg;
    g->ra = wv_psem_acquire(&S->sem, WV_FOREVER);
    return NULL;
}

/* Cancels A once A's helper is held between its look at the request and
 * its sleep on the word. */
static void *gone_cancel(void *arg)
{
    struct gone *g = arg;
    while (!wv__word_wait_held())
        wv_coro_yield();
    wv_coro_cancel(g->a);
    return NULL;
}

/* A's helper is held (as if preempted) before it sleeps on the word; A is
 * cancelled and returns, and the word's memory is unmapped, as a caller
 * may once its last call on it returned.  Then the helper goes on: it must
 * not read the word, nor fail on it (futex_waitv's EFAULT), and must come
 * back to the pool.  (Caught: the first version asserted on the EFAULT.) */
WVT_TEST(pshared_coro_word_unmapped_after_abandon)
{
    struct gone g = {0};

    WVT_OK(wv_shm_anon(&shm, sizeof *S));
    S = wv_shm_addr(shm);
    WVT_OK(wv_psem_init(&S->sem, 0));
    wv__fault_word_wait_hold(true);
    WVT_OK(wv_coro_spawn(&g.a, NULL, gone_waiter, &g));
    WVT_OK(wv_go(gone_cancel, &g));
    WVT_OK(wv_coro_run(WV_FOREVER));
    WVT_ERR(g.ra, WV_ECANCELED);
    wv_coro_free(g.a);
    wv_shm_free(shm); /* no call on the word is running: it may go */
    wv__fault_word_wait_hold(false);
    WVT_POLL(wv__word_wait_idle() == 1, 5000);
    wv__word_wait_drain();
}

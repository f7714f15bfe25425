/*
 * tests/test_shm.c - shared memory, Value, Array, and the process-shared
 * Lock, RLock, Semaphore and Event, used across real processes; a lock
 * whose owner is SIGKILLed in its critical section, again and again.
 */
#include "ipc/internal.h"
#include "runner.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static int join_code(wv_process_t *p)
{
    int code = -1000;
    WVT_OK(wv_process_join(p, &code, WV_FOREVER));
    wv_process_free(p);
    return code;
}

/* ------------------------------------------------------ shared memory */

static int attach_and_answer(void *arg)
{
    wv_shm_t *s;
    if (wv_shm_open(&s, arg, false, 0))
        return 1;
    char *m = wv_shm_addr(s);
    int ok = strcmp(m, "from the parent") == 0;
    strcpy(m + 100, "from the child");
    wv_shm_free(s);
    return ok ? 0 : 2;
}

WVT_TEST(shm_named_block_between_processes)
{
    wv_shm_t *s, *again;
    wv_process_t *p;
    char name[300];

    WVT_OK(wv_shm_open(&s, NULL, true, 4096));
    WVT_EQ(wv_shm_size(s), 4096);
    snprintf(name, sizeof name, "%s", wv_shm_name(s));
    WVT_EQ(name[0], '/');
    char *m = wv_shm_addr(s);
    WVT_EQ(m[4095], 0); /* zeroed */
    strcpy(m, "from the parent");
    /* The child attaches by name (its copy of our mapping aside). */
    WVT_OK(wv_process_start(&p, NULL, attach_and_answer, name));
    WVT_EQ(join_code(p), 0);
    WVT_ASSERT(strcmp(m + 100, "from the child") == 0);
    WVT_ERR(wv_shm_open(&again, name, true, 10), WV_EEXIST);
    WVT_OK(wv_shm_open(&again, name + 1, false, 100)); /* no slash: fine */
    WVT_EQ(wv_shm_size(again), 100);
    WVT_ASSERT(strcmp((char *)wv_shm_addr(again), "from the parent") == 0);
    wv_shm_free(again);
    WVT_OK(wv_shm_unlink(name));
    WVT_ERR(wv_shm_unlink(name), WV_ENOENT);
    WVT_ERR(wv_shm_open(&again, name, false, 0), WV_ENOENT);
    wv_shm_free(s); /* still mapped until now */

    WVT_ERR(wv_shm_open(&s, NULL, true, 0), WV_EINVAL);
    WVT_ERR(wv_shm_open(&s, NULL, false, 0), WV_EINVAL);
    WVT_ERR(wv_shm_open(&s, "/a/b", true, 10), WV_EINVAL);
    WVT_ERR(wv_shm_anon(&s, 0), WV_EINVAL);
    wv_shm_free(NULL);
}

static int bump_value(void *arg)
{
    wv_value_t *v = arg;
    long *n = wv_value_ptr(v);
    for (int i = 0; i < 10000; i++) {
        if (wv_plock_acquire(wv_value_lock(v), WV_FOREVER))
            return 1;
        (*n)++;
        if (wv_plock_release(wv_value_lock(v)))
            return 2;
    }
    return 0;
}

static int fill_slice(void *arg)
{
    wv_array_t *a = arg;
    int *xs = wv_array_ptr(a);
    int me = xs[0]; /* the parent set xs[0] to our index before the fork */
    for (int i = 1 + me * 25; i < 1 + (me + 1) * 25; i++)
        xs[i] = i * i;
    return 0;
}

WVT_TEST(shm_value_and_array)
{
    wv_value_t *v;
    wv_array_t *a;
    wv_process_t *p[4];

    WVT_OK(wv_value_new(&v, sizeof(long), true));
    WVT_EQ(*(long *)wv_value_ptr(v), 0);
    WVT_EQ(wv_value_size(v), sizeof(long));
    for (int i = 0; i < 4; i++)
        WVT_OK(wv_process_start(&p[i], NULL, bump_value, v));
    for (int i = 0; i < 4; i++)
        WVT_EQ(join_code(p[i]), 0);
    WVT_EQ(*(long *)wv_value_ptr(v), 40000);
    wv_value_free(v);

    WVT_OK(wv_array_new(&a, sizeof(int), 101, false));
    WVT_ASSERT(wv_array_lock(a) == NULL);
    WVT_EQ(wv_array_len(a), 101);
    WVT_EQ(wv_array_size(a), 101 * sizeof(int));
    int *xs = wv_array_ptr(a);
    for (int i = 0; i < 4; i++) {
        xs[0] = i;
        WVT_OK(wv_process_start(&p[i], NULL, fill_slice, a));
        WVT_EQ(join_code(p[i]), 0);
    }
    for (int i = 1; i <= 100; i++)
        WVT_EQ(xs[i], i * i);
    wv_array_free(a);
    WVT_ERR(wv_array_new(&a, SIZE_MAX / 2, 3, true), WV_EINVAL);
    WVT_ERR(wv_value_new(&v, 0, true), WV_EINVAL);
    wv_value_free(NULL);
    wv_array_free(NULL);
}

/* ------------------------------------------------------ robust locks */

struct guarded {
    wv_plock_t lock;
    long a, b;    /* equal outside the critical section */
    long repairs; /* EOWNERDEAD seen */
    wv_psem_t ready;
};

static wv_shm_t *shm;

static int hold_and_die(void *arg)
{
    struct guarded *g = arg;
    if (wv_plock_acquire(&g->lock, WV_FOREVER))
        return 1;
    g->a++; /* half an update */
    wv_psem_release(&g->ready, 1);
    for (;;)
        pause(); /* killed here */
}

WVT_TEST(plock_owner_death_is_reported)
{
    WVT_OK(wv_shm_anon(&shm, sizeof(struct guarded)));
    struct guarded *g = wv_shm_addr(shm);
    wv_process_t *p;

    WVT_OK(wv_plock_init(&g->lock, false));
    WVT_OK(wv_psem_init(&g->ready, 0));
    WVT_OK(wv_process_start(&p, NULL, hold_and_die, g));
    WVT_OK(wv_psem_acquire(&g->ready, WV_FOREVER));
    WVT_ERR(wv_plock_acquire(&g->lock, WV_NOWAIT), WV_EAGAIN);
    WVT_ERR(wv_plock_acquire(&g->lock, wv_deadline_in(20)), WV_ETIMEDOUT);
#if WEAVE_SANITIZER != 2 /* TSan reports the misuse itself */
    WVT_ERR(wv_plock_release(&g->lock), WV_EPERM); /* not ours */
#endif
    WVT_OK(wv_process_kill(p));
    WVT_EQ(join_code(p), -SIGKILL);
    /* The next acquirer holds it, and is told. */
    WVT_ERR(wv_plock_acquire(&g->lock, WV_FOREVER), WV_EOWNERDEAD);
    WVT_EQ(g->a, 1);
    g->b = g->a; /* repair */
    WVT_OK(wv_plock_consistent(&g->lock));
    WVT_OK(wv_plock_release(&g->lock));
    WVT_OK(wv_plock_acquire(&g->lock, WV_FOREVER));
    WVT_ERR(wv_plock_acquire(&g->lock, WV_FOREVER), WV_EDEADLK);
    WVT_OK(wv_plock_release(&g->lock));

    /* Released without repair: dead for everyone. */
    WVT_OK(wv_process_start(&p, NULL, hold_and_die, g));
    WVT_OK(wv_psem_acquire(&g->ready, WV_FOREVER));
    WVT_OK(wv_process_kill(p));
    WVT_EQ(join_code(p), -SIGKILL);
    WVT_ERR(wv_plock_acquire(&g->lock, WV_FOREVER), WV_EOWNERDEAD);
    WVT_OK(wv_plock_release(&g->lock));
    WVT_ERR(wv_plock_acquire(&g->lock, WV_FOREVER), WV_ENOTRECOVERABLE);
    wv_plock_destroy(&g->lock);
    wv_shm_free(shm);
}

WVT_TEST(plock_recursive)
{
    wv_plock_t l;
    WVT_OK(wv_plock_init(&l, true));
    WVT_OK(wv_plock_acquire(&l, WV_FOREVER));
    WVT_OK(wv_plock_acquire(&l, WV_NOWAIT));
    WVT_OK(wv_plock_release(&l));
    WVT_OK(wv_plock_release(&l));
#if WEAVE_SANITIZER != 2 /* TSan reports the misuse itself */
    WVT_ERR(wv_plock_release(&l), WV_EPERM);
#endif
    wv_plock_destroy(&l);
    WVT_ERR(wv_plock_acquire(NULL, WV_FOREVER), WV_EINVAL);
}

/* Workers update (a, b) under the lock; the test SIGKILLs them at random
 * moments.  Whoever gets EOWNERDEAD repairs.  The invariant must hold and
 * nobody may hang. */
static int churn(void *arg)
{
    struct guarded *g = arg;
    for (;;) {
        int err = wv_plock_acquire(&g->lock, WV_FOREVER);
        if (err == WV_EOWNERDEAD) {
            g->b = g->a;
            g->repairs++;
            if (wv_plock_consistent(&g->lock))
                return 3;
        } else if (err) {
            return 1;
        }
        if (g->a != g->b)
            return 2; /* an unrepaired half update */
        g->a++;
        for (volatile int i = 0; i < 200; i++)
            ;
        g->b++;
        if (wv_plock_release(&g->lock))
            return 4;
    }
}

WVT_TEST_TIMEOUT(plock_survives_owners_killed_at_random, 120)
{
    WVT_OK(wv_shm_anon(&shm, sizeof(struct guarded)));
    struct guarded *g = wv_shm_addr(shm);
    wv_process_t *w[3];
    unsigned seed = (unsigned)getpid();

    WVT_OK(wv_plock_init(&g->lock, false));
    for (int i = 0; i < 3; i++)
        WVT_OK(wv_process_start(&w[i], NULL, churn, g));
    for (int kill_no = 0; kill_no < wvt_scale(50); kill_no++) {
        int victim = (int)(rand_r(&seed) % 3);
        /* Let the workers run a little; where the kill lands is random. */
        wv_sleep_ms(1 + rand_r(&seed) % 3);
        WVT_OK(wv_process_kill(w[victim]));
        WVT_EQ(join_code(w[victim]), -SIGKILL); /* not 1..4: no bad state */
        WVT_OK(wv_process_start(&w[victim], NULL, churn, g));
    }
    for (int i = 0; i < 3; i++) {
        WVT_OK(wv_process_kill(w[i]));
        WVT_EQ(join_code(w[i]), -SIGKILL);
    }
    int err = wv_plock_acquire(&g->lock, WV_FOREVER);
    if (err == WV_EOWNERDEAD) {
        g->b = g->a;
        g->repairs++;
        WVT_OK(wv_plock_consistent(&g->lock));
    } else {
        WVT_OK(err);
    }
    WVT_EQ(g->a, g->b);
    WVT_GT(g->a, 0);
    WVT_OK(wv_plock_release(&g->lock));
    wv_shm_free(shm);
}

/* ------------------------------------------------- Semaphore, Event */

struct pc {
    wv_psem_t items, room;
    wv_pevent_t go;
    long ring[8];
    long sum;
    wv_plock_t lock;
    int head, tail;
};

static int produce(void *arg)
{
    struct pc *s = arg;
    if (wv_pevent_wait(&s->go, WV_FOREVER))
        return 1;
    for (long i = 1; i <= 5000; i++) {
        if (wv_psem_acquire(&s->room, WV_FOREVER) ||
            wv_plock_acquire(&s->lock, WV_FOREVER))
            return 2;
        s->ring[s->tail++ % 8] = i;
        wv_plock_release(&s->lock);
        wv_psem_release(&s->items, 1);
    }
    return 0;
}

static int consume(void *arg)
{
    struct pc *s = arg;
    for (long i = 0; i < 10000; i++) {
        if (wv_psem_acquire(&s->items, WV_FOREVER) ||
            wv_plock_acquire(&s->lock, WV_FOREVER))
            return 2;
        s->sum += s->ring[s->head++ % 8];
        wv_plock_release(&s->lock);
        wv_psem_release(&s->room, 1);
    }
    return 0;
}

WVT_TEST(psem_pevent_bounded_buffer_between_processes)
{
    WVT_OK(wv_shm_anon(&shm, sizeof(struct pc)));
    struct pc *s = wv_shm_addr(shm);
    wv_process_t *p1, *p2, *c;

    WVT_OK(wv_psem_init(&s->items, 0));
    WVT_OK(wv_psem_init_bounded(&s->room, 8));
    WVT_OK(wv_plock_init(&s->lock, false));
    wv_pevent_init(&s->go);
    WVT_EQ(wv_pevent_set(&s->go), 0); /* nobody waits: woke none */
    wv_pevent_clear(&s->go);
    WVT_OK(wv_process_start(&c, NULL, consume, s));
    WVT_OK(wv_process_start(&p1, NULL, produce, s));
    WVT_OK(wv_process_start(&p2, NULL, produce, s));
    WVT_ERR(wv_pevent_wait(&s->go, WV_NOWAIT), WV_EAGAIN);
    WVT_ERR(wv_pevent_wait(&s->go, wv_deadline_in(10)), WV_ETIMEDOUT);
    wv_pevent_set(&s->go); /* both producers wake */
    WVT_ASSERT(wv_pevent_is_set(&s->go));
    WVT_EQ(join_code(p1), 0);
    WVT_EQ(join_code(p2), 0);
    WVT_EQ(join_code(c), 0);
    WVT_EQ(s->sum, 2 * 5000L * 5001 / 2);
    WVT_EQ(wv_psem_value(&s->items), 0);
    WVT_EQ(wv_psem_value(&s->room), 8);
    WVT_ERR(wv_psem_release(&s->room, 1), WV_EOVERFLOW); /* bounded */
    WVT_ERR(wv_psem_acquire(&s->items, WV_NOWAIT), WV_EAGAIN);
    WVT_ERR(wv_psem_acquire(&s->items, wv_deadline_in(10)), WV_ETIMEDOUT);
    wv_pevent_clear(&s->go);
    WVT_ASSERT(!wv_pevent_is_set(&s->go));
    WVT_ERR(wv_psem_init_bounded(&s->items, 0), WV_EINVAL);
    WVT_ERR(wv_psem_release(&s->room, 0), WV_EINVAL);
    wv_plock_destroy(&s->lock);
    wv_shm_free(shm);
}

/* ------------------------------------------------ Condition, Barrier */

struct cv {
    wv_plock_t lock;
    wv_pcond_t cond;
    int flag;
    wv_pbarrier_t bar;
    int idx[20][4];
};

static int set_flag(void *arg)
{
    struct cv *s = arg;
    if (wv_plock_acquire(&s->lock, WV_FOREVER))
        return 1;
    s->flag = 1;
    wv_pcond_notify_all(&s->cond);
    wv_plock_release(&s->lock);
    return 0;
}

static int notify_and_die(void *arg)
{
    struct cv *s = arg;
    if (wv_plock_acquire(&s->lock, WV_FOREVER))
        return 1;
    s->flag = 2;
    wv_pcond_notify(&s->cond, 1);
    _exit(0); /* holding the lock the waiter needs back */
}

WVT_TEST(pcond_between_processes)
{
    WVT_OK(wv_shm_anon(&shm, sizeof(struct cv)));
    struct cv *s = wv_shm_addr(shm);
    wv_process_t *p;

    WVT_OK(wv_plock_init(&s->lock, false));
    WVT_OK(wv_pcond_init(&s->cond));
    WVT_OK(wv_plock_acquire(&s->lock, WV_FOREVER));
    WVT_ERR(wv_pcond_wait(&s->cond, &s->lock, WV_NOWAIT), WV_EAGAIN);
    WVT_ERR(wv_pcond_wait(&s->cond, &s->lock, wv_deadline_in(10)),
            WV_ETIMEDOUT);
    /* The lock is ours again after a time-out: the child cannot run
     * until we wait. */
    WVT_OK(wv_process_start(&p, NULL, set_flag, s));
    while (!s->flag)
        WVT_OK(wv_pcond_wait(&s->cond, &s->lock, WV_FOREVER));
    WVT_OK(wv_plock_release(&s->lock));
    WVT_EQ(join_code(p), 0);

    /* The notifier dies holding the lock: the waiter is told. */
    WVT_OK(wv_plock_acquire(&s->lock, WV_FOREVER));
    s->flag = 0;
    WVT_OK(wv_process_start(&p, NULL, notify_and_die, s));
    int err = 0;
    while (s->flag != 2 && err == 0)
        err = wv_pcond_wait(&s->cond, &s->lock, WV_FOREVER);
    if (err == 0) { /* woken before the death: the next acquire tells */
        WVT_OK(wv_plock_release(&s->lock));
        err = wv_plock_acquire(&s->lock, WV_FOREVER);
    }
    WVT_ERR(err, WV_EOWNERDEAD);
    WVT_EQ(s->flag, 2);
    WVT_OK(wv_plock_consistent(&s->lock));
    WVT_OK(wv_plock_release(&s->lock));
    WVT_EQ(join_code(p), 0);
    wv_pcond_destroy(&s->cond);
    wv_plock_destroy(&s->lock);
    wv_shm_free(shm);
}

static int meet_rounds(void *arg)
{
    struct cv *s = arg;
    for (int r = 0; r < 20; r++) {
        int i = wv_pbarrier_wait(&s->bar, WV_FOREVER);
        if (i < 0)
            return 1;
        s->idx[r][i] += 1;
    }
    return 0;
}

WVT_TEST(pbarrier_between_processes)
{
    WVT_OK(wv_shm_anon(&shm, sizeof(struct cv)));
    struct cv *s = wv_shm_addr(shm);
    wv_process_t *p[3];

    WVT_OK(wv_pbarrier_init(&s->bar, 4));
    for (int i = 0; i < 3; i++)
        WVT_OK(wv_process_start(&p[i], NULL, meet_rounds, s));
    WVT_EQ(meet_rounds(s), 0);
    for (int i = 0; i < 3; i++)
        WVT_EQ(join_code(p[i]), 0);
    /* Every round handed out each index exactly once. */
    for (int r = 0; r < 20; r++)
        for (int i = 0; i < 4; i++)
            WVT_EQ(s->idx[r][i], 1);
    WVT_ERR(wv_pbarrier_wait(&s->bar, WV_NOWAIT), WV_EAGAIN);
    WVT_ASSERT(!wv_pbarrier_is_broken(&s->bar)); /* EAGAIN changed nothing */
    wv_pbarrier_destroy(&s->bar);
    wv_shm_free(shm);
}

static int meet_once(void *arg)
{
    struct cv *s = arg;
    int i = wv_pbarrier_wait(&s->bar, WV_FOREVER);
    return i == 0 || i == 1 ? 0 : 1;
}

static int wait_broken(void *arg)
{
    struct cv *s = arg;
    return wv_pbarrier_wait(&s->bar, WV_FOREVER) == WV_EBROKEN ? 0 : 1;
}

WVT_TEST(pbarrier_timeout_abort_reset)
{
    WVT_OK(wv_shm_anon(&shm, sizeof(struct cv)));
    struct cv *s = wv_shm_addr(shm);
    wv_process_t *p;

    WVT_OK(wv_pbarrier_init(&s->bar, 2));
    WVT_ERR(wv_pbarrier_wait(&s->bar, wv_deadline_in(10)), WV_ETIMEDOUT);
    WVT_ASSERT(wv_pbarrier_is_broken(&s->bar));
    WVT_ERR(wv_pbarrier_wait(&s->bar, WV_FOREVER), WV_EBROKEN);
    wv_pbarrier_reset(&s->bar);
    WVT_ASSERT(!wv_pbarrier_is_broken(&s->bar));

    /* A waiter in another process, broken by abort... */
    WVT_OK(wv_process_start(&p, NULL, wait_broken, s));
    WVT_POLL(wv__pbarrier_waiting(&s->bar) == 1, 5000);
    wv_pbarrier_abort(&s->bar);
    WVT_EQ(join_code(p), 0);
    wv_pbarrier_reset(&s->bar);
    /* ...and one broken by reset, which leaves the barrier usable. */
    WVT_OK(wv_process_start(&p, NULL, wait_broken, s));
    WVT_POLL(wv__pbarrier_waiting(&s->bar) == 1, 5000);
    wv_pbarrier_reset(&s->bar);
    WVT_EQ(join_code(p), 0);
    WVT_ASSERT(!wv_pbarrier_is_broken(&s->bar));
    WVT_OK(wv_process_start(&p, NULL, meet_once, s));
    int i = wv_pbarrier_wait(&s->bar, WV_FOREVER);
    WVT_ASSERT(i == 0 || i == 1);
    WVT_EQ(join_code(p), 0);
    wv_pbarrier_destroy(&s->bar);
    WVT_ERR(wv_pbarrier_init(&s->bar, 0), WV_EINVAL);
    wv_shm_free(shm);
}

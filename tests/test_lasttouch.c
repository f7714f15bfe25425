/*
 * tests/test_lasttouch.c - the last touch rule (core/internal.h): after
 * the atomic step that releases a waiter (unlock, set, release, publish),
 * the releaser must not touch the object, because the woken party may
 * free it at once ("last one out frees", glibc bug 13690).
 *
 * Each case makes the race happen with wv__fault_delay (per thread): the
 * waiter's parks are held for a few ms, so that it is caught in transit
 * (announced in the state word, not queued yet) when the releaser acts;
 * the releaser's unparks are held too, so that a touch it makes too late
 * lands after the waiter has finished and killed the object.  When the waiter
 * is through, it poisons the object's memory and parks a probe on the same
 * address: a releaser that touched the object late would wake the probe
 * (spurious wake-up of whatever lives there next) or damage the poison (a write
 * into freed memory, which the ASan build also reports).
 */
#include "core/internal.h"
#include "runner.h"

#include <string.h>

#define DELAY_US 3000
#define POISON   0xA5

union arena {
    wv_lock_t lock;
    wv_event_t event;
    wv_sem_t sem;
    wv_once_t once;
    unsigned char bytes[32];
};

struct scene {
    union arena *obj;
    int (*release)(union arena *); /* the releaser's action */
    uint32_t announced_mask;       /* state bits of a waiter in transit */
};

/* The releaser: waits until the waiter is in transit, then releases. */
static void releaser(void *p)
{
    struct scene *s = p;
    uint32_t *word = (uint32_t *)s->obj;
    wv__fault_delay(0, 2 * DELAY_US, 0); /* a late touch lands mid-probe */
    WVT_POLL(__atomic_load_n(word, __ATOMIC_ACQUIRE) & s->announced_mask, 5000);
    WVT_GE(s->release(s->obj), 0);
}

/* The waiter's side after its wait returned: the object is dead. */
static void kill_and_probe(union arena *obj)
{
    wv__fault_delay(0, 0, 0);
    memset(obj, POISON, sizeof *obj);
    wv__park_req_t probe = {.key = obj,
                            .deadline = wv_now() + 4 * DELAY_US / 1000};
    uintptr_t token;
    WVT_ERR(wv__park(&probe, &token), WV_ETIMEDOUT);
    for (size_t i = 0; i < sizeof *obj; i++)
        WVT_EQ(obj->bytes[i], POISON);
}

static void run_scene(union arena *obj, int (*release)(union arena *),
                      uint32_t announced, int (*wait)(union arena *))
{
    struct scene s = {obj, release, announced};
    wvt_thread_t *r = wvt_spawn(releaser, &s);
    wv__fault_delay(DELAY_US, 0, 0);
    WVT_OK(wait(obj));
    kill_and_probe(obj); /* the releaser may still be inside its call */
    wvt_join(r);
}

/* --------------------------------------------------------------- Event */

static int event_set(union arena *a)
{
    return wv_event_set(&a->event);
}

static int event_wait(union arena *a)
{
    return wv_event_wait(&a->event, wv_deadline_in(10000));
}

WVT_TEST(lasttouch_event_set)
{
    for (int i = 0; i < 5; i++) {
        union arena a;
        wv_event_init(&a.event);
        run_scene(&a, event_set, 2 /* WAITERS */, event_wait);
    }
}

/* ----------------------------------------------------------- Semaphore */

static int sem_release(union arena *a)
{
    return wv_sem_release(&a->sem, 1);
}

static int sem_acquire(union arena *a)
{
    return wv_sem_acquire(&a->sem, wv_deadline_in(10000));
}

WVT_TEST(lasttouch_sem_release)
{
    for (int i = 0; i < 5; i++) {
        union arena a;
        WVT_OK(wv_sem_init(&a.sem, 0));
        run_scene(&a, sem_release, 1 /* WAITERS */, sem_acquire);
    }
}

/* ---------------------------------------------------------------- Lock */

static int lock_release(union arena *a)
{
    return wv_lock_release(&a->lock);
}

static int lock_cycle(union arena *a)
{
    /* take the lock the releaser holds, and let go: the last user */
    int err = wv_lock_acquire(&a->lock, wv_deadline_in(10000));
    return err ? err : wv_lock_release(&a->lock);
}

WVT_TEST(lasttouch_lock_release)
{
    for (int i = 0; i < 5; i++) {
        union arena a;
        wv_lock_init(&a.lock);
        WVT_OK(wv_lock_acquire(&a.lock, WV_FOREVER)); /* the releaser's */
        run_scene(&a, lock_release, 2 /* PARKED */, lock_cycle);
    }
}

/* ---------------------------------------------------------------- once */

static wv_event_t once_go = WV_EVENT_INIT;

static int slow_init(void *arg)
{
    return wv_event_wait(&once_go, wv_deadline_in(10000));
}

static int once_run(union arena *a)
{
    return wv_once(&a->once, slow_init, NULL, WV_FOREVER);
}

/* Lets the initializer return once a waiter is in transit; itself
 * undelayed, so that DONE is published while the waiter still is. */
static void trigger(void *p)
{
    union arena *a = p;
    WVT_POLL(__atomic_load_n(&a->once._state, __ATOMIC_ACQUIRE) & 4, 5000);
    wv_event_set(&once_go);
}

static void run_initializer(void *p)
{
    wv__fault_delay(0, 2 * DELAY_US, 0); /* its publication of DONE is slow */
    WVT_OK(once_run(p));
}

static int once_wait(union arena *a)
{
    return wv_once(&a->once, slow_init, NULL, wv_deadline_in(10000));
}

WVT_TEST(lasttouch_once_done)
{
    /* The runner publishes DONE while a waiter is in transit; the waiter,
     * done, kills the once while the runner may still be in wv_once. */
    for (int i = 0; i < 3; i++) {
        union arena a;
        a.once = (wv_once_t)WV_ONCE_INIT;
        wv_event_clear(&once_go);
        wvt_thread_t *runner = wvt_spawn(run_initializer, &a);
        WVT_POLL(wv_once_is_done(&a.once) ||
                     __atomic_load_n(&a.once._state, __ATOMIC_ACQUIRE) == 1,
                 5000);
        wvt_thread_t *r = wvt_spawn(trigger, &a);
        wv__fault_delay(DELAY_US, 0, 0);
        WVT_OK(once_wait(&a));
        kill_and_probe(&a); /* the runner may still be inside wv_once */
        wvt_join(runner);
        wvt_join(r);
    }
}

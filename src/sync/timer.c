/*
 * sync/timer.c - threading.Timer: a thread that waits on an Event with a
 * deadline, and calls the function unless the Event was set (cancel).
 *
 * `state` decides the race between firing and cancelling with one CAS:
 * WAITING -> FIRED (the thread, when the delay expired) or WAITING ->
 * CANCELLED (wv_timer_cancel).  The struct is shared by the handle and the
 * thread (refs: 2); the last to let go frees it, which lets fn free its own
 * timer.
 */
#include "internal.h"

enum { WAITING, FIRED, CANCELLED };

struct wv_timer {
    uint32_t refs;
    uint32_t state;
    wv_event_t cancel;
    int64_t deadline;
    void (*fn)(void *);
    void *arg;
    wv_thread_t *thread;
};

static void drop_ref(wv_timer_t *t)
{
    if (__atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        wv_thread_free(t->thread);
        wv__free(t);
    }
}

static int timer_body(void *arg)
{
    wv_timer_t *t = arg;
    uint32_t waiting = WAITING;

    if (wv_event_wait(&t->cancel, t->deadline) == WV_ETIMEDOUT &&
        __atomic_compare_exchange_n(&t->state, &waiting, FIRED, false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        t->fn(t->arg);
    drop_ref(t);
    return 0;
}

int wv_timer_start(wv_timer_t **out, int64_t delay_ms, void (*fn)(void *),
                   void *arg)
{
    if (!out || !fn || delay_ms < 0)
        return WV_EINVAL;
    wv_timer_t *t = wv__calloc(1, sizeof *t);
    if (!t)
        return WV_ENOMEM;
    t->refs = 2;
    t->deadline = wv_deadline_in(delay_ms);
    t->fn = fn;
    t->arg = arg;
    wv_thread_opts_t opts = {.name = "Timer"};
    int err = wv_thread_start(&t->thread, &opts, timer_body, t);
    if (err) {
        wv__free(t);
        return err;
    }
    *out = t;
    return 0;
}

int wv_timer_cancel(wv_timer_t *t)
{
    uint32_t s = WAITING;

    if (__atomic_compare_exchange_n(&t->state, &s, CANCELLED, false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        wv_event_set(&t->cancel);
        return 0;
    }
    return s == CANCELLED ? 0 : WV_EALREADY;
}

int wv_timer_join(wv_timer_t *t, int64_t deadline)
{
    return wv_thread_join(t->thread, NULL, deadline);
}

void wv_timer_free(wv_timer_t *t)
{
    if (!t)
        return;
    wv_timer_cancel(t);
    /* From fn itself, joining would deadlock: the thread frees the timer
     * when fn returns instead. */
    if (wv_thread_current() != t->thread)
        wv_thread_join(t->thread, NULL, WV_FOREVER);
    drop_ref(t);
}

/*
 * queue/future.c - futures: AsyncResult / concurrent.futures.Future.
 *
 * State word: the outcome in the low bits (the final ones have FINAL, 4),
 * WAITERS (8) while parties may be parked on the future's address.
 *
 *   PENDING --set_running--> RUNNING --+--> COMPLETING --> DONE | FAILED
 *      |                               |
 *      +------------------------------+   (set_result / set_error)
 *      +--cancel--> CANCELLED
 *
 * A completer claims the future with one CAS to COMPLETING, writes the
 * value or error, then publishes the outcome with a release exchange; only
 * then are waiters woken (if WAITERS was set) and callbacks run.  Readers
 * never look at the value before seeing DONE with an acquire load, so the
 * value needs no lock.  Values of up to INLINE bytes live in the future
 * itself: completing such a future does not allocate.
 *
 * Lock: cb_lock protects the callback list and `fired`.  Callbacks never run
 * with it held.
 */
#include "internal.h"

#include <string.h>

enum {
    PENDING = 0,
    RUNNING = 1,
    COMPLETING = 2,
    FINAL = 4,
    DONE = FINAL | 0,
    FAILED = FINAL | 1,
    CANCELLED = FINAL | 2,
    OUTCOME = 7,
    WAITERS = 8,
};
#define INLINE 32

struct cbnode {
    struct cbnode *next;
    wv_future_cb fn;
    void *arg;
};

struct wv_future {
    uint32_t refs;
    uint32_t state;
    int err;    /* FAILED: the error; written in COMPLETING */
    size_t len; /* DONE: value length; written in COMPLETING */
    void *data; /* DONE: inline_buf or heap; idem */
    wv_lock_t cb_lock;
    bool fired;              /* [cb_lock] callbacks were taken to run */
    struct cbnode *cbs;      /* [cb_lock] registration order */
    struct cbnode **cbs_end; /* [cb_lock] where the next one links */
    struct cbnode first;     /* [cb_lock] storage of the first callback */
    bool first_used;         /* [cb_lock] */
    _Alignas(max_align_t) unsigned char inline_buf[INLINE];
};

static uint32_t outcome(const wv_future_t *f)
{
    return __atomic_load_n(&f->state, __ATOMIC_ACQUIRE) & OUTCOME;
}

static bool is_final(uint32_t s)
{
    return s & FINAL;
}

int wv_future_new(wv_future_t **out)
{
    if (!out)
        return WV_EINVAL;
    wv_future_t *f = wv__calloc(1, sizeof *f);
    if (!f)
        return WV_ENOMEM;
    f->refs = 1;
    f->cbs_end = &f->cbs;
    *out = f;
    return 0;
}

wv_future_t *wv_future_ref(wv_future_t *f)
{
    if (!f)
        return NULL;

    __atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
    return f;
}

void wv_future_unref(wv_future_t *f)
{
    if (!f || __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (struct cbnode *n = f->cbs, *next; n; n = next) {
        next = n->next;
        if (n != &f->first)
            wv__free(n);
    }
    if (f->data != f->inline_buf)
        wv__free(f->data);
    wv__free(f);
}

/* Takes the callbacks (once) and runs them, no lock held. */
static void fire(wv_future_t *f)
{
    wv__lock_acquire_nocancel(&f->cb_lock);
    struct cbnode *n = f->cbs;
    f->cbs = NULL;
    f->cbs_end = &f->cbs;
    f->fired = true;
    wv_lock_release(&f->cb_lock);

    while (n) {
        struct cbnode *next = n->next;
        n->fn(f, n->arg);
        if (n != &f->first)
            wv__free(n);
        n = next;
    }
}

/* Publishes a final outcome and wakes the waiters. */
static void publish(wv_future_t *f, uint32_t final)
{
    uint32_t old = __atomic_exchange_n(&f->state, final, __ATOMIC_ACQ_REL);
    if (old & WAITERS)
        wv__unpark(f, INT32_MAX, NULL, NULL);
    fire(f);
}

/* PENDING or RUNNING -> COMPLETING, keeping WAITERS.  0 or WV_EALREADY. */
static int claim(wv_future_t *f)
{
    uint32_t s = __atomic_load_n(&f->state, __ATOMIC_RELAXED);

    for (;;) {
        if ((s & OUTCOME) > RUNNING)
            return WV_EALREADY;
        if (__atomic_compare_exchange_n(&f->state, &s,
                                        COMPLETING | (s & WAITERS), false,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return 0;
    }
}

int wv_future_set_result(wv_future_t *f, const void *data, size_t len)
{
    if (!f)
        return WV_EINVAL;

    void *copy = f->inline_buf;

    if (len && !data)
        return WV_EINVAL;
    if (outcome(f) > RUNNING)
        return WV_EALREADY;
    /* Allocate before claiming, so that failure leaves nothing to undo. */
    if (len > INLINE && !(copy = wv__malloc(len)))
        return WV_ENOMEM;
    if (claim(f) != 0) {
        if (copy != f->inline_buf)
            wv__free(copy);
        return WV_EALREADY;
    }
    if (len)
        memcpy(copy, data, len);
    f->data = copy;
    f->len = len;
    publish(f, DONE);
    return 0;
}

int wv__future_set_result_owned(wv_future_t *f, void *buf, size_t len)
{
    if (claim(f) != 0)
        return WV_EALREADY;
    f->data = len ? buf : f->inline_buf;
    f->len = len;
    publish(f, DONE);
    if (!len)
        wv__free(buf);
    return 0;
}

int wv_future_set_error(wv_future_t *f, int err)
{
    if (!f)
        return WV_EINVAL;
    if (err >= 0)
        return WV_EINVAL;
    if (claim(f) != 0)
        return WV_EALREADY;
    f->err = err;
    publish(f, FAILED);
    return 0;
}

int wv_future_set_running(wv_future_t *f)
{
    if (!f)
        return WV_EINVAL;

    uint32_t s = __atomic_load_n(&f->state, __ATOMIC_RELAXED);

    for (;;) {
        if ((s & OUTCOME) == CANCELLED)
            return WV_ECANCELED;
        if ((s & OUTCOME) != PENDING)
            return WV_EALREADY;
        if (__atomic_compare_exchange_n(&f->state, &s, RUNNING | (s & WAITERS),
                                        false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return 0;
    }
}

int wv_future_cancel(wv_future_t *f)
{
    if (!f)
        return WV_EINVAL;

    uint32_t s = __atomic_load_n(&f->state, __ATOMIC_RELAXED);

    for (;;) {
        switch (s & OUTCOME) {
        case CANCELLED:
            return 0;
        case RUNNING:
            return WV_EBUSY;
        case PENDING:
            break;
        default:
            return WV_EALREADY;
        }
        if (__atomic_compare_exchange_n(&f->state, &s,
                                        COMPLETING | (s & WAITERS), false,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            break;
    }
    publish(f, CANCELLED);
    return 0;
}

int wv__future_fail_pending(wv_future_t *f, int err)
{
    uint32_t s = __atomic_load_n(&f->state, __ATOMIC_RELAXED);

    do {
        if ((s & OUTCOME) != PENDING)
            return WV_EALREADY;
    } while (!__atomic_compare_exchange_n(&f->state, &s,
                                          COMPLETING | (s & WAITERS), false,
                                          __ATOMIC_ACQUIRE, __ATOMIC_RELAXED));
    f->err = err;
    publish(f, FAILED);
    return 0;
}

bool wv_future_is_ready(const wv_future_t *f)
{
    if (!f)
        return false;

    return is_final(outcome(f));
}

bool wv_future_is_successful(const wv_future_t *f)
{
    if (!f)
        return false;

    return outcome(f) == DONE;
}

bool wv_future_is_cancelled(const wv_future_t *f)
{
    if (!f)
        return false;

    return outcome(f) == CANCELLED;
}

bool wv_future_is_running(const wv_future_t *f)
{
    if (!f)
        return false;

    return outcome(f) == RUNNING;
}

int wv_future_error(const wv_future_t *f)
{
    if (!f)
        return WV_EINVAL;

    switch (outcome(f)) {
    case FAILED:
        return f->err;
    case CANCELLED:
        return WV_ECANCELED;
    default:
        return 0;
    }
}

int wv_future_wait(wv_future_t *f, int64_t deadline)
{
    if (!f)
        return WV_EINVAL;

    uint32_t s = __atomic_load_n(&f->state, __ATOMIC_ACQUIRE);

    if (is_final(s))
        return 0;
    int err = wv__would_wait(deadline);
    if (err)
        return err;
    wv__word_wait_t wait = {
        .key = f,
        .word = &f->state,
        .bit = WAITERS,
        .mask = FINAL | WAITERS,
        .expect = WAITERS, /* not final, somebody parked */
        .deadline = deadline,
    };
    for (;;) {
        if (is_final(s))
            return 0;
        uintptr_t token;
        err = wv__park_word(&wait, &token);
        s = __atomic_load_n(&f->state, __ATOMIC_ACQUIRE);
        if (err == WV_ETIMEDOUT || err == WV_ECANCELED)
            return is_final(s) ? 0 : err;
    }
}

int wv_future_get(wv_future_t *f, const void **data, size_t *len,
                  int64_t deadline)
{
    if (!f)
        return WV_EINVAL;

    int err = wv_future_wait(f, deadline);
    if (err)
        return err;
    switch (outcome(f)) {
    case DONE:
        if (data)
            *data = f->data;
        if (len)
            *len = f->len;
        return 0;
    case FAILED:
        return f->err;
    default:
        return WV_ECANCELED;
    }
}

int wv_future_add_done_callback(wv_future_t *f, wv_future_cb fn, void *arg)
{
    if (!f)
        return WV_EINVAL;

    struct cbnode *n;

    if (!fn)
        return WV_EINVAL;
    wv__lock_acquire_nocancel(&f->cb_lock);
    if (f->fired) {
        wv_lock_release(&f->cb_lock);
        fn(f, arg);
        return 0;
    }
    if (!f->first_used) {
        f->first_used = true;
        n = &f->first;
    } else if (!(n = wv__malloc(sizeof *n))) {
        wv_lock_release(&f->cb_lock);
        return WV_ENOMEM;
    }
    *n = (struct cbnode){NULL, fn, arg};
    *f->cbs_end = n;
    f->cbs_end = &n->next;
    wv_lock_release(&f->cb_lock);
    return 0;
}

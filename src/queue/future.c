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
 * itself: completing such a future does not allocate.  The whole future
 * is 80 bytes (glibc serves it from its fast bins), and new ones are not
 * zeroed.
 *
 * Callbacks: completing a future with none registered takes no lock.  The
 * completer's publishing exchange and its load of `cbs` pair with an
 * adder's store of `cbs` and its load of the state (a Dekker pair: all
 * four are sequentially consistent): if the completer sees no callback, the
 * adder sees the outcome final and runs fire() itself.  fire() takes the list
 * under cb_lock, once (FIRED marks it taken); a second fire() finds it taken.
 *
 * Lock: cb_lock protects the callback list.  Callbacks never run with it
 * held.
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

/* cbs once fire() took the callbacks: those added later run at once */
#define FIRED ((struct cbnode *)1)
/* The end of a non-empty list: the first callback, inline, comes next */
#define FIRST ((struct cbnode *)2)

struct wv_future {
    uint32_t refs;
    uint32_t state;
    int err; /* FAILED: the error; written in COMPLETING */
    wv_lock_t cb_lock;
    size_t len; /* DONE: value length; written in COMPLETING */
    /* [cb_lock; atomic] NULL (none), FIRED, or the callbacks after the
     * first, newest first, ending in FIRST */
    struct cbnode *cbs;
    wv_future_cb first_fn; /* [cb_lock] the first callback: no memory */
    void *first_arg;
    union {         /* DONE: the value; written in COMPLETING */
        void *heap; /* len > INLINE */
        _Alignas(max_align_t) unsigned char buf[INLINE];
    } v;
};

_Static_assert(sizeof(wv_future_t) <= 80, "a future is small");

static const void *value(const wv_future_t *f)
{
    return f->len > INLINE ? f->v.heap : f->v.buf;
}

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
    wv_future_t *f = wv__malloc(sizeof *f);
    if (!f)
        return WV_ENOMEM;
    f->refs = 1;
    f->state = PENDING;
    f->err = 0;
    f->cb_lock = (wv_lock_t)WV_LOCK_INIT;
    f->len = 0;
    f->cbs = NULL;
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
    struct cbnode *n = f->cbs;
    for (struct cbnode *next; n && n != FIRED && n != FIRST; n = next) {
        next = n->next;
        wv__free(n);
    }
    if (outcome(f) == DONE && f->len > INLINE)
        wv__free(f->v.heap);
    wv__free(f);
}

/* Takes the callbacks (once: a second call finds FIRED) and runs them in
 * registration order, no lock held. */
static void fire(wv_future_t *f)
{
    wv__lock_acquire_nocancel(&f->cb_lock);
    struct cbnode *n = __atomic_load_n(&f->cbs, __ATOMIC_RELAXED);
    __atomic_store_n(&f->cbs, FIRED, __ATOMIC_RELAXED);
    wv_lock_release(&f->cb_lock);
    if (n == FIRED || !n)
        return;
    f->first_fn(f, f->first_arg);

    struct cbnode *fifo = NULL; /* the list is newest first */
    while (n != FIRST) {
        struct cbnode *next = n->next;
        n->next = fifo;
        fifo = n;
        n = next;
    }
    while (fifo) {
        struct cbnode *next = fifo->next;
        fifo->fn(f, fifo->arg);
        wv__free(fifo);
        fifo = next;
    }
}

/* Publishes a final outcome, wakes the waiters, runs the callbacks. */
static void publish(wv_future_t *f, uint32_t final)
{
    /* A full barrier (a locked exchange), then the load of cbs: the
     * Dekker pair of the head comment. */
    uint32_t old = __atomic_exchange_n(&f->state, final, __ATOMIC_SEQ_CST);
    if (old & WAITERS)
        wv__unpark(f, INT32_MAX, NULL, NULL);
    if (__atomic_load_n(&f->cbs, __ATOMIC_SEQ_CST))
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

    void *copy = NULL;

    if (len && !data)
        return WV_EINVAL;
    if (outcome(f) > RUNNING)
        return WV_EALREADY;
    /* Allocate before claiming, so that failure leaves nothing to undo. */
    if (len > INLINE && !(copy = wv__malloc(len)))
        return WV_ENOMEM;
    if (claim(f) != 0) {
        wv__free(copy);
        return WV_EALREADY;
    }
    if (copy)
        f->v.heap = copy;
    else
        copy = f->v.buf;
    if (len)
        memcpy(copy, data, len);
    f->len = len;
    publish(f, DONE);
    return 0;
}

int wv__future_set_result_owned(wv_future_t *f, void *buf, size_t len)
{
    if (claim(f) != 0)
        return WV_EALREADY;
    if (len > INLINE) {
        f->v.heap = buf;
    } else {
        if (len)
            memcpy(f->v.buf, buf, len);
        wv__free(buf);
    }
    f->len = len;
    publish(f, DONE);
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
            *data = value(f);
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
    if (is_final(outcome(f))) {
        fire(f); /* any added before, which a completer may have missed */
        fn(f, arg);
        return 0;
    }
    wv__lock_acquire_nocancel(&f->cb_lock);
    struct cbnode *head = __atomic_load_n(&f->cbs, __ATOMIC_RELAXED);
    if (head == FIRED) {
        wv_lock_release(&f->cb_lock);
        fn(f, arg);
        return 0;
    }
    if (!head) {
        f->first_fn = fn;
        f->first_arg = arg;
        n = FIRST;
    } else if ((n = wv__malloc(sizeof *n))) {
        *n = (struct cbnode){head, fn, arg};
    } else {
        wv_lock_release(&f->cb_lock);
        return WV_ENOMEM;
    }
    __atomic_store_n(&f->cbs, n, __ATOMIC_SEQ_CST);
    wv_lock_release(&f->cb_lock);
    /* The other half of the Dekker pair: a completer that published
     * before seeing n runs nothing, so this side fires. */
    if (is_final(__atomic_load_n(&f->state, __ATOMIC_SEQ_CST)))
        fire(f);
    return 0;
}

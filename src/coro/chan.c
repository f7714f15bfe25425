/*
 * coro/chan.c - Go's channels and select.
 *
 * Design: Go's runtime/chan.go and select.go, waiting through weave's
 * waiter (core/internal.h) instead of gopark.  A channel is a lock, a ring
 * of `cap` values and two FIFO queues of waiting parties: senders blocked
 * on a full (or unbuffered) channel, receivers blocked on an empty one.
 * A queue holds *entries* (Go's sudog), each on its waiting party's stack
 * (a select's inside the caller's cases): a pointer to the party's wait
 * record (its waiter and result), its value buffer and its case index.
 * Channels keep their own queues instead of using the parking lot because
 * a select must wait in several queues at once (docs/chan.md).
 *
 * Under the channel's lock:
 *  - send: a waiting receiver gets the value copied straight into its
 *    buffer; else a free slot of the ring takes it; else the sender waits.
 *  - recv: a buffered value comes out of the ring, and if a sender waits
 *    (the ring was full) its value moves into the freed slot and it is
 *    woken; else a waiting sender's value is copied straight out of its
 *    buffer; else the receiver waits.
 *  - close: marks the channel closed and dequeues every waiter, receivers
 *    with WV_EOF and senders with WV_ESHUTDOWN.
 *
 * Claiming.  Whoever takes an entry out of a queue owns the party's one
 * wake-up.  The entry of a plain send or recv is in one queue only, so
 * dequeuing it under the lock is the claim: no atomic operation.  The
 * entries of a select (one per case, in several queues) share one claim
 * word: 0 open; idx + 1 once a waker won case idx (CAS 0 -> idx + 1);
 * GAVE_UP once the select's own time-out or cancellation won (CAS
 * 0 -> GAVE_UP).  An entry whose claim word is not 0 is stale: whoever
 * meets it drops it from its queue and goes on with the next.
 *
 * Invariants.
 *  - An entry is in at most one queue, and _queued says whether; both
 *    change only under that channel's lock.  A party never returns while
 *    an entry of its own is queued (the entry lives on its stack).
 *  - A waker copies the value, sets the party's result and dequeues the
 *    entry, all under the lock; after the unlock it calls wake() (the
 *    scheduler's local wake-up, inline, or wv__waiter_wake)
 *    once and touches neither the party nor the channel again (the woken
 *    party may return and free either at once: the last touch rule of
 *    docs/waiting.md).
 *  - A party whose sleep ends by time-out or cancellation withdraws: a
 *    plain one retakes the lock and, if still queued, dequeues itself; a
 *    select claims itself (GAVE_UP).  If it lost (a waker dequeued or
 *    claimed it first), the operation is already done and a wake-up is in
 *    flight: it waits for it (WV_FOREVER, NOCANCEL) and reports success.
 *    A completed operation always wins over a time-out.
 *  - Senders wait only while the ring is full and no receiver waits;
 *    receivers only while it is empty and no sender waits.
 *
 * Fast path.  send and recv on a channel whose lock is biased to the
 * calling thread, with values copied inline (0, 4, 8 or 16 bytes), make
 * tail calls only: no frame, no saved register.  Everything else starts
 * over on the general path (send_slow, recv_slow).  A wait is entered
 * through wv__call_jumpback, which returns to the caller after the
 * switch by an indirect jump (coro/internal.h; docs/chan.md, W3).
 *
 * Lock order.  A channel lock is a leaf, held for a few queue and copy
 * operations, never across a sleep or a wake-up.  Only select holds more
 * than one: those of all its channels, taken in address order, each once.
 * The lock is biased to the first thread that takes it (chan_impl.h):
 * while no other thread touches the channel, it costs no atomic
 * instruction.
 */
#include "chan_impl.h"

#include <limits.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- values */

/* Is a value of n bytes copied inline by copy_value (ch->small)? */
static inline bool is_small(size_t n)
{
    return n == 0 || n == 4 || n == 8 || n == 16;
}

/* Copies one value; small sizes inline (no call).  dst NULL: dropped.
 * `small` (a constant where it is inlined) says n is one of those sizes:
 * the fast path's copies then have no memcpy call at all. */
static inline __attribute__((always_inline)) void
copy_value(void *dst, const void *src, size_t n, bool small)
{
    if (!dst)
        return;
    switch (n) {
    case 0:
        break;
    case 4:
        memcpy(dst, src, 4);
        break;
    case 8:
        memcpy(dst, src, 8);
        break;
    case 16:
        memcpy(dst, src, 16);
        break;
    default:
        if (!small)
            memcpy(dst, src, n);
    }
}

/* [lock] Ring offsets advance by one value, wrapping without division. */
static inline size_t ring_next(const wv_chan_t *ch, size_t off)
{
    off += ch->elem_size;
    return off == ch->bytes ? 0 : off;
}

static inline __attribute__((always_inline)) void
ring_put(wv_chan_t *ch, const void *val, bool small)
{
    copy_value(ch->ring + ch->tail, val, ch->elem_size, small);
    ch->tail = ring_next(ch, ch->tail);
    __atomic_store_n(&ch->len, ch->len + 1, __ATOMIC_RELAXED); /* len() */
}

static inline __attribute__((always_inline)) void
ring_get(wv_chan_t *ch, void *out, bool small)
{
    copy_value(out, ch->ring + ch->head, ch->elem_size, small);
    ch->head = ring_next(ch, ch->head);
    __atomic_store_n(&ch->len, ch->len - 1, __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------------- queues */

/* The one list that does not use core/list.h: its links are fields of
 * wv__chan_entry, a public struct (weave/chan.h) embedded in callers'
 * wv_chan_case_t arrays, which cannot name an internal header's type; and
 * a dequeued entry's _next doubles as the private wake list of
 * wv_chan_close (drain_waiters). */

static inline void q_push(struct queue *q, entry_t *e)
{
    e->_next = NULL;
    e->_prev = q->tail;
    if (q->tail)
        q->tail->_next = e;
    else
        q->head = e;
    q->tail = e;
    e->_queued = 1;
}

static inline void q_remove(struct queue *q, entry_t *e)
{
    if (e->_prev)
        e->_prev->_next = e->_next;
    else
        q->head = e->_next;
    if (e->_next)
        e->_next->_prev = e->_prev;
    else
        q->tail = e->_prev;
    e->_queued = 0;
}

static inline bool is_stale(const entry_t *e)
{
    return e->_select &&
           __atomic_load_n(&e->_wait->claim, __ATOMIC_ACQUIRE) != 0;
}

/* [lock] The oldest entry of q that may still be claimed (stale ones
 * before it are dropped), or NULL.  It may turn stale at any moment. */
static entry_t *q_first(struct queue *q)
{
    entry_t *e;
    while ((e = q->head) && is_stale(e))
        q_remove(q, e);
    return e;
}

/* [lock] Claims an entry just dequeued: a plain one is ours already; a
 * select's only if no other case of it was claimed first. */
static inline bool claim(entry_t *e)
{
    uint32_t open = 0;
    if (!e->_select)
        return true;
    return __atomic_compare_exchange_n(&e->_wait->claim, &open, e->_idx + 1,
                                       false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}

/* [lock] Dequeues and claims the oldest entry of q that can be claimed,
 * dropping stale ones; NULL if none.  The caller owns its wake-up. */
static inline entry_t *q_take(struct queue *q)
{
    entry_t *e;
    while ((e = q->head)) {
        q->head = e->_next; /* q_remove of the head */
        if (q->head)
            q->head->_prev = NULL;
        else
            q->tail = NULL;
        e->_queued = 0;
        if (claim(e))
            return e;
    }
    return NULL;
}

/* ---------------------------------------------------- the two operations */

/*
 * [lock] Sends val if that needs no wait.  Returns 0 (sent; *wake is the
 * party to wake after the unlock, or NULL), WV_ESHUTDOWN (closed) or
 * WV_EAGAIN (it would wait).  small: ch->small is known true.
 */
static inline __attribute__((always_inline)) int
try_send(wv_chan_t *ch, const void *val, struct wv__chan_wait **wake,
         bool small)
{
    if (WV__UNLIKELY(ch->closed))
        return WV_ESHUTDOWN;
    entry_t *r = q_take(&ch->recvq);
    if (r) {
        copy_value(r->_val, val, ch->elem_size, small);
        *wake = r->_wait;
        return 0;
    }
    if (ch->len < ch->cap) {
        ring_put(ch, val, small);
        return 0;
    }
    return WV_EAGAIN;
}

/* [lock] Receives into out if that needs no wait; as try_send, with
 * WV_EOF for a closed, drained channel. */
static inline __attribute__((always_inline)) int
try_recv(wv_chan_t *ch, void *out, struct wv__chan_wait **wake, bool small)
{
    entry_t *s;
    if (ch->len) {
        ring_get(ch, out, small);
        if ((s = q_take(&ch->sendq)) != NULL) { /* it was full */
            ring_put(ch, s->_val, small);
            *wake = s->_wait;
        }
        return 0;
    }
    if ((s = q_take(&ch->sendq)) != NULL) {
        copy_value(out, s->_val, ch->elem_size, small);
        *wake = s->_wait;
        return 0;
    }
    return ch->closed ? WV_EOF : WV_EAGAIN;
}

/* [lock] Would the operation complete without waiting? */
static bool is_ready(wv_chan_t *ch, int op)
{
    if (op == WV_CHAN_SEND)
        return ch->closed || q_first(&ch->recvq) || ch->len < ch->cap;
    return ch->len || q_first(&ch->sendq) || ch->closed;
}

/* A waiter of the calling thread's scheduler (its coroutines, and its
 * own code once it has one) is parked and woken inline (coro/sched.h):
 * *s is that scheduler.  Any other goes through its kind. */
static inline bool is_local(const wv__waiter_t *w, struct sched **s)
{
    *s = wv__tls_sched;
    return *s && w->kind == &(*s)->kind;
}

/* A wake-up of a party of another scheduler or kind; returns 0 so that
 * the fast path reaches it by a tail call. */
static __attribute__((noinline)) int wake_far(struct wv__chan_wait *w)
{
    wv__waiter_wake(&w->w);
    return 0;
}

/* Wakes w (if any) after the unlock and returns err, the operation's
 * result (0 whenever w is set): the fast path ends with it, by a tail
 * call when w is another scheduler's. */
static inline __attribute__((always_inline)) int
wake_fast(struct wv__chan_wait *w, int err)
{
    struct sched *s;

    if (!w)
        return err;
    if (WV__LIKELY(is_local(&w->w, &s))) {
        wake_local(s, &w->w);
        return 0;
    }
    return wake_far(w);
}

static inline void wake(struct wv__chan_wait *w)
{
    (void)wake_fast(w, 0);
}

static inline int chan_sleep(wv__waiter_t *w, int64_t deadline)
{
    struct sched *s;
    if (is_local(w, &s))
        return wv__sched_park(s, w, deadline, 0);
    return wv__waiter_sleep(w, deadline, 0);
}

/*
 * [lock of chp, released on return] Queues the caller on q (a queue of
 * the channel chp) with its value buffer and sleeps until a partner or a
 * close dequeues it, or the deadline.  With deadline 0 (or an invalid
 * one) it does not queue: WV_EAGAIN (WV_EINVAL).
 *
 * Out of line, so that send and recv that need no wait save no register
 * and set up no frame for it (inlined, its six callee-saved registers and
 * 150-byte frame were in every call); and called through
 * wv__call_jumpback (wait_on), whose return into the caller after a
 * switch is predicted where a `ret` is not (coro/arch/x86_64.S).
 */
static __attribute__((noinline)) int wait_single(void *chp, void *qp, void *val,
                                                 int64_t deadline)
{
    wv_chan_t *ch = chp;
    struct queue *q = qp;
    struct wv__chan_wait wt; /* set field by field: no zeroing */
    entry_t e;

    int err = wv__would_wait(deadline);
    if (err) {
        chan_unlock(ch);
        return err;
    }

    wv__waiter_init(&wt.w);
    wt.err = 0;
    e._wait = &wt;
    e._val = val;
    e._select = 0;
    q_push(q, &e);
    chan_unlock(ch);
    err = chan_sleep(&wt.w, deadline);
    if (WV__LIKELY(err == 0))
        return wt.err;

    chan_lock(ch);
    bool queued = e._queued;
    if (queued)
        q_remove(q, &e);
    chan_unlock(ch);
    if (queued)
        return err;
    /* A partner dequeued us first: the operation is done, its wake-up in
     * flight.  It wins over the time-out. */
    err = wv__waiter_sleep(&wt.w, WV_FOREVER, WV__PARK_NOCANCEL);
    WV__ASSERT(err == 0);
    return wt.err;
}

/* wait_single, the way every caller enters it (a tail call). */
static inline int wait_on(wv_chan_t *ch, struct queue *q, const void *val,
                          int64_t deadline)
{
    return wv__call_jumpback(ch, q, (void *)(uintptr_t)val, deadline,
                             wait_single);
}

/* The general path of wv_chan_send (see the fast path below). */
static __attribute__((noinline)) int send_slow(wv_chan_t *ch, const void *val,
                                               int64_t deadline)
{
    struct wv__chan_wait *w = NULL;

    chan_lock(ch);
    int err = try_send(ch, val, &w, false);
    if (WV__LIKELY(err != WV_EAGAIN)) {
        chan_unlock(ch);
        wake(w);
        return err;
    }
    return wait_on(ch, &ch->sendq, val, deadline);
}

/* The general path of wv_chan_recv. */
static __attribute__((noinline)) int recv_slow(wv_chan_t *ch, void *out,
                                               int64_t deadline)
{
    struct wv__chan_wait *w = NULL;

    chan_lock(ch);
    int err = try_recv(ch, out, &w, false);
    if (WV__LIKELY(err != WV_EAGAIN)) {
        chan_unlock(ch);
        wake(w);
        return err;
    }
    return wait_on(ch, &ch->recvq, out, deadline);
}

/*
 * The fast path: the channel's lock is biased to the calling thread and
 * its values are copied inline, the case of one thread's coroutines.  It
 * makes tail calls only (wait_on, wake_far, the general path), so it
 * saves no register and sets up no frame: six pushes, six pops and a
 * 150-byte frame less in every call than when the general path was
 * inlined here (docs/chan.md).  Anything else starts over on the general
 * path, which takes the lock the full way.
 */
int wv_chan_send(wv_chan_t *ch, const void *val, int64_t deadline)
{
    struct wv__chan_wait *w = NULL;

    if (WV__UNLIKELY(!ch || (!val && ch->elem_size)))
        return WV_EINVAL;
    if (WV__UNLIKELY(!ch->small) || !wv__bias_lock_own(&ch->bias))
        return send_slow(ch, val, deadline);
    int err = try_send(ch, val, &w, true);
    if (WV__UNLIKELY(err == WV_EAGAIN))
        return wait_on(ch, &ch->sendq, val, deadline);
    wv__bias_unlock_own(&ch->bias);
    return wake_fast(w, err);
}

int wv_chan_recv(wv_chan_t *ch, void *out, int64_t deadline)
{
    struct wv__chan_wait *w = NULL;

    if (WV__UNLIKELY(!ch))
        return WV_EINVAL;
    if (WV__UNLIKELY(!ch->small) || !wv__bias_lock_own(&ch->bias))
        return recv_slow(ch, out, deadline);
    int err = try_recv(ch, out, &w, true);
    if (WV__UNLIKELY(err == WV_EAGAIN))
        return wait_on(ch, &ch->recvq, out, deadline);
    wv__bias_unlock_own(&ch->bias);
    return wake_fast(w, err);
}

/* ------------------------------------------------------ life and closing */

int wv_chan_new(wv_chan_t **out, size_t elem_size, size_t capacity)
{
    size_t bytes;

    if (!out || __builtin_mul_overflow(elem_size, capacity, &bytes) ||
        bytes > SIZE_MAX - sizeof(wv_chan_t))
        return WV_EINVAL;
    wv_chan_t *ch = wv__malloc(sizeof *ch + bytes);
    if (!ch)
        return WV_ENOMEM;
    memset(ch, 0, sizeof *ch);
    wv__bias_init(&ch->bias);
    ch->elem_size = elem_size;
    ch->small = is_small(elem_size);
    ch->cap = capacity;
    ch->bytes = bytes;
    *out = ch;
    return 0;
}

void wv_chan_free(wv_chan_t *ch)
{
    if (!ch)
        return;
    /* Somebody still waits: freeing would leave it a dangling channel. */
    WV__ASSERT(!ch->sendq.head && !ch->recvq.head);
    wv__free(ch);
}

/* [lock] Claims every entry of q, appending it to *list with err (WV_EOF
 * for receivers, WV_ESHUTDOWN for senders). */
static void drain_waiters(struct queue *q, entry_t ***tail, int err)
{
    entry_t *e;
    while ((e = q_take(q)) != NULL) {
        e->_wait->err = err;
        e->_next = NULL;
        **tail = e;
        *tail = &e->_next;
    }
}

int wv_chan_close(wv_chan_t *ch)
{
    entry_t *list = NULL, **tail = &list;

    if (!ch)
        return WV_EINVAL;
    chan_lock(ch);
    if (ch->closed) {
        chan_unlock(ch);
        return WV_EALREADY;
    }
    ch->closed = true;
    drain_waiters(&ch->recvq, &tail, WV_EOF);
    drain_waiters(&ch->sendq, &tail, WV_ESHUTDOWN);
    chan_unlock(ch);
    while (list) {
        entry_t *next = list->_next; /* read before the wake-up frees it */
        wv__waiter_wake(&list->_wait->w);
        list = next;
    }
    return 0;
}

size_t wv_chan_len(const wv_chan_t *ch)
{
    if (!ch)
        return 0;
    /* No lock: a snapshot needs none, and a monitoring thread that took
     * it would revoke the channel's bias. */
    return __atomic_load_n(&ch->len, __ATOMIC_RELAXED);
}

size_t wv_chan_cap(const wv_chan_t *ch)
{
    return ch ? ch->cap : 0;
}

static unsigned count_live(struct queue *q)
{
    unsigned n = 0;
    for (entry_t *e = q->head; e; e = e->_next)
        n += !is_stale(e);
    return n;
}

unsigned wv__chan_waiting(wv_chan_t *ch, int op)
{
    chan_lock(ch);
    unsigned n = count_live(op == WV_CHAN_SEND ? &ch->sendq : &ch->recvq);
    chan_unlock(ch);
    return n;
}

/* ---------------------------------------------------------------- select */

/* A per-thread generator (wyrand): select's fair choice. */
static __thread uint64_t rng_state __attribute__((tls_model("initial-exec")));

static uint32_t rand_below(uint32_t n)
{
    uint64_t s = rng_state;
    if (WV__UNLIKELY(s == 0)) { /* first use on this thread */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = (uint64_t)(uintptr_t)&rng_state ^ (uint64_t)ts.tv_nsec << 20;
    }
    s += 0xa0761d6478bd642full;
    rng_state = s;
    __uint128_t t = (__uint128_t)s * (s ^ 0xe7037ed1a0b428dbull);
    uint32_t r = (uint32_t)((t >> 64) ^ t);
    return (uint32_t)(((uint64_t)r * n) >> 32); /* Lemire: no division */
}

#define ORDER(c, i) ((uintptr_t)(c)[i]._order)

/* Heap sort, for the rare select with many cases. */
static void sift_down(wv_chan_case_t *c, size_t i, size_t n)
{
    wv_chan_t *v = c[i]._order;
    for (size_t k; (k = 2 * i + 1) < n; i = k) {
        if (k + 1 < n && ORDER(c, k + 1) > ORDER(c, k))
            k++;
        if (ORDER(c, k) <= (uintptr_t)v)
            break;
        c[i]._order = c[k]._order;
    }
    c[i]._order = v;
}

static void heap_sort(wv_chan_case_t *c, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(c, i, n);
    for (size_t end = n; end-- > 1;) {
        wv_chan_t *top = c[0]._order;
        c[0]._order = c[end]._order;
        c[end]._order = top;
        sift_down(c, 0, end);
    }
}

/* The channels of the cases in address order (NULLs first), in their
 * _order fields: the order select locks them in, skipping repeats. */
static void sort_channels(wv_chan_case_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        c[i]._order = c[i].ch;
    if (n > 16) {
        heap_sort(c, n);
        return;
    }
    for (size_t i = 1; i < n; i++) { /* insertion sort: a handful */
        wv_chan_t *v = c[i]._order;
        size_t j = i;
        for (; j > 0 && ORDER(c, j - 1) > (uintptr_t)v; j--)
            c[j]._order = c[j - 1]._order;
        c[j]._order = v;
    }
}

static void lock_all(wv_chan_case_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (c[i]._order && (i == 0 || c[i]._order != c[i - 1]._order))
            chan_lock(c[i]._order);
}

static void unlock_all(wv_chan_case_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (c[i]._order && (i == 0 || c[i]._order != c[i - 1]._order))
            chan_unlock(c[i]._order);
}

/* [all locks] A ready case, each ready one equally likely (reservoir
 * sampling over the cases in order), or -1. */
static long pick_ready(wv_chan_case_t *c, size_t n)
{
    long pick = -1;
    uint32_t ready = 0;

    for (size_t i = 0; i < n; i++) {
        if (!c[i].ch || !is_ready(c[i].ch, c[i].op))
            continue;
        if (++ready == 1 || rand_below(ready) == 0)
            pick = (long)i;
    }
    return pick;
}

/* [all locks] Completes case c if it can; as try_send. */
static int try_case(wv_chan_case_t *c, struct wv__chan_wait **wake)
{
    if (c->op == WV_CHAN_SEND)
        return try_send(c->ch, c->val, wake, false);
    return try_recv(c->ch, c->val, wake, false);
}

static struct queue *queue_of(wv_chan_case_t *c)
{
    return c->op == WV_CHAN_SEND ? &c->ch->sendq : &c->ch->recvq;
}

/* Takes the select's entries still queued out of their queues, one
 * channel lock at a time: its claim word is settled, nobody can claim
 * them any more, and stale entries may be dropped by anyone. */
static void withdraw_all(wv_chan_case_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!c[i].ch)
            continue;
        chan_lock(c[i].ch);
        if (c[i]._entry._queued)
            q_remove(queue_of(&c[i]), &c[i]._entry);
        chan_unlock(c[i].ch);
    }
}

/* [all locks, released on return] Queues one entry per case, sleeps, and
 * returns the index of the case a waker completed, or the error. */
static int select_wait(wv_chan_case_t *c, size_t n, int64_t deadline)
{
    struct wv__chan_wait wt = {.claim = 0, .err = 0};

    wv__waiter_init(&wt.w);
    for (size_t i = 0; i < n; i++) {
        if (!c[i].ch)
            continue;
        c[i]._entry = (entry_t){
            ._wait = &wt, ._val = c[i].val, ._idx = (uint32_t)i, ._select = 1};
        q_push(queue_of(&c[i]), &c[i]._entry);
    }
    unlock_all(c, n);

    int err = wv__waiter_sleep(&wt.w, deadline, 0);
    if (err) {
        uint32_t open = 0;
        if (__atomic_compare_exchange_n(&wt.claim, &open, GAVE_UP, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            withdraw_all(c, n);
            return err;
        }
        /* A waker claimed a case first: its wake-up is in flight. */
        err = wv__waiter_sleep(&wt.w, WV_FOREVER, WV__PARK_NOCANCEL);
        WV__ASSERT(err == 0);
    }
    uint32_t claim = __atomic_load_n(&wt.claim, __ATOMIC_ACQUIRE);
    WV__ASSERT(claim != 0 && claim != GAVE_UP);
    withdraw_all(c, n);
    c[claim - 1].err = wt.err;
    return (int)(claim - 1);
}

/* A select with no case: nothing can wake it but its deadline (or a
 * cancellation). */
static int wait_for_nothing(int64_t deadline)
{
    wv__waiter_t w;
    int err = wv__would_wait(deadline);

    if (err)
        return err;
    wv__waiter_init(&w);
    err = wv__waiter_sleep(&w, deadline, 0);
    WV__ASSERT(err != 0); /* nobody knows w: no wake-up */
    return err;
}

static int check_cases(const wv_chan_case_t *c, size_t n, size_t *live)
{
    *live = 0;
    if ((!c && n) || n > INT32_MAX)
        return WV_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!c[i].ch)
            continue;
        if ((c[i].op != WV_CHAN_SEND && c[i].op != WV_CHAN_RECV) ||
            (c[i].op == WV_CHAN_SEND && !c[i].val && c[i].ch->elem_size))
            return WV_EINVAL;
        ++*live;
    }
    return 0;
}

int wv_chan_select(wv_chan_case_t *cases, size_t n, int64_t deadline)
{
    size_t live;
    int err = check_cases(cases, n, &live);

    if (err)
        return err;
    if (!live)
        return wait_for_nothing(deadline);
    sort_channels(cases, n);
    lock_all(cases, n);
    for (;;) {
        long i = pick_ready(cases, n);
        if (i < 0)
            break;
        struct wv__chan_wait *w = NULL;
        err = try_case(&cases[i], &w);
        if (err == WV_EAGAIN)
            continue; /* its partner withdrew meanwhile: look again */
        unlock_all(cases, n);
        wake(w);
        cases[i].err = err;
        return (int)i;
    }
    if ((err = wv__would_wait(deadline)) != 0) {
        unlock_all(cases, n);
        return err;
    }
    return select_wait(cases, n, deadline);
}

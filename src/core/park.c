/*
 * core/park.c - the parking lot: one table of wait queues keyed by address,
 * through which every blocking primitive in weave waits.
 *
 * Design.  A primitive is only a state word (a lock is 4 bytes); when a
 * party must wait, it queues a wv__waiter (on its own stack) in the bucket
 * its key hashes to and sleeps the way its waiter kind sleeps.  The
 * primitive's state is re-validated under the bucket lock before queuing
 * and updated under the same lock by the unparker's callback, so a wake-up
 * can never fall between "I must wait" and "I am queued".  This is the
 * design of WebKit's WTF::ParkingLot and Rust's parking_lot; see
 * docs/waiting.md for the alternatives and why they lost.
 *
 * Invariants.
 *  - A waiter is in exactly one bucket queue from its enqueue until a
 *    dequeue; w->key != NULL exactly while it is queued.  Both enqueue and
 *    dequeue happen under the bucket lock.
 *  - Whoever dequeues a waiter owns its wake-up: an unparker calls
 *    kind->wake() after dropping the bucket lock; a timed-out or cancelled
 *    waiter dequeues itself and returns without one.  A waiter whose sleep
 *    timed out but which finds itself already dequeued must wait for the
 *    wake-up in flight (it may carry a token such as a lock hand-off).
 *  - Waiters of one key are queued in arrival order; unpark takes the
 *    oldest first.
 *
 * Lock order: a bucket lock is a leaf.  Callbacks run under it and must not
 * park, unpark or take any lock that is held around wv__unpark.
 *
 * Size: 512 buckets of one cache line each; a bucket's queue holds waiters
 * of every key hashing to it, scanned linearly.  Growing the table with the
 * number of waiters (as parking_lot does) is left for when coroutines make
 * very long queues common; docs/waiting.md records the trade-off.
 */
#include "internal.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#define BUCKETS_LOG2 9
#define BUCKETS      (1u << BUCKETS_LOG2)

struct bucket {
    uint32_t lock;    /* 0 free, 1 held, 2 held with sleepers */
    wv__list_t queue; /* [lock] waiters, oldest first */
} __attribute__((aligned(WV__CACHELINE)));

static struct bucket table[BUCKETS];

/* wv__fault_delay, per thread */
static __thread unsigned fault_park_us, fault_unpark_us, fault_wake_us;

void wv__fault_delay(unsigned park_us, unsigned unpark_us, unsigned wake_us)
{
    fault_park_us = park_us;
    fault_unpark_us = unpark_us;
    fault_wake_us = wake_us;
}

static void fault_pause(const unsigned *us)
{
    unsigned n = *us;
    if (WV__UNLIKELY(n)) {
        struct timespec ts = {n / 1000000, (long)(n % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
}

static struct bucket *bucket_for(const void *key)
{
    uint64_t h = (uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15ull;
    return &table[h >> (64 - BUCKETS_LOG2)];
}

/* Held only for a few list operations: a leaf lock (core/internal.h). */
static inline void bucket_lock(struct bucket *b)
{
    wv__leaf_lock(&b->lock);
}

static inline void bucket_unlock(struct bucket *b)
{
    wv__leaf_unlock(&b->lock);
}

static void enqueue(struct bucket *b, wv__waiter_t *w)
{
    wv__list_insert_tail(&b->queue, &w->link);
}

static void dequeue(struct bucket *b, wv__waiter_t *w)
{
    wv__list_remove(&b->queue, &w->link);
    w->key = NULL;
}

static inline wv__waiter_t *waiter_of(const wv__list_node_t *n)
{
    return wv__list_entry(n, wv__waiter_t, link);
}

/* Whether a waiter for key is queued at or after node n. */
static bool has_key(const wv__list_node_t *n, const void *key)
{
    for (; n; n = n->next)
        if (waiter_of(n)->key == key)
            return true;
    return false;
}

int wv__park(const wv__park_req_t *req, uintptr_t *token)
{
    struct bucket *b = bucket_for(req->key);
    wv__waiter_t w = {
        .key = req->key,
        .since = req->since,
        .kind = wv__waiter_kind(),
        .ctx = wv__waiter_ctx(),
    };

    fault_pause(&fault_park_us);
    bucket_lock(b);
    if (req->validate && !req->validate(req->arg)) {
        bucket_unlock(b);
        return WV_EAGAIN;
    }
    enqueue(b, &w);
    bucket_unlock(b);

    if (req->before_sleep)
        req->before_sleep(req->arg);

    int err = w.kind->sleep(&w, req->deadline, req->flags);
    if (err == 0) {
        *token = w.token;
        return 0;
    }

    bucket_lock(b);
    if (w.key) {
        dequeue(b, &w);
        if (req->timed_out)
            req->timed_out(req->arg,
                           !has_key(wv__list_first(&b->queue), req->key));
        bucket_unlock(b);
        return err;
    }
    bucket_unlock(b);

    /* An unparker dequeued us before we could: its wake-up is in flight. */
    err = w.kind->sleep(&w, WV_FOREVER, WV__PARK_NOCANCEL);
    WV__ASSERT(err == 0);
    *token = w.token;
    return 0;
}

static bool word_validate(void *arg)
{
    const wv__word_wait_t *w = arg;
    return (__atomic_load_n(w->word, __ATOMIC_RELAXED) & w->mask) == w->expect;
}

static void word_timed_out(void *arg, bool was_last)
{
    const wv__word_wait_t *w = arg;
    if (was_last)
        __atomic_fetch_and(w->word, ~w->bit, __ATOMIC_RELAXED);
}

int wv__park_word(const wv__word_wait_t *w, uintptr_t *token)
{
    uint32_t s = __atomic_load_n(w->word, __ATOMIC_RELAXED);

    /* Set the bit only on a word that is worth waiting on: set on any other
     * value (a once already DONE), it could never be cleared again. */
    do {
        if (((s | w->bit) & w->mask) != w->expect)
            return WV_EAGAIN;
        if (s & w->bit)
            break;
    } while (!__atomic_compare_exchange_n(w->word, &s, s | w->bit, true,
                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    wv__park_req_t req = {
        .key = w->key,
        .validate = word_validate,
        .timed_out = word_timed_out,
        .arg = (void *)w,
        .deadline = w->deadline,
        .since = w->since,
        .flags = w->flags,
    };
    return wv__park(&req, token);
}

unsigned wv__unpark(const void *key, unsigned max, wv__unpark_cb cb, void *arg)
{
    struct bucket *b = bucket_for(key);
    wv__waiter_t *woken = NULL, **link = &woken;
    wv__unpark_result_t res = {0, false, 0};

    fault_pause(&fault_unpark_us);
    bucket_lock(b);
    wv__list_node_t *n = wv__list_first(&b->queue);
    wv__waiter_t *w;
    while (n && res.unparked < max) {
        wv__list_node_t *next = n->next;
        w = waiter_of(n);
        if (w->key == key) {
            if (res.unparked++ == 0)
                res.since = w->since;
            dequeue(b, w);
            w->next = NULL; /* now links the private `woken` list */
            *link = w;
            link = &w->next;
        }
        n = next;
    }
    res.have_more = has_key(n, key);
    uintptr_t token = cb ? cb(arg, res) : 0;
    for (w = woken; w; w = w->next)
        w->token = token;
    bucket_unlock(b);

    if (woken)
        fault_pause(&fault_wake_us);
    while (woken) {
        w = woken;
        woken = w->next; /* read before wake: w may vanish after it */
        w->kind->wake(w);
    }
    return res.unparked;
}

unsigned wv__parked_count(const void *key)
{
    struct bucket *b = bucket_for(key);
    unsigned n = 0;

    bucket_lock(b);
    wv__list_foreach(it, &b->queue)
        n += waiter_of(it)->key == key;
    bucket_unlock(b);
    return n;
}

/* In a forked child only the forking thread exists: every other waiter is
 * gone, and a bucket lock may have been held by a thread that no longer
 * exists.  Start the child with an empty table. */
static void reset_after_fork(void)
{
    memset(table, 0, sizeof table);
}

__attribute__((constructor)) static void park_init(void)
{
    pthread_atfork(NULL, NULL, reset_after_fork);
}

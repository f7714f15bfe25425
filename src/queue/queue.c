/*
 * queue/queue.c - queue.Queue, LifoQueue and PriorityQueue.
 *
 * One lock and three conditions, as in CPython's queue.py: not_empty (gets
 * wait), not_full (puts wait), all_done (join waits).  Waiting goes through
 * weave's Condition, hence the waiter abstraction: coroutines and threads
 * can share a queue.  The items live in one array used as a ring (FIFO), a
 * stack (LIFO) or a binary heap (core/heap.h) ordered by (compare, seq)
 * (PRIORITY), where seq, the put order, makes equal priorities come out
 * first-in first-out.
 * The array grows by doubling; a bounded queue starts with room for
 * min(maxsize, PREALLOC) items so that small bounded queues never allocate
 * in put.
 *
 * Lock: `lock` protects every field but the constant options.  free_item
 * is never called with it held.
 */
#include "internal.h"

#include "../core/heap.h"

#include <string.h>

#define PREALLOC 1024
#define MIN_CAP  16

struct slot {
    void *item;
    uint64_t seq; /* put order (PRIORITY tie-break) */
};

struct wv_queue {
    wv_lock_t lock;
    wv_cond_t not_empty; /* signalled when an item is put */
    wv_cond_t not_full;  /* signalled when an item is taken */
    wv_cond_t all_done;  /* signalled when unfinished drops to 0 */
    wv_queue_kind_t kind;
    size_t maxsize; /* 0 = unbounded */
    int (*compare)(const void *, const void *);
    void (*free_item)(void *);
    struct slot *slots; /* [lock] cap entries */
    size_t cap;         /* [lock] */
    size_t head;        /* [lock] FIFO: index of the oldest item */
    size_t len;         /* [lock] items held */
    uint64_t seq;       /* [lock] puts so far */
    size_t unfinished;  /* [lock] puts not yet task_done */
    bool shutdown;      /* [lock] */
};

int wv_queue_new(wv_queue_t **out, const wv_queue_opts_t *opts)
{
    wv_queue_opts_t defaults = {.kind = WV_QUEUE_FIFO};

    if (!opts)
        opts = &defaults;
    if (!out || (unsigned)opts->kind > WV_QUEUE_PRIORITY ||
        (opts->kind == WV_QUEUE_PRIORITY && !opts->compare))
        return WV_EINVAL;
    wv_queue_t *q = wv__calloc(1, sizeof *q);
    if (!q)
        return WV_ENOMEM;
    q->kind = opts->kind;
    q->maxsize = opts->maxsize;
    q->compare = opts->compare;
    q->free_item = opts->free_item;
    q->cap = q->maxsize && q->maxsize < PREALLOC ? q->maxsize : MIN_CAP;
    q->slots = wv__malloc(q->cap * sizeof *q->slots);
    if (!q->slots) {
        wv__free(q);
        return WV_ENOMEM;
    }
    *out = q;
    return 0;
}

/* Frees items of a detached storage array, with no lock held. */
static void discard(const wv_queue_t *q, struct slot *slots, size_t cap,
                    size_t head, size_t len)
{
    for (size_t i = 0; i < len && q->free_item; i++)
        q->free_item(slots[(head + i) % cap].item);
    wv__free(slots);
}

void wv_queue_free(wv_queue_t *q)
{
    if (!q)
        return;
    discard(q, q->slots, q->cap, q->head, q->len);
    wv__free(q);
}

/* ------------------------------------------------------ storage, [lock] */

static inline bool before(const void *ctx, const struct slot *a,
                          const struct slot *b)
{
    const wv_queue_t *q = ctx;
    int c = q->compare(a->item, b->item);
    return c < 0 || (c == 0 && a->seq < b->seq);
}

/* PRIORITY's order: (compare, seq); the heap is core/heap.h's. */
WV__HEAP_DEFINE(prio_heap, struct slot, before, wv__heap_no_index)

static int grow(wv_queue_t *q)
{
    size_t cap = q->cap ? q->cap * 2 : MIN_CAP;
    if (q->maxsize && cap > q->maxsize)
        cap = q->maxsize;
    struct slot *s = wv__malloc(cap * sizeof *s);
    if (!s)
        return WV_ENOMEM;
    for (size_t i = 0; i < q->len; i++) /* unwrap the ring */
        s[i] = q->slots[(q->head + i) % q->cap];
    wv__free(q->slots);
    q->slots = s;
    q->cap = cap;
    q->head = 0;
    return 0;
}

static void push(wv_queue_t *q, void *item)
{
    struct slot s = {item, q->seq++};

    if (q->kind == WV_QUEUE_FIFO) {
        q->slots[(q->head + q->len++) % q->cap] = s;
        return;
    }
    if (q->kind == WV_QUEUE_PRIORITY) {
        prio_heap_push(q, q->slots, q->len++, s);
        return;
    }
    q->slots[q->len++] = s;
}

static void *pop(wv_queue_t *q)
{
    void *item;

    if (q->kind == WV_QUEUE_FIFO) {
        item = q->slots[q->head].item;
        q->head = (q->head + 1) % q->cap;
        q->len--;
        return item;
    }
    if (q->kind == WV_QUEUE_LIFO)
        return q->slots[--q->len].item;

    item = q->slots[0].item;
    prio_heap_remove(q, q->slots, q->len--, 0);
    return item;
}

static bool is_full(const wv_queue_t *q)
{
    return q->maxsize && q->len >= q->maxsize;
}

/* ------------------------------------------------------------ operations */

int wv_queue_put(wv_queue_t *q, void *item, int64_t deadline)
{
    if (!q)
        return WV_EINVAL;

    int err = 0;

    wv__lock_acquire_nocancel(&q->lock);
    for (;;) {
        if (q->shutdown) {
            err = WV_ESHUTDOWN;
            goto out;
        }
        if (!is_full(q))
            break;
        if (err)
            goto out; /* the wait failed and it is still full */
        err = wv_cond_wait(&q->not_full, &q->lock, deadline);
    }
    if (q->len == q->cap && (err = grow(q)) != 0)
        goto out;
    err = 0;
    push(q, item);
    q->unfinished++;
    wv_cond_notify(&q->not_empty, 1);
out:
    wv_lock_release(&q->lock);
    return err;
}

/* [lock] Waits until there is an item; 0 or the error to return. */
static int wait_item(wv_queue_t *q, int64_t deadline)
{
    int err = 0;

    while (q->len == 0) {
        if (q->shutdown)
            return WV_EOF;
        if (err)
            return err;
        err = wv_cond_wait(&q->not_empty, &q->lock, deadline);
    }
    return 0;
}

int wv_queue_get(wv_queue_t *q, void **item, int64_t deadline)
{
    if (!q)
        return WV_EINVAL;
    if (!item)
        return WV_EINVAL;
    wv__lock_acquire_nocancel(&q->lock);
    int err = wait_item(q, deadline);
    if (!err) {
        *item = pop(q);
        wv_cond_notify(&q->not_full, 1);
    }
    wv_lock_release(&q->lock);
    return err;
}

int wv_queue_get_many(wv_queue_t *q, void **items, int max, int64_t deadline)
{
    if (!q)
        return WV_EINVAL;
    if (!items || max <= 0)
        return WV_EINVAL;
    wv__lock_acquire_nocancel(&q->lock);
    int n = wait_item(q, deadline);
    if (!n) {
        while (n < max && q->len)
            items[n++] = pop(q);
        wv_cond_notify(&q->not_full, (unsigned)n);
    }
    wv_lock_release(&q->lock);
    return n;
}

size_t wv_queue_qsize(wv_queue_t *q)
{
    if (!q)
        return 0;

    wv__lock_acquire_nocancel(&q->lock);
    size_t n = q->len;
    wv_lock_release(&q->lock);
    return n;
}

bool wv_queue_is_empty(wv_queue_t *q)
{
    if (!q)
        return false;

    return wv_queue_qsize(q) == 0;
}

bool wv_queue_is_full(wv_queue_t *q)
{
    if (!q)
        return false;

    wv__lock_acquire_nocancel(&q->lock);
    bool full = is_full(q);
    wv_lock_release(&q->lock);
    return full;
}

int wv_queue_task_done(wv_queue_t *q)
{
    if (!q)
        return WV_EINVAL;

    int err = 0;

    wv__lock_acquire_nocancel(&q->lock);
    if (q->unfinished == 0)
        err = WV_EOVERFLOW;
    else if (--q->unfinished == 0)
        wv_cond_notify_all(&q->all_done);
    wv_lock_release(&q->lock);
    return err;
}

int wv_queue_join(wv_queue_t *q, int64_t deadline)
{
    if (!q)
        return WV_EINVAL;

    int err = 0;

    wv__lock_acquire_nocancel(&q->lock);
    while (q->unfinished && !err)
        err = wv_cond_wait(&q->all_done, &q->lock, deadline);
    if (!q->unfinished)
        err = 0;
    wv_lock_release(&q->lock);
    return err;
}

void wv_queue_shutdown(wv_queue_t *q, bool immediate)
{
    if (!q)
        return;

    struct slot *slots = NULL;
    size_t cap = 0, head = 0, len = 0;

    wv__lock_acquire_nocancel(&q->lock);
    q->shutdown = true;
    if (immediate && q->len) {
        slots = q->slots; /* detach; discarded below, unlocked */
        cap = q->cap;
        head = q->head;
        len = q->len;
        q->slots = NULL;
        q->cap = q->head = q->len = 0;
        q->unfinished = q->unfinished > len ? q->unfinished - len : 0;
    }
    if (immediate)
        wv_cond_notify_all(&q->all_done);
    wv_cond_notify_all(&q->not_empty);
    wv_cond_notify_all(&q->not_full);
    wv_lock_release(&q->lock);
    if (slots)
        discard(q, slots, cap, head, len);
}

bool wv_queue_is_shutdown(wv_queue_t *q)
{
    if (!q)
        return false;

    wv__lock_acquire_nocancel(&q->lock);
    bool down = q->shutdown;
    wv_lock_release(&q->lock);
    return down;
}

unsigned wv__queue_parked(wv_queue_t *q)
{
    return wv__parked_count(&q->not_empty) + wv__parked_count(&q->not_full) +
           wv__parked_count(&q->all_done);
}

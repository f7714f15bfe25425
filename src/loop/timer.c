/*
 * loop/timer.c - the loop's timers: a binary min-heap (core/heap.h) of
 * pointers to armed timers, ordered by deadline.  Portable: the backend
 * (loop_linux.c) only asks for the earliest deadline (wv__timer_next) to
 * bound its wait, and frees or forgets the heap with the loop.
 *
 * Each timer knows its place (idx, position + 1), so disarming one is
 * O(log n) without a search.  Room is reserved ahead (wv__timer_reserve),
 * so arming never allocates and never fails: a coroutine that parks with
 * a deadline cannot be refused.  Everything runs on the loop's thread.
 */
#include "internal.h"

#include "../core/heap.h"

static inline bool timer_before(const void *ctx, wv__timer_t *const *a,
                                wv__timer_t *const *b)
{
    (void)ctx;
    return (*a)->when < (*b)->when;
}

static inline void timer_moved(const void *ctx, wv__timer_t **h, size_t i)
{
    (void)ctx;
    h[i]->idx = (uint32_t)i + 1;
}

WV__HEAP_DEFINE(timer_heap, wv__timer_t *, timer_before, timer_moved)

int wv__timer_reserve(wv__loop_t *l, uint32_t n)
{
    if (n <= l->capheap)
        return 0;
    uint32_t cap = l->capheap ? l->capheap : 64;
    while (cap < n)
        cap *= 2;
    wv__timer_t **h = wv__realloc(l->heap, cap * sizeof *h);
    if (!h)
        return WV_ENOMEM;
    l->heap = h;
    l->capheap = cap;
    return 0;
}

void wv__timer_add(wv__loop_t *l, wv__timer_t *t, int64_t when)
{
    wv__timer_del(l, t);
    WV__ASSERT(l->nheap < l->capheap);
    t->when = when;
    timer_heap_push(NULL, l->heap, l->nheap++, t);
}

void wv__timer_del(wv__loop_t *l, wv__timer_t *t)
{
    if (!t->idx)
        return;
    timer_heap_remove(NULL, l->heap, l->nheap--, t->idx - 1);
    t->idx = 0;
}

wv__timer_t *wv__timer_pop_due(wv__loop_t *l, int64_t now)
{
    if (!l->nheap || l->heap[0]->when > now)
        return NULL;
    wv__timer_t *t = l->heap[0];
    wv__timer_del(l, t);
    return t;
}

void wv__timers_destroy(wv__loop_t *l)
{
    wv__free(l->heap);
    l->heap = NULL;
    l->nheap = l->capheap = 0;
}

void wv__timers_after_fork(wv__loop_t *l)
{
    l->nheap = 0;
}

/*
 * core/heap.h - the library's one binary min-heap.
 *
 * An array-based heap whose element type, order and index back-pointer are
 * its user's: WV__HEAP_DEFINE(name, type, less, moved) defines static
 * inline functions name_sift_up, name_sift_down, name_push, name_remove
 * and name_heapify over a caller-owned `type *h` of `n` elements.  The
 * caller owns the array, its length and its growth; the functions only
 * order it.  Its users: the loop's timers (loop/timer.c: pointers to
 * wv__timer_t, each knowing its index), the pool's deadlines
 * (pool/handler.c: (time, object) by value) and PriorityQueue
 * (queue/queue.c: (item, seq) by value, ordered by the user's compare).
 *
 *   less(ctx, const type *a, const type *b): a must come out before b;
 *   moved(ctx, type *h, size_t i): h[i] was just stored at i (a user that
 *       keeps an index back-pointer updates it here; others pass
 *       wv__heap_no_index).
 *
 * `ctx` is passed through to less and moved (PriorityQueue's queue, for
 * its compare); users that need none pass NULL.
 *
 * Invariant (between calls): no element comes out after its children,
 * i.e. !less(h[i], h[(i - 1) / 2]) for 0 < i < n.  Equal elements come
 * out in no particular order: a user that needs FIFO among equals (the
 * queue) orders by a sequence number as well.
 *
 * Rejected: one out-of-line heap over void * elements with function
 * pointers (qsort style).  The timer heap is on the coroutine sleep path
 * (benchmarks W1-W3); an indirect call per comparison there costs more
 * than the copies this template avoids.  libuv's heap-inl.h (a pointer
 * tree, no array) has no place for by-value elements.  Sifting moves a
 * hole instead of swapping: one store per level.
 */
#ifndef WV_CORE_HEAP_H
#define WV_CORE_HEAP_H

#include <stddef.h>

/* The `moved` of a heap without index back-pointers. */
#define wv__heap_no_index(ctx, h, i) ((void)(ctx), (void)(h), (void)(i))

#define WV__HEAP_DEFINE(name, type, less, moved)                               \
    /* Moves h[i] towards the root while it comes out before its parent. */    \
    static inline __attribute__((unused)) void name##_sift_up(                 \
        const void *ctx, type *h, size_t i)                                    \
    {                                                                          \
        type v = h[i];                                                         \
        while (i > 0) {                                                        \
            size_t parent = (i - 1) / 2;                                       \
            if (!less(ctx, &v, &h[parent]))                                    \
                break;                                                         \
            h[i] = h[parent];                                                  \
            moved(ctx, h, i);                                                  \
            i = parent;                                                        \
        }                                                                      \
        h[i] = v;                                                              \
        moved(ctx, h, i);                                                      \
    }                                                                          \
                                                                               \
    /* Moves h[i] towards the leaves of the n-element heap while a child       \
     * comes out before it. */                                                 \
    static inline __attribute__((unused)) void name##_sift_down(               \
        const void *ctx, type *h, size_t n, size_t i)                          \
    {                                                                          \
        type v = h[i];                                                         \
        for (;;) {                                                             \
            size_t c = 2 * i + 1;                                              \
            if (c >= n)                                                        \
                break;                                                         \
            if (c + 1 < n && less(ctx, &h[c + 1], &h[c]))                      \
                c++;                                                           \
            if (!less(ctx, &h[c], &v))                                         \
                break;                                                         \
            h[i] = h[c];                                                       \
            moved(ctx, h, i);                                                  \
            i = c;                                                             \
        }                                                                      \
        h[i] = v;                                                              \
        moved(ctx, h, i);                                                      \
    }                                                                          \
                                                                               \
    /* Adds v to the n-element heap h, which has room for n + 1; the           \
     * caller then counts n + 1. */                                            \
    static inline __attribute__((unused)) void name##_push(                    \
        const void *ctx, type *h, size_t n, type v)                            \
    {                                                                          \
        h[n] = v;                                                              \
        name##_sift_up(ctx, h, n);                                             \
    }                                                                          \
                                                                               \
    /* Takes h[i] out of the n-element heap h (n > i) by moving the last       \
     * element into its place; the caller then counts n - 1.  name_remove      \
     * (ctx, h, n, 0) pops the first element (read h[0] before). */            \
    static inline __attribute__((unused)) void name##_remove(                  \
        const void *ctx, type *h, size_t n, size_t i)                          \
    {                                                                          \
        if (i == --n)                                                          \
            return;                                                            \
        h[i] = h[n];                                                           \
        moved(ctx, h, i);                                                      \
        if (i > 0 && less(ctx, &h[i], &h[(i - 1) / 2]))                        \
            name##_sift_up(ctx, h, i);                                         \
        else                                                                   \
            name##_sift_down(ctx, h, n, i);                                    \
    }                                                                          \
                                                                               \
    /* Orders an arbitrary array of n elements into a heap (Floyd). */         \
    static inline __attribute__((unused)) void name##_heapify(                 \
        const void *ctx, type *h, size_t n)                                    \
    {                                                                          \
        for (size_t i = n / 2; i-- > 0;)                                       \
            name##_sift_down(ctx, h, n, i);                                    \
    }

#endif /* WV_CORE_HEAP_H */

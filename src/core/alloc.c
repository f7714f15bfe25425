/*
 * core/alloc.c - the allocator hook.
 *
 * The four function pointers are read with relaxed atomic loads: they are
 * set before weave is used (the documented contract), so no ordering is
 * needed, but the loads keep sanitizers quiet when a test swaps them while
 * an unrelated thread of a previous step is still winding down.
 */
#include "internal.h"

#include <stdlib.h>

static wv_malloc_fn hook_malloc = malloc;
static wv_realloc_fn hook_realloc = realloc;
static wv_calloc_fn hook_calloc = calloc;
static wv_free_fn hook_free = free;

int wv_set_allocator(wv_malloc_fn malloc_fn, wv_realloc_fn realloc_fn,
                     wv_calloc_fn calloc_fn, wv_free_fn free_fn)
{
    int given = !!malloc_fn + !!realloc_fn + !!calloc_fn + !!free_fn;

    if (given == 0) {
        malloc_fn = malloc;
        realloc_fn = realloc;
        calloc_fn = calloc;
        free_fn = free;
    } else if (given != 4) {
        return WV_EINVAL;
    }
    __atomic_store_n(&hook_malloc, malloc_fn, __ATOMIC_RELAXED);
    __atomic_store_n(&hook_realloc, realloc_fn, __ATOMIC_RELAXED);
    __atomic_store_n(&hook_calloc, calloc_fn, __ATOMIC_RELAXED);
    __atomic_store_n(&hook_free, free_fn, __ATOMIC_RELAXED);
    return 0;
}

void *wv__malloc(size_t size)
{
    return __atomic_load_n(&hook_malloc, __ATOMIC_RELAXED)(size);
}

void *wv__calloc(size_t count, size_t size)
{
    return __atomic_load_n(&hook_calloc, __ATOMIC_RELAXED)(count, size);
}

void *wv__realloc(void *ptr, size_t size)
{
    return __atomic_load_n(&hook_realloc, __ATOMIC_RELAXED)(ptr, size);
}

void wv__free(void *ptr)
{
    if (ptr)
        __atomic_load_n(&hook_free, __ATOMIC_RELAXED)(ptr);
}

void wv_free(void *p)
{
    wv__free(p);
}

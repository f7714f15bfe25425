/*
 * coro/ctx_sanitizer.c - the context switch as the sanitizers must see it.
 * Built only in sanitizer builds (WEAVE_SANITIZE); plain builds call the
 * CPU's switch directly (coro/internal.h).
 *
 * AddressSanitizer keeps shadow state per stack: every switch is announced
 * with __sanitizer_start_switch_fiber (the destination's stack bounds; the
 * place to keep the current fake stack) and confirmed on arrival with
 * __sanitizer_finish_switch_fiber, which also tells the bounds of the
 * stack we came from: that is how a thread's own stack, which nobody
 * measured, becomes known.  A new context's first code is ours (start),
 * which confirms its arrival before calling the real entry.
 *
 * ThreadSanitizer needs one fiber per context, created at make time,
 * switched to before each swap and destroyed by wv__ctx_destroy; a zeroed
 * context (a thread's own) adopts the thread's current fiber at its first
 * swap.  Switching with flags 0 makes each switch a synchronisation, which
 * it is: coroutines of one thread never run at the same time.
 */
#include "internal.h"

#if WEAVE_SANITIZER == 1
#include <sanitizer/asan_interface.h>
#define ASAN 1
#else
#define ASAN 0
#endif
#if WEAVE_SANITIZER == 2
#include <sanitizer/tsan_interface.h>
#define TSAN 1
#else
#define TSAN 0
#endif

/* The context being left by the swap in progress on this thread: its
 * arrival side records that context's stack bounds. */
static __thread wv__ctx_t *leaving;

static void arrived(void *fake_stack)
{
#if ASAN
    const void *lo = NULL;
    size_t size = 0;

    __sanitizer_finish_switch_fiber(fake_stack, &lo, &size);
    if (leaving && !leaving->stack_lo) {
        leaving->stack_lo = (void *)lo;
        leaving->stack_size = size;
    }
#else
    (void)fake_stack;
#endif
    leaving = NULL;
}

static void start(void *arg)
{
    wv__ctx_t *c = arg;

    arrived(NULL);
    c->entry(c->arg);
    wv__ctx_returned();
}

void wv__ctx_make(wv__ctx_t *c, void *stack_lo, size_t size,
                  void (*entry)(void *), void *arg)
{
    c->stack_lo = stack_lo;
    c->stack_size = size;
    c->fake_stack = NULL;
    c->entry = entry;
    c->arg = arg;
#if TSAN
    c->tsan_fiber = __tsan_create_fiber(0);
#else
    c->tsan_fiber = NULL;
#endif
    wv__ctx_make_raw(c, stack_lo, size, start, c);
}

static void swap(wv__ctx_t *from, wv__ctx_t *to, bool final)
{
    leaving = from;
#if ASAN
    __sanitizer_start_switch_fiber(final ? NULL : &from->fake_stack,
                                   to->stack_lo, to->stack_size);
#endif
#if TSAN
    if (!from->tsan_fiber)
        from->tsan_fiber = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    (void) final;
    wv__ctx_swap_raw(from, to);
    arrived(from->fake_stack);
}

void wv__ctx_swap(wv__ctx_t *from, wv__ctx_t *to)
{
    swap(from, to, false);
}

void wv__ctx_exit(wv__ctx_t *from, wv__ctx_t *to)
{
    swap(from, to, true);
    WV__ASSERT(!"a finished context was resumed");
}

void wv__ctx_destroy(wv__ctx_t *c)
{
#if TSAN
    if (c->tsan_fiber && c->entry) {
        __tsan_destroy_fiber(c->tsan_fiber);
        c->tsan_fiber = NULL;
    }
#endif
    (void)c;
}

/* A stack handed out again may carry the shadow poisoning of frames that
 * were abandoned on it (a finished coroutine never returns from them). */
void wv__san_stack_reset(void *lo, size_t size)
{
#if ASAN
    __asan_unpoison_memory_region(lo, size);
#endif
    (void)lo;
    (void)size;
}

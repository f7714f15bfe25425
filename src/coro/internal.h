/*
 * coro/internal.h - the lowest piece of the coroutine layer: execution
 * contexts and the stacks they run on.  Nothing here schedules; the
 * scheduler (next) builds coroutines out of one context and one stack each.
 * docs/coro.md explains what is saved, why, and the rejected designs.
 *
 * Contexts (coro/arch/<cpu>.S, or coro/arch/ucontext.c elsewhere)
 *   A wv__ctx_t holds a suspended execution: its stack pointer, below which
 *   the callee-saved registers of the ABI were pushed by wv__ctx_swap.  A
 *   context to be saved into (a thread's own, before its first swap) is
 *   simply zeroed: WV__CTX_INIT.  A context to be started is made with
 *   wv__ctx_make on a stack.  Contexts never migrate between threads.
 *
 * Stacks (coro/stack.c, coro/guard_linux.c)
 *   mmap'd, a PROT_NONE guard page below, pages touched lazily; a bounded
 *   per-thread pool of default-size stacks for reuse, unmapped when the
 *   thread exits.  Overflowing into the guard page kills the program with
 *   `weave: stack overflow in coroutine "NAME"` on stderr, by SIGSEGV.
 */
#ifndef WV_CORO_INTERNAL_H
#define WV_CORO_INTERNAL_H

#include "../core/internal.h"

#include <stddef.h>
#include <stdint.h>

/* -------------------------------------------------------------- contexts */

/*
 * A suspended execution.  Only `sp` is read by the switch code (at offset
 * 0, hard-coded in coro/arch/); the other fields serve the sanitizers and
 * are unused in plain builds.
 */
typedef struct wv__ctx {
    void *sp;              /* saved stack pointer (arch), or ucontext_t * */
    void *stack_lo;        /* [san] lowest byte of its stack; NULL unknown */
    size_t stack_size;     /* [san] bytes of its stack */
    void *fake_stack;      /* [san] ASan's fake stack while suspended */
    void *tsan_fiber;      /* [san] TSan's fiber; NULL = the thread's own */
    void (*entry)(void *); /* [san] what wv__ctx_make was given */
    void *arg;             /* [san] */
} wv__ctx_t;

#define WV__CTX_INIT                                                           \
    {                                                                          \
        0                                                                      \
    }

/*
 * Makes `c` a context that, when first switched to, calls entry(arg) on
 * the stack [stack_lo, stack_lo + size).  The stack must be at least 4 KiB.
 * entry must never return: it ends by switching away for good
 * (wv__ctx_exit); if it returns, the program aborts with a message.
 * The first 100-odd bytes at the top of the stack hold the initial frame.
 */
void wv__ctx_make(wv__ctx_t *c, void *stack_lo, size_t size,
                  void (*entry)(void *), void *arg);

/*
 * Saves the running execution into `from` and resumes `to`; returns when
 * something switches back to `from`.  Saved and restored: exactly what the
 * ABI calls callee-saved (x86_64: rbx, rbp, r12-r15, rsp, MXCSR and the x87
 * control word; aarch64: x19-x29, lr, sp, d8-d15, FPCR).  The signal mask
 * is not touched: it belongs to the thread.  from != to.
 */
void wv__ctx_swap(wv__ctx_t *from, wv__ctx_t *to);

/*
 * Like wv__ctx_swap, for the last time: `from` will never be resumed (its
 * coroutine is finished).  Lets the sanitizers drop its fake stack.
 */
void wv__ctx_exit(wv__ctx_t *from, wv__ctx_t *to);

/* Releases what the sanitizers hold for a made context that is not
 * running (TSan's fiber).  No-op in plain builds.  Idempotent. */
void wv__ctx_destroy(wv__ctx_t *c);

/*
 * Returns fn(a0, a1, a2, a3) to the caller by an indirect jump instead of
 * a `ret` where that matters (x86_64; elsewhere a plain or tail call).
 * For the calls that park a coroutine and return into the caller's code
 * after the switch (channels, coro/chan.c): there the return address
 * predictor holds the other coroutine's return chain, and a `ret` into a
 * different caller is mispredicted.  coro/arch/x86_64.S says more.
 */
typedef int wv__jumpback_fn(void *a0, void *a1, void *a2, int64_t a3);
int wv__call_jumpback(void *a0, void *a1, void *a2, int64_t a3,
                      wv__jumpback_fn *fn);

/* The CPU's switch itself, under the sanitizer wrappers (coro/arch/). */
void wv__ctx_swap_raw(wv__ctx_t *from, wv__ctx_t *to);
void wv__ctx_make_raw(wv__ctx_t *c, void *stack_lo, size_t size,
                      void (*entry)(void *), void *arg);
/* Called by the arch trampoline when an entry function returns. */
__attribute__((noreturn, cold)) void wv__ctx_returned(void);

/* Plain builds call the CPU's switch directly: no wrapper, no extra call.
 * Sanitizer builds go through coro/ctx_sanitizer.c. */
#if WEAVE_SANITIZER
void wv__san_stack_reset(void *lo, size_t size);
#else
#define wv__ctx_swap(from, to) wv__ctx_swap_raw(from, to)
#define wv__ctx_exit(from, to) wv__ctx_swap_raw(from, to)
#define wv__ctx_make(c, lo, size, entry, arg)                                  \
    wv__ctx_make_raw(c, lo, size, entry, arg)
#define wv__ctx_destroy(c)            ((void)(c))
#define wv__san_stack_reset(lo, size) ((void)(lo), (void)(size))
#endif

/* ---------------------------------------------------------------- stacks */

/* Default usable size: virtual memory reserved, touched page by page. */
#define WV__STACK_DEFAULT (256u * 1024u)
/* Default-size stacks each thread keeps for reuse. */
#define WV__STACK_POOL 64
/* Bytes of a coroutine name kept for the overflow message (with NUL). */
#define WV__STACK_NAME 48

/*
 * A stack.  Descriptors are type-stable: never returned to any allocator,
 * only recycled, so the SIGSEGV handler may read any of them at any time.
 */
typedef struct wv__stack {
    void *lo;                  /* lowest usable byte, above the guard */
    size_t size;               /* usable bytes, a multiple of the page */
    uintptr_t guard;           /* guard page address; 0 = not registered */
    struct wv__stack *next;    /* [registry] hash chain, or free list */
    unsigned valgrind_id;      /* valgrind's stack id, when registered */
    char name[WV__STACK_NAME]; /* for the overflow message */
} wv__stack_t;

/*
 * A stack of `size` usable bytes (0 = WV__STACK_DEFAULT; rounded up to the
 * page size), from this thread's pool when it has one of that size.  Its
 * name is "?" until set.  Returns 0, WV_EINVAL (size over 1 GiB) or
 * WV_ENOMEM (no address space or no mapping left: vm.max_map_count).
 */
int wv__stack_new(wv__stack_t **out, size_t size);

/* Gives st back: to this thread's pool, or to the system.  NULL: no-op. */
void wv__stack_free(wv__stack_t *st);

/* Names st's coroutine for the overflow message (truncated, copied). */
void wv__stack_set_name(wv__stack_t *st, const char *name);

/* Process-wide counters, for tests and benchmarks. */
typedef struct wv__stack_stats {
    long mapped; /* stacks mapped now (in use or pooled) */
    long maps;   /* mmap calls made for stacks, ever */
    long reused; /* stacks handed out from a pool, ever */
} wv__stack_stats_t;
void wv__stack_stats(wv__stack_stats_t *out);

/* Unmaps the calling thread's pool now (done at thread exit anyway). */
void wv__stack_pool_drain(void);

/* ------------------------------------------- guard pages (guard_linux.c) */

/*
 * The registry of guard pages read by the SIGSEGV handler.  register puts
 * st (with st->guard set) in it and, on first use, installs the handler;
 * each thread that registers gets an alternate signal stack unless it has
 * one.  Both return 0 or WV_ENOMEM; unregister cannot fail.
 */
int wv__guard_register(wv__stack_t *st);
void wv__guard_unregister(wv__stack_t *st);
/* A type-stable descriptor, zeroed; NULL when out of memory. */
wv__stack_t *wv__guard_desc_new(void);
void wv__guard_desc_free(wv__stack_t *st);
/* Frees the calling thread's alternate signal stack if weave made it. */
void wv__guard_thread_exit(void);

/* ------------------------------------------------------------ scheduler */

/* Frees the calling thread's cache of finished coroutine records (tests:
 * the allocation counter then sees only what is in use). */
void wv__sched_trim(void);

/* Ends the idle helper threads of coroutines' shared-futex waits
 * (coro/wordwait_linux.c) now rather than after their idle time: for
 * tests that count threads. */
void wv__word_wait_drain(void);

/* Test hook: a helper woken on its shared word sleeps `us` microseconds
 * before it answers, as if preempted there, so that a time-out or cancel
 * of its coroutine can be made to win the race (0: off). */
void wv__fault_word_wait_delay(unsigned us);

/* Test hook: armed (true), the next helper to take a request stops
 * between its look at the request's state and its sleep on the word,
 * as if preempted there, until the hook is turned off (false), which
 * lets it go.  wv__word_wait_held tells when a helper is held there. */
void wv__fault_word_wait_hold(bool on);
bool wv__word_wait_held(void);

/* The number of idle helper threads (a helper is idle again once it
 * has left its request for good). */
unsigned wv__word_wait_idle(void);

/* -------------------------------------------------------------- channels */

struct wv_chan;

/* Parties waiting in ch's queue of senders (op WV_CHAN_SEND) or receivers
 * (WV_CHAN_RECV), stale select entries not counted: a test aid, takes the
 * channel's lock. */
unsigned wv__chan_waiting(struct wv_chan *ch, int op);

/* Whose ch's lock is (coro/bias.h): 1 biased to the calling thread, 2
 * biased to another, 0 not yet locked or shared by all.  A test aid. */
int wv__chan_bias(const struct wv_chan *ch);

/* ---------------------------------------------------------------- groups */

struct wv_group;

/* How many members a group's list holds, counted under its lock, and how
 * its lock is biased (as wv__chan_bias).  Test aids. */
size_t wv__group_members(struct wv_group *g);
int wv__group_bias(const struct wv_group *g);

#endif /* WV_CORO_INTERNAL_H */

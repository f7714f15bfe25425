/*
 * coro/arch/ucontext.c - the portable context switch, for CPUs without an
 * assembly one: getcontext/makecontext/swapcontext.  About 30x slower than
 * the assembly (swapcontext saves the whole FP environment and makes a
 * sigprocmask system call every swap), but correct anywhere glibc runs.
 *
 * A suspended context's ucontext_t lives on its own stack, in the frame of
 * the wv__ctx_swap_raw call that suspended it, just as the assembly
 * versions push registers there: ctx->sp points at it.  A made context's
 * first ucontext_t is carved from the top of its stack.
 */
#include "../internal.h"

#include <stdint.h>
#include <ucontext.h>

typedef struct start {
    ucontext_t uc;
    void (*entry)(void *);
    void *arg;
} start_t;

/* makecontext passes ints: the start record's address comes in halves. */
static void trampoline(unsigned hi, unsigned lo)
{
    start_t *s = (start_t *)(((uintptr_t)hi << 32) | (uintptr_t)lo);

    s->entry(s->arg);
    wv__ctx_returned();
}

void wv__ctx_make_raw(wv__ctx_t *c, void *stack_lo, size_t size,
                      void (*entry)(void *), void *arg)
{
    uintptr_t top =
        ((uintptr_t)stack_lo + size - sizeof(start_t)) & ~(uintptr_t)63;
    start_t *s = (start_t *)top;
    int r = getcontext(&s->uc);

    WV__ASSERT(r == 0);
    s->uc.uc_stack.ss_sp = stack_lo;
    s->uc.uc_stack.ss_size = top - (uintptr_t)stack_lo;
    s->uc.uc_link = NULL;
    s->entry = entry;
    s->arg = arg;
    makecontext(&s->uc, (void (*)(void))trampoline, 2,
                (unsigned)((uintptr_t)s >> 32), (unsigned)(uintptr_t)s);
    c->sp = &s->uc;
}

void wv__ctx_swap_raw(wv__ctx_t *from, wv__ctx_t *to)
{
    ucontext_t here;
    int r;

    from->sp = &here;
    r = swapcontext(&here, (ucontext_t *)to->sp);
    WV__ASSERT(r == 0);
}

/* A plain call here (see arch/x86_64.S for what it saves there). */
int wv__call_jumpback(void *a0, void *a1, void *a2, int64_t a3,
                      wv__jumpback_fn *fn)
{
    return fn(a0, a1, a2, a3);
}

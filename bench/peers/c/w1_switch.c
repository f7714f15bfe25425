/*
 * bench/peers/c/w1_switch.c - W1 for raw C: two contexts on one thread
 * hand control to each other, S switches in all (S/2 by each side).
 *
 *  c-asm       a hand-written x86_64 switch: push rbp, rbx, r12-r15; save
 *              rsp; load the other's rsp; pop; ret.  No FPU/SSE control
 *              word, no signal mask: the raw lower bound.  S = 10M.  On
 *              other architectures it says so and exits 2 (the runner
 *              reports it as NA).
 *  c-ucontext  glibc swapcontext, which also saves the FP environment and
 *              makes an rt_sigprocmask system call every swap.  S = 2M.
 *
 * The two sides are the thread's own context and one coroutine on a
 * malloc'd stack; each counts its switches and checks, after every switch,
 * that the other side ran in between.  Timed: the S switches only (the
 * coroutine is made and entered once before).
 *
 *   peer-c-w1 [c-asm c-ucontext]
 *
 * runs the named peers (all if none).
 */
#include "common.h"

#include <ucontext.h>

#define RUNS  5
#define STACK (64 << 10)

/* The state both sides share: whose turn it is, and how many switches
 * each side made. */
static long s_half;        /* switches per side in this run */
static long s_count[2];    /* [0] the thread's context, [1] the coroutine */
static int s_turn;         /* the side that runs now */
static long s_out_of_turn; /* switches after which the other had not run */

static void took_turn(int me)
{
    s_out_of_turn += s_turn == me; /* the other did not run in between */
    s_turn = me;
    s_count[me]++;
}

/* ------------------------------------------------------------- c-asm */

#if defined(__x86_64__)

/* asm_switch(save, to): pushes the callee-saved registers on the current
 * stack, stores the stack pointer in *save, loads `to` and pops the other
 * context's registers; `ret` resumes it where it called asm_switch. */
void asm_switch(void **save, void *to);
__asm__(".text\n"
        ".p2align 4\n"
        ".type asm_switch, @function\n"
        "asm_switch:\n"
        "\tpushq %rbp\n"
        "\tpushq %rbx\n"
        "\tpushq %r12\n"
        "\tpushq %r13\n"
        "\tpushq %r14\n"
        "\tpushq %r15\n"
        "\tmovq %rsp, (%rdi)\n"
        "\tmovq %rsi, %rsp\n"
        "\tpopq %r15\n"
        "\tpopq %r14\n"
        "\tpopq %r13\n"
        "\tpopq %r12\n"
        "\tpopq %rbx\n"
        "\tpopq %rbp\n"
        "\tret\n"
        ".size asm_switch, .-asm_switch\n");

static void *asm_main_sp, *asm_coro_sp;

static void asm_coro_entry(void)
{
    for (;;) { /* never returns: the thread switches away for good */
        took_turn(1);
        asm_switch(&asm_coro_sp, asm_main_sp);
    }
}

static char *asm_stack;

/* A fresh coroutine whose first asm_switch "returns" into asm_coro_entry
 * with the stack aligned as at a function's entry. */
static void asm_coro_make(void)
{
    uintptr_t top = ((uintptr_t)asm_stack + STACK) & ~(uintptr_t)15;
    void **sp = (void **)top;
    *--sp = NULL;                   /* asm_coro_entry's "return address" */
    *--sp = (void *)asm_coro_entry; /* popped by ret */
    for (int i = 0; i < 6; i++)
        *--sp = NULL; /* rbp, rbx, r12-r15 */
    asm_coro_sp = sp;
}

static double asm_once(void)
{
    asm_coro_make();
    s_turn = 0;
    s_count[0] = s_count[1] = 0;
    s_out_of_turn = 0;
    asm_switch(&asm_main_sp, asm_coro_sp); /* enter it once, untimed */
    BENCH_CHECK(s_count[1] == 1);
    s_count[1] = 0; /* s_turn stays 1: the coroutine ran last */
    double t0 = bench_now();
    for (long i = 0; i < s_half; i++) {
        took_turn(0);
        asm_switch(&asm_main_sp, asm_coro_sp);
    }
    double t1 = bench_now();
    BENCH_CHECK(s_count[0] == s_half && s_count[1] == s_half);
    BENCH_CHECK(s_out_of_turn == 0);
    return (t1 - t0) * 1e9 / (double)(2 * s_half);
}

static int asm_supported(void)
{
    asm_stack = malloc(STACK);
    BENCH_CHECK(asm_stack != NULL);
    return 1;
}

#else

static double asm_once(void)
{
    return 0;
}

static int asm_supported(void)
{
    fprintf(stderr, "c-asm: the hand-written switch is x86_64 only\n");
    return 0;
}

#endif

/* --------------------------------------------------------- c-ucontext */

static ucontext_t uc_main, uc_coro;

static void uc_coro_entry(void)
{
    for (;;) {
        took_turn(1);
        BENCH_CHECK(swapcontext(&uc_coro, &uc_main) == 0);
    }
}

static char *uc_stack;

static double uc_once(void)
{
    BENCH_CHECK(getcontext(&uc_coro) == 0);
    uc_coro.uc_stack.ss_sp = uc_stack;
    uc_coro.uc_stack.ss_size = STACK;
    uc_coro.uc_link = NULL;
    makecontext(&uc_coro, uc_coro_entry, 0);
    s_turn = 0;
    s_count[0] = s_count[1] = 0;
    s_out_of_turn = 0;
    BENCH_CHECK(swapcontext(&uc_main, &uc_coro) == 0); /* untimed entry */
    BENCH_CHECK(s_count[1] == 1);
    s_count[1] = 0; /* s_turn stays 1: the coroutine ran last */
    double t0 = bench_now();
    for (long i = 0; i < s_half; i++) {
        took_turn(0);
        swapcontext(&uc_main, &uc_coro);
    }
    double t1 = bench_now();
    BENCH_CHECK(s_count[0] == s_half && s_count[1] == s_half);
    BENCH_CHECK(s_out_of_turn == 0);
    return (t1 - t0) * 1e9 / (double)(2 * s_half);
}

static int uc_supported(void)
{
    uc_stack = malloc(STACK);
    BENCH_CHECK(uc_stack != NULL);
    return 1;
}

/* ------------------------------------------------------------- driver */

static const struct peer {
    const char *name;
    long switches; /* S */
    int (*supported)(void);
    double (*once)(void);
} peers[] = {
    {"c-asm", 10000000L, asm_supported, asm_once},
    {"c-ucontext", 2000000L, uc_supported, uc_once},
};
#define NPEERS (int)(sizeof peers / sizeof peers[0])

static int measure(const struct peer *p)
{
    double runs[RUNS];
    if (!p->supported())
        return 2;
    s_half = p->switches / 2;
    p->once(); /* warm-up */
    for (int i = 0; i < RUNS; i++)
        runs[i] = p->once();
    bench_report("W1", p->name, "switch", runs, RUNS, "ns");
    return 0;
}

int main(int argc, char **argv)
{
    int status = 0;
    for (int a = 1; a < argc; a++) {
        int i = 0;
        while (i < NPEERS && strcmp(peers[i].name, argv[a]) != 0)
            i++;
        if (i == NPEERS) {
            fprintf(stderr, "unknown peer %s\n", argv[a]);
            return 2;
        }
        status |= measure(&peers[i]);
    }
    if (argc == 1)
        for (int i = 0; i < NPEERS; i++)
            status |= measure(&peers[i]);
    return status;
}

/*
 * bench/peers/c/w3_chan.c - W3's floor in raw C: the same ping-pong of two
 * coroutines over two unbuffered channels, with the least a stackful
 * design can do, to show what weave's generality costs on top of it.
 *
 *  c-asm-chan  two contexts on the x86_64 switch of weave's own shape
 *              (rbp, rbx, r12-r15, MXCSR and the x87 control word), a
 *              run queue, and a "channel" that is one slot per direction:
 *              send hands the value to a waiting receiver and makes it
 *              runnable, or parks; recv takes from a waiting sender or
 * parks.  No lock, no select, no close, no deadline, no
 *              cancellation, one waiter per side: a toy, and the lower
 *              bound.  send and recv are out of line and not cloned
 *              (noipa), as a library's are: each switch returns into
 *              the same place in recv, then into a different caller, as
 *              weave's do.  (Cloned per channel by gcc -O3, each side
 *              parks in its own copy and the switch's own return is
 *              mispredicted too: 42 ns instead of 30.)  T = 1M.  On other CPUs
 * it says so and exits 2 (NA).
 *
 * One round trip: A sends i on ping, B receives it and sends it back on
 * pong, A receives and checks it; B is started first and waits.  Timed in
 * A from its first send to its last receive.
 *
 *   peer-c-w3 [c-asm-chan]
 */
#include "common.h"

#define RUNS  5
#define T     1000000L
#define STACK (64 << 10)

#if defined(__x86_64__)

struct co {
    void *sp;
    struct co *next;
};

/* toy_switch(from, to): weave's switch (src/coro/arch/x86_64.S), less
 * its comments. */
void toy_switch(struct co *from, struct co *to);
__asm__(".text\n"
        ".p2align 4\n"
        ".type toy_switch, @function\n"
        "toy_switch:\n"
        "\tpushq %rbp\n"
        "\tpushq %rbx\n"
        "\tpushq %r12\n"
        "\tpushq %r13\n"
        "\tpushq %r14\n"
        "\tpushq %r15\n"
        "\tsubq $8, %rsp\n"
        "\tstmxcsr (%rsp)\n"
        "\tfnstcw 4(%rsp)\n"
        "\tmovq %rsp, (%rdi)\n"
        "\tmovq (%rsi), %rsp\n"
        "\tldmxcsr (%rsp)\n"
        "\tfldcw 4(%rsp)\n"
        "\taddq $8, %rsp\n"
        "\tpopq %r15\n"
        "\tpopq %r14\n"
        "\tpopq %r13\n"
        "\tpopq %r12\n"
        "\tpopq %rbx\n"
        "\tpopq %rbp\n"
        "\tret\n"
        ".size toy_switch, .-toy_switch\n"
        /* first code of a context: r12(r13), which never returns */
        ".type toy_trampoline, @function\n"
        "toy_trampoline:\n"
        "\tmovq %r13, %rdi\n"
        "\tcallq *%r12\n"
        "\tud2\n"
        ".size toy_trampoline, .-toy_trampoline\n");
extern char toy_trampoline[];

static struct co *cur, *rq_head, *rq_tail;

static void rq_push(struct co *c)
{
    c->next = NULL;
    if (rq_tail)
        rq_tail->next = c;
    else
        rq_head = c;
    rq_tail = c;
}

static void park(void)
{
    struct co *next = rq_head, *prev = cur;
    BENCH_CHECK(next != NULL);
    rq_head = next->next;
    if (!rq_head)
        rq_tail = NULL;
    cur = next;
    toy_switch(prev, next);
}

/* Out of line and one copy each: gcc's noipa (it would clone them per
 * channel otherwise); clang has no such attribute and does not clone. */
#if defined(__clang__)
#define NOT_CLONED __attribute__((noinline))
#else
#define NOT_CLONED __attribute__((noipa))
#endif

struct waiter {
    struct co *co;
    long *val;
};

struct chan {
    struct waiter *recvq, *sendq; /* one waiting party per side */
};

static NOT_CLONED int toy_send(struct chan *ch, long v)
{
    struct waiter *w = ch->recvq;
    if (w) {
        ch->recvq = NULL;
        *w->val = v;
        rq_push(w->co);
        return 0;
    }
    struct waiter me = {cur, &v};
    ch->sendq = &me;
    park();
    return 0;
}

static NOT_CLONED int toy_recv(struct chan *ch, long *out)
{
    struct waiter *w = ch->sendq;
    if (w) {
        ch->sendq = NULL;
        *out = *w->val;
        rq_push(w->co);
        return 0;
    }
    struct waiter me = {cur, out};
    ch->recvq = &me;
    park();
    return 0;
}

static struct chan ping, pong;
static struct co main_co, co_a, co_b;
static long echoed;
static double t0, t1;

static void echo(void *arg) /* B */
{
    (void)arg;
    for (long i = 0; i < T; i++) {
        long v;
        BENCH_CHECK(toy_recv(&ping, &v) == 0);
        BENCH_CHECK(toy_send(&pong, v) == 0);
        echoed++;
    }
    park(); /* never resumed */
}

static void pinger(void *arg) /* A */
{
    (void)arg;
    t0 = bench_now();
    for (long i = 0; i < T; i++) {
        long v = -1;
        BENCH_CHECK(toy_send(&ping, i) == 0);
        BENCH_CHECK(toy_recv(&pong, &v) == 0);
        BENCH_CHECK(v == i);
    }
    t1 = bench_now();
    rq_push(&main_co);
    park(); /* never resumed */
}

/* A fresh context whose first toy_switch "returns" into the trampoline,
 * with the frame toy_switch pops: FP word, r15-r12, rbx, rbp, return. */
static void make(struct co *c, char *stack, void (*fn)(void *))
{
    uintptr_t top = ((uintptr_t)stack + STACK) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)top;
    uint32_t mxcsr;
    uint16_t fpcw;

    __asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mxcsr), "=m"(fpcw));
    *--sp = 0;                            /* pad */
    *--sp = 0;                            /* the trampoline's return address */
    *--sp = (uintptr_t)toy_trampoline;    /* popped by ret */
    *--sp = 0;                            /* rbp */
    *--sp = 0;                            /* rbx */
    *--sp = (uintptr_t)fn;                /* r12 */
    *--sp = 0;                            /* r13: the argument */
    *--sp = 0;                            /* r14 */
    *--sp = 0;                            /* r15 */
    *--sp = mxcsr | (uint64_t)fpcw << 32; /* MXCSR, x87 control word */
    c->sp = sp;
}

static double once(char *stack_a, char *stack_b)
{
    echoed = 0;
    make(&co_b, stack_b, echo);
    make(&co_a, stack_a, pinger);
    rq_push(&co_b); /* B first: it waits on ping when A starts */
    rq_push(&co_a);
    cur = &main_co;
    park(); /* back when A is done */
    BENCH_CHECK(echoed == T);
    BENCH_CHECK(!ping.recvq && !ping.sendq && !pong.recvq && !pong.sendq);
    return (t1 - t0) * 1e9 / (double)T;
}

static int run(void)
{
    char *a = malloc(STACK), *b = malloc(STACK);
    double runs[RUNS];

    BENCH_CHECK(a && b);
    once(a, b); /* warm-up */
    for (int i = 0; i < RUNS; i++) {
        ping.recvq = ping.sendq = pong.recvq = pong.sendq = NULL;
        runs[i] = once(a, b);
    }
    free(a);
    free(b);
    bench_report("W3", "c-asm-chan", "roundtrip", runs, RUNS, "ns");
    return 0;
}

#else

static int run(void)
{
    fprintf(stderr, "c-asm-chan: the hand-written switch is x86_64 only\n");
    return 2;
}

#endif

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "c-asm-chan") != 0) {
            fprintf(stderr, "usage: peer-c-w3 [c-asm-chan]\n");
            return 2;
        }
    return run();
}

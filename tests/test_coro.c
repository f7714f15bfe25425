/*
 * tests/test_coro.c - the coroutine layer's base: context switch, stacks,
 * guard pages.
 */
#include "coro/internal.h"
#include "runner.h"

#include <fcntl.h>
#include <fenv.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if WEAVE_SANITIZER == 2
#define TSAN_BUILD 1
#else
#define TSAN_BUILD 0
#endif

#if TSAN_BUILD
/* TSan's own SIGSEGV handler would report a stack overflow before weave's
 * handler (which TSan keeps in a table of its own) could name the
 * coroutine: leave SIGSEGV to the program. */
const char *__tsan_default_options(void);
__attribute__((visibility("default"))) const char *__tsan_default_options(void)
{
    return "handle_segv=0";
}
#endif

/* A context with its own stack, for tests. */
typedef struct co {
    wv__ctx_t ctx;
    wv__stack_t *stack;
} co_t;

static wv__ctx_t main_ctx;

static void co_start(co_t *co, void (*fn)(void *), void *arg)
{
    WVT_OK(wv__stack_new(&co->stack, 0));
    wv__ctx_make(&co->ctx, co->stack->lo, co->stack->size, fn, arg);
}

static void co_end(co_t *co)
{
    wv__ctx_destroy(&co->ctx);
    wv__stack_free(co->stack);
}

/* ------------------------------------------------------------ ping-pong */

static co_t pinger;
static volatile long shared_value;

static void ping_body(void *arg)
{
    long n = (long)arg;

    for (long i = 0; i < n; i++) {
        WVT_EQ(shared_value, 2 * i);
        shared_value = 2 * i + 1;
        wv__ctx_swap(&pinger.ctx, &main_ctx);
    }
    shared_value = -1;
    wv__ctx_exit(&pinger.ctx, &main_ctx);
}

WVT_TEST(coro_ping_pong)
{
    long n = wvt_scale(250000);

    shared_value = 0;
    co_start(&pinger, ping_body, (void *)n);
    for (long i = 0; i < n; i++) {
        wv__ctx_swap(&main_ctx, &pinger.ctx);
        WVT_EQ(shared_value, 2 * i + 1);
        shared_value = 2 * i + 2;
    }
    wv__ctx_swap(&main_ctx, &pinger.ctx);
    WVT_EQ(shared_value, -1);
    co_end(&pinger);
}

/* ---------------------------------------------------- wv__call_jumpback */

static int jb_sum(void *a0, void *a1, void *a2, int64_t a3)
{
    return (int)((intptr_t)a0 + 2 * (intptr_t)a1 + 4 * (intptr_t)a2 + 8 * a3);
}

/* Switches from `from` to `to`; returns ret once switched back to. */
static int jb_swap(void *from, void *to, void *unused, int64_t ret)
{
    (void)unused;
    wv__ctx_swap(from, to);
    return (int)ret;
}

static long jb_wrong;

static void jb_body(void *arg)
{
    long n = (long)arg;
    for (long i = 0; i < n; i++)
        if (wv__call_jumpback(&pinger.ctx, &main_ctx, NULL, i, jb_swap) != i)
            jb_wrong++;
    wv__ctx_exit(&pinger.ctx, &main_ctx);
}

/* The return of a park that switched (channels use it): every result gets
 * back to its own caller, two contexts parking through it from different
 * call sites, as a ping-pong over channels does. */
WVT_TEST(coro_call_jumpback)
{
    long n = wvt_scale(100000);

    WVT_EQ(wv__call_jumpback((void *)1, (void *)2, (void *)3, 4, jb_sum),
           1 + 4 + 12 + 32);
    jb_wrong = 0;
    co_start(&pinger, jb_body, (void *)n);
    for (long i = 0; i <= n; i++)
        WVT_EQ(wv__call_jumpback(&main_ctx, &pinger.ctx, NULL, -i, jb_swap),
               -i);
    WVT_EQ(jb_wrong, 0);
    co_end(&pinger);
}

/* -------------------------------------------- callee-saved registers */

#if defined(__x86_64__) || defined(__aarch64__)
/* The swap as the library's callers see it (sanitizer wrappers included),
 * callable from assembly. */
void probe_swap(wv__ctx_t *from, wv__ctx_t *to);
__attribute__((used, noinline)) void probe_swap(wv__ctx_t *from, wv__ctx_t *to)
{
    wv__ctx_swap(from, to);
}
#endif

#if defined(__x86_64__)

/*
 * uint64_t regs_probe(wv__ctx_t *from, wv__ctx_t *to, uint64_t seed):
 * loads seed+0..5 into rbx, r12-r15 and rbp, swaps from -> to, and on
 * return gives a bit mask of the registers that no longer hold their value
 * (0 = all preserved).  A function of its own, so that its pushes and call
 * cannot disturb compiler-managed stack slots.
 */
__asm__(".text\n"
        ".type regs_probe, @function\n"
        "regs_probe:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n"
        "  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  subq $8, %rsp\n"
        "  movq %rdx, (%rsp)\n"
        "  movq %rdx, %rbx\n"
        "  leaq 1(%rdx), %r12\n  leaq 2(%rdx), %r13\n"
        "  leaq 3(%rdx), %r14\n  leaq 4(%rdx), %r15\n"
        "  leaq 5(%rdx), %rbp\n"
        "  call probe_swap\n"
        "  movq (%rsp), %rdx\n"
        "  xorl %eax, %eax\n"
        "  cmpq %rdx, %rbx\n  setne %al\n"
        "  leaq 1(%rdx), %rcx\n  cmpq %rcx, %r12\n  setne %cl\n"
        "  shlb $1, %cl\n  orb %cl, %al\n"
        "  leaq 2(%rdx), %rcx\n  cmpq %rcx, %r13\n  setne %cl\n"
        "  shlb $2, %cl\n  orb %cl, %al\n"
        "  leaq 3(%rdx), %rcx\n  cmpq %rcx, %r14\n  setne %cl\n"
        "  shlb $3, %cl\n  orb %cl, %al\n"
        "  leaq 4(%rdx), %rcx\n  cmpq %rcx, %r15\n  setne %cl\n"
        "  shlb $4, %cl\n  orb %cl, %al\n"
        "  leaq 5(%rdx), %rcx\n  cmpq %rcx, %rbp\n  setne %cl\n"
        "  shlb $5, %cl\n  orb %cl, %al\n"
        "  addq $8, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n"
        "  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size regs_probe, .-regs_probe\n");
uint64_t regs_probe(wv__ctx_t *from, wv__ctx_t *to, uint64_t seed);
#define HAVE_REGS_PROBE 1
#elif defined(__aarch64__)
/*
 * The same for aarch64: seed+0..9 in x19-x28, seed+10..17 in d8-d15 (as
 * bit patterns), then the swap; bit i of the result: register i of that
 * list lost its value.
 */
__asm__(".text\n"
        ".type regs_probe, %function\n"
        "regs_probe:\n"
        "  stp x29, x30, [sp, #-176]!\n"
        "  stp x19, x20, [sp, #16]\n  stp x21, x22, [sp, #32]\n"
        "  stp x23, x24, [sp, #48]\n  stp x25, x26, [sp, #64]\n"
        "  stp x27, x28, [sp, #80]\n  stp d8, d9, [sp, #96]\n"
        "  stp d10, d11, [sp, #112]\n  stp d12, d13, [sp, #128]\n"
        "  stp d14, d15, [sp, #144]\n  str x2, [sp, #160]\n"
        "  add x19, x2, #0\n"
        "  add x20, x2, #1\n"
        "  add x21, x2, #2\n"
        "  add x22, x2, #3\n"
        "  add x23, x2, #4\n"
        "  add x24, x2, #5\n"
        "  add x25, x2, #6\n"
        "  add x26, x2, #7\n"
        "  add x27, x2, #8\n"
        "  add x28, x2, #9\n"
        "  add x9, x2, #10\n  fmov d8, x9\n"
        "  add x9, x2, #11\n  fmov d9, x9\n"
        "  add x9, x2, #12\n  fmov d10, x9\n"
        "  add x9, x2, #13\n  fmov d11, x9\n"
        "  add x9, x2, #14\n  fmov d12, x9\n"
        "  add x9, x2, #15\n  fmov d13, x9\n"
        "  add x9, x2, #16\n  fmov d14, x9\n"
        "  add x9, x2, #17\n  fmov d15, x9\n"
        "  bl probe_swap\n"
        "  ldr x2, [sp, #160]\n  mov x0, #0\n"
        "  add x9, x2, #0\n  cmp x19, x9\n  cset x10, ne\n  orr x0, x0, x10, "
        "lsl #0\n"
        "  add x9, x2, #1\n  cmp x20, x9\n  cset x10, ne\n  orr x0, x0, x10, "
        "lsl #1\n"
        "  add x9, x2, #2\n  cmp x21, x9\n  cset x10, ne\n  orr x0, x0, x10, "
        "lsl #2\n"
        "  add x9, x2, #3\n  cmp x22, x9\n  cset x10, ne\n  orr x0, x0, x10, "
        "lsl #3\n"
        "  add x9, x2, #4\n  cmp x23, x9\n  cset x10, ne\n  orr x0, x0, x10, "
        "lsl #4\n"
        "  add x9, x2, #5\n  cmp x24, x9\n  cset x10, ne\n  orr x0, x0, x10, "
        "lsl #5\n"
        "  add x9, x2, #6\n  cmp x25, x9\n  cset x10, ne\n  orr x0, x0, x10, "
        "lsl #6\n"
        "  add x9, x2, #7\n  cmp x26, x9\n  cset x10, ne\n  orr x0, x0, x10, "
        "lsl #7\n"
        "  add x9, x2, #8\n  cmp x27, x9\n  cset x10, ne\n  orr x0, x0, x10, "
        "lsl #8\n"
        "  add x9, x2, #9\n  cmp x28, x9\n  cset x10, ne\n  orr x0, x0, x10, "
        "lsl #9\n"
        "  add x9, x2, #10\n  fmov x11, d8\n  cmp x11, x9\n  cset x10, ne\n  "
        "orr x0, x0, x10, lsl #10\n"
        "  add x9, x2, #11\n  fmov x11, d9\n  cmp x11, x9\n  cset x10, ne\n  "
        "orr x0, x0, x10, lsl #11\n"
        "  add x9, x2, #12\n  fmov x11, d10\n  cmp x11, x9\n  cset x10, ne\n  "
        "orr x0, x0, x10, lsl #12\n"
        "  add x9, x2, #13\n  fmov x11, d11\n  cmp x11, x9\n  cset x10, ne\n  "
        "orr x0, x0, x10, lsl #13\n"
        "  add x9, x2, #14\n  fmov x11, d12\n  cmp x11, x9\n  cset x10, ne\n  "
        "orr x0, x0, x10, lsl #14\n"
        "  add x9, x2, #15\n  fmov x11, d13\n  cmp x11, x9\n  cset x10, ne\n  "
        "orr x0, x0, x10, lsl #15\n"
        "  add x9, x2, #16\n  fmov x11, d14\n  cmp x11, x9\n  cset x10, ne\n  "
        "orr x0, x0, x10, lsl #16\n"
        "  add x9, x2, #17\n  fmov x11, d15\n  cmp x11, x9\n  cset x10, ne\n  "
        "orr x0, x0, x10, lsl #17\n"
        "  ldp x19, x20, [sp, #16]\n  ldp x21, x22, [sp, #32]\n"
        "  ldp x23, x24, [sp, #48]\n  ldp x25, x26, [sp, #64]\n"
        "  ldp x27, x28, [sp, #80]\n  ldp d8, d9, [sp, #96]\n"
        "  ldp d10, d11, [sp, #112]\n  ldp d12, d13, [sp, #128]\n"
        "  ldp d14, d15, [sp, #144]\n"
        "  ldp x29, x30, [sp], #176\n  ret\n"
        ".size regs_probe, .-regs_probe\n");
uint64_t regs_probe(wv__ctx_t *from, wv__ctx_t *to, uint64_t seed);
#define HAVE_REGS_PROBE 1
#endif

static co_t regs_co;

/* Many live integer and FP values across swaps: with more live values than
 * caller-saved registers, the compiler keeps some in callee-saved ones. */
static void many_live(wv__ctx_t *self, wv__ctx_t *other, long seed)
{
    volatile long vseed = seed;
    long a = vseed, b = a * 3, c = a * 5, d = a * 7, e = a * 11, f = a * 13;
    long g = a * 17, h = a * 19;
    double x = (double)a / 3, y = (double)a / 7, z = (double)a * 1.5;
    double w = x * y + 0.25;

    for (int i = 0; i < 100; i++) {
        wv__ctx_swap(self, other);
        a++, b += 2, c += 3, d += 4, e += 5, f += 6, g += 7, h += 8;
        x += 0.5, y *= 1.0, z -= 0.5, w += 1.0;
    }
    WVT_EQ(a, vseed + 100);
    WVT_EQ(b, vseed * 3 + 200);
    WVT_EQ(c, vseed * 5 + 300);
    WVT_EQ(d, vseed * 7 + 400);
    WVT_EQ(e, vseed * 11 + 500);
    WVT_EQ(f, vseed * 13 + 600);
    WVT_EQ(g, vseed * 17 + 700);
    WVT_EQ(h, vseed * 19 + 800);
    WVT_ASSERT(x == (double)vseed / 3 + 50);
    WVT_ASSERT(y == (double)vseed / 7);
    WVT_ASSERT(z == (double)vseed * 1.5 - 50);
    WVT_ASSERT(w == ((double)vseed / 3) * ((double)vseed / 7) + 0.25 + 100);
}

static void regs_body(void *arg)
{
#ifdef HAVE_REGS_PROBE
    /* Each side probes with its own values: any register leaking from one
     * side to the other shows in the mask. */
    for (uint64_t i = 0; i < 100; i++)
        WVT_EQ(regs_probe(&regs_co.ctx, &main_ctx, 0xc0de0000u + i * 8), 0);
#endif
    many_live(&regs_co.ctx, &main_ctx, 7777);
    wv__ctx_exit(&regs_co.ctx, &main_ctx);
}

WVT_TEST(coro_callee_saved_registers)
{
    co_start(&regs_co, regs_body, NULL);
#ifdef HAVE_REGS_PROBE
    for (uint64_t i = 0; i < 100; i++)
        WVT_EQ(regs_probe(&main_ctx, &regs_co.ctx, 0x12340000u + i * 8), 0);
#endif
    many_live(&main_ctx, &regs_co.ctx, 4242);
    wv__ctx_swap(&main_ctx, &regs_co.ctx);
    co_end(&regs_co);
}

/* ------------------------------------------------------- floating point */

static co_t fp_co;

static double third(void)
{
    volatile double one = 1.0, three = 3.0;

    return one / three;
}

static long double third_x87(void)
{
    volatile long double one = 1.0L, three = 3.0L;

    return one / three;
}

static void fp_body(void *arg)
{
    double up, up_x87;

    fesetround(FE_UPWARD);
    up = third();
    up_x87 = (double)third_x87();
    for (int i = 0; i < 1000; i++) {
        wv__ctx_swap(&fp_co.ctx, &main_ctx);
        WVT_EQ(fegetround(), FE_UPWARD);
        WVT_ASSERT(third() == up);
        WVT_ASSERT((double)third_x87() == up_x87);
    }
    fesetround(FE_TONEAREST);
    wv__ctx_exit(&fp_co.ctx, &main_ctx);
}

WVT_TEST(coro_fp_control_per_context)
{
    double down;

    fesetround(FE_DOWNWARD);
    down = third();
    co_start(&fp_co, fp_body, NULL);
    for (int i = 0; i < 1000; i++) {
        wv__ctx_swap(&main_ctx, &fp_co.ctx);
        WVT_EQ(fegetround(), FE_DOWNWARD);
        WVT_ASSERT(third() == down);
    }
    wv__ctx_swap(&main_ctx, &fp_co.ctx);
    WVT_EQ(fegetround(), FE_DOWNWARD);
    fesetround(FE_TONEAREST);
    co_end(&fp_co);
}

/* ------------------------------------------------------------ recursion */

static co_t deep_co;
static long deep_result;

static long recurse(long n)
{
    volatile char pad[256];

    pad[0] = (char)n;
    if (n == 0)
        return 0;
    return recurse(n - 1) + 1 + (pad[0] != (char)n);
}

static void deep_body(void *arg)
{
    /* ~300 bytes a frame x 500 = 150 KiB of the 256 KiB. */
    deep_result = recurse((long)arg);
    wv__ctx_exit(&deep_co.ctx, &main_ctx);
}

WVT_TEST(coro_deep_recursion)
{
    co_start(&deep_co, deep_body, (void *)500L);
    wv__ctx_swap(&main_ctx, &deep_co.ctx);
    WVT_EQ(deep_result, 500);
    co_end(&deep_co);
}

/* --------------------------------------------------------------- stacks */

WVT_TEST(coro_stack_pool_reuse)
{
    wv__stack_stats_t s0, s1, s2;
    wv__stack_t *st[WV__STACK_POOL + 8];
    int n = WV__STACK_POOL + 8;

    wv__stack_pool_drain();
    wv__stack_stats(&s0);
    for (int i = 0; i < n; i++)
        WVT_OK(wv__stack_new(&st[i], 0));
    wv__stack_stats(&s1);
    WVT_EQ(s1.maps - s0.maps, n);
    WVT_EQ(s1.mapped - s0.mapped, n);
    for (int i = 0; i < n; i++)
        wv__stack_free(st[i]);
    wv__stack_stats(&s2); /* the pool kept WV__STACK_POOL of them */
    WVT_EQ(s2.mapped - s0.mapped, WV__STACK_POOL);
    for (int i = 0; i < n; i++)
        WVT_OK(wv__stack_new(&st[i], 0));
    wv__stack_stats(&s2);
    WVT_EQ(s2.reused - s1.reused, WV__STACK_POOL);
    WVT_EQ(s2.maps - s1.maps, 8);
    for (int i = 0; i < n; i++)
        wv__stack_free(st[i]);
    wv__stack_pool_drain();
    wv__stack_stats(&s2);
    WVT_EQ(s2.mapped, s0.mapped);

    /* Another size is never pooled; sizes round up to the page. */
    WVT_OK(wv__stack_new(&st[0], 10000));
    WVT_EQ(st[0]->size, 12288);
    WVT_ERR(wv__stack_new(&st[1], (size_t)2 << 30), WV_EINVAL);
    wv__stack_free(st[0]);
    wv__stack_stats(&s1);
    WVT_EQ(s1.mapped, s0.mapped);
}

static int count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "re");
    int n = 0, ch;

    WVT_ASSERT(f);
    while ((ch = getc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

static co_t batch_co[1000];

static void touch_body(void *arg)
{
    wv__ctx_exit(&((co_t *)arg)->ctx, &main_ctx);
}

/* Batches of 1000 live at once: 100k live would need 200k mappings, over
 * the default vm.max_map_count (65530). */
static void batch_of_1000(void)
{
    for (long i = 0; i < 1000; i++) {
        co_start(&batch_co[i], touch_body, &batch_co[i]);
        wv__ctx_swap(&main_ctx, &batch_co[i].ctx);
    }
    for (long i = 0; i < 1000; i++)
        co_end(&batch_co[i]);
}

WVT_TEST_TIMEOUT(coro_100k_stacks_no_leak, 120)
{
    long total = wvt_scale(25000);
    wv__stack_stats_t s0, s1;
    int maps0;

    /* A first batch maps what stays: descriptor chunks (type-stable, for
     * the signal handler) and the thread's alternate signal stack. */
    batch_of_1000();
    wv__stack_pool_drain();
    wv__stack_stats(&s0);
    maps0 = count_maps();
    for (long done = 0; done < total; done += 1000)
        batch_of_1000();
    wv__stack_pool_drain();
    wv__stack_stats(&s1);
    WVT_EQ(s1.mapped, s0.mapped);
    WVT_GE(s1.maps - s0.maps + s1.reused - s0.reused, total);
    /* TSan maps shadow memory of its own as it goes. */
    if (!TSAN_BUILD)
        WVT_EQ(count_maps(), maps0);
}

/* -------------------------------------------------------- guard pages */

static co_t boom_co;

static volatile long overflow_limit = 1L << 40; /* never reached */

static long overflow(long n)
{
    volatile char pad[1024];

    pad[0] = (char)n;
    if (n == overflow_limit)
        return 0;
    return overflow(n + 1) + pad[0];
}

static void boom_body(void *arg)
{
    overflow(0);
    wv__ctx_exit(&boom_co.ctx, &main_ctx);
}

/* Runs fn in a grandchild with stderr on a pipe; returns its wait status
 * and what it wrote (NUL-terminated) in buf. */
static int in_grandchild(void (*fn)(void), char *buf, size_t cap)
{
    int fds[2], status;
    size_t len = 0;
    ssize_t r;
    pid_t pid;

    WVT_EQ(pipe2(fds, O_CLOEXEC), 0);
    pid = fork();
    WVT_GE(pid, 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        fn();
        _exit(0);
    }
    close(fds[1]);
    while (len + 1 < cap && (r = read(fds[0], buf + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    close(fds[0]);
    WVT_EQ(waitpid(pid, &status, 0), pid);
    return status;
}

static void do_overflow(void)
{
    co_start(&boom_co, boom_body, NULL);
    wv__stack_set_name(boom_co.stack, "deep-thought");
    wv__ctx_swap(&main_ctx, &boom_co.ctx);
}

WVT_TEST(coro_guard_page_overflow)
{
    char buf[4096];
    int status = in_grandchild(do_overflow, buf, sizeof buf);

    if (!WIFSIGNALED(status))
        WVT_FAIL("status %#x; stderr was: %s", status, buf);
    WVT_EQ(WTERMSIG(status), SIGSEGV);
    /* Under TSan the process dies by SIGSEGV but weave's handler is not
     * reached (TSan's signal interposition; not understood yet). */
    if (!TSAN_BUILD &&
        !strstr(buf, "weave: stack overflow in coroutine \"deep-thought\""))
        WVT_FAIL("no overflow message; stderr was: %s", buf);
}

static volatile uintptr_t wild_addr = 16;

static void wild_fault(void)
{
    *(volatile int *)wild_addr = 1;
}

static void fault_with_handler(void)
{
    wv__stack_t *st;

    WVT_OK(wv__stack_new(&st, 0)); /* installs the handler */
    wv__stack_set_name(st, "innocent");
    wild_fault();
}

WVT_TEST(coro_fault_elsewhere_unchanged)
{
    char plain[4096], handled[4096];
    int s_plain = in_grandchild(wild_fault, plain, sizeof plain);
    int s_handled = in_grandchild(fault_with_handler, handled, sizeof handled);

    /* Exactly as without weave's handler (a sanitizer's report and exit
     * status included), and never weave's message. */
    WVT_EQ(s_handled, s_plain);
    if (!wvt_sanitized()) {
        WVT_ASSERT(WIFSIGNALED(s_handled));
        WVT_EQ(WTERMSIG(s_handled), SIGSEGV);
    }
    WVT_ASSERT(!strstr(handled, "weave:"));
}

/* A fork while another thread maps and unmaps stacks: the child can map
 * stacks too (the registry's lock is not inherited held). */
static int churn_stop;

static void stack_churn(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&churn_stop, __ATOMIC_ACQUIRE)) {
        wv__stack_t *st;
        WVT_OK(wv__stack_new(&st, 128 * 1024)); /* not pooled: maps */
        wv__stack_free(st);
    }
}

WVT_TEST(coro_fork_while_stacks_are_mapped)
{
    wvt_thread_t *t = wvt_spawn(stack_churn, NULL);
    for (int i = 0; i < 200; i++) {
        pid_t pid = fork();
        WVT_GE(pid, 0);
        if (pid == 0) {
            wv__stack_t *st;
            int err = wv__stack_new(&st, 128 * 1024);
            if (!err)
                wv__stack_free(st);
            _exit(err ? 1 : 0);
        }
        int status = 0;
        int64_t end = wv_now() + 10000;
        while (waitpid(pid, &status, WNOHANG) == 0) {
            if (wv_now() > end) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                WVT_FAIL("child %d hung mapping a stack after fork", i);
            }
            wvt_pause();
        }
        WVT_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    __atomic_store_n(&churn_stop, 1, __ATOMIC_RELEASE);
    wvt_join(t);
}

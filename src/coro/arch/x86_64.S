/* clang-format off */
/*
 * (clang-format off above: clang-format reads this as C and mangles it.)
 * coro/arch/x86_64.S - the context switch for x86_64, System V ABI.
 *
 * wv__ctx_swap_raw(from = rdi, to = rsi) pushes what the ABI calls
 * callee-saved (rbp, rbx, r12-r15, and in an 8-byte slot MXCSR and the x87
 * control word), stores rsp in from->sp, loads to->sp and pops the same.
 * Everything else is caller-saved: the compiler already assumes a call
 * clobbers it.  MXCSR's status flags are restored along with its control
 * bits (one ldmxcsr); they are caller-saved, so nobody can tell.
 *
 * Frame of a suspended context, from its saved sp upward:
 *     +0  MXCSR (4 bytes), x87 control word (2), pad (2)
 *     +8  r15, r14, r13, r12, rbx, rbp
 *    +56  return address
 *
 * wv__ctx_make_raw builds that frame at the top of a fresh stack with the
 * return address pointing at the trampoline, r12 = entry, r13 = arg,
 * rbp = 0, and MXCSR/x87 control copied from the caller.  Above it two
 * zero words: after the first swap's `ret`, rsp = top - 16 is 16-byte
 * aligned, so the trampoline's `call` leaves entry with rsp + 8 aligned,
 * as the ABI requires, and frame-pointer walkers meet a zero return
 * address and rbp = 0 there; DWARF unwinders stop at the trampoline's
 * undefined return address.
 */
    .text

    .globl  wv__ctx_swap_raw
    .hidden wv__ctx_swap_raw
    .type   wv__ctx_swap_raw, @function
    .p2align 4
wv__ctx_swap_raw:
    .cfi_startproc
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    subq    $8, %rsp
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)
    movq    (%rsi), %rsp
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .cfi_endproc
    .size   wv__ctx_swap_raw, .-wv__ctx_swap_raw

/* void wv__ctx_make_raw(c = rdi, lo = rsi, size = rdx, entry = rcx,
 *                       arg = r8) */
    .globl  wv__ctx_make_raw
    .hidden wv__ctx_make_raw
    .type   wv__ctx_make_raw, @function
    .p2align 4
wv__ctx_make_raw:
    .cfi_startproc
    leaq    (%rsi,%rdx), %rax
    andq    $-16, %rax
    movq    $0, -8(%rax)            /* pad */
    movq    $0, -16(%rax)           /* trampoline's return address: none */
    leaq    trampoline(%rip), %r9
    movq    %r9, -24(%rax)          /* where the first swap returns */
    movq    $0, -32(%rax)           /* rbp: end of the frame chain */
    movq    $0, -40(%rax)           /* rbx */
    movq    %rcx, -48(%rax)         /* r12 = entry */
    movq    %r8, -56(%rax)          /* r13 = arg */
    movq    $0, -64(%rax)           /* r14 */
    movq    $0, -72(%rax)           /* r15 */
    movq    $0, -80(%rax)
    stmxcsr -80(%rax)
    fnstcw  -76(%rax)
    subq    $80, %rax
    movq    %rax, (%rdi)
    ret
    .cfi_endproc
    .size   wv__ctx_make_raw, .-wv__ctx_make_raw

/* First code of every context: entry(arg), which must not return. */
    .type   trampoline, @function
    .p2align 4
trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq    %r13, %rdi
    callq   *%r12
    callq   wv__ctx_returned@PLT
    ud2
    .cfi_endproc
    .size   trampoline, .-trampoline

/*
 * int wv__call_jumpback(a0 = rdi, a1 = rsi, a2 = rdx, a3 = rcx, fn = r8):
 * returns fn(a0, a1, a2, a3) to its caller by an indirect jump instead of
 * `ret`.  For a park that switches coroutines (coro/internal.h): the
 * return address predictor holds the return chain of the coroutine that
 * switched away, so the first `ret` into the resumed one's caller is
 * mispredicted (~6 ns, twice per W3 round trip); an indirect jump is
 * predicted from the branch history instead, which tells the two apart.
 * The caller's return address stays on the predictor's stack, one stale
 * entry per call: harmless, the predictor's stack is a ring.  fn is
 * entered with rsp aligned as the ABI requires (8 pushed here, 8 by the
 * caller's call).
 */
    .globl  wv__call_jumpback
    .hidden wv__call_jumpback
    .type   wv__call_jumpback, @function
    .p2align 4
wv__call_jumpback:
    .cfi_startproc
    subq    $8, %rsp
    .cfi_adjust_cfa_offset 8
    callq   *%r8
    addq    $8, %rsp
    .cfi_adjust_cfa_offset -8
    popq    %rcx
    .cfi_adjust_cfa_offset -8
    .cfi_register rip, rcx
    jmpq    *%rcx
    .cfi_endproc
    .size   wv__call_jumpback, .-wv__call_jumpback

    .section .note.GNU-stack,"",@progbits

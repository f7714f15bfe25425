/* clang-format off */
/*
 * (clang-format off above: clang-format reads this as C and mangles it.)
 * coro/arch/aarch64.S - the context switch for aarch64, AAPCS64.
 *
 * wv__ctx_swap_raw(from = x0, to = x1) stores what the ABI calls
 * callee-saved (x19-x28, fp = x29, lr = x30, d8-d15, FPCR) in a 176-byte
 * frame below sp, stores sp in from->sp, loads to->sp and restores the same,
 * then returns through the restored lr.  sp stays 16-byte aligned.
 *
 * Frame of a suspended context, from its saved sp upward:
 *     +0  x19 x20, +16 x21 x22, +32 x23 x24, +48 x25 x26, +64 x27 x28,
 *    +80  x29 x30, +96 d8 d9, +112 d10 d11, +128 d12 d13, +144 d14 d15,
 *   +160  FPCR, pad
 *
 * wv__ctx_make_raw builds that frame at the (16-aligned) top of a fresh
 * stack with x30 = trampoline, x19 = entry, x20 = arg, x29 = 0 and FPCR
 * copied from the caller; above it one zero frame record (fp = lr = 0)
 * ends the chain for frame-pointer walkers, and the trampoline's CFI marks
 * its return address undefined for DWARF unwinders.
 *
 * Run by `make aarch64` (and CI): a cross build whose coroutine and
 * channel suites run under qemu-user, tests/test_coro.c's register probe
 * included (x19-x28 and d8-d15 across a swap); never yet on hardware.
 */
    .text

    .globl  wv__ctx_swap_raw
    .hidden wv__ctx_swap_raw
    .type   wv__ctx_swap_raw, %function
    .p2align 4
wv__ctx_swap_raw:
    .cfi_startproc
    sub     sp, sp, #176
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mrs     x9, fpcr
    str     x9, [sp, #160]
    mov     x9, sp
    str     x9, [x0]
    ldr     x9, [x1]
    mov     sp, x9
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    ldr     x9, [sp, #160]
    msr     fpcr, x9
    add     sp, sp, #176
    ret
    .cfi_endproc
    .size   wv__ctx_swap_raw, .-wv__ctx_swap_raw

/* void wv__ctx_make_raw(c = x0, lo = x1, size = x2, entry = x3, arg = x4) */
    .globl  wv__ctx_make_raw
    .hidden wv__ctx_make_raw
    .type   wv__ctx_make_raw, %function
    .p2align 4
wv__ctx_make_raw:
    .cfi_startproc
    add     x9, x1, x2
    and     x9, x9, #~15
    stp     xzr, xzr, [x9, #-16]    /* terminating frame record */
    sub     x9, x9, #16
    sub     x10, x9, #176           /* the saved frame */
    mov     x11, #0
    mov     x12, #0
1:  str     xzr, [x10, x11]         /* zero the 176 bytes */
    add     x11, x11, #8
    cmp     x11, #176
    b.ne    1b
    stp     x3, x4, [x10, #0]       /* x19 = entry, x20 = arg */
    adr     x11, trampoline
    stp     x12, x11, [x10, #80]    /* x29 = 0, x30 = trampoline */
    mrs     x11, fpcr
    str     x11, [x10, #160]
    str     x10, [x0]
    ret
    .cfi_endproc
    .size   wv__ctx_make_raw, .-wv__ctx_make_raw

/* First code of every context: entry(arg), which must not return.  sp is
 * 16-byte aligned here, as the procedure call standard requires. */
    .type   trampoline, %function
    .p2align 4
trampoline:
    .cfi_startproc
    .cfi_undefined x30
    mov     x0, x20
    blr     x19
    bl      wv__ctx_returned
    brk     #0
    .cfi_endproc
    .size   trampoline, .-trampoline

/* int wv__call_jumpback(a0..a3 = x0..x3, fn = x4): fn(a0, a1, a2, a3),
 * returning to the caller.  A tail call here (x86_64.S says what the
 * x86_64 version does instead and why; not measured on aarch64
 * hardware), through x16: a `br` by x16 may land on fn's `bti c` when
 * branch protection is on. */
    .globl  wv__call_jumpback
    .hidden wv__call_jumpback
    .type   wv__call_jumpback, %function
    .p2align 4
wv__call_jumpback:
    .cfi_startproc
    mov     x16, x4
    br      x16
    .cfi_endproc
    .size   wv__call_jumpback, .-wv__call_jumpback

    .section .note.GNU-stack,"",%progbits

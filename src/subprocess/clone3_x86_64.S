/* clang-format off */
/*
 * (clang-format off above: clang-format reads this as C and mangles it.)
 * subprocess/clone3_x86_64.S - clone3 as vfork is called, for x86_64.
 *
 * long wv__clone3_vfork(struct clone_args *args = rdi, size_t size = rsi)
 *
 * With CLONE_VM | CLONE_VFORK and no stack of its own (args->stack = 0),
 * the child runs on the parent's stack, from the same point, while the
 * parent is suspended: vfork.  A C wrapper (glibc's syscall()) cannot do
 * that: the child would return through the wrapper's frame and then
 * overwrite the return address the parent returns through later.  So,
 * as glibc's vfork does, the return address is popped into a register
 * the kernel preserves (rdx) before the system call and pushed back
 * after it, in each of the two processes.  Returns the child's pid in
 * the parent, 0 in the child, -errno on failure (errno untouched).
 */
    .text

    .globl  wv__clone3_vfork
    .hidden wv__clone3_vfork
    .type   wv__clone3_vfork, @function
    .p2align 4
wv__clone3_vfork:
    .cfi_startproc
#ifdef __CET__
    endbr64
#endif
    popq    %rdx
    .cfi_adjust_cfa_offset -8
    .cfi_register %rip, %rdx
    movl    $435, %eax          /* __NR_clone3 */
    syscall
    pushq   %rdx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rip, 0
    ret
    .cfi_endproc
    .size   wv__clone3_vfork, .-wv__clone3_vfork

    .section .note.GNU-stack, "", @progbits

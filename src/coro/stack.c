/*
 * coro/stack.c - coroutine stacks: mmap'd, a guard page below, pooled.
 *
 * One mapping per stack: [guard page, PROT_NONE][usable, read/write].  The
 * usable part is reserved address space; the kernel gives it pages only as
 * they are touched, so a coroutine blocked after shallow calls holds one or
 * two pages whatever the size (W2 counts resident memory: 4 KiB of stack
 * plus its control block).  256 KiB by default: deep enough for ordinary C
 * (printf, getaddrinfo and TLS libraries want tens of KiB), small enough
 * that 100k coroutines reserve 26 GiB of the 128 TiB address space.
 *
 * The pool: each thread keeps up to WV__STACK_POOL default-size stacks it
 * freed, for its next allocations (no system call on reuse; the pages it
 * touched stay resident, which bounds retained memory to what its busiest
 * coroutines used).  A thread's pool is unmapped when the thread exits
 * (a pthread key destructor) or by wv__stack_pool_drain.  Invariant: a
 * pooled stack is still registered (its guard still names a coroutine,
 * "?" after reuse until renamed).
 *
 * Guard pages: where the kernel has MADV_GUARD_INSTALL (Linux 6.13+), the
 * stack is one read/write mapping whose lowest page is made a guard by
 * madvise: no VMA split, so adjacent stacks merge and 100k live stacks do
 * not run into vm.max_map_count (65530 mappings, ~32k split stacks).
 * Elsewhere the guard is an mprotect'ed PROT_NONE page: two mappings per
 * stack.  Either way a touch faults with SIGSEGV at the guard address.
 *
 * Rejected: MAP_GROWSDOWN (the kernel's guard gap rules make overflow
 * detection unreliable and it is deprecated); a stack per malloc (no guard
 * page); arenas of many stacks in one mapping (still one mapping per
 * protection change, so no fewer VMAs, and partial unmapping gets harder).
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define HAVE_VALGRIND 1
#endif
#endif

#define STACK_MAX ((size_t)1 << 30)

static long stat_mapped, stat_maps, stat_reused;

static __thread struct {
    wv__stack_t *items[WV__STACK_POOL];
    int n;
    bool keyed; /* the exit destructor is armed for this thread */
} pool;

static pthread_key_t exit_key; /* made at load: see make_key */

static size_t page_size(void)
{
    static size_t page; /* first callers may race: same value */
    size_t p = __atomic_load_n(&page, __ATOMIC_RELAXED);

    if (!p) {
        p = (size_t)sysconf(_SC_PAGESIZE);
        __atomic_store_n(&page, p, __ATOMIC_RELAXED);
    }
    return p;
}

static void on_thread_exit(void *unused)
{
    wv__stack_pool_drain();
    wv__guard_thread_exit();
}

/* At load, before any thread of ours, rather than by pthread_once: a fork
 * while another thread is inside a once leaves it "in progress" for ever
 * in the child where the C library does not reset it (TSan, musl). */
__attribute__((constructor)) static void make_key(void)
{
    int r = pthread_key_create(&exit_key, on_thread_exit);

    WV__ASSERT(r == 0);
}

/* Arms the destructor that unmaps this thread's pool at its exit. */
static void arm_thread_exit(void)
{
    if (pool.keyed)
        return;
    pthread_setspecific(exit_key, &pool);
    pool.keyed = true;
}

static void valgrind_register(wv__stack_t *st)
{
#ifdef HAVE_VALGRIND
    st->valgrind_id =
        VALGRIND_STACK_REGISTER(st->lo, (char *)st->lo + st->size);
#endif
    (void)st;
}

static void valgrind_deregister(wv__stack_t *st)
{
#ifdef HAVE_VALGRIND
    VALGRIND_STACK_DEREGISTER(st->valgrind_id);
#endif
    (void)st;
}

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13 */
#endif

/* 1 = the kernel installs guard pages inside a mapping, 0 = it cannot
 * (mprotect then splits each stack in two mappings), -1 = not known yet. */
static int guard_madvise = -1;

static int map_stack(wv__stack_t *st, size_t size)
{
    size_t page = page_size();
    int mode = __atomic_load_n(&guard_madvise, __ATOMIC_RELAXED);
    char *base =
        mmap(NULL, size + page, mode == 0 ? PROT_NONE : PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    if (base == MAP_FAILED)
        return WV_ENOMEM;
    if (mode != 0) {
        /* One mapping with a guard page in it: neighbouring stacks merge
         * into one VMA, so vm.max_map_count does not cap their number. */
        if (madvise(base, page, MADV_GUARD_INSTALL) == 0) {
            __atomic_store_n(&guard_madvise, 1, __ATOMIC_RELAXED);
            goto mapped;
        }
        /* Only a kernel without it (EINVAL) turns it off for good; any
         * other failure (ENOMEM) falls back for this stack only. */
        if (errno == EINVAL)
            __atomic_store_n(&guard_madvise, 0, __ATOMIC_RELAXED);
        if (mprotect(base, page, PROT_NONE) != 0) {
            munmap(base, size + page);
            return WV_ENOMEM;
        }
    } else if (mprotect(base + page, size, PROT_READ | PROT_WRITE) != 0) {
        munmap(base, size + page);
        return WV_ENOMEM;
    }
mapped:
    st->guard = (uintptr_t)base;
    st->lo = base + page;
    st->size = size;
    __atomic_add_fetch(&stat_mapped, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&stat_maps, 1, __ATOMIC_RELAXED);
    return 0;
}

static void unmap_stack(wv__stack_t *st)
{
    void *base = (void *)st->guard;

    valgrind_deregister(st);
    wv__guard_unregister(st);
    wv__san_stack_reset(st->lo, st->size);
    munmap(base, st->size + page_size());
    __atomic_sub_fetch(&stat_mapped, 1, __ATOMIC_RELAXED);
    wv__guard_desc_free(st);
}

int wv__stack_new(wv__stack_t **out, size_t size)
{
    size_t page = page_size();
    wv__stack_t *st;
    int err;

    if (size == 0)
        size = WV__STACK_DEFAULT;
    if (size > STACK_MAX)
        return WV_EINVAL;
    size = (size + page - 1) & ~(page - 1);
    if (size == WV__STACK_DEFAULT && pool.n > 0) {
        st = pool.items[--pool.n];
        __atomic_add_fetch(&stat_reused, 1, __ATOMIC_RELAXED);
        wv__stack_set_name(st, "?");
        wv__san_stack_reset(st->lo, st->size);
        *out = st;
        return 0;
    }
    st = wv__guard_desc_new();
    if (!st)
        return WV_ENOMEM;
    err = map_stack(st, size);
    if (err)
        goto out_desc;
    wv__stack_set_name(st, "?");
    err = wv__guard_register(st);
    if (err)
        goto out_unmap;
    valgrind_register(st);
    arm_thread_exit(); /* also frees the alternate signal stack */
    *out = st;
    return 0;

out_unmap:
    munmap((void *)st->guard, size + page);
    __atomic_sub_fetch(&stat_mapped, 1, __ATOMIC_RELAXED);
out_desc:
    wv__guard_desc_free(st);
    return err;
}

void wv__stack_free(wv__stack_t *st)
{
    if (!st)
        return;
    if (st->size == WV__STACK_DEFAULT && pool.n < WV__STACK_POOL) {
        arm_thread_exit();
        pool.items[pool.n++] = st;
        return;
    }
    unmap_stack(st);
}

void wv__stack_set_name(wv__stack_t *st, const char *name)
{
    size_t n = strnlen(name, WV__STACK_NAME - 1);

    /* The SIGSEGV handler may read this at any time: a torn name is the
     * worst it can see, and only while the coroutine is being renamed. */
    memcpy(st->name, name, n);
    st->name[n] = '\0';
}

void wv__stack_pool_drain(void)
{
    while (pool.n > 0)
        unmap_stack(pool.items[--pool.n]);
}

void wv__stack_stats(wv__stack_stats_t *out)
{
    out->mapped = __atomic_load_n(&stat_mapped, __ATOMIC_RELAXED);
    out->maps = __atomic_load_n(&stat_maps, __ATOMIC_RELAXED);
    out->reused = __atomic_load_n(&stat_reused, __ATOMIC_RELAXED);
}

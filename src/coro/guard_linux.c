/*
 * coro/guard_linux.c - naming the coroutine whose stack overflowed.
 *
 * A coroutine that overflows its stack writes into the PROT_NONE guard page
 * below it and gets SIGSEGV.  Our handler, installed once with SA_ONSTACK
 * (the faulting stack is exhausted, so it runs on the thread's alternate
 * signal stack), looks the fault address up in a registry of guard pages.
 * Found: it writes `weave: stack overflow in coroutine "NAME"` with
 * write(2), restores the default action and returns, so that the faulting
 * instruction faults again and the kernel kills the process by SIGSEGV
 * (core dump included).  Not found: it hands the signal to the handler that
 * was installed before it (or, if that was SIG_DFL/SIG_IGN, restores the
 * default and returns, which re-raises the fault), so a fault elsewhere
 * ends as it would have without weave.
 *
 * The registry is a fixed table of hash chains keyed by guard address.
 * Writers (stack map/unmap: already a system call) take a mutex; the
 * handler reads without one, with acquire loads.  That is safe because the
 * descriptors are type-stable: allocated in mmap'd chunks, recycled through
 * a free list, never unmapped, so a handler racing with an unregister reads
 * a stale but valid descriptor and at worst misses a match for a stack
 * being unmapped at that instant.  A chain walk is bounded, in case a
 * recycled descriptor leads it astray.
 *
 * Each thread that registers a stack gets an alternate signal stack, unless
 * it already has one (the program's, or a sanitizer's), freed at its exit.
 *
 * Lock order: reg_lock is a leaf.
 */
#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BUCKETS    4096
#define CHUNK      (64 * 1024)
#define WALK_LIMIT (1 << 20)
#define ALTSTACK   (64 * 1024)

static wv__stack_t *buckets[BUCKETS]; /* [reg_lock] for writers */
static wv__stack_t *free_descs;       /* [reg_lock] */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static bool handler_installed;      /* [reg_lock] */
static struct sigaction previous;   /* set once, before any lookup */
static __thread void *own_altstack; /* mmap'd by us for this thread */
static uintptr_t page_mask;         /* set once, before any lookup */

/* A fork while another thread maps or unmaps a stack must not leave the
 * child with reg_lock held by a thread it does not have: the lock is
 * taken around fork, so the registry is consistent in both.  The handler
 * is installed under the same lock rather than by pthread_once: a fork
 * while another thread is inside a pthread_once would leave the child's
 * once "in progress" for ever where the C library does not reset it
 * (TSan's interceptor, musl), and the child's first stack would hang. */
static void fork_prepare(void)
{
    pthread_mutex_lock(&reg_lock);
}

static void fork_release(void)
{
    pthread_mutex_unlock(&reg_lock);
}

__attribute__((constructor)) static void guard_init(void)
{
    pthread_atfork(fork_prepare, fork_release, fork_release);
}

static size_t bucket_of(uintptr_t guard)
{
    uintptr_t x = guard >> 12;

    return (size_t)((x ^ (x >> 12) ^ (x >> 24)) % BUCKETS);
}

/* ------------------------------------------------------------ descriptors */

wv__stack_t *wv__guard_desc_new(void)
{
    wv__stack_t *st;

    pthread_mutex_lock(&reg_lock);
    if (!free_descs) {
        char *chunk = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (chunk == MAP_FAILED) {
            pthread_mutex_unlock(&reg_lock);
            return NULL;
        }
        for (size_t i = 0; i + sizeof *st <= CHUNK; i += sizeof *st) {
            st = (wv__stack_t *)(chunk + i);
            st->next = free_descs;
            free_descs = st;
        }
    }
    st = free_descs;
    free_descs = st->next;
    pthread_mutex_unlock(&reg_lock);
    memset(st, 0, sizeof *st);
    return st;
}

void wv__guard_desc_free(wv__stack_t *st)
{
    pthread_mutex_lock(&reg_lock);
    st->next = free_descs;
    free_descs = st;
    pthread_mutex_unlock(&reg_lock);
}

/* --------------------------------------------------------------- handler */

static void put(const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static const wv__stack_t *lookup(uintptr_t addr)
{
    uintptr_t guard = addr & page_mask;
    const wv__stack_t *st =
        __atomic_load_n(&buckets[bucket_of(guard)], __ATOMIC_ACQUIRE);

    for (long hops = 0; st && hops < WALK_LIMIT; hops++) {
        if (__atomic_load_n(&st->guard, __ATOMIC_RELAXED) == guard)
            return st;
        st = __atomic_load_n(&st->next, __ATOMIC_ACQUIRE);
    }
    return NULL;
}

/* The default action again, and return: the fault happens again and the
 * kernel ends the process as if no handler had ever been installed. */
static void refault_default(int sig)
{
    struct sigaction dfl;

    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
}

static void on_segv(int sig, siginfo_t *info, void *uc)
{
    const wv__stack_t *st = lookup((uintptr_t)info->si_addr);

    if (st) {
        char name[WV__STACK_NAME];
        memcpy(name, st->name, sizeof name);
        name[sizeof name - 1] = '\0';
        put("weave: stack overflow in coroutine \"", 36);
        put(name, strlen(name));
        put("\"\n", 2);
        refault_default(sig);
        return;
    }
    if (previous.sa_flags & SA_SIGINFO)
        previous.sa_sigaction(sig, info, uc);
    else if (previous.sa_handler == SIG_DFL || previous.sa_handler == SIG_IGN)
        refault_default(sig);
    else
        previous.sa_handler(sig);
}

static void install_handler(void)
{
    struct sigaction sa;

    page_mask = ~(uintptr_t)(sysconf(_SC_PAGESIZE) - 1);
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &previous);
}

/* An alternate signal stack for this thread, unless it has one. */
static int ensure_altstack(void)
{
    stack_t cur, ss;

    if (own_altstack || sigaltstack(NULL, &cur) != 0)
        return 0;
    if (!(cur.ss_flags & SS_DISABLE))
        return 0; /* the program's or a sanitizer's: fine */
    ss.ss_sp = mmap(NULL, ALTSTACK, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ss.ss_sp == MAP_FAILED)
        return WV_ENOMEM;
    ss.ss_size = ALTSTACK;
    ss.ss_flags = 0;
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(ss.ss_sp, ALTSTACK);
        return WV_ENOMEM;
    }
    own_altstack = ss.ss_sp;
    return 0;
}

void wv__guard_thread_exit(void)
{
    stack_t cur, off;

    if (!own_altstack)
        return;
    if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == own_altstack) {
        memset(&off, 0, sizeof off);
        off.ss_flags = SS_DISABLE;
        sigaltstack(&off, NULL);
    }
    munmap(own_altstack, ALTSTACK);
    own_altstack = NULL;
}

/* -------------------------------------------------------------- registry */

int wv__guard_register(wv__stack_t *st)
{
    size_t b = bucket_of(st->guard);
    int err = ensure_altstack();

    if (err)
        return err;
    pthread_mutex_lock(&reg_lock);
    if (!handler_installed) {
        install_handler();
        handler_installed = true;
    }
    st->next = buckets[b];
    __atomic_store_n(&buckets[b], st, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&reg_lock);
    return 0;
}

void wv__guard_unregister(wv__stack_t *st)
{
    size_t b = bucket_of(st->guard);
    wv__stack_t **link = &buckets[b];

    pthread_mutex_lock(&reg_lock);
    while (*link && *link != st)
        link = &(*link)->next;
    WV__ASSERT(*link == st);
    __atomic_store_n(link, st->next, __ATOMIC_RELEASE);
    __atomic_store_n(&st->guard, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&reg_lock);
}

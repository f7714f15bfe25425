/*
 * subprocess/obuf_linux.c - what communicate asks of Linux for speed:
 * larger pipes, and output buffers faulted in ahead of the reads, in huge
 * pages when they are large.  Each is a hint: where the kernel refuses
 * (an older kernel, a quota, transparent huge pages switched off), the
 * call does nothing and communicate works as it would without it.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define HUGE_FROM    ((size_t)32 << 20) /* buffer size to use huge pages from */
#define HUGE_COLD_NS 2000000            /* a slower collapse: cold memory */

void wv__pipe_enlarge(int fd, int size)
{
    /* Refused beyond /proc/sys/fs/pipe-max-size or a user's pipe quota:
     * the pipe keeps its size, which is fine. */
    (void)fcntl(fd, F_SETPIPE_SZ, size);
}

/* A small sysfs file into buf, NUL-terminated: its length, or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = wv__read(fd, buf, cap - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return n;
}

/*
 * The huge page size (the PMD's: 2 MiB on x86-64) when the kernel has
 * transparent huge pages and they are not switched off ("never" is the
 * administrator's no, which MADV_COLLAPSE would not honour); 0 for none.
 * Read once from sysfs.
 */
static size_t huge_size(void)
{
    static long cached = -1; /* -1: not read yet */
    long size = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    char buf[128];

    if (size >= 0)
        return (size_t)size;
    size = 0;
    if (read_small("/sys/kernel/mm/transparent_hugepage/enabled", buf,
                   sizeof buf) > 0 &&
        !strstr(buf, "[never]") &&
        read_small("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", buf,
                   sizeof buf) > 0) {
        size = strtol(buf, NULL, 10);
        if (size < 8192 || (size & (size - 1)))
            size = 0;
    }
    __atomic_store_n(&cached, size, __ATOMIC_RELAXED);
    return (size_t)size;
}

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Backs [at, at + huge) of b with one huge page: its first page faulted
 * in (collapsing needs a page there), then MADV_COLLAPSE (Linux 6.1),
 * which needs no flag on the mapping (MADV_HUGEPAGE would split the
 * allocator's mapping, and realloc could no longer mremap it: it would
 * copy).  False when refused; either way, refused or slow (memory the
 * hypervisor has to back first), b uses small pages from then on.
 */
static bool collapse(wv__obuf_t *b, uintptr_t at, size_t huge)
{
    int64_t t0 = thread_cpu_ns();

    if (madvise((void *)at, 4096, MADV_POPULATE_WRITE) < 0 ||
        madvise((void *)at, huge, MADV_COLLAPSE) < 0) {
        b->small_pages = true;
        return false;
    }
    if (thread_cpu_ns() - t0 > HUGE_COLD_NS)
        b->small_pages = true;
    return true;
}

/*
 * Faults in b's pages up to `end` before a read copies into them.  The
 * kernel copies into the buffer holding the pipe's lock: a page fault
 * taken there (zeroing a fresh page) stalls the child's writes to the
 * pipe for its duration, and the child ends up spinning on that lock.
 * Faulted in here, outside the lock, the child works meanwhile: W8's
 * 256 MiB through cat went from 1.4 to 1.8 GB/s.  MADV_POPULATE_WRITE
 * is Linux 5.14; without it the read faults as before.
 *
 * In a large buffer (from HUGE_FROM), each huge-page-aligned block
 * wholly inside it is faulted in as one huge page (collapse()): one
 * allocation, charge and mapping instead of 512.  Populating 256 MiB
 * took 23-32 ms instead of 86-110 ms here, the parent's CPU for W8 went
 * from ~155 to ~95 ms.  But memory the hypervisor must back again first
 * (a VM with free page reporting hands free 2 MiB blocks back to its
 * host, which then faults them in a small page at a time) makes a
 * collapse cost 3-6 ms instead of 0.1-0.2, 7x what small pages cost,
 * which come from fragments never handed back; so a collapse slower than
 * HUGE_COLD_NS of the thread's CPU time (preemption does not count)
 * switches the buffer to small pages: one cold block per buffer at most.
 * Small pages run to the end of a block started with them, so that the
 * next one starts aligned.
 */
void wv__obuf_prefault(wv__obuf_t *b, size_t end)
{
    static bool unsupported;
    uintptr_t base = (uintptr_t)b->data, top = base + b->cap;
    uintptr_t lo = (base + b->ready) & ~(uintptr_t)4095, hi = base + end;
    size_t huge = b->cap >= HUGE_FROM ? huge_size() : 0;

    if (end <= b->ready || __atomic_load_n(&unsupported, __ATOMIC_RELAXED))
        return;
    while (lo < hi) {
        uintptr_t block = lo & ~(uintptr_t)(huge - 1), stop = hi;
        if (huge && !b->small_pages && block + huge <= top) {
            if (lo == block && collapse(b, block, huge)) {
                lo += huge;
                continue;
            }
            stop = block + huge;
        }
        if (madvise((void *)lo, stop - lo, MADV_POPULATE_WRITE) < 0 &&
            errno == EINVAL) {
            __atomic_store_n(&unsupported, true, __ATOMIC_RELAXED);
            lo = hi;
            break;
        }
        lo = stop;
    }
    b->ready = lo - base;
}

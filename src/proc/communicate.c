/*
 * proc/communicate.c - talking to a child: communicate, read, write, and
 * run / check_output on top of them.
 *
 * communicate is one poll loop over the caller's ends of the child's
 * pipes, all non-blocking: stdin is written while there is input and
 * room, stdout and stderr are read whenever they have bytes, so neither
 * side can fill a pipe the other waits on.  The wait goes through
 * wv__fds_wait (the fd seam: a coroutine will park there, not its thread).
 *
 * Throughput (W8 pipes 256 MiB through cat): the pipes are enlarged to
 * 1 MiB (F_SETPIPE_SZ; refused beyond /proc/sys/fs/pipe-max-size or a
 * user's pipe quota, which is fine), input goes in writes of up to
 * 1 MiB, and output is read straight into its buffer, which grows
 * geometrically (realloc of a large block is an mremap: no copy), and
 * is faulted in ahead of each read, outside the pipe's lock, in huge
 * pages when it is large (prefault()).
 *
 * Time-outs lose nothing: output stays in the Popen's buffers, and input
 * not yet written is copied aside (the caller's buffer is not kept after
 * the call returns), so the next communicate resumes.  Input lent
 * (opts.borrow_input) is vmspliced instead of written, and kept where it
 * is at a time-out: the caller keeps it until a call returns 0.
 *
 * SIGPIPE: writes go through wv__pipe_writev or wv__pipe_vmsplice (the
 * signal is blocked and taken back); a child that closed its stdin ends
 * the feeding, as Python.
 */
#include "popen.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define PIPE_SIZE     (1 << 20)          /* F_SETPIPE_SZ asked for */
#define WRITE_CHUNK   (1 << 20)          /* most bytes per write */
#define READ_MIN      (64 << 10)         /* room made before each read */
#define READ_MAX      (1 << 20)          /* most bytes per read */
#define PREFAULT_FROM ((size_t)1 << 20)  /* buffer size to prefault from */
#define HUGE_FROM     ((size_t)32 << 20) /* ... and huge pages from */
#define HUGE_COLD_NS  2000000            /* a slower collapse: cold memory */

/* Input being fed: data[off..len). */
struct feed {
    const char *data;
    size_t len, off;
};

static void enlarge_pipes(wv_popen_t *p)
{
    if (p->enlarged)
        return;
    p->enlarged = true;
    for (int i = 0; i < 3; i++)
        if (p->fds[i] >= 0)
            (void)fcntl(p->fds[i], F_SETPIPE_SZ, PIPE_SIZE);
}

/* Room for READ_MIN more bytes and the '\0' in b. */
static int make_room(wv__obuf_t *b)
{
    if (b->cap - b->len > READ_MIN)
        return 0;
    size_t cap = b->cap ? b->cap * 2 : 2 * READ_MIN;
    char *data = wv__realloc(b->data, cap);
    if (!data)
        return WV_ENOMEM;
    b->data = data;
    b->data[b->len] = '\0';
    b->cap = cap;
    return 0;
}

/* A small sysfs file into buf, NUL-terminated: its length, or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -1;
    do
        n = read(fd, buf, cap - 1);
    while (n < 0 && errno == EINTR);
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
static void prefault(wv__obuf_t *b, size_t end)
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

/* One read of stdout or stderr into its buffer. */
static int drain(wv_popen_t *p, int stream)
{
    wv__obuf_t *b = &p->obuf[stream - 1];
    int err = make_room(b);
    if (err)
        return err;
    size_t room = b->cap - b->len - 1;
    if (room > READ_MAX)
        room = READ_MAX;
    if (b->cap >= PREFAULT_FROM)
        prefault(b, b->len + room);
    ssize_t n = read(p->fds[stream], b->data + b->len, room);
    if (n > 0) {
        b->len += (size_t)n;
        b->data[b->len] = '\0';
        return 0;
    }
    if (n == 0) {
        wv__popen_close(p, stream);
        p->eof[stream] = true;
        return 0;
    }
    return errno == EAGAIN || errno == EINTR ? 0 : -errno;
}

/* One write of input to stdin; the end of it, or a reader gone, closes
 * stdin.  Lent input goes by vmsplice (the pipe references the caller's
 * pages), unless the kernel refuses it for this memory or at all: then
 * by copying writes, under the same contract. */
static int feed(wv_popen_t *p, struct feed *f)
{
    size_t left = f->len - f->off;
    struct iovec iov = {(void *)(f->data + f->off),
                        left < WRITE_CHUNK ? left : WRITE_CHUNK};
    ssize_t n = WV_ENOSYS;

    if (p->lend && !p->no_vmsplice) {
        n = wv__pipe_vmsplice(p->fds[WV_STDIN], &iov, 1);
        p->no_vmsplice =
            n < 0 && n != WV_EAGAIN && n != WV_EINTR && n != WV_EPIPE;
    }
    if (!p->lend || p->no_vmsplice)
        n = wv__pipe_writev(p->fds[WV_STDIN], &iov, 1);

    if (n > 0)
        f->off += (size_t)n;
    else if (n == WV_EPIPE)
        f->off = f->len; /* the child stopped reading: drop the rest */
    else if (n != WV_EAGAIN && n != WV_EINTR)
        return (int)n;
    if (f->off == f->len)
        wv__popen_close(p, WV_STDIN);
    return 0;
}

/*
 * The loop: until stdin is fed and closed and both outputs are at their
 * end, or the deadline.  A poll loop, the one function here past 50
 * lines would be; kept short by feed() and drain().
 */
static int pump(wv_popen_t *p, struct feed *f, int64_t deadline)
{
    for (;;) {
        struct pollfd pf[3];
        int stream[3], n = 0;
        if (p->fds[WV_STDIN] >= 0 && f->off == f->len)
            wv__popen_close(p, WV_STDIN);
        for (int i = 0; i < 3; i++) {
            if (p->fds[i] < 0)
                continue;
            pf[n] = (struct pollfd){p->fds[i], i ? POLLIN : POLLOUT, 0};
            stream[n++] = i;
        }
        if (n == 0)
            return 0;
        int err = wv__fds_wait(pf, (size_t)n, deadline);
        for (int k = 0; !err && k < n; k++) {
            if (!pf[k].revents)
                continue;
            err = stream[k] ? drain(p, stream[k]) : feed(p, f);
        }
        if (err)
            return err;
    }
}

static void view(const wv_popen_t *p, int stream, wv_bytes_t *v)
{
    const wv__obuf_t *b = &p->obuf[stream - 1];
    if (!v)
        return;
    v->data = b->data ? b->data : p->piped[stream] ? "" : NULL;
    v->len = b->len;
}

/* After the loop stopped early: keep the input not yet written (lent
 * input: where it is). */
static int keep_rest(wv_popen_t *p, const struct feed *f)
{
    if (p->fds[WV_STDIN] < 0 || f->off == f->len) {
        if (!p->lend)
            wv__free((void *)p->rest);
        p->rest = NULL;
        return 0;
    }
    if (f->data == p->rest || p->lend) {
        p->rest = f->data;
        p->rest_len = f->len;
        p->rest_off = f->off;
        return 0;
    }
    size_t left = f->len - f->off;
    char *rest = wv__malloc(left);
    if (!rest) {
        wv__popen_close(p, WV_STDIN);
        return WV_ENOMEM;
    }
    memcpy(rest, f->data + f->off, left);
    p->rest = rest;
    p->rest_len = left;
    p->rest_off = 0;
    return 0;
}

int wv_popen_communicate(wv_popen_t *p, const void *input, size_t len,
                         wv_bytes_t *out, wv_bytes_t *err, int64_t deadline)
{
    struct feed f = {input, len, 0};

    if (!p || (len && !input) || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    if (len && (!p->piped[WV_STDIN] || p->fed))
        return WV_EINVAL;
    if (!p->fed)
        p->fed = true; /* from now on, input is the copy kept aside */
    else if (p->rest)
        f = (struct feed){p->rest, p->rest_len, p->rest_off};
    enlarge_pipes(p);
    int rc = pump(p, &f, deadline);
    int kept = keep_rest(p, &f);
    if (rc == 0)
        rc = wv_popen_wait(p, NULL, deadline);
    else if (kept)
        rc = kept;
    view(p, WV_STDOUT, out);
    view(p, WV_STDERR, err);
    return rc;
}

/* ------------------------------------------------------ read and write */

int wv_popen_write(wv_popen_t *p, const void *data, size_t len, size_t *done,
                   int64_t deadline)
{
    size_t off = 0;
    int err = 0;

    if (!p || (len && !data) || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    if (p->fds[WV_STDIN] < 0)
        return WV_EBADF;
    while (off < len && !err) {
        size_t left = len - off;
        struct iovec iov = {(char *)data + off,
                            left < WRITE_CHUNK ? left : WRITE_CHUNK};
        ssize_t n = wv__pipe_writev(p->fds[WV_STDIN], &iov, 1);
        if (n > 0)
            off += (size_t)n;
        else if (n == WV_EAGAIN)
            err = wv__fd_wait(p->fds[WV_STDIN], POLLOUT, deadline, NULL);
        else if (n != WV_EINTR)
            err = (int)n;
    }
    if (done)
        *done = off;
    return err;
}

int wv_popen_read(wv_popen_t *p, int stream, void *buf, size_t cap, size_t *n,
                  int64_t deadline)
{
    if (!p || (stream != WV_STDOUT && stream != WV_STDERR) || !buf || !cap ||
        !n || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    for (;;) {
        int fd = p->fds[stream];
        if (fd < 0)
            return p->eof[stream] ? WV_EOF : WV_EBADF;
        ssize_t got = read(fd, buf, cap);
        if (got > 0) {
            *n = (size_t)got;
            return 0;
        }
        if (got == 0) {
            wv__popen_close(p, stream);
            p->eof[stream] = true;
            continue;
        }
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
        int err = wv__fd_wait(fd, POLLIN, deadline, NULL);
        if (err)
            return err;
    }
}

/* ------------------------------------------------- run, check_output */

/* Moves stream's output from p to *data (a "" of its own if nothing came;
 * NULL if no pipe). */
static int take(wv_popen_t *p, int stream, char **data, size_t *len)
{
    wv__obuf_t *b = &p->obuf[stream - 1];

    if (!p->piped[stream])
        return 0;
    if (!b->data && !(b->data = wv__calloc(1, 1)))
        return WV_ENOMEM;
    *data = b->data;
    *len = b->len;
    *b = (wv__obuf_t){0};
    return 0;
}

/* communicate failed (the deadline, most often): kill, reap, and collect
 * what the child left in the pipes without waiting for more (a grandchild
 * may hold them open). */
static void stop(wv_popen_t *p)
{
    wv_popen_kill(p);
    wv_popen_wait(p, NULL, WV_FOREVER);
    if (p->fds[WV_STDOUT] >= 0 || p->fds[WV_STDERR] >= 0)
        wv_popen_communicate(p, NULL, 0, NULL, NULL, WV_NOWAIT);
}

int wv_subprocess_run(const wv_popen_opts_t *opts, const void *input,
                      size_t len, bool check, wv_completed_t *res,
                      int64_t deadline)
{
    wv_popen_t *p;

    if (!res)
        return WV_EINVAL;
    memset(res, 0, sizeof *res);
    if (!opts || (len && !input))
        return WV_EINVAL;
    wv_popen_opts_t o = *opts;
    if (input && o.in.how == WV_STDIO_INHERIT)
        o.in.how = WV_STDIO_PIPE;
    else if (input && o.in.how != WV_STDIO_PIPE)
        return WV_EINVAL;
    int err = wv_popen_new(&p, &o);
    if (err)
        return err;
    err = wv_popen_communicate(p, input, len, NULL, NULL, deadline);
    if (err)
        stop(p);
    int taken = take(p, WV_STDOUT, &res->out, &res->out_len);
    if (!taken)
        taken = take(p, WV_STDERR, &res->err, &res->err_len);
    if (wv_popen_returncode(p, &res->returncode) != 0 && !err)
        err = WV_ECHILD;
    wv_popen_free(p);
    if (!err)
        err = taken;
    if (!err && check && res->returncode != 0)
        err = WV_ECALLEDPROCESS;
    return err;
}

int wv_subprocess_check_output(const wv_popen_opts_t *opts, const void *input,
                               size_t len, wv_completed_t *res,
                               int64_t deadline)
{
    if (!opts) {
        if (res)
            memset(res, 0, sizeof *res);
        return WV_EINVAL;
    }
    wv_popen_opts_t o = *opts;
    o.out.how = WV_STDIO_PIPE;
    return wv_subprocess_run(&o, input, len, true, res, deadline);
}

void wv_completed_free(wv_completed_t *res)
{
    if (!res)
        return;
    wv__free(res->out);
    wv__free(res->err);
    memset(res, 0, sizeof *res);
}

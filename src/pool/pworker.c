/*
 * pool/pworker.c - process workers: the pool of processes.
 *
 * A process pool is the thread pool of pool.c whose workers do not run
 * tasks themselves: each worker thread (a "dispatcher") owns one worker
 * process and hands it the tasks it takes, one at a time, through a
 * shared-memory channel.  Every queue, callback, deadline, map and imap
 * of the thread pool serves the process pool unchanged; this file only
 * replaces "call fn" by "have the child call fn".
 *
 * Why one dispatcher per child.  The dispatcher always knows the one task
 * its child holds, so a dead child fails exactly that task (WV_EWORKERLOST)
 * and nothing else; the tasks waiting in the dispatcher's ring are run by
 * the replacement child.  It also gives the hard deadline for free: the
 * dispatcher waits for the child until the task's deadline, then kills it.
 * Python's Pool, whose workers pull from one shared pipe, cannot tell who
 * held what when a worker dies, and hangs (gh-66587).
 *
 * The channel is a memfd mapped by both sides: a header (sequence words,
 * the request, the outcome) and a data window.  A request's argument bytes
 * (apply) or input records (a map chunk: all its items at once) are copied
 * into the window; the child writes its results there; the dispatcher
 * copies them out.  The window grows (ftruncate, then fallocate so that a
 * full memory is WV_ENOMEM and not SIGBUS) when a request or result needs
 * more, by whichever side needs it; the other remaps when it sees the new
 * size in the header.  Turns strictly alternate, so they never grow it at
 * once.
 *
 * Waking.  The child waits for a request on the `req` futex (process-
 * shared), spinning briefly first.  The dispatcher waits for the response
 * on an epoll set holding an eventfd, which the child writes when the
 * dispatcher said it sleeps, and the child's pidfd, readable when it dies:
 * one fd, through wv__fd_wait (the seam the loop layer routes), wakes on
 * either.  Both use the Dekker pattern: publish "I sleep", full fence,
 * look again.
 *
 * Where children come from: wv__pw_zygote (handler thread, at wv_pool_new)
 * starts a private fork server unless the program runs the global one, so
 * that a replacement forked much later, while the program's threads hold
 * whatever locks, is still a copy of the image the pool was created from.
 *
 * Lock: p->mu guards each worker's `proc` pointer (terminate kills through
 * it from another thread); everything else in struct pw is the
 * dispatcher's own.
 */
#include "internal.h"

#include "../proc/internal.h"
#include "weave/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHAN_HDR 4096u /* the header's page; data follows */
#define CHAN_MIN                                                               \
    ((2u << 20) + CHAN_HDR) /* first window: map's automatic                   \
                             * chunk (1 MiB of records)                        \
                             * and its codes */
#define SPIN_PARENT 256     /* looks before the dispatcher sleeps */
#define SPIN_CHILD  4096    /* looks before the child sleeps */
#define CHILD_SLICE 1000    /* ms: the child looks at its parent */
#define EXIT_GRACE  2000    /* ms a closing child gets to leave */

enum { OP_APPLY = 1, OP_CHUNK, OP_EXIT };

struct chan {
    _Alignas(64) uint32_t req; /* the parent's request number (futex) */
    uint32_t child_sleeps;
    _Alignas(64) uint32_t rsp; /* the child's: = req once answered */
    uint32_t parent_sleeps;
    uint32_t taken; /* the child's: the request it has picked up */
    _Alignas(64) uint32_t op;
    int32_t rc;        /* the outcome: 0 or a WV_E* code */
    uint32_t per_item; /* chunk: every item's code (imap), not the first */
    wv_pool_fn fn;
    uint64_t len; /* apply: argument bytes in, result bytes out */
    uint64_t n, in_size, out_size, base; /* chunk: items, first's index */
    int64_t deadline;                    /* 0: none */
    _Alignas(64) uint64_t progress;      /* chunk: items finished */
    _Alignas(64) uint64_t size;          /* bytes of the memfd */
};

_Static_assert(sizeof(struct chan) <= CHAN_HDR, "the header fits its page");

struct pw {
    wv_process_t *proc; /* [pool->mu] NULL: no child */
    struct chan *c;     /* the mapping, map bytes */
    size_t map;
    int memfd, efd, ep;
    uint32_t seq;
};

_Static_assert(sizeof(int) == sizeof(int32_t), "item codes cross as int32");

struct child_arg {
    int memfd, efd;
    int (*init)(void *);
    void *initarg;
};

static inline char *chan_data(struct chan *c)
{
    return (char *)c + CHAN_HDR;
}

/* ------------------------------------------------------------ the window */

/* Maps the memfd anew when it grew (c->size) beyond what is mapped. */
static int remap(struct chan **c, size_t *map)
{
    size_t size = __atomic_load_n(&(*c)->size, __ATOMIC_ACQUIRE);
    if (size <= *map)
        return 0;
    void *m = mremap(*c, *map, size, MREMAP_MAYMOVE);
    if (m == MAP_FAILED)
        return WV_ENOMEM;
    *c = m;
    *map = size;
    return 0;
}

/* Makes the data window at least `need` bytes (either side may call). */
/*
 * Makes the data window at least `need` bytes (either side may call).  The
 * file only ever grows, from its real size: the other side may have grown
 * it and died before it told (c->size), and a file cut below what a live
 * child maps would be SIGBUS in that child.
 */
static int reserve(int memfd, struct chan **c, size_t *map, size_t need)
{
    if (need > SIZE_MAX - CHAN_HDR - 4095)
        return WV_ENOMEM;
    size_t want = CHAN_HDR + need;
    int err = remap(c, map); /* what the other side published */
    if (err || want <= *map)
        return err;
    struct stat st;
    if (fstat(memfd, &st) < 0)
        return WV_ENOMEM;
    size_t file = (size_t)st.st_size, size = *map > file ? *map : file;
    while (size < want)
        size = size > SIZE_MAX / 2 ? want : size * 2;
    size = wv__round_up(size, 4096);
    if (size > file) {
        if (ftruncate(memfd, (off_t)size) < 0)
            return WV_ENOMEM;
        /* Pages now, so that a full memory is WV_ENOMEM here and not
         * SIGBUS at first touch; a failure leaves the file longer, which
         * is harmless. */
        int e = posix_fallocate(memfd, 0, (off_t)size);
        if (e != 0 && e != EOPNOTSUPP && e != EINVAL)
            return WV_ENOMEM;
    }
    void *m = mremap(*c, *map, size, MREMAP_MAYMOVE);
    if (m == MAP_FAILED)
        return WV_ENOMEM;
    *c = m;
    *map = size;
    __atomic_store_n(&(*c)->size, (uint64_t)size, __ATOMIC_RELEASE);
    return 0;
}

/* ------------------------------------------------------------- the child */

int wv__pw_crash_at;
unsigned wv__pw_crash_after;

/* Test hook: dies here, the (crash_after + 1)th time it gets here. */
static void crash_point(int where)
{
    if (wv__pw_crash_at == where && wv__pw_crash_after-- == 0)
        raise(SIGKILL);
}

/* Set in a worker process: the pools it inherited are not its own. */
static int child_pid;

bool wv__pw_foreign(const wv_pool_t *p)
{
    return child_pid && p->pid != child_pid;
}

/* Answers request seq; returns true when the dispatcher slept and was
 * woken. */
static bool child_answer(struct chan *c, uint32_t seq, int efd, int rc)
{
    c->rc = rc;
    __atomic_store_n(&c->rsp, seq, __ATOMIC_SEQ_CST);
    wv__fence();
    if (!__atomic_load_n(&c->parent_sleeps, __ATOMIC_SEQ_CST))
        return false;
    uint64_t one = 1;
    while (write(efd, &one, sizeof one) < 0 && errno == EINTR)
        ;
    return true;
}

/*
 * Waits for the request after `seen`; exits when the parent is gone.  It
 * spins first only when the dispatcher was awake at the answer: one that
 * had to be woken needs a CPU to run on, and on a machine whose other
 * CPUs are busy with workers, the best one is this child's.
 */
static uint32_t child_wait(struct chan *c, uint32_t seen, int parent, int spin)
{
    for (int i = 0; i < spin; i++) {
        uint32_t r = __atomic_load_n(&c->req, __ATOMIC_ACQUIRE);
        if (r != seen)
            return r;
        wv__cpu_relax();
    }
    for (;;) {
        __atomic_store_n(&c->child_sleeps, 1, __ATOMIC_SEQ_CST);
        wv__fence();
        uint32_t r = __atomic_load_n(&c->req, __ATOMIC_ACQUIRE);
        if (r == seen)
            wv__futex_wait(&c->req, seen, wv_now() + CHILD_SLICE, true);
        __atomic_store_n(&c->child_sleeps, 0, __ATOMIC_RELAXED);
        r = __atomic_load_n(&c->req, __ATOMIC_ACQUIRE);
        if (r != seen)
            return r;
        if (getppid() != parent)
            _exit(1); /* orphaned (a daemon's signal is the first line) */
    }
}

static int child_apply(int memfd, struct chan **c, size_t *map)
{
    wv_task_t task = {0};
    struct chan *h = *c;
    int rc = wv__task_rc(h->fn(&task, chan_data(h), (size_t)h->len));
    if (rc == 0) {
        const void *res = task.heap ? task.heap : task.buf;
        rc = reserve(memfd, c, map, task.len);
        if (rc == 0) {
            memcpy(chan_data(*c), res, task.len);
            (*c)->len = task.len;
            crash_point(WV__PW_CRASH_RETURNING);
        }
    }
    wv__free(task.heap);
    return rc;
}

static size_t chunk_out_at(const struct chan *c)
{
    return wv__round_up((size_t)(c->n * c->in_size), 64);
}

static size_t chunk_errs_at(const struct chan *c)
{
    return chunk_out_at(c) + wv__round_up((size_t)(c->n * c->out_size), 64);
}

static int child_chunk(struct chan *c)
{
    const char *in = chan_data(c);
    char *out = c->out_size ? chan_data(c) + chunk_out_at(c) : NULL;
    int32_t *errs = (int32_t *)(chan_data(c) + chunk_errs_at(c));
    size_t n = (size_t)c->n, isz = (size_t)c->in_size;
    size_t osz = (size_t)c->out_size;
    int64_t deadline = c->deadline;
    bool per_item = c->per_item;
    wv_pool_fn fn = c->fn;
    wv_task_t task = {.cap = osz, .record = true};

    for (size_t i = 0; i < n; i++) {
        int rc;
        if (deadline && wv_now() >= deadline) {
            rc = WV_ETIMEDOUT;
        } else {
            task.out = out ? out + i * osz : NULL;
            task.index = (size_t)c->base + i;
            task.len = 0;
            rc = wv__task_rc(fn(&task, in + i * isz, isz));
        }
        if (per_item) {
            errs[i] = rc;
        } else if (rc) {
            __atomic_store_n(&c->progress, i, __ATOMIC_RELAXED);
            return rc;
        }
        __atomic_store_n(&c->progress, i + 1, __ATOMIC_RELAXED);
    }
    return 0;
}

/* A worker process's body: the initializer, then requests until told to
 * leave. */
static int child_main(void *arg)
{
    struct child_arg a = *(const struct child_arg *)arg;
    struct stat st;
    int parent = getppid();

    child_pid = getpid();
    wv__pool_enter(NULL);
    if (fstat(a.memfd, &st) < 0)
        return 1;
    size_t map = (size_t)st.st_size;
    struct chan *c = mmap(NULL, map, PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_POPULATE, a.memfd, 0);
    if (c == MAP_FAILED)
        return 1;
    uint32_t seen = 1;
    bool woke = child_answer(c, seen, a.efd,
                             a.init ? wv__task_rc(a.init(a.initarg)) : 0);
    for (;;) {
        seen = child_wait(c, seen, parent, woke ? 0 : SPIN_CHILD);
        __atomic_store_n(&c->taken, seen, __ATOMIC_RELAXED);
        crash_point(WV__PW_CRASH_TAKEN);
        int rc = remap(&c, &map);
        if (rc == 0) {
            switch (c->op) {
            case OP_EXIT:
                return 0;
            case OP_APPLY:
                rc = child_apply(a.memfd, &c, &map);
                break;
            case OP_CHUNK:
                rc = child_chunk(c);
                break;
            default:
                rc = WV_EINVAL;
            }
        }
        woke = child_answer(c, seen, a.efd, rc);
    }
}

/* ------------------------------------------------------------ zygote */

int wv__pw_zygote_start(wv_pool_t *p)
{
    if (wv__forkserver_running())
        return 0; /* the program's own: its image is the one it chose */
    wv__fserver_t *z;
    int err = wv__fserver_new(&z);
    if (err == 0)
        p->zygote = z;
    return err;
}

void wv__pw_zygote_stop(wv_pool_t *p)
{
    wv__fserver_free(p->zygote);
    p->zygote = NULL;
}

static int spawn(wv_pool_t *p, wv_process_t **out, const wv_process_opts_t *o,
                 void *arg)
{
    if (p->zygote)
        return wv__process_start_via(p->zygote, out, o, child_main, arg);
    /* The program's fork server, and only it: once it is stopped, the
     * pool breaks rather than fork a threaded parent. */
    wv_process_opts_t via = *o;
    via.start = WV_START_FORKSERVER;
    return wv_process_start(out, &via, child_main, arg);
}

/* ------------------------------------------------------ the dispatcher */

static bool child_ended(struct pw *w)
{
    struct pollfd pfd = {.fd = wv__process_pidfd(w->proc), .events = POLLIN};
    return poll(&pfd, 1, 0) > 0;
}

/*
 * Waits for the answer to request `seq`.  0 (the child's rc is in the
 * header), WV_EWORKERLOST (it died first), WV_ETIMEDOUT (deadline).
 */
static int await(struct pw *w, uint32_t seq, int64_t deadline)
{
    struct chan *c = w->c;

    for (int i = 0; i < SPIN_PARENT; i++) {
        if (__atomic_load_n(&c->rsp, __ATOMIC_ACQUIRE) == seq)
            return 0;
        wv__cpu_relax();
    }
    for (;;) {
        __atomic_store_n(&c->parent_sleeps, 1, __ATOMIC_SEQ_CST);
        wv__fence();
        int err = 0;
        if (__atomic_load_n(&c->rsp, __ATOMIC_ACQUIRE) != seq)
            err = wv__fd_wait(w->ep, POLLIN, deadline, NULL);
        __atomic_store_n(&c->parent_sleeps, 0, __ATOMIC_RELAXED);
        uint64_t v;
        while (read(w->efd, &v, sizeof v) > 0)
            ;
        if (__atomic_load_n(&c->rsp, __ATOMIC_ACQUIRE) == seq)
            return 0;
        if (child_ended(w))
            return WV_EWORKERLOST;
        if (err == WV_ETIMEDOUT)
            return err;
    }
}

/* Sends the request set up in the header. */
static uint32_t send_req(struct pw *w)
{
    struct chan *c = w->c;
    uint32_t seq = ++w->seq;
    __atomic_store_n(&c->req, seq, __ATOMIC_SEQ_CST);
    wv__fence();
    if (__atomic_load_n(&c->child_sleeps, __ATOMIC_SEQ_CST))
        wv__futex_wake(&c->req, 1, true);
    return seq;
}

/*
 * Sends the request set up in the header and waits for its answer.  A
 * child that died before it picked the request up did not hold it: the
 * request goes to its replacement.  0 (the answer's code is c->rc) or as
 * child_lost: the task's code once the child is replaced.
 */
static void child_drop(wv_pool_t *p, struct pw *w, bool kill);
static int replace(wv_pool_t *p, struct worker *wk);

static int deliver(wv_pool_t *p, struct worker *wk, int64_t deadline)
{
    struct pw *w = wk->pw;

    for (;;) {
        uint32_t seq = send_req(w);
        int err = await(w, seq, deadline ? deadline : -1);
        if (err == 0)
            return 0;
        /* Reaped first: only then is `taken` final.  Past the deadline the
         * task fails whether it started or not: it is never sent again. */
        child_drop(p, w, true);
        bool held = err == WV_ETIMEDOUT ||
                    __atomic_load_n(&w->c->taken, __ATOMIC_RELAXED) == seq;
        int rerr = replace(p, wk);
        if (rerr == WV_ECANCELED)
            return rerr;
        if (held)
            return err;
        if (rerr)
            return rerr; /* it never ran, and no child can run it */
    }
}

/* Kills the child (if it still runs) and reaps it. */
static void child_drop(wv_pool_t *p, struct pw *w, bool kill)
{
    wv__lock_acquire_nocancel(&p->mu);
    wv_process_t *proc = w->proc;
    w->proc = NULL;
    wv_lock_release(&p->mu);
    if (!proc)
        return;
    if (kill)
        wv_process_kill(proc);
    wv_process_join(proc, NULL, -1);
    epoll_ctl(w->ep, EPOLL_CTL_DEL, wv__process_pidfd(proc), NULL);
    wv_process_free(proc);
}

/* Starts a child and waits for its initializer.  0, the initializer's
 * code, or a start error. */
static int child_start(wv_pool_t *p, struct pw *w, unsigned index)
{
    char name[WV_PROCESS_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s-%u", p->name, index + 1);
    struct child_arg a = {w->memfd, w->efd, p->init, p->initarg};
    int fds[2] = {w->memfd, w->efd};
    wv_process_opts_t o = {
        .name = name,
        .daemon = true,
        .arg_size = sizeof a,
        .fds = fds,
        .nfds = 2,
    };
    wv_process_t *proc;

    w->seq = 1; /* the initializer's answer */
    __atomic_store_n(&w->c->req, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&w->c->taken, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&w->c->rsp, 0, __ATOMIC_RELAXED);
    int err = spawn(p, &proc, &o, &a);
    if (err)
        return err;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 1};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, wv__process_pidfd(proc), &ev) < 0) {
        err = -errno;
        wv_process_kill(proc);
        wv_process_join(proc, NULL, -1);
        wv_process_free(proc);
        return err;
    }
    wv__lock_acquire_nocancel(&p->mu);
    w->proc = proc;
    bool killed = wv__pool_flags(p) & P_TERMINATED;
    wv_lock_release(&p->mu);
    if (killed) /* terminate came while it started and did not see it */
        wv_process_kill(proc);
    err = await(w, 1, -1);
    if (err == 0)
        err = w->c->rc;
    if (err)
        child_drop(p, w, true);
    return err;
}

static void pw_free(struct pw *w)
{
    if (w->c)
        munmap(w->c, w->map);
    if (w->memfd >= 0)
        close(w->memfd);
    if (w->efd >= 0)
        close(w->efd);
    if (w->ep >= 0)
        close(w->ep);
    wv__free(w);
}

int wv__pw_open(wv_pool_t *p, struct worker *wk)
{
    struct pw *w = wv__calloc(1, sizeof *w);
    if (!w)
        return WV_ENOMEM;
    w->memfd = w->efd = w->ep = -1;
    int err = 0;
    w->memfd = memfd_create("weave-pool", MFD_CLOEXEC);
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    if (w->memfd < 0 || w->efd < 0 || w->ep < 0)
        err = -errno;
    /* The first window's pages are had and mapped now, at the pool's
     * creation (the child maps them populated too), not faulted in one
     * by one during the first map. */
    if (!err &&
        (ftruncate(w->memfd, CHAN_MIN) < 0 ||
         posix_fallocate(w->memfd, 0, CHAN_MIN) != 0 ||
         (w->c = mmap(NULL, CHAN_MIN, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_POPULATE, w->memfd, 0)) == MAP_FAILED)) {
        w->c = NULL;
        err = WV_ENOMEM;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0};
    if (!err && epoll_ctl(w->ep, EPOLL_CTL_ADD, w->efd, &ev) < 0)
        err = -errno;
    if (err) {
        pw_free(w);
        return err == WV_EMFILE || err == WV_ENFILE ? err : WV_ENOMEM;
    }
    w->map = CHAN_MIN;
    w->c->size = CHAN_MIN;
    /* Counted until closed (this worker is live: the handler cannot be
     * finished now): the handler stops the fork server only once every
     * child is reaped, however the dispatchers leave. */
    __atomic_add_fetch(&p->pw_open, 1, __ATOMIC_SEQ_CST);
    wv__lock_acquire_nocancel(&p->mu);
    wk->pw = w;
    wv_lock_release(&p->mu);
    return child_start(p, w, wk->index);
}

void wv__pw_close(wv_pool_t *p, struct worker *wk)
{
    struct pw *w = wk->pw;
    if (!w)
        return;
    if (w->proc) {
        /* Asked to leave, it flushes its stdio; killed if it does not
         * within the grace (or at once, terminated). */
        bool kill = true;
        if (!(wv__pool_flags(p) & P_TERMINATED)) {
            w->c->op = OP_EXIT;
            send_req(w);
            kill = wv_process_join(w->proc, NULL, wv_now() + EXIT_GRACE) != 0;
        }
        child_drop(p, w, kill);
    }
    wv__lock_acquire_nocancel(&p->mu);
    wk->pw = NULL;
    wv_lock_release(&p->mu);
    pw_free(w);
    if (__atomic_sub_fetch(&p->pw_open, 1, __ATOMIC_SEQ_CST) == 0)
        wv__handler_wake(p);
}

/* A child failed its task (err): kill and reap it, and start another
 * unless the pool is terminated.  Returns the task's code. */
/*
 * A fresh child for the dispatcher, the old one reaped: 0, WV_ECANCELED
 * (terminated: none is started, or the one started was killed by the
 * terminate), or WV_EBROKEN (none could be had: the pool breaks).
 */
static int replace(wv_pool_t *p, struct worker *wk)
{
    wk->done = 0; /* maxtasksperchild counts per child */
    if (wv__pool_flags(p) & P_TERMINATED)
        return WV_ECANCELED;
    if (child_start(p, wk->pw, wk->index) == 0)
        return 0;
    if (wv__pool_flags(p) & P_TERMINATED)
        return WV_ECANCELED;
    wv__pool_break(p);
    return WV_EBROKEN;
}

/* A child failed its request (err) in a way `deliver` did not see: kill
 * and reap it, start another.  Returns the request's code. */
static int child_lost(wv_pool_t *p, struct worker *wk, int err)
{
    child_drop(p, wk->pw, true);
    int rerr = replace(p, wk);
    return rerr == WV_ECANCELED ? rerr : err;
}

/* The outcome of a task the child could not finish. */
static int no_child(wv_pool_t *p)
{
    return wv__pool_flags(p) & P_TERMINATED ? WV_ECANCELED : WV_EBROKEN;
}

int wv__pw_recycle(wv_pool_t *p, struct worker *wk)
{
    struct pw *w = wk->pw;

    if (!w->proc)
        return no_child(p);
    w->c->op = OP_EXIT;
    send_req(w);
    bool gone = wv_process_join(w->proc, NULL, wv_now() + EXIT_GRACE) == 0;
    child_drop(p, w, !gone);
    return replace(p, wk);
}

int wv__pw_apply(wv_pool_t *p, struct worker *wk, wv_pool_fn fn,
                 const void *arg, size_t len, int64_t deadline, wv_task_t *task)
{
    struct pw *w = wk->pw;

    task->out = NULL;
    task->heap = NULL;
    task->len = 0;
    task->index = 0;
    task->record = false;
    if (!w->proc)
        return no_child(p);
    int err = reserve(w->memfd, &w->c, &w->map, len);
    if (err)
        return err;
    struct chan *c = w->c;
    if (len)
        memcpy(chan_data(c), arg, len);
    c->op = OP_APPLY;
    c->fn = fn;
    c->len = len;
    if ((err = deliver(p, wk, deadline)) != 0)
        return err;
    if ((err = remap(&w->c, &w->map)) != 0)
        return child_lost(p, wk, err); /* its result is out of reach */
    c = w->c;
    if (c->rc)
        return c->rc;
    return wv_task_return(task, chan_data(c), (size_t)c->len);
}

int wv__pw_chunk(wv_pool_t *p, struct worker *wk, const struct pw_chunk *k,
                 size_t *done)
{
    struct pw *w = wk->pw;

    *done = 0;
    if (!w->proc)
        return no_child(p);
    if (k->n &&
        (k->in_size > SIZE_MAX / 4 / k->n || k->out_size > SIZE_MAX / 4 / k->n))
        return WV_ENOMEM;
    struct chan h = {.n = k->n, .in_size = k->in_size, .out_size = k->out_size};
    size_t need = chunk_errs_at(&h) + (k->errs ? k->n * sizeof(int32_t) : 0);
    int err = reserve(w->memfd, &w->c, &w->map, need);
    if (err)
        return err;
    struct chan *c = w->c;
    if (k->n && k->in_size)
        memcpy(chan_data(c), k->in, k->n * k->in_size);
    c->op = OP_CHUNK;
    c->fn = k->fn;
    c->n = k->n;
    c->in_size = k->in_size;
    c->out_size = k->out_size;
    c->base = k->base;
    c->deadline = k->deadline;
    c->per_item = k->errs != NULL;
    c->progress = 0;
    err = deliver(p, wk, k->deadline);
    c = w->c;
    size_t ran = (size_t)__atomic_load_n(&c->progress, __ATOMIC_ACQUIRE);
    if (ran > k->n)
        ran = k->n;
    int rc = err ? 0 : c->rc;
    /* Results of the items that ran: the window outlives the child. */
    if (k->out && k->out_size && ran)
        memcpy(k->out, chan_data(c) + chunk_out_at(c), ran * k->out_size);
    if (k->errs && ran)
        memcpy(k->errs, chan_data(c) + chunk_errs_at(c), ran * sizeof(int32_t));
    *done = ran;
    return err ? err : rc;
}

void wv__pw_kill_all(wv_pool_t *p)
{
    wv__lock_acquire_nocancel(&p->mu);
    for (unsigned i = 0; i < p->max; i++) {
        struct pw *w = p->workers[i].pw;
        if (w && w->proc)
            wv_process_kill(w->proc);
    }
    wv_lock_release(&p->mu);
}

int wv__pw_pids(wv_pool_t *p, int *pids, int cap)
{
    int n = 0;

    wv__lock_acquire_nocancel(&p->mu);
    for (unsigned i = 0; i < p->max && n < cap; i++) {
        struct pw *w = p->workers[i].pw;
        if (w && w->proc)
            pids[n++] = wv_process_pid(w->proc);
    }
    wv_lock_release(&p->mu);
    return n;
}

/*
 * pool/pworker.c - the process kind of worker (wv__pool_processes): the
 * dispatcher side.
 *
 * Structure.  The pool's worker threads (worker.c) are the same for both
 * kinds; the kind is the ops table at the end of this file, which the
 * pool reaches through p->kind only.  For processes, each worker thread
 * (a "dispatcher") owns one worker process (pchild.c) and hands it the
 * tasks it takes, one at a time, through a shared-memory channel
 * (pchan.h).  Every queue, callback, deadline, map and imap of the pool
 * serves processes unchanged; this kind only replaces "call fn" by "have
 * the child call fn".  Back into the pool it calls only what internal.h
 * lists under "what a kind may call".
 *
 * Why one dispatcher per child.  The dispatcher always knows the one task
 * its child holds, so a dead child fails exactly that task (WV_EWORKERLOST)
 * and nothing else; the tasks waiting in the dispatcher's ring are run by
 * the replacement child.  It also gives the hard deadline for free: the
 * dispatcher waits for the child until the task's deadline, then kills it.
 * Python's Pool, whose workers pull from one shared pipe, cannot tell who
 * held what when a worker dies, and hangs (gh-66587).
 *
 * Copies.  A request's argument bytes (apply) or input records (a map
 * chunk: all its items at once) are copied into the channel's window
 * once.  An apply's result is written there by the child's
 * wv_task_return, and copied once into the future's storage (none when
 * nobody holds a future); a chunk's result records are copied once into
 * their place (the caller's array, or the imap slot).
 *
 * Waking.  The child waits for a request on the `req` futex (process-
 * shared), spinning briefly first.  The dispatcher waits for the response
 * on an epoll set holding an eventfd, which the child writes when the
 * dispatcher said it sleeps, and the child's pidfd, readable when it dies:
 * one fd, through wv__fd_wait (the seam the loop layer routes), wakes on
 * either.  Both use the Dekker pattern: publish "I sleep", full fence,
 * look again.
 *
 * Where children come from: pool_start starts a private fork server from
 * a thread of the kind's own (p->kind_thread: the server dies with the
 * thread that forked it, so that thread lives as long as the pool),
 * unless the program runs the global one, so that a replacement forked
 * much later, while the program's threads hold whatever locks, is still a
 * copy of the image the pool was created from.  pool_stop (the handler's
 * end, every child reaped) lets that thread free the server and end.
 *
 * Lock: p->mu guards each worker's `proc` pointer (terminate kills through
 * it from another thread); everything else in struct pw is the
 * dispatcher's own.
 */
#include "pchan.h"

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

#define SPIN_PARENT 256  /* looks before the dispatcher sleeps */
#define EXIT_GRACE  2000 /* ms a closing child gets to leave */

struct pw {
    wv_process_t *proc; /* [pool->mu] NULL: no child */
    struct chan *c;     /* the mapping, map bytes */
    size_t map;
    int memfd, efd, ep;
    uint32_t seq;
};

/* ------------------------------------------------------------ zygote */

/*
 * The private fork server dies with the thread that forked it
 * (PR_SET_PDEATHSIG), so it is forked by a thread of its own that lives
 * as long as the pool: neither the thread calling wv_pool_new (it may end
 * first) nor the handler (callbacks are its one job).  The thread starts
 * the server, reports, then waits for pool_stop (the handler's end, every
 * child reaped) to free it.
 */
static int zygote_main(void *arg)
{
    wv_pool_t *p = arg;
    wv_thread_t *me = wv_thread_current();
    wv__fserver_t *z = NULL;

    p->zygote_err = wv__fserver_new(&z);
    p->zygote = z;
    wv_event_set(&p->zygote_ready);
    if (z) {
        wv_event_wait(&p->zygote_stop, WV_FOREVER);
        p->zygote = NULL; /* every child is reaped: nobody reads it */
        wv__fserver_free(z);
    }
    wv__pool_thread_end(p, me);
    return 0;
}

static int proc_pool_start(wv_pool_t *p)
{
    if (wv__forkserver_running())
        return 0; /* the program's own: its image is the one it chose */
    char name[48];
    snprintf(name, sizeof name, "%s-forkserver", p->name);
    wv_thread_opts_t opts = {.name = name};

    __atomic_add_fetch(&p->threads, 1, __ATOMIC_SEQ_CST);
    int err = wv_thread_start(&p->kind_thread, &opts, zygote_main, p);
    if (err) {
        __atomic_sub_fetch(&p->threads, 1, __ATOMIC_SEQ_CST);
        p->kind_thread = NULL;
        return err;
    }
    wv_event_wait(&p->zygote_ready, WV_FOREVER);
    return p->zygote_err;
}

static void proc_pool_stop(wv_pool_t *p)
{
    wv_event_set(&p->zygote_stop);
}

static int spawn(wv_pool_t *p, wv_process_t **out, const wv_process_opts_t *o,
                 void *arg)
{
    if (p->zygote)
        return wv__process_start_via(p->zygote, out, o, wv__pw_child_main, arg);
    /* The program's fork server, and only it: once it is stopped, the
     * pool breaks rather than fork a threaded parent. */
    wv_process_opts_t via = *o;
    via.start = WV_START_FORKSERVER;
    return wv_process_start(out, &via, wv__pw_child_main, arg);
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
        int err = await(w, seq, deadline);
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

static int proc_open(wv_pool_t *p, struct worker *wk)
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
    __atomic_add_fetch(&p->kind_open, 1, __ATOMIC_SEQ_CST);
    wv__lock_acquire_nocancel(&p->mu);
    wk->pw = w;
    wv_lock_release(&p->mu);
    return child_start(p, w, wk->index);
}

static void proc_close(wv_pool_t *p, struct worker *wk)
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
    if (__atomic_sub_fetch(&p->kind_open, 1, __ATOMIC_SEQ_CST) == 0)
        wv__pool_kind_closed(p);
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

/* maxtasksperchild: a fresh child; the dispatcher thread stays (if none
 * can be had, the pool is broken and the thread leaves with it). */
static bool proc_recycle(wv_pool_t *p, struct worker *wk)
{
    struct pw *w = wk->pw;

    if (!w->proc)
        return true;
    w->c->op = OP_EXIT;
    send_req(w);
    bool gone = wv_process_join(w->proc, NULL, wv_now() + EXIT_GRACE) == 0;
    child_drop(p, w, !gone);
    replace(p, wk);
    return true;
}

/*
 * Runs fn(arg) in the child.  On success *res points at the result in the
 * channel (valid until the next request) and *res_len is its length.  The
 * task's code, or WV_EWORKERLOST (the child died: replaced), WV_ETIMEDOUT
 * (past the deadline: killed and replaced), WV_ECANCELED (terminated),
 * WV_EBROKEN (no child could be had), WV_ENOMEM.
 */
static int pw_apply(wv_pool_t *p, struct worker *wk, wv_pool_fn fn,
                    const void *arg, size_t len, int64_t deadline,
                    const void **res, size_t *res_len)
{
    struct pw *w = wk->pw;

    if (!w->proc)
        return no_child(p);
    int err = wv__chan_reserve(w->memfd, &w->c, &w->map, len);
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
    if ((err = wv__chan_remap(&w->c, &w->map)) != 0)
        return child_lost(p, wk, err); /* its result is out of reach */
    c = w->c;
    if (c->rc)
        return c->rc;
    if (c->len > w->map - CHAN_HDR - result_at(len))
        return child_lost(p, wk, WV_EIO); /* a header it cannot have */
    *res = chan_data(c) + result_at(len);
    *res_len = (size_t)c->len;
    return 0;
}

/* The result crosses twice: the child's wv_task_return into the channel,
 * and the channel into the future's storage, here. */
static void proc_apply(wv_pool_t *p, struct worker *wk, wv_pool_fn fn,
                       const void *arg, size_t len, int64_t deadline,
                       wv_future_t *f)
{
    const void *res = NULL;
    size_t res_len = 0;
    int rc = pw_apply(p, wk, fn, arg, len, deadline, &res, &res_len);

    if (!f)
        return;
    if (rc == 0)
        rc = wv_future_set_result(f, res, res_len);
    if (rc != 0)
        wv_future_set_error(f, rc);
}

/* A chunk in the child: its input records cross in one copy, its results
 * (and imap's codes) in one copy back, of the items that finished. */
static int proc_chunk(wv_pool_t *p, struct worker *wk, const struct pw_chunk *k,
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
    int err = wv__chan_reserve(w->memfd, &w->c, &w->map, need);
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

static void proc_kill(wv_pool_t *p)
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

const struct wv__pool_kind_ops wv__pool_processes = {
    .pool_start = proc_pool_start,
    .pool_stop = proc_pool_stop,
    .worker_open = proc_open,
    .worker_close = proc_close,
    .worker_recycle = proc_recycle,
    .run_apply = proc_apply,
    .run_chunk = proc_chunk,
    .kill = proc_kill,
};

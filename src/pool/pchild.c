/*
 * pool/pchild.c - a process pool's worker process, and the channel's
 * window (both sides grow it).
 *
 * The child is forked (by the pool's fork server) with the channel's
 * memfd and eventfd.  It runs the initializer, answers, then serves
 * requests until told to leave: wait for `req` (spinning first only if
 * its dispatcher was awake at the last answer), write `taken`, run the
 * request, answer (`rsp`, and the eventfd if the dispatcher sleeps).
 * An apply's result goes straight from wv_task_return into the channel
 * (child_sink): the crossing is that one copy.  A chunk runs the thread
 * kind's item loop (wv__chunk_items) over the window, storing its
 * progress for a death or a kill midway.  A child whose parent is gone
 * leaves (it looks every CHILD_SLICE ms).
 *
 * No lock: the header's sequence words order everything (Dekker on
 * child_sleeps / parent_sleeps, see pworker.c).
 */
#include "pchan.h"

#include "../core/io.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPIN_CHILD  4096 /* looks before the child sleeps */
#define CHILD_SLICE 1000 /* ms: the child looks at its parent */

/* ------------------------------------------------------------ the window */

int wv__chan_remap(struct chan **c, size_t *map)
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

/*
 * Makes the data window at least `need` bytes (either side may call).  The
 * file only ever grows, from its real size: the other side may have grown
 * it and died before it told (c->size), and a file cut below what a live
 * child maps would be SIGBUS in that child.
 */
int wv__chan_reserve(int memfd, struct chan **c, size_t *map, size_t need)
{
    if (need > SIZE_MAX - CHAN_HDR - 4095)
        return WV_ENOMEM;
    size_t want = CHAN_HDR + need;
    int err = wv__chan_remap(c, map); /* what the other side published */
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
    wv__write(efd, &one, sizeof one);
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

/*
 * An apply's result in the child goes straight into the channel, after
 * the argument (at result_at(len)): wv_task_return's one copy is the
 * crossing.  The argument fn is reading must stay mapped meanwhile, so
 * growing the window during fn maps the file a second time and grows
 * that one; the first mapping is dropped once fn has returned.
 */
struct child_out {
    int memfd;
    struct chan **c; /* the child's mapping, as it moves */
    size_t *map;
    size_t at;         /* the result's offset in the data window */
    struct chan *orig; /* the mapping fn's argument lies in, if moved */
    size_t orig_map;
};

static int child_sink(wv_task_t *task, const void *data, size_t len)
{
    struct child_out *o = task->sink_arg;

    if (len > SIZE_MAX / 2 - o->at)
        return WV_ENOMEM;
    if (CHAN_HDR + o->at + len > *o->map) {
        if (!o->orig) {
            void *m = mmap(NULL, *o->map, PROT_READ | PROT_WRITE, MAP_SHARED,
                           o->memfd, 0);
            if (m == MAP_FAILED)
                return WV_ENOMEM;
            o->orig = *o->c;
            o->orig_map = *o->map;
            *o->c = m;
        }
        int err = wv__chan_reserve(o->memfd, o->c, o->map, o->at + len);
        if (err)
            return err; /* the previous result, if any, stays */
    }
    if (len)
        memcpy(chan_data(*o->c) + o->at, data, len);
    task->len = len;
    return 0;
}

static int child_apply(int memfd, struct chan **c, size_t *map)
{
    struct chan *h = *c;
    size_t len = (size_t)h->len;
    struct child_out o = {memfd, c, map, result_at(len), NULL, 0};
    wv_task_t task = {.sink = child_sink, .sink_arg = &o};
    int rc = wv__task_rc(h->fn(&task, chan_data(h), len));

    if (o.orig)
        munmap(o.orig, o.orig_map);
    if (rc == 0) {
        (*c)->len = task.len;
        crash_point(WV__PW_CRASH_RETURNING);
    }
    return rc;
}

/* A chunk in the child: the items' loop of the thread kind, over the
 * channel; c->progress follows it, for a death or a kill midway. */
static int child_chunk(struct chan *c)
{
    struct pw_chunk k = {
        .fn = c->fn,
        .in = chan_data(c),
        .n = (size_t)c->n,
        .in_size = (size_t)c->in_size,
        .out = c->out_size ? chan_data(c) + chunk_out_at(c) : NULL,
        .out_size = (size_t)c->out_size,
        .errs = c->per_item ? (int *)(chan_data(c) + chunk_errs_at(c)) : NULL,
        .base = (size_t)c->base,
        .deadline = c->deadline,
    };
    return wv__chunk_items(&k, &c->progress);
}

/* A worker process's body: the initializer, then requests until told to
 * leave. */
int wv__pw_child_main(void *arg)
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
        int rc = wv__chan_remap(&c, &map);
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

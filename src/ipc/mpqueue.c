/*
 * proc/pqueue.c - multiprocessing.Queue / JoinableQueue in shared memory.
 *
 * A ring of `ncells` cells, each with a 64-bit state word, as in Vyukov's
 * bounded MPMC queue, except that a place is claimed with a CAS on the
 * cell's own state word, which also records who claimed it:
 *
 *     state = pos << 12 | kind << 10 | part
 *
 *   EMPTY(pos)          free for the message at position pos
 *   WRITING(pos, part)  a producer of participant `part` is copying in
 *   FULL(pos)           the message at pos, ready (part R_MARK: to be
 *                       delivered again, its first taker died)
 *   READING(pos, part)  a consumer of `part` is copying it out
 *
 * `tail` and `head` are hints that only move forward by one, with a CAS
 * from the position whose cell was just claimed; anybody who finds the
 * cell at the hint claimed moves the hint on (helping), so a claimer
 * dying between its two CAS stalls nobody.  A cell's state names its
 * claimer, so the survivors can undo what the dead were doing: a dead
 * producer's cell becomes EMPTY for the next lap (its put never returned,
 * the message is dropped whole), a dead consumer's becomes FULL(R_MARK)
 * and is taken again by the next get (`redeliver` tells gets to look).
 *
 * Participants are processes (entries of `parts`: pid and start time).
 * A waiter sleeps on a futex word in slices (10 ms doubling to 160 ms);
 * after each it checks the process holding the cell it waits for, and
 * (at most every SWEEP_MS, among all waiters) every participant.  A dead
 * one is repaired under the robust `admin` lock, which also guards the
 * participants table and the heap's page map; a repair interrupted by
 * another death is finished by the next holder from the intent record.
 *
 * Messages longer than inline_max live in the heap: pages tagged with
 * their owner, RES(nonce, part) while a producer holds them before it
 * has a cell, then pos + 1.  Pages whose owner holds no cell any more are
 * orphans, taken back when an allocation finds no room.  Messages longer
 * than the heap go through a shm object named after the queue and the
 * position.
 *
 * Those objects outlive every process, so the queue must remove them.  A
 * consumer removes the one it took.  Those still inside when the queue
 * goes away are removed by the last holder: every handle takes a shared
 * flock on the queue's open file (a memfd when anonymous, the named
 * object else), which its descriptor and its mapping both keep open.  A
 * fork shares the open file, lock included, and an exit or death drops
 * it, so the kernel counts the holders, the dead ones too, which a
 * counter in the queue could not.  A free (of an anonymous queue, or of a
 * named one whose name is gone) opens the queue anew through
 * /proc/self/fd, closes and unmaps its own, then tries an exclusive lock:
 * if it gets it, no process maps the queue any more, and it removes every
 * "/wvq-<id>-*" object.  An unlink does the same once the name is gone,
 * for a queue that no process holds any more.  `gone` then tells a late
 * wv_mpqueue_open (named before the unlink) that the queue is finished.
 * Rejected: a holder count in the queue (a SIGKILLed holder never gives
 * its count back) and the participants table (a forked child holds the
 * queue before it registers, at its first put or get).
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define PQ_MAGIC   0x51505657u /* "WVPQ" */
#define PQ_VERSION 2u
#define PAGE       4096u
#define NPARTS     (WV_MPQUEUE_MAX_PROCS + 1) /* entry 0 unused */
#define R_MARK     1023u
/* pq_hdr.closed */
#define CLOSED    1u
#define IMMEDIATE 2u

#define EMPTY   0u
#define WRITING 1u
#define FULL    2u
#define READING 3u

#define ST(pos, kind, part)                                                    \
    ((uint64_t)(pos) << 12 | (uint64_t)(kind) << 10 | (part))
#define ST_POS(w)  ((w) >> 12)
#define ST_KIND(w) ((unsigned)((w) >> 10) & 3u)
#define ST_PART(w) ((unsigned)(w)&1023u)

#define PAGE_INLINE 0u
#define PAGE_SPILL  UINT32_MAX
#define RES(nonce, part)                                                       \
    ((uint64_t)1 << 63 | (uint64_t)(uint32_t)(nonce) << 10 | (part))
#define IS_RES(t) ((t) >> 63)

#define SLICE_MIN_MS 10
#define SLICE_MAX_MS 160
#define SWEEP_MS     20
#define SPINS        200 /* looks before yielding */
#define PAUSES       64  /* pauses between two looks */
#define YIELDS       64  /* yields before sleeping */

struct pq_part {
    _Alignas(64) int32_t pid; /* 0: free; written last on registration */
    uint32_t pad;
    uint64_t start; /* start time (clock ticks after boot) */
    uint64_t gword; /* joinable: got << 16 | gets in their take window */
    uint64_t done;  /* joinable: task_done calls */
};

struct pq_cell {
    uint64_t state;
    uint32_t len;
    uint32_t page; /* PAGE_INLINE, PAGE_SPILL, or first heap page + 1 */
    unsigned char data[];
};

struct pq_hdr {
    uint32_t magic, version;
    uint64_t id; /* names spill objects */
    uint32_t ncells, cell_size, inline_max, npages;
    uint64_t mask; /* ncells - 1 when a power of two, else 0 */
    uint64_t cells_off, owner_off, heap_off, total;
    uint32_t joinable;
    uint32_t closed;    /* shutdown: CLOSED, | IMMEDIATE */
    uint32_t redeliver; /* > 0: a FULL(R_MARK) cell may exist */
    uint32_t gone;      /* the last holder removed the shm objects */

    _Alignas(64) uint64_t tail;
    _Alignas(64) uint64_t head;
    _Alignas(64) uint32_t put_ev; /* consumers sleep here */
    uint32_t cwait;
    _Alignas(64) uint32_t get_ev; /* producers sleep here */
    uint32_t pwait;
    _Alignas(64) uint32_t done_ev; /* joiners sleep here */
    uint32_t jwait;
    int64_t last_sweep; /* wv_now() of the last sweep */

    /* [admin] */
    _Alignas(64) wv_plock_t admin;
    uint32_t cursor;   /* next-fit start in the heap */
    uint32_t parts_hw; /* entries [1, parts_hw) have been used */
    uint64_t retired_got, retired_done;
    struct {
        uint32_t part; /* 0: none */
        uint32_t pad;
        uint64_t got, done; /* the new retired_* values */
    } intent;
    struct pq_part parts[NPARTS];
};

struct wv_mpqueue {
    struct pq_hdr *h;
    size_t map_size;
    int fd; /* the queue's memfd or shm object, flock(LOCK_SH) held */
    char *name;
    uint64_t reg; /* fork generation << 32 | our participant index */
};

int wv__pqueue_crash_at;

/* Test hook: dies here when wv__pqueue_crash_at names this point. */
#define CRASH_POINT(n)                                                         \
    do {                                                                       \
        if (__builtin_expect(wv__pqueue_crash_at == (n), 0))                   \
            raise(SIGKILL);                                                    \
    } while (0)

static uint32_t fork_gen = 1;
static uint32_t res_nonce;  /* tags heap reservations */
static uint64_t self_start; /* valid while self_start_gen == fork_gen */
static uint32_t self_start_gen;

static void after_fork(void)
{
    __atomic_add_fetch(&fork_gen, 1, __ATOMIC_RELAXED);
}

__attribute__((constructor)) static void pqueue_init(void)
{
    pthread_atfork(NULL, NULL, after_fork);
}

/* --------------------------------------------------------------- layout */

/* The i-th cell of the ring. */
static inline struct pq_cell *cell_at(const struct pq_hdr *h, uint64_t i)
{
    return (struct pq_cell *)((char *)h + h->cells_off + i * h->cell_size);
}

/* The cell of position pos. */
static inline struct pq_cell *cell(const struct pq_hdr *h, uint64_t pos)
{
    return cell_at(h, h->mask ? pos & h->mask : pos % h->ncells);
}

static inline uint64_t *owners(const struct pq_hdr *h)
{
    return (uint64_t *)((char *)h + h->owner_off);
}

static inline uint64_t own_get(const uint64_t *own, uint32_t pg)
{
    return __atomic_load_n(&own[pg], __ATOMIC_ACQUIRE);
}

static inline void own_set(uint64_t *own, uint32_t pg, uint64_t tag)
{
    __atomic_store_n(&own[pg], tag, __ATOMIC_RELEASE);
}

static inline unsigned char *page_addr(const struct pq_hdr *h, uint32_t pg)
{
    return (unsigned char *)h + h->heap_off + (size_t)pg * PAGE;
}

static inline uint64_t load(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline bool cas(uint64_t *p, uint64_t old, uint64_t new)
{
    return __atomic_compare_exchange_n(p, &old, new, false, __ATOMIC_SEQ_CST,
                                       __ATOMIC_RELAXED);
}

static void spill_name(const struct pq_hdr *h, uint64_t pos, char *out,
                       size_t cap)
{
    snprintf(out, cap, "/wvq-%016" PRIx64 "-%" PRIu64, h->id, pos);
}

/* Removes the shm object of the message at pos (gone already: fine). */
static void spill_unlink(const struct pq_hdr *h, uint64_t pos)
{
    char name[64];
    spill_name(h, pos, name, sizeof name);
    shm_unlink(name);
}

/* ---------------------------------------------------------- liveness */

/*
 * Reads state and start time (field 22) of /proc/<pid>/stat.  Returns 1
 * when read, 0 when there is no such process, -1 when it cannot tell.
 */
static int proc_stat(int pid, char *state, uint64_t *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ESRCH ? 0 : -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return n == 0 || errno == ESRCH ? 0 : -1;
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the name may hold anything */
    if (!p || p[1] != ' ')
        return -1;
    p += 2;
    *state = *p;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return -1;
        p++;
    }
    *start = strtoull(p, NULL, 10);
    return 1;
}

/* This process's start time: 0 and *out, or an error (no /proc, no
 * descriptor left).  A failure is not remembered. */
static int my_start(uint64_t *out)
{
    uint32_t gen = __atomic_load_n(&fork_gen, __ATOMIC_RELAXED);
    if (__atomic_load_n(&self_start_gen, __ATOMIC_ACQUIRE) != gen) {
        char st;
        uint64_t start = 0;
        int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return errno == EMFILE || errno == ENFILE ? -errno : WV_ENOSYS;
        close(fd);
        if (proc_stat(getpid(), &st, &start) != 1 || start == 0)
            return WV_ENOSYS;
        __atomic_store_n(&self_start, start, __ATOMIC_RELAXED);
        __atomic_store_n(&self_start_gen, gen, __ATOMIC_RELEASE);
    }
    *out = __atomic_load_n(&self_start, __ATOMIC_RELAXED);
    return 0;
}

/* Threads listed in /proc/<pid>/task (-1: cannot tell). */
static int task_count(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* false only when the process `pid` started at `start` is surely gone. */
static bool alive(int pid, uint64_t start)
{
    char st;
    uint64_t s;
    int r = proc_stat(pid, &st, &s);
    if (r < 0)
        return true; /* cannot tell: never repair the living */
    if (r == 0 || s != start)
        return false; /* gone, or its pid reused */
    if (st != 'Z' && st != 'X' && st != 'x')
        return true;
    /* A zombie leader whose other threads still run is a live process
     * whose main thread called pthread_exit; a dead one lists only the
     * leader. */
    int n = task_count(pid);
    return n < 0 || n > 1;
}

/* ------------------------------------------------------------- wake-ups */

static void bump(uint32_t *ev)
{
    __atomic_add_fetch(ev, 1, __ATOMIC_SEQ_CST);
    wv__futex_wake(ev, INT32_MAX, true);
}

/* After a store that may let consumers on: wake the sleeping ones. */
static inline void wake_consumers(struct pq_hdr *h)
{
    if (__atomic_load_n(&h->cwait, __ATOMIC_SEQ_CST))
        bump(&h->put_ev);
}

static inline void wake_producers(struct pq_hdr *h)
{
    if (__atomic_load_n(&h->pwait, __ATOMIC_SEQ_CST))
        bump(&h->get_ev);
}

/* ---------------------------------------------------------------- admin */

static void apply_intent(struct pq_hdr *h)
{
    uint32_t p = h->intent.part;
    if (!p)
        return;
    __atomic_store_n(&h->retired_got, h->intent.got, __ATOMIC_RELAXED);
    __atomic_store_n(&h->retired_done, h->intent.done, __ATOMIC_RELAXED);
    __atomic_store_n(&h->parts[p].gword, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&h->parts[p].done, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&h->parts[p].pid, 0, __ATOMIC_RELEASE);
    h->intent.part = 0;
}

/*
 * Takes the admin lock; finishes the work of a holder that died.  No
 * deadline: every critical section under it is a few stores or one scan
 * of the ring and never waits, and a holder that dies lets go.  Only a
 * holder stopped by SIGSTOP holds it for long.
 */
static void admin_lock(struct pq_hdr *h)
{
    int err = wv__plock_acquire(&h->admin, WV_FOREVER, WV__PARK_NOCANCEL);
    if (err == WV_EOWNERDEAD) {
        /* Every admin update is one idempotent store, or covered by the
         * intent record: finish that, and the state is whole again. */
        apply_intent(h);
        wv_plock_consistent(&h->admin);
    }
}

static void admin_unlock(struct pq_hdr *h)
{
    wv_plock_release(&h->admin);
}

/* Retires participant p (admin held): its counters go to retired_*. */
static void retire(struct pq_hdr *h, uint32_t p)
{
    uint64_t g = __atomic_load_n(&h->parts[p].gword, __ATOMIC_RELAXED) >> 16;
    uint64_t d = __atomic_load_n(&h->parts[p].done, __ATOMIC_RELAXED);
    h->intent.got = h->retired_got + g;
    h->intent.done = h->retired_done + d;
    __atomic_store_n(&h->intent.part, p, __ATOMIC_RELEASE);
    apply_intent(h);
}

/* Frees the heap pages of run starting at pg tagged `tag` (admin held). */
static void free_pages(struct pq_hdr *h, uint32_t pg, uint64_t tag)
{
    uint64_t *own = owners(h);
    while (pg < h->npages && own_get(own, pg) == tag)
        own_set(own, pg++, 0);
}

/* Repairs the cells and pages participant p held when it died.  Called
 * with admin held, after checking p is dead. */
static void repair(struct pq_hdr *h, uint32_t p)
{
    uint64_t *own = owners(h);

    for (uint64_t i = 0; i < h->ncells; i++) {
        struct pq_cell *c = cell_at(h, i);
        uint64_t w = load(&c->state);
        if (ST_PART(w) != p || (ST_KIND(w) != WRITING && ST_KIND(w) != READING))
            continue;
        uint64_t pos = ST_POS(w);
        if (ST_KIND(w) == WRITING) {
            /* The put never returned: drop the message whole. */
            uint32_t page = __atomic_load_n(&c->page, __ATOMIC_RELAXED);
            if (page == PAGE_SPILL)
                spill_unlink(h, pos);
            else if (page != PAGE_INLINE)
                free_pages(h, page - 1, pos + 1);
            cas(&c->state, w, ST(pos + h->ncells, EMPTY, 0));
        } else {
            /* The get never returned: deliver it again.  The hint goes
             * first: a repairer killed after the CAS must not leave a
             * message that no get looks for. */
            __atomic_add_fetch(&h->redeliver, 1, __ATOMIC_SEQ_CST);
            cas(&c->state, w, ST(pos, FULL, R_MARK));
            CRASH_POINT(WV__PQ_CRASH_IN_REPAIR);
        }
    }
    for (uint32_t pg = 0; pg < h->npages; pg++)
        if (IS_RES(own_get(own, pg)) && (own_get(own, pg) & 1023u) == p)
            own_set(own, pg, 0);
    retire(h, p);
}

/* Checks participant p; repairs it if its process is gone. */
static bool check_part(struct pq_hdr *h, uint32_t p, uint32_t self)
{
    if (p == 0 || p == self || p >= NPARTS)
        return false;
    int pid = __atomic_load_n(&h->parts[p].pid, __ATOMIC_ACQUIRE);
    uint64_t start = __atomic_load_n(&h->parts[p].start, __ATOMIC_RELAXED);
    if (!pid || alive(pid, start))
        return false;
    admin_lock(h);
    bool done = false;
    if (h->parts[p].pid == pid && h->parts[p].start == start) {
        repair(h, p);
        done = true;
    }
    admin_unlock(h);
    if (done) {
        bump(&h->put_ev);
        bump(&h->get_ev);
        bump(&h->done_ev);
    }
    return done;
}

/* Checks every participant, at most once per SWEEP_MS among all callers
 * (force: now). */
static void sweep(struct pq_hdr *h, uint32_t self, bool force)
{
    int64_t now = wv_now();
    int64_t last = __atomic_load_n(&h->last_sweep, __ATOMIC_RELAXED);
    if (!force &&
        (now - last < SWEEP_MS ||
         !__atomic_compare_exchange_n(&h->last_sweep, &last, now, false,
                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED)))
        return;
    uint32_t hw = __atomic_load_n(&h->parts_hw, __ATOMIC_ACQUIRE);
    for (uint32_t p = 1; p < hw; p++)
        check_part(h, p, self);
}

/* ------------------------------------------------------- participants */

static int do_register(wv_mpqueue_t *q, uint32_t *out)
{
    struct pq_hdr *h = q->h;
    uint64_t start;
    int pid = getpid();
    int err = my_start(&start);
    if (err)
        return err;

    for (int round = 0; round < 2; round++) {
        admin_lock(h);
        for (uint32_t p = 1; p < NPARTS; p++) {
            if (__atomic_load_n(&h->parts[p].pid, __ATOMIC_RELAXED))
                continue;
            __atomic_store_n(&h->parts[p].start, start, __ATOMIC_RELAXED);
            __atomic_store_n(&h->parts[p].gword, 0, __ATOMIC_RELAXED);
            __atomic_store_n(&h->parts[p].done, 0, __ATOMIC_RELAXED);
            /* The high-water mark first: sweeps must see the entry. */
            if (p >= h->parts_hw)
                __atomic_store_n(&h->parts_hw, p + 1, __ATOMIC_RELEASE);
            __atomic_store_n(&h->parts[p].pid, pid, __ATOMIC_RELEASE);
            admin_unlock(h);
            *out = p;
            return 0;
        }
        admin_unlock(h);
        sweep(h, 0, true); /* the dead give their places back */
    }
    return WV_EBUSY;
}

static void retire_own(struct pq_hdr *h, uint32_t p)
{
    admin_lock(h);
    if (h->parts[p].pid == getpid())
        retire(h, p);
    admin_unlock(h);
}

/*
 * Our participant index (registering on first use in this process).
 * q->reg holds fork generation << 32 | index: a forked child starts with
 * its parent's handle, whose index is the parent's.  No lock here: a fork
 * while another thread registers must not leave the child a lock held by
 * nobody.  Two threads registering at once both get a place; the loser
 * gives its own back.
 */
static int participant(wv_mpqueue_t *q, uint32_t *out)
{
    uint32_t gen = __atomic_load_n(&fork_gen, __ATOMIC_RELAXED);
    uint64_t reg = __atomic_load_n(&q->reg, __ATOMIC_ACQUIRE);
    if (__builtin_expect(reg >> 32 == gen, 1)) {
        *out = (uint32_t)reg;
        return 0;
    }
    uint32_t p;
    int err = do_register(q, &p);
    if (err)
        return err;
    uint64_t mine = (uint64_t)gen << 32 | p;
    if (!__atomic_compare_exchange_n(&q->reg, &reg, mine, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        retire_own(q->h, p);
        if (reg >> 32 != gen) /* stale or changed again: look again */
            return participant(q, out);
        p = (uint32_t)reg;
    }
    *out = p;
    return 0;
}

/* --------------------------------------------------------------- waits */

struct waitst {
    int spins;
    int64_t slice;
};

/*
 * Waits on *ev (a value read before the caller's last look at the
 * queue) while counted in *nwait, until woken, a slice or the deadline
 * passes.  `holder` is the participant holding the cell waited for (0:
 * none); after a slice it is checked, and every participant now and
 * then.  `word` (may be NULL) is looked at again once counted: if it no
 * longer holds w, no sleep.  Returns 0 (look again) or WV_ETIMEDOUT /
 * WV_EAGAIN / WV_ECANCELED (a cancelled coroutine: the sleep is
 * wv__shared_wait's, which parks only a coroutine).
 */
static int wait_on(struct pq_hdr *h, uint32_t *ev, uint32_t seen,
                   uint32_t *nwait, const uint64_t *word, uint64_t w,
                   uint32_t holder, uint32_t self, int64_t deadline,
                   struct waitst *ws)
{
    if (deadline == 0) {
        /* Pollers must notice the dead too, or a dead producer's cell
         * would stop them for good: now and then, look. */
        sweep(h, self, false);
        return WV_EAGAIN;
    }
    /* Spin, then yield, then sleep.  Several pauses between two looks let
     * the other side get a few messages ahead, rather than pay a round
     * trip of the cell's cache line for each (as bench/peers' SPSC ring
     * measured).  A coroutine does not yield its thread: after the
     * spins it parks, and its thread runs the other coroutines. */
    if (ws->spins == SPINS && wv__waiter_kind()->word_wait)
        ws->spins = SPINS + YIELDS;
    if (ws->spins < SPINS + YIELDS) {
        if (ws->spins++ < SPINS)
            for (int i = 0; i < PAUSES; i++)
                wv__cpu_relax();
        else
            sched_yield();
        if (deadline > 0 && ws->spins % 64 == 0 && wv_now() >= deadline)
            return WV_ETIMEDOUT;
        return 0;
    }
    if (deadline > 0 && wv_now() >= deadline)
        return WV_ETIMEDOUT;
    int64_t until = wv_now() + ws->slice;
    if (deadline > 0 && deadline < until)
        until = deadline;
    __atomic_add_fetch(nwait, 1, __ATOMIC_SEQ_CST);
    int err = 0;
    if (!word || load(word) == w) /* what we wait for did not come yet */
        err = wv__shared_wait(ev, seen, until, 0);
    __atomic_sub_fetch(nwait, 1, __ATOMIC_SEQ_CST);
    if (err == WV_ECANCELED)
        return err;
    if (err == WV_ETIMEDOUT) {
        if (ws->slice < SLICE_MAX_MS)
            ws->slice *= 2;
        if (!check_part(h, holder, self))
            sweep(h, self, false);
        if (deadline > 0 && wv_now() >= deadline)
            return WV_ETIMEDOUT;
    }
    return 0;
}

/* ----------------------------------------------------------------- heap */

static uint32_t pages_for(size_t len)
{
    return (uint32_t)((len + PAGE - 1) / PAGE);
}

/* Finds n free pages, next fit (admin held).  UINT32_MAX: no room. */
static uint32_t find_run(struct pq_hdr *h, uint32_t n)
{
    uint64_t *own = owners(h);
    uint32_t np = h->npages;
    uint32_t start = h->cursor < np ? h->cursor : 0;
    for (int lap = 0; lap < 2; lap++) {
        uint32_t from = lap ? 0 : start, to = lap ? start : np;
        uint32_t run = 0;
        for (uint32_t pg = from; pg < to || (lap && run && pg < np); pg++) {
            if (own_get(own, pg)) {
                run = 0;
                if (lap && pg >= to)
                    break;
                continue;
            }
            if (++run == n)
                return pg + 1 - n;
        }
    }
    return UINT32_MAX;
}

/* Frees pages whose owner holds no cell any more (admin held). */
static void free_orphans(struct pq_hdr *h)
{
    uint64_t *own = owners(h);
    for (uint32_t pg = 0; pg < h->npages; pg++) {
        uint64_t t = own_get(own, pg);
        if (!t || IS_RES(t))
            continue;
        uint64_t w = load(&cell(h, t - 1)->state);
        if (ST_POS(w) != t - 1 || ST_KIND(w) == EMPTY)
            own_set(own, pg, 0);
    }
}

/* Reserves n pages tagged `tag`, waiting for room. */
static int heap_reserve(wv_mpqueue_t *q, uint32_t n, uint64_t tag,
                        uint32_t self, int64_t deadline, uint32_t *first)
{
    struct pq_hdr *h = q->h;
    struct waitst ws = {SPINS + YIELDS, SLICE_MIN_MS};
    for (;;) {
        uint32_t seen = __atomic_load_n(&h->get_ev, __ATOMIC_SEQ_CST);
        admin_lock(h);
        uint32_t pg = find_run(h, n);
        if (pg == UINT32_MAX) {
            free_orphans(h);
            pg = find_run(h, n);
        }
        if (pg != UINT32_MAX) {
            uint64_t *own = owners(h);
            for (uint32_t i = 0; i < n; i++) {
                own_set(own, pg + i, tag);
                if (i == n / 2)
                    CRASH_POINT(WV__PQ_CRASH_IN_ADMIN);
            }
            h->cursor = pg + n;
        }
        admin_unlock(h);
        if (pg != UINT32_MAX) {
            *first = pg;
            return 0;
        }
        if (__atomic_load_n(&h->closed, __ATOMIC_ACQUIRE))
            return WV_ESHUTDOWN;
        int err = wait_on(h, &h->get_ev, seen, &h->pwait, NULL, 0, 0, self,
                          deadline, &ws);
        if (err)
            return err;
    }
}

/* After freeing heap pages: producers waiting for room look again. */
static void heap_freed(struct pq_hdr *h)
{
    __atomic_add_fetch(&h->get_ev, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&h->pwait, __ATOMIC_SEQ_CST))
        wv__futex_wake(&h->get_ev, INT32_MAX, true);
}

static void heap_release(struct pq_hdr *h, uint32_t pg, uint64_t tag)
{
    admin_lock(h);
    free_pages(h, pg, tag);
    admin_unlock(h);
    heap_freed(h);
}

/* ---------------------------------------------------------------- spill */

static int spill_write(const struct pq_hdr *h, uint64_t pos, const void *data,
                       size_t len)
{
    char name[64];
    spill_name(h, pos, name, sizeof name);
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int err = 0;
    void *m = MAP_FAILED;
    /* Allocated now: a full /dev/shm is WV_ENOSPC here, not SIGBUS in
     * the memcpy. */
    int e = posix_fallocate(fd, 0, (off_t)len);
    if (e)
        err = e == EFBIG || e == EINVAL ? WV_ENOSPC : -e;
    else if ((m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) ==
             MAP_FAILED)
        err = -errno;
    if (!err) {
        memcpy(m, data, len);
        munmap(m, len);
    } else {
        shm_unlink(name);
    }
    close(fd);
    return err;
}

static int spill_read(const struct pq_hdr *h, uint64_t pos, void *buf,
                      size_t len)
{
    char name[64];
    spill_name(h, pos, name, sizeof name);
    int fd = shm_open(name, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return errno == ENOENT ? WV_EIO : -errno;
    void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return WV_ENOMEM;
    memcpy(buf, m, len);
    munmap(m, len);
    return 0;
}

/* ------------------------------------------------------------------ put */

/* Gives up a claimed cell without a message: consumers skip it. */
static void skip_cell(struct pq_hdr *h, struct pq_cell *c, uint64_t pos)
{
    __atomic_store_n(&c->page, PAGE_INLINE, __ATOMIC_RELAXED);
    __atomic_store_n(&c->state, ST(pos + h->ncells, EMPTY, 0),
                     __ATOMIC_SEQ_CST);
    wake_consumers(h);
}

int wv_mpqueue_put(wv_mpqueue_t *q, const void *data, size_t len,
                   int64_t deadline)
{
    if (!q || (len && !data) || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    if (len > WV_MPQUEUE_MAX_MSG)
        return WV_EMSGSIZE;
    struct pq_hdr *h = q->h;
    uint32_t self;
    int err = participant(q, &self);
    if (err)
        return err;
    if (__atomic_load_n(&h->closed, __ATOMIC_ACQUIRE))
        return WV_ESHUTDOWN;

    /* A heap message gets its pages first: a producer holding a cell
     * while it waits for room would stop the consumers at that cell. */
    uint32_t npg = 0, pg = 0;
    uint64_t tag = 0;
    bool spill = false;
    if (len > h->inline_max) {
        npg = pages_for(len);
        if (npg > h->npages) {
            spill = true;
            npg = 0;
        } else {
            /* Unique among this process's reservations, so that two
             * side by side never read as one run. */
            tag =
                RES(__atomic_add_fetch(&res_nonce, 1, __ATOMIC_RELAXED), self);
            if ((err = heap_reserve(q, npg, tag, self, deadline, &pg)))
                return err;
            CRASH_POINT(WV__PQ_CRASH_RESERVED);
        }
    }

    struct waitst ws = {0, SLICE_MIN_MS};
    struct pq_cell *c;
    uint64_t pos;
    for (;;) {
        uint32_t seen = __atomic_load_n(&h->get_ev, __ATOMIC_SEQ_CST);
        pos = __atomic_load_n(&h->tail, __ATOMIC_RELAXED);
        c = cell(h, pos);
        uint64_t w = load(&c->state);
        if (w == ST(pos, EMPTY, 0)) {
            if (cas(&c->state, w, ST(pos, WRITING, self))) {
                cas(&h->tail, pos, pos + 1);
                break;
            }
            continue;
        }
        if (ST_POS(w) >= pos) { /* claimed already: move the hint on */
            cas(&h->tail, pos, pos + 1);
            continue;
        }
        /* The cell still holds the message of the previous lap: full. */
        if (__atomic_load_n(&h->closed, __ATOMIC_ACQUIRE))
            err = WV_ESHUTDOWN;
        else
            err = wait_on(h, &h->get_ev, seen, &h->pwait, &c->state, w,
                          ST_KIND(w) == FULL ? 0 : ST_PART(w), self, deadline,
                          &ws);
        if (err) {
            if (npg)
                heap_release(h, pg, tag);
            return err;
        }
    }

    /* The cell is ours: fill it, then publish. */
    CRASH_POINT(WV__PQ_CRASH_CLAIMED);
    if (npg) {
        uint64_t *own = owners(h);
        __atomic_store_n(
            &c->page, pg + 1,
            __ATOMIC_RELAXED); /* first: a repair finds the pages from it */
        for (uint32_t i = 0; i < npg; i++)
            own_set(own, pg + i, pos + 1);
        memcpy(page_addr(h, pg), data, len);
    } else if (spill) {
        __atomic_store_n(&c->page, PAGE_SPILL, __ATOMIC_RELAXED);
        if ((err = spill_write(h, pos, data, len))) {
            skip_cell(h, c, pos);
            return err;
        }
    } else {
        __atomic_store_n(&c->page, PAGE_INLINE, __ATOMIC_RELAXED);
        if (len)
            memcpy(c->data, data, len);
    }
    __atomic_store_n(&c->len, (uint32_t)len, __ATOMIC_RELAXED);
    CRASH_POINT(WV__PQ_CRASH_WRITTEN);
    __atomic_store_n(&c->state, ST(pos, FULL, 0), __ATOMIC_SEQ_CST);
    wake_consumers(h);
    return 0;
}

/* ------------------------------------------------------------------ get */

/* Copies the message of a cell we hold (READING) out, then frees the
 * cell.  Returns 0 or WV_EIO (a spill object gone). */
static int take(struct pq_hdr *h, struct pq_cell *c, uint64_t pos, void *buf,
                size_t len)
{
    uint32_t page = __atomic_load_n(&c->page, __ATOMIC_RELAXED);
    int err = 0;
    if (page == PAGE_INLINE) {
        if (len)
            memcpy(buf, c->data, len);
    } else if (page == PAGE_SPILL) {
        err = spill_read(h, pos, buf, len);
    } else {
        memcpy(buf, page_addr(h, page - 1), len);
    }
    CRASH_POINT(WV__PQ_CRASH_COPIED_OUT);
    __atomic_store_n(&c->state, ST(pos + h->ncells, EMPTY, 0),
                     __ATOMIC_SEQ_CST);
    wake_producers(h);
    if (page == PAGE_SPILL) {
        spill_unlink(h, pos);
    } else if (page != PAGE_INLINE) {
        CRASH_POINT(WV__PQ_CRASH_FREED_CELL);
        heap_release(h, page - 1, pos + 1);
    }
    return err;
}

/*
 * Tries to claim the FULL cell c (state w) and take its message.  Returns
 * 0 (taken), 1 (lost the race: look again), WV_EMSGSIZE.
 */
static int try_take(wv_mpqueue_t *q, struct pq_cell *c, uint64_t w,
                    uint32_t self, void *buf, size_t cap, size_t *len, int *err)
{
    struct pq_hdr *h = q->h;
    uint64_t pos = ST_POS(w);
    size_t n = __atomic_load_n(&c->len, __ATOMIC_RELAXED);
    if (n > cap) {
        if (load(&c->state) != w)
            return 1;
        *len = n;
        return WV_EMSGSIZE;
    }
    struct pq_part *me = &h->parts[self];
    if (h->joinable)
        __atomic_add_fetch(&me->gword, 1, __ATOMIC_SEQ_CST);
    if (!cas(&c->state, w, ST(pos, READING, self))) {
        if (h->joinable)
            __atomic_sub_fetch(&me->gword, 1, __ATOMIC_SEQ_CST);
        return 1;
    }
    if (ST_PART(w) != R_MARK)
        cas(&h->head, pos, pos + 1);
    *err = take(h, c, pos, buf, n);
    if (h->joinable)
        __atomic_add_fetch(&me->gword, (1u << 16) - 1, __ATOMIC_SEQ_CST);
    *len = n;
    return 0;
}

/* Takes a message to be delivered again, if any: 0 (taken), 1 (none),
 * WV_EMSGSIZE. */
static int take_redelivered(wv_mpqueue_t *q, uint32_t self, void *buf,
                            size_t cap, size_t *len, int *err)
{
    struct pq_hdr *h = q->h;
    uint32_t hint = __atomic_load_n(&h->redeliver, __ATOMIC_SEQ_CST);
    for (uint64_t i = 0; i < h->ncells; i++) {
        struct pq_cell *c = cell_at(h, i);
        uint64_t w = load(&c->state);
        if (ST_KIND(w) != FULL || ST_PART(w) != R_MARK)
            continue;
        int r = try_take(q, c, w, self, buf, cap, len, err);
        if (r != 1)
            return r;
    }
    /* None left: unless a repair marked one meanwhile, stop looking. */
    __atomic_compare_exchange_n(&h->redeliver, &hint, 0, false,
                                __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
    return 1;
}

/*
 * The cell at head and its state, moving head past cells already taken
 * or skipped: on return the state is FULL(pos) (a message), WRITING(pos)
 * (one coming), or older than pos (empty).
 */
static struct pq_cell *look_head(struct pq_hdr *h, uint64_t *pos, uint64_t *w)
{
    for (;;) {
        *pos = __atomic_load_n(&h->head, __ATOMIC_RELAXED);
        struct pq_cell *c = cell(h, *pos);
        *w = load(&c->state);
        uint64_t wpos = ST_POS(*w);
        if (wpos < *pos || (wpos == *pos && ST_KIND(*w) != READING))
            return c;
        cas(&h->head, *pos, *pos + 1); /* taken or skipped: move on */
    }
}

int wv_mpqueue_get(wv_mpqueue_t *q, void *buf, size_t cap, size_t *len,
                   int64_t deadline)
{
    if (!q || !len || (cap && !buf) || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    struct pq_hdr *h = q->h;
    uint32_t self;
    int err = participant(q, &self);
    if (err)
        return err;

    struct waitst ws = {0, SLICE_MIN_MS};
    for (;;) {
        int r;
        uint32_t seen = __atomic_load_n(&h->put_ev, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&h->closed, __ATOMIC_ACQUIRE) & IMMEDIATE)
            return WV_EOF;
        if (__atomic_load_n(&h->redeliver, __ATOMIC_RELAXED) &&
            (r = take_redelivered(q, self, buf, cap, len, &err)) != 1)
            return r ? r : err;
        uint64_t pos, w;
        struct pq_cell *c = look_head(h, &pos, &w);
        uint64_t wpos = ST_POS(w);
        unsigned kind = ST_KIND(w);
        if (wpos == pos && kind == FULL) {
            r = try_take(q, c, w, self, buf, cap, len, &err);
            if (r != 1)
                return r ? r : err;
            continue;
        }
        /* Empty at pos, or a producer still writing it. */
        if (kind != WRITING || wpos != pos) {
            if (__atomic_load_n(&h->closed, __ATOMIC_ACQUIRE) &&
                __atomic_load_n(&h->tail, __ATOMIC_SEQ_CST) <= pos)
                return WV_EOF;
        }
        err = wait_on(h, &h->put_ev, seen, &h->cwait, &c->state, w,
                      wpos == pos && kind == WRITING ? ST_PART(w) : 0, self,
                      deadline, &ws);
        if (err)
            return err;
    }
}

int wv_mpqueue_peek_len(wv_mpqueue_t *q, size_t *len)
{
    if (!q || !len)
        return WV_EINVAL;
    struct pq_hdr *h = q->h;
    for (;;) {
        uint64_t pos, w;
        struct pq_cell *c = look_head(h, &pos, &w);
        if (ST_POS(w) != pos || ST_KIND(w) != FULL)
            return WV_EAGAIN;
        size_t n = __atomic_load_n(&c->len, __ATOMIC_RELAXED);
        if (load(&c->state) == w) { /* else taken meanwhile: look again */
            *len = n;
            return 0;
        }
    }
}

/* -------------------------------------------------------- JoinableQueue */

/* Messages taken and task_done calls, over all participants, live and
 * retired (admin held: a retirement moves counts from one to the other).
 * *busy: a get is between its claim and its count. */
static void sums(struct pq_hdr *h, uint64_t *got, uint64_t *done, bool *busy)
{
    *got = __atomic_load_n(&h->retired_got, __ATOMIC_RELAXED);
    *done = __atomic_load_n(&h->retired_done, __ATOMIC_RELAXED);
    *busy = false;
    uint32_t hw = __atomic_load_n(&h->parts_hw, __ATOMIC_ACQUIRE);
    for (uint32_t p = 1; p < hw; p++) {
        uint64_t g = __atomic_load_n(&h->parts[p].gword, __ATOMIC_SEQ_CST);
        *busy |= (g & 0xffff) != 0;
        *got += g >> 16;
        *done += __atomic_load_n(&h->parts[p].done, __ATOMIC_SEQ_CST);
    }
}

/* Tasks not yet finished: messages in the queue, plus messages taken
 * and not task_done.  *busy: a get is between its claim and its count,
 * so the figure cannot be trusted to be 0. */
static int64_t unfinished(struct pq_hdr *h, bool *busy)
{
    int64_t n = 0;
    uint64_t got, done;
    for (uint64_t i = 0; i < h->ncells; i++) {
        struct pq_cell *c = cell_at(h, i);
        unsigned k = ST_KIND(load(&c->state));
        n += k == FULL || k == READING;
    }
    admin_lock(h);
    sums(h, &got, &done, busy);
    admin_unlock(h);
    return n + (int64_t)(got - done);
}

int wv_mpqueue_task_done(wv_mpqueue_t *q)
{
    if (!q || !q->h->joinable)
        return WV_EINVAL;
    struct pq_hdr *h = q->h;
    uint32_t self;
    int err = participant(q, &self);
    if (err)
        return err;
    uint64_t got, done;
    bool busy;
    admin_lock(h); /* one check-and-count at a time */
    sums(h, &got, &done, &busy);
    if (done < got)
        __atomic_add_fetch(&h->parts[self].done, 1, __ATOMIC_SEQ_CST);
    admin_unlock(h);
    if (done >= got)
        return WV_EOVERFLOW;
    if (__atomic_load_n(&h->jwait, __ATOMIC_SEQ_CST))
        bump(&h->done_ev);
    return 0;
}

int wv_mpqueue_join(wv_mpqueue_t *q, int64_t deadline)
{
    if (!q || !q->h->joinable || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    struct pq_hdr *h = q->h;
    uint32_t self;
    int err = participant(q, &self);
    if (err)
        return err;
    int64_t slice = SLICE_MIN_MS;
    for (;;) {
        uint32_t seen = __atomic_load_n(&h->done_ev, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&h->jwait, 1, __ATOMIC_SEQ_CST);
        bool busy;
        int64_t n = unfinished(h, &busy);
        if ((n <= 0 && !busy) ||
            (__atomic_load_n(&h->closed, __ATOMIC_ACQUIRE) & IMMEDIATE)) {
            __atomic_sub_fetch(&h->jwait, 1, __ATOMIC_SEQ_CST);
            return 0;
        }
        if (deadline == 0) {
            __atomic_sub_fetch(&h->jwait, 1, __ATOMIC_SEQ_CST);
            return WV_EAGAIN;
        }
        int64_t until = wv_now() + slice;
        if (deadline > 0 && deadline < until)
            until = deadline;
        err = wv__shared_wait(&h->done_ev, seen, until, 0);
        __atomic_sub_fetch(&h->jwait, 1, __ATOMIC_SEQ_CST);
        if (err == WV_ECANCELED)
            return err;
        if (err == WV_ETIMEDOUT) {
            if (slice < SLICE_MAX_MS)
                slice *= 2;
            sweep(h, self, false);
            if (deadline > 0 && wv_now() >= deadline)
                return WV_ETIMEDOUT;
        }
    }
}

/* ----------------------------------------------------------- the rest */

void wv_mpqueue_shutdown(wv_mpqueue_t *q, bool immediate)
{
    if (!q)
        return;
    __atomic_fetch_or(&q->h->closed, immediate ? CLOSED | IMMEDIATE : CLOSED,
                      __ATOMIC_SEQ_CST);
    bump(&q->h->put_ev);
    bump(&q->h->get_ev);
    if (immediate)
        bump(&q->h->done_ev);
}

size_t wv_mpqueue_qsize(wv_mpqueue_t *q)
{
    if (!q)
        return 0;
    uint64_t head = __atomic_load_n(&q->h->head, __ATOMIC_ACQUIRE);
    uint64_t tail = __atomic_load_n(&q->h->tail, __ATOMIC_ACQUIRE);
    return tail > head ? (size_t)(tail - head) : 0;
}

bool wv_mpqueue_is_empty(wv_mpqueue_t *q)
{
    size_t len;
    return q && (wv_mpqueue_peek_len(q, &len) != 0 &&
                 !__atomic_load_n(&q->h->redeliver, __ATOMIC_ACQUIRE));
}

bool wv_mpqueue_is_full(wv_mpqueue_t *q)
{
    if (!q)
        return false;
    struct pq_hdr *h = q->h;
    uint64_t pos = __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE);
    uint64_t w = load(&cell(h, pos)->state);
    return ST_POS(w) < pos;
}

const char *wv_mpqueue_name(const wv_mpqueue_t *q)
{
    return q ? q->name : NULL;
}

/* ---------------------------------------------------- create, open, free */

static int check_name(const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    if (n == 0 || n > 200 || strchr(name + 1, '/'))
        return WV_EINVAL;
    snprintf(out, cap, "%s%s", name[0] == '/' ? "" : "/", name);
    return 0;
}

/* Takes a shared lock on the queue's descriptor: one holder more. */
static int hold(int fd)
{
    int err = wv__flock(fd, LOCK_SH);
    /* ENOLCK: no kernel memory for the lock */
    return err == -ENOLCK ? WV_ENOMEM : err;
}

/* Wraps a mapping and its descriptor (held) in a handle; on failure
 * unmaps and closes them. */
static int handle_new(wv_mpqueue_t **out, struct pq_hdr *h, size_t size, int fd,
                      const char *name)
{
    wv_mpqueue_t *q = wv__calloc(1, sizeof *q);
    if (!q || (name && !(q->name = wv__malloc(strlen(name) + 1)))) {
        wv__free(q);
        munmap(h, size);
        close(fd);
        return WV_ENOMEM;
    }
    if (name)
        strcpy(q->name, name);
    q->h = h;
    q->map_size = size;
    q->fd = fd;
    *out = q;
    return 0;
}

/* The descriptor of a new queue of `total` bytes, sized: a named shm
 * object (path) or a memfd (path NULL). */
static int backing_new(const char *path, size_t total, int *out)
{
    int fd = path ? shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)
                  : memfd_create("wvq", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    int err = 0;
    if (path) {
        /* Allocated now, so that a full /dev/shm is an error here and
         * not SIGBUS later. */
        int e = posix_fallocate(fd, 0, (off_t)total);
        if (e)
            err = e == EFBIG || e == EINVAL ? WV_ENOSPC : -e;
    } else if (ftruncate(fd, (off_t)total) < 0) {
        err = errno == EFBIG || errno == EINVAL ? WV_ENOMEM : -errno;
    }
    if (!err)
        err = hold(fd);
    if (err) {
        if (path)
            shm_unlink(path);
        close(fd);
        return err;
    }
    *out = fd;
    return 0;
}

int wv_mpqueue_new(wv_mpqueue_t **out, const wv_mpqueue_opts_t *opts)
{
    static const wv_mpqueue_opts_t defaults;
    if (!out)
        return WV_EINVAL;
    if (!opts)
        opts = &defaults;
    size_t ncells = opts->maxsize ? opts->maxsize : 1024;
    size_t inl = opts->inline_max ? opts->inline_max : 112;
    size_t heap = opts->max_bytes ? opts->max_bytes : (size_t)8 << 20;
    if (ncells > (1u << 24) || inl > 65536 || heap > ((size_t)1 << 40))
        return WV_EINVAL;
    char path[256];
    int err, fd = -1;
    if (opts->name && (err = check_name(opts->name, path, sizeof path)))
        return err;

    size_t cell_size = wv__round_up(sizeof(struct pq_cell) + inl, 64);
    size_t npages = wv__round_up(heap, PAGE) / PAGE;
    size_t cells_off = wv__round_up(sizeof(struct pq_hdr), 64);
    size_t owner_off = wv__round_up(cells_off + ncells * cell_size, 64);
    size_t heap_off = wv__round_up(owner_off + npages * 8, PAGE);
    size_t total = heap_off + npages * PAGE;

    const char *named = opts->name ? path : NULL;
    if ((err = backing_new(named, total, &fd)))
        return err;
    struct pq_hdr *h =
        mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (h == MAP_FAILED) {
        if (named)
            shm_unlink(path);
        close(fd);
        return WV_ENOMEM;
    }
    if (getrandom(&h->id, sizeof h->id, GRND_NONBLOCK) != sizeof h->id)
        h->id = (uint64_t)wv_now() ^ (uint64_t)getpid() << 32;
    h->ncells = (uint32_t)ncells;
    h->mask = (ncells & (ncells - 1)) ? 0 : ncells - 1;
    h->cell_size = (uint32_t)cell_size;
    h->inline_max = (uint32_t)inl;
    h->npages = (uint32_t)npages;
    h->cells_off = cells_off;
    h->owner_off = owner_off;
    h->heap_off = heap_off;
    h->total = total;
    h->joinable = opts->joinable;
    h->parts_hw = 1;
    for (uint64_t i = 0; i < ncells; i++)
        cell(h, i)->state = ST(i, EMPTY, 0);
    if ((err = wv_plock_init(&h->admin, false))) {
        munmap(h, total);
        close(fd);
        if (named)
            shm_unlink(path);
        return err;
    }
    h->version = PQ_VERSION;
    __atomic_store_n(&h->magic, PQ_MAGIC, __ATOMIC_RELEASE);
    err = handle_new(out, h, total, fd, named);
    if (err && named)
        shm_unlink(path);
    return err;
}

/* Maps the named queue at path: 0 with the mapping, its size and its
 * descriptor (not held), or an error. */
static int map_named(const char *path, struct pq_hdr **out, size_t *size,
                     int *fdp)
{
    struct stat st;
    int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(struct pq_hdr)) {
        close(fd);
        return WV_EPROTO;
    }
    struct pq_hdr *h = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
                            MAP_SHARED, fd, 0);
    if (h == MAP_FAILED) {
        close(fd);
        return WV_ENOMEM;
    }
    if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != PQ_MAGIC ||
        h->version != PQ_VERSION || h->total != (size_t)st.st_size) {
        munmap(h, (size_t)st.st_size);
        close(fd);
        return WV_EPROTO;
    }
    *out = h;
    *size = (size_t)st.st_size;
    *fdp = fd;
    return 0;
}

int wv_mpqueue_open(wv_mpqueue_t **out, const char *name)
{
    char path[256];
    struct pq_hdr *h;
    size_t size;
    int err, fd;
    if (!out || !name)
        return WV_EINVAL;
    if ((err = check_name(name, path, sizeof path)) ||
        (err = map_named(path, &h, &size, &fd)))
        return err;
    /* Opened by name just before an unlink, and the last holder has
     * removed the large messages since: the queue is finished. */
    if ((err = hold(fd)) ||
        (__atomic_load_n(&h->gone, __ATOMIC_ACQUIRE) && (err = WV_ENOENT))) {
        munmap(h, size);
        close(fd);
        return err;
    }
    return handle_new(out, h, size, fd, path);
}

/*
 * Removes shm objects of this queue: all of them, or (!all) those no cell
 * refers to any more (left by processes that died between taking their
 * message and removing its object).
 */
static void sweep_spills(struct pq_hdr *h, bool all)
{
    char prefix[40];
    int n = snprintf(prefix, sizeof prefix, "wvq-%016" PRIx64 "-", h->id);
    DIR *d = opendir("/dev/shm");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, (size_t)n))
            continue;
        uint64_t pos = strtoull(e->d_name + n, NULL, 10);
        struct pq_cell *c = cell(h, pos);
        uint64_t w = load(&c->state);
        if (!all && ST_POS(w) == pos && ST_KIND(w) != EMPTY &&
            __atomic_load_n(&c->page, __ATOMIC_RELAXED) == PAGE_SPILL)
            continue;
        char name[sizeof e->d_name + 1];
        snprintf(name, sizeof name, "/%s", e->d_name);
        shm_unlink(name);
    }
    closedir(d);
}

/*
 * The queue has no holder left: removes the objects of the large messages
 * still inside (from the cells, then any left by the dead, from the
 * names), and marks it finished.  Called holding the exclusive lock.
 */
static void finish(struct pq_hdr *h)
{
    __atomic_store_n(&h->gone, 1, __ATOMIC_RELEASE);
    for (uint64_t i = 0; i < h->ncells; i++) {
        struct pq_cell *c = cell_at(h, i);
        uint64_t w = load(&c->state);
        if (ST_KIND(w) != EMPTY &&
            __atomic_load_n(&c->page, __ATOMIC_RELAXED) == PAGE_SPILL)
            spill_unlink(h, ST_POS(w));
    }
    sweep_spills(h, true);
}

/* Whether fd, a descriptor of the queue on which we hold no lock, is the
 * only one left: no other open file of it holds the shared lock. */
static bool sole_holder(int fd)
{
    return flock(fd, LOCK_EX | LOCK_NB) == 0;
}

int wv_mpqueue_unlink(const char *name)
{
    char path[256];
    struct pq_hdr *h;
    size_t size;
    int err, fd;
    if (!name)
        return WV_EINVAL;
    if ((err = check_name(name, path, sizeof path)))
        return err;
    if (map_named(path, &h, &size, &fd))
        h = NULL; /* no queue (or no room to look): just the name */
    err = shm_unlink(path) < 0 ? -errno : 0;
    if (h) {
        /* Nobody holds it: nobody will free it, so the large messages
         * still inside go now. */
        if (!err && sole_holder(fd))
            finish(h);
        munmap(h, size);
        close(fd);
    }
    return err;
}

/*
 * A new open file of q's queue (-1: none), when q's hold may be the last
 * of a queue nobody can open any more (anonymous, or unlinked).  Asked
 * before the unmap, which drops the hold: the descriptor is all that is
 * left of an unlinked queue then.
 */
static int reopen_if_unnamed(const wv_mpqueue_t *q)
{
    struct stat st;
    if (q->name && (fstat(q->fd, &st) < 0 || st.st_nlink > 0))
        return -1; /* named: its messages wait for the next opener */
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", q->fd);
    return open(self, O_RDWR | O_CLOEXEC); /* -1: cannot tell, leave them */
}

void wv_mpqueue_free(wv_mpqueue_t *q)
{
    if (!q)
        return;
    struct pq_hdr *h = q->h;
    uint64_t reg = __atomic_load_n(&q->reg, __ATOMIC_ACQUIRE);
    if (reg >> 32 == __atomic_load_n(&fork_gen, __ATOMIC_RELAXED))
        retire_own(h, (uint32_t)reg);
    sweep_spills(h, false);
    int fd = reopen_if_unnamed(q);
    /* Our hold goes with the last reference to our open file: this
     * descriptor, the mapping, and those a fork shares. */
    close(q->fd);
    munmap(h, q->map_size);
    if (fd >= 0 && sole_holder(fd)) {
        h = mmap(NULL, q->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (h != MAP_FAILED) {
            finish(h);
            munmap(h, q->map_size);
        }
    }
    if (fd >= 0)
        close(fd); /* only now: an opener waiting for it sees `gone` */
    wv__free(q->name);
    wv__free(q);
}

/* ----------------------------------------------------------- test aids */

uint32_t wv__pqueue_pages_used(wv_mpqueue_t *q)
{
    struct pq_hdr *h = q->h;
    uint32_t n = 0;
    admin_lock(h);
    for (uint32_t pg = 0; pg < h->npages; pg++)
        n += own_get(owners(h), pg) != 0;
    admin_unlock(h);
    return n;
}

int wv__pqueue_spill_objects(wv_mpqueue_t *q)
{
    char prefix[40];
    int n = snprintf(prefix, sizeof prefix, "wvq-%016" PRIx64 "-", q->h->id);
    int count = 0;
    DIR *d = opendir("/dev/shm");
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)))
        count += strncmp(e->d_name, prefix, (size_t)n) == 0;
    closedir(d);
    return count;
}

uint64_t wv__pqueue_id(wv_mpqueue_t *q)
{
    return q->h->id;
}

/*
 * ipc/mpqueue_repair.c - what keeps the queue's shared state whole: the
 * liveness of the participants and the repair of the dead, the admin lock
 * and its intent record, registration, waits, and the heap's page map.
 *
 * The design, the state words and the layout: mpqueue.h.
 */
#include "mpqueue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint32_t fork_gen = 1;
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
void wv__pq_admin_lock(struct pq_hdr *h)
{
    int err = wv__plock_acquire(&h->admin, WV_FOREVER, WV__PARK_NOCANCEL);
    if (err == WV_EOWNERDEAD) {
        /* Every admin update is one idempotent store, or covered by the
         * intent record: finish that, and the state is whole again. */
        apply_intent(h);
        wv_plock_consistent(&h->admin);
    }
}

void wv__pq_admin_unlock(struct pq_hdr *h)
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
    wv__pq_admin_lock(h);
    bool done = false;
    if (h->parts[p].pid == pid && h->parts[p].start == start) {
        repair(h, p);
        done = true;
    }
    wv__pq_admin_unlock(h);
    if (done) {
        bump(&h->put_ev);
        bump(&h->get_ev);
        bump(&h->done_ev);
    }
    return done;
}

/* Checks every participant, at most once per SWEEP_MS among all callers
 * (force: now). */
void wv__pq_sweep(struct pq_hdr *h, uint32_t self, bool force)
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
        wv__pq_admin_lock(h);
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
            wv__pq_admin_unlock(h);
            *out = p;
            return 0;
        }
        wv__pq_admin_unlock(h);
        wv__pq_sweep(h, 0, true); /* the dead give their places back */
    }
    return WV_EBUSY;
}

static void retire_own(struct pq_hdr *h, uint32_t p)
{
    wv__pq_admin_lock(h);
    if (h->parts[p].pid == getpid())
        retire(h, p);
    wv__pq_admin_unlock(h);
}

/*
 * Our participant index (registering on first use in this process).
 * q->reg holds fork generation << 32 | index: a forked child starts with
 * its parent's handle, whose index is the parent's.  No lock here: a fork
 * while another thread registers must not leave the child a lock held by
 * nobody.  Two threads registering at once both get a place; the loser
 * gives its own back.
 */
int wv__pq_participant(wv_mpqueue_t *q, uint32_t *out)
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
            return wv__pq_participant(q, out);
        p = (uint32_t)reg;
    }
    *out = p;
    return 0;
}

/* Retires our participant of q, if this process (not the one we were
 * forked from) registered one. */
void wv__pq_leave(wv_mpqueue_t *q)
{
    uint64_t reg = __atomic_load_n(&q->reg, __ATOMIC_ACQUIRE);
    if (reg >> 32 == __atomic_load_n(&fork_gen, __ATOMIC_RELAXED))
        retire_own(q->h, (uint32_t)reg);
}

/* --------------------------------------------------------------- waits */

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
int wv__pq_wait_on(struct pq_hdr *h, uint32_t *ev, uint32_t seen,
                   uint32_t *nwait, const uint64_t *word, uint64_t w,
                   uint32_t holder, uint32_t self, int64_t deadline,
                   struct waitst *ws)
{
    if (deadline == 0) {
        /* Pollers must notice the dead too, or a dead producer's cell
         * would stop them for good: now and then, look. */
        wv__pq_sweep(h, self, false);
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
            wv__pq_sweep(h, self, false);
        if (deadline > 0 && wv_now() >= deadline)
            return WV_ETIMEDOUT;
    }
    return 0;
}

/* ----------------------------------------------------------------- heap */

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
int wv__pq_heap_reserve(wv_mpqueue_t *q, uint32_t n, uint64_t tag,
                        uint32_t self, int64_t deadline, uint32_t *first)
{
    struct pq_hdr *h = q->h;
    struct waitst ws = {SPINS + YIELDS, SLICE_MIN_MS};
    for (;;) {
        uint32_t seen = __atomic_load_n(&h->get_ev, __ATOMIC_SEQ_CST);
        wv__pq_admin_lock(h);
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
        wv__pq_admin_unlock(h);
        if (pg != UINT32_MAX) {
            *first = pg;
            return 0;
        }
        if (__atomic_load_n(&h->closed, __ATOMIC_ACQUIRE))
            return WV_ESHUTDOWN;
        int err = wv__pq_wait_on(h, &h->get_ev, seen, &h->pwait, NULL, 0, 0,
                                 self, deadline, &ws);
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

void wv__pq_heap_release(struct pq_hdr *h, uint32_t pg, uint64_t tag)
{
    wv__pq_admin_lock(h);
    free_pages(h, pg, tag);
    wv__pq_admin_unlock(h);
    heap_freed(h);
}

/*
 * ipc/mpqueue.h - multiprocessing.Queue / JoinableQueue in shared memory:
 * the design, the shared layout and what the queue's files share.
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
 *
 * The files: mpqueue.c the public operations (put, get, peek, the
 * JoinableQueue counts, shutdown, qsize); mpqueue_repair.c what keeps
 * the shared state whole (liveness of the participants, the admin lock
 * and its intent record, registration, waits, the heap's page map);
 * mpqueue_life.c create, open, free, unlink (the flock holder count) and
 * the test aids.  Lock order: `admin` is the only lock, and no code
 * waits or sleeps holding it.
 */
#ifndef WV_IPC_MPQUEUE_H
#define WV_IPC_MPQUEUE_H

#include "internal.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>

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

/* Test hook: dies here when wv__pqueue_crash_at names this point. */
#define CRASH_POINT(n)                                                         \
    do {                                                                       \
        if (__builtin_expect(wv__pqueue_crash_at == (n), 0))                   \
            raise(SIGKILL);                                                    \
    } while (0)

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

static inline void spill_name(const struct pq_hdr *h, uint64_t pos, char *out,
                              size_t cap)
{
    snprintf(out, cap, "/wvq-%016" PRIx64 "-%" PRIu64, h->id, pos);
}

/* Removes the shm object of the message at pos (gone already: fine). */
static inline void spill_unlink(const struct pq_hdr *h, uint64_t pos)
{
    char name[64];
    spill_name(h, pos, name, sizeof name);
    shm_unlink(name);
}

/* ------------------------------------------------------------- wake-ups */

static inline void bump(uint32_t *ev)
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

/* ---------------------------------------------- shared between the files */

/* A waiter's progress: spins and yields so far, then the sleep slice. */
struct waitst {
    int spins;
    int64_t slice;
};

/* Takes the admin lock; finishes the work of a holder that died. */
void wv__pq_admin_lock(struct pq_hdr *h);
/* Lets go of the admin lock. */
void wv__pq_admin_unlock(struct pq_hdr *h);
/* Checks every participant, at most once per SWEEP_MS (force: now). */
void wv__pq_sweep(struct pq_hdr *h, uint32_t self, bool force);
/* Our participant index, registering on first use in this process. */
int wv__pq_participant(wv_mpqueue_t *q, uint32_t *out);
/* Retires our participant of q, if this process registered one. */
void wv__pq_leave(wv_mpqueue_t *q);
/* Waits on *ev for the queue to change, repairing the dead meanwhile. */
int wv__pq_wait_on(struct pq_hdr *h, uint32_t *ev, uint32_t seen,
                   uint32_t *nwait, const uint64_t *word, uint64_t w,
                   uint32_t holder, uint32_t self, int64_t deadline,
                   struct waitst *ws);
/* Reserves n heap pages tagged `tag`, waiting for room. */
int wv__pq_heap_reserve(wv_mpqueue_t *q, uint32_t n, uint64_t tag,
                        uint32_t self, int64_t deadline, uint32_t *first);
/* Frees the run of heap pages at pg tagged `tag`; wakes producers. */
void wv__pq_heap_release(struct pq_hdr *h, uint32_t pg, uint64_t tag);

#endif /* WV_IPC_MPQUEUE_H */

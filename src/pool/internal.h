/*
 * pool/internal.h - the pool layer's shared structures.
 *
 * Files, and who calls whom (an arrow is "calls into"):
 *
 *   pool.c     submission (apply, apply_async) and life cycle (new,
 *              close, terminate, join, free)      -> worker.c, handler.c
 *   worker.c   the worker threads' loop, common to both kinds: finding
 *              work, sleeping, growing, retiring  -> p->kind, map.c
 *   map.c      map, map_async, imap               -> p->kind, pool.c
 *   handler.c  callbacks and deadlines, on the handler thread
 *                                                 -> map.c, p->kind
 *   runq.c     the shared FIFO and the workers' stealable rings
 *   tworker.c  the thread kind of worker (wv__pool_threads): tasks run in
 *              the worker thread; wv_task_return
 *   pworker.c  the process kind (wv__pool_processes): each worker thread
 *              dispatches to one child process    -> pool.c (narrow: see
 *              "what a kind may call" below)
 *
 * The kind of worker sits behind struct wv__pool_kind_ops (as Redis puts
 * its event backends behind aeApi*): the rest of the pool never calls
 * into tworker.c or pworker.c except through p->kind.
 *
 * docs/pool.md tells the design and the options rejected.
 *
 * Lock order: pool->mu, then gq.lock; hlock is never held while taking
 * another pool lock, and no pool lock is held while a task, a callback or
 * a future completion runs.
 */
#ifndef WV_POOL_INTERNAL_H
#define WV_POOL_INTERNAL_H

#include "../queue/internal.h"
#include "weave/pool.h"

#include <string.h>

/* ------------------------------------------------------------ a task */

enum { T_INLINE, T_HEAP, T_CHUNK };
#define TASK_INLINE 32

/*
 * A queued task, stored by value: 64 bytes, one cache line.  `ref` is the
 * task's future (a reference, or NULL: fire and forget) for T_INLINE and
 * T_HEAP, its job for T_CHUNK (a reference).
 */
struct ptask {
    wv_pool_fn fn;
    void *ref;
    int64_t deadline; /* WV_FOREVER = none, else > 0 */
    uint32_t kind;
    uint32_t len; /* argument bytes */
    union {
        unsigned char arg[TASK_INLINE]; /* T_INLINE */
        void *heap;                     /* T_HEAP: owned copy */
        struct {
            size_t lo, hi; /* items [lo, hi) */
            size_t slot;   /* imap: the iterator's slot for them */
        } chunk;           /* T_CHUNK */
    } u;
};

_Static_assert(sizeof(struct ptask) == 64, "a task is one cache line");

/* Sets kind and len in one 8-byte store: the task is copied word by word
 * right after, and two 4-byte stores would stall that load. */
static inline void wv__task_meta(struct ptask *t, uint32_t kind, uint32_t len)
{
    struct {
        uint32_t kind, len;
    } m = {kind, len};
    uint64_t word;
    memcpy(&word, &m, sizeof word);
    memcpy(&t->kind, &word, sizeof word);
}

/* What a running task's wv_task_t holds. */
struct wv_task {
    void *out;  /* map/imap: the item's record; NULL for apply */
    size_t cap; /* map/imap: out_size */
    size_t len; /* bytes returned */
    void *heap; /* apply: a result longer than buf (wv__malloc'd) */
    size_t index;
    bool record; /* map/imap: results go to out (cap bytes) */
    /* apply in a worker process: wv_task_return hands the result to sink
     * (straight into the channel) instead of buf/heap; NULL otherwise. */
    int (*sink)(wv_task_t *task, const void *data, size_t len);
    void *sink_arg;
    _Alignas(max_align_t) unsigned char buf[TASK_INLINE];
};

/* A task function's return value as the task's outcome: positive values
 * are no error codes (WV_EINVAL). */
static inline int wv__task_rc(int rc)
{
    return rc > 0 ? WV_EINVAL : rc;
}

/*
 * Deadlines inside the pool are the API's: WV_FOREVER = none, > 0 = an
 * absolute wv_now() time.  0 (WV_NOWAIT) never gets this far: a
 * submission with it returns WV_EAGAIN (no task can start without
 * waiting for a worker).
 */
static inline bool wv__task_expired(int64_t deadline)
{
    return deadline > 0 && wv_now() >= deadline;
}

/*
 * The deadline of a submission's options (opts NULL: none) into *out.
 * 0, WV_EAGAIN (WV_NOWAIT: nothing may be submitted) or WV_EINVAL (a
 * negative other than WV_FOREVER).
 */
static inline int wv__opts_deadline(const wv_task_opts_t *opts, int64_t *out)
{
    int64_t d = opts ? opts->deadline : WV_FOREVER;

    *out = d;
    if (d == WV_NOWAIT)
        return WV_EAGAIN;
    return d < WV_FOREVER ? WV_EINVAL : 0;
}

/* ------------------------------------------------------- the queues */

#define SEG_TASKS 127 /* tasks per segment of the shared FIFO */

struct seg {
    struct seg *next;
    struct ptask t[SEG_TASKS];
};

/* The shared FIFO: unbounded, segmented, one lock. */
struct gq {
    wv_lock_t lock;
    struct seg *head, *tail; /* [lock] */
    uint32_t hpos, tpos;     /* [lock] next to take / to fill */
    struct seg *spare;       /* [lock] one freed segment, kept */
    size_t len;              /* written under lock, read by anyone */
};

#define LQ 256 /* a worker's ring */

/*
 * A single-producer ring (Go's runq), used twice: as a worker's own queue
 * (the worker adds) and as a submitting thread's inbox (that thread adds).
 * Only the producer writes tail; consumers (the owner, thieves, workers
 * emptying an inbox) take from head with a CAS.  Slots are read with
 * relaxed atomic word loads because a consumer may read a slot the
 * producer is rewriting; its CAS then fails and it drops what it read.
 */
struct lq {
    _Alignas(WV__CACHELINE) uint32_t head;
    _Alignas(WV__CACHELINE) uint32_t tail;
    /* Inboxes only, on a line of their own: consumers poll tail. */
    _Alignas(WV__CACHELINE) uint32_t busy; /* producer inside a submission */
    uint32_t head_cache; /* the producer's last look at head */
    bool spilling;       /* the producer's: full after a yield (pool.c) */
    _Alignas(WV__CACHELINE) struct ptask buf[LQ];
};

void wv__gq_init(struct gq *q);
void wv__gq_destroy(struct gq *q);
/* Appends, unless *flags (read under the lock) has a bit of `refuse`:
 * then returns WV_ESHUTDOWN.  WV_ENOMEM when no segment can be had. */
int wv__gq_push(struct gq *q, const struct ptask *t, const uint32_t *flags,
                uint32_t refuse);
/* Moves up to max tasks into ring `to` (its owner calling); returns how
 * many. */
unsigned wv__gq_take(struct gq *q, struct lq *to, unsigned max);
/* Takes one task, or returns false (termination drains with it). */
bool wv__gq_pop(struct gq *q, struct ptask *t);
static inline size_t wv__gq_len(struct gq *q)
{
    return __atomic_load_n(&q->len, __ATOMIC_SEQ_CST);
}

bool wv__lq_pop(struct lq *q, struct ptask *t);
/* The owner takes a quarter of its tasks (at least one, at most max) at
 * once, with one CAS. */
unsigned wv__lq_pop_many(struct lq *q, struct ptask *t, unsigned max);
/* Moves tasks from `from` into `to` (whose owner calls, `to` empty): half
 * of them (stealing) or all (emptying an inbox), at most max.  Returns how
 * many. */
unsigned wv__lq_steal(struct lq *from, struct lq *to, unsigned max, bool half);
/* The producer adds to its inbox; false if it is full. */
bool wv__ib_push(struct lq *q, const struct ptask *t);
static inline bool wv__lq_empty(struct lq *q)
{
    return __atomic_load_n(&q->head, __ATOMIC_ACQUIRE) ==
           __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------ a pool */

enum {
    P_CLOSED = 1,
    P_TERMINATED = 2,
    P_BROKEN = 4,
    P_QUIET = 8, /* after one of the above: no submission is in flight */
};

#define MAX_INBOX 16

enum { W_FREE, W_LIVE, W_EXITED };

struct pw; /* a process worker's channel and child (pworker.c) */
struct wv__pool_kind_ops;

struct worker {
    struct lq q;
    wv_pool_t *pool;
    struct pw *pw;            /* [pool->mu] process pools: the child */
    wv_thread_t *thread;      /* [pool->mu] */
    wv_thread_t *predecessor; /* joined by this worker when it starts */
    uint32_t state;           /* [pool->mu] W_* */
    unsigned index;
    unsigned done; /* tasks run (maxtasksperchild) */
    unsigned last; /* size of the last batch taken */
    bool initial;  /* started by wv_pool_new */
};

/* A deadline to enforce: a task's future, or a map/imap job. */
struct dl {
    int64_t at;
    void *obj; /* a reference */
    bool is_job;
};

/* A pending callback: queued on the handler when its future is done. */
struct cbrec {
    struct cbrec *next;
    wv_pool_t *pool;
    wv_pool_callback cb;
    wv_pool_error_callback ecb;
    void *arg;
    wv_future_t *fut; /* a reference */
};

struct wv_pool {
    struct gq gq;
    struct lq *ib[MAX_INBOX]; /* submitters' inboxes, [0, nib) published */
    uint32_t nib;             /* written under mu, read by anyone */
    uint64_t id;              /* unique per pool, for the inbox caches */
    _Alignas(WV__CACHELINE) uint32_t nsleep; /* workers parked (key) */
    uint32_t nspin;                          /* workers looking for work */
    uint32_t flags;                          /* P_*, only ever set */
    uint32_t live;                           /* workers W_LIVE */
    uint32_t lazy;    /* imaps that will still submit chunks */
    uint32_t threads; /* pool threads not finished */
    bool orphan;      /* freed from inside: last thread frees */
    bool procs;       /* a pool of processes (kind: wv__pool_processes) */
    int pid;          /* the process that created it */
    const struct wv__pool_kind_ops *kind; /* the kind of worker */
    /* The kind's own: */
    uint32_t kind_open;       /* workers' resources not closed (channels) */
    wv_thread_t *kind_thread; /* a thread of the kind's, or NULL */
    void *zygote;             /* processes: the private fork server */
    int zygote_err;           /* its start's outcome */
    wv_event_t zygote_ready;  /* zygote_err is set */
    wv_event_t zygote_stop;   /* the fork server's thread may end */

    wv_lock_t mu;            /* workers' slots and states */
    struct worker *workers;  /* [max] */
    void *workers_mem;       /* what workers was carved from */
    void *ib_mem[MAX_INBOX]; /* what each inbox was carved from */
    unsigned min, max;       /* workers kept, workers at most */
    int64_t idle_ms;
    unsigned maxtasks;
    int (*init)(void *);
    void *initarg;
    size_t stack_size;
    char name[32];
    uint32_t spawned; /* [mu] for worker names */

    /* wv_pool_new waits for the initial workers' initializers. */
    uint32_t init_left;
    int init_err;
    wv_event_t init_done;

    /* The handler thread (handler.c). */
    wv_thread_t *handler;
    wv_lock_t hlock;
    wv_cond_t hcond;
    struct cbrec *cbq, **cbq_end; /* [hlock] */
    size_t cb_pending;            /* callbacks not yet run (atomic) */
    struct dl *heap;              /* [hlock] min-heap on `at` */
    size_t heap_len, heap_cap;    /* [hlock] */
    size_t heap_pruned;           /* [hlock] heap_len after last prune */
};

/* Test hook: a submission into an inbox sleeps this long between reading
 * the flags and adding its task (the window close must wait out). */
extern unsigned wv__fault_push_delay_us;

/* Makes the calling thread one of p's (the handler's; workers are). */
void wv__pool_enter(wv_pool_t *p);

static inline uint32_t wv__pool_flags(wv_pool_t *p)
{
    return __atomic_load_n(&p->flags, __ATOMIC_ACQUIRE);
}

/* Queues a task (the submission path of every call).  `internal` lets an
 * imap's later chunks in after close.  WV_ESHUTDOWN, WV_EBROKEN,
 * WV_ENOMEM. */
int wv__pool_push(wv_pool_t *p, const struct ptask *t, bool internal);

/* Fails a task that will never run: its future with err, its job's chunk
 * skipped.  Releases what it holds. */
void wv__task_discard(struct ptask *t, int err);

/* Runs one map/imap chunk (map.c), on worker w. */
void wv__chunk_run(wv_pool_t *p, struct worker *w, struct ptask *t);
/* A job that will never run this chunk (map.c). */
void wv__chunk_discard(struct ptask *t, int err);
/* Stops a job: items not started are not run (map.c; deadline expiry). */
void wv__job_cancel(void *job, int err);
void wv__job_ref(void *job);
/* The job has stopped or finished: its deadline is moot. */
bool wv__job_over(void *job);
void wv__job_unref(void *job);

/* handler.c */
int wv__handler_start(wv_pool_t *p);
void wv__handler_wake(wv_pool_t *p);
/* Frees the deadline heap and what it still holds (pool destruction). */
void wv__handler_destroy(wv_pool_t *p);
/*
 * Callbacks of a task, in three steps so that a failed submission runs
 * none: cbrec_new before submitting (counts the callback as pending: the
 * handler cannot finish before it ran; NULL = WV_ENOMEM), then cbrec_arm
 * once submitted (the callback runs when f is done), or cbrec_drop if the
 * submission failed (NULL is a no-op).
 */
struct cbrec *wv__cbrec_new(wv_pool_t *p, const wv_task_opts_t *opts);
void wv__cbrec_arm(struct cbrec *rec, wv_future_t *f);
void wv__cbrec_drop(struct cbrec *rec);
/* Enforces a deadline on a future (is_job false) or job; takes its own
 * reference.  0 or WV_ENOMEM. */
int wv__handler_deadline(wv_pool_t *p, void *obj, bool is_job, int64_t at);

/* The pool breaks (a replacement worker could not be had): tasks fail
 * with WV_EBROKEN. */
void wv__pool_break(wv_pool_t *p);

/* ------------------------------------------------ the workers (worker.c) */

/* Starts a worker thread in slot w (pool->mu held).  `pred` is a thread to
 * join first (the one w's slot had).  0, WV_ENOMEM, WV_EAGAIN. */
int wv__worker_spawn(wv_pool_t *p, struct worker *w, wv_thread_t *pred);
/* After adding work: wakes a parked worker if nobody is looking. */
void wv__pool_wake(wv_pool_t *p);
/* Elastic pools: one more worker if work waits and nobody is idle. */
void wv__pool_grow(wv_pool_t *p);
/* The calling thread is one of p's (a worker or the handler). */
bool wv__pool_is_self(const wv_pool_t *p);
/* The calling thread runs p's tasks (a thread pool's worker). */
bool wv__pool_in_task(const wv_pool_t *p);

static inline unsigned wv__pool_inboxes(wv_pool_t *p)
{
    return __atomic_load_n(&p->nib, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------- the kind of worker */

/* A map or imap chunk for a kind's run_chunk. */
struct pw_chunk {
    wv_pool_fn fn;
    const char *in; /* n records of in_size bytes */
    size_t n, in_size;
    char *out; /* n records of out_size bytes, or NULL */
    size_t out_size;
    int *errs;   /* imap: every item's code; NULL: map, first failure stops */
    size_t base; /* the first item's index */
    int64_t deadline; /* WV_FOREVER: none */
    /* Threads: the job's state word; the chunk stops before an item once
     * it has WV__JOB_CANCEL (processes: a chunk runs to its end). */
    const uint32_t *cancel;
};

#define WV__JOB_CANCEL 0x80000000u

/*
 * What a kind of worker does.  One instance per kind: wv__pool_threads
 * (tworker.c) and wv__pool_processes (pworker.c); p->kind points at one.
 * The worker threads, their queues, callbacks, futures, deadlines, map
 * and imap are the pool's, the same for both kinds; a kind only decides
 * where a task runs and what a worker holds besides its thread.
 *
 * What a kind may call in the pool (its whole interface back): the
 * fields of wv_pool_t it reads or owns (name, init, initarg, max,
 * workers[].pw, workers[].index, mu, threads, kind_open, kind_thread,
 * zygote*), wv__pool_flags, wv__pool_break (no replacement could be had),
 * wv__pool_kind_closed (the last of its per-worker resources is closed),
 * wv__pool_thread_end (a thread of its own ends), wv__pool_enter,
 * wv__chunk_items and wv_task_return (tworker.c: a worker process runs
 * items and returns results as a thread does).
 */
struct wv__pool_kind_ops {
    /* wv_pool_new, after the handler starts and before any worker (NULL:
     * nothing to do): pool-wide set-up, the process kind's fork server.
     * 0 or an error that fails wv_pool_new.  May start one thread of the
     * kind's own (p->kind_thread, counted in p->threads). */
    int (*pool_start)(wv_pool_t *p);
    /* The handler's end, once every worker and kind_open is gone (NULL:
     * nothing): undoes pool_start. */
    void (*pool_stop)(wv_pool_t *p);
    /* A new worker thread, before its first task: the initializer (in the
     * thread, or in the worker's child).  Its code, or a start error;
     * worker_close runs after it either way. */
    int (*worker_open)(wv_pool_t *p, struct worker *w);
    void (*worker_close)(wv_pool_t *p, struct worker *w);
    /* maxtasksperchild reached: true when the worker thread goes on
     * (a fresh child), false when it must be replaced by a new thread. */
    bool (*worker_recycle)(wv_pool_t *p, struct worker *w);
    /* Runs fn(arg[0..len)) on worker w and completes f (NULL: nobody
     * wants the outcome) with its result or error.  f is RUNNING. */
    void (*run_apply)(wv_pool_t *p, struct worker *w, wv_pool_fn fn,
                      const void *arg, size_t len, int64_t deadline,
                      wv_future_t *f);
    /* Runs a chunk's items on worker w.  *done: items finished (map:
     * those before the failing one; stopped early: those before the
     * stop).  Returns 0 (every item ran, or the chunk stopped on
     * k->cancel), the failing item's code (map), or, for the chunk as a
     * whole, WV_EWORKERLOST, WV_ETIMEDOUT, WV_ECANCELED, WV_EBROKEN,
     * WV_ENOMEM. */
    int (*run_chunk)(wv_pool_t *p, struct worker *w, const struct pw_chunk *k,
                     size_t *done);
    /* terminate (NULL: nothing): running tasks stop now where the kind
     * can stop them (processes: SIGKILL). */
    void (*kill)(wv_pool_t *p);
};

extern const struct wv__pool_kind_ops wv__pool_threads;
extern const struct wv__pool_kind_ops wv__pool_processes;

/* A kind's last per-worker resource is closed (kind_open reached 0): the
 * handler may finish. */
void wv__pool_kind_closed(wv_pool_t *p);

/* tworker.c: runs a chunk's items in this process (the thread kind's
 * run_chunk, and a worker process's body for a chunk).  progress (may be
 * NULL) gets the items finished, stored as they finish. */
int wv__chunk_items(const struct pw_chunk *k, uint64_t *progress);
/* tworker.c: apply from one of a thread pool's own tasks, at once. */
int wv__apply_inline(wv_pool_fn fn, const void *arg, size_t len, void *out,
                     size_t cap, size_t *out_len);

/* ------------------------------------------- process workers (pworker.c) */

/* In a worker process, a pool it inherited (whose calls are refused with
 * WV_EPERM: its threads are not there).  Not a kind's op: it holds for a
 * thread pool inherited by a worker process too (pchild.c). */
bool wv__pw_foreign(const wv_pool_t *p);

/* Test hooks: a worker process SIGKILLs itself at point wv__pw_crash_at
 * after passing it wv__pw_crash_after times (set before wv_pool_new: the
 * children inherit them). */
enum {
    WV__PW_CRASH_TAKEN = 1, /* a request picked up, nothing run */
    WV__PW_CRASH_RETURNING, /* the result copied out, not yet answered */
};
extern int wv__pw_crash_at;
extern unsigned wv__pw_crash_after;
/* Test aid: the pids of up to cap worker processes; returns how many. */
int wv__pw_pids(wv_pool_t *p, int *pids, int cap);

/* Thread bookkeeping: a pool thread ends (may free an orphaned pool). */
void wv__pool_thread_end(wv_pool_t *p, wv_thread_t *self);

#endif /* WV_POOL_INTERNAL_H */

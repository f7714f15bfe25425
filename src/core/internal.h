/*
 * core/internal.h - what weave's own layers share and users never see.
 *
 * The centre of this file is the waiter abstraction (DESIGN.md principle 3):
 * every blocking primitive of every layer waits through wv__park() and is
 * woken through wv__unpark().  How the caller actually sleeps is decided by
 * its *waiter kind*: plain threads sleep on a futex (the built-in kind); the
 * coroutine scheduler installs a second kind for the coroutines it runs,
 * which parks only the coroutine.  Primitives never know which kind they
 * serve.  docs/waiting.md explains the design and the options rejected.
 */
#ifndef WV_CORE_INTERNAL_H
#define WV_CORE_INTERNAL_H

#include "weave/core.h"

#include "list.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct msghdr;

struct pollfd;

#define WV__LIKELY(x)   __builtin_expect(!!(x), 1)
#define WV__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define WV__CACHELINE   64

/* A broken invariant: print file:line and abort, in release builds too. */
#define WV__ASSERT(cond)                                                       \
    do {                                                                       \
        if (WV__UNLIKELY(!(cond)))                                             \
            wv__panic(__FILE__, __LINE__, #cond);                              \
    } while (0)

__attribute__((noreturn, cold)) void wv__panic(const char *file, int line,
                                               const char *what);

static inline void wv__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

/* ------------------------------------------------------------- allocator */

void *wv__malloc(size_t size);
void *wv__calloc(size_t count, size_t size);
void *wv__realloc(void *ptr, size_t size);
void wv__free(void *ptr);

/* ------------------------------------------------------------- deadlines */

struct timespec;

/*
 * The absolute CLOCK_MONOTONIC time of a deadline, for system calls that
 * take one.  Returns false when there is no time to give: WV_FOREVER, or a
 * deadline so far away (past 2^50 ms, ~35,000 years) that it is forever.
 */
bool wv__deadline_timespec(int64_t deadline, struct timespec *ts);

/* The milliseconds left until `deadline` as poll(2) and epoll_wait take
 * them: -1 for WV_FOREVER, 0 when passed, at most INT32_MAX. */
int wv__deadline_timeout_ms(int64_t deadline);

/* true for the deadlines the API accepts: WV_FOREVER, 0 and positives. */
static inline bool wv__deadline_ok(int64_t deadline)
{
    return deadline >= -1;
}

/*
 * The preamble of every wait, for a call that found it would have to
 * wait: 0 to go on and wait, WV_EAGAIN for WV_NOWAIT (0), WV_EINVAL for an
 * invalid deadline (docs/conventions.md: reported only when the call would
 * have to wait, so a call that can succeed at once never checks it).
 */
static inline int wv__would_wait(int64_t deadline)
{
    if (deadline == 0)
        return WV_EAGAIN;
    return wv__deadline_ok(deadline) ? 0 : WV_EINVAL;
}

/* ------------------------------------------------------------ arithmetic */

/* a / b rounded up (b > 0); never overflows. */
static inline size_t wv__ceil_div(size_t a, size_t b)
{
    return a / b + (a % b != 0);
}

/* n rounded up to a multiple of `to` (> 0); the caller keeps n at least
 * `to` below SIZE_MAX. */
static inline size_t wv__round_up(size_t n, size_t to)
{
    return wv__ceil_div(n, to) * to;
}

/* ----------------------------------------------------------------- futex */

/*
 * Raw futex operations (core/futex_linux.c).  `shared` selects a futex that
 * other processes may wait on (the word lies in shared memory); otherwise
 * the private, cheaper kind.
 *
 * wv__futex_wait sleeps while *addr == expected, until woken or `deadline`
 * (absolute, wv_now() milliseconds; -1 forever).  Returns 0 when woken, when
 * *addr != expected, or on a signal (EINTR): callers re-check their
 * condition in a loop, so every return is allowed to be spurious.  Returns
 * WV_ETIMEDOUT when the deadline passed.
 */
int wv__futex_wait(uint32_t *addr, uint32_t expected, int64_t deadline,
                   bool shared);
/* Wakes up to n waiters on addr.  Returns how many were woken. */
int wv__futex_wake(uint32_t *addr, int n, bool shared);

/*
 * Test hook: the next `n` calls to wv__futex_wait return 0 at once, as if a
 * signal had interrupted them, so that every caller's retry path runs.
 */
void wv__fault_futex_eintr(uint32_t n);

/* ------------------------------------------------------------ leaf locks */

/*
 * A small internal lock: a word, 0 free, 1 held, 2 held with sleepers
 * (Drepper, "Futexes are tricky", mutex 2).  For sections of a few
 * instructions that never park, wake or take another lock (the parking
 * lot's buckets, a channel, a coroutine group): it spins briefly, then
 * sleeps the thread on a futex.  The FUTEX_WAKE after a release may name
 * a word whose owner the next holder has freed already: a system call on
 * an address, no memory access; at worst a spurious wake-up of whoever
 * sleeps there next, who looks again.
 */
void wv__leaf_lock_slow(uint32_t *lock);

/*
 * One step of a wait for another thread to leave a short section it
 * cannot be woken from (a pusher's busy word, a channel owner's): *n
 * counts the calls (start at 0).  64 spins, then sleeps of 1 us doubling
 * to 1 ms.  Sleeps, never sched_yield: a real-time thread that yields
 * gets the CPU straight back, and the thread it waits for, which it
 * preempted, never runs.
 */
void wv__backoff(unsigned *n);

static inline void wv__leaf_lock(uint32_t *lock)
{
    uint32_t c = 0;
    if (WV__UNLIKELY(!__atomic_compare_exchange_n(
            lock, &c, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)))
        wv__leaf_lock_slow(lock);
}

static inline void wv__leaf_unlock(uint32_t *lock)
{
    if (WV__UNLIKELY(__atomic_exchange_n(lock, 0, __ATOMIC_RELEASE) == 2))
        wv__futex_wake(lock, 1, false);
}

/* --------------------------------------------------- asymmetric barriers */

/*
 * A store-load barrier split in two (core/membarrier_linux.c): the hot side
 * calls wv__barrier_light() between its store and its load, the cold side
 * wv__barrier_heavy(); between them, they order like two full fences.
 * wv__barrier_init() must have run (once per process, any thread) before
 * either side's first use.
 */
extern bool wv__barrier_cheap;
void wv__barrier_init(void);
void wv__barrier_heavy(void);

/* A full fence.  ThreadSanitizer does not support fences (gcc refuses
 * them): there, a sequentially consistent read-modify-write of a shared
 * word, which it does understand, stands in. */
#if WEAVE_SANITIZER == 2
extern uint32_t wv__fence_word;
#define wv__fence() __atomic_fetch_add(&wv__fence_word, 0, __ATOMIC_SEQ_CST)
#else
#define wv__fence() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif

static inline void wv__barrier_light(void)
{
    if (__atomic_load_n(&wv__barrier_cheap, __ATOMIC_RELAXED))
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
    else
        wv__fence();
}

/* ------------------------------------------------------ file descriptors */

/*
 * Waits until fd has one of `events` (POLLIN, POLLOUT...) or the deadline
 * passes.  Returns 0 with *revents (may be NULL) set, WV_EAGAIN (deadline
 * 0, not ready), WV_ETIMEDOUT, WV_EINVAL (bad deadline), WV_EBADF, or
 * another -errno from poll.  The one fd wait of every layer: the loop
 * layer will route a coroutine's wait through its event loop.
 */
int wv__fd_wait(int fd, short events, int64_t deadline, short *revents);

/*
 * Waits until one of fds[0..n) has one of its events (or an error or
 * hang-up), or the deadline passes: poll(2)'s contract with a deadline.
 * Returns 0 with every revents set, WV_EAGAIN (deadline 0, none ready),
 * WV_ETIMEDOUT, WV_EINVAL (bad deadline), or another -errno from poll.
 * Entries with a negative fd are ignored, as poll does.  wv__fd_wait is
 * its one-descriptor form: together they are the one fd seam.
 */
int wv__fds_wait(struct pollfd *fds, size_t n, int64_t deadline);

/*
 * wv__fd_wait for a descriptor whose owner (a socket, a stream's
 * transport) keeps a registration word `reg` (0 when made; read and
 * written with relaxed atomics, so a reader and a writer on two threads
 * may share it), called when the caller's last attempt at I/O on fd in
 * `events`' directions said EAGAIN.  A coroutine then waits on an
 * edge-triggered registration of its thread's loop, made on its first
 * wait and kept while the descriptor lives: no system call per wait
 * (loop/loop_linux.c).  A thread without a scheduler polls.  Returns as
 * wv__fd_wait.
 */
int wv__fd_wait_again(int fd, short events, int64_t deadline, uint64_t *reg);
/* In wv__fd_wait_again's events, with POLLIN: the caller did not meet
 * EAGAIN, but its last read of this stream socket was short (its receive
 * queue was empty then), and it skipped the read that would say EAGAIN:
 * the wait ends at once if an edge came since that read, else waits for
 * the next.  (Level-triggered waits, poll and io_uring, ignore it.) */
#define WV__POLL_GUESS 0x4000

/* True while this thread's loop has its descriptor set and it is epoll's
 * (loop_linux.c keeps it): wv__fd_io answers WV_ENOSYS without asking the
 * waiter kind and the loop.  False also while unknown (no set yet, a
 * plain thread): then they are asked. */
extern __thread bool wv__tls_io_by_readiness
    __attribute__((tls_model("initial-exec")));

/*
 * A socket recv into buf[0..len) (msg NULL) or sendmsg of msg
 * (MSG_NOSIGNAL), carried out by the caller's loop where its backend
 * does socket I/O itself (io_uring): the calling coroutine parks until it
 * completed or the deadline.  Returns the bytes moved (0: the end, for a
 * recv), WV_ETIMEDOUT or WV_ECANCELED (nothing was moved: an operation
 * the kernel had done when asked to stop counts as done), -errno of the
 * operation, WV_ENOMEM; WV_ENOSYS when the caller's loop does not do I/O
 * (a plain thread, the epoll backend, deadline 0): the caller then tries
 * the system call and waits (wv__fd_wait_again).
 */
ssize_t wv__fd_io_kind(int fd, void *buf, size_t len, struct msghdr *msg,
                       int64_t deadline);
static inline ssize_t wv__fd_io(int fd, void *buf, size_t len,
                                struct msghdr *msg, int64_t deadline)
{
    if (wv__tls_io_by_readiness) /* the hot path of streams on epoll */
        return WV_ENOSYS;
    return wv__fd_io_kind(fd, buf, len, msg, deadline);
}

/*
 * A plain thread's pairs (below) go through a small io_uring that the
 * caller (a stream's transport) keeps in a slot, NULL at first, and frees
 * with wv__tring_free (any value the slot took; loop/thread_ring_linux.c).
 */
typedef struct wv__tring wv__tring_t;
void wv__tring_free(wv__tring_t *t);
/* For wv__fd_send_recv: makes *slot's ring if needed (0, WV_ENOSYS: not
 * here, and *slot remembers it; WV_ENOMEM, WV_EMFILE, WV_ENFILE), and a
 * pair on it, with wv__fd_send_recv's contract less WV_ENOSYS. */
int wv__tring_get(wv__tring_t **slot);
ssize_t wv__tring_send_recv(wv__tring_t *t, int fd, struct msghdr *msg,
                            size_t msg_len, ssize_t *sent, void *buf,
                            size_t len, int64_t deadline);

/*
 * The sendmsg of msg, then a recv into buf[0..len), as one submission
 * where that can be done: a request/response peer pays one system call
 * for its message and its wait for the answer.  A coroutine's pair goes
 * through its loop (io_uring with linked, silently successful sends:
 * wv__loop_io_add_pair); a plain thread's through the ring in *ring,
 * made at its first pair.  The caller parks (a coroutine) or blocks
 * until the recv completed, or the send failed, or the deadline.  *sent
 * is the bytes sent (all of msg's, fewer, or -errno of the send; 0 when
 * the deadline or a cancel stopped it first).  Returns what the recv
 * returned (bytes, 0 at the end, -errno), WV_ECANCELED when the send's
 * failure stopped it (see *sent), WV_ETIMEDOUT or WV_ECANCELED (the
 * wait's), WV_ENOMEM; WV_ENOSYS (nothing done) where it cannot (epoll,
 * io_uring not chosen or unusable, deadline 0, no memory for the ring):
 * the caller sends and receives one at a time.
 */
ssize_t wv__fd_send_recv(int fd, struct msghdr *msg, ssize_t *sent, void *buf,
                         size_t len, int64_t deadline, wv__tring_t **ring);

/* A completed socket operation's result as its party returns it: the
 * bytes (0 at the end); err (the wait's: WV_ETIMEDOUT, WV_ECANCELED) or
 * else WV_ECANCELED where the operation was stopped; its -errno. */
static inline ssize_t wv__io_result(int32_t res, int err)
{
    if (res >= 0)
        return res;
    if (res == WV_ECANCELED || res == WV_EINTR)
        return err ? err : WV_ECANCELED;
    return res;
}

/* ------------------------------------------------------------ the waiter */

typedef struct wv__waiter wv__waiter_t;

/*
 * A kind of waiter: how the parties of one sort (threads, coroutines) sleep
 * and are woken.  Both functions are called by core/park.c only.
 *
 * sleep(w, deadline, flags)
 *     Blocks the current caller until wake(w) has been called for it or
 *     `deadline` passed.  Returns 0 when woken, WV_ETIMEDOUT when the
 *     deadline passed first, WV_ECANCELED when the party was cancelled (a
 *     coroutine; only if flags lacks WV__PARK_NOCANCEL).  Spurious returns
 *     are not allowed: 0 means wake(w) was called.
 * wake(w)
 *     Makes the party sleeping (or about to sleep) on w runnable.  Called at
 *     most once per park, possibly from another thread, never with a lock
 *     held.  After wake() publishes the wake-up, w may be gone: it must read
 *     everything it needs from w first.
 */
typedef struct wv__waiter_kind {
    const char *name;
    int (*sleep)(wv__waiter_t *w, int64_t deadline, unsigned flags);
    void (*wake)(wv__waiter_t *w);
    /* wv__fds_wait for this kind's parties (a coroutine waits through its
     * thread's event loop); NULL = poll(2) blocks the thread. */
    int (*fds_wait)(struct pollfd *fds, size_t n, int64_t deadline);
    /* wv__fd_wait_again for this kind's parties; NULL = poll(2). */
    int (*fd_wait_again)(int fd, short events, int64_t deadline, uint64_t *reg);
    /* wv__fd_io for this kind's parties; NULL = WV_ENOSYS. */
    ssize_t (*fd_io)(int fd, void *buf, size_t len, struct msghdr *msg,
                     int64_t deadline);
    /* wv__fd_send_recv for this kind's parties (msg_len: msg's bytes in
     * all); NULL = a plain thread's ring. */
    ssize_t (*fd_send_recv)(int fd, struct msghdr *msg, size_t msg_len,
                            ssize_t *sent, void *buf, size_t len,
                            int64_t deadline);
    /* wv__shared_wait for this kind's parties (a coroutine parks while a
     * helper thread sleeps on the shared word); NULL = a shared futex
     * wait blocks the thread. */
    int (*word_wait)(uint32_t *addr, uint32_t expected, int64_t deadline,
                     unsigned flags);
} wv__waiter_kind_t;

/* wv__park flags */
#define WV__PARK_NOCANCEL 1u /* cancellation may not interrupt this wait */

/*
 * One party waiting in the parking lot.  Lives on the waiting party's stack
 * for the duration of wv__park().  Fields marked [bucket] are protected by
 * the lock of the bucket that `key` hashes to.
 */
struct wv__waiter {
    wv__list_node_t link;          /* [bucket] queue links */
    wv__waiter_t *next;            /* private singly-linked lists: unpark's
                                      woken list, the coroutine inbox */
    const void *key;               /* [bucket] parked on; NULL once dequeued */
    uintptr_t token;               /* [bucket] set by the unparker */
    int64_t since;                 /* when the party began waiting (ms) */
    const wv__waiter_kind_t *kind; /* how this party sleeps */
    void *ctx;                     /* the kind's data (its coroutine) */
    uint32_t state;                /* the kind's wake-up word: WV__W_* */
};

/*
 * The values of a waiter's state word, shared by both kinds (one enum, so
 * that wv__waiter_init's 0 is PARKED for either).  The thread kind
 * (core/waiter.c) uses PARKED -> SLEEPING (the sleeper, before its futex
 * wait) and any -> WOKEN (the waker, one exchange: FUTEX_WAKE only if it
 * took SLEEPING).  The coroutine kind (coro/sched.h) also ends a sleep
 * with TIMEDOUT (its timer fired) or CANCELED (its coroutine was).
 */
enum {
    WV__W_PARKED = 0,
    WV__W_SLEEPING,
    WV__W_WOKEN,
    WV__W_TIMEDOUT,
    WV__W_CANCELED,
};

/*
 * The kind of the calling party and its context pointer.  Threads start
 * with the thread kind and ctx NULL.  A thread's scheduler sets its kind
 * once, and wv__party (the running coroutine, NULL in the thread's own
 * code) around every switch: a plain thread-local store, inlined.
 */
extern __thread void *wv__party __attribute__((tls_model("initial-exec")));
extern __thread const wv__waiter_kind_t *wv__kind
    __attribute__((tls_model("initial-exec"))); /* NULL: the thread kind */
extern const wv__waiter_kind_t wv__thread_waiter;
void wv__waiter_set_kind(const wv__waiter_kind_t *kind, void *ctx);
static inline const wv__waiter_kind_t *wv__waiter_kind(void)
{
    const wv__waiter_kind_t *k = wv__kind;
    return k ? k : &wv__thread_waiter;
}
static inline void *wv__waiter_ctx(void)
{
    return wv__party;
}

/*
 * For primitives that keep their own queues of waiters instead of the
 * parking lot (channels, whose select waits on several queues at once).
 * The protocol is the parking lot's: init the waiter (on the waiting
 * party's stack) with the caller's kind, queue it under the primitive's
 * lock, drop the lock, sleep.  Whoever dequeues a waiter owns its wake-up
 * and calls wv__waiter_wake exactly once, without the lock, after which
 * the waiter may vanish.  A sleep that times out or is cancelled retakes
 * the lock: still queued, it dequeues itself and returns the error;
 * already dequeued, a wake-up is in flight and it must sleep again with
 * WV_FOREVER and WV__PARK_NOCANCEL (which then returns 0) and take what
 * it was handed.  wv__waiter_init sets what the kinds read first (kind,
 * ctx, state) and nothing else: the parking lot's fields (links, key,
 * token, since) are wv__park's and stay unset here, and a kind that uses
 * a link for its own queue (the coroutine kind's inbox: `next`) writes it
 * before it reads it.
 */
static inline void wv__waiter_init(wv__waiter_t *w)
{
    w->kind = wv__waiter_kind();
    w->ctx = wv__waiter_ctx();
    w->state = WV__W_PARKED;
}
static inline int wv__waiter_sleep(wv__waiter_t *w, int64_t deadline,
                                   unsigned flags)
{
    return w->kind->sleep(w, deadline, flags);
}
static inline void wv__waiter_wake(wv__waiter_t *w)
{
    w->kind->wake(w);
}

/* The built-in kind (wv__thread_waiter, declared above): the calling
 * thread sleeps on a futex. */

/*
 * Waits while *addr == expected, where addr is a futex word in memory
 * shared between processes (process-shared Semaphore, Event, Condition,
 * Lock, the shared-memory Queue): the one wait of the process layer, as
 * wv__fds_wait is the one descriptor wait.  Any process wakes it with
 * wv__futex_wake(addr, n, true), as before.  From a plain thread it is
 * wv__futex_wait(addr, expected, deadline, true); from a coroutine it
 * parks only the coroutine (the kind's word_wait; docs/waiting.md).
 * Returns 0 when woken, when *addr != expected, or spuriously: callers
 * re-check their condition in a loop.  WV_ETIMEDOUT when the deadline
 * passed, WV_ECANCELED when the calling coroutine was cancelled (unless
 * flags has WV__PARK_NOCANCEL; never for threads).  A deadline of 0
 * returns WV_ETIMEDOUT at once unless the word differs.
 */
int wv__shared_wait(uint32_t *addr, uint32_t expected, int64_t deadline,
                    unsigned flags);

/*
 * A value that identifies the calling party (thread or coroutine), never 0,
 * stable for its lifetime.  Owner of an RLock, for instance.
 */
uintptr_t wv__self(void);

/* ------------------------------------------------------- the parking lot */

/*
 * A request to park on `key`.  The callbacks run with the key's bucket lock
 * held (except before_sleep) and so must be short and must not park, unpark
 * or take locks that are held while calling wv__unpark().
 */
typedef struct wv__park_req {
    const void *key;
    /* Under the bucket lock: false = do not park (wv__park gives WV_EAGAIN).
     * This is where a primitive re-checks its state word so that no wake-up
     * slips between the check and the sleep.  NULL = always park. */
    bool (*validate)(void *arg);
    /* After the waiter is queued and the bucket lock dropped, before it
     * sleeps: Condition releases the user's lock here.  May be NULL. */
    void (*before_sleep)(void *arg);
    /* Under the bucket lock, after a timed-out or cancelled waiter was
     * removed; was_last = no other waiter remains on key.  May be NULL. */
    void (*timed_out)(void *arg, bool was_last);
    void *arg;
    int64_t deadline; /* as everywhere; 0 times out at once after queuing */
    int64_t since;    /* when the wait began (wv_now()), for fairness, or
                         0 when the primitive does not care */
    unsigned flags;   /* WV__PARK_* */
} wv__park_req_t;

/*
 * Parks the caller on req->key.  Returns
 *   0             unparked; *token holds what the unparker passed;
 *   WV_EAGAIN     validate() returned false: not parked;
 *   WV_ETIMEDOUT  the deadline passed (timed_out() was called);
 *   WV_ECANCELED  the calling coroutine was cancelled (timed_out() called).
 * A wake-up that races with a time-out or cancellation wins: the caller
 * then gets 0 and the token, so that a resource handed to it is not lost.
 */
int wv__park(const wv__park_req_t *req, uintptr_t *token);

/*
 * The common shape of a state-word primitive's wait, as one call: set
 * `bit` ("somebody may be parked") in *word, if the word with the bit is
 * worth waiting on ((word | bit) & mask == expect), then park on `key`
 * while (*word & mask) == expect; a waiter that times out or is cancelled
 * and was the last clears `bit` again.  Returns what wv__park returns, and
 * WV_EAGAIN, without parking and without touching the word, when the word
 * is not (or no longer) one to wait on: the caller re-reads its state and
 * decides again.  Lock, Semaphore, Event, once and
 * Future all wait through it.
 */
typedef struct wv__word_wait {
    const void *key; /* where to park: the primitive */
    uint32_t *word;  /* its state word */
    uint32_t bit;    /* its "somebody may be parked" bit */
    uint32_t mask;   /* park only while (*word & mask) == expect */
    uint32_t expect;
    int64_t deadline;
    int64_t since; /* as in wv__park_req_t */
    unsigned flags;
} wv__word_wait_t;

int wv__park_word(const wv__word_wait_t *w, uintptr_t *token);

/* What an unpark did, passed to its callback. */
typedef struct wv__unpark_result {
    unsigned unparked; /* waiters dequeued by this call */
    bool have_more;    /* waiters still parked on the key */
    int64_t since;     /* `since` of the first dequeued waiter, or 0 */
} wv__unpark_result_t;

/* Under the bucket lock, after dequeuing: returns the token handed to every
 * dequeued waiter.  Primitives update their state word here. */
typedef uintptr_t (*wv__unpark_cb)(void *arg, wv__unpark_result_t r);

/*
 * Unparks up to `max` waiters parked on key, oldest first.  `cb` (may be
 * NULL: token 0) runs once under the bucket lock even when nobody was
 * parked.  The dequeued waiters are woken after the bucket lock is
 * released.  Returns the number unparked.
 */
unsigned wv__unpark(const void *key, unsigned max, wv__unpark_cb cb, void *arg);

/* Number of waiters parked on key (test and debug aid; takes the lock). */
unsigned wv__parked_count(const void *key);

/*
 * Test hook, for the calling thread only: sleeps that many microseconds
 * in each of its wv__park calls (before taking the bucket lock), its
 * wv__unpark calls (before taking the bucket lock), and between an
 * unpark's dequeuing and its waking, as if the thread had been preempted
 * there.  Widens the windows that races need to be hit in tests.  All 0
 * turns it off.
 */
void wv__fault_delay(unsigned park_us, unsigned unpark_us, unsigned wake_us);

#endif /* WV_CORE_INTERNAL_H */

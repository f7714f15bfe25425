/*
 * weave/coro.h - coroutines: user-level threads with their own stack,
 * scheduled by weave on the thread that spawned them.  What greenlet and
 * gevent give Python, and asyncio's tasks, with C's costs: a switch is a
 * dozen nanoseconds, a blocked coroutine one page of memory.
 *
 * The model
 *  - A coroutine runs fn(arg) on its own stack (mmap'd, a guard page below,
 *    pages touched lazily, pooled for reuse).  Overflowing the stack kills
 *    the program with `weave: stack overflow in coroutine "NAME"`, never a
 *    silent corruption.
 *  - Every thread has its own scheduler, made on its first spawn.  A
 *    coroutine runs only on the thread that spawned it, never on two CPUs:
 *    coroutines of one thread need no locks between their switch points.
 *  - Switching is cooperative.  A coroutine runs until it blocks in a weave
 *    call (a Lock, Condition, Semaphore, Event, Barrier, queue.Queue, a
 *    Future, a channel, wv_sleep_until, wv_fdwait, a join...), yields, or
 *    returns.  A blocked coroutine parks: its thread runs the others, and
 *    the wake-up (from a coroutine, or from any other thread: a pool worker
 *    finishing a Future, a thread setting an Event) makes it runnable again.
 *    Calls outside weave (read(2) on a blocking descriptor, a C library's
 *    own locks) block the whole thread, as in gevent without patching.
 *  - The thread's own code (main, or a thread's function) is a party too:
 *    when it blocks in a weave call, or joins, or calls wv_coro_run, its
 *    thread runs the coroutines meanwhile.  Coroutines spawned by a thread
 *    that never blocks in weave never run.
 *  - Deadlines as everywhere (weave/core.h): absolute wv_now()
 *    milliseconds, -1 forever, 0 do not wait.
 *  - Cancellation: wv_coro_cancel marks a coroutine cancelled for good.
 *    From then on every weave call it makes that would have to wait (and
 *    the one it is parked in) returns WV_ECANCELED at once, so it can
 *    clean up and return; calls that need not wait still succeed (a free
 *    Lock, a set Event, a finished join), and calls that cannot fail that
 *    way (re-taking a Condition's lock, wv_coro_free) still wait.  Nothing
 *    is interrupted between switch points.  A coroutine cancelled before
 *    it first ran never runs fn at all: its join gives the result NULL.
 *  - Fork (wv_fork, a Process started by forking): as only the calling
 *    thread goes on in the child, only the calling party does.  The
 *    thread's other coroutines (and its own code, if a coroutine forked)
 *    never run there; their handles join at once (result NULL, cancelled)
 *    and their groups stop counting them.  A coroutine that forked must
 *    end the child (_exit, as a Process's child does) rather than return.
 *
 * Lifetimes (DESIGN.md principle 5): a coroutine is either joinable (the
 * caller of wv_coro_spawn got a handle and must wv_coro_free it), detached
 * (wv_go: its record is recycled when it returns) or owned by a group
 * (wv_group_t: joined and cancelled as one, asyncio's TaskGroup and
 * libdill's bundles).  A thread that exits with coroutines left cancels
 * them (and those they spawn meanwhile) and runs them to their end first;
 * wv_thread_join and pthread_join return after that.  The process's main
 * thread is the exception: returning from main (exit) abandons its
 * coroutines as they are, so call wv_coro_run before.
 */
#ifndef WEAVE_CORO_H
#define WEAVE_CORO_H

#include "weave/core.h"

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wv_coro wv_coro_t;
typedef struct wv_group wv_group_t;

/* A coroutine's body.  Its return value is handed to wv_coro_join. */
typedef void *(*wv_coro_fn)(void *arg);

/* Longest name kept (bytes, without the NUL); longer names are cut. */
#define WV_CORO_NAME_MAX 47

typedef struct wv_coro_opts {
    /* Name (copied), shown by the stack overflow message and
     * wv_coro_name.  NULL: "coro". */
    const char *name;
    /* Usable stack bytes (rounded up to the page size; the memory is
     * reserved, not committed).  0 = 256 KiB.  Default-size stacks are
     * pooled per thread; other sizes are mapped and unmapped each time. */
    size_t stack_size;
} wv_coro_opts_t;

/*
 * Spawns a coroutine running fn(arg) on the calling thread's scheduler
 * (made now if the thread has none).  It first runs when the caller next
 * blocks, yields or returns to its scheduler, in spawn order (cancelled
 * before then, it never runs); its stack is taken only then, so spawning
 * a million coroutines that run one after another holds a million small
 * records, not a million stacks.
 *
 * out != NULL: *out is a joinable handle; the caller must pass it to
 * wv_coro_free exactly once.  out == NULL: detached, as wv_go.
 * opts may be NULL.  A coroutine cancelled before it first ran never runs
 * fn (its result is NULL).
 * Errors: WV_EINVAL (fn NULL, stack_size over 1 GiB), WV_ENOMEM (no memory
 * for the record or the scheduler).  A stack that cannot be had when the
 * coroutine first runs (address space or vm.max_map_count exhausted)
 * aborts the program with a message: there is no caller left to tell.
 * On error fn is never called and *out is untouched.
 */
WV_EXTERN int wv_coro_spawn(wv_coro_t **out, const wv_coro_opts_t *opts,
                            wv_coro_fn fn, void *arg);

/* Spawns a detached coroutine with the default options: Go's `go`.
 * Errors: WV_EINVAL (fn NULL), WV_ENOMEM. */
WV_EXTERN int wv_go(wv_coro_fn fn, void *arg);

/*
 * Waits until co has returned, or the deadline.  From any thread or
 * coroutine (a coroutine of the same thread parks; the thread's own code
 * runs the scheduler meanwhile).  May be called again after a time-out.
 * Returns 0 with *result (may be NULL) set to fn's return value (NULL if
 * co was cancelled before it ran); WV_ETIMEDOUT; WV_EAGAIN (deadline 0,
 * still running); WV_ECANCELED (the caller, a coroutine, was cancelled and
 * co has not returned); WV_EDEADLK (co is the caller); WV_EINVAL (co NULL
 * or not a joinable handle, such as wv_coro_self() in a detached or
 * grouped coroutine; bad deadline).  Whether co itself was cancelled:
 * wv_coro_is_cancelled.
 */
WV_EXTERN int wv_coro_join(wv_coro_t *co, void **result, int64_t deadline);

/*
 * Cancels co (see the model above): the blocking call it is parked in, and
 * every one it makes afterwards, returns WV_ECANCELED; if it has not run
 * yet, fn never runs.  From any thread or coroutine; a coroutine may
 * cancel itself.  Idempotent; no effect on one that has returned (a cancel
 * from another thread racing with the return may count either way).
 * Returns at once: wv_coro_join waits for the end.
 */
WV_EXTERN void wv_coro_cancel(wv_coro_t *co);

/* true once wv_coro_cancel was called on co (before it returned).  NULL
 * co: the calling coroutine (false in a thread's own code). */
WV_EXTERN bool wv_coro_is_cancelled(const wv_coro_t *co);

/*
 * Releases a joinable handle.  A coroutine still running is cancelled and
 * waited for first (without deadline, not cancellable: free always frees).
 * NULL: no-op.  Must not be called by co itself.
 */
WV_EXTERN void wv_coro_free(wv_coro_t *co);

/*
 * Lets the other runnable coroutines of this thread run, then returns
 * (at once if none is runnable).  Every 64th switch or so it also takes in
 * wake-ups from other threads, expired timers and ready descriptors, so a
 * coroutine that only computes should yield now and then (and one that
 * yields in a loop waiting for those sees them within 64 yields).  From the
 * thread's own code it runs the runnable coroutines once.  Returns 0, or
 * WV_ECANCELED when the calling coroutine is cancelled (after yielding).
 */
WV_EXTERN int wv_coro_yield(void);

/*
 * Runs the calling thread's coroutines until none is left (detached,
 * joinable and grouped alike), or the deadline: asyncio.run's loop.  Call
 * it from the thread's own code, not from a coroutine.  When none is
 * left it also closes the loop's epoll descriptors (made again by the
 * next descriptor wait).
 * Returns 0 (none left; also when the thread never spawned any),
 * WV_ETIMEDOUT, WV_EAGAIN (deadline 0 and some left after one round),
 * WV_EDEADLK (called from a coroutine), WV_EINVAL (bad deadline).
 */
WV_EXTERN int wv_coro_run(int64_t deadline);

/* The calling coroutine, or NULL in a thread's own code. */
WV_EXTERN wv_coro_t *wv_coro_self(void);

/* co's name (valid as long as co); NULL co: the caller's ("main" in a
 * thread's own code). */
WV_EXTERN const char *wv_coro_name(const wv_coro_t *co);

/* --------------------------------------------------------------- groups */

/*
 * A group of coroutines joined and cancelled as one.  Spawn into it from
 * any thread (each coroutine runs on its spawner's thread); a grouped
 * coroutine is detached: its result is dropped.
 */

/* Errors: WV_EINVAL (out NULL), WV_ENOMEM. */
WV_EXTERN int wv_group_new(wv_group_t **out);

/*
 * Spawns fn(arg) into g, as wv_coro_spawn.  Errors: WV_EINVAL (g or fn
 * NULL, bad stack size), WV_ENOMEM, WV_ECANCELED (g was cancelled: it
 * accepts no more coroutines).
 */
WV_EXTERN int wv_group_spawn(wv_group_t *g, const wv_coro_opts_t *opts,
                             wv_coro_fn fn, void *arg);

/*
 * Waits until every coroutine of g has returned (those spawned while
 * waiting included), or the deadline.  From any thread or coroutine (not
 * one of g's: WV_EDEADLK).  Returns 0, WV_ETIMEDOUT, WV_EAGAIN (deadline 0),
 * WV_ECANCELED (the calling coroutine was cancelled), WV_EINVAL.
 */
WV_EXTERN int wv_group_join(wv_group_t *g, int64_t deadline);

/* Cancels every coroutine of g, and refuses new ones.  Any thread. */
WV_EXTERN void wv_group_cancel(wv_group_t *g);

/* Coroutines of g that have not returned yet. */
WV_EXTERN size_t wv_group_count(const wv_group_t *g);

/* Cancels g, waits for all its coroutines (without deadline, not
 * cancellable), frees it.  NULL: no-op.  Not from one of g's coroutines. */
WV_EXTERN void wv_group_free(wv_group_t *g);

/* ---------------------------------------------------- descriptors (loop) */

/*
 * Waits until fd is ready for one of `events` (POLLIN, POLLOUT, POLLPRI;
 * POLLERR and POLLHUP are always reported) or the deadline.  In a
 * coroutine, or in the own code of a thread that has a scheduler, only
 * that party waits, through the thread's event loop (epoll or io_uring:
 * wv_loop_backend), and the
 * thread runs its other coroutines; in a thread without a scheduler the
 * thread waits (poll).  A regular file is always ready, as poll says.
 * Readiness may be stale by the time the caller acts: use non-blocking
 * descriptors and wait again on EAGAIN.  A descriptor closed while a
 * coroutine waits on it is the caller's bug, as with epoll.
 * Returns 0 with *revents (may be NULL) set; WV_ETIMEDOUT; WV_EAGAIN
 * (deadline 0, not ready); WV_ECANCELED (a cancelled coroutine);
 * WV_EBADF (fd negative or not open); WV_EBUSY (another party of this
 * thread already waits on fd for the same direction); WV_EINVAL (bad
 * deadline, no event asked); WV_ENOMEM; WV_EMFILE, WV_ENFILE (no
 * descriptor left for the thread's epoll set); WV_ENOSPC (the epoll watch
 * limit, fs.epoll.max_user_watches, is reached).
 */
WV_EXTERN int wv_fdwait(int fd, short events, short *revents, int64_t deadline);

/*
 * The event loop's backend: how a thread's loop waits for descriptors.
 *  - WV_LOOP_EPOLL: epoll.  Sockets and streams keep an edge-triggered
 *    registration, so a wait costs no system call once made.
 *  - WV_LOOP_IO_URING: io_uring (Linux 5.11 or later, 6.1 for its
 *    cheaper form; built with liburing: WEAVE_IO_URING).  Waits are polls in
 * the ring, and a stream's socket reads and writes are carried out by the ring:
 * a scheduler round's I/O goes in with one system call.
 *  - WV_LOOP_AUTO: io_uring where it is usable, epoll otherwise.
 * The choice is process-wide and applies to each loop when it makes its
 * descriptor set (a thread's first descriptor wait; again after a fork or
 * after wv_coro_run gave the set back).  Before any call, the environment
 * variable WEAVE_LOOP=epoll or WEAVE_LOOP=io_uring chooses (anything else:
 * auto); wv_loop_set_backend overrides it.  docs/net.md compares them.
 */
typedef enum wv_loop_backend {
    WV_LOOP_AUTO = 0,
    WV_LOOP_EPOLL = 1,
    WV_LOOP_IO_URING = 2,
} wv_loop_backend_t;

/*
 * Chooses the backend of the loops' next descriptor sets.  Returns 0;
 * WV_EINVAL (not a wv_loop_backend_t); WV_ENOSYS (WV_LOOP_IO_URING where
 * it is not usable: built without liburing, a kernel without io_uring or
 * with it disabled, or lacking an operation weave needs).  Thread-safe.
 */
WV_EXTERN int wv_loop_set_backend(wv_loop_backend_t backend);

/* The backend new descriptor sets use now: WV_LOOP_EPOLL or
 * WV_LOOP_IO_URING, never WV_LOOP_AUTO. */
WV_EXTERN wv_loop_backend_t wv_loop_backend(void);

/*
 * Completion batching, for servers that run saturated (io_uring only;
 * off by default).  When a loop has nothing to run and waits, it waits
 * for up to `completions` socket reads and writes to complete, but at
 * most `max_wait_us` microseconds; past that it goes on with what came,
 * or, when nothing came, waits for the first as usual.  A scheduler round
 * then serves many connections for one system call: W9's 64 busy
 * connections cost the server about half the CPU per round trip
 * (docs/net.md, bench/RESULTS.md).
 *  - The price is latency: a message that completes within max_wait_us
 *    of the loop's going to sleep waits for the rest of it (or for the
 *    batch to fill).  A wake-up from another thread (a channel send, a
 *    pool's future) waits the same way.
 *  - A loop never waits for more completions than it has reads and
 *    writes in flight (descriptor waits are not counted), so a lone
 *    exchange (one connection ping-ponging, the manager's client) is
 *    never held; nor past its next timer (a sleep, a deadline).
 * Process-wide; a loop applies it at each wait, so it takes effect at
 * once.  Loops on epoll ignore it.  Before any call, the environment
 * variable WEAVE_LOOP_BATCH="N,US" (e.g. "32,200") sets it; an invalid
 * value there, or a kernel without the min wait, leaves it off.
 * completions = max_wait_us = 0 turns it off.
 * Returns 0; WV_EINVAL (completions not in 2..256 or max_wait_us not in
 * 1..1,000,000, unless both are 0); WV_ENOSYS (io_uring's min wait,
 * Linux 6.12, IORING_FEAT_MIN_TIMEOUT, is not available: built without
 * liburing, an older kernel, io_uring disabled).  Thread-safe.
 */
WV_EXTERN int wv_loop_set_batch(unsigned completions, unsigned max_wait_us);

#ifdef __cplusplus
}
#endif

#endif /* WEAVE_CORO_H */

/*
 * weave/pool.h - multiprocessing.Pool and ThreadPool: one pool API, two
 * kinds of workers, threads (WV_POOL_THREADS) or processes
 * (WV_POOL_PROCESSES), with the very same calls.
 *
 * A task is a function and argument bytes:
 *
 *     int fn(wv_task_t *task, const void *arg, size_t len);
 *
 * The pool copies the argument bytes when the task is submitted (nothing
 * keeps a pointer to the caller's buffer after the call returns, except
 * where a call says so: map and imap read their input in place).  fn
 * returns 0 on success or a negative WV_E* code, which fails the task with
 * that code; any positive value fails it with WV_EINVAL.  Its result is
 * bytes, handed back with wv_task_return (copied).
 *
 * What may cross a process boundary (for pools of processes): the argument
 * and result bytes, and `fn` itself (workers are forked from the program,
 * so function addresses stay valid, for code loaded before the pool was
 * created: not for a library dlopen'ed later).  Pointers inside the argument
 * bytes mean something only to thread workers; a thread pool is the place to
 * pass `&ptr, sizeof ptr`.
 *
 * Pools of processes.  Each worker is a thread of the pool (its
 * dispatcher) that owns one child process and hands it the tasks it takes,
 * one at a time, through a shared-memory channel: an apply's argument and
 * result bytes, a map chunk's input and result records, each in one copy
 * each way, with no serialisation and no pipe.  Callbacks, futures,
 * deadlines and the queues are the thread pool's own, in the parent.
 * Children are forked from a private fork server that the pool starts
 * when it is created (or from the program's fork server, if it started
 * one: wv_forkserver_start), so every child, a replacement forked much
 * later included, is a copy of the program as it was then: memory
 * changed in the parent later is not seen by the workers, and locks that
 * the program's other threads take later are not inherited held.  A pool
 * created while other threads hold locks that tasks need must be created
 * from a program that started the fork server at its beginning.  Stopping
 * that server (wv_forkserver_stop, or the program's exit) kills the
 * workers it forked and breaks the pools that use it (WV_EBROKEN).
 * What processes change, beyond threads:
 *  - A worker that dies (killed, a crash in the task, _exit in the task,
 *    out of memory) fails the one task it held with WV_EWORKERLOST (a map
 *    or imap chunk: the item it was running and, for imap, the items after
 *    it in the chunk) and is replaced; the tasks it had not picked up run
 *    on the replacement.  Python's Pool hangs there.
 *  - A task still running at its deadline is killed with its worker and
 *    fails with WV_ETIMEDOUT; the worker is replaced.
 *  - terminate kills every worker at once: running tasks fail with
 *    WV_ECANCELED too.
 *  - The initializer runs in each child (and each replacement), never in
 *    the parent; maxtasksperchild replaces the child, not the thread.
 *  - A task can use no pool its worker inherited (its threads are in the
 *    parent): submissions, map, imap and join return WV_EPERM; close,
 *    terminate and free do nothing.  Futures and imap iterators of the
 *    parent must not be used there either.  A pool created in the task is
 *    its own.
 *  - A task that forks must end the forked child with _exit: one that
 *    returns into the worker's loop would serve the channel too.
 *  - The channel of each worker grows to the largest argument, result or
 *    chunk it has carried and keeps that size while its worker thread
 *    lives (a replacement child inherits it); map's chunks are therefore
 *    best kept moderate.
 *  - A child that cannot be started (no memory, no processes, no
 *    descriptors, its server gone) when one is needed, an elastic pool's
 *    extra worker included, breaks the pool (WV_EBROKEN).
 *  - A map chunk runs to its end in the child, even if another chunk's
 *    failure stops the map meanwhile (its results are then dropped).
 *
 * Callbacks (Python's callback and error_callback) never run on a worker:
 * each pool has a result-handler thread, as Python's, that runs them one at
 * a time, in completion order.  A slow callback delays the callbacks after
 * it, never the workers.  A callback may free its own pool.
 *
 * Deadlines: a task may carry one (wv_task_opts_t).  A task not started by
 * its deadline is not run and fails with WV_ETIMEDOUT, at the deadline, not
 * when a worker gets to it.  A running task is never interrupted: a thread
 * cannot be killed safely (process pools can, and do).
 *
 * Scheduling: one shared FIFO for submitted work, from which each worker
 * takes batches into its own queue; an idle worker steals half of a busy
 * worker's queue.  Tasks therefore start in roughly, not strictly,
 * submission order.  Idle workers spin for a few tens of microseconds, then
 * sleep; nobody spins while the pool is idle.
 */
#ifndef WEAVE_POOL_H
#define WEAVE_POOL_H

#include "weave/core.h"
#include "weave/queue.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wv_pool wv_pool_t;

/* The running task, handed to its function; valid during the call only. */
typedef struct wv_task wv_task_t;

/* A task's function; see the top of this file. */
typedef int (*wv_pool_fn)(wv_task_t *task, const void *arg, size_t len);

/*
 * Sets the task's result to a copy of data[0..len) (data may be NULL when
 * len is 0); a second call replaces the first.  In map and imap the result
 * is a record of the call's out_size bytes: a shorter result is padded with
 * zeros.  Errors: WV_EINVAL (task NULL, or data NULL with len > 0),
 * WV_EMSGSIZE (map/imap: len > out_size), WV_ENOMEM.  On error the previous
 * result, if any, stays.
 */
WV_EXTERN int wv_task_return(wv_task_t *task, const void *data, size_t len);

/* Index of the task's item in map and imap (0 for apply). */
WV_EXTERN size_t wv_task_index(const wv_task_t *task);

/* Python's callback: the task's result, valid during the call only. */
typedef void (*wv_pool_callback)(const void *result, size_t len, void *arg);
/* Python's error_callback: the code the task failed with (WV_ECANCELED,
 * WV_ETIMEDOUT, WV_EBROKEN, or the task's own). */
typedef void (*wv_pool_error_callback)(int err, void *arg);

typedef enum wv_pool_kind {
    WV_POOL_THREADS = 0, /* ThreadPool */
    WV_POOL_PROCESSES,   /* Pool: worker processes (see the top) */
} wv_pool_kind_t;

typedef struct wv_pool_opts {
    wv_pool_kind_t kind;
    /* Workers kept running; 0 = wv_cpu_count(). */
    unsigned workers;
    /* Elastic pools: up to this many workers while tasks are waiting;
     * those above `workers` exit after idle_timeout_ms without work.
     * 0 = workers (a fixed-size pool). */
    unsigned max_workers;
    /* 0 = 10 s. */
    int64_t idle_timeout_ms;
    /* Run once in each worker before its first task (every replacement
     * worker too; for processes, in the child, where one that never
     * returns holds its worker until terminate kills it).  A failure at
     * wv_pool_new fails wv_pool_new with that code (WV_EWORKERLOST: a child
     * died in it); a later one breaks the pool (see WV_EBROKEN below).  For
     * processes, initarg must point to memory the child has: anything
     * that existed when the pool (or the program's fork server) was
     * created. */
    int (*initializer)(void *arg);
    void *initarg;
    /* A worker is replaced by a fresh thread (its wv_local values are
     * destroyed) or, for processes, a fresh child after this many tasks
     * (a map chunk counts as one); 0 = never. */
    unsigned maxtasksperchild;
    /* Worker names are "<name>-<n>" (threads; processes: the name the OS
     * shows, "<name>-<slot>"); NULL = "pool".  Copied. */
    const char *name;
    /* Worker stack size in bytes; 0 = the system default. */
    size_t stack_size;
} wv_pool_opts_t;

/*
 * Per-call options; NULL or all zeros = none.
 *
 * callback / error_callback: exactly one of them runs, exactly once, on the
 * pool's handler thread, for every task submitted with one of them set,
 * whatever becomes of the task (done, failed, cancelled, timed out,
 * terminated).  Either may be NULL.
 * deadline: absolute wv_now() ms; 0 or WV_FOREVER = none.  Not started by
 * then = not run, fails with WV_ETIMEDOUT.  Processes: still running then
 * = killed with its worker, fails with WV_ETIMEDOUT (map: the job fails;
 * imap: the items not finished).
 * chunksize: map and imap: items per task; 0 = automatic.
 * window: imap: chunks in flight at once (bounded memory, as Python's
 * imap lacks); 0 = 4 per worker.
 */
typedef struct wv_task_opts {
    wv_pool_callback callback;
    wv_pool_error_callback error_callback;
    void *cb_arg;
    int64_t deadline;
    size_t chunksize;
    size_t window;
} wv_task_opts_t;

/*
 * Creates a pool and starts its workers, then waits until each has run the
 * initializer.  opts may be NULL (a fixed pool of wv_cpu_count() threads).
 * Errors: WV_EINVAL (out NULL, max_workers < workers, idle_timeout_ms < 0,
 * unknown kind), WV_ENOMEM, WV_EAGAIN (no more threads or processes),
 * WV_EMFILE (processes: no descriptor for a channel), the first error an
 * initializer returned, or WV_EWORKERLOST (processes: a child died before
 * it was ready).  On error nothing is left running.
 */
WV_EXTERN int wv_pool_new(wv_pool_t **out, const wv_pool_opts_t *opts);

/*
 * Submits fn(arg[0..len)).  With `fut` non-NULL, *fut receives a future
 * (the caller owns one reference: wv_future_unref) that completes with the
 * task's result or error; wv_future_cancel on it cancels the task if it
 * has not started.  With fut NULL and no callbacks the task is fire and
 * forget: nothing is allocated when len <= 32, and its error, if any, is
 * dropped.
 * Errors: WV_EINVAL (pool or fn NULL, arg NULL with len > 0, len >
 * UINT32_MAX), WV_ESHUTDOWN (closed or terminated), WV_EBROKEN (a
 * replacement worker's initializer failed, or no replacement process could
 * be started), WV_ENOMEM, WV_EPERM (called in a worker process on a pool
 * it inherited).  On error nothing was submitted and no callback will run.
 * The task itself may then fail with its own code, WV_ETIMEDOUT,
 * WV_ECANCELED, WV_EBROKEN or (processes) WV_EWORKERLOST.
 */
WV_EXTERN int wv_pool_apply_async(wv_pool_t *pool, wv_pool_fn fn,
                                  const void *arg, size_t len,
                                  const wv_task_opts_t *opts,
                                  wv_future_t **fut);

/*
 * apply: runs fn(arg) on a worker and waits for it.  On success the result
 * is copied to out[0..min(len, cap)) and its full length stored in *out_len
 * (out and out_len may be NULL).  The deadline covers the wait: a task not
 * started by then is not run; one still running is left to finish, and its
 * result is dropped (processes: it is killed with its worker).  Called
 * from one of a thread pool's own tasks, apply runs fn at once in the
 * calling worker (waiting for another worker could deadlock a busy pool);
 * from a process pool's task, it is WV_EPERM.  Errors: those of
 * apply_async, the task's own, WV_ETIMEDOUT, WV_ECANCELED (terminated, or
 * the calling coroutine was cancelled).
 */
WV_EXTERN int wv_pool_apply(wv_pool_t *pool, wv_pool_fn fn, const void *arg,
                            size_t len, int64_t deadline, void *out, size_t cap,
                            size_t *out_len);

/*
 * map (and starmap: an item is any fixed-size record, a struct of
 * several arguments included).  Calls fn(in + i*in_size, in_size) for i in
 * [0, n), in chunks of opts->chunksize items (automatic: n / (4 x
 * workers), as Python; for processes, at most 1 MiB of input and result
 * records per chunk), and stores item i's result record in out + i *
 * out_size (out may be NULL when out_size is 0).  `in` and `out` are used
 * in place and must stay valid until the call returns.
 * The first item to fail stops the items not yet started; map returns its
 * code, and stores its index in *failed if failed is not NULL.  Records of
 * items that did not run are left as they were.
 * Errors: WV_EINVAL (pool, fn NULL; in NULL with n > 0 and in_size > 0; out
 * NULL with out_size > 0), those of apply_async, an item's own,
 * WV_ETIMEDOUT (opts->deadline passed: items not started by then were not
 * run; map returns once those running have finished).
 */
WV_EXTERN int wv_pool_map(wv_pool_t *pool, wv_pool_fn fn, const void *in,
                          size_t n, size_t in_size, void *out, size_t out_size,
                          const wv_task_opts_t *opts, size_t *failed);

/*
 * map_async: as map, returning at once a future (*fut, owned by the
 * caller) that completes with no value when every item has succeeded, or
 * fails with the code map would return.  `in` and `out` must stay valid
 * until the future is ready.  The future cannot be cancelled
 * (wv_future_cancel returns WV_EBUSY): use a deadline, or terminate.
 * Callbacks get (NULL, 0) on success.  Errors: those of map, returned at
 * once.
 */
WV_EXTERN int wv_pool_map_async(wv_pool_t *pool, wv_pool_fn fn, const void *in,
                                size_t n, size_t in_size, void *out,
                                size_t out_size, const wv_task_opts_t *opts,
                                wv_future_t **fut);

/* An imap iterator. */
typedef struct wv_imap wv_imap_t;

/*
 * imap: like map, but results are consumed one by one with wv_imap_next,
 * in input order, as they come; at most opts->window chunks are queued or
 * running at once, the next submitted as results are consumed.  Chunk
 * size: automatic = enough for 16 chunks per worker, at most 1024 items.
 * `in` must stay valid until wv_imap_free returns.  Each item has its own
 * outcome: a failed item does not stop the others.  Unlike the other calls,
 * an imap made before wv_pool_close keeps running after it, so
 * wv_pool_join waits until it has been consumed to its end or freed.  An
 * iterator must be freed before its pool.
 * Errors: those of map.  On success *it must be freed with wv_imap_free.
 */
WV_EXTERN int wv_pool_imap(wv_pool_t *pool, wv_pool_fn fn, const void *in,
                           size_t n, size_t in_size, size_t out_size,
                           const wv_task_opts_t *opts, wv_imap_t **it);

/* imap_unordered: as imap, results in completion order (by chunk). */
WV_EXTERN int wv_pool_imap_unordered(wv_pool_t *pool, wv_pool_fn fn,
                                     const void *in, size_t n, size_t in_size,
                                     size_t out_size,
                                     const wv_task_opts_t *opts,
                                     wv_imap_t **it);

/*
 * The next result.  Returns 0 with *index (the item's position in `in`)
 * and *result (out_size bytes, valid until the next call or
 * wv_imap_free); or the item's own error code with *index set (iteration
 * goes on with the next call); or WV_EOF when every item has been
 * returned.  Any pointer may be NULL.  Errors that are not an item's
 * (*index untouched, nothing consumed): WV_EAGAIN (deadline 0, not ready),
 * WV_ETIMEDOUT, WV_ENOMEM (submitting the next chunk; call again),
 * WV_ECANCELED (the pool was terminated) or the deadline's WV_ETIMEDOUT
 * (opts->deadline passed): from then on every call returns that code.
 */
WV_EXTERN int wv_imap_next(wv_imap_t *it, int64_t deadline, size_t *index,
                           const void **result);

/*
 * Stops the iteration (chunks not started are not run), waits for the
 * chunks that are running (they use `in`), and frees the iterator.  NULL
 * is a no-op.
 */
WV_EXTERN void wv_imap_free(wv_imap_t *it);

/* Python's close(): no more submissions (WV_ESHUTDOWN); the workers finish
 * the queued tasks, then exit. */
WV_EXTERN void wv_pool_close(wv_pool_t *pool);

/*
 * Python's terminate(): no more submissions; queued tasks are dropped (their
 * futures fail with WV_ECANCELED, their error callbacks run); running tasks
 * finish (threads cannot be stopped); workers exit after them.  In a pool
 * of processes every child is killed at once (SIGKILL) and running tasks
 * fail with WV_ECANCELED too.
 */
WV_EXTERN void wv_pool_terminate(wv_pool_t *pool);

/*
 * Waits until every worker has exited and every callback has run.  Errors:
 * WV_EINVAL (neither closed nor terminated: it would never return, as in
 * Python; or pool NULL), WV_EAGAIN (deadline 0, still running),
 * WV_ETIMEDOUT, WV_EDEADLK (called from the pool's own worker or callback),
 * WV_ECANCELED (the calling coroutine was cancelled).
 */
WV_EXTERN int wv_pool_join(wv_pool_t *pool, int64_t deadline);

/*
 * Terminates the pool unless it was closed, joins it and frees it.  Called
 * from one of the pool's own tasks or callbacks, it terminates (unless
 * closed) and returns at once; the pool's last thread frees it on its way
 * out (a process pool's task cannot: there it does nothing).  NULL is a
 * no-op.
 */
WV_EXTERN void wv_pool_free(wv_pool_t *pool);

/* Workers running now (elastic pools vary). */
WV_EXTERN unsigned wv_pool_workers(const wv_pool_t *pool);

#ifdef __cplusplus
}
#endif
#endif /* WEAVE_POOL_H */

/*
 * weave/queue.h - Python's `queue` (Queue, LifoQueue, PriorityQueue) for
 * threads and coroutines of one process, and futures (AsyncResult,
 * concurrent.futures.Future).
 *
 * A queue carries `void *` items: it stores the pointers, never what they
 * point to.  Whoever puts an item hands it over to whoever gets it; a
 * queue given a free_item function also owns the items still inside when
 * they are discarded (wv_queue_shutdown with immediate, wv_queue_free).
 *
 * Every blocking call takes a deadline (weave/core.h): 0 returns WV_EAGAIN
 * at once where Python raises Full or Empty with block=False.
 */
#ifndef WEAVE_QUEUE_H
#define WEAVE_QUEUE_H

#include "weave/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------------------- Queue */

typedef struct wv_queue wv_queue_t;

typedef enum wv_queue_kind {
    WV_QUEUE_FIFO = 0, /* queue.Queue */
    WV_QUEUE_LIFO,     /* queue.LifoQueue */
    WV_QUEUE_PRIORITY  /* queue.PriorityQueue: smallest item first */
} wv_queue_kind_t;

typedef struct wv_queue_opts {
    wv_queue_kind_t kind;
    /* Maximum number of items; 0 = unbounded (memory permitting). */
    size_t maxsize;
    /* PRIORITY only, required: < 0 if a comes out before b, 0 if equal,
     * > 0 otherwise.  Equal items come out in the order they were put
     * (unlike Python's heapq, which needs a counter in the tuple for it). */
    int (*compare)(const void *a, const void *b);
    /* Frees an item the queue discards; NULL = discarded items are simply
     * dropped (the caller owns them some other way). */
    void (*free_item)(void *item);
} wv_queue_opts_t;

/*
 * Creates a queue; opts NULL gives an unbounded FIFO.  Free with
 * wv_queue_free.  Errors: WV_EINVAL (out NULL, unknown kind, PRIORITY
 * without compare), WV_ENOMEM.
 */
WV_EXTERN int wv_queue_new(wv_queue_t **out, const wv_queue_opts_t *opts);

/*
 * Frees the queue and discards the items left in it (free_item is called
 * on each).  No thread may be using or waiting on the queue: shut it down
 * and let the users leave first.  NULL is a no-op.
 */
WV_EXTERN void wv_queue_free(wv_queue_t *q);

/*
 * Puts an item, waiting for room in a full bounded queue.  On any error
 * the item was not put and still belongs to the caller.
 * Errors: WV_EAGAIN (deadline 0 and full: Python's Full), WV_ETIMEDOUT,
 * WV_ESHUTDOWN (the queue is shut down, also when that happens during the
 * wait), WV_ENOMEM (an unbounded queue could not grow), WV_EINVAL (bad
 * deadline), WV_ECANCELED.
 */
WV_EXTERN int wv_queue_put(wv_queue_t *q, void *item, int64_t deadline);

/*
 * Removes and returns the next item in *item, waiting for one.
 * Errors: WV_EAGAIN (deadline 0 and empty: Python's Empty), WV_ETIMEDOUT,
 * WV_EOF (the end: shut down and empty; after a normal shutdown the
 * remaining items are still handed out first), WV_EINVAL (bad deadline, item
 * NULL), WV_ECANCELED.
 */
WV_EXTERN int wv_queue_get(wv_queue_t *q, void **item, int64_t deadline);

/*
 * Removes up to `max` items at once into items[], waiting (until deadline)
 * only while the queue is empty.  Returns the number taken (>= 1), or the
 * errors of wv_queue_get.  One lock round trip for the whole batch.
 */
WV_EXTERN int wv_queue_get_many(wv_queue_t *q, void **items, int max,
                                int64_t deadline);

/* Number of items (a snapshot).  Python's qsize(), empty(), full(). */
WV_EXTERN size_t wv_queue_qsize(wv_queue_t *q);
WV_EXTERN bool wv_queue_is_empty(wv_queue_t *q);
WV_EXTERN bool wv_queue_is_full(wv_queue_t *q);

/*
 * Marks one formerly got item as processed.  Every successful put adds one
 * unfinished task; when task_done has been called for all of them, join
 * returns.  Errors: WV_EOVERFLOW (called more times than items were put;
 * Python's ValueError).
 */
WV_EXTERN int wv_queue_task_done(wv_queue_t *q);

/*
 * Waits until every item ever put has been marked done.  Errors:
 * WV_EAGAIN (deadline 0, tasks pending), WV_ETIMEDOUT, WV_EINVAL,
 * WV_ECANCELED.  (An immediate shutdown counts discarded items as done.)
 */
WV_EXTERN int wv_queue_join(wv_queue_t *q, int64_t deadline);

/*
 * Python 3.13's shutdown.  From now on, put fails with WV_ESHUTDOWN and
 * wakes with it if it was waiting.  get keeps handing out the items left,
 * then returns WV_EOF, the end.  With `immediate`, the items left are
 * discarded at once (free_item, and each counts as a finished task so join
 * returns) and every waiting get wakes with WV_EOF.  Shutting down twice
 * is allowed (the second may make it immediate).  NULL: no-op.
 */
WV_EXTERN void wv_queue_shutdown(wv_queue_t *q, bool immediate);

WV_EXTERN bool wv_queue_is_shutdown(wv_queue_t *q);

/* ---------------------------------------------------------------- Future */

/*
 * The result of work done elsewhere: pending, then running, then done
 * with a value, failed with an error code, or cancelled.  Pools, coroutines
 * and RPC hand these out; anyone may also create one and complete it.
 *
 * A value is a copy of `len` bytes made by the completer (so that process
 * pools and RPC can produce them too); the future owns the copy.  A
 * pointer-sized result is simply passed as `&ptr, sizeof ptr`.
 *
 * A future is reference-counted: wv_future_new returns one reference; each
 * party that keeps the future beyond a call takes one with wv_future_ref,
 * and each reference is given back with wv_future_unref.  The completer
 * must hold a reference while it completes (set_result, set_error,
 * cancel): waking the waiters and running the callbacks use the future
 * after a waiter may have dropped its own.
 */
typedef struct wv_future wv_future_t;

/* A completion callback: called exactly once per registration, when the
 * future is done (value, error or cancelled). */
typedef void (*wv_future_cb)(wv_future_t *f, void *arg);

/* Errors: WV_EINVAL (out NULL), WV_ENOMEM. */
WV_EXTERN int wv_future_new(wv_future_t **out);

/* Takes one more reference; returns f. */
WV_EXTERN wv_future_t *wv_future_ref(wv_future_t *f);

/* Gives back one reference; the last one frees the future and its value.
 * A future still pending when freed simply never completes for anyone.
 * NULL is a no-op. */
WV_EXTERN void wv_future_unref(wv_future_t *f);

/*
 * Completes the future with a copy of data[0..len) (data may be NULL when
 * len is 0), wakes every waiter, then runs the callbacks in the calling
 * thread, in registration order.  Errors: WV_EALREADY (already done or
 * cancelled: nothing changes), WV_ENOMEM (the copy failed: the future stays
 * as it was, so the completer may set an error instead).
 */
WV_EXTERN int wv_future_set_result(wv_future_t *f, const void *data,
                                   size_t len);

/* Fails the future with a negative error code.  Errors: WV_EINVAL (err >=
 * 0), WV_EALREADY. */
WV_EXTERN int wv_future_set_error(wv_future_t *f, int err);

/*
 * Marks the future as running (concurrent.futures'
 * set_running_or_notify_cancel): after this, cancel fails.  Returns 0,
 * WV_ECANCELED if it was cancelled (the work must not run), or WV_EALREADY
 * if it is running or done already.
 */
WV_EXTERN int wv_future_set_running(wv_future_t *f);

/*
 * Cancels a pending future: waiters wake with WV_ECANCELED and callbacks
 * run (in the calling thread).  Returns 0 if cancelled (also if it already
 * was), WV_EBUSY if it is running, WV_EALREADY if it is done.
 */
WV_EXTERN int wv_future_cancel(wv_future_t *f);

/* Python's AsyncResult.ready(): done, failed or cancelled. */
WV_EXTERN bool wv_future_is_ready(const wv_future_t *f);
/* AsyncResult.successful(): done with a value (false while not ready). */
WV_EXTERN bool wv_future_is_successful(const wv_future_t *f);
WV_EXTERN bool wv_future_is_cancelled(const wv_future_t *f);
WV_EXTERN bool wv_future_is_running(const wv_future_t *f);

/*
 * Waits until the future is ready, whatever its outcome.  Errors:
 * WV_EAGAIN (deadline 0, not ready), WV_ETIMEDOUT, WV_EINVAL, WV_ECANCELED
 * (the calling coroutine was cancelled; not the future's outcome).
 */
WV_EXTERN int wv_future_wait(wv_future_t *f, int64_t deadline);

/*
 * Waits for the outcome.  Returns 0 with *data and *len (either may be
 * NULL) pointing at the value, owned by the future and valid while the
 * caller holds its reference; or the error the future failed with;
 * WV_ECANCELED if it was cancelled; or the errors of wv_future_wait.
 */
WV_EXTERN int wv_future_get(wv_future_t *f, const void **data, size_t *len,
                            int64_t deadline);

/*
 * The error the future failed with (WV_ECANCELED when cancelled), or 0 if
 * it is not ready or succeeded.  Never blocks.
 */
WV_EXTERN int wv_future_error(const wv_future_t *f);

/*
 * Registers fn(f, arg) to run once the future is ready: at once, in the
 * calling thread, if the future's callbacks have already been run;
 * otherwise in the thread that completes it, after the ones registered
 * before (so a callback registered in the instant between the completion
 * and the running of the callbacks runs in the completer, with them).  The
 * first registration needs no memory.  Errors: WV_EINVAL (fn NULL),
 * WV_ENOMEM (fn will then never be called).
 */
WV_EXTERN int wv_future_add_done_callback(wv_future_t *f, wv_future_cb fn,
                                          void *arg);

#ifdef __cplusplus
}
#endif
#endif /* WEAVE_QUEUE_H */

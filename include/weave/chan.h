/*
 * weave/chan.h - Go's channels: typed pipes between threads and
 * coroutines of one process, unbuffered (a rendezvous) or buffered, with
 * close and a select over several sends and receives.
 *
 * The model
 *  - A channel carries values of one fixed size, elem_size bytes (0 is
 *    allowed: a channel of pure events).  Values are copied in by send and
 *    out by receive; a channel never keeps a pointer to caller memory
 *    after a call returns.  What the bytes mean (a pointer handed over, a
 *    struct) is the caller's business, as with a pipe.
 *  - Unbuffered (capacity 0): a send completes only together with a
 *    receive, the value copied straight from the sender's buffer into the
 *    receiver's.  Buffered (capacity n): a send completes as soon as the
 *    value is in the buffer (first in, first out); it waits only while the
 *    buffer is full.
 *  - Threads and coroutines mix freely: a coroutine waiting on a channel
 *    parks only itself, and may be woken by a thread, and the reverse.
 *  - Cost: on a channel used by one thread only (its coroutines, or the
 *    thread itself), send and receive take no atomic instruction: its
 *    lock is biased to that thread (select still settles its claim with
 *    one).  The first operation from a second thread revokes the bias
 *    once (one membarrier(2), a few microseconds); from then on every
 *    operation takes an ordinary lock (docs/chan.md).  wv_chan_len and
 *    wv_chan_cap take no lock at all.
 *  - Waiting parties are served first come, first served on each side.
 *  - Close: no more sends.  Receivers still get what is buffered, then
 *    WV_EOF (the end of every stream in weave).  Every party blocked on
 *    the channel is woken: receivers with WV_EOF, senders with
 *    WV_ESHUTDOWN (their value was not delivered).  Go panics on a send to
 *    a closed channel; weave returns WV_ESHUTDOWN, as a shut-down queue.
 *  - Deadlines as everywhere (weave/core.h): absolute wv_now()
 *    milliseconds, -1 forever, 0 do not wait (WV_EAGAIN when the call
 *    would have to wait).  A deadline below -1 is WV_EINVAL, reported when
 *    the call would have to wait.  In a cancelled coroutine a wait returns
 *    WV_ECANCELED (threads are never cancelled).
 *  - Nothing is lost or duplicated: a call that fails (time-out,
 *    cancellation, close) had no effect, and one that returns 0 sent or
 *    received exactly one value; a send or receive that completes while
 *    the waiter's deadline expires counts as completed.
 *
 * Lifetime: whoever made the channel frees it, once no party uses it nor
 * waits on it any more (close it, let the parties return, then free).
 */
#ifndef WEAVE_CHAN_H
#define WEAVE_CHAN_H

#include "weave/core.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wv_chan wv_chan_t;

/*
 * Makes a channel of values of elem_size bytes (may be 0) holding up to
 * `capacity` values (0: unbuffered).  The buffer, capacity * elem_size
 * bytes, is allocated now; send and receive never allocate.
 * Errors: WV_EINVAL (out NULL, capacity * elem_size overflows),
 * WV_ENOMEM.  On error *out is untouched.
 */
WV_EXTERN int wv_chan_new(wv_chan_t **out, size_t elem_size, size_t capacity);

/*
 * Frees ch and the values still buffered in it.  No party may still use
 * or wait on it (that aborts the program with a message when it is
 * seen).  NULL: no-op.
 */
WV_EXTERN void wv_chan_free(wv_chan_t *ch);

/*
 * Sends the elem_size bytes at val (NULL allowed when elem_size is 0).
 * Unbuffered: returns once a receiver took the value.  Buffered: once it
 * is in the buffer, or handed to a waiting receiver.
 * Errors (the value was not sent): WV_ESHUTDOWN (ch is closed, or was closed
 * while waiting), WV_EAGAIN (deadline 0 and it would wait),
 * WV_ETIMEDOUT, WV_ECANCELED (the calling coroutine was cancelled),
 * WV_EINVAL (ch NULL, val NULL with elem_size > 0, bad deadline).
 */
WV_EXTERN int wv_chan_send(wv_chan_t *ch, const void *val, int64_t deadline);

/*
 * Receives the oldest value into the elem_size bytes at out (NULL: the
 * value is received and dropped).
 * Errors (nothing was received): WV_EOF (ch is closed and nothing is
 * left in it), WV_EAGAIN (deadline 0 and it would wait), WV_ETIMEDOUT,
 * WV_ECANCELED, WV_EINVAL (ch NULL, bad deadline).
 */
WV_EXTERN int wv_chan_recv(wv_chan_t *ch, void *out, int64_t deadline);

/*
 * Closes ch: sends fail from now on, receives drain the buffer and then
 * fail, and every party waiting on ch (in send, recv or select) is woken
 * with WV_EOF (receivers) or WV_ESHUTDOWN (senders).  Any thread or
 * coroutine may close, once.  Errors: WV_EALREADY (already closed),
 * WV_EINVAL (ch NULL).
 */
WV_EXTERN int wv_chan_close(wv_chan_t *ch);

/* Values buffered now (a snapshot, read without the lock: any thread may
 * poll it without disturbing the channel); 0 for NULL and unbuffered
 * channels. */
WV_EXTERN size_t wv_chan_len(const wv_chan_t *ch);

/* The capacity given to wv_chan_new; 0 for NULL. */
WV_EXTERN size_t wv_chan_cap(const wv_chan_t *ch);

/* ---------------------------------------------------------------- select */

enum { WV_CHAN_SEND = 1, WV_CHAN_RECV = 2 };

/* Private: where a party waits in a channel's queue.  Use the functions. */
struct wv__chan_wait;
struct wv__chan_entry {
    struct wv__chan_entry *_next, *_prev;
    struct wv__chan_wait *_wait;
    void *_val;
    uint32_t _idx;
    uint8_t _queued, _select;
};

/*
 * One case of a select.  The caller fills ch, op and val; err is set on
 * the case that completes; the rest is private, used only during the call.
 */
typedef struct wv_chan_case {
    wv_chan_t *ch; /* NULL: the case is ignored (Go's nil channel) */
    int op;        /* WV_CHAN_SEND or WV_CHAN_RECV */
    /* SEND: the value, elem_size bytes (NULL allowed if elem_size is 0).
     * RECV: where the value goes (NULL: dropped). */
    void *val;
    int err; /* out: 0, or WV_EOF / WV_ESHUTDOWN (recv / send, ch closed) */
    struct wv__chan_entry _entry; /* private */
    wv_chan_t *_order;            /* private */
} wv_chan_case_t;

/*
 * Go's select: waits until one of the cases can complete, completes that
 * one only, and returns its index.  A case is ready when its operation
 * would not wait: a send to a channel with a waiting receiver or room in
 * its buffer, a receive from one with a buffered value or a waiting
 * sender, and any case on a closed channel (which completes with err =
 * WV_EOF for a receive once the buffer is drained, WV_ESHUTDOWN for a
 * send at once).  When
 * several are ready, each is chosen with equal probability.  The same
 * channel may appear in several cases.  With no case left (n == 0 or every
 * ch NULL), select only waits for its deadline (and for WV_FOREVER in a
 * thread, forever, as Go's empty select).  The cases (whose private
 * fields hold the select's places in the channels' queues while it waits)
 * and their val buffers are used during the call only; the same array may
 * be passed again as it is.
 * Returns the index (>= 0) of the completed case, whose err is set to 0 or
 * WV_EOF / WV_ESHUTDOWN; the other cases' err are left alone.  Errors (no case
 * completed): WV_EAGAIN (deadline 0 and none ready), WV_ETIMEDOUT,
 * WV_ECANCELED, WV_EINVAL (cases NULL with n > 0, n > INT32_MAX, an op
 * that is neither SEND nor RECV, a SEND whose val is NULL with elem_size
 * > 0, bad deadline).
 */
WV_EXTERN int wv_chan_select(wv_chan_case_t *cases, size_t n, int64_t deadline);

#ifdef __cplusplus
}
#endif

#endif /* WEAVE_CHAN_H */

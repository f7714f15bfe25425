/*
 * coro/chan_impl.h - a channel's records and its lock, shared by chan.c
 * (send, receive, close, select) and bias.c (its lock's slow path).
 * Private to the channel: the design is at the top of chan.c.
 */
#ifndef WV_CORO_CHAN_IMPL_H
#define WV_CORO_CHAN_IMPL_H

#include "bias.h"
#include "sched.h"

#include "weave/chan.h"

#define GAVE_UP UINT32_MAX /* claim word: the select withdrew */

typedef struct wv__chan_entry entry_t;

/* A waiting party, on its stack for the duration of its wait. */
struct wv__chan_wait {
    wv__waiter_t w; /* how it sleeps and is woken */
    uint32_t claim; /* select only: 0, idx + 1 or GAVE_UP (atomic) */
    int err;        /* its result, set by the waker: 0, WV_EOF or
                     * WV_ESHUTDOWN (the channel was closed) */
};

struct queue {
    entry_t *head; /* oldest */
    entry_t *tail;
};

struct wv_chan {
    wv__bias_t bias;    /* the lock */
    bool closed;        /* [lock] */
    bool small;         /* elem_size is 0, 4, 8 or 16: copied inline */
    size_t len;         /* [lock] values in the ring (atomic stores) */
    size_t head;        /* [lock] byte offset of the oldest value */
    size_t tail;        /* [lock] byte offset of the next free slot */
    struct queue sendq; /* [lock] blocked senders */
    struct queue recvq; /* [lock] blocked receivers */
    size_t elem_size;   /* bytes per value */
    size_t cap;         /* values the ring holds */
    size_t bytes;       /* cap * elem_size: the ring's size */
    unsigned char ring[] __attribute__((aligned(16)));
};

/* The channel's lock (bias.h): plain stores while one thread uses it. */
static inline void chan_lock(wv_chan_t *ch)
{
    wv__bias_lock(&ch->bias);
}

static inline void chan_unlock(wv_chan_t *ch)
{
    wv__bias_unlock(&ch->bias);
}

#endif /* WV_CORO_CHAN_IMPL_H */

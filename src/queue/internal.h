/*
 * queue/internal.h - what the queue layer shares with the layers above.
 */
#ifndef WV_QUEUE_INTERNAL_H
#define WV_QUEUE_INTERNAL_H

#include "../sync/internal.h"
#include "weave/queue.h"

/* Parties parked on the queue's conditions (test and debug aid). */
unsigned wv__queue_parked(wv_queue_t *q);

/* Fails a future only if it is still pending (not running): a pool's
 * deadline on a task not started.  0 or WV_EALREADY. */
int wv__future_fail_pending(wv_future_t *f, int err);

#endif /* WV_QUEUE_INTERNAL_H */

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

/*
 * set_result without the copy: the future adopts buf (len bytes from
 * wv__malloc; NULL when len is 0) and frees it with itself.  0 (buf is
 * the future's now) or WV_EALREADY (done already: buf is still the
 * caller's).  Cannot fail for want of memory.  A pool hands a task's heap
 * result over with it.
 */
int wv__future_set_result_owned(wv_future_t *f, void *buf, size_t len);

#endif /* WV_QUEUE_INTERNAL_H */

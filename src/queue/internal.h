/*
 * queue/internal.h - what the queue layer shares with the layers above.
 */
#ifndef WV_QUEUE_INTERNAL_H
#define WV_QUEUE_INTERNAL_H

#include "../sync/internal.h"
#include "weave/queue.h"

/* Parties parked on the queue's conditions (test and debug aid). */
unsigned wv__queue_parked(wv_queue_t *q);

#endif /* WV_QUEUE_INTERNAL_H */

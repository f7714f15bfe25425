/*
 * proc/internal.h - what the proc layer shares with the layers above.
 */
#ifndef WV_PROC_INTERNAL_H
#define WV_PROC_INTERNAL_H

#include "../sync/internal.h"
#include "weave/proc.h"

/*
 * Parses a Pipe frame header from buf[0..n): 0 with the message's length
 * and descriptor count, WV_EAGAIN if n is too short, WV_EPROTO if the
 * bytes are no frame of ours (the fuzz target's entry point).
 */
int wv__frame_parse(const void *buf, size_t n, uint64_t *len, uint32_t *nfds);

/* Bytes of a committed message not yet written out (test aid). */
size_t wv__conn_pending(const wv_conn_t *c);

/* Parties waiting in a process-shared barrier (test aid). */
unsigned wv__pbarrier_waiting(wv_pbarrier_t *b);

/*
 * Queue test hooks.  A process that sets wv__pqueue_crash_at to one of
 * these points SIGKILLs itself when a put or get reaches it.
 */
enum {
    WV__PQ_CRASH_RESERVED = 1, /* put: heap pages reserved, no cell yet */
    WV__PQ_CRASH_CLAIMED,      /* put: cell claimed, nothing copied */
    WV__PQ_CRASH_WRITTEN,      /* put: message copied, not published */
    WV__PQ_CRASH_IN_ADMIN,     /* put: half way through tagging heap pages,
                                * holding the admin lock */
    WV__PQ_CRASH_COPIED_OUT,   /* get: message copied out, cell not freed */
    WV__PQ_CRASH_FREED_CELL,   /* get: cell freed, heap pages not yet */
};
extern int wv__pqueue_crash_at;

/* Heap pages in use (tagged), and shm objects of large messages that
 * exist for the queue (test aids). */
uint32_t wv__pqueue_pages_used(wv_pqueue_t *q);
int wv__pqueue_spill_objects(wv_pqueue_t *q);

#endif /* WV_PROC_INTERNAL_H */

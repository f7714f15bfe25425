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

#endif /* WV_PROC_INTERNAL_H */

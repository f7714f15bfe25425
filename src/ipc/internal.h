/*
 * ipc/internal.h - what the ipc layer (Pipe, shared memory, the
 * process-shared primitives, the shared-memory Queue) shares with the
 * layers above (proc, subprocess, pool) and with its tests.
 */
#ifndef WV_IPC_INTERNAL_H
#define WV_IPC_INTERNAL_H

#include "../core/io.h"
#include "../sync/internal.h"
#include "weave/ipc.h"

#include <sys/socket.h>
#include <sys/types.h>

/* Most descriptors one message carries (Pipe and fork server alike). */
#define WV__MAX_FDS 64
_Static_assert(WV_CONN_MAX_FDS <= WV__MAX_FDS,
               "a control buffer holds every descriptor of a message");

/* Control buffer for up to WV__MAX_FDS descriptors. */
typedef union wv__fd_control {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * WV__MAX_FDS)];
} wv__fd_control_t;

/* Attaches fds[0..n) to m as one SCM_RIGHTS message in ctl (0 < n <=
 * WV__MAX_FDS). */
void wv__fds_attach(struct msghdr *m, wv__fd_control_t *ctl, const int *fds,
                    size_t n);

/*
 * Takes the descriptors of every SCM_RIGHTS message in m into
 * fds[*n..cap), advancing *n, and closes those past cap.  Returns how many
 * it closed (0: all fit).
 */
size_t wv__fds_take(struct msghdr *m, int *fds, size_t *n, size_t cap);

/*
 * Parses a Pipe frame header from buf[0..n): 0 with the message's length
 * and descriptor count, WV_EAGAIN if n is too short, WV_EPROTO if the
 * bytes are no frame of ours (the fuzz target's entry point).
 */
int wv__frame_parse(const void *buf, size_t n, uint64_t *len, uint32_t *nfds);

/* Bytes of a committed message not yet written out (test aid). */
size_t wv__conn_pending(const wv_conn_t *c);

/* wv_plock_acquire with wv__park flags (WV__PARK_NOCANCEL: the internal
 * locks of the Barrier, the Condition's re-lock, the Queue's admin). */
int wv__plock_acquire(wv_plock_t *l, int64_t deadline, unsigned flags);

/* Parties waiting in a process-shared barrier (test aid). */
unsigned wv__pbarrier_waiting(wv_pbarrier_t *b);

/* Moves *fd to a number above stdio (close-on-exec) if it is below 3: a
 * program that closed its stdio gets its next descriptors there, where a
 * child's stdio rebuild or the fork server's children would take them.
 * 0, or -errno with *fd left as it was (still the caller's to close). */
int wv__fd_above_stdio(int *fd);

struct iovec;

/*
 * Keeps the SIGPIPE a write raises from killing the program, for the
 * system calls that have no MSG_NOSIGNAL (write, vmsplice, splice and
 * sendfile into a socket): hold blocks SIGPIPE in the calling thread;
 * release, given the call's result (a WV_E* code or 0), takes back the
 * SIGPIPE the call raised (if it failed with WV_EPIPE and none was
 * pending before) and restores the mask.  Two pthread_sigmask calls.
 */
typedef struct wv__sigpipe {
    sigset_t old;     /* the mask before hold */
    bool was_pending; /* a SIGPIPE was pending before: not ours to take */
} wv__sigpipe_t;
void wv__sigpipe_hold(wv__sigpipe_t *g);
void wv__sigpipe_release(wv__sigpipe_t *g, int err);

/*
 * writev to a pipe without dying of SIGPIPE: the signal a closed reader
 * raises is blocked around the write and taken back, so the caller sees
 * WV_EPIPE.  Returns the bytes written or a WV_E* code (WV_EAGAIN for a
 * full non-blocking pipe; never WV_EINTR: an interrupted write is
 * retried).  One system call more than a plain writev
 * each side: pthread_sigmask.
 */
ssize_t wv__pipe_writev(int fd, const struct iovec *iov, int niov);

/* The same with vmsplice: the pipe takes references to the pages of
 * iov instead of copying them (the caller keeps them unchanged until
 * read).  Errors of vmsplice besides: WV_EFAULT, WV_EINVAL, WV_ENOSYS... */
ssize_t wv__pipe_vmsplice(int fd, const struct iovec *iov, int niov);

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
    WV__PQ_CRASH_IN_REPAIR,    /* a repair, holding the admin lock, has
                                * marked a dead get's message */
};
extern int wv__pqueue_crash_at;

/* Heap pages in use (tagged), and shm objects of large messages that
 * exist for the queue (test aids). */
uint32_t wv__pqueue_pages_used(wv_mpqueue_t *q);
int wv__pqueue_spill_objects(wv_mpqueue_t *q);
/* The queue's id, which names those objects (test aid). */
uint64_t wv__pqueue_id(wv_mpqueue_t *q);

#endif /* WV_IPC_INTERNAL_H */

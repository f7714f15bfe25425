/*
 * weave/ipc.h - what connects processes: multiprocessing's Pipe, Queue,
 * SimpleQueue and JoinableQueue, shared memory (SharedMemory, Value,
 * Array), and the threading primitives placed in shared memory (Lock,
 * RLock, Semaphore, BoundedSemaphore, Event, Condition, Barrier).
 * docs/proc.md tells how they are built.
 *
 * Every blocking call takes a deadline (weave/core.h) and waits through
 * weave's waiter abstraction: called from a coroutine, it parks only the
 * coroutine.  Descriptors are close-on-exec; SIGPIPE never kills the
 * program: writing to a closed peer is WV_EPIPE.
 */
#ifndef WEAVE_IPC_H
#define WEAVE_IPC_H

#include "weave/core.h"
#include "weave/sync.h" /* WV_SEM_VALUE_MAX: the twins share their limits */

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------------------- Pipe */

/*
 * A Connection: one end of a Pipe, carrying messages (framed byte
 * strings of any size, delivered whole and in order) and, on duplex
 * pipes, file descriptors.
 */
typedef struct wv_conn wv_conn_t;

/*
 * multiprocessing.Pipe(duplex): a connected pair.  Duplex (a Unix
 * socketpair): both ends send and receive.  One-way (a pipe): *a only
 * receives and *b only sends, as in Python.  Create the pair, then fork;
 * each side closes the end it does not use.  Errors: WV_EINVAL, WV_ENOMEM,
 * WV_EMFILE, WV_ENFILE.
 */
WV_EXTERN int wv_pipe(wv_conn_t **a, wv_conn_t **b, bool duplex);

/*
 * Sends one message, data[0..len) (data may be NULL when len is 0).
 * Returns 0 once the message is committed: written whole, or (when the
 * deadline passed part way) with its rest copied aside, to be written
 * before any later message by the next send, flush or poll.  So a message
 * is either sent whole or not at all.  Errors: WV_ETIMEDOUT or WV_EAGAIN
 * (nothing was sent), WV_EPIPE (the other end is closed), WV_EBADF (a
 * receive-only end), WV_EMSGSIZE (len over WV_CONN_MAX_MSG), WV_ENOMEM,
 * WV_EINVAL.
 */
WV_EXTERN int wv_conn_send(wv_conn_t *c, const void *data, size_t len,
                           int64_t deadline);

/* The largest message: 1 GiB. */
#define WV_CONN_MAX_MSG ((size_t)1 << 30)

/*
 * Receives the next message into buf[0..cap) and stores its length in
 * *len.  A message longer than cap is left in place: WV_EMSGSIZE, with
 * *len set to its length, so that the caller can retry with room enough.
 * A message that has partly arrived by the deadline stays buffered.
 * The buffer grows with the bytes that arrive, not with the length a
 * header announces.  Errors: WV_ETIMEDOUT, WV_EAGAIN, WV_EOF (the other
 * end is closed and every message has been read), WV_EPROTO (the peer
 * broke the protocol: bytes that are not weave's framing, a stream cut
 * in the middle of a message, or descriptors that do not match the
 * message they came with, see wv_conn_recv_fds; the connection is no use
 * any more: every later receive and poll answers WV_EPROTO, and every
 * descriptor it had received is closed), WV_EBADF (a send-only end),
 * WV_ENOMEM (nothing was lost: call again), WV_EINVAL.  Descriptors sent
 * with the message (by wv_conn_send_fds) are closed: use wv_conn_recv_fds
 * to get them.
 */
WV_EXTERN int wv_conn_recv(wv_conn_t *c, void *buf, size_t cap, size_t *len,
                           int64_t deadline);

/*
 * Python's poll(timeout): 0 when a message (or the end) can be received
 * without waiting, else WV_ETIMEDOUT / WV_EAGAIN.  Also WV_EPROTO (as for
 * recv), WV_EBADF, WV_ENOMEM, WV_EINVAL.
 */
WV_EXTERN int wv_conn_poll(wv_conn_t *c, int64_t deadline);

/* Writes out the rest of a message committed by a send that timed out.
 * Errors: those of send. */
WV_EXTERN int wv_conn_flush(wv_conn_t *c, int64_t deadline);

/*
 * A message with file descriptors (duplex pipes only; at most
 * WV_CONN_MAX_FDS).  The receiver gets new descriptors for the same open
 * files, close-on-exec; the sender keeps its own.  recv_fds: *nfds is the
 * room in fds on entry and the count received on return; a message with
 * more descriptors than that room is WV_EMSGSIZE (left in place, *nfds set
 * to the count).  Errors: those of send/recv, WV_ENOTSUP (a one-way
 * pipe).  The receiver trusts no peer: descriptors must come with the
 * first byte of a message that declares exactly that many.  Descriptors
 * on a message that declares none or fewer, on a byte that starts no
 * message, more than WV_CONN_MAX_FDS at once (the kernel drops those
 * past the room: MSG_CTRUNC), or a message declaring descriptors that
 * did not come: WV_EPROTO at once, with every received descriptor closed,
 * so that a peer can neither fill the descriptor table nor have one
 * message's descriptor taken for another's.
 */
#define WV_CONN_MAX_FDS 64
WV_EXTERN int wv_conn_send_fds(wv_conn_t *c, const void *data, size_t len,
                               const int *fds, size_t nfds, int64_t deadline);
WV_EXTERN int wv_conn_recv_fds(wv_conn_t *c, void *buf, size_t cap, size_t *len,
                               int *fds, size_t *nfds, int64_t deadline);

/* The underlying descriptor (to poll it with others); WV_EBADF once
 * closed, WV_EINVAL for NULL. */
WV_EXTERN int wv_conn_fileno(const wv_conn_t *c);

/*
 * Python's close(): closes the end (the peer then sees the end of the
 * stream, or WV_EPIPE when it sends).  A message committed but not yet
 * written out is written if that can be done without waiting, else
 * dropped; descriptors received and not returned are closed.  From then
 * on every call on c but free returns WV_EBADF.  Closing twice is
 * allowed.  Returns 0, or WV_EINVAL (c NULL).
 */
WV_EXTERN int wv_conn_close(wv_conn_t *c);

/* Closes the end if it is still open, and frees the handle.  NULL is a
 * no-op. */
WV_EXTERN void wv_conn_free(wv_conn_t *c);

/* ------------------------------------------------------- shared memory */

/*
 * multiprocessing.shared_memory.SharedMemory, and anonymous blocks.  A
 * block is mapped read-write at some address of each process that opens
 * it; children forked afterwards inherit the mapping (same address).
 */
typedef struct wv_shm wv_shm_t;

/*
 * Opens a named block (POSIX shm, /dev/shm).  create: makes a new one of
 * `size` bytes (zeroed), failing with WV_EEXIST if the name is taken; a
 * NULL name then gets a fresh unique one.  Otherwise attaches to an
 * existing one (size 0: its whole size; else at most its size).  The
 * block lives until wv_shm_unlink, like Python's.  Errors: WV_EINVAL (out
 * NULL, size 0 with create, name NULL without create, name longer than
 * 250 bytes), WV_ENOENT, WV_EEXIST, WV_EACCES, WV_ENOMEM, WV_EMFILE.
 */
WV_EXTERN int wv_shm_open(wv_shm_t **out, const char *name, bool create,
                          size_t size);

/*
 * An anonymous block of `size` zeroed bytes: shared with the children
 * forked after it, gone with the last process that maps it.  Errors:
 * WV_EINVAL (size 0), WV_ENOMEM.
 */
WV_EXTERN int wv_shm_anon(wv_shm_t **out, size_t size);

WV_EXTERN void *wv_shm_addr(const wv_shm_t *s);
WV_EXTERN size_t wv_shm_size(const wv_shm_t *s);
/* The name given or generated ("/..."), NULL for an anonymous block. */
WV_EXTERN const char *wv_shm_name(const wv_shm_t *s);

/* Removes the name (the memory goes once no process maps it).  Errors:
 * WV_ENOENT, WV_EACCES, WV_EINVAL. */
WV_EXTERN int wv_shm_unlink(const char *name);

/* Unmaps the block from this process and frees the handle (does not
 * unlink).  NULL is a no-op. */
WV_EXTERN void wv_shm_free(wv_shm_t *s);

/* ------------------------------------------- process-shared primitives */

/*
 * The threading primitives for processes: each lives in shared memory
 * (a wv_shm block, or a struct placed in one) and is initialised once,
 * by one process, before others use it.  Threads of any process sharing
 * it may use it.  Called from a plain thread they block the thread;
 * called from a coroutine they park only the coroutine, and the thread's
 * other coroutines run meanwhile (a helper thread sleeps on the shared
 * futex for it: docs/waiting.md).  A parked coroutine wakes when any
 * process or thread releases, at its deadline, or with WV_ECANCELED when
 * it is cancelled (wv_coro_cancel).
 *
 * Lock and RLock are robust: if the process (or thread) holding one dies,
 * the next acquire gets the lock with WV_EOWNERDEAD, meaning "you hold it,
 * but the data it protects may be half-updated".  Repair the data, then
 * call wv_plock_consistent; releasing it without doing so makes the lock
 * unusable for everyone (WV_ENOTRECOVERABLE), as POSIX does.  Python's
 * multiprocessing.Lock cannot do this.  Unlike Python's, these locks are
 * owned: only the holder may release (WV_EPERM), since ownership is what
 * lets a dead owner be noticed.  The holder is the calling party: two
 * coroutines of one thread are two parties (one waits for the other, and
 * cannot release its lock), while the kernel knows the lock's owner as
 * the thread, so the death of a thread releases (WV_EOWNERDEAD) the locks
 * of all its coroutines.  No priority inheritance.
 *
 * The types are opaque buffers; their size is part of the ABI.
 */
typedef struct wv_plock {
    _Alignas(8) unsigned char _opaque[64];
} wv_plock_t;

/* Initialises a Lock (recursive: an RLock) in shared memory.  Errors:
 * WV_EINVAL, WV_ENOMEM. */
WV_EXTERN int wv_plock_init(wv_plock_t *l, bool recursive);

/*
 * Acquires.  Returns 0, or WV_EOWNERDEAD (acquired: see above), or
 * WV_ENOTRECOVERABLE (never acquired: the lock is dead), WV_EAGAIN
 * (deadline 0), WV_ETIMEDOUT, WV_EDEADLK (already held by the calling
 * party, not recursive), WV_ECANCELED (the calling coroutine was
 * cancelled), WV_EINVAL.
 */
WV_EXTERN int wv_plock_acquire(wv_plock_t *l, int64_t deadline);

/* Releases.  Errors: WV_EPERM (not the holder). */
WV_EXTERN int wv_plock_release(wv_plock_t *l);

/* After WV_EOWNERDEAD and repair: marks the lock consistent again (still
 * held).  Errors: WV_EINVAL (not in that state, or not the holder). */
WV_EXTERN int wv_plock_consistent(wv_plock_t *l);

/* Frees what the system keeps for the lock; no process may use it any
 * more.  Optional. */
WV_EXTERN void wv_plock_destroy(wv_plock_t *l);

/*
 * Semaphore and BoundedSemaphore, call for call as wv_sem_t (the value is
 * limited to WV_SEM_VALUE_MAX; a bounded semaphore refuses to be released
 * above its initial value).
 */
typedef struct wv_psem {
    _Alignas(8) unsigned char _opaque[16];
} wv_psem_t;

/* Errors: WV_EINVAL (s NULL, value > WV_SEM_VALUE_MAX). */
WV_EXTERN int wv_psem_init(wv_psem_t *s, unsigned value);
/* Errors: WV_EINVAL (s NULL, value 0 or > WV_SEM_VALUE_MAX). */
WV_EXTERN int wv_psem_init_bounded(wv_psem_t *s, unsigned value);
/* No-op kept for symmetry (nothing is held outside the shared memory).
 * Nobody may use or wait on s any more. */
WV_EXTERN void wv_psem_destroy(wv_psem_t *s);
/* Errors: WV_EAGAIN (deadline 0 and value 0), WV_ETIMEDOUT, WV_EINVAL (s
 * NULL, bad deadline), WV_ECANCELED (the calling coroutine was
 * cancelled). */
WV_EXTERN int wv_psem_acquire(wv_psem_t *s, int64_t deadline);
/* Adds n and wakes up to n waiters.  Errors: WV_EINVAL (s NULL, n 0),
 * WV_EOVERFLOW (a bounded semaphore would exceed its initial value, or
 * the value WV_SEM_VALUE_MAX; the value is then unchanged). */
WV_EXTERN int wv_psem_release(wv_psem_t *s, unsigned n);
/* The current value (a snapshot); 0 for NULL. */
WV_EXTERN unsigned wv_psem_value(const wv_psem_t *s);

/* Event, call for call as wv_event_t. */
typedef struct wv_pevent {
    _Alignas(8) unsigned char _opaque[8];
} wv_pevent_t;

/* Clear.  NULL: no-op. */
WV_EXTERN void wv_pevent_init(wv_pevent_t *e);
/* No-op kept for symmetry; nobody may use or wait on e any more. */
WV_EXTERN void wv_pevent_destroy(wv_pevent_t *e);
/* Sets the flag and wakes every waiter, of every process.  Returns how
 * many were woken, or WV_EINVAL (e NULL). */
WV_EXTERN int wv_pevent_set(wv_pevent_t *e);
/* Clears the flag.  NULL: no-op. */
WV_EXTERN void wv_pevent_clear(wv_pevent_t *e);
/* false for NULL. */
WV_EXTERN bool wv_pevent_is_set(const wv_pevent_t *e);
/* 0 once set (even if cleared again before this waiter ran), WV_EAGAIN
 * (deadline 0, not set), WV_ETIMEDOUT, WV_EINVAL (e NULL, bad deadline),
 * WV_ECANCELED (the calling coroutine was cancelled). */
WV_EXTERN int wv_pevent_wait(wv_pevent_t *e, int64_t deadline);

/*
 * Condition, for a wv_plock_t (taken once: a recursive lock held several
 * times must not wait).  wait releases the lock, sleeps until notified or
 * the deadline, and holds the lock again on return, in every case.
 * Returns 0 (notified, or spuriously: check your predicate in a loop),
 * WV_ETIMEDOUT, WV_EAGAIN (deadline 0), WV_EOWNERDEAD (the lock's holder
 * died meanwhile: held now, see wv_plock_t), WV_ENOTRECOVERABLE,
 * WV_EPERM (lock not held), WV_EINVAL.
 */
typedef struct wv_pcond {
    _Alignas(8) unsigned char _opaque[64];
} wv_pcond_t;

WV_EXTERN int wv_pcond_init(wv_pcond_t *c);
WV_EXTERN int wv_pcond_wait(wv_pcond_t *c, wv_plock_t *l, int64_t deadline);
/* Wakes up to n waiters (all: wv_pcond_notify_all). */
WV_EXTERN int wv_pcond_notify(wv_pcond_t *c, unsigned n);
WV_EXTERN int wv_pcond_notify_all(wv_pcond_t *c);
WV_EXTERN void wv_pcond_destroy(wv_pcond_t *c);

/*
 * Barrier for `parties` processes or threads, as threading.Barrier: wait
 * returns a distinct index in [0, parties) to each party of a generation
 * (parties - 1 to the last to arrive).  A wait that times out breaks the
 * barrier (as in Python), as does abort, or a party dying while it holds
 * the barrier's lock: every wait then fails with WV_EBROKEN until reset.
 * Returns the index, or WV_EBROKEN, WV_ETIMEDOUT (this wait timed out and
 * broke it), WV_ECANCELED (the calling coroutine was cancelled: this also
 * breaks it, as wv_barrier_wait does), WV_EAGAIN (deadline 0, generation
 * not full: nothing changed), WV_EINVAL.
 */
typedef struct wv_pbarrier {
    _Alignas(8) unsigned char _opaque[160];
} wv_pbarrier_t;

WV_EXTERN int wv_pbarrier_init(wv_pbarrier_t *b, unsigned parties);
WV_EXTERN int wv_pbarrier_wait(wv_pbarrier_t *b, int64_t deadline);
WV_EXTERN void wv_pbarrier_abort(wv_pbarrier_t *b);
/* Back to empty and not broken; waiters of the generation are broken. */
WV_EXTERN void wv_pbarrier_reset(wv_pbarrier_t *b);
WV_EXTERN bool wv_pbarrier_is_broken(wv_pbarrier_t *b);
WV_EXTERN void wv_pbarrier_destroy(wv_pbarrier_t *b);

/* ------------------------------------------------------- Value, Array */

/*
 * multiprocessing.Value and Array: bytes of anonymous shared memory
 * (zeroed), with an RLock of their own if `lock` (Python's default),
 * shared with the children forked afterwards.  A Value of type T is
 * wv_value_new(&v, sizeof(T), true); an Array of n T is
 * wv_array_new(&a, sizeof(T), n, true).  Each is released by its own
 * free, which unmaps it from this process (children keep theirs).
 */
typedef struct wv_value wv_value_t;
typedef struct wv_array wv_array_t;

/* Errors: WV_EINVAL (out NULL, size 0), WV_ENOMEM. */
WV_EXTERN int wv_value_new(wv_value_t **out, size_t size, bool lock);
/* The bytes (Python's .value); NULL for NULL. */
WV_EXTERN void *wv_value_ptr(const wv_value_t *v);
/* The size given to wv_value_new; 0 for NULL. */
WV_EXTERN size_t wv_value_size(const wv_value_t *v);
/* The lock (get_lock()), or NULL when made without (or v NULL). */
WV_EXTERN wv_plock_t *wv_value_lock(const wv_value_t *v);
/* NULL: no-op. */
WV_EXTERN void wv_value_free(wv_value_t *v);

/* Errors: WV_EINVAL (out NULL, elem_size or n 0, elem_size * n
 * overflowing), WV_ENOMEM. */
WV_EXTERN int wv_array_new(wv_array_t **out, size_t elem_size, size_t n,
                           bool lock);
/* The first element; NULL for NULL. */
WV_EXTERN void *wv_array_ptr(const wv_array_t *a);
/* Elements (Python's len()), and bytes; 0 for NULL. */
WV_EXTERN size_t wv_array_len(const wv_array_t *a);
WV_EXTERN size_t wv_array_size(const wv_array_t *a);
/* The lock (get_lock()), or NULL when made without (or a NULL). */
WV_EXTERN wv_plock_t *wv_array_lock(const wv_array_t *a);
/* NULL: no-op. */
WV_EXTERN void wv_array_free(wv_array_t *a);

/* ---------------------------------------------------------------- Queue */

/*
 * multiprocessing.Queue, SimpleQueue and JoinableQueue: a multi-producer,
 * multi-consumer queue of messages (byte strings of any size) between
 * processes, in shared memory, with no feeder thread: a put has copied
 * the message into the queue when it returns.
 *
 * Messages come out in the order their puts claimed their places (one
 * producer's messages in its order).  Each message lives in a cell of a
 * ring of `maxsize` cells; a message longer than a cell's inline room
 * goes into a shared heap of `max_bytes` bytes (4 KiB pages); a message
 * longer than the whole heap travels through a POSIX shm object of its
 * own ("/wvq-<queue id>-<position>"), removed by its consumer.  Those
 * still inside when the queue goes away are removed by the last process
 * to let go of it: the last wv_mpqueue_free of an anonymous queue, the
 * last free of a named queue after wv_mpqueue_unlink, or the unlink of a
 * named queue that no process holds any more.  A process holds the queue
 * while it maps it (its handle, or a copy inherited by fork); a process
 * that dies lets go, so the survivors' free removes them all the same.
 * A named queue freed by all but never unlinked keeps its messages for
 * the next wv_mpqueue_open.  Only if every process of an anonymous queue
 * dies without a free do its objects stay in /dev/shm; remove them by
 * name ("/dev/shm/wvq-<id>-*").  A fork server started after the queue
 * was created maps it too (its children may use it): if it is the last
 * to let go, when it stops, the objects stay as well.
 *
 * Crashes: any process using the queue may die at any point (SIGKILL
 * included), even in the middle of a put or a get.  The others carry on:
 *   - a put that had not returned either delivers its whole message or
 *     nothing;
 *   - every message whose put returned 0 is delivered exactly once, to a
 *     get that returns it whole: a message taken by a get that died
 *     before returning is delivered again (out of order) to another get;
 *   - heap pages and cells held by the dead are given back.
 * The dead are noticed by the survivors that wait (each waiter looks
 * again at least every 160 ms, and checks the processes holding the cell
 * it waits for) through /proc, by pid and start time, so a recycled pid
 * is never mistaken for the dead process.  A process that dies between
 * the moment a get took a message and the moment the get returned loses
 * that message with it, as it would with any queue.
 *
 * A queue is shared with the children forked after wv_mpqueue_new
 * (anonymous), or opened by name from any process of the same user
 * (opts.name, wv_mpqueue_open).  Every process of a queue counts as one of
 * at most WV_MPQUEUE_MAX_PROCS participants at a time.  Each handle
 * belongs to one process: a forked child uses the copy it inherits.  A
 * handle holds one descriptor (close-on-exec) until its free.
 */
typedef struct wv_mpqueue wv_mpqueue_t;

#define WV_MPQUEUE_MAX_PROCS 255
/* The largest message: 1 GiB. */
#define WV_MPQUEUE_MAX_MSG ((size_t)1 << 30)

typedef struct wv_mpqueue_opts {
    /* Python's maxsize: the most messages the queue holds; 0: 1024.  At
     * most 2^24. */
    size_t maxsize;
    /* Bytes of heap for messages longer than inline_max (rounded up to
     * 4 KiB pages); 0: 8 MiB.  A message longer than the heap goes
     * through a shm object of its own.  Together with maxsize, this
     * bounds what the queue holds. */
    size_t max_bytes;
    /* The longest message kept in its cell; 0: 112 (128-byte cells).  At
     * most 64 KiB. */
    size_t inline_max;
    /* JoinableQueue: task_done and join work (gets count the messages
     * they take, which costs one atomic operation per get). */
    bool joinable;
    /* A named queue (POSIX shm) that other processes open with
     * wv_mpqueue_open; NULL: anonymous, shared with forked children. */
    const char *name;
} wv_mpqueue_opts_t;

/*
 * Creates a queue (opts may be NULL: defaults).  Errors: WV_EINVAL (out
 * NULL, an option out of range, a bad name), WV_EEXIST (the name is
 * taken), WV_ENOSPC (/dev/shm full: named queues), WV_ENOMEM, WV_EMFILE,
 * WV_ENFILE, WV_EACCES.
 */
WV_EXTERN int wv_mpqueue_new(wv_mpqueue_t **out, const wv_mpqueue_opts_t *opts);

/*
 * Opens the named queue another process created.  Errors: WV_EINVAL,
 * WV_ENOENT (no such name, or the queue was unlinked and let go of by all
 * since this call found it), WV_EACCES, WV_EPROTO (the object is no weave
 * queue, or of another version), WV_ENOMEM, WV_EMFILE, WV_ENFILE.
 */
WV_EXTERN int wv_mpqueue_open(wv_mpqueue_t **out, const char *name);

/*
 * Removes a named queue's name (processes that have it open keep it).  If
 * no process holds the queue any more, also removes the shm objects of
 * the large messages left inside (else the last free does).  Errors:
 * WV_EINVAL, WV_ENOENT, WV_EACCES.
 */
WV_EXTERN int wv_mpqueue_unlink(const char *name);

/*
 * Puts a message, data[0..len) (data may be NULL when len is 0), waiting
 * for room until the deadline.  Returns 0 once the message is in the
 * queue.  Errors (nothing was put): WV_EAGAIN (deadline 0, full),
 * WV_ETIMEDOUT, WV_ECANCELED (a cancelled coroutine), WV_ESHUTDOWN (the
 * queue was shut down), WV_EMSGSIZE (len over WV_MPQUEUE_MAX_MSG), WV_EBUSY
 * (this process would be one participant too many), WV_ENOMEM, WV_EMFILE,
 * WV_ENOSPC (no room for a shm object of its own: /dev/shm full), WV_EINVAL.
 */
WV_EXTERN int wv_mpqueue_put(wv_mpqueue_t *q, const void *data, size_t len,
                             int64_t deadline);

/*
 * Takes the next message into buf[0..cap) and stores its length in *len.
 * A message longer than cap is left in the queue: WV_EMSGSIZE, with *len
 * set to its length (wv_mpqueue_peek_len tells it beforehand).  Errors:
 * WV_EAGAIN (deadline 0, empty), WV_ETIMEDOUT, WV_ECANCELED (a cancelled
 * coroutine: nothing taken), WV_EOF (the end: shut
 * down and empty, or shut down immediately), WV_EBUSY, WV_EIO (the shm
 * object of a large message had
 * been removed by someone else: that message is lost), WV_EINVAL.
 */
WV_EXTERN int wv_mpqueue_get(wv_mpqueue_t *q, void *buf, size_t cap,
                             size_t *len, int64_t deadline);

/*
 * The length of the message a get would take now: 0 and *len, or
 * WV_EAGAIN (empty).  Another consumer may take it first.
 */
WV_EXTERN int wv_mpqueue_peek_len(wv_mpqueue_t *q, size_t *len);

/* JoinableQueue: one task taken by a get is finished.  Errors: WV_EINVAL
 * (not joinable), WV_EOVERFLOW (more task_done calls than gets, as far
 * as this call can tell). */
WV_EXTERN int wv_mpqueue_task_done(wv_mpqueue_t *q);

/*
 * JoinableQueue: waits until every message put has been taken and
 * task_done has been called for it.  Messages taken by processes that
 * died count as taken, and after an immediate shutdown every message
 * counts as finished.  Errors: WV_ETIMEDOUT, WV_ECANCELED, WV_EAGAIN
 * (deadline 0, not finished), WV_EINVAL (not joinable, bad deadline).
 */
WV_EXTERN int wv_mpqueue_join(wv_mpqueue_t *q, int64_t deadline);

/*
 * Python 3.13's shutdown, for every process, as wv_queue_shutdown: puts
 * fail with WV_ESHUTDOWN from now on; gets take what is left, then
 * return WV_EOF.  With `immediate`, the messages left are discarded
 * (gets return WV_EOF at once, join returns); their memory goes with the
 * queue.  Waiting puts and gets wake up.  Shutting down twice is allowed
 * (the second may make it immediate).  NULL: no-op.
 */
WV_EXTERN void wv_mpqueue_shutdown(wv_mpqueue_t *q, bool immediate);

/* Approximate, as in Python: messages in the queue, and whether it is
 * empty or full, at some moment during the call. */
WV_EXTERN size_t wv_mpqueue_qsize(wv_mpqueue_t *q);
WV_EXTERN bool wv_mpqueue_is_empty(wv_mpqueue_t *q);
WV_EXTERN bool wv_mpqueue_is_full(wv_mpqueue_t *q);

/* The queue's name ("/..."), or NULL when anonymous. */
WV_EXTERN const char *wv_mpqueue_name(const wv_mpqueue_t *q);

/*
 * Frees this process's handle: unmaps the queue (other processes keep
 * theirs) and gives back this process's place among the participants.
 * No thread of this process may be using it.  Also removes the shm
 * objects of large messages that crashed processes left behind, and,
 * when this was the last hold of an anonymous or unlinked queue, those
 * of the large messages still inside (see above; a free that cannot open
 * /proc/self/fd, for want of /proc or of a descriptor, cannot tell and
 * leaves them).  NULL is a no-op.
 */
WV_EXTERN void wv_mpqueue_free(wv_mpqueue_t *q);

#ifdef __cplusplus
}
#endif
#endif /* WEAVE_IPC_H */

/*
 * weave/proc.h - processes and what connects them: multiprocessing's
 * Process, Pipe, Queue, shared memory and process-shared primitives, the
 * fork server, and os.fork.  docs/proc.md tells how they are built.
 *
 * Processes are forked, by default from the calling program, so a child
 * runs `fn` with the parent's memory as it was at the fork: pointers in
 * `arg` stay meaningful, copies of them.  stdio buffers are flushed before
 * the fork (so the child does not print the parent's pending output
 * again) and when `fn` returns (the child then ends with _exit: no atexit
 * handler of the parent runs twice).
 *
 * Forking from a program that runs other threads copies only the calling
 * thread: locks other threads held stay locked in the child.  weave's own
 * state and glibc's allocator and stdio are made safe across fork; other
 * libraries' may not be.  The fork server (wv_forkserver_start, started
 * while the program has one thread) removes the problem: children are
 * then forked by a helper process that never runs a second thread.
 *
 * Every blocking call takes a deadline (weave/core.h) and waits through
 * weave's fd waiter, which the event loop layer routes through its loop
 * for coroutines.  Descriptors are close-on-exec; SIGPIPE never kills the
 * program: writing to a closed peer is WV_EPIPE.
 */
#ifndef WEAVE_PROC_H
#define WEAVE_PROC_H

#include "weave/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* -------------------------------------------------------------- Process */

typedef struct wv_process wv_process_t;

/*
 * A child's body.  Its return value is the child's exit status: 0-255
 * pass as they are, a negative value (a WV_E* code) exits with 1 (as an
 * exception does in Python), above 255 only the low 8 bits remain.
 */
typedef int (*wv_process_fn)(void *arg);

#define WV_PROCESS_NAME_MAX 63
/* Most descriptors passed to a child of the fork server (opts.fds). */
#define WV_PROCESS_MAX_FDS 64
/* Most argument bytes copied to a child (opts.arg_size): 1 GiB. */
#define WV_PROCESS_ARG_MAX ((size_t)1 << 30)

/* How a child is made (wv_process_opts_t.start). */
enum {
    /* The fork server when this process has started one
     * (wv_forkserver_start), else a plain fork. */
    WV_START_AUTO = 0,
    /* A fork of the caller, even with a fork server running.  Safe only
     * if no other thread holds a lock the child will need. */
    WV_START_FORK = 1,
    /* Through the fork server; WV_ENOTCONN when none runs. */
    WV_START_FORKSERVER = 2,
};

typedef struct wv_process_opts {
    /* Name (copied; NULL: "Process-N").  Its first 15 bytes also name the
     * child for the OS (ps, top). */
    const char *name;
    /* Python's daemon: the child is killed (SIGKILL) when its parent dies,
     * however it dies.  Linux ties this to a thread: for a fork, the one
     * that called wv_process_start (a daemon started from a thread that
     * then exits is killed with it); for the fork server's children, the
     * server, which dies with the thread that started it. */
    bool daemon;
    /* WV_START_*: how the child is made (0: WV_START_AUTO). */
    int start;
    /* Nonzero: the child gets a copy of the bytes [arg, arg + arg_size),
     * made at the start, and fn gets the copy's address (page-aligned for
     * the fork server's children).  0: fn gets arg as it is.  The fork
     * server's children have the server's memory, as it was when the
     * server started, not the caller's: there, arg as it is must point to
     * memory that was the same then (static data, or NULL). */
    size_t arg_size;
    /* Descriptors for a child of the fork server: it gets each at the same
     * number, close-on-exec if it is here, and no other descriptor but
     * stdin, stdout and stderr (as they were when the server started).
     * nfds at most WV_PROCESS_MAX_FDS.  A fork's child has all of the
     * caller's descriptors: fds is not used then. */
    const int *fds;
    size_t nfds;
} wv_process_opts_t;

/*
 * Starts a child that runs fn(arg), then exits with its return value.
 * opts may be NULL (all defaults).  On success *out is the caller's
 * handle (free it with wv_process_free).  In the child, fn runs with *out
 * not set.
 *
 * With the fork server (opts.start, above) the caller's threads do not
 * matter, nothing is forked here and stdio is not flushed; the call asks
 * the server and waits for its answer (one start at a time: others wait
 * their turn), which comes at once unless the server is stopped by a
 * signal.
 *
 * Errors: WV_EINVAL (out or fn NULL, an unknown start, arg_size with arg
 * NULL, nfds over WV_PROCESS_MAX_FDS or fds NULL), WV_EMSGSIZE (arg_size
 * over WV_PROCESS_ARG_MAX), WV_ENOMEM, WV_EAGAIN (no more processes),
 * WV_ENOSYS (kernel without pidfds, before 5.3), WV_EBADF (a negative
 * descriptor in fds), WV_ECHILD (a forked child that ended at once was
 * reaped by somebody else before it could be held: SIGCHLD ignored, or a
 * waitpid(-1) on another thread).  With the fork server also WV_EBADF (a
 * descriptor of fds is not open), WV_EMFILE, WV_ENOTCONN (WV_START_FORKSERVER
 * and no server runs in this process), WV_EPIPE (the server has died: this
 * start and every later one through it fail, until wv_forkserver_stop or
 * a new wv_forkserver_start).
 */
WV_EXTERN int wv_process_start(wv_process_t **out,
                               const wv_process_opts_t *opts, wv_process_fn fn,
                               void *arg);

/*
 * Waits until the child has ended and reaps it (the fork server reaps
 * its own and reports); stores its exit code in *exitcode (may be NULL):
 * its exit status, or minus the signal that killed it (Python's
 * exitcode).  Several threads may join at once; all get the code.
 * Errors: WV_ETIMEDOUT, WV_EAGAIN (deadline 0, still running), WV_EINVAL
 * (p NULL, bad deadline), WV_ECHILD (the child has ended but its code is
 * lost: somebody else reaped it (SIGCHLD set to SIG_IGN, or a
 * waitpid(-1) elsewhere), or the fork server that started it died
 * first), WV_ECANCELED (the calling coroutine was cancelled).
 */
WV_EXTERN int wv_process_join(wv_process_t *p, int64_t deadline, int *exitcode);

/* true until the child has ended (reaps it if it has). */
WV_EXTERN bool wv_process_is_alive(wv_process_t *p);

/* Python's exitcode: 0 and *code once the child has ended (reaping it),
 * WV_EAGAIN while it runs. */
WV_EXTERN int wv_process_exitcode(wv_process_t *p, int *code);

WV_EXTERN int wv_process_pid(const wv_process_t *p);
/* The name: owned by p. */
WV_EXTERN const char *wv_process_name(const wv_process_t *p);

/*
 * Sends a signal (through the pidfd: never to a recycled pid).  A child
 * that has already ended is not an error.  terminate is SIGTERM, kill is
 * SIGKILL.  Errors: WV_EINVAL (p NULL, bad signal), WV_EPERM.
 */
WV_EXTERN int wv_process_send_signal(wv_process_t *p, int sig);
WV_EXTERN int wv_process_terminate(wv_process_t *p);
WV_EXTERN int wv_process_kill(wv_process_t *p);

/*
 * Frees the handle.  A child still running is killed (SIGKILL) and
 * reaped first (by the fork server for its children): no zombie, no
 * orphan left behind.  Join it first to let it finish.  NULL is a no-op.
 */
WV_EXTERN void wv_process_free(wv_process_t *p);

/*
 * Starts the fork server, Python's forkserver: a helper process, forked
 * now, that never runs a second thread and forks the children of later
 * starts.  A fork copies only the calling thread, so a lock that another
 * thread holds at that moment (a mutex, a stdio FILE, a library's own)
 * stays locked in the child for good; the server's children are copies
 * of a process in which no other thread ever ran.  Call it early, while
 * the process has a single thread (at the top of main): the server keeps
 * the memory the process has now (that is what children will see, plus
 * the argument bytes of each start), and no descriptor but stdin, stdout
 * and stderr.  From then on WV_START_AUTO starts every child through it.
 *
 * The server ends with the thread that started it (PR_SET_PDEATHSIG), at
 * exit (an atexit handler stops it), or with wv_forkserver_stop.  A fork
 * of this process (wv_fork, WV_START_FORK) does not inherit it.
 *
 * Returns 0, also when it already runs; a server that died is replaced
 * (same conditions).  Errors: WV_EBUSY (the process runs other threads:
 * too late, the server would copy their locks; a thread joined a moment
 * ago is given 20 ms to be gone), WV_ENOMEM, WV_EAGAIN (no more processes),
 * WV_EMFILE, WV_ENFILE, WV_ENOSYS (no pidfds), WV_ENOENT (no /proc to
 * count the threads in).
 */
WV_EXTERN int wv_forkserver_start(void);

/*
 * Stops the fork server and reaps it.  It leaves at once, whatever its
 * children do: those still running go on as a fork's children do when
 * their parent exits (daemons are killed, others live on).  Their handles
 * can still signal them, and a join waits for their end but then answers
 * WV_ECHILD: their exit codes went with the server.  So join them first.
 * A no-op without a server.
 */
WV_EXTERN void wv_forkserver_stop(void);

/*
 * os.fork: flushes stdio, forks, and returns the child's pid in the
 * parent, 0 in the child, or a negative WV_E* code (WV_EAGAIN,
 * WV_ENOMEM).  The caller reaps the child (waitpid).
 */
WV_EXTERN int wv_fork(void);

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
 * Errors: WV_ETIMEDOUT, WV_EAGAIN, WV_EOF (the other end is closed and
 * every message has been read), WV_EPROTO (the bytes are not weave's
 * framing: the connection is no use any more), WV_EBADF (a send-only
 * end), WV_ENOMEM, WV_EINVAL.  Descriptors sent with the message (by
 * wv_conn_send_fds) are closed: use wv_conn_recv_fds to get them.
 */
WV_EXTERN int wv_conn_recv(wv_conn_t *c, void *buf, size_t cap, size_t *len,
                           int64_t deadline);

/*
 * Python's poll(timeout): 0 when a message (or the end) can be received
 * without waiting, else WV_ETIMEDOUT / WV_EAGAIN.  Also WV_EPROTO, WV_EBADF.
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
 * pipe).
 */
#define WV_CONN_MAX_FDS 64
WV_EXTERN int wv_conn_send_fds(wv_conn_t *c, const void *data, size_t len,
                               const int *fds, size_t nfds, int64_t deadline);
WV_EXTERN int wv_conn_recv_fds(wv_conn_t *c, void *buf, size_t cap, size_t *len,
                               int *fds, size_t *nfds, int64_t deadline);

/* The underlying descriptor (to poll it with others). */
WV_EXTERN int wv_conn_fileno(const wv_conn_t *c);

/*
 * Closes the end and frees it.  A message committed but not yet written
 * out is written if that can be done without waiting, else dropped.
 * Descriptors received and not returned are closed.  NULL is a no-op.
 */
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

/* Semaphore (bounded if `limit` > 0: releasing past it is WV_EOVERFLOW). */
typedef struct wv_psem {
    _Alignas(8) unsigned char _opaque[16];
} wv_psem_t;

WV_EXTERN int wv_psem_init(wv_psem_t *s, uint32_t value, uint32_t limit);
/* 0, WV_EAGAIN (deadline 0), WV_ETIMEDOUT, WV_ECANCELED, WV_EINVAL. */
WV_EXTERN int wv_psem_acquire(wv_psem_t *s, int64_t deadline);
/* Adds n.  Errors: WV_EOVERFLOW (past the limit, or 2^31: nothing
 * added), WV_EINVAL. */
WV_EXTERN int wv_psem_release(wv_psem_t *s, uint32_t n);
WV_EXTERN uint32_t wv_psem_value(const wv_psem_t *s);

/* Event. */
typedef struct wv_pevent {
    _Alignas(8) unsigned char _opaque[8];
} wv_pevent_t;

WV_EXTERN void wv_pevent_init(wv_pevent_t *e);
WV_EXTERN void wv_pevent_set(wv_pevent_t *e);
WV_EXTERN void wv_pevent_clear(wv_pevent_t *e);
WV_EXTERN bool wv_pevent_is_set(const wv_pevent_t *e);
/* 0 once set, WV_EAGAIN (deadline 0), WV_ETIMEDOUT, WV_ECANCELED,
 * WV_EINVAL. */
WV_EXTERN int wv_pevent_wait(wv_pevent_t *e, int64_t deadline);

/*
 * Condition, for a wv_plock_t (taken once: a recursive lock held several
 * times must not wait).  wait releases the lock, sleeps until notified or
 * the deadline, and holds the lock again on return, in every case.
 * Returns 0 (notified, or spuriously: check your predicate in a loop;
 * notify(n) may let more than n waiters return), WV_ETIMEDOUT,
 * WV_ECANCELED (the lock is held then too), WV_EAGAIN (deadline 0),
 * WV_EOWNERDEAD (the lock's holder
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
 * multiprocessing.Value and Array: `size` bytes of anonymous shared
 * memory (zeroed), with an RLock of their own if `lock` (Python's
 * default).  A Value of type T is wv_value_new(&v, sizeof(T), true); an
 * Array of n T is wv_array_new(&a, sizeof(T), n, true).  Shared with the
 * children forked afterwards.  Errors: WV_EINVAL (size 0, n * elem
 * overflowing), WV_ENOMEM.
 */
typedef struct wv_shared wv_shared_t;

WV_EXTERN int wv_value_new(wv_shared_t **out, size_t size, bool lock);
WV_EXTERN int wv_array_new(wv_shared_t **out, size_t elem_size, size_t n,
                           bool lock);
/* The bytes (Python's .value / the array's memory). */
WV_EXTERN void *wv_shared_ptr(const wv_shared_t *v);
WV_EXTERN size_t wv_shared_size(const wv_shared_t *v);
/* The lock (get_lock()), or NULL when made without. */
WV_EXTERN wv_plock_t *wv_shared_lock(const wv_shared_t *v);
/* Unmaps it from this process (children keep theirs).  NULL: no-op. */
WV_EXTERN void wv_shared_free(wv_shared_t *v);

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
 * own ("/wvq-<queue id>-<position>"), removed by its consumer.
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
 * belongs to one process: a forked child uses the copy it inherits.
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
 * taken), WV_ENOMEM, WV_EMFILE, WV_EACCES.
 */
WV_EXTERN int wv_mpqueue_new(wv_mpqueue_t **out, const wv_mpqueue_opts_t *opts);

/*
 * Opens the named queue another process created.  Errors: WV_EINVAL,
 * WV_ENOENT, WV_EACCES, WV_EPROTO (the object is no weave queue, or of
 * another version), WV_ENOMEM, WV_EMFILE.
 */
WV_EXTERN int wv_mpqueue_open(wv_mpqueue_t **out, const char *name);

/* Removes a named queue's name (processes that have it open keep it). */
WV_EXTERN int wv_mpqueue_unlink(const char *name);

/*
 * Puts a message, data[0..len) (data may be NULL when len is 0), waiting
 * for room until the deadline.  Returns 0 once the message is in the
 * queue.  Errors: WV_EAGAIN (deadline 0, full), WV_ETIMEDOUT and
 * WV_ECANCELED (a cancelled coroutine) (nothing was put), WV_ESHUTDOWN (the queue was shut down), WV_EMSGSIZE (len over
 * WV_MPQUEUE_MAX_MSG), WV_EBUSY (this process would be one participant
 * too many), WV_ENOMEM, WV_EMFILE, WV_ENOSPC (no room for a shm object of
 * its own: /dev/shm full), WV_EINVAL.
 */
WV_EXTERN int wv_mpqueue_put(wv_mpqueue_t *q, const void *data, size_t len,
                            int64_t deadline);

/*
 * Takes the next message into buf[0..cap) and stores its length in *len.
 * A message longer than cap is left in the queue: WV_EMSGSIZE, with *len
 * set to its length (wv_mpqueue_peek_len tells it beforehand).  Errors:
 * WV_EAGAIN (deadline 0, empty), WV_ETIMEDOUT, WV_ECANCELED (a cancelled
 * coroutine: nothing taken), WV_ESHUTDOWN (shut down
 * and empty), WV_EBUSY, WV_EIO (the shm object of a large message had
 * been removed by someone else: that message is lost), WV_EINVAL.
 */
WV_EXTERN int wv_mpqueue_get(wv_mpqueue_t *q, void *buf, size_t cap, size_t *len,
                            int64_t deadline);

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
 * died count as taken.  Errors: WV_ETIMEDOUT, WV_ECANCELED, WV_EAGAIN
 * (deadline 0, not finished), WV_EINVAL (not joinable, bad deadline).
 */
WV_EXTERN int wv_mpqueue_join(wv_mpqueue_t *q, int64_t deadline);

/*
 * Python 3.13's shutdown, for every process: puts fail with WV_ESHUTDOWN
 * from now on; gets take what is left, then fail with WV_ESHUTDOWN.
 * Waiting puts and gets wake up.
 */
WV_EXTERN void wv_mpqueue_shutdown(wv_mpqueue_t *q);

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
 * objects of large messages that crashed processes left behind.  NULL is
 * a no-op.
 */
WV_EXTERN void wv_mpqueue_free(wv_mpqueue_t *q);

#ifdef __cplusplus
}
#endif
#endif /* WEAVE_PROC_H */

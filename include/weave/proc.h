/*
 * weave/proc.h - processes: multiprocessing's Process, the fork server
 * (Python's forkserver start method) and os.fork.  What connects
 * processes (Pipe, Queue, shared memory, process-shared primitives) is
 * in weave/ipc.h.  docs/proc.md tells how they are built.
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
WV_EXTERN int wv_process_join(wv_process_t *p, int *exitcode, int64_t deadline);

/* true until the child has ended; false for NULL.  Reaps nothing (a
 * child that has ended stays a zombie until a join, exitcode or free). */
WV_EXTERN bool wv_process_is_alive(const wv_process_t *p);

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
 * and stderr.  From then on WV_START_AUTO starts every child through it,
 * and process pools fork their children from it rather than from a copy
 * of the program taken at their creation, which also spares the program
 * a copy-on-write fault on the first write of every page it had then
 * (docs/pool.md).
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

#ifdef __cplusplus
}
#endif
#endif /* WEAVE_PROC_H */

/*
 * proc/internal.h - what the proc layer shares with the layers above.
 */
#ifndef WV_PROC_INTERNAL_H
#define WV_PROC_INTERNAL_H

#include "../sync/internal.h"
#include "weave/proc.h"
#include "weave/subprocess.h"

#include <sys/socket.h>

/* Most descriptors one message carries (Pipe and fork server alike). */
#define WV__MAX_FDS 64
_Static_assert(WV_CONN_MAX_FDS <= WV__MAX_FDS &&
                   WV_PROCESS_MAX_FDS <= WV__MAX_FDS,
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

/* pidfd_open(pid): the descriptor, or a WV_E* code (WV_ENOSYS before
 * Linux 5.3). */
int wv__pidfd_open(int pid);

/* Moves *fd to a number above stdio (close-on-exec) if it is below 3: a
 * program that closed its stdio gets its next descriptors there, where a
 * child's stdio rebuild or the fork server's children would take them.
 * 0, or -errno with *fd left as it was (still the caller's to close). */
int wv__fd_above_stdio(int *fd);

/*
 * A pidfd for the child `pid` just started (SIGCHLD blocked by the
 * caller since): the descriptor; WV_ECHILD when somebody else reaped it
 * first (SIGCHLD ignored, another thread's waitpid(-1)), or its pid names
 * a process that is not our child any more; or pidfd_open's error, the
 * child then killed and reaped.  Never signals a pid that may be reused.
 */
int wv__pidfd_hold(int pid);

/*
 * Reaps the ended child that pidfd holds (waitid P_PIDFD, EINTR retried;
 * blocks if it has not ended): 0 and *code, its exit status or minus the
 * signal that killed it (Python's returncode), or WV_ECHILD when somebody
 * else reaped it.
 */
int wv__pidfd_reap(int pidfd, int *code);

/* pidfd_send_signal: 0 (also when the child has already ended), or a
 * WV_E* code (WV_EPERM, WV_EINVAL). */
int wv__pidfd_signal(int pidfd, int sig);

struct iovec;

/*
 * writev to a pipe without dying of SIGPIPE: the signal a closed reader
 * raises is blocked around the write and taken back, so the caller sees
 * WV_EPIPE.  Returns the bytes written or a WV_E* code (WV_EAGAIN for a
 * full non-blocking pipe).  One system call more than a plain writev
 * each side: pthread_sigmask.
 */
ssize_t wv__pipe_writev(int fd, const struct iovec *iov, int niov);

/* The same with vmsplice: the pipe takes references to the pages of
 * iov instead of copying them (the caller keeps them unchanged until
 * read).  Errors of vmsplice besides: WV_EFAULT, WV_EINVAL, WV_ENOSYS... */
ssize_t wv__pipe_vmsplice(int fd, const struct iovec *iov, int niov);

/*
 * The child's side of a start, whoever forked it: arms a daemon's death
 * signal (checking that `parent` is still its parent), names the process,
 * runs fn(arg), flushes stdio and leaves with _exit and fn's exit code.
 */
_Noreturn void wv__process_run(const char *name, bool daemon, int parent,
                               wv_process_fn fn, void *arg);

/*
 * A Process handle for a child started elsewhere (subprocess's vfork),
 * so that waiting, reaping, signals and free are the Process's own.
 * hold makes the handle before the start (WV_ENOMEM; nothing to undo
 * after a start then), adopt gives it the child, unhold frees a handle
 * that never got one.
 */
int wv__process_hold(wv_process_t **out, const char *name);
void wv__process_adopt(wv_process_t *p, int pid, int pidfd);
void wv__process_unhold(wv_process_t *p);
/* The exit code if an earlier join reaped the child (0 and *code), its
 * reap error (WV_ECHILD), or WV_EAGAIN; never waits nor reaps. */
int wv__process_reaped(const wv_process_t *p, int *code);

/* p's pidfd (owned by p): readable once the child has ended. */
int wv__process_pidfd(const wv_process_t *p);
/*
 * What a child does between its vfork and its exec (spawn_linux.c), all
 * prepared by the parent: the child only makes system calls on it.
 */
typedef struct wv__spawn_plan {
    char *const *paths; /* candidates for the program, tried in order */
    size_t npaths;
    char *const *argv; /* the child's argv and environment */
    char *const *envp;
    const char *cwd;   /* NULL: the caller's */
    int stdio[3];      /* the descriptor to put at 0, 1, 2; -1: leave */
    bool err_to_out;   /* then stderr = the new stdout */
    const int *keep;   /* sorted descriptors >= 3 the child keeps, */
    size_t nkeep;      /* cleared of close-on-exec (pass_fds) */
    bool close_others; /* close every other descriptor >= 3 */
    bool new_session;  /* setsid() */
    int pgid;          /* -1: leave; else setpgid(0, pgid) */
} wv__spawn_plan_t;

/*
 * Starts a child as pl says and returns once it runs the new program:
 * 0 with *pid and *pidfd, or the error of the step that failed in the
 * child (the child then reaped), or WV_EAGAIN / WV_ENOMEM (no process),
 * WV_EMFILE, WV_ENFILE, WV_ENOSYS (no pidfd_open).  Safe from a threaded
 * caller.
 */
int wv__spawn(const wv__spawn_plan_t *pl, int *pid, int *pidfd);

/* How p was started: WV_START_FORK or WV_START_FORKSERVER (test aid). */
int wv__process_method(const wv_process_t *p);

/* true when this process has started the global fork server
 * (wv_forkserver_start) and not stopped it (it may have died).  A hint:
 * wv__fserver_spawn decides under its lock. */
bool wv__forkserver_running(void);

/*
 * Fork server instances (forkserver.c).  The global server is one; a
 * private server is another, owned by the process that made it (the
 * process pool's "zygote": every worker, however late it starts and
 * whatever threads then run, is a fork of a process in which no thread
 * but the creating one ever ran).
 */
typedef struct wv__fserver wv__fserver_t;

/*
 * Forks a private fork server from the calling thread, now, and waits
 * until it has armed its death signal.  No single-thread check: the
 * server copies this instant's memory, including any lock another thread
 * holds now (create it before such locks are taken), and stdio is
 * flushed first (waiting for a FILE lock another thread holds).  The
 * server keeps stdin, stdout and stderr and closes every other
 * descriptor it inherited.  Its own descriptors here (its socket and
 * pidfd) are close-on-exec and above 2; a fork of this process closes
 * its copies (an atfork handler) and cannot use the server (owner pid
 * check).  The server dies with the calling thread (PR_SET_PDEATHSIG: a
 * thread that exits kills it; it stays a zombie until wv__fserver_free)
 * or at wv__fserver_free; its daemon children die with it, the others
 * live on.  Errors: WV_EINVAL (out NULL), WV_ENOMEM, WV_EAGAIN (no more
 * processes), WV_EMFILE, WV_ENFILE, WV_ENOSYS (no pidfds), WV_EPIPE (the
 * server died before it was ready: killed by someone).
 */
int wv__fserver_new(wv__fserver_t **out);

/*
 * Stops the server (the end of its socket: shutdown(), so a copy of our
 * end in some fork keeps nothing alive), waits for the server itself to
 * leave (it does at once) and reaps it; does not wait for its children
 * (as wv_forkserver_stop).  Frees s.  NULL is a no-op.  Callable from any
 * thread of the owning process; the caller ensures that no other thread
 * spawns through s or frees it meanwhile (a spawn in flight would hold
 * s's lock and the memory freed under it).  In a fork of the owner it
 * only frees the memory (the server is the owner's).
 */
void wv__fserver_free(wv__fserver_t *s);

/* The server's pid, 0 when this process has none there (s NULL: the
 * global server) (test aid). */
int wv__fserver_pid(wv__fserver_t *s);

/*
 * Has server s (NULL: the global one) fork a child running fn(arg) as
 * opts says (opts is not NULL and was checked; opts->start is not used).
 * On success *pid, *pidfd and *statusfd: the pipe on which the server
 * writes the child's exit code (an int32_t) once it has reaped it, then
 * closes; an end without a code means the server died.  Errors:
 * WV_ENOTCONN (s is not this process's: not started, stopped, or the
 * parent's, in a fork), WV_EPIPE (it died, or the stream to it broke),
 * WV_EBADF (a descriptor of opts->fds is not open), WV_ENOMEM, WV_EAGAIN
 * (no more processes), WV_EMFILE, WV_ENFILE.  Thread-safe: one request is
 * in flight per server (s's lock); others wait their turn.
 */
int wv__fserver_spawn(wv__fserver_t *s, const wv_process_opts_t *opts,
                      const char *name, wv_process_fn fn, void *arg, int *pid,
                      int *pidfd, int *statusfd);

/*
 * wv_process_start through server s (opts->start is not used; opts may
 * be NULL): the child is s's, and the handle works as one started by the
 * global server (join with a deadline through the status pipe, exit
 * codes, is_alive, signals through the pidfd, free).  Errors: those of
 * wv_process_start with the fork server, WV_EINVAL also for s NULL,
 * WV_ENOTCONN (s belongs to another process: this one is a fork of its
 * owner), WV_EPIPE (the server died).  Thread-safe, as above.
 */
int wv__process_start_via(wv__fserver_t *s, wv_process_t **out,
                          const wv_process_opts_t *opts, wv_process_fn fn,
                          void *arg);

/* The global fork server's pid, 0 without one (test aid). */
int wv__forkserver_pid(void);

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

#endif /* WV_PROC_INTERNAL_H */

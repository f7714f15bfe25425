/*
 * weave/subprocess.h - Python's subprocess: run external programs, talk to
 * them through pipes, never deadlock.  docs/subprocess.md tells how it is
 * built and which options were rejected.
 *
 *     const char *argv[] = {"sh", NULL};
 *     wv_popen_opts_t o = {.argv = argv};
 *     o.in.how = o.out.how = o.err.how = WV_STDIO_PIPE;
 *     wv_popen_t *p;
 *     wv_bytes_t out, err;
 *     int code;
 *     wv_popen_new(&p, &o);
 *     wv_popen_communicate(p, "echo hi\n", 8, WV_FOREVER, &out, &err);
 *     wv_popen_wait(p, WV_FOREVER, &code);      (communicate waited)
 *     wv_popen_free(p);
 *
 * A program that cannot be started (not found, not executable, a bad
 * working directory, a descriptor to pass that is not open) fails the
 * start itself with the real error, as Python raises OSError, never as a
 * child exiting with 127.
 *
 * Children are held by a pidfd: waiting needs no SIGCHLD handler, signals
 * never reach a recycled pid.  Every blocking call takes a deadline
 * (weave/core.h) and waits through weave's fd waiter (wv__fd_wait /
 * wv__fds_wait), the seam the event-loop layer routes: called from a
 * coroutine, a wait will park the coroutine, not its thread.
 *
 * The caller's pipe ends are close-on-exec and non-blocking; SIGPIPE
 * never kills the program: a child that stops reading is WV_EPIPE (and
 * ends communicate's feeding of stdin, as in Python).
 *
 * Threads: starting children is safe from any thread of a threaded
 * program (nothing runs in the child between the fork and the exec but
 * system calls).  One Popen is used by one thread at a time for its I/O
 * (communicate, read, write); wait, poll, returncode and the signals may
 * be called from any thread at any time.
 */
#ifndef WEAVE_SUBPROCESS_H
#define WEAVE_SUBPROCESS_H

#include "weave/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wv_popen wv_popen_t;

/* What a standard stream of the child is (wv_stdio_t.how). */
enum {
    WV_STDIO_INHERIT = 0, /* the caller's own (Python's None) */
    WV_STDIO_PIPE,        /* a new pipe; the caller holds the other end */
    WV_STDIO_DEVNULL,     /* /dev/null */
    WV_STDIO_FD,          /* an open descriptor of the caller: wv_stdio_t.fd */
    WV_STDIO_STDOUT,      /* stderr only: the same as the child's stdout */
};

typedef struct wv_stdio {
    int how; /* WV_STDIO_* */
    int fd;  /* WV_STDIO_FD: the descriptor (the caller keeps it) */
} wv_stdio_t;

/* How the child's environment is made (wv_popen_opts_t.env_mode). */
enum {
    WV_ENV_INHERIT = 0, /* the caller's environ, as it is at the start */
    WV_ENV_REPLACE,     /* exactly env (NULL: an empty environment) */
    WV_ENV_ADD,         /* the caller's environ, with env's entries added
                         * or replacing those of the same name (a name
                         * given twice in env: its last entry) */
};

/* Options of a start.  All zeros is a sane default: stdio inherited, the
 * caller's environment and directory, other descriptors closed. */
typedef struct wv_popen_opts {
    /* The program and its arguments, NULL-terminated (argv[0] is the
     * program).  A program without a '/' is looked for in the PATH of
     * the child's environment (default "/bin:/usr/bin"), as execvp does;
     * unlike execvp, a file that is no executable format (no #!) is
     * WV_ENOEXEC, as in Python, not run by /bin/sh. */
    const char *const *argv;
    /* Instead of argv: a command line run by "/bin/sh -c" (Python's
     * shell=True).  Exactly one of argv and shell. */
    const char *shell;
    /* Python's executable: the program to run instead of argv[0], which
     * is still passed as the child's argv[0] (looked up like argv[0]).
     * With shell: the shell to use instead of /bin/sh. */
    const char *executable;
    /* The child's working directory (NULL: the caller's).  A relative
     * program name with a '/' is relative to it, as in Python. */
    const char *cwd;
    /* WV_ENV_* and its "NAME=value" strings, NULL-terminated. */
    int env_mode;
    const char *const *env;
    /* stdin, stdout and stderr of the child. */
    wv_stdio_t in, out, err;
    /* Python's close_fds=False: the child inherits every descriptor not
     * marked close-on-exec.  Default (false): only stdin, stdout, stderr
     * and pass_fds. */
    bool inherit_fds;
    /* Descriptors the child keeps, at the same numbers (each >= 3), even
     * if close-on-exec here.  At most WV_POPEN_MAX_PASS_FDS. */
    const int *pass_fds;
    size_t npass_fds;
    /* setsid() in the child (Python's start_new_session). */
    bool new_session;
    /* setpgid(0, 0) in the child: a process group of its own, led by it
     * (Python's process_group=0). */
    bool new_process_group;
    /* > 0: setpgid(0, process_group): join that group (Python's
     * process_group=N).  0: no change. */
    int process_group;
    /*
     * communicate's input is lent, not copied (wv_subprocess_run's too):
     * the child's stdin pipe is given references to the pages of input
     * (vmsplice), so the child reads them where they are: one copy of
     * the data less, and no pipe pages to allocate and free (W8, 256 MiB
     * through cat: docs/subprocess.md).
     *
     * The contract: input[0..len) stays allocated and unchanged until a
     * communicate on this Popen returns 0 (everything was fed, or the
     * child stopped reading) or the Popen is freed.  After a time-out
     * nothing is copied aside: the later communicate that resumes feeds
     * the rest from the same memory.  Even after that point, bytes the
     * child had not read are read from that memory as it is when they
     * are read; there are such bytes only if something else still holds
     * the child's stdin (a grandchild it was passed to, or a pipe the
     * child spliced them into).  The kernel keeps the pages themselves
     * alive (no use after free); not their contents.  Where the kernel
     * refuses vmsplice (for that memory or at all), input is copied as
     * without this flag, under the same contract.  wv_popen_write always
     * copies.
     */
    bool borrow_input;
    /*
     * > 0: the child is sent this signal (SIGKILL, SIGTERM...) when the
     * thread that called wv_popen_new ends, however it ends: killed with
     * its process, or only the thread exiting (Linux's PR_SET_PDEATHSIG,
     * which watches the creating thread).  So a command does not outlive
     * a caller that was SIGKILLed.  Only the child is signalled, not
     * processes it starts (put it in a process group of its own and
     * signal the group for those); set-user-ID programs clear it at exec.
     * A caller killed while the child was being started: the child gets
     * the signal before it runs the program.  0: none (the default).
     * Errors: WV_EINVAL (< 0 or >= 65, not a signal).
     */
    int death_signal;
} wv_popen_opts_t;

#define WV_POPEN_MAX_PASS_FDS 1024

/*
 * Python's Popen(...): starts the child and returns once it runs the new
 * program (or failed to).  On success *out is the caller's handle; free
 * it with wv_popen_free.  opts is read during the call only.
 *
 * Errors, from checking the options: WV_EINVAL (out or opts NULL, neither
 * or both of argv and shell, argv empty, an unknown how or env_mode,
 * WV_STDIO_STDOUT for stdin or stdout, an env entry without '=',
 * a pass_fds entry below 3, more than WV_POPEN_MAX_PASS_FDS of them,
 * new_process_group with process_group, process_group < 0), WV_EBADF
 * (WV_STDIO_FD or pass_fds with a negative descriptor).
 * From the start: WV_ENOMEM, WV_EMFILE, WV_ENFILE, WV_EAGAIN (no more
 * processes), WV_ENOSYS (no pidfds: Linux before 5.3), WV_ECHILD (the
 * program started, but was reaped by somebody else before it could be
 * held: SIGCHLD set to SIG_IGN, or a waitpid(-1) on another thread; a
 * SIGCHLD handler cannot cause it, signals being blocked meanwhile).
 * From the child, before it ran the program (the child is reaped, nothing
 * is left): WV_ENOENT (program not found in any directory, or cwd does
 * not exist), WV_EACCES (not executable, or cwd not searchable),
 * WV_ENOTDIR, WV_ENOEXEC (not a format the kernel runs: no "#!" either),
 * WV_ENAMETOOLONG, WV_E2BIG, WV_ELOOP, WV_ETXTBSY, WV_EBADF (a descriptor
 * of WV_STDIO_FD or pass_fds is not open), WV_EPERM (setsid or setpgid
 * refused).
 */
WV_EXTERN int wv_popen_new(wv_popen_t **out, const wv_popen_opts_t *opts);

/* A view of bytes owned by a Popen: data[len] is always '\0' (text prints
 * as it is); data is NULL (len 0) for a stream that is not a pipe. */
typedef struct wv_bytes {
    const char *data;
    size_t len;
} wv_bytes_t;

/*
 * Python's communicate(input, timeout): writes input[0..len) to the
 * child's stdin while reading its stdout and stderr, all at once, so that
 * no amount of data either way can deadlock; then closes stdin, reads to
 * the end of both outputs and waits for the child.  Returns 0 with *out
 * and *err (each may be NULL) viewing everything read from stdout and
 * stderr since the start (including by earlier calls), owned by p: valid
 * until the next communicate or read on p, or wv_popen_free.
 *
 * input may be NULL (len 0): stdin, if a pipe, is then closed at once.  A
 * child that exits or closes its stdin before reading all of it is not an
 * error (the rest is dropped; no SIGPIPE).
 *
 * When the deadline passes first: WV_ETIMEDOUT (WV_EAGAIN for deadline
 * 0).  The child keeps running, nothing is lost: the output read so far
 * is in *out and *err, the input not yet written is copied aside (kept
 * where it is with opts.borrow_input, which has the caller keep it), and
 * a later call (with input NULL) resumes where this one stopped.  Like
 * Python, kill the child and call again to collect the rest.
 *
 * Errors: WV_EINVAL (p NULL, input NULL with len > 0, bad deadline, input
 * given when stdin is not a pipe or when an earlier call already took
 * input), WV_ETIMEDOUT, WV_EAGAIN, WV_ENOMEM (the output could not grow;
 * or the unwritten input could not be copied aside at a time-out: that
 * input is then dropped and stdin closed; never with borrow_input),
 * WV_ECHILD (the child was reaped by somebody else), WV_EIO or another
 * read/write error.  On every error the output read so far stays in p
 * and is in *out and *err; with borrow_input, the caller's input is
 * still lent (see there) until a call returns 0 or p is freed.
 */
WV_EXTERN int wv_popen_communicate(wv_popen_t *p, const void *input, size_t len,
                                   wv_bytes_t *out, wv_bytes_t *err,
                                   int64_t deadline);

/*
 * Python's wait(timeout): waits until the child ends, reaps it, and
 * stores its returncode in *code (may be NULL): its exit status, or minus
 * the signal that killed it.  Any thread may wait, several at once.
 * Errors: WV_ETIMEDOUT, WV_EAGAIN (deadline 0, still running), WV_EINVAL
 * (p NULL, bad deadline), WV_ECHILD (reaped by somebody else: SIGCHLD set
 * to SIG_IGN, or a waitpid(-1) elsewhere).  Waiting does not read the
 * pipes: a child blocked writing to a full stdout pipe nobody reads never
 * ends (Python's warning); use communicate.
 */
WV_EXTERN int wv_popen_wait(wv_popen_t *p, int *code, int64_t deadline);

/* Python's poll(): wv_popen_wait(p, 0, code): 0 and the code once the
 * child has ended (reaping it), WV_EAGAIN while it runs. */
WV_EXTERN int wv_popen_poll(wv_popen_t *p, int *code);

/* Python's returncode: 0 and *code when an earlier wait or poll reaped
 * the child, else WV_EAGAIN.  Never makes a system call. */
WV_EXTERN int wv_popen_returncode(const wv_popen_t *p, int *code);

/* The child's pid (0 for NULL). */
WV_EXTERN int wv_popen_pid(const wv_popen_t *p);

/* stdin, stdout, stderr: the stream numbers of the functions below. */
enum { WV_STDIN = 0, WV_STDOUT = 1, WV_STDERR = 2 };

/*
 * The caller's end of a child's stream that is a pipe (Python's
 * p.stdin, p.stdout, p.stderr): a non-blocking, close-on-exec descriptor
 * owned by p, to poll with others; -1 when the stream is no pipe or was
 * closed; WV_EINVAL for p NULL or a stream that is none of WV_STDIN,
 * WV_STDOUT, WV_STDERR.
 */
WV_EXTERN int wv_popen_fd(const wv_popen_t *p, int stream);

/*
 * Writes data[0..len) to the child's stdin, waiting for room as needed.
 * *done (may be NULL) gets the bytes written, also on error.  Errors:
 * WV_EPIPE (the child closed its stdin or ended), WV_EBADF (stdin is no
 * pipe, or closed), WV_ETIMEDOUT, WV_EAGAIN, WV_EINVAL.
 */
WV_EXTERN int wv_popen_write(wv_popen_t *p, const void *data, size_t len,
                             size_t *done, int64_t deadline);

/*
 * Reads what has arrived on the child's stdout or stderr (waiting for at
 * least one byte) into buf[0..cap): 0 and *n > 0 bytes.  Errors: WV_EOF
 * (the child closed it and everything was read), WV_EBADF (no pipe, or
 * closed), WV_ETIMEDOUT, WV_EAGAIN, WV_EINVAL (stream not WV_STDOUT or
 * WV_STDERR, buf NULL, cap 0).  Bytes communicate already read stay
 * there: mixing the two is allowed but each byte goes to one of them.
 */
WV_EXTERN int wv_popen_read(wv_popen_t *p, int stream, void *buf, size_t cap,
                            size_t *n, int64_t deadline);

/* Closes the caller's end of the child's stdin (the child sees the end
 * of its input).  A no-op if it is no pipe or already closed. */
WV_EXTERN void wv_popen_close_stdin(wv_popen_t *p);

/*
 * Sends a signal through the pidfd: never to a recycled pid.  A child
 * that has already ended is not an error (as Python).  Signal 0 only
 * checks that it could be sent.  terminate is SIGTERM, kill is SIGKILL.
 * Errors: WV_EINVAL (p NULL, bad signal), WV_EPERM.
 */
WV_EXTERN int wv_popen_send_signal(wv_popen_t *p, int sig);
WV_EXTERN int wv_popen_terminate(wv_popen_t *p);
WV_EXTERN int wv_popen_kill(wv_popen_t *p);

/*
 * Frees the handle: closes the pipes, and a child still running is killed
 * (SIGKILL) and reaped: no zombie, no orphan, no descriptor left behind.
 * Wait for it first to let it finish.  (Python leaves it running; a C
 * program has no garbage collector to reap it later.)  NULL is a no-op.
 */
WV_EXTERN void wv_popen_free(wv_popen_t *p);

/* ------------------------------------------------- run, check_output */

/* Python's CompletedProcess.  out and err are NULL (length 0) for a
 * stream that was no pipe, else NUL-terminated; free with
 * wv_completed_free. */
typedef struct wv_completed {
    int returncode;
    char *out;
    size_t out_len;
    char *err;
    size_t err_len;
} wv_completed_t;

/*
 * Python's run(input=, timeout=, check=): starts the child as opts says,
 * communicates input[0..len) (NULL: none) until the deadline, waits for
 * it, and fills *res.  Set opts' out and err to WV_STDIO_PIPE to capture
 * them (Python's capture_output=True); stdin becomes a pipe when input is
 * given and opts leaves it inherited.
 *
 * Returns 0, or:
 *   WV_ETIMEDOUT  the deadline passed: the child was killed and reaped,
 *                 and *res holds what it wrote (returncode -SIGKILL);
 *   WV_ECALLEDPROCESS  check is true and the returncode is not 0: *res
 *                 holds the returncode and output;
 *   any error of wv_popen_new (nothing started, *res zeroed) or of
 *   wv_popen_communicate.
 * Free *res with wv_completed_free after every return (it is zeroed when
 * there is nothing to free).
 */
WV_EXTERN int wv_subprocess_run(const wv_popen_opts_t *opts, const void *input,
                                size_t len, bool check, wv_completed_t *res,
                                int64_t deadline);

/*
 * Python's check_output: wv_subprocess_run with stdout a pipe (whatever
 * opts says) and check true.  res->out holds the output.
 */
WV_EXTERN int wv_subprocess_check_output(const wv_popen_opts_t *opts,
                                         const void *input, size_t len,
                                         wv_completed_t *res, int64_t deadline);

/* Frees what a run left in *res and zeroes it.  NULL is a no-op. */
WV_EXTERN void wv_completed_free(wv_completed_t *res);

#ifdef __cplusplus
}
#endif
#endif /* WEAVE_SUBPROCESS_H */

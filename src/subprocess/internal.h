/*
 * subprocess/internal.h - the Popen object, shared by popen.c (start,
 * wait, signals, free) and communicate.c (pipes, communicate, run), and
 * the spawn of spawn_linux.c.
 */
#ifndef WV_SUBPROCESS_INTERNAL_H
#define WV_SUBPROCESS_INTERNAL_H

#include "../proc/internal.h"
#include "weave/subprocess.h"

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
    int death_signal;  /* > 0: PR_SET_PDEATHSIG */
    int parent;        /* with death_signal: the caller's pid */
} wv__spawn_plan_t;

/*
 * Starts a child as pl says and returns once it runs the new program:
 * 0 with *pid and *pidfd, or the error of the step that failed in the
 * child (the child then reaped), or WV_EAGAIN / WV_ENOMEM (no process),
 * WV_EMFILE, WV_ENFILE, WV_ENOSYS (no pidfd_open).  Safe from a threaded
 * caller.
 */
int wv__spawn(const wv__spawn_plan_t *pl, int *pid, int *pidfd);

/* What communicate has read from stdout or stderr: data[0..len), then a
 * '\0'; cap bytes allocated (NULL, 0 before the first byte). */
typedef struct wv__obuf {
    char *data;
    size_t len, cap;
    size_t ready;     /* data[0..ready) is faulted in (communicate.c) */
    bool small_pages; /* no more huge pages for it (communicate.c) */
} wv__obuf_t;

struct wv_popen {
    /* The child, held as a Process is (waiting, reaping, signals, free
     * are process.c's); NULL only while it is being started. */
    wv_process_t *child;
    /* The caller's pipe ends, non-blocking (stdin: the write end); -1 when
     * the stream is no pipe or was closed.  [the I/O thread] */
    int fds[3];
    bool piped[3]; /* the stream was made a pipe */
    bool eof[3];   /* stdout/stderr: closed after reading their end */
    /* communicate's state [the I/O thread] */
    bool fed;         /* an earlier communicate took the input */
    bool enlarged;    /* the pipes were given F_SETPIPE_SZ */
    const char *rest; /* input not written when a communicate timed out:
                         a copy, or the caller's own when lent */
    size_t rest_len, rest_off;
    bool lend;          /* opts.borrow_input: input goes by vmsplice */
    bool no_vmsplice;   /* vmsplice refused it: copying writes instead */
    wv__obuf_t obuf[2]; /* stdout, stderr */
};

/* Closes the caller's end of a stream (no-op if closed). */
void wv__popen_close(wv_popen_t *p, int stream);

/* Asks the kernel for a pipe of `size` bytes; a refusal leaves it as it
 * is (obuf_linux.c). */
void wv__pipe_enlarge(int fd, int size);

/*
 * Faults in b's pages up to `end` before a read copies into them, in huge
 * pages when b is large; records how far in b->ready (obuf_linux.c, which
 * says why).  Does nothing where the kernel cannot.
 */
void wv__obuf_prefault(wv__obuf_t *b, size_t end);

#endif /* WV_SUBPROCESS_INTERNAL_H */

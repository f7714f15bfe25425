/*
 * proc/popen.h - the Popen object, shared by subprocess.c (start, wait,
 * signals, free) and communicate.c (pipes, communicate, run).
 */
#ifndef WV_PROC_POPEN_H
#define WV_PROC_POPEN_H

#include "internal.h"

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

#endif /* WV_PROC_POPEN_H */

/*
 * proc/forkserver.h - what the fork server's two sides share: the
 * protocol (forkserver.c tells it) and the server's entry point.
 */
#ifndef WV_PROC_FORKSERVER_H
#define WV_PROC_FORKSERVER_H

#include "internal.h"

#include <sys/socket.h>

#define WV__FSERVER_MAGIC 0x53465657u /* "WVFS" */

struct wv__fserver_request {
    uint32_t magic;
    uint32_t nfds;     /* descriptors attached (SCM_RIGHTS) */
    wv_process_fn fn;  /* an address of the image both share */
    void *arg;         /* passed as it is when arg_size is 0 */
    uint64_t arg_size; /* argument bytes following the header */
    uint64_t cloexec;  /* bit i: descriptor i is close-on-exec */
    int32_t daemon;    /* opts->daemon */
    int32_t targets[WV_PROCESS_MAX_FDS]; /* descriptor i's number */
    char name[WV_PROCESS_NAME_MAX + 1];  /* NUL-terminated */
};

struct wv__fserver_reply {
    int32_t err; /* 0 or a WV_E* code */
    int32_t pid; /* the child, on success */
};

/*
 * Reads exactly len bytes of a message from sock, with the descriptors
 * riding on it (SCM_RIGHTS) into fds[0..*nfds) (at most cap; those past
 * cap are closed), waiting for more when the socket is non-blocking.
 * *trunc: some did not fit in the control buffer (this process has too
 * many open).  0, WV_EPIPE (the end of the stream, or a reset), or
 * another WV_E* code; fds taken so far stay the caller's either way.
 */
int wv__fserver_recv(int sock, void *buf, size_t len, int *fds, size_t *nfds,
                     size_t cap, bool *trunc);

/* Closes fds[0..n). */
void wv__fserver_close_all(const int *fds, size_t n);

/*
 * The server's life, in the child of the fork that made it (forkserver.c's
 * launch): sock is its end of the request socket, client the pid of the
 * process it serves.  Arms its death signal, says it is ready, closes
 * every inherited descriptor but stdio and sock, and serves until the end
 * of sock.  Never returns.
 */
_Noreturn void wv__fserver_main(int sock, int client);

#endif /* WV_PROC_FORKSERVER_H */

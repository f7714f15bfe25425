/*
 * weave/net.h - TCP, Unix-domain and UDP sockets with deadlines, and name
 * resolution that never stalls a loop: the socket half of asyncio's
 * streams and of Python's socket module.
 *
 * The model
 *  - A wv_sock_t is a small handle owning one descriptor (non-blocking,
 *    close-on-exec); wv_sock_free closes it.  No call allocates per I/O.
 *  - Every call that can block takes a deadline, as everywhere (weave/
 *    core.h): absolute wv_now() milliseconds, WV_FOREVER, or WV_NOWAIT
 *    (WV_EAGAIN at once if the call would have to wait, with no effect).
 *    From a plain thread the thread waits; from a coroutine (or a thread
 *    with a scheduler) only the caller parks, through the thread's epoll
 *    loop (wv_fdwait), and the thread runs its other coroutines.
 *  - No call raises SIGPIPE: a write to a peer that went away is
 *    WV_EPIPE (sends use MSG_NOSIGNAL; sendfile and splice block the
 *    signal around the call and take back the one they raised).
 *  - The end of a stream is WV_EOF (docs/conventions.md): recv returns
 *    WV_EOF once the peer shut down its side in order and everything it
 *    sent was read.  A peer that reset the connection is WV_ECONNRESET,
 *    a distinct code.  Sends after the peer went are WV_EPIPE (a reset
 *    the send meets is WV_ECONNRESET).
 *  - A socket is used by one party at a time per direction: one reader
 *    and one writer may work at once (from two coroutines of a thread, or
 *    two threads); two readers of one socket is the caller's bug
 *    (wv_fdwait's WV_EBUSY tells two coroutines of one thread).
 *  - Unix-domain addresses: a path, or a Linux abstract name written with
 *    a leading '@' ("@weave-test" is the abstract name "\0weave-test"), as
 *    ss(8) prints them.  A path that starts with '@' cannot be named that
 *    way: pass "./@name".
 *
 * A call that makes a socket or a list (an `out` pointer) sets it only on
 * success: on error *out is untouched and nothing was left open.
 *
 * Errors every socket call may return besides those listed per call:
 * WV_EINVAL (a NULL object or pointer, a bad deadline when the call must
 * wait), WV_EBADF (a socket closed with wv_sock_close), WV_ECANCELED (a
 * cancelled coroutine, when the call would have to wait), WV_ENOMEM, and
 * the wv_fdwait errors of the thread's loop (WV_EMFILE, WV_ENOSPC...).
 */
#ifndef WEAVE_NET_H
#define WEAVE_NET_H

#include "weave/core.h"

#include <netdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* -------------------------------------------------------------- addresses */

/* A socket address of any family, by value: what accept, recvfrom and
 * the address getters fill, and what connect, bind and sendto take. */
typedef struct wv_addr {
    struct sockaddr_storage storage; /* the address (AF_INET, AF_INET6,
                                        AF_UNIX) */
    socklen_t len;                   /* its length; 0: no address */
} wv_addr_t;

/* Room wv_addr_format needs for any address, with its NUL. */
#define WV_ADDR_STRLEN 128

/*
 * Fills *out with the numeric IPv4 or IPv6 address `ip` ("127.0.0.1",
 * "::1", "fe80::1%eth0") and `port`.  Never resolves a name and never
 * waits.  Errors: WV_EINVAL (out or ip NULL, ip not a numeric address).
 */
WV_EXTERN int wv_addr_from_ip(wv_addr_t *out, const char *ip, uint16_t port);

/*
 * Fills *out with the Unix-domain address `path`; "@name" is the Linux
 * abstract name "name" (see the model above).  Errors: WV_EINVAL (out or
 * path NULL, path empty), WV_ENAMETOOLONG (longer than sun_path holds).
 */
WV_EXTERN int wv_addr_from_unix(wv_addr_t *out, const char *path);

/*
 * Writes a as text into buf (cap bytes, WV_ADDR_STRLEN always enough):
 * "127.0.0.1:80", "[::1]:8080", a Unix path, "@name" for an abstract
 * name, "" for an unnamed Unix socket.  Returns the text's length (without
 * the NUL); WV_EINVAL (a or buf NULL, an unknown family), WV_ENOSPC (cap
 * too small: buf holds a truncated, NUL-ended text if cap > 0).
 */
WV_EXTERN int wv_addr_format(const wv_addr_t *a, char *buf, size_t cap);

/* The address family (AF_INET...), AF_UNSPEC (0) for NULL or empty. */
WV_EXTERN int wv_addr_family(const wv_addr_t *a);

/* The port of an IPv4 or IPv6 address; 0 for anything else or NULL. */
WV_EXTERN uint16_t wv_addr_port(const wv_addr_t *a);

/* ------------------------------------------------------ name resolution */

/* One resolved address; a result is a list in getaddrinfo's order (for
 * wv_getaddrinfo) in one allocation. */
typedef struct wv_addrinfo {
    struct wv_addrinfo *next; /* the next address, NULL at the end */
    int family;               /* AF_INET or AF_INET6 (or hints') */
    int socktype;             /* SOCK_STREAM, SOCK_DGRAM... */
    int protocol;             /* IPPROTO_TCP... */
    wv_addr_t addr;           /* the address with its port */
    const char *canonname;    /* AI_CANONNAME's answer on the first entry,
                                 NULL elsewhere */
} wv_addrinfo_t;

/*
 * getaddrinfo(3) with a deadline, that never blocks a coroutine's
 * thread: a numeric host (or a NULL one, with a numeric or NULL service)
 * is resolved in the calling thread at once; a name is resolved by
 * getaddrinfo on one of weave's resolver threads while the caller waits
 * (parks, from a coroutine).  If the deadline passes first the call
 * returns WV_ETIMEDOUT at once and the resolver thread drops its answer
 * when it comes.  hints is getaddrinfo's (ai_family, ai_socktype,
 * ai_protocol, ai_flags; NULL: any family, any type, no flags, as
 * Python's socket.getaddrinfo).
 * On success *out is a list the caller frees with wv_addrinfo_free.
 * Errors: WV_EINVAL (out NULL, both host and service NULL, bad hints: a
 * family or socket type getaddrinfo refuses), WV_EAI_NONAME (no such
 * name or service, or no address of the asked family), WV_EAI_AGAIN (no
 * answer from the name servers: try later), WV_EAI_FAIL (a name server
 * refused for good), WV_ETIMEDOUT, WV_EAGAIN (deadline 0 and a thread
 * would be needed), WV_ECANCELED, WV_ENOMEM, other -errno (from the
 * system, e.g. WV_EMFILE).  *out is untouched on error.
 */
WV_EXTERN int wv_getaddrinfo(wv_addrinfo_t **out, const struct addrinfo *hints,
                             const char *host, const char *service,
                             int64_t deadline);

/* Frees a list wv_getaddrinfo made.  NULL: no-op. */
WV_EXTERN void wv_addrinfo_free(wv_addrinfo_t *ai);

/* -------------------------------------------------------- the socket */

typedef struct wv_sock wv_sock_t;

/*
 * Adopts fd, a socket of any family and type: sets it non-blocking and
 * close-on-exec, and returns a handle owning it (wv_sock_free closes it).
 * Errors: WV_EINVAL (out NULL), WV_EBADF (fd not open), WV_ENOTSOCK,
 * WV_ENOMEM; on error fd stays the caller's, unchanged.
 */
WV_EXTERN int wv_sock_adopt(wv_sock_t **out, int fd);

/*
 * A connected pair of Unix-domain sockets (socketpair(2)); type is
 * SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET.  Errors: WV_EINVAL (a or b
 * NULL, bad type), WV_EMFILE, WV_ENFILE, WV_ENOMEM.
 */
WV_EXTERN int wv_sock_pair(wv_sock_t **a, wv_sock_t **b, int type);

/* The descriptor (still owned by s); WV_EINVAL for NULL, WV_EBADF after
 * wv_sock_close. */
WV_EXTERN int wv_sock_fd(const wv_sock_t *s);

/*
 * Closes the descriptor now ("close this end"); the handle stays valid
 * until wv_sock_free and every call on it but free returns WV_EBADF.
 * Not while another party waits on the socket.  Returns 0 (also when
 * already closed), WV_EINVAL for NULL.
 */
WV_EXTERN int wv_sock_close(wv_sock_t *s);

/* Closes the descriptor (if still open) and frees the handle.  NULL:
 * no-op. */
WV_EXTERN void wv_sock_free(wv_sock_t *s);

/* The socket's own address (getsockname) and its peer's (getpeername).
 * Errors: WV_EINVAL, WV_EBADF, WV_ENOTCONN (peer: not connected). */
WV_EXTERN int wv_sock_local_addr(const wv_sock_t *s, wv_addr_t *out);
WV_EXTERN int wv_sock_peer_addr(const wv_sock_t *s, wv_addr_t *out);

/* ---------------------------------------------------- connect and listen */

typedef struct wv_connect_opts {
    /* Bind to this local address first (NULL: any). */
    const wv_addr_t *local;
    /* wv_tcp_connect: the family to resolve (AF_UNSPEC, 0: both). */
    int family;
    /* wv_tcp_connect: milliseconds before the next address is tried while
     * earlier attempts are pending (RFC 8305's "Connection Attempt
     * Delay"); 0: 250. */
    int attempt_delay_ms;
} wv_connect_opts_t;

/*
 * Connects a stream socket to addr (TCP for IPv4 and IPv6, a Unix stream
 * socket for AF_UNIX).  TCP sockets get TCP_NODELAY, as asyncio's.  opts
 * may be NULL.  Errors: WV_EINVAL (out or addr NULL, empty address),
 * WV_ECONNREFUSED, WV_ENETUNREACH, WV_EHOSTUNREACH, WV_ENOENT (no such
 * Unix path), WV_EAFNOSUPPORT, WV_EADDRINUSE (local), WV_ETIMEDOUT,
 * WV_EAGAIN (deadline 0 and the connection would take time: nothing is
 * left behind), other -errno of socket(2) and connect(2).
 */
WV_EXTERN int wv_sock_connect(wv_sock_t **out, const wv_connect_opts_t *opts,
                              const wv_addr_t *addr, int64_t deadline);

/*
 * Connects to host (a name or a numeric address) and port, Python's
 * socket.create_connection with RFC 8305 "Happy Eyeballs": host is
 * resolved (wv_getaddrinfo, within the deadline), its addresses are
 * ordered IPv6 and IPv4 interleaved (the first family first), and tried
 * in turn: the next attempt starts when one fails, or attempt_delay_ms
 * after the last one started while earlier ones are still pending.  The
 * first connection made wins; every other attempt is closed.  One
 * deadline covers all of it.  The socket gets TCP_NODELAY.
 * Errors: those of wv_getaddrinfo and wv_sock_connect; when every
 * attempt failed, the error of the last one that failed.
 */
WV_EXTERN int wv_tcp_connect(wv_sock_t **out, const wv_connect_opts_t *opts,
                             const char *host, uint16_t port, int64_t deadline);

typedef struct wv_listen_opts {
    /* listen(2)'s backlog; 0: SOMAXCONN. */
    int backlog;
    /* SO_REUSEPORT: several sockets share the address (off). */
    bool reuseport;
    /* true: do not set SO_REUSEADDR (on by default for TCP, as asyncio
     * does: a restarted server can bind at once). */
    bool exclusive;
    /* IPv6 sockets: IPV6_V6ONLY (off: "::" takes IPv4 too). */
    bool v6only;
} wv_listen_opts_t;

/*
 * A listening stream socket bound to addr (TCP, or a Unix path or
 * abstract name; an existing file at the path is not removed: EADDRINUSE).
 * Port 0 picks a free port: wv_sock_local_addr tells which.  opts may be
 * NULL.  Errors: WV_EINVAL (out or addr NULL, empty address),
 * WV_EADDRINUSE, WV_EADDRNOTAVAIL, WV_EACCES, WV_EAFNOSUPPORT, other
 * -errno of socket(2), bind(2), listen(2).
 */
WV_EXTERN int wv_sock_listen(wv_sock_t **out, const wv_listen_opts_t *opts,
                             const wv_addr_t *addr);

/*
 * Accepts a connection on the listening socket l (accept4 with
 * SOCK_NONBLOCK | SOCK_CLOEXEC): *out is its socket (TCP: TCP_NODELAY
 * set), *peer (may be NULL) the peer's address.  Errors: WV_ETIMEDOUT,
 * WV_EAGAIN (deadline 0, nobody waiting), WV_EMFILE, WV_ENFILE,
 * WV_ECONNABORTED, WV_EINVAL (l not listening), other -errno.
 */
WV_EXTERN int wv_sock_accept(wv_sock_t *l, wv_sock_t **out, wv_addr_t *peer,
                             int64_t deadline);

/*
 * Shuts down one direction or both: SHUT_WR sends the peer an orderly
 * end (its recv gets WV_EOF) while this side still reads; SHUT_RD.
 * Errors: WV_EINVAL (bad how), WV_ENOTCONN, WV_EBADF.
 */
WV_EXTERN int wv_sock_shutdown(wv_sock_t *s, int how);

/* ----------------------------------------------------------------- I/O */

/*
 * Sends some of buf[0..len): waits until the socket takes at least one
 * byte (or the deadline), sends what it takes.  0 with *sent (> 0 unless
 * len is 0) set.  Errors: WV_EPIPE (the peer went away), WV_ECONNRESET,
 * WV_ETIMEDOUT, WV_EAGAIN (deadline 0, no room), WV_EMSGSIZE (a datagram
 * too long), other -errno of send(2).
 */
WV_EXTERN int wv_sock_send(wv_sock_t *s, const void *buf, size_t len,
                           size_t *sent, int64_t deadline);

/*
 * Sends all of buf[0..len), waiting as needed: Python's sendall.  0 once
 * all went.  On error (those of wv_sock_send; WV_ETIMEDOUT or WV_EAGAIN
 * when the deadline came first) *sent (may be NULL) says how much went.
 */
WV_EXTERN int wv_sock_sendall(wv_sock_t *s, const void *buf, size_t len,
                              size_t *sent, int64_t deadline);

/*
 * Receives up to cap bytes: waits until some are there (or the
 * deadline).  0 with *got (>= 1 on stream sockets) set.  Stream sockets:
 * WV_EOF once the peer shut down its writing side and all was read;
 * WV_ECONNRESET if it reset the connection.  Datagram sockets: one
 * datagram (an empty one is *got 0; a longer one than cap is cut, the
 * rest discarded).  cap 0: returns 0 with *got 0 at once.  Errors:
 * WV_EOF, WV_ECONNRESET, WV_ETIMEDOUT, WV_EAGAIN (deadline 0, nothing
 * there), WV_ENOTCONN, WV_ECONNREFUSED (a connected UDP socket whose
 * peer's port is closed), other -errno of recv(2).
 */
WV_EXTERN int wv_sock_recv(wv_sock_t *s, void *buf, size_t cap, size_t *got,
                           int64_t deadline);

/*
 * Sends a datagram to `to` (NULL: the connected peer): whole or not at
 * all.  Errors: those of wv_sock_send; WV_EMSGSIZE (too long).
 */
WV_EXTERN int wv_sock_sendto(wv_sock_t *s, const void *buf, size_t len,
                             const wv_addr_t *to, int64_t deadline);

/*
 * Receives one datagram (as wv_sock_recv) and its sender's address into
 * *from (may be NULL).  Errors: those of wv_sock_recv.
 */
WV_EXTERN int wv_sock_recvfrom(wv_sock_t *s, void *buf, size_t cap, size_t *got,
                               wv_addr_t *from, int64_t deadline);

/* Most descriptors one wv_sock_send_fds passes. */
#define WV_SOCK_MAX_FDS 64

/*
 * Unix-domain sockets: sends all of buf[0..len) (len >= 1) with the
 * descriptors fds[0..nfds) attached to its first byte (SCM_RIGHTS; the
 * caller keeps its own copies).  Returns as wv_sock_sendall; a failure
 * before the first byte went sent no descriptor.  Errors: those of
 * wv_sock_sendall; WV_EINVAL (len 0, nfds over WV_SOCK_MAX_FDS, fds NULL
 * with nfds > 0), WV_EBADF (a descriptor not open).
 */
WV_EXTERN int wv_sock_send_fds(wv_sock_t *s, const void *buf, size_t len,
                               const int *fds, size_t nfds, size_t *sent,
                               int64_t deadline);

/*
 * Unix-domain sockets: receives as wv_sock_recv, and the descriptors
 * that came with the bytes (close-on-exec, the caller's to close) into
 * fds[0..*nfds); *nfds is the room on entry and how many came on return.
 * If more came than fit, or the kernel dropped some (MSG_CTRUNC: the
 * receiver out of descriptors), every one that arrived is closed and the
 * call returns WV_EMSGSIZE with *got still saying how many bytes were
 * read (they are consumed) and *nfds 0.  Errors: those of wv_sock_recv,
 * WV_EMSGSIZE.
 */
WV_EXTERN int wv_sock_recv_fds(wv_sock_t *s, void *buf, size_t cap, size_t *got,
                               int *fds, size_t *nfds, int64_t deadline);

/*
 * Sends count bytes of file_fd from offset to the stream socket s without
 * copying them through user space (sendfile(2)); offset < 0: from the
 * file's current position, which advances.  Where sendfile refuses the
 * descriptor (a pipe, a socket...), a pipe read from its position
 * (offset < 0) is spliced (splice(2)) into the socket, anything else
 * read (pread(2) at offset, if given) and sent; SIGPIPE is never raised
 * (see the model above).  0 once count bytes went; on error *sent
 * (may be NULL) says how many did.  Errors: WV_EOF (the file ended
 * first), WV_EPIPE, WV_ECONNRESET, WV_ETIMEDOUT, WV_EAGAIN (deadline 0,
 * no room), WV_EBADF (file_fd), WV_EINVAL, other -errno of sendfile(2),
 * read(2).
 */
WV_EXTERN int wv_sock_sendfile(wv_sock_t *s, int file_fd, int64_t offset,
                               size_t count, size_t *sent, int64_t deadline);

/* ------------------------------------------------------------------ UDP */

typedef struct wv_udp_opts {
    /* The family when neither local nor remote is given (0: AF_INET). */
    int family;
    /* SO_REUSEADDR and SO_REUSEPORT (several receivers of one multicast
     * group and port). */
    bool reuse;
    /* SO_BROADCAST. */
    bool broadcast;
} wv_udp_opts_t;

/*
 * A UDP socket, asyncio's create_datagram_endpoint: bound to local (NULL:
 * an ephemeral port when first used), connected to remote (NULL: none;
 * then wv_sock_sendto names each destination).  opts may be NULL.
 * Errors: WV_EINVAL (out NULL, local and remote of different families),
 * WV_EADDRINUSE, WV_EADDRNOTAVAIL, WV_EAFNOSUPPORT, other -errno.
 */
WV_EXTERN int wv_udp_new(wv_sock_t **out, const wv_udp_opts_t *opts,
                         const wv_addr_t *local, const wv_addr_t *remote);

/*
 * Joins (leaves) the multicast group `group` (an IPv4 or IPv6 address;
 * its port is ignored) on the interface ifindex (0: the kernel's
 * choice).  Errors: WV_EINVAL (NULL, not a multicast address, a family
 * other than s's), WV_EADDRINUSE (already joined), WV_EADDRNOTAVAIL
 * (leave: not joined), other -errno of setsockopt(2) (ENODEV: no such
 * interface).
 */
WV_EXTERN int wv_sock_join_group(wv_sock_t *s, const wv_addr_t *group,
                                 unsigned ifindex);
WV_EXTERN int wv_sock_leave_group(wv_sock_t *s, const wv_addr_t *group,
                                  unsigned ifindex);

/* -------------------------------------------------------------- options */

/*
 * Socket options, each one setsockopt(2) (for anything else:
 * wv_sock_fd).  Errors: WV_EINVAL (NULL, a bad value), WV_EBADF, other -errno
 * of setsockopt(2) (ENOPROTOOPT, EOPNOTSUPP: a TCP option on a Unix
 * socket...).
 *  - nodelay: TCP_NODELAY (on by default on connected TCP sockets).
 *  - keepalive: SO_KEEPALIVE, and when on, TCP_KEEPIDLE, TCP_KEEPINTVL
 *    and TCP_KEEPCNT (each 0: the system's default).
 *  - reuseaddr, reuseport: SO_REUSEADDR, SO_REUSEPORT (before a bind).
 *  - sndbuf, rcvbuf: SO_SNDBUF, SO_RCVBUF in bytes (the kernel doubles
 *    them, as it says in socket(7)).
 *  - broadcast: SO_BROADCAST (UDP).
 */
WV_EXTERN int wv_sock_set_nodelay(wv_sock_t *s, bool on);
WV_EXTERN int wv_sock_set_keepalive(wv_sock_t *s, bool on, int idle_s,
                                    int interval_s, int count);
WV_EXTERN int wv_sock_set_reuseaddr(wv_sock_t *s, bool on);
WV_EXTERN int wv_sock_set_reuseport(wv_sock_t *s, bool on);
WV_EXTERN int wv_sock_set_sndbuf(wv_sock_t *s, int bytes);
WV_EXTERN int wv_sock_set_rcvbuf(wv_sock_t *s, int bytes);
WV_EXTERN int wv_sock_set_broadcast(wv_sock_t *s, bool on);

/* ----------------------------------------------------------------- servers */

/*
 * asyncio.start_server: a listener and an accept loop that runs a handler
 * in a coroutine of its own for every connection.
 *
 * The handler gets the connection's socket and the peer's address (valid
 * while it runs); the server owns the socket and frees it when the
 * handler returns (the handler must not free it; it may close it).  A
 * handler runs on the thread whose loop accepted the connection and is
 * cancelled when the server stops past its deadline: its weave calls then
 * return WV_ECANCELED, and it should return.
 */
typedef struct wv_server wv_server_t;
typedef void (*wv_server_fn)(wv_sock_t *conn, const wv_addr_t *peer, void *arg);

typedef struct wv_server_opts {
    /* Where to listen: TCP (IPv4 or IPv6; port 0 picks a free port, see
     * wv_server_addr) or a Unix path or abstract name.  Required.  A
     * path's socket file is removed at the stop, unless it was replaced
     * meanwhile (Python 3.13's cleanup_socket); an existing file at the
     * path is WV_EADDRINUSE, as for wv_sock_listen. */
    const wv_addr_t *addr;
    /* 0: the server's coroutines run on the calling thread's scheduler,
     * which the caller runs (wv_coro_run, or its own coroutines' waits),
     * as asyncio's loop runs start_server's; stop and free it from that
     * thread.  N (at most 1024): N threads of the server's own, each with
     * its scheduler, its acceptor and its handlers; for TCP each has its
     * own SO_REUSEPORT listener on the same address (the kernel spreads
     * the connections), a Unix address is one listener they share. */
    unsigned threads;
    /* At most this many handlers at once (0: no limit); beyond it,
     * connections wait in the listener's backlog until one ends. */
    size_t max_connections;
    /* listen(2)'s backlog; 0: SOMAXCONN. */
    int backlog;
    /* IPv6: IPV6_V6ONLY (off: "::" takes IPv4 too). */
    bool v6only;
    /* The handlers' coroutine stacks (0: the default, wv_coro_opts_t). */
    size_t stack_size;
} wv_server_opts_t;

/*
 * Listens and starts accepting: the loop runs at once on the server's
 * threads (threads > 0), or on the calling thread whenever its scheduler
 * runs (threads == 0).  Running out of descriptors at accept never spins:
 * each loop keeps a spare descriptor, gives it up to accept the queued
 * connection and close it at once (the client sees its connection end;
 * wv_server_shed counts them), as libuv does.  A connection that fails
 * while queued (reset, aborted) is skipped.
 * Errors: WV_EINVAL (out, opts, opts->addr or fn NULL, threads > 1024,
 * max_connections > 2^32 - 1), the errors of wv_sock_listen, WV_ENOMEM,
 * WV_EAGAIN (no thread could be started).  On error nothing is left.
 */
WV_EXTERN int wv_server_new(wv_server_t **out, const wv_server_opts_t *opts,
                            wv_server_fn fn, void *arg);

/* The address the server listens on (with the port picked for port 0).
 * Errors: WV_EINVAL (NULL), WV_EBADF (stopped). */
WV_EXTERN int wv_server_addr(const wv_server_t *s, wv_addr_t *out);

/* Handlers running now; connections handed to a handler so far;
 * connections closed unhandled because no descriptor was left.  0 for
 * NULL. */
WV_EXTERN size_t wv_server_active(const wv_server_t *s);
WV_EXTERN uint64_t wv_server_served(const wv_server_t *s);
WV_EXTERN uint64_t wv_server_shed(const wv_server_t *s);

/*
 * Stops gracefully (asyncio's Server.close + wait_closed, with a
 * deadline): stops accepting and closes the listeners (connections still
 * queued are reset), waits for the running handlers until the deadline,
 * then cancels those left and waits for them to return.  Returns 0 (every
 * handler ended by itself), WV_ETIMEDOUT (some were cancelled; all have
 * returned), WV_ECANCELED (the calling coroutine was cancelled: the
 * handlers were left running; stop or free again), WV_EINVAL (NULL, bad
 * deadline).  A second stop returns 0.  Not from one of the server's own
 * handlers (it would wait for itself).
 */
WV_EXTERN int wv_server_stop(wv_server_t *s, int64_t deadline);

/* Stops it (deadline 0: running handlers are cancelled at once) unless
 * stopped, joins its threads and frees it.  NULL: no-op. */
WV_EXTERN void wv_server_free(wv_server_t *s);

#ifdef __cplusplus
}
#endif

#endif /* WEAVE_NET_H */

/*
 * net/internal.h - what the files of the socket layer share, and the
 * hooks its tests use.
 */
#ifndef WV_NET_INTERNAL_H
#define WV_NET_INTERNAL_H

#include "../core/internal.h"
#include "../core/io.h"
#include "weave/net.h"

#include <netdb.h>
#include <poll.h>

/* The handle: one descriptor and what it is, fixed at creation. */
struct wv_sock {
    int fd;       /* owned, non-blocking, close-on-exec; -1 once closed */
    int family;   /* AF_INET, AF_INET6, AF_UNIX... */
    int type;     /* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
    uint64_t reg; /* its loop registration (wv__fd_wait_again) */
};

/* A handle for fd (the caller's until this succeeds).  0 or WV_ENOMEM. */
int wv__sock_wrap(wv_sock_t **out, int fd, int family, int type);

/* socket(2) with SOCK_NONBLOCK | SOCK_CLOEXEC: the descriptor or -errno. */
int wv__socket(int family, int type);

/*
 * Waits until s's descriptor is ready for `events` after a call met
 * EAGAIN: 0 to try again, WV_EAGAIN for deadline 0, WV_ETIMEDOUT,
 * WV_EINVAL (bad deadline), WV_ECANCELED...
 */
int wv__sock_wait(const wv_sock_t *s, short events, int64_t deadline);

/* TCP_NODELAY on an IPv4 or IPv6 stream socket; nothing for others. */
void wv__sock_nodelay(int fd, int family);

/*
 * Connects to the first of addrs[0..n) that answers, RFC 8305's way: an
 * attempt starts when the previous one failed, or `delay_ms` after it
 * started while it is still pending; the first connection made wins and
 * the other attempts are closed.  0 with *fd (TCP_NODELAY set on TCP);
 * the last attempt's error when all failed; WV_ETIMEDOUT; WV_EAGAIN
 * (deadline 0 and an attempt would take time).  n 0: WV_EAI_NONAME.
 * Tests call it with hand-made lists (a blackholed address first).
 */
int wv__connect_addrs(const wv_addr_t *addrs, size_t n, const wv_addr_t *local,
                      int64_t delay_ms, int64_t deadline, int *fd);

/*
 * Test hook: when set, the resolver threads call it instead of
 * getaddrinfo(3) (a test makes a lookup as slow as it needs).
 */
typedef int (*wv__gai_fn)(const char *host, const char *service,
                          const struct addrinfo *hints, struct addrinfo **res);
extern wv__gai_fn wv__gai_hook;

/* Resolver threads alive now (test aid). */
unsigned wv__resolver_threads(void);

#endif /* WV_NET_INTERNAL_H */

/*
 * bench/peers/c/w9_echo_epoll.c - W9's c-epoll echo server (BENCH.md): one
 * thread, level-triggered epoll, each readable connection read once (up to
 * 64 KiB) and what came written back, until SIGTERM (its default action).
 * The lower bound of a readiness-based server: no buffering, no
 * coroutines, one read and one write system call per message.
 *
 *   peer-c-w9-echo-epoll PORT
 *
 * Also the W11 floor's server (peer-c-w9-load pingpong).  A write that
 * takes only part (never seen with 64-byte messages and an empty socket
 * buffer) is finished with blocking poll-and-write: correct, not fast.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF (64 * 1024)

static char buf[BUF];

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static int listen_on(int port)
{
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        die("socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, SOMAXCONN))
        die("bind/listen");
    return fd;
}

/* Writes all of buf[0..n) to the non-blocking fd; false if it failed. */
static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
        } else if (k < 0 && errno == EAGAIN) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            poll(&pfd, 1, -1);
        } else if (!(k < 0 && errno == EINTR)) {
            return 0;
        }
    }
    return 1;
}

static void accept_all(int ep, int l)
{
    for (;;) {
        int one = 1, fd = accept4(l, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0)
            return; /* EAGAIN: none left (or EMFILE: try at the next wake) */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
            close(fd);
    }
}

int main(int argc, char **argv)
{
    struct epoll_event evs[256];

    if (argc != 2)
        return 2;
    int l = listen_on(atoi(argv[1]));
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = l};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev))
        die("epoll");
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == l) {
                accept_all(ep, l);
                continue;
            }
            ssize_t k = read(fd, buf, BUF);
            if (k < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (k <= 0 || !write_all(fd, buf, (size_t)k))
                close(fd); /* the end, or an error: epoll forgets it */
        }
    }
}

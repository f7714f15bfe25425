/*
 * A tiny TCP echo server on wv_fdwait, written by hand with non-blocking
 * sockets, one coroutine per connection (what gevent's StreamServer or an
 * asyncio protocol give Python), exercised by client coroutines on the
 * same thread:
 *
 *     async def handle(reader, writer):
 *         while data := await reader.read(4096):
 *             writer.write(data); await writer.drain()
 *         writer.close()
 *
 * The server listens on 127.0.0.1, port chosen by the kernel.  CLIENTS
 * clients each send MESSAGES lines and check every echo.  One thread does
 * all of it: while one coroutine waits for its socket, the others run.
 */
#include <weave.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CLIENTS  20
#define MESSAGES 50

static const int64_t LIMIT = 20000; /* ms: no wait of this demo lasts longer */
static int served, echoed_ok;

/* Reads up to cap bytes, waiting for the socket: >0 bytes, 0 at the end,
 * or a negative WV_E* code. */
static ssize_t co_read(int fd, void *buf, size_t cap)
{
    for (;;) {
        ssize_t n = read(fd, buf, cap);
        if (n >= 0)
            return n;
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
        int err = wv_fdwait(fd, POLLIN, NULL, wv_deadline_in(LIMIT));
        if (err)
            return err;
    }
}

/* Writes all of buf, waiting for room: 0 or a negative WV_E* code. */
static int co_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return -errno;
        int err = wv_fdwait(fd, POLLOUT, NULL, wv_deadline_in(LIMIT));
        if (err)
            return err;
    }
    return 0;
}

static void *handle(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    ssize_t n;

    while ((n = co_read(fd, buf, sizeof buf)) > 0)
        if (co_write_all(fd, buf, (size_t)n) != 0)
            break;
    close(fd);
    served++;
    return NULL;
}

static void *serve(void *arg)
{
    int lfd = (int)(intptr_t)arg;

    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            if (wv_go(handle, (void *)(intptr_t)fd) != 0)
                close(fd);
            continue;
        }
        if (errno != EAGAIN && errno != EINTR)
            return NULL;
        /* Cancelled (by main, when the clients are done): stop. */
        if (wv_fdwait(lfd, POLLIN, NULL, WV_FOREVER) == WV_ECANCELED)
            return NULL;
    }
}

static struct sockaddr_in server_addr;

static void *client(void *arg)
{
    int id = (int)(intptr_t)arg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int ok = 0;

    if (fd < 0)
        return NULL;
    if (connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr) != 0 &&
        errno == EINPROGRESS)
        wv_fdwait(fd, POLLOUT, NULL, wv_deadline_in(LIMIT));
    for (int m = 0; m < MESSAGES; m++) {
        char line[64], back[64];
        int len = snprintf(line, sizeof line, "client %d message %d\n", id, m);
        size_t got = 0;
        if (co_write_all(fd, line, (size_t)len) != 0)
            break;
        while (got < (size_t)len) {
            ssize_t n = co_read(fd, back + got, (size_t)len - got);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        if (got != (size_t)len || memcmp(line, back, got) != 0)
            break;
        ok++;
    }
    close(fd);
    if (ok == MESSAGES)
        echoed_ok++;
    return NULL;
}

int main(void)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    socklen_t alen = sizeof server_addr;
    wv_coro_t *server;
    wv_group_t *clients;

    server_addr.sin_family = AF_INET;
    server_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 ||
        bind(lfd, (struct sockaddr *)&server_addr, sizeof server_addr) != 0 ||
        listen(lfd, 128) != 0 ||
        getsockname(lfd, (struct sockaddr *)&server_addr, &alen) != 0) {
        perror("listen");
        return 1;
    }
    printf("echo server listening on 127.0.0.1\n");
    if (wv_coro_spawn(&server, NULL, serve, (void *)(intptr_t)lfd) != 0 ||
        wv_group_new(&clients) != 0)
        return 1;
    for (int i = 0; i < CLIENTS; i++)
        if (wv_group_spawn(clients, NULL, client, (void *)(intptr_t)i) != 0)
            return 1;
    int err = wv_group_join(clients, wv_deadline_in(LIMIT));
    wv_group_free(clients);
    wv_coro_cancel(server);
    wv_coro_free(server);
    wv_coro_run(wv_deadline_in(LIMIT)); /* the handlers see their EOFs */
    close(lfd);
    printf("%d clients, %d messages each: %d echoed every line\n", CLIENTS,
           MESSAGES, echoed_ok);
    printf("server closed %d connections\n", served);
    return err == 0 && echoed_ok == CLIENTS && served == CLIENTS ? 0 : 1;
}

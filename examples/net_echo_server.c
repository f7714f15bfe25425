/*
 * The echo server of coro_echo_server.c on weave/net.h: the same
 * coroutine per connection and the same clients on one thread, without
 * a hand-written read/write/accept loop around wv_fdwait:
 *
 *     async def handle(reader, writer):
 *         while data := await reader.read(4096):
 *             writer.write(data); await writer.drain()
 *         writer.close()
 *
 *     server = await asyncio.start_server(handle, "127.0.0.1", 0)
 *     reader, writer = await asyncio.open_connection("localhost", port)
 *
 * Clients connect by name ("localhost": resolved on a resolver thread
 * while this thread runs the others, then Happy Eyeballs over its
 * addresses).  Every call has a deadline; the end of a stream is WV_EOF.
 */
#include <weave.h>

#include <stdio.h>
#include <string.h>

#define CLIENTS  20
#define MESSAGES 50

static const int64_t LIMIT = 20000; /* ms: no wait of this demo lasts longer */
static int served, echoed_ok;
static uint16_t port;

static void *handle(void *arg)
{
    wv_sock_t *c = arg;
    char buf[4096];
    size_t n;

    while (wv_sock_recv(c, buf, sizeof buf, &n, wv_deadline_in(LIMIT)) == 0)
        if (wv_sock_sendall(c, buf, n, NULL, wv_deadline_in(LIMIT)) != 0)
            break;
    wv_sock_free(c);
    served++;
    return NULL;
}

static void *serve(void *arg)
{
    wv_sock_t *l = arg, *c;

    /* Cancelled (by main, when the clients are done): accept returns
     * WV_ECANCELED and the server stops. */
    while (wv_sock_accept(l, &c, NULL, WV_FOREVER) == 0)
        if (wv_go(handle, c) != 0)
            wv_sock_free(c);
    return NULL;
}

/* Reads exactly len bytes: 0 or a WV_E* code. */
static int recv_all(wv_sock_t *s, char *buf, size_t len)
{
    for (size_t got = 0, n; got < len; got += n) {
        int err =
            wv_sock_recv(s, buf + got, len - got, &n, wv_deadline_in(LIMIT));
        if (err)
            return err;
    }
    return 0;
}

static void *client(void *arg)
{
    int id = (int)(intptr_t)arg, ok = 0;
    wv_sock_t *s;

    if (wv_tcp_connect(&s, NULL, "localhost", port, wv_deadline_in(LIMIT)))
        return NULL;
    for (int m = 0; m < MESSAGES; m++) {
        char line[64], back[64];
        int len = snprintf(line, sizeof line, "client %d message %d\n", id, m);
        if (wv_sock_sendall(s, line, (size_t)len, NULL,
                            wv_deadline_in(LIMIT)) != 0 ||
            recv_all(s, back, (size_t)len) != 0 ||
            memcmp(line, back, (size_t)len) != 0)
            break;
        ok++;
    }
    wv_sock_free(s);
    if (ok == MESSAGES)
        echoed_ok++;
    return NULL;
}

int main(void)
{
    wv_addr_t addr;
    wv_sock_t *l;
    wv_coro_t *server;
    wv_group_t *clients;
    char text[WV_ADDR_STRLEN];

    if (wv_addr_from_ip(&addr, "127.0.0.1", 0) != 0 ||
        wv_sock_listen(&l, NULL, &addr) != 0 ||
        wv_sock_local_addr(l, &addr) != 0) {
        fprintf(stderr, "listen failed\n");
        return 1;
    }
    port = wv_addr_port(&addr);
    wv_addr_format(&addr, text, sizeof text);
    printf("echo server listening on %s\n", text);
    if (wv_coro_spawn(&server, NULL, serve, l) != 0 ||
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
    wv_sock_free(l);
    printf("%d clients, %d messages each: %d echoed every line\n", CLIENTS,
           MESSAGES, echoed_ok);
    printf("server closed %d connections\n", served);
    return err == 0 && echoed_ok == CLIENTS && served == CLIENTS ? 0 : 1;
}

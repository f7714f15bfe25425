/*
 * The classic asyncio scene: the response header lines of three sites,
 * fetched at once, one coroutine per site:
 *
 *     async def wget(host):
 *         print('wget %s...' % host)
 *         reader, writer = await asyncio.open_connection(host, 80)
 *         header = 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' % host
 *         writer.write(header.encode('utf-8'))
 *         await writer.drain()
 *         while True:
 *             line = await reader.readline()
 *             if line == b'\r\n':
 *                 break
 *             print('%s header > %s' % (host, line.decode('utf-8').rstrip()))
 *         writer.close()
 *
 *     tasks = [wget(host) for host in
 *              ['www.sina.com.cn', 'www.sohu.com', 'www.163.com']]
 *     loop.run_until_complete(asyncio.wait(tasks))
 *
 * A demo must not depend on the Internet: the three sites are three small
 * HTTP/1.0 servers this program starts itself (wv_server_t on 127.0.0.1,
 * a port each), on the same thread as the clients.  Each client connects
 * to its site's port, sends the Host header of the site's name, prints
 * the header lines with readline until the blank line, then reads the
 * body (Content-Length bytes) and checks it names the site.
 *
 * `net_http_headers --serve` runs one such server alone: it prints its
 * port and serves until its standard input ends.  The test
 * example_net_http_headers_python fetches from it with Python's
 * http.client (examples/http_check.py).
 */
#include <weave.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SITES 3
#define LINE  1024 /* longest request or response line taken */

static const int64_t LIMIT = 20000; /* ms: no wait of this demo lasts longer */
static const char *const names[SITES] = {"www.sina.com.cn", "www.sohu.com",
                                         "www.163.com"};

/* ------------------------------------------------------------ the server */

/* Writes an HTTP/1.0 answer: status line, headers, body. */
static int respond(wv_stream_t *s, const char *status, const char *site,
                   const char *body, int64_t deadline)
{
    char head[512];
    int len = snprintf(head, sizeof head,
                       "HTTP/1.0 %s\r\n"
                       "Server: weave-example\r\n"
                       "Content-Type: text/html; charset=utf-8\r\n"
                       "Content-Length: %zu\r\n"
                       "X-Site: %s\r\n"
                       "Connection: close\r\n"
                       "\r\n",
                       status, strlen(body), site);
    int err = wv_stream_write(s, head, (size_t)len, NULL, deadline);
    if (err == 0)
        err = wv_stream_write(s, body, strlen(body), NULL, deadline);
    return err ? err : wv_stream_drain(s, deadline);
}

/* Reads the request line and the headers up to the blank line; 0 and
 * whether the request was for "/", or a WV_E* code (WV_ELIMIT: a line
 * longer than LINE). */
static int read_request(wv_stream_t *s, bool *root, int64_t deadline)
{
    char line[LINE];
    size_t n;
    int err = wv_stream_readline(s, line, sizeof line, &n, deadline);
    if (err)
        return err;
    *root = n >= 6 && memcmp(line, "GET / ", 6) == 0;
    for (int headers = 0; headers < 100; headers++) {
        if ((err = wv_stream_readline(s, line, sizeof line, &n, deadline)))
            return err;
        if ((n == 2 && line[0] == '\r') || (n == 1 && line[0] == '\n'))
            return 0;
    }
    return WV_ELIMIT;
}

/* One connection: one request, one answer, then the server closes it. */
static void serve_http(wv_sock_t *conn, const wv_addr_t *peer, void *arg)
{
    const char *site = arg;
    int64_t deadline = wv_deadline_in(LIMIT);
    wv_stream_opts_t o = {.borrow_fd = true}; /* the server owns conn */
    wv_stream_t *s;
    bool root = false;
    char body[256];

    (void)peer;
    if (wv_stream_new(&s, &o, wv_sock_fd(conn)) != 0)
        return;
    int err = read_request(s, &root, deadline);
    if (err == 0 && root) {
        snprintf(body, sizeof body, "<h1>%s</h1>\n", site);
        respond(s, "200 OK", site, body, deadline);
    } else if (err == 0) {
        respond(s, "404 Not Found", site, "<h1>not found</h1>\n", deadline);
    } else if (err == WV_ELIMIT) {
        respond(s, "400 Bad Request", site, "<h1>bad request</h1>\n", deadline);
    }
    wv_stream_free(s);
}

static int server_start(wv_server_t **out, const char *site, uint16_t *port)
{
    wv_addr_t addr;
    int err = wv_addr_from_ip(&addr, "127.0.0.1", 0);
    wv_server_opts_t o = {.addr = &addr};

    if (err == 0)
        err = wv_server_new(out, &o, serve_http, (void *)site);
    if (err == 0 && (err = wv_server_addr(*out, &addr)) != 0)
        wv_server_free(*out);
    if (err == 0)
        *port = wv_addr_port(&addr);
    return err;
}

/* ------------------------------------------------------------ the client */

struct site {
    const char *host; /* the name sent as Host */
    uint16_t port;    /* where its server listens */
    bool ok;          /* status 200, the headers and the body as expected */
};

/* Reads the body after the blank line: Content-Length bytes, then the
 * end.  true if it is the site's page. */
static bool body_is_right(wv_stream_t *s, const struct site *site,
                          size_t length, int64_t deadline)
{
    char body[256], want[256], extra;
    size_t n;
    int len = snprintf(want, sizeof want, "<h1>%s</h1>\n", site->host);

    if (length != (size_t)len || length > sizeof body)
        return false;
    if (wv_stream_read_exactly(s, body, length, &n, deadline) != 0)
        return false;
    return memcmp(body, want, length) == 0 &&
           wv_stream_read(s, &extra, 1, &n, deadline) == WV_EOF;
}

static void *wget(void *arg)
{
    struct site *site = arg;
    int64_t deadline = wv_deadline_in(LIMIT);
    wv_stream_opts_t borrow = {.borrow_fd = true}; /* sock keeps its fd */
    wv_sock_t *sock;
    wv_stream_t *s;
    char request[256], line[LINE];
    size_t n, length = 0;
    bool status_ok = false, site_ok = false;

    printf("wget %s...\n", site->host);
    if (wv_tcp_connect(&sock, NULL, "127.0.0.1", site->port, deadline) != 0)
        return NULL;
    if (wv_stream_new(&s, &borrow, wv_sock_fd(sock)) != 0) {
        wv_sock_free(sock);
        return NULL;
    }
    int len = snprintf(request, sizeof request,
                       "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", site->host);
    int err = wv_stream_write(s, request, (size_t)len, NULL, deadline);
    if (err == 0)
        err = wv_stream_drain(s, deadline);
    while (err == 0 && (err = wv_stream_readline(s, line, sizeof line, &n,
                                                 deadline)) == 0) {
        if (n == 2 && memcmp(line, "\r\n", 2) == 0)
            break;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        line[n] = '\0';
        printf("%s header > %s\n", site->host, line);
        status_ok |= strcmp(line, "HTTP/1.0 200 OK") == 0;
        site_ok |= strncmp(line, "X-Site: ", 8) == 0 &&
                   strcmp(line + 8, site->host) == 0;
        if (strncmp(line, "Content-Length: ", 16) == 0)
            length = strtoul(line + 16, NULL, 10);
    }
    site->ok = err == 0 && status_ok && site_ok &&
               body_is_right(s, site, length, deadline);
    wv_stream_free(s);
    wv_sock_free(sock);
    return NULL;
}

/* ------------------------------------------------------------- the modes */

/* --serve: one server, its port on stdout, until stdin ends. */
static int serve_until_stdin_ends(void)
{
    wv_server_t *server;
    uint16_t port;
    char buf[256];
    ssize_t n = 1;

    if (server_start(&server, "localhost", &port) != 0) {
        fprintf(stderr, "cannot start the server\n");
        return 1;
    }
    printf("%u\n", (unsigned)port);
    fflush(stdout);
    /* The thread's own wait runs the server's coroutines meanwhile. */
    while (n > 0) {
        short revents;
        int err = wv_fdwait(STDIN_FILENO, POLLIN, &revents, WV_FOREVER);
        if (err) {
            fprintf(stderr, "stdin: %s\n", wv_strerror(err));
            break;
        }
        n = read(STDIN_FILENO, buf, sizeof buf);
    }
    int err = wv_server_stop(server, wv_deadline_in(LIMIT));
    wv_server_free(server);
    return n == 0 && err == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    wv_server_t *servers[SITES];
    struct site sites[SITES];
    wv_group_t *clients;
    int started = 0, ok = 0, err = 0;

    if (argc > 1 && strcmp(argv[1], "--serve") == 0)
        return serve_until_stdin_ends();
    for (; started < SITES; started++) {
        sites[started] = (struct site){.host = names[started]};
        err = server_start(&servers[started], names[started],
                           &sites[started].port);
        if (err)
            break;
    }
    if (err) {
        fprintf(stderr, "cannot start a server: %s\n", wv_strerror(err));
        goto out_stop;
    }
    if ((err = wv_group_new(&clients)) != 0)
        goto out_stop;
    for (int i = 0; i < SITES && err == 0; i++)
        err = wv_group_spawn(clients, NULL, wget, &sites[i]);
    if (err == 0)
        err = wv_group_join(clients, wv_deadline_in(LIMIT));
    wv_group_free(clients);
out_stop:
    for (int i = 0; i < started; i++) {
        if (wv_server_stop(servers[i], wv_deadline_in(LIMIT)) != 0)
            err = err ? err : WV_ETIMEDOUT;
        wv_server_free(servers[i]);
    }
    for (int i = 0; i < started; i++)
        ok += sites[i].ok;
    printf("%d of %d sites answered 200 with their page\n", ok, SITES);
    return err == 0 && ok == SITES ? 0 : 1;
}

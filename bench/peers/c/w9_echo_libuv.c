/*
 * bench/peers/c/w9_echo_libuv.c - W9's libuv echo server (BENCH.md): one
 * loop, uv_read_start into one static 64 KiB buffer (the alloc callback
 * hands out the same buffer every time: reads are processed before the
 * next one), each read echoed; runs until SIGTERM (its default action).
 *
 *   peer-c-w9-echo-libuv PORT          uv_try_write, then uv_write of a
 *                                      malloc'd copy of what it left
 *   peer-c-w9-echo-libuv PORT copy     uv_write of a malloc'd copy always
 *
 * The first is libuv at its best (BENCH.md, "Peers at their best"): the
 * socket nearly always takes a 64-byte echo at once, so no copy and no
 * write request are made.  The second is BENCH.md's literal definition,
 * kept as the extra row libuv-uv_write-copy: uv_write may complete later,
 * so the bytes must outlive the read buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define BUF (64 * 1024)

static char rbuf[BUF];
static uv_loop_t *loop;
static int always_copy; /* the "copy" variant */

struct wreq {
    uv_write_t req;
    uv_buf_t buf;
};

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)h;
    (void)hint;
    *b = uv_buf_init(rbuf, BUF);
}

static void on_close(uv_handle_t *h)
{
    free(h);
}

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    if (status < 0 && !uv_is_closing((uv_handle_t *)req->handle))
        uv_close((uv_handle_t *)req->handle, on_close);
    free(w->buf.base);
    free(w);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    if (n < 0) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (n == 0)
        return;
    size_t done = 0;
    if (!always_copy) {
        uv_buf_t now = uv_buf_init(b->base, (unsigned)n);
        int r = uv_try_write(s, &now, 1);
        if (r == n)
            return;
        if (r > 0)
            done = (size_t)r;
        else if (r != UV_EAGAIN) {
            uv_close((uv_handle_t *)s, on_close);
            return;
        }
    }
    struct wreq *w = malloc(sizeof *w);
    char *copy = malloc((size_t)n - done);
    if (!w || !copy)
        abort();
    memcpy(copy, b->base + done, (size_t)n - done);
    w->buf = uv_buf_init(copy, (unsigned)((size_t)n - done));
    if (uv_write(&w->req, s, &w->buf, 1, on_write) != 0)
        abort();
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    uv_tcp_t *c = malloc(sizeof *c);
    if (!c)
        abort();
    uv_tcp_init(loop, c);
    if (uv_accept(server, (uv_stream_t *)c) != 0) {
        uv_close((uv_handle_t *)c, on_close);
        return;
    }
    uv_tcp_nodelay(c, 1);
    uv_read_start((uv_stream_t *)c, on_alloc, on_read);
}

int main(int argc, char **argv)
{
    uv_tcp_t server;
    struct sockaddr_in addr;

    if (argc != 2 && !(argc == 3 && strcmp(argv[2], "copy") == 0))
        return 2;
    always_copy = argc == 3;
    loop = uv_default_loop();
    uv_tcp_init(loop, &server);
    uv_ip4_addr("127.0.0.1", atoi(argv[1]), &addr);
    if (uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0) != 0 ||
        uv_listen((uv_stream_t *)&server, SOMAXCONN, on_connection) != 0) {
        fprintf(stderr, "libuv: cannot listen\n");
        return 1;
    }
    return uv_run(loop, UV_RUN_DEFAULT);
}

/*
 * A UDP ping: a server that answers each datagram with the same bytes,
 * and a client that sends PINGS numbered pings, waits for each reply with
 * a deadline of its own, and prints the round trips as ping(8) does:
 *
 *     class Echo(asyncio.DatagramProtocol):
 *         def connection_made(self, transport):
 *             self.transport = transport
 *         def datagram_received(self, data, addr):
 *             self.transport.sendto(data, addr)
 *
 *     server, _ = await loop.create_datagram_endpoint(
 *         Echo, local_addr=("127.0.0.1", 0))
 *     for seq in range(PINGS):
 *         t0 = time.perf_counter()
 *         client.sendto(b"ping %d" % seq)
 *         reply = await asyncio.wait_for(replies.get(), 1.0)
 *         ms = (time.perf_counter() - t0) * 1e3
 *         print("seq=%d time=%.3f ms" % (seq, ms))
 *
 * Both run as coroutines of one thread.  The client's socket is connected
 * to the server (wv_udp_new with a remote address), so it sends with
 * wv_sock_send and receives only the server's datagrams; the server's is
 * not, and answers each sender at the address recvfrom gave.  A reply
 * whose sequence number is not the one awaited (a late answer to an
 * earlier ping) is dropped and the wait goes on, within the same deadline.
 * The program checks that every ping was answered with its own bytes.
 */
#include <weave.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PINGS 10

static const int64_t LIMIT = 20000; /* ms: no wait of this demo lasts longer */
static const int64_t PING_DEADLINE = 1000; /* ms for each reply */

static void *echo_server(void *arg)
{
    wv_sock_t *s = arg;
    char buf[1500];
    size_t n;
    wv_addr_t from;

    /* Cancelled by main once the client is done: recvfrom answers
     * WV_ECANCELED. */
    while (wv_sock_recvfrom(s, buf, sizeof buf, &n, &from, WV_FOREVER) == 0)
        if (wv_sock_sendto(s, buf, n, &from, wv_deadline_in(LIMIT)) != 0)
            break;
    return NULL;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

struct stats {
    int sent, received;
    double min, max, sum; /* round trips in ms */
};

/* Waits for the reply to `want` (len bytes) until the deadline: 0, or
 * the WV_E* code of the wait. */
static int await_reply(wv_sock_t *s, const char *want, size_t len,
                       int64_t deadline)
{
    char buf[64];
    size_t n;

    for (;;) {
        int err = wv_sock_recv(s, buf, sizeof buf, &n, deadline);
        if (err)
            return err;
        if (n == len && memcmp(buf, want, len) == 0)
            return 0;
        printf("dropped a stray reply (%zu bytes)\n", n);
    }
}

static void ping(wv_sock_t *s, int seq, struct stats *st)
{
    char msg[64];
    int len = snprintf(msg, sizeof msg, "ping %d", seq);
    double t0 = now_ms();

    if (wv_sock_send(s, msg, (size_t)len, NULL, wv_deadline_in(LIMIT)) != 0) {
        printf("seq=%d: send failed\n", seq);
        return;
    }
    st->sent++;
    int err = await_reply(s, msg, (size_t)len, wv_deadline_in(PING_DEADLINE));
    if (err) {
        printf("seq=%d: no reply (%s)\n", seq, wv_err_name(err));
        return;
    }
    double rtt = now_ms() - t0;
    printf("%d bytes from server: seq=%d time=%.3f ms\n", len, seq, rtt);
    st->received++;
    st->sum += rtt;
    st->min = st->received == 1 || rtt < st->min ? rtt : st->min;
    st->max = rtt > st->max ? rtt : st->max;
}

static void *client(void *arg)
{
    const wv_addr_t *server = arg;
    struct stats *st = calloc(1, sizeof *st);
    wv_sock_t *s;

    if (!st)
        return NULL;
    if (wv_udp_new(&s, NULL, NULL, server) != 0) {
        free(st);
        return NULL;
    }
    for (int seq = 0; seq < PINGS; seq++)
        ping(s, seq, st);
    wv_sock_free(s);
    return st;
}

int main(void)
{
    wv_addr_t addr;
    wv_sock_t *s;
    wv_coro_t *server, *pinger;
    struct stats *st = NULL;
    char text[WV_ADDR_STRLEN];

    if (wv_addr_from_ip(&addr, "127.0.0.1", 0) != 0 ||
        wv_udp_new(&s, NULL, &addr, NULL) != 0)
        return 1;
    if (wv_sock_local_addr(s, &addr) != 0 ||
        wv_coro_spawn(&server, NULL, echo_server, s) != 0) {
        wv_sock_free(s);
        return 1;
    }
    wv_addr_format(&addr, text, sizeof text);
    printf("PING %s: %d pings\n", text, PINGS);
    int err = wv_coro_spawn(&pinger, NULL, client, &addr);
    if (err == 0) {
        err = wv_coro_join(pinger, (void **)&st, wv_deadline_in(LIMIT));
        wv_coro_free(pinger);
    }
    wv_coro_cancel(server);
    wv_coro_free(server);
    wv_sock_free(s);
    if (err || !st) {
        printf("the client failed: %s\n", err ? wv_err_name(err) : "ENOMEM");
        free(st);
        return 1;
    }
    int lost = st->sent - st->received;
    printf("%d packets transmitted, %d received, %d%% packet loss\n", st->sent,
           st->received, st->sent ? 100 * lost / st->sent : 100);
    if (st->received)
        printf("rtt min/avg/max = %.3f/%.3f/%.3f ms\n", st->min,
               st->sum / st->received, st->max);
    bool ok = st->sent == PINGS && st->received == PINGS;
    free(st);
    return ok ? 0 : 1;
}

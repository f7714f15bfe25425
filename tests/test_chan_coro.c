/*
 * tests/test_chan_coro.c - channels between coroutines, and between
 * coroutines and threads, through the coroutine scheduler.
 *
 * A coroutine of the test's thread runs when the thread blocks in weave
 * (a join): joining with a short deadline runs it until it parks.
 */
#include "coro/internal.h"
#include "runner.h"
#include "test_chan.h"

#include <stdlib.h>
#include <string.h>

static unsigned waiting(wv_chan_t *ch)
{
    return wv__chan_waiting(ch, WV_CHAN_SEND) +
           wv__chan_waiting(ch, WV_CHAN_RECV);
}

static void *result(int err)
{
    return (void *)(intptr_t)err;
}

static int join(wv_coro_t *co)
{
    void *res = result(1);
    WVT_OK(wv_coro_join(co, &res, wv_deadline_in(30000)));
    wv_coro_free(co);
    return (int)(intptr_t)res;
}

/* Runs the coroutines of this thread until co parks (it has not
 * returned after 20 ms of the thread being idle). */
static void run_until_parked(wv_coro_t *co)
{
    WVT_ERR(wv_coro_join(co, NULL, wv_deadline_in(20)), WV_ETIMEDOUT);
}

/* ------------------------------------------------------------ ping-pong */

struct pingpong {
    wv_chan_t *ping, *pong;
    long rounds;
    bool select; /* the ponger waits in a select */
};

static void *pinger(void *arg)
{
    struct pingpong *pp = arg;
    for (long i = 0; i < pp->rounds; i++) {
        long v = i;
        int err = wv_chan_send(pp->ping, &v, WV_FOREVER);
        if (!err)
            err = wv_chan_recv(pp->pong, &v, WV_FOREVER);
        if (err)
            return result(err);
        WVT_EQ(v, i + 1);
    }
    return result(0);
}

static void *ponger(void *arg)
{
    struct pingpong *pp = arg;
    for (long i = 0; i < pp->rounds; i++) {
        long v = -1, never;
        int err;
        if (pp->select) {
            wv_chan_case_t c[2] = {
                {.ch = pp->pong, .op = WV_CHAN_RECV, .val = &never},
                {.ch = pp->ping, .op = WV_CHAN_RECV, .val = &v},
            };
            err = wv_chan_select(c, 2, WV_FOREVER);
            WVT_EQ(err, 1);
            err = c[1].err;
        } else {
            err = wv_chan_recv(pp->ping, &v, WV_FOREVER);
        }
        if (err)
            return result(err);
        WVT_EQ(v, i);
        v++;
        if ((err = wv_chan_send(pp->pong, &v, WV_FOREVER)) != 0)
            return result(err);
    }
    return result(0);
}

WVT_TEST(chan_coro_ping_pong_on_one_thread)
{
    for (int sel = 0; sel < 2; sel++) {
        struct pingpong pp = {chan_make(sizeof(long), 0),
                              chan_make(sizeof(long), 0), wvt_scale(50000),
                              sel};
        wv_coro_t *a, *b;
        WVT_OK(wv_coro_spawn(&a, NULL, pinger, &pp));
        WVT_OK(wv_coro_spawn(&b, NULL, ponger, &pp));
        WVT_OK(join(a));
        WVT_OK(join(b));
        WVT_EQ(waiting(pp.ping) + waiting(pp.pong), 0);
        wv_chan_free(pp.ping);
        wv_chan_free(pp.pong);
    }
    WVT_OK(wv_coro_run(WV_FOREVER));
}

/* ------------------------------------------------ producers, consumers */

#define PC_PRODUCERS 4
#define PC_CONSUMERS 4

struct pc {
    wv_chan_t *ch;
    wv_chan_t *done; /* each producer reports its end here */
    long per_producer;
    int next_producer;
    unsigned char *seen;
    long received;
};

static void *pc_producer(void *arg)
{
    struct pc *p = arg;
    long base = p->next_producer++ * p->per_producer;
    for (long i = 1; i <= p->per_producer; i++) {
        long id = base + i;
        WVT_OK(wv_chan_send(p->ch, &id, WV_FOREVER));
    }
    WVT_OK(wv_chan_send(p->done, NULL, WV_FOREVER));
    return NULL;
}

static void *pc_consumer(void *arg)
{
    struct pc *p = arg;
    long id;
    int err;
    while ((err = wv_chan_recv(p->ch, &id, WV_FOREVER)) == 0) {
        WVT_GT(id, 0);
        WVT_LE(id, PC_PRODUCERS * p->per_producer);
        p->seen[id]++;
        p->received++;
    }
    WVT_ERR(err, WV_EPIPE);
    return NULL;
}

static void *pc_closer(void *arg)
{
    struct pc *p = arg;
    for (int i = 0; i < PC_PRODUCERS; i++)
        WVT_OK(wv_chan_recv(p->done, NULL, WV_FOREVER));
    WVT_OK(wv_chan_close(p->ch));
    return NULL;
}

WVT_TEST(chan_coro_producers_and_consumers)
{
    static const size_t caps[] = {0, 1, 8};
    for (size_t ci = 0; ci < sizeof caps / sizeof *caps; ci++) {
        struct pc p = {.ch = chan_make(sizeof(long), caps[ci]),
                       .done = chan_make(0, 0),
                       .per_producer = wvt_scale(5000)};
        long ids = PC_PRODUCERS * p.per_producer + 1;
        p.seen = calloc((size_t)ids, 1);
        WVT_ASSERT(p.seen);
        for (int i = 0; i < PC_CONSUMERS; i++)
            WVT_OK(wv_go(pc_consumer, &p));
        WVT_OK(wv_go(pc_closer, &p));
        for (int i = 0; i < PC_PRODUCERS; i++)
            WVT_OK(wv_go(pc_producer, &p));
        WVT_OK(wv_coro_run(WV_FOREVER));
        WVT_EQ(p.received, ids - 1);
        for (long id = 1; id < ids; id++)
            WVT_EQ(p.seen[id], 1);
        free(p.seen);
        wv_chan_free(p.ch);
        wv_chan_free(p.done);
    }
}

/* -------------------------------------------------------- cancellation */

struct blocked {
    int what; /* 0 recv, 1 send, 2 select */
    wv_chan_t *ch;
    long val;
};

static void *block_on(void *arg)
{
    struct blocked *b = arg;
    wv_chan_case_t c[2] = {
        {.ch = b->ch, .op = WV_CHAN_SEND, .val = &b->val},
        {.ch = b->ch, .op = WV_CHAN_RECV, .val = &b->val},
    };
    if (b->what == 0)
        return result(wv_chan_recv(b->ch, &b->val, WV_FOREVER));
    if (b->what == 1)
        return result(wv_chan_send(b->ch, &b->val, WV_FOREVER));
    return result(wv_chan_select(c, 2, WV_FOREVER));
}

static void *cancelled_then_recv(void *arg)
{
    wv_chan_t *ch = arg;
    long v = 0;
    while (!wv_coro_is_cancelled(NULL))
        wv_coro_yield();
    WVT_OK(wv_chan_recv(ch, &v, WV_FOREVER)); /* ready: no wait */
    WVT_EQ(v, 8);
    return result(wv_chan_recv(ch, &v, WV_FOREVER));
}

WVT_TEST(chan_coro_cancel_a_blocked_coroutine)
{
    wv_chan_t *ch = chan_make(sizeof(long), 0);
    for (int what = 0; what < 3; what++) {
        struct blocked b = {what, ch, 5};
        wv_coro_t *co;
        WVT_OK(wv_coro_spawn(&co, NULL, block_on, &b));
        run_until_parked(co);
        WVT_EQ(waiting(ch), what == 2 ? 2u : 1u);
        wv_coro_cancel(co);
        WVT_ERR(join(co), WV_ECANCELED);
        WVT_EQ(waiting(ch), 0); /* withdrawn */
        /* Nothing was exchanged; the channel still works. */
        long v = 1;
        WVT_ERR(wv_chan_send(ch, &v, WV_NOWAIT), WV_EAGAIN);
        WVT_ERR(wv_chan_recv(ch, &v, WV_NOWAIT), WV_EAGAIN);
    }
    /* A cancelled coroutine's waits fail at once; a ready call still
     * completes. */
    wv_chan_t *buf = chan_make(sizeof(long), 1);
    wv_coro_t *co;
    long v = 8;
    WVT_OK(wv_chan_send(buf, &v, WV_NOWAIT));
    WVT_OK(wv_coro_spawn(&co, NULL, cancelled_then_recv, buf));
    run_until_parked(co);
    wv_coro_cancel(co);
    WVT_ERR(join(co), WV_ECANCELED);
    WVT_EQ(waiting(buf), 0);
    WVT_EQ(wv_chan_len(buf), 0);
    wv_chan_free(buf);
    wv_chan_free(ch);
    WVT_OK(wv_coro_run(WV_FOREVER));
}

static void *recv_with_deadlines(void *arg)
{
    wv_chan_t *ch = arg;
    long v;
    WVT_ERR(wv_chan_recv(ch, &v, WV_NOWAIT), WV_EAGAIN);
    int64_t deadline = wv_now() + 15;
    WVT_ERR(wv_chan_recv(ch, &v, deadline), WV_ETIMEDOUT);
    WVT_GE(wv_now(), deadline);
    wv_chan_case_t c = {.ch = ch, .op = WV_CHAN_RECV, .val = &v};
    deadline = wv_now() + 15;
    WVT_ERR(wv_chan_select(&c, 1, deadline), WV_ETIMEDOUT);
    WVT_GE(wv_now(), deadline);
    return NULL;
}

WVT_TEST(chan_coro_deadlines)
{
    wv_chan_t *ch = chan_make(sizeof(long), 0);
    wv_coro_t *co;
    WVT_OK(wv_coro_spawn(&co, NULL, recv_with_deadlines, ch));
    WVT_OK(join(co));
    WVT_EQ(waiting(ch), 0);
    wv_chan_free(ch);
}

/* ----------------------------------------- coroutines meet threads */

struct cross {
    wv_chan_t *a, *b;
    long got;
};

static void *select_two(void *arg)
{
    struct cross *x = arg;
    long never;
    wv_chan_case_t c[2] = {
        {.ch = x->a, .op = WV_CHAN_RECV, .val = &never},
        {.ch = x->b, .op = WV_CHAN_RECV, .val = &x->got},
    };
    int r = wv_chan_select(c, 2, wv_deadline_in(30000));
    WVT_EQ(r, 1);
    return result(c[1].err);
}

static void send_when_waited_for(void *arg)
{
    struct cross *x = arg;
    long v = 99;
    WVT_POLL(wv__chan_waiting(x->b, WV_CHAN_RECV) == 1, 10000);
    WVT_OK(wv_chan_send(x->b, &v, WV_NOWAIT));
}

static void *send_to_thread(void *arg)
{
    struct cross *x = arg;
    long v = 123;
    return result(wv_chan_send(x->a, &v, wv_deadline_in(30000)));
}

static void recv_from_coroutine(void *arg)
{
    struct cross *x = arg;
    WVT_OK(wv_chan_recv(x->a, &x->got, wv_deadline_in(30000)));
}

WVT_TEST(chan_coro_and_threads_wake_each_other)
{
    struct cross x = {chan_make(sizeof(long), 0), chan_make(sizeof(long), 0),
                      0};
    wv_coro_t *co;

    /* A coroutine's select is woken by another thread's send. */
    WVT_OK(wv_coro_spawn(&co, NULL, select_two, &x));
    wvt_thread_t *t = wvt_spawn(send_when_waited_for, &x);
    WVT_OK(join(co));
    wvt_join(t);
    WVT_EQ(x.got, 99);
    WVT_EQ(waiting(x.a) + waiting(x.b), 0);

    /* A thread blocked in recv is woken by a coroutine's send (the
     * coroutine parks first, or hands over at once). */
    x.got = 0;
    t = wvt_spawn(recv_from_coroutine, &x);
    WVT_OK(wv_coro_spawn(&co, NULL, send_to_thread, &x));
    WVT_OK(join(co));
    wvt_join(t);
    WVT_EQ(x.got, 123);
    wv_chan_free(x.a);
    wv_chan_free(x.b);
}

/*
 * Coroutines on two threads exchange unique ids over an unbuffered and a
 * buffered channel with 1 ms deadlines, so that their timers race with
 * wake-ups from the other thread all the time (the coroutine's time-out
 * finding itself already dequeued, and waiting for the wake-up in
 * flight).  Senders on one thread, receivers (half by select) on the
 * other; then the channels are closed.  Every id whose send returned 0
 * arrives exactly once, no other id ever.
 */
#define XS_CORO 4

struct xstress {
    wv_chan_t *ch[2];
    long per_coro;
    int next; /* [sender thread] */
    unsigned char *sent, *got;
    long received; /* [receiver thread] */
};

static void *xs_sender(void *arg)
{
    struct xstress *x = arg;
    long base = x->next++ * x->per_coro;
    for (long i = 1; i <= x->per_coro; i++) {
        long id = base + i;
        int err;
        do
            err = wv_chan_send(x->ch[i % 2], &id, wv_deadline_in(1));
        while (err == WV_ETIMEDOUT);
        WVT_OK(err);
        x->sent[id] = 1;
    }
    return NULL;
}

static void *xs_receiver(void *arg)
{
    struct xstress *x = arg;
    bool by_select = (x->received++ % 2) == 0;
    wv_chan_t *open[2] = {x->ch[0], x->ch[1]}; /* NULL once drained */
    for (long n = 0; open[0] || open[1]; n++) {
        long id = 0;
        int err, k = open[n % 2] ? (int)(n % 2) : (int)(1 - n % 2);
        if (by_select) {
            wv_chan_case_t c[2] = {
                {.ch = open[0], .op = WV_CHAN_RECV, .val = &id},
                {.ch = open[1], .op = WV_CHAN_RECV, .val = &id},
            };
            err = wv_chan_select(c, 2, wv_deadline_in(1));
            if (err >= 0) {
                k = err;
                err = c[k].err;
            }
        } else {
            err = wv_chan_recv(open[k], &id, wv_deadline_in(1));
        }
        if (err == WV_ETIMEDOUT)
            continue;
        if (err == WV_EPIPE) {
            open[k] = NULL; /* closed and drained */
            continue;
        }
        WVT_OK(err);
        WVT_GT(id, 0);
        WVT_LE(id, XS_CORO * x->per_coro);
        x->got[id]++;
    }
    return NULL;
}

static void xs_thread(int i, void *arg)
{
    struct xstress *x = arg;
    if (i == 0) {
        wv_group_t *g;
        WVT_OK(wv_group_new(&g));
        for (int c = 0; c < XS_CORO; c++)
            WVT_OK(wv_group_spawn(g, NULL, xs_sender, x));
        WVT_OK(wv_group_join(g, wv_deadline_in(60000)));
        wv_group_free(g);
        WVT_OK(wv_chan_close(x->ch[0]));
        WVT_OK(wv_chan_close(x->ch[1]));
    } else {
        x->received = 0;
        for (int c = 0; c < XS_CORO; c++)
            WVT_OK(wv_go(xs_receiver, x));
        WVT_OK(wv_coro_run(wv_deadline_in(60000)));
    }
}

WVT_TEST_TIMEOUT(chan_coro_stress_across_threads_with_deadlines, 120)
{
    struct xstress x = {
        .ch = {chan_make(sizeof(long), 0), chan_make(sizeof(long), 2)},
        .per_coro = wvt_scale(3000)};
    long ids = XS_CORO * x.per_coro + 1;
    x.sent = calloc((size_t)ids, 1);
    x.got = calloc((size_t)ids, 1);
    WVT_ASSERT(x.sent && x.got);
    wvt_run_threads(2, xs_thread, &x);
    for (long id = 1; id < ids; id++) {
        WVT_EQ(x.sent[id], 1);
        WVT_EQ(x.got[id], 1);
    }
    WVT_EQ(waiting(x.ch[0]) + waiting(x.ch[1]), 0);
    free(x.sent);
    free(x.got);
    wv_chan_free(x.ch[0]);
    wv_chan_free(x.ch[1]);
}

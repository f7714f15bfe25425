/*
 * tests/test_chan.c - Go-style channels and select (coro/chan.c).
 *
 * Blocked parties are plain threads here, and "green" threads: threads
 * whose waiter kind is written below (a condition variable, cancellable,
 * with a wake-up that can be held in flight), standing in for coroutines
 * as tests/test_park.c does.  A test knows a party is blocked by polling
 * wv__chan_waiting, never by sleeping.
 */
#include "test_chan.h"
#include "coro/internal.h"
#include "runner.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PENDING 12345 /* a party's result before it returned */

wv_chan_t *chan_make(size_t elem_size, size_t cap)
{
    wv_chan_t *ch;
    WVT_OK(wv_chan_new(&ch, elem_size, cap));
    return ch;
}

static unsigned senders(wv_chan_t *ch)
{
    return wv__chan_waiting(ch, WV_CHAN_SEND);
}

static unsigned receivers(wv_chan_t *ch)
{
    return wv__chan_waiting(ch, WV_CHAN_RECV);
}

/* ------------------------------------------------ a second waiter kind */

/*
 * A green party sleeps on a condition variable (re-checking its deadline
 * and a cancel flag every millisecond), as a coroutine would park.  Its
 * wakers can be made to hold each wake-up in flight until the party's
 * sleep has ended by its deadline (AFTER_TIMEOUT) or by a cancellation
 * that the waker sends (AFTER_CANCEL), and to wait after publishing until
 * *hold is set (the woken party killed the channel) before they return.
 */
enum { AFTER_TIMEOUT = 1, AFTER_CANCEL = 2 };

struct green {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool cancel;   /* [mu] the next cancellable sleep is cancelled */
    int sleeps;    /* [mu] */
    int timeouts;  /* [mu] sleeps that ended by the deadline */
    int cancels;   /* [mu] sleeps that ended by cancellation */
    int wake_mode; /* 0, AFTER_TIMEOUT or AFTER_CANCEL; set before use */
    int *hold;     /* (atomic) */
};

static int green_sleep(wv__waiter_t *w, int64_t deadline, unsigned flags)
{
    struct green *g = w->ctx;
    int err = 0;

    pthread_mutex_lock(&g->mu);
    g->sleeps++;
    while (w->state == 0) {
        if (g->cancel && !(flags & WV__PARK_NOCANCEL)) {
            g->cancel = false;
            g->cancels++;
            err = WV_ECANCELED;
            break;
        }
        if (deadline >= 0 && wv_now() >= deadline) {
            g->timeouts++;
            err = WV_ETIMEDOUT;
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    }
    pthread_mutex_unlock(&g->mu);
    return err;
}

static void green_cancel(struct green *g);
static int green_count(struct green *g, const int *field);

static void green_wake(wv__waiter_t *w)
{
    struct green *g = w->ctx;
    int *hold = __atomic_load_n(&g->hold, __ATOMIC_ACQUIRE);

    if (g->wake_mode == AFTER_CANCEL)
        green_cancel(g);
    if (g->wake_mode == AFTER_TIMEOUT)
        WVT_POLL(green_count(g, &g->timeouts) > 0, 5000);
    if (g->wake_mode == AFTER_CANCEL)
        WVT_POLL(green_count(g, &g->cancels) > 0, 5000);
    pthread_mutex_lock(&g->mu);
    w->state = 1; /* w may be gone once mu is released */
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    if (hold)
        WVT_POLL(__atomic_load_n(hold, __ATOMIC_ACQUIRE), 5000);
}

static const wv__waiter_kind_t green_kind = {
    .name = "green",
    .sleep = green_sleep,
    .wake = green_wake,
};

static void green_init(struct green *g)
{
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
}

static void green_destroy(struct green *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

static void green_cancel(struct green *g)
{
    pthread_mutex_lock(&g->mu);
    g->cancel = true;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static int green_count(struct green *g, const int *field)
{
    pthread_mutex_lock(&g->mu);
    int n = *field;
    pthread_mutex_unlock(&g->mu);
    return n;
}

/* ------------------------------------------------------------ parties */

/* One blocking call on a thread of its own (green if `green` is set). */
enum { DO_SEND, DO_RECV, DO_SELECT };

struct party {
    int what;
    wv_chan_t *ch;
    long val; /* DO_SEND: sent; DO_RECV: received */
    wv_chan_case_t cases[4];
    size_t ncases;
    int64_t deadline;
    struct green *green;
    int *freed;  /* non-NULL: frees ch when the call returned, sets it */
    int result;  /* (atomic) PENDING until the call returned */
    int64_t end; /* wv_now() when it returned */
    wvt_thread_t *t;
};

static void party_main(void *p)
{
    struct party *y = p;
    int r;

    if (y->green)
        wv__waiter_set_kind(&green_kind, y->green);
    if (y->what == DO_SEND)
        r = wv_chan_send(y->ch, &y->val, y->deadline);
    else if (y->what == DO_RECV)
        r = wv_chan_recv(y->ch, &y->val, y->deadline);
    else
        r = wv_chan_select(y->cases, y->ncases, y->deadline);
    y->end = wv_now();
    if (y->green)
        wv__waiter_set_kind(&wv__thread_waiter, NULL);
    if (y->freed) {
        wv_chan_free(y->ch);
        __atomic_store_n(y->freed, 1, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&y->result, r, __ATOMIC_RELEASE);
}

static void start(struct party *y)
{
    y->result = PENDING;
    y->t = wvt_spawn(party_main, y);
}

static int finish(struct party *y)
{
    wvt_join(y->t);
    return y->result;
}

static int result_of(struct party *y)
{
    return __atomic_load_n(&y->result, __ATOMIC_ACQUIRE);
}

static struct party sender(wv_chan_t *ch, long val, int64_t deadline)
{
    return (struct party){
        .what = DO_SEND, .ch = ch, .val = val, .deadline = deadline};
}

static struct party receiver(wv_chan_t *ch, int64_t deadline)
{
    return (struct party){.what = DO_RECV, .ch = ch, .deadline = deadline};
}

static wv_chan_case_t send_case(wv_chan_t *ch, long *val)
{
    return (wv_chan_case_t){.ch = ch, .op = WV_CHAN_SEND, .val = val};
}

static wv_chan_case_t recv_case(wv_chan_t *ch, long *val)
{
    return (wv_chan_case_t){.ch = ch, .op = WV_CHAN_RECV, .val = val};
}

/* -------------------------------------------------------------- basics */

WVT_TEST(chan_new_and_bad_arguments)
{
    wv_chan_t *ch = (wv_chan_t *)&ch;
    long v = 5;

    WVT_ERR(wv_chan_new(NULL, 8, 1), WV_EINVAL);
    WVT_ERR(wv_chan_new(&ch, SIZE_MAX / 2, 3), WV_EINVAL);
    WVT_ERR(wv_chan_new(&ch, 2, SIZE_MAX), WV_EINVAL);
    WVT_ASSERT(ch == (wv_chan_t *)&ch); /* untouched */
    ch = chan_make(sizeof v, 5);
    WVT_EQ(wv_chan_cap(ch), 5);
    WVT_EQ(wv_chan_len(ch), 0);
    WVT_EQ(wv_chan_cap(NULL), 0);
    WVT_EQ(wv_chan_len(NULL), 0);
    WVT_ERR(wv_chan_send(NULL, &v, WV_NOWAIT), WV_EINVAL);
    WVT_ERR(wv_chan_recv(NULL, &v, WV_NOWAIT), WV_EINVAL);
    WVT_ERR(wv_chan_send(ch, NULL, WV_NOWAIT), WV_EINVAL);
    WVT_ERR(wv_chan_close(NULL), WV_EINVAL);
    /* A bad deadline is reported only when the call would wait. */
    WVT_ERR(wv_chan_recv(ch, &v, -2), WV_EINVAL);
    WVT_OK(wv_chan_send(ch, &v, -2));
    v = 0;
    WVT_OK(wv_chan_recv(ch, &v, -7));
    WVT_EQ(v, 5);
    wv_chan_free(ch);
    wv_chan_free(NULL);
}

/* A value of `size` bytes, distinct per seq. */
static void pattern(unsigned char *buf, size_t size, unsigned seq)
{
    for (size_t j = 0; j < size; j++)
        buf[j] = (unsigned char)(seq * 31 + j * 7 + 1);
}

WVT_TEST(chan_buffered_fifo_every_size)
{
    static const size_t sizes[] = {0, 1, 3, 4, 8, 16, 24, 100};
    static const size_t caps[] = {1, 3, 8};
    unsigned char in[128], out[128], want[128];

    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        for (size_t ci = 0; ci < sizeof caps / sizeof *caps; ci++) {
            size_t size = sizes[si], cap = caps[ci];
            wv_chan_t *ch = chan_make(size, cap);
            unsigned put = 0, got = 0;
            /* uneven fills and drains: the ring wraps many times */
            for (int round = 0; round < 20; round++) {
                while (wv_chan_len(ch) < cap) {
                    pattern(in, size, put++);
                    WVT_OK(wv_chan_send(ch, in, WV_NOWAIT));
                }
                WVT_ERR(wv_chan_send(ch, in, WV_NOWAIT), WV_EAGAIN);
                size_t take = (size_t)round % cap + 1;
                for (size_t k = 0; k < take; k++) {
                    memset(out, 0xEE, sizeof out);
                    WVT_OK(wv_chan_recv(ch, out, WV_NOWAIT));
                    pattern(want, size, got++);
                    WVT_EQ(memcmp(out, want, size), 0);
                    WVT_EQ(out[size], 0xEE); /* not one byte more */
                }
                WVT_EQ(wv_chan_len(ch), put - got);
            }
            while (got < put) {
                WVT_OK(wv_chan_recv(ch, NULL, WV_NOWAIT)); /* dropped */
                got++;
            }
            WVT_ERR(wv_chan_recv(ch, out, WV_NOWAIT), WV_EAGAIN);
            wv_chan_free(ch);
        }
    }
}

WVT_TEST(chan_unbuffered_rendezvous)
{
    wv_chan_t *ch = chan_make(sizeof(long), 0);
    long v = 1;

    WVT_EQ(wv_chan_cap(ch), 0);
    WVT_ERR(wv_chan_send(ch, &v, WV_NOWAIT), WV_EAGAIN); /* nobody there */
    WVT_ERR(wv_chan_recv(ch, &v, WV_NOWAIT), WV_EAGAIN);

    /* A send returns only once a receiver took the value. */
    struct party s = sender(ch, 42, wv_deadline_in(10000));
    start(&s);
    WVT_POLL(senders(ch) == 1, 5000);
    WVT_EQ(result_of(&s), PENDING);
    WVT_EQ(wv_chan_len(ch), 0); /* no buffer: the value is still its own */
    v = 0;
    WVT_OK(wv_chan_recv(ch, &v, WV_NOWAIT));
    WVT_EQ(v, 42);
    WVT_OK(finish(&s));
    WVT_EQ(senders(ch), 0);

    /* A blocked receiver gets the value straight from the sender. */
    struct party r = receiver(ch, wv_deadline_in(10000));
    start(&r);
    WVT_POLL(receivers(ch) == 1, 5000);
    v = 77;
    WVT_OK(wv_chan_send(ch, &v, WV_NOWAIT));
    WVT_OK(finish(&r));
    WVT_EQ(r.val, 77);
    WVT_EQ(receivers(ch), 0);
    wv_chan_free(ch);
}

WVT_TEST(chan_zero_size_values)
{
    wv_chan_t *ch = chan_make(0, 3);
    WVT_OK(wv_chan_send(ch, NULL, WV_NOWAIT));
    WVT_OK(wv_chan_send(ch, NULL, WV_NOWAIT));
    WVT_EQ(wv_chan_len(ch), 2);
    WVT_OK(wv_chan_recv(ch, NULL, WV_NOWAIT));
    WVT_EQ(wv_chan_len(ch), 1);
    wv_chan_free(ch);

    ch = chan_make(0, 0); /* a pure rendezvous */
    struct party r = receiver(ch, wv_deadline_in(10000));
    start(&r);
    WVT_POLL(receivers(ch) == 1, 5000);
    WVT_OK(wv_chan_send(ch, NULL, WV_NOWAIT));
    WVT_OK(finish(&r));
    wv_chan_free(ch);
}

WVT_TEST(chan_deadlines)
{
    wv_chan_t *ch = chan_make(sizeof(long), 0);
    long v = 3;

    int64_t deadline = wv_now() + 15;
    WVT_ERR(wv_chan_recv(ch, &v, deadline), WV_ETIMEDOUT);
    WVT_GE(wv_now(), deadline);
    deadline = wv_now() + 15;
    WVT_ERR(wv_chan_send(ch, &v, deadline), WV_ETIMEDOUT);
    WVT_GE(wv_now(), deadline);
    /* The timed-out parties left nothing behind. */
    WVT_EQ(senders(ch), 0);
    WVT_EQ(receivers(ch), 0);
    WVT_ERR(wv_chan_send(ch, &v, WV_NOWAIT), WV_EAGAIN);
    WVT_ERR(wv_chan_recv(ch, &v, WV_NOWAIT), WV_EAGAIN);
    /* A deadline in the past: it expired, but a ready call succeeds. */
    WVT_ERR(wv_chan_recv(ch, &v, wv_now() - 1), WV_ETIMEDOUT);
    wv_chan_free(ch);

    ch = chan_make(sizeof(long), 1);
    WVT_OK(wv_chan_send(ch, &v, wv_now() - 1));
    WVT_ERR(wv_chan_send(ch, &v, wv_now() - 1), WV_ETIMEDOUT);
    WVT_OK(wv_chan_recv(ch, &v, wv_now() - 1));
    wv_chan_free(ch);
}

WVT_TEST(chan_full_buffer_takes_a_blocked_senders_value)
{
    wv_chan_t *ch = chan_make(sizeof(long), 2);
    long v;

    for (v = 1; v <= 2; v++)
        WVT_OK(wv_chan_send(ch, &v, WV_NOWAIT));
    struct party s = sender(ch, 3, wv_deadline_in(10000));
    start(&s);
    WVT_POLL(senders(ch) == 1, 5000);
    /* Taking one moves the blocked sender's value into the freed slot
     * and completes its send (Go's semantics), in order. */
    WVT_OK(wv_chan_recv(ch, &v, WV_NOWAIT));
    WVT_EQ(v, 1);
    WVT_OK(finish(&s));
    WVT_EQ(wv_chan_len(ch), 2);
    WVT_OK(wv_chan_recv(ch, &v, WV_NOWAIT));
    WVT_EQ(v, 2);
    WVT_OK(wv_chan_recv(ch, &v, WV_NOWAIT));
    WVT_EQ(v, 3);
    WVT_ERR(wv_chan_recv(ch, &v, WV_NOWAIT), WV_EAGAIN);
    wv_chan_free(ch);
}

WVT_TEST(chan_waiters_are_served_in_order)
{
    wv_chan_t *ch = chan_make(sizeof(long), 0);
    struct party s[4];
    long v;

    for (int i = 0; i < 4; i++) {
        s[i] = sender(ch, 100 + i, wv_deadline_in(10000));
        start(&s[i]);
        WVT_POLL(senders(ch) == (unsigned)i + 1, 5000);
    }
    for (int i = 0; i < 4; i++) {
        WVT_OK(wv_chan_recv(ch, &v, WV_NOWAIT));
        WVT_EQ(v, 100 + i);
    }
    for (int i = 0; i < 4; i++)
        WVT_OK(finish(&s[i]));
    wv_chan_free(ch);
}

/* --------------------------------------------------------------- close */

WVT_TEST(chan_close_drains_then_epipe)
{
    wv_chan_t *ch = chan_make(sizeof(long), 4);
    long v;

    for (v = 10; v < 13; v++)
        WVT_OK(wv_chan_send(ch, &v, WV_NOWAIT));
    WVT_OK(wv_chan_close(ch));
    WVT_ERR(wv_chan_close(ch), WV_EALREADY);
    WVT_ERR(wv_chan_send(ch, &v, WV_NOWAIT), WV_ESHUTDOWN);
    WVT_ERR(wv_chan_send(ch, &v, WV_FOREVER), WV_ESHUTDOWN);
    for (long want = 10; want < 13; want++) {
        WVT_OK(wv_chan_recv(ch, &v, WV_FOREVER));
        WVT_EQ(v, want);
    }
    WVT_ERR(wv_chan_recv(ch, &v, WV_NOWAIT), WV_EOF);
    WVT_ERR(wv_chan_recv(ch, &v, WV_FOREVER), WV_EOF);
    WVT_EQ(wv_chan_len(ch), 0);
    wv_chan_free(ch);
}

WVT_TEST(chan_close_wakes_blocked_senders_and_receivers)
{
    wv_chan_t *empty = chan_make(sizeof(long), 0);
    wv_chan_t *full = chan_make(sizeof(long), 2);
    struct party r[3], s[3];
    long v;

    for (v = 1; v <= 2; v++)
        WVT_OK(wv_chan_send(full, &v, WV_NOWAIT));
    for (int i = 0; i < 3; i++) {
        r[i] = receiver(empty, WV_FOREVER);
        start(&r[i]);
        s[i] = sender(full, 100 + i, WV_FOREVER);
        start(&s[i]);
    }
    WVT_POLL(receivers(empty) == 3 && senders(full) == 3, 5000);
    WVT_OK(wv_chan_close(empty));
    WVT_OK(wv_chan_close(full));
    for (int i = 0; i < 3; i++) {
        WVT_ERR(finish(&r[i]), WV_EOF);
        WVT_ERR(finish(&s[i]), WV_ESHUTDOWN);
    }
    /* The blocked senders' values were not delivered; the buffered ones
     * still are. */
    for (long want = 1; want <= 2; want++) {
        WVT_OK(wv_chan_recv(full, &v, WV_NOWAIT));
        WVT_EQ(v, want);
    }
    WVT_ERR(wv_chan_recv(full, &v, WV_NOWAIT), WV_EOF);
    WVT_EQ(senders(full), 0);
    WVT_EQ(receivers(empty), 0);
    wv_chan_free(empty);
    wv_chan_free(full);
}

WVT_TEST(chan_close_wakes_blocked_selects)
{
    wv_chan_t *a = chan_make(sizeof(long), 0);
    wv_chan_t *b = chan_make(sizeof(long), 1);
    long v = 9, x = 0, y = 0;

    WVT_OK(wv_chan_send(b, &v, WV_NOWAIT)); /* b is full */
    struct party p = {.what = DO_SELECT, .ncases = 2, .deadline = WV_FOREVER};
    p.cases[0] = recv_case(a, &x);
    p.cases[1] = send_case(b, &y);
    p.cases[0].err = p.cases[1].err = 1;
    start(&p);
    WVT_POLL(receivers(a) == 1 && senders(b) == 1, 5000);
    WVT_OK(wv_chan_close(a));
    WVT_EQ(finish(&p), 0);
    WVT_ERR(p.cases[0].err, WV_EOF);
    WVT_EQ(p.cases[1].err, 1); /* the other case is left alone */
    WVT_EQ(senders(b), 0);     /* and withdrawn from b */

    /* The send side of a select, woken by the close of its channel. */
    struct party q = {.what = DO_SELECT, .ncases = 2, .deadline = WV_FOREVER};
    wv_chan_t *c = chan_make(sizeof(long), 0);
    q.cases[0] = recv_case(c, &x);
    q.cases[1] = send_case(b, &y);
    start(&q);
    WVT_POLL(receivers(c) == 1 && senders(b) == 1, 5000);
    WVT_OK(wv_chan_close(b));
    WVT_EQ(finish(&q), 1);
    WVT_ERR(q.cases[1].err, WV_ESHUTDOWN);
    WVT_EQ(receivers(c), 0);
    WVT_OK(wv_chan_recv(b, &x, WV_NOWAIT)); /* the buffered 9 */
    WVT_EQ(x, 9);
    wv_chan_free(a);
    wv_chan_free(b);
    wv_chan_free(c);
}

/* -------------------------------------------------------------- select */

WVT_TEST(chan_select_bad_arguments)
{
    wv_chan_t *ch = chan_make(sizeof(long), 1);
    long v = 1;
    wv_chan_case_t c[2] = {recv_case(ch, &v), send_case(ch, &v)};

    WVT_ERR(wv_chan_select(NULL, 1, WV_NOWAIT), WV_EINVAL);
    WVT_ERR(wv_chan_select(c, (size_t)INT32_MAX + 1, WV_NOWAIT), WV_EINVAL);
    c[0].op = 3;
    WVT_ERR(wv_chan_select(c, 2, WV_NOWAIT), WV_EINVAL);
    c[0].op = 0;
    WVT_ERR(wv_chan_select(c, 2, WV_NOWAIT), WV_EINVAL);
    c[0] = recv_case(ch, &v);
    c[1].val = NULL; /* a send of 8 bytes from nowhere */
    WVT_ERR(wv_chan_select(c, 2, WV_NOWAIT), WV_EINVAL);
    /* a bad deadline only matters when it would wait */
    WVT_ERR(wv_chan_select(c, 1, -2), WV_EINVAL);
    c[1].val = &v;
    WVT_EQ(wv_chan_select(c + 1, 1, -2), 0);
    wv_chan_free(ch);
}

WVT_TEST(chan_select_without_cases_waits_for_its_deadline)
{
    wv_chan_case_t c[2] = {{.ch = NULL}, {.ch = NULL, .op = 77}};
    WVT_ERR(wv_chan_select(NULL, 0, WV_NOWAIT), WV_EAGAIN);
    WVT_ERR(wv_chan_select(c, 2, WV_NOWAIT), WV_EAGAIN);
    WVT_ERR(wv_chan_select(c, 2, -3), WV_EINVAL);
    int64_t deadline = wv_now() + 10;
    WVT_ERR(wv_chan_select(c, 2, deadline), WV_ETIMEDOUT);
    WVT_GE(wv_now(), deadline);
}

WVT_TEST(chan_select_ready_cases)
{
    wv_chan_t *in = chan_make(sizeof(long), 2);
    wv_chan_t *out = chan_make(sizeof(long), 1);
    wv_chan_t *never = chan_make(sizeof(long), 0);
    long v = 5, got = 0, send = 8;
    wv_chan_case_t c[4] = {
        recv_case(never, &got),
        {.ch = NULL, .op = 99}, /* ignored, even with a bad op */
        recv_case(in, &got),
        send_case(never, &send),
    };

    WVT_ERR(wv_chan_select(c, 4, WV_NOWAIT), WV_EAGAIN);
    int64_t deadline = wv_now() + 10;
    WVT_ERR(wv_chan_select(c, 4, deadline), WV_ETIMEDOUT);
    WVT_GE(wv_now(), deadline);
    WVT_EQ(receivers(never), 0); /* withdrawn from every queue */
    WVT_EQ(senders(never), 0);
    WVT_EQ(receivers(in), 0);

    WVT_OK(wv_chan_send(in, &v, WV_NOWAIT));
    c[2].err = 1;
    WVT_EQ(wv_chan_select(c, 4, WV_NOWAIT), 2);
    WVT_EQ(c[2].err, 0);
    WVT_EQ(got, 5);

    /* A send case into a buffer with room. */
    c[2] = send_case(out, &send);
    WVT_EQ(wv_chan_select(c, 4, WV_FOREVER), 2);
    WVT_EQ(wv_chan_len(out), 1);
    WVT_ERR(wv_chan_select(c, 4, WV_NOWAIT), WV_EAGAIN); /* now full */

    /* A receive case may drop the value. */
    c[2] = recv_case(out, NULL);
    WVT_EQ(wv_chan_select(c, 4, WV_NOWAIT), 2);
    WVT_EQ(wv_chan_len(out), 0);

    /* Cases on a closed channel are ready, with WV_EOF (receive) or
     * WV_ESHUTDOWN (send). */
    WVT_OK(wv_chan_close(never));
    WVT_EQ(wv_chan_select(c, 1, WV_FOREVER), 0);
    WVT_ERR(c[0].err, WV_EOF);
    c[2] = recv_case(out, &got); /* empty: never ready */
    WVT_EQ(wv_chan_select(c + 2, 2, WV_FOREVER), 1);
    WVT_ERR(c[3].err, WV_ESHUTDOWN);
    wv_chan_free(in);
    wv_chan_free(out);
    wv_chan_free(never);
}

/* Counts the choices of n selects over cases that all stay ready but
 * `never`; each ready case must be chosen in [lo, hi] permille of them. */
static void fairness(wv_chan_case_t *c, size_t ncases, int never, long lo,
                     long hi)
{
    long counts[8] = {0};
    long n = 100000, v = 0;

    for (long i = 0; i < n; i++) {
        int k = wv_chan_select(c, ncases, WV_NOWAIT);
        WVT_GE(k, 0);
        WVT_OK(c[k].err);
        counts[k]++;
        /* make the chosen case ready again */
        if (c[k].op == WV_CHAN_RECV)
            WVT_OK(wv_chan_send(c[k].ch, &v, WV_NOWAIT));
        else
            WVT_OK(wv_chan_recv(c[k].ch, &v, WV_NOWAIT));
    }
    for (size_t k = 0; k < ncases; k++) {
        if ((int)k == never) {
            WVT_EQ(counts[k], 0);
            continue;
        }
        WVT_GE(counts[k] * 1000, lo * n);
        WVT_LE(counts[k] * 1000, hi * n);
    }
}

WVT_TEST(chan_select_is_fair)
{
    wv_chan_t *a = chan_make(sizeof(long), 1), *b = chan_make(sizeof(long), 1);
    wv_chan_t *e = chan_make(sizeof(long), 0), *s = chan_make(sizeof(long), 1);
    long v = 0, x;

    WVT_OK(wv_chan_send(a, &v, WV_NOWAIT));
    WVT_OK(wv_chan_send(b, &v, WV_NOWAIT));
    /* Two always-ready cases: each 40-60% (the binomial's standard
     * deviation is 0.16%: these bounds cannot flake). */
    wv_chan_case_t two[2] = {recv_case(a, &x), recv_case(b, &x)};
    fairness(two, 2, -1, 400, 600);
    /* Three ready of four, the never-ready one between them: a random
     * start index scanning forward would give 50/25/25. */
    wv_chan_case_t four[4] = {recv_case(a, &x), recv_case(e, &x),
                              send_case(s, &v), recv_case(b, &x)};
    fairness(four, 4, 1, 300, 367);
    wv_chan_free(a);
    wv_chan_free(b);
    wv_chan_free(e);
    wv_chan_free(s);
}

WVT_TEST(chan_select_blocks_until_one_completes)
{
    wv_chan_t *a = chan_make(sizeof(long), 0), *b = chan_make(sizeof(long), 3);
    wv_chan_t *c = chan_make(sizeof(long), 0);
    long xa = 0, xb = 0, out = 31, v;
    struct party p = {.what = DO_SELECT, .ncases = 3, .deadline = WV_FOREVER};

    p.cases[0] = recv_case(a, &xa);
    p.cases[1] = recv_case(b, &xb);
    p.cases[2] = send_case(c, &out);
    start(&p);
    WVT_POLL(receivers(a) == 1 && receivers(b) == 1 && senders(c) == 1, 5000);
    v = 66;
    WVT_OK(wv_chan_send(b, &v, WV_NOWAIT)); /* handed straight over */
    WVT_EQ(finish(&p), 1);
    WVT_EQ(xb, 66);
    WVT_EQ(xa, 0);
    WVT_EQ(wv_chan_len(b), 0);
    WVT_EQ(receivers(a) + receivers(b) + senders(c), 0);

    start(&p); /* again: now the send case completes */
    WVT_POLL(receivers(a) == 1 && receivers(b) == 1 && senders(c) == 1, 5000);
    WVT_OK(wv_chan_recv(c, &v, WV_NOWAIT));
    WVT_EQ(v, 31);
    WVT_EQ(finish(&p), 2);
    WVT_EQ(receivers(a) + receivers(b) + senders(c), 0);
    /* Only one case completed: nothing else was taken or sent. */
    WVT_ERR(wv_chan_send(a, &v, WV_NOWAIT), WV_EAGAIN);
    WVT_ERR(wv_chan_recv(c, &v, WV_NOWAIT), WV_EAGAIN);
    wv_chan_free(a);
    wv_chan_free(b);
    wv_chan_free(c);
}

WVT_TEST(chan_select_both_ends_of_one_channel)
{
    wv_chan_t *ch = chan_make(sizeof(long), 0);
    long out = 7, in = 0, v;
    struct party p = {.what = DO_SELECT, .ncases = 2, .deadline = WV_FOREVER};

    /* One select sending and receiving on the same channel never meets
     * itself; another party completes one of its cases. */
    p.cases[0] = send_case(ch, &out);
    p.cases[1] = recv_case(ch, &in);
    start(&p);
    WVT_POLL(senders(ch) == 1 && receivers(ch) == 1, 5000);
    WVT_OK(wv_chan_recv(ch, &v, WV_NOWAIT));
    WVT_EQ(v, 7);
    WVT_EQ(finish(&p), 0);
    WVT_EQ(senders(ch) + receivers(ch), 0);

    start(&p);
    WVT_POLL(senders(ch) == 1 && receivers(ch) == 1, 5000);
    v = 8;
    WVT_OK(wv_chan_send(ch, &v, WV_NOWAIT));
    WVT_EQ(finish(&p), 1);
    WVT_EQ(in, 8);

    /* A select meets a blocked select: the two rendezvous. */
    struct party q = {.what = DO_SELECT, .ncases = 1, .deadline = WV_FOREVER};
    q.cases[0] = recv_case(ch, &in);
    in = 0;
    start(&q);
    WVT_POLL(receivers(ch) == 1, 5000);
    wv_chan_case_t c[2] = {send_case(ch, &out), send_case(ch, &out)};
    WVT_GE(wv_chan_select(c, 2, WV_NOWAIT), 0);
    WVT_EQ(finish(&q), 0);
    WVT_EQ(in, 7);
    wv_chan_free(ch);
}

/* ------------------------------------ races: time-outs and cancellation */

/*
 * The party waits; the main thread completes its call and dequeues it,
 * but its wake-up (green_wake) is held in flight until the party's sleep
 * has ended otherwise: by its deadline, or by a cancellation that the
 * wake-up itself sends first.  The completed call must win: the party
 * returns success and the value, after a second sleep for the wake-up.
 * With a deadline, a party that timed out before the main thread got to
 * it has simply timed out, and then nothing may have been exchanged;
 * that is retried.
 */
static void in_flight_scene(int what, int mode)
{
    wv_chan_t *ch = chan_make(sizeof(long), 0);
    bool hit = false;

    for (int attempt = 0; attempt < 20 && !hit; attempt++) {
        struct green g;
        green_init(&g);
        g.wake_mode = mode;
        struct party y = {.what = what, .ch = ch, .green = &g, .val = 21};
        long xv = 0, out = 55, v = 0;
        if (what == DO_SELECT) {
            y.ncases = 2;
            y.cases[0] = recv_case(ch, &xv);
            y.cases[1] = recv_case(ch, &xv);
        }
        y.deadline = mode == AFTER_CANCEL ? WV_FOREVER : wv_deadline_in(100);
        start(&y);
        WVT_POLL(receivers(ch) + senders(ch) >= 1 || result_of(&y) != PENDING,
                 5000);
        int done = what == DO_SEND ? wv_chan_recv(ch, &v, WV_NOWAIT)
                                   : wv_chan_send(ch, &out, WV_NOWAIT);
        int r = finish(&y);
        if (done == 0) {
            if (what == DO_SELECT) {
                WVT_ASSERT(r == 0 || r == 1);
                WVT_EQ(xv, 55);
            } else {
                WVT_OK(r);
            }
            if (what == DO_SEND)
                WVT_EQ(v, 21);
            if (what == DO_RECV)
                WVT_EQ(y.val, 55);
            int *ended = mode == AFTER_CANCEL ? &g.cancels : &g.timeouts;
            WVT_EQ(green_count(&g, ended), 1);
            WVT_EQ(green_count(&g, &g.sleeps), 2);
            hit = true;
        } else {
            WVT_ERR(done, WV_EAGAIN);
            WVT_ERR(r, WV_ETIMEDOUT);
            WVT_EQ(v, 0);
            WVT_EQ(xv, 0);
        }
        WVT_EQ(receivers(ch) + senders(ch), 0);
        green_destroy(&g);
    }
    WVT_ASSERT(hit);
    wv_chan_free(ch);
}

WVT_TEST(chan_completion_wins_over_time_out)
{
    in_flight_scene(DO_RECV, AFTER_TIMEOUT);
    in_flight_scene(DO_SEND, AFTER_TIMEOUT);
    in_flight_scene(DO_SELECT, AFTER_TIMEOUT);
}

WVT_TEST(chan_completion_wins_over_cancellation)
{
    in_flight_scene(DO_RECV, AFTER_CANCEL);
    in_flight_scene(DO_SEND, AFTER_CANCEL);
    in_flight_scene(DO_SELECT, AFTER_CANCEL);
}

WVT_TEST(chan_cancelled_waiters)
{
    wv_chan_t *ch = chan_make(sizeof(long), 0),
              *full = chan_make(sizeof(long), 1);
    long v = 1, x;
    struct green g;
    green_init(&g);

    WVT_OK(wv_chan_send(full, &v, WV_NOWAIT));
    struct party ps[3] = {receiver(ch, WV_FOREVER),
                          sender(full, 2, WV_FOREVER),
                          {.what = DO_SELECT, .ncases = 2}};
    ps[2].cases[0] = recv_case(ch, &x);
    ps[2].cases[1] = send_case(full, &v);
    ps[2].deadline = WV_FOREVER;
    for (int i = 0; i < 3; i++) {
        ps[i].green = &g;
        start(&ps[i]);
        WVT_POLL(receivers(ch) + senders(full) == (i == 2 ? 2u : 1u), 5000);
        green_cancel(&g);
        WVT_ERR(finish(&ps[i]), WV_ECANCELED);
        WVT_EQ(receivers(ch) + senders(full), 0); /* withdrawn */
    }
    WVT_EQ(green_count(&g, &g.cancels), 3);
    /* Nothing was exchanged, and both channels still work. */
    WVT_EQ(wv_chan_len(full), 1);
    WVT_OK(wv_chan_recv(full, &x, WV_NOWAIT));
    WVT_EQ(x, 1);
    WVT_ERR(wv_chan_send(ch, &v, WV_NOWAIT), WV_EAGAIN);
    green_destroy(&g);
    wv_chan_free(ch);
    wv_chan_free(full);
}

/* ----------------------------------------------------- the last touch */

/*
 * A woken party frees the channel the moment its call returns.  The
 * waker's wake-up waits (green_wake's hold) until that happened, and the
 * freed block is kept, poisoned, by an allocator installed here: a
 * waker that touched the channel after the wake-up (an unlock, a length
 * update) changes the poison.  The ASan build reports it as well.
 */
#define POISON 0xA5

static struct {
    unsigned char *block;
    size_t size;
} graveyard;

static void *keep_malloc(size_t size)
{
    size_t *p = malloc(size + 16);
    if (!p)
        return NULL;
    *p = size;
    return (char *)p + 16;
}

static void *keep_calloc(size_t n, size_t size)
{
    void *p = keep_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

static void *keep_realloc(void *ptr, size_t size)
{
    WVT_ASSERT(!ptr); /* channels never realloc */
    return keep_malloc(size);
}

static void keep_free(void *ptr)
{
    if (!ptr)
        return;
    size_t *p = (size_t *)((char *)ptr - 16);
    WVT_ASSERT(!graveyard.block);
    memset(ptr, POISON, *p);
    graveyard.block = ptr;
    graveyard.size = *p;
}

static void bury_check(void)
{
    WVT_ASSERT(graveyard.block);
    for (size_t i = 0; i < graveyard.size; i++)
        WVT_EQ(graveyard.block[i], POISON);
    free(graveyard.block - 16);
    graveyard.block = NULL;
}

/* The party blocks (what), the main thread releases it (release) and
 * must be done with the channel before the party frees it. */
static void last_touch(int what, size_t cap, int (*release)(wv_chan_t *),
                       int want)
{
    struct green g;
    int freed = 0;
    long x = 0, v = 3;

    green_init(&g);
    WVT_OK(wv_set_allocator(keep_malloc, keep_realloc, keep_calloc, keep_free));
    wv_chan_t *ch = chan_make(sizeof(long), cap);
    for (size_t i = 0; i < cap; i++)
        WVT_OK(wv_chan_send(ch, &v, WV_NOWAIT));
    struct party y = {.what = what,
                      .ch = ch,
                      .val = 4,
                      .deadline = WV_FOREVER,
                      .green = &g,
                      .freed = &freed};
    if (what == DO_SELECT) {
        y.ncases = 1;
        y.cases[0] = cap ? send_case(ch, &v) : recv_case(ch, &x);
    }
    __atomic_store_n(&g.hold, &freed, __ATOMIC_RELEASE);
    start(&y);
    WVT_POLL(receivers(ch) + senders(ch) == 1, 5000);
    WVT_GE(release(ch), 0);
    WVT_ERR(finish(&y), want);
    bury_check();
    WVT_OK(wv_set_allocator(NULL, NULL, NULL, NULL));
    green_destroy(&g);
}

static int release_send(wv_chan_t *ch)
{
    long v = 8;
    return wv_chan_send(ch, &v, WV_NOWAIT);
}

static int release_recv(wv_chan_t *ch)
{
    long v;
    return wv_chan_recv(ch, &v, WV_NOWAIT);
}

static int release_close(wv_chan_t *ch)
{
    return wv_chan_close(ch);
}

static int release_select_send(wv_chan_t *ch)
{
    long v = 8;
    wv_chan_case_t c = send_case(ch, &v);
    return wv_chan_select(&c, 1, WV_NOWAIT);
}

WVT_TEST(chan_waker_never_touches_the_channel_after_waking)
{
    last_touch(DO_RECV, 0, release_send, 0);
    last_touch(DO_RECV, 0, release_select_send, 0);
    last_touch(DO_RECV, 0, release_close, WV_EOF);
    last_touch(DO_SEND, 0, release_recv, 0);
    last_touch(DO_SEND, 1, release_recv, 0); /* moved into the buffer */
    last_touch(DO_SEND, 1, release_close, WV_ESHUTDOWN);
    last_touch(DO_SELECT, 0, release_send, 0);
    last_touch(DO_SELECT, 1, release_recv, 0);
    last_touch(DO_SELECT, 1, release_close, 0); /* case 0, err WV_EOF */
}

/* ------------------------------------------------ threads and stress */

struct pingpong {
    wv_chan_t *ping, *pong;
    long rounds;
};

static void pong_side(void *p)
{
    struct pingpong *pp = p;
    long v;
    for (long i = 0; i < pp->rounds; i++) {
        if (i % 2) {
            WVT_OK(wv_chan_recv(pp->ping, &v, wv_deadline_in(10000)));
        } else {
            wv_chan_case_t c = recv_case(pp->ping, &v);
            WVT_EQ(wv_chan_select(&c, 1, wv_deadline_in(10000)), 0);
        }
        WVT_EQ(v, i);
        v++;
        WVT_OK(wv_chan_send(pp->pong, &v, wv_deadline_in(10000)));
    }
}

WVT_TEST(chan_threads_ping_pong)
{
    struct pingpong pp = {chan_make(sizeof(long), 0),
                          chan_make(sizeof(long), 0), wvt_scale(20000)};
    wvt_thread_t *t = wvt_spawn(pong_side, &pp);
    for (long i = 0; i < pp.rounds; i++) {
        long v = i;
        if (i % 3) {
            WVT_OK(wv_chan_send(pp.ping, &v, wv_deadline_in(10000)));
        } else {
            wv_chan_case_t c = send_case(pp.ping, &v);
            WVT_EQ(wv_chan_select(&c, 1, wv_deadline_in(10000)), 0);
        }
        WVT_OK(wv_chan_recv(pp.pong, &v, wv_deadline_in(10000)));
        WVT_EQ(v, i + 1);
    }
    wvt_join(t);
    wv_chan_free(pp.ping);
    wv_chan_free(pp.pong);
}

/*
 * Producers send unique ids with 1 ms deadlines (retried: time-outs race
 * with completions all the time); consumers receive them, half with
 * plain recv, half with a select that also waits on a channel that never
 * delivers.  Half-way through, the channel is closed under them: the
 * remaining senders fail with WV_ESHUTDOWN and the consumers drain.  Every id
 * whose send returned 0 must arrive exactly once, every other id never.
 */
#define MP_PRODUCERS 3
#define MP_CONSUMERS 3

struct mpmc {
    wv_chan_t *ch;
    wv_chan_t *silent; /* never ready */
    long per_producer;
    unsigned char *sent; /* [id] its send returned 0 */
    unsigned char *got;  /* [id] times received (atomic) */
    long received;       /* (atomic) */
};

static void mp_producer(struct mpmc *m, int p)
{
    for (long i = 0; i < m->per_producer; i++) {
        long id = p * m->per_producer + i + 1;
        int err;
        do
            err = wv_chan_send(m->ch, &id, i % 8 ? wv_deadline_in(1) : 0);
        while (err == WV_ETIMEDOUT || err == WV_EAGAIN);
        if (err == WV_ESHUTDOWN)
            return;
        WVT_OK(err);
        m->sent[id] = 1;
    }
}

static void mp_consumer(struct mpmc *m, int c)
{
    for (long n = 0;; n++) {
        long id = 0;
        int err;
        int64_t deadline = n % 8 ? wv_deadline_in(1) : 0;
        if (c % 2) {
            wv_chan_case_t cs[2] = {recv_case(m->silent, &id),
                                    recv_case(m->ch, &id)};
            err = wv_chan_select(cs, 2, deadline);
            if (err >= 0) {
                WVT_EQ(err, 1);
                err = cs[1].err;
            }
        } else {
            err = wv_chan_recv(m->ch, &id, deadline);
        }
        if (err == WV_ETIMEDOUT || err == WV_EAGAIN)
            continue;
        if (err == WV_EOF)
            return;
        WVT_OK(err);
        WVT_GT(id, 0);
        WVT_LE(id, MP_PRODUCERS * m->per_producer);
        __atomic_add_fetch(&m->got[id], 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&m->received, 1, __ATOMIC_RELAXED);
    }
}

static void mp_party(int i, void *p)
{
    struct mpmc *m = p;
    if (i < MP_PRODUCERS) {
        mp_producer(m, i);
        return;
    }
    if (i < MP_PRODUCERS + MP_CONSUMERS) {
        mp_consumer(m, i - MP_PRODUCERS);
        return;
    }
    /* the closer */
    long half = MP_PRODUCERS * m->per_producer / 2;
    WVT_POLL(__atomic_load_n(&m->received, __ATOMIC_RELAXED) >= half, 60000);
    WVT_OK(wv_chan_close(m->ch));
}

WVT_TEST_TIMEOUT(chan_stress_close_under_producers_and_consumers, 120)
{
    static const size_t caps[] = {0, 1, 16};
    for (size_t ci = 0; ci < sizeof caps / sizeof *caps; ci++) {
        struct mpmc m = {.ch = chan_make(sizeof(long), caps[ci]),
                         .silent = chan_make(sizeof(long), 0),
                         .per_producer = wvt_scale(5000)};
        long ids = MP_PRODUCERS * m.per_producer + 1;
        m.sent = calloc((size_t)ids, 1);
        m.got = calloc((size_t)ids, 1);
        WVT_ASSERT(m.sent && m.got);
        wvt_run_threads(MP_PRODUCERS + MP_CONSUMERS + 1, mp_party, &m);
        long sent = 0;
        for (long id = 1; id < ids; id++) {
            WVT_EQ(m.got[id], m.sent[id]);
            sent += m.sent[id];
        }
        WVT_EQ(sent, m.received);
        WVT_GE(sent, (ids - 1) / 2);
        WVT_EQ(senders(m.ch) + receivers(m.ch) + receivers(m.silent), 0);
        free(m.sent);
        free(m.got);
        wv_chan_free(m.ch);
        wv_chan_free(m.silent);
    }
}

/*
 * Selects over a send and a receive case on each of three channels
 * (unbuffered, 1, 4), racing each other and a party using plain calls,
 * with deadlines of 0 and 1 ms.  Each send case carries a fresh id until
 * it completes.  Afterwards, what is left in the buffers is drained: every
 * id must have been received exactly as often as its send completed.
 */
#define MX_CHANS   3
#define MX_THREADS 4

struct mix {
    wv_chan_t *ch[MX_CHANS];
    long iters;
    long ids_per_thread;
    unsigned char *sent, *got; /* [id] (atomic) */
    long completed;            /* (atomic) selects that completed */
};

static void mix_got(struct mix *m, long id)
{
    WVT_GT(id, 0);
    WVT_LT(id, MX_THREADS * m->ids_per_thread);
    __atomic_add_fetch(&m->got[id], 1, __ATOMIC_RELAXED);
}

static void mix_plain(struct mix *m, long next)
{
    for (long i = 0; i < m->iters; i++) {
        long v = next;
        int64_t deadline = i % 3 ? wv_deadline_in(1) : 0;
        wv_chan_t *ch = m->ch[i % MX_CHANS];
        if (i % 2 == 0) {
            int err = wv_chan_send(ch, &v, deadline);
            if (err == 0)
                __atomic_store_n(&m->sent[next++], 1, __ATOMIC_RELAXED);
            else
                WVT_ASSERT(err == WV_ETIMEDOUT || err == WV_EAGAIN);
        } else {
            int err = wv_chan_recv(ch, &v, deadline);
            if (err == 0)
                mix_got(m, v);
            else
                WVT_ASSERT(err == WV_ETIMEDOUT || err == WV_EAGAIN);
        }
    }
}

/* Thread 0 selects over sends only, 1 over receives only (both block
 * often), 2 over both, 3 makes plain calls. */
static void mix_party(int t, void *p)
{
    struct mix *m = p;
    long next = t * m->ids_per_thread + 1;
    long out[MX_CHANS], in[MX_CHANS];
    wv_chan_case_t c[2 * MX_CHANS];
    size_t n = 0;

    if (t == MX_THREADS - 1) {
        mix_plain(m, next);
        return;
    }
    for (int k = 0; k < MX_CHANS; k++) {
        out[k] = next++;
        if (t != 1)
            c[n++] = send_case(m->ch[k], &out[k]);
        if (t != 0)
            c[n++] = recv_case(m->ch[k], &in[k]);
    }
    for (long i = 0; i < m->iters; i++) {
        int r = wv_chan_select(c, n, i % 4 ? wv_deadline_in(1) : 0);
        if (r < 0) {
            WVT_ASSERT(r == WV_ETIMEDOUT || r == WV_EAGAIN);
            continue;
        }
        WVT_OK(c[r].err);
        __atomic_add_fetch(&m->completed, 1, __ATOMIC_RELAXED);
        long *val = c[r].val;
        if (c[r].op == WV_CHAN_SEND) {
            __atomic_store_n(&m->sent[*val], 1, __ATOMIC_RELAXED);
            *val = next++;
        } else {
            mix_got(m, *val);
        }
    }
}

WVT_TEST_TIMEOUT(chan_stress_selects_exactly_once, 120)
{
    struct mix m = {.iters = wvt_scale(5000)};
    m.ids_per_thread = m.iters + MX_CHANS + 1;
    long ids = MX_THREADS * m.ids_per_thread;
    m.sent = calloc((size_t)ids, 1);
    m.got = calloc((size_t)ids, 1);
    WVT_ASSERT(m.sent && m.got);
    m.ch[0] = chan_make(sizeof(long), 0);
    m.ch[1] = chan_make(sizeof(long), 1);
    m.ch[2] = chan_make(sizeof(long), 4);
    wvt_run_threads(MX_THREADS, mix_party, &m);
    for (int k = 0; k < MX_CHANS; k++) {
        long v;
        while (wv_chan_recv(m.ch[k], &v, WV_NOWAIT) == 0)
            mix_got(&m, v);
        WVT_EQ(senders(m.ch[k]) + receivers(m.ch[k]), 0);
        wv_chan_free(m.ch[k]);
    }
    long moved = 0;
    for (long id = 0; id < ids; id++) {
        WVT_EQ(m.got[id], m.sent[id]);
        moved += m.sent[id];
    }
    WVT_GT(moved, 0);
    WVT_GT(m.completed, 0);
    free(m.sent);
    free(m.got);
}

/* ----------------------------------------------------------- memory */

static void block_in_select(void *p)
{
    wv_chan_t *ch = p;
    long v;
    wv_chan_case_t c[2] = {recv_case(ch, &v), recv_case(NULL, NULL)};
    WVT_EQ(wv_chan_select(c, 2, wv_deadline_in(10000)), 0);
    WVT_EQ(v, 2);
}

static void block_in_recv(void *p)
{
    long v;
    WVT_OK(wv_chan_recv(p, &v, wv_deadline_in(10000)));
    WVT_EQ(v, 1);
}

/* Only wv_chan_new allocates: sends, receives, selects and close never,
 * blocking or not (faultsim finds one allocation point). */
static int chan_life(void *arg)
{
    wv_chan_t *ch;
    long v = 1;
    int err = wv_chan_new(&ch, sizeof v, (size_t)(uintptr_t)arg);
    if (err)
        return err;
    wvt_thread_t *t = wvt_spawn(block_in_recv, ch);
    WVT_POLL(receivers(ch) == 1, 5000);
    WVT_OK(wv_chan_send(ch, &v, WV_FOREVER));
    wvt_join(t);
    t = wvt_spawn(block_in_select, ch);
    WVT_POLL(receivers(ch) == 1, 5000);
    v = 2;
    WVT_OK(wv_chan_send(ch, &v, WV_FOREVER));
    wvt_join(t);
    WVT_OK(wv_chan_close(ch));
    WVT_ERR(wv_chan_recv(ch, &v, WV_FOREVER), WV_EOF);
    wv_chan_free(ch);
    return 0;
}

WVT_TEST(chan_faultsim)
{
    WVT_EQ(wvt_faultsim(chan_life, (void *)0), 1);
    WVT_EQ(wvt_faultsim(chan_life, (void *)1000), 1);
}

/* ------------------------------------------------------- the biased lock */

/* What a channel used by one thread must be biased to: that thread, where
 * membarrier lets the bias be revoked; nobody where it does not. */
int expected_bias(void)
{
    wv__barrier_init(); /* registered: the flag is settled */
    return __atomic_load_n(&wv__barrier_cheap, __ATOMIC_RELAXED) ? 1 : 0;
}

static void send_two(void *p)
{
    long v = 2;
    WVT_EQ(wv__chan_bias(p), 2); /* another thread's, until this send */
    WVT_OK(wv_chan_send(p, &v, wv_deadline_in(10000)));
    WVT_EQ(wv__chan_bias(p), 0);
    v = 3;
    WVT_OK(wv_chan_send(p, &v, wv_deadline_in(10000)));
}

WVT_TEST(chan_lock_is_biased_to_its_first_thread_until_another_comes)
{
    wv_chan_t *ch = chan_make(sizeof(long), 4);
    long v = 1;

    WVT_EQ(wv__chan_bias(ch), 0); /* nobody has locked it */
    WVT_OK(wv_chan_send(ch, &v, 0));
    WVT_EQ(wv__chan_bias(ch), expected_bias());
    WVT_OK(wv_chan_recv(ch, &v, 0));
    WVT_EQ(v, 1);
    WVT_EQ(wv_chan_len(ch), 0u);
    /* Send and recv above took the owner's fast path, whose unlock needs
     * no test; a select unlocks by the general path, which must still
     * tell the owner's hold by its busy word (or the revoker below waits
     * for that word forever). */
    wv_chan_case_t c = recv_case(ch, &v);
    WVT_ERR(wv_chan_select(&c, 1, 0), WV_EAGAIN);
    if (expected_bias()) {
        wvt_thread_t *t = wvt_spawn(send_two, ch);
        wvt_join(t);
        WVT_EQ(wv__chan_bias(ch), 0); /* shared for good */
        WVT_OK(wv_chan_recv(ch, &v, 0));
        WVT_EQ(v, 2);
        WVT_OK(wv_chan_recv(ch, &v, 0));
        WVT_EQ(v, 3);
        WVT_EQ(wv__chan_bias(ch), 0);
    }
    wv_chan_free(ch);
}

WVT_TEST(chan_is_never_biased_without_membarrier)
{
    wv__barrier_init(); /* registered first: it would set the flag */
    bool cheap = __atomic_load_n(&wv__barrier_cheap, __ATOMIC_RELAXED);
    __atomic_store_n(&wv__barrier_cheap, false, __ATOMIC_RELAXED);
    wv_chan_t *ch = chan_make(sizeof(long), 0);
    wv_chan_t *back = chan_make(sizeof(long), 0);
    wv_chan_t *alone = chan_make(sizeof(long), 1);
    long one = 1;
    WVT_OK(wv_chan_send(alone, &one, 0)); /* one thread, yet no bias */
    WVT_EQ(wv__chan_bias(alone), 0);
    WVT_OK(wv_chan_recv(alone, &one, 0));
    WVT_EQ(one, 1);
    wv_chan_free(alone);
    struct pingpong pp = {ch, back, 100};
    wvt_thread_t *t = wvt_spawn(pong_side, &pp);
    for (long i = 0; i < pp.rounds; i++) {
        long v = i;
        WVT_OK(wv_chan_send(ch, &v, wv_deadline_in(10000)));
        WVT_EQ(wv__chan_bias(ch), 0);
        WVT_OK(wv_chan_recv(back, &v, wv_deadline_in(10000)));
        WVT_EQ(v, i + 1);
    }
    wvt_join(t);
    wv_chan_free(ch);
    wv_chan_free(back);
    __atomic_store_n(&wv__barrier_cheap, cheap, __ATOMIC_RELAXED);
}

/*
 * The owner works on its channel without a pause (each of its operations
 * a biased section) until a second thread, started at once, has done its
 * own share: the revocation lands in the middle of the owner's work, every
 * time at another place.  Both send tagged values and receive; every value
 * must arrive exactly once.
 */
#define BIAS_OPS 64
#define BIAS_MAX 100000 /* the owner's operations at most */

struct bias_race {
    wv_chan_t *ch;
    unsigned char *got; /* [value]: times received (atomic) */
    long owner_sent;
    int started; /* (atomic) the owner holds the bias */
    int done;    /* (atomic) the second thread is through */
};

static void bias_recv(struct bias_race *r)
{
    long v;
    WVT_OK(wv_chan_recv(r->ch, &v, wv_deadline_in(10000)));
    WVT_ASSERT(v >= 0 && v < BIAS_MAX + BIAS_OPS);
    __atomic_fetch_add(&r->got[v], 1, __ATOMIC_RELAXED);
}

static void bias_second(void *p)
{
    struct bias_race *r = p;
    int64_t until = wv_deadline_in(5000);
    while (!__atomic_load_n(&r->started, __ATOMIC_ACQUIRE))
        WVT_ASSERT(wv_now() < until);
    for (long i = 0; i < BIAS_OPS; i++) {
        long v = BIAS_MAX + i;
        WVT_OK(wv_chan_send(r->ch, &v, wv_deadline_in(10000)));
        bias_recv(r);
    }
    __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
}

WVT_TEST(chan_bias_revoked_while_the_owner_works)
{
    long rounds = wvt_scale(300);
    unsigned char *got = calloc(BIAS_MAX + BIAS_OPS, 1);
    WVT_ASSERT(got);
    for (long n = 0; n < rounds; n++) {
        struct bias_race r = {.ch = chan_make(sizeof(long), 2), .got = got};
        long v = 0;
        WVT_OK(wv_chan_send(r.ch, &v, 0)); /* the bias is ours */
        bias_recv(&r);
        r.owner_sent = 1;
        wvt_thread_t *t = wvt_spawn(bias_second, &r);
        __atomic_store_n(&r.started, 1, __ATOMIC_RELEASE);
        while (!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE) &&
               r.owner_sent < BIAS_MAX) {
            v = r.owner_sent++;
            WVT_OK(wv_chan_send(r.ch, &v, wv_deadline_in(10000)));
            bias_recv(&r);
        }
        wvt_join(t);
        WVT_EQ(wv_chan_len(r.ch), 0u);
        for (long i = 0; i < r.owner_sent; i++)
            WVT_EQ(got[i], 1);
        for (long i = 0; i < BIAS_OPS; i++)
            WVT_EQ(got[BIAS_MAX + i], 1);
        WVT_EQ(wv__chan_bias(r.ch), 0);
        wv_chan_free(r.ch);
        memset(got, 0, BIAS_MAX + BIAS_OPS);
    }
    free(got);
}

static void use_alone(void *p)
{
    long v = 7;
    WVT_OK(wv_chan_send(p, &v, 0));
    WVT_EQ(wv__chan_bias(p), expected_bias());
}

/* A forked child is a copy of the thread that forked: the channels biased
 * to it stay its own; those biased to a thread that the child does not
 * have are revoked (that thread held no section). */
WVT_TEST(chan_bias_across_fork)
{
    wv_chan_t *mine = chan_make(sizeof(long), 2);
    wv_chan_t *theirs = chan_make(sizeof(long), 2);
    long v = 5;
    WVT_OK(wv_chan_send(mine, &v, 0));
    wvt_thread_t *t = wvt_spawn(use_alone, theirs);
    wvt_join(t);

    pid_t pid = fork();
    WVT_ASSERT(pid >= 0);
    if (pid == 0) {
        long a = 0, b = 0;
        int ok = wv__chan_bias(mine) == expected_bias() &&
                 wv_chan_recv(mine, &a, 0) == 0 && a == 5 &&
                 wv_chan_recv(theirs, &b, 0) == 0 && b == 7 &&
                 wv__chan_bias(theirs) == 0;
        _exit(ok ? 0 : 1);
    }
    int status;
    WVT_EQ(waitpid(pid, &status, 0), pid);
    WVT_ASSERT(WIFEXITED(status));
    WVT_EQ(WEXITSTATUS(status), 0);
    wv_chan_free(mine);
    wv_chan_free(theirs);
}

/*
 * tests/test_pqueue.c - the cross-process Queue: order, sizes (in the
 * cell, in the heap, in a shm object of its own), deadlines on full and
 * empty queues, shutdown, JoinableQueue, named queues, many producers and
 * consumers (processes and threads), a process killed at each point of a
 * put or a get, and processes SIGKILLed at random while the queue runs.
 */
#include "proc/internal.h"
#include "runner.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int join_code(wv_process_t *p)
{
    int code = -1000;
    WVT_OK(wv_process_join(p, &code, WV_FOREVER));
    wv_process_free(p);
    return code;
}

/* A message whose bytes follow from (id, len): checkable for tears. */
static void fill(unsigned char *m, size_t len, uint64_t id)
{
    uint64_t x = id * 0x9e3779b97f4a7c15ull + len;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        m[i] = (unsigned char)x;
    }
    if (len >= 8)
        memcpy(m, &id, 8);
}

static bool intact(const unsigned char *m, size_t len, uint64_t *id)
{
    uint64_t got = 0;
    if (len < 8 || len > (1 << 20))
        return false;
    memcpy(&got, m, 8);
    *id = got;
    uint64_t x = got * 0x9e3779b97f4a7c15ull + len; /* as fill() */
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (i >= 8 && m[i] != (unsigned char)x)
            return false;
    }
    return true;
}

/* ------------------------------------------------------ one process */

WVT_TEST(pqueue_order_sizes_and_deadlines)
{
    wv_mpqueue_opts_t o = {.maxsize = 4, .max_bytes = 16384, .inline_max = 48};
    wv_mpqueue_t *q;
    static unsigned char msg[100000], buf[100000];
    size_t len;
    uint64_t id;

    WVT_OK(wv_mpqueue_new(&q, &o));
    WVT_ASSERT(wv_mpqueue_is_empty(q));
    WVT_ERR(wv_mpqueue_get(q, buf, sizeof buf, &len, WV_NOWAIT), WV_EAGAIN);
    int64_t t0 = wv_now();
    WVT_ERR(wv_mpqueue_get(q, buf, sizeof buf, &len, wv_deadline_in(30)),
            WV_ETIMEDOUT);
    WVT_GE(wv_now() - t0, 30);
    WVT_ERR(wv_mpqueue_peek_len(q, &len), WV_EAGAIN);

    /* 0 bytes, inline, heap (two pages), larger than the heap. */
    size_t sizes[4] = {0, 40, 5000, 70000};
    for (int i = 0; i < 4; i++) {
        fill(msg, sizes[i], (uint64_t)i);
        WVT_OK(wv_mpqueue_put(q, msg, sizes[i], WV_FOREVER));
    }
    WVT_EQ(wv_mpqueue_qsize(q), 4);
    WVT_ASSERT(wv_mpqueue_is_full(q));
    WVT_EQ(wv__pqueue_pages_used(q), 2);
    WVT_EQ(wv__pqueue_spill_objects(q), 1);
    /* Full: a put waits for room, until its deadline. */
    WVT_ERR(wv_mpqueue_put(q, msg, 10, WV_NOWAIT), WV_EAGAIN);
    t0 = wv_now();
    WVT_ERR(wv_mpqueue_put(q, msg, 10, wv_deadline_in(30)), WV_ETIMEDOUT);
    WVT_GE(wv_now() - t0, 30);
    /* A heap put that times out waiting for a cell gives its pages back. */
    WVT_ERR(wv_mpqueue_put(q, msg, 3000, wv_deadline_in(10)), WV_ETIMEDOUT);
    WVT_EQ(wv__pqueue_pages_used(q), 2);

    for (int i = 0; i < 4; i++) {
        WVT_OK(wv_mpqueue_peek_len(q, &len));
        WVT_EQ(len, sizes[i]);
        if (sizes[i] > 1) { /* too small a buffer: left in place */
            WVT_ERR(wv_mpqueue_get(q, buf, sizes[i] - 1, &len, WV_NOWAIT),
                    WV_EMSGSIZE);
            WVT_EQ(len, sizes[i]);
        }
        WVT_OK(wv_mpqueue_get(q, buf, sizeof buf, &len, WV_NOWAIT));
        WVT_EQ(len, sizes[i]);
        if (len >= 8) {
            WVT_ASSERT(intact(buf, len, &id));
            WVT_EQ(id, (uint64_t)i);
        }
    }
    WVT_ASSERT(wv_mpqueue_is_empty(q));
    WVT_EQ(wv__pqueue_pages_used(q), 0);
    WVT_EQ(wv__pqueue_spill_objects(q), 0);

    /* The heap fills: a put waits for room (pages), until its deadline. */
    fill(msg, 9000, 7);
    WVT_OK(wv_mpqueue_put(q, msg, 9000, WV_NOWAIT)); /* 3 of 4 pages */
    WVT_ERR(wv_mpqueue_put(q, msg, 9000, WV_NOWAIT), WV_EAGAIN);
    WVT_ERR(wv_mpqueue_put(q, msg, 9000, wv_deadline_in(20)), WV_ETIMEDOUT);
    WVT_OK(wv_mpqueue_put(q, msg, 4000, WV_NOWAIT)); /* the last page */
    WVT_OK(wv_mpqueue_get(q, buf, sizeof buf, &len, WV_NOWAIT));
    WVT_OK(wv_mpqueue_put(q, msg, 9000, WV_NOWAIT));
    WVT_EQ(wv__pqueue_pages_used(q), 4);

    /* Shutdown: puts fail, gets drain what is left, then fail. */
    wv_mpqueue_shutdown(q, false);
    WVT_ERR(wv_mpqueue_put(q, msg, 1, WV_FOREVER), WV_ESHUTDOWN);
    WVT_OK(wv_mpqueue_get(q, buf, sizeof buf, &len, WV_FOREVER));
    WVT_EQ(len, 4000);
    WVT_OK(wv_mpqueue_get(q, buf, sizeof buf, &len, WV_FOREVER));
    WVT_EQ(len, 9000);
    WVT_ERR(wv_mpqueue_get(q, buf, sizeof buf, &len, WV_FOREVER), WV_ESHUTDOWN);
    WVT_EQ(wv__pqueue_pages_used(q), 0);

    /* Bad input. */
    WVT_ERR(wv_mpqueue_put(NULL, msg, 1, 0), WV_EINVAL);
    WVT_ERR(wv_mpqueue_put(q, NULL, 1, 0), WV_EINVAL);
    WVT_ERR(wv_mpqueue_put(q, msg, 1, -2), WV_EINVAL);
    WVT_ERR(wv_mpqueue_put(q, msg, WV_MPQUEUE_MAX_MSG + 1, 0), WV_EMSGSIZE);
    WVT_ERR(wv_mpqueue_get(q, NULL, 1, &len, 0), WV_EINVAL);
    WVT_ERR(wv_mpqueue_get(q, buf, 1, NULL, 0), WV_EINVAL);
    WVT_ERR(wv_mpqueue_task_done(q), WV_EINVAL); /* not joinable */
    WVT_ERR(wv_mpqueue_join(q, 0), WV_EINVAL);
    wv_mpqueue_opts_t bad = {.maxsize = (1u << 24) + 1};
    wv_mpqueue_t *q2;
    WVT_ERR(wv_mpqueue_new(&q2, &bad), WV_EINVAL);
    WVT_ERR(wv_mpqueue_new(NULL, NULL), WV_EINVAL);
    WVT_EQ(wv_mpqueue_name(q), NULL);
    wv_mpqueue_free(q);
    wv_mpqueue_free(NULL);
}

WVT_TEST(pqueue_odd_maxsize_wraps_many_laps)
{
    wv_mpqueue_opts_t o = {.maxsize = 3}; /* not a power of two */
    wv_mpqueue_t *q;
    long v, sum = 0;
    size_t len;

    WVT_OK(wv_mpqueue_new(&q, &o));
    for (long i = 0; i < 1000; i++) {
        WVT_OK(wv_mpqueue_put(q, &i, sizeof i, WV_NOWAIT));
        if (i % 3 == 2)
            for (int k = 0; k < 3; k++) {
                WVT_OK(wv_mpqueue_get(q, &v, sizeof v, &len, WV_NOWAIT));
                WVT_EQ(v, i - 2 + k);
                sum += v;
            }
    }
    WVT_OK(wv_mpqueue_get(q, &v, sizeof v, &len, WV_NOWAIT));
    WVT_EQ(v, 999);
    WVT_EQ(sum + v, 999 * 1000 / 2);
    wv_mpqueue_free(q);
}

/* ------------------------------------------- many producers, consumers */

#define IDS (1 << 16)

struct board {
    uint32_t seen[IDS];     /* times each message id was received */
    uint32_t returned[IDS]; /* 1: its put returned 0 */
    uint32_t torn;          /* messages received damaged */
    uint32_t stop;          /* consumers: leave once the queue is empty */
    uint32_t incarnation;   /* gives each started producer its id range */
    uint32_t consumer_kills;
};

struct mp {
    wv_mpqueue_t *q;
    struct board *b;
    int per_producer;
    size_t max_len;
};

static size_t pick_len(unsigned *seed, size_t max_len)
{
    unsigned r = rand_r(seed) % 100;
    if (r < 70)
        return 8 + rand_r(seed) % 100; /* inline */
    if (r < 97 || max_len <= 20000)
        return 100 + rand_r(seed) % (max_len < 20000 ? max_len : 20000);
    return 20000 + rand_r(seed) % (max_len - 20000); /* spills */
}

static int producer(void *arg)
{
    struct mp *m = arg;
    unsigned char *msg = malloc(1 << 20);
    if (!msg)
        return 4;
    uint32_t inc = __atomic_fetch_add(&m->b->incarnation, 1, __ATOMIC_SEQ_CST);
    unsigned seed = (unsigned)getpid();
    for (int i = 0; i < m->per_producer; i++) {
        uint64_t id = (uint64_t)inc * (uint64_t)m->per_producer + (uint64_t)i;
        if (id >= IDS)
            break;
        size_t len = pick_len(&seed, m->max_len);
        fill(msg, len, id);
        if (wv_mpqueue_put(m->q, msg, len, WV_FOREVER)) {
            free(msg);
            return 2;
        }
        __atomic_store_n(&m->b->returned[id], 1, __ATOMIC_SEQ_CST);
    }
    free(msg);
    return 0;
}

static int consumer(void *arg)
{
    struct mp *m = arg;
    unsigned char *buf = malloc(1 << 20);
    size_t len;
    uint64_t id;
    if (!buf)
        return 4;
    for (;;) {
        int err = wv_mpqueue_get(m->q, buf, 1 << 20, &len, wv_deadline_in(5));
        if (err == WV_ETIMEDOUT || err == WV_EAGAIN) {
            if (__atomic_load_n(&m->b->stop, __ATOMIC_SEQ_CST))
                break;
            continue;
        }
        if (err) {
            free(buf);
            return 3;
        }
        if (!intact(buf, len, &id) || id >= IDS)
            __atomic_add_fetch(&m->b->torn, 1, __ATOMIC_SEQ_CST);
        else
            __atomic_add_fetch(&m->b->seen[id], 1, __ATOMIC_SEQ_CST);
    }
    free(buf);
    return 0;
}

/* Every message whose put returned was received once; none twice, none
 * torn; at most `lost` missing (taken by consumers killed before they
 * could count it). */
static void check_board(struct board *b, uint32_t lost)
{
    uint32_t missing = 0;
    WVT_EQ(b->torn, 0);
    for (int i = 0; i < IDS; i++) {
        WVT_LE(b->seen[i], 1);
        if (b->returned[i] && !b->seen[i])
            missing++;
    }
    WVT_LE(missing, lost);
}

static void drain_and_stop(struct mp *m, wv_process_t **c, int nc)
{
    /* Wait until the consumers have emptied the queue, then stop them. */
    WVT_POLL(wv_mpqueue_is_empty(m->q), 30000);
    __atomic_store_n(&m->b->stop, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < nc; i++)
        WVT_EQ(join_code(c[i]), 0);
}

WVT_TEST_TIMEOUT(pqueue_many_producers_and_consumers, 120)
{
    wv_shm_t *s;
    wv_mpqueue_opts_t o = {.maxsize = 64, .max_bytes = 256 * 1024};
    struct mp m = {.per_producer = (int)wvt_scale(500), .max_len = 300000};
    wv_process_t *p[3], *c[3];

    WVT_OK(wv_shm_anon(&s, sizeof(struct board)));
    m.b = wv_shm_addr(s);
    WVT_OK(wv_mpqueue_new(&m.q, &o));
    for (int i = 0; i < 3; i++)
        WVT_OK(wv_process_start(&c[i], NULL, consumer, &m));
    for (int i = 0; i < 3; i++)
        WVT_OK(wv_process_start(&p[i], NULL, producer, &m));
    for (int i = 0; i < 3; i++)
        WVT_EQ(join_code(p[i]), 0);
    drain_and_stop(&m, c, 3);
    for (int i = 0; i < 3 * m.per_producer; i++)
        WVT_EQ(m.b->returned[i], 1);
    check_board(m.b, 0);
    WVT_EQ(wv__pqueue_pages_used(m.q), 0);
    WVT_EQ(wv__pqueue_spill_objects(m.q), 0);
    wv_mpqueue_free(m.q);
    wv_shm_free(s);
}

/* Threads of one process: the same queue, also under ThreadSanitizer. */
static struct mp tm;

static void thread_role(int i, void *arg)
{
    if (i < 2)
        WVT_EQ(producer(&tm), 0);
    else
        WVT_EQ(consumer(&tm), 0);
}

static void stop_when_done(void *arg)
{
    while (__atomic_load_n(&tm.b->incarnation, __ATOMIC_SEQ_CST) < 2 ||
           !wv_mpqueue_is_empty(tm.q))
        wvt_pause();
    /* Both producers started; wait until every put returned. */
    for (int i = 0; i < 2 * tm.per_producer; i++)
        while (!__atomic_load_n(&tm.b->returned[i], __ATOMIC_SEQ_CST))
            wvt_pause();
    WVT_POLL(wv_mpqueue_is_empty(tm.q), 30000);
    __atomic_store_n(&tm.b->stop, 1, __ATOMIC_SEQ_CST);
}

WVT_TEST_TIMEOUT(pqueue_threads_of_one_process, 120)
{
    wv_shm_t *s;
    wv_mpqueue_opts_t o = {.maxsize = 8, .max_bytes = 64 * 1024};
    WVT_OK(wv_shm_anon(&s, sizeof(struct board)));
    tm = (struct mp){.b = wv_shm_addr(s),
                     .per_producer = (int)wvt_scale(1000),
                     .max_len = 30000};
    WVT_OK(wv_mpqueue_new(&tm.q, &o));
    wvt_thread_t *t = wvt_spawn(stop_when_done, NULL);
    wvt_run_threads(4, thread_role, NULL);
    wvt_join(t);
    check_board(tm.b, 0);
    WVT_EQ(wv__pqueue_pages_used(tm.q), 0);
    wv_mpqueue_free(tm.q);
    wv_shm_free(s);
}

/* ----------------------------------------------- a death at each point */

struct crash {
    wv_mpqueue_t *q;
    int point;
    size_t len;
};

static int put_and_die(void *arg)
{
    struct crash *c = arg;
    static unsigned char msg[200000];
    fill(msg, c->len, 99);
    wv__pqueue_crash_at = c->point;
    wv_mpqueue_put(c->q, msg, c->len, WV_FOREVER);
    return 1; /* not reached */
}

static int get_and_die(void *arg)
{
    struct crash *c = arg;
    static unsigned char buf[200000];
    size_t len;
    wv__pqueue_crash_at = c->point;
    wv_mpqueue_get(c->q, buf, sizeof buf, &len, WV_FOREVER);
    return 1; /* not reached */
}

/* A producer dies at `point` putting a message of `len` bytes between two
 * good ones: the survivor gets exactly the good ones, and every page and
 * shm object comes back. */
static void producer_dies(int point, size_t len, bool poll)
{
    wv_mpqueue_opts_t o = {.maxsize = 4, .max_bytes = 65536};
    struct crash c = {.point = point, .len = len};
    wv_process_t *p;
    long v;
    size_t n;

    WVT_OK(wv_mpqueue_new(&c.q, &o));
    v = 1;
    WVT_OK(wv_mpqueue_put(c.q, &v, sizeof v, WV_NOWAIT));
    WVT_OK(wv_process_start(&p, NULL, put_and_die, &c));
    WVT_EQ(join_code(p), -SIGKILL);
    v = 2;
    WVT_OK(wv_mpqueue_put(c.q, &v, sizeof v, WV_NOWAIT));
    WVT_OK(wv_mpqueue_get(c.q, &v, sizeof v, &n, WV_FOREVER));
    WVT_EQ(v, 1);
    /* The dead producer's cell (if it claimed one) stops this get until
     * the dead is noticed: then it is skipped. */
    if (poll) /* a poller that never waits notices the dead too */
        WVT_POLL(wv_mpqueue_get(c.q, &v, sizeof v, &n, WV_NOWAIT) == 0, 10000);
    else
        WVT_OK(wv_mpqueue_get(c.q, &v, sizeof v, &n, wv_deadline_in(10000)));
    WVT_EQ(v, 2);
    WVT_ERR(wv_mpqueue_get(c.q, &v, sizeof v, &n, WV_NOWAIT), WV_EAGAIN);
    /* Its pages come back when an allocation needs them, or at once. */
    static unsigned char big[65536];
    WVT_OK(wv_mpqueue_put(c.q, big, sizeof big, wv_deadline_in(10000)));
    WVT_EQ(wv__pqueue_pages_used(c.q), 16);
    WVT_OK(wv_mpqueue_get(c.q, big, sizeof big, &n, WV_NOWAIT));
    WVT_EQ(wv__pqueue_pages_used(c.q), 0);
    WVT_EQ(wv__pqueue_spill_objects(c.q), 0);
    wv_mpqueue_free(c.q);
}

WVT_TEST(pqueue_producer_killed_at_each_point)
{
    producer_dies(WV__PQ_CRASH_CLAIMED, 40, false);
    producer_dies(WV__PQ_CRASH_WRITTEN, 40, true);
    producer_dies(WV__PQ_CRASH_RESERVED, 20000, false);
    producer_dies(WV__PQ_CRASH_CLAIMED, 20000, false);
    producer_dies(WV__PQ_CRASH_WRITTEN, 20000, false);
    producer_dies(WV__PQ_CRASH_IN_ADMIN, 20000, false);
    producer_dies(WV__PQ_CRASH_WRITTEN, 100000, false); /* a shm object */
}

/* A consumer dies at `point` taking a message: if it died before freeing
 * the cell, the message is delivered again, whole; else it is gone. */
static void consumer_dies(int point, size_t len, bool redelivered)
{
    wv_mpqueue_opts_t o = {.maxsize = 4, .max_bytes = 65536};
    struct crash c = {.point = point};
    wv_process_t *p;
    static unsigned char msg[200000], buf[200000];
    size_t n;
    uint64_t id;

    WVT_OK(wv_mpqueue_new(&c.q, &o));
    fill(msg, len, 5);
    WVT_OK(wv_mpqueue_put(c.q, msg, len, WV_NOWAIT));
    fill(msg, 16, 6);
    WVT_OK(wv_mpqueue_put(c.q, msg, 16, WV_NOWAIT));
    WVT_OK(wv_process_start(&p, NULL, get_and_die, &c));
    /* Dead but not reaped yet: a zombie is dead too. */
    siginfo_t si;
    WVT_EQ(waitid(P_PID, (id_t)wv_process_pid(p), &si, WEXITED | WNOWAIT), 0);
    if (redelivered) {
        /* Noticed by a get that finds nothing else, or waits. */
        WVT_OK(wv_mpqueue_get(c.q, buf, sizeof buf, &n, WV_FOREVER));
        WVT_ASSERT(intact(buf, n, &id));
        WVT_EQ(id, 6);
        WVT_OK(wv_mpqueue_get(c.q, buf, sizeof buf, &n, wv_deadline_in(10000)));
        WVT_EQ(n, len);
        WVT_ASSERT(intact(buf, n, &id));
        WVT_EQ(id, 5);
    } else {
        WVT_OK(wv_mpqueue_get(c.q, buf, sizeof buf, &n, WV_FOREVER));
        WVT_ASSERT(intact(buf, n, &id));
        WVT_EQ(id, 6);
    }
    WVT_EQ(join_code(p), -SIGKILL);
    WVT_ERR(wv_mpqueue_get(c.q, buf, sizeof buf, &n, wv_deadline_in(50)),
            WV_ETIMEDOUT);
    static unsigned char big[65536];
    WVT_OK(wv_mpqueue_put(c.q, big, sizeof big, wv_deadline_in(10000)));
    WVT_OK(wv_mpqueue_get(c.q, big, sizeof big, &n, WV_NOWAIT));
    WVT_EQ(wv__pqueue_pages_used(c.q), 0);
    wv_mpqueue_free(c.q); /* sweeps a shm object left behind */
}

static int get_until_death(void *arg)
{
    struct crash *c = arg;
    long v;
    size_t len;
    wv__pqueue_crash_at = c->point;
    for (;;)
        if (wv_mpqueue_get(c->q, &v, sizeof v, &len, WV_FOREVER))
            return 1;
}

/* A consumer dies taking a message; the process that repairs that dies
 * in the middle of its repair, holding the admin lock: the next one
 * finishes the job and the message is still delivered. */
WVT_TEST(pqueue_repairer_killed_in_its_repair)
{
    wv_mpqueue_opts_t o = {.maxsize = 4};
    struct crash c = {.point = WV__PQ_CRASH_COPIED_OUT};
    wv_process_t *p;
    long v;
    size_t n;

    WVT_OK(wv_mpqueue_new(&c.q, &o));
    for (v = 1; v <= 2; v++)
        WVT_OK(wv_mpqueue_put(c.q, &v, sizeof v, WV_NOWAIT));
    WVT_OK(wv_process_start(&p, NULL, get_and_die, &c));
    WVT_EQ(join_code(p), -SIGKILL); /* holds message 1 */
    c.point = WV__PQ_CRASH_IN_REPAIR;
    WVT_OK(wv_process_start(&p, NULL, get_until_death, &c));
    /* It takes message 2, then (waiting for more) repairs, and dies. */
    WVT_EQ(join_code(p), -SIGKILL);
    WVT_OK(wv_mpqueue_get(c.q, &v, sizeof v, &n, wv_deadline_in(10000)));
    WVT_EQ(v, 1);
    /* Every cell is usable again: the ring takes a full lap. */
    for (v = 0; v < 8; v++) {
        WVT_OK(wv_mpqueue_put(c.q, &v, sizeof v, wv_deadline_in(10000)));
        long got;
        WVT_OK(wv_mpqueue_get(c.q, &got, sizeof got, &n, WV_NOWAIT));
        WVT_EQ(got, v);
    }
    wv_mpqueue_free(c.q);
}

/* A process whose main thread called pthread_exit shows as a zombie in
 * /proc while its other threads run: it must not be taken for dead. */
static wv_mpqueue_t *zq;

static void *late_put(void *arg)
{
    static unsigned char msg[20000];
    fill(msg, sizeof msg, 77);
    /* The queue is full: this holds heap pages while it waits. */
    if (wv_mpqueue_put(zq, msg, sizeof msg, wv_deadline_in(30000)))
        _exit(2);
    _exit(0);
}

static int leader_exits(void *arg)
{
    pthread_t t;
    if (pthread_create(&t, NULL, late_put, NULL))
        return 1;
    pthread_exit(NULL);
}

static char proc_state(int pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    return p && p[1] ? p[2] : 0;
}

WVT_TEST(pqueue_main_thread_exit_is_not_death)
{
    wv_mpqueue_opts_t o = {.maxsize = 1, .max_bytes = 65536};
    wv_process_t *p;
    static unsigned char buf[20000];
    long v = 1;
    size_t n;
    uint64_t id;

    WVT_OK(wv_mpqueue_new(&zq, &o));
    WVT_OK(wv_mpqueue_put(zq, &v, sizeof v, WV_NOWAIT)); /* full */
    WVT_OK(wv_process_start(&p, NULL, leader_exits, NULL));
    WVT_POLL(proc_state(wv_process_pid(p)) == 'Z' &&
                 wv__pqueue_pages_used(zq) == 5,
             10000);
    /* This put waits long enough for sweeps to look at everybody. */
    WVT_ERR(wv_mpqueue_put(zq, &v, sizeof v, wv_deadline_in(300)), WV_ETIMEDOUT);
    WVT_EQ(wv__pqueue_pages_used(zq), 5); /* still the living thread's */
    WVT_OK(wv_mpqueue_get(zq, &v, sizeof v, &n, WV_NOWAIT));
    WVT_OK(wv_mpqueue_get(zq, buf, sizeof buf, &n, wv_deadline_in(10000)));
    WVT_ASSERT(intact(buf, n, &id));
    WVT_EQ(id, 77);
    WVT_EQ(join_code(p), 0);
    wv_mpqueue_free(zq);
}

WVT_TEST(pqueue_consumer_killed_at_each_point)
{
    consumer_dies(WV__PQ_CRASH_COPIED_OUT, 40, true);
    consumer_dies(WV__PQ_CRASH_COPIED_OUT, 20000, true);
    consumer_dies(WV__PQ_CRASH_COPIED_OUT, 100000, true);
    consumer_dies(WV__PQ_CRASH_FREED_CELL, 20000, false);
}

/* ------------------------------------------------ kill -9 at random */

WVT_TEST_TIMEOUT(pqueue_survives_processes_killed_at_random, 180)
{
    wv_shm_t *s;
    wv_mpqueue_opts_t o = {.maxsize = 16, .max_bytes = 64 * 1024};
    struct mp m = {.per_producer = 400, .max_len = 100000};
    wv_process_t *p[2], *c[2];
    unsigned seed = (unsigned)getpid();
    uint32_t consumer_kills = 0;

    WVT_OK(wv_shm_anon(&s, sizeof(struct board)));
    m.b = wv_shm_addr(s);
    WVT_OK(wv_mpqueue_new(&m.q, &o));
    for (int i = 0; i < 2; i++) {
        WVT_OK(wv_process_start(&c[i], NULL, consumer, &m));
        WVT_OK(wv_process_start(&p[i], NULL, producer, &m));
    }
    for (int k = 0; k < wvt_scale(25); k++) {
        int victim = (int)(rand_r(&seed) % 4);
        wv_process_t **w = victim < 2 ? &p[victim] : &c[victim - 2];
        /* Where the kill lands is random. */
        wv_sleep_ms(1 + rand_r(&seed) % 4);
        WVT_OK(wv_process_kill(*w));
        int code = join_code(*w);
        WVT_ASSERT(code == -SIGKILL || code == 0); /* 0: a producer done */
        if (victim >= 2)
            consumer_kills++;
        WVT_OK(wv_process_start(w, NULL, victim < 2 ? producer : consumer, &m));
    }
    for (int i = 0; i < 2; i++)
        WVT_EQ(join_code(p[i]), 0);
    drain_and_stop(&m, c, 2);
    check_board(m.b, consumer_kills);
    /* Everything the dead held comes back. */
    static unsigned char big[64 * 1024];
    size_t n;
    WVT_OK(wv_mpqueue_put(m.q, big, sizeof big, wv_deadline_in(10000)));
    WVT_OK(wv_mpqueue_get(m.q, big, sizeof big, &n, WV_NOWAIT));
    WVT_EQ(wv__pqueue_pages_used(m.q), 0);
    wv_mpqueue_free(m.q);
    wv_shm_free(s);
}

/* ------------------------------------------------------ JoinableQueue */

static int work_and_finish(void *arg)
{
    wv_mpqueue_t *q = arg;
    long v;
    size_t n;
    for (int i = 0; i < 50; i++) {
        if (wv_mpqueue_get(q, &v, sizeof v, &n, WV_FOREVER))
            return 2;
        if (wv_mpqueue_task_done(q))
            return 3;
    }
    return 0;
}

WVT_TEST(pqueue_joinable_task_done_and_join)
{
    wv_mpqueue_opts_t o = {.maxsize = 16, .joinable = true};
    wv_mpqueue_t *q;
    wv_process_t *w[2];
    long v = 0;
    size_t n;

    WVT_OK(wv_mpqueue_new(&q, &o));
    WVT_OK(wv_mpqueue_join(q, WV_NOWAIT)); /* nothing put: done */
    WVT_ERR(wv_mpqueue_task_done(q), WV_EOVERFLOW);
    WVT_OK(wv_mpqueue_put(q, &v, sizeof v, WV_NOWAIT));
    WVT_ERR(wv_mpqueue_join(q, WV_NOWAIT), WV_EAGAIN);
    WVT_OK(wv_mpqueue_get(q, &v, sizeof v, &n, WV_NOWAIT));
    /* Taken, not finished. */
    WVT_ERR(wv_mpqueue_join(q, wv_deadline_in(20)), WV_ETIMEDOUT);
    WVT_OK(wv_mpqueue_task_done(q));
    WVT_OK(wv_mpqueue_join(q, WV_NOWAIT));
    WVT_ERR(wv_mpqueue_task_done(q), WV_EOVERFLOW);

    for (int i = 0; i < 2; i++)
        WVT_OK(wv_process_start(&w[i], NULL, work_and_finish, q));
    for (v = 0; v < 100; v++)
        WVT_OK(wv_mpqueue_put(q, &v, sizeof v, WV_FOREVER));
    WVT_OK(wv_mpqueue_join(q, wv_deadline_in(20000)));
    for (int i = 0; i < 2; i++)
        WVT_EQ(join_code(w[i]), 0);
    WVT_ASSERT(wv_mpqueue_is_empty(q));
    wv_mpqueue_free(q);
}

/* ------------------------------------------------------- named queues */

static int open_and_put(void *arg)
{
    wv_mpqueue_t *q;
    if (wv_mpqueue_open(&q, arg))
        return 1;
    int err = wv_mpqueue_put(q, "hello", 5, WV_FOREVER);
    wv_mpqueue_free(q);
    return err ? 2 : 0;
}

WVT_TEST(pqueue_named_open_from_another_process)
{
    char name[64];
    wv_mpqueue_t *q, *again;
    wv_process_t *p;
    char buf[16];
    size_t n;

    snprintf(name, sizeof name, "/wvt-pq-%d", (int)getpid());
    wv_mpqueue_opts_t o = {.name = name};
    WVT_OK(wv_mpqueue_new(&q, &o));
    WVT_ASSERT(strcmp(wv_mpqueue_name(q), name) == 0);
    WVT_ERR(wv_mpqueue_new(&again, &o), WV_EEXIST);
    WVT_OK(wv_process_start(&p, NULL, open_and_put, name));
    WVT_EQ(join_code(p), 0);
    WVT_OK(wv_mpqueue_get(q, buf, sizeof buf, &n, WV_FOREVER));
    WVT_EQ(n, 5);
    WVT_ASSERT(memcmp(buf, "hello", 5) == 0);
    WVT_OK(wv_mpqueue_unlink(name));
    WVT_ERR(wv_mpqueue_open(&again, name), WV_ENOENT);
    wv_mpqueue_free(q);

    /* A shm object that is no queue. */
    wv_shm_t *s;
    WVT_OK(wv_shm_open(&s, name, true, 8192));
    WVT_ERR(wv_mpqueue_open(&again, name), WV_EPROTO);
    WVT_OK(wv_shm_unlink(name));
    wv_shm_free(s);
}

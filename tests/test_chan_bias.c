/*
 * tests/test_chan_bias.c - the biased channel lock (coro/chan.c, "lock"),
 * from the review of its first version: revocations that land inside an
 * owner's section, in the middle of selects, and under real-time
 * priorities; tokens never inherited from a dead thread.  The basic
 * cases are in test_chan.c.
 */
#include "coro/internal.h"
#include "runner.h"
#include "test_chan.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------- token reuse after exit */

static void owner_then_exit(void *p)
{
    long v = 42;
    WVT_OK(wv_chan_send(p, &v, 0)); /* biased to this thread */
    WVT_EQ(wv__chan_bias(p), expected_bias());
}

static void next_thread(void *p)
{
    long v = 0;
    /* A new thread, likely on the dead owner's cached stack and so at
     * the same thread-local address: the bias is still another's. */
    if (expected_bias())
        WVT_EQ(wv__chan_bias(p), 2);
    WVT_OK(wv_chan_recv(p, &v, 0)); /* revokes */
    WVT_EQ(v, 42);
    WVT_EQ(wv__chan_bias(p), 0);
}

/* A thread that reused a dead owner's token would enter the owner's
 * sections with nothing ordering them after the dead owner's (TSan: a
 * race on the ring).  Tokens are never reused. */
WVT_TEST(chan_bias_token_of_a_dead_thread_is_not_inherited)
{
    for (int i = 0; i < 20; i++) {
        wv_chan_t *ch = chan_make(sizeof(long), 1);
        wvt_thread_t *t = wvt_spawn(owner_then_exit, ch);
        wvt_join(t);
        t = wvt_spawn(next_thread, ch);
        wvt_join(t);
        wv_chan_free(ch);
    }
}

/* ------------------------------ revocations in the middle of selects */

#define STORM_K      4
#define STORM_VALUES 64

struct storm {
    wv_chan_t *ch[STORM_K];
    unsigned char got[STORM_VALUES];
    int received; /* atomic */
};

static void storm_recv(void *p)
{
    struct storm *s = p;
    for (;;) {
        long v[STORM_K];
        wv_chan_case_t c[STORM_K];
        if (__atomic_load_n(&s->received, __ATOMIC_ACQUIRE) >= STORM_VALUES)
            return;
        for (int i = 0; i < STORM_K; i++)
            c[i] = (wv_chan_case_t){
                .ch = s->ch[i], .op = WV_CHAN_RECV, .val = &v[i]};
        int r = wv_chan_select(c, STORM_K, wv_deadline_in(2));
        if (r == WV_ETIMEDOUT)
            continue;
        WVT_ASSERT(r >= 0 && r < STORM_K);
        WVT_OK(c[r].err);
        WVT_ASSERT(v[r] >= 0 && v[r] < STORM_VALUES);
        __atomic_fetch_add(&s->got[v[r]], 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&s->received, 1, __ATOMIC_RELEASE);
    }
}

WVT_TEST_TIMEOUT(chan_revocation_storm_under_select, 120)
{
    long rounds = wvt_scale(100);
    for (long n = 0; n < rounds; n++) {
        struct storm s;
        memset(&s, 0, sizeof s);
        for (int i = 0; i < STORM_K; i++) {
            long x = 0;
            s.ch[i] = chan_make(sizeof(long), 1);
            WVT_OK(wv_chan_send(s.ch[i], &x, 0)); /* biased to us */
            WVT_OK(wv_chan_recv(s.ch[i], &x, 0));
        }
        wvt_thread_t *b = wvt_spawn(storm_recv, &s);
        wvt_thread_t *c = wvt_spawn(storm_recv, &s);
        for (long v = 0; v < STORM_VALUES; v++) {
            wv_chan_case_t cs[STORM_K];
            for (int i = 0; i < STORM_K; i++)
                cs[i] = (wv_chan_case_t){
                    .ch = s.ch[i], .op = WV_CHAN_SEND, .val = &v};
            int r = wv_chan_select(cs, STORM_K, wv_deadline_in(10000));
            WVT_ASSERT(r >= 0 && r < STORM_K);
            WVT_OK(cs[r].err);
        }
        wvt_join(b);
        wvt_join(c);
        for (int i = 0; i < STORM_VALUES; i++)
            WVT_EQ(s.got[i], 1);
        for (int i = 0; i < STORM_K; i++) {
            WVT_EQ(wv_chan_len(s.ch[i]), 0u);
            wv_chan_free(s.ch[i]);
        }
    }
}

/* ---------------------- the revoker must wait for the owner's section */

/*
 * chan_bias_revoked_while_the_owner_works cannot see a revoker that does
 * not wait for the owner's section: the owner's sections (tens of ns) end
 * long before membarrier returns.  Here every section copies a 128 KiB
 * value, so the revocation lands inside one almost every round: a revoker
 * that does not wait then works on the ring at the same time (torn values,
 * lost or doubled ones).
 */
#define BIG       (128u << 10)
#define BIG_OPS   8
#define BIG_OWNER 4096

struct big_race {
    wv_chan_t *ch;
    unsigned char *got; /* [tag] times received (atomic) */
    int started, done;  /* atomic */
};

static void big_fill(unsigned char *b, unsigned tag)
{
    for (size_t i = 0; i < BIG; i += sizeof tag)
        memcpy(b + i, &tag, sizeof tag);
}

static void big_recv(struct big_race *r, unsigned char *b)
{
    unsigned tag, t2;
    WVT_OK(wv_chan_recv(r->ch, b, wv_deadline_in(10000)));
    memcpy(&tag, b, sizeof tag);
    for (size_t i = 0; i < BIG; i += sizeof tag) {
        memcpy(&t2, b + i, sizeof t2);
        if (t2 != tag)
            WVT_FAIL("torn value: %u at 0 and %u at %zu", tag, t2, i);
    }
    WVT_ASSERT(tag < BIG_OWNER + BIG_OPS);
    __atomic_fetch_add(&r->got[tag], 1, __ATOMIC_RELAXED);
}

static void big_second(void *p)
{
    struct big_race *r = p;
    unsigned char *b = malloc(BIG);
    WVT_ASSERT(b);
    int64_t until = wv_deadline_in(5000);
    while (!__atomic_load_n(&r->started, __ATOMIC_ACQUIRE))
        WVT_ASSERT(wv_now() < until);
    for (unsigned i = 0; i < BIG_OPS; i++) {
        big_fill(b, BIG_OWNER + i);
        WVT_OK(wv_chan_send(r->ch, b, wv_deadline_in(10000)));
        big_recv(r, b);
    }
    free(b);
    __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
}

WVT_TEST_TIMEOUT(chan_revoker_waits_for_a_long_owner_section, 120)
{
    long rounds = wvt_scale(40);
    unsigned char *b = malloc(BIG);
    unsigned char *got = calloc(BIG_OWNER + BIG_OPS, 1);
    WVT_ASSERT(b && got);
    for (long n = 0; n < rounds; n++) {
        struct big_race r = {.ch = chan_make(BIG, 2), .got = got};
        unsigned sent = 0;
        big_fill(b, sent++);
        WVT_OK(wv_chan_send(r.ch, b, 0)); /* biased to us */
        big_recv(&r, b);
        wvt_thread_t *t = wvt_spawn(big_second, &r);
        __atomic_store_n(&r.started, 1, __ATOMIC_RELEASE);
        while (!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE) &&
               sent < BIG_OWNER) {
            big_fill(b, sent++);
            WVT_OK(wv_chan_send(r.ch, b, wv_deadline_in(10000)));
            big_recv(&r, b);
        }
        wvt_join(t);
        WVT_EQ(wv_chan_len(r.ch), 0u);
        for (unsigned i = 0; i < sent; i++)
            WVT_EQ(got[i], 1);
        for (unsigned i = 0; i < BIG_OPS; i++)
            WVT_EQ(got[BIG_OWNER + i], 1);
        wv_chan_free(r.ch);
        memset(got, 0, BIG_OWNER + BIG_OPS);
    }
    free(got);
    free(b);
}

/* ------------------- real-time priorities: spin-yield never sleeps */

struct rt_race {
    wv_chan_t *ch;
    int owner_started, stop, high_done; /* atomic */
    int64_t high_ms;                    /* the high thread's send took */
};

static void *rt_low_owner(void *p)
{
    struct rt_race *r = p;
    unsigned char *b = malloc(BIG);
    WVT_ASSERT(b);
    memset(b, 1, BIG);
    WVT_OK(wv_chan_send(r->ch, b, 0)); /* the bias is ours */
    WVT_OK(wv_chan_recv(r->ch, b, 0));
    __atomic_store_n(&r->owner_started, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        /* Sections of ~10 us each: a preemption lands in one often. */
        WVT_OK(wv_chan_send(r->ch, b, wv_deadline_in(10000)));
        WVT_OK(wv_chan_recv(r->ch, b, wv_deadline_in(10000)));
    }
    free(b);
    return NULL;
}

static void *rt_high(void *p)
{
    struct rt_race *r = p;
    unsigned char *b = calloc(1, BIG);
    WVT_ASSERT(b);
    int64_t until = wv_deadline_in(5000);
    while (!__atomic_load_n(&r->owner_started, __ATOMIC_ACQUIRE)) {
        WVT_ASSERT(wv_now() < until);
        usleep(100);
    }
    /* Not a race fix: the scenario.  The high thread must come back from
     * a sleep, preempting the owner at a random point of its loop (often
     * inside a section), then revoke. */
    usleep(1000);
    int64_t t0 = wv_now();
    WVT_OK(wv_chan_send(r->ch, b, wv_deadline_in(10000))); /* revokes */
    r->high_ms = wv_now() - t0;
    __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&r->high_done, 1, __ATOMIC_RELEASE);
    free(b);
    return NULL;
}

/* A SCHED_FIFO thread on cpu; false where real-time priorities are
 * refused (no CAP_SYS_NICE): the test is then skipped. */
static bool rt_thread(pthread_t *t, void *(*fn)(void *), void *arg, int prio,
                      int cpu)
{
    pthread_attr_t a;
    struct sched_param sp = {.sched_priority = prio};
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_attr_init(&a);
    pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&a, SCHED_FIFO);
    pthread_attr_setschedparam(&a, &sp);
    pthread_attr_setaffinity_np(&a, sizeof set, &set);
    int err = pthread_create(t, &a, fn, arg);
    pthread_attr_destroy(&a);
    WVT_ASSERT(err == 0 || err == EPERM);
    return err == 0;
}

/*
 * Two SCHED_FIFO threads on one CPU: the low one owns the channel and
 * works; the high one wakes (preempting it, often inside a section) and
 * sends, which revokes the bias and waits for busy == 0 spinning with
 * sched_yield.  sched_yield by the highest-priority FIFO thread returns at
 * once: the owner never runs again, and neither finishes (a leaf lock
 * would have slept on its futex after 64 spins and let the owner run).
 * A watchdog (this thread, not real-time) demotes the high thread after
 * 500 ms so that the test ends; it fails if it had to.
 */
WVT_TEST_TIMEOUT(chan_revocation_under_real_time_priorities, 60)
{
    wv__barrier_init();
    if (!__atomic_load_n(&wv__barrier_cheap, __ATOMIC_RELAXED))
        return;
    int cpu = (int)sysconf(_SC_NPROCESSORS_ONLN) - 1;
    int rescued = 0;
    for (int round = 0; round < 10 && !rescued; round++) {
        struct rt_race r = {.ch = chan_make(BIG, 2)};
        pthread_t lo, hi;
        if (!rt_thread(&lo, rt_low_owner, &r, 1, cpu)) {
            wv_chan_free(r.ch);
            return; /* no real-time priorities here */
        }
        if (!rt_thread(&hi, rt_high, &r, 2, cpu)) {
            __atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
            WVT_ASSERT(pthread_join(lo, NULL) == 0);
            wv_chan_free(r.ch);
            return;
        }
        int64_t until = wv_deadline_in(500);
        while (!__atomic_load_n(&r.high_done, __ATOMIC_ACQUIRE) &&
               wv_now() < until)
            usleep(1000);
        if (!__atomic_load_n(&r.high_done, __ATOMIC_ACQUIRE)) {
            struct sched_param sp = {.sched_priority = 0};
            WVT_ASSERT(pthread_setschedparam(hi, SCHED_OTHER, &sp) == 0);
            rescued = round + 1;
        }
        WVT_ASSERT(pthread_join(hi, NULL) == 0);
        WVT_ASSERT(pthread_join(lo, NULL) == 0);
        unsigned char *b = malloc(BIG);
        while (wv_chan_recv(r.ch, b, 0) == 0)
            ;
        free(b);
        wv_chan_free(r.ch);
        if (rescued)
            fprintf(stderr,
                    "round %d: the high thread's send took %lld ms "
                    "(rescued by the watchdog)\n",
                    round, (long long)r.high_ms);
    }
    WVT_EQ(rescued, 0);
}

/* ------------ owners of some channels revoking the others' in selects */

struct cross {
    struct storm s;
    int ready; /* atomic: owners that claimed their channels */
};

static void cross_claim(struct cross *x, int parity)
{
    for (int i = parity; i < STORM_K; i += 2) {
        WVT_EQ(wv__chan_waiting(x->s.ch[i], WV_CHAN_RECV), 0u); /* locks */
        WVT_EQ(wv__chan_bias(x->s.ch[i]), 1);
    }
    __atomic_fetch_add(&x->ready, 1, __ATOMIC_ACQ_REL);
    int64_t until = wv_deadline_in(5000);
    while (__atomic_load_n(&x->ready, __ATOMIC_ACQUIRE) < 2)
        WVT_ASSERT(wv_now() < until);
}

static void cross_receiver(void *p)
{
    struct cross *x = p;
    cross_claim(x, 1);
    storm_recv(&x->s);
}

WVT_TEST_TIMEOUT(chan_owners_revoke_each_other_in_selects, 120)
{
    long rounds = wvt_scale(100);
    for (long n = 0; n < rounds; n++) {
        struct cross x;
        memset(&x, 0, sizeof x);
        for (int i = 0; i < STORM_K; i++)
            x.s.ch[i] = chan_make(sizeof(long), (size_t)(i % 2));
        wvt_thread_t *b = wvt_spawn(cross_receiver, &x);
        cross_claim(&x, 0);
        wvt_thread_t *c = wvt_spawn(storm_recv, &x.s);
        for (long v = 0; v < STORM_VALUES; v++) {
            wv_chan_case_t cs[STORM_K];
            for (int i = 0; i < STORM_K; i++)
                cs[i] = (wv_chan_case_t){
                    .ch = x.s.ch[i], .op = WV_CHAN_SEND, .val = &v};
            int r = wv_chan_select(cs, STORM_K, wv_deadline_in(10000));
            WVT_ASSERT(r >= 0 && r < STORM_K);
            WVT_OK(cs[r].err);
        }
        wvt_join(b);
        wvt_join(c);
        for (int i = 0; i < STORM_VALUES; i++)
            WVT_EQ(x.s.got[i], 1);
        for (int i = 0; i < STORM_K; i++)
            wv_chan_free(x.s.ch[i]);
    }
}

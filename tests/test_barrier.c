/*
 * tests/test_barrier.c - threading.Barrier.
 */
#include "core/internal.h"
#include "runner.h"

#include <string.h>

#define PARTIES 4

struct rounds {
    wv_barrier_t b;
    int rounds;
    int actions;       /* [the barrier] */
    int seen[PARTIES]; /* indexes returned this round */
    int last_index_thread[256];
    pthread_t action_thread;
};

static int count_action(void *p)
{
    struct rounds *r = p;
    r->actions++;
    r->action_thread = pthread_self();
    return 0;
}

static void round_trip(int i, void *p)
{
    struct rounds *r = p;
    for (int n = 0; n < r->rounds; n++) {
        int idx = wv_barrier_wait(&r->b, wv_deadline_in(10000));
        WVT_GE(idx, 0);
        WVT_LT(idx, PARTIES);
        __atomic_fetch_or(&r->seen[idx], 1, __ATOMIC_RELAXED);
        if (idx == PARTIES - 1) /* the last arrival ran the action */
            WVT_ASSERT(pthread_equal(r->action_thread, pthread_self()));
        /* a second barrier keeps the rounds apart for the checks */
        int idx2 = wv_barrier_wait(&r->b, wv_deadline_in(10000));
        WVT_GE(idx2, 0);
        if (idx2 == 0) {
            for (int k = 0; k < PARTIES; k++)
                WVT_EQ(__atomic_exchange_n(&r->seen[k], 0, __ATOMIC_RELAXED),
                       1);
        }
        WVT_GE(wv_barrier_wait(&r->b, wv_deadline_in(10000)), 0);
    }
}

WVT_TEST(barrier_rounds)
{
    struct rounds r = {.rounds = (int)wvt_scale(300)};
    WVT_OK(wv_barrier_init(&r.b, PARTIES, count_action, &r));
    WVT_EQ(wv_barrier_parties(&r.b), PARTIES);
    wvt_run_threads(PARTIES, round_trip, &r);
    WVT_EQ(r.actions, 3 * r.rounds);
    WVT_ASSERT(!wv_barrier_is_broken(&r.b));
    WVT_EQ(wv_barrier_n_waiting(&r.b), 0);
    wv_barrier_destroy(&r.b);
    WVT_ERR(wv_barrier_init(&r.b, 0, NULL, NULL), WV_EINVAL);
}

WVT_TEST(barrier_single_party)
{
    wv_barrier_t b = WV_BARRIER_INIT(1, NULL, NULL);
    for (int i = 0; i < 3; i++)
        WVT_EQ(wv_barrier_wait(&b, WV_NOWAIT), 0);
}

struct outcome {
    wv_barrier_t *b;
    int64_t deadline;
    int result;
};

static void wait_outcome(void *p)
{
    struct outcome *o = p;
    o->result = wv_barrier_wait(o->b, o->deadline);
}

WVT_TEST(barrier_timeout_breaks)
{
    wv_barrier_t b = WV_BARRIER_INIT(3, NULL, NULL);
    struct outcome patient = {&b, WV_FOREVER, 1};
    wvt_thread_t *t = wvt_spawn(wait_outcome, &patient);
    WVT_POLL(wv_barrier_n_waiting(&b) == 1, 5000);

    int64_t deadline = wv_now() + 20;
    WVT_ERR(wv_barrier_wait(&b, deadline), WV_ETIMEDOUT);
    WVT_GE(wv_now(), deadline);
    wvt_join(t);
    WVT_ERR(patient.result, WV_EBROKEN);
    WVT_ASSERT(wv_barrier_is_broken(&b));
    WVT_ERR(wv_barrier_wait(&b, WV_FOREVER), WV_EBROKEN);

    wv_barrier_reset(&b);
    WVT_ASSERT(!wv_barrier_is_broken(&b));
    WVT_EQ(wv_barrier_n_waiting(&b), 0);
}

WVT_TEST(barrier_deadline_zero_withdraws)
{
    wv_barrier_t b = WV_BARRIER_INIT(2, NULL, NULL);
    WVT_ERR(wv_barrier_wait(&b, WV_NOWAIT), WV_EAGAIN);
    WVT_ASSERT(!wv_barrier_is_broken(&b));
    WVT_EQ(wv_barrier_n_waiting(&b), 0);
    WVT_ERR(wv_barrier_wait(&b, -5), WV_EINVAL);

    /* ...but as the last arrival, deadline 0 completes the barrier. */
    struct outcome first = {&b, WV_FOREVER, -1};
    wvt_thread_t *t = wvt_spawn(wait_outcome, &first);
    WVT_POLL(wv_barrier_n_waiting(&b) == 1, 5000);
    WVT_EQ(wv_barrier_wait(&b, WV_NOWAIT), 1);
    wvt_join(t);
    WVT_EQ(first.result, 0);
}

WVT_TEST(barrier_abort)
{
    wv_barrier_t b = WV_BARRIER_INIT(3, NULL, NULL);
    struct outcome o[2] = {{&b, WV_FOREVER, 1}, {&b, WV_FOREVER, 1}};
    wvt_thread_t *t0 = wvt_spawn(wait_outcome, &o[0]);
    wvt_thread_t *t1 = wvt_spawn(wait_outcome, &o[1]);
    WVT_POLL(wv_barrier_n_waiting(&b) == 2, 5000);
    wv_barrier_abort(&b);
    wvt_join(t0);
    wvt_join(t1);
    WVT_ERR(o[0].result, WV_EBROKEN);
    WVT_ERR(o[1].result, WV_EBROKEN);
    WVT_ERR(wv_barrier_wait(&b, WV_NOWAIT), WV_EBROKEN);
    WVT_EQ(wv_barrier_n_waiting(&b), 0);
}

WVT_TEST(barrier_reset_while_waiting)
{
    wv_barrier_t b = WV_BARRIER_INIT(3, NULL, NULL);
    struct outcome o[2] = {{&b, WV_FOREVER, 1}, {&b, WV_FOREVER, 1}};
    wvt_thread_t *t0 = wvt_spawn(wait_outcome, &o[0]);
    wvt_thread_t *t1 = wvt_spawn(wait_outcome, &o[1]);
    WVT_POLL(wv_barrier_n_waiting(&b) == 2, 5000);
    wv_barrier_reset(&b);
    wvt_join(t0);
    wvt_join(t1);
    WVT_ERR(o[0].result, WV_EBROKEN);
    WVT_ERR(o[1].result, WV_EBROKEN);
    /* after the old waiters left, a full round works again */
    WVT_ASSERT(!wv_barrier_is_broken(&b));
    o[0].result = o[1].result = -1;
    t0 = wvt_spawn(wait_outcome, &o[0]);
    t1 = wvt_spawn(wait_outcome, &o[1]);
    WVT_POLL(wv_barrier_n_waiting(&b) == 2, 5000);
    WVT_EQ(wv_barrier_wait(&b, WV_FOREVER), 2);
    wvt_join(t0);
    wvt_join(t1);
    WVT_EQ(o[0].result + o[1].result, 0 + 1);
}

static int failing_action(void *p)
{
    return WV_EIO;
}

WVT_TEST(barrier_action_fails)
{
    wv_barrier_t b = WV_BARRIER_INIT(2, failing_action, NULL);
    struct outcome o = {&b, WV_FOREVER, 1};
    wvt_thread_t *t = wvt_spawn(wait_outcome, &o);
    WVT_POLL(wv_barrier_n_waiting(&b) == 1, 5000);
    WVT_ERR(wv_barrier_wait(&b, WV_FOREVER), WV_EIO);
    wvt_join(t);
    WVT_ERR(o.result, WV_EBROKEN);
    WVT_ASSERT(wv_barrier_is_broken(&b));
}

/* Deadlines racing releases: every outcome must be consistent: in each
 * round either all succeed, or the barrier broke and nobody succeeded
 * after the break.  Checked by counting per round. */
struct race_round {
    wv_barrier_t b;
    int ok, broken, timed_out;
    long rounds;
};

static void racy_party(int i, void *p)
{
    struct race_round *r = p;
    for (long n = 0; n < r->rounds; n++) {
        int err = wv_barrier_wait(&r->b, wv_now() + (i == 0 ? 1 : 20));
        if (err >= 0)
            __atomic_add_fetch(&r->ok, 1, __ATOMIC_RELAXED);
        else if (err == WV_EBROKEN)
            __atomic_add_fetch(&r->broken, 1, __ATOMIC_RELAXED);
        else {
            WVT_ERR(err, WV_ETIMEDOUT);
            __atomic_add_fetch(&r->timed_out, 1, __ATOMIC_RELAXED);
        }
        if (wv_barrier_is_broken(&r->b))
            wv_barrier_reset(&r->b);
    }
}

WVT_TEST(barrier_stress_deadlines)
{
    struct race_round r = {.rounds = wvt_scale(1000)};
    WVT_OK(wv_barrier_init(&r.b, 3, NULL, NULL));
    wvt_run_threads(3, racy_party, &r);
    WVT_EQ(r.ok + r.broken + r.timed_out, 3 * r.rounds);
    WVT_EQ(wv__parked_count(&r.b._cond), 0);
}

WVT_TEST(barrier_bad_deadline_only_when_waiting)
{
    /* WV_EINVAL is reported only when the call has to wait, and a bad
     * deadline never breaks the barrier. */
    wv_barrier_t one = WV_BARRIER_INIT(1, NULL, NULL);
    WVT_EQ(wv_barrier_wait(&one, -5), 0);
    wv_barrier_t two = WV_BARRIER_INIT(2, NULL, NULL);
    WVT_ERR(wv_barrier_wait(&two, -5), WV_EINVAL);
    WVT_ASSERT(!wv_barrier_is_broken(&two));
    WVT_EQ(wv_barrier_n_waiting(&two), 0);
}

static void meet(void *p)
{
    wv_barrier_t *b = p;
    WVT_GE(wv_barrier_wait(b, wv_deadline_in(10000)), 0);
}

static void meet_and_break(void *p)
{
    wv_barrier_t *b = p;
    WVT_ERR(wv_barrier_wait(b, wv_deadline_in(10000)), WV_EBROKEN);
}

/*
 * One round of "destroy while the other party may still be on its way
 * out": `party` waits at a fresh heap barrier of `parties`, `finish` ends
 * the round from this thread (round `i`), then this thread destroys the
 * barrier and poisons its memory.  A late touch by the other party would
 * damage the poison (or hang on a poisoned lock word).
 */
static void destroy_round(unsigned parties, void (*party)(void *),
                          void (*finish)(wv_barrier_t *, int), int i)
{
    union {
        wv_barrier_t b;
        unsigned char bytes[sizeof(wv_barrier_t)];
    } *mem = malloc(sizeof *mem);
    WVT_ASSERT(mem);
    WVT_OK(wv_barrier_init(&mem->b, parties, NULL, NULL));
    wvt_thread_t *t = wvt_spawn(party, &mem->b);
    WVT_POLL(wv_barrier_n_waiting(&mem->b) == 1, 5000);
    finish(&mem->b, i);
    wv_barrier_destroy(&mem->b);
    memset(mem, 0xA5, sizeof *mem);
    wvt_join(t);
    for (size_t k = 0; k < sizeof *mem; k++)
        WVT_EQ(mem->bytes[k], 0xA5);
    free(mem);
}

static void arrive_last(wv_barrier_t *b, int i)
{
    /* the other party is parked and must still wake up, re-take the
     * barrier's lock and leave after we return */
    WVT_EQ(wv_barrier_wait(b, wv_deadline_in(10000)), 1);
}

static void break_it(wv_barrier_t *b, int i)
{
    if (i % 2)
        wv_barrier_abort(b);
    else
        WVT_ERR(wv_barrier_wait(b, wv_now() + 1), WV_ETIMEDOUT);
}

WVT_TEST(barrier_destroy_waits_for_leavers)
{
    /* Released: the first to return destroys the barrier while the other
     * party is still on its way out of wait(); destroy waits for it. */
    for (int i = 0; i < wvt_scale(300); i++)
        destroy_round(2, meet, arrive_last, i);
}

WVT_TEST(barrier_destroy_after_break)
{
    /* Broken (by a deadline or by abort): the parties woken by the break
     * are still on their way out when the breaker returns; destroy waits
     * for them too. */
    for (int i = 0; i < wvt_scale(100); i++)
        destroy_round(3, meet_and_break, break_it, i);
}

/*
 * coro/group.c - groups of coroutines joined and cancelled as one
 * (asyncio's TaskGroup, libdill's bundles).
 *
 * A group is a list of its members under a biased lock (bias.h: plain
 * stores while one thread's coroutines use the group, which is the
 * common case; a leaf lock once another thread came) and an atomic count
 * of those not finished; joiners park on the group's address in the
 * parking lot and the last member to finish wakes them (group_last).  Members
 * spawn on their spawner's thread (sched.c's wv__coro_spawn); a member
 * leaves the group as it finishes (wv__group_leave, called by sched.c).
 * Lock order: a group's lock is a leaf: nothing is taken under it.
 */
#include "sched.h"

#include <stdint.h>

/* --------------------------------------------------------------- groups */

static void glock(wv_group_t *g)
{
    wv__bias_lock(&g->bias);
}

static void gunlock(wv_group_t *g)
{
    wv__bias_unlock(&g->bias);
}

int wv_group_new(wv_group_t **out)
{
    if (!out)
        return WV_EINVAL;
    wv_group_t *g = wv__calloc(1, sizeof *g);
    if (!g)
        return WV_ENOMEM;
    wv__bias_init(&g->bias);
    *out = g;
    return 0;
}

int wv_group_spawn(wv_group_t *g, const wv_coro_opts_t *opts, wv_coro_fn fn,
                   void *arg)
{
    if (!g)
        return WV_EINVAL;
    if (__atomic_load_n(&g->cancelled, __ATOMIC_RELAXED))
        return WV_ECANCELED;
    /* Made outside the lock (it may allocate); it cannot run before this
     * thread next blocks, so it joins the group before it starts. */
    struct wv_coro *co;
    int err = wv__coro_spawn(&co, fn, arg, opts, false);
    if (err)
        return err;
    glock(g);
    co->group = g;
    wv__list_insert_head(&g->members, &co->gmember);
    __atomic_add_fetch(&g->word, 1, __ATOMIC_RELAXED);
    if (g->cancelled) { /* cancelled meanwhile: it never starts fn */
        __atomic_store_n(&co->cancelled, true, __ATOMIC_RELAXED);
        err = WV_ECANCELED;
    }
    gunlock(g);
    return err;
}

static uintptr_t group_last(void *arg, wv__unpark_result_t r)
{
    wv_group_t *g = arg;

    (void)r;
    __atomic_fetch_sub(&g->word, 1, __ATOMIC_ACQ_REL);
    return 0;
}

void wv__group_leave(struct wv_coro *co)
{
    wv_group_t *g = co->group;

    glock(g);
    wv__list_remove(&g->members, &co->gmember);
    gunlock(g);
    /* Not the last: a plain decrement, and g is not touched again. */
    uint32_t n = __atomic_load_n(&g->word, __ATOMIC_RELAXED);
    while (n > 1)
        if (__atomic_compare_exchange_n(&g->word, &n, n - 1, true,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return;
    /* Maybe the last: the decrement happens under the bucket lock of g's
     * key, inside the unpark that wakes the joiners, so that a joiner
     * that sees 0 (and may free g) finds this member done with g. */
    wv__unpark(g, UINT32_MAX, group_last, g);
}

static bool group_validate(void *arg)
{
    wv_group_t *g = arg;

    return __atomic_load_n(&g->word, __ATOMIC_ACQUIRE) != 0;
}

static int group_wait(wv_group_t *g, int64_t deadline, unsigned flags)
{
    for (;;) {
        if (__atomic_load_n(&g->word, __ATOMIC_ACQUIRE) == 0)
            return 0;
        if (deadline == 0)
            return WV_EAGAIN;
        wv__park_req_t req = {
            .key = g,
            .validate = group_validate,
            .arg = g,
            .deadline = deadline,
            .flags = flags,
        };
        uintptr_t token;
        int err = wv__park(&req, &token);
        if (err && err != WV_EAGAIN)
            return err;
    }
}

int wv_group_join(wv_group_t *g, int64_t deadline)
{
    struct wv_coro *self = wv__party;

    if (!g || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    if (self && self->group == g)
        return WV_EDEADLK;
    return group_wait(g, deadline, 0);
}

void wv_group_cancel(wv_group_t *g)
{
    struct sched *me = wv__tls_sched;

    if (!g)
        return;
    glock(g);
    __atomic_store_n(&g->cancelled, true, __ATOMIC_RELAXED);
    wv__list_foreach(it, &g->members) {
        struct wv_coro *co = wv__container_of(it, struct wv_coro, gmember);
        __atomic_store_n(&co->cancelled, true, __ATOMIC_SEQ_CST);
        if (co->sched == me) {
            wv__coro_cancel_local(me, co);
        } else {
            __atomic_store_n(&co->sched->cancels, 1, __ATOMIC_SEQ_CST);
            wv__loop_kick(&co->sched->loop);
        }
    }
    gunlock(g);
}

size_t wv_group_count(const wv_group_t *g)
{
    return g ? __atomic_load_n(&g->word, __ATOMIC_ACQUIRE) : 0;
}

void wv_group_free(wv_group_t *g)
{
    if (!g)
        return;
    wv_group_cancel(g);
    group_wait(g, WV_FOREVER, WV__PARK_NOCANCEL);
    wv__free(g);
}

size_t wv__group_members(wv_group_t *g)
{
    size_t n = 0;
    glock(g);
    wv__list_foreach(it, &g->members)
        n++;
    gunlock(g);
    return n;
}

int wv__group_bias(const wv_group_t *g)
{
    return wv__bias_state(&g->bias);
}

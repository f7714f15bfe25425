/*
 * coro/sched.c - coroutines and the per-thread scheduler: spawn, yield,
 * park and wake through weave's waiter abstraction, sleep, join, cancel.
 * Groups are in group.c, descriptor waits through the thread's loop in
 * fdwait.c; the hot path they share is in sched.h.
 *
 * Design (docs/coro.md covers the layer below: switches and stacks).
 *  - One scheduler per thread, made on the thread's first spawn.  The
 *    thread's own code is a party too (`main`, no stack of its own to
 *    manage): when it blocks in weave, the coroutines run.
 *  - There is no scheduler context.  A party that blocks picks the next
 *    runnable party itself and switches straight to it (one switch, not
 *    two); when none is runnable it polls the loop on its own stack, and
 *    if it was the one woken it simply returns.  A finished coroutine
 *    cannot free the stack it runs on: it leaves itself in s->dead and
 *    the next party to run releases it (reap).
 *  - The waiter kind.  Each scheduler embeds its own wv__waiter_kind_t,
 *    so a waiter's kind names its scheduler (container_of).  A waiter's
 *    state word is only ever touched by its own thread: a wake-up from
 *    another thread pushes the waiter on the scheduler's inbox (a lock-free
 *    LIFO) and kicks the loop; the owner applies it as a local wake-up.
 *    So sleep, wake, time-out and cancel are plain stores, never atomics.
 *  - Stacks are taken when a coroutine first runs, not at spawn, so a
 *    burst of spawns holds small records only; records are recycled per
 *    thread (Go keeps its dead goroutines the same way).
 *  - Timers: each coroutine has one (it parks on one thing at a time) in
 *    the loop's heap; room is reserved at spawn, so parking never fails.
 *  - wv_local values are per party: a switch saves the running party's
 *    array (sync/local.c) and restores the next one's; a coroutine's is
 *    released, destructors run, when it returns.
 *
 * Threads: a scheduler and everything in it belongs to its thread, except
 * the fields marked [atomic] (inbox, cancels, the coroutine's `cancelled`
 * and `done`, `refs`), which other threads touch.  Schedulers are never
 * freed, only recycled for later threads: a late kick from another thread
 * lands on a live object.
 */
#include "sched.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The join word (wv_coro.done). */
#define DONE_BIT 1u
#define JOIN_BIT 2u

__thread struct sched *wv__tls_sched __attribute__((tls_model("initial-exec")));

static pthread_mutex_t free_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sched *free_scheds;
static pthread_key_t exit_key; /* made at load: see make_key */

static void coro_wake(wv__waiter_t *w);
static void sched_thread_exit(void *arg);
static void sched_after_fork(void);

/* ------------------------------------------------- making the scheduler */

static void lock_free_list(void)
{
    pthread_mutex_lock(&free_lock);
}

static void unlock_free_list(void)
{
    pthread_mutex_unlock(&free_lock);
}

/* At load rather than by pthread_once, as coro/stack.c's key: a fork
 * while a once is in progress would hang the child's first scheduler
 * where the C library does not reset it (TSan, musl). */
__attribute__((constructor)) static void make_key(void)
{
    int r = pthread_key_create(&exit_key, sched_thread_exit);

    WV__ASSERT(r == 0);
    r = pthread_atfork(lock_free_list, unlock_free_list, sched_after_fork);
    WV__ASSERT(r == 0);
}

/* Gives s (its loop's resources released) to the next thread to make
 * a scheduler; schedulers are never freed (see the top). */
static void recycle(struct sched *s)
{
    wv__loop_destroy(&s->loop);
    lock_free_list();
    s->next_free = free_scheds;
    free_scheds = s;
    unlock_free_list();
}

static struct sched *sched_make(void)
{
    struct sched *s;

    lock_free_list();
    s = free_scheds;
    if (s)
        free_scheds = s->next_free;
    unlock_free_list();
    if (!s) {
        s = wv__calloc(1, sizeof *s);
        if (!s)
            return NULL;
    } else {
        /* Recycled: only the kick word may be touched by a late kicker. */
        uint32_t idle = __atomic_load_n(&s->loop.idle, __ATOMIC_RELAXED);
        memset(s, 0, sizeof *s);
        __atomic_store_n(&s->loop.idle, idle, __ATOMIC_RELAXED);
    }
    s->kind.name = "coroutine";
    s->kind.sleep = wv__coro_sleep;
    s->kind.wake = coro_wake;
    s->kind.fds_wait = wv__coro_fds_wait;
    s->kind.fd_wait_again = wv__coro_fd_wait_again;
    s->kind.fd_io = wv__coro_fd_io;
    s->kind.fd_send_recv = wv__coro_fd_send_recv;
    s->kind.word_wait = wv__coro_word_wait;
    s->main.native = true;
    s->main.started = true;
    s->main.sched = s;
    s->current = &s->main;
    wv__loop_init(&s->loop, wv__coro_fd_ready);
    __atomic_store_n(&s->loop.idle, 0, __ATOMIC_SEQ_CST);
    if (pthread_setspecific(exit_key, s) != 0) {
        recycle(s);
        return NULL;
    }
    wv__tls_sched = s;
    wv__waiter_set_kind(&s->kind, NULL);
    return s;
}

static inline struct sched *sched_get(void)
{
    struct sched *s = wv__tls_sched;

    return WV__LIKELY(s) ? s : sched_make();
}

/* -------------------------------------------------------------- records */

static void rec_release(struct wv_coro *co)
{
    struct sched *s = wv__tls_sched;

    wv__free(co->name);
    co->name = NULL;
    if (s && co->sched == s) {
        co->next = s->cache;
        s->cache = co;
    } else {
        wv__free(co);
    }
}

/* Drops one reference of a joinable record (handle or life). */
static void rec_unref(struct wv_coro *co)
{
    if (__atomic_sub_fetch(&co->refs, 1, __ATOMIC_ACQ_REL) == 0)
        rec_release(co);
}

/* ------------------------------------------------------------ switching */

/* Releases the coroutine that finished just before this party ran. */
void wv__sched_reap(struct sched *s)
{
    struct wv_coro *co = s->dead;

    s->dead = NULL;
    wv__ctx_destroy(&co->ctx);
    wv__stack_free(co->stack);
    co->stack = NULL;
    if (co->joinable)
        rec_unref(co);
    else
        rec_release(co);
}

static void co_entry(void *arg);

void wv__sched_start(struct wv_coro *co)
{
    int err = wv__stack_new(&co->stack, co->stack_size);

    if (err) {
        char msg[160];
        int n = snprintf(msg, sizeof msg,
                         "weave: no stack for coroutine \"%s\": %s\n",
                         co->name ? co->name : "coro", wv_strerror(err));
        ssize_t r = write(2, msg, (size_t)n);
        (void)r;
        abort();
    }
    if (co->name)
        wv__stack_set_name(co->stack, co->name);
    wv__ctx_make(&co->ctx, co->stack->lo, co->stack->size, co_entry, co);
    co->started = true;
}

void wv__coro_cancel_local(struct sched *s, struct wv_coro *co)
{
    wv__waiter_t *w = co->wait;

    if (w && w->state == WV__W_SLEEPING &&
        !(co->wait_flags & WV__PARK_NOCANCEL)) {
        w->state = WV__W_CANCELED;
        rq_push(s, co);
    }
}

static bool has_remote(void *arg)
{
    struct sched *s = arg;

    return __atomic_load_n(&s->inbox, __ATOMIC_SEQ_CST) != NULL ||
           __atomic_load_n(&s->cancels, __ATOMIC_SEQ_CST) != 0;
}

/* Applies what other threads sent: wake-ups (oldest first) and cancels. */
static void take_remote(struct sched *s)
{
    if (__atomic_load_n(&s->inbox, __ATOMIC_RELAXED)) {
        wv__waiter_t *w =
            __atomic_exchange_n(&s->inbox, NULL, __ATOMIC_ACQUIRE);
        wv__waiter_t *fifo = NULL;
        while (w) {
            wv__waiter_t *next = w->next;
            w->next = fifo;
            fifo = w;
            w = next;
        }
        while (fifo) {
            wv__waiter_t *next = fifo->next;
            wake_local(s, fifo);
            fifo = next;
        }
    }
    if (__atomic_load_n(&s->cancels, __ATOMIC_RELAXED) &&
        __atomic_exchange_n(&s->cancels, 0, __ATOMIC_ACQUIRE)) {
        wv__list_foreach(it, &s->live_list) {
            struct wv_coro *co = wv__container_of(it, struct wv_coro, live);
            if (is_cancelled(co))
                wv__coro_cancel_local(s, co);
        }
    }
}

static void expire_timers(struct sched *s)
{
    if (!s->loop.nheap)
        return;
    int64_t now = wv_now();
    wv__timer_t *t;
    while ((t = wv__timer_pop_due(&s->loop, now)) != NULL) {
        struct wv_coro *co =
            (struct wv_coro *)(void *)((char *)t -
                                       offsetof(struct wv_coro, timer));
        wv__waiter_t *w = co->wait;
        if (w && w->state == WV__W_SLEEPING) {
            w->state = WV__W_TIMEDOUT;
            rq_push(s, co);
        }
    }
}

/* Collects everything that may have made parties runnable; with `block`
 * and nothing runnable, waits for it. */
void wv__sched_poll(struct sched *s, bool block)
{
    take_remote(s);
    expire_timers(s);
    if (s->rq_head)
        block = false;
    wv__loop_poll(&s->loop, block, wv__timer_next(&s->loop), has_remote, s);
    if (block) {
        take_remote(s);
        expire_timers(s);
    }
}

/* Nothing runnable: polls the loop until something is (schedule's cold
 * half, out of line so that its hot half inlines into every park). */
struct wv_coro *wv__sched_wait_runnable(struct sched *s)
{
    struct wv_coro *next;
    while ((next = rq_pop(s)) == NULL)
        wv__sched_poll(s, true);
    return next;
}

/* --------------------------------------------------------- waiter kind */

int wv__coro_sleep(wv__waiter_t *w, int64_t deadline, unsigned flags)
{
    return wv__sched_park(kind_sched(w->kind), w, deadline, flags);
}

static void coro_wake(wv__waiter_t *w)
{
    struct sched *s = kind_sched(w->kind);

    if (s == wv__tls_sched) {
        wake_local(s, w);
        return;
    }
    /* Another thread's party: hand the waiter to its owner.  After the
     * exchange publishes it, w may vanish; s never does. */
    wv__waiter_t *head = __atomic_load_n(&s->inbox, __ATOMIC_RELAXED);
    do {
        w->next = head;
    } while (!__atomic_compare_exchange_n(&s->inbox, &head, w, true,
                                          __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
    wv__loop_kick(&s->loop);
}

/* ------------------------------------------------------------- coroutines */

static void co_finish(struct sched *s, struct wv_coro *co)
{
    co->dead = true;
    wv__list_remove(&s->live_list, &co->live);
    s->live--;
    if (co->group)
        wv__group_leave(co);
    if (co->joinable &&
        __atomic_exchange_n(&co->done, DONE_BIT, __ATOMIC_ACQ_REL) & JOIN_BIT)
        wv__unpark(co, UINT32_MAX, NULL, NULL);
    if (s->live == 0 && s->run_waiter) {
        wake_local(s, s->run_waiter);
        s->run_waiter = NULL;
    }
    s->dead = co;
    schedule(s); /* never returns: switch_to exits a dead party */
    WV__ASSERT(!"a finished coroutine was resumed");
}

static void co_entry(void *arg)
{
    struct wv_coro *co = arg;
    struct sched *s = co->sched;

    if (s->dead)
        wv__sched_reap(s);
    /* Cancelled before it ever ran: its body never starts. */
    if (!is_cancelled(co))
        co->result = co->fn(co->arg);
    if (wv__locals_cur) /* its wv_local values, destructors first */
        wv__locals_release(wv__locals_cur);
    co_finish(s, co);
}

int wv__coro_spawn(struct wv_coro **out, wv_coro_fn fn, void *arg,
                   const wv_coro_opts_t *opts, bool joinable)
{
    if (!fn)
        return WV_EINVAL;
    size_t stack_size = opts ? opts->stack_size : 0;
    if (stack_size > ((size_t)1 << 30))
        return WV_EINVAL;
    struct sched *s = sched_get();
    if (!s)
        return WV_ENOMEM;
    if (s->live + 2 > s->loop.capheap &&
        wv__timer_reserve(&s->loop, (uint32_t)(s->live + 2)) != 0)
        return WV_ENOMEM;

    char *name = NULL;
    if (opts && opts->name) {
        size_t n = strnlen(opts->name, WV_CORO_NAME_MAX);
        name = wv__malloc(n + 1);
        if (!name)
            return WV_ENOMEM;
        memcpy(name, opts->name, n);
        name[n] = '\0';
    }
    struct wv_coro *co = s->cache;
    if (co) {
        s->cache = co->next;
    } else {
        co = wv__malloc(sizeof *co);
        if (!co) {
            wv__free(name);
            return WV_ENOMEM;
        }
    }
    co->ctx = (wv__ctx_t)WV__CTX_INIT;
    co->sched = s;
    co->wait = NULL;
    co->timer.idx = 0;
    co->stack = NULL;
    co->stack_size = stack_size;
    co->fn = fn;
    co->arg = arg;
    co->result = NULL;
    co->name = name;
    co->locals = NULL;
    co->group = NULL;
    co->done = 0;
    co->refs = joinable ? 2 : 1;
    co->cancelled = s->exiting;
    co->joinable = joinable;
    co->started = false;
    co->dead = false;
    co->native = false;

    wv__list_insert_head(&s->live_list, &co->live);
    s->live++;
    rq_push(s, co);
    *out = co;
    return 0;
}

int wv_coro_spawn(wv_coro_t **out, const wv_coro_opts_t *opts, wv_coro_fn fn,
                  void *arg)
{
    struct wv_coro *co;
    int err = wv__coro_spawn(&co, fn, arg, opts, out != NULL);

    if (!err && out)
        *out = co;
    return err;
}

int wv_go(wv_coro_fn fn, void *arg)
{
    struct wv_coro *co;

    return wv__coro_spawn(&co, fn, arg, NULL, false);
}

int wv_coro_yield(void)
{
    struct sched *s = wv__tls_sched;

    if (!s)
        return 0;
    struct wv_coro *cur = s->current;
    if (WV__UNLIKELY((++s->ticks % POLL_EVERY) == 0))
        wv__sched_poll(s, false);
    if (s->rq_head) {
        rq_push(s, cur);
        switch_to(s, rq_pop(s));
    }
    return is_cancelled(cur) ? WV_ECANCELED : 0;
}

/* Waits for co's DONE_BIT: 0, or wv__park's errors. */
static int wait_done(struct wv_coro *co, int64_t deadline, unsigned flags)
{
    for (;;) {
        if (__atomic_load_n(&co->done, __ATOMIC_ACQUIRE) & DONE_BIT)
            return 0;
        if (deadline == 0)
            return WV_EAGAIN;
        wv__word_wait_t ww = {
            .key = co,
            .word = &co->done,
            .bit = JOIN_BIT,
            .mask = DONE_BIT,
            .expect = 0,
            .deadline = deadline,
            .flags = flags,
        };
        uintptr_t token;
        int err = wv__park_word(&ww, &token);
        if (err && err != WV_EAGAIN)
            return err;
    }
}

int wv_coro_join(wv_coro_t *co, void **result, int64_t deadline)
{
    if (!co || !co->joinable || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    if (co == wv__party)
        return WV_EDEADLK;
    int err = wait_done(co, deadline, 0);
    if (!err && result)
        *result = co->result;
    return err;
}

void wv_coro_cancel(wv_coro_t *co)
{
    if (!co || co->native)
        return;
    /* One that has returned is left as it was (wv_coro_is_cancelled).
     * Only a handle can name a finished coroutine: its `done` is kept. */
    if (__atomic_load_n(&co->done, __ATOMIC_ACQUIRE) & DONE_BIT)
        return;
    __atomic_store_n(&co->cancelled, true, __ATOMIC_SEQ_CST);
    struct sched *s = co->sched;
    if (s == wv__tls_sched) {
        if (!co->dead)
            wv__coro_cancel_local(s, co);
        return;
    }
    __atomic_store_n(&s->cancels, 1, __ATOMIC_SEQ_CST);
    wv__loop_kick(&s->loop);
}

bool wv_coro_is_cancelled(const wv_coro_t *co)
{
    if (!co)
        co = wv__party;
    return co && is_cancelled(co);
}

void wv_coro_free(wv_coro_t *co)
{
    if (!co)
        return;
    WV__ASSERT(co->joinable && co != wv__party);
    if (!(__atomic_load_n(&co->done, __ATOMIC_ACQUIRE) & DONE_BIT)) {
        wv_coro_cancel(co);
        wait_done(co, WV_FOREVER, WV__PARK_NOCANCEL);
    }
    rec_unref(co);
}

/* Parks the thread's own code until every coroutine finished. */
static int run_until_empty(struct sched *s, int64_t deadline)
{
    while (s->live > 0) {
        wv__waiter_t w;
        wv__waiter_init(&w);
        s->run_waiter = &w;
        int err = wv__coro_sleep(&w, deadline, WV__PARK_NOCANCEL);
        s->run_waiter = NULL;
        if (err)
            return s->live > 0 ? err : 0;
    }
    return 0;
}

int wv_coro_run(int64_t deadline)
{
    struct sched *s = wv__tls_sched;

    if (!wv__deadline_ok(deadline))
        return WV_EINVAL;
    if (!s)
        return 0;
    if (s->current != &s->main)
        return WV_EDEADLK;
    if (deadline == 0) {
        wv__sched_poll(s, false);
        if (s->rq_head) {
            rq_push(s, &s->main);
            switch_to(s, rq_pop(s));
        }
        return s->live > 0 ? WV_EAGAIN : 0;
    }
    int err = run_until_empty(s, deadline);
    if (!err) /* nothing left: give the loop's descriptors back */
        wv__loop_release_fds(&s->loop);
    return err;
}

wv_coro_t *wv_coro_self(void)
{
    return wv__party;
}

const char *wv_coro_name(const wv_coro_t *co)
{
    if (!co) {
        co = wv__party;
        if (!co)
            return "main";
    }
    return co->name ? co->name : "coro";
}

static void free_cache(struct sched *s)
{
    while (s->cache) {
        struct wv_coro *co = s->cache;
        s->cache = co->next;
        wv__free(co);
    }
}

void wv__sched_trim(void)
{
    if (wv__tls_sched)
        free_cache(wv__tls_sched);
}

/* A thread that exits with coroutines left cancels them (and those they
 * spawn meanwhile) and runs them to their end; then its scheduler is
 * recycled. */
static void sched_thread_exit(void *arg)
{
    struct sched *s = arg;

    WV__ASSERT(s == wv__tls_sched && s->current == &s->main);
    s->exiting = true;
    wv__list_foreach(it, &s->live_list) {
        struct wv_coro *co = wv__container_of(it, struct wv_coro, live);
        __atomic_store_n(&co->cancelled, true, __ATOMIC_RELAXED);
        wv__coro_cancel_local(s, co);
    }
    run_until_empty(s, WV_FOREVER);
    take_remote(s);
    free_cache(s);
    wv__waiter_set_kind(&wv__thread_waiter, NULL);
    wv__tls_sched = NULL;
    recycle(s);
    wv__stack_pool_drain();
}

/* A party that does not exist in a forked child: it stays as it was,
 * never run nor woken again (its memory is not reclaimed, as other
 * threads' is not).  A joinable one counts as returned (result NULL) and
 * cancelled, a grouped one as gone from its group's count, so that the
 * child can still free their handles and groups. */
static void drop_party(struct wv_coro *co)
{
    if (co->wait) {
        co->wait->state = WV__W_WOKEN; /* a later wake-up does not queue it */
        co->wait = NULL;
    }
    co->timer.idx = 0;
    if (co->native)
        return;
    co->dead = true;
    co->cancelled = true;
    if (co->joinable)
        co->done = DONE_BIT;
    if (co->group)
        __atomic_sub_fetch(&co->group->word, 1, __ATOMIC_RELAXED);
}

/* In a forked child only the forking thread exists, and of its parties
 * only the one that forked goes on: the thread's other coroutines (and
 * its own code, when a coroutine forked) are dropped, as other threads
 * are, and the parking lot forgot their waits anyway.  The loop's epoll
 * set and eventfd are shared with the parent: the child makes its own. */
static void sched_after_fork(void)
{
    struct sched *s = wv__tls_sched;

    unlock_free_list();
    if (!s)
        return;
    struct wv_coro *cur = s->current;
    wv__list_foreach_safe(it, &s->live_list) {
        struct wv_coro *co = wv__container_of(it, struct wv_coro, live);
        if (co != cur)
            drop_party(co);
    }
    if (cur != &s->main)
        drop_party(&s->main);
    s->rq_head = s->rq_tail = NULL;
    wv__list_init(&s->live_list);
    s->live = 0;
    if (!cur->native) {
        wv__list_insert_head(&s->live_list, &cur->live);
        s->live = 1;
    }
    s->inbox = NULL;
    s->cancels = 0;
    s->run_waiter = NULL;
    wv__loop_after_fork(&s->loop);
}

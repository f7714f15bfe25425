/*
 * sync/thread.c - threading.Thread over pthreads.
 *
 * A weave thread's struct is shared by its handle and the running thread,
 * reference-counted (refs: 2 at start), so that freeing the handle of a
 * running thread simply detaches it.  `done` is an Event, which is what
 * makes join take a deadline and work from coroutines.  After `done`, a
 * joiner reaps the thread (pthread_join, exactly once, under `reap_lock`)
 * so that it is fully gone when any join returns: leak checks count
 * threads.  The reaping honours the deadline too (pthread_tryjoin_np,
 * pthread_timedjoin_np): after `done`, only pthreads' own exit work and
 * other libraries' key destructors remain, which are normally instant but
 * not ours to bound.  The body's wv_local values are
 * destroyed before `done` is set, so join waits for their destructors.
 *
 * The main thread and threads weave did not start have handles too (for
 * wv_thread_current); they cannot be joined or freed.
 */
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum kind { KIND_WEAVE, KIND_MAIN, KIND_FOREIGN };

struct wv_thread {
    uint32_t refs; /* handle + running thread */
    wv_lock_t reap_lock;
    bool reaped;        /* [reap_lock] pthread_join or _detach was called */
    wv_event_t started; /* set once tid is known */
    wv_event_t done;    /* set once fn has returned; result is valid */
    pthread_t pthread;
    wv_thread_fn fn;
    void *arg;
    int result;
    int tid;
    enum kind kind;
    char name[WV_THREAD_NAME_MAX + 1];
};

static wv_thread_t main_thread = {
    .kind = KIND_MAIN,
    .name = "MainThread",
};
static __thread wv_thread_t *self;   /* weave threads */
static __thread wv_thread_t foreign; /* anyone else but main */
static uint32_t thread_counter;      /* for "Thread-N" */

static void drop_ref(wv_thread_t *t)
{
    if (__atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) == 0)
        wv__free(t);
}

static void set_os_name(const char *name)
{
    char os_name[16]; /* the kernel's limit, with the NUL */
    size_t n = strnlen(name, sizeof os_name - 1);

    memcpy(os_name, name, n);
    os_name[n] = '\0';
    pthread_setname_np(pthread_self(), os_name);
}

static void *trampoline(void *arg)
{
    wv_thread_t *t = arg;

    self = t;
    __atomic_store_n(&t->tid, (int)gettid(), __ATOMIC_RELAXED);
    wv_event_set(&t->started);
    set_os_name(t->name);

    t->result = t->fn(t->arg);

    wv__locals_thread_exit();
    self = NULL; /* pthread key destructors may still ask, after the drop */
    wv_event_set(&t->done);
    drop_ref(t);
    return NULL;
}

int wv_thread_start(wv_thread_t **out, const wv_thread_opts_t *opts,
                    wv_thread_fn fn, void *arg)
{
    pthread_attr_t attr;
    int err;

    if (!out || !fn)
        return WV_EINVAL;
    wv_thread_t *t = wv__calloc(1, sizeof *t);
    if (!t)
        return WV_ENOMEM;
    t->refs = 2;
    t->fn = fn;
    t->arg = arg;
    t->kind = KIND_WEAVE;
    if (opts && opts->name)
        snprintf(t->name, sizeof t->name, "%s", opts->name);
    else
        snprintf(t->name, sizeof t->name, "Thread-%u",
                 __atomic_add_fetch(&thread_counter, 1, __ATOMIC_RELAXED));

    if ((err = pthread_attr_init(&attr)) != 0)
        goto out_free;
    if (opts && opts->stack_size &&
        (err = pthread_attr_setstacksize(&attr, opts->stack_size)) != 0)
        goto out_attr;
    err = pthread_create(&t->pthread, &attr, trampoline, t);
out_attr:
    pthread_attr_destroy(&attr);
    if (err == 0) {
        *out = t;
        return 0;
    }
out_free:
    wv__free(t);
    return -err;
}

/*
 * pthread_join with a deadline: 0, WV_EAGAIN or WV_ETIMEDOUT.  The timed
 * join takes a CLOCK_REALTIME time (pthread_clockjoin_np would take our
 * clock, but ThreadSanitizer does not know it and then reports every
 * thread as leaked): the remaining time is converted at the call, so a
 * wall-clock jump can only stretch or shorten this last, short wait.
 */
static int reap(pthread_t pt, int64_t deadline)
{
    struct timespec ts;
    int64_t left = deadline - wv_now();
    int r;

    if (deadline == 0 || (deadline > 0 && left <= 0)) {
        r = pthread_tryjoin_np(pt, NULL);
    } else if (wv__deadline_timespec(deadline, &ts)) {
        /* finite: the same time left, on the clock timedjoin takes */
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (left % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        r = pthread_timedjoin_np(pt, NULL, &ts);
    } else {
        r = pthread_join(pt, NULL);
    }
    if (r == EBUSY)
        return deadline == 0 ? WV_EAGAIN : WV_ETIMEDOUT;
    if (r == ETIMEDOUT)
        return WV_ETIMEDOUT;
    WV__ASSERT(r == 0);
    return 0;
}

int wv_thread_join(wv_thread_t *t, int *result, int64_t deadline)
{
    if (!t || t->kind != KIND_WEAVE)
        return WV_EINVAL;
    if (t == self)
        return WV_EDEADLK;
    int err = wv_event_wait(&t->done, deadline);
    if (err)
        return err;
    if ((err = wv_lock_acquire(&t->reap_lock, deadline)) != 0)
        return err;
    if (!t->reaped && (err = reap(t->pthread, deadline)) == 0)
        t->reaped = true;
    wv_lock_release(&t->reap_lock);
    if (!err && result)
        *result = t->result;
    return err;
}

void wv_thread_free(wv_thread_t *t)
{
    if (!t || t->kind != KIND_WEAVE)
        return;
    wv__lock_acquire_nocancel(&t->reap_lock);
    if (!t->reaped) {
        t->reaped = true;
        pthread_detach(t->pthread);
    }
    wv_lock_release(&t->reap_lock);
    drop_ref(t);
}

bool wv_thread_is_alive(const wv_thread_t *t)
{
    return t->kind != KIND_WEAVE || !wv_event_is_set(&t->done);
}

const char *wv_thread_name(const wv_thread_t *t)
{
    return t->name;
}

int wv_thread_native_id(wv_thread_t *t)
{
    switch (t->kind) {
    case KIND_MAIN:
        return (int)getpid();
    case KIND_FOREIGN:
        return t->tid;
    case KIND_WEAVE:
        break;
    }
    /* The thread sets `started` first thing; waiting is bounded by the
     * scheduler starting it. */
    wv_event_wait(&t->started, WV_FOREVER);
    return __atomic_load_n(&t->tid, __ATOMIC_RELAXED);
}

wv_thread_t *wv_thread_main(void)
{
    return &main_thread;
}

wv_thread_t *wv_thread_current(void)
{
    if (self)
        return self;
    if (gettid() == getpid())
        return &main_thread;
    if (!foreign.tid) {
        char os_name[16] = "";
        foreign.kind = KIND_FOREIGN;
        foreign.tid = (int)gettid();
        pthread_getname_np(pthread_self(), os_name, sizeof os_name);
        snprintf(foreign.name, sizeof foreign.name, "%s",
                 os_name[0] ? os_name : "Dummy");
    }
    return &foreign;
}

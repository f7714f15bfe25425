/*
 * sync/local.c - threading.local: values private to a thread (or coroutine).
 *
 * Each local gets an index into a per-party array of values (a
 * wv__locals_t: one per thread, created on its first set, and one per
 * coroutine, supplied by the scheduler).  get() is two loads and a bounds
 * check, without a lock.  The registry below knows every live array, so a
 * local can be destroyed with the destructor run on every thread's value,
 * and each index's destructor, so a party's values can be destroyed when
 * it ends.  Indices of destroyed locals are reused.
 *
 * Lock: `reg` protects the registry (slots, free list, the list of arrays)
 * and the growth of any array.  An array's values are written by its owner
 * only, without the lock, except by wv_local_destroy, which by contract
 * runs when no party uses that local any more.  Destructors always run
 * with no lock held, so they may use locals themselves.
 */
#include "internal.h"

#include <pthread.h>

#define DTOR_ROUNDS 4 /* PTHREAD_DESTRUCTOR_ITERATIONS */

struct wv__locals {
    void **values;        /* [owner] by index; [reg] to grow */
    uint32_t cap;         /* [reg] length of values */
    wv__list_node_t link; /* [reg] on `all` */
};

struct slot {
    void (*dtor)(void *); /* destructor of the local using this index */
    bool used;
};

static wv_lock_t reg = WV_LOCK_INIT;
static struct slot *slots;    /* [reg] by index; index 0 is never used */
static uint32_t *free_idx;    /* [reg] reusable indices, same capacity */
static uint32_t nslots;       /* [reg] capacity of slots and free_idx */
static uint32_t nfree;        /* [reg] */
static uint32_t next_idx = 1; /* [reg] next never-used index */
static wv__list_t all;        /* [reg] every live array, by link */

__thread wv__locals_t *wv__locals_cur;

static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static bool exit_key_ok;

static void lock_reg(void)
{
    wv__lock_acquire_nocancel(&reg);
}

static void unlock_reg(void)
{
    wv_lock_release(&reg);
}

/* [reg] Makes room for index `idx` in the registry. */
static int grow_slots(uint32_t idx)
{
    if (idx < nslots)
        return 0;
    uint32_t cap = nslots ? nslots * 2 : 16;
    while (cap <= idx)
        cap *= 2;
    struct slot *s = wv__realloc(slots, cap * sizeof *s);
    if (!s)
        return WV_ENOMEM;
    slots = s;
    uint32_t *f = wv__realloc(free_idx, cap * sizeof *f);
    if (!f)
        return WV_ENOMEM; /* slots grew: harmless, nslots still old */
    free_idx = f;
    for (uint32_t i = nslots; i < cap; i++)
        slots[i] = (struct slot){NULL, false};
    nslots = cap;
    return 0;
}

/* The local's index, assigned on first use (WV_LOCAL_INIT). */
static int index_of(wv_local_t *l, uint32_t *out)
{
    uint32_t idx = __atomic_load_n(&l->_index, __ATOMIC_ACQUIRE);
    int err = 0;

    if (WV__LIKELY(idx)) {
        *out = idx;
        return 0;
    }
    lock_reg();
    idx = __atomic_load_n(&l->_index, __ATOMIC_RELAXED);
    if (!idx) {
        idx = nfree ? free_idx[nfree - 1] : next_idx;
        err = grow_slots(idx);
        if (!err) {
            if (nfree)
                nfree--;
            else
                next_idx++;
            slots[idx] = (struct slot){l->_dtor, true};
            __atomic_store_n(&l->_index, idx, __ATOMIC_RELEASE);
        }
    }
    unlock_reg();
    *out = idx;
    return err;
}

int wv_local_init(wv_local_t *l, void (*dtor)(void *value))
{
    if (!l)
        return WV_EINVAL;

    uint32_t idx;

    l->_index = 0;
    l->_dtor = dtor;
    return index_of(l, &idx);
}

/* [reg] Takes one value of index idx out of any array (the next one found),
 * or returns false. */
static bool take_value(uint32_t idx, void **value)
{
    wv__list_foreach(it, &all) {
        wv__locals_t *c = wv__container_of(it, wv__locals_t, link);
        if (idx < c->cap && c->values[idx]) {
            *value = c->values[idx];
            c->values[idx] = NULL;
            return true;
        }
    }
    return false;
}

void wv_local_destroy(wv_local_t *l)
{
    if (!l)
        return;

    void *value;

    /* Detach the index first: a destructor that sets the local again then
     * gives it a fresh index (the local lives on, to be destroyed again)
     * instead of refilling the one being emptied, forever. */
    lock_reg();
    uint32_t idx = __atomic_load_n(&l->_index, __ATOMIC_ACQUIRE);
    __atomic_store_n(&l->_index, 0, __ATOMIC_RELAXED);
    unlock_reg();
    if (!idx)
        return;
    for (;;) {
        lock_reg();
        bool found = take_value(idx, &value);
        unlock_reg();
        if (!found)
            break;
        if (l->_dtor)
            l->_dtor(value);
    }
    lock_reg();
    slots[idx] = (struct slot){NULL, false};
    free_idx[nfree++] = idx; /* cannot overflow: capacity == nslots */
    unlock_reg();
}

void *wv_local_get(wv_local_t *l)
{
    if (!l)
        return NULL;

    uint32_t idx = __atomic_load_n(&l->_index, __ATOMIC_ACQUIRE);
    wv__locals_t *c = wv__locals_cur;

    if (!idx || !c || idx >= c->cap)
        return NULL;
    return c->values[idx];
}

static void release_at_exit(void *arg)
{
    wv__locals_release(arg);
}

static void make_exit_key(void)
{
    exit_key_ok = pthread_key_create(&exit_key, release_at_exit) == 0;
}

/* The calling party's array, created on first use. */
static int ensure_current(wv__locals_t **out)
{
    if (WV__LIKELY(wv__locals_cur != NULL)) {
        *out = wv__locals_cur;
        return 0;
    }
    pthread_once(&exit_key_once, make_exit_key);
    if (!exit_key_ok)
        return WV_EAGAIN;
    wv__locals_t *c = wv__calloc(1, sizeof *c);
    if (!c)
        return WV_ENOMEM;
    /* A coroutine's array is released by its scheduler when it returns. */
    if (!wv__party && pthread_setspecific(exit_key, c) != 0) {
        wv__free(c);
        return WV_ENOMEM;
    }
    lock_reg();
    wv__list_insert_head(&all, &c->link);
    unlock_reg();
    wv__locals_cur = c;
    *out = c;
    return 0;
}

static int grow_values(wv__locals_t *c, uint32_t idx)
{
    int err = 0;

    lock_reg();
    if (idx >= c->cap) {
        uint32_t cap = c->cap ? c->cap : 8;
        while (cap <= idx)
            cap *= 2;
        void **v = wv__realloc(c->values, cap * sizeof *v);
        if (v) {
            for (uint32_t i = c->cap; i < cap; i++)
                v[i] = NULL;
            c->values = v;
            c->cap = cap;
        } else {
            err = WV_ENOMEM;
        }
    }
    unlock_reg();
    return err;
}

int wv_local_set(wv_local_t *l, void *value)
{
    if (!l)
        return WV_EINVAL;

    uint32_t idx;
    wv__locals_t *c;
    int err = index_of(l, &idx);

    if (err)
        return err;
    if (!value && (!wv__locals_cur || idx >= wv__locals_cur->cap))
        return 0; /* clearing what was never set */
    err = ensure_current(&c);
    if (!err && idx >= c->cap)
        err = grow_values(c, idx);
    if (err)
        return err;
    c->values[idx] = value;
    return 0;
}

void wv__locals_thread_exit(void)
{
    wv__locals_t *c = wv__locals_cur;

    if (!c)
        return;
    pthread_setspecific(exit_key, NULL); /* or pthreads would release c */
    wv__locals_release(c);
}

/* [reg] The next value in c at or after index *i, with its destructor,
 * taken out of c; *i moves past it.  A round scans forward only, so a
 * value a destructor sets behind the cursor waits for the next round. */
static bool take_own(wv__locals_t *c, uint32_t *i, void (**dtor)(void *),
                     void **value)
{
    for (; *i < c->cap; (*i)++) {
        if (c->values[*i]) {
            *value = c->values[*i];
            *dtor = slots[*i].dtor;
            c->values[(*i)++] = NULL;
            return true;
        }
    }
    return false;
}

void wv__locals_release(wv__locals_t *c)
{
    wv__locals_t *prev = wv__locals_cur;
    void (*dtor)(void *);
    void *value;

    /* The destructors run with c current, as pthreads run them with the
     * dying thread's other values still readable: they may read other
     * locals, and may set values again, into c, which the next round
     * destroys.  Rounds are bounded, as pthreads bound them; what is left
     * after the last is dropped without its destructor. */
    wv__locals_cur = c;
    for (int round = 0; round < DTOR_ROUNDS; round++) {
        bool any = false;
        uint32_t cursor = 1;
        for (;;) {
            lock_reg();
            bool found = take_own(c, &cursor, &dtor, &value);
            unlock_reg();
            if (!found)
                break;
            any = true;
            if (dtor)
                dtor(value);
        }
        if (!any)
            break;
    }
    wv__locals_cur = prev == c ? NULL : prev;
    lock_reg();
    wv__list_remove(&all, &c->link);
    unlock_reg();
    wv__free(c->values);
    wv__free(c);
}

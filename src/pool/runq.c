/*
 * pool/runq.c - where tasks wait: the shared FIFO and the workers' rings.
 *
 * Submitters append to the shared FIFO (gq) under its lock: a segmented
 * array, so a submission copies 64 bytes and allocates only when a
 * segment of 127 tasks fills up, and not even then at steady state (one
 * emptied segment is kept).  A worker moves a batch from it into its own
 * ring (lq) with one lock round trip and runs them from there; idle
 * workers steal half of a ring.  `len` is written under the lock with
 * sequentially consistent operations, so that a submitter's "len grew,
 * then is anybody asleep?" and a worker's "I am asleep, then is len 0?"
 * cannot both miss (pool.c).
 *
 * Tasks are copied in and out of rings word by word with relaxed atomics:
 * a thief may read a slot while its owner rewrites it (its CAS on head then
 * fails and it drops the copy), a benign race that must not be undefined.
 */
#include "internal.h"

#include <string.h>

#define WORDS (sizeof(struct ptask) / sizeof(uint64_t))

static void load_task(struct ptask *dst, const struct ptask *src)
{
    const uint64_t *s = (const uint64_t *)src;
    uint64_t w[WORDS];

    for (size_t i = 0; i < WORDS; i++)
        w[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
    memcpy(dst, w, sizeof w);
}

/* Word by word on both sides: src was just written by its builder in
 * word-sized stores, which wider loads could not be forwarded from. */
static void store_task(struct ptask *dst, const struct ptask *src)
{
    uint64_t *d = (uint64_t *)dst;

    for (size_t i = 0; i < WORDS; i++) {
        uint64_t w;
        memcpy(&w, (const char *)src + i * sizeof w, sizeof w);
        __atomic_store_n(&d[i], w, __ATOMIC_RELAXED);
    }
}

/* ------------------------------------------------------ the shared FIFO */

void wv__gq_init(struct gq *q)
{
    memset(q, 0, sizeof *q);
    q->hpos = q->tpos = SEG_TASKS; /* no segment: "full" */
}

void wv__gq_destroy(struct gq *q)
{
    for (struct seg *s = q->head, *next; s; s = next) {
        next = s->next;
        wv__free(s);
    }
    wv__free(q->spare);
    q->head = q->tail = q->spare = NULL;
}

int wv__gq_push(struct gq *q, const struct ptask *t, const uint32_t *flags,
                uint32_t refuse)
{
    wv__lock_acquire_nocancel(&q->lock);
    if (__atomic_load_n(flags, __ATOMIC_SEQ_CST) & refuse) {
        wv_lock_release(&q->lock);
        return WV_ESHUTDOWN;
    }
    if (WV__UNLIKELY(q->tpos == SEG_TASKS)) {
        struct seg *s = q->spare;
        if (s)
            q->spare = NULL;
        else if (!(s = wv__malloc(sizeof *s))) {
            wv_lock_release(&q->lock);
            return WV_ENOMEM;
        }
        s->next = NULL;
        if (q->tail)
            q->tail->next = s;
        else {
            q->head = s;
            q->hpos = 0;
        }
        q->tail = s;
        q->tpos = 0;
    }
    q->tail->t[q->tpos++] = *t;
    __atomic_add_fetch(&q->len, 1, __ATOMIC_SEQ_CST);
    wv_lock_release(&q->lock);
    return 0;
}

/* Under the lock: the oldest task, and advances past it. */
static const struct ptask *take_one(struct gq *q)
{
    if (q->hpos == SEG_TASKS) { /* head segment used up: drop it */
        struct seg *s = q->head;
        q->head = s->next;
        q->hpos = 0;
        if (!q->spare)
            q->spare = s;
        else
            wv__free(s);
    }
    const struct ptask *t = &q->head->t[q->hpos++];
    if (q->head == q->tail && q->hpos == q->tpos) {
        /* Empty: start the segment over rather than move on. */
        q->hpos = q->tpos = 0;
    }
    return t;
}

unsigned wv__gq_take(struct gq *q, struct lq *to, unsigned max)
{
    /* Workers never wait for this lock (parking there would make every
     * submitter's release a futex wake): busy means "look again later". */
    if (wv__gq_len(q) == 0 || wv_lock_is_locked(&q->lock) ||
        wv_lock_acquire(&q->lock, 0) != 0)
        return 0;
    size_t len = q->len;
    unsigned n = len < max ? (unsigned)len : max;
    uint32_t tail = to->tail;
    for (unsigned i = 0; i < n; i++)
        store_task(&to->buf[(tail + i) % LQ], take_one(q));
    if (n)
        __atomic_sub_fetch(&q->len, n, __ATOMIC_SEQ_CST);
    wv_lock_release(&q->lock);
    __atomic_store_n(&to->tail, tail + n, __ATOMIC_RELEASE);
    return n;
}

bool wv__gq_pop(struct gq *q, struct ptask *t)
{
    bool got = false;

    wv__lock_acquire_nocancel(&q->lock);
    if (q->len) {
        *t = *take_one(q);
        __atomic_sub_fetch(&q->len, 1, __ATOMIC_SEQ_CST);
        got = true;
    }
    wv_lock_release(&q->lock);
    return got;
}

/* ----------------------------------------------------------- the rings */

bool wv__lq_pop(struct lq *q, struct ptask *t)
{
    uint32_t head = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);

    for (;;) {
        if (head == __atomic_load_n(&q->tail, __ATOMIC_RELAXED))
            return false;
        load_task(t, &q->buf[head % LQ]);
        if (__atomic_compare_exchange_n(&q->head, &head, head + 1, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return true;
    }
}

unsigned wv__lq_pop_many(struct lq *q, struct ptask *t, unsigned max)
{
    uint32_t head = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);

    for (;;) {
        uint32_t n = __atomic_load_n(&q->tail, __ATOMIC_RELAXED) - head;
        if (n == 0)
            return 0;
        /* Leave most of them stealable: a task in hand waits behind the
         * ones before it, even if another worker is idle. */
        n = n / 4 ? n / 4 : 1;
        if (n > max)
            n = max;
        for (uint32_t i = 0; i < n; i++)
            load_task(&t[i], &q->buf[(head + i) % LQ]);
        if (__atomic_compare_exchange_n(&q->head, &head, head + n, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return n;
    }
}

unsigned wv__lq_steal(struct lq *from, struct lq *to, unsigned max, bool half)
{
    uint32_t tail = to->tail;

    for (;;) {
        uint32_t head = __atomic_load_n(&from->head, __ATOMIC_ACQUIRE);
        uint32_t ftail = __atomic_load_n(&from->tail, __ATOMIC_ACQUIRE);
        uint32_t n = ftail - head;
        if (n > LQ)
            continue; /* head and tail read at different times: again */
        if (half)
            n -= n / 2;
        if (n > max)
            n = max;
        if (n == 0)
            return 0;
        for (uint32_t i = 0; i < n; i++) {
            struct ptask t;
            load_task(&t, &from->buf[(head + i) % LQ]);
            store_task(&to->buf[(tail + i) % LQ], &t);
        }
        if (__atomic_compare_exchange_n(&from->head, &head, head + n, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            __atomic_store_n(&to->tail, tail + n, __ATOMIC_RELEASE);
            return n;
        }
    }
}

bool wv__ib_push(struct lq *q, const struct ptask *t)
{
    uint32_t tail = q->tail;

    if (tail - q->head_cache >= LQ) {
        q->head_cache = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
        if (tail - q->head_cache >= LQ)
            return false;
    }
    store_task(&q->buf[tail % LQ], t);
    __atomic_store_n(&q->tail, tail + 1, __ATOMIC_RELEASE);
    return true;
}

/*
 * ipc/mpqueue.c - multiprocessing.Queue / JoinableQueue in shared memory:
 * the public operations (put, get, peek, task_done and join, shutdown,
 * qsize).
 *
 * The design, the state words and the layout: mpqueue.h.
 */
#include "mpqueue.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static uint32_t res_nonce; /* tags heap reservations */

/* ---------------------------------------------------------------- spill */

static int spill_write(const struct pq_hdr *h, uint64_t pos, const void *data,
                       size_t len)
{
    char name[64];
    spill_name(h, pos, name, sizeof name);
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int err = 0;
    void *m = MAP_FAILED;
    /* Allocated now: a full /dev/shm is WV_ENOSPC here, not SIGBUS in
     * the memcpy. */
    int e = posix_fallocate(fd, 0, (off_t)len);
    if (e)
        err = e == EFBIG || e == EINVAL ? WV_ENOSPC : -e;
    else if ((m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) ==
             MAP_FAILED)
        err = -errno;
    if (!err) {
        memcpy(m, data, len);
        munmap(m, len);
    } else {
        shm_unlink(name);
    }
    close(fd);
    return err;
}

static int spill_read(const struct pq_hdr *h, uint64_t pos, void *buf,
                      size_t len)
{
    char name[64];
    spill_name(h, pos, name, sizeof name);
    int fd = shm_open(name, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return errno == ENOENT ? WV_EIO : -errno;
    void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return WV_ENOMEM;
    memcpy(buf, m, len);
    munmap(m, len);
    return 0;
}

/* ------------------------------------------------------------------ put */

/* Heap pages a message of len bytes takes. */
static uint32_t pages_for(size_t len)
{
    return (uint32_t)((len + PAGE - 1) / PAGE);
}

/* Gives up a claimed cell without a message: consumers skip it. */
static void skip_cell(struct pq_hdr *h, struct pq_cell *c, uint64_t pos)
{
    __atomic_store_n(&c->page, PAGE_INLINE, __ATOMIC_RELAXED);
    __atomic_store_n(&c->state, ST(pos + h->ncells, EMPTY, 0),
                     __ATOMIC_SEQ_CST);
    wake_consumers(h);
}

int wv_mpqueue_put(wv_mpqueue_t *q, const void *data, size_t len,
                   int64_t deadline)
{
    if (!q || (len && !data) || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    if (len > WV_MPQUEUE_MAX_MSG)
        return WV_EMSGSIZE;
    struct pq_hdr *h = q->h;
    uint32_t self;
    int err = wv__pq_participant(q, &self);
    if (err)
        return err;
    if (__atomic_load_n(&h->closed, __ATOMIC_ACQUIRE))
        return WV_ESHUTDOWN;

    /* A heap message gets its pages first: a producer holding a cell
     * while it waits for room would stop the consumers at that cell. */
    uint32_t npg = 0, pg = 0;
    uint64_t tag = 0;
    bool spill = false;
    if (len > h->inline_max) {
        npg = pages_for(len);
        if (npg > h->npages) {
            spill = true;
            npg = 0;
        } else {
            /* Unique among this process's reservations, so that two
             * side by side never read as one run. */
            tag =
                RES(__atomic_add_fetch(&res_nonce, 1, __ATOMIC_RELAXED), self);
            if ((err = wv__pq_heap_reserve(q, npg, tag, self, deadline, &pg)))
                return err;
            CRASH_POINT(WV__PQ_CRASH_RESERVED);
        }
    }

    struct waitst ws = {0, SLICE_MIN_MS};
    struct pq_cell *c;
    uint64_t pos;
    for (;;) {
        uint32_t seen = __atomic_load_n(&h->get_ev, __ATOMIC_SEQ_CST);
        pos = __atomic_load_n(&h->tail, __ATOMIC_RELAXED);
        c = cell(h, pos);
        uint64_t w = load(&c->state);
        if (w == ST(pos, EMPTY, 0)) {
            if (cas(&c->state, w, ST(pos, WRITING, self))) {
                cas(&h->tail, pos, pos + 1);
                break;
            }
            continue;
        }
        if (ST_POS(w) >= pos) { /* claimed already: move the hint on */
            cas(&h->tail, pos, pos + 1);
            continue;
        }
        /* The cell still holds the message of the previous lap: full. */
        if (__atomic_load_n(&h->closed, __ATOMIC_ACQUIRE))
            err = WV_ESHUTDOWN;
        else
            err = wv__pq_wait_on(h, &h->get_ev, seen, &h->pwait, &c->state, w,
                                 ST_KIND(w) == FULL ? 0 : ST_PART(w), self,
                                 deadline, &ws);
        if (err) {
            if (npg)
                wv__pq_heap_release(h, pg, tag);
            return err;
        }
    }

    /* The cell is ours: fill it, then publish. */
    CRASH_POINT(WV__PQ_CRASH_CLAIMED);
    if (npg) {
        uint64_t *own = owners(h);
        __atomic_store_n(
            &c->page, pg + 1,
            __ATOMIC_RELAXED); /* first: a repair finds the pages from it */
        for (uint32_t i = 0; i < npg; i++)
            own_set(own, pg + i, pos + 1);
        memcpy(page_addr(h, pg), data, len);
    } else if (spill) {
        __atomic_store_n(&c->page, PAGE_SPILL, __ATOMIC_RELAXED);
        if ((err = spill_write(h, pos, data, len))) {
            skip_cell(h, c, pos);
            return err;
        }
    } else {
        __atomic_store_n(&c->page, PAGE_INLINE, __ATOMIC_RELAXED);
        if (len)
            memcpy(c->data, data, len);
    }
    __atomic_store_n(&c->len, (uint32_t)len, __ATOMIC_RELAXED);
    CRASH_POINT(WV__PQ_CRASH_WRITTEN);
    __atomic_store_n(&c->state, ST(pos, FULL, 0), __ATOMIC_SEQ_CST);
    wake_consumers(h);
    return 0;
}

/* ------------------------------------------------------------------ get */

/* Copies the message of a cell we hold (READING) out, then frees the
 * cell.  Returns 0 or WV_EIO (a spill object gone). */
static int take(struct pq_hdr *h, struct pq_cell *c, uint64_t pos, void *buf,
                size_t len)
{
    uint32_t page = __atomic_load_n(&c->page, __ATOMIC_RELAXED);
    int err = 0;
    if (page == PAGE_INLINE) {
        if (len)
            memcpy(buf, c->data, len);
    } else if (page == PAGE_SPILL) {
        err = spill_read(h, pos, buf, len);
    } else {
        memcpy(buf, page_addr(h, page - 1), len);
    }
    CRASH_POINT(WV__PQ_CRASH_COPIED_OUT);
    __atomic_store_n(&c->state, ST(pos + h->ncells, EMPTY, 0),
                     __ATOMIC_SEQ_CST);
    wake_producers(h);
    if (page == PAGE_SPILL) {
        spill_unlink(h, pos);
    } else if (page != PAGE_INLINE) {
        CRASH_POINT(WV__PQ_CRASH_FREED_CELL);
        wv__pq_heap_release(h, page - 1, pos + 1);
    }
    return err;
}

/*
 * Tries to claim the FULL cell c (state w) and take its message.  Returns
 * 0 (taken), 1 (lost the race: look again), WV_EMSGSIZE.
 */
static int try_take(wv_mpqueue_t *q, struct pq_cell *c, uint64_t w,
                    uint32_t self, void *buf, size_t cap, size_t *len, int *err)
{
    struct pq_hdr *h = q->h;
    uint64_t pos = ST_POS(w);
    size_t n = __atomic_load_n(&c->len, __ATOMIC_RELAXED);
    if (n > cap) {
        if (load(&c->state) != w)
            return 1;
        *len = n;
        return WV_EMSGSIZE;
    }
    struct pq_part *me = &h->parts[self];
    if (h->joinable)
        __atomic_add_fetch(&me->gword, 1, __ATOMIC_SEQ_CST);
    if (!cas(&c->state, w, ST(pos, READING, self))) {
        if (h->joinable)
            __atomic_sub_fetch(&me->gword, 1, __ATOMIC_SEQ_CST);
        return 1;
    }
    if (ST_PART(w) != R_MARK)
        cas(&h->head, pos, pos + 1);
    *err = take(h, c, pos, buf, n);
    if (h->joinable)
        __atomic_add_fetch(&me->gword, (1u << 16) - 1, __ATOMIC_SEQ_CST);
    *len = n;
    return 0;
}

/* Takes a message to be delivered again, if any: 0 (taken), 1 (none),
 * WV_EMSGSIZE. */
static int take_redelivered(wv_mpqueue_t *q, uint32_t self, void *buf,
                            size_t cap, size_t *len, int *err)
{
    struct pq_hdr *h = q->h;
    uint32_t hint = __atomic_load_n(&h->redeliver, __ATOMIC_SEQ_CST);
    for (uint64_t i = 0; i < h->ncells; i++) {
        struct pq_cell *c = cell_at(h, i);
        uint64_t w = load(&c->state);
        if (ST_KIND(w) != FULL || ST_PART(w) != R_MARK)
            continue;
        int r = try_take(q, c, w, self, buf, cap, len, err);
        if (r != 1)
            return r;
    }
    /* None left: unless a repair marked one meanwhile, stop looking. */
    __atomic_compare_exchange_n(&h->redeliver, &hint, 0, false,
                                __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
    return 1;
}

/*
 * The cell at head and its state, moving head past cells already taken
 * or skipped: on return the state is FULL(pos) (a message), WRITING(pos)
 * (one coming), or older than pos (empty).
 */
static struct pq_cell *look_head(struct pq_hdr *h, uint64_t *pos, uint64_t *w)
{
    for (;;) {
        *pos = __atomic_load_n(&h->head, __ATOMIC_RELAXED);
        struct pq_cell *c = cell(h, *pos);
        *w = load(&c->state);
        uint64_t wpos = ST_POS(*w);
        if (wpos < *pos || (wpos == *pos && ST_KIND(*w) != READING))
            return c;
        cas(&h->head, *pos, *pos + 1); /* taken or skipped: move on */
    }
}

int wv_mpqueue_get(wv_mpqueue_t *q, void *buf, size_t cap, size_t *len,
                   int64_t deadline)
{
    if (!q || !len || (cap && !buf) || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    struct pq_hdr *h = q->h;
    uint32_t self;
    int err = wv__pq_participant(q, &self);
    if (err)
        return err;

    struct waitst ws = {0, SLICE_MIN_MS};
    for (;;) {
        int r;
        uint32_t seen = __atomic_load_n(&h->put_ev, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&h->closed, __ATOMIC_ACQUIRE) & IMMEDIATE)
            return WV_EOF;
        if (__atomic_load_n(&h->redeliver, __ATOMIC_RELAXED) &&
            (r = take_redelivered(q, self, buf, cap, len, &err)) != 1)
            return r ? r : err;
        uint64_t pos, w;
        struct pq_cell *c = look_head(h, &pos, &w);
        uint64_t wpos = ST_POS(w);
        unsigned kind = ST_KIND(w);
        if (wpos == pos && kind == FULL) {
            r = try_take(q, c, w, self, buf, cap, len, &err);
            if (r != 1)
                return r ? r : err;
            continue;
        }
        /* Empty at pos, or a producer still writing it. */
        if (kind != WRITING || wpos != pos) {
            if (__atomic_load_n(&h->closed, __ATOMIC_ACQUIRE) &&
                __atomic_load_n(&h->tail, __ATOMIC_SEQ_CST) <= pos)
                return WV_EOF;
        }
        err = wv__pq_wait_on(h, &h->put_ev, seen, &h->cwait, &c->state, w,
                             wpos == pos && kind == WRITING ? ST_PART(w) : 0,
                             self, deadline, &ws);
        if (err)
            return err;
    }
}

int wv_mpqueue_peek_len(wv_mpqueue_t *q, size_t *len)
{
    if (!q || !len)
        return WV_EINVAL;
    struct pq_hdr *h = q->h;
    for (;;) {
        uint64_t pos, w;
        struct pq_cell *c = look_head(h, &pos, &w);
        if (ST_POS(w) != pos || ST_KIND(w) != FULL)
            return WV_EAGAIN;
        size_t n = __atomic_load_n(&c->len, __ATOMIC_RELAXED);
        if (load(&c->state) == w) { /* else taken meanwhile: look again */
            *len = n;
            return 0;
        }
    }
}

/* -------------------------------------------------------- JoinableQueue */

/* Messages taken and task_done calls, over all participants, live and
 * retired (admin held: a retirement moves counts from one to the other).
 * *busy: a get is between its claim and its count. */
static void sums(struct pq_hdr *h, uint64_t *got, uint64_t *done, bool *busy)
{
    *got = __atomic_load_n(&h->retired_got, __ATOMIC_RELAXED);
    *done = __atomic_load_n(&h->retired_done, __ATOMIC_RELAXED);
    *busy = false;
    uint32_t hw = __atomic_load_n(&h->parts_hw, __ATOMIC_ACQUIRE);
    for (uint32_t p = 1; p < hw; p++) {
        uint64_t g = __atomic_load_n(&h->parts[p].gword, __ATOMIC_SEQ_CST);
        *busy |= (g & 0xffff) != 0;
        *got += g >> 16;
        *done += __atomic_load_n(&h->parts[p].done, __ATOMIC_SEQ_CST);
    }
}

/* Tasks not yet finished: messages in the queue, plus messages taken
 * and not task_done.  *busy: a get is between its claim and its count,
 * so the figure cannot be trusted to be 0. */
static int64_t unfinished(struct pq_hdr *h, bool *busy)
{
    int64_t n = 0;
    uint64_t got, done;
    for (uint64_t i = 0; i < h->ncells; i++) {
        struct pq_cell *c = cell_at(h, i);
        unsigned k = ST_KIND(load(&c->state));
        n += k == FULL || k == READING;
    }
    wv__pq_admin_lock(h);
    sums(h, &got, &done, busy);
    wv__pq_admin_unlock(h);
    return n + (int64_t)(got - done);
}

int wv_mpqueue_task_done(wv_mpqueue_t *q)
{
    if (!q || !q->h->joinable)
        return WV_EINVAL;
    struct pq_hdr *h = q->h;
    uint32_t self;
    int err = wv__pq_participant(q, &self);
    if (err)
        return err;
    uint64_t got, done;
    bool busy;
    wv__pq_admin_lock(h); /* one check-and-count at a time */
    sums(h, &got, &done, &busy);
    if (done < got)
        __atomic_add_fetch(&h->parts[self].done, 1, __ATOMIC_SEQ_CST);
    wv__pq_admin_unlock(h);
    if (done >= got)
        return WV_EOVERFLOW;
    if (__atomic_load_n(&h->jwait, __ATOMIC_SEQ_CST))
        bump(&h->done_ev);
    return 0;
}

int wv_mpqueue_join(wv_mpqueue_t *q, int64_t deadline)
{
    if (!q || !q->h->joinable || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    struct pq_hdr *h = q->h;
    uint32_t self;
    int err = wv__pq_participant(q, &self);
    if (err)
        return err;
    int64_t slice = SLICE_MIN_MS;
    for (;;) {
        uint32_t seen = __atomic_load_n(&h->done_ev, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&h->jwait, 1, __ATOMIC_SEQ_CST);
        bool busy;
        int64_t n = unfinished(h, &busy);
        if ((n <= 0 && !busy) ||
            (__atomic_load_n(&h->closed, __ATOMIC_ACQUIRE) & IMMEDIATE)) {
            __atomic_sub_fetch(&h->jwait, 1, __ATOMIC_SEQ_CST);
            return 0;
        }
        if (deadline == 0) {
            __atomic_sub_fetch(&h->jwait, 1, __ATOMIC_SEQ_CST);
            return WV_EAGAIN;
        }
        int64_t until = wv_now() + slice;
        if (deadline > 0 && deadline < until)
            until = deadline;
        err = wv__shared_wait(&h->done_ev, seen, until, 0);
        __atomic_sub_fetch(&h->jwait, 1, __ATOMIC_SEQ_CST);
        if (err == WV_ECANCELED)
            return err;
        if (err == WV_ETIMEDOUT) {
            if (slice < SLICE_MAX_MS)
                slice *= 2;
            wv__pq_sweep(h, self, false);
            if (deadline > 0 && wv_now() >= deadline)
                return WV_ETIMEDOUT;
        }
    }
}

/* ----------------------------------------------------------- the rest */

void wv_mpqueue_shutdown(wv_mpqueue_t *q, bool immediate)
{
    if (!q)
        return;
    __atomic_fetch_or(&q->h->closed, immediate ? CLOSED | IMMEDIATE : CLOSED,
                      __ATOMIC_SEQ_CST);
    bump(&q->h->put_ev);
    bump(&q->h->get_ev);
    if (immediate)
        bump(&q->h->done_ev);
}

size_t wv_mpqueue_qsize(wv_mpqueue_t *q)
{
    if (!q)
        return 0;
    uint64_t head = __atomic_load_n(&q->h->head, __ATOMIC_ACQUIRE);
    uint64_t tail = __atomic_load_n(&q->h->tail, __ATOMIC_ACQUIRE);
    return tail > head ? (size_t)(tail - head) : 0;
}

bool wv_mpqueue_is_empty(wv_mpqueue_t *q)
{
    size_t len;
    return q && (wv_mpqueue_peek_len(q, &len) != 0 &&
                 !__atomic_load_n(&q->h->redeliver, __ATOMIC_ACQUIRE));
}

bool wv_mpqueue_is_full(wv_mpqueue_t *q)
{
    if (!q)
        return false;
    struct pq_hdr *h = q->h;
    uint64_t pos = __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE);
    uint64_t w = load(&cell(h, pos)->state);
    return ST_POS(w) < pos;
}

const char *wv_mpqueue_name(const wv_mpqueue_t *q)
{
    return q ? q->name : NULL;
}

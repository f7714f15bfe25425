/*
 * pool/pchan.h - the channel between a process pool's dispatcher thread
 * (pworker.c) and its worker process (pchild.c).
 *
 * A memfd mapped by both sides: a header page (sequence words, the
 * request, the outcome, map progress, the file's size) and a data window
 * after it.  Layout of the window:
 *   apply: the argument at 0, the result at result_at(argument length);
 *   chunk: input records at 0, result records at chunk_out_at, imap's
 *          per-item codes at chunk_errs_at.
 * Turns strictly alternate (req, then rsp), so at most one side grows the
 * window at a time; the other remaps when it sees the new size.
 */
#ifndef WV_POOL_PCHAN_H
#define WV_POOL_PCHAN_H

#include "internal.h"

#define CHAN_HDR 4096u /* the header's page; data follows */
#define CHAN_MIN                                                               \
    ((2u << 20) + CHAN_HDR) /* first window: map's automatic                   \
                             * chunk (1 MiB of records)                        \
                             * and its codes */

enum { OP_APPLY = 1, OP_CHUNK, OP_EXIT };

struct chan {
    _Alignas(64) uint32_t req; /* the parent's request number (futex) */
    uint32_t child_sleeps;
    _Alignas(64) uint32_t rsp; /* the child's: = req once answered */
    uint32_t parent_sleeps;
    uint32_t taken; /* the child's: the request it has picked up */
    _Alignas(64) uint32_t op;
    int32_t rc;        /* the outcome: 0 or a WV_E* code */
    uint32_t per_item; /* chunk: every item's code (imap), not the first */
    wv_pool_fn fn;
    uint64_t len; /* apply: argument bytes in, result bytes out (at
                   * result_at(argument bytes)) */
    uint64_t n, in_size, out_size, base; /* chunk: items, first's index */
    int64_t deadline;                    /* WV_FOREVER: none */
    _Alignas(64) uint64_t progress;      /* chunk: items finished */
    _Alignas(64) uint64_t size;          /* bytes of the memfd */
};

_Static_assert(sizeof(struct chan) <= CHAN_HDR, "the header fits its page");

_Static_assert(sizeof(int) == sizeof(int32_t), "item codes cross as int32");

struct child_arg {
    int memfd, efd;
    int (*init)(void *);
    void *initarg;
};

static inline char *chan_data(struct chan *c)
{
    return (char *)c + CHAN_HDR;
}

static inline size_t result_at(size_t arg_len)
{
    return wv__round_up(arg_len, 64);
}

static inline size_t chunk_out_at(const struct chan *c)
{
    return wv__round_up((size_t)(c->n * c->in_size), 64);
}

static inline size_t chunk_errs_at(const struct chan *c)
{
    return chunk_out_at(c) + wv__round_up((size_t)(c->n * c->out_size), 64);
}

/* Maps the memfd anew when it grew (c->size) beyond what is mapped.  0 or
 * WV_ENOMEM. */
int wv__chan_remap(struct chan **c, size_t *map);
/* Makes the data window at least `need` bytes (either side may call).  0
 * or WV_ENOMEM. */
int wv__chan_reserve(int memfd, struct chan **c, size_t *map, size_t need);
/* A worker process's body (arg: a struct child_arg). */
int wv__pw_child_main(void *arg);

#endif /* WV_POOL_PCHAN_H */

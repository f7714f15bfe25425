/*
 * manager/pickle_load.h - the decoder's machine, shared by its two files:
 * pickle_load.c (input, the memo, scalars, globals, the opcode loop) and
 * pickle_build.c (what builds containers and objects from the stack).
 * The file comment of pickle_load.c says how it works.
 */
#ifndef WV_MANAGER_PICKLE_LOAD_H
#define WV_MANAGER_PICKLE_LOAD_H

#include "internal.h"

#include <string.h>

/* What one item slot of a container costs, for max_growth: the pointer
 * and its share of a dict's or set's index and of spare room. */
#define SLOT_COST 16

typedef struct loader {
    const uint8_t *p;   /* next byte to read */
    const uint8_t *end; /* past the pickle */
    size_t frame_end;   /* offset where the current FRAME ends, 0: none */
    const uint8_t *start;
    int proto; /* the last PROTO seen (0 without one) */
    /* Limits, resolved (never 0). */
    size_t max_depth, max_items, max_memo, max_int_bytes;
    size_t max_bytes; /* max_growth applied to the pickle's length */
    size_t items;     /* tree size pushed so far (see the file comment) */
    size_t bytes;     /* payload allocated so far */
    wv_obj_t **stack;
    size_t nstack, capstack;
    size_t *marks;
    size_t nmarks, capmarks;
    wv_obj_t **memo; /* NULL where unset */
    size_t capmemo;
    size_t memo_len; /* entries set: MEMOIZE's next index */
    size_t memo_top; /* the highest index set + 1: what to free */
    const char *why;
    /* The first stack, marks and memo, in place: a manager's message
     * needs a few of each, and three heap arrays per message cost more
     * than the decoding (W11). */
    wv_obj_t *stack_small[16];
    size_t marks_small[8];
    wv_obj_t *memo_small[16];
} loader_t;

/* Grows an array that starts in place (small) to n bytes of which the
 * first used are kept: realloc once it is on the heap.  NULL if out of
 * memory (cur is then untouched). */
static inline void *grow_array(void *cur, const void *small, size_t used,
                               size_t n)
{
    if (cur != small)
        return wv__realloc(cur, n);
    void *p = wv__malloc(n);
    if (p)
        memcpy(p, cur, used);
    return p;
}

static inline int refuse(loader_t *L, const char *why)
{
    L->why = why;
    return WV_EPROTO;
}

static inline int nomem(loader_t *L)
{
    L->why = "out of memory";
    return WV_ENOMEM;
}

/* ----------------------------------------------------------- accounting */

/*
 * Counts saturate at half the range: a weight then never has the top
 * bit that the epochs of later cycle checks carry in the same word
 * (value.c), so no weight left in a node passes for a visit.
 */
#define COUNT_MAX (SIZE_MAX >> 1)

static inline size_t sat_add(size_t a, size_t b)
{
    return a > COUNT_MAX - b || b > COUNT_MAX ? COUNT_MAX : a + b;
}

static inline size_t weight(const wv_obj_t *v)
{
    return wv__vnode(v)->aux;
}

static inline uint32_t height(const wv_obj_t *v)
{
    return wv__vnode(v)->height;
}

/* Payload about to be allocated. */
static inline int charge(loader_t *L, size_t bytes)
{
    L->bytes = sat_add(L->bytes, bytes);
    if (L->bytes > L->max_bytes)
        return refuse(L, "the value would take more memory than max_growth "
                         "allows for a pickle this long");
    return 0;
}

/* parent gained child: its weight and height follow. */
static inline int adopt(loader_t *L, wv_obj_t *parent, const wv_obj_t *child)
{
    wv__vnode_t *n = wv__vnode(parent);

    n->aux = sat_add(n->aux, weight(child));
    if (height(child) + 1 > n->height)
        n->height = height(child) + 1;
    if (n->height > L->max_depth)
        return refuse(L, "containers nested deeper than max_depth");
    return 0;
}

/* ---------------------------------------------------------------- stack */

/* Items above the last mark. */
static inline size_t avail(const loader_t *L)
{
    return L->nstack - (L->nmarks ? L->marks[L->nmarks - 1] : 0);
}

/*
 * Pushes v (a reference the stack takes over, on failure too), counting
 * `count` items: 1 for a node just made, its weight for a reference to a
 * node made before.
 */
static inline int push_counted(loader_t *L, wv_obj_t *v, size_t count)
{
    L->items = sat_add(L->items, count);
    if (L->items > L->max_items) {
        wv_obj_free(v);
        return refuse(L, "more values than max_items (counting every "
                         "reference to a shared one)");
    }
    if (L->nstack == L->capstack) {
        size_t cap = 2 * L->capstack;
        wv_obj_t **s = grow_array(L->stack, L->stack_small,
                                  L->capstack * sizeof *s, cap * sizeof *s);
        if (!s) {
            wv_obj_free(v);
            return nomem(L);
        }
        L->stack = s;
        L->capstack = cap;
    }
    L->stack[L->nstack++] = v;
    return 0;
}

/* Pushes a node just made (NULL: it could not be made). */
static inline int push_new(loader_t *L, wv_obj_t *v)
{
    if (!v)
        return nomem(L);
    wv__vnode(v)->aux = 1;
    return push_counted(L, v, 1);
}

/* Takes the top of the stack; it has left its slot, so it is closed. */
static inline wv_obj_t *pop(loader_t *L)
{
    wv_obj_t *v = L->stack[--L->nstack];

    wv__vnode(v)->open = false;
    return v;
}

static inline int need(loader_t *L, size_t n)
{
    if (avail(L) < n)
        return refuse(L, "stack underflow (an opcode needs more values "
                         "than there are after the last MARK)");
    return 0;
}

/* Drops the last mark, giving the stack position it held. */
static inline int pop_mark(loader_t *L, size_t *base)
{
    if (L->nmarks == 0)
        return refuse(L, "an opcode needs a MARK and there is none");
    *base = L->marks[--L->nmarks];
    return 0;
}

/* ------------------------------------------ pickle_build.c: containers */

/* TUPLE1..3: a tuple of the top n. */
int wv__pickle_tuple_n(loader_t *L, size_t n);
/* TUPLE, LIST, FROZENSET: a container of kind of the items after the
 * mark. */
int wv__pickle_marked(loader_t *L, wv_objkind_t kind);
/* EMPTY_TUPLE, EMPTY_LIST, EMPTY_DICT, EMPTY_SET. */
int wv__pickle_empty(loader_t *L, wv_objkind_t kind);
/* APPENDS, SETITEMS, ADDITEMS: the items after the mark into the
 * container under it. */
int wv__pickle_extend_marked(loader_t *L, wv_objkind_t kind);
/* APPEND (n 1), SETITEM (n 2): the top n into the container under them. */
int wv__pickle_extend_top(loader_t *L, wv_objkind_t kind, size_t n);
/* DICT (protocols 0 and 1): a dict of the pairs after the mark. */
int wv__pickle_dict(loader_t *L);
/* REDUCE (newobj false), NEWOBJ: a call, as data or an OBJECT. */
int wv__pickle_call(loader_t *L, bool newobj);
/* BUILD: the top as the state of the object under it. */
int wv__pickle_build(loader_t *L);

#endif /* WV_MANAGER_PICKLE_LOAD_H */

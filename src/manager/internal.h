/*
 * manager/internal.h - what the value model (value.c, value_repr.c) and
 * the pickle codec (pickle_load.c, pickle_dump.c) share.
 *
 * Every node is allocated as a wv__vnode_t, the public wv_obj_t first,
 * so that a node can carry private bookkeeping that users never see: the
 * decoder's accounting of the tree a node stands for, the mark of the
 * cycle check, and the link that frees a tree without recursion.
 */
#ifndef WV_MANAGER_INTERNAL_H
#define WV_MANAGER_INTERNAL_H

#include "../core/internal.h"
#include "weave/obj.h"

typedef struct wv__vnode {
    /* What users see; must stay first (a wv_obj_t * is a node). */
    wv_obj_t v;
    /*
     * One word with three lives, never overlapping:
     *   while a pickle is decoded: the node's weight, the size of the
     *     tree it stands for, counting shared nodes once per reference;
     *   afterwards: the epoch of the last cycle check that visited it
     *     (read and written with relaxed atomics: checks of other trees
     *     sharing the node may overwrite it, which costs a revisit only);
     *   when the last reference goes: the next node to free.
     */
    uintptr_t aux;
    /* While decoding: containers inside containers, this one included
     * (0 for a scalar). */
    uint32_t height;
    /* While decoding: the node is a container or object still on the
     * stack where it was made, which later opcodes may fill.  A memo
     * reference to it would make a cycle. */
    bool open;
    /* A sequence whose items are in this node's allocation, after it
     * (wv__value_alloc_seq), not in an array of their own.  Kept, not
     * told from the address: an allocator hook packing blocks back to
     * back could place an array there too. */
    bool items_here;
} wv__vnode_t;

static inline wv__vnode_t *wv__vnode(const wv_obj_t *v)
{
    return (wv__vnode_t *)v;
}

/* A node of one kind, zeroed, with one reference; NULL when out of
 * memory. */
wv_obj_t *wv__value_alloc(wv_objkind_t kind);

/* The most entries a sequence keeps in its node's own allocation. */
#define WV__SEQ_HERE_MAX 16

/* A sequence node of kind (TUPLE, LIST, SET, FROZENSET or DICT): with
 * room for cap entries in its own allocation when cap is 1 to
 * WV__SEQ_HERE_MAX, else a plain node (a larger room is the caller's to
 * reserve); NULL when out of memory.  A dict's or set's index is still
 * to be made (wv__value_reserve). */
wv_obj_t *wv__value_alloc_seq(wv_objkind_t kind, size_t cap);

/*
 * wv_pickle_dumps with head bytes left free at the start of the output
 * (a frame's length, written by the caller), *len counting them, and the
 * output in scratch (cap bytes, the caller's) while it fits: *out is then
 * scratch, else a new buffer freed with wv__free.  scratch may be NULL.
 */
int wv__pickle_dumps_after(const wv_obj_t *v, int protocol, size_t head,
                           char *scratch, size_t cap, char **out, size_t *len);

/* TUPLE, LIST, SET, FROZENSET or DICT: the kinds that hold items. */
bool wv__value_is_seq(wv_objkind_t kind);

/* True if the len bytes at s are UTF-8, surrogates (ED A0..BF ..)
 * allowed as CPython's surrogatepass writes them. */
bool wv__utf8_valid(const char *s, size_t len);

/*
 * Room for `more` further items (pairs, for a dict) in seq, and for a
 * dict or set, room in its hash index: after a 0 return the next `more`
 * wv__value_push / wv__value_set_add / wv__value_dict_put cannot fail.
 * WV_ENOMEM.
 */
int wv__value_reserve(wv_obj_t *seq, size_t more);

/* Stores item at the end of a TUPLE or LIST (room reserved).  Takes the
 * reference; no checks. */
void wv__value_push(wv_obj_t *seq, wv_obj_t *item);

/* Adds a hashable item to a SET or FROZENSET (room reserved), replacing
 * an equal one in place.  Takes the reference. */
void wv__value_set_add(wv_obj_t *set, wv_obj_t *item);

/* dict[key] = val (room reserved), key hashable: an equal key keeps its
 * place and gets val, the given key is dropped.  Takes both references. */
void wv__value_dict_put(wv_obj_t *dict, wv_obj_t *key, wv_obj_t *val);

/* The position of an item of a DICT (a key), SET or FROZENSET equal to
 * key, whose hash is hash; SIZE_MAX if there is none. */
size_t wv__value_find(const wv_obj_t *seq, const wv_obj_t *key, uint64_t hash);

/* The integer's minimal little-endian two's complement, as pickle's LONG1
 * writes it, into out[8]; returns the number of bytes (1..8). */
size_t wv__int64_le(int64_t i, uint8_t out[8]);

/* The hash wv_obj_hash gives a str of these bytes. */
uint64_t wv__hash_str(const char *s, size_t len);

#endif /* WV_MANAGER_INTERNAL_H */

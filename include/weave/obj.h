/*
 * weave/obj.h - inert Python objects (wv_obj_t): the data a manager
 * carries between processes and machines, and their pickle encoding
 * (Python's pickle, protocols 2 to 5), read without ever importing,
 * calling or executing anything.  (multiprocessing.Value, bytes of
 * shared memory, is wv_value_t in weave/ipc.h.)
 *
 *     wv_obj_t *t, *n;
 *     wv_obj_new_tuple(&t, 2);
 *     wv_obj_new_int(&n, 7);
 *     wv_obj_append(t, n);                      // t owns n from now on
 *     wv_obj_new_str(&n, "seven", 5);
 *     wv_obj_append(t, n);
 *     char *bytes;
 *     size_t len;
 *     wv_pickle_dumps(t, 0, &bytes, &len);        // pickle.dumps((7, 'seven'))
 *     wv_obj_free(t);
 *     wv_obj_t *back;
 *     wv_pickle_loads(&back, bytes, len, NULL, NULL);
 *     wv_free(bytes);
 *
 * A value is a tree of nodes, each of one kind (wv_objkind_t).  A node is
 * reference-counted: wv_obj_ref takes one more reference, wv_obj_free
 * drops one and frees the node (and drops its children) with the last.
 * Counting is atomic, so a value may be shared by threads that only read
 * it; a node that is being changed (append, dict_set) belongs to one
 * thread.  Containers own their items: a call that stores an item in a
 * container takes over the caller's reference on success, and leaves it
 * with the caller on failure.  A value never contains itself (no cycles):
 * the decoder refuses a pickle that would make one, and the calls that
 * add items refuse to make one.  The same node may appear more than once
 * in a tree (a pickle's memo reference makes that), and the encoder then
 * writes it once and refers back to it, as Python's pickler does.
 *
 * Nothing received is code.  A pickle names Python classes and functions
 * (module.name, "globals") and asks for them to be called; here a global
 * stays a WV_OBJ_GLOBAL node with its two names, and a call of it stays
 * a WV_OBJ_INSTANCE node holding the global, its arguments and its state,
 * as data.  Four well-known constructors of plain data are read as the
 * data they make: builtins.bytearray, set and frozenset, and the
 * _codecs.encode(str, 'latin1') by which protocol 2 writes bytes.  Nothing
 * else is interpreted; a caller that gives a meaning to some globals
 * (the manager: queue.Empty, builtins exceptions, Token) does so by name.
 *
 * Python's types and the kinds:
 *     None                  WV_OBJ_NONE
 *     bool                  WV_OBJ_BOOL
 *     int                   WV_OBJ_INT (fits int64_t) or WV_OBJ_BIGINT
 *     float                 WV_OBJ_FLOAT
 *     str                   WV_OBJ_STR (UTF-8; lone surrogates allowed,
 *                           as CPython's pickler writes them)
 *     bytes, bytearray      WV_OBJ_BYTES, WV_OBJ_BYTEARRAY
 *     tuple, list           WV_OBJ_TUPLE, WV_OBJ_LIST
 *     dict                  WV_OBJ_DICT (insertion order kept)
 *     set, frozenset        WV_OBJ_SET, WV_OBJ_FROZENSET
 *     a class or function   WV_OBJ_GLOBAL (module, name)
 *     an instance           WV_OBJ_INSTANCE (the global called, its
 *                           arguments, its state: e.g. ValueError('x'))
 *
 * Memory comes from the allocator hook (weave/core.h); bytes returned to
 * the caller (wv_pickle_dumps, wv_obj_repr) are freed with wv_free.
 */
#ifndef WEAVE_OBJ_H
#define WEAVE_OBJ_H

#include "weave/core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum wv_objkind {
    WV_OBJ_NONE = 0,
    WV_OBJ_BOOL,
    WV_OBJ_INT,
    WV_OBJ_BIGINT,
    WV_OBJ_FLOAT,
    WV_OBJ_STR,
    WV_OBJ_BYTES,
    WV_OBJ_BYTEARRAY,
    WV_OBJ_TUPLE,
    WV_OBJ_LIST,
    WV_OBJ_DICT,
    WV_OBJ_SET,
    WV_OBJ_FROZENSET,
    WV_OBJ_GLOBAL,
    WV_OBJ_INSTANCE
} wv_objkind_t;

typedef struct wv_obj wv_obj_t;

/*
 * A node.  Read its fields directly; change it only through the calls
 * below (they keep the invariants: NUL terminators, the dict's index,
 * no cycles).
 */
struct wv_obj {
    wv_objkind_t kind;
    /* References held on this node (atomic; see above). */
    uint32_t refs;
    union {
        /* WV_OBJ_BOOL */
        bool b;
        /* WV_OBJ_INT */
        int64_t i;
        /* WV_OBJ_FLOAT */
        double f;
        /* WV_OBJ_STR (UTF-8), BYTES, BYTEARRAY: len bytes at data, and
         * a NUL after them (not counted) so a str can be printed.
         * WV_OBJ_BIGINT: the integer in little-endian two's complement,
         * in the fewest bytes (pickle's LONG form); only integers that do
         * not fit int64_t are BIGINT. */
        struct {
            char *data;
            size_t len;
        } s;
        /* WV_OBJ_TUPLE, LIST, SET, FROZENSET: len items.
         * WV_OBJ_DICT: len pairs, key i at items[2 * i] and its value
         * at items[2 * i + 1], in insertion order; keys are unique. */
        struct {
            wv_obj_t **items;
            size_t len;
            /* Private: room, and the dict's hash index. */
            size_t cap;
            void *index;
        } seq;
        /* WV_OBJ_GLOBAL: module and name, NUL-terminated. */
        struct {
            char *module;
            char *name;
        } global;
        /* WV_OBJ_INSTANCE: cls called with args (a TUPLE), then given
         * state (NULL if none; pickle's BUILD).  cls is usually a GLOBAL.
         * newobj: made by cls.__new__(cls, *args) (pickle's NEWOBJ)
         * rather than cls(*args) (REDUCE). */
        struct {
            wv_obj_t *cls;
            wv_obj_t *args;
            wv_obj_t *state;
            bool newobj;
        } inst;
    } u;
};

/* ---------------------------------------------------------------- making */

/*
 * Each makes a node with one reference, the caller's, in *out.  Errors:
 * WV_EINVAL (out NULL, or as said), WV_ENOMEM; *out is then untouched.
 */
WV_EXTERN int wv_obj_new_none(wv_obj_t **out);
WV_EXTERN int wv_obj_new_bool(wv_obj_t **out, bool b);
WV_EXTERN int wv_obj_new_int(wv_obj_t **out, int64_t i);
WV_EXTERN int wv_obj_new_float(wv_obj_t **out, double f);
/* A copy of len bytes of UTF-8 text; WV_EINVAL if they are not UTF-8
 * (surrogates, which CPython may send, are accepted). */
WV_EXTERN int wv_obj_new_str(wv_obj_t **out, const char *s, size_t len);
/* A copy of len bytes (data may be NULL when len is 0). */
WV_EXTERN int wv_obj_new_bytes(wv_obj_t **out, const void *data, size_t len);
WV_EXTERN int wv_obj_new_bytearray(wv_obj_t **out, const void *data,
                                   size_t len);
/* An integer of any size from its little-endian two's-complement bytes;
 * the result is an INT when it fits int64_t, a BIGINT otherwise.  len 0
 * is zero. */
WV_EXTERN int wv_obj_new_bigint(wv_obj_t **out, const void *le_bytes,
                                size_t len);
/* Empty containers with room for cap items (pairs, for a dict). */
WV_EXTERN int wv_obj_new_tuple(wv_obj_t **out, size_t cap);
WV_EXTERN int wv_obj_new_list(wv_obj_t **out, size_t cap);
WV_EXTERN int wv_obj_new_dict(wv_obj_t **out, size_t cap);
WV_EXTERN int wv_obj_new_set(wv_obj_t **out, size_t cap);
WV_EXTERN int wv_obj_new_frozenset(wv_obj_t **out, size_t cap);
/* module.name (copied; WV_EINVAL if either is empty or not UTF-8). */
WV_EXTERN int wv_obj_new_global(wv_obj_t **out, const char *module,
                                const char *name);
/* An instance: takes over the references to cls, args (a TUPLE; NULL is
 * an empty one) and state (may be NULL) on success.  WV_EINVAL if cls is
 * NULL or args is not a tuple. */
WV_EXTERN int wv_obj_new_instance(wv_obj_t **out, wv_obj_t *cls, wv_obj_t *args,
                                  wv_obj_t *state, bool newobj);
/* An exception as Python pickles one: module.name called with args, e.g.
 * ("builtins", "ValueError", ("bad value", 42)).  Takes over args (a
 * TUPLE, or NULL for none) on success. */
WV_EXTERN int wv_obj_new_exception(wv_obj_t **out, const char *module,
                                   const char *name, wv_obj_t *args);

/* One more reference to v; returns v.  v NULL gives NULL. */
WV_EXTERN wv_obj_t *wv_obj_ref(wv_obj_t *v);
/* Drops one reference; the last frees the node and drops its children's.
 * NULL is a no-op. */
WV_EXTERN void wv_obj_free(wv_obj_t *v);

/* ------------------------------------------------------------- changing */

/*
 * Appends item to a TUPLE, LIST, SET or FROZENSET, taking over the
 * caller's reference on success (a set first drops an equal item it
 * already holds: the new one replaces it, and the set's order is the order
 * of first insertion).  Errors: WV_EINVAL (seq NULL or of another kind,
 * item NULL, item is seq or contains it, a set item that is not hashable:
 * a list, dict, set or bytearray, or an object), WV_ENOMEM.  seq must have
 * one reference only (nobody else sees it change); tuples are changed only
 * while they are being made.
 */
WV_EXTERN int wv_obj_append(wv_obj_t *seq, wv_obj_t *item);
/*
 * dict[key] = val, taking over both references on success; an equal key
 * already present keeps its place and gets the new value (the dict's new
 * key is dropped, as Python keeps the first key object).  Errors:
 * WV_EINVAL (dict not a DICT, key or val NULL, key not hashable, a cycle),
 * WV_ENOMEM.
 */
WV_EXTERN int wv_obj_dict_set(wv_obj_t *dict, wv_obj_t *key, wv_obj_t *val);

/* -------------------------------------------------------------- reading */

/* The value stored under a str key, borrowed (valid while dict is), or
 * NULL if dict is no DICT or has no such key.  O(1) on average. */
WV_EXTERN wv_obj_t *wv_obj_dict_get(const wv_obj_t *dict, const char *key);
/* The same for a key of any kind. */
WV_EXTERN wv_obj_t *wv_obj_dict_find(const wv_obj_t *dict, const wv_obj_t *key);
/*
 * An integer's value: INT, BOOL (0 or 1), or a BIGINT.  Errors: WV_EINVAL
 * (v NULL or no integer), WV_ERANGE (a BIGINT beyond int64_t).
 */
WV_EXTERN int wv_obj_get_int(const wv_obj_t *v, int64_t *out);
/* Python's ==, for the kinds here: ints, bools and floats compare by
 * number (1 == True == 1.0), sequences item by item (a tuple never equals
 * a list), dicts and sets whatever their order; globals by both names;
 * objects by class, arguments and state; NaN equals nothing. */
WV_EXTERN bool wv_obj_equal(const wv_obj_t *a, const wv_obj_t *b);
/* Python's hash() agreement for what equal() says: equal values hash the
 * same.  Not Python's numbers.  0 for what is not hashable. */
WV_EXTERN uint64_t wv_obj_hash(const wv_obj_t *v);
/* True if v can be a dict key or set item (what Python hashes: not a
 * list, dict, set, bytearray; a tuple if all its items are). */
WV_EXTERN bool wv_obj_is_hashable(const wv_obj_t *v);
/* v is a GLOBAL named module.name, or an INSTANCE whose class is. */
WV_EXTERN bool wv_obj_is_global(const wv_obj_t *v, const char *module,
                                const char *name);

/*
 * Python's repr() of v as a NUL-terminated string in *out (freed with
 * wv_free), e.g. "(7, 'seven', b'\\x00', [1.5], {'a': None})"; an object
 * reads module.name(args...).  Errors: WV_EINVAL (v or out NULL),
 * WV_ENOMEM.
 */
WV_EXTERN int wv_obj_repr(const wv_obj_t *v, char **out);

/* ---------------------------------------------------------------- pickle */

/*
 * Limits of wv_pickle_loads; a zeroed struct (or NULL) gives the defaults
 * shown.  The decoder stops at the first limit exceeded with WV_EPROTO.
 */
typedef struct wv_pickle_limits {
    /* Containers inside containers: 0 = 200. */
    size_t max_depth;
    /* Nodes made in all, counting every item: 0 = 1 << 20. */
    size_t max_items;
    /* Memo entries (MEMOIZE, PUT): 0 = 1 << 20. */
    size_t max_memo;
    /* Bytes of one integer (LONG1, LONG4): 0 = 4096. */
    size_t max_int_bytes;
    /* Bytes allocated for the value in all, as a multiple of the
     * pickle's own length, plus 64 KiB: 0 = 16 (what the pickle's
     * opcodes can honestly need, with room; a string is at most as long
     * as its pickle). */
    size_t max_growth;
} wv_pickle_limits_t;

/*
 * pickle.loads: decodes one pickle of protocol 0 to 5 made of the opcodes
 * Python writes for the kinds above, into a new value in *out (one
 * reference, the caller's).  Bytes after the STOP opcode are ignored, as
 * Python does.  Refused, with WV_EPROTO: truncated or malformed input, a
 * protocol above 5, opcodes that are never data (PERSID, BINPERSID,
 * INST, OBJ, EXT1/2/4, NEWOBJ_EX, NEXT_BUFFER, READONLY_BUFFER, the text
 * opcodes of protocol 0 other than GLOBAL, PUT and GET), stack or mark
 * errors, an unset memo index, a memo reference that would make a cycle,
 * an unhashable dict key or set item, text that is not UTF-8, a limit
 * exceeded.  *why, if why is not NULL, then points at a static sentence
 * saying which ("memo index 7 was never set").  Other errors: WV_EINVAL
 * (out NULL, or data NULL with len > 0), WV_ENOMEM.  Never calls,
 * imports or executes anything the pickle names.
 */
WV_EXTERN int wv_pickle_loads(wv_obj_t **out, const void *data, size_t len,
                              const wv_pickle_limits_t *limits,
                              const char **why);

/*
 * pickle.dumps(v, protocol): encodes v into new bytes at *out (freed with
 * wv_free), *len of them.  protocol 0 means 4, Python's default; 2 to 5
 * are written as CPython writes them (protocol 4 and 5 with FRAME and
 * MEMOIZE), so that every CPython from 3.6 reads them.  A node met twice
 * is written once and referred back to.  A GLOBAL is written as its two
 * names and an INSTANCE as the call of its class: CPython will import and
 * call them when it loads the pickle (that is pickle's nature: send only
 * what you would let the reader run).  Errors: WV_EINVAL (v, out or len
 * NULL, protocol not 0 or 2..5, a str or name that is not UTF-8, a value
 * nested deeper than 10000 containers), WV_ENOMEM.
 */
WV_EXTERN int wv_pickle_dumps(const wv_obj_t *v, int protocol, char **out,
                              size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* WEAVE_OBJ_H */

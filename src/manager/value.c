/*
 * manager/value.c - inert values: nodes, their references, containers and
 * the hash index of dicts and sets, Python's == and a hash that agrees.
 *
 * A node is a wv__vnode_t (internal.h).  References are counted with
 * atomic builtins; the last wv_obj_free frees the node and drops its
 * children's references without recursion: dying nodes are chained
 * through their aux word, so a tree of any depth is freed in constant
 * stack.
 *
 * Dicts and sets keep their items in insertion order in seq.items and an
 * open-addressing index beside them (seq.index): slots of (hash, position
 * + 1), a power of two of them, at most half full, linear probing.  There
 * is no deletion, so no tombstones.  seq.cap counts entries (pairs for a
 * dict), as seq.len does.
 *
 * No cycles: the public calls that add items check that the item does not
 * contain the container (a walk over the item that visits each shared node
 * once, marked with a global epoch).  The decoder adds items with the
 * unchecked wv__value_* calls: its own rule (pickle_load.c) keeps a
 * container out of its items.
 */
#include "internal.h"

#include <string.h>

typedef struct vslot {
    uint64_t hash;
    size_t pos; /* position + 1 in items (pairs for a dict); 0: empty */
} vslot_t;

typedef struct vindex {
    size_t mask; /* slots - 1 */
    vslot_t slot[];
} vindex_t;

/* ---------------------------------------------------------------- nodes */

/* malloc and memset, not calloc: glibc's calloc never takes a chunk from
 * its per-thread cache, and a message's nodes are a handful of chunks of
 * one size, allocated and freed together (W11: calloc was ~1,400 of the
 * server's ~9,700 instructions per call). */
wv_obj_t *wv__value_alloc(wv_objkind_t kind)
{
    wv__vnode_t *n = wv__malloc(sizeof *n);

    if (!n)
        return NULL;
    memset(n, 0, sizeof *n);
    n->v.kind = kind;
    n->v.refs = 1;
    return &n->v;
}

/* Pointers in items for n entries of seq. */
static size_t slots_of(const wv_obj_t *seq, size_t n)
{
    return seq->kind == WV_OBJ_DICT ? 2 * n : n;
}

wv_obj_t *wv__value_alloc_seq(wv_objkind_t kind, size_t cap)
{
    size_t slots = kind == WV_OBJ_DICT ? 2 * cap : cap;

    if (cap == 0 || cap > WV__SEQ_HERE_MAX)
        return wv__value_alloc(kind);
    /* The items right after the node, in the same allocation, as a
     * str's bytes are: one allocation for a message's tuple. */
    wv__vnode_t *n = wv__malloc(sizeof *n + slots * sizeof(wv_obj_t *));
    if (!n)
        return NULL;
    memset(n, 0, sizeof *n);
    n->v.kind = kind;
    n->v.refs = 1;
    n->v.u.seq.items = (wv_obj_t **)(n + 1);
    n->v.u.seq.cap = cap;
    n->items_here = true;
    return &n->v;
}

bool wv__value_is_seq(wv_objkind_t kind)
{
    return kind == WV_OBJ_TUPLE || kind == WV_OBJ_LIST || kind == WV_OBJ_DICT ||
           kind == WV_OBJ_SET || kind == WV_OBJ_FROZENSET;
}

static bool is_set(wv_objkind_t kind)
{
    return kind == WV_OBJ_SET || kind == WV_OBJ_FROZENSET;
}

static int new_scalar(wv_obj_t **out, wv_objkind_t kind, wv_obj_t **node)
{
    if (!out)
        return WV_EINVAL;
    *node = wv__value_alloc(kind);
    return *node ? 0 : WV_ENOMEM;
}

int wv_obj_new_none(wv_obj_t **out)
{
    wv_obj_t *v;
    int err = new_scalar(out, WV_OBJ_NONE, &v);

    if (!err)
        *out = v;
    return err;
}

int wv_obj_new_bool(wv_obj_t **out, bool b)
{
    wv_obj_t *v;
    int err = new_scalar(out, WV_OBJ_BOOL, &v);

    if (!err) {
        v->u.b = b;
        *out = v;
    }
    return err;
}

int wv_obj_new_int(wv_obj_t **out, int64_t i)
{
    wv_obj_t *v;
    int err = new_scalar(out, WV_OBJ_INT, &v);

    if (!err) {
        v->u.i = i;
        *out = v;
    }
    return err;
}

int wv_obj_new_float(wv_obj_t **out, double f)
{
    wv_obj_t *v;
    int err = new_scalar(out, WV_OBJ_FLOAT, &v);

    if (!err) {
        v->u.f = f;
        *out = v;
    }
    return err;
}

/* A node holding a NUL-terminated copy of len bytes. */
static int new_data(wv_obj_t **out, wv_objkind_t kind, const void *data,
                    size_t len)
{
    wv_obj_t *v;

    if (!out || (!data && len > 0) || len > SIZE_MAX - sizeof(wv__vnode_t) - 1)
        return WV_EINVAL;
    /* The bytes live right after the node, in the same allocation: half
     * the allocations of a message's strings (release knows them by
     * their address). */
    wv__vnode_t *n = wv__malloc(sizeof *n + len + 1);
    if (!n)
        return WV_ENOMEM;
    memset(n, 0, sizeof *n);
    v = &n->v;
    v->kind = kind;
    v->refs = 1;
    v->u.s.data = (char *)(n + 1);
    if (len)
        memcpy(v->u.s.data, data, len);
    v->u.s.data[len] = '\0';
    v->u.s.len = len;
    *out = v;
    return 0;
}

/* One code point at s[0..len) (len > 0): its byte length, 0 if invalid. */
static size_t utf8_char(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    size_t n, i;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c < 0xC2 || c > 0xF4)
        return 0;
    n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (len < n)
        return 0;
    cp = c & (0x3F >> (n - 1));
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    /* Overlong forms and beyond U+10FFFF; surrogates pass. */
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n;
}

bool wv__utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    /* ASCII eight bytes at a time: most names and keys are. */
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080u)
            break;
    }
    while (i < len) {
        size_t n = utf8_char(p + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

int wv_obj_new_str(wv_obj_t **out, const char *s, size_t len)
{
    if (s && !wv__utf8_valid(s, len))
        return WV_EINVAL;
    return new_data(out, WV_OBJ_STR, s, len);
}

int wv_obj_new_bytes(wv_obj_t **out, const void *data, size_t len)
{
    return new_data(out, WV_OBJ_BYTES, data, len);
}

int wv_obj_new_bytearray(wv_obj_t **out, const void *data, size_t len)
{
    return new_data(out, WV_OBJ_BYTEARRAY, data, len);
}

int wv_obj_new_bigint(wv_obj_t **out, const void *le_bytes, size_t len)
{
    const uint8_t *b = le_bytes;
    uint64_t u = 0;
    size_t i;

    if (!out || (!b && len > 0))
        return WV_EINVAL;
    /* The fewest bytes: drop a top byte that only repeats the sign. */
    while (len > 1 && ((b[len - 1] == 0 && !(b[len - 2] & 0x80)) ||
                       (b[len - 1] == 0xFF && (b[len - 2] & 0x80))))
        len--;
    if (len > 8)
        return new_data(out, WV_OBJ_BIGINT, b, len);
    for (i = 0; i < len; i++)
        u |= (uint64_t)b[i] << (8 * i);
    if (len > 0 && len < 8 && (b[len - 1] & 0x80))
        u |= ~(uint64_t)0 << (8 * len);
    return wv_obj_new_int(out, (int64_t)u);
}

size_t wv__int64_le(int64_t i, uint8_t out[8])
{
    uint64_t u = (uint64_t)i;
    size_t len = 8, k;

    for (k = 0; k < 8; k++)
        out[k] = (uint8_t)(u >> (8 * k));
    while (len > 1 && ((out[len - 1] == 0 && !(out[len - 2] & 0x80)) ||
                       (out[len - 1] == 0xFF && (out[len - 2] & 0x80))))
        len--;
    return len;
}

static int new_seq(wv_obj_t **out, wv_objkind_t kind, size_t cap)
{
    wv_obj_t *v;

    if (!out)
        return WV_EINVAL;
    if (cap > SIZE_MAX / 32)
        return WV_EINVAL;
    v = wv__value_alloc_seq(kind, cap);
    if (!v)
        return WV_ENOMEM;
    /* A room too large to be in place, or a dict's or set's index (none
     * for an empty one, as before). */
    if (cap &&
        (cap > WV__SEQ_HERE_MAX || kind == WV_OBJ_DICT || is_set(kind)) &&
        wv__value_reserve(v, cap) != 0) {
        wv__free(v);
        return WV_ENOMEM;
    }
    *out = v;
    return 0;
}

int wv_obj_new_tuple(wv_obj_t **out, size_t cap)
{
    return new_seq(out, WV_OBJ_TUPLE, cap);
}

int wv_obj_new_list(wv_obj_t **out, size_t cap)
{
    return new_seq(out, WV_OBJ_LIST, cap);
}

int wv_obj_new_dict(wv_obj_t **out, size_t cap)
{
    return new_seq(out, WV_OBJ_DICT, cap);
}

int wv_obj_new_set(wv_obj_t **out, size_t cap)
{
    return new_seq(out, WV_OBJ_SET, cap);
}

int wv_obj_new_frozenset(wv_obj_t **out, size_t cap)
{
    return new_seq(out, WV_OBJ_FROZENSET, cap);
}

static char *copy_name(const char *s)
{
    size_t len = strlen(s);
    char *c = wv__malloc(len + 1);

    if (c)
        memcpy(c, s, len + 1);
    return c;
}

int wv_obj_new_global(wv_obj_t **out, const char *module, const char *name)
{
    wv_obj_t *v;

    if (!out || !module || !name || !*module || !*name ||
        !wv__utf8_valid(module, strlen(module)) ||
        !wv__utf8_valid(name, strlen(name)))
        return WV_EINVAL;
    v = wv__value_alloc(WV_OBJ_GLOBAL);
    if (!v)
        return WV_ENOMEM;
    v->u.global.module = copy_name(module);
    v->u.global.name = copy_name(name);
    if (!v->u.global.module || !v->u.global.name) {
        wv_obj_free(v);
        return WV_ENOMEM;
    }
    *out = v;
    return 0;
}

int wv_obj_new_instance(wv_obj_t **out, wv_obj_t *cls, wv_obj_t *args,
                        wv_obj_t *state, bool newobj)
{
    wv_obj_t *v;

    if (!out || !cls || (args && args->kind != WV_OBJ_TUPLE))
        return WV_EINVAL;
    v = wv__value_alloc(WV_OBJ_INSTANCE);
    if (!v)
        return WV_ENOMEM;
    if (!args && wv_obj_new_tuple(&args, 0) != 0) {
        wv__free(v);
        return WV_ENOMEM;
    }
    v->u.inst.cls = cls;
    v->u.inst.args = args;
    v->u.inst.state = state;
    v->u.inst.newobj = newobj;
    *out = v;
    return 0;
}

int wv_obj_new_exception(wv_obj_t **out, const char *module, const char *name,
                         wv_obj_t *args)
{
    wv_obj_t *cls;
    int err;

    if (!out || (args && args->kind != WV_OBJ_TUPLE))
        return WV_EINVAL;
    err = wv_obj_new_global(&cls, module, name);
    if (err)
        return err;
    err = wv_obj_new_instance(out, cls, args, NULL, false);
    if (err)
        wv_obj_free(cls);
    return err;
}

/* ----------------------------------------------------------- references */

wv_obj_t *wv_obj_ref(wv_obj_t *v)
{
    if (v)
        __atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
    return v;
}

/* Drops one reference to child; a last one chains it on *dying. */
static void drop(wv_obj_t *child, wv__vnode_t **dying)
{
    /* One reference, ours: nobody else can take another, so it is the
     * last without the locked decrement (most nodes of a message). */
    if (!child || (__atomic_load_n(&child->refs, __ATOMIC_ACQUIRE) != 1 &&
                   __atomic_sub_fetch(&child->refs, 1, __ATOMIC_ACQ_REL) != 0))
        return;
    wv__vnode(child)->aux = (uintptr_t)*dying;
    *dying = wv__vnode(child);
}

/* Frees what node n holds itself and drops its children. */
static void release(wv_obj_t *v, wv__vnode_t **dying)
{
    size_t i;

    switch (v->kind) {
    case WV_OBJ_STR:
    case WV_OBJ_BYTES:
    case WV_OBJ_BYTEARRAY:
    case WV_OBJ_BIGINT:
        if (v->u.s.data != (char *)(wv__vnode(v) + 1)) /* not in place */
            wv__free(v->u.s.data);
        break;
    case WV_OBJ_GLOBAL:
        wv__free(v->u.global.module);
        wv__free(v->u.global.name);
        break;
    case WV_OBJ_INSTANCE:
        drop(v->u.inst.cls, dying);
        drop(v->u.inst.args, dying);
        drop(v->u.inst.state, dying);
        break;
    default:
        if (!wv__value_is_seq(v->kind))
            break;
        for (i = 0; i < slots_of(v, v->u.seq.len); i++)
            drop(v->u.seq.items[i], dying);
        if (!wv__vnode(v)->items_here)
            wv__free(v->u.seq.items);
        wv__free(v->u.seq.index);
        break;
    }
}

void wv_obj_free(wv_obj_t *v)
{
    wv__vnode_t *dying = NULL;

    drop(v, &dying);
    while (dying) {
        wv__vnode_t *n = dying;
        dying = (wv__vnode_t *)n->aux;
        release(&n->v, &dying);
        wv__free(n);
    }
}

/* ---------------------------------------------------------- hash index */

static wv_obj_t *key_at(const wv_obj_t *seq, size_t pos)
{
    return seq->u.seq.items[seq->kind == WV_OBJ_DICT ? 2 * pos : pos];
}

size_t wv__value_find(const wv_obj_t *seq, const wv_obj_t *key, uint64_t hash)
{
    const vindex_t *ix = seq->u.seq.index;
    size_t i;

    if (!ix)
        return SIZE_MAX;
    for (i = hash & ix->mask; ix->slot[i].pos; i = (i + 1) & ix->mask) {
        size_t pos = ix->slot[i].pos - 1;
        if (ix->slot[i].hash == hash && wv_obj_equal(key_at(seq, pos), key))
            return pos;
    }
    return SIZE_MAX;
}

static void index_put(vindex_t *ix, uint64_t hash, size_t pos)
{
    size_t i = hash & ix->mask;

    while (ix->slot[i].pos)
        i = (i + 1) & ix->mask;
    ix->slot[i].hash = hash;
    ix->slot[i].pos = pos + 1;
}

/* An index of at least twice n slots, with the old one's entries. */
static int index_grow(wv_obj_t *seq, size_t n)
{
    vindex_t *old = seq->u.seq.index, *ix;
    size_t slots = 8, i;

    if (old && old->mask + 1 >= 2 * n)
        return 0;
    while (slots < 2 * n) {
        if (slots > SIZE_MAX / 2 / sizeof(vslot_t))
            return WV_ENOMEM;
        slots *= 2;
    }
    ix = wv__calloc(1, sizeof *ix + slots * sizeof(vslot_t));
    if (!ix)
        return WV_ENOMEM;
    ix->mask = slots - 1;
    for (i = 0; old && i <= old->mask; i++)
        if (old->slot[i].pos)
            index_put(ix, old->slot[i].hash, old->slot[i].pos - 1);
    wv__free(old);
    seq->u.seq.index = ix;
    return 0;
}

int wv__value_reserve(wv_obj_t *seq, size_t more)
{
    size_t len = seq->u.seq.len, want, cap;
    wv_obj_t **items;

    if (more > SIZE_MAX / 32 - len)
        return WV_ENOMEM;
    want = len + more;
    if (want > seq->u.seq.cap) {
        cap = seq->u.seq.cap * 2 > want ? seq->u.seq.cap * 2 : want;
        if (wv__vnode(seq)->items_here) { /* out of its node, into an array */
            items = wv__malloc(slots_of(seq, cap) * sizeof *items);
            if (items)
                memcpy(items, seq->u.seq.items,
                       slots_of(seq, len) * sizeof *items);
        } else {
            items = wv__realloc(seq->u.seq.items,
                                slots_of(seq, cap) * sizeof *items);
        }
        if (!items)
            return WV_ENOMEM;
        wv__vnode(seq)->items_here = false;
        seq->u.seq.items = items;
        seq->u.seq.cap = cap;
    }
    if (seq->kind == WV_OBJ_DICT || is_set(seq->kind))
        return index_grow(seq, want);
    return 0;
}

void wv__value_push(wv_obj_t *seq, wv_obj_t *item)
{
    WV__ASSERT(seq->u.seq.len < seq->u.seq.cap);
    seq->u.seq.items[seq->u.seq.len++] = item;
}

void wv__value_set_add(wv_obj_t *set, wv_obj_t *item)
{
    uint64_t hash = wv_obj_hash(item);
    size_t pos = wv__value_find(set, item, hash);

    if (pos != SIZE_MAX) {
        wv_obj_free(set->u.seq.items[pos]);
        set->u.seq.items[pos] = item;
        return;
    }
    WV__ASSERT(set->u.seq.len < set->u.seq.cap);
    index_put(set->u.seq.index, hash, set->u.seq.len);
    set->u.seq.items[set->u.seq.len++] = item;
}

void wv__value_dict_put(wv_obj_t *dict, wv_obj_t *key, wv_obj_t *val)
{
    uint64_t hash = wv_obj_hash(key);
    size_t pos = wv__value_find(dict, key, hash);

    if (pos != SIZE_MAX) {
        wv_obj_free(dict->u.seq.items[2 * pos + 1]);
        dict->u.seq.items[2 * pos + 1] = val;
        wv_obj_free(key);
        return;
    }
    WV__ASSERT(dict->u.seq.len < dict->u.seq.cap);
    pos = dict->u.seq.len++;
    index_put(dict->u.seq.index, hash, pos);
    dict->u.seq.items[2 * pos] = key;
    dict->u.seq.items[2 * pos + 1] = val;
}

/* ------------------------------------------------------------- changing */

static uint64_t check_epoch;

/* True if v is target or holds it, looking at each node once per check. */
static bool holds(const wv_obj_t *v, const wv_obj_t *target, uint64_t epoch)
{
    wv__vnode_t *n = wv__vnode(v);
    size_t i;

    if (v == target)
        return true;
    if (!wv__value_is_seq(v->kind) && v->kind != WV_OBJ_INSTANCE)
        return false;
    if (__atomic_load_n(&n->aux, __ATOMIC_RELAXED) == epoch)
        return false;
    __atomic_store_n(&n->aux, (uintptr_t)epoch, __ATOMIC_RELAXED);
    if (v->kind == WV_OBJ_INSTANCE)
        return holds(v->u.inst.cls, target, epoch) ||
               holds(v->u.inst.args, target, epoch) ||
               (v->u.inst.state && holds(v->u.inst.state, target, epoch));
    for (i = 0; i < slots_of(v, v->u.seq.len); i++)
        if (holds(v->u.seq.items[i], target, epoch))
            return true;
    return false;
}

/*
 * Whether adding item to seq would make a cycle.  A container holding
 * seq holds a reference to it; the caller, who must own seq's only
 * reference to change it, holds another: so with one reference seq is in
 * no container and no item can hold it.  The walk (which costs the size
 * of item) is for the other case, a caller changing a shared node.
 */
static bool would_cycle(const wv_obj_t *seq, const wv_obj_t *item)
{
    if (__atomic_load_n(&seq->refs, __ATOMIC_RELAXED) == 1 && item != seq)
        return false;
    /* The top bit tells an epoch from a weight the decoder left. */
    uint64_t epoch = __atomic_add_fetch(&check_epoch, 1, __ATOMIC_RELAXED) |
                     (uint64_t)1 << 63;

    return holds(item, seq, epoch);
}

int wv_obj_append(wv_obj_t *seq, wv_obj_t *item)
{
    int err;

    if (!seq || !item || !wv__value_is_seq(seq->kind) ||
        seq->kind == WV_OBJ_DICT)
        return WV_EINVAL;
    if (is_set(seq->kind) && !wv_obj_is_hashable(item))
        return WV_EINVAL;
    if (would_cycle(seq, item))
        return WV_EINVAL;
    err = wv__value_reserve(seq, 1);
    if (err)
        return err;
    if (is_set(seq->kind))
        wv__value_set_add(seq, item);
    else
        wv__value_push(seq, item);
    return 0;
}

int wv_obj_dict_set(wv_obj_t *dict, wv_obj_t *key, wv_obj_t *val)
{
    int err;

    if (!dict || !key || !val || dict->kind != WV_OBJ_DICT ||
        !wv_obj_is_hashable(key) || would_cycle(dict, val))
        return WV_EINVAL;
    err = wv__value_reserve(dict, 1);
    if (err)
        return err;
    wv__value_dict_put(dict, key, val);
    return 0;
}

/* -------------------------------------------------------------- reading */

wv_obj_t *wv_obj_dict_find(const wv_obj_t *dict, const wv_obj_t *key)
{
    size_t pos;

    if (!dict || !key || dict->kind != WV_OBJ_DICT || !wv_obj_is_hashable(key))
        return NULL;
    pos = wv__value_find(dict, key, wv_obj_hash(key));
    return pos == SIZE_MAX ? NULL : dict->u.seq.items[2 * pos + 1];
}

wv_obj_t *wv_obj_dict_get(const wv_obj_t *dict, const char *key)
{
    const vindex_t *ix;
    size_t len, i;
    uint64_t hash;

    if (!dict || !key || dict->kind != WV_OBJ_DICT || !dict->u.seq.index)
        return NULL;
    ix = dict->u.seq.index;
    len = strlen(key);
    hash = wv__hash_str(key, len);
    for (i = hash & ix->mask; ix->slot[i].pos; i = (i + 1) & ix->mask) {
        size_t pos = ix->slot[i].pos - 1;
        const wv_obj_t *k = dict->u.seq.items[2 * pos];
        if (ix->slot[i].hash == hash && k->kind == WV_OBJ_STR &&
            k->u.s.len == len && memcmp(k->u.s.data, key, len) == 0)
            return dict->u.seq.items[2 * pos + 1];
    }
    return NULL;
}

int wv_obj_get_int(const wv_obj_t *v, int64_t *out)
{
    if (!v || !out)
        return WV_EINVAL;
    switch (v->kind) {
    case WV_OBJ_BOOL:
        *out = v->u.b;
        return 0;
    case WV_OBJ_INT:
        *out = v->u.i;
        return 0;
    case WV_OBJ_BIGINT:
        return WV_ERANGE; /* a BIGINT never fits (it would be an INT) */
    default:
        return WV_EINVAL;
    }
}

bool wv_obj_is_global(const wv_obj_t *v, const char *module, const char *name)
{
    if (!v || !module || !name)
        return false;
    if (v->kind == WV_OBJ_INSTANCE)
        v = v->u.inst.cls;
    return v && v->kind == WV_OBJ_GLOBAL &&
           strcmp(v->u.global.module, module) == 0 &&
           strcmp(v->u.global.name, name) == 0;
}

bool wv_obj_is_hashable(const wv_obj_t *v)
{
    size_t i;

    if (!v)
        return false;
    switch (v->kind) {
    case WV_OBJ_LIST:
    case WV_OBJ_DICT:
    case WV_OBJ_SET:
    case WV_OBJ_BYTEARRAY:
    case WV_OBJ_INSTANCE:
        return false;
    case WV_OBJ_TUPLE:
        for (i = 0; i < v->u.seq.len; i++)
            if (!wv_obj_is_hashable(v->u.seq.items[i]))
                return false;
        return true;
    default:
        return true;
    }
}

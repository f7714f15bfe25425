/*
 * manager/pickle_dump.c - pickle.dumps: a value into the bytes CPython's
 * C pickler (Modules/_pickle.c, 3.8 - 3.13) writes for the same Python
 * value, protocols 2 to 5.
 *
 * What is copied from CPython, because a byte-identical output is the
 * strongest test of the encoder and what peers are known to read:
 *   - framing (protocol 4+): a frame opens with the first write after
 *     PROTO; at the start of each value saved, a frame of 64 KiB or more
 *     is closed; str and bytes data of 64 KiB or more is written outside
 *     any frame; a frame of fewer than 4 bytes loses its header;
 *   - the memo: every str, bytes, non-empty tuple, list, dict, set,
 *     frozenset, global and call result is stored (MEMOIZE; BINPUT in
 *     protocols 2 and 3) after it is written, and a node met again is
 *     written as BINGET or LONG_BINGET of its index.  CPython memoizes
 *     by object identity; here a node is its identity, except globals:
 *     two GLOBAL nodes with the same names are the one Python class, and
 *     the module and name strings of globals are interned in Python, so
 *     those are memoized by their text;
 *   - lists, dicts and sets in batches of 1000 (MARK ... APPENDS), a
 *     list of one item with APPEND, a dict of one pair with SETITEM, and
 *     CPython's quirk of an empty last batch for a dict or set whose size
 *     is a multiple of 1000;
 *   - the smallest integer opcode (BININT1, BININT2, BININT, LONG1,
 *     LONG4), the shortest string and bytes opcodes;
 *   - below protocol 4 (or 5 for bytearray), the kinds without opcodes go
 *     as the calls Python's reductions make: sets as set(list), bytes in
 *     protocol 2 as _codecs.encode(str, 'latin1'), bytearray as
 *     bytearray(bytes); globals as GLOBAL text lines, and protocol 2
 *     spells the builtins module __builtin__ as Python 2 knows it.
 *
 * Output goes to one growing buffer; the first failed allocation is kept
 * in dumper.err and turns every later write into nothing.
 */
#include "internal.h"

#include <string.h>

#define FRAME_TARGET (64 * 1024)
#define FRAME_MIN    4
#define FRAME_HEADER 9
#define BATCH        1000
#define NO_FRAME     SIZE_MAX
/* Deeper values are refused rather than risk the C stack. */
#define MAX_DEPTH 10000

/* A memo key: a node, or (tag, text) for what is memoized by text. */
typedef struct mkey {
    const void *node;   /* NULL for a text key */
    const char *module; /* text keys: the string, or a global's module */
    const char *name;   /* a global's name; NULL for a string */
    size_t len;         /* the string's length */
} mkey_t;

typedef struct mslot {
    mkey_t key;
    uint64_t hash;
    size_t idx; /* memo index + 1; 0: empty */
} mslot_t;

typedef struct dumper {
    char *buf;
    size_t len;
    size_t cap;
    int proto;
    bool framing;
    size_t frame_start; /* where the open frame's header is, or NO_FRAME */
    mslot_t *memo;      /* memo_small until it outgrows it */
    size_t memo_mask;   /* slots - 1 */
    size_t memo_len;    /* entries: the next index */
    size_t memo_keys;   /* entries in the table (the others have no key) */
    int err;
    char *scratch; /* the caller's first buffer, never freed here */
    /* The first table, in place: a manager's request or reply memoizes
     * a handful of entries, and a heap table per message cost more than
     * the encoding (W11). */
    mslot_t memo_small[16];
} dumper_t;

/* ---------------------------------------------------------------- output */

static void grow(dumper_t *D, size_t n)
{
    size_t cap = D->cap ? D->cap : 256;
    char *buf;

    if (n > SIZE_MAX / 4 - D->len) {
        D->err = WV_ENOMEM;
        return;
    }
    while (cap - D->len < n)
        cap *= 2;
    if (D->scratch && D->buf == D->scratch) { /* out of the caller's buffer */
        buf = wv__malloc(cap);
        if (buf)
            memcpy(buf, D->buf, D->len);
    } else {
        buf = wv__realloc(D->buf, cap);
    }
    if (!buf) {
        D->err = WV_ENOMEM;
        return;
    }
    D->buf = buf;
    D->cap = cap;
}

static void write_raw(dumper_t *D, const void *s, size_t n)
{
    size_t header = D->framing && D->frame_start == NO_FRAME ? FRAME_HEADER : 0;

    if (D->err)
        return;
    if (D->cap - D->len < n + header) {
        grow(D, n + header);
        if (D->err)
            return;
    }
    if (header) {
        D->frame_start = D->len;
        D->len += FRAME_HEADER;
    }
    memcpy(D->buf + D->len, s, n);
    D->len += n;
}

static void op(dumper_t *D, uint8_t code)
{
    /* The common case without write_raw's call: a frame open (or none
     * to open) and room. */
    if (!D->err && D->len < D->cap &&
        (D->frame_start != NO_FRAME || !D->framing)) {
        D->buf[D->len++] = (char)code;
        return;
    }
    write_raw(D, &code, 1);
}

static void put_le(uint8_t *p, uint64_t x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(x >> (8 * i));
}

/* An opcode and its argument, n little-endian bytes of x. */
static void op_le(dumper_t *D, uint8_t code, uint64_t x, size_t n)
{
    uint8_t b[9];

    b[0] = code;
    put_le(b + 1, x, n);
    write_raw(D, b, n + 1);
}

static void commit_frame(dumper_t *D)
{
    size_t n;

    if (D->err || D->frame_start == NO_FRAME)
        return;
    n = D->len - D->frame_start - FRAME_HEADER;
    if (n >= FRAME_MIN) {
        D->buf[D->frame_start] = (char)0x95;
        put_le((uint8_t *)D->buf + D->frame_start + 1, n, 8);
    } else {
        memmove(D->buf + D->frame_start, D->buf + D->frame_start + FRAME_HEADER,
                n);
        D->len -= FRAME_HEADER;
    }
    D->frame_start = NO_FRAME;
}

/* Where CPython's save() begins: a full frame is closed. */
static void boundary(dumper_t *D)
{
    if (D->frame_start != NO_FRAME &&
        D->len - D->frame_start - FRAME_HEADER >= FRAME_TARGET)
        commit_frame(D);
}

/* A header and data, the data outside any frame when it is large. */
static void write_data(dumper_t *D, const uint8_t *header, size_t hlen,
                       const void *data, size_t len)
{
    bool framing = D->framing;

    if (len >= FRAME_TARGET) {
        commit_frame(D);
        D->framing = false;
    }
    write_raw(D, header, hlen);
    write_raw(D, data, len);
    D->framing = framing;
}

/* ------------------------------------------------------------------ memo */

static uint64_t key_hash(const mkey_t *k)
{
    if (k->node) /* a node's address: Fibonacci hashing, high bits */
        return ((uint64_t)(uintptr_t)k->node * 0x9E3779B97F4A7C15u) >> 16;
    if (!k->name)
        return wv__hash_str(k->module, k->len) ^ 0x5354;
    return wv__hash_str(k->module, strlen(k->module)) * 31 +
           wv__hash_str(k->name, strlen(k->name));
}

static bool key_equal(const mkey_t *a, const mkey_t *b)
{
    if (a->node || b->node)
        return a->node == b->node;
    if (!a->name || !b->name)
        return !a->name && !b->name && a->len == b->len &&
               memcmp(a->module, b->module, a->len) == 0;
    return strcmp(a->module, b->module) == 0 && strcmp(a->name, b->name) == 0;
}

/* The slot of k: its entry, or the empty slot where it would go. */
static mslot_t *memo_slot(dumper_t *D, const mkey_t *k, uint64_t hash)
{
    size_t i = hash & D->memo_mask;

    while (D->memo[i].idx &&
           !(D->memo[i].hash == hash && key_equal(&D->memo[i].key, k)))
        i = (i + 1) & D->memo_mask;
    return &D->memo[i];
}

/* k's memo index + 1, or 0. */
static size_t memo_find(dumper_t *D, const mkey_t *k)
{
    if (!D->memo)
        return 0;
    return memo_slot(D, k, key_hash(k))->idx;
}

static void memo_grow(dumper_t *D)
{
    size_t slots = D->memo ? 2 * (D->memo_mask + 1) : 16, i;
    mslot_t *old = D->memo, *m;
    size_t old_slots = old ? D->memo_mask + 1 : 0;

    if (!old) { /* zeroed with the dumper */
        D->memo = D->memo_small;
        D->memo_mask = slots - 1;
        return;
    }
    m = wv__calloc(slots, sizeof *m);
    if (!m) {
        D->err = WV_ENOMEM;
        return;
    }
    D->memo = m;
    D->memo_mask = slots - 1;
    for (i = 0; i < old_slots; i++)
        if (old[i].idx)
            *memo_slot(D, &old[i].key, old[i].hash) = old[i];
    if (old != D->memo_small)
        wv__free(old);
}

/* Stores what was just written under k, and writes MEMOIZE or BINPUT. */
static void memo_put(dumper_t *D, const mkey_t *k)
{
    size_t idx = D->memo_len++;
    uint64_t hash;
    mslot_t *s;

    if (D->err)
        return;
    if (k && (!D->memo || 2 * (D->memo_keys + 1) > D->memo_mask + 1))
        memo_grow(D);
    if (D->err)
        return;
    if (k) {
        hash = key_hash(k);
        s = memo_slot(D, k, hash);
        s->key = *k;
        s->hash = hash;
        s->idx = idx + 1;
        D->memo_keys++;
    }
    if (D->proto >= 4)
        op(D, 0x94); /* MEMOIZE */
    else if (idx < 256)
        op_le(D, 0x71, idx, 1); /* BINPUT */
    else
        op_le(D, 0x72, idx, 4); /* LONG_BINPUT */
}

/* Whether v can be met again in this dump.  A node is reached twice only
 * through two references to it, so a node with one (the tree's, or the
 * caller's for the root) is written once: it takes a memo index, as in
 * CPython's output, but no table entry and no lookup.  Most nodes of a
 * message are such (W11: the lookups and entries were ~1,100 of the
 * client's ~9,500 instructions per call). */
static bool shared(const wv_obj_t *v)
{
    return __atomic_load_n(&v->refs, __ATOMIC_RELAXED) != 1;
}

static void memo_node(dumper_t *D, const wv_obj_t *v)
{
    mkey_t k = {.node = v};

    memo_put(D, shared(v) ? &k : NULL);
}

/* A memo store for a temporary CPython would make and drop (an argument
 * tuple of a reduction): an index, no key. */
static void memo_anon(dumper_t *D)
{
    memo_put(D, NULL);
}

/* BINGET or LONG_BINGET of k if it is in the memo. */
static bool memo_get(dumper_t *D, const mkey_t *k)
{
    size_t idx = memo_find(D, k);

    if (!idx)
        return false;
    if (idx - 1 < 256)
        op_le(D, 0x68, idx - 1, 1); /* BINGET */
    else
        op_le(D, 0x6a, idx - 1, 4); /* LONG_BINGET */
    return true;
}

/* ---------------------------------------------------------------- atoms */

static void save_int(dumper_t *D, int64_t i)
{
    uint8_t b[8];
    size_t n;

    if (i >= 0 && i <= 0xFF) {
        op_le(D, 0x4b, (uint64_t)i, 1); /* BININT1 */
    } else if (i >= 0 && i <= 0xFFFF) {
        op_le(D, 0x4d, (uint64_t)i, 2); /* BININT2 */
    } else if (i >= INT32_MIN && i <= INT32_MAX) {
        op_le(D, 0x4a, (uint64_t)(uint32_t)(int32_t)i, 4); /* BININT */
    } else {
        n = wv__int64_le(i, b);
        op_le(D, 0x8a, n, 1); /* LONG1 */
        write_raw(D, b, n);
    }
}

static void save_long(dumper_t *D, const wv_obj_t *v)
{
    if (v->u.s.len < 256)
        op_le(D, 0x8a, v->u.s.len, 1); /* LONG1 */
    else if (v->u.s.len <= INT32_MAX)
        op_le(D, 0x8b, v->u.s.len, 4); /* LONG4 */
    else
        D->err = WV_EINVAL;
    write_raw(D, v->u.s.data, v->u.s.len);
}

static void save_float(dumper_t *D, double f)
{
    uint8_t b[9];
    uint64_t bits;

    memcpy(&bits, &f, sizeof bits);
    b[0] = 0x47; /* BINFLOAT, big-endian */
    for (int i = 0; i < 8; i++)
        b[1 + i] = (uint8_t)(bits >> (56 - 8 * i));
    write_raw(D, b, sizeof b);
}

/* The text of a str, without the memo. */
static void write_str(dumper_t *D, const char *s, size_t len)
{
    uint8_t h[9];

    if (!wv__utf8_valid(s, len)) {
        D->err = D->err ? D->err : WV_EINVAL;
        return;
    }
    if (len < 256 && D->proto >= 4) {
        h[0] = 0x8c; /* SHORT_BINUNICODE */
        put_le(h + 1, len, 1);
        write_data(D, h, 2, s, len);
    } else if (len <= UINT32_MAX) {
        h[0] = 0x58; /* BINUNICODE */
        put_le(h + 1, len, 4);
        write_data(D, h, 5, s, len);
    } else if (D->proto >= 4) {
        h[0] = 0x8d; /* BINUNICODE8 */
        put_le(h + 1, len, 8);
        write_data(D, h, 9, s, len);
    } else {
        D->err = D->err ? D->err : WV_EINVAL;
    }
}

static void save_str(dumper_t *D, const wv_obj_t *v)
{
    write_str(D, v->u.s.data, v->u.s.len);
    memo_node(D, v);
}

/* A str memoized by its text (a global's module or name). */
static void save_interned(dumper_t *D, const char *s)
{
    mkey_t k = {.module = s, .len = strlen(s)};

    if (memo_get(D, &k))
        return;
    write_str(D, s, k.len);
    memo_put(D, &k);
}

/* ------------------------------------------------------ globals, calls */

/* module.name, memoized by the two names. */
static void save_global_names(dumper_t *D, const char *module, const char *name)
{
    mkey_t k = {.module = module, .name = name};

    if (memo_get(D, &k))
        return;
    if (D->proto >= 4) {
        save_interned(D, module);
        save_interned(D, name);
        op(D, 0x93); /* STACK_GLOBAL */
    } else {
        if (D->proto < 3 && strcmp(module, "builtins") == 0)
            module = "__builtin__";
        if (strchr(module, '\n') || strchr(name, '\n') ||
            !wv__utf8_valid(module, strlen(module)) ||
            !wv__utf8_valid(name, strlen(name))) {
            D->err = D->err ? D->err : WV_EINVAL;
            return;
        }
        op(D, 0x63); /* GLOBAL */
        write_raw(D, module, strlen(module));
        write_raw(D, "\n", 1);
        write_raw(D, name, strlen(name));
        write_raw(D, "\n", 1);
    }
    memo_put(D, &k);
}

static void save(dumper_t *D, const wv_obj_t *v, int depth);

static void save_object(dumper_t *D, const wv_obj_t *v, int depth)
{
    save(D, v->u.inst.cls, depth);
    if (v->u.inst.args)
        save(D, v->u.inst.args, depth);
    else
        op(D, 0x29);                       /* EMPTY_TUPLE */
    op(D, v->u.inst.newobj ? 0x81 : 0x52); /* NEWOBJ, REDUCE */
    memo_node(D, v);
    if (v->u.inst.state) {
        save(D, v->u.inst.state, depth);
        op(D, 0x62); /* BUILD */
    }
}

/* --------------------------------------------------------- containers */

/* items[0, n) (step 1) or pairs (step 2) in batches of 1000 ending with
 * `end`; `quirk`: CPython's extra empty batch after a full last one. */
static void batches(dumper_t *D, wv_obj_t *const *items, size_t n, size_t step,
                    uint8_t end, bool quirk, int depth)
{
    size_t done = 0, in_batch;

    do {
        op(D, 0x28); /* MARK */
        for (in_batch = 0; done < n && in_batch < BATCH; in_batch++) {
            for (size_t k = 0; k < step; k++)
                save(D, items[done * step + k], depth);
            done++;
        }
        op(D, end);
    } while (done < n || (quirk && in_batch == BATCH));
}

static void save_items(dumper_t *D, const wv_obj_t *v, int depth)
{
    size_t n = v->u.seq.len;
    wv_obj_t *const *items = v->u.seq.items;

    if (n == 1 && v->kind == WV_OBJ_LIST) {
        save(D, items[0], depth);
        op(D, 0x61); /* APPEND */
    } else if (n == 1 && v->kind == WV_OBJ_DICT) {
        save(D, items[0], depth);
        save(D, items[1], depth);
        op(D, 0x73); /* SETITEM */
    } else if (n && v->kind == WV_OBJ_LIST) {
        batches(D, items, n, 1, 0x65, false, depth); /* APPENDS */
    } else if (n && v->kind == WV_OBJ_DICT) {
        batches(D, items, n, 2, 0x75, true, depth); /* SETITEMS */
    } else if (n) {
        batches(D, items, n, 1, 0x90, true, depth); /* ADDITEMS */
    }
}

static void save_tuple(dumper_t *D, const wv_obj_t *v, int depth)
{
    size_t n = v->u.seq.len;

    if (n == 0) {
        op(D, 0x29); /* EMPTY_TUPLE */
        return;
    }
    if (n > 3)
        op(D, 0x28); /* MARK */
    for (size_t i = 0; i < n; i++)
        save(D, v->u.seq.items[i], depth);
    op(D, n > 3 ? 0x74 : (uint8_t)(0x85 + n - 1)); /* TUPLE, TUPLE1..3 */
    memo_node(D, v);
}

/*
 * A set or frozenset below protocol 4: cls(list), as Python's reduction:
 * the global, a list (memoized, filled like any list), the argument
 * tuple (memoized), REDUCE and the result.
 */
static void save_set_call(dumper_t *D, const wv_obj_t *v, int depth)
{
    size_t n = v->u.seq.len;

    save_global_names(D, "builtins",
                      v->kind == WV_OBJ_SET ? "set" : "frozenset");
    op(D, 0x5d); /* EMPTY_LIST */
    memo_anon(D);
    if (n == 1) {
        save(D, v->u.seq.items[0], depth);
        op(D, 0x61); /* APPEND */
    } else if (n) {
        batches(D, v->u.seq.items, n, 1, 0x65, false, depth);
    }
    op(D, 0x85); /* TUPLE1 */
    memo_anon(D);
    op(D, 0x52); /* REDUCE */
    memo_node(D, v);
}

static void save_set(dumper_t *D, const wv_obj_t *v, int depth)
{
    if (D->proto < 4) {
        save_set_call(D, v, depth);
    } else if (v->kind == WV_OBJ_SET) {
        op(D, 0x8f); /* EMPTY_SET */
        memo_node(D, v);
        save_items(D, v, depth);
    } else {
        op(D, 0x28); /* MARK: a frozenset is never batched */
        for (size_t i = 0; i < v->u.seq.len; i++)
            save(D, v->u.seq.items[i], depth);
        op(D, 0x91); /* FROZENSET */
        memo_node(D, v);
    }
}

/* --------------------------------------------------------- bytes kinds */

/* The bytes' opcodes (protocol 3+), without the memo. */
static void write_bytes(dumper_t *D, uint8_t big_op, const void *data,
                        size_t len)
{
    uint8_t h[9];

    if (big_op == 0x96) { /* BYTEARRAY8 */
        h[0] = big_op;
        put_le(h + 1, len, 8);
        write_data(D, h, 9, data, len);
    } else if (len < 256) {
        h[0] = 0x43; /* SHORT_BINBYTES */
        put_le(h + 1, len, 1);
        write_data(D, h, 2, data, len);
    } else if (len <= UINT32_MAX) {
        h[0] = 0x42; /* BINBYTES */
        put_le(h + 1, len, 4);
        write_data(D, h, 5, data, len);
    } else if (D->proto >= 4) {
        h[0] = 0x8e; /* BINBYTES8 */
        put_le(h + 1, len, 8);
        write_data(D, h, 9, data, len);
    } else {
        D->err = D->err ? D->err : WV_EINVAL;
    }
}

/*
 * bytes in protocol 2, as Python's reduction: bytes() when empty, else
 * _codecs.encode(the bytes as a str of the same code points, 'latin1').
 */
static void write_bytes_call(dumper_t *D, const uint8_t *data, size_t len)
{
    char *text;
    size_t n = 0;

    if (len == 0) {
        save_global_names(D, "builtins", "bytes");
        op(D, 0x29); /* EMPTY_TUPLE */
        op(D, 0x52); /* REDUCE */
        return;
    }
    save_global_names(D, "_codecs", "encode");
    text = len <= SIZE_MAX / 2 ? wv__malloc(2 * len) : NULL;
    if (!text) {
        D->err = WV_ENOMEM;
        return;
    }
    for (size_t i = 0; i < len; i++) {
        if (data[i] < 0x80) {
            text[n++] = (char)data[i];
        } else {
            text[n++] = (char)(0xC0 | data[i] >> 6);
            text[n++] = (char)(0x80 | (data[i] & 0x3F));
        }
    }
    write_str(D, text, n);
    memo_anon(D);
    wv__free(text);
    write_str(D, "latin1", 6);
    memo_anon(D);
    op(D, 0x86); /* TUPLE2 */
    memo_anon(D);
    op(D, 0x52); /* REDUCE */
}

static void save_bytes(dumper_t *D, const wv_obj_t *v)
{
    if (D->proto >= 3)
        write_bytes(D, 0, v->u.s.data, v->u.s.len);
    else
        write_bytes_call(D, (const uint8_t *)v->u.s.data, v->u.s.len);
    memo_node(D, v);
}

/* bytearray: BYTEARRAY8 in protocol 5, else bytearray(bytes) or
 * bytearray() as Python's reduction. */
static void save_bytearray(dumper_t *D, const wv_obj_t *v)
{
    if (D->proto >= 5) {
        write_bytes(D, 0x96, v->u.s.data, v->u.s.len);
    } else {
        save_global_names(D, "builtins", "bytearray");
        if (v->u.s.len == 0) {
            op(D, 0x29); /* EMPTY_TUPLE */
        } else {
            if (D->proto >= 3)
                write_bytes(D, 0, v->u.s.data, v->u.s.len);
            else
                write_bytes_call(D, (const uint8_t *)v->u.s.data, v->u.s.len);
            memo_anon(D);
            op(D, 0x85); /* TUPLE1 */
            memo_anon(D);
        }
        op(D, 0x52); /* REDUCE */
    }
    memo_node(D, v);
}

/* ----------------------------------------------------------- the tree */

/* Kinds that are written again each time, never memoized. */
static bool is_atom(const wv_obj_t *v)
{
    return v->kind == WV_OBJ_NONE || v->kind == WV_OBJ_BOOL ||
           v->kind == WV_OBJ_INT || v->kind == WV_OBJ_BIGINT ||
           v->kind == WV_OBJ_FLOAT ||
           (v->kind == WV_OBJ_TUPLE && v->u.seq.len == 0);
}

static void save_atom(dumper_t *D, const wv_obj_t *v)
{
    switch (v->kind) {
    case WV_OBJ_NONE:
        op(D, 0x4e); /* NONE */
        break;
    case WV_OBJ_BOOL:
        op(D, v->u.b ? 0x88 : 0x89); /* NEWTRUE, NEWFALSE */
        break;
    case WV_OBJ_INT:
        save_int(D, v->u.i);
        break;
    case WV_OBJ_BIGINT:
        save_long(D, v);
        break;
    case WV_OBJ_FLOAT:
        save_float(D, v->u.f);
        break;
    default:
        op(D, 0x29); /* EMPTY_TUPLE */
        break;
    }
}

static void save(dumper_t *D, const wv_obj_t *v, int depth)
{
    mkey_t k = {.node = v};

    if (D->err)
        return;
    if (!v || depth >= MAX_DEPTH) {
        D->err = WV_EINVAL;
        return;
    }
    boundary(D);
    if (is_atom(v)) {
        save_atom(D, v);
        return;
    }
    if (v->kind == WV_OBJ_GLOBAL) {
        save_global_names(D, v->u.global.module, v->u.global.name);
        return;
    }
    if (shared(v) && memo_get(D, &k))
        return;
    switch (v->kind) {
    case WV_OBJ_STR:
        save_str(D, v);
        break;
    case WV_OBJ_BYTES:
        save_bytes(D, v);
        break;
    case WV_OBJ_BYTEARRAY:
        save_bytearray(D, v);
        break;
    case WV_OBJ_TUPLE:
        save_tuple(D, v, depth + 1);
        break;
    case WV_OBJ_LIST:
        op(D, 0x5d); /* EMPTY_LIST */
        memo_node(D, v);
        save_items(D, v, depth + 1);
        break;
    case WV_OBJ_DICT:
        op(D, 0x7d); /* EMPTY_DICT */
        memo_node(D, v);
        save_items(D, v, depth + 1);
        break;
    case WV_OBJ_SET:
    case WV_OBJ_FROZENSET:
        save_set(D, v, depth + 1);
        break;
    case WV_OBJ_INSTANCE:
        save_object(D, v, depth + 1);
        break;
    default:
        D->err = WV_EINVAL;
        break;
    }
}

int wv_pickle_dumps(const wv_obj_t *v, int protocol, char **out, size_t *len)
{
    return wv__pickle_dumps_after(v, protocol, 0, NULL, 0, out, len);
}

int wv__pickle_dumps_after(const wv_obj_t *v, int protocol, size_t head,
                           char *scratch, size_t cap, char **out, size_t *len)
{
    dumper_t D = {.frame_start = NO_FRAME};
    uint8_t proto[2] = {0x80, 0};

    if (!v || !out || !len || protocol == 1 || protocol < 0 || protocol > 5)
        return WV_EINVAL;
    if (scratch && cap >= head) {
        D.buf = D.scratch = scratch;
        D.cap = cap;
    } else if (head > 0) {
        grow(&D, head);
        if (D.err)
            return D.err;
    }
    D.len = head;
    D.proto = protocol ? protocol : 4;
    proto[1] = (uint8_t)D.proto;
    write_raw(&D, proto, 2);
    D.framing = D.proto >= 4;
    save(&D, v, 0);
    op(&D, 0x2e); /* STOP */
    commit_frame(&D);
    if (D.memo != D.memo_small)
        wv__free(D.memo);
    if (D.err) {
        if (D.buf != D.scratch)
            wv__free(D.buf);
        return D.err;
    }
    *out = D.buf;
    *len = D.len;
    return 0;
}

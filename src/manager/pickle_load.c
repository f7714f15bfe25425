/*
 * manager/pickle_load.c - pickle.loads for untrusted bytes: a stack
 * machine over pickle's opcodes that builds inert nodes and never
 * resolves, imports or calls what a pickle names.
 *
 * The machine is CPython's (Modules/_pickle.c): a value stack, a stack of
 * MARK positions (a pop never reaches below the last mark), and a memo of
 * references by index.  What differs is what it refuses:
 *
 * No cycles.  A container (list, dict, set) or object is *open* from the
 * opcode that makes it until it leaves the stack slot it was made in or
 * a memo reference (BINGET and its kin) is taken to it
 * (wv__vnode_t.open); only an open node may be filled (APPEND(S),
 * SETITEM(S), ADDITEMS, BUILD).  So while a node is open, nothing but its
 * own stack slot and the memo refers to it: no item being added to it can
 * hold it, and a value never holds itself.  CPython's pickler fills a
 * container right after making it, before anything else refers to it;
 * it only refers back to a container it has not finished when the value
 * holds itself (x.append(x)), which this refuses.  A memo reference to a
 * finished container ([x, x]) is an ordinary shared node.
 *
 * Bounded work.  Nodes are shared (a memo reference is one more
 * reference to the same node, as in Python), so a pickle can describe a
 * tree exponentially larger than itself ("billion laughs": each level a
 * pair of references to the one before).  Each node knows its weight,
 * the size of the tree it stands for; every node made counts one item,
 * and every memo reference counts the weight of what it refers to, so
 * max_items bounds the size of the tree as a walk sees it (equal, repr,
 * a consumer's recursion), not only the nodes allocated.  Each node also
 * knows its height: max_depth bounds containers inside containers however
 * they are built (MARKs, TUPLE1 chains, memo references).  max_growth
 * bounds the bytes of payload allocated: text, integers, item arrays,
 * the memo.
 *
 * Errors: WV_EPROTO with a static sentence in loader.why, WV_ENOMEM.
 * Every node is owned by exactly one of: the stack, a container, the
 * memo (one reference per entry), a local in the middle of an opcode; the
 * loader frees the stack and memo on every exit.
 */
#include "pickle_load.h"

#include <string.h>

enum {
    OP_MARK = 0x28, /* ( */
    OP_STOP = 0x2e, /* . */
    OP_POP = 0x30,
    OP_POP_MARK = 0x31,
    OP_DUP = 0x32,
    OP_FLOAT = 0x46,
    OP_INT = 0x49,
    OP_BININT = 0x4a,
    OP_BININT1 = 0x4b,
    OP_LONG = 0x4c,
    OP_BININT2 = 0x4d,
    OP_NONE = 0x4e,
    OP_PERSID = 0x50,
    OP_BINPERSID = 0x51,
    OP_REDUCE = 0x52,
    OP_STRING = 0x53,
    OP_BINSTRING = 0x54,
    OP_SHORT_BINSTRING = 0x55,
    OP_UNICODE = 0x56,
    OP_BINUNICODE = 0x58,
    OP_APPEND = 0x61,
    OP_BUILD = 0x62,
    OP_GLOBAL = 0x63,
    OP_DICT = 0x64,
    OP_APPENDS = 0x65,
    OP_GET = 0x67,
    OP_BINGET = 0x68,
    OP_INST = 0x69,
    OP_LONG_BINGET = 0x6a,
    OP_LIST = 0x6c,
    OP_OBJ = 0x6f,
    OP_PUT = 0x70,
    OP_BINPUT = 0x71,
    OP_LONG_BINPUT = 0x72,
    OP_SETITEM = 0x73,
    OP_TUPLE = 0x74,
    OP_SETITEMS = 0x75,
    OP_BINFLOAT = 0x47,
    OP_BINBYTES = 0x42,
    OP_SHORT_BINBYTES = 0x43,
    OP_EMPTY_TUPLE = 0x29,
    OP_EMPTY_LIST = 0x5d,
    OP_EMPTY_DICT = 0x7d,
    OP_PROTO = 0x80,
    OP_NEWOBJ = 0x81,
    OP_EXT1 = 0x82,
    OP_EXT2 = 0x83,
    OP_EXT4 = 0x84,
    OP_TUPLE1 = 0x85,
    OP_TUPLE2 = 0x86,
    OP_TUPLE3 = 0x87,
    OP_NEWTRUE = 0x88,
    OP_NEWFALSE = 0x89,
    OP_LONG1 = 0x8a,
    OP_LONG4 = 0x8b,
    OP_SHORT_BINUNICODE = 0x8c,
    OP_BINUNICODE8 = 0x8d,
    OP_BINBYTES8 = 0x8e,
    OP_EMPTY_SET = 0x8f,
    OP_ADDITEMS = 0x90,
    OP_FROZENSET = 0x91,
    OP_NEWOBJ_EX = 0x92,
    OP_STACK_GLOBAL = 0x93,
    OP_MEMOIZE = 0x94,
    OP_FRAME = 0x95,
    OP_BYTEARRAY8 = 0x96,
    OP_NEXT_BUFFER = 0x97,
    OP_READONLY_BUFFER = 0x98,
};

/* STOP reached: the loop's signal, never returned to the caller. */
#define STOPPED 1

/* ---------------------------------------------------------------- input */

static int take(loader_t *L, size_t n, const uint8_t **at)
{
    if (n > (size_t)(L->end - L->p))
        return refuse(L, "truncated pickle (an opcode's argument runs "
                         "past the end)");
    *at = L->p;
    L->p += n;
    return 0;
}

static int take_le(loader_t *L, size_t n, uint64_t *out)
{
    const uint8_t *b;
    int err = take(L, n, &b);

    *out = 0;
    for (size_t i = 0; !err && i < n; i++)
        *out |= (uint64_t)b[i] << (8 * i);
    return err;
}

/* A text line (protocol 0): its bytes up to the newline, which is
 * consumed. */
static int take_line(loader_t *L, const uint8_t **line, size_t *len)
{
    const uint8_t *nl = memchr(L->p, '\n', (size_t)(L->end - L->p));

    if (!nl)
        return refuse(L, "truncated pickle (a text argument has no "
                         "newline)");
    *line = L->p;
    *len = (size_t)(nl - L->p);
    L->p = nl + 1;
    return 0;
}

/* A decimal index of a text PUT or GET. */
static int take_index_line(loader_t *L, uint64_t *idx)
{
    const uint8_t *line;
    size_t len, i;
    int err = take_line(L, &line, &len);

    if (err)
        return err;
    if (len == 0 || len > 10)
        return refuse(L, "a PUT or GET index is not a number");
    *idx = 0;
    for (i = 0; i < len; i++) {
        if (line[i] < '0' || line[i] > '9')
            return refuse(L, "a PUT or GET index is not a number");
        *idx = *idx * 10 + (line[i] - '0');
    }
    return 0;
}

/* ---------------------------------------------------------------- memo */

static int memo_put(loader_t *L, uint64_t idx)
{
    wv_obj_t *v;

    if (L->nstack == 0 || avail(L) == 0)
        return refuse(L, "a memo store with nothing on the stack");
    if (idx >= L->max_memo)
        return refuse(L, "a memo index beyond max_memo");
    if (idx >= L->capmemo) {
        size_t cap = L->capmemo;
        wv_obj_t **m;
        while (cap <= idx)
            cap *= 2;
        if (cap > L->max_memo)
            cap = L->max_memo;
        int err = charge(L, (cap - L->capmemo) * sizeof *m);
        if (err)
            return err;
        m = grow_array(L->memo, L->memo_small, L->capmemo * sizeof *m,
                       cap * sizeof *m);
        if (!m)
            return nomem(L);
        memset(m + L->capmemo, 0, (cap - L->capmemo) * sizeof *m);
        L->memo = m;
        L->capmemo = cap;
    }
    v = L->stack[L->nstack - 1];
    if (L->memo[idx])
        wv_obj_free(L->memo[idx]);
    else
        L->memo_len++;
    if (idx >= L->memo_top)
        L->memo_top = idx + 1;
    L->memo[idx] = wv_obj_ref(v);
    return 0;
}

static int memo_get(loader_t *L, uint64_t idx)
{
    wv_obj_t *v;

    if (idx >= L->capmemo || !L->memo[idx])
        return refuse(L, "a memo reference to an index never set");
    v = L->memo[idx];
    /* A second reference completes an open node (see the file comment). */
    wv__vnode(v)->open = false;
    return push_counted(L, wv_obj_ref(v), weight(v));
}

/* ------------------------------------------------------------- scalars */

static int push_int(loader_t *L, int64_t i)
{
    wv_obj_t *v = NULL;

    wv_obj_new_int(&v, i);
    return push_new(L, v);
}

static int load_long(loader_t *L, size_t lenbytes)
{
    const uint8_t *b;
    uint64_t n;
    wv_obj_t *v = NULL;
    int err = take_le(L, lenbytes, &n);

    if (err)
        return err;
    if (lenbytes == 4 && n > INT32_MAX)
        return refuse(L, "LONG4 with a negative length");
    if (n > L->max_int_bytes)
        return refuse(L, "an integer longer than max_int_bytes");
    err = take(L, (size_t)n, &b);
    if (!err)
        err = charge(L, (size_t)n);
    if (err)
        return err;
    if (wv_obj_new_bigint(&v, b, (size_t)n) != 0)
        return nomem(L);
    return push_new(L, v);
}

static int load_binfloat(loader_t *L)
{
    const uint8_t *b;
    uint64_t bits = 0;
    double f;
    wv_obj_t *v = NULL;
    int err = take(L, 8, &b);

    if (err)
        return err;
    for (int i = 0; i < 8; i++)
        bits = bits << 8 | b[i]; /* big-endian, unlike everything else */
    memcpy(&f, &bits, sizeof f);
    wv_obj_new_float(&v, f);
    return push_new(L, v);
}

/* STR, BYTES or BYTEARRAY from a length of lenbytes bytes and the data. */
static int load_data(loader_t *L, wv_objkind_t kind, size_t lenbytes)
{
    const uint8_t *b;
    uint64_t n;
    wv_obj_t *v = NULL;
    int err = take_le(L, lenbytes, &n);

    if (!err)
        err = take(L, n > SIZE_MAX ? SIZE_MAX : (size_t)n, &b);
    if (!err)
        err = charge(L, (size_t)n + 1);
    if (err)
        return err;
    if (kind == WV_OBJ_STR && !wv__utf8_valid((const char *)b, (size_t)n))
        return refuse(L, "a str that is not UTF-8");
    if (kind == WV_OBJ_STR)
        err = wv_obj_new_str(&v, (const char *)b, (size_t)n);
    else if (kind == WV_OBJ_BYTES)
        err = wv_obj_new_bytes(&v, b, (size_t)n);
    else
        err = wv_obj_new_bytearray(&v, b, (size_t)n);
    return err ? nomem(L) : push_new(L, v);
}

/* --------------------------------------------------------------- globals */

/* Python 2's module names that CPython's fix_imports maps for protocols
 * below 3, for the classes a manager meets. */
static const char *fix_module(const loader_t *L, const char *module)
{
    static const char *const map[][2] = {
        {"__builtin__", "builtins"},
        {"exceptions", "builtins"},
        {"copy_reg", "copyreg"},
        {"Queue", "queue"},
    };

    if (L->proto >= 3)
        return module;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(module, map[i][0]) == 0)
            return map[i][1];
    return module;
}

/* A module or name: text without NUL (names are C strings) or newline
 * (a GLOBAL line could not carry it: no Python name has one). */
static bool name_ok(const uint8_t *s, size_t len)
{
    return len > 0 && !memchr(s, '\0', len) && !memchr(s, '\n', len) &&
           wv__utf8_valid((const char *)s, len);
}

static int push_global(loader_t *L, const uint8_t *module, size_t mlen,
                       const uint8_t *name, size_t nlen)
{
    char *m, *n;
    wv_obj_t *v = NULL;
    int err;

    if (!name_ok(module, mlen) || !name_ok(name, nlen))
        return refuse(L, "a global whose module or name is empty, holds a "
                         "NUL or newline, or is not UTF-8");
    err = charge(L, mlen + nlen + 2);
    if (err)
        return err;
    m = wv__malloc(mlen + 1);
    n = wv__malloc(nlen + 1);
    if (m && n) {
        memcpy(m, module, mlen);
        m[mlen] = '\0';
        memcpy(n, name, nlen);
        n[nlen] = '\0';
        err = wv_obj_new_global(&v, fix_module(L, m), n);
    }
    wv__free(m);
    wv__free(n);
    if (!m || !n || err)
        return nomem(L); /* new_global's EINVAL cannot happen: checked */
    return push_new(L, v);
}

static int load_global(loader_t *L)
{
    const uint8_t *module, *name;
    size_t mlen, nlen;
    int err = take_line(L, &module, &mlen);

    if (!err)
        err = take_line(L, &name, &nlen);
    return err ? err : push_global(L, module, mlen, name, nlen);
}

static int load_stack_global(loader_t *L)
{
    wv_obj_t *name, *module;
    int err = need(L, 2);

    if (err)
        return err;
    name = L->stack[L->nstack - 1];
    module = L->stack[L->nstack - 2];
    if (name->kind != WV_OBJ_STR || module->kind != WV_OBJ_STR)
        return refuse(L, "STACK_GLOBAL of something other than two str");
    err = push_global(L, (const uint8_t *)module->u.s.data, module->u.s.len,
                      (const uint8_t *)name->u.s.data, name->u.s.len);
    if (err)
        return err;
    /* The global is on top: drop the two names under it. */
    wv_obj_free(name);
    wv_obj_free(module);
    L->stack[L->nstack - 3] = L->stack[L->nstack - 1];
    L->nstack -= 2;
    return 0;
}

/* ----------------------------------------------------------- the machine */

static int load_mark(loader_t *L)
{
    if (L->nmarks > L->max_depth)
        return refuse(L, "MARKs nested deeper than max_depth");
    if (L->nmarks == L->capmarks) {
        size_t cap = 2 * L->capmarks;
        size_t *m = grow_array(L->marks, L->marks_small,
                               L->capmarks * sizeof *m, cap * sizeof *m);
        if (!m)
            return nomem(L);
        L->marks = m;
        L->capmarks = cap;
    }
    L->marks[L->nmarks++] = L->nstack;
    return 0;
}

static int load_pop(loader_t *L, bool to_mark)
{
    size_t base;
    int err;

    if (!to_mark && avail(L) > 0) {
        wv_obj_free(pop(L));
        return 0;
    }
    if (!to_mark && L->nmarks) { /* as CPython: POP at a mark drops it */
        L->nmarks--;
        return 0;
    }
    err = pop_mark(L, &base);
    if (err)
        return err;
    while (L->nstack > base)
        wv_obj_free(pop(L));
    return 0;
}

static int load_frame(loader_t *L)
{
    uint64_t n;
    size_t at = (size_t)(L->p - L->start) - 1;
    int err;

    if (at < L->frame_end)
        return refuse(L, "a FRAME inside the previous frame");
    err = take_le(L, 8, &n);
    if (err)
        return err;
    if (n > (size_t)(L->end - L->p))
        return refuse(L, "a FRAME longer than the rest of the pickle");
    L->frame_end = (size_t)(L->p - L->start) + (size_t)n;
    return 0;
}

static int load_proto(loader_t *L)
{
    const uint8_t *b;
    int err = take(L, 1, &b);

    if (err)
        return err;
    if (b[0] > 5)
        return refuse(L, "a pickle protocol above 5");
    L->proto = b[0];
    return 0;
}

static int load_stop(loader_t *L)
{
    if (L->nmarks || L->nstack != 1)
        return refuse(L, "STOP with other than one value on the stack, or "
                         "with a MARK open");
    return STOPPED;
}

/* Opcodes that need an argument read as an unsigned little-endian int. */
static int with_le(loader_t *L, uint8_t op)
{
    uint64_t x;
    int err;

    switch (op) {
    case OP_BININT1:
        err = take_le(L, 1, &x);
        return err ? err : push_int(L, (int64_t)x);
    case OP_BININT2:
        err = take_le(L, 2, &x);
        return err ? err : push_int(L, (int64_t)x);
    case OP_BININT:
        err = take_le(L, 4, &x);
        return err ? err : push_int(L, (int32_t)(uint32_t)x);
    case OP_BINPUT:
        err = take_le(L, 1, &x);
        return err ? err : memo_put(L, x);
    case OP_LONG_BINPUT:
        err = take_le(L, 4, &x);
        return err ? err : memo_put(L, x);
    case OP_BINGET:
        err = take_le(L, 1, &x);
        return err ? err : memo_get(L, x);
    case OP_LONG_BINGET:
        err = take_le(L, 4, &x);
        return err ? err : memo_get(L, x);
    case OP_PUT:
        err = take_index_line(L, &x);
        return err ? err : memo_put(L, x);
    default: /* OP_GET */
        err = take_index_line(L, &x);
        return err ? err : memo_get(L, x);
    }
}

/*
 * One opcode.  A dispatch switch over pickle's whole opcode table, so
 * longer than a function should be: each case is a call.
 */
static int step(loader_t *L, uint8_t op)
{
    switch (op) {
    case OP_PROTO:
        return load_proto(L);
    case OP_FRAME:
        return load_frame(L);
    case OP_STOP:
        return load_stop(L);
    case OP_MARK:
        return load_mark(L);
    case OP_POP:
        return load_pop(L, false);
    case OP_POP_MARK:
        return load_pop(L, true);
    case OP_NONE:
        return push_new(L, wv__value_alloc(WV_OBJ_NONE));
    case OP_NEWTRUE:
    case OP_NEWFALSE: {
        wv_obj_t *v = NULL;
        wv_obj_new_bool(&v, op == OP_NEWTRUE);
        return push_new(L, v);
    }
    case OP_BININT1:
    case OP_BININT2:
    case OP_BININT:
    case OP_BINPUT:
    case OP_LONG_BINPUT:
    case OP_BINGET:
    case OP_LONG_BINGET:
    case OP_PUT:
    case OP_GET:
        return with_le(L, op);
    case OP_MEMOIZE:
        return memo_put(L, L->memo_len);
    case OP_LONG1:
        return load_long(L, 1);
    case OP_LONG4:
        return load_long(L, 4);
    case OP_BINFLOAT:
        return load_binfloat(L);
    case OP_SHORT_BINUNICODE:
        return load_data(L, WV_OBJ_STR, 1);
    case OP_BINUNICODE:
        return load_data(L, WV_OBJ_STR, 4);
    case OP_BINUNICODE8:
        return load_data(L, WV_OBJ_STR, 8);
    case OP_SHORT_BINBYTES:
        return load_data(L, WV_OBJ_BYTES, 1);
    case OP_BINBYTES:
        return load_data(L, WV_OBJ_BYTES, 4);
    case OP_BINBYTES8:
        return load_data(L, WV_OBJ_BYTES, 8);
    case OP_BYTEARRAY8:
        return load_data(L, WV_OBJ_BYTEARRAY, 8);
    case OP_EMPTY_TUPLE:
        return wv__pickle_empty(L, WV_OBJ_TUPLE);
    case OP_EMPTY_LIST:
        return wv__pickle_empty(L, WV_OBJ_LIST);
    case OP_EMPTY_DICT:
        return wv__pickle_empty(L, WV_OBJ_DICT);
    case OP_EMPTY_SET:
        return wv__pickle_empty(L, WV_OBJ_SET);
    case OP_TUPLE1:
    case OP_TUPLE2:
    case OP_TUPLE3:
        return wv__pickle_tuple_n(L, (size_t)(op - OP_TUPLE1 + 1));
    case OP_TUPLE:
        return wv__pickle_marked(L, WV_OBJ_TUPLE);
    case OP_LIST:
        return wv__pickle_marked(L, WV_OBJ_LIST);
    case OP_FROZENSET:
        return wv__pickle_marked(L, WV_OBJ_FROZENSET);
    case OP_DICT:
        return wv__pickle_dict(L);
    case OP_APPEND:
        return wv__pickle_extend_top(L, WV_OBJ_LIST, 1);
    case OP_APPENDS:
        return wv__pickle_extend_marked(L, WV_OBJ_LIST);
    case OP_SETITEM:
        return wv__pickle_extend_top(L, WV_OBJ_DICT, 2);
    case OP_SETITEMS:
        return wv__pickle_extend_marked(L, WV_OBJ_DICT);
    case OP_ADDITEMS:
        return wv__pickle_extend_marked(L, WV_OBJ_SET);
    case OP_GLOBAL:
        return load_global(L);
    case OP_STACK_GLOBAL:
        return load_stack_global(L);
    case OP_REDUCE:
        return wv__pickle_call(L, false);
    case OP_NEWOBJ:
        return wv__pickle_call(L, true);
    case OP_BUILD:
        return wv__pickle_build(L);
    case OP_PERSID:
    case OP_BINPERSID:
    case OP_INST:
    case OP_OBJ:
    case OP_EXT1:
    case OP_EXT2:
    case OP_EXT4:
    case OP_NEWOBJ_EX:
    case OP_NEXT_BUFFER:
    case OP_READONLY_BUFFER:
    case OP_DUP:
        return refuse(L, "an opcode that is never plain data (PERSID, INST, "
                         "OBJ, EXT, NEWOBJ_EX, buffers, DUP)");
    case OP_INT:
    case OP_LONG:
    case OP_FLOAT:
    case OP_STRING:
    case OP_BINSTRING:
    case OP_SHORT_BINSTRING:
    case OP_UNICODE:
        return refuse(L, "a protocol 0 text opcode (or Python 2 str), "
                         "which Python 3 does not write");
    default:
        return refuse(L, "an unknown opcode");
    }
}

static void resolve_limits(loader_t *L, const wv_pickle_limits_t *lim,
                           size_t len)
{
    wv_pickle_limits_t z = {0};
    size_t growth;

    if (!lim)
        lim = &z;
    L->max_depth = lim->max_depth ? lim->max_depth : 200;
    if (L->max_depth > UINT32_MAX - 1)
        L->max_depth = UINT32_MAX - 1;
    L->max_items = lim->max_items ? lim->max_items : (size_t)1 << 20;
    L->max_memo = lim->max_memo ? lim->max_memo : (size_t)1 << 20;
    L->max_int_bytes = lim->max_int_bytes ? lim->max_int_bytes : 4096;
    growth = lim->max_growth ? lim->max_growth : 16;
    L->max_bytes = len > SIZE_MAX / growth ? SIZE_MAX : len * growth;
    L->max_bytes = sat_add(L->max_bytes, 64 * 1024);
}

static void loader_free(loader_t *L)
{
    size_t i;

    for (i = 0; i < L->nstack; i++)
        wv_obj_free(L->stack[i]);
    for (i = 0; i < L->memo_top; i++)
        wv_obj_free(L->memo[i]);
    if (L->stack != L->stack_small)
        wv__free(L->stack);
    if (L->marks != L->marks_small)
        wv__free(L->marks);
    if (L->memo != L->memo_small)
        wv__free(L->memo);
}

int wv_pickle_loads(wv_obj_t **out, const void *data, size_t len,
                    const wv_pickle_limits_t *limits, const char **why)
{
    loader_t L = {0};
    int err = 0;

    if (why)
        *why = NULL;
    if (!out || (!data && len > 0))
        return WV_EINVAL;
    L.stack = L.stack_small;
    L.capstack = sizeof L.stack_small / sizeof *L.stack_small;
    L.marks = L.marks_small;
    L.capmarks = sizeof L.marks_small / sizeof *L.marks_small;
    L.memo = L.memo_small;
    L.capmemo = sizeof L.memo_small / sizeof *L.memo_small;
    L.start = L.p = data ? data : (const uint8_t *)"";
    L.end = L.p + len;
    resolve_limits(&L, limits, len);
    while (!err) {
        if (L.p == L.end)
            err = refuse(&L, "truncated pickle (no STOP opcode)");
        else
            err = step(&L, *L.p++);
    }
    if (err == STOPPED) {
        *out = pop(&L);
        err = 0;
    }
    loader_free(&L);
    if (err && why)
        *why = L.why;
    return err;
}

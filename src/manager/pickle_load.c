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
#include "internal.h"

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

/* What one item slot of a container costs, for max_growth: the pointer
 * and its share of a dict's or set's index and of spare room. */
#define SLOT_COST 16

/* STOP reached: the loop's signal, never returned to the caller. */
#define STOPPED 1

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
    wv_value_t **stack;
    size_t nstack, capstack;
    size_t *marks;
    size_t nmarks, capmarks;
    wv_value_t **memo; /* NULL where unset */
    size_t capmemo;
    size_t memo_len; /* entries set: MEMOIZE's next index */
    const char *why;
} loader_t;

static int refuse(loader_t *L, const char *why)
{
    L->why = why;
    return WV_EPROTO;
}

static int nomem(loader_t *L)
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

static size_t sat_add(size_t a, size_t b)
{
    return a > COUNT_MAX - b || b > COUNT_MAX ? COUNT_MAX : a + b;
}

static size_t weight(const wv_value_t *v)
{
    return wv__vnode(v)->aux;
}

static uint32_t height(const wv_value_t *v)
{
    return wv__vnode(v)->height;
}

/* Payload about to be allocated. */
static int charge(loader_t *L, size_t bytes)
{
    L->bytes = sat_add(L->bytes, bytes);
    if (L->bytes > L->max_bytes)
        return refuse(L, "the value would take more memory than max_growth "
                         "allows for a pickle this long");
    return 0;
}

/* parent gained child: its weight and height follow. */
static int adopt(loader_t *L, wv_value_t *parent, const wv_value_t *child)
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
static size_t avail(const loader_t *L)
{
    return L->nstack - (L->nmarks ? L->marks[L->nmarks - 1] : 0);
}

/*
 * Pushes v (a reference the stack takes over, on failure too), counting
 * `count` items: 1 for a node just made, its weight for a reference to a
 * node made before.
 */
static int push_counted(loader_t *L, wv_value_t *v, size_t count)
{
    L->items = sat_add(L->items, count);
    if (L->items > L->max_items) {
        wv_value_free(v);
        return refuse(L, "more values than max_items (counting every "
                         "reference to a shared one)");
    }
    if (L->nstack == L->capstack) {
        size_t cap = L->capstack ? 2 * L->capstack : 64;
        wv_value_t **s = wv__realloc(L->stack, cap * sizeof *s);
        if (!s) {
            wv_value_free(v);
            return nomem(L);
        }
        L->stack = s;
        L->capstack = cap;
    }
    L->stack[L->nstack++] = v;
    return 0;
}

/* Pushes a node just made (NULL: it could not be made). */
static int push_new(loader_t *L, wv_value_t *v)
{
    if (!v)
        return nomem(L);
    wv__vnode(v)->aux = 1;
    return push_counted(L, v, 1);
}

/* Takes the top of the stack; it has left its slot, so it is closed. */
static wv_value_t *pop(loader_t *L)
{
    wv_value_t *v = L->stack[--L->nstack];

    wv__vnode(v)->open = false;
    return v;
}

static int need(loader_t *L, size_t n)
{
    if (avail(L) < n)
        return refuse(L, "stack underflow (an opcode needs more values "
                         "than there are after the last MARK)");
    return 0;
}

/* Drops the last mark, giving the stack position it held. */
static int pop_mark(loader_t *L, size_t *base)
{
    if (L->nmarks == 0)
        return refuse(L, "an opcode needs a MARK and there is none");
    *base = L->marks[--L->nmarks];
    return 0;
}

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
    wv_value_t *v;

    if (L->nstack == 0 || avail(L) == 0)
        return refuse(L, "a memo store with nothing on the stack");
    if (idx >= L->max_memo)
        return refuse(L, "a memo index beyond max_memo");
    if (idx >= L->capmemo) {
        size_t cap = L->capmemo ? L->capmemo : 64;
        wv_value_t **m;
        while (cap <= idx)
            cap *= 2;
        if (cap > L->max_memo)
            cap = L->max_memo;
        int err = charge(L, (cap - L->capmemo) * sizeof *m);
        if (err)
            return err;
        m = wv__realloc(L->memo, cap * sizeof *m);
        if (!m)
            return nomem(L);
        memset(m + L->capmemo, 0, (cap - L->capmemo) * sizeof *m);
        L->memo = m;
        L->capmemo = cap;
    }
    v = L->stack[L->nstack - 1];
    if (L->memo[idx])
        wv_value_free(L->memo[idx]);
    else
        L->memo_len++;
    L->memo[idx] = wv_value_ref(v);
    return 0;
}

static int memo_get(loader_t *L, uint64_t idx)
{
    wv_value_t *v;

    if (idx >= L->capmemo || !L->memo[idx])
        return refuse(L, "a memo reference to an index never set");
    v = L->memo[idx];
    /* A second reference completes an open node (see the file comment). */
    wv__vnode(v)->open = false;
    return push_counted(L, wv_value_ref(v), weight(v));
}

/* ------------------------------------------------------------- scalars */

static int push_int(loader_t *L, int64_t i)
{
    wv_value_t *v = NULL;

    wv_value_new_int(&v, i);
    return push_new(L, v);
}

static int load_long(loader_t *L, size_t lenbytes)
{
    const uint8_t *b;
    uint64_t n;
    wv_value_t *v = NULL;
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
    if (wv_value_new_bigint(&v, b, (size_t)n) != 0)
        return nomem(L);
    return push_new(L, v);
}

static int load_binfloat(loader_t *L)
{
    const uint8_t *b;
    uint64_t bits = 0;
    double f;
    wv_value_t *v = NULL;
    int err = take(L, 8, &b);

    if (err)
        return err;
    for (int i = 0; i < 8; i++)
        bits = bits << 8 | b[i]; /* big-endian, unlike everything else */
    memcpy(&f, &bits, sizeof f);
    wv_value_new_float(&v, f);
    return push_new(L, v);
}

/* STR, BYTES or BYTEARRAY from a length of lenbytes bytes and the data. */
static int load_data(loader_t *L, wv_vkind_t kind, size_t lenbytes)
{
    const uint8_t *b;
    uint64_t n;
    wv_value_t *v = NULL;
    int err = take_le(L, lenbytes, &n);

    if (!err)
        err = take(L, n > SIZE_MAX ? SIZE_MAX : (size_t)n, &b);
    if (!err)
        err = charge(L, (size_t)n + 1);
    if (err)
        return err;
    if (kind == WV_VALUE_STR && !wv__utf8_valid((const char *)b, (size_t)n))
        return refuse(L, "a str that is not UTF-8");
    if (kind == WV_VALUE_STR)
        err = wv_value_new_str(&v, (const char *)b, (size_t)n);
    else if (kind == WV_VALUE_BYTES)
        err = wv_value_new_bytes(&v, b, (size_t)n);
    else
        err = wv_value_new_bytearray(&v, b, (size_t)n);
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

static bool name_ok(const uint8_t *s, size_t len)
{
    return len > 0 && !memchr(s, '\0', len) &&
           wv__utf8_valid((const char *)s, len);
}

static int push_global(loader_t *L, const uint8_t *module, size_t mlen,
                       const uint8_t *name, size_t nlen)
{
    char *m, *n;
    wv_value_t *v = NULL;
    int err;

    if (!name_ok(module, mlen) || !name_ok(name, nlen))
        return refuse(L, "a global whose module or name is empty, holds a "
                         "NUL or is not UTF-8");
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
        err = wv_value_new_global(&v, fix_module(L, m), n);
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
    wv_value_t *name, *module;
    int err = need(L, 2);

    if (err)
        return err;
    name = L->stack[L->nstack - 1];
    module = L->stack[L->nstack - 2];
    if (name->kind != WV_VALUE_STR || module->kind != WV_VALUE_STR)
        return refuse(L, "STACK_GLOBAL of something other than two str");
    err = push_global(L, (const uint8_t *)module->u.s.data, module->u.s.len,
                      (const uint8_t *)name->u.s.data, name->u.s.len);
    if (err)
        return err;
    /* The global is on top: drop the two names under it. */
    wv_value_free(name);
    wv_value_free(module);
    L->stack[L->nstack - 3] = L->stack[L->nstack - 1];
    L->nstack -= 2;
    return 0;
}

/* ------------------------------------------------------------ containers */

/*
 * A new container of kind holding stack[base..nstack), which it takes;
 * the container replaces them on the stack.  Set items must be
 * hashable; duplicates in a set are dropped (the last one kept, in the
 * first one's place).
 */
static int collect(loader_t *L, wv_vkind_t kind, size_t base)
{
    size_t n = L->nstack - base, i;
    wv_value_t *c = wv__value_alloc(kind);
    int err = 0;

    if (!c)
        return nomem(L);
    wv__vnode(c)->aux = 1;
    wv__vnode(c)->height = 1;
    for (i = base; i < L->nstack && !err; i++) {
        if ((kind == WV_VALUE_SET || kind == WV_VALUE_FROZENSET) &&
            !wv_value_is_hashable(L->stack[i]))
            err = refuse(L, "an unhashable set item");
        else
            err = adopt(L, c, L->stack[i]);
    }
    if (!err)
        err = charge(L, n * SLOT_COST);
    if (!err && n && wv__value_reserve(c, n) != 0)
        err = nomem(L);
    if (err) {
        wv_value_free(c);
        return err;
    }
    for (i = base; i < L->nstack; i++) {
        wv_value_t *item = L->stack[i];
        wv__vnode(item)->open = false;
        if (kind == WV_VALUE_SET || kind == WV_VALUE_FROZENSET)
            wv__value_set_add(c, item);
        else
            wv__value_push(c, item);
    }
    L->nstack = base;
    wv__vnode(c)->open = kind != WV_VALUE_TUPLE && kind != WV_VALUE_FROZENSET;
    /* Counted as one new node: its items were counted when pushed. */
    return push_counted(L, c, 1);
}

static int load_tuple_n(loader_t *L, size_t n)
{
    int err = need(L, n);

    return err ? err : collect(L, WV_VALUE_TUPLE, L->nstack - n);
}

static int load_marked(loader_t *L, wv_vkind_t kind)
{
    size_t base;
    int err = pop_mark(L, &base);

    return err ? err : collect(L, kind, base);
}

static int push_empty(loader_t *L, wv_vkind_t kind)
{
    wv_value_t *v = wv__value_alloc(kind);
    int err = push_new(L, v);

    if (!err) {
        wv__vnode(v)->height = 1;
        wv__vnode(v)->open =
            kind != WV_VALUE_TUPLE && kind != WV_VALUE_FROZENSET;
    }
    return err;
}

/* The container that stack[base..nstack) are to be added to:
 * stack[base - 1], an open node of kind. */
static int target(loader_t *L, size_t base, wv_vkind_t kind, wv_value_t **t)
{
    if (base == 0 || (L->nmarks && base - 1 < L->marks[L->nmarks - 1]))
        return refuse(L, "an opcode that adds items has no container "
                         "under them");
    *t = L->stack[base - 1];
    if ((*t)->kind != kind)
        return refuse(L, "items added to a container of the wrong kind "
                         "(APPEND to no list, SETITEM to no dict, ADDITEMS "
                         "to no set)");
    if (!wv__vnode(*t)->open)
        return refuse(L, "items added to a container already complete "
                         "or referred to (a value holding itself, or "
                         "refilled: refused)");
    return 0;
}

/*
 * Adds stack[base..nstack) to stack[base - 1], a LIST, DICT (pairs) or
 * SET, and pops them.
 */
static int extend(loader_t *L, size_t base, wv_vkind_t kind)
{
    size_t n = L->nstack - base, i;
    wv_value_t *t;
    int err = target(L, base, kind, &t);

    if (err)
        return err;
    if (kind == WV_VALUE_DICT && n % 2)
        return refuse(L, "SETITEMS with a key and no value");
    for (i = base; i < L->nstack; i++) {
        bool key = kind == WV_VALUE_SET ||
                   (kind == WV_VALUE_DICT && (i - base) % 2 == 0);
        if (key && !wv_value_is_hashable(L->stack[i]))
            return refuse(L, "an unhashable dict key or set item");
        err = adopt(L, t, L->stack[i]);
        if (err)
            return err;
    }
    err = charge(L, n * SLOT_COST);
    if (err)
        return err;
    if (n && wv__value_reserve(t, kind == WV_VALUE_DICT ? n / 2 : n) != 0)
        return nomem(L);
    for (i = base; i < L->nstack; i++)
        wv__vnode(L->stack[i])->open = false;
    for (i = base; i < L->nstack; i += kind == WV_VALUE_DICT ? 2 : 1) {
        if (kind == WV_VALUE_LIST)
            wv__value_push(t, L->stack[i]);
        else if (kind == WV_VALUE_SET)
            wv__value_set_add(t, L->stack[i]);
        else
            wv__value_dict_put(t, L->stack[i], L->stack[i + 1]);
    }
    L->nstack = base;
    return 0;
}

static int extend_marked(loader_t *L, wv_vkind_t kind)
{
    size_t base;
    int err = pop_mark(L, &base);

    return err ? err : extend(L, base, kind);
}

/* DICT (protocol 0 and 1): a new dict of the pairs after the mark. */
static int load_dict(loader_t *L)
{
    size_t base;
    wv_value_t *dict;
    int err = pop_mark(L, &base);

    if (!err)
        err = push_empty(L, WV_VALUE_DICT);
    if (err)
        return err;
    dict = L->stack[L->nstack - 1];
    memmove(L->stack + base + 1, L->stack + base,
            (L->nstack - 1 - base) * sizeof *L->stack);
    L->stack[base] = dict;
    return extend(L, base + 1, WV_VALUE_DICT);
}

static int extend_top(loader_t *L, wv_vkind_t kind, size_t n)
{
    int err = need(L, n + 1);

    return err ? err : extend(L, L->nstack - n, kind);
}

/* --------------------------------------------------------------- objects */

static bool is_str(const wv_value_t *v, const char *s)
{
    return v->kind == WV_VALUE_STR && strlen(s) == v->u.s.len &&
           memcmp(v->u.s.data, s, v->u.s.len) == 0;
}

/*
 * str's code points as bytes, if all are below 256 (str.encode('latin1')):
 * a new BYTES or BYTEARRAY, or NULL with *err 0 when some is not.
 */
static wv_value_t *latin1(loader_t *L, const wv_value_t *s, wv_vkind_t kind,
                          int *err)
{
    const uint8_t *p = (const uint8_t *)s->u.s.data;
    size_t i, n = 0;
    wv_value_t *v = NULL;
    char *buf;

    *err = 0;
    for (i = 0; i < s->u.s.len; i++, n++) {
        if (p[i] >= 0xC4)
            return NULL;
        if (p[i] >= 0xC2)
            i++; /* a valid two-byte sequence: U+0080..U+00FF */
    }
    buf = wv__malloc(n ? n : 1);
    if (!buf) {
        *err = nomem(L);
        return NULL;
    }
    for (i = 0, n = 0; i < s->u.s.len; i++) {
        if (p[i] < 0x80) {
            buf[n++] = (char)p[i];
        } else {
            buf[n++] = (char)((p[i] & 0x03) << 6 | (p[i + 1] & 0x3F));
            i++;
        }
    }
    if ((kind == WV_VALUE_BYTES ? wv_value_new_bytes(&v, buf, n)
                                : wv_value_new_bytearray(&v, buf, n)) != 0)
        *err = nomem(L);
    wv__free(buf);
    return v;
}

/* A new set or frozenset of the items of a list or tuple. */
static wv_value_t *set_of(loader_t *L, const wv_value_t *from, wv_vkind_t kind,
                          int *err)
{
    wv_value_t *set = wv__value_alloc(kind);
    size_t i, n = from->u.seq.len;

    *err = 0;
    if (!set) {
        *err = nomem(L);
        return NULL;
    }
    wv__vnode(set)->aux = 1;
    wv__vnode(set)->height = 1;
    for (i = 0; i < n && !*err; i++) {
        if (!wv_value_is_hashable(from->u.seq.items[i]))
            *err = refuse(L, "an unhashable set item");
        else
            *err = adopt(L, set, from->u.seq.items[i]);
    }
    if (!*err && n && wv__value_reserve(set, n) != 0)
        *err = nomem(L);
    if (*err) {
        wv_value_free(set);
        return NULL;
    }
    for (i = 0; i < n; i++)
        wv__value_set_add(set, wv_value_ref(from->u.seq.items[i]));
    return set;
}

/*
 * The four constructors of plain data, read as the data they make:
 * bytearray() / bytearray(bytes) / bytearray(str, 'latin-1'), bytes(),
 * set(list), frozenset(list) and _codecs.encode(str, 'latin1').  Returns
 * the node, or NULL (with *err 0) when cls(args) is no such call.
 */
static wv_value_t *data_call(loader_t *L, const wv_value_t *cls,
                             const wv_value_t *args, int *err)
{
    size_t n = args->u.seq.len;
    wv_value_t *const *a = args->u.seq.items;
    wv_value_t *v = NULL;
    bool latin = n == 2 && a[0]->kind == WV_VALUE_STR &&
                 (is_str(a[1], "latin1") || is_str(a[1], "latin-1"));

    *err = 0;
    if (cls->kind != WV_VALUE_GLOBAL)
        return NULL;
    if (wv_value_is_global(cls, "builtins", "bytearray")) {
        if (n == 0 || (n == 1 && a[0]->kind == WV_VALUE_BYTES)) {
            if (wv_value_new_bytearray(&v, n ? a[0]->u.s.data : NULL,
                                       n ? a[0]->u.s.len : 0) != 0)
                *err = nomem(L);
            return v;
        }
        return latin ? latin1(L, a[0], WV_VALUE_BYTEARRAY, err) : NULL;
    }
    if (wv_value_is_global(cls, "builtins", "bytes") && n == 0) {
        if (wv_value_new_bytes(&v, NULL, 0) != 0)
            *err = nomem(L);
        return v;
    }
    if (wv_value_is_global(cls, "_codecs", "encode"))
        return latin ? latin1(L, a[0], WV_VALUE_BYTES, err) : NULL;
    if (wv_value_is_global(cls, "builtins", "set") ||
        wv_value_is_global(cls, "builtins", "frozenset")) {
        wv_vkind_t kind = strcmp(cls->u.global.name, "set") == 0
                              ? WV_VALUE_SET
                              : WV_VALUE_FROZENSET;
        static const wv_value_t none = {.kind = WV_VALUE_TUPLE};
        if (n == 0)
            return set_of(L, &none, kind, err);
        if (n == 1 &&
            (a[0]->kind == WV_VALUE_LIST || a[0]->kind == WV_VALUE_TUPLE))
            return set_of(L, a[0], kind, err);
    }
    return NULL;
}

/* REDUCE (newobj false) and NEWOBJ: cls(*args) as data or an OBJECT. */
static int load_call(loader_t *L, bool newobj)
{
    wv_value_t *args, *cls, *v = NULL;
    int err = need(L, 2);

    if (err)
        return err;
    args = L->stack[L->nstack - 1];
    cls = L->stack[L->nstack - 2];
    if (args->kind != WV_VALUE_TUPLE)
        return refuse(L, "REDUCE or NEWOBJ with arguments that are no tuple");
    if (cls->kind != WV_VALUE_GLOBAL && cls->kind != WV_VALUE_OBJECT)
        return refuse(L, "REDUCE or NEWOBJ of something that is no global "
                         "or object");
    if (!newobj) {
        v = data_call(L, cls, args, &err);
        if (err)
            return err;
        if (v && v->kind != WV_VALUE_SET && v->kind != WV_VALUE_FROZENSET) {
            err = charge(L, v->u.s.len + 1);
            if (err) {
                wv_value_free(v);
                return err;
            }
        }
    }
    if (!v) {
        v = wv__value_alloc(WV_VALUE_OBJECT);
        if (!v)
            return nomem(L);
        wv__vnode(v)->aux = 1;
        wv__vnode(v)->height = 1;
        err = adopt(L, v, cls);
        if (!err)
            err = adopt(L, v, args);
        if (err) {
            wv_value_free(v);
            return err;
        }
        v->u.obj.args = pop(L);
        v->u.obj.cls = pop(L);
        v->u.obj.newobj = newobj;
    } else {
        wv_value_free(pop(L));
        wv_value_free(pop(L));
    }
    if (!wv__vnode(v)->aux)
        wv__vnode(v)->aux = 1;
    wv__vnode(v)->open = v->kind == WV_VALUE_OBJECT || v->kind == WV_VALUE_SET;
    return push_counted(L, v, 1);
}

static int load_build(loader_t *L)
{
    wv_value_t *obj, *state;
    int err = need(L, 2);

    if (err)
        return err;
    obj = L->stack[L->nstack - 2];
    if (obj->kind != WV_VALUE_OBJECT)
        return refuse(L, "BUILD of something that is no object");
    if (!wv__vnode(obj)->open || obj->u.obj.state)
        return refuse(L, "BUILD of an object already complete or referred "
                         "to (its state holding it, or a second state)");
    err = adopt(L, obj, L->stack[L->nstack - 1]);
    if (err)
        return err;
    state = pop(L);
    obj->u.obj.state = state;
    return 0;
}

/* ----------------------------------------------------------- the machine */

static int load_mark(loader_t *L)
{
    if (L->nmarks > L->max_depth)
        return refuse(L, "MARKs nested deeper than max_depth");
    if (L->nmarks == L->capmarks) {
        size_t cap = L->capmarks ? 2 * L->capmarks : 16;
        size_t *m = wv__realloc(L->marks, cap * sizeof *m);
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
        wv_value_free(pop(L));
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
        wv_value_free(pop(L));
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
        return push_new(L, wv__value_alloc(WV_VALUE_NONE));
    case OP_NEWTRUE:
    case OP_NEWFALSE: {
        wv_value_t *v = NULL;
        wv_value_new_bool(&v, op == OP_NEWTRUE);
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
        return load_data(L, WV_VALUE_STR, 1);
    case OP_BINUNICODE:
        return load_data(L, WV_VALUE_STR, 4);
    case OP_BINUNICODE8:
        return load_data(L, WV_VALUE_STR, 8);
    case OP_SHORT_BINBYTES:
        return load_data(L, WV_VALUE_BYTES, 1);
    case OP_BINBYTES:
        return load_data(L, WV_VALUE_BYTES, 4);
    case OP_BINBYTES8:
        return load_data(L, WV_VALUE_BYTES, 8);
    case OP_BYTEARRAY8:
        return load_data(L, WV_VALUE_BYTEARRAY, 8);
    case OP_EMPTY_TUPLE:
        return push_empty(L, WV_VALUE_TUPLE);
    case OP_EMPTY_LIST:
        return push_empty(L, WV_VALUE_LIST);
    case OP_EMPTY_DICT:
        return push_empty(L, WV_VALUE_DICT);
    case OP_EMPTY_SET:
        return push_empty(L, WV_VALUE_SET);
    case OP_TUPLE1:
    case OP_TUPLE2:
    case OP_TUPLE3:
        return load_tuple_n(L, (size_t)(op - OP_TUPLE1 + 1));
    case OP_TUPLE:
        return load_marked(L, WV_VALUE_TUPLE);
    case OP_LIST:
        return load_marked(L, WV_VALUE_LIST);
    case OP_FROZENSET:
        return load_marked(L, WV_VALUE_FROZENSET);
    case OP_DICT:
        return load_dict(L);
    case OP_APPEND:
        return extend_top(L, WV_VALUE_LIST, 1);
    case OP_APPENDS:
        return extend_marked(L, WV_VALUE_LIST);
    case OP_SETITEM:
        return extend_top(L, WV_VALUE_DICT, 2);
    case OP_SETITEMS:
        return extend_marked(L, WV_VALUE_DICT);
    case OP_ADDITEMS:
        return extend_marked(L, WV_VALUE_SET);
    case OP_GLOBAL:
        return load_global(L);
    case OP_STACK_GLOBAL:
        return load_stack_global(L);
    case OP_REDUCE:
        return load_call(L, false);
    case OP_NEWOBJ:
        return load_call(L, true);
    case OP_BUILD:
        return load_build(L);
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
        wv_value_free(L->stack[i]);
    for (i = 0; i < L->capmemo; i++)
        wv_value_free(L->memo[i]);
    wv__free(L->stack);
    wv__free(L->marks);
    wv__free(L->memo);
}

int wv_pickle_loads(wv_value_t **out, const void *data, size_t len,
                    const wv_pickle_limits_t *limits, const char **why)
{
    loader_t L = {0};
    int err = 0;

    if (why)
        *why = NULL;
    if (!out || (!data && len > 0))
        return WV_EINVAL;
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

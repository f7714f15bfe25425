/*
 * manager/pickle_build.c - the decoder's opcodes that build containers
 * and objects from the stack (pickle_load.h): tuples, lists, dicts, sets
 * and their filling, REDUCE, NEWOBJ and BUILD, and the few calls of plain
 * data constructors that are read as the data they make.  Every item
 * added is closed (it left its slot) and counted into its container's
 * weight and height (adopt) before anything is changed, so a refusal
 * leaves the stack as it was.
 */
#include "pickle_load.h"

#include <string.h>

/* ------------------------------------------------------------ containers */

/*
 * A new container of kind holding stack[base..nstack), which it takes;
 * the container replaces them on the stack.  Set items must be
 * hashable; duplicates in a set are dropped (the last one kept, in the
 * first one's place).
 */
static int collect(loader_t *L, wv_objkind_t kind, size_t base)
{
    size_t n = L->nstack - base, i;
    wv_obj_t *c = wv__value_alloc_seq(kind, n);
    int err = 0;

    if (!c)
        return nomem(L);
    wv__vnode(c)->aux = 1;
    wv__vnode(c)->height = 1;
    for (i = base; i < L->nstack && !err; i++) {
        if ((kind == WV_OBJ_SET || kind == WV_OBJ_FROZENSET) &&
            !wv_obj_is_hashable(L->stack[i]))
            err = refuse(L, "an unhashable set item");
        else
            err = adopt(L, c, L->stack[i]);
    }
    if (!err)
        err = charge(L, n * SLOT_COST);
    if (!err && n && wv__value_reserve(c, n) != 0)
        err = nomem(L);
    if (err) {
        wv_obj_free(c);
        return err;
    }
    for (i = base; i < L->nstack; i++) {
        wv_obj_t *item = L->stack[i];
        wv__vnode(item)->open = false;
        if (kind == WV_OBJ_SET || kind == WV_OBJ_FROZENSET)
            wv__value_set_add(c, item);
        else
            wv__value_push(c, item);
    }
    L->nstack = base;
    wv__vnode(c)->open = kind != WV_OBJ_TUPLE && kind != WV_OBJ_FROZENSET;
    /* Counted as one new node: its items were counted when pushed. */
    return push_counted(L, c, 1);
}

int wv__pickle_tuple_n(loader_t *L, size_t n)
{
    int err = need(L, n);

    return err ? err : collect(L, WV_OBJ_TUPLE, L->nstack - n);
}

int wv__pickle_marked(loader_t *L, wv_objkind_t kind)
{
    size_t base;
    int err = pop_mark(L, &base);

    return err ? err : collect(L, kind, base);
}

int wv__pickle_empty(loader_t *L, wv_objkind_t kind)
{
    wv_obj_t *v = wv__value_alloc(kind);
    int err = push_new(L, v);

    if (!err) {
        wv__vnode(v)->height = 1;
        wv__vnode(v)->open = kind != WV_OBJ_TUPLE && kind != WV_OBJ_FROZENSET;
    }
    return err;
}

/* The container that stack[base..nstack) are to be added to:
 * stack[base - 1], an open node of kind. */
static int target(loader_t *L, size_t base, wv_objkind_t kind, wv_obj_t **t)
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
static int extend(loader_t *L, size_t base, wv_objkind_t kind)
{
    size_t n = L->nstack - base, i;
    wv_obj_t *t;
    int err = target(L, base, kind, &t);

    if (err)
        return err;
    if (kind == WV_OBJ_DICT && n % 2)
        return refuse(L, "SETITEMS with a key and no value");
    for (i = base; i < L->nstack; i++) {
        bool key =
            kind == WV_OBJ_SET || (kind == WV_OBJ_DICT && (i - base) % 2 == 0);
        if (key && !wv_obj_is_hashable(L->stack[i]))
            return refuse(L, "an unhashable dict key or set item");
        err = adopt(L, t, L->stack[i]);
        if (err)
            return err;
    }
    err = charge(L, n * SLOT_COST);
    if (err)
        return err;
    if (n && wv__value_reserve(t, kind == WV_OBJ_DICT ? n / 2 : n) != 0)
        return nomem(L);
    for (i = base; i < L->nstack; i++)
        wv__vnode(L->stack[i])->open = false;
    for (i = base; i < L->nstack; i += kind == WV_OBJ_DICT ? 2 : 1) {
        if (kind == WV_OBJ_LIST)
            wv__value_push(t, L->stack[i]);
        else if (kind == WV_OBJ_SET)
            wv__value_set_add(t, L->stack[i]);
        else
            wv__value_dict_put(t, L->stack[i], L->stack[i + 1]);
    }
    L->nstack = base;
    return 0;
}

int wv__pickle_extend_marked(loader_t *L, wv_objkind_t kind)
{
    size_t base;
    int err = pop_mark(L, &base);

    return err ? err : extend(L, base, kind);
}

/* DICT (protocol 0 and 1): a new dict of the pairs after the mark. */
int wv__pickle_dict(loader_t *L)
{
    size_t base;
    wv_obj_t *dict;
    int err = pop_mark(L, &base);

    if (!err)
        err = wv__pickle_empty(L, WV_OBJ_DICT);
    if (err)
        return err;
    dict = L->stack[L->nstack - 1];
    memmove(L->stack + base + 1, L->stack + base,
            (L->nstack - 1 - base) * sizeof *L->stack);
    L->stack[base] = dict;
    return extend(L, base + 1, WV_OBJ_DICT);
}

int wv__pickle_extend_top(loader_t *L, wv_objkind_t kind, size_t n)
{
    int err = need(L, n + 1);

    return err ? err : extend(L, L->nstack - n, kind);
}

/* --------------------------------------------------------------- objects */

static bool is_str(const wv_obj_t *v, const char *s)
{
    return v->kind == WV_OBJ_STR && strlen(s) == v->u.s.len &&
           memcmp(v->u.s.data, s, v->u.s.len) == 0;
}

/*
 * str's code points as bytes, if all are below 256 (str.encode('latin1')):
 * a new BYTES or BYTEARRAY, or NULL with *err 0 when some is not.
 */
static wv_obj_t *latin1(loader_t *L, const wv_obj_t *s, wv_objkind_t kind,
                        int *err)
{
    const uint8_t *p = (const uint8_t *)s->u.s.data;
    size_t i, n = 0;
    wv_obj_t *v = NULL;
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
    if ((kind == WV_OBJ_BYTES ? wv_obj_new_bytes(&v, buf, n)
                              : wv_obj_new_bytearray(&v, buf, n)) != 0)
        *err = nomem(L);
    wv__free(buf);
    return v;
}

/* A new set or frozenset of the items of a list or tuple. */
static wv_obj_t *set_of(loader_t *L, const wv_obj_t *from, wv_objkind_t kind,
                        int *err)
{
    wv_obj_t *set = wv__value_alloc(kind);
    size_t i, n = from->u.seq.len;

    *err = 0;
    if (!set) {
        *err = nomem(L);
        return NULL;
    }
    wv__vnode(set)->aux = 1;
    wv__vnode(set)->height = 1;
    for (i = 0; i < n && !*err; i++) {
        if (!wv_obj_is_hashable(from->u.seq.items[i]))
            *err = refuse(L, "an unhashable set item");
        else
            *err = adopt(L, set, from->u.seq.items[i]);
    }
    if (!*err && n && wv__value_reserve(set, n) != 0)
        *err = nomem(L);
    if (*err) {
        wv_obj_free(set);
        return NULL;
    }
    for (i = 0; i < n; i++)
        wv__value_set_add(set, wv_obj_ref(from->u.seq.items[i]));
    return set;
}

/*
 * The four constructors of plain data, read as the data they make:
 * bytearray() / bytearray(bytes) / bytearray(str, 'latin-1'), bytes(),
 * set(list), frozenset(list) and _codecs.encode(str, 'latin1').  Returns
 * the node, or NULL (with *err 0) when cls(args) is no such call.
 */
static wv_obj_t *data_call(loader_t *L, const wv_obj_t *cls,
                           const wv_obj_t *args, int *err)
{
    size_t n = args->u.seq.len;
    wv_obj_t *const *a = args->u.seq.items;
    wv_obj_t *v = NULL;
    bool latin = n == 2 && a[0]->kind == WV_OBJ_STR &&
                 (is_str(a[1], "latin1") || is_str(a[1], "latin-1"));

    *err = 0;
    if (cls->kind != WV_OBJ_GLOBAL)
        return NULL;
    if (wv_obj_is_global(cls, "builtins", "bytearray")) {
        if (n == 0 || (n == 1 && a[0]->kind == WV_OBJ_BYTES)) {
            if (wv_obj_new_bytearray(&v, n ? a[0]->u.s.data : NULL,
                                     n ? a[0]->u.s.len : 0) != 0)
                *err = nomem(L);
            return v;
        }
        return latin ? latin1(L, a[0], WV_OBJ_BYTEARRAY, err) : NULL;
    }
    if (wv_obj_is_global(cls, "builtins", "bytes") && n == 0) {
        if (wv_obj_new_bytes(&v, NULL, 0) != 0)
            *err = nomem(L);
        return v;
    }
    if (wv_obj_is_global(cls, "_codecs", "encode"))
        return latin ? latin1(L, a[0], WV_OBJ_BYTES, err) : NULL;
    if (wv_obj_is_global(cls, "builtins", "set") ||
        wv_obj_is_global(cls, "builtins", "frozenset")) {
        wv_objkind_t kind = strcmp(cls->u.global.name, "set") == 0
                                ? WV_OBJ_SET
                                : WV_OBJ_FROZENSET;
        static const wv_obj_t none = {.kind = WV_OBJ_TUPLE};
        if (n == 0)
            return set_of(L, &none, kind, err);
        if (n == 1 && (a[0]->kind == WV_OBJ_LIST || a[0]->kind == WV_OBJ_TUPLE))
            return set_of(L, a[0], kind, err);
    }
    return NULL;
}

/* REDUCE (newobj false) and NEWOBJ: cls(*args) as data or an INSTANCE. */
int wv__pickle_call(loader_t *L, bool newobj)
{
    wv_obj_t *args, *cls, *v = NULL;
    int err = need(L, 2);

    if (err)
        return err;
    args = L->stack[L->nstack - 1];
    cls = L->stack[L->nstack - 2];
    if (args->kind != WV_OBJ_TUPLE)
        return refuse(L, "REDUCE or NEWOBJ with arguments that are no tuple");
    if (cls->kind != WV_OBJ_GLOBAL && cls->kind != WV_OBJ_INSTANCE)
        return refuse(L, "REDUCE or NEWOBJ of something that is no global "
                         "or object");
    if (!newobj) {
        v = data_call(L, cls, args, &err);
        if (err)
            return err;
        if (v && v->kind != WV_OBJ_SET && v->kind != WV_OBJ_FROZENSET) {
            err = charge(L, v->u.s.len + 1);
            if (err) {
                wv_obj_free(v);
                return err;
            }
        }
    }
    if (!v) {
        v = wv__value_alloc(WV_OBJ_INSTANCE);
        if (!v)
            return nomem(L);
        wv__vnode(v)->aux = 1;
        wv__vnode(v)->height = 1;
        err = adopt(L, v, cls);
        if (!err)
            err = adopt(L, v, args);
        if (err) {
            wv_obj_free(v);
            return err;
        }
        v->u.inst.args = pop(L);
        v->u.inst.cls = pop(L);
        v->u.inst.newobj = newobj;
    } else {
        wv_obj_free(pop(L));
        wv_obj_free(pop(L));
    }
    if (!wv__vnode(v)->aux)
        wv__vnode(v)->aux = 1;
    wv__vnode(v)->open = v->kind == WV_OBJ_INSTANCE || v->kind == WV_OBJ_SET;
    return push_counted(L, v, 1);
}

int wv__pickle_build(loader_t *L)
{
    wv_obj_t *obj, *state;
    int err = need(L, 2);

    if (err)
        return err;
    obj = L->stack[L->nstack - 2];
    if (obj->kind != WV_OBJ_INSTANCE)
        return refuse(L, "BUILD of something that is no object");
    if (!wv__vnode(obj)->open || obj->u.inst.state)
        return refuse(L, "BUILD of an object already complete or referred "
                         "to (its state holding it, or a second state)");
    err = adopt(L, obj, L->stack[L->nstack - 1]);
    if (err)
        return err;
    state = pop(L);
    obj->u.inst.state = state;
    return 0;
}

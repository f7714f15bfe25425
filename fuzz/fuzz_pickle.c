/*
 * fuzz/fuzz_pickle.c - libFuzzer target: wv_pickle_loads on untrusted
 * bytes, with small limits.  Nothing may crash, read out of bounds or
 * leak (the build runs with ASan), and every error must be WV_EPROTO (or
 * WV_ENOMEM).  What decodes must survive a round trip: dumped with
 * protocols 2, 4 and 5 it loads again (default limits) to an equal value
 * (unless a NaN, which equals nothing, is inside, or, for protocol 2, a
 * global of a Python 2 module that reads back renamed), and the protocol-4
 * bytes of the second value are the protocol-4 bytes of the first:
 * sharing and kinds came back as they were.
 */
#include "manager/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NaN (which equals nothing, itself included). */
static bool is_nan(const wv_obj_t *v)
{
    return v->kind == WV_OBJ_FLOAT && isnan(v->u.f);
}

/* A global of a module whose name protocols below 3 map, as CPython's
 * fix_imports does (__builtin__ reads back as builtins). */
static bool is_py2_global(const wv_obj_t *v)
{
    static const char *const py2[] = {"__builtin__", "exceptions", "copy_reg",
                                      "Queue"};

    if (v->kind != WV_OBJ_GLOBAL)
        return false;
    for (size_t i = 0; i < sizeof py2 / sizeof py2[0]; i++)
        if (strcmp(v->u.global.module, py2[i]) == 0)
            return true;
    return false;
}

/* Whether v or a node inside it is what pred says. */
static bool any(const wv_obj_t *v, bool (*pred)(const wv_obj_t *))
{
    size_t i, n;

    if (pred(v))
        return true;
    if (v->kind == WV_OBJ_INSTANCE)
        return any(v->u.inst.cls, pred) || any(v->u.inst.args, pred) ||
               (v->u.inst.state && any(v->u.inst.state, pred));
    if (v->kind != WV_OBJ_TUPLE && v->kind != WV_OBJ_LIST &&
        v->kind != WV_OBJ_DICT && v->kind != WV_OBJ_SET &&
        v->kind != WV_OBJ_FROZENSET)
        return false;
    n = v->kind == WV_OBJ_DICT ? 2 * v->u.seq.len : v->u.seq.len;
    for (i = 0; i < n; i++)
        if (any(v->u.seq.items[i], pred))
            return true;
    return false;
}

/* Dumps v with protocol p and loads the bytes again; both must work. */
static wv_obj_t *again(const wv_obj_t *v, int p, char **bytes, size_t *len)
{
    wv_obj_t *back;
    int err = wv_pickle_dumps(v, p, bytes, len);

    if (err == WV_ENOMEM)
        return NULL;
    if (err)
        abort(); /* a decoded value can always be written */
    err = wv_pickle_loads(&back, *bytes, *len, NULL, NULL);
    if (err == WV_ENOMEM) {
        wv_free(*bytes);
        return NULL;
    }
    if (err)
        abort(); /* what we write, we read */
    if (!any(v, is_nan) && !(p < 3 && any(v, is_py2_global)) &&
        !wv_obj_equal(v, back))
        abort();
    return back;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wv_pickle_limits_t lim = {.max_depth = 64,
                              .max_items = 10000,
                              .max_memo = 4096,
                              .max_int_bytes = 256,
                              .max_growth = 16};
    wv_obj_t *v, *back;
    const char *why = NULL;
    char *first, *second, *repr;
    size_t len1, len2;
    int err = wv_pickle_loads(&v, data, size, &lim, &why);

    if (err) {
        if ((err != WV_EPROTO && err != WV_ENOMEM) || !why)
            abort();
        return 0;
    }
    if (wv_obj_repr(v, &repr) == 0)
        wv_free(repr);
    (void)wv_obj_hash(v);
    for (int p = 2; p <= 5; p += 3) {
        back = again(v, p, &first, &len1);
        if (back) {
            wv_obj_free(back);
            wv_free(first);
        }
    }
    back = again(v, 4, &first, &len1);
    if (back) {
        if (wv_pickle_dumps(back, 4, &second, &len2) == 0) {
            if (len1 != len2 || memcmp(first, second, len1) != 0)
                abort();
            wv_free(second);
        }
        wv_obj_free(back);
        wv_free(first);
    }
    wv_obj_free(v);
    return 0;
}

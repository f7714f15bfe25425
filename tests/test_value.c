/*
 * tests/test_value.c - inert values and their pickles (weave/obj.h).
 *
 * The model (references, containers, the dict index, equal and hash,
 * repr), then the codec against the real thing: every CPython found on
 * this machine (python3, and pyenv's 3.8 - 3.13; a missing one is skipped
 * with a message) pickles a table of values with protocols 2 to 5 for us
 * to load, and loads what we pickle of the same table, comparing with its
 * own literals; protocol 4 must come out byte for byte as CPython writes
 * it.  Then hostile input (truncations, billion laughs, deep nesting,
 * cycles, opcodes that are never data, a pickle that would run a command)
 * and failed allocations at every point.
 */
#include "runner.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ builders */

static wv_obj_t *vnone(void)
{
    wv_obj_t *v;
    WVT_OK(wv_obj_new_none(&v));
    return v;
}

static wv_obj_t *vbool(bool b)
{
    wv_obj_t *v;
    WVT_OK(wv_obj_new_bool(&v, b));
    return v;
}

static wv_obj_t *vi(int64_t i)
{
    wv_obj_t *v;
    WVT_OK(wv_obj_new_int(&v, i));
    return v;
}

static wv_obj_t *vf(double f)
{
    wv_obj_t *v;
    WVT_OK(wv_obj_new_float(&v, f));
    return v;
}

static wv_obj_t *vsn(const char *s, size_t n)
{
    wv_obj_t *v;
    WVT_OK(wv_obj_new_str(&v, s, n));
    return v;
}

static wv_obj_t *vs(const char *s)
{
    return vsn(s, strlen(s));
}

static wv_obj_t *vb(const void *d, size_t n)
{
    wv_obj_t *v;
    WVT_OK(wv_obj_new_bytes(&v, d, n));
    return v;
}

static wv_obj_t *vba(const void *d, size_t n)
{
    wv_obj_t *v;
    WVT_OK(wv_obj_new_bytearray(&v, d, n));
    return v;
}

/* n copies of byte c, as a str or bytes. */
static wv_obj_t *vrep(wv_objkind_t kind, char c, size_t n)
{
    char *buf = malloc(n);
    wv_obj_t *v;
    memset(buf, c, n);
    v = kind == WV_OBJ_STR ? vsn(buf, n) : vb(buf, n);
    free(buf);
    return v;
}

/* sign * 2**e. */
static wv_obj_t *vpow2(int e, int sign)
{
    size_t n = (size_t)e / 8 + 2;
    uint8_t *b = calloc(n, 1);
    unsigned carry = 1;
    wv_obj_t *v;

    b[e / 8] = (uint8_t)(1u << (e % 8));
    if (sign < 0) {
        for (size_t i = 0; i < n; i++) {
            unsigned x = (uint8_t)~b[i] + carry;
            b[i] = (uint8_t)x;
            carry = x > 0xFF;
        }
    }
    WVT_OK(wv_obj_new_bigint(&v, b, n));
    free(b);
    return v;
}

/* A container of kind with n items, taking their references. */
static wv_obj_t *vseq(wv_objkind_t kind, int n, ...)
{
    wv_obj_t *v;
    va_list ap;

    switch (kind) {
    case WV_OBJ_TUPLE:
        WVT_OK(wv_obj_new_tuple(&v, 0));
        break;
    case WV_OBJ_LIST:
        WVT_OK(wv_obj_new_list(&v, 0));
        break;
    case WV_OBJ_SET:
        WVT_OK(wv_obj_new_set(&v, 0));
        break;
    default:
        WVT_OK(wv_obj_new_frozenset(&v, 0));
        break;
    }
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        WVT_OK(wv_obj_append(v, va_arg(ap, wv_obj_t *)));
    va_end(ap);
    return v;
}

#define T(...) vseq(WV_OBJ_TUPLE, __VA_ARGS__)
#define L(...) vseq(WV_OBJ_LIST, __VA_ARGS__)

static wv_obj_t *vdict(int npairs, ...)
{
    wv_obj_t *v;
    va_list ap;

    WVT_OK(wv_obj_new_dict(&v, 0));
    va_start(ap, npairs);
    for (int i = 0; i < npairs; i++) {
        wv_obj_t *k = va_arg(ap, wv_obj_t *);
        WVT_OK(wv_obj_dict_set(v, k, va_arg(ap, wv_obj_t *)));
    }
    va_end(ap);
    return v;
}

static wv_obj_t *vrange(wv_objkind_t kind, int n)
{
    wv_obj_t *v = vseq(kind, 0);
    for (int i = 0; i < n; i++)
        WVT_OK(wv_obj_append(v, vi(i)));
    return v;
}

static wv_obj_t *vobj(const char *module, const char *name, wv_obj_t *args)
{
    wv_obj_t *v;
    WVT_OK(wv_obj_new_exception(&v, module, name, args));
    return v;
}

static char *repr_of(const wv_obj_t *v)
{
    char *s;
    WVT_OK(wv_obj_repr(v, &s));
    return s;
}

/* ---------------------------------------------------- the value table */

/*
 * Each entry: a Python expression (evaluated where x = [1]), whether
 * CPython's protocol-4 bytes are deterministic (no str set, no hash
 * order) so ours must equal them, and whether the value's two items must
 * be one object.
 */
static const struct {
    const char *py;
    bool same_bytes;
    bool shared;
} table[] = {
    {"None", true, false},
    {"True", true, false},
    {"False", true, false},
    {"0", true, false},
    {"255", true, false},
    {"256", true, false},
    {"65535", true, false},
    {"65536", true, false},
    {"-1", true, false},
    {"-2**31", true, false},
    {"2**31-1", true, false},
    {"2**31", true, false},
    {"2**63", true, false},
    {"-2**63", true, false},
    {"2**63-1", true, false},
    {"-2**100", true, false},
    {"2**2000", true, false},
    {"-2**2000", true, false},
    {"1.5", true, false},
    {"-0.0", true, false},
    {"float('inf')", true, false},
    {"float('-inf')", true, false},
    {"''", true, false},
    {"'abc'", true, false},
    {"'\\xe9\\u4e2d'", true, false},
    {"'a\\udc80b'", true, false},
    {"'x'*300", true, false},
    {"'y'*70000", true, false},
    {"b''", true, false},
    {"b'\\x00\\xff'", true, false},
    {"b'z'*300", true, false},
    {"b'w'*70000", true, false},
    {"()", true, false},
    {"(1,)", true, false},
    {"(1, 2)", true, false},
    {"(1, 2, 3)", true, false},
    {"(1, 2, 3, 4)", true, false},
    {"[]", true, false},
    {"[1]", true, false},
    {"[1, 2, 3]", true, false},
    {"list(range(1001))", true, false},
    {"{}", true, false},
    {"{'a': 1}", true, false},
    {"{'a': 1, 'b': [1, 2]}", true, false},
    {"{str(i): i for i in range(2000)}", true, false},
    {"set()", true, false},
    {"{1, 2}", true, false},
    {"frozenset({3})", true, false},
    {"frozenset()", true, false},
    {"set(range(1000))", true, false},
    {"bytearray(b'ba')", true, false},
    {"bytearray()", true, false},
    {"1+2j", true, false},
    {"ValueError('bad value', 42)", true, false},
    {"queue.Empty()", true, false},
    {"[x, x]", true, true},
    {"('same', 'same')", true, true},
    {"{'k': [1, (2.5, None, True), {'n': {'m': [b'x', 'y']}}], "
     "'z': frozenset({1, 2}), 'big': [2**64, -2**64]}",
     true, false},
    {"float('nan')", false, false},
    {"{i: i for i in range(1000)}", true, false},
    {"[str(i) for i in range(20000)]", true, false},
    {"list(range(40000))", true, false},
    {"multiprocessing.managers.Token('NodeRef', ('127.0.0.1', 35107), "
     "'7fc290ad3890')",
     true, false},
};

#define NVALUES (sizeof table / sizeof table[0])
#define NAN_AT  58

static wv_obj_t *make_value(size_t i)
{
    wv_obj_t *x;

    switch (i) {
    case 0:
        return vnone();
    case 1:
        return vbool(true);
    case 2:
        return vbool(false);
    case 3:
        return vi(0);
    case 4:
        return vi(255);
    case 5:
        return vi(256);
    case 6:
        return vi(65535);
    case 7:
        return vi(65536);
    case 8:
        return vi(-1);
    case 9:
        return vi(INT32_MIN);
    case 10:
        return vi(INT32_MAX);
    case 11:
        return vi((int64_t)1 << 31);
    case 12:
        return vpow2(63, 1);
    case 13:
        return vi(INT64_MIN);
    case 14:
        return vi(INT64_MAX);
    case 15:
        return vpow2(100, -1);
    case 16:
        return vpow2(2000, 1);
    case 17:
        return vpow2(2000, -1);
    case 18:
        return vf(1.5);
    case 19:
        return vf(-0.0);
    case 20:
        return vf(INFINITY);
    case 21:
        return vf(-INFINITY);
    case 22:
        return vs("");
    case 23:
        return vs("abc");
    case 24:
        return vs("\xc3\xa9\xe4\xb8\xad");
    case 25:
        return vs("a\xed\xb2\x80"
                  "b");
    case 26:
        return vrep(WV_OBJ_STR, 'x', 300);
    case 27:
        return vrep(WV_OBJ_STR, 'y', 70000);
    case 28:
        return vb("", 0);
    case 29:
        return vb("\x00\xff", 2);
    case 30:
        return vrep(WV_OBJ_BYTES, 'z', 300);
    case 31:
        return vrep(WV_OBJ_BYTES, 'w', 70000);
    case 32:
        return T(0);
    case 33:
        return T(1, vi(1));
    case 34:
        return T(2, vi(1), vi(2));
    case 35:
        return T(3, vi(1), vi(2), vi(3));
    case 36:
        return T(4, vi(1), vi(2), vi(3), vi(4));
    case 37:
        return L(0);
    case 38:
        return L(1, vi(1));
    case 39:
        return L(3, vi(1), vi(2), vi(3));
    case 40:
        return vrange(WV_OBJ_LIST, 1001);
    case 41:
        return vdict(0);
    case 42:
        return vdict(1, vs("a"), vi(1));
    case 43:
        return vdict(2, vs("a"), vi(1), vs("b"), L(2, vi(1), vi(2)));
    case 44: {
        wv_obj_t *d = vdict(0);
        for (int k = 0; k < 2000; k++) {
            char key[8];
            snprintf(key, sizeof key, "%d", k);
            WVT_OK(wv_obj_dict_set(d, vs(key), vi(k)));
        }
        return d;
    }
    case 45:
        return vseq(WV_OBJ_SET, 0);
    case 46:
        return vseq(WV_OBJ_SET, 2, vi(1), vi(2));
    case 47:
        return vseq(WV_OBJ_FROZENSET, 1, vi(3));
    case 48:
        return vseq(WV_OBJ_FROZENSET, 0);
    case 49:
        return vrange(WV_OBJ_SET, 1000);
    case 50:
        return vba("ba", 2);
    case 51:
        return vba(NULL, 0);
    case 52:
        return vobj("builtins", "complex", T(2, vf(1.0), vf(2.0)));
    case 53:
        return vobj("builtins", "ValueError", T(2, vs("bad value"), vi(42)));
    case 54:
        return vobj("_queue", "Empty", NULL);
    case 55:
        x = L(1, vi(1));
        return L(2, x, wv_obj_ref(x));
    case 56:
        x = vs("same");
        return T(2, x, wv_obj_ref(x));
    case 57:
        return vdict(
            3, vs("k"),
            L(3, vi(1), T(3, vf(2.5), vnone(), vbool(true)),
              vdict(1, vs("n"), vdict(1, vs("m"), L(2, vb("x", 1), vs("y"))))),
            vs("z"), vseq(WV_OBJ_FROZENSET, 2, vi(1), vi(2)), vs("big"),
            L(2, vpow2(64, 1), vpow2(64, -1)));
    case NAN_AT:
        return vf(NAN);
    case 59: {
        wv_obj_t *d = vdict(0);
        for (int k = 0; k < 1000; k++)
            WVT_OK(wv_obj_dict_set(d, vi(k), vi(k)));
        return d;
    }
    case 60: {
        /* Frames of 64 KiB, closed between items. */
        wv_obj_t *l = L(0);
        for (int k = 0; k < 20000; k++) {
            char text[8];
            snprintf(text, sizeof text, "%d", k);
            WVT_OK(wv_obj_append(l, vs(text)));
        }
        return l;
    }
    case 61:
        return vrange(WV_OBJ_LIST, 40000);
    default: {
        /* A manager's Token: NEWOBJ of the class, BUILD with a tuple. */
        wv_obj_t *cls, *tok;
        WVT_OK(wv_obj_new_global(&cls, "multiprocessing.managers", "Token"));
        WVT_OK(wv_obj_new_instance(&tok, cls, NULL,
                                   T(3, vs("NodeRef"),
                                     T(2, vs("127.0.0.1"), vi(35107)),
                                     vs("7fc290ad3890")),
                                   true));
        return tok;
    }
    }
}

/* "x = [1]\nVALS = [...]\n": the table as Python. */
static char *py_table(void)
{
    size_t cap = 4096, len = 0;
    char *s = malloc(cap);

    len += (size_t)snprintf(s, cap,
                            "import pickle, sys, struct, queue, math, "
                            "multiprocessing.managers\n"
                            "x = [1]\nVALS = [\n");
    for (size_t i = 0; i < NVALUES; i++) {
        size_t n = strlen(table[i].py) + 8;
        if (len + n >= cap)
            s = realloc(s, cap *= 2);
        len += (size_t)snprintf(s + len, cap - len, "    %s,\n", table[i].py);
    }
    if (len + 8 >= cap)
        s = realloc(s, cap *= 2);
    snprintf(s + len, cap - len, "]\n");
    return s;
}

/* --------------------------------------------------------- interpreters */

typedef struct pythons {
    int n;
    char path[16][512];
} pythons_t;

/* python3 from PATH, and pyenv's 3.8 - 3.13, the ones present. */
static void find_pythons(pythons_t *ps)
{
    const char *home = getenv("HOME");
    char dir[220];

    ps->n = 0;
    snprintf(ps->path[ps->n++], 512, "python3");
    for (int minor = 8; minor <= 13; minor++) {
        bool found = false;
        DIR *d;
        struct dirent *e;
        char prefix[16];
        snprintf(prefix, sizeof prefix, "3.%d.", minor);
        snprintf(dir, sizeof dir, "%s/.pyenv/versions", home ? home : "/");
        d = opendir(dir);
        while (d && (e = readdir(d))) {
            char *p = ps->path[ps->n];
            if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
                continue;
            if (snprintf(p, 512, "%.200s/%.200s/bin/python3.%d", dir, e->d_name,
                         minor) >= 512)
                continue;
            if (access(p, X_OK) == 0) {
                ps->n++;
                found = true;
                break;
            }
        }
        if (d)
            closedir(d);
        if (!found)
            fprintf(stderr, "note: no pyenv Python 3.%d, skipped\n", minor);
    }
}

/* Runs python -c script with input on stdin; 0 if it exited 0. */
static int run_python(const char *py, const char *script, const void *in,
                      size_t len, wv_completed_t *res)
{
    const char *argv[] = {py, "-c", script, NULL};
    wv_popen_opts_t o = {0};

    o.argv = argv;
    o.in.how = WV_STDIO_PIPE;
    o.out.how = WV_STDIO_PIPE;
    o.err.how = WV_STDIO_PIPE;
    return wv_subprocess_run(&o, in ? in : "", len, false, res,
                             wv_now() + 120000);
}

static bool python_works(const char *py)
{
    wv_completed_t res;
    int err = run_python(py, "import pickle", NULL, 0, &res);
    bool ok = err == 0 && res.returncode == 0;

    wv_completed_free(&res);
    return ok;
}

/* ------------------------------------------------------------- model */

WVT_TEST(value_refs_and_ownership)
{
    wv_obj_t *t, *n, *s;

    WVT_OK(wv_obj_new_tuple(&t, 2));
    WVT_OK(wv_obj_new_int(&n, 7));
    WVT_OK(wv_obj_append(t, n));
    WVT_OK(wv_obj_new_str(&s, "seven", 5));
    WVT_OK(wv_obj_append(t, s));
    WVT_EQ(t->u.seq.len, 2);
    WVT_EQ(t->refs, 1);
    WVT_ASSERT(wv_obj_ref(t) == t);
    WVT_EQ(t->refs, 2);
    wv_obj_free(t);
    WVT_EQ(t->refs, 1);
    WVT_EQ(s->u.s.data[5], '\0');
    WVT_ASSERT(wv_obj_ref(NULL) == NULL);
    wv_obj_free(NULL);
    /* Failures leave the item with the caller. */
    WVT_ERR(wv_obj_append(n, s), WV_EINVAL);
    WVT_ERR(wv_obj_append(t, NULL), WV_EINVAL);
    WVT_ERR(wv_obj_new_int(NULL, 1), WV_EINVAL);
    WVT_ERR(wv_obj_new_str(&s, "\xff", 1), WV_EINVAL);
    WVT_ERR(wv_obj_new_str(&s, "\xc0\x80", 2), WV_EINVAL); /* overlong */
    WVT_ERR(wv_obj_new_str(&s, "\xf4\x90\x80\x80", 4), WV_EINVAL);
    WVT_OK(wv_obj_new_str(&s, "\xed\xa0\x80", 3)); /* a surrogate */
    wv_obj_free(s);
    WVT_ERR(wv_obj_new_global(&s, "", "x"), WV_EINVAL);
    WVT_ERR(wv_obj_new_instance(&s, NULL, NULL, NULL, false), WV_EINVAL);
    WVT_ERR(wv_obj_new_instance(&s, n, n, NULL, false), WV_EINVAL);
    /* A tree freed from the top frees everything (ASan checks). */
    wv_obj_free(t);

    /* Deep trees free without recursion. */
    wv_obj_t *deep = vnone();
    for (int i = 0; i < 200000; i++) {
        wv_obj_t *l = L(0);
        WVT_OK(wv_obj_append(l, deep));
        deep = l;
    }
    wv_obj_free(deep);
}

WVT_TEST(value_ints)
{
    wv_obj_t *v;
    int64_t i;
    uint8_t b9[9] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0};
    uint8_t padded[4] = {0xff, 0xff, 0xff, 0xff};

    WVT_OK(wv_obj_new_bigint(&v, b9, 9)); /* 2**63: stays big */
    WVT_EQ(v->kind, WV_OBJ_BIGINT);
    WVT_EQ(v->u.s.len, 9);
    WVT_ERR(wv_obj_get_int(v, &i), WV_ERANGE);
    wv_obj_free(v);
    WVT_OK(wv_obj_new_bigint(&v, padded, 4)); /* -1, not minimal */
    WVT_EQ(v->kind, WV_OBJ_INT);
    WVT_OK(wv_obj_get_int(v, &i));
    WVT_EQ(i, -1);
    wv_obj_free(v);
    WVT_OK(wv_obj_new_bigint(&v, NULL, 0));
    WVT_OK(wv_obj_get_int(v, &i));
    WVT_EQ(i, 0);
    wv_obj_free(v);
    v = vbool(true);
    WVT_OK(wv_obj_get_int(v, &i));
    WVT_EQ(i, 1);
    wv_obj_free(v);
    v = vs("1");
    WVT_ERR(wv_obj_get_int(v, &i), WV_EINVAL);
    wv_obj_free(v);
}

WVT_TEST(value_dict_insert_replace_find)
{
    wv_obj_t *d = vdict(0), *k, *got;

    for (int i = 0; i < 1000; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        WVT_OK(wv_obj_dict_set(d, vs(key), vi(i)));
    }
    WVT_EQ(d->u.seq.len, 1000);
    got = wv_obj_dict_get(d, "k500");
    WVT_ASSERT(got && got->u.i == 500);
    WVT_ASSERT(wv_obj_dict_get(d, "nope") == NULL);
    /* Replace: the first key object keeps its place. */
    k = d->u.seq.items[2 * 3];
    WVT_OK(wv_obj_dict_set(d, vs("k3"), vs("three")));
    WVT_EQ(d->u.seq.len, 1000);
    WVT_ASSERT(d->u.seq.items[2 * 3] == k);
    WVT_ASSERT(wv_obj_dict_get(d, "k3")->kind == WV_OBJ_STR);
    /* Keys of any kind; 1 == 1.0 == True are one key. */
    WVT_OK(wv_obj_dict_set(d, vi(1), vs("one")));
    k = vf(1.0);
    WVT_ASSERT(wv_obj_dict_find(d, k) != NULL);
    wv_obj_free(k);
    WVT_OK(wv_obj_dict_set(d, vbool(true), vs("true")));
    WVT_EQ(d->u.seq.len, 1001);
    k = T(2, vi(1), vs("a"));
    WVT_OK(wv_obj_dict_set(d, k, vnone()));
    k = T(2, vi(1), vs("a"));
    WVT_ASSERT(wv_obj_dict_find(d, k) != NULL);
    wv_obj_free(k);
    /* Unhashable keys are refused and stay the caller's. */
    k = L(0);
    got = vnone();
    WVT_ERR(wv_obj_dict_set(d, k, got), WV_EINVAL);
    wv_obj_free(k);
    wv_obj_free(got);
    k = vnone();
    WVT_ERR(wv_obj_dict_set(NULL, k, k), WV_EINVAL);
    wv_obj_free(k);
    wv_obj_free(d);
}

WVT_TEST(value_set_dedupe)
{
    wv_obj_t *s = vseq(WV_OBJ_SET, 0), *l;

    WVT_OK(wv_obj_append(s, vi(1)));
    WVT_OK(wv_obj_append(s, vi(2)));
    WVT_OK(wv_obj_append(s, vf(1.0)));
    WVT_OK(wv_obj_append(s, vs("a")));
    WVT_OK(wv_obj_append(s, vs("a")));
    WVT_EQ(s->u.seq.len, 3);
    WVT_EQ(s->u.seq.items[0]->kind, WV_OBJ_FLOAT); /* replaced in place */
    l = L(0);
    WVT_ERR(wv_obj_append(s, l), WV_EINVAL);
    wv_obj_free(l);
    l = vba("x", 1);
    WVT_ERR(wv_obj_append(s, l), WV_EINVAL);
    wv_obj_free(l);
    wv_obj_free(s);
}

WVT_TEST(value_cycles_refused)
{
    wv_obj_t *a = L(0), *b = L(0), *d = vdict(0);

    WVT_ERR(wv_obj_append(a, a), WV_EINVAL);
    WVT_OK(wv_obj_append(a, wv_obj_ref(b)));
    WVT_ERR(wv_obj_append(b, a), WV_EINVAL); /* b in a */
    WVT_OK(wv_obj_dict_set(d, vs("a"), wv_obj_ref(a)));
    WVT_ERR(wv_obj_append(b, d), WV_EINVAL); /* b in a in d */
    wv_obj_t *k = vs("d");
    WVT_ERR(wv_obj_dict_set(d, k, d), WV_EINVAL);
    wv_obj_free(k);
    /* A shared node twice is no cycle. */
    WVT_OK(wv_obj_append(a, wv_obj_ref(b)));
    WVT_EQ(b->refs, 3);
    wv_obj_free(b);
    wv_obj_free(a);
    wv_obj_free(d);
}

WVT_TEST(value_equal_and_hash_laws)
{
    wv_obj_t *vals[] = {
        vi(1),
        vf(1.0),
        vbool(true),
        vf(-0.0),
        vi(0),
        vpow2(70, 1),
        vf(0x1p70),
        vpow2(70, -1),
        vf(-0x1p70),
        vs("a"),
        vb("a", 1),
        vba("a", 1),
        T(2, vi(1), vs("x")),
        L(2, vi(1), vs("x")),
        vseq(WV_OBJ_SET, 2, vi(1), vi(2)),
        vseq(WV_OBJ_FROZENSET, 2, vi(2), vi(1)),
        vdict(2, vs("a"), vi(1), vs("b"), vi(2)),
        vdict(2, vs("b"), vi(2), vs("a"), vi(1)),
        vobj("builtins", "ValueError", T(1, vs("x"))),
        vobj("builtins", "ValueError", T(1, vs("x"))),
        vf(NAN),
        vnone(),
    };
    size_t n = sizeof vals / sizeof vals[0];

    /* Expected equalities, besides each value with itself. */
    WVT_ASSERT(wv_obj_equal(vals[0], vals[1]));
    WVT_ASSERT(wv_obj_equal(vals[0], vals[2]));
    WVT_ASSERT(wv_obj_equal(vals[3], vals[4]));
    WVT_ASSERT(wv_obj_equal(vals[5], vals[6]));
    WVT_ASSERT(wv_obj_equal(vals[7], vals[8]));
    WVT_ASSERT(!wv_obj_equal(vals[5], vals[7]));
    WVT_ASSERT(!wv_obj_equal(vals[9], vals[10]));
    WVT_ASSERT(wv_obj_equal(vals[10], vals[11]));
    WVT_ASSERT(!wv_obj_equal(vals[12], vals[13]));
    WVT_ASSERT(wv_obj_equal(vals[14], vals[15]));
    WVT_ASSERT(wv_obj_equal(vals[16], vals[17]));
    WVT_ASSERT(wv_obj_equal(vals[18], vals[19]));
    WVT_ASSERT(!wv_obj_equal(vals[20], vals[20]));
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            bool eq = wv_obj_equal(vals[i], vals[j]);
            /* Symmetric; equal hashable values hash alike. */
            WVT_EQ(eq, wv_obj_equal(vals[j], vals[i]));
            if (eq && wv_obj_is_hashable(vals[i]) &&
                wv_obj_is_hashable(vals[j]))
                WVT_EQ(wv_obj_hash(vals[i]), wv_obj_hash(vals[j]));
        }
    }
    WVT_ASSERT(!wv_obj_is_hashable(vals[13]));
    WVT_ASSERT(wv_obj_is_hashable(vals[12]));
    WVT_ASSERT(wv_obj_is_hashable(vals[15]));
    WVT_ASSERT(!wv_obj_is_hashable(vals[14]));
    WVT_EQ(wv_obj_hash(vals[13]), 0);
    WVT_ASSERT(wv_obj_is_global(vals[18], "builtins", "ValueError"));
    WVT_ASSERT(
        wv_obj_is_global(vals[18]->u.inst.cls, "builtins", "ValueError"));
    WVT_ASSERT(!wv_obj_is_global(vals[18], "builtins", "KeyError"));
    for (size_t i = 0; i < n; i++)
        wv_obj_free(vals[i]);
}

WVT_TEST(value_repr_table)
{
    static const struct {
        size_t at;
        const char *repr;
    } want[] = {
        {0, "None"},
        {1, "True"},
        {8, "-1"},
        {12, "9223372036854775808"},
        {13, "-9223372036854775808"},
        {15, "-1267650600228229401496703205376"},
        {18, "1.5"},
        {19, "-0.0"},
        {20, "inf"},
        {21, "-inf"},
        {22, "''"},
        {24, "'\xc3\xa9\xe4\xb8\xad'"},
        {25, "'a\\udc80b'"},
        {28, "b''"},
        {29, "b'\\x00\\xff'"},
        {32, "()"},
        {33, "(1,)"},
        {36, "(1, 2, 3, 4)"},
        {37, "[]"},
        {42, "{'a': 1}"},
        {43, "{'a': 1, 'b': [1, 2]}"},
        {45, "set()"},
        {46, "{1, 2}"},
        {47, "frozenset({3})"},
        {48, "frozenset()"},
        {50, "bytearray(b'ba')"},
        {52, "builtins.complex(1.0, 2.0)"},
        {53, "builtins.ValueError('bad value', 42)"},
        {54, "_queue.Empty()"},
        {55, "[[1], [1]]"},
        {56, "('same', 'same')"},
        {NAN_AT, "nan"},
    };
    static const struct {
        double f;
        const char *repr;
    } floats[] = {
        {1.0, "1.0"},           {0.1, "0.1"},
        {1e16, "1e+16"},        {1e15, "1000000000000000.0"},
        {1e-5, "1e-05"},        {0.0001, "0.0001"},
        {123.456, "123.456"},   {1.0 / 3, "0.3333333333333333"},
        {2.5e-300, "2.5e-300"}, {-1.5e300, "-1.5e+300"},
    };
    static const struct {
        const char *s;
        const char *repr;
    } strs[] = {
        {"it's", "\"it's\""},
        {"a'b\"c", "'a\\'b\"c'"},
        {"\n\t\\\x01\x7f", "'\\n\\t\\\\\\x01\\x7f'"},
        {"\xc2\x80\xc2\xa0\xc3\xa9", "'\\x80\\xa0\xc3\xa9'"},
    };

    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        wv_obj_t *v = make_value(want[i].at);
        char *s = repr_of(v);
        if (strcmp(s, want[i].repr) != 0)
            WVT_FAIL("repr of %s: %s", table[want[i].at].py, s);
        wv_free(s);
        wv_obj_free(v);
    }
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) {
        wv_obj_t *v = vf(floats[i].f);
        char *s = repr_of(v);
        if (strcmp(s, floats[i].repr) != 0)
            WVT_FAIL("repr of %.17g: %s, not %s", floats[i].f, s,
                     floats[i].repr);
        wv_free(s);
        wv_obj_free(v);
    }
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        wv_obj_t *v = vs(strs[i].s);
        char *s = repr_of(v);
        if (strcmp(s, strs[i].repr) != 0)
            WVT_FAIL("repr: %s, not %s", s, strs[i].repr);
        wv_free(s);
        wv_obj_free(v);
    }
    /* A big integer's decimal digits: 2**2000 has 603. */
    wv_obj_t *big = vpow2(2000, 1);
    char *s = repr_of(big);
    WVT_EQ(strlen(s), 603);
    WVT_ASSERT(strncmp(s,
                       "114813069527425452423283320117768198402231770208869"
                       "520047764273682576626139237031385665948631650626991",
                       102) == 0);
    wv_free(s);
    wv_obj_free(big);
}

/* ------------------------------------------------------------- interop */

static const char py_dump_all[] =
    "out = sys.stdout.buffer\n"
    "for p in (2, 3, 4, 5):\n"
    "    for v in VALS:\n"
    "        b = pickle.dumps(v, p)\n"
    "        out.write(struct.pack('<I', len(b)) + b)\n";

static const char py_check_all[] =
    "SHARED = %s\n"
    "def same(a, b):\n"
    "    if type(a) is not type(b): return False\n"
    "    if isinstance(a, BaseException): return a.args == b.args\n"
    "    if type(a).__name__ == 'Token':\n"
    "        return a.__getstate__() == b.__getstate__()\n"
    "    if isinstance(a, float) and math.isnan(a): return math.isnan(b)\n"
    "    if a != b: return False\n"
    "    return repr(a) == repr(b) or isinstance(a, (set, frozenset))\n"
    "data = sys.stdin.buffer.read()\n"
    "bad = pos = 0\n"
    "while pos < len(data):\n"
    "    p, i, n = struct.unpack_from('<BII', data, pos)\n"
    "    b = data[pos + 9:pos + 9 + n]\n"
    "    pos += 9 + n\n"
    "    try:\n"
    "        v = pickle.loads(b)\n"
    "    except Exception as e:\n"
    "        print('protocol', p, 'value', i, 'does not load:', repr(e))\n"
    "        bad += 1\n"
    "        continue\n"
    "    if not same(v, VALS[i]):\n"
    "        print('protocol', p, 'value', i, 'loads as', repr(v)[:200])\n"
    "        bad += 1\n"
    "    if i in SHARED and v[0] is not v[1]:\n"
    "        print('protocol', p, 'value', i, 'lost its sharing')\n"
    "        bad += 1\n"
    "print('checked', pos and 'all')\n"
    "sys.exit(1 if bad else 0)\n";

static char *script(const char *body)
{
    char *table_py = py_table(), *s;
    size_t n = strlen(table_py) + strlen(body) + 256;

    s = malloc(n);
    snprintf(s, n, "%s%s", table_py, body);
    free(table_py);
    return s;
}

static char *check_script(void)
{
    char shared[256] = "{", body[4096];
    char *s;

    for (size_t i = 0; i < NVALUES; i++)
        if (table[i].shared)
            snprintf(shared + strlen(shared), sizeof shared - strlen(shared),
                     "%zu, ", i);
    strcat(shared, "-1}");
    snprintf(body, sizeof body, py_check_all, shared);
    s = script(body);
    return s;
}

/* Python's pickles of the table are ours to load and to match. */
static void python_to_c(const char *py)
{
    char *sc = script(py_dump_all);
    wv_completed_t res;
    size_t pos = 0, count = 0;

    WVT_OK(run_python(py, sc, NULL, 0, &res));
    if (res.returncode != 0)
        WVT_FAIL("%s: %s", py, res.err);
    for (int p = 2; p <= 5; p++) {
        for (size_t i = 0; i < NVALUES; i++) {
            uint32_t n;
            wv_obj_t *got, *want;
            const char *why;
            WVT_ASSERT(pos + 4 <= res.out_len);
            memcpy(&n, res.out + pos, 4);
            pos += 4;
            WVT_ASSERT(pos + n <= res.out_len);
            int err = wv_pickle_loads(&got, res.out + pos, n, NULL, &why);
            if (err)
                WVT_FAIL("%s protocol %d, %s: %s (%s)", py, p, table[i].py,
                         wv_err_name(err), why);
            pos += n;
            want = make_value(i);
            if (i == NAN_AT) {
                WVT_ASSERT(got->kind == WV_OBJ_FLOAT && isnan(got->u.f));
            } else if (!wv_obj_equal(got, want)) {
                char *r = repr_of(got);
                WVT_FAIL("%s protocol %d, %s: loaded %.200s", py, p,
                         table[i].py, r);
            }
            if (table[i].shared)
                WVT_ASSERT(got->u.seq.items[0] == got->u.seq.items[1]);
            WVT_EQ(got->kind, want->kind);
            wv_obj_free(got);
            wv_obj_free(want);
            count++;
        }
    }
    WVT_EQ(pos, res.out_len);
    wv_completed_free(&res);
    free(sc);
    fprintf(stderr, "%s -> weave: %zu pickles loaded and equal\n", py, count);
}

/* Our pickles of the table, protocols 2 - 5, loaded by Python. */
static void c_to_python(const char *py)
{
    char *sc = check_script(), *buf = NULL;
    size_t len = 0;
    wv_completed_t res;

    for (uint8_t p = 2; p <= 5; p++) {
        for (uint32_t i = 0; i < NVALUES; i++) {
            wv_obj_t *v = make_value(i);
            char *out;
            size_t n;
            uint32_t n32;
            WVT_OK(wv_pickle_dumps(v, p, &out, &n));
            n32 = (uint32_t)n;
            buf = realloc(buf, len + 9 + n);
            buf[len] = (char)p;
            memcpy(buf + len + 1, &i, 4);
            memcpy(buf + len + 5, &n32, 4);
            memcpy(buf + len + 9, out, n);
            len += 9 + n;
            wv_free(out);
            wv_obj_free(v);
        }
    }
    WVT_OK(run_python(py, sc, buf, len, &res));
    if (res.returncode != 0)
        WVT_FAIL("%s: %s%s", py, res.out, res.err);
    fprintf(stderr, "weave -> %s: %zu pickles loaded and equal\n", py,
            (size_t)4 * NVALUES);
    wv_completed_free(&res);
    free(buf);
    free(sc);
}

WVT_TEST_TIMEOUT(value_interop_cpython, 300)
{
    pythons_t ps;
    int ran = 0;

    find_pythons(&ps);
    for (int i = 0; i < ps.n; i++) {
        if (!python_works(ps.path[i])) {
            fprintf(stderr, "note: %s does not run, skipped\n", ps.path[i]);
            continue;
        }
        python_to_c(ps.path[i]);
        c_to_python(ps.path[i]);
        ran++;
    }
    fprintf(stderr, "interop ran with %d interpreters\n", ran);
}

WVT_TEST_TIMEOUT(value_bytes_match_cpython, 120)
{
    pythons_t ps;

    find_pythons(&ps);
    for (int k = 0; k < ps.n; k++) {
        const char *py = ps.path[k];
        char *sc;
        wv_completed_t res;
        size_t pos = 0, same = 0;

        if (!python_works(py)) {
            fprintf(stderr, "note: %s does not run, skipped\n", py);
            continue;
        }
        sc = script("for v in VALS:\n"
                    "    b = pickle.dumps(v, 4)\n"
                    "    sys.stdout.buffer.write(struct.pack('<I', len(b)) + "
                    "b)\n");
        WVT_OK(run_python(py, sc, NULL, 0, &res));
        WVT_EQ(res.returncode, 0);
        for (size_t i = 0; i < NVALUES; i++) {
            uint32_t n;
            char *out;
            size_t len;
            wv_obj_t *v = make_value(i);
            memcpy(&n, res.out + pos, 4);
            pos += 4;
            WVT_OK(wv_pickle_dumps(v, 4, &out, &len));
            if (table[i].same_bytes) {
                if (len != n || memcmp(out, res.out + pos, n) != 0) {
                    size_t at = 0;
                    while (at < len && at < n && out[at] == res.out[pos + at])
                        at++;
                    WVT_FAIL("%s: %s: %zu bytes, CPython %u; first "
                             "difference at %zu",
                             py, table[i].py, len, n, at);
                }
                same++;
            }
            pos += n;
            wv_free(out);
            wv_obj_free(v);
        }
        fprintf(stderr, "%s: %zu protocol-4 pickles byte-identical\n", py,
                same);
        wv_completed_free(&res);
        free(sc);
    }
}

/* Protocol 0 and the text opcodes a protocol-0/1 pickler writes that we
 * take (GLOBAL, PUT, GET, LIST, DICT): what Python 3 reads, we read. */
WVT_TEST(value_loads_old_protocols)
{
    /* x = [1]; x.append(x): the list refers to itself, refused. */
    static const char p1[] = "(lp0\nK\x01"
                             "ag0\na.";
    /* d = {'a': 2}; [1, (d,), d] */
    static const char p2[] = "(lp0\nK\x01"
                             "a(dp1\nX\x01\x00\x00\x00"
                             "aq\x02"
                             "K\x02s\x85q\x03"
                             "ag1\na.";
    wv_obj_t *v;
    const char *why;
    char *r;

    WVT_ERR(wv_pickle_loads(&v, p1, sizeof p1 - 1, NULL, &why), WV_EPROTO);
    WVT_OK(wv_pickle_loads(&v, p2, sizeof p2 - 1, NULL, &why));
    r = repr_of(v);
    if (strcmp(r, "[1, ({'a': 2},), {'a': 2}]") != 0)
        WVT_FAIL("%s", r);
    WVT_ASSERT(v->u.seq.items[1]->u.seq.items[0] == v->u.seq.items[2]);
    wv_free(r);
    wv_obj_free(v);
    /* Protocol 2 names: __builtin__ and exceptions are builtins. */
    static const char p3[] = "\x80\x02"
                             "cexceptions\nValueError\nq\x00"
                             "X\x01\x00\x00\x00"
                             "aq\x01\x85q\x02Rq\x03.";
    WVT_OK(wv_pickle_loads(&v, p3, sizeof p3 - 1, NULL, &why));
    WVT_ASSERT(wv_obj_is_global(v, "builtins", "ValueError"));
    wv_obj_free(v);
}

/* ------------------------------------------------------------- hostile */

static int loads_err(const void *data, size_t len,
                     const wv_pickle_limits_t *lim, const char **why)
{
    wv_obj_t *v = NULL;
    int err = wv_pickle_loads(&v, data, len, lim, why);

    if (err == 0)
        wv_obj_free(v);
    return err;
}

WVT_TEST_TIMEOUT(value_truncations_refused, 120)
{
    /* Every cut of every pickle is quadratic work: the sanitizer builds
     * (5-15x slower) cut every byte of the first 256, then every 13th. */
    size_t far = wvt_sanitized() ? 13 : 1;
    for (size_t i = 0; i < NVALUES; i++) {
        wv_obj_t *v;
        char *out;
        size_t len;
        if (i == 27 || i == 31 || i == 44 || i == 60 || i == 61)
            continue; /* big: a few of them are enough */
        v = make_value(i);
        for (int p = 2; p <= 5; p++) {
            WVT_OK(wv_pickle_dumps(v, p, &out, &len));
            for (size_t cut = 0; cut < len; cut += cut < 256 ? 1 : far) {
                const char *why;
                int err = loads_err(out, cut, NULL, &why);
                if (err != WV_EPROTO)
                    WVT_FAIL("%s protocol %d cut at %zu: %s", table[i].py, p,
                             cut, wv_err_name(err));
            }
            WVT_OK(loads_err(out, len, NULL, NULL));
            wv_free(out);
        }
        wv_obj_free(v);
    }
}

/* PROTO 4, 'a', then n levels each a pair of the level before (each
 * memoized and popped), and the last level. */
static size_t laughs(uint8_t *buf, int levels)
{
    size_t n = 0;

    buf[n++] = 0x80;
    buf[n++] = 4;
    buf[n++] = 0x8c;
    buf[n++] = 1;
    buf[n++] = 'a';
    buf[n++] = 0x94;
    buf[n++] = 0x30;
    for (int i = 0; i < levels; i++) {
        buf[n++] = 0x68;
        buf[n++] = (uint8_t)i;
        buf[n++] = 0x68;
        buf[n++] = (uint8_t)i;
        buf[n++] = 0x86;
        buf[n++] = 0x94;
        buf[n++] = 0x30;
    }
    buf[n++] = 0x68;
    buf[n++] = (uint8_t)levels;
    buf[n++] = 0x2e;
    return n;
}

WVT_TEST(value_billion_laughs_refused)
{
    uint8_t buf[512];
    size_t n = laughs(buf, 60);
    const char *why = NULL;
    wv_obj_t *v;
    int64_t t0 = wv_now();

    WVT_ERR(loads_err(buf, n, NULL, &why), WV_EPROTO);
    WVT_ASSERT(why && strstr(why, "max_items"));
    WVT_LT(wv_now() - t0, 1000);
    /* Ten levels are fine: 2047 nodes as seen, 11 made. */
    n = laughs(buf, 10);
    WVT_OK(wv_pickle_loads(&v, buf, n, NULL, NULL));
    WVT_ASSERT(v->u.seq.items[0] == v->u.seq.items[1]);
    wv_obj_free(v);
}

WVT_TEST(value_deep_nesting_refused)
{
    size_t depth = 100000, n = 0;
    uint8_t *buf = malloc(3 * depth + 16);
    const char *why = NULL;

    /* Lists in lists: ] ] ] ... a a a */
    buf[n++] = 0x80;
    buf[n++] = 4;
    for (size_t i = 0; i < depth; i++)
        buf[n++] = 0x5d;
    for (size_t i = 1; i < depth; i++)
        buf[n++] = 0x61;
    buf[n++] = 0x2e;
    WVT_ERR(loads_err(buf, n, NULL, &why), WV_EPROTO);
    WVT_ASSERT(why && strstr(why, "max_depth"));
    /* Tuples of tuples, without a mark or a deeper stack. */
    n = 2;
    buf[n++] = 0x4e;
    for (size_t i = 0; i < depth; i++)
        buf[n++] = 0x85;
    buf[n++] = 0x2e;
    WVT_ERR(loads_err(buf, n, NULL, &why), WV_EPROTO);
    WVT_ASSERT(why && strstr(why, "max_depth"));
    /* Marks. */
    n = 2;
    for (size_t i = 0; i < depth; i++)
        buf[n++] = 0x28;
    buf[n++] = 0x2e;
    WVT_ERR(loads_err(buf, n, NULL, &why), WV_EPROTO);
    WVT_ASSERT(why && strstr(why, "max_depth"));
    free(buf);
}

WVT_TEST(value_cycles_and_foreign_opcodes_refused)
{
    static const struct {
        const char *what;
        const char *bytes;
        size_t len;
    } bad[] = {
#define B(what, s) {what, s, sizeof s - 1}
        B("list holding itself", "\x80\x04]\x94h\x00"
                                 "a."),
        B("dict holding itself", "\x80\x04}\x94K\x01h\x00s."),
        B("object with itself as state",
          "\x80\x04\x8c\x01m\x8c\x01n\x93)R\x94h\x00"
          "b."),
        B("a complete list refilled", "\x80\x04]\x94]\x94"
                                      "a\x85h\x01h\x00"
                                      "a."),
        B("PERSID", "\x80\x04P0\n."),
        B("BINPERSID", "\x80\x04K\x01Q."),
        B("INST", "\x80\x04(ios\nsystem\n."),
        B("OBJ", "\x80\x04(cos\nsystem\no."),
        B("EXT1", "\x80\x04\x82\x01."),
        B("EXT2", "\x80\x04\x83\x01\x00."),
        B("EXT4", "\x80\x04\x84\x01\x00\x00\x00."),
        B("NEWOBJ_EX", "\x80\x04\x8c\x01m\x8c\x01n\x93)}\x92."),
        B("protocol 6", "\x80\x06N."),
        B("text INT", "I1\n."),
        B("STRING", "S'a'\n."),
        B("unknown opcode", "\x80\x04\xff."),
        B("two values at STOP", "\x80\x04NN."),
        B("open MARK at STOP", "\x80\x04(N."),
        B("stack underflow", "\x80\x04\x86."),
        B("pop below mark", "\x80\x04N(\x85."),
        B("unset memo", "\x80\x04h\x05."),
        B("unhashable key", "\x80\x04}]]s."),
        B("SETITEMS odd", "\x80\x04}(K\x01u."),
        B("APPEND to a tuple", "\x80\x04)K\x01"
                               "a."),
        B("bad UTF-8", "\x80\x04\x8c\x01\xff."),
        B("string past the end", "\x80\x04X\xff\x00\x00\x00"
                                 "ab."),
        B("frame overrun", "\x80\x04\x95\xff\x00\x00\x00\x00\x00\x00\x00N."),
        B("BUILD on a list", "\x80\x04]N b."),
        B("REDUCE of an int", "\x80\x04K\x01)R."),
        B("REDUCE without a tuple", "\x80\x04\x8c\x01m\x8c\x01n\x93NR."),
        B("global with NUL", "\x80\x04\x8c\x01m\x8c\x01\x00\x93."),
        B("DUP", "\x80\x04]2a."),
#undef B
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *why = NULL;
        int err = loads_err(bad[i].bytes, bad[i].len, NULL, &why);
        if (err != WV_EPROTO || !why)
            WVT_FAIL("%s: %s", bad[i].what, wv_err_name(err));
    }
    WVT_ERR(loads_err(NULL, 1, NULL, NULL), WV_EINVAL);
    WVT_ERR(wv_pickle_loads(NULL, "N.", 2, NULL, NULL), WV_EINVAL);
    WVT_ERR(loads_err(NULL, 0, NULL, NULL), WV_EPROTO);
}

WVT_TEST(value_os_system_stays_inert)
{
    char path[64], cmd[96], pk[160];
    size_t n = 0, clen;
    wv_obj_t *v;
    char *r;

    snprintf(path, sizeof path, "/tmp/wv_pickle_ran_%d", (int)getpid());
    unlink(path);
    clen = (size_t)snprintf(cmd, sizeof cmd, "touch %s", path);
    /* pickle.loads of this runs os.system(cmd) in Python. */
    memcpy(pk,
           "\x80\x02"
           "cos\nsystem\nX",
           14);
    n = 14;
    pk[n++] = (char)clen;
    pk[n++] = 0;
    pk[n++] = 0;
    pk[n++] = 0;
    memcpy(pk + n, cmd, clen);
    n += clen;
    memcpy(pk + n, "\x85R.", 3);
    n += 3;
    WVT_OK(wv_pickle_loads(&v, pk, n, NULL, NULL));
    WVT_EQ(v->kind, WV_OBJ_INSTANCE);
    WVT_ASSERT(wv_obj_is_global(v, "os", "system"));
    r = repr_of(v);
    WVT_ASSERT(strstr(r, "os.system('touch "));
    wv_free(r);
    /* Written back, it is the same call, still not run here. */
    WVT_OK(wv_pickle_dumps(v, 4, &r, &n));
    wv_free(r);
    wv_obj_free(v);
    struct stat st;
    WVT_ASSERT(stat(path, &st) != 0);
}

WVT_TEST(value_limits)
{
    wv_pickle_limits_t lim = {0};
    wv_obj_t *v = vrange(WV_OBJ_LIST, 100), *back;
    char *out;
    size_t len;
    const char *why;

    WVT_OK(wv_pickle_dumps(v, 4, &out, &len));
    lim.max_items = 50;
    WVT_ERR(wv_pickle_loads(&back, out, len, &lim, &why), WV_EPROTO);
    WVT_ASSERT(strstr(why, "max_items"));
    lim.max_items = 101;
    WVT_OK(wv_pickle_loads(&back, out, len, &lim, &why));
    wv_obj_free(back);
    lim.max_items = 0;
    lim.max_depth = 1;
    WVT_OK(wv_pickle_loads(&back, out, len, &lim, &why));
    wv_obj_free(back);
    wv_free(out);
    wv_obj_free(v);
    /* Depth: [[1]] needs 2. */
    v = L(1, L(1, vi(1)));
    WVT_OK(wv_pickle_dumps(v, 4, &out, &len));
    WVT_ERR(wv_pickle_loads(&back, out, len, &lim, &why), WV_EPROTO);
    WVT_ASSERT(strstr(why, "max_depth"));
    wv_free(out);
    wv_obj_free(v);
    /* Integer bytes. */
    lim.max_depth = 0;
    lim.max_int_bytes = 100;
    v = vpow2(2000, 1);
    WVT_OK(wv_pickle_dumps(v, 4, &out, &len));
    WVT_ERR(wv_pickle_loads(&back, out, len, &lim, &why), WV_EPROTO);
    WVT_ASSERT(strstr(why, "max_int_bytes"));
    wv_free(out);
    wv_obj_free(v);
    /* Memo entries. */
    lim.max_int_bytes = 0;
    lim.max_memo = 10;
    v = vrange(WV_OBJ_LIST, 0);
    for (int i = 0; i < 20; i++)
        WVT_OK(wv_obj_append(v, vs("s")));
    WVT_OK(wv_pickle_dumps(v, 4, &out, &len));
    WVT_ERR(wv_pickle_loads(&back, out, len, &lim, &why), WV_EPROTO);
    WVT_ASSERT(strstr(why, "max_memo"));
    wv_free(out);
    wv_obj_free(v);
    /* Growth: a memo index far beyond what the pickle can fill. */
    lim.max_memo = 0;
    static const char far[] = "\x80\x04N\x72\x00\x00\x08\x00.";
    WVT_ERR(wv_pickle_loads(&back, far, sizeof far - 1, &lim, &why), WV_EPROTO);
    WVT_ASSERT(strstr(why, "max_growth"));
}

/* ------------------------------------------------------ failed mallocs */

typedef struct blob {
    char *data;
    size_t len;
} blob_t;

static int fault_loads(void *arg)
{
    blob_t *b = arg;
    wv_obj_t *v;
    int err = wv_pickle_loads(&v, b->data, b->len, NULL, NULL);

    if (!err)
        wv_obj_free(v);
    return err;
}

static int fault_dumps(void *arg)
{
    char *out;
    size_t len;
    int err = wv_pickle_dumps(arg, 4, &out, &len);

    if (!err)
        wv_free(out);
    return err;
}

static int fault_repr(void *arg)
{
    char *out;
    int err = wv_obj_repr(arg, &out);

    if (!err)
        wv_free(out);
    return err;
}

WVT_TEST_TIMEOUT(value_failed_allocations, 120)
{
    wv_obj_t *v = make_value(57);
    blob_t b;
    long points;

    WVT_OK(wv_pickle_dumps(v, 4, &b.data, &b.len));
    points = wvt_faultsim(fault_loads, &b);
    WVT_GT(points, 20);
    points = wvt_faultsim(fault_dumps, v);
    WVT_GT(points, 0);
    points = wvt_faultsim(fault_repr, v);
    WVT_GT(points, 0);
    wv_free(b.data);
    wv_obj_free(v);
    /* Protocol 2 and the calls it reads as data. */
    v = L(4, vseq(WV_OBJ_SET, 2, vi(1), vs("a")), vb("\xff", 1), vba("x", 1),
          vseq(WV_OBJ_FROZENSET, 1, vi(2)));
    WVT_OK(wv_pickle_dumps(v, 2, &b.data, &b.len));
    WVT_GT(wvt_faultsim(fault_loads, &b), 10);
    wv_free(b.data);
    wv_obj_free(v);
}

/* Our own round trip over the table, every protocol, and sharing kept. */
WVT_TEST(value_round_trip)
{
    for (size_t i = 0; i < NVALUES; i++) {
        wv_obj_t *v = make_value(i), *back;
        for (int p = 0; p <= 5; p++) {
            char *out, *again;
            size_t len, len2;
            if (p == 1) {
                WVT_ERR(wv_pickle_dumps(v, 1, &out, &len), WV_EINVAL);
                continue;
            }
            WVT_OK(wv_pickle_dumps(v, p, &out, &len));
            const char *why = NULL;
            int err = wv_pickle_loads(&back, out, len, NULL, &why);
            if (err)
                WVT_FAIL("%s protocol %d: %s", table[i].py, p, why);
            WVT_ASSERT(i == NAN_AT || wv_obj_equal(v, back));
            WVT_EQ(back->kind, v->kind);
            WVT_OK(wv_pickle_dumps(back, p, &again, &len2));
            WVT_EQ(len, len2);
            WVT_ASSERT(memcmp(out, again, len) == 0);
            wv_free(out);
            wv_free(again);
            wv_obj_free(back);
        }
        wv_obj_free(v);
    }
}

/* A sequence made with room for a few entries keeps them in its node's
 * allocation; appends past the room move them out, every entry kept;
 * decoded tuples either side of the in-place limit read back whole. */
WVT_TEST(value_small_sequences_outgrow_their_node)
{
    wv_obj_t *l, *t, *d, *st, *got;
    WVT_OK(wv_obj_new_list(&l, 2));
    WVT_OK(wv_obj_new_tuple(&t, 3));
    WVT_OK(wv_obj_new_dict(&d, 1));
    WVT_OK(wv_obj_new_set(&st, 2));
    for (int i = 0; i < 40; i++) {
        WVT_OK(wv_obj_append(l, vi(i)));
        WVT_OK(wv_obj_append(t, vi(i * 3)));
        WVT_OK(wv_obj_dict_set(d, vi(i), vi(-i)));
        WVT_OK(wv_obj_append(st, vi(i % 30)));
    }
    WVT_EQ(l->u.seq.len, 40);
    WVT_EQ(t->u.seq.len, 40);
    WVT_EQ(d->u.seq.len, 40);
    WVT_EQ(st->u.seq.len, 30);
    for (int i = 0; i < 40; i++) {
        int64_t x;
        WVT_OK(wv_obj_get_int(l->u.seq.items[i], &x));
        WVT_EQ(x, i);
        WVT_OK(wv_obj_get_int(t->u.seq.items[i], &x));
        WVT_EQ(x, i * 3);
        wv_obj_t *k = vi(i);
        WVT_ASSERT((got = wv_obj_dict_find(d, k)) != NULL);
        WVT_OK(wv_obj_get_int(got, &x));
        WVT_EQ(x, -i);
        wv_obj_free(k);
    }
    wv_obj_free(l);
    wv_obj_free(t);
    wv_obj_free(d);
    wv_obj_free(st);
    /* Tuples of 15, 16 and 17 ints (TUPLE after MARK), through a pickle. */
    for (size_t n = 15; n <= 17; n++) {
        char *out;
        size_t len;
        WVT_OK(wv_obj_new_tuple(&t, 0));
        for (size_t i = 0; i < n; i++)
            WVT_OK(wv_obj_append(t, vi((int64_t)(i * 7))));
        WVT_OK(wv_pickle_dumps(t, 4, &out, &len));
        WVT_OK(wv_pickle_loads(&got, out, len, NULL, NULL));
        WVT_ASSERT(wv_obj_equal(t, got));
        WVT_EQ(got->u.seq.len, n);
        wv_free(out);
        wv_obj_free(got);
        wv_obj_free(t);
    }
}

/* An allocator hook that packs blocks back to back (8-byte aligned, no
 * header: a bump arena, as a user may set), counting the live ones: a
 * sequence whose array lands right after its node must still free it. */
enum { ARENA = 1 << 20, BLOCKS = 4096 };
static _Alignas(16) char arena[ARENA];
static size_t arena_used, nblocks, live;
static struct {
    void *p;
    size_t n;
} blocks[BLOCKS];

static void *packed_malloc(size_t n)
{
    n = (n + 7) & ~(size_t)7;
    if (arena_used + n > ARENA || nblocks == BLOCKS)
        return NULL;
    void *p = arena + arena_used;
    arena_used += n;
    blocks[nblocks].p = p;
    blocks[nblocks++].n = n;
    live++;
    return p;
}

static void packed_free(void *p)
{
    if (p)
        live--;
}

static void *packed_realloc(void *p, size_t n)
{
    void *q = packed_malloc(n);
    if (q && p) {
        for (size_t i = 0; i < nblocks; i++)
            if (blocks[i].p == p)
                memcpy(q, p, blocks[i].n < n ? blocks[i].n : n);
        packed_free(p);
    }
    return q;
}

static void *packed_calloc(size_t k, size_t n)
{
    void *p = packed_malloc(k * n);
    if (p)
        memset(p, 0, k * n);
    return p;
}

WVT_TEST(value_packed_allocator_frees_every_block)
{
    arena_used = nblocks = live = 0;
    WVT_OK(wv_set_allocator(packed_malloc, packed_realloc, packed_calloc,
                            packed_free));
    wv_obj_t *l, *t, *x;
    WVT_OK(wv_obj_new_list(&l, 20)); /* the node, then its array at once */
    WVT_OK(wv_obj_new_tuple(&t, 2)); /* items in place */
    for (int i = 0; i < 20; i++) {   /* within the room: the array stays */
        WVT_OK(wv_obj_new_int(&x, i));
        WVT_OK(wv_obj_append(l, x));
    }
    /* Where this case means it to be: the block right after the node's. */
    size_t node_n = 0;
    for (size_t i = 0; i < nblocks; i++)
        if (blocks[i].p == (void *)l)
            node_n = blocks[i].n;
    WVT_ASSERT(node_n > 0);
    WVT_ASSERT((char *)l->u.seq.items == (char *)l + node_n);
    WVT_OK(wv_obj_new_int(&x, 1));
    WVT_OK(wv_obj_append(t, x));
    WVT_OK(wv_obj_append(t, l));
    wv_obj_free(t);
    size_t left = live;
    WVT_OK(wv_set_allocator(NULL, NULL, NULL, NULL));
    WVT_EQ(left, 0);
}

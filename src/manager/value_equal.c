/*
 * manager/value_equal.c - Python's == over values, and a hash that agrees
 * with it.
 *
 * Numbers compare by value across kinds (True == 1 == 1.0, a float and a
 * BIGINT exactly), so equal numbers must hash alike: an integral value
 * hashes as its integer, any other (and an integer beyond int64_t) as its
 * double.  Bytes equal a bytearray of the same bytes, a set equals a
 * frozenset of the same items, as in Python.  The hash is not Python's.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------- numbers */

static bool is_set(wv_objkind_t kind)
{
    return kind == WV_OBJ_SET || kind == WV_OBJ_FROZENSET;
}

static bool is_number(wv_objkind_t kind)
{
    return kind == WV_OBJ_BOOL || kind == WV_OBJ_INT || kind == WV_OBJ_BIGINT ||
           kind == WV_OBJ_FLOAT;
}

/* A BIGINT's value as a double (exact when the value is one: every
 * step's partial value, the number shifted right, is then exact too). */
static double bigint_double(const wv_obj_t *v)
{
    const uint8_t *b = (const uint8_t *)v->u.s.data;
    size_t i = v->u.s.len;
    double d;

    if (i == 0)
        return 0;
    d = (int8_t)b[--i];
    while (i-- > 0)
        d = d * 256 + b[i];
    return d;
}

/* Whole numbers, by the bits (no libm). */
static bool is_integral(double f)
{
    if (!isfinite(f))
        return false;
    if (f >= 0x1p52 || f <= -0x1p52)
        return true; /* no fraction bits left */
    return (double)(int64_t)f == f;
}

/*
 * A double of magnitude 2^63 or more (so a normal one, and whole) as
 * minimal little-endian two's complement in out (room for 140 bytes);
 * returns its length.  Its bits: the 53-bit significand m, shifted left
 * by the exponent less 1075.
 */
static size_t double_le(double f, uint8_t *out)
{
    uint64_t bits, m;
    int shift;
    size_t len, i;
    unsigned carry = 1;

    memcpy(&bits, &f, sizeof bits);
    m = (bits & (((uint64_t)1 << 52) - 1)) | (uint64_t)1 << 52;
    shift = (int)(bits >> 52 & 0x7FF) - 1075;
    len = (size_t)(shift + 53) / 8 + 2;
    memset(out, 0, len);
    for (i = 0; i < 53; i++) {
        if (m >> i & 1) {
            int bit = shift + (int)i;
            out[bit / 8] |= (uint8_t)(1u << (bit % 8));
        }
    }
    if (f < 0) {
        for (i = 0; i < len; i++) {
            unsigned x = (uint8_t)~out[i] + carry;
            out[i] = (uint8_t)x;
            carry = x > 0xFF;
        }
    }
    while (len > 1 && ((out[len - 1] == 0 && !(out[len - 2] & 0x80)) ||
                       (out[len - 1] == 0xFF && (out[len - 2] & 0x80))))
        len--;
    return len;
}

static bool float_equals_bigint(double f, const wv_obj_t *big)
{
    uint8_t le[140];
    size_t len;

    if (!isfinite(f) || (f < 0x1p63 && f > -0x1p63))
        return false;
    len = double_le(f, le);
    return len == big->u.s.len && memcmp(le, big->u.s.data, len) == 0;
}

static bool float_equals_int(double f, int64_t i)
{
    if (!(f >= -0x1p63 && f < 0x1p63))
        return false;
    return is_integral(f) && (int64_t)f == i;
}

static bool num_equal(const wv_obj_t *a, const wv_obj_t *b)
{
    int64_t ia, ib;

    if (a->kind == WV_OBJ_FLOAT && b->kind == WV_OBJ_FLOAT)
        return a->u.f == b->u.f;
    if (b->kind == WV_OBJ_FLOAT) {
        const wv_obj_t *t = a;
        a = b;
        b = t;
    }
    if (a->kind == WV_OBJ_FLOAT)
        return b->kind == WV_OBJ_BIGINT
                   ? float_equals_bigint(a->u.f, b)
                   : (wv_obj_get_int(b, &ib), float_equals_int(a->u.f, ib));
    if (a->kind == WV_OBJ_BIGINT || b->kind == WV_OBJ_BIGINT)
        return a->kind == b->kind && a->u.s.len == b->u.s.len &&
               memcmp(a->u.s.data, b->u.s.data, a->u.s.len) == 0;
    wv_obj_get_int(a, &ia);
    wv_obj_get_int(b, &ib);
    return ia == ib;
}

/* ---------------------------------------------------------------- equal */

static bool set_equal(const wv_obj_t *a, const wv_obj_t *b)
{
    size_t i;

    if (a->u.seq.len != b->u.seq.len)
        return false;
    for (i = 0; i < a->u.seq.len; i++) {
        const wv_obj_t *item = a->u.seq.items[i];
        if (wv__value_find(b, item, wv_obj_hash(item)) == SIZE_MAX)
            return false;
    }
    return true;
}

static bool dict_equal(const wv_obj_t *a, const wv_obj_t *b)
{
    size_t i;

    if (a->u.seq.len != b->u.seq.len)
        return false;
    for (i = 0; i < a->u.seq.len; i++) {
        const wv_obj_t *key = a->u.seq.items[2 * i];
        size_t pos = wv__value_find(b, key, wv_obj_hash(key));
        if (pos == SIZE_MAX || !wv_obj_equal(a->u.seq.items[2 * i + 1],
                                             b->u.seq.items[2 * pos + 1]))
            return false;
    }
    return true;
}

static bool items_equal(const wv_obj_t *a, const wv_obj_t *b)
{
    size_t i;

    if (a->u.seq.len != b->u.seq.len)
        return false;
    for (i = 0; i < a->u.seq.len; i++)
        if (!wv_obj_equal(a->u.seq.items[i], b->u.seq.items[i]))
            return false;
    return true;
}

static bool is_binary(wv_objkind_t kind)
{
    return kind == WV_OBJ_BYTES || kind == WV_OBJ_BYTEARRAY;
}

bool wv_obj_equal(const wv_obj_t *a, const wv_obj_t *b)
{
    if (!a || !b)
        return false;
    if (is_number(a->kind) && is_number(b->kind))
        return num_equal(a, b);
    if (is_binary(a->kind) && is_binary(b->kind))
        return a->u.s.len == b->u.s.len &&
               memcmp(a->u.s.data, b->u.s.data, a->u.s.len) == 0;
    if (is_set(a->kind) && is_set(b->kind))
        return set_equal(a, b);
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case WV_OBJ_NONE:
        return true;
    case WV_OBJ_STR:
        return a->u.s.len == b->u.s.len &&
               memcmp(a->u.s.data, b->u.s.data, a->u.s.len) == 0;
    case WV_OBJ_TUPLE:
    case WV_OBJ_LIST:
        return items_equal(a, b);
    case WV_OBJ_DICT:
        return dict_equal(a, b);
    case WV_OBJ_GLOBAL:
        return strcmp(a->u.global.module, b->u.global.module) == 0 &&
               strcmp(a->u.global.name, b->u.global.name) == 0;
    case WV_OBJ_INSTANCE:
        return wv_obj_equal(a->u.inst.cls, b->u.inst.cls) &&
               wv_obj_equal(a->u.inst.args, b->u.inst.args) &&
               (a->u.inst.state == b->u.inst.state ||
                wv_obj_equal(a->u.inst.state, b->u.inst.state));
    default:
        return false;
    }
}

/* ----------------------------------------------------------------- hash */

/* splitmix64's finaliser. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* FNV-1a, then mixed, seeded by what the bytes are. */
static uint64_t hash_bytes(const void *data, size_t len, uint64_t seed)
{
    const uint8_t *p = data;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    size_t i;

    for (i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return mix(h + len);
}

uint64_t wv__hash_str(const char *s, size_t len)
{
    return hash_bytes(s, len, 'S');
}

/* Equal numbers of any kind hash alike: integral values by their integer,
 * others (and integers beyond int64_t) by their double. */
static uint64_t num_hash(const wv_obj_t *v)
{
    double d;
    int64_t i;

    if (v->kind == WV_OBJ_BOOL || v->kind == WV_OBJ_INT) {
        wv_obj_get_int(v, &i);
        return mix((uint64_t)i);
    }
    d = v->kind == WV_OBJ_FLOAT ? v->u.f : bigint_double(v);
    if (d >= -0x1p63 && d < 0x1p63 && is_integral(d))
        return mix((uint64_t)(int64_t)d);
    if (d == 0) /* -0.0 */
        d = 0;
    return hash_bytes(&d, sizeof d, 'F');
}

uint64_t wv_obj_hash(const wv_obj_t *v)
{
    uint64_t h;
    size_t i;

    if (!wv_obj_is_hashable(v))
        return 0;
    switch (v->kind) {
    case WV_OBJ_NONE:
        return mix(0x4e6f6e65);
    case WV_OBJ_STR:
        return wv__hash_str(v->u.s.data, v->u.s.len);
    case WV_OBJ_BYTES:
        return hash_bytes(v->u.s.data, v->u.s.len, 'B');
    case WV_OBJ_TUPLE:
        h = mix('T' + v->u.seq.len);
        for (i = 0; i < v->u.seq.len; i++)
            h = mix(h * 31 + wv_obj_hash(v->u.seq.items[i]));
        return h;
    case WV_OBJ_FROZENSET:
        /* Order-independent: a sum of the items' mixed hashes. */
        h = v->u.seq.len;
        for (i = 0; i < v->u.seq.len; i++)
            h += mix(wv_obj_hash(v->u.seq.items[i]) ^ 0x5e7);
        return mix(h);
    case WV_OBJ_GLOBAL:
        return hash_bytes(
            v->u.global.name, strlen(v->u.global.name),
            hash_bytes(v->u.global.module, strlen(v->u.global.module), 'G'));
    default:
        return num_hash(v);
    }
}

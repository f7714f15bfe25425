/*
 * manager/value_repr.c - Python's repr() of a value.
 *
 * Strings are quoted and escaped as Python does (single quotes unless
 * the text holds one and no double quote); printable non-ASCII text stays
 * UTF-8, other code points below U+00A1 and lone surrogates are escaped.
 * Floats take the shortest form that reads back to the same double, laid
 * out as float.__repr__ does.  Globals read module.name, objects
 * module.name(args), with .__setstate__(state) when they have a state.
 */
#include "internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct out {
    char *buf;
    size_t len;
    size_t cap;
    int err;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->err)
        return;
    if (n >= o->cap - o->len) {
        size_t cap = o->cap ? o->cap : 64;
        char *buf;
        while (n >= cap - o->len)
            cap *= 2;
        buf = wv__realloc(o->buf, cap);
        if (!buf) {
            o->err = WV_ENOMEM;
            return;
        }
        o->buf = buf;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void puts_(out_t *o, const char *s)
{
    put(o, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void putf(out_t *o,
                                                       const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    put(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* ----------------------------------------------------------- text, bytes */

static char quote_for(const char *s, size_t len)
{
    bool single = memchr(s, '\'', len) != NULL;
    bool dbl = memchr(s, '"', len) != NULL;

    return single && !dbl ? '"' : '\'';
}

/* One ASCII byte as Python writes it inside quotes q. */
static void put_ascii(out_t *o, unsigned char c, char q)
{
    switch (c) {
    case '\\':
        puts_(o, "\\\\");
        return;
    case '\n':
        puts_(o, "\\n");
        return;
    case '\r':
        puts_(o, "\\r");
        return;
    case '\t':
        puts_(o, "\\t");
        return;
    }
    if (c == (unsigned char)q) {
        char esc[2] = {'\\', (char)c};
        put(o, esc, 2);
    } else if (c < 0x20 || c >= 0x7F) {
        putf(o, "\\x%02x", c);
    } else {
        put(o, (const char *)&c, 1);
    }
}

static void put_str(out_t *o, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    char q = quote_for(s, len);
    size_t i = 0;

    put(o, &q, 1);
    while (i < len) {
        uint32_t cp;
        size_t n;
        if (p[i] < 0x80) {
            put_ascii(o, p[i++], q);
            continue;
        }
        /* Valid UTF-8 (a STR's invariant): decode one code point. */
        n = p[i] < 0xE0 ? 2 : p[i] < 0xF0 ? 3 : 4;
        if (n > len - i)
            n = len - i;
        cp = p[i] & (0x3F >> (n - 1));
        for (size_t k = 1; k < n; k++)
            cp = cp << 6 | (p[i + k] & 0x3F);
        if (cp < 0xA1 || cp == 0xAD)
            putf(o, "\\x%02x", (unsigned)cp);
        else if (cp >= 0xD800 && cp <= 0xDFFF)
            putf(o, "\\u%04x", (unsigned)cp);
        else
            put(o, s + i, n);
        i += n;
    }
    put(o, &q, 1);
}

static void put_bytes(out_t *o, const char *s, size_t len)
{
    char q = quote_for(s, len);
    size_t i;

    put(o, "b", 1);
    put(o, &q, 1);
    for (i = 0; i < len; i++)
        put_ascii(o, (unsigned char)s[i], q);
    put(o, &q, 1);
}

/* ---------------------------------------------------------------- numbers */

/*
 * float.__repr__: the fewest significant digits that read back the same
 * double, fixed notation when the decimal exponent is in [-4, 16), else
 * d.ddde+XX; a whole number in fixed notation ends in ".0".
 */
static void put_float(out_t *o, double f)
{
    char sci[40], digits[20], buf[400];
    int prec, exp, nd = 0, i;
    char *e;

    if (isnan(f)) {
        puts_(o, "nan");
        return;
    }
    if (isinf(f)) {
        puts_(o, f < 0 ? "-inf" : "inf");
        return;
    }
    for (prec = 1; prec <= 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec - 1, f);
        if (strtod(sci, NULL) == f)
            break;
    }
    /* sci is [-]d[.ddd]e[+-]XX: split digits and exponent. */
    e = strchr(sci, 'e');
    exp = atoi(e + 1);
    for (char *c = sci; c < e; c++)
        if (*c >= '0' && *c <= '9')
            digits[nd++] = *c;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    i = 0;
    if (sci[0] == '-')
        buf[i++] = '-';
    if (exp < -4 || exp >= 16) {
        buf[i++] = digits[0];
        if (nd > 1) {
            buf[i++] = '.';
            memcpy(buf + i, digits + 1, (size_t)nd - 1);
            i += nd - 1;
        }
        i += snprintf(buf + i, sizeof buf - (size_t)i, "e%c%02d",
                      exp < 0 ? '-' : '+', abs(exp));
    } else if (exp < 0) {
        buf[i++] = '0';
        buf[i++] = '.';
        for (int z = 0; z < -exp - 1; z++)
            buf[i++] = '0';
        memcpy(buf + i, digits, (size_t)nd);
        i += nd;
    } else {
        for (int d = 0; d <= exp; d++)
            buf[i++] = d < nd ? digits[d] : '0';
        buf[i++] = '.';
        if (nd > exp + 1) {
            memcpy(buf + i, digits + exp + 1, (size_t)(nd - exp - 1));
            i += nd - exp - 1;
        } else {
            buf[i++] = '0';
        }
    }
    put(o, buf, (size_t)i);
}

/* A BIGINT in decimal: its magnitude divided down by 10^9 repeatedly. */
static void put_bigint(out_t *o, const wv_obj_t *v)
{
    const uint8_t *b = (const uint8_t *)v->u.s.data;
    size_t len = v->u.s.len, n = 0, i;
    bool neg = len && (b[len - 1] & 0x80);
    uint32_t *limbs, *chunks;
    unsigned carry = 1;
    size_t nlimbs = (len + 3) / 4;

    limbs = wv__calloc(nlimbs + 1, sizeof *limbs);
    /* Each 10^9 chunk holds at least 29 bits of the number. */
    chunks = wv__calloc(nlimbs * 32 / 29 + 2, sizeof *chunks);
    if (!limbs || !chunks) {
        o->err = WV_ENOMEM;
        goto out;
    }
    for (i = 0; i < len; i++) {
        unsigned x = neg ? (uint8_t)~b[i] + carry : b[i];
        carry = neg && x > 0xFF;
        limbs[i / 4] |= (uint32_t)(uint8_t)x << (8 * (i % 4));
    }
    while (nlimbs > 0) {
        uint64_t rem = 0;
        for (i = nlimbs; i-- > 0;) {
            uint64_t cur = rem << 32 | limbs[i];
            limbs[i] = (uint32_t)(cur / 1000000000u);
            rem = cur % 1000000000u;
        }
        chunks[n++] = (uint32_t)rem;
        while (nlimbs > 0 && limbs[nlimbs - 1] == 0)
            nlimbs--;
    }
    if (neg)
        put(o, "-", 1);
    putf(o, "%u", n ? chunks[n - 1] : 0);
    for (i = n - 1; n && i-- > 0;)
        putf(o, "%09u", chunks[i]);
out:
    wv__free(limbs);
    wv__free(chunks);
}

/* ------------------------------------------------------------- the tree */

static void put_value(out_t *o, const wv_obj_t *v);

static void put_items(out_t *o, const wv_obj_t *v, const char *open,
                      const char *close)
{
    size_t i;

    puts_(o, open);
    for (i = 0; i < v->u.seq.len; i++) {
        if (i)
            puts_(o, ", ");
        if (v->kind == WV_OBJ_DICT) {
            put_value(o, v->u.seq.items[2 * i]);
            puts_(o, ": ");
            put_value(o, v->u.seq.items[2 * i + 1]);
        } else {
            put_value(o, v->u.seq.items[i]);
        }
    }
    if (v->kind == WV_OBJ_TUPLE && v->u.seq.len == 1)
        puts_(o, ",");
    puts_(o, close);
}

static void put_object(out_t *o, const wv_obj_t *v)
{
    const wv_obj_t *args = v->u.inst.args;

    put_value(o, v->u.inst.cls);
    if (args && args->kind == WV_OBJ_TUPLE && args->u.seq.len != 1) {
        put_value(o, args);
    } else if (args && args->kind == WV_OBJ_TUPLE) {
        puts_(o, "(");
        put_value(o, args->u.seq.items[0]);
        puts_(o, ")");
    } else {
        puts_(o, "()");
    }
    if (v->u.inst.state) {
        puts_(o, ".__setstate__(");
        put_value(o, v->u.inst.state);
        puts_(o, ")");
    }
}

static void put_value(out_t *o, const wv_obj_t *v)
{
    if (o->err)
        return;
    switch (v->kind) {
    case WV_OBJ_NONE:
        puts_(o, "None");
        break;
    case WV_OBJ_BOOL:
        puts_(o, v->u.b ? "True" : "False");
        break;
    case WV_OBJ_INT:
        putf(o, "%lld", (long long)v->u.i);
        break;
    case WV_OBJ_BIGINT:
        put_bigint(o, v);
        break;
    case WV_OBJ_FLOAT:
        put_float(o, v->u.f);
        break;
    case WV_OBJ_STR:
        put_str(o, v->u.s.data, v->u.s.len);
        break;
    case WV_OBJ_BYTES:
        put_bytes(o, v->u.s.data, v->u.s.len);
        break;
    case WV_OBJ_BYTEARRAY:
        puts_(o, "bytearray(");
        put_bytes(o, v->u.s.data, v->u.s.len);
        puts_(o, ")");
        break;
    case WV_OBJ_TUPLE:
        put_items(o, v, "(", ")");
        break;
    case WV_OBJ_LIST:
        put_items(o, v, "[", "]");
        break;
    case WV_OBJ_DICT:
        put_items(o, v, "{", "}");
        break;
    case WV_OBJ_SET:
        if (v->u.seq.len)
            put_items(o, v, "{", "}");
        else
            puts_(o, "set()");
        break;
    case WV_OBJ_FROZENSET:
        if (v->u.seq.len)
            put_items(o, v, "frozenset({", "})");
        else
            puts_(o, "frozenset()");
        break;
    case WV_OBJ_GLOBAL:
        puts_(o, v->u.global.module);
        puts_(o, ".");
        puts_(o, v->u.global.name);
        break;
    case WV_OBJ_INSTANCE:
        put_object(o, v);
        break;
    }
}

int wv_obj_repr(const wv_obj_t *v, char **out)
{
    out_t o = {0};

    if (!v || !out)
        return WV_EINVAL;
    put(&o, "", 0);
    put_value(&o, v);
    if (o.err) {
        wv__free(o.buf);
        return o.err;
    }
    *out = o.buf;
    return 0;
}

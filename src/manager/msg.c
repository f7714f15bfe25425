/*
 * manager/msg.c - the messages of CPython's manager protocol as values
 * (MANAGER-PROTOCOL.md, sections 3.1 to 3.3): a request is the 4-tuple
 * (ident, methodname, args, kwds), a reply the 2-tuple (kind, value), both
 * pickled with protocol 4 as CPython pickles them.
 */
#include "internal.h"
#include "mgr.h"

#include <string.h>

static const char *const reply_names[] = {
    [MGR_RETURN] = "#RETURN",       [MGR_ERROR] = "#ERROR",
    [MGR_TRACEBACK] = "#TRACEBACK", [MGR_UNSERIALIZABLE] = "#UNSERIALIZABLE",
    [MGR_PROXY] = "#PROXY",
};

/*
 * A message's envelope is made of nodes on the stack: the tuple, the
 * method's or reply kind's name, and the empty args, kwds or None that
 * stand for NULL.  The pickler only reads them, and with one reference
 * each they take no memo entry; nothing else ever sees them, so nothing
 * frees them.  The parts the caller gives are only borrowed.  (Built as
 * heap nodes, the envelope was ~700 of a W11 call's instructions on
 * each side.)
 */
typedef struct envelope {
    wv__vnode_t tuple, name, empty[3];
    wv_obj_t *items[4];
} envelope_t;

static wv_obj_t *stack_node(wv__vnode_t *n, wv_objkind_t kind)
{
    memset(n, 0, sizeof *n);
    n->v.kind = kind;
    n->v.refs = 1;
    return &n->v;
}

static wv_obj_t *part(envelope_t *e, size_t i, const wv_obj_t *v,
                      wv_objkind_t kind)
{
    return v ? (wv_obj_t *)v : stack_node(&e->empty[i], kind);
}

/* Pickles the envelope's n items, name at items[at], after the frame's 4
 * length bytes. */
static int encode(envelope_t *e, size_t n, size_t at, const char *name,
                  char *scratch, char **buf, size_t *len)
{
    size_t nlen = strlen(name);
    if (!wv__utf8_valid(name, nlen))
        return WV_EINVAL;
    wv_obj_t *str = stack_node(&e->name, WV_OBJ_STR);
    str->u.s.data = (char *)name;
    str->u.s.len = nlen;
    e->items[at] = str;
    wv_obj_t *t = stack_node(&e->tuple, WV_OBJ_TUPLE);
    t->u.seq.items = e->items;
    t->u.seq.len = t->u.seq.cap = n;
    return wv__pickle_dumps_after(t, 4, 4, scratch, WV__MGR_SCRATCH, buf, len);
}

int wv__mgr_encode_request(const wv_obj_t *ident, const char *method,
                           const wv_obj_t *args, const wv_obj_t *kwds,
                           char *scratch, char **buf, size_t *len)
{
    envelope_t e;
    e.items[0] = part(&e, 0, ident, WV_OBJ_NONE);
    e.items[2] = part(&e, 1, args, WV_OBJ_TUPLE);
    e.items[3] = part(&e, 2, kwds, WV_OBJ_DICT);
    return encode(&e, 4, 1, method, scratch, buf, len);
}

int wv__mgr_encode_reply(enum mgr_reply kind, const wv_obj_t *value,
                         char *scratch, char **buf, size_t *len)
{
    envelope_t e;
    e.items[1] = part(&e, 0, value, WV_OBJ_NONE);
    return encode(&e, 2, 0, reply_names[kind], scratch, buf, len);
}

int wv__mgr_decode_reply(const char *data, size_t len,
                         const wv_pickle_limits_t *limits, enum mgr_reply *kind,
                         wv_obj_t **value)
{
    wv_obj_t *t;
    int err = wv_pickle_loads(&t, data, len, limits, NULL);
    if (err)
        return err;
    err = WV_EPROTO;
    if (t->kind == WV_OBJ_TUPLE && t->u.seq.len == 2 &&
        t->u.seq.items[0]->kind == WV_OBJ_STR) {
        const char *name = t->u.seq.items[0]->u.s.data;
        for (int k = MGR_RETURN; k <= MGR_PROXY; k++) {
            if (strcmp(name, reply_names[k]) == 0) {
                *kind = (enum mgr_reply)k;
                *value = wv_obj_ref(t->u.seq.items[1]);
                err = 0;
                break;
            }
        }
    }
    wv_obj_free(t);
    return err;
}

/* Appends a new STR node of s to t. */
static int append_str(wv_obj_t *t, const char *s)
{
    wv_obj_t *v;
    int err = wv_obj_new_str(&v, s, strlen(s));
    if (err)
        return err;
    err = wv_obj_append(t, v);
    if (err)
        wv_obj_free(v);
    return err;
}

int wv__mgr_exc(wv_obj_t **out, const char *module, const char *name,
                const char *text)
{
    wv_obj_t *args;
    int err = wv_obj_new_tuple(&args, 1);
    if (err)
        return err;
    if (text && (err = append_str(args, text))) {
        wv_obj_free(args);
        return err;
    }
    err = wv_obj_new_exception(out, module, name, args);
    if (err)
        wv_obj_free(args);
    return err;
}

int wv__mgr_send_buf(wv_stream_t *s, char *buf, size_t len, const char *scratch,
                     bool flush, int64_t deadline)
{
    size_t n = len - 4;
    int err;
    if (n <= 0x7fffffff) { /* the length in the 4 bytes left for it */
        unsigned char *hdr = (unsigned char *)buf;
        hdr[0] = (unsigned char)(n >> 24);
        hdr[1] = (unsigned char)(n >> 16);
        hdr[2] = (unsigned char)(n >> 8);
        hdr[3] = (unsigned char)n;
        err = wv_stream_write(s, buf, len, NULL, deadline);
    } else { /* CPython's escape: -1, then a 64-bit length */
        unsigned char hdr[12];
        memset(hdr, 0xff, 4);
        for (int i = 0; i < 8; i++)
            hdr[4 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        err = wv_stream_write(s, hdr, sizeof hdr, NULL, deadline);
        if (!err)
            err = wv_stream_write(s, buf + 4, n, NULL, deadline);
    }
    if (!err && flush)
        err = wv_stream_drain(s, deadline);
    if (buf != scratch)
        wv_free(buf);
    return err;
}

char *wv__mgr_strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = wv__malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/*
 * manager/msg.c - the messages of CPython's manager protocol as values
 * (MANAGER-PROTOCOL.md, sections 3.1 to 3.3): a request is the 4-tuple
 * (ident, methodname, args, kwds), a reply the 2-tuple (kind, value), both
 * pickled with protocol 4 as CPython pickles them.
 */
#include "mgr.h"

#include <string.h>

static const char *const reply_names[] = {
    [MGR_RETURN] = "#RETURN",       [MGR_ERROR] = "#ERROR",
    [MGR_TRACEBACK] = "#TRACEBACK", [MGR_UNSERIALIZABLE] = "#UNSERIALIZABLE",
    [MGR_PROXY] = "#PROXY",
};

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

/* Appends another reference to v (or a new empty node of kind if v is
 * NULL) to t. */
static int append_or_empty(wv_obj_t *t, const wv_obj_t *v, wv_objkind_t kind)
{
    wv_obj_t *item;
    int err = 0;
    if (v)
        item = wv_obj_ref((wv_obj_t *)v);
    else if (kind == WV_OBJ_TUPLE)
        err = wv_obj_new_tuple(&item, 0);
    else if (kind == WV_OBJ_DICT)
        err = wv_obj_new_dict(&item, 0);
    else
        err = wv_obj_new_none(&item);
    if (err)
        return err;
    err = wv_obj_append(t, item);
    if (err)
        wv_obj_free(item);
    return err;
}

int wv__mgr_encode_request(const wv_obj_t *ident, const char *method,
                           const wv_obj_t *args, const wv_obj_t *kwds,
                           char **buf, size_t *len)
{
    wv_obj_t *t;
    int err = wv_obj_new_tuple(&t, 4);
    if (err)
        return err;
    if (!(err = append_or_empty(t, ident, WV_OBJ_NONE)) &&
        !(err = append_str(t, method)) &&
        !(err = append_or_empty(t, args, WV_OBJ_TUPLE)) &&
        !(err = append_or_empty(t, kwds, WV_OBJ_DICT)))
        err = wv_pickle_dumps(t, 4, buf, len);
    wv_obj_free(t);
    return err;
}

int wv__mgr_encode_reply(enum mgr_reply kind, const wv_obj_t *value, char **buf,
                         size_t *len)
{
    wv_obj_t *t;
    int err = wv_obj_new_tuple(&t, 2);
    if (err)
        return err;
    if (!(err = append_str(t, reply_names[kind])) &&
        !(err = append_or_empty(t, value, WV_OBJ_NONE)))
        err = wv_pickle_dumps(t, 4, buf, len);
    wv_obj_free(t);
    return err;
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

int wv__mgr_send_buf(wv_stream_t *s, char *buf, size_t len, bool flush,
                     int64_t deadline)
{
    unsigned char hdr[12];
    size_t hlen = 4;
    if (len <= 0x7fffffff) {
        hdr[0] = (unsigned char)(len >> 24);
        hdr[1] = (unsigned char)(len >> 16);
        hdr[2] = (unsigned char)(len >> 8);
        hdr[3] = (unsigned char)len;
    } else { /* CPython's escape: -1, then a 64-bit length */
        memset(hdr, 0xff, 4);
        for (int i = 0; i < 8; i++)
            hdr[4 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        hlen = 12;
    }
    int err = wv_stream_write(s, hdr, hlen, NULL, deadline);
    if (!err)
        err = wv_stream_write(s, buf, len, NULL, deadline);
    if (!err && flush)
        err = wv_stream_drain(s, deadline);
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

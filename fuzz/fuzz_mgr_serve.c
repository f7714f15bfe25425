/*
 * fuzz/fuzz_mgr_serve.c - libFuzzer target: the manager's request
 * dispatcher (manager/server.c, object.c) fed an authenticated peer's
 * bytes: frames of pickled requests, control requests first, method calls
 * after an accept_connection, in any order and any shape.
 *
 * One manager for the whole run (its queues keep what earlier inputs put
 * in them, as a long-lived server's would): a queue "get_task_queue" of at
 * most 8 items and an object "Calc" with one function, idents fixed
 * ("100000000000" and "100000000010") so that seeds can name them, every
 * wait capped at 1 ms (max_wait_ms), remote shutdown refused, small
 * decoder limits.  The connection is a memory transport: reads hand out
 * the input, writes are kept.
 *
 * Checked: whatever the input, every frame written back is a reply
 * CPython reads (a pickled 2-tuple with a known kind); nothing crashes,
 * reads out of bounds or leaks (ASan); the dispatch returns.
 * Seeds: fuzz/make_mgr_serve_seeds.py.
 */
#include "core/internal.h"
#include "manager/mgr.h"
#include "mem_transport.h"
#include "net/transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_mgr_serve: %s:%d: %s\n", __FILE__, __LINE__, \
                    #cond);                                                    \
            abort();                                                           \
        }                                                                      \
    } while (0)

#define IN_MAX  (64 * 1024)
#define OUT_MAX (4 << 20)

static int add(void *arg, const wv_obj_t *args, const wv_obj_t *kwds,
               wv_obj_t **result)
{
    int64_t a, b;
    if (args->u.seq.len != 2 || wv_obj_get_int(args->u.seq.items[0], &a) ||
        wv_obj_get_int(args->u.seq.items[1], &b))
        return WV_EINVAL;
    if ((a > 0 && b > INT64_MAX - a) || (a < 0 && b < INT64_MIN - a))
        return WV_ERANGE;
    return wv_obj_new_int(result, a + b);
}

static wv_manager_t *the_manager(void)
{
    static wv_manager_t *m;
    if (m)
        return m;
    wv_manager_opts_t o = {.host = "127.0.0.1",
                           .authkey = "abc",
                           .authkey_len = 3,
                           .max_wait_ms = 1,
                           .max_frame = IN_MAX,
                           .refuse_remote_shutdown = true,
                           .limits = {.max_depth = 32,
                                      .max_items = 4096,
                                      .max_memo = 4096,
                                      .max_int_bytes = 64}};
    CHECK(wv_manager_new(&m, &o) == 0);
    m->ident_base = 0x100000000000ull;
    CHECK(wv_manager_register_queue(m, "get_task_queue", 8) == 0);
    CHECK(wv_manager_register(m, "Calc", "add", add, NULL) == 0);
    return m;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

/* Every whole frame written is a reply CPython would read. */
static void check_replies(const struct mem *m)
{
    size_t pos = 0;
    while (m->out_len - pos >= 4) {
        uint32_t n = be32(m->out + pos);
        CHECK(n < 0x80000000u); /* never the escape: replies are small */
        if (m->out_len - pos - 4 < n) {
            CHECK(m->out_full); /* only a capture cut short */
            break;
        }
        enum mgr_reply kind;
        wv_obj_t *value;
        CHECK(wv__mgr_decode_reply((const char *)m->out + pos + 4, n, NULL,
                                   &kind, &value) == 0);
        wv_obj_free(value);
        pos += 4 + n;
    }
    CHECK(pos == m->out_len || m->out_full);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > IN_MAX)
        return 0;
    wv_manager_t *mgr = the_manager();
    static uint8_t *out;
    if (!out)
        CHECK((out = malloc(OUT_MAX)));
    struct mem m;
    mem_init(&m, data, size, false, out, OUT_MAX);
    wv_stream_t *s;
    CHECK(wv__stream_new(&s, NULL, &m.base) == 0);
    wv__mgr_serve_stream(mgr, s);
    wv_stream_free(s);
    check_replies(&m);
    return 0;
}

/*
 * RPC through a manager: a server exposes functions, a client on another
 * connection (another process or machine in real life) calls them by
 * name and gets the result, or the error raised:
 *
 *     class Calc:
 *         def add(self, a, b): return a + b
 *         def div(self, a, b): return a // b
 *     class M(BaseManager): pass
 *     M.register('Calc', Calc)
 *     m = M(address=('127.0.0.1', 0), authkey=b'abc'); m.start()
 *     calc = m.Calc()
 *     print(calc.add(2, 3))
 *     try: calc.div(1, 0)
 *     except ZeroDivisionError as e: print('ZeroDivisionError:', e)
 *
 * A Python client calls the same functions the same way (M.register('Calc')
 * without a callable, then m.connect()): the wire is CPython's.  What a
 * client sends is decoded as data; nothing it sends is ever run.
 */
#include <weave.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(int err, const char *what)
{
    if (err) {
        fprintf(stderr, "%s: %s\n", what, wv_strerror(err));
        exit(1);
    }
}

/* The two ints of a call, or a TypeError for the client. */
static int two_ints(const wv_obj_t *args, int64_t *a, int64_t *b,
                    wv_obj_t **error)
{
    if (args->u.seq.len == 2 && !wv_obj_get_int(args->u.seq.items[0], a) &&
        !wv_obj_get_int(args->u.seq.items[1], b))
        return 0;
    wv_obj_t *why, *tuple;
    if (wv_obj_new_str(&why, "expected two ints", 17))
        return WV_ENOMEM;
    if (wv_obj_new_tuple(&tuple, 1) || wv_obj_append(tuple, why)) {
        wv_obj_free(why);
        return WV_ENOMEM;
    }
    int err = wv_obj_new_exception(error, "builtins", "TypeError", tuple);
    if (err)
        wv_obj_free(tuple);
    return err ? err : WV_EREMOTE;
}

static int add(void *arg, const wv_obj_t *args, const wv_obj_t *kwds,
               wv_obj_t **result)
{
    int64_t a, b;
    int err = two_ints(args, &a, &b, result);
    return err ? err : wv_obj_new_int(result, a + b);
}

static int div_(void *arg, const wv_obj_t *args, const wv_obj_t *kwds,
                wv_obj_t **result)
{
    int64_t a, b;
    int err = two_ints(args, &a, &b, result);
    if (err)
        return err;
    if (b == 0) {
        wv_obj_t *why, *tuple;
        if (wv_obj_new_str(&why, "integer division or modulo by zero", 34))
            return WV_ENOMEM;
        if (wv_obj_new_tuple(&tuple, 1) || wv_obj_append(tuple, why)) {
            wv_obj_free(why);
            return WV_ENOMEM;
        }
        err = wv_obj_new_exception(result, "builtins", "ZeroDivisionError",
                                   tuple);
        return err ? err : WV_EREMOTE;
    }
    return wv_obj_new_int(result, a / b);
}

/* calc.method(a, b) from the client's side. */
static int call(wv_proxy_t *calc, const char *method, int64_t a, int64_t b,
                wv_obj_t **result)
{
    wv_obj_t *args, *x, *y;
    check(wv_obj_new_tuple(&args, 2), "tuple");
    check(wv_obj_new_int(&x, a), "int");
    check(wv_obj_append(args, x), "append");
    check(wv_obj_new_int(&y, b), "int");
    check(wv_obj_append(args, y), "append");
    int err =
        wv_proxy_call(calc, method, args, NULL, result, wv_deadline_in(5000));
    wv_obj_free(args);
    return err;
}

int main(void)
{
    wv_manager_opts_t o = {
        .host = "127.0.0.1", .authkey = "abc", .authkey_len = 3};
    wv_manager_t *server, *client;
    check(wv_manager_new(&server, &o), "manager");
    check(wv_manager_register(server, "Calc", "add", add, NULL), "register");
    check(wv_manager_register(server, "Calc", "div", div_, NULL), "register");
    check(wv_manager_start(server), "start");
    wv_addr_t addr;
    check(wv_manager_addr(server, &addr), "address");
    o.port = wv_addr_port(&addr);
    check(wv_manager_connect(&client, &o, wv_deadline_in(5000)), "connect");
    wv_proxy_t *calc;
    check(wv_manager_proxy(client, "Calc", &calc, wv_deadline_in(5000)),
          "Calc");
    wv_obj_t *r;
    check(call(calc, "add", 2, 3, &r), "add");
    printf("calc.add(2, 3) = %lld\n", (long long)r->u.i);
    wv_obj_free(r);
    int err = call(calc, "div", 1, 0, &r);
    char *text;
    check(err == WV_EREMOTE ? 0 : WV_EPROTO, "div by zero");
    check(wv_obj_repr(r, &text), "repr");
    printf("calc.div(1, 0) raised %s\n", text);
    wv_free(text);
    wv_obj_free(r);
    wv_proxy_free(calc);
    wv_manager_free(client);
    wv_manager_free(server);
    return 0;
}

/*
 * core/error.c - wv_strerror and wv_err_name, both generated from the one
 * table WV_ERRNO_MAP in weave/core.h, and the invariant-failure exit.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

const char *wv_version(void)
{
#define WV__STR2(x) #x
#define WV__STR(x)  WV__STR2(x)
    return WV__STR(WV_VERSION_MAJOR) "." WV__STR(WV_VERSION_MINOR) "." WV__STR(
        WV_VERSION_PATCH);
}

const char *wv_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define WV__ERR_MSG(name, value, msg)                                          \
    case WV_##name:                                                            \
        return msg;
        WV_ERRNO_MAP(WV__ERR_MSG)
#undef WV__ERR_MSG
    default:
        return "unknown error";
    }
}

const char *wv_err_name(int err)
{
    switch (err) {
    case 0:
        return "WV_OK";
#define WV__ERR_NAME(name, value, msg)                                         \
    case WV_##name:                                                            \
        return "WV_" #name;
        WV_ERRNO_MAP(WV__ERR_NAME)
#undef WV__ERR_NAME
    default:
        return "WV_UNKNOWN";
    }
}

void wv__panic(const char *file, int line, const char *what)
{
    fprintf(stderr, "weave: %s:%d: invariant broken: %s\n", file, line, what);
    fflush(stderr);
    abort();
}

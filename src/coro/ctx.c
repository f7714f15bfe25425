/*
 * coro/ctx.c - what every context switch implementation shares: the abort
 * of a context whose entry function returned.
 */
#include "internal.h"

#include <stdlib.h>
#include <unistd.h>

void wv__ctx_returned(void)
{
    static const char msg[] =
        "weave: a coroutine's entry function returned; it must switch "
        "away for good instead (wv__ctx_exit)\n";
    ssize_t r = write(2, msg, sizeof msg - 1);

    (void)r;
    abort();
}

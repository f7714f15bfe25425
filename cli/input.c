/*
 * cli/input.c - the inputs of weave map: from arguments (copied), or read
 * whole from a file or standard input and split in place at '\n' or at
 * NUL (-0).  A last input without its separator counts; an empty line is
 * an empty input, as in GNU parallel (xargs would skip it).
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int grow(cli_inputs_t *in)
{
    if (in->count < in->cap)
        return 0;
    size_t cap = in->cap ? in->cap * 2 : 64;
    char **items = realloc(in->items, cap * sizeof *items);
    if (!items)
        return -1;
    in->items = items;
    in->cap = cap;
    return 0;
}

int cli_inputs_add(cli_inputs_t *in, const char *s)
{
    char *copy = strdup(s);
    if (!copy || grow(in) < 0) {
        free(copy);
        errno = ENOMEM;
        return -1;
    }
    in->items[in->count++] = copy;
    return 0;
}

/* Reads fd to its end into a new NUL-terminated buffer. */
static char *slurp(int fd, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        if (n == cap) {
            char *bigger = realloc(buf, cap * 2 + 1);
            if (!bigger)
                break;
            buf = bigger;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int saved = errno;
            free(buf);
            errno = saved;
            return NULL;
        }
        if (r == 0) {
            buf[n] = '\0';
            *len = n;
            return buf;
        }
        n += (size_t)r;
    }
    free(buf);
    errno = ENOMEM;
    return NULL;
}

int cli_inputs_read(cli_inputs_t *in, int fd, char sep)
{
    size_t len;
    char *buf = slurp(fd, &len);
    if (!buf)
        return -1;
    in->buf = buf;
    for (size_t i = 0; i < len;) {
        char *end = memchr(buf + i, sep, len - i);
        size_t stop = end ? (size_t)(end - buf) : len;
        buf[stop] = '\0';
        if (grow(in) < 0) {
            errno = ENOMEM;
            return -1;
        }
        /* Items read from the buffer are marked by pointing into it. */
        in->items[in->count++] = buf + i;
        i = stop + 1;
    }
    return 0;
}

/* Inputs come from arguments (each a copy) or from one buffer, never
 * both: weave map refuses ::: with -a or with standard input. */
void cli_inputs_free(cli_inputs_t *in)
{
    if (!in->buf)
        for (size_t i = 0; i < in->count; i++)
            free(in->items[i]);
    free(in->items);
    free(in->buf);
    memset(in, 0, sizeof *in);
}

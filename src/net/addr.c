/*
 * net/addr.c - wv_addr_t: socket addresses by value, made from numeric
 * text or Unix paths and formatted for people.  Nothing here resolves a
 * name or waits (net/resolve.c does).
 */
#include "internal.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

int wv_addr_from_ip(wv_addr_t *out, const char *ip, uint16_t port)
{
    if (!out || !ip)
        return WV_EINVAL;
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST,
                             .ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    /* getaddrinfo, not inet_pton: it also reads IPv6 scope ids
     * ("fe80::1%eth0").  AI_NUMERICHOST: no lookup, no wait. */
    if (getaddrinfo(ip, NULL, &hints, &res) != 0 || !res)
        return WV_EINVAL;
    int err = WV_EINVAL;
    if (res->ai_addrlen <= sizeof out->storage) {
        memset(out, 0, sizeof *out);
        memcpy(&out->storage, res->ai_addr, res->ai_addrlen);
        out->len = res->ai_addrlen;
        if (res->ai_family == AF_INET)
            ((struct sockaddr_in *)&out->storage)->sin_port = htons(port);
        else
            ((struct sockaddr_in6 *)&out->storage)->sin6_port = htons(port);
        err = 0;
    }
    freeaddrinfo(res);
    return err;
}

int wv_addr_from_unix(wv_addr_t *out, const char *path)
{
    if (!out || !path || !*path)
        return WV_EINVAL;
    struct sockaddr_un *un = (struct sockaddr_un *)&out->storage;
    size_t len = strlen(path);
    bool abstract = path[0] == '@';
    /* A path keeps room for its NUL; an abstract name needs none. */
    if (len > sizeof un->sun_path - !abstract)
        return WV_ENAMETOOLONG;
    memset(out, 0, sizeof *out);
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, len);
    if (abstract)
        un->sun_path[0] = '\0';
    out->len =
        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + !abstract);
    return 0;
}

/* snprintf's result as wv_addr_format's. */
static int fitted(int n, size_t cap)
{
    if (n < 0)
        return WV_EINVAL;
    return (size_t)n < cap ? n : WV_ENOSPC;
}

static int format_unix(const struct sockaddr_un *un, socklen_t len, char *buf,
                       size_t cap)
{
    size_t off = offsetof(struct sockaddr_un, sun_path);
    size_t n = len > off ? len - off : 0;
    if (n == 0)
        return fitted(snprintf(buf, cap, "%s", ""), cap);
    if (un->sun_path[0] == '\0') /* abstract: "@name" (not NUL-ended) */
        return fitted(
            snprintf(buf, cap, "@%.*s", (int)(n - 1), un->sun_path + 1), cap);
    return fitted(
        snprintf(buf, cap, "%.*s", (int)strnlen(un->sun_path, n), un->sun_path),
        cap);
}

int wv_addr_format(const wv_addr_t *a, char *buf, size_t cap)
{
    if (!a || !buf)
        return WV_EINVAL;
    char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    int family = wv_addr_family(a);
    if (family == AF_UNIX)
        return format_unix((const struct sockaddr_un *)&a->storage, a->len, buf,
                           cap);
    if (family != AF_INET && family != AF_INET6) {
        if (cap)
            buf[0] = '\0';
        return WV_EINVAL;
    }
    if (getnameinfo((const struct sockaddr *)&a->storage, a->len, host,
                    sizeof host, NULL, 0, NI_NUMERICHOST) != 0) {
        if (cap)
            buf[0] = '\0';
        return WV_EINVAL;
    }
    const char *fmt = family == AF_INET6 ? "[%s]:%u" : "%s:%u";
    return fitted(snprintf(buf, cap, fmt, host, (unsigned)wv_addr_port(a)),
                  cap);
}

int wv_addr_family(const wv_addr_t *a)
{
    if (!a || a->len < sizeof(sa_family_t))
        return AF_UNSPEC;
    return a->storage.ss_family;
}

uint16_t wv_addr_port(const wv_addr_t *a)
{
    switch (wv_addr_family(a)) {
    case AF_INET:
        return ntohs(((const struct sockaddr_in *)&a->storage)->sin_port);
    case AF_INET6:
        return ntohs(((const struct sockaddr_in6 *)&a->storage)->sin6_port);
    }
    return 0;
}

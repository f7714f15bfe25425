/*
 * cli/remote_redis.c - the clients' --redis URL (remote.h): the url the
 * library is given, with a password from the environment, and the url
 * shown in messages, without it.
 *
 * The password.  A url may carry it (redis://:PASSWORD@host), but then
 * any user of the machine reads it in ps or /proc/PID/cmdline, as with
 * an authkey.  So, as redis-cli does with REDISCLI_AUTH, it may come from
 * the environment instead: WEAVE_REDIS_PASSWORD, else REDISCLI_AUTH.
 * A password in the url wins over the environment (the url is the more
 * specific of the two); the environment's is %-escaped into the url's
 * user-info, after the url's user if it names one.  Unlike the authkey,
 * a password in the url is not refused: Redis often runs without one on
 * a trusted network, and redis-cli -u accepts it too.
 */
#include "remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char CLI_REMOTE_USAGE_REDIS[] =
    "  --redis URL           reach the queues on Redis Streams instead of\n"
    "                        a manager: redis://[[USER]:PASSWORD@]HOST\n"
    "                        [:PORT][/DB] or rediss://... (TLS: --tls-ca);\n"
    "                        no password in URL: $WEAVE_REDIS_PASSWORD,\n"
    "                        else $REDISCLI_AUTH\n"
    "  --redis-prefix P      the streams' key prefix (weave): a queue\n"
    "                        NAME is the stream P:NAME\n";

/* Where the authority (user-info, host, port) of url starts and ends. */
static bool authority(const char *url, const char **start, const char **end)
{
    const char *s = strstr(url, "://");
    if (!s)
        return false;
    *start = s + 3;
    *end = *start + strcspn(*start, "/?#");
    return true;
}

/* The '@' that ends the user-info, or NULL if there is none. */
static const char *userinfo_end(const char *start, const char *end)
{
    const char *at = NULL;
    for (const char *c = start; c < end; c++)
        if (*c == '@')
            at = c;
    return at;
}

static bool has_password(const char *start, const char *at)
{
    const char *colon = memchr(start, ':', (size_t)(at - start));
    return colon && colon + 1 < at;
}

/* pw %-escaped (everything but RFC 3986's unreserved characters). */
static char *escape(const char *pw)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(strlen(pw) * 3 + 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *c = (const unsigned char *)pw; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
            (*c >= '0' && *c <= '9') || strchr("-._~", *c)) {
            *o++ = (char)*c;
        } else {
            *o++ = '%';
            *o++ = hex[*c >> 4];
            *o++ = hex[*c & 15];
        }
    }
    *o = '\0';
    return out;
}

static const char *env_password(void)
{
    const char *pw = getenv(CLI_REDIS_PASSWORD_ENV);
    if (!pw || !*pw)
        pw = getenv(CLI_REDIS_CLI_ENV);
    return pw && *pw ? pw : NULL;
}

/* The url with the environment's password put in, if it has none. */
static char *with_password(const char *url, const char *start, const char *end)
{
    const char *at = userinfo_end(start, end), *pw = env_password();
    if (!pw || (at && has_password(start, at)))
        return strdup(url);
    char *esc = escape(pw);
    if (!esc)
        return NULL;
    /* user-info "USER" or "USER:" (an empty password), or none */
    size_t user = 0;
    if (at) {
        const char *colon = memchr(start, ':', (size_t)(at - start));
        user = (size_t)((colon ? colon : at) - start);
    }
    const char *rest = at ? at + 1 : start;
    size_t len = strlen(url) + strlen(esc) + 3;
    char *out = malloc(len);
    if (out)
        snprintf(out, len, "%.*s%.*s:%s@%s", (int)(start - url), url, (int)user,
                 start, esc, rest);
    free(esc);
    return out;
}

/* The url without its user-info, for messages. */
static char *without_password(const char *url, const char *start,
                              const char *end)
{
    const char *at = userinfo_end(start, end);
    const char *rest = at ? at + 1 : start;
    size_t len = strlen(url) + 1;
    char *out = malloc(len);
    if (out)
        snprintf(out, len, "%.*s%s", (int)(start - url), url, rest);
    return out;
}

int cli_remote_redis_ready(cli_remote_t *r)
{
    const char *start, *end;
    if (!authority(r->redis, &start, &end) ||
        (strncmp(r->redis, "redis://", 8) &&
         strncmp(r->redis, "rediss://", 9))) {
        fprintf(stderr,
                "weave %s: --redis %s: not a redis:// or rediss:// url "
                "(weave %s --help)\n",
                r->cmd, r->redis, r->cmd);
        return CLI_EXIT_USAGE;
    }
    r->redis_url = with_password(r->redis, start, end);
    r->redis_where = without_password(r->redis, start, end);
    if (!r->redis_url || !r->redis_where) {
        fprintf(stderr, "weave %s: out of memory\n", r->cmd);
        return CLI_EXIT_ERROR;
    }
    return 0;
}

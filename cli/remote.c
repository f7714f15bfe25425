/*
 * cli/remote.c - the options, connection and messages that weave serve,
 * submit, worker and status share (remote.h).
 *
 * The authkey is read from --authkey-file or the environment variable
 * WEAVE_AUTHKEY and never taken from the command line, where any user of
 * the machine can read it (ps, /proc/PID/cmdline): --authkey is refused
 * by name.  A file's one trailing newline is dropped (echo key >file),
 * nothing else: the key is the bytes Python's authkey=b'...' would be.
 */
#include "remote.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_KEY 256

const char CLI_REMOTE_USAGE_KEY[] =
    "  --authkey-file FILE   the manager's authkey: FILE's bytes (one\n"
    "                        trailing newline dropped); else $WEAVE_AUTHKEY.\n"
    "                        A key on the command line is refused.\n"
    "  --task-queue NAME     the task queue's typeid (get_task_queue)\n"
    "  --result-queue NAME   the result queue's typeid (get_result_queue)\n";

const char CLI_REMOTE_USAGE_CONNECT[] =
    "  --connect HOST:PORT   the manager (default 127.0.0.1:5000)\n"
    "  --connect-timeout S   give up connecting after S seconds (10)\n"
    "  --tls                 TLS, the server verified by the system's CAs\n"
    "  --tls-ca FILE         TLS, the server verified by the CAs of FILE\n"
    "  --tls-insecure        TLS without verifying the server (tests only)\n";

const char CLI_REMOTE_USAGE_EXIT[] =
    "  69   the manager or Redis cannot be reached (serve: cannot listen\n"
    "       there)\n"
    "  76   the peer is no manager (or no Redis), does not serve the\n"
    "       queue named, or its TLS certificate fails verification\n"
    "  77   the manager refused the authkey, or Redis the password\n"
    "  253  out of memory, or the scheduler could not start\n"
    "  254  the authkey file, an input file or a TLS file unusable\n"
    "  255  bad usage (an authkey given on the command line too; --redis:\n"
    "       not a redis:// url, no such db, weave built without hiredis)\n";

/* ------------------------------------------------------------ parsing */

bool cli_is_help(const char *arg)
{
    return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

int cli_opt_value(const char *cmd, int argc, char **argv, int *i,
                  const char *shortname, const char *longname, const char **val)
{
    const char *a = argv[*i];
    size_t ln = strlen(longname);
    if (!strncmp(a, longname, ln) && a[ln] == '=') {
        *val = a + ln + 1;
        return 1;
    }
    if (shortname && !strncmp(a, shortname, 2) && a[2] && strcmp(a, longname) &&
        a[1] != '-') {
        *val = a + 2;
        return 1;
    }
    if (strcmp(a, longname) && !(shortname && !strcmp(a, shortname)))
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "weave %s: %s needs a value (weave %s --help)\n", cmd,
                a, cmd);
        return -1;
    }
    *val = argv[++*i];
    return 1;
}

int cli_parse_seconds(const char *cmd, const char *opt, const char *v,
                      int64_t *ms)
{
    char *end;
    double secs = strtod(v, &end);
    if (end == v || *end || !isfinite(secs) || secs <= 0 || secs > 1e8) {
        fprintf(stderr,
                "weave %s: %s %s: not a number of seconds above 0 "
                "(weave %s --help)\n",
                cmd, opt, v, cmd);
        return -1;
    }
    *ms = (int64_t)ceil(secs * 1000.0);
    return 0;
}

int cli_parse_count(const char *cmd, const char *opt, const char *v,
                    unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long n = v[0] >= '0' && v[0] <= '9' ? strtoul(v, &end, 10) : 0;
    if (v[0] < '0' || v[0] > '9' || errno || *end || n < min || n > max) {
        fprintf(stderr,
                "weave %s: %s %s: not a number from %lu to %lu "
                "(weave %s --help)\n",
                cmd, opt, v, min, max, cmd);
        return -1;
    }
    *out = n;
    return 0;
}

void cli_remote_init(cli_remote_t *r, const char *cmd, bool server)
{
    memset(r, 0, sizeof *r);
    r->cmd = cmd;
    r->server = server;
    r->port = CLI_DEFAULT_PORT;
    r->task_queue = CLI_TASK_QUEUE;
    r->result_queue = CLI_RESULT_QUEUE;
    r->connect_ms = 10000;
}

void cli_remote_free(cli_remote_t *r)
{
    free(r->host);
    if (r->redis_url) {
        memset(r->redis_url, 0, strlen(r->redis_url));
        free(r->redis_url);
    }
    free(r->redis_where);
    if (r->authkey) {
        memset(r->authkey, 0, r->authkey_len);
        free(r->authkey);
    }
    wv_tls_ctx_free(r->tls_ctx);
    memset(r, 0, sizeof *r);
}

/* HOST:PORT, [V6]:PORT, or :PORT (serve: every address). */
int cli_remote_address(cli_remote_t *r, const char *text)
{
    const char *colon = strrchr(text, ':');
    unsigned long port;
    char *end;
    if (!colon)
        goto bad;
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end || errno || port > 65535 ||
        (port == 0 && !r->server))
        goto bad;
    const char *host = text;
    size_t len = (size_t)(colon - text);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    free(r->host);
    r->host = NULL;
    if (len == 0)
        r->host = strdup(r->server ? "0.0.0.0" : "127.0.0.1");
    else
        r->host = strndup(host, len);
    if (!r->host) {
        fprintf(stderr, "weave %s: out of memory\n", r->cmd);
        return -1;
    }
    r->port = (uint16_t)port;
    r->addressed = true;
    return 0;
bad:
    fprintf(stderr,
            "weave %s: %s: not an address HOST:PORT (weave %s --help)\n",
            r->cmd, text, r->cmd);
    return -1;
}

/* An option whose value is kept as given, in *dst.  As cli_opt_value. */
static int take_string(const char *cmd, int argc, char **argv, int *i,
                       const char *name, const char **dst)
{
    const char *v;
    int got = cli_opt_value(cmd, argc, argv, i, NULL, name, &v);
    if (got > 0)
        *dst = v;
    return got;
}

static int refuse_key(const char *cmd)
{
    fprintf(stderr,
            "weave %s: --authkey is refused: a key on the command line "
            "can be read by every user of this machine; use "
            "--authkey-file FILE or WEAVE_AUTHKEY\n",
            cmd);
    return -1;
}

int cli_remote_option(cli_remote_t *r, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *cmd = r->cmd, *v = NULL;
    int got;
    if (!strcmp(a, "--authkey") || !strncmp(a, "--authkey=", 10))
        return refuse_key(cmd);
    if ((got = take_string(cmd, argc, argv, i,
                           r->server ? "--bind" : "--connect", &v)))
        return got < 0 || cli_remote_address(r, v) < 0 ? -1 : 1;
    if (((got = take_string(cmd, argc, argv, i, "--redis", &r->redis)) ||
         (got = take_string(cmd, argc, argv, i, "--redis-prefix",
                            &r->redis_prefix))))
        return got;
    if ((got = take_string(cmd, argc, argv, i, "--authkey-file",
                           &r->authkey_file)) ||
        (got =
             take_string(cmd, argc, argv, i, "--task-queue", &r->task_queue)) ||
        (got = take_string(cmd, argc, argv, i, "--result-queue",
                           &r->result_queue)))
        return got;
    if (r->server) {
        if ((got =
                 take_string(cmd, argc, argv, i, "--tls-cert", &r->tls_cert)) ||
            (got = take_string(cmd, argc, argv, i, "--tls-key", &r->tls_key)))
            return got;
        return 0;
    }
    if ((got = take_string(cmd, argc, argv, i, "--connect-timeout", &v)))
        return got < 0 || cli_parse_seconds(cmd, "--connect-timeout", v,
                                            &r->connect_ms) < 0
                   ? -1
                   : 1;
    if ((got = take_string(cmd, argc, argv, i, "--tls-ca", &r->tls_ca))) {
        r->tls = true;
        return got;
    }
    if (!strcmp(a, "--tls") || !strcmp(a, "--tls-insecure")) {
        r->tls = true;
        r->tls_insecure |= !strcmp(a, "--tls-insecure");
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------- key and TLS */

static int read_key_file(cli_remote_t *r)
{
    int fd = open(r->authkey_file, O_RDONLY | O_CLOEXEC);
    char buf[MAX_KEY + 2];
    ssize_t n = -1;
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        (st.st_mode & 077))
        fprintf(stderr,
                "weave %s: warning: %s can be read by other users "
                "(chmod 600 it)\n",
                r->cmd, r->authkey_file);
    if (fd >= 0) {
        do
            n = read(fd, buf, sizeof buf);
        while (n < 0 && errno == EINTR);
        int saved = errno;
        close(fd);
        errno = saved;
    }
    if (n < 0) {
        fprintf(stderr, "weave %s: cannot read %s: %s\n", r->cmd,
                r->authkey_file, strerror(errno));
        return CLI_EXIT_NOFILE;
    }
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n == 0 || n > MAX_KEY) {
        fprintf(stderr, "weave %s: %s: an authkey is 1 to %d bytes\n", r->cmd,
                r->authkey_file, MAX_KEY);
        return CLI_EXIT_NOFILE;
    }
    r->authkey = malloc((size_t)n);
    if (!r->authkey) {
        fprintf(stderr, "weave %s: out of memory\n", r->cmd);
        return CLI_EXIT_ERROR;
    }
    memcpy(r->authkey, buf, (size_t)n);
    r->authkey_len = (size_t)n;
    memset(buf, 0, sizeof buf);
    return 0;
}

static int load_key(cli_remote_t *r)
{
    if (r->authkey_file)
        return read_key_file(r);
    const char *env = getenv("WEAVE_AUTHKEY");
    if (!env || !*env) {
        fprintf(stderr,
                "weave %s: no authkey: give --authkey-file FILE or set "
                "WEAVE_AUTHKEY (weave %s --help)\n",
                r->cmd, r->cmd);
        return CLI_EXIT_USAGE;
    }
    if (strlen(env) > MAX_KEY) {
        fprintf(stderr,
                "weave %s: WEAVE_AUTHKEY: an authkey is 1 to %d bytes\n",
                r->cmd, MAX_KEY);
        return CLI_EXIT_USAGE;
    }
    r->authkey = strdup(env);
    if (!r->authkey) {
        fprintf(stderr, "weave %s: out of memory\n", r->cmd);
        return CLI_EXIT_ERROR;
    }
    r->authkey_len = strlen(env);
    return 0;
}

static int make_tls(cli_remote_t *r)
{
    if (r->server && !r->tls_cert && !r->tls_key)
        return 0;
    if (!r->server && !r->tls)
        return 0;
    if (r->server && (!r->tls_cert || !r->tls_key)) {
        fprintf(stderr,
                "weave %s: TLS needs both --tls-cert and --tls-key "
                "(weave %s --help)\n",
                r->cmd, r->cmd);
        return CLI_EXIT_USAGE;
    }
    wv_tls_ctx_opts_t o = {
        .server = r->server,
        .cert_file = r->tls_cert,
        .key_file = r->tls_key,
        .ca_file = r->tls_ca,
        .insecure_skip_verify = r->tls_insecure,
    };
    int err = wv_tls_ctx_new(&r->tls_ctx, &o);
    if (err) {
        const char *why = wv_tls_error_reason();
        fprintf(stderr, "weave %s: TLS: %s%s%s\n", r->cmd, wv_strerror(err),
                why && *why ? ": " : "", why && *why ? why : "");
        return err == WV_ENOMEM ? CLI_EXIT_ERROR : CLI_EXIT_NOFILE;
    }
    return 0;
}

int cli_remote_ready(cli_remote_t *r)
{
    if (r->redis && r->addressed && !r->server) {
        fprintf(stderr,
                "weave %s: --redis and a manager's address together "
                "(weave %s --help)\n",
                r->cmd, r->cmd);
        return CLI_EXIT_USAGE;
    }
    if (r->redis_prefix && !r->redis) {
        fprintf(stderr, "weave %s: --redis-prefix without --redis\n", r->cmd);
        return CLI_EXIT_USAGE;
    }
    if (r->redis && !r->server) {
        int rc = cli_remote_redis_ready(r);
        return rc ? rc : make_tls(r);
    }
    if (r->redis) { /* serve: its own key and TLS, and the backend's url */
        int rc = cli_remote_redis_ready(r);
        if (rc)
            return rc;
    }
    if (!r->host && !(r->host = strdup("127.0.0.1"))) {
        fprintf(stderr, "weave %s: out of memory\n", r->cmd);
        return CLI_EXIT_ERROR;
    }
    int rc = load_key(r);
    return rc ? rc : make_tls(r);
}

wv_manager_opts_t cli_remote_opts(const cli_remote_t *r)
{
    wv_manager_opts_t o = {
        .host = r->host,
        .port = r->port,
        .authkey = r->authkey,
        .authkey_len = r->authkey_len,
        .tls = r->tls_ctx,
        .url = r->server ? NULL : r->redis_url,
        .redis_prefix = r->server ? NULL : r->redis_prefix,
    };
    return o;
}

wv_manager_opts_t cli_remote_redis_opts(const cli_remote_t *r)
{
    wv_manager_opts_t o = {
        .url = r->redis_url,
        .redis_prefix = r->redis_prefix,
        .tls = r->server ? NULL : r->tls_ctx,
    };
    return o;
}

const char *cli_remote_where(const cli_remote_t *r, char *buf, size_t cap)
{
    if (r->redis_where && !r->server) {
        snprintf(buf, cap, "%s", r->redis_where);
        return buf;
    }
    const char *h = r->host ? r->host : "127.0.0.1";
    snprintf(buf, cap, strchr(h, ':') ? "[%s]:%u" : "%s:%u", h,
             (unsigned)r->port);
    return buf;
}

/* ---------------------------------------------------------- connecting */

int cli_remote_connect(cli_remote_t *r, wv_manager_t **out, int64_t deadline)
{
    wv_manager_opts_t o = cli_remote_opts(r);
    return wv_manager_connect(out, &o, deadline);
}

int cli_remote_exit_status(int err)
{
    switch (err) {
    case WV_EAUTH:
        return CLI_EXIT_AUTH;
    case WV_EPROTO:
    case WV_ENOENT:
    case WV_ECERT:
    case WV_EMSGSIZE:
        return CLI_EXIT_PROTOCOL;
    case WV_EREMOTE: /* Redis: the key holds something else */
        return CLI_EXIT_PROTOCOL;
    case WV_ENOMEM:
        return CLI_EXIT_ERROR;
    case WV_EINVAL: /* Redis: a malformed url, a db it does not have */
    case WV_ENOSYS: /* --redis, built without hiredis */
        return CLI_EXIT_USAGE;
    default:
        return CLI_EXIT_UNREACHABLE;
    }
}

int cli_remote_fail(const cli_remote_t *r, const char *what, int err)
{
    char where[300];
    cli_remote_where(r, where, sizeof where);
    if (err == WV_EAUTH && r->redis)
        fprintf(stderr,
                "weave %s: %s refused the password, or wants one "
                "(%s or %s)\n",
                r->cmd, where, CLI_REDIS_PASSWORD_ENV, CLI_REDIS_CLI_ENV);
    else if (err == WV_EAUTH)
        fprintf(stderr, "weave %s: %s refused the authkey\n", r->cmd, where);
    else if (r->redis && err == WV_EINVAL)
        fprintf(stderr,
                "weave %s: --redis %s: a malformed url, or a db the "
                "server does not have\n",
                r->cmd, where);
    else if (err == WV_ENOSYS)
        fprintf(stderr,
                "weave %s: --redis: this weave was built without hiredis\n",
                r->cmd);
    else if (err == WV_EREMOTE)
        fprintf(stderr, "weave %s: %s refused %s: %s\n", r->cmd, where, what,
                wv_strerror(err));
    else if (err == WV_ENOENT)
        fprintf(stderr, "weave %s: %s serves no %s\n", r->cmd, where, what);
    else if (err == WV_EPROTO)
        fprintf(stderr, "weave %s: %s is no %s (%s)\n", r->cmd, where,
                r->redis ? "Redis server" : "manager", wv_strerror(err));
    else if (err == WV_ECERT)
        fprintf(stderr, "weave %s: %s: TLS certificate: %s\n", r->cmd, where,
                wv_tls_error_reason());
    else
        fprintf(stderr, "weave %s: cannot reach %s: %s\n", r->cmd, where,
                wv_strerror(err));
    return cli_remote_exit_status(err);
}

bool cli_remote_is_lost(int err)
{
    switch (err) {
    case 0:
    case WV_ETIMEDOUT:
    case WV_EAGAIN:
    case WV_ENOTSUP:
    case WV_ENOENT:
    case WV_EREMOTE:
    case WV_EINVAL:
    case WV_ENOMEM:
        return false;
    default:
        return true;
    }
}

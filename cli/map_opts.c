/*
 * cli/map_opts.c - weave map's command line: options, then the command's
 * words, then optionally ":::" and the inputs.  Options come before the
 * command (the first word that is no option starts it; "--" ends the
 * options), so a command's own options are never taken for weave's.
 * Every value is checked here; a bad one is a one-line message and
 * CLI_EXIT_USAGE.  Forms of GNU parallel that weave does not implement
 * (a percentage for -j or --halt, success=, ::::) are refused by name
 * rather than half-done.
 */
#include "map.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage_error(const char *fmt, const char *what)
{
    fputs("weave map: ", stderr);
    fprintf(stderr, fmt, what);
    fputs(" (weave map --help)\n", stderr);
    return -1;
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

static int parse_jobs(map_opts_t *o, const char *v)
{
    unsigned long n;
    if (strchr(v, '%') || (v[0] == '+' || v[0] == '-'))
        return usage_error("-j %s: only a plain number of jobs is supported",
                           v);
    if (!parse_uint(v, 100000, &n) || n == 0)
        return usage_error("-j %s: not a number of jobs from 1 to 100000", v);
    o->jobs = (unsigned)n;
    return 0;
}

static int parse_timeout(map_opts_t *o, const char *v)
{
    char *end;
    if (strchr(v, '%'))
        return usage_error("--timeout %s: a percentage is not supported", v);
    double secs = strtod(v, &end);
    if (end == v || *end || !isfinite(secs) || secs <= 0 || secs > 1e8)
        return usage_error("--timeout %s: not a number of seconds above 0", v);
    o->timeout_ms = (int64_t)ceil(secs * 1000.0);
    return 0;
}

static int parse_retries(map_opts_t *o, const char *v)
{
    unsigned long n;
    if (!parse_uint(v, 1000000, &n))
        return usage_error("--retries %s: not a number from 0 to 1000000", v);
    o->retries = (unsigned)n;
    return 0;
}

/* never | now,fail=N | soon,fail=N */
static int parse_halt(map_opts_t *o, const char *v)
{
    unsigned long n;
    const char *rest = NULL;
    if (!strcmp(v, "never")) {
        o->halt = HALT_NEVER;
        return 0;
    }
    if (!strncmp(v, "now,", 4)) {
        o->halt = HALT_NOW;
        rest = v + 4;
    } else if (!strncmp(v, "soon,", 5)) {
        o->halt = HALT_SOON;
        rest = v + 5;
    } else {
        return usage_error("--halt %s: expected never, now,fail=N or "
                           "soon,fail=N",
                           v);
    }
    if (strncmp(rest, "fail=", 5))
        return usage_error("--halt %s: only fail=N is supported", v);
    if (strchr(rest, '%'))
        return usage_error("--halt %s: a percentage is not supported", v);
    if (!parse_uint(rest + 5, 1000000000, &n) || n == 0)
        return usage_error("--halt %s: fail= needs a number of at least 1", v);
    o->halt_fails = n;
    return 0;
}

/* An option that takes a value: "-j N", "-jN", "--jobs N", "--jobs=N".
 * Returns 1 and *val when argv[*i] is it, 0 when it is not, -1 when its
 * value is missing. */
static int valued(int argc, char **argv, int *i, const char *shortname,
                  const char *longname, const char **val)
{
    const char *a = argv[*i];
    size_t ln = strlen(longname);
    if (shortname && !strcmp(a, shortname)) {
        ;
    } else if (!strcmp(a, longname)) {
        ;
    } else if (!strncmp(a, longname, ln) && a[ln] == '=') {
        *val = a + ln + 1;
        return 1;
    } else if (shortname && !strncmp(a, shortname, 2) && a[2]) {
        *val = a + 2;
        return 1;
    } else {
        return 0;
    }
    if (*i + 1 >= argc) {
        usage_error("%s needs a value", a);
        return -1;
    }
    *val = argv[++*i];
    return 1;
}

/* The options that take a value; 1 if argv[*i] was one, 0 if not, -1 on
 * a bad one. */
static int valued_option(map_opts_t *o, int argc, char **argv, int *i)
{
    const char *v;
    int r;
    if ((r = valued(argc, argv, i, "-j", "--jobs", &v)))
        return r < 0 ? -1 : parse_jobs(o, v) < 0 ? -1 : 1;
    if ((r = valued(argc, argv, i, "-a", "--arg-file", &v))) {
        if (r > 0 && o->arg_file) {
            usage_error("%s: only one input file is supported", "-a");
            return -1;
        }
        if (r > 0)
            o->arg_file = v;
        return r;
    }
    if ((r = valued(argc, argv, i, NULL, "--timeout", &v)))
        return r < 0 ? -1 : parse_timeout(o, v) < 0 ? -1 : 1;
    if ((r = valued(argc, argv, i, NULL, "--retries", &v)))
        return r < 0 ? -1 : parse_retries(o, v) < 0 ? -1 : 1;
    if ((r = valued(argc, argv, i, NULL, "--halt", &v)))
        return r < 0 ? -1 : parse_halt(o, v) < 0 ? -1 : 1;
    if ((r = valued(argc, argv, i, NULL, "--joblog", &v))) {
        if (r > 0)
            o->joblog = v;
        return r;
    }
    return 0;
}

/* The options without a value; 1 if argv[i] was one, else 0. */
static int flag_option(map_opts_t *o, const char *a)
{
    if (!strcmp(a, "-0") || !strcmp(a, "--null"))
        o->null_sep = true;
    else if (!strcmp(a, "-k") || !strcmp(a, "--keep-order"))
        o->keep_order = true;
    else if (!strcmp(a, "--dry-run"))
        o->dry_run = true;
    else if (!strcmp(a, "--progress"))
        o->progress = true;
    else if (!strcmp(a, "--bar"))
        o->bar = true;
    else if (!strcmp(a, "-h") || !strcmp(a, "--help"))
        o->help = true;
    else
        return 0;
    return 1;
}

/* The command's words up to ":::", then the inputs. */
static int command_and_inputs(map_opts_t *o, int argc, char **argv, int i)
{
    o->cmd = argv + i;
    while (i < argc && strcmp(argv[i], ":::")) {
        if (!strcmp(argv[i], "::::") || !strcmp(argv[i], ":::+"))
            return usage_error("%s is not supported (use -a FILE)", argv[i]);
        o->ncmd++;
        i++;
    }
    if (i < argc) {
        o->has_args = true;
        o->args = argv + i + 1;
        o->nargs = (size_t)(argc - i - 1);
        for (size_t k = 0; k < o->nargs; k++)
            if (!strcmp(o->args[k], ":::"))
                return usage_error("%s: only one ::: list is supported", ":::");
    }
    if (o->ncmd == 0)
        return usage_error("%s", "no command given");
    if (o->has_args && o->arg_file)
        return usage_error("%s", "inputs from both ::: and -a");
    return 0;
}

int map_opts_parse(map_opts_t *o, int argc, char **argv)
{
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if (a[0] != '-' || !a[1])
            break;
        int r = valued_option(o, argc, argv, &i);
        if (r < 0)
            return -1;
        if (r > 0 || flag_option(o, a))
            continue;
        return usage_error("unknown option '%s'", a);
    }
    if (o->help)
        return 0;
    return command_and_inputs(o, argc, argv, i);
}

/*
 * proc/subprocess.c - subprocess.Popen: starting a program, waiting for
 * it, signalling it, freeing it.  The I/O (communicate, read, write) and
 * run/check_output are in communicate.c.
 *
 * A start turns the options into a wv__spawn_plan_t (the candidate paths
 * of the program, its argv and environment, the descriptors for its stdio
 * and those it keeps), all allocated here, before the child exists; then
 * spawn_linux.c forks and execs (the child makes system calls only).
 * Then the plan is freed and the child's ends of the pipes closed.
 *
 * The child is held by a Process handle (wv__process_hold / adopt):
 * waiting, reaping once under its lock, returncodes, signals through the
 * pidfd and the kill-and-reap of free are process.c's, not written again
 * here.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* ------------------------------------------------------------- options */

static bool stdio_ok(const wv_stdio_t *s, bool is_err, int *err)
{
    if (s->how < WV_STDIO_INHERIT || s->how > WV_STDIO_STDOUT ||
        (s->how == WV_STDIO_STDOUT && !is_err)) {
        *err = WV_EINVAL;
        return false;
    }
    if (s->how == WV_STDIO_FD && s->fd < 0) {
        *err = WV_EBADF;
        return false;
    }
    return true;
}

static int check_env(const wv_popen_opts_t *o)
{
    if (o->env_mode < WV_ENV_INHERIT || o->env_mode > WV_ENV_ADD)
        return WV_EINVAL;
    if (o->env_mode == WV_ENV_INHERIT || !o->env)
        return 0;
    for (const char *const *e = o->env; *e; e++)
        if (!strchr(*e, '='))
            return WV_EINVAL;
    return 0;
}

/* Descriptors of the caller the child is to get must be open now: a
 * closed one could be reused by a pipe made below and the child would get
 * that pipe instead. */
static int check_fds(const wv_popen_opts_t *o)
{
    const wv_stdio_t *io[3] = {&o->in, &o->out, &o->err};

    for (int i = 0; i < 3; i++)
        if (io[i]->how == WV_STDIO_FD && fcntl(io[i]->fd, F_GETFD) < 0)
            return WV_EBADF;
    for (size_t i = 0; i < o->npass_fds; i++)
        if (fcntl(o->pass_fds[i], F_GETFD) < 0)
            return WV_EBADF;
    return 0;
}

static int check_opts(const wv_popen_opts_t *o)
{
    int err = 0;

    if (!o->argv == !o->shell || (o->argv && !o->argv[0]))
        return WV_EINVAL;
    if (!stdio_ok(&o->in, false, &err) || !stdio_ok(&o->out, false, &err) ||
        !stdio_ok(&o->err, true, &err))
        return err;
    if (o->npass_fds > WV_POPEN_MAX_PASS_FDS || (o->npass_fds && !o->pass_fds))
        return WV_EINVAL;
    for (size_t i = 0; i < o->npass_fds; i++) {
        if (o->pass_fds[i] < 0)
            return WV_EBADF;
        if (o->pass_fds[i] < 3)
            return WV_EINVAL;
    }
    if (o->process_group < 0 || (o->new_process_group && o->process_group))
        return WV_EINVAL;
    if (o->death_signal < 0 || o->death_signal >= 65)
        return WV_EINVAL;
    if ((err = check_env(o)) != 0)
        return err;
    return check_fds(o);
}

/* ---------------------------------------------------------------- plan */

/* What the plan points to and the start frees. */
struct plan_mem {
    char **paths; /* one block: pointers, then the strings */
    char **envp;  /* WV_ENV_ADD only */
    int *keep;
    const char *shell_argv[4];
};

/* The NAME= part of an environment entry matches entry e. */
static bool same_name(const char *a, const char *e)
{
    size_t n = (size_t)(strchr(a, '=') - a);
    return strncmp(a, e, n) == 0 && e[n] == '=';
}

/* WV_ENV_ADD: environ without the names env sets, then env (each name
 * once: its last entry). */
static char **merge_env(const char *const *add)
{
    size_t n = 0, nadd = 0, k = 0;

    for (char **e = environ; e && *e; e++)
        n++;
    while (add && add[nadd])
        nadd++;
    char **out = wv__malloc((n + nadd + 1) * sizeof *out);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        bool replaced = false;
        for (size_t j = 0; j < nadd && !replaced; j++)
            replaced = same_name(add[j], environ[i]);
        if (!replaced)
            out[k++] = environ[i];
    }
    for (size_t j = 0; j < nadd; j++) {
        bool later = false; /* a name given twice: the last wins (Python's
                               dict) */
        for (size_t l = j + 1; l < nadd && !later; l++)
            later = same_name(add[j], add[l]);
        if (!later)
            out[k++] = (char *)add[j];
    }
    out[k] = NULL;
    return out;
}

static const char *env_path(char *const *envp)
{
    for (; envp && *envp; envp++)
        if (strncmp(*envp, "PATH=", 5) == 0)
            return *envp + 5;
    return "/bin:/usr/bin"; /* execvp's and Python's default */
}

/* The candidates for `name`: itself if it has a '/', else each PATH
 * directory joined with it (an empty directory: the working one). */
static int find_paths(const char *name, const char *path, char ***out,
                      size_t *n)
{
    size_t ndirs = 1, chars = 0, nlen = strlen(name);

    if (strchr(name, '/'))
        path = NULL;
    else
        for (const char *c = path; *c; c++)
            ndirs += *c == ':';
    chars = (path ? strlen(path) : 0) + ndirs * (nlen + 2);
    char **paths = wv__malloc(ndirs * sizeof *paths + chars);
    if (!paths)
        return WV_ENOMEM;
    char *s = (char *)(paths + ndirs);
    for (size_t i = 0; i < ndirs; i++) {
        size_t dlen = path ? strcspn(path, ":") : 0;
        paths[i] = s;
        if (dlen) {
            memcpy(s, path, dlen);
            s += dlen;
            *s++ = '/';
        }
        memcpy(s, name, nlen + 1);
        s += nlen + 1;
        if (path)
            path += dlen + (path[dlen] == ':');
    }
    *out = paths;
    *n = ndirs;
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static char *const no_env[] = {NULL};

/* Everything of the plan but the stdio descriptors. */
static int make_plan(const wv_popen_opts_t *o, wv__spawn_plan_t *pl,
                     struct plan_mem *m)
{
    const char *program;

    if (o->shell) {
        m->shell_argv[0] = o->executable ? o->executable : "/bin/sh";
        m->shell_argv[1] = "-c";
        m->shell_argv[2] = o->shell;
        pl->argv = (char *const *)m->shell_argv;
        program = m->shell_argv[0];
    } else {
        pl->argv = (char *const *)o->argv;
        program = o->executable ? o->executable : o->argv[0];
    }
    if (o->env_mode == WV_ENV_INHERIT)
        pl->envp = environ;
    else if (o->env_mode == WV_ENV_REPLACE)
        pl->envp = o->env ? (char *const *)o->env : no_env;
    else if (!(pl->envp = m->envp = merge_env(o->env)))
        return WV_ENOMEM;
    if (o->npass_fds) {
        if (!(m->keep = wv__malloc(o->npass_fds * sizeof *m->keep)))
            return WV_ENOMEM;
        memcpy(m->keep, o->pass_fds, o->npass_fds * sizeof *m->keep);
        qsort(m->keep, o->npass_fds, sizeof *m->keep, cmp_int);
    }
    pl->keep = m->keep;
    pl->nkeep = o->npass_fds;
    pl->cwd = o->cwd;
    pl->close_others = !o->inherit_fds;
    pl->new_session = o->new_session;
    pl->death_signal = o->death_signal;
    pl->parent = o->death_signal ? getpid() : 0;
    pl->pgid = o->new_process_group ? 0
               : o->process_group   ? o->process_group
                                    : -1;
    int err = find_paths(program, env_path(pl->envp), &m->paths, &pl->npaths);
    pl->paths = m->paths;
    return err;
}

static void free_plan(struct plan_mem *m)
{
    wv__free(m->paths);
    wv__free(m->envp);
    wv__free(m->keep);
}

/* --------------------------------------------------------------- stdio */

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* The child's stdio: child[i] the descriptor it gets at i, or -1; the
 * child's ends of the pipes and /dev/null are made here and closed after
 * the start (p->fds[i] holds the caller's ends). */
struct stdio_set {
    int child[3];
    bool is_pipe[3];
    int devnull;
};

static int make_pipe(wv_popen_t *p, int i, struct stdio_set *s)
{
    int fds[2];

    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    /* The caller's end above stdio: in a program with 0-2 closed it
     * could land there, and the child's stdio rebuild (a dup2 of 1 to 2
     * for stderr = stdout) would hand it to the child. */
    int err = wv__fd_above_stdio(&fds[i == 0 ? 1 : 0]);
    if (err) {
        close(fds[0]);
        close(fds[1]);
        return err;
    }
    int mine = i == 0 ? fds[1] : fds[0];
    s->child[i] = i == 0 ? fds[0] : fds[1];
    s->is_pipe[i] = true;
    p->fds[i] = mine;
    p->piped[i] = true;
    /* Only the caller's end: the child's stays blocking, as programs
     * expect. */
    if (fcntl(mine, F_SETFL, O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

static int make_stdio(wv_popen_t *p, const wv_popen_opts_t *o,
                      struct stdio_set *s, bool *err_to_out)
{
    const wv_stdio_t *io[3] = {&o->in, &o->out, &o->err};
    int err;

    *err_to_out = false;
    for (int i = 0; i < 3; i++) {
        switch (io[i]->how) {
        case WV_STDIO_PIPE:
            if ((err = make_pipe(p, i, s)) != 0)
                return err;
            break;
        case WV_STDIO_DEVNULL:
            if (s->devnull < 0 &&
                (s->devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
                return -errno;
            s->child[i] = s->devnull;
            break;
        case WV_STDIO_FD:
            s->child[i] = io[i]->fd;
            break;
        case WV_STDIO_STDOUT:
            *err_to_out = true;
            break;
        }
    }
    return 0;
}

static void close_stdio(struct stdio_set *s)
{
    for (int i = 0; i < 3; i++)
        if (s->is_pipe[i])
            close(s->child[i]);
    if (s->devnull >= 0)
        close(s->devnull);
}

/* --------------------------------------------------------------- start */

int wv_popen_new(wv_popen_t **out, const wv_popen_opts_t *opts)
{
    wv__spawn_plan_t pl = {0};
    struct plan_mem mem = {0};
    struct stdio_set s = {{-1, -1, -1}, {false, false, false}, -1};
    int err;

    if (!out || !opts)
        return WV_EINVAL;
    if ((err = check_opts(opts)) != 0)
        return err;
    wv_popen_t *p = wv__calloc(1, sizeof *p);
    if (!p)
        return WV_ENOMEM;
    p->fds[0] = p->fds[1] = p->fds[2] = -1;
    p->lend = opts->borrow_input;
    int pid, pidfd;
    if ((err = wv__process_hold(&p->child, "popen")) == 0 &&
        (err = make_plan(opts, &pl, &mem)) == 0 &&
        (err = make_stdio(p, opts, &s, &pl.err_to_out)) == 0) {
        memcpy(pl.stdio, s.child, sizeof pl.stdio);
        if ((err = wv__spawn(&pl, &pid, &pidfd)) == 0)
            wv__process_adopt(p->child, pid, pidfd);
    }
    close_stdio(&s);
    free_plan(&mem);
    if (err) {
        for (int i = 0; i < 3; i++)
            close_fd(&p->fds[i]);
        if (p->child)
            wv__process_unhold(p->child);
        wv__free(p);
        return err;
    }
    *out = p;
    return 0;
}

/* ----------------------------------------------------- wait and signals */

int wv_popen_wait(wv_popen_t *p, int *code, int64_t deadline)
{
    if (!p)
        return WV_EINVAL;
    return wv_process_join(p->child, code, deadline);
}

int wv_popen_poll(wv_popen_t *p, int *code)
{
    return wv_popen_wait(p, code, WV_NOWAIT);
}

int wv_popen_returncode(const wv_popen_t *p, int *code)
{
    return p ? wv__process_reaped(p->child, code) : WV_EINVAL;
}

int wv_popen_pid(const wv_popen_t *p)
{
    return p ? wv_process_pid(p->child) : 0;
}

int wv_popen_fd(const wv_popen_t *p, int stream)
{
    if (!p || stream < WV_STDIN || stream > WV_STDERR)
        return WV_EINVAL;
    return p->fds[stream];
}

int wv_popen_send_signal(wv_popen_t *p, int sig)
{
    if (!p || sig < 0 || sig >= NSIG)
        return WV_EINVAL;
    if (sig == 0) /* Python's check; Process refuses 0 */
        return wv__pidfd_signal(wv__process_pidfd(p->child), 0);
    return wv_process_send_signal(p->child, sig);
}

int wv_popen_terminate(wv_popen_t *p)
{
    return wv_popen_send_signal(p, SIGTERM);
}

int wv_popen_kill(wv_popen_t *p)
{
    return wv_popen_send_signal(p, SIGKILL);
}

void wv__popen_close(wv_popen_t *p, int stream)
{
    close_fd(&p->fds[stream]);
}

void wv_popen_close_stdin(wv_popen_t *p)
{
    if (p)
        close_fd(&p->fds[WV_STDIN]);
}

void wv_popen_free(wv_popen_t *p)
{
    if (!p)
        return;
    for (int i = 0; i < 3; i++)
        close_fd(&p->fds[i]);
    wv_process_free(p->child); /* kills and reaps a child still running */
    if (!p->lend)
        wv__free((void *)p->rest);
    wv__free(p->obuf[0].data);
    wv__free(p->obuf[1].data);
    wv__free(p);
}

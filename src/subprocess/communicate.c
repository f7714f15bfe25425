/*
 * subprocess/communicate.c - talking to a child: communicate, read, write, and
 * run / check_output on top of them.
 *
 * communicate is one poll loop over the caller's ends of the child's
 * pipes, all non-blocking: stdin is written while there is input and
 * room, stdout and stderr are read whenever they have bytes, so neither
 * side can fill a pipe the other waits on.  The wait goes through
 * wv__fds_wait (the fd seam: a coroutine will park there, not its thread).
 *
 * Throughput (W8 pipes 256 MiB through cat): the pipes are enlarged to
 * 1 MiB (F_SETPIPE_SZ; refused beyond /proc/sys/fs/pipe-max-size or a
 * user's pipe quota, which is fine), input goes in writes of up to
 * 1 MiB, and output is read straight into its buffer, which grows
 * geometrically (realloc of a large block is an mremap: no copy), and
 * is faulted in ahead of each read, outside the pipe's lock, in huge
 * pages when it is large (wv__obuf_prefault, obuf_linux.c).
 *
 * Time-outs lose nothing: output stays in the Popen's buffers, and input
 * not yet written is copied aside (the caller's buffer is not kept after
 * the call returns), so the next communicate resumes.  Input lent
 * (opts.borrow_input) is vmspliced instead of written, and kept where it
 * is at a time-out: the caller keeps it until a call returns 0.
 *
 * SIGPIPE: writes go through wv__pipe_writev or wv__pipe_vmsplice (the
 * signal is blocked and taken back); a child that closed its stdin ends
 * the feeding, as Python.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define PIPE_SIZE     (1 << 20)         /* F_SETPIPE_SZ asked for */
#define WRITE_CHUNK   (1 << 20)         /* most bytes per write */
#define READ_MIN      (64 << 10)        /* room made before each read */
#define READ_MAX      (1 << 20)         /* most bytes per read */
#define PREFAULT_FROM ((size_t)1 << 20) /* buffer size to prefault from */

/* Input being fed: data[off..len). */
struct feed {
    const char *data;
    size_t len, off;
};

static void enlarge_pipes(wv_popen_t *p)
{
    if (p->enlarged)
        return;
    p->enlarged = true;
    for (int i = 0; i < 3; i++)
        if (p->fds[i] >= 0)
            wv__pipe_enlarge(p->fds[i], PIPE_SIZE);
}

/* Room for READ_MIN more bytes and the '\0' in b. */
static int make_room(wv__obuf_t *b)
{
    if (b->cap - b->len > READ_MIN)
        return 0;
    size_t cap = b->cap ? b->cap * 2 : 2 * READ_MIN;
    char *data = wv__realloc(b->data, cap);
    if (!data)
        return WV_ENOMEM;
    b->data = data;
    b->data[b->len] = '\0';
    b->cap = cap;
    return 0;
}

/* One read of stdout or stderr into its buffer. */
static int drain(wv_popen_t *p, int stream)
{
    wv__obuf_t *b = &p->obuf[stream - 1];
    int err = make_room(b);
    if (err)
        return err;
    size_t room = b->cap - b->len - 1;
    if (room > READ_MAX)
        room = READ_MAX;
    if (b->cap >= PREFAULT_FROM)
        wv__obuf_prefault(b, b->len + room);
    ssize_t n = wv__read(p->fds[stream], b->data + b->len, room);
    if (n > 0) {
        b->len += (size_t)n;
        b->data[b->len] = '\0';
        return 0;
    }
    if (n == 0) {
        wv__popen_close(p, stream);
        p->eof[stream] = true;
        return 0;
    }
    return n == WV_EAGAIN ? 0 : (int)n;
}

/* One write of input to stdin; the end of it, or a reader gone, closes
 * stdin.  Lent input goes by vmsplice (the pipe references the caller's
 * pages), unless the kernel refuses it for this memory or at all: then
 * by copying writes, under the same contract. */
static int feed(wv_popen_t *p, struct feed *f)
{
    size_t left = f->len - f->off;
    struct iovec iov = {(void *)(f->data + f->off),
                        left < WRITE_CHUNK ? left : WRITE_CHUNK};
    ssize_t n = WV_ENOSYS;

    if (p->lend && !p->no_vmsplice) {
        n = wv__pipe_vmsplice(p->fds[WV_STDIN], &iov, 1);
        p->no_vmsplice = n < 0 && n != WV_EAGAIN && n != WV_EPIPE;
    }
    if (!p->lend || p->no_vmsplice)
        n = wv__pipe_writev(p->fds[WV_STDIN], &iov, 1);

    if (n > 0)
        f->off += (size_t)n;
    else if (n == WV_EPIPE)
        f->off = f->len; /* the child stopped reading: drop the rest */
    else if (n != WV_EAGAIN)
        return (int)n;
    if (f->off == f->len)
        wv__popen_close(p, WV_STDIN);
    return 0;
}

/*
 * The loop: until stdin is fed and closed and both outputs are at their
 * end, or the deadline.  A poll loop, the one function here past 50
 * lines would be; kept short by feed() and drain().
 */
static int pump(wv_popen_t *p, struct feed *f, int64_t deadline)
{
    for (;;) {
        struct pollfd pf[3];
        int stream[3], n = 0;
        if (p->fds[WV_STDIN] >= 0 && f->off == f->len)
            wv__popen_close(p, WV_STDIN);
        for (int i = 0; i < 3; i++) {
            if (p->fds[i] < 0)
                continue;
            pf[n] = (struct pollfd){p->fds[i], i ? POLLIN : POLLOUT, 0};
            stream[n++] = i;
        }
        if (n == 0)
            return 0;
        int err = wv__fds_wait(pf, (size_t)n, deadline);
        for (int k = 0; !err && k < n; k++) {
            if (!pf[k].revents)
                continue;
            err = stream[k] ? drain(p, stream[k]) : feed(p, f);
        }
        if (err)
            return err;
    }
}

static void view(const wv_popen_t *p, int stream, wv_bytes_t *v)
{
    const wv__obuf_t *b = &p->obuf[stream - 1];
    if (!v)
        return;
    v->data = b->data ? b->data : p->piped[stream] ? "" : NULL;
    v->len = b->len;
}

/* After the loop stopped early: keep the input not yet written (lent
 * input: where it is). */
static int keep_rest(wv_popen_t *p, const struct feed *f)
{
    if (p->fds[WV_STDIN] < 0 || f->off == f->len) {
        if (!p->lend)
            wv__free((void *)p->rest);
        p->rest = NULL;
        return 0;
    }
    if (f->data == p->rest || p->lend) {
        p->rest = f->data;
        p->rest_len = f->len;
        p->rest_off = f->off;
        return 0;
    }
    size_t left = f->len - f->off;
    char *rest = wv__malloc(left);
    if (!rest) {
        wv__popen_close(p, WV_STDIN);
        return WV_ENOMEM;
    }
    memcpy(rest, f->data + f->off, left);
    p->rest = rest;
    p->rest_len = left;
    p->rest_off = 0;
    return 0;
}

int wv_popen_communicate(wv_popen_t *p, const void *input, size_t len,
                         wv_bytes_t *out, wv_bytes_t *err, int64_t deadline)
{
    struct feed f = {input, len, 0};

    if (!p || (len && !input) || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    if (len && (!p->piped[WV_STDIN] || p->fed))
        return WV_EINVAL;
    if (!p->fed)
        p->fed = true; /* from now on, input is the copy kept aside */
    else if (p->rest)
        f = (struct feed){p->rest, p->rest_len, p->rest_off};
    enlarge_pipes(p);
    int rc = pump(p, &f, deadline);
    int kept = keep_rest(p, &f);
    if (rc == 0)
        rc = wv_popen_wait(p, NULL, deadline);
    else if (kept)
        rc = kept;
    view(p, WV_STDOUT, out);
    view(p, WV_STDERR, err);
    return rc;
}

/* ------------------------------------------------------ read and write */

int wv_popen_write(wv_popen_t *p, const void *data, size_t len, size_t *done,
                   int64_t deadline)
{
    size_t off = 0;
    int err = 0;

    if (!p || (len && !data) || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    if (p->fds[WV_STDIN] < 0)
        return WV_EBADF;
    while (off < len && !err) {
        size_t left = len - off;
        struct iovec iov = {(char *)data + off,
                            left < WRITE_CHUNK ? left : WRITE_CHUNK};
        ssize_t n = wv__pipe_writev(p->fds[WV_STDIN], &iov, 1);
        if (n > 0)
            off += (size_t)n;
        else if (n == WV_EAGAIN)
            err = wv__fd_wait(p->fds[WV_STDIN], POLLOUT, deadline, NULL);
        else
            err = (int)n;
    }
    if (done)
        *done = off;
    return err;
}

int wv_popen_read(wv_popen_t *p, int stream, void *buf, size_t cap, size_t *n,
                  int64_t deadline)
{
    if (!p || (stream != WV_STDOUT && stream != WV_STDERR) || !buf || !cap ||
        !n || !wv__deadline_ok(deadline))
        return WV_EINVAL;
    for (;;) {
        int fd = p->fds[stream];
        if (fd < 0)
            return p->eof[stream] ? WV_EOF : WV_EBADF;
        ssize_t got = wv__read(fd, buf, cap);
        if (got > 0) {
            *n = (size_t)got;
            return 0;
        }
        if (got == 0) {
            wv__popen_close(p, stream);
            p->eof[stream] = true;
            continue;
        }
        if (got != WV_EAGAIN)
            return (int)got;
        int err = wv__fd_wait(fd, POLLIN, deadline, NULL);
        if (err)
            return err;
    }
}

/* ------------------------------------------------- run, check_output */

/* Moves stream's output from p to *data (a "" of its own if nothing came;
 * NULL if no pipe). */
static int take(wv_popen_t *p, int stream, char **data, size_t *len)
{
    wv__obuf_t *b = &p->obuf[stream - 1];

    if (!p->piped[stream])
        return 0;
    if (!b->data && !(b->data = wv__calloc(1, 1)))
        return WV_ENOMEM;
    *data = b->data;
    *len = b->len;
    *b = (wv__obuf_t){0};
    return 0;
}

/* communicate failed (the deadline, most often): kill, reap, and collect
 * what the child left in the pipes without waiting for more (a grandchild
 * may hold them open). */
static void stop(wv_popen_t *p)
{
    wv_popen_kill(p);
    wv_popen_wait(p, NULL, WV_FOREVER);
    if (p->fds[WV_STDOUT] >= 0 || p->fds[WV_STDERR] >= 0)
        wv_popen_communicate(p, NULL, 0, NULL, NULL, WV_NOWAIT);
}

int wv_subprocess_run(const wv_popen_opts_t *opts, const void *input,
                      size_t len, bool check, wv_completed_t *res,
                      int64_t deadline)
{
    wv_popen_t *p;

    if (!res)
        return WV_EINVAL;
    memset(res, 0, sizeof *res);
    if (!opts || (len && !input))
        return WV_EINVAL;
    wv_popen_opts_t o = *opts;
    if (input && o.in.how == WV_STDIO_INHERIT)
        o.in.how = WV_STDIO_PIPE;
    else if (input && o.in.how != WV_STDIO_PIPE)
        return WV_EINVAL;
    int err = wv_popen_new(&p, &o);
    if (err)
        return err;
    err = wv_popen_communicate(p, input, len, NULL, NULL, deadline);
    if (err)
        stop(p);
    int taken = take(p, WV_STDOUT, &res->out, &res->out_len);
    if (!taken)
        taken = take(p, WV_STDERR, &res->err, &res->err_len);
    if (wv_popen_returncode(p, &res->returncode) != 0 && !err)
        err = WV_ECHILD;
    wv_popen_free(p);
    if (!err)
        err = taken;
    if (!err && check && res->returncode != 0)
        err = WV_ECALLEDPROCESS;
    return err;
}

int wv_subprocess_check_output(const wv_popen_opts_t *opts, const void *input,
                               size_t len, wv_completed_t *res,
                               int64_t deadline)
{
    if (!opts) {
        if (res)
            memset(res, 0, sizeof *res);
        return WV_EINVAL;
    }
    wv_popen_opts_t o = *opts;
    o.out.how = WV_STDIO_PIPE;
    return wv_subprocess_run(&o, input, len, true, res, deadline);
}

void wv_completed_free(wv_completed_t *res)
{
    if (!res)
        return;
    wv__free(res->out);
    wv__free(res->err);
    memset(res, 0, sizeof *res);
}

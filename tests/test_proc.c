/*
 * tests/test_proc.c - Process, wv_fork and Pipe.
 *
 * Children that must stay alive block on a pipe read; the test ends them
 * by closing its end or by a signal, never by a sleep.
 */
#include "proc/internal.h"
#include "runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* ----------------------------------------------------------- Process */

static int return_arg(void *arg)
{
    return (int)(intptr_t)arg;
}

static void exit_codes(void)
{
    struct {
        int ret, code;
    } cases[] = {{0, 0}, {7, 7}, {255, 255}, {300, 44}, {WV_EIO, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        wv_process_t *p;
        int code = -1;
        WVT_OK(wv_process_start(&p, NULL, return_arg,
                                (void *)(intptr_t)cases[i].ret));
        WVT_OK(wv_process_join(p, &code, WV_FOREVER));
        WVT_EQ(code, cases[i].code);
        WVT_OK(wv_process_exitcode(p, &code)); /* again, cached */
        WVT_EQ(code, cases[i].code);
        WVT_ASSERT(!wv_process_is_alive(p));
        wv_process_free(p);
    }
}

WVT_TEST(proc_exit_codes)
{
    exit_codes();
}

/* The state letter of /proc/PID/stat ('Z': a zombie, not reaped). */
static char proc_state(int pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *close = strrchr(buf, ')');
    return close && close[1] == ' ' ? close[2] : '?';
}

/* is_alive tells without reaping: the ended child stays a zombie whose
 * code the join still collects. */
WVT_TEST(proc_is_alive_reaps_nothing)
{
    wv_process_t *p;
    int code = -1;
    WVT_OK(wv_process_start(&p, NULL, return_arg, (void *)(intptr_t)5));
    WVT_POLL(!wv_process_is_alive(p), 10000);
    WVT_EQ(proc_state(wv_process_pid(p)), 'Z');
    WVT_OK(wv_process_join(p, &code, WV_NOWAIT));
    WVT_EQ(code, 5);
    WVT_ASSERT(proc_state(wv_process_pid(p)) != 'Z');
    WVT_ASSERT(!wv_process_is_alive(p));
    WVT_ASSERT(!wv_process_is_alive(NULL));
    wv_process_free(p);
}

/* Blocks until its pipe's write end is closed or a byte arrives.  The
 * child has both ends (a fork copies them all): it closes the write end
 * first, or it would wait for itself. */
static int wait_on_fd(void *arg)
{
    const int *fds = arg;
    char c;
    close(fds[1]);
    ssize_t n = read(fds[0], &c, 1);
    return n == 1 ? c : 0;
}

/* Starts wait_on_fd as opts says (NULL: defaults).  The pipe goes to the
 * child as its descriptors and their numbers as the argument bytes: what
 * the fork server needs, and what a fork does anyway. */
static wv_process_t *start_waiting_with(const wv_process_opts_t *opts, int *wfd)
{
    int fds[2];
    wv_process_t *p;
    wv_process_opts_t o = opts ? *opts : (wv_process_opts_t){0};
    WVT_EQ(pipe2(fds, O_CLOEXEC), 0);
    o.arg_size = sizeof fds;
    o.fds = fds;
    o.nfds = 2;
    WVT_OK(wv_process_start(&p, &o, wait_on_fd, fds));
    close(fds[0]);
    *wfd = fds[1];
    return p;
}

static wv_process_t *start_waiting(int *wfd)
{
    return start_waiting_with(NULL, wfd);
}

/* The bodies below run twice: as they are (forks), and with a fork
 * server running (its test cases at the end of the Process section). */
static void join_deadline(void)
{
    int wfd, code;
    wv_process_t *p = start_waiting(&wfd);

    WVT_ASSERT(wv_process_is_alive(p));
    WVT_ERR(wv_process_join(p, &code, WV_NOWAIT), WV_EAGAIN);
    WVT_ERR(wv_process_exitcode(p, &code), WV_EAGAIN);
    WVT_ERR(wv_process_join(p, &code, wv_deadline_in(20)), WV_ETIMEDOUT);
    WVT_EQ(write(wfd, "\x05", 1), 1);
    WVT_OK(wv_process_join(p, &code, WV_FOREVER));
    WVT_EQ(code, 5);
    close(wfd);
    wv_process_free(p);
}

WVT_TEST(proc_join_deadline)
{
    join_deadline();
}

static void signals_give_negative_codes(void)
{
    int wfd, code;
    wv_process_t *p = start_waiting(&wfd);
    WVT_OK(wv_process_terminate(p));
    WVT_OK(wv_process_join(p, &code, WV_FOREVER));
    WVT_EQ(code, -SIGTERM);
    WVT_OK(wv_process_terminate(p)); /* ended: not an error */
    WVT_OK(wv_process_kill(p));
    close(wfd);
    wv_process_free(p);

    p = start_waiting(&wfd);
    WVT_OK(wv_process_kill(p));
    WVT_OK(wv_process_join(p, &code, WV_FOREVER));
    WVT_EQ(code, -SIGKILL);
    WVT_ERR(wv_process_send_signal(p, 0), WV_EINVAL);
    WVT_ERR(wv_process_send_signal(p, 9999), WV_EINVAL);
    close(wfd);
    wv_process_free(p);
}

WVT_TEST(proc_signals_give_negative_codes)
{
    signals_give_negative_codes();
}

static int check_own_name(void *arg)
{
    char comm[32] = {0};
    int fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
    ssize_t n = read(fd, comm, sizeof comm - 1);
    close(fd);
    if (n > 0 && comm[n - 1] == '\n')
        comm[n - 1] = '\0';
    return strcmp(comm, arg) == 0 ? 0 : 1;
}

WVT_TEST(proc_names_and_pids)
{
    wv_process_t *p, *q;
    wv_process_opts_t opts = {.name = "cruncher"};
    int code;

    WVT_OK(wv_process_start(&p, &opts, check_own_name, "cruncher"));
    WVT_ASSERT(strcmp(wv_process_name(p), "cruncher") == 0);
    WVT_GT(wv_process_pid(p), 0);
    WVT_NE(wv_process_pid(p), getpid());
    WVT_OK(wv_process_join(p, &code, WV_FOREVER));
    WVT_EQ(code, 0); /* the child's OS name is its name */
    WVT_OK(wv_process_start(&q, NULL, return_arg, NULL));
    WVT_ASSERT(strncmp(wv_process_name(q), "Process-", 8) == 0);
    WVT_OK(wv_process_join(q, NULL, WV_FOREVER));
    wv_process_free(p);
    wv_process_free(q);
    WVT_ERR(wv_process_start(NULL, NULL, return_arg, NULL), WV_EINVAL);
    WVT_ERR(wv_process_start(&p, NULL, NULL, NULL), WV_EINVAL);
    WVT_ERR(wv_process_join(NULL, NULL, WV_FOREVER), WV_EINVAL);
    wv_process_free(NULL);
}

/* Freeing a running child kills and reaps it: nothing is left behind
 * (the runner fails the case if a process of its group outlives it). */
static void free_kills_running_child(void)
{
    int wfd;
    wv_process_t *p = start_waiting(&wfd);
    int pid = wv_process_pid(p);
    wv_process_free(p);
    WVT_ERR(kill(pid, 0) == 0 ? 0 : -errno, WV_ESRCH);
    close(wfd);
}

WVT_TEST(proc_free_kills_running_child)
{
    free_kills_running_child();
}

struct joiners {
    wv_process_t *p;
    int codes[4];
};

static void join_it(int i, void *arg)
{
    struct joiners *j = arg;
    WVT_OK(wv_process_join(j->p, &j->codes[i], WV_FOREVER));
}

WVT_TEST(proc_join_from_several_threads)
{
    int wfd;
    struct joiners j = {.p = start_waiting(&wfd)};
    close(wfd); /* the child returns 0... */
    wvt_run_threads(4, join_it, &j);
    for (int i = 0; i < 4; i++)
        WVT_EQ(j.codes[i], 0);
    wv_process_free(j.p);
}

WVT_TEST(proc_many_children)
{
    enum { N = 64 };
    wv_process_t *p[N];
    for (int round = 0; round < wvt_scale(4); round++) {
        for (int i = 0; i < N; i++)
            WVT_OK(wv_process_start(&p[i], NULL, return_arg,
                                    (void *)(intptr_t)(i % 200)));
        for (int i = N - 1; i >= 0; i--) {
            int code;
            WVT_OK(wv_process_join(p[i], &code, WV_FOREVER));
            WVT_EQ(code, i % 200);
            wv_process_free(p[i]);
        }
    }
}

/* A daemon child dies with its parent, however the parent dies. */
static int daemon_body(void *arg)
{
    /* fn runs once the death signal is armed: say so, then wait. */
    if (wv_conn_send(arg, "r", 1, WV_FOREVER))
        return 1;
    for (;;)
        pause();
    return 0;
}

static int start_daemon_then_die(void *arg)
{
    wv_conn_t *tell = arg, *r, *w;
    wv_process_t *d;
    wv_process_opts_t opts = {.daemon = true};
    char c;
    size_t len;

    if (wv_pipe(&r, &w, false) || wv_process_start(&d, &opts, daemon_body, w) ||
        wv_conn_recv(r, &c, 1, &len, WV_FOREVER))
        return 1;
    int pid = wv_process_pid(d);
    if (wv_conn_send(tell, &pid, sizeof pid, WV_FOREVER))
        return 2;
    _exit(0); /* no free, no join: the daemon must not outlive us */
}

WVT_TEST(proc_daemon_dies_with_parent)
{
    wv_conn_t *a, *b;
    wv_process_t *parent;
    int pid, code;
    size_t len;

    /* The orphaned daemon comes to us, to be reaped here. */
    WVT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    WVT_OK(wv_pipe(&a, &b, true));
    WVT_OK(wv_process_start(&parent, NULL, start_daemon_then_die, b));
    WVT_OK(wv_conn_recv(a, &pid, sizeof pid, &len, WV_FOREVER));
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    WVT_GE(pidfd, 0); /* alive or a zombie: it is not reaped yet */
    WVT_OK(wv_process_join(parent, &code, WV_FOREVER));
    WVT_EQ(code, 0);
    siginfo_t si = {0};
    WVT_EQ(waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED), 0); /* it ends */
    WVT_EQ(si.si_code, CLD_KILLED);
    WVT_EQ(si.si_status, SIGKILL);
    close(pidfd);
    wv_process_free(parent);
    wv_conn_free(a);
    wv_conn_free(b);
}

WVT_TEST(proc_raw_fork)
{
    int status;
    int pid = wv_fork();
    WVT_GE(pid, 0);
    if (pid == 0)
        _exit(3);
    WVT_EQ(waitpid(pid, &status, 0), pid);
    WVT_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 3);
}

/* -------------------------------------------------------- fork server */

/* Each case that starts the server stops it: the runner fails a case
 * that leaves a child process or a descriptor behind. */

static const wv_process_opts_t via_server = {.start = WV_START_FORKSERVER};

WVT_TEST(proc_forkserver_runs_the_process_cases)
{
    WVT_OK(wv_forkserver_start());
    exit_codes(); /* WV_START_AUTO: through the server now */
    join_deadline();
    signals_give_negative_codes();
    free_kills_running_child();
    wv_forkserver_stop();
}

WVT_TEST(proc_forkserver_names_and_exit_codes)
{
    wv_process_opts_t opts = {.name = "cruncher", .start = WV_START_FORKSERVER};
    wv_process_t *p;
    int code;

    WVT_OK(wv_forkserver_start());
    /* A string literal is static data: the server has it too. */
    WVT_OK(wv_process_start(&p, &opts, check_own_name, "cruncher"));
    WVT_EQ(wv__process_method(p), WV_START_FORKSERVER);
    WVT_ASSERT(strcmp(wv_process_name(p), "cruncher") == 0);
    WVT_GT(wv_process_pid(p), 0);
    WVT_OK(wv_process_join(p, &code, WV_FOREVER));
    WVT_EQ(code, 0);
    wv_process_free(p);
    for (int ret = 0; ret < 300; ret += 37) {
        WVT_OK(wv_process_start(&p, &via_server, return_arg,
                                (void *)(intptr_t)ret));
        WVT_OK(wv_process_join(p, &code, WV_FOREVER));
        WVT_EQ(code, ret & 0xff);
        wv_process_free(p);
    }
    wv_forkserver_stop();
}

/* In a fork's child: the parent's server is not ours. */
static int server_in_child(void *arg)
{
    wv_process_t *p;
    if (wv__forkserver_pid() != 0)
        return 1;
    if (wv_process_start(&p, &via_server, return_arg, NULL) != WV_ENOTCONN)
        return 2;
    return 0;
}

static void wait_for_event(void *arg)
{
    wv_event_wait(arg, WV_FOREVER);
}

static int started_by(const wv_process_opts_t *opts, int *code)
{
    wv_process_t *p;
    WVT_OK(wv_process_start(&p, opts, return_arg, (void *)(intptr_t)9));
    int method = wv__process_method(p);
    WVT_OK(wv_process_join(p, code, WV_FOREVER));
    wv_process_free(p);
    return method;
}

WVT_TEST(proc_forkserver_start_methods)
{
    wv_process_opts_t opts = {.start = WV_START_FORKSERVER};
    wv_process_t *p;
    wv_event_t go;
    int code, fd = -1;
    char byte;

    /* No server: AUTO forks, FORKSERVER is refused. */
    WVT_EQ(wv__forkserver_pid(), 0);
    WVT_ERR(wv_process_start(&p, &opts, return_arg, NULL), WV_ENOTCONN);
    WVT_EQ(started_by(NULL, &code), WV_START_FORK);
    WVT_EQ(code, 9);

    /* Options checked before anything starts. */
    opts.start = 7;
    WVT_ERR(wv_process_start(&p, &opts, return_arg, NULL), WV_EINVAL);
    opts = (wv_process_opts_t){.arg_size = 1};
    WVT_ERR(wv_process_start(&p, &opts, return_arg, NULL), WV_EINVAL);
    opts.arg_size = WV_PROCESS_ARG_MAX + 1;
    WVT_ERR(wv_process_start(&p, &opts, return_arg, &byte), WV_EMSGSIZE);
    opts = (wv_process_opts_t){.nfds = 1};
    WVT_ERR(wv_process_start(&p, &opts, return_arg, NULL), WV_EINVAL);
    opts = (wv_process_opts_t){.fds = &fd, .nfds = WV_PROCESS_MAX_FDS + 1};
    WVT_ERR(wv_process_start(&p, &opts, return_arg, NULL), WV_EINVAL);
    opts.nfds = 1;
    WVT_ERR(wv_process_start(&p, &opts, return_arg, NULL), WV_EBADF);

    /* Too late once another thread runs. */
    wv_event_init(&go);
    wvt_thread_t *t = wvt_spawn(wait_for_event, &go);
    WVT_ERR(wv_forkserver_start(), WV_EBUSY);
    wv_event_set(&go);
    wvt_join(t);

    /* Started (again: a no-op): AUTO goes through it, FORK does not. */
    WVT_OK(wv_forkserver_start());
    int server = wv__forkserver_pid();
    WVT_GT(server, 0);
    WVT_OK(wv_forkserver_start());
    WVT_EQ(wv__forkserver_pid(), server);
    WVT_EQ(started_by(NULL, &code), WV_START_FORKSERVER);
    WVT_EQ(code, 9);
    opts = (wv_process_opts_t){.start = WV_START_FORK};
    WVT_EQ(started_by(&opts, &code), WV_START_FORK);
    WVT_EQ(code, 9);
    /* And AUTO picks it when other threads run, the case it is for. */
    wv_event_clear(&go);
    t = wvt_spawn(wait_for_event, &go);
    WVT_EQ(started_by(NULL, &code), WV_START_FORKSERVER);
    wv_event_set(&go);
    wvt_join(t);

    /* A fork's child does not inherit it. */
    WVT_OK(wv_process_start(&p, &opts, server_in_child, NULL));
    WVT_OK(wv_process_join(p, &code, WV_FOREVER));
    WVT_EQ(code, 0);
    wv_process_free(p);

    /* A descriptor that is not open: refused, and the server goes on. */
    fd = 1000;
    opts = (wv_process_opts_t){
        .start = WV_START_FORKSERVER, .fds = &fd, .nfds = 1};
    WVT_ERR(wv_process_start(&p, &opts, return_arg, NULL), WV_EBADF);
    WVT_EQ(started_by(&via_server, &code), WV_START_FORKSERVER);

    wv_forkserver_stop();
    WVT_EQ(wv__forkserver_pid(), 0);
    wv_forkserver_stop(); /* no-op */
    WVT_EQ(started_by(NULL, &code), WV_START_FORK);
}

/*
 * The case the server is for: another thread holds a lock the child needs
 * (a pthread mutex, and stdout's FILE lock) when the child starts.  A
 * fork would copy both locked, and the child would hang for good (so
 * that case is not run).  The server's child has them free.
 */
static pthread_mutex_t shared_mutex = PTHREAD_MUTEX_INITIALIZER;

struct holder {
    wv_event_t held, done;
};

static void hold_locks(void *arg)
{
    struct holder *h = arg;
    pthread_mutex_lock(&shared_mutex);
    flockfile(stdout);
    wv_event_set(&h->held);
    wv_event_wait(&h->done, WV_FOREVER);
    funlockfile(stdout);
    pthread_mutex_unlock(&shared_mutex);
}

static int take_locks(void *arg)
{
    pthread_mutex_lock(&shared_mutex);
    flockfile(stdout);
    funlockfile(stdout);
    pthread_mutex_unlock(&shared_mutex);
    void *mem = malloc(100);
    free(mem);
    return 42;
}

WVT_TEST(proc_forkserver_child_of_threads_holding_locks)
{
    struct holder h;
    wv_process_t *p;
    int code;

    wv_event_init(&h.held);
    wv_event_init(&h.done);
    WVT_OK(wv_forkserver_start());
    wvt_thread_t *t = wvt_spawn(hold_locks, &h);
    WVT_OK(wv_event_wait(&h.held, WV_FOREVER));
    WVT_OK(wv_process_start(&p, NULL, take_locks, NULL));
    WVT_EQ(wv__process_method(p), WV_START_FORKSERVER); /* AUTO chose */
    WVT_OK(wv_process_join(p, &code, wv_deadline_in(10000)));
    WVT_EQ(code, 42);
    wv_process_free(p);
    wv_event_set(&h.done);
    wvt_join(t);
    wv_forkserver_stop();
}

/* Many threads start and join children through the server at once. */
static int return_copied(void *arg)
{
    return *(const int *)arg;
}

static void start_and_join_many(int i, void *arg)
{
    enum { N = 20 };
    wv_process_t *p[N];
    int code;

    for (long round = 0; round < wvt_scale(1); round++) {
        for (int j = 0; j < N; j++) {
            int value = (i * N + j) % 256; /* copied: may change at once */
            wv_process_opts_t opts = {.start = WV_START_FORKSERVER,
                                      .arg_size = sizeof value};
            WVT_OK(wv_process_start(&p[j], &opts, return_copied, &value));
        }
        for (int j = 0; j < N; j++) {
            WVT_OK(wv_process_join(p[j], &code, WV_FOREVER));
            WVT_EQ(code, (i * N + j) % 256);
            wv_process_free(p[j]);
        }
    }
}

WVT_TEST(proc_forkserver_concurrent_starts)
{
    WVT_OK(wv_forkserver_start());
    wvt_run_threads(8, start_and_join_many, NULL);
    wv_forkserver_stop();
}

/* Argument bytes: copied at the start (here, after the server started),
 * whole, and page-aligned for the server's children. */
static const char greeting[] = "static data, there when the server started";

static int check_greeting(void *arg)
{
    return arg == greeting && strcmp(arg, greeting) == 0 ? 0 : 1;
}

static int check_bytes(void *arg)
{
    const unsigned char *b = arg;
    size_t len;
    memcpy(&len, b, sizeof len);
    for (size_t i = 0; i < len; i++)
        if (b[sizeof len + i] != (unsigned char)(i * 7 + 3))
            return 1;
    return 0;
}

static int check_aligned_bytes(void *arg)
{
    return (uintptr_t)arg % 4096 != 0 ? 2 : check_bytes(arg);
}

WVT_TEST(proc_forkserver_copies_argument_bytes)
{
    size_t len = (1 << 20) + 3, size = sizeof len + len;
    unsigned char *buf = malloc(size);
    wv_process_opts_t opts = {.start = WV_START_FORKSERVER, .arg_size = size};
    wv_process_t *p, *q;
    int code;

    WVT_OK(wv_forkserver_start());
    memcpy(buf, &len, sizeof len);
    for (size_t i = 0; i < len; i++)
        buf[sizeof len + i] = (unsigned char)(i * 7 + 3);
    WVT_OK(wv_process_start(&p, &opts, check_aligned_bytes, buf));
    opts.start = WV_START_FORK; /* a fork: the same bytes, as they are */
    WVT_OK(wv_process_start(&q, &opts, check_bytes, buf));
    memset(buf, 0, size); /* both copies were made */
    WVT_OK(wv_process_join(p, &code, WV_FOREVER));
    WVT_EQ(code, 0);
    WVT_OK(wv_process_join(q, &code, WV_FOREVER));
    WVT_EQ(code, 0);
    wv_process_free(p);
    wv_process_free(q);
    /* arg_size 0: the pointer as it is, fine for static data. */
    WVT_OK(wv_process_start(&p, &via_server, check_greeting, (void *)greeting));
    WVT_OK(wv_process_join(p, &code, WV_FOREVER));
    WVT_EQ(code, 0);
    wv_process_free(p);
    free(buf);
    wv_forkserver_stop();
}

/* Descriptors: the child has those passed, at their numbers, with their
 * close-on-exec flag, and none of the server's or the caller's other
 * ones. */
static int check_fds(void *arg)
{
    const int *fds = arg; /* read end (cloexec), write end, not passed */
    char path[64], target[64];

    if (fcntl(fds[0], F_GETFD) != FD_CLOEXEC || fcntl(fds[1], F_GETFD) != 0)
        return 1;
    if (fcntl(fds[2], F_GETFD) != -1 || errno != EBADF)
        return 2;
    for (int fd = 3; fd < 1024; fd++) {
        if (fd == fds[0] || fd == fds[1] || fcntl(fd, F_GETFD) < 0)
            continue;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, target, sizeof target - 1);
        target[n > 0 ? n : 0] = '\0';
        fprintf(stderr, "child of the server has fd %d: %s\n", fd, target);
        return 3;
    }
    return write(fds[1], "x", 1) == 1 ? 0 : 4;
}

WVT_TEST(proc_forkserver_passes_descriptors)
{
    int cloexec[2], plain[2], fds[3];
    char byte;
    wv_process_t *p;
    int code;

    WVT_OK(wv_forkserver_start());
    WVT_EQ(pipe2(cloexec, O_CLOEXEC), 0);
    WVT_EQ(pipe2(plain, 0), 0);
    fds[0] = cloexec[0];
    fds[1] = plain[1];
    fds[2] = plain[0];
    wv_process_opts_t opts = {.start = WV_START_FORKSERVER,
                              .arg_size = sizeof fds,
                              .fds = fds,
                              .nfds = 2};
    WVT_OK(wv_process_start(&p, &opts, check_fds, fds));
    WVT_OK(wv_process_join(p, &code, WV_FOREVER));
    WVT_EQ(code, 0);
    WVT_EQ(read(plain[0], &byte, 1), 1);
    WVT_EQ(byte, 'x');
    wv_process_free(p);
    for (int i = 0; i < 2; i++) {
        close(cloexec[i]);
        close(plain[i]);
    }
    wv_forkserver_stop();
}

static int pidfd_of(int pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Waits until the process of pidfd has ended (or was reaped: -1). */
static void await_end(int pidfd)
{
    struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
    if (pidfd >= 0)
        WVT_EQ(poll(&pfd, 1, 10000), 1);
}

/* A daemon's fn runs once its death signal is armed: it says so on the
 * descriptor its argument names, then waits. */
static int daemon_signals_ready(void *arg)
{
    if (write(*(const int *)arg, "r", 1) != 1)
        return 1;
    for (;;)
        pause();
    return 0;
}

/* Out of descriptors: a start is WV_EMFILE and the server lives on (a
 * lost reply descriptor used to make the server dead to us for good). */
WVT_TEST(proc_forkserver_out_of_descriptors_is_emfile)
{
    struct rlimit old, low;
    wv_process_t *p;
    int code, fds[64], n = 0;

    WVT_OK(wv_forkserver_start());
    WVT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 64;
    WVT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    while (n < 64 && (fds[n] = dup(0)) >= 0) /* fill every hole */
        n++;
    WVT_GT(n, 1);
    close(fds[--n]); /* one left: the reply needs two */
    WVT_ERR(wv_process_start(&p, NULL, return_arg, (void *)(intptr_t)5),
            WV_EMFILE);
    while (n > 0)
        close(fds[--n]);
    WVT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
    WVT_OK(wv_process_start(&p, NULL, return_arg, (void *)(intptr_t)5));
    WVT_OK(wv_process_join(p, &code, wv_deadline_in(10000)));
    WVT_EQ(code, 5);
    wv_process_free(p);
    wv_forkserver_stop();
}

/* The server killed: starts fail with WV_EPIPE, handles stay usable, and
 * nothing hangs. */
WVT_TEST(proc_forkserver_death_is_a_clear_error)
{
    wv_process_t *ended, *running, *doomed, *p;
    int wfd, ready[2], code, status;
    char byte;

    /* The server's orphans come to us, to be reaped here. */
    WVT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    WVT_OK(wv_forkserver_start());
    WVT_OK(wv_process_start(&ended, &via_server, return_arg, (void *)7));
    int pidfd = pidfd_of(wv_process_pid(ended)); /* -1: reaped already */
    await_end(pidfd);
    if (pidfd >= 0)
        close(pidfd);
    /* Exits are reported before a later request is served: by now the
     * server has written ended's code. */
    running = start_waiting(&wfd);
    WVT_EQ(pipe2(ready, O_CLOEXEC), 0);
    wv_process_opts_t daemon = {.daemon = true,
                                .arg_size = sizeof ready[1],
                                .fds = &ready[1],
                                .nfds = 1};
    WVT_OK(wv_process_start(&doomed, &daemon, daemon_signals_ready, &ready[1]));
    WVT_EQ(read(ready[0], &byte, 1), 1); /* armed */

    int old_server = wv__forkserver_pid();
    int server = pidfd_of(old_server);
    WVT_GE(server, 0);
    WVT_EQ(syscall(SYS_pidfd_send_signal, server, SIGKILL, NULL, 0), 0);
    await_end(server);
    close(server);

    WVT_ERR(wv_process_start(&p, &via_server, return_arg, NULL), WV_EPIPE);
    WVT_ERR(wv_process_start(&p, NULL, return_arg, NULL), WV_EPIPE);
    WVT_ERR(wv_process_start(&p, NULL, return_arg, NULL), WV_EPIPE);
    /* A code written before the death is still read. */
    WVT_OK(wv_process_join(ended, &code, WV_FOREVER));
    WVT_EQ(code, 7);
    /* The daemon died with the server; its code went with the server. */
    WVT_ERR(wv_process_join(doomed, &code, wv_deadline_in(10000)), WV_ECHILD);
    /* The other lives on, joins time out, and it ends when told. */
    WVT_ASSERT(wv_process_is_alive(running));
    WVT_ERR(wv_process_join(running, &code, wv_deadline_in(10)), WV_ETIMEDOUT);
    close(wfd);
    WVT_ERR(wv_process_join(running, &code, wv_deadline_in(10000)), WV_ECHILD);
    WVT_OK(wv_process_terminate(running)); /* ended: not an error */

    /* A new start replaces (and reaps) the dead server.  Its orphans are
     * ours (the subreaper). */
    WVT_OK(wv_forkserver_start());
    WVT_GT(wv__forkserver_pid(), 0);
    WVT_NE(wv__forkserver_pid(), old_server);
    WVT_EQ(waitpid(wv_process_pid(doomed), &status, 0), wv_process_pid(doomed));
    WVT_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    WVT_EQ(waitpid(wv_process_pid(running), &status, 0),
           wv_process_pid(running));
    WVT_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(ready[0]);
    close(ready[1]);
    wv_process_free(ended);
    wv_process_free(running);
    wv_process_free(doomed);

    /* The new server works. */
    WVT_EQ(started_by(NULL, &code), WV_START_FORKSERVER);
    WVT_EQ(code, 9);
    wv_forkserver_stop();
}

/* A daemon started through the server dies when the process that started
 * the server dies (the server dies with it, and the daemon with that). */
static int start_server_daemon_then_die(void *arg)
{
    wv_conn_t *tell = arg;
    wv_process_t *d;
    int fds[2], pids[2];
    char c;

    if (wv_forkserver_start() || pipe2(fds, O_CLOEXEC))
        return 1;
    wv_process_opts_t opts = {.daemon = true,
                              .start = WV_START_FORKSERVER,
                              .arg_size = sizeof fds[1],
                              .fds = &fds[1],
                              .nfds = 1};
    if (wv_process_start(&d, &opts, daemon_signals_ready, &fds[1]) ||
        read(fds[0], &c, 1) != 1)
        return 2;
    pids[0] = wv_process_pid(d);
    pids[1] = wv__forkserver_pid();
    if (wv_conn_send(tell, pids, sizeof pids, WV_FOREVER))
        return 3;
    _exit(0); /* no stop, no free: neither may outlive us */
}

WVT_TEST(proc_forkserver_daemon_dies_with_client)
{
    wv_process_opts_t opts = {.start = WV_START_FORK};
    wv_conn_t *a, *b;
    wv_process_t *client;
    int pids[2], code;
    size_t len;

    /* The orphans come to us, to be reaped here. */
    WVT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    WVT_OK(wv_pipe(&a, &b, true));
    WVT_OK(wv_process_start(&client, &opts, start_server_daemon_then_die, b));
    WVT_OK(wv_conn_recv(a, pids, sizeof pids, &len, WV_FOREVER));
    int daemon = pidfd_of(pids[0]), server = pidfd_of(pids[1]);
    WVT_GE(daemon, 0); /* alive or zombies: not reaped yet */
    WVT_GE(server, 0);
    WVT_OK(wv_process_join(client, &code, WV_FOREVER));
    WVT_EQ(code, 0);
    /* The server ends: killed by its death signal, or leaving at the end
     * of its socket, whichever comes first.  Then its orphan is ours, and
     * it was killed. */
    siginfo_t si = {0};
    WVT_EQ(waitid(P_PIDFD, (id_t)server, &si, WEXITED), 0);
    WVT_ASSERT((si.si_code == CLD_KILLED && si.si_status == SIGKILL) ||
               (si.si_code == CLD_EXITED && si.si_status == 0));
    memset(&si, 0, sizeof si);
    WVT_EQ(waitid(P_PIDFD, (id_t)daemon, &si, WEXITED), 0);
    WVT_ASSERT(si.si_code == CLD_KILLED && si.si_status == SIGKILL);
    close(daemon);
    close(server);
    wv_process_free(client);
    wv_conn_free(a);
    wv_conn_free(b);
}

/* ---------------------------------------------- private fork servers */

/* What the process pool builds on: servers of its own, forked from one
 * of its threads, next to the global one. */

/* The argument bytes of a child that checks who forked it. */
struct parented {
    int parent; /* the server that must have forked it */
    int value;  /* returned when it did */
};

static int check_parent(void *arg)
{
    const struct parented *a = arg;
    return getppid() == a->parent ? a->value : 255;
}

/* Starts check_parent through s (NULL: the global server) and returns
 * the handle. */
static wv_process_t *start_parented(wv__fserver_t *s, int value)
{
    struct parented a = {wv__fserver_pid(s), value};
    wv_process_opts_t opts = {.start = WV_START_FORKSERVER,
                              .arg_size = sizeof a};
    wv_process_t *p;

    WVT_GT(a.parent, 0);
    if (s)
        WVT_OK(wv__process_start_via(s, &p, &opts, check_parent, &a));
    else
        WVT_OK(wv_process_start(&p, &opts, check_parent, &a));
    return p;
}

/* wait_on_fd through s (see start_waiting_with). */
static wv_process_t *start_waiting_via(wv__fserver_t *s, int *wfd)
{
    int fds[2];
    wv_process_t *p;
    wv_process_opts_t o = {.arg_size = sizeof fds, .fds = fds, .nfds = 2};
    WVT_EQ(pipe2(fds, O_CLOEXEC), 0);
    WVT_OK(wv__process_start_via(s, &p, &o, wait_on_fd, fds));
    close(fds[0]);
    *wfd = fds[1];
    return p;
}

/* The process has been reaped (a zombie still has its /proc entry). */
static bool is_reaped(int pid)
{
    char path[32];
    snprintf(path, sizeof path, "/proc/%d", pid);
    return access(path, F_OK) < 0 && errno == ENOENT;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    WVT_ASSERT(d != NULL);
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own */
}

WVT_TEST(proc_fserver_exit_codes)
{
    wv_process_opts_t opts = {.start = 7}; /* not used */
    wv__fserver_t *s;
    wv_process_t *p;
    int code, wfd;

    WVT_ERR(wv__fserver_new(NULL), WV_EINVAL);
    WVT_OK(wv__fserver_new(&s));
    WVT_GT(wv__fserver_pid(s), 0);
    WVT_EQ(wv__forkserver_pid(), 0); /* the global one is another */
    int rets[] = {0, 7};
    for (int i = 0; i < 2; i++) {
        p = start_parented(s, rets[i]);
        WVT_EQ(wv__process_method(p), WV_START_FORKSERVER);
        WVT_OK(wv_process_join(p, &code, WV_FOREVER));
        WVT_EQ(code, rets[i]);
        WVT_ASSERT(!wv_process_is_alive(p));
        wv_process_free(p);
    }
    WVT_OK(wv__process_start_via(s, &p, &opts, return_arg, (void *)3));
    WVT_OK(wv_process_join(p, &code, WV_FOREVER));
    WVT_EQ(code, 3);
    wv_process_free(p);
    WVT_ERR(wv__process_start_via(NULL, &p, NULL, return_arg, NULL), WV_EINVAL);
    WVT_ERR(wv__process_start_via(s, NULL, NULL, return_arg, NULL), WV_EINVAL);

    /* Killed: minus the signal; deadlines as with any child. */
    p = start_waiting_via(s, &wfd);
    WVT_ASSERT(wv_process_is_alive(p));
    WVT_ERR(wv_process_join(p, &code, wv_deadline_in(20)), WV_ETIMEDOUT);
    WVT_OK(wv_process_kill(p));
    WVT_OK(wv_process_join(p, &code, WV_FOREVER));
    WVT_EQ(code, -SIGKILL);
    close(wfd);
    wv_process_free(p);
    /* And one freed while it runs: killed and reaped by the server. */
    p = start_waiting_via(s, &wfd);
    int pid = wv_process_pid(p);
    wv_process_free(p);
    WVT_ASSERT(is_reaped(pid));
    close(wfd);

    /* A private server changes nothing for WV_START_AUTO. */
    WVT_EQ(started_by(NULL, &code), WV_START_FORK);
    wv__fserver_free(s);
    wv__fserver_free(NULL);
}

/* Two private servers and the global one, four threads spawning through
 * all three at once; every child must come from the server asked. */
static wv__fserver_t *servers[3]; /* [2]: NULL, the global one */

static void spawn_through_all(int i, void *arg)
{
    enum { ROUNDS = 5, BATCH = 10 };
    wv_process_t *p[BATCH];
    int code;

    for (int round = 0; round < ROUNDS; round++) {
        for (int j = 0; j < BATCH; j++)
            p[j] = start_parented(servers[(i + j) % 3], (i * 50 + j) % 200);
        for (int j = 0; j < BATCH; j++) {
            WVT_OK(wv_process_join(p[j], &code, wv_deadline_in(10000)));
            WVT_EQ(code, (i * 50 + j) % 200);
            wv_process_free(p[j]);
        }
    }
}

WVT_TEST(proc_fserver_servers_side_by_side)
{
    WVT_OK(wv_forkserver_start()); /* while single-threaded */
    WVT_OK(wv__fserver_new(&servers[0]));
    WVT_OK(wv__fserver_new(&servers[1]));
    servers[2] = NULL;
    WVT_NE(wv__fserver_pid(servers[0]), wv__fserver_pid(servers[1]));
    WVT_NE(wv__fserver_pid(servers[0]), wv__forkserver_pid());
    wvt_run_threads(4, spawn_through_all, NULL);
    /* One freed: the others go on. */
    wv__fserver_free(servers[0]);
    wv_process_t *p = start_parented(servers[1], 11);
    int code;
    WVT_OK(wv_process_join(p, &code, WV_FOREVER));
    WVT_EQ(code, 11);
    wv_process_free(p);
    wv__fserver_free(servers[1]);
    WVT_EQ(started_by(NULL, &code), WV_START_FORKSERVER);
    wv_forkserver_stop();
}

/*
 * The property the pool relies on: a server created while other threads
 * run copies memory as it is at that instant, and its children are
 * copies of that image, whatever the threads hold later.  A thread takes
 * shared_mutex and stdout's lock after the server was made; children
 * through it take both.  A second server, made while they are held, has
 * them held for good: its child finds them taken (trylock, so that the
 * test cannot hang).
 */
struct late_holder {
    wv_event_t go, held, done;
};

static void hold_locks_when_told(void *arg)
{
    struct late_holder *h = arg;
    wv_event_wait(&h->go, WV_FOREVER);
    pthread_mutex_lock(&shared_mutex);
    flockfile(stdout);
    wv_event_set(&h->held);
    wv_event_wait(&h->done, WV_FOREVER);
    funlockfile(stdout);
    pthread_mutex_unlock(&shared_mutex);
}

static int try_locks(void *arg)
{
    if (pthread_mutex_trylock(&shared_mutex) != 0)
        return 1;
    pthread_mutex_unlock(&shared_mutex);
    if (ftrylockfile(stdout) != 0)
        return 2;
    funlockfile(stdout);
    return 0;
}

WVT_TEST(proc_fserver_children_of_the_image_at_creation)
{
    struct late_holder h;
    wv__fserver_t *before, *during;
    wv_process_t *p;
    int code;

    wv_event_init(&h.go);
    wv_event_init(&h.held);
    wv_event_init(&h.done);
    wvt_thread_t *t = wvt_spawn(hold_locks_when_told, &h);
    WVT_OK(wv__fserver_new(&before)); /* another thread runs */
    wv_event_set(&h.go);
    WVT_OK(wv_event_wait(&h.held, WV_FOREVER));
    for (int i = 0; i < 5; i++) {
        WVT_OK(wv__process_start_via(before, &p, NULL, take_locks, NULL));
        WVT_OK(wv_process_join(p, &code, wv_deadline_in(10000)));
        WVT_EQ(code, 42);
        wv_process_free(p);
    }
    WVT_OK(wv__process_start_via(before, &p, NULL, try_locks, NULL));
    WVT_OK(wv_process_join(p, &code, wv_deadline_in(10000)));
    WVT_EQ(code, 0);
    wv_process_free(p);
    /* The negative: a server made while the mutex is held.  (Made while
     * another thread holds stdout's lock, it would wait for it in
     * fflush(NULL): this time the mutex is ours, and stdout free.) */
    WVT_EQ(pthread_mutex_trylock(&shared_mutex), EBUSY);
    wv_event_set(&h.done);
    wvt_join(t);
    pthread_mutex_lock(&shared_mutex);
    WVT_OK(wv__fserver_new(&during));
    WVT_OK(wv__process_start_via(during, &p, NULL, try_locks, NULL));
    WVT_OK(wv_process_join(p, &code, wv_deadline_in(10000)));
    WVT_EQ(code, 1); /* copied held */
    wv_process_free(p);
    pthread_mutex_unlock(&shared_mutex);
    wv__fserver_free(during);
    wv__fserver_free(before);
}

/* Freeing the server kills its daemons; the others live on, as at
 * wv_forkserver_stop. */
WVT_TEST(proc_fserver_daemon_dies_at_free)
{
    wv__fserver_t *s;
    wv_process_t *doomed, *running;
    int ready[2], wfd, code, status;
    char byte;

    /* The server's orphans come to us, to be reaped here. */
    WVT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    WVT_OK(wv__fserver_new(&s));
    WVT_EQ(pipe2(ready, O_CLOEXEC), 0);
    wv_process_opts_t daemon = {.daemon = true,
                                .arg_size = sizeof ready[1],
                                .fds = &ready[1],
                                .nfds = 1};
    WVT_OK(wv__process_start_via(s, &doomed, &daemon, daemon_signals_ready,
                                 &ready[1]));
    WVT_EQ(read(ready[0], &byte, 1), 1); /* armed */
    running = start_waiting_via(s, &wfd);
    int dpid = wv_process_pid(doomed), rpid = wv_process_pid(running);
    int dfd = pidfd_of(dpid);
    WVT_GE(dfd, 0);

    wv__fserver_free(s);
    await_end(dfd);
    close(dfd);
    WVT_EQ(waitpid(dpid, &status, 0), dpid);
    WVT_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    WVT_ERR(wv_process_join(doomed, &code, wv_deadline_in(10000)), WV_ECHILD);
    WVT_ASSERT(wv_process_is_alive(running));
    close(wfd);
    WVT_EQ(waitpid(rpid, &status, 0), rpid);
    WVT_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    WVT_ERR(wv_process_join(running, &code, wv_deadline_in(10000)), WV_ECHILD);
    wv_process_free(doomed);
    wv_process_free(running);
    close(ready[0]);
    close(ready[1]);
}

/* The server is reaped at free, with children or without, dead or
 * alive. */
WVT_TEST(proc_fserver_free_reaps_the_server)
{
    wv__fserver_t *s;
    wv_process_t *p;

    WVT_OK(wv__fserver_new(&s));
    int pid = wv__fserver_pid(s);
    WVT_ASSERT(!is_reaped(pid));
    wv__fserver_free(s);
    WVT_ASSERT(is_reaped(pid));

    /* Killed: spawns are WV_EPIPE, and free still reaps it. */
    WVT_OK(wv__fserver_new(&s));
    pid = wv__fserver_pid(s);
    int server = pidfd_of(pid);
    WVT_EQ(syscall(SYS_pidfd_send_signal, server, SIGKILL, NULL, 0), 0);
    await_end(server);
    close(server);
    WVT_ERR(wv__process_start_via(s, &p, NULL, return_arg, NULL), WV_EPIPE);
    WVT_ERR(wv__process_start_via(s, &p, NULL, return_arg, NULL), WV_EPIPE);
    WVT_ASSERT(!is_reaped(pid)); /* a zombie until free */
    wv__fserver_free(s);
    WVT_ASSERT(is_reaped(pid));
}

/* In a fork of the owner (plain, or a child of another server: a pool's
 * worker) the server is not usable, its descriptors are not there, and
 * freeing it there harms nothing. */
static int use_parents_server(void *arg)
{
    wv__fserver_t *s = arg;
    wv_process_t *p;
    char path[64], target[64];

    if (wv__process_start_via(s, &p, NULL, return_arg, NULL) != WV_ENOTCONN)
        return 1;
    if (wv__fserver_pid(s) != 0)
        return 2;
    for (int fd = 0; fd < 1024; fd++) {
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, target, sizeof target - 1);
        target[n > 0 ? n : 0] = '\0';
        if (strncmp(target, "socket:", 7) == 0 ||
            strcmp(target, "anon_inode:[pidfd]") == 0) {
            fprintf(stderr, "fork of the owner has fd %d: %s\n", fd, target);
            return 3;
        }
    }
    wv__fserver_free(s);
    return 0;
}

WVT_TEST(proc_fserver_forks_of_the_owner_cannot_use_it)
{
    wv_process_opts_t fork = {.start = WV_START_FORK};
    wv__fserver_t *s, *other;
    wv_process_t *p;
    int code;

    WVT_OK(wv__fserver_new(&s));
    WVT_OK(wv_process_start(&p, &fork, use_parents_server, s));
    WVT_OK(wv_process_join(p, &code, WV_FOREVER));
    WVT_EQ(code, 0);
    wv_process_free(p);
    int pid = wv_fork();
    WVT_GE(pid, 0);
    if (pid == 0)
        _exit(use_parents_server(s));
    int status;
    WVT_EQ(waitpid(pid, &status, 0), pid);
    WVT_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* A child of another server: its image holds s, as the owner's. */
    WVT_OK(wv__fserver_new(&other));
    WVT_OK(wv__process_start_via(other, &p, NULL, use_parents_server, s));
    WVT_OK(wv_process_join(p, &code, WV_FOREVER));
    WVT_EQ(code, 0);
    wv_process_free(p);
    wv__fserver_free(other);
    /* The owner's server is unharmed. */
    p = start_parented(s, 5);
    WVT_OK(wv_process_join(p, &code, WV_FOREVER));
    WVT_EQ(code, 5);
    wv_process_free(p);
    wv__fserver_free(s);
}

/* A fork that ran no atfork handler keeps copies of the server's
 * descriptors: they must not keep the server alive past free (which
 * would then wait for it for good). */
WVT_TEST(proc_fserver_copies_do_not_keep_it_alive)
{
    wv__fserver_t *s;
    int hold[2], status;

    WVT_EQ(pipe2(hold, O_CLOEXEC), 0);
    WVT_OK(wv__fserver_new(&s));
    int server = wv__fserver_pid(s);
    long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0); /* no handlers */
    if (pid == 0) {
        char c;
        syscall(SYS_close, hold[1]);
        syscall(SYS_read, hold[0], &c, 1);
        syscall(SYS_exit_group, 0);
    }
    WVT_GT(pid, 0);
    wv__fserver_free(s);
    WVT_ASSERT(is_reaped(server));
    close(hold[1]);
    WVT_EQ(waitpid((int)pid, &status, 0), pid);
    WVT_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(hold[0]);
}

/* 200 spawns and a free leave no descriptor and no zombie behind: the
 * server reaps each child before it reports its code. */
WVT_TEST(proc_fserver_no_leaks)
{
    wv__fserver_t *s;
    wv_process_t *p;
    int code, before = count_fds();

    WVT_OK(wv__fserver_new(&s));
    int server = wv__fserver_pid(s);
    for (int i = 0; i < 200; i++) {
        WVT_OK(wv__process_start_via(s, &p, NULL, return_arg,
                                     (void *)(intptr_t)i));
        WVT_OK(wv_process_join(p, &code, WV_FOREVER));
        WVT_EQ(code, i);
        WVT_ASSERT(is_reaped(wv_process_pid(p)));
        wv_process_free(p);
    }
    wv__fserver_free(s);
    WVT_ASSERT(is_reaped(server));
    WVT_EQ(count_fds(), before);
}

/* --------------------------------------------------------------- Pipe */

static size_t sizes[] = {0,   1,     15,    16,     17,
                         100, 65535, 65536, 200000, (1 << 20) + 3};
#define NSIZES (sizeof sizes / sizeof *sizes)

static void fill(char *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)(seed * 31 + i * 7);
}

static bool filled(const char *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != (char)(seed * 31 + i * 7))
            return false;
    return true;
}

/* The child echoes every message back, then ends at EOF.  It has both
 * ends (a fork copies them): it closes the parent's, as with Python. */
static wv_conn_t *ends[2];

static int echo_child(void *arg)
{
    wv_conn_t *c = ends[1];
    wv_conn_free(ends[0]);
    size_t cap = 2 << 20, len;
    char *buf = malloc(cap);
    int err;
    while ((err = wv_conn_recv(c, buf, cap, &len, WV_FOREVER)) == 0)
        if (wv_conn_send(c, buf, len, WV_FOREVER))
            return 2;
    free(buf);
    return err == WV_EOF ? 0 : 1;
}

WVT_TEST(pipe_duplex_roundtrip_with_a_child)
{
    wv_conn_t *a, *b;
    wv_process_t *p;
    char *out = malloc(2 << 20), *in = malloc(2 << 20);
    size_t len;
    int code;

    WVT_OK(wv_pipe(&a, &b, true));
    ends[0] = a;
    ends[1] = b;
    WVT_OK(wv_process_start(&p, NULL, echo_child, NULL));
    wv_conn_free(b);
    for (unsigned round = 0; round < 3; round++) {
        for (size_t i = 0; i < NSIZES; i++) {
            fill(out, sizes[i], round + (unsigned)i);
            WVT_OK(wv_conn_send(a, out, sizes[i], WV_FOREVER));
            WVT_OK(wv_conn_recv(a, in, 2 << 20, &len, WV_FOREVER));
            WVT_EQ(len, sizes[i]);
            WVT_ASSERT(filled(in, len, round + (unsigned)i));
        }
    }
    wv_conn_free(a); /* the child sees EOF */
    WVT_OK(wv_process_join(p, &code, WV_FOREVER));
    WVT_EQ(code, 0);
    wv_process_free(p);
    free(out);
    free(in);
}

WVT_TEST(pipe_one_way)
{
    wv_conn_t *r, *w;
    char buf[8];
    size_t len;

    WVT_OK(wv_pipe(&r, &w, false));
    WVT_ERR(wv_conn_send(r, "x", 1, WV_FOREVER), WV_EBADF);
    WVT_ERR(wv_conn_recv(w, buf, sizeof buf, &len, WV_FOREVER), WV_EBADF);
    int some_fd = wv_conn_fileno(r);
    WVT_ERR(wv_conn_send_fds(w, "x", 1, &some_fd, 1, WV_FOREVER), WV_ENOTSUP);
    WVT_OK(wv_conn_send(w, "hello", 5, WV_FOREVER));
    WVT_OK(wv_conn_poll(r, WV_FOREVER));
    WVT_OK(wv_conn_recv(r, buf, sizeof buf, &len, WV_FOREVER));
    WVT_ASSERT(len == 5 && memcmp(buf, "hello", 5) == 0);
    wv_conn_free(r);
    /* A closed reader: WV_EPIPE, and SIGPIPE does not kill us. */
    WVT_ERR(wv_conn_send(w, "x", 1, WV_FOREVER), WV_EPIPE);
    wv_conn_free(w);
}

WVT_TEST(pipe_message_too_long_stays)
{
    wv_conn_t *a, *b;
    char small[4], big[64];
    size_t len = 0;

    WVT_OK(wv_pipe(&a, &b, true));
    WVT_OK(wv_conn_send(a, "0123456789", 10, WV_FOREVER));
    WVT_ERR(wv_conn_recv(b, small, sizeof small, &len, WV_FOREVER),
            WV_EMSGSIZE);
    WVT_EQ(len, 10);
    WVT_OK(wv_conn_recv(b, big, sizeof big, &len, WV_FOREVER));
    WVT_ASSERT(len == 10 && memcmp(big, "0123456789", 10) == 0);
    WVT_ERR(wv_conn_send(a, big, WV_CONN_MAX_MSG + 1, WV_FOREVER), WV_EMSGSIZE);
    wv_conn_free(a);
    wv_conn_free(b);
}

WVT_TEST(pipe_eof_after_the_last_message)
{
    for (int duplex = 0; duplex < 2; duplex++) {
        wv_conn_t *r, *w;
        char buf[8];
        size_t len;
        WVT_OK(wv_pipe(&r, &w, duplex));
        WVT_OK(wv_conn_send(w, "a", 1, WV_FOREVER));
        WVT_OK(wv_conn_send(w, "bc", 2, WV_FOREVER));
        wv_conn_free(w);
        WVT_OK(wv_conn_recv(r, buf, sizeof buf, &len, WV_FOREVER));
        WVT_EQ(len, 1);
        WVT_OK(wv_conn_recv(r, buf, sizeof buf, &len, WV_FOREVER));
        WVT_EQ(len, 2);
        WVT_ERR(wv_conn_recv(r, buf, sizeof buf, &len, WV_FOREVER), WV_EOF);
        WVT_OK(wv_conn_poll(r, 0)); /* the end is "ready" */
        WVT_ERR(wv_conn_recv(r, buf, sizeof buf, &len, WV_FOREVER), WV_EOF);
        wv_conn_free(r);
    }
    /* A duplex peer gone: sending is WV_EPIPE. */
    wv_conn_t *a, *b;
    WVT_OK(wv_pipe(&a, &b, true));
    wv_conn_free(b);
    WVT_ERR(wv_conn_send(a, "x", 1, WV_FOREVER), WV_EPIPE);
    wv_conn_free(a);
}

/* close (Python's close) closes the end but keeps the handle: the peer
 * sees the end, every later call on it is WV_EBADF, a second close is
 * fine, and free after close releases the rest. */
WVT_TEST(pipe_close_is_not_free)
{
    for (int duplex = 0; duplex < 2; duplex++) {
        wv_conn_t *r, *w;
        char buf[8];
        size_t len;
        WVT_OK(wv_pipe(&r, &w, duplex));
        WVT_OK(wv_conn_send(w, "hi", 2, WV_FOREVER));
        WVT_ASSERT(wv_conn_fileno(w) >= 0);
        WVT_OK(wv_conn_close(w));
        WVT_OK(wv_conn_close(w)); /* twice: allowed */
        WVT_ERR(wv_conn_send(w, "x", 1, WV_FOREVER), WV_EBADF);
        WVT_ERR(wv_conn_flush(w, WV_NOWAIT), WV_EBADF);
        WVT_ERR(wv_conn_fileno(w), WV_EBADF);
        WVT_OK(wv_conn_recv(r, buf, sizeof buf, &len, WV_FOREVER));
        WVT_EQ(len, 2);
        WVT_ERR(wv_conn_recv(r, buf, sizeof buf, &len, WV_FOREVER), WV_EOF);
        WVT_OK(wv_conn_close(r));
        WVT_ERR(wv_conn_recv(r, buf, sizeof buf, &len, WV_NOWAIT), WV_EBADF);
        WVT_ERR(wv_conn_poll(r, WV_NOWAIT), WV_EBADF);
        wv_conn_free(w);
        wv_conn_free(r);
    }
    WVT_ERR(wv_conn_close(NULL), WV_EINVAL);
}

/* A message that has partly arrived at the deadline stays buffered. */
WVT_TEST(pipe_recv_deadline_keeps_partial_message)
{
    wv_conn_t *a, *b;
    char buf[64];
    size_t len;
    struct {
        uint64_t len;
        uint32_t nfds, magic;
    } hdr = {5, 0, 0x474d5657u};

    WVT_OK(wv_pipe(&a, &b, true));
    WVT_ERR(wv_conn_recv(b, buf, sizeof buf, &len, WV_NOWAIT), WV_EAGAIN);
    WVT_ERR(wv_conn_poll(b, wv_deadline_in(10)), WV_ETIMEDOUT);
    WVT_EQ(write(wv_conn_fileno(a), &hdr, sizeof hdr), sizeof hdr);
    WVT_EQ(write(wv_conn_fileno(a), "he", 2), 2);
    WVT_ERR(wv_conn_recv(b, buf, sizeof buf, &len, wv_deadline_in(10)),
            WV_ETIMEDOUT);
    WVT_EQ(write(wv_conn_fileno(a), "llo", 3), 3);
    WVT_OK(wv_conn_recv(b, buf, sizeof buf, &len, WV_FOREVER));
    WVT_ASSERT(len == 5 && memcmp(buf, "hello", 5) == 0);
    wv_conn_free(a);
    wv_conn_free(b);
}

/* A send whose deadline passes half way commits the message: it arrives
 * whole, before the next one. */
struct reader {
    wv_conn_t *c;
    wv_event_t go;
    size_t big;
};

static void read_later(void *arg)
{
    struct reader *r = arg;
    char *buf = malloc(r->big);
    size_t len;
    wv_event_wait(&r->go, WV_FOREVER);
    WVT_OK(wv_conn_recv(r->c, buf, r->big, &len, WV_FOREVER));
    WVT_EQ(len, r->big);
    WVT_ASSERT(filled(buf, len, 9));
    WVT_OK(wv_conn_recv(r->c, buf, r->big, &len, WV_FOREVER));
    WVT_ASSERT(len == 4 && memcmp(buf, "next", 4) == 0);
    free(buf);
}

WVT_TEST(pipe_send_deadline_commits_the_message)
{
    struct reader r = {.big = 16 << 20};
    wv_conn_t *a;
    char *big = malloc(r.big);

    fill(big, r.big, 9);
    wv_event_init(&r.go);
    WVT_OK(wv_pipe(&a, &r.c, true));
    wvt_thread_t *t = wvt_spawn(read_later, &r);
    /* Nobody reads yet: this fills the socket, then times out. */
    WVT_OK(wv_conn_send(a, big, r.big, wv_deadline_in(20)));
    WVT_GT(wv__conn_pending(a), 0);
    memset(big, 0, r.big); /* the rest was copied */
    /* Still full: the next send cannot even start. */
    WVT_ERR(wv_conn_send(a, "next", 4, WV_NOWAIT), WV_EAGAIN);
    wv_event_set(&r.go);
    WVT_OK(wv_conn_send(a, "next", 4, WV_FOREVER));
    wvt_join(t);
    wv_conn_free(a);
    wv_conn_free(r.c);
    free(big);
}

WVT_TEST(pipe_passes_descriptors)
{
    wv_conn_t *a, *b;
    int p[2], got[4], tmp[2];
    size_t len, nfds;
    char buf[16];

    WVT_OK(wv_pipe(&a, &b, true));
    WVT_EQ(pipe2(p, O_CLOEXEC), 0);
    int send[2] = {p[0], p[1]};
    WVT_OK(wv_conn_send_fds(a, "fds", 3, send, 2, WV_FOREVER));
    nfds = 1; /* too little room: left in place */
    WVT_ERR(wv_conn_recv_fds(b, buf, sizeof buf, &len, got, &nfds, WV_FOREVER),
            WV_EMSGSIZE);
    WVT_EQ(nfds, 2);
    nfds = 4;
    WVT_OK(wv_conn_recv_fds(b, buf, sizeof buf, &len, got, &nfds, WV_FOREVER));
    WVT_ASSERT(len == 3 && memcmp(buf, "fds", 3) == 0 && nfds == 2);
    WVT_NE(got[0], p[0]);
    WVT_ASSERT(fcntl(got[0], F_GETFD) & FD_CLOEXEC);
    /* They are the same pipe. */
    WVT_EQ(write(got[1], "z", 1), 1);
    WVT_EQ(read(p[0], buf, 1), 1);
    WVT_EQ(buf[0], 'z');
    close(got[0]);
    close(got[1]);
    /* Plain recv of a message with descriptors closes them. */
    WVT_EQ(pipe2(tmp, O_CLOEXEC), 0);
    WVT_OK(wv_conn_send_fds(a, "x", 1, tmp, 2, WV_FOREVER));
    WVT_OK(wv_conn_recv(b, buf, sizeof buf, &len, WV_FOREVER));
    /* Unreceived descriptors are closed with the connection. */
    WVT_OK(wv_conn_send_fds(a, "y", 1, tmp, 2, WV_FOREVER));
    close(tmp[0]);
    close(tmp[1]);
    close(p[0]);
    close(p[1]);
    WVT_OK(wv_conn_poll(b, WV_FOREVER)); /* read them in */
    wv_conn_free(a);
    wv_conn_free(b); /* the runner checks no descriptor leaked */
}

WVT_TEST(pipe_garbage_is_eproto)
{
    wv_conn_t *a, *b;
    char buf[64];
    size_t len;

    WVT_OK(wv_pipe(&a, &b, true));
    WVT_EQ(write(wv_conn_fileno(a), "GET / HTTP/1.0\r\n\r\n", 18), 18);
    WVT_ERR(wv_conn_recv(b, buf, sizeof buf, &len, WV_FOREVER), WV_EPROTO);
    WVT_ERR(wv_conn_recv(b, buf, sizeof buf, &len, WV_FOREVER), WV_EPROTO);
    WVT_ERR(wv_conn_poll(b, WV_FOREVER), WV_EPROTO);
    wv_conn_free(a);
    wv_conn_free(b);

    /* A plausible length, the wrong magic. */
    struct {
        uint64_t len;
        uint32_t nfds, magic;
    } bad = {5, 0, 0xdeadbeefu};
    WVT_OK(wv_pipe(&a, &b, true));
    WVT_EQ(write(wv_conn_fileno(a), &bad, sizeof bad), sizeof bad);
    WVT_EQ(write(wv_conn_fileno(a), "hello", 5), 5);
    WVT_ERR(wv_conn_recv(b, buf, sizeof buf, &len, WV_FOREVER), WV_EPROTO);
    wv_conn_free(a);
    wv_conn_free(b);

    /* A header claiming descriptors that never came. */
    struct {
        uint64_t len;
        uint32_t nfds, magic;
    } hdr = {0, 2, 0x474d5657u};
    WVT_OK(wv_pipe(&a, &b, true));
    WVT_EQ(write(wv_conn_fileno(a), &hdr, sizeof hdr), sizeof hdr);
    int fds[4];
    size_t nfds = 4;
    WVT_ERR(wv_conn_recv_fds(b, buf, sizeof buf, &len, fds, &nfds, WV_FOREVER),
            WV_EPROTO);
    wv_conn_free(a);
    wv_conn_free(b);

    /* The end in the middle of a frame. */
    WVT_OK(wv_pipe(&a, &b, false));
    hdr.nfds = 0;
    hdr.len = 10;
    WVT_EQ(write(wv_conn_fileno(b), &hdr, sizeof hdr), sizeof hdr);
    wv_conn_free(b);
    WVT_ERR(wv_conn_recv(a, buf, sizeof buf, &len, WV_FOREVER), WV_EPROTO);
    wv_conn_free(a);
}

/* Two threads, thousands of messages of random sizes, both ways. */
struct stress {
    wv_conn_t *c;
    long n;
};

static void stress_send(void *arg)
{
    struct stress *s = arg;
    char *buf = malloc(70000);
    for (long i = 0; i < s->n; i++) {
        size_t len = (size_t)((i * 2654435761u) % 70000);
        fill(buf, len, (unsigned)i);
        WVT_OK(wv_conn_send(s->c, buf, len, WV_FOREVER));
    }
    free(buf);
}

WVT_TEST(pipe_stress_two_threads)
{
    struct stress s;
    wv_conn_t *r;
    char *buf = malloc(70000);
    size_t len;

    for (int duplex = 0; duplex < 2; duplex++) {
        WVT_OK(wv_pipe(&r, &s.c, duplex));
        s.n = wvt_scale(2000);
        wvt_thread_t *t = wvt_spawn(stress_send, &s);
        for (long i = 0; i < s.n; i++) {
            WVT_OK(wv_conn_recv(r, buf, 70000, &len, WV_FOREVER));
            WVT_EQ(len, (size_t)((i * 2654435761u) % 70000));
            WVT_ASSERT(filled(buf, len, (unsigned)i));
        }
        wvt_join(t);
        wv_conn_free(s.c);
        WVT_ERR(wv_conn_recv(r, buf, 70000, &len, WV_FOREVER), WV_EOF);
        wv_conn_free(r);
    }
    free(buf);
}

static int pipe_and_close(void *arg)
{
    wv_conn_t *a, *b;
    int err = wv_pipe(&a, &b, *(bool *)arg);
    if (err)
        return err;
    wv_conn_free(a);
    wv_conn_free(b);
    return 0;
}

WVT_TEST(pipe_failed_allocations)
{
    bool duplex = true;
    WVT_GT(wvt_faultsim(pipe_and_close, &duplex), 0);
    duplex = false;
    WVT_GT(wvt_faultsim(pipe_and_close, &duplex), 0);
}

/* A receive whose buffer cannot grow fails with WV_ENOMEM and loses
 * nothing. */
WVT_TEST(pipe_recv_enomem_keeps_the_message)
{
    wv_conn_t *a, *b;
    static char out[200000], in[200000];
    size_t len;

    fill(out, sizeof out, 3);
    WVT_OK(wv_pipe(&a, &b, true));
    wvt_alloc_install();
    WVT_OK(wv_conn_send(a, out, 100, WV_FOREVER)); /* small: 64 KiB buffer */
    WVT_OK(wv_conn_recv(b, in, sizeof in, &len, WV_FOREVER));
    /* A message larger than the buffer: its growth fails once. */
    WVT_OK(wv_conn_send(a, out, 70000, WV_FOREVER));
    wvt_alloc_fail_at(1);
    int err = wv_conn_recv(b, in, sizeof in, &len, WV_FOREVER);
    wvt_alloc_fail_at(0);
    WVT_ERR(err, WV_ENOMEM);
    WVT_OK(wv_conn_recv(b, in, sizeof in, &len, WV_FOREVER));
    WVT_ASSERT(len == 70000 && filled(in, len, 3));
    wv_conn_free(a);
    wv_conn_free(b);
    wvt_alloc_uninstall();
}

/* ---------------------------------------------- a peer that is not weave */

#define FRAME_MAGIC 0x474d5657u

struct raw_frame {
    uint64_t len;
    uint32_t nfds, magic;
};

/* Writes bytes[0..n) on fd with nattach copies of `pass` attached. */
static void raw_sendmsg(int fd, const void *bytes, size_t n, int pass,
                        int nattach)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 253)];
        struct cmsghdr align;
    } cm;
    struct iovec iov = {(void *)bytes, n};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nattach) {
        m.msg_control = cm.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nattach);
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nattach);
        for (int i = 0; i < nattach; i++)
            memcpy(CMSG_DATA(h) + i * sizeof(int), &pass, sizeof pass);
    }
    WVT_EQ(sendmsg(fd, &m, MSG_NOSIGNAL), (ssize_t)n);
}

/* A frame of len bytes declaring `declared` descriptors, with nattach
 * copies of `pass` attached to its first byte. */
static void raw_frame(int fd, size_t len, uint32_t declared, int pass,
                      int nattach)
{
    static char msg[sizeof(struct raw_frame) + 256];
    struct raw_frame f = {len, declared, FRAME_MAGIC};
    WVT_LE(len, 256);
    memcpy(msg, &f, sizeof f);
    memset(msg + sizeof f, 'm', len);
    raw_sendmsg(fd, msg, sizeof f + len, pass, nattach);
}

/* The peer's descriptors that do not fit a frame: WV_EPROTO at once,
 * every one closed, and the connection stays broken. */
static void stray_case(int declared, int attached, bool body)
{
    wv_conn_t *a, *b;
    char buf[512];
    int fds[WV_CONN_MAX_FDS];
    size_t len, nfds = WV_CONN_MAX_FDS;
    int before = count_fds();

    WVT_OK(wv_pipe(&a, &b, true));
    int peer = wv_conn_fileno(a);
    if (body) { /* on a byte of the body */
        struct raw_frame f = {100, (uint32_t)declared, FRAME_MAGIC};
        raw_sendmsg(peer, &f, sizeof f, -1, 0);
        raw_sendmsg(peer, buf, 100, peer, attached);
    } else {
        raw_frame(peer, 3, (uint32_t)declared, peer, attached);
    }
    raw_frame(peer, 3, 0, -1, 0); /* a good frame after it */
    WVT_ERR(wv_conn_recv_fds(b, buf, sizeof buf, &len, fds, &nfds, WV_FOREVER),
            WV_EPROTO);
    WVT_EQ(count_fds(), before + 2);
    WVT_ERR(wv_conn_recv(b, buf, sizeof buf, &len, WV_FOREVER), WV_EPROTO);
    WVT_ERR(wv_conn_poll(b, WV_FOREVER), WV_EPROTO);
    wv_conn_free(a);
    wv_conn_free(b);
    WVT_EQ(count_fds(), before);
}

WVT_TEST(pipe_stray_descriptors_are_eproto)
{
    stray_case(0, 3, false);   /* on a frame declaring none */
    stray_case(1, 2, false);   /* more than declared */
    stray_case(2, 1, false);   /* fewer than declared */
    stray_case(0, 1, true);    /* on a byte of a body */
    stray_case(64, 70, false); /* more than the kernel hands us: CTRUNC */
}

/* A peer attaching descriptors to frames that declare none cannot fill
 * the receiver's descriptor table. */
WVT_TEST(pipe_stray_descriptors_do_not_pile_up)
{
    wv_conn_t *a, *b;
    char buf[16];
    size_t len;
    int before = count_fds();

    WVT_OK(wv_pipe(&a, &b, true));
    int peer = wv_conn_fileno(a);
    for (int i = 0; i < 100; i++) {
        raw_frame(peer, 1, 0, peer, 2);
        int err = wv_conn_recv(b, buf, sizeof buf, &len, WV_FOREVER);
        WVT_ASSERT(err == 0 || err == WV_EPROTO);
        WVT_LE(count_fds(), before + 2);
        if (err)
            break;
    }
    WVT_ERR(wv_conn_recv(b, buf, sizeof buf, &len, WV_NOWAIT), WV_EPROTO);
    wv_conn_free(a);
    wv_conn_free(b);
}

/* A stray descriptor is never handed to the next frame that declares
 * one. */
WVT_TEST(pipe_stray_descriptor_is_not_the_next_frames)
{
    wv_conn_t *a, *b;
    int stray[2], mine[2], got[4];
    char buf[16];
    size_t len, nfds = 4;

    WVT_OK(wv_pipe(&a, &b, true));
    WVT_EQ(pipe2(stray, O_CLOEXEC), 0);
    WVT_EQ(pipe2(mine, O_CLOEXEC), 0);
    int peer = wv_conn_fileno(a);
    raw_frame(peer, 1, 0, stray[0], 1);
    raw_frame(peer, 1, 1, mine[0], 1);
    int err = wv_conn_recv(b, buf, sizeof buf, &len, WV_FOREVER);
    if (err == 0) {
        err =
            wv_conn_recv_fds(b, buf, sizeof buf, &len, got, &nfds, WV_FOREVER);
        if (err == 0) { /* whose is it? */
            struct stat s1, s2;
            WVT_EQ(fstat(got[0], &s1), 0);
            WVT_EQ(fstat(mine[0], &s2), 0);
            close(got[0]);
            WVT_EQ(s1.st_ino, s2.st_ino);
        }
    }
    WVT_ERR(err, WV_EPROTO);
    for (int i = 0; i < 2; i++) {
        close(stray[i]);
        close(mine[i]);
    }
    wv_conn_free(a);
    wv_conn_free(b);
}

/* Good frames with and without descriptors, all buffered before the
 * first receive: each gets its own. */
WVT_TEST(pipe_descriptors_go_to_their_frames)
{
    wv_conn_t *a, *b;
    int p[3][2], got[4];
    char buf[16];
    size_t len, nfds;
    struct stat s1, s2;

    WVT_OK(wv_pipe(&a, &b, true));
    for (int i = 0; i < 3; i++)
        WVT_EQ(pipe2(p[i], O_CLOEXEC), 0);
    for (int round = 0; round < 3; round++) {
        int two[2] = {p[1][0], p[2][1]};
        WVT_OK(wv_conn_send_fds(a, "a", 1, &p[0][0], 1, WV_FOREVER));
        WVT_OK(wv_conn_send(a, "bb", 2, WV_FOREVER));
        WVT_OK(wv_conn_send(a, "", 0, WV_FOREVER));
        WVT_OK(wv_conn_send_fds(a, "", 0, two, 2, WV_FOREVER));
        WVT_OK(wv_conn_send_fds(a, "ccc", 3, two, 1, WV_FOREVER));
        int want_n[5] = {1, 0, 0, 2, 1};
        int want[5][2] = {{p[0][0]}, {0}, {0}, {p[1][0], p[2][1]}, {p[1][0]}};
        for (int m = 0; m < 5; m++) {
            nfds = 4;
            WVT_OK(wv_conn_recv_fds(b, buf, sizeof buf, &len, got, &nfds,
                                    WV_FOREVER));
            WVT_EQ(nfds, want_n[m]);
            for (size_t i = 0; i < nfds; i++) {
                WVT_EQ(fstat(got[i], &s1), 0);
                WVT_EQ(fstat(want[m][i], &s2), 0);
                WVT_EQ(s1.st_ino, s2.st_ino);
                close(got[i]);
            }
        }
    }
    for (int i = 0; i < 3; i++) {
        close(p[i][0]);
        close(p[i][1]);
    }
    wv_conn_free(a);
    wv_conn_free(b);
}

/* An allocator that records the largest request and refuses huge ones
 * (so that a failing run does not take the memory). */
static size_t largest;
static long live;

static void *big_malloc(size_t n)
{
    largest = n > largest ? n : largest;
    void *p = n > (64u << 20) ? NULL : malloc(n);
    live += p != NULL;
    return p;
}

static void *big_realloc(void *old, size_t n)
{
    largest = n > largest ? n : largest;
    void *p = n > (64u << 20) ? NULL : realloc(old, n);
    live += p && !old;
    return p;
}

static void *big_calloc(size_t k, size_t n)
{
    largest = k * n > largest ? k * n : largest;
    void *p = calloc(k, n);
    live += p != NULL;
    return p;
}

static void big_free(void *p)
{
    live -= p != NULL;
    free(p);
}

/* A header announcing 1 GiB, then a few bytes: the receiver reserves
 * room for what came, not for what was announced. */
WVT_TEST(pipe_huge_header_reserves_what_comes)
{
    wv_conn_t *a, *b;
    char buf[16];
    size_t len;

    largest = 0;
    live = 0;
    WVT_OK(wv_set_allocator(big_malloc, big_realloc, big_calloc, big_free));
    WVT_OK(wv_pipe(&a, &b, true));
    struct raw_frame f = {WV_CONN_MAX_MSG, 0, FRAME_MAGIC};
    WVT_EQ(write(wv_conn_fileno(a), &f, sizeof f), (ssize_t)sizeof f);
    WVT_EQ(write(wv_conn_fileno(a), "some bytes", 10), 10);
    WVT_ERR(wv_conn_poll(b, wv_deadline_in(20)), WV_ETIMEDOUT);
    WVT_LT(largest, 1u << 20);
    /* Bytes that keep coming grow it by what came. */
    static char chunk[1 << 16];
    for (int i = 0; i < 32; i++) {
        WVT_EQ(write(wv_conn_fileno(a), chunk, sizeof chunk), sizeof chunk);
        WVT_ERR(wv_conn_poll(b, WV_NOWAIT), WV_EAGAIN);
    }
    WVT_LT(largest, 16u << 20);
    WVT_ERR(wv_conn_recv(b, buf, sizeof buf, &len, WV_NOWAIT), WV_EMSGSIZE);
    WVT_EQ(len, WV_CONN_MAX_MSG);
    wv_conn_free(a); /* cut short */
    WVT_ERR(wv_conn_poll(b, WV_FOREVER), WV_EPROTO);
    wv_conn_free(b);
    WVT_EQ(live, 0);
    WVT_OK(wv_set_allocator(NULL, NULL, NULL, NULL));
}

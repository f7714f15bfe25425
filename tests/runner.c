/*
 * tests/runner.c - main() of every test program; see runner.h.
 */
#include "runner.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define THREAD_SETTLE_MS 3000

static wvt_case_t *cases, **cases_end = &cases;
static const char *current_case = "?";

void wvt_register(wvt_case_t *c)
{
    *cases_end = c;
    cases_end = &c->next;
}

void wvt_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "FAIL %s: %s:%d: ", current_case, file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    _exit(1); /* no atexit handlers: other threads may hold anything */
}

void wvt_pause(void)
{
    struct timespec ts = {0, 100 * 1000};
    sched_yield();
    nanosleep(&ts, NULL);
}

bool wvt_sanitized(void)
{
#ifdef WEAVE_SANITIZER
    return true;
#else
    return false;
#endif
}

long wvt_scale(long n)
{
    /* CI has time to spare: stress harder than the base counts; the
     * sanitizer builds run 5-15x slower, so less there. */
    if (!wvt_sanitized())
        return n * 4;
    return n / 2 > 0 ? n / 2 : 1;
}

/* ------------------------------------------------------------ threads */

struct wvt_thread {
    pthread_t pt;
    void (*fn)(void *);
    void *arg;
};

static void *spawn_main(void *p)
{
    wvt_thread_t *t = p;
    t->fn(t->arg);
    return NULL;
}

wvt_thread_t *wvt_spawn(void (*fn)(void *arg), void *arg)
{
    wvt_thread_t *t = calloc(1, sizeof *t);
    WVT_ASSERT(t);
    t->fn = fn;
    t->arg = arg;
    WVT_EQ(pthread_create(&t->pt, NULL, spawn_main, t), 0);
    return t;
}

pthread_t wvt_pthread(const wvt_thread_t *t)
{
    return t->pt;
}

void wvt_join(wvt_thread_t *t)
{
    WVT_EQ(pthread_join(t->pt, NULL), 0);
    free(t);
}

struct run_arg {
    int i;
    void (*fn)(int, void *);
    void *arg;
};

static void run_one(void *p)
{
    struct run_arg *r = p;
    r->fn(r->i, r->arg);
}

void wvt_run_threads(int n, void (*fn)(int i, void *arg), void *arg)
{
    struct run_arg *args = calloc((size_t)n, sizeof *args);
    wvt_thread_t **ts = calloc((size_t)n, sizeof *ts);
    WVT_ASSERT(args && ts);
    for (int i = 0; i < n; i++) {
        args[i] = (struct run_arg){i, fn, arg};
        ts[i] = wvt_spawn(run_one, &args[i]);
    }
    for (int i = 0; i < n; i++)
        wvt_join(ts[i]);
    free(ts);
    free(args);
}

/* ---------------------------------------------------- fault injection */

static long alloc_live, alloc_count, alloc_fail_at;

static bool should_fail(void)
{
    long n = __atomic_add_fetch(&alloc_count, 1, __ATOMIC_RELAXED);
    long at = __atomic_load_n(&alloc_fail_at, __ATOMIC_RELAXED);
    return at > 0 && n == at;
}

static void *t_malloc(size_t size)
{
    if (should_fail())
        return NULL;
    void *p = malloc(size);
    if (p)
        __atomic_add_fetch(&alloc_live, 1, __ATOMIC_RELAXED);
    return p;
}

static void *t_calloc(size_t count, size_t size)
{
    if (should_fail())
        return NULL;
    void *p = calloc(count, size);
    if (p)
        __atomic_add_fetch(&alloc_live, 1, __ATOMIC_RELAXED);
    return p;
}

static void *t_realloc(void *ptr, size_t size)
{
    if (should_fail())
        return NULL;
    void *p = realloc(ptr, size);
    if (p && !ptr)
        __atomic_add_fetch(&alloc_live, 1, __ATOMIC_RELAXED);
    return p;
}

static void t_free(void *ptr)
{
    if (ptr)
        __atomic_sub_fetch(&alloc_live, 1, __ATOMIC_RELAXED);
    free(ptr);
}

void wvt_alloc_install(void)
{
    __atomic_store_n(&alloc_live, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&alloc_count, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&alloc_fail_at, 0, __ATOMIC_RELAXED);
    WVT_OK(wv_set_allocator(t_malloc, t_realloc, t_calloc, t_free));
}

void wvt_alloc_uninstall(void)
{
    WVT_OK(wv_set_allocator(NULL, NULL, NULL, NULL));
}

void wvt_alloc_fail_at(long n)
{
    long base = __atomic_load_n(&alloc_count, __ATOMIC_RELAXED);
    __atomic_store_n(&alloc_fail_at, n > 0 ? base + n : 0, __ATOMIC_RELAXED);
}

long wvt_alloc_live(void)
{
    return __atomic_load_n(&alloc_live, __ATOMIC_RELAXED);
}

long wvt_alloc_count(void)
{
    return __atomic_load_n(&alloc_count, __ATOMIC_RELAXED);
}

long wvt_faultsim(int (*fn)(void *arg), void *arg)
{
    wvt_alloc_install();
    for (long n = 1;; n++) {
        long live = wvt_alloc_live();
        wvt_alloc_fail_at(n);
        long before = wvt_alloc_count();
        int err = fn(arg);
        long used = wvt_alloc_count() - before;
        wvt_alloc_fail_at(0);
        if (used < n) { /* the failure point was never reached */
            if (err != 0)
                WVT_FAIL("faultsim: clean run failed: %s", wv_err_name(err));
            WVT_EQ(wvt_alloc_live(), live);
            wvt_alloc_uninstall();
            return n - 1;
        }
        if (err != WV_ENOMEM)
            WVT_FAIL("faultsim: allocation %ld failed, call returned %s", n,
                     wv_err_name(err));
        if (wvt_alloc_live() != live)
            WVT_FAIL("faultsim: allocation %ld failed, %ld allocations leaked",
                     n, wvt_alloc_live() - live);
    }
}

/* ------------------------------------------------------ leak checks */

static int count_dir(const char *path, char *names, size_t cap)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;
    size_t used = 0;

    if (!d)
        return -1;
    if (names)
        names[0] = '\0';
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
            continue;
        n++;
        if (names && used + strlen(e->d_name) + 2 < cap)
            used +=
                (size_t)snprintf(names + used, cap - used, "%s ", e->d_name);
    }
    closedir(d);
    return n;
}

/* "tid:comm tid:comm ..." of the live threads, for messages. */
static void thread_names(char *out, size_t cap)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    size_t used = 0;

    out[0] = '\0';
    if (!d)
        return;
    while ((e = readdir(d)) != NULL && used + 40 < cap) {
        char path[300], comm[32] = "?";
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f) {
            if (fgets(comm, sizeof comm, f))
                comm[strcspn(comm, "\n")] = '\0';
            fclose(f);
        }
        used +=
            (size_t)snprintf(out + used, cap - used, "%s:%s ", e->d_name, comm);
    }
    closedir(d);
}

static void check_leaks(int fds_before, const char *fd_names_before,
                        int threads_before)
{
    char names[1024];
    int fds = count_dir("/proc/self/fd", names, sizeof names);

    if (fds != fds_before)
        WVT_FAIL("leaked file descriptors: before [%s] after [%s]",
                 fd_names_before, names);

    int64_t end = wv_now() + THREAD_SETTLE_MS;
    int threads;
    while ((threads = count_dir("/proc/self/task", NULL, 0)) > threads_before &&
           wv_now() < end)
        wvt_pause();
    if (threads > threads_before) {
        thread_names(names, sizeof names);
        WVT_FAIL("leaked threads: %d before, %d after [%s]", threads_before,
                 threads, names);
    }

    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid != -1 || errno != ECHILD)
        WVT_FAIL("leaked child processes (first: %d)", (int)pid);
}

static void *nothing(void *arg)
{
    return arg;
}

static void run_in_child(wvt_case_t *c)
{
    char names[1024];
    pthread_t warm;

    current_case = c->name;
    setpgid(0, 0);
    /* ThreadSanitizer starts a helper thread of its own at the first
     * pthread_create: let that happen before the baseline is taken. */
    if (pthread_create(&warm, NULL, nothing, NULL) == 0)
        pthread_join(warm, NULL);
    int fds = count_dir("/proc/self/fd", names, sizeof names);
    int threads = count_dir("/proc/self/task", NULL, 0);
    c->fn();
    check_leaks(fds, names, threads);
    fflush(NULL);
    exit(0); /* exit, not _exit: LeakSanitizer runs at exit */
}

/* ------------------------------------------------------------ parent */

static int wait_child(pid_t pid, int timeout_s, int *status)
{
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);

    if (pfd >= 0) {
        struct pollfd p = {.fd = pfd, .events = POLLIN};
        int r;
        do
            r = poll(&p, 1, timeout_s * 1000);
        while (r < 0 && errno == EINTR);
        close(pfd);
        if (r == 0)
            return -1;
        return waitpid(pid, status, 0) == pid ? 0 : -1;
    }
    /* No pidfd (kernel < 5.3): a bounded poll. */
    int64_t end = wv_now() + (int64_t)timeout_s * 1000;
    while (wv_now() < end) {
        if (waitpid(pid, status, WNOHANG) == pid)
            return 0;
        wvt_pause();
    }
    return -1;
}

static bool run_case(wvt_case_t *c, bool fork_it)
{
    int64_t t0 = wv_now();
    int status = 0;

    if (!fork_it) {
        current_case = c->name;
        c->fn();
        printf("ok   %s (%lld ms, not forked)\n", c->name,
               (long long)(wv_now() - t0));
        return true;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return false;
    }
    if (pid == 0)
        run_in_child(c);
    setpgid(pid, pid); /* also done by the child: whoever is first */

    bool ok = true;
    if (wait_child(pid, c->timeout_s, &status) != 0) {
        fprintf(stderr, "FAIL %s: timed out after %d s\n", c->name,
                c->timeout_s);
        kill(-pid, SIGKILL);
        waitpid(pid, &status, 0);
        ok = false;
    } else if (WIFSIGNALED(status)) {
        fprintf(stderr, "FAIL %s: killed by signal %d (%s)\n", c->name,
                WTERMSIG(status), strsignal(WTERMSIG(status)));
        ok = false;
    } else if (WEXITSTATUS(status) != 0) {
        fprintf(stderr, "FAIL %s: exit status %d\n", c->name,
                WEXITSTATUS(status));
        ok = false;
    }
    if (kill(-pid, 0) == 0) { /* the group outlived the case */
        fprintf(stderr, "FAIL %s: left processes behind\n", c->name);
        kill(-pid, SIGKILL);
        ok = false;
    }
    if (ok)
        printf("ok   %s (%lld ms)\n", c->name, (long long)(wv_now() - t0));
    return ok;
}

static wvt_case_t *find(const char *name)
{
    for (wvt_case_t *c = cases; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

int main(int argc, char **argv)
{
    bool fork_it = getenv("WVT_NOFORK") == NULL;
    int passed = 0, failed = 0;

    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (wvt_case_t *c = cases; c; c = c->next)
            printf("%s %d\n", c->name, c->timeout_s);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    if (argc == 1) {
        for (wvt_case_t *c = cases; c; c = c->next)
            run_case(c, fork_it) ? passed++ : failed++;
    } else {
        for (int i = 1; i < argc; i++) {
            wvt_case_t *c = find(argv[i]);
            if (!c) {
                fprintf(stderr, "no test case named %s\n", argv[i]);
                failed++;
                continue;
            }
            run_case(c, fork_it) ? passed++ : failed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

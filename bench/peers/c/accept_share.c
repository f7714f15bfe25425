/*
 * bench/peers/c/accept_share.c - how N server threads should share one TCP
 * address (docs/net.md, "Servers", "N threads, one address"): N
 * SO_REUSEPORT listeners, one per thread, or one listener in every
 * thread's epoll set with EPOLLEXCLUSIVE.  Raw Linux system calls and
 * pthreads, no weave.
 *
 *   peer-c-accept-share reuseport|exclusive [--threads N] [--inflight K]
 *                       [--seconds S] [--burst B]
 *
 * One process.  N server threads (default 2), all pinned to CPU 0 with
 * sched_setaffinity, each with its own epoll set, level-triggered, that
 * holds its listener: in `reuseport` its own SO_REUSEPORT listener (all N
 * bound before any connection is made), in `exclusive` the one shared
 * listener with EPOLLIN | EPOLLEXCLUSIVE.  On a wake-up for the listener a
 * thread calls accept4 in a loop until EAGAIN; for each accepted socket it
 * writes 1 byte and, in the rate shape, closes it at once (the server
 * closes first, so TIME_WAIT stays on the server side and the client's
 * ephemeral ports are free again at once).  A wake-up whose first accept4
 * says EAGAIN found nothing: another thread took the connection first.
 *
 * The client is one thread pinned to CPU 1 (its CPU time is not counted;
 * on loopback the handshake runs in the connecting thread's context, so
 * the server's CPU is its accept4, write, close and wake-ups).
 *
 *  rate   S seconds (default 2): K connections (default 8) in flight, each
 *         a non-blocking connect, then a read of the server's byte (the
 *         check that it was accepted), then close; each one closed is
 *         replaced at once.  Every connection must get its byte.
 *  burst  B connections (default 2000) connected at once and kept open:
 *         the server keeps each accepted socket (after its byte) until the
 *         client has read all B bytes.  Shows how a burst of long-lived
 *         connections is spread over the threads.
 *
 * Output (stdout, one value a line, MODE being the mode given):
 *
 *   ACC MODE conns_per_s 1.23e+04          rate: connections per second
 *   ACC MODE server_cpu_us 25.1            rate: the N server threads'
 *       user+sys CPU time (getrusage RUSAGE_THREAD, from the start of the
 *       run to the stop) per connection, microseconds
 *   ACC MODE share_max 0.52 / share_min    rate: the largest and smallest
 *       fraction of the connections one server thread accepted
 *   ACC MODE empty_wakes 0.01              rate: wake-ups that found
 *       nothing to accept, per connection
 *   ACC MODE burst_share_max / burst_share_min / burst_empty_wakes  the same
 *       for the burst
 *
 * Per-thread counts go to stderr.  A connection refused, reset or never
 * answered fails the run (exit 3, BENCH_CHECK).
 */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_THREADS 16

/* One server thread.  Written only by that thread until it is joined. */
struct server_thread {
    pthread_t tid;
    int listener;     /* its listener, or the shared one */
    int ep;           /* its epoll set: the listener and the stop fd */
    bool keep;        /* burst: keep accepted sockets, else close them */
    int *kept;        /* burst: the kept sockets, closed by the joiner */
    long nkept;       /* how many of kept[] are open */
    long accepted;    /* connections accepted */
    long wakes;       /* epoll_wait returns with the listener ready */
    long empty_wakes; /* ... whose first accept4 said EAGAIN */
    double cpu_s;     /* user+sys CPU time of this thread, seconds */
};

static bool exclusive;
static int nthreads = 2, inflight = 8, burst = 2000;
static double seconds = 2.0;
static struct sockaddr_in addr; /* the server's address, port filled in */
static int stop_fd;             /* eventfd: readable once the server stops */

static void pin(int cpu) /* the calling thread (pid 0: this thread) */
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    BENCH_CHECK(sched_setaffinity(0, sizeof set, &set) == 0);
}

static double thread_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

/* A listener on addr (port 0 the first time: then addr gets its port). */
static int listen_shared(bool reuseport)
{
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    socklen_t len = sizeof addr;
    BENCH_CHECK(fd >= 0);
    if (reuseport)
        BENCH_CHECK(
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0);
    BENCH_CHECK(bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0);
    BENCH_CHECK(listen(fd, SOMAXCONN) == 0);
    BENCH_CHECK(getsockname(fd, (struct sockaddr *)&addr, &len) == 0);
    return fd;
}

/* Accepts until EAGAIN; says whether the first accept4 found nothing. */
static bool accept_all(struct server_thread *t)
{
    for (long n = 0;; n++) {
        int fd = accept4(t->listener, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            BENCH_CHECK(errno == EAGAIN || errno == EINTR ||
                        errno == ECONNABORTED);
            if (errno != EAGAIN)
                continue;
            return n == 0;
        }
        t->accepted++;
        BENCH_CHECK(write(fd, "a", 1) == 1); /* an empty buffer takes it */
        if (t->keep)
            t->kept[t->nkept++] = fd;
        else
            close(fd);
    }
}

/* The poll loop, until stop_fd is readable. */
static void *serve(void *arg)
{
    struct server_thread *t = arg;
    struct epoll_event evs[8];
    bool stopping = false;

    pin(0);
    double cpu0 = thread_cpu();
    while (!stopping) {
        int n = epoll_wait(t->ep, evs, 8, -1);
        BENCH_CHECK(n >= 0 || errno == EINTR);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == stop_fd) {
                stopping = true;
                continue;
            }
            t->wakes++;
            t->empty_wakes += accept_all(t);
        }
    }
    t->cpu_s = thread_cpu() - cpu0;
    return NULL;
}

static void add(int ep, int fd, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};
    BENCH_CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
}

/* Binds every listener first, so no connection comes before all exist. */
static void server_start(struct server_thread *ts, bool keep)
{
    int shared = -1;
    addr.sin_port = 0;
    stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    BENCH_CHECK(stop_fd >= 0);
    if (exclusive)
        shared = listen_shared(false);
    for (int i = 0; i < nthreads; i++) {
        struct server_thread *t = &ts[i];
        memset(t, 0, sizeof *t);
        t->listener = exclusive ? shared : listen_shared(true);
        t->ep = epoll_create1(EPOLL_CLOEXEC);
        BENCH_CHECK(t->ep >= 0);
        add(t->ep, t->listener, EPOLLIN | (exclusive ? EPOLLEXCLUSIVE : 0));
        add(t->ep, stop_fd, EPOLLIN);
        t->keep = keep;
        if (keep)
            BENCH_CHECK((t->kept = calloc((size_t)burst, sizeof(int))));
    }
    for (int i = 0; i < nthreads; i++)
        BENCH_CHECK(pthread_create(&ts[i].tid, NULL, serve, &ts[i]) == 0);
}

/* Stops and joins the threads, closes everything; returns all accepted. */
static long server_stop(struct server_thread *ts)
{
    long total = 0;
    BENCH_CHECK(eventfd_write(stop_fd, 1) == 0);
    for (int i = 0; i < nthreads; i++) {
        struct server_thread *t = &ts[i];
        pthread_join(t->tid, NULL);
        for (long k = 0; k < t->nkept; k++)
            close(t->kept[k]);
        free(t->kept);
        close(t->ep);
        if (!exclusive || i == 0)
            close(t->listener);
        total += t->accepted;
    }
    close(stop_fd);
    return total;
}

/* A non-blocking connect to addr, in ep for its byte. */
static void connect_one(int ep)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    BENCH_CHECK(fd >= 0);
    int rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
    BENCH_CHECK(rc == 0 || errno == EINPROGRESS);
    add(ep, fd, EPOLLIN);
}

/* fd is readable: its byte (true), or not yet (false); fails otherwise. */
static bool got_byte(int fd)
{
    char c;
    ssize_t k = read(fd, &c, 1);
    if (k < 0 && (errno == EAGAIN || errno == EINTR))
        return false;
    BENCH_CHECK(k == 1 && c == 'a');
    return true;
}

/* The rate shape's client: returns the connections completed in *secs. */
static long client_rate(double *secs)
{
    struct epoll_event evs[64];
    int ep = epoll_create1(EPOLL_CLOEXEC), open = 0;
    long done = 0;
    double t0 = bench_now(), end = t0 + seconds, now = t0;

    BENCH_CHECK(ep >= 0);
    for (; open < inflight; open++)
        connect_one(ep);
    while (open > 0) {
        int n = epoll_wait(ep, evs, 64, 5000);
        BENCH_CHECK(n > 0 || (n < 0 && errno == EINTR));
        now = bench_now();
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (!got_byte(fd))
                continue;
            close(fd);
            done++;
            if (now < end)
                connect_one(ep);
            else
                open--;
        }
    }
    close(ep);
    *secs = now - t0;
    return done;
}

/* The burst shape's client: B connects at once, then every byte. */
static void client_burst(void)
{
    struct epoll_event evs[64];
    int ep = epoll_create1(EPOLL_CLOEXEC),
        *fds = calloc((size_t)burst, sizeof(int));
    long left = burst;

    BENCH_CHECK(ep >= 0 && fds);
    for (int i = 0; i < burst; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        BENCH_CHECK(fds[i] >= 0);
        int rc = connect(fds[i], (struct sockaddr *)&addr, sizeof addr);
        BENCH_CHECK(rc == 0 || errno == EINPROGRESS);
        add(ep, fds[i], EPOLLIN);
    }
    while (left > 0) {
        int n = epoll_wait(ep, evs, 64, 5000);
        BENCH_CHECK(n > 0 || (n < 0 && errno == EINTR));
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (got_byte(fd)) {
                BENCH_CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL) == 0);
                left--;
            }
        }
    }
    for (int i = 0; i < burst; i++)
        close(fds[i]);
    free(fds);
    close(ep);
}

/* Prints the shares and empty wake-ups of a run; per thread on stderr. */
static void report_split(const char *mode, const char *prefix,
                         const struct server_thread *ts, long total)
{
    long hi = ts[0].accepted, lo = ts[0].accepted, empty = 0;
    for (int i = 0; i < nthreads; i++) {
        const struct server_thread *t = &ts[i];
        hi = t->accepted > hi ? t->accepted : hi;
        lo = t->accepted < lo ? t->accepted : lo;
        empty += t->empty_wakes;
        fprintf(stderr,
                "acc %s %sthread %d accepted=%ld wakes=%ld "
                "empty=%ld cpu=%.3fs\n",
                mode, prefix, i, t->accepted, t->wakes, t->empty_wakes,
                t->cpu_s);
    }
    printf("ACC %s %sshare_max %.3g\n", mode, prefix, (double)hi / total);
    printf("ACC %s %sshare_min %.3g\n", mode, prefix, (double)lo / total);
    printf("ACC %s %sempty_wakes %.3g\n", mode, prefix, (double)empty / total);
}

static void run_rate(const char *mode)
{
    struct server_thread ts[MAX_THREADS];
    double secs, cpu = 0;

    server_start(ts, false);
    long done = client_rate(&secs);
    long total = server_stop(ts);
    BENCH_CHECK(total == done);
    for (int i = 0; i < nthreads; i++)
        cpu += ts[i].cpu_s;
    printf("ACC %s conns_per_s %.3g\n", mode, (double)done / secs);
    printf("ACC %s server_cpu_us %.3g\n", mode, cpu / (double)done * 1e6);
    report_split(mode, "", ts, total);
}

static void run_burst(const char *mode)
{
    struct server_thread ts[MAX_THREADS];

    server_start(ts, true);
    client_burst();
    long total = server_stop(ts);
    BENCH_CHECK(total == burst);
    report_split(mode, "burst_", ts, total);
}

/* Room for both ends of every burst connection, and the listeners. */
static void raise_nofile(void)
{
    struct rlimit rl;
    BENCH_CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    rl.rlim_cur = rl.rlim_max;
    BENCH_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    BENCH_CHECK(rl.rlim_cur >= (rlim_t)(2 * burst + 64));
}

static int usage(void)
{
    fprintf(stderr, "usage: peer-c-accept-share reuseport|exclusive "
                    "[--threads N] [--inflight K] [--seconds S] "
                    "[--burst B]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2 ||
        (strcmp(argv[1], "reuseport") && strcmp(argv[1], "exclusive")))
        return usage();
    exclusive = strcmp(argv[1], "exclusive") == 0;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads"))
            nthreads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--inflight"))
            inflight = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--burst"))
            burst = atoi(argv[i + 1]);
        else
            return usage();
    }
    if (argc % 2 || nthreads < 1 || nthreads > MAX_THREADS || inflight < 1 ||
        burst < 1 || burst > 4096 || seconds <= 0)
        return usage();
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    raise_nofile();
    pin(1); /* the client (this thread); each server thread pins itself */
    run_rate(argv[1]);
    run_burst(argv[1]);
    return 0;
}

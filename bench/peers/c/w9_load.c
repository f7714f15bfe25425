/*
 * bench/peers/c/w9_load.c - the one load generator of W9 (BENCH.md) for
 * every echo server, weave's and the peers': it starts the server itself,
 * drives it, reads its CPU time or memory from /proc, and stops it.
 *
 *   peer-c-w9-load MODE PEER [--pin S,L | --pin none] [--conns N]
 *                  -- SERVER ARGS...
 *
 * The server command's argument "@PORT@" is replaced by a free TCP port of
 * 127.0.0.1 (bound and released here just before); the server must listen
 * there and echo what it reads until SIGTERM.  It is started with its
 * stdout on our stderr (stdout carries only result lines), pinned to CPU S
 * (sched_setaffinity before exec, what `taskset -c S` does) and with
 * PR_SET_PDEATHSIG, so that it dies with us when the runner's timeout kills
 * us; we pin ourselves to CPU L.  Default pinning: server 0, load 1.
 *
 * Modes:
 *  echo      W9: 64 connections (TCP_NODELAY), each ping-pongs a 64-byte
 *            message (content checked), single thread, level-triggered
 *            epoll.  0.5 s warm-up, then 3 consecutive windows, each ending
 *            after 333,333 round trips or 3.33 s; prints `W9 PEER echo`
 *            (median window rate, rt/s) and `W9 PEER server_cpu` (the
 *            server's user+sys CPU time from /proc/PID/stat per round trip,
 *            median window, us/rt); the server's CPU utilisation of each
 *            window (CPU time / wall time) goes to a spread line only.
 *  pingpong  the W11 floor: the same with 1 connection; 3000 round trips of
 *            warm-up, then 3 runs of 30,000; `W11 PEER rpc_floor` calls/s.
 *  idle      W9c: memory per idle connection.  One probe connection first
 *            (1 byte echoed, then closed) warms the server up; 300 ms later
 *            the server's VmRSS (/proc/PID/status) is the "before".  Then
 *            N connections (--conns, default 10,000) each send 1 byte and
 *            wait for its echo (at most 256 connecting at once, so the
 *            listen backlog never overflows); once all N echoed, every
 *            handler is back in its read wait; 300 ms later VmRSS is the
 *            "after".  `W9c PEER idle_mem` = (after - before) / N, bytes per
 *            connection.  RLIMIT_NOFILE's soft limit is raised to the hard
 *            one here and (inherited) in the server; a hard limit too low
 *            for N makes N 5,000 (said on stderr and in the spread line).
 *
 * For trial runs W9_WINDOW_S and W9_WARMUP_S shorten the echo windows.
 * A wrong echo, a server that dies or never listens: exit 3 (the runner
 * then reports the peer as NA).
 */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MSG        64
#define ECHO_CONNS 64
#define WINDOWS    3
#define WINDOW_RT  333333L
#define WINDOW_S   3.33
#define WARMUP_S   0.5
#define PING_WARM  3000L
#define PING_RT    30000L
#define PING_RUNS  3
#define IDLE_CONNS 10000
#define IDLE_BATCH 256
#define SETTLE_US  300000
#define START_S    10.0 /* the server must listen within this */

static const char *peer;
static pid_t server = -1;

/* ------------------------------------------------------ the server */

static void fail(const char *why)
{
    fprintf(stderr, "check failed: %s (errno %d: %s)\n", why, errno,
            strerror(errno));
    if (server > 0)
        kill(server, SIGKILL);
    exit(3);
}

static void pin(pid_t pid, int cpu)
{
    cpu_set_t set;
    if (cpu < 0)
        return;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(pid, sizeof set, &set) != 0)
        fprintf(stderr, "w9-load: cannot pin to CPU %d: %s\n", cpu,
                strerror(errno));
}

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        fail("no free port");
    close(fd);
    return ntohs(a.sin_port);
}

static void start_server(char **argv, int port, int cpu)
{
    char text[16];
    snprintf(text, sizeof text, "%d", port);
    for (char **a = argv; *a; a++)
        if (strcmp(*a, "@PORT@") == 0)
            *a = text;
    fflush(NULL);
    server = fork();
    if (server < 0)
        fail("fork");
    if (server == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(2, 1);
        pin(0, cpu);
        execvp(argv[0], argv);
        fprintf(stderr, "w9-load: cannot run %s: %s\n", argv[0],
                strerror(errno));
        _exit(127);
    }
}

static void check_server_alive(void)
{
    int status;
    if (waitpid(server, &status, WNOHANG) == server) {
        server = -1;
        errno = 0;
        fail("the server ended early");
    }
}

static void stop_server(void)
{
    int status = 0;

    kill(server, SIGTERM);
    for (int i = 0; i < 300; i++) { /* 3 s */
        if (waitpid(server, &status, WNOHANG) == server)
            goto done;
        usleep(10000);
    }
    fprintf(stderr, "w9-load: the server ignored SIGTERM, killed\n");
    kill(server, SIGKILL);
    waitpid(server, &status, 0);
done:
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) &&
        !(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM))
        fprintf(stderr, "w9-load: the server ended with status 0x%x\n", status);
    server = -1;
}

/* The server's user+sys CPU time in seconds (/proc/PID/stat). */
static double server_cpu(void)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)server);
    FILE *f = fopen(path, "r");
    if (!f)
        fail("cannot read the server's /proc/PID/stat");
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* after the command name */
    unsigned long utime = 0, stime = 0;
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
               &utime, &stime) != 2)
        fail("cannot parse the server's /proc/PID/stat");
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* The server's resident set in bytes (VmRSS of /proc/PID/status). */
static double server_rss(void)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)server);
    FILE *f = fopen(path, "r");
    if (!f)
        fail("cannot read the server's /proc/PID/status");
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    if (kb < 0)
        fail("no VmRSS in the server's /proc/PID/status");
    return (double)kb * 1024.0;
}

/* ------------------------------------------------------ connections */

struct conn {
    int fd;
    unsigned seq; /* messages sent on it */
    unsigned got; /* bytes of the echo read so far */
    unsigned char out[MSG], in[MSG];
};

static struct sockaddr_in server_addr;

/* A blocking connect (then non-blocking, TCP_NODELAY); -1 if refused. */
static int connect_to(void)
{
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail("socket");
    if (connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr)) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

static void wait_listening(int port)
{
    server_addr.sin_family = AF_INET;
    server_addr.sin_port = htons((uint16_t)port);
    server_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    double t0 = bench_now();
    for (;;) {
        int fd = connect_to();
        if (fd >= 0) {
            close(fd);
            return;
        }
        check_server_alive();
        if (bench_now() - t0 > START_S)
            fail("the server never listened");
        usleep(20000);
    }
}

static void send_next(struct conn *c)
{
    for (int j = 0; j < MSG; j++)
        c->out[j] =
            (unsigned char)(c->seq * 7u + (unsigned)c->fd * 13u + (unsigned)j);
    c->seq++;
    c->got = 0;
    ssize_t k = write(c->fd, c->out, MSG); /* an empty socket buffer */
    if (k != MSG)
        fail("short write of a 64-byte message");
}

/* Reads what came on c; true once the whole echo is there and checked. */
static bool read_echo(struct conn *c)
{
    ssize_t k = read(c->fd, c->in + c->got, MSG - c->got);
    if (k < 0 && (errno == EAGAIN || errno == EINTR))
        return false;
    if (k <= 0)
        fail("the server closed a connection");
    c->got += (unsigned)k;
    if (c->got < MSG)
        return false;
    if (memcmp(c->in, c->out, MSG) != 0) {
        errno = 0;
        fail("echoed bytes differ from those sent");
    }
    return true;
}

static struct conn *open_conns(int n, int ep)
{
    struct conn *c = calloc((size_t)n, sizeof *c);
    if (!c)
        fail("calloc");
    for (int i = 0; i < n; i++) {
        c[i].fd = connect_to();
        if (c[i].fd < 0)
            fail("connect");
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &c[i]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev) != 0)
            fail("epoll_ctl");
    }
    return c;
}

static void close_conns(struct conn *c, int n)
{
    for (int i = 0; i < n; i++)
        close(c[i].fd);
    free(c);
}

/*
 * Runs the ping-pong until `rt` more round trips are done or `seconds`
 * passed (the clock is read once per epoll_wait); returns the round trips
 * done.  Every connection always has one message out.
 */
static long pump(int ep, long rt, double seconds)
{
    struct epoll_event evs[ECHO_CONNS];
    double end = bench_now() + seconds;
    long done = 0;

    while (done < rt) {
        int n = epoll_wait(ep, evs, ECHO_CONNS, 1000);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail("epoll_wait");
        if (n == 0)
            check_server_alive();
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (read_echo(c)) {
                done++;
                send_next(c);
            }
        }
        if (bench_now() >= end)
            break;
    }
    return done;
}

/* ------------------------------------------------------ the modes */

static double env_seconds(const char *name, double dflt)
{
    const char *v = getenv(name);
    return v && atof(v) > 0 ? atof(v) : dflt;
}

static void echo_mode(void)
{
    double rate[WINDOWS], cpu[WINDOWS], util[WINDOWS];
    double window_s = env_seconds("W9_WINDOW_S", WINDOW_S);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct conn *c = open_conns(ECHO_CONNS, ep);

    for (int i = 0; i < ECHO_CONNS; i++)
        send_next(&c[i]);
    pump(ep, WINDOW_RT * 100, env_seconds("W9_WARMUP_S", WARMUP_S));
    for (int w = 0; w < WINDOWS; w++) {
        double c0 = server_cpu(), t0 = bench_now();
        long done = pump(ep, WINDOW_RT, window_s);
        double t1 = bench_now(), c1 = server_cpu();
        if (done <= 0)
            fail("no round trip in a window");
        rate[w] = (double)done / (t1 - t0);
        cpu[w] = (c1 - c0) * 1e6 / (double)done;
        util[w] = (c1 - c0) / (t1 - t0);
    }
    close_conns(c, ECHO_CONNS);
    close(ep);
    bench_report("W9", peer, "echo", rate, WINDOWS, "rt/s");
    bench_report("W9", peer, "server_cpu", cpu, WINDOWS, "us/rt");
    double lo = util[0], hi = util[0];
    for (int w = 1; w < WINDOWS; w++) {
        lo = util[w] < lo ? util[w] : lo;
        hi = util[w] > hi ? util[w] : hi;
    }
    fprintf(stderr,
            "spread W9 %s server_util min=%.3g max=%.3g n=%d runs=", peer, lo,
            hi, WINDOWS);
    for (int w = 0; w < WINDOWS; w++)
        fprintf(stderr, "%s%.3g", w ? "," : "", util[w]);
    fprintf(stderr, " (server CPU time / wall time per window)\n");
}

static void pingpong_mode(void)
{
    double rate[PING_RUNS];
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct conn *c = open_conns(1, ep);

    send_next(c);
    if (pump(ep, PING_WARM, 10) != PING_WARM)
        fail("warm-up cut short");
    for (int r = 0; r < PING_RUNS; r++) {
        double t0 = bench_now();
        if (pump(ep, PING_RT, 10) != PING_RT)
            fail("run cut short");
        rate[r] = (double)PING_RT / (bench_now() - t0);
    }
    close_conns(c, 1);
    close(ep);
    bench_report("W11", peer, "rpc_floor", rate, PING_RUNS, "calls/s");
}

/* One idle connection: connected, 1 byte sent, its echo awaited. */
static int idle_start(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        fail("socket (is RLIMIT_NOFILE high enough?)");
    if (connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr) &&
        errno != EINPROGRESS)
        fail("connect");
    return fd;
}

/* One connection whose byte came back and went: the server warmed up. */
static void probe(void)
{
    char b;
    int fd = connect_to();
    if (fd < 0 || write(fd, "p", 1) != 1)
        fail("probe connection");
    for (double t0 = bench_now(); read(fd, &b, 1) != 1; usleep(1000))
        if (bench_now() - t0 > START_S)
            fail("no echo on the probe connection");
    close(fd);
}

/* Handles one event of an idle connection being set up: connected (send
 * the byte, then wait for its echo) or its echo came; true for the echo. */
static bool idle_event(int ep, int *fds, const struct epoll_event *e)
{
    int fd = fds[e->data.u32];
    char b;

    if (e->events & (EPOLLERR | EPOLLHUP))
        fail("a connection failed");
    if (e->events & EPOLLOUT) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = e->data.u32};
        if (write(fd, "i", 1) != 1 ||
            epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) != 0)
            fail("sending the byte");
        return false;
    }
    if (read(fd, &b, 1) != 1 || b != 'i')
        fail("wrong echo of the byte");
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    return true;
}

/* Opens n connections into fds, at most IDLE_BATCH being set up at once,
 * until every one has had its byte echoed. */
static void open_idle(int *fds, int n)
{
    struct epoll_event evs[IDLE_BATCH];
    int ep = epoll_create1(EPOLL_CLOEXEC), opened = 0, echoed = 0;
    double t0 = bench_now();

    if (ep < 0)
        fail("epoll_create1");
    while (echoed < n) {
        for (; opened < n && opened - echoed < IDLE_BATCH; opened++) {
            /* EPOLLOUT once connected */
            struct epoll_event ev = {.events = EPOLLOUT,
                                     .data.u32 = (unsigned)opened};
            fds[opened] = idle_start();
            if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[opened], &ev) != 0)
                fail("epoll_ctl");
        }
        int k = epoll_wait(ep, evs, IDLE_BATCH, 1000);
        if (k < 0 && errno != EINTR)
            fail("epoll_wait");
        if (bench_now() - t0 > 20)
            fail("the connections took over 20 s");
        for (int i = 0; i < k; i++)
            echoed += idle_event(ep, fds, &evs[i]);
    }
    close(ep);
}

static void idle_mode(int n)
{
    int *fds = calloc((size_t)n, sizeof *fds);

    if (!fds)
        fail("calloc");
    probe();
    usleep(SETTLE_US);
    double before = server_rss();
    open_idle(fds, n);
    usleep(SETTLE_US);
    check_server_alive();
    double after = server_rss();
    double per = (after - before) / n;
    printf("W9c %s idle_mem %.4g B/conn\n", peer, per);
    fprintf(stderr,
            "spread W9c %s idle_mem min=%.4g max=%.4g n=1 runs=%.4g "
            "(RSS %.0f -> %.0f KiB, %d connections)\n",
            peer, per, per, per, before / 1024, after / 1024, n);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
}

/* ------------------------------------------------------ main */

/* Raises RLIMIT_NOFILE's soft limit to the hard one; returns it. */
static long raise_nofile(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0)
        return 1024;
    if (r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
    }
    return r.rlim_cur == RLIM_INFINITY ? 1L << 20 : (long)r.rlim_cur;
}

static void usage(void)
{
    fprintf(stderr, "usage: peer-c-w9-load echo|pingpong|idle PEER "
                    "[--pin S,L | --pin none] [--conns N] -- SERVER ARGS "
                    "(@PORT@ is the port)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int server_cpu_no = 0, load_cpu_no = 1, conns = IDLE_CONNS, i;

    if (argc < 5)
        usage();
    const char *mode = argv[1];
    peer = argv[2];
    for (i = 3; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--pin") == 0 && i + 1 < argc) {
            i++;
            if (strcmp(argv[i], "none") == 0)
                server_cpu_no = load_cpu_no = -1;
            else if (sscanf(argv[i], "%d,%d", &server_cpu_no, &load_cpu_no) !=
                     2)
                usage();
        } else if (strcmp(argv[i], "--conns") == 0 && i + 1 < argc) {
            conns = atoi(argv[++i]);
        } else {
            usage();
        }
    }
    if (i + 1 >= argc || conns <= 0)
        usage();
    signal(SIGPIPE, SIG_IGN);
    long nofile = raise_nofile();
    if (conns + 64 > nofile && conns > 5000) {
        fprintf(stderr,
                "w9-load: %d connections need more descriptors than "
                "RLIMIT_NOFILE's %ld: 5000 instead\n",
                conns, nofile);
        conns = 5000;
    }
    pin(0, load_cpu_no);
    int port = free_port();
    start_server(argv + i + 1, port, server_cpu_no);
    wait_listening(port);
    if (strcmp(mode, "echo") == 0)
        echo_mode();
    else if (strcmp(mode, "pingpong") == 0)
        pingpong_mode();
    else if (strcmp(mode, "idle") == 0)
        idle_mode(conns);
    else
        usage();
    stop_server();
    return 0;
}

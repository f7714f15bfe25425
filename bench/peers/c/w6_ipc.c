/*
 * bench/peers/c/w6_ipc.c - W6 for raw C: one producer process sends M
 * messages of 64 B, then K of 1 MiB, to one consumer process over a pipe
 * (default 64 KiB), over socketpair(AF_UNIX, SOCK_STREAM), and through an
 * SPSC ring in MAP_SHARED memory (the lower bound: memcpy in, memcpy out).
 *
 * Every run, the consumer (this process) creates the channel and forks the
 * producer, which fills its source buffer, says it is ready on a control
 * socketpair and waits there for the go-signal.  Timed in the consumer: t0
 * just before the go-signal, t1 after the last message was copied out; each
 * message's length and sequence byte (its first payload byte, the message's
 * number mod 256) are checked, and after t1 the whole last message, then the
 * producer's exit status.  Pipes and sockets carry frames of a 4-byte length
 * and the payload, one writev() per message (c-pipe-8KiB-writes: the length,
 * then the payload in 8 KiB write()s); the consumer reads through a 256 KiB
 * buffer, big payloads straight into the destination buffer.
 *
 *   peer-c-w6 [c-pipe c-pipe-8KiB-writes c-socketpair c-shm-spsc-memcpy]
 *
 * runs the named peers (all if none): bench/run runs them one per program,
 * because together they take longer than the runner's 30 s.
 */
#include "common.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define SMALL      64
#define BIG        (1 << 20)
#define M          1000000L
#define K          2000L
#define RDBUF      (256 << 10)
#define CHUNK      (8 << 10)
#define SLOTS_64B  4096
#define SLOTS_1MiB 8
#define SPINS      1000 /* polls before sched_yield */
#define PAUSES     16   /* pauses between two polls */

enum kind { PIPE, PIPE_8K, SOCKETPAIR, SHM };

/* Every payload byte but the first (the sequence byte) is pattern(i). */
static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 131 + 7);
}

static unsigned char *payload_buffer(size_t size)
{
    unsigned char *p = malloc(size);
    BENCH_CHECK(p != NULL);
    for (size_t i = 0; i < size; i++)
        p[i] = pattern(i);
    return p;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* ------------------------------------------------- pipes and sockets */

/* The producer's side: everything or _exit(4). */
static void write_all(int fd, const void *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            _exit(4);
        p = (const char *)p + k;
        n -= (size_t)k;
    }
}

static void writev_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t k = writev(fd, iov, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            _exit(4);
        while (n > 0 && (size_t)k >= iov->iov_len) {
            k -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + k;
            iov->iov_len -= (size_t)k;
        }
    }
}

static void produce_stream(int fd, enum kind kind, long count, size_t size,
                           unsigned char *src)
{
    uint32_t len = (uint32_t)size;
    for (long i = 0; i < count; i++) {
        src[0] = (unsigned char)i;
        if (kind == PIPE_8K) {
            write_all(fd, &len, sizeof len);
            for (size_t off = 0; off < size; off += CHUNK) {
                size_t n = size - off < CHUNK ? size - off : CHUNK;
                write_all(fd, src + off, n);
            }
        } else {
            struct iovec iov[2] = {{&len, sizeof len}, {src, size}};
            writev_all(fd, iov, 2);
        }
    }
}

/* The consumer's buffered reader. */
struct reader {
    int fd;
    unsigned char *buf;
    size_t pos, end;
};

static ssize_t read_some(int fd, void *p, size_t n)
{
    ssize_t k;
    do
        k = read(fd, p, n);
    while (k < 0 && errno == EINTR);
    BENCH_CHECK(k > 0); /* 0: the producer stopped early */
    return k;
}

/* Copies the next n bytes of the stream to dst. */
static void read_exact(struct reader *r, void *dst, size_t n)
{
    unsigned char *d = dst;
    size_t have = r->end - r->pos;
    if (have >= n) {
        memcpy(d, r->buf + r->pos, n);
        r->pos += n;
        return;
    }
    memcpy(d, r->buf + r->pos, have);
    d += have;
    n -= have;
    r->pos = r->end = 0;
    if (n >= RDBUF) { /* big payload: straight into the destination */
        while (n > 0) {
            ssize_t k = read_some(r->fd, d, n);
            d += k;
            n -= (size_t)k;
        }
        return;
    }
    while (r->end < n)
        r->end += (size_t)read_some(r->fd, r->buf + r->end, RDBUF - r->end);
    memcpy(d, r->buf, n);
    r->pos = n;
}

static void consume_stream(int fd, long count, size_t size, unsigned char *dst,
                           unsigned char *rdbuf)
{
    struct reader r = {.fd = fd, .buf = rdbuf};
    for (long i = 0; i < count; i++) {
        uint32_t len;
        read_exact(&r, &len, sizeof len);
        BENCH_CHECK(len == size);
        read_exact(&r, dst, size);
        BENCH_CHECK(dst[0] == (unsigned char)i);
    }
    BENCH_CHECK(r.pos == r.end);
}

/* ------------------------------------------------- shared-memory ring */

struct ring {
    _Alignas(128) atomic_size_t head; /* written by the producer */
    _Alignas(128) atomic_size_t tail; /* written by the consumer */
    _Alignas(128) uint32_t lens[SLOTS_64B];
    /* then the slots, 64-byte aligned */
};

static size_t ring_slots(size_t size)
{
    return size == SMALL ? SLOTS_64B : SLOTS_1MiB;
}

static size_t ring_bytes(size_t size)
{
    return sizeof(struct ring) + ring_slots(size) * size;
}

static unsigned char *ring_slot(struct ring *r, size_t size, size_t i)
{
    return (unsigned char *)(r + 1) + (i & (ring_slots(size) - 1)) * size;
}

static pid_t producer_pid;
static int producer_status = -1; /* >= 0 once reaped */

/* Until *index != value: spin, then sched_yield; a consumer whose producer
 * died fails its check rather than wait for ever (a producer whose consumer
 * died is killed by PR_SET_PDEATHSIG).  Polling after every single pause
 * keeps the two sides in lockstep, each 64 B message paying for a round trip
 * of the index's cache line (16M msgs/s here); 16 pauses between polls let
 * the other side get a few messages ahead (23M, BENCH.md's figure). */
static size_t wait_change(atomic_size_t *index, size_t value, int consumer)
{
    size_t v;
    for (long n = 0;; n++) {
        v = atomic_load_explicit(index, memory_order_acquire);
        if (v != value)
            return v;
        if (n < SPINS) {
            for (int i = 0; i < PAUSES; i++)
                cpu_relax();
            continue;
        }
        sched_yield();
        if (consumer && producer_status < 0 && n % 1024 == 0 &&
            waitpid(producer_pid, &producer_status, WNOHANG) == producer_pid)
            BENCH_CHECK(atomic_load_explicit(index, memory_order_acquire) !=
                        value);
    }
}

static void produce_ring(struct ring *r, long count, size_t size,
                         unsigned char *src)
{
    size_t cap = ring_slots(size), tail = 0;
    for (size_t head = 0; head < (size_t)count; head++) {
        while (head - tail == cap)
            tail = wait_change(&r->tail, tail, 0);
        src[0] = (unsigned char)head;
        memcpy(ring_slot(r, size, head), src, size);
        r->lens[head & (cap - 1)] = (uint32_t)size;
        atomic_store_explicit(&r->head, head + 1, memory_order_release);
    }
}

static void consume_ring(struct ring *r, long count, size_t size,
                         unsigned char *dst)
{
    size_t cap = ring_slots(size), head = 0;
    for (size_t tail = 0; tail < (size_t)count; tail++) {
        if (tail == head)
            head = wait_change(&r->head, head, 1);
        BENCH_CHECK(r->lens[tail & (cap - 1)] == size);
        memcpy(dst, ring_slot(r, size, tail), size);
        BENCH_CHECK(dst[0] == (unsigned char)tail);
        atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
    }
}

/* ---------------------------------------------------------- one run */

/* The consumer's destination and read buffers, made once. */
static unsigned char *out, *inbuf;

/* One run: count messages of size bytes; returns the elapsed seconds. */
static double once(enum kind kind, long count, size_t size)
{
    int ch[2], ctl[2];
    struct ring *ring = NULL;
    pid_t parent = getpid();

    memset(out, 0, size); /* so that the checks after t1 mean something */
    BENCH_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, ctl) == 0);
    if (kind == SHM) {
        ring = mmap(NULL, ring_bytes(size), PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        BENCH_CHECK(ring != MAP_FAILED);
        atomic_init(&ring->head, 0);
        atomic_init(&ring->tail, 0);
        memset(ring_slot(ring, size, 0), 0, ring_slots(size) * size);
    } else if (kind == SOCKETPAIR) {
        BENCH_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, ch) == 0);
    } else {
        BENCH_CHECK(pipe(ch) == 0); /* ch[0] reads, ch[1] writes */
    }

    producer_pid = fork();
    BENCH_CHECK(producer_pid >= 0);
    if (producer_pid == 0) {
        char c = 'r';
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(5);
        close(ctl[0]);
        if (!ring)
            close(ch[0]);
        unsigned char *src = payload_buffer(size);
        write_all(ctl[1], &c, 1);
        if (read(ctl[1], &c, 1) != 1 || c != 'g')
            _exit(5);
        if (ring)
            produce_ring(ring, count, size, src);
        else
            produce_stream(ch[1], kind, count, size, src);
        _exit(0);
    }
    producer_status = -1;
    close(ctl[1]);
    if (!ring)
        close(ch[1]);
    char c;
    BENCH_CHECK(read(ctl[0], &c, 1) == 1 && c == 'r');

    double t0 = bench_now();
    BENCH_CHECK(write(ctl[0], "g", 1) == 1);
    if (ring)
        consume_ring(ring, count, size, out);
    else
        consume_stream(ch[0], count, size, out, inbuf);
    double t1 = bench_now();

    for (size_t i = 1; i < size; i++)
        BENCH_CHECK(out[i] == pattern(i));
    BENCH_CHECK(out[0] == (unsigned char)(count - 1));
    if (producer_status < 0)
        BENCH_CHECK(waitpid(producer_pid, &producer_status, 0) == producer_pid);
    BENCH_CHECK(WIFEXITED(producer_status) &&
                WEXITSTATUS(producer_status) == 0);
    close(ctl[0]);
    if (ring)
        munmap(ring, ring_bytes(size));
    else
        close(ch[0]);
    return t1 - t0;
}

/* One untimed warm-up run, then runs timed runs. */
static void measure(const char *peer, enum kind kind, const char *metric,
                    long count, size_t size, int runs)
{
    double v[BENCH_MAX_RUNS] = {0};
    once(kind, count, size);
    for (int i = 0; i < runs; i++) {
        double s = once(kind, count, size);
        v[i] = size == SMALL ? (double)count / s
                             : (double)count * (double)size / s / 1e9;
    }
    bench_report("W6", peer, metric, v, runs,
                 size == SMALL ? "msgs/s" : "GB/s");
}

static const struct peer {
    const char *name;
    enum kind kind;
    int runs_64B; /* 0: no 64 B case */
    int runs_1MiB;
} peers[] = {
    /* c-pipe 1 MiB is the slow one: ~3.4 s a run here */
    {"c-pipe", PIPE, 5, 3},
    {"c-pipe-8KiB-writes", PIPE_8K, 0, 5},
    {"c-socketpair", SOCKETPAIR, 5, 5},
    {"c-shm-spsc-memcpy", SHM, 5, 5},
};
#define NPEERS (sizeof peers / sizeof peers[0])

static void run_peer(const struct peer *p)
{
    if (p->runs_64B)
        measure(p->name, p->kind, "msgs_64B", M, SMALL, p->runs_64B);
    measure(p->name, p->kind, "bw_1MiB", K, BIG, p->runs_1MiB);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    out = payload_buffer(BIG);
    inbuf = payload_buffer(RDBUF);
    for (int a = 1; a < argc; a++) {
        size_t i = 0;
        while (i < NPEERS && strcmp(peers[i].name, argv[a]) != 0)
            i++;
        if (i == NPEERS) {
            fprintf(stderr, "unknown peer %s\n", argv[a]);
            return 2;
        }
    }
    for (size_t i = 0; i < NPEERS; i++) {
        int chosen = argc == 1;
        for (int a = 1; a < argc; a++)
            chosen |= strcmp(peers[i].name, argv[a]) == 0;
        if (chosen)
            run_peer(&peers[i]);
    }
    return 0;
}

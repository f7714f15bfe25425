/*
 * bench/peers/c/w9_echo_uring.c - W9's c-io_uring echo server (BENCH.md):
 * what io_uring can do at best for this workload, written the way a
 * competent liburing user would, until SIGTERM (its default action).
 *
 *   peer-c-w9-echo-uring PORT [fixed] [skip] [noregring] [bufs=N] [size=B]
 *                        [wait=N minwait=US]
 *
 * One thread, one ring (SINGLE_ISSUER | DEFER_TASKRUN: completions are
 * made by this thread when it enters the ring), its descriptor registered
 * (io_uring_register_ring_fd).  One multishot accept on the listener; per
 * connection one multishot recv into a ring of provided buffers (group 0),
 * so a connection's receives cost one submission in its life; each
 * received buffer is sent back as it is (IORING_OP_SEND from the kernel's
 * chosen buffer, MSG_WAITALL so a short send is finished by the kernel)
 * and given back to the buffer ring when that send completes.  A
 * connection has at most one send in flight; what comes meanwhile waits
 * in its queue of buffers, in order.  Each loop turn is one
 * io_uring_submit_and_wait: the sends of the last turn's completions go
 * in with the wait for the next ones.
 *
 * Variants (for the measurement, not the W9 row):
 *  fixed      the connections in the ring's registered file table
 *             (IOSQE_FIXED_FILE: no file lookup per operation); one
 *             io_uring_register_files_update per accepted connection.
 *  skip       each received message is copied into the connection's own
 *             64 KiB buffer, its provided buffer given back at once, and
 *             sent with IOSQE_CQE_SKIP_SUCCESS (no completion per send).
 *             Correct only for a client that waits for the echo before it
 *             sends again (W9's), since nothing says when the send is done
 *             with the connection's buffer.
 *  noregring  io_uring_enter with the ring's plain descriptor.
 *  bufs=N, size=B   N provided buffers of B bytes (default 256 x 16 KiB;
 *             a receive of more than B bytes comes in several buffers).
 *  wait=N minwait=US  each loop turn waits for N completions, for at most
 *             US microseconds, then for any one (the kernel's
 *             min_wait_usec, 6.12): batches under load, and a lone
 *             message may wait US for its batch.  W9's extra row
 *             c-io_uring-minwait is wait=32 minwait=200.
 *
 * Measured (W9, this machine): without minwait a loop turn serves about
 * one message (an io_uring_enter per round trip, where c-epoll's
 * epoll_wait returns ~50 events), and the server's CPU per round trip is
 * 0.95-0.99x c-epoll's: 70-75% of it is the kernel's TCP send and receive,
 * which every server pays.  fixed, skip and noregring change it by less
 * than the noise.  With minwait the turns batch and the CPU per round
 * trip drops to 0.55-0.7x c-epoll's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CONN_BUF (64 * 1024) /* skip: a connection's own send buffer */
#define QUEUE    16          /* buffers waiting for a connection's send */

/* user_data: the kind in the top byte, the buffer id in the next 16 bits,
 * the descriptor in the low 32. */
enum { ACCEPT = 1, RECV, SEND };

struct conn {
    bool sending;        /* a send is in flight */
    bool closing;        /* its recv ended: the send's end closes */
    uint8_t head, count; /* the queue of received buffers */
    uint16_t bid[QUEUE]; /* their ids */
    uint32_t len[QUEUE]; /* and lengths */
    char *own;           /* skip: its send buffer (kept for reuse:
                          * a send may still read it at the close) */
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static unsigned nbufs = 256, bufsize = 16 * 1024;
static bool fixed, skip, regring = true;
static unsigned wait_nr = 1, min_wait_us; /* batch: see enter() */
static struct conn *conns;
static unsigned nconns;

static void die(const char *what, int err)
{
    fprintf(stderr, "w9-echo-uring: %s: %s\n", what, strerror(err));
    exit(1);
}

static uint64_t token(int kind, int fd, unsigned bid)
{
    return (uint64_t)kind << 56 | (uint64_t)bid << 32 | (uint32_t)fd;
}

static struct io_uring_sqe *sqe(void)
{
    struct io_uring_sqe *e = io_uring_get_sqe(&ring);
    if (!e) {
        io_uring_submit(&ring);
        e = io_uring_get_sqe(&ring);
    }
    return e;
}

static int listen_on(int port)
{
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        die("socket", errno);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, SOMAXCONN))
        die("bind/listen", errno);
    return fd;
}

static void buffers_init(void)
{
    size_t ringsize = nbufs * sizeof(struct io_uring_buf);
    br = mmap(NULL, ringsize, PROT_READ | PROT_WRITE,
              MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    bufs = malloc((size_t)nbufs * bufsize);
    if (br == MAP_FAILED || !bufs)
        die("buffers", ENOMEM);
    struct io_uring_buf_reg reg = {
        .ring_addr = (unsigned long)br, .ring_entries = nbufs, .bgid = 0};
    int err = io_uring_register_buf_ring(&ring, &reg, 0);
    if (err)
        die("io_uring_register_buf_ring", -err);
    io_uring_buf_ring_init(br);
    for (unsigned i = 0; i < nbufs; i++)
        io_uring_buf_ring_add(br, bufs + (size_t)i * bufsize, bufsize, i,
                              io_uring_buf_ring_mask(nbufs), i);
    io_uring_buf_ring_advance(br, nbufs);
}

static void buffer_give_back(unsigned bid)
{
    io_uring_buf_ring_add(br, bufs + (size_t)bid * bufsize, bufsize, bid,
                          io_uring_buf_ring_mask(nbufs), 0);
    io_uring_buf_ring_advance(br, 1);
}

/* fixed: the descriptor names the file table's slot of the same number. */
static void set_fd(struct io_uring_sqe *e)
{
    if (fixed)
        e->flags |= IOSQE_FIXED_FILE;
}

static void recv_arm(int fd)
{
    struct io_uring_sqe *e = sqe();
    io_uring_prep_recv_multishot(e, fd, NULL, 0, 0);
    set_fd(e);
    e->flags |= IOSQE_BUFFER_SELECT;
    e->buf_group = 0;
    io_uring_sqe_set_data64(e, token(RECV, fd, 0));
}

static void accept_arm(int listener)
{
    struct io_uring_sqe *e = sqe();
    io_uring_prep_multishot_accept(e, listener, NULL, NULL, 0);
    io_uring_sqe_set_data64(e, token(ACCEPT, listener, 0));
}

static void send_start(int fd, unsigned bid, unsigned len)
{
    struct io_uring_sqe *e = sqe();
    io_uring_prep_send(e, fd, bufs + (size_t)bid * bufsize, len,
                       MSG_WAITALL | MSG_NOSIGNAL);
    set_fd(e);
    io_uring_sqe_set_data64(e, token(SEND, fd, bid));
    conns[fd].sending = true;
}

/* skip: the message copied into the connection's buffer, the provided
 * buffer given back now, no completion unless the send fails. */
static void send_copy(int fd, unsigned bid, unsigned len)
{
    struct conn *c = &conns[fd];
    memcpy(c->own, bufs + (size_t)bid * bufsize, len);
    buffer_give_back(bid);
    struct io_uring_sqe *e = sqe();
    io_uring_prep_send(e, fd, c->own, len, MSG_WAITALL | MSG_NOSIGNAL);
    set_fd(e);
    e->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(e, token(SEND, fd, UINT16_MAX));
}

static void queue_drop(struct conn *c)
{
    for (; c->count; c->count--, c->head = (c->head + 1) % QUEUE)
        buffer_give_back(c->bid[c->head]);
}

static void conn_close(int fd)
{
    queue_drop(&conns[fd]);
    if (fixed) {
        int none = -1;
        io_uring_register_files_update(&ring, (unsigned)fd, &none, 1);
    }
    close(fd);
}

static void on_accept(int listener, const struct io_uring_cqe *cqe)
{
    int one = 1, fd = cqe->res;
    if (!(cqe->flags & IORING_CQE_F_MORE))
        accept_arm(listener);
    if (fd < 0)
        return;
    if ((unsigned)fd >= nconns) {
        close(fd);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char *own = conns[fd].own;
    conns[fd] = (struct conn){.own = own};
    if (skip && !own && !(conns[fd].own = malloc(CONN_BUF))) {
        close(fd);
        return;
    }
    if (fixed &&
        io_uring_register_files_update(&ring, (unsigned)fd, &fd, 1) != 1) {
        close(fd);
        return;
    }
    recv_arm(fd);
}

static void on_recv(int fd, const struct io_uring_cqe *cqe)
{
    struct conn *c = &conns[fd];
    bool more = cqe->flags & IORING_CQE_F_MORE;
    if (cqe->res > 0) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        if (skip) {
            send_copy(fd, bid, (unsigned)cqe->res);
        } else if (!c->sending) {
            send_start(fd, bid, (unsigned)cqe->res);
        } else if (c->count < QUEUE) {
            unsigned tail = (c->head + c->count++) % QUEUE;
            c->bid[tail] = (uint16_t)bid;
            c->len[tail] = (uint32_t)cqe->res;
        } else {
            buffer_give_back(bid); /* a flood; never with W9's client */
        }
        if (!more)
            recv_arm(fd);
    } else if (cqe->res == -ENOBUFS) {
        if (!more)
            recv_arm(fd); /* every buffer taken: try again */
    } else if (!more && !c->sending) {
        conn_close(fd); /* the end or an error, nothing in flight */
    } else if (!more) {
        queue_drop(c);
        c->closing = true; /* the send's completion closes */
    }
}

static void on_send(int fd, unsigned bid, const struct io_uring_cqe *cqe)
{
    struct conn *c = &conns[fd];
    if (bid == UINT16_MAX)
        return; /* skip: a failed send; the recv sees the end */
    buffer_give_back(bid);
    c->sending = false;
    if (c->closing) {
        conn_close(fd);
        return;
    }
    if (cqe->res < 0) {
        shutdown(fd, SHUT_RDWR); /* the recv ends, then we close */
        return;
    }
    if (c->count) {
        send_start(fd, c->bid[c->head], c->len[c->head]);
        c->head = (c->head + 1) % QUEUE;
        c->count--;
    }
}

/* Submits what is queued and waits for wait_nr completions, at most
 * min_wait_us (then for any one): io_uring_enter with the kernel's min
 * wait (6.12, IORING_FEAT_MIN_TIMEOUT), which liburing 2.3 does not
 * know: its getevents_arg's pad is the field min_wait_usec. */
static int enter(void)
{
    if (!min_wait_us)
        return io_uring_submit_and_wait(&ring, wait_nr);
    struct io_uring_sq *sq = &ring.sq;
    unsigned tail = sq->sqe_tail;
    if (sq->sqe_head != tail) {
        sq->sqe_head = tail;
        io_uring_smp_store_release(sq->ktail, tail);
    }
    unsigned to_submit = tail - IO_URING_READ_ONCE(*sq->khead);
    struct io_uring_getevents_arg arg = {.pad = min_wait_us};
    unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG |
                     (regring ? IORING_ENTER_REGISTERED_RING : 0);
    int fd = regring ? ring.enter_ring_fd : ring.ring_fd;
    long r = syscall(__NR_io_uring_enter, fd, to_submit, wait_nr, flags, &arg,
                     sizeof arg);
    return r < 0 ? -errno : (int)r;
}

static void options(int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "fixed") == 0)
            fixed = true;
        else if (strcmp(argv[i], "skip") == 0)
            skip = true;
        else if (strcmp(argv[i], "noregring") == 0)
            regring = false;
        else if (strncmp(argv[i], "wait=", 5) == 0)
            wait_nr = (unsigned)atoi(argv[i] + 5);
        else if (strncmp(argv[i], "minwait=", 8) == 0)
            min_wait_us = (unsigned)atoi(argv[i] + 8);
        else if (strncmp(argv[i], "bufs=", 5) == 0)
            nbufs = (unsigned)atoi(argv[i] + 5);
        else if (strncmp(argv[i], "size=", 5) == 0)
            bufsize = (unsigned)atoi(argv[i] + 5);
        else
            die(argv[i], EINVAL);
    }
    if (!nbufs || nbufs > 32768 || (nbufs & (nbufs - 1)) || !bufsize)
        die("bufs must be a power of 2 up to 32768", EINVAL);
}

int main(int argc, char **argv)
{
    struct rlimit rl;

    if (argc < 2)
        return 2;
    options(argc, argv);
    getrlimit(RLIMIT_NOFILE, &rl);
    nconns = rl.rlim_cur > 65536 ? 65536 : (unsigned)rl.rlim_cur;
    conns = calloc(nconns, sizeof *conns);
    int listener = listen_on(atoi(argv[1]));
    struct io_uring_params p = {
        .flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                 IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE,
        .cq_entries = 4096,
    };
    int err = io_uring_queue_init_params(512, &ring, &p);
    if (err)
        die("io_uring_queue_init_params", -err);
    if (regring && io_uring_register_ring_fd(&ring) != 1)
        die("io_uring_register_ring_fd", EINVAL);
    if (fixed && (err = io_uring_register_files_sparse(&ring, nconns)))
        die("io_uring_register_files_sparse", -err);
    if (!conns)
        die("connections", ENOMEM);
    buffers_init();
    accept_arm(listener);
    for (;;) {
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        err = enter();
        if (err < 0 && err != -EINTR && err != -EAGAIN && err != -EBUSY &&
            err != -ETIME)
            die("io_uring_submit_and_wait", -err);
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            uint64_t t = cqe->user_data;
            int fd = (int)(uint32_t)t;
            unsigned bid = (unsigned)(t >> 32) & 0xffff;
            switch (t >> 56) {
            case ACCEPT:
                on_accept(fd, cqe);
                break;
            case RECV:
                on_recv(fd, cqe);
                break;
            case SEND:
                on_send(fd, bid, cqe);
                break;
            }
            n++;
        }
        io_uring_cq_advance(&ring, n);
    }
}

/*
 * fuzz/fuzz_frame.c - libFuzzer target: Pipe messages from an untrusted
 * peer.  The input is written into one end of a duplex Pipe, whose other
 * end then receives until it says EOF or WV_EPROTO.  Nothing may crash,
 * read out of bounds or leak (the build runs with ASan), every message
 * handed out must fit the buffer it was given, descriptors that do not
 * fit their frames must not pile up, and no descriptor may be left open
 * once both ends are closed.
 *
 * The input is written raw, in one write, unless its first byte is 0xFD:
 * then the rest is a script of chunks, each written with one sendmsg
 *     u8 fds | u16 len (little-endian) | len bytes
 * with `fds % 71` copies of a /dev/null descriptor attached (past 64 the
 * receiver's control buffer overflows: MSG_CTRUNC).  So the fuzzer
 * decides where descriptors land: on a header's first byte, in a body, on
 * a frame declaring more, fewer or none.
 */
#include "ipc/internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SCRIPT   0xFD
#define MAX_PASS 70

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        abort();
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* One chunk with n copies of pass attached; false once the socket is
 * full (the rest of the script is dropped). */
static bool send_chunk(int fd, const uint8_t *bytes, size_t len, int pass,
                       int n)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * MAX_PASS)];
        struct cmsghdr align;
    } cm;
    struct iovec iov = {(void *)bytes, len};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    if (len == 0) /* a descriptor needs a byte to ride on */
        return true;
    if (n) {
        memset(&cm, 0, sizeof cm);
        m.msg_control = cm.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
        for (int i = 0; i < n; i++)
            memcpy(CMSG_DATA(h) + i * sizeof(int), &pass, sizeof pass);
    }
    ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
    if (w < 0)
        return false;
    /* A short write took the descriptors with its first part. */
    return (size_t)w == len ||
           send_chunk(fd, bytes + w, len - (size_t)w, pass, 0);
}

/* Plays the script data[0..size) into fd. */
static void play(int fd, const uint8_t *data, size_t size, int pass)
{
    size_t i = 0;
    while (size - i >= 3) {
        int n = data[i] % (MAX_PASS + 1);
        size_t len = (size_t)data[i + 1] | (size_t)data[i + 2] << 8;
        i += 3;
        if (len > size - i)
            len = size - i;
        if (!send_chunk(fd, data + i, len, pass, n))
            return;
        i += len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t len64;
    uint32_t n32;
    wv_conn_t *a, *b;
    static char buf[4096];
    int fds[4];

    wv__frame_parse(data, size, &len64, &n32);
    if (size > 60000)
        return 0;
    int before = count_fds();
    int pass = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (pass < 0 || wv_pipe(&a, &b, true) != 0) {
        if (pass >= 0)
            close(pass);
        return 0;
    }
    if (size && data[0] == SCRIPT)
        play(wv_conn_fileno(a), data + 1, size - 1, pass);
    else if (size && write(wv_conn_fileno(a), data, size) != (ssize_t)size)
        abort();
    close(pass);
    wv_conn_free(a);
    for (;;) {
        size_t len = 0, nfds = 4;
        int err = wv_conn_recv_fds(b, buf, sizeof buf, &len, fds, &nfds, 0);
        if (err == 0) {
            if (len > sizeof buf || nfds > 4)
                abort();
            for (size_t i = 0; i < nfds; i++)
                close(fds[i]);
            /* Descriptors that wait for their frames: at most two
             * batches (b's socket is the one more). */
            if (count_fds() > before + 1 + 2 * WV_CONN_MAX_FDS)
                abort();
            continue;
        }
        if (err != WV_EOF && err != WV_EPROTO && err != WV_EMSGSIZE &&
            err != WV_ENOMEM)
            abort(); /* with everything written and closed, no waiting */
        break;
    }
    wv_conn_free(b);
    if (count_fds() != before)
        abort(); /* a descriptor received and never closed */
    return 0;
}

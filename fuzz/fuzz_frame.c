/*
 * fuzz/fuzz_frame.c - libFuzzer target: Pipe messages from an untrusted
 * peer.  The input is written raw into one end of a duplex Pipe, whose
 * other end then receives until it says EOF or WV_EPROTO.  Nothing may
 * crash, read out of bounds or leak (the build runs with ASan), and every
 * message handed out must fit the buffer it was given.
 */
#include "proc/internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t len64;
    uint32_t n32;
    wv_conn_t *a, *b;
    static char buf[4096];
    int fds[4];

    wv__frame_parse(data, size, &len64, &n32);
    if (size > 60000 || wv_pipe(&a, &b, true) != 0)
        return 0;
    if (size && write(wv_conn_fileno(a), data, size) != (ssize_t)size)
        abort();
    wv_conn_free(a);
    for (;;) {
        size_t len = 0, nfds = 4;
        int err = wv_conn_recv_fds(b, buf, sizeof buf, &len, fds, &nfds, 0);
        if (err == 0) {
            if (len > sizeof buf || nfds > 4)
                abort();
            for (size_t i = 0; i < nfds; i++)
                close(fds[i]);
            continue;
        }
        if (err != WV_EOF && err != WV_EPROTO && err != WV_EMSGSIZE &&
            err != WV_ENOMEM)
            abort(); /* with everything written and closed, no waiting */
        break;
    }
    wv_conn_free(b);
    return 0;
}

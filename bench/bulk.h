/*
 * bench/bulk.h - what W9b's programs share (weave-bench's w9_net.c and
 * bench/peers/c/w9b_bulk.c): the 1 GiB they move over one loopback TCP
 * connection, written in CHUNK-byte writes from a 1 MiB source whose
 * 8-byte words hold their own index (word k of the source is k), and the
 * receiver's check: per read, the first and the last whole word that read
 * brought must hold their index (offset / 8 mod the source's words), and
 * the total must be 1 GiB.  A lost, doubled or misplaced span of bytes
 * (short of a multiple of 1 MiB) shows; checking every byte would cost
 * the receiver more than the copy it measures.  Also the TLS rows'
 * certificate (bulk_make_cert).
 */
#ifndef WEAVE_BENCH_BULK_H
#define WEAVE_BENCH_BULK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BULK_TOTAL  (1ull << 30) /* bytes per run */
#define BULK_CHUNK  (64u << 10)  /* each write and each read */
#define BULK_SOURCE (1u << 20)   /* the source buffer, sent 1024 times */
#define BULK_RUNS   3            /* after one warm-up run */

/* The source: word k holds k.  NULL if out of memory. */
static inline unsigned char *bulk_source(void)
{
    uint64_t *w = malloc(BULK_SOURCE);
    if (w)
        for (uint64_t k = 0; k < BULK_SOURCE / 8; k++)
            w[k] = k;
    return (unsigned char *)w;
}

/* The word at stream offset `off` (a multiple of 8) must hold this. */
static inline uint64_t bulk_expected(uint64_t off)
{
    return (off % BULK_SOURCE) / 8;
}

/* Checks a read of n bytes at stream offset off; true if it looks right. */
static inline int bulk_check(const unsigned char *buf, size_t n, uint64_t off)
{
    uint64_t first = (off + 7) & ~7ull, last, w;
    if (n < 8 || first + 8 > off + n)
        return 1; /* no whole word in it */
    last = (off + n - 8) & ~7ull;
    memcpy(&w, buf + (first - off), 8);
    if (w != bulk_expected(first))
        return 0;
    memcpy(&w, buf + (last - off), 8);
    return w == bulk_expected(last);
}

/* A self-signed EC P-256 certificate for localhost, made with the
 * openssl command in a fresh temporary directory: dir is mkdtemp's
 * template (changed in place), cert and key (cap bytes each) get the
 * files' paths.  false if it could not be made. */
static inline bool bulk_make_cert(char *dir, char *cert, char *key, size_t cap)
{
    char cmd[1024];
    if (!mkdtemp(dir))
        return false;
    snprintf(cert, cap, "%s/cert.pem", dir);
    snprintf(key, cap, "%s/key.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt "
             "ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost "
             "-addext subjectAltName=DNS:localhost -keyout %s -out %s "
             ">/dev/null 2>&1",
             key, cert);
    return system(cmd) == 0;
}

#endif /* WEAVE_BENCH_BULK_H */

/*
 * A parallel map over an array of a million numbers:
 *
 *     with ThreadPool() as pool:
 *         squares = pool.map(square, range(1000000))
 *     print(sum(squares))
 *
 * wv_pool_map cuts the array into chunks (one queued task per chunk, not
 * per number), runs fn on each number in place and writes each result into
 * its slot of `out`, in input order.  Then the same with imap_unordered,
 * consuming results as chunks finish.
 */
#include <weave.h>

#include <stdio.h>
#include <stdlib.h>

#define N 1000000

static int square(wv_task_t *task, const void *arg, size_t len)
{
    long x = *(const long *)arg, r = x * x;
    return wv_task_return(task, &r, sizeof r);
}

int main(void)
{
    long *in = malloc(N * sizeof *in), *out = malloc(N * sizeof *out);
    wv_pool_t *p;
    wv_imap_t *it;
    const void *r;
    int err;

    if (!in || !out || wv_pool_new(&p, NULL) != 0)
        return 1;
    for (long i = 0; i < N; i++)
        in[i] = i;

    int64_t t0 = wv_now();
    err =
        wv_pool_map(p, NULL, square, in, N, sizeof *in, out, sizeof *out,
                    NULL);
    if (err) {
        fprintf(stderr, "map: %s\n", wv_strerror(err));
        return 1;
    }
    long sum = 0, expect = 0;
    for (long i = 0; i < N; i++) {
        sum += out[i];
        expect += i * i;
    }
    printf("map: %d squares on %u workers in %lld ms, sum %ld (%s)\n", N,
           wv_pool_workers(p), (long long)(wv_now() - t0), sum,
           sum == expect ? "correct" : "WRONG");

    long sum2 = 0, count = 0;
    if ((err = wv_pool_imap_unordered(p, NULL, square, in, N, sizeof *in, sizeof(long), &it)))
        return 1;
    while ((err = wv_imap_next(it, NULL, &r, WV_FOREVER)) == 0) {
        sum2 += *(const long *)r;
        count++;
    }
    wv_imap_free(it);
    printf("imap_unordered: %ld results, sum %ld (%s)\n", count, sum2,
           err == WV_EOF && sum2 == expect ? "correct" : "WRONG");
    wv_pool_free(p);
    free(in);
    free(out);
    return sum == expect && sum2 == expect ? 0 : 1;
}

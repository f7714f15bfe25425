/*
 * A CPU-bound parallel map over processes: count the primes below 2
 * million, in blocks of 50,000 numbers, on a Pool of one process per CPU:
 *
 *     with Pool() as pool:
 *         counts = pool.map(count_primes, range(0, LIMIT, BLOCK))
 *     print(sum(counts))
 *
 * The blocks' starts go to the workers as records, in chunks; each result
 * (the block's count, and which process counted it) comes back into its
 * slot of `out`, in order.  The same sum counted here, in one process,
 * checks it; the pids show that every CPU took part.
 */
#include <weave.h>

#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

#define LIMIT  2000000L
#define BLOCK  50000L
#define BLOCKS (LIMIT / BLOCK)

struct count {
    long primes;
    int pid;
};

static bool is_prime(long n)
{
    if (n < 2)
        return false;
    for (long d = 2; d * d <= n; d++)
        if (n % d == 0)
            return false;
    return true;
}

static long primes_in(long lo)
{
    long c = 0;
    for (long n = lo; n < lo + BLOCK; n++)
        c += is_prime(n);
    return c;
}

static int count_primes(wv_task_t *task, const void *arg, size_t len)
{
    struct count r = {primes_in(*(const long *)arg), getpid()};
    return wv_task_return(task, &r, sizeof r);
}

int main(void)
{
    long starts[BLOCKS];
    struct count out[BLOCKS];
    wv_pool_opts_t opts = {.kind = WV_POOL_PROCESSES}; /* one per CPU */
    wv_task_opts_t chunks = {.chunksize = 1};
    wv_pool_t *p;
    int err;

    for (long i = 0; i < BLOCKS; i++)
        starts[i] = i * BLOCK;
    if ((err = wv_pool_new(&p, &opts)) ||
        (err = wv_pool_map(p, &chunks, count_primes, starts, BLOCKS, sizeof starts[0], out, sizeof out[0], NULL))) {
        fprintf(stderr, "pool: %s\n", wv_strerror(err));
        return 1;
    }
    wv_pool_free(p);

    long sum = 0, check = 0;
    int pids[64], npids = 0;
    for (long i = 0; i < BLOCKS; i++) {
        sum += out[i].primes;
        int k = 0;
        while (k < npids && pids[k] != out[i].pid)
            k++;
        if (k == npids && npids < 64)
            pids[npids++] = out[i].pid;
    }
    for (long i = 0; i < BLOCKS; i++)
        check += primes_in(i * BLOCK);
    int cpus = wv_cpu_count() < 64 ? wv_cpu_count() : 64;
    printf("Primes below %ld: %ld\n", LIMIT, sum);
    printf("Counted again in one process: %s\n",
           sum == check ? "the same" : "DIFFERENT");
    printf("Worker processes that counted: %d of %d (one per CPU): %s\n", npids,
           cpus, npids == cpus ? "all" : "NOT ALL");
    return sum == check && npids == cpus ? 0 : 1;
}

/*
 * bench/common.h - what every C benchmark program shares (weave-bench and
 * the raw-C peers): the clock, medians, and the output format of BENCH.md:
 *
 *   stdout:  W5 weave uncontended 4.91 ns
 *   stderr:  spread W5 weave uncontended min=4.85 max=5.20 n=5 runs=...
 */
#ifndef WEAVE_BENCH_COMMON_H
#define WEAVE_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_MAX_RUNS 16

static inline double bench_now(void) /* seconds, CLOCK_MONOTONIC */
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline double bench_median(const double *runs, int n)
{
    double v[BENCH_MAX_RUNS];
    memcpy(v, runs, (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Prints the median on stdout and the spread on stderr. */
static inline void bench_report(const char *workload, const char *peer,
                                const char *metric, const double *runs, int n,
                                const char *unit)
{
    double lo = runs[0], hi = runs[0];
    for (int i = 1; i < n; i++) {
        lo = runs[i] < lo ? runs[i] : lo;
        hi = runs[i] > hi ? runs[i] : hi;
    }
    printf("%s %s %s %.4g %s\n", workload, peer, metric, bench_median(runs, n),
           unit);
    fflush(stdout);
    fprintf(stderr, "spread %s %s %s min=%.4g max=%.4g n=%d runs=", workload,
            peer, metric, lo, hi, n);
    for (int i = 0; i < n; i++)
        fprintf(stderr, "%s%.4g", i ? "," : "", runs[i]);
    fprintf(stderr, "\n");
}

/* A failed self-check: the runner reports the peer as NA. */
#define BENCH_CHECK(cond)                                                      \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "check failed: %s (%s:%d)\n", #cond, __FILE__,     \
                    __LINE__);                                                 \
            exit(3);                                                           \
        }                                                                      \
    } while (0)

#endif /* WEAVE_BENCH_COMMON_H */

/* bench/weave_bench.h - weave's side of each workload (BENCH.md). */
#ifndef WEAVE_BENCH_H
#define WEAVE_BENCH_H

void bench_w4(void);
void bench_w5(void);
void bench_w6(void); /* Pipe only, until the Queue exists */
void bench_w7(void);
void bench_w8(void);
void bench_q1(void); /* weave's own: queue.Queue, not in BENCH.md */

#endif

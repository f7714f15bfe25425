/* bench/weave_bench.h - weave's side of each workload (BENCH.md). */
#ifndef WEAVE_BENCH_H
#define WEAVE_BENCH_H

/* The coroutine workloads are built once their layer exists (CMakeLists:
 * the scheduler for W1 and W2, the channels for W3); until then NULL. */
#ifdef WEAVE_BENCH_CORO
void bench_w1(void);
void bench_w2(void);
int bench_w2_mem_child(void); /* weave-bench --w2-mem: one measurement */
#else
#define bench_w1 NULL
#define bench_w2 NULL
#endif
#ifdef WEAVE_BENCH_CHAN
void bench_w3(void);
#else
#define bench_w3 NULL
#endif
void bench_w4(void);
void bench_w5(void);
void bench_w6(void); /* Pipe only, until the Queue exists */
void bench_w7(void);
void bench_w8(void);
/* W9 and W9c run bench/peers' load generator against --echo-server. */
void bench_w9(void);
void bench_w9b(void); /* bulk, plain and TLS */
void bench_w9c(void);
int bench_echo_server(const char *port); /* weave-bench --echo-server */
/* W10 and W11: weave's manager; their helper processes are weave-bench
 * --w10-worker PORT MODE and --w11-server. */
void bench_w10(void);
void bench_w11(void);
int bench_w10_worker(const char *port, const char *mode);
int bench_w11_server(void);
int bench_w10_py_worker(const char *python, const char *script);
/* W10 over Redis Streams (the manager's redis:// backend), its own
 * redis-server; workers are weave-bench --w10-redis-worker URL. */
void bench_w10_redis(void);
/* Row weave-redis at the end of W10, if redis-server is installed. */
void bench_w10_redis_if_possible(void);
void bench_w10_redis_workers(void);
int bench_w10_redis_worker(const char *url);
void bench_q1(void); /* weave's own: queue.Queue, not in BENCH.md */

#endif

"""W4 for Python: concurrent.futures.ThreadPoolExecutor(2), N x
submit(noop), then wait(futures) (scaled: N = 100k, 3 timed runs).  One
executor for every run: it starts its threads at the first submits, which
the warm-up run does before timing."""
import concurrent.futures
import statistics
import sys
import time

N = 100_000
RUNS = 3


def noop():
    pass


def once(pool):
    t0 = time.perf_counter()
    futures = [pool.submit(noop) for _ in range(N)]
    done, not_done = concurrent.futures.wait(futures)
    elapsed = time.perf_counter() - t0
    if len(done) != N or not_done or any(f.exception() for f in done):
        sys.exit(3)
    return N / elapsed


with concurrent.futures.ThreadPoolExecutor(2) as pool:
    once(pool)
    runs = [once(pool) for _ in range(RUNS)]
print(f"W4 py-ThreadPoolExecutor throughput {statistics.median(runs):.4g} "
      "tasks/s", flush=True)
print(f"spread W4 py-ThreadPoolExecutor throughput min={min(runs):.4g} "
      f"max={max(runs):.4g} n={len(runs)} "
      f"runs={','.join(f'{r:.4g}' for r in runs)}", file=sys.stderr)

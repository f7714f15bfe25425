"""W4 for Python: concurrent.futures.ThreadPoolExecutor(2), N x
submit(bump), then wait(futures) (scaled: N = 100k, 3 timed runs).  One
executor for every run: it starts its threads at the first submits, which
the warm-up run does before timing.  A task bumps one shared counter (as
weave's and the other peers' tasks; next() on an itertools.count is atomic
under the GIL).  Each task has a future, waited for: the metric is
`throughput_futures`, compared with weave's apply_async with a future per
task."""
import concurrent.futures
import itertools
import statistics
import sys
import time

N = 100_000
RUNS = 3


counter = itertools.count()


def bump():
    next(counter)


def once(pool):
    global counter
    counter = itertools.count()
    t0 = time.perf_counter()
    futures = [pool.submit(bump) for _ in range(N)]
    done, not_done = concurrent.futures.wait(futures)
    elapsed = time.perf_counter() - t0
    if len(done) != N or not_done or any(f.exception() for f in done) or \
            next(counter) != N:
        sys.exit(3)
    return N / elapsed


with concurrent.futures.ThreadPoolExecutor(2) as pool:
    once(pool)
    runs = [once(pool) for _ in range(RUNS)]
print(f"W4 py-ThreadPoolExecutor throughput_futures {statistics.median(runs):.4g} "
      "tasks/s", flush=True)
print(f"spread W4 py-ThreadPoolExecutor throughput_futures min={min(runs):.4g} "
      f"max={max(runs):.4g} n={len(runs)} "
      f"runs={','.join(f'{r:.4g}' for r in runs)}", file=sys.stderr)

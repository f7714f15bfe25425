"""W5 for Python: threading.Lock, uncontended and two threads contending."""
import statistics
import sys
import threading
import time

N = 1_000_000
P = 500_000
RUNS = 5


def report(metric, runs):
    print(f"W5 py-threading.Lock {metric} {statistics.median(runs):.4g} ns",
          flush=True)
    print(f"spread W5 py-threading.Lock {metric} min={min(runs):.4g} "
          f"max={max(runs):.4g} n={len(runs)} "
          f"runs={','.join(f'{r:.4g}' for r in runs)}", file=sys.stderr)


def uncontended():
    lock = threading.Lock()
    t0 = time.perf_counter()
    for _ in range(N):
        lock.acquire()
        lock.release()
    return (time.perf_counter() - t0) * 1e9 / N


def contended():
    lock = threading.Lock()
    barrier = threading.Barrier(2)
    counter = [0]
    start = [0.0]

    def run():
        if barrier.wait() == 1:
            start[0] = time.perf_counter()
        for _ in range(P):
            with lock:
                counter[0] += 1

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start[0]
    if counter[0] != 2 * P:
        sys.exit(3)
    return elapsed * 1e9 / (2 * P)


def measure(metric, fn):
    fn()
    report(metric, [fn() for _ in range(RUNS)])


measure("uncontended", uncontended)
measure("contended2", contended)

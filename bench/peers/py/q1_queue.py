"""Q1 for Python: queue.Queue(maxsize=1024), one producer thread, one
consumer thread (scaled: N = 200k)."""
import queue
import statistics
import sys
import threading
import time

N = 200_000
RUNS = 5


def once():
    q = queue.Queue(maxsize=1024)
    barrier = threading.Barrier(2)
    start = [0.0]
    total = [0]

    def producer():
        if barrier.wait() == 1:
            start[0] = time.perf_counter()
        for i in range(1, N + 1):
            q.put(i)

    def consumer():
        if barrier.wait() == 1:
            start[0] = time.perf_counter()
        s = 0
        for _ in range(N):
            s += q.get()
        total[0] = s

    c = threading.Thread(target=consumer)
    p = threading.Thread(target=producer)
    c.start()
    p.start()
    c.join()
    end = time.perf_counter()
    p.join()
    if total[0] != N * (N + 1) // 2:
        sys.exit(3)
    return N / (end - start[0])


once()
runs = [once() for _ in range(RUNS)]
print(f"Q1 py-queue.Queue items {statistics.median(runs):.4g} items/s",
      flush=True)
print(f"spread Q1 py-queue.Queue items min={min(runs):.4g} "
      f"max={max(runs):.4g} n={len(runs)} "
      f"runs={','.join(f'{r:.4g}' for r in runs)}", file=sys.stderr)

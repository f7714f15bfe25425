#!/usr/bin/env python3
"""W8 for Python: subprocess.run(["/bin/true"], check=True) 2000 times
(warm-up 200), and subprocess.run(["cat"], input=data, stdout=PIPE) of
256 MiB, output checked; same output format as the C programs."""
import subprocess
import sys
import time

SPAWNS, WARM, RUNS = 2000, 200, 3
CAT_BYTES = 256 << 20


def report(metric, runs, unit):
    med = sorted(runs)[len(runs) // 2]
    print(f"W8 py-subprocess.run {metric} {med:.4g} {unit}", flush=True)
    print(f"spread W8 py-subprocess.run {metric} min={min(runs):.4g} "
          f"max={max(runs):.4g} n={len(runs)} runs="
          + ",".join(f"{r:.4g}" for r in runs), file=sys.stderr)


def spawn_true(n):
    for _ in range(n):
        subprocess.run(["/bin/true"], check=True)


def cat_once(data):
    t0 = time.perf_counter()
    r = subprocess.run(["cat"], input=data, stdout=subprocess.PIPE,
                       check=True)
    t1 = time.perf_counter()
    if r.stdout != data:
        sys.exit("check failed: output differs")
    return CAT_BYTES / (t1 - t0) / 1e9


def main():
    spawn_true(WARM)
    runs = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        spawn_true(SPAWNS)
        runs.append(SPAWNS / (time.perf_counter() - t0))
    report("spawn_true", runs, "spawns/s")
    data = bytes(((i * 131 + (i >> 20)) & 0xff for i in range(4096))) * (
        CAT_BYTES // 4096)
    cat_once(data)
    report("pipe_cat_256MiB", [cat_once(data) for _ in range(RUNS)], "GB/s")


if __name__ == "__main__":
    main()

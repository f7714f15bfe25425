#!/usr/bin/env python3
"""C1: weave map against xargs -P 2 and GNU parallel -j2 (issue 19).

    c1_map.py PEER [PROGRAM]

Runs N /bin/true jobs 2 at a time, the inputs 1..N on standard input
(one per line, each appended to the command as its argument), once
untimed with N/10 jobs, then 3 timed runs; prints the median run as

    C1 PEER jobs VALUE jobs/s
    C1 PEER cpu_per_job VALUE us

cpu_per_job is the user+system CPU time of the whole process tree (the
runner and every job: each was waited for by its parent, so it counts in
this script's RUSAGE_CHILDREN) divided by N.  N = 10,000, scaled to 1,000
for GNU parallel (its Perl start-up and per-job work would pass the
runner's 30 s limit); a rate and a per-job cost compare across N.
PROGRAM is weave's binary for the peer weave (default build/weave) and
peer-c-c1's for c-vfork-j2, the floor (bench/peers/c/c1_spawn.c).
"""
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

PEER = sys.argv[1]
PROGRAM = sys.argv[2] if len(sys.argv) > 2 else "build/weave"
N = 1000 if PEER == "gnu-parallel-j2" else 10000
COMMANDS = {
    "weave": [PROGRAM, "map", "-j2", "/bin/true"],
    "c-vfork-j2": [PROGRAM, "2", "/bin/true"],
    "xargs-P2": ["xargs", "-P", "2", "-n", "1", "/bin/true"],
    "gnu-parallel-j2": ["parallel", "--will-cite", "-j2", "/bin/true"],
}


def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(n):
    with tempfile.TemporaryFile("w+") as f:
        f.write("".join(f"{i}\n" for i in range(1, n + 1)))
        f.seek(0)
        c0, t0 = cpu(), time.perf_counter()
        r = subprocess.run(COMMANDS[PEER], stdin=f, stdout=subprocess.DEVNULL)
        t1, c1 = time.perf_counter(), cpu()
    if r.returncode != 0:
        sys.exit(f"{PEER}: exit {r.returncode}")
    return n / (t1 - t0), (c1 - c0) / n * 1e6


def main():
    if PEER not in COMMANDS:
        sys.exit(f"unknown peer {PEER}")
    run(N // 10)
    runs = [run(N) for _ in range(3)]
    rates = [r for r, _ in runs]
    costs = [c for _, c in runs]
    print(f"C1 {PEER} jobs {statistics.median(rates):.1f} jobs/s")
    print(f"C1 {PEER} cpu_per_job {statistics.median(costs):.1f} us")
    print(f"spread C1 {PEER} jobs min={min(rates):.4g} max={max(rates):.4g} "
          f"n=3", file=sys.stderr)


if __name__ == "__main__":
    main()

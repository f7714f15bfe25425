"""W2 for Python.

    w2_spawn.py spawn [py-asyncio py-asyncio-uvloop py-gevent]
        N back-to-back creations of a trivial coroutine that bumps a shared
        counter, then a join of all; timed from the first creation until
        the join returns, ns/coroutine = elapsed / N; counter checked.
        asyncio (N = 100k) and uvloop (N = 100k):
        asyncio.create_task(trivial()) x N, then asyncio.gather(*tasks);
        gevent (N = 50k): gevent.spawn(trivial) x N, then gevent.joinall.
        The per-coroutine cost grows with N (more objects for the GC).

    w2_spawn.py mem [py-asyncio py-gevent]
        N = 100k coroutines alive at once, each blocked waiting on one
        shared Event (asyncio.Event().wait(), gevent.event.Event().wait()),
        reached after two sleep(0)s of the spawner (checked: all did);
        B/coroutine = (RSS once all are blocked - RSS just before the
        first creation, after gc.collect()) / N, RSS from /proc/self/statm.
        Then the event is set and all are joined (checked).  One
        measurement per process: the runner runs this 3 times and keeps
        the median (BENCH.md).

With no peer named, all of the case's peers.
"""
import asyncio
import gc
import os
import statistics
import sys
import time

RUNS = 5
MEM_N = 100_000


def report(peer, metric, runs, unit):
    print(f"W2 {peer} {metric} {statistics.median(runs):.4g} {unit}",
          flush=True)
    print(f"spread W2 {peer} {metric} min={min(runs):.4g} "
          f"max={max(runs):.4g} n={len(runs)} "
          f"runs={','.join(f'{r:.4g}' for r in runs)}", file=sys.stderr)


def fail(why):
    print(f"check failed: {why}", file=sys.stderr, flush=True)
    sys.exit(3)


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def uvloop_factory():
    import uvloop
    return uvloop.new_event_loop()


# ---------------------------------------------------------------- spawn

def asyncio_spawn(loop_factory):
    async def trivial(counter):
        counter[0] += 1

    async def once(n):
        counter = [0]
        create_task = asyncio.create_task
        t0 = time.perf_counter()
        tasks = [create_task(trivial(counter)) for _ in range(n)]
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
        if counter[0] != n:
            fail(f"counter {counter[0]}, expected {n}")
        return elapsed * 1e9 / n

    loop = loop_factory()  # one loop for every run, made before timing
    return lambda n: loop.run_until_complete(once(n))


def gevent_spawn():
    import gevent

    def trivial(counter):
        counter[0] += 1

    def once(n):
        counter = [0]
        spawn = gevent.spawn
        t0 = time.perf_counter()
        greenlets = [spawn(trivial, counter) for _ in range(n)]
        gevent.joinall(greenlets, raise_error=True)
        elapsed = time.perf_counter() - t0
        if counter[0] != n:
            fail(f"counter {counter[0]}, expected {n}")
        return elapsed * 1e9 / n

    return once


SPAWN = {
    "py-asyncio": (100_000, lambda: asyncio_spawn(asyncio.new_event_loop)),
    "py-asyncio-uvloop": (100_000, lambda: asyncio_spawn(uvloop_factory)),
    "py-gevent": (50_000, gevent_spawn),
}


def spawn(peer):
    n, make = SPAWN[peer]
    once = make()
    once(n)  # warm-up
    report(peer, "spawn", [once(n) for _ in range(RUNS)], "ns")


# ------------------------------------------------------------------ mem

def asyncio_mem():
    async def blocked(ev, reached, woken):
        reached[0] += 1
        await ev.wait()
        woken[0] += 1

    async def measure():
        ev = asyncio.Event()
        reached, woken = [0], [0]
        create_task = asyncio.create_task
        gc.collect()
        before = rss()
        tasks = [create_task(blocked(ev, reached, woken))
                 for _ in range(MEM_N)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        if reached[0] != MEM_N:
            fail(f"{reached[0]} of {MEM_N} tasks reached the wait")
        after = rss()
        ev.set()
        await asyncio.gather(*tasks)
        if woken[0] != MEM_N:
            fail(f"{woken[0]} of {MEM_N} tasks woken")
        return (after - before) / MEM_N

    return asyncio.new_event_loop().run_until_complete(measure())


def gevent_mem():
    import gevent
    import gevent.event

    def blocked(ev, reached, woken):
        reached[0] += 1
        ev.wait()
        woken[0] += 1

    ev = gevent.event.Event()
    reached, woken = [0], [0]
    spawn = gevent.spawn
    gc.collect()
    before = rss()
    greenlets = [spawn(blocked, ev, reached, woken) for _ in range(MEM_N)]
    gevent.sleep(0)
    gevent.sleep(0)
    if reached[0] != MEM_N:
        fail(f"{reached[0]} of {MEM_N} greenlets reached the wait")
    after = rss()
    ev.set()
    gevent.joinall(greenlets, raise_error=True)
    if woken[0] != MEM_N:
        fail(f"{woken[0]} of {MEM_N} greenlets woken")
    return (after - before) / MEM_N


MEM = {"py-asyncio": asyncio_mem, "py-gevent": gevent_mem}


def mem(peer):
    report(peer, "mem", [MEM[peer]()], "B")


def main():
    cases = {"spawn": (SPAWN, spawn), "mem": (MEM, mem)}
    if len(sys.argv) < 2 or sys.argv[1] not in cases:
        print("usage: w2_spawn.py spawn|mem [PEER ...]", file=sys.stderr)
        sys.exit(2)
    peers, run = cases[sys.argv[1]]
    chosen = sys.argv[2:] or list(peers)
    for peer in chosen:
        if peer not in peers:
            print(f"unknown peer {peer}", file=sys.stderr)
            sys.exit(2)
    for peer in chosen:
        run(peer)


if __name__ == "__main__":
    main()

"""W1 for Python: two coroutines on one thread hand control to each other,
S switches in all (S/2 by each side), ns/switch = elapsed / S.

    py-asyncio         two tasks (asyncio.gather), each `await
                       asyncio.sleep(0)` S/2 times; S = 200k
    py-asyncio-uvloop  the same on uvloop's event loop; S = 200k
    py-gevent          two greenlets, each gevent.sleep(0) S/2 times
                       (through the hub), then gevent.joinall; S = 200k
    py-greenlet-raw    greenlet.switch() ping-pong between the main
                       greenlet and one other, no hub; S = 1M

Each side counts its turns; the counts are checked.  The event loop (or
the greenlet) is made before timing.

    w1_switch.py [py-asyncio py-asyncio-uvloop py-gevent py-greenlet-raw]

runs the named peers (all if none); a peer whose module is missing fails
alone (the runner runs them one per program).
"""
import asyncio
import statistics
import sys
import time

RUNS = 5


def report(peer, runs):
    print(f"W1 {peer} switch {statistics.median(runs):.4g} ns", flush=True)
    print(f"spread W1 {peer} switch min={min(runs):.4g} max={max(runs):.4g} "
          f"n={len(runs)} runs={','.join(f'{r:.4g}' for r in runs)}",
          file=sys.stderr)


def check(counts, half):
    if counts != [half, half]:
        print(f"check failed: counts {counts}, expected {half} each",
              file=sys.stderr, flush=True)
        sys.exit(3)


def asyncio_peer(loop_factory):
    async def side(half, counts, me):
        sleep = asyncio.sleep
        for _ in range(half):
            counts[me] += 1
            await sleep(0)

    async def once(s):
        counts = [0, 0]
        t0 = time.perf_counter()
        await asyncio.gather(side(s // 2, counts, 0),
                             side(s // 2, counts, 1))
        elapsed = time.perf_counter() - t0
        check(counts, s // 2)
        return elapsed * 1e9 / s

    loop = loop_factory()  # one loop for every run, made before timing
    return lambda s: loop.run_until_complete(once(s))


def uvloop_factory():
    import uvloop
    return uvloop.new_event_loop()


def gevent_peer():
    import gevent

    def side(half, counts, me):
        sleep = gevent.sleep
        for _ in range(half):
            counts[me] += 1
            sleep(0)

    def once(s):
        counts = [0, 0]
        t0 = time.perf_counter()
        gevent.joinall([gevent.spawn(side, s // 2, counts, 0),
                        gevent.spawn(side, s // 2, counts, 1)],
                       raise_error=True)
        elapsed = time.perf_counter() - t0
        check(counts, s // 2)
        return elapsed * 1e9 / s

    return once


def greenlet_peer():
    from greenlet import greenlet, getcurrent

    def once(s):
        counts = [0, 0]
        main = getcurrent()

        def other():
            while True:
                counts[1] += 1
                main.switch()

        g = greenlet(other)
        g.switch()  # entered once, untimed
        counts[1] = 0
        switch = g.switch
        t0 = time.perf_counter()
        for _ in range(s // 2):
            counts[0] += 1
            switch()
        elapsed = time.perf_counter() - t0
        check(counts, s // 2)
        g.throw()  # GreenletExit: ends it
        return elapsed * 1e9 / s

    return once


# peer -> (S, a function returning once(S))
PEERS = {
    "py-asyncio": (200_000, lambda: asyncio_peer(asyncio.new_event_loop)),
    "py-asyncio-uvloop": (200_000, lambda: asyncio_peer(uvloop_factory)),
    "py-gevent": (200_000, gevent_peer),
    "py-greenlet-raw": (1_000_000, greenlet_peer),
}


def main():
    chosen = sys.argv[1:] or list(PEERS)
    for peer in chosen:
        if peer not in PEERS:
            print(f"unknown peer {peer}", file=sys.stderr)
            sys.exit(2)
    for peer in chosen:
        s, make = PEERS[peer]
        once = make()
        once(s)  # warm-up
        report(peer, [once(s) for _ in range(RUNS)])


if __name__ == "__main__":
    main()

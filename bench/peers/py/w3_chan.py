"""W3 for Python: ping-pong between two coroutines over two channels.  One
round trip: A puts i on ping, B gets it and puts it back on pong, A gets it
and checks it.  Timed: T = 100k round trips, from A's first put to its last
get (B is started and waiting before); ns/roundtrip = elapsed / T.

    py-asyncio-Queue1         two asyncio.Queue(maxsize=1), put / get
    py-asyncio-Queue1-uvloop  the same on uvloop's event loop
    py-gevent-Channel         two gevent.queue.Channel() (truly unbuffered)

    w3_chan.py [PEER ...]

runs the named peers (all if none).
"""
import asyncio
import statistics
import sys
import time

RUNS = 5
T = 100_000


def report(peer, runs):
    print(f"W3 {peer} roundtrip {statistics.median(runs):.4g} ns",
          flush=True)
    print(f"spread W3 {peer} roundtrip min={min(runs):.4g} "
          f"max={max(runs):.4g} n={len(runs)} "
          f"runs={','.join(f'{r:.4g}' for r in runs)}", file=sys.stderr)


def fail(why):
    print(f"check failed: {why}", file=sys.stderr, flush=True)
    sys.exit(3)


def uvloop_factory():
    import uvloop
    return uvloop.new_event_loop()


def asyncio_peer(loop_factory):
    async def echo(ping, pong, t):  # B
        for _ in range(t):
            await pong.put(await ping.get())
        return t

    async def once(t):
        ping, pong = asyncio.Queue(maxsize=1), asyncio.Queue(maxsize=1)
        b = asyncio.create_task(echo(ping, pong, t))
        await asyncio.sleep(0)  # B now waits on ping
        t0 = time.perf_counter()
        for i in range(t):
            await ping.put(i)
            v = await pong.get()
            if v != i:
                fail(f"sent {i}, got back {v}")
        elapsed = time.perf_counter() - t0
        if await b != t:
            fail("B did not echo every item")
        return elapsed * 1e9 / t

    loop = loop_factory()  # one loop for every run, made before timing
    return lambda t: loop.run_until_complete(once(t))


def gevent_peer():
    import gevent
    from gevent.queue import Channel

    def echo(ping, pong, t):  # B
        for _ in range(t):
            pong.put(ping.get())
        return t

    def once(t):
        ping, pong = Channel(), Channel()
        b = gevent.spawn(echo, ping, pong, t)
        gevent.sleep(0)  # B now waits on ping
        t0 = time.perf_counter()
        for i in range(t):  # A: the main greenlet
            ping.put(i)
            v = pong.get()
            if v != i:
                fail(f"sent {i}, got back {v}")
        elapsed = time.perf_counter() - t0
        if b.get() != t:
            fail("B did not echo every item")
        return elapsed * 1e9 / t

    return once


PEERS = {
    "py-asyncio-Queue1": lambda: asyncio_peer(asyncio.new_event_loop),
    "py-asyncio-Queue1-uvloop": lambda: asyncio_peer(uvloop_factory),
    "py-gevent-Channel": gevent_peer,
}


def main():
    chosen = sys.argv[1:] or list(PEERS)
    for peer in chosen:
        if peer not in PEERS:
            print(f"unknown peer {peer}", file=sys.stderr)
            sys.exit(2)
    for peer in chosen:
        once = PEERS[peer]()
        once(T)  # warm-up
        report(peer, [once(T) for _ in range(RUNS)])


if __name__ == "__main__":
    main()

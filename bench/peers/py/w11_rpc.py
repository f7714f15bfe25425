"""W11 for Python and Redis: sequential request/response over loopback TCP
(BENCH.md).  One client calls add(i, 1) N times, one call after the other,
each result checked; the server is another process.  calls/s = N /
elapsed, metric rpc_add.  One untimed warm-up run of N/10 calls (as
weave's), then RUNS timed runs, median.

    py-xmlrpc                   xmlrpc.server.SimpleXMLRPCServer serving
                                add in a forked process (logRequests off),
                                its request handler speaking HTTP/1.1 (a
                                subclass of SimpleXMLRPCRequestHandler with
                                protocol_version = "HTTP/1.1": the client's
                                one connection is kept alive for every
                                call), xmlrpc.client.ServerProxy,
                                proxy.add(i, 1).  N = 3k.
    py-xmlrpc-http1.0           extra row: the same with the default
                                handler (HTTP/1.0: the server closes the
                                connection after each reply, so every call
                                opens a new TCP connection).  N = 3k.
    py-BaseManager-proxy        BaseManager.register('Calc', Calc),
                                m.start() (the manager's server process),
                                calc = m.Calc(), calc.add(i, 1).  N = 10k.
    redis-benchmark-PING-c1-P1  a floor for a real server:
                                `redis-benchmark -t ping_mbulk -c 1 -P 1
                                -n 20000 --csv` (the PING_MBULK row of
                                `-t ping`, without running PING_INLINE)
                                against a redis-server this program starts
                                (free port, no persistence, a password);
                                PING/s reported as rpc_add in calls/s.  One
                                untimed invocation with -n 2000, then 3.

    w11_rpc.py PEER   (bench/run runs one per program)
"""
import os
import signal
import statistics
import sys
import time
from multiprocessing.managers import BaseManager

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_server import PASSWORD, RedisServer  # noqa: E402

RUNS = 3
PEERS = {  # peer -> N
    "py-xmlrpc": 3_000,
    "py-xmlrpc-http1.0": 3_000,
    "py-BaseManager-proxy": 10_000,
    "redis-benchmark-PING-c1-P1": 20_000,
}


class Failed(Exception):
    pass


def check(cond, why):
    if not cond:
        raise Failed(why)


def on_alarm(signum, frame):
    raise Failed("not done within 28 s")


def report(peer, runs):
    print(f"W11 {peer} rpc_add {statistics.median(runs):.4g} calls/s",
          flush=True)
    print(f"spread W11 {peer} rpc_add min={min(runs):.4g} "
          f"max={max(runs):.4g} n={len(runs)} "
          f"runs={','.join(f'{r:.4g}' for r in runs)}",
          file=sys.stderr, flush=True)


def add(a, b):
    return a + b


class Calc:
    def add(self, a, b):
        return a + b


def timed(n, call):
    t0 = time.perf_counter()
    for i in range(n):
        r = call(i, 1)
        if r != i + 1:
            raise Failed(f"add({i}, 1) = {r!r}")
    return n / (time.perf_counter() - t0)


def xmlrpc(n, peer):
    from xmlrpc.client import ServerProxy
    from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

    class KeepAlive(SimpleXMLRPCRequestHandler):
        protocol_version = "HTTP/1.1"

    handler = (SimpleXMLRPCRequestHandler if peer == "py-xmlrpc-http1.0"
               else KeepAlive)
    server = SimpleXMLRPCServer(("127.0.0.1", 0), requestHandler=handler,
                                logRequests=False)
    server.register_function(add, "add")
    port = server.server_address[1]
    pid = os.fork()
    if pid == 0:
        try:
            signal.alarm(60)  # an orphan dies by itself
            server.serve_forever()
        finally:
            os._exit(0)
    server.server_close()
    try:
        with ServerProxy(f"http://127.0.0.1:{port}/") as proxy:
            timed(n // 10, proxy.add)
            runs = [timed(n, proxy.add) for _ in range(RUNS)]
    finally:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    report(peer, runs)


def base_manager(n, peer):
    class CalcManager(BaseManager):
        pass
    CalcManager.register("Calc", Calc)
    m = CalcManager(address=("127.0.0.1", 0), authkey=PASSWORD.encode())
    m.start()
    try:
        calc = m.Calc()
        timed(n // 10, calc.add)
        runs = [timed(n, calc.add) for _ in range(RUNS)]
    finally:
        m.shutdown()
    report(peer, runs)


def redis_ping(n, peer):
    with RedisServer() as srv:
        srv.benchmark("ping_mbulk", n // 10)
        runs = []
        for _ in range(RUNS):
            got = srv.benchmark("ping_mbulk", n)
            check(got.get("PING_MBULK", 0) > 0, "no PING_MBULK row")
            runs.append(got["PING_MBULK"])
    report(peer, runs)


def main():
    chosen = sys.argv[1:] or list(PEERS)
    for peer in chosen:
        if peer not in PEERS:
            print(f"unknown peer {peer}", file=sys.stderr)
            sys.exit(2)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(28)
    try:
        for peer in chosen:
            {"py-xmlrpc": xmlrpc,
             "py-xmlrpc-http1.0": xmlrpc,
             "py-BaseManager-proxy": base_manager,
             "redis-benchmark-PING-c1-P1": redis_ping}[peer](PEERS[peer],
                                                           peer)
    except Failed as e:
        print(f"check failed: {e}", file=sys.stderr, flush=True)
        sys.exit(3)


if __name__ == "__main__":
    main()

"""W10 for Python and Redis: a task queue over loopback TCP with an authkey
(BENCH.md).  A broker holds a task queue and a result queue on a port of
127.0.0.1 behind an authkey/password; one worker process (started before
timing, connected, says "ready" on its stdout) loops: get a task n, put
n*n into the result queue, until it gets -1.  Timed in the master: N puts
of one task each, then N gets of one result each; the results' sum is
checked.  tasks/s = N / elapsed.  One untimed warm-up run of N/10 tasks
(as weave's), then RUNS timed runs, median.

    py-BaseManager-queues     the classic task_master / task_worker pattern:
                              a BaseManager subclass registering
                              get_task_queue / get_result_queue (callables
                              returning two queue.Queue objects),
                              manager.start() (the manager's server
                              process); the worker, a separate Python
                              process, registers the names, connect()s with
                              the authkey and loops task.get() /
                              result.put(n * n) through its proxies; the
                              master put()s and get()s through its proxies.
                              N = 20k.
    py-redis-lists            a redis-server this program starts (free
                              port, --save '' --appendonly no
                              --requirepass), redis-py with its default
                              connection pool, one command per call: the
                              master LPUSH tasks, the worker BRPOP tasks /
                              LPUSH results, the master BRPOP results.
                              N = 10k.
    redis-benchmark           extra rows redis-benchmark-LPUSH-c1 and
                              redis-benchmark-RPOP-c1: `redis-benchmark -t
                              lpush,rpop -c 1 -P 1 -n 20000 --csv` against
                              such a server (the RPOPs pop what the LPUSHes
                              pushed; the list is checked empty at the end),
                              one broker operation per round trip; requests
                              per second reported as metric `tasks` in
                              tasks/s so that they sit beside the others.
                              One untimed invocation with -n 2000, then 3.

    py-BaseManager+weave-worker  extra: py-BaseManager-queues with weave's
                              worker (weave-bench --w10-worker PORT batch,
                              whose batches fall back to one call per item
                              against CPython's server). N = 20k.

    w10_dist.py PEER                        (bench/run runs one per program)
    w10_dist.py py-BaseManager+weave-worker WEAVE_BENCH
    w10_dist.py --worker manager|redis PORT (the worker process)
"""
import os
import queue
import signal
import statistics
import subprocess
import sys
import time
from multiprocessing.managers import BaseManager

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_server import PASSWORD, RedisServer  # noqa: E402

AUTHKEY = PASSWORD.encode()
RUNS = 3
PEERS = {  # peer -> N
    "py-BaseManager-queues": 20_000,
    "py-redis-lists": 10_000,
    "redis-benchmark": 20_000,
}


class Failed(Exception):
    pass


def check(cond, why):
    if not cond:
        raise Failed(why)


def on_alarm(signum, frame):
    raise Failed("not done within 28 s")


def report(peer, runs):
    print(f"W10 {peer} tasks {statistics.median(runs):.4g} tasks/s",
          flush=True)
    print(f"spread W10 {peer} tasks min={min(runs):.4g} max={max(runs):.4g} "
          f"n={len(runs)} runs={','.join(f'{r:.4g}' for r in runs)}",
          file=sys.stderr, flush=True)


# ------------------------------------------------------------ the manager

task_queue = queue.Queue()
result_queue = queue.Queue()


def get_task_queue():
    return task_queue


def get_result_queue():
    return result_queue


class QueueManager(BaseManager):
    pass


def manager_worker(port):
    """task_worker.py: the names only, connect(), proxies."""
    class WorkerManager(BaseManager):
        pass
    WorkerManager.register("get_task_queue")
    WorkerManager.register("get_result_queue")
    m = WorkerManager(address=("127.0.0.1", port), authkey=AUTHKEY)
    m.connect()
    task, result = m.get_task_queue(), m.get_result_queue()
    get, put = task.get, result.put
    print("ready", flush=True)
    while True:
        n = get()
        if n < 0:
            return
        put(n * n)


def redis_worker(port):
    import redis
    r = redis.Redis(host="127.0.0.1", port=port, password=PASSWORD)
    r.ping()
    brpop, lpush = r.brpop, r.lpush
    print("ready", flush=True)
    while True:
        _, v = brpop("tasks")
        n = int(v)
        if n < 0:
            return
        lpush("results", n * n)


WEAVE_WORKER = None  # weave-bench, for py-BaseManager+weave-worker


def start_worker(kind, port):
    if kind == "manager" and WEAVE_WORKER:
        cmd = [WEAVE_WORKER, "--w10-worker", str(port), "batch"]
    else:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind,
               str(port)]
    w = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = w.stdout.readline().strip()
    check(line == "ready", f"worker not ready ({line!r})")
    return w


def stop_worker(w, put_stop):
    put_stop()
    try:
        code = w.wait(10)
    except subprocess.TimeoutExpired:
        w.kill()
        w.wait()
        raise Failed("worker did not stop")
    check(code == 0, f"worker exited with {code}")


def timed(n, put, get):
    """One run: N puts, then N gets; returns tasks/s."""
    t0 = time.perf_counter()
    for i in range(1, n + 1):
        put(i)
    s = 0
    for _ in range(n):
        s += get()
    t = time.perf_counter() - t0
    check(s == n * (n + 1) * (2 * n + 1) // 6, f"sum of results {s}")
    return n / t


def base_manager(n, peer="py-BaseManager-queues"):
    QueueManager.register("get_task_queue", callable=get_task_queue)
    QueueManager.register("get_result_queue", callable=get_result_queue)
    m = QueueManager(address=("127.0.0.1", 0), authkey=AUTHKEY)
    m.start()
    try:
        task, result = m.get_task_queue(), m.get_result_queue()
        w = start_worker("manager", m.address[1])
        try:
            put, get = task.put, result.get
            timed(n // 10, put, get)
            runs = [timed(n, put, get) for _ in range(RUNS)]
            stop_worker(w, lambda: put(-1))
        finally:
            if w.poll() is None:
                w.kill()
                w.wait()
    finally:
        m.shutdown()
    report(peer, runs)


def redis_lists(n):
    import redis
    with RedisServer() as srv:
        r = redis.Redis(host="127.0.0.1", port=srv.port, password=PASSWORD)
        r.delete("tasks", "results")
        w = start_worker("redis", srv.port)
        try:
            lpush, brpop = r.lpush, r.brpop

            def put(i):
                lpush("tasks", i)

            def get():
                got = brpop("results", timeout=20)
                check(got is not None, "no result within 20 s")
                return int(got[1])

            timed(n // 10, put, get)
            runs = [timed(n, put, get) for _ in range(RUNS)]
            stop_worker(w, lambda: put(-1))
        finally:
            if w.poll() is None:
                w.kill()
                w.wait()
        check(r.llen("tasks") == 0 and r.llen("results") == 0,
              "lists not empty at the end")
        r.close()
    report("py-redis-lists", runs)


def redis_benchmark(n):
    with RedisServer() as srv:
        srv.benchmark("lpush,rpop", n // 10)
        runs = {"LPUSH": [], "RPOP": []}
        for _ in range(RUNS):
            got = srv.benchmark("lpush,rpop", n)
            for test in runs:
                check(got.get(test, 0) > 0, f"no {test} row")
                runs[test].append(got[test])
        left = srv.call("LLEN", "mylist")
        check(left == b":0", f"mylist holds {left!r} at the end")
    for test, v in runs.items():
        report(f"redis-benchmark-{test}-c1", v)


def main():
    global WEAVE_WORKER
    if len(sys.argv) == 3 and sys.argv[1] == "py-BaseManager+weave-worker":
        # Python's manager and master, weave's worker (weave-bench's
        # --w10-worker, whose batches fall back to one call per item
        # against a CPython server).
        WEAVE_WORKER = sys.argv[2]
        signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(28)
        try:
            base_manager(PEERS["py-BaseManager-queues"], sys.argv[1])
        except Failed as e:
            print(f"check failed: {e}", file=sys.stderr, flush=True)
            sys.exit(3)
        return
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        signal.alarm(60)  # an orphan dies by itself
        {"manager": manager_worker, "redis": redis_worker}[sys.argv[2]](
            int(sys.argv[3]))
        return
    chosen = sys.argv[1:] or list(PEERS)
    for peer in chosen:
        if peer not in PEERS:
            print(f"unknown peer {peer}", file=sys.stderr)
            sys.exit(2)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(28)
    try:
        for peer in chosen:
            {"py-BaseManager-queues": base_manager,
             "py-redis-lists": redis_lists,
             "redis-benchmark": redis_benchmark}[peer](PEERS[peer])
    except Failed as e:
        print(f"check failed: {e}", file=sys.stderr, flush=True)
        sys.exit(3)


if __name__ == "__main__":
    main()

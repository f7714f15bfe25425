"""W6 for Python: one producer process sends M messages of 64 B, then K of
1 MiB, to one consumer process through multiprocessing.Queue() (put(bytes)
/ get(): pickled, written to a pipe by the producer's feeder thread) and
the default multiprocessing.Pipe() (duplex: a socketpair; send_bytes /
recv_bytes).  Scaled: Queue M = 200k, K = 500; Pipe M = 200k, K = 1000.

Every run, the consumer (this process) creates the channel and forks the
producer, which says it is ready on one os.pipe and waits for the go-signal
on another.  Timed in the consumer: t0 just before the go-signal, t1 after
the last message was received; each message's length is checked, and after
t1 the whole last message, then the producer's exit code.

    w6_ipc.py [py-mp.Queue py-mp.Pipe]

runs the named peers (all if none): bench/run runs them one per program.
"""
import multiprocessing
import os
import signal
import statistics
import sys
import time

SMALL = 64
BIG = 1 << 20
# peer -> (M, runs of the 64 B case, K, runs of the 1 MiB case)
PEERS = {
    "py-mp.Queue": (200_000, 5, 500, 3),
    "py-mp.Pipe": (200_000, 5, 1000, 5),
}
CTX = multiprocessing.get_context("fork")
PAYLOAD = {size: (bytes(range(256)) * (size // 256 + 1))[:size]
           for size in (SMALL, BIG)}
producer = [None]  # the running producer, for on_child_exit


def fail(why):
    print(f"check failed: {why}", file=sys.stderr, flush=True)
    os._exit(3)


def on_child_exit(signum, frame):
    """A producer that failed would leave the consumer waiting for ever."""
    p = producer[0]
    if p is not None and p.exitcode not in (None, 0):
        fail(f"producer exited with {p.exitcode}")


def produce(peer, chan, count, size, ready_w, go_r):
    payload = PAYLOAD[size]
    os.write(ready_w, b"r")
    if os.read(go_r, 1) != b"g":
        os._exit(5)
    if peer == "py-mp.Queue":
        put = chan.put
        for _ in range(count):
            put(payload)
    else:
        send = chan.send_bytes
        for _ in range(count):
            send(payload)
    # A Queue's feeder thread is joined when the process exits.


def once(peer, count, size):
    """One run; returns the elapsed seconds."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    if peer == "py-mp.Queue":
        q = CTX.Queue()
        mine, theirs, get = q, q, q.get
    else:
        mine, theirs = CTX.Pipe()
        get = mine.recv_bytes
    p = CTX.Process(target=produce,
                    args=(peer, theirs, count, size, ready_w, go_r))
    producer[0] = p
    p.start()
    os.close(ready_w)
    os.close(go_r)
    if peer == "py-mp.Pipe":
        theirs.close()  # so that a dead producer means EOFError here
    if os.read(ready_r, 1) != b"r":
        fail("producer not ready")

    t0 = time.perf_counter()
    os.write(go_w, b"g")
    try:
        for _ in range(count):
            m = get()
            if len(m) != size:
                fail(f"message of {len(m)} bytes")
    except EOFError:
        fail("producer stopped early")
    t1 = time.perf_counter()

    if m != PAYLOAD[size]:
        fail("last message's content")
    p.join()
    producer[0] = None
    if p.exitcode != 0:
        fail(f"producer exited with {p.exitcode}")
    mine.close()
    for fd in (ready_r, go_w):
        os.close(fd)
    return t1 - t0


def measure(peer, metric, count, size, runs):
    once(peer, count, size)
    if size == SMALL:
        v = [count / once(peer, count, size) for _ in range(runs)]
        unit = "msgs/s"
    else:
        v = [count * size / once(peer, count, size) / 1e9
             for _ in range(runs)]
        unit = "GB/s"
    print(f"W6 {peer} {metric} {statistics.median(v):.4g} {unit}",
          flush=True)
    print(f"spread W6 {peer} {metric} min={min(v):.4g} max={max(v):.4g} "
          f"n={len(v)} runs={','.join(f'{r:.4g}' for r in v)}",
          file=sys.stderr)


def main():
    chosen = sys.argv[1:] or list(PEERS)
    for peer in chosen:
        if peer not in PEERS:
            print(f"unknown peer {peer}", file=sys.stderr)
            sys.exit(2)
    signal.signal(signal.SIGCHLD, on_child_exit)
    for peer in chosen:
        m, runs_m, k, runs_k = PEERS[peer]
        measure(peer, "msgs_64B", m, SMALL, runs_m)
        measure(peer, "bw_1MiB", k, BIG, runs_k)


if __name__ == "__main__":
    main()

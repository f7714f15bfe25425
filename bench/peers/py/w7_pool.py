"""W7 for Python (BENCH.md): a process pool of 2 workers, created and
started before timing (one small map first), a fresh pool for each of 3
runs.  map_sq: map x*x over range(N), results in order, checked; items/s.
burn_eff: 200 tasks each burning 5 ms of process CPU time and returning
its item, the sum of the results checked; 0.5 s /
elapsed.  Usage: w7_pool.py PEER, PEER one of
  py-mp.Pool.map                      default chunksize, N = 1M
  py-mp.Pool.map-chunk10k             chunksize 10000, N = 1M
  py-ProcessPoolExecutor.map          default chunksize (1), N = 10k
  py-ProcessPoolExecutor.map-chunk10k chunksize 10000, N = 1M (extra)"""
import concurrent.futures
import multiprocessing
import statistics
import sys
import time

RUNS = 3
BURNS = 200


def sq(x):
    return x * x


def burn(x):
    end = time.process_time() + 0.005
    while time.process_time() < end:
        pass
    return x


def report(peer, metric, runs, unit):
    print(f"W7 {peer} {metric} {statistics.median(runs):.4g} {unit}",
          flush=True)
    print(f"spread W7 {peer} {metric} min={min(runs):.4g} "
          f"max={max(runs):.4g} n={len(runs)} "
          f"runs={','.join(f'{r:.4g}' for r in runs)}", file=sys.stderr)


def timed_map(pool_map, n, chunksize):
    t0 = time.perf_counter()
    out = list(pool_map(sq, range(n), chunksize))
    elapsed = time.perf_counter() - t0
    if len(out) != n or any(out[i] != i * i for i in range(0, n, 997)) or \
            out[-1] != (n - 1) * (n - 1):
        sys.exit(3)
    return n / elapsed


def timed_burn(pool_map):
    t0 = time.perf_counter()
    total = sum(pool_map(burn, range(BURNS), None))
    elapsed = time.perf_counter() - t0
    if total != BURNS * (BURNS - 1) // 2:
        sys.exit(3)
    return (BURNS * 0.005 / 2) / elapsed


def mp_pool(chunk, n, with_burn):
    sqs, effs = [], []
    for _ in range(RUNS):
        with multiprocessing.Pool(2) as pool:
            pool.map(sq, range(100))

            def pmap(f, it, cs):
                return pool.map(f, it, cs) if cs else pool.map(f, it)
            sqs.append(timed_map(pmap, n, chunk))
        if with_burn:
            with multiprocessing.Pool(2) as pool:
                pool.map(sq, range(100))
                effs.append(timed_burn(
                    lambda f, it, cs: pool.map(f, it)))
    return sqs, effs


def ppe(chunk, n, with_burn):
    sqs, effs = [], []
    for _ in range(RUNS):
        with concurrent.futures.ProcessPoolExecutor(2) as ex:
            list(ex.map(sq, range(100)))

            def pmap(f, it, cs):
                return ex.map(f, it, chunksize=cs or 1)
            sqs.append(timed_map(pmap, n, chunk))
        if with_burn:
            with concurrent.futures.ProcessPoolExecutor(2) as ex:
                list(ex.map(sq, range(100)))
                effs.append(timed_burn(lambda f, it, cs: ex.map(f, it)))
    return sqs, effs


def main():
    peer = sys.argv[1]
    if peer == "py-mp.Pool.map":
        sqs, effs = mp_pool(None, 1_000_000, True)
    elif peer == "py-mp.Pool.map-chunk10k":
        sqs, effs = mp_pool(10_000, 1_000_000, False)
    elif peer == "py-ProcessPoolExecutor.map":
        sqs, effs = ppe(None, 10_000, True)
    elif peer == "py-ProcessPoolExecutor.map-chunk10k":
        sqs, effs = ppe(10_000, 1_000_000, False)
    else:
        sys.exit(f"unknown peer {peer}")
    report(peer, "map_sq", sqs, "items/s")
    if effs:
        report(peer, "burn_eff", effs, "ratio")


if __name__ == "__main__":
    main()

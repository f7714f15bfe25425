#!/usr/bin/env python3
"""Runs the workloads of BENCH.md for weave and its peers, side by side.

Every program prints `WORKLOAD PEER METRIC VALUE UNIT` lines (the median of
its own timed runs) and `spread ...` lines on stderr.  This runner runs all
programs of the chosen workloads one after another, `--passes` times in
interleaved order (so that drift hits everyone alike), keeps the median of
the passes, prints weave's ratio to every peer (> 1 means weave is better)
and writes bench/RESULTS.md.
"""
import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "bench", ".work")
TIMEOUT = 30
# Workloads whose programs need longer (C1 runs 40,000 processes each).
TIMEOUTS = {"C1": 300}

# Units where a smaller value is better; every other unit is a rate.
LOWER_IS_BETTER = {"ns", "us", "B", "us/rt", "B/conn"}

# workload -> (title, programs, goals, notes).  A program is (label, how to
# build it or None, command[, processes]); {build}, {work} and {py} are
# substituted.  With processes > 1 the program is run that many times per
# pass and each of its metrics is the median over the processes: for a
# value measured once per process (W2's memory per coroutine, BENCH.md).
# A goal is (metric, peer, minimum ratio weave/peer, text from BENCH.md[,
# the peer's metric when it is another[, weave's row when it is not
# "weave"]]); the peer "best" is the best peer
# measured for that metric in the same run, and the peer None makes the
# minimum a bound on weave's own value (a maximum for units in
# LOWER_IS_BETTER).
WORKLOADS = {
    "W1": (
        "coroutine switch: two coroutines on one thread hand control to "
        "each other; ns/switch",
        [
            ("weave", None, ["{build}/bench/weave-bench", "W1"]),
            ("c-asm", None, ["{build}/bench/peers/peer-c-w1", "c-asm"]),
            ("c-ucontext", None,
             ["{build}/bench/peers/peer-c-w1", "c-ucontext"]),
            ("go", ("go", "bench/peers/go/w1_switch.go", "w1_switch"),
             ["{work}/go/w1_switch"]),
            ("py-asyncio", None,
             ["{py}", "bench/peers/py/w1_switch.py", "py-asyncio"]),
            ("py-asyncio-uvloop", None,
             ["{py}", "bench/peers/py/w1_switch.py", "py-asyncio-uvloop"]),
            ("py-gevent", None,
             ["{py}", "bench/peers/py/w1_switch.py", "py-gevent"]),
            ("py-greenlet-raw", None,
             ["{py}", "bench/peers/py/w1_switch.py", "py-greenlet-raw"]),
        ],
        [
            ("switch", None, 15, "<= 15 ns through the scheduler"),
            ("switch", "c-asm", 1 / 1.5, "<= 1.5x the asm swap"),
        ],
        "weave: two coroutines (wv_coro_spawn) on the main thread, each "
        "calling wv_coro_yield S/2 times, S = 10M, run by wv_coro_run; "
        "each checks after every yield that the other ran in between. "
        "c-asm: the thread's context and one coroutine swapping with a "
        "hand-written x86_64 switch (push rbp, rbx, r12-r15; save rsp; "
        "load the other's; pop; ret), no FPU control word and no signal "
        "mask: the floor; S = 10M. c-ucontext: the same ping-pong with "
        "glibc swapcontext (FP environment and an rt_sigprocmask system "
        "call every swap), S = 2M. Go: GOMAXPROCS=1, two goroutines each "
        "calling runtime.Gosched() S/2 times, S = 10M (in some runs about "
        "1 call in 31 returns without the other having run; every call "
        "counts). Python, one interpreter: two asyncio tasks (gather) "
        "each awaiting asyncio.sleep(0), on asyncio's loop and on "
        "uvloop's, and two greenlets each calling gevent.sleep(0) "
        "(through the hub), S = 200k; raw greenlet.switch() ping-pong "
        "without a hub, S = 1M. What differs: weave's yield goes through "
        "its scheduler (the run queue) and its switch saves the FP control "
        "words; c-asm has neither (no scheduler, no FP state: the floor); "
        "swapcontext adds the FP environment and a system call for the "
        "signal mask; Go's Gosched goes through the Go scheduler's run "
        "queue (with preemption and GC bookkeeping weave lacks); Python's "
        "add an interpreter and an event loop per switch.",
    ),
    "W2": (
        "coroutine spawn: N created back to back, each bumping a counter, "
        "then all joined (ns/coroutine); memory per coroutine blocked on "
        "one shared object (B/coroutine)",
        [
            ("weave", None, ["{build}/bench/weave-bench", "W2"]),
            ("go", ("go", "bench/peers/go/w2_spawn.go", "w2_spawn"),
             ["{work}/go/w2_spawn", "spawn"]),
            ("go-mem", ("go", "bench/peers/go/w2_spawn.go", "w2_spawn"),
             ["{work}/go/w2_spawn", "mem"], 3),
            ("py-asyncio", None,
             ["{py}", "bench/peers/py/w2_spawn.py", "spawn", "py-asyncio"]),
            ("py-asyncio-uvloop", None,
             ["{py}", "bench/peers/py/w2_spawn.py", "spawn",
              "py-asyncio-uvloop"]),
            ("py-gevent", None,
             ["{py}", "bench/peers/py/w2_spawn.py", "spawn", "py-gevent"]),
            ("py-asyncio-mem", None,
             ["{py}", "bench/peers/py/w2_spawn.py", "mem", "py-asyncio"], 3),
            ("py-gevent-mem", None,
             ["{py}", "bench/peers/py/w2_spawn.py", "mem", "py-gevent"], 3),
        ],
        [
            ("spawn", None, 60, "<= 60 ns"),
            ("spawn", "go-gmp2", 4.0, ">= 4x faster than Go, 2 threads"),
            ("mem", None, 4500, "<= 4500 B with guard pages"),
        ],
        "spawn, timed from the first creation until the join returns, "
        "counter checked. weave: N = 1M wv_group_spawn into one group, "
        "then wv_group_join; the extra row spawn_go is wv_go (detached) + "
        "wv_coro_run. Go: N = 1M `go func(){atomic.Add; wg.Done()}()` + "
        "WaitGroup, GOMAXPROCS=1 and 2. Python: asyncio.create_task x N "
        "then gather, on asyncio's loop and on uvloop's, N = 100k; "
        "gevent.spawn x N then joinall, N = 50k. "
        "mem: N = 100k coroutines blocked at once, B/coroutine = (RSS once "
        "all are blocked - RSS just before the first creation) / N, from "
        "/proc/self/statm; then all are woken and joined (checked); one "
        "measurement per fresh process, median of 3 processes. weave: "
        "each coroutine (default options: a 256 KiB stack reserved, a "
        "guard page below, pages touched lazily) waits on one wv_event_t "
        "after all have reached it; weave-bench starts itself afresh "
        "(/proc/self/exe) for each of the 3 measurements. Go: GOMAXPROCS=1, "
        "a receive from one unbuffered chan struct{} (closed at the end), "
        "after runtime.GC(); the runner runs it 3 times. Python: "
        "asyncio.Event().wait() and gevent.event.Event().wait(), reached "
        "after two sleep(0)s, after gc.collect(); the runner runs each 3 "
        "times. What differs: weave's body bumps a plain long (coroutines "
        "of one thread never run at once) and the group's join counts the "
        "ends (the group's member list under a lock biased to the one "
        "thread using it: plain stores, docs/chan.md); Go's bumps an atomic and calls wg.Done (goroutines may run "
        "on the other thread). weave gives each coroutine a fixed stack "
        "(reserved, a guard page, pooled for reuse); Go's stacks start at "
        "a few KiB and grow by copying; asyncio's tasks are stackless "
        "objects (hence its smaller memory); gevent's greenlets copy their "
        "stack slices to the heap.",
    ),
    "W3": (
        "channel ping-pong: two coroutines, two unbuffered channels; "
        "ns/roundtrip",
        [
            ("weave", None, ["{build}/bench/weave-bench", "W3"]),
            ("c-asm-chan", None, ["{build}/bench/peers/peer-c-w3"]),
            ("go", ("go", "bench/peers/go/w3_chan.go", "w3_chan"),
             ["{work}/go/w3_chan"]),
            ("py-asyncio-Queue1", None,
             ["{py}", "bench/peers/py/w3_chan.py", "py-asyncio-Queue1"]),
            ("py-asyncio-Queue1-uvloop", None,
             ["{py}", "bench/peers/py/w3_chan.py",
              "py-asyncio-Queue1-uvloop"]),
            ("py-gevent-Channel", None,
             ["{py}", "bench/peers/py/w3_chan.py", "py-gevent-Channel"]),
        ],
        [
            ("roundtrip", None, 50, "<= 50 ns"),
            ("roundtrip", "go-chan-gmp1", 6.0, ">= 6x faster than Go, 1 "
             "thread"),
        ],
        "One round trip: A sends i on ping, B receives it and sends it "
        "back on pong, A receives and checks it; timed from A's first "
        "send to its last receive, B started and waiting before. weave: "
        "two coroutines of the main thread, two unbuffered channels "
        "(wv_chan_new(&ch, sizeof(long), 0)), wv_chan_send / "
        "wv_chan_recv, T = 1M. Go: unbuffered chan int, GOMAXPROCS=1 and "
        "2, T = 1M. Python: two asyncio.Queue(maxsize=1), put / get, on "
        "asyncio's loop and on uvloop's; two gevent.queue.Channel() "
        "(truly unbuffered); T = 100k. c-asm-chan is the floor, not a "
        "competitor: weave's switch (FP control words included) and a "
        "one-slot channel with no lock, select, close, deadline or "
        "cancellation, its send and recv out of line as a library's are "
        "(bench/peers/c/w3_chan.c). What differs: weave's channel takes "
        "no atomic while one thread uses it (a biased lock; docs/chan.md); "
        "Go's channel takes its runtime lock on every operation, also with "
        "GOMAXPROCS=1, and supports the same select, close and "
        "cross-thread use weave's does; Python's queues run in the "
        "interpreter and wake the other side through the event loop.",
    ),
    "W4": (
        "thread pool: 2 workers, N empty tasks submitted then all waited "
        "for; tasks/s",
        [
            ("weave", None, ["{build}/bench/weave-bench", "W4"]),
            ("glib", None, ["{build}/bench/peers/peer-c-w4-glib"]),
            ("libuv", None, ["{build}/bench/peers/peer-c-w4-libuv"]),
            ("go", ("go", "bench/peers/go/w4_pool.go", "w4_pool"),
             ["{work}/go/w4_pool"]),
            ("py", None, ["{py}", "bench/peers/py/w4_pool.py"]),
        ],
        [
            ("throughput", "best", 1.5, ">= 1.5x the best peer in the same "
             "run"),
        ],
        "Every task, on every side, does one thing: a relaxed atomic add to "
        "one counter shared by the two workers (Go: atomic.AddInt64 and "
        "wg.Done; Python: next() on one itertools.count); the total is "
        "checked. "
        "weave: a pool of 2 worker threads made before timing. "
        "`throughput`: N x wv_pool_apply_async with no future (fire and "
        "forget, like GLib's push and Go's channel send), then close + join "
        "(like g_thread_pool_free(wait)); the pool is made afresh per run. "
        "`throughput_futures`: each task with a future, all waited for: "
        "its peers are those that hand every task's completion back to the "
        "submitter, libuv (an after_work callback per task, run on the "
        "loop's thread) and Python (submit + wait). `map_items` is weave's "
        "own extra row, with no peer and no goal in BENCH.md: one "
        "wv_pool_map over 1M ints (chunked: one queued task per chunk). "
        "Submissions go to the submitting thread's own inbox with no "
        "locked instruction; the matching barrier is paid by workers going "
        "to sleep (membarrier). See docs/pool.md. "
        "GLib: a fresh GThreadPool of 2 threads per run, N pushes then "
        "g_thread_pool_free(pool, FALSE, TRUE); shared (its threads come "
        "from GLib's global set, started by the pushes) and exclusive (2 "
        "threads started by g_thread_pool_new); GLib allocates a queue node "
        "per push, weave does not. libuv: UV_THREADPOOL_SIZE=2, N "
        "preallocated uv_work_t queued from the loop's thread (a 3rd "
        "thread, which then runs every after_work callback), then uv_run "
        "until all ran; weave's futures are waited for by the submitter "
        "itself, and weave mallocs one 80-byte future per task where "
        "libuv's uv_work_t array is the caller's, made before timing. "
        "When a submitter's inbox (256 tasks) is full, weave's submitter "
        "yields its CPU once before spilling into the shared FIFO "
        "(docs/pool.md); Go's sender blocks on its full channel. Go (GOMAXPROCS=2): go-2worker-chan-gmp2, BENCH.md's form, "
        "2 worker goroutines reading a chan func() of capacity 1024, one "
        "prebuilt func value sent N times after one wg.Add(N); "
        "go-2worker-chan-closure-gmp2 (extra) sends a new func literal "
        "(one allocation) after a wg.Add(1) per task; "
        "go-goroutine-per-task-gmp2, a goroutine per task (the Go idiom, "
        "no fixed pool). Go's tasks also call wg.Done (a second atomic "
        "per task) where weave's join counts for it. Python: "
        "ThreadPoolExecutor(2), submit then wait(), scaled to 100k tasks.",
    ),
    "W5": (
        "lock: uncontended lock+unlock, and 2 threads incrementing a "
        "shared counter under the lock",
        [
            ("weave", None, ["{build}/bench/weave-bench", "W5"]),
            ("c", None, ["{build}/bench/peers/peer-c-w5"]),
            ("go", ("go", "bench/peers/go/w5_lock.go", "w5_lock"),
             ["{work}/go/w5_lock"]),
            ("py", None, ["{py}", "bench/peers/py/w5_lock.py"]),
        ],
        [
            ("uncontended", "go-mutex-gmp2", 1.0, "at or below Go"),
            ("contended2", "go-mutex-gmp2", 1.0, "at or below Go"),
        ],
        "weave's Lock: inline exchange to acquire, inline CAS to release "
        "(two locked instructions, the floor for a lock that can sleep; "
        "c-atomic-fetch_add is one). Contended, a waiter looks at the lock "
        "4 times, 50 `pause`s apart, then parks, so the holder runs long "
        "streaks at uncontended speed; a waiter older than 1 ms is handed "
        "the lock, so the two threads alternate every millisecond or so. "
        "Tight spinning measured 11-20 ns here and no spinning 35-50 ns "
        "(see src/sync/lock.c). What differs: Go's sync.Mutex also takes "
        "two locked instructions uncontended (a CAS to lock, an add to "
        "unlock), spins a little then parks the goroutine, and hands the "
        "lock over after 1 ms of waiting (starvation mode), as weave's "
        "does; the default pthread mutex spins not at all before its "
        "futex wait; c-atomic-fetch_add is no lock (one instruction, "
        "nothing can wait on it); Python's Lock runs in the interpreter "
        "under the GIL.",
    ),
    "W6": (
        "IPC queue: one producer process -> one consumer process, M "
        "messages of 64 B (msgs/s) and K of 1 MiB (GB/s)",
        [
            ("weave", None, ["{build}/bench/weave-bench", "W6"]),
            ("c-pipe", None, ["{build}/bench/peers/peer-c-w6", "c-pipe"]),
            ("c-pipe-8KiB-writes", None,
             ["{build}/bench/peers/peer-c-w6", "c-pipe-8KiB-writes"]),
            ("c-socketpair", None,
             ["{build}/bench/peers/peer-c-w6", "c-socketpair"]),
            ("c-shm-spsc-memcpy", None,
             ["{build}/bench/peers/peer-c-w6", "c-shm-spsc-memcpy"]),
            ("py-mp.Queue", None,
             ["{py}", "bench/peers/py/w6_ipc.py", "py-mp.Queue"]),
            ("py-mp.Pipe", None,
             ["{py}", "bench/peers/py/w6_ipc.py", "py-mp.Pipe"]),
        ],
        [
            ("msgs_64B", "c-shm-spsc-memcpy", 0.5, ">= 0.5x the SPSC ring"),
            ("bw_1MiB", "c-shm-spsc-memcpy", 0.5, ">= 0.5x shared-memory "
             "memcpy"),
        ],
        "weave: its cross-process Queue (wv_mpqueue_t, defaults: 1024 "
        "cells of 128 B, an 8 MiB heap), wv_mpqueue_put / wv_mpqueue_get of "
        "each message, the go-signal a process-shared Event; 64 B messages "
        "live in their cell, 1 MiB ones in the heap (memcpy in, memcpy "
        "out, like the SPSC ring). Every put and get is crash-safe (a "
        "Vyukov-style ring whose cells name their claimer; docs/proc.md). "
        "The rows weave-Pipe (duplex, a socketpair) and weave-Pipe-oneway "
        "(a pipe) measure weave's Pipe (framed messages, 16-byte header) "
        "for comparison with the raw peers; the one-way one pays two "
        "system calls per message to keep SIGPIPE from killing "
        "(docs/proc.md). "
        "Every run, the consumer (parent) creates the channel and forks "
        "the producer, which waits for a go-signal; timed from just before "
        "the go-signal until the last message was copied out, each "
        "message's length (and in C its sequence byte) checked. M = 1M and "
        "K = 2000 in C. c-pipe: pipe(2) with its default 64 KiB buffer, "
        "one writev of a 4-byte length and the payload per message, the "
        "consumer reading through a 256 KiB buffer and 1 MiB payloads "
        "straight into the destination. c-pipe-8KiB-writes: the same pipe "
        "with each 1 MiB payload written in 128 write()s of 8 KiB. "
        "c-socketpair: the same framing and reader over "
        "socketpair(AF_UNIX, SOCK_STREAM) with its default buffers. "
        "c-shm-spsc-memcpy: a ring in MAP_SHARED memory (4096 slots of "
        "64 B or 8 of 1 MiB, the lengths beside them) with acquire/release "
        "head and tail indices, waiting by polling every 16 `pause`s then "
        "sched_yield, one memcpy in and one out per message: the lower "
        "bound. py-mp.Queue: multiprocessing.Queue(), put(bytes) / get(), "
        "pickled and written to a pipe by the producer's feeder thread, "
        "scaled to M = 200k and K = 500. py-mp.Pipe: the default (duplex: "
        "a socketpair) multiprocessing.Pipe(), send_bytes / recv_bytes, "
        "scaled to M = 200k and K = 1000. What differs: weave's Queue is "
        "multi-producer and crash-safe, the SPSC ring is neither (one "
        "producer, no recovery) but copies as little (memcpy in, memcpy "
        "out, a system call (sched_yield) only when it must wait); pipes and socketpairs copy "
        "through the kernel, a system call or more per message each side, "
        "and wake the other side in the kernel; Python's add pickling "
        "(Queue) or framing in the interpreter.",
    ),
    "W7": (
        "process pool of 2 workers: map x*x over N items (items/s), and "
        "200 tasks burning 5 ms of CPU each (efficiency)",
        [
            ("weave", None, ["{build}/bench/weave-bench", "W7"]),
            ("py-mp.Pool.map", None,
             ["{py}", "bench/peers/py/w7_pool.py", "py-mp.Pool.map"]),
            ("py-mp.Pool.map-chunk10k", None,
             ["{py}", "bench/peers/py/w7_pool.py",
              "py-mp.Pool.map-chunk10k"]),
            ("py-ProcessPoolExecutor.map", None,
             ["{py}", "bench/peers/py/w7_pool.py",
              "py-ProcessPoolExecutor.map"]),
            ("py-ProcessPoolExecutor.map-chunk10k", None,
             ["{py}", "bench/peers/py/w7_pool.py",
              "py-ProcessPoolExecutor.map-chunk10k"]),
        ],
        [
            ("map_sq", "py-mp.Pool.map", 10.0, ">= 10x Python Pool.map"),
            ("burn_eff", None, 0.98, ">= 0.98"),
        ],
        "weave: a pool of processes (wv_pool_t, WV_POOL_PROCESSES): each "
        "worker thread drives its own child through a shared-memory "
        "channel, a map chunk's records crossing in one memcpy each way "
        "(docs/pool.md). map_sq: wv_pool_map of x*x over N = 1M longs, as "
        "Python's Pool.map (automatic chunks: 1 MiB of records, 64k items, "
        "each worker's window made and mapped at the pool's creation), "
        "results checked; the first big map of a fresh pool; the result "
        "array is malloc'd inside the timed region (as Python builds its "
        "result list there). The program's fork server (wv_forkserver_start) "
        "is started first thing, as docs/pool.md advises, so the pools' "
        "children come from a copy of the program taken before the arrays "
        "existed. Extra rows: weave-warm-out writes every run's results into "
        "one array (its pages already faulted in after the first run); "
        "weave-cow runs without the program's fork server, so each pool "
        "forks its own from the program with the arrays already written: "
        "every first write of a result page is a copy-on-write fault "
        "(33-70 us each on this VM, measured) - the price of forking a "
        "big program late. burn_eff: "
        "wv_pool_map over 200 items with the automatic chunk size (25, as "
        "Python's), each burning 5 ms of CLOCK_PROCESS_CPUTIME_ID and "
        "returning its item; the 200 results are collected and their sum "
        "checked, as Python's are; weave-chunk1 is the same with one task "
        "per item. Python: multiprocessing.Pool(2).map(sq, range(N)) with "
        "the default chunksize (N / 8) or 10000, N = 1M; "
        "ProcessPoolExecutor(2).map with chunksize 1 (N = 10k) or 10000 "
        "(N = 1M); burn returns its item, the results' sum checked. A fresh "
        "pool per run, started before timing by a map of 100 items. What "
        "differs: weave's items are fixed-size C records copied through "
        "shared memory, its input an array made before timing; Python "
        "pickles every chunk of ints (made from range(N) inside the timed "
        "region) through a pipe and builds a list of int objects.",
    ),
    "W8": (
        "subprocess: spawn /bin/true 2000 times, waiting for each "
        "(spawns/s); 256 MiB through cat, fed and read at once (GB/s)",
        [
            ("weave", None, ["{build}/bench/weave-bench", "W8"]),
            ("c-posix_spawn", None,
             ["{build}/bench/peers/peer-c-w8", "c-posix_spawn"]),
            ("c-fork+exec", None,
             ["{build}/bench/peers/peer-c-w8", "c-fork+exec"]),
            ("libuv", None, ["{build}/bench/peers/peer-c-w8-libuv"]),
            ("glib", None, ["{build}/bench/peers/peer-c-w8-glib"]),
            ("py", None, ["{py}", "bench/peers/py/w8_subproc.py"]),
        ],
        [
            ("spawn_true", "c-posix_spawn", 1.0, ">= 1.0x posix_spawn"),
            ("pipe_cat_256MiB", "libuv-uv_spawn-coldbuf", 1.5,
             ">= 1.5x libuv-coldbuf (same work: output allocated in the "
             "timed region)"),
        ],
        "weave: wv_popen_new + wv_popen_wait (stdio inherited) for "
        "spawn_true; wv_popen_new with stdin and stdout pipes + "
        "wv_popen_communicate of 256 MiB (which also waits) for "
        "pipe_cat, output compared. weave starts children with "
        "clone3(CLONE_VM|CLONE_VFORK|CLONE_CLEAR_SIGHAND|CLONE_PIDFD) "
        "(vfork-style: no page-table copy, like posix_spawn's "
        "clone(CLONE_VM|CLONE_VFORK); the kernel resets the child's "
        "caught signals, where glibc's posix_spawn makes ~122 sigaction "
        "calls per start and weave's vfork fallback 64, and hands over the "
        "pidfd), holds them by that pidfd, closes other descriptors "
        "with close_range; communicate allocates its output inside the "
        "timed region (as every communicate must), enlarges the pipes to "
        "1 MiB, writes and reads up to 1 MiB at a time and faults in its "
        "output buffer ahead of each read, outside the pipe's lock, in 2 "
        "MiB huge pages from a 32 MiB buffer on unless the memory turns out "
        "cold (docs/subprocess.md). pipe_cat_256MiB_lent (weave's own "
        "extra row, no BENCH.md goal): the same with opts.borrow_input (the "
        "input vmspliced into the pipe, the caller keeping it until "
        "communicate returns, as libuv's uv_write keeps the caller's buffer "
        "until its callback), the two alternating in one process. "
        "Two rows per C peer for pipe_cat: the plain name (c-posix_spawn, "
        "c-fork+exec, libuv-uv_spawn) reads into an output buffer allocated "
        "and pre-faulted before timing, the same every run (BENCH.md's "
        "peer at its best: weave cannot do that, it allocates its result); "
        "-coldbuf mallocs the output buffer inside the timed region each "
        "run (fresh pages faulted in by the reads): the same work as "
        "weave's, and the row BENCH.md's goal names. GLib's "
        "g_subprocess_communicate and Python's subprocess.run allocate "
        "their output themselves inside the timed region (a growing "
        "buffer, a bytes join), so their one row is of the coldbuf kind. "
        "c-posix_spawn / c-fork+exec: glibc posix_spawnp / fork+execvp + "
        "waitpid, and one poll loop with 64 KiB non-blocking writes and "
        "reads (weave: up to 1 MiB, with 1 MiB pipes). libuv: uv_spawn, "
        "uv_run until the exit callback; one uv_write of the input + "
        "uv_shutdown, uv_read_start into the output buffer (libuv and "
        "weave's default both write(2) the input into the pipe; weave's "
        "_lent row vmsplices it instead, which no peer does). "
        "GLib: g_spawn_sync for spawn_true, GSubprocess + "
        "g_subprocess_communicate for pipe_cat. Python: subprocess.run "
        "(check=True; input=, stdout=PIPE).",
    ),
    "W9": (
        "TCP echo server on 127.0.0.1: 64 connections each ping-pong a "
        "64-byte message (rt/s), and the server's CPU time per round trip "
        "(us/rt)",
        [
            ("weave", None, ["{build}/bench/peers/peer-c-w9-load", "echo",
                             "weave", "--", "env", "WEAVE_LOOP=epoll",
                             "{build}/bench/weave-bench", "--echo-server",
                             "@PORT@"]),
            ("weave-io_uring", None,
             ["{build}/bench/peers/peer-c-w9-load", "echo", "weave-io_uring",
              "--", "env", "WEAVE_LOOP=io_uring", "{build}/bench/weave-bench",
              "--echo-server", "@PORT@"]),
            ("weave-io_uring-batch", None,
             ["{build}/bench/peers/peer-c-w9-load", "echo",
              "weave-io_uring-batch", "--", "env", "WEAVE_LOOP=io_uring",
              "WEAVE_LOOP_BATCH=32,200", "{build}/bench/weave-bench",
              "--echo-server", "@PORT@"]),
            ("c-epoll", None, ["{build}/bench/peers/peer-c-w9-load", "echo",
                               "c-epoll", "--",
                               "{build}/bench/peers/peer-c-w9-echo-epoll",
                               "@PORT@"]),
            ("c-io_uring", None,
             ["{build}/bench/peers/peer-c-w9-load", "echo", "c-io_uring",
              "--", "{build}/bench/peers/peer-c-w9-echo-uring", "@PORT@"]),
            ("c-io_uring-minwait", None,
             ["{build}/bench/peers/peer-c-w9-load", "echo",
              "c-io_uring-minwait", "--",
              "{build}/bench/peers/peer-c-w9-echo-uring", "@PORT@", "wait=32",
              "minwait=200"]),
            ("libuv", None, ["{build}/bench/peers/peer-c-w9-load", "echo",
                             "libuv", "--",
                             "{build}/bench/peers/peer-c-w9-echo-libuv",
                             "@PORT@"]),
            ("libuv-uv_write-copy", None,
             ["{build}/bench/peers/peer-c-w9-load", "echo",
              "libuv-uv_write-copy", "--",
              "{build}/bench/peers/peer-c-w9-echo-libuv", "@PORT@", "copy"]),
            ("go-net", ("go", "bench/peers/go/w9_echo.go", "w9_echo"),
             ["{build}/bench/peers/peer-c-w9-load", "echo", "go-net", "--",
              "{work}/go/w9_echo", "@PORT@"]),
            ("py-asyncio-streams", None,
             ["{build}/bench/peers/peer-c-w9-load", "echo",
              "py-asyncio-streams", "--", "{py}", "bench/peers/py/w9_echo.py",
              "py-asyncio-streams", "@PORT@"]),
            ("py-asyncio-uvloop-streams", None,
             ["{build}/bench/peers/peer-c-w9-load", "echo",
              "py-asyncio-uvloop-streams", "--", "{py}",
              "bench/peers/py/w9_echo.py", "py-asyncio-uvloop-streams",
              "@PORT@"]),
            ("py-gevent-StreamServer", None,
             ["{build}/bench/peers/peer-c-w9-load", "echo",
              "py-gevent-StreamServer", "--", "{py}",
              "bench/peers/py/w9_echo.py", "py-gevent-StreamServer",
              "@PORT@"]),
        ],
        [
            ("echo", "c-epoll", 1.0, ">= raw epoll"),
            ("server_cpu", "c-epoll", 1.0, "<= raw epoll"),
            ("server_cpu", "c-epoll", 1.25,
             "io_uring: < 0.8x raw epoll's (row weave-io_uring-batch: "
             "batching on)", "server_cpu", "weave-io_uring-batch"),
        ],
        "One load generator for every server (bench/peers/c/w9_load.c, "
        "peer-c-w9-load): one thread, level-triggered epoll, 64 "
        "connections with TCP_NODELAY, each ping-ponging a 64-byte message "
        "whose echo it checks byte for byte; 0.5 s of warm-up, then 3 "
        "consecutive windows, each ending after 333,333 round trips or "
        "3.33 s; echo = the median window's rate. It starts the server "
        "itself on a free port of 127.0.0.1, pinned to CPU 0 "
        "(sched_setaffinity before the exec, what taskset -c 0 does; Go "
        "therefore runs with GOMAXPROCS=1), pins itself to CPU 1, and "
        "stops the server with SIGTERM at the end. server_cpu = the server "
        "process's user+sys time (/proc/PID/stat: all its threads, in "
        "10 ms ticks) per round trip, median window; each window's server "
        "CPU utilisation (CPU time / wall time) is in the spread lines "
        "(server_util): near 1 means the server's core was the limit. "
        "weave: weave-bench --echo-server, a wv_server_t with threads = 0: "
        "its acceptor and a coroutine per connection run on the main "
        "thread, whose own code waits for SIGTERM on a signalfd through "
        "wv_fdwait; each handler wraps the socket in a wv_stream_t "
        "(borrowing the descriptor) and loops wv_stream_read of up to "
        "64 KiB into a buffer on its coroutine stack (read straight into "
        "it, no copy), wv_stream_write of what came (copied into the "
        "stream's write buffer), wv_stream_drain (one write). The row "
        "weave runs it with WEAVE_LOOP=epoll, weave-io_uring with "
        "WEAVE_LOOP=io_uring, weave-io_uring-batch adds "
        "WEAVE_LOOP_BATCH=32,200 (wv_loop_set_batch, off by default: a "
        "loop with nothing to run waits for up to 32 of its reads and "
        "writes, capped by those in flight, for at most 200 us, then for "
        "any one; the kernel's min_wait_usec, as c-io_uring-minwait's): "
        "BENCH.md's goal of server_cpu < 0.8x raw epoll's is held to that "
        "row, since it is the io_uring form a user chooses for a server "
        "known to run saturated; its price, a message that completes "
        "within 200 us of the loop's going to sleep waiting for the rest "
        "of it, is what the plain weave-io_uring row does not pay. On epoll each socket keeps one edge-triggered "
        "registration and a read that came back short is followed by a "
        "wait, not by a read that would say EAGAIN: recv, send and a share "
        "of epoll_wait per round trip, as c-epoll. On io_uring the stream's "
        "recv and sendmsg are ring operations the coroutine parks on, a "
        "scheduler round's in one io_uring_enter (docs/net.md, Loop "
        "backends). c-epoll: one thread, "
        "level-triggered epoll, each socket registered once, read of up to "
        "64 KiB into one static buffer and a write of what came: the "
        "floor of a readiness-based server. c-io_uring (a peer row, not "
        "a goal's: what io_uring can do at best here; "
        "bench/peers/c/w9_echo_uring.c on liburing): one thread, one ring "
        "with SINGLE_ISSUER | DEFER_TASKRUN and its descriptor registered, "
        "one multishot accept, per connection one multishot recv into a "
        "ring of provided buffers (256 of 16 KiB), so that a connection's "
        "receives cost one submission in its life; each message is sent "
        "back from the kernel's chosen buffer (IORING_OP_SEND, "
        "MSG_WAITALL), which goes back to the buffer ring when the send "
        "completes; one io_uring_submit_and_wait(1) per loop turn. "
        "c-io_uring-minwait (extra row): the same, its wait asking for 32 "
        "completions, for at most 200 us, then for any one (the kernel's "
        "min_wait_usec, 6.12): a loop turn collects a batch, where the "
        "plain form's turns handle about one message each; a message may "
        "wait up to 200 us for the batch, so a lone connection's ping-pong "
        "would be capped near 5k round trips per second: a tuning for "
        "known heavy load, not a general server's. libuv: uv_read_start into one "
        "static 64 KiB buffer, uv_try_write of what came, and uv_write of "
        "a malloc'd copy of what it left (nothing, nearly always); "
        "libuv-uv_write-copy (extra row, BENCH.md's literal definition): "
        "uv_write of a malloc'd copy of every read, freed in the write "
        "callback. go-net: a goroutine per connection, Read into "
        "its own 64 KiB buffer, Write. Python (one interpreter): "
        "asyncio.start_server, reader.read(65536), writer.write, await "
        "writer.drain(), on asyncio's loop and on uvloop's; "
        "gevent.server.StreamServer with recv(65536) / sendall (its "
        "handler sets TCP_NODELAY, which asyncio and uvloop set "
        "themselves). What differs: each of weave's reads that must wait "
        "parks the coroutine, on the socket's one edge-triggered "
        "registration (epoll) or a ring operation (io_uring), where "
        "c-epoll and libuv keep every socket registered, level-triggered, "
        "and call a function per event, and Go's netpoller registers it "
        "once (edge-triggered); c-io_uring arms a connection's receive "
        "once in its life (multishot, into the kernel's choice of "
        "buffer) and sends from that buffer, where weave-io_uring submits "
        "a recv into the handler's buffer for every read and "
        "a sendmsg from the stream's write buffer, and switches to the "
        "connection's coroutine per message; weave copies each message "
        "into the stream's write buffer before writing it, as libuv copies "
        "it into its malloc'd buffer, where c-epoll writes from its read "
        "buffer; weave and Go switch to the connection's coroutine or "
        "goroutine per message, c-epoll and libuv call a function; "
        "Python's servers run the interpreter and an event loop per message (asyncio's reader "
        "makes a Future for every read that waits).",
    ),
    "W9b": (
        "bulk transfer: 1 GiB over one loopback TCP connection in 64 KiB "
        "writes, plain (bulk) and over TLS 1.3 (bulk_tls); GB/s",
        [
            ("weave-stream/weave-tls", None,
             ["{build}/bench/weave-bench", "W9b"]),
            ("c-rw", None, ["{build}/bench/peers/peer-c-w9b", "c-rw"]),
            ("openssl-s_server/s_client", None,
             ["{build}/bench/peers/peer-c-w9b", "openssl"]),
            ("c-openssl", None, ["{build}/bench/peers/peer-c-w9b-openssl"]),
        ],
        [
            ("bulk", "c-rw", 0.9, ">= 0.9x raw read/write"),
        ],
        "weave's row of bulk is weave-stream and its row of bulk_tls is "
        "weave-tls (both printed as weave, so that the runner takes their "
        "ratios), on the loop's default backend (io_uring where the kernel "
        "has it: the plain stream's recv and sendmsg go through the ring; "
        "TLS waits for readiness there and makes its own calls). Every run moves 1 GiB over a fresh loopback TCP "
        "connection between two threads of one process, the receiver (the "
        "main thread) pinned to CPU 0 and the sender to CPU 1; one warm-up "
        "run, then 3 timed ones. The sender writes 64 KiB chunks from a "
        "1 MiB source whose 8-byte words hold their index; the receiver "
        "reads into a 64 KiB buffer and checks, per read, the first and "
        "last whole word against their position, and the total against "
        "1 GiB (bench/bulk.h). Timed in the receiver from just before it "
        "writes a 1-byte go-signal until it read the end. weave-stream: "
        "each side a coroutine on its thread's scheduler; "
        "wv_stream_write of each chunk, then wv_stream_write_eof; "
        "wv_stream_read until WV_EOF. c-rw: blocking sockets, write() "
        "looping on short writes, then shutdown(SHUT_WR); read() until 0. "
        "weave-tls: the same through wv_tls_client / wv_tls_server "
        "streams, TLS 1.3 with OpenSSL's default suite "
        "TLS_AES_256_GCM_SHA384 (weave-bench names the suite it got on "
        "stderr), an EC P-256 certificate for localhost made at start with "
        "the openssl command in a temporary directory and verified by the "
        "client; the handshake precedes the timing. "
        "openssl-s_server/s_client: the openssl command's own tools with "
        "the same kind of certificate, -tls1_3 -ciphersuites "
        "TLS_AES_256_GCM_SHA384: s_server -quiet -naccept 1, pinned to CPU "
        "0, writes what it receives to a pipe that peer-c-w9b reads and "
        "checks as above; s_client -quiet -no_ign_eof (verifying the "
        "certificate), pinned to CPU 1, reads the 1 GiB from a pipe that a "
        "thread of peer-c-w9b fills, and at its end sends close_notify. "
        "Timed from outside, from just before s_client starts (s_server "
        "already listening) until s_server's output ends: its time also "
        "holds s_client's start-up, the handshake, and the two pipes the "
        "bytes cross besides the connection (a copy into and out of each, "
        "and the feeding and reading threads, unpinned, sharing the 2 "
        "CPUs); the tools read and write in their own buffer sizes; 3 "
        "runs, no warm-up (each run starts both tools afresh). c-openssl "
        "(extra row, bench/peers/c/w9b_openssl.c): weave-tls's shape on "
        "OpenSSL's API directly, the floor of a TLS stream on OpenSSL: two "
        "pinned threads, blocking sockets, TLS 1.3 with the same suite, "
        "read-ahead on (as weave's contexts), the same certificate kind "
        "verified by the client, an untimed handshake, SSL_write of each "
        "64 KiB chunk then SSL_shutdown, SSL_read into the 64 KiB buffer "
        "until the close_notify, timed as weave-tls. What "
        "differs: weave's sender goes through the stream's 64 KiB write "
        "buffer (a chunk that fits is copied in; one that does not is "
        "written straight, with what is buffered, in one writev, and its "
        "unwritten tail copied in), c-rw writes from the source; both read "
        "straight into the caller's buffer; weave's sockets are "
        "non-blocking and every wait goes through the coroutine scheduler "
        "and the thread's loop (an edge-triggered epoll registration, or "
        "the ring's operations), where "
        "c-rw's and c-openssl's blocking calls sleep in the kernel; "
        "weave's TLS stream takes a lock around the TLS object per call "
        "(weave/tls.h), c-openssl none.",
    ),
    "W9c": (
        "idle connections: memory per connection held idle by a server, "
        "10,000 connections; B/conn",
        [
            ("weave", None, ["{build}/bench/peers/peer-c-w9-load", "idle",
                             "weave", "--", "{build}/bench/weave-bench",
                             "--echo-server", "@PORT@"], 3),
            ("go-net", ("go", "bench/peers/go/w9_echo.go", "w9_echo"),
             ["{build}/bench/peers/peer-c-w9-load", "idle", "go-net", "--",
              "{work}/go/w9_echo", "@PORT@"], 3),
            ("py-asyncio-streams", None,
             ["{build}/bench/peers/peer-c-w9-load", "idle",
              "py-asyncio-streams", "--", "{py}", "bench/peers/py/w9_echo.py",
              "py-asyncio-streams", "@PORT@"], 3),
            ("py-gevent-StreamServer", None,
             ["{build}/bench/peers/peer-c-w9-load", "idle",
              "py-gevent-StreamServer", "--", "{py}",
              "bench/peers/py/w9_echo.py", "py-gevent-StreamServer",
              "@PORT@"], 3),
        ],
        [],
        "The servers are W9's, each holding N = 10,000 connections idle. "
        "The load generator (peer-c-w9-load idle) starts the server as in "
        "W9 (pinned to CPU 0, itself on CPU 1; RLIMIT_NOFILE's soft limit "
        "raised to the hard one, which the server inherits), warms it up "
        "with one probe connection (1 byte echoed, then closed), waits "
        "300 ms and reads the server's VmRSS (/proc/PID/status): the "
        "before. Then it opens the N connections, at most 256 connecting "
        "at once, each sending 1 byte and waiting for its echo, so that "
        "every handler has been through a read, a write and a drain and "
        "waits in its next read; 300 ms after the last echo it reads "
        "VmRSS again: idle_mem = (after - before) / N. One measurement per "
        "process, median of 3 processes. What each side holds per "
        "connection: weave, a coroutine (its default 256 KiB stack is "
        "reserved, only the pages touched are resident: the handler's "
        "frame with its 64 KiB read buffer, of which the first bytes are "
        "written, and the frames below it down to the scheduler's switch), "
        "the server's socket handle, the stream object and its 4 KiB write "
        "buffer (allocated at the first write); Go, a goroutine (a small "
        "stack that grows by copying) and its 64 KiB read buffer on the "
        "heap (only the pages written are resident), the net.Conn and its "
        "netpoll descriptor; asyncio, no stack: a Task and its coroutine "
        "frame, a StreamReader, StreamWriter, protocol and transport; "
        "gevent, a greenlet whose slice of the C stack is copied to the "
        "heap while it waits, and the socket object. Memory the kernel "
        "keeps per socket (buffers, epoll items) is in no process's RSS "
        "and not counted.",
    ),
    "W10": (
        "task queue over loopback TCP with an authkey: a master puts N "
        "tasks then gets N results, one worker process squares them; "
        "tasks/s",
        [
            ("weave", None, ["{build}/bench/weave-bench", "W10"]),
            ("py-BaseManager-queues", None,
             ["{py}", "bench/peers/py/w10_dist.py",
              "py-BaseManager-queues"]),
            ("py-redis-lists", None,
             ["{py}", "bench/peers/py/w10_dist.py", "py-redis-lists"]),
            ("redis-benchmark-LPUSH/RPOP-c1", None,
             ["{py}", "bench/peers/py/w10_dist.py", "redis-benchmark"]),
            ("weave-manager+py-worker", None,
             ["{build}/bench/weave-bench", "--w10-py-worker", "{py}",
              "bench/peers/py/w10_dist.py"]),
            ("weave-redis-Nworkers", None,
             ["{build}/bench/weave-bench", "W10-redis-workers"]),
            ("py-BaseManager+weave-worker", None,
             ["{py}", "bench/peers/py/w10_dist.py",
              "py-BaseManager+weave-worker", "{build}/bench/weave-bench"]),
        ],
        [
            ("tasks", "py-BaseManager-queues", 50,
             ">= 50x Python BaseManager (pipelining)"),
            ("tasks", "py-redis-lists", 5,
             ">= 5x py-redis-lists (row weave-redis: the same broker, "
             "Redis, through weave's redis:// backend)", "tasks",
             "weave-redis"),
        ],
        "Every row: a broker holds a task queue and a result queue on a "
        "port of 127.0.0.1 behind an authkey or password; one worker "
        "process, started, connected (authenticated) and ready before "
        "timing, loops: get a task n, put n*n; timed in the master: N puts "
        "of one task each, then N gets of one result each, the results' "
        "sum checked; one untimed warm-up run of N/10 tasks, then 3 timed "
        "runs, median; the worker is stopped by a task -1. "
        "weave (bench/w10_manager.c): the master process hosts the "
        "manager itself (wv_manager_t with two registered queues, "
        "get_task_queue and get_result_queue, served on a port with the "
        "authkey by a server thread of the master's process, a coroutine "
        "per connection), and the master's own proxies reach the queues "
        "directly, in process: its N puts and N gets cross no socket and "
        "are not pickled. The worker is a "
        "separate process (weave-bench --w10-worker) that connects with the "
        "authkey. Row weave: the worker takes up to 256 tasks per request "
        "(wv_proxy_get_many) and puts their results back with one request "
        "(wv_proxy_put_many), N = 200k: what a weave worker writes. Row "
        "weave-1by1: the worker makes one wv_proxy_get and one "
        "wv_proxy_put per task, a round trip each, as the Python worker "
        "does, N = 20k. Rows weave-2workers, weave-4workers and "
        "weave-8workers: as weave with that many worker processes (each "
        "stopped by a -1 of its own), N = 200k: how throughput grows with "
        "workers (on 2 CPUs, shared by the master, its server thread and "
        "the workers). weave server_cpu: the CPU time of the master "
        "process's threads other than the master's own (the manager's "
        "server thread) per task, row weave: the manager's own cost. "
        "Extra rows across the two systems: weave-manager+py-worker, "
        "weave's master and manager serving the Python peer's worker "
        "(BaseManager proxies, a round trip per get and per put), N = 20k; "
        "py-BaseManager+weave-worker, the Python peer's master and manager "
        "with weave's worker (weave-bench --w10-worker PORT batch: its "
        "first batch request gets CPython's AttributeError and from then "
        "on it makes one get and one put per task), N = 20k. "
        "The wire is CPython's (multiprocessing's framing, "
        "pickles encoded and decoded in C, the HMAC challenge at connect): "
        "a CPython task_worker.py could take the weave worker's place. "
        "py-BaseManager-queues: the tutorials' task_master / task_worker: "
        "a BaseManager subclass registering get_task_queue and "
        "get_result_queue as callables returning two queue.Queue objects, "
        "manager.start() forking the manager's server process; the "
        "worker, a separate Python process, registers the names, "
        "connect()s with the authkey and loops task.get() / "
        "result.put(n*n) through its proxies; N = 20k. What differs: "
        "Python's master talks to its manager's server process over a "
        "socket, so each of its puts and gets is a round trip to another "
        "process (a pickled request, a server thread calling the queue, a "
        "pickled reply), as are the worker's get and put: three processes "
        "(master, manager, worker) share the 2 CPUs, where weave has two "
        "(master with its manager, worker) and its master's calls are "
        "function calls on the queues; the weave row also cuts the "
        "worker's round trips 256-fold (weave-1by1 keeps one per task). "
        "py-redis-lists: a redis-server the program starts on a free port "
        "(--save '' --appendonly no --requirepass, its own temporary "
        "directory, stopped at the end), redis-py 4.3 with its default "
        "connection, one command per call: the master LPUSHes tasks and "
        "BRPOPs results, the worker BRPOPs tasks and LPUSHes results; "
        "N = 10k. What differs: the broker is a C server with an event "
        "loop (RESP, no pickling: the ints travel as text), but every "
        "put and get, master's and worker's, is a round trip to it from a "
        "client in the interpreter; three processes, as Python's. "
        "redis-benchmark-LPUSH-c1 / redis-benchmark-RPOP-c1 (extra rows, "
        "one program): redis-benchmark -t lpush,rpop -c 1 -P 1 -n 20000 "
        "--csv against such a server (the RPOPs pop what the LPUSHes "
        "pushed; the list is checked empty at the end), one untimed "
        "invocation with -n 2000, then 3, median: one broker operation per "
        "round trip from a C client, the floor of one command to Redis. "
        "Their value is requests per second, reported as metric tasks in "
        "tasks/s so that the rows sit side by side; a task of "
        "py-redis-lists costs four such operations, two of them by the "
        "worker. "
        "weave-redis (bench/w10_redis.c; printed by weave-bench W10 after "
        "the manager's rows, alone by weave-bench W10-redis): weave's "
        "manager API with a redis:// url (docs/redis.md) against a "
        "redis-server the program starts as py-redis-lists does (free "
        "port, --save '' --appendonly no --requirepass, its own temporary "
        "directory); the queues are Redis streams read by a consumer "
        "group. One worker process (weave-bench --w10-redis-worker URL) "
        "loops: wv_proxy_get_many of up to 256 tasks (one XREADGROUP, then "
        "XACK + XDEL written without waiting for their replies), "
        "wv_proxy_put_many of their results (256 XADDs in one write). "
        "What differs from every other row: the master too batches, "
        "wv_proxy_put_many of 256 tasks per call (pipelined XADDs) and "
        "wv_proxy_get_many of up to 256 results per call (one "
        "XREADGROUP), where py-redis-lists makes one round trip per task "
        "and per result: with a broker in another process a round trip "
        "per task caps any client near 9k/s here, and batching is what "
        "weave's API offers for it; entries are pickled (protocol 4, field "
        "p). Three processes, as py-redis-lists. N = 200k. Rows "
        "weave-redis-2workers, -4workers and -8workers (weave-bench "
        "W10-redis-workers, one program so that each stays within the "
        "runner's 30 s): the same with that many workers, N = 100k.",
    ),
    "W11": (
        "sequential request/response over loopback TCP: add(i, 1) called "
        "N times, one after the other, by a client of a server process; "
        "calls/s",
        [
            ("weave", None, ["{build}/bench/weave-bench", "W11"]),
            ("py-xmlrpc", None,
             ["{py}", "bench/peers/py/w11_rpc.py", "py-xmlrpc"]),
            ("py-xmlrpc-http1.0", None,
             ["{py}", "bench/peers/py/w11_rpc.py", "py-xmlrpc-http1.0"]),
            ("py-BaseManager-proxy", None,
             ["{py}", "bench/peers/py/w11_rpc.py", "py-BaseManager-proxy"]),
            ("redis-benchmark-PING-c1-P1", None,
             ["{py}", "bench/peers/py/w11_rpc.py",
              "redis-benchmark-PING-c1-P1"]),
            ("c-tcp-pingpong-1conn", None,
             ["{build}/bench/peers/peer-c-w9-load", "pingpong",
              "c-tcp-pingpong-1conn", "--pin", "none", "--",
              "{build}/bench/peers/peer-c-w9-echo-epoll", "@PORT@"]),
            ("c-tcp-pingpong-1conn-samecore", None,
             ["{build}/bench/peers/peer-c-w9-load", "pingpong",
              "c-tcp-pingpong-1conn-samecore", "--pin", "0,0", "--",
              "{build}/bench/peers/peer-c-w9-echo-epoll", "@PORT@"]),
        ],
        [
            ("rpc_add", "c-tcp-pingpong-1conn", 0.95,
             ">= 0.95x the TCP floor", "rpc_floor"),
        ],
        "Every row: one client calls add(i, 1) N times sequentially, each "
        "result checked, the server in another process, neither pinned; "
        "an untimed warm-up run of N/10 calls, then 3 timed runs, median. "
        "weave (bench/w10_manager.c): a server process (weave-bench "
        "--w11-server: a wv_manager_t registering Calc.add as a C "
        "function) and this process connecting with the authkey; "
        "wv_proxy_call(calc, \"add\", (i, 1)) per call on one connection, "
        "N = 30k. The wire is CPython's manager protocol (a pickled "
        "callmethod request, a pickled reply, encoded and decoded in C), "
        "so a Python client could call the same server. "
        "py-xmlrpc: xmlrpc.server.SimpleXMLRPCServer serving add in a "
        "forked process (logRequests off), its request handler speaking "
        "HTTP/1.1 (a subclass with protocol_version = \"HTTP/1.1\") so "
        "that xmlrpc.client.ServerProxy keeps its one connection for every "
        "call: the faster form, as BENCH.md asks of a peer; N = 3k. "
        "py-xmlrpc-http1.0 (extra row): the same with the default handler, "
        "HTTP/1.0, which closes the connection after each reply: every "
        "call connects afresh. py-BaseManager-proxy: "
        "BaseManager.register('Calc', Calc), m.start() (the manager's "
        "server process), calc = m.Calc(), calc.add(i, 1); N = 10k. "
        "redis-benchmark-PING-c1-P1: a floor for a real server, not an RPC: "
        "redis-benchmark -t ping_mbulk -c 1 -P 1 -n 20000 --csv (the "
        "PING_MBULK row of BENCH.md's -t ping, without running PING_INLINE "
        "too) against a redis-server the program starts (free port, no "
        "persistence, a password); PINGs per second reported as rpc_add in "
        "calls/s; one untimed invocation with -n 2000, then 3. What "
        "differs: weave's client is the calling thread and its server "
        "a coroutine per connection, pickling in C; each side's message "
        "goes out with its read of the next one as one linked io_uring "
        "submission (wv_stream_opts_t.flush_on_read; the client's on its "
        "stream's own small ring): one system call per call per side, "
        "where the floor's client and server make three each (send, "
        "wait, recv); Python's pickle (BaseManager) or build and parse "
        "XML over HTTP (xmlrpc) in the interpreter on both sides, its "
        "manager's server answering from a thread per connection; "
        "redis-benchmark's PING carries no arguments and no result to "
        "check and Redis answers from its C event loop. "
        "The floors of BENCH.md: W9's load generator with 1 connection "
        "ping-ponging a 64-byte message (its echo checked) against W9's "
        "c-epoll server; 3000 round trips of warm-up, then 3 runs of "
        "30,000; rpc_floor = round trips per second, median run. "
        "c-tcp-pingpong-1conn: neither process pinned; "
        "c-tcp-pingpong-1conn-samecore: both pinned to CPU 0 (no "
        "cross-core wake-up).",
    ),
    "C1": (
        "weave map (weave's own workload, from issue 19, not in BENCH.md): "
        "10,000 /bin/true jobs run 2 at a time, the inputs on standard "
        "input; jobs/s and CPU per job",
        [
            ("weave", None,
             ["{py}", "bench/c1_map.py", "weave", "{build}/weave"]),
            ("xargs-P2", None, ["{py}", "bench/c1_map.py", "xargs-P2"]),
            ("gnu-parallel-j2", None,
             ["{py}", "bench/c1_map.py", "gnu-parallel-j2"]),
            ("c-vfork-j2", None,
             ["{py}", "bench/c1_map.py", "c-vfork-j2",
              "{build}/bench/peers/peer-c-c1"]),
        ],
        [
            ("jobs", "xargs-P2", 1.0, ">= 1.0x xargs -P 2"),
            ("jobs", "gnu-parallel-j2", 10, ">= 10x GNU parallel -j2"),
        ],
        "bench/c1_map.py runs each command with the inputs 1..N on "
        "standard input (each appended to /bin/true as its argument): "
        "weave map -j2 /bin/true; xargs -P 2 -n 1 /bin/true; parallel "
        "--will-cite -j2 /bin/true (Debian's parallel package); one "
        "untimed run of N/10 jobs, then 3 runs, the median kept. N = "
        "10,000, scaled to 1,000 for GNU parallel. jobs = N / wall time; "
        "cpu_per_job = user+system CPU of the whole process tree "
        "(RUSAGE_CHILDREN of the driver: the runner and every job) / N, "
        "in us. What differs: weave starts each job with its spawn fast "
        "path in a process group of its own, pipes its stdout and stderr "
        "and collects them from a coroutine on one thread; xargs forks "
        "and execs with the output inherited, nothing captured; GNU "
        "parallel is Perl, and runs each job through a shell with its "
        "output buffered in temporary files. c-vfork-j2 is the "
        "floor, not a competitor (bench/peers/c/c1_spawn.c): the same "
        "inputs read with fgets, each job started with vfork and execv "
        "and reaped with wait(), 2 at a time, the output "
        "inherited, no process group: what a runner that does nothing "
        "but start and reap the jobs pays, nearly all of it the jobs' "
        "own start-up (weave lands on either side of it from run to "
        "run); its ratio to GNU parallel is about what any runner can "
        "reach against it on the machine.",
    ),
    "Q1": (
        "queue.Queue (weave's own workload, not in BENCH.md): one producer "
        "thread puts 2M integers into a queue bounded at 1024, one consumer "
        "thread gets them; items/s",
        [
            ("weave", None, ["{build}/bench/weave-bench", "Q1"]),
            ("c", None, ["{build}/bench/peers/peer-c-q1"]),
            ("go", ("go", "bench/peers/go/q1_queue.go", "q1_queue"),
             ["{work}/go/q1_queue"]),
            ("py", None, ["{py}", "bench/peers/py/q1_queue.py"]),
        ],
        [],
        "weave's queue is CPython's design (one lock, three conditions) "
        "on weave's Lock and Condition: put and get each take the lock "
        "once and notify only when somebody is parked. Python is scaled "
        "to 200k items. What differs: the C peer is the same design on a "
        "pthread mutex and two condition variables, calling "
        "pthread_cond_signal on every put and get (glibc's returns after "
        "reading the waiter count when nobody waits) where weave notifies "
        "only when somebody is parked; Go's buffered channel holds its "
        "runtime lock per operation and hands an item straight to a parked "
        "receiver; Python's queue.Queue is CPython's design in the "
        "interpreter, under the GIL.",
    ),
}


def build_go(src, name):
    go = shutil.which("go")
    if not go:
        return "go is not installed"
    out = os.path.join(WORK, "go", name)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    env = dict(os.environ, GOCACHE=os.path.join(WORK, "gocache"),
               GOPATH=os.path.join(WORK, "gopath"), GO111MODULE="off")
    r = subprocess.run([go, "build", "-o", out, os.path.join(ROOT, src)],
                       env=env, capture_output=True, text=True)
    return None if r.returncode == 0 else r.stderr.strip()


def run_repeated(cmd, processes, timeout=TIMEOUT):
    """run_program for a value measured once per process: runs cmd
    `processes` times; each metric is the median over the processes, with
    one spread line listing every process's value."""
    values, units, heads = {}, {}, {}
    for _ in range(processes):
        res, spr, err = run_program(cmd, timeout)
        if err:
            return {}, [], err
        for key, (v, unit) in res.items():
            values.setdefault(key, []).append(v)
            units[key] = unit
        for line in spr:  # "spread W2 go-gmp1 mem min=..."
            head = line.split(" min=")[0]
            heads[tuple(head.split()[2:4])] = head
    results, spreads = {}, []
    for key, v in values.items():
        results[key] = (statistics.median(v), units[key])
        head = heads.get(key, f"spread ? {key[0]} {key[1]}")
        spreads.append(f"{head} min={min(v):.4g} max={max(v):.4g} "
                       f"n={len(v)} runs={','.join(f'{x:.4g}' for x in v)} "
                       f"({processes} processes)")
    return results, spreads, None


def run_program(cmd, timeout=TIMEOUT):
    """Returns (results, spreads, error): results maps (peer, metric) to
    (value, unit)."""
    try:
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return {}, [], f"timed out after {timeout} s"
    except OSError as e:
        return {}, [], str(e)
    results = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 5:
            try:
                results[(parts[1], parts[2])] = (float(parts[3]), parts[4])
            except ValueError:
                pass
    spreads = [l for l in r.stderr.splitlines() if l.startswith("spread ")]
    if r.returncode != 0:
        tail = r.stderr.strip().splitlines()[-1:] or ["?"]
        return results, spreads, f"exit {r.returncode}: {tail[0]}"
    return results, spreads, None


def best_peer(med, units, w, m):
    """The peer (not weave) with the best median of metric m in workload w,
    or None when no peer was measured."""
    peers = [(v, p) for (ww, p, mm), v in med.items()
             if ww == w and mm == m and p != "weave"]
    if not peers:
        return None
    lower = units.get((w, peers[0][1], m)) in LOWER_IS_BETTER
    return (min if lower else max)(peers)[1]


def ratio(weave, peer, unit):
    if weave <= 0 or peer <= 0:
        return None
    return peer / weave if unit in LOWER_IS_BETTER else weave / peer


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def version(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True)
            return (out.stdout or out.stderr).splitlines()[0].strip()
        except (OSError, IndexError):
            return "not installed"

    return [
        f"CPU: {cpu}, {os.cpu_count()} CPUs; kernel {platform.release()}",
        f"C: {version(['cc', '--version'])}",
        f"Go: {version(['go', 'version'])}",
        f"Python: {version([PY, '--version'])} ({PY})",
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build", default="build")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--no-write", action="store_true",
                    help="do not rewrite bench/RESULTS.md (implied when "
                    "only some workloads are run: the file holds them all)")
    ap.add_argument("--update", action="store_true",
                    help="run only the workloads named and replace their "
                    "sections (and spread lines) in the existing "
                    "bench/RESULTS.md, keeping the others as they are; "
                    "each replaced section says when it was measured")
    ap.add_argument("workloads", nargs="*", default=sorted(WORKLOADS))
    args = ap.parse_args()
    if args.update and not args.no_write:
        if not os.path.exists(RESULTS):
            sys.exit("--update needs an existing bench/RESULTS.md "
                     "(make bench writes one)")
    elif set(args.workloads) != set(WORKLOADS):
        args.no_write = True
    global PY
    PY = pick_python()
    subst = {"build": os.path.join(ROOT, args.build), "work": WORK, "py": PY}

    errors = {}
    for w in args.workloads:
        if w not in WORKLOADS:
            sys.exit(f"unknown workload {w}")
        for label, how, *_ in WORKLOADS[w][1]:
            if how and how[0] == "go":
                err = build_go(how[1], how[2])
                if err:
                    errors[(w, label)] = f"build failed: {err}"

    values = {}   # (w, peer, metric) -> [pass values]
    units = {}
    spreads = []
    for p in range(args.passes):
        for w in args.workloads:
            for label, _, cmd, *processes in WORKLOADS[w][1]:
                if (w, label) in errors:
                    continue
                cmd = [c.format(**subst) for c in cmd]
                limit = TIMEOUTS.get(w, TIMEOUT)
                res, spr, err = run_repeated(cmd, processes[0], limit) \
                    if processes else run_program(cmd, limit)
                spreads += [f"pass {p + 1}: {s[7:]}" for s in spr]
                if err:
                    errors[(w, label)] = err
                for (peer, metric), (v, unit) in res.items():
                    values.setdefault((w, peer, metric), []).append(v)
                    units[(w, peer, metric)] = unit
                    print(f"{w} {peer} {metric} {v:.4g} {unit}", flush=True)
    for (w, label), err in sorted(errors.items()):
        print(f"{w} {label} - NA skipped ({err})", flush=True)

    old = None
    if args.update and not args.no_write:
        with open(RESULTS) as f:
            old = parse_results(f.read())
    charted = False
    if not args.no_write:
        med = {k: statistics.median(v) for k, v in values.items()}
        cunits = dict(units)
        shown = args.workloads
        if old:  # the chart shows every workload: the kept ones' medians
            for k, v in old["med"].items():
                if k[0] not in args.workloads:
                    med[k] = v
                    cunits[k] = old["units"][k]
            shown = sorted(WORKLOADS)
        err = write_chart(os.path.join(ROOT, "bench", CHART), shown, med,
                          cunits)
        if err:
            print(f"bench/{CHART} not drawn: {err}", file=sys.stderr)
        else:
            charted = True
            print(f"wrote bench/{CHART}")
    report = render(args, values, units, spreads, errors, charted, old)
    print("\n" + report["summary"])
    if not args.no_write:
        with open(RESULTS, "w") as f:
            f.write(report["markdown"])
        print("wrote bench/RESULTS.md")


UPDATED = "_Re-measured by `bench/run --update"


def parse_results(text):
    """What --update keeps of an existing RESULTS.md: its header's run
    line, each workload's section as it is, the spread lines, and the
    medians of the tables (for the chart)."""
    out = {"generated": None, "sections": {}, "spreads": [], "med": {},
           "units": {}}
    name, in_spread = None, False
    for line in text.split("\n"):
        if line.startswith("Generated by") and out["generated"] is None:
            out["generated"] = line
        if line.startswith("## "):
            name = line[3:].split(":")[0]
            in_spread = name == "Spread"
            if not in_spread:
                out["sections"][name] = [line]
            continue
        if in_spread:
            if line.startswith("pass "):
                out["spreads"].append(line)
            continue
        if name is None:
            continue
        out["sections"][name].append(line)
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not line.startswith("| ") or \
                cells[0] in ("metric", "---"):
            continue
        m, wv, peer, pv = cells[:4]
        for who, val in (("weave", wv), (peer, pv)):
            parts = val.split(" ", 1)
            try:
                out["med"][(name, who, m)] = float(parts[0])
                out["units"][(name, who, m)] = parts[1] if len(parts) > 1 \
                    else ""
            except ValueError:
                pass
    for lines in out["sections"].values():
        while lines and not lines[-1]:
            lines.pop()
    return out


CHART = "results.svg"  # beside RESULTS.md, which shows it first
RESULTS = os.path.join(ROOT, "bench", "RESULTS.md")


def goal_marks(workloads, med, units):
    """{(w, metric, peer): minimum ratio} for the goals of BENCH.md stated
    as a ratio against a peer ("best" resolved to the best peer measured);
    goals bounding weave's own value are not ratios and are left out."""
    marks = {}
    for w in workloads:
        for m, peer, minimum, _text, *pm in WORKLOADS[w][2]:
            row = pm[1] if len(pm) > 1 else "weave"
            pm = pm[0] if pm else m
            if peer is None or pm != m or row != "weave":
                continue  # the chart's bars are the weave row's
            if peer == "best":
                peer = best_peer(med, units, w, m)
            if peer:
                marks[(w, m, peer)] = minimum
    return marks


def write_chart(path, workloads, med, units):
    """Draws weave's ratio against every peer, one bar per (workload,
    metric, peer), on a log scale (> 1: weave is better), each BENCH.md
    goal stated as a ratio against a peer marked on that peer's bar, from
    the medians the Markdown tables are made from.  Returns None, or why
    no chart was drawn."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        return f"matplotlib is missing ({e}; Debian: python3-matplotlib)"
    marks = goal_marks(workloads, med, units)
    groups = []  # (title, [(peer, ratio, goal or None)])
    for w in workloads:
        for m in sorted({mm for (ww, p, mm) in med if ww == w}):
            wv = med.get((w, "weave", m))
            if not wv:
                continue
            unit = units.get((w, "weave", m), "")
            rows = []
            for p in sorted(p for (ww, p, mm) in med
                            if ww == w and mm == m and p != "weave"):
                r = ratio(wv, med[(w, p, m)], unit)
                if r:
                    rows.append((p, r, marks.get((w, m, p))))
            if rows:
                rows.sort(key=lambda row: row[1])
                groups.append((f"{w} {m}", rows))
    if not groups:
        return "no ratio to draw"
    n = sum(len(rows) + 1 for _, rows in groups)
    fig, ax = plt.subplots(figsize=(10, 1.4 + 0.2 * n))
    ratios = [r for _, rows in groups for _, r, _ in rows]
    ratios += [g for _, rows in groups for _, _, g in rows if g]
    lo, hi = min(ratios + [1]) / 20, max(ratios + [1]) * 20
    y, ticks, labels, goal_drawn = 0, [], [], False
    for title, rows in groups:
        ax.text(lo * 1.05, y, title, ha="left", va="center", fontsize=8.5,
                fontweight="bold")
        if y:
            ax.axhline(y - 0.5, color="0.8", linewidth=0.6)
        y += 1
        for peer, r, goal in rows:
            if goal is None:  # light: no goal on this bar
                color = "#8cc98c" if r >= 1 else "#eda39b"
            else:  # dark: the goal met or missed
                color = "#2e7d32" if r >= goal else "#b71c1c"
            ax.barh(y, abs(r - 1), left=min(r, 1), height=0.7, color=color)
            text = f"{r:.3g}x"
            if goal is not None:
                text += (f" (goal {goal:.3g}x: "
                         f"{'met' if r >= goal else 'missed'})")
            # beyond the bar's end and the goal's mark, outward from 1
            if r >= 1:
                ax.text(max(r, goal or 0) * 1.08, y, text, ha="left",
                        va="center", fontsize=7)
            else:
                ax.text(min(r, goal or 1) / 1.08, y, text, ha="right",
                        va="center", fontsize=7)
            if goal is not None:
                ax.plot([goal, goal], [y - 0.45, y + 0.45], color="black",
                        linewidth=2.2, solid_capstyle="butt",
                        label=None if goal_drawn else
                        "goal of BENCH.md (weave / peer >= the mark)")
                goal_drawn = True
            ticks.append(y)
            labels.append(peer)
            y += 1
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.axvline(1, color="black", linewidth=0.8)
    ax.set_yticks(ticks)
    ax.set_yticklabels(labels, fontsize=7.5)
    ax.set_ylim(y - 0.4, -0.6)
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel("weave / peer (> 1: weave is better; log scale)",
                  fontsize=9)
    ax.set_title("weave against each peer, per workload and metric "
                 "(medians of the passes)\ngreen: weave better, red: the "
                 "peer better; dark: the bar carries a goal, green if met, "
                 "red if missed", fontsize=9)
    if goal_drawn:
        ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", which="major", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return None


def render(args, values, units, spreads, errors, charted=False, old=None):
    med = {k: statistics.median(v) for k, v in values.items()}
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    md = ["# Benchmark results", ""]
    if charted:
        md += [f"![weave / peer per workload and metric, log scale, > 1 "
               f"means weave is better; BENCH.md's goals marked]({CHART})",
               ""]
    if old and old["generated"]:
        md += [old["generated"], ""]
    else:
        md += [
            f"Generated by `make bench` (bench/run) on {now}, "
            f"{args.passes} passes; each value is the median over the "
            "passes of each program's own median of its timed runs "
            "(BENCH.md).", ""]
    if old:
        kept = {w for w, lines in old["sections"].items()
                if any(line.startswith(UPDATED) for line in lines)}
        again = sorted(kept | set(args.workloads))
        md += ["Re-measured since by `bench/run --update` (all its peers "
               "side by side in one run, as make bench does; each section "
               "says when): " + ", ".join(again) + ".", ""]
    md += ["Machine:", ""] + [f"- {m}" for m in machine()] + [""]
    md += ["Ratio = weave / peer, oriented so that **> 1 means weave is "
           "better** (peer/weave for times, weave/peer for rates).", ""]
    summary = []
    order = sorted(WORKLOADS) if old else args.workloads
    for w in order:
        if w not in args.workloads:
            if w in old["sections"]:
                md += old["sections"][w] + [""]
            continue
        title, _, goals, notes = WORKLOADS[w]
        md += [f"## {w}: {title}", ""]
        if old:
            passes = f"{args.passes} pass" + ("es" if args.passes > 1
                                              else "")
            md += [f"{UPDATED} {w}` on {now}, {passes}: this "
                   "section's figures come from that run, not from the run "
                   "named at the top._", ""]
        md += ["| metric | weave | peer | peer's value | ratio |",
               "|---|---|---|---|---|"]
        metrics = sorted({m for (ww, p, m) in med if ww == w})
        for m in metrics:
            wv = med.get((w, "weave", m))
            unit = units.get((w, "weave", m), "")
            peers = sorted(p for (ww, p, mm) in med
                           if ww == w and mm == m and p != "weave")
            if not peers and wv:
                md.append(f"| {m} | {wv:.4g} {unit} | (weave only) | | |")
            for p in peers:
                pv, pu = med[(w, p, m)], units[(w, p, m)]
                r = ratio(wv, pv, unit) if wv else None
                rs = f"{r:.2f}x" if r else "NA"
                ws = f"{wv:.4g} {unit}" if wv else "NA"
                md.append(f"| {m} | {ws} | {p} | {pv:.4g} {pu} | {rs} |")
                summary.append(f"{w} {m}: weave {ws} vs {p} {pv:.4g} {pu}"
                               f" -> {rs}")
        md.append("")
        if goals:
            md += ["Goals (BENCH.md):", ""]
            for m, peer, minimum, text, *pm in goals:
                row = pm[1] if len(pm) > 1 else "weave"  # weave's side
                pm = pm[0] if pm else m  # the peer's metric, if another
                if peer is None:  # an absolute goal on weave's value
                    wv = med.get((w, "weave", m))
                    lower = units.get((w, "weave", m)) in LOWER_IS_BETTER
                    state = ("NA" if wv is None else "met"
                             if (wv <= minimum if lower else wv >= minimum)
                             else "missed")
                    md.append(f"- {m}: {text}: weave "
                              + (f"{wv:.4g}" if wv is not None else "NA")
                              + f" -> **{state}**")
                    summary.append(f"goal {w} {m} {text}: {state}")
                    continue
                if peer == "best":
                    best = best_peer(med, units, w, pm)
                    peer = f"best: {best or 'no peer measured'}"
                    pv = med.get((w, best, pm))
                else:
                    pv = med.get((w, peer, pm))
                wv = med.get((w, row, m))
                unit = units.get((w, row, m), "")
                r = ratio(wv, pv, unit) if wv and pv else None
                state = ("met" if r >= minimum else "missed") if r else "NA"
                line = (f"- {m}: {text} ({peer}): ratio "
                        f"{r:.2f}x -> **{state}**" if r else
                        f"- {m}: {text} ({peer}): NA")
                md.append(line)
                summary.append(f"goal {w} {m} {text}: {state}")
            md.append("")
        if notes:
            md += [notes, ""]
        errs = [(k, e) for k, e in errors.items() if k[0] == w]
        if errs:
            md += ["Not measured:", ""]
            md += [f"- {label}: {e}" for (_, label), e in sorted(errs)]
            md.append("")
    if old:  # the kept workloads' lines, then this run's
        spreads = [line for line in old["spreads"]
                   if line.split()[2] not in args.workloads] + spreads
    md += ["## Spread", "", "Per program and pass: min, max and every "
           "timed run.", "", "```"] + spreads + ["```", ""]
    return {"markdown": "\n".join(md), "summary": "\n".join(summary)}


# The modules the Python peers import beyond the standard library: all of
# them (redis for W10's redis-py peer), else all but redis (only that peer
# is then NA).
PY_MODULES = ("gevent", "uvloop", "greenlet", "redis")
PY_MODULES_BUT_REDIS = ("gevent", "uvloop", "greenlet")


def pick_python():
    """The Python of every Python peer (BENCH.md): $PY, else the first
    python3 on PATH that can import PY_MODULES, else the first that can
    import PY_MODULES_BUT_REDIS, else the first python3 on PATH (the peers
    needing a missing module are then NA)."""
    if os.environ.get("PY"):
        return os.environ["PY"]
    exes, seen = [], set()
    for d in os.environ.get("PATH", "").split(os.pathsep):
        exe = os.path.join(d or ".", "python3")
        if not os.path.isfile(exe) or not os.access(exe, os.X_OK):
            continue
        if os.path.realpath(exe) in seen:
            continue
        seen.add(os.path.realpath(exe))
        exes.append(exe)

    def imports(exe, modules):
        try:
            return subprocess.run(
                [exe, "-c", "import " + ", ".join(modules)],
                capture_output=True, timeout=TIMEOUT).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    for modules in (PY_MODULES, PY_MODULES_BUT_REDIS):
        for exe in exes:
            if imports(exe, modules):
                return exe
    return exes[0] if exes else "python3"


PY = None  # set by main: pick_python()

if __name__ == "__main__":
    main()

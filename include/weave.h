/*
 * weave.h - Python's concurrency toolbox in C.  Includes every layer.
 *
 *   weave/core.h        errors, deadlines and time, allocator hook, CPU
 *                       count
 *   weave/sync.h        threading: Thread, Lock, RLock, Condition,
 *                       Semaphore, Event, Barrier, once, local, Timer
 *   weave/queue.h       queue.Queue / LifoQueue / PriorityQueue, futures
 *   weave/ipc.h         multiprocessing's Pipe, Queue, shared memory,
 *                       Value, Array and process-shared primitives
 *   weave/proc.h        multiprocessing.Process, the fork server, os.fork
 *   weave/pool.h        multiprocessing.Pool and ThreadPool
 *   weave/subprocess.h  subprocess: Popen, communicate, run, check_output
 *   weave/coro.h        coroutines, groups, the scheduler, wv_fdwait
 *   weave/net.h         sockets: TCP (Happy Eyeballs), Unix, UDP,
 *                       sendfile, name resolution with deadlines
 *   weave/chan.h        Go's channels: send, receive, close, select
 *   weave/stream.h      asyncio's streams: buffered reads (readline,
 *                       read_until, read_exactly) and writes with
 *                       back-pressure over a socket or pipe
 */
#ifndef WEAVE_H
#define WEAVE_H

#include "weave/chan.h"
#include "weave/core.h"
#include "weave/coro.h"
#include "weave/ipc.h"
#include "weave/manager.h"
#include "weave/net.h"
#include "weave/obj.h"
#include "weave/pool.h"
#include "weave/proc.h"
#include "weave/queue.h"
#include "weave/stream.h"
#include "weave/subprocess.h"
#include "weave/sync.h"
#include "weave/tls.h"

#endif /* WEAVE_H */

/*
 * weave/core.h - errors, time and deadlines, the allocator hook, CPU count.
 *
 * Everything else in weave builds on the conventions fixed here:
 *
 *  - Errors.  A function that can fail returns 0 on success or a negative
 *    WV_E* code.  Where an errno value exists, WV_EFOO == -EFOO, so a code
 *    from a failed system call passes through unchanged.  Codes with no
 *    errno counterpart live below -4000.  No weave function reads or sets
 *    errno.  wv_strerror() and wv_err_name() describe any code.
 *
 *  - Deadlines.  Every call that can block takes an int64_t deadline:
 *    absolute milliseconds on the monotonic clock of wv_now().
 *        -1  wait forever (WV_FOREVER);
 *         0  do not wait (WV_NOWAIT): a call that would block returns
 *            WV_EAGAIN at once and has no effect;
 *      > 0  wait until wv_now() >= deadline, then return WV_ETIMEDOUT.
 *    A deadline already in the past behaves like one that just expired:
 *    the call still succeeds if it can do so without waiting.  Any other
 *    negative value is WV_EINVAL (reported only when the call has to wait).
 *    Build deadlines with wv_deadline_in(ms).
 *
 *  - Memory.  All of weave's heap memory goes through the allocator set with
 *    wv_set_allocator(); a failed allocation is reported as WV_ENOMEM and
 *    leaves every object as it was before the call.
 */
#ifndef WEAVE_CORE_H
#define WEAVE_CORE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define WV_EXTERN __attribute__((visibility("default")))
#else
#define WV_EXTERN
#endif

#define WV_VERSION_MAJOR 1
#define WV_VERSION_MINOR 0
#define WV_VERSION_PATCH 0

/* The library's version as "MAJOR.MINOR.PATCH". */
WV_EXTERN const char *wv_version(void);

/* ------------------------------------------------------------------ errors */

/*
 * The one error table: XX(NAME, value, message).  Codes equal to -errno come
 * first; weave's own codes (no errno equivalent) follow, below -4000.
 */
#define WV_ERRNO_MAP(XX)                                                       \
    XX(EPERM, -EPERM, "operation not permitted")                               \
    XX(ENOENT, -ENOENT, "no such file or directory")                           \
    XX(ESRCH, -ESRCH, "no such process")                                       \
    XX(EINTR, -EINTR, "interrupted system call")                               \
    XX(EIO, -EIO, "i/o error")                                                 \
    XX(E2BIG, -E2BIG, "argument list too long")                                \
    XX(ENOEXEC, -ENOEXEC, "exec format error")                                 \
    XX(EBADF, -EBADF, "bad file descriptor")                                   \
    XX(ECHILD, -ECHILD, "no child processes")                                  \
    XX(EAGAIN, -EAGAIN, "resource temporarily unavailable")                    \
    XX(ENOMEM, -ENOMEM, "not enough memory")                                   \
    XX(EACCES, -EACCES, "permission denied")                                   \
    XX(EFAULT, -EFAULT, "bad address")                                         \
    XX(EBUSY, -EBUSY, "resource busy")                                         \
    XX(EEXIST, -EEXIST, "already exists")                                      \
    XX(ENOTDIR, -ENOTDIR, "not a directory")                                   \
    XX(EISDIR, -EISDIR, "is a directory")                                      \
    XX(EINVAL, -EINVAL, "invalid argument")                                    \
    XX(ENFILE, -ENFILE, "file table overflow")                                 \
    XX(EMFILE, -EMFILE, "too many open files")                                 \
    XX(ETXTBSY, -ETXTBSY, "text file busy")                                    \
    XX(ENOSPC, -ENOSPC, "no space left on device")                             \
    XX(ESPIPE, -ESPIPE, "invalid seek")                                        \
    XX(EPIPE, -EPIPE, "broken pipe: the peer went away")                       \
    XX(ERANGE, -ERANGE, "result out of range")                                 \
    XX(EDEADLK, -EDEADLK, "resource deadlock avoided")                         \
    XX(ENAMETOOLONG, -ENAMETOOLONG, "name too long")                           \
    XX(ENOSYS, -ENOSYS, "function not implemented")                            \
    XX(ELOOP, -ELOOP, "too many symbolic links")                               \
    XX(EOVERFLOW, -EOVERFLOW, "value too large: called too many times")        \
    XX(EPROTO, -EPROTO, "protocol error")                                      \
    XX(EMSGSIZE, -EMSGSIZE, "message too long")                                \
    XX(ENOTSUP, -ENOTSUP, "operation not supported")                           \
    XX(ENOTSOCK, -ENOTSOCK, "not a socket")                                    \
    XX(EAFNOSUPPORT, -EAFNOSUPPORT, "address family not supported")            \
    XX(EISCONN, -EISCONN, "socket is already connected")                       \
    XX(ENETDOWN, -ENETDOWN, "network is down")                                 \
    XX(EADDRINUSE, -EADDRINUSE, "address already in use")                      \
    XX(EADDRNOTAVAIL, -EADDRNOTAVAIL, "address not available")                 \
    XX(ENETUNREACH, -ENETUNREACH, "network is unreachable")                    \
    XX(ECONNABORTED, -ECONNABORTED, "connection aborted")                      \
    XX(ECONNRESET, -ECONNRESET, "connection reset by peer")                    \
    XX(ENOTCONN, -ENOTCONN, "socket is not connected")                         \
    XX(ESHUTDOWN, -ESHUTDOWN, "shut down: no more operations accepted")        \
    XX(ETIMEDOUT, -ETIMEDOUT, "deadline expired")                              \
    XX(ECONNREFUSED, -ECONNREFUSED, "connection refused")                      \
    XX(EHOSTUNREACH, -EHOSTUNREACH, "host is unreachable")                     \
    XX(EALREADY, -EALREADY, "already done")                                    \
    XX(EINPROGRESS, -EINPROGRESS, "operation in progress")                     \
    XX(ECANCELED, -ECANCELED, "operation canceled")                            \
    XX(EOWNERDEAD, -EOWNERDEAD, "previous owner died: state may need repair")  \
    XX(ENOTRECOVERABLE, -ENOTRECOVERABLE, "state not recoverable")             \
    XX(EOF, -4095, "end of stream: nothing more will come")                    \
    XX(EBROKEN, -4094, "broken: the barrier or pool can no longer be used")    \
    XX(EWORKERLOST, -4093, "worker died while holding the task")               \
    XX(ECALLEDPROCESS, -4092, "child exited with a nonzero returncode")        \
    XX(EAI_NONAME, -4091, "name or service not known")                         \
    XX(EAI_AGAIN, -4090, "temporary failure in name resolution")               \
    XX(EAI_FAIL, -4089, "name resolution failed for good")                     \
    XX(ELIMIT, -4088, "limit reached: no delimiter within the limit")          \
    XX(ECERT, -4087, "certificate verification failed")                        \
    XX(EAUTH, -4086, "authentication failed: wrong key, or not a peer")        \
    XX(EREMOTE, -4085, "the remote side reported an error")                    \
    XX(EINDOUBT, -4084,                                                        \
       "in doubt: the connection broke after the request was sent")

enum {
#define WV__ERR_ENUM(name, value, msg) WV_##name = (value),
    WV_ERRNO_MAP(WV__ERR_ENUM)
#undef WV__ERR_ENUM
};

/*
 * A static, human-readable message for err ("deadline expired" for
 * WV_ETIMEDOUT).  0 gives "success"; a value that is no WV_E* code gives
 * "unknown error".  Never returns NULL.
 */
WV_EXTERN const char *wv_strerror(int err);

/*
 * The constant's name for err ("WV_ETIMEDOUT").  0 gives "WV_OK"; a value
 * that is no WV_E* code gives "WV_UNKNOWN".  Never returns NULL.
 */
WV_EXTERN const char *wv_err_name(int err);

/* -------------------------------------------------------- time, deadlines */

#define WV_FOREVER ((int64_t)-1)
#define WV_NOWAIT  ((int64_t)0)

/*
 * Milliseconds on the monotonic clock (CLOCK_MONOTONIC), the clock of every
 * deadline.  Always > 0.  Never fails.
 */
WV_EXTERN int64_t wv_now(void);

/*
 * The deadline `ms` milliseconds from now: wv_now() + ms, saturating at
 * INT64_MAX.  A negative `ms` gives WV_FOREVER, so a Python-style
 * "timeout=None" can be passed as -1 straight through.
 */
WV_EXTERN int64_t wv_deadline_in(int64_t ms);

/*
 * Blocks the caller until `deadline` (Python's time.sleep with an absolute
 * end).  Through the waiter abstraction: called from a coroutine, only the
 * coroutine sleeps.  Returns 0 once the deadline has passed (at once for a
 * deadline <= wv_now(), including 0); WV_EINVAL for WV_FOREVER or another
 * negative deadline; WV_ECANCELED if the calling coroutine is cancelled.
 */
WV_EXTERN int wv_sleep_until(int64_t deadline);

/* wv_sleep_until(wv_deadline_in(ms)); ms < 0 is WV_EINVAL. */
WV_EXTERN int wv_sleep_ms(int64_t ms);

/* ---------------------------------------------------------------- memory */

typedef void *(*wv_malloc_fn)(size_t size);
typedef void *(*wv_realloc_fn)(void *ptr, size_t size);
typedef void *(*wv_calloc_fn)(size_t count, size_t size);
typedef void (*wv_free_fn)(void *ptr);

/*
 * Routes all of weave's heap allocations through the given functions, which
 * must behave like their libc namesakes (and be thread-safe).  Passing four
 * NULLs restores libc's.  Call it before any other weave function, or at a
 * point where no weave object is alive: memory is always freed through the
 * hook that is current at the time.  Returns 0, or WV_EINVAL when only some
 * of the four are NULL.
 */
WV_EXTERN int wv_set_allocator(wv_malloc_fn malloc_fn, wv_realloc_fn realloc_fn,
                               wv_calloc_fn calloc_fn, wv_free_fn free_fn);

/*
 * Frees memory that a weave call handed to the caller to free (its
 * documentation says so: wv_pickle_dumps, wv_obj_repr), through the
 * allocator hook.  NULL is a no-op.
 */
WV_EXTERN void wv_free(void *p);

/* ------------------------------------------------------------------ misc */

/*
 * The number of CPUs this process may run on (its affinity mask, so
 * `taskset` and cpusets are respected), at least 1.  The default size of
 * pools.  Never fails.
 */
WV_EXTERN int wv_cpu_count(void);

#ifdef __cplusplus
}
#endif
#endif /* WEAVE_CORE_H */

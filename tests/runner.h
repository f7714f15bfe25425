/*
 * tests/runner.h - weave's test runner.
 *
 * A test program defines cases with WVT_TEST(name) { ... }; runner.c holds
 * main().  `prog --list` prints the cases (CTest registers each one as a
 * test of its own), `prog NAME...` runs the named cases, `prog` runs all.
 * Every case runs in a forked child, in a process group of its own, with a
 * timeout; the child fails the case if it leaks file descriptors, threads
 * or child processes, and the parent fails it if any process of its group
 * outlives it.  Assertions print file:line and end the child.
 *
 * Waiting in a test is a bounded poll (WVT_POLL) or a barrier, never a
 * sleep that hopes a race went one way.
 */
#ifndef WVT_RUNNER_H
#define WVT_RUNNER_H

#include "weave.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct wvt_case {
    const char *name;
    void (*fn)(void);
    int timeout_s;
    struct wvt_case *next;
} wvt_case_t;

void wvt_register(wvt_case_t *c);

#define WVT_TEST_TIMEOUT(name, secs)                                           \
    static void wvt_fn_##name(void);                                           \
    static wvt_case_t wvt_case_##name = {#name, wvt_fn_##name, (secs), NULL};  \
    __attribute__((constructor)) static void wvt_reg_##name(void)              \
    {                                                                          \
        wvt_register(&wvt_case_##name);                                        \
    }                                                                          \
    static void wvt_fn_##name(void)

#define WVT_TEST(name) WVT_TEST_TIMEOUT(name, 30)

__attribute__((noreturn, format(printf, 3, 4))) void
wvt_fail(const char *file, int line, const char *fmt, ...);

#define WVT_FAIL(...) wvt_fail(__FILE__, __LINE__, __VA_ARGS__)

#define WVT_ASSERT(cond)                                                       \
    do {                                                                       \
        if (!(cond))                                                           \
            WVT_FAIL("assertion failed: %s", #cond);                           \
    } while (0)

#define WVT_CMP(a, op, b)                                                      \
    do {                                                                       \
        long long wvt_a_ = (long long)(a), wvt_b_ = (long long)(b);            \
        if (!(wvt_a_ op wvt_b_))                                               \
            WVT_FAIL("%s %s %s: %lld vs %lld", #a, #op, #b, wvt_a_, wvt_b_);   \
    } while (0)

#define WVT_EQ(a, b) WVT_CMP(a, ==, b)
#define WVT_NE(a, b) WVT_CMP(a, !=, b)
#define WVT_LT(a, b) WVT_CMP(a, <, b)
#define WVT_LE(a, b) WVT_CMP(a, <=, b)
#define WVT_GT(a, b) WVT_CMP(a, >, b)
#define WVT_GE(a, b) WVT_CMP(a, >=, b)

/* expr must return 0. */
#define WVT_OK(expr)                                                           \
    do {                                                                       \
        int wvt_e_ = (expr);                                                   \
        if (wvt_e_ != 0)                                                       \
            WVT_FAIL("%s: %s (%d)", #expr, wv_err_name(wvt_e_), wvt_e_);       \
    } while (0)

/* expr must return exactly err. */
#define WVT_ERR(expr, err)                                                     \
    do {                                                                       \
        int wvt_e_ = (expr), wvt_x_ = (err);                                   \
        if (wvt_e_ != wvt_x_)                                                  \
            WVT_FAIL("%s: expected %s, got %s (%d)", #expr,                    \
                     wv_err_name(wvt_x_), wv_err_name(wvt_e_), wvt_e_);        \
    } while (0)

/* Polls cond until true, failing after ms milliseconds. */
#define WVT_POLL(cond, ms)                                                     \
    do {                                                                       \
        int64_t wvt_end_ = wv_now() + (ms);                                    \
        while (!(cond)) {                                                      \
            if (wv_now() > wvt_end_)                                           \
                WVT_FAIL("not reached within %d ms: %s", (int)(ms), #cond);    \
            wvt_pause();                                                       \
        }                                                                      \
    } while (0)

/* A short pause for poll loops (yields, then naps 100 us). */
void wvt_pause(void);

/* Iterations for stress loops: 4n in release builds, n/2 (at least 1) in
 * the sanitizer builds, which are 5-15x slower. */
long wvt_scale(long n);

/* true in ASan/UBSan or TSan builds. */
bool wvt_sanitized(void);

/* --------------------------------------------------------- threads */

/* Runs fn(i, arg) for i in [0, n) on n raw pthreads (not weave's, so that
 * primitives are tested independently of wv_thread) and joins them. */
void wvt_run_threads(int n, void (*fn)(int i, void *arg), void *arg);

/* A raw pthread running fn(arg), to be joined with wvt_join. */
typedef struct wvt_thread wvt_thread_t;
wvt_thread_t *wvt_spawn(void (*fn)(void *arg), void *arg);
void wvt_join(wvt_thread_t *t);
pthread_t wvt_pthread(const wvt_thread_t *t);

/* --------------------------------------------------- fault injection */

/*
 * A counting allocator installed with wv_set_allocator.  While installed,
 * wvt_alloc_live() is the number of weave allocations not yet freed, and
 * wvt_alloc_fail_at(n) makes the n-th allocation from now fail (n = 1:
 * the next one); 0 disarms it.
 */
void wvt_alloc_install(void);
void wvt_alloc_uninstall(void);
void wvt_alloc_fail_at(long n);
long wvt_alloc_live(void);
long wvt_alloc_count(void); /* allocation attempts since install */

/*
 * Systematic fault injection (SQLite's do_faultsim_test): runs fn(arg)
 * with the 1st, then the 2nd, ... allocation failing, until a run meets no
 * injected failure.  Each faulted run must return WV_ENOMEM and leave no
 * live allocation behind; the last run must return 0.  fn must undo its
 * own work on success (free what it created) so runs are independent.
 * Returns the number of allocation points exercised.
 */
long wvt_faultsim(int (*fn)(void *arg), void *arg);

#endif /* WVT_RUNNER_H */

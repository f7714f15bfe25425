/*
 * core/time.c - the monotonic clock of all deadlines, and sleeping.
 *
 * wv_now() truncates CLOCK_MONOTONIC to milliseconds; the futex helper turns
 * a deadline back into an absolute CLOCK_MONOTONIC timespec, so a wait ends
 * when wv_now() first reaches the deadline, never earlier.
 */
#include "internal.h"

#include <time.h>

int64_t wv_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return ms > 0 ? ms : 1; /* 0 means "do not wait": never hand it out */
}

bool wv__deadline_timespec(int64_t deadline, struct timespec *ts)
{
    if (deadline < 0 || deadline >= ((int64_t)1 << 50))
        return false;
    ts->tv_sec = deadline / 1000;
    ts->tv_nsec = (deadline % 1000) * 1000000;
    return true;
}

int wv__deadline_timeout_ms(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t left = deadline - wv_now();
    return left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

int64_t wv_deadline_in(int64_t ms)
{
    if (ms < 0)
        return WV_FOREVER;
    int64_t now = wv_now();
    return ms > INT64_MAX - now ? INT64_MAX : now + ms;
}

int wv_sleep_until(int64_t deadline)
{
    if (deadline < 0)
        return WV_EINVAL;
    if (deadline <= wv_now())
        return 0;

    /* Park on a key nobody else knows: only the deadline ends the wait.
     * A coroutine's waiter kind turns this into a timer on its loop. */
    char key;
    wv__park_req_t req = {.key = &key, .deadline = deadline};
    uintptr_t token;
    int err = wv__park(&req, &token);

    WV__ASSERT(err != 0 && err != WV_EAGAIN);
    return err == WV_ETIMEDOUT ? 0 : err;
}

int wv_sleep_ms(int64_t ms)
{
    if (ms < 0)
        return WV_EINVAL;
    return wv_sleep_until(wv_deadline_in(ms));
}

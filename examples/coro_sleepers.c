/*
 * 100,000 coroutines alive at once, each sleeping a random few
 * milliseconds, all joined: what gevent and asyncio make of "many cheap
 * concurrent waits" (the tutorials' coroutine notes: user-level threads
 * with their own registers and stack, switched by the program, on one
 * thread).
 *
 *     async def nap(i):
 *         await asyncio.sleep(random.uniform(0.002, 0.021))
 *     async def main():
 *         async with asyncio.TaskGroup() as tg:
 *             for i in range(100_000):
 *                 tg.create_task(nap(i))
 *
 * Every coroutine here has a real stack of its own (256 KiB reserved, one
 * page touched) with a guard page below it.
 *
 * "All alive at once" is made to hold whatever the timing: a coroutine
 * whose sleep ends (or, its thread preempted for longer than the sleep,
 * ends before it began) waits for the last one to start before it
 * returns.  Counting the sleepers themselves would be a timing claim:
 * under load the first 2 ms sleep can be over before the 100,000th
 * coroutine starts.
 */
#include <weave.h>

#include <stdio.h>
#include <stdlib.h>

#define N 100000

static long started, woke, alive, peak;
static wv_event_t all_started = WV_EVENT_INIT; /* the last one started */

static void *nap(void *arg)
{
    alive++;
    if (alive > peak)
        peak = alive;
    if (++started == N)
        wv_event_set(&all_started);
    int err = wv_sleep_ms((long)(intptr_t)arg);
    if (err == 0)
        err = wv_event_wait(&all_started, WV_FOREVER);
    if (err == 0)
        woke++;
    alive--;
    return NULL;
}

static long rss_kib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * 4;
}

int main(void)
{
    wv_group_t *g;
    unsigned seed = 42;
    int err = wv_group_new(&g);

    if (err) {
        fprintf(stderr, "group: %s\n", wv_strerror(err));
        return 1;
    }
    long before = rss_kib();
    int64_t t0 = wv_now();
    for (int i = 0; i < N; i++) {
        seed = seed * 1103515245u + 12345u;
        long ms = 2 + (long)((seed >> 16) % 20); /* 2..21 ms */
        err = wv_group_spawn(g, NULL, nap, (void *)(intptr_t)ms);
        if (err) {
            fprintf(stderr, "spawn %d: %s\n", i, wv_strerror(err));
            return 1;
        }
    }
    printf("spawned %d coroutines\n", N);
    /* Run them until every one has started (and parked). */
    while (wv_coro_run(0) == WV_EAGAIN && started < N)
        ;
    long during = rss_kib();
    err = wv_group_join(g, wv_deadline_in(60000));
    int64_t elapsed = wv_now() - t0;
    wv_group_free(g);
    if (err) {
        fprintf(stderr, "join: %s\n", wv_strerror(err));
        return 1;
    }
    printf("%ld alive at once at the peak\n", peak);
    printf("all %ld woke and were joined\n", woke);
    fprintf(stderr, "%lld ms, about %ld bytes per sleeping coroutine\n",
            (long long)elapsed, (during - before) * 1024 / N);
    return woke == N && peak == N ? 0 : 1;
}

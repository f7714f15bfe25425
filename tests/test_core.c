/*
 * tests/test_core.c - errors, time and deadlines, allocator hook, CPU count,
 * the EINTR-retrying I/O helpers, the shared heap and list.
 */
#include "core/heap.h"
#include "core/internal.h"
#include "core/io.h"
#include "runner.h"

#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

WVT_TEST(err_table)
{
    static const struct {
        int code;
        const char *name;
    } all[] = {
#define X(name, value, msg) {WV_##name, "WV_" #name},
        WV_ERRNO_MAP(X)
#undef X
    };
    size_t n = sizeof all / sizeof all[0];

    for (size_t i = 0; i < n; i++) {
        WVT_LT(all[i].code, 0);
        WVT_ASSERT(strcmp(wv_err_name(all[i].code), all[i].name) == 0);
        WVT_ASSERT(strcmp(wv_strerror(all[i].code), "unknown error") != 0);
        for (size_t j = i + 1; j < n; j++)
            WVT_NE(all[i].code, all[j].code);
    }
    /* Codes with an errno are -errno, so system errors pass through. */
    WVT_EQ(WV_EPERM, -EPERM);
    WVT_EQ(WV_EAGAIN, -EAGAIN);
    WVT_EQ(WV_ETIMEDOUT, -ETIMEDOUT);
    WVT_EQ(WV_ECANCELED, -ECANCELED);
    WVT_EQ(WV_EOWNERDEAD, -EOWNERDEAD);
    /* weave's own codes stay clear of errno values. */
    WVT_LT(WV_EOF, -4000);
    WVT_LT(WV_EBROKEN, -4000);
    WVT_LT(WV_EWORKERLOST, -4000);
    WVT_ASSERT(strcmp(wv_strerror(0), "success") == 0);
    WVT_ASSERT(strcmp(wv_err_name(0), "WV_OK") == 0);
    WVT_ASSERT(strcmp(wv_strerror(-123456), "unknown error") == 0);
    WVT_ASSERT(strcmp(wv_err_name(-123456), "WV_UNKNOWN") == 0);
    WVT_ASSERT(strcmp(wv_err_name(5), "WV_UNKNOWN") == 0);
    WVT_ASSERT(strcmp(wv_strerror(WV_ETIMEDOUT), "deadline expired") == 0);
}

WVT_TEST(version_string)
{
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", WV_VERSION_MAJOR, WV_VERSION_MINOR,
             WV_VERSION_PATCH);
    WVT_ASSERT(strcmp(wv_version(), want) == 0);
}

WVT_TEST(time_now_monotonic)
{
    int64_t prev = wv_now();
    WVT_GT(prev, 0);
    for (int i = 0; i < 100000; i++) {
        int64_t t = wv_now();
        WVT_GE(t, prev);
        prev = t;
    }
}

WVT_TEST(time_deadline_in)
{
    WVT_EQ(wv_deadline_in(-1), WV_FOREVER);
    WVT_EQ(wv_deadline_in(-1000), WV_FOREVER);
    int64_t now = wv_now();
    int64_t d = wv_deadline_in(1000);
    WVT_GE(d, now + 1000);
    WVT_LE(d, wv_now() + 1000);
    WVT_EQ(wv_deadline_in(INT64_MAX), INT64_MAX);
    WVT_EQ(wv_deadline_in(INT64_MAX - 1), INT64_MAX);
}

WVT_TEST(time_sleep)
{
    int64_t t0 = wv_now();
    WVT_OK(wv_sleep_ms(20));
    /* A sleep never ends before its deadline (an upper bound would be a
     * timing claim, which belongs in benchmarks). */
    WVT_GE(wv_now(), t0 + 20);

    int64_t deadline = wv_now() + 15;
    WVT_OK(wv_sleep_until(deadline));
    WVT_GE(wv_now(), deadline);

    WVT_OK(wv_sleep_until(0)); /* already passed: at once */
    WVT_OK(wv_sleep_until(1));
    WVT_OK(wv_sleep_ms(0));
    WVT_ERR(wv_sleep_ms(-1), WV_EINVAL);
    WVT_ERR(wv_sleep_until(WV_FOREVER), WV_EINVAL);
    WVT_ERR(wv_sleep_until(-7), WV_EINVAL);
}

WVT_TEST(time_sleep_eintr)
{
    /* Interrupted futex waits are retried up to the same deadline. */
    wv__fault_futex_eintr(50);
    int64_t deadline = wv_now() + 10;
    WVT_OK(wv_sleep_until(deadline));
    WVT_GE(wv_now(), deadline);
    wv__fault_futex_eintr(0);
}

static int counted_malloc_calls;
static void *my_malloc(size_t n)
{
    __atomic_add_fetch(&counted_malloc_calls, 1, __ATOMIC_RELAXED);
    return malloc(n);
}
static void *my_calloc(size_t c, size_t n)
{
    __atomic_add_fetch(&counted_malloc_calls, 1, __ATOMIC_RELAXED);
    return calloc(c, n);
}

WVT_TEST(alloc_hook)
{
    WVT_ERR(wv_set_allocator(malloc, NULL, NULL, NULL), WV_EINVAL);
    WVT_ERR(wv_set_allocator(NULL, realloc, calloc, free), WV_EINVAL);
    WVT_OK(wv_set_allocator(my_malloc, realloc, my_calloc, free));

    wv_queue_t *q;
    WVT_OK(wv_queue_new(&q, NULL));
    WVT_GT(counted_malloc_calls, 0);
    wv_queue_free(q);
    WVT_OK(wv_set_allocator(NULL, NULL, NULL, NULL));

    int before = counted_malloc_calls;
    WVT_OK(wv_queue_new(&q, NULL));
    wv_queue_free(q);
    WVT_EQ(counted_malloc_calls, before); /* libc's again */
}

WVT_TEST(alloc_counting_allocator)
{
    /* The harness's own allocator: live counts balance, failures land. */
    wvt_alloc_install();
    wv_queue_t *q;
    WVT_OK(wv_queue_new(&q, NULL));
    WVT_GT(wvt_alloc_live(), 0);
    wv_queue_free(q);
    WVT_EQ(wvt_alloc_live(), 0);
    wvt_alloc_fail_at(1);
    WVT_ERR(wv_queue_new(&q, NULL), WV_ENOMEM);
    WVT_EQ(wvt_alloc_live(), 0);
    wvt_alloc_uninstall();
}

WVT_TEST(cpu_count)
{
    cpu_set_t set;
    WVT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
    WVT_EQ(wv_cpu_count(), CPU_COUNT(&set));
    WVT_GE(wv_cpu_count(), 1);

    /* Affinity is respected (taskset): restrict to the first CPU we have. */
    int first = 0;
    while (!CPU_ISSET(first, &set))
        first++;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    WVT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
    WVT_EQ(wv_cpu_count(), 1);
    WVT_EQ(sched_setaffinity(0, sizeof set, &set), 0);
}

static int take_with_huge_deadline(void *p)
{
    int err = wv_lock_acquire(p, INT64_MAX);
    return err ? err : wv_lock_release(p);
}

WVT_TEST(time_huge_deadlines)
{
    /* Deadlines at the far end of int64 are waits like any other. */
    wv_lock_t l = WV_LOCK_INIT;
    wv_thread_t *t;
    int result = -1;
    WVT_OK(wv_lock_acquire(&l, WV_FOREVER));
    WVT_OK(wv_thread_start(&t, NULL, take_with_huge_deadline, &l));
    WVT_POLL(wv__parked_count(&l) == 1, 5000);
    WVT_OK(wv_lock_release(&l));
    WVT_OK(wv_thread_join(t, &result, INT64_MAX));
    WVT_OK(result);
    wv_thread_free(t);
    wv_event_t e = WV_EVENT_INIT;
    WVT_ERR(wv_event_wait(&e, wv_now() + 5), WV_ETIMEDOUT);
    wv_event_set(&e);
    WVT_OK(wv_event_wait(&e, INT64_MAX - 1));
}

WVT_TEST(io_eintr_retried)
{
    /* The I/O helpers retry EINTR and report errors as -errno. */
    int p[2];
    char buf[4] = {0};
    WVT_ASSERT(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
    wv__fault_io_eintr(3);
    WVT_EQ(wv__write(p[1], "abc", 3), 3);
    wv__fault_io_eintr(3);
    WVT_EQ(wv__read(p[0], buf, sizeof buf), 3);
    WVT_ASSERT(memcmp(buf, "abc", 3) == 0);
    WVT_EQ(wv__read(p[0], buf, sizeof buf), WV_EAGAIN);
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    wv__fault_io_eintr(5);
    WVT_EQ(wv__poll(&pfd, 1, 0), 0); /* a look, nothing there */
    int64_t deadline = wv_now() + 10;
    wv__fault_io_eintr(5);
    WVT_EQ(wv__poll(&pfd, 1, deadline), 0);
    WVT_GE(wv_now(), deadline);
    wv__fault_io_eintr(0);
    WVT_EQ(wv__write(-1, "x", 1), WV_EBADF);
    close(p[0]);
    close(p[1]);
}

WVT_TEST(deadline_would_wait)
{
    WVT_EQ(wv__would_wait(WV_FOREVER), 0);
    WVT_EQ(wv__would_wait(1), 0);
    WVT_EQ(wv__would_wait(WV_NOWAIT), WV_EAGAIN);
    WVT_EQ(wv__would_wait(-2), WV_EINVAL);
    WVT_EQ(wv__would_wait(INT64_MIN), WV_EINVAL);
}

struct item {
    int key;
    size_t idx; /* position in the heap */
    wv__list_node_t link;
};

static inline bool item_before(const void *ctx, struct item *const *a,
                               struct item *const *b)
{
    (void)ctx;
    return (*a)->key < (*b)->key;
}

static inline void item_moved(const void *ctx, struct item **h, size_t i)
{
    (void)ctx;
    h[i]->idx = i;
}

WV__HEAP_DEFINE(item_heap, struct item *, item_before, item_moved)

WVT_TEST(heap_order)
{
    /* Pushes, removals from the middle (by back-pointer) and pops keep
     * the order and the indices right. */
    enum { N = 200 };
    static struct item items[N];
    struct item *h[N];
    size_t n = 0;
    unsigned seed = 12345;

    for (int i = 0; i < N; i++) {
        seed = seed * 1103515245 + 12345;
        items[i].key = (int)(seed >> 16) % 1000;
        item_heap_push(NULL, h, n++, &items[i]);
    }
    for (int i = 0; i < N; i += 3) /* take every third out */
        item_heap_remove(NULL, h, n--, items[i].idx);
    for (size_t i = 0; i < n; i++)
        WVT_EQ(h[i]->idx, i);
    int last = -1;
    while (n) {
        struct item *top = h[0];
        item_heap_remove(NULL, h, n--, 0);
        WVT_GE(top->key, last);
        last = top->key;
    }
}

WVT_TEST(list_ops)
{
    struct item a = {.key = 1}, b = {.key = 2}, c = {.key = 3};
    wv__list_t l = WV__LIST_INIT;
    int sum = 0;

    WVT_ASSERT(wv__list_empty(&l));
    wv__list_insert_tail(&l, &b.link);
    wv__list_insert_head(&l, &a.link);
    wv__list_insert_tail(&l, &c.link);
    WVT_EQ(wv__list_entry(wv__list_first(&l), struct item, link)->key, 1);
    wv__list_foreach(it, &l)
        sum = sum * 10 + wv__container_of(it, struct item, link)->key;
    WVT_EQ(sum, 123);
    wv__list_remove(&l, &b.link);
    WVT_ASSERT(b.link.next == NULL && b.link.prev == NULL);
    wv__list_foreach_safe(it, &l)
        wv__list_remove(&l, it);
    WVT_ASSERT(wv__list_empty(&l));
    WVT_ASSERT(l.last == NULL);
}

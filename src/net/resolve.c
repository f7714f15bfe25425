/*
 * net/resolve.c - wv_getaddrinfo: name resolution that never blocks a
 * coroutine's thread, with a deadline.
 *
 * Numeric hosts (and NULL ones) with numeric services are resolved in
 * the caller at once: getaddrinfo with AI_NUMERICHOST | AI_NUMERICSERV
 * never waits.  Anything else is a lookup record queued for a small set
 * of resolver threads, which run the system's getaddrinfo (so
 * /etc/hosts, nsswitch.conf, mDNS and the rest work as for every other
 * program) and set the record's Event; the caller waits on that Event
 * with its deadline (a coroutine parks; its thread runs the others).
 *
 * Lifetime of a record: two references, the caller's and the resolver's.
 * A caller whose deadline passes (or that is cancelled) marks the record
 * abandoned and drops its reference at once; the resolver skips an
 * abandoned record it has not started, and otherwise finishes the
 * lookup and, as the last holder, frees the answer with the record.  So
 * a time-out returns promptly and leaks nothing.
 *
 * Threads: at most MAX_THREADS, started on demand when no idle one is
 * there, each exiting after IDLE_MS without work (a program that stops
 * resolving keeps no thread).  They block every signal.  After fork the
 * child starts with none (pthread_atfork), its queue empty.
 *
 * Lock order: `lock` protects the queue and the thread counts; nothing
 * else is taken while it is held.  It is taken without cancellation (a
 * cancelled coroutine must still queue or count out consistently; the
 * sections are a few stores long).
 *
 * Rejected: c-ares.  It would resolve on the caller's own loop without a
 * thread, but it is a new mandatory dependency (DESIGN.md allows libc,
 * pthreads and libcrypto), and it reimplements the resolver: hosts
 * files, nsswitch modules (mDNS, LDAP, systemd-resolved's nss module),
 * and resolv.conf options would then behave differently from every
 * other program on the machine.  Rejected: weave's thread pool.  Its
 * workers are owned by a pool object that some caller must free, and a
 * process-wide pool would outlive everything; a dozen lines of queue
 * here are simpler.  Rejected: glibc's getaddrinfo_a.  It signals
 * completion through signals or a thread per request (SIGEV_THREAD),
 * cannot be abandoned without gai_cancel racing the notification, and
 * is glibc-only.  See docs/net.md.
 */
#include "internal.h"

#include "../sync/internal.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>

#define MAX_THREADS 8
#define IDLE_MS     500

struct lookup {
    struct lookup *next;   /* queue link [lock] */
    uint32_t refs;         /* 2 while caller and resolver both hold it */
    bool abandoned;        /* the caller left (atomic) */
    bool has_hints;        /* hints was given */
    struct addrinfo hints; /* the caller's hints (pointers cleared) */
    const char *host;      /* copies, in this allocation, or NULL */
    const char *service;
    int err;               /* the answer: 0 or a WV_E* code ... */
    wv_addrinfo_t *result; /* ... and the list (the holder's to free) */
    wv_event_t done;       /* set once err and result are final */
};

static struct {
    wv_lock_t lock;
    wv_cond_t work;             /* notified when a lookup is queued */
    struct lookup *head, *tail; /* queued lookups [lock] */
    unsigned threads;           /* resolver threads alive [lock] */
    unsigned idle;              /* of which waiting for work [lock] */
    unsigned queued;            /* lookups in the queue [lock] */
} R = {WV_LOCK_INIT, WV_COND_INIT, NULL, NULL, 0, 0, 0};

wv__gai_fn wv__gai_hook;

unsigned wv__resolver_threads(void)
{
    wv__lock_acquire_nocancel(&R.lock);
    unsigned n = R.threads;
    wv_lock_release(&R.lock);
    return n;
}

/* ------------------------------------------------------------ answers */

/* getaddrinfo's EAI_* code as a WV_E* code (sys_errno: errno after it). */
static int map_eai(int eai, int sys_errno)
{
    switch (eai) {
    case 0:
        return 0;
    case EAI_NONAME:
    case EAI_SERVICE:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
        return WV_EAI_NONAME;
    case EAI_AGAIN:
        return WV_EAI_AGAIN;
    case EAI_FAMILY:
    case EAI_SOCKTYPE:
    case EAI_BADFLAGS:
        return WV_EINVAL;
    case EAI_MEMORY:
        return WV_ENOMEM;
    case EAI_SYSTEM:
        return sys_errno > 0 ? -sys_errno : WV_EAI_FAIL;
    default: /* EAI_FAIL, EAI_OVERFLOW... */
        return WV_EAI_FAIL;
    }
}

/* res as one weave allocation (wv_addrinfo_free frees it): 0 or
 * WV_ENOMEM.  An empty answer is WV_EAI_NONAME. */
static int copy_answer(const struct addrinfo *res, wv_addrinfo_t **out)
{
    size_t n = 0, name = 0;
    for (const struct addrinfo *a = res; a; a = a->ai_next)
        if (a->ai_addr && a->ai_addrlen <= sizeof(struct sockaddr_storage))
            n++;
    if (n == 0)
        return WV_EAI_NONAME;
    if (res->ai_canonname)
        name = strlen(res->ai_canonname) + 1;
    wv_addrinfo_t *list = wv__calloc(1, n * sizeof *list + name);
    if (!list)
        return WV_ENOMEM;
    size_t k = 0;
    for (const struct addrinfo *a = res; a; a = a->ai_next) {
        if (!a->ai_addr || a->ai_addrlen > sizeof(struct sockaddr_storage))
            continue;
        wv_addrinfo_t *e = &list[k++];
        e->next = k < n ? &list[k] : NULL;
        e->family = a->ai_family;
        e->socktype = a->ai_socktype;
        e->protocol = a->ai_protocol;
        memcpy(&e->addr.storage, a->ai_addr, a->ai_addrlen);
        e->addr.len = a->ai_addrlen;
    }
    if (name) {
        char *copy = (char *)(list + n);
        memcpy(copy, res->ai_canonname, name);
        list->canonname = copy;
    }
    *out = list;
    return 0;
}

/* getaddrinfo (or, on a resolver thread, the test hook if set) into a
 * weave list: 0 or a WV_E* code. */
static int resolve_now(const char *host, const char *service,
                       const struct addrinfo *hints, bool hooked,
                       wv_addrinfo_t **out)
{
    wv__gai_fn gai =
        hooked ? __atomic_load_n(&wv__gai_hook, __ATOMIC_ACQUIRE) : NULL;
    struct addrinfo *res = NULL;
    int eai = gai ? gai(host, service, hints, &res)
                  : getaddrinfo(host, service, hints, &res);
    int err = map_eai(eai, errno);
    if (!err)
        err = copy_answer(res, out);
    if (res)
        freeaddrinfo(res);
    return err;
}

void wv_addrinfo_free(wv_addrinfo_t *ai)
{
    wv__free(ai); /* the list and its name are one allocation */
}

/* ------------------------------------------------------------ records */

static struct lookup *lookup_new(const struct addrinfo *hints, const char *host,
                                 const char *service)
{
    size_t hl = host ? strlen(host) + 1 : 0;
    size_t sl = service ? strlen(service) + 1 : 0;
    struct lookup *l = wv__calloc(1, sizeof *l + hl + sl);
    if (!l)
        return NULL;
    char *p = (char *)(l + 1);
    if (host)
        l->host = memcpy(p, host, hl);
    if (service)
        l->service = memcpy(p + hl, service, sl);
    if (hints) {
        l->has_hints = true;
        l->hints = (struct addrinfo){.ai_flags = hints->ai_flags,
                                     .ai_family = hints->ai_family,
                                     .ai_socktype = hints->ai_socktype,
                                     .ai_protocol = hints->ai_protocol};
    }
    l->refs = 2;
    wv_event_init(&l->done);
    return l;
}

/* Drops one reference; the last frees the record and any answer. */
static void lookup_unref(struct lookup *l)
{
    if (__atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    wv_addrinfo_free(l->result);
    wv_event_destroy(&l->done);
    wv__free(l);
}

/* ------------------------------------------------------------ threads */

/* The next queued lookup, waiting up to IDLE_MS for one; NULL when
 * none came (the thread then counts itself out and ends).  [lock held] */
static struct lookup *next_lookup(void)
{
    int64_t until = wv_deadline_in(IDLE_MS);
    while (!R.head) {
        R.idle++;
        int err = wv_cond_wait(&R.work, &R.lock, until);
        R.idle--;
        if (err && !R.head) {
            R.threads--;
            return NULL;
        }
    }
    struct lookup *l = R.head;
    R.queued--;
    if (!(R.head = l->next))
        R.tail = NULL;
    return l;
}

static void *resolver_main(void *arg)
{
    (void)arg;
    wv__lock_acquire_nocancel(&R.lock);
    for (struct lookup *l; (l = next_lookup());) {
        wv_lock_release(&R.lock);
        if (!__atomic_load_n(&l->abandoned, __ATOMIC_ACQUIRE))
            l->err =
                resolve_now(l->host, l->service,
                            l->has_hints ? &l->hints : NULL, true, &l->result);
        wv_event_set(&l->done);
        lookup_unref(l);
        wv__lock_acquire_nocancel(&R.lock);
    }
    wv_lock_release(&R.lock);
    return NULL;
}

/* The child of a fork has no resolver thread: forget them. */
static void after_fork_child(void)
{
    wv_lock_init(&R.lock);
    wv_cond_init(&R.work);
    R.head = R.tail = NULL;
    R.threads = R.idle = R.queued = 0;
}

/* At load rather than by pthread_once in start_thread: a fork while
 * another thread is inside a once leaves it "in progress" for ever in
 * the child where the C library does not reset it (TSan, musl). */
__attribute__((constructor)) static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, after_fork_child);
}

/* A new resolver thread, with every signal blocked.  0 or -errno.
 * [lock held] */
static int start_thread(void)
{
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_t t;
    if (pthread_attr_init(&attr))
        return WV_ENOMEM;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&t, &attr, resolver_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc)
        return -rc;
    R.threads++;
    return 0;
}

/* Queues l for a resolver thread, starting one unless an idle one is
 * free for it (and the limit allows).  0, or an error with l not queued
 * (no thread could start and none runs). */
static int submit(struct lookup *l)
{
    int err = 0;
    wv__lock_acquire_nocancel(&R.lock);
    /* One more thread unless the idle ones outnumber the queue. */
    if (R.queued >= R.idle && R.threads < MAX_THREADS)
        err = start_thread();
    if (err && R.threads > 0)
        err = 0; /* a running thread will get to it */
    if (!err) {
        if (R.tail)
            R.tail->next = l;
        else
            R.head = l;
        R.tail = l;
        R.queued++;
        wv_cond_notify(&R.work, 1);
    }
    wv_lock_release(&R.lock);
    return err;
}

/* ----------------------------------------------------------------- API */

/* A numeric host (or none) and a numeric service (or none): resolved
 * here and now.  WV_EAGAIN when a lookup is needed. */
static int resolve_numeric(const struct addrinfo *hints, const char *host,
                           const char *service, wv_addrinfo_t **out)
{
    struct addrinfo h = {0};
    if (hints)
        h = (struct addrinfo){.ai_flags = hints->ai_flags,
                              .ai_family = hints->ai_family,
                              .ai_socktype = hints->ai_socktype,
                              .ai_protocol = hints->ai_protocol};
    h.ai_flags |= AI_NUMERICHOST | AI_NUMERICSERV;
    int err = resolve_now(host, service, &h, false, out);
    if (err != WV_EAI_NONAME)
        return err;
    /* Not numeric after all (or a numeric one of the wrong family, which
     * the lookup will refuse the same way). */
    return WV_EAGAIN;
}

int wv_getaddrinfo(wv_addrinfo_t **out, const struct addrinfo *hints,
                   const char *host, const char *service, int64_t deadline)
{
    if (!out || (!host && !service))
        return WV_EINVAL;
    int err = resolve_numeric(hints, host, service, out);
    if (err != WV_EAGAIN)
        return err;
    if ((err = wv__would_wait(deadline)))
        return err;
    struct lookup *l = lookup_new(hints, host, service);
    if (!l)
        return WV_ENOMEM;
    if ((err = submit(l))) {
        wv_event_destroy(&l->done);
        wv__free(l);
        return err;
    }
    err = wv_event_wait(&l->done, deadline);
    if (!err && !(err = l->err)) {
        *out = l->result;
        l->result = NULL;
    }
    if (err)
        __atomic_store_n(&l->abandoned, true, __ATOMIC_RELEASE);
    lookup_unref(l);
    return err;
}

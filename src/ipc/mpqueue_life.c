/*
 * ipc/mpqueue_life.c - a queue's life: create, open, free and unlink; the
 * flock that counts the holders, and the removal of the large messages'
 * shm objects by the last one; the test aids.
 *
 * The design, the state words and the layout: mpqueue.h.
 */
#include "mpqueue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------- create, open, free */

static int check_name(const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    if (n == 0 || n > 200 || strchr(name + 1, '/'))
        return WV_EINVAL;
    snprintf(out, cap, "%s%s", name[0] == '/' ? "" : "/", name);
    return 0;
}

/* Takes a shared lock on the queue's descriptor: one holder more. */
static int hold(int fd)
{
    int err = wv__flock(fd, LOCK_SH);
    /* ENOLCK: no kernel memory for the lock */
    return err == -ENOLCK ? WV_ENOMEM : err;
}

/* Wraps a mapping and its descriptor (held) in a handle; on failure
 * unmaps and closes them. */
static int handle_new(wv_mpqueue_t **out, struct pq_hdr *h, size_t size, int fd,
                      const char *name)
{
    wv_mpqueue_t *q = wv__calloc(1, sizeof *q);
    if (!q || (name && !(q->name = wv__malloc(strlen(name) + 1)))) {
        wv__free(q);
        munmap(h, size);
        close(fd);
        return WV_ENOMEM;
    }
    if (name)
        strcpy(q->name, name);
    q->h = h;
    q->map_size = size;
    q->fd = fd;
    *out = q;
    return 0;
}

/* The descriptor of a new queue of `total` bytes, sized: a named shm
 * object (path) or a memfd (path NULL). */
static int backing_new(const char *path, size_t total, int *out)
{
    int fd = path ? shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)
                  : memfd_create("wvq", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    int err = 0;
    if (path) {
        /* Allocated now, so that a full /dev/shm is an error here and
         * not SIGBUS later. */
        int e = posix_fallocate(fd, 0, (off_t)total);
        if (e)
            err = e == EFBIG || e == EINVAL ? WV_ENOSPC : -e;
    } else if (ftruncate(fd, (off_t)total) < 0) {
        err = errno == EFBIG || errno == EINVAL ? WV_ENOMEM : -errno;
    }
    if (!err)
        err = hold(fd);
    if (err) {
        if (path)
            shm_unlink(path);
        close(fd);
        return err;
    }
    *out = fd;
    return 0;
}

int wv_mpqueue_new(wv_mpqueue_t **out, const wv_mpqueue_opts_t *opts)
{
    static const wv_mpqueue_opts_t defaults;
    if (!out)
        return WV_EINVAL;
    if (!opts)
        opts = &defaults;
    size_t ncells = opts->maxsize ? opts->maxsize : 1024;
    size_t inl = opts->inline_max ? opts->inline_max : 112;
    size_t heap = opts->max_bytes ? opts->max_bytes : (size_t)8 << 20;
    if (ncells > (1u << 24) || inl > 65536 || heap > ((size_t)1 << 40))
        return WV_EINVAL;
    char path[256];
    int err, fd = -1;
    if (opts->name && (err = check_name(opts->name, path, sizeof path)))
        return err;

    size_t cell_size = wv__round_up(sizeof(struct pq_cell) + inl, 64);
    size_t npages = wv__round_up(heap, PAGE) / PAGE;
    size_t cells_off = wv__round_up(sizeof(struct pq_hdr), 64);
    size_t owner_off = wv__round_up(cells_off + ncells * cell_size, 64);
    size_t heap_off = wv__round_up(owner_off + npages * 8, PAGE);
    size_t total = heap_off + npages * PAGE;

    const char *named = opts->name ? path : NULL;
    if ((err = backing_new(named, total, &fd)))
        return err;
    struct pq_hdr *h =
        mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (h == MAP_FAILED) {
        if (named)
            shm_unlink(path);
        close(fd);
        return WV_ENOMEM;
    }
    if (getrandom(&h->id, sizeof h->id, GRND_NONBLOCK) != sizeof h->id)
        h->id = (uint64_t)wv_now() ^ (uint64_t)getpid() << 32;
    h->ncells = (uint32_t)ncells;
    h->mask = (ncells & (ncells - 1)) ? 0 : ncells - 1;
    h->cell_size = (uint32_t)cell_size;
    h->inline_max = (uint32_t)inl;
    h->npages = (uint32_t)npages;
    h->cells_off = cells_off;
    h->owner_off = owner_off;
    h->heap_off = heap_off;
    h->total = total;
    h->joinable = opts->joinable;
    h->parts_hw = 1;
    for (uint64_t i = 0; i < ncells; i++)
        cell(h, i)->state = ST(i, EMPTY, 0);
    if ((err = wv_plock_init(&h->admin, false))) {
        munmap(h, total);
        close(fd);
        if (named)
            shm_unlink(path);
        return err;
    }
    h->version = PQ_VERSION;
    __atomic_store_n(&h->magic, PQ_MAGIC, __ATOMIC_RELEASE);
    err = handle_new(out, h, total, fd, named);
    if (err && named)
        shm_unlink(path);
    return err;
}

/* Maps the named queue at path: 0 with the mapping, its size and its
 * descriptor (not held), or an error. */
static int map_named(const char *path, struct pq_hdr **out, size_t *size,
                     int *fdp)
{
    struct stat st;
    int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(struct pq_hdr)) {
        close(fd);
        return WV_EPROTO;
    }
    struct pq_hdr *h = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
                            MAP_SHARED, fd, 0);
    if (h == MAP_FAILED) {
        close(fd);
        return WV_ENOMEM;
    }
    if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != PQ_MAGIC ||
        h->version != PQ_VERSION || h->total != (size_t)st.st_size) {
        munmap(h, (size_t)st.st_size);
        close(fd);
        return WV_EPROTO;
    }
    *out = h;
    *size = (size_t)st.st_size;
    *fdp = fd;
    return 0;
}

int wv_mpqueue_open(wv_mpqueue_t **out, const char *name)
{
    char path[256];
    struct pq_hdr *h;
    size_t size;
    int err, fd;
    if (!out || !name)
        return WV_EINVAL;
    if ((err = check_name(name, path, sizeof path)) ||
        (err = map_named(path, &h, &size, &fd)))
        return err;
    /* Opened by name just before an unlink, and the last holder has
     * removed the large messages since: the queue is finished. */
    if ((err = hold(fd)) ||
        (__atomic_load_n(&h->gone, __ATOMIC_ACQUIRE) && (err = WV_ENOENT))) {
        munmap(h, size);
        close(fd);
        return err;
    }
    return handle_new(out, h, size, fd, path);
}

/*
 * Removes shm objects of this queue: all of them, or (!all) those no cell
 * refers to any more (left by processes that died between taking their
 * message and removing its object).
 */
static void sweep_spills(struct pq_hdr *h, bool all)
{
    char prefix[40];
    int n = snprintf(prefix, sizeof prefix, "wvq-%016" PRIx64 "-", h->id);
    DIR *d = opendir("/dev/shm");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, (size_t)n))
            continue;
        uint64_t pos = strtoull(e->d_name + n, NULL, 10);
        struct pq_cell *c = cell(h, pos);
        uint64_t w = load(&c->state);
        if (!all && ST_POS(w) == pos && ST_KIND(w) != EMPTY &&
            __atomic_load_n(&c->page, __ATOMIC_RELAXED) == PAGE_SPILL)
            continue;
        char name[sizeof e->d_name + 1];
        snprintf(name, sizeof name, "/%s", e->d_name);
        shm_unlink(name);
    }
    closedir(d);
}

/*
 * The queue has no holder left: removes the objects of the large messages
 * still inside (from the cells, then any left by the dead, from the
 * names), and marks it finished.  Called holding the exclusive lock.
 */
static void finish(struct pq_hdr *h)
{
    __atomic_store_n(&h->gone, 1, __ATOMIC_RELEASE);
    for (uint64_t i = 0; i < h->ncells; i++) {
        struct pq_cell *c = cell_at(h, i);
        uint64_t w = load(&c->state);
        if (ST_KIND(w) != EMPTY &&
            __atomic_load_n(&c->page, __ATOMIC_RELAXED) == PAGE_SPILL)
            spill_unlink(h, ST_POS(w));
    }
    sweep_spills(h, true);
}

/* Whether fd, a descriptor of the queue on which we hold no lock, is the
 * only one left: no other open file of it holds the shared lock. */
static bool sole_holder(int fd)
{
    return flock(fd, LOCK_EX | LOCK_NB) == 0;
}

int wv_mpqueue_unlink(const char *name)
{
    char path[256];
    struct pq_hdr *h;
    size_t size;
    int err, fd;
    if (!name)
        return WV_EINVAL;
    if ((err = check_name(name, path, sizeof path)))
        return err;
    if (map_named(path, &h, &size, &fd))
        h = NULL; /* no queue (or no room to look): just the name */
    err = shm_unlink(path) < 0 ? -errno : 0;
    if (h) {
        /* Nobody holds it: nobody will free it, so the large messages
         * still inside go now. */
        if (!err && sole_holder(fd))
            finish(h);
        munmap(h, size);
        close(fd);
    }
    return err;
}

/*
 * A new open file of q's queue (-1: none), when q's hold may be the last
 * of a queue nobody can open any more (anonymous, or unlinked).  Asked
 * before the unmap, which drops the hold: the descriptor is all that is
 * left of an unlinked queue then.
 */
static int reopen_if_unnamed(const wv_mpqueue_t *q)
{
    struct stat st;
    if (q->name && (fstat(q->fd, &st) < 0 || st.st_nlink > 0))
        return -1; /* named: its messages wait for the next opener */
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", q->fd);
    return open(self, O_RDWR | O_CLOEXEC); /* -1: cannot tell, leave them */
}

void wv_mpqueue_free(wv_mpqueue_t *q)
{
    if (!q)
        return;
    struct pq_hdr *h = q->h;
    wv__pq_leave(q);
    sweep_spills(h, false);
    int fd = reopen_if_unnamed(q);
    /* Our hold goes with the last reference to our open file: this
     * descriptor, the mapping, and those a fork shares. */
    close(q->fd);
    munmap(h, q->map_size);
    if (fd >= 0 && sole_holder(fd)) {
        h = mmap(NULL, q->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (h != MAP_FAILED) {
            finish(h);
            munmap(h, q->map_size);
        }
    }
    if (fd >= 0)
        close(fd); /* only now: an opener waiting for it sees `gone` */
    wv__free(q->name);
    wv__free(q);
}

/* ----------------------------------------------------------- test aids */

int wv__pqueue_crash_at;

uint32_t wv__pqueue_pages_used(wv_mpqueue_t *q)
{
    struct pq_hdr *h = q->h;
    uint32_t n = 0;
    wv__pq_admin_lock(h);
    for (uint32_t pg = 0; pg < h->npages; pg++)
        n += own_get(owners(h), pg) != 0;
    wv__pq_admin_unlock(h);
    return n;
}

int wv__pqueue_spill_objects(wv_mpqueue_t *q)
{
    char prefix[40];
    int n = snprintf(prefix, sizeof prefix, "wvq-%016" PRIx64 "-", q->h->id);
    int count = 0;
    DIR *d = opendir("/dev/shm");
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)))
        count += strncmp(e->d_name, prefix, (size_t)n) == 0;
    closedir(d);
    return count;
}

uint64_t wv__pqueue_id(wv_mpqueue_t *q)
{
    return q->h->id;
}

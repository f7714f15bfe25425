/*
 * proc/shm.c - shared memory blocks (named and anonymous), Value, Array.
 *
 * Named blocks are POSIX shm objects (shm_open, /dev/shm): created
 * exclusively, sized with ftruncate (so they read as zeros), mapped
 * MAP_SHARED; the descriptor is closed once mapped.  A generated name is
 * "/wv-<pid>-<counter>-<random>", never reused by a live process.
 * Anonymous blocks are MAP_SHARED | MAP_ANONYMOUS: inherited by children
 * forked after, gone with the last mapping.  Value and Array are an
 * anonymous block holding a robust RLock and the bytes.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME_MAX_LEN 250

struct wv_shm {
    void *addr;
    size_t size;
    char *name; /* NULL: anonymous */
};

static uint32_t shm_counter;

static int make_name(char *out, size_t cap, const char *name)
{
    if (name) {
        size_t n = strlen(name);
        if (n == 0 || n > NAME_MAX_LEN || strchr(name + 1, '/'))
            return WV_EINVAL;
        snprintf(out, cap, "%s%s", name[0] == '/' ? "" : "/", name);
        return 0;
    }
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
        r = (uint32_t)wv_now();
    snprintf(out, cap, "/wv-%d-%u-%08x", getpid(),
             __atomic_add_fetch(&shm_counter, 1, __ATOMIC_RELAXED), r);
    return 0;
}

int wv_shm_open(wv_shm_t **out, const char *name, bool create, size_t size)
{
    char path[NAME_MAX_LEN + 2];
    struct stat st;
    int err;

    if (!out || (create && size == 0) || (!create && !name))
        return WV_EINVAL;
    if ((err = make_name(path, sizeof path, name)))
        return err;
    wv_shm_t *s = wv__calloc(1, sizeof *s);
    if (!s || !(s->name = wv__malloc(strlen(path) + 1))) {
        wv__free(s);
        return WV_ENOMEM;
    }
    strcpy(s->name, path);
    int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);
    int fd = shm_open(path, flags, 0600);
    if (fd < 0) {
        err = -errno;
        goto out_free;
    }
    if (create) {
        if (ftruncate(fd, (off_t)size) < 0) {
            err = -errno;
            goto out_unlink;
        }
    } else {
        if (fstat(fd, &st) < 0) {
            err = -errno;
            goto out_close;
        }
        if (size == 0 || size > (size_t)st.st_size)
            size = (size_t)st.st_size;
        if (size == 0) {
            err = WV_EINVAL;
            goto out_close;
        }
    }
    s->addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (s->addr == MAP_FAILED) {
        err = -errno;
        goto out_unlink;
    }
    close(fd);
    s->size = size;
    *out = s;
    return 0;

out_unlink:
    if (create)
        shm_unlink(path);
out_close:
    close(fd);
out_free:
    wv__free(s->name);
    wv__free(s);
    return err;
}

int wv_shm_anon(wv_shm_t **out, size_t size)
{
    if (!out || size == 0)
        return WV_EINVAL;
    wv_shm_t *s = wv__calloc(1, sizeof *s);
    if (!s)
        return WV_ENOMEM;
    s->addr = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s->addr == MAP_FAILED) {
        wv__free(s);
        return WV_ENOMEM;
    }
    s->size = size;
    *out = s;
    return 0;
}

void *wv_shm_addr(const wv_shm_t *s)
{
    return s ? s->addr : NULL;
}

size_t wv_shm_size(const wv_shm_t *s)
{
    return s ? s->size : 0;
}

const char *wv_shm_name(const wv_shm_t *s)
{
    return s ? s->name : NULL;
}

int wv_shm_unlink(const char *name)
{
    char path[NAME_MAX_LEN + 2];
    int err;

    if (!name)
        return WV_EINVAL;
    if ((err = make_name(path, sizeof path, name)))
        return err;
    return shm_unlink(path) < 0 ? -errno : 0;
}

void wv_shm_free(wv_shm_t *s)
{
    if (!s)
        return;
    munmap(s->addr, s->size);
    wv__free(s->name);
    wv__free(s);
}

/* --------------------------------------------------------- Value, Array */

/* A Value and an Array are one block of anonymous shared memory: the
 * optional RLock first, then the bytes.  Two public types over one
 * record, so that each is released by its own free. */
struct shared {
    wv_shm_t *shm;
    void *data;
    size_t size;      /* bytes */
    size_t n;         /* elements (1 for a Value) */
    wv_plock_t *lock; /* NULL: made without */
};

struct wv_value {
    struct shared s;
};

struct wv_array {
    struct shared s;
};

static int shared_init(struct shared *v, size_t size, size_t n, bool lock)
{
    size_t head = lock ? sizeof(wv_plock_t) : 0;
    int err;

    if (size == 0 || size > SIZE_MAX - head)
        return WV_EINVAL;
    if ((err = wv_shm_anon(&v->shm, head + size)))
        return err;
    char *base = wv_shm_addr(v->shm);
    if (lock && (err = wv_plock_init((wv_plock_t *)base, true))) {
        wv_shm_free(v->shm);
        return err;
    }
    v->lock = lock ? (wv_plock_t *)base : NULL;
    v->data = base + head;
    v->size = size;
    v->n = n;
    return 0;
}

int wv_value_new(wv_value_t **out, size_t size, bool lock)
{
    if (!out)
        return WV_EINVAL;
    wv_value_t *v = wv__calloc(1, sizeof *v);
    if (!v)
        return WV_ENOMEM;
    int err = shared_init(&v->s, size, 1, lock);
    if (err) {
        wv__free(v);
        return err;
    }
    *out = v;
    return 0;
}

void *wv_value_ptr(const wv_value_t *v)
{
    return v ? v->s.data : NULL;
}

size_t wv_value_size(const wv_value_t *v)
{
    return v ? v->s.size : 0;
}

wv_plock_t *wv_value_lock(const wv_value_t *v)
{
    return v ? v->s.lock : NULL;
}

void wv_value_free(wv_value_t *v)
{
    if (!v)
        return;
    wv_shm_free(v->s.shm);
    wv__free(v);
}

int wv_array_new(wv_array_t **out, size_t elem_size, size_t n, bool lock)
{
    if (!out || elem_size == 0 || n == 0 || n > SIZE_MAX / elem_size)
        return WV_EINVAL;
    wv_array_t *a = wv__calloc(1, sizeof *a);
    if (!a)
        return WV_ENOMEM;
    int err = shared_init(&a->s, elem_size * n, n, lock);
    if (err) {
        wv__free(a);
        return err;
    }
    *out = a;
    return 0;
}

void *wv_array_ptr(const wv_array_t *a)
{
    return a ? a->s.data : NULL;
}

size_t wv_array_len(const wv_array_t *a)
{
    return a ? a->s.n : 0;
}

size_t wv_array_size(const wv_array_t *a)
{
    return a ? a->s.size : 0;
}

wv_plock_t *wv_array_lock(const wv_array_t *a)
{
    return a ? a->s.lock : NULL;
}

void wv_array_free(wv_array_t *a)
{
    if (!a)
        return;
    wv_shm_free(a->s.shm);
    wv__free(a);
}

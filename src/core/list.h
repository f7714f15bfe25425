/*
 * core/list.h - the library's one intrusive doubly-linked list.
 *
 * A node (wv__list_node_t) lives inside the record it links; a list
 * (wv__list_t) is a pair of pointers to its first and last nodes.  The
 * list is NULL-terminated, not circular as libuv's queue.h is: an all-zero
 * list is a valid empty one, so lists in static tables, in calloc'd
 * records and in tables a forked child memsets (core/park.c) need no
 * initialisation, and a walk may stop at any node's `next == NULL`
 * without knowing the list head.  wv__container_of turns a node back into
 * its record.
 *
 * Invariants: first == NULL iff last == NULL; first->prev == NULL and
 * last->next == NULL; a node is on at most one list through one link.
 * A removed node's links are cleared (NULL), so a walker holding it reads
 * no stale neighbour.  None of these functions locks: the list's owner
 * says which lock protects it.
 *
 * Rejected: a circular list with a sentinel (libuv): removal is one
 * branch cheaper, but every head needs an init call, including the parking
 * lot's static table after fork, and a zeroed head would crash.
 */
#ifndef WV_CORE_LIST_H
#define WV_CORE_LIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct wv__list_node {
    struct wv__list_node *next; /* NULL: the last node */
    struct wv__list_node *prev; /* NULL: the first node */
} wv__list_node_t;

typedef struct wv__list {
    wv__list_node_t *first; /* NULL: empty */
    wv__list_node_t *last;  /* NULL: empty */
} wv__list_t;

#define WV__LIST_INIT                                                          \
    {                                                                          \
        NULL, NULL                                                             \
    }

/* The record of type `type` whose member `member` is at `ptr`. */
#define wv__container_of(ptr, type, member)                                    \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* The record holding node `node` (NULL gives NULL). */
#define wv__list_entry(node, type, member)                                     \
    ((node) ? wv__container_of(node, type, member) : (type *)NULL)

/* Walks the nodes of `list` in order; the body must not remove `it`
 * (read it->next first, or use wv__list_foreach_safe). */
#define wv__list_foreach(it, list)                                             \
    for (wv__list_node_t *it = (list)->first; it; it = it->next)

/* Walks the nodes of `list`; the body may remove (or free) `it`. */
#define wv__list_foreach_safe(it, list)                                        \
    for (wv__list_node_t *it = (list)->first,                                  \
                         *it##_next_ = it ? it->next : NULL;                   \
         it; it = it##_next_, it##_next_ = it ? it->next : NULL)

static inline void wv__list_init(wv__list_t *list)
{
    list->first = list->last = NULL;
}

static inline bool wv__list_empty(const wv__list_t *list)
{
    return list->first == NULL;
}

/* The first node, or NULL when the list is empty. */
static inline wv__list_node_t *wv__list_first(const wv__list_t *list)
{
    return list->first;
}

static inline void wv__list_insert_tail(wv__list_t *list, wv__list_node_t *n)
{
    n->next = NULL;
    n->prev = list->last;
    if (list->last)
        list->last->next = n;
    else
        list->first = n;
    list->last = n;
}

static inline void wv__list_insert_head(wv__list_t *list, wv__list_node_t *n)
{
    n->prev = NULL;
    n->next = list->first;
    if (list->first)
        list->first->prev = n;
    else
        list->last = n;
    list->first = n;
}

/* Unlinks n, which must be on `list`. */
static inline void wv__list_remove(wv__list_t *list, wv__list_node_t *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        list->first = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        list->last = n->prev;
    n->next = n->prev = NULL;
}

#endif /* WV_CORE_LIST_H */

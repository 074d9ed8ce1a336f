/* flowtab.c -- flow ids with generations.
 *
 * An id is (generation << index_bits) | slot. The slot gives O(1) lookup;
 * the generation, bumped every time the slot is freed, makes the ids of
 * earlier owners miss. Free slots form a FIFO, so a freed slot is reused
 * only after every other free slot. An id can come back only after its
 * slot has been reused 2^(32-k) - 1 times (k index bits): 4,095 times
 * with a table of 2^20, 65,535 with the default 2^16. With a table that
 * is nearly full the same slot is reused at once, so size the table well
 * above the connections expected if late replies are likely.
 * Generation 0 is skipped so that no id is 0.
 *
 * Not thread-safe: one table belongs to one event loop. */
#include "flowtab.h"

#include <errno.h>
#include <stdlib.h>

#define NO_SLOT UINT32_MAX

struct slot {
    void *obj;     /* NULL when free */
    uint32_t gen;  /* generation of the current or next owner */
    uint32_t next; /* next free slot, when free */
};

struct flowtab {
    uint32_t capacity;
    uint32_t index_bits;
    uint32_t count;
    uint32_t free_head, free_tail;
    struct slot slots[];
};

static uint32_t gen_max(const struct flowtab *ft)
{
    return (uint32_t)((1ull << (32 - ft->index_bits)) - 1);
}

struct flowtab *flowtab_new(uint32_t capacity)
{
    struct flowtab *ft;
    uint32_t bits = 1;

    if (capacity == 0 || capacity > FLOWTAB_MAX) {
        errno = EINVAL;
        return NULL;
    }
    while ((1u << bits) < capacity)
        bits++;
    ft = calloc(1, sizeof(*ft) + capacity * sizeof(struct slot));
    if (!ft)
        return NULL;
    ft->capacity = capacity;
    ft->index_bits = bits;
    for (uint32_t i = 0; i < capacity; i++) {
        ft->slots[i].gen = 1;
        ft->slots[i].next = i + 1 < capacity ? i + 1 : NO_SLOT;
    }
    ft->free_head = 0;
    ft->free_tail = capacity - 1;
    return ft;
}

void flowtab_free(struct flowtab *ft) { free(ft); }

uint32_t flowtab_add(struct flowtab *ft, void *obj)
{
    uint32_t i = ft->free_head;
    struct slot *s;

    if (i == NO_SLOT || !obj) {
        errno = obj ? ENOSPC : EINVAL;
        return 0;
    }
    s = &ft->slots[i];
    ft->free_head = s->next;
    if (ft->free_head == NO_SLOT)
        ft->free_tail = NO_SLOT;
    s->obj = obj;
    ft->count++;
    return s->gen << ft->index_bits | i;
}

/* The slot index id names if it is live, else NO_SLOT. */
static uint32_t lookup(const struct flowtab *ft, uint32_t id)
{
    uint32_t i = id & ((1u << ft->index_bits) - 1);

    if (i >= ft->capacity || !ft->slots[i].obj ||
        ft->slots[i].gen != id >> ft->index_bits)
        return NO_SLOT;
    return i;
}

void *flowtab_get(const struct flowtab *ft, uint32_t id)
{
    uint32_t i = lookup(ft, id);

    return i == NO_SLOT ? NULL : ft->slots[i].obj;
}

int flowtab_del(struct flowtab *ft, uint32_t id)
{
    uint32_t i = lookup(ft, id);
    struct slot *s;

    if (i == NO_SLOT) {
        errno = ENOENT;
        return -1;
    }
    s = &ft->slots[i];
    s->obj = NULL;
    s->gen = s->gen == gen_max(ft) ? 1 : s->gen + 1;
    s->next = NO_SLOT;
    if (ft->free_tail == NO_SLOT)
        ft->free_head = i;
    else
        ft->slots[ft->free_tail].next = i;
    ft->free_tail = i;
    ft->count--;
    return 0;
}

uint32_t flowtab_count(const struct flowtab *ft) { return ft->count; }

uint32_t flowtab_capacity(const struct flowtab *ft) { return ft->capacity; }

uint32_t flowtab_next(const struct flowtab *ft, uint32_t *cursor, void **obj)
{
    for (uint32_t i = *cursor; i < ft->capacity; i++) {
        const struct slot *s = &ft->slots[i];
        if (s->obj) {
            *cursor = i + 1;
            if (obj)
                *obj = s->obj;
            return s->gen << ft->index_bits | i;
        }
    }
    *cursor = ft->capacity;
    return 0;
}

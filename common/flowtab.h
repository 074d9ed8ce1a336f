/* flowtab.h -- flow ids: a fixed-capacity table from a 32-bit id to an
 * object (a connection), with a generation in every id so that an id
 * outlives nothing: once a flow is deleted, its id never finds the slot's
 * next owner. */
#ifndef COMMON_FLOWTAB_H
#define COMMON_FLOWTAB_H

#include <stdint.h>

struct flowtab;

/* A table for up to capacity flows (1 to FLOWTAB_MAX). NULL with errno. */
#define FLOWTAB_MAX (1u << 20)
struct flowtab *flowtab_new(uint32_t capacity);
void flowtab_free(struct flowtab *ft);

/* Store obj (not NULL) and return its new id, never 0; 0 with errno
 * ENOSPC when the table is full. O(1). */
uint32_t flowtab_add(struct flowtab *ft, void *obj);
/* The object of a live id; NULL for 0, a deleted or reused id, or any
 * number that was never an id. O(1). */
void *flowtab_get(const struct flowtab *ft, uint32_t id);
/* Forget id: 0, or -1 with errno ENOENT if it is not live. O(1). */
int flowtab_del(struct flowtab *ft, uint32_t id);

uint32_t flowtab_count(const struct flowtab *ft);
uint32_t flowtab_capacity(const struct flowtab *ft);
/* Iterate over live flows: start with *cursor = 0; returns the next live
 * id (and its object in *obj) or 0 at the end. Deleting the returned id
 * during the walk is allowed. */
uint32_t flowtab_next(const struct flowtab *ft, uint32_t *cursor, void **obj);

#endif

/* stats.h -- a process's statistics in System V shared memory: a few
 * fixed fields and a table of named 64-bit counters, written by one
 * process and read, consistently, by any number of others.
 *
 * The writer creates the block, registers its counters by name, starts
 * it, then counts in private memory (stats_add, stats_set) and publishes
 * with stats_commit(). A reader (viewstats) attaches read-only and takes
 * snapshots with stats_read(); it learns the counters' names from the
 * block itself, so a new writer with new counters needs no new reader. */
#ifndef COMMON_STATS_H
#define COMMON_STATS_H

#include "shmem.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define STATS_MAGIC   0x53544154u /* "STAT" */
#define STATS_VERSION 1u
/* The key servers and viewstats use when not given -k. */
#define STATS_DEFAULT_KEY 0x53565354 /* "SVST" */
/* Room for every counter a chapter's process publishes, with spare. */
#define STATS_MAX_COUNTERS 32
/* A counter's or writer's name, NUL included: [A-Za-z0-9_.-], no spaces,
 * so one line "name value" is unambiguous to a parser. */
#define STATS_NAME_LEN 32

enum stats_kind {
    STATS_COUNTER = 0, /* only grows: a reader shows its rate */
    STATS_GAUGE = 1,   /* goes up and down (connections open): no rate */
};

struct stats_desc {
    char name[STATS_NAME_LEN];
    uint32_t kind; /* enum stats_kind */
    uint32_t reserved;
};

/* The payload of the segment. Fields marked "fixed" are written before
 * shmem_publish() and never again; seq guards everything else. */
struct stats_block {
    _Atomic uint64_t seq;        /* even: stable; odd: a commit is under way */
    _Atomic int64_t updated_ns;  /* now_real_ns() of the last commit */
    int64_t started_ns;          /* fixed: now_real_ns() at stats_create() */
    int32_t pid;                 /* fixed: the writer */
    uint32_t ncounters;          /* fixed */
    char writer[STATS_NAME_LEN]; /* fixed: the writer's program name */
    struct stats_desc desc[STATS_MAX_COUNTERS]; /* fixed */
    _Atomic uint64_t value[STATS_MAX_COUNTERS]; /* guarded by seq */
};

/* One side of a block: the writer's handle or a reader's. */
struct stats {
    struct shmem sm;
    struct stats_block *blk;
    uint32_t n;   /* counters registered (writer) or validated (reader) */
    bool started; /* writer: published, no more registrations */
    uint64_t local[STATS_MAX_COUNTERS]; /* writer: values not yet committed */
};

/* A consistent copy of a block, taken by stats_read(). */
struct stats_snapshot {
    int32_t pid;
    uint32_t n;
    int64_t started_ns, updated_ns;
    char writer[STATS_NAME_LEN];
    struct stats_desc desc[STATS_MAX_COUNTERS];
    uint64_t value[STATS_MAX_COUNTERS];
};

/* --- writer: one process per block ------------------------------------ */

/* One counter of a writer's table. A writer declares its counters once,
 * indexed by its own enum, so that an id and its name cannot drift:
 *     static const struct stats_def counters[C_NCOUNTERS] = {
 *         [C_MSGS] = {"msgs", STATS_COUNTER}, ...};
 * A member of the enum left out of the table has no name, and
 * stats_create_table() refuses it. */
struct stats_def {
    const char *name;
    enum stats_kind kind;
};

/* The whole writer set-up in one call: create the block under key,
 * register defs[0..n-1] so that counter i is defs[i], and start it. On
 * failure nothing is left under key. 0 or -1 with errno: EEXIST (a live
 * process owns the key), EINVAL (a counter without a valid name), or
 * those of stats_create() and stats_register(). */
int stats_create_table(struct stats *st, key_t key, const char *writer,
                       const struct stats_def *defs, unsigned n);

/* Create the block under key (mode 0600) for program writer. Fails with
 * EEXIST while another live process owns the key; a stale block left by
 * a killed writer is reclaimed. 0 or -1 with errno. */
int stats_create(struct stats *st, key_t key, const char *writer);
/* Add a counter before stats_start(). Returns its id (0, 1, ...) for
 * stats_add()/stats_set(), or -1 with errno: EINVAL (bad name), EEXIST
 * (name taken), ENOSPC (table full), EBUSY (already started). */
int stats_register(struct stats *st, const char *name, enum stats_kind kind);
/* Publish the block: readers may attach from now on. */
void stats_start(struct stats *st);

/* Count in private memory; nothing is visible until stats_commit(). */
static inline void stats_add(struct stats *st, int id, uint64_t delta)
{
    st->local[id] += delta;
}
static inline void stats_set(struct stats *st, int id, uint64_t value)
{
    st->local[id] = value;
}
/* Copy every counter into the block as one consistent update, and stamp
 * the time. Wait-free: a few stores, never a lock or a system call
 * beyond the vDSO clock. */
void stats_commit(struct stats *st);
/* Writer's clean exit: remove the segment (readers still attached keep
 * their mapping until they detach). 0 or -1 with errno. */
int stats_remove(struct stats *st);

/* Remove the block under key, if it is a statistics block of ours: for a
 * launcher cleaning up after a child killed before it could. 0 or -1. */
int stats_remove_key(key_t key);

/* --- readers: any number, attached read-only ---------------------------- */

/* Attach the block under key read-only (SHM_RDONLY) and validate it: the
 * shmem header, the counter count, every name. 0 or -1 with errno:
 * ENOENT (no block: no writer), EACCES, EAGAIN (not started yet), EPROTO
 * (not a valid statistics block). */
int stats_open(struct stats *st, key_t key);
/* The validation stats_open() does, on a block already in memory that
 * is not a segment (tests and fuzz/ use it on plain memory): mem holds
 * size bytes, aligned for struct stats_block. st->blk and st->n are set;
 * st->sm is left alone. 0 or -1 with EPROTO. */
int stats_attach(struct stats *st, void *mem, size_t size);
/* Copy the block into *snap, retrying while a commit is under way, then
 * check the copy: names are [A-Za-z0-9_.-] tokens, kinds known, pid > 0,
 * times > 0 (so differences between them cannot overflow). 0, or -1
 * with EAGAIN if no stable copy came within about 100 ms (a writer
 * killed in the middle of a commit leaves the block odd forever), or
 * EPROTO if the copy fails the checks (the block changed since open). */
int stats_read(const struct stats *st, struct stats_snapshot *snap);
/* Detach; the block lives on. */
void stats_close(struct stats *st);

/* Index of counter name in a snapshot, or -1. */
int stats_find(const struct stats_snapshot *snap, const char *name);

#endif

/* shcache.h -- exercise ch5-shared-cache: a table of versioned records in
 * one multi-hash (common/mhash.h) that one writer process and any number
 * of reader processes share, started and restarted in any order.
 *
 * The table lives under a System V key and outlives both programs: a
 * writer that starts attaches to the table it finds, never wipes it, and
 * creates one only when there is none. The one-writer rule of mhash.h is
 * enforced: the writer holds a statistics block under key + 1 (as md
 * does), and a second writer is refused while the first is alive.
 * Readers attach read-only and never hand out a record the writer was
 * changing while they read it. */
#ifndef SHCACHE_H
#define SHCACHE_H

#include "mhash.h"
#include "stats.h"

#include <stdbool.h>
#include <stdint.h>

/* One record: a version (1, 2, ... for each key) and the writer's data. */
#define SHREC_WORDS 15
struct shrec {
    uint64_t version;
    uint64_t value[SHREC_WORDS];
};
_Static_assert(sizeof(struct shrec) == 128, "record layout");

/* The writer's lock and statistics live under the table's key + 1. */
static inline key_t shcache_lock_key(key_t key) { return key + 1; }

/* The data the writer stores for key at version: every word derived from
 * both, so that a copy mixing two versions is told apart. */
static inline void shrec_fill(struct shrec *r, uint64_t key, uint64_t version)
{
    r->version = version;
    for (int i = 0; i < SHREC_WORDS; i++)
        r->value[i] = (key * 0x9e3779b97f4a7c15ull) ^
                      (version * 0x100000001b3ull + (uint64_t)i);
}

/* A digest of the whole record (FNV-1a over its words), what the reader
 * prints. */
static inline uint64_t shrec_digest(const struct shrec *r)
{
    uint64_t h = 0xcbf29ce484222325ull ^ r->version;

    for (int i = 0; i < SHREC_WORDS; i++)
        h = (h ^ r->value[i]) * 0x100000001b3ull;
    return h;
}

/* A process's handle on the table. */
struct shcache {
    struct mhash table;
    struct stats lock; /* the writer's: its statistics block */
    bool writer;
};

/* Counters of the writer's statistics block (viewstats -k KEY+1). */
enum shcache_counter { SHC_PUTS, SHC_RECORDS, SHC_NCOUNTERS };

/* The writer's side: take the lock (EBUSY while another writer lives),
 * then attach to the table under key as it is, or create it with room
 * for about capacity records when there is none. 0, or -1 with errno
 * (EBUSY, EPROTO for a segment that is not such a table, ...). */
int shcache_open_writer(struct shcache *c, key_t key, uint32_t capacity);
/* A reader's side: attach the table under key read-only. 0, or -1 with
 * errno (ENOENT: no table yet; EPROTO). */
int shcache_open_reader(struct shcache *c, key_t key);
/* Writer: store r as key's record, new or not. 0, or -1 with errno
 * (ENOSPC: the table is full). */
int shcache_put(struct shcache *c, uint64_t key, const struct shrec *r);
/* Reader (and writer): a consistent copy of key's record into r. 0, or -1
 * with ENOENT (no such key) or EAGAIN (the writer kept changing it). */
int shcache_get(const struct shcache *c, uint64_t key, struct shrec *r);
/* Detach; the writer also gives up its lock. The table stays. */
void shcache_close(struct shcache *c);

#endif

/* shcache.c -- exercise ch5-shared-cache: the sharing of shcache.h: one
 * writer, which attaches to the table as it is and holds a lock, and
 * read-only readers that retry a record the writer was changing.
 * README.md says what to write. */
#include "shcache.h"

#include <errno.h>
#include <string.h>

/* 20 decreasing rows fill to about 0.95 before their first refusal
 * (ch5-cache/README.md, "Measure it"): a quarter more slots than
 * records leaves room. 20 distinct primes need about 780 slots: never
 * fewer than 1,024. */
#define ROWS      20
#define MIN_SLOTS 1024
/* A find says EAGAIN when the writer was changing a candidate slot; it
 * is done in well under a microsecond, so a few retries see it through. */
#define GET_TRIES 100

static const struct stats_def counters[SHC_NCOUNTERS] = {
    [SHC_PUTS] = {"puts", STATS_COUNTER},
    [SHC_RECORDS] = {"records", STATS_GAUGE},
};

/* --- your part (README.md, "Your part") ---------------------------------- */

int shcache_open_writer(struct shcache *c, key_t key, uint32_t capacity)
{
    struct mhash_geom g = {.rows = ROWS,
                           .capacity = capacity + capacity / 4,
                           .rec_size = sizeof(struct shrec),
                           .decreasing = true};
    bool created;
    int err;

    memset(c, 0, sizeof(*c));
    if (g.capacity < MIN_SLOTS)
        g.capacity = MIN_SLOTS;
    /* The lock first: a second writer stops before it touches the table. */
    if (stats_create_table(&c->lock, shcache_lock_key(key), "shwriter",
                           counters, SHC_NCOUNTERS) < 0) {
        if (errno == EEXIST)
            errno = EBUSY;
        return -1;
    }
    /* Attach to what is there, as it is; create only when there is none. */
    if (mhash_open_or_create(&c->table, key, &g, &created) < 0) {
        err = errno;
        stats_remove(&c->lock);
        errno = err;
        return -1;
    }
    c->writer = true;
    return 0;
}

int shcache_open_reader(struct shcache *c, key_t key)
{
    memset(c, 0, sizeof(*c));
    if (mhash_open(&c->table, key, true) < 0) /* SHM_RDONLY */
        return -1;
    if (c->table.rec_size != sizeof(struct shrec)) {
        mhash_close(&c->table);
        errno = EPROTO;
        return -1;
    }
    return 0;
}

int shcache_put(struct shcache *c, uint64_t key, const struct shrec *r)
{
    if (mhash_update(&c->table, key, r) == 0)
        return 0;
    return errno == ENOENT ? mhash_insert(&c->table, key, r) : -1;
}

int shcache_get(const struct shcache *c, uint64_t key, struct shrec *r)
{
    /* On EAGAIN *r holds whatever the copy caught: never hand it out. */
    for (int t = 0; t < GET_TRIES; t++) {
        if (mhash_find(&c->table, key, r) == 0)
            return 0;
        if (errno != EAGAIN)
            return -1;
    }
    return -1;
}

void shcache_close(struct shcache *c)
{
    mhash_close(&c->table); /* the table stays for the next process */
    if (c->writer)
        stats_remove(&c->lock);
    c->writer = false;
}

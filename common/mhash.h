/* mhash.h -- multi-hash: a fixed-record hash table of R rows, shareable
 * between processes, one writer and any number of readers.
 *
 * Row i holds primes[i] slots, all primes distinct; key k may live only in
 * slot k % primes[i] of some row. There is no chaining: an insert takes
 * the first empty candidate of the R, and fails when all R are taken. The
 * table lives in memory the caller provides or in a System V segment
 * (mhash_create/mhash_open), whose header is written once by the creator
 * and validated by every attacher; attaching never wipes anything.
 *
 * ONE WRITER. Only one process (one thread) at a time may call the
 * functions marked "writer". Readers (mhash_find, mhash_foreach,
 * mhash_stats) may run in any number of other processes at the same time,
 * attached read-only if they like: every slot carries a sequence counter,
 * so a reader never returns a half-written record; it says EAGAIN and the
 * caller retries. Two writers at once break this: they can both take the
 * same empty slot (one record silently lost), store one key twice, and
 * interleave their counter updates so that a reader accepts a torn
 * record. Memory safety does not depend on the rule (every index comes
 * from validated geometry kept in the handle), correctness does. */
#ifndef COMMON_MHASH_H
#define COMMON_MHASH_H

#include "shmem.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MHASH_MAX_ROWS 64
#define MHASH_MAX_REC  65536 /* bytes of one record */
#define MHASH_MAX_ROW  UINT32_MAX

/* What the creator asks for. */
struct mhash_geom {
    uint32_t rows;     /* 1 .. MHASH_MAX_ROWS */
    uint64_t capacity; /* total slots wanted; the primes make it about */
    uint32_t rec_size; /* bytes of one record, 1 .. MHASH_MAX_REC */
    bool decreasing;   /* rows shrink from first to last: fills better */
};

struct mhash_hdr; /* at the start of the table's memory */

/* A process's handle: validated copies of the geometry. */
struct mhash {
    struct shmem sm; /* the segment, when the table lives in one */
    struct mhash_hdr *hdr;
    unsigned char *slots;
    uint64_t nslots;
    uint32_t rows, rec_size, slot_size;
    bool readonly;
    bool decreasing;
    uint32_t primes[MHASH_MAX_ROWS];
    uint64_t row_start[MHASH_MAX_ROWS]; /* first slot of each row */
    uint64_t mod_magic[MHASH_MAX_ROWS]; /* key % primes[i], see mhash.c */
    uint8_t mod_shift[MHASH_MAX_ROWS];
};

struct mhash_stats {
    uint32_t rows;
    bool decreasing;
    uint32_t rec_size;
    uint64_t slots, used;
    double load; /* used / slots */
    uint32_t primes[MHASH_MAX_ROWS];
    uint64_t row_used[MHASH_MAX_ROWS];
};

/* Fill primes[0 .. rows-1] for g: distinct primes, strictly decreasing,
 * summing to about g->capacity. 0, or -1 with EINVAL for a bad geometry. */
int mhash_primes(const struct mhash_geom *g, uint32_t *primes);
bool mhash_is_prime(uint64_t n);
/* Bytes of memory (or segment payload) a table of geometry g needs; 0 for
 * a bad geometry. */
size_t mhash_size(const struct mhash_geom *g);

/* A new, empty table in mem (size bytes, 64-byte aligned). 0, or -1 with
 * EINVAL. */
int mhash_init(struct mhash *h, void *mem, size_t size,
               const struct mhash_geom *g);
/* Use the table someone built in mem, after checking its header (magic,
 * version, rows, primes, record size) against size. Changes nothing.
 * 0, or -1 with EPROTO. */
int mhash_attach(struct mhash *h, void *mem, size_t size, bool readonly);
/* Forget the table (memory tables). Safe on a released handle. */
void mhash_release(struct mhash *h);

/* The same in a System V segment (mode 0600): create (EEXIST if a live
 * process owns key), open (ENOENT, EACCES, EPROTO, EAGAIN as
 * shmem_open(); readonly attaches SHM_RDONLY), or open else create. An
 * opened table is used as it is, never wiped; open_or_create refuses with
 * EPROTO one whose record size differs from g's. 0, or -1 with errno. */
int mhash_create(struct mhash *h, key_t key, const struct mhash_geom *g);
int mhash_open(struct mhash *h, key_t key, bool readonly);
int mhash_open_or_create(struct mhash *h, key_t key, const struct mhash_geom *g,
                         bool *created);
/* Detach; the segment stays for others. */
void mhash_close(struct mhash *h);
/* Remove the segment (it goes once the last process detaches), detach. */
int mhash_remove(struct mhash *h);
/* Remove the table under key without attaching, if it is a multi-hash of
 * ours (shmem_remove_key()). 0 (also when there is none) or -1. */
int mhash_remove_key(key_t key);

/* Writer. Add key with record rec (rec_size bytes). 0, or -1 with EEXIST
 * (key present), ENOSPC (its R candidate slots are all taken), EROFS. */
int mhash_insert(struct mhash *h, uint64_t key, const void *rec);
/* Writer. Replace key's record. 0, or -1 with ENOENT, EROFS. */
int mhash_update(struct mhash *h, uint64_t key, const void *rec);
/* Writer. If key is present copy its record into rec and set *inserted =
 * false; else add key with rec as its record and set *inserted = true.
 * 0, or -1 with ENOSPC, EROFS. */
int mhash_get_or_insert(struct mhash *h, uint64_t key, void *rec,
                        bool *inserted);
/* Writer. Delete key: its slot becomes empty (readers stop finding it).
 * Its record is copied to rec first unless rec is NULL. 0, or -1 with
 * ENOENT, EROFS. */
int mhash_delete(struct mhash *h, uint64_t key, void *rec);

/* Reader (and writer). Copy key's record into rec. 0, or -1 with ENOENT,
 * or EAGAIN when a slot that may hold key was being written: retry. On
 * failure rec's contents are unspecified. */
int mhash_find(const struct mhash *h, uint64_t key, void *rec);

/* Called with a consistent copy of each record; return non-zero to stop. */
typedef int (*mhash_visit_cb)(uint64_t key, const void *rec, void *arg);
/* Reader. Visit every occupied slot once, row by row. Returns 0; or -1
 * with EAGAIN when some slots stayed busy through a few retries and were
 * skipped (all others were visited), ENOMEM, or ECANCELED if cb stopped. */
int mhash_foreach(const struct mhash *h, mhash_visit_cb cb, void *arg);

/* Reader. Occupancy per row and in total (exact when no write runs). */
void mhash_stats(const struct mhash *h, struct mhash_stats *st);
/* The writer's count of records (a hint for readers), O(1). */
uint64_t mhash_count(const struct mhash *h);

#endif

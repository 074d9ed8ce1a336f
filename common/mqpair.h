/* mqpair.h -- the two queues joining an io_conn process and md, and the
 * names both sides derive from one base key and one directory.
 *
 * For io_conn number i (0 <= i < MQPAIR_MAX_IO):
 *   key base + 4i      io -> md queue     FIFO DIR/io2md.<i>
 *   key base + 4i + 1  md -> io queue     FIFO DIR/md2io.<i>
 *   key base + 4i + 2  io_conn i's statistics
 *   key base + 64      md's statistics
 *   key base + 65      the launcher's statistics (restarts)
 *   key base + 66      md's session table (ch5-cache: an mhash that md
 *                      writes and viewcache reads)
 * Every process computes the same names from -k and -d, so they meet
 * without talking, whichever starts first. */
#ifndef COMMON_MQPAIR_H
#define COMMON_MQPAIR_H

#include "spscq.h"

#include <stddef.h>
#include <sys/types.h>

#define MQPAIR_MAX_IO      16
#define MQPAIR_DEFAULT_KEY 0x5e7e0000
/* 4 MiB per direction: a few thousand in-flight 1 KiB messages. */
#define MQPAIR_CAPACITY (4u << 20)
#define MQPAIR_PATH_MAX 256

enum mqpair_side { MQPAIR_IO, MQPAIR_MD };

struct mqpair {
    struct spscq *in;  /* the queue this side consumes */
    struct spscq *out; /* the queue this side produces */
};

static inline key_t mqpair_io_stats_key(key_t base, unsigned i)
{
    return (key_t)(base + 4 * (int)i + 2);
}
static inline key_t mqpair_md_stats_key(key_t base)
{
    return (key_t)(base + 4 * MQPAIR_MAX_IO);
}
static inline key_t mqpair_launcher_stats_key(key_t base)
{
    return (key_t)(base + 4 * MQPAIR_MAX_IO + 1);
}
static inline key_t mqpair_sessions_key(key_t base)
{
    return (key_t)(base + 4 * MQPAIR_MAX_IO + 2);
}

/* Open (or create) pair i as io_conn or md. 0 or -1 with errno (see
 * spscq_open_or_create); on failure nothing stays open. */
int mqpair_open(struct mqpair *p, key_t base, const char *dir, unsigned i,
                enum mqpair_side side);
void mqpair_close(struct mqpair *p);
/* Remove the segments and FIFOs of pairs 0..n-1 and the statistics
 * segments, whoever created them: the launcher's last act. 0 or -1. */
int mqpair_remove_all(key_t base, const char *dir, unsigned n);

/* Make dir (mode 0700) unless it exists; refuse one that is not a
 * directory of ours closed to others, since FIFOs in it are trusted.
 * 0 or -1 with errno (ENOTDIR, EACCES, ...). */
int mqpair_private_dir(const char *dir);
/* The default directory, /tmp/svrtut-<uid>, into buf. */
const char *mqpair_default_dir(char *buf, size_t size);

#endif

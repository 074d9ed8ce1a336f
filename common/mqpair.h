/* mqpair.h -- the two queues joining an io_conn process and md, opened
 * from one side or the other under the names of common/srvkeys.h. */
#ifndef COMMON_MQPAIR_H
#define COMMON_MQPAIR_H

#include "spscq.h"
#include "srvkeys.h"

#include <stddef.h>
#include <sys/types.h>

/* 4 MiB per direction: a few thousand in-flight 1 KiB messages. */
#define MQPAIR_CAPACITY (4u << 20)

enum mqpair_side { MQPAIR_IO, MQPAIR_MD };

struct mqpair {
    struct spscq *in;  /* the queue this side consumes */
    struct spscq *out; /* the queue this side produces */
};

/* Open (or create) pair i as io_conn or md. 0 or -1 with errno (see
 * spscq_open_or_create); on failure nothing stays open. */
int mqpair_open(struct mqpair *p, key_t base, const char *dir, unsigned i,
                enum mqpair_side side);
void mqpair_close(struct mqpair *p);

/* Make dir (mode 0700) unless it exists; refuse one that is not a
 * directory of ours closed to others, since FIFOs in it are trusted.
 * 0 or -1 with errno (ENOTDIR, EACCES, ...). */
int mqpair_private_dir(const char *dir);
/* The default directory, /tmp/svrtut-<uid>, into buf. */
const char *mqpair_default_dir(char *buf, size_t size);

#endif

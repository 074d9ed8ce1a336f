/* count.h -- the part of the exercise you write (count.c): the queue's
 * counting hooks (spscq_count_push and spscq_count_pop, declared in
 * common/spscq.h) and the reader's side, used by mqcount.c. */
#ifndef EX_COUNT_H
#define EX_COUNT_H

#include "shmem.h"
#include "spscq.h"

#include <stdint.h>
#include <sys/types.h>

/* What mqcount prints for one queue. */
struct count_view {
    uint64_t pushed_msgs, pushed_bytes, popped_msgs, popped_bytes;
};

/* Attach the queue segment under key for reading only, and check that it
 * is a queue (its header: SPSCQ_MAGIC, SPSCQ_VERSION, big enough for the
 * counts). 0, or -1 with errno: ENOENT (no segment), EPROTO (not a
 * queue), EACCES, ... (count.c) */
int count_attach(struct shmem *sm, key_t key);
/* Copy the four counters of an attached queue into *v. (count.c) */
void count_read(const struct shmem *sm, struct count_view *v);

#endif

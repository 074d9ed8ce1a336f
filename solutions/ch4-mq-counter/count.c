/* count.c -- count what passes through a queue, in the queue's segment.
 *
 * The producer's counts sit on the line it already writes (tail), the
 * consumer's on its own (head), and each counter has one writer. One
 * writer needs no read-modify-write: it loads its own last value and
 * stores the next one. Both are atomic so that a reader in another
 * process never sees half a 64-bit value; relaxed, because a count orders
 * nothing: the queue's own acquire and release do that. The reader
 * attaches with SHM_RDONLY, so it cannot write a byte of a live queue,
 * and checks the header before it trusts the offsets. */
#include "count.h"

static void count_add(struct spscq_counts *c, size_t len)
{
    atomic_store_explicit(
        &c->msgs, atomic_load_explicit(&c->msgs, memory_order_relaxed) + 1,
        memory_order_relaxed);
    atomic_store_explicit(
        &c->bytes, atomic_load_explicit(&c->bytes, memory_order_relaxed) + len,
        memory_order_relaxed);
}

void spscq_count_push(struct spscq_counts *c, size_t len) { count_add(c, len); }

void spscq_count_pop(struct spscq_counts *c, size_t len) { count_add(c, len); }

int count_attach(struct shmem *sm, key_t key)
{
    return shmem_open(sm, key, SPSCQ_MAGIC, SPSCQ_VERSION,
                      SPSCQ_POPPED_OFFSET + sizeof(struct spscq_counts), true);
}

static const struct spscq_counts *counts_at(const struct shmem *sm, size_t off)
{
    return (const struct spscq_counts *)((const char *)shmem_data(sm) + off);
}

void count_read(const struct shmem *sm, struct count_view *v)
{
    const struct spscq_counts *in = counts_at(sm, SPSCQ_PUSHED_OFFSET);
    const struct spscq_counts *out = counts_at(sm, SPSCQ_POPPED_OFFSET);

    v->pushed_msgs = atomic_load_explicit(&in->msgs, memory_order_relaxed);
    v->pushed_bytes = atomic_load_explicit(&in->bytes, memory_order_relaxed);
    v->popped_msgs = atomic_load_explicit(&out->msgs, memory_order_relaxed);
    v->popped_bytes = atomic_load_explicit(&out->bytes, memory_order_relaxed);
}

/* spscq.h -- single-producer single-consumer queue of variable-length
 * messages in a System V shared memory segment, with a FIFO to wake a
 * sleeping consumer. Two unrelated processes meet by key and FIFO path.
 *
 * One process opens the queue as SPSCQ_PRODUCER, one as SPSCQ_CONSUMER;
 * either may start first (spscq_open_or_create), and either may die and
 * come back: the queue and its messages live in the segment until
 * spscq_remove(). See spscq.c for the layout and the wake-up protocol. */
#ifndef COMMON_SPSCQ_H
#define COMMON_SPSCQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The segment's header (common/shmem.h) says what it holds: a queue. */
#define SPSCQ_MAGIC   0x51435053u /* "SPCQ" in memory order */
#define SPSCQ_VERSION 1u

/* Each message is a header (total length, id) and its payload. */
#define SPSCQ_MSG_HDR 8u
/* Ring sizes: powers of two in [SPSCQ_MIN_CAPACITY, SPSCQ_MAX_CAPACITY]. */
#define SPSCQ_MIN_CAPACITY 64u
#define SPSCQ_MAX_CAPACITY (1u << 30)

/* A handle pushes, pops, or (for two threads of one process sharing one
 * attachment) both: each side's private state sits on its own lines. */
enum spscq_role {
    SPSCQ_PRODUCER = 1,
    SPSCQ_CONSUMER = 2,
    SPSCQ_BOTH = SPSCQ_PRODUCER | SPSCQ_CONSUMER,
};

struct spscq;

/* Room for two counters on each side's own cache line of the segment
 * (spscq.c, "Counting"): what the producer pushed, at SPSCQ_PUSHED_OFFSET
 * of the payload, what the consumer popped, at SPSCQ_POPPED_OFFSET. Each
 * is written by its side only. */
struct spscq_counts {
    _Atomic uint64_t msgs;
    _Atomic uint64_t bytes; /* payload bytes, headers not included */
};
#define SPSCQ_PUSHED_OFFSET 72
#define SPSCQ_POPPED_OFFSET 136

/* Defined by a program built with SPSCQ_COUNT_HOOKS (the exercise
 * ch4-mq-counter): called by the producer after each push of len payload
 * bytes, and by the consumer after each consume. */
void spscq_count_push(struct spscq_counts *c, size_t len);
void spscq_count_pop(struct spscq_counts *c, size_t len);

/* Create the queue (a segment with a ring of capacity bytes, a power of
 * two) and its FIFO (mode 0600, made if missing), and open it in role.
 * A stale segment under key is reclaimed as shmem_create() does. NULL
 * with errno: EINVAL (capacity), EEXIST (a live process has it), ... */
struct spscq *spscq_create(key_t key, const char *fifo_path, size_t capacity,
                           enum spscq_role role);
/* Open an existing queue after validating its geometry and indices.
 * NULL with errno: ENOENT, EACCES, EPROTO (bad geometry), EBADMSG
 * (corrupt indices), EAGAIN (not yet published), or from open(2). */
struct spscq *spscq_open(key_t key, const char *fifo_path,
                         enum spscq_role role);
/* Open the queue, or create it if there is none (*created says which):
 * the way two processes that may start in any order meet. An existing
 * queue keeps its own capacity, which must be at least capacity (EPROTO
 * otherwise). */
struct spscq *spscq_open_or_create(key_t key, const char *fifo_path,
                                   size_t capacity, enum spscq_role role,
                                   bool *created);
/* For tests and fuzz/: a handle over a queue already in memory that is
 * not a segment, such as a copy of a segment's payload (size bytes at
 * mem, 64-byte aligned), validated as spscq_open() validates. It has no
 * FIFO: nothing wakes or is woken. NULL with errno EPROTO (bad
 * geometry), EBADMSG (corrupt indices), EINVAL (role) or ENOMEM.
 * spscq_close() frees the handle; the memory stays the caller's. */
struct spscq *spscq_attach(void *mem, size_t size, enum spscq_role role);
/* Close the FIFO, detach and free; the queue lives on. NULL is a no-op. */
void spscq_close(struct spscq *q);
/* Remove the segment and the FIFO, then close. 0 or -1 with errno (q is
 * closed either way). */
int spscq_remove(struct spscq *q);

/* Remove the queue under key and its FIFO without opening it: for a
 * launcher cleaning up after its children. Only a segment of ours with a
 * queue's header is removed (shmem_remove_key()); the FIFO is unlinked
 * if it exists. 0 (also when neither exists) or -1 with errno. */
int spscq_remove_key(key_t key, const char *fifo_path);

/* Largest payload a message may carry in this queue. */
size_t spscq_max_payload(const struct spscq *q);

/* Producer. Append one message and wake the consumer if it may sleep.
 * -1 with errno: EAGAIN (no room now; the queue is unchanged), EMSGSIZE
 * (larger than the ring can ever hold), EBADMSG (corrupt index), EPERM
 * (not the producer). */
int spscq_push(struct spscq *q, uint32_t id, const void *data, size_t len);

/* Producer, in batches: spscq_push() without the wake-up. A producer that
 * pushes many messages per event-loop turn calls spscq_wake() once after
 * the last of them, instead of a possible FIFO write per message. Until
 * it does, a sleeping consumer does not see them: never skip the wake. */
int spscq_push_quiet(struct spscq *q, uint32_t id, const void *data,
                     size_t len);
/* Producer. Wake the consumer if it may be asleep (at most one FIFO
 * write). Pairs with spscq_push_quiet(). */
void spscq_wake(struct spscq *q);

/* Consumer. Take the oldest message: its id into *id, its payload into
 * buf, whose size is *len on entry; *len is the payload length on return.
 * -1 with errno: EAGAIN (empty), EMSGSIZE (buf too small: the message
 * stays queued and *len says how large it is), EBADMSG (corrupt length or
 * index in the segment), EPERM (not the consumer). */
int spscq_pop(struct spscq *q, uint32_t *id, void *buf, size_t *len);

/* Called by spscq_drain() for each message. data is valid only during
 * the call. Return 0 to consume the message; -1 with errno EAGAIN to
 * leave it queued and stop the batch (the consumer cannot take it now);
 * -1 with any other errno to stop and fail the drain with that errno. */
typedef int (*spscq_msg_cb)(uint32_t id, const void *data, size_t len,
                            void *arg);
/* Consumer. Hand up to max messages to cb, oldest first, without
 * copying unless a message wraps around the ring's end. Each is consumed
 * when cb returns 0. Returns how many were consumed, or -1 with errno
 * (EBADMSG, EPERM, ENOMEM). */
int spscq_drain(struct spscq *q, spscq_msg_cb cb, void *arg, unsigned max);

/* Consumer, waiting. The FIFO fd (non-blocking) becomes readable when
 * the producer wakes us: give it to libevent with EV_READ|EV_PERSIST. In
 * the callback: spscq_wait_ack(), drain, then spscq_wait_prepare(); if it
 * returns false, messages arrived meanwhile: drain again (or make the
 * event active) before returning to the loop. spscq_consume() does all
 * of it. */
int spscq_wait_fd(const struct spscq *q);
/* Read and discard the wake-up bytes (so a level-triggered loop does not
 * spin on them). Call before draining, never between prepare and sleep. */
void spscq_wait_ack(struct spscq *q);
/* Announce that the consumer is about to sleep and check the queue once
 * more. true: it is empty and a push will write a wake-up byte; sleep.
 * false: a message arrived meanwhile; do not sleep, drain it. */
bool spscq_wait_prepare(struct spscq *q);
/* What a consumer's event callback does after spscq_consume(). */
enum spscq_turn {
    SPSCQ_IDLE,    /* empty, and a push will wake us: wait for the fd */
    SPSCQ_MORE,    /* max messages taken, more may wait: come back after
                      the other events had a turn (event_active) */
    SPSCQ_BLOCKED, /* cb refused a message (EAGAIN): retry on a timer */
    SPSCQ_ERROR,   /* corrupt queue or a failing cb: errno says; stop */
};
/* Consumer. One turn of an event-driven consumer: ack the wake-up,
 * drain up to max messages at a time through cb, and prepare to sleep
 * once the queue is empty, closing the lost-wake-up race. */
enum spscq_turn spscq_consume(struct spscq *q, spscq_msg_cb cb, void *arg,
                              unsigned max);

/* Block until a message may be available or timeout_ms passes (-1: no
 * timeout). Spins first if spscq_set_spin() asked for it. 0 when there
 * may be messages (spurious wake-ups happen), -1 with errno ETIMEDOUT or
 * EINTR. */
int spscq_wait(struct spscq *q, int timeout_ms);
/* Busy-check the queue up to spins times before sleeping in
 * spscq_wait(): trades CPU for latency. The default, 0, never spins. */
void spscq_set_spin(struct spscq *q, unsigned spins);

#endif

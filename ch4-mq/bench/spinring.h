/* spinring.h -- the busy-polled ring mqbench measures the queue against:
 * what one shared-memory channel between two processes costs when both
 * sides spin on its indices and never sleep, never make a system call.
 *
 * One producer, one consumer, records of [len:u32][pad:u32][bytes] each
 * rounded up to 8 bytes in a byte ring of a power-of-two size. head is
 * written by the producer only, tail by the consumer only, each on its
 * own cache line beside that side's private copy of the other index (so
 * a side reads the other's line only when its copy says full or empty).
 * The price of the speed: a waiting side burns a whole core. */
#ifndef CH4_MQ_SPINRING_H
#define CH4_MQ_SPINRING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct spinring {
    _Alignas(64) _Atomic uint64_t head; /* producer: bytes written */
    uint64_t tail_seen;                 /* producer's copy of tail */
    _Alignas(64) _Atomic uint64_t tail; /* consumer: bytes read */
    uint64_t head_seen;                 /* consumer's copy of head */
    _Alignas(64) uint64_t size;         /* of data[], a power of two */
    unsigned char data[];
};

/* A ring of size bytes (a power of two, at least 64) in anonymous shared
 * memory, so a fork()ed child shares it. NULL with errno. */
struct spinring *spinring_new(size_t size);
void spinring_free(struct spinring *r);

/* Producer: append one record of len bytes. 0, or -1 with errno EAGAIN
 * (no room now) or EMSGSIZE (longer than a quarter of the ring). */
int spinring_push(struct spinring *r, const void *msg, uint32_t len);
/* Consumer: take the oldest record into out (*len: its room; set to the
 * record's length). 0, or -1 with errno EAGAIN (empty) or EMSGSIZE (out
 * too small: the record stays) or EPROTO (a length the ring cannot hold:
 * corrupt). */
int spinring_pop(struct spinring *r, void *out, size_t *len);

#endif

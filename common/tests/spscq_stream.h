/* spscq_stream.h -- a verifiable stream of messages for the spscq tests:
 * message seq has a size of 0..2048 bytes and contents that both ends
 * derive from (seed, seq), so the consumer checks every byte, the order
 * and that nothing is missing or repeated, without a side channel. */
#ifndef COMMON_TESTS_SPSCQ_STREAM_H
#define COMMON_TESTS_SPSCQ_STREAM_H

#include "spscq.h"

#include <stdint.h>

#define STREAM_MAX_MSG 2048

/* Make the contents of stream seed. produce and consume do it if needed;
 * threads sharing the stream call it first, so they only read it. */
void stream_prepare(uint32_t seed);

/* Push messages [from, to) of the stream; waits (yielding) while the
 * queue is full. 0, or -1 with the reason in stream_error(). */
int stream_produce(struct spscq *q, uint32_t seed, uint64_t from, uint64_t to,
                   int timeout_ms);

/* What a consumer has seen, for another process to watch: the seq of
 * the first message (set once, if it is UINT64_MAX) and of the next one
 * expected, stored after a message is checked and before it is consumed. */
struct stream_progress {
    _Atomic uint64_t first;
    _Atomic uint64_t next;
};

/* Receive messages until seq reaches to, checking each; the first one
 * received must be *next (or, if *next is UINT64_MAX, any: *next takes
 * its seq). *next is updated as messages are checked; so is *pr unless it
 * is NULL. timeout_ms bounds each wait: a wait that times out while the
 * producer is running means a lost wake-up. 0, or -1 with
 * stream_error(). */
int stream_consume(struct spscq *q, uint32_t seed, uint64_t *next, uint64_t to,
                   int timeout_ms, struct stream_progress *pr);

const char *stream_error(void);

#endif

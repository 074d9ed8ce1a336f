/* bench.h -- the part of bench_client you write (bench.c), and what the
 * rest of the program (bench_client.c: options, connection, report)
 * gives you. */
#ifndef EX_BENCH_H
#define EX_BENCH_H

#include "histogram.h"

#include <stddef.h>
#include <stdint.h>

/* The smallest message: its first 4 bytes carry its number. */
#define BENCH_MIN_SIZE 8

struct bench {
    /* set by bench_client.c */
    int fd;          /* a connected TCP socket, non-blocking */
    unsigned count;  /* messages to send, and echoes to wait for */
    size_t size;     /* bytes per message, >= BENCH_MIN_SIZE */
    unsigned window; /* at most this many messages sent, not yet echoed */
    int timeout_ms;  /* give up when nothing arrives for this long */
    struct histogram *latency; /* record each message's latency, in ns */
    /* set by bench_run() */
    unsigned echoed; /* echoes received whole and checked */
    char error[256]; /* on failure: one line saying what went wrong */
};

/* Send b->count messages of b->size bytes (message i is what
 * bench_message() writes for i), with at most b->window in flight;
 * check that every echo is exactly its message, in order; record each
 * message's latency (from its first byte sent to its last byte echoed).
 * 0 when all are echoed and checked; -1 with b->error set when an echo
 * differs, the server closes, a socket call fails, or nothing arrives for
 * b->timeout_ms. (bench.c) */
int bench_run(struct bench *b);

/* --- given (bench_client.c) ---------------------------------------------- */

/* The size bytes of message number seq into buf. */
void bench_message(unsigned char *buf, size_t size, unsigned seq);

#endif

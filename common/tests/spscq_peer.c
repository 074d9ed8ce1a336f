/* spscq_peer.c -- one end of a spscq stream, as a program of its own, so
 * the tests can show two unrelated processes meeting by key and FIFO path.
 *
 *   spscq_peer produce|consume KEY FIFO COUNT SEED
 *
 * Whichever starts first creates the queue. The producer pushes messages
 * 0..COUNT-1 of the stream SEED; the consumer checks each of them. */
#include "harness.h"
#include "spscq_stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAPACITY (256 * 1024)
/* For the whole stream; scaled like the tests' (CK_TIMEOUT_MULTIPLIER:
 * under valgrind both ends run some 20 times slower). */
#define TIMEOUT_MS 30000

static void usage(FILE *f)
{
    fprintf(f, "usage: spscq_peer produce|consume KEY FIFO COUNT SEED\n");
}

int main(int argc, char **argv)
{
    struct spscq *q;
    bool created, produce;
    unsigned long long count, next = 0;
    key_t key;
    uint32_t seed;
    int rc;

    if (argc == 2 && strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (argc != 6 ||
        (strcmp(argv[1], "produce") != 0 && strcmp(argv[1], "consume") != 0)) {
        fprintf(stderr, "spscq_peer: bad arguments\n");
        usage(stderr);
        return 2;
    }
    produce = strcmp(argv[1], "produce") == 0;
    key = (key_t)strtol(argv[2], NULL, 0);
    count = strtoull(argv[4], NULL, 0);
    seed = (uint32_t)strtoul(argv[5], NULL, 0);
    q = spscq_open_or_create(key, argv[3], CAPACITY,
                             produce ? SPSCQ_PRODUCER : SPSCQ_CONSUMER,
                             &created);
    if (!q) {
        fprintf(stderr, "spscq_peer: open key=%#x %s: %s\n", (unsigned)key,
                argv[3], strerror(errno));
        return 1;
    }
    if (produce)
        rc = stream_produce(q, seed, 0, count, harness_ms(TIMEOUT_MS));
    else
        rc = stream_consume(q, seed, (uint64_t *)&next, count,
                            harness_ms(TIMEOUT_MS), NULL);
    spscq_close(q);
    if (rc < 0) {
        fprintf(stderr, "spscq_peer: %s\n", stream_error());
        return 1;
    }
    printf("%s %llu messages%s\n", produce ? "sent" : "received", count,
           created ? " (created the queue)" : "");
    return 0;
}

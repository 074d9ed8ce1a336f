/* bench.c -- send the messages, check the echoes, time each one. This is
 * the file you write; exercises/ch4-bench-client/README.md says what it
 * must do, and bench.h what bench_client.c gives you. */
#include "bench.h"

#include <stdio.h>

int bench_run(struct bench *b)
{
    /* TODO: send b->count messages (bench_message() makes message i),
     *       at most b->window in flight at once; b->fd is non-blocking.
     * TODO: check every echoed byte against its message, in order: TCP
     *       may deliver an echo in pieces, or several in one read.
     * TODO: record each message's latency in b->latency (ns, from its
     *       first byte sent to its last byte back) and count b->echoed.
     * TODO: never wait for ever: nothing for b->timeout_ms is an error.
     * On any error, say what happened in b->error and return -1. */
    snprintf(b->error, sizeof(b->error), "bench_run() is not written yet");
    return -1;
}

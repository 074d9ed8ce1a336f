/* pace.h -- the part of c10k_client you write (pace.c), and what the
 * rest of the program (c10k_client.c: options, limits, connections,
 * report) gives you. */
#ifndef EX_PACE_H
#define EX_PACE_H

#include "histogram.h"

#include <event2/event.h>

#include <stddef.h>
#include <stdint.h>

/* The smallest message: its number, then its connection's. */
#define PACE_MIN_SIZE 8

struct pace {
    /* set by c10k_client.c */
    struct event_base *base;
    const int *fds; /* conns connected TCP sockets, non-blocking */
    unsigned conns;
    size_t size;               /* bytes per message, >= PACE_MIN_SIZE */
    int64_t interval_ns;       /* between two messages of one connection */
    int64_t start_ns;          /* now_mono_ns() when sending starts */
    int64_t end_ns;            /* no message is due at or after this */
    int grace_ms;              /* then wait this long for the last echoes */
    struct histogram *latency; /* ns, from each message's due time */
    /* counted by pace_run() */
    uint64_t sent, echoed, errors;
    char error[256]; /* the first error, in one line */
};

/* When message seq of connection i is due: connections are spread
 * evenly over one interval, so the load is steady, not a burst a second. */
static inline int64_t pace_due_ns(const struct pace *p, unsigned i,
                                  uint32_t seq)
{
    return p->start_ns + (int64_t)i * p->interval_ns / p->conns +
           (int64_t)seq * p->interval_ns;
}

/* Send every message on time, whatever the server does (an open loop: a
 * slow server must not slow the sending); check every echo byte for
 * byte; record its latency from its due time (pace_due_ns), not from
 * when it was sent, so that a client or server stall is not hidden.
 * Returns when the last message's echo is in, or grace_ms after end_ns:
 * 0 if every message sent was echoed and checked, -1 otherwise with
 * p->error saying why. (pace.c) */
int pace_run(struct pace *p);

/* --- given (c10k_client.c) ------------------------------------------------ */

/* The size bytes of message seq of connection conn into buf. */
void pace_message(unsigned char *buf, size_t size, unsigned conn, uint32_t seq);

#endif

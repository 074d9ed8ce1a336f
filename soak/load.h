/* load.h -- the soak's clients: a mix of connections to one echo server on
 * one event loop, every byte that comes back checked against what was
 * sent.
 *
 * Four kinds run side by side, each keeping its number of connections
 * open:
 *   small  long connections pipelining messages of 1 to 200 bytes
 *   large  a connection per payload of 256 KiB to 8 MiB
 *   churn  a connection per message of 1 to 1,000 bytes, often closed or
 *          reset before its echo, or reset after it
 *   slow   long connections that read 4 KiB every 10 ms while up to
 *          1 MiB of their echo is owed (the server's backpressure)
 * Each connection's bytes come from a pseudo-random stream of its own, so
 * a byte lost, doubled, changed or delivered to the wrong connection fails
 * the check at the offset where it happens. */
#ifndef SOAK_LOAD_H
#define SOAK_LOAD_H

#include <event2/event.h>

#include <stdbool.h>
#include <stdint.h>

enum load_kind { LOAD_SMALL, LOAD_LARGE, LOAD_CHURN, LOAD_SLOW, LOAD_NKINDS };

/* What the connections of one kind have done so far. */
struct load_count {
    uint64_t conns;     /* connections opened */
    uint64_t echoes;    /* whole echoes checked: messages, payloads, trips */
    uint64_t sent;      /* bytes sent on connections that were not abandoned */
    uint64_t checked;   /* bytes echoed and checked */
    uint64_t abandoned; /* connections closed on purpose before the echo */
};

struct load_config {
    uint16_t port;               /* on 127.0.0.1 */
    unsigned conns[LOAD_NKINDS]; /* connections of each kind at once */
    uint32_t seed;               /* every size, fate and byte comes from it */
};

/* Called once: when the load fails (load_error() says why), or after
 * load_drain() when every connection has been echoed all it sent and is
 * closed. */
typedef void (*load_done_cb)(void *arg);

/* Start the connections on base. NULL with errno on failure. */
struct load *load_new(struct event_base *base, const struct load_config *cfg,
                      load_done_cb cb, void *arg);
/* Stop sending and opening connections; each open one is closed once all
 * it sent has come back. */
void load_drain(struct load *l);
/* The first failure, or NULL. */
const char *load_error(const struct load *l);
/* Connections open or opening. */
unsigned load_open(const struct load *l);
const char *load_kind_name(enum load_kind k);
void load_count(const struct load *l, enum load_kind k, struct load_count *out);
/* Close every connection and free. NULL is a no-op. */
void load_free(struct load *l);

#endif

/* stopsig.h -- clean shutdown of an event loop on SIGINT and SIGTERM. */
#ifndef COMMON_STOPSIG_H
#define COMMON_STOPSIG_H

#include <event2/event.h>

struct stopsig;

/* Called from the loop when a stop signal arrives, before the loop breaks.
 * A launcher uses it to forward the signal to its children. */
typedef void (*stopsig_cb)(int signo, void *arg);

/* Watch SIGINT and SIGTERM on base: on either, log it, call cb (may be
 * NULL) and break the loop, so main() falls through to its clean-up. Also
 * ignores SIGPIPE: a peer that vanishes is an error return, not a death.
 * Returns NULL with errno on failure. */
struct stopsig *stopsig_new(struct event_base *base, stopsig_cb cb, void *arg);
void stopsig_free(struct stopsig *ss);

/* The signal that stopped the loop, or 0 if none has. */
int stopsig_caught(const struct stopsig *ss);

#endif

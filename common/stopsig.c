/* stopsig.c -- clean shutdown of an event loop on SIGINT and SIGTERM.
 *
 * libevent turns the signal into an ordinary event (it installs the
 * handler and wakes the loop through a socketpair), so the clean-up runs
 * in main(), outside any signal handler, where freeing is safe. */
#include "stopsig.h"

#include "log.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

struct stopsig {
    struct event_base *base;
    struct event *ev_int;
    struct event *ev_term;
    stopsig_cb cb;
    void *arg;
    int caught;
};

static void stop_cb(evutil_socket_t signo, short what, void *arg)
{
    struct stopsig *ss = arg;

    (void)what;
    ss->caught = (int)signo;
    log_info("caught %s, shutting down", strsignal((int)signo));
    if (ss->cb)
        ss->cb((int)signo, ss->arg);
    event_base_loopbreak(ss->base);
}

struct stopsig *stopsig_new(struct event_base *base, stopsig_cb cb, void *arg)
{
    struct stopsig *ss = calloc(1, sizeof(*ss));

    if (!ss)
        return NULL;
    ss->base = base;
    ss->cb = cb;
    ss->arg = arg;
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        goto out_free;
    ss->ev_int = evsignal_new(base, SIGINT, stop_cb, ss);
    ss->ev_term = evsignal_new(base, SIGTERM, stop_cb, ss);
    if (!ss->ev_int || !ss->ev_term || evsignal_add(ss->ev_int, NULL) < 0 ||
        evsignal_add(ss->ev_term, NULL) < 0)
        goto out_free;
    return ss;

out_free:
    stopsig_free(ss);
    errno = ENOMEM;
    return NULL;
}

void stopsig_free(struct stopsig *ss)
{
    if (!ss)
        return;
    if (ss->ev_int)
        event_free(ss->ev_int);
    if (ss->ev_term)
        event_free(ss->ev_term);
    free(ss);
}

int stopsig_caught(const struct stopsig *ss) { return ss->caught; }

/* bucket.c -- a token bucket per connection, refilled by a timer.
 *
 * One persistent timer per bucket. Each tick adds a tenth of the rate,
 * capped at one second's worth so a connection that was quiet cannot
 * save up a larger burst. bucket_echo() moves at most `tokens` bytes
 * (evbuffer_remove_buffer moves chains, copying only a split chain) and
 * turns reading off when the bucket runs dry. The tick turns it back on,
 * and also moves what is already in the input buffer: those bytes were
 * read before the bucket ran dry, and no read callback will come for
 * them, since libevent calls it only when new bytes arrive. */
#include "bucket.h"

#include <event2/buffer.h>

#include <errno.h>
#include <stdlib.h>

struct bucket {
    struct bufferevent *bev;
    struct event *refill_ev; /* EV_PERSIST, every BUCKET_TICK_MS */
    size_t rate;             /* tokens per second, and the capacity */
    size_t tokens;           /* bytes that may still pass now */
};

static void bucket_refill_cb(evutil_socket_t fd, short what, void *arg)
{
    struct bucket *b = arg;
    size_t tick = b->rate * BUCKET_TICK_MS / 1000;

    (void)fd;
    (void)what;
    b->tokens = b->rate - b->tokens < tick ? b->rate : b->tokens + tick;
    if (evbuffer_get_length(bufferevent_get_input(b->bev)) > 0)
        bucket_echo(b);
    if (b->tokens > 0 && !(bufferevent_get_enabled(b->bev) & EV_READ))
        bufferevent_enable(b->bev, EV_READ);
}

struct bucket *bucket_new(struct event_base *base, struct bufferevent *bev,
                          size_t rate)
{
    struct timeval tick = {0, BUCKET_TICK_MS * 1000};
    struct bucket *b = calloc(1, sizeof(*b));

    if (!b)
        return NULL;
    *b = (struct bucket){.bev = bev, .rate = rate, .tokens = rate};
    b->refill_ev = event_new(base, -1, EV_PERSIST, bucket_refill_cb, b);
    if (!b->refill_ev || event_add(b->refill_ev, &tick) < 0) {
        if (b->refill_ev)
            event_free(b->refill_ev);
        free(b);
        errno = ENOMEM;
        return NULL;
    }
    return b;
}

void bucket_echo(struct bucket *b)
{
    struct evbuffer *in = bufferevent_get_input(b->bev);
    size_t len = evbuffer_get_length(in);
    int moved = evbuffer_remove_buffer(in, bufferevent_get_output(b->bev),
                                       len < b->tokens ? len : b->tokens);

    if (moved > 0)
        b->tokens -= (size_t)moved;
    if (b->tokens == 0)
        bufferevent_disable(b->bev, EV_READ);
}

void bucket_free(struct bucket *b)
{
    if (!b)
        return;
    event_free(b->refill_ev); /* deletes the pending timer too */
    free(b);
}

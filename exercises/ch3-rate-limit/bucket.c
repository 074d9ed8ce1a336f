/* bucket.c -- exercise ch3-rate-limit: the token bucket of bucket.h, and
 * the timer that refills it. See README.md.
 *
 * As given, there is no limit: bucket_echo() moves everything at once and
 * no timer runs, so the server echoes at full speed. */
#include "bucket.h"

#include <event2/buffer.h>

#include <errno.h>
#include <stdlib.h>

/* TODO: what a bucket needs: its bufferevent, its tokens, its timer. */
struct bucket {
    struct bufferevent *bev;
};

/* TODO: the timer's callback (an event_callback_fn) adds rate / 10
 * tokens, at most up to rate, and lets the connection's bytes flow
 * again. */

struct bucket *bucket_new(struct event_base *base, struct bufferevent *bev,
                          size_t rate)
{
    struct bucket *b = calloc(1, sizeof(*b));

    (void)base;
    (void)rate;
    if (!b)
        return NULL;
    b->bev = bev;
    /* TODO: start full, and start the refill timer (EV_PERSIST, every
     * BUCKET_TICK_MS). */
    return b;
}

void bucket_echo(struct bucket *b)
{
    /* TODO: move no more bytes than there are tokens; with none left,
     * stop reading. */
    evbuffer_add_buffer(bufferevent_get_output(b->bev),
                        bufferevent_get_input(b->bev));
}

void bucket_free(struct bucket *b)
{
    /* TODO: the timer goes with the bucket. */
    free(b);
}

/* bucket.h -- a token bucket per connection: how fast its echo may flow.
 *
 * The bucket holds up to `rate` tokens, one second's worth; one token
 * lets one byte through. It starts full. A timer adds rate / 10 tokens
 * every BUCKET_TICK_MS, never beyond `rate`. While the bucket is empty
 * the connection is not read, so a fast sender waits in its own kernel,
 * not in the server's memory. */
#ifndef EXERCISES_CH3_RATE_LIMIT_BUCKET_H
#define EXERCISES_CH3_RATE_LIMIT_BUCKET_H

#include <event2/bufferevent.h>
#include <event2/event.h>

#include <stddef.h>

/* The refill period: 10 refills a second. */
#define BUCKET_TICK_MS 100

struct bucket;

/* A full bucket for bev, refilled by a timer on base at rate bytes per
 * second (rate >= 10). NULL with errno set on failure. */
struct bucket *bucket_new(struct event_base *base, struct bufferevent *bev,
                          size_t rate);

/* Move what waits in bev's input to its output, as far as the tokens
 * allow; with no token left, stop reading from bev until the timer has
 * added some. The server's read callback calls it. */
void bucket_echo(struct bucket *b);

/* Stop the timer and free the bucket (bev stays the caller's). NULL is
 * allowed. */
void bucket_free(struct bucket *b);

#endif

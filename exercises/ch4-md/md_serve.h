/* md_serve.h -- the part of md you write (md_serve.c), and what the rest
 * of the program (md.c: options, statistics, signals) gives you. */
#ifndef EX_MD_SERVE_H
#define EX_MD_SERVE_H

#include "mqpair.h"

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

/* One md serving io_conn 0 of the server with base key `key`. */
struct md_ctx {
    key_t key;                   /* -k: the server's base key */
    const char *dir;             /* -d: the directory of the wake-up FIFOs */
    struct mqpair mq;            /* yours to open (MQPAIR_MD) and close */
    volatile sig_atomic_t *stop; /* becomes 1 on SIGINT or SIGTERM */
    useconds_t slow_us;          /* -s; md_pause() sleeps that long */
    void *priv;                  /* md.c's */
};

/* Serve until *ctx->stop: open the queue pair of io_conn 0, answer every
 * request with the same bytes, to the same flow id, then close the pair.
 * 0 when stopped, -1 with errno when a queue fails. (md_serve.c) */
int md_serve(struct md_ctx *ctx);

/* --- given (md.c) ---------------------------------------------- */

/* Call before queuing each reply: the -s delay, 0 by default. */
void md_pause(const struct md_ctx *ctx);
/* Count one reply of len bytes queued (viewstats: msgs, bytes). */
void md_count_reply(struct md_ctx *ctx, size_t len);
/* Count one refused push: the queue to io_conn was full (queue_full). */
void md_count_full(struct md_ctx *ctx);
/* Publish the counts (once per batch, not per message). */
void md_commit(struct md_ctx *ctx);

#endif

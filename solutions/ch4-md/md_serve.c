/* md_serve.c -- md's work: answer io_conn's requests through the queues.
 *
 * A request is consumed only once its reply is queued: the drain callback
 * pushes the reply and only then returns 0 (consume). Killed between the
 * two, md leaves the request in the queue; the next md answers it, and
 * io_conn drops the second copy by its sequence number. A full reply
 * queue refuses the push (-1, EAGAIN): the request stays, and md waits a
 * millisecond for io_conn to make room instead of retrying at once.
 * With nothing to do, md sleeps in spscq_wait(), which announces the
 * sleep before it looks at the queue a last time, so a request that
 * arrives meanwhile is never slept on. */
#include "md_serve.h"

#include <errno.h>
#include <stdbool.h>
#include <time.h>

#define BATCH   256  /* requests per drain: then wake io_conn, commit */
#define WAIT_MS 1000 /* longest sleep in the FIFO: re-check stop */

struct turn {
    struct md_ctx *ctx;
    bool full; /* a push was refused: the reply queue is full */
};

static int answer(uint32_t id, const void *data, size_t len, void *arg)
{
    struct turn *t = arg;

    md_pause(t->ctx);
    if (spscq_push_quiet(t->ctx->mq.out, id, data, len) < 0) {
        if (errno == EAGAIN) {
            md_count_full(t->ctx);
            t->full = true;
        }
        return -1; /* EAGAIN: leave it queued; else the queue failed */
    }
    md_count_reply(t->ctx, len);
    return 0;
}

/* Between batches: wait for room, for a request, or for nothing. */
static int wait_for_work(struct md_ctx *ctx, const struct turn *t, int n)
{
    struct timespec ms = {0, 1000 * 1000};

    if (t->full)
        return nanosleep(&ms, NULL) < 0 && errno != EINTR ? -1 : 0;
    if (n == BATCH)
        return 0; /* more may be waiting */
    if (spscq_wait(ctx->mq.in, WAIT_MS) < 0 && errno != ETIMEDOUT &&
        errno != EINTR)
        return -1;
    return 0;
}

int md_serve(struct md_ctx *ctx)
{
    int n, saved;

    if (mqpair_open(&ctx->mq, ctx->key, ctx->dir, 0, MQPAIR_MD) < 0)
        return -1;
    while (!*ctx->stop) {
        struct turn t = {ctx, false};

        n = spscq_drain(ctx->mq.in, answer, &t, BATCH);
        spscq_wake(ctx->mq.out); /* one wake-up for the whole batch */
        md_commit(ctx);
        if (n < 0 || wait_for_work(ctx, &t, n) < 0)
            goto out_fail;
    }
    mqpair_close(&ctx->mq);
    return 0;

out_fail:
    saved = errno;
    mqpair_close(&ctx->mq);
    errno = saved;
    return -1;
}

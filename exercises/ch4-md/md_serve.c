/* md_serve.c -- md's work: answer io_conn's requests through the queues.
 * This is the file you write; exercises/ch4-md/README.md says what it
 * must do, and md_serve.h what md_main.c gives you. */
#include "md_serve.h"

#include <errno.h>

int md_serve(struct md_ctx *ctx)
{
    /* TODO: open ctx->mq (mqpair_open, side MQPAIR_MD, io_conn 0).
     * TODO: until *ctx->stop: take the requests from ctx->mq.in and push
     *       each, unchanged, to ctx->mq.out with the same id; consume a
     *       request only once its reply is queued; call md_pause() before
     *       each reply and count it (md_count_reply, md_commit).
     * TODO: a full reply queue: keep the request, wait a little, retry.
     * TODO: nothing to do: sleep until io_conn wakes you, without ever
     *       sleeping on a request that is already there.
     * TODO: close ctx->mq; return 0 (stopped) or -1 with errno. */
    (void)ctx;
    errno = ENOSYS;
    return -1;
}

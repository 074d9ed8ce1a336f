/* bench.c -- send the messages, check the echoes, time each one.
 *
 * One loop over poll(): write while fewer than b->window messages are in
 * flight, read whatever has come back. TCP is a byte stream, so an echo
 * can arrive in pieces or several at once: the bytes are compared one
 * message at a time as they arrive, against what that message must be,
 * and a message is done (its latency recorded) when its last byte is
 * in. Every wait is bounded: poll() gives up after b->timeout_ms with
 * nothing to read, so a server that swallows a message cannot hang us. */
#include "bench.h"

#include "now.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct run {
    struct bench *b;
    unsigned char *out, *want; /* the message being sent, and awaited */
    unsigned sent;             /* messages written whole */
    size_t out_off, in_off;    /* bytes of each done so far */
    int64_t *start_ns;         /* first byte sent, per message in flight */
};

static int fail(struct bench *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(b->error, sizeof(b->error), fmt, ap);
    va_end(ap);
    return -1;
}

/* Write what the window allows: 0, or -1 on a socket error. */
static int send_some(struct run *r)
{
    struct bench *b = r->b;

    while (r->sent < b->count && r->sent - b->echoed < b->window) {
        ssize_t n;

        if (r->out_off == 0) {
            bench_message(r->out, b->size, r->sent);
            r->start_ns[r->sent % b->window] = now_mono_ns();
        }
        n = write(b->fd, r->out + r->out_off, b->size - r->out_off);
        if (n < 0)
            return errno == EAGAIN ? 0 : fail(b, "write: %s", strerror(errno));
        r->out_off += (size_t)n;
        if (r->out_off == b->size) {
            r->out_off = 0;
            r->sent++;
        }
    }
    return 0;
}

/* Check what has come back: 0, or -1 on a wrong byte, EOF or error. */
static int receive_some(struct run *r)
{
    struct bench *b = r->b;
    unsigned char buf[64 * 1024];
    ssize_t n;

    while ((n = read(b->fd, buf, sizeof(buf))) > 0) {
        for (size_t i = 0; i < (size_t)n;) {
            size_t take = b->size - r->in_off;
            if (take > (size_t)n - i)
                take = (size_t)n - i;
            if (r->in_off == 0)
                bench_message(r->want, b->size, b->echoed);
            if (memcmp(buf + i, r->want + r->in_off, take) != 0)
                return fail(b, "echo %u differs from message %u near byte %zu",
                            b->echoed, b->echoed, r->in_off);
            r->in_off += take;
            i += take;
            if (r->in_off == b->size) {
                histogram_record(
                    b->latency, (uint64_t)(now_mono_ns() -
                                           r->start_ns[b->echoed % b->window]));
                r->in_off = 0;
                b->echoed++;
            }
        }
    }
    if (n == 0)
        return fail(b, "the server closed the connection");
    return errno == EAGAIN ? 0 : fail(b, "read: %s", strerror(errno));
}

int bench_run(struct bench *b)
{
    struct run r = {.b = b};
    int rc = -1;

    r.out = malloc(b->size);
    r.want = malloc(b->size);
    r.start_ns = calloc(b->window, sizeof(*r.start_ns));
    if (!r.out || !r.want || !r.start_ns) {
        fail(b, "out of memory");
        goto out_free;
    }
    while (b->echoed < b->count) {
        struct pollfd pfd = {b->fd, POLLIN, 0};
        int ready;

        if (send_some(&r) < 0)
            goto out_free;
        if (r.sent < b->count && r.sent - b->echoed < b->window)
            pfd.events |= POLLOUT; /* the socket buffer is full */
        ready = poll(&pfd, 1, b->timeout_ms);
        if (ready == 0) {
            fail(b, "no echo for %d ms", b->timeout_ms);
            goto out_free;
        }
        if (ready < 0 && errno != EINTR) {
            fail(b, "poll: %s", strerror(errno));
            goto out_free;
        }
        if (ready > 0 && receive_some(&r) < 0)
            goto out_free;
    }
    rc = 0;
out_free:
    free(r.start_ns);
    free(r.want);
    free(r.out);
    return rc;
}

/* pace.c -- send on schedule, check every echo, measure from due times.
 *
 * The schedule is one sequence: message k of the whole run goes to
 * connection k % conns with number k / conns, due at start + k * interval
 * / conns (pace_due_ns). A timer set for the next due time sends every
 * message whose time has come, however many echoes are still out: the
 * open loop. If the client
 * itself falls behind (descheduled, stopped), the timer sends the late
 * ones at once and their latency, counted from when they were due,
 * shows the delay instead of hiding it (coordinated omission).
 *
 * Each connection has a read event. TCP may split an echo or join
 * several: the bytes are compared with the message they belong to as
 * they arrive, and a message counts when its last byte is in. */
#include "pace.h"

#include "now.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct run;

struct conn {
    struct run *run;
    unsigned idx;
    uint32_t want; /* number of the echo expected next */
    size_t in_off; /* bytes of it checked so far */
    struct event *read_ev;
};

struct run {
    struct pace *p;
    struct conn *c;
    uint64_t next_k; /* the next message of the schedule to send */
    unsigned char *msg, *want;
    struct event *tick_ev, *grace_ev;
};

static void note_error(struct pace *p, const char *fmt, ...)
{
    va_list ap;

    p->errors++;
    if (p->error[0])
        return; /* keep the first */
    va_start(ap, fmt);
    vsnprintf(p->error, sizeof(p->error), fmt, ap);
    va_end(ap);
}

static bool all_sent(const struct run *r)
{
    struct pace *p = r->p;

    return p->start_ns + (int64_t)(r->next_k * p->interval_ns / p->conns) >=
           p->end_ns;
}

static void maybe_done(struct run *r)
{
    if (all_sent(r) && r->p->echoed + r->p->errors >= r->p->sent)
        event_base_loopbreak(r->p->base);
}

/* Send every message due by now, on whatever connection it belongs to,
 * then sleep until the next one is due. */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;
    struct pace *p = r->p;
    int64_t now = now_mono_ns(), due = 0;

    (void)fd;
    (void)what;
    while (!all_sent(r)) {
        unsigned i = (unsigned)(r->next_k % p->conns);
        uint32_t seq = (uint32_t)(r->next_k / p->conns);

        due = pace_due_ns(p, i, seq);
        if (due > now)
            break;
        pace_message(r->msg, p->size, i, seq);
        /* 64 bytes a second: a socket that cannot take them belongs to a
         * server that stopped reading long ago */
        if (write(p->fds[i], r->msg, p->size) != (ssize_t)p->size)
            note_error(p, "connection %u: message %u not sent: %s", i, seq,
                       errno ? strerror(errno) : "short write");
        else
            p->sent++;
        r->next_k++;
    }
    if (!all_sent(r)) {
        struct timeval in = {0, (suseconds_t)((due - now) / 1000)};
        if (due - now >= 1000000000) {
            in.tv_sec = (time_t)((due - now) / 1000000000);
            in.tv_usec = (suseconds_t)((due - now) % 1000000000 / 1000);
        }
        evtimer_add(r->tick_ev, &in);
    }
    maybe_done(r);
}

/* Check n bytes of echo on c; false at the first wrong byte. */
static bool check_echo(struct conn *c, const unsigned char *buf, size_t n)
{
    struct pace *p = c->run->p;

    while (n > 0) {
        size_t take = p->size - c->in_off;
        if (take > n)
            take = n;
        if (c->in_off == 0)
            pace_message(c->run->want, p->size, c->idx, c->want);
        if (memcmp(buf, c->run->want + c->in_off, take) != 0) {
            note_error(p, "connection %u: echo %u differs", c->idx, c->want);
            return false;
        }
        c->in_off += take;
        buf += take;
        n -= take;
        if (c->in_off == p->size) {
            histogram_record(
                p->latency,
                (uint64_t)(now_mono_ns() - pace_due_ns(p, c->idx, c->want)));
            p->echoed++;
            c->in_off = 0;
            c->want++;
        }
    }
    return true;
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    unsigned char buf[16384];
    ssize_t n;

    (void)what;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        if (!check_echo(c, buf, (size_t)n)) {
            event_del(c->read_ev); /* nothing it sends can be trusted */
            break;
        }
    }
    if (n == 0) {
        note_error(c->run->p, "connection %u: closed by the server", c->idx);
        event_del(c->read_ev);
    } else if (n < 0 && errno != EAGAIN) {
        note_error(c->run->p, "connection %u: %s", c->idx, strerror(errno));
        event_del(c->read_ev);
    }
    maybe_done(c->run);
}

static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;

    (void)fd;
    (void)what;
    event_base_loopbreak(r->p->base);
}

static int setup(struct run *r)
{
    struct pace *p = r->p;
    int64_t until = p->end_ns - now_mono_ns();
    struct timeval now = {0, 0}, grace;

    if (until < 0)
        until = 0;
    until += (int64_t)p->grace_ms * 1000000;
    grace = (struct timeval){(time_t)(until / 1000000000),
                             (suseconds_t)(until % 1000000000 / 1000)};
    r->c = calloc(p->conns, sizeof(*r->c));
    r->msg = malloc(p->size);
    r->want = malloc(p->size);
    r->tick_ev = evtimer_new(p->base, tick_cb, r);
    r->grace_ev = evtimer_new(p->base, grace_cb, r);
    if (!r->c || !r->msg || !r->want || !r->tick_ev || !r->grace_ev ||
        evtimer_add(r->tick_ev, &now) < 0 || evtimer_add(r->grace_ev, &grace))
        return -1;
    for (unsigned i = 0; i < p->conns; i++) {
        struct conn *c = &r->c[i];
        *c = (struct conn){.run = r, .idx = i};
        c->read_ev =
            event_new(p->base, p->fds[i], EV_READ | EV_PERSIST, read_cb, c);
        if (!c->read_ev || event_add(c->read_ev, NULL) < 0)
            return -1;
    }
    return 0;
}

static void teardown(struct run *r)
{
    for (unsigned i = 0; r->c && i < r->p->conns; i++)
        if (r->c[i].read_ev)
            event_free(r->c[i].read_ev);
    if (r->grace_ev)
        event_free(r->grace_ev);
    if (r->tick_ev)
        event_free(r->tick_ev);
    free(r->want);
    free(r->msg);
    free(r->c);
}

int pace_run(struct pace *p)
{
    struct run r = {.p = p};
    int rc = -1;

    if (setup(&r) < 0)
        snprintf(p->error, sizeof(p->error), "out of memory or events");
    else if (event_base_dispatch(p->base) < 0)
        snprintf(p->error, sizeof(p->error), "the event loop failed");
    else if (p->errors == 0 && p->echoed < p->sent)
        snprintf(p->error, sizeof(p->error),
                 "%llu of %llu echoes missing %d ms after the last send",
                 (unsigned long long)(p->sent - p->echoed),
                 (unsigned long long)p->sent, p->grace_ms);
    else if (p->errors == 0)
        rc = 0;
    teardown(&r);
    return rc;
}

/* load.c -- the soak's clients (load.h).
 *
 * A connection holds two copies of one byte stream, made from one seed:
 * tx makes the bytes it sends, rx the bytes it expects back. An echo
 * returns the bytes in order, so rx has always made exactly recvd bytes,
 * and sent - recvd bytes are owed. Sizes and fates come from the
 * connection's own seed too, derived from the load's seed and the
 * connection's serial number, so a run's choices do not depend on the
 * order in which events happen to fire.
 *
 * Every connection is accounted for: it ends echoed in full (counted in
 * echoes), cut short by load_drain() after all it sent came back, or,
 * for the churn connections that close before their echo on purpose,
 * abandoned; their bytes are checked as far as they come but counted
 * neither sent nor checked. Anything else (an early EOF, a reset, a
 * refused connection, a wrong or extra byte) fails the load. */
#include "load.h"

#include "net.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#define SMALL_MAX      200
#define SMALL_INFLIGHT 32 /* a small connection's messages sent, not echoed */
#define LARGE_MIN      (256 * 1024)
#define LARGE_MAX      (8 * 1024 * 1024)
#define CHURN_MAX      1000
/* A churn slot waits up to this long before its next connection: about 50
 * connections a second per slot, so that closed connections waiting out
 * TIME_WAIT never use up the ephemeral ports of a shared machine. */
#define CHURN_PAUSE_MS 40
#define SLOW_OWED      (1024 * 1024)
#define SLOW_READ      4096
#define SLOW_TICK_MS   10
/* Send more when the output drains to OUT_LOW; stop at twice that. */
#define OUT_LOW (64 * 1024)
#define CHUNK   (16 * 1024)

/* A byte stream from xorshift32, four bytes a step. */
struct gen {
    uint32_t x, word;
    unsigned left; /* bytes of word not used yet */
};

/* How a churn connection ends. */
enum fate {
    FATE_CLOSE,       /* takes its echo, then closes */
    FATE_RESET,       /* takes its echo, then resets (SO_LINGER 0) */
    FATE_CLOSE_EARLY, /* closes once its message is sent: abandoned */
    FATE_RESET_EARLY, /* resets once its message is sent: abandoned */
};

enum conn_state {
    CONN_WAITING,    /* churn: the pause before it connects */
    CONN_CONNECTING, /* connect() under way */
    CONN_OPEN,       /* sending and checking */
};

struct conn {
    struct load *l;
    enum load_kind kind;
    enum conn_state state;
    enum fate fate;
    bool cut; /* load_drain() stopped it before its goal */
    uint64_t serial;
    uint32_t rnd; /* sizes: message lengths, the goal, the fate */
    struct bufferevent *bev;
    struct event *timer; /* churn: the pause; slow: the read tick */
    struct gen tx, rx;
    uint64_t goal; /* bytes to send; UINT64_MAX: until the drain */
    uint64_t sent, recvd;
    uint64_t ends[SMALL_INFLIGHT]; /* small: where each message ends */
    unsigned first, inflight;
    LIST_ENTRY(conn) link;
};

struct load {
    struct event_base *base;
    struct load_config cfg;
    struct sockaddr_in sin;
    uint64_t serial; /* of the next connection */
    bool draining, finished;
    unsigned open; /* connections, whatever their state */
    struct load_count count[LOAD_NKINDS];
    char error[256];
    load_done_cb cb;
    void *arg;
    struct event *done_ev; /* calls cb from the loop, never from deep
                              inside a connection's callback */
    LIST_HEAD(, conn) conns;
};

static const char *const kind_names[LOAD_NKINDS] = {"small", "large", "churn",
                                                    "slow"};

const char *load_kind_name(enum load_kind k) { return kind_names[k]; }

static uint32_t xorshift(uint32_t *x)
{
    uint32_t v = *x ? *x : 0x9e3779b9u; /* zero would stay zero */

    v ^= v << 13;
    v ^= v >> 17;
    v ^= v << 5;
    return *x = v;
}

static void gen_fill(struct gen *g, unsigned char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (g->left == 0) {
            g->word = xorshift(&g->x);
            g->left = 4;
        }
        buf[i] = (unsigned char)(g->word >> (8 * --g->left));
    }
}

static void finish(struct load *l)
{
    if (!l->finished) {
        l->finished = true;
        event_active(l->done_ev, 0, 0);
    }
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    struct load *l = arg;

    (void)fd;
    (void)what;
    l->cb(l->arg);
}

static void load_fail(struct load *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Keep the first failure and end the load. */
static void load_fail(struct load *l, const char *fmt, ...)
{
    va_list ap;

    if (l->error[0])
        return;
    va_start(ap, fmt);
    vsnprintf(l->error, sizeof(l->error), fmt, ap);
    va_end(ap);
    finish(l);
}

static bool abandons(const struct conn *c)
{
    return c->kind == LOAD_CHURN &&
           (c->fate == FATE_CLOSE_EARLY || c->fate == FATE_RESET_EARLY);
}

static void conn_free(struct conn *c, bool reset)
{
    struct load *l = c->l;

    LIST_REMOVE(c, link);
    if (c->timer)
        event_free(c->timer);
    if (c->bev) {
        if (reset) {
            struct linger lg = {1, 0};
            setsockopt(bufferevent_getfd(c->bev), SOL_SOCKET, SO_LINGER, &lg,
                       sizeof(lg));
        }
        bufferevent_free(c->bev);
    }
    free(c);
    l->open--;
}

static void conn_new(struct load *l, enum load_kind kind);

/* c is done: free it, start the next of its kind, see if the drain is
 * over. */
static void conn_end(struct conn *c, bool reset)
{
    struct load *l = c->l;
    enum load_kind kind = c->kind;

    conn_free(c, reset);
    if (!l->draining)
        conn_new(l, kind);
    else if (l->open == 0)
        finish(l);
}

/* Bytes c may send now (the next message of a small connection, whose
 * end it records), 0 when it must wait for echoes. */
static size_t conn_room(struct conn *c)
{
    size_t len;

    switch (c->kind) {
    case LOAD_SMALL:
        if (c->inflight == SMALL_INFLIGHT)
            return 0;
        len = 1 + xorshift(&c->rnd) % SMALL_MAX;
        c->ends[(c->first + c->inflight++) % SMALL_INFLIGHT] = c->sent + len;
        return len;
    case LOAD_SLOW: return c->sent - c->recvd >= SLOW_OWED ? 0 : CHUNK;
    default:
        return c->goal - c->sent < CHUNK ? (size_t)(c->goal - c->sent) : CHUNK;
    }
}

/* Send what c may, up to twice OUT_LOW waiting in its output. */
static void conn_fill(struct conn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    unsigned char buf[CHUNK];
    size_t n;

    while (c->sent < c->goal && evbuffer_get_length(out) < 2 * OUT_LOW &&
           (n = conn_room(c)) > 0) {
        gen_fill(&c->tx, buf, n);
        if (bufferevent_write(c->bev, buf, n) < 0) {
            load_fail(c->l, "out of memory");
            return;
        }
        c->sent += n;
        if (!abandons(c))
            c->l->count[c->kind].sent += n;
    }
}

/* Take up to max bytes of c's echo and check them. false: the load
 * failed. */
static bool conn_take(struct conn *c, size_t max)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct load_count *count = &c->l->count[c->kind];
    unsigned char got[CHUNK], want[CHUNK];
    int n;

    while (max > 0 &&
           (n = evbuffer_remove(in, got, max < CHUNK ? max : CHUNK)) > 0) {
        max -= (size_t)n;
        if ((uint64_t)n > c->sent - c->recvd) {
            load_fail(c->l, "%s connection %llu: %llu bytes more than it sent",
                      kind_names[c->kind], (unsigned long long)c->serial,
                      (unsigned long long)(c->recvd + (uint64_t)n - c->sent));
            return false;
        }
        gen_fill(&c->rx, want, (size_t)n);
        for (int i = 0; i < n; i++) {
            if (got[i] == want[i])
                continue;
            load_fail(c->l, "%s connection %llu: wrong byte at offset %llu",
                      kind_names[c->kind], (unsigned long long)c->serial,
                      (unsigned long long)(c->recvd + (uint64_t)i));
            return false;
        }
        c->recvd += (uint64_t)n;
        if (!abandons(c))
            count->checked += (uint64_t)n;
        for (; c->inflight && c->ends[c->first] <= c->recvd; c->inflight--) {
            count->echoes++;
            c->first = (c->first + 1) % SMALL_INFLIGHT;
        }
    }
    return true;
}

/* After some echo came in (or c connected): end c when it has all it
 * waits for, else send more. */
static void conn_progress(struct conn *c)
{
    bool whole = c->kind == LOAD_LARGE || c->kind == LOAD_CHURN;

    if (whole && !abandons(c) && !c->cut && c->recvd == c->goal) {
        c->l->count[c->kind].echoes++;
        conn_end(c, c->kind == LOAD_CHURN && c->fate == FATE_RESET);
        return;
    }
    if (c->l->draining && c->recvd == c->sent &&
        !(abandons(c) && c->sent > 0)) {
        conn_end(c, false);
        return;
    }
    conn_fill(c);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    (void)bev;
    if (c->kind == LOAD_SLOW)
        return; /* it reads on its tick */
    if (conn_take(c, SIZE_MAX))
        conn_progress(c);
}

static void slow_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    (void)what;
    if (conn_take(c, SLOW_READ))
        conn_progress(c);
}

/* The output drained to its low mark (a churn connection's: to empty). */
static void write_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    if (abandons(c) && c->sent == c->goal &&
        evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        if (!c->cut)
            c->l->count[LOAD_CHURN].abandoned++;
        conn_end(c, c->fate == FATE_RESET_EARLY);
        return;
    }
    conn_fill(c);
}

static void conn_opened(struct conn *c)
{
    c->state = CONN_OPEN;
    net_nodelay(bufferevent_getfd(c->bev));
    bufferevent_setwatermark(c->bev, EV_WRITE,
                             c->kind == LOAD_CHURN ? 0 : OUT_LOW, 0);
    if (c->kind == LOAD_SLOW) {
        struct timeval tick = {0, SLOW_TICK_MS * 1000};
        /* reading stops with this much taken in and not yet checked */
        bufferevent_setwatermark(c->bev, EV_READ, 0, SLOW_READ);
        c->timer = event_new(c->l->base, -1, EV_PERSIST, slow_tick_cb, c);
        if (!c->timer || event_add(c->timer, &tick) < 0) {
            load_fail(c->l, "cannot start a slow reader's timer");
            return;
        }
    }
    conn_progress(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    const char *why;

    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        conn_opened(c);
        return;
    }
    why = (what & BEV_EVENT_ERROR)
              ? evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR())
              : "closed by the server";
    load_fail(c->l, "%s connection %llu: %s after %llu of %llu bytes echoed",
              kind_names[c->kind], (unsigned long long)c->serial, why,
              (unsigned long long)c->recvd, (unsigned long long)c->sent);
}

static void conn_connect(struct conn *c)
{
    struct load *l = c->l;

    c->state = CONN_CONNECTING;
    c->bev = bufferevent_socket_new(l->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        load_fail(l, "cannot make a connection: out of memory");
        return;
    }
    bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&l->sin,
                                   sizeof(l->sin)) < 0)
        load_fail(l, "%s connection %llu: connect: %s", kind_names[c->kind],
                  (unsigned long long)c->serial, strerror(errno));
}

static void churn_pause_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    (void)what;
    event_free(c->timer);
    c->timer = NULL;
    conn_connect(c);
}

/* A churn connection's goal and fate: one in 16 sends nothing. */
static void churn_choose(struct conn *c)
{
    uint32_t r = xorshift(&c->rnd);

    c->goal = r % 16 == 0 ? 0 : 1 + (r >> 4) % CHURN_MAX;
    r = xorshift(&c->rnd) % 20;
    c->fate = r < 10   ? FATE_CLOSE
              : r < 14 ? FATE_RESET
              : r < 17 ? FATE_CLOSE_EARLY
                       : FATE_RESET_EARLY;
    if (c->goal == 0)
        c->fate = FATE_CLOSE;
}

/* A churn connection connects after a pause of up to CHURN_PAUSE_MS. */
static void churn_wait(struct conn *c)
{
    unsigned ms = xorshift(&c->rnd) % (CHURN_PAUSE_MS + 1);
    struct timeval pause = {0, (suseconds_t)ms * 1000};

    c->state = CONN_WAITING;
    c->timer = evtimer_new(c->l->base, churn_pause_cb, c);
    if (!c->timer || evtimer_add(c->timer, &pause) < 0)
        load_fail(c->l, "cannot start a churn connection's timer");
}

/* Open (churn: after a pause) a connection of kind. */
static void conn_new(struct load *l, enum load_kind kind)
{
    struct conn *c = calloc(1, sizeof(*c));
    uint32_t seed;

    if (!c) {
        load_fail(l, "out of memory");
        return;
    }
    c->l = l;
    c->kind = kind;
    c->serial = l->serial++;
    /* the load's seed and the serial, mixed: a stream per connection */
    seed = l->cfg.seed ^ (uint32_t)(c->serial * 0x9e3779b97f4a7c15ull >> 32);
    for (int i = 0; i < 4; i++)
        xorshift(&seed);
    c->rnd = c->tx.x = c->rx.x = seed;
    c->goal = UINT64_MAX;
    if (kind == LOAD_LARGE)
        c->goal = LARGE_MIN + xorshift(&c->rnd) % (LARGE_MAX - LARGE_MIN + 1);
    LIST_INSERT_HEAD(&l->conns, c, link);
    l->open++;
    l->count[kind].conns++;
    if (kind != LOAD_CHURN) {
        conn_connect(c);
        return;
    }
    churn_choose(c);
    churn_wait(c);
}

struct load *load_new(struct event_base *base, const struct load_config *cfg,
                      load_done_cb cb, void *arg)
{
    struct load *l = calloc(1, sizeof(*l));

    if (!l)
        return NULL;
    l->base = base;
    l->cfg = *cfg;
    l->cb = cb;
    l->arg = arg;
    l->sin.sin_family = AF_INET;
    l->sin.sin_port = htons(cfg->port);
    l->sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    LIST_INIT(&l->conns);
    l->done_ev = event_new(base, -1, 0, done_cb, l);
    if (!l->done_ev) {
        free(l);
        return NULL;
    }
    for (int k = 0; k < LOAD_NKINDS; k++)
        for (unsigned i = 0; i < cfg->conns[k]; i++)
            conn_new(l, (enum load_kind)k);
    return l;
}

void load_drain(struct load *l)
{
    struct conn *c, *next;

    l->draining = true;
    for (c = LIST_FIRST(&l->conns); c; c = next) {
        next = LIST_NEXT(c, link);
        if (c->sent < c->goal) {
            c->cut = c->goal != UINT64_MAX;
            c->goal = c->sent;
        }
        if (c->state == CONN_WAITING)
            conn_end(c, false);
        else if (c->state == CONN_OPEN)
            conn_progress(c);
    }
    if (l->open == 0)
        finish(l);
}

const char *load_error(const struct load *l)
{
    return l->error[0] ? l->error : NULL;
}

unsigned load_open(const struct load *l) { return l->open; }

void load_count(const struct load *l, enum load_kind k, struct load_count *out)
{
    *out = l->count[k];
}

void load_free(struct load *l)
{
    if (!l)
        return;
    while (!LIST_EMPTY(&l->conns))
        conn_free(LIST_FIRST(&l->conns), false);
    event_free(l->done_ev);
    free(l);
}

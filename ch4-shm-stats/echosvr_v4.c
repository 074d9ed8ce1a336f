/* echosvr_v4.c -- the echo server of ch3-timeout with its statistics in
 * System V shared memory, where viewstats (or any reader) can see them
 * while it runs, instead of a report printed every few seconds.
 *
 * The counters are those of echosvr_v2, registered by name in a
 * common/stats block under -k KEY. Callbacks count in private memory and
 * end with stats_commit(), which publishes all counters as one
 * consistent update (a sequence lock, see common/stats.c): a reader
 * never sees bytes_in from one moment and bytes_out from another. The
 * segment is created 0600 and removed on a clean exit; one left by a
 * killed server is reclaimed by the next one on the same key. The echo
 * and its bounds (-c, -b: common/budget.c) are those of echosvr_v2; what
 * the bounds did shows in three more counters. */
#include "budget.h"
#include "log.h"
#include "net.h"
#include "opts.h"
#include "stats.h"
#include "stopsig.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#define DEFAULT_ADDR "127.0.0.1"
#define DEFAULT_PORT 4680
/* Backpressure thresholds: 256 KiB of unsent echo is several round trips
 * of a fast client's data; resuming at 64 KiB keeps the pipe full. */
#define OUT_HIGH (256 * 1024)
#define OUT_LOW  (64 * 1024)

static const char usage[] =
    " [-h] [-v | -q] [-a ADDR] [-p PORT] [-k KEY] [-t SECONDS] [-c CONNS]\n"
    "          [-b BYTES]\n"
    "Echo server that keeps its statistics in shared memory (see viewstats).\n"
    "  -a ADDR     address to listen on (default " DEFAULT_ADDR ")\n"
    "  -p PORT     port to listen on, 0 for any free port (default 4680)\n"
    "  -k KEY      System V key of the statistics (default 0x53565354)\n"
    "  -t SECONDS  close connections idle that long, 0 = never (default 0)\n"
    "  -c CONNS    most connections held at once (default 65536); more are\n"
    "              accepted and closed at once (counted in conns_refused)\n"
    "  -b BYTES    most bytes buffered for all clients together, suffix k,\n"
    "              M or G (default 64M); beyond it a client whose echo\n"
    "              waits is not read until the echo is sent (limit_pauses)\n"
    "  -v          log every connection (debug level)\n"
    "  -q          log errors only\n"
    "  -h          show this help\n"
    "Prints 'listening on ADDR:PORT' when ready; SIGINT or SIGTERM stop it\n"
    "and remove the statistics.\n";

/* The counters, in the order they are registered (their stats ids). */
enum counter {
    C_MESSAGES, /* read callbacks: chunks of data received */
    C_BYTES_IN,
    C_BYTES_OUT, /* queued for sending back */
    C_CONNS_ACCEPTED,
    C_CONNS_CLOSED,
    C_CONNS_OPEN,    /* gauge: accepted - closed */
    C_IDLE_CLOSED,   /* of conns_closed, closed by the idle timeout */
    C_CONNS_REFUSED, /* closed at once at -c */
    C_BYTES_HELD,    /* gauge: in every connection's buffers */
    C_LIMIT_PAUSES,  /* clients stopped at -b */
    C_NCOUNTERS
};

static const struct stats_def counters[C_NCOUNTERS] = {
    [C_MESSAGES] = {"messages", STATS_COUNTER},
    [C_BYTES_IN] = {"bytes_in", STATS_COUNTER},
    [C_BYTES_OUT] = {"bytes_out", STATS_COUNTER},
    [C_CONNS_ACCEPTED] = {"conns_accepted", STATS_COUNTER},
    [C_CONNS_CLOSED] = {"conns_closed", STATS_COUNTER},
    [C_CONNS_OPEN] = {"conns_open", STATS_GAUGE},
    [C_IDLE_CLOSED] = {"idle_closed", STATS_COUNTER},
    [C_CONNS_REFUSED] = {"conns_refused", STATS_COUNTER},
    [C_BYTES_HELD] = {"bytes_held", STATS_GAUGE},
    [C_LIMIT_PAUSES] = {"limit_pauses", STATS_COUNTER},
};

struct conn {
    struct server *srv;
    struct bufferevent *bev;
    bool closing; /* peer sent EOF: flush the echo, then close */
    struct budget_conn bc;
    LIST_ENTRY(conn) link;
};

struct server {
    struct event_base *base;
    struct evconnlistener *lev;
    struct timeval idle; /* {0, 0}: no idle timeout */
    LIST_HEAD(, conn) conns;
    uint64_t open;        /* connections open now */
    struct budget budget; /* -c and -b, over all connections */
    struct stats stats;   /* in shared memory */
};

/* The budget's figures, then one commit for them and whatever the caller
 * counted before. */
static void commit_stats(struct server *srv)
{
    stats_set(&srv->stats, C_CONNS_REFUSED, srv->budget.refused);
    stats_set(&srv->stats, C_BYTES_HELD, srv->budget.bytes);
    stats_set(&srv->stats, C_LIMIT_PAUSES, srv->budget.pauses);
    stats_commit(&srv->stats);
}

static void conn_free(struct conn *c)
{
    struct stats *st = &c->srv->stats;

    stats_add(st, C_CONNS_CLOSED, 1);
    stats_set(st, C_CONNS_OPEN, --c->srv->open);
    LIST_REMOVE(c, link);
    budget_detach(&c->bc, c->bev);
    commit_stats(c->srv);
    bufferevent_free(c->bev); /* BEV_OPT_CLOSE_ON_FREE closes the socket */
    free(c);
}

/* Copies into full chains, as in echosvr_v1 (moved chains would be half
 * empty). */
static void echo_read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct stats *st = &c->srv->stats;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer *out = bufferevent_get_output(bev);
    size_t len = evbuffer_get_length(in);
    unsigned char *data = evbuffer_pullup(in, -1);

    if (!data || evbuffer_add(out, data, len) < 0) {
        log_error_limited("connection fd=%d: out of memory, closing",
                          (int)bufferevent_getfd(bev));
        conn_free(c);
        return;
    }
    evbuffer_drain(in, len);
    if (evbuffer_get_length(out) >= OUT_HIGH) {
        bufferevent_disable(bev, EV_READ);
        bufferevent_setwatermark(bev, EV_WRITE, OUT_LOW, 0);
    } else if (!budget_may_read(&c->bc)) {
        /* The server is at -b: read again once this echo is all sent. */
        bufferevent_disable(bev, EV_READ);
    }
    /* in and out in one commit: a reader sees both or neither */
    stats_add(st, C_MESSAGES, 1);
    stats_add(st, C_BYTES_IN, len);
    stats_add(st, C_BYTES_OUT, len);
    commit_stats(c->srv);
}

/* Called when the output has drained to the write low-watermark. */
static void echo_write_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    if (c->closing) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
            conn_free(c);
        return;
    }
    if (!(bufferevent_get_enabled(bev) & EV_READ)) {
        /* At -b, go on waiting until the output is empty (watermark 0). */
        bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
        if (budget_may_read(&c->bc))
            bufferevent_enable(bev, EV_READ);
        commit_stats(c->srv);
    }
}

static void echo_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;

    if (what & BEV_EVENT_TIMEOUT) {
        /* Only the read timeout is set: nothing arrived for -t seconds. */
        log_debug("connection fd=%d idle, closing",
                  (int)bufferevent_getfd(bev));
        stats_add(&c->srv->stats, C_IDLE_CLOSED, 1);
        conn_free(c); /* commits */
    } else if (what & BEV_EVENT_ERROR) {
        log_debug("connection fd=%d: %s", (int)bufferevent_getfd(bev),
                  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        conn_free(c);
    } else if (what & BEV_EVENT_EOF) {
        /* A half-close: the peer still waits for the rest of its echo. */
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
            conn_free(c);
            return;
        }
        c->closing = true;
        bufferevent_disable(bev, EV_READ);
        bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
    }
}

static void accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
                      struct sockaddr *sa, int salen, void *arg)
{
    struct server *srv = arg;
    struct conn *c;
    char peer[NET_ADDRSTRLEN];

    (void)lev;
    (void)salen;
    if (!budget_admit(&srv->budget)) { /* at -c: logged, once a second */
        commit_stats(srv); /* counted before the client can see it */
        evutil_closesocket(fd);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        goto out_close_fd;
    c->srv = srv;
    c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev)
        goto out_free_conn;
    if (budget_attach(&srv->budget, &c->bc, c->bev) < 0)
        goto out_free_bev;
    net_nodelay(fd);
    bufferevent_setcb(c->bev, echo_read_cb, echo_write_cb, echo_event_cb, c);
    /* A read timeout only: a peer slow to read its echo is paused by
     * backpressure, not counted as idle. */
    if (srv->idle.tv_sec > 0)
        bufferevent_set_timeouts(c->bev, &srv->idle, NULL);
    if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) < 0)
        goto out_detach;
    LIST_INSERT_HEAD(&srv->conns, c, link);
    stats_add(&srv->stats, C_CONNS_ACCEPTED, 1);
    stats_set(&srv->stats, C_CONNS_OPEN, ++srv->open);
    stats_commit(&srv->stats);
    log_debug("connection fd=%d from %s", (int)fd,
              net_format(sa, peer, sizeof(peer)));
    return;

out_detach:
    budget_detach(&c->bc, c->bev);
out_free_bev:
    bufferevent_free(c->bev); /* closes fd */
    free(c);
    log_error("accept: cannot set up a connection");
    return;
out_free_conn:
    free(c);
out_close_fd:
    evutil_closesocket(fd);
    log_error("accept: out of memory, dropping a connection");
}

/* EMFILE and friends: log and keep serving the connections we have. */
static void accept_error_cb(struct evconnlistener *lev, void *arg)
{
    (void)arg;
    net_accept_backoff(lev);
}

/* Create the block, register every counter, publish it. On failure the
 * reason is logged here, where the key is known. */
/* Create the block, register every counter of the table, start it. */
static int stats_setup(struct stats *st, key_t key)
{
    if (stats_create_table(st, key, log_progname(), counters, C_NCOUNTERS) == 0)
        return 0;
    if (errno == EEXIST)
        log_error("statistics key %#x is in use by another running server",
                  (unsigned)key);
    else
        log_error("cannot create statistics at key %#x: %s", (unsigned)key,
                  strerror(errno));
    return -1;
}

int main(int argc, char **argv)
{
    struct server srv = {0};
    struct stopsig *ss;
    const char *addr = DEFAULT_ADDR;
    uint16_t port = DEFAULT_PORT;
    key_t key = STATS_DEFAULT_KEY;
    unsigned max_conns = BUDGET_DEFAULT_CONNS;
    size_t max_bytes = BUDGET_DEFAULT_BYTES;
    int c, rc = 1;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    opterr = 0;
    while ((c = getopt(argc, argv, ":ha:p:k:t:c:b:vq")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'a': addr = opts_addr_arg(optarg); break;
        case 'p': port = opts_port_arg(optarg); break;
        case 'k': key = opts_key_arg(optarg); break;
        case 't':
            srv.idle.tv_sec =
                (time_t)opts_uint_arg("idle timeout", optarg, 0, 86400);
            break;
        case 'c':
            max_conns = (unsigned)opts_uint_arg("connection limit", optarg, 1,
                                                1u << 20);
            break;
        case 'b':
            max_bytes = opts_size_arg("byte limit", optarg, 1, (size_t)1 << 40);
            break;
        case 'v': log_set_level(LOG_DEBUG); break;
        case 'q': log_set_level(LOG_ERROR); break;
        default: opts_bad_option(c, optopt);
        }
    }
    if (optind < argc)
        opts_fail("unexpected argument '%s'", argv[optind]);

    LIST_INIT(&srv.conns);
    budget_init(&srv.budget, max_conns, max_bytes);
    if (stats_setup(&srv.stats, key) < 0)
        return 1;
    srv.base = event_base_new();
    if (!srv.base) {
        log_error("cannot create the event base");
        goto out_remove_stats;
    }
    ss = stopsig_new(srv.base, NULL, NULL);
    if (!ss) {
        log_error("cannot watch signals: %s", strerror(errno));
        goto out_free_base;
    }
    srv.lev = net_listen(srv.base, addr, port, 0, accept_cb, &srv);
    if (!srv.lev) {
        log_error("cannot listen on %s port %u: %s", addr, port,
                  strerror(errno));
        goto out_free_signals;
    }
    evconnlistener_set_error_cb(srv.lev, accept_error_cb);
    if (net_announce(srv.lev) < 0) {
        log_error("cannot write to stdout: %s", strerror(errno));
        goto out_free_listener;
    }

    if (event_base_dispatch(srv.base) < 0)
        log_error("event loop failed");
    else
        rc = 0;

out_free_listener:
    evconnlistener_free(srv.lev);
    while (!LIST_EMPTY(&srv.conns))
        conn_free(LIST_FIRST(&srv.conns));
out_free_signals:
    stopsig_free(ss);
out_free_base:
    event_base_free(srv.base);
    libevent_global_shutdown();
out_remove_stats:
    if (stats_remove(&srv.stats) < 0)
        log_error("cannot remove statistics at key %#x: %s", (unsigned)key,
                  strerror(errno));
    return rc;
}

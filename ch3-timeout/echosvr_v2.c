/* echosvr_v2.c -- the echo server of ch3-echo plus two timers: a
 * persistent one that prints the server's statistics every few seconds,
 * and an optional idle timeout that closes connections gone silent.
 *
 * Counting happens in the callbacks and costs a few additions; formatting
 * and printing happen only in the report timer. The idle timeout is a
 * bufferevent read timeout: libevent keeps it in the same timer heap as
 * the report timer, so neither costs a thread or a system call per
 * connection. The echo itself (copied into full chains, backpressure at
 * OUT_HIGH, the -c and -b bounds of common/budget.c) is unchanged from
 * echosvr_v1; the report also shows those bounds at work. */
#include "budget.h"
#include "log.h"
#include "now.h"
#include "net.h"
#include "opts.h"
#include "stopsig.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_ADDR     "127.0.0.1"
#define DEFAULT_PORT     4680
#define DEFAULT_INTERVAL 5 /* seconds between reports */
/* Backpressure thresholds: 256 KiB of unsent echo is several round trips
 * of a fast client's data; resuming at 64 KiB keeps the pipe full. */
#define OUT_HIGH (256 * 1024)
#define OUT_LOW  (64 * 1024)

static const char usage[] =
    " [-h] [-v | -q] [-a ADDR] [-p PORT] [-i SECONDS] [-t SECONDS]\n"
    "          [-c CONNS] [-b BYTES]\n"
    "Echo server that prints its statistics every few seconds.\n"
    "  -a ADDR     address to listen on (default " DEFAULT_ADDR ")\n"
    "  -p PORT     port to listen on, 0 for any free port (default 4680)\n"
    "  -i SECONDS  statistics report interval, 1-3600 (default 5)\n"
    "  -t SECONDS  close connections idle that long, 0 = never (default 0)\n"
    "  -c CONNS    most connections held at once (default 65536); more are\n"
    "              accepted and closed at once\n"
    "  -b BYTES    most bytes buffered for all clients together, suffix k,\n"
    "              M or G (default 64M); beyond it a client whose echo\n"
    "              waits is not read until the echo is sent\n"
    "  -v          log every connection (debug level)\n"
    "  -q          log errors only\n"
    "  -h          show this help\n"
    "Prints 'listening on ADDR:PORT' when ready, then a report on stdout\n"
    "every interval; SIGINT or SIGTERM stop it.\n";

/* What the callbacks count. Plain integers: one thread touches them. */
struct counters {
    uint64_t messages; /* read callbacks: chunks of data received */
    uint64_t bytes_in;
    uint64_t bytes_out; /* queued for sending back */
    uint64_t conns_accepted;
    uint64_t conns_closed;
    uint64_t idle_closed;   /* of conns_closed, closed by the idle timeout */
    uint64_t conns_refused; /* closed at once at -c (the budget's count) */
    uint64_t limit_pauses;  /* clients stopped at -b (likewise) */
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
    struct event *report_ev;
    struct timeval idle; /* {0, 0}: no idle timeout */
    LIST_HEAD(, conn) conns;
    struct budget budget; /* -c and -b, over all connections */
    struct counters now;  /* running totals */
    struct counters last; /* totals at the previous report */
    time_t started;       /* wall clock, for people */
    int64_t last_ns;      /* now_mono_ns() of the previous report */
    time_t last_wall;
};

static void conn_free(struct conn *c)
{
    c->srv->now.conns_closed++;
    LIST_REMOVE(c, link);
    budget_detach(&c->bc, c->bev);
    bufferevent_free(c->bev); /* BEV_OPT_CLOSE_ON_FREE closes the socket */
    free(c);
}

/* Copies into full chains, as in echosvr_v1 (moved chains would be half
 * empty). */
static void echo_read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
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
    c->srv->now.messages++;
    c->srv->now.bytes_in += len;
    c->srv->now.bytes_out += len;
    if (evbuffer_get_length(out) >= OUT_HIGH) {
        bufferevent_disable(bev, EV_READ);
        bufferevent_setwatermark(bev, EV_WRITE, OUT_LOW, 0);
    } else if (!budget_may_read(&c->bc)) {
        /* The server is at -b: read again once this echo is all sent. */
        bufferevent_disable(bev, EV_READ);
    }
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
    }
}

static void echo_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;

    if (what & BEV_EVENT_TIMEOUT) {
        /* Only the read timeout is set: nothing arrived for -t seconds. */
        log_debug("connection fd=%d idle, closing",
                  (int)bufferevent_getfd(bev));
        c->srv->now.idle_closed++;
        conn_free(c);
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
    srv->now.conns_accepted++;
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

static const char *wall_time(time_t t, char *buf, size_t size)
{
    struct tm tm;

    if (!localtime_r(&t, &tm) ||
        strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, size, "%lld", (long long)t);
    return buf;
}

static void print_count(const char *name, uint64_t now, uint64_t last,
                        double secs)
{
    printf("  %-14s %12" PRIu64 "  %12.1f/s\n", name, now,
           secs > 0 ? (double)(now - last) / secs : 0.0);
}

/* The persistent timer: print the totals and the rates since the last
 * report, then remember this report as the new "last". */
static void report_cb(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;
    const struct counters *n = &srv->now, *l = &srv->last;
    int64_t now = now_mono_ns();
    time_t wall = time(NULL);
    char t_now[32], t_start[32], t_last[32];
    double secs;

    (void)fd;
    (void)what;
    srv->now.conns_refused = srv->budget.refused;
    srv->now.limit_pauses = srv->budget.pauses;
    secs = (double)(now - srv->last_ns) / 1e9;
    printf("statistics at %s: up %llds, started %s, last report %s\n",
           wall_time(wall, t_now, sizeof(t_now)),
           (long long)(wall - srv->started),
           wall_time(srv->started, t_start, sizeof(t_start)),
           wall_time(srv->last_wall, t_last, sizeof(t_last)));
    print_count("messages", n->messages, l->messages, secs);
    print_count("bytes_in", n->bytes_in, l->bytes_in, secs);
    print_count("bytes_out", n->bytes_out, l->bytes_out, secs);
    print_count("conns_accepted", n->conns_accepted, l->conns_accepted, secs);
    printf("  %-14s %12" PRIu64 "\n", "conns_open",
           n->conns_accepted - n->conns_closed);
    print_count("conns_refused", n->conns_refused, l->conns_refused, secs);
    printf("  %-14s %12zu\n", "bytes_held", srv->budget.bytes);
    print_count("limit_pauses", n->limit_pauses, l->limit_pauses, secs);
    print_count("idle_closed", n->idle_closed, l->idle_closed, secs);
    if (fflush(stdout) == EOF)
        log_error("cannot write the report: %s", strerror(errno));
    srv->last = *n;
    srv->last_ns = now;
    srv->last_wall = wall;
}

static int start_reports(struct server *srv, int interval)
{
    struct timeval tv = {interval, 0};

    srv->started = srv->last_wall = time(NULL);
    srv->last_ns = now_mono_ns();
    /* fd -1 and EV_PERSIST: a pure timer that re-arms itself after each
     * run, at the same interval, until it is deleted. */
    srv->report_ev = event_new(srv->base, -1, EV_PERSIST, report_cb, srv);
    if (!srv->report_ev)
        return -1;
    if (event_add(srv->report_ev, &tv) < 0) {
        event_free(srv->report_ev);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct server srv = {0};
    struct stopsig *ss;
    const char *addr = DEFAULT_ADDR;
    uint16_t port = DEFAULT_PORT;
    unsigned max_conns = BUDGET_DEFAULT_CONNS;
    size_t max_bytes = BUDGET_DEFAULT_BYTES;
    int interval = DEFAULT_INTERVAL;
    int c, rc = 1;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    opterr = 0;
    while ((c = getopt(argc, argv, ":ha:p:i:t:c:b:vq")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'a': addr = opts_addr_arg(optarg); break;
        case 'p': port = opts_port_arg(optarg); break;
        case 'i':
            interval = (int)opts_uint_arg("interval", optarg, 1, 3600);
            break;
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
    srv.base = event_base_new();
    if (!srv.base) {
        log_error("cannot create the event base");
        return 1;
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
    if (start_reports(&srv, interval) < 0) {
        log_error("cannot start the report timer");
        goto out_free_listener;
    }
    if (net_announce(srv.lev) < 0) {
        log_error("cannot write to stdout: %s", strerror(errno));
        goto out_free_timer;
    }

    if (event_base_dispatch(srv.base) < 0)
        log_error("event loop failed");
    else
        rc = 0;

out_free_timer:
    event_free(srv.report_ev);
out_free_listener:
    evconnlistener_free(srv.lev);
    while (!LIST_EMPTY(&srv.conns))
        conn_free(LIST_FIRST(&srv.conns));
out_free_signals:
    stopsig_free(ss);
out_free_base:
    event_base_free(srv.base);
    libevent_global_shutdown();
    return rc;
}

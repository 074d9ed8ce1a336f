/* echosvr_rate.c -- exercise ch3-rate-limit: the echo server of
 * ch3-timeout with a speed limit per connection, `-r BYTES` a second.
 * This file is given; the limit itself is bucket.c, yours.
 *
 * Each connection gets a bucket (bucket.h) when it is accepted and calls
 * bucket_echo() when bytes arrive; the bucket decides how many go back
 * now and pauses reading when none may. There is no output backpressure
 * here (see ch3-echo): a client that never reads its echo receives at
 * most `-r` bytes a second, which is what bounds the output. */
#include "bucket.h"
#include "log.h"
#include "net.h"
#include "opts.h"
#include "stopsig.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#define DEFAULT_ADDR "127.0.0.1"
#define DEFAULT_PORT 4680
#define DEFAULT_RATE (64 * 1024)

static const char usage[] =
    " [-h] [-v | -q] [-a ADDR] [-p PORT] [-r BYTES]\n"
    "Echo server that echoes each connection at most BYTES a second.\n"
    "  -a ADDR   address to listen on (default " DEFAULT_ADDR ")\n"
    "  -p PORT   port to listen on, 0 for any free port (default 4680)\n"
    "  -r BYTES  bytes per second per connection, 10 to 1G (default 65536)\n"
    "  -v        log every connection (debug level)\n"
    "  -q        log errors only\n"
    "  -h        show this help\n"
    "Prints 'listening on ADDR:PORT' when ready; SIGINT or SIGTERM stop it.\n";

struct conn {
    struct server *srv;
    struct bufferevent *bev;
    struct bucket *bucket;
    bool closing; /* peer sent EOF: echo what is left, then close */
    LIST_ENTRY(conn) link;
};

struct server {
    struct event_base *base;
    struct evconnlistener *lev;
    size_t rate;
    LIST_HEAD(, conn) conns;
};

static void conn_free(struct conn *c)
{
    LIST_REMOVE(c, link);
    bucket_free(c->bucket);
    bufferevent_free(c->bev); /* BEV_OPT_CLOSE_ON_FREE closes the socket */
    free(c);
}

/* Nothing left to echo: neither in the input (waiting for tokens) nor in
 * the output (waiting for the peer). */
static bool conn_drained(const struct conn *c)
{
    return evbuffer_get_length(bufferevent_get_input(c->bev)) == 0 &&
           evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
}

static void echo_read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    (void)bev;
    bucket_echo(c->bucket);
}

/* The output has drained: after an EOF, close once all is echoed. */
static void echo_write_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    (void)bev;
    if (c->closing && conn_drained(c))
        conn_free(c);
}

static void echo_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;

    if (what & BEV_EVENT_ERROR) {
        log_debug("connection fd=%d: %s", (int)bufferevent_getfd(bev),
                  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        conn_free(c);
    } else if (what & BEV_EVENT_EOF) {
        /* A half-close: the rest of the echo is still owed. */
        c->closing = true;
        if (conn_drained(c))
            conn_free(c);
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
    c = calloc(1, sizeof(*c));
    if (!c)
        goto out_close_fd;
    c->srv = srv;
    c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev)
        goto out_free_conn;
    c->bucket = bucket_new(srv->base, c->bev, srv->rate);
    if (!c->bucket)
        goto out_free_bev;
    net_nodelay(fd);
    bufferevent_setcb(c->bev, echo_read_cb, echo_write_cb, echo_event_cb, c);
    if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) < 0)
        goto out_free_bucket;
    LIST_INSERT_HEAD(&srv->conns, c, link);
    log_debug("connection fd=%d from %s", (int)fd,
              net_format(sa, peer, sizeof(peer)));
    return;

out_free_bucket:
    bucket_free(c->bucket);
out_free_bev:
    bufferevent_free(c->bev); /* closes fd */
    free(c);
    log_error("accept: cannot set up a connection: %s", strerror(errno));
    return;
out_free_conn:
    free(c);
out_close_fd:
    evutil_closesocket(fd);
    log_error("accept: out of memory, dropping a connection");
}

static void accept_error_cb(struct evconnlistener *lev, void *arg)
{
    (void)arg;
    net_accept_backoff(lev);
}

int main(int argc, char **argv)
{
    struct server srv = {.rate = DEFAULT_RATE};
    struct stopsig *ss;
    const char *addr = DEFAULT_ADDR;
    uint16_t port = DEFAULT_PORT;
    int c, rc = 1;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    opterr = 0;
    while ((c = getopt(argc, argv, ":ha:p:r:vq")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'a': addr = opts_addr_arg(optarg); break;
        case 'p': port = opts_port_arg(optarg); break;
        case 'r': srv.rate = opts_size_arg("rate", optarg, 10, 1u << 30); break;
        case 'v': log_set_level(LOG_DEBUG); break;
        case 'q': log_set_level(LOG_ERROR); break;
        default: opts_bad_option(c, optopt);
        }
    }
    if (optind < argc)
        opts_fail("unexpected argument '%s'", argv[optind]);

    LIST_INIT(&srv.conns);
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
    return rc;
}

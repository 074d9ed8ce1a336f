/* echosvr_v1.c -- the first echo server: one libevent listener, one
 * bufferevent per connection, every byte received is sent back.
 *
 * The echo copies what was read into the output buffer, whatever its
 * size: no buffer of ours, so any message size works. A client that sends
 * but never reads is paused (EV_READ off) once OUT_HIGH bytes of echo wait
 * for it, and resumed when its output drains to OUT_LOW: the server holds
 * at most about OUT_HIGH (plus one 4 KiB read) per connection, whatever
 * the client does. Over all connections, common/budget.c bounds how many
 * are held (-c) and how many bytes they buffer together (-b). */
#include "budget.h"
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
    " [-h] [-v | -q] [-a ADDR] [-p PORT] [-c CONNS] [-b BYTES]\n"
    "Echo server: sends every byte it receives back to its sender.\n"
    "  -a ADDR   address to listen on (default " DEFAULT_ADDR ")\n"
    "  -p PORT   port to listen on, 0 for any free port (default 4680)\n"
    "  -c CONNS  most connections held at once (default 65536); more are\n"
    "            accepted and closed at once\n"
    "  -b BYTES  most bytes buffered for all clients together, suffix k, M\n"
    "            or G (default 64M); beyond it a client whose echo waits\n"
    "            is not read until the echo is sent\n"
    "  -v        log every connection (debug level)\n"
    "  -q        log errors only\n"
    "  -h        show this help\n"
    "Prints 'listening on ADDR:PORT' when ready; SIGINT or SIGTERM stop it.\n";

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
    LIST_HEAD(, conn) conns;
    struct budget budget; /* -c and -b, over all connections */
};

static void conn_free(struct conn *c)
{
    LIST_REMOVE(c, link);
    budget_detach(&c->bc, c->bev);
    bufferevent_free(c->bev); /* BEV_OPT_CLOSE_ON_FREE closes the socket */
    free(c);
}

/* Copies rather than moves the input's chains (evbuffer_add_buffer):
 * libevent 2.1 reads at most 4 KiB at a time into a new 8 KiB chain, so
 * moved chains are half empty and a paused client's 256 KiB of echo
 * would cost 512 KiB (measured). Copied, they are full; 4 KiB of memcpy
 * costs far less than the read that brought them. */
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

    if (what & BEV_EVENT_ERROR) {
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
    if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) < 0)
        goto out_detach;
    LIST_INSERT_HEAD(&srv->conns, c, link);
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

int main(int argc, char **argv)
{
    struct server srv = {0};
    struct stopsig *ss;
    const char *addr = DEFAULT_ADDR;
    uint16_t port = DEFAULT_PORT;
    unsigned max_conns = BUDGET_DEFAULT_CONNS;
    size_t max_bytes = BUDGET_DEFAULT_BYTES;
    int c, rc = 1;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    opterr = 0;
    while ((c = getopt(argc, argv, ":ha:p:c:b:vq")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'a': addr = opts_addr_arg(optarg); break;
        case 'p': port = opts_port_arg(optarg); break;
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

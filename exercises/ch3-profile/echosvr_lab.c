/* echosvr_lab.c -- the profiling lab's server: the tutorial's echo server
 * of section 3.3 (a listener, one bufferevent per connection) with its
 * read callback taken from echo_read.c, the file you profile and fix.
 *
 * Unlike ch3-echo/echosvr_v1 it has no backpressure: a client that never
 * reads makes it buffer without bound. Fine for a lab, not for a server. */
#include "echo_read.h"
#include "log.h"
#include "net.h"
#include "opts.h"
#include "stopsig.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#define DEFAULT_ADDR "127.0.0.1"
#define DEFAULT_PORT 4680

static const char usage[] =
    " [-h] [-q] [-a ADDR] [-p PORT]\n"
    "Echo server of the profiling lab (exercises/ch3-profile).\n"
    "  -a ADDR  address to listen on (default " DEFAULT_ADDR ")\n"
    "  -p PORT  port to listen on, 0 for any free port (default 4680)\n"
    "  -q       log errors only\n"
    "  -h       show this help\n";

struct conn {
    struct bufferevent *bev;
    LIST_ENTRY(conn) link;
};

static LIST_HEAD(, conn) conns = LIST_HEAD_INITIALIZER(conns);

static void conn_free(struct conn *c)
{
    LIST_REMOVE(c, link);
    bufferevent_free(c->bev);
    free(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        conn_free(arg);
}

static void accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
                      struct sockaddr *sa, int salen, void *arg)
{
    struct event_base *base = arg;
    struct conn *c = calloc(1, sizeof(*c));

    (void)lev;
    (void)sa;
    (void)salen;
    if (c)
        c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c || !c->bev) {
        log_error("accept: out of memory, dropping a connection");
        evutil_closesocket(fd);
        free(c);
        return;
    }
    net_nodelay(fd);
    bufferevent_setcb(c->bev, echo_read_cb, NULL, event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    LIST_INSERT_HEAD(&conns, c, link);
}

int main(int argc, char **argv)
{
    struct event_base *base;
    struct evconnlistener *lev;
    struct stopsig *ss;
    const char *addr = DEFAULT_ADDR;
    uint16_t port = DEFAULT_PORT;
    int c, rc = 1;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    opterr = 0;
    while ((c = getopt(argc, argv, ":ha:p:q")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'a': addr = opts_addr_arg(optarg); break;
        case 'p': port = opts_port_arg(optarg); break;
        case 'q': log_set_level(LOG_ERROR); break;
        default: opts_bad_option(c, optopt);
        }
    }
    if (optind < argc)
        opts_fail("unexpected argument '%s'", argv[optind]);

    base = event_base_new();
    if (!base) {
        log_error("cannot create the event base");
        return 1;
    }
    ss = stopsig_new(base, NULL, NULL);
    if (!ss) {
        log_error("cannot watch signals: %s", strerror(errno));
        goto out_free_base;
    }
    lev = net_listen(base, addr, port, 0, accept_cb, base);
    if (!lev) {
        log_error("cannot listen on %s port %u: %s", addr, port,
                  strerror(errno));
        goto out_free_signals;
    }
    if (net_announce(lev) == 0 && event_base_dispatch(base) == 0)
        rc = 0;

    evconnlistener_free(lev);
    while (!LIST_EMPTY(&conns))
        conn_free(LIST_FIRST(&conns));
out_free_signals:
    stopsig_free(ss);
out_free_base:
    event_base_free(base);
    libevent_global_shutdown();
    return rc;
}

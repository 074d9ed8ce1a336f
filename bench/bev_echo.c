/* bev_echo.c -- the library-cost baseline of the echo benchmarks: the
 * smallest bufferevent echo server, as libevent's samples write it.
 *
 * Every byte read is moved from the input evbuffer to the output one;
 * libevent writes it when the socket is writable. Nothing else: no
 * backpressure (a client that never reads makes it buffer without bound)
 * and no half-close (EOF closes at once). echosvr_v1 is this plus what a
 * real server needs; the benchmark's ratio between the two is the price
 * of those additions. */
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
    " [-h] [-a ADDR] [-p PORT]\n"
    "Echo server on plain bufferevents (a benchmark baseline).\n"
    "  -a ADDR  address to listen on (default " DEFAULT_ADDR ")\n"
    "  -p PORT  port to listen on, 0 for any free port (default 4680)\n"
    "  -h       show this help\n"
    "Prints 'listening on ADDR:PORT' when ready; SIGINT or SIGTERM stop it.\n";

struct conn {
    struct bufferevent *bev;
    LIST_ENTRY(conn) link;
};

LIST_HEAD(conn_list, conn);

static void conn_free(struct conn *c)
{
    LIST_REMOVE(c, link);
    bufferevent_free(c->bev); /* BEV_OPT_CLOSE_ON_FREE closes the socket */
    free(c);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    (void)arg;
    evbuffer_add_buffer(bufferevent_get_output(bev),
                        bufferevent_get_input(bev));
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
    struct conn_list *conns = arg;
    struct conn *c = malloc(sizeof(*c));

    (void)sa;
    (void)salen;
    if (!c)
        goto out_close_fd;
    c->bev = bufferevent_socket_new(evconnlistener_get_base(lev), fd,
                                    BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev)
        goto out_free_conn;
    net_nodelay(fd);
    bufferevent_setcb(c->bev, read_cb, NULL, event_cb, c);
    LIST_INSERT_HEAD(conns, c, link);
    if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) < 0) {
        log_error("accept: cannot enable a connection");
        conn_free(c);
    }
    return;

out_free_conn:
    free(c);
out_close_fd:
    evutil_closesocket(fd);
    log_error("accept: out of memory, dropping a connection");
}

int main(int argc, char **argv)
{
    struct conn_list conns = LIST_HEAD_INITIALIZER(conns);
    struct evconnlistener *lev;
    struct event_base *base;
    struct stopsig *ss;
    const char *addr = DEFAULT_ADDR;
    uint16_t port = DEFAULT_PORT;
    int c, rc = 1;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    opterr = 0;
    while ((c = getopt(argc, argv, ":ha:p:")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'a': addr = opts_addr_arg(optarg); break;
        case 'p': port = opts_port_arg(optarg); break;
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
    lev = net_serve(base, addr, port, accept_cb, &conns);
    if (!lev)
        goto out_free_signals;
    if (event_base_dispatch(base) < 0)
        log_error("event loop failed");
    else
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

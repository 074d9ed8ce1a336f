/* echosvr_fast.c -- echosvr_v1 without bufferevents: plain libevent
 * events and one reused buffer per connection, where the profiling lab
 * (exercises/ch3-profile) leads.
 *
 * A readable connection costs one recv() into its own buffer and one
 * send() of what came, in the same callback. A bufferevent instead asks
 * the kernel how much is waiting (ioctl FIONREAD), reads into evbuffer
 * chains it allocates, arms its write event and sends on the next turn
 * of the loop, then disarms it: two epoll_ctl() calls and a loop turn
 * per message that this server does not pay (README.md, "Measure it").
 *
 * What the socket does not take stays in the buffer and the connection
 * changes state, CONN_READING to CONN_SENDING: its read event off, its
 * write event on, until the rest is sent. A client that never reads thus
 * holds BUF_SIZE of the server's memory, no more, and a half-closed one
 * gets its whole echo: EOF is only read once nothing is pending. */
#include "log.h"
#include "net.h"
#include "opts.h"
#include "stopsig.h"

#include <event2/event.h>
#include <event2/listener.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_ADDR "127.0.0.1"
#define DEFAULT_PORT 4680
/* 16 KiB: a 1 KiB message, or several pipelined ones, in one recv(),
 * and 160 MiB for 10,000 connections (touched only as far as used). */
#define BUF_SIZE (16 * 1024)

static const char usage[] =
    " [-h] [-v | -q] [-a ADDR] [-p PORT]\n"
    "Echo server: sends every byte it receives back to its sender.\n"
    "  -a ADDR  address to listen on (default " DEFAULT_ADDR ")\n"
    "  -p PORT  port to listen on, 0 for any free port (default 4680)\n"
    "  -v       log every connection (debug level)\n"
    "  -q       log errors only\n"
    "  -h       show this help\n"
    "Prints 'listening on ADDR:PORT' when ready; SIGINT or SIGTERM stop it.\n";

enum conn_state {
    CONN_READING, /* buffer empty, read event on */
    CONN_SENDING, /* buf[off .. len) unsent, write event on */
};

struct conn {
    struct server *srv;
    evutil_socket_t fd;
    struct event *rev, *wev;
    size_t off, len; /* unsent echo: buf[off .. len) */
    LIST_ENTRY(conn) link;
    unsigned char buf[BUF_SIZE];
};

struct server {
    struct event_base *base;
    struct evconnlistener *lev;
    LIST_HEAD(, conn) conns;
};

static void conn_free(struct conn *c)
{
    LIST_REMOVE(c, link);
    if (c->rev)
        event_free(c->rev);
    if (c->wev)
        event_free(c->wev);
    evutil_closesocket(c->fd);
    free(c);
}

static void conn_close(struct conn *c, const char *why)
{
    log_debug("connection fd=%d: %s", (int)c->fd, why);
    conn_free(c);
}

/* Send buf[off .. len). 0 when all of it is out, 1 when the socket is
 * full, -1 on an error (errno). */
static int conn_send(struct conn *c)
{
    int rc = net_send_nb(c->fd, c->buf, &c->off, c->len);

    if (rc == 0)
        c->off = c->len = 0;
    return rc;
}

/* Swap the read event for the write event, or back. */
static int conn_set_state(struct conn *c, enum conn_state state)
{
    struct event *off = state == CONN_SENDING ? c->rev : c->wev;
    struct event *on = state == CONN_SENDING ? c->wev : c->rev;

    if (event_del(off) < 0 || event_add(on, NULL) < 0)
        return -1;
    return 0;
}

static void conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    ssize_t n = recv(fd, c->buf, BUF_SIZE, 0);
    int rc;

    (void)what;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(c, n == 0 ? "closed by peer" : strerror(errno));
        return;
    }
    c->len = (size_t)n;
    rc = conn_send(c);
    if (rc < 0)
        conn_close(c, strerror(errno));
    else if (rc > 0 && conn_set_state(c, CONN_SENDING) < 0)
        conn_close(c, "cannot watch for writing");
}

static void conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    int rc = conn_send(c);

    (void)fd;
    (void)what;
    if (rc < 0)
        conn_close(c, strerror(errno));
    else if (rc == 0 && conn_set_state(c, CONN_READING) < 0)
        conn_close(c, "cannot watch for reading");
}

static struct conn *conn_new(struct server *srv, evutil_socket_t fd)
{
    struct conn *c = malloc(sizeof(*c));

    if (!c)
        return NULL;
    c->srv = srv;
    c->fd = fd;
    c->off = c->len = 0;
    c->rev = event_new(srv->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
    c->wev = event_new(srv->base, fd, EV_WRITE | EV_PERSIST, conn_write_cb, c);
    LIST_INSERT_HEAD(&srv->conns, c, link);
    if (!c->rev || !c->wev || event_add(c->rev, NULL) < 0) {
        conn_free(c); /* closes fd */
        return NULL;
    }
    return c;
}

static void accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
                      struct sockaddr *sa, int salen, void *arg)
{
    char peer[NET_ADDRSTRLEN];

    (void)lev;
    (void)salen;
    net_nodelay(fd);
    if (!conn_new(arg, fd)) {
        log_error_limited("accept: cannot set up a connection");
        return;
    }
    log_debug("connection fd=%d from %s", (int)fd,
              net_format(sa, peer, sizeof(peer)));
}

int main(int argc, char **argv)
{
    struct server srv = {0};
    struct stopsig *ss;
    const char *addr = DEFAULT_ADDR;
    uint16_t port = DEFAULT_PORT;
    int c, rc = 1;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    opterr = 0;
    while ((c = getopt(argc, argv, ":ha:p:vq")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'a': addr = opts_addr_arg(optarg); break;
        case 'p': port = opts_port_arg(optarg); break;
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
    srv.lev = net_serve(srv.base, addr, port, accept_cb, &srv);
    if (!srv.lev)
        goto out_free_signals;
    if (event_base_dispatch(srv.base) < 0)
        log_error("event loop failed");
    else
        rc = 0;

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

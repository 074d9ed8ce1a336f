/* echosvr_udp.c -- exercise ch3-udp-echo: a UDP echo server on a plain
 * libevent event. See README.md.
 *
 * Given: options, signals, the "listening on" line, udp_server_close().
 * To write: udp_server_start() and the read callback it installs. */
#include "log.h"
#include "net.h"
#include "opts.h"
#include "stopsig.h"

#include <event2/event.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_ADDR "127.0.0.1"
#define DEFAULT_PORT 4680

static const char usage[] =
    " [-h] [-v | -q] [-a ADDR] [-p PORT]\n"
    "UDP echo server: sends every datagram back to its sender.\n"
    "  -a ADDR  address to listen on (default " DEFAULT_ADDR ")\n"
    "  -p PORT  port to listen on, 0 for any free port (default 4680)\n"
    "  -v       log every datagram (debug level)\n"
    "  -q       log errors only\n"
    "  -h       show this help\n"
    "Prints 'listening on ADDR:PORT' when ready; SIGINT or SIGTERM stop it.\n";

struct udp_server {
    struct event_base *base;
    struct event *ev; /* EV_READ | EV_PERSIST on fd */
    int fd;
    /* TODO: whatever the callback needs, such as a datagram buffer. */
};

/* TODO: the read callback, an event_callback_fn:
 *     static void udp_read_cb(evutil_socket_t fd, short what, void *arg)
 * Each datagram waiting on fd goes back to the address it came from. */

/* Bind a UDP socket to addr:port and watch it on srv->base. 0, or -1 with
 * errno (EADDRINUSE, ...) and nothing left open.
 * TODO: the socket, bind(), and an EV_READ | EV_PERSIST event calling
 * udp_read_cb, kept in srv->fd and srv->ev. */
static int udp_server_start(struct udp_server *srv, const char *addr,
                            uint16_t port)
{
    (void)srv;
    (void)addr;
    (void)port;
    errno = ENOSYS;
    return -1;
}

/* Undo udp_server_start(); safe on a server that never started. */
static void udp_server_close(struct udp_server *srv)
{
    if (srv->ev)
        event_free(srv->ev);
    if (srv->fd >= 0)
        close(srv->fd);
    srv->ev = NULL;
    srv->fd = -1;
}

static int announce(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char name[NET_ADDRSTRLEN];

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    printf("listening on %s\n",
           net_format((struct sockaddr *)&ss, name, sizeof(name)));
    return fflush(stdout) == EOF ? -1 : 0;
}

int main(int argc, char **argv)
{
    struct udp_server *srv;
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

    srv = calloc(1, sizeof(*srv));
    if (!srv) {
        log_error("out of memory");
        return 1;
    }
    srv->fd = -1;
    srv->base = event_base_new();
    if (!srv->base) {
        log_error("cannot create the event base");
        goto out_free_server;
    }
    ss = stopsig_new(srv->base, NULL, NULL);
    if (!ss) {
        log_error("cannot watch signals: %s", strerror(errno));
        goto out_free_base;
    }
    if (udp_server_start(srv, addr, port) < 0) {
        log_error("cannot listen on %s port %u: %s", addr, port,
                  strerror(errno));
        goto out_free_signals;
    }
    if (announce(srv->fd) < 0) {
        log_error("cannot write to stdout: %s", strerror(errno));
        goto out_close_server;
    }

    if (event_base_dispatch(srv->base) < 0)
        log_error("event loop failed");
    else
        rc = 0;

out_close_server:
    udp_server_close(srv);
out_free_signals:
    stopsig_free(ss);
out_free_base:
    event_base_free(srv->base);
    libevent_global_shutdown();
out_free_server:
    free(srv);
    return rc;
}

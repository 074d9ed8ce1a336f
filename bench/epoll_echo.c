/* epoll_echo.c -- the kernel-socket limit of the echo benchmarks: one
 * thread, one level-triggered epoll set, no library between the server
 * and its system calls. What a libevent server costs beyond this is the
 * library's.
 *
 * A readable connection costs one recv(2) into its own BUF_SIZE buffer
 * and one send(2) of what came. What the socket does not take stays in
 * the buffer and the connection stops reading (EPOLLOUT instead of
 * EPOLLIN) until it is sent, so a client that never reads costs at most
 * BUF_SIZE. SIGINT and SIGTERM arrive through a signalfd in the same
 * set. */
#include "log.h"
#include "net.h"
#include "opts.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_ADDR "127.0.0.1"
#define DEFAULT_PORT 4680
/* The same per-connection buffer as ch3-echo/echosvr_fast: a fair
 * comparison makes the same system calls with the same sizes. */
#define BUF_SIZE   (16 * 1024)
#define MAX_EVENTS 256
/* After accept() fails for lack of descriptors, ignore the listener this
 * long: level-triggered, it would otherwise wake the loop at once. */
#define ACCEPT_PAUSE_MS 100

static const char usage[] =
    " [-h] [-a ADDR] [-p PORT]\n"
    "Echo server on a bare epoll loop (a benchmark baseline).\n"
    "  -a ADDR  address to listen on (default " DEFAULT_ADDR ")\n"
    "  -p PORT  port to listen on, 0 for any free port (default 4680)\n"
    "  -h       show this help\n"
    "Prints 'listening on ADDR:PORT' when ready; SIGINT or SIGTERM stop it.\n";

struct conn {
    int fd;
    size_t off, len; /* unsent echo: buf[off .. len) */
    LIST_ENTRY(conn) link;
    unsigned char buf[BUF_SIZE];
};

struct server {
    int ep, lfd, sfd;
    bool accept_paused, stopping;
    LIST_HEAD(, conn) conns;
};

/* epoll's data.ptr for the two descriptors that are not connections. */
static char listener_tag, signal_tag;

static void conn_free(struct conn *c)
{
    LIST_REMOVE(c, link);
    close(c->fd); /* also leaves the epoll set */
    free(c);
}

static int conn_watch(struct server *srv, struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};

    return epoll_ctl(srv->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Send what the buffer holds; 0 when it is all out, 1 when the rest must
 * wait for EPOLLOUT, -1 on an error. */
static int conn_flush(struct conn *c)
{
    int rc = net_send_nb(c->fd, c->buf, &c->off, c->len);

    if (rc == 0)
        c->off = c->len = 0;
    return rc;
}

static void conn_readable(struct server *srv, struct conn *c)
{
    ssize_t n = recv(c->fd, c->buf, BUF_SIZE, 0);
    int rc;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_free(c); /* EOF with nothing pending, or an error */
        return;
    }
    c->len = (size_t)n;
    rc = conn_flush(c);
    if (rc < 0 || (rc > 0 && conn_watch(srv, c, EPOLLOUT) < 0))
        conn_free(c);
}

/* A paused connection: send the rest, then read again. An EOF that came
 * meanwhile is read then (recv returns 0), after the echo is out. */
static void conn_writable(struct server *srv, struct conn *c)
{
    int rc = conn_flush(c);

    if (rc < 0 || (rc == 0 && conn_watch(srv, c, EPOLLIN) < 0))
        conn_free(c);
}

static void conn_event(struct server *srv, struct conn *c, uint32_t events)
{
    if (events & EPOLLERR)
        conn_free(c);
    else if (c->len > 0)
        conn_writable(srv, c);
    else
        conn_readable(srv, c);
}

static void accept_all(struct server *srv)
{
    for (;;) {
        int fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN};
        struct conn *c;

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                log_error_limited("accept: %s", strerror(errno));
                epoll_ctl(srv->ep, EPOLL_CTL_DEL, srv->lfd, NULL);
                srv->accept_paused = true;
            }
            return; /* EAGAIN: all taken */
        }
        net_nodelay(fd);
        c = malloc(sizeof(*c));
        if (!c) {
            log_error_limited("accept: out of memory, dropping a connection");
            close(fd);
            continue;
        }
        c->fd = fd;
        c->off = c->len = 0;
        ev.data.ptr = c;
        if (epoll_ctl(srv->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            log_error_limited("epoll_ctl: %s", strerror(errno));
            close(fd);
            free(c);
            continue;
        }
        LIST_INSERT_HEAD(&srv->conns, c, link);
    }
}

static int watch(struct server *srv, int fd, void *tag)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tag};

    return epoll_ctl(srv->ep, EPOLL_CTL_ADD, fd, &ev);
}

/* The loop: 0 after SIGINT or SIGTERM, -1 if epoll_wait() fails. */
static int serve(struct server *srv)
{
    struct epoll_event evs[MAX_EVENTS];

    while (!srv->stopping) {
        int n = epoll_wait(srv->ep, evs, MAX_EVENTS,
                           srv->accept_paused ? ACCEPT_PAUSE_MS : -1);
        if (n < 0 && errno != EINTR)
            return -1;
        if (n == 0 && srv->accept_paused) {
            srv->accept_paused = watch(srv, srv->lfd, &listener_tag) < 0;
            continue;
        }
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &listener_tag)
                accept_all(srv);
            else if (p == &signal_tag)
                srv->stopping = true;
            else
                conn_event(srv, p, evs[i].events);
        }
    }
    return 0;
}

/* SIGINT and SIGTERM blocked and readable on a signalfd; SIGPIPE off. */
static int signals_open(void)
{
    sigset_t set;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int main(int argc, char **argv)
{
    struct server srv = {.ep = -1, .lfd = -1, .sfd = -1};
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

    LIST_INIT(&srv.conns);
    srv.ep = epoll_create1(EPOLL_CLOEXEC);
    if (srv.ep < 0) {
        log_error("epoll_create1: %s", strerror(errno));
        return 1;
    }
    srv.sfd = signals_open();
    if (srv.sfd < 0 || watch(&srv, srv.sfd, &signal_tag) < 0) {
        log_error("cannot watch signals: %s", strerror(errno));
        goto out_close;
    }
    srv.lfd = net_listen_socket(addr, port, 0);
    if (srv.lfd < 0) {
        log_error("cannot listen on %s port %u: %s", addr, port,
                  strerror(errno));
        goto out_close;
    }
    if (watch(&srv, srv.lfd, &listener_tag) < 0 || net_announce_fd(srv.lfd)) {
        log_error("cannot start: %s", strerror(errno));
        goto out_close;
    }

    if (serve(&srv) < 0)
        log_error("epoll_wait: %s", strerror(errno));
    else
        rc = 0;

out_close:
    while (!LIST_EMPTY(&srv.conns))
        conn_free(LIST_FIRST(&srv.conns));
    if (srv.lfd >= 0)
        close(srv.lfd);
    if (srv.sfd >= 0)
        close(srv.sfd);
    close(srv.ep);
    return rc;
}

/* echosvr_select.c -- the echo server without libevent: one poll() loop
 * over the listener, a stop pipe and every connection.
 *
 * poll() rather than select(): select() takes a fixed-size fd_set that
 * cannot name descriptors at or above FD_SETSIZE (1024), and FD_SET() on
 * a larger one writes past the end of the set. poll() takes an array of
 * any length. Both cost O(n) per call: the kernel and this loop scan
 * every descriptor each time, which is what epoll (under libevent)
 * avoids.
 *
 * Each connection owns a buffer of CONN_BUF bytes: bytes read wait there
 * until written back. A full buffer stops reading from that connection
 * (POLLIN off) until its peer reads its echo: the memory per connection
 * stays bounded, whatever the client does. */
#include "log.h"
#include "net.h"
#include "opts.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_ADDR "127.0.0.1"
#define DEFAULT_PORT 4680
/* 64 KiB per connection: a few socket-buffer sizes, so large payloads
 * move in few system calls. */
#define CONN_BUF (64 * 1024)

static const char usage[] =
    " [-h] [-v | -q] [-a ADDR] [-p PORT]\n"
    "Echo server without libevent: sends every byte it receives back.\n"
    "  -a ADDR  address to listen on (default " DEFAULT_ADDR ")\n"
    "  -p PORT  port to listen on, 0 for any free port (default 4680)\n"
    "  -v       log every connection (debug level)\n"
    "  -q       log errors only\n"
    "  -h       show this help\n"
    "Prints 'listening on ADDR:PORT' when ready; SIGINT or SIGTERM stop it.\n";

/* The signal handler writes one byte here; the loop polls the read end. */
static int stop_pipe[2] = {-1, -1};

static void on_stop_signal(int signo)
{
    int saved = errno;

    (void)signo;
    (void)!write(stop_pipe[1], "", 1);
    errno = saved;
}

static int watch_stop_signals(void)
{
    struct sigaction sa = {.sa_handler = on_stop_signal};

    if (pipe2(stop_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
        return -1;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* A non-blocking listening socket on addr:port, or -1 with errno. */
static int listen_socket(const char *addr, uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, one = 1;

    if (net_sockaddr(addr, port, &ss, &len) < 0)
        return -1;
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&ss, len) < 0 ||
        listen(fd, SOMAXCONN) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static int announce(int lfd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char name[NET_ADDRSTRLEN];

    if (getsockname(lfd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    printf("listening on %s\n",
           net_format((struct sockaddr *)&ss, name, sizeof(name)));
    return fflush(stdout) == EOF ? -1 : 0;
}

struct conn {
    int fd;
    bool eof;          /* peer half-closed: close once the echo is out */
    size_t start, end; /* bytes [start, end) of buf wait to be echoed */
    char buf[CONN_BUF];
};

struct loop {
    struct conn **conns;
    struct pollfd *pfds; /* [0] stop pipe, [1] listener, [2 + i] conns[i] */
    size_t n, cap;
    bool accept_paused; /* out of descriptors: wait for a close */
};

/* Room for cap connections (and their pollfds). 0 or -1. */
static int loop_grow(struct loop *lp, size_t cap)
{
    struct conn **conns = realloc(lp->conns, cap * sizeof(*conns));
    struct pollfd *pfds;

    if (!conns)
        return -1;
    lp->conns = conns;
    pfds = realloc(lp->pfds, (cap + 2) * sizeof(*pfds));
    if (!pfds)
        return -1;
    lp->pfds = pfds;
    lp->cap = cap;
    return 0;
}

static int loop_add(struct loop *lp, int fd)
{
    struct conn *c;

    if (lp->n == lp->cap && loop_grow(lp, 2 * lp->cap) < 0)
        return -1;
    c = malloc(sizeof(*c));
    if (!c)
        return -1;
    *c = (struct conn){.fd = fd};
    lp->conns[lp->n++] = c;
    return 0;
}

/* Close conns[i]; the last connection takes its slot. */
static void loop_remove(struct loop *lp, size_t i)
{
    log_debug("connection fd=%d closed", lp->conns[i]->fd);
    close(lp->conns[i]->fd);
    free(lp->conns[i]);
    lp->conns[i] = lp->conns[--lp->n];
    lp->accept_paused = false;
}

static void accept_all(struct loop *lp, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
                log_error("accept: %s; waiting for a connection to close",
                          strerror(errno));
                lp->accept_paused = true;
            } else if (errno != EAGAIN && errno != EINTR &&
                       errno != ECONNABORTED) {
                log_error("accept: %s", strerror(errno));
            }
            return;
        }
        if (loop_add(lp, fd) < 0) {
            log_error("accept: out of memory, dropping a connection");
            close(fd);
            return;
        }
        net_nodelay(fd);
        log_debug("connection fd=%d", fd);
    }
}

/* One readiness report for c: false when the connection is finished. */
static bool conn_serve(struct conn *c, short revents)
{
    ssize_t n;

    if ((revents & POLLIN) && c->end < CONN_BUF) {
        n = recv(c->fd, c->buf + c->end, CONN_BUF - c->end, 0);
        if (n > 0)
            c->end += (size_t)n;
        else if (n == 0)
            c->eof = true;
        else if (errno != EAGAIN && errno != EINTR)
            return false;
    } else if (revents & (POLLERR | POLLNVAL)) {
        return false;
    }
    if (c->end > c->start) {
        n = send(c->fd, c->buf + c->start, c->end - c->start, MSG_NOSIGNAL);
        if (n > 0)
            c->start += (size_t)n;
        else if (n < 0 && errno != EAGAIN && errno != EINTR)
            return false;
        if (c->start == c->end)
            c->start = c->end = 0;
    }
    return !(c->eof && c->start == c->end);
}

/* Echo on every connection until a byte arrives on stop_fd. 0 on a
 * clean stop, -1 with errno if poll() fails. */
static int echo_loop(int lfd, int stop_fd)
{
    struct loop lp = {0};
    int rc = -1;

    if (loop_grow(&lp, 64) < 0)
        goto out_close_conns;
    for (;;) {
        lp.pfds[0] = (struct pollfd){stop_fd, POLLIN, 0};
        lp.pfds[1] = (struct pollfd){lp.accept_paused ? -1 : lfd, POLLIN, 0};
        for (size_t i = 0; i < lp.n; i++) {
            struct conn *c = lp.conns[i];
            short ev = 0;
            if (!c->eof && c->end < CONN_BUF)
                ev |= POLLIN;
            if (c->end > c->start)
                ev |= POLLOUT;
            lp.pfds[2 + i] = (struct pollfd){c->fd, ev, 0};
        }
        if (poll(lp.pfds, lp.n + 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (lp.pfds[0].revents) {
            rc = 0;
            break;
        }
        /* Backwards: loop_remove() moves the last connection into slot i,
         * and that one has been served already. */
        for (size_t i = lp.n; i-- > 0;)
            if (lp.pfds[2 + i].revents &&
                !conn_serve(lp.conns[i], lp.pfds[2 + i].revents))
                loop_remove(&lp, i);
        if (lp.pfds[1].revents)
            accept_all(&lp, lfd);
    }
out_close_conns:
    while (lp.n > 0)
        loop_remove(&lp, lp.n - 1);
    free(lp.conns);
    free(lp.pfds);
    return rc;
}

int main(int argc, char **argv)
{
    const char *addr = DEFAULT_ADDR;
    uint16_t port = DEFAULT_PORT;
    int c, lfd, rc = 1;

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

    if (watch_stop_signals() < 0) {
        log_error("cannot watch signals: %s", strerror(errno));
        return 1;
    }
    lfd = listen_socket(addr, port);
    if (lfd < 0) {
        log_error("cannot listen on %s port %u: %s", addr, port,
                  strerror(errno));
        goto out_close_pipe;
    }
    if (announce(lfd) < 0) {
        log_error("cannot write to stdout: %s", strerror(errno));
        goto out_close_listener;
    }
    if (echo_loop(lfd, stop_pipe[0]) < 0)
        log_error("echo loop: %s", strerror(errno));
    else
        rc = 0;

out_close_listener:
    close(lfd);
out_close_pipe:
    close(stop_pipe[0]);
    close(stop_pipe[1]);
    return rc;
}

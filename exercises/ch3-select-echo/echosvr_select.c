/* echosvr_select.c -- exercise ch3-select-echo: the echo server without
 * libevent, on one select() or poll() loop. See README.md.
 *
 * Given: options, the listening socket, the "listening on" line, and a
 * stop pipe that receives a byte on SIGINT or SIGTERM. To write:
 * echo_loop() and whatever it needs. */
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

/* Echo on every connection until a byte arrives on stop_fd. 0 on a
 * clean stop, -1 with errno if the loop fails.
 *
 * TODO: the whole loop. Each turn: watch stop_fd, lfd and every
 * connection; accept new connections; read what arrived and send it back;
 * close finished connections. Never block, never let one client's
 * unread echo grow without bound, and do not corrupt memory past
 * FD_SETSIZE descriptors. */
static int echo_loop(int lfd, int stop_fd)
{
    (void)lfd;
    (void)stop_fd;
    errno = ENOSYS;
    return -1;
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

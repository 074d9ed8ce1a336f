/* client_v1.c -- sends lines to the echo server and checks each echo.
 *
 * Each message goes out as one line ("text\n"); the client then reads
 * exactly as many bytes back and compares: one connection, one message at
 * a time. */
#include "log.h"
#include "net.h"
#include "opts.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_ADDR "127.0.0.1"
#define DEFAULT_PORT 4680
#define DEFAULT_WAIT 10 /* seconds to wait for an echo */

static const char usage[] =
    " [-h] [-a ADDR] [-p PORT] [-w SECONDS] [MESSAGE...]\n"
    "Sends each MESSAGE, or else each line of standard input, to an echo\n"
    "server as one line, reads the echo back and prints it.\n"
    "  -a ADDR     server address (default " DEFAULT_ADDR ")\n"
    "  -p PORT     server port (default 4680)\n"
    "  -w SECONDS  how long to wait for an echo (default 10)\n"
    "  -h          show this help\n"
    "Exit status: 0 if every echo matched, 1 if one did not or the\n"
    "connection failed, 2 on bad usage.\n";

/* Send line (len bytes) and read its echo into back. Sending and reading
 * interleave: a line longer than the socket buffers would otherwise
 * deadlock, the server waiting for us to read while we wait to write. */
static int echo_line(int fd, const char *line, size_t len, char *back,
                     int wait_ms)
{
    size_t sent = 0, got = 0;
    ssize_t n;

    while (got < len) {
        struct pollfd pfd = {fd, POLLIN | (sent < len ? POLLOUT : 0), 0};
        int ready = poll(&pfd, 1, wait_ms);
        if (ready == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (ready < 0 && errno != EINTR)
            return -1;
        if (ready < 0)
            continue;
        if ((pfd.revents & POLLOUT) && sent < len) {
            n = send(fd, line + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                return -1;
            sent += n > 0 ? (size_t)n : 0;
        }
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            n = recv(fd, back + got, len - got, MSG_DONTWAIT);
            if (n == 0)
                errno = ECONNRESET;
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                return -1;
            got += n > 0 ? (size_t)n : 0;
        }
    }
    return 0;
}

/* Echo one message; text may lack the newline. 0 if it matched. */
static int check_one(int fd, const char *text, size_t len, int wait_ms)
{
    char *line = malloc(len + 1), *back = malloc(len + 1);
    int rc = -1;

    if (!line || !back) {
        log_error("out of memory for a %zu-byte message", len);
        goto out;
    }
    memcpy(line, text, len);
    if (len == 0 || line[len - 1] != '\n')
        line[len++] = '\n';
    if (echo_line(fd, line, len, back, wait_ms) < 0) {
        log_error("echo failed: %s",
                  errno == ETIMEDOUT ? "no answer in time" : strerror(errno));
        goto out;
    }
    fwrite(back, 1, len, stdout);
    if (memcmp(line, back, len) != 0) {
        log_error("echo differs from what was sent");
        goto out;
    }
    rc = 0;
out:
    free(line);
    free(back);
    return rc;
}

static int check_stdin(int fd, int wait_ms)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;

    while (rc == 0 && (n = getline(&line, &cap, stdin)) > 0)
        rc = check_one(fd, line, (size_t)n, wait_ms);
    free(line);
    return rc;
}

int main(int argc, char **argv)
{
    const char *addr = DEFAULT_ADDR;
    uint16_t port = DEFAULT_PORT;
    int wait_ms = DEFAULT_WAIT * 1000;
    int c, fd, rc = 0;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    opterr = 0;
    while ((c = getopt(argc, argv, ":ha:p:w:")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'a': addr = opts_addr_arg(optarg); break;
        case 'p': port = opts_port_arg(optarg); break;
        case 'w':
            wait_ms = (int)opts_uint_arg("wait", optarg, 1, 3600) * 1000;
            break;
        default: opts_bad_option(c, optopt);
        }
    }

    fd = net_connect(addr, port);
    if (fd < 0) {
        log_error("cannot connect to %s port %u: %s", addr, port,
                  strerror(errno));
        return 1;
    }
    if (optind == argc)
        rc = check_stdin(fd, wait_ms);
    for (int i = optind; i < argc && rc == 0; i++)
        rc = check_one(fd, argv[i], strlen(argv[i]), wait_ms);
    close(fd);
    if (fflush(stdout) == EOF)
        rc = -1;
    return rc == 0 ? 0 : 1;
}

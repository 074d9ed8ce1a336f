/* client_v2.c -- sends COUNT messages of SIZE bytes to an echo server,
 * one at a time, checks every echo, and can then stay connected in
 * silence to watch a server's idle timeout at work.
 *
 * Each message is SIZE bytes of letters ending in a newline, different
 * for every message, so an echo from the wrong message is caught too.
 * What it prints is what the server's statistics should show. */
#include "log.h"
#include "now.h"
#include "net.h"
#include "opts.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_ADDR  "127.0.0.1"
#define DEFAULT_PORT  4680
#define DEFAULT_COUNT 10
#define DEFAULT_SIZE  64
#define WAIT_MS       10000 /* longest wait for one echo */

static const char usage[] =
    " [-h] [-a ADDR] [-p PORT] [-n COUNT] [-s SIZE] [-d MS] [-l SECONDS]\n"
    "Sends COUNT messages of SIZE bytes to an echo server, one at a time,\n"
    "and checks that each comes back unchanged.\n"
    "  -a ADDR     server address (default " DEFAULT_ADDR ")\n"
    "  -p PORT     server port (default 4680)\n"
    "  -n COUNT    messages to send, 0 or more (default 10)\n"
    "  -s SIZE     bytes per message, 1 to 64M, suffix k or M (default 64)\n"
    "  -d MS       pause between messages, in milliseconds (default 0)\n"
    "  -l SECONDS  then stay connected and silent up to SECONDS, reporting\n"
    "              whether the server closes the connection (default 0)\n"
    "  -h          show this help\n"
    "Exit status: 0 if every echo matched, 1 if one did not or the\n"
    "connection failed, 2 on bad usage.\n";

/* Message number seq: letters that shift with seq, then a newline. */
static void make_message(char *buf, size_t size, unsigned long seq)
{
    for (size_t i = 0; i + 1 < size; i++)
        buf[i] = (char)('a' + (seq + i) % 26);
    buf[size - 1] = '\n';
}

/* Send len bytes and read as many back into back, interleaved: a message
 * larger than the socket buffers would deadlock a send-then-read. */
static int echo_once(int fd, const char *msg, size_t len, char *back)
{
    size_t sent = 0, got = 0;
    ssize_t n;

    while (got < len) {
        struct pollfd pfd = {fd, POLLIN | (sent < len ? POLLOUT : 0), 0};
        int ready = poll(&pfd, 1, WAIT_MS);
        if (ready == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (ready < 0 && errno != EINTR)
            return -1;
        if (ready < 0)
            continue;
        if ((pfd.revents & POLLOUT) && sent < len) {
            n = send(fd, msg + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
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

static int send_all(int fd, unsigned long count, size_t size, int delay_ms)
{
    char *msg = malloc(size), *back = malloc(size);
    struct timespec pause = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
    int rc = -1;

    if (!msg || !back) {
        log_error("out of memory for %zu-byte messages", size);
        goto out;
    }
    for (unsigned long i = 0; i < count; i++) {
        if (i > 0 && delay_ms > 0)
            nanosleep(&pause, NULL);
        make_message(msg, size, i);
        if (echo_once(fd, msg, size, back) < 0) {
            log_error("message %lu: %s", i + 1,
                      errno == ETIMEDOUT ? "no echo in time" : strerror(errno));
            goto out;
        }
        if (memcmp(msg, back, size) != 0) {
            log_error("message %lu: echo differs from what was sent", i + 1);
            goto out;
        }
    }
    rc = 0;
out:
    free(msg);
    free(back);
    return rc;
}

/* Wait in silence; say whether and when the server hung up. */
static int linger(int fd, int seconds)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    double start = (now_mono_ns() / 1e9);
    char c;
    int ready;

    do {
        ready = poll(&pfd, 1, seconds * 1000);
    } while (ready < 0 && errno == EINTR);
    if (ready < 0) {
        log_error("poll: %s", strerror(errno));
        return -1;
    }
    if (ready == 0) {
        printf("still connected after %d s of silence\n", seconds);
        return 0;
    }
    if (recv(fd, &c, 1, MSG_DONTWAIT) > 0) {
        log_error("unexpected data from the server while silent");
        return -1;
    }
    printf("server closed the connection after %.1f s of silence\n",
           (now_mono_ns() / 1e9) - start);
    return 0;
}

int main(int argc, char **argv)
{
    const char *addr = DEFAULT_ADDR;
    uint16_t port = DEFAULT_PORT;
    unsigned long count = DEFAULT_COUNT;
    size_t size = DEFAULT_SIZE;
    int delay_ms = 0, linger_s = 0;
    int c, fd, rc;
    double start;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    opterr = 0;
    while ((c = getopt(argc, argv, ":ha:p:n:s:d:l:")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'a': addr = opts_addr_arg(optarg); break;
        case 'p': port = opts_port_arg(optarg); break;
        case 'n':
            count = (unsigned long)opts_uint_arg("count", optarg, 0,
                                                 1000UL * 1000 * 1000);
            break;
        case 's': size = opts_size_arg("size", optarg, 1, 64 << 20); break;
        case 'd':
            delay_ms = (int)opts_uint_arg("delay", optarg, 0, 3600 * 1000);
            break;
        case 'l':
            linger_s = (int)opts_uint_arg("linger", optarg, 0, 3600);
            break;
        default: opts_bad_option(c, optopt);
        }
    }
    if (optind < argc)
        opts_fail("unexpected argument '%s'", argv[optind]);

    fd = net_connect(addr, port);
    if (fd < 0) {
        log_error("cannot connect to %s port %u: %s", addr, port,
                  strerror(errno));
        return 1;
    }
    start = (now_mono_ns() / 1e9);
    rc = send_all(fd, count, size, delay_ms);
    if (rc == 0)
        printf("sent %lu messages of %zu bytes (%llu bytes) in %.3f s; "
               "every echo matched\n",
               count, size, (unsigned long long)count * size,
               (now_mono_ns() / 1e9) - start);
    if (rc == 0 && linger_s > 0) {
        fflush(stdout);
        rc = linger(fd, linger_s);
    }
    close(fd);
    if (fflush(stdout) == EOF)
        rc = -1;
    return rc == 0 ? 0 : 1;
}

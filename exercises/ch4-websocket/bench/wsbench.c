/* wsbench.c -- load client for echo servers: CONNS connections, each
 * with one SIZE-byte message in flight, for SECONDS; every echo is
 * checked byte for byte and its round trip recorded in a histogram.
 *
 * It speaks WebSocket (masked binary frames, as a browser sends) or, with
 * -r, raw TCP (what echosvr_v5 echoes), with the same loop either way, so
 * the two servers are measured by the same code. Its output is
 * client_v4's, and -m gives client_v4's one machine-readable line. */
#include "histogram.h"
#include "log.h"
#include "net.h"
#include "now.h"
#include "opts.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A WebSocket echo of up to 64 KiB comes back as one frame (ws_conn
 * fragments only what is larger). */
#define MAX_WS_SIZE (64u * 1024)
#define MAX_CONNS   10000

static const char usage[] =
    " [-h] [-m] [-r] PORT SIZE CONNS SECONDS\n"
    "Load client: CONNS connections to 127.0.0.1:PORT, each with one\n"
    "SIZE-byte message in flight, for SECONDS; every echo is checked.\n"
    "  -r   raw TCP echo (echosvr_v5) instead of WebSocket (echosvr_ws)\n"
    "  -m   one machine-readable line, as client_v4 -m prints\n"
    "  -h   show this help\n"
    "SIZE is 1 to 64k for WebSocket, 1 to 1M raw; CONNS 1 to 10000.\n";

struct bconn {
    int fd;
    size_t sent, recvd;
    int64_t start_ns;
    unsigned char *in;
};

struct bench {
    bool ws;
    size_t size;
    int nconns;
    struct bconn *c;
    unsigned char *out, *expect; /* bytes each message sends, and gets */
    size_t out_len, expect_len;
    struct histogram hist;
    unsigned long long messages;
};

/* The message as it goes on the wire, and its echo as it comes back. */
static int make_messages(struct bench *b)
{
    static const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    size_t hdr = 0, n = b->size;

    b->out = malloc(n + 14);
    b->expect = malloc(n + 14);
    if (!b->out || !b->expect)
        return -1;
    if (b->ws) {
        b->out[0] = b->expect[0] = 0x82; /* FIN, binary */
        if (n < 126) {
            b->expect[1] = (unsigned char)n;
            hdr = 2;
        } else if (n < 65536) {
            b->expect[1] = 126;
            b->expect[2] = (unsigned char)(n >> 8);
            b->expect[3] = (unsigned char)n;
            hdr = 4;
        } else {
            b->expect[1] = 127;
            for (int i = 0; i < 8; i++)
                b->expect[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
            hdr = 10;
        }
        memcpy(b->out + 1, b->expect + 1, hdr - 1);
        b->out[1] |= 0x80;
        memcpy(b->out + hdr, mask, 4);
    }
    for (size_t i = 0; i < n; i++)
        b->expect[hdr + i] = (unsigned char)('a' + i % 26);
    for (size_t i = 0; i < n; i++)
        b->out[hdr + (b->ws ? 4 : 0) + i] =
            b->expect[hdr + i] ^ (b->ws ? mask[i & 3] : 0);
    b->out_len = hdr + (b->ws ? 4 : 0) + n;
    b->expect_len = hdr + n;
    return 0;
}

/* The opening handshake, blocking, before the clock starts. */
static int ws_open(int fd)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n";
    char resp[512];
    size_t n = 0;

    if (write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1)
        return -1;
    while (n < sizeof(resp) && (n < 4 || memcmp(resp + n - 4, "\r\n\r\n", 4)))
        if (read(fd, resp + n++, 1) != 1)
            return -1;
    return n > 12 && memcmp(resp, "HTTP/1.1 101", 12) == 0 ? 0 : -1;
}

static int open_all(struct bench *b, uint16_t port)
{
    b->c = calloc((size_t)b->nconns, sizeof(*b->c));
    if (!b->c)
        return -1;
    for (int i = 0; i < b->nconns; i++) {
        struct bconn *c = &b->c[i];

        c->in = malloc(b->expect_len);
        c->fd = net_connect("127.0.0.1", port);
        if (!c->in || c->fd < 0) {
            log_error("connection %d: %s", i, strerror(errno));
            return -1;
        }
        if (b->ws && ws_open(c->fd) < 0) {
            log_error("connection %d: no 101 to the handshake", i);
            return -1;
        }
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    }
    return 0;
}

/* Move c's bytes; a whole echo is checked and timed. 0 or -1. */
static int step(struct bench *b, struct bconn *c, short revents, bool counting)
{
    ssize_t n;

    if (c->sent < b->out_len && (revents & POLLOUT)) {
        if (c->sent == 0)
            c->start_ns = now_mono_ns();
        n = send(c->fd, b->out + c->sent, b->out_len - c->sent, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN)
            return -1;
        c->sent += n > 0 ? (size_t)n : 0;
    }
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        n = recv(c->fd, c->in + c->recvd, b->expect_len - c->recvd, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN))
            return -1;
        c->recvd += n > 0 ? (size_t)n : 0;
    }
    if (c->recvd < b->expect_len)
        return 0;
    if (memcmp(c->in, b->expect, b->expect_len) != 0) {
        log_error("an echo differs from its message");
        return -1;
    }
    if (counting) {
        histogram_record(&b->hist, (uint64_t)(now_mono_ns() - c->start_ns));
        b->messages++;
    }
    c->sent = c->recvd = 0;
    return 0;
}

/* Run until seconds have passed; the first 10% warm up uncounted. 0 or
 * -1. */
static int run(struct bench *b, int seconds, double *elapsed)
{
    struct pollfd *p = calloc((size_t)b->nconns, sizeof(*p));
    int64_t start = now_mono_ns(), warm = start + seconds * 100000000LL,
            end = start + seconds * 1000000000LL, now = start;
    int rc = 0;

    if (!p)
        return -1;
    while (rc == 0 && (now = now_mono_ns()) < end) {
        for (int i = 0; i < b->nconns; i++)
            p[i] = (struct pollfd){
                b->c[i].fd,
                (short)(POLLIN | (b->c[i].sent < b->out_len ? POLLOUT : 0)), 0};
        if (poll(p, (nfds_t)b->nconns, 100) < 0 && errno != EINTR)
            rc = -1;
        for (int i = 0; rc == 0 && i < b->nconns; i++)
            if (p[i].revents && step(b, &b->c[i], p[i].revents, now >= warm))
                rc = -1;
    }
    *elapsed = (double)(now - warm) / 1e9;
    free(p);
    return rc;
}

static void report(const struct bench *b, double secs, bool machine)
{
    const struct histogram *h = &b->hist;
    double rate = (double)b->messages / secs;

    if (machine) {
        printf("conns=%d size=%zu seconds=%.3f messages=%llu "
               "msgs_per_s=%.1f mb_per_s=%.3f p50_us=%.1f p99_us=%.1f "
               "p999_us=%.1f max_us=%.1f mean_us=%.1f\n",
               b->nconns, b->size, secs, b->messages, rate,
               rate * (double)b->size / 1e6,
               (double)histogram_percentile(h, 50) / 1e3,
               (double)histogram_percentile(h, 99) / 1e3,
               (double)histogram_percentile(h, 99.9) / 1e3,
               (double)(h->count ? h->max : 0) / 1e3, histogram_mean(h) / 1e3);
        return;
    }
    printf("%d %s connection(s), %zu-byte messages, %.2f s\n", b->nconns,
           b->ws ? "WebSocket" : "TCP", b->size, secs);
    printf("  messages    %llu echoed and checked, %.0f/s\n", b->messages,
           rate);
    printf("  latency     p50 %.1f us, p99 %.1f us, p99.9 %.1f us\n",
           (double)histogram_percentile(h, 50) / 1e3,
           (double)histogram_percentile(h, 99) / 1e3,
           (double)histogram_percentile(h, 99.9) / 1e3);
}

int main(int argc, char **argv)
{
    static struct bench b = {.ws = true};
    bool machine = false;
    uint16_t port;
    double secs = 0;
    int c, seconds, rc = 1;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    opterr = 0;
    while ((c = getopt(argc, argv, ":hmr")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'm': machine = true; break;
        case 'r': b.ws = false; break;
        default: opts_bad_option(c, optopt);
        }
    }
    if (argc - optind != 4)
        opts_fail("expected PORT SIZE CONNS SECONDS");
    port = opts_port_arg(argv[optind]);
    b.size = opts_size_arg("size", argv[optind + 1], 1,
                           b.ws ? MAX_WS_SIZE : 1u << 20);
    b.nconns =
        (int)opts_uint_arg("connections", argv[optind + 2], 1, MAX_CONNS);
    seconds = (int)opts_uint_arg("seconds", argv[optind + 3], 1, 3600);
    histogram_init(&b.hist);
    if (make_messages(&b) < 0 || open_all(&b, port) < 0)
        goto out_free;
    if (run(&b, seconds, &secs) < 0)
        log_error("the run failed after %llu echoes", b.messages);
    else
        rc = 0;
    report(&b, secs, machine);
out_free:
    for (int i = 0; b.c && i < b.nconns; i++) {
        if (b.c[i].fd > 0)
            close(b.c[i].fd);
        free(b.c[i].in);
    }
    free(b.c);
    free(b.out);
    free(b.expect);
    return rc;
}

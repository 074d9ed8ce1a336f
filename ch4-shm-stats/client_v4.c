/* client_v4.c -- closed-loop load client: CONNS connections, each sending
 * one SIZE-byte message, waiting for its echo, checking every byte, and
 * sending the next, for SECONDS. Prints messages/s, MB/s and latency
 * percentiles; exits 1 on the first wrong byte or lost connection.
 *
 * One process, one libevent loop, non-blocking sockets read and written
 * directly (no bufferevent copies): the client should never be what a
 * benchmark measures. A message carries its connection and sequence
 * number in its first bytes, so an echo from another connection or an
 * earlier message is caught, not only a flipped bit. Latency is from the
 * first byte sent to the last byte echoed, in a common/histogram. */
#include "histogram.h"
#include "now.h"
#include "log.h"
#include "net.h"
#include "opts.h"
#include "stopsig.h"

#include <event2/event.h>

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_ADDR "127.0.0.1"
#define MAX_CONNS    100000
#define MAX_SIZE     (64u << 20)
/* All message buffers together; beyond this the client would measure
 * the machine's memory, not the server. */
#define MAX_TOTAL (1ull << 30)
#define SCRATCH   (64 * 1024) /* one recv at most */

static const char usage[] =
    " [-h] [-m] [-a ADDR] PORT SIZE CONNS SECONDS\n"
    "Keeps CONNS connections to an echo server busy for SECONDS, each with\n"
    "one SIZE-byte message in flight, and checks every echoed byte.\n"
    "  PORT      server port\n"
    "  SIZE      bytes per message, 1 to 64M, suffix k or M (e.g. 64, 4k)\n"
    "  CONNS     connections, 1 to 100000\n"
    "  SECONDS   how long to run, 1 to 86400\n"
    "  -a ADDR   server address (default " DEFAULT_ADDR ")\n"
    "  -m        print one machine-readable line instead of the summary:\n"
    "            conns= size= seconds= messages= msgs_per_s= mb_per_s=\n"
    "            p50_us= p99_us= p999_us= max_us= mean_us=\n"
    "  -h        show this help\n"
    "MB/s is message bytes echoed per second in one direction (10^6 B).\n"
    "Exit status: 0, 1 on a wrong echo or a connection error, 2 on bad\n"
    "usage.\n";

struct conn {
    struct client *cl;
    int fd, idx;
    struct event *rev, *wev;
    unsigned char *msg; /* the message in flight */
    size_t sent, recvd;
    uint64_t seq;      /* messages completed on this connection */
    uint64_t start_ns; /* first byte of this message sent */
};

struct client {
    struct event_base *base;
    struct conn *conns;
    int nconns;
    size_t size;
    bool stopping, failed;
    uint64_t messages;
    struct histogram hist;
    unsigned char scratch[SCRATCH];
};

static void fail(struct client *cl, struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Report the first failure and stop the loop; later ones are echoes. */
static void fail(struct client *cl, struct conn *c, const char *fmt, ...)
{
    char msg[200];
    va_list ap;

    if (cl->failed)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_error("connection %d, message %llu: %s", c->idx,
              (unsigned long long)c->seq + 1, msg);
    cl->failed = true;
    event_base_loopbreak(cl->base);
}

/* The message body is fixed per connection; its head names the
 * connection and the message, so every message differs. */
static void stamp(struct conn *c)
{
    unsigned char head[16];
    size_t n = c->cl->size < sizeof(head) ? c->cl->size : sizeof(head);

    memcpy(head, &c->seq, 8);
    memcpy(head + 8, &c->idx, sizeof(c->idx));
    memcpy(head + 8 + sizeof(c->idx), "echo", 4);
    memcpy(c->msg, head, n);
}

static void send_some(struct conn *c)
{
    struct client *cl = c->cl;
    ssize_t n;

    while (c->sent < cl->size) {
        n = send(c->fd, c->msg + c->sent, cl->size - c->sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            /* one-shot: re-added each time the socket buffer fills */
            event_add(c->wev, NULL);
            return;
        } else {
            fail(cl, c, "send: %s", strerror(errno));
            return;
        }
    }
}

static void start_message(struct conn *c)
{
    stamp(c);
    c->sent = c->recvd = 0;
    c->start_ns = (uint64_t)now_mono_ns();
    send_some(c);
}

static void write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    send_some(arg);
}

/* Compare what arrived with what was sent, then finish the message if
 * it is complete. false: the loop must stop. */
static bool take(struct conn *c, const unsigned char *buf, size_t n)
{
    struct client *cl = c->cl;

    if (c->recvd + n > c->sent) {
        fail(cl, c, "%zu bytes echoed before they were sent",
             c->recvd + n - c->sent);
        return false;
    }
    if (memcmp(buf, c->msg + c->recvd, n) != 0) {
        size_t at = 0;
        while (buf[at] == c->msg[c->recvd + at])
            at++;
        fail(cl, c, "echo differs at byte %zu of %zu", c->recvd + at, cl->size);
        return false;
    }
    c->recvd += n;
    if (c->recvd < cl->size)
        return true;
    histogram_record(&cl->hist, (uint64_t)now_mono_ns() - c->start_ns);
    cl->messages++;
    c->seq++;
    if (!cl->stopping)
        start_message(c);
    return !cl->failed;
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    struct client *cl = c->cl;

    (void)what;
    for (;;) {
        size_t want = cl->size - c->recvd;
        ssize_t n = recv(fd, cl->scratch, want < SCRATCH ? want : SCRATCH, 0);
        if (n > 0 && !take(c, cl->scratch, (size_t)n))
            return;
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n == 0)
            fail(cl, c, "connection closed by the server");
        else
            fail(cl, c, "recv: %s", strerror(errno));
        return;
    }
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    struct client *cl = arg;

    (void)fd;
    (void)what;
    cl->stopping = true;
    event_base_loopbreak(cl->base);
}

/* Each connection needs a descriptor: raise the soft limit if needed. */
static int fit_fd_limit(int nconns)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)nconns + 32;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    if (rl.rlim_cur >= need)
        return 0;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        errno = EMFILE;
        return -1;
    }
    rl.rlim_cur = need;
    return setrlimit(RLIMIT_NOFILE, &rl);
}

static int conn_open(struct client *cl, struct conn *c, int idx,
                     const char *addr, uint16_t port)
{
    c->cl = cl;
    c->idx = idx;
    c->fd = -1;
    c->msg = malloc(cl->size);
    if (!c->msg)
        return -1;
    for (size_t i = 0; i < cl->size; i++)
        c->msg[i] = (unsigned char)(i * 131 + (size_t)idx * 7 + 1);
    c->fd = net_connect(addr, port);
    if (c->fd < 0)
        return -1;
    if (evutil_make_socket_nonblocking(c->fd) < 0)
        return -1;
    c->rev = event_new(cl->base, c->fd, EV_READ | EV_PERSIST, read_cb, c);
    c->wev = event_new(cl->base, c->fd, EV_WRITE, write_cb, c);
    if (!c->rev || !c->wev || event_add(c->rev, NULL) < 0) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

static void conn_close(struct conn *c)
{
    if (!c->cl)
        return; /* never opened */
    if (c->rev)
        event_free(c->rev);
    if (c->wev)
        event_free(c->wev);
    if (c->fd >= 0)
        close(c->fd);
    free(c->msg);
}

static void print_result(const struct client *cl, double secs, bool machine)
{
    const struct histogram *h = &cl->hist;
    double rate = (double)cl->messages / secs;
    double mbps = rate * (double)cl->size / 1e6;
    double p50 = (double)histogram_percentile(h, 50) / 1e3;
    double p99 = (double)histogram_percentile(h, 99) / 1e3;
    double p999 = (double)histogram_percentile(h, 99.9) / 1e3;
    double max = (double)(h->count ? h->max : 0) / 1e3;
    double mean = histogram_mean(h) / 1e3;

    if (machine) {
        printf("conns=%d size=%zu seconds=%.3f messages=%llu "
               "msgs_per_s=%.1f mb_per_s=%.3f p50_us=%.1f p99_us=%.1f "
               "p999_us=%.1f max_us=%.1f mean_us=%.1f\n",
               cl->nconns, cl->size, secs, (unsigned long long)cl->messages,
               rate, mbps, p50, p99, p999, max, mean);
        return;
    }
    printf("%d connection(s), %zu-byte messages, %.2f s\n", cl->nconns,
           cl->size, secs);
    printf("  messages    %llu echoed and checked, %.0f/s\n",
           (unsigned long long)cl->messages, rate);
    printf("  throughput  %.2f MB/s each way\n", mbps);
    printf("  latency     p50 %.1f us, p99 %.1f us, p99.9 %.1f us, "
           "max %.1f us, mean %.1f us\n",
           p50, p99, p999, max, mean);
}

/* Parse the four positional arguments or exit 2. */
static void parse_args(char **args, uint16_t *port, struct client *cl,
                       int *seconds)
{
    *port = opts_port_arg(args[0]);
    if (*port == 0)
        opts_fail("port must not be 0");
    cl->size = opts_size_arg("size", args[1], 1, MAX_SIZE);
    cl->nconns = (int)opts_uint_arg("conns", args[2], 1, MAX_CONNS);
    *seconds = (int)opts_uint_arg("seconds", args[3], 1, 86400);
    if ((unsigned long long)cl->size * (unsigned)cl->nconns > MAX_TOTAL)
        opts_fail("SIZE x CONNS over 1 GiB of message buffers");
}

static int run(struct client *cl, const char *addr, uint16_t port, int seconds,
               double *secs)
{
    struct timeval tv = {seconds, 0};
    struct event *stop_ev;
    struct stopsig *ss;
    uint64_t t0;
    int rc = -1;

    stop_ev = evtimer_new(cl->base, stop_cb, cl);
    ss = stopsig_new(cl->base, NULL, NULL);
    if (!stop_ev || !ss) {
        log_error("cannot set up timers and signals");
        goto out;
    }
    for (int i = 0; i < cl->nconns; i++) {
        if (conn_open(cl, &cl->conns[i], i, addr, port) < 0) {
            log_error("connection %d to %s port %u: %s", i, addr, port,
                      strerror(errno));
            goto out;
        }
    }
    t0 = (uint64_t)now_mono_ns();
    evtimer_add(stop_ev, &tv);
    for (int i = 0; i < cl->nconns && !cl->failed; i++)
        start_message(&cl->conns[i]);
    if (!cl->failed && event_base_dispatch(cl->base) < 0)
        log_error("event loop failed");
    else
        rc = cl->failed ? -1 : 0;
    *secs = (double)((uint64_t)now_mono_ns() - t0) / 1e9;
out:
    if (ss)
        stopsig_free(ss);
    if (stop_ev)
        event_free(stop_ev);
    return rc;
}

int main(int argc, char **argv)
{
    struct client *cl;
    const char *addr = DEFAULT_ADDR;
    bool machine = false;
    uint16_t port;
    int c, seconds, rc = 1;
    double secs = 0;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    opterr = 0;
    cl = calloc(1, sizeof(*cl));
    if (!cl) {
        log_error("out of memory");
        return 1;
    }
    while ((c = getopt(argc, argv, ":hma:")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'm': machine = true; break;
        case 'a': addr = opts_addr_arg(optarg); break;
        default: opts_bad_option(c, optopt);
        }
    }
    if (argc - optind != 4)
        opts_fail("expected PORT SIZE CONNS SECONDS");
    parse_args(argv + optind, &port, cl, &seconds);
    histogram_init(&cl->hist);

    if (fit_fd_limit(cl->nconns) < 0) {
        log_error("%d connections need more open files than allowed: %s",
                  cl->nconns, strerror(errno));
        goto out_free_client;
    }
    cl->conns = calloc((size_t)cl->nconns, sizeof(*cl->conns));
    cl->base = event_base_new();
    if (!cl->conns || !cl->base) {
        log_error("out of memory");
        goto out_free_conns;
    }
    if (run(cl, addr, port, seconds, &secs) == 0) {
        print_result(cl, secs, machine);
        rc = fflush(stdout) == EOF;
    }

out_free_conns:
    for (int i = 0; cl->conns && i < cl->nconns; i++)
        conn_close(&cl->conns[i]);
    free(cl->conns);
    if (cl->base)
        event_base_free(cl->base);
    libevent_global_shutdown();
out_free_client:
    free(cl);
    return rc;
}

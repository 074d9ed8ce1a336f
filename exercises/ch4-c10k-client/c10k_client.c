/* c10k_client.c -- the given part of the exercise's client: options, the
 * process's limits, the connections, the report. It calls pace_run()
 * (pace.c), which you write.
 *
 * Before it opens a socket it makes sure the machine can take the load:
 * it raises its own open-file limit to the hard limit and says what to
 * change when even that is too low, and it checks that the ephemeral
 * port range (times the source addresses, -B) has a port for every
 * connection. */
#include "pace.h"

#include "log.h"
#include "net.h"
#include "now.h"
#include "opts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS  200000
#define SPARE_FDS  32 /* stdio, the event base, libevent's own */
#define PORT_RANGE "/proc/sys/net/ipv4/ip_local_port_range"

static const char usage[] =
    " [-h] [-a ADDR] [-B N] [-c CONNS] [-i MS] [-s SIZE] [-d SECONDS]\n"
    "          PORT\n"
    "Opens CONNS connections to an echo server and sends a message on each\n"
    "every MS, on schedule whatever the server does; checks every echo and\n"
    "reports the latency from each message's due time.\n"
    "  PORT        server port\n"
    "  -a ADDR     server address (default 127.0.0.1)\n"
    "  -B N        spread connections over N source addresses 127.0.0.1,\n"
    "              127.0.0.2, ... (default 1): each has its own ports\n"
    "  -c CONNS    connections, 1 to 200000 (default 10000)\n"
    "  -i MS       interval between two messages of a connection\n"
    "              (default 1000)\n"
    "  -s SIZE     bytes per message, 8 to 65536 (default 64)\n"
    "  -d SECONDS  how long to send, 1 to 86400 (default 20)\n"
    "  -h          show this help\n"
    "Prints one line: conns= sent= echoed= errors= p50_us= p99_us=\n"
    "p999_us= max_us= connect_s=. Exit status: 0 when every message was\n"
    "echoed and checked, 1 otherwise or when a limit is too low, 2 on bad\n"
    "usage.\n";

struct options {
    const char *addr;
    uint16_t port;
    unsigned conns, sources, interval_ms, seconds;
    size_t size;
};

void pace_message(unsigned char *buf, size_t size, unsigned conn, uint32_t seq)
{
    memcpy(buf, &seq, 4);
    memcpy(buf + 4, &conn, 4);
    for (size_t i = 8; i < size; i++)
        buf[i] = (unsigned char)(seq * 13 + conn * 7 + i);
}

static void parse_options(struct options *o, int argc, char **argv)
{
    int c;

    opterr = 0;
    while ((c = getopt(argc, argv, ":ha:B:c:i:s:d:")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'a': o->addr = opts_addr_arg(optarg); break;
        case 'B':
            o->sources = (unsigned)opts_uint_arg("sources", optarg, 1, 254);
            break;
        case 'c':
            o->conns =
                (unsigned)opts_uint_arg("connections", optarg, 1, MAX_CONNS);
            break;
        case 'i':
            o->interval_ms =
                (unsigned)opts_uint_arg("interval", optarg, 1, 3600000);
            break;
        case 's':
            o->size =
                (size_t)opts_uint_arg("size", optarg, PACE_MIN_SIZE, 65536);
            break;
        case 'd':
            o->seconds = (unsigned)opts_uint_arg("seconds", optarg, 1, 86400);
            break;
        default: opts_bad_option(c, optopt);
        }
    }
    if (optind == argc)
        opts_fail("no PORT");
    if (optind < argc - 1)
        opts_fail("unexpected argument '%s'", argv[optind + 1]);
    o->port = opts_port_arg(argv[optind]);
    if (o->port == 0)
        opts_fail("bad port '0': the server's port is needed");
}

/* A descriptor per connection: raise the soft limit to the hard one. */
static int check_fd_limit(unsigned conns)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)conns + SPARE_FDS;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        log_error("%u connections need %llu descriptors, but the hard limit "
                  "is %llu: raise it (ulimit -Hn, as root) or open fewer",
                  conns, (unsigned long long)need,
                  (unsigned long long)rl.rlim_max);
        return -1;
    }
    if (rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            log_error("cannot raise the open-file limit: %s", strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* A local port per connection and source address. */
static int check_port_range(unsigned conns, unsigned sources)
{
    FILE *f = fopen(PORT_RANGE, "r");
    unsigned lo, hi;
    int n = f ? fscanf(f, "%u %u", &lo, &hi) : 0;

    if (f)
        fclose(f);
    if (n != 2)
        return 0; /* not Linux, or hidden: connect() will say */
    if ((unsigned long long)(hi - lo + 1) * sources < conns) {
        log_error("%u connections from %u source address(es) need %u local "
                  "ports each, but %s is %u-%u: use more -B or widen it",
                  conns, sources, (conns + sources - 1) / sources, PORT_RANGE,
                  lo, hi);
        return -1;
    }
    return 0;
}

/* Connection i: from 127.0.0.(1 + i % sources), non-blocking. */
static int connect_one(const struct options *o, unsigned i)
{
    struct sockaddr_in src = {.sin_family = AF_INET,
                              .sin_addr.s_addr =
                                  htonl(INADDR_LOOPBACK + i % o->sources)};
    struct sockaddr_in dst = {.sin_family = AF_INET,
                              .sin_port = htons(o->port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (inet_pton(AF_INET, o->addr, &dst.sin_addr) != 1 ||
        (o->sources > 1 &&
         bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) ||
        connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 ||
        fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    net_nodelay(fd);
    return fd;
}

static int *connect_all(const struct options *o)
{
    int *fds = calloc(o->conns, sizeof(*fds));

    for (unsigned i = 0; fds && i < o->conns; i++) {
        fds[i] = connect_one(o, i);
        if (fds[i] < 0) {
            log_error("connection %u of %u: %s", i + 1, o->conns,
                      strerror(errno));
            while (i > 0)
                close(fds[--i]);
            free(fds);
            return NULL;
        }
    }
    return fds;
}

static void report(const struct pace *p, double connect_s)
{
    printf("conns=%u sent=%llu echoed=%llu errors=%llu p50_us=%.1f "
           "p99_us=%.1f p999_us=%.1f max_us=%.1f connect_s=%.2f\n",
           p->conns, (unsigned long long)p->sent, (unsigned long long)p->echoed,
           (unsigned long long)p->errors,
           histogram_percentile(p->latency, 50) / 1e3,
           histogram_percentile(p->latency, 99) / 1e3,
           histogram_percentile(p->latency, 99.9) / 1e3,
           p->latency->count ? p->latency->max / 1e3 : 0.0, connect_s);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    static struct histogram latency;
    struct options o = {.addr = "127.0.0.1",
                        .conns = 10000,
                        .sources = 1,
                        .interval_ms = 1000,
                        .seconds = 20,
                        .size = 64};
    struct pace p = {.latency = &latency, .grace_ms = 2000};
    int64_t t0;
    int *fds, rc;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    parse_options(&o, argc, argv);
    histogram_init(&latency);
    signal(SIGPIPE, SIG_IGN);
    if (check_port_range(o.conns, o.sources) < 0 || check_fd_limit(o.conns) < 0)
        return 1;
    t0 = now_mono_ns();
    fds = connect_all(&o);
    p.base = net_precise_base();
    if (!fds || !p.base) {
        if (!p.base)
            log_error("cannot create the event base");
        free(fds);
        return 1;
    }
    p.fds = fds;
    p.conns = o.conns;
    p.size = o.size;
    p.interval_ns = (int64_t)o.interval_ms * 1000000;
    p.start_ns = now_mono_ns();
    p.end_ns = p.start_ns + (int64_t)o.seconds * 1000000000;
    rc = pace_run(&p);
    report(&p, (double)(p.start_ns - t0) / 1e9);
    if (rc < 0)
        log_error("%s", p.error[0] ? p.error : "pace_run failed");
    for (unsigned i = 0; i < o.conns; i++)
        close(fds[i]);
    free(fds);
    event_base_free(p.base);
    libevent_global_shutdown();
    return rc == 0 ? 0 : 1;
}

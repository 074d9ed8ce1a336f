/* bench_client.c -- the given part of the exercise's client: options,
 * the connection and the report. It calls bench_run() (bench.c), which
 * you write.
 *
 * One connection, COUNT messages: with -w 1 (the default) each waits for
 * its echo before the next goes, so the time is COUNT round trips; a
 * larger window keeps several in flight, as a pipelining client would. */
#include "bench.h"

#include "log.h"
#include "net.h"
#include "now.h"
#include "opts.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    " [-h] [-a ADDR] [-n COUNT] [-s SIZE] [-w WINDOW] [-t MS] PORT\n"
    "Sends COUNT messages to an echo server on one connection, checks every\n"
    "echoed byte, and reports the time to receive them all, messages/s\n"
    "and the latency percentiles.\n"
    "  PORT       server port\n"
    "  -a ADDR    server address (default 127.0.0.1)\n"
    "  -n COUNT   messages, 1 to 10000000 (default 10000)\n"
    "  -s SIZE    bytes per message, 8 to 1048576 (default 64)\n"
    "  -w WINDOW  messages in flight at once, 1 to 10000 (default 1)\n"
    "  -t MS      give up when nothing arrives for MS (default 5000)\n"
    "  -h         show this help\n"
    "Prints one line: COUNT echoes of SIZE bytes in T s: R msgs/s; latency\n"
    "p50 X us, p99 Y us. Exit status: 0, 1 on a wrong or missing echo, 2\n"
    "on bad usage.\n";

void bench_message(unsigned char *buf, size_t size, unsigned seq)
{
    /* its number, then bytes that change with it: a shifted echo or one
     * from an earlier message never matches */
    memcpy(buf, &seq, sizeof(seq));
    for (size_t i = sizeof(seq); i < size; i++)
        buf[i] = (unsigned char)(seq * 31 + i * 7);
}

static void parse_options(struct bench *b, const char **addr, uint16_t *port,
                          int argc, char **argv)
{
    int c;

    opterr = 0;
    while ((c = getopt(argc, argv, ":ha:n:s:w:t:")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'a': *addr = opts_addr_arg(optarg); break;
        case 'n':
            b->count = (unsigned)opts_uint_arg("count", optarg, 1, 10000000);
            break;
        case 's':
            b->size =
                (size_t)opts_uint_arg("size", optarg, BENCH_MIN_SIZE, 1u << 20);
            break;
        case 'w':
            b->window = (unsigned)opts_uint_arg("window", optarg, 1, 10000);
            break;
        case 't':
            b->timeout_ms = (int)opts_uint_arg("timeout", optarg, 1, 3600000);
            break;
        default: opts_bad_option(c, optopt);
        }
    }
    if (optind == argc)
        opts_fail("no PORT");
    if (optind < argc - 1)
        opts_fail("unexpected argument '%s'", argv[optind + 1]);
    *port = opts_port_arg(argv[optind]);
    if (*port == 0)
        opts_fail("bad port '0': the server's port is needed");
}

static void report(const struct bench *b, double secs)
{
    printf("%u echoes of %zu bytes in %.6f s: %.0f msgs/s; latency p50 %.1f "
           "us, p99 %.1f us\n",
           b->echoed, b->size, secs, secs > 0 ? b->echoed / secs : 0,
           histogram_percentile(b->latency, 50) / 1e3,
           histogram_percentile(b->latency, 99) / 1e3);
}

int main(int argc, char **argv)
{
    static struct histogram latency;
    struct bench b = {.count = 10000,
                      .size = 64,
                      .window = 1,
                      .timeout_ms = 5000,
                      .latency = &latency};
    const char *addr = "127.0.0.1";
    uint16_t port;
    int64_t t0;
    int rc;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    parse_options(&b, &addr, &port, argc, argv);
    histogram_init(&latency);
    signal(SIGPIPE, SIG_IGN);
    b.fd = net_connect(addr, port);
    if (b.fd < 0 || fcntl(b.fd, F_SETFL, O_NONBLOCK) < 0) {
        log_error("cannot connect to %s port %u: %s", addr, port,
                  strerror(errno));
        return 1;
    }
    net_nodelay(b.fd);
    t0 = now_mono_ns();
    rc = bench_run(&b);
    if (rc == 0)
        report(&b, (double)(now_mono_ns() - t0) / 1e9);
    else
        log_error("after %u of %u echoes: %s", b.echoed, b.count,
                  b.error[0] ? b.error : "bench_run failed");
    close(b.fd);
    return rc == 0 ? 0 : 1;
}

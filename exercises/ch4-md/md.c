/* md.c -- the given part of the exercise's md: options, statistics,
 * signals. It calls md_serve() (md_serve.c), which you write.
 *
 * This md is a plain loop, not an event loop: it blocks in the queue's
 * FIFO while there is nothing to do, so SIGINT and SIGTERM are caught
 * with sigaction(2) without SA_RESTART, which makes the blocking call
 * return EINTR, and set *ctx->stop. It serves one io_conn (-n 1), with
 * the same command line and statistics as ch4-mq's md, so echosvr_v5 -m
 * can run it in place of that one. */
#include "md_serve.h"

#include "log.h"
#include "opts.h"
#include "srvkeys.h"
#include "stats.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    " [-h] [-v | -q] [-k KEY] [-d DIR] [-n 1] [-s USEC]\n"
    "md of the exercise ch4-md: answers every message io_conn 0 forwards\n"
    "with the same message.\n"
    "  -k KEY    base System V key of the queues (default 0x5e7e0000)\n"
    "  -d DIR    directory of the wake-up FIFOs (default /tmp/svrtut-UID)\n"
    "  -n 1      serve io_conn 0 (this md serves one)\n"
    "  -s USEC   sleep that long before each reply (default 0)\n"
    "  -v        debug logging\n"
    "  -q        log errors only\n"
    "  -h        show this help\n"
    "SIGINT or SIGTERM stop it; the queues stay for the next md.\n";

enum counter { C_MSGS, C_BYTES, C_QUEUE_FULL, C_NCOUNTERS };

static const struct stats_def counters[C_NCOUNTERS] = {
    [C_MSGS] = {"msgs", STATS_COUNTER},
    [C_BYTES] = {"bytes", STATS_COUNTER},
    [C_QUEUE_FULL] = {"queue_full", STATS_COUNTER},
};

static volatile sig_atomic_t stop_flag;

static void on_stop(int sig)
{
    (void)sig;
    stop_flag = 1;
}

void md_pause(const struct md_ctx *ctx)
{
    if (ctx->slow_us)
        usleep(ctx->slow_us);
}

void md_count_reply(struct md_ctx *ctx, size_t len)
{
    stats_add(ctx->priv, C_MSGS, 1);
    stats_add(ctx->priv, C_BYTES, len);
}

void md_count_full(struct md_ctx *ctx)
{
    stats_add(ctx->priv, C_QUEUE_FULL, 1);
}

void md_commit(struct md_ctx *ctx) { stats_commit(ctx->priv); }

static void parse_options(struct md_ctx *ctx, int argc, char **argv)
{
    int c;

    opterr = 0;
    while ((c = getopt(argc, argv, ":hk:d:n:s:vq")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'k': ctx->key = opts_key_arg(optarg); break;
        case 'd': ctx->dir = optarg; break;
        case 'n': opts_uint_arg("count", optarg, 1, 1); break;
        case 's':
            ctx->slow_us =
                (useconds_t)opts_uint_arg("delay", optarg, 0, 1000000);
            break;
        case 'v': log_set_level(LOG_DEBUG); break;
        case 'q': log_set_level(LOG_ERROR); break;
        default: opts_bad_option(c, optopt);
        }
    }
    if (optind < argc)
        opts_fail("unexpected argument '%s'", argv[optind]);
}

static int catch_stop_signals(void)
{
    struct sigaction sa = {.sa_handler = on_stop}; /* no SA_RESTART */

    sigemptyset(&sa.sa_mask);
    return sigaction(SIGINT, &sa, NULL) < 0 ||
                   sigaction(SIGTERM, &sa, NULL) < 0 ||
                   signal(SIGPIPE, SIG_IGN) == SIG_ERR
               ? -1
               : 0;
}

int main(int argc, char **argv)
{
    static char default_dir[SRVKEYS_PATH_MAX];
    struct stats st;
    struct md_ctx ctx = {.key = SRVKEYS_DEFAULT_BASE, .stop = &stop_flag};
    key_t key;
    int rc = 0;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    parse_options(&ctx, argc, argv);
    if (!ctx.dir)
        ctx.dir = mqpair_default_dir(default_dir, sizeof(default_dir));
    if (catch_stop_signals() < 0) {
        log_error("cannot catch signals: %s", strerror(errno));
        return 1;
    }
    if (mqpair_private_dir(ctx.dir) < 0) {
        log_error("FIFO directory %s: %s", ctx.dir, strerror(errno));
        return 1;
    }
    key = srvkeys_md_stats(ctx.key);
    if (stats_create_table(&st, key, "md", counters, C_NCOUNTERS) < 0) {
        log_error("statistics key %#x: %s", (unsigned)key,
                  errno == EEXIST ? "in use by a live md" : strerror(errno));
        return 1;
    }
    ctx.priv = &st;
    log_info("serving io_conn 0, key %#x, FIFOs in %s", (unsigned)ctx.key,
             ctx.dir);
    if (md_serve(&ctx) < 0) {
        log_error("serving: %s", strerror(errno));
        rc = 1;
    } else {
        log_info("stopped");
    }
    stats_remove(&st);
    return rc;
}

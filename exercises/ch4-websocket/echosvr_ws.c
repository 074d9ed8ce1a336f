/* echosvr_ws.c -- one command for the two-process WebSocket echo server:
 * starts ch4-mq's md and ws_conn (or -n of them sharing the port) with
 * matching keys and FIFO directory, prints ws_conn's "listening on" line,
 * and on SIGINT or SIGTERM stops them all and removes every segment and
 * FIFO they used.
 *
 * It is echosvr_v5 with ws_conn in io_conn's place: common/supervisor.c
 * restarts md when it dies (the queues keep what it had not answered),
 * and a ws_conn's death ends the server. md is ch4-mq's program, reached
 * through the link "md" that the Makefile puts next to this one. */
#include "log.h"
#include "opts.h"
#include "srvkeys.h"
#include "stats.h"
#include "stopsig.h"
#include "supervisor.h"

#include <event2/event.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_PORT "4690"

static const char usage[] =
    " [-h] [-v | -q] [-a ADDR] [-p PORT] [-n COUNT] [-c CONNS] [-m SIZE]\n"
    "          [-k KEY] [-d DIR]\n"
    "Two-process WebSocket echo server: runs md and COUNT ws_conn processes\n"
    "joined by shared-memory queues, and restarts md if it dies. A plain\n"
    "GET of / serves a page to try it in a browser.\n"
    "  -a ADDR   address to listen on (default 127.0.0.1)\n"
    "  -p PORT   port to listen on, 0 for any free port (default 4690)\n"
    "  -n COUNT  ws_conn processes sharing the port, 1 to 256 (default 1)\n"
    "  -c CONNS  most connections per ws_conn (default 65536)\n"
    "  -m SIZE   largest message a client may send (default 16M)\n"
    "  -k KEY    base System V key of queues and statistics\n"
    "            (default 0x5e7e0000)\n"
    "  -d DIR    directory of the wake-up FIFOs (default: a new private\n"
    "            directory in /tmp, removed on exit)\n"
    "  -v        debug logging (passed on to md and ws_conn)\n"
    "  -q        log errors only\n"
    "  -h        show this help\n"
    "Prints 'listening on ADDR:PORT' when ready, and logs the viewstats\n"
    "command that shows every process; SIGINT or SIGTERM stop it.\n";

enum counter { C_MD_RESTARTS, C_IO_CONNS, C_NCOUNTERS };

static const struct stats_def counters[C_NCOUNTERS] = {
    [C_MD_RESTARTS] = {"md_restarts", STATS_COUNTER},
    [C_IO_CONNS] = {"io_conns", STATS_GAUGE},
};

struct launcher {
    char key_arg[16], n_arg[8], dir[SRVKEYS_PATH_MAX], conns_arg[16];
    const char *addr, *port, *max_message, *verbosity;
    key_t key;
    unsigned n;
    bool own_dir;
    struct supervisor *sv;
    struct stats stats;
};

static void restarted_cb(const char *name, void *arg)
{
    struct launcher *l = arg;

    (void)name;
    stats_add(&l->stats, C_MD_RESTARTS, 1);
    stats_commit(&l->stats);
}

static int start_md(struct launcher *l)
{
    const char *argv[] = {"md", "-k",     l->key_arg,   "-d", l->dir,
                          "-n", l->n_arg, l->verbosity, NULL};

    return supervisor_start(l->sv, argv, SUPERVISOR_RESTART, NULL, 0);
}

/* Start ws_conn i on port; its "listening on" line into line. */
static int start_io(struct launcher *l, unsigned i, const char *port,
                    char *line, size_t size)
{
    const char *argv[20];
    char i_arg[8];
    int argc = 0;

    snprintf(i_arg, sizeof(i_arg), "%u", i);
    argv[argc++] = "ws_conn";
    argv[argc++] = "-a", argv[argc++] = l->addr;
    argv[argc++] = "-p", argv[argc++] = port;
    argv[argc++] = "-k", argv[argc++] = l->key_arg;
    argv[argc++] = "-d", argv[argc++] = l->dir;
    argv[argc++] = "-i", argv[argc++] = i_arg;
    argv[argc++] = "-c", argv[argc++] = l->conns_arg;
    argv[argc++] = "-m", argv[argc++] = l->max_message;
    if (l->n > 1)
        argv[argc++] = "-r"; /* share the port with the others */
    if (l->verbosity)
        argv[argc++] = l->verbosity;
    argv[argc] = NULL;
    return supervisor_start(l->sv, argv, SUPERVISOR_ESSENTIAL, line, size);
}

/* Start md and the ws_conn processes; print the listening line. */
static int start_all(struct launcher *l)
{
    char line[128], port[8], keys[SRVKEYS_FORMAT_MAX];
    const char *colon;

    if (start_md(l) < 0 || start_io(l, 0, l->port, line, sizeof(line)) < 0)
        return -1;
    colon = strrchr(line, ':');
    snprintf(port, sizeof(port), "%.*s", (int)strcspn(colon + 1, "\n"),
             colon + 1);
    for (unsigned i = 1; i < l->n; i++) {
        char other[128];
        if (start_io(l, i, port, other, sizeof(other)) < 0)
            return -1;
    }
    stats_set(&l->stats, C_IO_CONNS, l->n);
    stats_commit(&l->stats);
    log_info("md and %u ws_conn running; statistics: viewstats %s", l->n,
             srvkeys_format_stats(keys, sizeof(keys), l->key, l->n));
    fputs(line, stdout);
    return fflush(stdout) == EOF ? -1 : 0;
}

static void parse_options(struct launcher *l, int argc, char **argv)
{
    int c;

    opterr = 0;
    while ((c = getopt(argc, argv, ":ha:p:n:c:m:k:d:vq")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'a': l->addr = opts_addr_arg(optarg); break;
        case 'p': opts_port_arg(optarg), l->port = optarg; break;
        case 'n':
            l->n = (unsigned)opts_uint_arg("count", optarg, 1, SRVKEYS_MAX_IO);
            break;
        case 'c':
            snprintf(l->conns_arg, sizeof(l->conns_arg), "%llu",
                     opts_uint_arg("connection limit", optarg, 1, 1u << 20));
            break;
        case 'm':
            opts_size_arg("message size", optarg, 0, (size_t)1 << 30);
            l->max_message = optarg; /* ws_conn reads it the same way */
            break;
        case 'k': l->key = opts_key_arg(optarg); break;
        case 'd':
            if (strlen(optarg) >= sizeof(l->dir) - 16)
                opts_fail("directory name too long: %s", optarg);
            snprintf(l->dir, sizeof(l->dir), "%s", optarg);
            break;
        case 'v': l->verbosity = "-v", log_set_level(LOG_DEBUG); break;
        case 'q': l->verbosity = "-q", log_set_level(LOG_ERROR); break;
        default: opts_bad_option(c, optopt);
        }
    }
    if (optind < argc)
        opts_fail("unexpected argument '%s'", argv[optind]);
    snprintf(l->key_arg, sizeof(l->key_arg), "%#x", (unsigned)l->key);
    snprintf(l->n_arg, sizeof(l->n_arg), "%u", l->n);
}

/* The FIFO directory: -d, or a new private one that we remove. */
static int make_dir(struct launcher *l)
{
    if (l->dir[0])
        return 0;
    snprintf(l->dir, sizeof(l->dir), "/tmp/svrtut-ws-XXXXXX");
    if (!mkdtemp(l->dir)) {
        log_error("cannot make a FIFO directory: %s", strerror(errno));
        return -1;
    }
    l->own_dir = true;
    return 0;
}

/* The launcher's block doubles as the lock on the key: a second server
 * on the same key stops here, before touching any queue. */
static int lock_key(struct launcher *l)
{
    if (stats_create_table(&l->stats, srvkeys_launcher_stats(l->key),
                           "echosvr_ws", counters, C_NCOUNTERS) == 0)
        return 0;
    log_error("key %#x: %s", (unsigned)l->key,
              errno == EEXIST ? "in use by a live server" : strerror(errno));
    return -1;
}

/* Everything the children left: queues, FIFOs, statistics; and the
 * key's lock. */
static void remove_all(struct launcher *l)
{
    if (srvkeys_remove(l->key, l->dir, l->n) < 0)
        log_error("cannot remove every segment: %s",
                  errno == EACCES ? "some are not ours, left alone"
                                  : strerror(errno));
    stats_remove(&l->stats);
}

/* Run the server until a stop signal (0) or a failure (1). */
static int serve(struct launcher *l)
{
    struct event_base *base = event_base_new();
    struct stopsig *ss = NULL;
    int rc = 1;

    if (!base) {
        log_error("cannot create the event base");
        return 1;
    }
    ss = stopsig_new(base, NULL, NULL);
    if (!ss) {
        log_error("cannot watch signals: %s", strerror(errno));
        goto out_free_base;
    }
    l->sv = supervisor_new(base, restarted_cb, l);
    if (!l->sv) {
        log_error("cannot watch children: %s", strerror(errno));
        goto out_free_stopsig;
    }
    if (start_all(l) == 0 && event_base_dispatch(base) == 0 &&
        stopsig_caught(ss) && !supervisor_failed(l->sv))
        rc = 0;
    supervisor_free(l->sv); /* stops every child */
out_free_stopsig:
    stopsig_free(ss);
out_free_base:
    event_base_free(base);
    return rc;
}

int main(int argc, char **argv)
{
    struct launcher l = {.addr = "127.0.0.1",
                         .port = DEFAULT_PORT,
                         .max_message = "16M",
                         .key = SRVKEYS_DEFAULT_BASE,
                         .n = 1,
                         .conns_arg = "65536"};
    int rc = 1;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    parse_options(&l, argc, argv);
    if (make_dir(&l) < 0)
        return 1;
    if (lock_key(&l) == 0) {
        rc = serve(&l);
        remove_all(&l);
    }
    if (l.own_dir && rmdir(l.dir) < 0)
        log_error("cannot remove %s: %s", l.dir, strerror(errno));
    libevent_global_shutdown();
    return rc;
}

/* echosvr_v6.c -- one command for the v6 echo server: ch4-mq's
 * echosvr_v5 with md's session table. It starts md and io_conn (or -n of
 * them sharing the port) with matching keys and FIFO directory, prints
 * io_conn's "listening on" line, and on SIGINT or SIGTERM stops them all
 * and removes every segment and FIFO they used: queues, statistics and
 * the session table.
 *
 * The launcher is not part of the data path: common/supervisor.c waits
 * for its children's deaths. md's death is survivable (the queues keep
 * the requests; the new md finds them), so md is restarted; an io_conn's
 * death loses its connections, so it ends the server. */
#include "budget.h"
#include "log.h"
#include "mqpair.h"
#include "mhash.h"
#include "opts.h"
#include "session.h"
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

#define DEFAULT_PORT "4680"

static const char usage[] =
    " [-h] [-v | -q] [-a ADDR] [-p PORT] [-n COUNT] [-c CONNS] [-k KEY]\n"
    "          [-b BYTES] [-t SECONDS] [-d DIR] [-s USEC] [-m PROG]\n"
    "The v6 echo server: runs md and COUNT io_conn processes joined by\n"
    "shared-memory queues, and restarts md if it dies; md keeps a session\n"
    "record per connection that viewcache -k KEY lists.\n"
    "  -a ADDR   address to listen on (default 127.0.0.1)\n"
    "  -p PORT   port to listen on, 0 for any free port (default 4680)\n"
    "  -n COUNT  io_conn processes sharing the port, 1 to 256 (default 1)\n"
    "  -c CONNS  most connections per io_conn (default 65536); more are\n"
    "            accepted and closed at once\n"
    "  -b BYTES  most bytes each io_conn buffers for all its clients,\n"
    "            suffix k, M or G (default 64M); beyond it a client whose\n"
    "            echo waits is not read until the echo is sent\n"
    "  -t SECONDS  close connections idle that long, 0 = never (default 0)\n"
    "  -k KEY    base System V key of queues, statistics and the session\n"
    "            table\n"
    "            (default 0x5e7e0000)\n"
    "  -d DIR    directory of the wake-up FIFOs (default: a new private\n"
    "            directory in /tmp, removed on exit)\n"
    "  -s USEC   make md sleep that long per message (to watch queues\n"
    "            fill; default 0)\n"
    "  -m PROG   the md program to run (default: md, next to echosvr_v6);\n"
    "            a path with a '/' is run as given, e.g. your own md\n"
    "  -v        debug logging (passed on to md and io_conn)\n"
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
    char key_arg[16], n_arg[8], dir[SRVKEYS_PATH_MAX], slow_arg[16],
        conns_arg[16], bytes_arg[24], idle_arg[16], sessions_arg[16];
    const char *addr, *port, *verbosity, *md_prog;
    key_t key;
    unsigned n;
    unsigned long conns; /* per io_conn */
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

/* md's table holds a session for every connection of every io_conn. */
static int start_md(struct launcher *l)
{
    const char *argv[] = {
        l->md_prog, "-k", l->key_arg,      "-d", l->dir,      "-n",
        l->n_arg,   "-c", l->sessions_arg, "-s", l->slow_arg, l->verbosity,
        NULL};

    return supervisor_start(l->sv, argv, SUPERVISOR_RESTART, NULL, 0);
}

/* Start io_conn i on port; its "listening on" line into line. */
static int start_io(struct launcher *l, unsigned i, const char *port,
                    char *line, size_t size)
{
    const char *argv[24];
    char i_arg[8];
    int argc = 0;

    snprintf(i_arg, sizeof(i_arg), "%u", i);
    argv[argc++] = "io_conn";
    argv[argc++] = "-a", argv[argc++] = l->addr;
    argv[argc++] = "-p", argv[argc++] = port;
    argv[argc++] = "-k", argv[argc++] = l->key_arg;
    argv[argc++] = "-d", argv[argc++] = l->dir;
    argv[argc++] = "-i", argv[argc++] = i_arg;
    argv[argc++] = "-c", argv[argc++] = l->conns_arg;
    argv[argc++] = "-b", argv[argc++] = l->bytes_arg;
    argv[argc++] = "-t", argv[argc++] = l->idle_arg;
    if (l->n > 1)
        argv[argc++] = "-r"; /* share the port with the others */
    if (l->verbosity)
        argv[argc++] = l->verbosity;
    argv[argc] = NULL;
    return supervisor_start(l->sv, argv, SUPERVISOR_ESSENTIAL, line, size);
}

/* Start md and the io_conn processes; print the listening line. */
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
    log_info("md and %u io_conn running; sessions: viewcache -k %#x; "
             "statistics: viewstats %s",
             l->n, (unsigned)l->key,
             srvkeys_format_stats(keys, sizeof(keys), l->key, l->n));
    fputs(line, stdout);
    return fflush(stdout) == EOF ? -1 : 0;
}

static void parse_options(struct launcher *l, int argc, char **argv)
{
    int c;

    opterr = 0;
    while ((c = getopt(argc, argv, ":ha:p:n:c:b:t:k:d:s:m:vq")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'a': l->addr = opts_addr_arg(optarg); break;
        case 'p': opts_port_arg(optarg), l->port = optarg; break;
        case 'n':
            l->n = (unsigned)opts_uint_arg("count", optarg, 1, SRVKEYS_MAX_IO);
            break;
        case 'c':
            l->conns = (unsigned long)opts_uint_arg("connection limit", optarg,
                                                    1, 1u << 20);
            break;
        case 'b':
            snprintf(l->bytes_arg, sizeof(l->bytes_arg), "%zu",
                     opts_size_arg("byte limit", optarg, 1, (size_t)1 << 40));
            break;
        case 't':
            snprintf(l->idle_arg, sizeof(l->idle_arg), "%llu",
                     opts_uint_arg("idle timeout", optarg, 0, 86400));
            break;
        case 'k': l->key = opts_key_arg(optarg); break;
        case 'd':
            if (strlen(optarg) >= sizeof(l->dir) - 16)
                opts_fail("directory name too long: %s", optarg);
            snprintf(l->dir, sizeof(l->dir), "%s", optarg);
            break;
        case 's':
            snprintf(l->slow_arg, sizeof(l->slow_arg), "%llu",
                     opts_uint_arg("delay", optarg, 0, 1000000));
            break;
        case 'm': l->md_prog = optarg; break;
        case 'v': l->verbosity = "-v", log_set_level(LOG_DEBUG); break;
        case 'q': l->verbosity = "-q", log_set_level(LOG_ERROR); break;
        default: opts_bad_option(c, optopt);
        }
    }
    if (optind < argc)
        opts_fail("unexpected argument '%s'", argv[optind]);
    snprintf(l->key_arg, sizeof(l->key_arg), "%#x", (unsigned)l->key);
    snprintf(l->n_arg, sizeof(l->n_arg), "%u", l->n);
    snprintf(l->conns_arg, sizeof(l->conns_arg), "%lu", l->conns);
    snprintf(l->sessions_arg, sizeof(l->sessions_arg), "%lu", l->conns * l->n);
}

/* The FIFO directory: -d, or a new private one that we remove. */
static int make_dir(struct launcher *l)
{
    if (l->dir[0])
        return 0;
    snprintf(l->dir, sizeof(l->dir), "/tmp/svrtut-v6-XXXXXX");
    if (!mkdtemp(l->dir)) {
        log_error("cannot make a FIFO directory: %s", strerror(errno));
        return -1;
    }
    l->own_dir = true;
    return 0;
}

/* The launcher's block doubles as the lock on the key: a second server
 * on the same key stops here, before touching any queue. Holding it, we
 * know that a session table under the key was left by a server that was
 * killed: its flows are gone, so a new server starts with a new table.
 * (md restarts within one server keep theirs: md attaches, never wipes.) */
static int lock_key(struct launcher *l)
{
    if (stats_create_table(&l->stats, srvkeys_launcher_stats(l->key),
                           "echosvr_v6", counters, C_NCOUNTERS) == 0) {
        if (mhash_remove_key(session_table_key(l->key)) < 0)
            log_error(
                "session table %#x: %s", (unsigned)session_table_key(l->key),
                errno == EACCES ? "not ours, left alone" : strerror(errno));
        return 0;
    }
    log_error("key %#x: %s", (unsigned)l->key,
              errno == EEXIST ? "in use by a live server" : strerror(errno));
    return -1;
}

/* Everything the children left: queues, FIFOs, statistics, the session
 * table; and the key's lock. */
static void remove_all(struct launcher *l)
{
    if (srvkeys_remove(l->key, l->dir, l->n) < 0 ||
        mhash_remove_key(session_table_key(l->key)) < 0)
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
                         .key = SRVKEYS_DEFAULT_BASE,
                         .n = 1,
                         .md_prog = "md",
                         .conns = BUDGET_DEFAULT_CONNS,
                         .slow_arg = "0",
                         .idle_arg = "0"};
    int rc = 1;

    snprintf(l.bytes_arg, sizeof(l.bytes_arg), "%zu",
             (size_t)BUDGET_DEFAULT_BYTES);
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

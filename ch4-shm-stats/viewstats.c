/* viewstats.c -- print the statistics a server keeps in shared memory,
 * once or every second, like a tiny top.
 *
 * It attaches read-only (SHM_RDONLY): a viewer that could write could
 * corrupt a live server's counters, and a read-only mapping is the one
 * guarantee the kernel enforces. It prints whatever counters the writer
 * registered, so it works unchanged for every chapter's processes; with
 * several -k it shows several processes, one block each. */
#include "log.h"
#include "opts.h"
#include "now.h"
#include "stats.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_KEYS 8

static const char usage[] =
    " [-h] [-k KEY]... [-w] [-n COUNT]\n"
    "Prints the statistics servers keep in shared memory.\n"
    "  -k KEY    statistics key, repeat for several processes\n"
    "            (default 0x53565354, the servers' default)\n"
    "  -w        watch: print again every second until interrupted\n"
    "  -n COUNT  with -w, stop after COUNT prints\n"
    "  -h        show this help\n"
    "Rates are per second: since the server started, or with -w since\n"
    "the previous print. Exit status: 0, or 1 if a server is not running.\n";

/* One watched block and its previous snapshot, for rates. */
struct view {
    key_t key;
    struct stats st;
    struct stats_snapshot prev;
    bool attached, have_prev;
};

static volatile sig_atomic_t stop_flag;

static void stop_handler(int signo)
{
    (void)signo;
    stop_flag = 1;
}

/* Attach and check a server is behind the block. 0, or -1 after one line
 * on stderr saying why not. */
static int view_attach(struct view *v)
{
    if (stats_open(&v->st, v->key) < 0) {
        if (errno == ENOENT)
            log_error("no server running: no statistics under key %#x",
                      (unsigned)v->key);
        else
            log_error("cannot read statistics under key %#x: %s",
                      (unsigned)v->key,
                      errno == EPROTO ? "not a valid statistics block"
                                      : strerror(errno));
        return -1;
    }
    v->attached = true;
    return 0;
}

/* Is the writer gone? Dead (kill -9 leaves the block) or exited cleanly
 * (the block is marked for removal, our mapping keeps it alive). */
static bool writer_gone(const struct view *v, pid_t pid)
{
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return true;
    return shmem_removed(&v->st.sm);
}

/* Seconds from earlier to later, 0 if the clock went back. stats_read()
 * checked that the snapshot's times are positive, and so is the clock:
 * the difference of two positive int64_t cannot overflow. */
static double secs_between(int64_t later, int64_t earlier)
{
    return later > earlier ? (double)(later - earlier) / 1e9 : 0.0;
}

static void print_uptime(double secs)
{
    long long s = (long long)secs;

    printf("up %lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
}

/* Everything printed comes from the snapshot stats_read() checked:
 * names are [A-Za-z0-9_.-] tokens, so no byte of the segment can reach
 * the terminal as a control sequence. */
static void print_block(const struct view *v, const struct stats_snapshot *s,
                        int64_t now_ns)
{
    /* rates against the previous print, or against the start */
    const bool delta = v->have_prev;
    double secs =
        secs_between(s->updated_ns, delta ? v->prev.updated_ns : s->started_ns);

    printf("%s pid %d key %#x ", s->writer, (int)s->pid, (unsigned)v->key);
    print_uptime(secs_between(now_ns, s->started_ns));
    printf(" updated %.1f s ago, rates %s\n",
           secs_between(now_ns, s->updated_ns),
           delta ? "since the last print" : "since start");
    for (uint32_t i = 0; i < s->n; i++) {
        uint64_t base = delta ? v->prev.value[i] : 0;
        printf("  %-20s %16llu", s->desc[i].name,
               (unsigned long long)s->value[i]);
        if (s->desc[i].kind == STATS_COUNTER)
            printf(" %14.1f/s", secs > 0 && s->value[i] >= base
                                    ? (double)(s->value[i] - base) / secs
                                    : 0.0);
        putchar('\n');
    }
}

/* Print one view. 0, or -1 after one line on stderr. */
static int view_print(struct view *v)
{
    struct stats_snapshot s;

    if (!v->attached && view_attach(v) < 0)
        return -1;
    if (stats_read(&v->st, &s) < 0) {
        if (errno == EPROTO)
            log_error("key %#x: not a valid statistics block any more",
                      (unsigned)v->key);
        else
            log_error("key %#x: no consistent snapshot (writer stuck?)",
                      (unsigned)v->key);
        return -1;
    }
    if (writer_gone(v, s.pid)) {
        log_error("no server running under key %#x: pid %d has exited",
                  (unsigned)v->key, (int)s.pid);
        return -1;
    }
    print_block(v, &s, now_real_ns());
    v->prev = s;
    v->have_prev = true;
    return 0;
}

static int watch(struct view *views, int nviews, bool forever,
                 unsigned long count)
{
    struct timespec second = {1, 0};
    int rc = 0;

    for (unsigned long i = 0; !stop_flag && (forever || i < count); i++) {
        if (i > 0) {
            nanosleep(&second, NULL); /* EINTR on a stop signal */
            if (stop_flag)
                break;
            putchar('\n');
        }
        for (int k = 0; k < nviews; k++)
            if (view_print(&views[k]) < 0)
                rc = -1;
        if (fflush(stdout) == EOF) {
            log_error("cannot write: %s", strerror(errno));
            return -1;
        }
        if (rc < 0)
            break;
    }
    return rc;
}

int main(int argc, char **argv)
{
    struct view views[MAX_KEYS];
    struct sigaction sa = {.sa_handler = stop_handler};
    int nviews = 0, c, rc;
    bool watching = false, have_count = false;
    unsigned long count = 1;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    opterr = 0;
    memset(views, 0, sizeof(views));
    while ((c = getopt(argc, argv, ":hk:wn:")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'k':
            if (nviews == MAX_KEYS)
                opts_fail("at most %d keys", MAX_KEYS);
            views[nviews++].key = opts_key_arg(optarg);
            break;
        case 'w': watching = true; break;
        case 'n':
            count = (unsigned long)opts_uint_arg("count", optarg, 1,
                                                 1000UL * 1000 * 1000);
            have_count = true;
            break;
        default: opts_bad_option(c, optopt);
        }
    }
    if (optind < argc)
        opts_fail("unexpected argument '%s'", argv[optind]);
    if (have_count && !watching)
        opts_fail("-n needs -w");
    if (nviews == 0)
        views[nviews++].key = STATS_DEFAULT_KEY;

    /* no SA_RESTART: a stop signal interrupts the one-second sleep */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rc = watch(views, nviews, watching && !have_count, count);
    for (int k = 0; k < nviews; k++)
        if (views[k].attached)
            stats_close(&views[k].st);
    return rc < 0 ? 1 : 0;
}

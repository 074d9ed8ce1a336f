/* viewcache.c -- list the live sessions of a running v6 server, read
 * from md's session table (a multi-hash in shared memory), and the
 * table's occupancy, once or every second.
 *
 * It attaches the table read-only (SHM_RDONLY) while md writes it. Every
 * record it prints is a consistent copy: mhash_foreach() skips a slot
 * that md is writing at that moment and says so (EAGAIN); viewcache then
 * reads the whole table again, and counts and prints how many times it
 * had to. The listing as a whole is not a snapshot (a session may open
 * or close during the walk), each line is. Nothing read from the segment
 * is trusted: the table's header is validated by mhash_open(), the record
 * size is checked, and a peer address is printed only up to its field's
 * end and with anything unprintable replaced. */
#include "log.h"
#include "mhash.h"
#include "opts.h"
#include "session.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Whole-table reads after the first that found a slot being written. */
#define MAX_RETRIES 100

static const char usage[] =
    " [-h] [-k KEY] [-w] [-n COUNT]\n"
    "Lists the live sessions of a running v6 server (echosvr_v6 or md) and\n"
    "the occupancy of its session table.\n"
    "  -k KEY    the server's base key, as given to echosvr_v6 -k (default\n"
    "            0x5e7e0000); the table is at KEY + 2\n"
    "  -w        watch: print again every second until interrupted\n"
    "  -n COUNT  with -w, stop after COUNT prints\n"
    "  -h        show this help\n"
    "Exit status: 0, or 1 if no server is running.\n";

struct entry {
    uint64_t key;
    struct session s;
};

/* One read of the table. */
struct listing {
    struct entry *v;
    size_t n, cap;
    bool oom;
};

static volatile sig_atomic_t stop_flag;

static void stop_handler(int signo)
{
    (void)signo;
    stop_flag = 1;
}

static int collect_cb(uint64_t key, const void *rec, void *arg)
{
    struct listing *l = arg;

    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        struct entry *v = realloc(l->v, cap * sizeof(*v));
        if (!v) {
            l->oom = true;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].key = key;
    memcpy(&l->v[l->n].s, rec, sizeof(struct session));
    l->n++;
    return 0;
}

static int by_key(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;

    return x->key < y->key ? -1 : x->key > y->key;
}

/* Read every record consistently into l, reading the table again while
 * a slot was being written. Returns the number of retries, or -1 after
 * a message. *complete is false if some slot never settled. */
static int read_table(const struct mhash *h, struct listing *l, bool *complete)
{
    struct timespec pause = {0, 1000 * 1000};
    int retries = 0;

    for (;;) {
        l->n = 0;
        if (mhash_foreach(h, collect_cb, l) == 0) {
            *complete = true;
            return retries;
        }
        if (l->oom || errno != EAGAIN) {
            log_error("cannot read the session table: %s",
                      l->oom ? "out of memory" : strerror(errno));
            return -1;
        }
        if (retries == MAX_RETRIES) {
            *complete = false;
            return retries;
        }
        retries++;
        nanosleep(&pause, NULL);
    }
}

/* "HH:MM:SS.mmm" local time, or "-" for a time that makes no sense. */
static const char *format_time(int64_t ns, char *buf, size_t size)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    size_t len;

    if (ns <= 0 || !localtime_r(&t, &tm) ||
        (len = strftime(buf, size, "%H:%M:%S", &tm)) == 0) {
        snprintf(buf, size, "-");
        return buf;
    }
    snprintf(buf + len, size - len, ".%03d", (int)(ns / 1000000 % 1000));
    return buf;
}

/* The peer field, up to its end and printable, whatever the segment
 * holds. */
static const char *format_peer(const struct session *s, char *buf)
{
    size_t i;

    for (i = 0; i < SESSION_PEER_LEN - 1 && s->peer[i]; i++)
        buf[i] = isprint((unsigned char)s->peer[i]) ? s->peer[i] : '?';
    buf[i] = '\0';
    return i ? buf : "-";
}

static void print_listing(const struct mhash *h, const struct listing *l,
                          int retries, bool complete)
{
    struct mhash_stats st;
    char peer[SESSION_PEER_LEN], first[32], last[32];

    mhash_stats(h, &st);
    printf("sessions: %zu live; read after %d retr%s%s\n", l->n, retries,
           retries == 1 ? "y" : "ies",
           complete ? "" : ", some slots stayed busy and are not shown");
    printf("  %3s %-10s %-24s %10s %14s %-12s  %s\n", "io", "flow", "peer",
           "msgs", "bytes", "first seen", "last seen");
    for (size_t i = 0; i < l->n; i++) {
        const struct entry *e = &l->v[i];
        printf("  %3u %#-10x %-24s %10llu %14llu %-12s  %s\n",
               session_key_io(e->key), (unsigned)session_key_flow(e->key),
               format_peer(&e->s, peer), (unsigned long long)e->s.msgs,
               (unsigned long long)e->s.bytes,
               format_time(e->s.first_ns, first, sizeof(first)),
               format_time(e->s.last_ns, last, sizeof(last)));
    }
    printf("table: %llu slots in %u %s rows, %llu used, load %.4f\n",
           (unsigned long long)st.slots, st.rows,
           st.decreasing ? "decreasing" : "equal", (unsigned long long)st.used,
           st.load);
    printf("used per row:");
    for (uint32_t r = 0; r < st.rows; r++)
        printf(" %llu", (unsigned long long)st.row_used[r]);
    putchar('\n');
}

/* Attach the table read-only. 0, or -1 after one line saying why. */
static int table_open(struct mhash *h, key_t base)
{
    key_t key = session_table_key(base);
    struct timespec pause = {0, 10 * 1000 * 1000};
    int rc;

    /* EAGAIN: md is creating the table right now; give it a second */
    for (int i = 0;
         (rc = mhash_open(h, key, true)) < 0 && errno == EAGAIN && i < 100; i++)
        nanosleep(&pause, NULL);
    if (rc < 0) {
        if (errno == ENOENT)
            log_error("no server running: no session table under key %#x "
                      "(base key %#x)",
                      (unsigned)key, (unsigned)base);
        else
            log_error("cannot read the session table %#x: %s", (unsigned)key,
                      errno == EPROTO ? "not a valid table" : strerror(errno));
        return -1;
    }
    if (h->rec_size != sizeof(struct session)) {
        log_error("key %#x: records of %u bytes, not sessions", (unsigned)key,
                  h->rec_size);
        mhash_close(h);
        return -1;
    }
    return 0;
}

/* Has the server removed the table (its launcher exited)? */
static bool table_removed(const struct mhash *h)
{
    return shmem_removed(&h->sm);
}

/* Print count times (forever if forever), a second apart. 0 or -1. */
static int watch(const struct mhash *h, key_t base, bool forever,
                 unsigned long count)
{
    struct timespec second = {1, 0};
    struct listing l = {0};
    int rc = 0;

    for (unsigned long i = 0; !stop_flag && (forever || i < count); i++) {
        bool complete;
        int retries;

        if (i > 0) {
            nanosleep(&second, NULL); /* EINTR on a stop signal */
            if (stop_flag)
                break;
            putchar('\n');
        }
        if (table_removed(h)) {
            log_error("no server running: the session table of base key %#x "
                      "was removed",
                      (unsigned)base);
            rc = -1;
            break;
        }
        retries = read_table(h, &l, &complete);
        if (retries < 0) {
            rc = -1;
            break;
        }
        if (l.n > 1)
            qsort(l.v, l.n, sizeof(*l.v), by_key);
        print_listing(h, &l, retries, complete);
        if (fflush(stdout) == EOF) {
            log_error("cannot write: %s", strerror(errno));
            rc = -1;
            break;
        }
    }
    free(l.v);
    return rc;
}

int main(int argc, char **argv)
{
    struct sigaction sa = {.sa_handler = stop_handler};
    struct mhash h;
    key_t base = SRVKEYS_DEFAULT_BASE;
    bool watching = false, have_count = false;
    unsigned long count = 1;
    int c, rc;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    opterr = 0;
    while ((c = getopt(argc, argv, ":hk:wn:")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'k': base = opts_key_arg(optarg); break;
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

    if (table_open(&h, base) < 0)
        return 1;
    /* no SA_RESTART: a stop signal interrupts the one-second sleep */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rc = watch(&h, base, watching && !have_count, count);
    mhash_close(&h);
    return rc < 0 ? 1 : 0;
}

/* md.c -- the main-logic daemon of the v6 echo server: ch4-mq's md,
 * keeping a session record per flow in a multi-hash that other processes
 * (viewcache) read while it runs.
 *
 * md never touches a socket. It consumes the messages of each io_conn
 * from the io->md queue (session.h: a header with seq and kind, then the
 * payload). OPEN creates the flow's session record (peer, counts, first
 * and last seen), CLOSE deletes it, DATA is echoed: the reply is the
 * request, untouched (header included), on the md->io queue for the same
 * flow id, and the record counts it. A message is consumed only after its
 * reply is queued and its record updated: if md dies before that, the
 * message is still there when md comes back. Handled twice, it costs
 * nothing: io_conn drops the second reply by its sequence number, and the
 * record's next_seq says the message was counted already.
 *
 * The session table lives in a System V segment (session.h:
 * session_table_key()) so that it survives md: a restarted md attaches to it
 * as it is, never wiping it, and keeps counting. md is its only writer
 * (the one-writer rule of common/mhash.h); a second md on the same key is
 * refused by its statistics block before it touches the table.
 *
 * When a queue to an io_conn is full, md leaves the io_conn's requests
 * queued and retries in a millisecond; io_conn is then the one to stop
 * reading its sockets. Any other failure of a queue (a corrupt index or
 * length) ends md with status 1: its supervisor restarts it, or gives up
 * if it keeps failing, instead of md spinning on the same error. */
#include "log.h"
#include "mhash.h"
#include "mqpair.h"
#include "now.h"
#include "opts.h"
#include "session.h"
#include "stats.h"
#include "stopsig.h"

#include <event2/event.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH 256
/* Default session capacity: one io_conn's default connection limit. */
#define DEFAULT_SESSIONS 65536
#define SESSION_ROWS     20
/* The smallest table md creates. 20 decreasing rows, the last a tenth of
 * the first, need about 780 slots before the small rows get 20 distinct
 * primes (the last one 2); below that mhash_primes() fails. A -c of a
 * few sessions gets this many slots (112 KiB) instead. */
#define MIN_TABLE_SLOTS 1024

static const char usage[] =
    " [-h] [-v | -q] [-k KEY] [-d DIR] [-n COUNT] [-c SESSIONS] [-s USEC]\n"
    "Main-logic daemon of the v6 echo server: answers every message\n"
    "io_conn forwards with the same message, and keeps a record of each\n"
    "connection in a shared session table (see viewcache).\n"
    "  -k KEY    base System V key of the queues and the session table\n"
    "            (default 0x5e7e0000)\n"
    "  -d DIR    directory of the wake-up FIFOs (default /tmp/svrtut-UID)\n"
    "  -n COUNT  serve io_conn processes 0 to COUNT-1 (default 1)\n"
    "  -c SESSIONS  most sessions the table must hold when it is created\n"
    "            (default 65536); an existing table is used as it is\n"
    "  -s USEC   sleep that long per message: a deliberately slow md, to\n"
    "            watch the queues fill (default 0)\n"
    "  -v        debug logging\n"
    "  -q        log errors only\n"
    "  -h        show this help\n"
    "SIGINT or SIGTERM stop it; the queues and the session table stay for\n"
    "the next md.\n";

enum counter {
    C_MSGS,
    C_BYTES,
    C_QUEUE_FULL,
    C_SESSIONS,      /* records in the table */
    C_SESSIONS_FULL, /* OPENs refused: all candidate slots taken */
    C_BAD_MSGS,      /* messages without a valid header: dropped */
    C_NCOUNTERS
};

static const struct stats_def counters[C_NCOUNTERS] = {
    [C_MSGS] = {"msgs", STATS_COUNTER},
    [C_BYTES] = {"bytes", STATS_COUNTER},
    [C_QUEUE_FULL] = {"queue_full", STATS_COUNTER},
    [C_SESSIONS] = {"sessions", STATS_GAUGE},
    [C_SESSIONS_FULL] = {"sessions_full", STATS_COUNTER},
    [C_BAD_MSGS] = {"bad_msgs", STATS_COUNTER},
};

struct md;

/* What md keeps per io_conn. */
struct link {
    struct md *md;
    unsigned index; /* io_conn number: the high half of session keys */
    struct mqpair mq;
    struct event *wake_ev;  /* the io->md FIFO is readable */
    struct event *retry_ev; /* the md->io queue was full */
};

struct md {
    struct event_base *base;
    struct link links[SRVKEYS_MAX_IO];
    unsigned nlinks;
    useconds_t slow_us;
    bool failed;           /* a queue failed: exit 1 */
    struct mhash sessions; /* key: session_key(), record: struct session */
    struct stats stats;
};

/* What the command line sets. */
struct options {
    const char *dir;
    char default_dir[SRVKEYS_PATH_MAX];
    key_t key;
    unsigned n;
    unsigned long sessions;
};

/* OPEN: a fresh record, replacing any left by an earlier server whose
 * flow had the same id (handling an OPEN twice writes the same record). */
static void session_open(struct md *md, uint64_t key, const struct msg_hdr *h,
                         const char *peer, size_t len)
{
    struct session s = {.next_seq = h->seq + 1};

    s.first_ns = s.last_ns = now_real_ns();
    if (len >= sizeof(s.peer))
        len = sizeof(s.peer) - 1;
    memcpy(s.peer, peer, len);
    if (mhash_update(&md->sessions, key, &s) == 0)
        return;
    if (mhash_insert(&md->sessions, key, &s) < 0) {
        stats_add(&md->stats, C_SESSIONS_FULL, 1);
        log_debug("session %#llx: %s", (unsigned long long)key,
                  strerror(errno));
    }
}

/* DATA: count it, unless this message was counted before md restarted. */
static void session_data(struct md *md, uint64_t key, const struct msg_hdr *h,
                         size_t len)
{
    struct session s;

    if (mhash_find(&md->sessions, key, &s) < 0 || h->seq < s.next_seq)
        return; /* no record (the table was full), or counted already */
    s.next_seq = h->seq + 1;
    s.msgs++;
    s.bytes += len;
    s.last_ns = now_real_ns();
    mhash_update(&md->sessions, key, &s);
}

/* Apply one message to the session table. */
static void session_apply(struct link *l, uint32_t flow,
                          const struct msg_hdr *h, const void *payload,
                          size_t len)
{
    struct md *md = l->md;
    uint64_t key = session_key(l->index, flow);

    switch (h->kind) {
    case MSG_OPEN: session_open(md, key, h, payload, len); break;
    case MSG_DATA: session_data(md, key, h, len); break;
    case MSG_CLOSE: mhash_delete(&md->sessions, key, NULL); break;
    }
    stats_set(&md->stats, C_SESSIONS, mhash_count(&md->sessions));
}

/* One message: update the session table, then echo DATA back to the
 * same flow (so a client holding its echo finds it counted). -1 with
 * errno EAGAIN leaves it queued (the reply queue is full); handled again
 * later, it is not counted again. Any other errno: the queue failed. */
static int msg_cb(uint32_t id, const void *data, size_t len, void *arg)
{
    struct link *l = arg;
    struct md *md = l->md;
    struct msg_hdr h;

    if (len < MSG_HDR_SIZE) {
        stats_add(&md->stats, C_BAD_MSGS, 1);
        return 0;
    }
    memcpy(&h, data, MSG_HDR_SIZE);
    if (h.kind > MSG_CLOSE) {
        stats_add(&md->stats, C_BAD_MSGS, 1);
        return 0;
    }
    session_apply(l, id, &h, (const char *)data + MSG_HDR_SIZE,
                  len - MSG_HDR_SIZE);
    if (h.kind != MSG_DATA)
        return 0;
    if (md->slow_us)
        usleep(md->slow_us);
    if (spscq_push_quiet(l->mq.out, id, data, len) < 0) {
        if (errno == EAGAIN)
            stats_add(&md->stats, C_QUEUE_FULL, 1);
        return -1;
    }
    stats_add(&md->stats, C_MSGS, 1);
    stats_add(&md->stats, C_BYTES, len - MSG_HDR_SIZE);
    return 0;
}

/* A turn of the link: handle a batch (common/spscq.c:spscq_consume sleeps
 * again only when the queue is really empty). */
static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
    struct link *l = arg;
    struct timeval ms = {0, 1000};

    (void)fd;
    (void)what;
    switch (spscq_consume(l->mq.in, msg_cb, l, BATCH)) {
    case SPSCQ_IDLE: break;
    case SPSCQ_MORE: event_active(l->wake_ev, EV_READ, 0); break;
    case SPSCQ_BLOCKED:
        /* The reply queue is full: io_conn makes room; look again soon. */
        evtimer_add(l->retry_ev, &ms);
        break;
    case SPSCQ_ERROR:
        log_error("queues of io_conn %u: %s", l->index, strerror(errno));
        l->md->failed = true;
        event_base_loopbreak(l->md->base);
        break;
    }
    /* One wake-up for io_conn covers the whole batch of replies. */
    spscq_wake(l->mq.out);
    stats_commit(&l->md->stats);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct link *l = arg;

    (void)fd;
    (void)what;
    event_active(l->wake_ev, EV_READ, 0);
}

static int link_open(struct md *md, struct link *l, key_t key, const char *dir,
                     unsigned i)
{
    l->md = md;
    l->index = i;
    if (mqpair_open(&l->mq, key, dir, i, MQPAIR_MD) < 0) {
        log_error("queues of io_conn %u (key %#x, %s): %s", i, (unsigned)key,
                  dir, strerror(errno));
        return -1;
    }
    l->wake_ev = event_new(md->base, spscq_wait_fd(l->mq.in),
                           EV_READ | EV_PERSIST, wake_cb, l);
    if (!l->wake_ev || event_add(l->wake_ev, NULL) < 0) {
        log_error("cannot watch the queue of io_conn %u", i);
        return -1;
    }
    l->retry_ev = evtimer_new(md->base, retry_cb, l);
    if (!l->retry_ev) {
        log_error("cannot create the retry timer of io_conn %u", i);
        return -1;
    }
    /* Requests may have queued while md was away: look now. */
    event_active(l->wake_ev, EV_READ, 0);
    return 0;
}

static void link_close(struct link *l)
{
    if (l->retry_ev)
        event_free(l->retry_ev);
    if (l->wake_ev)
        event_free(l->wake_ev);
    mqpair_close(&l->mq);
}

/* Attach the session table, or create it for about sessions records:
 * 20 decreasing rows fill to 0.95 before the first refusal (README,
 * "Measure it"), so a quarter more slots than sessions leaves room; and
 * never fewer than MIN_TABLE_SLOTS. */
static int sessions_setup(struct md *md, key_t key, unsigned long sessions)
{
    struct mhash_geom g = {.rows = SESSION_ROWS,
                           .capacity = sessions + sessions / 4,
                           .rec_size = sizeof(struct session),
                           .decreasing = true};
    bool created;

    if (g.capacity < MIN_TABLE_SLOTS)
        g.capacity = MIN_TABLE_SLOTS;

    if (mhash_open_or_create(&md->sessions, key, &g, &created) < 0)
        return -1;
    log_info("session table %#x: %s, %llu sessions in it", (unsigned)key,
             created ? "created" : "attached",
             (unsigned long long)mhash_count(&md->sessions));
    stats_set(&md->stats, C_SESSIONS, mhash_count(&md->sessions));
    stats_commit(&md->stats);
    return 0;
}

static void parse_options(struct md *md, struct options *o, int argc,
                          char **argv)
{
    int c;

    opterr = 0;
    while ((c = getopt(argc, argv, ":hk:d:n:c:s:vq")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'k': o->key = opts_key_arg(optarg); break;
        case 'd': o->dir = optarg; break;
        case 'n':
            o->n = (unsigned)opts_uint_arg("count", optarg, 1, SRVKEYS_MAX_IO);
            break;
        case 'c':
            o->sessions = (unsigned long)opts_uint_arg("session count", optarg,
                                                       1, 1ul << 24);
            break;
        case 's':
            md->slow_us =
                (useconds_t)opts_uint_arg("delay", optarg, 0, 1000000);
            break;
        case 'v': log_set_level(LOG_DEBUG); break;
        case 'q': log_set_level(LOG_ERROR); break;
        default: opts_bad_option(c, optopt);
        }
    }
    if (optind < argc)
        opts_fail("unexpected argument '%s'", argv[optind]);
    if (!o->dir)
        o->dir = mqpair_default_dir(o->default_dir, sizeof(o->default_dir));
}

static int open_stats(struct md *md, const struct options *o)
{
    key_t key = srvkeys_md_stats(o->key);

    if (mqpair_private_dir(o->dir) < 0) {
        log_error("FIFO directory %s: %s", o->dir, strerror(errno));
        return -1;
    }
    if (stats_create_table(&md->stats, key, "md", counters, C_NCOUNTERS) < 0) {
        log_error("statistics key %#x: %s", (unsigned)key,
                  errno == EEXIST ? "in use by a live md" : strerror(errno));
        return -1;
    }
    return 0;
}

static int open_sessions(struct md *md, const struct options *o)
{
    key_t key = session_table_key(o->key);

    if (sessions_setup(md, key, o->sessions) == 0)
        return 0;
    log_error("session table %#x: %s", (unsigned)key,
              errno == EPROTO ? "not a session table" : strerror(errno));
    return -1;
}

/* Open the queues of io_conn 0 .. n-1; on failure md.nlinks says how
 * many to close. */
static int open_links(struct md *md, const struct options *o)
{
    for (md->nlinks = 0; md->nlinks < o->n; md->nlinks++) {
        if (link_open(md, &md->links[md->nlinks], o->key, o->dir, md->nlinks) <
            0) {
            md->nlinks++; /* close what this one opened, too */
            return -1;
        }
    }
    log_info("serving %u io_conn queue pair(s), key %#x, FIFOs in %s", o->n,
             (unsigned)o->key, o->dir);
    return 0;
}

int main(int argc, char **argv)
{
    struct md md = {0};
    struct options o = {
        .key = SRVKEYS_DEFAULT_BASE, .n = 1, .sessions = DEFAULT_SESSIONS};
    struct stopsig *ss = NULL;
    int rc = 1;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    parse_options(&md, &o, argc, argv);
    md.base = event_base_new();
    if (!md.base) {
        log_error("cannot create the event base");
        return 1;
    }
    if (open_stats(&md, &o) < 0)
        goto out_free_base;
    if (open_sessions(&md, &o) < 0)
        goto out_remove_stats;
    ss = stopsig_new(md.base, NULL, NULL);
    if (!ss) {
        log_error("cannot watch signals: %s", strerror(errno));
        goto out_close_sessions;
    }
    if (open_links(&md, &o) == 0 && event_base_dispatch(md.base) == 0 &&
        stopsig_caught(ss) && !md.failed)
        rc = 0;

    while (md.nlinks > 0)
        link_close(&md.links[--md.nlinks]);
    stopsig_free(ss);
out_close_sessions:
    mhash_close(&md.sessions); /* the table stays for the next md */
out_remove_stats:
    stats_remove(&md.stats);
out_free_base:
    event_base_free(md.base);
    libevent_global_shutdown();
    return rc;
}

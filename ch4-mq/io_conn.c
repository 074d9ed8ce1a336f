/* io_conn.c -- the network process of the two-process echo server.
 *
 * io_conn owns the sockets and nothing else: every chunk a client sends
 * goes to md over the io->md queue, tagged with the connection's flow id,
 * and every reply md sends back over the md->io queue is written to the
 * connection that owns the flow. A flow id carries a generation
 * (common/flowtab.c), so a reply for a connection that closed meanwhile
 * is dropped even if a new connection got the same slot.
 *
 * Each message to md is [seq u64][bytes]: seq counts the flow's messages.
 * md echoes it untouched; io_conn delivers a reply only if its seq is the
 * next one expected. md consumes a message only after its reply is
 * queued, so an md killed between the two re-sends one reply after its
 * restart: the seq check drops it, and the client sees every byte once.
 *
 * Backpressure, nothing lost: when the queue to md is full, the bytes stay
 * in the connection's input buffer, reading stops, and a 1 ms timer
 * retries; a connection whose echo is not being read stops being read, as
 * in ch3-echo. */
#include "flowtab.h"
#include "log.h"
#include "mqpair.h"
#include "net.h"
#include "opts.h"
#include "stats.h"
#include "stopsig.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#define DEFAULT_ADDR  "127.0.0.1"
#define DEFAULT_PORT  4680
#define DEFAULT_CONNS 65536
#define OUT_HIGH      (256 * 1024)
#define OUT_LOW       (64 * 1024)
/* Bytes of one message to md: bounds the copy per message and leaves the
 * 4 MiB queue room for many connections' messages. */
#define CHUNK    (64 * 1024)
#define SEQ_SIZE 8
/* Replies handled per wake-up before other events get a turn. */
#define BATCH 256

static const char usage[] =
    " [-h] [-v | -q] [-a ADDR] [-p PORT] [-k KEY] [-d DIR] [-i INDEX]\n"
    "          [-c CONNS] [-r]\n"
    "Network process of the two-process echo server: forwards what clients\n"
    "send to md over a shared-memory queue, and md's replies back.\n"
    "  -a ADDR   address to listen on (default " DEFAULT_ADDR ")\n"
    "  -p PORT   port to listen on, 0 for any free port (default 4680)\n"
    "  -k KEY    base System V key of the queues (default 0x5e7e0000)\n"
    "  -d DIR    directory of the wake-up FIFOs (default /tmp/svrtut-UID)\n"
    "  -i INDEX  which io_conn this is, 0 to 15, when several share the\n"
    "            port (default 0); each has its own pair of queues\n"
    "  -c CONNS  most connections open at once (default 65536); more are\n"
    "            accepted and closed at once\n"
    "  -r        share the port with other io_conn processes (SO_REUSEPORT)\n"
    "  -v        log every connection (debug level)\n"
    "  -q        log errors only\n"
    "  -h        show this help\n"
    "Prints 'listening on ADDR:PORT' when ready; SIGINT or SIGTERM stop it.\n";

enum counter {
    C_CONNS_ACCEPTED,
    C_CONNS_OPEN,
    C_MSGS_TO_MD,
    C_BYTES_TO_MD,
    C_MSGS_FROM_MD,
    C_BYTES_FROM_MD,
    C_QUEUE_FULL,     /* pushes refused: the queue to md was full */
    C_DROPPED_CLOSED, /* replies for flows closed meanwhile */
    C_DROPPED_DUP,    /* replies md sent twice (after a restart) */
    C_NCOUNTERS
};

static const struct {
    const char *name;
    enum stats_kind kind;
} counters[C_NCOUNTERS] = {
    {"conns_accepted", STATS_COUNTER}, {"conns_open", STATS_GAUGE},
    {"msgs_to_md", STATS_COUNTER},     {"bytes_to_md", STATS_COUNTER},
    {"msgs_from_md", STATS_COUNTER},   {"bytes_from_md", STATS_COUNTER},
    {"queue_full", STATS_COUNTER},     {"dropped_closed", STATS_COUNTER},
    {"dropped_dup", STATS_COUNTER},
};

struct conn {
    struct server *srv;
    struct bufferevent *bev;
    uint32_t flow;
    uint64_t seq_out; /* seq of the next message to md */
    uint64_t seq_in;  /* seq of the next reply expected */
    bool paused_out;  /* echo backed up: not reading */
    bool stalled;     /* queue to md full: not reading */
    bool closing;     /* EOF: finish the echo, then close */
    TAILQ_ENTRY(conn) stall_link;
};

struct server {
    struct event_base *base;
    struct evconnlistener *lev;
    struct flowtab *flows;
    struct mqpair mq;
    struct event *wake_ev;  /* the md->io FIFO is readable */
    struct event *retry_ev; /* retry stalled connections */
    struct event *flush_ev; /* wake md once per loop turn, not per push */
    bool wake_due;          /* flush_ev is active */
    TAILQ_HEAD(, conn) stalled;
    struct stats stats;
    unsigned char msg[SEQ_SIZE + CHUNK]; /* the message being pushed */
};

static void conn_update_reading(struct conn *c)
{
    if (c->paused_out || c->stalled || c->closing)
        bufferevent_disable(c->bev, EV_READ);
    else
        bufferevent_enable(c->bev, EV_READ);
}

static void conn_free(struct conn *c)
{
    struct server *srv = c->srv;

    if (c->stalled)
        TAILQ_REMOVE(&srv->stalled, c, stall_link);
    flowtab_del(srv->flows, c->flow);
    stats_set(&srv->stats, C_CONNS_OPEN, flowtab_count(srv->flows));
    stats_commit(&srv->stats);
    log_debug("flow %#x closed", c->flow);
    bufferevent_free(c->bev);
    free(c);
}

/* A closing connection ends when md has answered everything it was sent
 * and the client has been sent every reply. */
static void conn_maybe_finish(struct conn *c)
{
    if (c->closing && !c->stalled && c->seq_in == c->seq_out &&
        evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        conn_free(c);
}

/* Push as much of c's input to md as the queue takes. false: it is full,
 * c is stalled until the retry timer finds room. */
static bool conn_forward(struct conn *c)
{
    struct server *srv = c->srv;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t len;

    while ((len = evbuffer_get_length(in)) > 0) {
        if (len > CHUNK)
            len = CHUNK;
        memcpy(srv->msg, &c->seq_out, SEQ_SIZE);
        evbuffer_copyout(in, srv->msg + SEQ_SIZE, len);
        if (spscq_push_quiet(srv->mq.out, c->flow, srv->msg, SEQ_SIZE + len) <
            0) {
            if (errno != EAGAIN) {
                log_error("queue to md: %s", strerror(errno));
                event_base_loopbreak(srv->base);
                return false;
            }
            stats_add(&srv->stats, C_QUEUE_FULL, 1);
            if (!c->stalled) {
                c->stalled = true;
                TAILQ_INSERT_TAIL(&srv->stalled, c, stall_link);
                conn_update_reading(c);
            }
            if (!evtimer_pending(srv->retry_ev, NULL)) {
                struct timeval ms = {0, 1000};
                evtimer_add(srv->retry_ev, &ms);
            }
            return false;
        }
        evbuffer_drain(in, len);
        c->seq_out++;
        if (!srv->wake_due) {
            srv->wake_due = true;
            event_active(srv->flush_ev, 0, 0);
        }
        stats_add(&srv->stats, C_MSGS_TO_MD, 1);
        stats_add(&srv->stats, C_BYTES_TO_MD, len);
    }
    return true;
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    (void)bev;
    if (!c->stalled)
        conn_forward(c);
    stats_commit(&c->srv->stats);
}

/* Runs after the other callbacks of this loop turn: one wake-up for md
 * covers every message they pushed. */
static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;

    (void)fd;
    (void)what;
    srv->wake_due = false;
    spscq_wake(srv->mq.out);
}

/* The queue to md had no room: try the stalled connections, oldest first,
 * until one stalls again. */
static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;
    struct conn *c;

    (void)fd;
    (void)what;
    while ((c = TAILQ_FIRST(&srv->stalled)) != NULL) {
        TAILQ_REMOVE(&srv->stalled, c, stall_link);
        c->stalled = false;
        if (!conn_forward(c))
            break;
        conn_update_reading(c);
        conn_maybe_finish(c);
    }
    stats_commit(&srv->stats);
}

/* The output drained to the low watermark (or, when closing, to zero). */
static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    if (c->paused_out) {
        c->paused_out = false;
        bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
        conn_update_reading(c);
    }
    conn_maybe_finish(c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;

    if (what & BEV_EVENT_ERROR) {
        log_debug("flow %#x: %s", c->flow,
                  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        conn_free(c);
    } else if (what & BEV_EVENT_EOF) {
        c->closing = true;
        conn_update_reading(c);
        bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
        conn_maybe_finish(c);
    }
}

/* One reply from md: [seq][bytes] for flow id. */
static int reply_cb(uint32_t id, const void *data, size_t len, void *arg)
{
    struct server *srv = arg;
    struct conn *c = flowtab_get(srv->flows, id);
    struct evbuffer *out;
    uint64_t seq;

    if (len < SEQ_SIZE) {
        log_error("reply of %zu bytes for flow %#x: no sequence number", len,
                  id);
        return 0;
    }
    if (!c) {
        stats_add(&srv->stats, C_DROPPED_CLOSED, 1);
        return 0;
    }
    memcpy(&seq, data, SEQ_SIZE);
    if (seq < c->seq_in) {
        stats_add(&srv->stats, C_DROPPED_DUP, 1);
        return 0;
    }
    if (seq > c->seq_in)
        log_error("flow %#x: reply %llu arrived, %llu expected", id,
                  (unsigned long long)seq, (unsigned long long)c->seq_in);
    c->seq_in = seq + 1;
    stats_add(&srv->stats, C_MSGS_FROM_MD, 1);
    stats_add(&srv->stats, C_BYTES_FROM_MD, len - SEQ_SIZE);
    out = bufferevent_get_output(c->bev);
    evbuffer_add(out, (const char *)data + SEQ_SIZE, len - SEQ_SIZE);
    if (!c->paused_out && evbuffer_get_length(out) >= OUT_HIGH) {
        c->paused_out = true;
        bufferevent_setwatermark(c->bev, EV_WRITE, OUT_LOW, 0);
        conn_update_reading(c);
    }
    return 0;
}

/* md woke us: drain a batch of replies; sleep again only when the queue
 * is really empty (spscq_wait_prepare closes the lost-wake-up race). */
static void md_wake_cb(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;
    int n;

    (void)fd;
    (void)what;
    spscq_wait_ack(srv->mq.in);
    do {
        n = spscq_drain(srv->mq.in, reply_cb, srv, BATCH);
        if (n < 0) {
            log_error("queue from md: %s", strerror(errno));
            event_base_loopbreak(srv->base);
            return;
        }
        if (n == BATCH) {
            /* More may wait: let sockets have a turn, then come back. */
            event_active(srv->wake_ev, EV_READ, 0);
            break;
        }
    } while (!spscq_wait_prepare(srv->mq.in));
    stats_commit(&srv->stats);
}

static void accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
                      struct sockaddr *sa, int salen, void *arg)
{
    struct server *srv = arg;
    struct conn *c;
    char peer[NET_ADDRSTRLEN];

    (void)lev;
    (void)salen;
    c = calloc(1, sizeof(*c));
    if (!c)
        goto out_close_fd;
    c->srv = srv;
    c->flow = flowtab_add(srv->flows, c);
    if (!c->flow)
        goto out_free_conn;
    c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev)
        goto out_del_flow;
    net_nodelay(fd);
    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    stats_add(&srv->stats, C_CONNS_ACCEPTED, 1);
    stats_set(&srv->stats, C_CONNS_OPEN, flowtab_count(srv->flows));
    stats_commit(&srv->stats);
    log_debug("flow %#x from %s", c->flow, net_format(sa, peer, sizeof(peer)));
    return;

out_del_flow:
    flowtab_del(srv->flows, c->flow);
out_free_conn:
    free(c);
out_close_fd:
    log_error("accept: %s, dropping a connection",
              errno == ENOSPC ? "too many connections" : "out of memory");
    evutil_closesocket(fd);
}

static void accept_error_cb(struct evconnlistener *lev, void *arg)
{
    (void)arg;
    net_accept_backoff(lev);
}

static int stats_setup(struct stats *st, key_t key)
{
    if (stats_create(st, key, "io_conn") < 0)
        return -1;
    for (int i = 0; i < C_NCOUNTERS; i++) {
        if (stats_register(st, counters[i].name, counters[i].kind) != i) {
            stats_remove(st);
            return -1;
        }
    }
    stats_start(st);
    return 0;
}

static void free_all_conns(struct server *srv)
{
    uint32_t cursor = 0;
    void *obj;

    while (flowtab_next(srv->flows, &cursor, &obj))
        conn_free(obj);
}

int main(int argc, char **argv)
{
    static struct server srv; /* holds a CHUNK-sized message buffer */
    struct stopsig *ss = NULL;
    const char *addr = DEFAULT_ADDR, *dir = NULL;
    char default_dir[MQPAIR_PATH_MAX];
    key_t key = MQPAIR_DEFAULT_KEY;
    uint16_t port = DEFAULT_PORT;
    unsigned index = 0, flags = 0, max_conns = DEFAULT_CONNS;
    int c, rc = 1;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    opterr = 0;
    while ((c = getopt(argc, argv, ":ha:p:k:d:i:c:rvq")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'a': addr = opts_addr_arg(optarg); break;
        case 'p': port = opts_port_arg(optarg); break;
        case 'k': key = opts_key_arg(optarg); break;
        case 'd': dir = optarg; break;
        case 'i':
            index =
                (unsigned)opts_uint_arg("index", optarg, 0, MQPAIR_MAX_IO - 1);
            break;
        case 'c':
            max_conns = (unsigned)opts_uint_arg("connection limit", optarg, 1,
                                                FLOWTAB_MAX);
            break;
        case 'r': flags |= NET_REUSEPORT; break;
        case 'v': log_set_level(LOG_DEBUG); break;
        case 'q': log_set_level(LOG_ERROR); break;
        default: opts_bad_option(c, optopt);
        }
    }
    if (optind < argc)
        opts_fail("unexpected argument '%s'", argv[optind]);
    if (!dir)
        dir = mqpair_default_dir(default_dir, sizeof(default_dir));

    TAILQ_INIT(&srv.stalled);
    srv.base = event_base_new();
    srv.flows = flowtab_new(max_conns);
    if (!srv.base || !srv.flows) {
        log_error("out of memory");
        goto out_free_base;
    }
    if (mqpair_private_dir(dir) < 0) {
        log_error("FIFO directory %s: %s", dir, strerror(errno));
        goto out_free_base;
    }
    if (stats_setup(&srv.stats, mqpair_io_stats_key(key, index)) < 0) {
        log_error(
            "statistics key %#x: %s", (unsigned)mqpair_io_stats_key(key, index),
            errno == EEXIST ? "in use by a live process" : strerror(errno));
        goto out_free_base;
    }
    if (mqpair_open(&srv.mq, key, dir, index, MQPAIR_IO) < 0) {
        log_error("queues %#x in %s: %s", (unsigned)key, dir, strerror(errno));
        goto out_remove_stats;
    }
    ss = stopsig_new(srv.base, NULL, NULL);
    srv.wake_ev = event_new(srv.base, spscq_wait_fd(srv.mq.in),
                            EV_READ | EV_PERSIST, md_wake_cb, &srv);
    srv.retry_ev = evtimer_new(srv.base, retry_cb, &srv);
    srv.flush_ev = event_new(srv.base, -1, 0, flush_cb, &srv);
    if (!ss || !srv.wake_ev || !srv.retry_ev || !srv.flush_ev ||
        event_add(srv.wake_ev, NULL) < 0) {
        log_error("cannot set up events");
        goto out_free_events;
    }
    /* Replies may have queued while no io_conn ran: look now. */
    event_active(srv.wake_ev, EV_READ, 0);
    srv.lev = net_listen(srv.base, addr, port, flags, accept_cb, &srv);
    if (!srv.lev) {
        log_error("cannot listen on %s port %u: %s", addr, port,
                  strerror(errno));
        goto out_free_events;
    }
    evconnlistener_set_error_cb(srv.lev, accept_error_cb);
    if (net_announce(srv.lev) < 0) {
        log_error("cannot write to stdout: %s", strerror(errno));
        goto out_free_listener;
    }

    if (event_base_dispatch(srv.base) == 0 && stopsig_caught(ss))
        rc = 0;

out_free_listener:
    evconnlistener_free(srv.lev);
    free_all_conns(&srv);
out_free_events:
    if (srv.flush_ev)
        event_free(srv.flush_ev);
    if (srv.retry_ev)
        event_free(srv.retry_ev);
    if (srv.wake_ev)
        event_free(srv.wake_ev);
    stopsig_free(ss);
    mqpair_close(&srv.mq);
out_remove_stats:
    stats_remove(&srv.stats);
out_free_base:
    flowtab_free(srv.flows);
    if (srv.base)
        event_base_free(srv.base);
    libevent_global_shutdown();
    return rc;
}

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
 * in ch3-echo. Over all connections, common/budget.c bounds how many are
 * held (-c) and how many bytes wait in their buffers (-b); -t closes a
 * connection that sent nothing for that long, as echosvr_v2 does. */
#include "budget.h"
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

#define DEFAULT_ADDR "127.0.0.1"
#define DEFAULT_PORT 4680
#define OUT_HIGH     (256 * 1024)
#define OUT_LOW      (64 * 1024)
/* Bytes of one message to md: bounds the copy per message and leaves the
 * 4 MiB queue room for many connections' messages. */
#define CHUNK    (64 * 1024)
#define SEQ_SIZE 8
/* Replies handled per wake-up before other events get a turn. */
#define BATCH 256

static const char usage[] =
    " [-h] [-v | -q] [-a ADDR] [-p PORT] [-k KEY] [-d DIR] [-i INDEX]\n"
    "          [-c CONNS] [-b BYTES] [-t SECONDS] [-r]\n"
    "Network process of the two-process echo server: forwards what clients\n"
    "send to md over a shared-memory queue, and md's replies back.\n"
    "  -a ADDR   address to listen on (default " DEFAULT_ADDR ")\n"
    "  -p PORT   port to listen on, 0 for any free port (default 4680)\n"
    "  -k KEY    base System V key of the queues (default 0x5e7e0000)\n"
    "  -d DIR    directory of the wake-up FIFOs (default /tmp/svrtut-UID)\n"
    "  -i INDEX  which io_conn this is, 0 to 255, when several share the\n"
    "            port (default 0); each has its own pair of queues\n"
    "  -c CONNS  most connections open at once (default 65536); more are\n"
    "            accepted and closed at once (counted in conns_refused)\n"
    "  -b BYTES  most bytes buffered for all clients together, suffix k, M\n"
    "            or G (default 64M); beyond it a client whose echo waits\n"
    "            is not read until the echo is sent (limit_pauses)\n"
    "  -t SECONDS  close connections idle that long, 0 = never (default 0)\n"
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
    C_CONNS_REFUSED,  /* closed at once at -c */
    C_BYTES_HELD,     /* gauge: in connections' buffers and through md */
    C_LIMIT_PAUSES,   /* clients stopped at -b */
    C_IDLE_CLOSED,    /* closed by -t */
    C_NCOUNTERS
};

static const struct stats_def counters[C_NCOUNTERS] = {
    [C_CONNS_ACCEPTED] = {"conns_accepted", STATS_COUNTER},
    [C_CONNS_OPEN] = {"conns_open", STATS_GAUGE},
    [C_MSGS_TO_MD] = {"msgs_to_md", STATS_COUNTER},
    [C_BYTES_TO_MD] = {"bytes_to_md", STATS_COUNTER},
    [C_MSGS_FROM_MD] = {"msgs_from_md", STATS_COUNTER},
    [C_BYTES_FROM_MD] = {"bytes_from_md", STATS_COUNTER},
    [C_QUEUE_FULL] = {"queue_full", STATS_COUNTER},
    [C_DROPPED_CLOSED] = {"dropped_closed", STATS_COUNTER},
    [C_DROPPED_DUP] = {"dropped_dup", STATS_COUNTER},
    [C_CONNS_REFUSED] = {"conns_refused", STATS_COUNTER},
    [C_BYTES_HELD] = {"bytes_held", STATS_GAUGE},
    [C_LIMIT_PAUSES] = {"limit_pauses", STATS_COUNTER},
    [C_IDLE_CLOSED] = {"idle_closed", STATS_COUNTER},
};

/* What the command line sets. */
struct options {
    const char *addr, *dir;
    char default_dir[SRVKEYS_PATH_MAX];
    key_t key;
    uint16_t port;
    unsigned index, flags, max_conns;
    size_t max_bytes;
    time_t idle; /* seconds, 0: no idle timeout */
};

/* A connection's life: open, then (after the client's EOF) draining its
 * last echoes, then closed and freed. */
enum conn_state {
    CONN_OPEN,     /* reading and echoing */
    CONN_DRAINING, /* EOF read: finish the echo, then close */
};

struct conn {
    struct server *srv;
    struct bufferevent *bev;
    enum conn_state state;
    uint32_t flow;
    uint64_t seq_out; /* seq of the next message to md */
    uint64_t seq_in;  /* seq of the next reply expected */
    bool paused_out;  /* echo backed up: not reading */
    bool stalled;     /* queue to md full: not reading, on the list */
    struct budget_conn bc;
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
    struct budget budget; /* -c and -b, over all connections */
    struct timeval idle;  /* -t; {0, 0}: none */
    struct stats stats;
    unsigned char msg[SEQ_SIZE + CHUNK]; /* the message being pushed */
};

/* The budget's figures, then one commit for them and whatever the caller
 * counted before. */
static void commit_stats(struct server *srv)
{
    stats_set(&srv->stats, C_CONNS_REFUSED, srv->budget.refused);
    stats_set(&srv->stats, C_BYTES_HELD, srv->budget.bytes);
    stats_set(&srv->stats, C_LIMIT_PAUSES, srv->budget.pauses);
    stats_commit(&srv->stats);
}

static void conn_update_reading(struct conn *c)
{
    if (c->paused_out || c->stalled || c->state != CONN_OPEN ||
        !budget_may_read(&c->bc))
        bufferevent_disable(c->bev, EV_READ);
    else
        bufferevent_enable(c->bev, EV_READ);
}

/* After bytes came into c's buffers: at -b, c stops reading until its
 * output has drained (conn_write_cb). */
static void conn_check_budget(struct conn *c)
{
    if (!budget_may_read(&c->bc))
        bufferevent_disable(c->bev, EV_READ);
}

static void conn_free(struct conn *c) { free(c); }

/* The queue to md is full: c waits on the stalled list for the retry
 * timer. */
static void conn_stall(struct conn *c)
{
    struct server *srv = c->srv;

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
}

/* Queue the message whose len bytes are already in srv->msg after the
 * sequence number. 0, or -1: errno EAGAIN when the queue is full
 * (nothing queued); any other error stops the server. */
static int conn_push(struct conn *c, size_t len)
{
    struct server *srv = c->srv;

    memcpy(srv->msg, &c->seq_out, SEQ_SIZE);
    if (spscq_push_quiet(srv->mq.out, c->flow, srv->msg, SEQ_SIZE + len) < 0) {
        if (errno != EAGAIN) {
            log_error("queue to md: %s", strerror(errno));
            event_base_loopbreak(srv->base);
        }
        return -1;
    }
    c->seq_out++;
    if (!srv->wake_due) {
        srv->wake_due = true;
        event_active(srv->flush_ev, 0, 0);
    }
    return 0;
}

/* Close c's socket, forget its flow id and free it. */
static void conn_close(struct conn *c)
{
    struct server *srv = c->srv;

    if (c->stalled) {
        TAILQ_REMOVE(&srv->stalled, c, stall_link);
        c->stalled = false;
    }
    flowtab_del(srv->flows, c->flow);
    stats_set(&srv->stats, C_CONNS_OPEN, flowtab_count(srv->flows));
    log_debug("flow %#x closed", c->flow);
    budget_detach(&c->bc, c->bev);
    bufferevent_free(c->bev);
    c->bev = NULL;
    conn_free(c);
    commit_stats(srv);
}

/* A closing connection ends when md has answered everything it was sent
 * and the client has been sent every reply. */
static void conn_maybe_finish(struct conn *c)
{
    if (c->state == CONN_DRAINING && !c->stalled && c->seq_in == c->seq_out &&
        evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        conn_close(c);
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
        evbuffer_copyout(in, srv->msg + SEQ_SIZE, len);
        if (conn_push(c, len) < 0)
            goto out_stall;
        evbuffer_drain(in, len);
        budget_charge(&c->bc, len); /* away until md's echo is back */
        stats_add(&srv->stats, C_MSGS_TO_MD, 1);
        stats_add(&srv->stats, C_BYTES_TO_MD, len);
    }
    return true;

out_stall:
    if (errno == EAGAIN)
        conn_stall(c);
    return false;
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    (void)bev;
    if (!c->stalled && conn_forward(c))
        conn_check_budget(c);
    commit_stats(c->srv);
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
    commit_stats(srv);
}

/* The output drained to the low watermark (or, when closing, to zero). */
static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    if (c->paused_out) {
        c->paused_out = false;
        bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
    }
    if (!(bufferevent_get_enabled(bev) & EV_READ)) {
        conn_update_reading(c);
        commit_stats(c->srv);
    }
    conn_maybe_finish(c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;

    if (what & BEV_EVENT_TIMEOUT) {
        /* Only the read timeout is set: nothing arrived for -t seconds. */
        log_debug("flow %#x idle, closing", c->flow);
        stats_add(&c->srv->stats, C_IDLE_CLOSED, 1);
        conn_close(c); /* commits */
    } else if (what & BEV_EVENT_ERROR) {
        log_debug("flow %#x: %s", c->flow,
                  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        conn_close(c);
    } else if (what & BEV_EVENT_EOF) {
        c->state = CONN_DRAINING;
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
        log_error_limited("reply of %zu bytes for flow %#x: no sequence number",
                          len, id);
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
        log_error_limited("flow %#x: reply %llu arrived, %llu expected", id,
                          (unsigned long long)seq,
                          (unsigned long long)c->seq_in);
    c->seq_in = seq + 1;
    stats_add(&srv->stats, C_MSGS_FROM_MD, 1);
    stats_add(&srv->stats, C_BYTES_FROM_MD, len - SEQ_SIZE);
    budget_refund(&c->bc, len - SEQ_SIZE);
    out = bufferevent_get_output(c->bev);
    evbuffer_add(out, (const char *)data + SEQ_SIZE, len - SEQ_SIZE);
    if (!c->paused_out && evbuffer_get_length(out) >= OUT_HIGH) {
        c->paused_out = true;
        bufferevent_setwatermark(c->bev, EV_WRITE, OUT_LOW, 0);
        conn_update_reading(c);
    } else {
        conn_check_budget(c);
    }
    return 0;
}

/* md woke us: take a batch of replies (common/spscq.c:spscq_consume
 * sleeps again only when the queue is really empty). */
static void md_wake_cb(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;

    (void)fd;
    (void)what;
    switch (spscq_consume(srv->mq.in, reply_cb, srv, BATCH)) {
    case SPSCQ_IDLE: break;
    case SPSCQ_MORE:
        /* More may wait: let sockets have a turn, then come back. */
        event_active(srv->wake_ev, EV_READ, 0);
        break;
    case SPSCQ_BLOCKED: /* reply_cb never refuses */
    case SPSCQ_ERROR:
        log_error("queue from md: %s", strerror(errno));
        event_base_loopbreak(srv->base);
        return;
    }
    commit_stats(srv);
}

static void accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
                      struct sockaddr *sa, int salen, void *arg)
{
    struct server *srv = arg;
    struct conn *c;
    char peer[NET_ADDRSTRLEN];

    (void)lev;
    (void)salen;
    if (!budget_admit(&srv->budget)) { /* at -c: logged, once a second */
        commit_stats(srv); /* counted before the client can see it */
        evutil_closesocket(fd);
        return;
    }
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
    if (budget_attach(&srv->budget, &c->bc, c->bev) < 0)
        goto out_free_bev;
    net_nodelay(fd);
    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    /* A read timeout only, as in echosvr_v2: a client that is not being
     * read (backpressure, -b, a full queue) is not idle. */
    if (srv->idle.tv_sec > 0)
        bufferevent_set_timeouts(c->bev, &srv->idle, NULL);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    stats_add(&srv->stats, C_CONNS_ACCEPTED, 1);
    stats_set(&srv->stats, C_CONNS_OPEN, flowtab_count(srv->flows));
    commit_stats(srv);
    log_debug("flow %#x from %s", c->flow, net_format(sa, peer, sizeof(peer)));
    return;

out_free_bev:
    bufferevent_free(c->bev); /* closes fd */
    fd = -1;
out_del_flow:
    flowtab_del(srv->flows, c->flow);
out_free_conn:
    free(c);
out_close_fd:
    log_error_limited("accept: %s, dropping a connection",
                      errno == ENOSPC ? "too many connections"
                                      : "out of memory");
    if (fd >= 0)
        evutil_closesocket(fd);
}

static void accept_error_cb(struct evconnlistener *lev, void *arg)
{
    (void)arg;
    net_accept_backoff(lev);
}

static void free_all_conns(struct server *srv)
{
    uint32_t cursor = 0;
    void *obj;

    while (flowtab_next(srv->flows, &cursor, &obj))
        conn_close(obj);
}

static void parse_options(struct options *o, int argc, char **argv)
{
    int c;

    opterr = 0;
    while ((c = getopt(argc, argv, ":ha:p:k:d:i:c:b:t:rvq")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'a': o->addr = opts_addr_arg(optarg); break;
        case 'p': o->port = opts_port_arg(optarg); break;
        case 'k': o->key = opts_key_arg(optarg); break;
        case 'd': o->dir = optarg; break;
        case 'i':
            o->index =
                (unsigned)opts_uint_arg("index", optarg, 0, SRVKEYS_MAX_IO - 1);
            break;
        case 'c':
            o->max_conns = (unsigned)opts_uint_arg("connection limit", optarg,
                                                   1, FLOWTAB_MAX);
            break;
        case 'b':
            o->max_bytes =
                opts_size_arg("byte limit", optarg, 1, (size_t)1 << 40);
            break;
        case 't':
            o->idle = (time_t)opts_uint_arg("idle timeout", optarg, 0, 86400);
            break;
        case 'r': o->flags |= NET_REUSEPORT; break;
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

/* Statistics and queues: what io_conn shares with the others. */
static int open_shared(struct server *srv, const struct options *o)
{
    key_t stats_key = srvkeys_io_stats(o->key, o->index);

    if (mqpair_private_dir(o->dir) < 0) {
        log_error("FIFO directory %s: %s", o->dir, strerror(errno));
        return -1;
    }
    if (stats_create_table(&srv->stats, stats_key, "io_conn", counters,
                           C_NCOUNTERS) < 0) {
        log_error("statistics key %#x: %s", (unsigned)stats_key,
                  errno == EEXIST ? "in use by a live process"
                                  : strerror(errno));
        return -1;
    }
    if (mqpair_open(&srv->mq, o->key, o->dir, o->index, MQPAIR_IO) < 0) {
        log_error("queues %#x in %s: %s", (unsigned)o->key, o->dir,
                  strerror(errno));
        stats_remove(&srv->stats);
        return -1;
    }
    return 0;
}

static void close_shared(struct server *srv)
{
    mqpair_close(&srv->mq);
    stats_remove(&srv->stats);
}

/* The events besides the connections': md's wake-ups, the retry timer,
 * the once-per-turn wake of md. */
static int add_events(struct server *srv)
{
    srv->wake_ev = event_new(srv->base, spscq_wait_fd(srv->mq.in),
                             EV_READ | EV_PERSIST, md_wake_cb, srv);
    if (!srv->wake_ev || event_add(srv->wake_ev, NULL) < 0) {
        log_error("cannot watch the queue from md");
        return -1;
    }
    srv->retry_ev = evtimer_new(srv->base, retry_cb, srv);
    if (!srv->retry_ev) {
        log_error("cannot create the retry timer");
        return -1;
    }
    srv->flush_ev = event_new(srv->base, -1, 0, flush_cb, srv);
    if (!srv->flush_ev) {
        log_error("cannot create the wake-up event");
        return -1;
    }
    /* Replies may have queued while no io_conn ran: look now. */
    event_active(srv->wake_ev, EV_READ, 0);
    return 0;
}

static void free_events(struct server *srv)
{
    if (srv->flush_ev)
        event_free(srv->flush_ev);
    if (srv->retry_ev)
        event_free(srv->retry_ev);
    if (srv->wake_ev)
        event_free(srv->wake_ev);
}

static int start_listening(struct server *srv, const struct options *o)
{
    srv->lev =
        net_listen(srv->base, o->addr, o->port, o->flags, accept_cb, srv);
    if (!srv->lev) {
        log_error("cannot listen on %s port %u: %s", o->addr, o->port,
                  strerror(errno));
        return -1;
    }
    evconnlistener_set_error_cb(srv->lev, accept_error_cb);
    if (net_announce(srv->lev) < 0) {
        log_error("cannot write to stdout: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct server srv; /* holds a CHUNK-sized message buffer */
    struct options o = {.addr = DEFAULT_ADDR,
                        .key = SRVKEYS_DEFAULT_BASE,
                        .port = DEFAULT_PORT,
                        .max_conns = BUDGET_DEFAULT_CONNS,
                        .max_bytes = BUDGET_DEFAULT_BYTES};
    struct stopsig *ss = NULL;
    int rc = 1;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    parse_options(&o, argc, argv);
    TAILQ_INIT(&srv.stalled);
    budget_init(&srv.budget, o.max_conns, o.max_bytes);
    srv.idle.tv_sec = o.idle;
    srv.base = event_base_new();
    srv.flows = flowtab_new(o.max_conns);
    if (!srv.base || !srv.flows) {
        log_error("out of memory");
        goto out_free_base;
    }
    if (open_shared(&srv, &o) < 0)
        goto out_free_base;
    ss = stopsig_new(srv.base, NULL, NULL);
    if (!ss) {
        log_error("cannot watch signals: %s", strerror(errno));
        goto out_close_shared;
    }
    if (add_events(&srv) == 0 && start_listening(&srv, &o) == 0 &&
        event_base_dispatch(srv.base) == 0 && stopsig_caught(ss))
        rc = 0;

    if (srv.lev)
        evconnlistener_free(srv.lev);
    free_all_conns(&srv);
    free_events(&srv);
    stopsig_free(ss);
out_close_shared:
    close_shared(&srv);
out_free_base:
    flowtab_free(srv.flows);
    if (srv.base)
        event_base_free(srv.base);
    libevent_global_shutdown();
    return rc;
}

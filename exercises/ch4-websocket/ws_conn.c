/* ws_conn.c -- the network process of the two-process WebSocket echo
 * server: ch4-mq's io_conn speaking RFC 6455, with ch4-mq's md unchanged
 * doing the echo.
 *
 * A connection starts as HTTP: ws_handshake.c reads the request, and the
 * answer is a 101 and WebSocket frames from then on, the page (a plain
 * GET of /), or an HTTP error. Frames go through ws_frame.c's parser;
 * pings are answered here, and a data message is reassembled from its
 * fragments, validated (UTF-8, the size limit), and only then passed to
 * md, whole, in pieces of at most CHUNK bytes:
 *
 *     [seq u64][kind u8][bytes]   kind = opcode | PIECE_FIRST | PIECE_LAST
 *
 * md echoes each piece untouched (seq and kind included), so md needs no
 * WebSocket code and can be killed and restarted as in ch4-mq: the queue
 * keeps what md had not answered, and the seq check drops what it
 * answered twice. Each reply piece leaves as one frame: the first as a
 * text or binary frame, the rest as continuation frames, FIN on the
 * last. A message of up to CHUNK bytes comes back as one frame; a larger
 * one as fragments, which every client reassembles (RFC 6455 5.4).
 *
 * Closing: a close frame from the client, or a protocol error found by
 * the parser, stops reading; once md has answered everything sent so
 * far, the close frame goes out (the client's code echoed, or ours: 1002,
 * 1007, 1009), the socket is shut for writing, and what the client still
 * sends is read and discarded until it closes (LINGER_SEC at most), so
 * that unread bytes never turn our close into a reset. */
#include "flowtab.h"
#include "log.h"
#include "mqpair.h"
#include "net.h"
#include "now.h"
#include "opts.h"
#include "srvkeys.h"
#include "stats.h"
#include "stopsig.h"
#include "ws_frame.h"
#include "ws_handshake.h"

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
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_ADDR  "127.0.0.1"
#define DEFAULT_PORT  4690
#define DEFAULT_CONNS 65536
#define OUT_HIGH      (256 * 1024)
#define OUT_LOW       (64 * 1024)
/* Payload bytes of one piece to md: as ch4-mq's io_conn, a bounded copy
 * per message that leaves the 4 MiB queue room for many connections. */
#define CHUNK       (64 * 1024)
#define SEQ_SIZE    8
#define PIECE_HDR   (SEQ_SIZE + 1)
#define PIECE_FIRST 0x40
#define PIECE_LAST  0x80
/* Replies handled per wake-up before other events get a turn. */
#define BATCH 256
/* A client has this long to send its request head, and to close after our
 * last bytes: deadlines from the start of each state, so that a client
 * trickling a byte at a time cannot hold a connection for ever. (The same
 * times bound silence, through the bufferevent's read timeout.) */
#define HANDSHAKE_SEC 10
#define LINGER_SEC    2

extern const char ws_page[]; /* page.html, made into ws_page.c */

static const char usage[] =
    " [-h] [-v | -q] [-a ADDR] [-p PORT] [-k KEY] [-d DIR] [-i INDEX]\n"
    "          [-c CONNS] [-m SIZE] [-r]\n"
    "Network process of the two-process WebSocket echo server: speaks\n"
    "RFC 6455 to clients, passes their messages to md (ch4-mq's) over\n"
    "shared-memory queues and md's replies back; a plain GET of / serves\n"
    "a page to try it in a browser.\n"
    "  -a ADDR   address to listen on (default " DEFAULT_ADDR ")\n"
    "  -p PORT   port to listen on, 0 for any free port (default 4690)\n"
    "  -k KEY    base System V key of the queues (default 0x5e7e0000)\n"
    "  -d DIR    directory of the wake-up FIFOs (default /tmp/svrtut-UID)\n"
    "  -i INDEX  which io_conn this is, 0 to 255 (default 0)\n"
    "  -c CONNS  most connections open at once (default 65536)\n"
    "  -m SIZE   largest message a client may send, all fragments\n"
    "            together (default 16M); a larger one is closed with 1009\n"
    "  -r        share the port with other processes (SO_REUSEPORT)\n"
    "  -v        log every connection (debug level)\n"
    "  -q        log errors only\n"
    "  -h        show this help\n"
    "Prints 'listening on ADDR:PORT' when ready; SIGINT or SIGTERM stop it.\n";

enum counter {
    C_CONNS_ACCEPTED,
    C_CONNS_OPEN,
    C_UPGRADES,     /* handshakes answered with 101 */
    C_REFUSED,      /* requests answered with an HTTP error */
    C_PAGES,        /* plain GETs of the page */
    C_MSGS_IN,      /* whole messages from clients */
    C_PIECES_TO_MD, /* pieces of at most CHUNK bytes */
    C_BYTES_TO_MD,  /* payload bytes */
    C_PIECES_FROM_MD,
    C_BYTES_FROM_MD,
    C_PINGS,
    C_PROTOCOL_ERRORS, /* connections closed with 1002, 1007 or 1009 */
    C_QUEUE_FULL,      /* pushes refused: the queue to md was full */
    C_DROPPED_CLOSED,  /* replies for flows closed meanwhile */
    C_DROPPED_DUP,     /* replies md sent twice (after a restart) */
    C_NCOUNTERS
};

static const struct stats_def counters[C_NCOUNTERS] = {
    [C_CONNS_ACCEPTED] = {"conns_accepted", STATS_COUNTER},
    [C_CONNS_OPEN] = {"conns_open", STATS_GAUGE},
    [C_UPGRADES] = {"upgrades", STATS_COUNTER},
    [C_REFUSED] = {"refused", STATS_COUNTER},
    [C_PAGES] = {"pages", STATS_COUNTER},
    [C_MSGS_IN] = {"msgs_in", STATS_COUNTER},
    [C_PIECES_TO_MD] = {"pieces_to_md", STATS_COUNTER},
    [C_BYTES_TO_MD] = {"bytes_to_md", STATS_COUNTER},
    [C_PIECES_FROM_MD] = {"pieces_from_md", STATS_COUNTER},
    [C_BYTES_FROM_MD] = {"bytes_from_md", STATS_COUNTER},
    [C_PINGS] = {"pings", STATS_COUNTER},
    [C_PROTOCOL_ERRORS] = {"protocol_errors", STATS_COUNTER},
    [C_QUEUE_FULL] = {"queue_full", STATS_COUNTER},
    [C_DROPPED_CLOSED] = {"dropped_closed", STATS_COUNTER},
    [C_DROPPED_DUP] = {"dropped_dup", STATS_COUNTER},
};

/* What the command line sets. */
struct options {
    const char *addr, *dir;
    char default_dir[SRVKEYS_PATH_MAX];
    key_t key;
    uint16_t port;
    unsigned index, flags, max_conns;
    uint64_t max_message;
};

enum conn_state {
    CONN_HANDSHAKE, /* reading the HTTP request head */
    CONN_OPEN,      /* WebSocket frames both ways */
    CONN_CLOSING,   /* close received or protocol error: finish replies */
    CONN_LINGER,    /* our last bytes queued: shut, discard until EOF */
};

struct conn {
    struct server *srv;
    struct bufferevent *bev;
    uint32_t flow;
    enum conn_state state;
    struct ws_parser parser;
    struct evbuffer *msg; /* the message being reassembled, then sent */
    uint8_t msg_opcode;
    bool msg_ready;      /* msg is whole: forwarding it to md */
    bool msg_started;    /* its first piece is queued */
    bool reply_open;     /* a reply's first piece went out, not its last */
    bool shut;           /* shutdown(SHUT_WR) done */
    uint16_t close_code; /* what our close frame says; 1005: no code */
    uint64_t seq_out;    /* seq of the next piece to md */
    uint64_t seq_in;     /* seq of the next reply expected */
    int64_t deadline_ns; /* handshake or linger ends by then; 0: none */
    bool paused_out;     /* output backed up: not reading */
    bool stalled;        /* queue to md full: not reading */
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
    uint64_t max_message;
    size_t page_len;
    struct stats stats;
    unsigned char piece[PIECE_HDR + CHUNK]; /* the piece being pushed */
};

static void conn_update_reading(struct conn *c)
{
    bool reading = c->state != CONN_CLOSING && !c->paused_out && !c->stalled;

    if (reading)
        bufferevent_enable(c->bev, EV_READ);
    else
        bufferevent_disable(c->bev, EV_READ);
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
    evbuffer_free(c->msg);
    free(c);
}

/* Append one unmasked frame to c's output. */
static void conn_send_frame(struct conn *c, unsigned opcode, bool fin,
                            const void *data, size_t len)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    unsigned char hdr[WS_HEADER_MAX];
    size_t n = ws_frame_header(hdr, fin, opcode, len, NULL);

    evbuffer_add(out, hdr, n);
    evbuffer_add(out, data, len);
    if (!c->paused_out && evbuffer_get_length(out) >= OUT_HIGH) {
        c->paused_out = true;
        bufferevent_setwatermark(c->bev, EV_WRITE, OUT_LOW, 0);
        conn_update_reading(c);
    }
}

/* Nothing more will be sent but what is queued: once it has gone, shut
 * our side and discard the client's bytes until it closes. */
static void conn_linger(struct conn *c)
{
    struct timeval linger = {LINGER_SEC, 0};

    c->state = CONN_LINGER;
    c->deadline_ns = now_mono_ns() + LINGER_SEC * 1000000000LL;
    c->paused_out = false;
    evbuffer_drain(bufferevent_get_input(c->bev), (size_t)-1);
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    bufferevent_set_timeouts(c->bev, &linger, &linger);
    conn_update_reading(c);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 && !c->shut) {
        c->shut = true;
        shutdown(bufferevent_getfd(c->bev), SHUT_WR);
    }
}

/* The close frame: the client's code echoed, or the one we fail with. */
static void conn_send_close(struct conn *c)
{
    unsigned char code[2] = {(unsigned char)(c->close_code >> 8),
                             (unsigned char)c->close_code};

    conn_send_frame(c, WS_OP_CLOSE, true, code,
                    c->close_code == WS_CLOSE_NO_STATUS ? 0 : 2);
    conn_linger(c);
}

/* A closing connection sends its close frame once md has answered every
 * piece it was sent. */
static void conn_maybe_finish(struct conn *c)
{
    if (c->state == CONN_CLOSING && !c->msg_ready && c->seq_in == c->seq_out)
        conn_send_close(c);
}

static void conn_start_close(struct conn *c, uint16_t code)
{
    c->state = CONN_CLOSING;
    c->close_code = code;
    evbuffer_drain(c->msg, (size_t)-1); /* a message cut short */
    conn_update_reading(c);
    conn_maybe_finish(c);
}

/* Something on our side broke (memory, md's replies): close with 1011
 * now, without waiting for md. */
static void conn_abort(struct conn *c, const char *why)
{
    log_error_limited("flow %#x: %s; closing it with 1011", c->flow, why);
    c->msg_ready = false;
    c->close_code = WS_CLOSE_INTERNAL;
    evbuffer_drain(c->msg, (size_t)-1);
    conn_send_close(c);
}

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

/* Push the whole message to md, piece by piece, as far as the queue
 * takes. false: it is full, c is stalled until the retry timer. */
static bool conn_forward(struct conn *c)
{
    struct server *srv = c->srv;

    while (c->msg_ready) {
        size_t len = evbuffer_get_length(c->msg), n = len;
        unsigned char kind = c->msg_opcode;

        if (n > CHUNK)
            n = CHUNK;
        kind |= c->msg_started ? 0 : PIECE_FIRST;
        kind |= n == len ? PIECE_LAST : 0;
        memcpy(srv->piece, &c->seq_out, SEQ_SIZE);
        srv->piece[SEQ_SIZE] = kind;
        evbuffer_copyout(c->msg, srv->piece + PIECE_HDR, n);
        if (spscq_push_quiet(srv->mq.out, c->flow, srv->piece, PIECE_HDR + n) <
            0) {
            if (errno == EAGAIN) {
                conn_stall(c);
            } else {
                log_error("queue to md: %s", strerror(errno));
                event_base_loopbreak(srv->base);
            }
            return false;
        }
        evbuffer_drain(c->msg, n);
        c->seq_out++;
        c->msg_started = true;
        c->msg_ready = n < len;
        if (!srv->wake_due) {
            srv->wake_due = true;
            event_active(srv->flush_ev, 0, 0);
        }
        stats_add(&srv->stats, C_PIECES_TO_MD, 1);
        stats_add(&srv->stats, C_BYTES_TO_MD, n);
    }
    return true;
}

/* What the frame parser found. */
static void conn_on_event(struct conn *c, const struct ws_event *ev)
{
    struct server *srv = c->srv;

    switch (ev->type) {
    case WS_EV_DATA:
        if (ev->first)
            c->msg_opcode = ev->opcode;
        if (evbuffer_add(c->msg, ev->data, ev->len) < 0) {
            conn_abort(c, "out of memory");
            return;
        }
        if (ev->last) {
            c->msg_ready = true;
            c->msg_started = false;
            stats_add(&srv->stats, C_MSGS_IN, 1);
        }
        break;
    case WS_EV_PING:
        stats_add(&srv->stats, C_PINGS, 1);
        conn_send_frame(c, WS_OP_PONG, true, ev->data, ev->len);
        break;
    case WS_EV_PONG: break; /* we never ping: an unsolicited pong */
    case WS_EV_CLOSE:
        log_debug("flow %#x: close %u from the client", c->flow, ev->code);
        conn_start_close(c, ev->code);
        break;
    case WS_EV_ERROR:
        log_debug("flow %#x: protocol error, closing with %u", c->flow,
                  ev->code);
        stats_add(&srv->stats, C_PROTOCOL_ERRORS, 1);
        conn_start_close(c, ev->code);
        break;
    case WS_EV_NONE: break;
    }
}

/* Parse the input up to the next whole message, forward it, and go on
 * while the queue takes it. */
static void conn_process(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);

    while (c->state == CONN_OPEN) {
        struct evbuffer_iovec v;
        struct ws_event ev;
        size_t used;

        if (c->msg_ready && !conn_forward(c))
            return;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            return;
        used = ws_parse(&c->parser, v.iov_base, v.iov_len, &ev);
        conn_on_event(c, &ev); /* ev.data may point into in: drain after */
        evbuffer_drain(in, used);
    }
}

static void conn_send_page(struct conn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);

    evbuffer_add_printf(out,
                        "HTTP/1.1 200 OK\r\n"
                        "Content-Type: text/html; charset=utf-8\r\n"
                        "Content-Length: %zu\r\n"
                        "Cache-Control: no-store\r\n"
                        "Connection: close\r\n\r\n",
                        c->srv->page_len);
    evbuffer_add(out, ws_page, c->srv->page_len);
    stats_add(&c->srv->stats, C_PAGES, 1);
}

/* The request head, once it is whole: answer it. */
static void conn_handshake(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t len = evbuffer_get_length(in);
    struct ws_request req;
    char resp[512];
    const char *head;
    int n;

    if (len > WS_HEAD_MAX)
        len = WS_HEAD_MAX;
    head = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
    if (!head || ws_handshake_parse(head, len, WS_HEAD_MAX, &req) == 0)
        return; /* not whole yet */
    evbuffer_drain(in, req.head_len);
    if (req.status == 101 &&
        (n = ws_handshake_response(&req, resp, sizeof(resp))) > 0) {
        evbuffer_add(out, resp, (size_t)n);
        c->state = CONN_OPEN;
        c->deadline_ns = 0;
        bufferevent_set_timeouts(c->bev, NULL, NULL);
        stats_add(&c->srv->stats, C_UPGRADES, 1);
        conn_process(c); /* a first frame may have come with the head */
        return;
    }
    if (req.status == 200) {
        conn_send_page(c);
    } else {
        if (req.status == 101) /* libcrypto failed: our fault */
            req = (struct ws_request){.status = 500, .why = "internal error"};
        log_debug("flow %#x: HTTP %d, %s", c->flow, req.status, req.why);
        n = ws_handshake_error(&req, resp, sizeof(resp));
        if (n > 0)
            evbuffer_add(out, resp, (size_t)n);
        stats_add(&c->srv->stats, C_REFUSED, 1);
    }
    conn_linger(c);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    if (c->deadline_ns && now_mono_ns() > c->deadline_ns) {
        log_debug("flow %#x: past its deadline", c->flow);
        conn_free(c);
        return;
    }

    switch (c->state) {
    case CONN_HANDSHAKE: conn_handshake(c); break;
    case CONN_OPEN:
        if (!c->stalled)
            conn_process(c);
        break;
    case CONN_CLOSING: break; /* not reading; bytes wait for the linger */
    case CONN_LINGER:
        evbuffer_drain(bufferevent_get_input(bev), (size_t)-1);
        break;
    }
    stats_commit(&c->srv->stats);
}

/* Runs after the other callbacks of this loop turn: one wake-up for md
 * covers every piece they pushed. */
static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;

    (void)fd;
    (void)what;
    srv->wake_due = false;
    spscq_wake(srv->mq.out);
}

/* The queue to md had no room: go on with the stalled connections,
 * oldest first, until one stalls again. */
static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;
    struct conn *c;

    (void)fd;
    (void)what;
    while ((c = TAILQ_FIRST(&srv->stalled)) != NULL) {
        TAILQ_REMOVE(&srv->stalled, c, stall_link);
        c->stalled = false;
        conn_process(c);
        if (c->stalled)
            break;
        conn_update_reading(c);
    }
    stats_commit(&srv->stats);
}

/* The output drained to the low watermark (or, lingering, to zero). */
static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    if (c->state == CONN_LINGER) {
        if (!c->shut) {
            c->shut = true;
            shutdown(bufferevent_getfd(bev), SHUT_WR);
        }
        return;
    }
    if (c->paused_out) {
        c->paused_out = false;
        bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
        conn_update_reading(c);
        if (c->state == CONN_OPEN && !c->stalled)
            conn_process(c); /* frames may be waiting in the input */
    }
}

/* EOF, an error or a timeout: whatever the state, the connection is
 * over. A client gone before its close frame loses its pending echoes;
 * their replies are dropped as dropped_closed. */
static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;

    (void)bev;
    if (what & BEV_EVENT_ERROR)
        log_debug("flow %#x: %s", c->flow,
                  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    else if (what & BEV_EVENT_TIMEOUT)
        log_debug("flow %#x: timed out", c->flow);
    conn_free(c);
}

/* One reply piece from md: [seq][kind][bytes] for flow id. */
static int reply_cb(uint32_t id, const void *data, size_t len, void *arg)
{
    struct server *srv = arg;
    struct conn *c = flowtab_get(srv->flows, id);
    const unsigned char *p = data;
    unsigned kind, opcode;
    bool first;
    uint64_t seq;

    if (len < PIECE_HDR) {
        log_error("reply of %zu bytes for flow %#x: no header", len, id);
        return 0;
    }
    if (!c) {
        stats_add(&srv->stats, C_DROPPED_CLOSED, 1);
        return 0;
    }
    memcpy(&seq, p, SEQ_SIZE);
    if (seq < c->seq_in) {
        stats_add(&srv->stats, C_DROPPED_DUP, 1);
        return 0;
    }
    if (c->state == CONN_LINGER)
        return 0; /* aborted: nothing more goes out */
    kind = p[SEQ_SIZE];
    opcode = kind & 0x0f;
    first = kind & PIECE_FIRST;
    /* md is another program: check the pieces come as they were sent. */
    if (seq > c->seq_in || first == c->reply_open ||
        (opcode != WS_OP_TEXT && opcode != WS_OP_BINARY)) {
        conn_abort(c, "reply out of order or malformed");
        return 0;
    }
    c->seq_in = seq + 1;
    c->reply_open = !(kind & PIECE_LAST);
    stats_add(&srv->stats, C_PIECES_FROM_MD, 1);
    stats_add(&srv->stats, C_BYTES_FROM_MD, len - PIECE_HDR);
    conn_send_frame(c, first ? opcode : WS_OP_CONT, kind & PIECE_LAST,
                    p + PIECE_HDR, len - PIECE_HDR);
    conn_maybe_finish(c);
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
    stats_commit(&srv->stats);
}

static void accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
                      struct sockaddr *sa, int salen, void *arg)
{
    struct server *srv = arg;
    struct timeval handshake = {HANDSHAKE_SEC, 0};
    struct conn *c;
    char peer[NET_ADDRSTRLEN];

    (void)lev;
    (void)salen;
    c = calloc(1, sizeof(*c));
    if (!c)
        goto out_close_fd;
    c->srv = srv;
    c->deadline_ns = now_mono_ns() + HANDSHAKE_SEC * 1000000000LL;
    ws_parser_init(&c->parser, WS_SERVER, srv->max_message);
    c->msg = evbuffer_new();
    if (!c->msg)
        goto out_free_conn;
    c->flow = flowtab_add(srv->flows, c);
    if (!c->flow)
        goto out_free_msg;
    c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev)
        goto out_del_flow;
    net_nodelay(fd);
    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    bufferevent_set_timeouts(c->bev, &handshake, NULL);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    stats_add(&srv->stats, C_CONNS_ACCEPTED, 1);
    stats_set(&srv->stats, C_CONNS_OPEN, flowtab_count(srv->flows));
    stats_commit(&srv->stats);
    log_debug("flow %#x from %s", c->flow, net_format(sa, peer, sizeof(peer)));
    return;

out_del_flow:
    flowtab_del(srv->flows, c->flow);
out_free_msg:
    evbuffer_free(c->msg);
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

/* The server is stopping: a WebSocket that has not had our close frame
 * gets 1001 (going away) behind what is queued, in one write that does
 * not wait. A client that stopped reading gets what fits in its socket
 * buffer, and may see the connection end inside a frame. */
static void conn_goodbye(struct conn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);

    if (c->state == CONN_OPEN || c->state == CONN_CLOSING) {
        size_t len;
        unsigned char *data;

        c->close_code = WS_CLOSE_GOING_AWAY;
        conn_send_close(c);
        /* The bufferevent owns the output's start: copy, do not drain. */
        len = evbuffer_get_length(out);
        data = evbuffer_pullup(out, -1);
        if (data && send(bufferevent_getfd(c->bev), data, len,
                         MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
            log_debug("flow %#x: no room for the close frame", c->flow);
    }
    conn_free(c);
}

static void free_all_conns(struct server *srv)
{
    uint32_t cursor = 0;
    void *obj;

    while (flowtab_next(srv->flows, &cursor, &obj))
        conn_goodbye(obj);
}

static void parse_options(struct options *o, int argc, char **argv)
{
    int c;

    opterr = 0;
    while ((c = getopt(argc, argv, ":ha:p:k:d:i:c:m:rvq")) != -1) {
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
        case 'm':
            o->max_message =
                opts_size_arg("message size", optarg, 0, (size_t)1 << 30);
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

/* Statistics and queues: what ws_conn shares with md. */
static int open_shared(struct server *srv, const struct options *o)
{
    key_t stats_key = srvkeys_io_stats(o->key, o->index);

    if (mqpair_private_dir(o->dir) < 0) {
        log_error("FIFO directory %s: %s", o->dir, strerror(errno));
        return -1;
    }
    if (stats_create_table(&srv->stats, stats_key, "ws_conn", counters,
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
    /* Replies may have queued while no ws_conn ran: look now. */
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
    static struct server srv; /* holds a CHUNK-sized piece buffer */
    struct options o = {.addr = DEFAULT_ADDR,
                        .key = SRVKEYS_DEFAULT_BASE,
                        .port = DEFAULT_PORT,
                        .max_conns = DEFAULT_CONNS,
                        .max_message = WS_DEFAULT_MAX_MESSAGE};
    struct stopsig *ss = NULL;
    int rc = 1;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    parse_options(&o, argc, argv);
    TAILQ_INIT(&srv.stalled);
    srv.max_message = o.max_message;
    srv.page_len = strlen(ws_page);
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

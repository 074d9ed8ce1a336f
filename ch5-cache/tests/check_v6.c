/* check_v6.c -- the v6 server end to end: echosvr_v6 starting md and
 * io_conn, sessions as viewcache (a separate process) lists them, md
 * restarts that keep the table, the message format io_conn speaks,
 * shutdown, and every new program's command line. */
#include "../session.h"
#include "fixture.h"
#include "mhash.h"
#include "mqpair.h"
#include "stats.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define SERVER       "./echosvr_v6"
#define MAX_SESSIONS 600

/* md and io_conn get this long to exit after SIGTERM. */
#define STOP_MS 5000

static struct fixture_srv fs;

static void setup(void) { fixture_srv_init(&fs); }

/* echosvr_v6 -p 0 -k KEY -d DIR plus up to 2 more arguments. */
static struct hproc *start_v6(const char *a1, const char *a2)
{
    const char *extra[] = {a1, a2, NULL};

    return fixture_srv_start(&fs, SERVER, extra);
}

/* --- viewcache, as a user runs it ---------------------------------------- */

struct vc_session {
    unsigned io, flow;
    char peer[64];
    unsigned long long msgs, bytes;
};

struct vc_listing {
    int live; /* from the summary line */
    int n;    /* session lines */
    struct vc_session s[MAX_SESSIONS];
};

/* Parse viewcache's output: the summary line, the header, session lines
 * until the "table:" line. */
static void vc_parse(const char *out, struct vc_listing *l)
{
    const char *line = out;
    bool in_table = false;

    memset(l, 0, sizeof(*l));
    l->live = -1;
    ck_assert_msg(sscanf(out, "sessions: %d live", &l->live) == 1,
                  "no summary line in:\n%s", out);
    while ((line = strchr(line, '\n')) != NULL && *++line) {
        struct vc_session *s = &l->s[l->n];
        if (strncmp(line, "   io ", 6) == 0) {
            in_table = true;
            continue;
        }
        if (strncmp(line, "table:", 6) == 0)
            break;
        ck_assert_msg(in_table, "unexpected line in:\n%s", out);
        ck_assert_int_lt(l->n, MAX_SESSIONS);
        ck_assert_msg(sscanf(line, "%u %x %63s %llu %llu", &s->io, &s->flow,
                             s->peer, &s->msgs, &s->bytes) == 5,
                      "bad session line in:\n%s", out);
        l->n++;
    }
    ck_assert_msg(line != NULL && strstr(line, "load") != NULL,
                  "no table line in:\n%s", out);
    ck_assert_int_eq(l->n, l->live);
}

static void viewcache(struct vc_listing *l)
{
    const char *argv[] = {"./viewcache", "-k", fs.key, NULL};
    char *out = NULL, *err = NULL;
    int rc = harness_run(argv, 5000, &out, &err);

    ck_assert_msg(rc == 0, "viewcache exit %d: %s", rc, err);
    ck_assert_msg(err[0] == '\0', "viewcache wrote to stderr: %s", err);
    vc_parse(out, l);
    free(out);
    free(err);
}

/* viewcache until it shows n sessions; the last listing in *l. */
static void viewcache_until(struct vc_listing *l, int n)
{
    for (int i = 0; i < 100; i++) {
        viewcache(l);
        if (l->n == n)
            return;
        usleep(harness_ms(20) * 1000);
    }
    ck_abort_msg("viewcache shows %d sessions, not %d", l->n, n);
}

/* --- clients ------------------------------------------------------------- */

struct client {
    int fd;
    char peer[64]; /* "127.0.0.1:PORT", as md records it */
    unsigned long long msgs, bytes;
};

static void client_connect(struct client *c, uint16_t port)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    memset(c, 0, sizeof(*c));
    c->fd = harness_connect(port);
    ck_assert_msg(c->fd >= 0, "connect: %s", strerror(errno));
    ck_assert_int_eq(getsockname(c->fd, (struct sockaddr *)&sin, &len), 0);
    snprintf(c->peer, sizeof(c->peer), "127.0.0.1:%u",
             (unsigned)ntohs(sin.sin_port));
}

/* One message of len bytes and its echo, before the next: md sees one
 * message per call. */
static void client_pingpong(struct client *c, size_t len, uint32_t seed)
{
    unsigned char out[1024], in[1024];

    ck_assert_uint_le(len, sizeof(out));
    harness_fill(out, len, seed);
    ck_assert_int_eq(harness_write_all(c->fd, out, len), 0);
    ck_assert_int_eq(harness_read_all(c->fd, in, len), 0);
    ck_assert_msg(memcmp(in, out, len) == 0, "echo differs");
    c->msgs++;
    c->bytes += len;
}

/* Every client has exactly one session line with its counts. */
static void assert_sessions(const struct vc_listing *l, const struct client *c,
                            int n)
{
    ck_assert_int_eq(l->n, n);
    for (int i = 0; i < n; i++) {
        int found = 0;
        for (int k = 0; k < l->n; k++) {
            const struct vc_session *s = &l->s[k];
            if (strcmp(s->peer, c[i].peer) != 0)
                continue;
            found++;
            ck_assert_msg(s->msgs == c[i].msgs && s->bytes == c[i].bytes,
                          "%s: %llu msgs %llu bytes, expected %llu and %llu",
                          c[i].peer, s->msgs, s->bytes, c[i].msgs, c[i].bytes);
        }
        ck_assert_msg(found == 1, "%s listed %d times", c[i].peer, found);
    }
}

static void traffic(struct client *c, int n, int round)
{
    for (int i = 0; i < n; i++) {
        int msgs = 1 + (i + round) % 4;
        for (int m = 0; m < msgs; m++)
            client_pingpong(&c[i], 1 + (size_t)(i * 37 + m * 101) % 700,
                            (uint32_t)(round * 1000 + i * 10 + m));
    }
}

/* --- tests ---------------------------------------------------------------- */

/* 20 clients send known traffic and stay: viewcache lists 20 sessions
 * with their peers and counts; once they close, none. */
START_TEST(test_v6_sessions_listed)
{
    enum { N = 20 };
    struct hproc *srv = start_v6(NULL, NULL);
    struct client c[N];
    struct vc_listing l;

    for (int i = 0; i < N; i++)
        client_connect(&c[i], srv->port);
    traffic(c, N, 0);
    viewcache(&l);
    assert_sessions(&l, c, N);
    for (int i = 0; i < N; i++) {
        ck_assert_uint_eq(l.s[i].io, 0);
        for (int k = 0; k < i; k++)
            ck_assert_uint_ne(l.s[i].flow, l.s[k].flow);
    }
    for (int i = 0; i < N; i++)
        close(c[i].fd);
    viewcache_until(&l, 0);
    ck_assert_int_eq(l.live, 0);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* md killed with SIGKILL: the launcher starts a new one, which attaches
 * to the table as it is and keeps counting. */
START_TEST(test_v6_md_restart_keeps_sessions)
{
    enum { N = 10 };
    struct hproc *srv = start_v6(NULL, NULL);
    key_t md_stats = srvkeys_md_stats(fs.base);
    struct client c[N];
    struct vc_listing l;

    for (int i = 0; i < N; i++)
        client_connect(&c[i], srv->port);
    traffic(c, N, 0);
    viewcache(&l);
    assert_sessions(&l, c, N);

    fixture_kill_md(&fs);
    viewcache(&l);
    assert_sessions(&l, c, N);
    traffic(c, N, 1);
    viewcache(&l);
    assert_sessions(&l, c, N);
    ck_assert_uint_eq(
        fixture_counter(srvkeys_launcher_stats(fs.base), "md_restarts"), 1);
    ck_assert_uint_eq(fixture_counter(md_stats, "sessions"), N);
    for (int i = 0; i < N; i++)
        close(c[i].fd);
    viewcache_until(&l, 0);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* md killed three times at random moments (seed printed) while clients
 * send and wait for their echoes.
 * A slow md (-s: it sleeps after counting a message, before echoing it)
 * is almost always killed holding a counted message, which the next md
 * handles again: echoed and counted once all the same. */
START_TEST(test_v6_md_killed_counts_exact)
{
    enum { N = 8 };
    struct hproc *srv = start_v6("-s", "20000");
    struct client c[N];
    struct vc_listing l;
    pid_t killer;
    int round = 0;

    for (int i = 0; i < N; i++)
        client_connect(&c[i], srv->port);
    killer = fixture_md_killer(&fs, 3, 80,
                               harness_seed("md killed at random moments"));
    while (!fixture_md_killer_done(killer))
        traffic(c, N, round++);
    traffic(c, N, round++);
    ck_assert_uint_eq(
        fixture_counter(srvkeys_launcher_stats(fs.base), "md_restarts"), 3);
    viewcache(&l);
    assert_sessions(&l, c, N);
    for (int i = 0; i < N; i++)
        close(c[i].fd);
    viewcache_until(&l, 0);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* md killed three times at random moments (seed printed) while 20
 * clients stream 512 KiB each, over and over: every byte comes back once,
 * in order, and once the clients are gone so are their sessions (every
 * CLOSE in the queue was handled, whichever md took it). */
START_TEST(test_v6_md_killed_stream_exact)
{
    struct hproc *srv = start_v6(NULL, NULL);
    struct vc_listing l;

    fixture_stream_through_md_kills(&fs, srv->port, 20, 512 * 1024, 3);
    ck_assert_uint_eq(
        fixture_counter(srvkeys_launcher_stats(fs.base), "md_restarts"), 3);
    viewcache_until(&l, 0);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* One of two io_conn killed with SIGKILL at a random moment (seed
 * printed) while 20 clients stream: each sees a correct echo, then its
 * connection closed; the launcher exits 1 and leaves nothing, session
 * table included; a new server on the same keys serves, with a table of
 * its own sessions only. */
START_TEST(test_v6_io_conn_killed)
{
    struct hproc *srv = start_v6("-n", "2");
    struct vc_listing l;
    struct client c;
    pid_t kids[3];

    fixture_srv_pids(&fs, 2, kids);
    fixture_stream_through_io_kill(&fs, srv, 2, 20, 1024 * 1024);
    fixture_srv_assert_gone(&fs, kids, 3);
    srv = start_v6("-n", "2");
    client_connect(&c, srv->port);
    traffic(&c, 1, 0);
    viewcache(&l);
    assert_sessions(&l, &c, 1);
    close(c.fd);
    ck_assert_msg(echo_check_clients(srv->port, 20, 100, 30000) == 0, "%s",
                  harness_error());
    viewcache_until(&l, 0);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* The echo itself: many clients, sizes up to 8 MiB, half-close; every
 * byte comes back, and every session is gone afterwards. */
START_TEST(test_v6_every_byte_echoed)
{
    struct hproc *srv = start_v6(NULL, NULL);
    struct vc_listing l;

    ck_assert_msg(echo_check_clients(srv->port, 50, 200, 30000) == 0, "%s",
                  harness_error());
    ck_assert_msg(echo_check_sizes(srv->port, 30000) == 0, "%s",
                  harness_error());
    ck_assert_msg(echo_check_half_close(srv->port, 30000) == 0, "%s",
                  harness_error());
    viewcache_until(&l, 0);
    ck_assert_uint_eq(
        fixture_counter(srvkeys_io_stats(fs.base, 0), "pool_used"), 0);
    ck_assert_uint_ge(
        fixture_counter(srvkeys_io_stats(fs.base, 0), "pool_high_water"), 50);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* -n 2: both io_conn processes report sessions to the one md, and the
 * keys stay apart although their flow ids overlap. */
START_TEST(test_v6_two_io_conn)
{
    enum { N = 24 };
    struct hproc *srv = start_v6("-n", "2");
    struct client c[N];
    struct vc_listing l;
    int per_io[2] = {0, 0};

    for (int i = 0; i < N; i++)
        client_connect(&c[i], srv->port);
    traffic(c, N, 0);
    viewcache(&l);
    assert_sessions(&l, c, N);
    for (int i = 0; i < N; i++) {
        ck_assert_uint_lt(l.s[i].io, 2);
        per_io[l.s[i].io]++;
    }
    ck_assert_msg(per_io[0] > 0 && per_io[1] > 0, "sessions %d and %d",
                  per_io[0], per_io[1]);
    for (int i = 0; i < N; i++)
        close(c[i].fd);
    viewcache_until(&l, 0);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* -c 2: a table for two sessions is far below what 20 decreasing rows
 * need, so md creates its smallest table instead of failing to start
 * (it used to be restarted every second, and clients were accepted but
 * never answered). Both clients are echoed and listed, md runs once, and
 * a third connection is refused by io_conn's pool, not by md. */
START_TEST(test_v6_small_table)
{
    enum { N = 2 };
    struct hproc *srv = start_v6("-c", "2");
    struct client c[N + 1];
    struct vc_listing l;
    char byte;

    for (int i = 0; i < N; i++)
        client_connect(&c[i], srv->port);
    traffic(c, N, 0);
    viewcache(&l);
    assert_sessions(&l, c, N);
    client_connect(&c[N], srv->port);
    ck_assert_msg(harness_read_all(c[N].fd, &byte, 1) < 0,
                  "a connection over -c 2 was served");
    close(c[N].fd);
    ck_assert_uint_eq(fixture_counter_until(srvkeys_io_stats(fs.base, 0),
                                            "conns_refused", 1, 3000),
                      1);
    ck_assert_uint_eq(
        fixture_counter(srvkeys_launcher_stats(fs.base), "md_restarts"), 0);
    for (int i = 0; i < N; i++)
        close(c[i].fd);
    viewcache_until(&l, 0);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* Clients that vanish, with a reset (_i 0) or a close (_i 1), half a
 * message sent: the others are echoed, every flow and every session is
 * freed. */
START_TEST(test_v6_vanishing_clients)
{
    struct hproc *srv = start_v6(NULL, NULL);
    key_t io_stats = srvkeys_io_stats(fs.base, 0);

    fixture_vanishing_clients(srv, 50, _i == 0);
    ck_assert_uint_eq(fixture_counter_until(io_stats, "pool_used", 0, 3000), 0);
    /* 50, the good client, a new one */
    ck_assert_uint_eq(fixture_counter(io_stats, "conns_accepted"), 52);
    ck_assert_uint_eq(fixture_counter(io_stats, "bytes_held"), 0);
    ck_assert_uint_eq(
        fixture_counter_until(srvkeys_md_stats(fs.base), "sessions", 0, 3000),
        0);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* -b 512k: 16 clients flood io_conn and never read (fixture_byte_limit):
 * io_conn's buffers stay within the bound, a good client is echoed. */
START_TEST(test_v6_byte_limit)
{
    struct hproc *srv = start_v6("-b", "512k");
    key_t io_stats = srvkeys_io_stats(fs.base, 0);
    int fds[FIXTURE_HOGS];

    fixture_byte_limit(srv, fixture_writer_pid(io_stats), fds);
    /* bytes_held counts what is on its way through md too: past the
     * bound by one message (64 KiB at most) and one read per connection */
    fixture_byte_limit_counted(io_stats, (64 + 4) * 1024, fds);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* ulimit -n 32 for all three processes: io_conn backs off accept(). */
START_TEST(test_v6_descriptor_limit)
{
    struct hproc *srv;

    fixture_limit_fds(32);
    srv = start_v6(NULL, NULL);
    fixture_restore_fds();
    fixture_fd_limit(srv, fixture_writer_pid(srvkeys_io_stats(fs.base, 0)), 40);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* -t 1: a silent client is closed and counted, its session ended; a
 * busy one is kept. */
START_TEST(test_v6_idle_timeout)
{
    struct hproc *srv = start_v6("-t", "1");

    fixture_idle_timeout(srv);
    ck_assert_uint_eq(
        fixture_counter(srvkeys_io_stats(fs.base, 0), "idle_closed"), 1);
    ck_assert_uint_eq(
        fixture_counter_until(srvkeys_md_stats(fs.base), "sessions", 0, 3000),
        0);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* SIGTERM with clients connected: exit 0, no process, segment or FIFO
 * left; viewcache then says there is no server. */
START_TEST(test_v6_sigterm_leaves_nothing)
{
    const char *vc[] = {"./viewcache", "-k", fs.key, NULL};
    struct hproc *srv = start_v6(NULL, NULL);
    struct client c[3];
    pid_t kids[2];
    char *out = NULL, *err = NULL;

    for (int i = 0; i < 3; i++) {
        client_connect(&c[i], srv->port);
        client_pingpong(&c[i], 10, (uint32_t)i);
    }
    fixture_srv_pids(&fs, 1, kids);
    ck_assert_int_ge(shmget(session_table_key(fs.base), 0, 0), 0);
    fixture_stop_clean(srv, STOP_MS);
    fixture_srv_assert_gone(&fs, kids, 2);
    ck_assert_int_eq(harness_run(vc, 5000, &out, &err), 1);
    ck_assert_str_eq(out, "");
    ck_assert_msg(strstr(err, "no server running") &&
                      strchr(err, '\n') == err + strlen(err) - 1,
                  "%s", err);
    free(out);
    free(err);
    for (int i = 0; i < 3; i++)
        close(c[i].fd);
}
END_TEST

/* Another local user (nobody, when the tests run as root) reaches none
 * of a running server's segments (two io_conn's queues and statistics,
 * md's and the launcher's statistics, the session table) and none of its
 * four FIFOs. */
START_TEST(test_v6_other_user_refused)
{
    struct hproc *srv = start_v6("-n", "2");
    pid_t kids[3];

    fixture_srv_pids(&fs, 2, kids); /* every block is published */
    ck_assert(fixture_segment_exists(session_table_key(fs.base)));
    fixture_foreign_user_refused("echosvr_v6 refuses another user", 3 * 2 + 3,
                                 4);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* io_conn started by hand, the test playing md: the messages carry the
 * kind and the flow's sequence numbers (OPEN 0 with the peer, DATA 1, 2,
 * CLOSE 3), and a DATA reply sent twice reaches the client once. */
struct fake_md {
    struct mqpair *mq;
    int replies; /* how many times to answer each DATA */
    int seen;
    struct msg_hdr h[8];
    char payload[8][64];
};

static int answer_cb(uint32_t id, const void *data, size_t len, void *arg)
{
    struct fake_md *f = arg;

    ck_assert_uint_ge(len, MSG_HDR_SIZE);
    ck_assert_int_lt(f->seen, 8);
    memcpy(&f->h[f->seen], data, MSG_HDR_SIZE);
    snprintf(f->payload[f->seen], sizeof(f->payload[0]), "%.*s",
             (int)(len - MSG_HDR_SIZE), (const char *)data + MSG_HDR_SIZE);
    if (f->h[f->seen].kind == MSG_DATA)
        for (int i = 0; i < f->replies; i++)
            ck_assert_int_eq(spscq_push(f->mq->out, id, data, len), 0);
    f->seen++;
    return 0;
}

static void fake_md_until(struct fake_md *f, int seen)
{
    for (int i = 0; i < 500 && f->seen < seen; i++) {
        ck_assert_int_ge(spscq_drain(f->mq->in, answer_cb, f, 16), 0);
        if (f->seen < seen)
            usleep(10000);
    }
    ck_assert_int_eq(f->seen, seen);
}

START_TEST(test_v6_io_conn_messages)
{
    const char *argv[] = {"./io_conn", "-p", "0",    "-k",
                          fs.key,      "-d", fs.dir, NULL};
    struct hproc *io = harness_start_server(argv);
    struct fake_md f = {.replies = 2};
    struct mqpair mq;
    struct client c;
    char buf[16] = {0};

    ck_assert_msg(io != NULL, "%s", harness_error());
    ck_assert_int_eq(mqpair_open(&mq, fs.base, fs.dir, 0, MQPAIR_MD), 0);
    f.mq = &mq;
    client_connect(&c, io->port);
    ck_assert_int_eq(harness_write_all(c.fd, "once", 4), 0);
    fake_md_until(&f, 2);
    f.replies = 1;
    ck_assert_int_eq(harness_write_all(c.fd, "next", 4), 0);
    fake_md_until(&f, 3);
    ck_assert_int_eq(harness_read_all(c.fd, buf, 8), 0);
    ck_assert_str_eq(buf, "oncenext");
    close(c.fd);
    fake_md_until(&f, 4);

    ck_assert_uint_eq(f.h[0].kind, MSG_OPEN);
    ck_assert_str_eq(f.payload[0], c.peer);
    ck_assert_uint_eq(f.h[1].kind, MSG_DATA);
    ck_assert_str_eq(f.payload[1], "once");
    ck_assert_uint_eq(f.h[2].kind, MSG_DATA);
    ck_assert_uint_eq(f.h[3].kind, MSG_CLOSE);
    ck_assert_str_eq(f.payload[3], "");
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(f.h[i].seq, (uint64_t)i);
    ck_assert_uint_eq(
        fixture_counter(srvkeys_io_stats(fs.base, 0), "dropped_dup"), 1);
    mqpair_close(&mq);
    ck_assert_int_eq(harness_stop(io, SIGTERM, 3000), 0);
    srvkeys_remove(fs.base, fs.dir, 1);
}
END_TEST

/* A writer process rewrites session records as fast as it can, each
 * one self-consistent (bytes = 7 * msgs, the peer's port = msgs % 65536);
 * viewcache, reading at the same time, never prints a torn one. */
static void rewrite_forever(key_t key)
{
    struct mhash_geom g = {
        .rows = 8, .capacity = 2000, .rec_size = sizeof(struct session)};
    struct mhash h;

    if (mhash_create(&h, key, &g) < 0)
        _exit(1);
    for (uint64_t n = 1;; n++) {
        struct session s = {.msgs = n, .bytes = 7 * n, .first_ns = 1};
        snprintf(s.peer, sizeof(s.peer), "127.0.0.1:%u", (unsigned)(n % 65536));
        s.last_ns = (int64_t)n;
        if (mhash_update(&h, n % 500, &s) < 0 &&
            mhash_insert(&h, n % 500, &s) < 0)
            _exit(1);
    }
}

START_TEST(test_v6_viewcache_never_torn)
{
    key_t key = session_table_key(fs.base);
    pid_t writer = fork();
    struct vc_listing l;

    ck_assert_int_ge(writer, 0);
    if (writer == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        rewrite_forever(key);
    }
    for (int i = 0; i < 300; i++) { /* until all 500 records exist */
        struct mhash h;
        bool full = false;
        if (mhash_open(&h, key, true) == 0) {
            full = mhash_count(&h) == 500;
            mhash_close(&h);
        }
        if (full)
            break;
        usleep(10000);
    }
    for (int run = 0; run < 10; run++) {
        viewcache(&l);
        ck_assert_int_eq(l.n, 500);
        for (int i = 0; i < l.n; i++) {
            char want[64];
            snprintf(want, sizeof(want), "127.0.0.1:%llu", l.s[i].msgs % 65536);
            ck_assert_msg(l.s[i].bytes == 7 * l.s[i].msgs &&
                              strcmp(l.s[i].peer, want) == 0,
                          "torn record: %llu msgs, %llu bytes, peer %s",
                          l.s[i].msgs, l.s[i].bytes, l.s[i].peer);
        }
    }
    kill(writer, SIGKILL);
    waitpid(writer, NULL, 0);
    ck_assert_int_eq(mhash_remove_key(key), 0);
}
END_TEST

/* A same-user segment with no svrtut header under the session table's
 * key is someone's data: the launcher must not delete it when it starts
 * (as it deletes a stale table of ours) nor when it stops. md cannot
 * attach it as a table, so the launcher gives up with one line, exit 1. */
START_TEST(test_v6_foreign_table_survives)
{
    key_t key = session_table_key(fs.base);
    const char *argv[] = {SERVER, "-p", "0", "-k", fs.key, "-d", fs.dir, NULL};
    char *err = NULL;

    fixture_foreign_segment(key, 8192);
    ck_assert_int_eq(harness_run(argv, 20000, NULL, &err), 1);
    ck_assert_msg(strstr(err, "not a session table") &&
                      strstr(err, "giving up"),
                  "%s", err);
    free(err);
    ck_assert_msg(fixture_segment_exists(key), "the foreign segment is gone");
}
END_TEST

static const char *const programs[] = {"./echosvr_v6", "./io_conn", "./md",
                                       "./viewcache"};

START_TEST(test_v6_usage)
{
    const char *bad[] = {programs[_i], "-k", "0", NULL};
    const char *unknown[] = {programs[_i], "-Z", NULL};

    fixture_check_help(programs[_i], "-k KEY");
    fixture_check_bad_args(bad, "bad key '0'");
    fixture_check_bad_args(unknown, "-Z");
}
END_TEST

/* Option values only the new programs take. */
START_TEST(test_v6_bad_values)
{
    static const char *const cases[][4] = {
        {"./viewcache", "-n", "3", "-n needs -w"},
        {"./viewcache", "extra", NULL, "unexpected argument"},
        {"./md", "-c", "0", "session count"},
        {"./io_conn", "-c", "0", "connection limit"},
        {"./io_conn", "-b", "0", "byte limit"},
        {"./io_conn", "-t", "86401", "idle timeout"},
        {"./echosvr_v6", "-b", "many", "byte limit"},
        {"./echosvr_v6", "-t", "-1", "idle timeout"},
        {"./echosvr_v6", "-n", "257", "count"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *argv[] = {cases[i][0], cases[i][1], cases[i][2], NULL};
        fixture_check_bad_args(argv, cases[i][3]);
    }
}
END_TEST

Suite *v6_suite(void)
{
    Suite *s = suite_create("v6");
    TCase *tc;

    tc = tcase_create("sessions");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_v6_sessions_listed);
    tcase_add_test(tc, test_v6_md_restart_keeps_sessions);
    tcase_add_test(tc, test_v6_md_killed_counts_exact);
    tcase_add_test(tc, test_v6_two_io_conn);
    tcase_add_test(tc, test_v6_small_table);
    tcase_add_test(tc, test_v6_io_conn_messages);
    tcase_add_test(tc, test_v6_viewcache_never_torn);
    suite_add_tcase(s, tc);

    tc = tcase_create("echo");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_v6_every_byte_echoed);
    suite_add_tcase(s, tc);

    tc = tcase_create("failures");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_v6_md_killed_stream_exact);
    tcase_add_test(tc, test_v6_io_conn_killed);
    suite_add_tcase(s, tc);

    /* binary bytes, no newline and long lines: test_v6_every_byte_echoed;
     * the connection limit: test_v6_small_table */
    tc = tcase_create("faults");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_v6_vanishing_clients, 0, 2);
    tcase_add_test(tc, test_v6_byte_limit);
    /* valgrind gives the programs it runs a descriptor limit of its own */
    if (!getenv("SVRTUT_MEMCHECK"))
        tcase_add_test(tc, test_v6_descriptor_limit);
    tcase_add_test(tc, test_v6_idle_timeout);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_v6_sigterm_leaves_nothing);
    tcase_add_test(tc, test_v6_foreign_table_survives);
    tcase_add_test(tc, test_v6_other_user_refused);
    tcase_add_loop_test(tc, test_v6_usage, 0, 4);
    tcase_add_test(tc, test_v6_bad_values);
    suite_add_tcase(s, tc);
    return s;
}

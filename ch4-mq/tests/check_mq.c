/* check_mq.c -- the two-process echo server, end to end: echosvr_v5
 * starting md and io_conn, flows, md crashes, a slow md, -n 2, shutdown. */
#include "fixture.h"
#include "mqpair.h"
#include "stats.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <unistd.h>

#define SERVER "./echosvr_v5"

/* ASan's quarantine keeps freed memory resident, so memory bounds are
 * checked in plain builds only. */
#ifdef SVRTUT_DEBUG
#define RSS_CHECKED 0
#else
#define RSS_CHECKED 1
#endif

/* md and io_conn get this long to exit after SIGTERM. */
#define STOP_MS 5000

static struct fixture_srv fs;

static void setup(void) { fixture_srv_init(&fs); }

/* echosvr_v5 -p 0 -k KEY -d DIR plus up to 4 more arguments. */
static struct hproc *start_v5(const char *a1, const char *a2, const char *a3,
                              const char *a4)
{
    const char *extra[] = {a1, a2, a3, a4, NULL};

    return fixture_srv_start(&fs, SERVER, extra);
}

/* n connections, each pipelining msgs messages of 1-200 bytes. */
static void echo_many(uint16_t port, int n, int msgs, int timeout_ms)
{
    ck_assert_msg(echo_check_clients(port, n, msgs, timeout_ms) == 0, "%s",
                  harness_error());
}

START_TEST(test_mq_many_clients)
{
    struct hproc *srv = start_v5(NULL, NULL, NULL, NULL);

    echo_many(srv->port, 100, 1000, 60000);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* Payloads from 0 bytes to 1 MiB (larger than a queue message: io_conn
 * splits it, md answers each part, the client sees one stream). */
START_TEST(test_mq_payload_sizes)
{
    static const size_t sizes[] = {0,     1,     4096,       65535,
                                   65536, 65537, 1024 * 1024};
    enum { N = sizeof(sizes) / sizeof(sizes[0]) };
    struct hproc *srv = start_v5(NULL, NULL, NULL, NULL);
    unsigned char *data = malloc(sizes[N - 1]);
    struct echo_stream s[N];

    ck_assert_ptr_nonnull(data);
    harness_fill(data, sizes[N - 1], 3);
    for (int i = 0; i < N; i++) {
        s[i] = (struct echo_stream){.fd = harness_connect(srv->port),
                                    .data = data,
                                    .len = sizes[i],
                                    .shut_wr = true,
                                    .want_eof = true};
        ck_assert_int_ge(s[i].fd, 0);
    }
    ck_assert_msg(echo_pump(s, N, 30000) == 0, "%s", harness_error());
    for (int i = 0; i < N; i++)
        close(s[i].fd);
    free(data);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* With one connection slot and a slow md: A's request is still queued
 * when A goes away and B takes the slot. md's late reply to A must be
 * dropped, not sent to B. */
START_TEST(test_mq_reply_to_closed_flow_dropped)
{
    struct hproc *srv = start_v5("-c", "1", "-s", "300000");
    key_t io_stats = srvkeys_io_stats(fs.base, 0);
    char buf[16] = {0};
    int a, b;

    a = harness_connect(srv->port);
    ck_assert_int_eq(harness_write_all(a, "AAAA", 4), 0);
    usleep(50000);          /* let io_conn forward it */
    fixture_reset_close(a); /* io_conn frees the flow before md answers */
    ck_assert_uint_eq(fixture_counter_until(io_stats, "conns_open", 0, 3000),
                      0);
    b = harness_connect(srv->port);
    ck_assert_int_ge(b, 0);
    ck_assert_int_eq(harness_write_all(b, "BBBB", 4), 0);
    ck_assert_int_eq(harness_read_all(b, buf, 4), 0);
    ck_assert_str_eq(buf, "BBBB");
    ck_assert_uint_eq(fixture_counter(io_stats, "dropped_closed"), 1);
    ck_assert_uint_eq(fixture_counter(io_stats, "conns_accepted"), 2);
    close(b);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* md is killed three times at random moments (seed printed) while 20
 * clients stream: every byte comes back once, in order; md was restarted
 * each time. */
START_TEST(test_mq_md_killed_nothing_lost)
{
    struct hproc *srv = start_v5(NULL, NULL, NULL, NULL);

    fixture_stream_through_md_kills(&fs, srv->port, 20, 512 * 1024, 3);
    ck_assert_uint_eq(
        fixture_counter(srvkeys_launcher_stats(fs.base), "md_restarts"), 3);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* io_conn 0 or 1 of two is killed with SIGKILL while 20 clients stream
 * (at a random moment, seed printed): each client sees its echo correct
 * as far as it goes, then its connection closed; the launcher ends the
 * server (an io_conn's connections are gone) with exit 1, leaving no
 * process, segment or FIFO; a new server on the same keys serves. */
START_TEST(test_mq_io_conn_killed)
{
    struct hproc *srv = start_v5("-n", "2", NULL, NULL);
    pid_t kids[3];

    fixture_srv_pids(&fs, 2, kids);
    fixture_stream_through_io_kill(&fs, srv, 2, 20, 1024 * 1024);
    fixture_srv_assert_gone(&fs, kids, 3);
    srv = start_v5("-n", "2", NULL, NULL);
    echo_many(srv->port, 20, 100, 30000);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* md is killed while it holds a request (sleeping in -s before it
 * replies): the request was not consumed, so the restarted md answers. */
START_TEST(test_mq_md_killed_before_reply)
{
    struct hproc *srv = start_v5("-s", "400000", NULL, NULL);
    char buf[8] = {0};
    int fd = harness_connect(srv->port);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(harness_write_all(fd, "ping1", 5), 0);
    usleep(150000); /* md is now inside its 400 ms sleep */
    ck_assert_int_eq(
        kill(fixture_writer_pid(srvkeys_md_stats(fs.base)), SIGKILL), 0);
    ck_assert_int_eq(harness_read_all(fd, buf, 5), 0);
    ck_assert_str_eq(buf, "ping1");
    ck_assert_uint_eq(
        fixture_counter(srvkeys_launcher_stats(fs.base), "md_restarts"), 1);
    close(fd);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

struct fake_md {
    struct mqpair *mq;
    int replies; /* how many times to answer each request */
    int seen;
};

static int answer_cb(uint32_t id, const void *data, size_t len, void *arg)
{
    struct fake_md *f = arg;

    for (int i = 0; i < f->replies; i++)
        ck_assert_int_eq(spscq_push(f->mq->out, id, data, len), 0);
    f->seen++;
    return 0;
}

/* io_conn started by hand, and the test playing md: it answers the same
 * request twice, as an md restarted between reply and consume would.
 * The client must see the echo once; io_conn counts the duplicate. */
START_TEST(test_mq_duplicate_reply_dropped)
{
    const char *argv[] = {"./io_conn", "-p", "0",    "-k",
                          fs.key,      "-d", fs.dir, NULL};
    struct hproc *io = harness_start_server(argv);
    struct fake_md f = {.replies = 2};
    struct mqpair mq;
    char buf[16] = {0};
    int fd;

    ck_assert_msg(io != NULL, "%s", harness_error());
    ck_assert_int_eq(mqpair_open(&mq, fs.base, fs.dir, 0, MQPAIR_MD), 0);
    f.mq = &mq;
    fd = harness_connect(io->port);
    ck_assert_int_eq(harness_write_all(fd, "once", 4), 0);
    for (int i = 0; i < 500 && f.seen == 0; i++) {
        ck_assert_int_ge(spscq_drain(mq.in, answer_cb, &f, 16), 0);
        usleep(10000);
    }
    ck_assert_int_eq(f.seen, 1);
    f.replies = 1;
    ck_assert_int_eq(harness_write_all(fd, "next", 4), 0);
    for (int i = 0; i < 500 && f.seen == 1; i++) {
        ck_assert_int_ge(spscq_drain(mq.in, answer_cb, &f, 16), 0);
        usleep(10000);
    }
    ck_assert_int_eq(harness_read_all(fd, buf, 8), 0);
    ck_assert_str_eq(buf, "oncenext");
    ck_assert_uint_eq(
        fixture_counter(srvkeys_io_stats(fs.base, 0), "dropped_dup"), 1);
    close(fd);
    mqpair_close(&mq);
    ck_assert_int_eq(harness_stop(io, SIGTERM, 3000), 0);
    srvkeys_remove(fs.base, fs.dir, 1);
}
END_TEST

/* A slow md: the queue to md fills, io_conn stops reading (queue_full
 * counted), its memory stays bounded, and every byte arrives in the end. */
START_TEST(test_mq_slow_md_backpressure)
{
    const size_t len = 32u * 1024 * 1024;
    struct hproc *srv = start_v5("-s", "500", NULL, NULL);
    key_t io_stats = srvkeys_io_stats(fs.base, 0);
    unsigned char *data = malloc(len);
    struct echo_stream s;
    pid_t io;
    long rss_before, rss_peak = 0;

    ck_assert_ptr_nonnull(data);
    harness_fill(data, len, 17);
    io = fixture_writer_pid(io_stats);
    rss_before = harness_rss_kib(io);
    s = (struct echo_stream){
        .fd = harness_connect(srv->port), .data = data, .len = len};
    ck_assert_int_ge(s.fd, 0);
    while (s.recvd < len) {
        long rss;
        int rc = echo_pump(&s, 1, 200);
        ck_assert_msg(rc == 0 || strncmp(harness_error(), "timeout", 7) == 0,
                      "%s", harness_error());
        rss = harness_rss_kib(io);
        if (rss > rss_peak)
            rss_peak = rss;
        if (rc == 0)
            break;
    }
    ck_assert_uint_gt(fixture_counter(io_stats, "queue_full"), 0);
    /* the queues live in shared memory (8 MiB, counted in RSS as they are
     * touched); io_conn's own buffers stay within a few hundred KiB */
    ck_assert_msg(!RSS_CHECKED || rss_peak - rss_before < 16 * 1024,
                  "io_conn RSS grew from %ld to %ld KiB for %zu bytes",
                  rss_before, rss_peak, len);
    close(s.fd);
    free(data);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* -n 2: two io_conn processes share the port; both get connections. */
START_TEST(test_mq_two_io_conn)
{
    struct hproc *srv = start_v5("-n", "2", NULL, NULL);
    uint64_t a, b;

    echo_many(srv->port, 64, 50, 30000);
    a = fixture_counter(srvkeys_io_stats(fs.base, 0), "conns_accepted");
    b = fixture_counter(srvkeys_io_stats(fs.base, 1), "conns_accepted");
    ck_assert_uint_eq(a + b, 64);
    ck_assert_msg(a > 0 && b > 0, "connections not spread: %llu and %llu",
                  (unsigned long long)a, (unsigned long long)b);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* More io_conn than the 16 the key layout once held: every one serves
 * (its own statistics count connections), and stopping removes the
 * keys of all of them. */
START_TEST(test_mq_many_io_conn)
{
    enum { N = 17 };
    struct hproc *srv = start_v5("-n", "17", NULL, NULL);
    uint64_t total = 0;

    echo_many(srv->port, 200, 10, 30000);
    for (unsigned i = 0; i < N; i++)
        total +=
            fixture_counter(srvkeys_io_stats(fs.base, i), "conns_accepted");
    ck_assert_uint_eq(total, 200);
    ck_assert(fixture_segment_exists(srvkeys_io2md(fs.base, N - 1)));
    fixture_stop_clean(srv, STOP_MS);
    for (unsigned k = 0; k < srvkeys_span(N); k++)
        ck_assert_msg(!fixture_segment_exists(fs.base + (key_t)k),
                      "segment %#x left behind", (unsigned)(fs.base + k));
}
END_TEST

/* Connections come and go: every flow is freed, memory does not grow. */
START_TEST(test_mq_connect_close_cycles)
{
    enum { CYCLES = 5000 };
    struct hproc *srv = start_v5(NULL, NULL, NULL, NULL);
    key_t io_stats = srvkeys_io_stats(fs.base, 0);
    pid_t io = fixture_writer_pid(io_stats);
    long rss_before = 0;
    char c;

    for (int i = 0; i < CYCLES; i++) {
        int fd = harness_connect(srv->port);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(harness_write_all(fd, "x", 1), 0);
        ck_assert_int_eq(harness_read_all(fd, &c, 1), 0);
        close(fd);
        if (i == CYCLES / 10)
            rss_before = harness_rss_kib(io);
    }
    for (int i = 0; i < 100 && fixture_counter(io_stats, "conns_open") != 0;
         i++)
        usleep(10000);
    ck_assert_uint_eq(fixture_counter(io_stats, "conns_open"), 0);
    ck_assert_uint_eq(fixture_counter(io_stats, "conns_accepted"), CYCLES);
    ck_assert_msg(!RSS_CHECKED || harness_rss_kib(io) - rss_before < 1024,
                  "io_conn grew from %ld KiB to %ld KiB", rss_before,
                  harness_rss_kib(io));
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* Clients that vanish, with a reset (_i 0) or a close (_i 1), half a
 * message sent: the others are echoed, every flow is freed, md's late
 * replies to the vanished are dropped. */
START_TEST(test_mq_vanishing_clients)
{
    struct hproc *srv = start_v5(NULL, NULL, NULL, NULL);
    key_t io_stats = srvkeys_io_stats(fs.base, 0);

    fixture_vanishing_clients(srv, 50, _i == 0);
    ck_assert_uint_eq(fixture_counter_until(io_stats, "conns_open", 0, 3000),
                      0);
    /* 50, the good client, a new one */
    ck_assert_uint_eq(fixture_counter(io_stats, "conns_accepted"), 52);
    ck_assert_uint_eq(fixture_counter(io_stats, "bytes_held"), 0);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* -b 512k: 16 clients flood io_conn and never read (fixture_byte_limit):
 * io_conn's buffers stay within the bound (the queues to md are shared
 * memory of a fixed size, not counted), a good client is echoed. */
START_TEST(test_mq_byte_limit)
{
    struct hproc *srv = start_v5("-b", "512k", NULL, NULL);
    key_t io_stats = srvkeys_io_stats(fs.base, 0);
    int fds[FIXTURE_HOGS];

    fixture_byte_limit(srv, fixture_writer_pid(io_stats), fds);
    /* bytes_held counts what is on its way through md too: past the
     * bound by one message (64 KiB at most) and one read per connection */
    fixture_byte_limit_counted(io_stats, (64 + 4) * 1024, fds);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* -c 5 through the launcher: a sixth client is closed at once, counted. */
START_TEST(test_mq_conn_limit)
{
    struct hproc *srv = start_v5("-c", "5", NULL, NULL);

    fixture_conn_limit(srv, 5);
    ck_assert_uint_ge(
        fixture_counter(srvkeys_io_stats(fs.base, 0), "conns_refused"), 1);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* ulimit -n 32 for all three processes: io_conn backs off accept() as
 * the one-process servers do, md is unaffected. */
START_TEST(test_mq_descriptor_limit)
{
    struct hproc *srv;

    fixture_limit_fds(32);
    srv = start_v5(NULL, NULL, NULL, NULL);
    fixture_restore_fds();
    fixture_fd_limit(srv, fixture_writer_pid(srvkeys_io_stats(fs.base, 0)), 40);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* -t 1: a silent client is closed and counted, a busy one kept. */
START_TEST(test_mq_idle_timeout)
{
    struct hproc *srv = start_v5("-t", "1", NULL, NULL);
    key_t io_stats = srvkeys_io_stats(fs.base, 0);

    fixture_idle_timeout(srv);
    ck_assert_uint_eq(fixture_counter(io_stats, "idle_closed"), 1);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

static int count_entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* SIGTERM: exit 0, no segment, no FIFO, no child left. */
START_TEST(test_mq_sigterm_leaves_nothing)
{
    struct hproc *srv = start_v5("-n", "2", NULL, NULL);
    pid_t kids[3];
    int fd = harness_connect(srv->port);

    fixture_srv_pids(&fs, 2, kids);
    ck_assert_int_eq(count_entries(fs.dir), 4);
    ck_assert_int_ge(fd, 0);
    fixture_stop_clean(srv, STOP_MS);
    fixture_srv_assert_gone(&fs, kids, 3);
    close(fd);
}
END_TEST

/* Another local user (nobody, when the tests run as root) reaches none
 * of a running server's segments (two io_conn's queues and statistics,
 * md's and the launcher's statistics) and none of its four FIFOs. */
START_TEST(test_mq_other_user_refused)
{
    struct hproc *srv = start_v5("-n", "2", NULL, NULL);
    pid_t kids[3];

    fixture_srv_pids(&fs, 2, kids); /* every block is published */
    fixture_foreign_user_refused("echosvr_v5 refuses another user", 3 * 2 + 2,
                                 4);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

START_TEST(test_mq_second_server_same_key)
{
    struct hproc *srv = start_v5(NULL, NULL, NULL, NULL);
    const char *argv[] = {SERVER, "-p", "0", "-k", fs.key, "-d", fs.dir, NULL};
    char *err = NULL;

    ck_assert_int_eq(harness_run(argv, 5000, NULL, &err), 1);
    ck_assert_msg(strstr(err, "in use") != NULL, "%s", err);
    free(err);
    echo_many(srv->port, 1, 10, 5000); /* the first one is unharmed */
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* --- what a server must survive in its own segments ------------------- */

/* The queue's layout (common/spscq.c): the 64-byte segment header, then
 * capacity, tail and head on cache lines of their own, then the ring. */
#define Q_TAIL 64
#define Q_HEAD 128
#define Q_RING 256

static uint64_t *queue_field(void *seg, size_t off)
{
    return (uint64_t *)((char *)seg + 64 + off);
}

/* Stop (SIGSTOP) the writer of the statistics under key; its pid. */
static pid_t pause_writer(key_t key)
{
    pid_t pid = fixture_writer_pid(key);

    ck_assert_int_eq(kill(pid, SIGSTOP), 0);
    return pid;
}

/* Wait until io_conn 0 has forwarded want bytes to md. */
static void wait_forwarded(uint64_t want)
{
    key_t key = srvkeys_io_stats(fs.base, 0);

    for (int i = 0; i < harness_ms(500); i++) {
        if (fixture_counter(key, "bytes_to_md") >= want)
            return;
        usleep(10000);
    }
    ck_abort_msg("io_conn forwarded %llu bytes, not %llu",
                 (unsigned long long)fixture_counter(key, "bytes_to_md"),
                 (unsigned long long)want);
}

/* The launcher gives up on md with one clear line and exits 1 within a
 * few seconds, having logged little (md neither spun nor was restarted
 * for ever). io, if not 0, is a stopped io_conn to let go on first. */
static void expect_gave_up(struct hproc *srv, pid_t io)
{
    char *err;

    if (fixture_wait_stderr(srv, "giving up", 15000) < 0)
        fixture_fail_with(srv, "the launcher did not give up on md");
    if (io)
        kill(io, SIGCONT);
    if (harness_wait(srv, 10000) != 1)
        fixture_fail_with(srv, "the launcher did not exit 1");
    err = harness_stderr(srv);
    ck_assert_msg(strlen(err) < 64 * 1024, "%zu bytes of log", strlen(err));
    free(err);
}

/* A corrupt head index in the queue to io_conn: md's push fails with
 * EBADMSG. md must exit (not retry the same push for ever at 100% CPU),
 * and the restarted md refuses the queue at open, so the launcher gives
 * up. To make md load the bad head, it must fill its view of the ring:
 * 3 MiB echoed, then 2 MiB more queued while io_conn is stopped (io_conn
 * would otherwise store a good head over the bad one). */
START_TEST(test_mq_corrupt_head_md_exits)
{
    enum { FIRST = 3 << 20, SECOND = 2 << 20 };
    struct hproc *srv = start_v5(NULL, NULL, NULL, NULL);
    unsigned char *data = malloc(FIRST);
    struct echo_stream st = {0};
    pid_t md, io;
    void *seg;
    int fd;

    ck_assert_ptr_nonnull(data);
    harness_fill(data, FIRST, 5);
    fd = harness_connect(srv->port);
    st = (struct echo_stream){.fd = fd, .data = data, .len = FIRST};
    ck_assert_msg(echo_pump(&st, 1, 20000) == 0, "%s", harness_error());
    md = pause_writer(srvkeys_md_stats(fs.base));
    ck_assert_int_eq(harness_write_all(fd, data, SECOND), 0);
    wait_forwarded(FIRST + SECOND);
    io = pause_writer(srvkeys_io_stats(fs.base, 0));
    seg = fixture_attach_raw(srvkeys_md2io(fs.base, 0));
    /* far ahead of tail: tail - head is out of range whatever md pushes */
    *queue_field(seg, Q_HEAD) = *queue_field(seg, Q_TAIL) + (1ull << 40);
    shmdt(seg);
    kill(md, SIGCONT);
    expect_gave_up(srv, io);
    close(fd);
    free(data);
}
END_TEST

/* One corrupt message length in the queue to md (a poisoned queue): md
 * exits with EBADMSG each time it meets it. The launcher must give up
 * after a few quick deaths, not restart md every second for ever. */
START_TEST(test_mq_poisoned_queue_ends_server)
{
    struct hproc *srv = start_v5(NULL, NULL, NULL, NULL);
    pid_t md = pause_writer(srvkeys_md_stats(fs.base));
    int fd = harness_connect(srv->port);
    uint64_t head;
    void *seg;

    ck_assert_int_eq(harness_write_all(fd, "poison", 6), 0);
    wait_forwarded(6);
    seg = fixture_attach_raw(srvkeys_io2md(fs.base, 0));
    head = *queue_field(seg, Q_HEAD);
    /* the message's length: 7 is shorter than its own header */
    *(uint32_t *)((char *)queue_field(seg, Q_RING) +
                  (head & ((4u << 20) - 1))) = 7;
    shmdt(seg);
    kill(md, SIGCONT);
    expect_gave_up(srv, 0);
    close(fd);
}
END_TEST

/* Segments under the server's keys that are not its own (no svrtut
 * header) are someone's data: io_conn cannot start on its statistics
 * key, and the launcher's exit must not delete it. */
START_TEST(test_mq_foreign_segment_survives)
{
    key_t key = srvkeys_io_stats(fs.base, 0);
    const char *argv[] = {SERVER, "-p", "0", "-k", fs.key, "-d", fs.dir, NULL};
    char *err = NULL;

    fixture_foreign_segment(key, 4096);
    ck_assert_int_eq(harness_run(argv, 15000, NULL, &err), 1);
    ck_assert_msg(strstr(err, "io_conn"), "%s", err);
    free(err);
    ck_assert_msg(fixture_segment_exists(key), "the foreign segment is gone");
}
END_TEST

/* As root, a statistics block of another user (uid 65534) under md's
 * key: never ours to delete, even with our magic in it. */
START_TEST(test_mq_other_users_segment_survives)
{
    key_t key = srvkeys_md_stats(fs.base);
    const char *argv[] = {SERVER, "-p", "0", "-k", fs.key, "-d", fs.dir, NULL};
    struct shmid_ds ds;
    struct hproc *srv;
    struct stats st;
    int id;

    if (geteuid() != 0) {
        fprintf(stderr, "test_mq_other_users_segment_survives: skipped, "
                        "needs root to make another user's segment\n");
        return;
    }
    ck_assert_int_eq(stats_create(&st, key, "stranger"), 0);
    stats_start(&st);
    id = st.sm.id;
    stats_close(&st);
    ck_assert_int_eq(shmctl(id, IPC_STAT, &ds), 0);
    ds.shm_perm.uid = 65534;
    ck_assert_int_eq(shmctl(id, IPC_SET, &ds), 0);
    srv = harness_start(argv);
    ck_assert_ptr_nonnull(srv);
    expect_gave_up(srv, 0);
    ck_assert_msg(shmget(key, 0, 0) == id, "the other user's segment is gone");
}
END_TEST

static const char *const programs[] = {"./echosvr_v5", "./io_conn", "./md"};

START_TEST(test_mq_usage)
{
    const char *bad[] = {programs[_i], "-k", "0", NULL};

    fixture_check_help(programs[_i], "-k KEY");
    fixture_check_bad_args(bad, "bad key '0'");
}
END_TEST

/* The most io_conn is checked where it is given: -n, and -i below it. */
START_TEST(test_mq_io_count_limits)
{
    const char *v5[] = {"./echosvr_v5", "-n", "257", NULL};
    const char *md[] = {"./md", "-n", "257", NULL};
    const char *io[] = {"./io_conn", "-i", "256", NULL};

    fixture_check_bad_args(v5, "bad count '257': expected a whole number "
                               "from 1 to 256");
    fixture_check_bad_args(md, "from 1 to 256");
    fixture_check_bad_args(io, "bad index '256': expected a whole number "
                               "from 0 to 255");
}
END_TEST

/* The bounds of io_conn and the launcher that passes them on. */
START_TEST(test_mq_bad_bounds)
{
    static const char *const cases[][4] = {
        {"./io_conn", "-b", "0", "byte limit"},
        {"./io_conn", "-t", "x", "idle timeout"},
        {"./echosvr_v5", "-b", "9G9", "byte limit"},
        {"./echosvr_v5", "-t", "86401", "idle timeout"},
    };
    const char *argv[] = {cases[_i][0], cases[_i][1], cases[_i][2], NULL};

    fixture_check_bad_args(argv, cases[_i][3]);
}
END_TEST

Suite *mq_suite(void)
{
    Suite *s = suite_create("ch4-mq");
    TCase *tc;

    tc = tcase_create("echo");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_mq_many_clients);
    tcase_add_test(tc, test_mq_payload_sizes);
    tcase_add_test(tc, test_mq_two_io_conn);
    tcase_add_test(tc, test_mq_many_io_conn);
    suite_add_tcase(s, tc);

    tc = tcase_create("flows");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_mq_reply_to_closed_flow_dropped);
    tcase_add_test(tc, test_mq_duplicate_reply_dropped);
    tcase_add_test(tc, test_mq_connect_close_cycles);
    suite_add_tcase(s, tc);

    tc = tcase_create("failures");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_mq_md_killed_nothing_lost);
    tcase_add_test(tc, test_mq_md_killed_before_reply);
    tcase_add_test(tc, test_mq_io_conn_killed);
    tcase_add_test(tc, test_mq_slow_md_backpressure);
    suite_add_tcase(s, tc);

    /* binary bytes, no newline and long lines: test_mq_payload_sizes; a
     * client that never reads: test_mq_slow_md_backpressure */
    tc = tcase_create("faults");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_mq_vanishing_clients, 0, 2);
    tcase_add_test(tc, test_mq_byte_limit);
    tcase_add_test(tc, test_mq_conn_limit);
    /* valgrind gives the programs it runs a descriptor limit of its own */
    if (!getenv("SVRTUT_MEMCHECK"))
        tcase_add_test(tc, test_mq_descriptor_limit);
    tcase_add_test(tc, test_mq_idle_timeout);
    suite_add_tcase(s, tc);

    tc = tcase_create("poison");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_mq_corrupt_head_md_exits);
    tcase_add_test(tc, test_mq_poisoned_queue_ends_server);
    tcase_add_test(tc, test_mq_foreign_segment_survives);
    tcase_add_test(tc, test_mq_other_users_segment_survives);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_mq_sigterm_leaves_nothing);
    tcase_add_test(tc, test_mq_second_server_same_key);
    tcase_add_test(tc, test_mq_other_user_refused);
    tcase_add_test(tc, test_mq_io_count_limits);
    tcase_add_loop_test(tc, test_mq_usage, 0, 3);
    tcase_add_loop_test(tc, test_mq_bad_bounds, 0, 4);
    suite_add_tcase(s, tc);
    return s;
}

/* check_md.c -- tests of your md (md_serve.c), behind ch4-mq's io_conn
 * and echosvr_v5 built next to it: the chapter's end-to-end cases, md
 * killed while it works, a full reply queue, and wake-ups. */
#include "fixture.h"
#include "mqpair.h"
#include "srvkeys.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SERVER "./echosvr_v5"
#define MD     "./md"
/* md and io_conn get this long to exit after SIGTERM. */
#define STOP_MS 5000

static struct fixture_srv fs;

static void setup(void) { fixture_srv_init(&fs); }

/* echosvr_v5 (running ./md, yours) plus up to two more arguments. */
static struct hproc *start_server(const char *a1, const char *a2)
{
    const char *extra[] = {a1, a2, NULL};

    return fixture_srv_start(&fs, SERVER, extra);
}

/* Does fd have something to read within ms? */
static bool echo_within(int fd, int ms)
{
    struct pollfd pfd = {fd, POLLIN, 0};

    return poll(&pfd, 1, harness_ms(ms)) == 1;
}

/* 100 connections at once, each pipelining 200 messages. */
START_TEST(test_md_many_clients)
{
    struct hproc *srv = start_server(NULL, NULL);

    ck_assert_msg(echo_check_clients(srv->port, 100, 200, 30000) == 0, "%s",
                  harness_error());
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* 0 bytes to 8 MiB, every byte value, all at once. */
START_TEST(test_md_payload_sizes)
{
    struct hproc *srv = start_server(NULL, NULL);

    ck_assert_msg(echo_check_sizes(srv->port, 30000) == 0, "%s",
                  harness_error());
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* md is killed three times while 20 clients stream: every byte comes back
 * once, in order, from the md the launcher starts again. */
START_TEST(test_md_killed_nothing_lost)
{
    struct hproc *srv = start_server(NULL, NULL);

    fixture_stream_through_md_kills(&fs, srv->port, 20, 512 * 1024, 3);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* md is killed while it holds a request (sleeping in -s before its
 * reply): the request must still be in the queue for the next md. */
START_TEST(test_md_killed_holding_request)
{
    struct hproc *srv = start_server("-s", "400000");
    char buf[8] = {0};
    int fd = harness_connect(srv->port);
    pid_t md;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(harness_write_all(fd, "ping1", 5), 0);
    usleep(150000); /* md is now inside its 400 ms pause */
    md = fixture_writer_pid(srvkeys_md_stats(fs.base));
    ck_assert_int_eq(kill(md, SIGKILL), 0);
    ck_assert_msg(echo_within(fd, 5000) && harness_read_all(fd, buf, 5) == 0,
                  "the request md held when it was killed was lost");
    ck_assert_str_eq(buf, "ping1");
    close(fd);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* The test plays io_conn: it fills the queue to md and never reads the
 * replies, so the queue back fills up. md must then wait without
 * spinning (its CPU is measured for a second), drop nothing, and go on
 * once the replies are read: every one arrives, in order. */
START_TEST(test_md_full_queue_no_spin)
{
    /* 140 messages fill both 4 MiB queues; a md that goes on taking
     * requests whose replies do not fit lets many more in. */
    enum { MSG = 60000, FILL = (8 << 20) / MSG, MAX_PUSH = 3 * FILL };
    const char *argv[] = {MD, "-k", fs.key, "-d", fs.dir, NULL};
    static unsigned char msg[MSG], got[MSG];
    struct mqpair mq;
    struct hproc *md;
    uint32_t pushed = 0, next = 0;
    long cpu0, cpu1, spin_ms;

    ck_assert_int_eq(mqpair_private_dir(fs.dir), 0);
    ck_assert_int_eq(mqpair_open(&mq, fs.base, fs.dir, 0, MQPAIR_IO), 0);
    md = harness_start(argv);
    ck_assert_ptr_nonnull(md);
    /* Both queues are 4 MiB: push until neither moves for 300 ms
     * (scaled: a slow md under valgrind takes longer to drain one). */
    for (int idle = 0; idle < harness_ms(30) && pushed < MAX_PUSH;) {
        memset(msg, (int)(pushed & 0xff), MSG);
        if (spscq_push(mq.out, pushed, msg, MSG) == 0) {
            pushed++;
            idle = 0;
        } else {
            ck_assert_int_eq(errno, EAGAIN);
            idle++;
            usleep(10000);
        }
        if (harness_wait(md, 0) != -1 || md->reaped)
            fixture_fail_with(md, "md died while its reply queue filled");
    }
    ck_assert_msg(pushed < MAX_PUSH,
                  "md took %u requests of %d bytes while the test read no "
                  "reply: it drops what does not fit in the reply queue",
                  pushed, MSG);
    ck_assert_msg(pushed > FILL - 4,
                  "md stopped taking requests after %u: it waits for more "
                  "than room in the reply queue",
                  pushed);
    /* A spinning md uses the whole second; a waiting one next to none,
     * but under valgrind each of its timed retries costs a few ms (100
     * ms measured in CI): there, half the second still tells them apart. */
    spin_ms = harness_ms(1) > 1 ? 500 : 100;
    cpu0 = harness_cpu_ms(md->pid);
    usleep(1000000);
    cpu1 = harness_cpu_ms(md->pid);
    ck_assert_msg(cpu0 >= 0 && cpu1 - cpu0 < spin_ms,
                  "md used %ld ms of CPU in a second, waiting for room "
                  "in a full queue: it spins",
                  cpu1 - cpu0);
    while (next < pushed) {
        uint32_t id;
        size_t len = sizeof(got);
        if (spscq_pop(mq.in, &id, got, &len) < 0) {
            ck_assert_msg(errno == EAGAIN, "pop: %s", strerror(errno));
            ck_assert_msg(spscq_wait(mq.in, harness_ms(5000)) == 0 ||
                              errno == EINTR,
                          "reply %u of %u never came", next, pushed);
            continue;
        }
        ck_assert_msg(id == next && len == MSG && got[0] == (next & 0xff) &&
                          got[MSG - 1] == (next & 0xff),
                      "reply %u: id %u, %zu bytes: a reply was dropped or "
                      "changed",
                      next, id, len);
        next++;
    }
    mqpair_close(&mq);
    fixture_stop_clean(md, STOP_MS);
}
END_TEST

/* One message at a time, 300 times: each echo within half a second. An
 * md that sleeps in the FIFO without announcing it first (the
 * prepare step) is never woken, and answers only when its sleep ends. */
START_TEST(test_md_wakes_at_once)
{
    struct hproc *srv = start_server(NULL, NULL);
    int fd = harness_connect(srv->port);
    char buf[8];

    ck_assert_int_ge(fd, 0);
    for (int i = 0; i < 300; i++) {
        ck_assert_int_eq(harness_write_all(fd, "ping", 4), 0);
        ck_assert_msg(echo_within(fd, 500),
                      "echo %d took more than 500 ms: md slept on a request",
                      i);
        ck_assert_int_eq(harness_read_all(fd, buf, 4), 0);
        ck_assert(memcmp(buf, "ping", 4) == 0);
    }
    close(fd);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* SIGTERM: md exits 0 and removes its statistics; the queues stay (a
 * restarted md must find the requests in them). */
START_TEST(test_md_sigterm_clean)
{
    const char *argv[] = {MD, "-k", fs.key, "-d", fs.dir, NULL};
    struct hproc *md = harness_start(argv);

    ck_assert_ptr_nonnull(md);
    for (int i = 0; i < harness_ms(200) &&
                    !fixture_segment_exists(srvkeys_io2md(fs.base, 0));
         i++)
        usleep(10000);
    if (!fixture_segment_exists(srvkeys_io2md(fs.base, 0)))
        fixture_fail_with(md, "md did not open the queues of io_conn 0");
    fixture_stop_clean(md, STOP_MS);
    ck_assert_msg(!fixture_segment_exists(srvkeys_md_stats(fs.base)),
                  "md left its statistics behind");
    ck_assert(fixture_segment_exists(srvkeys_io2md(fs.base, 0)));
}
END_TEST

Suite *md_suite(void)
{
    Suite *s = suite_create("ch4-md");
    TCase *tc;

    tc = tcase_create("echo");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_md_many_clients);
    tcase_add_test(tc, test_md_payload_sizes);
    suite_add_tcase(s, tc);

    tc = tcase_create("restart");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_md_killed_nothing_lost);
    tcase_add_test(tc, test_md_killed_holding_request);
    suite_add_tcase(s, tc);

    tc = tcase_create("full");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_md_full_queue_no_spin);
    suite_add_tcase(s, tc);

    tc = tcase_create("wake");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_md_wakes_at_once);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_md_sigterm_clean);
    suite_add_tcase(s, tc);
    return s;
}

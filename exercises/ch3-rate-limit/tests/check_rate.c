/* check_rate.c -- black-box tests of echosvr_rate: the echo flows at the
 * rate given, per connection, with bursts capped at a second's worth,
 * and a sender the bucket holds back is not read meanwhile. */
#include "fixture.h"
#include "now.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SERVER "./echosvr_rate"
/* 100,000 bytes a second: the bucket holds 100,000 tokens and a tick
 * adds 10,000. */
#define RATE     100000
#define RATE_ARG "100000"

static struct hproc *start_rate(void)
{
    const char *argv[] = {SERVER, "-p", "0", "-r", RATE_ARG, NULL};

    return fixture_start(argv);
}

static double now_s(void) { return (double)now_mono_ns() / 1e9; }

/* Echo n streams of len bytes each, all at once, and return how long the
 * whole echo took in seconds. The test fails if it is incomplete. */
static double timed_echo(struct hproc *srv, int n, size_t len, int pause_ms)
{
    struct echo_stream s[8];
    unsigned char *data = malloc(len);
    double t0;

    ck_assert(n <= 8 && data != NULL);
    harness_fill(data, len, 5);
    for (int i = 0; i < n; i++) {
        s[i] = (struct echo_stream){
            .fd = harness_connect(srv->port), .data = data, .len = len};
        fixture_assert(srv, s[i].fd >= 0, "connect: %s", strerror(errno));
    }
    /* A connection that was quiet for a while must not have saved up. */
    if (pause_ms > 0)
        usleep((useconds_t)pause_ms * 1000);
    t0 = now_s();
    fixture_assert(srv, echo_pump(s, (size_t)n, 15000) == 0, "the echo: %s",
                   harness_error());
    t0 = now_s() - t0;
    for (int i = 0; i < n; i++)
        close(s[i].fd);
    free(data);
    return t0;
}

/* 300,000 bytes at 100,000 a second, the first 100,000 from a full
 * bucket: 2 s, and never less than 1.7 s. */
START_TEST(test_rate_slows_echo)
{
    struct hproc *srv = start_rate();
    double secs = timed_echo(srv, 1, 3 * RATE, 0);

    fixture_assert(srv, secs >= 1.7,
                   "300000 bytes came back in %.2f s; at " RATE_ARG
                   " bytes a second that takes 2 s",
                   secs);
    fixture_stop_clean(srv, 2000);
}
END_TEST

/* After 1.5 s of silence the bucket holds one second's worth, not 2.5:
 * 300,000 bytes still take 2 s. */
START_TEST(test_rate_burst_capped)
{
    struct hproc *srv = start_rate();
    double secs = timed_echo(srv, 1, 3 * RATE, 1500);

    fixture_assert(srv, secs >= 1.7,
                   "after 1.5 s of silence 300000 bytes came back in %.2f s: "
                   "the bucket saved up more than one second's worth (%d)",
                   secs, RATE);
    fixture_stop_clean(srv, 2000);
}
END_TEST

/* Each connection has its own bucket: 8 clients of 200,000 bytes take
 * 1 s each, together; one bucket for all would take 15 s. */
START_TEST(test_rate_per_connection)
{
    struct hproc *srv = start_rate();
    double secs = timed_echo(srv, 8, 2 * RATE, 0);

    fixture_assert(srv, secs >= 0.8,
                   "8 x 200000 bytes came back in %.2f s, "
                   "faster than " RATE_ARG " bytes a second each",
                   secs);
    fixture_assert(srv, secs <= harness_ms(3500) / 1000.0,
                   "8 clients of 200000 bytes at once took %.2f s, 1 s each is "
                   "expected: does every connection get a bucket of its own?",
                   secs);
    fixture_stop_clean(srv, 2000);
}
END_TEST

/* A client that sends 64 MiB without reading: with the bucket empty the
 * server must stop reading, so the client's sends block after what the
 * kernel buffers hold (a few MiB). */
START_TEST(test_rate_pauses_reading)
{
    const size_t len = 64u * 1024 * 1024;
    struct hproc *srv = start_rate();
    unsigned char *data = malloc(len);
    size_t sent = 0;
    int fd, idle_ms = 0;

    ck_assert_ptr_nonnull(data);
    memset(data, 'x', len);
    fd = harness_connect(srv->port);
    fixture_assert(srv, fd >= 0, "connect: %s", strerror(errno));
    while (sent < len && idle_ms < 500) {
        /* 64 KiB a call: valgrind checks the whole buffer given to
         * each send, and 64 MiB each time took it minutes */
        size_t chunk = len - sent < 65536 ? len - sent : 65536;
        ssize_t n = send(fd, data + sent, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            idle_ms = 0;
        } else {
            fixture_assert(srv, errno == EAGAIN, "send: %s", strerror(errno));
            usleep(10000);
            idle_ms += 10;
        }
    }
    fixture_assert(
        srv, sent < len / 4,
        "the server took %zu bytes from a client it may echo only " RATE_ARG
        " bytes a second: it must stop reading while the "
        "bucket is empty",
        sent);
    close(fd);
    free(data);
    fixture_stop_clean(srv, 2000);
}
END_TEST

/* At 1,000 bytes a second, one send of 1,500 bytes arrives in one read:
 * 1,000 go back at once, the other 500 wait in the input buffer with the
 * socket drained. Only the ticks can move them (100 bytes each): no new
 * byte will arrive to call the read callback. */
START_TEST(test_rate_tick_drains_input)
{
    const char *argv[] = {SERVER, "-p", "0", "-r", "1000", NULL};
    struct hproc *srv = fixture_start(argv);
    unsigned char data[1500];
    struct echo_stream s = {.data = data, .len = sizeof(data)};
    double t0;

    harness_fill(data, sizeof(data), 3);
    s.fd = harness_connect(srv->port);
    fixture_assert(srv, s.fd >= 0, "connect: %s", strerror(errno));
    t0 = now_s();
    fixture_assert(srv, echo_pump(&s, 1, 5000) == 0,
                   "1500 bytes at 1000 a second: %s (did the tick move the "
                   "bytes waiting in the input?)",
                   harness_error());
    t0 = now_s() - t0;
    fixture_assert(srv, t0 >= 0.35,
                   "1500 bytes came back in %.2f s; at 1000 bytes a second the "
                   "last 500 take 0.5 s",
                   t0);
    close(s.fd);
    fixture_stop_clean(srv, 2000);
}
END_TEST

/* Guard: every size still comes back whole and in order. */
START_TEST(test_rate_still_echoes)
{
    const char *argv[] = {SERVER, "-p", "0", "-r", "64M", NULL};
    struct hproc *srv = fixture_start(argv);

    fixture_assert(srv, echo_check_sizes(srv->port, 20000) == 0, "%s",
                   harness_error());
    fixture_assert(srv, echo_check_clients(srv->port, 20, 200, 20000) == 0,
                   "%s", harness_error());
    fixture_stop_clean(srv, 2000);
}
END_TEST

/* Guard: SIGTERM while connections wait for tokens: exit 0 at once, every
 * timer gone with its connection. */
START_TEST(test_rate_stop_while_limited)
{
    struct hproc *srv = start_rate();
    unsigned char data[4 * RATE / 10];
    int fds[10];

    memset(data, 'y', sizeof(data));
    for (int i = 0; i < 10; i++) {
        fds[i] = harness_connect(srv->port);
        fixture_assert(srv, fds[i] >= 0, "connect: %s", strerror(errno));
        fixture_assert(srv, harness_write_all(fds[i], data, sizeof(data)) == 0,
                       "send: %s", strerror(errno));
    }
    usleep(250 * 1000); /* a few ticks of every timer */
    fixture_stop_clean(srv, 2000);
    for (int i = 0; i < 10; i++)
        close(fds[i]);
}
END_TEST

Suite *rate_suite(void)
{
    Suite *s = suite_create("ch3-rate-limit");
    TCase *tc;

    tc = tcase_create("rate");
    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_rate_slows_echo);
    tcase_add_test(tc, test_rate_pauses_reading);
    tcase_add_test(tc, test_rate_still_echoes);
    suite_add_tcase(s, tc);

    tc = tcase_create("timer");
    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_rate_tick_drains_input);
    tcase_add_test(tc, test_rate_burst_capped);
    tcase_add_test(tc, test_rate_per_connection);
    tcase_add_test(tc, test_rate_stop_while_limited);
    suite_add_tcase(s, tc);
    return s;
}

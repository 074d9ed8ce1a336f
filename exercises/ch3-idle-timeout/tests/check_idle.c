/* check_idle.c -- black-box tests of echosvr_idle's idle timeout (-t). */
#include "harness.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SERVER "./echosvr_idle"

static struct hproc *start_idle(const char *seconds)
{
    const char *argv[] = {SERVER, "-p", "0", "-t", seconds, NULL};
    struct hproc *p = harness_start_server(argv);

    ck_assert_msg(p != NULL, "%s -t %s did not start: %s", SERVER, seconds,
                  harness_error());
    return p;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds until the server closes fd (EOF or reset), or -1 if it
 * is still open after limit_ms. Fails the test if data arrives. */
static long long ms_until_closed(int fd, int limit_ms)
{
    long long start = now_ms();
    struct pollfd pfd = {fd, POLLIN, 0};
    char c;

    if (poll(&pfd, 1, limit_ms) == 0)
        return -1;
    ck_assert_msg(recv(fd, &c, 1, 0) <= 0, "unexpected data from the server");
    return now_ms() - start;
}

/* Send one short line and read its echo. */
static void ping(int fd, int i)
{
    char msg[32], back[32];
    int len = snprintf(msg, sizeof(msg), "ping %d\n", i);

    ck_assert_msg(harness_write_all(fd, msg, (size_t)len) == 0 &&
                      harness_read_all(fd, back, (size_t)len) == 0,
                  "ping %d: the server closed an active connection", i);
    ck_assert_msg(memcmp(msg, back, (size_t)len) == 0, "wrong echo");
}

/* The length of the first line of text, for one-line failure messages. */
static int first_line(const char *text) { return (int)strcspn(text, "\n"); }

/* -t 1: a connection that never sends is closed after about a second. */
START_TEST(test_idle_closes_silent_connection)
{
    struct hproc *srv = start_idle("1");
    int fd = harness_connect(srv->port);
    long long ms;

    ck_assert_int_ge(fd, 0);
    ms = ms_until_closed(fd, harness_ms(3000));
    ck_assert_msg(ms >= 0, "a silent connection was still open after 3 s");
    ck_assert_msg(ms >= 800, "closed after %lld ms, before the timeout", ms);
    close(fd);
    ck_assert_int_eq(harness_stop(srv, SIGTERM, 2000), 0);
}
END_TEST

/* A client that talks every 300 ms keeps its connection for 2.4 s, four
 * times the gaps, while a silent neighbour is closed. */
START_TEST(test_idle_spares_active_connection)
{
    struct hproc *srv = start_idle("1");
    int active = harness_connect(srv->port);
    int silent = harness_connect(srv->port);
    struct pollfd pfd = {silent, POLLIN, 0};

    ck_assert_int_ge(active, 0);
    ck_assert_int_ge(silent, 0);
    for (int i = 0; i < 8; i++) {
        ping(active, i);
        usleep(300 * 1000);
    }
    ping(active, 8);
    ck_assert_msg(poll(&pfd, 1, 0) == 1,
                  "the silent connection was still open after 2.4 s");
    close(active);
    close(silent);
    ck_assert_int_eq(harness_stop(srv, SIGTERM, 2000), 0);
}
END_TEST

/* The timer counts from the last traffic, not from the connection. */
START_TEST(test_idle_timer_restarts_after_traffic)
{
    struct hproc *srv = start_idle("1");
    int fd = harness_connect(srv->port);
    long long ms;

    ck_assert_int_ge(fd, 0);
    usleep(600 * 1000);
    ping(fd, 1);
    ms = ms_until_closed(fd, harness_ms(3000));
    ck_assert_msg(ms >= 0, "still open 3 s after its last message");
    ck_assert_msg(ms >= 800,
                  "closed %lld ms after its last message: the timer did "
                  "not restart",
                  ms);
    close(fd);
    ck_assert_int_eq(harness_stop(srv, SIGTERM, 2000), 0);
}
END_TEST

START_TEST(test_idle_help_shows_option)
{
    const char *argv[] = {SERVER, "-h", NULL};
    char *out = NULL;

    ck_assert_int_eq(harness_run(argv, 3000, &out, NULL), 0);
    ck_assert_msg(strstr(out, "-t SECONDS") != NULL,
                  "-h does not document -t SECONDS");
    free(out);
}
END_TEST

static const char *const bad_timeouts[] = {"x", "-1", "1.5", "86401", ""};

START_TEST(test_idle_bad_timeout)
{
    const char *argv[] = {SERVER, "-t", bad_timeouts[_i], NULL};
    char *err = NULL;

    ck_assert_int_eq(harness_run(argv, 3000, NULL, &err), 2);
    ck_assert_msg(strncmp(err, "echosvr_idle: ", 14) == 0 &&
                      strstr(err, "timeout") != NULL &&
                      strstr(err, "usage:") != NULL,
                  "-t '%s': expected a line naming the timeout, then the "
                  "usage; got: %.*s",
                  bad_timeouts[_i], first_line(err), err);
    free(err);
}
END_TEST

/* -t 0 turns the timeout off: a silent connection stays. */
START_TEST(test_idle_zero_means_never)
{
    struct hproc *srv = start_idle("0");
    int fd = harness_connect(srv->port);

    ck_assert_int_ge(fd, 0);
    ck_assert_msg(ms_until_closed(fd, 1500) < 0,
                  "-t 0 closed a silent connection");
    ping(fd, 1);
    close(fd);
    ck_assert_int_eq(harness_stop(srv, SIGTERM, 2000), 0);
}
END_TEST

/* SIGTERM with connections whose timers are pending: exit 0 at once. */
START_TEST(test_idle_sigterm_with_pending_timers)
{
    struct hproc *srv = start_idle("30");
    int fds[5];

    for (int i = 0; i < 5; i++) {
        fds[i] = harness_connect(srv->port);
        ck_assert_int_ge(fds[i], 0);
    }
    ping(fds[0], 0);
    ck_assert_msg(harness_stop(srv, SIGTERM, 1000) == 0, "%s", harness_error());
    for (int i = 0; i < 5; i++)
        close(fds[i]);
}
END_TEST

Suite *idle_suite(void)
{
    Suite *s = suite_create("ch3-idle-timeout");
    TCase *tc;

    tc = tcase_create("timeout");
    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_set_timeout(tc, 15);
    tcase_add_test(tc, test_idle_closes_silent_connection);
    tcase_add_test(tc, test_idle_spares_active_connection);
    tcase_add_test(tc, test_idle_timer_restarts_after_traffic);
    suite_add_tcase(s, tc);

    tc = tcase_create("options");
    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_set_timeout(tc, 15);
    tcase_add_test(tc, test_idle_help_shows_option);
    tcase_add_loop_test(tc, test_idle_bad_timeout, 0,
                        sizeof(bad_timeouts) / sizeof(bad_timeouts[0]));
    tcase_add_test(tc, test_idle_zero_means_never);
    tcase_add_test(tc, test_idle_sigterm_with_pending_timers);
    suite_add_tcase(s, tc);
    return s;
}

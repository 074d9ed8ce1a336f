/* check_timeout.c -- black-box tests of echosvr_v2 (statistics timer,
 * idle timeout) and client_v2. */
#include "fixture.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SERVER "./echosvr_v2"
#define CLIENT "./client_v2"

/* One report as the server printed it. */
struct report {
    unsigned long long messages, bytes_in, bytes_out, accepted, open, idle;
    unsigned long long refused, buffered, pauses;
    double msg_rate;
};

static struct hproc *start_v2(const char *interval, const char *idle)
{
    const char *argv[] = {SERVER, "-p", "0", "-i", interval, "-t", idle, NULL};
    return fixture_start(argv);
}

static void port_str(const struct hproc *srv, char *buf, size_t size)
{
    snprintf(buf, size, "%u", srv->port);
}

static unsigned long long field(const char *rep, const char *name, double *rate)
{
    char key[32];
    const char *line;
    unsigned long long v;

    snprintf(key, sizeof(key), "\n  %s ", name);
    line = strstr(rep, key);
    ck_assert_msg(line != NULL, "no %s in report:\n%s", name, rep);
    ck_assert_int_ge(sscanf(line + strlen(key), "%llu %lf", &v, rate), 1);
    return v;
}

/* Parse reports from the server's stdout; returns how many there were
 * and fills r[0..max-1] with the first ones. */
static int parse_reports(struct hproc *srv, struct report *r, int max)
{
    char *out = harness_stdout(srv), *p = out;
    double rate;
    int n = 0;

    while ((p = strstr(p, "statistics at ")) != NULL) {
        char *next = strstr(p + 1, "statistics at ");
        if (next)
            next[-1] = '\0';
        if (n < max) {
            r[n].messages = field(p, "messages", &r[n].msg_rate);
            r[n].bytes_in = field(p, "bytes_in", &rate);
            r[n].bytes_out = field(p, "bytes_out", &rate);
            r[n].accepted = field(p, "conns_accepted", &rate);
            r[n].open = field(p, "conns_open", &rate);
            r[n].idle = field(p, "idle_closed", &rate);
            r[n].refused = field(p, "conns_refused", &rate);
            r[n].buffered = field(p, "bytes_held", &rate);
            r[n].pauses = field(p, "limit_pauses", &rate);
        }
        n++;
        if (!next)
            break;
        p = next;
    }
    free(out);
    return n;
}

/* A one-process server exits within this long of SIGTERM. */
#define STOP_MS 2000

/* The next report of a server started with -i 1 (within 3 s). */
static struct report next_report(struct hproc *srv)
{
    struct report r[64];
    int n = parse_reports(srv, r, 64), m;

    for (int waited = 0; waited < harness_ms(3000); waited += 50) {
        usleep(50000);
        if ((m = parse_reports(srv, r, 64)) > n && m <= 64)
            return r[m - 1];
    }
    fixture_fail_with(srv, "no new report within 3 s");
    return r[0];
}

/* With -i 1, two reports within 3 s, each counting exactly what
 * client_v2 sent: 10 messages of 100 bytes on one connection. */
START_TEST(test_timeout_reports_count_client)
{
    struct hproc *srv = start_v2("1", "0");
    char port[16], *out = NULL;
    const char *argv[] = {CLIENT, "-p", port, "-n", "10", "-s", "100", NULL};
    struct report r[8];
    int n;

    port_str(srv, port, sizeof(port));
    ck_assert_int_eq(harness_run(argv, 5000, &out, NULL), 0);
    ck_assert_msg(strstr(out, "sent 10 messages of 100 bytes (1000 bytes)"),
                  "%s", out);
    free(out);
    /* the second report opens with its header line after the first */
    ck_assert_msg(harness_wait_output(srv, "idle_closed", 3000) == 0, "%s",
                  harness_error());
    for (int waited = 0; waited < harness_ms(3000); waited += 50) {
        if (parse_reports(srv, r, 8) >= 2)
            break;
        usleep(50000);
    }
    n = parse_reports(srv, r, 8);
    ck_assert_msg(n >= 2, "only %d report(s) in 3 s", n);
    for (int i = 0; i < 2; i++) {
        ck_assert_uint_eq(r[i].messages, 10);
        ck_assert_uint_eq(r[i].bytes_in, 1000);
        ck_assert_uint_eq(r[i].bytes_out, 1000);
        ck_assert_uint_eq(r[i].accepted, 1);
        ck_assert_uint_eq(r[i].open, 0);
        ck_assert_uint_eq(r[i].idle, 0);
    }
    /* rates are since the previous report: all of it, then nothing */
    ck_assert_msg(r[0].msg_rate > 4.0, "first rate %.1f", r[0].msg_rate);
    ck_assert_msg(r[1].msg_rate == 0.0, "second rate %.1f", r[1].msg_rate);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* -t 1: a silent connection is closed after about a second, one that
 * sends every 250 ms for 3 s is not, and the report counts the closure. */
START_TEST(test_timeout_idle_closed_active_kept)
{
    struct hproc *srv = start_v2("1", "1"), *idle, *busy;
    char port[16], *out;
    const char *idle_argv[] = {CLIENT, "-p", port, "-n", "1", "-l", "5", NULL};
    const char *busy_argv[] = {CLIENT, "-p", port,  "-n",
                               "13",   "-d", "250", NULL};
    struct report r[64];
    double secs = 0;
    int n;

    port_str(srv, port, sizeof(port));
    idle = harness_start(idle_argv);
    busy = harness_start(busy_argv);
    ck_assert_ptr_nonnull(idle);
    ck_assert_ptr_nonnull(busy);
    ck_assert_int_eq(harness_wait(idle, 8000), 0);
    out = harness_stdout(idle);
    ck_assert_msg(sscanf(strstr(out, "server closed") ?: "",
                         "server closed the connection after %lf", &secs) == 1,
                  "idle client: %s", out);
    ck_assert_msg(secs >= 0.9 && secs < 3.0, "closed after %.1f s", secs);
    free(out);

    ck_assert_int_eq(harness_wait(busy, 8000), 0);
    out = harness_stdout(busy);
    ck_assert_msg(strstr(out, "every echo matched"), "busy client: %s", out);
    free(out);

    /* the next report counts one idle closure */
    for (int waited = 0; waited < harness_ms(2500); waited += 50) {
        n = parse_reports(srv, r, 64);
        if (n > 0 && n <= 64 && r[n - 1].open == 0)
            break;
        usleep(50000);
    }
    n = parse_reports(srv, r, 64);
    ck_assert_int_gt(n, 0);
    ck_assert_int_le(n, 64);
    ck_assert_uint_eq(r[n - 1].idle, 1);
    ck_assert_uint_eq(r[n - 1].accepted, 2);
    ck_assert_uint_eq(r[n - 1].messages, 14);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* Without -t, silence is allowed. */
START_TEST(test_timeout_off_by_default)
{
    struct hproc *srv = start_v2("5", "0");
    char port[16], *out = NULL;
    const char *argv[] = {CLIENT, "-p", port, "-n", "1", "-l", "2", NULL};

    port_str(srv, port, sizeof(port));
    ck_assert_int_eq(harness_run(argv, 5000, &out, NULL), 0);
    ck_assert_msg(strstr(out, "still connected after 2 s"), "%s", out);
    free(out);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* The echo of ch3-echo still works: 20 connections, binary data. */
START_TEST(test_timeout_echo_unchanged)
{
    enum { CONNS = 20, LEN = 300 * 1000 };
    struct hproc *srv = start_v2("1", "5");
    struct echo_stream s[CONNS];
    unsigned char *data = malloc(LEN);

    ck_assert_ptr_nonnull(data);
    harness_fill(data, LEN, 3);
    for (int i = 0; i < CONNS; i++) {
        s[i] = (struct echo_stream){.fd = harness_connect(srv->port),
                                    .data = data,
                                    .len = LEN - (size_t)i * 1000};
        ck_assert_int_ge(s[i].fd, 0);
    }
    ck_assert_msg(echo_pump(s, CONNS, 20000) == 0, "%s", harness_error());
    for (int i = 0; i < CONNS; i++)
        close(s[i].fd);
    free(data);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* Clients that vanish, with a reset (_i 0) or a close (_i 1), half a
 * message sent: the others are echoed, and the report counts every one
 * accepted and none left open. */
START_TEST(test_timeout_vanishing_clients)
{
    struct hproc *srv = start_v2("1", "0");
    struct report r;

    fixture_vanishing_clients(srv, 50, _i == 0);
    r = next_report(srv);
    if (r.open != 0) /* a close seen after that report was taken */
        r = next_report(srv);
    ck_assert_uint_eq(r.open, 0);
    ck_assert_uint_eq(r.accepted, 52); /* 50, the good client, a new one */
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* Every byte value, no newline, an 8 MiB "line". */
START_TEST(test_timeout_binary_sizes)
{
    struct hproc *srv = start_v2("5", "0");

    ck_assert_msg(echo_check_sizes(srv->port, 20000) == 0, "%s",
                  harness_error());
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* -b 512k, 16 clients sending up to 100 MiB each and never reading
 * (fixture_byte_limit): the report shows the bytes held within the
 * bound and the pauses. */
START_TEST(test_timeout_byte_limit)
{
    const char *argv[] = {SERVER, "-p", "0", "-i", "1", "-b", "512k", NULL};
    struct hproc *srv = fixture_start(argv);
    struct report r;
    int fds[FIXTURE_HOGS];

    fixture_byte_limit(srv, srv->pid, fds);
    r = next_report(srv);
    /* one read (4 KiB) past the bound at most per connection */
    ck_assert_uint_le(r.buffered, 512 * 1024 + FIXTURE_HOGS * 4096);
    ck_assert_uint_ge(r.buffered, 512 * 1024);
    ck_assert_uint_ge(r.pauses, FIXTURE_HOGS / 2);
    for (int i = 0; i < FIXTURE_HOGS; i++)
        fixture_reset_close(fds[i]);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* -c 5: a sixth client is closed at once and counted. */
START_TEST(test_timeout_conn_limit)
{
    const char *argv[] = {SERVER, "-p", "0", "-i", "1", "-c", "5", NULL};
    struct hproc *srv = fixture_start(argv);

    fixture_conn_limit(srv, 5);
    ck_assert_uint_ge(next_report(srv).refused, 1);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* ulimit -n 24: the EMFILE back-off of ch3-echo holds. */
START_TEST(test_timeout_descriptor_limit)
{
    struct hproc *srv;

    fixture_limit_fds(24);
    srv = start_v2("5", "0");
    fixture_restore_fds();
    fixture_fd_limit(srv, srv->pid, 30);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* SIGTERM with a connection open and the timer armed: exit 0. */
START_TEST(test_timeout_sigterm)
{
    struct hproc *srv = start_v2("1", "60");
    int fd = harness_connect(srv->port);
    char c;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(harness_stop(srv, _i ? SIGINT : SIGTERM, 2000), 0);
    ck_assert_int_eq(recv(fd, &c, 1, 0), 0);
    close(fd);
}
END_TEST

static const char *const bad_args[][5] = {
    {SERVER, "-i", "0"},   {SERVER, "-i", "3601"}, {SERVER, "-t", "-1"},
    {SERVER, "-t", "x"},   {SERVER, "-z"},         {SERVER, "extra"},
    {CLIENT, "-s", "0"},   {CLIENT, "-n", "ten"},  {CLIENT, "-l"},
    {CLIENT, "-d", "1.5"}, {SERVER, "-c", "0"},    {SERVER, "-b", "2T"}};

START_TEST(test_timeout_bad_options)
{
    const char *argv[6] = {0};

    for (int i = 0; i < 5 && bad_args[_i][i]; i++)
        argv[i] = bad_args[_i][i];
    fixture_check_bad_args(argv, NULL);
}
END_TEST

START_TEST(test_timeout_help)
{
    fixture_check_help(_i ? CLIENT : SERVER, _i ? "-l" : "-t");
}
END_TEST

/* A server that flips one bit of the echo: client_v2 exits 1. */
START_TEST(test_client_v2_detects_corruption)
{
    /* the first 8-byte echo is right, the second is not */
    const char *srv_argv[] = {"tests/badecho", "-s", "8", "-c", "1", NULL};
    struct hproc *srv = fixture_start(srv_argv);
    char port[16], *err = NULL;
    const char *argv[] = {CLIENT, "-p", port, "-n", "2", "-s", "8", NULL};

    snprintf(port, sizeof(port), "%u", srv->port);
    ck_assert_int_eq(harness_run(argv, 5000, NULL, &err), 1);
    ck_assert_msg(strstr(err, "message 2: echo differs"), "%s", err);
    free(err);
}
END_TEST

Suite *timeout_suite(void)
{
    Suite *s = suite_create("ch3-timeout");
    TCase *tc;

    tc = tcase_create("timers");
    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_timeout_reports_count_client);
    tcase_add_test(tc, test_timeout_idle_closed_active_kept);
    tcase_add_test(tc, test_timeout_off_by_default);
    suite_add_tcase(s, tc);

    tc = tcase_create("faults");
    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_timeout_vanishing_clients, 0, 2);
    tcase_add_test(tc, test_timeout_binary_sizes);
    tcase_add_test(tc, test_timeout_byte_limit);
    tcase_add_test(tc, test_timeout_conn_limit);
    /* valgrind gives the programs it runs a descriptor limit of its own */
    if (!getenv("SVRTUT_MEMCHECK"))
        tcase_add_test(tc, test_timeout_descriptor_limit);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_timeout_echo_unchanged);
    tcase_add_loop_test(tc, test_timeout_sigterm, 0, 2);
    tcase_add_loop_test(tc, test_timeout_bad_options, 0,
                        sizeof(bad_args) / sizeof(bad_args[0]));
    tcase_add_loop_test(tc, test_timeout_help, 0, 2);
    tcase_add_test(tc, test_client_v2_detects_corruption);
    suite_add_tcase(s, tc);
    return s;
}

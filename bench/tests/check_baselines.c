/* check_baselines.c -- the two echo baselines of make bench are servers
 * like every other: they echo every byte, keep the program contract and
 * stop cleanly. (Their speed is measured by make bench, not here.) */
#include "fixture.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *const servers[] = {"./epoll_echo", "./bev_echo"};
#define NSERVERS 2

static struct hproc *start(int which)
{
    const char *argv[] = {servers[which], "-p", "0", NULL};
    return fixture_start(argv);
}

/* 50 connections pipelining 500 messages each, then every size up to
 * 8 MiB (far beyond epoll_echo's 16 KiB buffer: partial sends). */
START_TEST(test_baselines_echo)
{
    struct hproc *srv = start(_i);

    fixture_assert(srv, echo_check_clients(srv->port, 50, 500, 20000) == 0,
                   "%s: %s", servers[_i], harness_error());
    fixture_assert(srv, echo_check_sizes(srv->port, 20000) == 0, "%s: %s",
                   servers[_i], harness_error());
    fixture_stop_clean(srv, 2000);
}
END_TEST

/* epoll_echo finishes the echo of a half-closed connection (bev_echo,
 * the minimal one, closes at EOF: its head comment says so). */
START_TEST(test_baselines_epoll_half_close)
{
    struct hproc *srv = start(0);

    fixture_assert(srv, echo_check_half_close(srv->port, 10000) == 0, "%s",
                   harness_error());
    fixture_stop_clean(srv, 2000);
}
END_TEST

/* A client that writes 64 MiB without reading: epoll_echo stops taking
 * bytes once the socket buffers (some 20 MiB on loopback) and its 16 KiB
 * are full, serves another
 * client meanwhile, and sends every byte back once the client reads.
 * This is the path of partial sends and EPOLLOUT. */
START_TEST(test_baselines_epoll_stalled_reader)
{
    const size_t len = 64u * 1024 * 1024;
    struct hproc *srv = start(0);
    unsigned char *data = malloc(len), small[1000];
    struct echo_stream hog, other;

    ck_assert_ptr_nonnull(data);
    harness_fill(data, len, 7);
    hog = (struct echo_stream){
        .fd = harness_connect(srv->port), .data = data, .len = len};
    ck_assert_int_ge(hog.fd, 0);
    hog.sent = harness_write_until_stalled(hog.fd, data, len);
    fixture_assert(srv, hog.sent < len / 2, "took %zu bytes without being read",
                   hog.sent);
    harness_fill(small, sizeof(small), 8);
    other = (struct echo_stream){
        .fd = harness_connect(srv->port), .data = small, .len = sizeof(small)};
    fixture_assert(srv, echo_pump(&other, 1, 5000) == 0, "other client: %s",
                   harness_error());
    close(other.fd);
    fixture_assert(srv, echo_pump(&hog, 1, 30000) == 0, "%s", harness_error());
    close(hog.fd);
    free(data);
    fixture_stop_clean(srv, 2000);
}
END_TEST

/* SIGTERM (even _i) or SIGINT (odd) with clients connected: exit 0 within
 * a second, every connection closed. */
START_TEST(test_baselines_stop_with_clients)
{
    struct hproc *srv = start(_i / 2);
    int fds[10];

    for (int i = 0; i < 10; i++) {
        fds[i] = harness_connect(srv->port);
        fixture_assert(srv, fds[i] >= 0, "connect: %s", harness_error());
    }
    fixture_assert(srv, harness_stop(srv, _i % 2 ? SIGINT : SIGTERM, 1000) == 0,
                   "%s: %s", servers[_i / 2], harness_error());
    for (int i = 0; i < 10; i++) {
        char c;
        ck_assert_int_eq(recv(fds[i], &c, 1, 0), 0);
        close(fds[i]);
    }
}
END_TEST

START_TEST(test_baselines_port_in_use)
{
    struct hproc *srv = start(_i);
    char port[16], *err = NULL;
    const char *argv[] = {servers[_i], "-p", port, NULL};

    snprintf(port, sizeof(port), "%u", srv->port);
    ck_assert_int_eq(harness_run(argv, 3000, NULL, &err), 1);
    ck_assert_msg(strstr(err, port) != NULL, "error does not name the port: %s",
                  err);
    free(err);
    fixture_stop_clean(srv, 2000);
}
END_TEST

START_TEST(test_baselines_usage)
{
    const char *bad[][4] = {
        {servers[_i], "-p", "65536", NULL},
        {servers[_i], "-a", "localhost", NULL},
        {servers[_i], "-z", NULL},
        {servers[_i], "extra", NULL},
    };

    fixture_check_help(servers[_i], "-p PORT");
    for (int i = 0; i < 4; i++)
        fixture_check_bad_args(bad[i], NULL);
}
END_TEST

Suite *baselines_suite(void)
{
    Suite *s = suite_create("bench baselines");
    TCase *tc = tcase_create("echo");

    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_baselines_echo, 0, NSERVERS);
    tcase_add_test(tc, test_baselines_epoll_half_close);
    tcase_add_test(tc, test_baselines_epoll_stalled_reader);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_set_timeout(tc, 15);
    tcase_add_loop_test(tc, test_baselines_stop_with_clients, 0, 2 * NSERVERS);
    tcase_add_loop_test(tc, test_baselines_port_in_use, 0, NSERVERS);
    tcase_add_loop_test(tc, test_baselines_usage, 0, NSERVERS);
    suite_add_tcase(s, tc);
    return s;
}

/* check_select_echo.c -- black-box tests of echosvr_select: the echo
 * checks every echo server of the course passes, and FD_SETSIZE. */
#include "harness.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SERVER "./echosvr_select"
/* Past select()'s limit, with room for the server's other descriptors. */
#define MANY (FD_SETSIZE + 100)

static struct hproc *start_echo(void)
{
    const char *argv[] = {SERVER, "-p", "0", NULL};
    struct hproc *p = harness_start_server(argv);

    ck_assert_msg(p != NULL, "server did not start: %s", harness_error());
    return p;
}

static void stop_clean(struct hproc *srv)
{
    int rc = harness_stop(srv, SIGTERM, 2000);

    ck_assert_msg(rc == 0, "server did not exit 0 on SIGTERM: %s",
                  rc < 0 ? harness_error() : "it exited non-zero");
}

/* 100 connections at once, each pipelining 1,000 lines: a server that
 * serves one client at a time, or blocks on one, times out here. */
START_TEST(test_select_concurrent_clients)
{
    struct hproc *srv = start_echo();

    ck_assert_msg(echo_check_clients(srv->port, 100, 1000, 20000) == 0, "%s",
                  harness_error());
    stop_clean(srv);
}
END_TEST

START_TEST(test_select_binary_sizes)
{
    struct hproc *srv = start_echo();

    ck_assert_msg(echo_check_sizes(srv->port, 20000) == 0, "%s",
                  harness_error());
    stop_clean(srv);
}
END_TEST

START_TEST(test_select_half_close)
{
    struct hproc *srv = start_echo();

    ck_assert_msg(echo_check_half_close(srv->port, 10000) == 0, "%s",
                  harness_error());
    stop_clean(srv);
}
END_TEST

/* A client that writes 64 MiB without reading: the server must stop
 * taking its bytes (bounded memory), and still echo all of them once the
 * client reads. */
START_TEST(test_select_backpressure)
{
    const size_t len = 64u * 1024 * 1024;
    struct hproc *srv = start_echo();
    unsigned char *data = malloc(len);
    struct echo_stream hog;
    int idle_ms = 0;

    ck_assert_ptr_nonnull(data);
    harness_fill(data, len, 99);
    hog = (struct echo_stream){
        .fd = harness_connect(srv->port), .data = data, .len = len};
    ck_assert_int_ge(hog.fd, 0);
    while (hog.sent < len && idle_ms < 500) {
        ssize_t n = send(hog.fd, data + hog.sent, len - hog.sent,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            hog.sent += (size_t)n;
            idle_ms = 0;
        } else {
            ck_assert_msg(errno == EAGAIN, "send: %s", strerror(errno));
            usleep(10000);
            idle_ms += 10;
        }
    }
    ck_assert_msg(hog.sent < len / 4,
                  "the server took %zu bytes from a client that does not "
                  "read: it must stop reading from it",
                  hog.sent);
    ck_assert_msg(echo_pump(&hog, 1, 60000) == 0, "%s", harness_error());
    close(hog.fd);
    free(data);
    stop_clean(srv);
}
END_TEST

/* MANY connections, so the server holds descriptors past FD_SETSIZE.
 * Each must be echoed or refused (closed without data): never ignored,
 * never a crash. The first 900 are all below the limit and must work,
 * and so must a new connection once the others are gone. */
START_TEST(test_select_past_fd_setsize)
{
    struct rlimit rl;
    struct hproc *srv;
    int *fds = malloc(MANY * sizeof(*fds)), echoed = 0, refused = 0;
    struct timespec t0, t1;

    ck_assert_ptr_nonnull(fds);
    /* The server inherits this limit: it can open past FD_SETSIZE. */
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_msg(rl.rlim_max >= MANY + 200,
                  "this test needs a hard limit of open files above %d "
                  "(ulimit -Hn is %llu)",
                  MANY + 200, (unsigned long long)rl.rlim_max);
    rl.rlim_cur = MANY + 200;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    srv = start_echo();
    for (int i = 0; i < MANY; i++) {
        fds[i] = harness_connect(srv->port);
        ck_assert_msg(fds[i] >= 0, "connect %d: %s", i, strerror(errno));
        ck_assert_int_eq(harness_write_all(fds[i], "0123456789abcde\n", 16), 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < MANY; i++) {
        struct pollfd pfd = {fds[i], POLLIN, 0};
        char buf[16];
        ssize_t n = 0;
        long left;

        clock_gettime(CLOCK_MONOTONIC, &t1);
        left = harness_ms(10000) - (long)((t1.tv_sec - t0.tv_sec) * 1000 +
                                          (t1.tv_nsec - t0.tv_nsec) / 1000000);
        ck_assert_msg(left > 0 && poll(&pfd, 1, (int)left) == 1,
                      "connection %d of %d: neither echoed nor closed", i,
                      MANY);
        n = recv(fds[i], buf, sizeof(buf), MSG_WAITALL);
        if (n == 16 && memcmp(buf, "0123456789abcde\n", 16) == 0)
            echoed++;
        else if (n <= 0)
            refused++;
        else
            ck_abort_msg("connection %d: a wrong or short echo", i);
        ck_assert_msg(i >= 900 || n == 16, "connection %d was refused", i);
    }
    for (int i = 0; i < MANY; i++)
        close(fds[i]);
    free(fds);
    ck_assert_msg(echoed + refused == MANY, "%d echoed, %d refused", echoed,
                  refused);
    usleep(100 * 1000); /* let the server see the closes */
    ck_assert_msg(echo_check_half_close(srv->port, 10000) == 0,
                  "after %d connections: %s", MANY, harness_error());
    stop_clean(srv);
}
END_TEST

START_TEST(test_select_stop_with_clients)
{
    struct hproc *srv = start_echo();
    int fds[10];
    char c;

    for (int i = 0; i < 10; i++) {
        fds[i] = harness_connect(srv->port);
        ck_assert_int_ge(fds[i], 0);
    }
    ck_assert_int_eq(harness_write_all(fds[0], "x", 1), 0);
    ck_assert_int_eq(harness_read_all(fds[0], &c, 1), 0);
    ck_assert_msg(harness_stop(srv, _i == 0 ? SIGTERM : SIGINT, 1000) == 0,
                  "%s: %s", _i == 0 ? "SIGTERM" : "SIGINT",
                  srv->reaped ? "exit status not 0" : harness_error());
    /* Every connection is closed by the exit. */
    for (int i = 0; i < 10; i++) {
        ck_assert_int_le(recv(fds[i], &c, 1, 0), 0);
        close(fds[i]);
    }
}
END_TEST

Suite *select_echo_suite(void)
{
    Suite *s = suite_create("ch3-select-echo");
    TCase *tc;

    tc = tcase_create("echo");
    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_select_concurrent_clients);
    tcase_add_test(tc, test_select_binary_sizes);
    tcase_add_test(tc, test_select_half_close);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_select_backpressure);
    tcase_add_test(tc, test_select_past_fd_setsize);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_set_timeout(tc, 15);
    tcase_add_loop_test(tc, test_select_stop_with_clients, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

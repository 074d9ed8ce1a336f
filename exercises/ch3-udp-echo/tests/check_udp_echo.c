/* check_udp_echo.c -- black-box tests of echosvr_udp. */
#include "fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SERVER    "./echosvr_udp"
#define MAX_DGRAM 65507 /* the largest UDP payload over IPv4 */

static struct hproc *start_udp(void)
{
    const char *argv[] = {SERVER, "-p", "0", NULL};

    return fixture_start(argv);
}

/* A UDP socket connected to the server: it receives only what comes from
 * the server's address and port. */
static int udp_client(uint16_t port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

/* Receive one datagram into buf (at least MAX_DGRAM + 1 bytes): its
 * length, or -1 if none came in time. */
static ssize_t recv_dgram(int fd, unsigned char *buf, int timeout_ms)
{
    struct pollfd pfd = {fd, POLLIN, 0};

    if (poll(&pfd, 1, harness_ms(timeout_ms)) != 1)
        return -1;
    return recv(fd, buf, MAX_DGRAM + 1, MSG_DONTWAIT);
}

/* Empty, tiny, one Ethernet frame and one byte more, around the
 * tutorial's 4 KiB buffer, and the largest datagram there is. */
START_TEST(test_udp_sizes)
{
    static const size_t sizes[] = {0,    1,    100,  1472,  1473,
                                   4096, 4097, 8192, 32768, MAX_DGRAM};
    struct hproc *srv = start_udp();
    unsigned char *data = malloc(MAX_DGRAM), *back = malloc(MAX_DGRAM + 1);
    int fd = udp_client(srv->port);

    ck_assert(data && back);
    harness_fill(data, MAX_DGRAM, 11);
    for (int i = 0; i < 256; i++)
        data[i] = (unsigned char)i;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        ssize_t n;

        ck_assert_int_eq(send(fd, data, sizes[i], 0), (ssize_t)sizes[i]);
        n = recv_dgram(fd, back, 2000);
        fixture_assert(srv, n >= 0, "no echo of a %zu-byte datagram", sizes[i]);
        fixture_assert(srv, (size_t)n == sizes[i],
                       "a %zu-byte datagram came back as %zd bytes", sizes[i],
                       n);
        fixture_assert(srv, memcmp(data, back, sizes[i]) == 0,
                       "a %zu-byte datagram came back changed", sizes[i]);
    }
    close(fd);
    free(data);
    free(back);
    fixture_stop_clean(srv, 2000);
}
END_TEST

/* 16 senders, 20 rounds: in each round every sender sends one datagram
 * (its own text, 0-1,400 bytes), then each must get back exactly its own. */
START_TEST(test_udp_several_senders)
{
    enum { SENDERS = 16, ROUNDS = 20 };
    struct hproc *srv = start_udp();
    unsigned char *back = malloc(MAX_DGRAM + 1), msg[1500];
    int fds[SENDERS];

    ck_assert_ptr_nonnull(back);
    for (int s = 0; s < SENDERS; s++)
        fds[s] = udp_client(srv->port);
    for (int r = 0; r < ROUNDS; r++) {
        for (int s = 0; s < SENDERS; s++) {
            size_t len = (size_t)(s * 97 + r * 31) % 1400;
            harness_fill(msg, len, (uint32_t)(s * ROUNDS + r + 1));
            ck_assert_int_eq(send(fds[s], msg, len, 0), (ssize_t)len);
        }
        for (int s = 0; s < SENDERS; s++) {
            size_t len = (size_t)(s * 97 + r * 31) % 1400;
            ssize_t n = recv_dgram(fds[s], back, 2000);

            harness_fill(msg, len, (uint32_t)(s * ROUNDS + r + 1));
            fixture_assert(srv, n >= 0, "sender %d, round %d: no echo", s, r);
            fixture_assert(srv, (size_t)n == len && memcmp(msg, back, len) == 0,
                           "sender %d, round %d: got %zd bytes that are not "
                           "its own %zu",
                           s, r, n, len);
        }
    }
    for (int s = 0; s < SENDERS; s++)
        close(fds[s]);
    free(back);
    fixture_stop_clean(srv, 2000);
}
END_TEST

/* The port is taken: one line naming the port and the cause, exit 1. */
START_TEST(test_udp_port_in_use)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    char port[16], *err;
    const char *argv[] = {SERVER, "-p", port, NULL};
    struct hproc *srv;
    int rc;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    snprintf(port, sizeof(port), "%u", ntohs(sin.sin_port));
    srv = harness_start(argv);
    ck_assert_ptr_nonnull(srv);
    rc = harness_wait(srv, 3000);
    err = harness_stderr(srv);
    fixture_assert(srv, rc == 1, "with port %s taken: exit status 1 expected",
                   port);
    fixture_assert(srv, strstr(err, port) && strstr(err, strerror(EADDRINUSE)),
                   "expected one line naming port %s and '%s'", port,
                   strerror(EADDRINUSE));
    fixture_assert(srv, strchr(err, '\n') == strrchr(err, '\n'),
                   "more than one line on stderr");
    free(err);
    close(fd);
}
END_TEST

/* SIGTERM or SIGINT after some traffic: exit 0 at once. */
START_TEST(test_udp_stop)
{
    struct hproc *srv = start_udp();
    unsigned char back[MAX_DGRAM + 1];
    int fd = udp_client(srv->port);

    ck_assert_int_eq(send(fd, "ping", 4, 0), 4);
    fixture_assert(srv, recv_dgram(fd, back, 2000) == 4, "no echo of 'ping'");
    fixture_assert(srv,
                   harness_stop(srv, _i == 0 ? SIGTERM : SIGINT, 1000) == 0,
                   "%s: %s", _i == 0 ? "SIGTERM" : "SIGINT",
                   srv->reaped ? "exit status not 0" : harness_error());
    close(fd);
}
END_TEST

Suite *udp_echo_suite(void)
{
    Suite *s = suite_create("ch3-udp-echo");
    TCase *tc;

    tc = tcase_create("echo");
    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_udp_sizes);
    tcase_add_test(tc, test_udp_several_senders);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_udp_port_in_use);
    tcase_add_loop_test(tc, test_udp_stop, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

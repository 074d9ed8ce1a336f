/* check_select_echo.c -- black-box tests of echosvr_select: the echo
 * checks every echo server of the course passes, and FD_SETSIZE. */
#include "fixture.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SERVER "./echosvr_select"
/* Past select()'s limit, with room for the server's other descriptors. */
#define MANY (FD_SETSIZE + 100)

static struct hproc *start_echo(void)
{
    const char *argv[] = {SERVER, "-p", "0", NULL};

    return fixture_start(argv);
}

/* connect() fd to 127.0.0.1:port. 0 or -1. */
static int connect_to(int fd, uint16_t port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    return connect(fd, (struct sockaddr *)&sin, sizeof(sin));
}

/* 100 connections at once, each pipelining 1,000 lines: a server that
 * serves one client at a time, or blocks on one, times out here. */
START_TEST(test_select_concurrent_clients)
{
    struct hproc *srv = start_echo();

    fixture_assert(srv, echo_check_clients(srv->port, 100, 1000, 20000) == 0,
                   "%s", harness_error());
    fixture_stop_clean(srv, 2000);
}
END_TEST

START_TEST(test_select_binary_sizes)
{
    struct hproc *srv = start_echo();

    fixture_assert(srv, echo_check_sizes(srv->port, 20000) == 0, "%s",
                   harness_error());
    fixture_stop_clean(srv, 2000);
}
END_TEST

/* Half-close with the client not reading: each connection sends its
 * bytes and shuts down its side, then the client reads nothing for
 * PAUSE_MS. The server reads that EOF while its echo is stuck in its own
 * buffer (the client's socket is full), so a server that closes at EOF
 * throws that echo away. The client's small receive buffer and segments
 * keep the kernel's share of the echo small (tens of KiB); sizes from
 * 8 KiB to 384 KiB in steps of 8 KiB, so that for some of them the rest
 * sits in the server's buffer, whatever that buffer's size. */
#define HALF_CONNS 48
#define HALF_STEP  (8 * 1024)
#define PAUSE_MS   300

START_TEST(test_select_half_close)
{
    struct hproc *srv = start_echo();
    struct echo_stream s[HALF_CONNS];
    unsigned char *data = malloc(HALF_CONNS * HALF_STEP);

    ck_assert_ptr_nonnull(data);
    harness_fill(data, HALF_CONNS * HALF_STEP, 7);
    for (int i = 0; i < HALF_CONNS; i++) {
        int small = 4096, mss = 536;

        s[i] = (struct echo_stream){.fd = socket(AF_INET, SOCK_STREAM, 0),
                                    .data = data,
                                    .len = (size_t)(i + 1) * HALF_STEP,
                                    .shut_wr = true,
                                    .want_eof = true};
        ck_assert_int_ge(s[i].fd, 0);
        setsockopt(s[i].fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
        setsockopt(s[i].fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss));
        fixture_assert(srv, connect_to(s[i].fd, srv->port) == 0, "connect: %s",
                       strerror(errno));
    }
    /* Send what the sockets take without reading, then shut down. */
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < HALF_CONNS; i++) {
            ssize_t n = 0;
            while (s[i].sent < s[i].len && n >= 0) {
                n = send(s[i].fd, s[i].data + s[i].sent, s[i].len - s[i].sent,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n > 0)
                    s[i].sent += (size_t)n;
            }
            if (s[i].sent == s[i].len)
                shutdown(s[i].fd, SHUT_WR);
        }
        usleep(10 * 1000);
    }
    usleep(PAUSE_MS * 1000);
    fixture_assert(srv, echo_pump(s, HALF_CONNS, 20000) == 0,
                   "after a half-close and %d ms without reading: %s", PAUSE_MS,
                   harness_error());
    for (int i = 0; i < HALF_CONNS; i++)
        close(s[i].fd);
    free(data);
    fixture_stop_clean(srv, 2000);
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
    fixture_assert(srv, hog.fd >= 0, "connect: %s", strerror(errno));
    while (hog.sent < len && idle_ms < 500) {
        ssize_t n = send(hog.fd, data + hog.sent, len - hog.sent,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            hog.sent += (size_t)n;
            idle_ms = 0;
        } else {
            fixture_assert(srv, errno == EAGAIN, "send: %s", strerror(errno));
            usleep(10000);
            idle_ms += 10;
        }
    }
    fixture_assert(srv, hog.sent < len / 4,
                   "the server took %zu bytes from a client that does not "
                   "read: it must stop reading from it",
                   hog.sent);
    fixture_assert(srv, echo_pump(&hog, 1, 60000) == 0, "%s", harness_error());
    close(hog.fd);
    free(data);
    fixture_stop_clean(srv, 2000);
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
        fixture_assert(srv, fds[i] >= 0, "connect %d: %s", i, strerror(errno));
        fixture_assert(srv,
                       harness_write_all(fds[i], "0123456789abcde\n", 16) == 0,
                       "send on connection %d: %s", i, strerror(errno));
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
        fixture_assert(srv, left > 0 && poll(&pfd, 1, (int)left) == 1,
                       "connection %d of %d: neither echoed nor closed", i,
                       MANY);
        n = recv(fds[i], buf, sizeof(buf), MSG_WAITALL);
        if (n == 16 && memcmp(buf, "0123456789abcde\n", 16) == 0)
            echoed++;
        else if (n <= 0)
            refused++;
        else
            ck_abort_msg("connection %d: a wrong or short echo", i);
        fixture_assert(srv, i >= 900 || n == 16, "connection %d was refused",
                       i);
    }
    for (int i = 0; i < MANY; i++)
        close(fds[i]);
    free(fds);
    fixture_assert(srv, echoed + refused == MANY, "%d echoed, %d refused",
                   echoed, refused);
    usleep(100 * 1000); /* let the server see the closes */
    fixture_assert(srv, echo_check_half_close(srv->port, 10000) == 0,
                   "after %d connections: %s", MANY, harness_error());
    fixture_stop_clean(srv, 2000);
}
END_TEST

START_TEST(test_select_stop_with_clients)
{
    struct hproc *srv = start_echo();
    int fds[10];
    char c;

    for (int i = 0; i < 10; i++) {
        fds[i] = harness_connect(srv->port);
        fixture_assert(srv, fds[i] >= 0, "connect: %s", strerror(errno));
    }
    fixture_assert(srv, harness_write_all(fds[0], "x", 1) == 0, "send: %s",
                   strerror(errno));
    fixture_assert(srv, harness_read_all(fds[0], &c, 1) == 0,
                   "no echo of one byte");
    fixture_assert(srv,
                   harness_stop(srv, _i == 0 ? SIGTERM : SIGINT, 1000) == 0,
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

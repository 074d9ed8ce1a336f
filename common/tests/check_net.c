/* check_net.c -- addresses, listeners on port 0, connections. */
#include "net.h"

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

static struct event_base *base;

static void setup(void) { base = event_base_new(); }
static void teardown(void) { event_base_free(base); }

static void accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
                      struct sockaddr *sa, int len, void *arg)
{
    (void)lev;
    (void)sa;
    (void)len;
    *(int *)arg += 1;
    close(fd);
}

START_TEST(test_net_sockaddr_and_format)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char buf[NET_ADDRSTRLEN];

    ck_assert_int_eq(net_sockaddr("127.0.0.1", 4680, &ss, &len), 0);
    ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
    ck_assert_str_eq(net_format((struct sockaddr *)&ss, buf, sizeof(buf)),
                     "127.0.0.1:4680");
    ck_assert_int_eq(net_sockaddr("::1", 80, &ss, &len), 0);
    ck_assert_uint_eq(len, sizeof(struct sockaddr_in6));
    ck_assert_str_eq(net_format((struct sockaddr *)&ss, buf, sizeof(buf)),
                     "[::1]:80");
    ck_assert_int_eq(net_sockaddr("localhost", 80, &ss, &len), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(test_net_listen_port_zero)
{
    struct evconnlistener *lev;
    char name[NET_ADDRSTRLEN], want[NET_ADDRSTRLEN];
    uint16_t port;
    int accepted = 0, fd;

    lev = net_listen(base, "127.0.0.1", 0, 0, accept_cb, &accepted);
    ck_assert_ptr_nonnull(lev);
    port = net_listener_port(lev);
    ck_assert_uint_ne(port, 0);
    ck_assert_int_eq(net_listener_name(lev, name, sizeof(name)), 0);
    snprintf(want, sizeof(want), "127.0.0.1:%u", port);
    ck_assert_str_eq(name, want);

    fd = net_connect("127.0.0.1", port);
    ck_assert_int_ge(fd, 0);
    event_base_loop(base, EVLOOP_ONCE);
    ck_assert_int_eq(accepted, 1);
    close(fd);
    evconnlistener_free(lev);
    ck_assert_int_eq(net_connect("127.0.0.1", port), -1);
    ck_assert_int_eq(errno, ECONNREFUSED);
}
END_TEST

START_TEST(test_net_listen_in_use)
{
    struct evconnlistener *a, *b;
    int n = 0;

    a = net_listen(base, "127.0.0.1", 0, 0, accept_cb, &n);
    ck_assert_ptr_nonnull(a);
    b = net_listen(base, "127.0.0.1", net_listener_port(a), 0, accept_cb, &n);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(errno, EADDRINUSE);
    evconnlistener_free(a);
}
END_TEST

START_TEST(test_net_listen_reuseport)
{
    struct evconnlistener *a, *b;
    int n = 0;

    a = net_listen(base, "127.0.0.1", 0, NET_REUSEPORT, accept_cb, &n);
    ck_assert_ptr_nonnull(a);
    b = net_listen(base, "127.0.0.1", net_listener_port(a), NET_REUSEPORT,
                   accept_cb, &n);
    ck_assert_ptr_nonnull(b);
    evconnlistener_free(b);
    evconnlistener_free(a);
}
END_TEST

START_TEST(test_net_listen_bad_address)
{
    int n = 0;

    ck_assert_ptr_null(net_listen(base, "no.such", 0, 0, accept_cb, &n));
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(test_net_announce_line)
{
    struct evconnlistener *lev;
    char buf[128] = {0}, want[64];
    int pipefd[2], saved = dup(STDOUT_FILENO), n = 0;

    lev = net_listen(base, "127.0.0.1", 0, 0, accept_cb, &n);
    ck_assert_ptr_nonnull(lev);
    ck_assert_int_eq(pipe(pipefd), 0);
    dup2(pipefd[1], STDOUT_FILENO);
    ck_assert_int_eq(net_announce(lev), 0);
    dup2(saved, STDOUT_FILENO);
    close(pipefd[1]);
    ck_assert_int_gt(read(pipefd[0], buf, sizeof(buf) - 1), 0);
    snprintf(want, sizeof(want), "listening on 127.0.0.1:%u\n",
             net_listener_port(lev));
    ck_assert_str_eq(buf, want);
    close(pipefd[0]);
    close(saved);
    evconnlistener_free(lev);
}
END_TEST

Suite *net_suite(void)
{
    Suite *s = suite_create("net");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_net_sockaddr_and_format);
    tcase_add_test(tc, test_net_listen_port_zero);
    tcase_add_test(tc, test_net_announce_line);
    tcase_add_test(tc, test_net_listen_reuseport);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_net_listen_in_use);
    tcase_add_test(tc, test_net_listen_bad_address);
    suite_add_tcase(s, tc);
    return s;
}

/* check_stopsig.c -- SIGINT/SIGTERM break the loop; SIGPIPE is ignored. */
#include "stopsig.h"

#include "log.h"

#include <check.h>
#include <signal.h>
#include <unistd.h>

static void raise_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    raise(*(int *)arg);
}

static void hook(int signo, void *arg) { *(int *)arg = signo; }

static const int stop_signals[] = {SIGINT, SIGTERM};

START_TEST(test_stopsig_breaks_loop)
{
    struct event_base *base = event_base_new();
    int signo = stop_signals[_i], hooked = 0;
    struct timeval soon = {0, 1000};
    struct stopsig *ss;

    log_set_level(LOG_ERROR);
    ss = stopsig_new(base, hook, &hooked);
    ck_assert_ptr_nonnull(ss);
    ck_assert_int_eq(stopsig_caught(ss), 0);
    event_base_once(base, -1, EV_TIMEOUT, raise_cb, &signo, &soon);
    /* Without the signal the loop would never end: stopsig keeps events. */
    ck_assert_int_eq(event_base_dispatch(base), 0);
    ck_assert(event_base_got_break(base));
    ck_assert_int_eq(stopsig_caught(ss), signo);
    ck_assert_int_eq(hooked, signo);
    stopsig_free(ss);
    event_base_free(base);
}
END_TEST

START_TEST(test_stopsig_ignores_sigpipe)
{
    struct event_base *base = event_base_new();
    struct stopsig *ss = stopsig_new(base, NULL, NULL);
    int sv[2];

    ck_assert_ptr_nonnull(ss);
    ck_assert_int_eq(pipe(sv), 0);
    close(sv[0]);
    /* With SIGPIPE ignored this is EPIPE, not death. */
    ck_assert_int_eq(write(sv[1], "x", 1), -1);
    close(sv[1]);
    stopsig_free(ss);
    event_base_free(base);
}
END_TEST

Suite *stopsig_suite(void)
{
    Suite *s = suite_create("stopsig");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 5);
    tcase_add_loop_test(tc, test_stopsig_breaks_loop, 0, 2);
    tcase_add_test(tc, test_stopsig_ignores_sigpipe);
    suite_add_tcase(s, tc);
    return s;
}

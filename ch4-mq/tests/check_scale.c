/* check_scale.c -- the scale benchmarks' client (scale/scaleclient) at a
 * tiny scale: it holds its connections over several processes, sends on
 * schedule, and counts every echo it checked; a changed, missing or cut
 * echo is an error and exit status 1. Its figures are measured by the
 * benchmarks (make bench-c10k, ...), never here. */
#include "fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define CLIENT "./scale/scaleclient"

static struct fixture_srv fs;

static void setup(void) { fixture_srv_init(&fs); }

/* Run the client on port with args (NULL-terminated); its exit status,
 * its stdout and stderr into *out and *err (free them). */
static int client(uint16_t port, const char *const args[], char **out,
                  char **err)
{
    const char *argv[24] = {CLIENT};
    char port_arg[8];
    int n = 1;

    while (*args && n < 22)
        argv[n++] = *args++;
    snprintf(port_arg, sizeof(port_arg), "%u", port);
    argv[n++] = port_arg;
    argv[n] = NULL;
    return harness_run(argv, 30000, out, err);
}

/* 50 connections over 3 processes, a message every 100 ms for 2 s:
 * 1,000 messages, each echoed and checked, through both servers. */
static void check_thousand(struct hproc *srv)
{
    const char *args[] = {"-c", "50", "-P", "3", "-i", "100", "-d", "2", NULL};
    char *out, *err;
    int rc = client(srv->port, args, &out, &err);

    ck_assert_msg(rc == 0, "exit %d, stderr: %s", rc, err);
    ck_assert_msg(strstr(out, "connected=50 conns=50 procs=3 "), "%s", out);
    ck_assert_msg(strstr(out, "sent=1000 expected=1000 echoed=1000 errors=0 "),
                  "%s", out);
    free(out);
    free(err);
}

START_TEST(test_scale_every_echo_v5)
{
    const char *extra[] = {"-n", "2", NULL};
    struct hproc *srv = fixture_srv_start(&fs, "./echosvr_v5", extra);

    check_thousand(srv);
    fixture_stop_clean(srv, 5000);
}
END_TEST

/* One connection, 200 messages; badecho spoils message n (fault -c:
 * changes a byte, -d: drops it, -x: hangs up there). Found, named in
 * one line, exit 1. */
static void check_fault(const char *fault, const char *n, const char *want)
{
    const char *srv_argv[] = {"tests/badecho", fault, n, NULL};
    struct hproc *srv = fixture_start(srv_argv);
    const char *args[] = {"-c", "1", "-i", "10", "-d", "2", "-g", "500", NULL};
    char *out, *err;
    int rc = client(srv->port, args, &out, &err);

    ck_assert_msg(rc == 1, "exit %d for %s, stdout: %s", rc, fault, out);
    ck_assert_msg(strstr(err, want), "%s: stderr: %s", fault, err);
    ck_assert_msg(!strstr(out, " errors=0 "), "%s: stdout: %s", fault, out);
    free(out);
    free(err);
}

START_TEST(test_scale_changed_echo)
{
    check_fault("-c", "7", "echo of message 7 differs");
}
END_TEST

/* The last echo never comes: the client waits -g ms for it, no longer. */
START_TEST(test_scale_missing_echo)
{
    check_fault("-d", "199", "1 of 200 echoes missing 500 ms after");
}
END_TEST

START_TEST(test_scale_server_hangs_up)
{
    check_fault("-x", "7", "closed by the server");
}
END_TEST

/* The limits are checked before a socket is opened: more connections
 * per process than the open-file limit, more than an address has ports. */
START_TEST(test_scale_limits)
{
    struct rlimit rl;
    char many[16];
    const char *fds[] = {"-c", many, "-P", "1", NULL};
    const char *ports[] = {"-c", "200000", "-P", "20", NULL};
    char *out, *err;

    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    snprintf(many, sizeof(many), "%llu",
             rl.rlim_max > 3000000 ? 3000000ULL
                                   : (unsigned long long)rl.rlim_max + 1);
    ck_assert_int_eq(client(9, ports, &out, &err), 1);
    ck_assert_msg(strstr(err, "ephemeral ports") && strstr(err, "-A"), "%s",
                  err);
    free(out);
    free(err);
    ck_assert_int_eq(client(9, fds, &out, &err), 1);
    ck_assert_msg(strstr(err, "open-file hard limit"), "%s", err);
    free(out);
    free(err);
}
END_TEST

START_TEST(test_scale_usage)
{
    const char *bad[] = {CLIENT, "-c", "0", "9", NULL};
    const char *no_port[] = {CLIENT, "-c", "5", NULL};

    fixture_check_help(CLIENT, "usage: scaleclient");
    fixture_check_bad_args(bad, "connections");
    fixture_check_bad_args(no_port, "no PORT");
}
END_TEST

Suite *scale_suite(void)
{
    Suite *s = suite_create("scale");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_scale_every_echo_v5);
    tcase_add_test(tc, test_scale_changed_echo);
    tcase_add_test(tc, test_scale_missing_echo);
    tcase_add_test(tc, test_scale_server_hangs_up);
    suite_add_tcase(s, tc);

    tc = tcase_create("cli");
    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_add_test(tc, test_scale_limits);
    tcase_add_test(tc, test_scale_usage);
    suite_add_tcase(s, tc);
    return s;
}

/* check_profile.c -- tests of the profiling lab: the fixed echo_read_cb
 * keeps no 4 KiB buffer on its stack, and the server still echoes. */
#include "fixture.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVER "./echosvr_lab"
/* Without a buffer of its own the frame holds a few pointers; the
 * tutorial's variant needs more than 4 KiB. */
#define MAX_FRAME 1024

/* The stack frame of function, in bytes, from the -fstack-usage report
 * the Makefile writes ("echo_read.c:9:6:echo_read_cb\t4144\tstatic"). */
static long frame_size(const char *path, const char *function)
{
    FILE *f = fopen(path, "r");
    char line[512];
    long size = -1;

    ck_assert_msg(f != NULL, "no %s: the Makefile writes it", path);
    while (fgets(line, sizeof(line), f)) {
        char *name = strrchr(strtok(line, "\t"), ':');
        char *bytes = strtok(NULL, "\t");
        if (name && bytes && strcmp(name + 1, function) == 0)
            size = atol(bytes);
    }
    fclose(f);
    return size;
}

START_TEST(test_profile_no_stack_buffer)
{
    long size = frame_size("tests/echo_read.su", "echo_read_cb");

    ck_assert_msg(size >= 0, "echo_read_cb is not in tests/echo_read.su");
    ck_assert_msg(size < MAX_FRAME,
                  "echo_read_cb uses %ld bytes of stack at -O0: every call "
                  "still zeroes a buffer it never needs",
                  size);
}
END_TEST

/* The fix must keep the echo whole: many clients, every size. */
START_TEST(test_profile_still_echoes)
{
    const char *argv[] = {SERVER, "-p", "0", NULL};
    struct hproc *srv = fixture_start(argv);

    fixture_assert(srv, echo_check_clients(srv->port, 20, 500, 20000) == 0,
                   "%s", harness_error());
    fixture_assert(srv, echo_check_sizes(srv->port, 20000) == 0, "%s",
                   harness_error());
    fixture_assert(srv, harness_stop(srv, SIGTERM, 2000) == 0,
                   "no clean exit on SIGTERM");
}
END_TEST

Suite *profile_suite(void)
{
    Suite *s = suite_create("ch3-profile");
    TCase *tc = tcase_create("fix");

    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_profile_no_stack_buffer);
    tcase_add_test(tc, test_profile_still_echoes);
    suite_add_tcase(s, tc);
    return s;
}

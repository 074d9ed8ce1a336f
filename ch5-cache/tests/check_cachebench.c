/* check_cachebench.c -- the benchmark program keeps the program contract.
 * (Its figures are not tested: they depend on the machine.) */
#include "fixture.h"

#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define BENCH "bench/cachebench"

START_TEST(test_cachebench_help)
{
    const char *const argv[] = {BENCH, "-h", NULL};
    char *out = NULL;

    ck_assert_int_eq(harness_run(argv, 5000, &out, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: cachebench"));
    ck_assert_ptr_nonnull(strstr(out, "-n SLOTS"));
    free(out);
}
END_TEST

/* Each bad command line: exit 2, one line naming the problem, usage. */
START_TEST(test_cachebench_bad_usage)
{
    static const char *const cases[][3] = {
        {"-x", NULL, "unknown option"},
        {"-n", "5", "slots"},
        {"-s", "many", "seed"},
        {"extra", NULL, "unexpected argument"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *const argv[] = {BENCH, cases[i][0], cases[i][1], NULL};
        fixture_check_bad_args(argv, cases[i][2]);
    }
}
END_TEST

/* SIGTERM or SIGINT in the middle of a run: a clean exit 0. */
START_TEST(test_cachebench_signal_exits_0)
{
    static const int sigs[] = {SIGTERM, SIGINT};
    const char *const argv[] = {BENCH, NULL};

    for (int i = 0; i < 2; i++) {
        struct hproc *p = harness_start(argv);
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(harness_wait_output(p, "speed-up", 5000), 0);
        ck_assert_int_eq(harness_stop(p, sigs[i], 10000), 0);
    }
}
END_TEST

Suite *cachebench_suite(void)
{
    Suite *s = suite_create("cachebench");
    TCase *tc = tcase_create("errors");

    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_cachebench_help);
    tcase_add_test(tc, test_cachebench_bad_usage);
    tcase_add_test(tc, test_cachebench_signal_exits_0);
    suite_add_tcase(s, tc);
    return s;
}

/* check_mqbench.c -- the benchmark's command line (its figures are
 * measured by hand: make -C ch4-mq bench). */
#include "harness.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define BENCH "./bench/mqbench"

START_TEST(test_mqbench_usage)
{
    const char *help[] = {BENCH, "-h", NULL};
    const char *bad[] = {BENCH, "-n", "ten", NULL};
    const char *unknown[] = {BENCH, "-x", NULL};
    char *out, *err;

    ck_assert_int_eq(harness_run(help, 2000, &out, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: mqbench"));
    free(out);
    ck_assert_int_eq(harness_run(bad, 2000, NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "-n"));
    ck_assert_ptr_nonnull(strstr(err, "usage: mqbench"));
    free(err);
    ck_assert_int_eq(harness_run(unknown, 2000, NULL, NULL), 2);
}
END_TEST

Suite *mqbench_suite(void)
{
    Suite *s = suite_create("mqbench");
    TCase *tc = tcase_create("cli");

    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_add_test(tc, test_mqbench_usage);
    suite_add_tcase(s, tc);
    return s;
}

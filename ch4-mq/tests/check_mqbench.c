/* check_mqbench.c -- the benchmark's command line, and that a tiny run
 * prints its whole table (its figures are measured by make bench, never
 * checked here). */
#include "harness.h"

#include <check.h>
#include <stdio.h>
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

/* The figures after a row's name: how many are plain numbers and how many
 * ratios ("1.23x"), up to the end of its line. */
static void count_cells(const char *at, int *nums, int *ratios)
{
    char line[256], *tok, *save;
    size_t len = strcspn(at, "\n");

    snprintf(line, sizeof(line), "%.*s", (int)len, at);
    *nums = *ratios = 0;
    for (tok = strtok_r(line, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save)) {
        char *end;
        strtod(tok, &end);
        if (end != tok && *end == '\0')
            ++*nums;
        else if (end != tok && strcmp(end, "x") == 0)
            ++*ratios;
    }
}

/* Every row of the table names its measurement and holds a figure for
 * each of the four channels, the busy-polled ring among them, then the
 * queue's ratio to each of the other three (the idle row: figures only);
 * the report (bench/report.py) reads it this way. */
START_TEST(test_mqbench_tiny_run_table)
{
    static const char *const rows[] = {
        "stream 64 B (msg/s)",         "stream 1024 B (msg/s)",
        "rtt 64 B median (us)",        "rtt 64 B p99 (us)",
        "rtt 1024 B median (us)",      "rtt 1024 B p99 (us)",
        "idle receiver (% of a core)",
    };
    const size_t nrows = sizeof(rows) / sizeof(rows[0]);
    char key[16];
    const char *argv[] = {BENCH, "-n", "1000",           "-r", "100", "-k",
                          key,   "-d", harness_tmpdir(), NULL};
    char *out = NULL, *line;

    snprintf(key, sizeof(key), "%#x", harness_key_base());
    ck_assert_int_eq(harness_run(argv, 30000, &out, NULL), 0);
    line = strstr(out, "spscq");
    ck_assert_msg(line && strstr(line, "ring") && strstr(line, "pipe") &&
                      strstr(line, "unix"),
                  "header: %s", out);
    for (size_t i = 0; i < nrows; i++) {
        char *at = strstr(out, rows[i]);
        int nums, ratios;
        ck_assert_msg(at != NULL, "no row '%s' in:\n%s", rows[i], out);
        count_cells(at + strlen(rows[i]), &nums, &ratios);
        ck_assert_msg(nums == 4 && ratios == (i + 1 < nrows ? 3 : 0),
                      "row '%s': %d figures and %d ratios:\n%s", rows[i], nums,
                      ratios, out);
    }
    free(out);
}
END_TEST

Suite *mqbench_suite(void)
{
    Suite *s = suite_create("mqbench");
    TCase *tc = tcase_create("cli");

    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_add_test(tc, test_mqbench_usage);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_mqbench_tiny_run_table);
    suite_add_tcase(s, tc);
    return s;
}

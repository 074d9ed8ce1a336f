/* check_log.c -- log lines: format, levels, program name. */
#include "log.h"

#include <check.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char captured[4096];

/* Run fn with stderr redirected to a pipe; leave the text in captured. */
static void capture(void (*fn)(void))
{
    int pipefd[2], saved = dup(STDERR_FILENO);
    ssize_t n;

    ck_assert_int_eq(pipe(pipefd), 0);
    dup2(pipefd[1], STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(pipefd[1]);
    n = read(pipefd[0], captured, sizeof(captured) - 1);
    captured[n > 0 ? n : 0] = '\0';
    close(pipefd[0]);
}

static void log_some(void)
{
    log_init("/path/to/demo", LOG_INFO);
    log_debug("hidden %d", 1);
    log_info("shown %d", 2);
    log_error("failed: %s", "why");
}

START_TEST(test_log_format_and_level)
{
    regex_t re;
    char pattern[256];

    capture(log_some);
    snprintf(
        pattern, sizeof(pattern),
        "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3} "
        "demo\\[%d\\] info: shown 2\n"
        "[^\n]* demo\\[%d\\] error: failed: why\n$",
        (int)getpid(), (int)getpid());
    ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED), 0);
    ck_assert_msg(regexec(&re, captured, 0, NULL, 0) == 0, "got: %s", captured);
    regfree(&re);
}
END_TEST

static void log_quiet(void)
{
    log_init("demo", LOG_ERROR);
    log_info("not shown");
    log_warn("not shown");
    log_set_level(LOG_DEBUG);
    log_debug("debug now");
}

START_TEST(test_log_level_switch)
{
    capture(log_quiet);
    ck_assert_ptr_null(strstr(captured, "not shown"));
    ck_assert_ptr_nonnull(strstr(captured, "debug: debug now\n"));
    ck_assert_int_eq(log_get_level(), LOG_DEBUG);
}
END_TEST

static void log_long(void)
{
    char big[4000];

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_init("demo", LOG_INFO);
    log_info("%s", big);
}

START_TEST(test_log_long_line_cut_with_newline)
{
    size_t len;

    capture(log_long);
    len = strlen(captured);
    ck_assert_uint_eq(len, 1023);
    ck_assert_int_eq(captured[len - 1], '\n');
}
END_TEST

static void log_flood(void)
{
    log_init("flood", LOG_INFO);
    for (int i = 0; i < 1000; i++)
        log_error_limited("bad reply %d", i);
}

/* A line repeated at the rate of messages appears once a second: 1,000
 * in a burst give one line, and the next second's line counts the rest. */
START_TEST(test_log_limited)
{
    struct log_limit lim = {0};
    unsigned long held = 99;

    capture(log_flood);
    ck_assert_msg(strstr(captured, "bad reply 0") &&
                      !strstr(captured, "bad reply 1"),
                  "%s", captured);
    ck_assert(log_limit_pass(&lim, &held));
    ck_assert_uint_eq(held, 0);
    for (int i = 0; i < 5; i++)
        ck_assert(!log_limit_pass(&lim, &held));
    lim.next_ns = 0; /* a second later */
    ck_assert(log_limit_pass(&lim, &held));
    ck_assert_uint_eq(held, 5);
}
END_TEST

Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_log_format_and_level);
    tcase_add_test(tc, test_log_level_switch);
    tcase_add_test(tc, test_log_long_line_cut_with_newline);
    tcase_add_test(tc, test_log_limited);
    suite_add_tcase(s, tc);
    return s;
}

/* check_opts.c -- option parsing: numbers, ports, sizes, keys, exit 2. */
#include "log.h"
#include "opts.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

START_TEST(test_opts_uint_ranges)
{
    unsigned long long v;

    ck_assert_int_eq(opts_parse_uint("0", 0, 10, &v), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(opts_parse_uint("10", 0, 10, &v), 0);
    ck_assert_uint_eq(v, 10);
    ck_assert_int_eq(opts_parse_uint("0x1f", 0, 100, &v), 0);
    ck_assert_uint_eq(v, 31);
    ck_assert_int_eq(opts_parse_uint("11", 0, 10, &v), -1);
    ck_assert_int_eq(errno, ERANGE);
    ck_assert_int_eq(opts_parse_uint("99999999999999999999999", 0, ~0ULL, &v),
                     -1);
    ck_assert_int_eq(errno, ERANGE);
}
END_TEST

/* The last: junk after a number too large for 64 bits is junk (EINVAL),
 * not a range error; found by fuzz/fuzz_opts.c against its reference. */
static const char *const not_numbers[] = {
    "",   "-1", "+1", " 1",  "1 ",
    "1x", "x",  "0x", "1.5", "99999999999999999999999x"};

START_TEST(test_opts_uint_rejects_junk)
{
    unsigned long long v = 77;

    ck_assert_int_eq(opts_parse_uint(not_numbers[_i], 0, ~0ULL, &v), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_uint_eq(v, 77); /* untouched on failure */
}
END_TEST

START_TEST(test_opts_port)
{
    uint16_t p;

    ck_assert_int_eq(opts_parse_port("0", &p), 0);
    ck_assert_uint_eq(p, 0);
    ck_assert_int_eq(opts_parse_port("65535", &p), 0);
    ck_assert_uint_eq(p, 65535);
    ck_assert_int_eq(opts_parse_port("65536", &p), -1);
    ck_assert_int_eq(opts_parse_port("http", &p), -1);
}
END_TEST

START_TEST(test_opts_size_suffixes)
{
    size_t v;

    ck_assert_int_eq(opts_parse_size("64", 0, SIZE_MAX, &v), 0);
    ck_assert_uint_eq(v, 64);
    ck_assert_int_eq(opts_parse_size("4k", 0, SIZE_MAX, &v), 0);
    ck_assert_uint_eq(v, 4096);
    ck_assert_int_eq(opts_parse_size("8M", 0, SIZE_MAX, &v), 0);
    ck_assert_uint_eq(v, 8u << 20);
    ck_assert_int_eq(opts_parse_size("1G", 0, SIZE_MAX, &v), 0);
    ck_assert_uint_eq(v, 1u << 30);
    ck_assert_int_eq(opts_parse_size("2k", 0, 1024, &v), -1);
    ck_assert_int_eq(errno, ERANGE);
    ck_assert_int_eq(opts_parse_size("4kb", 0, SIZE_MAX, &v), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(opts_parse_size("k", 0, SIZE_MAX, &v), -1);
    ck_assert_int_eq(opts_parse_size("99999999999999999999G", 0, SIZE_MAX, &v),
                     -1);
}
END_TEST

START_TEST(test_opts_key)
{
    key_t k;

    ck_assert_int_eq(opts_parse_key("0x5e7e0001", &k), 0);
    ck_assert_int_eq(k, 0x5e7e0001);
    ck_assert_int_eq(opts_parse_key("4242", &k), 0);
    ck_assert_int_eq(k, 4242);
    ck_assert_int_eq(opts_parse_key("0xffffffff", &k), 0);
    ck_assert_int_eq(k, -1);
    ck_assert_int_eq(opts_parse_key("0", &k), -1); /* IPC_PRIVATE */
    ck_assert_int_eq(opts_parse_key("0x100000000", &k), -1);
}
END_TEST

/* The *_arg forms exit 2 with one line and the usage on stderr. */
/* The exit tests' own output is checked by test_opts_fail_message. */
static void silence(void)
{
    freopen("/dev/null", "w", stdout);
    freopen("/dev/null", "w", stderr);
}

START_TEST(test_opts_bad_value_exits_2)
{
    silence();
    log_init("prog", LOG_INFO);
    opts_init(" [-p PORT]\n");
    opts_port_arg("nope");
}
END_TEST

/* A client's PORT operand: the one after the options, never 0. */
static char prog[] = "prog", opt_c[] = "-c", five[] = "5", port80[] = "80",
            port81[] = "81", zero[] = "0", name[] = "http";

START_TEST(test_opts_server_port)
{
    char *ok[] = {prog, opt_c, five, port80, NULL};

    optind = 3;
    ck_assert_uint_eq(opts_server_port(4, ok), 80);
}
END_TEST

/* No port, port 0, two ports, a name: exit 2. */
START_TEST(test_opts_server_port_exits_2)
{
    char *bad[][3] = {
        {prog, NULL}, {prog, zero, NULL}, {prog, port80, port81}, {prog, name}};
    int argc[] = {1, 2, 3, 2};

    silence();
    opts_init(" PORT\n");
    optind = 1;
    opts_server_port(argc[_i], bad[_i]);
}
END_TEST

START_TEST(test_opts_bad_option_exits_2)
{
    silence();
    opts_init(" [-p PORT]\n");
    opts_bad_option('?', 'z');
}
END_TEST

START_TEST(test_opts_help_exits_0)
{
    silence();
    opts_init(" [-p PORT]\n");
    opts_help();
}
END_TEST

/* What the user reads: "prog: bad port 'nope': ..." then the usage. */
START_TEST(test_opts_fail_message)
{
    char buf[512] = {0};
    size_t got = 0;
    ssize_t n;
    int pipefd[2];
    pid_t pid;

    ck_assert_int_eq(pipe(pipefd), 0);
    pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], STDERR_FILENO);
        log_init("/usr/bin/prog", LOG_INFO);
        opts_init(" [-p PORT]\n");
        opts_port_arg("nope");
    }
    close(pipefd[1]);
    /* stderr is unbuffered: the text may come in several writes. */
    while ((n = read(pipefd[0], buf + got, sizeof(buf) - 1 - got)) > 0)
        got += (size_t)n;
    ck_assert_str_eq(buf, "prog: bad port 'nope': expected 0 to 65535\n"
                          "usage: prog [-p PORT]\n");
    close(pipefd[0]);
}
END_TEST

Suite *opts_suite(void)
{
    Suite *s = suite_create("opts");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_opts_uint_ranges);
    tcase_add_loop_test(tc, test_opts_uint_rejects_junk, 0,
                        sizeof(not_numbers) / sizeof(not_numbers[0]));
    tcase_add_test(tc, test_opts_port);
    tcase_add_test(tc, test_opts_size_suffixes);
    tcase_add_test(tc, test_opts_key);
    tcase_add_test(tc, test_opts_server_port);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_exit_test(tc, test_opts_bad_value_exits_2, 2);
    tcase_add_exit_test(tc, test_opts_bad_option_exits_2, 2);
    tcase_add_loop_exit_test(tc, test_opts_server_port_exits_2, 2, 0, 4);
    tcase_add_exit_test(tc, test_opts_help_exits_0, 0);
    tcase_add_test(tc, test_opts_fail_message);
    suite_add_tcase(s, tc);
    return s;
}

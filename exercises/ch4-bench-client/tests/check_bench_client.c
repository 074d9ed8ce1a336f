/* check_bench_client.c -- tests of bench_client with your bench_run()
 * (bench.c): against the chapters' echo servers (echosvr_v4's counters in
 * shared memory must agree with the client), pipelined, per-message
 * latency, and against faulty servers that drop or change an echo. */
#include "fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLIENT "./bench_client"

struct result {
    unsigned echoes, size;
    double secs, rate, p50_us, p99_us;
};

/* Run the client with args for at most timeout_ms; parse its one line.
 * Its exit code (-1: it ran too long). */
static int run_client(const char *const args[], int timeout_ms,
                      struct result *r, char **err)
{
    const char *argv[12] = {CLIENT};
    char *out = NULL;
    int rc, i;

    for (i = 0; args[i] && i < 10; i++)
        argv[i + 1] = args[i];
    rc = harness_run(argv, timeout_ms, &out, err);
    memset(r, 0, sizeof(*r));
    if (rc == 0)
        ck_assert_msg(sscanf(out,
                             "%u echoes of %u bytes in %lf s: %lf msgs/s; "
                             "latency p50 %lf us, p99 %lf us",
                             &r->echoes, &r->size, &r->secs, &r->rate,
                             &r->p50_us, &r->p99_us) == 6,
                      "the report does not read as documented: %s", out);
    free(out);
    return rc;
}

static struct hproc *start_v4(char *keystr, size_t size)
{
    const char *argv[] = {"./echosvr_v4", "-p", "0", "-k", keystr, NULL};

    snprintf(keystr, size, "%#x", (unsigned)harness_key());
    return fixture_start(argv);
}

/* 10,000 echoes, one at a time: the client counts them all, takes a
 * positive time, and the server counted the same bytes both ways. */
START_TEST(test_bench_counts_10000)
{
    char keystr[16], port[8], *err = NULL;
    struct hproc *srv = start_v4(keystr, sizeof(keystr));
    const char *args[] = {"-n", "10000", "-s", "64", port, NULL};
    key_t key = (key_t)strtol(keystr, NULL, 0);
    struct result r;

    snprintf(port, sizeof(port), "%u", srv->port);
    ck_assert_msg(run_client(args, 30000, &r, &err) == 0,
                  "bench_client failed: %s", err);
    ck_assert_uint_eq(r.echoes, 10000);
    ck_assert_uint_eq(r.size, 64);
    ck_assert_msg(r.secs > 0 && r.rate > 0, "time %f s, %f msgs/s", r.secs,
                  r.rate);
    for (int i = 0; i < 100 && fixture_counter(key, "conns_closed") < 1; i++)
        usleep(10000);
    ck_assert_uint_eq(fixture_counter(key, "bytes_in"), 640000);
    ck_assert_uint_eq(fixture_counter(key, "bytes_out"), 640000);
    free(err);
    fixture_stop_clean(srv, 2000);
}
END_TEST

/* 64 messages of 1,000 bytes in flight: echoes arrive many to a read, or
 * split across reads, and each must still be checked whole. */
START_TEST(test_bench_pipelined)
{
    const char *srv_argv[] = {"./echosvr_v1", "-p", "0", NULL};
    struct hproc *srv = fixture_start(srv_argv);
    char port[8], *err = NULL;
    const char *args[] = {"-n", "10000", "-s", "1000", "-w", "64", port, NULL};
    struct result r;

    snprintf(port, sizeof(port), "%u", srv->port);
    ck_assert_msg(run_client(args, 30000, &r, &err) == 0,
                  "bench_client failed: %s", err);
    ck_assert_uint_eq(r.echoes, 10000);
    free(err);
    fixture_stop_clean(srv, 2000);
}
END_TEST

/* One at a time, the latencies add up to about the whole run: a median
 * latency times the count far above the run's time means latencies were
 * measured from the wrong moment (the start of the run, say). */
START_TEST(test_bench_latency_per_message)
{
    const char *srv_argv[] = {"./echosvr_v1", "-p", "0", NULL};
    struct hproc *srv = fixture_start(srv_argv);
    char port[8], *err = NULL;
    const char *args[] = {"-n", "2000", port, NULL};
    struct result r;

    snprintf(port, sizeof(port), "%u", srv->port);
    ck_assert_msg(run_client(args, 30000, &r, &err) == 0,
                  "bench_client failed: %s", err);
    ck_assert_msg(r.p50_us > 0 && r.p50_us <= r.p99_us, "p50 %f, p99 %f",
                  r.p50_us, r.p99_us);
    ck_assert_msg(r.p50_us * 1e-6 * r.echoes < 1.5 * r.secs,
                  "p50 %.1f us x %u echoes is more than the whole run "
                  "(%.3f s)",
                  r.p50_us, r.echoes, r.secs);
    free(err);
    fixture_stop_clean(srv, 2000);
}
END_TEST

/* A server that swallows message 5,000: the client must give up after
 * its timeout, exit 1 and say so, not hang. */
START_TEST(test_bench_drop_times_out)
{
    const char *srv_argv[] = {"tests/badecho", "-d", "5000", NULL};
    struct hproc *srv = fixture_start(srv_argv);
    char port[8], *err = NULL;
    const char *args[] = {"-n", "10000", "-t", "1000", port, NULL};
    struct result r;

    snprintf(port, sizeof(port), "%u", srv->port);
    ck_assert_msg(run_client(args, 10000, &r, &err) == 1,
                  "bench_client did not exit 1 within 10 s when an echo "
                  "never came (timeout 1 s): %s",
                  err);
    ck_assert_msg(strstr(err, "5000") && strstr(err, "no echo"),
                  "stderr does not say which echo is missing: %s", err);
    free(err);
}
END_TEST

/* A server that changes one byte of message 7,000's echo. */
START_TEST(test_bench_corrupt_reported)
{
    const char *srv_argv[] = {"tests/badecho", "-c", "7000", NULL};
    struct hproc *srv = fixture_start(srv_argv);
    char port[8], *err = NULL;
    const char *args[] = {"-n", "10000", port, NULL};
    struct result r;

    snprintf(port, sizeof(port), "%u", srv->port);
    ck_assert_msg(run_client(args, 30000, &r, &err) == 1,
                  "bench_client did not exit 1 on a changed byte: %s", err);
    ck_assert_msg(strstr(err, "7000") && strstr(err, "differs"),
                  "stderr does not name the wrong echo: %s", err);
    free(err);
}
END_TEST

/* Given code, kept working: bad command lines exit 2 with the usage. */
START_TEST(test_bench_bad_args)
{
    static const char *const cases[][4] = {
        {CLIENT, NULL},
        {CLIENT, "-s", "4", "4680"},
        {CLIENT, "0"},
        {CLIENT, "-w", "0", "4680"},
        {CLIENT, "4680", "extra"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        fixture_check_bad_args(cases[i], NULL);
    fixture_check_help(CLIENT, "-w WINDOW");
}
END_TEST

Suite *bench_client_suite(void)
{
    Suite *s = suite_create("ch4-bench-client");
    TCase *tc;

    tc = tcase_create("run");
    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_bench_counts_10000);
    tcase_add_test(tc, test_bench_pipelined);
    tcase_add_test(tc, test_bench_latency_per_message);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_bench_drop_times_out);
    tcase_add_test(tc, test_bench_corrupt_reported);
    tcase_add_test(tc, test_bench_bad_args);
    suite_add_tcase(s, tc);
    return s;
}

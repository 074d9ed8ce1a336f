/* check_hostile.c -- viewstats against statistics blocks a hostile or
 * broken writer (any process of the same user) leaves: control
 * characters in names, pid 0 or negative, impossible times. viewstats
 * must print nothing of such a block (no escape sequence reaches the
 * terminal), say in one line that it is not valid and exit 1, whether
 * the block was bad when it attached or turned bad while it watched. */
#include "harness.h"
#include "stats.h"

#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VIEW "./viewstats"

static key_t key;
static char keystr[16];
static struct stats w;

/* A real block, written and started by this (live) process. */
static void setup(void)
{
    key = harness_key();
    snprintf(keystr, sizeof(keystr), "%#x", (unsigned)key);
    ck_assert_int_eq(stats_create(&w, key, "hostile"), 0);
    ck_assert_int_eq(stats_register(&w, "msgs", STATS_COUNTER), 0);
    stats_start(&w);
    stats_add(&w, 0, 42);
    stats_commit(&w);
}

static void teardown(void)
{
    stats_remove(&w);
    harness_cleanup();
}

/* The damage, one per loop index; each writes the block directly. */
static void spoil(int what)
{
    struct stats_block *b = w.blk;

    switch (what) {
    case 0: memcpy(b->writer, "\x1b]0;owned\x07", 11); break;
    case 1: memcpy(b->desc[0].name, "msgs\x1b[2J", 9); break;
    case 2: b->pid = 0; break; /* kill(0, 0): our own process group */
    case 3: b->pid = -1; break;
    case 4: b->started_ns = INT64_MIN; break; /* now - start overflows */
    case 5: atomic_store(&b->updated_ns, INT64_MIN); break;
    default: b->desc[0].kind = 9; break;
    }
}
#define NSPOILS 7

/* Exit 1, the one line that says why, and no byte of the block that is
 * not a name character anywhere in the output. */
static void check_refused(int rc, const char *out, const char *err)
{
    ck_assert_msg(rc == 1, "viewstats exit %d; stdout:\n%s\nstderr:\n%s", rc,
                  out, err);
    ck_assert_msg(strstr(err, "not a valid statistics block") != NULL,
                  "stderr: %s", err);
    ck_assert_msg(strchr(out, '\x1b') == NULL && strchr(err, '\x1b') == NULL,
                  "an escape sequence reached the terminal:\n%s%s", out, err);
    ck_assert_msg(strstr(out, "pid 0 ") == NULL && strstr(out, "pid -") == NULL,
                  "printed a bad pid:\n%s", out);
}

/* Bad before viewstats attaches. */
START_TEST(test_viewstats_refuses_hostile_block)
{
    const char *argv[] = {VIEW, "-k", keystr, NULL};
    char *out = NULL, *err = NULL;
    int rc;

    spoil(_i);
    rc = harness_run(argv, harness_ms(5000), &out, &err);
    check_refused(rc, out, err);
    free(out);
    free(err);
}
END_TEST

/* Good when viewstats attaches and prints; bad by its next print. What
 * it checked at open must be checked again, in what it prints. */
START_TEST(test_viewstats_rechecks_while_watching)
{
    const char *argv[] = {VIEW, "-k", keystr, "-w", "-n", "3", NULL};
    struct hproc *p = harness_start(argv);
    char *out, *err;
    int rc;

    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(harness_wait_output(p, "msgs", harness_ms(5000)), 0);
    spoil(_i);
    rc = harness_wait(p, harness_ms(5000));
    out = harness_stdout(p);
    err = harness_stderr(p);
    check_refused(rc, out, err);
    ck_assert_msg(strstr(out, "hostile pid ") != NULL, "first print:\n%s", out);
    free(out);
    free(err);
}
END_TEST

/* Another local user (nobody, when the tests run as root) can neither
 * attach the running server's statistics nor its viewers' view of them. */
START_TEST(test_v4_other_user_refused)
{
    const char *argv[] = {"./echosvr_v4", "-p", "0", "-k", keystr, NULL};
    struct hproc *srv;
    int nsegs = 0, nfifos = 0, rc;

    stats_remove(&w); /* the server makes its own block under key */
    srv = harness_start_server(argv);
    ck_assert_msg(srv != NULL, "server did not start: %s", harness_error());
    rc = harness_foreign_user_refused("echosvr_v4 refuses another user", &nsegs,
                                      &nfifos);
    ck_assert_msg(rc >= 0, "%s", harness_error());
    ck_assert(rc == 1 || nsegs == 1);
    ck_assert_int_eq(harness_stop(srv, SIGTERM, harness_ms(2000)), 0);
}
END_TEST

Suite *hostile_suite(void)
{
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("viewstats");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_viewstats_refuses_hostile_block, 0, NSPOILS);
    tcase_add_loop_test(tc, test_viewstats_rechecks_while_watching, 0, NSPOILS);
    suite_add_tcase(s, tc);

    tc = tcase_create("users");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_v4_other_user_refused);
    suite_add_tcase(s, tc);
    return s;
}

/* check_srvkeys.c -- a server's key layout: the keys printed for viewstats,
 * and the clean-up that removes only what is ours. */
#include "harness.h"
#include "mqpair.h"
#include "srvkeys.h"
#include "stats.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/shm.h>
#include <unistd.h>

START_TEST(test_srvkeys_layout)
{
    char buf[256];

    ck_assert_int_eq(srvkeys_io2md(0x1000, 3), 0x100c);
    ck_assert_int_eq(srvkeys_md2io(0x1000, 3), 0x100d);
    ck_assert_int_eq(srvkeys_io_stats(0x1000, 3), 0x100e);
    ck_assert_int_eq(srvkeys_md_stats(0x1000), 0x1040);
    ck_assert_int_eq(srvkeys_launcher_stats(0x1000), 0x1041);
    ck_assert_int_eq(srvkeys_extra(0x1000, 0), 0x1042);
    /* every io_conn's keys sit below md's */
    ck_assert_int_lt(srvkeys_io_stats(0x1000, SRVKEYS_MAX_IO - 1), 0x1040);
    srvkeys_format_stats(buf, sizeof(buf), 0x1000, 2);
    ck_assert_str_eq(buf, "-k 0x1040 -k 0x1041 -k 0x1002 -k 0x1006");
    srvkeys_fifo(buf, sizeof(buf), "/d", "md2io", 15);
    ck_assert_str_eq(buf, "/d/md2io.15");
}
END_TEST

/* srvkeys_remove takes a whole server's queues, FIFOs and statistics,
 * and leaves a segment that is not ours under one of its keys. */
START_TEST(test_srvkeys_remove_only_ours)
{
    key_t base = harness_key_base();
    const char *dir = harness_tmpdir();
    char fifo[SRVKEYS_PATH_MAX];
    struct mqpair mq;
    struct stats st;
    int foreign;

    ck_assert_int_eq(mqpair_open(&mq, base, dir, 0, MQPAIR_IO), 0);
    mqpair_close(&mq);
    ck_assert_int_eq(stats_create(&st, srvkeys_md_stats(base), "md"), 0);
    stats_start(&st);
    stats_close(&st);
    foreign = shmget(srvkeys_io_stats(base, 0), 64, IPC_CREAT | 0600);
    ck_assert_int_ge(foreign, 0);

    ck_assert_int_eq(srvkeys_remove(base, dir, 1), -1);
    ck_assert_int_eq(errno, EACCES);
    ck_assert_int_eq(shmget(srvkeys_io2md(base, 0), 0, 0), -1);
    ck_assert_int_eq(shmget(srvkeys_md2io(base, 0), 0, 0), -1);
    ck_assert_int_eq(shmget(srvkeys_md_stats(base), 0, 0), -1);
    ck_assert_int_eq(shmget(srvkeys_io_stats(base, 0), 0, 0), foreign);
    srvkeys_fifo(fifo, sizeof(fifo), dir, "io2md", 0);
    ck_assert_int_eq(access(fifo, F_OK), -1);
    srvkeys_fifo(fifo, sizeof(fifo), dir, "md2io", 0);
    ck_assert_int_eq(access(fifo, F_OK), -1);
}
END_TEST

Suite *srvkeys_suite(void)
{
    Suite *s = suite_create("srvkeys");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_add_test(tc, test_srvkeys_layout);
    tcase_add_test(tc, test_srvkeys_remove_only_ours);
    suite_add_tcase(s, tc);
    return s;
}

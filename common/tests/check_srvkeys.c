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
    char buf[SRVKEYS_FORMAT_MAX];

    ck_assert_int_eq(srvkeys_launcher_stats(0x1000), 0x1000);
    ck_assert_int_eq(srvkeys_md_stats(0x1000), 0x1001);
    ck_assert_int_eq(srvkeys_extra(0x1000, 0), 0x1002);
    ck_assert_int_eq(srvkeys_io2md(0x1000, 0), 0x1010);
    ck_assert_int_eq(srvkeys_io2md(0x1000, 3), 0x101c);
    ck_assert_int_eq(srvkeys_md2io(0x1000, 3), 0x101d);
    ck_assert_int_eq(srvkeys_io_stats(0x1000, 3), 0x101e);
    ck_assert_uint_eq(srvkeys_span(2), 24);
    srvkeys_format_stats(buf, sizeof(buf), 0x1000, 2);
    ck_assert_str_eq(buf, "-k 0x1001 -k 0x1000 -k 0x1012 -k 0x1016");
    srvkeys_fifo(buf, sizeof(buf), "/d", "md2io", 255);
    ck_assert_str_eq(buf, "/d/md2io.255");
}
END_TEST

/* Every key of every io_conn up to the most is the server's own: above
 * the fixed keys, below the span, and no two the same. */
START_TEST(test_srvkeys_no_overlap)
{
    static unsigned char used[16 + 4 * SRVKEYS_MAX_IO];
    unsigned span = srvkeys_span(SRVKEYS_MAX_IO);

    ck_assert_uint_eq(span, sizeof(used));
    used[srvkeys_launcher_stats(0)] = used[srvkeys_md_stats(0)] = 1;
    for (unsigned n = 0; n < SRVKEYS_FIXED - 2; n++) {
        ck_assert_int_lt(srvkeys_extra(0, n), SRVKEYS_FIXED);
        ck_assert_int_eq(used[srvkeys_extra(0, n)]++, 0);
    }
    for (unsigned i = 0; i < SRVKEYS_MAX_IO; i++) {
        key_t k[] = {srvkeys_io2md(0, i), srvkeys_md2io(0, i),
                     srvkeys_io_stats(0, i)};
        for (int j = 0; j < 3; j++) {
            ck_assert_int_ge(k[j], SRVKEYS_FIXED);
            ck_assert_uint_lt((unsigned)k[j], srvkeys_span(i + 1));
            ck_assert_msg(used[k[j]]++ == 0, "key %d twice", (int)k[j]);
        }
    }
}
END_TEST

/* A large server: md's, the launcher's and six io_conn's keys to type,
 * and the rule for the others; never past the buffer. */
START_TEST(test_srvkeys_format_many)
{
    char buf[SRVKEYS_FORMAT_MAX], small[20];

    srvkeys_format_stats(buf, sizeof(buf), 0x5e7e0000, SRVKEYS_MAX_IO);
    ck_assert_str_eq(buf, "-k 0x5e7e0001 -k 0x5e7e0000 -k 0x5e7e0012 "
                          "-k 0x5e7e0016 -k 0x5e7e001a -k 0x5e7e001e "
                          "-k 0x5e7e0022 -k 0x5e7e0026 "
                          "(io_conn i: 0x5e7e0012 + 4i)");
    srvkeys_format_stats(small, sizeof(small), 0x5e7e0000, 3);
    ck_assert_str_eq(small, "-k 0x5e7e0001 -k 0x");
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
    tcase_add_test(tc, test_srvkeys_no_overlap);
    tcase_add_test(tc, test_srvkeys_format_many);
    tcase_add_test(tc, test_srvkeys_remove_only_ours);
    suite_add_tcase(s, tc);
    return s;
}

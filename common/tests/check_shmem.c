/* check_shmem.c -- segments: create, open, validation, stale reclaim. */
#include "shmem.h"

#include "harness.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAGIC 0x54455354u /* "TEST" */

static key_t key;

static void setup(void) { key = harness_key(); }

START_TEST(test_shmem_create_then_open)
{
    struct shmem a, b;
    struct shmid_ds ds;

    ck_assert_int_eq(shmem_create(&a, key, MAGIC, 1, 4096), 0);
    memcpy(shmem_data(&a), "hello", 6);
    shmem_publish(&a);
    ck_assert_int_eq(shmem_open(&b, key, MAGIC, 1, 4096, false), 0);
    ck_assert_str_eq(shmem_data(&b), "hello");
    ck_assert_uint_eq(b.size, 4096);
    ck_assert_int_eq(b.hdr->owner_pid, getpid());
    ck_assert_int_eq(shmctl(a.id, IPC_STAT, &ds), 0);
    ck_assert_uint_eq(ds.shm_perm.mode & 0777, 0600);
    shmem_close(&b);
    ck_assert_int_eq(shmem_remove(&a), 0);
    ck_assert_int_eq(shmget(key, 0, 0), -1);
    ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(test_shmem_open_missing)
{
    struct shmem sm;

    ck_assert_int_eq(shmem_open(&sm, key, MAGIC, 1, 0, true), -1);
    ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(test_shmem_open_checks_header)
{
    struct shmem a, b;

    ck_assert_int_eq(shmem_create(&a, key, MAGIC, 2, 128), 0);
    ck_assert_int_eq(shmem_open(&b, key, MAGIC, 2, 128, true), -1);
    ck_assert_int_eq(errno, EAGAIN); /* not published yet */
    shmem_publish(&a);
    ck_assert_int_eq(shmem_open(&b, key, MAGIC + 1, 2, 128, true), -1);
    ck_assert_int_eq(errno, EPROTO);
    ck_assert_int_eq(shmem_open(&b, key, MAGIC, 3, 128, true), -1);
    ck_assert_int_eq(errno, EPROTO);
    ck_assert_int_eq(shmem_open(&b, key, MAGIC, 2, 129, true), -1);
    ck_assert_int_eq(errno, EPROTO);
    a.hdr->size = 1u << 30; /* a corrupt size field */
    ck_assert_int_eq(shmem_open(&b, key, MAGIC, 2, 128, true), -1);
    ck_assert_int_eq(errno, EPROTO);
    shmem_remove(&a);
}
END_TEST

START_TEST(test_shmem_refuses_foreign_mode)
{
    struct shmem sm;
    int id = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0666);

    ck_assert_int_ge(id, 0);
    ck_assert_int_eq(shmem_open(&sm, key, MAGIC, 1, 0, true), -1);
    ck_assert_int_eq(errno, EACCES);
}
END_TEST

START_TEST(test_shmem_live_owner_refused)
{
    struct shmem a, b;

    ck_assert_int_eq(shmem_create(&a, key, MAGIC, 1, 64), 0);
    shmem_publish(&a);
    ck_assert_int_eq(shmem_create(&b, key, MAGIC, 1, 64), -1);
    ck_assert_int_eq(errno, EEXIST);
    shmem_remove(&a);
}
END_TEST

/* The creator is killed with SIGKILL: the next create reclaims. */
START_TEST(test_shmem_stale_reclaimed)
{
    struct shmem sm;
    pid_t pid = fork();
    int status;

    if (pid == 0) {
        if (shmem_create(&sm, key, MAGIC, 1, 64) < 0)
            _exit(1);
        shmem_publish(&sm);
        kill(getpid(), SIGKILL);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status));
    ck_assert_int_ge(shmget(key, 0, 0), 0); /* it is still there */
    ck_assert_int_eq(shmem_create(&sm, key, MAGIC, 1, 64), 0);
    ck_assert_int_eq(sm.hdr->owner_pid, getpid());
    shmem_remove(&sm);
}
END_TEST

/* A stale segment that is not ours (other magic, other mode) is never
 * reclaimed: create refuses instead of deleting someone's data. */
START_TEST(test_shmem_foreign_stale_kept)
{
    struct shmem sm;
    int id = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0644);

    ck_assert_int_ge(id, 0);
    ck_assert_int_eq(shmem_create(&sm, key, MAGIC, 1, 64), -1);
    ck_assert_int_eq(errno, EEXIST);
    ck_assert_int_eq(shmget(key, 0, 0), id);
}
END_TEST

/* A read-only attachment really is read-only: a write faults. */
START_TEST(test_shmem_readonly_write_faults)
{
    struct shmem a, r;
    pid_t pid;
    int status;

    ck_assert_int_eq(shmem_create(&a, key, MAGIC, 1, 64), 0);
    shmem_publish(&a);
    ck_assert_int_eq(shmem_open(&r, key, MAGIC, 1, 64, true), 0);
    pid = fork();
    if (pid == 0) {
        /* The kernel's verdict, not a sanitizer's handler. */
        signal(SIGSEGV, SIG_DFL);
        *(volatile char *)shmem_data(&r) = 1;
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
                  "write through SHM_RDONLY did not fault");
    ck_assert_int_eq(*(char *)shmem_data(&a), 0);
    shmem_close(&r);
    shmem_remove(&a);
}
END_TEST

START_TEST(test_shmem_open_or_create)
{
    struct shmem a, b;
    bool created;

    ck_assert_int_eq(shmem_open_or_create(&a, key, MAGIC, 1, 256, &created), 0);
    ck_assert(created);
    shmem_publish(&a);
    ck_assert_int_eq(shmem_open_or_create(&b, key, MAGIC, 1, 256, &created), 0);
    ck_assert(!created);
    ck_assert_ptr_ne(a.hdr, b.hdr);
    shmem_close(&b);
    shmem_remove(&a);
}
END_TEST

/* shmem_remove_key removes a segment of ours with the right magic; one
 * with another magic, another mode or no header at all stays. */
START_TEST(test_shmem_remove_key_checks_owner)
{
    struct shmem a;
    int id;

    ck_assert_int_eq(shmem_create(&a, key, MAGIC, 1, 64), 0);
    shmem_publish(&a);
    ck_assert_int_eq(shmem_remove_key(key, MAGIC + 1), -1);
    ck_assert_int_eq(errno, EACCES);
    ck_assert_int_eq(shmget(key, 0, 0), a.id);
    ck_assert(!shmem_removed(&a));
    ck_assert_int_eq(shmem_remove_key(key, MAGIC), 0);
    ck_assert(shmem_removed(&a)); /* marked; our mapping keeps it */
    shmem_close(&a);
    ck_assert_int_eq(shmem_remove_key(key, MAGIC), 0); /* none left */

    id = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600); /* no header */
    ck_assert_int_ge(id, 0);
    ck_assert_int_eq(shmem_remove_key(key, MAGIC), -1);
    ck_assert_int_eq(shmget(key, 0, 0), id);
    ck_assert_int_eq(shmctl(id, IPC_RMID, NULL), 0);
    id = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0644); /* not 0600 */
    ck_assert_int_ge(id, 0);
    ck_assert_int_eq(shmem_remove_key(key, MAGIC), -1);
    ck_assert_int_eq(shmget(key, 0, 0), id);
}
END_TEST

/* A ready word other than 0 or 1 is garbage, not "not yet published". */
START_TEST(test_shmem_garbage_ready_is_eproto)
{
    struct shmem a, b;

    ck_assert_int_eq(shmem_create(&a, key, MAGIC, 1, 64), 0);
    ck_assert_int_eq(shmem_open(&b, key, MAGIC, 1, 0, true), -1);
    ck_assert_int_eq(errno, EAGAIN);
    atomic_store(&a.hdr->ready, 0xa5a5a5a5u);
    ck_assert_int_eq(shmem_open(&b, key, MAGIC, 1, 0, true), -1);
    ck_assert_int_eq(errno, EPROTO);
    shmem_remove(&a);
}
END_TEST

Suite *shmem_suite(void)
{
    Suite *s = suite_create("shmem");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_add_test(tc, test_shmem_create_then_open);
    tcase_add_test(tc, test_shmem_open_missing);
    tcase_add_test(tc, test_shmem_open_or_create);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_add_test(tc, test_shmem_open_checks_header);
    tcase_add_test(tc, test_shmem_refuses_foreign_mode);
    tcase_add_test(tc, test_shmem_live_owner_refused);
    tcase_add_test(tc, test_shmem_stale_reclaimed);
    tcase_add_test(tc, test_shmem_foreign_stale_kept);
    tcase_add_test(tc, test_shmem_remove_key_checks_owner);
    tcase_add_test(tc, test_shmem_garbage_ready_is_eproto);
    tcase_add_test(tc, test_shmem_readonly_write_faults);
    suite_add_tcase(s, tc);
    return s;
}

/* check_shmem.c -- segments: create, open, validation, stale reclaim. */
#include "shmem.h"

#include "harness.h"
#include "mhash.h"
#include "spscq.h"
#include "stats.h"

#include <check.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
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

/* A segment as its creator leaves it between shmget() and shmat(): our
 * header written (as after a shmat and detach), nothing attached, not
 * published. Created by this process, so its creator is alive. */
static int make_unpublished(void)
{
    int id = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600);
    struct shmem_hdr *h;

    ck_assert_int_ge(id, 0);
    h = shmat(id, NULL, 0);
    ck_assert_ptr_ne(h, (void *)-1);
    h->magic = MAGIC;
    h->version = 1;
    h->size = 4096;
    h->hdr_size = sizeof(*h);
    h->owner_pid = getpid();
    shmdt(h);
    return id;
}

/* Not published, creator alive, nothing attached: being made, in use. */
START_TEST(test_shmem_unpublished_of_live_creator_kept)
{
    struct shmem sm;
    int id = make_unpublished();

    ck_assert_int_eq(shmem_create(&sm, key, MAGIC, 1, 4096 - 64), -1);
    ck_assert_int_eq(errno, EEXIST);
    ck_assert_int_eq(shmget(key, 0, 0), id);
}
END_TEST

/* Not published and its creator dead (killed half-way): reclaimed. */
START_TEST(test_shmem_unpublished_of_dead_creator_reclaimed)
{
    struct shmem sm;
    pid_t pid = fork();
    int status, id;

    if (pid == 0) {
        make_unpublished();
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    id = shmget(key, 0, 0);
    ck_assert_int_ge(id, 0);
    ck_assert_int_eq(shmem_create(&sm, key, MAGIC, 1, 4096 - 64), 0);
    ck_assert_int_ne(sm.id, id);
    shmem_remove(&sm);
}
END_TEST

/* Two racing openers meet at a start line in memory they share: each
 * says it is ready, then spins until the parent says go, so both call
 * shmem_open_or_create() within a few hundred nanoseconds. */
struct race_line {
    _Atomic int ready, go;
    int id[2], created[2];
};

/* One racer: open or create, report the segment, stay attached until the
 * parent has both reports (so the other never finds it abandoned). */
static _Noreturn void racer(struct race_line *line, int i, int done_fd)
{
    struct shmem sm;
    bool created;
    char c;

    atomic_fetch_add(&line->ready, 1);
    while (!atomic_load(&line->go))
        ;
    line->id[i] = -1;
    if (shmem_open_or_create(&sm, key, MAGIC, 1, 256, &created) == 0) {
        if (created)
            shmem_publish(&sm);
        line->id[i] = sm.id;
        line->created[i] = created;
    }
    atomic_fetch_add(&line->ready, 1);
    (void)read(done_fd, &c, 1); /* EOF: the round is over */
    _exit(0);
}

/* Two processes open-or-create one key at the same instant, 1,000 times:
 * they must always end on the same segment, one of them its creator.
 * Before a not-yet-published segment of a live creator counted as in
 * use, a few rounds in 1,000 ended on two segments. */
START_TEST(test_shmem_racing_openers_meet)
{
    struct race_line *line = mmap(NULL, sizeof(*line), PROT_READ | PROT_WRITE,
                                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int split = 0, failed = 0;

    ck_assert_ptr_ne(line, MAP_FAILED);
    for (int round = 0; round < 1000; round++) {
        int done[2], status, id;
        pid_t pid[2];

        memset(line, 0, sizeof(*line));
        ck_assert_int_eq(pipe(done), 0);
        for (int i = 0; i < 2; i++) {
            pid[i] = fork();
            ck_assert_int_ge(pid[i], 0);
            if (pid[i] == 0) {
                close(done[1]);
                racer(line, i, done[0]);
            }
        }
        while (atomic_load(&line->ready) < 2)
            sched_yield();
        atomic_store(&line->go, 1);
        while (atomic_load(&line->ready) < 4)
            sched_yield();
        close(done[1]);
        for (int i = 0; i < 2; i++)
            ck_assert_int_eq(waitpid(pid[i], &status, 0), pid[i]);
        close(done[0]);
        failed += line->id[0] < 0 || line->id[1] < 0;
        split += line->id[0] != line->id[1] ||
                 line->created[0] + line->created[1] != 1;
        while ((id = shmget(key, 0, 0)) >= 0) /* and a second, if any */
            ck_assert_int_eq(shmctl(id, IPC_RMID, NULL), 0);
    }
    munmap(line, sizeof(*line));
    ck_assert_msg(split == 0 && failed == 0,
                  "%d of 1000 rounds ended on two segments or without "
                  "a creator, %d with an opener failing",
                  split, failed);
}
END_TEST

/* Everything the modules make for a server: a statistics block, a queue
 * and its FIFO, a multi-hash, a plain segment. Another user (nobody)
 * reaches none of them. */
START_TEST(test_shmem_other_user_refused)
{
    struct mhash_geom g = {3, 60, 8, false};
    struct shmem sm;
    struct stats st;
    struct mhash h;
    struct spscq *q;
    char fifo[256];
    int nsegs = 0, nfifos = 0, rc;

    snprintf(fifo, sizeof(fifo), "%s/q.fifo", harness_tmpdir());
    ck_assert_int_eq(shmem_create(&sm, key, MAGIC, 1, 64), 0);
    shmem_publish(&sm);
    ck_assert_int_eq(stats_create(&st, harness_key(), "tester"), 0);
    stats_start(&st);
    ck_assert_int_eq(mhash_create(&h, harness_key(), &g), 0);
    q = spscq_create(harness_key(), fifo, 4096, SPSCQ_CONSUMER);
    ck_assert_ptr_nonnull(q);
    rc = harness_foreign_user_refused("another user refused", &nsegs, &nfifos);
    ck_assert_msg(rc >= 0, "%s", harness_error());
    ck_assert(rc == 1 || (nsegs == 4 && nfifos == 1));
    spscq_remove(q);
    mhash_remove(&h);
    stats_remove(&st);
    shmem_remove(&sm);
}
END_TEST

/* The check itself bites: a segment and a FIFO anyone may use are found. */
START_TEST(test_shmem_other_user_check_bites)
{
    char dir[256], fifo[300];
    int nsegs, nfifos, id, rc;

    id = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0666);
    ck_assert_int_ge(id, 0);
    rc = harness_foreign_user_refused("probe of a 0666 segment", &nsegs,
                                      &nfifos);
    ck_assert_int_ne(rc, 0);
    ck_assert_int_eq(shmctl(id, IPC_RMID, NULL), 0);
    if (rc == 1)
        return; /* skipped: not root */
    ck_assert_str_eq(harness_error() + strlen(harness_error()) - 6, "nobody");
    snprintf(dir, sizeof(dir), "%s/open", harness_tmpdir());
    snprintf(fifo, sizeof(fifo), "%s/x.fifo", dir);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_int_eq(mkfifo(fifo, 0666), 0);
    ck_assert_int_eq(chmod(harness_tmpdir(), 0755), 0);
    ck_assert_int_eq(chmod(fifo, 0666), 0); /* past the umask */
    rc = harness_foreign_user_refused("probe of a 0666 FIFO", &nsegs, &nfifos);
    ck_assert_int_eq(chmod(harness_tmpdir(), 0700), 0);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(harness_error(), "x.fifo") != NULL, "%s",
                  harness_error());
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
    tcase_add_test(tc, test_shmem_unpublished_of_live_creator_kept);
    tcase_add_test(tc, test_shmem_unpublished_of_dead_creator_reclaimed);
    suite_add_tcase(s, tc);

    tc = tcase_create("users");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_add_test(tc, test_shmem_other_user_refused);
    tcase_add_test(tc, test_shmem_other_user_check_bites);
    suite_add_tcase(s, tc);

    tc = tcase_create("race");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_add_test(tc, test_shmem_racing_openers_meet);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

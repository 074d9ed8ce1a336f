/* check_mq_counter.c -- tests of your counting (count.c): echosvr_v5 built
 * here on the counting queue, traffic through it, and mqcount's numbers
 * against the server's own statistics; an md restart; what mqcount
 * refuses; a read-only attach. */
#include "fixture.h"
#include "spscq.h"
#include "srvkeys.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#define SERVER "./echosvr_v5"
#define READER "./mqcount"

static struct fixture_srv fs;

static void setup(void) { fixture_srv_init(&fs); }

static struct hproc *start_server(void)
{
    return fixture_srv_start(&fs, SERVER, NULL);
}

struct counts {
    unsigned long long pushed_msgs, pushed_bytes, popped_msgs, popped_bytes;
};

/* mqcount -k key: exit 0 and one line, parsed into *c. */
static void read_queue(key_t key, struct counts *c)
{
    char k[16], *out = NULL, *err = NULL;
    const char *argv[] = {READER, "-k", k, NULL};
    unsigned shown;
    int rc;

    snprintf(k, sizeof(k), "%#x", (unsigned)key);
    rc = harness_run(argv, 5000, &out, &err);
    ck_assert_msg(rc == 0, "mqcount -k %s: exit %d: %s", k, rc, err);
    ck_assert_msg(sscanf(out,
                         "queue %x pushed %llu msgs %llu bytes popped %llu "
                         "msgs %llu bytes",
                         &shown, &c->pushed_msgs, &c->pushed_bytes,
                         &c->popped_msgs, &c->popped_bytes) == 5 &&
                      shown == (unsigned)key,
                  "mqcount's line does not read as documented: %s", out);
    free(out);
    free(err);
}

/* n messages of len bytes, one at a time, each echo read back. */
static void talk(uint16_t port, int n, size_t len)
{
    int fd = harness_connect(port);
    unsigned char msg[256], back[256];

    ck_assert_int_ge(fd, 0);
    for (int i = 0; i < n; i++) {
        harness_fill(msg, len, (uint32_t)i + 1);
        ck_assert_int_eq(harness_write_all(fd, msg, len), 0);
        ck_assert_int_eq(harness_read_all(fd, back, len), 0);
        ck_assert(memcmp(msg, back, len) == 0);
    }
    close(fd);
}

/* The queues' counts equal what io_conn counted itself: to md, every
 * message it forwarded (its bytes plus the 8-byte sequence number), all
 * taken by md; back, every reply md queued, all taken by io_conn. */
static void expect_counts_agree(void)
{
    key_t io = srvkeys_io_stats(fs.base, 0);
    struct counts to_md, from_md;
    uint64_t msgs = fixture_counter(io, "msgs_to_md"), replies;

    for (int i = 0; i < 100 && fixture_counter(io, "msgs_from_md") < msgs; i++)
        usleep(10000);
    /* every reply md queued, delivered or dropped as a duplicate */
    replies = fixture_counter(io, "msgs_from_md") +
              fixture_counter(io, "dropped_dup") +
              fixture_counter(io, "dropped_closed");
    read_queue(srvkeys_io2md(fs.base, 0), &to_md);
    read_queue(srvkeys_md2io(fs.base, 0), &from_md);
    ck_assert_msg(to_md.pushed_msgs == msgs && to_md.popped_msgs == msgs,
                  "to md: pushed %llu, popped %llu, io_conn forwarded %llu",
                  to_md.pushed_msgs, to_md.popped_msgs,
                  (unsigned long long)msgs);
    ck_assert_uint_eq(to_md.pushed_bytes,
                      fixture_counter(io, "bytes_to_md") + 8 * msgs);
    ck_assert_uint_eq(to_md.popped_bytes, to_md.pushed_bytes);
    ck_assert_msg(
        from_md.pushed_msgs == replies && from_md.popped_msgs == replies,
        "back: pushed %llu, popped %llu, io_conn took %llu",
        from_md.pushed_msgs, from_md.popped_msgs, (unsigned long long)replies);
    ck_assert_uint_eq(from_md.popped_bytes, from_md.pushed_bytes);
}

START_TEST(test_count_exact)
{
    struct hproc *srv = start_server();

    talk(srv->port, 1000, 100);
    expect_counts_agree();
    ck_assert_uint_ge(
        fixture_counter(srvkeys_io_stats(fs.base, 0), "msgs_to_md"), 1000);
    fixture_stop_clean(srv, 5000);
}
END_TEST

/* The counts live in the segment: an md killed and restarted goes on
 * from them, it does not start again from zero. */
START_TEST(test_count_survives_md_restart)
{
    struct hproc *srv = start_server();

    talk(srv->port, 300, 50);
    fixture_kill_md(&fs);
    talk(srv->port, 300, 50);
    expect_counts_agree();
    fixture_stop_clean(srv, 5000);
}
END_TEST

/* What is not a queue is refused with one line and exit 1. */
START_TEST(test_count_not_a_queue)
{
    struct hproc *srv = start_server();
    char k[16], *err = NULL;
    const char *argv[] = {READER, "-k", k, NULL};

    snprintf(k, sizeof(k), "%#x", (unsigned)srvkeys_md_stats(fs.base));
    ck_assert_int_eq(harness_run(argv, 5000, NULL, &err), 1);
    ck_assert_msg(strstr(err, "not a queue") &&
                      !strchr(strchr(err, '\n') + 1, '\n'),
                  "not one line saying it is not a queue: %s", err);
    free(err);
    fixture_stop_clean(srv, 5000);
}
END_TEST

/* mqcount -k key as a process without CAP_IPC_OWNER (root's power to
 * ignore a segment's mode): its exit status, its stdout into out. */
static int run_without_ipc_owner(key_t key, char *out, size_t size)
{
    char k[16];
    int pipefd[2], status;
    ssize_t n, got = 0;
    pid_t pid;

    snprintf(k, sizeof(k), "%#x", (unsigned)key);
    ck_assert_int_eq(pipe(pipefd), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* as root, drop the capability for what we exec; as anyone else
         * there is nothing to drop (and the call fails: fine) */
        prctl(PR_CAPBSET_DROP, CAP_IPC_OWNER, 0, 0, 0);
        dup2(pipefd[1], STDOUT_FILENO);
        execl(READER, READER, "-k", k, (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    while (got + 1 < (ssize_t)size &&
           (n = read(pipefd[0], out + got, size - 1 - (size_t)got)) > 0)
        got += n;
    out[got] = '\0';
    close(pipefd[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A queue whose segment nobody may write (mode 0400): a reader that
 * attaches read-only reads it; one that asks for write access is
 * refused. mqcount must never be able to write to a live queue. */
START_TEST(test_count_read_only)
{
    char fifo[256], out[256];
    struct spscq *q;
    struct shmid_ds ds;
    int id, rc;

    snprintf(fifo, sizeof(fifo), "%s/q.fifo", harness_tmpdir());
    q = spscq_create(fs.base, fifo, 4096, SPSCQ_BOTH);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(spscq_push(q, 1, "abc", 3), 0);
    spscq_close(q);
    id = shmget(fs.base, 0, 0);
    ck_assert_int_eq(shmctl(id, IPC_STAT, &ds), 0);
    ds.shm_perm.mode = 0400;
    ck_assert_int_eq(shmctl(id, IPC_SET, &ds), 0);
    rc = run_without_ipc_owner(fs.base, out, sizeof(out));
    ck_assert_msg(rc == 0,
                  "mqcount exit %d on a queue it may only read: it asks for "
                  "write access",
                  rc);
    ck_assert_msg(strstr(out, " pushed "), "mqcount printed: %s", out);
}
END_TEST

/* Given code, kept working. */
START_TEST(test_count_command_line)
{
    const char *none[] = {READER, NULL};
    const char *bad[] = {READER, "-k", "0", NULL};

    fixture_check_help(READER, "-k KEY");
    fixture_check_bad_args(none, "no -k KEY");
    fixture_check_bad_args(bad, "bad key");
}
END_TEST

Suite *mq_counter_suite(void)
{
    Suite *s = suite_create("ch4-mq-counter");
    TCase *tc;

    tc = tcase_create("count");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_count_exact);
    tcase_add_test(tc, test_count_survives_md_restart);
    suite_add_tcase(s, tc);

    tc = tcase_create("reader");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_count_not_a_queue);
    tcase_add_test(tc, test_count_read_only);
    tcase_add_test(tc, test_count_command_line);
    suite_add_tcase(s, tc);
    return s;
}

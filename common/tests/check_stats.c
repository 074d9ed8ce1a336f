/* check_stats.c -- the statistics block: registration, commit and read,
 * validation, read-only readers, and snapshots never torn. */
#include "stats.h"
#include "now.h"

#include "harness.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static key_t key;

/* harness_key(): private to this runner, swept even after a failure. */
static void setup(void) { key = harness_key(); }

static void make_writer(struct stats *w, int n)
{
    char name[16];

    ck_assert_int_eq(stats_create(w, key, "tester"), 0);
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "c%d", i);
        ck_assert_int_eq(stats_register(w, name, STATS_COUNTER), i);
    }
}

START_TEST(test_stats_commit_then_read)
{
    struct stats w, r;
    struct stats_snapshot snap;
    int msgs, open;

    ck_assert_int_eq(stats_create(&w, key, "echo server!"), 0);
    msgs = stats_register(&w, "messages", STATS_COUNTER);
    open = stats_register(&w, "conns_open", STATS_GAUGE);
    ck_assert_int_eq(msgs, 0);
    ck_assert_int_eq(open, 1);
    ck_assert_int_eq(stats_open(&r, key), -1);
    ck_assert_int_eq(errno, EAGAIN); /* not started */
    stats_start(&w);
    ck_assert_int_eq(stats_open(&r, key), 0);

    stats_add(&w, msgs, 5);
    stats_set(&w, open, 3);
    ck_assert_int_eq(stats_read(&r, &snap), 0);
    ck_assert_uint_eq(snap.value[msgs], 0); /* nothing before a commit */
    stats_commit(&w);
    ck_assert_int_eq(stats_read(&r, &snap), 0);
    ck_assert_uint_eq(snap.n, 2);
    ck_assert_uint_eq(snap.value[msgs], 5);
    ck_assert_uint_eq(snap.value[open], 3);
    ck_assert_str_eq(snap.desc[1].name, "conns_open");
    ck_assert_uint_eq(snap.desc[1].kind, STATS_GAUGE);
    ck_assert_str_eq(snap.writer, "echo_server_");
    ck_assert_int_eq(snap.pid, getpid());
    ck_assert_int_ge(snap.updated_ns, snap.started_ns);
    ck_assert_int_eq(stats_find(&snap, "messages"), msgs);
    ck_assert_int_eq(stats_find(&snap, "nothing"), -1);
    stats_close(&r);
    ck_assert_int_eq(stats_remove(&w), 0);
    ck_assert_int_eq(stats_open(&r, key), -1);
    ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(test_stats_register_errors)
{
    struct stats w;
    char name[16], longname[STATS_NAME_LEN + 1];

    ck_assert_int_eq(stats_create(&w, key, "tester"), 0);
    memset(longname, 'x', STATS_NAME_LEN);
    longname[STATS_NAME_LEN] = '\0';
    ck_assert_int_eq(stats_register(&w, "two words", STATS_COUNTER), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(stats_register(&w, "", STATS_COUNTER), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(stats_register(&w, longname, STATS_COUNTER), -1);
    ck_assert_int_eq(errno, EINVAL);
    longname[STATS_NAME_LEN - 1] = '\0'; /* 31 characters fit */
    ck_assert_int_eq(stats_register(&w, longname, STATS_COUNTER), 0);
    ck_assert_int_eq(stats_register(&w, "c", (enum stats_kind)7), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(stats_register(&w, longname, STATS_GAUGE), -1);
    ck_assert_int_eq(errno, EEXIST);
    for (int i = 1; i < STATS_MAX_COUNTERS; i++) {
        snprintf(name, sizeof(name), "q%d.msgs", i);
        ck_assert_int_eq(stats_register(&w, name, STATS_COUNTER), i);
    }
    ck_assert_int_eq(stats_register(&w, "one_more", STATS_COUNTER), -1);
    ck_assert_int_eq(errno, ENOSPC);
    stats_start(&w);
    ck_assert_int_eq(stats_register(&w, "late", STATS_COUNTER), -1);
    ck_assert_int_eq(errno, EBUSY);
    stats_remove(&w);
}
END_TEST

/* A second writer on a live key is refused; a killed one is reclaimed. */
START_TEST(test_stats_one_writer_per_key)
{
    struct stats w, w2;
    pid_t pid;
    int status;

    make_writer(&w, 1);
    stats_start(&w);
    ck_assert_int_eq(stats_create(&w2, key, "second"), -1);
    ck_assert_int_eq(errno, EEXIST);
    stats_remove(&w);

    pid = fork();
    if (pid == 0) {
        if (stats_create(&w, key, "doomed") < 0)
            _exit(1);
        stats_start(&w);
        kill(getpid(), SIGKILL);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status));
    ck_assert_int_eq(stats_create(&w2, key, "heir"), 0);
    stats_remove(&w2);
}
END_TEST

/* Readers validate what they will copy: a corrupt count or name is
 * refused at open, never read past. */
START_TEST(test_stats_open_rejects_corrupt)
{
    struct stats w, r;

    make_writer(&w, 2);
    stats_start(&w);
    w.blk->ncounters = STATS_MAX_COUNTERS + 1;
    ck_assert_int_eq(stats_open(&r, key), -1);
    ck_assert_int_eq(errno, EPROTO);
    w.blk->ncounters = 2;
    memset(w.blk->desc[1].name, 'x', STATS_NAME_LEN); /* no NUL */
    ck_assert_int_eq(stats_open(&r, key), -1);
    ck_assert_int_eq(errno, EPROTO);
    strcpy(w.blk->desc[1].name, "bad name");
    ck_assert_int_eq(stats_open(&r, key), -1);
    ck_assert_int_eq(errno, EPROTO);
    strcpy(w.blk->desc[1].name, "c1");
    ck_assert_int_eq(stats_open(&r, key), 0);
    stats_close(&r);
    stats_remove(&w);
}
END_TEST

/* A reader cannot write: storing through its mapping faults. */
/* The writer's "fixed" fields changed after the reader's open: every
 * read checks its copy again (EPROTO), and reads again once they are
 * repaired. */
START_TEST(test_stats_read_rechecks_fixed_fields)
{
    struct stats w, r;
    struct stats_snapshot snap;
    struct stats_block saved;

    make_writer(&w, 2);
    stats_start(&w);
    stats_commit(&w);
    ck_assert_int_eq(stats_open(&r, key), 0);
    memcpy(&saved, w.blk, sizeof(saved));
    for (int what = 0; what < 7; what++) {
        switch (what) {
        case 0: w.blk->writer[2] = '\x1b'; break;
        case 1: w.blk->desc[1].name[0] = '\n'; break;
        case 2: w.blk->pid = 0; break;
        case 3: w.blk->pid = -5; break;
        case 4: w.blk->started_ns = INT64_MIN; break;
        case 5: atomic_store(&w.blk->updated_ns, -1); break;
        default: w.blk->desc[0].kind = 2; break;
        }
        ck_assert_msg(stats_read(&r, &snap) == -1 && errno == EPROTO,
                      "damage %d not caught", what);
        memcpy(w.blk, &saved, sizeof(saved));
        ck_assert_int_eq(stats_read(&r, &snap), 0);
    }
    stats_close(&r);
    stats_remove(&w);
}
END_TEST

START_TEST(test_stats_reader_cannot_write)
{
    struct stats w, r;
    pid_t pid;
    int status;

    make_writer(&w, 1);
    stats_start(&w);
    ck_assert_int_eq(stats_open(&r, key), 0);
    pid = fork();
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL); /* not ASan's handler: die of it */
        atomic_store(&r.blk->value[0], 42);
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
                  "a store through the reader's mapping did not fault");
    ck_assert_uint_eq(atomic_load(&w.blk->value[0]), 0);
    stats_close(&r);
    stats_remove(&w);
}
END_TEST

/* A writer killed inside a commit leaves seq odd: readers give up with
 * EAGAIN in bounded time instead of spinning for ever. */
START_TEST(test_stats_stuck_writer)
{
    struct stats w, r;
    struct stats_snapshot snap;
    int64_t t0;

    make_writer(&w, 1);
    stats_start(&w);
    ck_assert_int_eq(stats_open(&r, key), 0);
    atomic_store(&w.blk->seq, 7);
    t0 = now_mono_ns();
    ck_assert_int_eq(stats_read(&r, &snap), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_lt(now_mono_ns() - t0, 2000000000);
    atomic_store(&w.blk->seq, 8);
    ck_assert_int_eq(stats_read(&r, &snap), 0);
    stats_close(&r);
    stats_remove(&w);
}
END_TEST

enum { TORN_N = 16 };

/* Counter k of commit i holds i * (k + 1): any mix of two commits breaks
 * the proportion. */
static _Noreturn void torn_writer(void)
{
    struct stats w;

    if (stats_create(&w, key, "torn") < 0)
        _exit(1);
    for (int k = 0; k < TORN_N; k++) {
        char name[8];
        snprintf(name, sizeof(name), "c%d", k);
        stats_register(&w, name, STATS_COUNTER);
    }
    stats_start(&w);
    for (uint64_t i = 1;; i++) {
        for (int k = 0; k < TORN_N; k++)
            stats_set(&w, k, i * (uint64_t)(k + 1));
        stats_commit(&w);
        /* a server does some work between commits; a writer that only
         * commits would hold seq odd nearly all the time */
        for (volatile int spin = 0; spin < 200; spin++)
            ;
    }
}

/* Another process commits as fast as it can while we read: every
 * snapshot is exactly one commit, and commits do advance under us. */
START_TEST(test_stats_snapshots_never_torn)
{
    struct stats r;
    struct stats_snapshot snap;
    int64_t t0;
    uint64_t last = 0, distinct = 0, reads = 0, stalls = 0;
    long ms;
    pid_t pid = fork();
    int status;

    if (pid == 0)
        torn_writer();
    ck_assert_int_gt(pid, 0);
    for (int i = 0; stats_open(&r, key) < 0; i++) {
        ck_assert_msg(i < 1000, "writer did not start: %s", strerror(errno));
        usleep(1000);
    }
    t0 = now_mono_ns();
    /* half a second and 2,000 commits seen, or 5 s on a busy machine */
    do {
        ms = (now_mono_ns() - t0) / 1000000;
        if (stats_read(&r, &snap) < 0) {
            /* the writer outran a reader slowed down (ThreadSanitizer on
             * a loaded machine) for 100 ms: no copy, but never a torn one */
            ck_assert_msg(errno == EAGAIN, "stats_read: %s", strerror(errno));
            stalls++;
            continue;
        }
        reads++;
        for (int k = 1; k < TORN_N; k++)
            ck_assert_msg(snap.value[k] == snap.value[0] * (uint64_t)(k + 1),
                          "torn snapshot: c0=%llu c%d=%llu",
                          (unsigned long long)snap.value[0], k,
                          (unsigned long long)snap.value[k]);
        ck_assert_uint_ge(snap.value[0], last);
        distinct += snap.value[0] != last;
        last = snap.value[0];
    } while ((ms < 500 || distinct < 2000) && ms < harness_ms(5000));
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    stats_close(&r);
    /* the reads really raced the commits */
    ck_assert_msg(distinct >= 100, "only %llu distinct of %llu reads",
                  (unsigned long long)distinct, (unsigned long long)reads);
    ck_assert_msg(stalls <= reads / 10, "%llu of %llu reads found no copy",
                  (unsigned long long)stalls,
                  (unsigned long long)(reads + stalls));
}
END_TEST

/* The declarative set-up: counter i is defs[i], started; a table with a
 * hole (a counter of the enum without a name) is refused, and nothing is
 * left under the key. */
START_TEST(test_stats_create_table)
{
    enum { A, B, C, N };
    static const struct stats_def defs[N] = {
        [A] = {"alpha", STATS_COUNTER},
        [B] = {"beta", STATS_GAUGE},
        [C] = {"gamma", STATS_COUNTER},
    };
    static const struct stats_def holed[N] = {
        [A] = {"alpha", STATS_COUNTER},
        [C] = {"gamma", STATS_COUNTER},
    };
    static const struct stats_def bad[1] = {{"no spaces", STATS_COUNTER}};
    struct stats w, r;
    struct stats_snapshot snap;

    ck_assert_int_eq(stats_create_table(&w, key, "tabler", defs, N), 0);
    stats_set(&w, B, 7);
    stats_add(&w, C, 3);
    stats_commit(&w);
    ck_assert_int_eq(stats_open(&r, key), 0); /* started: readable */
    ck_assert_int_eq(stats_read(&r, &snap), 0);
    ck_assert_uint_eq(snap.n, N);
    ck_assert_int_eq(stats_find(&snap, "beta"), B);
    ck_assert_int_eq(stats_find(&snap, "gamma"), C);
    ck_assert_uint_eq(snap.value[B], 7);
    ck_assert_uint_eq(snap.desc[B].kind, STATS_GAUGE);
    ck_assert_uint_eq(snap.value[C], 3);
    stats_close(&r);
    stats_remove(&w);

    ck_assert_int_eq(stats_create_table(&w, key, "tabler", holed, N), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(shmget(key, 0, 0), -1);
    ck_assert_int_eq(stats_create_table(&w, key, "tabler", bad, 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(shmget(key, 0, 0), -1);
}
END_TEST

/* stats_remove_key removes a block of ours, never another kind. */
START_TEST(test_stats_remove_key_only_ours)
{
    struct stats w;
    struct shmem sm;

    make_writer(&w, 1);
    stats_start(&w);
    stats_close(&w);
    ck_assert_int_eq(stats_remove_key(key), 0);
    ck_assert_int_eq(shmget(key, 0, 0), -1);
    ck_assert_int_eq(stats_remove_key(key), 0); /* none: nothing to do */
    ck_assert_int_eq(shmem_create(&sm, key, 0x4f544852u, 1, 64), 0);
    ck_assert_int_eq(stats_remove_key(key), -1);
    ck_assert_int_eq(errno, EACCES);
    ck_assert_int_eq(shmget(key, 0, 0), sm.id);
    shmem_remove(&sm);
}
END_TEST

/* test_stats_snapshots_never_torn between two threads over one mapping
 * (the reader attaches the writer's block with stats_attach()), so that
 * ThreadSanitizer (SANITIZE=thread) sees both sides of the seqlock. */
struct torn_thread {
    struct stats *w;
    _Atomic bool stop;
};

static void *torn_thread_writer(void *arg)
{
    struct torn_thread *t = arg;

    for (uint64_t i = 1; !atomic_load(&t->stop); i++) {
        for (int k = 0; k < TORN_N; k++)
            stats_set(t->w, k, i * (uint64_t)(k + 1));
        stats_commit(t->w);
        /* work between commits, as in torn_writer(): a writer that only
         * commits holds seq odd nearly all the time */
        for (volatile int spin = 0; spin < 200; spin++)
            ;
    }
    return NULL;
}

START_TEST(test_stats_threads_never_torn)
{
    struct torn_thread t = {0};
    struct stats w, r = {0};
    struct stats_snapshot snap;
    uint64_t distinct = 0, last = 0;
    pthread_t tid;

    make_writer(&w, TORN_N);
    stats_start(&w);
    ck_assert_int_eq(stats_attach(&r, w.blk, sizeof(*w.blk)), 0);
    t.w = &w;
    ck_assert_int_eq(pthread_create(&tid, NULL, torn_thread_writer, &t), 0);
    /* 200 commits seen, or 5 s on a busy machine (under ThreadSanitizer
     * with the other suites running, half a second saw only 8) */
    for (int64_t end = now_mono_ns() + harness_ms(5000) * 1000000LL;
         distinct < 200 && now_mono_ns() < end;) {
        if (stats_read(&r, &snap) < 0) {
            ck_assert_int_eq(errno, EAGAIN); /* slow reader: no copy */
            continue;
        }
        for (int k = 1; k < TORN_N; k++)
            ck_assert_uint_eq(snap.value[k], snap.value[0] * (uint64_t)(k + 1));
        distinct += snap.value[0] != last;
        last = snap.value[0];
    }
    atomic_store(&t.stop, true);
    ck_assert_int_eq(pthread_join(tid, NULL), 0);
    ck_assert_uint_gt(distinct, 10);
    stats_remove(&w);
}
END_TEST

Suite *stats_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_add_test(tc, test_stats_commit_then_read);
    tcase_add_test(tc, test_stats_register_errors);
    tcase_add_test(tc, test_stats_one_writer_per_key);
    tcase_add_test(tc, test_stats_create_table);
    tcase_add_test(tc, test_stats_remove_key_only_ours);
    suite_add_tcase(s, tc);

    tc = tcase_create("readers");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_stats_open_rejects_corrupt);
    tcase_add_test(tc, test_stats_reader_cannot_write);
    tcase_add_test(tc, test_stats_read_rechecks_fixed_fields);
    tcase_add_test(tc, test_stats_stuck_writer);
    tcase_add_test(tc, test_stats_snapshots_never_torn);
    suite_add_tcase(s, tc);

    /* As in check_mhash.c: a thread race, which make memcheck leaves out. */
    if (!getenv("SVRTUT_MEMCHECK")) {
        tc = tcase_create("threads");
        tcase_add_checked_fixture(tc, setup, harness_cleanup);
        tcase_add_test(tc, test_stats_threads_never_torn);
        suite_add_tcase(s, tc);
    }
    return s;
}

/* check_shared_cache.c -- tests of exercise ch5-shared-cache: shwriter
 * and shreader, separate processes on one table, as a user runs them:
 * the reader finds every record the writer reported, never a torn one,
 * even while the writer rewrites them; restarts keep the table; the
 * reader maps it read-only; a second writer is refused. */
#include "../shcache.h"
#include "fixture.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WRITER "./shwriter"
#define READER "./shreader"
#define KEYS   64

static key_t key;
static char keystr[16];

static void setup(void)
{
    key = harness_key();
    snprintf(keystr, sizeof(keystr), "%#x", (unsigned)key);
}

static void teardown(void)
{
    mhash_remove_key(key);
    stats_remove_key(shcache_lock_key(key));
    harness_cleanup();
}

static uint64_t digest_of(uint64_t k, uint64_t version)
{
    struct shrec r;

    shrec_fill(&r, k, version);
    return shrec_digest(&r);
}

/* What a reader printed, checked line by line: every record's digest is
 * the one its key and version give, and no key's version goes back. */
struct listing {
    uint64_t version[KEYS]; /* the last seen; 0: never */
    unsigned records, absent, busy, rounds, changes;
};

static void parse_reader(const char *out, unsigned keys, struct listing *l)
{
    const char *line = out;

    memset(l, 0, sizeof(*l));
    for (; *line; line = strchr(line, '\n') + 1) {
        unsigned long long k, v, d;
        char word[16];
        ck_assert_msg(strchr(line, '\n') != NULL, "unterminated line: %s",
                      line);
        if (strncmp(line, "--\n", 3) == 0) {
            l->rounds++;
            continue;
        }
        if (sscanf(line, "%llu %llu %llx", &k, &v, &d) == 3) {
            ck_assert_msg(k < keys, "key %llu was never written", k);
            ck_assert_msg(d == digest_of(k, v),
                          "key %llu version %llu printed with digest %016llx, "
                          "not %016llx: a torn record",
                          k, v, d, (unsigned long long)digest_of(k, v));
            ck_assert_msg(v >= l->version[k],
                          "key %llu went back from version %llu to %llu", k,
                          (unsigned long long)l->version[k], v);
            l->changes += v != l->version[k] && l->version[k] != 0;
            l->version[k] = v;
            l->records++;
        } else if (sscanf(line, "%llu %15s", &k, word) == 2 &&
                   strcmp(word, "absent") == 0) {
            l->absent++;
        } else if (sscanf(line, "%llu %15s", &k, word) == 2 &&
                   strcmp(word, "busy") == 0) {
            l->busy++;
        } else {
            ck_abort_msg("unexpected line from shreader: %.80s", line);
        }
    }
}

/* shreader -n keys once: each key at want[k] (0: absent). */
static void reader_once(unsigned keys, const uint64_t *want)
{
    char n[16];
    const char *argv[] = {READER, "-k", keystr, "-n", n, NULL};
    char *out = NULL, *err = NULL;
    struct listing l;
    int rc;

    snprintf(n, sizeof(n), "%u", keys);
    rc = harness_run(argv, 10000, &out, &err);
    ck_assert_msg(rc == 0, "shreader exit %d: %s", rc, err);
    parse_reader(out, keys, &l);
    for (unsigned k = 0; k < keys; k++)
        ck_assert_msg(l.version[k] == want[k],
                      "shreader: key %u at version %llu, not %llu", k,
                      (unsigned long long)l.version[k],
                      (unsigned long long)want[k]);
    free(out);
    free(err);
}

/* shwriter with args to its end: exit 0, versions first to last. */
static void writer_run(const char *n, const char *rounds, uint64_t first,
                       uint64_t last)
{
    const char *argv[] = {WRITER, "-k", keystr, "-n", n, "-r", rounds, NULL};
    char *out = NULL, *err = NULL, want[96];
    int rc = harness_run(argv, 10000, &out, &err);

    ck_assert_msg(rc == 0, "shwriter exit %d: %s", rc, err);
    snprintf(want, sizeof(want), "versions %llu to %llu\n",
             (unsigned long long)first, (unsigned long long)last);
    ck_assert_msg(strstr(out, want), "shwriter printed '%s', not '%s'", out,
                  want);
    free(out);
    free(err);
}

/* shwriter -r 0 (until SIGTERM), after its first round. */
static struct hproc *writer_start(const char *n)
{
    const char *argv[] = {WRITER, "-k", keystr, "-n", n, "-r", "0", NULL};
    struct hproc *p = harness_start(argv);

    ck_assert_ptr_nonnull(p);
    fixture_assert(p, harness_wait_output(p, "started at version", 5000) == 0,
                   "shwriter never finished its first round");
    return p;
}

/* SIGTERM the writer: exit 0; the last version it reports. */
static uint64_t writer_stop(struct hproc *p)
{
    unsigned long long first, last;
    char *out;
    const char *line;
    bool ok;

    fixture_assert(p, harness_stop(p, SIGTERM, 5000) == 0,
                   "shwriter did not exit 0 on SIGTERM");
    out = harness_stdout(p);
    line = strstr(out, "versions ");
    ok = line && sscanf(line, "versions %llu to %llu", &first, &last) == 2;
    ck_assert_msg(ok, "shwriter printed: %s", out);
    free(out);
    return last;
}

static void all_at(uint64_t *want, unsigned from, unsigned to, uint64_t v)
{
    for (unsigned k = from; k < to; k++)
        want[k] = v;
}

/* Started in either order: a reader waiting (-w) before there is a
 * table, then a writer that writes 3 versions and exits; the reader
 * sees version 3 of every key, and so does a reader started after. */
START_TEST(test_shared_reader_sees_writer)
{
    const char *argv[] = {READER, "-k", keystr, "-w", "-i", "10000", NULL};
    struct hproc *rd = harness_start(argv);
    uint64_t want[KEYS];
    char needle[64], *out;
    struct listing l;

    ck_assert_ptr_nonnull(rd);
    usleep(100000);
    writer_run("64", "3", 1, 3);
    snprintf(needle, sizeof(needle), "\n63 3 %016llx\n",
             (unsigned long long)digest_of(63, 3));
    fixture_assert(rd, harness_wait_output(rd, needle, 5000) == 0,
                   "the waiting reader never showed version 3");
    fixture_assert(rd, harness_stop(rd, SIGTERM, 5000) == 0,
                   "shreader -w did not exit 0 on SIGTERM");
    out = harness_stdout(rd);
    parse_reader(out, KEYS, &l);
    free(out);
    for (unsigned k = 0; k < KEYS; k++)
        ck_assert_uint_eq(l.version[k], 3);
    all_at(want, 0, KEYS, 3);
    reader_once(KEYS, want);
}
END_TEST

/* Writer and reader at full speed on 8 keys: every record the reader
 * prints is one the writer wrote, whole; once the writer stops, the
 * reader finds the last version it reported for every key. */
START_TEST(test_shared_concurrent_never_torn)
{
    const char *argv[] = {READER, "-k", keystr, "-n",   "8", "-w",
                          "-i",   "0",  "-c",   "5000", NULL};
    struct hproc *wr;
    char *out = NULL, *err = NULL;
    uint64_t want[8];
    struct listing l;
    int rc;

    if (fixture_skip_under_valgrind("test_shared_concurrent_never_torn (a "
                                    "race between processes)"))
        return;
    wr = writer_start("8");
    rc = harness_run(argv, 30000, &out, &err);
    ck_assert_msg(rc == 0, "shreader exit %d: %s", rc, err);
    parse_reader(out, 8, &l);
    ck_assert_uint_eq(l.rounds, 5000);
    ck_assert_msg(l.absent == 0, "a key the writer holds was 'absent'");
    /* The race was real: versions changed under the reader. */
    ck_assert_msg(l.changes >= 10, "only %u version changes seen", l.changes);
    all_at(want, 0, 8, writer_stop(wr));
    reader_once(8, want);
    free(out);
    free(err);
}
END_TEST

/* Restarts never wipe: a writer restarted for fewer keys goes on from
 * the version it finds, and the keys it no longer writes keep theirs. */
START_TEST(test_shared_restart_keeps_records)
{
    uint64_t want[KEYS];

    writer_run("64", "2", 1, 2);
    all_at(want, 0, KEYS, 2);
    reader_once(KEYS, want);
    writer_run("16", "1", 3, 3);
    all_at(want, 0, 16, 3);
    reader_once(KEYS, want);
    reader_once(KEYS, want); /* a reader's restart changes nothing */
}
END_TEST

/* While a writer lives a second one is refused, with one line, exit 1,
 * and writes nothing; after it, a new writer goes on. */
START_TEST(test_shared_second_writer_refused)
{
    const char *argv[] = {WRITER, "-k", keystr, "-n", "64", "-r", "1", NULL};
    struct hproc *wr = writer_start("16");
    char *err = NULL;
    uint64_t want[KEYS], last;
    int rc = harness_run(argv, 10000, NULL, &err);

    ck_assert_msg(rc == 1 && strstr(err, "in use by a live writer"),
                  "a second writer: exit %d, stderr '%s'", rc, err);
    free(err);
    last = writer_stop(wr);
    all_at(want, 0, 16, last);
    all_at(want, 16, KEYS, 0); /* only the second writer wrote these */
    reader_once(KEYS, want);
    writer_run("16", "1", last + 1, last + 1);
}
END_TEST

/* The table's mapping in a reader process is read-only (r--s in
 * /proc/PID/maps): a reader cannot write it, even by mistake. */
START_TEST(test_shared_reader_read_only)
{
    const char *argv[] = {READER, "-k", keystr, "-w", NULL};
    char path[64], line[512], name[32];
    struct hproc *rd;
    bool seen = false;
    FILE *f;

    writer_run("64", "1", 1, 1);
    rd = harness_start(argv);
    ck_assert_ptr_nonnull(rd);
    fixture_assert(rd, harness_wait_output(rd, "--", 5000) == 0,
                   "shreader -w printed no round");
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)rd->pid);
    snprintf(name, sizeof(name), "SYSV%08x", (unsigned)key);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof(line), f)) {
        char perms[8];
        if (!strstr(line, name) || sscanf(line, "%*s %7s", perms) != 1)
            continue;
        seen = true;
        ck_assert_msg(perms[1] != 'w', "the reader maps the table %s: %s",
                      perms, line);
    }
    fclose(f);
    ck_assert_msg(seen, "the reader has no mapping of %s", name);
    fixture_assert(rd, harness_stop(rd, SIGTERM, 5000) == 0,
                   "shreader -w did not exit 0 on SIGTERM");
}
END_TEST

Suite *shared_cache_suite(void)
{
    Suite *s = suite_create("ch5-shared-cache");
    TCase *tc;

    tc = tcase_create("sharing");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_shared_reader_sees_writer);
    tcase_add_test(tc, test_shared_concurrent_never_torn);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_shared_restart_keeps_records);
    tcase_add_test(tc, test_shared_second_writer_refused);
    tcase_add_test(tc, test_shared_reader_read_only);
    suite_add_tcase(s, tc);
    return s;
}

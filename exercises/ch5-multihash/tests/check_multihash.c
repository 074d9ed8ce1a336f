/* check_multihash.c -- tests of exercise ch5-multihash: the rows in
 * mhash.c find every key inserted with its value, report misses, refuse
 * when a key's candidates are all taken, fill 20 rows as far as the
 * chapter says, and, in System V shared memory, serve a reader process
 * that never sees a torn record. */
#include "fixture.h"
#include "mhash.h"
#include "now.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A table of g in heap memory; the memory returned. */
static void *table_new(struct mhash *h, const struct mhash_geom *g)
{
    size_t size = mhash_size(g);
    void *mem = NULL;

    ck_assert_uint_gt(size, 0);
    ck_assert_int_eq(posix_memalign(&mem, 64, size), 0);
    ck_assert_int_eq(mhash_init(h, mem, size, g), 0);
    return mem;
}

/* 20,000 random keys (and 0) inserted: each found with its value, a
 * second insert of each refused with EEXIST, absent keys ENOENT. */
START_TEST(test_multihash_found_with_value)
{
    enum { N = 20000 };
    struct mhash_geom g = {20, 3 * N, 8, true};
    uint64_t *keys = malloc(N * sizeof(*keys)), s = 1, v;
    struct mhash h;
    void *mem = table_new(&h, &g);

    ck_assert_ptr_nonnull(keys);
    for (uint64_t i = 0; i < N; i++) {
        keys[i] = i == 0 ? 0 : splitmix(&s);
        v = keys[i] ^ 0x5555;
        ck_assert_msg(mhash_insert(&h, keys[i], &v) == 0,
                      "insert of key %zu into a third-full table: %s",
                      (size_t)i, strerror(errno));
    }
    ck_assert_uint_eq(mhash_count(&h), N);
    for (uint64_t i = 0; i < N; i++) {
        ck_assert_msg(mhash_find(&h, keys[i], &v) == 0,
                      "key %#llx inserted, then not found: %s",
                      (unsigned long long)keys[i], strerror(errno));
        ck_assert_msg(v == (keys[i] ^ 0x5555), "key %#llx: wrong value",
                      (unsigned long long)keys[i]);
        ck_assert_int_eq(mhash_insert(&h, keys[i], &v), -1);
        ck_assert_int_eq(errno, EEXIST);
    }
    free(keys);
    free(mem);
}
END_TEST

/* Keys never inserted are misses, ENOENT, on a table filled until its
 * first refusal, and on an empty one. */
START_TEST(test_multihash_misses)
{
    struct mhash_geom g = {20, 5000, 8, true};
    uint64_t s = 7, v = 1, n = 0;
    struct mhash h;
    void *mem = table_new(&h, &g);

    ck_assert_int_eq(mhash_find(&h, 42, &v), -1);
    ck_assert_int_eq(errno, ENOENT);
    while (mhash_insert(&h, splitmix(&s) | 1, &v) == 0)
        n++;
    ck_assert_msg(errno == ENOSPC, "insert %llu failed with %s, not ENOSPC",
                  (unsigned long long)n, strerror(errno));
    for (uint64_t k = 0; k < 20000; k += 2) { /* even: never inserted */
        errno = 0;
        ck_assert_msg(mhash_find(&h, k, &v) == -1 && errno == ENOENT,
                      "key %llu was never inserted: not ENOENT",
                      (unsigned long long)k);
    }
    free(mem);
}
END_TEST

/* Keys equal modulo every row's prime share all their candidates: R of
 * them fill one slot per row, the next is refused with ENOSPC (and the
 * get_or_insert built on the rows agrees); a read-only handle refuses
 * with EROFS. */
START_TEST(test_multihash_full_refuses)
{
    struct mhash_geom g = {3, 60, 8, false};
    struct mhash_stats st;
    struct mhash h, ro;
    uint64_t prod = 1, v;
    bool inserted;
    void *mem = table_new(&h, &g);

    mhash_stats(&h, &st);
    for (uint32_t r = 0; r < 3; r++)
        prod *= st.primes[r];
    for (v = 0; v < 3; v++)
        ck_assert_msg(mhash_insert(&h, 11 + v * prod, &v) == 0,
                      "insert %llu of 3 that share every slot: %s",
                      (unsigned long long)v + 1, strerror(errno));
    mhash_stats(&h, &st);
    for (uint32_t r = 0; r < 3; r++)
        ck_assert_msg(st.row_used[r] == 1, "row %u holds %llu of them", r,
                      (unsigned long long)st.row_used[r]);
    errno = 0;
    ck_assert_msg(mhash_insert(&h, 11 + 3 * prod, &v) == -1 && errno == ENOSPC,
                  "a 4th key whose 3 candidates are taken: not ENOSPC");
    ck_assert_int_eq(mhash_get_or_insert(&h, 11 + 3 * prod, &v, &inserted), -1);
    ck_assert_int_eq(errno, ENOSPC);
    for (v = 0; v < 3; v++) {
        uint64_t out;
        ck_assert_int_eq(mhash_find(&h, 11 + v * prod, &out), 0);
        ck_assert_uint_eq(out, v);
    }
    /* Row 0's slot emptied: the key in row 2 is found, not re-inserted. */
    ck_assert_int_eq(mhash_delete(&h, 11, NULL), 0);
    ck_assert_int_eq(mhash_find(&h, 11 + 2 * prod, &v), 0);
    ck_assert_int_eq(mhash_insert(&h, 11 + 2 * prod, &v), -1);
    ck_assert_int_eq(errno, EEXIST);
    ck_assert_int_eq(mhash_attach(&ro, mem, mhash_size(&g), true), 0);
    ck_assert_int_eq(mhash_insert(&ro, 99, &v), -1);
    ck_assert_int_eq(errno, EROFS);
    free(mem);
}
END_TEST

/* Load = used / slots at the first refused insert of random keys. */
static double load_at_first_failure(const struct mhash_geom *g)
{
    uint64_t s = 1, v = 0;
    struct mhash_stats st;
    struct mhash h;
    void *mem = table_new(&h, g);

    while (mhash_insert(&h, splitmix(&s), &v) == 0)
        v++;
    ck_assert_int_eq(errno, ENOSPC);
    mhash_stats(&h, &st);
    ck_assert_uint_eq(st.used, v);
    free(mem);
    return st.load;
}

/* The chapter's targets (ch5-cache/README.md, "Measure it"), on 200,000
 * slots: 20 equal rows fill to 0.83 before the first refusal, 20
 * decreasing ones to 0.89. */
START_TEST(test_multihash_load_20_rows)
{
    struct mhash_geom eq = {20, 200000, 8, false};
    struct mhash_geom dec = {20, 200000, 8, true};
    double le = load_at_first_failure(&eq), ld = load_at_first_failure(&dec);

    ck_assert_msg(le >= 0.83,
                  "20 equal rows: load %.4f at the first failure, "
                  "below 0.83",
                  le);
    ck_assert_msg(ld >= 0.89,
                  "20 decreasing rows: load %.4f at the first "
                  "failure, below 0.89",
                  ld);
}
END_TEST

/* --- in shared memory ---------------------------------------------------- */

static key_t key;

static void setup(void) { key = harness_key(); }

static void teardown(void)
{
    mhash_remove_key(key);
    harness_cleanup();
}

/* Records of WORDS words all derived from (key, generation): a copy that
 * mixes two writes does not match. */
#define KEYS  32
#define WORDS 32

static void rec_make(uint64_t *w, uint64_t k, uint64_t gen)
{
    for (int i = 0; i < WORDS; i++)
        w[i] = (k << 40) ^ (gen * 0x100000001b3ull + (uint64_t)i);
}

struct reader_result {
    uint64_t found, torn, missing, gens;
};

/* A separate process, attached read-only, reads for 0.3 s while the
 * writer rewrites every record; what it saw goes to fd. */
static void reader(int fd)
{
    struct reader_result res = {0, 0, 0, 0};
    uint64_t w[WORDS], want[WORDS], last = 0;
    double end = now_mono_ns() / 1e9 + 0.3;
    struct mhash h;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (mhash_open(&h, key, true) < 0)
        _exit(1);
    while (now_mono_ns() / 1e9 < end) {
        for (uint64_t k = 0; k < KEYS; k++) {
            if (mhash_find(&h, k, w) < 0) {
                res.missing += errno != EAGAIN;
                continue;
            }
            res.found++;
            rec_make(want, k, (w[0] ^ (k << 40)) / 0x100000001b3ull);
            if (memcmp(w, want, sizeof(w)) != 0)
                res.torn++;
            if (k == 0 && w[0] != last) {
                res.gens++;
                last = w[0];
            }
        }
    }
    mhash_close(&h);
    _exit(write(fd, &res, sizeof(res)) == sizeof(res) ? 0 : 1);
}

/* A reader process attached read-only finds every record of the writer
 * (never a torn copy, never "absent" for a key that is there) while the
 * writer rewrites them as fast as it can. */
START_TEST(test_multihash_reader_never_torn)
{
    struct mhash_geom g = {4, 128, WORDS * 8, false};
    struct reader_result res;
    uint64_t w[WORDS], gen = 0;
    struct mhash h;
    int fds[2], status;
    pid_t pid;

    if (fixture_skip_under_valgrind("test_multihash_reader_never_torn (a "
                                    "race: valgrind runs one process slowly)"))
        return;
    ck_assert_int_eq(mhash_create(&h, key, &g), 0);
    for (uint64_t k = 0; k < KEYS; k++) {
        rec_make(w, k, 0);
        ck_assert_int_eq(mhash_insert(&h, k, w), 0);
    }
    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        reader(fds[1]);
    close(fds[1]);
    while (waitpid(pid, &status, WNOHANG) == 0) {
        gen++;
        for (uint64_t k = 0; k < KEYS; k++) {
            rec_make(w, k, gen);
            ck_assert_int_eq(mhash_update(&h, k, w), 0);
        }
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the reader process failed (status %#x)", status);
    ck_assert_int_eq(read(fds[0], &res, sizeof(res)), sizeof(res));
    close(fds[0]);
    ck_assert_msg(res.torn == 0,
                  "the reader got %llu torn records out of %llu: a slot "
                  "read while the writer changed it was trusted",
                  (unsigned long long)res.torn, (unsigned long long)res.found);
    ck_assert_msg(res.missing == 0, "%llu finds said ENOENT for a key present",
                  (unsigned long long)res.missing);
    /* The race was real: the records changed under the reader. */
    ck_assert_uint_gt(res.found, 1000);
    ck_assert_uint_gt(res.gens, 10);
    ck_assert_int_eq(mhash_remove(&h), 0);
}
END_TEST

Suite *multihash_suite(void)
{
    Suite *s = suite_create("ch5-multihash");
    TCase *tc;

    tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_multihash_found_with_value);
    tcase_add_test(tc, test_multihash_misses);
    tcase_add_test(tc, test_multihash_full_refuses);
    suite_add_tcase(s, tc);

    tc = tcase_create("load");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_multihash_load_20_rows);
    suite_add_tcase(s, tc);

    tc = tcase_create("shared");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_multihash_reader_never_torn);
    suite_add_tcase(s, tc);
    return s;
}

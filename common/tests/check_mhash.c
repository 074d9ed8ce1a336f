/* check_mhash.c -- the multi-hash: a reference model, key 0, full rows,
 * header validation, and sharing between processes (attach without wipe,
 * a reader racing the writer). */
#include "mhash.h"
#include "now.h"

#include "fixture.h"
#include "harness.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void *alloc64(size_t size)
{
    void *p;

    return posix_memalign(&p, 64, size) == 0 ? p : NULL;
}

/* A table in heap memory. */
static void *new_table(struct mhash *h, const struct mhash_geom *g)
{
    size_t size = mhash_size(g);
    void *mem = alloc64(size);

    ck_assert_uint_gt(size, 0);
    ck_assert_ptr_nonnull(mem);
    ck_assert_int_eq(mhash_init(h, mem, size, g), 0);
    return mem;
}

/* --- reference model ---------------------------------------------------- */

/* The specification, written plainly: each slot holds a key index or
 * -1; key k may only be in slot k % primes[r] of row r; an insert takes
 * the first empty one. */
#define MODEL_KEYS 9000
#define REC_SIZE   20 /* not a multiple of 8: partial record words */

struct model {
    uint32_t rows, primes[MHASH_MAX_ROWS];
    uint64_t start[MHASH_MAX_ROWS], nslots, used, nospc;
    int32_t *slot;            /* key index or -1 */
    uint32_t val[MODEL_KEYS]; /* the record's first word */
    uint64_t keys[MODEL_KEYS];
};

static int64_t model_find(const struct model *m, uint32_t ki, int64_t *empty)
{
    *empty = -1;
    for (uint32_t r = 0; r < m->rows; r++) {
        int64_t s = (int64_t)(m->start[r] + m->keys[ki] % m->primes[r]);
        if (m->slot[s] == (int32_t)ki)
            return s;
        if (*empty < 0 && m->slot[s] < 0)
            *empty = s;
    }
    return -1;
}

/* A check for hot loops: ck_assert() records every passing assertion
 * (a write() each), far too slow for a million operations. */
#define REQUIRE(c)                                                             \
    do {                                                                       \
        if (!(c))                                                              \
            ck_abort_msg("line %d: %s (errno %d)", __LINE__, #c, errno);       \
    } while (0)

static void make_rec(unsigned char *rec, uint32_t v, uint64_t key)
{
    memset(rec, 0, REC_SIZE);
    memcpy(rec, &v, 4);
    memcpy(rec + 4, &key, 8);
    rec[REC_SIZE - 1] = (unsigned char)(v ^ 0x5a);
}

static void check_rec(const unsigned char *rec, uint32_t v, uint64_t key)
{
    unsigned char want[REC_SIZE];

    make_rec(want, v, key);
    REQUIRE(memcmp(rec, want, REC_SIZE) == 0);
}

static int count_cb(uint64_t key, const void *rec, void *arg)
{
    uint64_t k;

    memcpy(&k, (const unsigned char *)rec + 4, 8);
    REQUIRE(k == key);
    (*(uint64_t *)arg)++;
    return 0;
}

static void model_compare(const struct mhash *h, const struct model *m)
{
    struct mhash_stats st;
    uint64_t visited = 0;

    mhash_stats(h, &st);
    ck_assert_uint_eq(st.used, m->used);
    ck_assert_uint_eq(mhash_count(h), m->used);
    for (uint32_t r = 0; r < m->rows; r++) {
        uint64_t n = 0;
        for (uint64_t i = 0; i < m->primes[r]; i++)
            n += m->slot[m->start[r] + i] >= 0;
        ck_assert_uint_eq(st.row_used[r], n);
    }
    ck_assert_int_eq(mhash_foreach(h, count_cb, &visited), 0);
    ck_assert_uint_eq(visited, m->used);
}

static void model_step(struct mhash *h, struct model *m, uint64_t *rng)
{
    uint32_t ki = (uint32_t)(splitmix(rng) % MODEL_KEYS);
    uint32_t v = (uint32_t)splitmix(rng);
    unsigned op = (unsigned)(splitmix(rng) % 100);
    unsigned char rec[REC_SIZE];
    int64_t empty, at = model_find(m, ki, &empty);
    uint64_t key = m->keys[ki];
    bool inserted;
    int rc;

    make_rec(rec, v, key);
    if (op < 35) {
        rc = mhash_insert(h, key, rec);
        if (at >= 0 || empty < 0) {
            REQUIRE(rc == -1);
            REQUIRE(errno == (at >= 0 ? EEXIST : ENOSPC));
            m->nospc += at < 0;
            return;
        }
    } else if (op < 50) {
        rc = mhash_get_or_insert(h, key, rec, &inserted);
        if (at >= 0) {
            REQUIRE(rc == 0);
            REQUIRE(!inserted);
            check_rec(rec, m->val[ki], key);
            return;
        }
        if (empty < 0) {
            REQUIRE(rc == -1);
            REQUIRE(errno == ENOSPC);
            m->nospc++;
            return;
        }
        REQUIRE(inserted);
    } else if (op < 65) {
        rc = mhash_update(h, key, rec);
        REQUIRE(rc == (at >= 0 ? 0 : -1));
        if (at >= 0)
            m->val[ki] = v;
        return;
    } else if (op < 85) {
        unsigned char old[REC_SIZE];
        rc = mhash_delete(h, key, old);
        REQUIRE(rc == (at >= 0 ? 0 : -1));
        if (at >= 0) {
            check_rec(old, m->val[ki], key);
            m->slot[at] = -1;
            m->used--;
        } else {
            REQUIRE(errno == ENOENT);
        }
        return;
    } else {
        rc = mhash_find(h, key, rec);
        REQUIRE(rc == (at >= 0 ? 0 : -1));
        if (at >= 0)
            check_rec(rec, m->val[ki], key);
        else
            REQUIRE(errno == ENOENT);
        return;
    }
    REQUIRE(rc == 0);
    m->slot[empty] = (int32_t)ki;
    m->val[ki] = v;
    m->used++;
}

/* A million random operations agree with the model: results, errors,
 * records, the row each key went to, and the statistics. */
START_TEST(test_mhash_reference_model)
{
    struct mhash_geom g = {8, 10000, REC_SIZE, _i == 1};
    static struct model m;
    struct mhash_stats st;
    struct mhash h;
    void *mem = new_table(&h, &g);
    uint64_t rng = 42 + (uint64_t)_i;

    mhash_stats(&h, &st);
    memset(&m, 0, sizeof(m));
    m.rows = st.rows;
    for (uint32_t r = 0; r < m.rows; r++) {
        m.primes[r] = st.primes[r];
        m.start[r] = m.nslots;
        m.nslots += st.primes[r];
    }
    ck_assert_uint_eq(m.nslots, st.slots);
    m.slot = malloc(m.nslots * sizeof(*m.slot));
    ck_assert_ptr_nonnull(m.slot);
    memset(m.slot, 0xff, m.nslots * sizeof(*m.slot));
    m.keys[0] = 0; /* key 0 and the largest key are ordinary keys */
    m.keys[1] = UINT64_MAX;
    m.keys[2] = UINT64_MAX - 1;
    m.keys[3] = (uint64_t)1 << 63;
    m.keys[4] = ((uint64_t)1 << 63) - 1;
    for (uint32_t i = 5; i < MODEL_KEYS; i++)
        m.keys[i] = splitmix(&rng); /* distinct in practice */
    for (int i = 0; i < 1000000; i++) {
        model_step(&h, &m, &rng);
        if (i % 100000 == 99999)
            model_compare(&h, &m);
    }
    /* The mix keeps the table full enough for ENOSPC to happen. */
    ck_assert_uint_gt(m.used, m.nslots / 2);
    ck_assert_uint_gt(m.nospc, 100);
    free(m.slot);
    free(mem);
}
END_TEST

/* --- edge cases ----------------------------------------------------------- */

START_TEST(test_mhash_key_zero)
{
    struct mhash_geom g = {4, 1000, 8, false};
    struct mhash h;
    void *mem = new_table(&h, &g);
    uint64_t v = 7, out = 0;

    /* A fresh table is all zero bytes, and still holds no key 0. */
    ck_assert_int_eq(mhash_find(&h, 0, &out), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(mhash_delete(&h, 0, NULL), -1);
    ck_assert_int_eq(mhash_insert(&h, 0, &v), 0);
    ck_assert_int_eq(mhash_find(&h, 0, &out), 0);
    ck_assert_uint_eq(out, 7);
    ck_assert_int_eq(mhash_insert(&h, 0, &v), -1);
    ck_assert_int_eq(errno, EEXIST);
    ck_assert_uint_eq(mhash_count(&h), 1);
    ck_assert_int_eq(mhash_delete(&h, 0, &out), 0);
    ck_assert_int_eq(mhash_find(&h, 0, &out), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_uint_eq(mhash_count(&h), 0);
    free(mem);
}
END_TEST

/* R keys that share every row's slot fill the table for the next one; a
 * hole in any row takes it again; keys behind a hole stay reachable. */
START_TEST(test_mhash_full_rows)
{
    struct mhash_geom g = {3, 60, 8, false};
    struct mhash_stats st;
    struct mhash h;
    void *mem = new_table(&h, &g);
    uint64_t prod = 1, v, out;
    bool inserted;

    mhash_stats(&h, &st);
    for (uint32_t r = 0; r < 3; r++)
        prod *= st.primes[r];
    for (v = 0; v < 3; v++)
        ck_assert_int_eq(mhash_insert(&h, 5 + v * prod, &v), 0);
    mhash_stats(&h, &st);
    for (uint32_t r = 0; r < 3; r++)
        ck_assert_uint_eq(st.row_used[r], 1);
    ck_assert_int_eq(mhash_insert(&h, 5 + 3 * prod, &v), -1);
    ck_assert_int_eq(errno, ENOSPC);
    ck_assert_int_eq(mhash_get_or_insert(&h, 5 + 3 * prod, &v, &inserted), -1);
    ck_assert_int_eq(errno, ENOSPC);
    /* Free row 0's slot: the key in row 2 is still found. */
    ck_assert_int_eq(mhash_delete(&h, 5, NULL), 0);
    ck_assert_int_eq(mhash_find(&h, 5 + 2 * prod, &out), 0);
    ck_assert_uint_eq(out, 2);
    /* ...and an insert of a key already in row 2 is still refused. */
    ck_assert_int_eq(mhash_insert(&h, 5 + 2 * prod, &v), -1);
    ck_assert_int_eq(errno, EEXIST);
    v = 99;
    ck_assert_int_eq(mhash_get_or_insert(&h, 5 + 3 * prod, &v, &inserted), 0);
    ck_assert(inserted);
    v = 0;
    ck_assert_int_eq(mhash_get_or_insert(&h, 5 + 3 * prod, &v, &inserted), 0);
    ck_assert(!inserted);
    ck_assert_uint_eq(v, 99);
    mhash_stats(&h, &st);
    ck_assert_uint_eq(st.row_used[0], 1);
    ck_assert_uint_eq(st.used, 3);
    ck_assert_int_eq(mhash_update(&h, 5, &v), -1);
    ck_assert_int_eq(errno, ENOENT);
    free(mem);
}
END_TEST

static bool slow_prime(uint64_t n)
{
    if (n < 2)
        return false;
    for (uint64_t d = 2; d * d <= n; d++)
        if (n % d == 0)
            return false;
    return true;
}

START_TEST(test_mhash_primes)
{
    static const uint32_t rows[] = {1, 8, 20, 50};
    uint32_t p[MHASH_MAX_ROWS];

    for (uint64_t n = 0; n < 20000; n++)
        ck_assert_int_eq(mhash_is_prime(n), slow_prime(n));
    ck_assert(mhash_is_prime(4294967291u)); /* largest 32-bit prime */
    ck_assert(!mhash_is_prime(4294967295u));
    ck_assert(!mhash_is_prime(3215031751u)); /* strong pseudoprime 2,3,5,7 */
    for (int d = 0; d < 2; d++) {
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
            struct mhash_geom g = {rows[i], 1000000, 8, d};
            uint64_t sum = 0;
            ck_assert_int_eq(mhash_primes(&g, p), 0);
            for (uint32_t r = 0; r < rows[i]; r++) {
                ck_assert(slow_prime(p[r]));
                ck_assert(r == 0 || p[r] < p[r - 1]);
                sum += p[r];
            }
            ck_assert_uint_le(sum, 1005000);
            ck_assert_uint_ge(sum, 995000);
            if (d && rows[i] > 1) /* the last row a tenth of the first */
                ck_assert_uint_le(p[rows[i] - 1], p[0] / 9);
            if (!d)
                ck_assert_uint_ge(p[rows[i] - 1], p[0] * 97 / 100);
        }
    }
}
END_TEST

START_TEST(test_mhash_bad_geometry)
{
    static const struct mhash_geom bad[] = {
        {0, 1000, 8, false}, {MHASH_MAX_ROWS + 1, 1000000, 8, false},
        {4, 1000, 0, false}, {4, 1000, MHASH_MAX_REC + 1, false},
        {20, 40, 8, false},  {4, 7, 8, false},
    };
    uint32_t p[MHASH_MAX_ROWS];
    struct mhash h;
    char mem[64];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(mhash_primes(&bad[i], p), -1);
        ck_assert_int_eq(errno, EINVAL);
        ck_assert_uint_eq(mhash_size(&bad[i]), 0);
    }
    ck_assert_int_eq(mhash_init(&h, mem, sizeof(mem), &bad[0]), -1);
}
END_TEST

/* Every header field an attacher relies on is checked. */
START_TEST(test_mhash_attach_validates)
{
    struct mhash_geom g = {4, 1000, 24, true};
    size_t size = mhash_size(&g);
    struct mhash h, a;
    unsigned char *mem = new_table(&h, &g), *bad = alloc64(size);
    uint32_t *w = (uint32_t *)bad; /* the header as 32-bit words */
    /* word index, new value: magic, version, rows (0, 65), rec_size,
     * slot_size, flags, nslots, slots_off, primes[1] (not prime, not
     * decreasing, too large for the segment) */
    static const uint32_t edits[][2] = {
        {0, 0x12345678}, {1, 2},    {2, 0},     {2, 65},
        {3, 25},         {4, 48},   {5, 2},     {6, 999},
        {8, 0},          {17, 300}, {17, 4001}, {16, 4294967291u},
    };

    ck_assert_int_eq(mhash_attach(&a, mem, size, true), 0);
    ck_assert_int_eq(mhash_attach(&a, mem, size - 1, true), -1);
    ck_assert_int_eq(errno, EPROTO);
    ck_assert_int_eq(mhash_attach(&a, mem, 100, true), -1);
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        memcpy(bad, mem, size);
        w[edits[i][0]] = edits[i][1];
        ck_assert_msg(mhash_attach(&a, bad, size, true) == -1 &&
                          errno == EPROTO,
                      "edit %zu accepted", i);
    }
    free(bad);
    free(mem);
}
END_TEST

/* --- shared between processes ------------------------------------------- */

static key_t key;

/* A key of this runner: swept by harness_cleanup(), and by the next test
 * when a failed one never reached its teardown. */
static void shm_setup(void) { key = harness_key(); }

static uint64_t rec_of(uint64_t k) { return k * 3 + 1; }

/* Child: open (and open_or_create) the parent's table; all its records
 * are there, nothing was wiped; add ten of our own. */
static int child_attach(const struct mhash_geom *g)
{
    struct mhash h, h2;
    uint64_t out;
    bool created;

    if (mhash_open(&h, key, false) < 0)
        return 1;
    if (mhash_count(&h) != 1000)
        return 2;
    for (uint64_t k = 0; k < 1000; k++)
        if (mhash_find(&h, k * 7919, &out) < 0 || out != rec_of(k * 7919))
            return 3;
    if (mhash_open_or_create(&h2, key, g, &created) < 0 || created)
        return 4;
    if (mhash_count(&h2) != 1000 || mhash_find(&h2, 0, &out) < 0)
        return 5;
    for (uint64_t k = 1000; k < 1010; k++) {
        out = rec_of(k * 7919);
        if (mhash_insert(&h2, k * 7919, &out) < 0)
            return 6;
    }
    mhash_close(&h2);
    mhash_close(&h);
    return 0;
}

START_TEST(test_mhash_second_process_attach)
{
    struct mhash_geom g = {8, 5000, 8, true};
    struct mhash h, ro;
    uint64_t out;
    bool created;
    int status;
    pid_t pid;

    ck_assert_int_eq(mhash_create(&h, key, &g), 0);
    for (uint64_t k = 0; k < 1000; k++) {
        out = rec_of(k * 7919);
        ck_assert_int_eq(mhash_insert(&h, k * 7919, &out), 0);
    }
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(child_attach(&g));
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "child failed at step %d", WEXITSTATUS(status));
    ck_assert_uint_eq(mhash_count(&h), 1010);
    ck_assert_int_eq(mhash_find(&h, 1005 * 7919, &out), 0);
    ck_assert_uint_eq(out, rec_of(1005 * 7919));
    /* A read-only attachment reads, and refuses to write. */
    ck_assert_int_eq(mhash_open(&ro, key, true), 0);
    ck_assert_int_eq(mhash_find(&ro, 7919, &out), 0);
    ck_assert_int_eq(mhash_insert(&ro, 1, &out), -1);
    ck_assert_int_eq(errno, EROFS);
    mhash_close(&ro);
    /* Another record size is another table: refused, not reinterpreted. */
    g.rec_size = 16;
    ck_assert_int_eq(mhash_open_or_create(&ro, key, &g, &created), -1);
    ck_assert_int_eq(errno, EPROTO);
    ck_assert_int_eq(mhash_remove(&h), 0);
}
END_TEST

/* A writer killed between writing a slot and updating the count leaves
 * the count one off (here: set by hand); the next writer to attach the
 * segment counts again, a reader takes it as it is. */
START_TEST(test_mhash_writer_attach_recounts)
{
    struct mhash_geom g = {4, 200, 8, true};
    struct mhash h, ro;
    uint64_t rec = 1;
    unsigned char *seg;

    ck_assert_int_eq(mhash_create(&h, key, &g), 0);
    for (uint64_t k = 1; k <= 3; k++)
        ck_assert_int_eq(mhash_insert(&h, k, &rec), 0);
    mhash_close(&h);
    /* the segment: its 64-byte header, then the table's, whose used
     * count is the 64-bit word at byte 40 */
    seg = fixture_attach_raw(key);
    *(uint64_t *)(seg + 64 + 40) = 4;
    shmdt(seg);
    ck_assert_int_eq(mhash_open(&ro, key, true), 0);
    ck_assert_uint_eq(mhash_count(&ro), 4);
    mhash_close(&ro);
    ck_assert_int_eq(mhash_open(&h, key, false), 0);
    ck_assert_uint_eq(mhash_count(&h), 3);
    ck_assert_int_eq(mhash_delete(&h, 2, NULL), 0);
    ck_assert_uint_eq(mhash_count(&h), 2);
    mhash_remove(&h);
}
END_TEST

/* Reader racing the writer: records are 32 words all derived from (key,
 * generation); a torn copy would mix two generations. */
#define RACE_KEYS  16
#define RACE_WORDS 32

static void race_rec(uint64_t *w, uint64_t k, uint64_t gen)
{
    w[0] = k;
    for (int i = 1; i < RACE_WORDS; i++)
        w[i] = gen * 0x100000001b3ull + (uint64_t)i;
}

struct race_result {
    uint64_t found, retries, torn, gens;
};

static void race_reader(int fd)
{
    struct race_result res = {0, 0, 0, 0};
    uint64_t w[RACE_WORDS], want[RACE_WORDS], last = 0;
    struct mhash h;
    /* At least 0.3 s, then until the race has clearly happened (more
     * generations seen than the test asks for), at most 5 s: on a busy
     * machine the writer may get little of the first 0.3 s. */
    double start = now_mono_ns() / 1e9, now = start;
    double cap = start + harness_ms(5000) / 1e3;

    if (mhash_open(&h, key, true) < 0)
        _exit(1);
    for (; now < cap &&
           (now < start + 0.3 || res.gens <= 20 || res.found <= 2000);
         now = now_mono_ns() / 1e9) {
        for (uint64_t k = 0; k < RACE_KEYS; k++) {
            if (mhash_find(&h, k, w) < 0) {
                res.retries += errno == EAGAIN;
                continue;
            }
            res.found++;
            race_rec(want, k, (w[1] - 1) / 0x100000001b3ull);
            if (memcmp(w, want, sizeof(w)) != 0)
                res.torn++;
            if (k == 0 && w[1] != last) {
                res.gens++;
                last = w[1];
            }
        }
    }
    mhash_close(&h);
    _exit(write(fd, &res, sizeof(res)) == sizeof(res) ? 0 : 1);
}

START_TEST(test_mhash_reader_never_torn)
{
    struct mhash_geom g = {4, 64, RACE_WORDS * 8, false};
    struct race_result res;
    uint64_t w[RACE_WORDS], gen = 0;
    struct mhash h;
    int fds[2], status;
    pid_t pid;

    ck_assert_int_eq(mhash_create(&h, key, &g), 0);
    for (uint64_t k = 0; k < RACE_KEYS; k++) {
        race_rec(w, k, 0);
        ck_assert_int_eq(mhash_insert(&h, k, w), 0);
    }
    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        race_reader(fds[1]);
    close(fds[1]);
    /* Update every record, and delete and re-insert some, until the
     * reader is done. */
    while (waitpid(pid, &status, WNOHANG) == 0) {
        gen++;
        for (uint64_t k = 0; k < RACE_KEYS; k++) {
            race_rec(w, k, gen);
            if (k % 4 == 3 && gen % 8 == 0) {
                ck_assert_int_eq(mhash_delete(&h, k, NULL), 0);
                ck_assert_int_eq(mhash_insert(&h, k, w), 0);
            } else {
                ck_assert_int_eq(mhash_update(&h, k, w), 0);
            }
        }
    }
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(read(fds[0], &res, sizeof(res)), sizeof(res));
    close(fds[0]);
    ck_assert_uint_eq(res.torn, 0);
    /* The race was real: the reader saw the records change under it. */
    ck_assert_uint_gt(res.found, 1000);
    ck_assert_uint_gt(res.gens, 10);
    ck_assert_uint_gt(gen, 100);
    mhash_remove(&h);
}
END_TEST

/* The same race between two threads over one mapping, so that
 * ThreadSanitizer (SANITIZE=thread, CI) sees both sides of the seqlock. */
struct race_thread {
    const struct mhash *h;
    struct race_result res;
    _Atomic bool done;
};

/* Reads every record until the writer is done, then once more. */
static void *race_thread_reader(void *arg)
{
    struct race_thread *t = arg;
    uint64_t w[RACE_WORDS], want[RACE_WORDS];
    bool last;

    do {
        last = atomic_load(&t->done);
        for (uint64_t k = 0; k < RACE_KEYS; k++) {
            if (mhash_find(t->h, k, w) < 0)
                continue;
            t->res.found++;
            race_rec(want, k, (w[1] - 1) / 0x100000001b3ull);
            t->res.torn += memcmp(w, want, sizeof(w)) != 0;
        }
    } while (!last);
    return NULL;
}

START_TEST(test_mhash_threads_reader_never_torn)
{
    struct mhash_geom g = {4, 64, RACE_WORDS * 8, false};
    struct race_thread t = {0};
    uint64_t w[RACE_WORDS], gen = 0;
    struct mhash h;
    void *mem = new_table(&h, &g);
    pthread_t tid;

    for (uint64_t k = 0; k < RACE_KEYS; k++) {
        race_rec(w, k, 0);
        ck_assert_int_eq(mhash_insert(&h, k, w), 0);
    }
    t.h = &h;
    ck_assert_int_eq(pthread_create(&tid, NULL, race_thread_reader, &t), 0);
    /* a fixed amount of writing, however the threads are scheduled
     * (valgrind runs one at a time) */
    for (gen = 1; gen <= 300; gen++) {
        for (uint64_t k = 0; k < RACE_KEYS; k++) {
            race_rec(w, k, gen);
            ck_assert_int_eq(mhash_update(&h, k, w), 0);
        }
    }
    atomic_store(&t.done, true);
    ck_assert_int_eq(pthread_join(tid, NULL), 0);
    ck_assert_uint_eq(t.res.torn, 0);
    ck_assert_uint_ge(t.res.found, RACE_KEYS); /* the last pass, at least */
    free(mem);
}
END_TEST

Suite *mhash_suite(void)
{
    Suite *s = suite_create("mhash");
    TCase *tc = tcase_create("core");

    tcase_add_loop_test(tc, test_mhash_reference_model, 0, 2);
    tcase_add_test(tc, test_mhash_key_zero);
    tcase_add_test(tc, test_mhash_primes);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_test(tc, test_mhash_full_rows);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, test_mhash_bad_geometry);
    tcase_add_test(tc, test_mhash_attach_validates);
    suite_add_tcase(s, tc);

    tc = tcase_create("shared");
    tcase_add_checked_fixture(tc, shm_setup, harness_cleanup);
    tcase_add_test(tc, test_mhash_second_process_attach);
    tcase_add_test(tc, test_mhash_writer_attach_recounts);
    tcase_add_test(tc, test_mhash_reader_never_torn);
    suite_add_tcase(s, tc);

    /* A race between threads, for ThreadSanitizer: valgrind runs one
     * thread at a time, so make memcheck leaves it out. */
    if (!getenv("SVRTUT_MEMCHECK")) {
        tc = tcase_create("threads");
        tcase_add_test(tc, test_mhash_threads_reader_never_torn);
        suite_add_tcase(s, tc);
    }
    return s;
}

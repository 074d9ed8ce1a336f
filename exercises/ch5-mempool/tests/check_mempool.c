/* check_mempool.c -- tests of exercise ch5-mempool: the pool in mpool.c
 * keeps common/mpool.h's contract (every chunk handed out once, aligned,
 * exhaustion, refused frees, a pool in shared memory used from two
 * mappings), and the chapter's v6 server runs on it. */
#include "fixture.h"
#include "mpool.h"
#include "srvkeys.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define N 1000

/* A pool of n chunks of size bytes over heap memory; its memory in *mem. */
static void pool_new(struct mpool *mp, void **mem, size_t n, size_t size,
                     unsigned flags)
{
    size_t bytes = mpool_size(n, size);

    ck_assert_uint_gt(bytes, 0);
    ck_assert_int_eq(posix_memalign(mem, 64, bytes), 0);
    ck_assert_msg(mpool_init(mp, *mem, bytes, size, flags) == 0,
                  "mpool_init for %zu chunks of %zu bytes: %s", n, size,
                  strerror(errno));
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a;
    uintptr_t y = (uintptr_t) * (void *const *)b;

    return x < y ? -1 : x > y;
}

/* Allocate until the pool says ENOMEM: the pointers in p (room for
 * max), their number returned. Each gets a pattern of its own. */
static size_t alloc_all(struct mpool *mp, void **p, size_t max)
{
    size_t n = 0;
    void *q;

    while ((q = mpool_alloc(mp)) != NULL) {
        ck_assert_msg(n < max, "more than %zu chunks handed out", max);
        p[n++] = q;
    }
    ck_assert_msg(errno == ENOMEM, "mpool_alloc failed with %s, not ENOMEM",
                  strerror(errno));
    return n;
}

/* The n chunks in p lie inside the pool's chunks, apart from each other
 * by at least a chunk, and each holds what was written into it. */
static void assert_distinct(const struct mpool *mp, void **p, size_t n)
{
    struct mpool_stats st;
    void **s = malloc(n * sizeof(*s));

    mpool_stats(mp, &st);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < n; i++)
        memset(p[i], (int)(i % 251), st.chunk_size);
    for (size_t i = 0; i < n; i++) {
        const unsigned char *c = p[i];
        ck_assert_msg(mpool_index(mp, c) != UINT32_MAX,
                      "chunk %zu (%p) is not one of the pool's chunks", i,
                      p[i]);
        for (size_t k = 0; k < st.chunk_size; k++)
            ck_assert_msg(c[k] == i % 251,
                          "chunk %zu was overwritten: it overlaps another", i);
    }
    memcpy(s, p, n * sizeof(*s));
    qsort(s, n, sizeof(*s), cmp_ptr);
    for (size_t i = 1; i < n; i++)
        ck_assert_msg((uintptr_t)s[i] - (uintptr_t)s[i - 1] >= st.chunk_size,
                      "%p handed out twice (or chunks overlap)", s[i]);
    free(s);
}

static void shuffle(void **p, size_t n, unsigned seed)
{
    srand(seed);
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)rand() % (i + 1);
        void *t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
}

/* Every chunk is handed out once before ENOMEM, and again after frees in
 * random order, whole or in part: none lost, none twice. */
START_TEST(test_mempool_every_chunk_once)
{
    static const size_t sizes[] = {16, 64, 200};
    void *p[N + 64], *mem;
    struct mpool mp;
    struct mpool_stats st;

    for (size_t z = 0; z < 3; z++) {
        pool_new(&mp, &mem, N, sizes[z], 0);
        mpool_stats(&mp, &st);
        ck_assert_uint_eq(st.total, N);
        for (unsigned round = 0; round < 4; round++) {
            size_t n = alloc_all(&mp, p, N + 64), keep = round * N / 4;
            ck_assert_msg(n == N, "round %u: %zu chunks handed out, not %d",
                          round, n, N);
            assert_distinct(&mp, p, n);
            shuffle(p, n, round);
            for (size_t i = keep; i < n; i++)
                ck_assert_int_eq(mpool_free(&mp, p[i]), 0);
            mpool_stats(&mp, &st);
            ck_assert_uint_eq(st.free, N - keep);
            /* the kept ones stay allocated: the next round gets the rest */
            for (size_t i = 0; i < keep; i++)
                ck_assert_int_eq(mpool_free(&mp, p[i]), 0);
        }
        mpool_release(&mp);
        free(mem);
    }
}
END_TEST

/* Chunks are aligned like malloc's (MPOOL_ALIGN), whatever size is asked
 * for, and chunk_size reports the rounded size. */
START_TEST(test_mempool_aligned)
{
    static const size_t sizes[] = {1, 8, 24, 40, 100, 1000};
    void *p[64 + 64], *mem;
    struct mpool mp;
    struct mpool_stats st;

    for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
        size_t n;
        pool_new(&mp, &mem, 64, sizes[z], 0);
        mpool_stats(&mp, &st);
        ck_assert_msg(st.chunk_size % MPOOL_ALIGN == 0 &&
                          st.chunk_size >= sizes[z] &&
                          st.chunk_size < sizes[z] + MPOOL_ALIGN,
                      "chunk_size %zu for %zu bytes", st.chunk_size, sizes[z]);
        n = alloc_all(&mp, p, 128);
        ck_assert_uint_eq(n, 64);
        for (size_t i = 0; i < n; i++)
            ck_assert_msg((uintptr_t)p[i] % MPOOL_ALIGN == 0,
                          "chunk %zu of size %zu at %p: not %d-aligned", i,
                          sizes[z], p[i], MPOOL_ALIGN);
        assert_distinct(&mp, p, n);
        free(mem);
    }
}
END_TEST

/* An exhausted pool says ENOMEM and recovers with one free; the counters
 * follow. mpool_size(n) bytes hold exactly n chunks, small n too. */
START_TEST(test_mempool_exhaustion)
{
    void *p[8 + 8], *mem;
    struct mpool mp;
    struct mpool_stats st;

    for (size_t n = 1; n <= 8; n++) {
        pool_new(&mp, &mem, n, 200, 0);
        ck_assert_uint_eq(alloc_all(&mp, p, 16), n);
        free(mem);
    }

    pool_new(&mp, &mem, 8, 64, 0);
    ck_assert_uint_eq(alloc_all(&mp, p, 8), 8);
    ck_assert_ptr_null(mpool_alloc(&mp));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_int_eq(mpool_free(&mp, p[3]), 0);
    ck_assert_ptr_eq(mpool_alloc(&mp), p[3]);
    ck_assert_ptr_null(mpool_alloc(&mp));
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(mpool_free(&mp, p[i]), 0);
    mpool_stats(&mp, &st);
    ck_assert_uint_eq(st.used, 3);
    ck_assert_uint_eq(st.free, 5);
    ck_assert_uint_eq(st.high_water, 8);
    ck_assert_int_eq(mpool_free(&mp, NULL), 0);
    free(mem);
}
END_TEST

/* Pointers that are not the pool's are refused with EINVAL and change
 * nothing: the pool still hands out each of its chunks once. */
START_TEST(test_mempool_foreign_pointer)
{
    void *p[N + 64], *mem;
    char other[64];
    struct mpool mp;
    struct mpool_stats st;

    pool_new(&mp, &mem, N, 64, 0);
    mpool_stats(&mp, &st);
    for (int i = 0; i < 2; i++) {
        void *bad = i == 0 ? (void *)other : (char *)mem + 1000000;
        errno = 0;
        ck_assert_msg(mpool_free(&mp, bad) == -1 && errno == EINVAL,
                      "mpool_free of a pointer outside the pool: not EINVAL");
    }
    ck_assert_uint_eq(alloc_all(&mp, p, N + 64), N);
    assert_distinct(&mp, p, N);
    free(mem);
}
END_TEST

/* One free more than there were allocations is refused in every pool. */
START_TEST(test_mempool_one_free_too_many)
{
    void *p[4 + 4], *mem;
    struct mpool mp;

    pool_new(&mp, &mem, 4, 64, 0);
    ck_assert_uint_eq(alloc_all(&mp, p, 8), 4);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(mpool_free(&mp, p[i]), 0);
    errno = 0;
    ck_assert_msg(mpool_free(&mp, p[0]) == -1 && errno == EINVAL,
                  "a fifth free in a pool of 4: not EINVAL");
    ck_assert_uint_eq(alloc_all(&mp, p, 8), 4);
    assert_distinct(&mp, p, 4);
    free(mem);
}
END_TEST

/* A checked pool refuses a double free and a pointer inside a chunk, and
 * its free list survives both. */
START_TEST(test_mempool_double_free_checked)
{
    void *p[N + 64], *mem;
    struct mpool mp;
    struct mpool_stats st;

    pool_new(&mp, &mem, N, 64, MPOOL_CHECKED);
    mpool_stats(&mp, &st);
    ck_assert(st.checked);
    ck_assert_uint_eq(alloc_all(&mp, p, N + 64), N);
    ck_assert_int_eq(mpool_free(&mp, p[10]), 0);
    errno = 0;
    ck_assert_msg(mpool_free(&mp, p[10]) == -1 && errno == EINVAL,
                  "a double free in a checked pool: not EINVAL");
    errno = 0;
    ck_assert_msg(mpool_free(&mp, (char *)p[11] + 16) == -1 && errno == EINVAL,
                  "a pointer inside a chunk, checked pool: not EINVAL");
    ck_assert_ptr_eq(mpool_alloc(&mp), p[10]);
    ck_assert_ptr_null(mpool_alloc(&mp));
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(mpool_free(&mp, p[i]), 0);
    ck_assert_uint_eq(alloc_all(&mp, p, N + 64), N);
    assert_distinct(&mp, p, N);
    free(mem);
}
END_TEST

/* One pool in a System V segment mapped twice, at two addresses: a
 * chunk travels by index, both mappings allocate and free, and once the
 * first mapping is gone the second still works alone. */
START_TEST(test_mempool_shared_two_attaches)
{
    size_t size = mpool_size(N, 64), n = 0, na;
    int id = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
    unsigned char *a, *b;
    struct mpool pa, pb;
    void *p[N + 64];

    ck_assert_int_ge(id, 0);
    a = shmat(id, NULL, 0);
    b = shmat(id, NULL, 0);
    shmctl(id, IPC_RMID, NULL); /* gone once both are detached */
    ck_assert(a != (void *)-1 && b != (void *)-1 && a != b);
    ck_assert_int_eq(mpool_init(&pa, a, size, 64, 0), 0);
    ck_assert_msg(mpool_attach(&pb, b, size) == 0,
                  "mpool_attach of the second mapping: %s", strerror(errno));
    /* Half through each mapping, alternately. */
    for (; n < N; n++) {
        struct mpool *mp = n % 2 ? &pb : &pa;
        unsigned char *base = n % 2 ? b : a;
        p[n] = mpool_alloc(mp);
        ck_assert_msg(p[n] != NULL, "allocation %zu: %s", n, strerror(errno));
        ck_assert_msg((unsigned char *)p[n] >= base &&
                          (unsigned char *)p[n] < base + size,
                      "allocation %zu through mapping %c is outside it: a "
                      "pointer stored in the pool?",
                      n, n % 2 ? 'b' : 'a');
        if (n % 2) /* compare as offsets into mapping a */
            p[n] = a + ((unsigned char *)p[n] - b);
    }
    ck_assert_ptr_null(mpool_alloc(&pa));
    assert_distinct(&pa, p, N);
    /* A chunk named by index is the same memory in the other mapping. */
    strcpy(p[7], "hello");
    ck_assert_str_eq(mpool_chunk(&pb, mpool_index(&pa, p[7])), "hello");
    for (size_t i = 0; i < N; i++)
        ck_assert_int_eq(mpool_free(&pa, p[i]), 0);
    ck_assert_int_eq(shmdt(a), 0);
    na = alloc_all(&pb, p, N + 64);
    ck_assert_uint_eq(na, N);
    for (size_t i = 0; i < na; i++)
        ck_assert((unsigned char *)p[i] >= b &&
                  (unsigned char *)p[i] < b + size);
    assert_distinct(&pb, p, na);
    shmdt(b);
}
END_TEST

/* A client of the server on port, which gives up a read after 5 s: a
 * pool that goes wrong may leave a connection unanswered. */
static int client(struct hproc *srv)
{
    struct timeval tv = {.tv_sec = harness_ms(5000) / 1000};
    int fd = harness_connect(srv->port);

    ck_assert_msg(fd >= 0, "connect: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Wait until io_conn 0 of the server at base has used chunks. */
static void wait_pool_used(struct hproc *srv, key_t base, uint64_t used)
{
    key_t key = srvkeys_io_stats(base, 0);

    for (int i = 0; i < 300; i++) {
        if (fixture_counter(key, "pool_used") == used)
            return;
        usleep((useconds_t)harness_ms(10) * 1000);
    }
    fixture_assert(srv, false, "closed connections' chunks never came back");
}

/* The chapter's v6 server, built here on this pool, with room for 3
 * connections: 3 clients are echoed, a 4th is refused, and a chunk given
 * back serves a new client. */
START_TEST(test_mempool_v6_on_your_pool)
{
    key_t base = harness_key_base();
    char keystr[16], dir[128], byte = 'x';
    const char *argv[] = {"./echosvr_v6", "-p", "0",  "-k", keystr,
                          "-d",           dir,  "-c", "3",  NULL};
    struct hproc *srv;
    int fd[4];

    snprintf(keystr, sizeof(keystr), "%#x", (unsigned)base);
    snprintf(dir, sizeof(dir), "%s/fifos", harness_tmpdir());
    srv = fixture_start(argv);
    for (int round = 0; round < 3; round++) {
        for (int i = round == 0 ? 0 : 2; i < 3; i++)
            fd[i] = client(srv);
        for (int i = 0; i < 3; i++) {
            char back;
            ck_assert_int_eq(harness_write_all(fd[i], &byte, 1), 0);
            fixture_assert(srv, harness_read_all(fd[i], &back, 1) == 0, "%s",
                           i == 2 && round > 0
                               ? "a client after a close got no echo"
                               : "a client within -c 3 got no echo");
        }
        fd[3] = client(srv);
        harness_write_all(fd[3], &byte, 1);
        fixture_assert(srv, harness_read_all(fd[3], &byte, 1) < 0,
                       "a 4th connection was served with -c 3");
        close(fd[3]);
        close(fd[2]); /* its chunk goes back for the next round */
        wait_pool_used(srv, base, 2);
    }
    close(fd[0]);
    close(fd[1]);
    wait_pool_used(srv, base, 0);
    ck_assert_uint_eq(
        fixture_counter(srvkeys_io_stats(base, 0), "pool_high_water"), 3);
    fixture_stop_clean(srv, 5000);
}
END_TEST

Suite *mempool_suite(void)
{
    Suite *s = suite_create("ch5-mempool");
    TCase *tc;

    tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_mempool_every_chunk_once);
    tcase_add_test(tc, test_mempool_aligned);
    tcase_add_test(tc, test_mempool_exhaustion);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_mempool_foreign_pointer);
    tcase_add_test(tc, test_mempool_one_free_too_many);
    tcase_add_test(tc, test_mempool_double_free_checked);
    suite_add_tcase(s, tc);

    tc = tcase_create("shared");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_mempool_shared_two_attaches);
    suite_add_tcase(s, tc);

    tc = tcase_create("server");
    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_mempool_v6_on_your_pool);
    suite_add_tcase(s, tc);
    return s;
}

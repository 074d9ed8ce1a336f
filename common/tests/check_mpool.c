/* check_mpool.c -- the chunk allocator: geometry, exhaustion, counters,
 * error detection, and a pool shared by two processes. */
#include "mpool.h"
#include "shmem.h"

#include "harness.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NCHUNKS 1000
#define CSIZE   64

static void *mem;
static struct mpool mp;

/* Cache-line aligned memory of any size (aligned_alloc wants multiples). */
static void *alloc64(size_t size)
{
    void *p;

    return posix_memalign(&p, 64, size) == 0 ? p : NULL;
}

static void setup(void)
{
    size_t size = mpool_size(NCHUNKS, CSIZE);

    ck_assert_uint_gt(size, NCHUNKS * CSIZE);
    mem = alloc64(size);
    ck_assert_ptr_nonnull(mem);
    ck_assert_int_eq(mpool_init(&mp, mem, size, CSIZE, 0), 0);
}

static void teardown(void)
{
    mpool_release(&mp);
    free(mem);
    mem = NULL;
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a;
    uintptr_t y = (uintptr_t) * (void *const *)b;

    return x < y ? -1 : x > y;
}

/* Take every chunk; check they are distinct, aligned, inside the memory
 * and do not overlap, then that the next allocation fails with ENOMEM. */
static void take_all(void **p)
{
    void *sorted[NCHUNKS];
    char *lo = mem, *hi = lo + mpool_size(NCHUNKS, CSIZE);

    for (size_t i = 0; i < NCHUNKS; i++) {
        p[i] = mpool_alloc(&mp);
        ck_assert_ptr_nonnull(p[i]);
        ck_assert_uint_eq((uintptr_t)p[i] % MPOOL_ALIGN, 0);
        ck_assert((char *)p[i] >= lo && (char *)p[i] + CSIZE <= hi);
        memset(p[i], (int)(i & 0xff), CSIZE);
    }
    memcpy(sorted, p, sizeof(sorted));
    qsort(sorted, NCHUNKS, sizeof(void *), cmp_ptr);
    for (size_t i = 1; i < NCHUNKS; i++)
        ck_assert_uint_ge((uintptr_t)sorted[i] - (uintptr_t)sorted[i - 1],
                          CSIZE);
    /* Nothing was overwritten by a later allocation. */
    for (size_t i = 0; i < NCHUNKS; i++)
        ck_assert_uint_eq(((unsigned char *)p[i])[CSIZE - 1], i & 0xff);
    errno = 0;
    ck_assert_ptr_null(mpool_alloc(&mp));
    ck_assert_int_eq(errno, ENOMEM);
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

START_TEST(test_mpool_every_chunk_once)
{
    void *p[NCHUNKS];

    take_all(p);
    shuffle(p, NCHUNKS, 1);
    for (size_t i = 0; i < NCHUNKS; i++)
        ck_assert_int_eq(mpool_free(&mp, p[i]), 0);
    /* After frees in random order, the pool still hands out each chunk
     * exactly once. */
    take_all(p);
}
END_TEST

START_TEST(test_mpool_exhaustion_recovery)
{
    void *p[NCHUNKS], *q;

    take_all(p);
    ck_assert_int_eq(mpool_free(&mp, p[500]), 0);
    q = mpool_alloc(&mp);
    ck_assert_ptr_eq(q, p[500]);
    errno = 0;
    ck_assert_ptr_null(mpool_alloc(&mp));
    ck_assert_int_eq(errno, ENOMEM);
    for (size_t i = 0; i < NCHUNKS; i++)
        ck_assert_int_eq(mpool_free(&mp, p[i]), 0);
    ck_assert_ptr_nonnull(mpool_alloc(&mp));
}
END_TEST

START_TEST(test_mpool_counters)
{
    struct mpool_stats st;
    void *p[10];

    mpool_stats(&mp, &st);
    ck_assert_uint_eq(st.total, NCHUNKS);
    ck_assert_uint_eq(st.free, NCHUNKS);
    ck_assert_uint_eq(st.used, 0);
    ck_assert_uint_eq(st.high_water, 0);
    ck_assert_uint_eq(st.chunk_size, CSIZE);
    for (int i = 0; i < 10; i++)
        p[i] = mpool_alloc(&mp);
    for (int i = 0; i < 7; i++)
        mpool_free(&mp, p[i]);
    mpool_stats(&mp, &st);
    ck_assert_uint_eq(st.used, 3);
    ck_assert_uint_eq(st.free, NCHUNKS - 3);
    ck_assert_uint_eq(st.high_water, 10);
    for (int i = 0; i < 5; i++)
        p[i] = mpool_alloc(&mp);
    mpool_stats(&mp, &st);
    ck_assert_uint_eq(st.used, 8);
    ck_assert_uint_eq(st.high_water, 10);
}
END_TEST

/* mpool_size() is exact: that many bytes hold that many chunks, one byte
 * less holds fewer; odd sizes round up to keep chunks aligned. */
START_TEST(test_mpool_size_and_alignment)
{
    static const size_t sizes[] = {1, 8, 17, 64, 100, 4096};
    struct mpool_stats st;
    struct mpool q;

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t need = mpool_size(77, sizes[i]);
        void *m = alloc64(need);

        ck_assert_ptr_nonnull(m);
        ck_assert_int_eq(mpool_init(&q, m, need, sizes[i], 0), 0);
        mpool_stats(&q, &st);
        ck_assert_uint_eq(st.total, 77);
        ck_assert_uint_eq(st.chunk_size % MPOOL_ALIGN, 0);
        ck_assert_uint_ge(st.chunk_size, sizes[i]);
        for (int k = 0; k < 77; k++) {
            char *c = mpool_alloc(&q);
            ck_assert_uint_eq((uintptr_t)c % MPOOL_ALIGN, 0);
            ck_assert(c + sizes[i] <= (char *)m + need);
        }
        ck_assert_int_eq(mpool_init(&q, m, need - 1, sizes[i], 0), 0);
        mpool_stats(&q, &st);
        ck_assert_uint_eq(st.total, 76);
        free(m);
    }
    ck_assert_uint_eq(mpool_size(0, 64), 0);
    ck_assert_uint_eq(mpool_size(10, 0), 0);
    ck_assert_uint_eq(mpool_size(SIZE_MAX / 2, 64), 0);
    ck_assert_uint_eq(mpool_size(10, ((size_t)1 << 30) + 1), 0);
}
END_TEST

START_TEST(test_mpool_bad_init)
{
    struct mpool q;
    char *m = mem;

    ck_assert_int_eq(mpool_init(&q, m + 8, 4096, 64, 0), -1);
    ck_assert_int_eq(errno, EINVAL); /* misaligned */
    ck_assert_int_eq(mpool_init(&q, m, 100, 64, 0), -1);
    ck_assert_int_eq(errno, EINVAL); /* no room for a chunk */
    ck_assert_int_eq(mpool_init(&q, m, 4096, 0, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(mpool_init(&q, m, 4096, 64, 0x80), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* Pointers that were never chunks are refused in every pool. */
START_TEST(test_mpool_foreign_pointer)
{
    struct mpool_stats st;
    int local;
    char *c = mpool_alloc(&mp);

    ck_assert_int_eq(mpool_free(&mp, &local), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(mpool_free(&mp, (char *)mem + 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(mpool_free(&mp, (void *)((uintptr_t)mem + (1u << 20))),
                     -1);
    ck_assert_int_eq(mpool_free(&mp, NULL), 0);
    ck_assert_uint_eq(mpool_index(&mp, c), 0);
    ck_assert_uint_eq(mpool_index(&mp, c + 1), UINT32_MAX);
    ck_assert_ptr_eq(mpool_chunk(&mp, 0), c);
    ck_assert_ptr_null(mpool_chunk(&mp, NCHUNKS));
    mpool_stats(&mp, &st);
    ck_assert_uint_eq(st.used, 1);
    /* An unchecked pool still never grows its free list past total. */
    ck_assert_int_eq(mpool_free(&mp, c), 0);
    ck_assert_int_eq(mpool_free(&mp, c), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* A checked pool refuses a double free and a pointer into a chunk, and
 * stays consistent afterwards. */
START_TEST(test_mpool_checked_double_free)
{
    struct mpool q;
    struct mpool_stats st;
    size_t size = mpool_size(4, 64);
    void *m = alloc64(size), *a, *b;

    ck_assert_int_eq(mpool_init(&q, m, size, 64, MPOOL_CHECKED), 0);
    a = mpool_alloc(&q);
    b = mpool_alloc(&q);
    ck_assert_int_eq(mpool_free(&q, a), 0);
    ck_assert_int_eq(mpool_free(&q, a), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(mpool_free(&q, (char *)b + 16), -1);
    ck_assert_int_eq(errno, EINVAL);
    mpool_stats(&q, &st);
    ck_assert(st.checked);
    ck_assert_uint_eq(st.used, 1);
    /* The refused free did not put a twice on the free list. */
    ck_assert_ptr_eq(mpool_alloc(&q), a);
    ck_assert_ptr_nonnull(mpool_alloc(&q));
    ck_assert_ptr_nonnull(mpool_alloc(&q));
    ck_assert_ptr_null(mpool_alloc(&q));
    free(m);
}
END_TEST

/* The debug build (SVRTUT_DEBUG, set by SANITIZE= builds) checks every
 * pool; a normal build checks only those that ask. */
START_TEST(test_mpool_debug_build_checks)
{
    struct mpool_stats st;
    void *a = mpool_alloc(&mp), *b = mpool_alloc(&mp);

    (void)b;
    mpool_stats(&mp, &st);
    ck_assert_int_eq(mpool_free(&mp, a), 0);
#ifdef SVRTUT_DEBUG
    ck_assert(st.checked);
    ck_assert_int_eq(mpool_free(&mp, a), -1);
    ck_assert_int_eq(errno, EINVAL);
#else
    ck_assert(!st.checked);
#endif
}
END_TEST

START_TEST(test_mpool_attach_validates)
{
    struct mpool q;
    size_t size = mpool_size(NCHUNKS, CSIZE);
    uint32_t *words = mem;

    ck_assert_int_eq(mpool_attach(&q, mem, size), 0);
    ck_assert_int_eq(mpool_attach(&q, mem, size - 1), -1);
    ck_assert_int_eq(errno, EPROTO);
    words[3] = NCHUNKS * 2; /* total */
    ck_assert_int_eq(mpool_attach(&q, mem, size), -1);
    ck_assert_int_eq(errno, EPROTO);
    words[3] = NCHUNKS;
    words[0] ^= 1; /* magic */
    ck_assert_int_eq(mpool_attach(&q, mem, size), -1);
    ck_assert_int_eq(errno, EPROTO);
}
END_TEST

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A process rewrites the header (words[3] total, words[4] the low half
 * of chunk_size) between a good pool's values and impossible ones while
 * this one attaches: every attach must refuse, or give a handle with the
 * good geometry, never a mix of what it checked and what it read later
 * (issue 13: a total of 0xffffffff for a 68 KiB pool; a chunk size of 0
 * divided by zero). */
START_TEST(test_mpool_attach_while_header_changes)
{
    size_t size = mpool_size(NCHUNKS, CSIZE);
    uint32_t *words = mmap(NULL, size, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    _Atomic uint32_t *total, *csize;
    struct mpool q;
    int status, good = 0;
    int64_t deadline = now_ms() + 1000;
    pid_t pid;

    ck_assert_ptr_ne(words, MAP_FAILED);
    ck_assert_int_eq(mpool_init(&q, words, size, CSIZE, 0), 0);
    total = (_Atomic uint32_t *)&words[3];
    csize = (_Atomic uint32_t *)&words[4];
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* flips until killed */
        for (unsigned i = 0;; i++) {
            atomic_store_explicit(total, i & 1 ? UINT32_MAX : NCHUNKS,
                                  memory_order_relaxed);
            atomic_store_explicit(csize, i & 2 ? 0 : CSIZE,
                                  memory_order_relaxed);
        }
    }
    /* a second of attaches: old code failed within milliseconds */
    for (int i = 0; (i & 4095) != 0 || now_ms() < deadline; i++) {
        if (mpool_attach(&q, words, size) < 0)
            continue;
        good++;
        ck_assert_msg(q.total == NCHUNKS && q.chunk_size == CSIZE,
                      "attach %d: total %u chunk size %zu", i, q.total,
                      q.chunk_size);
    }
    kill(pid, SIGKILL);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_gt(good, 0); /* the race was run, not only refused */
    munmap(words, size);
}
END_TEST

/* --- a pool in a shared segment, used by two processes ------------------ */

#define MAGIC         0x4d505453u /* "MPTS" */
#define SHARED_CHUNKS 64

static key_t key;

/* A key of this runner: swept by harness_cleanup(), and by the next test
 * when a failed one never reached its teardown. */
static void shm_setup(void) { key = harness_key(); }

/* The child attaches the segment at a second address, drops the inherited
 * mapping, reads the parent's chunks, frees two, allocates three. */
static int child_work(const struct shmem *parent_map)
{
    struct shmem sm;
    struct mpool q;
    struct mpool_stats st;
    uint32_t *idx;

    if (shmem_open(&sm, key, MAGIC, 1, 0, false) < 0 ||
        sm.hdr == parent_map->hdr)
        return 1;
    shmdt(parent_map->hdr);
    idx = shmem_data(&sm);
    if (mpool_attach(&q, idx + 16, sm.size - 64) < 0)
        return 2;
    mpool_stats(&q, &st);
    if (st.used != 4)
        return 3;
    for (uint32_t i = 0; i < 4; i++) {
        char *c = mpool_chunk(&q, idx[i]);
        if (c == NULL || c[0] != 'P' || c[1] != (char)('0' + i))
            return 4;
    }
    if (mpool_free(&q, mpool_chunk(&q, idx[0])) < 0 ||
        mpool_free(&q, mpool_chunk(&q, idx[1])) < 0)
        return 5;
    for (uint32_t i = 4; i < 7; i++) {
        char *c = mpool_alloc(&q);
        if (c == NULL)
            return 6;
        c[0] = 'C';
        c[1] = (char)('0' + i);
        idx[i] = mpool_index(&q, c);
    }
    shmem_close(&sm);
    return 0;
}

START_TEST(test_mpool_shared_two_processes)
{
    struct shmem sm;
    struct mpool q;
    struct mpool_stats st;
    size_t psize = mpool_size(SHARED_CHUNKS, CSIZE);
    uint32_t *idx;
    int status;
    pid_t pid;

    ck_assert_int_eq(shmem_create(&sm, key, MAGIC, 1, 64 + psize), 0);
    idx = shmem_data(&sm); /* 16 chunk indices, then the pool */
    ck_assert_int_eq(mpool_init(&q, idx + 16, psize, CSIZE, MPOOL_CHECKED), 0);
    shmem_publish(&sm);
    for (uint32_t i = 0; i < 4; i++) {
        char *c = mpool_alloc(&q);
        c[0] = 'P';
        c[1] = (char)('0' + i);
        idx[i] = mpool_index(&q, c);
    }
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(child_work(&sm));
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "child failed at step %d", WEXITSTATUS(status));
    mpool_stats(&q, &st);
    ck_assert_uint_eq(st.used, 5);
    ck_assert_uint_eq(st.high_water, 5);
    for (uint32_t i = 4; i < 7; i++) {
        char *c = mpool_chunk(&q, idx[i]);
        ck_assert_ptr_nonnull(c);
        ck_assert_int_eq(c[0], 'C');
        ck_assert_int_eq(c[1], '0' + (int)i);
    }
    /* The child's frees are visible: freeing again is a double free. */
    ck_assert_int_eq(mpool_free(&q, mpool_chunk(&q, idx[2])), 0);
    ck_assert_int_eq(mpool_free(&q, mpool_chunk(&q, idx[2])), -1);
    shmem_remove(&sm);
}
END_TEST

Suite *mpool_suite(void)
{
    Suite *s = suite_create("mpool");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_mpool_every_chunk_once);
    tcase_add_test(tc, test_mpool_counters);
    tcase_add_test(tc, test_mpool_size_and_alignment);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_mpool_exhaustion_recovery);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_mpool_bad_init);
    tcase_add_test(tc, test_mpool_foreign_pointer);
    tcase_add_test(tc, test_mpool_checked_double_free);
    tcase_add_test(tc, test_mpool_debug_build_checks);
    tcase_add_test(tc, test_mpool_attach_validates);
    tcase_add_test(tc, test_mpool_attach_while_header_changes);
    suite_add_tcase(s, tc);

    tc = tcase_create("shared");
    tcase_add_checked_fixture(tc, shm_setup, harness_cleanup);
    tcase_add_test(tc, test_mpool_shared_two_processes);
    suite_add_tcase(s, tc);
    return s;
}

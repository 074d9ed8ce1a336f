/* check_histogram.c -- bucket arithmetic, percentiles, merging. */
#include "histogram.h"

#include <check.h>
#include <stdlib.h>

static struct histogram *h, *h2;

static void setup(void)
{
    h = malloc(sizeof(*h));
    h2 = malloc(sizeof(*h2));
    ck_assert(h && h2);
    histogram_init(h);
    histogram_init(h2);
}

static void teardown(void)
{
    free(h);
    free(h2);
}

/* |got - want| <= want/32, the promised resolution. */
static void assert_close(uint64_t got, uint64_t want)
{
    uint64_t diff = got > want ? got - want : want - got;

    ck_assert_msg(diff * 32 <= want, "got %llu, want %llu within 1/32",
                  (unsigned long long)got, (unsigned long long)want);
}

START_TEST(test_histogram_empty)
{
    ck_assert_uint_eq(h->count, 0);
    ck_assert_uint_eq(histogram_percentile(h, 50), 0);
    ck_assert_uint_eq(histogram_percentile(h, 100), 0);
    ck_assert(histogram_mean(h) == 0.0);
}
END_TEST

/* Buckets tile [0, UINT64_MAX] without gaps or overlaps, each at most
 * 1/32 of its values wide. */
START_TEST(test_histogram_buckets_tile)
{
    ck_assert_uint_eq(histogram_bucket_low(0), 0);
    for (unsigned b = 0; b + 1 < HISTOGRAM_BUCKETS; b++) {
        uint64_t lo = histogram_bucket_low(b), hi = histogram_bucket_high(b);
        ck_assert_uint_le(lo, hi);
        ck_assert_uint_eq(hi + 1, histogram_bucket_low(b + 1));
        ck_assert_uint_le((hi - lo) * 32, lo);
        ck_assert_uint_eq(histogram_bucket(lo), b);
        ck_assert_uint_eq(histogram_bucket(hi), b);
    }
    ck_assert_uint_eq(histogram_bucket(UINT64_MAX), HISTOGRAM_BUCKETS - 1);
    ck_assert_uint_eq(histogram_bucket_high(HISTOGRAM_BUCKETS - 1), UINT64_MAX);
    for (uint64_t v = 0; v < 32; v++)
        ck_assert_uint_eq(histogram_bucket(v), v);
}
END_TEST

START_TEST(test_histogram_percentiles_uniform)
{
    for (uint64_t v = 1; v <= 100000; v++)
        histogram_record(h, v);
    ck_assert_uint_eq(h->count, 100000);
    ck_assert_uint_eq(histogram_percentile(h, 0), 1);
    assert_close(histogram_percentile(h, 50), 50000);
    assert_close(histogram_percentile(h, 99), 99000);
    assert_close(histogram_percentile(h, 99.9), 99900);
    ck_assert_uint_eq(histogram_percentile(h, 100), 100000);
    ck_assert(histogram_mean(h) > 50000.4 && histogram_mean(h) < 50000.6);
}
END_TEST

/* A tail of 1%: p50 and p99 stay with the bulk, p99.9 finds the tail. */
START_TEST(test_histogram_percentiles_tail)
{
    for (int i = 0; i < 990; i++)
        histogram_record(h, 100 * 1000);
    for (int i = 0; i < 10; i++)
        histogram_record(h, 7 * 1000 * 1000);
    assert_close(histogram_percentile(h, 50), 100 * 1000);
    assert_close(histogram_percentile(h, 99), 100 * 1000);
    ck_assert_uint_eq(histogram_percentile(h, 99.9), 7 * 1000 * 1000);
    ck_assert_uint_eq(h->min, 100 * 1000);
    ck_assert_uint_eq(h->max, 7 * 1000 * 1000);
}
END_TEST

START_TEST(test_histogram_merge)
{
    struct histogram *all = malloc(sizeof(*all));

    ck_assert_ptr_nonnull(all);
    histogram_init(all);
    for (uint64_t v = 1; v < 5000; v += 3) {
        histogram_record(v % 2 ? h : h2, v * v);
        histogram_record(all, v * v);
    }
    histogram_merge(h, h2);
    ck_assert_uint_eq(h->count, all->count);
    ck_assert_uint_eq(h->min, all->min);
    ck_assert_uint_eq(h->max, all->max);
    for (double p = 0; p <= 100; p += 0.5)
        ck_assert_uint_eq(histogram_percentile(h, p),
                          histogram_percentile(all, p));
    free(all);
}
END_TEST

Suite *histogram_suite(void)
{
    Suite *s = suite_create("histogram");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_histogram_empty);
    tcase_add_test(tc, test_histogram_buckets_tile);
    tcase_add_test(tc, test_histogram_percentiles_uniform);
    tcase_add_test(tc, test_histogram_percentiles_tail);
    tcase_add_test(tc, test_histogram_merge);
    suite_add_tcase(s, tc);
    return s;
}

/* histogram.c -- log-linear histogram of 64-bit values with percentiles.
 *
 * Bucket layout: a value v < 32 lives in bucket v. A larger v has its
 * highest set bit at e >= 5; the 5 bits below that one (m) pick one of 32
 * equal slices of [2^e, 2^(e+1)), and the bucket is 32 + (e - 5) * 32 + m.
 * The width of a slice is 2^(e-5), at most 1/32 of any value in it. */
#include "histogram.h"

#include <string.h>

_Static_assert(HISTOGRAM_BUCKETS == 1920, "32 exact + 59 exponents x 32");

void histogram_init(struct histogram *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

unsigned histogram_bucket(uint64_t v)
{
    unsigned e, shift;

    if (v < HISTOGRAM_SUB)
        return (unsigned)v;
    e = 63u - (unsigned)__builtin_clzll(v);
    shift = e - HISTOGRAM_SUB_BITS;
    return HISTOGRAM_SUB + shift * HISTOGRAM_SUB +
           (unsigned)((v >> shift) & (HISTOGRAM_SUB - 1));
}

uint64_t histogram_bucket_low(unsigned b)
{
    unsigned shift, m;

    if (b < HISTOGRAM_SUB)
        return b;
    shift = (b - HISTOGRAM_SUB) / HISTOGRAM_SUB;
    m = (b - HISTOGRAM_SUB) % HISTOGRAM_SUB;
    return (uint64_t)(HISTOGRAM_SUB + m) << shift;
}

uint64_t histogram_bucket_high(unsigned b)
{
    unsigned shift;

    if (b < HISTOGRAM_SUB)
        return b;
    shift = (b - HISTOGRAM_SUB) / HISTOGRAM_SUB;
    /* width - 1 first: the last bucket ends exactly at UINT64_MAX */
    return histogram_bucket_low(b) + (((uint64_t)1 << shift) - 1);
}

void histogram_record(struct histogram *h, uint64_t v)
{
    h->buckets[histogram_bucket(v)]++;
    h->count++;
    h->sum += (double)v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void histogram_merge(struct histogram *dst, const struct histogram *src)
{
    for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t histogram_percentile(const struct histogram *h, double p)
{
    uint64_t rank, seen = 0, v;
    double want;

    if (h->count == 0)
        return 0;
    if (p < 0)
        p = 0;
    if (p > 100)
        p = 100;
    want = p / 100.0 * (double)h->count;
    rank = (uint64_t)want;
    if ((double)rank < want)
        rank++; /* ceil */
    if (rank == 0)
        rank = 1;
    for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            v = histogram_bucket_high(i);
            return v > h->max ? h->max : v < h->min ? h->min : v;
        }
    }
    return h->max; /* not reached: the buckets sum to count */
}

double histogram_mean(const struct histogram *h)
{
    return h->count ? h->sum / (double)h->count : 0.0;
}

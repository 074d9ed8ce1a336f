/* histogram.h -- log-linear histogram of 64-bit values (latencies in
 * nanoseconds, sizes...) with percentiles, fixed memory, no allocation.
 *
 * Values below 32 have a bucket each; above, every power of two is split
 * into 32 equal buckets, so a percentile is off by at most 1/32 (3.1%) of
 * the true value, whatever its magnitude. Recording is a few instructions:
 * a clz, a shift and an increment. */
#ifndef COMMON_HISTOGRAM_H
#define COMMON_HISTOGRAM_H

#include <stdint.h>

#define HISTOGRAM_SUB_BITS 5 /* 32 buckets per power of two */
#define HISTOGRAM_SUB      (1u << HISTOGRAM_SUB_BITS)
/* 32 exact buckets, then 32 per exponent 5..63 */
#define HISTOGRAM_BUCKETS (HISTOGRAM_SUB * (64 - HISTOGRAM_SUB_BITS + 1))

struct histogram {
    uint64_t count;
    uint64_t min, max; /* exact; min is UINT64_MAX while empty */
    double sum;        /* for the mean; a double cannot overflow */
    uint64_t buckets[HISTOGRAM_BUCKETS];
};

/* Empty the histogram (the caller owns the memory). */
void histogram_init(struct histogram *h);
void histogram_record(struct histogram *h, uint64_t value);
/* Add every value recorded in src to dst. */
void histogram_merge(struct histogram *dst, const struct histogram *src);
/* The value at percentile p (0 to 100): the upper edge of the bucket
 * holding the ceil(p% * count)-th smallest value, clamped to [min, max].
 * 0 when the histogram is empty. */
uint64_t histogram_percentile(const struct histogram *h, double p);
/* Mean of the recorded values, 0 when empty. */
double histogram_mean(const struct histogram *h);

/* Bucket arithmetic, exposed for tests: the bucket of a value, and the
 * smallest and largest value a bucket holds. */
unsigned histogram_bucket(uint64_t value);
uint64_t histogram_bucket_low(unsigned bucket);
uint64_t histogram_bucket_high(unsigned bucket);

#endif

/* fuzz.h -- what every libFuzzer target here shares: the entry point and
 * a cursor that takes fields from the fuzzer's bytes (zeros once they
 * run out, so every input is a complete case). */
#ifndef FUZZ_FUZZ_H
#define FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_in {
    const uint8_t *p;
    size_t left;
};

static inline void fuzz_take(struct fuzz_in *in, void *dst, size_t n)
{
    size_t k = n < in->left ? n : in->left;

    memcpy(dst, in->p, k);
    memset((uint8_t *)dst + k, 0, n - k);
    in->p += k;
    in->left -= k;
}

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
    uint8_t v;

    fuzz_take(in, &v, sizeof(v));
    return v;
}

static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
    uint64_t v;

    fuzz_take(in, &v, sizeof(v));
    return v;
}

/* A failed expectation: abort, which libFuzzer reports as a crash with
 * the input that caused it. */
#define FUZZ_EXPECT(cond)                                                      \
    do {                                                                       \
        if (!(cond))                                                           \
            fuzz_fail(__FILE__, __LINE__, #cond);                              \
    } while (0)

static inline _Noreturn void fuzz_fail(const char *file, int line,
                                       const char *what)
{
    fprintf(stderr, "%s:%d: expected %s\n", file, line, what);
    abort();
}

#endif

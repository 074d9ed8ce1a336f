/* fuzz_mhash.c -- the multi-hash's header and records on attach.
 *
 * The input is a table's memory as another process could leave it (the
 * header with its geometry and primes, then the slots), preceded by a
 * script of keys. It lives in heap memory of its exact size, so
 * AddressSanitizer sees any access outside it. mhash_attach() must
 * refuse (EPROTO) any header whose slots do not fit; over a table it
 * accepted, readers and the writer must stay inside the memory whatever
 * the slots hold, and report only what their contracts name.
 *
 * Input: u8 flags (bit 0: attach read-only), 8 u64 keys, then the
 * table's memory. */
#include "fuzz.h"

#include "mhash.h"

#include <errno.h>
#include <stdlib.h>

#define NKEYS 8

struct visit {
    uint32_t rec_size;
    unsigned n;
};

static int visit_cb(uint64_t key, const void *rec, void *arg)
{
    struct visit *v = arg;
    const uint8_t *p = rec;
    uint8_t x = 0;

    (void)key;
    for (uint32_t i = 0; i < v->rec_size; i++)
        x ^= p[i];
    (void)x;
    return ++v->n > 100000; /* stop a huge table early */
}

static void readers(const struct mhash *h, const uint64_t *keys, void *rec)
{
    struct visit v = {h->rec_size, 0};
    struct mhash_stats st;

    for (int i = 0; i < NKEYS; i++) {
        int rc = mhash_find(h, keys[i], rec);
        FUZZ_EXPECT(rc == 0 || errno == ENOENT || errno == EAGAIN);
    }
    FUZZ_EXPECT(mhash_foreach(h, visit_cb, &v) == 0 || errno == EAGAIN ||
                errno == ECANCELED);
    mhash_stats(h, &st);
    FUZZ_EXPECT(st.used <= st.slots && st.slots == h->nslots);
    FUZZ_EXPECT(mhash_count(h) <= h->nslots);
}

static void writer(struct mhash *h, const uint64_t *keys, void *rec)
{
    bool inserted;

    for (int i = 0; i < NKEYS; i++) {
        int rc;
        switch (keys[i] & 3) {
        case 0: rc = mhash_insert(h, keys[i], rec); break;
        case 1: rc = mhash_update(h, keys[i], rec); break;
        case 2: rc = mhash_get_or_insert(h, keys[i], rec, &inserted); break;
        default: rc = mhash_delete(h, keys[i], rec); break;
        }
        FUZZ_EXPECT(rc == 0 || errno == EEXIST || errno == ENOSPC ||
                    errno == ENOENT);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    bool readonly = fuzz_u8(&in) & 1;
    uint64_t keys[NKEYS];
    unsigned char *mem, *rec;
    struct mhash h;

    for (int i = 0; i < NKEYS; i++)
        keys[i] = fuzz_u64(&in);
    if (in.left == 0 || posix_memalign((void **)&mem, 64, in.left) != 0)
        return 0;
    memcpy(mem, in.p, in.left);
    if (mhash_attach(&h, mem, in.left, readonly) == 0) {
        rec = calloc(1, h.rec_size);
        FUZZ_EXPECT(rec != NULL);
        readers(&h, keys, rec);
        if (!readonly)
            writer(&h, keys, rec);
        else
            FUZZ_EXPECT(mhash_insert(&h, keys[0], rec) < 0 && errno == EROFS);
        readers(&h, keys, rec);
        free(rec);
        mhash_release(&h);
    } else {
        FUZZ_EXPECT(errno == EPROTO);
    }
    free(mem);
    return 0;
}

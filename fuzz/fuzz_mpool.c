/* fuzz_mpool.c -- the memory pool's header and free list on attach.
 *
 * The input is a pool's memory as another process could leave it (the
 * header, the free-list stack, the bitmap, the chunks), preceded by a
 * script of allocations and frees. It lives in heap memory of its exact
 * size, so AddressSanitizer sees any access outside it. mpool_attach()
 * must refuse (EPROTO) a header whose chunks do not fit; over a pool it
 * accepted, every chunk handed out must lie wholly inside the memory
 * (the target writes all of it), whatever the free list holds.
 *
 * Input: 16 script bytes, then the pool's memory. */
#include "fuzz.h"

#include "mpool.h"

#include <errno.h>
#include <stdlib.h>

#define SCRIPT_LEN 16
#define MAX_HELD   SCRIPT_LEN

static void run_script(struct mpool *mp, const uint8_t *script,
                       unsigned char *mem, size_t size)
{
    void *held[MAX_HELD];
    int nheld = 0;
    struct mpool_stats st;

    for (int i = 0; i < SCRIPT_LEN; i++) {
        uint8_t op = script[i];
        void *p;

        switch (op & 3) {
        case 0:
        case 1: /* allocate and fill the whole chunk */
            p = mpool_alloc(mp);
            if (!p) {
                FUZZ_EXPECT(errno == ENOMEM || errno == EPROTO);
                break;
            }
            FUZZ_EXPECT((unsigned char *)p >= mem &&
                        (unsigned char *)p + mp->chunk_size <= mem + size);
            FUZZ_EXPECT((uintptr_t)p % MPOOL_ALIGN == 0);
            FUZZ_EXPECT(mpool_chunk(mp, mpool_index(mp, p)) == p);
            memset(p, op, mp->chunk_size);
            held[nheld++] = p;
            break;
        case 2: /* give back the newest chunk held */
            if (nheld > 0)
                FUZZ_EXPECT(mpool_free(mp, held[--nheld]) == 0 ||
                            errno == EINVAL);
            break;
        default: /* a pointer that may or may not be a chunk */
            p = mem + (size_t)(op >> 2) * 16 % size;
            FUZZ_EXPECT(mpool_free(mp, p) == 0 || errno == EINVAL);
            break;
        }
    }
    mpool_stats(mp, &st);
    FUZZ_EXPECT(st.free <= st.total && st.high_water <= st.total);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t script[SCRIPT_LEN];
    unsigned char *mem;
    struct mpool mp;

    fuzz_take(&in, script, sizeof(script));
    if (in.left == 0 ||
        posix_memalign((void **)&mem, MPOOL_ALIGN, in.left) != 0)
        return 0;
    memcpy(mem, in.p, in.left);
    if (mpool_attach(&mp, mem, in.left) == 0) {
        run_script(&mp, script, mem, in.left);
        mpool_release(&mp);
    } else {
        FUZZ_EXPECT(errno == EPROTO);
    }
    free(mem);
    return 0;
}

/* fuzz_spscq.c -- the queue's framing over a corrupted segment.
 *
 * The input is a queue payload as a hostile or broken peer could leave
 * it: the capacity word, head, tail and the ring's bytes (message
 * lengths and all), then a script of pops, drains and pushes. The
 * payload lives in heap memory of its exact size, so AddressSanitizer
 * sees any access outside it. Expected: every operation returns a
 * message that lies within the ring, or fails with the errno its
 * contract names (EBADMSG for a corrupt length or index), and nothing
 * reads or writes out of bounds.
 *
 * Input: u8 capacity (64 << (b % 7) bytes), u8 flags (bit 0: take the
 * capacity word from the input, else the consistent one), u64 capacity
 * word, u64 head, u64 tail, 16 script bytes, then the ring. */
#include "fuzz.h"

#include "spscq.h"

#include <errno.h>
#include <stdlib.h>

#define SCRIPT_LEN 16
#define HDR_WORDS  256 /* the four cache lines before the ring */

struct drain_arg {
    size_t max_payload;
    unsigned refuse_at, seen;
    uint32_t sum;
};

static int drain_cb(uint32_t id, const void *data, size_t len, void *arg)
{
    struct drain_arg *a = arg;
    const uint8_t *p = data;

    (void)id;
    FUZZ_EXPECT(len <= a->max_payload);
    for (size_t i = 0; i < len; i++) /* every byte must be readable */
        a->sum += p[i];
    if (a->seen++ == a->refuse_at) {
        errno = EAGAIN; /* leave it queued: "cannot take it now" */
        return -1;
    }
    return 0;
}

static void run_script(struct spscq *q, const uint8_t *script)
{
    size_t maxp = spscq_max_payload(q);
    uint8_t buf[4096];

    for (int i = 0; i < SCRIPT_LEN; i++) {
        uint8_t op = script[i];
        size_t len = (size_t)(op >> 2) * 67 % (sizeof(buf) + 1);
        uint32_t id = 0;
        int rc;

        switch (op & 3) {
        case 0: /* pop into a buffer of len bytes */
            rc = spscq_pop(q, &id, buf, &len);
            FUZZ_EXPECT(rc == 0 || errno == EAGAIN || errno == EMSGSIZE ||
                        errno == EBADMSG);
            FUZZ_EXPECT(rc < 0 || len <= maxp);
            break;
        case 1: { /* drain, the callback refusing one message */
            struct drain_arg a = {maxp, op >> 2, 0, 0};
            rc = spscq_drain(q, drain_cb, &a, op >> 4);
            FUZZ_EXPECT(rc >= 0 || errno == EBADMSG);
            break;
        }
        case 2: /* push len bytes */
            rc = spscq_push(q, op, buf, len);
            FUZZ_EXPECT(rc == 0 || errno == EAGAIN || errno == EMSGSIZE ||
                        errno == EBADMSG);
            break;
        default: (void)spscq_wait_prepare(q); break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t script[SCRIPT_LEN];
    uint64_t cap = 64u << (fuzz_u8(&in) % 7), words[3];
    uint8_t flags = fuzz_u8(&in);
    size_t total = HDR_WORDS + cap;
    unsigned char *mem;
    struct spscq *q;

    words[0] = fuzz_u64(&in);
    words[1] = fuzz_u64(&in);
    words[2] = fuzz_u64(&in);
    fuzz_take(&in, script, sizeof(script));
    if (posix_memalign((void **)&mem, 64, total) != 0)
        return 0;
    memset(mem, 0, HDR_WORDS);
    /* the layout of struct spscq_shared: one field per cache line */
    memcpy(mem, (flags & 1) ? &words[0] : &cap, 8);
    memcpy(mem + 64, &words[2], 8);  /* tail */
    memcpy(mem + 128, &words[1], 8); /* head */
    fuzz_take(&in, mem + HDR_WORDS, cap);

    q = spscq_attach(mem, total, SPSCQ_BOTH);
    if (q) {
        run_script(q, script);
        spscq_close(q);
    } else {
        FUZZ_EXPECT(errno == EPROTO || errno == EBADMSG);
    }
    free(mem);
    return 0;
}

/* fuzz_stats.c -- the statistics block on open and read.
 *
 * The input is a statistics block as a hostile writer could leave it:
 * counter count, names, kinds, pid, times. It lives in heap memory of
 * its exact size, so AddressSanitizer sees any access outside it.
 * stats_attach() (what stats_open() does after shmem's checks) must
 * refuse it with EPROTO or accept it; a snapshot stats_read() returns
 * must hold only what a reader may print and compute with: at most
 * STATS_MAX_COUNTERS counters, NUL-terminated names of name characters,
 * known kinds, a pid > 0 and times whose differences cannot overflow.
 *
 * A block whose seq is odd makes stats_read() wait about 100 ms before
 * EAGAIN (check_stats tests that); the target clears seq's low bit so
 * that each input takes microseconds. */
#include "fuzz.h"

#include "now.h"
#include "stats.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

/* A name viewstats may print: NUL-terminated, 1 to 31 of [A-Za-z0-9_.-]. */
static bool printable(const char *s)
{
    size_t n = strnlen(s, STATS_NAME_LEN);

    if (n == 0 || n == STATS_NAME_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    struct stats_block *b;
    struct stats_snapshot snap;
    struct stats st;
    volatile int64_t uptime;

    b = aligned_alloc(_Alignof(struct stats_block), sizeof(*b));
    if (!b)
        return 0;
    fuzz_take(&in, b, sizeof(*b));
    atomic_store(&b->seq, atomic_load(&b->seq) & ~(uint64_t)1);
    memset(&st, 0, sizeof(st));
    if (stats_attach(&st, b, sizeof(*b)) == 0) {
        FUZZ_EXPECT(st.n <= STATS_MAX_COUNTERS);
        if (stats_read(&st, &snap) == 0) {
            FUZZ_EXPECT(snap.n <= STATS_MAX_COUNTERS);
            FUZZ_EXPECT(printable(snap.writer));
            for (uint32_t i = 0; i < snap.n; i++)
                FUZZ_EXPECT(printable(snap.desc[i].name) &&
                            snap.desc[i].kind <= STATS_GAUGE);
            FUZZ_EXPECT(snap.pid > 0);
            FUZZ_EXPECT(snap.started_ns > 0 && snap.updated_ns > 0);
            /* what viewstats computes: UBSan ends the run on overflow */
            uptime = now_real_ns() - snap.started_ns;
            uptime = snap.updated_ns - snap.started_ns;
            uptime = now_real_ns() - snap.updated_ns;
            (void)uptime;
            (void)stats_find(&snap, "msgs");
        } else {
            FUZZ_EXPECT(errno == EPROTO || errno == EAGAIN);
        }
    } else {
        FUZZ_EXPECT(errno == EPROTO);
    }
    free(b);
    return 0;
}

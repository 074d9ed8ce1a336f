/* cachebench.c -- measures the two caches of chapter 5: mpool against
 * glibc malloc/free, and how full a multi-hash gets before its first
 * failed insert, and how fast it finds.
 *
 * Allocation: N live 64-byte objects; each round frees all N in a random
 * order and allocates N again, touching each new object. The figure is
 * the time of one free plus one allocation, best of three runs.
 * Multi-hash: random 64-bit keys are inserted until the first ENOSPC; the
 * load factor is then used / slots. Finds are timed on that full table,
 * for keys it holds (hits) and keys it does not (misses). */
#include "log.h"
#include "now.h"
#include "mhash.h"
#include "mpool.h"
#include "opts.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 64
#define TRIES 3 /* runs of each allocation test; the best one counts */

static const char usage[] =
    " [-h] [-n SLOTS] [-o OPS] [-s SEED]\n"
    "Compares mpool with malloc/free (64-byte objects, 1,000 and\n"
    "1,000,000 live) and measures the multi-hash: load factor at the\n"
    "first failed insert for 8, 20 and 50 rows, equal and decreasing,\n"
    "and find throughput.\n"
    "  -n SLOTS  multi-hash size in slots (default 1000000)\n"
    "  -o OPS    free+alloc pairs per run, 1,000 live (default 10000000;\n"
    "            a fifth of it with 1,000,000 live)\n"
    "  -s SEED   random seed (default 1)\n"
    "  -h        show this help\n";

static volatile sig_atomic_t stop;

static void on_signal(int signo) { stop = signo; }

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* --- mpool against malloc ------------------------------------------------- */

struct alloc_run {
    void **obj;     /* the live objects */
    uint32_t *perm; /* the order in which they are freed */
    size_t live, rounds;
    struct mpool *mp; /* NULL: malloc */
};

static void *get(struct mpool *mp)
{
    return mp ? mpool_alloc(mp) : malloc(CHUNK);
}

static void put(struct mpool *mp, void *p)
{
    if (mp)
        mpool_free(mp, p);
    else
        free(p);
}

/* Seconds per free+alloc pair, or a negative value on failure. */
static double alloc_rounds(struct alloc_run *r)
{
    double t0;

    for (size_t i = 0; i < r->live; i++)
        if ((r->obj[i] = get(r->mp)) == NULL)
            return -1;
    t0 = (now_mono_ns() / 1e9);
    for (size_t n = 0; n < r->rounds && !stop; n++) {
        for (size_t i = 0; i < r->live; i++)
            put(r->mp, r->obj[r->perm[i]]);
        for (size_t i = 0; i < r->live; i++) {
            r->obj[i] = get(r->mp);
            if (r->obj[i] == NULL)
                return -1;
            *(size_t *)r->obj[i] = i; /* a real user writes its object */
        }
    }
    t0 = ((now_mono_ns() / 1e9) - t0) / (double)(r->rounds * r->live);
    for (size_t i = 0; i < r->live; i++)
        put(r->mp, r->obj[i]);
    return t0;
}

static double best_of(struct alloc_run *r)
{
    double best = 1e9;

    for (int t = 0; t < TRIES && !stop; t++) {
        double s = alloc_rounds(r);
        if (s < 0)
            return s;
        if (s < best)
            best = s;
    }
    return best;
}

/* One line of the allocation table. 0, or -1 after logging why. */
static int bench_alloc(size_t live, size_t ops, uint64_t *seed)
{
    struct alloc_run r = {0};
    struct mpool mp;
    size_t size = mpool_size(live, CHUNK);
    void *mem = NULL;
    double tm, tp;
    int rc = -1;

    r.live = live;
    r.rounds = ops / live > 1 ? ops / live : 2;
    r.obj = calloc(live, sizeof(*r.obj));
    r.perm = malloc(live * sizeof(*r.perm));
    if (!r.obj || !r.perm || posix_memalign(&mem, 64, size) != 0) {
        log_error("out of memory for %zu objects", live);
        goto out;
    }
    for (size_t i = 0; i < live; i++)
        r.perm[i] = (uint32_t)i;
    for (size_t i = live - 1; i > 0; i--) {
        size_t j = splitmix(seed) % (i + 1);
        uint32_t t = r.perm[i];
        r.perm[i] = r.perm[j];
        r.perm[j] = t;
    }
    tm = best_of(&r);
    if (mpool_init(&mp, mem, size, CHUNK, 0) < 0) {
        log_error("mpool_init: %s", strerror(errno));
        goto out;
    }
    r.mp = &mp;
    tp = best_of(&r);
    mpool_release(&mp);
    if (stop) { /* interrupted: the figures are meaningless */
        rc = 0;
        goto out;
    }
    if (tm < 0 || tp < 0) {
        log_error("allocation failed with %zu live objects", live);
        goto out;
    }
    printf("%10zu  %12.1f  %12.1f  %8.2fx  (target %.1fx: %s)\n", live,
           tm * 1e9, tp * 1e9, tm / tp, live >= 1000000 ? 4.0 : 2.5,
           tm / tp >= (live >= 1000000 ? 4.0 : 2.5) ? "met" : "NOT met");
    rc = 0;
out:
    free(mem);
    free(r.perm);
    free(r.obj);
    return rc;
}

/* --- multi-hash ------------------------------------------------------------
 */

/* Finds of n keys from keys[], in a scattered order; Mops/s. */
static double find_rate(const struct mhash *h, const uint64_t *keys, size_t n,
                        size_t ops, int want)
{
    uint64_t rec, sink = 0;
    size_t bad = 0, i = 0;
    double t0 = (now_mono_ns() / 1e9), t;

    for (size_t k = 0; k < ops; k++) {
        i = (i + 7919) % n; /* a prime stride: every key, no pattern */
        if (mhash_find(h, keys[i], &rec) == 0)
            sink += rec;
        else
            bad += errno != ENOENT;
    }
    t = (now_mono_ns() / 1e9) - t0;
    if (bad || (want && sink == 0))
        return -1;
    return (double)ops / t / 1e6;
}

/* Fill a table of g until the first failed insert; print a line. */
static int bench_mhash(const struct mhash_geom *g, uint64_t seed)
{
    size_t size = mhash_size(g), n = 0, cap;
    uint64_t *keys = NULL, *miss = NULL, s = seed;
    struct mhash_stats st;
    struct mhash h;
    void *mem = NULL;
    double t0, ins, hit, mis;
    int rc = -1;

    if (size == 0 || posix_memalign(&mem, 64, size) != 0 ||
        mhash_init(&h, mem, size, g) < 0) {
        log_error("cannot build a %u-row table: %s", g->rows, strerror(errno));
        goto out;
    }
    cap = h.nslots;
    keys = malloc((cap + 1) * sizeof(*keys)); /* + the one that fails */
    miss = malloc(cap * sizeof(*miss));
    if (!keys || !miss) {
        log_error("out of memory for %zu keys", cap);
        goto out;
    }
    t0 = (now_mono_ns() / 1e9);
    for (;; n++) {
        uint64_t v = n;
        keys[n] = splitmix(&s);
        if (mhash_insert(&h, keys[n], &v) < 0)
            break;
    }
    ins = (double)n / ((now_mono_ns() / 1e9) - t0) / 1e6;
    if (errno != ENOSPC) {
        log_error("insert %zu: %s", n, strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        miss[i] = splitmix(&s); /* absent: 2^-64 odds of a collision */
    hit = find_rate(&h, keys, n, 4 * n, 1);
    mis = find_rate(&h, miss, n, 4 * n, 0);
    mhash_stats(&h, &st);
    printf("%4u  %-10s  %9llu  %6.4f  %9.1f  %9.1f  %9.1f   %u .. %u\n",
           g->rows, g->decreasing ? "decreasing" : "equal",
           (unsigned long long)st.slots, st.load, ins, hit, mis, st.primes[0],
           st.primes[g->rows - 1]);
    rc = hit < 0 || mis < 0 ? -1 : 0;
    if (rc < 0)
        log_error("finds gave wrong answers");
out:
    free(miss);
    free(keys);
    free(mem);
    return rc;
}

int main(int argc, char **argv)
{
    static const uint32_t rows[] = {8, 20, 50};
    uint64_t slots = 1000000, ops = 10000000, seed = 1, s;
    struct sigaction sa = {.sa_handler = on_signal};
    int c;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    opterr = 0;
    while ((c = getopt(argc, argv, ":hn:o:s:")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'n':
            slots = opts_uint_arg("slots", optarg, 100000, 1u << 30);
            break;
        case 'o':
            ops = opts_uint_arg("ops", optarg, 1000000, 1ull << 36);
            break;
        case 's': seed = opts_uint_arg("seed", optarg, 0, UINT64_MAX); break;
        default: opts_bad_option(c, optopt);
        }
    }
    if (optind != argc)
        opts_fail("unexpected argument '%s'", argv[optind]);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    setvbuf(stdout, NULL, _IOLBF, 0); /* each line as soon as measured */

    printf("mpool vs malloc/free: %d-byte objects, frees in random order, "
           "ns per free+alloc\n",
           CHUNK);
    printf("%10s  %12s  %12s  %9s\n", "live", "malloc", "mpool", "speed-up");
    s = seed;
    if (bench_alloc(1000, ops, &s) < 0 || bench_alloc(1000000, ops / 5, &s) < 0)
        return 1;

    printf("\nmulti-hash: random keys inserted until the first failure; "
           "rates in M/s\n");
    printf("%4s  %-10s  %9s  %6s  %9s  %9s  %9s   %s\n", "rows", "rows are",
           "slots", "load", "insert", "find hit", "find miss", "primes");
    for (int d = 0; d < 2 && !stop; d++)
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]) && !stop; i++) {
            struct mhash_geom g = {rows[i], slots, 8, d == 1};
            if (bench_mhash(&g, seed + i) < 0)
                return stop ? 0 : 1;
        }
    fflush(stdout);
    return 0;
}

/* mhash.c -- multi-hash: R rows of prime sizes, one writer, many readers.
 *
 * Memory layout (offsets from the table's start, no pointers):
 *   0     struct mhash_hdr: magic, version, geometry, primes, record count
 *   320   nslots slots of slot_size bytes, row 0 first
 * A slot is { seq, state, key, record words }. state says empty or used,
 * so every key, 0 included, is a valid key; a fresh (zeroed) slot is
 * empty.
 *
 * Per-slot seqlock. seq is even when the slot is stable and odd while the
 * writer changes it. The writer: seq = odd; release fence; store state,
 * key and record (relaxed atomics); seq = even (release). A reader: load
 * seq (acquire); load the fields (relaxed); acquire fence; load seq again.
 * If the two loads differ or the first was odd, what it read may be torn
 * and it is thrown away. The fields are atomics so the race is defined
 * behaviour (Boehm, "Can seqlocks get along with programming language
 * memory models?", 2012). A 32-bit seq could wrap back to the same value
 * only after 2^31 writes to one slot during a single read.
 *
 * Invariants (writer's): a key is in at most one slot; hdr->used counts
 * used slots (a writer killed between the two stores leaves it one off:
 * the next writer to attach a segment counts them again). Everything a reader
 * uses to compute an address (rows, primes, row starts, slot size) is a
 * validated copy in struct mhash, never re-read from the shared memory. */
#include "mhash.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MHASH_MAGIC     0x4d485348u /* "MHSH" */
#define MHASH_VERSION   1u
#define FLAG_DECREASING 1u
#define SLOT_USED       1u
/* Decreasing rows shrink geometrically, the last one LAST_RATIO times
 * the first: a tenth gives 0.95 load at the first failure with 20 rows
 * (bench), against 0.85 for equal rows, without rows too small to use. */
#define LAST_RATIO    0.1
#define FOREACH_TRIES 64

struct mhash_hdr {
    uint32_t magic;
    uint32_t version;
    uint32_t rows;
    uint32_t rec_size;
    uint32_t slot_size;
    uint32_t flags;
    uint64_t nslots;
    uint64_t slots_off;
    _Atomic uint64_t used; /* written by the writer only */
    uint8_t pad[16];
    uint32_t primes[MHASH_MAX_ROWS];
};

struct mhash_slot {
    _Atomic uint32_t seq;
    _Atomic uint32_t state;
    _Atomic uint64_t key;
    _Atomic uint64_t rec[];
};

_Static_assert(sizeof(struct mhash_hdr) == 64 + 4 * MHASH_MAX_ROWS,
               "header layout");
_Static_assert(sizeof(struct mhash_hdr) % 64 == 0, "slots start on a line");
_Static_assert(sizeof(struct mhash_slot) == 16, "slot header");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
               "lock-free atomics work across processes");

/* --- primes ---------------------------------------------------------- */

static uint64_t powmod(uint64_t b, uint64_t e, uint64_t m)
{
    uint64_t r = 1;

    b %= m;
    for (; e; e >>= 1, b = b * b % m) /* m < 2^32: no overflow */
        if (e & 1)
            r = r * b % m;
    return r;
}

/* Miller-Rabin with bases 2, 7 and 61: exact for every n < 4,759,123,141
 * (Jaeschke 1993), so for every 32-bit n. */
bool mhash_is_prime(uint64_t n)
{
    static const uint64_t bases[] = {2, 7, 61};
    uint64_t d = n - 1;
    int s = 0;

    if (n < 2 || n > UINT32_MAX)
        return false;
    if (n % 2 == 0)
        return n == 2;
    for (; d % 2 == 0; s++)
        d /= 2;
    for (int i = 0; i < 3; i++) {
        uint64_t a = bases[i] % n, x;
        if (a == 0)
            continue;
        x = powmod(a, d, n);
        if (x == 1 || x == n - 1)
            continue;
        for (int r = 1; r < s && x != n - 1; r++)
            x = x * x % n;
        if (x != n - 1)
            return false;
    }
    return true;
}

static bool geom_ok(const struct mhash_geom *g)
{
    return g->rows >= 1 && g->rows <= MHASH_MAX_ROWS && g->rec_size >= 1 &&
           g->rec_size <= MHASH_MAX_REC && g->capacity >= 2 * g->rows &&
           g->capacity / g->rows <= MHASH_MAX_ROW;
}

int mhash_primes(const struct mhash_geom *g, uint32_t *primes)
{
    double w = 1.0, sum = 0.0, ratio = 1.0, lift = 0.0;
    uint64_t prev = (uint64_t)UINT32_MAX + 1;

    if (!geom_ok(g))
        goto out_einval;
    if (g->decreasing && g->rows > 1)
        ratio = pow(LAST_RATIO, 1.0 / (g->rows - 1));
    for (uint32_t i = 0; i < g->rows; i++, w *= ratio)
        sum += w;
    /* Equal rows take the rows primes just below the target, spaced by
     * about ln(target) each: start that much higher to centre them. */
    if (ratio == 1.0)
        lift = g->rows * log((double)g->capacity / g->rows) / 2;
    w = 1.0;
    for (uint32_t i = 0; i < g->rows; i++, w *= ratio) {
        uint64_t t = (uint64_t)((double)g->capacity * w / sum + lift);
        if (t >= prev)
            t = prev - 1; /* distinct: strictly below the previous row */
        while (t >= 2 && !mhash_is_prime(t))
            t--;
        if (t < 2)
            goto out_einval; /* too many rows for so few slots */
        primes[i] = (uint32_t)t;
        prev = t;
    }
    return 0;

out_einval:
    errno = EINVAL;
    return -1;
}

static uint32_t slot_size_for(uint32_t rec_size)
{
    return (uint32_t)(sizeof(struct mhash_slot) + (rec_size + 7) / 8 * 8);
}

size_t mhash_size(const struct mhash_geom *g)
{
    uint32_t primes[MHASH_MAX_ROWS];
    uint64_t n = 0;

    if (mhash_primes(g, primes) < 0)
        return 0;
    for (uint32_t i = 0; i < g->rows; i++)
        n += primes[i];
    if (n > (SIZE_MAX - sizeof(struct mhash_hdr)) / slot_size_for(g->rec_size))
        return 0;
    return sizeof(struct mhash_hdr) + n * slot_size_for(g->rec_size);
}

/* --- key % prime without a divide -------------------------------------- */

/* A 64-bit divide costs tens of cycles and a find does R of them. The
 * quotient n / d for any 64-bit n, 1 < d < 2^32, is instead
 *   t = (m * n) >> 64;  q = (t + ((n - t) >> 1)) >> (l - 1)
 * with l = ceil(log2 d) and m = floor(2^64 (2^l - d) / d) + 1 (Granlund
 * and Montgomery, "Division by invariant integers using multiplication",
 * 1994, figure 4.1): what compilers emit for a constant divisor. */
static void mod_prepare(uint32_t d, uint64_t *magic, uint8_t *shift)
{
    unsigned l = 64 - (unsigned)__builtin_clzll((uint64_t)d - 1);

    *shift = (uint8_t)l;
#ifdef __SIZEOF_INT128__
    *magic = (uint64_t)(((unsigned __int128)((1ull << l) - d) << 64) / d) + 1;
#else
    *magic = 0;
#endif
}

static uint64_t mod_row(const struct mhash *h, uint32_t row, uint64_t n)
{
#ifdef __SIZEOF_INT128__
    uint64_t t = (uint64_t)(((unsigned __int128)h->mod_magic[row] * n) >> 64);
    uint64_t q = (t + ((n - t) >> 1)) >> (h->mod_shift[row] - 1);

    return n - q * h->primes[row];
#else
    return n % h->primes[row];
#endif
}

/* --- set-up ---------------------------------------------------------- */

/* Fill h from validated geometry. */
static void fill_handle(struct mhash *h, void *mem, uint32_t rows,
                        uint32_t rec_size, const uint32_t *primes,
                        bool readonly)
{
    uint64_t start = 0;

    h->hdr = mem;
    h->slots = (unsigned char *)mem + sizeof(struct mhash_hdr);
    h->rows = rows;
    h->rec_size = rec_size;
    h->slot_size = slot_size_for(rec_size);
    h->readonly = readonly;
    for (uint32_t i = 0; i < rows; i++) {
        h->primes[i] = primes[i];
        h->row_start[i] = start;
        start += primes[i];
        mod_prepare(primes[i], &h->mod_magic[i], &h->mod_shift[i]);
    }
    h->nslots = start;
}

int mhash_init(struct mhash *h, void *mem, size_t size,
               const struct mhash_geom *g)
{
    struct mhash_hdr *hdr = mem;
    size_t need = mhash_size(g);

    if (need == 0 || size < need || mem == NULL || (uintptr_t)mem % 64 != 0) {
        errno = EINVAL;
        return -1;
    }
    memset(mem, 0, need);
    hdr->magic = MHASH_MAGIC;
    hdr->version = MHASH_VERSION;
    hdr->rows = g->rows;
    hdr->rec_size = g->rec_size;
    hdr->slot_size = slot_size_for(g->rec_size);
    hdr->flags = g->decreasing ? FLAG_DECREASING : 0;
    mhash_primes(g, hdr->primes);
    fill_handle(h, mem, g->rows, g->rec_size, hdr->primes, false);
    h->decreasing = g->decreasing;
    hdr->nslots = h->nslots;
    hdr->slots_off = sizeof(struct mhash_hdr);
    return 0;
}

/* Check a copy of the header (never the shared original, which another
 * process could change between the check and the use). */
static bool header_ok(const struct mhash_hdr *c, size_t size)
{
    uint64_t n = 0;

    if (c->magic != MHASH_MAGIC || c->version != MHASH_VERSION || c->rows < 1 ||
        c->rows > MHASH_MAX_ROWS || c->rec_size < 1 ||
        c->rec_size > MHASH_MAX_REC ||
        c->slot_size != slot_size_for(c->rec_size) ||
        (c->flags & ~FLAG_DECREASING) != 0 ||
        c->slots_off != sizeof(struct mhash_hdr))
        return false;
    for (uint32_t i = 0; i < c->rows; i++) {
        if (!mhash_is_prime(c->primes[i]) ||
            (i > 0 && c->primes[i] >= c->primes[i - 1]))
            return false;
        n += c->primes[i];
    }
    return n == c->nslots &&
           n <= (size - sizeof(struct mhash_hdr)) / c->slot_size;
}

int mhash_attach(struct mhash *h, void *mem, size_t size, bool readonly)
{
    struct mhash_hdr copy;

    if (mem == NULL || (uintptr_t)mem % 64 != 0 || size < sizeof(copy))
        goto out_eproto;
    memcpy(&copy, mem, offsetof(struct mhash_hdr, used));
    memcpy(copy.primes, ((struct mhash_hdr *)mem)->primes, sizeof(copy.primes));
    if (!header_ok(&copy, size))
        goto out_eproto;
    fill_handle(h, mem, copy.rows, copy.rec_size, copy.primes, readonly);
    h->decreasing = (copy.flags & FLAG_DECREASING) != 0;
    return 0;

out_eproto:
    errno = EPROTO;
    return -1;
}

void mhash_release(struct mhash *h) { memset(h, 0, sizeof(*h)); }

int mhash_create(struct mhash *h, key_t key, const struct mhash_geom *g)
{
    size_t size = mhash_size(g);
    struct shmem sm;

    if (size == 0) {
        errno = EINVAL;
        return -1;
    }
    if (shmem_create(&sm, key, MHASH_MAGIC, MHASH_VERSION, size) < 0)
        return -1;
    mhash_init(h, shmem_data(&sm), sm.size, g);
    h->sm = sm;
    shmem_publish(&h->sm);
    return 0;
}

/* Attach the table in an opened segment; closes it on failure. A writer
 * counts the used slots again: the last one may have been killed between
 * a slot's write and the count's (a restarted md's gauge stayed one off
 * for good, so its sessions never went back to 0). */
static int attach_segment(struct mhash *h, struct shmem *sm, bool readonly)
{
    struct mhash_stats st;

    if (mhash_attach(h, shmem_data(sm), sm->size, readonly) < 0) {
        shmem_close(sm);
        errno = EPROTO;
        return -1;
    }
    h->sm = *sm;
    if (!readonly) {
        mhash_stats(h, &st);
        /* relaxed: a statistic, as in count_add() */
        atomic_store_explicit(&h->hdr->used, st.used, memory_order_relaxed);
    }
    return 0;
}

int mhash_open(struct mhash *h, key_t key, bool readonly)
{
    struct shmem sm;

    if (shmem_open(&sm, key, MHASH_MAGIC, MHASH_VERSION,
                   sizeof(struct mhash_hdr), readonly) < 0)
        return -1;
    return attach_segment(h, &sm, readonly);
}

int mhash_open_or_create(struct mhash *h, key_t key, const struct mhash_geom *g,
                         bool *created)
{
    size_t size = mhash_size(g);
    struct shmem sm;

    if (size == 0) {
        errno = EINVAL;
        return -1;
    }
    if (shmem_open_or_create(&sm, key, MHASH_MAGIC, MHASH_VERSION, size,
                             created) < 0)
        return -1;
    if (*created) {
        mhash_init(h, shmem_data(&sm), sm.size, g);
        h->sm = sm;
        shmem_publish(&h->sm);
        return 0;
    }
    if (attach_segment(h, &sm, false) < 0)
        return -1;
    if (h->rec_size != g->rec_size) {
        mhash_close(h);
        errno = EPROTO;
        return -1;
    }
    return 0;
}

void mhash_close(struct mhash *h)
{
    shmem_close(&h->sm);
    mhash_release(h);
}

int mhash_remove_key(key_t key) { return shmem_remove_key(key, MHASH_MAGIC); }

int mhash_remove(struct mhash *h)
{
    int rc = shmem_remove(&h->sm);

    mhash_release(h);
    return rc;
}

/* --- slots ----------------------------------------------------------- */

static struct mhash_slot *slot_at(const struct mhash *h, uint32_t row,
                                  uint64_t key)
{
    uint64_t i = h->row_start[row] + mod_row(h, row, key);

    return (struct mhash_slot *)(h->slots + i * h->slot_size);
}

static void copy_out(const struct mhash_slot *s, void *rec, uint32_t len)
{
    unsigned char *out = rec;

    for (uint32_t i = 0; len > 0; i++) {
        uint64_t w = atomic_load_explicit(&s->rec[i], memory_order_relaxed);
        uint32_t n = len < 8 ? len : 8;
        memcpy(out, &w, n);
        out += n;
        len -= n;
    }
}

/* The writer's side of the seqlock: state, key and record in one step as
 * readers see it. rec NULL stores zeros. */
static void slot_write(const struct mhash *h, struct mhash_slot *s,
                       uint32_t state, uint64_t key, const void *rec)
{
    /* odd; already odd if a writer was killed in the middle of a write
     * here, and then this write makes the slot readable again */
    uint32_t seq = atomic_load_explicit(&s->seq, memory_order_relaxed) | 1u;
    const unsigned char *in = rec;
    uint32_t len = h->rec_size;

    atomic_store_explicit(&s->seq, seq, memory_order_relaxed);
    /* release fence: a reader that sees any store below also sees the odd
     * seq; pairs with the acquire fence in slot_read() */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&s->state, state, memory_order_relaxed);
    atomic_store_explicit(&s->key, key, memory_order_relaxed);
    for (uint32_t i = 0; len > 0; i++) {
        uint64_t w = 0;
        uint32_t n = len < 8 ? len : 8;
        if (in) {
            memcpy(&w, in, n);
            in += n;
        }
        atomic_store_explicit(&s->rec[i], w, memory_order_relaxed);
        len -= n;
    }
    /* release: pairs with the acquire load of seq in slot_read() */
    atomic_store_explicit(&s->seq, seq + 1, memory_order_release);
}

enum read_result { READ_EMPTY, READ_OTHER, READ_MATCH, READ_BUSY };

/* The reader's side. Does the slot hold key (and then copy its record to
 * rec, if not NULL)? want_any: match any used slot, return its key. */
static enum read_result slot_read(const struct mhash *h,
                                  const struct mhash_slot *s, uint64_t *key,
                                  bool want_any, void *rec)
{
    /* acquire: pairs with the final release store in slot_write() */
    uint32_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
    uint32_t state;
    uint64_t k;
    enum read_result r;

    if (seq & 1)
        return READ_BUSY;
    state = atomic_load_explicit(&s->state, memory_order_relaxed);
    k = atomic_load_explicit(&s->key, memory_order_relaxed);
    if (state != SLOT_USED)
        r = READ_EMPTY;
    else if (want_any || k == *key)
        r = READ_MATCH;
    else
        r = READ_OTHER;
    if (r == READ_MATCH && rec)
        copy_out(s, rec, h->rec_size);
    /* acquire fence: if a load above saw a store of a newer write, the
     * load below sees that write's odd seq; pairs with the release fence
     * in slot_write() */
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&s->seq, memory_order_relaxed) != seq)
        return READ_BUSY;
    *key = k;
    return r;
}

/* The writer needs no seqlock to read: nobody else writes. */
static bool slot_holds(const struct mhash_slot *s, uint64_t key)
{
    return atomic_load_explicit(&s->state, memory_order_relaxed) == SLOT_USED &&
           atomic_load_explicit(&s->key, memory_order_relaxed) == key;
}

static bool slot_empty(const struct mhash_slot *s)
{
    return atomic_load_explicit(&s->state, memory_order_relaxed) != SLOT_USED;
}

/* Writer: key's slot, and the first empty candidate if it has none. A key
 * may sit in any row (an earlier row's slot may have emptied since), so
 * all R candidates are looked at. */
/* Compute key's R candidate slots and start loading them all: in a big
 * table each is a cache miss, and R misses in parallel cost about one. */
static void candidates(const struct mhash *h, uint64_t key,
                       struct mhash_slot **s)
{
    for (uint32_t r = 0; r < h->rows; r++) {
        s[r] = slot_at(h, r, key);
        __builtin_prefetch(s[r]);
    }
}

static struct mhash_slot *locate(const struct mhash *h, uint64_t key,
                                 struct mhash_slot **empty)
{
    struct mhash_slot *cand[MHASH_MAX_ROWS];

    candidates(h, key, cand);
    *empty = NULL;
    for (uint32_t r = 0; r < h->rows; r++) {
        struct mhash_slot *s = cand[r];
        if (slot_holds(s, key))
            return s;
        if (*empty == NULL && slot_empty(s))
            *empty = s;
    }
    return NULL;
}

static int writable(const struct mhash *h)
{
    if (h->readonly) {
        errno = EROFS;
        return -1;
    }
    return 0;
}

static void count_add(struct mhash *h, int delta)
{
    uint64_t n = atomic_load_explicit(&h->hdr->used, memory_order_relaxed);

    /* relaxed: a statistic; readers treat it as a hint */
    atomic_store_explicit(&h->hdr->used, n + (uint64_t)(int64_t)delta,
                          memory_order_relaxed);
}

int mhash_insert(struct mhash *h, uint64_t key, const void *rec)
{
    struct mhash_slot *empty;

    if (writable(h) < 0)
        return -1;
    if (locate(h, key, &empty)) {
        errno = EEXIST;
        return -1;
    }
    if (empty == NULL) {
        errno = ENOSPC;
        return -1;
    }
    slot_write(h, empty, SLOT_USED, key, rec);
    count_add(h, 1);
    return 0;
}

int mhash_update(struct mhash *h, uint64_t key, const void *rec)
{
    struct mhash_slot *s, *empty;

    if (writable(h) < 0)
        return -1;
    s = locate(h, key, &empty);
    if (s == NULL) {
        errno = ENOENT;
        return -1;
    }
    slot_write(h, s, SLOT_USED, key, rec);
    return 0;
}

int mhash_get_or_insert(struct mhash *h, uint64_t key, void *rec,
                        bool *inserted)
{
    struct mhash_slot *s, *empty;

    if (writable(h) < 0)
        return -1;
    s = locate(h, key, &empty);
    if (s) {
        copy_out(s, rec, h->rec_size);
        *inserted = false;
        return 0;
    }
    if (empty == NULL) {
        errno = ENOSPC;
        return -1;
    }
    slot_write(h, empty, SLOT_USED, key, rec);
    count_add(h, 1);
    *inserted = true;
    return 0;
}

int mhash_delete(struct mhash *h, uint64_t key, void *rec)
{
    struct mhash_slot *s, *empty;

    if (writable(h) < 0)
        return -1;
    s = locate(h, key, &empty);
    if (s == NULL) {
        errno = ENOENT;
        return -1;
    }
    if (rec)
        copy_out(s, rec, h->rec_size);
    slot_write(h, s, 0, 0, NULL);
    count_add(h, -1);
    return 0;
}

int mhash_find(const struct mhash *h, uint64_t key, void *rec)
{
    struct mhash_slot *cand[MHASH_MAX_ROWS];
    bool busy = false;

    candidates(h, key, cand);
    for (uint32_t r = 0; r < h->rows; r++) {
        uint64_t k = key;
        switch (slot_read(h, cand[r], &k, false, rec)) {
        case READ_MATCH: return 0;
        case READ_BUSY: busy = true; break;
        default: break;
        }
    }
    /* A slot we could not read may hold key: say so rather than "no". */
    errno = busy ? EAGAIN : ENOENT;
    return -1;
}

/* Read slot s consistently, retrying a little. READ_BUSY if it never
 * settled. */
static enum read_result read_settled(const struct mhash *h,
                                     const struct mhash_slot *s, uint64_t *key,
                                     void *rec)
{
    enum read_result r = READ_BUSY;

    for (int t = 0; t < FOREACH_TRIES && r == READ_BUSY; t++)
        r = slot_read(h, s, key, true, rec);
    return r;
}

int mhash_foreach(const struct mhash *h, mhash_visit_cb cb, void *arg)
{
    void *rec = malloc(h->rec_size);
    bool skipped = false;
    int rc = 0;

    if (rec == NULL)
        return -1;
    for (uint64_t i = 0; i < h->nslots && rc == 0; i++) {
        const struct mhash_slot *s =
            (const void *)(h->slots + i * h->slot_size);
        uint64_t key = 0;
        switch (read_settled(h, s, &key, rec)) {
        case READ_MATCH: rc = cb(key, rec, arg); break;
        case READ_BUSY: skipped = true; break;
        default: break;
        }
    }
    free(rec);
    if (rc != 0) {
        errno = ECANCELED;
        return -1;
    }
    if (skipped) {
        errno = EAGAIN;
        return -1;
    }
    return 0;
}

void mhash_stats(const struct mhash *h, struct mhash_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->rows = h->rows;
    st->rec_size = h->rec_size;
    st->slots = h->nslots;
    st->decreasing = h->decreasing;
    for (uint32_t r = 0; r < h->rows; r++) {
        const unsigned char *row = h->slots + h->row_start[r] * h->slot_size;
        st->primes[r] = h->primes[r];
        for (uint32_t i = 0; i < h->primes[r]; i++)
            if (!slot_empty((const void *)(row + (size_t)i * h->slot_size)))
                st->row_used[r]++;
        st->used += st->row_used[r];
    }
    st->load = (double)st->used / (double)st->slots;
}

uint64_t mhash_count(const struct mhash *h)
{
    uint64_t n = atomic_load_explicit(&h->hdr->used, memory_order_relaxed);

    return n <= h->nslots ? n : h->nslots;
}

/* mpool.c -- fixed-size chunk allocator over memory the caller provides.
 *
 * Layout of the pool's memory (offsets from its start, no pointers):
 *   0                  struct mpool_shared (64 bytes)
 *   64                 uint32_t stack[total]: indices of the free chunks;
 *                      stack[0 .. nfree-1] are free, the top is reused first
 *   64 + 4 * total     bitmap, one bit per chunk (maintained when checked)
 *   data_off           the chunks, data_off a multiple of 64
 * The free list is kept beside the chunks rather than threaded through
 * them, so mpool_free() never touches the freed chunk's cache line: with a
 * million live objects, that line is usually cold.
 *
 * Invariants: nfree <= total; every stack entry below nfree is < total and
 * names a distinct chunk; in a checked pool a chunk's bit is 1 exactly when
 * it is handed out. The handle's geometry was validated once and is never
 * re-read from the memory, so a corrupt header cannot steer an access out
 * of bounds: every index read from the memory is range-checked. */
#include "mpool.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#define MPOOL_MAGIC   0x4d504f4cu /* "MPOL" */
#define MPOOL_VERSION 1u
#define HDR_SIZE      64
#define LINE          64 /* chunks start on a cache line */
/* Larger chunks would not fit the exact index computation below. */
#define MAX_CHUNK_SIZE (1u << 30)

struct mpool_shared {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t total;
    uint64_t chunk_size;
    uint64_t data_off;
    uint64_t nfree;
    uint64_t high_water;
    uint8_t pad[16];
};

_Static_assert(sizeof(struct mpool_shared) == HDR_SIZE, "header size");

static size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

static size_t map_bytes(size_t n) { return (n + 7) / 8; }

static size_t data_offset(size_t n)
{
    return round_up(HDR_SIZE + 4 * n + map_bytes(n), LINE);
}

size_t mpool_size(size_t nchunks, size_t chunk_size)
{
    size_t cs;

    if (nchunks == 0 || nchunks > MPOOL_MAX_CHUNKS || chunk_size == 0 ||
        chunk_size > MAX_CHUNK_SIZE)
        return 0;
    cs = round_up(chunk_size, MPOOL_ALIGN);
    if (nchunks > (SIZE_MAX - data_offset(nchunks)) / cs)
        return 0;
    return data_offset(nchunks) + nchunks * cs;
}

/* How many chunks of cs bytes fit in size bytes (0 if none). */
static size_t chunks_that_fit(size_t size, size_t cs)
{
    size_t n;

    if (size < HDR_SIZE + LINE)
        return 0;
    /* Each chunk costs cs bytes, 4 of stack and 1/8 of bitmap; start from
     * that estimate and correct the rounding. */
    n = (size - HDR_SIZE - LINE) / (cs + 5);
    if (n > MPOOL_MAX_CHUNKS)
        n = MPOOL_MAX_CHUNKS;
    while (n > 0 && mpool_size(n, cs) > size)
        n--;
    while (n < MPOOL_MAX_CHUNKS && mpool_size(n + 1, cs) != 0 &&
           mpool_size(n + 1, cs) <= size)
        n++;
    return n;
}

/* Fill the handle for the pool in mem from geometry g: the header itself
 * (mpool_init) or a validated private copy of it (mpool_attach). */
static void fill_handle(struct mpool *mp, void *mem,
                        const struct mpool_shared *g)
{
    mp->sh = mem;
    mp->chunk_size = g->chunk_size;
    mp->total = g->total;
    mp->flags = g->flags;
    mp->stack = (uint32_t *)((char *)mem + HDR_SIZE);
    mp->map = (unsigned char *)mem + HDR_SIZE + 4 * (size_t)mp->total;
    mp->data = (unsigned char *)mem + data_offset(mp->total);
    /* ceil(2^64 / cs): for off = idx * cs, (off * magic) >> 64 == idx
     * exactly, since idx * (cs * magic - 2^64) < 2^32 * 2^30 < 2^64. */
    mp->div_magic = UINT64_MAX / mp->chunk_size + 1;
}

int mpool_init(struct mpool *mp, void *mem, size_t size, size_t chunk_size,
               unsigned flags)
{
    struct mpool_shared *sh = mem;
    size_t cs, n;

#ifdef SVRTUT_DEBUG
    flags |= MPOOL_CHECKED;
#endif
    if (mem == NULL || (uintptr_t)mem % MPOOL_ALIGN != 0 || chunk_size == 0 ||
        chunk_size > MAX_CHUNK_SIZE || (flags & ~MPOOL_CHECKED) != 0) {
        errno = EINVAL;
        return -1;
    }
    cs = round_up(chunk_size, MPOOL_ALIGN);
    n = chunks_that_fit(size, cs);
    if (n == 0) {
        errno = EINVAL;
        return -1;
    }
    memset(sh, 0, HDR_SIZE);
    sh->magic = MPOOL_MAGIC;
    sh->version = MPOOL_VERSION;
    sh->flags = flags;
    sh->total = (uint32_t)n;
    sh->chunk_size = cs;
    sh->data_off = data_offset(n);
    sh->nfree = n;
    fill_handle(mp, mem, sh);
    /* Lowest address on top of the stack: a fresh pool hands out chunks
     * in address order. */
    for (size_t i = 0; i < n; i++)
        mp->stack[i] = (uint32_t)(n - 1 - i);
    memset(mp->map, 0, map_bytes(n));
    return 0;
}

/* Is sh, a copy of the header of a pool of size bytes, one mpool_init()
 * could have written? */
static bool header_ok(const struct mpool_shared *sh, size_t size)
{
    size_t need;

    if (size < HDR_SIZE || sh->magic != MPOOL_MAGIC ||
        sh->version != MPOOL_VERSION || (sh->flags & ~MPOOL_CHECKED) != 0)
        return false;
    if (sh->chunk_size == 0 || sh->chunk_size > MAX_CHUNK_SIZE ||
        sh->chunk_size % MPOOL_ALIGN != 0 || sh->total == 0)
        return false;
    need = mpool_size(sh->total, sh->chunk_size);
    return need != 0 && need <= size &&
           sh->data_off == data_offset(sh->total) && sh->nfree <= sh->total &&
           sh->high_water <= sh->total;
}

int mpool_attach(struct mpool *mp, void *mem, size_t size)
{
    struct mpool_shared copy;

    if (mem == NULL || (uintptr_t)mem % MPOOL_ALIGN != 0 || size < HDR_SIZE)
        goto out_eproto;
    /* One read of the header: another process may rewrite it at any
     * time, and what was checked must be what the handle gets. */
    memcpy(&copy, mem, sizeof(copy));
    /* compiler barrier: the checks below must read the copy, never
     * reload a field from mem in its place */
    atomic_signal_fence(memory_order_seq_cst);
    if (!header_ok(&copy, size))
        goto out_eproto;
    fill_handle(mp, mem, &copy);
    return 0;

out_eproto:
    errno = EPROTO;
    return -1;
}

void mpool_release(struct mpool *mp) { memset(mp, 0, sizeof(*mp)); }

static bool bit_get(const unsigned char *map, uint32_t i)
{
    return map[i / 8] & (1u << (i % 8));
}

static void bit_flip(unsigned char *map, uint32_t i)
{
    map[i / 8] ^= (unsigned char)(1u << (i % 8));
}

void *mpool_alloc(struct mpool *mp)
{
    struct mpool_shared *sh = mp->sh;
    uint64_t nfree = sh->nfree, used;
    uint32_t idx;

    if (nfree == 0) {
        errno = ENOMEM;
        return NULL;
    }
    if (nfree > mp->total || (idx = mp->stack[nfree - 1]) >= mp->total ||
        ((mp->flags & MPOOL_CHECKED) && bit_get(mp->map, idx))) {
        errno = EPROTO;
        return NULL;
    }
    sh->nfree = --nfree;
    used = mp->total - nfree;
    if (used > sh->high_water)
        sh->high_water = used;
    if (mp->flags & MPOOL_CHECKED)
        bit_flip(mp->map, idx);
    return mp->data + (size_t)idx * mp->chunk_size;
}

/* The chunk index of byte offset off (off < total * chunk_size). */
static uint32_t index_of(const struct mpool *mp, size_t off)
{
#ifdef __SIZEOF_INT128__
    return (uint32_t)(((unsigned __int128)off * mp->div_magic) >> 64);
#else
    return (uint32_t)(off / mp->chunk_size);
#endif
}

uint32_t mpool_index(const struct mpool *mp, const void *p)
{
    /* Unsigned wrap-around turns "before the chunks" into "too far". */
    size_t off = (size_t)((uintptr_t)p - (uintptr_t)mp->data);
    uint32_t idx;

    if (off >= (size_t)mp->total * mp->chunk_size)
        return UINT32_MAX;
    idx = index_of(mp, off);
    if ((size_t)idx * mp->chunk_size != off)
        return UINT32_MAX;
    return idx;
}

void *mpool_chunk(const struct mpool *mp, uint32_t idx)
{
    if (idx >= mp->total)
        return NULL;
    return mp->data + (size_t)idx * mp->chunk_size;
}

int mpool_free(struct mpool *mp, void *p)
{
    struct mpool_shared *sh = mp->sh;
    size_t off = (size_t)((uintptr_t)p - (uintptr_t)mp->data);
    uint64_t nfree = sh->nfree;
    uint32_t idx;

    if (p == NULL)
        return 0;
    /* These two checks are cheap and keep the stack in bounds. */
    if (off >= (size_t)mp->total * mp->chunk_size || nfree >= mp->total)
        goto out_einval;
    idx = index_of(mp, off);
    if (mp->flags & MPOOL_CHECKED) {
        if ((size_t)idx * mp->chunk_size != off || !bit_get(mp->map, idx))
            goto out_einval; /* inside a chunk, or already free */
        bit_flip(mp->map, idx);
    }
    mp->stack[nfree] = idx;
    sh->nfree = nfree + 1;
    return 0;

out_einval:
    errno = EINVAL;
    return -1;
}

void mpool_stats(const struct mpool *mp, struct mpool_stats *st)
{
    uint64_t nfree = mp->sh->nfree, hw = mp->sh->high_water;

    /* Clamped: the memory may be shared and must not be trusted. */
    st->chunk_size = mp->chunk_size;
    st->total = mp->total;
    st->free = nfree <= mp->total ? nfree : mp->total;
    st->used = st->total - st->free;
    st->high_water = hw <= mp->total ? hw : mp->total;
    st->checked = (mp->flags & MPOOL_CHECKED) != 0;
}

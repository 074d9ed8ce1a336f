/* mpool.c -- exercise ch5-mempool: the memory pool of common/mpool.h
 * (tutorial 5.1), with its free list kept as a stack beside the chunks.
 * Everything is here but the three functions at the end: README.md.
 * common/mpool.c is the chapter's answer: do not open it before yours
 * passes.
 *
 * Layout of the pool's memory (offsets from its start, no pointers):
 *   0                  struct mpool_shared (64 bytes)
 *   64                 uint32_t stack[total]: indices of the free chunks,
 *                      stack[0 .. nfree-1]; the top is handed out first
 *   64 + 4 * total     bitmap, one bit per chunk (maintained when checked)
 *   data_off           the chunks, data_off a multiple of 64
 * Indices, not pointers, so the pool works in shared memory mapped at any
 * address; beside the chunks, not inside them, so neither operation reads
 * or writes a chunk.
 *
 * Invariants: nfree <= total; the nfree entries at the bottom of the stack
 * are distinct indices below total; in a checked pool a chunk's bit is 1
 * exactly when it is handed out. The handle's geometry is a validated copy,
 * never re-read from the memory; every index read from the memory is
 * range-checked before it is used. */
#include "mpool.h"

#include <errno.h>
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
    /* A chunk costs cs bytes, 4 of stack and 1/8 of bitmap: start from
     * that estimate and correct the rounding either way. */
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

/* Fill the handle from a validated copy of the header. */
static void fill_handle(struct mpool *mp, void *mem,
                        const struct mpool_shared *copy)
{
    mp->sh = mem;
    mp->stack = (uint32_t *)((unsigned char *)mem + HDR_SIZE);
    mp->chunk_size = copy->chunk_size;
    mp->total = copy->total;
    mp->flags = copy->flags;
    mp->map = (unsigned char *)mem + HDR_SIZE + 4 * (size_t)copy->total;
    mp->data = (unsigned char *)mem + copy->data_off;
    /* ceil(2^64 / cs): for off = idx * cs, (off * magic) >> 64 == idx
     * exactly, since idx * (cs * magic - 2^64) < 2^32 * 2^30 < 2^64. */
    mp->div_magic = UINT64_MAX / mp->chunk_size + 1;
}

/* The chunk index of byte offset off (off < total * chunk_size). */
static uint32_t index_of(const struct mpool *mp, uint64_t off)
{
#ifdef __SIZEOF_INT128__
    return (uint32_t)(((unsigned __int128)off * mp->div_magic) >> 64);
#else
    return (uint32_t)(off / mp->chunk_size);
#endif
}

/* The helpers below are for your part: static inline, so that the
 * skeleton, which does not call them yet, builds without warnings. */
static inline bool bit_get(const unsigned char *map, uint32_t i)
{
    return map[i / 8] & (1u << (i % 8));
}

static inline void bit_flip(unsigned char *map, uint32_t i)
{
    map[i / 8] ^= (unsigned char)(1u << (i % 8));
}

/* Write a fresh header for chunks of cs bytes (already rounded) in mem
 * (size bytes): as many as fit, all free, the stack not filled yet, the
 * bitmap clear. 0, or -1 with EINVAL (misaligned memory, bad flags, no
 * room for a single chunk). */
static inline int header_write(void *mem, size_t size, size_t cs,
                               unsigned flags)
{
    struct mpool_shared *sh = mem;
    size_t n;

#ifdef SVRTUT_DEBUG
    flags |= MPOOL_CHECKED;
#endif
    if (mem == NULL || (uintptr_t)mem % MPOOL_ALIGN != 0 ||
        (flags & ~MPOOL_CHECKED) != 0)
        goto out_einval;
    n = chunks_that_fit(size, cs);
    if (n == 0)
        goto out_einval;
    *sh = (struct mpool_shared){.magic = MPOOL_MAGIC,
                                .version = MPOOL_VERSION,
                                .flags = flags,
                                .total = (uint32_t)n,
                                .chunk_size = cs,
                                .data_off = data_offset(n),
                                .nfree = n};
    memset((unsigned char *)mem + HDR_SIZE + 4 * n, 0, map_bytes(n));
    return 0;

out_einval:
    errno = EINVAL;
    return -1;
}

/* A chunk was handed out and nfree are left: the count and the
 * high-water mark. */
static inline void note_alloc(struct mpool *mp, uint64_t nfree)
{
    struct mpool_shared *sh = mp->sh;

    sh->nfree = nfree;
    if (mp->total - nfree > sh->high_water)
        sh->high_water = mp->total - nfree;
}

/* Is the copy of a header one mpool_init() could have written for memory
 * of size bytes? */
static bool header_ok(const struct mpool_shared *c, size_t size)
{
    size_t need;

    if (c->magic != MPOOL_MAGIC || c->version != MPOOL_VERSION ||
        (c->flags & ~MPOOL_CHECKED) != 0)
        return false;
    if (c->chunk_size == 0 || c->chunk_size > MAX_CHUNK_SIZE ||
        c->chunk_size % MPOOL_ALIGN != 0 || c->total == 0)
        return false;
    need = mpool_size(c->total, c->chunk_size);
    return need != 0 && need <= size && c->data_off == data_offset(c->total) &&
           c->nfree <= c->total && c->high_water <= c->total;
}

int mpool_attach(struct mpool *mp, void *mem, size_t size)
{
    struct mpool_shared copy;

    /* One copy, checked and then used: the memory may change under us. */
    if (mem == NULL || (uintptr_t)mem % MPOOL_ALIGN != 0 || size < HDR_SIZE)
        goto out_eproto;
    memcpy(&copy, mem, sizeof(copy));
    if (!header_ok(&copy, size))
        goto out_eproto;
    fill_handle(mp, mem, &copy);
    return 0;

out_eproto:
    errno = EPROTO;
    return -1;
}

void mpool_release(struct mpool *mp) { memset(mp, 0, sizeof(*mp)); }

uint32_t mpool_index(const struct mpool *mp, const void *p)
{
    uint64_t off = (uint64_t)((uintptr_t)p - (uintptr_t)mp->data);
    uint32_t idx;

    if (off >= (uint64_t)mp->total * mp->chunk_size)
        return UINT32_MAX;
    idx = index_of(mp, off);
    return (uint64_t)idx * mp->chunk_size == off ? idx : UINT32_MAX;
}

void *mpool_chunk(const struct mpool *mp, uint32_t idx)
{
    if (idx >= mp->total)
        return NULL;
    return mp->data + (size_t)idx * mp->chunk_size;
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

/* --- the free stack: your part (README.md, "Your part") ---------------- */

/* Lay out a pool in mem: header_write() for chunks rounded up to
 * MPOOL_ALIGN, fill_handle(), then every chunk on the free stack. */
int mpool_init(struct mpool *mp, void *mem, size_t size, size_t chunk_size,
               unsigned flags)
{
    if (chunk_size == 0 || chunk_size > MAX_CHUNK_SIZE) {
        errno = EINVAL;
        return -1;
    }
    /* Every chunk starts on a multiple of MPOOL_ALIGN, as malloc's do. */
    if (header_write(mem, size, round_up(chunk_size, MPOOL_ALIGN), flags) < 0)
        return -1;
    fill_handle(mp, mem, mem);
    /* Chunk 0 on top, the last one at the bottom: a fresh pool hands out
     * chunks in address order. */
    for (uint32_t i = 0, top = mp->total - 1; i < mp->total; i++)
        mp->stack[i] = top - i;
    return 0;
}

/* Pop: the top of the stack, its bit set in a checked pool. */
void *mpool_alloc(struct mpool *mp)
{
    uint64_t nfree = mp->sh->nfree;
    uint32_t idx;

    if (nfree == 0) {
        errno = ENOMEM;
        return NULL;
    }
    /* nfree and the entry come from memory others may have scribbled on. */
    idx = nfree <= mp->total ? mp->stack[nfree - 1] : UINT32_MAX;
    if (idx >= mp->total ||
        ((mp->flags & MPOOL_CHECKED) && bit_get(mp->map, idx))) {
        errno = EPROTO;
        return NULL;
    }
    note_alloc(mp, nfree - 1);
    if (mp->flags & MPOOL_CHECKED)
        bit_flip(mp->map, idx);
    return mp->data + (size_t)idx * mp->chunk_size;
}

/* Push, after the checks the contract in mpool.h asks for. */
int mpool_free(struct mpool *mp, void *p)
{
    uint64_t off = (uint64_t)((uintptr_t)p - (uintptr_t)mp->data);
    uint64_t nfree = mp->sh->nfree;
    uint32_t idx;

    if (p == NULL)
        return 0;
    /* Outside the chunks (wrap-around makes "before" look "too far"), or
     * more frees than allocations: the push would leave the stack. */
    if (off >= (uint64_t)mp->total * mp->chunk_size || nfree >= mp->total)
        goto out_einval;
    idx = index_of(mp, off); /* the chunk p points into */
    /* A checked pool also refuses a pointer inside a chunk, and a chunk
     * that is free already. */
    if ((mp->flags & MPOOL_CHECKED) &&
        ((uint64_t)idx * mp->chunk_size != off || !bit_get(mp->map, idx)))
        goto out_einval;
    if (mp->flags & MPOOL_CHECKED)
        bit_flip(mp->map, idx);
    mp->stack[nfree] = idx;
    mp->sh->nfree = nfree + 1;
    return 0;

out_einval:
    errno = EINVAL;
    return -1;
}

/* mpool.h -- fixed-size chunk allocator over memory the caller provides.
 *
 * The pool's memory holds, in order: a small header, the free list (a
 * stack of 32-bit chunk indices), a bitmap used by checked pools, then the
 * chunks themselves. Nothing in it is a pointer, so the same memory works
 * in a shared segment mapped at different addresses: each process keeps
 * its own struct mpool handle, filled by mpool_init() or mpool_attach().
 *
 * A pool is not thread- or process-safe: one user at a time (or the
 * caller's lock). Checked pools (MPOOL_CHECKED, always on when the build
 * defines SVRTUT_DEBUG, as SANITIZE= builds do) refuse a double free and a
 * pointer that is not one of their chunks. */
#ifndef COMMON_MPOOL_H
#define COMMON_MPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Chunks are aligned like malloc()'s results when the memory given to
 * mpool_init() is: sizes round up to a multiple of this. */
#define MPOOL_ALIGN 16
/* The largest pool: chunk indices are 32-bit. */
#define MPOOL_MAX_CHUNKS UINT32_MAX

enum mpool_flags {
    MPOOL_CHECKED = 1u << 0, /* track every chunk: catch double frees */
};

struct mpool_shared; /* the header at the start of the pool's memory */

/* A process's view of a pool: validated copies of its geometry. */
struct mpool {
    struct mpool_shared *sh;
    uint32_t *stack;     /* free chunk indices, sh->nfree of them */
    unsigned char *map;  /* checked pools: one bit per chunk, 1 = in use */
    unsigned char *data; /* chunk 0 */
    size_t chunk_size;
    uint32_t total;
    unsigned flags;
    uint64_t div_magic; /* ceil(2^64 / chunk_size): index without a div */
};

struct mpool_stats {
    size_t chunk_size; /* after rounding */
    size_t total;
    size_t free;
    size_t used;
    size_t high_water; /* most chunks ever in use at once */
    bool checked;
};

/* Bytes of memory a pool of nchunks chunks of chunk_size bytes needs.
 * 0 when the numbers are 0 or too large. */
size_t mpool_size(size_t nchunks, size_t chunk_size);

/* Build a new pool in mem (size bytes, MPOOL_ALIGN-aligned) holding as
 * many chunks of chunk_size as fit; every chunk starts free. flags is 0 or
 * MPOOL_CHECKED. 0, or -1 with EINVAL (misaligned memory, bad sizes, no
 * room for a single chunk). */
int mpool_init(struct mpool *mp, void *mem, size_t size, size_t chunk_size,
               unsigned flags);
/* Use a pool another process (or an earlier mapping) built in mem: the
 * header is copied once and every field of the copy checked against size
 * (a chunk size of 0 or one that does not fit is refused); the handle is
 * filled from that copy. 0, or -1 with EPROTO. */
int mpool_attach(struct mpool *mp, void *mem, size_t size);
/* Forget the pool; the memory is the caller's again. Safe on a released
 * handle. Chunks still handed out become invalid. */
void mpool_release(struct mpool *mp);

/* A free chunk, or NULL with ENOMEM when all are in use (EPROTO if the
 * shared state is corrupt). O(1). */
void *mpool_alloc(struct mpool *mp);
/* Give a chunk back. O(1). free(NULL)-like for NULL. 0, or -1 with EINVAL
 * for a pointer outside the pool, more frees than allocations, and in a
 * checked pool also a double free or a pointer inside a chunk. */
int mpool_free(struct mpool *mp, void *p);

/* A chunk's index, the handle to pass to another process (which calls
 * mpool_chunk()); UINT32_MAX for a pointer that is not a chunk. */
uint32_t mpool_index(const struct mpool *mp, const void *p);
/* The chunk with that index, or NULL when idx is out of range. */
void *mpool_chunk(const struct mpool *mp, uint32_t idx);

void mpool_stats(const struct mpool *mp, struct mpool_stats *st);

#endif

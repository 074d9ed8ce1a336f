/* spinring.c -- the busy-polled ring (see spinring.h for the layout and
 * who writes what). */
#include "spinring.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define HDR 8u

static uint64_t record_size(uint32_t len) { return HDR + ((len + 7u) & ~7u); }

struct spinring *spinring_new(size_t size)
{
    struct spinring *r;

    if (size < 64 || (size & (size - 1)) != 0) {
        errno = EINVAL;
        return NULL;
    }
    r = mmap(NULL, sizeof(*r) + size, PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED)
        return NULL;
    r->size = size; /* the rest is zero: an empty ring */
    return r;
}

void spinring_free(struct spinring *r)
{
    if (r)
        munmap(r, sizeof(*r) + r->size);
}

/* Copy n bytes at ring offset pos (free-running), wrapping at the end. */
static void copy_in(struct spinring *r, uint64_t pos, const void *src, size_t n)
{
    size_t at = pos & (r->size - 1), first = r->size - at;

    if (first > n)
        first = n;
    memcpy(r->data + at, src, first);
    memcpy(r->data, (const unsigned char *)src + first, n - first);
}

static void copy_out(const struct spinring *r, uint64_t pos, void *dst,
                     size_t n)
{
    size_t at = pos & (r->size - 1), first = r->size - at;

    if (first > n)
        first = n;
    memcpy(dst, r->data + at, first);
    memcpy((unsigned char *)dst + first, r->data, n - first);
}

int spinring_push(struct spinring *r, const void *msg, uint32_t len)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t need = record_size(len);

    if (need > r->size / 4) {
        errno = EMSGSIZE;
        return -1;
    }
    if (head + need - r->tail_seen > r->size) {
        /* acquire: pairs with the release in spinring_pop(); the bytes
         * it read are no longer needed before we overwrite them */
        r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (head + need - r->tail_seen > r->size) {
            errno = EAGAIN;
            return -1;
        }
    }
    /* A header never wraps: offsets and the size are multiples of 8. */
    memcpy(r->data + (head & (r->size - 1)), &len, sizeof(len));
    copy_in(r, head + HDR, msg, len);
    /* release: pairs with the acquire in spinring_pop() */
    atomic_store_explicit(&r->head, head + need, memory_order_release);
    return 0;
}

int spinring_pop(struct spinring *r, void *out, size_t *len)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint32_t n;

    if (tail == r->head_seen) {
        /* acquire: pairs with the release in spinring_push() */
        r->head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
        if (tail == r->head_seen) {
            errno = EAGAIN;
            return -1;
        }
    }
    memcpy(&n, r->data + (tail & (r->size - 1)), sizeof(n));
    if (record_size(n) > r->head_seen - tail) { /* never trust the ring */
        errno = EPROTO;
        return -1;
    }
    if (n > *len) {
        errno = EMSGSIZE;
        return -1;
    }
    copy_out(r, tail + HDR, out, n);
    *len = n;
    /* release: pairs with the acquire in spinring_push() */
    atomic_store_explicit(&r->tail, tail + record_size(n),
                          memory_order_release);
    return 0;
}

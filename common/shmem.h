/* shmem.h -- System V shared memory segments that start with a validated
 * header, so no process trusts a segment it did not check. */
#ifndef COMMON_SHMEM_H
#define COMMON_SHMEM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The first 64 bytes of every segment; the payload starts cache-aligned
 * right after it. Written by the creator, checked by every attacher. */
struct shmem_hdr {
    uint32_t magic;         /* what lives here (stats, queue, hash...) */
    uint32_t version;       /* layout version of that payload */
    uint64_t size;          /* whole segment in bytes, header included */
    int32_t owner_pid;      /* the creator */
    uint32_t hdr_size;      /* sizeof(struct shmem_hdr) */
    _Atomic uint32_t ready; /* 1 once the payload is initialised */
    uint8_t pad[36];
};

struct shmem {
    key_t key;
    int id;
    struct shmem_hdr *hdr; /* the mapping; NULL when not attached */
    size_t size;           /* payload bytes */
    bool readonly;
};

/* Create a segment for size payload bytes, mode 0600, and attach it. If
 * one already exists under key: refused with EEXIST while its creator
 * lives and it is attached or not yet published (being made); reclaimed
 * (removed and created anew) when its creator is dead, as after kill -9,
 * or it is published and nothing is attached. The payload is zero; call
 * shmem_publish() once it is initialised. 0 or -1 with errno. */
int shmem_create(struct shmem *sm, key_t key, uint32_t magic, uint32_t version,
                 size_t size);
/* Mark the payload initialised (release): openers may now use it. */
void shmem_publish(struct shmem *sm);

/* Attach an existing segment, read-write or read-only (SHM_RDONLY), after
 * checking it is ours (owner uid, mode 0600) and its header: magic,
 * version, sizes, published. min_size is the smallest payload the caller
 * can use. Errors: ENOENT (no segment), EACCES (not ours), EPROTO (bad
 * header or version), EAGAIN (not yet published). */
int shmem_open(struct shmem *sm, key_t key, uint32_t magic, uint32_t version,
               size_t min_size, bool readonly);

/* Open the segment, or create it if there is none; *created says which.
 * A creator that loses a race to another is told EEXIST and opens. */
int shmem_open_or_create(struct shmem *sm, key_t key, uint32_t magic,
                         uint32_t version, size_t size, bool *created);

static inline void *shmem_data(const struct shmem *sm)
{
    return (char *)sm->hdr + sizeof(struct shmem_hdr);
}

/* Detach (the segment lives on). Safe on a detached struct shmem. */
void shmem_close(struct shmem *sm);
/* Mark the segment for removal and detach: it disappears once the last
 * process detaches, and its key is free at once. 0 or -1 with errno. */
int shmem_remove(struct shmem *sm);
/* Remove the segment under key if it is one of ours: this user's, mode
 * 0600, with our header and magic (what shmem_create() made). Anything
 * else under the key is someone else's data and stays. For launchers
 * cleaning up after their children. 0 (also when there was none), or -1
 * with errno: EACCES (a segment that is not ours), or from shmctl(). */
int shmem_remove_key(key_t key, uint32_t magic);

/* Is an attached segment gone: removed by its owner (marked for removal,
 * our mapping keeps it alive) or no longer known to the kernel? For
 * readers that should notice their writer exited. */
bool shmem_removed(const struct shmem *sm);

#endif

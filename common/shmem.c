/* shmem.c -- System V shared memory segments with a validated header.
 *
 * A segment's life: the creator shmget()s it with IPC_CREAT|IPC_EXCL and
 * mode 0600, fills the header, initialises the payload, then publishes it
 * (ready = 1, release). An opener checks ownership and mode with
 * IPC_STAT, attaches, and checks the header (acquire on ready) before it
 * reads a byte of payload. The kernel's shm_nattch and shm_cpid decide
 * whether an existing segment is stale: a header can be garbage, the
 * kernel's bookkeeping cannot. The header's ready flag only ever keeps a
 * segment whose creator lives (not yet published: still being made), so
 * garbage there cannot get a live segment deleted. */
#include "shmem.h"

#include <errno.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

#define SHMEM_MODE 0600

_Static_assert(sizeof(struct shmem_hdr) == 64, "header is one cache line");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "atomics work across processes");

static bool pid_alive(pid_t pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* Is the existing segment id in use by a live process? Only while its
 * creator lives: then if it is not published yet, or if anyone else is
 * attached. A creator between its shmget() and its shmat() is attached
 * to nothing, and a second process starting at that moment must not
 * take the segment for stale, delete it and make its own: the two would
 * never meet. A creator killed before publishing leaves a segment that
 * is reclaimed, as is one whose creator has died.
 *
 * Order matters: ready is read first, the attach count after it. A
 * creator attaches before it publishes, so once ready == 1 is seen its
 * attachment is counted, unless it has since detached. Counting first
 * would miss a creator that attached and published in between. A
 * segment we cannot attach is not ours to judge: in use. */
static bool segment_in_use(int id)
{
    const struct shmem_hdr *h;
    struct shmid_ds ds;
    bool ready, in_use;

    if (shmctl(id, IPC_STAT, &ds) < 0 || !pid_alive(ds.shm_cpid))
        return false;
    if (ds.shm_segsz < sizeof(*h))
        return true;
    h = shmat(id, NULL, SHM_RDONLY);
    if (h == (void *)-1)
        return true;
    /* acquire: pairs with the release in shmem_publish() */
    ready = atomic_load_explicit(&h->ready, memory_order_acquire) == 1;
    /* nattch counts our own attachment too */
    in_use = !ready || shmctl(id, IPC_STAT, &ds) < 0 || ds.shm_nattch > 1;
    shmdt(h);
    return in_use;
}

/* Does segment id belong to this user, mode 0600, with our magic? */
static bool segment_is_ours(int id, uint32_t magic)
{
    struct shmid_ds ds;
    const struct shmem_hdr *h;
    bool ours;

    if (shmctl(id, IPC_STAT, &ds) < 0 || ds.shm_perm.uid != geteuid() ||
        (ds.shm_perm.mode & 0777) != 0600 ||
        ds.shm_segsz < sizeof(struct shmem_hdr))
        return false;
    h = shmat(id, NULL, SHM_RDONLY);
    if (h == (void *)-1)
        return false;
    ours = h->magic == magic && h->hdr_size == sizeof(*h);
    shmdt(h);
    return ours;
}

static int attach(struct shmem *sm, int id, key_t key, size_t size,
                  bool readonly)
{
    void *addr = shmat(id, NULL, readonly ? SHM_RDONLY : 0);

    if (addr == (void *)-1)
        return -1;
    sm->key = key;
    sm->id = id;
    sm->hdr = addr;
    sm->size = size;
    sm->readonly = readonly;
    return 0;
}

int shmem_create(struct shmem *sm, key_t key, uint32_t magic, uint32_t version,
                 size_t size)
{
    size_t total = sizeof(struct shmem_hdr) + size;
    int id, saved;

    id = shmget(key, total, IPC_CREAT | IPC_EXCL | SHMEM_MODE);
    if (id < 0 && errno == EEXIST) {
        int old = shmget(key, 0, 0);
        if (old >= 0 && segment_in_use(old)) {
            errno = EEXIST;
            return -1;
        }
        /* Stale: its creator died without removing it. Reclaim only a
         * segment of ours with our header: anything else under the key
         * is someone's data, never ours to delete. */
        if (old >= 0 && !segment_is_ours(old, magic)) {
            errno = EEXIST;
            return -1;
        }
        /* EINVAL, EIDRM: another process reclaimed it first; the
         * IPC_EXCL below then tells whether it made a new one. */
        if (old >= 0 && shmctl(old, IPC_RMID, NULL) < 0 && errno != EINVAL &&
            errno != EIDRM)
            return -1;
        id = shmget(key, total, IPC_CREAT | IPC_EXCL | SHMEM_MODE);
    }
    if (id < 0)
        return -1;
    if (attach(sm, id, key, size, false) < 0) {
        saved = errno;
        shmctl(id, IPC_RMID, NULL);
        errno = saved;
        return -1;
    }
    sm->hdr->magic = magic;
    sm->hdr->version = version;
    sm->hdr->size = total;
    sm->hdr->owner_pid = (int32_t)getpid();
    sm->hdr->hdr_size = sizeof(struct shmem_hdr);
    return 0;
}

void shmem_publish(struct shmem *sm)
{
    /* release: pairs with the acquire in check_header(); the payload the
     * creator wrote is visible to whoever sees ready == 1. */
    atomic_store_explicit(&sm->hdr->ready, 1, memory_order_release);
}

static int check_owner(int id, size_t *segsz)
{
    struct shmid_ds ds;

    if (shmctl(id, IPC_STAT, &ds) < 0)
        return -1;
    /* Someone else's segment, or one others may write: never trust it. */
    if (ds.shm_perm.uid != geteuid() || (ds.shm_perm.mode & 0077) != 0) {
        errno = EACCES;
        return -1;
    }
    *segsz = ds.shm_segsz;
    return 0;
}

static int check_header(const struct shmem_hdr *h, uint32_t magic,
                        uint32_t version, size_t segsz, size_t min_size)
{
    /* acquire: pairs with the release in shmem_publish() */
    uint32_t ready = atomic_load_explicit(&h->ready, memory_order_acquire);

    /* 0 until the creator publishes, then 1: anything else is garbage,
     * not a segment that will be ready in a moment. */
    if (ready != 1) {
        errno = ready == 0 ? EAGAIN : EPROTO;
        return -1;
    }
    if (h->magic != magic || h->version != version ||
        h->hdr_size != sizeof(*h) || h->size != segsz ||
        segsz < sizeof(*h) + min_size) {
        errno = EPROTO;
        return -1;
    }
    return 0;
}

int shmem_open(struct shmem *sm, key_t key, uint32_t magic, uint32_t version,
               size_t min_size, bool readonly)
{
    size_t segsz;
    int id, saved;

    id = shmget(key, 0, 0);
    if (id < 0 || check_owner(id, &segsz) < 0)
        return -1;
    if (segsz < sizeof(struct shmem_hdr)) {
        errno = EPROTO;
        return -1;
    }
    if (attach(sm, id, key, segsz - sizeof(struct shmem_hdr), readonly) < 0)
        return -1;
    if (check_header(sm->hdr, magic, version, segsz, min_size) < 0) {
        saved = errno;
        shmem_close(sm);
        errno = saved;
        return -1;
    }
    return 0;
}

int shmem_open_or_create(struct shmem *sm, key_t key, uint32_t magic,
                         uint32_t version, size_t size, bool *created)
{
    /* Two processes may start at once; the loser of the IPC_EXCL race
     * waits (up to a second) for the winner to publish. */
    for (int tries = 0; tries < 100; tries++) {
        struct timespec pause = {0, 10 * 1000 * 1000};

        if (shmem_open(sm, key, magic, version, size, false) == 0) {
            *created = false;
            return 0;
        }
        if (errno == ENOENT) {
            if (shmem_create(sm, key, magic, version, size) == 0) {
                *created = true;
                return 0;
            }
            if (errno != EEXIST)
                return -1;
        } else if (errno != EAGAIN) {
            return -1;
        } else if (tries >= 10 &&
                   shmem_create(sm, key, magic, version, size) == 0) {
            /* Never published and nobody alive uses it: a creator died
             * half-way, and shmem_create() reclaimed the segment. */
            *created = true;
            return 0;
        }
        nanosleep(&pause, NULL);
    }
    errno = EAGAIN;
    return -1;
}

void shmem_close(struct shmem *sm)
{
    if (sm->hdr)
        shmdt(sm->hdr);
    sm->hdr = NULL;
}

int shmem_remove(struct shmem *sm)
{
    int rc = shmctl(sm->id, IPC_RMID, NULL);

    shmem_close(sm);
    return rc;
}

int shmem_remove_key(key_t key, uint32_t magic)
{
    int id = shmget(key, 0, 0);

    if (id < 0)
        return errno == ENOENT ? 0 : -1;
    if (!segment_is_ours(id, magic)) {
        errno = EACCES;
        return -1;
    }
    return shmctl(id, IPC_RMID, NULL);
}

bool shmem_removed(const struct shmem *sm)
{
    struct shmid_ds ds;

    return shmctl(sm->id, IPC_STAT, &ds) < 0 ||
           (ds.shm_perm.mode & SHM_DEST) != 0;
}

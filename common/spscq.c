/* spscq.c -- single-producer single-consumer queue in shared memory.
 *
 * Layout of the segment payload (after the 64-byte shmem header):
 *
 *   line 0   capacity                  written once by the creator
 *   line 1   tail      (atomic u64)    written by the producer only
 *            pushed    (2 x u64)       the producer's counts (see below)
 *   line 2   head      (atomic u64)    written by the consumer only
 *            popped    (2 x u64)       the consumer's counts
 *   line 3   sleeping  (atomic u32)    set by the consumer, cleared by both
 *   ring     capacity bytes, a power of two
 *
 * head and tail are free-running byte counts: tail = bytes ever pushed,
 * head = bytes ever consumed. They are never reset and never masked in
 * shared memory; an index is masked (& (capacity - 1)) only to address the
 * ring. At 2^64 bytes they would wrap, and unsigned subtraction keeps
 * tail - head right even then. Invariants, checked whenever one side
 * reads the other's index (a violation is EBADMSG, never an access):
 *
 *   0 <= tail - head <= capacity      bytes in the ring
 *   [head, tail) holds whole messages, each [len u32][id u32][payload],
 *   with 8 <= len <= tail - head; a message may wrap around the ring's
 *   end anywhere, in its header as well as in its payload.
 *
 * The producer writes message bytes in [tail, head + capacity), then
 * publishes them by storing tail (release). The consumer reads bytes in
 * [head, tail) after loading tail (acquire), then frees them by storing
 * head (release), which the producer loads (acquire) before reusing them.
 * Each side keeps a private copy of the other's index and reloads it only
 * when the copy says the ring is full (producer) or empty (consumer), so
 * in a stream the two index lines rarely move between cores.
 *
 * Restart: a message exists once tail passes it and is gone once head
 * passes it. A process killed at any instant leaves both indices on
 * message boundaries, so a restarted consumer finds every message that
 * was fully pushed and not yet consumed, exactly once; a restarted
 * producer continues at tail (a half-written message was never
 * published).
 *
 * Wake-up. A consumer with nothing to do sleeps in poll() on a FIFO; the
 * producer writes a byte into it, but only when the consumer may be
 * asleep, so a busy stream costs no system call. The race to close:
 *
 *   consumer: sees the ring empty       producer: pushes, stores tail
 *                                       producer: consumer awake? skip
 *   consumer: sleeps -- on a message that is already there, for ever.
 *
 * Protocol (spscq_consume() runs the consumer side in this order, so
 * callers cannot get it wrong; spscq_wait_prepare, wake_consumer):
 *
 *   consumer                            producer
 *   S1 store sleeping = 1  (seq_cst)    P1 store tail = t     (seq_cst)
 *   S2 load tail           (seq_cst)    P2 load sleeping      (seq_cst)
 *      empty? poll(FIFO)                   1? clear it, write a byte
 *
 * This is the store-buffering pattern. With plain release/acquire both
 * loads may read the old values (each store still sits in its core's
 * store buffer): the consumer sleeps and the producer writes nothing.
 * seq_cst puts all four operations in one total order: if S1 comes before
 * P2, the producer sees sleeping == 1 and writes the byte; otherwise P1
 * comes before S2 and the consumer sees the message and does not sleep.
 * (seq_cst fences between each store and load would do the same; seq_cst
 * operations are what ThreadSanitizer understands.) A byte written when
 * the consumer was in fact awake only causes one spurious wake-up.
 *
 * Counting (the exercise ch4-mq-counter). Each side's line has room for
 * two counters of its own, messages and payload bytes, which only that
 * side writes. This queue does not count: built with SPSCQ_COUNT_HOOKS,
 * it calls spscq_count_push() after each push and spscq_count_pop()
 * after each consume, which a program defines (spscq.h). The chapter's
 * builds leave the counters at zero and pay nothing for them.
 *
 * The FIFO is opened O_RDWR|O_NONBLOCK by both sides. Linux defines this
 * for FIFOs (POSIX leaves it open): open never blocks waiting for the
 * other side, the consumer never reads EOF when the producer exits, the
 * producer never gets SIGPIPE when the consumer dies, and bytes written
 * while the consumer is away wait in the FIFO. A write that finds the
 * FIFO full (EAGAIN) is fine: unread bytes already mean "wake up". */
#include "spscq.h"

#include "shmem.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_LINE 64

struct spscq_shared {
    alignas(CACHE_LINE) uint64_t capacity;
    alignas(CACHE_LINE) _Atomic uint64_t tail;
    struct spscq_counts pushed; /* the producer's */
    alignas(CACHE_LINE) _Atomic uint64_t head;
    struct spscq_counts popped; /* the consumer's */
    /* Read by the producer on every push: kept off the head line, which
     * the consumer writes on every pop. */
    alignas(CACHE_LINE) _Atomic uint32_t sleeping;
};

_Static_assert(sizeof(struct spscq_shared) == 4 * CACHE_LINE,
               "four cache lines, the ring starts aligned after them");
_Static_assert(offsetof(struct spscq_shared, pushed) == SPSCQ_PUSHED_OFFSET &&
                   offsetof(struct spscq_shared, popped) == SPSCQ_POPPED_OFFSET,
               "the counts where spscq.h says they are");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
               "lock-free atomics: a lock cannot live in shared memory");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "indices are plain 64 bits");
_Static_assert((SPSCQ_MIN_CAPACITY & (SPSCQ_MIN_CAPACITY - 1)) == 0 &&
                   (SPSCQ_MAX_CAPACITY & (SPSCQ_MAX_CAPACITY - 1)) == 0,
               "capacities are powers of two");
_Static_assert(SPSCQ_MAX_CAPACITY <= UINT32_MAX, "a length fits in u32");

/* The process-local handle. The producer's and the consumer's private
 * fields are on separate lines, so two threads may share one handle. */
struct spscq {
    struct shmem sm;
    struct spscq_shared *sh;
    unsigned char *ring;
    uint64_t capacity, mask;
    int role;
    int fd;
    char *fifo_path;

    alignas(CACHE_LINE) uint64_t tail; /* producer: where the next goes */
    uint64_t head_seen;                /* producer: head when last loaded */

    alignas(CACHE_LINE) uint64_t head; /* consumer: the next to take */
    uint64_t tail_seen;                /* consumer: tail when last loaded */
    unsigned spins;
    unsigned char *scratch; /* a wrapped message, made contiguous */
    size_t scratch_size;
};

struct msg_hdr {
    uint32_t len; /* whole message, header included */
    uint32_t id;
};

_Static_assert(sizeof(struct msg_hdr) == SPSCQ_MSG_HDR, "no padding");

static void ring_write(struct spscq *q, uint64_t pos, const void *src, size_t n)
{
    size_t off = pos & q->mask;
    size_t first = n < q->capacity - off ? n : q->capacity - off;

    memcpy(q->ring + off, src, first);
    memcpy(q->ring, (const unsigned char *)src + first, n - first);
}

static void ring_read(const struct spscq *q, uint64_t pos, void *dst, size_t n)
{
    size_t off = pos & q->mask;
    size_t first = n < q->capacity - off ? n : q->capacity - off;

    memcpy(dst, q->ring + off, first);
    memcpy((unsigned char *)dst + first, q->ring, n - first);
}

/* --- opening and closing ------------------------------------------------ */

/* Make the FIFO if missing, open it and check it is a FIFO of ours that
 * nobody else may write. */
static int open_fifo(const char *path)
{
    struct stat st;
    int fd;

    if (mkfifo(path, 0600) < 0 && errno != EEXIST)
        return -1;
    fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0)
        goto out_close_fd;
    if (!S_ISFIFO(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & 0077) != 0) {
        errno = EACCES;
        goto out_close_fd;
    }
    return fd;

out_close_fd : {
    int saved = errno;
    close(fd);
    errno = saved;
}
    return -1;
}

static bool capacity_ok(uint64_t cap)
{
    return cap >= SPSCQ_MIN_CAPACITY && cap <= SPSCQ_MAX_CAPACITY &&
           (cap & (cap - 1)) == 0;
}

/* Check the geometry the creator wrote in the payload at mem (size
 * bytes) and the indices, then set up the private state of the handle's
 * roles. */
static int attach_ring(struct spscq *q, void *mem, size_t size)
{
    uint64_t head, tail;

    q->sh = mem;
    q->capacity = q->sh->capacity;
    if (!capacity_ok(q->capacity) ||
        size != sizeof(struct spscq_shared) + q->capacity) {
        errno = EPROTO;
        return -1;
    }
    q->mask = q->capacity - 1;
    q->ring = (unsigned char *)(q->sh + 1);
    /* acquire: pairs with the release stores of head in consume() and
     * the seq_cst store of tail in spscq_push() by earlier processes. */
    head = atomic_load_explicit(&q->sh->head, memory_order_acquire);
    tail = atomic_load_explicit(&q->sh->tail, memory_order_acquire);
    if (tail - head > q->capacity) {
        errno = EBADMSG;
        return -1;
    }
    q->tail = tail;
    q->head_seen = head;
    q->head = head;
    q->tail_seen = head; /* the first pop loads tail */
    return 0;
}

static struct spscq *handle_new(const char *fifo_path, enum spscq_role role)
{
    struct spscq *q;

    if (!fifo_path || (role & ~SPSCQ_BOTH) != 0 || role == 0) {
        errno = EINVAL;
        return NULL;
    }
    q = aligned_alloc(CACHE_LINE, sizeof(*q));
    if (!q)
        return NULL;
    memset(q, 0, sizeof(*q));
    q->role = role;
    q->fd = -1;
    q->fifo_path = strdup(fifo_path);
    if (!q->fifo_path) {
        free(q);
        return NULL;
    }
    return q;
}

static void write_wake_byte(struct spscq *q)
{
    /* EAGAIN: the FIFO is full of bytes that already say "wake up". */
    while (write(q->fd, "", 1) < 0 && errno == EINTR)
        ;
}

/* Finish opening: the FIFO, and for a consumer, a wake-up if messages
 * are already waiting, so a consumer that only waits for its fd (as in
 * a libevent loop) starts by draining them. */
static struct spscq *handle_finish(struct spscq *q, bool created)
{
    int saved;

    if (!created && attach_ring(q, shmem_data(&q->sm), q->sm.size) < 0)
        goto out_close;
    q->fd = open_fifo(q->fifo_path);
    if (q->fd < 0)
        goto out_close;
    if (created)
        shmem_publish(&q->sm);
    if ((q->role & SPSCQ_CONSUMER) && !spscq_wait_prepare(q))
        write_wake_byte(q);
    return q;

out_close:
    saved = errno;
    if (created)
        shmem_remove(&q->sm); /* never published: nobody else uses it */
    spscq_close(q);
    errno = saved;
    return NULL;
}

/* The creator's part: the geometry, zero indices (shmem zeroed them). */
static void init_ring(struct spscq *q, size_t capacity)
{
    q->sh = shmem_data(&q->sm);
    q->sh->capacity = capacity;
    q->capacity = capacity;
    q->mask = capacity - 1;
    q->ring = (unsigned char *)(q->sh + 1);
}

struct spscq *spscq_create(key_t key, const char *fifo_path, size_t capacity,
                           enum spscq_role role)
{
    struct spscq *q;

    if (!capacity_ok(capacity)) {
        errno = EINVAL;
        return NULL;
    }
    q = handle_new(fifo_path, role);
    if (!q)
        return NULL;
    if (shmem_create(&q->sm, key, SPSCQ_MAGIC, SPSCQ_VERSION,
                     sizeof(struct spscq_shared) + capacity) < 0) {
        spscq_close(q);
        return NULL;
    }
    init_ring(q, capacity);
    return handle_finish(q, true);
}

struct spscq *spscq_open(key_t key, const char *fifo_path, enum spscq_role role)
{
    struct spscq *q = handle_new(fifo_path, role);

    if (!q)
        return NULL;
    if (shmem_open(&q->sm, key, SPSCQ_MAGIC, SPSCQ_VERSION,
                   sizeof(struct spscq_shared) + SPSCQ_MIN_CAPACITY,
                   false) < 0) {
        spscq_close(q);
        return NULL;
    }
    return handle_finish(q, false);
}

struct spscq *spscq_open_or_create(key_t key, const char *fifo_path,
                                   size_t capacity, enum spscq_role role,
                                   bool *created)
{
    struct spscq *q;

    if (!capacity_ok(capacity)) {
        errno = EINVAL;
        return NULL;
    }
    q = handle_new(fifo_path, role);
    if (!q)
        return NULL;
    /* An existing queue keeps its own capacity, if at least this one. */
    if (shmem_open_or_create(&q->sm, key, SPSCQ_MAGIC, SPSCQ_VERSION,
                             sizeof(struct spscq_shared) + capacity,
                             created) < 0) {
        spscq_close(q);
        return NULL;
    }
    if (*created)
        init_ring(q, capacity);
    return handle_finish(q, *created);
}

struct spscq *spscq_attach(void *mem, size_t size, enum spscq_role role)
{
    struct spscq *q;
    int saved;

    if (!mem || (uintptr_t)mem % CACHE_LINE != 0 ||
        size < sizeof(struct spscq_shared)) {
        errno = EPROTO;
        return NULL;
    }
    q = handle_new("", role);
    if (!q)
        return NULL;
    if (attach_ring(q, mem, size) < 0) {
        saved = errno;
        spscq_close(q);
        errno = saved;
        return NULL;
    }
    return q;
}

void spscq_close(struct spscq *q)
{
    if (!q)
        return;
    if (q->fd >= 0)
        close(q->fd);
    shmem_close(&q->sm);
    free(q->scratch);
    free(q->fifo_path);
    free(q);
}

int spscq_remove(struct spscq *q)
{
    int rc = 0, saved = 0;

    if (shmem_remove(&q->sm) < 0) {
        rc = -1;
        saved = errno;
    }
    if (unlink(q->fifo_path) < 0 && errno != ENOENT && rc == 0) {
        rc = -1;
        saved = errno;
    }
    spscq_close(q);
    errno = saved;
    return rc;
}

int spscq_remove_key(key_t key, const char *fifo_path)
{
    int rc = shmem_remove_key(key, SPSCQ_MAGIC), saved = errno;

    if (unlink(fifo_path) < 0 && errno != ENOENT && rc == 0)
        return -1;
    errno = saved;
    return rc;
}

size_t spscq_max_payload(const struct spscq *q)
{
    return q->capacity - SPSCQ_MSG_HDR;
}

/* --- producer ------------------------------------------------------------ */

static void wake_consumer(struct spscq *q)
{
    /* seq_cst load (P2): pairs with the seq_cst store of sleeping (S1) in
     * spscq_wait_prepare(); see the protocol at the top. */
    if (!atomic_load_explicit(&q->sh->sleeping, memory_order_seq_cst))
        return;
    /* One byte per sleep: whoever clears the flag writes. relaxed: the
     * FIFO, not this flag, carries the wake-up. */
    if (atomic_exchange_explicit(&q->sh->sleeping, 0, memory_order_relaxed))
        write_wake_byte(q);
}

/* Append one message and publish it; the wake-up is the caller's. */
static int push_msg(struct spscq *q, uint32_t id, const void *data, size_t len)
{
    struct msg_hdr h;
    uint64_t need;

    if (!(q->role & SPSCQ_PRODUCER)) {
        errno = EPERM;
        return -1;
    }
    if (len > spscq_max_payload(q)) {
        errno = EMSGSIZE;
        return -1;
    }
    need = SPSCQ_MSG_HDR + len;
    if (q->tail + need - q->head_seen > q->capacity) {
        /* acquire: pairs with the release store of head in consume(): the
         * consumer has finished reading the bytes we are about to reuse. */
        uint64_t head =
            atomic_load_explicit(&q->sh->head, memory_order_acquire);
        if (q->tail - head > q->capacity) {
            errno = EBADMSG; /* head is past tail or too far behind it */
            return -1;
        }
        q->head_seen = head;
        if (q->tail + need - head > q->capacity) {
            errno = EAGAIN;
            return -1;
        }
    }
    h.len = (uint32_t)need;
    h.id = id;
    ring_write(q, q->tail, &h, sizeof(h));
    if (len > 0)
        ring_write(q, q->tail + sizeof(h), data, len);
    q->tail += need;
    /* seq_cst (P1), so also a release: pairs with the acquire loads of
     * tail in next_msg(), publishing the bytes written above, and with the
     * seq_cst load (S2) in spscq_wait_prepare(). */
    atomic_store_explicit(&q->sh->tail, q->tail, memory_order_seq_cst);
#ifdef SPSCQ_COUNT_HOOKS
    spscq_count_push(&q->sh->pushed, len);
#endif
    return 0;
}

int spscq_push(struct spscq *q, uint32_t id, const void *data, size_t len)
{
    if (push_msg(q, id, data, len) < 0)
        return -1;
    wake_consumer(q);
    return 0;
}

int spscq_push_quiet(struct spscq *q, uint32_t id, const void *data, size_t len)
{
    return push_msg(q, id, data, len);
}

void spscq_wake(struct spscq *q)
{
    /* P2 of the protocol, after the P1 of every push before it. */
    if (q->role & SPSCQ_PRODUCER)
        wake_consumer(q);
}

/* --- consumer ------------------------------------------------------------ */

/* Read the header of the oldest message into *h after checking that it
 * is whole and its length sane. -1 with EAGAIN (empty) or EBADMSG. */
static int next_msg(struct spscq *q, struct msg_hdr *h)
{
    if (!(q->role & SPSCQ_CONSUMER)) {
        errno = EPERM;
        return -1;
    }
    if (q->head == q->tail_seen) {
        /* acquire: pairs with the seq_cst store of tail in spscq_push():
         * the bytes of every message before tail are visible. */
        uint64_t tail =
            atomic_load_explicit(&q->sh->tail, memory_order_acquire);
        if (tail - q->head > q->capacity) {
            errno = EBADMSG;
            return -1;
        }
        q->tail_seen = tail;
        if (tail == q->head) {
            errno = EAGAIN;
            return -1;
        }
    }
    if (q->tail_seen - q->head < sizeof(*h)) {
        errno = EBADMSG;
        return -1;
    }
    ring_read(q, q->head, h, sizeof(*h));
    if (h->len < sizeof(*h) || h->len > q->tail_seen - q->head) {
        errno = EBADMSG;
        return -1;
    }
    return 0;
}

static void consume(struct spscq *q, uint32_t len)
{
    q->head += len;
    /* release: pairs with the acquire load of head in spscq_push(); our
     * reads of these bytes are done before the producer may reuse them. */
    atomic_store_explicit(&q->sh->head, q->head, memory_order_release);
#ifdef SPSCQ_COUNT_HOOKS
    spscq_count_pop(&q->sh->popped, len - SPSCQ_MSG_HDR);
#endif
}

int spscq_pop(struct spscq *q, uint32_t *id, void *buf, size_t *len)
{
    struct msg_hdr h;
    size_t plen;

    if (next_msg(q, &h) < 0)
        return -1;
    plen = h.len - sizeof(h);
    if (plen > *len) {
        *len = plen;
        errno = EMSGSIZE;
        return -1;
    }
    if (plen > 0) /* buf may be NULL for an empty payload */
        ring_read(q, q->head + sizeof(h), buf, plen);
    *id = h.id;
    *len = plen;
    consume(q, h.len);
    return 0;
}

/* Where the payload of the message at head can be read in one piece:
 * in the ring, or copied into the scratch buffer if it wraps. */
static const void *payload_of(struct spscq *q, size_t plen)
{
    uint64_t pos = q->head + SPSCQ_MSG_HDR;
    size_t off = pos & q->mask;

    if (off + plen <= q->capacity)
        return q->ring + off;
    if (plen > q->scratch_size) {
        unsigned char *s = realloc(q->scratch, plen);
        if (!s)
            return NULL;
        q->scratch = s;
        q->scratch_size = plen;
    }
    ring_read(q, pos, q->scratch, plen);
    return q->scratch;
}

/* spscq_drain(), and whether it stopped because cb refused a message. */
static int drain(struct spscq *q, spscq_msg_cb cb, void *arg, unsigned max,
                 bool *refused)
{
    unsigned n = 0;

    *refused = false;
    while (n < max) {
        struct msg_hdr h;
        const void *data;

        if (next_msg(q, &h) < 0) {
            if (errno == EAGAIN)
                break;
            return -1;
        }
        data = payload_of(q, h.len - sizeof(h));
        if (!data)
            return -1;
        if (cb(h.id, data, h.len - sizeof(h), arg) < 0) {
            if (errno != EAGAIN)
                return -1;
            *refused = true;
            break;
        }
        consume(q, h.len);
        n++;
    }
    return (int)n;
}

int spscq_drain(struct spscq *q, spscq_msg_cb cb, void *arg, unsigned max)
{
    bool refused;

    return drain(q, cb, arg, max, &refused);
}

/* The consumer's whole turn, in the order the wake-up protocol at the top
 * of this file needs: ack the wake-up bytes first (never between prepare
 * and sleep), drain, and prepare to sleep only when the ring is empty; a
 * message that arrived meanwhile makes prepare fail, and is drained in
 * the same turn. A refused message leaves the consumer awake (sleeping
 * stays 0): the producer writes no byte for it, so whoever refused must
 * come back by a timer. */
enum spscq_turn spscq_consume(struct spscq *q, spscq_msg_cb cb, void *arg,
                              unsigned max)
{
    bool refused;
    int n;

    spscq_wait_ack(q);
    do {
        n = drain(q, cb, arg, max, &refused);
        if (n < 0)
            return SPSCQ_ERROR;
        if (refused)
            return SPSCQ_BLOCKED;
        if ((unsigned)n == max)
            return SPSCQ_MORE;
    } while (!spscq_wait_prepare(q));
    return SPSCQ_IDLE;
}

/* --- waiting ------------------------------------------------------------- */

int spscq_wait_fd(const struct spscq *q) { return q->fd; }

void spscq_set_spin(struct spscq *q, unsigned spins) { q->spins = spins; }

void spscq_wait_ack(struct spscq *q)
{
    char buf[64];

    /* We are awake: the producer need not write until we prepare again.
     * relaxed: a stale 1 only costs the producer one extra byte. */
    atomic_store_explicit(&q->sh->sleeping, 0, memory_order_relaxed);
    while (read(q->fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf))
        ;
}

bool spscq_wait_prepare(struct spscq *q)
{
    /* seq_cst store (S1) then seq_cst load (S2): pair with the seq_cst
     * store of tail (P1) and load of sleeping (P2) in spscq_push(). */
    atomic_store_explicit(&q->sh->sleeping, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&q->sh->tail, memory_order_seq_cst) == q->head)
        return true;
    atomic_store_explicit(&q->sh->sleeping, 0, memory_order_relaxed);
    return false;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

int spscq_wait(struct spscq *q, int timeout_ms)
{
    struct pollfd pfd = {.fd = q->fd, .events = POLLIN};
    int rc;

    for (unsigned i = 0; i < q->spins; i++) {
        /* relaxed: only a hint; the pop that follows loads tail with
         * acquire. */
        if (atomic_load_explicit(&q->sh->tail, memory_order_relaxed) != q->head)
            return 0;
        cpu_relax();
    }
    if (!spscq_wait_prepare(q))
        return 0;
    rc = poll(&pfd, 1, timeout_ms);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    spscq_wait_ack(q);
    return 0;
}

/* stats.c -- statistics in shared memory: one writer, readers that never
 * see a torn or half-updated snapshot.
 *
 * Why a sequence lock and not atomics alone. Each counter could be an
 * _Atomic uint64_t updated with relaxed stores: a reader would never see
 * half of a 64-bit value. But it could still see bytes_in from after an
 * update and bytes_out from before it, or conns_accepted raised and
 * conns_open not yet: every field whole, the set of fields inconsistent.
 * A mutex would fix that, but a reader attaches read-only and must not
 * write, not even a lock word, and a writer must never wait for a slow
 * or stopped reader. A sequence lock gives both: the writer is wait-free
 * (it never looks at readers), readers only load, and a reader that
 * overlaps a commit notices and retries.
 *
 * The protocol (Boehm, "Can seqlocks get along with programming language
 * memory models?", MSPC 2012). Only the writer stores seq.
 *   writer:  seq = s + 1 (odd)            relaxed
 *            release fence
 *            value[i] = ...               relaxed, each an atomic
 *            seq = s + 2 (even)           release
 *   reader:  s1 = seq                     acquire
 *            copy value[i]                relaxed
 *            acquire fence
 *            s2 = seq                     relaxed
 *            use the copy only if s1 == s2 and s1 is even
 * If the reader's copy saw any store of a commit, the fence pair makes
 * that commit's odd seq visible to its second load, so s2 != s1. If s1
 * is even and equal to s2, the acquire on s1 made every earlier commit
 * visible and no later one overlapped: the copy is one commit's state.
 * The values are atomics (relaxed) rather than plain fields so the racy
 * copy is not undefined behaviour in C11, and ThreadSanitizer agrees.
 *
 * Fields fixed before shmem_publish() (names, pid, start time) need no
 * lock: shmem's release/acquire on the header's ready flag covers them.
 * They are still read anew by every stats_read(), and checked in the
 * copy: the block is another process's memory, and "fixed" is only what
 * an honest writer promises. */
#include "stats.h"

#include "now.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2,
               "64-bit atomics must be lock-free to work across processes");
_Static_assert(sizeof(struct stats_block) % 8 == 0, "no tail padding");

/* A reader gives up after this many unstable copies; with the pause
 * below, about 100 ms, much longer than any commit (tens of ns) or a
 * writer descheduled in the middle of one (a few ms). */
#define READ_TRIES 1000
#define READ_SPINS 64 /* tries before pausing between them */

/* Names are printed as "name value": letters, digits, '_', '.', '-'. */
static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

static bool valid_name(const char *s, size_t max)
{
    size_t len = strnlen(s, max);

    if (len == 0 || len == max)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!name_char(s[i]))
            return false;
    return true;
}

int stats_create(struct stats *st, key_t key, const char *writer)
{
    memset(st, 0, sizeof(*st));
    if (shmem_create(&st->sm, key, STATS_MAGIC, STATS_VERSION,
                     sizeof(struct stats_block)) < 0)
        return -1;
    st->blk = shmem_data(&st->sm);
    st->blk->pid = (int32_t)getpid();
    st->blk->started_ns = now_real_ns();
    atomic_store_explicit(&st->blk->updated_ns, st->blk->started_ns,
                          memory_order_relaxed);
    /* Truncated if long; a bad character becomes '_' (names are tokens). */
    for (size_t i = 0; writer[i] && i + 1 < STATS_NAME_LEN; i++)
        st->blk->writer[i] = name_char(writer[i]) ? writer[i] : '_';
    if (st->blk->writer[0] == '\0')
        st->blk->writer[0] = '?';
    return 0;
}

int stats_register(struct stats *st, const char *name, enum stats_kind kind)
{
    struct stats_desc *d;

    if (st->started) {
        errno = EBUSY;
        return -1;
    }
    if (!valid_name(name, STATS_NAME_LEN) ||
        (kind != STATS_COUNTER && kind != STATS_GAUGE)) {
        errno = EINVAL;
        return -1;
    }
    for (uint32_t i = 0; i < st->n; i++) {
        if (strcmp(st->blk->desc[i].name, name) == 0) {
            errno = EEXIST;
            return -1;
        }
    }
    if (st->n == STATS_MAX_COUNTERS) {
        errno = ENOSPC;
        return -1;
    }
    d = &st->blk->desc[st->n];
    strcpy(d->name, name); /* fits: valid_name() checked the length */
    d->kind = kind;
    st->blk->ncounters = ++st->n;
    return (int)st->n - 1;
}

void stats_start(struct stats *st)
{
    st->started = true;
    shmem_publish(&st->sm);
}

int stats_create_table(struct stats *st, key_t key, const char *writer,
                       const struct stats_def *defs, unsigned n)
{
    int saved;

    if (stats_create(st, key, writer) < 0)
        return -1;
    for (unsigned i = 0; i < n; i++) {
        if (!defs[i].name) {
            errno = EINVAL; /* a counter of the enum missing from defs */
            goto out_remove;
        }
        /* Ids are handed out in order, so counter i gets id i. */
        if (stats_register(st, defs[i].name, defs[i].kind) < 0)
            goto out_remove;
    }
    stats_start(st);
    return 0;

out_remove:
    saved = errno;
    stats_remove(st);
    errno = saved;
    return -1;
}

void stats_commit(struct stats *st)
{
    struct stats_block *b = st->blk;
    /* Only this process stores seq: a plain load and store, no RMW. */
    uint64_t s = atomic_load_explicit(&b->seq, memory_order_relaxed);

    atomic_store_explicit(&b->seq, s + 1, memory_order_relaxed);
    /* release: pairs with the acquire fence in stats_read(); a reader
     * that sees any value stored below also sees the odd seq above. */
    atomic_thread_fence(memory_order_release);
    for (uint32_t i = 0; i < st->n; i++)
        atomic_store_explicit(&b->value[i], st->local[i], memory_order_relaxed);
    atomic_store_explicit(&b->updated_ns, now_real_ns(), memory_order_relaxed);
    /* release: pairs with the acquire load of seq in stats_read() */
    atomic_store_explicit(&b->seq, s + 2, memory_order_release);
}

int stats_remove(struct stats *st)
{
    st->blk = NULL;
    return shmem_remove(&st->sm);
}

int stats_remove_key(key_t key) { return shmem_remove_key(key, STATS_MAGIC); }

/* Everything fixed is checked at open: a reader then copies at most n
 * counters and NUL-terminated names, whatever the writer does later, and
 * stats_read() checks each copy again before anyone uses it. */
static int validate(struct stats *st)
{
    const struct stats_block *b = st->blk;

    if (b->ncounters > STATS_MAX_COUNTERS ||
        !valid_name(b->writer, STATS_NAME_LEN) || b->pid <= 0 ||
        b->started_ns <= 0) {
        errno = EPROTO;
        return -1;
    }
    for (uint32_t i = 0; i < b->ncounters; i++) {
        if (!valid_name(b->desc[i].name, STATS_NAME_LEN) ||
            b->desc[i].kind > STATS_GAUGE) {
            errno = EPROTO;
            return -1;
        }
    }
    st->n = b->ncounters;
    return 0;
}

int stats_attach(struct stats *st, void *mem, size_t size)
{
    if (!mem || (uintptr_t)mem % _Alignof(struct stats_block) != 0 ||
        size < sizeof(struct stats_block)) {
        errno = EPROTO;
        return -1;
    }
    st->blk = mem;
    return validate(st);
}

int stats_open(struct stats *st, key_t key)
{
    int saved;

    memset(st, 0, sizeof(*st));
    if (shmem_open(&st->sm, key, STATS_MAGIC, STATS_VERSION,
                   sizeof(struct stats_block), true) < 0)
        return -1;
    if (stats_attach(st, shmem_data(&st->sm), st->sm.size) < 0) {
        saved = errno;
        stats_close(st);
        errno = saved;
        return -1;
    }
    return 0;
}

/* Copy the fixed fields; the copy is terminated, so a writer that
 * scribbles after the open cannot make us read past a name, and
 * snapshot_ok() then checks the copy, not the block. */
static void copy_fixed(const struct stats *st, struct stats_snapshot *snap)
{
    const struct stats_block *b = st->blk;

    snap->pid = b->pid;
    snap->n = st->n;
    snap->started_ns = b->started_ns;
    memcpy(snap->writer, b->writer, STATS_NAME_LEN);
    snap->writer[STATS_NAME_LEN - 1] = '\0';
    memcpy(snap->desc, b->desc, st->n * sizeof(b->desc[0]));
    for (uint32_t i = 0; i < st->n; i++)
        snap->desc[i].name[STATS_NAME_LEN - 1] = '\0';
}

/* Is the copy one a writer could have made: names that are tokens, known
 * kinds, a pid that names one process (kill(0, ...) would mean our whole
 * process group), times after 1970? Positive times keep every difference
 * a reader computes between them, or with the clock, in range. */
static bool snapshot_ok(const struct stats_snapshot *snap)
{
    if (snap->pid <= 0 || snap->started_ns <= 0 || snap->updated_ns <= 0 ||
        !valid_name(snap->writer, STATS_NAME_LEN))
        return false;
    for (uint32_t i = 0; i < snap->n; i++)
        if (!valid_name(snap->desc[i].name, STATS_NAME_LEN) ||
            snap->desc[i].kind > STATS_GAUGE)
            return false;
    return true;
}

int stats_read(const struct stats *st, struct stats_snapshot *snap)
{
    const struct stats_block *b = st->blk;
    struct timespec pause = {0, 100 * 1000}; /* 100 us */

    copy_fixed(st, snap);
    for (int tries = 0; tries < READ_TRIES; tries++) {
        uint64_t s1, s2;

        if (tries >= READ_SPINS)
            nanosleep(&pause, NULL);
        /* acquire: pairs with the release store of seq in stats_commit() */
        s1 = atomic_load_explicit(&b->seq, memory_order_acquire);
        if (s1 & 1)
            continue;
        for (uint32_t i = 0; i < st->n; i++)
            snap->value[i] =
                atomic_load_explicit(&b->value[i], memory_order_relaxed);
        snap->updated_ns =
            atomic_load_explicit(&b->updated_ns, memory_order_relaxed);
        /* acquire: pairs with the release fence in stats_commit() */
        atomic_thread_fence(memory_order_acquire);
        s2 = atomic_load_explicit(&b->seq, memory_order_relaxed);
        if (s1 != s2)
            continue;
        if (!snapshot_ok(snap)) {
            errno = EPROTO;
            return -1;
        }
        return 0;
    }
    errno = EAGAIN;
    return -1;
}

void stats_close(struct stats *st)
{
    shmem_close(&st->sm);
    st->blk = NULL;
}

int stats_find(const struct stats_snapshot *snap, const char *name)
{
    for (uint32_t i = 0; i < snap->n && i < STATS_MAX_COUNTERS; i++)
        if (strcmp(snap->desc[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* check_spscq.c -- the shared-memory message queue: limits, wrap-around,
 * corruption, wake-ups, and whole streams between processes and threads. */
#include "harness.h"
#include "now.h"
#include "shmem.h"
#include "spscq.h"
#include "spscq_stream.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The segment layout spscq.c documents: payload offsets of the fields
 * the corruption tests overwrite. */
#define OFF_CAPACITY 0
#define OFF_TAIL     64
#define OFF_HEAD     128
#define OFF_RING     256

#define STREAM_MSGS 10000000ull

/* Private to this runner (harness_key, harness_tmpdir): the harness
 * removes them after each test, even after a failed one. */
static key_t key_a, key_b;
static char fifo_a[256], fifo_b[256];

static void setup_names(void)
{
    key_a = harness_key();
    key_b = harness_key();
    snprintf(fifo_a, sizeof(fifo_a), "%s/a.fifo", harness_tmpdir());
    snprintf(fifo_b, sizeof(fifo_b), "%s/b.fifo", harness_tmpdir());
    unlink(fifo_a);
    unlink(fifo_b);
}

/* Under sanitizers (CK_TIMEOUT_MULTIPLIER > 1) streams are scaled down
 * ten times: the point there is the checking, not the volume. */
static uint64_t scaled(uint64_t n) { return harness_ms(1) > 1 ? n / 10 : n; }

static struct spscq *make_queue(size_t capacity, enum spscq_role role)
{
    struct spscq *q = spscq_create(key_a, fifo_a, capacity, role);

    ck_assert_msg(q != NULL, "spscq_create: %s", strerror(errno));
    return q;
}

static void push_ok(struct spscq *q, uint32_t id, const void *data, size_t n)
{
    ck_assert_msg(spscq_push(q, id, data, n) == 0, "push id %u len %zu: %s", id,
                  n, strerror(errno));
}

/* Pop one message and check its id and contents. */
static void pop_expect(struct spscq *q, uint32_t id, const void *data, size_t n)
{
    unsigned char buf[4096];
    size_t len = sizeof(buf);
    uint32_t got;

    ck_assert_msg(spscq_pop(q, &got, buf, &len) == 0, "pop: %s",
                  strerror(errno));
    ck_assert_uint_eq(got, id);
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(buf, data, n) == 0);
}

static void pop_empty(struct spscq *q)
{
    size_t len = 0;
    uint32_t id;

    ck_assert_int_eq(spscq_pop(q, &id, NULL, &len), -1);
    ck_assert_int_eq(errno, EAGAIN);
}

static bool fd_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return poll(&p, 1, 0) == 1;
}

/* --- core ---------------------------------------------------------------- */

START_TEST(test_spscq_empty)
{
    struct spscq *q = make_queue(4096, SPSCQ_BOTH);
    size_t len = 16;
    uint32_t id = 77;
    char buf[16];

    ck_assert_int_eq(spscq_pop(q, &id, buf, &len), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_uint_eq(len, 16); /* untouched */
    ck_assert_uint_eq(id, 77);
    ck_assert_int_eq(spscq_wait(q, 0), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    ck_assert_int_eq(spscq_remove(q), 0);
}
END_TEST

/* A producer and a consumer handle, as two processes would hold. */
START_TEST(test_spscq_fifo_order_across_handles)
{
    struct spscq *p = make_queue(4096, SPSCQ_PRODUCER);
    struct spscq *c = spscq_open(key_a, fifo_a, SPSCQ_CONSUMER);
    struct stat st;
    char msg[32];

    ck_assert_ptr_nonnull(c);
    for (uint32_t i = 0; i < 50; i++) {
        snprintf(msg, sizeof(msg), "message %u", i);
        push_ok(p, i, msg, strlen(msg));
    }
    for (uint32_t i = 0; i < 50; i++) {
        snprintf(msg, sizeof(msg), "message %u", i);
        pop_expect(c, i, msg, strlen(msg));
    }
    pop_empty(c);
    /* Each side may only do its own part. */
    ck_assert_int_eq(spscq_push(c, 1, "x", 1), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(spscq_drain(p, NULL, NULL, 1), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(stat(fifo_a, &st), 0);
    ck_assert(S_ISFIFO(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    spscq_close(c);
    ck_assert_int_eq(spscq_remove(p), 0);
    ck_assert_int_eq(access(fifo_a, F_OK), -1);
    ck_assert_int_eq(spscq_remove_key(key_a, fifo_a), 0); /* nothing left */
    ck_assert_int_eq(spscq_open(key_a, fifo_a, SPSCQ_CONSUMER) == NULL, 1);
    ck_assert_int_eq(errno, ENOENT);
}
END_TEST

/* 64 bytes: one message of 56 fills it exactly; so do four of 8. */
START_TEST(test_spscq_full_and_exactly_full)
{
    struct spscq *q = make_queue(64, SPSCQ_BOTH);
    unsigned char big[56];

    harness_fill(big, sizeof(big), 1);
    ck_assert_uint_eq(spscq_max_payload(q), 56);
    push_ok(q, 1, big, 56);
    ck_assert_int_eq(spscq_push(q, 2, NULL, 0), -1);
    ck_assert_int_eq(errno, EAGAIN);
    pop_expect(q, 1, big, 56);
    for (uint32_t i = 0; i < 4; i++)
        push_ok(q, 10 + i, big + i, 8);
    ck_assert_int_eq(spscq_push(q, 99, big, 1), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_eq(spscq_push(q, 99, NULL, 0), -1);
    ck_assert_int_eq(errno, EAGAIN);
    /* The refused pushes left the queue as it was. */
    for (uint32_t i = 0; i < 4; i++)
        pop_expect(q, 10 + i, big + i, 8);
    pop_empty(q);
    /* Room again once consumed: 56 no longer refused on an empty ring. */
    push_ok(q, 3, big, 56);
    pop_expect(q, 3, big, 56);
    spscq_remove(q);
}
END_TEST

START_TEST(test_spscq_oversize)
{
    struct spscq *q = make_queue(64, SPSCQ_BOTH);
    unsigned char big[100] = {0};

    ck_assert_int_eq(spscq_push(q, 1, big, 57), -1);
    ck_assert_int_eq(errno, EMSGSIZE);
    ck_assert_int_eq(spscq_push(q, 1, big, SIZE_MAX), -1);
    ck_assert_int_eq(errno, EMSGSIZE);
    push_ok(q, 2, big, 8);
    /* Would fit an empty ring: full now, not too large. */
    ck_assert_int_eq(spscq_push(q, 3, big, 56), -1);
    ck_assert_int_eq(errno, EAGAIN);
    pop_expect(q, 2, big, 8);
    pop_empty(q);
    spscq_remove(q);
}
END_TEST

START_TEST(test_spscq_zero_length)
{
    struct spscq *q = make_queue(64, SPSCQ_BOTH);
    size_t len = 0;
    uint32_t id;

    for (uint32_t i = 0; i < 8; i++) /* 8 headers fill 64 bytes */
        push_ok(q, 100 + i, NULL, 0);
    ck_assert_int_eq(spscq_push(q, 1, NULL, 0), -1);
    ck_assert_int_eq(errno, EAGAIN);
    for (uint32_t i = 0; i < 8; i++) {
        len = 0;
        ck_assert_int_eq(spscq_pop(q, &id, NULL, &len), 0);
        ck_assert_uint_eq(id, 100 + i);
        ck_assert_uint_eq(len, 0);
    }
    pop_empty(q);
    spscq_remove(q);
}
END_TEST

START_TEST(test_spscq_buffer_too_small)
{
    struct spscq *q = make_queue(4096, SPSCQ_BOTH);
    char buf[16] = "untouched";
    size_t len = 5;
    uint32_t id = 0;

    push_ok(q, 42, "0123456789", 10);
    ck_assert_int_eq(spscq_pop(q, &id, buf, &len), -1);
    ck_assert_int_eq(errno, EMSGSIZE);
    ck_assert_uint_eq(len, 10); /* how large it is */
    ck_assert_str_eq(buf, "untouched");
    pop_expect(q, 42, "0123456789", 10); /* still there, whole */
    pop_empty(q);
    spscq_remove(q);
}
END_TEST

/* Bring the ring position (tracked in *pos) to off modulo 64 with
 * filler messages of 8..64 bytes. */
static void move_to(struct spscq *q, uint64_t *pos, size_t off)
{
    static const unsigned char zero[64];
    size_t delta = (off - *pos) & 63;

    if (delta == 0)
        return;
    if (delta < 8)
        delta += 64;
    while (delta > 0) {
        size_t n = delta > 64 ? 32 : delta;
        push_ok(q, 0, zero, n - SPSCQ_MSG_HDR);
        pop_expect(q, 0, zero, n - SPSCQ_MSG_HDR);
        *pos += n;
        delta -= n;
    }
}

struct got {
    uint32_t id;
    size_t len;
    unsigned char data[64];
};

static int copy_cb(uint32_t id, const void *data, size_t len, void *arg)
{
    struct got *g = arg;

    g->id = id;
    g->len = len;
    memcpy(g->data, data, len);
    return 0;
}

/* The header split at every offset 0..7 of the ring's end, then the
 * payload split at every offset, read by spscq_pop and spscq_drain. */
START_TEST(test_spscq_wrap_every_offset)
{
    struct spscq *q = make_queue(64, SPSCQ_BOTH);
    unsigned char msg[40];
    uint64_t pos = 0;
    struct got g;

    for (size_t split = 0; split < 8; split++) {
        for (int use_drain = 0; use_drain < 2; use_drain++) {
            harness_fill(msg, sizeof(msg), (uint32_t)(split * 2 + use_drain));
            move_to(q, &pos, 64 - split);
            push_ok(q, (uint32_t)split, msg, 20);
            if (use_drain) {
                ck_assert_int_eq(spscq_drain(q, copy_cb, &g, 10), 1);
                ck_assert_uint_eq(g.id, split);
                ck_assert_uint_eq(g.len, 20);
                ck_assert(memcmp(g.data, msg, 20) == 0);
            } else {
                pop_expect(q, (uint32_t)split, msg, 20);
            }
            pos += 28;
        }
    }
    for (size_t split = 0; split <= sizeof(msg); split++) {
        for (int use_drain = 0; use_drain < 2; use_drain++) {
            harness_fill(msg, sizeof(msg), (uint32_t)(100 + split));
            /* the payload starts split bytes before the end */
            move_to(q, &pos, 64 - SPSCQ_MSG_HDR - split);
            push_ok(q, 1000 + (uint32_t)split, msg, sizeof(msg));
            if (use_drain) {
                ck_assert_int_eq(spscq_drain(q, copy_cb, &g, 10), 1);
                ck_assert_uint_eq(g.id, 1000 + split);
                ck_assert_uint_eq(g.len, sizeof(msg));
                ck_assert(memcmp(g.data, msg, sizeof(msg)) == 0);
            } else {
                pop_expect(q, 1000 + (uint32_t)split, msg, sizeof(msg));
            }
            pos += SPSCQ_MSG_HDR + sizeof(msg);
        }
    }
    pop_empty(q);
    spscq_remove(q);
}
END_TEST

static int refuse_third_cb(uint32_t id, const void *data, size_t len, void *arg)
{
    int *seen = arg;

    (void)data;
    (void)len;
    if (id == 3 && *seen == 2) {
        errno = EAGAIN;
        return -1;
    }
    ck_assert_uint_eq(id, (uint32_t)*seen + 1);
    ++*seen;
    return 0;
}

START_TEST(test_spscq_drain_batches)
{
    struct spscq *q = make_queue(4096, SPSCQ_BOTH);
    int seen = 0;

    for (uint32_t i = 1; i <= 6; i++)
        push_ok(q, i, &i, sizeof(i));
    ck_assert_int_eq(spscq_drain(q, refuse_third_cb, &seen, 10), 2);
    ck_assert_int_eq(seen, 2);
    /* Message 3 was refused: it is still first. */
    seen = 2;
    ck_assert_int_eq(spscq_drain(q, refuse_third_cb, &seen, 0), 0);
    seen = 3;
    ck_assert_int_eq(spscq_drain(q, refuse_third_cb, &seen, 0), 0);
    {
        uint32_t three = 3;
        pop_expect(q, 3, &three, sizeof(three));
    }
    ck_assert_int_eq(spscq_drain(q, refuse_third_cb, &seen, 2), 2);
    ck_assert_int_eq(spscq_drain(q, refuse_third_cb, &seen, 2), 1);
    ck_assert_int_eq(seen, 6);
    ck_assert_int_eq(spscq_drain(q, refuse_third_cb, &seen, 2), 0);
    spscq_remove(q);
}
END_TEST

/* --- wake-ups ------------------------------------------------------------ */

/* A byte only when the consumer said it may sleep: none per message. */
START_TEST(test_spscq_wake_only_when_sleeping)
{
    struct spscq *p = make_queue(4096, SPSCQ_PRODUCER);
    struct spscq *c = spscq_open(key_a, fifo_a, SPSCQ_CONSUMER);
    int fd;

    ck_assert_ptr_nonnull(c);
    fd = spscq_wait_fd(c);
    spscq_wait_ack(c);
    push_ok(p, 1, "a", 1);
    ck_assert_msg(!fd_readable(fd), "woke an awake consumer");
    ck_assert(!spscq_wait_prepare(c)); /* a message is there: no sleep */
    pop_expect(c, 1, "a", 1);
    ck_assert(spscq_wait_prepare(c));
    push_ok(p, 2, "b", 1);
    ck_assert_msg(fd_readable(fd), "a sleeping consumer was not woken");
    push_ok(p, 3, "c", 1); /* already woken: no second byte needed */
    spscq_wait_ack(c);
    ck_assert(!fd_readable(fd));
    pop_expect(c, 2, "b", 1);
    pop_expect(c, 3, "c", 1);
    ck_assert_int_eq(spscq_wait(c, 0), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    spscq_close(c);
    spscq_remove(p);
}
END_TEST

/* Quiet pushes write no wake-up byte; one spscq_wake() after them does. */
START_TEST(test_spscq_quiet_push_then_wake)
{
    struct spscq *p = make_queue(4096, SPSCQ_PRODUCER);
    struct spscq *c = spscq_open(key_a, fifo_a, SPSCQ_CONSUMER);
    int fd;

    ck_assert_ptr_nonnull(c);
    fd = spscq_wait_fd(c);
    spscq_wait_ack(c);
    ck_assert(spscq_wait_prepare(c));
    for (uint32_t i = 0; i < 10; i++)
        ck_assert_int_eq(spscq_push_quiet(p, i, "q", 1), 0);
    ck_assert_msg(!fd_readable(fd), "a quiet push woke the consumer");
    spscq_wake(p);
    ck_assert_msg(fd_readable(fd), "spscq_wake did not wake it");
    spscq_wait_ack(c);
    spscq_wake(p); /* the consumer is awake now: no byte */
    ck_assert(!fd_readable(fd));
    for (uint32_t i = 0; i < 10; i++)
        pop_expect(c, i, "q", 1);
    spscq_close(c);
    spscq_remove(p);
}
END_TEST

/* A consumer that opens a queue holding messages is woken at once, so a
 * restarted consumer that only waits for its fd still drains them. */
START_TEST(test_spscq_consumer_open_wakes_itself)
{
    struct spscq *p = make_queue(4096, SPSCQ_PRODUCER);
    struct spscq *c;

    push_ok(p, 5, "hello", 5);
    c = spscq_open(key_a, fifo_a, SPSCQ_CONSUMER);
    ck_assert_ptr_nonnull(c);
    ck_assert(fd_readable(spscq_wait_fd(c)));
    ck_assert_int_eq(spscq_wait(c, 1000), 0);
    pop_expect(c, 5, "hello", 5);
    spscq_close(c);
    spscq_remove(p);
}
END_TEST

/* --- errors -------------------------------------------------------------- */

START_TEST(test_spscq_bad_arguments)
{
    ck_assert_ptr_null(spscq_create(key_a, fifo_a, 1000, SPSCQ_BOTH));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(spscq_create(key_a, fifo_a, 32, SPSCQ_BOTH));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(spscq_create(key_a, NULL, 4096, SPSCQ_BOTH));
    ck_assert_int_eq(errno, EINVAL);
    /* Nothing was left behind by the refusals. */
    ck_assert_int_eq(shmget(key_a, 0, 0), -1);
}
END_TEST

/* The FIFO path must be a FIFO of ours that only we may write. */
START_TEST(test_spscq_fifo_checked)
{
    int fd = open(fifo_a, O_CREAT | O_WRONLY, 0600);

    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_ptr_null(spscq_create(key_a, fifo_a, 4096, SPSCQ_BOTH));
    ck_assert_int_eq(errno, EACCES);
    ck_assert_int_eq(shmget(key_a, 0, 0), -1); /* creation undone */
    unlink(fifo_a);
    ck_assert_int_eq(mkfifo(fifo_a, 0600), 0);
    ck_assert_int_eq(chmod(fifo_a, 0622), 0);
    ck_assert_ptr_null(spscq_create(key_a, fifo_a, 4096, SPSCQ_BOTH));
    ck_assert_int_eq(errno, EACCES);
}
END_TEST

/* Attach the segment raw, as a stray writer would. */
static unsigned char *raw_payload(struct shmem *sm)
{
    ck_assert_int_eq(shmem_open(sm, key_a, 0x51435053u, 1, 0, false), 0);
    return shmem_data(sm);
}

START_TEST(test_spscq_corrupt_geometry)
{
    struct spscq *q = make_queue(4096, SPSCQ_PRODUCER);
    struct shmem sm;
    unsigned char *raw = raw_payload(&sm);
    uint64_t *cap = (uint64_t *)(raw + OFF_CAPACITY);

    *cap = 4000; /* not a power of two */
    ck_assert_ptr_null(spscq_open(key_a, fifo_a, SPSCQ_CONSUMER));
    ck_assert_int_eq(errno, EPROTO);
    *cap = 8192; /* larger than the segment */
    ck_assert_ptr_null(spscq_open(key_a, fifo_a, SPSCQ_CONSUMER));
    ck_assert_int_eq(errno, EPROTO);
    *cap = 4096;
    sm.hdr->version = 99; /* a layout we do not know */
    ck_assert_ptr_null(spscq_open(key_a, fifo_a, SPSCQ_CONSUMER));
    ck_assert_int_eq(errno, EPROTO);
    sm.hdr->version = 1;
    *(uint64_t *)(raw + OFF_TAIL) = 4097; /* more bytes than the ring */
    ck_assert_ptr_null(spscq_open(key_a, fifo_a, SPSCQ_CONSUMER));
    ck_assert_int_eq(errno, EBADMSG);
    *(uint64_t *)(raw + OFF_TAIL) = 0;
    *(uint64_t *)(raw + OFF_HEAD) = 8; /* head past tail */
    ck_assert_ptr_null(spscq_open(key_a, fifo_a, SPSCQ_CONSUMER));
    ck_assert_int_eq(errno, EBADMSG);
    shmem_close(&sm);
    spscq_remove(q);
}
END_TEST

START_TEST(test_spscq_corrupt_length)
{
    static const uint32_t bad[] = {0, 7, 16, 4096 + 8, UINT32_MAX};
    struct spscq *q = make_queue(4096, SPSCQ_BOTH);
    struct shmem sm;
    unsigned char *raw = raw_payload(&sm);
    uint32_t *len = (uint32_t *)(raw + OFF_RING); /* first message's */
    unsigned char buf[64];
    size_t n;
    uint32_t id;

    push_ok(q, 1, "0123456", 7); /* 15 bytes in the ring */
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        *len = bad[i];
        n = sizeof(buf);
        ck_assert_int_eq(spscq_pop(q, &id, buf, &n), -1);
        ck_assert_msg(errno == EBADMSG, "len %u: %s", bad[i], strerror(errno));
        ck_assert_int_eq(spscq_drain(q, copy_cb, buf, 1), -1);
        ck_assert_int_eq(errno, EBADMSG);
    }
    *len = 15;
    pop_expect(q, 1, "0123456", 7); /* repaired: readable again */
    shmem_close(&sm);
    spscq_remove(q);
}
END_TEST

/* Corrupt indices seen while the queue is in use. */
START_TEST(test_spscq_corrupt_index)
{
    struct spscq *q = make_queue(64, SPSCQ_BOTH);
    struct shmem sm;
    unsigned char *raw = raw_payload(&sm);
    _Atomic uint64_t *tail = (_Atomic uint64_t *)(raw + OFF_TAIL);
    _Atomic uint64_t *head = (_Atomic uint64_t *)(raw + OFF_HEAD);
    size_t n = 0;
    uint32_t id;

    atomic_store(tail, 65); /* the consumer would read past the ring */
    ck_assert_int_eq(spscq_pop(q, &id, NULL, &n), -1);
    ck_assert_int_eq(errno, EBADMSG);
    atomic_store(tail, 4); /* less than one header */
    ck_assert_int_eq(spscq_pop(q, &id, NULL, &n), -1);
    ck_assert_int_eq(errno, EBADMSG);
    atomic_store(tail, 0);
    push_ok(q, 1, "x", 1);
    atomic_store(head, 1000); /* the producer would overwrite live data */
    ck_assert_int_eq(spscq_push(q, 2, "y", 56), -1);
    ck_assert_int_eq(errno, EBADMSG);
    shmem_close(&sm);
    spscq_remove(q);
}
END_TEST

/* spscq_attach(), the seam fuzz/fuzz_spscq.c drives: a copy of a live
 * segment's payload reads like the segment and is validated like it. */
START_TEST(test_spscq_attach_copy)
{
    struct spscq *q = make_queue(256, SPSCQ_PRODUCER), *c;
    size_t size = OFF_RING + 256;
    struct shmem sm;
    unsigned char *raw = raw_payload(&sm), *copy;
    uint32_t too_long = 300;
    struct got g;

    push_ok(q, 1, "hello", 5);
    push_ok(q, 2, "world!", 6);
    ck_assert_int_eq(posix_memalign((void **)&copy, 64, size), 0);
    memcpy(copy, raw, size);
    c = spscq_attach(copy, size, SPSCQ_CONSUMER);
    ck_assert_ptr_nonnull(c);
    pop_expect(c, 1, "hello", 5);
    /* the second message's length, at ring offset 8 + 5 */
    memcpy(copy + OFF_RING + 13, &too_long, sizeof(too_long));
    ck_assert_int_eq(spscq_drain(c, copy_cb, &g, 1), -1);
    ck_assert_int_eq(errno, EBADMSG);
    spscq_close(c);
    ck_assert_ptr_null(spscq_attach(copy, size - 1, SPSCQ_CONSUMER));
    ck_assert_int_eq(errno, EPROTO);
    *(uint64_t *)(copy + OFF_HEAD) = 1000; /* head past tail */
    ck_assert_ptr_null(spscq_attach(copy, size, SPSCQ_CONSUMER));
    ck_assert_int_eq(errno, EBADMSG);
    free(copy);
    shmem_close(&sm);
    spscq_remove(q);
}
END_TEST

/* --- processes ----------------------------------------------------------- */

static void wait_child_ok(pid_t pid, const char *what)
{
    int status;

    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "%s failed (status %#x)", what, status);
}

/* A forked consumer checks 10 million messages of 0..2048 bytes. */
START_TEST(test_spscq_fork_stream)
{
    uint64_t n = scaled(STREAM_MSGS);
    struct spscq *q = make_queue(256 * 1024, SPSCQ_PRODUCER);
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct spscq *c = spscq_open(key_a, fifo_a, SPSCQ_CONSUMER);
        uint64_t next = 0;
        spscq_close(q); /* the parent's handle: valgrind counts it lost */
        if (!c || stream_consume(c, 7, &next, n, harness_ms(10000), NULL)) {
            fprintf(stderr, "consumer: %s\n",
                    c ? stream_error() : strerror(errno));
            _exit(1);
        }
        spscq_close(c);
        _exit(0);
    }
    ck_assert_msg(stream_produce(q, 7, 0, n, harness_ms(20000)) == 0,
                  "producer: %s", stream_error());
    wait_child_ok(pid, "consumer");
    spscq_remove(q);
}
END_TEST

static const char *peer_path(void)
{
    static char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 16);

    ck_assert_int_gt(n, 0);
    path[n] = '\0';
    strcpy(strrchr(path, '/') + 1, "spscq_peer");
    return path;
}

/* Two programs that share nothing but a key and a FIFO path; the
 * consumer starts first and creates the queue. */
START_TEST(test_spscq_exec_peers)
{
    char key[16], count[24];
    const char *cons_argv[] = {peer_path(), "consume", key, fifo_a,
                               count,       "11",      NULL};
    const char *prod_argv[] = {peer_path(), "produce", key, fifo_a,
                               count,       "11",      NULL};
    struct hproc *cons, *prod;
    char *out;

    snprintf(key, sizeof(key), "%#x", (unsigned)key_a);
    snprintf(count, sizeof(count), "%llu",
             (unsigned long long)scaled(STREAM_MSGS));
    cons = harness_start(cons_argv);
    ck_assert_ptr_nonnull(cons);
    for (int i = 0; i < 500 && shmget(key_a, 0, 0) < 0; i++)
        usleep(2000);
    prod = harness_start(prod_argv);
    ck_assert_ptr_nonnull(prod);
    ck_assert_int_eq(harness_wait(prod, 30000), 0);
    ck_assert_msg(harness_wait(cons, 30000) == 0, "consumer: %s",
                  harness_stderr(cons));
    out = harness_stdout(cons);
    ck_assert_msg(strstr(out, "received ") && strstr(out, count) &&
                      strstr(out, "(created the queue)"),
                  "consumer said: %s", out);
    free(out);
    out = harness_stdout(prod);
    ck_assert_msg(strstr(out, "sent ") && !strstr(out, "created"),
                  "producer said: %s", out);
    free(out);
}
END_TEST

/* One side of the ping-pong: take each message from in and send it back
 * (or, for the initiator, send and wait for the echo). A wait that times
 * out while the other side is there to answer is a lost wake-up. */
/* Spins of up to SPIN_MAX pauses in 7 rounds out of 8; none in the 8th.
 * Short, because on a loaded machine a long spin only steals the core
 * the other side needs to answer. */
#define SPIN_MAX 64
static int ping_pong(struct spscq *out, struct spscq *in, uint64_t rounds,
                     bool initiator)
{
    for (uint64_t i = 0; i < rounds; i++) {
        uint64_t v = i, got;
        size_t len;
        uint32_t id;

        /* Spins of varying length, around the time the other side takes
         * to answer, so its push lands before, during and after our
         * prepare-to-sleep; every 8th round sleeps at once. */
        spscq_set_spin(in, (i & 7) == 0 ? 0 : (unsigned)(i * 7919) % SPIN_MAX);
        if (initiator && spscq_push(out, 1, &v, sizeof(v)) < 0)
            return -1;
        for (;;) {
            len = sizeof(got);
            if (spscq_pop(in, &id, &got, &len) == 0)
                break;
            if (errno != EAGAIN)
                return -1;
            if (spscq_wait(in, harness_ms(5000)) < 0 && errno != EINTR) {
                fprintf(stderr, "round %llu: %s\n", (unsigned long long)i,
                        strerror(errno));
                return -1;
            }
        }
        if (len != sizeof(got) || got != i)
            return -1;
        if (!initiator && spscq_push(out, 1, &got, sizeof(got)) < 0)
            return -1;
    }
    return 0;
}

START_TEST(test_spscq_ping_pong)
{
    uint64_t rounds = scaled(1000000);
    struct spscq *ab = make_queue(4096, SPSCQ_PRODUCER);
    struct spscq *ba = spscq_create(key_b, fifo_b, 4096, SPSCQ_CONSUMER);
    int64_t t0;
    pid_t pid;

    ck_assert_ptr_nonnull(ba);
    t0 = now_mono_ns();
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct spscq *in = spscq_open(key_a, fifo_a, SPSCQ_CONSUMER);
        struct spscq *out = spscq_open(key_b, fifo_b, SPSCQ_PRODUCER);
        int rc = in && out && ping_pong(out, in, rounds, false) == 0 ? 0 : 1;
        spscq_close(ab); /* the parent's handles, then ours */
        spscq_close(ba);
        spscq_close(in);
        spscq_close(out);
        _exit(rc);
    }
    ck_assert_msg(ping_pong(ab, ba, rounds, true) == 0, "ping-pong stalled");
    wait_child_ok(pid, "echoing side");
    /* The deadline (each wait has its own, 5 s: a lost wake-up). */
    ck_assert_int_lt((now_mono_ns() - t0) / 1000000, harness_ms(90000));
    spscq_remove(ab);
    spscq_remove(ba);
}
END_TEST

/* A forked consumer; it closes the producer handle q it inherits. */
static pid_t start_consumer(struct spscq *q, struct stream_progress *pr,
                            uint64_t n)
{
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct spscq *c = spscq_open(key_a, fifo_a, SPSCQ_CONSUMER);
        uint64_t next = UINT64_MAX; /* the queue says where we are */
        spscq_close(q);
        if (!c || stream_consume(c, 3, &next, n, harness_ms(10000), pr)) {
            fprintf(stderr, "consumer: %s\n",
                    c ? stream_error() : strerror(errno));
            _exit(1);
        }
        spscq_close(c);
        _exit(0);
    }
    return pid;
}

/* The consumer is killed with SIGKILL mid-stream, three times. Each new
 * consumer starts where the queue says the last one stopped: at the
 * message after the last one it checked, or at that one again if it was
 * killed after checking and before consuming it. Each consumer checks
 * that its messages follow one another; the last one drains the rest. */
START_TEST(test_spscq_consumer_killed_and_restarted)
{
    enum { KILLS = 3 };
    const uint64_t n = scaled(300000);
    struct stream_progress *pr =
        mmap(NULL, (KILLS + 1) * sizeof(*pr), PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    struct spscq *q = make_queue(16 * 1024, SPSCQ_PRODUCER);
    uint64_t seen[KILLS];
    pid_t pid;
    int round = 0;

    ck_assert_ptr_ne(pr, MAP_FAILED);
    for (int r = 0; r <= KILLS; r++)
        atomic_store(&pr[r].first, UINT64_MAX);
    pid = start_consumer(q, &pr[0], n);
    for (uint64_t seq = 0; seq < n; seq += 1000) {
        ck_assert_msg(
            stream_produce(q, 3, seq, seq + 1000, harness_ms(10000)) == 0,
            "producer: %s", stream_error());
        if (round < KILLS &&
            atomic_load(&pr[round].next) >= (round + 1) * n / (KILLS + 2)) {
            kill(pid, SIGKILL);
            ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
            seen[round] = atomic_load(&pr[round].next);
            pid = start_consumer(q, &pr[++round], n);
        }
    }
    wait_child_ok(pid, "last consumer");
    ck_assert_int_eq(round, KILLS);
    ck_assert_uint_eq(atomic_load(&pr[0].first), 0);
    for (int r = 1; r <= KILLS; r++) {
        uint64_t first = atomic_load(&pr[r].first);
        ck_assert_msg(first == seen[r - 1] || first + 1 == seen[r - 1],
                      "consumer %d checked up to %llu; the next began at "
                      "%llu",
                      r - 1, (unsigned long long)seen[r - 1],
                      (unsigned long long)first);
    }
    ck_assert_uint_eq(atomic_load(&pr[KILLS].next), n);
    munmap(pr, (KILLS + 1) * sizeof(*pr));
    spscq_remove(q);
}
END_TEST

/* --- threads ------------------------------------------------------------- */

struct thread_arg {
    struct spscq *q;
    uint64_t n;
    int rc;
    char err[256];
};

static void *producer_thread(void *p)
{
    struct thread_arg *a = p;

    a->rc = stream_produce(a->q, 5, 0, a->n, harness_ms(20000));
    return NULL;
}

/* Both threads share one handle and one attachment, so a race on the
 * ring's bytes is visible to ThreadSanitizer (CI runs this case under
 * SANITIZE=thread). A small ring keeps it switching between full, empty
 * and sleeping. */
START_TEST(test_spscq_threads_stress)
{
    struct thread_arg a;
    struct spscq *q = make_queue(8192, SPSCQ_BOTH);
    uint64_t next = 0;
    pthread_t t;
    int rc;

    a.q = q;
    a.n = scaled(300000);
    stream_prepare(5);
    ck_assert_int_eq(pthread_create(&t, NULL, producer_thread, &a), 0);
    rc = stream_consume(q, 5, &next, a.n, harness_ms(10000), NULL);
    pthread_join(t, NULL);
    ck_assert_msg(rc == 0, "consumer: %s", stream_error());
    ck_assert_int_eq(a.rc, 0);
    ck_assert_uint_eq(next, a.n);
    pop_empty(q);
    spscq_remove(q);
}
END_TEST

/* --- spscq_consume: the consumer's whole turn -------------------------- */

struct turn {
    uint32_t refuse_id; /* refuse this message (0: none) */
    int refuse_errno;   /* with this errno */
    unsigned taken;
};

static int turn_cb(uint32_t id, const void *data, size_t len, void *arg)
{
    struct turn *t = arg;

    (void)data;
    (void)len;
    if (id == t->refuse_id) {
        errno = t->refuse_errno;
        return -1;
    }
    t->taken++;
    return 0;
}

/* IDLE means "sleep": the queue is empty and the next push wakes us. MORE
 * means a full batch was taken; BLOCKED that cb refused (EAGAIN), with
 * the refused message still first and no wake-up promised; ERROR that cb
 * failed otherwise, errno kept. */
START_TEST(test_spscq_consume_turns)
{
    struct spscq *q = make_queue(4096, SPSCQ_BOTH);
    struct turn t = {0};
    int fd = spscq_wait_fd(q);

    ck_assert_int_eq(spscq_consume(q, turn_cb, &t, 2), SPSCQ_IDLE);
    push_ok(q, 1, "a", 1);
    ck_assert_msg(fd_readable(fd), "IDLE did not arm the wake-up");
    for (uint32_t i = 2; i <= 5; i++)
        push_ok(q, i, "b", 1);
    ck_assert_int_eq(spscq_consume(q, turn_cb, &t, 2), SPSCQ_MORE);
    ck_assert_msg(!fd_readable(fd), "consume did not ack the wake-up");
    ck_assert_int_eq(spscq_consume(q, turn_cb, &t, 2), SPSCQ_MORE);
    ck_assert_int_eq(spscq_consume(q, turn_cb, &t, 2), SPSCQ_IDLE);
    ck_assert_uint_eq(t.taken, 5);

    push_ok(q, 6, "c", 1);
    push_ok(q, 7, "d", 1);
    t = (struct turn){.refuse_id = 7, .refuse_errno = EAGAIN};
    ck_assert_int_eq(spscq_consume(q, turn_cb, &t, 10), SPSCQ_BLOCKED);
    ck_assert_uint_eq(t.taken, 1);
    push_ok(q, 8, "e", 1);
    ck_assert_msg(!fd_readable(fd), "a blocked consumer was promised a wake");
    t = (struct turn){.refuse_id = 7, .refuse_errno = EIO};
    ck_assert_int_eq(spscq_consume(q, turn_cb, &t, 10), SPSCQ_ERROR);
    ck_assert_int_eq(errno, EIO);
    pop_expect(q, 7, "d", 1); /* neither refusal consumed it */
    t = (struct turn){0};
    ck_assert_int_eq(spscq_consume(q, turn_cb, &t, 10), SPSCQ_IDLE);
    ck_assert_uint_eq(t.taken, 1);
    spscq_remove(q);
}
END_TEST

/* A corrupt length is the queue's error, whatever cb would say. */
START_TEST(test_spscq_consume_corrupt)
{
    struct spscq *q = make_queue(4096, SPSCQ_BOTH);
    struct turn t = {0};
    struct shmem sm;
    unsigned char *raw = raw_payload(&sm);

    push_ok(q, 1, "0123456", 7);
    *(uint32_t *)(raw + OFF_RING) = 7; /* shorter than its own header */
    ck_assert_int_eq(spscq_consume(q, turn_cb, &t, 10), SPSCQ_ERROR);
    ck_assert_int_eq(errno, EBADMSG);
    ck_assert_uint_eq(t.taken, 0);
    shmem_close(&sm);
    spscq_remove(q);
}
END_TEST

/* spscq_remove_key removes our queue and its FIFO, but not a segment
 * that is not a queue of ours. */
START_TEST(test_spscq_remove_key_only_ours)
{
    struct spscq *q = make_queue(4096, SPSCQ_BOTH);
    struct shmem sm;

    spscq_close(q);
    ck_assert_int_eq(spscq_remove_key(key_a, fifo_a), 0);
    ck_assert_int_eq(shmget(key_a, 0, 0), -1);
    ck_assert_int_eq(access(fifo_a, F_OK), -1);
    ck_assert_int_eq(shmem_create(&sm, key_a, 0x4f544852u, 1, 64), 0);
    shmem_publish(&sm);
    ck_assert_int_eq(spscq_remove_key(key_a, fifo_a), -1);
    ck_assert_int_eq(errno, EACCES);
    ck_assert_int_eq(shmget(key_a, 0, 0), sm.id);
    shmem_remove(&sm);
}
END_TEST

Suite *spscq_suite(void)
{
    Suite *s = suite_create("spscq");
    TCase *core = tcase_create("core");
    TCase *wake = tcase_create("wake");
    TCase *errors = tcase_create("errors");
    TCase *stream = tcase_create("stream");
    TCase *pingpong = tcase_create("pingpong");
    TCase *restart = tcase_create("restart");
    TCase *threads = tcase_create("threads");
    TCase *all[] = {core, wake, errors, stream, pingpong, restart, threads};

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        tcase_add_checked_fixture(all[i], setup_names, harness_cleanup);
        suite_add_tcase(s, all[i]);
    }
    tcase_add_test(core, test_spscq_empty);
    tcase_add_test(core, test_spscq_fifo_order_across_handles);
    tcase_add_test(core, test_spscq_full_and_exactly_full);
    tcase_add_test(core, test_spscq_oversize);
    tcase_add_test(core, test_spscq_zero_length);
    tcase_add_test(core, test_spscq_buffer_too_small);
    tcase_add_test(core, test_spscq_wrap_every_offset);
    tcase_add_test(core, test_spscq_drain_batches);
    tcase_add_test(core, test_spscq_consume_turns);
    tcase_add_test(core, test_spscq_remove_key_only_ours);
    tcase_add_test(wake, test_spscq_wake_only_when_sleeping);
    tcase_add_test(wake, test_spscq_quiet_push_then_wake);
    tcase_add_test(wake, test_spscq_consumer_open_wakes_itself);
    tcase_add_test(errors, test_spscq_bad_arguments);
    tcase_add_test(errors, test_spscq_fifo_checked);
    tcase_add_test(errors, test_spscq_corrupt_geometry);
    tcase_add_test(errors, test_spscq_corrupt_length);
    tcase_add_test(errors, test_spscq_consume_corrupt);
    tcase_add_test(errors, test_spscq_corrupt_index);
    tcase_add_test(errors, test_spscq_attach_copy);
    tcase_add_test(stream, test_spscq_fork_stream);
    tcase_add_test(stream, test_spscq_exec_peers);
    tcase_add_test(pingpong, test_spscq_ping_pong);
    tcase_add_test(restart, test_spscq_consumer_killed_and_restarted);
    tcase_add_test(threads, test_spscq_threads_stress);
    /* Check scales these by CK_TIMEOUT_MULTIPLIER too. */
    for (size_t i = 3; i < sizeof(all) / sizeof(all[0]); i++)
        tcase_set_timeout(all[i], 120);
    return s;
}

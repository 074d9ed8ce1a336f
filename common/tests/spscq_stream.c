/* spscq_stream.c -- a verifiable stream of messages for the spscq tests. */
#include "spscq_stream.h"
#include "now.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Contents are slices of one pseudo-random pool: cheap to make and to
 * check with memcmp, at any seq, yet different for every message. */
#define POOL_SIZE (64 * 1024)

static unsigned char pool[POOL_SIZE + STREAM_MAX_MSG];
static uint32_t pool_seed;
static int pool_ready;
static char errbuf[256];

static void set_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void set_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
    va_end(ap);
}

const char *stream_error(void) { return errbuf; }

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void stream_prepare(uint32_t seed)
{
    if (pool_ready && pool_seed == seed)
        return;
    for (size_t i = 0; i < sizeof(pool); i += 8) {
        uint64_t r = splitmix64(((uint64_t)seed << 32) ^ i);
        memcpy(pool + i, &r, 8);
    }
    pool_seed = seed;
    pool_ready = 1;
}

/* Message seq: its length and where its bytes start in the pool. */
static const unsigned char *msg_of(uint32_t seed, uint64_t seq, size_t *len)
{
    uint64_t r = splitmix64(seq * 0x100000001b3ull + seed);

    *len = (size_t)(r % (STREAM_MAX_MSG + 1));
    return pool + (r >> 32) % POOL_SIZE;
}

int stream_produce(struct spscq *q, uint32_t seed, uint64_t from, uint64_t to,
                   int timeout_ms)
{
    long long deadline = (now_mono_ns() / 1000000) + timeout_ms;

    stream_prepare(seed);
    for (uint64_t seq = from; seq < to; seq++) {
        size_t len;
        const unsigned char *data = msg_of(seed, seq, &len);
        unsigned spins = 0;

        while (spscq_push(q, (uint32_t)seq, data, len) < 0) {
            if (errno != EAGAIN) {
                set_error("push %llu: %s", (unsigned long long)seq,
                          strerror(errno));
                return -1;
            }
            /* Full: the consumer is behind. Yield; look at the clock now
             * and then only. */
            sched_yield();
            if (++spins % 1024 == 0 && (now_mono_ns() / 1000000) > deadline) {
                set_error("push %llu: queue full for too long",
                          (unsigned long long)seq);
                return -1;
            }
        }
    }
    return 0;
}

struct check_ctx {
    uint32_t seed;
    uint64_t *next;
    struct stream_progress *pr;
    int bad;
};

static int check_cb(uint32_t id, const void *data, size_t len, void *arg)
{
    struct check_ctx *c = arg;
    size_t want_len;
    const unsigned char *want;

    if (*c->next == UINT64_MAX)
        *c->next = id; /* a restarted consumer: the queue says where */
    want = msg_of(c->seed, *c->next, &want_len);
    if (id != (uint32_t)*c->next || len != want_len ||
        memcmp(data, want, len) != 0) {
        set_error("message %llu: got id %u len %zu (want len %zu)%s",
                  (unsigned long long)*c->next, id, len, want_len,
                  id == (uint32_t)*c->next && len == want_len
                      ? ", contents differ"
                      : "");
        c->bad = 1;
        return -1;
    }
    if (c->pr && atomic_load(&c->pr->first) == UINT64_MAX)
        atomic_store(&c->pr->first, *c->next);
    ++*c->next;
    /* Before the message is consumed: a consumer killed between this
     * store and the consume finds the message again after a restart. */
    if (c->pr)
        atomic_store(&c->pr->next, *c->next);
    return 0;
}

int stream_consume(struct spscq *q, uint32_t seed, uint64_t *next, uint64_t to,
                   int timeout_ms, struct stream_progress *pr)
{
    struct check_ctx c = {seed, next, pr, 0};

    stream_prepare(seed);
    while (*next == UINT64_MAX || *next < to) {
        int n = spscq_drain(q, check_cb, &c, 256);

        if (c.bad)
            return -1;
        if (n < 0) {
            set_error("drain at %llu: %s", (unsigned long long)*next,
                      strerror(errno));
            return -1;
        }
        if (n == 0 && spscq_wait(q, timeout_ms) < 0) {
            set_error("wait at %llu: %s%s", (unsigned long long)*next,
                      strerror(errno),
                      errno == ETIMEDOUT ? " (a lost wake-up?)" : "");
            return -1;
        }
    }
    return 0;
}

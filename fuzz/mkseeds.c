/* mkseeds.c -- write the fuzz targets' seed inputs from the library's own
 * output: a queue with wrapped messages, a filled multi-hash, a pool in
 * use, a live statistics block, typical option values, WebSocket frames
 * and handshakes. Seeds that are valid let the fuzzer start deep inside
 * the parsers instead of at their first check.
 * usage: mkseeds DIR (make -C fuzz seeds). */
#include "mhash.h"
#include "mpool.h"
#include "spscq.h"
#include "stats.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *dir;

static _Noreturn void die(const char *what)
{
    fprintf(stderr, "mkseeds: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Write the parts (pointer, length pairs, NULL-terminated) to
 * DIR/target/name. */
static void seed(const char *target, const char *name, ...)
{
    char path[512];
    va_list ap;
    FILE *f;
    const void *p;

    snprintf(path, sizeof(path), "%s/%s", dir, target);
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        die(path);
    snprintf(path, sizeof(path), "%s/%s/%s", dir, target, name);
    f = fopen(path, "wb");
    if (!f)
        die(path);
    va_start(ap, name);
    while ((p = va_arg(ap, const void *)) != NULL) {
        size_t n = va_arg(ap, size_t);
        if (fwrite(p, 1, n, f) != n)
            die(path);
    }
    va_end(ap);
    if (fclose(f) != 0)
        die(path);
}

/* --- spscq: [caplog][flags][capacity][head][tail][script 16][ring] ---- */

static void spscq_seed(const char *name, unsigned caplog, int npre, int nmsgs,
                       const uint8_t *script)
{
    uint64_t cap = 64u << caplog, head, tail;
    size_t total = 256 + cap;
    uint8_t hdr[2] = {(uint8_t)caplog, 0}, msg[300];
    unsigned char *mem;
    struct spscq *q;
    uint32_t id;

    if (posix_memalign((void **)&mem, 64, total) != 0)
        die("memory");
    memset(mem, 0, total);
    memcpy(mem, &cap, 8);
    q = spscq_attach(mem, total, SPSCQ_BOTH);
    if (!q)
        die("spscq_attach");
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)(i * 7);
    /* pushed and popped, so the messages that stay wrap the ring's end */
    for (int i = 0; i < npre; i++) {
        size_t len = sizeof(msg);
        if (spscq_push(q, (uint32_t)i, msg, (size_t)(13 + i * 5) % 61) < 0 ||
            spscq_pop(q, &id, msg, &len) < 0)
            die("spscq pre");
    }
    for (int i = 0; i < nmsgs; i++)
        if (spscq_push(q, (uint32_t)i, msg, (size_t)(i * 11) % 40) < 0)
            break;
    memcpy(&tail, mem + 64, 8);
    memcpy(&head, mem + 128, 8);
    seed("fuzz_spscq", name, hdr, sizeof(hdr), &cap, (size_t)8, &head,
         (size_t)8, &tail, (size_t)8, script, (size_t)16, mem + 256,
         (size_t)cap, NULL);
    spscq_close(q);
    free(mem);
}

static void spscq_seeds(void)
{
    static const uint8_t pops[16] = {0xfc, 0xfc, 0xfc, 0xfc, 0xfd, 0xfc,
                                     0x02, 0x40, 0x00, 0xf1, 0xfc, 0xfc};
    static const uint8_t mixed[16] = {0x52, 0xfc, 0xf1, 0x12, 0x03, 0xfc,
                                      0x22, 0xf1, 0x00, 0x42, 0x03, 0xfc};

    spscq_seed("empty", 0, 0, 0, mixed);
    spscq_seed("few", 2, 0, 5, pops);
    spscq_seed("wrapped", 2, 9, 6, pops);
    spscq_seed("full", 1, 3, 64, mixed);
}

/* --- mhash: [flags][8 keys][table] --------------------------------------- */

static void mhash_seed(const char *name, const struct mhash_geom *g,
                       uint8_t flags)
{
    uint64_t keys[8] = {1, 42, 7, 1000003, 12, 5, 77, 0};
    size_t size = mhash_size(g);
    unsigned char *mem, rec[64] = {0};
    struct mhash h;

    if (size == 0 || posix_memalign((void **)&mem, 64, size) != 0)
        die("mhash size");
    if (mhash_init(&h, mem, size, g) < 0)
        die("mhash_init");
    for (uint64_t k = 0; k < g->capacity / 2; k++) {
        memcpy(rec, &k, sizeof(k));
        (void)mhash_insert(&h, k * 7919, rec); /* ENOSPC is fine */
    }
    seed("fuzz_mhash", name, &flags, (size_t)1, keys, sizeof(keys), mem, size,
         NULL);
    free(mem);
}

static void mhash_seeds(void)
{
    struct mhash_geom equal = {3, 40, 8, false};
    struct mhash_geom decr = {5, 80, 20, true};

    mhash_seed("equal", &equal, 0);
    mhash_seed("decreasing-ro", &decr, 1);
}

/* --- mpool: [script 16][pool] ----------------------------------------------
 */

static void mpool_seeds(void)
{
    static const uint8_t script[16] = {0x00, 0x01, 0x02, 0x00, 0x13, 0x00,
                                       0x02, 0x02, 0x02, 0x01, 0x47, 0x00};
    size_t size = mpool_size(12, 40);
    unsigned char *mem;
    struct mpool mp;
    void *p[4];

    if (posix_memalign((void **)&mem, MPOOL_ALIGN, size) != 0)
        die("memory");
    memset(mem, 0, size);
    for (unsigned flags = 0; flags <= MPOOL_CHECKED; flags += MPOOL_CHECKED) {
        if (mpool_init(&mp, mem, size, 40, flags) < 0)
            die("mpool_init");
        for (int i = 0; i < 4; i++)
            p[i] = mpool_alloc(&mp);
        mpool_free(&mp, p[1]);
        mpool_free(&mp, p[3]);
        seed("fuzz_mpool", flags ? "checked" : "plain", script, sizeof(script),
             mem, size, NULL);
    }
    free(mem);
}

/* --- stats: the block, as a live writer leaves it ----------------------- */

static void stats_seeds(void)
{
    key_t key = (key_t)(0x5f000000 | (getpid() & 0xffffff));
    struct stats w;

    if (stats_create(&w, key, "echosvr_v4") < 0)
        die("stats_create");
    if (stats_register(&w, "conns_accepted", STATS_COUNTER) < 0 ||
        stats_register(&w, "conns_open", STATS_GAUGE) < 0 ||
        stats_register(&w, "bytes_in", STATS_COUNTER) < 0)
        die("stats_register");
    stats_start(&w);
    stats_add(&w, 0, 12);
    stats_set(&w, 1, 3);
    stats_add(&w, 2, 4096);
    stats_commit(&w);
    seed("fuzz_stats", "live", w.blk, sizeof(*w.blk), NULL);
    if (stats_remove(&w) < 0)
        die("stats_remove");
}

/* --- opts: [which][min][max][text] ------------------------------------- */

static void opts_seed(const char *name, uint8_t which, uint64_t min,
                      uint64_t max, const char *text)
{
    seed("fuzz_opts", name, &which, (size_t)1, &min, (size_t)8, &max, (size_t)8,
         text, strlen(text), NULL);
}

static void opts_seeds(void)
{
    opts_seed("port", 0, 0, 65535, "8080");
    opts_seed("hex", 0, 1, 0xffffffff, "0x5e7e0001");
    opts_seed("huge", 0, 0, UINT64_MAX, "18446744073709551616");
    opts_seed("size", 1, 64, 1u << 30, "64k");
    opts_seed("size-big", 1, 0, UINT64_MAX, "17179869184G");
    opts_seed("addr4", 2, 0, 0, "127.0.0.1");
    opts_seed("addr6", 2, 0, 0, "::1");
    opts_seed("key", 2, 0, 0, "0x53565354");
}

/* --- ws_frame: [mode][role][seed 8][limit 4][frames or script] -------
 * The frames of RFC 6455 5.7 (a masked "Hello" from a client, the same
 * unmasked from a server, a fragmented one, a ping), then lengths of 16
 * and 64 bits (a small one: long inputs slow the fuzzer down); the
 * scripts make the target write such frames itself. */
static void ws_frame_seed(const char *name, uint8_t mode, uint8_t role,
                          const void *bytes, size_t n)
{
    uint64_t cut = 0x9e3779b97f4a7c15ull;
    uint32_t limit = 0; /* even: the default limit, 16 MiB */

    seed("fuzz_ws_frame", name, &mode, (size_t)1, &role, (size_t)1, &cut,
         (size_t)8, &limit, (size_t)4, bytes, n, NULL);
}

static void ws_frame_seeds(void)
{
    static const uint8_t masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                     0x7f, 0x9f, 0x4d, 0x51, 0x58};
    static const uint8_t plain[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
    static const uint8_t frags[] = {0x01, 0x83, 0,    0, 0, 0,    'H', 'e',
                                    'l',  0x89, 0x80, 1, 2, 3,    4,   0x80,
                                    0x82, 0,    0,    0, 0, 'l',  'o', 0x88,
                                    0x82, 0,    0,    0, 0, 0x03, 0xe8};
    static uint8_t big16[4 + 4 + 256], big64[10 + 4 + 300];
    static const uint8_t script[] = {0xc1, 0x05, 0x03, 0x41, 0x42, 0x43,
                                     0xc3, 0x10, 0x20, 0x30, 0x40, 0x90,
                                     0xf9, 0x02, 0x07, 0x01, 0x80};

    big16[0] = 0x82;
    big16[1] = 0x80 | 126;
    big16[2] = 1; /* 256 */
    big64[0] = 0x82;
    big64[1] = 0x80 | 127;
    big64[8] = 1; /* 300 in 64 bits, which the parser takes */
    big64[9] = 44;
    ws_frame_seed("rfc-masked-hello", 0, 0, masked, sizeof(masked));
    ws_frame_seed("rfc-unmasked-hello", 0, 1, plain, sizeof(plain));
    ws_frame_seed("fragments-ping-close", 0, 0, frags, sizeof(frags));
    ws_frame_seed("length-16", 0, 0, big16, sizeof(big16));
    ws_frame_seed("length-64", 0, 0, big64, sizeof(big64));
    ws_frame_seed("script-server", 1, 0, script, sizeof(script));
    ws_frame_seed("script-client", 1, 1, script, sizeof(script));
}

/* --- ws_handshake: [mode][bound 2][request] --------------------------- */
static void ws_handshake_seeds(void)
{
    static const char rfc[] = "GET /chat HTTP/1.1\r\n"
                              "Host: server.example.com\r\n"
                              "Upgrade: websocket\r\n"
                              "Connection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Origin: http://example.com\r\n"
                              "Sec-WebSocket-Protocol: chat, superchat\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n";
    static const char page[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    static const char header[] = "Connection: keep-alive, Upgrade\r\n";
    uint8_t whole = 0, spliced = 1;
    uint16_t bound = 0; /* even: the default bound */

    seed("fuzz_ws_handshake", "rfc-request", &whole, (size_t)1, &bound,
         (size_t)2, rfc, sizeof(rfc) - 1, NULL);
    seed("fuzz_ws_handshake", "page", &whole, (size_t)1, &bound, (size_t)2,
         page, sizeof(page) - 1, NULL);
    seed("fuzz_ws_handshake", "spliced-header", &spliced, (size_t)1, &bound,
         (size_t)2, header, sizeof(header) - 1, NULL);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mkseeds DIR\n");
        return 2;
    }
    dir = argv[1];
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        die(dir);
    spscq_seeds();
    mhash_seeds();
    mpool_seeds();
    stats_seeds();
    opts_seeds();
    ws_frame_seeds();
    ws_handshake_seeds();
    return 0;
}

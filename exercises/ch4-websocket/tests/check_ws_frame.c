/* check_ws_frame.c -- unit tests of the frame parser and writer
 * (ws_frame.c): the RFC's own examples, every length encoding, any split
 * of the input, reassembly, and each rule a peer can break. */
#include "ws_frame.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MSG (1u << 20)

/* A readable account of what the parser reported, independent of how the
 * input was split: "T:text|" for a text message (its pieces joined),
 * "B:...|" binary, "ping:x|", "pong:x|", "close:CODE:reason|",
 * "error:CODE|". Non-printable bytes are written as \xHH. */
struct account {
    char text[4096];
    size_t len;
};

static void put(struct account *a, const char *fmt, const void *data, size_t n)
{
    const unsigned char *p = data;

    a->len +=
        (size_t)snprintf(a->text + a->len, sizeof(a->text) - a->len, "%s", fmt);
    for (size_t i = 0; i < n && a->len + 5 < sizeof(a->text); i++)
        a->len += (size_t)snprintf(
            a->text + a->len, sizeof(a->text) - a->len,
            p[i] >= 0x20 && p[i] < 0x7f ? "%c" : "\\x%02x", p[i]);
}

static bool record(struct account *a, const struct ws_event *ev)
{
    char head[32];

    switch (ev->type) {
    case WS_EV_NONE: return true;
    case WS_EV_DATA:
        put(a, ev->first ? (ev->opcode == WS_OP_TEXT ? "T:" : "B:") : "",
            ev->data, ev->len);
        if (ev->last)
            put(a, "|", NULL, 0);
        return true;
    case WS_EV_PING: put(a, "ping:", ev->data, ev->len); break;
    case WS_EV_PONG: put(a, "pong:", ev->data, ev->len); break;
    case WS_EV_CLOSE:
        snprintf(head, sizeof(head), "close:%u:", ev->code);
        put(a, head, ev->data, ev->len);
        break;
    case WS_EV_ERROR:
        snprintf(head, sizeof(head), "error:%u|", ev->code);
        put(a, head, NULL, 0);
        return false;
    }
    put(a, "|", NULL, 0);
    return true;
}

/* Feed len bytes in pieces of step bytes (0: all at once) to a parser of
 * role, and return the account (static storage). */
static const char *feed(enum ws_role role, uint64_t max, const void *bytes,
                        size_t len, size_t step)
{
    static struct account a;
    unsigned char *copy = malloc(len + 1);
    struct ws_parser p;
    size_t off = 0;

    ck_assert_ptr_nonnull(copy);
    memcpy(copy, bytes, len);
    memset(&a, 0, sizeof(a));
    ws_parser_init(&p, role, max);
    while (off < len) {
        size_t n = step && len - off > step ? step : len - off;
        size_t used = 0;
        for (;;) {
            struct ws_event ev;
            size_t k = ws_parse(&p, copy + off + used, n - used, &ev);
            ck_assert_uint_le(k, n - used);
            used += k;
            if (!record(&a, &ev))
                goto out;
            if (ev.type == WS_EV_NONE) {
                ck_assert_uint_eq(used, n);
                break;
            }
        }
        off += n;
    }
out:
    free(copy);
    return a.text;
}

static const char *server(const void *b, size_t n)
{
    return feed(WS_SERVER, MAX_MSG, b, n, 0);
}

/* A client frame: masked with a fixed mask, as a browser would send. */
static size_t frame(unsigned char *out, bool fin, unsigned opcode,
                    const void *payload, size_t len)
{
    static const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t n = ws_frame_header(out, fin, opcode, len, mask);

    memcpy(out + n, payload, len);
    ws_mask(out + n, len, mask, 0);
    return n + len;
}

/* --- the RFC's examples (RFC 6455 5.7) ----------------------------------- */

START_TEST(test_ws_frame_rfc_unmasked_examples)
{
    static const unsigned char hello[] = {0x81, 0x05, 0x48, 0x65,
                                          0x6c, 0x6c, 0x6f};
    static const unsigned char frag[] = {0x01, 0x03, 0x48, 0x65, 0x6c,
                                         0x80, 0x02, 0x6c, 0x6f};
    static const unsigned char ping[] = {0x89, 0x05, 0x48, 0x65,
                                         0x6c, 0x6c, 0x6f};

    /* Unmasked: what a client reads from a server. */
    ck_assert_str_eq(feed(WS_CLIENT, MAX_MSG, hello, sizeof(hello), 0),
                     "T:Hello|");
    ck_assert_str_eq(feed(WS_CLIENT, MAX_MSG, frag, sizeof(frag), 0),
                     "T:Hello|");
    ck_assert_str_eq(feed(WS_CLIENT, MAX_MSG, ping, sizeof(ping), 0),
                     "ping:Hello|");
    /* A server must refuse every one of them: clients mask. */
    ck_assert_str_eq(server(hello, sizeof(hello)), "error:1002|");
    ck_assert_str_eq(server(ping, sizeof(ping)), "error:1002|");
}
END_TEST

START_TEST(test_ws_frame_rfc_masked_examples)
{
    static const unsigned char hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                          0x7f, 0x9f, 0x4d, 0x51, 0x58};
    static const unsigned char pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                         0x7f, 0x9f, 0x4d, 0x51, 0x58};

    ck_assert_str_eq(server(hello, sizeof(hello)), "T:Hello|");
    ck_assert_str_eq(server(pong, sizeof(pong)), "pong:Hello|");
    ck_assert_str_eq(feed(WS_CLIENT, MAX_MSG, hello, sizeof(hello), 0),
                     "error:1002|");
}
END_TEST

/* 256 bytes take a 16-bit length, 64 KiB a 64-bit one. */
START_TEST(test_ws_frame_rfc_length_examples)
{
    unsigned char out[WS_HEADER_MAX];
    static const unsigned char h256[] = {0x82, 0x7e, 0x01, 0x00};
    static const unsigned char h64k[] = {0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0};
    static const unsigned char hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d};
    static const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};

    ck_assert_uint_eq(ws_frame_header(out, true, WS_OP_BINARY, 256, NULL), 4);
    ck_assert_mem_eq(out, h256, 4);
    ck_assert_uint_eq(ws_frame_header(out, true, WS_OP_BINARY, 65536, NULL),
                      10);
    ck_assert_mem_eq(out, h64k, 10);
    ck_assert_uint_eq(ws_frame_header(out, true, WS_OP_TEXT, 5, mask), 6);
    ck_assert_mem_eq(out, hello, 6);
}
END_TEST

/* Every length encoding, at its edges, through writer and parser. */
START_TEST(test_ws_frame_lengths)
{
    static const size_t lens[] = {0,     1,     125,   126,   127,
                                  65535, 65536, 65537, 300000};
    unsigned char *payload = malloc(300000), *buf = malloc(300000 + 14);

    ck_assert_ptr_nonnull(payload);
    ck_assert_ptr_nonnull(buf);
    for (size_t i = 0; i < 300000; i++)
        payload[i] = (unsigned char)(i * 7 + 3);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t n = frame(buf, true, WS_OP_BINARY, payload, lens[i]);
        size_t hdr = n - lens[i];
        struct ws_parser p;
        struct ws_event ev;

        ck_assert_uint_eq(hdr, lens[i] < 126 ? 6 : lens[i] < 65536 ? 8 : 14);
        ws_parser_init(&p, WS_SERVER, MAX_MSG);
        ck_assert_uint_eq(ws_parse(&p, buf, n, &ev), n);
        ck_assert_int_eq(ev.type, WS_EV_DATA);
        ck_assert(ev.first && ev.last);
        ck_assert_uint_eq(ev.len, lens[i]);
        ck_assert(lens[i] == 0 || memcmp(ev.data, payload, lens[i]) == 0);
    }
    free(payload);
    free(buf);
}
END_TEST

/* A stream of frames of every kind, fed whole and split at every size:
 * the parser reports the same thing whatever the reads were. */
START_TEST(test_ws_frame_any_split)
{
    unsigned char buf[1024];
    size_t n = 0;
    const char *whole, *want = "T:Hello|ping:are you there|B:\\x00\\x01\\xff"
                               "\\x02|T:frag\\xcepong:|\\xbcented|"
                               "close:1000:bye|";

    n += frame(buf + n, true, WS_OP_TEXT, "Hello", 5);
    n += frame(buf + n, true, WS_OP_PING, "are you there", 13);
    n += frame(buf + n, true, WS_OP_BINARY, "\x00\x01\xff\x02", 4);
    /* a text message in three fragments, a character cut in two, and a
     * pong between fragments (reported where it came) */
    n += frame(buf + n, false, WS_OP_TEXT, "frag\xce", 5);
    n += frame(buf + n, false, WS_OP_CONT, "", 0);
    n += frame(buf + n, true, WS_OP_PONG, "", 0);
    n += frame(buf + n, true, WS_OP_CONT,
               "\xbc"
               "ented",
               6);
    n += frame(buf + n, true, WS_OP_CLOSE,
               "\x03\xe8"
               "bye",
               5);
    whole = server(buf, n);
    ck_assert_str_eq(whole, want);
    for (size_t step = 1; step <= n; step++)
        ck_assert_msg(strcmp(feed(WS_SERVER, MAX_MSG, buf, n, step), want) == 0,
                      "split every %zu bytes: %s", step,
                      feed(WS_SERVER, MAX_MSG, buf, n, step));
}
END_TEST

/* Pieces carry first and last; one frame over many reads is many pieces
 * of one message. */
START_TEST(test_ws_frame_pieces)
{
    unsigned char buf[64];
    size_t n = frame(buf, true, WS_OP_TEXT, "abcdefgh", 8), used = 0;
    struct ws_parser p;
    struct ws_event ev;
    int pieces = 0;

    ws_parser_init(&p, WS_SERVER, MAX_MSG);
    /* header and the first 3 payload bytes, then 5 more */
    used = ws_parse(&p, buf, 9, &ev);
    ck_assert_uint_eq(used, 9);
    ck_assert_int_eq(ev.type, WS_EV_DATA);
    ck_assert(ev.first && !ev.last);
    ck_assert_mem_eq(ev.data, "abc", 3);
    ck_assert(ws_parser_in_message(&p));
    for (size_t off = 9; off < n; off += used, pieces++) {
        used = ws_parse(&p, buf + off, 1, &ev);
        ck_assert_int_eq(ev.type, WS_EV_DATA);
        ck_assert(!ev.first);
        ck_assert_int_eq(ev.last, off + 1 == n);
    }
    ck_assert_int_eq(pieces, 5);
    ck_assert(!ws_parser_in_message(&p));
}
END_TEST

START_TEST(test_ws_frame_close_codes)
{
    unsigned char buf[64];

    ck_assert_str_eq(server(buf, frame(buf, true, WS_OP_CLOSE, "", 0)),
                     "close:1005:|");
    ck_assert_str_eq(server(buf, frame(buf, true, WS_OP_CLOSE, "\x0f\xa0", 2)),
                     "close:4000:|");
    /* one byte of code, a reserved code, one from no range */
    ck_assert_str_eq(server(buf, frame(buf, true, WS_OP_CLOSE, "\x03", 1)),
                     "error:1002|");
    ck_assert_str_eq(server(buf, frame(buf, true, WS_OP_CLOSE, "\x03\xed", 2)),
                     "error:1002|");
    ck_assert_str_eq(server(buf, frame(buf, true, WS_OP_CLOSE, "\x07\xd0", 2)),
                     "error:1002|");
    ck_assert_str_eq(
        server(buf, frame(buf, true, WS_OP_CLOSE, "\x03\xe8\xff", 3)),
        "error:1007|");
    ck_assert(ws_close_code_valid(1000) && ws_close_code_valid(1011));
    ck_assert(ws_close_code_valid(3000) && ws_close_code_valid(4999));
    ck_assert(!ws_close_code_valid(999) && !ws_close_code_valid(1004));
    ck_assert(!ws_close_code_valid(1006) && !ws_close_code_valid(1015));
    ck_assert(!ws_close_code_valid(2999) && !ws_close_code_valid(5000));
}
END_TEST

/* --- what a peer must not do ---------------------------------------------- */

START_TEST(test_ws_frame_unmasked_refused)
{
    unsigned char buf[16] = {0x81, 0x02, 'h', 'i'};

    ck_assert_str_eq(server(buf, 4), "error:1002|");
    /* the same frame masked is fine */
    ck_assert_str_eq(server(buf, frame(buf, true, WS_OP_TEXT, "hi", 2)),
                     "T:hi|");
    /* and a client refuses masked frames from a server */
    ck_assert_str_eq(
        feed(WS_CLIENT, MAX_MSG, buf, frame(buf, true, WS_OP_TEXT, "hi", 2), 0),
        "error:1002|");
}
END_TEST

START_TEST(test_ws_frame_control_rules)
{
    unsigned char buf[512], big[126] = {0};

    /* 125 bytes are fine, 126 are not: refused on the header alone */
    ck_assert_uint_eq(
        strncmp(server(buf, frame(buf, true, WS_OP_PING, big, 125)),
                "ping:", 5),
        0);
    ck_assert_str_eq(feed(WS_SERVER, MAX_MSG, buf,
                          frame(buf, true, WS_OP_PING, big, 126) - 126, 0),
                     "error:1002|");
    ck_assert_str_eq(server(buf, frame(buf, true, WS_OP_CLOSE, big, 126)),
                     "error:1002|");
    /* control frames are never fragmented */
    ck_assert_str_eq(server(buf, frame(buf, false, WS_OP_PING, "x", 1)),
                     "error:1002|");
}
END_TEST

START_TEST(test_ws_frame_fragmentation_rules)
{
    unsigned char buf[64];
    size_t n;

    ck_assert_str_eq(server(buf, frame(buf, true, WS_OP_CONT, "x", 1)),
                     "error:1002|");
    n = frame(buf, false, WS_OP_TEXT, "a", 1);
    n += frame(buf + n, true, WS_OP_TEXT, "b", 1);
    ck_assert_str_eq(server(buf, n), "T:aerror:1002|");
    n = frame(buf, false, WS_OP_BINARY, "a", 1);
    n += frame(buf + n, true, WS_OP_CONT, "b", 1);
    n += frame(buf + n, true, WS_OP_CONT, "c", 1);
    ck_assert_str_eq(server(buf, n), "B:ab|error:1002|");
}
END_TEST

START_TEST(test_ws_frame_reserved_bits_and_opcodes)
{
    static const unsigned op[] = {3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf};
    unsigned char buf[64];

    for (size_t i = 0; i < sizeof(op) / sizeof(op[0]); i++)
        ck_assert_str_eq(server(buf, frame(buf, true, op[i], "x", 1)),
                         "error:1002|");
    ck_assert_str_eq(server(buf, frame(buf, true, WS_OP_TEXT, "x", 1)), "T:x|");
    for (unsigned rsv = 0x10; rsv <= 0x40; rsv <<= 1) {
        frame(buf, true, WS_OP_TEXT, "x", 1);
        buf[0] |= (unsigned char)rsv;
        ck_assert_str_eq(server(buf, 7), "error:1002|");
    }
}
END_TEST

/* A 64-bit length with its top bit set is malformed. */
START_TEST(test_ws_frame_length_top_bit)
{
    unsigned char buf[] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    unsigned char ok[] = {0x82, 0xff, 0, 0, 0, 0, 0,      0,
                          0,    1,    1, 2, 3, 4, 'z' ^ 1};

    ck_assert_str_eq(server(buf, sizeof(buf)), "error:1002|");
    /* a length of 1 in 64 bits is fine */
    ck_assert_str_eq(server(ok, sizeof(ok)), "B:z|");
}
END_TEST

/* The limit holds for one frame and for fragments together, and is
 * checked on the header: no payload needs to arrive. */
START_TEST(test_ws_frame_too_big)
{
    unsigned char buf[256], hdr[WS_HEADER_MAX];
    static const unsigned char mask[4] = {1, 2, 3, 4};
    const char *got;
    size_t n;

    n = ws_frame_header(hdr, true, WS_OP_BINARY, 101, mask);
    ck_assert_str_eq(feed(WS_SERVER, 100, hdr, n, 0), "error:1009|");
    n = ws_frame_header(hdr, true, WS_OP_BINARY, (uint64_t)1 << 62, mask);
    ck_assert_str_eq(server(hdr, n), "error:1009|");
    memset(buf + 128, 'x', 100); /* the payload: 100 bytes, at the limit */
    n = frame(buf, true, WS_OP_BINARY, buf + 128, 100);
    got = feed(WS_SERVER, 100, buf, n, 0);
    ck_assert_msg(strncmp(got, "B:", 2) == 0 && strspn(got + 2, "x") == 100 &&
                      strcmp(got + 102, "|") == 0,
                  "%s", got);
    n = frame(buf, false, WS_OP_TEXT, "0123456789", 10);
    n += frame(buf + n, true, WS_OP_CONT, "0123456789", 10);
    ck_assert_str_eq(feed(WS_SERVER, 20, buf, n, 0), "T:01234567890123456789|");
    ck_assert_str_eq(feed(WS_SERVER, 19, buf, n, 0), "T:0123456789error:1009|");
    /* control frames do not count */
    n = frame(buf, true, WS_OP_PING, "0123456789", 10);
    ck_assert_str_eq(feed(WS_SERVER, 5, buf, n, 0), "ping:0123456789|");
}
END_TEST

START_TEST(test_ws_frame_stays_failed)
{
    unsigned char buf[32] = {0x81, 0x01, 'x'};
    struct ws_parser p;
    struct ws_event ev;

    ws_parser_init(&p, WS_SERVER, MAX_MSG);
    frame(buf + 16, true, WS_OP_TEXT, "ok", 2);
    ck_assert_uint_eq(ws_parse(&p, buf + 16, 8, &ev), 8);
    ck_assert_int_eq(ev.type, WS_EV_DATA);
    ws_parse(&p, buf, 3, &ev);
    ck_assert_int_eq(ev.type, WS_EV_ERROR);
    frame(buf, true, WS_OP_TEXT, "ok", 2);
    ck_assert_uint_eq(ws_parse(&p, buf, 8, &ev), 0);
    ck_assert_int_eq(ev.type, WS_EV_ERROR);
    ck_assert_uint_eq(ev.code, 1002);
}
END_TEST

/* --- UTF-8 -----------------------------------------------------------------
 */

static bool utf8_ok(const char *s, size_t n)
{
    struct ws_utf8 u;

    ws_utf8_init(&u);
    return ws_utf8_feed(&u, (const unsigned char *)s, n) &&
           ws_utf8_complete(&u);
}

#define OK(lit)  ck_assert_msg(utf8_ok(lit, sizeof(lit) - 1), "refused " #lit)
#define BAD(lit) ck_assert_msg(!utf8_ok(lit, sizeof(lit) - 1), "took " #lit)

START_TEST(test_ws_frame_utf8_rules)
{
    OK("");
    OK("plain ASCII, long enough for the eight-byte path");
    OK("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"); /* kosme */
    OK("\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf");     /* 2, 3 bytes */
    OK("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");             /* U+10000, max */
    OK("\xed\x9f\xbf\xee\x80\x80");                     /* around surrogates */
    BAD("\x80");                                        /* lone continuation */
    BAD("\xc0\x80");                                    /* overlong NUL */
    BAD("\xc1\xbf");
    BAD("\xe0\x80\x80");
    BAD("\xe0\x9f\xbf");
    BAD("\xf0\x80\x80\x80");
    BAD("\xf0\x8f\xbf\xbf");
    BAD("\xed\xa0\x80");     /* U+D800 */
    BAD("\xed\xbf\xbf");     /* U+DFFF */
    BAD("\xf4\x90\x80\x80"); /* U+110000 */
    BAD("\xf5\x80\x80\x80");
    BAD("\xff");
    BAD("\xce"); /* cut short */
    BAD("\xe1\xbd");
    BAD("ASCII first, then \xce\x41"); /* a lead without its continuation */
}
END_TEST

START_TEST(test_ws_frame_utf8_resumes_anywhere)
{
    const char s[] = "a\xce\xba\xe1\xbd\xb9\xf0\x9f\x98\x80z";
    struct ws_utf8 u;

    for (size_t cut = 0; cut < sizeof(s) - 1; cut++) {
        ws_utf8_init(&u);
        ck_assert(ws_utf8_feed(&u, (const unsigned char *)s, cut));
        ck_assert(ws_utf8_feed(&u, (const unsigned char *)s + cut,
                               sizeof(s) - 1 - cut));
        ck_assert(ws_utf8_complete(&u));
    }
}
END_TEST

/* Text is UTF-8 as a whole message: a character may straddle fragments;
 * a bad byte fails at once (1007), a character open at the end too. */
START_TEST(test_ws_frame_text_utf8)
{
    unsigned char buf[128];
    size_t n;

    ck_assert_str_eq(server(buf, frame(buf, true, WS_OP_TEXT, "\xc3\x28", 2)),
                     "error:1007|");
    ck_assert_str_eq(server(buf, frame(buf, true, WS_OP_TEXT, "ab\xe2\x82", 4)),
                     "error:1007|");
    n = frame(buf, false, WS_OP_TEXT, "\xf0\x9f", 2);
    n += frame(buf + n, true, WS_OP_CONT, "\x98\x80", 2);
    ck_assert_str_eq(server(buf, n), "T:\\xf0\\x9f\\x98\\x80|");
    n = frame(buf, false, WS_OP_TEXT, "\xf0\x9f", 2);
    n += frame(buf + n, true, WS_OP_CONT, "\x28\x80", 2);
    ck_assert_str_eq(server(buf, n), "T:\\xf0\\x9ferror:1007|");
    /* binary messages are not text */
    ck_assert_str_eq(server(buf, frame(buf, true, WS_OP_BINARY, "\xc3\x28", 2)),
                     "B:\\xc3(|");
}
END_TEST

Suite *ws_frame_suite(void)
{
    Suite *s = suite_create("ws_frame");
    TCase *core = tcase_create("frame_core");
    TCase *errors = tcase_create("frame_errors");
    TCase *utf8 = tcase_create("utf8");

    tcase_add_test(core, test_ws_frame_rfc_unmasked_examples);
    tcase_add_test(core, test_ws_frame_rfc_masked_examples);
    tcase_add_test(core, test_ws_frame_rfc_length_examples);
    tcase_add_test(core, test_ws_frame_lengths);
    tcase_add_test(core, test_ws_frame_any_split);
    tcase_add_test(core, test_ws_frame_pieces);
    tcase_add_test(core, test_ws_frame_close_codes);
    tcase_add_test(errors, test_ws_frame_unmasked_refused);
    tcase_add_test(errors, test_ws_frame_control_rules);
    tcase_add_test(errors, test_ws_frame_fragmentation_rules);
    tcase_add_test(errors, test_ws_frame_reserved_bits_and_opcodes);
    tcase_add_test(errors, test_ws_frame_length_top_bit);
    tcase_add_test(errors, test_ws_frame_too_big);
    tcase_add_test(errors, test_ws_frame_stays_failed);
    tcase_add_test(utf8, test_ws_frame_utf8_rules);
    tcase_add_test(utf8, test_ws_frame_utf8_resumes_anywhere);
    tcase_add_test(utf8, test_ws_frame_text_utf8);
    suite_add_tcase(s, core);
    suite_add_tcase(s, errors);
    suite_add_tcase(s, utf8);
    return s;
}

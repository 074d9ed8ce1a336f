/* fuzz_ws_frame.c -- the WebSocket frame parser (ws_frame.h of
 * exercises/ch4-websocket) over bytes from the network.
 *
 * Input: u8 mode, u8 role (bit 0: client), u64 seed for the cuts, u32
 * message limit, then the rest.
 *
 * Mode even: the rest is the stream itself. It is parsed twice, whole and
 * cut into pieces whose sizes come from the seed, and both parses must
 * tell the same story: the same control frames, the same messages byte
 * for byte, the same error code, the same bytes of a message left open
 * at the end. What a streaming parser decides may never depend on where
 * the reads split the bytes.
 *
 * Mode odd: the rest is a script. The target writes the frames it
 * describes (messages in 1 to 4 fragments with pings and pongs between
 * them, 7-, 16- and 64-bit lengths, text that is valid UTF-8 cut
 * anywhere, a close at the end), masked as the role demands, with
 * ws_frame_header() and ws_mask(), notes what a correct parser must
 * report, and checks that the cut parse reports exactly that, including
 * 1009 when a message passes the limit.
 *
 * Every call of ws_parse() is also held to its contract: it consumes no
 * more than it was given, all of it when it reports nothing, and
 * something unless it reports an event; data lies inside the buffer,
 * control payloads are at most 125 bytes, a text message is valid UTF-8
 * by the check written here, an error is 1002, 1007 or 1009 and the
 * parser stays failed after it. */
#include "fuzz.h"

#include "ws_frame.h"

#include <stdbool.h>

#define MAX_STREAM (1u << 20)

/* What a parse reported, as bytes: one record per whole event. */
struct story {
    unsigned char *p;
    size_t len, cap;
    /* the message being reassembled */
    unsigned char *msg;
    size_t msg_len, msg_cap;
    uint8_t msg_opcode;
};

static void grow(unsigned char **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    while (*cap < need)
        *cap = *cap ? *cap * 2 : 256;
    *p = realloc(*p, *cap);
    FUZZ_EXPECT(*p != NULL);
}

static void tell(struct story *s, const void *data, size_t n)
{
    grow(&s->p, &s->cap, s->len + n);
    memcpy(s->p + s->len, data, n);
    s->len += n;
}

/* One record: a tag, an opcode or code, a length, the bytes. */
static void record(struct story *s, char tag, unsigned code,
                   const unsigned char *data, size_t n)
{
    uint64_t len = n;
    uint16_t c = (uint16_t)code;

    tell(s, &tag, 1);
    tell(s, &c, sizeof(c));
    tell(s, &len, sizeof(len));
    if (n)
        tell(s, data, n);
}

/* Two stories, the same bytes. */
static void expect_same(const struct story *a, const struct story *b)
{
    FUZZ_EXPECT(a->len == b->len);
    FUZZ_EXPECT(a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static void story_free(struct story *s)
{
    free(s->p);
    free(s->msg);
}

/* An independent UTF-8 check (RFC 3629): decode each character whole and
 * refuse overlong forms, surrogates and code points past U+10FFFF. */
static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned c = s[i], need;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            need = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            need = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            need = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i <= need)
            return false;
        for (unsigned k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
            (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += need + 1;
    }
    return true;
}

/* Parse buf (len bytes, changed in place) in pieces cut by seed (0: in
 * one piece) into *s. */
static void parse(unsigned char *buf, size_t len, enum ws_role role,
                  uint64_t max, uint64_t seed, struct story *s)
{
    struct ws_parser p;
    struct ws_event ev;
    size_t at = 0;
    uint16_t failed = 0;

    ws_parser_init(&p, role, max);
    while (at < len) {
        size_t piece = len - at, used;

        if (seed) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            /* mostly small pieces, now and then a large one */
            piece = seed & 0x100 ? 1 + seed % 4096 : 1 + seed % 7;
            if (piece > len - at)
                piece = len - at;
        }
        while (piece > 0) {
            used = ws_parse(&p, buf + at, piece, &ev);
            FUZZ_EXPECT(used <= piece);
            if (failed) { /* it stays failed, with the same code */
                FUZZ_EXPECT(ev.type == WS_EV_ERROR && ev.code == failed);
                FUZZ_EXPECT(used == 0);
                goto done;
            }
            FUZZ_EXPECT(ev.type != WS_EV_NONE ? true : used == piece);
            FUZZ_EXPECT(used > 0 || ev.type != WS_EV_NONE);
            switch (ev.type) {
            case WS_EV_NONE: break;
            case WS_EV_DATA:
                FUZZ_EXPECT(ev.data >= buf + at && ev.len <= used &&
                            ev.data + ev.len <= buf + at + used);
                FUZZ_EXPECT(ev.opcode == WS_OP_TEXT ||
                            ev.opcode == WS_OP_BINARY);
                FUZZ_EXPECT(ev.first == (s->msg_opcode == 0));
                FUZZ_EXPECT(ev.first || ev.opcode == s->msg_opcode);
                s->msg_opcode = ev.opcode;
                grow(&s->msg, &s->msg_cap, s->msg_len + ev.len);
                if (ev.len)
                    memcpy(s->msg + s->msg_len, ev.data, ev.len);
                s->msg_len += ev.len;
                FUZZ_EXPECT(s->msg_len <= max);
                if (ev.last) {
                    FUZZ_EXPECT(ev.opcode != WS_OP_TEXT ||
                                utf8_valid(s->msg, s->msg_len));
                    record(s, 'M', ev.opcode, s->msg, s->msg_len);
                    s->msg_len = 0;
                    s->msg_opcode = 0;
                }
                FUZZ_EXPECT(ws_parser_in_message(&p) == !ev.last);
                break;
            case WS_EV_PING:
            case WS_EV_PONG:
                FUZZ_EXPECT(ev.len <= WS_CONTROL_MAX);
                record(s, ev.type == WS_EV_PING ? 'I' : 'O', 0, ev.data,
                       ev.len);
                break;
            case WS_EV_CLOSE:
                FUZZ_EXPECT(ev.len <= WS_CONTROL_MAX - 2);
                FUZZ_EXPECT(ev.code == WS_CLOSE_NO_STATUS ||
                            ws_close_code_valid(ev.code));
                FUZZ_EXPECT(utf8_valid(ev.data, ev.len));
                record(s, 'C', ev.code, ev.data, ev.len);
                break;
            case WS_EV_ERROR:
                FUZZ_EXPECT(ev.code == WS_CLOSE_PROTOCOL ||
                            ev.code == WS_CLOSE_BAD_DATA ||
                            ev.code == WS_CLOSE_TOO_BIG);
                failed = ev.code;
                break;
            }
            at += used;
            piece -= used;
        }
    }
done:
    if (failed) {
        /* where a bad byte is found depends on the pieces, so the part of
         * the open message already handed out may too: only the code */
        record(s, 'E', failed, NULL, 0);
    } else if (s->msg_opcode) {
        record(s, 'P', s->msg_opcode, s->msg, s->msg_len);
    }
}

/* --- the script: frames written here, what must be reported noted ---- */

struct script {
    struct fuzz_in in;
    enum ws_role role;
    uint64_t max;
    unsigned char *out; /* the frames */
    size_t len, cap;
    struct story want;
    uint64_t fill; /* payload bytes beyond the input's come from here */
};

static uint8_t next_byte(struct script *sc)
{
    if (sc->in.left)
        return fuzz_u8(&sc->in);
    sc->fill = sc->fill * 6364136223846793005ull + 1442695040888963407ull;
    return (uint8_t)(sc->fill >> 56);
}

/* One frame of n payload bytes at data, masked when the role wants it. */
static void put_frame(struct script *sc, bool fin, unsigned opcode,
                      const unsigned char *data, size_t n)
{
    unsigned char mask[4], *dst;
    size_t h;

    for (int i = 0; i < 4; i++)
        mask[i] = next_byte(sc);
    grow(&sc->out, &sc->cap, sc->len + WS_HEADER_MAX + n);
    h = ws_frame_header(sc->out + sc->len, fin, opcode, n,
                        sc->role == WS_SERVER ? mask : NULL);
    dst = sc->out + sc->len + h;
    if (n)
        memcpy(dst, data, n);
    if (sc->role == WS_SERVER)
        ws_mask(dst, n, mask, 0);
    sc->len += h + n;
}

/* Valid UTF-8, n bytes at most (a character that does not fit is left
 * out), from the script's bytes. */
static size_t utf8_text(struct script *sc, unsigned char *out, size_t n)
{
    size_t k = 0;

    while (k < n) {
        uint8_t b = next_byte(sc);
        uint32_t cp;
        size_t w;

        if (b < 0xc0) { /* ASCII most of the time */
            out[k++] = b & 0x7f;
            continue;
        }
        cp = (uint32_t)next_byte(sc) << 8 | next_byte(sc);
        switch (b & 3) {
        case 0: cp = 0x80 + cp % 0x780; break;
        case 1: cp = 0x800 + cp % 0xf800; break;
        default: cp = 0x10000 + ((uint32_t)b << 16 | cp) % 0x100000; break;
        }
        if (cp >= 0xd800 && cp <= 0xdfff)
            cp = 0xfffd;
        w = cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (k + w > n)
            break;
        if (w == 2) {
            out[k++] = (unsigned char)(0xc0 | cp >> 6);
        } else if (w == 3) {
            out[k++] = (unsigned char)(0xe0 | cp >> 12);
            out[k++] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        } else {
            out[k++] = (unsigned char)(0xf0 | cp >> 18);
            out[k++] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
            out[k++] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        }
        out[k++] = (unsigned char)(0x80 | (cp & 0x3f));
    }
    return k;
}

/* A control frame between fragments, sometimes. */
static void maybe_control(struct script *sc)
{
    unsigned char data[WS_CONTROL_MAX];
    uint8_t b = next_byte(sc);
    size_t n;

    if (b < 0xc0)
        return;
    n = next_byte(sc) % (WS_CONTROL_MAX + 1);
    for (size_t i = 0; i < n; i++)
        data[i] = next_byte(sc);
    put_frame(sc, true, b & 1 ? WS_OP_PING : WS_OP_PONG, data, n);
    record(&sc->want, b & 1 ? 'I' : 'O', 0, data, n);
}

/* A message of 1 to 4 fragments. false: it passed the limit, which ends
 * the script. */
static bool put_message(struct script *sc, unsigned char *buf, size_t size)
{
    uint8_t b = next_byte(sc);
    unsigned opcode = b & 1 ? WS_OP_TEXT : WS_OP_BINARY;
    int frags = 1 + (b >> 1) % 4;
    size_t total = 0, n, i;

    /* the whole message first, then cut into fragments anywhere */
    b = next_byte(sc);
    /* a 7-bit length mostly, 16-bit now and then, 64-bit rarely (long
     * payloads are slow to write and check, byte by byte) */
    if (b < 0xe0)
        n = b % 126;
    else if (b < 0xfc)
        n = 126 + next_byte(sc) * 8u;
    else
        n = 65536 + next_byte(sc) * 16u;
    if (n > size)
        n = size;
    if (opcode == WS_OP_TEXT) {
        n = utf8_text(sc, buf, n);
    } else {
        for (i = 0; i < n; i++)
            buf[i] = next_byte(sc);
    }
    for (int f = 0; f < frags; f++) {
        size_t piece =
            f == frags - 1 ? n - total : (n - total) * next_byte(sc) / 255;

        if (total + piece > sc->max) {
            record(&sc->want, 'E', WS_CLOSE_TOO_BIG, NULL, 0);
            put_frame(sc, f == frags - 1, f ? WS_OP_CONT : opcode, buf + total,
                      piece);
            return false;
        }
        put_frame(sc, f == frags - 1, f ? WS_OP_CONT : opcode, buf + total,
                  piece);
        total += piece;
        if (f < frags - 1)
            maybe_control(sc);
    }
    record(&sc->want, 'M', opcode, buf, n);
    return true;
}

static void run_script(struct fuzz_in *in, enum ws_role role, uint64_t max,
                       uint64_t seed)
{
    struct script sc = {.in = *in, .role = role, .max = max, .fill = seed};
    struct story got = {0};
    size_t size = 65536 + 255 * 16;
    unsigned char *buf = malloc(size);
    bool closed = false;

    FUZZ_EXPECT(buf != NULL);
    for (int m = 0; m < 8 && sc.in.left > 0; m++) {
        maybe_control(&sc);
        if (!put_message(&sc, buf, size)) {
            closed = true;
            break;
        }
    }
    if (!closed) {
        unsigned char reason[WS_CONTROL_MAX];
        uint16_t codes[] = {1000, 1001, 1003, 1008, 1011, 3000, 4999};
        unsigned code = codes[next_byte(&sc) % 7];
        size_t n = utf8_text(&sc, reason + 2, next_byte(&sc) % 124);

        reason[0] = (unsigned char)(code >> 8);
        reason[1] = (unsigned char)code;
        put_frame(&sc, true, WS_OP_CLOSE, reason, n + 2);
        record(&sc.want, 'C', code, reason + 2, n);
    }
    parse(sc.out, sc.len, role, max, seed | 1, &got);
    expect_same(&got, &sc.want);
    story_free(&got);
    story_free(&sc.want);
    free(sc.out);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t mode = fuzz_u8(&in);
    enum ws_role role = fuzz_u8(&in) & 1 ? WS_CLIENT : WS_SERVER;
    uint64_t seed = fuzz_u64(&in);
    uint32_t max32;
    uint64_t max;

    fuzz_take(&in, &max32, sizeof(max32));
    /* a small limit now and then, the default otherwise */
    max = max32 & 1 ? max32 >> 12 : WS_DEFAULT_MAX_MESSAGE;
    if (mode & 1) {
        run_script(&in, role, max, seed);
    } else if (in.left > 0 && in.left <= MAX_STREAM) {
        unsigned char *a = malloc(in.left), *b = malloc(in.left);
        struct story whole = {0}, cut = {0};

        FUZZ_EXPECT(a && b);
        memcpy(a, in.p, in.left);
        memcpy(b, in.p, in.left);
        parse(a, in.left, role, max, 0, &whole);
        parse(b, in.left, role, max, seed | 1, &cut);
        expect_same(&whole, &cut);
        story_free(&whole);
        story_free(&cut);
        free(a);
        free(b);
    }
    return 0;
}

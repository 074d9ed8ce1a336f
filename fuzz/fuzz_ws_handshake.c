/* fuzz_ws_handshake.c -- the parser of a WebSocket opening handshake
 * (ws_handshake.h of exercises/ch4-websocket) over what a client sends.
 *
 * Input: u8 mode, u16 bound on the head, then the request's bytes (mode
 * odd: the bytes are spliced into a valid request, so that the fuzzer
 * spends its time among the headers rather than before them).
 *
 * The parser is called on every prefix of the request, as reads would
 * deliver it, and must never change its mind: once it answers, every
 * longer prefix gets the same status and head length. Its answers must
 * be ones it documents: 0 while the head is incomplete and shorter than
 * the bound, 101 only with a Sec-WebSocket-Key of 24 base64 characters
 * naming 16 bytes, a head that ends at its first blank line and fits the
 * bound, a reason for every error. The responses built from it must fit,
 * end their head once, and carry nothing of the request but the key's
 * digest (no CR or LF smuggled in). */
#include "fuzz.h"

#include "ws_handshake.h"

#include <stdbool.h>

#define MAX_REQUEST 16384

static bool b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

static bool known_status(int s)
{
    return s == 101 || s == 200 || s == 400 || s == 404 || s == 405 ||
           s == 426 || s == 431 || s == 505;
}

static void check_answer(const char *buf, size_t len, size_t max,
                         const struct ws_request *req)
{
    char out[1024];
    const char *blank;
    int n;

    FUZZ_EXPECT(known_status(req->status));
    if (req->status != 101 && req->status != 200)
        FUZZ_EXPECT(req->why != NULL && !strpbrk(req->why, "\r\n"));
    if (req->status != 431) {
        /* the head is the bytes up to the first blank line */
        blank = memmem(buf, len, "\r\n\r\n", 4);
        FUZZ_EXPECT(blank && req->head_len == (size_t)(blank - buf) + 4);
        FUZZ_EXPECT(req->head_len <= max && req->head_len <= len);
    }
    if (req->status == 101) {
        /* 22 base64 characters and "==": 16 bytes */
        FUZZ_EXPECT(strlen(req->key) == WS_KEY_LEN);
        for (int i = 0; i < 22; i++)
            FUZZ_EXPECT(b64(req->key[i]));
        FUZZ_EXPECT(req->key[22] == '=' && req->key[23] == '=');
        n = ws_handshake_response(req, out, sizeof(out));
        FUZZ_EXPECT(n > 0 && (size_t)n < sizeof(out));
        blank = memmem(out, (size_t)n, "\r\n\r\n", 4);
        FUZZ_EXPECT(blank && blank + 4 == out + n);
    } else if (req->status != 200) {
        n = ws_handshake_error(req, out, sizeof(out));
        FUZZ_EXPECT(n > 0 && (size_t)n < sizeof(out));
        blank = memmem(out, (size_t)n, "\r\n\r\n", 4);
        /* the body, after the blank line, is req->why and a newline */
        FUZZ_EXPECT(blank && !memmem(blank + 4, out + n - blank - 4, "\r", 1));
        FUZZ_EXPECT(out[n - 1] == '\n');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char pre[] = "GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Upgrade: websocket\r\nConnection: Upgrade\r\n";
    static const char post[] = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                               "Sec-WebSocket-Version: 13\r\n\r\n";
    struct fuzz_in in = {data, size};
    uint8_t mode = fuzz_u8(&in);
    uint16_t max16;
    struct ws_request req, first;
    size_t len = 0, max, answered = 0;
    char *buf;

    fuzz_take(&in, &max16, sizeof(max16));
    /* the default bound mostly; a small one now and then */
    max = max16 & 1 ? 16 + max16 % 4096 : WS_HEAD_MAX;
    if (in.left > MAX_REQUEST)
        return 0;
    buf = malloc(sizeof(pre) + in.left + sizeof(post));
    FUZZ_EXPECT(buf != NULL);
    if (mode & 1) {
        memcpy(buf, pre, sizeof(pre) - 1);
        len = sizeof(pre) - 1;
    }
    memcpy(buf + len, in.p, in.left);
    len += in.left;
    if (mode & 1) {
        memcpy(buf + len, post, sizeof(post) - 1);
        len += sizeof(post) - 1;
    }
    /* every prefix, as reads may cut it; long requests in steps */
    for (size_t k = 0; k <= len; k += len > 2048 ? 1 + k % 61 : 1) {
        int r = ws_handshake_parse(buf, k, max, &req);

        FUZZ_EXPECT(r == 0 || r == 1);
        if (r == 0) {
            FUZZ_EXPECT(!answered && k < max);
            FUZZ_EXPECT(!memmem(buf, k, "\r\n\r\n", 4));
            continue;
        }
        check_answer(buf, k, max, &req);
        if (!answered) {
            first = req;
            answered = k;
        } else {
            FUZZ_EXPECT(req.status == first.status &&
                        req.head_len == first.head_len);
            FUZZ_EXPECT(strcmp(req.key, first.key) == 0);
        }
    }
    free(buf);
    return 0;
}

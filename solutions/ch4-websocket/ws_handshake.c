/* ws_handshake.c -- the client's opening handshake (RFC 6455 4.2.1) and
 * the server's answers.
 *
 * The parser waits for the whole head (it ends with an empty line), then
 * reads the request line and the header fields once, keeping pointers
 * into the buffer, and decides in a fixed order: malformed (400), method
 * (405), HTTP version (505, 400), Host (400), path (404), and for a
 * WebSocket attempt the Upgrade and Connection tokens (400), the version
 * (426) and the key (400). A request is a WebSocket attempt when it names
 * any of Upgrade, Sec-WebSocket-Key or Sec-WebSocket-Version; anything
 * else is a plain GET and gets the page. Header names and the tokens of
 * Upgrade and Connection compare case-insensitively (RFC 7230 3.2, 6.1,
 * 6.7). */
#include "ws_handshake.h"

#include <openssl/evp.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* A run of bytes inside the request. */
struct span {
    const char *s;
    size_t n;
};

/* What the header fields said. */
struct fields {
    bool host, upgrade_ws, connection_upgrade, websocket;
    int nkey, nversion;
    struct span key, version;
};

static bool span_is(struct span a, const char *lit)
{
    return a.n == strlen(lit) && memcmp(a.s, lit, a.n) == 0;
}

static bool span_is_nocase(struct span a, const char *lit)
{
    return a.n == strlen(lit) && strncasecmp(a.s, lit, a.n) == 0;
}

static struct span trim(struct span a)
{
    while (a.n > 0 && (a.s[0] == ' ' || a.s[0] == '\t'))
        a.s++, a.n--;
    while (a.n > 0 && (a.s[a.n - 1] == ' ' || a.s[a.n - 1] == '\t'))
        a.n--;
    return a;
}

/* RFC 7230 3.2.6: the characters of a token (header names, methods). */
static bool is_token(struct span a)
{
    if (a.n == 0)
        return false;
    for (size_t i = 0; i < a.n; i++) {
        unsigned char c = (unsigned char)a.s[i];
        if (c <= ' ' || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c))
            return false;
    }
    return true;
}

/* Does the comma-separated list v hold token, in any case? */
static bool has_token(struct span v, const char *token)
{
    while (v.n > 0) {
        const char *comma = memchr(v.s, ',', v.n);
        struct span item = {v.s, comma ? (size_t)(comma - v.s) : v.n};

        if (span_is_nocase(trim(item), token))
            return true;
        if (!comma)
            break;
        v.n -= item.n + 1;
        v.s = comma + 1;
    }
    return false;
}

static int reject(struct ws_request *req, int status, const char *why)
{
    req->status = status;
    req->why = why;
    return 1;
}

/* One "Name: value" line into f. false: malformed. */
static bool read_field(struct span line, struct fields *f)
{
    const char *colon = memchr(line.s, ':', line.n);
    struct span name, value;

    if (!colon)
        return false;
    name = (struct span){line.s, (size_t)(colon - line.s)};
    value = trim((struct span){colon + 1, line.n - name.n - 1});
    if (!is_token(name)) /* also refuses "Name :" and folded lines */
        return false;
    if (span_is_nocase(name, "Host")) {
        f->host = true;
    } else if (span_is_nocase(name, "Upgrade")) {
        f->websocket = true;
        f->upgrade_ws |= has_token(value, "websocket");
    } else if (span_is_nocase(name, "Connection")) {
        f->connection_upgrade |= has_token(value, "upgrade");
    } else if (span_is_nocase(name, "Sec-WebSocket-Key")) {
        f->websocket = true;
        f->nkey++;
        f->key = value;
    } else if (span_is_nocase(name, "Sec-WebSocket-Version")) {
        f->websocket = true;
        f->nversion++;
        f->version = value;
    }
    return true;
}

/* A key is base64 of 16 bytes: 22 characters and "==" (RFC 6455 4.1). */
static bool key_valid(struct span key)
{
    unsigned char raw[WS_KEY_LEN];
    char copy[WS_KEY_LEN + 1];

    if (key.n != WS_KEY_LEN || key.s[22] != '=' || key.s[23] != '=')
        return false;
    memcpy(copy, key.s, WS_KEY_LEN);
    copy[WS_KEY_LEN] = '\0';
    if (strspn(copy, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789+/") != 22)
        return false;
    /* EVP_DecodeBlock counts the padding as bytes: 18 for 16. */
    return EVP_DecodeBlock(raw, (const unsigned char *)copy, WS_KEY_LEN) == 18;
}

/* The request line "GET /path HTTP/1.1". 0, or the status it earns. */
static int read_request_line(struct span line, struct span *target,
                             bool *http11, const char **why)
{
    const char *sp1 = memchr(line.s, ' ', line.n), *sp2;
    struct span method, version;

    *why = "malformed request line";
    if (!sp1)
        return 400;
    method = (struct span){line.s, (size_t)(sp1 - line.s)};
    sp2 = memchr(sp1 + 1, ' ', line.n - method.n - 1);
    if (!sp2 || !is_token(method))
        return 400;
    *target = (struct span){sp1 + 1, (size_t)(sp2 - sp1 - 1)};
    version = (struct span){sp2 + 1, line.n - (size_t)(sp2 + 1 - line.s)};
    if (target->n == 0 || memchr(version.s, ' ', version.n))
        return 400;
    if (!span_is(method, "GET")) {
        *why = "only GET is served here";
        return 405;
    }
    *http11 = span_is(version, "HTTP/1.1");
    if (*http11 || span_is(version, "HTTP/1.0"))
        return 0;
    if (version.n == 8 && memcmp(version.s, "HTTP/", 5) == 0) {
        *why = "HTTP/1.1 only";
        return 505;
    }
    return 400;
}

/* The whole head is in buf[0, req->head_len). */
static int read_head(const char *buf, struct ws_request *req)
{
    const char *end = buf + req->head_len - 2, *eol;
    struct span line, target;
    struct fields f = {0};
    bool http11 = false;
    int status;

    eol = memchr(buf, '\r', (size_t)(end - buf));
    if (eol[1] != '\n')
        return reject(req, 400, "malformed request line");
    line = (struct span){buf, (size_t)(eol - buf)};
    status = read_request_line(line, &target, &http11, &req->why);
    if (status)
        return reject(req, status, req->why);
    for (const char *p = eol + 2; p < end; p = eol + 2) {
        eol = memchr(p, '\r', (size_t)(end - p));
        line = (struct span){p, (size_t)(eol - p)};
        if (eol[1] != '\n' || !read_field(line, &f))
            return reject(req, 400, "malformed header field");
    }
    if (http11 && !f.host)
        return reject(req, 400, "no Host header");
    if (target.n < 1 || target.s[0] != '/' ||
        (target.n > 1 && target.s[1] != '?'))
        return reject(req, 404, "nothing here but /");
    if (!f.websocket)
        return reject(req, 200, NULL);
    if (!http11)
        return reject(req, 400, "a WebSocket handshake needs HTTP/1.1");
    if (!f.upgrade_ws)
        return reject(req, 400, "Upgrade does not name websocket");
    if (!f.connection_upgrade)
        return reject(req, 400, "Connection does not name upgrade");
    if (f.nversion != 1 || !span_is(f.version, "13"))
        return reject(req, 426, "Sec-WebSocket-Version must be 13");
    if (f.nkey != 1 || !key_valid(f.key))
        return reject(req, 400,
                      "Sec-WebSocket-Key must be base64 of 16 "
                      "bytes, once");
    memcpy(req->key, f.key.s, WS_KEY_LEN);
    req->key[WS_KEY_LEN] = '\0';
    return reject(req, 101, NULL);
}

int ws_handshake_parse(const char *buf, size_t len, size_t max,
                       struct ws_request *req)
{
    const char *end = memmem(buf, len < max ? len : max, "\r\n\r\n", 4);

    memset(req, 0, sizeof(*req));
    if (!end) {
        if (len < max)
            return 0;
        return reject(req, 431, "request head too large");
    }
    req->head_len = (size_t)(end - buf) + 4;
    if (req->head_len > max)
        return reject(req, 431, "request head too large");
    return read_head(buf, req);
}

int ws_handshake_accept(const char *key, char out[WS_ACCEPT_LEN + 1])
{
    char input[WS_KEY_LEN + sizeof(WS_GUID)];
    unsigned char sha1[EVP_MAX_MD_SIZE];
    unsigned int sha1_len = 0;
    int n;

    n = snprintf(input, sizeof(input), "%s%s", key, WS_GUID);
    if (n < 0 || (size_t)n >= sizeof(input))
        return -1;
    if (!EVP_Digest(input, (size_t)n, sha1, &sha1_len, EVP_sha1(), NULL) ||
        sha1_len != 20)
        return -1;
    /* 20 bytes are 28 base64 characters; EVP_EncodeBlock adds the NUL. */
    return EVP_EncodeBlock((unsigned char *)out, sha1, 20) == WS_ACCEPT_LEN
               ? 0
               : -1;
}

int ws_handshake_response(const struct ws_request *req, char *buf, size_t size)
{
    char accept[WS_ACCEPT_LEN + 1];
    int n;

    if (ws_handshake_accept(req->key, accept) < 0)
        return -1;
    n = snprintf(buf, size,
                 "HTTP/1.1 101 Switching Protocols\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: %s\r\n\r\n",
                 accept);
    return n < 0 || (size_t)n >= size ? -1 : n;
}

int ws_handshake_error(const struct ws_request *req, char *buf, size_t size)
{
    const char *why = req->why ? req->why : ws_status_text(req->status);
    const char *extra = "";
    int n;

    if (req->status == 426) /* RFC 6455 4.4: name the versions we speak */
        extra = "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";
    else if (req->status == 405)
        extra = "Allow: GET\r\n";
    n = snprintf(buf, size,
                 "HTTP/1.1 %d %s\r\n"
                 "Content-Type: text/plain; charset=utf-8\r\n"
                 "Content-Length: %zu\r\n"
                 "Connection: close\r\n"
                 "%s\r\n%s\n",
                 req->status, ws_status_text(req->status), strlen(why) + 1,
                 extra, why);
    return n < 0 || (size_t)n >= size ? -1 : n;
}

const char *ws_status_text(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 426: return "Upgrade Required";
    case 431: return "Request Header Fields Too Large";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

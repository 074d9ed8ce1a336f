/* ws_handshake.h -- the HTTP/1.1 side of RFC 6455: the parser of a
 * client's opening handshake (or of a plain GET of the page), the
 * Sec-WebSocket-Accept value, and the responses. Pure functions over a
 * buffer: no socket inside. */
#ifndef WS_HANDSHAKE_H
#define WS_HANDSHAKE_H

#include <stddef.h>

/* RFC 6455 1.3: appended to the client's key before hashing. */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* base64 of a 16-byte nonce, and of a 20-byte SHA-1. */
#define WS_KEY_LEN    24
#define WS_ACCEPT_LEN 28
/* The default bound on a request head: what browsers send fits in 1-2 KiB,
 * and a client holding more is refused with 431. */
#define WS_HEAD_MAX 8192

struct ws_request {
    /* 101: a valid WebSocket handshake; 200: a plain GET of the page;
     * otherwise the HTTP error to answer with (400, 404, 405, 426, 431,
     * 505) and close. */
    int status;
    const char *why;          /* for an error, one line saying what was wrong */
    size_t head_len;          /* bytes of the head, its blank line included */
    char key[WS_KEY_LEN + 1]; /* Sec-WebSocket-Key, when status is 101 */
};

/* Look at the len bytes received so far. 0: the head is not complete
 * yet, read more. 1: *req says what to do; bytes past req->head_len (a
 * first frame sent right behind the handshake) are not the head's. A
 * head that does not end within max bytes is a 431. */
int ws_handshake_parse(const char *buf, size_t len, size_t max,
                       struct ws_request *req);
/* base64(SHA-1(key + WS_GUID)) into out. 0, or -1 if libcrypto fails. */
int ws_handshake_accept(const char *key, char out[WS_ACCEPT_LEN + 1]);
/* The 101 response for req into buf. Its length, or -1 if it does not
 * fit or libcrypto fails. */
int ws_handshake_response(const struct ws_request *req, char *buf, size_t size);
/* The error response for req (status, the headers that status needs,
 * Connection: close and req->why as a text body). Its length, or -1. */
int ws_handshake_error(const struct ws_request *req, char *buf, size_t size);
/* "Bad Request" for 400, and so on. */
const char *ws_status_text(int status);

#endif

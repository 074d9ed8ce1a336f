/* ws_handshake.c -- the client's opening handshake (RFC 6455 4.2.1) and
 * the server's answers. Your part of the exercise: every function of
 * ws_handshake.h, whose comments are the contract. */
#include "ws_handshake.h"

#include <openssl/evp.h>

#include <string.h>

int ws_handshake_parse(const char *buf, size_t len, size_t max,
                       struct ws_request *req)
{
    (void)buf;
    (void)max;
    /* TODO: RFC 6455 4.2.1, RFC 7230 3. Until then every request is
     * refused. */
    memset(req, 0, sizeof(*req));
    req->status = 400;
    req->why = "the handshake parser is not written yet";
    req->head_len = len;
    return 1;
}

int ws_handshake_accept(const char *key, char out[WS_ACCEPT_LEN + 1])
{
    (void)key;
    out[0] = '\0';
    return -1; /* TODO: RFC 6455 4.2.2, with libcrypto's EVP_Digest */
}

int ws_handshake_response(const struct ws_request *req, char *buf, size_t size)
{
    (void)req;
    (void)buf;
    (void)size;
    return -1; /* TODO */
}

int ws_handshake_error(const struct ws_request *req, char *buf, size_t size)
{
    (void)req;
    (void)buf;
    (void)size;
    return -1; /* TODO */
}

const char *ws_status_text(int status)
{
    (void)status;
    return "Error"; /* TODO */
}

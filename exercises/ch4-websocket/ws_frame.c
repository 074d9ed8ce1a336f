/* ws_frame.c -- RFC 6455 frames: a streaming parser, the header writer,
 * masking and UTF-8 validation. Your part of the exercise: every
 * function of ws_frame.h, whose comments are the contract. */
#include "ws_frame.h"

#include <string.h>

void ws_utf8_init(struct ws_utf8 *u) { memset(u, 0, sizeof(*u)); }

bool ws_utf8_complete(const struct ws_utf8 *u)
{
    (void)u;
    return false; /* TODO */
}

bool ws_utf8_feed(struct ws_utf8 *u, const unsigned char *s, size_t n)
{
    (void)u;
    (void)s;
    (void)n;
    return false; /* TODO: RFC 3629 section 4 */
}

bool ws_close_code_valid(unsigned code)
{
    (void)code;
    return false; /* TODO: RFC 6455 7.4 */
}

void ws_mask(unsigned char *data, size_t len, const unsigned char mask[4],
             size_t offset)
{
    (void)data;
    (void)len;
    (void)mask;
    (void)offset; /* TODO: RFC 6455 5.3 */
}

size_t ws_frame_header(unsigned char *out, bool fin, unsigned opcode,
                       uint64_t len, const unsigned char *mask)
{
    (void)out;
    (void)fin;
    (void)opcode;
    (void)len;
    (void)mask;
    return 0; /* TODO: RFC 6455 5.2 */
}

void ws_parser_init(struct ws_parser *p, enum ws_role role,
                    uint64_t max_message)
{
    memset(p, 0, sizeof(*p));
    p->role = role;
    p->max_message = max_message;
}

bool ws_parser_in_message(const struct ws_parser *p)
{
    (void)p;
    return false; /* TODO */
}

size_t ws_parse(struct ws_parser *p, unsigned char *buf, size_t len,
                struct ws_event *ev)
{
    (void)p;
    (void)buf;
    (void)len;
    /* TODO: RFC 6455 5.2 to 5.6. Until then every peer breaks the
     * protocol. */
    *ev = (struct ws_event){.type = WS_EV_ERROR, .code = WS_CLOSE_PROTOCOL};
    return 0;
}

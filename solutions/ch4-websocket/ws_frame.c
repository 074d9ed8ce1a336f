/* ws_frame.c -- RFC 6455 frames: a streaming parser, the header writer,
 * masking and UTF-8 validation.
 *
 * The parser is a small state machine: it collects a frame's header
 * byte by byte (2 to 14 bytes, wherever the reads split it), validates it
 * as soon as each part is known, then passes the payload through. Data
 * payload is handed out piece by piece, straight from the caller's
 * buffer; control payload (at most 125 bytes) is copied into the parser,
 * because a control frame is acted on only once it is whole. Limits are
 * checked on the header, before a single payload byte is accepted: a
 * 2^62-byte length costs nothing. */
#include "ws_frame.h"

#include <string.h>

static bool is_control(unsigned opcode) { return opcode & 0x8; }

void ws_utf8_init(struct ws_utf8 *u) { *u = (struct ws_utf8){0, 0x80, 0xbf}; }

bool ws_utf8_complete(const struct ws_utf8 *u) { return u->need == 0; }

/* The lead byte c opens a character: how many bytes follow and the range
 * of the first of them (RFC 3629 section 4). */
static bool utf8_lead(struct ws_utf8 *u, unsigned char c)
{
    u->lo = 0x80;
    u->hi = 0xbf;
    if (c < 0xc2) /* a stray continuation byte, or an overlong C0/C1 */
        return false;
    if (c < 0xe0) {
        u->need = 1;
    } else if (c < 0xf0) {
        u->need = 2;
        if (c == 0xe0)
            u->lo = 0xa0; /* overlong */
        else if (c == 0xed)
            u->hi = 0x9f; /* U+D800..U+DFFF, surrogates */
    } else if (c < 0xf5) {
        u->need = 3;
        if (c == 0xf0)
            u->lo = 0x90; /* overlong */
        else if (c == 0xf4)
            u->hi = 0x8f; /* above U+10FFFF */
    } else {
        return false;
    }
    return true;
}

bool ws_utf8_feed(struct ws_utf8 *u, const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = s[i];

        if (u->need > 0) {
            if (c < u->lo || c > u->hi)
                return false;
            u->need--;
            u->lo = 0x80;
            u->hi = 0xbf;
            i++;
            continue;
        }
        /* ASCII runs are the common case: eight bytes at a time. */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull)
                break;
            i += 8;
        }
        if (i == n)
            break;
        c = s[i++];
        if (c >= 0x80 && !utf8_lead(u, c))
            return false;
    }
    return true;
}

bool ws_close_code_valid(unsigned code)
{
    /* 1004-1006 and 1015 are reserved, never on the wire; 1016-2999 are
     * for future RFCs; 3000-4999 belong to libraries and applications. */
    if (code >= 1000 && code <= 1014)
        return code != 1004 && code != 1005 && code != 1006;
    return code >= 3000 && code <= 4999;
}

void ws_mask(unsigned char *data, size_t len, const unsigned char mask[4],
             size_t offset)
{
    for (size_t i = 0; i < len; i++)
        data[i] ^= mask[(offset + i) & 3];
}

size_t ws_frame_header(unsigned char *out, bool fin, unsigned opcode,
                       uint64_t len, const unsigned char *mask)
{
    size_t n = 2;

    out[0] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0f));
    if (len < 126) {
        out[1] = (unsigned char)len;
    } else if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
        n = 4;
    } else {
        out[1] = 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
        n = 10;
    }
    if (mask) {
        out[1] |= 0x80;
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

void ws_parser_init(struct ws_parser *p, enum ws_role role,
                    uint64_t max_message)
{
    memset(p, 0, sizeof(*p));
    p->role = role;
    p->max_message = max_message;
    p->hdr_need = 2;
}

bool ws_parser_in_message(const struct ws_parser *p)
{
    return p->msg_opcode != 0;
}

static size_t fail(struct ws_parser *p, struct ws_event *ev, uint16_t code,
                   size_t used)
{
    p->failed = code;
    *ev = (struct ws_event){.type = WS_EV_ERROR, .code = code};
    return used;
}

/* The first two header bytes: everything but the extended length. 0, or
 * the close code the frame earns. */
static uint16_t check_start(struct ws_parser *p)
{
    unsigned b0 = p->hdr[0], b1 = p->hdr[1], op = b0 & 0x0f;
    bool masked = b1 & 0x80;

    if (b0 & 0x70) /* RSV1-3: no extension was negotiated */
        return WS_CLOSE_PROTOCOL;
    if (op > WS_OP_BINARY && (op < WS_OP_CLOSE || op > WS_OP_PONG))
        return WS_CLOSE_PROTOCOL; /* reserved opcodes */
    if (masked != (p->role == WS_SERVER))
        return WS_CLOSE_PROTOCOL;
    if (is_control(op) && (!(b0 & 0x80) || (b1 & 0x7f) > WS_CONTROL_MAX))
        return WS_CLOSE_PROTOCOL; /* fragmented or long control frame */
    if (op == WS_OP_CONT && !p->msg_opcode)
        return WS_CLOSE_PROTOCOL; /* continuation of nothing */
    if ((op == WS_OP_TEXT || op == WS_OP_BINARY) && p->msg_opcode)
        return WS_CLOSE_PROTOCOL; /* new message inside a fragmented one */
    p->opcode = (uint8_t)op;
    p->fin = b0 & 0x80;
    p->hdr_need = (uint8_t)(2 + (masked ? 4 : 0) +
                            ((b1 & 0x7f) == 126   ? 2
                             : (b1 & 0x7f) == 127 ? 8
                                                  : 0));
    return 0;
}

/* The whole header is in: the length, the mask, the message limit. */
static uint16_t check_header(struct ws_parser *p)
{
    unsigned len7 = p->hdr[1] & 0x7f;
    const unsigned char *h = p->hdr + 2;
    uint64_t len = len7;

    if (len7 == 126) {
        len = (uint64_t)h[0] << 8 | h[1];
        h += 2;
    } else if (len7 == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | h[i];
        h += 8;
        if (len >> 63) /* the most significant bit must be 0 */
            return WS_CLOSE_PROTOCOL;
    }
    if (p->role == WS_SERVER)
        memcpy(p->mask, h, 4);
    if (!is_control(p->opcode)) {
        if (p->opcode != WS_OP_CONT)
            p->msg_len = 0;
        if (len > p->max_message - p->msg_len)
            return WS_CLOSE_TOO_BIG;
        if (p->opcode != WS_OP_CONT) {
            p->msg_opcode = p->opcode;
            p->msg_reported = false;
            ws_utf8_init(&p->utf8);
        }
        p->msg_len += len;
    }
    p->left = len;
    p->mask_off = 0;
    p->ctl_len = 0;
    return 0;
}

/* A control frame is whole: describe it. 0, or a close code. */
static uint16_t control_event(struct ws_parser *p, struct ws_event *ev)
{
    ev->data = p->ctl;
    ev->len = p->ctl_len;
    if (p->opcode == WS_OP_PING) {
        ev->type = WS_EV_PING;
    } else if (p->opcode == WS_OP_PONG) {
        ev->type = WS_EV_PONG;
    } else {
        struct ws_utf8 u;

        ev->type = WS_EV_CLOSE;
        ev->code = WS_CLOSE_NO_STATUS;
        if (p->ctl_len == 1)
            return WS_CLOSE_PROTOCOL;
        if (p->ctl_len >= 2) {
            ev->code = (uint16_t)(p->ctl[0] << 8 | p->ctl[1]);
            ev->data += 2;
            ev->len -= 2;
            if (!ws_close_code_valid(ev->code))
                return WS_CLOSE_PROTOCOL;
        }
        ws_utf8_init(&u);
        if (!ws_utf8_feed(&u, ev->data, ev->len) || !ws_utf8_complete(&u))
            return WS_CLOSE_BAD_DATA;
    }
    return 0;
}

/* n payload bytes of a data frame at data. 0, or a close code. */
static uint16_t data_event(struct ws_parser *p, unsigned char *data, size_t n,
                           struct ws_event *ev)
{
    ev->type = WS_EV_DATA;
    ev->opcode = p->msg_opcode;
    ev->data = data;
    ev->len = n;
    ev->first = !p->msg_reported;
    ev->last = p->left == 0 && p->fin;
    p->msg_reported = true;
    if (p->msg_opcode == WS_OP_TEXT &&
        (!ws_utf8_feed(&p->utf8, data, n) ||
         (ev->last && !ws_utf8_complete(&p->utf8))))
        return WS_CLOSE_BAD_DATA;
    if (ev->last)
        p->msg_opcode = 0;
    return 0;
}

/* The frame's payload is complete: ready for the next header. */
static void frame_done(struct ws_parser *p)
{
    p->hdr_have = 0;
    p->hdr_need = 2;
}

size_t ws_parse(struct ws_parser *p, unsigned char *buf, size_t len,
                struct ws_event *ev)
{
    size_t used = 0, n;
    uint16_t code;

    *ev = (struct ws_event){.type = WS_EV_NONE};
    if (p->failed)
        return fail(p, ev, p->failed, 0);
    while (used < len) {
        if (p->hdr_have < p->hdr_need) {
            n = p->hdr_need - p->hdr_have;
            if (n > len - used)
                n = len - used;
            memcpy(p->hdr + p->hdr_have, buf + used, n);
            p->hdr_have = (uint8_t)(p->hdr_have + n);
            used += n;
            if (p->hdr_have == 2 && (code = check_start(p)) != 0)
                return fail(p, ev, code, used);
            if (p->hdr_have < p->hdr_need)
                continue;
            if ((code = check_header(p)) != 0)
                return fail(p, ev, code, used);
            if (p->left > 0)
                continue;
        }
        /* Payload: a piece of it, or (left == 0) the end of the frame. */
        n = p->left < len - used ? (size_t)p->left : len - used;
        if (p->role == WS_SERVER)
            ws_mask(buf + used, n, p->mask, p->mask_off);
        p->mask_off = (uint8_t)((p->mask_off + n) & 3);
        p->left -= n;
        used += n;
        if (is_control(p->opcode)) {
            memcpy(p->ctl + p->ctl_len, buf + used - n, n);
            p->ctl_len = (uint8_t)(p->ctl_len + n);
            if (p->left > 0)
                continue;
            frame_done(p);
            code = control_event(p, ev);
        } else {
            if (p->left == 0)
                frame_done(p);
            if (n == 0 && !(p->fin && p->left == 0))
                continue; /* an empty middle fragment: nothing to say */
            code = data_event(p, buf + used - n, n, ev);
        }
        return code ? fail(p, ev, code, used) : used;
    }
    return used;
}

/* ws_frame.h -- RFC 6455 frames: a streaming parser, the header writer,
 * masking and UTF-8 validation. Pure functions over buffers: no socket,
 * no allocation, so every rule can be unit-tested and fuzzed.
 *
 * The parser takes bytes as they arrive, in pieces of any size (one frame
 * over many reads, many frames in one read), and stops at each event:
 *   WS_EV_DATA   a piece of a text or binary message, unmasked in place;
 *                first and last mark the message's ends, so a caller can
 *                reassemble or stream it;
 *   WS_EV_PING, WS_EV_PONG, WS_EV_CLOSE   a whole control frame;
 *   WS_EV_ERROR  the peer broke the protocol: close with ev->code (1002
 *                protocol error, 1007 bad UTF-8, 1009 message too big).
 * After an error the parser stays failed. */
#ifndef WS_FRAME_H
#define WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xa,
};

/* Close status codes (RFC 6455 7.4.1). 1005 is never sent: it stands for
 * "the close frame carried no code". */
#define WS_CLOSE_NORMAL     1000
#define WS_CLOSE_GOING_AWAY 1001
#define WS_CLOSE_PROTOCOL   1002
#define WS_CLOSE_NO_STATUS  1005
#define WS_CLOSE_BAD_DATA   1007
#define WS_CLOSE_TOO_BIG    1009
#define WS_CLOSE_INTERNAL   1011

/* Control frames carry at most 125 bytes (RFC 6455 5.5). */
#define WS_CONTROL_MAX 125
/* 2 bytes, 8 of extended length, 4 of mask. */
#define WS_HEADER_MAX          14
#define WS_DEFAULT_MAX_MESSAGE (16u << 20)

/* Which side parses: a server accepts only masked frames, a client only
 * unmasked ones (RFC 6455 5.1). */
enum ws_role { WS_SERVER, WS_CLIENT };

/* UTF-8 validation that can stop and resume anywhere, even inside a
 * character: need continuation bytes are still due, the next one in
 * [lo, hi] (which excludes overlong forms, surrogates, > U+10FFFF). */
struct ws_utf8 {
    uint8_t need, lo, hi;
};

enum ws_event_type {
    WS_EV_NONE, /* every byte given was consumed; feed more */
    WS_EV_DATA,
    WS_EV_PING,
    WS_EV_PONG,
    WS_EV_CLOSE,
    WS_EV_ERROR,
};

struct ws_event {
    enum ws_event_type type;
    uint8_t opcode;   /* DATA: the message's, WS_OP_TEXT or WS_OP_BINARY */
    bool first, last; /* DATA: the message's first / last piece */
    const unsigned char *data; /* payload, unmasked; valid until next call */
    size_t len;
    uint16_t code; /* CLOSE: the code received (1005: none); ERROR: ours */
};

struct ws_parser {
    enum ws_role role;
    uint64_t max_message;
    /* The frame being read. */
    unsigned char hdr[WS_HEADER_MAX];
    uint8_t hdr_have, hdr_need;
    uint8_t opcode, mask_off;
    bool fin;
    unsigned char mask[4];
    uint64_t left; /* payload bytes of this frame still to come */
    unsigned char ctl[WS_CONTROL_MAX];
    uint8_t ctl_len;
    /* The message being read (msg_opcode 0: none). */
    uint8_t msg_opcode;
    bool msg_reported; /* its first piece went out */
    uint64_t msg_len;
    struct ws_utf8 utf8;
    uint16_t failed; /* the close code, once the peer broke the rules */
};

/* Start a parser for role; messages longer than max_message bytes (all
 * fragments together) fail with 1009. */
void ws_parser_init(struct ws_parser *p, enum ws_role role,
                    uint64_t max_message);
/* Consume buf (len bytes) up to the next event and describe it in *ev.
 * Returns the bytes consumed: all of them when ev->type is WS_EV_NONE,
 * maybe fewer otherwise (call again with the rest). Payload bytes are
 * unmasked in place, which is why buf is not const. */
size_t ws_parse(struct ws_parser *p, unsigned char *buf, size_t len,
                struct ws_event *ev);
/* true while a fragmented message is in progress. */
bool ws_parser_in_message(const struct ws_parser *p);

/* Write the header of a frame of len payload bytes into out (at least
 * WS_HEADER_MAX bytes), masked with mask unless it is NULL. Returns its
 * length: 2, 4 or 10 bytes, plus 4 with a mask. */
size_t ws_frame_header(unsigned char *out, bool fin, unsigned opcode,
                       uint64_t len, const unsigned char *mask);
/* XOR len bytes with the mask, starting at byte offset of the payload. */
void ws_mask(unsigned char *data, size_t len, const unsigned char mask[4],
             size_t offset);

/* A fresh validator: no character open. */
void ws_utf8_init(struct ws_utf8 *u);
/* Validate n more bytes. false: not UTF-8 (the state is then useless). */
bool ws_utf8_feed(struct ws_utf8 *u, const unsigned char *s, size_t n);
/* true if the bytes so far end on a character boundary. */
bool ws_utf8_complete(const struct ws_utf8 *u);
/* true for a code a close frame may carry (RFC 6455 7.4). */
bool ws_close_code_valid(unsigned code);

#endif

/* wstest.h -- what the WebSocket tests share: md and ws_conn started on
 * private keys, and a raw WebSocket client written from RFC 6455 alone
 * (its own framing code, not ws_frame.c's, so the two check each other).
 * The helpers assert: a failure ends the test with the reason. */
#ifndef WS_TESTS_WSTEST_H
#define WS_TESTS_WSTEST_H

#include "harness.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct wstest_server {
    int slot;   /* 0-5: servers that run at once need different slots */
    bool no_md; /* the test plays md itself */
    struct hproc *md, *io;
    key_t base;
    char key[16], dir[128];
    uint16_t port;
};

/* The base key of a slot: this runner's keys hold WSTEST_SLOTS servers
 * of one io_conn side by side, srvkeys_span(1) keys each. */
#define WSTEST_SLOTS 6
key_t wstest_slot_base(int slot);
/* Start md (ch4-mq's) and ws_conn -p 0 on the keys of s->slot and a FIFO
 * directory of the slot, with extra options for ws_conn (NULL-terminated,
 * or NULL). */
void wstest_start(struct wstest_server *s, const char *const extra[]);
/* Kill md with SIGKILL and start a new one, as a crash would. */
void wstest_kill_md(struct wstest_server *s);
/* SIGTERM both; each must exit 0. Removes the queues. */
void wstest_stop(struct wstest_server *s);

/* Connect and do the opening handshake, checking the accept value. */
int wstest_open(uint16_t port);
/* Send one frame, masked as a client must (unmasked if mask is false). */
void wstest_send(int fd, bool fin, unsigned opcode, const void *data,
                 size_t len);
void wstest_send_raw(int fd, bool fin, unsigned opcode, const void *data,
                     size_t len, bool mask);

struct wstest_frame {
    unsigned opcode;
    bool fin;
    unsigned char *data; /* malloc'd, len bytes */
    size_t len;
};
/* Read one frame from the server. 0, or -1 on EOF, timeout or a frame a
 * server must not send (masked, reserved bits). */
int wstest_read_frame(int fd, struct wstest_frame *f);
/* Read one whole message (frames up to FIN); *opcode is the first's.
 * Pongs met on the way are counted in *pongs (may be NULL). */
unsigned char *wstest_read_message(int fd, unsigned *opcode, size_t *len,
                                   int *pongs);
/* The next frame is a close with code (-1: without a code), and then the
 * server closes the connection. */
void wstest_expect_close(int fd, int code);
/* true if the server closes fd (EOF or reset) within ms. */
bool wstest_closed_within(int fd, int ms);

/* Send len raw bytes, read until the server closes; the response,
 * NUL-terminated, to be freed. */
char *wstest_http(uint16_t port, const void *req, size_t len);

#endif

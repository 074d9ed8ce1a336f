/* wstest.c -- md and ws_conn for the tests, and a raw WebSocket client. */
#include "wstest.h"

#include "fixture.h"

#include "srvkeys.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#ifndef MD_PATH
#error "the Makefile passes MD_PATH, ch4-mq's md"
#endif
#define WS_CONN "./ws_conn"

/* The RFC's example key and its accept value (RFC 6455 1.3): the client
 * checks the server against the RFC, not against ws_handshake.c. */
#define KEY    "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* md, once it is serving: its stop signals are handled from then on, so
 * a test that stops it at once still sees a clean exit. */
static struct hproc *start_md(struct wstest_server *s)
{
    const char *argv[] = {MD_PATH, "-k", s->key, "-d", s->dir, NULL};
    struct hproc *md = harness_start(argv);

    ck_assert_msg(md != NULL, "md did not start: %s", harness_error());
    if (fixture_wait_stderr(md, "serving", 5000) < 0)
        fixture_fail_with(md, "md did not start serving");
    return md;
}

key_t wstest_slot_base(int slot)
{
    ck_assert_int_lt(slot, WSTEST_SLOTS);
    /* what the harness gives one runner holds every slot */
    ck_assert_uint_le(WSTEST_SLOTS * srvkeys_span(1), HARNESS_BASE_KEYS);
    return (key_t)(harness_key_base() + (int)srvkeys_span(1) * slot);
}

void wstest_start(struct wstest_server *s, const char *const extra[])
{
    const char *argv[16] = {WS_CONN, "-q",   "-p", "0",
                            "-k",    s->key, "-d", s->dir};
    int argc = 8;

    s->base = wstest_slot_base(s->slot);
    snprintf(s->key, sizeof(s->key), "%#x", (unsigned)s->base);
    snprintf(s->dir, sizeof(s->dir), "%s/fifos%d", harness_tmpdir(), s->slot);
    argv[5] = s->key;
    argv[7] = s->dir;
    for (int i = 0; extra && extra[i] && argc < 15; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    s->md = s->no_md ? NULL : start_md(s);
    s->io = harness_start_server(argv);
    ck_assert_msg(s->io != NULL, "ws_conn did not start: %s", harness_error());
    s->port = s->io->port;
}

void wstest_kill_md(struct wstest_server *s)
{
    kill(s->md->pid, SIGKILL);
    ck_assert_int_eq(harness_wait(s->md, 3000), -1);
    s->md = start_md(s);
}

void wstest_stop(struct wstest_server *s)
{
    fixture_stop_clean(s->io, 5000);
    if (s->md)
        fixture_stop_clean(s->md, 5000);
    srvkeys_remove(s->base, s->dir, 1);
}

static void set_timeout(int fd, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

int wstest_open(uint16_t port)
{
    static const char req[] = "GET / HTTP/1.1\r\n"
                              "Host: 127.0.0.1\r\n"
                              "Upgrade: websocket\r\n"
                              "Connection: Upgrade\r\n"
                              "Sec-WebSocket-Key: " KEY "\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n";
    char resp[1024];
    size_t n = 0;
    int fd = harness_connect(port);

    ck_assert_msg(fd >= 0, "connect: %s", strerror(errno));
    set_timeout(fd, harness_ms(10000));
    ck_assert_int_eq(harness_write_all(fd, req, sizeof(req) - 1), 0);
    /* byte by byte: the frames behind the head are not ours to eat */
    while (n < sizeof(resp) - 1 &&
           (n < 4 || memcmp(resp + n - 4, "\r\n\r\n", 4) != 0)) {
        ck_assert_msg(recv(fd, resp + n, 1, 0) == 1,
                      "handshake: connection closed after %zu bytes", n);
        n++;
    }
    resp[n] = '\0';
    ck_assert_msg(strncmp(resp, "HTTP/1.1 101 ", 13) == 0, "got: %s", resp);
    ck_assert_msg(strstr(resp, "\r\nSec-WebSocket-Accept: " ACCEPT "\r\n"),
                  "wrong or no accept value: %s", resp);
    return fd;
}

void wstest_send_raw(int fd, bool fin, unsigned opcode, const void *data,
                     size_t len, bool mask)
{
    static const unsigned char key[4] = {0xa5, 0x01, 0x5a, 0xfe};
    unsigned char *frame = malloc(len + 14);
    size_t n = 0;

    ck_assert_ptr_nonnull(frame);
    frame[n++] = (unsigned char)((fin ? 0x80 : 0) | opcode);
    if (len < 126) {
        frame[n++] = (unsigned char)len;
    } else if (len < 65536) {
        frame[n++] = 126;
        frame[n++] = (unsigned char)(len >> 8);
        frame[n++] = (unsigned char)len;
    } else {
        frame[n++] = 127;
        for (int i = 7; i >= 0; i--)
            frame[n++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    if (mask) {
        frame[1] |= 0x80;
        memcpy(frame + n, key, 4);
        n += 4;
    }
    for (size_t i = 0; i < len; i++)
        frame[n + i] =
            ((const unsigned char *)data)[i] ^ (mask ? key[i & 3] : 0);
    ck_assert_msg(harness_write_all(fd, frame, n + len) == 0, "send: %s",
                  strerror(errno));
    free(frame);
}

void wstest_send(int fd, bool fin, unsigned opcode, const void *data,
                 size_t len)
{
    wstest_send_raw(fd, fin, opcode, data, len, true);
}

int wstest_read_frame(int fd, struct wstest_frame *f)
{
    unsigned char h[8];
    uint64_t len;

    if (harness_read_all(fd, h, 2) < 0)
        return -1;
    if ((h[0] & 0x70) || (h[1] & 0x80))
        return -1; /* reserved bits, or a masked frame: not from a server */
    f->opcode = h[0] & 0x0f;
    f->fin = h[0] & 0x80;
    len = h[1] & 0x7f;
    if (len >= 126) {
        size_t ext = len == 126 ? 2 : 8;
        if (harness_read_all(fd, h, ext) < 0)
            return -1;
        len = 0;
        for (size_t i = 0; i < ext; i++)
            len = len << 8 | h[i];
    }
    if (len > (64u << 20))
        return -1;
    f->len = (size_t)len;
    f->data = malloc(f->len + 1);
    if (!f->data || harness_read_all(fd, f->data, f->len) < 0) {
        free(f->data);
        return -1;
    }
    return 0;
}

unsigned char *wstest_read_message(int fd, unsigned *opcode, size_t *len,
                                   int *pongs)
{
    unsigned char *msg = NULL;
    struct wstest_frame f;

    *len = 0;
    *opcode = 0;
    for (;;) {
        ck_assert_msg(wstest_read_frame(fd, &f) == 0,
                      "no whole message: connection closed or bad frame "
                      "after %zu bytes",
                      *len);
        if (f.opcode == 0xa && pongs) {
            (*pongs)++;
            free(f.data);
            continue;
        }
        ck_assert_msg(f.opcode == (*opcode ? 0u : f.opcode) &&
                          (f.opcode == 0 || f.opcode == 1 || f.opcode == 2),
                      "frame with opcode %u inside a message", f.opcode);
        if (!*opcode) {
            ck_assert_msg(f.opcode != 0, "continuation without a message");
            *opcode = f.opcode;
        } else {
            ck_assert_msg(f.opcode == 0, "new message inside a message");
        }
        msg = realloc(msg, *len + f.len + 1);
        ck_assert_ptr_nonnull(msg);
        memcpy(msg + *len, f.data, f.len);
        *len += f.len;
        free(f.data);
        if (f.fin)
            return msg;
    }
}

bool wstest_closed_within(int fd, int ms)
{
    char buf[4096];
    int waited = 0;

    while (waited < ms) {
        struct pollfd p = {fd, POLLIN, 0};
        ssize_t n;

        if (poll(&p, 1, 100) == 0) {
            waited += 100;
            continue;
        }
        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return true;
    }
    return false;
}

void wstest_expect_close(int fd, int code)
{
    struct wstest_frame f;
    int got;

    ck_assert_msg(wstest_read_frame(fd, &f) == 0,
                  "expected a close frame (%d), the connection ended", code);
    ck_assert_msg(f.opcode == 0x8, "expected a close frame (%d), got opcode %u",
                  code, f.opcode);
    got = f.len >= 2 ? f.data[0] << 8 | f.data[1] : -1;
    free(f.data);
    ck_assert_msg(got == code, "close code %d, expected %d", got, code);
    /* a client answers the close; the server then ends the TCP connection */
    wstest_send(fd, true, 0x8, "", 0);
    ck_assert_msg(wstest_closed_within(fd, harness_ms(3000)),
                  "the server did not close the connection after its close");
}

char *wstest_http(uint16_t port, const void *req, size_t len)
{
    size_t cap = 1 << 16, n = 0;
    char *resp = malloc(cap + 1);
    int fd = harness_connect(port);
    ssize_t k = 0;

    ck_assert_int_ge(fd, 0);
    ck_assert_ptr_nonnull(resp);
    set_timeout(fd, harness_ms(5000));
    ck_assert_int_eq(harness_write_all(fd, req, len), 0);
    while (n < cap && (k = recv(fd, resp + n, cap - n, 0)) > 0)
        n += (size_t)k;
    ck_assert_msg(k == 0 || n == cap,
                  "no orderly close after the response: "
                  "%s",
                  strerror(errno));
    resp[n] = '\0';
    close(fd);
    return resp;
}

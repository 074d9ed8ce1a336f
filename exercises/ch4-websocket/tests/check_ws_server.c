/* check_ws_server.c -- ws_conn and ch4-mq's md end to end, through a raw
 * socket: what real clients send, and what they never would (bad
 * handshakes, unmasked or oversized frames, bad UTF-8, a client gone
 * mid-frame), and md killed while messages stream. */
#include "wstest.h"

#include "fixture.h"
#include "mqpair.h"
#include "srvkeys.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

static struct wstest_server srv;

static void start(void) { wstest_start(&srv, NULL); }

/* One message there and back: same opcode, same bytes. */
static void echo_ok(int fd, unsigned opcode, const void *data, size_t len)
{
    unsigned got_op;
    size_t got_len;
    unsigned char *got;

    wstest_send(fd, true, opcode, data, len);
    got = wstest_read_message(fd, &got_op, &got_len, NULL);
    ck_assert_uint_eq(got_op, opcode);
    ck_assert_uint_eq(got_len, len);
    ck_assert_msg(len == 0 || memcmp(got, data, len) == 0,
                  "echo of %zu bytes differs", len);
    free(got);
}

/* --- the handshake ------------------------------------------------------- */

START_TEST(test_ws_server_handshake)
{
    int fd;

    start();
    fd = wstest_open(srv.port);
    echo_ok(fd, 1, "hello", 5);
    close(fd);
    wstest_stop(&srv);
}
END_TEST

/* The request in 30 pieces, 20 ms apart: TCP may split it anywhere. */
START_TEST(test_ws_server_handshake_split)
{
    const char req[] = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n";
    size_t len = sizeof(req) - 1, step = len / 30 + 1;
    char resp[256] = {0};
    int fd;

    start();
    fd = harness_connect(srv.port);
    for (size_t off = 0; off < len; off += step) {
        ck_assert_int_eq(harness_write_all(fd, req + off,
                                           off + step > len ? len - off : step),
                         0);
        usleep(20000);
    }
    for (size_t n = 0; n < 13;) {
        ssize_t k = recv(fd, resp + n, sizeof(resp) - 1 - n, 0);
        ck_assert_msg(k > 0, "no response to the split handshake");
        n += (size_t)k;
    }
    ck_assert_msg(strncmp(resp, "HTTP/1.1 101 ", 13) == 0, "%s", resp);
    close(fd);
    wstest_stop(&srv);
}
END_TEST

/* Each bad request gets its status line, and the connection is closed
 * in order (no reset that could eat the response). */
START_TEST(test_ws_server_bad_handshakes)
{
    static const struct {
        const char *req, *status;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
         "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
         "HTTP/1.1 400 "},
        {"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
         "Connection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
         "Sec-WebSocket-Version: 8\r\n\r\n",
         "HTTP/1.1 426 "},
        {"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
         "Connection: keep-alive\r\nSec-WebSocket-Key: " KEY "\r\n"
         "Sec-WebSocket-Version: 13\r\n\r\n",
         "HTTP/1.1 400 "},
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
         "HTTP/1.1 405 "},
        {"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 404 "},
        {"GET / HTTP/3.0\r\nHost: x\r\n\r\n", "HTTP/1.1 505 "},
        {"\x16\x03\x01\x02\x01\x01\x01\x01\xfc\x03\x03\r\n\r\n",
         "HTTP/1.1 400 "},
    };

    start();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *resp = wstest_http(srv.port, cases[i].req, strlen(cases[i].req));
        ck_assert_msg(strncmp(resp, cases[i].status, 13) == 0,
                      "request %zu: expected %s, got: %.60s", i,
                      cases[i].status, resp);
        ck_assert_msg(strstr(resp, "\r\nConnection: close\r\n"), "%s", resp);
        if (strstr(cases[i].status, "426"))
            ck_assert_ptr_nonnull(
                strstr(resp, "\r\nSec-WebSocket-Version: 13\r\n"));
        free(resp);
    }
    wstest_stop(&srv);
}
END_TEST

/* A head over 8 KiB is refused with 431 (and the rest of it discarded
 * without a reset); the server goes on serving. */
START_TEST(test_ws_server_head_too_large)
{
    size_t len = 20000;
    char *req = malloc(len);
    char *resp;
    int n, fd;

    ck_assert_ptr_nonnull(req);
    n = snprintf(req, len, "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ");
    memset(req + n, 'a', len - (size_t)n - 4);
    memcpy(req + len - 4, "\r\n\r\n", 4);
    start();
    resp = wstest_http(srv.port, req, len);
    ck_assert_msg(strncmp(resp, "HTTP/1.1 431 ", 13) == 0, "got: %.60s", resp);
    free(resp);
    free(req);
    fd = wstest_open(srv.port);
    echo_ok(fd, 1, "still here", 10);
    close(fd);
    wstest_stop(&srv);
}
END_TEST

START_TEST(test_ws_server_page)
{
    const char req[] = "GET /?send=hi HTTP/1.1\r\nHost: x\r\n\r\n";
    char *resp;

    start();
    resp = wstest_http(srv.port, req, sizeof(req) - 1);
    ck_assert_msg(strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0, "%.60s", resp);
    ck_assert_ptr_nonnull(strstr(resp, "\r\nContent-Type: text/html"));
    ck_assert_ptr_nonnull(strstr(resp, "new WebSocket("));
    ck_assert_ptr_nonnull(strstr(resp, "</html>"));
    free(resp);
    wstest_stop(&srv);
}
END_TEST

/* --- frames -------------------------------------------------------------- */

/* Every length encoding, text and binary; above 64 KiB the echo comes
 * back in fragments, which wstest_read_message reassembles. */
START_TEST(test_ws_server_echo_sizes)
{
    static const size_t sizes[] = {0,     1,     125,   126,    65535,
                                   65536, 65537, 65545, 200000, 1 << 20};
    unsigned char *data = malloc(1 << 20);
    int fd;

    ck_assert_ptr_nonnull(data);
    start();
    fd = wstest_open(srv.port);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        harness_fill(data, sizes[i], (uint32_t)i + 1);
        echo_ok(fd, 2, data, sizes[i]);
        memset(data, 'a' + (int)i, sizes[i]);
        echo_ok(fd, 1, data, sizes[i]);
    }
    close(fd);
    free(data);
    wstest_stop(&srv);
}
END_TEST

/* A message in fragments with a ping between them: the pong comes at
 * once, the echo when the message is whole. */
START_TEST(test_ws_server_fragments_and_ping)
{
    struct wstest_frame f;
    unsigned op;
    size_t len;
    unsigned char *msg;
    int pongs = 0, fd;

    start();
    fd = wstest_open(srv.port);
    wstest_send(fd, false, 1, "frag", 4);
    wstest_send(fd, true, 9, "ping!", 5);
    ck_assert_int_eq(wstest_read_frame(fd, &f), 0);
    ck_assert_uint_eq(f.opcode, 0xa);
    ck_assert_uint_eq(f.len, 5);
    ck_assert_mem_eq(f.data, "ping!", 5);
    free(f.data);
    wstest_send(fd, false, 0, "men\xce", 4);
    wstest_send(fd, true, 0, "\xbcted", 4);
    msg = wstest_read_message(fd, &op, &len, &pongs);
    ck_assert_uint_eq(op, 1);
    ck_assert_uint_eq(len, 12);
    ck_assert_mem_eq(msg, "fragmen\xce\xbcted", 12);
    ck_assert_int_eq(pongs, 0);
    free(msg);
    close(fd);
    wstest_stop(&srv);
}
END_TEST

/* Fifty frames in one write come back as fifty echoes, in order; one
 * frame written a byte at a time for its header and in odd pieces after
 * comes back whole. */
START_TEST(test_ws_server_frames_and_segments)
{
    unsigned char buf[50 * 32], big[100000], hdr[14] = {0x82, 127};
    size_t n = 0;
    int fd;

    start();
    fd = wstest_open(srv.port);
    for (int i = 0; i < 50; i++) {
        buf[n++] = 0x81;
        buf[n++] = 0x80 | 3; /* masked, 3 bytes */
        memcpy(buf + n, "\0\0\0\0", 4);
        n += 4;
        n += (size_t)snprintf((char *)buf + n, 4, "%03d", i);
    }
    ck_assert_int_eq(harness_write_all(fd, buf, n), 0);
    for (int i = 0; i < 50; i++) {
        char want[4];
        unsigned op;
        size_t len;
        unsigned char *msg = wstest_read_message(fd, &op, &len, NULL);
        snprintf(want, sizeof(want), "%03d", i);
        ck_assert_uint_eq(len, 3);
        ck_assert_mem_eq(msg, want, 3);
        free(msg);
    }
    harness_fill(big, sizeof(big), 99);
    for (int i = 0; i < 8; i++)
        hdr[2 + i] = (unsigned char)((uint64_t)sizeof(big) >> (56 - 8 * i));
    hdr[1] |= 0x80; /* and a zero mask */
    for (int i = 0; i < 14; i++) {
        ck_assert_int_eq(harness_write_all(fd, hdr + i, 1), 0);
        usleep(2000);
    }
    for (size_t off = 0; off < sizeof(big); off += 7919)
        ck_assert_int_eq(harness_write_all(fd, big + off,
                                           sizeof(big) - off < 7919
                                               ? sizeof(big) - off
                                               : 7919),
                         0);
    {
        unsigned op;
        size_t len;
        unsigned char *msg = wstest_read_message(fd, &op, &len, NULL);
        ck_assert_uint_eq(op, 2);
        ck_assert_uint_eq(len, sizeof(big));
        ck_assert(memcmp(msg, big, len) == 0);
        free(msg);
    }
    close(fd);
    wstest_stop(&srv);
}
END_TEST

/* The close handshake: the client's code comes back, then the server
 * closes the TCP connection. Echoes sent before the close arrive first. */
START_TEST(test_ws_server_close_handshake)
{
    int fd;

    start();
    fd = wstest_open(srv.port);
    wstest_send(fd, true, 1, "last words", 10);
    wstest_send(fd, true, 8,
                "\x03\xe8"
                "bye",
                5);
    {
        unsigned op;
        size_t len;
        unsigned char *msg = wstest_read_message(fd, &op, &len, NULL);
        ck_assert_uint_eq(len, 10);
        free(msg);
    }
    wstest_expect_close(fd, 1000);
    close(fd);
    fd = wstest_open(srv.port);
    wstest_send(fd, true, 8, "\x0f\xa1", 2);
    wstest_expect_close(fd, 4001);
    close(fd);
    fd = wstest_open(srv.port);
    wstest_send(fd, true, 8, "", 0);
    wstest_expect_close(fd, -1);
    close(fd);
    wstest_stop(&srv);
}
END_TEST

/* SIGTERM: open WebSockets are told 1001 (going away) before the server
 * exits, cleanly. */
START_TEST(test_ws_server_stop_says_going_away)
{
    int fd;

    start();
    fd = wstest_open(srv.port);
    echo_ok(fd, 1, "hi", 2);
    fixture_stop_clean(srv.io, 5000);
    {
        struct wstest_frame f;
        ck_assert_int_eq(wstest_read_frame(fd, &f), 0);
        ck_assert_uint_eq(f.opcode, 8);
        ck_assert_uint_eq(f.len, 2);
        ck_assert_int_eq(f.data[0] << 8 | f.data[1], 1001);
        free(f.data);
    }
    ck_assert(wstest_closed_within(fd, 3000));
    close(fd);
    fixture_stop_clean(srv.md, 5000);
    srvkeys_remove(srv.base, srv.dir, 1);
}
END_TEST

/* --- what clients would not send ------------------------------------------ */

START_TEST(test_ws_server_unmasked_1002)
{
    int fd;

    start();
    fd = wstest_open(srv.port);
    echo_ok(fd, 1, "fine", 4);
    wstest_send_raw(fd, true, 1, "naked", 5, false);
    wstest_expect_close(fd, 1002);
    close(fd);
    wstest_stop(&srv);
}
END_TEST

START_TEST(test_ws_server_control_rules_1002)
{
    char big[126];
    int fd;

    memset(big, 'p', sizeof(big));
    start();
    fd = wstest_open(srv.port);
    wstest_send(fd, true, 9, big, 126); /* a 126-byte ping */
    wstest_expect_close(fd, 1002);
    close(fd);
    fd = wstest_open(srv.port);
    wstest_send(fd, false, 9, "x", 1); /* a fragmented ping */
    wstest_expect_close(fd, 1002);
    close(fd);
    fd = wstest_open(srv.port);
    wstest_send(fd, true, 0, "x", 1); /* a continuation of nothing */
    wstest_expect_close(fd, 1002);
    close(fd);
    wstest_stop(&srv);
}
END_TEST

START_TEST(test_ws_server_bad_utf8_1007)
{
    int fd;

    start();
    fd = wstest_open(srv.port);
    wstest_send(fd, true, 1, "bad \xed\xa0\x80 surrogate", 17);
    wstest_expect_close(fd, 1007);
    close(fd);
    /* across fragments: the first is fine so far, the second breaks it */
    fd = wstest_open(srv.port);
    wstest_send(fd, false, 1, "ok \xe2\x82", 5);
    wstest_send(fd, true, 0, "(", 1);
    wstest_expect_close(fd, 1007);
    close(fd);
    wstest_stop(&srv);
}
END_TEST

/* A length beyond the limit is refused on the header: 1009, with no
 * payload sent. The default limit is 16 MiB; -m lowers it. */
START_TEST(test_ws_server_too_big_1009)
{
    const char *const small[] = {"-m", "64k", NULL};
    unsigned char hdr[14] = {0x82, 0xff, 0, 0, 0, 0, 0x01, 0x00, 0, 1};
    char chunk[40000];
    int fd;

    memset(chunk, 'z', sizeof(chunk));
    start();
    fd = wstest_open(srv.port);
    ck_assert_int_eq(harness_write_all(fd, hdr, 14), 0); /* 16 MiB + 1 */
    wstest_expect_close(fd, 1009);
    close(fd);
    wstest_stop(&srv);

    wstest_start(&srv, small);
    fd = wstest_open(srv.port);
    echo_ok(fd, 2, chunk, sizeof(chunk));
    wstest_send(fd, false, 2, chunk, sizeof(chunk));
    wstest_send(fd, true, 0, chunk, sizeof(chunk)); /* 80,000 in all */
    wstest_expect_close(fd, 1009);
    close(fd);
    wstest_stop(&srv);
}
END_TEST

/* Clients that vanish mid-handshake, mid-header, mid-payload, mid-message:
 * the server frees them and serves the next one. (ASan builds check that
 * nothing leaks when it exits.) */
START_TEST(test_ws_server_client_vanishes)
{
    unsigned char partial[] = {0x82, 0xfe, 0x10, 0x00, 1, 2, 3, 4, 'a', 'b'};
    int fd;

    start();
    fd = harness_connect(srv.port);
    ck_assert_int_eq(harness_write_all(fd, "GET / HTTP/1.1\r\nHo", 18), 0);
    close(fd);
    fd = wstest_open(srv.port);
    ck_assert_int_eq(harness_write_all(fd, partial, 1), 0);
    close(fd);
    fd = wstest_open(srv.port);
    ck_assert_int_eq(harness_write_all(fd, partial, sizeof(partial)), 0);
    close(fd);
    fd = wstest_open(srv.port);
    wstest_send(fd, false, 1, "half a message", 14);
    close(fd);
    /* and one whose echo is on its way */
    fd = wstest_open(srv.port);
    {
        static unsigned char big[1 << 20];
        wstest_send(fd, true, 2, big, sizeof(big));
    }
    close(fd);
    usleep(200000);
    fd = wstest_open(srv.port);
    echo_ok(fd, 1, "next", 4);
    close(fd);
    wstest_stop(&srv);
}
END_TEST

/* A client that trickles its head a byte a second, each byte inside the
 * idle timeout, is still dropped once the 10 s for a head are up. */
START_TEST(test_ws_server_trickling_head_dropped)
{
    const char start_of_head[] = "GET / HTTP/1.1\r\nX-Slow: ";
    bool closed = false;
    int fd, waited;

    start();
    fd = harness_connect(srv.port);
    ck_assert_int_eq(
        harness_write_all(fd, start_of_head, sizeof(start_of_head) - 1), 0);
    for (waited = 0; waited < 14 && !closed; waited++) {
        if (send(fd, "a", 1, MSG_NOSIGNAL) != 1)
            break; /* already closed by the server */
        closed = wstest_closed_within(fd, 1000);
    }
    ck_assert_msg(closed || waited < 14,
                  "a head trickled for 14 s kept its connection");
    ck_assert_int_ge(waited, 9); /* and not before its 10 s */
    close(fd);
    wstest_stop(&srv);
}
END_TEST

/* After its close frame the server reads and discards what the client
 * still sends, but for 2 s at most, however the bytes trickle in. */
START_TEST(test_ws_server_linger_bounded)
{
    struct wstest_frame f;
    bool closed = false;
    int fd, waited;

    start();
    fd = wstest_open(srv.port);
    wstest_send_raw(fd, true, 1, "naked", 5, false);
    ck_assert_int_eq(wstest_read_frame(fd, &f), 0);
    ck_assert_uint_eq(f.opcode, 8);
    free(f.data);
    /* The server shuts its side at once (we read EOF); it closes for good
     * when a send of ours fails (its reset came back). */
    for (waited = 0; waited < 12 && !closed; waited++) {
        closed = send(fd, "zz", 2, MSG_NOSIGNAL) < 0;
        usleep(500000);
    }
    ck_assert_msg(closed, "a client trickling bytes after the close kept "
                          "the connection for 6 s");
    ck_assert_int_ge(waited, 4); /* and not before its 2 s */
    close(fd);
    wstest_stop(&srv);
}
END_TEST

/* --- md answering twice, md killed ------------------------------------------
 */

/* The test plays md and answers every piece twice, as an md killed
 * between queueing a reply and consuming its request does after its
 * restart: ws_conn must drop the copies by sequence number, even inside
 * a message that travels as several pieces. */
static int twice_cb(uint32_t id, const void *data, size_t len, void *arg)
{
    struct mqpair *mq = arg;

    for (int i = 0; i < 2; i++) {
        while (spscq_push(mq->out, id, data, len) < 0) {
            ck_assert_int_eq(errno, EAGAIN);
            usleep(1000);
        }
    }
    return 0;
}

START_TEST(test_ws_server_duplicate_replies_dropped)
{
    static unsigned char big[150000]; /* three pieces */
    static const char *const words[] = {"once", NULL, "next"};
    struct wstest_server fake = {.no_md = true};
    struct mqpair mq;
    int fd;

    wstest_start(&fake, NULL);
    ck_assert_int_eq(mqpair_open(&mq, fake.base, fake.dir, 0, MQPAIR_MD), 0);
    harness_fill(big, sizeof(big), 5);
    fd = wstest_open(fake.port);
    wstest_send(fd, true, 1, "once", 4);
    wstest_send(fd, true, 2, big, sizeof(big));
    wstest_send(fd, true, 1, "next", 4);
    for (int got = 0, i = 0; got < 5 && i < 500; i++) {
        int n = spscq_drain(mq.in, twice_cb, &mq, 16);
        ck_assert_int_ge(n, 0);
        got += n;
        usleep(2000);
    }
    for (int i = 0; i < 3; i++) {
        unsigned op;
        size_t len;
        unsigned char *msg = wstest_read_message(fd, &op, &len, NULL);
        size_t want = words[i] ? 4 : sizeof(big);
        ck_assert_msg(
            len == want &&
                memcmp(msg, words[i] ? (const void *)words[i] : big, len) == 0,
            "echo %d: %zu bytes, not the message sent", i, len);
        free(msg);
    }
    close(fd);
    mqpair_close(&mq);
    wstest_stop(&fake);
}
END_TEST

/* --- md killed -------------------------------------------------------------
 */

#define STREAM_CLIENTS 4
#define STREAM_MSGS    100

static size_t stream_size(int i)
{
    /* one piece, several pieces, and sizes around CHUNK (64 KiB) */
    static const size_t sizes[] = {10, 1000, 70000, 65536, 200000};
    return sizes[i % 5];
}

struct streamer {
    int fd, client;
    int sent;
    atomic_int received; /* read by the test while the reader counts */
    char error[160];
};

static void *stream_writer(void *arg)
{
    struct streamer *s = arg;
    unsigned char *buf = malloc(200000);

    for (int i = 0; buf && i < STREAM_MSGS; i++) {
        harness_fill(buf, stream_size(i), (uint32_t)(s->client * 1000 + i));
        wstest_send(s->fd, true, 2, buf, stream_size(i));
        s->sent++;
        usleep(2000); /* a stream that lasts, so that md dies inside it */
    }
    free(buf);
    return NULL;
}

/* Read every echo, check it, and note the first thing wrong. */
static void *stream_reader(void *arg)
{
    struct streamer *s = arg;
    unsigned char *want = malloc(200000);

    for (int i = 0; want && i < STREAM_MSGS; i++) {
        struct wstest_frame f;
        unsigned char *msg = NULL;
        size_t len = 0;
        bool fin = false;

        while (!fin) {
            if (wstest_read_frame(s->fd, &f) < 0) {
                snprintf(s->error, sizeof(s->error),
                         "client %d: message %d: connection ended", s->client,
                         i);
                free(msg);
                goto out;
            }
            msg = realloc(msg, len + f.len + 1);
            memcpy(msg + len, f.data, f.len);
            len += f.len;
            fin = f.fin;
            free(f.data);
        }
        harness_fill(want, stream_size(i), (uint32_t)(s->client * 1000 + i));
        if (len != stream_size(i) || memcmp(msg, want, len) != 0) {
            snprintf(s->error, sizeof(s->error),
                     "client %d: echo %d: %zu bytes, %s", s->client, i, len,
                     len == stream_size(i) ? "wrong bytes" : "wrong length");
            free(msg);
            goto out;
        }
        free(msg);
        atomic_fetch_add(&s->received, 1);
    }
out:
    free(want);
    return NULL;
}

/* md killed three times while four clients stream 100 messages each, up
 * to 200 KB, one every 2 ms (a quarter, half and three quarters through):
 * every echo arrives, once, in order, and no connection notices. */
START_TEST(test_ws_server_md_killed_during_stream)
{
    struct streamer s[STREAM_CLIENTS];
    pthread_t w[STREAM_CLIENTS], r[STREAM_CLIENTS];
    bool streaming = false;

    start();
    for (int i = 0; i < STREAM_CLIENTS; i++) {
        s[i].fd = wstest_open(srv.port);
        s[i].client = i;
        s[i].sent = 0;
        s[i].error[0] = '\0';
        atomic_init(&s[i].received, 0);
        ck_assert_int_eq(pthread_create(&w[i], NULL, stream_writer, &s[i]), 0);
        ck_assert_int_eq(pthread_create(&r[i], NULL, stream_reader, &s[i]), 0);
    }
    /* kill md at a quarter, half and three quarters of the echoes */
    for (int k = 1; k <= 3; k++) {
        int total = 0;
        for (int waited = 0; waited < harness_ms(20000); waited++) {
            total = 0;
            for (int i = 0; i < STREAM_CLIENTS; i++)
                total += atomic_load(&s[i].received);
            if (total >= k * STREAM_CLIENTS * STREAM_MSGS / 4)
                break;
            usleep(1000);
        }
        streaming |= total < STREAM_CLIENTS * STREAM_MSGS;
        wstest_kill_md(&srv);
    }
    for (int i = 0; i < STREAM_CLIENTS; i++) {
        pthread_join(w[i], NULL);
        pthread_join(r[i], NULL);
    }
    for (int i = 0; i < STREAM_CLIENTS; i++) {
        ck_assert_msg(s[i].error[0] == '\0', "%s", s[i].error);
        ck_assert_int_eq(atomic_load(&s[i].received), STREAM_MSGS);
        wstest_send(s[i].fd, true, 8, "\x03\xe8", 2);
        wstest_expect_close(s[i].fd, 1000);
        close(s[i].fd);
    }
    /* the kills must fall inside the stream, or they proved nothing (on a
     * very busy machine the last ones may come after its end) */
    ck_assert_msg(streaming, "the stream ended before md was killed");
    wstest_stop(&srv);
}
END_TEST

/* echosvr_ws, the launcher: md killed with SIGKILL is restarted and the
 * connection does not notice; SIGTERM stops everything and leaves no
 * segment and no FIFO behind. (Its FIFO directory is one of the
 * runner's, so that a failing test, whose launcher dies by SIGKILL,
 * leaves nothing in /tmp either.) */
START_TEST(test_ws_server_launcher)
{
    struct wstest_server keys = {.slot = 3, .no_md = true};
    char fifo[SRVKEYS_PATH_MAX];
    struct hproc *l;
    uint64_t restarts = 0;
    int fd;

    keys.base = wstest_slot_base(keys.slot);
    snprintf(keys.key, sizeof(keys.key), "%#x", (unsigned)keys.base);
    snprintf(keys.dir, sizeof(keys.dir), "%s/launcher", harness_tmpdir());
    {
        const char *argv[] = {"./echosvr_ws", "-q", "-p",     "0", "-k",
                              keys.key,       "-d", keys.dir, NULL};
        l = fixture_start(argv);
    }
    fd = wstest_open(l->port);
    echo_ok(fd, 1, "before", 6);
    kill(fixture_writer_pid(srvkeys_md_stats(keys.base)), SIGKILL);
    echo_ok(fd, 1, "after md died", 13);
    for (int i = 0; i < 100 && restarts == 0; i++, usleep(20000))
        restarts =
            fixture_counter(srvkeys_launcher_stats(keys.base), "md_restarts");
    ck_assert_uint_eq(restarts, 1);
    close(fd);
    srvkeys_fifo(fifo, sizeof(fifo), keys.dir, "io2md", 0);
    ck_assert_msg(access(fifo, F_OK) == 0, "no FIFO %s while running", fifo);
    fixture_stop_clean(l, 5000);
    ck_assert_msg(access(fifo, F_OK) != 0, "%s is still there", fifo);
    srvkeys_fifo(fifo, sizeof(fifo), keys.dir, "md2io", 0);
    ck_assert_msg(access(fifo, F_OK) != 0, "%s is still there", fifo);
    ck_assert(!fixture_segment_exists(srvkeys_io2md(keys.base, 0)));
    ck_assert(!fixture_segment_exists(srvkeys_md2io(keys.base, 0)));
    ck_assert(!fixture_segment_exists(srvkeys_io_stats(keys.base, 0)));
    ck_assert(!fixture_segment_exists(srvkeys_md_stats(keys.base)));
    ck_assert(!fixture_segment_exists(srvkeys_launcher_stats(keys.base)));
}
END_TEST

/* The benchmark client works (its figures are not checked: they depend
 * on the machine): a second of load, every echo checked by wsbench. */
START_TEST(test_ws_server_bench_client_runs)
{
    char port[8], *out = NULL;
    const char *argv[] = {
        "./bench/wsbench", "-m", port, "1000", "4", "1", NULL};

    start();
    snprintf(port, sizeof(port), "%u", srv.port);
    ck_assert_int_eq(harness_run(argv, 10000, &out, NULL), 0);
    ck_assert_msg(strstr(out, "conns=4 size=1000 ") &&
                      !strstr(out, "messages=0 "),
                  "%s", out);
    free(out);
    wstest_stop(&srv);
}
END_TEST

/* The usual conventions: -h, bad options, and a port in use (one line
 * naming it, exit 1). */
START_TEST(test_ws_server_options)
{
    const char *bad_size[] = {"./ws_conn", "-m", "lots", NULL};
    const char *extra[] = {"./ws_conn", "surplus", NULL};
    struct wstest_server other = {.slot = 2};
    char port[8], *err = NULL;

    fixture_check_help("./ws_conn", "-m SIZE");
    fixture_check_bad_args(bad_size, "message size");
    fixture_check_bad_args(extra, "surplus");
    start();
    /* a second server on other keys, but the same port */
    wstest_start(&other, NULL);
    fixture_stop_clean(other.io, 5000);
    snprintf(port, sizeof(port), "%u", srv.port);
    {
        const char *argv[] = {"./ws_conn", "-q", "-p",      port, "-k",
                              other.key,   "-d", other.dir, NULL};
        ck_assert_int_eq(harness_run(argv, 5000, NULL, &err), 1);
    }
    ck_assert_msg(strstr(err, "Address already in use") &&
                      strchr(err, '\n') == err + strlen(err) - 1,
                  "not one line naming the port: %s", err);
    free(err);
    fixture_stop_clean(other.md, 5000);
    srvkeys_remove(other.base, other.dir, 1);
    wstest_stop(&srv);
}
END_TEST

Suite *ws_server_suite(void)
{
    Suite *s = suite_create("ws_server");
    TCase *hs = tcase_create("server_handshake");
    TCase *frames = tcase_create("server_frames");
    TCase *errors = tcase_create("server_errors");
    TCase *md = tcase_create("server_md");

    tcase_add_test(hs, test_ws_server_handshake);
    tcase_add_test(hs, test_ws_server_handshake_split);
    tcase_add_test(hs, test_ws_server_bad_handshakes);
    tcase_add_test(hs, test_ws_server_head_too_large);
    tcase_add_test(hs, test_ws_server_page);
    tcase_add_test(hs, test_ws_server_options);
    tcase_add_test(frames, test_ws_server_echo_sizes);
    tcase_add_test(frames, test_ws_server_fragments_and_ping);
    tcase_add_test(frames, test_ws_server_frames_and_segments);
    tcase_add_test(frames, test_ws_server_close_handshake);
    tcase_add_test(frames, test_ws_server_stop_says_going_away);
    tcase_add_test(frames, test_ws_server_bench_client_runs);
    tcase_add_test(errors, test_ws_server_unmasked_1002);
    tcase_add_test(errors, test_ws_server_control_rules_1002);
    tcase_add_test(errors, test_ws_server_bad_utf8_1007);
    tcase_add_test(errors, test_ws_server_too_big_1009);
    tcase_add_test(errors, test_ws_server_client_vanishes);
    tcase_add_test(errors, test_ws_server_trickling_head_dropped);
    tcase_add_test(errors, test_ws_server_linger_bounded);
    tcase_add_test(md, test_ws_server_duplicate_replies_dropped);
    tcase_add_test(md, test_ws_server_md_killed_during_stream);
    tcase_add_test(md, test_ws_server_launcher);
    suite_add_tcase(s, hs);
    suite_add_tcase(s, frames);
    suite_add_tcase(s, errors);
    suite_add_tcase(s, md);
    for (TCase **tc = (TCase *[]){hs, frames, errors, md, NULL}; *tc; tc++) {
        tcase_add_checked_fixture(*tc, NULL, harness_cleanup);
        tcase_set_timeout(*tc, 60);
    }
    return s;
}

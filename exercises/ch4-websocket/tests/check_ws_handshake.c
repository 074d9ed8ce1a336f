/* check_ws_handshake.c -- unit tests of the opening handshake parser and
 * the responses (ws_handshake.c): the RFC's example, split requests, the
 * case rules, and the status each bad request earns. */
#include "ws_handshake.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The RFC's example key (RFC 6455 1.3) and its accept value. */
#define KEY    "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* The handshake of RFC 6455 1.2, minus the optional fields. */
static const char rfc_request[] = "GET / HTTP/1.1\r\n"
                                  "Host: server.example.com\r\n"
                                  "Upgrade: websocket\r\n"
                                  "Connection: Upgrade\r\n"
                                  "Sec-WebSocket-Key: " KEY "\r\n"
                                  "Origin: http://example.com\r\n"
                                  "Sec-WebSocket-Protocol: chat, superchat\r\n"
                                  "Sec-WebSocket-Version: 13\r\n"
                                  "\r\n";

/* The status for a whole head. */
static int status_of(const char *head)
{
    struct ws_request req;

    ck_assert_int_eq(ws_handshake_parse(head, strlen(head), WS_HEAD_MAX, &req),
                     1);
    ck_assert_uint_eq(req.head_len, strlen(head));
    return req.status;
}

/* A request line and the fields of a handshake, some replaced: each of
 * host, upgrade, connection, version and key is a whole line ("" to leave
 * it out). */
static int status_with(const char *line, const char *host, const char *upgrade,
                       const char *connection, const char *version,
                       const char *key)
{
    static char head[2048];

    snprintf(head, sizeof(head), "%s\r\n%s%s%s%s%s\r\n", line, host, upgrade,
             connection, version, key);
    return status_of(head);
}

#define GOOD_LINE "GET / HTTP/1.1"
#define HOST      "Host: localhost\r\n"
#define UPGRADE   "Upgrade: websocket\r\n"
#define CONN      "Connection: Upgrade\r\n"
#define VERSION   "Sec-WebSocket-Version: 13\r\n"
#define KEYLINE   "Sec-WebSocket-Key: " KEY "\r\n"

START_TEST(test_ws_handshake_rfc_accept)
{
    char accept[WS_ACCEPT_LEN + 1];

    ck_assert_int_eq(ws_handshake_accept(KEY, accept), 0);
    ck_assert_str_eq(accept, ACCEPT);
}
END_TEST

START_TEST(test_ws_handshake_rfc_request)
{
    struct ws_request req;
    char resp[512];
    int n;

    ck_assert_int_eq(
        ws_handshake_parse(rfc_request, strlen(rfc_request), WS_HEAD_MAX, &req),
        1);
    ck_assert_int_eq(req.status, 101);
    ck_assert_str_eq(req.key, KEY);
    ck_assert_uint_eq(req.head_len, strlen(rfc_request));
    n = ws_handshake_response(&req, resp, sizeof(resp));
    ck_assert_int_gt(n, 0);
    ck_assert_uint_eq((size_t)n, strlen(resp));
    ck_assert_str_eq(resp, "HTTP/1.1 101 Switching Protocols\r\n"
                           "Upgrade: websocket\r\n"
                           "Connection: Upgrade\r\n"
                           "Sec-WebSocket-Accept: " ACCEPT "\r\n\r\n");
    ck_assert_int_eq(ws_handshake_response(&req, resp, 50), -1);
}
END_TEST

/* Split anywhere, the head is incomplete until its last byte, and the
 * bytes after it (a first frame) are not part of it. */
START_TEST(test_ws_handshake_split)
{
    char buf[1024];
    size_t len = strlen(rfc_request);
    struct ws_request req;

    memcpy(buf, rfc_request, len);
    memcpy(buf + len, "\x81\x85", 2);
    for (size_t n = 0; n < len; n++)
        ck_assert_int_eq(ws_handshake_parse(buf, n, WS_HEAD_MAX, &req), 0);
    ck_assert_int_eq(ws_handshake_parse(buf, len + 2, WS_HEAD_MAX, &req), 1);
    ck_assert_int_eq(req.status, 101);
    ck_assert_uint_eq(req.head_len, len);
}
END_TEST

/* Header names and the tokens compare in any case; tokens sit in lists,
 * and Connection may come more than once. */
START_TEST(test_ws_handshake_case_and_lists)
{
    ck_assert_int_eq(status_of("GET / HTTP/1.1\r\n"
                               "hOsT: x\r\n"
                               "upgrade: WebSocket\r\n"
                               "CONNECTION: keep-alive,  UpGrAdE \r\n"
                               "sec-websocket-version:13\r\n"
                               "SEC-WEBSOCKET-KEY:   " KEY "\t\r\n\r\n"),
                     101);
    ck_assert_int_eq(
        status_of("GET / HTTP/1.1\r\n" HOST UPGRADE "Connection: keep-alive\r\n"
                  "Connection: upgrade\r\n" VERSION KEYLINE "\r\n"),
        101);
    ck_assert_int_eq(status_with(GOOD_LINE, HOST, "Upgrade: foo, websocket\r\n",
                                 CONN, VERSION, KEYLINE),
                     101);
    /* a token, not a substring */
    ck_assert_int_eq(status_with(GOOD_LINE, HOST, UPGRADE,
                                 "Connection: upgraded\r\n", VERSION, KEYLINE),
                     400);
    ck_assert_int_eq(status_with(GOOD_LINE, HOST, "Upgrade: websockets\r\n",
                                 CONN, VERSION, KEYLINE),
                     400);
}
END_TEST

/* A plain GET of / (query strings too) is the page; elsewhere 404. */
START_TEST(test_ws_handshake_page)
{
    ck_assert_int_eq(status_of("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
    ck_assert_int_eq(status_of("GET /?send=hi HTTP/1.1\r\nHost: x\r\n\r\n"),
                     200);
    ck_assert_int_eq(status_of("GET / HTTP/1.0\r\n\r\n"), 200);
    ck_assert_int_eq(status_of("GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"),
                     404);
    ck_assert_int_eq(status_with("GET /chat HTTP/1.1", HOST, UPGRADE, CONN,
                                 VERSION, KEYLINE),
                     404);
}
END_TEST

START_TEST(test_ws_handshake_version)
{
    struct ws_request req;
    char resp[512];
    const char *head = "GET / HTTP/1.1\r\n" HOST UPGRADE CONN
                       "Sec-WebSocket-Version: 8\r\n" KEYLINE "\r\n";

    ck_assert_int_eq(status_with(GOOD_LINE, HOST, UPGRADE, CONN, "", KEYLINE),
                     426);
    ck_assert_int_eq(status_with(GOOD_LINE, HOST, UPGRADE, CONN,
                                 "Sec-WebSocket-Version: 13, 8\r\n", KEYLINE),
                     426);
    ck_assert_int_eq(ws_handshake_parse(head, strlen(head), WS_HEAD_MAX, &req),
                     1);
    ck_assert_int_eq(req.status, 426);
    ck_assert_int_gt(ws_handshake_error(&req, resp, sizeof(resp)), 0);
    ck_assert_msg(strncmp(resp, "HTTP/1.1 426 Upgrade Required\r\n", 31) == 0,
                  "%s", resp);
    ck_assert_ptr_nonnull(strstr(resp, "\r\nSec-WebSocket-Version: 13\r\n"));
    ck_assert_ptr_nonnull(strstr(resp, "\r\nConnection: close\r\n"));
}
END_TEST

START_TEST(test_ws_handshake_bad_key)
{
    ck_assert_int_eq(
        status_with(GOOD_LINE, HOST, UPGRADE, CONN, VERSION, KEYLINE), 101);
    ck_assert_int_eq(status_with(GOOD_LINE, HOST, UPGRADE, CONN, VERSION, ""),
                     400);
    /* 15 and 17 bytes, not base64, padding missing, twice */
    ck_assert_int_eq(status_with(GOOD_LINE, HOST, UPGRADE, CONN, VERSION,
                                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j\r\n"),
                     400);
    ck_assert_int_eq(
        status_with(GOOD_LINE, HOST, UPGRADE, CONN, VERSION,
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZTE=\r\n"),
        400);
    ck_assert_int_eq(status_with(GOOD_LINE, HOST, UPGRADE, CONN, VERSION,
                                 "Sec-WebSocket-Key: dGhlIHNhbX*sZSBub25jZQ=="
                                 "\r\n"),
                     400);
    ck_assert_int_eq(status_with(GOOD_LINE, HOST, UPGRADE, CONN, VERSION,
                                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQAA"
                                 "\r\n"),
                     400);
    ck_assert_int_eq(
        status_with(GOOD_LINE, HOST, UPGRADE, CONN, VERSION, KEYLINE KEYLINE),
        400);
}
END_TEST

START_TEST(test_ws_handshake_bad_requests)
{
    struct ws_request req;
    char resp[512];

    ck_assert_int_eq(
        status_with("POST / HTTP/1.1", HOST, UPGRADE, CONN, VERSION, KEYLINE),
        405);
    ck_assert_int_eq(
        status_with("get / HTTP/1.1", HOST, UPGRADE, CONN, VERSION, KEYLINE),
        405);
    ck_assert_int_eq(
        status_with("GET / HTTP/1.0", HOST, UPGRADE, CONN, VERSION, KEYLINE),
        400);
    ck_assert_int_eq(
        status_with("GET / HTTP/2.0", HOST, UPGRADE, CONN, VERSION, KEYLINE),
        505);
    ck_assert_int_eq(
        status_with("GET /", HOST, UPGRADE, CONN, VERSION, KEYLINE), 400);
    ck_assert_int_eq(
        status_with("GET  / HTTP/1.1", HOST, UPGRADE, CONN, VERSION, KEYLINE),
        400);
    ck_assert_int_eq(
        status_with("GET / HTTP/1.1 x", HOST, UPGRADE, CONN, VERSION, KEYLINE),
        400);
    ck_assert_int_eq(
        status_with(GOOD_LINE, "", UPGRADE, CONN, VERSION, KEYLINE), 400);
    ck_assert_int_eq(status_with(GOOD_LINE, HOST, "", CONN, VERSION, KEYLINE),
                     400);
    ck_assert_int_eq(
        status_with(GOOD_LINE, HOST, UPGRADE, "", VERSION, KEYLINE), 400);
    /* malformed fields: no colon, space before it, a folded line, a bare
     * CR */
    ck_assert_int_eq(status_with(GOOD_LINE, HOST, "Upgrade websocket\r\n", CONN,
                                 VERSION, KEYLINE),
                     400);
    ck_assert_int_eq(status_with(GOOD_LINE, HOST, "Upgrade : websocket\r\n",
                                 CONN, VERSION, KEYLINE),
                     400);
    ck_assert_int_eq(
        status_with(GOOD_LINE, HOST, UPGRADE " x\r\n", CONN, VERSION, KEYLINE),
        400);
    ck_assert_int_eq(
        status_with(GOOD_LINE, HOST, "X-A: 1\r2\r\n", CONN, VERSION, KEYLINE),
        400);
    ck_assert_int_eq(status_of("\r\n\r\n"), 400);
    /* a bare CR in the request line: not a line end */
    ck_assert_int_eq(status_of("GET / HTTP/1.1\rXHost: x\r\n\r\n"), 400);
    ck_assert_int_eq(
        ws_handshake_parse("POST / HTTP/1.1\r\n\r\n", 19, WS_HEAD_MAX, &req),
        1);
    ck_assert_int_gt(ws_handshake_error(&req, resp, sizeof(resp)), 0);
    ck_assert_ptr_nonnull(strstr(resp, "\r\nAllow: GET\r\n"));
}
END_TEST

/* A head that does not end within the bound is refused with 431, even
 * before its end arrives; one below the bound is just incomplete. */
START_TEST(test_ws_handshake_too_large)
{
    size_t size = WS_HEAD_MAX + 100;
    char *big = malloc(size);
    struct ws_request req;
    int n;

    ck_assert_ptr_nonnull(big);
    n = snprintf(big, size, "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ");
    memset(big + n, 'a', size - (size_t)n);
    ck_assert_int_eq(
        ws_handshake_parse(big, WS_HEAD_MAX - 1, WS_HEAD_MAX, &req), 0);
    ck_assert_int_eq(ws_handshake_parse(big, WS_HEAD_MAX, WS_HEAD_MAX, &req),
                     1);
    ck_assert_int_eq(req.status, 431);
    /* the end just past the bound is still too much */
    memcpy(big + WS_HEAD_MAX - 2, "\r\n\r\n", 4);
    ck_assert_int_eq(ws_handshake_parse(big, size, WS_HEAD_MAX, &req), 1);
    ck_assert_int_eq(req.status, 431);
    /* and right at it, fine */
    memcpy(big + WS_HEAD_MAX - 4, "\r\n\r\n", 4);
    ck_assert_int_eq(ws_handshake_parse(big, size, WS_HEAD_MAX, &req), 1);
    ck_assert_int_eq(req.status, 200);
    ck_assert_uint_eq(req.head_len, WS_HEAD_MAX);
    free(big);
}
END_TEST

Suite *ws_handshake_suite(void)
{
    Suite *s = suite_create("ws_handshake");
    TCase *core = tcase_create("handshake_core");
    TCase *errors = tcase_create("handshake_errors");

    tcase_add_test(core, test_ws_handshake_rfc_accept);
    tcase_add_test(core, test_ws_handshake_rfc_request);
    tcase_add_test(core, test_ws_handshake_split);
    tcase_add_test(core, test_ws_handshake_case_and_lists);
    tcase_add_test(core, test_ws_handshake_page);
    tcase_add_test(errors, test_ws_handshake_version);
    tcase_add_test(errors, test_ws_handshake_bad_key);
    tcase_add_test(errors, test_ws_handshake_bad_requests);
    tcase_add_test(errors, test_ws_handshake_too_large);
    suite_add_tcase(s, core);
    suite_add_tcase(s, errors);
    return s;
}

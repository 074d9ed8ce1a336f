/* check_ws_clients.c -- ws_conn and md against clients nobody here wrote:
 * Python's websockets library (required: make deps installs it), Node's
 * built-in WebSocket (Node 20 or later, where installed) and headless
 * Chromium loading the server's own page (where installed), driven over
 * the DevTools protocol by tests/ws_browser.py. A missing
 * optional client is reported on a SKIP line, never a silent pass. */
#include "wstest.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct wstest_server srv;

static void fail_with(const char *what, int rc, char *out, char *err)
{
    ck_abort_msg("%s exited %d; its output:\n%s\nstderr (end):\n%s", what, rc,
                 out ? out : "",
                 err ? err + (strlen(err) > 2000 ? strlen(err) - 2000 : 0)
                     : "");
}

/* The last line of s (for the summary that goes to our stderr). */
static const char *last_line(char *s)
{
    size_t n = strlen(s);
    char *nl;

    while (n > 0 && s[n - 1] == '\n')
        s[--n] = '\0';
    nl = strrchr(s, '\n');
    return nl ? nl + 1 : s;
}

/* The first of paths that runs "argv[0] ... probe" with exit 0, or NULL. */
static const char *find_program(const char *const paths[],
                                const char *const probe[])
{
    for (int i = 0; paths[i]; i++) {
        const char *argv[8] = {paths[i]};
        for (int j = 0; probe[j] && j < 6; j++)
            argv[j + 1] = probe[j];
        if (harness_run(argv, 10000, NULL, NULL) == 0)
            return paths[i];
    }
    return NULL;
}

/* The distribution's python3, where python3-websockets installs. */
static const char *python_with_websockets(void)
{
    static const char *const pythons[] = {"/usr/bin/python3",
                                          "/usr/local/bin/python3", NULL};
    static const char *const probe[] = {"-c", "import websockets", NULL};
    const char *python = find_program(pythons, probe);

    ck_assert_msg(python != NULL, "no python3 with the websockets module: "
                                  "run make deps (python3-websockets)");
    return python;
}

START_TEST(test_ws_clients_python)
{
    const char *const limited[] = {"-m", "1M", NULL};
    struct wstest_server small = {.slot = 1};
    const char *python = python_with_websockets();
    char port[8], small_port[8], *out = NULL, *err = NULL;
    int rc;

    srv.slot = 0;
    wstest_start(&srv, NULL);
    wstest_start(&small, limited);
    snprintf(port, sizeof(port), "%u", srv.port);
    snprintf(small_port, sizeof(small_port), "%u", small.port);
    {
        const char *argv[] = {python, "tests/ws_python.py", port, small_port,
                              NULL};
        rc = harness_run(argv, 120000, &out, &err);
    }
    if (rc != 0)
        fail_with("tests/ws_python.py", rc, out, err);
    fprintf(stderr, "ws_clients: %s\n", last_line(out));
    free(out);
    free(err);
    wstest_stop(&small);
    wstest_stop(&srv);
}
END_TEST

/* Node 20 and 21 hide WebSocket behind a flag; 22 has it by default. */
START_TEST(test_ws_clients_node)
{
    static const char *const nodes[] = {"/usr/bin/node", "/usr/local/bin/node",
                                        NULL};
    static const char *const version[] = {
        "-e",
        "process.exit(+process.versions.node.split('.')[0] >= 20 ? 0 : 1)",
        NULL};
    static const char *const plain[] = {
        "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)", NULL};
    const char *node = find_program(nodes, version);
    const char *flag = "--experimental-websocket";
    char port[8], *out = NULL, *err = NULL;
    int rc;

    if (!node) {
        fprintf(stderr, "ws_clients: SKIP the Node.js client: no node 20 or "
                        "later installed\n");
        return;
    }
    if (find_program((const char *const[]){node, NULL}, plain))
        flag = "--no-warnings"; /* WebSocket without a flag */
    wstest_start(&srv, NULL);
    snprintf(port, sizeof(port), "%u", srv.port);
    {
        const char *argv[] = {node, flag, "tests/ws_node.mjs", port, NULL};
        rc = harness_run(argv, 60000, &out, &err);
    }
    if (rc != 0)
        fail_with("tests/ws_node.mjs", rc, out, err);
    fprintf(stderr, "ws_clients: %s\n", last_line(out));
    free(out);
    free(err);
    wstest_stop(&srv);
}
END_TEST

/* Chromium loads the page from the server; the query string makes the
 * page send three messages (one of them 300,000 characters, which comes
 * back in fragments), and tests/ws_browser.py reads the echoes from the
 * page's DOM over the DevTools protocol. */
START_TEST(test_ws_clients_chromium)
{
    static const char *const chromiums[] = {"/usr/bin/chromium",
                                            "/usr/bin/chromium-browser", NULL};
    static const char *const probe[] = {"--version", NULL};
    const char *chromium = find_program(chromiums, probe);
    char url[160], *out = NULL, *err = NULL;
    int rc;

    if (!chromium) {
        fprintf(stderr, "ws_clients: SKIP the browser test: Chromium is not "
                        "installed (make deps WITH=chromium)\n");
        return;
    }
    wstest_start(&srv, NULL);
    snprintf(url, sizeof(url),
             "http://127.0.0.1:%u/?send=hello&send=%%CE%%BA%%E1%%BD%%B9%%CF%%83"
             "%%CE%%BC%%CE%%B5&big=300000",
             srv.port);
    {
        const char *argv[] = {
            python_with_websockets(),
            "tests/ws_browser.py",
            chromium,
            url,
            "<span id=\"state\">open</span>",
            "<li class=\"echo\">hello</li>",
            "<li "
            "class=\"echo\">\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5</li>",
            "<li class=\"echo\">300000 characters</li>",
            NULL};
        rc = harness_run(argv, 60000, &out, &err);
    }
    if (rc != 0)
        fail_with("tests/ws_browser.py (the page in Chromium)", rc, out, err);
    fprintf(stderr, "ws_clients: chromium: the page echoed 3 messages\n");
    free(out);
    free(err);
    wstest_stop(&srv);
}
END_TEST

Suite *ws_clients_suite(void)
{
    Suite *s = suite_create("ws_clients");
    TCase *tc = tcase_create("clients");

    tcase_add_checked_fixture(tc, NULL, harness_cleanup);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_ws_clients_python);
    tcase_add_test(tc, test_ws_clients_node);
    tcase_add_test(tc, test_ws_clients_chromium);
    suite_add_tcase(s, tc);
    return s;
}

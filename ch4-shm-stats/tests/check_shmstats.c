/* check_shmstats.c -- black-box tests of echosvr_v4, viewstats and
 * client_v4: statistics in shared memory as other processes see them. */
#include "fixture.h"
#include "stats.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#define SERVER "./echosvr_v4"
#define VIEW   "./viewstats"
#define CLIENT "./client_v4"

enum { NKEYS = 2 };
static char keystr[NKEYS][16];
static key_t keys[NKEYS];

/* harness_key(): private to this runner, swept even after a failure. */
static void setup(void)
{
    for (int i = 0; i < NKEYS; i++) {
        keys[i] = harness_key();
        snprintf(keystr[i], sizeof(keystr[i]), "%#x", (unsigned)keys[i]);
    }
}

static struct hproc *start_v4(int k)
{
    const char *argv[] = {SERVER, "-p", "0", "-k", keystr[k], NULL};
    return fixture_start(argv);
}

/* A one-process server exits within this long of SIGTERM. */
#define STOP_MS 2000

/* echosvr_v4 -p 0 -k KEY, then two more arguments. */
static struct hproc *start_v4_with(const char *a1, const char *a2)
{
    const char *argv[] = {SERVER, "-p", "0", "-k", keystr[0], a1, a2, NULL};
    return fixture_start(argv);
}

/* "  name   value" in viewstats' output; aborts the test if absent. */
static unsigned long long shown(const char *out, const char *name)
{
    char key[40];
    const char *line;
    unsigned long long v;

    snprintf(key, sizeof(key), "\n  %s ", name);
    line = strstr(out, key);
    ck_assert_msg(line != NULL, "no %s in:\n%s", name, out);
    ck_assert_int_eq(sscanf(line + strlen(key), "%llu", &v), 1);
    return v;
}

/* Run viewstats once on key k; returns its stdout (exit 0 asserted). */
static char *view(int k)
{
    const char *argv[] = {VIEW, "-k", keystr[k], NULL};
    char *out = NULL, *err = NULL;
    int rc = harness_run(argv, 5000, &out, &err);

    ck_assert_msg(rc == 0, "viewstats exit %d: %s", rc, err);
    free(err);
    return out;
}

/* viewstats until counter name shows want (the server commits as it
 * goes; a closing connection may lag a moment). Returns the output. */
static char *view_until(int k, const char *name, unsigned long long want)
{
    char *out = NULL;

    for (int waited = 0; waited < harness_ms(3000); waited += 20) {
        free(out);
        out = view(k);
        if (shown(out, name) == want)
            break;
        usleep(20000);
    }
    return out;
}

static void assert_one_line(const char *err, const char *needle)
{
    ck_assert_msg(strstr(err, needle) != NULL, "no '%s' in: %s", needle, err);
    ck_assert_msg(strchr(err, '\n') == strrchr(err, '\n') &&
                      err[strlen(err) - 1] == '\n',
                  "not one line: %s", err);
}

/* N messages of S bytes, one at a time: viewstats in another process
 * shows exactly N messages and N*S bytes each way. */
START_TEST(test_shm_viewstats_counts_messages)
{
    enum { N = 50, S = 200 };
    struct hproc *srv = start_v4(0);
    unsigned char msg[S], back[S];
    int fd = harness_connect(srv->port);
    char *out, head[64];

    ck_assert_int_ge(fd, 0);
    for (int i = 0; i < N; i++) {
        harness_fill(msg, S, (uint32_t)i + 1);
        ck_assert_int_eq(harness_write_all(fd, msg, S), 0);
        ck_assert_int_eq(harness_read_all(fd, back, S), 0);
        ck_assert(memcmp(msg, back, S) == 0);
    }
    close(fd);
    out = view_until(0, "conns_closed", 1);
    snprintf(head, sizeof(head), "echosvr_v4 pid %d key %s ", (int)srv->pid,
             keystr[0]);
    ck_assert_msg(strncmp(out, head, strlen(head)) == 0, "%s", out);
    ck_assert_uint_eq(shown(out, "messages"), N);
    ck_assert_uint_eq(shown(out, "bytes_in"), N * S);
    ck_assert_uint_eq(shown(out, "bytes_out"), N * S);
    ck_assert_uint_eq(shown(out, "conns_accepted"), 1);
    ck_assert_uint_eq(shown(out, "conns_closed"), 1);
    ck_assert_uint_eq(shown(out, "conns_open"), 0);
    free(out);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* The reader side of the next test, in its own process: say it is ready
 * on ready_fd, then sample until EOF on stop_fd. Exit 0 if every snapshot
 * was consistent and the counters moved meanwhile; else non-zero with
 * the reason on stderr. */
static _Noreturn void sampler(key_t key, int ready_fd, int stop_fd)
{
    struct stats r;
    struct stats_snapshot s;
    unsigned long long prev_in = 0, changes = 0, samples = 0;
    struct pollfd pfd = {stop_fd, POLLIN, 0};
    int in, out, msgs, acc, closed, open;

    if (stats_open(&r, key) < 0)
        _exit(2);
    if (stats_read(&r, &s) < 0)
        _exit(2);
    in = stats_find(&s, "bytes_in");
    out = stats_find(&s, "bytes_out");
    msgs = stats_find(&s, "messages");
    acc = stats_find(&s, "conns_accepted");
    closed = stats_find(&s, "conns_closed");
    open = stats_find(&s, "conns_open");
    if (in < 0 || out < 0 || msgs < 0 || acc < 0 || closed < 0 || open < 0)
        _exit(3);
    if (write(ready_fd, "r", 1) != 1)
        _exit(3);
    for (;;) {
        if (++samples % 64 == 0 && poll(&pfd, 1, 0) != 0)
            break;
        if (stats_read(&r, &s) < 0)
            _exit(4);
        if (s.value[in] != s.value[out] || s.value[msgs] > s.value[in] ||
            s.value[open] != s.value[acc] - s.value[closed] ||
            s.value[in] < prev_in) {
            fprintf(stderr,
                    "contradiction: in %llu out %llu msgs %llu acc %llu "
                    "closed %llu open %llu (previous in %llu)\n",
                    (unsigned long long)s.value[in],
                    (unsigned long long)s.value[out],
                    (unsigned long long)s.value[msgs],
                    (unsigned long long)s.value[acc],
                    (unsigned long long)s.value[closed],
                    (unsigned long long)s.value[open], prev_in);
            _exit(1);
        }
        changes += s.value[in] != prev_in;
        prev_in = s.value[in];
        /* Enough seen: the load may stop after its current round. */
        if (changes == 5 && write(ready_fd, "c", 1) != 1)
            _exit(3);
    }
    if (changes < 5) {
        fprintf(stderr, "only %llu changes seen in %llu samples\n", changes,
                samples);
        _exit(5);
    }
    _exit(0);
}

/* 50 clients hammer the server while another process samples the
 * segment: no snapshot contradicts itself (bytes in == bytes out, since
 * the server counts both in one commit; open == accepted - closed). The
 * load comes in rounds until the sampler has seen the counters move a few
 * times: on a busy machine one round may pass while it is descheduled. */
START_TEST(test_shm_snapshots_consistent_under_load)
{
    enum { CONNS = 50, LEN = 200 * 1000, MAX_ROUNDS = 20 };
    struct hproc *srv = start_v4(0);
    struct echo_stream st[CONNS];
    unsigned char *data = malloc(LEN);
    int pipefd[2], ready[2], status, rounds = 0;
    struct pollfd enough;
    char c;
    pid_t pid;
    char *out;

    ck_assert_ptr_nonnull(data);
    harness_fill(data, LEN, 11);
    ck_assert_int_eq(pipe(pipefd), 0);
    ck_assert_int_eq(pipe(ready), 0);
    pid = fork();
    if (pid == 0) {
        close(pipefd[1]);
        free(data); /* the parent's: valgrind counts it lost */
        sampler(keys[0], ready[1], pipefd[0]);
    }
    close(pipefd[0]);
    close(ready[1]);
    /* the load starts once the sampler samples */
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    enough = (struct pollfd){ready[0], POLLIN, 0};
    do {
        for (int i = 0; i < CONNS; i++) {
            st[i] = (struct echo_stream){
                .fd = harness_connect(srv->port), .data = data, .len = LEN};
            ck_assert_int_ge(st[i].fd, 0);
        }
        ck_assert_msg(echo_pump(st, CONNS, 30000) == 0, "%s", harness_error());
        for (int i = 0; i < CONNS; i++)
            close(st[i].fd);
        rounds++;
    } while (rounds < MAX_ROUNDS && poll(&enough, 1, 0) == 0);
    close(pipefd[1]); /* EOF: the sampler stops */
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    close(ready[0]);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "sampler failed, status %#x (see its stderr)", status);
    out = view_until(0, "conns_closed", (unsigned long long)rounds * CONNS);
    ck_assert_uint_eq(shown(out, "bytes_in"),
                      (unsigned long long)rounds * CONNS * LEN);
    ck_assert_uint_eq(shown(out, "bytes_out"),
                      (unsigned long long)rounds * CONNS * LEN);
    free(out);
    free(data);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

static bool ipcs_lists(key_t key)
{
    char line[256], hex[16];
    FILE *f = popen("ipcs -m", "r");
    bool found = false;

    ck_assert_ptr_nonnull(f);
    snprintf(hex, sizeof(hex), "0x%08x", (unsigned)key);
    while (fgets(line, sizeof(line), f))
        found |= strstr(line, hex) != NULL;
    pclose(f);
    return found;
}

START_TEST(test_shm_stop_removes_segment)
{
    struct hproc *srv = start_v4(0);

    ck_assert(ipcs_lists(keys[0]));
    ck_assert_int_eq(harness_stop(srv, _i ? SIGINT : SIGTERM, 2000), 0);
    ck_assert(!ipcs_lists(keys[0]));
    ck_assert_int_eq(shmget(keys[0], 0, 0), -1);
    ck_assert_int_eq(errno, ENOENT);
}
END_TEST

/* kill -9 leaves the segment; viewstats says no server runs; a new
 * server on the key starts without anyone running ipcrm. */
START_TEST(test_shm_kill9_then_restart)
{
    struct hproc *srv = start_v4(0);
    const char *argv[] = {VIEW, "-k", keystr[0], NULL};
    char *out = NULL, *err = NULL, head[64];

    ck_assert_int_eq(harness_stop(srv, SIGKILL, 2000), -1);
    ck_assert(ipcs_lists(keys[0]));
    ck_assert_int_eq(harness_run(argv, 5000, NULL, &err), 1);
    assert_one_line(err, "no server running");
    free(err);

    srv = start_v4(0);
    out = view(0);
    snprintf(head, sizeof(head), "echosvr_v4 pid %d ", (int)srv->pid);
    ck_assert_msg(strncmp(out, head, strlen(head)) == 0, "%s", out);
    free(out);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

START_TEST(test_shm_second_server_refused)
{
    struct hproc *srv = start_v4(0);
    const char *argv[] = {SERVER, "-p", "0", "-k", keystr[0], NULL};
    char *err = NULL, *out;

    ck_assert_int_eq(harness_run(argv, 5000, NULL, &err), 1);
    assert_one_line(err, "in use by another running server");
    free(err);
    out = view(0); /* the first one's block is untouched */
    ck_assert_uint_eq(shown(out, "conns_accepted"), 0);
    free(out);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

START_TEST(test_viewstats_no_server)
{
    const char *argv[] = {VIEW, "-k", keystr[0], NULL};
    char *out = NULL, *err = NULL;

    ck_assert_int_eq(harness_run(argv, 5000, &out, &err), 1);
    assert_one_line(err, "no server running");
    ck_assert_str_eq(out, "");
    free(out);
    free(err);
}
END_TEST

/* The permissions of the mapping of key in /proc/pid/maps ("r--s"). */
static void mapping_perms(pid_t pid, key_t key, char perms[5])
{
    char path[64], line[512], name[32];
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    snprintf(name, sizeof(name), "/SYSV%08x", (unsigned)key);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    perms[0] = '\0';
    while (fgets(line, sizeof(line), f))
        if (strstr(line, name))
            sscanf(line, "%*s %4s", perms);
    fclose(f);
    ck_assert_msg(perms[0] != '\0', "%s not mapped by %d", name, (int)pid);
}

/* viewstats maps the segment read-only: the kernel would fault a write
 * (common's stats tests prove such a write faults). The server's own
 * mapping is writable, so the check tells the two apart. */
START_TEST(test_viewstats_attaches_readonly)
{
    struct hproc *srv = start_v4(0), *viewer;
    const char *argv[] = {VIEW, "-k", keystr[0], "-w", NULL};
    char perms[5];

    viewer = harness_start(argv);
    ck_assert_ptr_nonnull(viewer);
    ck_assert_int_eq(harness_wait_output(viewer, "idle_closed", 5000), 0);
    mapping_perms(viewer->pid, keys[0], perms);
    ck_assert_str_eq(perms, "r--s");
    mapping_perms(srv->pid, keys[0], perms);
    ck_assert_str_eq(perms, "rw-s");
    ck_assert_int_eq(harness_stop(viewer, SIGINT, 3000), 0);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* Two servers, one viewstats: -k twice, -w -n 2. */
START_TEST(test_viewstats_two_keys_watch)
{
    struct hproc *a = start_v4(0), *b = start_v4(1);
    const char *argv[] = {VIEW, "-k", keystr[0], "-k", keystr[1],
                          "-w", "-n", "2",       NULL};
    char *out = NULL, *err = NULL, pid_a[32], pid_b[32], *p;
    int seen_a = 0, seen_b = 0;

    ck_assert_int_eq(harness_run(argv, 10000, &out, &err), 0);
    snprintf(pid_a, sizeof(pid_a), "echosvr_v4 pid %d ", (int)a->pid);
    snprintf(pid_b, sizeof(pid_b), "echosvr_v4 pid %d ", (int)b->pid);
    for (p = out; (p = strstr(p, pid_a)); p++)
        seen_a++;
    for (p = out; (p = strstr(p, pid_b)); p++)
        seen_b++;
    ck_assert_msg(seen_a == 2 && seen_b == 2, "%s", out);
    ck_assert_msg(strstr(out, "rates since the last print"), "%s", out);
    free(out);
    free(err);
    fixture_stop_clean(a, STOP_MS);
    fixture_stop_clean(b, STOP_MS);
}
END_TEST

/* One -m line from client_v4, parsed. */
struct result {
    unsigned long long messages;
    double rate, p50, p99, p999, max;
};

static void parse_result(const char *out, struct result *r)
{
    int n = sscanf(out,
                   "conns=%*d size=%*u seconds=%*f messages=%llu "
                   "msgs_per_s=%lf mb_per_s=%*f p50_us=%lf p99_us=%lf "
                   "p999_us=%lf max_us=%lf",
                   &r->messages, &r->rate, &r->p50, &r->p99, &r->p999, &r->max);

    ck_assert_msg(n == 6, "cannot parse: %s", out);
}

START_TEST(test_client_v4_load)
{
    struct hproc *srv = start_v4(0);
    char port[16], *out = NULL, *err = NULL, *view_out;
    const char *argv[] = {CLIENT, "-m", port, "100", "20", "1", NULL};
    struct result r;

    snprintf(port, sizeof(port), "%u", srv->port);
    ck_assert_msg(harness_run(argv, 10000, &out, &err) == 0, "%s", err);
    parse_result(out, &r);
    ck_assert_uint_gt(r.messages, 20);
    ck_assert(r.p50 > 0 && r.p50 <= r.p99 && r.p99 <= r.p999 &&
              r.p999 <= r.max);
    ck_assert_msg(strchr(out, '\n') == out + strlen(out) - 1, "%s", out);
    view_out = view_until(0, "conns_closed", 20);
    /* the server saw at least what the client had echoed */
    ck_assert_uint_ge(shown(view_out, "bytes_in"), r.messages * 100);
    ck_assert_uint_eq(shown(view_out, "conns_accepted"), 20);
    free(view_out);
    free(out);
    free(err);

    argv[1] = port; /* human-readable: same run without -m */
    argv[2] = "4k";
    argv[3] = "3";
    argv[4] = "1";
    argv[5] = NULL;
    ck_assert_int_eq(harness_run(argv, 10000, &out, NULL), 0);
    ck_assert_msg(strstr(out, "3 connection(s), 4096-byte messages") &&
                      strstr(out, "p99.9"),
                  "%s", out);
    free(out);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* A server that echoes the first 50 messages of 100 bytes faithfully,
 * then changes a byte of the 51st (case 0) or hangs up (case 1). */
START_TEST(test_client_v4_detects_bad_echo)
{
    const char *srv_argv[] = {"tests/badecho",  "-s", "100",
                              _i ? "-x" : "-c", "50", NULL};
    struct hproc *srv = fixture_start(srv_argv);
    char port[16], *err = NULL;
    const char *argv[] = {CLIENT, port, "100", "1", "5", NULL};

    snprintf(port, sizeof(port), "%u", srv->port);
    ck_assert_int_eq(harness_run(argv, 8000, NULL, &err), 1);
    assert_one_line(err, _i ? "closed by the server" : "echo differs at byte");
    free(err);
}
END_TEST

START_TEST(test_client_v4_no_server)
{
    struct hproc *srv = start_v4(0);
    char port[16], *err = NULL;
    const char *argv[] = {CLIENT, port, "64", "1", "1", NULL};

    snprintf(port, sizeof(port), "%u", srv->port);
    fixture_stop_clean(srv, STOP_MS);
    ck_assert_int_eq(harness_run(argv, 5000, NULL, &err), 1);
    assert_one_line(err, "connection 0 to 127.0.0.1");
    free(err);
}
END_TEST

static const char *const bad_args[][6] = {
    {SERVER, "-k", "0"},
    {SERVER, "-k", "key"},
    {SERVER, "-i", "1"},
    {SERVER, "-c", "-5"},
    {SERVER, "-b", "1x"},
    {VIEW, "-n", "2"},
    {VIEW, "-k"},
    {VIEW, "extra"},
    {CLIENT, "4680", "64", "1"},
    {CLIENT, "4680", "0", "1", "1"},
    {CLIENT, "4680", "64", "0", "1"},
    {CLIENT, "0", "64", "1", "1"},
    {CLIENT, "4680", "64", "1", "0"},
    {CLIENT, "4680", "64M", "100", "1"},
};

START_TEST(test_shm_bad_options)
{
    const char *argv[7] = {0};

    for (int i = 0; i < 6 && bad_args[_i][i]; i++)
        argv[i] = bad_args[_i][i];
    fixture_check_bad_args(argv, NULL);
}
END_TEST

START_TEST(test_shm_help)
{
    static const char *const progs[] = {SERVER, VIEW, CLIENT};

    fixture_check_help(progs[_i], _i == 2 ? "-m" : "-k");
}
END_TEST

/* Clients that vanish, with a reset (_i 0) or a close (_i 1), half a
 * message sent: the others are echoed, and every one is counted
 * accepted and closed. */
START_TEST(test_shm_vanishing_clients)
{
    struct hproc *srv = start_v4(0);

    fixture_vanishing_clients(srv, 50, _i == 0);
    /* 50, the good client, a new one */
    ck_assert_uint_eq(fixture_counter_until(keys[0], "conns_closed", 52, 3000),
                      52);
    ck_assert_uint_eq(fixture_counter(keys[0], "conns_accepted"), 52);
    ck_assert_uint_eq(fixture_counter(keys[0], "conns_open"), 0);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* Every byte value, no newline, an 8 MiB "line". */
START_TEST(test_shm_binary_sizes)
{
    struct hproc *srv = start_v4(0);

    ck_assert_msg(echo_check_sizes(srv->port, 20000) == 0, "%s",
                  harness_error());
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* -b 512k, 16 clients sending up to 100 MiB each and never reading
 * (fixture_byte_limit): bytes_held stays within the bound,
 * limit_pauses counts them, and all is given back when they go. */
START_TEST(test_shm_byte_limit)
{
    struct hproc *srv = start_v4_with("-b", "512k");
    int fds[FIXTURE_HOGS];

    fixture_byte_limit(srv, srv->pid, fds);
    /* past the bound by one read (4 KiB) per connection at most */
    fixture_byte_limit_counted(keys[0], 4096, fds);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* -c 5: a sixth client is closed at once and counted. */
START_TEST(test_shm_conn_limit)
{
    struct hproc *srv = start_v4_with("-c", "5");

    fixture_conn_limit(srv, 5);
    ck_assert_uint_ge(fixture_counter(keys[0], "conns_refused"), 1);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

/* ulimit -n 24: the EMFILE back-off of ch3-echo holds. */
START_TEST(test_shm_descriptor_limit)
{
    struct hproc *srv;

    fixture_limit_fds(24);
    srv = start_v4(0);
    fixture_restore_fds();
    fixture_fd_limit(srv, srv->pid, 30);
    fixture_stop_clean(srv, STOP_MS);
}
END_TEST

Suite *shmstats_suite(void)
{
    Suite *s = suite_create("ch4-shm-stats");
    TCase *tc;

    tc = tcase_create("stats");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_shm_viewstats_counts_messages);
    tcase_add_test(tc, test_shm_snapshots_consistent_under_load);
    suite_add_tcase(s, tc);

    tc = tcase_create("faults");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_shm_vanishing_clients, 0, 2);
    tcase_add_test(tc, test_shm_binary_sizes);
    tcase_add_test(tc, test_shm_byte_limit);
    tcase_add_test(tc, test_shm_conn_limit);
    /* valgrind gives the programs it runs a descriptor limit of its own */
    if (!getenv("SVRTUT_MEMCHECK"))
        tcase_add_test(tc, test_shm_descriptor_limit);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 20);
    tcase_add_loop_test(tc, test_shm_stop_removes_segment, 0, 2);
    tcase_add_test(tc, test_shm_kill9_then_restart);
    tcase_add_test(tc, test_shm_second_server_refused);
    tcase_add_loop_test(tc, test_shm_bad_options, 0,
                        sizeof(bad_args) / sizeof(bad_args[0]));
    tcase_add_loop_test(tc, test_shm_help, 0, 3);
    suite_add_tcase(s, tc);

    tc = tcase_create("viewstats");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_viewstats_no_server);
    tcase_add_test(tc, test_viewstats_attaches_readonly);
    tcase_add_test(tc, test_viewstats_two_keys_watch);
    suite_add_tcase(s, tc);

    tc = tcase_create("client");
    tcase_add_checked_fixture(tc, setup, harness_cleanup);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_client_v4_load);
    tcase_add_loop_test(tc, test_client_v4_detects_bad_echo, 0, 2);
    tcase_add_test(tc, test_client_v4_no_server);
    suite_add_tcase(s, tc);
    return s;
}

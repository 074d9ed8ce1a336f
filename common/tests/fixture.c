/* fixture.c -- Check-aware helpers shared by the suites. */
#include "fixture.h"

#include "now.h"
#include "srvkeys.h"
#include "stats.h"

#include <check.h>

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

const char *fixture_format(const char *fmt, ...)
{
    static char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return msg;
}

/* The state of p: reaped by now, or given 50 ms to finish dying (a
 * server that crashed a moment ago is still a zombie to be reaped). */
static void describe_state(struct hproc *p, char *buf, size_t size)
{
    int code = harness_wait(p, 50);

    if (code >= 0)
        snprintf(buf, size, "exited with status %d", code);
    else if (p->reaped && WIFSIGNALED(p->status))
        snprintf(buf, size, "was killed by signal %d (%s)", WTERMSIG(p->status),
                 strsignal(WTERMSIG(p->status)));
    else
        snprintf(buf, size, "still running");
}

/* Append the last FIXTURE_STDERR_LINES lines of text to out, each after
 * "\nstderr: ". */
static void append_tail(char *out, size_t size, const char *text)
{
    const char *end = text + strlen(text), *start;
    int lines = 0;

    while (end > text && end[-1] == '\n')
        end--;
    for (start = end; start > text; start--)
        if (start[-1] == '\n' && ++lines == FIXTURE_STDERR_LINES)
            break;
    while (start < end) {
        const char *nl = memchr(start, '\n', (size_t)(end - start));
        const char *stop = nl ? nl : end;
        size_t used = strlen(out);

        snprintf(out + used, size - used, "\nstderr: %.*s", (int)(stop - start),
                 start);
        start = stop + 1;
    }
}

const char *fixture_describe(struct hproc *p)
{
    static char buf[2048];
    char state[128];
    char *err;

    if (!p)
        return "";
    describe_state(p, state, sizeof(state));
    snprintf(buf, sizeof(buf), "\nserver: %s", state);
    err = harness_stderr(p);
    if (err[0] == '\0')
        snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
                 "\nstderr: (nothing)");
    else
        append_tail(buf, sizeof(buf), err);
    free(err);
    return buf;
}

void fixture_fail_with(struct hproc *p, const char *msg)
{
    ck_abort_msg("%s%s", msg, fixture_describe(p));
}

/* The port of "listening on ADDR:PORT" (the last colon: [::1]:PORT). */
static unsigned listening_port(struct hproc *p)
{
    char *out = harness_stdout(p), *line = strstr(out, "listening on ");
    char *colon = NULL;
    unsigned port = 0;

    if (line) {
        line[strcspn(line, "\n")] = '\0';
        colon = strrchr(line, ':');
    }
    if (!colon || sscanf(colon + 1, "%u", &port) != 1 || port > 65535)
        port = 0;
    free(out);
    return port;
}

struct hproc *fixture_start(const char *const argv[])
{
    struct hproc *p = harness_start(argv);

    ck_assert_msg(p != NULL, "cannot start %s: %s", argv[0], harness_error());
    fixture_assert(p, harness_wait_output(p, "listening on ", 5000) == 0,
                   "%s did not start: %s", argv[0], harness_error());
    p->port = (uint16_t)listening_port(p);
    fixture_assert(p, p->port != 0, "%s printed no port in its listening line",
                   argv[0]);
    return p;
}

void fixture_stop_clean(struct hproc *p, int timeout_ms)
{
    char msg[256];
    int rc = harness_stop(p, SIGTERM, timeout_ms);

    if (rc == 0)
        return;
    snprintf(msg, sizeof(msg), "no clean exit on SIGTERM (%s)",
             rc < 0 ? harness_error() : "non-zero status");
    fixture_fail_with(p, msg);
}

void fixture_check_help(const char *prog, const char *want)
{
    const char *argv[] = {prog, "-h", NULL};
    char *out = NULL;

    ck_assert_msg(harness_run(argv, 3000, &out, NULL) == 0,
                  "%s -h did not exit 0", prog);
    ck_assert_msg(strstr(out, "usage:") && strstr(out, want),
                  "%s -h: no usage with %s:\n%s", prog, want, out);
    free(out);
}

void fixture_check_bad_args(const char *const argv[], const char *want)
{
    const char *slash = strrchr(argv[0], '/');
    const char *name = slash ? slash + 1 : argv[0];
    char *out = NULL, *err = NULL, *nl;
    int rc = harness_run(argv, 3000, &out, &err);
    size_t len = strlen(name);

    ck_assert_msg(rc == 2, "%s %s: exit %d, not 2; stderr: %s", argv[0],
                  argv[1] ? argv[1] : "", rc, err);
    /* One line "prog: what is wrong", then the usage. */
    nl = strchr(err, '\n');
    ck_assert_msg(strncmp(err, name, len) == 0 && err[len] == ':' && nl &&
                      strncmp(nl + 1, "usage:", 6) == 0,
                  "%s %s: not one line naming the program, then the usage: %s",
                  argv[0], argv[1] ? argv[1] : "", err);
    *nl = '\0';
    ck_assert_msg(!want || strstr(err, want), "%s %s: '%s' does not say '%s'",
                  argv[0], argv[1] ? argv[1] : "", err, want);
    ck_assert_msg(out[0] == '\0', "%s: stdout on bad arguments: %s", argv[0],
                  out);
    free(out);
    free(err);
}

/* A process publishes its block a moment after it starts (md after its
 * launcher said "listening on", on a slow sanitized build): wait for it
 * up to 5 s before calling it missing. */
static void read_block(key_t key, struct stats_snapshot *snap)
{
    struct stats st;
    int rc;

    for (int waited = 0;
         (rc = stats_open(&st, key)) < 0 &&
         (errno == ENOENT || errno == EAGAIN) && waited < harness_ms(5000);
         waited += 10)
        usleep(10000);
    ck_assert_msg(rc == 0, "statistics %#x: %s", (unsigned)key,
                  strerror(errno));
    rc = stats_read(&st, snap);
    stats_close(&st);
    ck_assert_msg(rc == 0, "statistics %#x: no stable copy", (unsigned)key);
}

uint64_t fixture_counter(key_t key, const char *name)
{
    struct stats_snapshot snap;
    int i;

    read_block(key, &snap);
    i = stats_find(&snap, name);
    ck_assert_msg(i >= 0, "statistics %#x: no counter %s", (unsigned)key, name);
    return snap.value[i];
}

uint64_t fixture_counter_until(key_t key, const char *name, uint64_t want,
                               int timeout_ms)
{
    uint64_t v = fixture_counter(key, name);

    for (int waited = 0; v != want && waited < harness_ms(timeout_ms);
         waited += 10) {
        usleep(10000);
        v = fixture_counter(key, name);
    }
    return v;
}

pid_t fixture_writer_pid(key_t key)
{
    struct stats_snapshot snap;

    read_block(key, &snap);
    return snap.pid;
}

int fixture_wait_stderr(struct hproc *p, const char *needle, int timeout_ms)
{
    for (int waited = 0; waited < harness_ms(timeout_ms); waited += 20) {
        char *err = harness_stderr(p);
        bool found = err && strstr(err, needle);

        free(err);
        if (found)
            return 0;
        usleep(20000);
    }
    return -1;
}

bool fixture_skip_under_valgrind(const char *what)
{
    if (!getenv("SVRTUT_MEMCHECK"))
        return false;
    fprintf(stderr, "SKIPPED under valgrind: %s\n", what);
    return true;
}

int fixture_foreign_segment(key_t key, size_t size)
{
    int id = shmget(key, size, IPC_CREAT | IPC_EXCL | 0600);
    void *addr;

    ck_assert_msg(id >= 0, "segment %#x: %s", (unsigned)key, strerror(errno));
    addr = shmat(id, NULL, 0);
    ck_assert_msg(addr != (void *)-1, "shmat: %s", strerror(errno));
    memset(addr, 0xa5, size);
    shmdt(addr);
    return id;
}

bool fixture_segment_exists(key_t key) { return shmget(key, 0, 0) >= 0; }

void *fixture_attach_raw(key_t key)
{
    int id = shmget(key, 0, 0);
    void *addr;

    ck_assert_msg(id >= 0, "no segment %#x: %s", (unsigned)key,
                  strerror(errno));
    addr = shmat(id, NULL, 0);
    ck_assert_msg(addr != (void *)-1, "shmat %#x: %s", (unsigned)key,
                  strerror(errno));
    return addr;
}

void fixture_srv_init(struct fixture_srv *s)
{
    s->base = harness_key_base();
    snprintf(s->key, sizeof(s->key), "%#x", (unsigned)s->base);
    snprintf(s->dir, sizeof(s->dir), "%s/fifos", harness_tmpdir());
}

struct hproc *fixture_srv_start(const struct fixture_srv *s, const char *prog,
                                const char *const extra[])
{
    const char *argv[16] = {prog, "-p", "0", "-k", s->key, "-d", s->dir};
    int n = 7;

    for (int i = 0; extra && extra[i] && n < 15; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    return fixture_start(argv);
}

/* The pid in key's statistics block once it is readable and not old
 * (0: any), waiting up to 5 s; 0 when none came. A block can be
 * unreadable for a while: absent between an md's death and its
 * successor's start, or mid-update when its writer is descheduled or
 * killed there (for long under valgrind on a loaded machine).
 * Check-free: the killer process runs it too. */
static pid_t md_pid_wait(key_t key, pid_t old)
{
    for (int waited = 0; waited < harness_ms(5000); waited += 10) {
        struct stats st;
        struct stats_snapshot snap;
        pid_t pid = 0;

        if (stats_open(&st, key) == 0) {
            if (stats_read(&st, &snap) == 0 && snap.pid != old)
                pid = snap.pid;
            stats_close(&st);
        }
        if (pid > 0)
            return pid;
        usleep(10000);
    }
    return 0;
}

/* Find md (the writer of key), kill it with SIGKILL and wait for the
 * launcher's new md: NULL, or why it could not. Check-free, like
 * md_pid_wait(). */
static const char *kill_md(key_t key)
{
    static char why[128];
    pid_t md = md_pid_wait(key, 0);

    if (md == 0)
        return "no readable md statistics";
    if (kill(md, SIGKILL) < 0) {
        snprintf(why, sizeof(why), "kill md %d: %s", (int)md, strerror(errno));
        return why;
    }
    if (md_pid_wait(key, md) == 0) {
        snprintf(why, sizeof(why), "no new md within %d ms of killing md %d",
                 harness_ms(5000), (int)md);
        return why;
    }
    return NULL;
}

void fixture_kill_md(const struct fixture_srv *s)
{
    const char *why = kill_md(srvkeys_md_stats(s->base));

    ck_assert_msg(why == NULL, "%s", why);
}

/* The killer process: exit 0 after kills kills, 1 (with the reason on
 * stderr) if md could not be found or did not come back. */
static void md_killer(key_t key, int kills, int max_pause_ms, uint32_t seed)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (int k = 0; k < kills; k++) {
        unsigned pause_ms = harness_rand(&seed) % (unsigned)(max_pause_ms + 1);
        const char *why;

        usleep(pause_ms * 1000);
        if ((why = kill_md(key)) != NULL) {
            fprintf(stderr, "md killer, kill %d: %s\n", k + 1, why);
            _exit(1);
        }
    }
    _exit(0);
}

pid_t fixture_md_killer(const struct fixture_srv *s, int kills,
                        int max_pause_ms, uint32_t seed)
{
    pid_t pid;

    fflush(NULL);
    pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0)
        md_killer(srvkeys_md_stats(s->base), kills, max_pause_ms, seed);
    return pid;
}

bool fixture_md_killer_done(pid_t killer)
{
    int status;
    pid_t pid = waitpid(killer, &status, WNOHANG);

    if (pid == 0)
        return false;
    ck_assert_msg(pid == killer && WIFEXITED(status) &&
                      WEXITSTATUS(status) == 0,
                  "the md killer failed (its reason is on stderr above)");
    return true;
}

/* Pump st until every stream is echoed, or for at most ms when more is
 * wanted: then a stream that is done starts again from its first byte,
 * so that traffic never stops. Fails the test on any error; seed names
 * the run. */
static void pump_streams(struct echo_stream *st, int n, int ms, bool more,
                         uint32_t seed)
{
    int rc = echo_pump(st, (size_t)n, ms);

    ck_assert_msg(rc == 0 ||
                      (more && strncmp(harness_error(), "timeout", 7) == 0),
                  "%s (seed %u: SVRTUT_SEED=%u replays it)", harness_error(),
                  (unsigned)seed, (unsigned)seed);
    for (int i = 0; more && i < n; i++)
        if (st[i].recvd == st[i].len && !st[i].closed)
            st[i].sent = st[i].recvd = 0;
}

/* conns connections to port, each to stream len bytes drawn from *rnd,
 * every one different (a reply delivered to the wrong connection shows);
 * free with close_streams(). */
static struct echo_stream *open_streams(uint16_t port, int conns, size_t len,
                                        uint32_t *rnd)
{
    unsigned char *data = malloc(len + (size_t)conns);
    struct echo_stream *st = calloc((size_t)conns, sizeof(*st));

    ck_assert_ptr_nonnull(data);
    ck_assert_ptr_nonnull(st);
    harness_fill(data, len + (size_t)conns, harness_rand(rnd));
    for (int i = 0; i < conns; i++) {
        st[i] = (struct echo_stream){
            .fd = harness_connect(port), .data = data + i, .len = len};
        ck_assert_msg(st[i].fd >= 0, "connect: %s", strerror(errno));
    }
    return st;
}

static void close_streams(struct echo_stream *st, int conns)
{
    for (int i = 0; i < conns; i++)
        close(st[i].fd);
    free((void *)(uintptr_t)st[0].data);
    free(st);
}

void fixture_stream_through_md_kills(const struct fixture_srv *s, uint16_t port,
                                     int conns, size_t len, int kills)
{
    uint32_t seed = harness_seed("md killed at random moments"), rnd = seed;
    struct echo_stream *st = open_streams(port, conns, len, &rnd);
    pid_t killer = fixture_md_killer(s, kills, 100, harness_rand(&rnd));
    bool done;

    /* Whatever the kills take, the clients stream on; then every byte of
     * the last round must come back. */
    do {
        done = fixture_md_killer_done(killer);
        pump_streams(st, conns, done ? 60000 : 100, !done, seed);
    } while (!done);
    close_streams(st, conns);
}

void fixture_stream_through_io_kill(const struct fixture_srv *s,
                                    struct hproc *srv, unsigned n, int conns,
                                    size_t len)
{
    uint32_t seed = harness_seed("io_conn killed at a random moment");
    uint32_t rnd = seed;
    struct echo_stream *st = open_streams(srv->port, conns, len, &rnd);
    unsigned victim = harness_rand(&rnd) % n;
    pid_t io = fixture_writer_pid(srvkeys_io_stats(s->base, victim));
    int closed = 0;

    for (int i = 0; i < conns; i++)
        st[i].may_close = true;
    pump_streams(st, conns, (int)(harness_rand(&rnd) % 300), true, seed);
    ck_assert_int_eq(kill(io, SIGKILL), 0);
    pump_streams(st, conns, 60000, false, seed);
    for (int i = 0; i < conns; i++)
        closed += st[i].closed;
    fixture_assert(srv, closed > 0,
                   "io_conn %u killed, yet all %d connections were echoed "
                   "(seed %u)",
                   victim, conns, (unsigned)seed);
    if (harness_wait(srv, 10000) != 1)
        fixture_fail_with(srv, "the launcher did not exit 1 when io_conn died");
    fixture_assert(srv,
                   fixture_wait_stderr(srv, "killed by signal 9", 1000) == 0 &&
                       fixture_wait_stderr(srv, "stopping the server", 1000) ==
                           0,
                   "the launcher did not say io_conn was killed");
    close_streams(st, conns);
}

void fixture_srv_assert_gone(const struct fixture_srv *s, const pid_t *kids,
                             int nkids)
{
    DIR *d;
    struct dirent *e;

    for (int i = 0; i < nkids; i++)
        ck_assert_msg(kill(kids[i], 0) < 0 && errno == ESRCH,
                      "child %d still alive", (int)kids[i]);
    /* every key the runner gave the server, whatever its io_conn count */
    for (int k = 0; k < HARNESS_BASE_KEYS; k++)
        ck_assert_msg(!fixture_segment_exists(s->base + k),
                      "segment %#x left behind", (unsigned)(s->base + k));
    d = opendir(s->dir);
    if (!d)
        return; /* never made, or removed: nothing in it */
    while ((e = readdir(d)) != NULL)
        ck_assert_msg(e->d_name[0] == '.', "%s/%s left behind", s->dir,
                      e->d_name);
    closedir(d);
}

void fixture_srv_pids(const struct fixture_srv *s, unsigned n, pid_t *pids)
{
    pids[0] = fixture_writer_pid(srvkeys_md_stats(s->base));
    for (unsigned i = 0; i < n; i++)
        pids[1 + i] = fixture_writer_pid(srvkeys_io_stats(s->base, i));
}

void fixture_foreign_user_refused(const char *what, int want_segs,
                                  int want_fifos)
{
    int nsegs = 0, nfifos = 0, rc;

    rc = harness_foreign_user_refused(what, &nsegs, &nfifos);
    ck_assert_msg(rc >= 0, "%s: %s", what, harness_error());
    if (rc == 1)
        return; /* skipped, and said so */
    ck_assert_msg(nsegs == want_segs && nfifos == want_fifos,
                  "%s: tried %d segments and %d FIFOs, not %d and %d", what,
                  nsegs, nfifos, want_segs, want_fifos);
}

void fixture_reset_close(int fd)
{
    struct linger lg = {1, 0};

    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

/* One round trip of len bytes on fd: 0, or -1 with harness_error(). */
static int round_trip(int fd, size_t len, int timeout_ms)
{
    unsigned char *data = malloc(len);
    struct echo_stream s = {.fd = fd, .data = data, .len = len};
    int rc;

    ck_assert_ptr_nonnull(data);
    harness_fill(data, len, (uint32_t)len);
    rc = echo_pump(&s, 1, timeout_ms);
    free(data);
    return rc;
}

static int connect_to(struct hproc *srv)
{
    int fd = harness_connect(srv->port);

    fixture_assert(srv, fd >= 0, "cannot connect to port %u: %s", srv->port,
                   strerror(errno));
    return fd;
}

void fixture_echo_ok(struct hproc *srv, size_t len)
{
    int fd = connect_to(srv);

    fixture_assert(srv, round_trip(fd, len, 5000) == 0,
                   "a new client's %zu bytes: %s", len, harness_error());
    close(fd);
}

void fixture_vanishing_clients(struct hproc *srv, int n, bool reset)
{
    enum { MSG = 64 * 1024 };
    unsigned char *half = calloc(1, MSG / 2);
    int good = connect_to(srv);

    ck_assert_ptr_nonnull(half);
    for (int i = 0; i < n; i++) {
        int fd = connect_to(srv);

        if (i % 2 == 0)
            fixture_assert(srv, harness_write_all(fd, half, MSG / 2) == 0,
                           "client %d: cannot send: %s", i, strerror(errno));
        if (reset)
            fixture_reset_close(fd);
        else
            close(fd);
        if (i % 10 == 9)
            fixture_assert(srv, round_trip(good, 1000, 5000) == 0,
                           "good client after %d vanished: %s", i + 1,
                           harness_error());
    }
    fixture_assert(srv, round_trip(good, MSG, 5000) == 0,
                   "good client after %d vanished: %s", n, harness_error());
    close(good);
    free(half);
    fixture_echo_ok(srv, MSG);
}

size_t fixture_flood(struct hproc *srv, int fds[], int conns, size_t max)
{
    enum { CHUNK = 64 * 1024 };
    unsigned char *chunk = malloc(CHUNK);
    size_t *sent = calloc((size_t)conns, sizeof(*sent)), total = 0;
    int quiet_ms = 0;

    ck_assert_ptr_nonnull(chunk);
    ck_assert_ptr_nonnull(sent);
    harness_fill(chunk, CHUNK, 7);
    for (int i = 0; i < conns; i++)
        fds[i] = connect_to(srv);
    while (quiet_ms < harness_ms(300)) {
        bool wrote = false;

        for (int i = 0; i < conns; i++) {
            ssize_t n = send(fds[i], chunk, CHUNK, MSG_DONTWAIT | MSG_NOSIGNAL);

            fixture_assert(srv, n > 0 || errno == EAGAIN,
                           "flooding client %d: %s", i, strerror(errno));
            if (n > 0) {
                sent[i] += (size_t)n;
                total += (size_t)n;
                wrote = true;
                fixture_assert(srv, sent[i] < max,
                               "the server took %zu bytes from a client that "
                               "never reads: no backpressure",
                               sent[i]);
            }
        }
        if (wrote) {
            quiet_ms = 0;
        } else {
            usleep(10000);
            quiet_ms += 10;
        }
    }
    free(sent);
    free(chunk);
    return total;
}

long fixture_anon_kib(pid_t pid)
{
    long kib = harness_status_kib(pid, "RssAnon");

    ck_assert_msg(kib >= 0, "no RssAnon in /proc/%d/status", (int)pid);
    return kib;
}

void fixture_byte_limit(struct hproc *srv, pid_t holder, int fds[])
{
#ifdef SVRTUT_DEBUG
    const bool rss_checked = false;
#else
    const bool rss_checked = true;
#endif
    long before = fixture_anon_kib(holder), grew;

    fixture_flood(srv, fds, FIXTURE_HOGS, 100u << 20);
    grew = fixture_anon_kib(holder) - before;
    fixture_assert(srv, !rss_checked || grew < 2048,
                   "%d clients that never read: the server grew %ld KiB "
                   "under -b 512k",
                   FIXTURE_HOGS, grew);
    fixture_echo_ok(srv, 256 * 1024);
}

void fixture_byte_limit_counted(key_t key, size_t slack, int fds[])
{
    uint64_t held = fixture_counter(key, "bytes_held");

    ck_assert_msg(held <= 512 * 1024 + FIXTURE_HOGS * slack,
                  "bytes_held %llu under -b 512k and %d clients",
                  (unsigned long long)held, FIXTURE_HOGS);
    ck_assert_uint_ge(fixture_counter(key, "limit_pauses"), FIXTURE_HOGS / 2);
    for (int i = 0; i < FIXTURE_HOGS; i++)
        fixture_reset_close(fds[i]);
    held = fixture_counter_until(key, "bytes_held", 0, 3000);
    ck_assert_msg(held == 0, "bytes_held %llu once every client left",
                  (unsigned long long)held);
}

/* fd is closed by the server within timeout_ms: EOF or a reset. */
static bool closed_by_server(int fd, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char c;

    if (poll(&pfd, 1, harness_ms(timeout_ms)) != 1)
        return false;
    return recv(fd, &c, 1, 0) <= 0;
}

void fixture_conn_limit(struct hproc *srv, int max)
{
    int *fds = calloc((size_t)max, sizeof(*fds)), extra;
    bool served = false;

    ck_assert_ptr_nonnull(fds);
    for (int i = 0; i < max; i++) {
        fds[i] = connect_to(srv);
        fixture_assert(srv, round_trip(fds[i], 100, 5000) == 0,
                       "client %d of %d: %s", i + 1, max, harness_error());
    }
    extra = connect_to(srv);
    fixture_assert(srv, closed_by_server(extra, 1000),
                   "client %d of a server of -c %d was not closed at once",
                   max + 1, max);
    close(extra);
    for (int i = 0; i < max; i++)
        fixture_assert(srv, round_trip(fds[i], 100, 5000) == 0,
                       "client %d after one was refused: %s", i + 1,
                       harness_error());
    close(fds[0]);
    /* the server sees that close a moment later: try for a second */
    for (int waited = 0; !served && waited < harness_ms(1000); waited += 20) {
        int fd = connect_to(srv);

        served = round_trip(fd, 100, 1000) == 0;
        close(fd);
        if (!served)
            usleep(20000);
    }
    fixture_assert(srv, served, "no client served after one of %d left", max);
    for (int i = 1; i < max; i++)
        close(fds[i]);
    free(fds);
}

void fixture_idle_timeout(struct hproc *srv)
{
    int silent = connect_to(srv), busy = connect_to(srv);
    int64_t start = now_mono_ns(), closed_ns = 0;

    fixture_assert(srv, round_trip(busy, 10, 5000) == 0, "busy client: %s",
                   harness_error());
    for (int i = 0; i < 10; i++) {
        usleep(250000);
        fixture_assert(srv, round_trip(busy, 10, 1000) == 0,
                       "a client sending every 250 ms, after %d ms: %s",
                       (i + 1) * 250, harness_error());
        if (!closed_ns && closed_by_server(silent, 0))
            closed_ns = now_mono_ns() - start;
    }
    fixture_assert(srv, closed_ns != 0,
                   "a silent client still connected after 2.5 s of -t 1");
    fixture_assert(srv, closed_ns > 900 * 1000000LL,
                   "a silent client closed after %lld ms of -t 1",
                   (long long)(closed_ns / 1000000));
    close(silent);
    close(busy);
}

static struct rlimit saved_nofile;

void fixture_limit_fds(int nofile)
{
    struct rlimit lim = {(rlim_t)nofile, (rlim_t)nofile};

    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved_nofile), 0);
    /* the soft limit only: a hard limit lowered could not be raised back */
    lim.rlim_max = saved_nofile.rlim_max;
    ck_assert_msg(setrlimit(RLIMIT_NOFILE, &lim) == 0, "setrlimit: %s",
                  strerror(errno));
}

void fixture_restore_fds(void)
{
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved_nofile), 0);
}

void fixture_fd_limit(struct hproc *srv, pid_t acceptor, int conns)
{
    struct echo_stream *st = calloc((size_t)conns, sizeof(*st));
    unsigned char msg[100];
    int good = connect_to(srv), nserved = 0, nwaiting = 0;
    long cpu;

    ck_assert_ptr_nonnull(st);
    harness_fill(msg, sizeof(msg), 13);
    fixture_assert(srv, round_trip(good, 100, 5000) == 0, "good client: %s",
                   harness_error());
    for (int i = 0; i < conns; i++) /* the listen backlog takes them all */
        st[i] = (struct echo_stream){
            .fd = connect_to(srv), .data = msg, .len = sizeof(msg)};
    echo_pump(st, (size_t)conns, 1000); /* those accepted are echoed */
    for (int i = 0; i < conns; i++)
        nserved += st[i].recvd == sizeof(msg);
    fixture_assert(srv, nserved < conns,
                   "all %d clients served: the descriptor limit did not bite",
                   conns);
    fixture_assert(srv, fixture_wait_stderr(srv, "pausing accepts", 2000) == 0,
                   "no EMFILE back-off logged");
    cpu = harness_cpu_ms(acceptor);
    fixture_assert(srv, round_trip(good, 64 * 1024, 5000) == 0,
                   "good client at the descriptor limit: %s", harness_error());
    usleep((useconds_t)harness_ms(500) * 1000);
    cpu = harness_cpu_ms(acceptor) - cpu;
    fixture_assert(srv, cpu < harness_ms(500) * 3 / 10,
                   "%ld ms of CPU in 500 ms at the descriptor limit: spinning",
                   cpu);
    /* the served leave; those that waited are accepted after a back-off */
    for (int i = 0; i < conns; i++) {
        if (st[i].recvd == sizeof(msg)) {
            close(st[i].fd);
            st[i].fd = -1;
        } else {
            st[nwaiting++] = st[i];
        }
    }
    for (int i = 0; i < nwaiting; i++) { /* each leaving makes room */
        fixture_assert(srv, echo_pump(&st[i], 1, 5000) == 0,
                       "client %d of the %d that waited, once descriptors "
                       "were free: %s",
                       i + 1, nwaiting, harness_error());
        close(st[i].fd);
    }
    fixture_assert(srv, round_trip(good, 100, 5000) == 0, "good client: %s",
                   harness_error());
    close(good);
    free(st);
}

/* soak.c -- a long run of one two-process echo server (echosvr_v5,
 * echosvr_v6) under mixed load (load.h) while md is killed with SIGKILL
 * at random moments, then the checks a user would make: every byte came
 * back, the server's memory is back near where it started, and nothing
 * is left behind.
 *
 * The run, in phases: start the server on a key and FIFO directory of
 * our own (start_server), read its processes from their statistics
 * blocks, sample their memory, then load, kill and sample until the time
 * is up (or SIGINT/SIGTERM); drain: stop sending, wait for every echo;
 * settle: wait for io_conn to report no connection open and md (v6) no
 * session, and one more second; then stop the server with SIGTERM (it
 * must exit 0) and look for segments, FIFOs and processes it left. One
 * summary, PASS or FAIL; exit status 0 or 1.
 *
 * Memory is private RSS, VmRSS less RssShmem: the queues and tables are
 * shared segments of a fixed size whose pages count in VmRSS as they are
 * first touched, which says nothing about leaks. The server runs with
 * fixed malloc thresholds (start_server), so that memory it frees is
 * returned and its RSS at the end says what it still holds. */
#include "load.h"

#include "log.h"
#include "now.h"
#include "opts.h"
#include "srvkeys.h"
#include "stats.h"

#include <event2/event.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The load: connections of each kind at once (load.h). */
static const unsigned mix[LOAD_NKINDS] = {
    [LOAD_SMALL] = 32, [LOAD_LARGE] = 2, [LOAD_CHURN] = 4, [LOAD_SLOW] = 4};

#define DEFAULT_SECONDS 60
#define DEFAULT_KILL_MS 2000
#define LISTEN_MS       10000 /* for the server's "listening on" line */
#define RESTART_MS      5000  /* for a new md after a kill */
#define DRAIN_MS        60000 /* for every echo once sending stops */
#define SETTLE_MS       10000 /* for connections and sessions to go */
#define STOP_MS         20000 /* for the server to exit on SIGTERM */
#define SAMPLE_MS       1000  /* between memory samples, at most */
/* Memory back near its start: private RSS at the end at most this much
 * above the start (the most seen in the second tenth of the load: the
 * load's working set, the buffers of the payloads then in flight and
 * malloc's arenas; the least there was a passing dip in short runs), or
 * a tenth above, whichever is more. A leak of 200 bytes a connection,
 * over the 50,000 connections of a ten-minute soak, is well beyond. */
#define MEM_SLACK_KIB 1024
#define MAX_ROLES     (2 + SRVKEYS_MAX_IO)

static const char usage[] =
    " [-h] [-t SECONDS] [-S SEED] [-K MS] [-k KEY] SERVER [ARG...]\n"
    "Soak a two-process echo server (echosvr_v5, echosvr_v6): mixed load\n"
    "(small messages, large payloads, connect/close churn, slow readers)\n"
    "while md is killed with SIGKILL at random moments; then every byte\n"
    "must have come back, the memory of every server process be back near\n"
    "its start, and no process, segment or FIFO be left.\n"
    "  -t SECONDS  how long to load it (default 60)\n"
    "  -S SEED     seed of every random choice (default: a new one;\n"
    "              the summary prints it)\n"
    "  -K MS       kill md after a random pause of 0 to MS each time\n"
    "              (default 2000; 0: never)\n"
    "  -k KEY      base System V key of the server (default: one of this\n"
    "              process's own)\n"
    "  -h          show this help\n"
    "SERVER is started as SERVER -p 0 -k KEY -d DIR ARG...; its stderr\n"
    "goes to a file, shown if the soak fails. Prints a progress line\n"
    "every tenth of the run and a summary; exit status 0 when every check\n"
    "passed, 1 otherwise. SIGINT or SIGTERM end the load early.\n";

enum phase { PHASE_LOAD, PHASE_DRAIN, PHASE_SETTLE, PHASE_OVER };

/* A process of the server whose memory is watched. */
struct role {
    char name[24];
    key_t key; /* its statistics block, which names its pid; 0: launcher */
    pid_t pid; /* the one seen last */
    /* private RSS, KiB, -1 until seen: at the first sample (cold);
     * the most in the second tenth of the load, its working set with the
     * buffers then in flight (start); the most; after the load (end) */
    long cold, start, peak, end;
    long now;      /* the last sample */
    long rss_peak; /* VmRSS */
};

struct soak {
    struct event_base *base;
    enum phase phase;
    char failure[512];
    /* what the command line says */
    int seconds, kill_ms;
    uint32_t seed, rnd;
    key_t key;
    char key_arg[16];
    char **server_argv; /* SERVER ARG... */
    const char *name;   /* SERVER's file name */
    char server_dir[PATH_MAX];
    /* the server */
    char dir[64], fifo_dir[96], log_path[96];
    pid_t launcher;
    int out_fd; /* the launcher's stdout, kept open to the end */
    uint16_t port;
    unsigned nio;
    struct role roles[MAX_ROLES];
    unsigned nroles;
    pid_t *seen; /* every md and io_conn pid, for the leftover check */
    unsigned nseen, seen_cap;
    /* md kills */
    unsigned kills;
    pid_t victim; /* killed, its successor not seen yet; 0: none */
    int64_t killed_ns, restart_max_ns, restart_sum_ns;
    /* the run */
    struct load *load;
    int64_t start_ns, drain_ns, closed_ns, settle_ns;
    char unsettled[96]; /* what settled() found */
    struct event *kill_ev, *restart_ev, *sample_ev, *progress_ev, *end_ev,
        *deadline_ev, *settle_ev, *sigint_ev, *sigterm_ev;
    /* what the end found */
    int exit_status;
    unsigned left_segments, left_fifos, left_procs;
};

static void fail(struct soak *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Keep the first failure and end the run. */
static void fail(struct soak *s, const char *fmt, ...)
{
    va_list ap;

    if (!s->failure[0]) {
        va_start(ap, fmt);
        vsnprintf(s->failure, sizeof(s->failure), fmt, ap);
        va_end(ap);
    }
    s->phase = PHASE_OVER;
    event_base_loopbreak(s->base);
}

static uint32_t next_rand(struct soak *s)
{
    uint32_t x = s->rnd ? s->rnd : 0x9e3779b9u;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return s->rnd = x;
}

static double secs_since(int64_t ns)
{
    return (double)(now_mono_ns() - ns) / 1e9;
}

static void add_timer(struct event *ev, long ms)
{
    struct timeval tv = {ms / 1000, ms % 1000 * 1000};

    evtimer_add(ev, &tv);
}

/* --- the server's processes -------------------------------------------- */

/* One consistent copy of the block under key. */
static bool block_read(key_t key, struct stats_snapshot *snap)
{
    struct stats st;
    bool ok;

    if (stats_open(&st, key) < 0)
        return false;
    ok = stats_read(&st, snap) == 0;
    stats_close(&st);
    return ok;
}

/* Counter name of the block under key; false if there is none. */
static bool block_counter(key_t key, const char *name, uint64_t *value)
{
    struct stats_snapshot snap;
    int i;

    if (!block_read(key, &snap) || (i = stats_find(&snap, name)) < 0)
        return false;
    *value = snap.value[i];
    return true;
}

static void remember_pid(struct soak *s, pid_t pid)
{
    for (unsigned i = 0; i < s->nseen; i++)
        if (s->seen[i] == pid)
            return;
    if (s->nseen == s->seen_cap) {
        unsigned cap = s->seen_cap ? 2 * s->seen_cap : 64;
        pid_t *grown = realloc(s->seen, cap * sizeof(*grown));
        if (!grown) {
            fail(s, "out of memory");
            return;
        }
        s->seen = grown;
        s->seen_cap = cap;
    }
    s->seen[s->nseen++] = pid;
}

/* VmRSS and private RSS (VmRSS less RssShmem) of pid in KiB; false if it
 * is gone. */
static bool read_rss(pid_t pid, long *rss, long *priv)
{
    char path[64], line[256];
    long shmem = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return false;
    *rss = -1;
    while (fgets(line, sizeof(line), f)) {
        sscanf(line, "VmRSS: %ld kB", rss);
        sscanf(line, "RssShmem: %ld kB", &shmem);
    }
    fclose(f);
    *priv = *rss - shmem;
    return *rss >= 0;
}

/* Sample every role's memory once (struct role). */
static void sample(struct soak *s, bool last)
{
    double t = s->start_ns ? secs_since(s->start_ns) : 0;
    bool warm = s->phase == PHASE_LOAD && t >= s->seconds / 10.0 &&
                t <= s->seconds / 5.0;

    for (unsigned i = 0; i < s->nroles; i++) {
        struct role *r = &s->roles[i];
        struct stats_snapshot snap;
        long rss, priv;

        if (r->key) {
            if (!block_read(r->key, &snap))
                continue; /* md between two lives */
            r->pid = snap.pid;
            remember_pid(s, r->pid);
        }
        if (!read_rss(r->pid, &rss, &priv))
            continue;
        r->now = priv;
        if (r->cold < 0)
            r->cold = priv;
        if (warm && priv > r->start)
            r->start = priv;
        if (priv > r->peak)
            r->peak = priv;
        if (rss > r->rss_peak)
            r->rss_peak = rss;
        if (last)
            r->end = priv;
    }
}

static void add_role(struct soak *s, const char *name, key_t key, pid_t pid)
{
    struct role *r = &s->roles[s->nroles++];

    snprintf(r->name, sizeof(r->name), "%s", name);
    r->key = key;
    r->pid = pid;
    r->cold = r->start = r->peak = r->end = r->rss_peak = r->now = -1;
}

/* The launcher's block says how many io_conn it started; md's and each
 * io_conn's block name their pids. Wait up to 5 s for them all. */
static int find_processes(struct soak *s)
{
    uint64_t n = 0;
    struct stats_snapshot snap;
    int64_t deadline = now_mono_ns() + 5 * (int64_t)1000000000;

    while (!block_counter(srvkeys_launcher_stats(s->key), "io_conns", &n) ||
           n == 0 || !block_read(srvkeys_md_stats(s->key), &snap)) {
        if (now_mono_ns() > deadline) {
            log_error("no statistics from the server's processes under key "
                      "%#x within 5 s",
                      (unsigned)s->key);
            return -1;
        }
        usleep(10000);
    }
    s->nio = (unsigned)(n < SRVKEYS_MAX_IO ? n : SRVKEYS_MAX_IO);
    add_role(s, s->name, 0, s->launcher);
    add_role(s, "md", srvkeys_md_stats(s->key), 0);
    for (unsigned i = 0; i < s->nio; i++) {
        char io_name[24];
        snprintf(io_name, sizeof(io_name), "io_conn %u", i);
        add_role(s, io_name, srvkeys_io_stats(s->key, i), 0);
    }
    sample(s, false);
    for (unsigned i = 1; i < s->nroles; i++)
        if (s->roles[i].cold < 0) {
            log_error("no %s running under key %#x", s->roles[i].name,
                      (unsigned)s->key);
            return -1;
        }
    return 0;
}

/* --- starting and stopping the server ---------------------------------- */

/* Read the launcher's "listening on ADDR:PORT" line into s->port. */
static int read_port(struct soak *s)
{
    char line[128];
    size_t len = 0;
    int64_t deadline = now_mono_ns() + (int64_t)LISTEN_MS * 1000000;
    const char *colon;
    unsigned port;

    while (len + 1 < sizeof(line)) {
        struct pollfd pfd = {s->out_fd, POLLIN, 0};
        int left = (int)((deadline - now_mono_ns()) / 1000000);
        if (left <= 0 || poll(&pfd, 1, left) <= 0 ||
            read(s->out_fd, line + len, 1) != 1)
            break;
        if (line[len++] == '\n')
            break;
    }
    line[len] = '\0';
    colon = strrchr(line, ':');
    if (strncmp(line, "listening on ", 13) != 0 || !colon ||
        sscanf(colon + 1, "%u", &port) != 1 || port == 0 || port > 65535) {
        log_error("%s did not say it was listening (see below)",
                  s->server_argv[0]);
        return -1;
    }
    s->port = (uint16_t)port;
    return 0;
}

/* SERVER -p 0 -k KEY -d DIR ARG..., stdout to a pipe, stderr to the log. */
static int start_server(struct soak *s)
{
    const char *head[] = {s->server_argv[0], "-p", "0",        "-k",
                          s->key_arg,        "-d", s->fifo_dir};
    int nhead = sizeof(head) / sizeof(head[0]), nargs = 0, pipefd[2], log_fd;
    const char **argv;
    pid_t parent = getpid();

    while (s->server_argv[1 + nargs])
        nargs++;
    argv = calloc((size_t)(nhead + nargs + 1), sizeof(*argv));
    log_fd = open(s->log_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (!argv || log_fd < 0 || pipe2(pipefd, O_CLOEXEC) < 0) {
        log_error("cannot start %s: %s", s->server_argv[0], strerror(errno));
        free(argv);
        return -1;
    }
    memcpy(argv, head, sizeof(head));
    memcpy(argv + nhead, s->server_argv + 1, (size_t)nargs * sizeof(*argv));
    fflush(NULL);
    s->launcher = fork();
    if (s->launcher == 0) {
        /* A soak that dies takes its server along, cleanly. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        /* Fixed malloc thresholds (unless the user set them): glibc's
         * dynamic ones rise with the first large buffer freed, and then
         * the heap keeps megabytes of freed payload buffers for good;
         * fixed, freed memory goes back, and RSS follows live memory. */
        setenv("MALLOC_MMAP_THRESHOLD_", "65536", 0);
        setenv("MALLOC_TRIM_THRESHOLD_", "131072", 0);
        if (getppid() != parent || dup2(pipefd[1], STDOUT_FILENO) < 0 ||
            dup2(log_fd, STDERR_FILENO) < 0)
            _exit(127);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        dprintf(STDERR_FILENO, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    free(argv);
    close(log_fd);
    close(pipefd[1]);
    s->out_fd = pipefd[0];
    if (s->launcher < 0) {
        log_error("fork: %s", strerror(errno));
        return -1;
    }
    return read_port(s);
}

/* The launcher's exit status within ms; -1 if it is still running, -2 if
 * a signal killed it. */
static int wait_launcher(struct soak *s, int ms)
{
    int status;

    for (int waited = 0;; waited += 10) {
        pid_t pid = waitpid(s->launcher, &status, WNOHANG);
        if (pid == s->launcher) {
            s->launcher = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
        }
        if (pid < 0 || waited >= ms)
            return -1;
        usleep(10000);
    }
}

static void stop_server(struct soak *s)
{
    if (s->launcher <= 0)
        return;
    kill(s->launcher, SIGTERM);
    s->exit_status = wait_launcher(s, STOP_MS);
    if (s->exit_status == -1) {
        kill(s->launcher, SIGKILL);
        wait_launcher(s, STOP_MS);
    }
}

/* Is pid alive and running a program of the server's directory? */
static bool ours_alive(const struct soak *s, pid_t pid)
{
    char path[64], exe[PATH_MAX];
    ssize_t n;
    char *slash;

    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    n = readlink(path, exe, sizeof(exe) - 1);
    if (n < 0)
        return false;
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    return strcmp(exe, s->server_dir) == 0;
}

/* Count what the stopped server left (and remove it: it is ours). */
static void find_leftovers(struct soak *s)
{
    DIR *d;
    struct dirent *e;

    for (unsigned i = 0; i < s->nseen; i++)
        if (ours_alive(s, s->seen[i])) {
            s->left_procs++;
            kill(s->seen[i], SIGKILL);
        }
    for (unsigned k = 0; k < srvkeys_span(s->nio); k++) {
        int id = shmget(s->key + k, 0, 0);
        if (id >= 0) {
            s->left_segments++;
            shmctl(id, IPC_RMID, NULL);
        }
    }
    d = opendir(s->fifo_dir);
    while (d && (e = readdir(d)) != NULL) {
        char path[sizeof(s->fifo_dir) + 256];
        if (e->d_name[0] == '.')
            continue;
        s->left_fifos++;
        snprintf(path, sizeof(path), "%s/%s", s->fifo_dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
}

/* --- killing md -------------------------------------------------------- */

static void schedule_kill(struct soak *s)
{
    if (s->kill_ms > 0 && s->phase == PHASE_LOAD)
        add_timer(s->kill_ev,
                  (long)(next_rand(s) % (unsigned)(s->kill_ms + 1)));
}

static void kill_cb(evutil_socket_t fd, short what, void *arg)
{
    struct soak *s = arg;
    struct stats_snapshot snap;

    (void)fd;
    (void)what;
    if (!block_read(srvkeys_md_stats(s->key), &snap)) {
        fail(s, "md's statistics are gone: no md to kill");
        return;
    }
    remember_pid(s, snap.pid);
    if (kill(snap.pid, SIGKILL) < 0) {
        fail(s, "kill md %d: %s", (int)snap.pid, strerror(errno));
        return;
    }
    s->kills++;
    s->victim = snap.pid;
    s->killed_ns = now_mono_ns();
    add_timer(s->restart_ev, 5);
}

/* After a kill: wait for the new md's block, then plan the next kill. */
static void restart_cb(evutil_socket_t fd, short what, void *arg)
{
    struct soak *s = arg;
    struct stats_snapshot snap;
    int64_t took = now_mono_ns() - s->killed_ns;

    (void)fd;
    (void)what;
    if (!block_read(srvkeys_md_stats(s->key), &snap) || snap.pid == s->victim) {
        if (took > (int64_t)RESTART_MS * 1000000)
            fail(s, "no new md within %d ms of killing md %d (kill %u)",
                 RESTART_MS, (int)s->victim, s->kills);
        else
            add_timer(s->restart_ev, 5);
        return;
    }
    remember_pid(s, snap.pid);
    s->victim = 0;
    s->restart_sum_ns += took;
    if (took > s->restart_max_ns)
        s->restart_max_ns = took;
    schedule_kill(s);
}

/* --- the run ------------------------------------------------------------ */

static void sample_cb(evutil_socket_t fd, short what, void *arg)
{
    struct soak *s = arg;
    int rc;

    (void)fd;
    (void)what;
    sample(s, false);
    rc = wait_launcher(s, 0);
    if (rc != -1) {
        s->exit_status = rc;
        fail(s, "the server ended during the soak (%s %d)",
             rc == -2 ? "killed by a signal, status" : "exit status", rc);
    }
}

static uint64_t checked_bytes(const struct soak *s)
{
    struct load_count c;
    uint64_t sum = 0;

    for (int k = 0; k < LOAD_NKINDS; k++) {
        load_count(s->load, (enum load_kind)k, &c);
        sum += c.checked;
    }
    return sum;
}

static void progress_cb(evutil_socket_t fd, short what, void *arg)
{
    struct soak *s = arg;
    char mem[256];
    size_t len = 0;

    (void)fd;
    (void)what;
    for (unsigned i = 0; i < s->nroles && len < sizeof(mem); i++)
        len += (size_t)snprintf(mem + len, sizeof(mem) - len, ", %s %ld",
                                s->roles[i].name, s->roles[i].now);
    printf("soak %s: %.0f of %d s, %.1f MiB echoed and checked, md kills: "
           "%u; private RSS KiB%s\n",
           s->name, secs_since(s->start_ns), s->seconds,
           (double)checked_bytes(s) / (1 << 20), s->kills, mem);
    fflush(stdout);
}

/* The time is up (or a signal came): stop sending, wait for the echoes. */
static void begin_drain(struct soak *s)
{
    if (s->phase != PHASE_LOAD)
        return;
    s->phase = PHASE_DRAIN;
    s->drain_ns = now_mono_ns();
    event_del(s->kill_ev);
    event_del(s->end_ev);
    event_del(s->progress_ev);
    add_timer(s->deadline_ev, DRAIN_MS);
    load_drain(s->load);
}

static void end_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    begin_drain(arg);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct soak *s = arg;

    (void)what;
    if (s->phase == PHASE_LOAD) {
        log_info("signal %d: ending the load early", (int)sig);
        begin_drain(s);
    } else {
        fail(s, "interrupted by signal %d", (int)sig);
    }
}

/* Settled: no md kill pending, every io_conn without connections, md
 * (if it keeps sessions) without sessions. If not, what is left, in
 * s->unsettled. */
static bool settled(struct soak *s)
{
    uint64_t v = 0;

    if (s->victim) {
        snprintf(s->unsettled, sizeof(s->unsettled), "md is restarting");
        return false;
    }
    for (unsigned i = 0; i < s->nio; i++)
        if (!block_counter(srvkeys_io_stats(s->key, i), "conns_open", &v) ||
            v != 0) {
            snprintf(s->unsettled, sizeof(s->unsettled),
                     "io_conn %u counts %llu connections open", i,
                     (unsigned long long)v);
            return false;
        }
    if (block_counter(srvkeys_md_stats(s->key), "sessions", &v) && v != 0) {
        snprintf(s->unsettled, sizeof(s->unsettled), "md counts %llu sessions",
                 (unsigned long long)v);
        return false;
    }
    return true;
}

static void settle_cb(evutil_socket_t fd, short what, void *arg)
{
    struct soak *s = arg;
    static const int64_t second = 1000000000;

    (void)fd;
    (void)what;
    if (!settled(s)) {
        s->settle_ns = 0;
        if (secs_since(s->closed_ns) * 1000 > SETTLE_MS) {
            fail(s, "%d s after the last connection closed, %s",
                 SETTLE_MS / 1000, s->unsettled);
            return;
        }
    } else if (s->settle_ns == 0) {
        s->settle_ns = now_mono_ns(); /* then a second more, quiet */
    } else if (now_mono_ns() - s->settle_ns >= second) {
        sample(s, true);
        s->phase = PHASE_OVER;
        event_base_loopbreak(s->base);
        return;
    }
    add_timer(s->settle_ev, 50);
}

/* The load is over: failed, or drained. */
static void load_over_cb(void *arg)
{
    struct soak *s = arg;

    if (load_error(s->load)) {
        fail(s, "%s", load_error(s->load));
        return;
    }
    s->phase = PHASE_SETTLE;
    s->closed_ns = now_mono_ns();
    event_del(s->deadline_ev);
    add_timer(s->settle_ev, 50);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct soak *s = arg;

    (void)fd;
    (void)what;
    fail(s,
         "%u connections still owed their echo %d s after the load "
         "stopped",
         load_open(s->load), DRAIN_MS / 1000);
}

static int make_events(struct soak *s)
{
    struct event_base *b = s->base;

    s->kill_ev = evtimer_new(b, kill_cb, s);
    s->restart_ev = evtimer_new(b, restart_cb, s);
    s->sample_ev = event_new(b, -1, EV_PERSIST, sample_cb, s);
    s->progress_ev = event_new(b, -1, EV_PERSIST, progress_cb, s);
    s->end_ev = evtimer_new(b, end_cb, s);
    s->deadline_ev = evtimer_new(b, deadline_cb, s);
    s->settle_ev = evtimer_new(b, settle_cb, s);
    s->sigint_ev = evsignal_new(b, SIGINT, signal_cb, s);
    s->sigterm_ev = evsignal_new(b, SIGTERM, signal_cb, s);
    if (!s->kill_ev || !s->restart_ev || !s->sample_ev || !s->progress_ev ||
        !s->end_ev || !s->deadline_ev || !s->settle_ev || !s->sigint_ev ||
        !s->sigterm_ev || evsignal_add(s->sigint_ev, NULL) < 0 ||
        evsignal_add(s->sigterm_ev, NULL) < 0) {
        log_error("cannot create the soak's events");
        return -1;
    }
    return 0;
}

static void free_events(struct soak *s)
{
    struct event *evs[] = {s->kill_ev,     s->restart_ev, s->sample_ev,
                           s->progress_ev, s->end_ev,     s->deadline_ev,
                           s->settle_ev,   s->sigint_ev,  s->sigterm_ev};

    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (evs[i])
            event_free(evs[i]);
}

/* Load, kill md and sample until the run is over. */
static void run(struct soak *s)
{
    struct load_config cfg = {.port = s->port, .seed = next_rand(s)};
    long tenth = s->seconds >= 10 ? s->seconds * 100L : 1000;

    memcpy(cfg.conns, mix, sizeof(mix));
    s->load = load_new(s->base, &cfg, load_over_cb, s);
    if (!s->load) {
        fail(s, "cannot start the load: %s", strerror(errno));
        return;
    }
    s->start_ns = now_mono_ns();
    add_timer(s->end_ev, s->seconds * 1000L);
    /* at least five samples in the second tenth, which sets the start */
    add_timer(s->sample_ev,
              s->seconds >= 50 ? SAMPLE_MS : s->seconds * SAMPLE_MS / 50);
    add_timer(s->progress_ev, tenth);
    schedule_kill(s);
    event_base_dispatch(s->base);
}

/* --- the summary --------------------------------------------------------- */

/* The memory check of one role: "" if it passed, else why not. */
static const char *memory_verdict(const struct role *r)
{
    long slack = r->start / 10 > MEM_SLACK_KIB ? r->start / 10 : MEM_SLACK_KIB;

    if (r->start < 0 || r->end < 0)
        return "  not measured";
    return r->end - r->start > slack ? "  NOT back near its start" : "";
}

static bool memory_ok(const struct soak *s)
{
    for (unsigned i = 0; i < s->nroles; i++)
        if (memory_verdict(&s->roles[i])[0])
            return false;
    return true;
}

static void print_load(const struct soak *s)
{
    struct load_count c, total = {0};

    printf("  %-6s %10s %12s %12s %12s %10s\n", "load", "conns", "echoes",
           "sent MiB", "checked MiB", "abandoned");
    for (int k = 0; k < LOAD_NKINDS; k++) {
        load_count(s->load, (enum load_kind)k, &c);
        printf("  %-6s %10llu %12llu %12.1f %12.1f %10llu\n",
               load_kind_name((enum load_kind)k), (unsigned long long)c.conns,
               (unsigned long long)c.echoes, (double)c.sent / (1 << 20),
               (double)c.checked / (1 << 20), (unsigned long long)c.abandoned);
        total.conns += c.conns;
        total.sent += c.sent;
        total.checked += c.checked;
    }
    printf("  %-6s %10llu %12s %12.1f %12.1f\n", "all",
           (unsigned long long)total.conns, "", (double)total.sent / (1 << 20),
           (double)total.checked / (1 << 20));
}

static void print_summary(const struct soak *s, uint64_t restarts, bool ok)
{
    printf("soak %s: %.0f s of load on port %u, seed %u (-S %u replays "
           "the choices)\n",
           s->name, s->drain_ns ? (double)(s->drain_ns - s->start_ns) / 1e9 : 0,
           (unsigned)s->port, (unsigned)s->seed, (unsigned)s->seed);
    if (s->load)
        print_load(s);
    printf("  md killed %u times (a random pause of 0 to %d ms before each), "
           "md_restarts %llu; new md after %.1f ms on average, %.1f at "
           "worst\n",
           s->kills, s->kill_ms, (unsigned long long)restarts,
           s->kills ? (double)s->restart_sum_ns / s->kills / 1e6 : 0.0,
           (double)s->restart_max_ns / 1e6);
    printf("  memory, KiB of private RSS (VmRSS less shared memory): cold,\n"
           "  before the load; start, the most in its second tenth; end,\n"
           "  after it:\n"
           "  %-12s %8s %8s %8s %8s %11s\n",
           "process", "cold", "start", "peak", "end", "VmRSS peak");
    for (unsigned i = 0; i < s->nroles; i++) {
        const struct role *r = &s->roles[i];
        printf("  %-12s %8ld %8ld %8ld %8ld %11ld%s\n", r->name, r->cold,
               r->start, r->peak, r->end, r->rss_peak, memory_verdict(r));
    }
    printf("  exit status on SIGTERM: %d; left behind: %u processes, %u "
           "segments, %u FIFOs\n",
           s->exit_status, s->left_procs, s->left_segments, s->left_fifos);
    if (ok)
        printf("PASS soak %s: every byte echoed and checked, memory back "
               "near its start, nothing left\n",
               s->name);
    else
        printf("FAIL soak %s: %s\n", s->name, s->failure);
    fflush(stdout);
}

/* The server's log, on failure: its last few KiB, from a line start. */
static void print_log_tail(const struct soak *s)
{
    char buf[4096];
    const char *start = buf;
    int fd = open(s->log_path, O_RDONLY | O_CLOEXEC);
    off_t size = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
    off_t from =
        size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;
    ssize_t n = size >= 0 ? pread(fd, buf, sizeof(buf) - 1, from) : -1;

    if (fd >= 0)
        close(fd);
    if (n <= 0) {
        printf("the server wrote nothing on stderr\n");
        return;
    }
    buf[n] = '\0';
    if (from > 0 && strchr(buf, '\n'))
        start = strchr(buf, '\n') + 1;
    printf("the server's stderr%s:\n%s", from > 0 ? ", its end" : "", start);
    fflush(stdout);
}

/* After the run: stop the server, check everything, print the summary.
 * The exit status. */
static int conclude(struct soak *s)
{
    uint64_t restarts = 0;
    bool ok;

    if (s->launcher > 0 &&
        !block_counter(srvkeys_launcher_stats(s->key), "md_restarts",
                       &restarts) &&
        !s->failure[0])
        fail(s, "cannot read the launcher's md_restarts");
    if (!s->failure[0] && restarts != s->kills)
        fail(s, "md killed %u times, restarted %llu times", s->kills,
             (unsigned long long)restarts);
    stop_server(s);
    find_leftovers(s);
    if (!s->failure[0] && s->exit_status != 0)
        fail(s, "the server did not exit 0 on SIGTERM (%d)", s->exit_status);
    if (!s->failure[0] && (s->left_procs || s->left_segments || s->left_fifos))
        fail(s, "the server left processes, segments or FIFOs behind");
    if (!s->failure[0] && !memory_ok(s))
        fail(s, "memory not back near its start (see above)");
    ok = !s->failure[0];
    print_summary(s, restarts, ok);
    if (!ok)
        print_log_tail(s);
    return ok ? 0 : 1;
}

/* --- main ------------------------------------------------------------- */

static void parse_options(struct soak *s, int argc, char **argv)
{
    int c;

    opterr = 0;
    /* '+': options end at SERVER; the rest are the server's */
    while ((c = getopt(argc, argv, "+:ht:S:K:k:")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 't':
            s->seconds = (int)opts_uint_arg("seconds", optarg, 1, 86400);
            break;
        case 'S':
            s->seed = (uint32_t)opts_uint_arg("seed", optarg, 0, UINT32_MAX);
            break;
        case 'K':
            s->kill_ms = (int)opts_uint_arg("kill pause", optarg, 0, 3600000);
            break;
        case 'k': s->key = opts_key_arg(optarg); break;
        default: opts_bad_option(c, optopt);
        }
    }
    if (optind == argc)
        opts_fail("which server? give its path, e.g. ch4-mq/echosvr_v5");
    s->server_argv = argv + optind;
    s->name = strrchr(s->server_argv[0], '/');
    s->name = s->name ? s->name + 1 : s->server_argv[0];
    snprintf(s->key_arg, sizeof(s->key_arg), "%#x", (unsigned)s->key);
}

/* A private directory for the FIFOs and the server's log. */
static int make_dir(struct soak *s)
{
    char real[PATH_MAX], *slash;

    if (!realpath(s->server_argv[0], real)) {
        log_error("%s: %s", s->server_argv[0], strerror(errno));
        return -1;
    }
    slash = strrchr(real, '/');
    *slash = '\0';
    snprintf(s->server_dir, sizeof(s->server_dir), "%s", real);
    snprintf(s->dir, sizeof(s->dir), "/tmp/svrtut-soak-XXXXXX");
    if (!mkdtemp(s->dir)) {
        log_error("cannot make a directory in /tmp: %s", strerror(errno));
        return -1;
    }
    snprintf(s->fifo_dir, sizeof(s->fifo_dir), "%s/fifos", s->dir);
    snprintf(s->log_path, sizeof(s->log_path), "%s/server.log", s->dir);
    return 0;
}

static void remove_dir(struct soak *s)
{
    unlink(s->log_path);
    rmdir(s->fifo_dir);
    if (rmdir(s->dir) < 0)
        log_error("cannot remove %s: %s", s->dir, strerror(errno));
}

int main(int argc, char **argv)
{
    static struct soak s = {.seconds = DEFAULT_SECONDS,
                            .kill_ms = DEFAULT_KILL_MS,
                            .out_fd = -1,
                            .exit_status = -1};
    int rc = 1;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    s.seed = (uint32_t)(now_real_ns() ^ (int64_t)getpid() << 20);
    /* a key of this process's own: 22 bits of pid, 7 of the server's keys */
    s.key = (key_t)(0x20000000 | ((unsigned)getpid() & 0x3fffff) << 7);
    parse_options(&s, argc, argv);
    s.rnd = s.seed;
    signal(SIGPIPE, SIG_IGN);
    /* Whole lines and summaries in one write each: two soaks may share a
     * terminal (make soak runs them side by side). */
    setvbuf(stdout, NULL, _IOFBF, 16384);
    if (make_dir(&s) < 0)
        return 1;
    s.base = event_base_new();
    if (!s.base || make_events(&s) < 0)
        goto out_remove_dir;
    if (start_server(&s) == 0 && find_processes(&s) == 0)
        run(&s);
    else
        fail(&s, "the server did not start");
    rc = conclude(&s);
    load_free(s.load);
    free_events(&s);
out_remove_dir:
    if (s.base)
        event_base_free(s.base);
    if (s.out_fd >= 0)
        close(s.out_fd);
    free(s.seen);
    remove_dir(&s);
    libevent_global_shutdown();
    return rc;
}

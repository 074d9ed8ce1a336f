/* echosvr_v6.c -- one command for the v6 echo server: starts md and
 * io_conn (or -n of them sharing the port) with matching keys and FIFO
 * directory, prints io_conn's "listening on" line, restarts md when it
 * dies, and on SIGINT or SIGTERM stops them all and removes every
 * segment and FIFO they used: queues, statistics and md's session table.
 * It is ch4-mq's echosvr_v5 with the session table added.
 *
 * The launcher is a small supervisor, not part of the data path: it
 * waits in an event loop for signals. md's death is survivable (the
 * queues keep the requests; the new md finds them), so md is restarted;
 * an io_conn's death loses its connections, so it ends the server. */
#include "log.h"
#include "mqpair.h"
#include "opts.h"
#include "shmem.h"
#include "stats.h"
#include "stopsig.h"

#include <event2/event.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PORT "4680"
#define STOP_WAIT_MS 5000 /* children get this long to exit cleanly */

static const char usage[] =
    " [-h] [-v | -q] [-a ADDR] [-p PORT] [-n COUNT] [-c CONNS] [-k KEY]\n"
    "          [-d DIR] [-s USEC]\n"
    "The v6 echo server: runs md and COUNT io_conn processes joined by\n"
    "shared-memory queues, and restarts md if it dies; md keeps a session\n"
    "record per connection that viewcache -k KEY lists.\n"
    "  -a ADDR   address to listen on (default 127.0.0.1)\n"
    "  -p PORT   port to listen on, 0 for any free port (default 4680)\n"
    "  -n COUNT  io_conn processes sharing the port, 1 to 16 (default 1)\n"
    "  -c CONNS  most connections per io_conn (default 65536)\n"
    "  -k KEY    base System V key of queues, statistics and the session\n"
    "            table\n"
    "            (default 0x5e7e0000)\n"
    "  -d DIR    directory of the wake-up FIFOs (default: a new private\n"
    "            directory in /tmp, removed on exit)\n"
    "  -s USEC   make md sleep that long per message (to watch queues\n"
    "            fill; default 0)\n"
    "  -v        debug logging (passed on to md and io_conn)\n"
    "  -q        log errors only\n"
    "  -h        show this help\n"
    "Prints 'listening on ADDR:PORT' when ready; SIGINT or SIGTERM stop it.\n";

enum counter { C_MD_RESTARTS, C_IO_CONNS, C_NCOUNTERS };

struct launcher {
    struct event_base *base;
    char bindir[PATH_MAX]; /* where md and io_conn live: next to us */
    char key_arg[16], dir[MQPAIR_PATH_MAX], slow_arg[16], conns_arg[16];
    unsigned long conns;
    const char *addr, *port, *verbosity;
    key_t key;
    unsigned n;
    pid_t md, io[MQPAIR_MAX_IO];
    struct event *restart_ev; /* restart md after a pause */
    time_t md_started;
    int rc;
    struct stats stats;
};

/* fork and exec bindir/prog; its stdout goes to out_fd if >= 0. */
static pid_t spawn(struct launcher *l, const char *const argv[], int out_fd)
{
    char path[PATH_MAX + 16];
    pid_t parent = getpid(), pid;

    snprintf(path, sizeof(path), "%s/%s", l->bindir, argv[0]);
    fflush(NULL);
    pid = fork();
    if (pid != 0)
        return pid; /* -1 with errno, or the child */
    /* Die with the launcher, even if it is killed with SIGKILL. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(1);
    if (out_fd >= 0 && dup2(out_fd, STDOUT_FILENO) < 0)
        _exit(1);
    /* execv's prototype predates const; it does not modify argv. */
    execv(path, (char *const *)(uintptr_t)argv);
    log_error("cannot run %s: %s", path, strerror(errno));
    _exit(1);
}

static int start_md(struct launcher *l)
{
    char n_arg[8], sessions_arg[24];
    const char *argv[] = {
        "md", "-k",         l->key_arg, "-d",        l->dir,       "-n", n_arg,
        "-c", sessions_arg, "-s",       l->slow_arg, l->verbosity, NULL};

    snprintf(n_arg, sizeof(n_arg), "%u", l->n);
    /* room for every connection of every io_conn */
    snprintf(sessions_arg, sizeof(sessions_arg), "%lu", l->n * l->conns);
    l->md = spawn(l, argv, -1);
    l->md_started = time(NULL);
    return l->md < 0 ? -1 : 0;
}

/* Read one line from fd within timeout_ms; false on EOF or timeout. */
static bool read_line(int fd, char *buf, size_t size, int timeout_ms)
{
    size_t len = 0;

    while (len + 1 < size) {
        struct pollfd pfd = {fd, POLLIN, 0};
        ssize_t n;

        if (poll(&pfd, 1, timeout_ms) <= 0)
            return false;
        n = read(fd, buf + len, 1);
        if (n <= 0)
            return false;
        if (buf[len++] == '\n')
            break;
    }
    buf[len] = '\0';
    return len > 0 && buf[len - 1] == '\n';
}

/* Start io_conn i on port and wait for its "listening on" line. */
static int start_io(struct launcher *l, unsigned i, const char *port,
                    char *line, size_t size)
{
    const char *argv[16];
    char i_arg[8];
    int argc = 0, pipefd[2];
    bool ok;

    snprintf(i_arg, sizeof(i_arg), "%u", i);
    argv[argc++] = "io_conn";
    argv[argc++] = "-a", argv[argc++] = l->addr;
    argv[argc++] = "-p", argv[argc++] = port;
    argv[argc++] = "-k", argv[argc++] = l->key_arg;
    argv[argc++] = "-d", argv[argc++] = l->dir;
    argv[argc++] = "-i", argv[argc++] = i_arg;
    argv[argc++] = "-c", argv[argc++] = l->conns_arg;
    if (l->n > 1)
        argv[argc++] = "-r"; /* share the port with the others */
    if (l->verbosity)
        argv[argc++] = l->verbosity;
    argv[argc] = NULL;

    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return -1;
    l->io[i] = spawn(l, argv, pipefd[1]);
    close(pipefd[1]);
    ok = l->io[i] > 0 && read_line(pipefd[0], line, size, 10000) &&
         strncmp(line, "listening on ", 13) == 0;
    /* io_conn prints nothing else to stdout; the pipe can go. */
    close(pipefd[0]);
    if (!ok) {
        log_error("io_conn %u did not start", i);
        return -1;
    }
    return 0;
}

static void restart_cb(evutil_socket_t fd, short what, void *arg)
{
    struct launcher *l = arg;

    (void)fd;
    (void)what;
    if (start_md(l) < 0)
        log_error("cannot restart md: %s", strerror(errno));
}

/* A child ended: restart md, or stop everything if an io_conn died. */
static void child_cb(evutil_socket_t fd, short what, void *arg)
{
    struct launcher *l = arg;
    pid_t pid;
    int status;

    (void)fd;
    (void)what;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == l->md) {
            /* A crash loop must not spin: pause a second if md died
             * within a second of starting. */
            struct timeval pause = {time(NULL) - l->md_started < 1, 0};
            l->md = 0;
            stats_add(&l->stats, C_MD_RESTARTS, 1);
            stats_commit(&l->stats);
            log_error("md (pid %d) %s %d; restarting it", (int)pid,
                      WIFSIGNALED(status) ? "killed by signal" : "exited",
                      WIFSIGNALED(status) ? WTERMSIG(status)
                                          : WEXITSTATUS(status));
            evtimer_add(l->restart_ev, &pause);
            continue;
        }
        for (unsigned i = 0; i < l->n; i++) {
            if (pid != l->io[i])
                continue;
            l->io[i] = 0;
            log_error("io_conn %u (pid %d) ended; stopping the server", i,
                      (int)pid);
            l->rc = 1;
            event_base_loopbreak(l->base);
        }
    }
}

static void kill_children(struct launcher *l, int sig)
{
    if (l->md > 0)
        kill(l->md, sig);
    for (unsigned i = 0; i < l->n; i++)
        if (l->io[i] > 0)
            kill(l->io[i], sig);
}

/* SIGTERM every child, wait for them, SIGKILL what is left. */
static void stop_children(struct launcher *l)
{
    struct timespec tick = {0, 10 * 1000 * 1000};
    int waited = 0, status;
    pid_t pid;

    kill_children(l, SIGTERM);
    for (;;) {
        pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0 && errno == ECHILD)
            break;
        if (pid > 0) {
            if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
                log_error("child %d exited with status %d", (int)pid,
                          WEXITSTATUS(status));
            continue;
        }
        if (waited == STOP_WAIT_MS) {
            log_error("children still running after %d ms: killing them",
                      STOP_WAIT_MS);
            kill_children(l, SIGKILL);
        }
        nanosleep(&tick, NULL);
        waited += 10;
    }
}

static int bindir_of_self(char *buf, size_t size)
{
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    char *slash;

    if (n < 0)
        return -1;
    buf[n] = '\0';
    slash = strrchr(buf, '/');
    if (slash)
        *slash = '\0';
    return 0;
}

static int stats_setup(struct stats *st, key_t key)
{
    if (stats_create(st, key, "echosvr_v6") < 0)
        return -1;
    if (stats_register(st, "md_restarts", STATS_COUNTER) != C_MD_RESTARTS ||
        stats_register(st, "io_conns", STATS_GAUGE) != C_IO_CONNS) {
        stats_remove(st);
        return -1;
    }
    stats_start(st);
    return 0;
}

/* A session table nobody is attached to was left by a server that was
 * killed: its flows are gone, so a new server starts with a new table.
 * (md restarts within one server keep theirs: md attaches, never wipes.) */
static void remove_stale_sessions(key_t base)
{
    key_t key = mqpair_sessions_key(base);
    struct shmid_ds ds;
    int id = shmget(key, 0, 0);

    if (id >= 0 && shmctl(id, IPC_STAT, &ds) == 0 && ds.shm_nattch == 0) {
        log_info("removing the stale session table %#x", (unsigned)key);
        shmem_remove_key(key);
    }
}

/* Start md and the io_conn processes; print the listening line. */
static int start_all(struct launcher *l)
{
    char line[128], port[8];
    const char *colon;

    if (start_md(l) < 0 || start_io(l, 0, l->port, line, sizeof(line)) < 0)
        return -1;
    colon = strrchr(line, ':');
    snprintf(port, sizeof(port), "%.*s", (int)strcspn(colon + 1, "\n"),
             colon + 1);
    for (unsigned i = 1; i < l->n; i++) {
        char other[128];
        if (start_io(l, i, port, other, sizeof(other)) < 0)
            return -1;
    }
    stats_set(&l->stats, C_IO_CONNS, l->n);
    stats_commit(&l->stats);
    log_info("md and %u io_conn running; sessions: viewcache -k %#x; "
             "statistics: viewstats -k %#x (md) -k %#x (io_conn 0) "
             "-k %#x (restarts)",
             l->n, (unsigned)l->key, (unsigned)mqpair_md_stats_key(l->key),
             (unsigned)mqpair_io_stats_key(l->key, 0),
             (unsigned)mqpair_launcher_stats_key(l->key));
    fputs(line, stdout);
    return fflush(stdout) == EOF ? -1 : 0;
}

static void parse_options(struct launcher *l, int argc, char **argv)
{
    int c;

    opterr = 0;
    while ((c = getopt(argc, argv, ":ha:p:n:c:k:d:s:vq")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'a': l->addr = opts_addr_arg(optarg); break;
        case 'p': opts_port_arg(optarg), l->port = optarg; break;
        case 'n':
            l->n = (unsigned)opts_uint_arg("count", optarg, 1, MQPAIR_MAX_IO);
            break;
        case 'c':
            l->conns = (unsigned long)opts_uint_arg("connection limit", optarg,
                                                    1, 1u << 20);
            snprintf(l->conns_arg, sizeof(l->conns_arg), "%lu", l->conns);
            break;
        case 'k': l->key = opts_key_arg(optarg); break;
        case 'd':
            if (strlen(optarg) >= sizeof(l->dir) - 16)
                opts_fail("directory name too long: %s", optarg);
            snprintf(l->dir, sizeof(l->dir), "%s", optarg);
            break;
        case 's':
            snprintf(l->slow_arg, sizeof(l->slow_arg), "%llu",
                     opts_uint_arg("delay", optarg, 0, 1000000));
            break;
        case 'v': l->verbosity = "-v", log_set_level(LOG_DEBUG); break;
        case 'q': l->verbosity = "-q", log_set_level(LOG_ERROR); break;
        default: opts_bad_option(c, optopt);
        }
    }
    if (optind < argc)
        opts_fail("unexpected argument '%s'", argv[optind]);
}

int main(int argc, char **argv)
{
    static struct launcher l = {.addr = "127.0.0.1",
                                .port = DEFAULT_PORT,
                                .key = MQPAIR_DEFAULT_KEY,
                                .n = 1,
                                .slow_arg = "0",
                                .conns_arg = "65536",
                                .conns = 65536,
                                .rc = 1};
    struct stopsig *ss = NULL;
    struct event *child_ev = NULL;
    bool own_dir = false;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    parse_options(&l, argc, argv);
    snprintf(l.key_arg, sizeof(l.key_arg), "%#x", (unsigned)l.key);
    if (bindir_of_self(l.bindir, sizeof(l.bindir)) < 0) {
        log_error("cannot find my own directory: %s", strerror(errno));
        return 1;
    }
    if (!l.dir[0]) {
        snprintf(l.dir, sizeof(l.dir), "/tmp/svrtut-v6-XXXXXX");
        if (!mkdtemp(l.dir)) {
            log_error("cannot make a FIFO directory: %s", strerror(errno));
            return 1;
        }
        own_dir = true;
    }
    /* The launcher's block doubles as the lock on the key: a second
     * server on the same key stops here, before touching any queue. */
    if (stats_setup(&l.stats, mqpair_launcher_stats_key(l.key)) < 0) {
        log_error("key %#x: %s", (unsigned)l.key,
                  errno == EEXIST ? "in use by a live server"
                                  : strerror(errno));
        goto out_remove_dir;
    }
    remove_stale_sessions(l.key);
    l.base = event_base_new();
    if (!l.base)
        goto out_remove_stats;
    ss = stopsig_new(l.base, NULL, NULL);
    child_ev = evsignal_new(l.base, SIGCHLD, child_cb, &l);
    l.restart_ev = evtimer_new(l.base, restart_cb, &l);
    if (!ss || !child_ev || !l.restart_ev || evsignal_add(child_ev, NULL) < 0) {
        log_error("cannot set up events");
        goto out_free_events;
    }
    if (start_all(&l) == 0 && event_base_dispatch(l.base) == 0 &&
        stopsig_caught(ss))
        l.rc = 0;

out_free_events:
    stop_children(&l);
    if (l.restart_ev)
        event_free(l.restart_ev);
    if (child_ev)
        event_free(child_ev);
    stopsig_free(ss);
    event_base_free(l.base);
out_remove_stats:
    if (mqpair_remove_all(l.key, l.dir, l.n) < 0 ||
        shmem_remove_key(mqpair_sessions_key(l.key)) < 0)
        log_error("cannot remove every segment: %s", strerror(errno));
    stats_remove(&l.stats);
out_remove_dir:
    if (own_dir && rmdir(l.dir) < 0)
        log_error("cannot remove %s: %s", l.dir, strerror(errno));
    libevent_global_shutdown();
    return l.rc;
}

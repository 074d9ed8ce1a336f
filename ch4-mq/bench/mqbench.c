/* mqbench.c -- spscq against a busy-polled ring, a pipe and a Unix
 * domain socket, between two processes: streaming throughput, ping-pong
 * round trips, idle CPU.
 *
 * Every channel moves fixed-size messages. A pipe and a socket cost the
 * sender one write(2) per message; the receiver reads whatever has
 * arrived in one read(2), as a real server would. The queue costs no
 * system call per message while both sides are busy. The ring
 * (spinring.c) never makes one: both sides spin, which is the practical
 * limit of a shared-memory channel and costs a core while idle. */
#include "log.h"
#include "now.h"
#include "opts.h"
#include "spscq.h"

#include "spinring.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_CAPACITY (1u << 20)
#define MAX_MSG        1024

enum kind { K_SPSCQ, K_RING, K_PIPE, K_UNIX, NKINDS };
static const char *const kind_name[NKINDS] = {"spscq", "ring", "pipe", "unix"};

/* One direction of a channel: a queue, or the two ends of a pipe/socket. */
struct chan {
    enum kind kind;
    struct spscq *q;       /* K_SPSCQ: the handle for this side's role */
    struct spinring *ring; /* K_RING: shared by both (made before fork) */
    int fd[2];             /* K_PIPE, K_UNIX: [0] read end, [1] write end */
    key_t key;
    char fifo[128];
    unsigned char buf[64 * MAX_MSG]; /* receiver's batch buffer */
    size_t have;                     /* bytes buffered in buf */
};

static const char *fifo_dir = "/tmp";
static key_t base_key;

/* SIGINT/SIGTERM: remove the segments and FIFOs a run may have left,
 * then exit 0, with async-signal-safe calls only. The child dies with us
 * (PR_SET_PDEATHSIG). */
static void on_stop(int sig)
{
    char path[128];

    (void)sig;
    for (int i = 0; i < 2; i++) {
        int id = shmget(base_key + i, 0, 0);
        if (id >= 0)
            shmctl(id, IPC_RMID, NULL);
        if (snprintf(path, sizeof(path), "%s/mqbench-%d-%x.fifo", fifo_dir,
                     (int)getpid(), (unsigned)(base_key + i)) > 0)
            unlink(path);
    }
    _exit(0);
}

static void die(const char *what)
{
    fprintf(stderr, "mqbench: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Create the channel before fork; each side then opens its role. */
static void chan_make(struct chan *c, enum kind kind, key_t key)
{
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    c->key = key;
    if (kind == K_SPSCQ) {
        struct spscq *q;
        snprintf(c->fifo, sizeof(c->fifo), "%s/mqbench-%d-%x.fifo", fifo_dir,
                 (int)getpid(), (unsigned)key);
        q = spscq_create(key, c->fifo, QUEUE_CAPACITY, SPSCQ_PRODUCER);
        if (!q)
            die("spscq_create");
        spscq_close(q);
    } else if (kind == K_RING) {
        c->ring = spinring_new(QUEUE_CAPACITY);
        if (!c->ring)
            die("spinring_new");
    } else if (kind == K_PIPE) {
        if (pipe(c->fd) < 0)
            die("pipe");
    } else if (socketpair(AF_UNIX, SOCK_STREAM, 0, c->fd) < 0) {
        die("socketpair");
    }
}

static void chan_open(struct chan *c, bool sender)
{
    if (c->kind == K_SPSCQ) {
        c->q = spscq_open(c->key, c->fifo,
                          sender ? SPSCQ_PRODUCER : SPSCQ_CONSUMER);
        if (!c->q)
            die("spscq_open");
    } else if (c->kind != K_RING) {
        close(c->fd[sender ? 0 : 1]);
    }
}

static void chan_close(struct chan *c, bool sender)
{
    if (c->kind == K_SPSCQ)
        spscq_close(c->q);
    else if (c->kind != K_RING)
        close(c->fd[sender ? 1 : 0]);
}

static void chan_remove(struct chan *c)
{
    if (c->kind == K_SPSCQ) {
        struct spscq *q = spscq_open(c->key, c->fifo, SPSCQ_PRODUCER);
        if (q)
            spscq_remove(q);
    } else if (c->kind == K_RING) {
        spinring_free(c->ring);
    } else {
        close(c->fd[0]);
        close(c->fd[1]);
    }
}

/* A waiting side of the ring polls; every SPINS polls it yields the core
 * (sched_yield never sleeps while it has the core to itself, but on a
 * busy machine it lets the other side run instead of spinning out a
 * whole time slice against it). */
#define SPINS 256
static void ring_relax(unsigned spins)
{
    if (spins % SPINS == 0)
        sched_yield();
    else
        __builtin_ia32_pause();
}

static void chan_send(struct chan *c, const void *msg, size_t len)
{
    if (c->kind == K_SPSCQ) {
        while (spscq_push(c->q, 1, msg, len) < 0) {
            if (errno != EAGAIN)
                die("spscq_push");
            sched_yield(); /* full: let the receiver catch up */
        }
        return;
    }
    if (c->kind == K_RING) {
        for (unsigned spins = 1; spinring_push(c->ring, msg, (uint32_t)len) < 0;
             spins++) {
            if (errno != EAGAIN)
                die("spinring_push");
            ring_relax(spins);
        }
        return;
    }
    /* A socket or pipe write of <= PIPE_BUF bytes is whole. */
    while (write(c->fd[1], msg, len) < 0) {
        if (errno != EINTR)
            die("write");
    }
}

/* The ring spins; the clock is read once every SPINS empty polls. */
static int ring_recv(struct chan *c, void *out, size_t len, int timeout_ms)
{
    int64_t deadline = now_mono_ns() + (int64_t)timeout_ms * 1000000;

    for (unsigned spins = 1;; spins++) {
        size_t n = len;
        if (spinring_pop(c->ring, out, &n) == 0)
            return 0;
        if (errno != EAGAIN)
            die("spinring_pop");
        if (spins % SPINS == 0 && now_mono_ns() > deadline)
            return -1;
        ring_relax(spins);
    }
}

/* Receive one message of len bytes into out; -1 on timeout. */
static int chan_recv(struct chan *c, void *out, size_t len, int timeout_ms)
{
    if (c->kind == K_SPSCQ) {
        for (;;) {
            size_t n = len;
            uint32_t id;
            if (spscq_pop(c->q, &id, out, &n) == 0)
                return 0;
            if (errno != EAGAIN)
                die("spscq_pop");
            if (spscq_wait(c->q, timeout_ms) < 0 && errno == ETIMEDOUT)
                return -1;
        }
    }
    if (c->kind == K_RING)
        return ring_recv(c, out, len, timeout_ms);
    while (c->have < len) {
        ssize_t n;
        if (timeout_ms >= 0) {
            struct timeval tv = {timeout_ms / 1000, timeout_ms % 1000 * 1000};
            fd_set set;
            FD_ZERO(&set);
            FD_SET(c->fd[0], &set);
            if (select(c->fd[0] + 1, &set, NULL, NULL, &tv) == 0)
                return -1;
        }
        n = read(c->fd[0], c->buf + c->have, sizeof(c->buf) - c->have);
        if (n <= 0)
            die("read");
        c->have += (size_t)n;
    }
    memcpy(out, c->buf, len);
    memmove(c->buf, c->buf + len, c->have - len);
    c->have -= len;
    return 0;
}

/* --- the three measurements ---------------------------------------------- */

static pid_t start_child(void)
{
    pid_t pid = fork();

    if (pid < 0)
        die("fork");
    if (pid == 0)
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the run */
    return pid;
}

static void wait_child(pid_t pid)
{
    int status;

    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        fprintf(stderr, "mqbench: the other side failed\n");
        exit(1);
    }
}

/* Messages per second from the first send to the last receive. */
static double stream(enum kind kind, size_t len, unsigned long n, key_t key)
{
    static struct chan c;
    unsigned char msg[MAX_MSG] = {0};
    double t0;
    pid_t pid;

    chan_make(&c, kind, key);
    t0 = (now_mono_ns() / 1e9);
    pid = start_child();
    if (pid == 0) {
        chan_open(&c, true);
        for (unsigned long i = 0; i < n; i++)
            chan_send(&c, msg, len);
        chan_close(&c, true);
        _exit(0);
    }
    chan_open(&c, false);
    for (unsigned long i = 0; i < n; i++)
        if (chan_recv(&c, msg, len, 10000) < 0)
            die("stream stalled");
    wait_child(pid);
    chan_close(&c, false);
    chan_remove(&c);
    return (double)n / ((now_mono_ns() / 1e9) - t0);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Round-trip times in microseconds: median and 99th percentile. */
static void ping_pong(enum kind kind, size_t len, unsigned long rounds,
                      key_t key, double *median, double *p99)
{
    static struct chan there, back;
    unsigned char msg[MAX_MSG] = {0};
    double *rtt = malloc(rounds * sizeof(*rtt));
    pid_t pid;

    if (!rtt)
        die("malloc");
    chan_make(&there, kind, key);
    chan_make(&back, kind, key + 1);
    pid = start_child();
    if (pid == 0) {
        chan_open(&there, false);
        chan_open(&back, true);
        for (unsigned long i = 0; i < rounds; i++) {
            if (chan_recv(&there, msg, len, 10000) < 0)
                _exit(1);
            chan_send(&back, msg, len);
        }
        _exit(0);
    }
    chan_open(&there, true);
    chan_open(&back, false);
    for (unsigned long i = 0; i < rounds; i++) {
        double t0 = (now_mono_ns() / 1e9);
        chan_send(&there, msg, len);
        if (chan_recv(&back, msg, len, 10000) < 0)
            die("ping-pong stalled");
        rtt[i] = ((now_mono_ns() / 1e9) - t0) * 1e6;
    }
    wait_child(pid);
    chan_close(&there, true);
    chan_close(&back, false);
    chan_remove(&there);
    chan_remove(&back);
    qsort(rtt, rounds, sizeof(*rtt), cmp_double);
    *median = rtt[rounds / 2];
    *p99 = rtt[rounds * 99 / 100];
    free(rtt);
}

static double cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Percent of a core the receiver uses while waiting 1 s for nothing. */
static double idle_cpu(enum kind kind, key_t key)
{
    static struct chan c;
    unsigned char msg[8];
    int fds[2];
    double pct;
    pid_t pid;

    chan_make(&c, kind, key);
    if (pipe(fds) < 0)
        die("pipe");
    pid = start_child();
    if (pid == 0) {
        double t0, c0;
        chan_open(&c, false);
        c0 = cpu_s();
        t0 = (now_mono_ns() / 1e9);
        if (chan_recv(&c, msg, sizeof(msg), 1000) == 0)
            _exit(1); /* nothing was sent */
        pct = 100 * (cpu_s() - c0) / ((now_mono_ns() / 1e9) - t0);
        if (write(fds[1], &pct, sizeof(pct)) != sizeof(pct))
            _exit(1);
        chan_close(&c, false);
        _exit(0);
    }
    chan_open(&c, true);
    if (read(fds[0], &pct, sizeof(pct)) != sizeof(pct))
        die("idle measurement");
    wait_child(pid);
    chan_close(&c, true);
    chan_remove(&c);
    close(fds[0]);
    close(fds[1]);
    return pct;
}

/* --- the table ----------------------------------------------------------- */

struct row {
    const char *what;
    double v[NKINDS];
    bool lower_better;
};

static void print_row(const struct row *r)
{
    printf("%-26s", r->what);
    for (int k = 0; k < NKINDS; k++)
        printf(" %11.4g", r->v[k]);
    for (int k = K_RING; k < NKINDS; k++) {
        double ratio = r->v[K_SPSCQ] / r->v[k];
        printf("   %9.2fx", ratio);
    }
    printf("%s\n", r->lower_better ? "  (lower is better)" : "");
}

int main(int argc, char **argv)
{
    unsigned long n = 2000000, rounds = 20000;
    key_t key = (key_t)(0x4d510000 | ((getpid() & 0xfff) << 4));
    static const size_t sizes[] = {64, 1024};
    int c;

    log_init(argv[0], LOG_INFO);
    opts_init(" [-n MESSAGES] [-r ROUNDTRIPS] [-k KEY] [-d DIR]\n"
              "  -n  messages per streaming run (default 2000000)\n"
              "  -r  round trips per ping-pong run (default 20000)\n"
              "  -k  base System V key (default from the pid; uses 2)\n"
              "  -d  directory for the FIFOs (default /tmp)\n");
    opterr = 0;
    while ((c = getopt(argc, argv, ":hn:r:k:d:")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'n': n = opts_uint_arg("-n", optarg, 1000, 1000000000); break;
        case 'r': rounds = opts_uint_arg("-r", optarg, 100, 100000000); break;
        case 'k': key = opts_key_arg(optarg); break;
        case 'd': fifo_dir = optarg; break;
        default: opts_bad_option(c, optopt);
        }
    }
    if (optind != argc)
        opts_fail("unexpected argument '%s'", argv[optind]);
    if (strlen(fifo_dir) > 64)
        opts_fail("-d: directory name too long");
    base_key = key;
    signal(SIGINT, on_stop);
    signal(SIGTERM, on_stop);
    setvbuf(stdout, NULL, _IOLBF, 0);

    printf("%-26s", "");
    for (int k = 0; k < NKINDS; k++)
        printf(" %11s", kind_name[k]);
    printf("   spscq/ring   spscq/pipe   spscq/unix\n");
    for (size_t s = 0; s < 2; s++) {
        struct row r = {NULL, {0}, false};
        char what[32];
        snprintf(what, sizeof(what), "stream %zu B (msg/s)", sizes[s]);
        r.what = what;
        for (int k = 0; k < NKINDS; k++)
            r.v[k] = stream(k, sizes[s], n, key);
        print_row(&r);
    }
    for (size_t s = 0; s < 2; s++) {
        struct row med = {NULL, {0}, true}, p99 = {NULL, {0}, true};
        char w1[32], w2[32];
        snprintf(w1, sizeof(w1), "rtt %zu B median (us)", sizes[s]);
        snprintf(w2, sizeof(w2), "rtt %zu B p99 (us)", sizes[s]);
        med.what = w1;
        p99.what = w2;
        for (int k = 0; k < NKINDS; k++)
            ping_pong(k, sizes[s], rounds, key, &med.v[k], &p99.v[k]);
        print_row(&med);
        print_row(&p99);
    }
    {
        struct row r = {"idle receiver (% of a core)", {0}, true};
        for (int k = 0; k < NKINDS; k++)
            r.v[k] = idle_cpu(k, key);
        printf("%-26s", r.what);
        for (int k = 0; k < NKINDS; k++)
            printf(" %11.3f", r.v[k]);
        printf("\n");
    }
    return 0;
}

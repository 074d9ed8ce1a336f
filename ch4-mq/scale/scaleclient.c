/* scaleclient.c -- the client of the connection-scale benchmarks (c10k,
 * c100k, c1m): holds CONNS connections to an echo server from PROCS
 * worker processes, sends a message on each connection every interval,
 * on a schedule fixed in advance, checks every echo byte for byte and
 * reports latency percentiles measured from each message's due time.
 *
 * Why several processes: one process may hold only as many sockets as
 * its open-file limit allows (20,000 on the course machine), so 100,000
 * connections take at least six. Why several destination addresses: a
 * client has some 28,000 ephemeral ports per destination address and
 * port (ip_local_port_range), so connection g goes to ADDR + g % COUNT
 * (127.0.0.1, 127.0.0.2, ...: all of 127.0.0.0/8 is this machine).
 *
 * The schedule. Connection g of CONNS sends its message k at
 *     start + g * interval / CONNS + k * interval,
 * so the whole run sends one message every interval / CONNS, evenly.
 * Worker w holds connections w, w + PROCS, w + 2 * PROCS, ...: each
 * worker's messages are spread over the whole interval too, and no
 * worker has a burst while the others wait. The schedule is open loop:
 * a message goes out when it is due, whatever happened to the earlier
 * ones, and its latency counts from when it was due, so a stall of the
 * server or of the client itself shows in the figures instead of
 * delaying the sends that would have measured it.
 *
 * The run. The parent checks the limits, forks the workers and waits
 * until each has connected its share (at most CONNECT_WINDOW connects in
 * flight per worker); it prints a "connected" line, waits -H ms (the
 * benchmark scripts read the servers' memory then, every connection
 * open and idle), and hands every worker the same start time through a
 * pipe. The workers send and check until the last due message is echoed
 * or the grace period ends, write their counts and histograms into a
 * shared mapping, and exit; the parent merges them and prints one line. */
#include "histogram.h"
#include "log.h"
#include "net.h"
#include "now.h"
#include "opts.h"

#include <event2/event.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 4000000
#define MAX_PROCS 1000
/* Descriptors a worker needs besides its sockets: stdio, the two pipes,
 * the event base's epoll and timerfd, libevent's signal pipe. */
#define SPARE_FDS 32
/* Connects in flight per worker: enough to keep the server's accept
 * loops busy, few enough never to overflow a listen backlog (SOMAXCONN,
 * 4,096) even with a hundred workers on one port. */
#define CONNECT_WINDOW 32
#define MIN_SIZE       8 /* a message starts with its connection and number */
#define PORT_RANGE     "/proc/sys/net/ipv4/ip_local_port_range"

static const char usage[] =
    " [-h] [-a ADDR] [-A COUNT] [-c CONNS] [-P PROCS] [-i MS] [-s SIZE]\n"
    "          [-d SECONDS] [-H MS] [-g MS] [-t SECONDS] PORT\n"
    "Holds CONNS connections to an echo server from PROCS processes and\n"
    "sends a message on each every MS on a fixed schedule (open loop);\n"
    "checks every echo and reports the latency from each message's due "
    "time.\n"
    "  PORT         server port\n"
    "  -a ADDR      first server address, IPv4 (default 127.0.0.1)\n"
    "  -A COUNT     spread the connections over COUNT consecutive server\n"
    "               addresses from ADDR, each with its own ephemeral\n"
    "               ports (default 1)\n"
    "  -c CONNS     connections, 1 to 4000000 (default 10000)\n"
    "  -P PROCS     worker processes, 1 to 1000 (default: as few as the\n"
    "               open-file limit allows)\n"
    "  -i MS        interval between two messages of a connection,\n"
    "               1 to 600000 (default 1000)\n"
    "  -s SIZE      bytes per message, 8 to 4096 (default 64)\n"
    "  -d SECONDS   how long to send, 1 to 3600 (default 20)\n"
    "  -H MS        hold the connections idle that long once all are\n"
    "               open, before the first message (default 0)\n"
    "  -g MS        wait that long for the last echoes (default 5000)\n"
    "  -t SECONDS   give up connecting after that long (default 60)\n"
    "  -h           show this help\n"
    "Prints two lines: 'connected=N conns= procs= connect_s= ...\n"
    "connect_cpu_s=' once every connection is open, then 'conns= sent=\n"
    "expected= echoed= errors= p50_us= p90_us= p99_us= p999_us= max_us=\n"
    "mean_us= late_p99_us= late_max_us= cpu_s=': late is how long after\n"
    "its due time a message was sent (the client's own delay, part of the\n"
    "latency); cpu the workers' user and system time.\n"
    "Exit status: 0 when every message due was sent, echoed and checked;\n"
    "1 otherwise or when a limit is too low; 2 on bad usage.\n";

struct options {
    uint32_t first_addr; /* host order */
    unsigned naddrs;
    uint16_t port;
    unsigned conns, procs, interval_ms, seconds, hold_ms, grace_ms, connect_s;
    size_t size;
};

/* What a worker hands its parent, in a shared mapping (one per worker,
 * written by the worker only, read after it exited). */
struct result {
    uint64_t connected, sent, expected, echoed, errors;
    double cpu_connect_s, cpu_s; /* the worker's CPU time: connected, end */
    struct histogram latency;    /* ns from each echo's due time */
    struct histogram connect;    /* ns from connect() to established */
    struct histogram late; /* ns from each message's due time to its send */
    char error[200];       /* the first problem, in one line */
};

/* One connection of a worker. */
struct link {
    struct worker *w;
    struct event *ev; /* EV_WRITE while connecting, then EV_READ */
    int fd;           /* -1 once given up */
    uint32_t id;      /* the connection's number in the whole run */
    uint32_t sent;    /* messages sent */
    uint32_t echoed;  /* messages whose echo is complete */
    uint32_t got;     /* bytes of the next echo checked so far */
    int64_t connect_ns;
};

struct worker {
    const struct options *o;
    struct result *res;
    struct event_base *base;
    struct link *links;
    unsigned n, index;
    int ctl_fd, status_fd;
    /* connecting */
    unsigned next_connect, in_flight, settled;
    struct event *ctl_ev, *deadline_ev;
    /* sending: the next message is number round of links[cursor] */
    struct event *send_ev, *stop_ev;
    uint32_t round;
    unsigned cursor;
    bool all_sent;
    int64_t start_ns, end_ns;
    unsigned char *out, *expect;
};

static volatile sig_atomic_t stop_signal;

/* The size bytes of message seq of connection id: its two numbers, then
 * bytes that depend on both, so an echo from the wrong connection or of
 * the wrong message differs somewhere. */
static void make_message(unsigned char *buf, size_t size, uint32_t id,
                         uint32_t seq)
{
    uint32_t x = id * 2654435761u ^ seq * 40503u;

    memcpy(buf, &id, 4);
    memcpy(buf + 4, &seq, 4);
    for (size_t i = MIN_SIZE; i < size; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char)(x >> 24);
    }
}

static int64_t due_ns(const struct worker *w, const struct link *l,
                      uint32_t seq)
{
    const struct options *o = w->o;
    int64_t interval = (int64_t)o->interval_ms * 1000000;

    return w->start_ns + (int64_t)l->id * interval / o->conns +
           (int64_t)seq * interval;
}

/* Count a problem; keep the first one's description. */
__attribute__((format(printf, 2, 3))) static void fail(struct worker *w,
                                                       const char *fmt, ...)
{
    va_list ap;

    if (w->res->errors++ > 0)
        return; /* the first one says the most */
    va_start(ap, fmt);
    vsnprintf(w->res->error, sizeof(w->res->error), fmt, ap);
    va_end(ap);
}

/* Give up on l: nothing more is sent or read on it. */
static void link_drop(struct link *l)
{
    if (l->ev)
        event_del(l->ev);
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}

/* User and system time of this process (RUSAGE_SELF) or of its reaped
 * children (RUSAGE_CHILDREN), in seconds. */
static double cpu_seconds(int who)
{
    struct rusage ru = {0};

    getrusage(who, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void finish_if_done(struct worker *w)
{
    if (w->all_sent && w->res->echoed == w->res->sent)
        event_base_loopbreak(w->base);
}

/* --- connecting ------------------------------------------------------ */

static void connect_more(struct worker *w);

static void connected_one(struct worker *w)
{
    w->in_flight--;
    if (++w->settled == w->n) {
        char ready = 'R';
        w->res->cpu_connect_s = cpu_seconds(RUSAGE_SELF);
        event_del(w->deadline_ev);
        if (write(w->status_fd, &ready, 1) != 1)
            event_base_loopbreak(w->base); /* the parent is gone */
    } else {
        connect_more(w);
    }
}

static void read_cb(evutil_socket_t fd, short what, void *arg);

static void connect_cb(evutil_socket_t fd, short what, void *arg)
{
    struct link *l = arg;
    struct worker *w = l->w;
    int err = 0;
    socklen_t len = sizeof(err);

    (void)what;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err) {
        fail(w, "connection %u: connect: %s", l->id, strerror(err));
        link_drop(l);
    } else {
        histogram_record(&w->res->connect,
                         (uint64_t)(now_mono_ns() - l->connect_ns));
        w->res->connected++;
        net_nodelay(fd);
        event_assign(l->ev, w->base, fd, EV_READ | EV_PERSIST, read_cb, l);
        event_add(l->ev, NULL);
    }
    connected_one(w);
}

/* Start connecting l: a non-blocking connect to its server address. */
static int link_connect(struct worker *w, struct link *l)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons(w->o->port)};

    sin.sin_addr.s_addr = htonl(w->o->first_addr + l->id % w->o->naddrs);
    l->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0)
        return -1;
    l->ev = event_new(w->base, l->fd, EV_WRITE, connect_cb, l);
    if (!l->ev)
        return -1;
    l->connect_ns = now_mono_ns();
    if (connect(l->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 &&
        errno != EINPROGRESS)
        return -1;
    return event_add(l->ev, NULL);
}

static void connect_more(struct worker *w)
{
    while (w->in_flight < CONNECT_WINDOW && w->next_connect < w->n) {
        struct link *l = &w->links[w->next_connect++];
        char addr[INET_ADDRSTRLEN];
        struct in_addr a = {htonl(w->o->first_addr + l->id % w->o->naddrs)};

        w->in_flight++;
        if (link_connect(w, l) < 0) {
            fail(w, "connection %u to %s: %s", l->id,
                 inet_ntop(AF_INET, &a, addr, sizeof(addr)), strerror(errno));
            link_drop(l);
            connected_one(w);
        }
    }
}

/* -t ran out: the connects still in flight count as failed. */
static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;

    (void)fd;
    (void)what;
    fail(w, "%u of %u connections still not open after %u s", w->in_flight,
         w->n, w->o->connect_s);
    w->next_connect = w->n; /* start no more */
    for (unsigned i = 0; i < w->n; i++) {
        struct link *l = &w->links[i];
        if (l->fd >= 0 && l->ev && event_pending(l->ev, EV_WRITE, NULL)) {
            link_drop(l);
            connected_one(w);
        }
    }
}

/* --- sending and checking -------------------------------------------- */

static void arm_send(struct worker *w, int64_t due, int64_t now)
{
    int64_t wait = due > now ? due - now : 0;
    struct timeval tv = {(time_t)(wait / 1000000000),
                         (suseconds_t)(wait % 1000000000 / 1000)};

    evtimer_add(w->send_ev, &tv);
}

/* Send every message whose time has come, then sleep until the next. */
static void send_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    int64_t now = now_mono_ns();

    (void)fd;
    (void)what;
    for (;;) {
        struct link *l = &w->links[w->cursor];
        int64_t due = due_ns(w, l, w->round);

        if (due >= w->end_ns) {
            w->all_sent = true;
            finish_if_done(w);
            return;
        }
        if (due > now) {
            arm_send(w, due, now);
            return;
        }
        w->res->expected++;
        histogram_record(&w->res->late, (uint64_t)(now - due));
        if (l->fd >= 0) {
            make_message(w->out, w->o->size, l->id, w->round);
            /* a socket that cannot take one small message has a server
             * that stopped reading long ago: no user-space backlog */
            if (write(l->fd, w->out, w->o->size) == (ssize_t)w->o->size) {
                l->sent++;
                w->res->sent++;
            } else {
                fail(w, "connection %u: message %u: %s", l->id, w->round,
                     errno ? strerror(errno) : "short write");
                link_drop(l);
            }
        }
        if (++w->cursor == w->n) {
            w->cursor = 0;
            w->round++;
        }
    }
}

/* Compare len bytes of l's echo stream; false at the first difference. */
static bool check_bytes(struct link *l, const unsigned char *p, size_t len)
{
    struct worker *w = l->w;
    size_t size = w->o->size;

    while (len > 0) {
        size_t part = size - l->got < len ? size - l->got : len;

        if (l->echoed >= l->sent) {
            fail(w, "connection %u: %zu bytes nobody sent", l->id, len);
            return false;
        }
        make_message(w->expect, size, l->id, l->echoed);
        if (memcmp(p, w->expect + l->got, part) != 0) {
            fail(w, "connection %u: echo of message %u differs", l->id,
                 l->echoed);
            return false;
        }
        l->got += (uint32_t)part;
        p += part;
        len -= part;
        if (l->got == size) {
            histogram_record(
                &w->res->latency,
                (uint64_t)(now_mono_ns() - due_ns(w, l, l->echoed)));
            l->echoed++;
            l->got = 0;
            w->res->echoed++;
        }
    }
    return true;
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct link *l = arg;
    unsigned char buf[4096];
    ssize_t n;

    (void)what;
    /* One read: an echo is a few dozen bytes, and whatever does not fit
     * keeps the socket readable for the next turn of the loop. */
    n = read(fd, buf, sizeof(buf));
    if (n > 0) {
        if (!check_bytes(l, buf, (size_t)n))
            link_drop(l);
    } else if (n == 0 || errno != EAGAIN) {
        fail(l->w, "connection %u: %s", l->id,
             n == 0 ? "closed by the server" : strerror(errno));
        link_drop(l);
    }
    finish_if_done(l->w);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;

    (void)fd;
    (void)what;
    event_base_loopbreak(w->base);
}

/* The parent's start time: every worker begins the same schedule. */
static void ctl_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    int64_t start = 0, until;
    struct timeval tv;

    (void)what;
    if (read(fd, &start, sizeof(start)) != sizeof(start) || start == 0) {
        event_base_loopbreak(w->base); /* told to stop, or orphaned */
        return;
    }
    w->start_ns = start;
    w->end_ns = start + (int64_t)w->o->seconds * 1000000000;
    until = w->end_ns - now_mono_ns() + (int64_t)w->o->grace_ms * 1000000;
    tv = (struct timeval){(time_t)(until / 1000000000),
                          (suseconds_t)(until % 1000000000 / 1000)};
    event_del(w->ctl_ev);
    evtimer_add(w->stop_ev, &tv);
    arm_send(w, start, now_mono_ns());
}

/* --- a worker -------------------------------------------------------- */

static int worker_setup(struct worker *w)
{
    struct timeval limit = {(time_t)w->o->connect_s, 0};

    w->base = net_precise_base();
    w->links = calloc(w->n, sizeof(*w->links));
    w->out = malloc(w->o->size);
    w->expect = malloc(w->o->size);
    if (!w->base || !w->links || !w->out || !w->expect)
        return -1;
    w->send_ev = evtimer_new(w->base, send_cb, w);
    w->stop_ev = evtimer_new(w->base, stop_cb, w);
    w->deadline_ev = evtimer_new(w->base, deadline_cb, w);
    w->ctl_ev = event_new(w->base, w->ctl_fd, EV_READ, ctl_cb, w);
    if (!w->send_ev || !w->stop_ev || !w->deadline_ev || !w->ctl_ev ||
        event_add(w->ctl_ev, NULL) < 0 || evtimer_add(w->deadline_ev, &limit))
        return -1;
    for (unsigned i = 0; i < w->n; i++)
        w->links[i] =
            (struct link){.w = w, .fd = -1, .id = w->index + i * w->o->procs};
    return 0;
}

static void free_event(struct event *ev)
{
    if (ev)
        event_free(ev);
}

static void worker_free(struct worker *w)
{
    for (unsigned i = 0; w->links && i < w->n; i++) {
        link_drop(&w->links[i]);
        free_event(w->links[i].ev);
    }
    free_event(w->ctl_ev);
    free_event(w->deadline_ev);
    free_event(w->stop_ev);
    free_event(w->send_ev);
    free(w->expect);
    free(w->out);
    free(w->links);
    if (w->base)
        event_base_free(w->base);
}

/* Worker index's whole life; its exit status for the parent. */
static int worker_main(const struct options *o, unsigned index,
                       struct result *res, int ctl_fd, int status_fd)
{
    struct worker w = {.o = o,
                       .res = res,
                       .index = index,
                       .ctl_fd = ctl_fd,
                       .status_fd = status_fd};

    histogram_init(&res->latency);
    histogram_init(&res->connect);
    histogram_init(&res->late);
    /* connections index, index + procs, ... below conns */
    w.n = (o->conns - index + o->procs - 1) / o->procs;
    if (worker_setup(&w) < 0) {
        fail(&w, "out of memory or events");
    } else {
        connect_more(&w);
        event_base_dispatch(w.base);
        if (w.res->echoed < w.res->sent)
            fail(&w, "%llu of %llu echoes missing %u ms after the last send",
                 (unsigned long long)(w.res->sent - w.res->echoed),
                 (unsigned long long)w.res->sent, o->grace_ms);
    }
    worker_free(&w);
    libevent_global_shutdown();
    res->cpu_s = cpu_seconds(RUSAGE_SELF);
    return res->errors ? 1 : 0;
}

/* --- the parent ------------------------------------------------------ */

struct child {
    pid_t pid;
    int ctl_fd, status_fd; /* the parent's ends */
};

static void parse_options(struct options *o, int argc, char **argv)
{
    struct in_addr a;
    int c;

    opterr = 0;
    while ((c = getopt(argc, argv, ":ha:A:c:P:i:s:d:H:g:t:")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'a':
            if (inet_pton(AF_INET, optarg, &a) != 1)
                opts_fail("bad address '%s': an IPv4 address is needed",
                          optarg);
            o->first_addr = ntohl(a.s_addr);
            break;
        case 'A':
            o->naddrs =
                (unsigned)opts_uint_arg("address count", optarg, 1, 65536);
            break;
        case 'c':
            o->conns =
                (unsigned)opts_uint_arg("connections", optarg, 1, MAX_CONNS);
            break;
        case 'P':
            o->procs =
                (unsigned)opts_uint_arg("processes", optarg, 1, MAX_PROCS);
            break;
        case 'i':
            o->interval_ms =
                (unsigned)opts_uint_arg("interval", optarg, 1, 600000);
            break;
        case 's':
            o->size = (size_t)opts_uint_arg("size", optarg, MIN_SIZE, 4096);
            break;
        case 'd':
            o->seconds = (unsigned)opts_uint_arg("seconds", optarg, 1, 3600);
            break;
        case 'H':
            o->hold_ms = (unsigned)opts_uint_arg("hold", optarg, 0, 3600000);
            break;
        case 'g':
            o->grace_ms = (unsigned)opts_uint_arg("grace", optarg, 0, 600000);
            break;
        case 't':
            o->connect_s =
                (unsigned)opts_uint_arg("connect time", optarg, 1, 3600);
            break;
        default: opts_bad_option(c, optopt);
        }
    }
    o->port = opts_server_port(argc, argv);
    if ((uint64_t)o->first_addr + o->naddrs - 1 > UINT32_MAX)
        opts_fail("%u addresses from the first one run past 255.255.255.255",
                  o->naddrs);
}

/* Sockets per worker: raise the soft open-file limit to the hard one,
 * then pick (or check) the number of workers. */
static int check_fd_limit(struct options *o)
{
    struct rlimit rl;
    rlim_t per;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    if (rl.rlim_cur != rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            log_error("cannot raise the open-file limit: %s", strerror(errno));
            return -1;
        }
    }
    if (rl.rlim_max <= SPARE_FDS) {
        log_error("the open-file hard limit is %llu: raise it (ulimit -Hn)",
                  (unsigned long long)rl.rlim_max);
        return -1;
    }
    per = rl.rlim_max == RLIM_INFINITY ? o->conns : rl.rlim_max - SPARE_FDS;
    if (o->procs == 0)
        o->procs = (unsigned)((o->conns + per - 1) / per);
    if ((o->conns + o->procs - 1) / o->procs > per) {
        log_error("%u connections in %u processes need %u descriptors each, "
                  "but the open-file hard limit is %llu: use -P %llu or more, "
                  "or raise the limit (ulimit -Hn)",
                  o->conns, o->procs,
                  (o->conns + o->procs - 1) / o->procs + SPARE_FDS,
                  (unsigned long long)rl.rlim_max,
                  (unsigned long long)((o->conns + per - 1) / per));
        return -1;
    }
    return 0;
}

/* Ephemeral ports: one per connection to each server address. */
static int check_ports(const struct options *o)
{
    FILE *f = fopen(PORT_RANGE, "r");
    unsigned lo = 0, hi = 0, need = (o->conns + o->naddrs - 1) / o->naddrs;
    int n = f ? fscanf(f, "%u %u", &lo, &hi) : 0;

    if (f)
        fclose(f);
    if (n != 2 || hi < lo)
        return 0; /* not Linux: connect() will say */
    if (need > hi - lo + 1) {
        log_error("%u connections to %u server address(es) need %u "
                  "ephemeral ports each, but %s is %u-%u: use more -A "
                  "or widen it",
                  o->conns, o->naddrs, need, PORT_RANGE, lo, hi);
        return -1;
    }
    return 0;
}

static void stop_handler(int signo) { stop_signal = signo; }

static void watch_signals(void)
{
    struct sigaction sa = {.sa_handler = stop_handler};

    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: poll and wait return */
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Fork worker i; its pipes are kids[i]'s. 0 or -1 with errno. */
static int spawn(const struct options *o, struct result *res,
                 struct child *kids, unsigned i)
{
    int ctl[2], status[2];

    if (pipe2(ctl, O_CLOEXEC) < 0)
        return -1;
    if (pipe2(status, O_CLOEXEC) < 0) {
        close(ctl[0]), close(ctl[1]);
        return -1;
    }
    kids[i].pid = fork();
    if (kids[i].pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        for (unsigned k = 0; k < i; k++)
            close(kids[k].ctl_fd), close(kids[k].status_fd);
        close(ctl[1]), close(status[0]);
        _exit(worker_main(o, i, &res[i], ctl[0], status[1]));
    }
    close(ctl[0]), close(status[1]);
    kids[i].ctl_fd = ctl[1];
    kids[i].status_fd = status[0];
    if (kids[i].pid < 0) {
        close(ctl[1]), close(status[0]);
        return -1;
    }
    return 0;
}

/* Wait until every worker has settled its connections. 0, or -1 when
 * one died first or a stop signal came. */
static int wait_ready(const struct options *o, struct child *kids)
{
    struct pollfd *pfd = calloc(o->procs, sizeof(*pfd));
    unsigned ready = 0;
    int rc = -1;

    if (!pfd)
        return -1;
    for (unsigned i = 0; i < o->procs; i++)
        pfd[i] = (struct pollfd){.fd = kids[i].status_fd, .events = POLLIN};
    while (ready < o->procs && !stop_signal) {
        if (poll(pfd, o->procs, -1) < 0) {
            if (errno == EINTR)
                continue;
            goto out;
        }
        for (unsigned i = 0; i < o->procs; i++) {
            char c;
            if (!pfd[i].revents)
                continue;
            if (read(pfd[i].fd, &c, 1) != 1) {
                log_error("worker %u (pid %d) ended while connecting", i,
                          (int)kids[i].pid);
                goto out;
            }
            pfd[i].fd = -1;
            ready++;
        }
    }
    rc = stop_signal ? -1 : 0;
out:
    free(pfd);
    return rc;
}

/* Tell every worker the start time (0: stop now). */
static void start_all(const struct options *o, struct child *kids,
                      int64_t start)
{
    for (unsigned i = 0; i < o->procs; i++)
        if (write(kids[i].ctl_fd, &start, sizeof(start)) != sizeof(start))
            log_error("worker %u: cannot send the start: %s", i,
                      strerror(errno));
}

/* Reap workers 0 to n-1; a stop signal meanwhile stops them. Returns
 * how many did not exit 0. */
static unsigned reap_all(struct child *kids, unsigned n)
{
    unsigned bad = 0;

    for (unsigned i = 0; i < n; i++) {
        int status;
        while (waitpid(kids[i].pid, &status, 0) < 0) {
            if (errno != EINTR) {
                status = -1;
                break;
            }
            for (unsigned k = i; k < n; k++)
                kill(kids[k].pid, SIGTERM);
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            bad++;
        close(kids[i].ctl_fd);
        close(kids[i].status_fd);
    }
    return bad;
}

/* Add up the workers' results into all; with tell, log the first error
 * of the first few workers that had any. */
static void merge(const struct options *o, const struct result *res,
                  struct result *all, bool tell)
{
    unsigned told = 0;

    histogram_init(&all->latency);
    histogram_init(&all->connect);
    histogram_init(&all->late);
    for (unsigned i = 0; i < o->procs; i++) {
        const struct result *r = &res[i];
        all->connected += r->connected;
        all->sent += r->sent;
        all->expected += r->expected;
        all->echoed += r->echoed;
        all->errors += r->errors;
        all->cpu_connect_s += r->cpu_connect_s;
        all->cpu_s += r->cpu_s;
        histogram_merge(&all->latency, &r->latency);
        histogram_merge(&all->connect, &r->connect);
        histogram_merge(&all->late, &r->late);
        if (tell && r->errors && told++ < 5)
            log_error("worker %u: %llu error(s), the first: %s", i,
                      (unsigned long long)r->errors, r->error);
    }
}

static double us(const struct histogram *h, double p)
{
    return (double)histogram_percentile(h, p) / 1e3;
}

static void print_connected(const struct options *o, const struct result *all,
                            double seconds)
{
    printf("connected=%llu conns=%u procs=%u addrs=%u connect_s=%.2f "
           "connect_p50_us=%.1f connect_p99_us=%.1f connect_max_us=%.1f "
           "connect_cpu_s=%.2f\n",
           (unsigned long long)all->connected, o->conns, o->procs, o->naddrs,
           seconds, us(&all->connect, 50), us(&all->connect, 99),
           all->connect.count ? (double)all->connect.max / 1e3 : 0.0,
           all->cpu_connect_s);
    fflush(stdout);
}

/* The last line; cpu_s is the workers' CPU time in all (connecting
 * included), to compare with what the machine had to give. */
static void print_report(const struct options *o, const struct result *all)
{
    const struct histogram *h = &all->latency;

    printf("conns=%u sent=%llu expected=%llu echoed=%llu errors=%llu "
           "p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f "
           "mean_us=%.1f late_p99_us=%.1f late_max_us=%.1f cpu_s=%.2f\n",
           o->conns, (unsigned long long)all->sent,
           (unsigned long long)all->expected, (unsigned long long)all->echoed,
           (unsigned long long)all->errors, us(h, 50), us(h, 90), us(h, 99),
           us(h, 99.9), h->count ? (double)h->max / 1e3 : 0.0,
           histogram_mean(h) / 1e3, us(&all->late, 99),
           all->late.count ? (double)all->late.max / 1e3 : 0.0, all->cpu_s);
    fflush(stdout);
}

/* Connect, hold, run, report: the parent's whole story. */
static int run(const struct options *o, struct result *res, struct child *kids)
{
    struct result all = {0};
    int64_t t0 = now_mono_ns();
    unsigned spawned = 0, bad;
    int ready;

    while (spawned < o->procs && spawn(o, res, kids, spawned) == 0)
        spawned++;
    if (spawned < o->procs) {
        log_error("cannot start worker %u: %s", spawned, strerror(errno));
        for (unsigned i = 0; i < spawned; i++)
            kill(kids[i].pid, SIGTERM);
        reap_all(kids, spawned);
        return 1;
    }
    ready = wait_ready(o, kids);
    if (ready == 0) {
        merge(o, res, &all, false); /* so far: the connect figures */
        print_connected(o, &all, (double)(now_mono_ns() - t0) / 1e9);
    }
    if (ready < 0 || all.connected < o->conns) {
        /* Not every connection opened: hold what did for -H (to be
         * measured), then stop, and say why. */
        struct timespec hold = {(time_t)(o->hold_ms / 1000),
                                (long)(o->hold_ms % 1000) * 1000000};
        if (ready == 0)
            nanosleep(&hold, NULL);
        start_all(o, kids, 0);
    } else {
        start_all(o, kids, now_mono_ns() + (int64_t)o->hold_ms * 1000000);
    }
    bad = reap_all(kids, o->procs);
    memset(&all, 0, sizeof(all));
    merge(o, res, &all, true);
    print_report(o, &all);
    if (stop_signal)
        return 1;
    return bad == 0 && all.errors == 0 && all.connected == o->conns &&
                   all.sent == all.expected && all.echoed == all.sent
               ? 0
               : 1;
}

int main(int argc, char **argv)
{
    struct options o = {.first_addr = INADDR_LOOPBACK,
                        .naddrs = 1,
                        .conns = 10000,
                        .interval_ms = 1000,
                        .seconds = 20,
                        .grace_ms = 5000,
                        .connect_s = 60,
                        .size = 64};
    struct result *res;
    struct child *kids;
    int rc;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    parse_options(&o, argc, argv);
    if (o.procs > o.conns)
        o.procs = o.conns;
    if (check_ports(&o) < 0 || check_fd_limit(&o) < 0)
        return 1;
    watch_signals();
    res = mmap(NULL, o.procs * sizeof(*res), PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    kids = calloc(o.procs, sizeof(*kids));
    if (res == MAP_FAILED || !kids) {
        log_error("out of memory for %u workers", o.procs);
        return 1;
    }
    rc = run(&o, res, kids);
    free(kids);
    munmap(res, o.procs * sizeof(*res));
    return rc;
}

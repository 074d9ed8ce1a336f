/* harness.c -- helpers for Check tests that drive the real programs. */
#include "harness.h"
#include "now.h"

#include "net.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS       64
#define KEYS_PER_RUNNER 256 /* 16 from harness_key(), 128 from _base() */

static struct hproc *procs[MAX_PROCS];
static char tmpdir[64];
static char errbuf[512];

static void set_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void set_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
    va_end(ap);
}

const char *harness_error(void) { return errbuf; }

int harness_ms(int ms)
{
    const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
    int mult = m ? atoi(m) : 1;

    return ms * (mult > 0 ? mult : 1);
}

/* An anonymous file for captured output: unlinked at once, it vanishes
 * with the last descriptor, however the test ends. */
static int make_capture(void)
{
    char path[] = "/tmp/svrtut-out-XXXXXX";
    int fd = mkstemp(path);

    if (fd >= 0) {
        unlink(path);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    return fd;
}

static void child_exec(const char *const argv[], const char *in_path,
                       int out_fd, int err_fd)
{
    int in_fd = open(in_path ? in_path : "/dev/null", O_RDONLY);

    /* The program must not outlive a failed test. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (in_fd < 0 || dup2(in_fd, STDIN_FILENO) < 0 ||
        dup2(out_fd, STDOUT_FILENO) < 0 || dup2(err_fd, STDERR_FILENO) < 0)
        _exit(127);
    /* execv's prototype predates const; it does not modify argv. */
    execv(argv[0], (char *const *)(uintptr_t)argv);
    dprintf(STDERR_FILENO, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

struct hproc *harness_start(const char *const argv[])
{
    return harness_start_input(argv, NULL);
}

struct hproc *harness_start_input(const char *const argv[], const char *in_path)
{
    struct hproc *p = calloc(1, sizeof(*p));
    int slot;

    for (slot = 0; slot < MAX_PROCS && procs[slot]; slot++)
        ;
    if (!p || slot == MAX_PROCS) {
        free(p);
        set_error("too many processes");
        return NULL;
    }
    p->out_fd = make_capture();
    p->err_fd = make_capture();
    if (p->out_fd < 0 || p->err_fd < 0) {
        set_error("mkstemp: %s", strerror(errno));
        goto out_close;
    }
    fflush(NULL);
    p->pid = fork();
    if (p->pid == 0)
        child_exec(argv, in_path, p->out_fd, p->err_fd);
    if (p->pid < 0) {
        set_error("fork: %s", strerror(errno));
        goto out_close;
    }
    procs[slot] = p;
    return p;

out_close:
    if (p->out_fd >= 0)
        close(p->out_fd);
    if (p->err_fd >= 0)
        close(p->err_fd);
    free(p);
    return NULL;
}

/* Everything written to a capture file so far, NUL-terminated. pread()
 * leaves the offset the child writes at untouched. */
static char *read_capture(int fd)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    ssize_t n;

    while (buf) {
        if (len + 1 == cap) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                break;
            buf = bigger;
        }
        n = pread(fd, buf + len, cap - len - 1, (off_t)len);
        if (n <= 0) {
            buf[len] = '\0';
            return buf;
        }
        len += (size_t)n;
    }
    free(buf);
    return strdup("");
}

char *harness_stdout(const struct hproc *p) { return read_capture(p->out_fd); }
char *harness_stderr(const struct hproc *p) { return read_capture(p->err_fd); }

static bool try_reap(struct hproc *p, bool block)
{
    if (p->reaped)
        return true;
    if (waitpid(p->pid, &p->status, block ? 0 : WNOHANG) == p->pid)
        p->reaped = true;
    return p->reaped;
}

int harness_wait_output(struct hproc *p, const char *needle, int timeout_ms)
{
    long long deadline = (now_mono_ns() / 1000000) + harness_ms(timeout_ms);
    bool found = false;

    for (;;) {
        char *out = harness_stdout(p);
        found = strstr(out, needle) != NULL;
        free(out);
        if (found)
            return 0;
        if (try_reap(p, false)) {
            set_error("process exited before printing '%s'",
                      strcmp(needle, "\n") ? needle : "a line");
            return -1;
        }
        if ((now_mono_ns() / 1000000) > deadline) {
            set_error("no '%s' within %d ms",
                      strcmp(needle, "\n") ? needle : "line",
                      harness_ms(timeout_ms));
            return -1;
        }
        usleep(5000);
    }
}

struct hproc *harness_start_server(const char *const argv[])
{
    struct hproc *p = harness_start(argv);
    char *out, *line;
    unsigned port;

    if (!p)
        return NULL;
    if (harness_wait_output(p, "\n", 5000) < 0 ||
        harness_wait_output(p, "listening on ", 5000) < 0) {
        char *err = harness_stderr(p);
        fprintf(stderr, "%s did not start (%s); its stderr:\n%s", argv[0],
                harness_error(), err);
        free(err);
        return NULL;
    }
    out = harness_stdout(p);
    line = strstr(out, "listening on ");
    /* "listening on 127.0.0.1:PORT" or "[::1]:PORT": the last colon */
    line = line ? strchr(line, '\n') : NULL;
    if (line) {
        *line = '\0';
        line = strrchr(out, ':');
    }
    if (!line || sscanf(line + 1, "%u", &port) != 1 || port > 65535) {
        set_error("cannot parse the listening line: %s", out);
        free(out);
        return NULL;
    }
    p->port = (uint16_t)port;
    free(out);
    return p;
}

int harness_wait(struct hproc *p, int timeout_ms)
{
    long long deadline = (now_mono_ns() / 1000000) + harness_ms(timeout_ms);

    while (!try_reap(p, false)) {
        if ((now_mono_ns() / 1000000) > deadline) {
            set_error("pid %d still running after %d ms", (int)p->pid,
                      harness_ms(timeout_ms));
            return -1;
        }
        usleep(2000);
    }
    if (WIFEXITED(p->status))
        return WEXITSTATUS(p->status);
    set_error("pid %d killed by signal %d", (int)p->pid,
              WIFSIGNALED(p->status) ? WTERMSIG(p->status) : 0);
    return -1;
}

int harness_stop(struct hproc *p, int sig, int timeout_ms)
{
    if (!p->reaped)
        kill(p->pid, sig);
    return harness_wait(p, timeout_ms);
}

static void forget(struct hproc *p)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i] == p)
            procs[i] = NULL;
    close(p->out_fd);
    close(p->err_fd);
    free(p);
}

int harness_run(const char *const argv[], int timeout_ms, char **out,
                char **err)
{
    return harness_run_input(argv, NULL, timeout_ms, out, err);
}

int harness_run_input(const char *const argv[], const char *in_path,
                      int timeout_ms, char **out, char **err)
{
    struct hproc *p = harness_start_input(argv, in_path);
    int rc;

    if (!p)
        return -1;
    rc = harness_wait(p, timeout_ms);
    if (!p->reaped) {
        kill(p->pid, SIGKILL);
        try_reap(p, true);
    }
    if (out)
        *out = harness_stdout(p);
    if (err)
        *err = harness_stderr(p);
    forget(p);
    return rc;
}

static unsigned runner_pid(void)
{
    const char *env = getenv("SVRTUT_RUNNER_PID");

    return env ? (unsigned)atoi(env) : (unsigned)getpid();
}

/* 0x40 + 22 bits of pid (pid_max is at most 2^22) + 8 bits: unique to
 * this runner, never IPC_PRIVATE, never negative. */
static unsigned runner_keys(void)
{
    return 0x40000000u | (runner_pid() & 0x3fffff) << 8;
}

static void remove_keys(void)
{
    unsigned base = runner_keys();

    for (unsigned i = 0; i < KEYS_PER_RUNNER; i++) {
        int id = shmget((key_t)(base | i), 0, 0);
        if (id >= 0)
            shmctl(id, IPC_RMID, NULL);
    }
}

static void remove_tmpdir(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf /tmp/svrtut-test-%u", runner_pid());
    if (system(cmd) != 0)
        fprintf(stderr, "harness: cannot remove /tmp/svrtut-test-%u\n",
                runner_pid());
    tmpdir[0] = '\0';
}

/* --- another local user ------------------------------------------------ */

#define MAX_FIFOS 64

struct foreign_list {
    int nkeys, nfifos;
    key_t keys[KEYS_PER_RUNNER];
    char fifos[MAX_FIFOS][256];
};

/* Every FIFO under dir, one level of subdirectories deep (the servers'
 * -d directories live in harness_tmpdir()). */
static void list_fifos(struct foreign_list *l, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct stat st;
    char path[sizeof(l->fifos[0])];

    if (!d)
        return;
    while ((e = readdir(d)) != NULL && l->nfifos < MAX_FIFOS) {
        if (e->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >=
                (int)sizeof(path) ||
            lstat(path, &st) < 0)
            continue;
        if (S_ISFIFO(st.st_mode))
            memcpy(l->fifos[l->nfifos++], path, sizeof(path));
        else if (S_ISDIR(st.st_mode) && depth > 0)
            list_fifos(l, path, depth - 1);
    }
    closedir(d);
}

/* In the child, as nobody: 0 if everything was refused, else writes what
 * was not into msg. */
static int foreign_probe(const struct foreign_list *l, char *msg, size_t len)
{
    for (int i = 0; i < l->nkeys; i++) {
        int id = shmget(l->keys[i], 0, 0400);
        void *a;
        if (id < 0)
            id = shmget(l->keys[i], 0, 0); /* the id, to try shmat */
        if (id < 0)
            continue;
        if ((a = shmat(id, NULL, SHM_RDONLY)) != (void *)-1 ||
            (a = shmat(id, NULL, 0)) != (void *)-1) {
            snprintf(msg, len, "segment key %#x attached by nobody",
                     (unsigned)l->keys[i]);
            return -1;
        }
    }
    for (int i = 0; i < l->nfifos; i++) {
        int fd = open(l->fifos[i], O_RDONLY | O_NONBLOCK);
        if (fd < 0)
            fd = open(l->fifos[i], O_WRONLY | O_NONBLOCK);
        if (fd >= 0 || errno == ENXIO) { /* ENXIO: opened, no reader */
            snprintf(msg, len, "FIFO %s opened by nobody", l->fifos[i]);
            return -1;
        }
    }
    return 0;
}

int harness_foreign_user_refused(const char *what, int *nsegs, int *nfifos)
{
    static struct foreign_list l; /* 20 KiB: not on the stack */
    struct passwd *pw = getpwnam("nobody");
    char msg[300] = "";
    int fds[2], status;
    pid_t pid;

    if (geteuid() != 0) {
        fprintf(stderr, "SKIPPED: %s (not root: cannot become nobody)\n", what);
        return 1;
    }
    if (!pw) {
        set_error("no user nobody");
        return -1;
    }
    memset(&l, 0, sizeof(l));
    for (unsigned i = 0; i < KEYS_PER_RUNNER; i++)
        if (shmget((key_t)(runner_keys() | i), 0, 0) >= 0)
            l.keys[l.nkeys++] = (key_t)(runner_keys() | i);
    list_fifos(&l, harness_tmpdir(), 1);
    *nsegs = l.nkeys;
    *nfifos = l.nfifos;
    if (pipe(fds) < 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        int rc;
        close(fds[0]);
        if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 ||
            setuid(pw->pw_uid) < 0 || geteuid() == 0)
            _exit(2);
        rc = foreign_probe(&l, msg, sizeof(msg));
        if (write(fds[1], msg, strlen(msg)) < 0)
            _exit(3);
        _exit(rc == 0 ? 0 : 1);
    }
    close(fds[1]);
    if (pid < 0 || read(fds[0], msg, sizeof(msg) - 1) < 0)
        msg[0] = '\0';
    close(fds[0]);
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        set_error("%s", WIFEXITED(status) && WEXITSTATUS(status) == 1
                            ? msg
                            : "cannot become nobody");
        return -1;
    }
    return 0;
}

void harness_sweep(void)
{
    remove_keys();
    remove_tmpdir();
}

/* The first use in each test process sweeps what a failed test left. */
static void sweep_once(void)
{
    static pid_t swept_in;

    if (swept_in != getpid()) {
        swept_in = getpid();
        remove_keys();
    }
}

int harness_key(void)
{
    static unsigned counter;

    sweep_once();
    return (int)(runner_keys() | (counter++ % 16));
}

int harness_key_base(void)
{
    sweep_once();
    return (int)(runner_keys() | 0x80);
}

const char *harness_tmpdir(void)
{
    struct stat st;

    sweep_once();
    if (tmpdir[0])
        return tmpdir;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/svrtut-test-%u", runner_pid());
    if (mkdir(tmpdir, 0700) < 0 && errno != EEXIST)
        goto fail;
    /* A predictable name in /tmp: make sure it is our own directory. */
    if (lstat(tmpdir, &st) < 0 || !S_ISDIR(st.st_mode) ||
        st.st_uid != geteuid() || (st.st_mode & 0077) != 0)
        goto fail;
    return tmpdir;
fail:
    set_error("cannot use %s as a private directory", tmpdir);
    tmpdir[0] = '\0';
    return NULL;
}

void harness_cleanup(void)
{
    for (int i = 0; i < MAX_PROCS; i++) {
        struct hproc *p = procs[i];
        if (!p)
            continue;
        if (!p->reaped) {
            kill(p->pid, SIGKILL);
            try_reap(p, true);
        }
        forget(p);
    }
    harness_sweep();
}

long harness_status_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    size_t len = strlen(field);
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, len) == 0 && line[len] == ':' &&
            sscanf(line + len + 1, "%ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

long harness_rss_kib(pid_t pid) { return harness_status_kib(pid, "VmRSS"); }

long harness_cpu_ms(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long utime, stime;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "pid (comm) state ...": comm may hold spaces; fields 14 and 15,
     * utime and stime in clock ticks, come 11 and 12 after state. */
    p = strrchr(buf, ')');
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
               &utime, &stime) != 2)
        return -1;
    return (long)((utime + stime) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

int harness_connect(uint16_t port) { return net_connect("127.0.0.1", port); }

uint32_t harness_rand(uint32_t *state)
{
    /* xorshift32: cheap, and a zero state would stick at zero */
    uint32_t x = *state ? *state : 0x9e3779b9u;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

void harness_fill(unsigned char *buf, size_t len, uint32_t seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)harness_rand(&seed);
}

uint32_t harness_seed(const char *what)
{
    const char *env = getenv("SVRTUT_SEED");
    uint32_t seed;

    if (env && *env)
        seed = (uint32_t)strtoul(env, NULL, 0);
    else
        seed = (uint32_t)(now_mono_ns() ^ (uint64_t)getpid() << 16);
    fprintf(stderr, "%s: seed %u (SVRTUT_SEED=%u replays it)\n", what,
            (unsigned)seed, (unsigned)seed);
    return seed;
}

int harness_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

size_t harness_write_until_stalled(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    size_t sent = 0;
    int idle_ms = 0;

    while (sent < len && idle_ms < 500) {
        ssize_t n = send(fd, p + sent, len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            idle_ms = 0;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            break;
        } else {
            usleep(10000);
            idle_ms += 10;
        }
    }
    return sent;
}

int harness_read_all(int fd, void *buf, size_t len)
{
    char *p = buf;

    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The server went away in the middle of s, which allows it. */
static int stream_closed(struct echo_stream *s)
{
    s->closed = true;
    return 1;
}

/* One step of stream s: returns 1 when finished, 0 to go on, -1 on error. */
static int pump_one(struct echo_stream *s, short revents, size_t idx)
{
    unsigned char buf[65536];
    ssize_t n;

    if ((revents & POLLOUT) && s->sent < s->len) {
        size_t chunk = s->len - s->sent;
        n = send(s->fd, s->data + s->sent, chunk > 65536 ? 65536 : chunk,
                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            if (s->may_close && (errno == EPIPE || errno == ECONNRESET))
                return stream_closed(s);
            set_error("stream %zu: send: %s", idx, strerror(errno));
            return -1;
        }
        if (n > 0)
            s->sent += (size_t)n;
        if (s->sent == s->len && s->shut_wr)
            shutdown(s->fd, SHUT_WR);
    }
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        n = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (n < 0 && s->may_close && errno == ECONNRESET)
            return stream_closed(s);
        if (n < 0) {
            set_error("stream %zu: recv: %s after %zu of %zu bytes", idx,
                      strerror(errno), s->recvd, s->len);
            return -1;
        }
        if (n == 0) {
            if (s->recvd == s->len && s->want_eof)
                return 1;
            if (s->may_close)
                return stream_closed(s);
            set_error("stream %zu: EOF after %zu of %zu bytes", idx, s->recvd,
                      s->len);
            return -1;
        }
        if ((size_t)n > s->len - s->recvd) {
            set_error("stream %zu: %zd bytes more than were sent", idx,
                      (ssize_t)(s->recvd + (size_t)n - s->len));
            return -1;
        }
        if (memcmp(buf, s->data + s->recvd, (size_t)n) != 0) {
            set_error("stream %zu: wrong bytes at offset %zu", idx, s->recvd);
            return -1;
        }
        s->recvd += (size_t)n;
    }
    return s->recvd == s->len && !s->want_eof;
}

int echo_pump(struct echo_stream *s, size_t n, int timeout_ms)
{
    struct pollfd *pfd = calloc(n, sizeof(*pfd));
    long long deadline = (now_mono_ns() / 1000000) + harness_ms(timeout_ms);
    size_t done = 0;
    int rc = 0;

    if (!pfd) {
        set_error("out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        pfd[i].fd = s[i].fd;
        if (s[i].sent == s[i].len && s[i].shut_wr)
            shutdown(s[i].fd, SHUT_WR);
        if ((s[i].recvd == s[i].len && !s[i].want_eof) || s[i].closed) {
            pfd[i].fd = -1; /* nothing to send or wait for */
            done++;
        }
    }
    while (done < n) {
        for (size_t i = 0; i < n; i++) {
            if (pfd[i].fd < 0)
                continue;
            pfd[i].events = POLLIN;
            if (s[i].sent < s[i].len)
                pfd[i].events |= POLLOUT;
        }
        if ((now_mono_ns() / 1000000) > deadline) {
            set_error("timeout: %zu of %zu streams done", done, n);
            rc = -1;
            break;
        }
        if (poll(pfd, n, 100) < 0 && errno != EINTR) {
            set_error("poll: %s", strerror(errno));
            rc = -1;
            break;
        }
        for (size_t i = 0; i < n && rc == 0; i++) {
            int r;
            if (pfd[i].fd < 0 || !pfd[i].revents)
                continue;
            r = pump_one(&s[i], pfd[i].revents, i);
            if (r < 0)
                rc = -1;
            if (r == 1) {
                pfd[i].fd = -1;
                done++;
            }
        }
        if (rc < 0)
            break;
    }
    free(pfd);
    return rc;
}

int echo_check_clients(uint16_t port, int conns, int msgs, int timeout_ms)
{
    struct echo_stream *s = calloc((size_t)conns, sizeof(*s));
    int rc = -1, opened = 0;

    if (!s) {
        set_error("out of memory");
        return -1;
    }
    for (; opened < conns; opened++) {
        size_t len = 0, cap = (size_t)msgs * 220;
        unsigned char *b = malloc(cap);
        if (!b) {
            set_error("out of memory");
            goto out;
        }
        for (int m = 0; m < msgs; m++) {
            int head =
                snprintf((char *)b + len, cap - len, "c%03d m%04d ", opened, m);
            size_t body = (size_t)(opened * 7 + m * 13) % 190;
            harness_fill(b + len + head, body,
                         (uint32_t)(opened * msgs + m + 1));
            len += (size_t)head + body;
            b[len++] = '\n';
        }
        s[opened] = (struct echo_stream){
            .fd = harness_connect(port), .data = b, .len = len};
        if (s[opened].fd < 0) {
            set_error("connection %d: %s", opened, strerror(errno));
            free(b);
            goto out;
        }
    }
    rc = echo_pump(s, (size_t)conns, timeout_ms);
out:
    for (int i = 0; i < opened; i++) {
        close(s[i].fd);
        free((void *)(uintptr_t)s[i].data);
    }
    free(s);
    return rc;
}

int echo_check_sizes(uint16_t port, int timeout_ms)
{
    static const size_t sizes[] = {0,    1,         4095,           4096,
                                   4097, 64 * 1024, 8 * 1024 * 1024};
    enum { N = sizeof(sizes) / sizeof(sizes[0]) };
    struct echo_stream s[N];
    unsigned char *data = malloc(sizes[N - 1]);
    int rc = -1, opened = 0;

    if (!data) {
        set_error("out of memory");
        return -1;
    }
    harness_fill(data, sizes[N - 1], 42);
    for (int i = 0; i < 256; i++)
        data[i] = (unsigned char)i;
    for (; opened < N; opened++) {
        s[opened] = (struct echo_stream){
            .fd = harness_connect(port), .data = data, .len = sizes[opened]};
        if (s[opened].fd < 0) {
            set_error("connection %d: %s", opened, strerror(errno));
            goto out;
        }
    }
    rc = echo_pump(s, N, timeout_ms);
out:
    for (int i = 0; i < opened; i++)
        close(s[i].fd);
    free(data);
    return rc;
}

int echo_check_half_close(uint16_t port, int timeout_ms)
{
    size_t len = 1024 * 1024;
    unsigned char *data = malloc(len);
    struct echo_stream s;
    int rc = -1;

    if (!data) {
        set_error("out of memory");
        return -1;
    }
    harness_fill(data, len, 7);
    s = (struct echo_stream){.fd = harness_connect(port),
                             .data = data,
                             .len = len,
                             .shut_wr = true,
                             .want_eof = true};
    if (s.fd < 0)
        set_error("connect: %s", strerror(errno));
    else
        rc = echo_pump(&s, 1, timeout_ms);
    if (s.fd >= 0)
        close(s.fd);
    free(data);
    return rc;
}

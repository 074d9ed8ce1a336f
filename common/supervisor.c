/* supervisor.c -- start, restart and stop the child processes of one
 * server.
 *
 * The supervisor is not on the data path: it sleeps in the launcher's
 * event loop until SIGCHLD. How a child died and how long it lived decide
 * what follows (supervisor.h): SIGKILL or a long life, a restart at once;
 * a failure soon after starting, a restart after 100, 200, 400 ... ms,
 * and after SUPERVISOR_QUICK_DEATHS of them in a row, the end. */
#include "supervisor.h"

#include "log.h"
#include "now.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FIRST_PAUSE_MS 100

struct child {
    struct supervisor *sv;
    char **argv; /* our copy, for restarts; argv[0] is the name */
    enum supervisor_policy policy;
    pid_t pid; /* 0 while not running */
    int64_t started_ns;
    unsigned quick_deaths; /* in a row */
    struct event *restart_ev;
};

struct supervisor {
    struct event_base *base;
    struct event *child_ev; /* SIGCHLD */
    char bindir[PATH_MAX];
    struct child **children;
    unsigned n;
    bool failed;
    supervisor_restart_cb restart_cb;
    void *arg;
};

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

/* fork and exec argv[0]: a path as given if it has a '/', else a program
 * in bindir; its stdout goes to out_fd if >= 0.
 * The child's pid, or -1 with errno. */
static pid_t spawn(const struct supervisor *sv, char *const argv[], int out_fd)
{
    char path[PATH_MAX + 64];
    pid_t parent = getpid(), pid;

    if (strchr(argv[0], '/'))
        snprintf(path, sizeof(path), "%s", argv[0]);
    else
        snprintf(path, sizeof(path), "%s/%s", sv->bindir, argv[0]);
    fflush(NULL);
    pid = fork();
    if (pid != 0)
        return pid;
    /* Die with the launcher, even if it is killed with SIGKILL; if it
     * died before prctl, we were reparented: give up at once. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(1);
    if (out_fd >= 0 && dup2(out_fd, STDOUT_FILENO) < 0)
        _exit(1);
    execv(path, argv);
    log_error("cannot run %s: %s", path, strerror(errno));
    _exit(1);
}

/* Read one line from fd within timeout_ms; false on EOF or timeout. A
 * child's death (SIGCHLD, caught for the event loop) interrupts poll:
 * that is no reason to stop waiting for another child's line. */
static bool read_line(int fd, char *buf, size_t size, int timeout_ms)
{
    int64_t deadline = now_mono_ns() + (int64_t)timeout_ms * 1000000;
    size_t len = 0;

    while (len + 1 < size) {
        int left = (int)((deadline - now_mono_ns()) / 1000000), n;
        struct pollfd pfd = {fd, POLLIN, 0};

        if (left <= 0)
            return false;
        n = poll(&pfd, 1, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || read(fd, buf + len, 1) <= 0)
            return false;
        if (buf[len++] == '\n')
            break;
    }
    buf[len] = '\0';
    return len > 0 && buf[len - 1] == '\n';
}

static void free_argv(char **argv)
{
    for (char **a = argv; a && *a; a++)
        free(*a);
    free(argv);
}

static char **copy_argv(const char *const argv[])
{
    size_t n = 0;
    char **copy;

    while (argv[n])
        n++;
    copy = calloc(n + 1, sizeof(*copy));
    for (size_t i = 0; copy && i < n; i++) {
        copy[i] = strdup(argv[i]);
        if (!copy[i]) {
            free_argv(copy);
            return NULL;
        }
    }
    return copy;
}

static void restart_cb(evutil_socket_t fd, short what, void *arg)
{
    struct child *c = arg;
    struct supervisor *sv = c->sv;

    (void)fd;
    (void)what;
    c->pid = spawn(sv, c->argv, -1);
    c->started_ns = now_mono_ns();
    if (c->pid < 0) {
        log_error("cannot restart %s: %s", c->argv[0], strerror(errno));
        c->pid = 0;
        sv->failed = true;
        event_base_loopbreak(sv->base);
        return;
    }
    if (sv->restart_cb)
        sv->restart_cb(c->argv[0], sv->arg);
}

static void log_death(const struct child *c, pid_t pid, int status)
{
    if (WIFSIGNALED(status))
        log_error("%s (pid %d) killed by signal %d", c->argv[0], (int)pid,
                  WTERMSIG(status));
    else
        log_error("%s (pid %d) exited with status %d", c->argv[0], (int)pid,
                  WEXITSTATUS(status));
}

/* The pause before restarting c, which just died (status): none after a
 * SIGKILL or a long life; after a failure soon after starting, one that
 * doubles with each such failure in a row (counted in c->quick_deaths). */
static struct timeval restart_pause(struct child *c, int status)
{
    int64_t lived_ms = (now_mono_ns() - c->started_ns) / 1000000;
    struct timeval pause = {0, 0};
    long ms;

    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        return pause; /* killed from outside: no sign of poison */
    if (lived_ms >= SUPERVISOR_QUICK_MS) {
        c->quick_deaths = 0;
        return pause;
    }
    ms = (long)FIRST_PAUSE_MS << c->quick_deaths++;
    pause.tv_sec = ms / 1000;
    pause.tv_usec = ms % 1000 * 1000;
    return pause;
}

/* c died: restart it after its pause, or end the server. */
static void child_died(struct child *c, pid_t pid, int status)
{
    struct supervisor *sv = c->sv;
    struct timeval pause;

    c->pid = 0;
    log_death(c, pid, status);
    if (c->policy == SUPERVISOR_ESSENTIAL) {
        log_error("%s ended: stopping the server", c->argv[0]);
        goto out_fail;
    }
    pause = restart_pause(c, status);
    if (c->quick_deaths >= SUPERVISOR_QUICK_DEATHS) {
        log_error("%s failed %u times in a row within %d ms of starting; "
                  "giving up (its errors are above)",
                  c->argv[0], c->quick_deaths, SUPERVISOR_QUICK_MS);
        goto out_fail;
    }
    log_error("restarting %s in %ld ms", c->argv[0],
              (long)(pause.tv_sec * 1000 + pause.tv_usec / 1000));
    evtimer_add(c->restart_ev, &pause);
    return;

out_fail:
    sv->failed = true;
    event_base_loopbreak(sv->base);
}

static void sigchld_cb(evutil_socket_t fd, short what, void *arg)
{
    struct supervisor *sv = arg;
    pid_t pid;
    int status;

    (void)fd;
    (void)what;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (unsigned i = 0; i < sv->n; i++) {
            if (sv->children[i]->pid == pid) {
                child_died(sv->children[i], pid, status);
                break;
            }
        }
    }
}

struct supervisor *supervisor_new(struct event_base *base,
                                  supervisor_restart_cb cb, void *arg)
{
    struct supervisor *sv = calloc(1, sizeof(*sv));

    if (!sv)
        return NULL;
    sv->base = base;
    sv->restart_cb = cb;
    sv->arg = arg;
    if (bindir_of_self(sv->bindir, sizeof(sv->bindir)) < 0)
        goto out_free;
    sv->child_ev = evsignal_new(base, SIGCHLD, sigchld_cb, sv);
    if (!sv->child_ev)
        goto out_free;
    if (evsignal_add(sv->child_ev, NULL) < 0)
        goto out_free_event;
    return sv;

out_free_event:
    event_free(sv->child_ev);
out_free:
    free(sv);
    return NULL;
}

/* A new child record, not yet started. */
static struct child *child_new(struct supervisor *sv, const char *const argv[],
                               enum supervisor_policy policy)
{
    struct child **grown, *c;

    grown = realloc(sv->children, (sv->n + 1) * sizeof(*grown));
    if (!grown)
        return NULL;
    sv->children = grown;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->sv = sv;
    c->policy = policy;
    c->argv = copy_argv(argv);
    c->restart_ev = evtimer_new(sv->base, restart_cb, c);
    if (!c->argv || !c->restart_ev) {
        if (c->restart_ev)
            event_free(c->restart_ev);
        free_argv(c->argv);
        free(c);
        return NULL;
    }
    sv->children[sv->n++] = c;
    return c;
}

/* Wait for c's "listening on" line on fd; log what went wrong if none. */
static int wait_listening(struct child *c, int fd, char *line, size_t size)
{
    int status;

    if (read_line(fd, line, size, SUPERVISOR_LISTEN_MS) &&
        strncmp(line, "listening on ", 13) == 0)
        return 0;
    if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
        log_death(c, c->pid, status);
        c->pid = 0;
    } else {
        log_error("%s (pid %d) did not say it was listening within %d ms",
                  c->argv[0], (int)c->pid, SUPERVISOR_LISTEN_MS);
    }
    return -1;
}

int supervisor_start(struct supervisor *sv, const char *const argv[],
                     enum supervisor_policy policy, char *line, size_t size)
{
    struct child *c = child_new(sv, argv, policy);
    int pipefd[2] = {-1, -1}, rc = 0;

    if (!c) {
        log_error("cannot start %s: out of memory", argv[0]);
        return -1;
    }
    if (line && pipe2(pipefd, O_CLOEXEC) < 0) {
        log_error("cannot start %s: pipe: %s", argv[0], strerror(errno));
        return -1;
    }
    c->started_ns = now_mono_ns();
    c->pid = spawn(sv, c->argv, pipefd[1]);
    if (c->pid < 0) {
        log_error("cannot start %s: %s", argv[0], strerror(errno));
        c->pid = 0;
        rc = -1;
    } else if (line) {
        close(pipefd[1]);
        pipefd[1] = -1;
        rc = wait_listening(c, pipefd[0], line, size);
    }
    /* The child prints nothing after its "listening on" line. */
    if (pipefd[0] >= 0)
        close(pipefd[0]);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    return rc;
}

bool supervisor_failed(const struct supervisor *sv) { return sv->failed; }

static void signal_all(const struct supervisor *sv, int sig)
{
    for (unsigned i = 0; i < sv->n; i++)
        if (sv->children[i]->pid > 0)
            kill(sv->children[i]->pid, sig);
}

/* SIGTERM every child, reap them, SIGKILL those left at the deadline. */
static void stop_all(struct supervisor *sv)
{
    struct timespec tick = {0, 10 * 1000 * 1000};
    int waited = 0, status;
    pid_t pid;

    signal_all(sv, SIGTERM);
    for (;;) {
        pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0 && errno == ECHILD)
            break;
        if (pid > 0) {
            if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
                log_error("child %d exited with status %d", (int)pid,
                          WEXITSTATUS(status));
            for (unsigned i = 0; i < sv->n; i++)
                if (sv->children[i]->pid == pid)
                    sv->children[i]->pid = 0;
            continue;
        }
        if (waited == SUPERVISOR_STOP_MS) {
            log_error("children still running after %d ms: killing them",
                      SUPERVISOR_STOP_MS);
            signal_all(sv, SIGKILL);
        }
        nanosleep(&tick, NULL);
        waited += 10;
    }
}

void supervisor_free(struct supervisor *sv)
{
    if (!sv)
        return;
    stop_all(sv);
    for (unsigned i = 0; i < sv->n; i++) {
        event_free(sv->children[i]->restart_ev);
        free_argv(sv->children[i]->argv);
        free(sv->children[i]);
    }
    free(sv->children);
    event_free(sv->child_ev);
    free(sv);
}

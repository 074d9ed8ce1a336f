/* harness.h -- helpers for Check tests that drive the real programs.
 *
 * Programs started here write stdout and stderr to unlinked temporary
 * files (so a chatty program never blocks on a full pipe, and the files
 * vanish however the test ends), die with the test process
 * (PR_SET_PDEATHSIG), and are killed and reaped by harness_cleanup(),
 * which suites install as a checked teardown.
 *
 * In Check's fork mode a failed assertion ends the test process at once,
 * teardown skipped. So keys and directories belong to the runner:
 * runner_main.c exports SVRTUT_RUNNER_PID, the first harness_key() or
 * harness_tmpdir() of each test sweeps what an earlier failed test left,
 * and the runner sweeps once more before it exits (harness_sweep()). */
#ifndef COMMON_TESTS_HARNESS_H
#define COMMON_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct hproc {
    pid_t pid;
    uint16_t port; /* from "listening on ADDR:PORT", else 0 */
    int status;    /* wait status once reaped */
    bool reaped;
    /* Captured stdout and stderr: files unlinked as soon as they are
     * created, so nothing is left in /tmp even when a failing test exits
     * before harness_cleanup() (Check's _exit in fork mode). */
    int out_fd;
    int err_fd;
};

/* Timeouts scale with CK_TIMEOUT_MULTIPLIER (sanitizer builds set it).
 * The rule: every function here that takes a timeout_ms scales it
 * itself, once; callers pass plain milliseconds. harness_ms() is for the
 * loops and waits a test times on its own. */
int harness_ms(int ms);

/* Start argv (argv[0] is a path) with output captured and stdin from
 * /dev/null, or from the file in_path. NULL on failure. */
struct hproc *harness_start(const char *const argv[]);
struct hproc *harness_start_input(const char *const argv[],
                                  const char *in_path);
/* Start a server and wait for its "listening on" line; NULL if it exits
 * or stays silent (its stderr is copied to ours to explain why). */
struct hproc *harness_start_server(const char *const argv[]);
/* Wait for line (a substring) to appear in p's stdout. 0 or -1. */
int harness_wait_output(struct hproc *p, const char *needle, int timeout_ms);
/* Wait for exit: the exit code, or -1 after a timeout or if a signal
 * killed it (p->status tells which). */
int harness_wait(struct hproc *p, int timeout_ms);
/* Send sig, then harness_wait(). */
int harness_stop(struct hproc *p, int sig, int timeout_ms);
/* Run to completion and return the exit code (-1: timeout or signal);
 * *out and *err (each may be NULL) receive the output, to be freed. */
int harness_run(const char *const argv[], int timeout_ms, char **out,
                char **err);
int harness_run_input(const char *const argv[], const char *in_path,
                      int timeout_ms, char **out, char **err);
/* The captured output so far, NUL-terminated, to be freed. */
char *harness_stdout(const struct hproc *p);
char *harness_stderr(const struct hproc *p);
/* Kill, reap and forget every process started; remove every segment of
 * harness_key() and the directory of harness_tmpdir(). */
void harness_cleanup(void);

/* A System V key private to this test runner (derived from its pid): up
 * to 16 different ones per test. */
int harness_key(void);
/* The first of HARNESS_BASE_KEYS consecutive keys private to this
 * runner, for programs that derive several keys from one base. */
#define HARNESS_BASE_KEYS 128
int harness_key_base(void);
/* A private directory (0700) of this runner for FIFOs and files. */
const char *harness_tmpdir(void);
/* Remove every key and file of this runner. */
void harness_sweep(void);

/* Another local user must reach nothing this runner's programs made.
 * Run as root, a child that drops to the user nobody tries every segment
 * under this runner's keys (shmget() for reading, shmat() read-only and
 * read-write) and every FIFO under harness_tmpdir() (open for reading
 * and for writing). 0 when all were refused, with how many of each were
 * tried in *nsegs and *nfifos; -1 with the first one that was not in
 * harness_error(). Not root: prints "SKIPPED: what (not root)" on stderr
 * and returns 1. */
int harness_foreign_user_refused(const char *what, int *nsegs, int *nfifos);

/* Resident set size of a live process in KiB, or -1. */
long harness_rss_kib(pid_t pid);
/* A "Field: N kB" line of /proc/PID/status (VmRSS, RssAnon...), or -1. */
long harness_status_kib(pid_t pid, const char *field);
/* CPU time (user + system) a live process has used so far, in ms, or -1. */
long harness_cpu_ms(pid_t pid);
/* A blocking TCP connection to 127.0.0.1:port, or -1. */
int harness_connect(uint16_t port);
/* Deterministic pseudo-random bytes: the same seed gives the same bytes. */
void harness_fill(unsigned char *buf, size_t len, uint32_t seed);
/* The next number of the xorshift32 stream *state (never 0 once
 * started; a zero state is replaced by a fixed one). */
uint32_t harness_rand(uint32_t *state);
/* A seed for a test's random choices (kill moments, sizes): SVRTUT_SEED
 * when it is set, to replay a failure, else a new one. Printed on stderr
 * as "what: seed N (SVRTUT_SEED=N replays it)". */
uint32_t harness_seed(const char *what);
/* Write or read exactly len bytes (blocking). 0 or -1. */
int harness_write_all(int fd, const void *buf, size_t len);
int harness_read_all(int fd, void *buf, size_t len);
/* Write without reading until the peer stops taking bytes for half a
 * second (or all len are written): how many were written. The socket is
 * non-blocking meanwhile; an error other than EAGAIN also stops it. */
size_t harness_write_until_stalled(int fd, const void *buf, size_t len);

/* One connection of echo_pump(): data is sent, the same bytes must come
 * back in order. sent/recvd may start above 0 to resume a stream. */
struct echo_stream {
    int fd;
    const unsigned char *data;
    size_t len, sent, recvd;
    bool shut_wr;  /* half-close once everything is sent */
    bool want_eof; /* after the echo, the server must close */
    /* The server may go away (a process of it killed): EOF or a reset
     * before the end finishes the stream with closed set, not an error.
     * Wrong or extra bytes still are. */
    bool may_close;
    bool closed;
};

/* Drive all streams at once (non-blocking, poll) until every byte is
 * echoed. 0 on success; -1 on a mismatch, early EOF, error or timeout,
 * with the reason in harness_error(). */
int echo_pump(struct echo_stream *s, size_t n, int timeout_ms);
const char *harness_error(void);

/* The black-box echo checks every echo server of the course must pass,
 * shared by the chapters and the exercises. Each connects to
 * 127.0.0.1:port and returns 0, or -1 with the reason in harness_error(). */
/* conns connections at once, each pipelining msgs lines of 12 to 200
 * bytes (a header, then pseudo-random binary bytes). */
int echo_check_clients(uint16_t port, int conns, int msgs, int timeout_ms);
/* One connection per size: 0, 1, 4095, 4096, 4097, 64 KiB and 8 MiB, all
 * at once; every byte value crosses the wire. */
int echo_check_sizes(uint16_t port, int timeout_ms);
/* 1 MiB, then shutdown(SHUT_WR): the whole echo must arrive, then EOF. */
int echo_check_half_close(uint16_t port, int timeout_ms);

#endif

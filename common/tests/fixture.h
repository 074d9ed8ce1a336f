/* fixture.h -- Check-aware helpers that every suite driving real programs
 * shares: start a server or fail the test saying why, stop it and insist
 * on a clean exit, the program-contract checks (-h, bad arguments), and a
 * counter read from a statistics block as viewstats would show it.
 *
 * Each of these fails the running test (ck_assert) with what the program
 * did: its exit status or signal and the end of its stderr.
 *
 * Timeouts, here and in harness.h, are given in plain milliseconds and
 * scaled once, inside the harness (CK_TIMEOUT_MULTIPLIER under
 * sanitizers). Never pass harness_ms() to them: that scales twice.
 * harness_ms() is for loops a test times itself. */
#ifndef COMMON_TESTS_FIXTURE_H
#define COMMON_TESTS_FIXTURE_H

#include "harness.h"

#include <check.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* How many lines of a program's stderr a failure shows. */
#define FIXTURE_STDERR_LINES 5

/* Like ck_assert_msg(), with srv's state and stderr under the message (the
 * message first: describing srv may change harness_error()): a "server:"
 * line (still running, exited with status N, was killed by signal S) and
 * the last lines of its stderr, each after "stderr:". make
 * check-exercise reads them, and names one cause when every test of an
 * exercise fails with the same "server:" line. srv may be NULL. */
#define fixture_assert(srv, expr, ...)                                         \
    do {                                                                       \
        if (!(expr)) {                                                         \
            const char *fx_msg_ = fixture_format(__VA_ARGS__);                 \
            ck_abort_msg("%s%s", fx_msg_, fixture_describe(srv));              \
        }                                                                      \
    } while (0)
/* The message of a failure, formatted into a static buffer. */
const char *fixture_format(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* "\nserver: ...\nstderr: ..." for p, in a static buffer; "" for NULL. */
const char *fixture_describe(struct hproc *p);

/* Start a server and wait for its "listening on" line; if it does not
 * come, fail the test with the reason and what the server did. */
struct hproc *fixture_start(const char *const argv[]);
/* SIGTERM p and fail the test unless it exits 0 within timeout_ms. */
void fixture_stop_clean(struct hproc *p, int timeout_ms);
/* Fail the test with msg and what p did (fixture_describe). */
void fixture_fail_with(struct hproc *p, const char *msg);

/* "prog -h" exits 0 with "usage:" and want (an option it documents) on
 * stdout. */
void fixture_check_help(const char *prog, const char *want);
/* argv exits 2 with nothing on stdout; stderr is one line "prog: ..."
 * holding want (NULL: anything), then the usage. */
void fixture_check_bad_args(const char *const argv[], const char *want);

/* Wait until p's stderr holds needle: 0, or -1 after timeout_ms. */
int fixture_wait_stderr(struct hproc *p, const char *needle, int timeout_ms);

/* make memcheck runs the suites under valgrind (SVRTUT_MEMCHECK set),
 * some 20 times slower and with descriptor limits of its own, where a
 * test whose claim is about timing or scale cannot hold. There: print
 * "SKIPPED under valgrind: what" on stderr and return true (the test
 * returns); elsewhere false. */
bool fixture_skip_under_valgrind(const char *what);

/* Segments that are not a server's own, for tests that a server leaves
 * them alone: a segment of size bytes under key, this user's, mode 0600,
 * filled with 0xa5 (no svrtut header). Its shmid. */
int fixture_foreign_segment(key_t key, size_t size);
/* Is there a segment under key? */
bool fixture_segment_exists(key_t key);
/* The segment under key attached read-write, to corrupt it on purpose;
 * detach with shmdt(). */
void *fixture_attach_raw(key_t key);

/* A two-process server under test (echosvr_v5, echosvr_v6 or one built
 * in an exercise): a base key and a FIFO directory of this runner's. */
struct fixture_srv {
    key_t base;
    char key[16];  /* base, for -k */
    char dir[128]; /* for -d */
};
/* This test's keys and directory (harness_key_base, harness_tmpdir). */
void fixture_srv_init(struct fixture_srv *s);
/* prog -p 0 -k KEY -d DIR, then extra (NULL-terminated, or NULL), started
 * with fixture_start(). */
struct hproc *fixture_srv_start(const struct fixture_srv *s, const char *prog,
                                const char *const extra[]);
/* Kill md with SIGKILL and wait until its launcher has started another
 * (md's statistics written by a new pid). */
void fixture_kill_md(const struct fixture_srv *s);
/* A process that kills md with SIGKILL kills times at random moments (a
 * pause of 0 to max_pause_ms drawn from seed before each) and waits after
 * each for the launcher's new md. Its pid. */
pid_t fixture_md_killer(const struct fixture_srv *s, int kills,
                        int max_pause_ms, uint32_t seed);
/* Has the killer finished all its kills? Fails the test if it failed
 * (md not found, or not restarted within 5 s). */
bool fixture_md_killer_done(pid_t killer);
/* conns clients stream len bytes each through the server on port, again
 * and again, while md is killed kills times at random moments (seed
 * printed, harness_seed()); then a last round: every byte must come back
 * once, in order. */
void fixture_stream_through_md_kills(const struct fixture_srv *s, uint16_t port,
                                     int conns, size_t len, int kills);
/* conns clients stream len bytes each through srv, a launcher of n
 * io_conn, until one io_conn, drawn at random, is killed with SIGKILL at
 * a random moment (seed printed). Every client must see a correct echo,
 * whole or cut short by the server closing, never a wrong byte; at least
 * one is cut short; the launcher says io_conn was killed and exits 1. */
void fixture_stream_through_io_kill(const struct fixture_srv *s,
                                    struct hproc *srv, unsigned n, int conns,
                                    size_t len);
/* The pids of md (pids[0]) and io_conn 0 .. n-1 (pids[1 + i]). */
void fixture_srv_pids(const struct fixture_srv *s, unsigned n, pid_t *pids);
/* After a server stopped: none of kids (nkids pids) alive, no segment
 * under its keys, nothing in its FIFO directory. */
void fixture_srv_assert_gone(const struct fixture_srv *s, const pid_t *kids,
                             int nkids);

/* Another local user reaches nothing of this runner's
 * (harness_foreign_user_refused()): want_segs segments and want_fifos
 * FIFOs were tried, and every one refused. Not root: skipped, and
 * harness says so on stderr. */
void fixture_foreign_user_refused(const char *what, int want_segs,
                                  int want_fifos);

/* Faults every server must survive: the suites' "faults" test cases.
 * A "good client" is one that sends and reads its echo; each helper
 * fails the test (with what srv did) unless the good clients are echoed
 * during and after the fault. */

/* Close fd with a reset (SO_LINGER 0) instead of a FIN. */
void fixture_reset_close(int fd);
/* A new good client: len bytes through srv and back within 5 s. */
void fixture_echo_ok(struct hproc *srv, size_t len);
/* n clients connect and vanish without reading: every other one after
 * sending half of a 64 KiB message, the others silent; with a reset
 * (reset) or a plain close. A good client connected before them is
 * echoed between them and after, and so is a new one. */
void fixture_vanishing_clients(struct hproc *srv, int n, bool reset);
/* conns clients write to srv and never read until srv stops taking
 * bytes (none wrote for 300 ms), which it must before one has written
 * max bytes. Their sockets are left open in fds[]. The bytes written by
 * all. */
size_t fixture_flood(struct hproc *srv, int fds[], int conns, size_t max);
/* srv runs with -b 512k: FIXTURE_HOGS clients flood it (fixture_flood,
 * 100 MiB at most each, sockets left in fds[]). At 256 KiB each they
 * would make it hold 4 MiB; holder (the pid holding the connections:
 * srv's or io_conn's) must grow by under 2 MiB of private memory (not
 * checked under sanitizers or valgrind, whose allocators keep freed
 * memory), and a good client must be echoed meanwhile. */
#define FIXTURE_HOGS 16
void fixture_byte_limit(struct hproc *srv, pid_t holder, int fds[]);
/* Then, for a server with statistics under key: bytes_held within the
 * bound, past it by slack per client at most; limit_pauses for half the
 * clients at least; the clients reset, and bytes_held back to 0. */
void fixture_byte_limit_counted(key_t key, size_t slack, int fds[]);
/* The private resident memory of pid (RssAnon in /proc/PID/status: its
 * heap, not shared memory) in KiB; fails the test if there is none. */
long fixture_anon_kib(pid_t pid);
/* srv holds at most max connections (its -c): max good clients are
 * echoed, one more is closed at once (EOF or reset within a second)
 * while the max are still echoed, and once one of them leaves a new
 * client is served. */
void fixture_conn_limit(struct hproc *srv, int max);
/* srv runs with -t 1: a client that sends nothing is closed after about
 * a second, while one that sends every 250 ms for 2.5 s is echoed all
 * along. */
void fixture_idle_timeout(struct hproc *srv);
/* Lower this process's soft descriptor limit (RLIMIT_NOFILE) to nofile,
 * so that a server started next, and its children, inherit it;
 * fixture_restore_fds() puts the old limit back. */
void fixture_limit_fds(int nofile);
void fixture_restore_fds(void);
/* srv, started under fixture_limit_fds(), gets conns more clients than
 * its descriptors allow: the ones accepted are echoed, a good client
 * connected before them too; acceptor (the pid that accepts: srv's, or
 * io_conn's) logs the EMFILE back-off and does not spin (under 30% of a
 * CPU meanwhile); once the accepted ones leave, the ones that waited in
 * the listen backlog are served. */
void fixture_fd_limit(struct hproc *srv, pid_t acceptor, int conns);

/* Counter name of the statistics block under key, read once (waiting up
 * to 5 s for the block to be published). */
uint64_t fixture_counter(key_t key, const char *name);
/* Counter name under key once it reads want (a server commits as it
 * goes: a close may show a moment later), or its value after
 * timeout_ms. */
uint64_t fixture_counter_until(key_t key, const char *name, uint64_t want,
                               int timeout_ms);
/* The pid of the writer of the block under key. */
pid_t fixture_writer_pid(key_t key);

#endif

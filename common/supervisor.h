/* supervisor.h -- the child processes of one server: started from the
 * launcher's own directory, restarted when one that may die dies, and
 * stopped together.
 *
 * Each child has a policy. A SUPERVISOR_RESTART child (md) holds nothing
 * the server cannot rebuild, so it is restarted. Killed with SIGKILL (by
 * a person, a test, the OOM killer) it is restarted at once: surviving
 * that is the point of the design. A child that fails by itself (exits
 * non-zero, or crashes) soon after starting is restarted after a growing
 * pause, and one that does so SUPERVISOR_QUICK_DEATHS times in a row is
 * poisoned (a corrupt queue, a segment that is not ours): the supervisor
 * says so in one line and breaks the loop, failed, instead of restarting
 * it for ever. A SUPERVISOR_ESSENTIAL child (io_conn) holds connections:
 * its death ends the server, failed. Children die with the launcher, even
 * when it is killed with SIGKILL (PR_SET_PDEATHSIG). */
#ifndef COMMON_SUPERVISOR_H
#define COMMON_SUPERVISOR_H

#include <event2/event.h>

#include <stdbool.h>
#include <stddef.h>

/* "Soon after starting": within this many ms. md fails in well under a
 * second when it cannot use its segments; a healthy one runs for good.
 * Builds for sanitizers and valgrind (SVRTUT_DEBUG) run up to 20 times
 * slower, and a failing md may take longer than 2 s to fail: counted as
 * a long life, it would be restarted for ever. */
#ifdef SVRTUT_DEBUG
#define SUPERVISOR_QUICK_MS 20000
#else
#define SUPERVISOR_QUICK_MS 2000
#endif
/* Quick deaths in a row that make the supervisor give up. */
#define SUPERVISOR_QUICK_DEATHS 5
/* How long children get to exit on SIGTERM before SIGKILL. */
#define SUPERVISOR_STOP_MS 5000
/* How long a child may take to print its "listening on" line (under
 * valgrind on a busy machine, io_conn took more than 10 s). */
#ifdef SVRTUT_DEBUG
#define SUPERVISOR_LISTEN_MS 60000
#else
#define SUPERVISOR_LISTEN_MS 10000
#endif

enum supervisor_policy { SUPERVISOR_RESTART, SUPERVISOR_ESSENTIAL };

/* Told of every restart, after the child is started again. */
typedef void (*supervisor_restart_cb)(const char *name, void *arg);

struct supervisor;

/* A supervisor whose children run from the directory of the running
 * program and whose deaths are seen on base (SIGCHLD). cb may be NULL.
 * NULL with errno on failure. */
struct supervisor *supervisor_new(struct event_base *base,
                                  supervisor_restart_cb cb, void *arg);
/* Start argv[0] from that directory (or as given, if it holds a '/'). With line
 * not NULL, its stdout goes to a pipe and this waits for its first line, which
 * must start with "listening on ", and copies it into line (size bytes). 0, or
 * -1 after logging what the child did (exit status, silence). */
int supervisor_start(struct supervisor *sv, const char *const argv[],
                     enum supervisor_policy policy, char *line, size_t size);
/* Has a child ended the server (an essential one died, or one was
 * poisoned)? The loop was broken when it happened. */
bool supervisor_failed(const struct supervisor *sv);
/* Stop every child (SIGTERM, SIGKILL after SUPERVISOR_STOP_MS), reap
 * them and free. NULL is a no-op. */
void supervisor_free(struct supervisor *sv);

#endif

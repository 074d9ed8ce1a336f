/* extest.h -- what the exercises' tests add to the harness: a failure
 * that says what the learner's server did.
 *
 * A failed assertion ends a Check test at once (fork mode), so whatever
 * explains it must be in its message. ex_assert() adds two things under
 * the message: a "server:" line (still running, exited with status N,
 * killed by signal S) and the last lines of the server's stderr, each
 * prefixed "stderr:". scripts/check-exercise.sh prints them under the
 * failing test and, when every test fails with the same "server:" line,
 * names that one cause first. */
#ifndef EXERCISES_TESTLIB_EXTEST_H
#define EXERCISES_TESTLIB_EXTEST_H

#include "harness.h"

#include <check.h>

/* How many lines of the server's stderr a failure shows. */
#define EX_STDERR_LINES 5

/* Like ck_assert_msg(), with srv's state and stderr under the message
 * (the message first: describing srv may change harness_error()). srv
 * may be NULL: no server to describe. */
#define ex_assert(srv, expr, ...)                                              \
    do {                                                                       \
        if (!(expr)) {                                                         \
            const char *ex_msg_ = ex_format(__VA_ARGS__);                      \
            ck_abort_msg("%s%s", ex_msg_, ex_describe(srv));                   \
        }                                                                      \
    } while (0)

/* Start argv (a server) and wait for its "listening on" line; on failure
 * the test fails with the reason, the server's exit status and the end of
 * its stderr. */
struct hproc *ex_start_server(const char *const argv[]);

/* The message of a failure, formatted into a static buffer. */
const char *ex_format(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* "\nserver: ...\nstderr: ..." for p, in a static buffer; "" for NULL. */
const char *ex_describe(struct hproc *p);

#endif

/* log.h -- timestamped logging to stderr with a level switch. */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Name the program for every line (basename of argv0) and set the level. */
void log_init(const char *argv0, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* The program name given to log_init(), "svrtut" before it. */
const char *log_progname(void);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A line that may repeat at the rate of messages (a peer that keeps
 * sending garbage) goes through a limit: at most one line a second from
 * one call site, and the next line that passes says how many were held
 * back. log_limit_pass() is its test; log_error_limited() the usual use. */
struct log_limit {
    long long next_ns;  /* no line before this CLOCK_MONOTONIC time */
    unsigned long held; /* lines held back since the last one */
};
bool log_limit_pass(struct log_limit *lim, unsigned long *held);

#define log_error_limited(...)                                                 \
    do {                                                                       \
        static struct log_limit lim_;                                          \
        unsigned long held_;                                                   \
        if (log_limit_pass(&lim_, &held_)) {                                   \
            if (held_)                                                         \
                log_msg(LOG_ERROR, "(%lu lines like the next held back)",      \
                        held_);                                                \
            log_msg(LOG_ERROR, __VA_ARGS__);                                   \
        }                                                                      \
    } while (0)

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
/* Debug lines sit on hot paths: test the level before formatting. */
#define log_debug(...)                                                         \
    do {                                                                       \
        if (log_get_level() >= LOG_DEBUG)                                      \
            log_msg(LOG_DEBUG, __VA_ARGS__);                                   \
    } while (0)

#endif

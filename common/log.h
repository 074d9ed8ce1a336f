/* log.h -- timestamped logging to stderr with a level switch. */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Name the program for every line (basename of argv0) and set the level. */
void log_init(const char *argv0, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* The program name given to log_init(), "svrtut" before it. */
const char *log_progname(void);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

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

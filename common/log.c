/* log.c -- timestamped logging to stderr with a level switch.
 *
 * Lines look like "2026-11-27 18:40:01.123 echosvr_v1[4242] info: text".
 * Each line is formatted into one buffer and written with one write(2), so
 * lines from the processes of one server do not interleave mid-line. */
#include "log.h"

#include "now.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level cur_level = LOG_INFO;
static const char *progname = "svrtut";

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_init(const char *argv0, enum log_level level)
{
    const char *slash = argv0 ? strrchr(argv0, '/') : NULL;

    if (argv0)
        progname = slash ? slash + 1 : argv0;
    cur_level = level;
}

void log_set_level(enum log_level level) { cur_level = level; }

enum log_level log_get_level(void) { return cur_level; }

const char *log_progname(void) { return progname; }

void log_msg(enum log_level level, const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    size_t n;
    int len;
    va_list ap;

    if (level > cur_level)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
    /* %.64s: argv[0] is the caller's to choose, the buffer is not */
    len = snprintf(line + n, sizeof(line) - n,
                   ".%03ld %.64s[%ld] %s: ", ts.tv_nsec / 1000000, progname,
                   (long)getpid(), level_names[level]);
    n += len > 0 ? (size_t)len : 0;
    va_start(ap, fmt);
    len = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    /* A longer message is cut, keeping room for the newline. */
    n = len < 0 ? n : n + (size_t)len;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, n) < 0)
        return; /* nowhere left to report it */
}

bool log_limit_pass(struct log_limit *lim, unsigned long *held)
{
    long long now = now_mono_ns();

    if (now < lim->next_ns) {
        lim->held++;
        return false;
    }
    lim->next_ns = now + 1000000000LL;
    *held = lim->held;
    lim->held = 0;
    return true;
}

/* extest.c -- failures that say what the learner's server did. */
#include "extest.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

const char *ex_format(const char *fmt, ...)
{
    static char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return msg;
}

/* The state of p: reaped by now, or given 50 ms to finish dying (a
 * server that crashed a moment ago is still a zombie to be reaped). */
static void describe_state(struct hproc *p, char *buf, size_t size)
{
    int code = harness_wait(p, 50);

    if (code >= 0)
        snprintf(buf, size, "exited with status %d", code);
    else if (p->reaped && WIFSIGNALED(p->status))
        snprintf(buf, size, "was killed by signal %d (%s)", WTERMSIG(p->status),
                 strsignal(WTERMSIG(p->status)));
    else
        snprintf(buf, size, "still running");
}

/* Append the last EX_STDERR_LINES lines of text to out, each after
 * "\nstderr: ". */
static void append_tail(char *out, size_t size, const char *text)
{
    const char *end = text + strlen(text), *start;
    int lines = 0;

    while (end > text && end[-1] == '\n')
        end--;
    for (start = end; start > text; start--)
        if (start[-1] == '\n' && ++lines == EX_STDERR_LINES)
            break;
    while (start < end) {
        const char *nl = memchr(start, '\n', (size_t)(end - start));
        const char *stop = nl ? nl : end;
        size_t used = strlen(out);

        snprintf(out + used, size - used, "\nstderr: %.*s", (int)(stop - start),
                 start);
        start = stop + 1;
    }
}

const char *ex_describe(struct hproc *p)
{
    static char buf[2048];
    char state[128];
    char *err;

    if (!p)
        return "";
    describe_state(p, state, sizeof(state));
    snprintf(buf, sizeof(buf), "\nserver: %s", state);
    err = harness_stderr(p);
    if (err[0] == '\0')
        snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
                 "\nstderr: (nothing)");
    else
        append_tail(buf, sizeof(buf), err);
    free(err);
    return buf;
}

/* The port of "listening on ADDR:PORT" (the last colon: [::1]:PORT). */
static unsigned listening_port(struct hproc *p)
{
    char *out = harness_stdout(p), *line = strstr(out, "listening on ");
    char *colon = NULL;
    unsigned port = 0;

    if (line) {
        line[strcspn(line, "\n")] = '\0';
        colon = strrchr(line, ':');
    }
    if (!colon || sscanf(colon + 1, "%u", &port) != 1 || port > 65535)
        port = 0;
    free(out);
    return port;
}

struct hproc *ex_start_server(const char *const argv[])
{
    struct hproc *p = harness_start(argv);

    ck_assert_msg(p != NULL, "cannot start %s: %s", argv[0], harness_error());
    ex_assert(p, harness_wait_output(p, "listening on ", 5000) == 0,
              "%s did not start: %s", argv[0], harness_error());
    p->port = (uint16_t)listening_port(p);
    ex_assert(p, p->port != 0, "%s printed no port in its listening line",
              argv[0]);
    return p;
}

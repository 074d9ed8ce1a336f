/* srvkeys.c -- the key layout of a two-process server. */
#include "srvkeys.h"

#include "spscq.h"
#include "stats.h"

#include <errno.h>
#include <stdio.h>

_Static_assert(SRVKEYS_FIXED >= 3, "the launcher, md and one extra key");
_Static_assert(SRVKEYS_PER_IO >= 3, "two queues and the statistics");
_Static_assert(SRVKEYS_MAX_IO <= 999, "FIFO names fit SRVKEYS_PATH_MAX");

void srvkeys_fifo(char *buf, size_t size, const char *dir, const char *name,
                  unsigned i)
{
    snprintf(buf, size, "%s/%s.%u", dir, name, i);
}

/* Keep going after a failure, and remember the first. */
static void note(int rc, int *first)
{
    if (rc < 0 && *first == 0)
        *first = errno ? errno : EIO;
}

int srvkeys_remove(key_t base, const char *dir, unsigned n)
{
    char path[SRVKEYS_PATH_MAX];
    int first = 0;

    for (unsigned i = 0; i < n && i < SRVKEYS_MAX_IO; i++) {
        srvkeys_fifo(path, sizeof(path), dir, "io2md", i);
        note(spscq_remove_key(srvkeys_io2md(base, i), path), &first);
        srvkeys_fifo(path, sizeof(path), dir, "md2io", i);
        note(spscq_remove_key(srvkeys_md2io(base, i), path), &first);
        note(stats_remove_key(srvkeys_io_stats(base, i)), &first);
    }
    note(stats_remove_key(srvkeys_md_stats(base)), &first);
    note(stats_remove_key(srvkeys_launcher_stats(base)), &first);
    errno = first;
    return first ? -1 : 0;
}

const char *srvkeys_format_stats(char *buf, size_t size, key_t base, unsigned n)
{
    unsigned shown = n < SRVKEYS_VIEW_IO ? n : SRVKEYS_VIEW_IO;
    size_t len;

    len = (size_t)snprintf(buf, size, "-k %#x -k %#x",
                           (unsigned)srvkeys_md_stats(base),
                           (unsigned)srvkeys_launcher_stats(base));
    for (unsigned i = 0; i < shown && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, " -k %#x",
                                (unsigned)srvkeys_io_stats(base, i));
    if (n > shown && len < size)
        snprintf(buf + len, size - len, " (io_conn i: %#x + %ui)",
                 (unsigned)srvkeys_io_stats(base, 0), SRVKEYS_PER_IO);
    return buf;
}

/* mqpair.c -- the two queues joining an io_conn process and md. */
#include "mqpair.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int mqpair_open(struct mqpair *p, key_t base, const char *dir, unsigned i,
                enum mqpair_side side)
{
    char io2md[SRVKEYS_PATH_MAX], md2io[SRVKEYS_PATH_MAX];
    struct spscq *a, *b;
    bool created;
    int saved;

    if (i >= SRVKEYS_MAX_IO) {
        errno = EINVAL;
        return -1;
    }
    srvkeys_fifo(io2md, sizeof(io2md), dir, "io2md", i);
    srvkeys_fifo(md2io, sizeof(md2io), dir, "md2io", i);
    /* io_conn produces io2md and consumes md2io; md the other way. */
    a = spscq_open_or_create(
        srvkeys_io2md(base, i), io2md, MQPAIR_CAPACITY,
        side == MQPAIR_IO ? SPSCQ_PRODUCER : SPSCQ_CONSUMER, &created);
    if (!a)
        return -1;
    b = spscq_open_or_create(
        srvkeys_md2io(base, i), md2io, MQPAIR_CAPACITY,
        side == MQPAIR_IO ? SPSCQ_CONSUMER : SPSCQ_PRODUCER, &created);
    if (!b) {
        saved = errno;
        spscq_close(a);
        errno = saved;
        return -1;
    }
    p->out = side == MQPAIR_IO ? a : b;
    p->in = side == MQPAIR_IO ? b : a;
    return 0;
}

void mqpair_close(struct mqpair *p)
{
    spscq_close(p->in);
    spscq_close(p->out);
    p->in = p->out = NULL;
}

int mqpair_private_dir(const char *dir)
{
    struct stat st;

    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -1;
    if (lstat(dir, &st) < 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    if (st.st_uid != geteuid() || (st.st_mode & 0077) != 0) {
        errno = EACCES;
        return -1;
    }
    return 0;
}

const char *mqpair_default_dir(char *buf, size_t size)
{
    snprintf(buf, size, "/tmp/svrtut-%u", (unsigned)geteuid());
    return buf;
}

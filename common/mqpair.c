/* mqpair.c -- the two queues joining an io_conn process and md. */
#include "mqpair.h"

#include "shmem.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static void fifo_path(char *buf, size_t size, const char *dir, const char *name,
                      unsigned i)
{
    snprintf(buf, size, "%s/%s.%u", dir, name, i);
}

int mqpair_open(struct mqpair *p, key_t base, const char *dir, unsigned i,
                enum mqpair_side side)
{
    char io2md[MQPAIR_PATH_MAX], md2io[MQPAIR_PATH_MAX];
    key_t k_io2md = (key_t)(base + 4 * (int)i), k_md2io = k_io2md + 1;
    struct spscq *a, *b;
    bool created;
    int saved;

    if (i >= MQPAIR_MAX_IO) {
        errno = EINVAL;
        return -1;
    }
    fifo_path(io2md, sizeof(io2md), dir, "io2md", i);
    fifo_path(md2io, sizeof(md2io), dir, "md2io", i);
    /* io_conn produces io2md and consumes md2io; md the other way. */
    a = spscq_open_or_create(
        k_io2md, io2md, MQPAIR_CAPACITY,
        side == MQPAIR_IO ? SPSCQ_PRODUCER : SPSCQ_CONSUMER, &created);
    if (!a)
        return -1;
    b = spscq_open_or_create(
        k_md2io, md2io, MQPAIR_CAPACITY,
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

static int unlink_fifo(const char *dir, const char *name, unsigned i)
{
    char path[MQPAIR_PATH_MAX];

    fifo_path(path, sizeof(path), dir, name, i);
    return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int mqpair_remove_all(key_t base, const char *dir, unsigned n)
{
    int rc = 0;

    for (unsigned i = 0; i < n && i < MQPAIR_MAX_IO; i++) {
        rc |= shmem_remove_key((key_t)(base + 4 * (int)i));
        rc |= shmem_remove_key((key_t)(base + 4 * (int)i + 1));
        rc |= shmem_remove_key(mqpair_io_stats_key(base, i));
        rc |= unlink_fifo(dir, "io2md", i);
        rc |= unlink_fifo(dir, "md2io", i);
    }
    rc |= shmem_remove_key(mqpair_md_stats_key(base));
    rc |= shmem_remove_key(mqpair_launcher_stats_key(base));
    return rc ? -1 : 0;
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

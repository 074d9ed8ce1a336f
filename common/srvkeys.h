/* srvkeys.h -- the key layout of a two-process server: every System V key
 * and FIFO name that io_conn, md and their launcher use, derived from one
 * base key and one directory:
 *
 *   base + 0         the launcher's statistics (and its lock on the key)
 *   base + 1         md's statistics
 *   base + 2 .. 15   a chapter's own segments (srvkeys_extra())
 *   base + 16 + 4i   io_conn i -> md queue     FIFO DIR/io2md.<i>
 *   base + 17 + 4i   md -> io_conn i queue     FIFO DIR/md2io.<i>
 *   base + 18 + 4i   io_conn i's statistics
 *
 * for io_conn 0 <= i < SRVKEYS_MAX_IO (base + 19 + 4i is left unused, so
 * that io_conn i's keys start at base + 0x10 + 4i, easy to read in
 * ipcs). The fixed keys come first so that they stay where they are
 * whatever the number of io_conn; a server with n io_conn owns
 * srvkeys_span(n) keys from base.
 *
 * Every process computes the same names from -k and -d, so they meet
 * without talking, whichever starts first. Scripts and people never redo
 * this arithmetic: the launcher prints the keys (srvkeys_format_stats()). */
#ifndef COMMON_SRVKEYS_H
#define COMMON_SRVKEYS_H

#include <stddef.h>
#include <sys/types.h>

/* Most io_conn processes of one server. A million connections take some
 * 50 at 20,000 descriptors a process; 256 keep md's descriptors (two
 * FIFOs per io_conn) under the usual soft limit of 1,024 and the
 * server's 3 segments per io_conn well under the default kernel.shmmni
 * of 4,096. */
#define SRVKEYS_MAX_IO       256
#define SRVKEYS_DEFAULT_BASE 0x5e7e0000
#define SRVKEYS_FIXED        16 /* keys before io_conn 0's */
#define SRVKEYS_PER_IO       4
/* Room for a FIFO path: the directory and "/md2io.255". */
#define SRVKEYS_PATH_MAX 256
/* io_conn blocks srvkeys_format_stats() names one by one. */
#define SRVKEYS_VIEW_IO 6
/* Room for what srvkeys_format_stats() writes. */
#define SRVKEYS_FORMAT_MAX 192

static inline key_t srvkeys_launcher_stats(key_t base) { return base; }
static inline key_t srvkeys_md_stats(key_t base) { return (key_t)(base + 1); }
/* The n-th key left for a chapter's own segments (n < SRVKEYS_FIXED - 2). */
static inline key_t srvkeys_extra(key_t base, unsigned n)
{
    return (key_t)(base + 2 + (int)n);
}
static inline key_t srvkeys_io2md(key_t base, unsigned i)
{
    return (key_t)(base + SRVKEYS_FIXED + SRVKEYS_PER_IO * (int)i);
}
static inline key_t srvkeys_md2io(key_t base, unsigned i)
{
    return (key_t)(srvkeys_io2md(base, i) + 1);
}
static inline key_t srvkeys_io_stats(key_t base, unsigned i)
{
    return (key_t)(srvkeys_io2md(base, i) + 2);
}
/* How many keys from base a server with n io_conn owns. */
static inline unsigned srvkeys_span(unsigned n)
{
    return SRVKEYS_FIXED + SRVKEYS_PER_IO * n;
}

/* The FIFO of queue name ("io2md" or "md2io") of io_conn i, into buf. */
void srvkeys_fifo(char *buf, size_t size, const char *dir, const char *name,
                  unsigned i);

/* Remove the queues, FIFOs and statistics blocks of a server with n
 * io_conn: the launcher's last act, whoever created them. Segments that
 * are not ours (shmem_remove_key()) stay. 0, or -1 with errno of the
 * first failure after trying every one. */
int srvkeys_remove(key_t base, const char *dir, unsigned n);

/* viewstats arguments for the statistics of a server with n io_conn
 * into buf: "-k KEY" for md, the launcher and io_conn 0 to
 * SRVKEYS_VIEW_IO - 1 (viewstats shows 8 blocks at once); with more
 * io_conn, then "(io_conn i: KEY + 4i)" for the others. */
const char *srvkeys_format_stats(char *buf, size_t size, key_t base,
                                 unsigned n);

#endif

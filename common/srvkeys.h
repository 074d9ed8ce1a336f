/* srvkeys.h -- the key layout of a two-process server: every System V key
 * and FIFO name that io_conn, md and their launcher use, derived from one
 * base key and one directory. For io_conn number i (0 <= i < 16):
 *
 *   base + 4i        io_conn i -> md queue     FIFO DIR/io2md.<i>
 *   base + 4i + 1    md -> io_conn i queue     FIFO DIR/md2io.<i>
 *   base + 4i + 2    io_conn i's statistics
 *   base + 64        md's statistics
 *   base + 65        the launcher's statistics
 *   base + 66 ...    a chapter's own segments (srvkeys_extra())
 *
 * Every process computes the same names from -k and -d, so they meet
 * without talking, whichever starts first. Scripts and people never redo
 * this arithmetic: the launcher prints the keys (srvkeys_format_stats()). */
#ifndef COMMON_SRVKEYS_H
#define COMMON_SRVKEYS_H

#include <stddef.h>
#include <sys/types.h>

#define SRVKEYS_MAX_IO       16
#define SRVKEYS_DEFAULT_BASE 0x5e7e0000
/* A server owns the keys base .. base + SRVKEYS_SPAN - 1. */
#define SRVKEYS_SPAN 128
/* Room for a FIFO path: the directory and "/md2io.15". */
#define SRVKEYS_PATH_MAX 256

static inline key_t srvkeys_io2md(key_t base, unsigned i)
{
    return (key_t)(base + 4 * (int)i);
}
static inline key_t srvkeys_md2io(key_t base, unsigned i)
{
    return (key_t)(base + 4 * (int)i + 1);
}
static inline key_t srvkeys_io_stats(key_t base, unsigned i)
{
    return (key_t)(base + 4 * (int)i + 2);
}
static inline key_t srvkeys_md_stats(key_t base)
{
    return (key_t)(base + 4 * SRVKEYS_MAX_IO);
}
static inline key_t srvkeys_launcher_stats(key_t base)
{
    return (key_t)(base + 4 * SRVKEYS_MAX_IO + 1);
}
/* The n-th key left for a chapter's own segments (n < SRVKEYS_SPAN - 66). */
static inline key_t srvkeys_extra(key_t base, unsigned n)
{
    return (key_t)(base + 4 * SRVKEYS_MAX_IO + 2 + (int)n);
}

/* The FIFO of queue name ("io2md" or "md2io") of io_conn i, into buf. */
void srvkeys_fifo(char *buf, size_t size, const char *dir, const char *name,
                  unsigned i);

/* Remove the queues, FIFOs and statistics blocks of a server with n
 * io_conn: the launcher's last act, whoever created them. Segments that
 * are not ours (shmem_remove_key()) stay. 0, or -1 with errno of the
 * first failure after trying every one. */
int srvkeys_remove(key_t base, const char *dir, unsigned n);

/* viewstats arguments for every statistics block of a server with n
 * io_conn ("-k KEY" for md, the launcher, io_conn 0..n-1) into buf. */
const char *srvkeys_format_stats(char *buf, size_t size, key_t base,
                                 unsigned n);

#endif

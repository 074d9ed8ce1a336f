/* opts.h -- command-line helpers shared by every program: range-checked
 * numbers, ports, sizes and keys, and the one-line error plus exit 2. */
#ifndef COMMON_OPTS_H
#define COMMON_OPTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Parsers: 0 on success, -1 with errno EINVAL (not a number, junk after it)
 * or ERANGE (outside [min, max]). Leading '+', '-' and spaces are refused. */
int opts_parse_uint(const char *s, unsigned long long min,
                    unsigned long long max, unsigned long long *out);
int opts_parse_port(const char *s, uint16_t *out);
/* A size with an optional binary suffix: 64, 4k, 8M, 1G (K, M, G also). */
int opts_parse_size(const char *s, size_t min, size_t max, size_t *out);
/* A System V key: decimal or 0x-prefixed hex, never 0 (IPC_PRIVATE). */
int opts_parse_key(const char *s, key_t *out);

/* Remember the usage text printed after "usage: PROG" (see log_init()). */
void opts_init(const char *usage);
/* -h: the usage on stdout, exit 0. */
_Noreturn void opts_help(void);
/* Bad input: "PROG: <message>" and the usage on stderr, exit 2. */
_Noreturn void opts_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* getopt() returned '?' or ':' (call getopt with opterr = 0 and a leading
 * ':' in the option string): report the offending option and exit 2. */
_Noreturn void opts_bad_option(int c, int optopt_value);

/* The *_arg forms parse or call opts_fail() naming what was wrong. */
unsigned long long opts_uint_arg(const char *what, const char *s,
                                 unsigned long long min,
                                 unsigned long long max);
uint16_t opts_port_arg(const char *s);
size_t opts_size_arg(const char *what, const char *s, size_t min, size_t max);
key_t opts_key_arg(const char *s);
/* A numeric IPv4 or IPv6 address, returned as given. */
const char *opts_addr_arg(const char *s);
/* A client's one operand after its options (argv[optind]), the server's
 * port: missing, followed by another, not a port, or 0 is opts_fail(). */
uint16_t opts_server_port(int argc, char **argv);

#endif

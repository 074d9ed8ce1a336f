/* opts.c -- command-line helpers shared by every program. */
#include "opts.h"

#include "log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *usage_text = "\n";

int opts_parse_uint(const char *s, unsigned long long min,
                    unsigned long long max, unsigned long long *out)
{
    unsigned long long v;
    char *end;
    int base = 10;

    if (!s || !isdigit((unsigned char)s[0])) {
        errno = EINVAL;
        return -1;
    }
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        base = 16;
    errno = 0;
    v = strtoull(s, &end, base);
    if (end == s || *end != '\0' || (base == 16 && end == s + 2)) {
        errno = EINVAL;
        return -1;
    }
    if (errno == ERANGE || v < min || v > max) {
        errno = ERANGE;
        return -1;
    }
    *out = v;
    return 0;
}

int opts_parse_port(const char *s, uint16_t *out)
{
    unsigned long long v;

    if (opts_parse_uint(s, 0, 65535, &v) < 0)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

int opts_parse_size(const char *s, size_t min, size_t max, size_t *out)
{
    unsigned long long v, mult = 1;
    char *end;

    if (!s || !isdigit((unsigned char)s[0])) {
        errno = EINVAL;
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return -1;
    switch (*end) {
    case '\0': break;
    case 'k':
    case 'K':
        mult = 1ULL << 10;
        end++;
        break;
    case 'm':
    case 'M':
        mult = 1ULL << 20;
        end++;
        break;
    case 'g':
    case 'G':
        mult = 1ULL << 30;
        end++;
        break;
    default: errno = EINVAL; return -1;
    }
    if (*end != '\0') {
        errno = EINVAL;
        return -1;
    }
    if (v > SIZE_MAX / mult || v * mult < min || v * mult > max) {
        errno = ERANGE;
        return -1;
    }
    *out = (size_t)(v * mult);
    return 0;
}

int opts_parse_key(const char *s, key_t *out)
{
    unsigned long long v;

    /* key_t is a 32-bit int; keys are often written in hex (ipcs does). */
    if (opts_parse_uint(s, 1, 0xffffffffULL, &v) < 0)
        return -1;
    *out = (key_t)(uint32_t)v;
    return 0;
}

void opts_init(const char *usage) { usage_text = usage; }

void opts_help(void)
{
    printf("usage: %s%s", log_progname(), usage_text);
    exit(EXIT_SUCCESS);
}

void opts_fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", log_progname());
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: %s%s", log_progname(), usage_text);
    exit(2);
}

void opts_bad_option(int c, int optopt_value)
{
    if (c == ':')
        opts_fail("option -%c needs a value", optopt_value);
    if (isprint(optopt_value))
        opts_fail("unknown option -%c", optopt_value);
    opts_fail("unknown option");
}

unsigned long long opts_uint_arg(const char *what, const char *s,
                                 unsigned long long min, unsigned long long max)
{
    unsigned long long v;

    if (opts_parse_uint(s, min, max, &v) < 0)
        opts_fail("bad %s '%s': expected a whole number from %llu to %llu",
                  what, s, min, max);
    return v;
}

uint16_t opts_port_arg(const char *s)
{
    uint16_t port;

    if (opts_parse_port(s, &port) < 0)
        opts_fail("bad port '%s': expected 0 to 65535", s);
    return port;
}

size_t opts_size_arg(const char *what, const char *s, size_t min, size_t max)
{
    size_t v;

    if (opts_parse_size(s, min, max, &v) < 0)
        opts_fail("bad %s '%s': expected a size from %zu to %zu bytes "
                  "(suffix k, M or G allowed)",
                  what, s, min, max);
    return v;
}

key_t opts_key_arg(const char *s)
{
    key_t key;

    if (opts_parse_key(s, &key) < 0)
        opts_fail("bad key '%s': expected a non-zero number such as "
                  "0x5e7e0001",
                  s);
    return key;
}

const char *opts_addr_arg(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];

    if (inet_pton(AF_INET, s, buf) != 1 && inet_pton(AF_INET6, s, buf) != 1)
        opts_fail("bad address '%s': expected a numeric IPv4 or IPv6 "
                  "address such as 127.0.0.1",
                  s);
    return s;
}

uint16_t opts_server_port(int argc, char **argv)
{
    uint16_t port;

    if (optind >= argc)
        opts_fail("no PORT");
    if (optind < argc - 1)
        opts_fail("unexpected argument '%s'", argv[optind + 1]);
    port = opts_port_arg(argv[optind]);
    if (port == 0)
        opts_fail("bad port '0': the server's port is needed");
    return port;
}

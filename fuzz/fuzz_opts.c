/* fuzz_opts.c -- the option parser: numbers, sizes, ports, keys and
 * addresses as a user (or a script gone wrong) types them.
 *
 * Each input is one option value and a range. The parsers must agree
 * with a simple reference written here, never return a value outside
 * the range, and the *_arg forms must either return that same value or
 * end the program with status 2 (opts_fail()). fuzz/Makefile builds
 * opts.c with exit() renamed to opts_fuzz_exit(), which jumps back here
 * with the status instead of ending the process.
 *
 * Input: u8 which parser, u64 min, u64 max, then the value's text. */
#include "fuzz.h"

#include "log.h"
#include "opts.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdlib.h>

_Noreturn void opts_fuzz_exit(int status);

static jmp_buf exit_jmp;

_Noreturn void opts_fuzz_exit(int status)
{
    longjmp(exit_jmp, status == 0 ? 256 : status);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The reference: decimal, or 0x and hex digits; no sign, no spaces.
 * Junk anywhere wins over size. 0 and *v set, -1 (junk) or -2 (too large
 * for 64 bits). */
static int ref_uint(const char *s, unsigned long long *v)
{
    unsigned base = 10;
    bool any = false, over = false;

    *v = 0;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && hexval(s[2]) >= 0) {
        base = 16;
        s += 2;
    }
    for (; *s; s++) {
        int d = hexval(*s);
        if (d < 0 || (unsigned)d >= base)
            return -1;
        if (*v > (ULLONG_MAX - (unsigned)d) / base)
            over = true;
        *v = *v * base + (unsigned)d;
        any = true;
    }
    return !any ? -1 : over ? -2 : 0;
}

static void check_uint(const char *s, unsigned long long min,
                       unsigned long long max)
{
    unsigned long long v = 0, ref;
    int rc = opts_parse_uint(s, min, max, &v), want = ref_uint(s, &ref);
    volatile int status;

    if (want == 0) {
        FUZZ_EXPECT(rc == (ref >= min && ref <= max ? 0 : -1));
        FUZZ_EXPECT(rc < 0 ? errno == ERANGE : v == ref);
    } else {
        FUZZ_EXPECT(rc == -1);
        FUZZ_EXPECT(errno == (want == -2 ? ERANGE : EINVAL));
    }
    status = setjmp(exit_jmp);
    if (status == 0) {
        unsigned long long got = opts_uint_arg("value", s, min, max);
        FUZZ_EXPECT(rc == 0 && got == v);
    } else {
        FUZZ_EXPECT(rc == -1 && status == 2);
    }
}

static void check_size(const char *s, size_t min, size_t max)
{
    size_t v = 0;
    int rc = opts_parse_size(s, min, max, &v);
    volatile int status;

    FUZZ_EXPECT(rc == -1 || (v >= min && v <= max));
    status = setjmp(exit_jmp);
    if (status == 0)
        FUZZ_EXPECT(opts_size_arg("size", s, min, max) == v && rc == 0);
    else
        FUZZ_EXPECT(rc == -1 && status == 2);
}

static void check_key_port_addr(const char *s)
{
    volatile int status;
    uint16_t port;
    key_t key;

    if (opts_parse_key(s, &key) == 0)
        FUZZ_EXPECT(key != 0);
    (void)opts_parse_port(s, &port);
    status = setjmp(exit_jmp);
    if (status == 0)
        FUZZ_EXPECT(opts_addr_arg(s) == s);
    else
        FUZZ_EXPECT(status == 2);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    log_init((*argv)[0], LOG_INFO);
    opts_init(" [-x VALUE]\n");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t which = fuzz_u8(&in);
    unsigned long long min = fuzz_u64(&in), max = fuzz_u64(&in);
    char *s = malloc(in.left + 1);

    if (!s)
        return 0;
    memcpy(s, in.p, in.left);
    s[in.left] = '\0'; /* an argv string ends at its first NUL */
    switch (which % 3) {
    case 0: check_uint(s, min, max); break;
    case 1: check_size(s, (size_t)min, (size_t)max); break;
    default: check_key_port_addr(s); break;
    }
    free(s);
    return 0;
}

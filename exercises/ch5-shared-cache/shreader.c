/* shreader.c -- exercise ch5-shared-cache: a reader. Looks up keys 0 ..
 * KEYS-1 in the shared table (shcache.c) and prints one line per key:
 * "KEY VERSION DIGEST", "KEY absent" or "KEY busy"; with -w, round after
 * round, each round ended by a line "--". */
#include "log.h"
#include "opts.h"
#include "shcache.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_KEY 0x5e7e5c00

static const char usage[] =
    " [-h] [-k KEY] [-n KEYS] [-w [-c ROUNDS] [-i USEC]]\n"
    "Prints the records of keys 0 to KEYS-1 in the shared table under KEY:\n"
    "'KEY VERSION DIGEST', or 'KEY absent', or 'KEY busy'.\n"
    "  -k KEY     System V key of the table (default 0x5e7e5c00)\n"
    "  -n KEYS    keys to look up, 1 to 65536 (default 64)\n"
    "  -w         watch: wait for the table if there is none yet, then\n"
    "             print round after round, each ended by '--', until\n"
    "             SIGINT or SIGTERM\n"
    "  -c ROUNDS  with -w: stop after ROUNDS rounds (default 0: never)\n"
    "  -i USEC    with -w: pause between rounds (default 100000)\n"
    "  -h         show this help\n";

static volatile sig_atomic_t stop;

static void on_signal(int signo) { stop = signo; }

static void print_round(const struct shcache *c, uint32_t keys)
{
    struct shrec r;

    for (uint32_t k = 0; k < keys; k++) {
        if (shcache_get(c, k, &r) == 0)
            printf("%u %llu %016llx\n", k, (unsigned long long)r.version,
                   (unsigned long long)shrec_digest(&r));
        else
            printf("%u %s\n", k, errno == ENOENT ? "absent" : "busy");
    }
}

/* Attach; with watch, wait for the table to appear (ENOENT: none yet;
 * EAGAIN: its writer is still setting it up). */
static int open_table(struct shcache *c, key_t key, bool watch)
{
    while (shcache_open_reader(c, key) < 0) {
        if (!watch || (errno != ENOENT && errno != EAGAIN) || stop) {
            log_error("table %#x: %s", (unsigned)key,
                      errno == ENOENT ? "none yet (start shwriter)"
                                      : strerror(errno));
            return -1;
        }
        usleep(10000);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct sigaction sa = {.sa_handler = on_signal};
    unsigned long long rounds = 0, pause_us = 100000;
    uint32_t keys = 64;
    key_t key = DEFAULT_KEY;
    bool watch = false;
    struct shcache c;
    int opt;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    opterr = 0;
    while ((opt = getopt(argc, argv, ":hk:n:wc:i:")) != -1) {
        switch (opt) {
        case 'h': opts_help();
        case 'k': key = opts_key_arg(optarg); break;
        case 'n':
            keys = (uint32_t)opts_uint_arg("keys", optarg, 1, 65536);
            break;
        case 'w': watch = true; break;
        case 'c':
            rounds = opts_uint_arg("rounds", optarg, 0, 1ull << 40);
            break;
        case 'i': pause_us = opts_uint_arg("pause", optarg, 0, 10000000); break;
        default: opts_bad_option(opt, optopt);
        }
    }
    if (optind < argc)
        opts_fail("unexpected argument '%s'", argv[optind]);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (open_table(&c, key, watch) < 0)
        return stop ? 0 : 1;
    print_round(&c, keys);
    for (unsigned long long n = 1; watch && !stop && (!rounds || n < rounds);
         n++) {
        puts("--");
        fflush(stdout);
        if (pause_us)
            usleep((useconds_t)pause_us);
        print_round(&c, keys);
    }
    if (watch)
        puts("--");
    shcache_close(&c);
    return fflush(stdout) == EOF ? 1 : 0;
}

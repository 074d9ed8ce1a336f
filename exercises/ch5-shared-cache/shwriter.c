/* shwriter.c -- exercise ch5-shared-cache: the writer. Puts records for
 * keys 0 .. KEYS-1, a round at a time, each round one version more, into
 * the shared table (shcache.c). It starts from the version it finds for
 * key 0, so a restarted writer goes on where the last one stopped. */
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
    " [-h] [-k KEY] [-n KEYS] [-r ROUNDS]\n"
    "Writes versioned records for keys 0 to KEYS-1 into the shared table\n"
    "under KEY, one version per round; shreader reads them.\n"
    "  -k KEY     System V key of the table (default 0x5e7e5c00); the\n"
    "             writer's statistics are at KEY + 1\n"
    "  -n KEYS    keys to write, 1 to 65536 (default 64)\n"
    "  -r ROUNDS  rounds to write, 0 for until SIGINT or SIGTERM\n"
    "             (default 1)\n"
    "  -h         show this help\n"
    "Prints 'started at version V' after its first round and 'wrote KEYS\n"
    "keys, versions V1 to V2' at the end.\n";

static volatile sig_atomic_t stop;

static void on_signal(int signo) { stop = signo; }

/* One round: every key at version v. 0, or -1 after logging why. */
static int write_round(struct shcache *c, uint32_t keys, uint64_t v)
{
    struct shrec r;

    for (uint32_t k = 0; k < keys; k++) {
        shrec_fill(&r, k, v);
        if (shcache_put(c, k, &r) < 0) {
            log_error("put key %u: %s", k, strerror(errno));
            return -1;
        }
    }
    stats_add(&c->lock, SHC_PUTS, keys);
    stats_set(&c->lock, SHC_RECORDS, mhash_count(&c->table));
    stats_commit(&c->lock);
    return 0;
}

int main(int argc, char **argv)
{
    struct sigaction sa = {.sa_handler = on_signal};
    unsigned long long rounds = 1, n = 0;
    uint32_t keys = 64;
    key_t key = DEFAULT_KEY;
    struct shcache c;
    struct shrec r;
    uint64_t first;
    int opt, rc = 0;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    opterr = 0;
    while ((opt = getopt(argc, argv, ":hk:n:r:")) != -1) {
        switch (opt) {
        case 'h': opts_help();
        case 'k': key = opts_key_arg(optarg); break;
        case 'n':
            keys = (uint32_t)opts_uint_arg("keys", optarg, 1, 65536);
            break;
        case 'r':
            rounds = opts_uint_arg("rounds", optarg, 0, 1ull << 40);
            break;
        default: opts_bad_option(opt, optopt);
        }
    }
    if (optind < argc)
        opts_fail("unexpected argument '%s'", argv[optind]);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (shcache_open_writer(&c, key, keys) < 0) {
        log_error("table %#x: %s", (unsigned)key,
                  errno == EBUSY    ? "in use by a live writer"
                  : errno == EPROTO ? "not a table of records"
                                    : strerror(errno));
        return 1;
    }
    first = shcache_get(&c, 0, &r) == 0 ? r.version + 1 : 1;
    for (n = 0; (rounds == 0 || n < rounds) && !stop; n++) {
        if (write_round(&c, keys, first + n) < 0) {
            rc = 1;
            break;
        }
        if (n == 0) {
            printf("started at version %llu\n", (unsigned long long)first);
            fflush(stdout);
        }
    }
    if (n > 0)
        printf("wrote %u keys, versions %llu to %llu\n", keys,
               (unsigned long long)first, (unsigned long long)(first + n - 1));
    shcache_close(&c);
    return rc;
}

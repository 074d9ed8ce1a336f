/* mqcount.c -- the given part of the exercise's reader: options and
 * printing. It calls count_attach() and count_read() (count.c), which you
 * write, for each queue key given. */
#include "count.h"

#include "log.h"
#include "opts.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_KEYS 32

static const char usage[] =
    " [-h] -k KEY [-k KEY ...]\n"
    "Prints the messages and bytes pushed into and popped from each queue\n"
    "KEY (for a server with base key B: B+4i to md, B+4i+1 back, for\n"
    "io_conn i), read from the queue's own segment, attached read-only.\n"
    "  -k KEY   a queue's System V key, repeat for several\n"
    "  -h       show this help\n"
    "Exit status: 0, 1 when a key holds no queue, 2 on bad usage.\n";

int main(int argc, char **argv)
{
    key_t keys[MAX_KEYS];
    int c, n = 0, rc = 0;

    log_init(argv[0], LOG_INFO);
    opts_init(usage);
    opterr = 0;
    while ((c = getopt(argc, argv, ":hk:")) != -1) {
        switch (c) {
        case 'h': opts_help();
        case 'k':
            if (n == MAX_KEYS)
                opts_fail("at most %d keys", MAX_KEYS);
            keys[n++] = opts_key_arg(optarg);
            break;
        default: opts_bad_option(c, optopt);
        }
    }
    if (optind < argc)
        opts_fail("unexpected argument '%s'", argv[optind]);
    if (n == 0)
        opts_fail("no -k KEY");
    for (int i = 0; i < n; i++) {
        struct shmem sm;
        struct count_view v;

        if (count_attach(&sm, keys[i]) < 0) {
            log_error("key %#x: %s", (unsigned)keys[i],
                      errno == EPROTO   ? "not a queue"
                      : errno == ENOENT ? "no queue: no server running"
                                        : strerror(errno));
            rc = 1;
            continue;
        }
        count_read(&sm, &v);
        shmem_close(&sm);
        printf("queue %#x pushed %llu msgs %llu bytes popped %llu msgs %llu "
               "bytes\n",
               (unsigned)keys[i], (unsigned long long)v.pushed_msgs,
               (unsigned long long)v.pushed_bytes,
               (unsigned long long)v.popped_msgs,
               (unsigned long long)v.popped_bytes);
    }
    return rc;
}

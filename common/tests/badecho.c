/* badecho.c -- a faulty echo server for tests of clients: one connection,
 * echoed byte for byte except message N of SIZE bytes (-s SIZE, default
 * 64), which it drops (-d N: its echo never comes), changes in its middle
 * byte (-c N), or hangs up at (-x N: echoes nothing from message N on,
 * and closes the connection cleanly). Prints "listening on
 * 127.0.0.1:PORT" like the course's servers. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int listen_any(uint16_t *port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        listen(fd, 1) < 0 || getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
        return -1;
    *port = ntohs(sin.sin_port);
    return fd;
}

int main(int argc, char **argv)
{
    unsigned char buf[65536];
    unsigned long long off = 0, size = 64, victim = 0;
    bool drop = false, hang_up = false;
    uint16_t port;
    int c, lfd, fd;
    ssize_t n;

    while ((c = getopt(argc, argv, "s:d:c:x:")) != -1) {
        switch (c) {
        case 's': size = strtoull(optarg, NULL, 10); break;
        case 'x': hang_up = true;  /* fall through */
        case 'd': drop = !hang_up; /* fall through */
        case 'c': victim = strtoull(optarg, NULL, 10); break;
        default: return 2;
        }
    }
    lfd = listen_any(&port);
    if (lfd < 0 || size == 0)
        return 1;
    printf("listening on 127.0.0.1:%u\n", port);
    fflush(stdout);
    fd = accept(lfd, NULL, NULL);
    while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0) {
        size_t kept = 0;
        for (ssize_t i = 0; i < n; i++, off++) {
            bool mine = off / size == victim;
            if (mine && hang_up)
                break;
            if (mine && drop)
                continue;
            buf[kept] = buf[i];
            if (mine && off % size == size / 2)
                buf[kept] ^= 0x20;
            kept++;
        }
        if (kept && write(fd, buf, kept) != (ssize_t)kept)
            break;
        if (hang_up && off / size >= victim)
            break;
    }
    /* Hang up cleanly: FIN, then read until the client closes, so that
     * unread bytes never turn the close into a reset. */
    if (hang_up && fd >= 0 && shutdown(fd, SHUT_WR) == 0)
        while (read(fd, buf, sizeof(buf)) > 0)
            ;
    return 0;
}

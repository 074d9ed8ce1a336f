/* net.c -- addresses, listeners and connections for servers and clients. */
#include "net.h"

#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int net_sockaddr(const char *addr, uint16_t port, struct sockaddr_storage *ss,
                 socklen_t *len)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        *len = sizeof(*sin);
        return 0;
    }
    if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        *len = sizeof(*sin6);
        return 0;
    }
    errno = EINVAL;
    return -1;
}

char *net_format(const struct sockaddr *sa, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN];

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        snprintf(buf, size, "%s:%u", host, ntohs(sin->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        snprintf(buf, size, "[%s]:%u", host, ntohs(sin6->sin6_port));
    } else {
        snprintf(buf, size, "(family %d)", sa->sa_family);
    }
    return buf;
}

int net_listen_socket(const char *addr, uint16_t port, unsigned flags)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, one = 1, saved;

    if (net_sockaddr(addr, port, &ss, &len) < 0)
        return -1;
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* REUSEADDR lets a restarted server bind past old TIME_WAIT sockets;
     * it never lets two live servers listen on one port. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        goto out_close_fd;
    if ((flags & NET_REUSEPORT) &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        goto out_close_fd;
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, SOMAXCONN) < 0)
        goto out_close_fd;
    return fd;

out_close_fd:
    saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

struct evconnlistener *net_listen(struct event_base *base, const char *addr,
                                  uint16_t port, unsigned flags,
                                  evconnlistener_cb cb, void *arg)
{
    struct evconnlistener *lev;
    int fd, saved;

    fd = net_listen_socket(addr, port, flags);
    if (fd < 0)
        return NULL;
    /* Backlog 0: listen() was already called, with SOMAXCONN. */
    lev = evconnlistener_new(
        base, cb, arg, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
    if (!lev) {
        saved = errno ? errno : ENOMEM;
        close(fd);
        errno = saved;
    }
    return lev;
}

static int listener_sockaddr(struct evconnlistener *lev,
                             struct sockaddr_storage *ss)
{
    socklen_t len = sizeof(*ss);

    return getsockname(evconnlistener_get_fd(lev), (struct sockaddr *)ss, &len);
}

static int socket_name(int fd, char *buf, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    net_format((struct sockaddr *)&ss, buf, size);
    return 0;
}

int net_listener_name(struct evconnlistener *lev, char *buf, size_t size)
{
    return socket_name(evconnlistener_get_fd(lev), buf, size);
}

uint16_t net_listener_port(struct evconnlistener *lev)
{
    struct sockaddr_storage ss;

    if (listener_sockaddr(lev, &ss) < 0)
        return 0;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

int net_announce(struct evconnlistener *lev)
{
    return net_announce_fd(evconnlistener_get_fd(lev));
}

int net_announce_fd(int fd)
{
    char name[NET_ADDRSTRLEN];

    if (socket_name(fd, name, sizeof(name)) < 0)
        return -1;
    if (printf("listening on %s\n", name) < 0 || fflush(stdout) == EOF)
        return -1;
    return 0;
}

struct event_base *net_precise_base(void)
{
    struct event_config *cfg = event_config_new();
    struct event_base *base = NULL;

    if (cfg && event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER) == 0)
        base = event_base_new_with_config(cfg);
    if (cfg)
        event_config_free(cfg);
    return base;
}

int net_send_nb(int fd, const void *buf, size_t *off, size_t len)
{
    while (*off < len) {
        ssize_t n =
            send(fd, (const char *)buf + *off, len - *off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -1;
        *off += (size_t)n;
    }
    return 0;
}

int net_nodelay(int fd)
{
    int one = 1;

    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int net_connect(const char *addr, uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, saved;

    if (net_sockaddr(addr, port, &ss, &len) < 0)
        return -1;
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&ss, len) < 0 || net_nodelay(fd) < 0) {
        saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    evconnlistener_enable(arg);
}

void net_accept_backoff(struct evconnlistener *lev)
{
    struct timeval pause = {0, 100 * 1000};

    log_error("accept: %s; pausing accepts for 100 ms", strerror(errno));
    evconnlistener_disable(lev);
    if (event_base_once(evconnlistener_get_base(lev), -1, EV_TIMEOUT, resume_cb,
                        lev, &pause) < 0)
        evconnlistener_enable(lev); /* no timer: better busy than deaf */
}

static void backoff_cb(struct evconnlistener *lev, void *arg)
{
    (void)arg;
    net_accept_backoff(lev);
}

struct evconnlistener *net_serve(struct event_base *base, const char *addr,
                                 uint16_t port, evconnlistener_cb cb, void *arg)
{
    struct evconnlistener *lev = net_listen(base, addr, port, 0, cb, arg);

    if (!lev) {
        log_error("cannot listen on %s port %u: %s", addr, port,
                  strerror(errno));
        return NULL;
    }
    evconnlistener_set_error_cb(lev, backoff_cb);
    if (net_announce(lev) < 0) {
        log_error("cannot write to stdout: %s", strerror(errno));
        evconnlistener_free(lev);
        return NULL;
    }
    return lev;
}

/* net.h -- addresses, listeners and connections for servers and clients. */
#ifndef COMMON_NET_H
#define COMMON_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/listener.h>

/* Longest "ADDR:PORT" text, IPv6 in brackets, with its NUL. */
#define NET_ADDRSTRLEN 56

/* Extra flag for net_listen(): share the port with other processes
 * (SO_REUSEPORT); the kernel spreads new connections among them. */
#define NET_REUSEPORT 0x1

/* Fill *ss from a numeric IPv4 or IPv6 address and a port.
 * Returns 0, or -1 with errno EINVAL if addr is not numeric. */
int net_sockaddr(const char *addr, uint16_t port, struct sockaddr_storage *ss,
                 socklen_t *len);

/* Write "ADDR:PORT" ("[ADDR]:PORT" for IPv6) into buf; returns buf. */
char *net_format(const struct sockaddr *sa, char *buf, size_t size);

/* A listening socket on addr:port (port 0: the kernel picks one),
 * non-blocking, close-on-exec, SO_REUSEADDR, backlog SOMAXCONN, for a
 * server that runs its own loop. Returns the socket or -1 with errno. */
int net_listen_socket(const char *addr, uint16_t port, unsigned flags);

/* The same socket inside a libevent listener. Returns NULL with errno
 * set (for example EADDRINUSE); the caller logs, it knows what it was
 * starting. */
struct evconnlistener *net_listen(struct event_base *base, const char *addr,
                                  uint16_t port, unsigned flags,
                                  evconnlistener_cb cb, void *arg);

/* The address a listener is really bound to, as "ADDR:PORT". */
int net_listener_name(struct evconnlistener *lev, char *buf, size_t size);
/* The port a listener is really bound to (the answer to port 0). */
uint16_t net_listener_port(struct evconnlistener *lev);

/* Print the one line scripts and tests wait for, "listening on ADDR:PORT",
 * on stdout, and flush it. Returns 0 or -1 with errno. */
int net_announce(struct evconnlistener *lev);
/* The same for a listening socket. */
int net_announce_fd(int fd);

/* What a one-loop server does to start serving: net_listen(), accept
 * errors handled by net_accept_backoff(), then net_announce(). Each
 * failure is logged (naming the port); NULL then. */
struct evconnlistener *net_serve(struct event_base *base, const char *addr,
                                 uint16_t port, evconnlistener_cb cb,
                                 void *arg);

/* Blocking TCP connection to addr:port with TCP_NODELAY, for clients.
 * Returns the socket or -1 with errno. */
int net_connect(const char *addr, uint16_t port);

/* For a listener's error callback: accept failed (EMFILE, ENFILE, ...).
 * Stop accepting for 100 ms, then resume: the pending connection keeps
 * the socket readable, so without the pause the loop would retry accept()
 * at full speed. Logs the error once per pause. */
void net_accept_backoff(struct evconnlistener *lev);

/* An event base whose timers fire to the microsecond (timerfd), not to
 * epoll_wait's millisecond: for clients that send on a schedule and
 * measure latency, whose own lateness would otherwise be most of what
 * they measure. NULL on failure. */
struct event_base *net_precise_base(void);

/* Send buf[*off .. len) on a non-blocking socket, advancing *off: 0 once
 * all of it is sent, 1 when the socket is full (EAGAIN: wait for it to be
 * writable), -1 on an error (errno). MSG_NOSIGNAL: a vanished peer is
 * EPIPE, not a signal. */
int net_send_nb(int fd, const void *buf, size_t *off, size_t len);

/* Disable Nagle's algorithm: an echo must not wait for a delayed ACK. */
int net_nodelay(int fd);

#endif

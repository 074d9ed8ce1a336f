/* budget.h -- a server's bounds over all its connections together: how
 * many it holds, and how many bytes wait in their buffers.
 *
 * At the connection limit a new connection is accepted and closed at once
 * (the client sees EOF, not a hang in the listen backlog); budget_admit()
 * counts it and logs one line a second at most. The bytes are counted by
 * evbuffer callbacks on each connection's input and output, so every
 * read, write, drain and move is seen, whoever makes it; bytes a
 * connection has elsewhere (io_conn: sent to md, the echo not back yet)
 * are charged and refunded by hand, since they will come back. At the byte
 * limit a connection that holds bytes stops reading until its own
 * buffers are empty (its client has read its echo); one that holds none
 * may still read. So the clients that read keep being served while those
 * that do not are paused, and the server holds at most
 *     max_bytes + (connections open) x (one read, 4 KiB in libevent 2.1)
 * in its buffers, whatever the clients do. */
#ifndef COMMON_BUDGET_H
#define COMMON_BUDGET_H

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Defaults for the servers' -c and -b. 65536 connections is what one
 * io_conn's flow table holds; 64 MiB is 256 connections whose client
 * never reads, each at its own 256 KiB bound, and a small part of any
 * machine that holds 65536 connections. */
#define BUDGET_DEFAULT_CONNS 65536
#define BUDGET_DEFAULT_BYTES (64u << 20)

struct budget {
    unsigned max_conns, conns; /* limit, and connections held now */
    size_t max_bytes, bytes;   /* limit, and bytes buffered now */
    uint64_t refused;          /* connections closed at the limit */
    uint64_t pauses;           /* times a connection stopped at max_bytes */
};

/* One connection's part: embedded in the server's struct conn. */
struct budget_conn {
    struct budget *b;
    size_t held; /* bytes in its input and output, and away */
    size_t away; /* of held, charged by budget_charge() */
    bool paused; /* stopped by max_bytes (budget_may_read said no) */
    struct evbuffer_cb_entry *in_cb, *out_cb;
};

/* Bounds of max_conns connections and max_bytes buffered bytes (callers
 * keep both at least 1), nothing held yet. */
void budget_init(struct budget *b, unsigned max_conns, size_t max_bytes);

/* May one more connection be held? true when it may (and budget_attach()
 * must follow); false at max_conns: refused counted, the caller closes
 * the socket. */
bool budget_admit(struct budget *b);

/* Count bc's connection, bev, and watch its buffers. 0, or -1 (out of
 * memory, nothing counted). */
int budget_attach(struct budget *b, struct budget_conn *bc,
                  struct bufferevent *bev);
/* Forget bc's connection and its bytes; call before freeing bev. */
void budget_detach(struct budget_conn *bc, struct bufferevent *bev);

/* n bytes of bc's connection are away from its buffers but will come
 * back into them (budget_charge), or have come back (budget_refund: at
 * most what is away). */
void budget_charge(struct budget_conn *bc, size_t n);
void budget_refund(struct budget_conn *bc, size_t n);

/* May bc's connection read now, as far as the byte limit goes? false
 * when the server is at max_bytes and bc holds bytes; a connection that
 * turns false is counted in pauses. The caller asks again when bc's
 * output has drained (write callback at low watermark 0). */
bool budget_may_read(struct budget_conn *bc);

#endif

/* session.h -- what io_conn, md and viewcache of the v6 server agree on:
 * the header io_conn puts in front of every message to md, and the
 * session record md keeps per flow in its multi-hash.
 *
 * Every message on a flow carries the flow's next sequence number, from 0:
 * OPEN (seq 0, payload: the peer's "ADDR:PORT"), then DATA (the client's
 * bytes), then CLOSE (no payload). md answers DATA only, with the message
 * unchanged, so io_conn's replies arrive numbered 1, 2, ... and a reply
 * md sends twice after a restart has a number io_conn has already seen.
 * md stores in each record the sequence number of the next message it
 * has not yet counted, so a message it handles twice is counted once. */
#ifndef CH5_SESSION_H
#define CH5_SESSION_H

#include "net.h"
#include "srvkeys.h"

#include <stdint.h>

enum msg_kind {
    MSG_DATA = 0,  /* the client's bytes: md echoes them */
    MSG_OPEN = 1,  /* a new connection; payload: peer "ADDR:PORT" */
    MSG_CLOSE = 2, /* the connection is gone; no payload */
};

/* In front of every message both ways, copied with memcpy (a message in
 * the queue is not aligned). */
struct msg_hdr {
    uint64_t seq;
    uint32_t kind; /* enum msg_kind */
    uint32_t reserved;
};
#define MSG_HDR_SIZE sizeof(struct msg_hdr)
_Static_assert(sizeof(struct msg_hdr) == 16, "message header layout");

/* md's record of one live connection, the value in the multi-hash. */
#define SESSION_PEER_LEN NET_ADDRSTRLEN
struct session {
    uint64_t next_seq;           /* first message not yet counted */
    uint64_t msgs;               /* DATA messages */
    uint64_t bytes;              /* DATA bytes, headers not included */
    int64_t first_ns;            /* now_real_ns() of OPEN */
    int64_t last_ns;             /* now_real_ns() of the last message */
    char peer[SESSION_PEER_LEN]; /* "ADDR:PORT"; readers must not trust
                                    the NUL to be there */
};
_Static_assert(sizeof(struct session) == 96, "session record layout");

/* The System V key of the session table of the server with base key
 * base: the first of the keys srvkeys.h leaves to a chapter. */
static inline key_t session_table_key(key_t base)
{
    return srvkeys_extra(base, 0);
}

/* The table's key of flow on io_conn number io: unique across the
 * io_conn processes of one server, whose flow ids overlap. */
static inline uint64_t session_key(unsigned io, uint32_t flow)
{
    return (uint64_t)io << 32 | flow;
}
static inline unsigned session_key_io(uint64_t key)
{
    return (unsigned)(key >> 32);
}
static inline uint32_t session_key_flow(uint64_t key) { return (uint32_t)key; }

#endif

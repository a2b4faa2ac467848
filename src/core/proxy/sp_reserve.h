/*
 * sp_reserve.h — descriptors a worker holds for the server connections it
 * may still open, so that a client it accepted is never answered
 * "Connection failed" for want of a descriptor.
 *
 * The reserve is one descriptor (a duplicate of one /dev/null) per server
 * connection not open yet: each pool's servers x server_connections, less
 * what is open. Opening a server connection gives one back first, so its
 * socket always finds a free descriptor; closing one takes a duplicate
 * again. The accept path needs nothing of its own: with the reserve held,
 * accept4() says EMFILE once only the reserve would be left, and the client
 * is refused through the spare descriptor ("max number of clients
 * reached", sp_accept.h) instead of being taken and then failed.
 *
 * At most half the descriptor limit is reserved (a configuration whose
 * server connections need more is logged once at start): clients keep the
 * other half.
 */
#ifndef SP_RESERVE_H
#define SP_RESERVE_H

#include <stdint.h>

struct sp_log;

struct sp_reserve {
    int      *fds;      /* held: fds[0..held) */
    uint32_t  held;
    uint32_t  want;     /* servers x server_connections, capped */
    uint32_t  out;      /* server connections open that took one */
};

/* Hold want descriptors (capped at half the limit, logged). 0 / -1. */
int sp_reserve_init(struct sp_reserve *reserve, uint32_t want,
                    struct sp_log *log);

/* Close every descriptor held; later calls do nothing. */
void sp_reserve_deinit(struct sp_reserve *reserve);

/* A server connection is about to be opened: free a descriptor for it. */
void sp_reserve_release(struct sp_reserve *reserve);

/* A server connection was closed (or failed to open): hold one again. */
void sp_reserve_return(struct sp_reserve *reserve);

#endif /* SP_RESERVE_H */

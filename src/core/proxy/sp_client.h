/*
 * sp_client.h — client connections: accept (with client_connections
 * enforced and accept storms survived), read and parse requests, hand them
 * to the protocol, and write replies back in request order.
 */
#ifndef SP_CLIENT_H
#define SP_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "sp_conn.h"
#include "sp_flow.h"
#include "sp_msg.h"

/* Accept from listener until EAGAIN, max (at most SP_ACCEPT_BATCH) at
 * most. True if the queue was seen empty (EAGAIN). */
bool sp_client_accept(struct sp_conn *listener, uint32_t max);

/*
 * Serve fd (connected, non-blocking) as a client of pool, counted in the
 * pool; the caller has counted it in the shared client count (and takes it
 * back on failure). NULL on failure: fd is still the caller's.
 */
struct sp_conn *sp_client_open(struct sp_pool *pool, int fd,
                               bool authenticated);

/* A client just accepted (by the listener, or from the queue a retiring
 * worker drains): sp_client_open, and in a `tls` pool its TLS handshake
 * started. False: it could not be served (fd closed, counted). */
bool sp_client_accepted(struct sp_pool *pool, int fd);

/* Readiness of a client connection. */
void sp_client_on_event(struct sp_conn *conn, uint32_t ready);

/* Write the replies that are ready, in order. */
void sp_client_flush(struct sp_conn *conn);

/* The reply of a pool that takes no more clients (client_connections, the
 * descriptor limit), in its protocol. */
const char *sp_client_full_reply(const struct sp_pool *pool);

/* Read a client that flow control held back (sp_flow.h), from the flush.
 * -1: it was closed (and is freed). */
int sp_client_resume(struct sp_conn *conn);

/* Clear a reason (SP_FLOW_STEPS) flow control held a client for; when
 * none is left, parse what it sent meanwhile and read it again (it may be
 * closed then, and freed). */
void sp_client_unhold(struct sp_conn *conn, uint8_t why);

/* Held while a request of its is split in steps (sp_defer.h), or while it
 * waits in a blocking call (BLPOP): its protocol parses nothing more until
 * then. */
static inline bool
sp_client_held(const struct sp_conn *conn)
{
    return (conn->read_paused & (SP_FLOW_STEPS | SP_FLOW_BLOCKED)) != 0;
}

/* Close now; requests still waiting for servers become orphans. */
void sp_client_close(struct sp_conn *conn);

/*
 * A whole request was parsed at stream bytes [start, end): its message, in
 * the client's queue, holding those bytes, counted against the client's
 * limits. NULL: out of memory (close the client).
 */
struct sp_msg *sp_client_request_begin(struct sp_conn *client, uint64_t start,
                                       uint64_t end);

/* The protocol has handled msg: drop its input bytes; a reply made on the
 * spot goes out at the flush. */
void sp_client_request_end(struct sp_conn *client, struct sp_msg *msg,
                           uint64_t end);

/* Answer `text` after every reply owed, then close; stop reading now.
 * Returns -1 (for protocol handlers to return). */
int sp_client_fail(struct sp_conn *conn, const char *text, size_t len);

/* Free a client that was draining (lingering close: refused, or closed
 * after a framing error or QUIT). */
void sp_client_linger_end(struct sp_conn *conn);

/* A request of this client got its whole reply. */
void sp_client_reply_ready(struct sp_msg *msg);

/*
 * Output the client did not ask for (a pub/sub message): a message to
 * fill (its rsp), then queued behind the client's requests and written in
 * turn (a client blocked in BLPOP: before its blocking call, so it goes
 * out while the client waits), held and counted like a reply
 * (client_output_limit applies: a
 * subscriber that stops reading is closed as one that stops reading its
 * replies). NULL: out of memory. Give it back with sp_msg_put if it
 * cannot be filled.
 */
struct sp_msg *sp_client_push_begin(struct sp_conn *client);
void sp_client_push_end(struct sp_msg *msg);

#endif /* SP_CLIENT_H */

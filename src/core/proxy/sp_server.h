/*
 * sp_server.h — server connections: connect (with redis_auth and redis_db
 * sent first), queue requests, write them in batches, match replies in
 * order, time out, and fail every waiting request when the connection dies.
 */
#ifndef SP_SERVER_H
#define SP_SERVER_H

#include "sp_conn.h"
#include "sp_msg.h"
#include "sp_pool.h"

struct sp_worker;

/* Open a new connection to server (connect in progress) with handshake
 * `variant`, shared or pinned to `owner` (a client). NULL: errno. */
struct sp_conn *sp_server_connect(struct sp_server *server, uint8_t variant,
                                  struct sp_conn *owner);

/* A connection for the next request of a client whose requests use the
 * `variant` set: round robin over up to server_connections of that set,
 * connecting as needed. NULL: errno. */
struct sp_conn *sp_server_conn(struct sp_server *server, uint8_t variant);

/* A new connection of `variant` for the protocol's own use (dedicated):
 * the handshake's replies are matched as usual, every later reply is the
 * protocol's to read (sp_server_dedicated_idle tells which). NULL: errno. */
struct sp_conn *sp_server_dedicated(struct sp_server *server, uint8_t variant);

/* Whether a dedicated connection's handshake is answered: what it reads
 * from now on is out of band. */
bool sp_server_dedicated_idle(struct sp_conn *sconn);

/* Queue bytes on a dedicated connection that get no reply of their own
 * (their answers come out of band). 0 / -1. */
int sp_server_send_raw(struct sp_conn *sconn, const void *bytes, uint32_t len);

/* Lend a new connection of `variant` to client (pinned). NULL: errno. */
struct sp_conn *sp_server_pin(struct sp_server *server, uint8_t variant,
                              struct sp_conn *client);

/* The client is done with its pinned connection: close it once what it
 * sent is answered (its replies still reach the client), or at once when
 * the client is gone. Never reused: its state (WATCH) cannot be trusted. */
void sp_server_unpin(struct sp_conn *sconn);

/*
 * Lend client a connection for one blocking call (BLPOP): an idle one of
 * the blocking set of `variant`, else a new one while the server has
 * fewer than its pool's blocking_connections. The call's reply may take
 * `timeout` ms (<= 0: for ever) before the connection is closed. When
 * the call is answered and nothing else is in flight, the connection goes
 * back to the idle set and the protocol's pin_lost tells the client.
 * NULL: errno (EBUSY: the set is full).
 */
struct sp_conn *sp_server_lend(struct sp_server *server, uint8_t variant,
                               struct sp_conn *client, int timeout);

/* The client leaves before its blocking call is answered: the lent
 * connection is closed (the server still holds the call), never reused. */
void sp_server_lend_cancel(struct sp_conn *sconn);

/* Queue msg (a request or fragment) on sconn; written at the next flush. */
void sp_server_enqueue(struct sp_conn *sconn, struct sp_msg *msg);

/* Readiness of a server connection. */
void sp_server_on_event(struct sp_conn *conn, uint32_t ready);

/* Write queued requests (one writev per call while the socket takes them). */
void sp_server_flush(struct sp_conn *conn);

/*
 * Close the connection: every request queued or in flight on it fails with
 * the reply `error` ("-ERR ...\r\n", static text).
 */
void sp_server_close(struct sp_conn *conn, const char *error);

/*
 * A Sentinel named a new master for the server (SP_CHANNEL_SWITCH): close
 * every connection to it, requests in flight failing with its
 * switch_error; new ones connect to the address now published.
 */
void sp_server_switch(struct sp_server *server);

/*
 * The server (a Sentinel pool's master) answered -READONLY or -LOADING: it
 * was demoted, or restarts. Ask the master process to ask the sentinels
 * again now (SP_CHANNEL_REASK), at most once per SP_SERVER_REASK_MS per
 * server in each worker (the master coalesces the workers' asks). A pool
 * without Sentinel, or a worker without a master: nothing.
 */
#define SP_SERVER_REASK_MS 500
void sp_server_reask(struct sp_server *server);

/*
 * A server part of a request finished: msg->rsp holds its reply, or
 * msg->error is set. Completes the request when it was the last part.
 */
void sp_msg_part_done(struct sp_worker *worker, struct sp_msg *msg);

/* A protocol's reply parser, as the shared reply loop drives it. */
struct sp_reply_stream {
    /* start parsing the next reply at stream `offset` (the oldest request
     * in flight tells what to expect); -1: nothing is in flight */
    int (*start)(struct sp_conn *conn, uint64_t offset);
    sp_parse_status_t (*parse)(struct sp_conn *conn, const uint8_t *data,
                               size_t len, size_t *consumed);
    const char *(*error)(struct sp_conn *conn);     /* after SP_PARSE_ERROR */
    /* a whole reply was parsed: match it to its request; -1: broken */
    int (*done)(struct sp_conn *conn);
};

/* Feed bytes read from a server through a protocol's reply parser: every
 * whole reply goes to stream->done. Returns -1 and sets conn->closing when
 * the stream is broken (logged). */
int sp_server_feed(struct sp_conn *conn, const uint8_t *data, size_t len,
                   const struct sp_reply_stream *stream);

/* Queue bytes to send before any request (AUTH, SELECT); their reply is
 * checked by the protocol and dropped. 0 / -1. */
int sp_server_internal(struct sp_conn *conn, const void *bytes, uint32_t len);

/*
 * The reply to the oldest in-flight request is the stream bytes
 * [start, end): dequeue that request, give it the reply (by reference),
 * count it, drop the bytes from the input. Returns the request (the caller
 * completes it with sp_msg_part_done), or NULL for a reply nobody asked for.
 */
struct sp_msg *sp_server_reply_take(struct sp_conn *conn, uint64_t start,
                                    uint64_t end);

#endif /* SP_SERVER_H */

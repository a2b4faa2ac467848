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

/* Open a new connection to server (connect in progress). NULL: errno. */
struct sp_conn *sp_server_connect(struct sp_server *server);

/* A connection for the next request: round robin over up to
 * server_connections, connecting as needed. NULL: errno. */
struct sp_conn *sp_server_conn(struct sp_server *server);

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
 * A server part of a request finished: msg->rsp holds its reply, or
 * msg->error is set. Completes the request when it was the last part.
 */
void sp_msg_part_done(struct sp_worker *worker, struct sp_msg *msg);

/* The static "-ERR <strerror>\r\n" reply for an errno (nutcracker's texts). */
const char *sp_server_error_text(int err);

#endif /* SP_SERVER_H */

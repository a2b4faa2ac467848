/*
 * sp_redis_txn.h — MULTI/EXEC/DISCARD/WATCH/UNWATCH over a sharded pool.
 * Private to src/proto.
 */
#ifndef SP_REDIS_TXN_H
#define SP_REDIS_TXN_H

#include <stdbool.h>

#include "sp_conn.h"
#include "sp_msg.h"
#include "sp_pool.h"
#include "sp_redis.h"
#include "sp_redis_session.h"

/* The client is between MULTI and EXEC/DISCARD. */
static inline bool
sp_redis_txn_open(const struct sp_conn *client)
{
    const struct sp_redis_session *s = client->session;

    return s != NULL && s->multi;
}

/* End whatever transaction and watch the client has (RESET, close). */
void sp_redis_txn_reset(struct sp_conn *client);

/* A command inside MULTI was refused: EXEC will answer EXECABORT. */
void sp_redis_txn_fail(struct sp_conn *client);

int sp_redis_txn_multi(struct sp_conn *client, struct sp_msg *msg);
int sp_redis_txn_exec(struct sp_conn *client, struct sp_msg *msg);
int sp_redis_txn_discard(struct sp_conn *client, struct sp_msg *msg);

/* WATCH keys: lends the client a connection to their server. */
int sp_redis_txn_watch(struct sp_conn *client, struct sp_msg *msg,
                       const struct sp_redis_req_parser *p);
int sp_redis_txn_unwatch(struct sp_conn *client, struct sp_msg *msg);

/*
 * Queue a command inside MULTI: its keys must all map to one server, the
 * transaction's (set by its first keyed command, or by WATCH). The reply
 * is +QUEUED, or an error that makes EXEC answer EXECABORT.
 */
int sp_redis_txn_queue(struct sp_conn *client, struct sp_msg *msg,
                       const struct sp_redis_req_parser *p);

/* EXEC's parts are answered: its reply is EXEC's (true: msg is EXEC's). */
bool sp_redis_txn_complete(struct sp_worker *worker, struct sp_msg *msg);

#endif /* SP_REDIS_TXN_H */

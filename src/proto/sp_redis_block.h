/*
 * sp_redis_block.h — blocking commands (BLPOP BRPOP BLMOVE BRPOPLPUSH
 * BLMPOP BZPOPMIN BZPOPMAX BZMPOP, XREAD/XREADGROUP with BLOCK) on a
 * server connection lent to the client for the call. Private to
 * src/proto.
 */
#ifndef SP_REDIS_BLOCK_H
#define SP_REDIS_BLOCK_H

#include <stdbool.h>

#include "sp_conn.h"
#include "sp_msg.h"
#include "sp_redis.h"

struct sp_server;

/*
 * A request of a BLOCKING row routed to server (its keys all map there),
 * its arguments' spans in argv: when it may block (BLPOP with a timeout
 * Redis accepts; XREAD with BLOCK), sent on a lent connection and true;
 * false when it cannot block (Redis answers it at once: send it as any
 * other request). A full blocking set answers the client an error (true).
 */
bool sp_redis_block(struct sp_conn *client, struct sp_msg *msg,
                    const struct sp_redis_command *cmd,
                    const struct sp_span *argv, uint32_t nargs,
                    struct sp_server *server);

/* The client's lent connection is no longer its (the call answered, or
 * the connection closed): the client is read again. */
void sp_redis_block_over(struct sp_conn *client);

/* The client leaves (or is reset) mid-call: its lent connection closes. */
void sp_redis_block_cancel(struct sp_conn *client);

/*
 * The call's timeout in ms from its arguments: BLPOP's seconds (the last
 * argument; BLMPOP's and BZMPOP's first), as a float as Redis reads them,
 * rounded up; XREAD's BLOCK milliseconds. 0: waits for ever. -1: it does
 * not block (no BLOCK option) or Redis refuses the value (it answers at
 * once).
 */
int64_t sp_redis_block_timeout(const struct sp_redis_command *cmd,
                               const struct sp_redis_args *args);

#endif /* SP_REDIS_BLOCK_H */

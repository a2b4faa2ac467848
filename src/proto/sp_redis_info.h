/*
 * sp_redis_info.h — INFO, answered by the proxy in redis-server's format
 * from its own state and every server's INFO. Private to src/proto.
 */
#ifndef SP_REDIS_INFO_H
#define SP_REDIS_INFO_H

#include <stdbool.h>

#include "sp_conn.h"
#include "sp_msg.h"

struct sp_worker;

/* Ask every server of the pool for its INFO; the reply is made when they
 * have answered. 0 / -1 (out of memory). */
int sp_redis_info(struct sp_conn *client, struct sp_msg *msg);

/* msg is an INFO whose servers answered: make its reply. False: not one. */
bool sp_redis_info_complete(struct sp_worker *worker, struct sp_msg *msg);

#endif /* SP_REDIS_INFO_H */

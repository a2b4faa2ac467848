/*
 * sp_redis_conncmd.h — commands about the client's own connection (HELLO,
 * AUTH, CLIENT, RESET, ROLE), answered by the proxy. Each builds
 * msg's reply; 0, or -1 when out of memory. Private to src/proto.
 */
#ifndef SP_REDIS_CONNCMD_H
#define SP_REDIS_CONNCMD_H

#include "sp_conn.h"
#include "sp_msg.h"
#include "sp_redis_session.h"

int sp_redis_hello(struct sp_conn *client, struct sp_msg *msg);
int sp_redis_auth(struct sp_conn *client, struct sp_msg *msg);
int sp_redis_client(struct sp_conn *client, struct sp_msg *msg);
int sp_redis_reset(struct sp_conn *client, struct sp_msg *msg);
int sp_redis_role(struct sp_conn *client, struct sp_msg *msg);

#endif /* SP_REDIS_CONNCMD_H */

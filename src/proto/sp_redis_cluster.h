/*
 * sp_redis_cluster.h — Redis Cluster pools, the Redis side
 * (sp_redis_cluster.c): redirections and the CLUSTER command.
 */
#ifndef SP_REDIS_CLUSTER_H
#define SP_REDIS_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "sp_conn.h"
#include "sp_msg.h"

/*
 * msg (taken off conn, a shared connection of a cluster pool) was answered
 * with an error of len bytes, now in msg->rsp: when it is a redirection
 * the proxy follows (MOVED, ASK, TRYAGAIN, CLUSTERDOWN), follow it and
 * return true (msg is on its way again, or failed); false: the error is
 * the reply.
 */
bool sp_redis_cluster_redirect(struct sp_conn *conn, struct sp_msg *msg,
                               uint64_t len);

/* CLUSTER ... from a client of a cluster pool. 0 / -1. */
int sp_redis_cluster_command(struct sp_conn *client, struct sp_msg *msg);

#endif /* SP_REDIS_CLUSTER_H */

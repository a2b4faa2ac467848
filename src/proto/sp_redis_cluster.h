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

#define SP_REDIS_NO_REPLICA \
    "-ERR no replica of the node serving this slot is up (read_from: " \
    "replica)\r\n"

struct sp_server;
struct sp_redis_command;

/*
 * read_from replica / prefer_replica: where client's command goes instead
 * of primary, the node serving its slot: a replica of it for a read-only
 * command outside a transaction, else primary itself. NULL: it is a read,
 * no replica is up and read_from is replica.
 */
struct sp_server *sp_redis_cluster_reader(struct sp_conn *client,
                                          const struct sp_redis_command *cmd,
                                          struct sp_server *primary);

/* The same for the fragments of msg from `first` on (a split read: MGET).
 * False: one has no replica (read_from replica). */
bool sp_redis_cluster_readers(struct sp_conn *client, struct sp_msg *msg,
                              uint32_t first);

/* CLUSTER ... from a client of a cluster pool. 0 / -1. */
int sp_redis_cluster_command(struct sp_conn *client, struct sp_msg *msg);

#endif /* SP_REDIS_CLUSTER_H */

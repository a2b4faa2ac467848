/*
 * sp_replica.h — a server's replica set, for replica reads (a pool's
 * read_from): the replicas a read-only command may go to instead of the
 * server itself, each with connections of its own.
 *
 * A replica is a struct sp_server of its own (its `primary` names the
 * server it replicates), so its connections are made, queued, timed and
 * closed by sp_server.c as any server's, one more set of a server's
 * connections (DESIGN.md section 8): it counts into its primary's stats
 * and carries its primary's index (msg->server), so nothing above the
 * connection needs to know a reply came from a replica. It is never part
 * of the distribution: a failing replica is skipped for a moment
 * (SP_REPLICA_HOLD_MS), not ejected, and its primary is not touched.
 *
 * Where the set comes from is the caller's: with Sentinel, the master
 * publishes each server's healthy replicas in the shared region
 * (sp_shared.h) and the set follows that slot, checked with one load
 * before each pick; another source (Redis Cluster's replicas, reached with
 * READONLY connections) feeds it with sp_replica_set_update and no slot.
 * A replica no longer listed has its connections closed (requests in
 * flight fail); one still listed keeps them.
 */
#ifndef SP_REPLICA_H
#define SP_REPLICA_H

#include <stdbool.h>
#include <stdint.h>

#include "sp_pool.h"
#include "sp_shared.h"

#define SP_REPLICAS_MAX     SP_SHARED_REPLICAS  /* replicas used per server */
#define SP_REPLICA_HOLD_MS  1000    /* a replica that failed: skipped */

struct sp_replica {
    struct sp_server    server;     /* first: a replica is a server */
    bool                used;
    struct sp_conf_addr addr;       /* host points at `host` */
    char                host[SP_SHARED_HOST];
    uint64_t            held_until_ms;  /* loop clock; 0: not held */
};

struct sp_replica_set {
    struct sp_server                *primary;
    const struct sp_shared_replicas *slot;  /* NULL: fed by hand */
    unsigned                         version;   /* of the slot, last read */
    uint32_t                         n;         /* used */
    uint32_t                         next;      /* round robin */
    char                            *none_error; /* "-ERR no replica ..." */
    char                            *gone_error; /* requests in flight to
                                                    a replica no longer
                                                    listed */
    struct sp_replica                r[SP_REPLICAS_MAX];
};

/* Give server a replica set following `slot` (NULL: fed by
 * sp_replica_set_update). 0 / -1 (out of memory). */
int sp_replica_set_init(struct sp_server *server,
                        const struct sp_shared_replicas *slot);

/* Close every replica's connections and free the set (NULL: none). */
void sp_replica_set_free(struct sp_server *server);

/* The replicas are now `list` (n of them, more are cut). */
void sp_replica_set_update(struct sp_server *server,
                           const struct sp_hostport *list, uint32_t n);

/*
 * The replica the next read of server goes to: round robin over the
 * listed ones not held after a failure; NULL when none is up. The set
 * follows its slot first when the master published a new one.
 */
struct sp_server *sp_replica_pick(struct sp_server *server);

/* The error reply of a read with read_from replica when none is up
 * ("-ERR no replica of server '<name>' is up"). */
const char *sp_replica_none_error(const struct sp_server *server);

/* A replica's connection failed, or it answered -LOADING: skip it for
 * SP_REPLICA_HOLD_MS (sp_server_failed calls this for replicas). */
void sp_replica_failed(struct sp_server *replica);

/* A replica's address (sp_server.c connects to it). */
const struct sp_conf_addr *sp_replica_addr(const struct sp_server *replica);

#endif /* SP_REPLICA_H */

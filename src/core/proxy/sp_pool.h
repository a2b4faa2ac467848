/*
 * sp_pool.h — a pool at run time: its configuration, router, servers and
 * their connections, clients, and counters; server failure accounting,
 * ejection and return (auto_eject_hosts).
 */
#ifndef SP_POOL_H
#define SP_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "sp_conf.h"
#include "sp_conn.h"
#include "sp_hotkeys.h"
#include "sp_proto.h"
#include "sp_route.h"
#include "sp_stats.h"

struct sp_cluster_view;
struct sp_worker;

/*
 * A server's connections come in sets (DESIGN.md section 8): per handshake
 * variant (the protocol's: Redis opens RESP2 and RESP3 connections), a
 * shared set of up to server_connections multiplexed by every client;
 * pinned connections, each lent to one client (a WATCHed transaction) and
 * closed when it is done with it; the blocking set, up to
 * blocking_connections, each lent to one client for one blocking call
 * (BLPOP) and idle between calls; and dedicated connections the protocol
 * keeps for itself (Redis pub/sub: one subscriber connection per server,
 * its replies never matched to requests). Every connection knows which it
 * is (struct sp_sconn); `conns` lists them all, the shared ones first.
 */
#define SP_SERVER_VARIANTS  2

struct sp_server {
    struct sp_pool              *pool;
    uint32_t                     index;
    const struct sp_conf_server *conf;
    struct sp_conn_list          conns;         /* every kind */
    uint32_t                     nconns;
    uint32_t                     nshared[SP_SERVER_VARIANTS];
    uint32_t                     next_conn[SP_SERVER_VARIANTS]; /* round robin */
    uint32_t                     npinned;
    uint32_t                     ndedicated;    /* the protocol's own (Redis:
                                                   its subscriber connection) */
    uint32_t                     nblocking;     /* the blocking set: lent
                                                   or idle */
    uint32_t                     nlent;         /* ... of which lent */
    uint32_t                     failures;      /* in a row */
    uint64_t                     retry_at_ms;   /* ejected until (loop clock) */
    bool                         ejected;
    bool                         queue_full;    /* over server_high_watermark
                                                   (sp_flow.h) */
    bool                         fail_streak;   /* connects failing: logged
                                                   once, then summed */
    uint32_t                     fail_unlogged; /* failures since fail_log_ms */
    uint64_t                     fail_log_ms;
    struct sp_stats_server      *stats;         /* in the shared slot */
    void                        *tls_session;   /* server_tls: the last
                                                   session, to resume */
    /* Sentinel pools: where the master publishes the current address
     * (sp_shared.h), and the error requests in flight get on a switch */
    const struct sp_shared_addr *addr_slot;     /* NULL: no Sentinel */
    char                        *switch_error;
};

struct sp_pool {
    struct sp_worker            *worker;
    uint32_t                     index;
    const struct sp_conf_pool   *conf;
    const struct sp_proto       *proto;         /* redis or memcache */
    struct sp_router             router;
    struct sp_dist_server       *dist_servers;  /* liveness for the router */
    struct sp_server            *servers;
    uint32_t                     nservers;
    struct sp_conn              *listener;      /* NULL once draining */
    bool                         listen_shared; /* every worker has it */
    bool                         listen_armed;  /* in the event loop */
    /* the look at a shared listener left to the others (sp_accept.h) */
    uint64_t                     looked_ms;     /* last looked (loop clock) */
    uint64_t                     look_ms;       /* a look pending since;
                                                   0: none */
    int64_t                      look_queued;   /* waiting then */
    int64_t                      look_others;   /* the others had taken */
    int64_t                      taken_here;    /* taken off it by us */
    int64_t                      others_seen;   /* the others' count, and */
    uint64_t                     others_moved_ms;   /* when it last moved */
    bool                         held;          /* watched whatever the
                                                   balance says, until the
                                                   others take again */
    int64_t                      held_others;   /* what they had taken */
    struct sp_conn_list          clients;
    uint32_t                     nclients;
    struct sp_timer              retry_timer;   /* next ejected server's return */
    struct sp_stats_pool        *stats;         /* in the shared slot */
    struct sp_hot_sketch         hot;           /* which keys take the load */
    bool                         conf_hot_keys; /* global hot_keys */
    struct sp_hot_view          *hot_view;      /* published, in the slot */
    struct sp_cluster_view      *cluster;       /* Redis Cluster pools: the
                                                   slot map (NULL: another
                                                   distribution) */
    void                        *proto_state;   /* the protocol's, made on
                                                   demand (Redis: pub/sub);
                                                   sp_proto.pool_free */
};

/* Set up pool from its configuration (no sockets yet), counting into
 * stats and server_stats[nservers]. 0 / -1. */
int sp_pool_init(struct sp_pool *pool, struct sp_worker *worker,
                 uint32_t index, const struct sp_conf_pool *conf,
                 struct sp_stats_pool *stats,
                 struct sp_stats_server *server_stats);

/* Close every connection and release the pool. */
void sp_pool_deinit(struct sp_pool *pool);

/* Whether the pool's distribution is random: a key has no owner (each
 * request goes to a server drawn for it), so keys never "span" servers. */
static inline bool
sp_pool_random(const struct sp_pool *pool)
{
    return pool->router.dist.type == SP_DIST_RANDOM;
}

/* The server owning key (routing by the pool's router); the key is
 * sampled for the hot-key sketch. */
struct sp_server *sp_pool_route(struct sp_pool *pool, const uint8_t *key,
                                size_t len);

/* A connection to server failed (error, refusal, timeout): count it and,
 * with auto_eject_hosts, eject the server at the limit. */
void sp_server_failed(struct sp_server *server);

/* A reply arrived: the server is healthy. */
void sp_server_ok(struct sp_server *server);

/* The server has a new address (Sentinel): its failures are forgotten and,
 * if ejected, it is back in the distribution at once. */
void sp_server_readmit(struct sp_server *server);

/* Connect every server (preconnect). */
void sp_pool_preconnect(struct sp_pool *pool);

#endif /* SP_POOL_H */

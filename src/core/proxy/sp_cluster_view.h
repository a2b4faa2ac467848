/*
 * sp_cluster_view.h — a worker's view of a Redis Cluster pool's map: its
 * copy of the slot map the master publishes (sp_shared.h, sp_cluster.h),
 * routing by slot, and what redirections need: the node an address names,
 * a slot moved by hand until the next map, a refresh asked of the master,
 * and requests sent again after a pause (TRYAGAIN, CLUSTERDOWN, a node the
 * map does not know yet).
 *
 * The copy is taken when the published version moved, checked at each
 * routing (one relaxed load). A node whose address changed (its server
 * index taken by another node) has its connections closed then.
 *
 * The pool's servers are the cluster's nodes (the seeds first, then room,
 * sp_conf_cluster.c); a server index is a node.
 */
#ifndef SP_CLUSTER_VIEW_H
#define SP_CLUSTER_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "sp_cluster_map.h"
#include "sp_event.h"
#include "sp_msg.h"
#include "sp_shared.h"

struct sp_pool;
struct sp_server;

struct sp_cluster_view_node {
    unsigned addr_version;          /* of the address its connections use */
    uint16_t port;
    char     host[SP_CLUSTER_HOST];
};

struct sp_cluster_view {
    struct sp_shared_cluster    *shared;
    unsigned                     version;   /* of the copy */
    uint16_t                     slots[SP_CLUSTER_SLOTS];
    struct sp_cluster_role      *roles;     /* per server */
    struct sp_cluster_view_node *nodes;     /* per server */
    int32_t                     *frag_of_slot;  /* a split's fragments by
                                                   slot (-1: none); reset
                                                   after each split */
    uint64_t                     asked_ms;  /* the last refresh asked */
    uint64_t                     failed_ms; /* ... for a failed node */
    struct sp_timer              ask_timer; /* an ask held back by the gap */
    bool                         ask_failed;/* ... says a node failed */
    uint32_t                     rr;        /* replica reads' round robin */
    struct sp_msg_queue          waiting;   /* to be sent again (slink) */
    struct sp_timer              timer;     /* the first of them is due */
    bool                         read_replicas; /* read_from not primary */
};

/* Set up pool->cluster for the pool's region. 0 / -1 (out of memory). */
int sp_cluster_view_init(struct sp_pool *pool, struct sp_shared_cluster *shared);

/* Fail what waits, free the view. */
void sp_cluster_view_free(struct sp_pool *pool);

/* Take the master's newest map, if it moved. */
void sp_cluster_view_sync(struct sp_pool *pool);

/* The primary serving the slot, or NULL (nobody: the map has no node). */
struct sp_server *sp_cluster_view_node(struct sp_pool *pool, uint16_t slot);

/* For a read: a replica of primary (round robin over the healthy ones),
 * else the primary itself when prefer is set, else NULL. */
struct sp_server *sp_cluster_view_replica(struct sp_pool *pool,
                                          struct sp_server *primary,
                                          bool prefer);

/* The node at host:port, or NULL when the map has none there. */
struct sp_server *sp_cluster_view_find(struct sp_pool *pool, const char *host,
                                       uint16_t port);

/* A -MOVED: the slot is node's from now on (until the next map). */
void sp_cluster_view_moved(struct sp_pool *pool, uint16_t slot,
                           struct sp_server *node);

/* Ask the master for a new map: failed says a node failed. At most one
 * ask of each kind per 100 ms; one asked sooner is sent when the 100 ms
 * are over (never dropped: a request may wait for its answer). */
void sp_cluster_view_refresh(struct sp_pool *pool, bool failed);

/*
 * Send msg again after delay_ms: to the node serving slot then (slot >= 0),
 * else to the server it went to (msg->server). msg has left every server
 * queue and stays pending to its client; it must have its ext (it counts
 * the redirections there).
 */
void sp_cluster_view_later(struct sp_pool *pool, struct sp_msg *msg,
                           int32_t slot, uint32_t delay_ms);

/* The same, sent once the master's map is newer than the worker's copy now
 * (a -MOVED to a node the map does not know yet), or at ext->give_up_ms. */
void sp_cluster_view_after_map(struct sp_pool *pool, struct sp_msg *msg,
                               int32_t slot);

#endif /* SP_CLUSTER_VIEW_H */

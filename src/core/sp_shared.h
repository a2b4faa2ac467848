/*
 * sp_shared.h — the memory one generation of processes shares: each pool's
 * live client count and the connections taken off its shared listener, and
 * one stats slot per worker (its counters, and what the others need to
 * balance accepts: clients, accepting, and its heartbeat).
 *
 *   +--------+-----------------+------------------+------------+--------+--
 *   | header | pool_clients[n] | pool_accepted[n] | heartbeat  | slot 0 | ..
 *   |        | (atomics every worker writes; n =  | [nslots],  |        |
 *   |        |  npools)                           | a line each|        |
 *   +--------+-----------------+------------------+------------+--------+--
 *   slot: struct sp_stats_slot (process counters), then the pools'
 *   struct sp_stats_pool [npools], then the servers' struct sp_stats_server
 *   [nservers], pool by pool in configuration order, then each pool's hot
 *   keys, struct sp_hot_view [npools].
 *
 * The master maps it (MAP_SHARED | MAP_ANONYMOUS) before forking, so every
 * worker inherits it at the same address. A worker writes only its own slot
 * (plain stores: one writer per slot) and the atomics; the master reads the
 * slots to serve the summed stats without asking any worker, so a busy or
 * hung worker cannot stall the stats port, and a respawned worker continues
 * its slot's counters (the master zeroes the gauges of a dead one first).
 * With worker_processes 0 the single process maps one slot the same way.
 *
 * Each server has an address slot (struct sp_shared_addr, after the
 * heartbeats): the address its Sentinel last named (sp_sentinel.h), which
 * the master writes and the workers read when they open a connection to
 * the server; unset (version 0), the configuration's address is used. A
 * version counter makes it a seqlock: odd while the master writes, even
 * once done, so a reader never takes half an address.
 *
 * A slot's heartbeat is its worker's loop clock (CLOCK_MONOTONIC, ms) at
 * the loop's last turn, one relaxed store per turn; the master's watchdog
 * (sp_watchdog.c) compares it with its own clock to find a hung worker.
 */
#ifndef SP_SHARED_H
#define SP_SHARED_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sp_cluster_map.h"
#include "sp_conf.h"
#include "sp_hotkeys.h"
#include "sp_refused.h"
#include "sp_stats.h"

/* A worker's process-wide counters, beside its pools' and servers'. */
struct sp_stats_slot {
    int64_t pid;                /* 0: no worker in the slot */
    int64_t worker;             /* index */
    int64_t started_s;          /* time(NULL) at the worker's start */
    int64_t total_connections;
    int64_t curr_connections;
    int64_t clients;            /* live client connections (accept lock) */
    int64_t buffers_allocated;  /* free-list counters, refreshed each second */
    int64_t buffers_in_use;
    int64_t buffers_free;
    int64_t messages_allocated;
    int64_t messages_in_use;
    int64_t messages_free;
    int64_t parsers_allocated;  /* client parser states (sp_client_parse.h) */
    int64_t parsers_in_use;
    int64_t parsers_free;
    int64_t clients_paused;     /* times a client went over its high
                                   watermark and was no longer read */
    int64_t clients_held;       /* clients not read now (flow control) */
    int64_t memory_budget;      /* worker_memory_budget, bytes */
    int64_t memory_used;        /* what the budget counts, at the tick */
    int64_t budget_pauses;      /* clients held back for the budget */
    int64_t server_waits;       /* clients held back for a full server */
    int64_t pubsub_clients;     /* clients with a subscription */
    int64_t pubsub_channels;    /* channels (and shard channels) and */
    int64_t pubsub_patterns;    /* patterns they subscribe to */
    int64_t subscriber_connections; /* to servers, one per server at most */
    int64_t pubsub_messages;    /* messages delivered to clients */
    struct sp_refused refused;  /* requests refused, by reason and command */
    /* the accept balance (sp_accept.h), not summed: */
    int64_t accepting;          /* 1: watches the shared listeners */
};

#define SP_SHARED_HOST 64      /* an IPv6 address's text fits */

/* A server's current address (see above). */
struct sp_shared_addr {
    atomic_uint  version;       /* 0: unset; odd: being written */
    atomic_uint  port;
    _Atomic char host[SP_SHARED_HOST];
};

/* An address read out of a slot. */
struct sp_shared_addr_copy {
    unsigned version;           /* 0: unset (host and port are not) */
    uint16_t port;
    char     host[SP_SHARED_HOST];
};

/*
 * A Redis Cluster pool's slot map (sp_cluster.h), after the address slots:
 * per slot the index of the node serving it (the pool's server index;
 * SP_CLUSTER_NO_NODE: none), per node its role. The master writes it, the
 * workers copy it when `version` moved; a seqlock like the addresses'.
 */
#define SP_SHARED_NODE_NONE     0   /* not in the map */
#define SP_SHARED_NODE_PRIMARY  1
#define SP_SHARED_NODE_REPLICA  2

struct sp_shared_cluster_node {
    atomic_ushort primary_of;       /* a replica's primary (server index) */
    atomic_uchar  role;             /* SP_SHARED_NODE_* */
    atomic_uchar  failed;           /* the cluster says it is failing */
};

struct sp_shared_cluster {
    atomic_uint                   version;  /* 0: no map yet; odd: being
                                               written */
    atomic_ushort                 slots[SP_CLUSTER_SLOTS];
    struct sp_shared_cluster_node nodes[];  /* the pool's nservers */
};

/* A worker's copy of the node roles. */
struct sp_cluster_role {
    uint16_t primary_of;
    uint8_t  role;
    uint8_t  failed;
};

struct sp_shared_header {
    uint32_t            npools;
    uint32_t            nservers;
    uint32_t            nslots;
    size_t              slot_size;
    size_t              addrs_offset;   /* struct sp_shared_addr [nservers] */
    size_t              clusters_offset;/* the cluster pools' maps */
    size_t              slots_offset;
};

struct sp_shared {
    struct sp_shared_header *header;    /* the mapping starts here */
    size_t                   size;
    atomic_llong            *pool_clients;
    atomic_llong            *pool_accepted; /* taken off the pool's shared
                                               listener by any worker, ever
                                               (the balance's look,
                                               sp_accept.h) */
};

/* Map the shared memory for conf and nslots workers. 0, or -1 + errno. */
int sp_shared_create(struct sp_shared *shared, const struct sp_conf *conf,
                     uint32_t nslots);
void sp_shared_destroy(struct sp_shared *shared);

struct sp_stats_slot *sp_shared_slot(const struct sp_shared *shared,
                                     uint32_t slot);
/* Worker `slot`'s heartbeat: its loop clock (ms) at its last turn. */
atomic_llong *sp_shared_heartbeat(const struct sp_shared *shared,
                                  uint32_t slot);

/* Server `server`'s address slot (numbered across pools in configuration
 * order). */
struct sp_shared_addr *sp_shared_addr(const struct sp_shared *shared,
                                      uint32_t server);

/* Master: publish host:port as the server's current address. */
void sp_shared_addr_set(struct sp_shared_addr *slot, const char *host,
                        uint16_t port);

/* Read a slot (copy->version 0: unset). */
void sp_shared_addr_get(const struct sp_shared_addr *slot,
                        struct sp_shared_addr_copy *copy);

/* Pool `pool`'s cluster map (conf: the generation's configuration), or
 * NULL when it is no Redis Cluster pool. */
struct sp_shared_cluster *sp_shared_cluster(const struct sp_shared *shared,
                                            const struct sp_conf *conf,
                                            uint32_t pool);

/* Master: publish a map of nnodes nodes (slots: server index per slot). */
void sp_shared_cluster_write(struct sp_shared_cluster *c, uint32_t nnodes,
                             const uint16_t *slots,
                             const struct sp_cluster_role *roles);

/* Copy the map when its version is not *version: 1 (copied, *version
 * updated), 0 (unchanged, or no map yet). */
int sp_shared_cluster_read(const struct sp_shared_cluster *c, uint32_t nnodes,
                           unsigned *version, uint16_t *slots,
                           struct sp_cluster_role *roles);

struct sp_stats_pool *sp_shared_pool_stats(const struct sp_shared *shared,
                                           uint32_t slot, uint32_t pool);
/* Servers numbered across pools in configuration order. */
struct sp_stats_server *sp_shared_server_stats(const struct sp_shared *shared,
                                               uint32_t slot, uint32_t server);

/* The hot keys worker `slot` published for pool. */
struct sp_hot_view *sp_shared_pool_hot(const struct sp_shared *shared,
                                       uint32_t slot, uint32_t pool);

/*
 * A worker in `slot` is gone: take its live clients out of the pools'
 * counts and zero its gauges (its connections died with it); its counters
 * stay, for the next worker in the slot to continue.
 */
void sp_shared_slot_vacate(struct sp_shared *shared, uint32_t slot);

/* dst += src: the process counters of two slots (pid and index aside). */
void sp_stats_slot_add(struct sp_stats_slot *dst, const struct sp_stats_slot *src);

/*
 * dst (npools pool stats, then nservers server stats, as in a slot) = the
 * sum over every slot; process counters into *proc. dst has room for
 * npools + nservers entries of their types.
 */
void sp_shared_sum(const struct sp_shared *shared, struct sp_stats_slot *proc,
                   struct sp_stats_pool *pools, struct sp_stats_server *servers);

#endif /* SP_SHARED_H */

/*
 * sp_cluster_map.h — Redis Cluster's placement: a key's hash slot, and the
 * cluster's map of slots to nodes read from a node's own answer.
 *
 * A key's slot is Redis's: CRC16/XMODEM of the key, or of what its first
 * "{...}" holds when that is not empty, modulo 16384.
 *
 * A map is read from the raw reply (RESP2) of `CLUSTER SHARDS` (Redis 7)
 * or `CLUSTER SLOTS` (older servers): the nodes it names, each a primary or
 * a replica of one, and for every slot the primary serving it. A node with
 * an empty or "?" address is the node that was asked. The map is a plain
 * value: the master's follower (sp_cluster.h) builds one per refresh, and
 * `--locate` one per run.
 */
#ifndef SP_CLUSTER_MAP_H
#define SP_CLUSTER_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SP_CLUSTER_SLOTS      16384
#define SP_CLUSTER_NO_NODE    0xffffu   /* a slot nobody serves */
#define SP_CLUSTER_HOST       64        /* an IPv6 address's text fits */
#define SP_CLUSTER_ID         41        /* 40 hex digits */

/* The slot of key[0..len). */
uint16_t sp_cluster_slot(const uint8_t *key, size_t len);

struct sp_cluster_node {
    char     host[SP_CLUSTER_HOST];
    uint16_t port;
    char     id[SP_CLUSTER_ID];     /* "" when the answer gave none */
    bool     primary;
    bool     failed;                /* SHARDS: health not "online" */
    uint32_t primary_of;            /* a replica's primary (index in nodes);
                                       SP_CLUSTER_NO_NODE: none known */
};

struct sp_cluster_map {
    struct sp_cluster_node *nodes;
    uint32_t                nnodes;
    uint32_t                cap;
    uint16_t                slots[SP_CLUSTER_SLOTS];   /* primary's index */
    uint32_t                nserved;    /* slots with a primary */
};

void sp_cluster_map_init(struct sp_cluster_map *map);
void sp_cluster_map_free(struct sp_cluster_map *map);

/*
 * Read a CLUSTER SHARDS (shards true) or CLUSTER SLOTS reply, buf[0..len)
 * exactly one reply, asked of asked_host. 0, or -1 with a reason in
 * err[errlen] (not that reply's shape, out of memory). The map is replaced.
 */
int sp_cluster_map_parse(struct sp_cluster_map *map, bool shards,
                         const char *buf, size_t len, const char *asked_host,
                         char *err, size_t errlen);

/* The length of the whole RESP2 reply at buf: its bytes, 0 when it is not
 * whole yet, -1 when it is no RESP. */
long sp_cluster_reply_len(const char *buf, size_t len);

/*
 * Ask host:port for its map, blocking (each step within timeout_ms):
 * AUTH [user] pass when pass is set, then CLUSTER SHARDS, or CLUSTER SLOTS
 * when the node does not know SHARDS. For the master's first map and for
 * `--locate`. 0, or -1 with a reason in err.
 */
int sp_cluster_fetch(struct sp_cluster_map *map, const char *host,
                     uint16_t port, const char *user, const char *pass,
                     int timeout_ms, char *err, size_t errlen);

/* The index of host:port in map, or -1. */
int64_t sp_cluster_map_find(const struct sp_cluster_map *map,
                            const char *host, uint16_t port);

/* Slots whose primary is node `index`. */
uint32_t sp_cluster_map_slots_of(const struct sp_cluster_map *map,
                                 uint32_t index);

#endif /* SP_CLUSTER_MAP_H */

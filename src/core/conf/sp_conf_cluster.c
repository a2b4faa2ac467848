/*
 * sp_conf_cluster.c — the rules of a Redis Cluster pool (distribution
 * redis_cluster) and of its keys: it needs redis: true; hash, a hash_tag
 * other than "{}" and sentinels make no sense there (the cluster places
 * keys by its own slots); its servers are seed nodes (host:port, any
 * subset of the cluster); the cluster_* keys and read_from need it (or
 * sentinels, for read_from). Each message points at the key it is about.
 *
 * A cluster pool's servers are then grown to cluster_max_nodes entries:
 * the seeds first, then room for the nodes the master finds (their
 * addresses are published in the shared region, sp_shared.h), so every
 * node has its stats slot and connection set from the start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_conf_int.h"

static int
sp_conf_cluster_keys_unset(struct sp_conf_loader *ld, yaml_node_t *map)
{
    static const char *const keys[] = {
        "cluster_refresh_interval", "cluster_max_redirects",
        "cluster_max_nodes",
    };

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        yaml_node_t *node = sp_conf_key_node(ld, map, keys[i]);
        if (node != NULL) {
            return sp_conf_fail(ld, node, "%s is set but distribution is not "
                                "redis_cluster", keys[i]);
        }
    }
    return 0;
}

/* Room for the nodes after the seeds. 0 / -1 (out of memory). */
static int
sp_conf_cluster_room(struct sp_conf_pool *pool)
{
    uint32_t want = (uint32_t)pool->cluster_max_nodes;
    struct sp_conf_server *servers;

    pool->nseeds = pool->nservers;
    if (want <= pool->nservers) {
        return 0;
    }
    servers = realloc(pool->servers, want * sizeof(*servers));
    if (servers == NULL) {
        return -1;
    }
    pool->servers = servers;
    memset(&servers[pool->nservers], 0,
           (want - pool->nservers) * sizeof(*servers));
    for (uint32_t i = pool->nservers; i < want; i++) {
        char name[32];

        snprintf(name, sizeof(name), "(node %u)", i);
        servers[i].pname = strdup(name);
        servers[i].name = strdup(name);
        servers[i].addr.host = strdup("");
        servers[i].weight = 1;
        servers[i].line = servers[0].line;
        pool->nservers = i + 1;     /* counted so sp_conf_free frees it */
        if (servers[i].pname == NULL || servers[i].name == NULL
            || servers[i].addr.host == NULL) {
            return -1;
        }
    }
    return 0;
}

int
sp_conf_check_cluster(struct sp_conf_loader *ld, struct sp_conf_pool *pool,
                      yaml_node_t *map)
{
    yaml_node_t *dist = sp_conf_mapping_get(ld, map, "distribution");
    yaml_node_t *node;

    if (pool->distribution != SP_DIST_REDIS_CLUSTER) {
        node = sp_conf_key_node(ld, map, "read_from");
        if (node != NULL && pool->nsentinels == 0) {
            return sp_conf_fail(ld, node, "read_from needs distribution "
                                "redis_cluster or sentinels");
        }
        return sp_conf_cluster_keys_unset(ld, map);
    }
    if (!pool->redis) {
        return sp_conf_fail(ld, dist, "distribution redis_cluster is only "
                            "valid with redis: true");
    }
    if ((node = sp_conf_key_node(ld, map, "hash")) != NULL) {
        return sp_conf_fail(ld, node, "hash has no meaning with distribution "
                            "redis_cluster (the cluster hashes keys to its "
                            "slots with CRC16); remove it");
    }
    if (pool->hash_tag[0] != '\0' && strcmp(pool->hash_tag, "{}") != 0) {
        return sp_conf_fail(ld, sp_conf_key_node(ld, map, "hash_tag"),
                            "hash_tag '%s' cannot be used with distribution "
                            "redis_cluster: the cluster's hash tag is {}",
                            pool->hash_tag);
    }
    if (pool->nsentinels > 0) {
        return sp_conf_fail(ld, sp_conf_key_node(ld, map, "sentinels"),
                            "sentinels cannot be used with distribution "
                            "redis_cluster (the cluster fails over by "
                            "itself)");
    }
    if ((node = sp_conf_key_node(ld, map, "auto_eject_hosts")) != NULL
        && pool->auto_eject_hosts) {
        return sp_conf_fail(ld, node, "auto_eject_hosts cannot be used with "
                            "distribution redis_cluster (a node's slots "
                            "are the cluster's to move)");
    }
    if (pool->cluster_refresh_interval < 100) {
        return sp_conf_fail(ld, sp_conf_mapping_get(ld, map,
                                                    "cluster_refresh_interval"),
                            "cluster_refresh_interval must be at least "
                            "100 ms");
    }
    if (pool->cluster_max_redirects < 1) {
        return sp_conf_fail(ld, sp_conf_mapping_get(ld, map,
                                                    "cluster_max_redirects"),
                            "cluster_max_redirects must be at least 1");
    }
    if (pool->cluster_max_nodes < 1
        || (uint32_t)pool->cluster_max_nodes < pool->nservers) {
        return sp_conf_fail(ld, sp_conf_mapping_get(ld, map,
                                                    "cluster_max_nodes"),
                            "cluster_max_nodes (%d) must be at least the "
                            "number of servers (%u)", pool->cluster_max_nodes,
                            pool->nservers);
    }
    for (uint32_t i = 0; i < pool->nservers; i++) {
        if (pool->servers[i].addr.is_unix) {
            yaml_node_t *list = sp_conf_mapping_get(ld, map, "servers");
            return sp_conf_fail(ld, yaml_document_get_node(
                                    &ld->doc,
                                    list->data.sequence.items.start[i]),
                                "servers '%s': a cluster's seed is a "
                                "host:port, not a socket path",
                                pool->servers[i].pname);
        }
    }
    if (sp_conf_cluster_room(pool) != 0) {
        return sp_conf_fail(ld, dist, "out of memory for cluster_max_nodes");
    }
    return 0;
}

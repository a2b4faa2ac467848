/*
 * sp_locate_cluster.c — `--locate` for a Redis Cluster pool: the live
 * cluster is asked for its map (each seed in turn, blocking, as the master
 * asks for its first map), and each key printed with its slot and the
 * node serving it now:
 *   KEY -> HOST:PORT slot N
 * A slot no node serves prints "-> (none) slot N".
 */
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "sp_cluster_map.h"
#include "sp_locate.h"

#define SP_LOCATE_TIMEOUT_MS 2000

static void
sp_locate_cluster_print(const void *placement, const char *key, size_t len,
                        FILE *out)
{
    const struct sp_cluster_map *map = placement;
    uint16_t slot = sp_cluster_slot((const uint8_t *)key, len);
    uint16_t node = map->slots[slot];

    fwrite(key, 1, len, out);
    if (node == SP_CLUSTER_NO_NODE) {
        fprintf(out, " -> (none) slot %u\n", (unsigned)slot);
        return;
    }
    fprintf(out, strchr(map->nodes[node].host, ':') != NULL
                 ? " -> [%s]:%u slot %u\n" : " -> %s:%u slot %u\n",
            map->nodes[node].host, (unsigned)map->nodes[node].port,
            (unsigned)slot);
}

int
sp_locate_cluster(const struct sp_conf_pool *pool, char **keys, int nkeys,
                  FILE *in, FILE *out, FILE *err)
{
    struct sp_cluster_map *map = malloc(sizeof(*map));
    char why[256] = "no seed";
    int rc = -1;

    if (map == NULL) {
        fprintf(err, "shardproxy: out of memory\n");
        return -1;
    }
    sp_cluster_map_init(map);
    for (uint32_t j = 0; j < pool->nseeds && rc != 0; j++) {
        const struct sp_conf_server *seed = &pool->servers[j];
        rc = sp_cluster_fetch(map, seed->addr.host, seed->addr.port,
                              pool->redis_auth_user, pool->redis_auth,
                              SP_LOCATE_TIMEOUT_MS, why, sizeof(why));
        if (rc != 0) {
            fprintf(err, "shardproxy: pool '%s': seed %s: %s\n", pool->name,
                    seed->pname, why);
        }
    }
    if (rc != 0) {
        fprintf(err, "shardproxy: pool '%s': no seed answered with the "
                "cluster's map\n", pool->name);
    } else {
        sp_locate_each(sp_locate_cluster_print, map, keys, nkeys, in, out);
    }
    sp_cluster_map_free(map);
    free(map);
    return rc;
}

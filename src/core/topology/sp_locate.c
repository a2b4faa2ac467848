/*
 * sp_locate.c — key placement from the command line (see sp_locate.h).
 */
#include "sp_locate.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "sp_route.h"

struct sp_locate_ring {
    struct sp_router          *router;
    const struct sp_conf_pool *pool;
};

static void
sp_locate_print(const void *placement, const char *key, size_t len, FILE *out)
{
    const struct sp_locate_ring *ring = placement;
    const struct sp_conf_pool *pool = ring->pool;
    int64_t index = sp_router_route(ring->router, (const uint8_t *)key, len);
    const struct sp_conf_server *server = &pool->servers[index];
    char addr[256];

    sp_conf_addr_format(&server->addr, addr, sizeof(addr));
    fwrite(key, 1, len, out);
    fprintf(out, " -> %s %s\n", server->name, addr);
}

void
sp_locate_each(sp_locate_print_fn print, const void *placement, char **keys,
               int nkeys, FILE *in, FILE *out)
{
    if (nkeys > 0) {
        for (int i = 0; i < nkeys; i++) {
            print(placement, keys[i], strlen(keys[i]), out);
        }
        return;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;

    while ((len = getline(&line, &cap, in)) > 0) {
        if (line[len - 1] == '\n') {
            len--;
        }
        print(placement, line, (size_t)len, out);
    }
    free(line);
}

int
sp_locate(const struct sp_conf *conf, const char *pool_name, char **keys,
          int nkeys, FILE *in, FILE *out, FILE *err)
{
    const struct sp_conf_pool *pool = sp_conf_pool_find(conf, pool_name);
    struct sp_dist_server *servers;
    struct sp_router router;
    int rc = 0;

    if (pool == NULL) {
        fprintf(err, "shardproxy: no pool named '%s' in %s\n", pool_name,
                conf->path);
        return -1;
    }
    if (pool->distribution == SP_DIST_REDIS_CLUSTER) {
        return sp_locate_cluster(pool, keys, nkeys, in, out, err);
    }
    if (pool->distribution == SP_DIST_RANDOM) {
        fprintf(err, "shardproxy: pool '%s' uses distribution random: its "
                "keys have no fixed server\n", pool_name);
        return -1;
    }

    servers = calloc(pool->nservers, sizeof(*servers));
    if (servers == NULL) {
        fprintf(err, "shardproxy: out of memory\n");
        return -1;
    }
    for (uint32_t i = 0; i < pool->nservers; i++) {
        servers[i].identity = pool->servers[i].name;
        servers[i].identity_len = strlen(pool->servers[i].name);
        servers[i].weight = pool->servers[i].weight;
        servers[i].live = true;
    }
    sp_router_init(&router, pool->hash, pool->distribution,
                   pool->hash_tag[0] != '\0' ? pool->hash_tag : NULL,
                   pool->nservers, 0);
    if (sp_router_rebuild(&router, servers) != 0) {
        fprintf(err, "shardproxy: out of memory\n");
        rc = -1;
    } else {
        struct sp_locate_ring ring = { &router, pool };
        sp_locate_each(sp_locate_print, &ring, keys, nkeys, in, out);
    }
    sp_router_free(&router);
    free(servers);
    return rc;
}

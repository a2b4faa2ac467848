/*
 * sp_conf_check.c — the rules of a pool that span several keys or pools,
 * checked once all of a pool's keys are read: a listen address and servers
 * are required, redis_auth needs redis, server_connections >= 1, server
 * names are unique in a pool, sentinels need redis and named servers, and
 * no two pools listen on one address.
 * Each message points at the key it is about.
 *
 * It also puts pools and servers in nutcracker's order. nutcracker sorts
 * both by name (shorter names first, then bytewise) while validating, and
 * keeps that order: it is the order of modula's and random's tables and of
 * the stats JSON, so a server's index -- and a key's placement under
 * modula -- depends on it, not on the order in the file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_conf_int.h"
#include "sp_conf_value.h"
#include "sp_tls.h"

yaml_node_t *
sp_conf_key_node(struct sp_conf_loader *ld, yaml_node_t *map, const char *name)
{
    yaml_node_pair_t *pair = sp_conf_mapping_pair(ld, map, name);

    return pair != NULL ? sp_conf_node(ld, pair->key) : NULL;
}

static int
sp_conf_check_servers(struct sp_conf_loader *ld, struct sp_conf_pool *pool,
                      yaml_node_t *map)
{
    yaml_node_t *list = sp_conf_mapping_get(ld, map, "servers");

    for (uint32_t i = 1; i < pool->nservers; i++) {
        for (uint32_t j = 0; j < i; j++) {
            if (strcmp(pool->servers[i].name, pool->servers[j].name) != 0) {
                continue;
            }
            yaml_node_t *entry = yaml_document_get_node(
                &ld->doc, list->data.sequence.items.start[i]);
            return sp_conf_fail(ld, entry, "servers '%s' (line %d) and '%s' "
                                "have the same name '%s'; names must be "
                                "unique in a pool", pool->servers[j].pname,
                                pool->servers[j].line, pool->servers[i].pname,
                                pool->servers[i].name);
        }
    }
    return 0;
}

/*
 * Sentinel keys: only with `sentinels` on a Redis pool; every server named
 * (its Sentinel master name; duplicates are caught by
 * sp_conf_check_servers).
 */
static int
sp_conf_check_sentinels(struct sp_conf_loader *ld, struct sp_conf_pool *pool,
                        yaml_node_t *map)
{
    static const char *const keys[] = {
        "sentinel_auth", "sentinel_auth_user", "sentinel_refresh_interval",
    };

    if (pool->nsentinels == 0) {
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            yaml_node_t *node = sp_conf_key_node(ld, map, keys[i]);
            if (node != NULL) {
                return sp_conf_fail(ld, node, "%s is set but sentinels is "
                                    "not", keys[i]);
            }
        }
        return 0;
    }
    if (!pool->redis) {
        return sp_conf_fail(ld, sp_conf_key_node(ld, map, "sentinels"),
                            "sentinels is only valid with redis: true");
    }
    if (pool->sentinel_auth_user != NULL && pool->sentinel_auth == NULL) {
        return sp_conf_fail(ld, sp_conf_key_node(ld, map,
                                                 "sentinel_auth_user"),
                            "sentinel_auth_user needs sentinel_auth (its "
                            "password)");
    }
    if (pool->sentinel_refresh_interval < 100) {
        return sp_conf_fail(ld, sp_conf_mapping_get(ld, map,
                                                    "sentinel_refresh_interval"),
                            "sentinel_refresh_interval must be at least "
                            "100 ms");
    }
    if (pool->server_tls.enabled) {
        return sp_conf_fail(ld, sp_conf_key_node(ld, map, "sentinels"),
                            "sentinels with server_tls is not supported "
                            "yet (the sentinels and ROLE are asked over "
                            "plain TCP)");
    }
    yaml_node_t *list = sp_conf_mapping_get(ld, map, "servers");
    for (uint32_t i = 0; i < pool->nservers; i++) {
        if (pool->servers[i].named && !pool->servers[i].addr.is_unix) {
            continue;
        }
        yaml_node_t *entry = yaml_document_get_node(
            &ld->doc, list->data.sequence.items.start[i]);
        return sp_conf_fail(ld, entry, "servers '%s' %s: with sentinels "
                            "every server is \"host:port:weight name\", the "
                            "name its Sentinel master name",
                            pool->servers[i].pname,
                            pool->servers[i].addr.is_unix
                            ? "is a socket path" : "has no name");
    }
    return 0;
}

static int
sp_conf_check_listen_unique(struct sp_conf_loader *ld,
                            struct sp_conf_pool *pool, yaml_node_t *map)
{
    const struct sp_conf *conf = ld->conf;

    for (uint32_t i = 0; i < conf->npools; i++) {
        const struct sp_conf_pool *other = &conf->pools[i];

        if (other == pool || other->listen.host == NULL) {
            continue;
        }
        if (sp_conf_addr_equal(&other->listen, &pool->listen)) {
            return sp_conf_fail(ld, sp_conf_mapping_get(ld, map, "listen"),
                                "listen '%s' is the address of pool '%s' "
                                "(line %d) too", pool->listen_pname,
                                other->name, other->line);
        }
    }
    return 0;
}

/* <side>_low_watermark below <side>_high_watermark; the high mark alone,
 * below the default low: read again at a quarter. */
static int
sp_conf_check_watermarks(struct sp_conf_loader *ld, yaml_node_t *map,
                         const char *side, const int *high, int *low)
{
    char low_key[32];

    snprintf(low_key, sizeof(low_key), "%s_low_watermark", side);
    yaml_node_t *node = sp_conf_mapping_get(ld, map, low_key);
    if (node == NULL && *low >= *high) {
        *low = *high / 4;
    }
    if (*high > 0 && *low >= *high) {
        return sp_conf_fail(ld, node, "%s %d must be below %s_high_watermark "
                            "%d", low_key, *low, side, *high);
    }
    return 0;
}

/*
 * One side's TLS keys: none without the side's switch; with it, the
 * context is built (files read, lists parsed) and any fault is reported at
 * the key it comes from.
 */
static int
sp_conf_check_tls(struct sp_conf_loader *ld, struct sp_conf_pool *pool,
                  yaml_node_t *map, struct sp_conf_tls *tls, bool to_clients)
{
    static const char *const suffixes[] = {
        "cert_file", "key_file", "ca_file", "protocols", "ciphers",
        "ciphersuites", "server_name", "verify",
    };
    const char *prefix = to_clients ? "tls" : "server_tls";
    char name[64], err[768];
    const char *bad = NULL;

    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(name, sizeof(name), "%s_%s", prefix, suffixes[i]);
        yaml_node_t *node = sp_conf_key_node(ld, map, name);
        if (node != NULL && !tls->enabled) {
            return sp_conf_fail(ld, node, "%s is set but %s is not true",
                                name, prefix);
        }
    }
    if (!tls->enabled) {
        return 0;
    }
    if (sp_tls_conf_build(tls, to_clients, pool->name, err, sizeof(err),
                          &bad) == 0) {
        return 0;
    }
    if (bad != NULL) {
        snprintf(name, sizeof(name), "%s_%s", prefix, bad);
        yaml_node_t *node = sp_conf_mapping_get(ld, map, name);
        return sp_conf_fail(ld, node != NULL ? node
                            : sp_conf_key_node(ld, map, prefix),
                            "%s: %s", name, err);
    }
    return sp_conf_fail(ld, sp_conf_key_node(ld, map, prefix), "%s: true %s",
                        prefix, err);
}

int
sp_conf_check_pool(struct sp_conf_loader *ld, struct sp_conf_pool *pool,
                   yaml_node_t *knode, yaml_node_t *map)
{
    if (pool->listen.host == NULL) {
        return sp_conf_fail(ld, knode, "listen is missing (\"host:port\" or "
                            "\"/path [perm]\" expected)");
    }
    if (pool->nservers == 0) {
        return sp_conf_fail(ld, knode, "servers is missing (a list of "
                            "\"host:port:weight [name]\" expected)");
    }
    if (pool->redis_auth != NULL && !pool->redis) {
        return sp_conf_fail(ld, sp_conf_key_node(ld, map, "redis_auth"),
                            "redis_auth is only valid with redis: true");
    }
    if (pool->redis_auth_user != NULL && pool->redis_auth == NULL) {
        return sp_conf_fail(ld, sp_conf_key_node(ld, map, "redis_auth_user"),
                            "redis_auth_user needs redis_auth (its password)");
    }
    if (pool->server_connections == 0) {
        return sp_conf_fail(ld, sp_conf_mapping_get(ld, map,
                                                    "server_connections"),
                            "server_connections must be at least 1");
    }
    if (sp_conf_check_watermarks(ld, map, "client", &pool->client_high_watermark,
                                 &pool->client_low_watermark) != 0
        || sp_conf_check_watermarks(ld, map, "server",
                                    &pool->server_high_watermark,
                                    &pool->server_low_watermark) != 0) {
        return -1;
    }
    if (sp_conf_check_servers(ld, pool, map) != 0
        || sp_conf_check_cluster(ld, pool, map) != 0    /* before sentinels':
                                                           its refusal of them
                                                           says more */
        || sp_conf_check_sentinels(ld, pool, map) != 0) {
        return -1;
    }
    if (pool->tls_handshake_timeout == 0) {
        return sp_conf_fail(ld, sp_conf_mapping_get(ld, map,
                                                    "tls_handshake_timeout"),
                            "tls_handshake_timeout must be at least 1 ms");
    }
    if (sp_conf_check_tls(ld, pool, map, &pool->tls, true) != 0
        || sp_conf_check_tls(ld, pool, map, &pool->server_tls, false) != 0) {
        return -1;
    }
    return sp_conf_check_listen_unique(ld, pool, map);
}

/* nutcracker's string_compare: length first, then bytes */
static int
sp_conf_name_cmp(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (la != lb) {
        return la < lb ? -1 : 1;
    }
    return memcmp(a, b, la);
}

static int
sp_conf_server_cmp(const void *a, const void *b)
{
    return sp_conf_name_cmp(((const struct sp_conf_server *)a)->name,
                            ((const struct sp_conf_server *)b)->name);
}

static int
sp_conf_pool_cmp(const void *a, const void *b)
{
    return sp_conf_name_cmp(((const struct sp_conf_pool *)a)->name,
                            ((const struct sp_conf_pool *)b)->name);
}

void
sp_conf_order(struct sp_conf *conf)
{
    for (uint32_t i = 0; i < conf->npools; i++) {
        struct sp_conf_pool *pool = &conf->pools[i];
        if (pool->distribution == SP_DIST_REDIS_CLUSTER) {
            continue;       /* seeds, then room for the nodes: no order */
        }
        qsort(pool->servers, pool->nservers, sizeof(*pool->servers),
              sp_conf_server_cmp);
    }
    qsort(conf->pools, conf->npools, sizeof(*conf->pools), sp_conf_pool_cmp);
}

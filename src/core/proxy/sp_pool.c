/*
 * sp_pool.c — pools at run time: set-up from the configuration, routing,
 * and server health: failures in a row eject a server (auto_eject_hosts)
 * until server_retry_timeout, and the router is rebuilt at each change.
 *
 * When every server of a pool is ejected, the router falls back to all of
 * them, as nutcracker effectively does: requests then meet the real error
 * of the server they belong to, instead of none at all.
 */
#include "sp_pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "sp_client.h"
#include "sp_cluster_view.h"
#include "sp_server.h"
#include "sp_worker.h"
#include "sp_tls.h"

static void sp_pool_retry(struct sp_event_loop *loop, struct sp_timer *timer);

static int
sp_pool_rebuild(struct sp_pool *pool)
{
    uint32_t nlive = 0;

    for (uint32_t i = 0; i < pool->nservers; i++) {
        pool->dist_servers[i].live = !pool->servers[i].ejected;
        nlive += pool->dist_servers[i].live;
    }
    if (nlive == 0) {
        for (uint32_t i = 0; i < pool->nservers; i++) {
            pool->dist_servers[i].live = true;
        }
    }
    return sp_router_rebuild(&pool->router, pool->dist_servers);
}

int
sp_pool_init(struct sp_pool *pool, struct sp_worker *worker, uint32_t index,
             const struct sp_conf_pool *conf, struct sp_stats_pool *stats,
             struct sp_stats_server *server_stats)
{
    memset(pool, 0, sizeof(*pool));
    pool->worker = worker;
    pool->index = index;
    pool->conf = conf;
    pool->proto = conf->redis ? &sp_proto_redis : &sp_proto_memcache;
    pool->nservers = conf->nservers;
    pool->stats = stats;
    TAILQ_INIT(&pool->clients);

    pool->servers = calloc(conf->nservers, sizeof(*pool->servers));
    pool->dist_servers = calloc(conf->nservers, sizeof(*pool->dist_servers));
    if (pool->servers == NULL || pool->dist_servers == NULL) {
        return -1;
    }
    for (uint32_t i = 0; i < conf->nservers; i++) {
        struct sp_server *server = &pool->servers[i];

        server->pool = pool;
        server->index = i;
        server->conf = &conf->servers[i];
        server->stats = &server_stats[i];
        TAILQ_INIT(&server->conns);
        pool->dist_servers[i].identity = conf->servers[i].name;
        pool->dist_servers[i].identity_len = strlen(conf->servers[i].name);
        pool->dist_servers[i].weight = conf->servers[i].weight;
    }
    sp_router_init(&pool->router, conf->hash, conf->distribution,
                   conf->hash_tag[0] != '\0' ? conf->hash_tag : NULL,
                   conf->nservers,
                   (uint64_t)(uintptr_t)pool ^ (uint64_t)worker->started_ms);
    return sp_pool_rebuild(pool);
}

void
sp_pool_deinit(struct sp_pool *pool)
{
    struct sp_worker *worker = pool->worker;
    struct sp_conn *conn;

    sp_timer_del(worker->loop, &pool->retry_timer);
    sp_cluster_view_free(pool);     /* what waits to be sent again fails */
    if (pool->proto_state != NULL && pool->proto->pool_free != NULL) {
        pool->proto->pool_free(pool);   /* before its connections close */
    }
    while ((conn = TAILQ_FIRST(&pool->clients)) != NULL) {
        sp_client_close(conn);
    }
    for (uint32_t i = 0; pool->servers != NULL && i < pool->nservers; i++) {
        while ((conn = TAILQ_FIRST(&pool->servers[i].conns)) != NULL) {
            sp_server_close(conn, pool->proto->error_reply(ESHUTDOWN));
        }
        sp_tls_session_drop(&pool->servers[i]);
        free(pool->servers[i].switch_error);
    }
    if (pool->listener != NULL) {
        sp_conn_free(pool->listener);
        pool->listener = NULL;
    }
    sp_router_free(&pool->router);
    free(pool->servers);
    free(pool->dist_servers);
    pool->servers = NULL;
    pool->dist_servers = NULL;
}

struct sp_server *
sp_pool_route(struct sp_pool *pool, const uint8_t *key, size_t len)
{
    int64_t index;

    if (pool->cluster != NULL) {
        struct sp_server *node = sp_cluster_view_node(pool,
                                                      sp_cluster_slot(key, len));
        if (node == NULL) {
            sp_cluster_view_refresh(pool, false);
            return NULL;
        }
        index = node->index;
    } else {
        index = sp_router_route(&pool->router, key, len);
    }
    if (index < 0) {
        return NULL;
    }
    if (len > 0 && pool->conf_hot_keys) {
        sp_hot_sample(&pool->hot, key, len, (uint32_t)index);
    }
    return &pool->servers[index];
}

static void
sp_pool_arm_retry(struct sp_pool *pool)
{
    struct sp_event_loop *loop = pool->worker->loop;
    uint64_t earliest = 0, now = sp_event_now_ms(loop);

    for (uint32_t i = 0; i < pool->nservers; i++) {
        const struct sp_server *server = &pool->servers[i];
        if (server->ejected && (earliest == 0 || server->retry_at_ms < earliest)) {
            earliest = server->retry_at_ms;
        }
    }
    if (earliest == 0) {
        sp_timer_del(loop, &pool->retry_timer);
        return;
    }
    sp_timer_add(loop, &pool->retry_timer, earliest > now ? earliest - now : 0,
                 sp_pool_retry, pool);
}

void
sp_server_readmit(struct sp_server *server)
{
    struct sp_pool *pool = server->pool;

    server->failures = 0;
    if (!server->ejected) {
        return;
    }
    server->ejected = false;
    if (sp_pool_rebuild(pool) != 0) {
        sp_log_error(pool->worker->log, 0, "pool '%s': out of memory "
                     "rebuilding the distribution", pool->conf->name);
    }
}

static void
sp_pool_retry(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_pool *pool = timer->data;
    uint64_t now = sp_event_now_ms(loop);
    bool changed = false;

    for (uint32_t i = 0; i < pool->nservers; i++) {
        struct sp_server *server = &pool->servers[i];
        if (server->ejected && server->retry_at_ms <= now) {
            server->ejected = false;    /* failures stay: one more re-ejects */
            changed = true;
            sp_log_notice(pool->worker->log, "pool '%s': server '%s' returns "
                          "after server_retry_timeout", pool->conf->name,
                          server->conf->name);
        }
    }
    if (changed && sp_pool_rebuild(pool) != 0) {
        sp_log_error(pool->worker->log, 0, "pool '%s': out of memory "
                     "rebuilding the distribution", pool->conf->name);
    }
    sp_pool_arm_retry(pool);
}

static int64_t
sp_usec_now(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

void
sp_server_failed(struct sp_server *server)
{
    struct sp_pool *pool = server->pool;
    const struct sp_conf_pool *conf = pool->conf;

    server->failures++;
    if (pool->cluster != NULL) {
        sp_cluster_view_refresh(pool, true);    /* a failover may follow */
    }
    if (!conf->auto_eject_hosts || server->ejected
        || server->failures < (uint32_t)conf->server_failure_limit) {
        return;
    }
    server->ejected = true;
    server->retry_at_ms = sp_event_now_ms(pool->worker->loop)
                          + (uint64_t)conf->server_retry_timeout;
    server->stats->server_ejected_at = sp_usec_now();
    pool->stats->server_ejects++;
    sp_log_warn(pool->worker->log, 0, "pool '%s': server '%s' ejected after "
                "%u failures, retry in %d ms", conf->name, server->conf->name,
                server->failures, conf->server_retry_timeout);
    if (sp_pool_rebuild(pool) != 0) {
        sp_log_error(pool->worker->log, 0, "pool '%s': out of memory "
                     "rebuilding the distribution", conf->name);
    }
    sp_pool_arm_retry(pool);
}

void
sp_server_ok(struct sp_server *server)
{
    server->failures = 0;
}

void
sp_pool_preconnect(struct sp_pool *pool)
{
    for (uint32_t i = 0; i < pool->nservers; i++) {
        struct sp_server *server = &pool->servers[i];
        for (int c = 0; c < pool->conf->server_connections; c++) {
            if (sp_server_connect(server, 0, NULL) == NULL) {
                break;
            }
        }
    }
}

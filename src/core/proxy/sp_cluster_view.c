/*
 * sp_cluster_view.c — a worker's copy of a Redis Cluster pool's map, and
 * the requests waiting to be sent again (see sp_cluster_view.h).
 */
#include "sp_cluster_view.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_channel.h"
#include "sp_forward.h"
#include "sp_pool.h"
#include "sp_server.h"
#include "sp_worker.h"

#define SP_CLUSTER_ASK_GAP_MS  100  /* refresh asks of one worker's pool */

int
sp_cluster_view_init(struct sp_pool *pool, struct sp_shared_cluster *shared)
{
    struct sp_cluster_view *v = calloc(1, sizeof(*v));

    if (v == NULL) {
        return -1;
    }
    v->roles = calloc(pool->nservers, sizeof(*v->roles));
    v->nodes = calloc(pool->nservers, sizeof(*v->nodes));
    v->frag_of_slot = malloc(SP_CLUSTER_SLOTS * sizeof(*v->frag_of_slot));
    if (v->roles == NULL || v->nodes == NULL || v->frag_of_slot == NULL) {
        free(v->roles);
        free(v->nodes);
        free(v->frag_of_slot);
        free(v);
        return -1;
    }
    for (uint32_t s = 0; s < SP_CLUSTER_SLOTS; s++) {
        v->slots[s] = SP_CLUSTER_NO_NODE;
        v->frag_of_slot[s] = -1;
    }
    v->shared = shared;
    v->read_replicas = pool->conf->read_from != SP_READ_PRIMARY;
    pool->cluster = v;
    sp_cluster_view_sync(pool);
    return 0;
}

void
sp_cluster_view_free(struct sp_pool *pool)
{
    struct sp_cluster_view *v = pool->cluster;

    if (v == NULL) {
        return;
    }
    sp_timer_del(pool->worker->loop, &v->ask_timer);
    free(v->roles);
    free(v->nodes);
    free(v->frag_of_slot);
    free(v);
    pool->cluster = NULL;
}

/* A node that left the map: its connections with nothing in flight go. */
static void
sp_cluster_view_idle_close(struct sp_server *server)
{
    struct sp_conn *conn, *next;

    for (conn = TAILQ_FIRST(&server->conns); conn != NULL; conn = next) {
        next = TAILQ_NEXT(conn, link);
        if (SP_MSGQ_EMPTY(&conn->queue) && SP_MSGQ_EMPTY(&sp_sconn(conn)->inflight)
            && !sp_sconn(conn)->pinned && !sp_sconn(conn)->dedicated) {
            sp_server_close(conn, server->pool->proto->error_reply(ESHUTDOWN));
        }
    }
}

/* Nodes whose address changed: their connections go (to the old node);
 * nodes that left the map: their idle connections. */
static void
sp_cluster_view_addresses(struct sp_pool *pool)
{
    struct sp_cluster_view *v = pool->cluster;

    for (uint32_t i = 0; i < pool->nservers; i++) {
        struct sp_server *server = &pool->servers[i];
        struct sp_shared_addr_copy now;
        struct sp_conn *conn;

        if (server->addr_slot == NULL) {
            continue;
        }
        sp_shared_addr_get(server->addr_slot, &now);
        if (now.version == v->nodes[i].addr_version) {
            if (v->roles[i].role == SP_SHARED_NODE_NONE) {
                sp_cluster_view_idle_close(server);     /* it left the map */
            }
            continue;
        }
        if (v->nodes[i].addr_version != 0 || now.version == 0) {
            while ((conn = TAILQ_FIRST(&server->conns)) != NULL) {
                sp_server_close(conn, pool->proto->error_reply(ECONNRESET));
            }
        }
        v->nodes[i].addr_version = now.version;
        v->nodes[i].port = now.version != 0 ? now.port
                                            : server->conf->addr.port;
        memcpy(v->nodes[i].host, now.version != 0 ? now.host
                                                   : server->conf->addr.host,
               sizeof(v->nodes[i].host) - 1);
        v->nodes[i].host[sizeof(v->nodes[i].host) - 1] = '\0';
    }
}

void
sp_cluster_view_sync(struct sp_pool *pool)
{
    struct sp_cluster_view *v = pool->cluster;

    if (sp_shared_cluster_read(v->shared, pool->nservers, &v->version,
                               v->slots, v->roles) == 1) {
        sp_cluster_view_addresses(pool);
    }
}

struct sp_server *
sp_cluster_view_node(struct sp_pool *pool, uint16_t slot)
{
    struct sp_cluster_view *v = pool->cluster;
    uint16_t node;

    sp_cluster_view_sync(pool);
    node = v->slots[slot & (SP_CLUSTER_SLOTS - 1)];
    return node < pool->nservers ? &pool->servers[node] : NULL;
}

struct sp_server *
sp_cluster_view_replica(struct sp_pool *pool, struct sp_server *primary,
                        bool prefer)
{
    struct sp_cluster_view *v = pool->cluster;
    uint32_t n = 0, pick;

    for (uint32_t i = 0; i < pool->nservers; i++) {
        n += v->roles[i].role == SP_SHARED_NODE_REPLICA && !v->roles[i].failed
             && v->roles[i].primary_of == primary->index;
    }
    if (n == 0) {
        return prefer ? primary : NULL;
    }
    pick = v->rr++ % n;
    for (uint32_t i = 0; i < pool->nservers; i++) {
        if (v->roles[i].role == SP_SHARED_NODE_REPLICA && !v->roles[i].failed
            && v->roles[i].primary_of == primary->index && pick-- == 0) {
            return &pool->servers[i];
        }
    }
    return primary;
}

struct sp_server *
sp_cluster_view_find(struct sp_pool *pool, const char *host, uint16_t port)
{
    struct sp_cluster_view *v = pool->cluster;

    sp_cluster_view_sync(pool);
    for (uint32_t i = 0; i < pool->nservers; i++) {
        if (v->nodes[i].addr_version != 0 && v->nodes[i].port == port
            && strcmp(v->nodes[i].host, host) == 0) {
            return &pool->servers[i];
        }
    }
    return NULL;
}

void
sp_cluster_view_moved(struct sp_pool *pool, uint16_t slot,
                      struct sp_server *node)
{
    pool->cluster->slots[slot & (SP_CLUSTER_SLOTS - 1)] =
        (uint16_t)node->index;
}

static void
sp_cluster_view_ask_later(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_pool *pool = timer->data;

    (void)loop;
    sp_cluster_view_refresh(pool, pool->cluster->ask_failed);
}

void
sp_cluster_view_refresh(struct sp_pool *pool, bool failed)
{
    struct sp_cluster_view *v = pool->cluster;
    struct sp_worker *worker = pool->worker;
    uint64_t now = sp_event_now_ms(worker->loop);
    struct sp_channel_msg msg = {
        .command = SP_CHANNEL_REFRESH, .pid = worker->pid, .arg = failed,
    };
    uint64_t *last = failed ? &v->failed_ms : &v->asked_ms;

    if (worker->channel == NULL) {
        return;
    }
    if (*last != 0 && now - *last < SP_CLUSTER_ASK_GAP_MS) {
        v->ask_failed = v->ask_failed || failed;
        if (!v->ask_timer.armed) {
            sp_timer_add(worker->loop, &v->ask_timer,
                         *last + SP_CLUSTER_ASK_GAP_MS - now,
                         sp_cluster_view_ask_later, pool);
        }
        return;
    }
    if (v->ask_timer.armed && (!v->ask_failed || failed)) {
        sp_timer_del(worker->loop, &v->ask_timer);  /* this ask covers it */
    }
    if (!v->ask_timer.armed) {
        v->ask_failed = false;
    }
    *last = now;
    snprintf(msg.name, sizeof(msg.name), "%s", pool->conf->name);
    if (sp_channel_send(worker->channel->fd, &msg, -1) != 0) {
        sp_log_warn(worker->log, errno, "pool '%s': cannot ask the master "
                    "for the cluster's map", pool->conf->name);
    }
}

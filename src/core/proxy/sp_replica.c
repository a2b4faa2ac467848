/*
 * sp_replica.c — a server's replica set (see sp_replica.h).
 */
#include "sp_replica.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_server.h"
#include "sp_worker.h"

static void
sp_replica_close(struct sp_replica *r, const char *why)
{
    struct sp_conn *conn;

    while ((conn = TAILQ_FIRST(&r->server.conns)) != NULL) {
        sp_server_close(conn, why);
    }
    r->used = false;
}

/* "-ERR <fmt with the server's name>\r\n", allocated. */
static char *
sp_replica_error(const char *fmt, const char *name)
{
    int n = snprintf(NULL, 0, fmt, name);
    char *text = n > 0 ? malloc((size_t)n + 1) : NULL;

    if (text != NULL) {
        snprintf(text, (size_t)n + 1, fmt, name);
    }
    return text;
}

int
sp_replica_set_init(struct sp_server *server,
                    const struct sp_shared_replicas *slot)
{
    struct sp_replica_set *set = calloc(1, sizeof(*set));

    if (set == NULL) {
        return -1;
    }
    set->none_error = sp_replica_error("-ERR no replica of server '%s' is "
                                       "up\r\n", server->conf->name);
    set->gone_error = sp_replica_error("-ERR a replica of server '%s' left "
                                       "its healthy replicas\r\n",
                                       server->conf->name);
    if (set->none_error == NULL || set->gone_error == NULL) {
        free(set->none_error);
        free(set->gone_error);
        free(set);
        return -1;
    }
    set->primary = server;
    set->slot = slot;
    server->replicas = set;
    return 0;
}

void
sp_replica_set_free(struct sp_server *server)
{
    struct sp_replica_set *set = server->replicas;

    if (set == NULL) {
        return;
    }
    for (uint32_t i = 0; i < SP_REPLICAS_MAX; i++) {
        if (set->r[i].used) {
            sp_replica_close(&set->r[i], server->pool->proto->error_reply(
                                             ESHUTDOWN));
        }
    }
    free(set->none_error);
    free(set->gone_error);
    free(set);
    server->replicas = NULL;
}

static bool
sp_replica_listed(const struct sp_replica *r, const struct sp_hostport *list,
                  uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (list[i].port == r->addr.port && strcmp(list[i].host, r->host) == 0) {
            return true;
        }
    }
    return false;
}

static bool
sp_replica_known(const struct sp_replica_set *set, const struct sp_hostport *hp)
{
    for (uint32_t i = 0; i < SP_REPLICAS_MAX; i++) {
        const struct sp_replica *r = &set->r[i];
        if (r->used && r->addr.port == hp->port && strcmp(r->host, hp->host) == 0) {
            return true;
        }
    }
    return false;
}

void
sp_replica_set_update(struct sp_server *server, const struct sp_hostport *list,
                      uint32_t n)
{
    struct sp_replica_set *set = server->replicas;
    struct sp_pool *pool = server->pool;

    if (n > SP_REPLICAS_MAX) {
        n = SP_REPLICAS_MAX;
    }
    /* gone: their connections closed (the replica may be down, or now a
     * master: no read should wait on it) */
    for (uint32_t i = 0; i < SP_REPLICAS_MAX; i++) {
        struct sp_replica *r = &set->r[i];
        if (r->used && !sp_replica_listed(r, list, n)) {
            sp_log_info(pool->worker->log, "pool '%s': server '%s': replica "
                        "%s:%u no longer listed", pool->conf->name,
                        server->conf->name, r->host, (unsigned)r->addr.port);
            sp_replica_close(r, set->gone_error);
        }
    }
    /* new: a free place each (places never move: connections point at
     * their server) */
    for (uint32_t k = 0; k < n; k++) {
        if (sp_replica_known(set, &list[k])) {
            continue;
        }
        for (uint32_t i = 0; i < SP_REPLICAS_MAX; i++) {
            struct sp_replica *r = &set->r[i];
            if (r->used) {
                continue;
            }
            memset(r, 0, sizeof(*r));
            r->used = true;
            snprintf(r->host, sizeof(r->host), "%s", list[k].host);
            r->addr.host = r->host;
            r->addr.port = list[k].port;
            r->server.pool = pool;
            r->server.index = server->index;
            r->server.conf = server->conf;
            r->server.stats = server->stats;
            r->server.primary = server;
            TAILQ_INIT(&r->server.conns);
            break;
        }
    }
    set->n = 0;
    for (uint32_t i = 0; i < SP_REPLICAS_MAX; i++) {
        set->n += set->r[i].used;
    }
}

/* Follow the slot when the master published a new set. */
static void
sp_replica_follow(struct sp_replica_set *set)
{
    struct sp_shared_replicas_copy copy;

    if (set->slot == NULL
        || sp_shared_replicas_version(set->slot) == set->version) {
        return;
    }
    sp_shared_replicas_get(set->slot, &copy);
    set->version = copy.version;
    sp_replica_set_update(set->primary, copy.replica, copy.count);
    for (uint32_t i = 0; i < SP_REPLICAS_MAX; i++) {
        set->r[i].held_until_ms = 0;    /* a fresh report: try them all */
    }
}

struct sp_server *
sp_replica_pick(struct sp_server *server)
{
    struct sp_replica_set *set = server->replicas;
    uint64_t now;

    sp_replica_follow(set);
    if (set->n == 0) {
        return NULL;
    }
    now = sp_event_now_ms(server->pool->worker->loop);
    for (uint32_t tries = 0; tries < SP_REPLICAS_MAX; tries++) {
        struct sp_replica *r = &set->r[set->next++ % SP_REPLICAS_MAX];

        if (r->used && r->held_until_ms <= now) {
            return &r->server;
        }
    }
    return NULL;
}

const char *
sp_replica_none_error(const struct sp_server *server)
{
    return server->replicas->none_error;
}

void
sp_replica_failed(struct sp_server *replica)
{
    struct sp_replica *r = (struct sp_replica *)(void *)replica;

    r->held_until_ms = sp_event_now_ms(replica->pool->worker->loop)
                       + SP_REPLICA_HOLD_MS;
}

const struct sp_conf_addr *
sp_replica_addr(const struct sp_server *replica)
{
    return &((const struct sp_replica *)(const void *)replica)->addr;
}

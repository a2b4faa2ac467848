/*
 * sp_cluster.c — the master's Redis Cluster follower (see sp_cluster.h):
 * per cluster pool one connection asking for the map, the nodes' server
 * indexes, and publishing the map to the generations that serve the pool.
 */
#include "sp_cluster.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "sp_cluster_map.h"
#include "sp_master_int.h"
#include "sp_resp_conn.h"
#include "sp_shared.h"
#include "sp_stats.h"
#include "sp_stats_report.h"

#define SP_CLUSTER_TIMEOUT_MS  1000     /* a connect or a reply */
#define SP_CLUSTER_FAST_MS     200      /* after a failure: ask this often */
#define SP_CLUSTER_FAST_FOR_MS 15000    /* ... for so long at most */
#define SP_CLUSTER_GAP_MS      50       /* asks on demand: at most this often */
#define SP_CLUSTER_RETRY_MS    100      /* after a failed ask */
#define SP_CLUSTER_MAX_REPLY   (64u * 1024 * 1024)

struct sp_cluster_pool;

/* A server index of the pool, and the node that has it. */
struct sp_cluster_room {
    char     host[SP_CLUSTER_HOST];
    uint16_t port;
    bool     used;              /* a node has had this index */
    struct sp_cluster_role now; /* in the published map */
    uint32_t slots;
};

struct sp_cluster_pool {
    struct sp_cluster          *owner;
    const struct sp_conf_pool  *conf;
    uint32_t                    index;      /* in the configuration */
    uint32_t                    first;      /* first server's address slot */
    struct sp_cluster_room     *rooms;      /* conf->nservers */
    uint16_t                    slots[SP_CLUSTER_SLOTS];
    bool                        have_map;
    struct sp_cluster_map       map;        /* the last answer */
    struct sp_resp_conn         query;
    char                        query_host[SP_CLUSTER_HOST];
    uint32_t                    query_at;   /* the candidate asked */
    uint32_t                    replies;    /* on this connection */
    bool                        slots_only; /* the node knows no SHARDS */
    bool                        busy;       /* an ask is under way */
    bool                        again;      /* asked for while busy */
    uint64_t                    last_ms;    /* the last ask started */
    uint64_t                    fast_until_ms;
    struct sp_timer             timer;
    int64_t                     refreshes;
    int64_t                     failovers;
    int64_t                     errors;
};

struct sp_cluster {
    struct sp_master        *master;
    struct sp_generation    *gen;
    struct sp_cluster_pool  *pools;     /* one per configured pool; only the
                                           cluster pools' are used */
    uint32_t                 npools;
};

static struct sp_log *
sp_cluster_log(const struct sp_cluster_pool *cp)
{
    return cp->owner->master->log;
}

static bool
sp_cluster_is(const struct sp_cluster_pool *cp)
{
    return cp->rooms != NULL;
}

/* ---- publishing ------------------------------------------------------------ */

/* Write cp's rooms and slots into gen's region for the pool of cp's name
 * (a retiring generation's pool of that name, when it has the same room). */
static void
sp_cluster_publish_gen(struct sp_cluster_pool *cp, struct sp_generation *gen,
                       const bool *moved)
{
    const struct sp_conf *conf = gen->conf;
    uint32_t first = 0;
    uint32_t n = cp->conf->nservers;

    for (uint32_t p = 0; p < conf->npools; p++) {
        const struct sp_conf_pool *pool = &conf->pools[p];

        if (pool->distribution != SP_DIST_REDIS_CLUSTER
            || strcmp(pool->name, cp->conf->name) != 0
            || pool->nservers != n) {
            first += pool->nservers;
            continue;
        }
        struct sp_cluster_role *roles = calloc(n, sizeof(*roles));
        if (roles == NULL) {
            return;
        }
        for (uint32_t j = 0; j < n; j++) {
            roles[j] = cp->rooms[j].now;
            if (moved == NULL || moved[j]) {
                if (cp->rooms[j].used) {
                    sp_shared_addr_set(sp_shared_addr(&gen->shared, first + j),
                                       cp->rooms[j].host, cp->rooms[j].port);
                }
            }
        }
        sp_shared_cluster_write(sp_shared_cluster(&gen->shared, conf, p), n,
                                cp->slots, roles);
        free(roles);
        return;
    }
}

static void
sp_cluster_publish(struct sp_cluster_pool *cp, const bool *moved)
{
    struct sp_master *master = cp->owner->master;

    sp_cluster_publish_gen(cp, cp->owner->gen, moved);
    for (struct sp_generation *g = master->retiring; g != NULL; g = g->next) {
        sp_cluster_publish_gen(cp, g, moved);
    }
}

/* The room for host:port: its own, a seed's of that address, a free one,
 * or one whose node left the map (not `taken` by a node of this answer).
 * Index, or -1 (no room: cluster_max_nodes). */
static int64_t
sp_cluster_room_for(struct sp_cluster_pool *cp, const char *host,
                    uint16_t port, const bool *taken, bool *moved)
{
    uint32_t n = cp->conf->nservers;
    int64_t pick = -1;

    for (uint32_t j = 0; j < n; j++) {
        if (cp->rooms[j].used && cp->rooms[j].port == port
            && strcmp(cp->rooms[j].host, host) == 0) {
            return j;
        }
    }
    for (uint32_t j = 0; pick < 0 && j < cp->conf->nseeds; j++) {
        const struct sp_conf_server *seed = &cp->conf->servers[j];
        if (!cp->rooms[j].used && seed->addr.port == port
            && strcmp(seed->addr.host, host) == 0) {
            pick = j;
        }
    }
    for (uint32_t j = cp->conf->nseeds; pick < 0 && j < n; j++) {
        if (!cp->rooms[j].used) {
            pick = j;
        }
    }
    for (uint32_t j = 0; pick < 0 && j < n; j++) {
        if (!cp->rooms[j].used && !taken[j]) {
            pick = j;
        }
    }
    for (uint32_t j = 0; pick < 0 && j < n; j++) {
        if (!taken[j] && cp->rooms[j].now.role == SP_SHARED_NODE_NONE) {
            pick = j;
        }
    }
    if (pick >= 0) {
        snprintf(cp->rooms[pick].host, sizeof(cp->rooms[pick].host), "%s",
                 host);
        cp->rooms[pick].port = port;
        cp->rooms[pick].used = true;
        moved[pick] = true;
    }
    return pick;
}

/* Take a new answer: rooms for its nodes, the slots, the roles; publish
 * when anything changed. */
static void
sp_cluster_apply(struct sp_cluster_pool *cp, const struct sp_cluster_map *map)
{
    uint32_t n = cp->conf->nservers;
    uint32_t *room_of = calloc(map->nnodes + 1, sizeof(*room_of));
    bool *moved = calloc(n, sizeof(*moved));
    bool *taken = calloc(n, sizeof(*taken));
    struct sp_cluster_role *was = calloc(n, sizeof(*was));
    bool changed = !cp->have_map;
    uint32_t slots_moved = 0, lost = 0;

    if (room_of == NULL || moved == NULL || taken == NULL || was == NULL) {
        sp_log_error(sp_cluster_log(cp), ENOMEM, "pool '%s': cannot take the "
                     "cluster's map", cp->conf->name);
        goto out;
    }
    for (uint32_t i = 0; i < map->nnodes; i++) {
        for (uint32_t j = 0; j < n; j++) {
            if (cp->rooms[j].used && cp->rooms[j].port == map->nodes[i].port
                && strcmp(cp->rooms[j].host, map->nodes[i].host) == 0) {
                taken[j] = true;
            }
        }
    }
    for (uint32_t i = 0; i < map->nnodes; i++) {
        int64_t j = sp_cluster_room_for(cp, map->nodes[i].host,
                                        map->nodes[i].port, taken, moved);
        if (j < 0) {
            room_of[i] = SP_CLUSTER_NO_NODE;
            lost++;
            continue;
        }
        taken[j] = true;
        room_of[i] = (uint32_t)j;
    }
    if (lost > 0) {
        sp_log_error(sp_cluster_log(cp), 0, "pool '%s': the cluster has %u "
                     "nodes more than cluster_max_nodes (%d) leaves room "
                     "for; their slots are not served", cp->conf->name, lost,
                     cp->conf->cluster_max_nodes);
    }
    for (uint32_t j = 0; j < n; j++) {
        was[j] = cp->rooms[j].now;
        memset(&cp->rooms[j].now, 0, sizeof(cp->rooms[j].now));
        cp->rooms[j].now.primary_of = SP_CLUSTER_NO_NODE;
        cp->rooms[j].slots = 0;
    }
    for (uint32_t i = 0; i < map->nnodes; i++) {
        const struct sp_cluster_node *node = &map->nodes[i];
        if (room_of[i] == SP_CLUSTER_NO_NODE) {
            continue;
        }
        struct sp_cluster_role *r = &cp->rooms[room_of[i]].now;
        r->role = node->primary ? SP_SHARED_NODE_PRIMARY
                                : SP_SHARED_NODE_REPLICA;
        r->failed = node->failed;
        r->primary_of = node->primary_of != SP_CLUSTER_NO_NODE
                        ? (uint16_t)room_of[node->primary_of]
                        : SP_CLUSTER_NO_NODE;
    }
    for (uint32_t s = 0; s < SP_CLUSTER_SLOTS; s++) {
        uint16_t node = map->slots[s];
        uint16_t room = node != SP_CLUSTER_NO_NODE
                        ? (uint16_t)room_of[node] : SP_CLUSTER_NO_NODE;
        if (cp->slots[s] != room) {
            slots_moved++;
            cp->slots[s] = room;
        }
        if (room != SP_CLUSTER_NO_NODE) {
            cp->rooms[room].slots++;
        }
    }
    for (uint32_t j = 0; j < n; j++) {
        const struct sp_cluster_role *r = &cp->rooms[j].now;
        if (memcmp(r, &was[j], sizeof(*r)) != 0 || moved[j]) {
            changed = true;
        }
        if (was[j].role == SP_SHARED_NODE_REPLICA
            && r->role == SP_SHARED_NODE_PRIMARY && cp->rooms[j].slots > 0) {
            cp->failovers++;
            sp_log_notice(sp_cluster_log(cp), "pool '%s': node %s:%u is a "
                          "primary now, serving %u slots (failover)",
                          cp->conf->name, cp->rooms[j].host,
                          (unsigned)cp->rooms[j].port, cp->rooms[j].slots);
        }
    }
    changed = changed || slots_moved > 0;
    if (changed) {
        if (cp->have_map && slots_moved > 0) {
            sp_log_notice(sp_cluster_log(cp), "pool '%s': %u slots moved; "
                          "%u of 16384 served", cp->conf->name, slots_moved,
                          map->nserved);
        } else if (!cp->have_map) {
            sp_log_notice(sp_cluster_log(cp), "pool '%s': the cluster has %u "
                          "nodes; %u of 16384 slots served", cp->conf->name,
                          map->nnodes, map->nserved);
        }
        cp->have_map = true;
        sp_cluster_publish(cp, moved);
    }
out:
    free(room_of);
    free(moved);
    free(taken);
    free(was);
}

/* A primary serving slots is failing, or slots have nobody. */
static bool
sp_cluster_degraded(const struct sp_cluster_pool *cp)
{
    for (uint32_t j = 0; j < cp->conf->nservers; j++) {
        if (cp->rooms[j].now.role == SP_SHARED_NODE_PRIMARY
            && cp->rooms[j].now.failed && cp->rooms[j].slots > 0) {
            return true;
        }
    }
    for (uint32_t s = 0; s < SP_CLUSTER_SLOTS; s++) {
        if (cp->slots[s] == SP_CLUSTER_NO_NODE) {
            return true;
        }
    }
    return false;
}

/* ---- asking ----------------------------------------------------------------- */

static void sp_cluster_tick(struct sp_event_loop *loop, struct sp_timer *timer);

static void
sp_cluster_schedule(struct sp_cluster_pool *cp, uint64_t after_ms)
{
    struct sp_event_loop *loop = cp->owner->master->loop;

    if (cp->timer.armed) {
        sp_timer_del(loop, &cp->timer);
    }
    sp_timer_add(loop, &cp->timer, after_ms, sp_cluster_tick, cp);
}

/* The next ask's delay after one ended. */
static uint64_t
sp_cluster_next_ms(struct sp_cluster_pool *cp)
{
    uint64_t now = sp_event_now_ms(cp->owner->master->loop);
    uint64_t every = (uint64_t)cp->conf->cluster_refresh_interval;

    if (cp->again) {
        cp->again = false;
        return SP_CLUSTER_GAP_MS;
    }
    if ((now < cp->fast_until_ms || sp_cluster_degraded(cp))
        && every > SP_CLUSTER_FAST_MS) {
        return SP_CLUSTER_FAST_MS;
    }
    return every;
}

static void
sp_cluster_done(struct sp_cluster_pool *cp, bool ok)
{
    cp->busy = false;
    if (!ok) {
        cp->errors++;
        cp->query_at++;
        sp_resp_close(&cp->query);
        sp_cluster_schedule(cp, SP_CLUSTER_RETRY_MS);
        return;
    }
    cp->refreshes++;
    sp_cluster_schedule(cp, sp_cluster_next_ms(cp));
}

static void
sp_cluster_ask(struct sp_cluster_pool *cp)
{
    const char *argv[2] = { "CLUSTER", cp->slots_only ? "SLOTS" : "SHARDS" };

    cp->busy = true;
    cp->last_ms = sp_event_now_ms(cp->owner->master->loop);
    if (sp_resp_command(&cp->query, 2, argv) != 0) {
        sp_cluster_done(cp, false);
    }
}

static void
sp_cluster_reply(struct sp_resp_conn *c, const struct sp_resp_reply *reply,
                 void *data)
{
    struct sp_cluster_pool *cp = data;
    char err[256];

    cp->replies++;
    if (cp->conf->redis_auth != NULL && cp->replies == 1) {
        if (reply->top.type == '-') {
            sp_log_warn(sp_cluster_log(cp), 0, "pool '%s': node %s refused "
                        "AUTH: %.*s", cp->conf->name, c->peer,
                        (int)reply->top.len, reply->top.s);
            sp_cluster_done(cp, false);
        }
        return;
    }
    if (reply->top.type == '-' && !cp->slots_only
        && reply->top.len >= 22
        && strncasecmp(reply->top.s, "ERR unknown subcommand", 22) == 0) {
        cp->slots_only = true;          /* before Redis 7: ask SLOTS */
        sp_cluster_ask(cp);
        return;
    }
    if (sp_cluster_map_parse(&cp->map, !cp->slots_only, reply->raw,
                             reply->raw_len, cp->query_host, err,
                             sizeof(err)) != 0) {
        sp_log_warn(sp_cluster_log(cp), 0, "pool '%s': node %s answered no "
                    "map: %s", cp->conf->name, c->peer, err);
        sp_cluster_done(cp, false);
        return;
    }
    sp_cluster_apply(cp, &cp->map);
    sp_cluster_done(cp, true);
}

static void
sp_cluster_fail(struct sp_resp_conn *c, const char *why, void *data)
{
    struct sp_cluster_pool *cp = data;

    sp_log_warn(sp_cluster_log(cp), 0, "pool '%s': asking node %s for the "
                "cluster's map failed: %s", cp->conf->name, c->peer, why);
    cp->busy = false;
    cp->errors++;
    cp->query_at++;
    sp_cluster_schedule(cp, SP_CLUSTER_RETRY_MS);
}

/* Candidate k (mod their count): the healthy nodes of the map, then the
 * seeds. 0, or -1 when there is none. */
static int
sp_cluster_candidate(const struct sp_cluster_pool *cp, uint32_t k,
                     const char **host, uint16_t *port)
{
    uint32_t n = cp->conf->nservers, count = 0;

    for (int pass = 0; pass < 2; pass++) {
        uint32_t at = 0;
        for (uint32_t j = 0; j < n; j++) {
            const struct sp_cluster_room *r = &cp->rooms[j];
            if (!r->used || r->now.role == SP_SHARED_NODE_NONE
                || r->now.failed) {
                continue;
            }
            if (pass == 1 && at++ == k % count) {
                *host = r->host;
                *port = r->port;
                return 0;
            }
            count += pass == 0;
        }
        for (uint32_t j = 0; j < cp->conf->nseeds; j++) {
            if (pass == 1 && at++ == k % count) {
                *host = cp->conf->servers[j].addr.host;
                *port = cp->conf->servers[j].addr.port;
                return 0;
            }
            count += pass == 0;
        }
        if (count == 0) {
            return -1;
        }
    }
    return -1;
}

static void
sp_cluster_tick(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_cluster_pool *cp = timer->data;
    const char *host;
    uint16_t port;

    (void)loop;
    if (cp->busy) {
        cp->again = true;
        return;
    }
    if (sp_resp_is_open(&cp->query)) {
        sp_cluster_ask(cp);
        return;
    }
    if (sp_cluster_candidate(cp, cp->query_at, &host, &port) != 0) {
        return;
    }
    cp->replies = 0;
    cp->slots_only = false;
    snprintf(cp->query_host, sizeof(cp->query_host), "%s", host);
    int timeout = cp->conf->cluster_refresh_interval < SP_CLUSTER_TIMEOUT_MS
                  ? cp->conf->cluster_refresh_interval : SP_CLUSTER_TIMEOUT_MS;
    if (sp_resp_open(&cp->query, host, port, timeout, sp_cluster_reply,
                     sp_cluster_fail, cp) != 0) {
        cp->errors++;
        cp->query_at++;
        sp_cluster_schedule(cp, SP_CLUSTER_RETRY_MS);
        return;
    }
    sp_resp_set_max(&cp->query, SP_CLUSTER_MAX_REPLY);
    if (cp->conf->redis_auth != NULL) {
        const char *argv[3] = { "AUTH" };
        int argc = 1;
        if (cp->conf->redis_auth_user != NULL) {
            argv[argc++] = cp->conf->redis_auth_user;
        }
        argv[argc++] = cp->conf->redis_auth;
        if (sp_resp_command(&cp->query, argc, argv) != 0) {
            sp_cluster_done(cp, false);
            return;
        }
    }
    sp_cluster_ask(cp);
}

void
sp_cluster_refresh_asked(struct sp_cluster *c, const char *name, bool failed)
{
    for (uint32_t i = 0; c != NULL && i < c->npools; i++) {
        struct sp_cluster_pool *cp = &c->pools[i];
        if (!sp_cluster_is(cp) || strcmp(cp->conf->name, name) != 0) {
            continue;
        }
        uint64_t now = sp_event_now_ms(c->master->loop);
        if (failed) {
            cp->fast_until_ms = now + SP_CLUSTER_FAST_FOR_MS;
        }
        if (cp->busy) {
            cp->again = true;
        } else {
            uint64_t since = now - cp->last_ms;
            sp_cluster_schedule(cp, since >= SP_CLUSTER_GAP_MS
                                    ? 0 : SP_CLUSTER_GAP_MS - since);
        }
        return;
    }
}

/* ---- starting and stopping ----------------------------------------------- */

static const struct sp_cluster_pool *
sp_cluster_known(const struct sp_cluster *from, const char *name,
                 uint32_t nservers)
{
    for (uint32_t i = 0; from != NULL && i < from->npools; i++) {
        const struct sp_cluster_pool *cp = &from->pools[i];
        if (sp_cluster_is(cp) && cp->have_map
            && strcmp(cp->conf->name, name) == 0
            && cp->conf->nservers == nservers) {
            return cp;
        }
    }
    return NULL;
}

/* The first map, before any worker: each seed in turn, blocking. */
static void
sp_cluster_first_map(struct sp_cluster_pool *cp)
{
    const struct sp_conf_pool *conf = cp->conf;
    char err[256];

    for (uint32_t j = 0; j < conf->nseeds; j++) {
        const struct sp_conf_server *seed = &conf->servers[j];
        if (sp_cluster_fetch(&cp->map, seed->addr.host, seed->addr.port,
                             conf->redis_auth_user, conf->redis_auth,
                             SP_CLUSTER_TIMEOUT_MS, err, sizeof(err)) == 0) {
            sp_cluster_apply(cp, &cp->map);
            cp->refreshes++;
            return;
        }
        cp->errors++;
        sp_log_warn(sp_cluster_log(cp), 0, "pool '%s': seed %s answered no "
                    "map: %s", conf->name, seed->pname, err);
    }
    sp_log_error(sp_cluster_log(cp), 0, "pool '%s': no seed answered with "
                 "the cluster's map; asking again every %d ms (requests get "
                 "-CLUSTERDOWN until one does)", conf->name,
                 SP_CLUSTER_RETRY_MS);
}

static int
sp_cluster_pool_start(struct sp_cluster *c, struct sp_cluster_pool *cp,
                      const struct sp_cluster *from)
{
    const struct sp_conf_pool *conf = cp->conf;
    const struct sp_cluster_pool *known = sp_cluster_known(from, conf->name,
                                                           conf->nservers);

    cp->rooms = calloc(conf->nservers, sizeof(*cp->rooms));
    if (cp->rooms == NULL) {
        return -1;
    }
    sp_cluster_map_init(&cp->map);
    for (uint32_t s = 0; s < SP_CLUSTER_SLOTS; s++) {
        cp->slots[s] = SP_CLUSTER_NO_NODE;
    }
    for (uint32_t j = 0; j < conf->nservers; j++) {
        cp->rooms[j].now.primary_of = SP_CLUSTER_NO_NODE;
    }
    sp_resp_init(&cp->query, c->master->loop);
    if (known != NULL) {
        memcpy(cp->rooms, known->rooms, conf->nservers * sizeof(*cp->rooms));
        memcpy(cp->slots, known->slots, sizeof(cp->slots));
        cp->refreshes = known->refreshes;
        cp->failovers = known->failovers;
        cp->errors = known->errors;
        cp->have_map = true;
        cp->query_at = known->query_at;
        sp_cluster_publish_gen(cp, c->gen, NULL);
    } else {
        sp_cluster_first_map(cp);
    }
    sp_cluster_schedule(cp, cp->have_map
                            ? (uint64_t)conf->cluster_refresh_interval
                            : SP_CLUSTER_RETRY_MS);
    return 0;
}

struct sp_cluster *
sp_cluster_start(struct sp_master *master, struct sp_generation *gen,
                 const struct sp_cluster *from)
{
    const struct sp_conf *conf = gen->conf;
    struct sp_cluster *c;
    uint32_t first = 0;
    bool any = false;

    for (uint32_t i = 0; i < conf->npools; i++) {
        any = any || conf->pools[i].distribution == SP_DIST_REDIS_CLUSTER;
    }
    if (!any) {
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL || (c->pools = calloc(conf->npools, sizeof(*c->pools)))
                     == NULL) {
        free(c);
        sp_log_error(master->log, ENOMEM, "cannot follow the clusters");
        return NULL;
    }
    c->master = master;
    c->gen = gen;
    c->npools = conf->npools;
    for (uint32_t i = 0; i < conf->npools; i++) {
        struct sp_cluster_pool *cp = &c->pools[i];

        cp->owner = c;
        cp->conf = &conf->pools[i];
        cp->index = i;
        cp->first = first;
        first += conf->pools[i].nservers;
        if (cp->conf->distribution == SP_DIST_REDIS_CLUSTER
            && sp_cluster_pool_start(c, cp, from) != 0) {
            sp_log_error(master->log, ENOMEM, "pool '%s': cannot follow the "
                         "cluster", cp->conf->name);
        }
    }
    return c;
}

static void
sp_cluster_release(struct sp_cluster *c, bool forget)
{
    for (uint32_t i = 0; c != NULL && i < c->npools; i++) {
        struct sp_cluster_pool *cp = &c->pools[i];
        if (!sp_cluster_is(cp)) {
            continue;
        }
        if (forget) {
            if (cp->query.fd >= 0) {
                close(cp->query.fd);
                cp->query.fd = -1;
            }
            free(cp->query.in);
        } else {
            sp_resp_close(&cp->query);
            if (cp->timer.armed) {
                sp_timer_del(c->master->loop, &cp->timer);
            }
        }
        sp_cluster_map_free(&cp->map);
        free(cp->rooms);
    }
    if (c != NULL) {
        free(c->pools);
        free(c);
    }
}

void
sp_cluster_stop(struct sp_cluster *c)
{
    sp_cluster_release(c, false);
}

void
sp_cluster_forget(struct sp_cluster *c)
{
    sp_cluster_release(c, true);
}

/* ---- stats --------------------------------------------------------------- */


static const char *
sp_cluster_role_name(uint8_t role)
{
    return role == SP_SHARED_NODE_PRIMARY ? "primary"
           : role == SP_SHARED_NODE_REPLICA ? "replica" : "none";
}

int
sp_cluster_names(const struct sp_cluster *c, char **names)
{
    int rc = 0;

    for (uint32_t i = 0; c != NULL && i < c->npools; i++) {
        const struct sp_cluster_pool *cp = &c->pools[i];
        for (uint32_t j = 0; sp_cluster_is(cp) && j < cp->conf->nservers;
             j++) {
            const struct sp_cluster_room *r = &cp->rooms[j];
            char **name = &names[cp->first + j];

            free(*name);
            *name = NULL;
            if (!r->used || r->now.role == SP_SHARED_NODE_NONE) {
                *name = strdup("");
            } else {
                rc |= sp_stats_report_append(name, strchr(r->host, ':') != NULL
                                              ? "[%s]:%u" : "%s:%u",
                                        r->host, (unsigned)r->port);
            }
            rc |= *name == NULL ? -1 : 0;
        }
    }
    return rc;
}

int
sp_cluster_json(const struct sp_cluster *c, char **pools, char **servers,
                char **names)
{
    int rc = sp_cluster_names(c, names);

    for (uint32_t i = 0; c != NULL && i < c->npools; i++) {
        const struct sp_cluster_pool *cp = &c->pools[i];
        if (!sp_cluster_is(cp)) {
            continue;
        }
        rc |= sp_stats_report_append(&pools[i], ", \"cluster_refreshes\":%lld, "
                                "\"cluster_failovers\":%lld, "
                                "\"cluster_errors\":%lld",
                                (long long)cp->refreshes,
                                (long long)cp->failovers,
                                (long long)cp->errors);
        for (uint32_t j = 0; j < cp->conf->nservers; j++) {
            const struct sp_cluster_room *r = &cp->rooms[j];
            if (!r->used || r->now.role == SP_SHARED_NODE_NONE) {
                continue;
            }
            rc |= sp_stats_report_append(&servers[cp->first + j],
                                    ", \"role\":\"%s\", \"slots\":%u, "
                                    "\"failing\":%s",
                                    sp_cluster_role_name(r->now.role),
                                    r->slots, r->now.failed ? "true"
                                                            : "false");
        }
    }
    return rc;
}

void
sp_cluster_metrics(const struct sp_cluster *c, struct sp_stats_buf *buf)
{
    if (c == NULL) {
        return;
    }
    sp_stats_buf_printf(buf, "# HELP shardproxy_server_cluster_slots Hash "
                        "slots a cluster node serves as primary.\n# TYPE "
                        "shardproxy_server_cluster_slots gauge\n");
    for (uint32_t i = 0; i < c->npools; i++) {
        const struct sp_cluster_pool *cp = &c->pools[i];
        for (uint32_t j = 0; sp_cluster_is(cp) && j < cp->conf->nservers;
             j++) {
            const struct sp_cluster_room *r = &cp->rooms[j];
            if (!r->used || r->now.role == SP_SHARED_NODE_NONE) {
                continue;
            }
            sp_stats_buf_printf(buf, "shardproxy_server_cluster_slots{pool="
                                "\"%s\",server=\"%s:%u\",role=\"%s\"} %u\n",
                                cp->conf->name, r->host, (unsigned)r->port,
                                sp_cluster_role_name(r->now.role), r->slots);
        }
    }
    sp_stats_buf_printf(buf, "# HELP shardproxy_pool_cluster_refreshes_total "
                        "Cluster maps asked for and taken.\n# TYPE "
                        "shardproxy_pool_cluster_refreshes_total counter\n");
    for (uint32_t i = 0; i < c->npools; i++) {
        const struct sp_cluster_pool *cp = &c->pools[i];
        if (sp_cluster_is(cp)) {
            sp_stats_buf_printf(buf, "shardproxy_pool_cluster_refreshes_total"
                                "{pool=\"%s\"} %lld\n", cp->conf->name,
                                (long long)cp->refreshes);
        }
    }
    sp_stats_buf_printf(buf, "# HELP shardproxy_pool_cluster_failovers_total "
                        "Replicas seen taking over a primary's slots.\n# TYPE "
                        "shardproxy_pool_cluster_failovers_total counter\n");
    for (uint32_t i = 0; i < c->npools; i++) {
        const struct sp_cluster_pool *cp = &c->pools[i];
        if (sp_cluster_is(cp)) {
            sp_stats_buf_printf(buf, "shardproxy_pool_cluster_failovers_total"
                                "{pool=\"%s\"} %lld\n", cp->conf->name,
                                (long long)cp->failovers);
        }
    }
}

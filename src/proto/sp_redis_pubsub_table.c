/*
 * sp_redis_pubsub_table.c — the names a worker's clients subscribe to, per
 * pool: an open hash table of entries by (kind, name), each with its
 * members and where it lives (its server, or every server); the pool's
 * pub/sub state and the worker's pub/sub counters.
 */
#include "sp_redis_pubsub_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "sp_cluster_view.h"
#include "sp_hash.h"
#include "sp_redis_proxy.h"
#include "sp_redis_session.h"
#include "sp_shared.h"
#include "sp_worker.h"

const struct sp_ps_words sp_ps_words[SP_PS_KINDS] = {
    { "subscribe", "unsubscribe", "message" },
    { "psubscribe", "punsubscribe", "pmessage" },
    { "ssubscribe", "sunsubscribe", "smessage" },
};

/* ---- the table ----------------------------------------------------------- */

static uint32_t
sp_ps_hash(uint8_t kind, const char *name, uint32_t len)
{
    return (uint32_t)sp_hash_fnv1a_64_full((const uint8_t *)name, len) ^ kind;
}

struct sp_ps_entry *
sp_ps_find(const struct sp_ps_pool *ps, uint8_t kind, const char *name,
           uint32_t len)
{
    uint32_t h = sp_ps_hash(kind, name, len);

    if (ps->nbuckets == 0) {
        return NULL;
    }
    for (struct sp_ps_entry *e = ps->buckets[h & (ps->nbuckets - 1)];
         e != NULL; e = e->next) {
        if (e->hash == h && e->kind == kind && e->len == len
            && memcmp(e->name, name, len) == 0) {
            return e;
        }
    }
    return NULL;
}

static int
sp_ps_grow(struct sp_ps_pool *ps)
{
    uint32_t n = ps->nbuckets > 0 ? ps->nbuckets * 2 : 64;
    struct sp_ps_entry **b = calloc(n, sizeof(*b));

    if (b == NULL) {
        return -1;
    }
    for (uint32_t i = 0; i < ps->nbuckets; i++) {
        struct sp_ps_entry *e = ps->buckets[i], *next;
        for (; e != NULL; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(ps->buckets);
    ps->buckets = b;
    ps->nbuckets = n;
    return 0;
}

/* Where a name lives: its server, or -1 for every server (a pattern, or
 * any name of a random pool). A Redis Cluster pool: the node serving the
 * name's slot, a pattern included (the cluster passes every PUBLISH to
 * every node, so one node's subscription sees each message once). */
int32_t
sp_ps_place(struct sp_pool *pool, uint8_t kind, const char *name, uint32_t len)
{
    if (pool->cluster != NULL) {
        struct sp_server *node = sp_cluster_view_node(
            pool, sp_cluster_slot((const uint8_t *)name, len));
        return node != NULL ? (int32_t)node->index : 0;
    }
    if (kind == SP_PS_PATTERN || sp_pool_random(pool)) {
        return -1;
    }
    int64_t index = sp_router_route(&pool->router, (const uint8_t *)name, len);
    return index < 0 ? 0 : (int32_t)index;
}

struct sp_ps_entry *
sp_ps_add(struct sp_ps_pool *ps, uint8_t kind, const char *name, uint32_t len)
{
    struct sp_ps_entry *e;

    if ((ps->nentries + 1 > ps->nbuckets / 2 * 1 + ps->nbuckets / 4
         || ps->nbuckets == 0) && sp_ps_grow(ps) != 0) {
        return NULL;
    }
    if ((e = calloc(1, sizeof(*e) + len + 1)) == NULL) {
        return NULL;
    }
    TAILQ_INIT(&e->members);
    e->kind = kind;
    e->len = len;
    e->hash = sp_ps_hash(kind, name, len);
    memcpy(e->name, name, len);
    e->server = sp_ps_place(ps->pool, kind, name, len);
    e->next = ps->buckets[e->hash & (ps->nbuckets - 1)];
    ps->buckets[e->hash & (ps->nbuckets - 1)] = e;
    ps->nentries++;
    return e;
}

/* An entry nobody wants and no server owes a confirmation for goes. */
void
sp_ps_maybe_free(struct sp_ps_pool *ps, struct sp_ps_entry *e)
{
    struct sp_ps_entry **p;

    if (e->nmembers > 0 || e->unconfirmed > 0 || e->subscribed) {
        return;
    }
    for (p = &ps->buckets[e->hash & (ps->nbuckets - 1)]; *p != e;
         p = &(*p)->next) {
    }
    *p = e->next;
    ps->nentries--;
    free(e);
}

/* ---- the worker's counters ----------------------------------------------- */

void
sp_ps_members_changed(struct sp_ps_pool *ps, const struct sp_ps_entry *e,
                      bool joined)
{
    if (joined && e->nmembers == 1) {
        ps->nwanted[e->kind]++;
    } else if (!joined && e->nmembers == 0) {
        ps->nwanted[e->kind]--;
    }
}

void
sp_ps_count(struct sp_ps_pool *ps)
{
    struct sp_worker *worker = ps->pool->worker;
    int64_t clients = 0, channels = 0, patterns = 0, conns = 0;

    for (uint32_t i = 0; i < worker->npools; i++) {
        const struct sp_ps_pool *q = worker->pools[i].proto_state;
        if (worker->pools[i].proto != &sp_proto_redis || q == NULL) {
            continue;
        }
        clients += q->nclients;
        channels += q->nwanted[SP_PS_CHANNEL] + q->nwanted[SP_PS_SHARD];
        patterns += q->nwanted[SP_PS_PATTERN];
        for (uint32_t s = 0; s < worker->pools[i].nservers; s++) {
            conns += q->conns[s].conn != NULL;
        }
    }
    worker->slot->pubsub_clients = clients;
    worker->slot->pubsub_channels = channels;
    worker->slot->pubsub_patterns = patterns;
    worker->slot->subscriber_connections = conns;
}

/* ---- the pool's state ----------------------------------------------------- */

struct sp_ps_pool *
sp_ps_pool(struct sp_pool *pool)
{
    struct sp_ps_pool *ps = pool->proto_state;

    if (ps != NULL) {
        return ps;
    }
    if ((ps = calloc(1, sizeof(*ps))) == NULL
        || (ps->conns = calloc(pool->nservers, sizeof(*ps->conns))) == NULL) {
        free(ps);
        return NULL;
    }
    ps->pool = pool;
    SP_MSGQ_INIT(&ps->waiting);
    pool->proto_state = ps;
    return ps;
}

void
sp_redis_pubsub_pool_free(struct sp_pool *pool)
{
    struct sp_ps_pool *ps = pool->proto_state;
    struct sp_msg *msg;

    if (ps == NULL) {
        return;
    }
    pool->proto_state = NULL;       /* its connections close unheard */
    sp_timer_del(pool->worker->loop, &ps->retry);
    while ((msg = SP_MSGQ_FIRST(&ps->waiting)) != NULL) {
        SP_MSGQ_SHIFT(&ps->waiting, slink);
        msg->pending = 0;
        msg->done = true;
        if (sp_msg_client(msg) == NULL) {
            sp_msg_put(pool->worker, msg);
        }
    }
    /* the clients' memberships go with their sessions (closed next) */
    struct sp_conn *c;
    TAILQ_FOREACH(c, &pool->clients, link) {
        struct sp_redis_session *s = sp_redis_session(c);
        if (s != NULL && s->pubsub != NULL) {
            struct sp_ps_client *pc = s->pubsub;
            struct sp_ps_member *m;
            while ((m = TAILQ_FIRST(&pc->subs)) != NULL) {
                TAILQ_REMOVE(&pc->subs, m, by_client);
                free(m);
            }
            free(pc);
            s->pubsub = NULL;
        }
    }
    for (uint32_t b = 0; b < ps->nbuckets; b++) {
        struct sp_ps_entry *e = ps->buckets[b], *next;
        for (; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
    }
    for (uint32_t s = 0; s < pool->nservers; s++) {
        free(ps->conns[s].fifo);
    }
    free(ps->buckets);
    free(ps->conns);
    free(ps);
}


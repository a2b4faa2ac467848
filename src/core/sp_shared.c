/*
 * sp_shared.c — the generation's shared memory (see sp_shared.h).
 */
#include "sp_shared.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define SP_SHARED_ALIGN 64      /* slots on their own cache lines */

static size_t
sp_shared_round(size_t n)
{
    return (n + SP_SHARED_ALIGN - 1) / SP_SHARED_ALIGN * SP_SHARED_ALIGN;
}

static size_t
sp_shared_beats_offset(uint32_t npools)
{
    return sp_shared_round(sizeof(struct sp_shared_header))
           + sp_shared_round(2 * (size_t)npools * sizeof(atomic_llong));
}

/* each worker's heartbeat on a cache line of its own: written every turn;
 * then the servers' addresses */
static size_t
sp_shared_addrs_offset(uint32_t npools, uint32_t nslots)
{
    return sp_shared_beats_offset(npools) + (size_t)nslots * SP_SHARED_ALIGN;
}

static size_t
sp_shared_cluster_size(const struct sp_conf_pool *pool)
{
    return sp_shared_round(sizeof(struct sp_shared_cluster)
                           + pool->nservers
                             * sizeof(struct sp_shared_cluster_node));
}

static size_t
sp_shared_clusters_size(const struct sp_conf *conf)
{
    size_t size = 0;

    for (uint32_t i = 0; i < conf->npools; i++) {
        if (conf->pools[i].distribution == SP_DIST_REDIS_CLUSTER) {
            size += sp_shared_cluster_size(&conf->pools[i]);
        }
    }
    return size;
}

int
sp_shared_create(struct sp_shared *shared, const struct sp_conf *conf,
                 uint32_t nslots)
{
    uint32_t nservers = 0;
    size_t slot_size, size;
    void *base;

    for (uint32_t i = 0; i < conf->npools; i++) {
        nservers += conf->pools[i].nservers;
    }
    slot_size = sp_shared_round(sizeof(struct sp_stats_slot)
                                + conf->npools * sizeof(struct sp_stats_pool)
                                + nservers * sizeof(struct sp_stats_server)
                                + conf->npools * sizeof(struct sp_hot_view));
    size_t addrs = sp_shared_addrs_offset(conf->npools, nslots);
    size_t clusters = addrs + sp_shared_round(nservers
                                              * sizeof(struct sp_shared_addr));
    size_t slots = clusters + sp_shared_clusters_size(conf);
    size = slots + nslots * slot_size;
    base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                -1, 0);
    if (base == MAP_FAILED) {
        return -1;
    }
    /* anonymous mappings are zeroed: counters start at 0, the lock free */
    shared->header = base;
    shared->size = size;
    shared->header->npools = conf->npools;
    shared->header->nservers = nservers;
    shared->header->nslots = nslots;
    shared->header->slot_size = slot_size;
    shared->header->addrs_offset = addrs;
    shared->header->clusters_offset = clusters;
    shared->header->slots_offset = slots;
    shared->pool_clients = (atomic_llong *)((char *)base
                           + sp_shared_round(sizeof(struct sp_shared_header)));
    shared->pool_accepted = shared->pool_clients + conf->npools;
    for (uint32_t i = 0; i < conf->npools; i++) {
        atomic_init(&shared->pool_clients[i], 0);
        atomic_init(&shared->pool_accepted[i], 0);
    }
    for (uint32_t i = 0; i < nslots; i++) {
        atomic_init(sp_shared_heartbeat(shared, i), 0);
    }
    for (uint32_t i = 0; i < nservers; i++) {
        atomic_init(&sp_shared_addr(shared, i)->version, 0);
    }
    return 0;
}

void
sp_shared_destroy(struct sp_shared *shared)
{
    if (shared->header != NULL) {
        munmap(shared->header, shared->size);
    }
    memset(shared, 0, sizeof(*shared));
}

struct sp_stats_slot *
sp_shared_slot(const struct sp_shared *shared, uint32_t slot)
{
    const struct sp_shared_header *h = shared->header;

    return (struct sp_stats_slot *)((char *)h + h->slots_offset
                                    + slot * h->slot_size);
}

atomic_llong *
sp_shared_heartbeat(const struct sp_shared *shared, uint32_t slot)
{
    const struct sp_shared_header *h = shared->header;

    return (atomic_llong *)((char *)h + sp_shared_beats_offset(h->npools)
                            + (size_t)slot * SP_SHARED_ALIGN);
}

struct sp_shared_addr *
sp_shared_addr(const struct sp_shared *shared, uint32_t server)
{
    const struct sp_shared_header *h = shared->header;

    return (struct sp_shared_addr *)((char *)h + h->addrs_offset) + server;
}

/* One writer (the master), readers in every worker: a seqlock. The text is
 * copied byte by byte through relaxed atomics so that a torn read is a
 * retry, never undefined behaviour. */
void
sp_shared_addr_set(struct sp_shared_addr *slot, const char *host,
                   uint16_t port)
{
    unsigned v = atomic_load_explicit(&slot->version, memory_order_relaxed);
    size_t len = strlen(host);

    if (len >= SP_SHARED_HOST) {
        len = SP_SHARED_HOST - 1;
    }
    atomic_store_explicit(&slot->version, v + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (size_t i = 0; i < SP_SHARED_HOST; i++) {
        atomic_store_explicit(&slot->host[i],
                              i < len ? host[i] : '\0', memory_order_relaxed);
    }
    atomic_store_explicit(&slot->port, port, memory_order_relaxed);
    atomic_store_explicit(&slot->version, v + 2, memory_order_release);
}

void
sp_shared_addr_get(const struct sp_shared_addr *slot,
                   struct sp_shared_addr_copy *copy)
{
    struct sp_shared_addr *s = (struct sp_shared_addr *)slot;  /* loads */

    for (;;) {
        unsigned v1 = atomic_load_explicit(&s->version, memory_order_acquire);
        if (v1 == 0) {
            copy->version = 0;
            return;
        }
        if ((v1 & 1) != 0) {
            continue;           /* the master is writing it now */
        }
        for (size_t i = 0; i < SP_SHARED_HOST; i++) {
            copy->host[i] = atomic_load_explicit(&s->host[i],
                                                 memory_order_relaxed);
        }
        copy->port = (uint16_t)atomic_load_explicit(&s->port,
                                                     memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&s->version, memory_order_relaxed) == v1) {
            copy->version = v1;
            copy->host[SP_SHARED_HOST - 1] = '\0';
            return;
        }
    }
}

struct sp_shared_cluster *
sp_shared_cluster(const struct sp_shared *shared, const struct sp_conf *conf,
                  uint32_t pool)
{
    size_t off = shared->header->clusters_offset;

    if (pool >= conf->npools
        || conf->pools[pool].distribution != SP_DIST_REDIS_CLUSTER) {
        return NULL;
    }
    for (uint32_t i = 0; i < pool; i++) {
        if (conf->pools[i].distribution == SP_DIST_REDIS_CLUSTER) {
            off += sp_shared_cluster_size(&conf->pools[i]);
        }
    }
    return (struct sp_shared_cluster *)((char *)shared->header + off);
}

void
sp_shared_cluster_write(struct sp_shared_cluster *c, uint32_t nnodes,
                        const uint16_t *slots,
                        const struct sp_cluster_role *roles)
{
    unsigned v = atomic_load_explicit(&c->version, memory_order_relaxed);

    atomic_store_explicit(&c->version, v + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (uint32_t s = 0; s < SP_CLUSTER_SLOTS; s++) {
        atomic_store_explicit(&c->slots[s], slots[s], memory_order_relaxed);
    }
    for (uint32_t i = 0; i < nnodes; i++) {
        atomic_store_explicit(&c->nodes[i].primary_of, roles[i].primary_of,
                              memory_order_relaxed);
        atomic_store_explicit(&c->nodes[i].role, roles[i].role,
                              memory_order_relaxed);
        atomic_store_explicit(&c->nodes[i].failed, roles[i].failed,
                              memory_order_relaxed);
    }
    atomic_store_explicit(&c->version, v + 2, memory_order_release);
}

int
sp_shared_cluster_read(const struct sp_shared_cluster *cc, uint32_t nnodes,
                       unsigned *version, uint16_t *slots,
                       struct sp_cluster_role *roles)
{
    struct sp_shared_cluster *c = (struct sp_shared_cluster *)cc;   /* loads */

    for (;;) {
        unsigned v1 = atomic_load_explicit(&c->version, memory_order_acquire);
        if (v1 == 0 || v1 == *version) {
            return 0;
        }
        if ((v1 & 1) != 0) {
            continue;           /* the master is writing it now */
        }
        for (uint32_t s = 0; s < SP_CLUSTER_SLOTS; s++) {
            slots[s] = atomic_load_explicit(&c->slots[s],
                                            memory_order_relaxed);
        }
        for (uint32_t i = 0; i < nnodes; i++) {
            roles[i].primary_of = atomic_load_explicit(&c->nodes[i].primary_of,
                                                       memory_order_relaxed);
            roles[i].role = atomic_load_explicit(&c->nodes[i].role,
                                                 memory_order_relaxed);
            roles[i].failed = atomic_load_explicit(&c->nodes[i].failed,
                                                   memory_order_relaxed);
        }
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&c->version, memory_order_relaxed) == v1) {
            *version = v1;
            return 1;
        }
    }
}

struct sp_stats_pool *
sp_shared_pool_stats(const struct sp_shared *shared, uint32_t slot,
                     uint32_t pool)
{
    struct sp_stats_pool *pools =
        (struct sp_stats_pool *)(sp_shared_slot(shared, slot) + 1);

    return &pools[pool];
}

struct sp_stats_server *
sp_shared_server_stats(const struct sp_shared *shared, uint32_t slot,
                       uint32_t server)
{
    struct sp_stats_server *servers = (struct sp_stats_server *)
        sp_shared_pool_stats(shared, slot, shared->header->npools);

    return &servers[server];
}

struct sp_hot_view *
sp_shared_pool_hot(const struct sp_shared *shared, uint32_t slot,
                   uint32_t pool)
{
    struct sp_hot_view *views = (struct sp_hot_view *)
        sp_shared_server_stats(shared, slot, shared->header->nservers);

    return &views[pool];
}

void
sp_shared_slot_vacate(struct sp_shared *shared, uint32_t slot)
{
    const struct sp_shared_header *h = shared->header;
    struct sp_stats_slot *proc = sp_shared_slot(shared, slot);

    for (uint32_t i = 0; i < h->npools; i++) {
        struct sp_stats_pool *st = sp_shared_pool_stats(shared, slot, i);
        atomic_fetch_sub(&shared->pool_clients[i], st->client_connections);
        sp_stats_pool_zero_gauges(st);
    }
    for (uint32_t i = 0; i < h->nservers; i++) {
        sp_stats_server_zero_gauges(sp_shared_server_stats(shared, slot, i));
    }
    for (uint32_t i = 0; i < h->npools; i++) {
        sp_shared_pool_hot(shared, slot, i)->n = 0;     /* no longer current */
    }
    proc->pid = 0;
    proc->accepting = 0;
    proc->curr_connections = 0;
    proc->clients = 0;
    proc->buffers_in_use = 0;
    proc->buffers_free = 0;
    proc->messages_in_use = 0;
    proc->messages_free = 0;
    proc->parsers_in_use = 0;
    proc->parsers_free = 0;
    proc->clients_held = 0;
    proc->memory_used = 0;
}

void
sp_stats_slot_add(struct sp_stats_slot *dst, const struct sp_stats_slot *src)
{
    dst->total_connections += src->total_connections;
    dst->curr_connections += src->curr_connections;
    dst->clients += src->clients;
    dst->buffers_allocated += src->buffers_allocated;
    dst->buffers_in_use += src->buffers_in_use;
    dst->buffers_free += src->buffers_free;
    dst->messages_allocated += src->messages_allocated;
    dst->messages_in_use += src->messages_in_use;
    dst->messages_free += src->messages_free;
    dst->parsers_allocated += src->parsers_allocated;
    dst->parsers_in_use += src->parsers_in_use;
    dst->parsers_free += src->parsers_free;
    dst->clients_paused += src->clients_paused;
    dst->clients_held += src->clients_held;
    dst->memory_budget += src->memory_budget;
    dst->memory_used += src->memory_used;
    dst->budget_pauses += src->budget_pauses;
    dst->server_waits += src->server_waits;
    dst->pubsub_clients += src->pubsub_clients;
    dst->pubsub_channels += src->pubsub_channels;
    dst->pubsub_patterns += src->pubsub_patterns;
    dst->subscriber_connections += src->subscriber_connections;
    dst->pubsub_messages += src->pubsub_messages;
    sp_refused_add(&dst->refused, &src->refused);
}

void
sp_shared_sum(const struct sp_shared *shared, struct sp_stats_slot *proc,
              struct sp_stats_pool *pools, struct sp_stats_server *servers)
{
    const struct sp_shared_header *h = shared->header;

    memset(proc, 0, sizeof(*proc));
    memset(pools, 0, h->npools * sizeof(*pools));
    memset(servers, 0, h->nservers * sizeof(*servers));
    for (uint32_t s = 0; s < h->nslots; s++) {
        sp_stats_slot_add(proc, sp_shared_slot(shared, s));
        for (uint32_t i = 0; i < h->npools; i++) {
            sp_stats_pool_add(&pools[i], sp_shared_pool_stats(shared, s, i));
        }
        for (uint32_t i = 0; i < h->nservers; i++) {
            sp_stats_server_add(&servers[i],
                                sp_shared_server_stats(shared, s, i));
        }
    }
}

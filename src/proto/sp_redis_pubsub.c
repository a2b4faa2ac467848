/*
 * sp_redis_pubsub.c — the worker's subscriptions (see sp_redis_pubsub.h):
 * the table of names its clients subscribe to, each client's memberships,
 * the subscriber connections and what they read, and the SUBSCRIBE family
 * of commands.
 *
 *   client SUBSCRIBE ch ─► entry (kind, name): member added; new on its
 *        server? ─► "SUBSCRIBE ch" on the server's subscriber connection,
 *        entry waits for the confirmation (the connection's FIFO)
 *   client's confirmations built now (its own counts), sent once no name
 *        of the request waits any more
 *   server "message ch payload" ─► entry's members, each a push message
 *        referencing the bytes read
 *   last member leaves ─► "UNSUBSCRIBE ch"; the entry goes once confirmed
 */
#include "sp_redis_pubsub.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "sp_array.h"
#include "sp_ask.h"
#include "sp_client.h"
#include "sp_forward.h"
#include "sp_hash.h"
#include "sp_log.h"
#include "sp_redis_clients.h"
#include "sp_redis_proxy.h"
#include "sp_redis_session.h"
#include "sp_server.h"
#include "sp_shared.h"
#include "sp_worker.h"

enum sp_ps_kind {
    SP_PS_CHANNEL,          /* SUBSCRIBE, message */
    SP_PS_PATTERN,          /* PSUBSCRIBE, pmessage */
    SP_PS_SHARD,            /* SSUBSCRIBE, smessage */
    SP_PS_KINDS
};

static const struct {
    const char *subscribe, *unsubscribe, *message;
} sp_ps_words[SP_PS_KINDS] = {
    { "subscribe", "unsubscribe", "message" },
    { "psubscribe", "punsubscribe", "pmessage" },
    { "ssubscribe", "sunsubscribe", "smessage" },
};

struct sp_ps_entry;

/* One client subscribed to one name: in the entry's list and the
 * client's. */
struct sp_ps_member {
    TAILQ_ENTRY(sp_ps_member) by_entry;
    TAILQ_ENTRY(sp_ps_member) by_client;
    struct sp_ps_entry       *entry;
    struct sp_conn           *client;
};
TAILQ_HEAD(sp_ps_members, sp_ps_member);

/* A name the worker's clients subscribe to. */
struct sp_ps_entry {
    struct sp_ps_entry   *next;         /* hash chain */
    struct sp_ps_members  members;
    uint32_t              nmembers;
    uint32_t              unconfirmed;  /* (un)subscribes sent, not yet
                                           confirmed by their servers */
    bool                  subscribed;   /* wanted on its server(s) */
    uint8_t               kind;
    int32_t               server;       /* -1: every server */
    uint32_t              hash;
    uint32_t              len;
    char                  name[];
};

/* A client's side: its memberships and counts (session->pubsub). */
struct sp_ps_client {
    struct sp_ps_members  subs;
    uint32_t              count[SP_PS_KINDS];
};

/* A server's subscriber connection and the names whose (un)subscribe
 * confirmations it waits for, in the order they were sent. */
struct sp_ps_conn {
    struct sp_conn       *conn;
    struct sp_ps_entry  **fifo;
    uint32_t              head;
    uint32_t              count;
    uint32_t              cap;
};

/* The pool's (pool->proto_state). */
struct sp_ps_pool {
    struct sp_pool       *pool;
    struct sp_ps_entry  **buckets;
    uint32_t              nbuckets;
    uint32_t              nentries;
    struct sp_ps_conn    *conns;        /* per server */
    struct sp_msg_queue   waiting;      /* SUBSCRIBEs waiting (slink) */
    struct sp_timer       retry;        /* subscriber connections again */
    uint32_t              nclients;     /* clients with a subscription */
};

#define SP_PS_RETRY_MS 200

/* ---- the table ----------------------------------------------------------- */

static uint32_t
sp_ps_hash(uint8_t kind, const char *name, uint32_t len)
{
    return (uint32_t)sp_hash_fnv1a_64_full((const uint8_t *)name, len) ^ kind;
}

static struct sp_ps_entry *
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
 * any name of a random pool). */
static int32_t
sp_ps_place(struct sp_pool *pool, uint8_t kind, const char *name, uint32_t len)
{
    if (kind == SP_PS_PATTERN || sp_pool_random(pool)) {
        return -1;
    }
    int64_t index = sp_router_route(&pool->router, (const uint8_t *)name, len);
    return index < 0 ? 0 : (int32_t)index;
}

static struct sp_ps_entry *
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
static void
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

static void
sp_ps_count(struct sp_ps_pool *ps)
{
    struct sp_stats_slot *slot = ps->pool->worker->slot;
    int64_t channels = 0, patterns = 0, conns = 0;

    /* recounted over the worker's pools: a handful */
    struct sp_worker *worker = ps->pool->worker;
    int64_t clients = 0;
    for (uint32_t i = 0; i < worker->npools; i++) {
        const struct sp_ps_pool *q = worker->pools[i].proto_state;
        if (worker->pools[i].proto != &sp_proto_redis || q == NULL) {
            continue;
        }
        clients += q->nclients;
        for (uint32_t b = 0; b < q->nbuckets; b++) {
            for (const struct sp_ps_entry *e = q->buckets[b]; e != NULL;
                 e = e->next) {
                if (e->nmembers > 0) {
                    *(e->kind == SP_PS_PATTERN ? &patterns : &channels) += 1;
                }
            }
        }
        for (uint32_t s = 0; s < worker->pools[i].nservers; s++) {
            conns += q->conns[s].conn != NULL;
        }
    }
    slot->pubsub_clients = clients;
    slot->pubsub_channels = channels;
    slot->pubsub_patterns = patterns;
    slot->subscriber_connections = conns;
}

/* ---- subscriber connections ---------------------------------------------- */

static void sp_ps_retry(struct sp_event_loop *loop, struct sp_timer *timer);

static void
sp_ps_arm_retry(struct sp_ps_pool *ps)
{
    if (!ps->retry.armed) {
        sp_timer_add(ps->pool->worker->loop, &ps->retry, SP_PS_RETRY_MS,
                     sp_ps_retry, ps);
    }
}

/* Send "VERB name" on server s's subscriber connection (made if need be)
 * and expect its confirmation. False: no connection now (retried). */
static bool
sp_ps_send(struct sp_ps_pool *ps, uint32_t s, const char *verb,
           struct sp_ps_entry *e)
{
    struct sp_ps_conn *pc = &ps->conns[s];
    char head[64];
    size_t vlen = strlen(verb);
    int n;

    if (pc->conn == NULL) {
        pc->conn = sp_server_dedicated(&ps->pool->servers[s], 0);
        if (pc->conn == NULL) {
            sp_log_warn(ps->pool->worker->log, errno, "pool '%s': no "
                        "subscriber connection to server '%s'; retrying",
                        ps->pool->conf->name, ps->pool->servers[s].conf->name);
            sp_ps_arm_retry(ps);
            return false;
        }
        sp_ps_count(ps);
    }
    if (pc->count == pc->cap) {
        uint32_t cap = pc->cap > 0 ? pc->cap * 2 : 16;
        struct sp_ps_entry **fifo = malloc(cap * sizeof(*fifo));
        if (fifo == NULL) {
            return false;
        }
        for (uint32_t i = 0; i < pc->count; i++) {
            fifo[i] = pc->fifo[(pc->head + i) % pc->cap];
        }
        free(pc->fifo);
        pc->fifo = fifo;
        pc->head = 0;
        pc->cap = cap;
    }
    n = snprintf(head, sizeof(head), "*2\r\n$%zu\r\n%s\r\n$%" PRIu32 "\r\n",
                 vlen, verb, e->len);
    size_t total = (size_t)n + e->len + 2;
    char *bytes = malloc(total);
    if (bytes == NULL) {
        return false;
    }
    memcpy(bytes, head, (size_t)n);
    memcpy(bytes + n, e->name, e->len);
    memcpy(bytes + n + e->len, "\r\n", 2);
    int rc = sp_server_send_raw(pc->conn, bytes, (uint32_t)total);
    free(bytes);
    if (rc != 0) {
        return false;
    }
    pc->fifo[(pc->head + pc->count) % pc->cap] = e;
    pc->count++;
    e->unconfirmed++;
    return true;
}

/* (Un)subscribe e on its server(s). */
static void
sp_ps_send_all(struct sp_ps_pool *ps, struct sp_ps_entry *e, bool subscribe)
{
    const char *verb = subscribe ? sp_ps_words[e->kind].subscribe
                                 : sp_ps_words[e->kind].unsubscribe;

    if (e->server >= 0) {
        sp_ps_send(ps, (uint32_t)e->server, verb, e);
        return;
    }
    for (uint32_t s = 0; s < ps->pool->nservers; s++) {
        sp_ps_send(ps, s, verb, e);
    }
}

/* Subscribe again what server s should hold (its connection is new). */
static void
sp_ps_resubscribe(struct sp_ps_pool *ps, uint32_t s)
{
    for (uint32_t b = 0; b < ps->nbuckets; b++) {
        for (struct sp_ps_entry *e = ps->buckets[b]; e != NULL; e = e->next) {
            if (e->subscribed && (e->server < 0 || (uint32_t)e->server == s)
                && !sp_ps_send(ps, s, sp_ps_words[e->kind].subscribe, e)) {
                return;         /* retried whole later */
            }
        }
    }
}

static bool
sp_ps_server_wanted(const struct sp_ps_pool *ps, uint32_t s)
{
    for (uint32_t b = 0; b < ps->nbuckets; b++) {
        for (const struct sp_ps_entry *e = ps->buckets[b]; e != NULL;
             e = e->next) {
            if (e->subscribed && (e->server < 0 || (uint32_t)e->server == s)) {
                return true;
            }
        }
    }
    return false;
}

static void
sp_ps_retry(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_ps_pool *ps = timer->data;

    (void)loop;
    for (uint32_t s = 0; s < ps->pool->nservers; s++) {
        if (ps->conns[s].conn == NULL && sp_ps_server_wanted(ps, s)) {
            sp_ps_resubscribe(ps, s);
        }
    }
}

/* ---- requests waiting for confirmations ----------------------------------- */

static uint8_t
sp_ps_kind_of(const struct sp_msg *msg)
{
    const struct sp_redis_command *cmd = msg->cmd;

    if (cmd->name[0] == 'p') {
        return SP_PS_PATTERN;       /* psubscribe, punsubscribe */
    }
    return strcmp(cmd->name, "ssubscribe") == 0
           || strcmp(cmd->name, "sunsubscribe") == 0 ? SP_PS_SHARD
                                                     : SP_PS_CHANNEL;
}

/* Whether every name msg (a SUBSCRIBE) subscribed to is confirmed. */
static bool
sp_ps_ready(struct sp_ps_pool *ps, struct sp_msg *msg)
{
    struct sp_worker *worker = ps->pool->worker;
    uint8_t kind = sp_ps_kind_of(msg);
    struct sp_redis_args args;
    int64_t nargs = sp_redis_args_read(msg, worker->args, worker->args_cap,
                                       &args);
    char *name;

    for (uint32_t i = 1; nargs > 0 && i < args.argc; i++) {
        uint32_t len = args.argv[i].len;
        if ((name = (char *)sp_worker_scratch(worker, len + 1)) == NULL) {
            return true;
        }
        sp_seglist_copy(&msg->req, args.argv[i].offset, (uint8_t *)name, len);
        struct sp_ps_entry *e = sp_ps_find(ps, kind, name, len);
        if (e != NULL && e->subscribed && e->unconfirmed > 0) {
            return false;
        }
    }
    return true;
}

/* Confirmations came (or a connection was lost): release what waits. */
static void
sp_ps_wake(struct sp_ps_pool *ps)
{
    struct sp_worker *worker = ps->pool->worker;
    struct sp_msg *msg, *next;

    for (msg = TAILQ_FIRST(&ps->waiting); msg != NULL; msg = next) {
        next = TAILQ_NEXT(msg, slink);
        if (msg->client != NULL && !sp_ps_ready(ps, msg)) {
            continue;
        }
        TAILQ_REMOVE(&ps->waiting, msg, slink);
        msg->pending = 0;
        msg->done = true;
        if (msg->client == NULL) {
            sp_msg_put(worker, msg);            /* its client left */
        } else {
            sp_client_reply_ready(msg);
        }
    }
}

/* ---- the pool's state ----------------------------------------------------- */

static struct sp_ps_pool *
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
    TAILQ_INIT(&ps->waiting);
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
    while ((msg = TAILQ_FIRST(&ps->waiting)) != NULL) {
        TAILQ_REMOVE(&ps->waiting, msg, slink);
        msg->pending = 0;
        msg->done = true;
        if (msg->client == NULL) {
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

/* ---- what a subscriber connection reads ------------------------------------ */

/* The bytes of bulk element el ("$N\r\n...\r\n" at stream offsets) into the
 * worker's scratch; NULL if it is no bulk or out of memory. */
static const char *
sp_ps_element(struct sp_conn *sconn, const struct sp_span *el, uint32_t *len)
{
    char head[24];
    size_t n = el->len < sizeof(head) ? el->len : sizeof(head);
    uint64_t skip = el->offset - sconn->in_base;
    char *nl, *out;

    sp_mbuf_chain_copy(&sconn->in, skip, (uint8_t *)head, n);
    if (n < 4 || head[0] != '$' || (nl = memchr(head, '\n', n)) == NULL) {
        return NULL;
    }
    size_t hlen = (size_t)(nl - head) + 1;
    if (el->len < hlen + 2) {
        return NULL;
    }
    *len = (uint32_t)(el->len - hlen - 2);
    if ((out = (char *)sp_worker_scratch(sconn->worker, *len + 1)) == NULL) {
        return NULL;
    }
    sp_mbuf_chain_copy(&sconn->in, skip + hlen, (uint8_t *)out, *len);
    return out;
}

/* One message to every member of e: the frame's bytes by reference. */
static void
sp_ps_deliver(struct sp_conn *sconn, const struct sp_redis_reply_parser *p,
              struct sp_ps_entry *e)
{
    static const char push[] = ">";
    struct sp_ps_member *m;

    TAILQ_FOREACH(m, &e->members, by_entry) {
        struct sp_conn *client = m->client;
        struct sp_msg *out;
        uint64_t from = p->start;

        if (client->closing || (out = sp_client_push_begin(client)) == NULL) {
            continue;
        }
        if (sp_redis_resp(client) == 3) {
            /* the same frame as a push: '>' for '*' */
            if (sp_seglist_push(&out->rsp, NULL, (const uint8_t *)push, 1)
                != 0) {
                sp_msg_put(client->worker, out);
                continue;
            }
            from++;
        }
        if (sp_seglist_from_chain(&out->rsp, &sconn->in, sconn->in_base, from,
                                  p->end) != 0) {
            sp_msg_put(client->worker, out);
            continue;
        }
        sp_client_push_end(out);
        client->worker->slot->pubsub_messages++;
    }
}

/* A confirmation: the oldest name this connection owes one for. */
static void
sp_ps_confirmed(struct sp_ps_pool *ps, struct sp_conn *sconn)
{
    struct sp_ps_conn *pc = &ps->conns[sp_sconn(sconn)->server->index];
    struct sp_ps_entry *e;

    if (pc->conn != sconn || pc->count == 0) {
        return;
    }
    e = pc->fifo[pc->head];
    pc->head = (pc->head + 1) % pc->cap;
    pc->count--;
    e->unconfirmed--;
    sp_ps_maybe_free(ps, e);
    sp_ps_wake(ps);
}

int
sp_redis_pubsub_frame(struct sp_conn *sconn,
                      const struct sp_redis_reply_parser *p)
{
    struct sp_ps_pool *ps = sconn->pool->proto_state;
    char word[16];
    uint32_t wlen = 0, nlen = 0;
    const char *w, *name;

    if (ps == NULL) {
        sp_conn_consume(sconn, p->end);
        return 0;
    }
    if (p->type == SP_REDIS_REPLY_ERROR) {
        /* a refused (un)subscribe (ACL): it is answered all the same */
        sp_log_warn(sconn->worker->log, 0, "pool '%s': server '%s' refused a "
                    "subscription", sconn->pool->conf->name,
                    sp_sconn(sconn)->server->conf->name);
        sp_conn_consume(sconn, p->end);
        sp_ps_confirmed(ps, sconn);
        return 0;
    }
    if (p->type != SP_REDIS_REPLY_ARRAY || p->nelements < 3
        || (w = sp_ps_element(sconn, &p->elements[0], &wlen)) == NULL
        || wlen >= sizeof(word)) {
        sp_log_error(sconn->worker->log, 0, "pool '%s': server '%s' sent a "
                     "subscriber connection something else than pub/sub",
                     sconn->pool->conf->name,
                     sp_sconn(sconn)->server->conf->name);
        return -1;
    }
    memcpy(word, w, wlen);
    word[wlen] = '\0';
    for (uint8_t k = 0; k < SP_PS_KINDS; k++) {
        if (strcmp(word, sp_ps_words[k].message) == 0) {
            if ((name = sp_ps_element(sconn, &p->elements[1], &nlen)) != NULL) {
                struct sp_ps_entry *e = sp_ps_find(ps, k, name, nlen);
                if (e != NULL) {
                    sp_ps_deliver(sconn, p, e);
                }
            }
            sp_conn_consume(sconn, p->end);
            return 0;
        }
        if (strcmp(word, sp_ps_words[k].subscribe) == 0
            || strcmp(word, sp_ps_words[k].unsubscribe) == 0) {
            sp_conn_consume(sconn, p->end);
            sp_ps_confirmed(ps, sconn);
            return 0;
        }
    }
    sp_conn_consume(sconn, p->end);         /* pong, or news: nothing to do */
    return 0;
}

void
sp_redis_pubsub_conn_lost(struct sp_conn *sconn)
{
    struct sp_ps_pool *ps = sconn->pool != NULL ? sconn->pool->proto_state
                                                : NULL;
    struct sp_ps_conn *pc;

    if (ps == NULL) {
        return;
    }
    pc = &ps->conns[sp_sconn(sconn)->server->index];
    if (pc->conn != sconn) {
        return;
    }
    pc->conn = NULL;
    while (pc->count > 0) {
        struct sp_ps_entry *e = pc->fifo[pc->head];
        pc->head = (pc->head + 1) % pc->cap;
        pc->count--;
        e->unconfirmed--;
        sp_ps_maybe_free(ps, e);
    }
    if (sp_ps_server_wanted(ps, sp_sconn(sconn)->server->index)) {
        sp_log_warn(sconn->worker->log, 0, "pool '%s': subscriber connection "
                    "to server '%s' lost; subscribing again",
                    sconn->pool->conf->name,
                    sp_sconn(sconn)->server->conf->name);
        sp_ps_arm_retry(ps);
    }
    sp_ps_count(ps);
    sp_ps_wake(ps);             /* nothing waits for a lost connection */
}

/* ---- a client's subscriptions --------------------------------------------- */

static struct sp_ps_client *
sp_ps_client(struct sp_conn *client, bool make)
{
    struct sp_redis_session *s = make ? sp_redis_session_get(client)
                                      : sp_redis_session(client);

    if (s == NULL) {
        return NULL;
    }
    if (s->pubsub == NULL && make) {
        struct sp_ps_client *pc = calloc(1, sizeof(*pc));
        if (pc == NULL) {
            return NULL;
        }
        TAILQ_INIT(&pc->subs);
        s->pubsub = pc;
    }
    return s->pubsub;
}

uint32_t
sp_redis_pubsub_count(const struct sp_conn *client)
{
    const struct sp_redis_session *s = sp_redis_session(client);
    const struct sp_ps_client *pc = s != NULL ? s->pubsub : NULL;

    return pc == NULL ? 0 : pc->count[SP_PS_CHANNEL]
                            + pc->count[SP_PS_PATTERN]
                            + pc->count[SP_PS_SHARD];
}

/* Redis's count in a confirmation: channels and patterns together, shard
 * channels apart. */
static uint32_t
sp_ps_reply_count(const struct sp_ps_client *pc, uint8_t kind)
{
    if (pc == NULL) {
        return 0;
    }
    return kind == SP_PS_SHARD ? pc->count[SP_PS_SHARD]
                               : pc->count[SP_PS_CHANNEL]
                                 + pc->count[SP_PS_PATTERN];
}

static struct sp_ps_member *
sp_ps_membership(const struct sp_ps_client *pc, const struct sp_ps_entry *e)
{
    struct sp_ps_member *m;

    TAILQ_FOREACH(m, &pc->subs, by_client) {
        if (m->entry == e) {
            return m;
        }
    }
    return NULL;
}

/* Take the client off e; the last one out unsubscribes the servers. */
static void
sp_ps_leave(struct sp_ps_pool *ps, struct sp_ps_client *pc,
            struct sp_ps_member *m)
{
    struct sp_ps_entry *e = m->entry;

    TAILQ_REMOVE(&e->members, m, by_entry);
    TAILQ_REMOVE(&pc->subs, m, by_client);
    e->nmembers--;
    pc->count[e->kind]--;
    free(m);
    if (e->nmembers == 0 && e->subscribed) {
        e->subscribed = false;
        sp_ps_send_all(ps, e, false);
    }
    sp_ps_maybe_free(ps, e);
}

/* The client's own confirmation frame: [word, name or null, count]. */
static void
sp_ps_confirmation(struct sp_rw *w, const char *word, const char *name,
                   uint32_t len, uint32_t count)
{
    if (w->resp == 3) {
        sp_rw_fmt(w, ">3\r\n");
    } else {
        sp_rw_array(w, 3);
    }
    sp_rw_str(w, word);
    if (name != NULL) {
        sp_rw_bulk(w, name, len);
    } else {
        sp_rw_null(w);
    }
    sp_rw_int(w, count);
}

static int
sp_ps_subscribe(struct sp_conn *client, struct sp_msg *msg, uint8_t kind,
                const struct sp_redis_args *args, uint32_t nargs)
{
    struct sp_worker *worker = client->worker;
    struct sp_ps_pool *ps = sp_ps_pool(client->pool);
    struct sp_ps_client *pc = sp_ps_client(client, true);
    bool waits = false, was = sp_redis_pubsub_count(client) > 0;
    struct sp_rw w;

    if (ps == NULL || pc == NULL) {
        return -1;
    }
    sp_rw_init(&w, sp_redis_resp(client));
    for (uint32_t i = 1; i < nargs; i++) {
        uint32_t len = args->argv[i].len;
        char *name = (char *)sp_worker_scratch(worker, len + 1);
        struct sp_ps_entry *e;

        if (name == NULL) {
            sp_rw_fmt(&w, "%s", "");
            w.failed = true;
            break;
        }
        sp_seglist_copy(args->req, args->argv[i].offset, (uint8_t *)name, len);
        e = sp_ps_find(ps, kind, name, len);
        if (e == NULL && (e = sp_ps_add(ps, kind, name, len)) == NULL) {
            w.failed = true;
            break;
        }
        if (sp_ps_membership(pc, e) == NULL) {
            struct sp_ps_member *m = calloc(1, sizeof(*m));
            if (m == NULL) {
                sp_ps_maybe_free(ps, e);
                w.failed = true;
                break;
            }
            m->entry = e;
            m->client = client;
            TAILQ_INSERT_TAIL(&e->members, m, by_entry);
            TAILQ_INSERT_TAIL(&pc->subs, m, by_client);
            e->nmembers++;
            pc->count[kind]++;
            if (!e->subscribed) {
                e->subscribed = true;
                sp_ps_send_all(ps, e, true);
            }
        }
        waits = waits || e->unconfirmed > 0;
        /* the scratch may have moved: the name again from the entry */
        sp_ps_confirmation(&w, sp_ps_words[kind].subscribe, e->name, e->len,
                           sp_ps_reply_count(pc, kind));
    }
    if (!was && sp_redis_pubsub_count(client) > 0) {
        ps->nclients++;
    }
    sp_ps_count(ps);
    if (sp_rw_finish(&w, msg) != 0) {
        return -1;
    }
    if (waits) {
        msg->done = false;                  /* written once confirmed */
        msg->pending = 1;
        TAILQ_INSERT_TAIL(&ps->waiting, msg, slink);
    }
    return 0;
}

static int
sp_ps_unsubscribe(struct sp_conn *client, struct sp_msg *msg, uint8_t kind,
                  const struct sp_redis_args *args, uint32_t nargs)
{
    struct sp_worker *worker = client->worker;
    struct sp_ps_pool *ps = client->pool->proto_state;
    struct sp_ps_client *pc = sp_ps_client(client, false);
    bool was = sp_redis_pubsub_count(client) > 0, any = false;
    const char *word = sp_ps_words[kind].unsubscribe;
    struct sp_rw w;

    sp_rw_init(&w, sp_redis_resp(client));
    if (nargs <= 1) {
        /* every name of that kind, in the order subscribed */
        struct sp_ps_member *m, *next;
        for (m = pc != NULL ? TAILQ_FIRST(&pc->subs) : NULL; m != NULL;
             m = next) {
            next = TAILQ_NEXT(m, by_client);
            if (m->entry->kind != kind) {
                continue;
            }
            struct sp_ps_entry *e = m->entry;
            if (w.resp == 3) {
                sp_rw_fmt(&w, ">3\r\n");
            } else {
                sp_rw_array(&w, 3);
            }
            sp_rw_str(&w, word);
            sp_rw_bulk(&w, e->name, e->len);    /* before it may go */
            sp_ps_leave(ps, pc, m);
            sp_rw_int(&w, sp_ps_reply_count(pc, kind));
            any = true;
        }
    } else {
        for (uint32_t i = 1; i < nargs; i++) {
            uint32_t len = args->argv[i].len;
            char *name = (char *)sp_worker_scratch(worker, len + 1);
            struct sp_ps_entry *e;
            struct sp_ps_member *m;

            if (name == NULL) {
                w.failed = true;
                break;
            }
            sp_seglist_copy(args->req, args->argv[i].offset, (uint8_t *)name,
                            len);
            if (w.resp == 3) {
                sp_rw_fmt(&w, ">3\r\n");
            } else {
                sp_rw_array(&w, 3);
            }
            sp_rw_str(&w, word);
            sp_rw_bulk(&w, name, len);
            e = ps != NULL && pc != NULL ? sp_ps_find(ps, kind, name, len)
                                         : NULL;
            if (e != NULL && (m = sp_ps_membership(pc, e)) != NULL) {
                sp_ps_leave(ps, pc, m);
            }
            sp_rw_int(&w, sp_ps_reply_count(pc, kind));
            any = true;
        }
    }
    if (!any) {
        sp_ps_confirmation(&w, word, NULL, 0, sp_ps_reply_count(pc, kind));
    }
    if (was && sp_redis_pubsub_count(client) == 0 && ps != NULL) {
        ps->nclients--;
    }
    if (ps != NULL) {
        sp_ps_count(ps);
    }
    return sp_rw_finish(&w, msg);
}

int
sp_redis_pubsub_command(struct sp_conn *client, struct sp_msg *msg)
{
    struct sp_worker *worker = client->worker;
    const struct sp_redis_command *cmd = msg->cmd;
    uint8_t kind = sp_ps_kind_of(msg);
    struct sp_redis_args args;
    int64_t nargs;

    /* every argument's span: a SUBSCRIBE may name thousands */
    nargs = sp_redis_args_read(msg, worker->args, worker->args_cap, &args);
    if (nargs > (int64_t)args.argc) {
        if (sp_array_grow((void **)&worker->args, &worker->args_cap,
                          (uint32_t)nargs, sizeof(*worker->args)) != 0) {
            return -1;
        }
        nargs = sp_redis_args_read(msg, worker->args, worker->args_cap, &args);
    }
    if (nargs < 1) {
        return sp_reply_text(msg, "-ERR Protocol error: cannot read "
                             "request\r\n");
    }
    if (strstr(cmd->name, "unsubscribe") != NULL) {
        return sp_ps_unsubscribe(client, msg, kind, &args, args.argc);
    }
    return sp_ps_subscribe(client, msg, kind, &args, args.argc);
}

void
sp_redis_pubsub_client_gone(struct sp_conn *client)
{
    struct sp_redis_session *s = sp_redis_session(client);
    struct sp_ps_client *pc = s != NULL ? s->pubsub : NULL;
    struct sp_ps_pool *ps = client->pool->proto_state;
    struct sp_ps_member *m;

    if (pc == NULL) {
        return;
    }
    if (ps != NULL && sp_redis_pubsub_count(client) > 0) {
        ps->nclients--;
    }
    while ((m = TAILQ_FIRST(&pc->subs)) != NULL) {
        if (ps != NULL) {
            sp_ps_leave(ps, pc, m);
        } else {
            TAILQ_REMOVE(&pc->subs, m, by_client);
            free(m);
        }
    }
    free(pc);
    s->pubsub = NULL;
    if (ps != NULL) {
        sp_ps_count(ps);
        sp_ps_wake(ps);         /* its waiting requests are orphans now */
    }
}

int
sp_redis_pubsub_ping(struct sp_conn *client, struct sp_msg *msg)
{
    struct sp_redis_args args;
    struct sp_span argv[2];
    int64_t nargs = sp_redis_args_read(msg, argv, 2, &args);
    struct sp_rw w;
    char *text = NULL;

    (void)client;
    sp_rw_init(&w, 2);
    sp_rw_array(&w, 2);
    sp_rw_str(&w, "pong");
    if (nargs == 2) {
        uint32_t len = argv[1].len;
        if ((text = malloc(len + 1)) == NULL) {
            return -1;
        }
        sp_seglist_copy(&msg->req, argv[1].offset, (uint8_t *)text, len);
        sp_rw_bulk(&w, text, len);
        free(text);
    } else {
        sp_rw_bulk(&w, "", 0);
    }
    return sp_rw_finish(&w, msg);
}

int
sp_redis_pubsub_publish(struct sp_conn *client, struct sp_msg *msg)
{
    struct sp_redis_args args;
    struct sp_span argv[3];
    int64_t nargs = sp_redis_args_read(msg, argv, 3, &args);

    if (nargs != 3) {
        return sp_reply_text(msg, "-ERR wrong number of arguments for '%s' "
                             "command\r\n", ((const struct sp_redis_command *)
                                             msg->cmd)->name);
    }
    sp_redis_forward_to(client, msg,
                        sp_forward_route(client->pool, msg, &argv[1]));
    return 0;
}

/* ---- PUBSUB: every worker's subscriptions ----------------------------------- */

/* The question every worker gets: which table, which pool, a pattern. */
struct sp_ps_question {
    uint8_t  what;                  /* SP_PS_ASK_* */
    uint8_t  kind;                  /* SP_PS_CHANNEL, ... */
    uint16_t pattern_len;           /* 0: none */
    char     pool[96];
    char     pattern[400];
};

enum {
    SP_PS_ASK_NAMES = 1,            /* names with members, and counts */
};

/* Answer: records of [u32 len][u64 members][name]. */
int64_t
sp_redis_pubsub_answer(struct sp_worker *worker, const void *question,
                       size_t len, char **out, size_t *outlen)
{
    struct sp_ps_question q;
    size_t used = 0, cap = 0;
    char *buf = NULL;
    int64_t n = 0;

    if (len != sizeof(q)) {
        return 0;
    }
    memcpy(&q, question, sizeof(q));
    q.pool[sizeof(q.pool) - 1] = '\0';
    if (q.pattern_len > sizeof(q.pattern)) {
        return 0;
    }
    for (uint32_t i = 0; i < worker->npools; i++) {
        const struct sp_ps_pool *ps = worker->pools[i].proto_state;
        if (worker->pools[i].proto != &sp_proto_redis || ps == NULL
            || strcmp(worker->pools[i].conf->name, q.pool) != 0) {
            continue;
        }
        for (uint32_t b = 0; b < ps->nbuckets; b++) {
            for (const struct sp_ps_entry *e = ps->buckets[b]; e != NULL;
                 e = e->next) {
                if (e->kind != q.kind || e->nmembers == 0
                    || (q.pattern_len > 0
                        && !sp_redis_glob(q.pattern, q.pattern_len, e->name,
                                          e->len))) {
                    continue;
                }
                size_t need = 12 + e->len;
                if (used + need > cap) {
                    size_t c = cap > 0 ? cap * 2 : 4096;
                    while (c < used + need) {
                        c *= 2;
                    }
                    char *grown = realloc(buf, c);
                    if (grown == NULL) {
                        *out = buf;
                        *outlen = used;
                        return n;
                    }
                    buf = grown;
                    cap = c;
                }
                uint32_t l = e->len;
                uint64_t members = e->nmembers;
                memcpy(buf + used, &l, 4);
                memcpy(buf + used + 4, &members, 8);
                memcpy(buf + used + 12, e->name, e->len);
                used += need;
                n++;
            }
        }
    }
    *out = buf;
    *outlen = used;
    return n;
}

/* One name of the answers, merged: the workers' counts summed. */
struct sp_ps_found {
    const char *name;
    uint32_t    len;
    uint64_t    members;
};

static int
sp_ps_found_cmp(const void *a, const void *b)
{
    const struct sp_ps_found *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->name, y->name, n);

    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

/* The answers' records, sorted by name with duplicates summed; *n. */
static struct sp_ps_found *
sp_ps_merge(const struct sp_ask_result *r, uint32_t *n)
{
    struct sp_ps_found *f;
    uint32_t count = 0, k = 0;

    for (size_t at = 0; at + 12 <= r->len; count++) {
        uint32_t l;
        memcpy(&l, r->bytes + at, 4);
        at += 12 + l;
    }
    if ((f = calloc(count + 1, sizeof(*f))) == NULL) {
        return NULL;
    }
    for (size_t at = 0; at + 12 <= r->len && k < count; k++) {
        memcpy(&f[k].len, r->bytes + at, 4);
        memcpy(&f[k].members, r->bytes + at + 4, 8);
        f[k].name = r->bytes + at + 12;
        at += 12 + f[k].len;
        if (at > r->len) {
            break;
        }
    }
    qsort(f, k, sizeof(*f), sp_ps_found_cmp);
    uint32_t out = 0;
    for (uint32_t i = 0; i < k; i++) {
        if (out > 0 && sp_ps_found_cmp(&f[out - 1], &f[i]) == 0) {
            f[out - 1].members += f[i].members;
        } else {
            f[out++] = f[i];
        }
    }
    *n = out;
    return f;
}

/* The request's arguments, every one (msg is a PUBSUB). */
static int64_t
sp_ps_args(struct sp_worker *worker, const struct sp_msg *msg,
           struct sp_redis_args *args)
{
    int64_t nargs = sp_redis_args_read(msg, worker->args, worker->args_cap,
                                       args);

    if (nargs > (int64_t)args->argc) {
        if (sp_array_grow((void **)&worker->args, &worker->args_cap,
                          (uint32_t)nargs, sizeof(*worker->args)) != 0) {
            return -1;
        }
        nargs = sp_redis_args_read(msg, worker->args, worker->args_cap, args);
    }
    return nargs;
}

static int
sp_ps_info_done(struct sp_msg *msg, const struct sp_ask_result *r)
{
    struct sp_conn *client = msg->client;
    struct sp_worker *worker = client->worker;
    struct sp_redis_args args;
    struct sp_ps_found *found;
    uint32_t n = 0;
    struct sp_rw w;

    if (sp_ps_args(worker, msg, &args) < 2
        || (found = sp_ps_merge(r, &n)) == NULL) {
        return -1;
    }
    sp_rw_init(&w, sp_redis_resp(client));
    if (sp_redis_arg_is(&args, 1, "numpat")) {
        sp_rw_int(&w, n);
    } else if (sp_redis_arg_is(&args, 1, "channels")
               || sp_redis_arg_is(&args, 1, "shardchannels")) {
        sp_rw_array(&w, n);
        for (uint32_t i = 0; i < n; i++) {
            sp_rw_bulk(&w, found[i].name, found[i].len);
        }
    } else {
        /* NUMSUB / SHARDNUMSUB name ...: each name and its subscribers */
        uint32_t asked = args.argc - 2;
        if (w.resp == 3) {
            sp_rw_map(&w, asked);
        } else {
            sp_rw_array(&w, (uint64_t)asked * 2);
        }
        for (uint32_t i = 2; i < args.argc; i++) {
            uint32_t len = args.argv[i].len;
            char *name = malloc(len + 1);
            if (name == NULL) {
                w.failed = true;
                break;
            }
            sp_seglist_copy(&msg->req, args.argv[i].offset, (uint8_t *)name,
                            len);
            struct sp_ps_found key = { name, len, 0 }, *hit;
            hit = n > 0 ? bsearch(&key, found, n, sizeof(*found),
                                  sp_ps_found_cmp) : NULL;
            sp_rw_bulk(&w, name, len);
            sp_rw_int(&w, hit != NULL ? (int64_t)hit->members : 0);
            free(name);
        }
    }
    free(found);
    return sp_rw_finish(&w, msg);
}

int
sp_redis_pubsub_info(struct sp_conn *client, struct sp_msg *msg)
{
    struct sp_worker *worker = client->worker;
    struct sp_ps_question q;
    struct sp_redis_args args;
    int64_t nargs = sp_ps_args(worker, msg, &args);

    if (nargs < 2) {
        return sp_reply_text(msg, "-ERR Protocol error: cannot read "
                             "request\r\n");
    }
    memset(&q, 0, sizeof(q));
    q.what = SP_PS_ASK_NAMES;
    strncpy(q.pool, client->pool->conf->name, sizeof(q.pool) - 1);
    if (sp_redis_arg_is(&args, 1, "numpat")) {
        q.kind = SP_PS_PATTERN;
    } else if (sp_redis_arg_is(&args, 1, "channels")
               || sp_redis_arg_is(&args, 1, "numsub")) {
        q.kind = SP_PS_CHANNEL;
    } else {
        q.kind = SP_PS_SHARD;           /* shardchannels, shardnumsub */
    }
    if ((sp_redis_arg_is(&args, 1, "channels")
         || sp_redis_arg_is(&args, 1, "shardchannels")) && nargs == 3) {
        if (args.argv[2].len > sizeof(q.pattern)) {
            return sp_msg_reply_static(msg, "-ERR the proxy matches patterns "
                                       "of at most 400 bytes\r\n");
        }
        q.pattern_len = (uint16_t)args.argv[2].len;
        sp_seglist_copy(&msg->req, args.argv[2].offset, (uint8_t *)q.pattern,
                        q.pattern_len);
    }
    return sp_ask_workers(worker, msg, client->pool->proto,
                          SP_REDIS_ASK_PUBSUB, &q, sizeof(q), sp_ps_info_done);
}

/* ---- Redis's glob ------------------------------------------------------------ */

bool
sp_redis_glob(const char *p, size_t plen, const char *s, size_t slen)
{
    while (plen > 0 && slen > 0) {
        switch (p[0]) {
        case '*':
            while (plen > 1 && p[1] == '*') {
                p++;
                plen--;
            }
            if (plen == 1) {
                return true;
            }
            for (;;) {
                if (sp_redis_glob(p + 1, plen - 1, s, slen)) {
                    return true;
                }
                if (slen == 0) {
                    return false;
                }
                s++;
                slen--;
            }
        case '?':
            s++;
            slen--;
            break;
        case '[': {
            bool negate, match = false;

            p++;
            plen--;
            negate = plen > 0 && p[0] == '^';
            if (negate) {
                p++;
                plen--;
            }
            for (;;) {
                if (plen == 0) {
                    break;              /* an open set: as Redis, ends here */
                }
                if (p[0] == '\\' && plen >= 2) {
                    p++;
                    plen--;
                    match = match || p[0] == s[0];
                } else if (p[0] == ']') {
                    break;
                } else if (plen >= 3 && p[1] == '-') {
                    char lo = p[0], hi = p[2];
                    if (lo > hi) {
                        char t = lo;
                        lo = hi;
                        hi = t;
                    }
                    match = match || (s[0] >= lo && s[0] <= hi);
                    p += 2;
                    plen -= 2;
                } else {
                    match = match || p[0] == s[0];
                }
                p++;
                plen--;
            }
            if (negate) {
                match = !match;
            }
            if (!match) {
                return false;
            }
            s++;
            slen--;
            if (plen == 0) {
                return slen == 0;
            }
            break;
        }
        case '\\':
            if (plen >= 2) {
                p++;
                plen--;
            }
            /* fall through */
        default:
            if (p[0] != s[0]) {
                return false;
            }
            s++;
            slen--;
            break;
        }
        p++;
        plen--;
    }
    while (plen > 0 && p[0] == '*') {
        p++;
        plen--;
    }
    return plen == 0 && slen == 0;
}

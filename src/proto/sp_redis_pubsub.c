/*
 * sp_redis_pubsub.c — the subscriber connections (see sp_redis_pubsub.h):
 * (un)subscribing names on them, the confirmations they owe (a queue per
 * connection, in the order sent), what they read — confirmations, and
 * messages passed to the subscribed clients by reference — their loss and
 * return, and the SUBSCRIBEs waiting for confirmations.
 *
 *   client SUBSCRIBE ch ─► entry: member added; new on its server?
 *        ─► "SUBSCRIBE ch" on the server's subscriber connection; the
 *        request waits for the confirmation
 *   server "message ch payload" ─► the entry's members, each a push
 *        message referencing the bytes read
 *   last member leaves ─► "UNSUBSCRIBE ch"; the entry goes once confirmed
 */
#include "sp_redis_pubsub_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "sp_client.h"
#include "sp_log.h"
#include "sp_redis_proxy.h"
#include "sp_redis_session.h"
#include "sp_server.h"
#include "sp_shared.h"
#include "sp_worker.h"

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
void
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

/* A cluster pool: names whose node is lost move to their slot's node now
 * (a failover promoted a replica); subscribed there when it is connected
 * (otherwise with the rest of that node's names below). */
static void
sp_ps_replace(struct sp_ps_pool *ps)
{
    for (uint32_t b = 0; b < ps->nbuckets; b++) {
        for (struct sp_ps_entry *e = ps->buckets[b]; e != NULL; e = e->next) {
            if (!e->subscribed || e->server < 0
                || ps->conns[e->server].conn != NULL) {
                continue;
            }
            int32_t now = sp_ps_place(ps->pool, e->kind, e->name, e->len);
            if (now == e->server || now < 0) {
                continue;
            }
            e->server = now;
            if (ps->conns[now].conn != NULL) {
                sp_ps_send(ps, (uint32_t)now,
                           sp_ps_words[e->kind].subscribe, e);
            }
        }
    }
}

static void
sp_ps_retry(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_ps_pool *ps = timer->data;

    (void)loop;
    if (ps->pool->cluster != NULL) {
        sp_ps_replace(ps);
    }
    for (uint32_t s = 0; s < ps->pool->nservers; s++) {
        if (ps->conns[s].conn == NULL && sp_ps_server_wanted(ps, s)) {
            sp_ps_resubscribe(ps, s);
        }
    }
}

/* ---- requests waiting for confirmations ----------------------------------- */

uint8_t
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
    int64_t nargs = sp_redis_args_all(worker, msg, &args);
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
void
sp_ps_wake(struct sp_ps_pool *ps)
{
    struct sp_worker *worker = ps->pool->worker;
    struct sp_msg *msg, *next, *prev = NULL;

    for (msg = SP_MSGQ_FIRST(&ps->waiting); msg != NULL; msg = next) {
        next = SP_MSGQ_NEXT(msg, slink);
        if (sp_msg_client(msg) != NULL && !sp_ps_ready(ps, msg)) {
            prev = msg;
            continue;
        }
        SP_MSGQ_REMOVE_AFTER(&ps->waiting, prev, slink);
        msg->pending = 0;
        msg->done = true;
        if (sp_msg_client(msg) == NULL) {
            sp_msg_put(worker, msg);            /* its client left */
        } else {
            sp_client_reply_ready(msg);
        }
    }
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
            if (sp_msg_push(out, &out->rsp, NULL, (const uint8_t *)push, 1)
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


/*
 * sp_redis_subscribe.c — a client's side of pub/sub: SUBSCRIBE,
 * PSUBSCRIBE, SSUBSCRIBE and their UNSUBSCRIBEs with redis-server's
 * confirmations (the client's own counts), PING in subscribed mode,
 * PUBLISH to the channel's server, and a client's subscriptions dropped
 * when it leaves or RESETs.
 */
#include "sp_redis_pubsub_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "sp_forward.h"
#include "sp_redis_proxy.h"
#include "sp_redis_session.h"
#include "sp_worker.h"

/* ---- a client's subscriptions --------------------------------------------- */

struct sp_ps_client *
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

bool
sp_redis_pubsub_waits(const struct sp_conn *client)
{
    return sp_redis_pubsub_count(client) > 0;
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
    sp_ps_members_changed(ps, e, false);
    pc->count[e->kind]--;
    free(m);
    if (e->nmembers == 0 && e->subscribed) {
        e->subscribed = false;
        sp_ps_send_all(ps, e, false);
    }
    sp_ps_maybe_free(ps, e);
}

/* A confirmation frame up to its count: [word, name or null, ... (a push
 * for RESP3). */
static void
sp_ps_confirmation_head(struct sp_rw *w, const char *word, const char *name,
                        uint32_t len)
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
}

/* The client's own confirmation frame: [word, name or null, count]. */
static void
sp_ps_confirmation(struct sp_rw *w, const char *word, const char *name,
                   uint32_t len, uint32_t count)
{
    sp_ps_confirmation_head(w, word, name, len);
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
            sp_ps_members_changed(ps, e, true);
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
        SP_MSGQ_PUSH(&ps->waiting, msg, slink);
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
            /* the name written before its entry may go */
            sp_ps_confirmation_head(&w, word, m->entry->name, m->entry->len);
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
            sp_ps_confirmation_head(&w, word, name, len);
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
    nargs = sp_redis_args_all(worker, msg, &args);
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


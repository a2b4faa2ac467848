/*
 * sp_redis_route.c — a Redis command with several keys (SDIFF, RENAME,
 * SMOVE, ZUNIONSTORE, EVAL, XREAD STREAMS, GEORADIUS ... STORE, SORT ...
 * STORE) is forwarded whole to one server only when every one of its keys
 * maps to that server (the pool's hash, hash_tag and distribution, as for
 * one key); otherwise it is refused with -CROSSSERVER and nothing is sent
 * anywhere. (A pool of distribution random has no owner for a key: the
 * request goes to one server drawn for it, as nutcracker sends it.) Hash tags put related keys together: {user:1}:a and
 * {user:1}:b go to the same server.
 *
 * The keys are found from the row's key specs once the request is whole
 * (sp_redis_keys_find): its arguments are walked once, each key routed in
 * place (a copy only for a key that straddles two buffers). A request
 * whose specs do not fit it (EVAL with a bad key count, XREAD with an odd
 * number of stream arguments) has no key: Redis answers it with its own
 * error wherever it goes.
 */
#include <errno.h>

#include "sp_array.h"
#include "sp_forward.h"
#include "sp_pool.h"
#include "sp_redis_block.h"
#include "sp_redis_proxy.h"
#include "sp_worker.h"

/* The server of a request with no key to route by. */
static struct sp_server *
sp_route_keyless(struct sp_pool *pool, const struct sp_redis_command *cmd)
{
    if (cmd->flags & SP_REDIS_F_NOKEY_FIRST) {
        return pool->nservers > 0 ? &pool->servers[0] : NULL;
    }
    return sp_pool_route(pool, (const uint8_t *)"", 0);
}

/* Route one more key of a request (span relative to the request): the
 * server all keys so far map to is *server (NULL before the first). */
static int
sp_route_one(struct sp_pool *pool, const struct sp_msg *msg,
             const struct sp_span *key, struct sp_server **server,
             int32_t *slot)
{
    struct sp_server *s;

    if (pool->cluster != NULL) {
        /* a cluster refuses keys of two slots, even on one node */
        uint16_t at;
        s = sp_forward_route_slot(pool, msg, key, &at);
        if (s != NULL && *slot >= 0 && at != (uint16_t)*slot) {
            return SP_ROUTE_CROSS;
        }
        *slot = at;
    } else {
        s = sp_forward_route(pool, msg, key);
    }
    if (s == NULL) {
        return SP_ROUTE_LOST;
    }
    if (*server != NULL && s != *server) {
        return SP_ROUTE_CROSS;
    }
    *server = s;
    return SP_ROUTE_OK;
}

int
sp_redis_route_keys(struct sp_conn *client, struct sp_msg *msg,
                    const struct sp_redis_req_parser *p,
                    struct sp_server **out)
{
    struct sp_worker *worker = client->worker;
    struct sp_pool *pool = client->pool;
    const struct sp_redis_command *cmd = p->command;
    struct sp_redis_args args = { &msg->req, NULL, p->nargs };
    struct sp_server *server = NULL;
    int32_t slot = -1;
    uint32_t *keys, nkeys = 0;

    *out = NULL;
    if (!(cmd->flags & (SP_REDIS_F_MULTIKEY | SP_REDIS_F_BLOCK_OPTION
                        | SP_REDIS_F_BLOCKING))) {
        /* the keys the parser recorded (one, or a split command's all) */
        for (uint32_t k = 0; k < p->nkeys; k++) {
            struct sp_span key = p->keys[k];
            int rc;

            key.offset -= p->start;
            if ((rc = sp_route_one(pool, msg, &key, &server, &slot))
                != SP_ROUTE_OK) {
                return rc;
            }
        }
        *out = server;
        return SP_ROUTE_OK;
    }
    /* the arguments' spans, then the keys' indexes after them */
    if (sp_array_grow((void **)&worker->args, &worker->args_cap,
                      p->nargs + (p->nargs + 1) / 2 + 1,
                      sizeof(*worker->args)) != 0) {
        sp_msg_reply_static(msg, sp_proto_redis.error_reply(ENOMEM));
        return SP_ROUTE_REPLIED;
    }
    args.argv = worker->args;
    if (sp_redis_request_args(msg, p->nargs, worker->args) != 0) {
        sp_reply_text(msg, "-ERR Protocol error: cannot read request\r\n");
        return SP_ROUTE_REPLIED;
    }
    /* key indexes: at most one per argument; they go after the spans */
    keys = (uint32_t *)(void *)(worker->args + p->nargs);
    if (sp_redis_keys_find(cmd, &args, keys,
                           (uint32_t)(((worker->args_cap - p->nargs)
                                       * sizeof(*worker->args))
                                      / sizeof(*keys)),
                           &nkeys) != 0) {
        nkeys = 0;                  /* Redis refuses it: wherever it goes */
    }
    if (sp_pool_random(pool) && nkeys > 1) {
        nkeys = 1;                  /* no key has an owner: one draw */
    }
    for (uint32_t i = 0; i < nkeys; i++) {
        int rc = sp_route_one(pool, msg, &args.argv[keys[i]], &server, &slot);

        if (rc != SP_ROUTE_OK) {
            return rc;
        }
    }
    *out = server;
    return SP_ROUTE_OK;
}

struct sp_server *
sp_redis_route_keyless(struct sp_pool *pool, const struct sp_redis_command *cmd)
{
    return sp_route_keyless(pool, cmd);
}

int
sp_redis_forward_keys(struct sp_conn *client, struct sp_msg *msg,
                      const struct sp_redis_req_parser *p)
{
    struct sp_pool *pool = client->pool;
    struct sp_server *server;

    switch (sp_redis_route_keys(client, msg, p, &server)) {
    case SP_ROUTE_CROSS:
        return sp_redis_refuse_crossserver(client, msg, p->command);
    case SP_ROUTE_LOST:
        sp_forward_to(pool, msg, NULL);     /* fails as a lost key */
        return 0;
    case SP_ROUTE_REPLIED:
        return 0;
    default:
        break;
    }
    if (server == NULL) {
        server = sp_route_keyless(pool, p->command);
    }
    /* route_keys left the arguments' spans in worker->args */
    if ((p->command->flags & SP_REDIS_F_BLOCKING)
        && sp_redis_block(client, msg, p->command, client->worker->args,
                          p->nargs, server)) {
        return 0;
    }
    sp_redis_forward_to(client, msg, server);
    return 0;
}

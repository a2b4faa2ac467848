/*
 * sp_redis_proxy.c — what the proxy does with one parsed Redis request, and
 * how a finished request's reply is put together.
 *
 *   unknown / wrong arity / NOAUTH  ─► error reply, connection stays open
 *   LOCAL    PING ECHO QUIT AUTH SELECT COMMAND answered here
 *   FORWARD  routed by its key to one server, reply passed through as is
 *   FANOUT   MGET DEL UNLINK TOUCH EXISTS MSET: one fragment per server
 *            (zero-copy: generated headers + slices of the request), the
 *            replies merged in key order; any failed fragment fails the
 *            whole request with that error, as nutcracker. Over 16K keys
 *            it is split (a fragment per server per 16K keys, sent as
 *            built) and merged in steps between the loop's turns
 *            (sp_defer.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_again.h"
#include "sp_array.h"
#include "sp_client.h"
#include "sp_client_parse.h"
#include "sp_conn.h"
#include "sp_defer.h"
#include "sp_forward.h"
#include "sp_pool.h"
#include "sp_proto.h"
#include "sp_redis.h"
#include "sp_redis_clients.h"
#include "sp_redis_conncmd.h"
#include "sp_redis_pubsub.h"
#include "sp_redis_info.h"
#include "sp_redis_session.h"
#include "sp_redis_txn.h"
#include "sp_redis_proxy.h"
#include "sp_redis_cluster.h"
#include "sp_cluster_view.h"
#include "sp_replica.h"
#include "sp_server.h"
#include "sp_worker.h"

static const char sp_crlf[] = "\r\n";

/* A server connection's reply state (sp_proto.h: server_size), inline at
 * the end of its struct sp_sconn. */
struct sp_redis_server {
    struct sp_redis_reply_parser parser;
    int64_t             *stack;         /* reply parser nesting */
    uint32_t             stack_cap;
    struct sp_span      *elems;         /* reply array elements */
    uint32_t             elems_cap;
};

static const char *
sp_redis_error_reply(int err)
{
    return sp_proto_error_text(err, true);
}

/* ---- small reply builders ---------------------------------------------- */

int
sp_reply_text(struct sp_msg *msg, const char *fmt, ...)
{
    char text[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return -1;
    }
    if ((size_t)n >= sizeof(text)) {
        n = sizeof(text) - 1;       /* cut: still one line */
        text[n - 2] = '\r';
        text[n - 1] = '\n';
    }
    if (sp_msg_gen_reserve(msg, (uint32_t)n) != 0
        || sp_msg_gen_push(msg, &msg->rsp, text, (uint32_t)n) != 0) {
        return -1;
    }
    msg->done = true;
    return 0;
}

/* A bulk reply whose value is request bytes [off, off + len) (zero-copy). */
static int
sp_reply_bulk_of_request(struct sp_msg *msg, uint64_t off, uint32_t len)
{
    char head[24];
    size_t n = sp_resp_head(head, '$', len);

    if (sp_msg_gen_reserve(msg, (uint32_t)n) != 0
        || sp_msg_gen_push(msg, &msg->rsp, head, (uint32_t)n) != 0
        || sp_seglist_slice(&msg->rsp, &msg->req, off, len) != 0
        || sp_msg_push(msg, &msg->rsp, NULL, (const uint8_t *)sp_crlf, 2) != 0) {
        return -1;
    }
    msg->done = true;
    return 0;
}

/* ---- local commands ------------------------------------------------------ */

static bool
sp_request_arg_equals(const struct sp_msg *msg, uint64_t start,
                      const struct sp_span *arg, const char *text)
{
    size_t len = strlen(text);
    uint8_t buf[256];

    if (arg->len != len || len > sizeof(buf)) {
        return false;
    }
    sp_seglist_copy(&msg->req, arg->offset - start, buf, len);
    return memcmp(buf, text, len) == 0;
}

/* A RESP2 client in subscribed mode may only (un)subscribe, PING, QUIT
 * and RESET, as redis-server says; RESP3 clients may do anything. */
static bool
sp_redis_subscribed_ok(const struct sp_conn *client,
                       const struct sp_redis_req_parser *p)
{
    sp_redis_local_t local = p->command->local;

    return sp_redis_resp(client) != 2 || sp_redis_pubsub_count(client) == 0
           || (p->command->kind == SP_REDIS_LOCAL
               && (local == SP_REDIS_LOCAL_SUBSCRIBE
                   || local == SP_REDIS_LOCAL_PING
                   || local == SP_REDIS_LOCAL_QUIT
                   || local == SP_REDIS_LOCAL_RESET));
}

static int
sp_redis_local(struct sp_conn *client, struct sp_msg *msg,
               const struct sp_redis_req_parser *p)
{
    const struct sp_conf_pool *conf = client->pool->conf;
    uint64_t arg1 = p->arg1.offset - p->start;

    switch (p->command->local) {
    case SP_REDIS_LOCAL_PING:
        if (sp_redis_resp(client) == 2 && sp_redis_pubsub_count(client) > 0) {
            return sp_redis_pubsub_ping(client, msg);
        }
        if (p->nargs == 1) {
            return sp_msg_reply_static(msg, "+PONG\r\n");
        }
        return sp_reply_bulk_of_request(msg, arg1, p->arg1.len);
    case SP_REDIS_LOCAL_ECHO:
        return sp_reply_bulk_of_request(msg, arg1, p->arg1.len);
    case SP_REDIS_LOCAL_QUIT:
        msg->quit = true;
        client->closing = true;
        return sp_msg_reply_static(msg, "+OK\r\n");
    case SP_REDIS_LOCAL_AUTH:
        return sp_redis_auth(client, msg);
    case SP_REDIS_LOCAL_HELLO:
        return sp_redis_hello(client, msg);
    case SP_REDIS_LOCAL_CLIENT:
        return sp_redis_client(client, msg);
    case SP_REDIS_LOCAL_SUBSCRIBE:
        return sp_redis_pubsub_command(client, msg);
    case SP_REDIS_LOCAL_PUBLISH:
        return sp_redis_pubsub_publish(client, msg);
    case SP_REDIS_LOCAL_PUBSUB:
        return sp_redis_pubsub_info(client, msg);
    case SP_REDIS_LOCAL_RESET:
        return sp_redis_reset(client, msg);
    case SP_REDIS_LOCAL_ROLE:
        return sp_redis_role(client, msg);
    case SP_REDIS_LOCAL_INFO:
        return sp_redis_info(client, msg);
    case SP_REDIS_LOCAL_MULTI:
        return sp_redis_txn_multi(client, msg);
    case SP_REDIS_LOCAL_EXEC:
        return sp_redis_txn_exec(client, msg);
    case SP_REDIS_LOCAL_DISCARD:
        return sp_redis_txn_discard(client, msg);
    case SP_REDIS_LOCAL_WATCH:
        return sp_redis_txn_watch(client, msg, p);
    case SP_REDIS_LOCAL_UNWATCH:
        return sp_redis_txn_unwatch(client, msg);
    case SP_REDIS_LOCAL_SELECT: {
        char db[16];
        snprintf(db, sizeof(db), "%d", conf->redis_db);
        if (sp_request_arg_equals(msg, p->start, &p->arg1, db)) {
            return sp_msg_reply_static(msg, "+OK\r\n");
        }
        return sp_reply_text(msg, "-ERR SELECT is not supported by the "
                             "proxy: this pool uses database %d "
                             "(redis_db)\r\n", conf->redis_db);
    }
    case SP_REDIS_LOCAL_COMMAND:
        return sp_redis_command_reply(client, msg, p, sp_redis_resp(client));
    case SP_REDIS_LOCAL_SCAN:
        return sp_redis_scan(client, msg, p);
    default:
        return sp_redis_refuse(client, msg, p);
    }
}

/* ---- forwarding -------------------------------------------------------------- */

static void
sp_redis_fail(struct sp_pool *pool, struct sp_msg *msg, int err)
{
    pool->stats->forward_error++;
    sp_msg_reply_static(msg, sp_redis_error_reply(err));
}

static int
sp_redis_forward(struct sp_conn *client, struct sp_msg *msg,
                 const struct sp_redis_req_parser *p)
{
    struct sp_pool *pool = client->pool;
    const uint8_t *key = (const uint8_t *)"";
    size_t keylen = 0;

    if (p->command->first_key > 0) {
        if (p->nkeys == 0) {
            return sp_reply_text(msg, "-ERR invalid number of keys for '%s' "
                                 "command\r\n", p->command->name);
        }
        /* in the request (an inline one is its multibulk form, in gen),
         * else where it lies across the client's buffers */
        keylen = p->keys[0].len;
        key = sp_seglist_contiguous(&msg->req, p->keys[0].offset - p->start,
                                    keylen);
        if (key == NULL) {
            key = sp_conn_key(client, &p->keys[0]);
        }
        if (key == NULL) {
            sp_redis_fail(pool, msg, ENOMEM);
            return 0;
        }
    }
    sp_redis_forward_to(client, msg, sp_pool_route(pool, key, keylen));
    return 0;
}

/* Whether a command may be served by a replica (read_from): the table
 * marks it read-only, and it neither writes, blocks, runs a script nor
 * touches pub/sub. (XREAD with BLOCK never comes here: sp_redis_block
 * lends it a connection to the master.) */
static bool
sp_redis_replica_read(const struct sp_redis_command *cmd)
{
    return (cmd->flags & SP_REDIS_F_READONLY)
           && !(cmd->flags & (SP_REDIS_F_WRITE | SP_REDIS_F_BLOCKING
                              | SP_REDIS_F_PUBSUB))
           && !(cmd->acl & SP_REDIS_ACL(SCRIPTING)) && !cmd->write;
}

/* Whether server's reads may go to its replicas (read_from): a Sentinel
 * server with a replica set, or a node of a cluster pool. */
static bool
sp_redis_has_replicas(const struct sp_pool *pool,
                      const struct sp_server *server)
{
    return server->replicas != NULL
           || (pool->cluster != NULL && pool->cluster->read_replicas);
}

/* A cluster pool's read: to a replica node of the slot's primary (round
 * robin over those not failing; their connections send READONLY). */
static void
sp_redis_cluster_read_to(struct sp_pool *pool, struct sp_msg *msg,
                         struct sp_server *primary)
{
    struct sp_server *replica = sp_cluster_view_replica(
        pool, primary, pool->conf->read_from == SP_READ_PREFER_REPLICA);

    if (replica != NULL) {
        if (replica != primary) {
            primary->stats->replica_reads++;
        }
        sp_forward_to(pool, msg, replica);
        return;
    }
    pool->stats->forward_error++;
    if (sp_msg_parent(msg) != NULL) {
        sp_msg_fail(msg, SP_REDIS_NO_REPLICA);
        sp_msg_part_done(pool->worker, msg);
    } else {
        sp_msg_reply_static(msg, SP_REDIS_NO_REPLICA);
    }
}

/*
 * A read (a request, or a fan-out's fragment) of server's keys, server
 * having replicas (read_from): to a replica, round robin, one that cannot
 * be connected held back and the next one tried; none up: with
 * prefer_replica the master, with replica the error reply.
 */
static void
sp_redis_read_to(struct sp_pool *pool, struct sp_msg *msg,
                 struct sp_server *server)
{
    if (pool->cluster != NULL) {
        sp_redis_cluster_read_to(pool, msg, server);
        return;
    }
    if (server->replicas == NULL) {
        sp_forward_to(pool, msg, server);
        return;
    }
    for (uint32_t tries = 0; tries < SP_REPLICAS_MAX; tries++) {
        struct sp_server *replica = sp_replica_pick(server);

        if (replica == NULL) {
            break;
        }
        if (sp_forward_try(pool, msg, replica)) {
            server->stats->replica_reads++;
            return;
        }
    }
    if (pool->conf->read_from != SP_READ_REPLICA) {
        sp_forward_to(pool, msg, server);   /* prefer_replica: the master */
        return;
    }
    pool->stats->forward_error++;
    if (sp_msg_parent(msg) != NULL) {
        sp_msg_fail(msg, sp_replica_none_error(server));
        sp_msg_part_done(pool->worker, msg);
    } else {
        sp_msg_reply_static(msg, sp_replica_none_error(server));
    }
}

void
sp_redis_forward_to(struct sp_conn *client, struct sp_msg *msg,
                    struct sp_server *server)
{
    const struct sp_redis_session *s = sp_redis_session(client);
    struct sp_pool *pool = client->pool;

    if (s != NULL && s->pinned != NULL && server != NULL
        && server->index == (uint32_t)s->pinned_server) {
        /* WATCHing: its commands for that server follow the WATCH on the
         * connection that carries it */
        sp_forward_on(s->pinned, msg);
        return;
    }
    if (server != NULL && sp_redis_has_replicas(pool, server)
        && sp_redis_replica_read(msg->cmd)) {
        sp_redis_read_to(pool, msg, server);
        return;
    }
    sp_forward_to(pool, msg, server);
}

/* ---- fan-out ------------------------------------------------------------------- */

/*
 * Append one argument of the (multibulk) request to a fragment: its whole
 * encoding "$len\r\n<arg>\r\n" as the client sent it, one slice, which
 * merges with the slice before it when that argument came just before in
 * the same buffer. `cur` walks the request (arguments come at rising
 * offsets), so a fan-out of n keys costs O(n).
 */
static int
sp_frag_push_arg(struct sp_msg *frag, const struct sp_msg *msg,
                 struct sp_seg_cursor *cur, const struct sp_span *arg)
{
    uint64_t head = 1 + sp_decimal_digits(arg->len) + 2;

    return sp_seglist_slice_at(&frag->req, &msg->req, cur, arg->offset - head,
                               head + arg->len + 2);
}

/* What a request's next step does (msg->step_phase, sp_defer.h). */
#define SP_STEP_SPLIT   1
#define SP_STEP_MERGE   2

/* The split of msg failed (err, or a malformed request when 0): its reply
 * is that error, once what it sent is answered (sp_forward_split_end).
 * True: the split is over. */
static bool
sp_redis_split_fail(struct sp_msg *msg, int err)
{
    if (err != 0) {
        sp_msg_pool(msg)->stats->forward_error++;
    }
    sp_msg_fail(msg, err != 0 ? sp_redis_error_reply(err)
                              : "-ERR Protocol error: cannot split request\r\n");
    msg->step_phase = 0;
    return true;
}

/*
 * Split the next SP_DEFER_STEP_KEYS keys of a fan-out (all, when fewer):
 * their arguments scanned from msg->ext->step_off and routed, one new fragment
 * per server with its header and its keys (and values) in request order,
 * sent at once. True when the split is over (the last key sent, or
 * failed); the caller then ends it (sp_forward_split_end).
 */
static bool
sp_redis_split_step(struct sp_worker *worker, struct sp_msg *msg)
{
    struct sp_pool *pool = sp_msg_pool(msg);
    const struct sp_redis_command *cmd = msg->cmd;
    uint32_t step = (uint32_t)cmd->key_step;
    uint32_t n = msg->ext->nkeys - msg->ext->step_key;
    uint32_t first = sp_msg_nfrags(msg);
    struct sp_seg_cursor cur = SP_SEG_CURSOR_INIT;
    struct sp_span *args;
    int err;

    if (n > SP_DEFER_STEP_KEYS) {
        n = SP_DEFER_STEP_KEYS;
    }
    if (sp_array_grow((void **)&worker->args, &worker->args_cap, n * step,
                      sizeof(*worker->args)) != 0) {
        return sp_redis_split_fail(msg, ENOMEM);
    }
    args = worker->args;
    if (sp_redis_scan_args(msg, &msg->ext->step_off, args, n * step) != 0) {
        return sp_redis_split_fail(msg, 0);
    }
    err = sp_forward_split(pool, msg, msg->ext->step_key, args, n, step);
    if (err != 0) {
        return sp_redis_split_fail(msg, err);
    }

    /* each new fragment: its header, then its keys (and values) in order */
    for (uint32_t f = first; f < sp_msg_nfrags(msg); f++) {
        struct sp_msg *frag = msg->ext->frags[f];
        char head[64];
        size_t name_len = strlen(cmd->name);    /* a command's: short */
        size_t len = sp_resp_head(head, '*', 1 + (uint64_t)frag->ext->nkeys * step);

        len += sp_resp_head(head + len, '$', name_len);
        memcpy(head + len, cmd->name, name_len);
        len += name_len;
        head[len++] = '\r';
        head[len++] = '\n';

        if (sp_msg_gen_reserve(frag, (uint32_t)len) != 0
            || sp_seglist_reserve(&worker->mbufs, &frag->req,
                                  1 + frag->ext->nkeys * step) != 0
            || sp_msg_gen_push(frag, &frag->req, head, (uint32_t)len) != 0) {
            return sp_redis_split_fail(msg, ENOMEM);
        }
    }
    for (uint32_t k = 0; k < n; k++) {
        uint32_t f = msg->ext->key_frag[msg->ext->step_key + k];
        struct sp_msg *frag = msg->ext->frags[f];
        for (uint32_t a = 0; a < step; a++) {
            if (sp_frag_push_arg(frag, msg, &cur, &args[k * step + a]) != 0) {
                return sp_redis_split_fail(msg, ENOMEM);
            }
        }
    }
    msg->ext->step_key += n;
    /* reads (MGET) to the servers' replicas with read_from; not for a
     * client WATCHing (what it reads before MULTI must be the master's) */
    const struct sp_redis_session *s = sp_msg_client(msg) != NULL
                                       ? sp_redis_session(sp_msg_client(msg)) : NULL;
    sp_forward_fragments_by(pool, msg, first,
                            pool->conf->read_from != SP_READ_PRIMARY
                            && sp_redis_replica_read(cmd)
                            && (s == NULL || s->pinned == NULL)
                            ? sp_redis_read_to : sp_forward_to);
    if (msg->ext->step_key < msg->ext->nkeys) {
        return false;
    }
    msg->step_phase = 0;
    return true;
}

/*
 * MGET DEL UNLINK TOUCH EXISTS MSET: one fragment per server. Up to
 * SP_DEFER_STEP_KEYS keys are split at once; a wider request goes on in
 * steps between the loop's turns, each step's fragments sent as it is
 * done, its client not read until the last is (sp_defer.h).
 */
static int
sp_redis_fanout(struct sp_conn *client, struct sp_msg *msg,
                const struct sp_redis_req_parser *p)
{
    if (sp_msg_ext_take(client->worker, msg) == NULL) {
        return sp_msg_reply_static(msg, sp_redis_error_reply(ENOMEM));
    }
    msg->ext->nkeys = (p->nargs - 1) / (uint32_t)p->command->key_step;
    if (sp_redis_first_arg(msg, &msg->ext->step_off) != 0) {
        return sp_reply_text(msg, "-ERR Protocol error: cannot split "
                             "request\r\n");
    }
    msg->step_phase = SP_STEP_SPLIT;
    sp_forward_split_begin(msg);
    if (!sp_redis_split_step(client->worker, msg)) {
        sp_defer_add(client->worker, msg, true);
        return 0;
    }
    sp_forward_split_end(client->worker, msg);
    return 0;
}

/* ---- merging ---------------------------------------------------------------------- */

static void
sp_redis_merge_fail(struct sp_worker *worker, struct sp_msg *msg,
                    const char *error)
{
    sp_seglist_clear(&worker->mbufs, &msg->rsp);
    sp_msg_reply_static(msg, error);
}

/*
 * Merge the next SP_DEFER_STEP_KEYS keys' elements (all, when fewer) into
 * msg->rsp, in key order: each fragment's next element (frag->ext->step_key)
 * by a cursor over its reply. True when the reply is done (or failed).
 */
static bool
sp_redis_merge_step(struct sp_worker *worker, struct sp_msg *msg)
{
    struct sp_seg_cursor *cur = (struct sp_seg_cursor *)sp_worker_scratch(
                                    worker, sp_msg_nfrags(msg) * sizeof(*cur));
    uint32_t end = msg->ext->nkeys - msg->ext->step_key > SP_DEFER_STEP_KEYS
                   ? msg->ext->step_key + SP_DEFER_STEP_KEYS : msg->ext->nkeys;

    if (cur == NULL) {
        sp_redis_merge_fail(worker, msg, sp_redis_error_reply(ENOMEM));
        return true;
    }
    for (uint32_t f = 0; f < sp_msg_nfrags(msg); f++) {
        cur[f] = (struct sp_seg_cursor)SP_SEG_CURSOR_INIT;
    }
    for (uint32_t k = msg->ext->step_key; k < end; k++) {
        uint32_t f = msg->ext->key_frag[k];
        struct sp_msg *frag = msg->ext->frags[f];
        const struct sp_span *e = &frag->ext->elems[frag->ext->step_key++];

        if (sp_seglist_slice_at(&msg->rsp, &frag->rsp, &cur[f], e->offset,
                                e->len) != 0) {
            sp_redis_merge_fail(worker, msg, sp_redis_error_reply(ENOMEM));
            return true;
        }
    }
    msg->ext->step_key = end;
    if (end < msg->ext->nkeys) {
        return false;
    }
    msg->step_phase = 0;
    msg->done = true;
    return true;
}

/* The replies of every fragment are in: the request's reply, or false when
 * it is merged in steps (sp_defer.h). */
static bool
sp_redis_merge(struct sp_worker *worker, struct sp_msg *msg)
{
    const struct sp_redis_command *cmd = msg->cmd;

    if (sp_forward_failed_part(msg)) {
        return true;
    }
    if (cmd->local == SP_REDIS_LOCAL_SCAN || cmd->merge == SP_REDIS_MERGE_CONCAT
        || cmd->merge == SP_REDIS_MERGE_RANDOM) {
        return sp_redis_merge_keyspace(msg);
    }

    switch (cmd->merge) {
    case SP_REDIS_MERGE_SUM: {
        int64_t sum = 0;
        for (uint32_t f = 0; f < sp_msg_nfrags(msg); f++) {
            sum += msg->ext->frags[f]->ext->sum;
        }
        if (sp_reply_text(msg, ":%" PRId64 "\r\n", sum) != 0) {
            sp_redis_merge_fail(worker, msg, sp_redis_error_reply(ENOMEM));
        }
        return true;
    }
    case SP_REDIS_MERGE_OK:
        sp_msg_reply_static(msg, "+OK\r\n");
        return true;
    case SP_REDIS_MERGE_ARRAY: {
        char head[24];
        size_t n = sp_resp_head(head, '*', msg->ext->nkeys);

        for (uint32_t f = 0; f < sp_msg_nfrags(msg); f++) {
            struct sp_msg *frag = msg->ext->frags[f];
            if (!frag->rsp_array || frag->ext->nelems != frag->ext->nkeys) {
                sp_redis_merge_fail(worker, msg, "-ERR unexpected reply from a "
                                    "server to a split request\r\n");
                return true;
            }
        }
        if (sp_msg_gen_reserve(msg, (uint32_t)n) != 0
            || sp_seglist_reserve(&worker->mbufs, &msg->rsp,
                                  1 + msg->ext->nkeys) != 0
            || sp_msg_gen_push(msg, &msg->rsp, head, (uint32_t)n) != 0) {
            sp_redis_merge_fail(worker, msg, sp_redis_error_reply(ENOMEM));
            return true;
        }
        msg->ext->step_key = 0;
        msg->step_phase = SP_STEP_MERGE;
        if (!sp_redis_merge_step(worker, msg)) {
            sp_defer_add(worker, msg, false);
            return false;
        }
        return true;
    }
    default:
        return sp_redis_merge_all(worker, msg);
    }
}

static bool
sp_redis_complete(struct sp_worker *worker, struct sp_msg *msg)
{
    if (sp_msg_nfrags(msg) > 0 && msg->cmd != NULL
        && ((const struct sp_redis_command *)msg->cmd)->kind != SP_REDIS_FANOUT
        && (sp_redis_txn_complete(worker, msg)
            || sp_redis_info_complete(worker, msg))) {
        /* EXEC's reply is its server's; INFO's is made of every server's */
    } else if (sp_msg_error(msg) != NULL) {  /* it failed, or its split did */
        sp_seglist_clear(&worker->mbufs, &msg->rsp);
        sp_msg_reply_static(msg, sp_msg_error(msg));
    } else if (sp_msg_nfrags(msg) > 0 && !sp_redis_merge(worker, msg)) {
        return false;
    }
    if (msg->silent) {
        sp_seglist_clear(&worker->mbufs, &msg->rsp);   /* CLIENT REPLY OFF */
    }
    msg->done = true;
    return true;
}

/* The next step of a request split or merged in steps. */
static bool
sp_redis_step(struct sp_worker *worker, struct sp_msg *msg)
{
    if (msg->step_phase == SP_STEP_SPLIT) {
        return sp_redis_split_step(worker, msg);
    }
    return sp_redis_merge_step(worker, msg);
}

/* ---- inline requests ----------------------------------------------------------- */

/*
 * An inline request becomes the multibulk request Redis would build from it:
 * msg->req is replaced by that form (in gen), which is what is forwarded --
 * Redis parses it exactly, whatever bytes the words hold -- and *mb is set
 * to its parse, whose keys and arguments are the decoded words (offsets in
 * msg->req, start 0). An inline line is at most SP_REDIS_MAX_INLINE bytes.
 */
static int
sp_redis_inline_request(struct sp_conn *client, struct sp_msg *msg,
                        struct sp_redis_req_parser *mb, struct sp_span *keys,
                        uint32_t keys_cap)
{
    struct sp_worker *worker = client->worker;
    uint64_t raw = sp_seglist_bytes(&msg->req);
    const uint8_t *line = sp_seglist_contiguous(&msg->req, 0, raw);
    uint32_t nargs;
    size_t size, used = 0;
    uint8_t *out;

    if (line == NULL) {
        uint8_t *copy = sp_worker_scratch(worker, raw);

        if (copy == NULL) {
            return -1;
        }
        sp_seglist_copy(&msg->req, 0, copy, raw);
        line = copy;
    }
    size = sp_redis_inline_size(line, raw, &nargs);
    if (size == 0 || size + SP_REDIS_INLINE_SLACK > UINT32_MAX / 2
        || sp_msg_gen_reserve(msg, (uint32_t)(size + SP_REDIS_INLINE_SLACK))
           != 0) {
        return -1;
    }
    out = msg->ext->gen + msg->ext->gen_len;
    if (sp_redis_inline_encode(line, raw, out) != size) {
        return -1;
    }
    sp_seglist_clear(&worker->mbufs, &msg->req);
    if (sp_msg_push(msg, &msg->req, NULL, out, (uint32_t)size) != 0) {
        return -1;
    }
    msg->ext->gen_len += (uint32_t)size;
    client->req_held -= raw <= client->req_held ? raw : client->req_held;
    client->req_held += size;

    sp_redis_req_init(mb, 0, keys, keys_cap);
    if (sp_redis_req_parse(mb, out, size, &used) != SP_PARSE_DONE
        || used != size || mb->nargs != nargs) {
        return -1;
    }
    return 0;
}

/* ---- entry ---------------------------------------------------------------------- */

/* Commands a client may send before it authenticates (Redis's no-auth). */
static bool
sp_redis_no_auth(const struct sp_redis_command *cmd)
{
    return cmd->local == SP_REDIS_LOCAL_AUTH || cmd->local == SP_REDIS_LOCAL_QUIT
           || cmd->local == SP_REDIS_LOCAL_HELLO
           || cmd->local == SP_REDIS_LOCAL_RESET;
}

/* Commands that act inside MULTI instead of being queued. */
static bool
sp_redis_txn_control(const struct sp_redis_command *cmd)
{
    switch (cmd->local) {
    case SP_REDIS_LOCAL_MULTI:
    case SP_REDIS_LOCAL_EXEC:
    case SP_REDIS_LOCAL_DISCARD:
    case SP_REDIS_LOCAL_WATCH:
    case SP_REDIS_LOCAL_QUIT:
    case SP_REDIS_LOCAL_RESET:
        return true;
    default:
        return false;
    }
}

/* CLIENT REPLY OFF / SKIP: the reply is made (in order) but not written. */
static void
sp_redis_reply_mode(struct sp_conn *client, struct sp_msg *msg)
{
    struct sp_redis_session *s = sp_redis_session(client);

    if (s == NULL || s->reply_mode == SP_REPLY_ON) {
        return;
    }
    if (!msg->silent) {
        msg->silent = true;
        if (s->reply_mode == SP_REPLY_SKIP) {
            s->reply_mode = SP_REPLY_ON;
        }
    }
    if (msg->done) {
        sp_seglist_clear(&client->worker->mbufs, &msg->rsp);
    }
}

static int
sp_redis_request(struct sp_conn *client)
{
    const struct sp_redis_req_parser *line = sp_client_parse_state(client->parse);
    const struct sp_redis_req_parser *p = line;
    struct sp_redis_req_parser mb;
    struct sp_span mb_keys[SP_CLIENT_PARSE_KEYS];
    struct sp_msg *msg = sp_client_request_begin(client, p->start, p->end);
    int rc = 0;

    if (msg == NULL) {
        return -1;
    }
    if (line->inline_form) {
        if (sp_redis_inline_request(client, msg, &mb, mb_keys,
                                    SP_CLIENT_PARSE_KEYS) != 0) {
            sp_redis_fail(client->pool, msg, ENOMEM);
            sp_client_request_end(client, msg, line->end);
            return 0;
        }
        p = &mb;
    }
    msg->cmd = p->command;

    if (client->pool->cluster != NULL && p->command != NULL
        && strncmp(p->command->name, "cluster", 7) == 0
        && (p->command->name[7] == '\0' || p->command->name[7] == '|')) {
        rc = client->authenticated
             ? sp_redis_cluster_command(client, msg)
             : sp_msg_reply_static(msg, "-NOAUTH Authentication required."
                                        "\r\n");
    } else if (sp_redis_is_refused(p)) {
        rc = sp_redis_refuse(client, msg, p);
        sp_redis_txn_fail(client);
    } else if (!sp_redis_command_arity_ok(p->command, p->nargs)) {
        rc = sp_reply_text(msg, "-ERR wrong number of arguments for '%s' "
                           "command\r\n", p->command->name);
        sp_redis_txn_fail(client);
    } else if (!client->authenticated && !sp_redis_no_auth(p->command)) {
        rc = sp_msg_reply_static(msg, "-NOAUTH Authentication required.\r\n");
    } else if (client->session != NULL && !sp_redis_subscribed_ok(client, p)) {
        rc = sp_reply_text(msg, "-ERR Can't execute '%s': only (P|S)SUBSCRIBE "
                           "/ (P|S)UNSUBSCRIBE / PING / QUIT / RESET are "
                           "allowed in this context\r\n", p->command->name);
    } else if (sp_redis_txn_open(client) && !sp_redis_txn_control(p->command)) {
        if ((p->command->kind == SP_REDIS_LOCAL
             && p->command->local != SP_REDIS_LOCAL_PING
             && p->command->local != SP_REDIS_LOCAL_ECHO)
            || p->command->kind == SP_REDIS_ALL) {
            rc = sp_reply_text(msg, "-ERR '%s' inside MULTI is not supported "
                               "by the proxy\r\n", p->command->name);
            sp_redis_txn_fail(client);
        } else {
            rc = sp_redis_txn_queue(client, msg, p);
        }
    } else if (p->command->kind == SP_REDIS_LOCAL
               || p->command->kind == SP_REDIS_TRANSACTION) {
        rc = sp_redis_local(client, msg, p);
    } else if (p->command->kind == SP_REDIS_FANOUT) {
        rc = sp_redis_fanout(client, msg, p);
    } else if (p->command->kind == SP_REDIS_ALL) {
        rc = sp_redis_fanout_all(client, msg, p);
    } else if (p->command->flags & (SP_REDIS_F_MULTIKEY
                                    | SP_REDIS_F_BLOCK_OPTION
                                    | SP_REDIS_F_BLOCKING
                                    | SP_REDIS_F_NOKEY_FIRST)) {
        rc = sp_redis_forward_keys(client, msg, p);
    } else {
        rc = sp_redis_forward(client, msg, p);
    }
    sp_redis_reply_mode(client, msg);
    sp_client_request_end(client, msg, line->end);
    return rc;
}

/* ---- client and server streams -------------------------------------------- */

static void
sp_redis_parse_init(struct sp_client_parse *ps, uint64_t offset)
{
    sp_redis_req_init(sp_client_parse_state(ps), offset, ps->keys,
                      SP_CLIENT_PARSE_KEYS);
}

static bool
sp_redis_parse_idle(const struct sp_client_parse *ps)
{
    return sp_redis_req_idle((const void *)ps->state);
}

static int
sp_redis_client_data(struct sp_conn *client, const uint8_t *data, size_t len)
{
    struct sp_redis_req_parser *p = sp_client_parse_state(client->parse);

    while (len > 0) {
        size_t consumed = 0;
        sp_parse_status_t status = sp_redis_req_parse(p, data, len,
                                                      &consumed);
        if (status == SP_PARSE_ERROR) {
            char text[160];
            const char *why = p->error;
            int n = snprintf(text, sizeof(text), "-ERR Protocol error: %s\r\n",
                             why != NULL ? why : "malformed request");
            if (n < 0 || (size_t)n >= sizeof(text)) {
                n = (int)strlen(strcpy(text, "-ERR Protocol error\r\n"));
            }
            return sp_client_fail(client, text, (size_t)n);
        }
        data += consumed;
        len -= consumed;
        if (status == SP_PARSE_DONE) {
            if (sp_redis_request(client) != 0) {
                client->closing = true;
                return -1;
            }
            if (client->closing || sp_client_held(client)) {
                return -1;      /* QUIT: read no further; a request split
                                   in steps: nothing more until it is sent */
            }
        }
    }
    return 0;
}

/* AUTH and SELECT go first on every new server connection. */
static int
sp_redis_server_init(struct sp_conn *server)
{
    const struct sp_conf_pool *conf = server->pool->conf;
    const char *user = conf->redis_auth_user;
    char cmd[1200];
    int n;

    if (sp_sconn(server)->variant == 1) {
        /* a RESP3 client's connection: HELLO 3, authenticated in one go */
        if (conf->redis_auth != NULL) {
            const char *u = user != NULL ? user : "default";
            n = snprintf(cmd, sizeof(cmd), "*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n"
                         "$4\r\nAUTH\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n",
                         strlen(u), u, strlen(conf->redis_auth),
                         conf->redis_auth);
        } else {
            n = snprintf(cmd, sizeof(cmd), "*2\r\n$5\r\nHELLO\r\n$1\r\n3"
                         "\r\n");
        }
        if (n < 0 || (size_t)n >= sizeof(cmd)
            || sp_server_internal(server, cmd, (uint32_t)n) != 0) {
            return -1;
        }
    } else if (conf->redis_auth != NULL && user != NULL) {
        n = snprintf(cmd, sizeof(cmd), "*3\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n"
                     "$%zu\r\n%s\r\n", strlen(user), user,
                     strlen(conf->redis_auth), conf->redis_auth);
        if (n < 0 || (size_t)n >= sizeof(cmd)
            || sp_server_internal(server, cmd, (uint32_t)n) != 0) {
            return -1;
        }
    } else if (conf->redis_auth != NULL) {
        size_t len = strlen(conf->redis_auth);
        n = snprintf(cmd, sizeof(cmd), "*2\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n",
                     len, conf->redis_auth);
        if (n < 0 || (size_t)n >= sizeof(cmd)
            || sp_server_internal(server, cmd, (uint32_t)n) != 0) {
            return -1;
        }
    }
    if (server->pool->cluster != NULL && conf->read_from != SP_READ_PRIMARY
        && sp_server_internal(server, "*1\r\n$8\r\nREADONLY\r\n", 18) != 0) {
        return -1;      /* replica reads: READONLY (a no-op on a primary) */
    }
    if (conf->redis_db > 0) {
        char db[16];
        int dlen = snprintf(db, sizeof(db), "%d", conf->redis_db);
        n = snprintf(cmd, sizeof(cmd), "*2\r\n$6\r\nSELECT\r\n$%d\r\n%s\r\n",
                     dlen, db);
        if (sp_server_internal(server, cmd, (uint32_t)n) != 0) {
            return -1;
        }
    }
    return 0;
}

/*
 * The reply parser's nesting stack: a server connection starts with room for
 * SP_RSTACK_FIRST levels, grows it (doubling) when a reply nests deeper --
 * any reply Redis sends passes, up to SP_REDIS_REPLY_MAX_DEPTH -- and gives
 * back what is over SP_RSTACK_KEEP levels when the next reply starts.
 */
#define SP_RSTACK_FIRST 32
#define SP_RSTACK_KEEP  1024

/* Start parsing the reply of the oldest in-flight request at `offset`. */
static int
sp_redis_reply_start(struct sp_conn *conn, uint64_t offset)
{
    struct sp_sconn *sc = sp_sconn(conn);
    struct sp_redis_server *rs = sp_sconn_state(conn);
    struct sp_msg *head = SP_MSGQ_FIRST(&sc->inflight);
    uint32_t elems = head != NULL && sp_msg_parent(head) != NULL
                     ? head->ext->nkeys : 0;

    if (sc->dedicated && head == NULL) {
        elems = SP_REDIS_PUBSUB_ELEMS;      /* a subscriber's frame */
    }

    if (rs->stack_cap > SP_RSTACK_KEEP) {
        int64_t *kept = realloc(rs->stack, SP_RSTACK_KEEP * sizeof(*kept));

        if (kept != NULL) {
            rs->stack = kept;
            rs->stack_cap = SP_RSTACK_KEEP;
        }
    }
    if (sp_array_grow((void **)&rs->stack, &rs->stack_cap, SP_RSTACK_FIRST,
                sizeof(*rs->stack)) != 0
        || sp_array_grow((void **)&rs->elems, &rs->elems_cap, elems,
                   sizeof(*rs->elems)) != 0) {
        return -1;
    }
    sp_redis_reply_init(&rs->parser, offset, rs->stack, rs->stack_cap,
                        rs->elems, elems);
    sc->rsp_fresh = false;
    return 0;
}

/*
 * A request a demoted master refused (-READONLY) or a restarting one could
 * not serve (-LOADING) is sent once more (sp_again.h): after -READONLY once
 * the sentinels' re-ask published a new address for the server, after
 * -LOADING a moment later; either within the pool's timeout (2 s without
 * one). True: it is on its way (its reply is not this one); false: the
 * client gets the server's error (its one retry was spent, or it was on a
 * pinned connection).
 */
#define SP_REDIS_DEMOTED_WAIT_MS 2000
#define SP_REDIS_LOADING_WAIT_MS 100

static bool
sp_redis_demoted_resend(struct sp_conn *conn, struct sp_msg *msg,
                        bool loading)
{
    struct sp_sconn *sc = sp_sconn(conn);
    struct sp_pool *pool = conn->pool;
    uint32_t now = (uint32_t)sp_event_now_ms(conn->worker->loop);

    if (sc->pinned || sc->dedicated || msg->internal
        || sp_msg_ext_take(conn->worker, msg) == NULL
        || msg->ext->waits > 0) {
        return false;           /* the one retry was spent, or cannot be */
    }
    msg->ext->waits++;
    msg->ext->give_up_ms = now + (pool->conf->timeout > 0
                                  ? (uint32_t)pool->conf->timeout
                                  : SP_REDIS_DEMOTED_WAIT_MS);
    if (msg->ext->give_up_ms == 0) {
        msg->ext->give_up_ms = 1;
    }
    sp_seglist_clear(&conn->worker->mbufs, &msg->rsp);
    if (loading) {
        /* restarting: the same master, a moment later (or the new one,
         * should the sentinels name one meanwhile) */
        sp_again_later(pool, msg, -1, SP_REDIS_LOADING_WAIT_MS);
    } else {
        /* demoted: once the master published the new master's address
         * (its connections are then to it), or at the give-up time */
        sp_again_after_change(pool, msg, -1);
    }
    return true;
}

/* An error reply on a Sentinel pool's connection: -READONLY from a master
 * means it was demoted, -LOADING that it restarts; its worker asks for the
 * sentinels to be asked again (coalesced). From a replica, -LOADING holds
 * that replica back a moment. True: the request was sent again (its reply
 * is yet to come). */
static bool
sp_redis_demoted(struct sp_conn *conn, struct sp_msg *msg)
{
    struct sp_server *server = sp_sconn(conn)->server;
    uint8_t head[10];

    if (sp_seglist_bytes(&msg->rsp) < sizeof(head)) {
        return false;
    }
    sp_seglist_copy(&msg->rsp, 0, head, sizeof(head));
    bool readonly = memcmp(head, "-READONLY ", 10) == 0;
    bool loading = memcmp(head, "-LOADING ", 9) == 0;
    if (!readonly && !loading) {
        return false;
    }
    if (server->primary != NULL) {
        if (loading) {
            sp_replica_failed(server);
        }
        return false;
    }
    sp_server_reask(server);
    return sp_redis_demoted_resend(conn, msg, loading);
}

static int
sp_redis_reply(struct sp_conn *conn)
{
    struct sp_sconn *sc = sp_sconn(conn);
    struct sp_redis_reply_parser *p = &((struct sp_redis_server *)
                                        sp_sconn_state(conn))->parser;
    struct sp_msg *msg;

    sc->rsp_fresh = true;
    if (sc->dedicated && SP_MSGQ_EMPTY(&sc->inflight)) {
        return sp_redis_pubsub_frame(conn, p);     /* its handshake is done */
    }
    if (p->type == SP_REDIS_REPLY_PUSH) {
        /* out of band (RESP3): no request's reply; nothing the proxy lets
         * a client ask for sends one on a shared connection */
        sp_conn_consume(conn, p->end);
        return 0;
    }
    msg = sp_server_reply_take(conn, p->start, p->end);
    if (msg == NULL) {
        return -1;
    }
    if (p->type == SP_REDIS_REPLY_ERROR && conn->pool->cluster != NULL
        && !msg->internal && !sc->pinned && !sc->dedicated
        && sp_redis_cluster_redirect(conn, msg, p->end - p->start)) {
        return 0;       /* on its way again (or failed) */
    }
    if (msg->internal && p->type == SP_REDIS_REPLY_ERROR) {
        sp_log_error(conn->worker->log, 0, "pool '%s': server '%s' refused "
                     "redis_auth, redis_db or HELLO 3", conn->pool->conf->name,
                     sc->server->conf->name);
    } else if (p->type == SP_REDIS_REPLY_ERROR
               && (sc->server->addr_slot != NULL || sc->server->primary != NULL)
               && sp_msg_error(msg) == NULL && sp_redis_demoted(conn, msg)) {
        return 0;
    }
    if (sp_msg_parent(msg) != NULL) {          /* it has its ext */
        /* a fragment: keep what the merge needs (an integer; an array's
         * length, KEYS) */
        msg->ext->sum = p->type == SP_REDIS_REPLY_INTEGER
                        || (p->type == SP_REDIS_REPLY_ARRAY && !p->nil)
                        ? p->integer : 0;
        msg->rsp_error = p->type == SP_REDIS_REPLY_ERROR;
        msg->rsp_array = p->type == SP_REDIS_REPLY_ARRAY && !p->nil;
        if (msg->rsp_array) {
            if (sp_array_grow((void **)&msg->ext->elems,
                              &msg->ext->elems_cap, p->nelements,
                              sizeof(*msg->ext->elems)) != 0) {
                sp_msg_fail(msg, sp_redis_error_reply(ENOMEM));
            } else {
                for (uint32_t i = 0; i < p->nelements; i++) {
                    msg->ext->elems[i].offset = p->elements[i].offset
                                                - p->start;
                    msg->ext->elems[i].len = p->elements[i].len;
                }
                msg->ext->nelems = p->nelements;
            }
        }
    }
    sp_msg_part_done(conn->worker, msg);
    return 0;
}

/* Parse replies; a reply nested deeper than the stack grows it, and parsing
 * goes on from the byte where it stopped (that is no server error). */
static sp_parse_status_t
sp_redis_reply_feed(struct sp_conn *conn, const uint8_t *data, size_t len,
                    size_t *consumed)
{
    struct sp_redis_server *rs = sp_sconn_state(conn);
    struct sp_redis_reply_parser *p = &rs->parser;
    size_t used = 0;

    for (;;) {
        size_t n = 0;
        sp_parse_status_t status = sp_redis_reply_parse(p, data + used,
                                                        len - used, &n);
        used += n;
        if (status != SP_PARSE_ERROR || !p->need_stack) {
            *consumed = used;
            return status;
        }
        if (sp_array_grow((void **)&rs->stack, &rs->stack_cap,
                          rs->stack_cap + 1, sizeof(*rs->stack)) != 0) {
            p->error = "out of memory for a deeply nested reply";
            *consumed = used;
            return SP_PARSE_ERROR;
        }
        sp_redis_reply_stack(p, rs->stack, rs->stack_cap);
    }
}

static const char *
sp_redis_reply_error(struct sp_conn *conn)
{
    struct sp_redis_server *rs = sp_sconn_state(conn);

    return rs->parser.error;
}

static const struct sp_reply_stream sp_redis_replies = {
    .start = sp_redis_reply_start,
    .parse = sp_redis_reply_feed,
    .error = sp_redis_reply_error,
    .done = sp_redis_reply,
};

static int
sp_redis_server_data(struct sp_conn *conn, const uint8_t *data, size_t len)
{
    return sp_server_feed(conn, data, len, &sp_redis_replies);
}

static void
sp_redis_server_free(struct sp_conn *conn)
{
    struct sp_redis_server *rs = sp_sconn_state(conn);

    free(rs->stack);
    free(rs->elems);
    if (sp_sconn(conn)->dedicated) {
        sp_redis_pubsub_conn_lost(conn);
    }
}

static const char *
sp_redis_command_name(const struct sp_msg *msg, int *first_key)
{
    const struct sp_redis_command *cmd = msg->cmd;

    if (cmd == NULL) {
        *first_key = 1;
        return "?";
    }
    *first_key = cmd->first_key;
    return cmd->name;
}

const struct sp_proto sp_proto_redis = {
    .name = "redis",
    .parse_size = sizeof(struct sp_redis_req_parser),
    .server_size = sizeof(struct sp_redis_server),
    .parse_init = sp_redis_parse_init,
    .parse_idle = sp_redis_parse_idle,
    .client_data = sp_redis_client_data,
    .server_init = sp_redis_server_init,
    .server_free = sp_redis_server_free,
    .command_name = sp_redis_command_name,
    .server_data = sp_redis_server_data,
    .complete = sp_redis_complete,
    .step = sp_redis_step,
    .error_reply = sp_redis_error_reply,
    .client_free = sp_redis_session_free,
    .session_save = sp_redis_session_save,
    .session_restore = sp_redis_session_restore,
    .pin_lost = sp_redis_session_pin_lost,
    .pool_free = sp_redis_pubsub_pool_free,
    .client_waits = sp_redis_pubsub_waits,
    .refused_ids = SP_REDIS_COMMAND_IDS_MAX,
    .refused_name = sp_redis_refused_name,
    .answer = sp_redis_answer,
};

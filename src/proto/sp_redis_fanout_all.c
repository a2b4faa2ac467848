/*
 * sp_redis_fanout_all.c — commands for every server of a pool: SCRIPT
 * LOAD/EXISTS/FLUSH, FUNCTION LOAD/DELETE/FLUSH/RESTORE (rows of kind ALL).
 *
 * A mode of the fan-out: the request becomes one fragment per server
 * (sp_forward_every), each the whole request (slices of it: no copy), sent
 * and answered like a split MGET's; when every part is in, the replies
 * merge by the row's merge. Any part's error (a server's, or a connection
 * that failed) is the reply, the first in the pool's order, as for every
 * fan-out (sp_forward_failed_part); otherwise:
 *
 *   FIRST  SCRIPT LOAD, FUNCTION LOAD: the servers' one answer (the sha,
 *          the library name); servers answering differently is an error
 *   AND    SCRIPT EXISTS sha...: 1 for a script every server has
 *   OK     SCRIPT FLUSH ...: +OK (merged with MSET's, sp_redis_proxy.c)
 *
 * So a script loaded through the proxy is on every server, and EVALSHA
 * finds it wherever its keys route it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sp_forward.h"
#include "sp_pool.h"
#include "sp_redis_proxy.h"
#include "sp_worker.h"

int
sp_redis_fanout_all(struct sp_conn *client, struct sp_msg *msg,
                    const struct sp_redis_req_parser *p)
{
    struct sp_pool *pool = client->pool;
    uint32_t nelems = p->command->merge == SP_REDIS_MERGE_AND
                      ? p->nargs - 2 : 0;      /* SCRIPT EXISTS sha ... */

    sp_forward_split_begin(msg);
    if (sp_forward_every(pool, msg, nelems) != 0) {
        pool->stats->forward_error++;
        sp_msg_fail(msg, sp_proto_redis.error_reply(ENOMEM));
    } else {
        for (uint32_t f = 0; f < sp_msg_nfrags(msg); f++) {
            struct sp_msg *frag = msg->ext->frags[f];

            if (sp_seglist_slice(&frag->req, &msg->req, 0,
                                 sp_seglist_bytes(&msg->req)) != 0) {
                pool->stats->forward_error++;
                sp_msg_fail(msg, sp_proto_redis.error_reply(ENOMEM));
                break;
            }
        }
        if (sp_msg_error(msg) == NULL) {
            sp_forward_fragments(pool, msg, 0);
        }
    }
    sp_forward_split_end(client->worker, msg);
    return 0;
}

/* Whether a's and b's replies are the same bytes. */
static bool
sp_all_same_reply(const struct sp_msg *a, const struct sp_msg *b)
{
    uint8_t x[256], y[256];
    uint64_t len = sp_seglist_bytes(&a->rsp);

    if (sp_seglist_bytes(&b->rsp) != len) {
        return false;
    }
    for (uint64_t off = 0; off < len; off += sizeof(x)) {
        size_t n = len - off < sizeof(x) ? (size_t)(len - off) : sizeof(x);

        sp_seglist_copy(&a->rsp, off, x, n);
        sp_seglist_copy(&b->rsp, off, y, n);
        if (memcmp(x, y, n) != 0) {
            return false;
        }
    }
    return true;
}

/* Element i of a fragment's integer array reply is :1. */
static bool
sp_all_element_one(const struct sp_msg *frag, uint32_t i)
{
    const struct sp_span *e = &frag->ext->elems[i];
    uint8_t buf[4];

    if (e->len != sizeof(buf)) {
        return false;
    }
    sp_seglist_copy(&frag->rsp, e->offset, buf, sizeof(buf));
    return memcmp(buf, ":1\r\n", sizeof(buf)) == 0;
}

static bool
sp_all_merge_and(struct sp_msg *msg)
{
    uint32_t n = sp_msg_nfrags(msg) > 0 ? msg->ext->frags[0]->ext->nkeys : 0;
    char head[24];
    int len = snprintf(head, sizeof(head), "*%" PRIu32 "\r\n", n);

    for (uint32_t f = 0; f < sp_msg_nfrags(msg); f++) {
        const struct sp_msg *frag = msg->ext->frags[f];

        if (!frag->rsp_array || frag->ext->nelems != n) {
            return sp_msg_reply_static(msg, "-ERR unexpected reply from a "
                                       "server to a request for every "
                                       "server\r\n") == 0;
        }
    }
    if (sp_msg_gen_reserve(msg, (uint32_t)len + 4 * n) != 0
        || sp_msg_gen_push(msg, &msg->rsp, head, (uint32_t)len) != 0) {
        return sp_msg_reply_static(msg, sp_proto_redis.error_reply(ENOMEM))
               == 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        bool all = true;

        for (uint32_t f = 0; f < sp_msg_nfrags(msg) && all; f++) {
            all = sp_all_element_one(msg->ext->frags[f], i);
        }
        /* gen was reserved: each push appends to it (adjacent pieces) */
        if (sp_msg_gen_push(msg, &msg->rsp, all ? ":1\r\n" : ":0\r\n", 4)
            != 0) {
            return sp_msg_reply_static(msg,
                                       sp_proto_redis.error_reply(ENOMEM))
                   == 0;
        }
    }
    msg->done = true;
    return true;
}

bool
sp_redis_merge_all(struct sp_worker *worker, struct sp_msg *msg)
{
    const struct sp_redis_command *cmd = msg->cmd;

    (void)worker;
    switch (cmd->merge) {
    case SP_REDIS_MERGE_FIRST:
        for (uint32_t f = 1; f < sp_msg_nfrags(msg); f++) {
            if (!sp_all_same_reply(msg->ext->frags[0], msg->ext->frags[f])) {
                sp_msg_reply_static(msg, "-ERR the pool's servers answered "
                                    "differently\r\n");
                return true;
            }
        }
        if (sp_msg_nfrags(msg) == 0
            || sp_seglist_slice(&msg->rsp, &msg->ext->frags[0]->rsp, 0,
                                sp_seglist_bytes(&msg->ext->frags[0]->rsp)) != 0) {
            sp_msg_reply_static(msg, sp_proto_redis.error_reply(ENOMEM));
        }
        msg->done = true;
        return true;
    case SP_REDIS_MERGE_AND:
        return sp_all_merge_and(msg);
    default:
        sp_msg_reply_static(msg, "-ERR cannot merge replies\r\n");
        return true;
    }
}

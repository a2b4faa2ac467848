/*
 * sp_redis_keyspace.c — commands about the whole keyspace of a pool, which
 * is the union of its servers' keyspaces:
 *
 *   SCAN cursor [MATCH p] [COUNT n] [TYPE t]
 *        the servers one after another, in the pool's order: the cursor
 *        names the server and that server's own cursor (encoded as
 *        sp_redis.h says), the request goes to that one server with its
 *        cursor, and the reply's cursor is made the proxy's again; when a
 *        server's walk ends the next one begins at 0, and the last one's
 *        end is the proxy's 0. Each server's walk keeps Redis's promise, so
 *        the whole does: a key present throughout is returned at least once.
 *   KEYS pattern
 *        every server, their arrays one after another (merge CONCAT).
 *   RANDOMKEY
 *        every server asked at once; the reply is the first key from a
 *        server drawn at random, going on through the others in the pool's
 *        order past an empty one; nil only when every server is empty
 *        (merge RANDOM).
 *
 * DBSIZE (summed), FLUSHDB and FLUSHALL are every-server rows too
 * (sp_redis_fanout_all.c), INFO's Keyspace section is summed
 * (sp_redis_info.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_array.h"
#include "sp_forward.h"
#include "sp_pool.h"
#include "sp_redis_proxy.h"
#include "sp_worker.h"

/* ---- the cursor --------------------------------------------------------------- */

bool
sp_redis_scan_cursor_decode(uint64_t cursor, uint32_t nservers,
                            uint32_t *server, uint64_t *server_cursor)
{
    if (nservers == 0) {
        return false;
    }
    *server = (uint32_t)(cursor % nservers);
    *server_cursor = cursor / nservers;
    return true;
}

bool
sp_redis_scan_cursor_next(uint32_t server, uint64_t server_next,
                          uint32_t nservers, uint64_t *cursor)
{
    if (server >= nservers) {
        return false;
    }
    if (server_next == 0) {
        /* that server's walk is over: the next one's begins, or the end */
        *cursor = server + 1 < nservers ? server + 1 : 0;
        return true;
    }
    if (server_next > (UINT64_MAX - server) / nservers) {
        return false;           /* does not fit: no server cursor is that big */
    }
    *cursor = server_next * nservers + server;
    return true;
}

/* An unsigned decimal as Redis reads a cursor (strtoull, all of it). */
static bool
sp_scan_parse_u64(const char *text, uint64_t *out)
{
    uint64_t v = 0;

    if (*text == '\0') {
        return false;
    }
    for (const char *c = text; *c != '\0'; c++) {
        if (*c < '0' || *c > '9' || v > (UINT64_MAX - (uint64_t)(*c - '0')) / 10) {
            return false;
        }
        v = v * 10 + (uint64_t)(*c - '0');
    }
    *out = v;
    return true;
}

int
sp_redis_scan(struct sp_conn *client, struct sp_msg *msg,
              const struct sp_redis_req_parser *p)
{
    struct sp_pool *pool = client->pool;
    struct sp_worker *worker = client->worker;
    struct sp_span argv[2];
    struct sp_redis_args args;
    char text[32], head[80];
    uint64_t cursor, server_cursor;
    uint32_t server;
    struct sp_msg *frag;
    int n;

    if (sp_redis_args_read(msg, argv, 2, &args) < 2) {
        return sp_reply_text(msg, "-ERR Protocol error: cannot read request"
                             "\r\n");
    }
    if (!sp_redis_arg_str(&args, 1, text, sizeof(text))
        || !sp_scan_parse_u64(text, &cursor)
        || !sp_redis_scan_cursor_decode(cursor, pool->nservers, &server,
                                        &server_cursor)) {
        return sp_msg_reply_static(msg, "-ERR invalid cursor\r\n");
    }
    /* a cluster pool walks its primaries: room no node takes, and the
     * replicas, are stepped over (from their start) */
    while (server_cursor == 0 && server < pool->nservers
           && !sp_forward_member(pool, &pool->servers[server])) {
        server++;
    }
    if (server >= pool->nservers) {
        return sp_reply_text(msg, "*2\r\n$1\r\n0\r\n*0\r\n");
    }
    /* one fragment: SCAN with the server's cursor, then the options as
     * the client sent them (a slice of its request) */
    n = snprintf(text, sizeof(text), "%" PRIu64, server_cursor);
    n = snprintf(head, sizeof(head), "*%" PRIu32 "\r\n$4\r\nSCAN\r\n$%d\r\n%s"
                 "\r\n", p->nargs, n, text);
    uint64_t rest = argv[1].offset + argv[1].len + 2;
    uint64_t bytes = sp_seglist_bytes(&msg->req);
    if (sp_msg_ext_take(worker, msg) == NULL
        || sp_array_grow((void **)&msg->ext->frags, &msg->ext->frags_cap, 1,
                         sizeof(*msg->ext->frags)) != 0
        || (frag = sp_msg_get(worker)) == NULL) {
        return sp_msg_reply_static(msg, pool->proto->error_reply(ENOMEM));
    }
    if (sp_msg_ext_take(worker, frag) == NULL) {
        sp_msg_put(worker, frag);
        return sp_msg_reply_static(msg, pool->proto->error_reply(ENOMEM));
    }
    frag->ext->parent = msg;
    sp_msg_set_pool(frag, pool);
    frag->cmd = msg->cmd;
    frag->server = server;
    frag->ext->nkeys = 2;       /* the reply's two elements are recorded */
    msg->ext->frags[0] = frag;
    msg->ext->nfrags = 1;
    sp_forward_split_begin(msg);
    if (sp_msg_gen_reserve(frag, (uint32_t)n) != 0
        || sp_msg_gen_push(frag, &frag->req, head, (uint32_t)n) != 0
        || (rest < bytes
            && sp_seglist_slice(&frag->req, &msg->req, rest,
                                bytes - rest) != 0)) {
        pool->stats->forward_error++;
        sp_msg_fail(msg, pool->proto->error_reply(ENOMEM));
    } else {
        sp_forward_fragments(pool, msg, 0);
    }
    sp_forward_split_end(worker, msg);
    return 0;
}

/* SCAN's reply: the server's, its cursor made the proxy's. */
static bool
sp_scan_merge(struct sp_msg *msg)
{
    struct sp_msg *frag = msg->ext->frags[0];
    const struct sp_msg_ext *fx = frag->ext;
    char digits[32], head[64];
    uint64_t next, cursor;
    const struct sp_span *c;
    size_t at, end;
    int n;

    if (!frag->rsp_array || fx->nelems != 2 || fx->elems[0].len < 5
        || fx->elems[0].len >= sizeof(digits)) {
        return sp_msg_reply_static(msg, "-ERR unexpected reply from a server "
                                   "to SCAN\r\n") == 0;
    }
    /* "$N\r\n<cursor>\r\n" */
    c = &fx->elems[0];
    sp_seglist_copy(&frag->rsp, c->offset, (uint8_t *)digits, c->len);
    digits[c->len] = '\0';
    at = (size_t)(strchr(digits, '\n') - digits) + 1;
    end = c->len - 2;
    digits[end] = '\0';
    if (digits[0] != '$' || at >= end
        || !sp_scan_parse_u64(digits + at, &next)
        || !sp_redis_scan_cursor_next(frag->server, next,
                                      sp_msg_pool(msg)->nservers,
                                      &cursor)) {
        return sp_msg_reply_static(msg, "-ERR a server's SCAN cursor does not "
                                   "fit the proxy's\r\n") == 0;
    }
    n = snprintf(digits, sizeof(digits), "%" PRIu64, cursor);
    n = snprintf(head, sizeof(head), "*2\r\n$%d\r\n%s\r\n", n, digits);
    if (sp_msg_gen_reserve(msg, (uint32_t)n) != 0
        || sp_msg_gen_push(msg, &msg->rsp, head, (uint32_t)n) != 0
        || sp_seglist_slice(&msg->rsp, &frag->rsp, fx->elems[1].offset,
                            fx->elems[1].len) != 0) {
        return sp_msg_reply_static(msg, sp_proto_redis.error_reply(ENOMEM))
               == 0;
    }
    msg->done = true;
    return true;
}

/* The length of an array reply's header ("*N\r\n"). */
static uint64_t
sp_array_head_len(int64_t n)
{
    char buf[32];

    return (uint64_t)snprintf(buf, sizeof(buf), "*%" PRId64 "\r\n", n);
}

/* KEYS: every server's array, one after another. */
static bool
sp_keys_merge(struct sp_msg *msg)
{
    int64_t total = 0;
    char head[32];
    int n;

    for (uint32_t f = 0; f < msg->ext->nfrags; f++) {
        if (!msg->ext->frags[f]->rsp_array) {
            return sp_msg_reply_static(msg, "-ERR unexpected reply from a "
                                       "server to KEYS\r\n") == 0;
        }
        total += msg->ext->frags[f]->ext->sum;
    }
    n = snprintf(head, sizeof(head), "*%" PRId64 "\r\n", total);
    if (sp_msg_gen_reserve(msg, (uint32_t)n) != 0
        || sp_msg_gen_push(msg, &msg->rsp, head, (uint32_t)n) != 0) {
        return sp_msg_reply_static(msg, sp_proto_redis.error_reply(ENOMEM))
               == 0;
    }
    for (uint32_t f = 0; f < msg->ext->nfrags; f++) {
        const struct sp_msg *frag = msg->ext->frags[f];
        uint64_t skip = sp_array_head_len(frag->ext->sum);

        if (frag->ext->sum > 0
            && sp_seglist_slice(&msg->rsp, &frag->rsp, skip,
                                sp_seglist_bytes(&frag->rsp) - skip) != 0) {
            sp_seglist_clear(&sp_msg_pool(msg)->worker->mbufs, &msg->rsp);
            return sp_msg_reply_static(msg, sp_proto_redis.error_reply(ENOMEM))
                   == 0;
        }
    }
    msg->done = true;
    return true;
}

/* A nil reply ($-1, or RESP3's _). */
static bool
sp_reply_is_nil(const struct sp_msg *frag)
{
    uint8_t b[3];

    if (sp_seglist_bytes(&frag->rsp) < 3) {
        return false;
    }
    sp_seglist_copy(&frag->rsp, 0, b, 3);
    return b[0] == '_' || (b[0] == '$' && b[1] == '-' && b[2] == '1');
}

/* RANDOMKEY: from a server drawn at random, past the empty ones. */
static bool
sp_randomkey_merge(struct sp_msg *msg)
{
    /* a draw from the clock and the request (splitmix64's finaliser): no
     * state of its own */
    uint64_t z = sp_event_now_us(sp_msg_pool(msg)->worker->loop)
                 ^ (uint64_t)(uintptr_t)msg;
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    z ^= z >> 31;

    uint32_t n = sp_msg_nfrags(msg);
    uint32_t start = n > 0 ? (uint32_t)(z % n) : 0;
    const struct sp_msg *pick = n > 0 ? msg->ext->frags[start] : NULL;

    for (uint32_t i = 0; i < n; i++) {
        const struct sp_msg *frag = msg->ext->frags[(start + i) % n];

        if (!sp_reply_is_nil(frag)) {
            pick = frag;
            break;
        }
    }
    if (pick == NULL
        || sp_seglist_slice(&msg->rsp, &pick->rsp, 0,
                            sp_seglist_bytes(&pick->rsp)) != 0) {
        return sp_msg_reply_static(msg, sp_proto_redis.error_reply(ENOMEM))
               == 0;
    }
    msg->done = true;
    return true;
}

bool
sp_redis_merge_keyspace(struct sp_msg *msg)
{
    const struct sp_redis_command *cmd = msg->cmd;

    if (cmd->local == SP_REDIS_LOCAL_SCAN) {
        return sp_scan_merge(msg);
    }
    if (cmd->merge == SP_REDIS_MERGE_CONCAT) {
        return sp_keys_merge(msg);
    }
    return sp_randomkey_merge(msg);
}

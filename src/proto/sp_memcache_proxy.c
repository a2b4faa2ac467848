/*
 * sp_memcache_proxy.c — what the proxy does with one parsed Memcached
 * request (ASCII and meta), and how replies are matched and merged.
 *
 *   unknown command       ─► ERROR, connection stays open
 *   bad line              ─► CLIENT_ERROR <reason>, stays open (the parser
 *                            has resynchronised at the next line)
 *   quit mn version stats verbosity
 *                         ─► answered by the proxy (sp_memcache_local.c)
 *   0x80 (binary magic)   ─► "Unknown command" in binary, then close
 *   set add replace append prepend cas delete incr decr touch, mg ms md ma me
 *                         ─► routed by key; `noreply` requests expect no reply
 *   get gets gat gats     ─► one key: forwarded as it came, the reply as
 *                            the server sent it (no fragment); more keys:
 *                            one fragment per server, the VALUE items merged
 *                            in key order, one END; a failed fragment fails
 *                            the request with its error
 *   flush_all             ─► the line as it came to every server; OK when
 *                            every one said OK, else the first error
 *
 * Meta commands with the q flag may get no reply at all; "mn\r\n" is sent
 * right after them, so the next reply is either theirs (then MN follows and
 * is dropped) or MN (they had nothing to say).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_array.h"
#include "sp_client.h"
#include "sp_client_parse.h"
#include "sp_conn.h"
#include "sp_forward.h"
#include "sp_memcache.h"
#include "sp_memcache_local.h"
#include "sp_pool.h"
#include "sp_proto.h"
#include "sp_server.h"
#include "sp_worker.h"

#define SP_MEMCACHE_PROXY_MAX_VALUE (64u * 1024 * 1024)
#define SP_MC_ITEMS_KEEP    256     /* VALUE item slots a server conn keeps */

static const char sp_mc_crlf[] = "\r\n";
static const char sp_mc_mn[] = "mn\r\n";

/* A server connection's reply state (sp_proto.h: server_size), inline at
 * the end of its struct sp_sconn. */
struct sp_mc_server {
    struct sp_memcache_reply_parser parser;
    struct sp_memcache_item *items;     /* VALUE items of a fragment's reply */
    uint32_t                 items_cap;
};

static const char *
sp_memcache_error_reply(int err)
{
    return sp_proto_error_text(err, false);
}

static void
sp_mc_fail(struct sp_pool *pool, struct sp_msg *msg, int err)
{
    pool->stats->forward_error++;
    sp_msg_reply_static(msg, sp_memcache_error_reply(err));
}

/* "<text>\r\n" as the reply. */
static int
sp_mc_reply_line(struct sp_msg *msg, const char *text)
{
    uint32_t len = (uint32_t)strlen(text);

    if (sp_msg_gen_reserve(msg, len + 2) != 0
        || sp_msg_gen_push(msg, &msg->rsp, text, len) != 0
        || sp_msg_gen_push(msg, &msg->rsp, sp_mc_crlf, 2) != 0) {
        return -1;
    }
    msg->done = true;
    return 0;
}

/* ---- forwarding ------------------------------------------------------------ */

static int
sp_mc_forward(struct sp_conn *client, struct sp_msg *msg,
              const struct sp_memcache_req_parser *p)
{
    const uint8_t *key = (const uint8_t *)"";
    size_t keylen = 0;

    if (p->nkeys > 0) {
        key = sp_conn_key(client, &p->keys[0]);
        keylen = p->keys[0].len;
        if (key == NULL) {
            sp_mc_fail(client->pool, msg, ENOMEM);
            return 0;
        }
    }
    msg->noreply = p->noreply;
    if (p->quiet && sp_msg_push(msg, &msg->req, NULL,
                                    (const uint8_t *)sp_mc_mn, 4) == 0) {
        msg->quiet = true;
    }
    sp_forward_to(client->pool, msg, sp_pool_route(client->pool, key, keylen));
    return 0;
}

/* ---- every server ---------------------------------------------------------- */

static int
sp_mc_broadcast(struct sp_conn *client, struct sp_msg *msg,
                const struct sp_memcache_req_parser *p)
{
    int err;

    msg->noreply = p->noreply;
    err = sp_forward_every_server(client->pool, msg);
    if (err != 0) {
        msg->noreply = false;
        sp_mc_fail(client->pool, msg, err);
    }
    return 0;
}

/* Every server answered: OK, or the first error; nothing for noreply. */
static void
sp_mc_broadcast_done(struct sp_msg *msg)
{
    if (!msg->noreply && !sp_forward_failed_part(msg)) {
        sp_msg_reply_static(msg, "OK\r\n");
    }
    msg->done = true;
}

/* ---- multi-get fan-out ---------------------------------------------------- */

/*
 * The keys of a whole get/gets/gat/gats request, read again from its bytes
 * by the request parser itself, so they are split exactly as the request
 * was parsed and as memcached splits them (a TAB or a CR is a key's byte, a
 * NUL ends the line's tokens). At most `cap` keys go to the worker's span
 * array (*keys), positions relative to the request; *arg1 is gat's
 * exptime. Returns the number of keys, or -1 (no memory, or bytes that are
 * not one sound request, which the first parse rules out).
 */
static int64_t
sp_mc_request_keys(struct sp_worker *worker, const struct sp_msg *msg,
                   uint32_t cap, struct sp_span **keys, struct sp_span *arg1)
{
    struct sp_memcache_req_parser p;
    sp_parse_status_t status = SP_PARSE_AGAIN;

    if (sp_array_grow((void **)&worker->args, &worker->args_cap, cap,
                      sizeof(*worker->args)) != 0) {
        return -1;
    }
    sp_memcache_req_init(&p, 0, worker->args, cap, 0);
    uint32_t nsegs;
    const struct sp_seg *segs = sp_seglist_view(&msg->req, &nsegs);
    for (uint32_t s = 0; s < nsegs && status == SP_PARSE_AGAIN; s++) {
        size_t used;

        status = sp_memcache_req_parse(&p, segs[s].data, segs[s].len, &used);
    }
    if (status != SP_PARSE_DONE || p.command == NULL || p.error != NULL
        || p.keys_truncated) {
        return -1;
    }
    *keys = worker->args;
    *arg1 = p.arg1;
    return p.nkeys;
}

/*
 * The keys the parse of the request recorded (all of them, into the
 * worker's array: sp_mc_keys_lend), made relative to the request in place,
 * as sp_mc_request_keys gives them. Returns their number.
 */
static int64_t
sp_mc_parsed_keys(const struct sp_memcache_req_parser *p,
                  struct sp_span **keys, struct sp_span *arg1)
{
    for (uint32_t k = 0; k < p->nkeys; k++) {
        p->keys[k].offset -= p->start;
    }
    *keys = p->keys;
    arg1->offset = p->arg1.offset - p->start;
    arg1->len = p->arg1.len;
    return p->nkeys;
}

static int
sp_mc_fanout(struct sp_conn *client, struct sp_msg *msg,
             const struct sp_memcache_req_parser *p)
{
    struct sp_pool *pool = client->pool;
    const struct sp_memcache_command *cmd = p->command;
    bool gat = cmd->syntax == SP_MEMCACHE_SYNTAX_GAT;
    struct sp_span *keys, exptime;
    int64_t n = !p->keys_truncated
                ? sp_mc_parsed_keys(p, &keys, &exptime)
                : sp_mc_request_keys(client->worker, msg, p->ntokens, &keys,
                                     &exptime);
    uint32_t nkeys = (uint32_t)n;

    if (n < 0) {
        sp_mc_fail(pool, msg, ENOMEM);
        return 0;
    }
    if (nkeys == 0) {
        return sp_mc_reply_line(msg, "END");    /* gat <exptime>, no key */
    }
    if (sp_msg_ext_take(client->worker, msg) == NULL) {
        sp_mc_fail(pool, msg, ENOMEM);
        return 0;
    }
    msg->ext->nkeys = nkeys;
    /* the keys kept for the merge, in the request's elems (a request's own
     * ext never holds reply elements: its fragments' do) */
    if (sp_array_grow((void **)&msg->ext->elems, &msg->ext->elems_cap, nkeys,
                      sizeof(*msg->ext->elems)) != 0) {
        sp_mc_fail(pool, msg, ENOMEM);
        return 0;
    }
    memcpy(msg->ext->elems, keys, nkeys * sizeof(*keys));
    msg->ext->nelems = nkeys;
    keys = msg->ext->elems;     /* the worker's array may move from here */
    int err = sp_forward_split(pool, msg, 0, keys, nkeys, 1);
    if (err != 0) {
        sp_mc_fail(pool, msg, err);
        return 0;
    }
    /*
     * "<cmd>", " <exptime>" for gat, then " <key>" per key, then CRLF. A
     * token's byte before it is a space (tokens are split at spaces, and a
     * NUL ends them), so " <key>" is a slice of the request, and the keys
     * of one fragment that were next to each other there stay one piece.
     */
    for (uint32_t f = 0; f < sp_msg_nfrags(msg); f++) {
        struct sp_msg *frag = msg->ext->frags[f];
        if (sp_msg_push(frag, &frag->req, NULL, (const uint8_t *)cmd->name,
                        (uint32_t)strlen(cmd->name)) != 0
            || (gat && sp_seglist_slice(&frag->req, &msg->req,
                                        exptime.offset - 1,
                                        exptime.len + 1) != 0)) {
            sp_mc_fail(pool, msg, ENOMEM);
            return 0;
        }
    }
    struct sp_seg_cursor cur = SP_SEG_CURSOR_INIT;
    for (uint32_t k = 0; k < nkeys; k++) {
        struct sp_msg *frag = msg->ext->frags[msg->ext->key_frag[k]];
        if (sp_seglist_slice_at(&frag->req, &msg->req, &cur,
                                keys[k].offset - 1, keys[k].len + 1) != 0) {
            sp_mc_fail(pool, msg, ENOMEM);
            return 0;
        }
    }
    for (uint32_t f = 0; f < sp_msg_nfrags(msg); f++) {
        if (sp_msg_push(msg->ext->frags[f], &msg->ext->frags[f]->req, NULL,
                            (const uint8_t *)sp_mc_crlf, 2) != 0) {
            sp_mc_fail(pool, msg, ENOMEM);
            return 0;
        }
    }
    sp_forward_fragments(pool, msg, 0);
    return 0;
}

/* Do the item's key and the request's key k have the same bytes? */
static bool
sp_mc_same_key(const struct sp_msg *msg, const struct sp_span *token,
               const struct sp_msg *frag, const struct sp_span *item_key)
{
    uint8_t a[SP_MEMCACHE_MAX_KEY], b[SP_MEMCACHE_MAX_KEY];
    const uint8_t *x, *y;

    if (token->len != item_key->len || token->len > sizeof(a)) {
        return false;
    }
    /* most keys lie in one piece of each: compared where they are */
    x = sp_seglist_contiguous(&msg->req, token->offset, token->len);
    y = sp_seglist_contiguous(&frag->rsp, item_key->offset, item_key->len);
    if (x == NULL) {
        sp_seglist_copy(&msg->req, token->offset, a, token->len);
        x = a;
    }
    if (y == NULL) {
        sp_seglist_copy(&frag->rsp, item_key->offset, b, item_key->len);
        y = b;
    }
    return memcmp(x, y, token->len) == 0;
}

static void
sp_mc_merge(struct sp_worker *worker, struct sp_msg *msg)
{
    const struct sp_span *keys = msg->ext->elems;   /* sp_mc_fanout's */
    uint32_t *next;

    if (sp_forward_failed_part(msg)) {
        return;
    }
    if (msg->ext->nelems != msg->ext->nkeys
        || (next = (uint32_t *)sp_worker_scratch(worker,
                        sp_msg_nfrags(msg) * sizeof(uint32_t))) == NULL) {
        sp_msg_reply_static(msg, sp_memcache_error_reply(ENOMEM));
        return;
    }
    memset(next, 0, sp_msg_nfrags(msg) * sizeof(uint32_t));
    for (uint32_t k = 0; k < msg->ext->nkeys; k++) {
        uint32_t f = msg->ext->key_frag[k];
        struct sp_msg *frag = msg->ext->frags[f];
        if (next[f] >= frag->ext->nelems) {
            continue;
        }
        /* elems: pairs of (item, key) per VALUE item, relative to rsp */
        const struct sp_span *item = &frag->ext->elems[2 * next[f]];
        const struct sp_span *item_key = &frag->ext->elems[2 * next[f] + 1];
        /* a fragment with an item per key (no miss) has them in key
         * order: no key to compare */
        if (frag->ext->nelems != frag->ext->nkeys
            && !sp_mc_same_key(msg, &keys[k], frag, item_key)) {
            continue;       /* a miss: memcached sends nothing for it */
        }
        next[f]++;
        if (sp_seglist_slice(&msg->rsp, &frag->rsp, item->offset,
                             item->len) != 0) {
            sp_seglist_clear(&worker->mbufs, &msg->rsp);
            sp_msg_reply_static(msg, sp_memcache_error_reply(ENOMEM));
            return;
        }
    }
    sp_msg_push(msg, &msg->rsp, NULL, (const uint8_t *)"END\r\n", 5);
    msg->done = true;
}

static bool
sp_memcache_complete(struct sp_worker *worker, struct sp_msg *msg)
{
    const struct sp_memcache_command *cmd = msg->cmd;

    if (sp_msg_nfrags(msg) > 0 && cmd->kind == SP_MEMCACHE_BROADCAST) {
        sp_mc_broadcast_done(msg);
    } else if (sp_msg_nfrags(msg) > 0) {
        sp_mc_merge(worker, msg);
    } else if (sp_msg_error(msg) != NULL) {
        sp_seglist_clear(&worker->mbufs, &msg->rsp);
        sp_msg_reply_static(msg, sp_msg_error(msg));
    }
    msg->done = true;
    return true;   /* a get line is short: never in steps */
}

/* ---- requests ------------------------------------------------------------------ */

static int
sp_memcache_request(struct sp_conn *client)
{
    const struct sp_memcache_req_parser *p =
        sp_client_parse_state(client->parse);
    struct sp_msg *msg = sp_client_request_begin(client, p->start, p->end);
    int rc = 0;

    if (msg == NULL) {
        return -1;
    }
    msg->cmd = p->command;

    if (p->command == NULL || p->error != NULL) {
        if (p->noreply) {
            msg->done = true;                   /* memcached is silent too */
        } else {
            rc = sp_mc_reply_line(msg, p->error != NULL
                                       ? p->error : SP_MEMCACHE_ERR_UNKNOWN);
        }
    } else if (p->command->kind == SP_MEMCACHE_LOCAL) {
        rc = sp_memcache_local(client, msg, p);
    } else if (p->command->kind == SP_MEMCACHE_FANOUT
               && (p->nkeys != 1 || p->keys_truncated)) {
        rc = sp_mc_fanout(client, msg, p);
    } else if (p->command->kind == SP_MEMCACHE_BROADCAST) {
        rc = sp_mc_broadcast(client, msg, p);
    } else {
        rc = sp_mc_forward(client, msg, p);
    }
    sp_client_request_end(client, msg, p->end);
    return rc;
}

static void
sp_memcache_parse_init(struct sp_client_parse *ps, uint64_t offset)
{
    sp_memcache_req_init(sp_client_parse_state(ps), offset, ps->keys,
                         SP_CLIENT_PARSE_KEYS, SP_MEMCACHE_PROXY_MAX_VALUE);
}

static bool
sp_memcache_parse_idle(const struct sp_client_parse *ps)
{
    return sp_memcache_req_idle((const void *)ps->state);
}

/*
 * The key positions a request's parse records. The client's parse state
 * holds SP_CLIENT_PARSE_KEYS (enough to route a request by its key); a
 * get of more keys would then be parsed a second time for all of them
 * (sp_mc_request_keys). So a request that starts in this read records its
 * keys in the worker's array, up to SP_MC_KEYS_LENT, and one that does not
 * end in it keeps what fits in its own before the read returns (the
 * worker's array serves every client): a get that spans reads, or has
 * more keys, is parsed again as before.
 */
#define SP_MC_KEYS_LENT     128

static void
sp_mc_keys_lend(struct sp_conn *client, struct sp_memcache_req_parser *p)
{
    struct sp_worker *worker = client->worker;

    if (sp_memcache_req_idle(p)
        && sp_array_grow((void **)&worker->args, &worker->args_cap,
                         SP_MC_KEYS_LENT, sizeof(*worker->args)) == 0) {
        p->keys = worker->args;
        p->keys_cap = SP_MC_KEYS_LENT;
    }
}

/* The parser back on its own array; `keep`: copy what fits of the keys of
 * the request it is in the middle of (right after the parse that lent it
 * the worker's array: nothing has moved that array since). */
static void
sp_mc_keys_return(struct sp_conn *client, struct sp_memcache_req_parser *p,
                  bool keep)
{
    struct sp_span *own = client->parse->keys;

    if (p->keys != own) {
        uint32_t n = p->nkeys < SP_CLIENT_PARSE_KEYS ? p->nkeys
                                                     : SP_CLIENT_PARSE_KEYS;
        if (keep) {
            memcpy(own, p->keys, n * sizeof(*own));
        }
        p->keys = own;
        p->keys_cap = SP_CLIENT_PARSE_KEYS;
    }
}

static int
sp_memcache_client_read(struct sp_conn *client,
                        struct sp_memcache_req_parser *p,
                        const uint8_t *data, size_t len)
{
    while (len > 0) {
        size_t consumed = 0;
        sp_parse_status_t status;

        sp_mc_keys_lend(client, p);
        status = sp_memcache_req_parse(p, data, len, &consumed);
        if (status == SP_PARSE_AGAIN) {
            sp_mc_keys_return(client, p, true);     /* the read ends here */
        }
        if (status == SP_PARSE_ERROR && p->binary) {
            return sp_memcache_refuse_binary(client, data + consumed,
                                             len - consumed);
        }
        if (status == SP_PARSE_ERROR) {
            char text[160];
            const char *why = p->error;
            int n = snprintf(text, sizeof(text), "%s\r\n",
                             why != NULL ? why : SP_MEMCACHE_ERR_FORMAT);
            if (n < 0 || (size_t)n >= sizeof(text)) {
                n = (int)strlen(strcpy(text, "CLIENT_ERROR bad request\r\n"));
            }
            return sp_client_fail(client, text, (size_t)n);
        }
        data += consumed;
        len -= consumed;
        if (status == SP_PARSE_DONE) {
            if (sp_memcache_request(client) != 0) {
                client->closing = true;
                return -1;
            }
            if (client->closing) {
                return -1;      /* quit */
            }
        }
    }
    return 0;
}

static int
sp_memcache_client_data(struct sp_conn *client, const uint8_t *data,
                        size_t len)
{
    struct sp_memcache_req_parser *p = sp_client_parse_state(client->parse);
    int rc = sp_memcache_client_read(client, p, data, len);

    /* after a whole request: its keys were used, and the worker's array
     * may have moved since (sp_mc_request_keys) */
    sp_mc_keys_return(client, p, false);
    return rc;
}

static int
sp_memcache_server_init(struct sp_conn *server)
{
    (void)server;
    return 0;
}

/* ---- replies ---------------------------------------------------------------------- */

static int
sp_mc_reply_start(struct sp_conn *conn, uint64_t offset)
{
    struct sp_sconn *sc = sp_sconn(conn);
    struct sp_mc_server *ms = sp_sconn_state(conn);
    struct sp_msg *head = SP_MSGQ_FIRST(&sc->inflight);
    uint32_t items = head != NULL && sp_msg_parent(head) != NULL
                     ? head->ext->nkeys : 0;

    if (head == NULL) {
        return -1;          /* bytes nobody asked for */
    }
    if (ms->items_cap > SP_MC_ITEMS_KEEP && items <= SP_MC_ITEMS_KEEP) {
        free(ms->items);    /* grown for one wide get: not for good */
        ms->items = NULL;
        ms->items_cap = 0;
    }
    if (sp_array_grow((void **)&ms->items, &ms->items_cap, items,
                   sizeof(*ms->items)) != 0) {
        return -1;
    }
    sp_memcache_reply_init(&ms->parser, offset, ms->items, items);
    sp_memcache_reply_expect(&ms->parser, head->mn_pending
                             ? sp_memcache_command_lookup("mn", 2)
                             : head->cmd);
    sc->rsp_fresh = false;
    return 0;
}

static int
sp_mc_reply(struct sp_conn *conn)
{
    struct sp_sconn *sc = sp_sconn(conn);
    struct sp_memcache_reply_parser *p = &((struct sp_mc_server *)
                                           sp_sconn_state(conn))->parser;
    struct sp_msg *head = SP_MSGQ_FIRST(&sc->inflight);
    struct sp_msg *msg;

    sc->rsp_fresh = true;
    if (head == NULL) {
        return -1;
    }
    if (head->quiet && !head->mn_pending && p->type != SP_MEMCACHE_REPLY_MN) {
        /* the quiet command's own reply: keep it, its MN comes next */
        if (sp_seglist_from_chain(&head->rsp, &conn->in, conn->in_base,
                                  p->start, p->end) != 0) {
            return -1;
        }
        sp_conn_consume(conn, p->end);
        head->mn_pending = true;
        return 0;
    }
    if (head->quiet) {
        /* MN: drop its bytes, keep what came before */
        struct sp_seglist saved = head->rsp;
        memset(&head->rsp, 0, sizeof(head->rsp));
        msg = sp_server_reply_take(conn, p->start, p->end);
        if (msg == NULL) {
            head->rsp = saved;
            return -1;
        }
        sp_seglist_free(&conn->worker->mbufs, &msg->rsp);
        msg->rsp = saved;
    } else {
        msg = sp_server_reply_take(conn, p->start, p->end);
        if (msg == NULL) {
            return -1;
        }
    }
    if (sp_msg_parent(msg) != NULL) {          /* it has its ext */
        const struct sp_memcache_command *cmd = msg->cmd;
        bool ok = p->type == (cmd->kind == SP_MEMCACHE_BROADCAST
                              ? SP_MEMCACHE_REPLY_OK : SP_MEMCACHE_REPLY_END);
        msg->rsp_error = !ok;
        msg->ext->nelems = 0;
        if (ok && p->nitems > 0) {
            if (sp_array_grow((void **)&msg->ext->elems, &msg->ext->elems_cap,
                           2 * p->nitems, sizeof(*msg->ext->elems)) != 0) {
                sp_msg_fail(msg, sp_memcache_error_reply(ENOMEM));
            } else {
                for (uint32_t i = 0; i < p->nitems; i++) {
                    struct sp_span *e = &msg->ext->elems[2 * i];
                    e[0].offset = p->items[i].offset - p->start;
                    e[0].len = p->items[i].len;
                    e[1].offset = p->items[i].key_offset - p->start;
                    e[1].len = p->items[i].key_len;
                }
                msg->ext->nelems = p->nitems;
            }
        }
    }
    sp_msg_part_done(conn->worker, msg);
    return 0;
}

static sp_parse_status_t
sp_mc_reply_feed(struct sp_conn *conn, const uint8_t *data, size_t len,
                 size_t *consumed)
{
    struct sp_mc_server *ms = sp_sconn_state(conn);

    return sp_memcache_reply_parse(&ms->parser, data, len, consumed);
}

static const char *
sp_mc_reply_error(struct sp_conn *conn)
{
    struct sp_mc_server *ms = sp_sconn_state(conn);

    return ms->parser.error;
}

static const struct sp_reply_stream sp_mc_replies = {
    .start = sp_mc_reply_start,
    .parse = sp_mc_reply_feed,
    .error = sp_mc_reply_error,
    .done = sp_mc_reply,
};

static int
sp_memcache_server_data(struct sp_conn *conn, const uint8_t *data, size_t len)
{
    return sp_server_feed(conn, data, len, &sp_mc_replies);
}

static void
sp_memcache_server_free(struct sp_conn *conn)
{
    struct sp_mc_server *ms = sp_sconn_state(conn);

    free(ms->items);
}

static const char *
sp_memcache_command_name(const struct sp_msg *msg, int *first_key)
{
    const struct sp_memcache_command *cmd = msg->cmd;

    /* flush_all's delay, verbosity's level, ... are no keys */
    *first_key = cmd != NULL && (cmd->kind == SP_MEMCACHE_FORWARD
                                 || cmd->kind == SP_MEMCACHE_FANOUT);
    return cmd != NULL ? cmd->name : "?";
}

const struct sp_proto sp_proto_memcache = {
    .name = "memcache",
    .parse_size = sizeof(struct sp_memcache_req_parser),
    .server_size = sizeof(struct sp_mc_server),
    .parse_init = sp_memcache_parse_init,
    .parse_idle = sp_memcache_parse_idle,
    .client_data = sp_memcache_client_data,
    .server_init = sp_memcache_server_init,
    .server_free = sp_memcache_server_free,
    .command_name = sp_memcache_command_name,
    .server_data = sp_memcache_server_data,
    .complete = sp_memcache_complete,
    .step = NULL,
    .error_reply = sp_memcache_error_reply,
};

/*
 * sp_forward.c — requests and fragments to servers (see sp_forward.h).
 */
#include "sp_forward.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sp_array.h"
#include "sp_server.h"
#include "sp_worker.h"

/* The server connection set msg's client uses (its protocol's variant). */
static uint8_t
sp_forward_variant(const struct sp_msg *msg)
{
    const struct sp_msg *parent = sp_msg_parent(msg);
    const struct sp_msg *top = parent != NULL ? parent : msg;

    const struct sp_conn *client = sp_msg_client(top);

    return client != NULL ? client->variant : 0;
}

void
sp_forward_to(struct sp_pool *pool, struct sp_msg *msg,
              struct sp_server *server)
{
    struct sp_conn *sconn = server != NULL
                            ? sp_server_conn(server, sp_forward_variant(msg))
                            : NULL;

    if (sconn == NULL) {
        int err = server != NULL ? errno : EHOSTUNREACH;

        if (server != NULL) {
            server->stats->server_err++;
            sp_server_failed(server);
        }
        pool->stats->forward_error++;
        if (sp_msg_parent(msg) != NULL) {
            sp_msg_fail(msg, pool->proto->error_reply(err));
            sp_msg_part_done(pool->worker, msg);
        } else {
            sp_msg_reply_static(msg, pool->proto->error_reply(err));
        }
        return;
    }
    if (sp_msg_parent(msg) == NULL) {
        msg->pending = 1;
    }
    sp_server_enqueue(sconn, msg);      /* msg->server: set when answered */
}

void
sp_forward_on(struct sp_conn *sconn, struct sp_msg *msg)
{
    if (sp_msg_parent(msg) == NULL) {
        msg->pending = 1;
    }
    sp_server_enqueue(sconn, msg);
}

struct sp_conn *
sp_forward_conn(struct sp_pool *pool, const struct sp_msg *msg,
                struct sp_server *server)
{
    struct sp_conn *sconn = sp_server_conn(server, sp_forward_variant(msg));

    if (sconn == NULL) {
        server->stats->server_err++;
        sp_server_failed(server);
        pool->stats->forward_error++;
    }
    return sconn;
}

/* sp_forward_route from a cursor over the request (keys at rising offsets). */
static struct sp_server *
sp_forward_route_at(struct sp_pool *pool, const struct sp_msg *msg,
                    struct sp_seg_cursor *cur, const struct sp_span *key)
{
    const uint8_t *bytes = sp_seglist_contiguous_at(&msg->req, cur,
                                                    key->offset, key->len);
    uint8_t keybuf[512], *heap = NULL;
    struct sp_server *server;

    if (bytes == NULL) {
        if (key->len > sizeof(keybuf)) {
            heap = malloc(key->len);
            if (heap == NULL) {
                errno = ENOMEM;
                return NULL;
            }
        }
        uint8_t *copy = heap != NULL ? heap : keybuf;
        sp_seglist_copy_at(&msg->req, cur, key->offset, copy, key->len);
        bytes = copy;
    }
    server = sp_pool_route(pool, bytes, key->len);
    free(heap);
    if (server == NULL) {
        errno = EHOSTUNREACH;
    }
    return server;
}

struct sp_server *
sp_forward_route(struct sp_pool *pool, const struct sp_msg *msg,
                 const struct sp_span *key)
{
    struct sp_seg_cursor cur = SP_SEG_CURSOR_INIT;

    return sp_forward_route_at(pool, msg, &cur, key);
}

int
sp_forward_split(struct sp_pool *pool, struct sp_msg *msg, uint32_t first,
                 const struct sp_span *keys, uint32_t n, uint32_t stride)
{
    struct sp_worker *worker = pool->worker;
    struct sp_seg_cursor cur = SP_SEG_CURSOR_INIT;
    int32_t *frag_of_server;

    if (sp_msg_ext_take(worker, msg) == NULL
        || sp_array_grow((void **)&msg->ext->key_frag, &msg->ext->keys_cap,
                         msg->ext->nkeys, sizeof(*msg->ext->key_frag)) != 0) {
        return ENOMEM;
    }
    frag_of_server = (int32_t *)sp_worker_scratch(worker,
                        pool->nservers * sizeof(int32_t));
    if (frag_of_server == NULL) {
        return ENOMEM;
    }
    for (uint32_t s = 0; s < pool->nservers; s++) {
        frag_of_server[s] = -1;
    }

    /* group keys by server: one fragment each, in order of first use */
    for (uint32_t k = 0; k < n; k++) {
        struct sp_server *server = sp_forward_route_at(pool, msg, &cur,
                                                       &keys[k * stride]);
        if (server == NULL) {
            return errno;
        }
        int32_t f = frag_of_server[server->index];
        if (f < 0) {
            struct sp_msg *frag;
            if (sp_array_grow((void **)&msg->ext->frags,
                              &msg->ext->frags_cap, msg->ext->nfrags + 1,
                              sizeof(*msg->ext->frags)) != 0
                || (frag = sp_msg_get(worker)) == NULL) {
                return ENOMEM;
            }
            if (sp_msg_ext_take(worker, frag) == NULL) {
                sp_msg_put(worker, frag);
                return ENOMEM;
            }
            frag->ext->parent = msg;
            sp_msg_set_pool(frag, pool);
            frag->cmd = msg->cmd;
            frag->server = server->index;
            f = (int32_t)msg->ext->nfrags;
            msg->ext->frags[msg->ext->nfrags++] = frag;
            frag_of_server[server->index] = f;
        }
        msg->ext->frags[f]->ext->nkeys++;
        msg->ext->key_frag[first + k] = (uint32_t)f;
    }
    return 0;
}

int
sp_forward_every(struct sp_pool *pool, struct sp_msg *msg, uint32_t nelems)
{
    if (sp_msg_ext_take(pool->worker, msg) == NULL
        || sp_array_grow((void **)&msg->ext->frags, &msg->ext->frags_cap,
                         msg->ext->nfrags + pool->nservers,
                         sizeof(*msg->ext->frags)) != 0) {
        return ENOMEM;
    }
    for (uint32_t s = 0; s < pool->nservers; s++) {
        struct sp_msg *frag = sp_msg_get(pool->worker);

        if (frag == NULL) {
            return ENOMEM;
        }
        if (sp_msg_ext_take(pool->worker, frag) == NULL) {
            sp_msg_put(pool->worker, frag);
            return ENOMEM;
        }
        frag->ext->parent = msg;
        sp_msg_set_pool(frag, pool);
        frag->cmd = msg->cmd;
        frag->server = pool->servers[s].index;
        frag->ext->nkeys = nelems;
        msg->ext->frags[msg->ext->nfrags++] = frag;
    }
    return 0;
}

void
sp_forward_split_begin(struct sp_msg *msg)
{
    msg->pending = 1;
}

void
sp_forward_split_end(struct sp_worker *worker, struct sp_msg *msg)
{
    sp_msg_part_done(worker, msg);
}

int
sp_forward_every_server(struct sp_pool *pool, struct sp_msg *msg)
{
    uint32_t first = sp_msg_nfrags(msg);

    if (sp_forward_every(pool, msg, 0) != 0) {
        goto fail;
    }
    for (uint32_t f = first; f < msg->ext->nfrags; f++) {
        struct sp_msg *frag = msg->ext->frags[f];

        if (sp_seglist_slice(&frag->req, &msg->req, 0,
                             sp_seglist_bytes(&msg->req)) != 0) {
            goto fail;
        }
        frag->noreply = msg->noreply;
    }
    sp_forward_fragments(pool, msg, first);
    return 0;

fail:
    for (uint32_t f = first; f < sp_msg_nfrags(msg); f++) {
        sp_msg_put(pool->worker, msg->ext->frags[f]);
    }
    if (msg->ext != NULL) {
        msg->ext->nfrags = first;
    }
    return ENOMEM;
}

void
sp_forward_fragments(struct sp_pool *pool, struct sp_msg *msg, uint32_t first)
{
    uint32_t nfrags = msg->ext->nfrags;

    pool->stats->fragments += nfrags - first;
    msg->pending += nfrags - first;
    /* a fragment may fail (and complete msg) at once: count first */
    for (uint32_t f = first; f < nfrags; f++) {
        struct sp_msg *frag = msg->ext->frags[f];
        sp_forward_to(pool, frag, &pool->servers[frag->server]);
    }
}

bool
sp_forward_failed_part(struct sp_msg *msg)
{
    for (uint32_t f = 0; f < sp_msg_nfrags(msg); f++) {
        struct sp_msg *frag = msg->ext->frags[f];

        if (sp_msg_error(frag) != NULL) {
            sp_msg_reply_static(msg, sp_msg_error(frag));
            return true;
        }
        if (frag->rsp_error) {
            sp_seglist_slice(&msg->rsp, &frag->rsp, 0,
                             sp_seglist_bytes(&frag->rsp));
            msg->done = true;
            return true;
        }
    }
    return false;
}

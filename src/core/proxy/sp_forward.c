/*
 * sp_forward.c — requests and fragments to servers (see sp_forward.h).
 */
#include "sp_forward.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sp_array.h"
#include "sp_cluster_view.h"
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

bool
sp_forward_try(struct sp_pool *pool, struct sp_msg *msg,
               struct sp_server *server)
{
    struct sp_conn *sconn = sp_server_conn(server, sp_forward_variant(msg));

    (void)pool;
    if (sconn == NULL) {
        server->stats->server_err++;
        sp_server_failed(server);
        return false;
    }
    if (sp_msg_parent(msg) == NULL) {
        msg->pending = 1;
    }
    sp_server_enqueue(sconn, msg);
    return true;
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

/* sp_forward_route from a cursor over the request (keys at rising offsets);
 * slot (may be NULL) gets the key's cluster slot. */
static struct sp_server *
sp_forward_route_at(struct sp_pool *pool, const struct sp_msg *msg,
                    struct sp_seg_cursor *cur, const struct sp_span *key,
                    uint16_t *slot)
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
    if (slot != NULL) {
        *slot = sp_cluster_slot(bytes, key->len);
    }
    server = sp_pool_route(pool, bytes, key->len);
    if (heap != NULL) {
        free(heap);     /* free(NULL) is ~40 instructions in jemalloc */
    }
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

    return sp_forward_route_at(pool, msg, &cur, key, NULL);
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
    uint16_t *slots_used = NULL;
    uint32_t nused = 0;

    if (pool->cluster != NULL) {
        frag_of_server = NULL;      /* by slot: the view's array, and the
                                       slots taken, to reset it after */
        slots_used = (uint16_t *)sp_worker_scratch(worker,
                                                   (n + 1) * sizeof(uint16_t));
        if (slots_used == NULL) {
            return ENOMEM;
        }
    } else {
        frag_of_server = (int32_t *)sp_worker_scratch(worker,
                            pool->nservers * sizeof(int32_t));
        if (frag_of_server == NULL) {
            return ENOMEM;
        }
        for (uint32_t s = 0; s < pool->nservers; s++) {
            frag_of_server[s] = -1;
        }
    }
    int rc = 0;

    /* group keys by server (a cluster: by slot): one fragment each, in
     * order of first use */
    for (uint32_t k = 0; k < n; k++) {
        struct sp_server *server;
        int32_t *group;
        uint16_t slot = 0;

        /* a cluster pool's fragments go by slot, not by node: a node
         * refuses keys of two slots in one command (-CROSSSLOT) */
        server = sp_forward_route_at(pool, msg, &cur, &keys[k * stride],
                                     pool->cluster != NULL ? &slot : NULL);
        group = pool->cluster != NULL ? &pool->cluster->frag_of_slot[slot]
                : server != NULL ? &frag_of_server[server->index] : NULL;
        if (server == NULL) {
            rc = errno;
            break;
        }
        int32_t f = *group;
        if (f < 0) {
            struct sp_msg *frag;
            if (sp_array_grow((void **)&msg->ext->frags,
                              &msg->ext->frags_cap, msg->ext->nfrags + 1,
                              sizeof(*msg->ext->frags)) != 0
                || (frag = sp_msg_get(worker)) == NULL) {
                rc = ENOMEM;
                break;
            }
            if (sp_msg_ext_take(worker, frag) == NULL) {
                sp_msg_put(worker, frag);
                rc = ENOMEM;
                break;
            }
            frag->ext->parent = msg;
            sp_msg_set_pool(frag, pool);
            frag->cmd = msg->cmd;
            frag->server = server->index;
            f = (int32_t)msg->ext->nfrags;
            msg->ext->frags[msg->ext->nfrags++] = frag;
            *group = f;
            if (slots_used != NULL) {
                slots_used[nused++] = slot;
            }
        }
        msg->ext->frags[f]->ext->nkeys++;
        msg->ext->key_frag[first + k] = (uint32_t)f;
    }
    for (uint32_t i = 0; i < nused; i++) {
        pool->cluster->frag_of_slot[slots_used[i]] = -1;   /* for the next */
    }
    return rc;
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
        if (!sp_forward_member(pool, &pool->servers[s])) {
            continue;           /* a cluster's replicas and empty room */
        }
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

struct sp_server *
sp_forward_route_slot(struct sp_pool *pool, const struct sp_msg *msg,
                      const struct sp_span *key, uint16_t *slot)
{
    struct sp_seg_cursor cur = SP_SEG_CURSOR_INIT;

    return sp_forward_route_at(pool, msg, &cur, key, slot);
}

void
sp_forward_again(struct sp_pool *pool, struct sp_msg *msg,
                 struct sp_server *server, const void *pre, uint32_t len)
{
    struct sp_conn *sconn;

    sp_seglist_clear(&pool->worker->mbufs, &msg->rsp);
    msg->done = false;
    msg->rsp_error = false;
    msg->rsp_array = false;
    sconn = server != NULL ? sp_forward_conn(pool, msg, server) : NULL;
    if (sconn == NULL) {
        if (server == NULL) {
            pool->stats->forward_error++;
        }
        sp_msg_fail(msg, pool->proto->error_reply(server != NULL ? errno
                                                                 : EHOSTUNREACH));
        sp_msg_part_done(pool->worker, msg);
        return;
    }
    if (pre != NULL && sp_server_internal(sconn, pre, len) != 0) {
        sp_msg_fail(msg, pool->proto->error_reply(ENOMEM));
        sp_msg_part_done(pool->worker, msg);
        return;
    }
    sp_server_enqueue(sconn, msg);      /* msg->server: set when answered */
}

bool
sp_forward_member(struct sp_pool *pool, const struct sp_server *server)
{
    if (pool->cluster == NULL) {
        return true;
    }
    sp_cluster_view_sync(pool);
    return pool->cluster->roles[server->index].role == SP_SHARED_NODE_PRIMARY
           && pool->cluster->roles[server->index].failed == 0;
}

void
sp_forward_fragments(struct sp_pool *pool, struct sp_msg *msg, uint32_t first)
{
    sp_forward_fragments_by(pool, msg, first, sp_forward_to);
}

void
sp_forward_fragments_by(struct sp_pool *pool, struct sp_msg *msg,
                        uint32_t first, sp_forward_fn send)
{
    uint32_t nfrags = msg->ext->nfrags;

    pool->stats->fragments += nfrags - first;
    msg->pending += nfrags - first;
    /* a fragment may fail (and complete msg) at once: count first */
    for (uint32_t f = first; f < nfrags; f++) {
        struct sp_msg *frag = msg->ext->frags[f];
        send(pool, frag, &pool->servers[frag->server]);
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

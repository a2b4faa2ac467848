/*
 * sp_msg.c — message objects and their free list (see sp_msg.h).
 */
#include "sp_msg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sp_conn.h"
#include "sp_pool.h"
#include "sp_proto.h"
#include "sp_shared.h"
#include "sp_worker.h"

struct sp_msg *
sp_msg_get(struct sp_worker *worker)
{
    struct sp_msg *msg = worker->free_msgs;

    if (msg != NULL) {
        worker->free_msgs = msg->clink;
        worker->nfree_msgs--;
        sp_trim_note(&worker->msgs_trim, worker->nfree_msgs);
    } else {
        msg = calloc(1, sizeof(*msg));
        if (msg == NULL) {
            return NULL;
        }
        worker->msg_nalloc++;
        worker->slot->messages_allocated = (int64_t)worker->msg_nalloc;
    }
    msg->clink = NULL;
    worker->nused_msgs++;
    return msg;
}

/*
 * A recycled message keeps its arrays for the next request, up to this many
 * bytes each: one that held a million-key MGET must not keep megabytes on
 * the free list for as long as it lives.
 */
#define SP_MSG_ARRAY_KEEP   4096

static void
sp_msg_array_shrink(void **array, uint32_t *cap, size_t size)
{
    if ((size_t)*cap * size > SP_MSG_ARRAY_KEEP) {
        free(*array);
        *array = NULL;
        *cap = 0;
    }
}

struct sp_msg_ext *
sp_msg_ext_take(struct sp_worker *worker, struct sp_msg *msg)
{
    struct sp_msg_ext *ext = msg->ext;

    if (ext != NULL) {
        return ext;
    }
    ext = worker->free_exts;
    if (ext != NULL) {
        worker->free_exts = ext->free_next;
        worker->nfree_exts--;
        sp_trim_note(&worker->exts_trim, worker->nfree_exts);
        ext->free_next = NULL;
        ext->defer_next = NULL;
    } else {
        ext = calloc(1, sizeof(*ext));
        if (ext == NULL) {
            return NULL;
        }
        ext->again_slot = -1;
    }
    msg->ext = ext;
    return ext;
}

/* Back to the free list, keeping its arrays if they are small. */
static void
sp_msg_ext_put(struct sp_worker *worker, struct sp_msg_ext *ext)
{
    sp_msg_array_shrink((void **)&ext->frags, &ext->frags_cap,
                        sizeof(*ext->frags));
    sp_msg_array_shrink((void **)&ext->key_frag, &ext->keys_cap,
                        sizeof(*ext->key_frag));
    sp_msg_array_shrink((void **)&ext->elems, &ext->elems_cap,
                        sizeof(*ext->elems));
    sp_msg_array_shrink((void **)&ext->gen, &ext->gen_cap, 1);
    ext->error = NULL;
    ext->parent = NULL;
    ext->gen_len = 0;
    ext->nfrags = 0;
    ext->nkeys = 0;
    ext->sum = 0;
    ext->step_key = 0;
    ext->step_off = 0;
    ext->nelems = 0;
    ext->redirects = 0;
    ext->waits = 0;
    ext->again_slot = -1;
    ext->again_ms = 0;
    ext->give_up_ms = 0;
    ext->map_version = 0;
    ext->free_next = worker->free_exts;
    worker->free_exts = ext;
    worker->nfree_exts++;
}

static void
sp_msg_ext_destroy(struct sp_msg_ext *ext)
{
    free(ext->gen);
    free(ext->frags);
    free(ext->key_frag);
    free(ext->elems);
    free(ext);
}

/* Reset a message for reuse, keeping its arrays if they are small. */
static void
sp_msg_reset(struct sp_worker *worker, struct sp_msg *msg)
{
    sp_seglist_clear(&worker->mbufs, &msg->req);    /* arrays: to the */
    sp_seglist_clear(&worker->mbufs, &msg->rsp);    /* buffers' cache */
    if (msg->ext != NULL) {
        sp_msg_ext_put(worker, msg->ext);
        msg->ext = NULL;
    }
    msg->owner.pool = NULL;
    msg->cmd = NULL;
    msg->rtt_us = msg->server = 0;         /* (slink: NULL) */
    msg->pending = 0;
    msg->send_seg = msg->send_off = 0;     /* and the other progress words */
    msg->recv_us = 0;
    msg->by_client = false;
    msg->done = msg->quit = msg->internal = msg->in_flight = false;
    msg->rsp_error = msg->rsp_array = false;
    msg->noreply = msg->quiet = msg->mn_pending = false;
    msg->rsp_counted = false;
    msg->deferred = msg->holds = msg->silent = false;
    msg->timed = msg->nomem = false;
    msg->step_phase = 0;
}

void
sp_msg_put(struct sp_worker *worker, struct sp_msg *msg)
{
    for (uint32_t i = 0; i < sp_msg_nfrags(msg); i++) {
        sp_msg_put(worker, msg->ext->frags[i]);
    }
    sp_msg_reset(worker, msg);
    msg->clink = worker->free_msgs;
    worker->free_msgs = msg;
    worker->nfree_msgs++;
    worker->nused_msgs--;
}

static void
sp_msg_destroy(struct sp_worker *worker, struct sp_msg *msg)
{
    sp_seglist_free(&worker->mbufs, &msg->req);
    sp_seglist_free(&worker->mbufs, &msg->rsp);
    free(msg);
}

void
sp_msg_trim(struct sp_worker *worker, uint32_t keep)
{
    uint32_t excess = sp_trim_period_end(&worker->msgs_trim, worker->nfree_msgs,
                                         keep);

    for (uint32_t i = 0; i < excess; i++) {
        struct sp_msg *msg = worker->free_msgs;
        worker->free_msgs = msg->clink;
        sp_msg_destroy(worker, msg);
    }
    worker->nfree_msgs -= excess;

    excess = sp_trim_period_end(&worker->exts_trim, worker->nfree_exts, keep);
    for (uint32_t i = 0; i < excess; i++) {
        struct sp_msg_ext *ext = worker->free_exts;
        worker->free_exts = ext->free_next;
        sp_msg_ext_destroy(ext);
    }
    worker->nfree_exts -= excess;
}

void
sp_msg_free_all(struct sp_worker *worker)
{
    while (worker->free_msgs != NULL) {
        struct sp_msg *msg = worker->free_msgs;
        worker->free_msgs = msg->clink;
        sp_msg_destroy(worker, msg);
    }
    worker->nfree_msgs = 0;
    sp_trim_init(&worker->msgs_trim, 0);
    while (worker->free_exts != NULL) {
        struct sp_msg_ext *ext = worker->free_exts;
        worker->free_exts = ext->free_next;
        sp_msg_ext_destroy(ext);
    }
    worker->nfree_exts = 0;
    sp_trim_init(&worker->exts_trim, 0);
}

int
sp_msg_gen_reserve(struct sp_msg *msg, uint32_t n)
{
    struct sp_msg_ext *ext = sp_msg_ext_take(sp_msg_pool(msg)->worker, msg);

    if (ext == NULL) {
        return -1;
    }
    if (ext->gen_cap - ext->gen_len >= n) {
        return 0;
    }
    uint32_t cap = ext->gen_cap == 0 ? 64 : ext->gen_cap;
    while (cap - ext->gen_len < n) {
        cap *= 2;
    }
    uint8_t *gen = realloc(ext->gen, cap);
    if (gen == NULL) {
        return -1;
    }
    ext->gen = gen;
    ext->gen_cap = cap;
    return 0;
}

int
sp_msg_gen_push(struct sp_msg *msg, struct sp_seglist *list, const void *text,
                uint32_t len)
{
    struct sp_msg_ext *ext = msg->ext;
    uint8_t *at;

    /* callers reserve first: pointers into gen must stay valid */
    if (ext == NULL || ext->gen_cap - ext->gen_len < len) {
        return -1;
    }
    at = ext->gen + ext->gen_len;
    memcpy(at, text, len);
    ext->gen_len += len;
    return sp_msg_push(msg, list, NULL, at, len);
}

const char *
sp_msg_error_of(const struct sp_msg *msg)
{
    if (msg->ext != NULL && msg->ext->error != NULL) {
        return msg->ext->error;
    }
    return msg->nomem ? sp_msg_pool(msg)->proto->error_reply(ENOMEM) : NULL;
}

void
sp_msg_fail(struct sp_msg *msg, const char *error)
{
    struct sp_msg_ext *ext = sp_msg_ext_take(sp_msg_pool(msg)->worker, msg);

    if (ext != NULL) {
        ext->error = error;
    } else {
        msg->nomem = true;
    }
}

int
sp_msg_push(struct sp_msg *msg, struct sp_seglist *list, struct sp_mbuf *mbuf,
            const uint8_t *data, uint32_t len)
{
    struct sp_pool *pool = sp_msg_pool(msg);

    return sp_seglist_push_in(pool != NULL ? &pool->worker->mbufs : NULL, list,
                              mbuf, data, len);
}

int
sp_msg_reply_static(struct sp_msg *msg, const char *text)
{
    if (sp_msg_push(msg, &msg->rsp, NULL, (const uint8_t *)text,
                    (uint32_t)strlen(text)) != 0) {
        return -1;
    }
    msg->done = true;
    return 0;
}

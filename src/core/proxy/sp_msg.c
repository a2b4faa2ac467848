/*
 * sp_msg.c — message objects and their free list (see sp_msg.h).
 */
#include "sp_msg.h"

#include <stdlib.h>
#include <string.h>

#include "sp_shared.h"
#include "sp_worker.h"

struct sp_msg *
sp_msg_get(struct sp_worker *worker)
{
    struct sp_msg *msg = worker->free_msgs;

    if (msg != NULL) {
        worker->free_msgs = TAILQ_NEXT(msg, clink);
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
    TAILQ_NEXT(msg, clink) = NULL;
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

struct sp_msg_fan *
sp_msg_fan_take(struct sp_worker *worker, struct sp_msg *msg)
{
    struct sp_msg_fan *fan = msg->fan;

    if (fan != NULL) {
        return fan;
    }
    fan = worker->free_fans;
    if (fan != NULL) {
        worker->free_fans = fan->free_next;
        worker->nfree_fans--;
        sp_trim_note(&worker->fans_trim, worker->nfree_fans);
        fan->free_next = NULL;
    } else {
        fan = calloc(1, sizeof(*fan));
        if (fan == NULL) {
            return NULL;
        }
    }
    msg->fan = fan;
    return fan;
}

/* Back to the free list, keeping its arrays if they are small. */
static void
sp_msg_fan_put(struct sp_worker *worker, struct sp_msg_fan *fan)
{
    sp_msg_array_shrink((void **)&fan->frags, &fan->frags_cap,
                        sizeof(*fan->frags));
    sp_msg_array_shrink((void **)&fan->key_frag, &fan->keys_cap,
                        sizeof(*fan->key_frag));
    sp_msg_array_shrink((void **)&fan->elems, &fan->elems_cap,
                        sizeof(*fan->elems));
    fan->nfrags = 0;
    fan->nkeys = 0;
    fan->sum = 0;
    fan->step_key = 0;
    fan->step_off = 0;
    fan->nelems = 0;
    fan->free_next = worker->free_fans;
    worker->free_fans = fan;
    worker->nfree_fans++;
}

static void
sp_msg_fan_destroy(struct sp_msg_fan *fan)
{
    free(fan->frags);
    free(fan->key_frag);
    free(fan->elems);
    free(fan);
}

/* Reset a message for reuse, keeping its arrays if they are small. */
static void
sp_msg_reset(struct sp_worker *worker, struct sp_msg *msg)
{
    sp_seglist_clear(&worker->mbufs, &msg->req);
    sp_seglist_clear(&worker->mbufs, &msg->rsp);
    if (msg->req.more != NULL && (size_t)msg->req.more->cap
                                 * sizeof(msg->req.more->segs[0]) > SP_MSG_ARRAY_KEEP) {
        sp_seglist_free(&worker->mbufs, &msg->req);
    }
    if (msg->rsp.more != NULL && (size_t)msg->rsp.more->cap
                                 * sizeof(msg->rsp.more->segs[0]) > SP_MSG_ARRAY_KEEP) {
        sp_seglist_free(&worker->mbufs, &msg->rsp);
    }
    sp_msg_array_shrink((void **)&msg->gen, &msg->gen_cap, 1);
    if (msg->fan != NULL) {
        sp_msg_fan_put(worker, msg->fan);
        msg->fan = NULL;
    }
    msg->pool = NULL;
    msg->client = NULL;
    msg->sconn = NULL;
    msg->parent = NULL;
    msg->cmd = NULL;
    msg->error = NULL;
    msg->gen_len = 0;
    msg->server = 0;
    msg->pending = 0;
    msg->send_seg = msg->send_off = 0;     /* and out_seg, out_off */
    msg->sent_ms = 0;
    msg->rtt_us = msg->recv_us = msg->sent_us = 0;
    msg->done = msg->quit = msg->internal = msg->in_flight = false;
    msg->rsp_error = msg->rsp_array = false;
    msg->noreply = msg->quiet = msg->mn_pending = false;
    msg->rsp_counted = false;
    msg->deferred = msg->holds = msg->silent = false;
    msg->timed = false;
    msg->step_phase = 0;
}

void
sp_msg_put(struct sp_worker *worker, struct sp_msg *msg)
{
    for (uint32_t i = 0; i < sp_msg_nfrags(msg); i++) {
        sp_msg_put(worker, msg->fan->frags[i]);
    }
    sp_msg_reset(worker, msg);
    TAILQ_NEXT(msg, clink) = worker->free_msgs;
    worker->free_msgs = msg;
    worker->nfree_msgs++;
    worker->nused_msgs--;
}

static void
sp_msg_destroy(struct sp_worker *worker, struct sp_msg *msg)
{
    sp_seglist_free(&worker->mbufs, &msg->req);
    sp_seglist_free(&worker->mbufs, &msg->rsp);
    free(msg->gen);
    free(msg);
}

void
sp_msg_trim(struct sp_worker *worker, uint32_t keep)
{
    uint32_t excess = sp_trim_period_end(&worker->msgs_trim, worker->nfree_msgs,
                                         keep);

    for (uint32_t i = 0; i < excess; i++) {
        struct sp_msg *msg = worker->free_msgs;
        worker->free_msgs = TAILQ_NEXT(msg, clink);
        sp_msg_destroy(worker, msg);
    }
    worker->nfree_msgs -= excess;

    excess = sp_trim_period_end(&worker->fans_trim, worker->nfree_fans, keep);
    for (uint32_t i = 0; i < excess; i++) {
        struct sp_msg_fan *fan = worker->free_fans;
        worker->free_fans = fan->free_next;
        sp_msg_fan_destroy(fan);
    }
    worker->nfree_fans -= excess;
}

void
sp_msg_free_all(struct sp_worker *worker)
{
    while (worker->free_msgs != NULL) {
        struct sp_msg *msg = worker->free_msgs;
        worker->free_msgs = TAILQ_NEXT(msg, clink);
        sp_msg_destroy(worker, msg);
    }
    worker->nfree_msgs = 0;
    sp_trim_init(&worker->msgs_trim, 0);
    while (worker->free_fans != NULL) {
        struct sp_msg_fan *fan = worker->free_fans;
        worker->free_fans = fan->free_next;
        sp_msg_fan_destroy(fan);
    }
    worker->nfree_fans = 0;
    sp_trim_init(&worker->fans_trim, 0);
}

int
sp_msg_gen_reserve(struct sp_msg *msg, uint32_t n)
{
    if (msg->gen_cap - msg->gen_len >= n) {
        return 0;
    }
    uint32_t cap = msg->gen_cap == 0 ? 64 : msg->gen_cap;
    while (cap - msg->gen_len < n) {
        cap *= 2;
    }
    uint8_t *gen = realloc(msg->gen, cap);
    if (gen == NULL) {
        return -1;
    }
    msg->gen = gen;
    msg->gen_cap = cap;
    return 0;
}

int
sp_msg_gen_push(struct sp_msg *msg, struct sp_seglist *list, const void *text,
                uint32_t len)
{
    uint8_t *at;

    /* callers reserve first: pointers into gen must stay valid */
    if (msg->gen_cap - msg->gen_len < len) {
        return -1;
    }
    at = msg->gen + msg->gen_len;
    memcpy(at, text, len);
    msg->gen_len += len;
    return sp_seglist_push(list, NULL, at, len);
}

int
sp_msg_reply_static(struct sp_msg *msg, const char *text)
{
    if (sp_seglist_push(&msg->rsp, NULL, (const uint8_t *)text,
                        (uint32_t)strlen(text)) != 0) {
        return -1;
    }
    msg->done = true;
    return 0;
}

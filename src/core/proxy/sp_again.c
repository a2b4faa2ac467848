/*
 * sp_again.c — requests sent to a server again (see sp_again.h).
 */
#include "sp_again.h"

#include <errno.h>

#include "sp_cluster_view.h"
#include "sp_forward.h"
#include "sp_pool.h"
#include "sp_server.h"
#include "sp_shared.h"
#include "sp_worker.h"

#define SP_AGAIN_LOOK_MS 5      /* looks for a topology that moved */

void
sp_again_init(struct sp_again *again)
{
    SP_MSGQ_INIT(&again->waiting);
}

void
sp_again_free(struct sp_pool *pool)
{
    struct sp_again *again = &pool->again;
    struct sp_msg *msg;

    sp_timer_del(pool->worker->loop, &again->timer);
    while ((msg = SP_MSGQ_FIRST(&again->waiting)) != NULL) {
        SP_MSGQ_SHIFT(&again->waiting, slink);
        msg->server = msg->ext->again_server;
        sp_msg_fail(msg, pool->proto->error_reply(ESHUTDOWN));
        sp_msg_part_done(pool->worker, msg);
    }
}

/* The version of what msg's target depends on: a cluster pool's map, the
 * address a Sentinel server's connections were last switched to (not the
 * one published: the worker's connections must have followed it); 1 when
 * there is none. */
static unsigned
sp_again_version(struct sp_pool *pool, const struct sp_msg *msg)
{
    if (pool->cluster != NULL) {
        sp_cluster_view_sync(pool);
        return pool->cluster->version != 0 ? pool->cluster->version : 1;
    }
    const struct sp_server *server = &pool->servers[msg->ext->again_server];
    return server->switched != 0 ? server->switched : 1;
}

static void sp_again_due(struct sp_event_loop *loop, struct sp_timer *timer);

static void
sp_again_arm(struct sp_pool *pool)
{
    struct sp_again *again = &pool->again;
    struct sp_event_loop *loop = pool->worker->loop;
    uint32_t now = (uint32_t)sp_event_now_ms(loop), first = UINT32_MAX;
    struct sp_msg *msg;

    SP_MSGQ_FOREACH(msg, &again->waiting, slink) {
        uint32_t in = (int32_t)(msg->ext->again_ms - now) > 0
                      ? msg->ext->again_ms - now : 0;
        first = in < first ? in : first;
    }
    if (again->timer.armed) {
        sp_timer_del(loop, &again->timer);
    }
    if (first != UINT32_MAX) {
        sp_timer_add(loop, &again->timer, first, sp_again_due, pool);
    }
}

static void
sp_again_due(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_pool *pool = timer->data;
    struct sp_again *again = &pool->again;
    uint32_t now = (uint32_t)sp_event_now_ms(loop);
    struct sp_msg_queue all, due;
    struct sp_msg *msg;

    /* the due ones out, in order; the others back (queues are one-way) */
    all = again->waiting;
    SP_MSGQ_INIT(&again->waiting);
    SP_MSGQ_INIT(&due);
    while ((msg = SP_MSGQ_FIRST(&all)) != NULL) {
        SP_MSGQ_SHIFT(&all, slink);
        if ((int32_t)(msg->ext->again_ms - now) <= 0) {
            SP_MSGQ_PUSH(&due, msg, slink);
        } else {
            SP_MSGQ_PUSH(&again->waiting, msg, slink);
        }
    }
    while ((msg = SP_MSGQ_FIRST(&due)) != NULL) {
        struct sp_msg_ext *ext = msg->ext;
        struct sp_server *server;

        SP_MSGQ_SHIFT(&due, slink);
        if (ext->map_version != 0
            && ext->map_version == sp_again_version(pool, msg)
            && (int32_t)(ext->give_up_ms - now) > 0) {
            ext->again_ms = now + SP_AGAIN_LOOK_MS;     /* not yet */
            SP_MSGQ_PUSH(&again->waiting, msg, slink);
            continue;
        }
        ext->map_version = 0;
        if (pool->cluster != NULL && ext->again_slot >= 0) {
            server = sp_cluster_view_node(pool, (uint16_t)ext->again_slot);
            if (server == NULL) {
                sp_cluster_view_refresh(pool, false);
            }
        } else {
            server = &pool->servers[ext->again_server];
        }
        sp_forward_again(pool, msg, server, NULL, 0);
    }
    sp_again_arm(pool);
}

void
sp_again_later(struct sp_pool *pool, struct sp_msg *msg, int32_t slot,
               uint32_t delay_ms)
{
    /* while it waits, its link word is the queue's: the server it went
     * to is kept in its ext */
    msg->ext->again_server = msg->server;
    msg->ext->again_slot = slot;
    msg->ext->again_ms = (uint32_t)sp_event_now_ms(pool->worker->loop)
                         + delay_ms;
    SP_MSGQ_PUSH(&pool->again.waiting, msg, slink);
    sp_again_arm(pool);
}

void
sp_again_after_change(struct sp_pool *pool, struct sp_msg *msg, int32_t slot)
{
    msg->ext->again_server = msg->server;
    msg->ext->map_version = sp_again_version(pool, msg);
    sp_again_later(pool, msg, slot, SP_AGAIN_LOOK_MS);
}

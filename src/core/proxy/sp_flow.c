/*
 * sp_flow.c — back-pressure: client windows and the worker's memory budget
 * (see sp_flow.h).
 */
#include "sp_flow.h"

#include <stddef.h>
#include <unistd.h>

#include "sp_alloc.h"
#include "sp_client.h"
#include "sp_conn.h"
#include "sp_msg.h"
#include "sp_pool.h"
#include "sp_shared.h"
#include "sp_worker.h"

#define SP_FLOW_PAUSE_MAX   64      /* largest holders stopped per scan */
#define SP_FLOW_SHARE       16      /* a holder worth stopping holds 1/16 */

void
sp_flow_init(struct sp_worker *worker, uint32_t nslots)
{
    struct sp_flow *flow = &worker->flow;
    int mb = worker->conf->global.worker_memory_budget;

    size_t allocated;

    flow->allocator = sp_alloc_allocated(&allocated);
    if (mb == SP_CONF_MEMORY_AUTO) {
        long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
        uint64_t machine = pages > 0 && size > 0
                           ? (uint64_t)pages * (uint64_t)size : 0;
        flow->budget = machine / 2 / (nslots > 0 ? nslots : 1);
    } else {
        flow->budget = (uint64_t)mb * 1024 * 1024;
    }
    worker->slot->memory_budget = (int64_t)flow->budget;
}

uint64_t
sp_flow_window(const struct sp_conn *conn)
{
    return conn->req_held + conn->rsp_held + (conn->in_end - conn->in_base)
           + (uint64_t)conn->nreqs * sizeof(struct sp_msg);
}

void
sp_flow_charge(struct sp_conn *conn, int64_t delta)
{
    struct sp_flow *flow = &conn->worker->flow;

    if (delta < 0 && (uint64_t)-delta > flow->held) {
        flow->held = 0;
    } else {
        flow->held += (uint64_t)delta;
    }
}

/*
 * What the clients may hold: the budget less what the rest of the worker
 * holds, but never under an eighth of it (free lists or a burst's pages
 * may fill the budget alone; the clients must still make progress).
 */
static uint64_t
sp_flow_allowance(const struct sp_flow *flow)
{
    uint64_t floor = flow->budget / 8;

    return flow->base + floor < flow->budget ? flow->budget - flow->base
                                             : floor;
}

static bool
sp_flow_over_budget(const struct sp_flow *flow)
{
    return flow->budget > 0 && flow->held > sp_flow_allowance(flow);
}

/* Held for back-pressure (clients_held counts those). */
static bool
sp_flow_held(uint8_t paused)
{
    return (paused & (uint8_t)~SP_FLOW_BLOCKED) != 0;
}

static void
sp_flow_pause(struct sp_conn *conn, uint8_t why)
{
    struct sp_stats_slot *slot = conn->worker->slot;

    if (!sp_flow_held(conn->read_paused) && why != SP_FLOW_BLOCKED) {
        slot->clients_held++;
    }
    if (why == SP_FLOW_BUDGET && !(conn->read_paused & SP_FLOW_BUDGET)) {
        conn->worker->flow.budget_held++;
        slot->budget_pauses++;
    } else if (why == SP_FLOW_WINDOW && !(conn->read_paused & SP_FLOW_WINDOW)) {
        slot->clients_paused++;
    } else if (why == SP_FLOW_SERVER && !(conn->read_paused & SP_FLOW_SERVER)) {
        slot->server_waits++;
    }
    conn->read_paused |= why;
}

/* Clear `why`; true when nothing holds the client any more. */
static bool
sp_flow_unpause(struct sp_conn *conn, uint8_t why)
{
    if (!(conn->read_paused & why)) {
        return false;
    }
    bool held = sp_flow_held(conn->read_paused);

    conn->read_paused &= (uint8_t)~why;
    if (why == SP_FLOW_BUDGET) {
        conn->worker->flow.budget_held--;
    }
    if (held && !sp_flow_held(conn->read_paused)) {
        conn->worker->slot->clients_held--;
    }
    return conn->read_paused == 0;
}

/*
 * Over the budget: stop the largest holders until the rest fits. Only a
 * client that holds a real share (SP_FLOW_SHARE of what the clients may
 * hold) is stopped: stopping a small one saves nothing, it would only
 * wait behind the large ones.
 */
static void
sp_flow_stop_largest(struct sp_worker *worker)
{
    struct sp_flow *flow = &worker->flow;
    uint64_t over = flow->held - sp_flow_allowance(flow);
    uint64_t share = sp_flow_allowance(flow) / SP_FLOW_SHARE;

    for (int n = 0; n < SP_FLOW_PAUSE_MAX && over > 0; n++) {
        struct sp_conn *largest = NULL;
        uint64_t most = share;

        for (uint32_t i = 0; i < worker->npools; i++) {
            struct sp_conn *c;
            TAILQ_FOREACH(c, &worker->pools[i].clients, link) {
                uint64_t w;
                if ((c->read_paused & SP_FLOW_BUDGET) || c->nreqs == 0
                    || (w = sp_flow_window(c)) <= most) {
                    continue;
                }
                largest = c;
                most = w;
            }
        }
        if (largest == NULL) {
            return;
        }
        sp_flow_pause(largest, SP_FLOW_BUDGET);
        over = most >= over ? 0 : over - most;
    }
}

bool
sp_flow_client_full(struct sp_conn *conn)
{
    struct sp_worker *worker = conn->worker;
    int high = conn->pool->conf->client_high_watermark;

    if (conn->nreqs == 0) {
        return false;       /* nothing would drain: read the request whole */
    }
    if (high > 0 && sp_flow_window(conn) > (uint64_t)high) {
        sp_flow_pause(conn, SP_FLOW_WINDOW);
    }
    if (sp_flow_over_budget(&worker->flow)) {
        /* this client first, if it holds a share: one read may go on for
         * as long as the peer keeps writing */
        if (sp_flow_window(conn)
            >= sp_flow_allowance(&worker->flow) / SP_FLOW_SHARE) {
            sp_flow_pause(conn, SP_FLOW_BUDGET);
        }
        /* then the others, one scan per millisecond at most: while the
         * paused holders' replies still arrive the sum stays over */
        uint64_t now = sp_event_now_ms(worker->loop);
        if (now != worker->flow.scan_ms) {
            worker->flow.scan_ms = now;
            sp_flow_stop_largest(worker);
        }
    }
    return conn->read_paused != 0;
}

bool
sp_flow_client_open(struct sp_conn *conn)
{
    if (!(conn->read_paused & SP_FLOW_WINDOW)
        || (conn->nreqs > 0
            && sp_flow_window(conn)
               > (uint64_t)conn->pool->conf->client_low_watermark)) {
        return false;
    }
    return sp_flow_unpause(conn, SP_FLOW_WINDOW);
}

void
sp_flow_hold(struct sp_conn *conn, uint8_t why)
{
    sp_flow_pause(conn, why);
}

bool
sp_flow_release(struct sp_conn *conn, uint8_t why)
{
    return sp_flow_unpause(conn, why);
}

void
sp_flow_client_gone(struct sp_conn *conn)
{
    if (conn->read_paused != 0) {
        sp_flow_unpause(conn, SP_FLOW_BUDGET);
        sp_flow_unpause(conn, SP_FLOW_SERVER);
        sp_flow_unpause(conn, SP_FLOW_WINDOW);
        sp_flow_unpause(conn, SP_FLOW_STEPS);
        sp_flow_unpause(conn, SP_FLOW_BLOCKED);
    }
    sp_flow_charge(conn, -(int64_t)(conn->req_held + conn->rsp_held
                                    + (uint64_t)conn->nreqs
                                      * sizeof(struct sp_msg)));
}

void
sp_flow_server_queued(struct sp_server *server, const struct sp_msg *msg)
{
    int high = server->pool->conf->server_high_watermark;

    if (high <= 0 || server->stats->in_queue_bytes <= high) {
        return;
    }
    const struct sp_msg *parent = sp_msg_parent(msg);
    struct sp_conn *client = sp_msg_client(parent != NULL ? parent : msg);

    server->queue_full = true;
    if (client != NULL && client->kind == SP_CONN_CLIENT) {
        sp_flow_pause(client, SP_FLOW_SERVER);
    }
}

void
sp_flow_server_drained(struct sp_server *server)
{
    if (server->queue_full && server->stats->in_queue_bytes
                              <= server->pool->conf->server_low_watermark) {
        server->queue_full = false;
        server->pool->worker->flow.server_drained = true;
    }
}

void
sp_flow_tick(struct sp_worker *worker)
{
    struct sp_flow *flow = &worker->flow;

    size_t allocated;

    if (flow->allocator && sp_alloc_allocated(&allocated)) {
        flow->base = allocated > flow->held ? allocated - flow->held : 0;
    }
    worker->slot->memory_used = (int64_t)(flow->held + flow->base);
}

bool
sp_flow_resume(struct sp_worker *worker)
{
    struct sp_flow *flow = &worker->flow;
    uint8_t why = 0;
    bool any = false;

    if (flow->budget_held > 0
        && flow->held <= sp_flow_allowance(flow) / 8 * 7) {
        why |= SP_FLOW_BUDGET;
    }
    if (flow->server_drained) {
        flow->server_drained = false;
        why |= SP_FLOW_SERVER;      /* one still waiting on another full
                                       server waits again at its next
                                       request for it */
    }
    if (why == 0) {
        return false;
    }
    for (uint32_t i = 0; i < worker->npools; i++) {
        struct sp_conn *c = TAILQ_FIRST(&worker->pools[i].clients), *next;
        for (; c != NULL; c = next) {
            next = TAILQ_NEXT(c, link);     /* reading may close c */
            bool open = false;

            if (c->read_paused & why & SP_FLOW_BUDGET) {
                open = sp_flow_unpause(c, SP_FLOW_BUDGET);
            }
            if (c->read_paused & why & SP_FLOW_SERVER) {
                open = sp_flow_unpause(c, SP_FLOW_SERVER);
            }
            if (open) {
                sp_client_resume(c);
                any = true;
            }
        }
    }
    return any;
}

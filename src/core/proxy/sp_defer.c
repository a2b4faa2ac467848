/*
 * sp_defer.c — requests done in steps between the loop's turns (see
 * sp_defer.h).
 */
#include "sp_defer.h"

#include "sp_array.h"
#include "sp_client.h"
#include "sp_flow.h"
#include "sp_forward.h"
#include "sp_pool.h"
#include "sp_proto.h"
#include "sp_worker.h"

void
sp_defer_add(struct sp_worker *worker, struct sp_msg *msg, bool hold)
{
    if (hold && !msg->holds && sp_msg_client(msg) != NULL) {
        msg->holds = true;
        sp_flow_hold(sp_msg_client(msg), SP_FLOW_STEPS);
    }
    msg->deferred = true;
    SP_MSGQ_PUSH(&worker->deferred, msg, ext->defer_next);
}

bool
sp_defer_pending(const struct sp_worker *worker)
{
    return !SP_MSGQ_EMPTY(&worker->deferred) || worker->nread_later > 0;
}

bool
sp_defer_read(struct sp_conn *conn)
{
    struct sp_worker *worker = conn->worker;

    if (conn->read_later) {
        return true;
    }
    if (sp_array_grow((void **)&worker->read_later, &worker->read_later_cap,
                      worker->nread_later + 1,
                      sizeof(*worker->read_later)) != 0) {
        return false;
    }
    conn->read_later = true;
    worker->read_later[worker->nread_later++] = conn;
    return true;
}

void
sp_defer_read_cancel(struct sp_conn *conn)
{
    struct sp_worker *worker = conn->worker;

    for (uint32_t i = 0; i < worker->nread_later; i++) {
        if (worker->read_later[i] == conn) {
            worker->read_later[i] = NULL;
        }
    }
    conn->read_later = false;
}

/* Read on each connection queued when called; those queued meanwhile (and
 * the slots of those freed) are kept for the next run, in order. */
static void
sp_defer_run_reads(struct sp_worker *worker)
{
    uint32_t n = worker->nread_later, kept = 0;

    for (uint32_t i = 0; i < n; i++) {
        struct sp_conn *conn = worker->read_later[i];
        if (conn == NULL) {
            continue;
        }
        worker->read_later[i] = NULL;
        conn->read_later = false;
        /* through the transport when it waits for readiness (sp_io.h) */
        (conn->io_wait ? sp_worker_io_event : sp_worker_on_event)(
            worker->loop, conn->fd, SP_EV_READ | SP_EV_RDHUP, conn);
    }
    for (uint32_t i = n; i < worker->nread_later; i++) {
        if (worker->read_later[i] != NULL) {
            worker->read_later[kept++] = worker->read_later[i];
        }
    }
    worker->nread_later = kept;
}

/*
 * The steps of msg are over. A split (msg->holds) ends: the part it
 * counted in msg->pending is dropped, which may complete the request, and
 * its client is read again -- which may close it and free msg: last. A
 * merge's reply goes out.
 */
static void
sp_defer_finish(struct sp_worker *worker, struct sp_msg *msg)
{
    struct sp_conn *client = sp_msg_client(msg);

    if (msg->holds) {
        msg->holds = false;
        sp_forward_split_end(worker, msg);
        sp_client_unhold(client, SP_FLOW_STEPS);
    } else if (!msg->deferred && msg->done && msg->pending == 0) {
        sp_client_reply_ready(msg);
    }
}

/* Its client left: no more steps. A split ends (freed by its last part
 * answered, or now); a merge is dropped. */
static void
sp_defer_abandon(struct sp_worker *worker, struct sp_msg *msg)
{
    if (msg->holds) {
        msg->holds = false;
        sp_forward_split_end(worker, msg);  /* at 0: completes, frees */
    } else if (msg->pending == 0) {
        sp_msg_put(worker, msg);
    }
}

void
sp_defer_run(struct sp_worker *worker)
{
    struct sp_msg *last = SP_MSGQ_LAST(&worker->deferred);
    struct sp_msg *msg;
    bool end = last == NULL;

    sp_defer_run_reads(worker);
    /* a queued msg is freed only here (sp_client_detach leaves it), so
     * `last` stays valid until it is reached */
    while (!end && (msg = SP_MSGQ_FIRST(&worker->deferred)) != NULL) {
        end = msg == last;
        SP_MSGQ_SHIFT(&worker->deferred, ext->defer_next);
        msg->deferred = false;
        if (sp_msg_client(msg) == NULL) {
            sp_defer_abandon(worker, msg);
            continue;
        }
        if (!sp_msg_pool(msg)->proto->step(worker, msg)) {
            msg->deferred = true;
            SP_MSGQ_PUSH(&worker->deferred, msg, ext->defer_next);
            continue;
        }
        sp_defer_finish(worker, msg);
    }
}

void
sp_defer_drop_all(struct sp_worker *worker)
{
    struct sp_msg *msg;

    while ((msg = SP_MSGQ_FIRST(&worker->deferred)) != NULL) {
        SP_MSGQ_SHIFT(&worker->deferred, ext->defer_next);
        msg->deferred = false;
        /* its pool is gone: free what nothing else holds (the servers are
         * closed, so a split holds its own part only) */
        if (sp_msg_client(msg) == NULL
            && msg->pending <= (msg->holds ? 1u : 0u)) {
            sp_msg_put(worker, msg);
        }
    }
}

/*
 * sp_defer.h — work done in steps between the event loop's turns, so one
 * client's huge request never makes the others wait behind it.
 *
 * A fan-out wider than SP_DEFER_STEP_KEYS keys (MGET of a million keys) is
 * split, and its replies merged, SP_DEFER_STEP_KEYS keys at a time: the
 * protocol does the first step at once and queues the request here; each
 * turn of the worker's loop then does one more step of every queued
 * request, after the events of that turn were served (the loop does not
 * sleep while anything is queued).
 *
 *   request ─► protocol: step 1 ─► sp_defer_add ─► [turn: events, flush,
 *   sp_defer_run: proto->step] ... ─► last step: fragments sent / reply done
 *
 * Reading takes turns the same way: a connection that has read its share of
 * one turn (SP_CONN_READ_TURN) is read on at the next run.
 *
 * While a request is split its client is not read (SP_FLOW_STEPS), so the
 * requests it pipelined behind reach the servers after it; the merge holds
 * nobody (replies go out in request order anyway). A queued request whose
 * client left is freed by the next run. The queue links through
 * msg->ext->defer_next (a request in steps is a fan-out: it has its ext),
 * not slink, whose word holds the rtt_us its fragments raise meanwhile.
 */
#ifndef SP_DEFER_H
#define SP_DEFER_H

#include <stdbool.h>

#include "sp_msg.h"

/* Keys per step: about a millisecond of splitting or merging. */
#define SP_DEFER_STEP_KEYS  16384

/* Queue msg for its next step; with hold, its client is not read until the
 * steps end. */
void sp_defer_add(struct sp_worker *worker, struct sp_msg *msg, bool hold);

/* Anything queued, requests or reads (the loop then polls without
 * waiting). */
bool sp_defer_pending(const struct sp_worker *worker);

/* One step of each request queued when called, and one read of each
 * connection (what is queued meanwhile waits for the next run). */
void sp_defer_run(struct sp_worker *worker);

/* Free what is queued (the worker is going away: its pools, clients and
 * servers are gone). */
void sp_defer_drop_all(struct sp_worker *worker);

/* A connection that stopped reading after its turn's share (sp_conn_read)
 * is read on at the next run (as if readable: edges are not raised again
 * for what the socket already holds). False: no memory to queue it (read
 * on now instead). Cancel: it is being freed. */
bool sp_defer_read(struct sp_conn *conn);
void sp_defer_read_cancel(struct sp_conn *conn);

#endif /* SP_DEFER_H */

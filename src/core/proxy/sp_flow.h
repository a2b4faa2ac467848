/*
 * sp_flow.h — back-pressure: each client's window and the worker's memory
 * budget (DESIGN.md §8, "Memory and back-pressure").
 *
 * A client's window is what it holds in the proxy: its unparsed input, its
 * requests queued or in flight, the replies waiting for it, and a message
 * object for each request. Over its pool's client_high_watermark the worker
 * stops reading it; once its replies are written down to
 * client_low_watermark it is read again, from the flush. The kernel's
 * socket buffers and TCP hold the client back meanwhile: nobody is closed
 * for sending fast. A client with no whole request queued is always read,
 * so one request larger than the window is served, alone.
 *
 * The worker's budget (worker_memory_budget) bounds the sum: what the
 * clients hold (counted as they go, no syscall) on top of what the rest of
 * the worker holds (the allocator's own figure, jemalloc's
 * stats.allocated, taken on the once-a-second tick; never less than an
 * eighth of the budget is left to the clients). Over it, the worker stops
 * reading its largest holders first until the sum is back under; below 7/8
 * of it they are read again, from the end of the flush.
 *
 * A server's queue is bounded the same way: when what waits to be written
 * to one server (in this worker) passes its pool's server_high_watermark,
 * each client that queues a request for it is no longer read; once the
 * queue is written down to server_low_watermark they are read again. A slow
 * server makes requests wait, it never makes them fail.
 *
 *   read ──► sp_flow_client_full? ──yes──► not read (window, or budget)
 *   request queued for a full server ──► its client not read
 *   reply written ──► sp_flow_client_open? ──yes──► read on
 *   flush done ──► sp_flow_resume (budget, drained servers) ──► read them
 *
 * A client whose request is split in steps (a wide fan-out, sp_defer.h) is
 * not read either until the split is done, so what it pipelined behind
 * reaches the servers after it (SP_FLOW_STEPS); nor is a client blocked in
 * BLPOP until its call is answered (SP_FLOW_BLOCKED).
 */
#ifndef SP_FLOW_H
#define SP_FLOW_H

#include <stdbool.h>
#include <stdint.h>

struct sp_conn;
struct sp_msg;
struct sp_server;
struct sp_worker;

/* Why a client is not read (struct sp_conn.read_paused). */
#define SP_FLOW_WINDOW  0x1     /* over its high watermark */
#define SP_FLOW_BUDGET  0x2     /* the worker is over its budget */
#define SP_FLOW_SERVER  0x4     /* it queued for a server that is full */
#define SP_FLOW_STEPS   0x8     /* its request is being split in steps: what
                                   it sent after waits (sp_defer.h) */
#define SP_FLOW_BLOCKED 0x10    /* it waits in a blocking call (BLPOP) on a
                                   lent connection: what it sent after runs
                                   once that is answered, as in Redis. Not
                                   back-pressure: not in clients_held */

struct sp_flow {
    uint64_t budget;        /* bytes; 0: no budget */
    uint64_t held;          /* what the clients hold, counted as they go */
    uint64_t base;          /* what the rest holds (allocator, last tick) */
    uint32_t budget_held;   /* clients not read for the budget now */
    uint64_t scan_ms;       /* last look for the largest holders */
    bool     server_drained;/* a full server's queue went under its low
                               watermark: read its waiting clients */
    bool     allocator;     /* the allocator's figure is there (sp_alloc) */
};

/* Set up the budget for conf (auto: half the machine's memory over the
 * worker slots). */
void sp_flow_init(struct sp_worker *worker, uint32_t nslots);

/* A client's window in bytes. */
uint64_t sp_flow_window(const struct sp_conn *conn);

/* Bytes a client holds: charged (delta > 0) or released (delta < 0). */
void sp_flow_charge(struct sp_conn *conn, int64_t delta);

/* After a read: stop reading this client (true) for its window or for the
 * worker's budget (then the largest holders stop first). */
bool sp_flow_client_full(struct sp_conn *conn);

/* After its replies were written: read it again (true; the window is
 * drained and no budget holds it). */
bool sp_flow_client_open(struct sp_conn *conn);

/* Stop reading a client for `why` (SP_FLOW_STEPS, SP_FLOW_BLOCKED). */
void sp_flow_hold(struct sp_conn *conn, uint8_t why);

/* Clear `why`; true when nothing holds the client any more (read it). */
bool sp_flow_release(struct sp_conn *conn, uint8_t why);

/* A client leaves: forget what it held. */
void sp_flow_client_gone(struct sp_conn *conn);

/* msg was queued for server: over its high watermark, msg's client waits. */
void sp_flow_server_queued(struct sp_server *server, const struct sp_msg *msg);

/* Bytes left server's queue: under its low watermark, its clients go on. */
void sp_flow_server_drained(struct sp_server *server);

/* The tick: the allocator's figure, the budget's gauges in the slot. */
void sp_flow_tick(struct sp_worker *worker);

/* Under the budget again, or a full server drained: read every client held
 * for it. Returns whether any was read (their output waits in the flush
 * lists). */
bool sp_flow_resume(struct sp_worker *worker);

#endif /* SP_FLOW_H */

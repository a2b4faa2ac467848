/*
 * sp_worker.h — the worker context: everything one proxy process mutates.
 *
 * The event loop, the buffer pool, the message free list, the pools with
 * their servers and clients, the stats listener, scratch space, counters and
 * the log all hang off one struct sp_worker, created after fork, so there is
 * no file-level mutable state and a test can run two workers side by side.
 *
 * Main loop: wait for events (sp_event_poll), handle them (reads parse
 * requests and replies and queue work), then flush: every connection that
 * got output during the wake-up writes it with one writev — servers first,
 * then clients.
 */
#ifndef SP_WORKER_H
#define SP_WORKER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "sp_conf.h"
#include "sp_conn.h"
#include "sp_event.h"
#include "sp_log.h"
#include "sp_mbuf.h"
#include "sp_msg.h"
#include "sp_pool.h"

struct sp_worker_options {
    size_t      mbuf_size;
    const char *stats_addr;     /* NULL: no stats port */
    uint16_t    stats_port;
};

struct sp_worker {
    struct sp_log          *log;
    const struct sp_conf   *conf;
    struct sp_event_loop   *loop;
    struct sp_mbuf_pool     mbufs;

    struct sp_msg          *free_msgs;
    uint32_t                nfree_msgs;
    struct sp_trim          msgs_trim;      /* what stayed unused */
    uint64_t                msg_nalloc;     /* messages ever allocated */

    struct sp_pool         *pools;
    uint32_t                npools;
    struct sp_conn         *stats_listener;
    int                     spare_fd;       /* kept for stats under EMFILE */

    struct sp_conn_list     flush_servers;
    struct sp_conn_list     flush_clients;
    struct sp_conn_list     lingering;      /* refused clients draining */

    uint8_t                *scratch;        /* keys spanning buffers */
    size_t                  scratch_cap;
    struct sp_redis_arg    *args;           /* fan-out argument scan */
    uint32_t                args_cap;

    struct sp_timer         tick;           /* once a second: trim */
    uint64_t                started_ms;
    int64_t                 started_s;
    uint64_t                total_connections;
    uint32_t                curr_connections;
    const volatile sig_atomic_t *stop;      /* set by a signal handler */
};

/*
 * Build a worker for conf: event loop, pools, listeners (opened here), the
 * stats port. Returns NULL after logging why.
 */
struct sp_worker *sp_worker_create(const struct sp_conf *conf,
                                   const struct sp_worker_options *opts,
                                   struct sp_log *log,
                                   const volatile sig_atomic_t *stop);
void sp_worker_destroy(struct sp_worker *worker);

/* Run until *stop is set. */
int sp_worker_run(struct sp_worker *worker);

/* Write all pending output (end of a wake-up). */
void sp_worker_flush(struct sp_worker *worker);

/* Worker scratch of at least n bytes (NULL: ENOMEM). */
uint8_t *sp_worker_scratch(struct sp_worker *worker, size_t n);

#endif /* SP_WORKER_H */

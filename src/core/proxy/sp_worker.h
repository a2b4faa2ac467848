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
 * then clients; then one step of each request done in steps (sp_defer.h:
 * a huge fan-out), and flush again; then act on the signals that arrived
 * during the wait. While steps are queued the wait does not sleep.
 *
 * The worker opens no listening socket itself: the master (or main, with
 * no master) opens them and hands the descriptors over, so a respawned
 * worker gets back exactly the sockets, and the connections queued in
 * them, of the one it replaces.
 */
#ifndef SP_WORKER_H
#define SP_WORKER_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "sp_client_parse.h"
#include "sp_conf.h"
#include "sp_conn.h"
#include "sp_event.h"
#include "sp_flow.h"
#include "sp_log.h"
#include "sp_mbuf.h"
#include "sp_msg.h"
#include "sp_oneshot.h"
#include "sp_pool.h"
#include "sp_reserve.h"
#include "sp_trim.h"

struct sp_ask;
struct sp_shared;
struct sp_signals;
struct sp_stats_slot;

/*
 * What the process that creates a worker hands it. Every descriptor here
 * was opened by the caller (the master, or main with no master) and is the
 * worker's to close; the sockets themselves stay open in the master.
 */
struct sp_worker_options {
    size_t             mbuf_size;
    uint32_t           index;           /* the worker's slot */
    bool               has_master;      /* else: a single process */
    const int         *listen_fds;      /* per pool */
    const bool        *listen_shared;   /* per pool: every worker has it */
    int                stats_fd;        /* -1: no stats port */
    int                channel_fd;      /* -1: no master */
    struct sp_shared  *shared;          /* counters, accept balance */
    bool               accept_lock;     /* accept_mode: lock */
    uint32_t           accept_threshold;/* clients; 0: no limit */
    struct sp_signals *signals;         /* this process's received signals */
};

struct sp_worker {
    struct sp_log          *log;
    const struct sp_conf   *conf;
    struct sp_event_loop   *loop;
    struct sp_mbuf_pool     mbufs;
    struct sp_mbuf         *read_spare;     /* a read with no room in its
                                               connection lands here; it
                                               becomes the connection's only
                                               if bytes came (sp_conn_read):
                                               an EOF costs no buffer */

    struct sp_msg          *free_msgs;
    uint32_t                nfree_msgs;
    uint32_t                nused_msgs;     /* handed out, not yet put back */
    struct sp_trim          msgs_trim;      /* what stayed unused */
    uint64_t                msg_nalloc;     /* messages ever allocated */
    struct sp_msg_ext      *free_exts;      /* fan-out fields (sp_msg.h) */
    uint32_t                nfree_exts;
    struct sp_trim          exts_trim;
    struct sp_client_parse_pool parses;     /* lent to clients mid-request */

    struct sp_pool         *pools;
    uint32_t                npools;
    uint32_t                nclients;       /* over all pools */
    struct sp_conn         *stats_listener;
    struct sp_conn         *channel;        /* to the master; NULL: none */
    int                     spare_fd;       /* given up at EMFILE to refuse
                                               a client (sp_accept.h) */
    struct sp_reserve       reserve;        /* descriptors for the server
                                               connections not open yet */
    struct sp_oneshot_list  oneshots;       /* stats answers going out */

    struct sp_conn_list     flush_servers;
    struct sp_conn_list     flush_clients;
    struct sp_conn_list     lingering;      /* refused clients draining */
    struct sp_msg_queue     deferred;       /* requests done in steps
                                               (sp_defer.h) */
    struct sp_conn        **read_later;     /* read on next turn (ditto) */
    uint32_t                nread_later;
    uint32_t                read_later_cap;

    uint8_t                *scratch;        /* keys spanning buffers */
    size_t                  scratch_cap;
    struct sp_span    *args;           /* fan-out argument scan */
    uint32_t                args_cap;

    struct sp_shared       *shared;
    struct sp_stats_slot   *slot;           /* this worker's counters */
    atomic_llong           *heartbeat;      /* its loop clock at the last
                                               turn (the master's watchdog) */
    uint32_t                index;
    bool                    has_master;
    long                    pid;

    bool                    accept_lock;    /* accept_mode: lock */
    bool                    has_shared;     /* a listener every worker has */
    bool                    yielding;       /* shared listeners left to
                                               the others (sp_accept.h) */
    uint64_t                yield_since_ms; /* loop clock: yielding since */
    uint64_t                refused_log_ms; /* EMFILE refusal last logged */
    uint32_t                accept_threshold;

    bool                    draining;       /* QUIT: finish, then exit */
    bool                    handoff;        /* RETIRE: hand clients over */
    struct sp_timer         drain_timer;
    uint64_t                handed_off;     /* clients sent to the master */
    uint64_t                adopted;        /* clients received from it */
    bool                    stop;           /* leave the loop */
    struct sp_timer         shutdown_timer; /* worker_shutdown_timeout */
    struct sp_signals      *signals;

    uint64_t                slowlog_us;     /* slowlog_threshold; 0: off */
    uint64_t                slowlog_window_ms;
    uint32_t                slowlog_lines;  /* in this second */
    uint64_t                slowlog_suppressed;
    bool                    histograms;     /* latency_histograms */
    bool                    ring_sends;     /* the loop sends (io_uring):
                                               connections use sp_io_ring */

    struct sp_flow          flow;           /* back-pressure: windows, budget */
    struct sp_timer         tick;           /* once a second: trim */
    uint64_t                started_ms;
    int64_t                 started_s;
    uint32_t                clients_opened; /* client ids: the worker's pid,
                                               then this count (unique in
                                               the proxy, through reloads) */
    struct sp_ask          *asks;           /* questions to every worker
                                               waiting for answers (sp_ask.h) */
    uint64_t                ask_serial;
};

/* event_backend io_uring where it cannot run: one log line, and epoll in
 * conf (the master's, before its workers start; a single process's). */
void sp_worker_backend_check(struct sp_conf *conf, struct sp_log *log);

/*
 * Build a worker for conf around the descriptors in opts: event loop,
 * pools, listeners, the stats port, the channel. Returns NULL after logging
 * why (the descriptors are closed).
 */
struct sp_worker *sp_worker_create(const struct sp_conf *conf,
                                   const struct sp_worker_options *opts,
                                   struct sp_log *log);
void sp_worker_destroy(struct sp_worker *worker);

/* Run until told to stop (signals, channel) or drained. 0, or -1. */
int sp_worker_run(struct sp_worker *worker);

/* Stop accepting, finish what was received, and at each client's next
 * request boundary close it — or, with handoff (a reload), send it to the
 * master for a new-generation worker; leave the loop when none is left (or
 * at worker_shutdown_timeout). */
void sp_worker_drain(struct sp_worker *worker, bool handoff);

/* A client reached a request boundary (nothing owed, nothing partial):
 * while draining it is handed over or closed. Returns true when it left. */
bool sp_worker_client_idle(struct sp_conn *client);

/* Write all pending output (end of a wake-up). */
void sp_worker_flush(struct sp_worker *worker);

/* Worker scratch of at least n bytes (NULL: ENOMEM). */
uint8_t *sp_worker_scratch(struct sp_worker *worker, size_t n);

/* The signals a worker (or the single process) handles, 0-terminated. */
extern const int sp_worker_signal_set[];

/* Every event of the worker's descriptors lands here. */
void sp_worker_on_event(struct sp_event_loop *loop, int fd, uint32_t ready,
                        void *data);

/* ... but a connection whose transport waits for readiness (io_wait, a
 * TLS handshake) is registered with this one while it waits: the
 * transport's `event` op first, then the above. */
void sp_worker_io_event(struct sp_event_loop *loop, int fd, uint32_t ready,
                        void *data);

#endif /* SP_WORKER_H */

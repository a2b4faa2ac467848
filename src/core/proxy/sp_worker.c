/*
 * sp_worker.c — the worker context, its loop and flush, its stats port,
 * its channel to the master, signals and the drain (see sp_worker.h).
 */
#include "sp_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "sp_accept.h"
#include "sp_alloc.h"
#include "sp_ask.h"
#include "sp_channel.h"
#include "sp_cli.h"
#include "sp_client.h"
#include "sp_cluster_view.h"
#include "sp_defer.h"
#include "sp_net.h"
#include "sp_proto.h"
#include "sp_replica.h"
#include "sp_server.h"
#include "sp_shared.h"
#include "sp_signal.h"
#include "sp_stats.h"
#include "sp_stats_report.h"

#define SP_TICK_MS          1000
#define SP_MBUF_KEEP        64      /* buffers kept through idle periods */
#define SP_MSG_KEEP         256     /* messages (and their exts) */
#define SP_SEGS_KEEP        64      /* segment arrays of each size */
#define SP_PARSE_KEEP       64      /* client parser states kept idle */
#define SP_SCRATCH_KEEP     (64 * 1024) /* bytes of scratch kept idle */
#define SP_STATS_RETRY_MS   100     /* after EMFILE with no spare */
#define SP_DRAIN_TICK_MS    20      /* draining: look for boundaries */
#define SP_DRAIN_GRACE_MS   2000    /* past worker_shutdown_timeout: clients
                                       not handed over close at a boundary
                                       (the master kills at +5 s) */
#define SP_STATS_DEADLINE_MS 1000   /* a stats reader must read by then */

uint8_t *
sp_worker_scratch(struct sp_worker *worker, size_t n)
{
    if (n > worker->scratch_cap) {
        size_t cap = worker->scratch_cap == 0 ? 1024 : worker->scratch_cap;
        while (cap < n) {
            cap *= 2;
        }
        uint8_t *grown = realloc(worker->scratch, cap);
        if (grown == NULL) {
            return NULL;
        }
        worker->scratch = grown;
        worker->scratch_cap = cap;
    }
    return worker->scratch;
}

/* ---- stats port ----------------------------------------------------------- */

/* The free lists' counters into the slot (the master sums slots). */
static void
sp_worker_publish(struct sp_worker *worker)
{
    struct sp_stats_slot *slot = worker->slot;

    slot->buffers_allocated = (int64_t)worker->mbufs.nalloc;
    slot->buffers_in_use = (int64_t)worker->mbufs.nused;
    slot->buffers_free = (int64_t)worker->mbufs.nfree;
    slot->messages_allocated = (int64_t)worker->msg_nalloc;
    slot->messages_in_use = (int64_t)worker->nused_msgs;
    slot->messages_free = (int64_t)worker->nfree_msgs;
    slot->parsers_allocated = (int64_t)worker->parses.nalloc;
    slot->parsers_in_use = (int64_t)worker->parses.nused;
    slot->parsers_free = (int64_t)worker->parses.nfree;
}

static void
sp_stats_serve(struct sp_worker *worker, int fd)
{
    struct sp_stats_buf buf = { 0 };
    struct sp_stats_slot *slot = worker->slot;

    sp_worker_publish(worker);
    /* beside nutcracker's fields: who answers, and what the free lists
     * hold (steady state allocates nothing: *_allocated stay put) */
    struct sp_stats_extra extras[] = {
        { "pid", (int64_t)worker->pid },
        { "worker", (int64_t)worker->index },
        { "buffers_allocated", slot->buffers_allocated },
        { "buffers_in_use", slot->buffers_in_use },
        { "buffers_free", slot->buffers_free },
        { "messages_allocated", slot->messages_allocated },
        { "messages_in_use", slot->messages_in_use },
        { "messages_free", slot->messages_free },
        { "parsers_allocated", slot->parsers_allocated },
        { "parsers_in_use", slot->parsers_in_use },
        { "parsers_free", slot->parsers_free },
        { "clients_paused", slot->clients_paused },
        { "clients_held", slot->clients_held },
        { "memory_budget", slot->memory_budget },
        { "memory_used", slot->memory_used },
        { "budget_pauses", slot->budget_pauses },
        { "server_waits", slot->server_waits },
        { "pubsub_clients", slot->pubsub_clients },
        { "pubsub_channels", slot->pubsub_channels },
        { "pubsub_patterns", slot->pubsub_patterns },
        { "subscriber_connections", slot->subscriber_connections },
        { "pubsub_messages", slot->pubsub_messages },
    };
    const struct sp_stats_pool *pools =
        sp_shared_pool_stats(worker->shared, worker->index, 0);
    const struct sp_stats_server *servers =
        sp_shared_server_stats(worker->shared, worker->index, 0);
    uint32_t nservers = worker->shared->header->nservers;
    char **pool_extra = calloc(worker->npools + 1, sizeof(char *));
    char **server_extra = calloc(nservers + 1, sizeof(char *));
    struct sp_stats_report_extra extra = {
        extras, sizeof(extras) / sizeof(extras[0]), pool_extra, server_extra,
        sp_proto_refused_name
    };

    if (pool_extra != NULL && server_extra != NULL
        && sp_stats_report_latency(worker->conf, pools, servers, pool_extra,
                                   server_extra) == 0
        && sp_stats_report_tls(worker->conf, pools, pool_extra) == 0
        && sp_stats_report(&buf, worker->conf, slot, pools, servers,
                           (int64_t)time(NULL) - worker->started_s, &extra) == 0) {
        sp_stats_buf_printf(&buf, "\n");
    }
    /* written as the reader reads: a reader that stalls costs nothing */
    sp_oneshot_send(worker->loop, &worker->oneshots, fd, &buf,
                    SP_STATS_DEADLINE_MS);
    sp_stats_report_extras_free(pool_extra, pool_extra != NULL ? worker->npools : 0);
    sp_stats_report_extras_free(server_extra, server_extra != NULL ? nservers : 0);
    free(pool_extra);
    free(server_extra);
    sp_stats_buf_free(&buf);
}

static void
sp_stats_resume(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_conn *listener = timer->data;

    sp_event_modify(loop, listener->fd, SP_EV_READ | SP_EV_LEVEL);
}

/*
 * Out of descriptors, stats still answer: the worker keeps one spare
 * descriptor, gives it up for the stats connection, and takes it back
 * (the nginx/HAProxy trick). If even that fails, the listener pauses
 * instead of waking the loop in a spin.
 */
static int
sp_stats_accept_spare(struct sp_worker *worker, int listen_fd)
{
    int fd;

    if (worker->spare_fd < 0) {
        return -1;
    }
    close(worker->spare_fd);
    worker->spare_fd = -1;
    fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
        sp_stats_serve(worker, fd);     /* takes fd */
    }
    worker->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fd >= 0 ? 0 : -1;
}

static void
sp_stats_accept(struct sp_conn *listener)
{
    struct sp_worker *worker = listener->worker;

    for (;;) {
        /* non-blocking: a reader that stalls costs the deadline, no more */
        int fd = accept4(listener->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR) {
                continue;
            }
            if ((errno == EMFILE || errno == ENFILE)
                && sp_stats_accept_spare(worker, listener->fd) != 0) {
                sp_log_error(worker->log, errno, "stats: accept4() failed; "
                             "pausing for %d ms", SP_STATS_RETRY_MS);
                sp_event_modify(worker->loop, listener->fd, 0);
                sp_timer_add(worker->loop, &listener->timer,
                             SP_STATS_RETRY_MS, sp_stats_resume, listener);
            }
            return;
        }
        sp_stats_serve(worker, fd);     /* takes fd */
    }
}

/* ---- the channel and signals ---------------------------------------------- */

/* A client handed over from a retiring worker (reload): serve it. */
static void
sp_worker_adopt(struct sp_worker *worker, const struct sp_channel_msg *msg,
                int fd)
{
    struct sp_pool *pool;
    struct sp_conn *client;

    if (fd >= 0 && worker->draining && worker->handoff && worker->channel != NULL
        && msg->slot >= 0 && (uint32_t)msg->slot < worker->npools) {
        /* retiring ourselves: straight back, for a current worker */
        struct sp_channel_msg back = *msg;
        back.command = SP_CHANNEL_HANDOFF;
        back.pid = worker->pid;
        if (sp_channel_send(worker->channel->fd, &back, fd) == 0) {
            close(fd);
            return;
        }
        /* the channel is full: serve it for now, the drain tick hands it
         * over at its (immediate) boundary */
    }
    if (fd < 0 || msg->slot < 0 || (uint32_t)msg->slot >= worker->npools
        || (worker->draining && !worker->handoff)) {
        sp_log_warn(worker->log, 0, "channel: cannot adopt a client (pool "
                    "%d, fd %d)", msg->slot, fd);
        if (fd >= 0) {
            close(fd);
        }
        return;
    }
    pool = &worker->pools[msg->slot];
    atomic_fetch_add(&worker->shared->pool_clients[pool->index], 1);
    client = sp_client_open(pool, fd, (msg->arg & SP_CHANNEL_AUTHENTICATED) != 0);
    if (client == NULL) {
        atomic_fetch_sub(&worker->shared->pool_clients[pool->index], 1);
        close(fd);
        return;
    }
    if (msg->session_len > 0 && msg->session_len <= sizeof(msg->session)
        && pool->proto->session_restore != NULL) {
        pool->proto->session_restore(client, msg->session, msg->session_len);
    }
    worker->adopted++;
}

/* A Sentinel pool's servers read their address from the shared region,
 * and with read_from their replicas; `first` is the pool's first server
 * there. 0 / -1 (out of memory). */
static int
sp_worker_sentinel_init(struct sp_worker *worker, struct sp_pool *pool,
                        uint32_t first)
{
    if (pool->conf->nsentinels == 0) {
        return 0;
    }
    for (uint32_t j = 0; j < pool->nservers; j++) {
        struct sp_server *server = &pool->servers[j];
        char text[SP_CHANNEL_NAME + 64];

        server->addr_slot = sp_shared_addr(worker->shared, first + j);
        snprintf(text, sizeof(text), "-ERR server '%s' switched to a new "
                 "master\r\n", server->conf->name);
        server->switch_error = strdup(text);
        if (server->switch_error == NULL) {
            return -1;
        }
        if (pool->conf->read_from != SP_READ_PRIMARY
            && sp_replica_set_init(server, sp_shared_replicas(
                                       worker->shared, first + j)) != 0) {
            return -1;
        }
    }
    return 0;
}

/* A Redis Cluster pool: every server (a node) reads its address from the
 * shared region, the map from the pool's cluster region. 0 / -1. */
static int
sp_worker_cluster_init(struct sp_worker *worker, struct sp_pool *pool,
                       const struct sp_conf *conf, uint32_t first)
{
    struct sp_shared_cluster *region = sp_shared_cluster(worker->shared, conf,
                                                         pool->index);

    if (region == NULL) {
        return 0;
    }
    for (uint32_t j = 0; j < pool->nservers; j++) {
        pool->servers[j].addr_slot = sp_shared_addr(worker->shared, first + j);
    }
    return sp_cluster_view_init(pool, region);
}

/* The master published a new address for a server (SP_CHANNEL_SWITCH). */
static void
sp_worker_switch(struct sp_worker *worker, const struct sp_channel_msg *msg)
{
    if (msg->slot < 0 || (uint32_t)msg->slot >= worker->npools) {
        return;
    }
    struct sp_pool *pool = &worker->pools[msg->slot];
    if (msg->arg < 0 || (uint64_t)msg->arg >= pool->nservers
        || pool->servers[msg->arg].addr_slot == NULL) {
        return;
    }
    sp_server_switch(&pool->servers[msg->arg]);
}

static void
sp_worker_channel_read(struct sp_worker *worker)
{
    struct sp_channel_msg msg;
    unsigned dropped = 0;
    int fd, rc;

    while ((rc = sp_channel_recv(worker->channel->fd, &msg, &fd, &dropped)) > 0) {
        if (msg.command == SP_CHANNEL_ADOPT) {
            sp_worker_adopt(worker, &msg, fd);
            continue;
        }
        if (msg.command == SP_CHANNEL_ANSWER) {
            sp_ask_collect(worker, &msg, fd);       /* takes fd */
            continue;
        }
        if (fd >= 0) {
            close(fd);          /* no other command carries one */
        }
        sp_log_info(worker->log, "channel: %s", sp_channel_cmd_name(msg.command));
        switch (msg.command) {
        case SP_CHANNEL_QUIT:
            sp_worker_drain(worker, false);
            break;
        case SP_CHANNEL_RETIRE:
            sp_worker_drain(worker, true);
            break;
        case SP_CHANNEL_TERMINATE:
            worker->stop = true;
            break;
        case SP_CHANNEL_REOPEN:
            sp_log_rotate(worker->log);
            break;
        case SP_CHANNEL_LOG_LEVEL:
            sp_log_level_step(worker->log, (int)msg.arg);
            break;
        case SP_CHANNEL_ASK:
            sp_ask_answer(worker, &msg);
            break;
        case SP_CHANNEL_ASKED:
            sp_ask_asked(worker, &msg);
            break;
        case SP_CHANNEL_SWITCH:
            sp_worker_switch(worker, &msg);
            break;
        default:
            sp_log_warn(worker->log, 0, "channel: unknown command %u",
                        msg.command);
            break;
        }
    }
    if (dropped > 0) {
        sp_log_error(worker->log, EBADMSG, "channel: %u message%s cut short "
                     "(out of descriptors?); skipped", dropped,
                     dropped == 1 ? "" : "s");
    }
    if (sp_channel_gone(rc)) {
        /* the master is gone: no orphan keeps serving on its ports */
        sp_log_warn(worker->log, rc == 0 ? 0 : errno, "the master is gone; "
                    "draining and exiting");
        sp_conn_free(worker->channel);
        worker->channel = NULL;
        sp_worker_drain(worker, false);
    }
}

const int sp_worker_signal_set[] = {
    SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU,
    SIGWINCH, 0
};

/* Act on the signals that arrived during the wait. */
static void
sp_worker_signals(struct sp_worker *worker)
{
    int signo;

    while ((signo = sp_signals_next(worker->signals, sp_worker_signal_set,
                                    worker->log)) != 0) {
        switch (signo) {
        case SIGINT:
        case SIGTERM:
            worker->stop = true;
            break;
        case SIGQUIT:
            sp_worker_drain(worker, false);
            break;
        case SIGUSR1:
            sp_log_rotate(worker->log);
            break;
        case SIGTTIN:
            sp_log_level_step(worker->log, 1);
            break;
        case SIGTTOU:
            sp_log_level_step(worker->log, -1);
            break;
        default:
            break;      /* HUP, USR2, WINCH: the master's business */
        }
    }
}

/* ---- the drain -------------------------------------------------------------- */

static void
sp_worker_drain_tick(struct sp_event_loop *loop, struct sp_timer *timer);

static void
sp_worker_shutdown_timeout(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_worker *worker = timer->data;

    if (worker->handoff && worker->nclients > 0) {
        /* a retiring worker still holds clients it could not hand over
         * (TLS ones: sp_worker_client_idle): each is closed at its next
         * request boundary from now on, and what is left after the grace
         * is closed as it is */
        sp_log_notice(worker->log, "worker_shutdown_timeout (%d s): closing "
                      "%u client%s that could not be handed over at their "
                      "next request boundary", worker->conf->global.worker_shutdown_timeout,
                      worker->nclients, worker->nclients == 1 ? "" : "s");
        worker->handoff = false;
        sp_timer_add(loop, &worker->shutdown_timer, SP_DRAIN_GRACE_MS,
                     sp_worker_shutdown_timeout, worker);
        sp_worker_drain_tick(loop, &worker->drain_timer);
        return;
    }
    (void)loop;
    sp_log_warn(worker->log, 0, "worker_shutdown_timeout (%d s): closing "
                "%u client%s still open", worker->conf->global.worker_shutdown_timeout,
                worker->nclients, worker->nclients == 1 ? "" : "s");
    worker->stop = true;
}

/* While draining: walk the clients for boundaries (handoffs to retry). */
static void
sp_worker_drain_tick(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_worker *worker = timer->data;
    struct sp_conn *conn, *next;

    for (uint32_t i = 0; i < worker->npools; i++) {
        struct sp_pool *pool = &worker->pools[i];
        for (conn = TAILQ_FIRST(&pool->clients); conn != NULL; conn = next) {
            next = TAILQ_NEXT(conn, link);
            sp_worker_client_idle(conn);
        }
    }
    if (worker->nclients > 0) {
        sp_timer_add(loop, &worker->drain_timer, SP_DRAIN_TICK_MS,
                     sp_worker_drain_tick, worker);
    }
}

void
sp_worker_drain(struct sp_worker *worker, bool handoff)
{
    if (worker->draining) {
        worker->handoff = worker->handoff && handoff;   /* QUIT wins */
        return;
    }
    worker->draining = true;
    worker->handoff = handoff && worker->channel != NULL;
    sp_log_notice(worker->log, "draining: %u client%s%s", worker->nclients,
                  worker->nclients == 1 ? "" : "s",
                  worker->handoff ? ", each handed over at its next request "
                                    "boundary" : "");
    sp_accept_stop(worker);
    while (!TAILQ_EMPTY(&worker->lingering)) {
        sp_client_linger_end(TAILQ_FIRST(&worker->lingering));
    }
    if (worker->conf->global.worker_shutdown_timeout > 0) {
        sp_timer_add(worker->loop, &worker->shutdown_timer,
                     (uint64_t)worker->conf->global.worker_shutdown_timeout * 1000,
                     sp_worker_shutdown_timeout, worker);
    }
    worker->drain_timer.data = worker;
    sp_worker_drain_tick(worker->loop, &worker->drain_timer);
}

/* Send client to the master for a new-generation worker. 0, or -1 (EAGAIN:
 * try again later; other errors: close it instead). */
static int
sp_worker_hand_off(struct sp_conn *client)
{
    struct sp_worker *worker = client->worker;
    const struct sp_proto *proto = client->pool->proto;
    struct sp_channel_msg msg = {
        .command = SP_CHANNEL_HANDOFF,
        .slot = (int32_t)client->pool->index,
        .pid = worker->pid,
        .arg = client->authenticated ? SP_CHANNEL_AUTHENTICATED : 0,
    };

    if (proto->session_save != NULL) {
        int len = proto->session_save(client, msg.session, sizeof(msg.session));

        if (len < 0) {
            errno = EAGAIN;     /* mid-transaction: at a later boundary */
            return -1;
        }
        msg.session_len = (uint32_t)len;
    }
    return sp_channel_send(worker->channel->fd, &msg, client->fd);
}

bool
sp_worker_client_idle(struct sp_conn *client)
{
    struct sp_worker *worker = client->worker;

    if (!worker->draining || !SP_MSGQ_EMPTY(&client->queue)
        || client->in_end != client->in_base || client->lingering
        || client->closing) {
        return false;
    }
    /* a request boundary: every request read is answered, nothing partial
     * is buffered; whatever the client sends next stays in the socket */
    if (worker->handoff && client->io->release(client) != 0) {
        /* a reload: its TLS session lives in this process (no kernel TLS
         * to carry it), so it cannot be handed over; it is served on by
         * this generation until it leaves, or until worker_shutdown_timeout
         * (the drain limit). EAGAIN (a send under way): at a later
         * boundary. */
        return false;
    }
    if (worker->handoff && worker->channel != NULL && !client->eof) {
        if (sp_worker_hand_off(client) != 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS
                || errno == ETOOMANYREFS) {
                return false;       /* the drain tick tries again */
            }
            sp_log_warn(worker->log, errno, "cannot hand a client over; "
                        "closing it");
        } else {
            worker->handed_off++;
            client->fd_shared = true;   /* the master holds it in flight */
        }
    }
    sp_client_close(client);
    return true;
}

/* ---- events and flush ------------------------------------------------------- */

static void sp_worker_flush_pass(struct sp_worker *worker);

void
sp_worker_on_event(struct sp_event_loop *loop, int fd, uint32_t ready,
                   void *data)
{
    struct sp_conn *conn = data;

    (void)loop;
    (void)fd;
    switch (conn->kind) {
    case SP_CONN_LISTENER:
        (void)sp_client_accept(conn, SP_ACCEPT_BATCH);
        break;
    case SP_CONN_CLIENT:
        sp_client_on_event(conn, ready);
        break;
    case SP_CONN_SERVER:
        sp_server_on_event(conn, ready);
        break;
    case SP_CONN_STATS:
        sp_stats_accept(conn);
        break;
    case SP_CONN_CHANNEL:
        sp_worker_channel_read(conn->worker);
        break;
    }
}

void
sp_worker_io_event(struct sp_event_loop *loop, int fd, uint32_t ready,
                   void *data)
{
    struct sp_conn *conn = data;

    ready = conn->io->event(conn, ready);
    if (ready != 0) {
        sp_worker_on_event(loop, fd, ready, data);
    }
}

void
sp_worker_flush(struct sp_worker *worker)
{
    do {
        sp_worker_flush_pass(worker);
        /* io_uring: the pass staged its sends; they go out in one call,
         * and the connections whose sends are done flush again */
    } while (worker->ring_sends && sp_io_ring_submit(worker->loop));
}

static void
sp_worker_flush_pass(struct sp_worker *worker)
{
    struct sp_conn *conn;

    /* requests out first, then replies; a flush may queue more of either,
     * and so may reading the clients the budget held back once it allows */
    while ((conn = TAILQ_FIRST(&worker->flush_servers)) != NULL
           || (conn = TAILQ_FIRST(&worker->flush_clients)) != NULL
           || (sp_flow_resume(worker)
               && ((conn = TAILQ_FIRST(&worker->flush_servers)) != NULL
                   || (conn = TAILQ_FIRST(&worker->flush_clients)) != NULL))) {
        struct sp_conn_list *list = conn->kind == SP_CONN_SERVER
                                    ? &worker->flush_servers
                                    : &worker->flush_clients;
        TAILQ_REMOVE(list, conn, flush_link);
        conn->in_flush = false;
        if (conn->kind == SP_CONN_SERVER) {
            sp_server_flush(conn);
        } else {
            sp_client_flush(conn);
        }
    }
}

/*
 * Give back what a past burst left: the free lists' surplus (sp_trim.h),
 * scratch arrays grown for one huge request (they are used only within a
 * call, so they are free here), and then the pages themselves (sp_alloc.h).
 */
/* Segment arrays in the buffers' cache (sp_seg.h). */
static uint64_t
sp_worker_free_arrays(const struct sp_worker *worker)
{
    uint64_t n = 0;

    for (int c = 0; c < SP_SEG_CLASSES; c++) {
        n += worker->mbufs.segs.nfree[c];
    }
    return n;
}

static void
sp_worker_trim(struct sp_worker *worker)
{
    uint64_t before = (uint64_t)worker->mbufs.nfree + worker->nfree_msgs
                      + worker->nfree_exts + worker->parses.nfree
                      + sp_worker_free_arrays(worker);
    bool released = false;

    sp_mbuf_pool_trim(&worker->mbufs, SP_MBUF_KEEP);
    sp_seg_cache_trim(&worker->mbufs, SP_SEGS_KEEP, false);
    sp_msg_trim(worker, SP_MSG_KEEP);
    sp_client_parse_trim(&worker->parses, SP_PARSE_KEEP);
    released = (uint64_t)worker->mbufs.nfree + worker->nfree_msgs
               + worker->nfree_exts + worker->parses.nfree
               + sp_worker_free_arrays(worker) < before;
    if (worker->scratch_cap > SP_SCRATCH_KEEP) {
        free(worker->scratch);
        worker->scratch = NULL;
        worker->scratch_cap = 0;
        released = true;
    }
    if ((size_t)worker->args_cap * sizeof(*worker->args) > SP_SCRATCH_KEEP) {
        free(worker->args);
        worker->args = NULL;
        worker->args_cap = 0;
        released = true;
    }
    if (released) {
        sp_alloc_purge();
    } else {
        sp_alloc_decay();
    }
}

static void
sp_worker_tick(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_worker *worker = timer->data;

    sp_worker_trim(worker);
    sp_flow_tick(worker);
    sp_worker_publish(worker);
    for (uint32_t i = 0; i < worker->npools; i++) {
        struct sp_pool *pool = &worker->pools[i];
        uint64_t now = sp_event_now_ms(loop);
        if (now - pool->hot.since_ms >= SP_HOT_WINDOW_MS) {
            sp_hot_publish(&pool->hot, pool->hot_view, now);
        }
    }
    sp_timer_add(loop, &worker->tick, SP_TICK_MS, sp_worker_tick, worker);
}

int
sp_worker_run(struct sp_worker *worker)
{
    while (!worker->stop) {
        int wait_ms = sp_accept_cycle(worker);

        if (sp_defer_pending(worker)) {
            wait_ms = 0;            /* steps to do: look at events, no sleep */
        }
        if (sp_event_poll(worker->loop, wait_ms) < 0) {
            sp_log_error(worker->log, errno, "event loop failed");
            return -1;
        }
        /* the loop turned (at least once a second: the tick): the master's
         * watchdog reads it; one store, no syscall */
        atomic_store_explicit(worker->heartbeat,
                              (long long)sp_event_now_ms(worker->loop),
                              memory_order_relaxed);
        sp_worker_flush(worker);
        if (sp_defer_pending(worker)) {
            sp_defer_run(worker);
            sp_worker_flush(worker);
        }
        sp_worker_signals(worker);
        if (worker->draining && worker->nclients == 0 && worker->channel != NULL) {
            /* a client passed to us just before our drain began may wait
             * in the channel (its RETIRE came as a signal, the channel
             * being full): take it now, or it dies with our end of the
             * channel */
            sp_worker_channel_read(worker);
        }
        if (worker->draining && worker->nclients == 0) {
            sp_log_notice(worker->log, "drained: exiting (%llu client%s "
                          "handed over)", (unsigned long long)worker->handed_off,
                          worker->handed_off == 1 ? "" : "s");
            break;
        }
    }
    return 0;
}

/* ---- creation ------------------------------------------------------------------ */

/*
 * The descriptors in opts become the worker's only when creation succeeds;
 * on failure the caller still owns (and closes) them. So they are wrapped
 * last, and a failure after that gives them back before the unwinding.
 */
static void
sp_worker_disown(struct sp_worker *worker)
{
    for (uint32_t i = 0; i < worker->npools; i++) {
        if (worker->pools[i].listener != NULL) {
            sp_event_del(worker->loop, worker->pools[i].listener->fd);
            worker->pools[i].listener->fd = -1;
        }
    }
    if (worker->stats_listener != NULL) {
        sp_event_del(worker->loop, worker->stats_listener->fd);
        worker->stats_listener->fd = -1;
    }
    if (worker->channel != NULL) {
        sp_event_del(worker->loop, worker->channel->fd);
        worker->channel->fd = -1;
    }
}

static int
sp_worker_wrap(struct sp_worker *worker, const struct sp_worker_options *opts)
{
    for (uint32_t i = 0; i < worker->npools; i++) {
        struct sp_pool *pool = &worker->pools[i];
        pool->listener = sp_conn_new(worker, opts->listen_fds[i],
                                     SP_CONN_LISTENER);
        if (pool->listener == NULL) {
            return -1;
        }
        pool->listener->pool = pool;
        pool->listen_shared = opts->listen_shared[i];
    }
    if (opts->stats_fd >= 0) {
        worker->stats_listener = sp_conn_new(worker, opts->stats_fd,
                                             SP_CONN_STATS);
        if (worker->stats_listener == NULL) {
            return -1;
        }
    }
    if (opts->channel_fd >= 0) {
        worker->channel = sp_conn_new(worker, opts->channel_fd,
                                      SP_CONN_CHANNEL);
        if (worker->channel == NULL) {
            return -1;
        }
    }
    return 0;
}

/* The server connections a worker may open: servers x server_connections
 * over its pools (the descriptor reserve, sp_reserve.h). */
static uint32_t
sp_worker_server_conns(const struct sp_conf *conf)
{
    uint64_t n = 0;

    for (uint32_t i = 0; i < conf->npools; i++) {
        n += (uint64_t)conf->pools[i].nservers
             * (uint64_t)conf->pools[i].server_connections;
    }
    return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

static const char *
sp_worker_backend_name(const struct sp_conf *conf)
{
    return conf->global.event_backend == SP_EVENT_BACKEND_URING ? "io_uring"
                                                                : "epoll";
}

void
sp_worker_backend_check(struct sp_conf *conf, struct sp_log *log)
{
    int err = 0;

    if (conf->global.event_backend == SP_EVENT_BACKEND_EPOLL
        || sp_event_backend_usable(sp_worker_backend_name(conf), &err)) {
        return;
    }
    sp_log_warn(log, err, "event_backend io_uring is not available here%s; "
                "the workers use epoll",
                err == ENOSYS ? " (not built in, or no io_uring in the kernel)"
                : err == EPERM ? " (disabled: kernel.io_uring_disabled)" : "");
    conf->global.event_backend = SP_EVENT_BACKEND_EPOLL;
}

/* The worker's loop on the configured backend; epoll when io_uring fails
 * even so (the master checked it could run: this is unexpected). */
static struct sp_event_loop *
sp_worker_loop_create(const struct sp_conf *conf, struct sp_log *log)
{
    struct sp_event_loop *loop =
        sp_event_loop_create_with(0, 0, log, sp_worker_backend_name(conf));

    if (loop == NULL && conf->global.event_backend != SP_EVENT_BACKEND_EPOLL) {
        sp_log_warn(log, errno, "cannot set up io_uring; this worker uses "
                    "epoll");
        loop = sp_event_loop_create(0, 0, log);
    }
    return loop;
}

struct sp_worker *
sp_worker_create(const struct sp_conf *conf,
                 const struct sp_worker_options *opts, struct sp_log *log)
{
    struct sp_worker *worker = calloc(1, sizeof(*worker));
    uint32_t server_at = 0;

    if (worker == NULL) {
        sp_log_error(log, ENOMEM, "cannot create the worker");
        return NULL;
    }
    worker->log = log;
    worker->conf = conf;
    worker->shared = opts->shared;
    worker->index = opts->index;
    worker->slot = sp_shared_slot(opts->shared, opts->index);
    worker->heartbeat = sp_shared_heartbeat(opts->shared, opts->index);
    worker->has_master = opts->has_master;
    worker->pid = (long)getpid();
    worker->accept_lock = opts->accept_lock;
    worker->accept_threshold = opts->accept_threshold;
    worker->signals = opts->signals;
    worker->slowlog_us = (uint64_t)conf->global.slowlog_threshold * 1000;
    worker->histograms = conf->global.latency_histograms;
    worker->started_s = (int64_t)time(NULL);
    worker->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    TAILQ_INIT(&worker->flush_servers);
    TAILQ_INIT(&worker->flush_clients);
    TAILQ_INIT(&worker->lingering);
    SP_MSGQ_INIT(&worker->deferred);
    TAILQ_INIT(&worker->oneshots);
    sp_mbuf_pool_init(&worker->mbufs, opts->mbuf_size);
    sp_client_parse_pool_init(&worker->parses, sp_proto_parse_size());
    sp_flow_init(worker, worker->shared->header->nslots);
    /* allocations show in the shared stats at once (steady state must be
     * seen allocating nothing); the other free-list figures each second */
    worker->mbufs.nalloc_shown = &worker->slot->buffers_allocated;

    worker->loop = sp_worker_loop_create(conf, log);
    if (worker->loop == NULL) {
        sp_log_error(log, errno, "cannot create the event loop");
        goto fail;
    }
    worker->ring_sends = sp_event_sends(worker->loop);
    if (worker->ring_sends) {
        sp_io_ring_attach(worker->loop);
    }
    if (opts->signals != NULL) {
        sp_event_set_wait_sigmask(worker->loop, &opts->signals->wait_mask);
    }
    worker->started_ms = sp_event_now_ms(worker->loop);

    worker->pools = calloc(conf->npools, sizeof(*worker->pools));
    if (worker->pools == NULL) {
        sp_log_error(log, ENOMEM, "cannot create the pools");
        goto fail;
    }
    for (uint32_t i = 0; i < conf->npools; i++) {
        worker->npools = i + 1;
        if (sp_pool_init(&worker->pools[i], worker, i, &conf->pools[i],
                         sp_shared_pool_stats(opts->shared, opts->index, i),
                         sp_shared_server_stats(opts->shared, opts->index,
                                                server_at)) != 0) {
            sp_log_error(log, ENOMEM, "pool '%s': cannot set up",
                         conf->pools[i].name);
            goto fail;
        }
        if (sp_worker_sentinel_init(worker, &worker->pools[i], server_at) != 0
            || sp_worker_cluster_init(worker, &worker->pools[i], conf,
                                      server_at) != 0) {
            sp_log_error(log, ENOMEM, "pool '%s': cannot set up",
                         conf->pools[i].name);
            goto fail;
        }
        server_at += conf->pools[i].nservers;
        worker->pools[i].hot_view = sp_shared_pool_hot(opts->shared,
                                                       opts->index, i);
        worker->pools[i].hot.since_ms = worker->started_ms;
        worker->pools[i].conf_hot_keys = conf->global.hot_keys;
    }
    if (sp_worker_wrap(worker, opts) != 0) {
        sp_log_error(log, ENOMEM, "cannot create the listeners");
        goto fail;
    }
    if (sp_reserve_init(&worker->reserve, sp_worker_server_conns(conf),
                        log) != 0) {
        sp_log_error(log, ENOMEM, "cannot reserve the server descriptors");
        goto fail;
    }
    if (sp_accept_start(worker) != 0
        || (worker->stats_listener != NULL
            && sp_conn_register(worker->stats_listener) != 0)
        || (worker->channel != NULL && sp_conn_register(worker->channel) != 0)) {
        sp_log_error(log, errno, "cannot watch the listeners");
        goto fail;
    }
    for (uint32_t i = 0; i < worker->npools; i++) {
        if (worker->pools[i].conf->preconnect) {
            sp_pool_preconnect(&worker->pools[i]);
        }
    }
    sp_timer_add(worker->loop, &worker->tick, SP_TICK_MS, sp_worker_tick,
                 worker);
    /* serving: the master counts the slot from now on */
    worker->slot->worker = opts->index;
    worker->slot->started_s = worker->started_s;
    worker->slot->pid = worker->pid;
    return worker;

fail:
    sp_worker_disown(worker);
    sp_worker_destroy(worker);
    return NULL;
}

void
sp_worker_destroy(struct sp_worker *worker)
{
    if (worker == NULL) {
        return;
    }
    while (!TAILQ_EMPTY(&worker->lingering)) {
        sp_client_linger_end(TAILQ_FIRST(&worker->lingering));
    }
    sp_ask_drop_all(worker);                /* before the clients close */
    sp_reserve_deinit(&worker->reserve);    /* before the servers close */
    for (uint32_t i = 0; i < worker->npools; i++) {
        sp_pool_deinit(&worker->pools[i]);
    }
    free(worker->pools);
    sp_defer_drop_all(worker);
    if (worker->stats_listener != NULL) {
        sp_conn_free(worker->stats_listener);
    }
    if (worker->channel != NULL) {
        sp_conn_free(worker->channel);
    }
    sp_oneshot_drop_all(&worker->oneshots);
    if (worker->loop != NULL) {
        sp_timer_del(worker->loop, &worker->tick);
        sp_timer_del(worker->loop, &worker->shutdown_timer);
        sp_timer_del(worker->loop, &worker->drain_timer);
    }
    sp_msg_free_all(worker);
    sp_client_parse_free_all(&worker->parses);
    if (worker->read_spare != NULL) {
        sp_mbuf_unref(&worker->mbufs, worker->read_spare);
    }
    sp_mbuf_pool_destroy(&worker->mbufs);
    free(worker->scratch);
    free(worker->args);
    free(worker->read_later);
    if (worker->spare_fd >= 0) {
        close(worker->spare_fd);
    }
    if (worker->loop != NULL) {
        sp_event_loop_destroy(worker->loop);
    }
    free(worker);
}

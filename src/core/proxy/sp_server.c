/*
 * sp_server.c — server connections (see sp_server.h).
 *
 *   sp_server_connect ─► connecting ─(writable, SO_ERROR 0)─► connected
 *   (its descriptor comes from the worker's reserve, sp_reserve.h)
 *   enqueue: msg ─► queue ─(flush: writev)─► inflight ─(reply)─► part done
 *   error / EOF / timeout / bad reply: sp_server_close fails every queued
 *   and in-flight request with an error reply, counts a server failure.
 *
 * Replies are matched to requests by order, so when one request times out
 * the connection is closed: the replies after it could no longer be matched
 * (nutcracker does the same; README says so). One timer per connection
 * covers the oldest in-flight request; it is checked when it fires rather
 * than re-armed per request. Its limit is the connection's (sc->timeout):
 * the pool's, or on a connection lent for a blocking call, the call's own
 * timeout plus the pool's (none for a call that waits for ever).
 *
 * The blocking set (sp_server_lend): lent ─(the call answered)─► idle ─►
 * lent again; closed instead when its client leaves mid-call, on an
 * error or timeout, or with the pool.
 */
#include "sp_server.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sp_channel.h"
#include "sp_client.h"
#include "sp_flow.h"
#include "sp_net.h"
#include "sp_replica.h"
#include "sp_shared.h"
#include "sp_tls.h"
#include "sp_worker.h"

#define SP_IOV_MAX      1024

/* ---- completing requests ------------------------------------------------- */

void
sp_msg_part_done(struct sp_worker *worker, struct sp_msg *msg)
{
    struct sp_msg *parent = sp_msg_parent(msg);
    struct sp_msg *top = parent != NULL ? parent : msg;

    if (msg->internal) {
        sp_msg_put(worker, msg);
        return;
    }
    if (top->pending > 0) {
        top->pending--;
    }
    if (top->pending > 0) {
        return;
    }
    if (!sp_msg_pool(top)->proto->complete(worker, top)) {
        return;     /* merged in steps: sp_defer.h takes it on */
    }
    if (sp_msg_client(top) == NULL) {
        sp_msg_put(worker, top);       /* orphan: its client left */
        return;
    }
    sp_client_reply_ready(top);
}

/* ---- connecting ------------------------------------------------------------ */

static void sp_server_timeout(struct sp_event_loop *loop, struct sp_timer *timer);

/* The deadline of a connect: `timeout`, and with server_tls the
 * handshake's too (tls_handshake_timeout, when shorter or no timeout). */
static int
sp_server_connect_timeout(const struct sp_conf_pool *conf)
{
    if (conf->server_tls.enabled
        && (conf->timeout <= 0 || conf->timeout > conf->tls_handshake_timeout)) {
        return conf->tls_handshake_timeout;
    }
    return conf->timeout;
}

static void
sp_server_arm_connect_timer(struct sp_conn *conn)
{
    int timeout = sp_server_connect_timeout(conn->pool->conf);

    if (timeout > 0) {
        sp_timer_add(conn->worker->loop, &conn->timer, (uint64_t)timeout,
                     sp_server_timeout, conn);
    }
}

static void
sp_server_arm_timer(struct sp_conn *conn)
{
    int timeout = sp_sconn(conn)->timeout;

    if (timeout > 0 && !conn->timer.armed) {
        sp_timer_add(conn->worker->loop, &conn->timer, (uint64_t)timeout,
                     sp_server_timeout, conn);
    }
}

/* Bytes of the proxy's own on conn, their reply checked by the protocol
 * (internal) or none expected (noreply). */
static int
sp_server_queue_own(struct sp_conn *conn, const void *bytes, uint32_t len,
                    bool noreply)
{
    struct sp_worker *worker = conn->worker;
    struct sp_msg *msg = sp_msg_get(worker);

    if (msg == NULL) {
        return -1;
    }
    msg->internal = true;
    msg->noreply = noreply;
    sp_msg_set_pool(msg, conn->pool);   /* before its ext (sp_msg.h) */
    if (sp_msg_gen_reserve(msg, len) != 0
        || sp_msg_gen_push(msg, &msg->req, bytes, len) != 0) {
        sp_msg_put(worker, msg);
        return -1;
    }
    sp_server_enqueue(conn, msg);
    return 0;
}

int
sp_server_internal(struct sp_conn *conn, const void *bytes, uint32_t len)
{
    return sp_server_queue_own(conn, bytes, len, false);
}

/*
 * A dead server must not flood the log: the first failed connect of a
 * streak is logged, later ones are counted and summed up in one line per
 * server per second at most; a connect that succeeds ends the streak.
 */
static void
sp_server_connect_failed(struct sp_server *server, int err)
{
    struct sp_worker *worker = server->pool->worker;
    uint64_t now = sp_event_now_ms(worker->loop);

    if (!server->fail_streak) {
        server->fail_streak = true;
        server->fail_log_ms = now;
        server->fail_unlogged = 0;
        if (server->primary != NULL) {
            const struct sp_conf_addr *addr = sp_replica_addr(server);
            sp_log_warn(worker->log, err, "pool '%s': connect to replica "
                        "%s:%u of server '%s' failed",
                        server->pool->conf->name, addr->host,
                        (unsigned)addr->port, server->conf->name);
            return;
        }
        sp_log_warn(worker->log, err, "pool '%s': connect to server '%s' "
                    "failed", server->pool->conf->name, server->conf->name);
        return;
    }
    server->fail_unlogged++;
    if (now - server->fail_log_ms >= 1000) {
        sp_log_warn(worker->log, err, "pool '%s': connect to server '%s' "
                    "failed: %u more connect failures in the last second",
                    server->pool->conf->name, server->conf->name,
                    server->fail_unlogged);
        server->fail_log_ms = now;
        server->fail_unlogged = 0;
    }
}

/* A connect succeeded: the streak ends (what it did not log, said now). */
static void
sp_server_connect_ok(struct sp_server *server)
{
    if (server->fail_streak && server->fail_unlogged > 0) {
        sp_log_notice(server->pool->worker->log, "pool '%s': server '%s' "
                      "connected after %u more connect failures",
                      server->pool->conf->name, server->conf->name,
                      server->fail_unlogged);
    }
    server->fail_streak = false;
    server->fail_unlogged = 0;
}

/* Connect to the server's current address: the one its Sentinel named
 * (published by the master, sp_shared.h), else the configuration's. */
static int
sp_server_connect_addr(struct sp_server *server)
{
    struct sp_shared_addr_copy now;
    struct sp_conf_addr addr;

    if (server->primary != NULL) {
        return sp_net_connect(sp_replica_addr(server));     /* a replica */
    }
    if (server->addr_slot == NULL) {
        return sp_net_connect(&server->conf->addr);
    }
    sp_shared_addr_get(server->addr_slot, &now);
    if (now.version == 0) {
        return sp_net_connect(&server->conf->addr);
    }
    memset(&addr, 0, sizeof(addr));
    addr.host = now.host;
    addr.port = now.port;
    return sp_net_connect(&addr);
}

/* A new connection of the set its arguments name: shared (no owner, not
 * dedicated), pinned to owner, or dedicated. */
static struct sp_conn *
sp_server_open(struct sp_server *server, uint8_t variant,
               struct sp_conn *owner, bool dedicated)
{
    struct sp_pool *pool = server->pool;
    struct sp_worker *worker = pool->worker;
    const struct sp_conf_pool *conf = pool->conf;
    struct sp_conn *conn;
    int fd;

    sp_reserve_release(&worker->reserve);   /* its descriptor is free */
    fd = sp_server_connect_addr(server);
    if (fd < 0) {
        int err = errno;
        sp_reserve_return(&worker->reserve);
        sp_server_connect_failed(server, err);
        errno = err;
        return NULL;
    }
    conn = sp_conn_new(worker, fd, SP_CONN_SERVER);
    if (conn == NULL) {
        close(fd);
        sp_reserve_return(&worker->reserve);
        errno = ENOMEM;
        return NULL;
    }
    conn->pool = pool;
    sp_sconn(conn)->server = server;
    sp_sconn(conn)->timeout = conf->timeout;
    sp_sconn(conn)->connecting = true;
    sp_sconn(conn)->variant = variant;
    sp_sconn(conn)->pinned = owner != NULL;
    sp_sconn(conn)->owner = owner;
    sp_sconn(conn)->dedicated = dedicated;
    if (!server->conf->addr.is_unix) {
        sp_net_set_nodelay(fd);
    }
    if (conf->tcpkeepalive) {
        sp_net_set_keepalive(fd);
    }
    if (sp_conn_register(conn) != 0) {
        int err = errno;
        sp_conn_free(conn);
        sp_reserve_return(&worker->reserve);
        errno = err;
        return NULL;
    }
    if (conf->server_tls.enabled && sp_tls_connect(conn) != 0) {
        int err = errno;
        sp_log_error(worker->log, err, "pool '%s': cannot set up TLS toward "
                     "server '%s'", conf->name, server->conf->name);
        sp_conn_free(conn);
        sp_reserve_return(&worker->reserve);
        errno = err;
        return NULL;
    }
    if (owner == NULL && !dedicated) {
        /* the shared sets first: sp_server_conn's walk meets them before
         * the lent and dedicated ones, however many of those there are */
        TAILQ_INSERT_HEAD(&server->conns, conn, link);
    } else {
        TAILQ_INSERT_TAIL(&server->conns, conn, link);
    }
    server->nconns++;
    if (owner != NULL) {
        server->npinned++;
    } else if (dedicated) {
        server->ndedicated++;
    } else {
        server->nshared[variant]++;
    }
    server->stats->server_connections++;
    sp_server_arm_connect_timer(conn);

    if (pool->proto->server_init(conn) != 0) {
        sp_server_close(conn, pool->proto->error_reply(ENOMEM));
        errno = ENOMEM;
        return NULL;
    }
    return conn;
}

struct sp_conn *
sp_server_connect(struct sp_server *server, uint8_t variant,
                  struct sp_conn *owner)
{
    return sp_server_open(server, variant, owner, false);
}

struct sp_conn *
sp_server_dedicated(struct sp_server *server, uint8_t variant)
{
    return sp_server_open(server, variant, NULL, true);
}

bool
sp_server_dedicated_idle(struct sp_conn *sconn)
{
    return SP_MSGQ_EMPTY(&sp_sconn(sconn)->inflight);
}

int
sp_server_send_raw(struct sp_conn *sconn, const void *bytes, uint32_t len)
{
    return sp_server_queue_own(sconn, bytes, len, true);   /* out of band */
}

struct sp_conn *
sp_server_conn(struct sp_server *server, uint8_t variant)
{
    uint32_t limit = (uint32_t)server->pool->conf->server_connections;
    struct sp_conn *conn, *first = NULL;

    if (server->nshared[variant] < limit) {
        return sp_server_connect(server, variant, NULL);
    }
    uint32_t pick = server->next_conn[variant]++ % server->nshared[variant];
    bool mixed = server->nshared[variant] != server->nconns;

    TAILQ_FOREACH(conn, &server->conns, link) {
        struct sp_sconn *sc = sp_sconn(conn);

        if (mixed && (sc->pinned || sc->dedicated || sc->variant != variant)) {
            continue;       /* another set's (only when there are others) */
        }
        if (pick-- == 0) {
            return conn;
        }
        if (first == NULL) {
            first = conn;
        }
    }
    return first;
}

struct sp_conn *
sp_server_pin(struct sp_server *server, uint8_t variant,
              struct sp_conn *client)
{
    return sp_server_connect(server, variant, client);
}

void
sp_server_unpin(struct sp_conn *sconn)
{
    struct sp_sconn *sc = sp_sconn(sconn);

    sc->owner = NULL;
    if (SP_MSGQ_EMPTY(&sc->inflight) && SP_MSGQ_EMPTY(&sconn->queue)) {
        sp_server_close(sconn, sconn->pool->proto->error_reply(ESHUTDOWN));
    }
    /* else closed once its last reply is read (sp_server_on_event) */
}

struct sp_conn *
sp_server_lend(struct sp_server *server, uint8_t variant,
               struct sp_conn *client, int timeout)
{
    struct sp_pool *pool = server->pool;
    struct sp_conn *conn;
    struct sp_sconn *sc = NULL;

    TAILQ_FOREACH_REVERSE(conn, &server->conns, sp_conn_list, link) {
        sc = sp_sconn(conn);
        if (sc->blocking && sc->owner == NULL && sc->variant == variant) {
            break;
        }
    }
    if (conn == NULL) {
        if (server->nblocking >= (uint32_t)pool->conf->blocking_connections) {
            errno = EBUSY;
            return NULL;
        }
        conn = sp_server_connect(server, variant, client);
        if (conn == NULL) {
            return NULL;
        }
        sc = sp_sconn(conn);
        sc->blocking = true;
        server->npinned--;              /* of the blocking set instead */
        server->nblocking++;
        server->stats->blocking_connections++;
    }
    sc->owner = client;
    sc->timeout = timeout;
    server->nlent++;
    server->stats->lent_connections++;
    pool->stats->blocked_clients++;
    return conn;
}

/* A lent connection is no longer its client's. */
static void
sp_server_lend_end(struct sp_conn *sconn)
{
    struct sp_sconn *sc = sp_sconn(sconn);
    struct sp_server *server = sc->server;

    sc->owner = NULL;
    sc->timeout = sconn->pool->conf->timeout;
    server->nlent--;
    server->stats->lent_connections--;
    sconn->pool->stats->blocked_clients--;
}

void
sp_server_lend_cancel(struct sp_conn *sconn)
{
    sp_server_lend_end(sconn);
    sp_server_close(sconn, sconn->pool->proto->error_reply(ESHUTDOWN));
}

/* ---- queueing and writing ---------------------------------------------- */

void
sp_server_enqueue(struct sp_conn *sconn, struct sp_msg *msg)
{
    struct sp_sconn *sc = sp_sconn(sconn);
    struct sp_stats_server *st = sc->server->stats;

    msg->send_seg = msg->send_off = 0;
    SP_MSGQ_PUSH(&sconn->queue, msg, slink);
    st->in_queue++;
    st->in_queue_bytes += (int64_t)sp_seglist_bytes(&msg->req);
    if (!msg->internal) {
        st->requests++;
        st->request_bytes += (int64_t)sp_seglist_bytes(&msg->req);
    }
    sp_flow_server_queued(sc->server, msg);
    sp_conn_want_flush(sconn);
}

static void
sp_server_sent(struct sp_conn *conn, struct sp_msg *msg)
{
    struct sp_sconn *sc = sp_sconn(conn);
    struct sp_stats_server *st = sc->server->stats;

    SP_MSGQ_SHIFT(&conn->queue, slink);
    st->in_queue--;
    st->in_queue_bytes -= (int64_t)sp_seglist_bytes(&msg->req);
    sp_flow_server_drained(sc->server);
    if (msg->noreply) {
        msg->send_seg = msg->send_off = 0;  /* out_seg, out_off: sp_msg.h */
        msg->server = sc->server->index;    /* (slink's word) */
        sp_msg_part_done(conn->worker, msg);    /* no reply will come */
        return;
    }
    SP_MSGQ_PUSH(&sc->inflight, msg, slink);
    msg->in_flight = true;
    /* the send progress's words (sp_msg.h) */
    msg->sent_ms = (uint32_t)sp_event_now_ms(conn->worker->loop);
    msg->sent_us = (uint32_t)sp_event_now_us(conn->worker->loop);
    st->out_queue++;
    st->out_queue_bytes += (int64_t)sp_seglist_bytes(&msg->req);
    sp_server_arm_timer(conn);
}

void
sp_server_flush(struct sp_conn *conn)
{
    struct sp_sconn *sc = sp_sconn(conn);
    struct iovec iov[SP_IOV_MAX];

    while (!sc->connecting && conn->write_ready
           && !SP_MSGQ_EMPTY(&conn->queue)) {
        int niov = 0;
        struct sp_msg *msg;

        SP_MSGQ_FOREACH(msg, &conn->queue, slink) {
            niov += sp_seglist_iov(&msg->req, msg->send_seg, msg->send_off,
                                   iov + niov, SP_IOV_MAX - niov);
            if (niov == SP_IOV_MAX) {
                break;
            }
        }
        ssize_t n = conn->io->writev(conn, iov, niov);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                conn->write_ready = false;
                return;
            }
            sc->server->stats->server_err++;
            sp_server_failed(sc->server);
            sp_server_close(conn, conn->pool->proto->error_reply(errno));
            return;
        }
        size_t left = (size_t)n;
        while (left > 0 && (msg = SP_MSGQ_FIRST(&conn->queue)) != NULL) {
            left = sp_seglist_advance(&msg->req, &msg->send_seg, &msg->send_off,
                                      left);
            if (msg->send_seg < sp_seglist_n(&msg->req)) {
                break;
            }
            sp_server_sent(conn, msg);
        }
        /* a fully written message with nothing left over may remain */
        while ((msg = SP_MSGQ_FIRST(&conn->queue)) != NULL
               && msg->send_seg >= sp_seglist_n(&msg->req)) {
            sp_server_sent(conn, msg);
        }
    }
}

/* ---- closing ------------------------------------------------------------------ */

static void
sp_server_fail_queue(struct sp_conn *conn, struct sp_msg_queue *queue,
                     bool inflight, const char *error)
{
    struct sp_sconn *sc = sp_sconn(conn);
    struct sp_stats_server *st = sc->server->stats;
    struct sp_msg *msg;

    while ((msg = SP_MSGQ_FIRST(queue)) != NULL) {
        SP_MSGQ_SHIFT(queue, slink);        /* rtt_us 0: no round trip */
        msg->send_seg = msg->send_off = 0;  /* out_seg, out_off: sp_msg.h */
        msg->server = sc->server->index;    /* (slink's word) */
        if (inflight) {
            st->out_queue--;
            st->out_queue_bytes -= (int64_t)sp_seglist_bytes(&msg->req);
        } else {
            st->in_queue--;
            st->in_queue_bytes -= (int64_t)sp_seglist_bytes(&msg->req);
            sp_flow_server_drained(sc->server);
        }
        msg->in_flight = false;
        sp_msg_fail(msg, error);
        if (!msg->internal && conn->pool != NULL) {
            conn->pool->stats->forward_error++;
        }
        sp_msg_part_done(conn->worker, msg);
    }
}

void
sp_server_close(struct sp_conn *conn, const char *error)
{
    struct sp_sconn *sc = sp_sconn(conn);
    struct sp_server *server = sc->server;

    sp_server_fail_queue(conn, &sc->inflight, true, error);
    sp_server_fail_queue(conn, &conn->queue, false, error);
    TAILQ_REMOVE(&server->conns, conn, link);
    server->nconns--;
    if (sc->pinned) {
        struct sp_conn *owner = sc->owner;

        if (sc->blocking) {
            if (owner != NULL) {
                sp_server_lend_end(conn);
            }
            server->nblocking--;
            server->stats->blocking_connections--;
        } else {
            server->npinned--;
        }
        if (owner != NULL && conn->pool->proto->pin_lost != NULL) {
            conn->pool->proto->pin_lost(owner, conn);
        }
    } else if (sc->dedicated) {
        server->ndedicated--;       /* the protocol hears of it when the
                                       connection is freed (server_free) */
    } else {
        server->nshared[sc->variant]--;
    }
    server->stats->server_connections--;
    sp_conn_free(conn);
    sp_reserve_return(&server->pool->worker->reserve);  /* its descriptor */
}

void
sp_server_switch(struct sp_server *server)
{
    struct sp_pool *pool = server->pool;
    struct sp_conn *conn;

    sp_log_notice(pool->worker->log, "pool '%s': server '%s' switched to a "
                  "new master: closing its %u connection%s", pool->conf->name,
                  server->conf->name, server->nconns,
                  server->nconns == 1 ? "" : "s");
    if (server->addr_slot != NULL) {
        struct sp_shared_addr_copy now;
        sp_shared_addr_get(server->addr_slot, &now);
        server->switched = now.version;
    }
    while ((conn = TAILQ_FIRST(&server->conns)) != NULL) {
        sp_server_close(conn, server->switch_error);
    }
    sp_tls_session_drop(server);
    server->fail_streak = false;
    sp_server_readmit(server);          /* the new master is tried at once */
}

void
sp_server_reask(struct sp_server *server)
{
    struct sp_worker *worker = server->pool->worker;
    uint64_t now = sp_event_now_ms(worker->loop);
    struct sp_channel_msg msg = { .command = SP_CHANNEL_REFRESH };
    size_t len;

    if (server->addr_slot == NULL || worker->channel == NULL
        || (server->reask_ms != 0
            && now - server->reask_ms < SP_SERVER_REASK_MS)) {
        return;     /* no Sentinel, no master, or asked a moment ago */
    }
    server->reask_ms = now;
    snprintf(msg.name, sizeof(msg.name), "%s", server->pool->conf->name);
    len = strlen(server->conf->name);
    if (len >= sizeof(msg.session)) {
        return;     /* a name no channel message holds: the interval */
    }
    memcpy(msg.session, server->conf->name, len + 1);
    msg.session_len = (uint32_t)len;
    if (sp_channel_send(worker->channel->fd, &msg, -1) != 0) {
        sp_log_warn(worker->log, errno, "pool '%s': cannot ask the master to "
                    "ask the sentinels about server '%s' again",
                    server->pool->conf->name, server->conf->name);
    }
}

static void
sp_server_timeout(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_conn *conn = timer->data;
    struct sp_sconn *sc = sp_sconn(conn);
    int timeout = sc->timeout;
    struct sp_msg *head = SP_MSGQ_FIRST(&sc->inflight);

    if (sc->connecting) {
        timeout = sp_server_connect_timeout(conn->pool->conf);  /* armed at
                                                                   connect */
    } else {
        if (head == NULL || timeout <= 0) {
            return;                     /* nothing waits: stay disarmed */
        }
        /* the 32-bit clock's difference: right across its wrap */
        uint32_t waited = (uint32_t)sp_event_now_ms(loop) - head->sent_ms;
        if (waited < (uint32_t)timeout) {
            sp_timer_add(loop, &conn->timer, (uint32_t)timeout - waited,
                         sp_server_timeout, conn);
            return;
        }
    }
    sp_log_warn(conn->worker->log, 0, "pool '%s': server '%s' timed out "
                "after %d ms%s; closing the connection", conn->pool->conf->name,
                sc->server->conf->name, timeout,
                !sc->connecting ? "" : conn->io->pending(conn)
                ? " in the TLS handshake" : " connecting");
    sc->server->stats->server_timedout++;
    sp_server_failed(sc->server);
    sp_server_close(conn, conn->pool->proto->error_reply(ETIMEDOUT));
}

/* ---- replies ---------------------------------------------------------------- */

struct sp_msg *
sp_server_reply_take(struct sp_conn *conn, uint64_t start, uint64_t end)
{
    struct sp_sconn *sc = sp_sconn(conn);
    struct sp_stats_server *st = sc->server->stats;
    struct sp_msg *msg = SP_MSGQ_FIRST(&sc->inflight);

    if (msg == NULL) {
        sp_log_error(conn->worker->log, 0, "pool '%s': server '%s' sent a "
                     "reply nobody asked for", conn->pool->conf->name,
                     sc->server->conf->name);
        return NULL;
    }
    SP_MSGQ_SHIFT(&sc->inflight, slink);    /* rtt_us, server: 0 */
    msg->in_flight = false;
    msg->server = sc->server->index;
    st->out_queue--;
    st->out_queue_bytes -= (int64_t)sp_seglist_bytes(&msg->req);
    if (!msg->internal) {
        uint32_t rtt = (uint32_t)sp_event_now_us(conn->worker->loop)
                       - msg->sent_us;
        st->responses++;
        st->response_bytes += (int64_t)(end - start);
        if (conn->worker->histograms) {
            sp_hist_observe(&st->rtt, rtt);
        }
        msg->rtt_us = rtt;
        struct sp_msg *parent = sp_msg_parent(msg);
        if (parent != NULL && parent->rtt_us < rtt) {
            parent->rtt_us = rtt;   /* a fan-out waits for its slowest */
        }
    }
    msg->out_seg = msg->out_off = 0;        /* were sent_ms, sent_us */
    if (sp_seglist_from_chain(&msg->rsp, &conn->in, conn->in_base, start,
                              end) != 0) {
        sp_msg_fail(msg, conn->pool->proto->error_reply(ENOMEM));
    }
    sp_conn_consume(conn, end);
    sp_server_ok(sc->server);
    return msg;
}

int
sp_server_feed(struct sp_conn *conn, const uint8_t *data, size_t len,
               const struct sp_reply_stream *stream)
{
    struct sp_sconn *sc = sp_sconn(conn);
    uint64_t offset = conn->in_end - len;

    while (len > 0) {
        size_t consumed = 0;

        if (sc->rsp_fresh && stream->start(conn, offset) != 0) {
            sp_log_error(conn->worker->log, 0, "pool '%s': server '%s' sent "
                         "bytes nobody asked for (or out of memory)",
                         conn->pool->conf->name, sc->server->conf->name);
            conn->closing = true;
            return -1;
        }
        sp_parse_status_t status = stream->parse(conn, data, len, &consumed);
        if (status == SP_PARSE_ERROR) {
            sp_log_error(conn->worker->log, 0, "pool '%s': server '%s' sent "
                         "a malformed reply: %s", conn->pool->conf->name,
                         sc->server->conf->name, stream->error(conn));
            conn->closing = true;
            return -1;
        }
        data += consumed;
        len -= consumed;
        offset += consumed;
        if (status == SP_PARSE_DONE && stream->done(conn) != 0) {
            conn->closing = true;
            return -1;
        }
    }
    return 0;
}

/* A connection its client gave back has answered all it was sent. */
static bool
sp_server_unpinned_done(struct sp_conn *conn)
{
    struct sp_sconn *sc = sp_sconn(conn);

    return sc->pinned && !sc->blocking && sc->owner == NULL
           && SP_MSGQ_EMPTY(&sc->inflight) && SP_MSGQ_EMPTY(&conn->queue);
}

/* A lent connection's blocking call is answered: back to the idle set, and
 * its client told (it is read again). */
static bool
sp_server_lent_done(struct sp_conn *conn)
{
    struct sp_sconn *sc = sp_sconn(conn);
    struct sp_conn *owner = sc->owner;

    if (!sc->blocking || owner == NULL || conn->closing || conn->eof
        || !SP_MSGQ_EMPTY(&sc->inflight) || !SP_MSGQ_EMPTY(&conn->queue)) {
        return false;
    }
    sp_server_lend_end(conn);
    if (conn->pool->proto->pin_lost != NULL) {
        conn->pool->proto->pin_lost(owner, conn);
    }
    return true;
}

void
sp_server_on_event(struct sp_conn *conn, uint32_t ready)
{
    struct sp_sconn *sc = sp_sconn(conn);
    struct sp_server *server = sc->server;

    if (sc->connecting && (ready & (SP_EV_WRITE | SP_EV_ERROR))) {
        int err = sp_net_socket_error(conn->fd);
        if (err == 0 && conn->io->handshake(conn) != 0) {
            err = errno;
            if (err == EAGAIN) {
                return;     /* the transport's handshake: still connecting */
            }
        }
        if (err != 0) {
            sp_server_connect_failed(server, err);
            server->stats->server_err++;
            sp_server_failed(server);
            sp_server_close(conn, conn->pool->proto->error_reply(err));
            return;
        }
        sc->connecting = false;
        sp_server_connect_ok(server);
        sp_timer_del(conn->worker->loop, &conn->timer);
        if (!SP_MSGQ_EMPTY(&sc->inflight)) {
            sp_server_arm_timer(conn);
        }
    }
    if (ready & SP_EV_WRITE) {
        conn->write_ready = true;
        if (!SP_MSGQ_EMPTY(&conn->queue)) {
            sp_conn_want_flush(conn);
        }
    }
    if (ready & (SP_EV_READ | SP_EV_ERROR | SP_EV_RDHUP)) {
        const struct sp_proto *proto = conn->pool->proto;
        ssize_t n = sp_conn_read(conn, ready, proto->server_data);

        if (sc->pinned && sp_server_unpinned_done(conn)) {
            sp_server_close(conn, proto->error_reply(ESHUTDOWN));
        } else if (sc->pinned && n >= 0 && sp_server_lent_done(conn)) {
            /* idle in the blocking set until the next call */
        } else if (conn->closing) {
            server->stats->server_err++;
            sp_server_failed(server);
            sp_server_close(conn, proto->error_reply(EPROTO));
        } else if (n < 0) {
            int err = errno;
            server->stats->server_err++;
            sp_server_failed(server);
            sp_server_close(conn, proto->error_reply(err));
        } else if (conn->eof) {
            server->stats->server_eof++;
            sp_server_failed(server);
            sp_server_close(conn, proto->error_reply(ECONNRESET));
        }
    }
}

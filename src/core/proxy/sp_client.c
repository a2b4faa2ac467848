/*
 * sp_client.c — client connections (see sp_client.h).
 *
 *   accept4 ─► client ─(readable: read until EAGAIN)─► parse ─► request
 *   (the pool's protocol routes it) ─► ... ─► reply ready ─► flush: one writev
 *   of every finished reply at the head of the queue, in request order.
 *
 * A protocol error gets its "-ERR Protocol error: ..." reply after the
 * replies already owed, then the connection closes; reading stops at once.
 * That close, and QUIT's, is a lingering one (sp_client_close_lingering),
 * so bytes the client pipelined behind do not turn it into a reset that
 * destroys the replies it has not read yet.
 * A client that closes keeps nothing alive: requests still at servers become
 * orphans, freed when their replies arrive.
 */
#include "sp_client.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sp_accept.h"
#include "sp_flow.h"
#include "sp_net.h"
#include "sp_pool.h"
#include "sp_shared.h"
#include "sp_slowlog.h"
#include "sp_tls.h"
#include "sp_worker.h"

#define SP_IOV_MAX              1024
#define SP_LINGER_MS            1000    /* a refused client's last words */

void
sp_client_linger_end(struct sp_conn *conn)
{
    TAILQ_REMOVE(&conn->worker->lingering, conn, link);
    sp_conn_free(conn);
}

static void
sp_linger_done(struct sp_event_loop *loop, struct sp_timer *timer)
{
    (void)loop;
    sp_client_linger_end(timer->data);
}

/*
 * client_timeout: a client that has gone that long without sending a whole
 * request, and waits for nothing (no reply, no subscription), is closed --
 * an idle one, or one that trickles a request byte by byte. One timer per client, checked when it
 * fires rather than re-armed per request.
 */
static void
sp_client_timeout(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_conn *conn = timer->data;
    uint64_t timeout = (uint64_t)conn->pool->conf->client_timeout;
    uint64_t now = sp_event_now_ms(loop);
    uint64_t due = conn->progress_ms + timeout;

    if (conn->io->pending(conn)) {
        /* its transport is not up: tls_handshake_timeout from the accept */
        uint64_t hs = (uint64_t)conn->pool->conf->tls_handshake_timeout;
        if (now < conn->opened_ms + hs) {
            sp_timer_add(loop, &conn->timer, conn->opened_ms + hs - now,
                         sp_client_timeout, conn);
            return;
        }
        sp_log_info(conn->worker->log, "pool '%s': closing a client whose "
                    "TLS handshake took over %llu ms (tls_handshake_timeout)",
                    conn->pool->conf->name, (unsigned long long)hs);
        conn->pool->stats->tls.tls_fail_timeout++;
        conn->pool->stats->client_err++;
        sp_client_close(conn);
        return;
    }
    if (timeout == 0) {
        return;             /* only the handshake was timed */
    }

    if (now < due || !SP_MSGQ_EMPTY(&conn->queue)
        || (conn->pool->proto->client_waits != NULL
            && conn->pool->proto->client_waits(conn))) {
        sp_timer_add(loop, &conn->timer, now < due ? due - now : timeout,
                     sp_client_timeout, conn);
        return;
    }
    sp_log_info(conn->worker->log, "pool '%s': closing a client silent for "
                "%llu ms (client_timeout)", conn->pool->conf->name,
                (unsigned long long)(now - conn->progress_ms));
    conn->pool->stats->client_err++;
    sp_client_close(conn);
}

const char *
sp_client_full_reply(const struct sp_pool *pool)
{
    return pool->conf->redis ? "-ERR max number of clients reached\r\n"
                             : "SERVER_ERROR max number of clients reached\r\n";
}

/*
 * A refused client gets its error, then a lingering close (nginx style):
 * our side is shut for writing and what the client already sent is read
 * and dropped until it closes or SP_LINGER_MS pass, so the close does not
 * reset the connection and destroy the error before the client reads it.
 */
static void
sp_client_refuse(struct sp_pool *pool, int fd)
{
    const char *full = sp_client_full_reply(pool);
    struct sp_conn *conn;

    pool->stats->client_err++;
    if (pool->conf->tls.enabled) {
        close(fd);          /* plaintext it could not read: a close says it */
        return;
    }
    if (write(fd, full, strlen(full)) < 0 || shutdown(fd, SHUT_WR) != 0
        || (conn = sp_conn_new(pool->worker, fd, SP_CONN_CLIENT)) == NULL) {
        close(fd);
        return;
    }
    conn->pool = pool;
    conn->lingering = true;
    if (sp_conn_register(conn) != 0) {
        sp_conn_free(conn);
        return;
    }
    TAILQ_INSERT_TAIL(&pool->worker->lingering, conn, link);
    sp_timer_add(pool->worker->loop, &conn->timer, SP_LINGER_MS,
                 sp_linger_done, conn);
}

/* Drop what a lingering client sends; free it at its EOF or error. */
static void
sp_client_linger(struct sp_conn *conn)
{
    uint8_t sink[4096];

    for (;;) {
        ssize_t n = conn->io->recv(conn, sink, sizeof(sink));
        if (n > 0) {
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        sp_client_linger_end(conn);
        return;
    }
}

/*
 * Count a new client of pool against client_connections, over all workers
 * (a shared atomic count). False: the pool is full.
 */
static bool
sp_client_admit(struct sp_pool *pool)
{
    atomic_llong *count = &pool->worker->shared->pool_clients[pool->index];
    long long limit = pool->conf->client_connections;

    if (atomic_fetch_add(count, 1) >= limit && limit > 0) {
        atomic_fetch_sub(count, 1);
        return false;
    }
    return true;
}

struct sp_conn *
sp_client_open(struct sp_pool *pool, int fd, bool authenticated)
{
    struct sp_worker *worker = pool->worker;
    struct sp_conn *conn = sp_conn_new(worker, fd, SP_CONN_CLIENT);

    if (conn == NULL) {
        return NULL;
    }
    conn->pool = pool;
    conn->write_ready = true;
    conn->authenticated = authenticated || pool->conf->redis_auth == NULL;
    conn->id = ((uint64_t)worker->pid << 32) | ++worker->clients_opened;
    /* TCP_NODELAY and SO_KEEPALIVE come from the listener (sp_listen.c);
     * the request parser is lent when bytes arrive (sp_client_data) */
    if (sp_conn_register(conn) != 0) {
        sp_log_error(worker->log, errno, "pool '%s': cannot watch a new "
                     "client", pool->conf->name);
        conn->fd = -1;              /* the caller still owns fd */
        sp_conn_free(conn);
        return NULL;
    }
    TAILQ_INSERT_TAIL(&pool->clients, conn, link);
    pool->nclients++;
    worker->nclients++;
    worker->slot->clients = worker->nclients;
    pool->stats->client_connections++;
    conn->progress_ms = sp_event_now_ms(worker->loop);
    conn->opened_ms = conn->progress_ms;
    if (pool->conf->client_timeout > 0) {
        sp_timer_add(worker->loop, &conn->timer,
                     (uint64_t)pool->conf->client_timeout,
                     sp_client_timeout, conn);
    }
    return conn;
}

/*
 * A client of a `tls` pool speaks TLS: its handshake runs under the
 * transport (sp_tls.h), timed from the accept by tls_handshake_timeout on
 * the client's own timer (sp_client_timeout). Handed-over clients never
 * come here: they keep the transport they had (a plain one).
 */
static void
sp_client_tls(struct sp_conn *conn)
{
    const struct sp_conf_pool *conf = conn->pool->conf;
    uint64_t after = (uint64_t)conf->tls_handshake_timeout;

    if (sp_tls_accept(conn) != 0) {
        sp_log_error(conn->worker->log, errno, "pool '%s': cannot set up TLS "
                     "for a client", conf->name);
        conn->pool->stats->client_err++;
        sp_client_close(conn);
        return;
    }
    if (conf->client_timeout > 0 && (uint64_t)conf->client_timeout < after) {
        after = (uint64_t)conf->client_timeout;
    }
    if (after > 0) {
        sp_timer_add(conn->worker->loop, &conn->timer, after,
                     sp_client_timeout, conn);
    }
}

bool
sp_client_accept(struct sp_conn *listener, uint32_t max)
{
    struct sp_pool *pool = listener->pool;
    struct sp_worker *worker = listener->worker;

    /* until EAGAIN, a batch per wake-up at most: a woken worker takes what
     * woke it (the kernel woke no other), the balance disarms between
     * wake-ups (sp_accept.h) */
    if (max > SP_ACCEPT_BATCH) {
        max = SP_ACCEPT_BATCH;
    }
    for (uint32_t n = 0; n < max; n++) {
        int fd = accept4(listener->fd, NULL, NULL,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            if (err == EINTR || err == ECONNABORTED) {
                continue;
            }
            if (err == EMFILE) {
                int refused = sp_accept_refuse_spare(listener);
                if (refused == 0) {
                    continue;   /* answered "max number of clients" */
                }
                if (refused == 1) {
                    return true;    /* nothing queued */
                }
            }
            if (err == EMFILE || err == ENFILE || err == ENOBUFS
                || err == ENOMEM) {
                sp_accept_pause(listener, err);
            } else if (err == EAGAIN || err == EWOULDBLOCK) {
                return true;
            } else {
                sp_log_error(worker->log, err, "pool '%s': accept4() "
                             "failed", pool->conf->name);
            }
            return false;
        }
        sp_accept_taken(pool);
        if (!sp_client_admit(pool)) {
            sp_client_refuse(pool, fd);
            continue;
        }
        sp_client_accepted(pool, fd);
    }
    return false;
}

bool
sp_client_accepted(struct sp_pool *pool, int fd)
{
    struct sp_conn *conn = sp_client_open(pool, fd, false);

    if (conn == NULL) {
        close(fd);
        atomic_fetch_sub(&pool->worker->shared->pool_clients[pool->index], 1);
        pool->stats->client_err++;
        return false;
    }
    if (pool->conf->tls.enabled) {
        /* never handed over (no kernel TLS): even one a retiring worker
         * takes from its queue stays with it */
        sp_client_tls(conn);
    }
    return true;
}

/* Orphan the client's requests and take it off its pool's accounts. */
static void
sp_client_detach(struct sp_conn *conn)
{
    struct sp_worker *worker = conn->worker;
    struct sp_pool *pool = conn->pool;
    struct sp_msg *msg;

    while ((msg = SP_MSGQ_FIRST(&conn->queue)) != NULL) {
        SP_MSGQ_SHIFT(&conn->queue, clink);
        sp_msg_set_pool(msg, pool);
        if (msg->pending == 0 && !msg->deferred) {
            sp_msg_put(worker, msg);
        }
        /* else an orphan: freed when its last server part answers, or by
         * the next run of the step queue (sp_defer.h) */
    }
    sp_flow_client_gone(conn);
    if (conn->session != NULL && pool->proto->client_free != NULL) {
        pool->proto->client_free(conn);
    }
    TAILQ_REMOVE(&pool->clients, conn, link);
    pool->nclients--;
    worker->nclients--;
    worker->slot->clients = worker->nclients;
    pool->stats->client_connections--;
    atomic_fetch_sub(&worker->shared->pool_clients[pool->index], 1);
}

void
sp_client_close(struct sp_conn *conn)
{
    sp_client_detach(conn);
    sp_conn_free(conn);
}

/*
 * Close a client the proxy stopped reading (a framing error, QUIT), its
 * owed replies written: close() with its later bytes unread would send a
 * reset, and the client's kernel would drop the replies it has not read
 * yet. So, as for a refused client (sp_client_refuse): shut our side for
 * writing (the client reads every reply, then EOF), drop what it still
 * sends until it closes or SP_LINGER_MS pass, then close.
 */
static void
sp_client_close_lingering(struct sp_conn *conn)
{
    struct sp_worker *worker = conn->worker;

    if (conn->eof || conn->fd_shared
        || conn->io->shutdown(conn, SHUT_WR) != 0) {
        sp_client_close(conn);
        return;
    }
    sp_client_detach(conn);
    sp_timer_del(worker->loop, &conn->timer);
    sp_mbuf_chain_release(&worker->mbufs, &conn->in);
    conn->in_base = conn->in_end;
    if (conn->parse != NULL) {
        sp_client_parse_put(&worker->parses, conn->parse);
        conn->parse = NULL;
    }
    conn->lingering = true;
    TAILQ_INSERT_TAIL(&worker->lingering, conn, link);
    sp_timer_add(worker->loop, &conn->timer, SP_LINGER_MS, sp_linger_done,
                 conn);
    sp_client_linger(conn);             /* what is there already; may free */
}

struct sp_msg *
sp_client_request_begin(struct sp_conn *client, uint64_t start, uint64_t end)
{
    struct sp_worker *worker = client->worker;
    struct sp_msg *msg = sp_msg_get(worker);

    if (msg == NULL) {
        return NULL;
    }
    sp_msg_set_client(msg, client);
    SP_MSGQ_PUSH(&client->queue, msg, clink);     /* freed with it */
    if (sp_seglist_from_chain(&msg->req, &client->in, client->in_base, start,
                              end) != 0) {
        return NULL;
    }
    uint64_t bytes = sp_seglist_bytes(&msg->req);
    client->req_held += bytes;                          /* client_buffer_limit */
    client->nreqs++;                                    /* its window */
    sp_flow_charge(client, (int64_t)(bytes + sizeof(*msg)));
    msg->recv_us = (uint32_t)sp_event_now_us(worker->loop);     /* latency */
    msg->timed = true;
    client->progress_ms = sp_event_now_ms(worker->loop);   /* client_timeout */
    return msg;
}

void
sp_client_request_end(struct sp_conn *client, struct sp_msg *msg,
                      uint64_t end)
{
    sp_conn_consume(client, end);
    if (msg->done && msg->pending == 0) {
        sp_client_reply_ready(msg);
    }
}

int
sp_client_fail(struct sp_conn *conn, const char *text, size_t len)
{
    struct sp_worker *worker = conn->worker;
    struct sp_msg *msg = sp_msg_get(worker);

    conn->closing = true;
    conn->pool->stats->client_err++;
    if (msg == NULL) {
        return -1;
    }
    sp_msg_set_client(msg, conn);
    msg->quit = true;
    if (sp_msg_gen_reserve(msg, (uint32_t)len) != 0
        || sp_msg_gen_push(msg, &msg->rsp, text, (uint32_t)len) != 0) {
        sp_msg_put(worker, msg);
        return -1;
    }
    msg->done = true;
    SP_MSGQ_PUSH(&conn->queue, msg, clink);
    sp_conn_want_flush(conn);
    return -1;
}

void
sp_client_reply_ready(struct sp_msg *msg)
{
    struct sp_conn *client = sp_msg_client(msg);
    int limit;

    if (client == NULL) {
        return;
    }
    if (client->overflow) {
        /* doomed: drop the reply now so its buffers recycle at once */
        sp_seglist_clear(&client->worker->mbufs, &msg->rsp);
        return;
    }
    if (!msg->rsp_counted) {
        msg->rsp_counted = true;
        client->rsp_held += sp_seglist_bytes(&msg->rsp);
        sp_flow_charge(client, (int64_t)sp_seglist_bytes(&msg->rsp));
        limit = client->pool->conf->client_output_limit;
        if (limit > 0 && client->rsp_held > (uint64_t)limit
            && !client->overflow) {
            /* it does not read its replies: close it at the flush (never
             * from here, which runs inside other connections' reads) */
            client->overflow = true;
            client->closing = true;
            sp_conn_want_flush(client);
        }
    }
    if (SP_MSGQ_FIRST(&client->queue) == msg) {
        sp_conn_want_flush(client);
    }
}

struct sp_msg *
sp_client_push_begin(struct sp_conn *client)
{
    struct sp_msg *msg = sp_msg_get(client->worker);

    if (msg != NULL) {
        sp_msg_set_client(msg, client);
    }
    return msg;
}

void
sp_client_push_end(struct sp_msg *msg)
{
    struct sp_conn *client = sp_msg_client(msg);
    struct sp_msg *last = SP_MSGQ_LAST(&client->queue);

    if ((client->read_paused & SP_FLOW_BLOCKED) && last != NULL
        && !last->done) {
        /* blocked (RESP3 BLPOP): its call is the last request, and a push
         * is out of band: it goes out now, as redis-server's does (the
         * queue is linked one way: the one before the call is looked for,
         * among what the client's window holds) */
        struct sp_msg *prev = NULL, *m;

        SP_MSGQ_FOREACH(m, &client->queue, clink) {
            if (m->clink == last) {
                prev = m;
                break;
            }
        }
        SP_MSGQ_INSERT_AFTER(&client->queue, prev, msg, clink);
    } else {
        SP_MSGQ_PUSH(&client->queue, msg, clink);
    }
    client->nreqs++;                    /* released when written */
    sp_flow_charge(client, (int64_t)sizeof(*msg));
    msg->done = true;
    sp_client_reply_ready(msg);
}

/* Remove a written (or abandoned) request from the client's accounts. */
static void
sp_client_release(struct sp_conn *conn, struct sp_msg *msg)
{
    uint64_t req = sp_seglist_bytes(&msg->req);
    if (req > conn->req_held) {
        req = conn->req_held;
    }
    uint64_t rsp = 0;

    conn->req_held -= req;
    conn->nreqs--;
    if (msg->rsp_counted) {
        rsp = sp_seglist_bytes(&msg->rsp);
        if (rsp > conn->rsp_held) {
            rsp = conn->rsp_held;
        }
        conn->rsp_held -= rsp;
    }
    sp_flow_charge(conn, -(int64_t)(req + rsp + sizeof(*msg)));
}

/* Over client_buffer_limit: answer that, after what is owed, and close. */
static bool
sp_client_over_buffer_limit(struct sp_conn *conn)
{
    int limit = conn->pool->conf->client_buffer_limit;
    uint64_t held = conn->req_held + (conn->in_end - conn->in_base);
    static const char redis_text[] = "-ERR client_buffer_limit reached\r\n";
    static const char mc_text[] = "SERVER_ERROR client_buffer_limit "
                                  "reached\r\n";

    if (limit <= 0 || held <= (uint64_t)limit || conn->closing) {
        return false;
    }
    sp_log_warn(conn->worker->log, 0, "pool '%s': a client holds %llu bytes "
                "of requests, over client_buffer_limit %d: closing it",
                conn->pool->conf->name, (unsigned long long)held, limit);
    if (conn->pool->conf->redis) {
        sp_client_fail(conn, redis_text, sizeof(redis_text) - 1);
    } else {
        sp_client_fail(conn, mc_text, sizeof(mc_text) - 1);
    }
    return true;
}

/* Close when asked to, once every owed reply is written. */
static bool
sp_client_finished(struct sp_conn *conn)
{
    return (conn->closing || conn->eof) && SP_MSGQ_EMPTY(&conn->queue);
}

/* A reply is written: the request's latency, and the slow log. */
static void
sp_client_replied(struct sp_conn *conn, const struct sp_msg *msg)
{
    struct sp_worker *worker = conn->worker;
    uint64_t took;

    if (!msg->timed) {
        return;                 /* the proxy's own error reply, no request */
    }
    took = (uint32_t)((uint32_t)sp_event_now_us(worker->loop) - msg->recv_us);
    if (worker->histograms) {
        sp_hist_observe(&conn->pool->stats->latency, took);
    }
    if (worker->slowlog_us != 0 && took >= worker->slowlog_us) {
        sp_slowlog_note(worker, conn->pool, msg, took);
    }
}

static int sp_client_read(struct sp_conn *conn, uint32_t ready);

int
sp_client_resume(struct sp_conn *conn)
{
    /* from the flush: what it queues for servers is flushed later in the
     * same pass */
    if (sp_client_read(conn, SP_EV_READ) != 0) {
        return -1;
    }
    if (conn->eof || conn->closing || conn->worker->draining) {
        sp_conn_want_flush(conn);
    }
    return 0;
}

void
sp_client_unhold(struct sp_conn *conn, uint8_t why)
{
    if (!sp_flow_release(conn, why)) {
        return;
    }
    /* read to EAGAIN or EOF: the edges of what came meanwhile are gone */
    if (sp_client_read(conn, SP_EV_READ | SP_EV_RDHUP) != 0) {
        return;
    }
    if (conn->eof || conn->closing || conn->worker->draining) {
        sp_conn_want_flush(conn);
    }
}

void
sp_client_flush(struct sp_conn *conn)
{
    struct sp_worker *worker = conn->worker;
    struct iovec iov[SP_IOV_MAX];
    struct sp_msg *msg;

    if (conn->lingering) {
        return;                 /* written and shut: only draining is left */
    }
    if (conn->overflow) {
        sp_log_warn(worker->log, 0, "pool '%s': a client has %llu bytes of "
                    "replies unread, over client_output_limit %d: closing it",
                    conn->pool->conf->name,
                    (unsigned long long)conn->rsp_held,
                    conn->pool->conf->client_output_limit);
        conn->pool->stats->client_err++;
        sp_client_close(conn);
        return;
    }

    while (conn->write_ready) {
        int niov = 0;

        SP_MSGQ_FOREACH(msg, &conn->queue, clink) {
            if (!msg->done || niov == SP_IOV_MAX) {
                break;
            }
            niov += sp_seglist_iov(&msg->rsp, msg->out_seg, msg->out_off,
                                   iov + niov, SP_IOV_MAX - niov);
            if (msg->quit) {
                break;
            }
        }
        ssize_t n = niov > 0 ? conn->io->writev(conn, iov, niov) : 0;
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                conn->write_ready = false;
                break;
            }
            conn->pool->stats->client_err++;
            sp_client_close(conn);
            return;
        }
        size_t left = (size_t)n;
        bool progress = false;
        while ((msg = SP_MSGQ_FIRST(&conn->queue)) != NULL && msg->done) {
            left = sp_seglist_advance(&msg->rsp, &msg->out_seg, &msg->out_off,
                                      left);
            if (msg->out_seg < sp_seglist_n(&msg->rsp)) {
                break;
            }
            SP_MSGQ_SHIFT(&conn->queue, clink);
            sp_client_release(conn, msg);
            conn->progress_ms = sp_event_now_ms(worker->loop);
            sp_client_replied(conn, msg);
            bool quit = msg->quit;
            sp_msg_put(worker, msg);
            progress = true;
            if (quit) {
                sp_client_close_lingering(conn);
                return;
            }
        }
        if (niov == 0 && !progress) {
            break;      /* nothing finished to write */
        }
    }
    if (sp_flow_client_open(conn) && sp_client_resume(conn) != 0) {
        return;     /* drained below its low watermark: read on */
    }
    if (sp_client_finished(conn)) {
        if (conn->closing) {
            sp_client_close_lingering(conn);
        } else {
            sp_client_close(conn);
        }
        return;
    }
    if (SP_MSGQ_EMPTY(&conn->queue)) {
        sp_conn_input_idle(conn);       /* every reply written */
    }
    sp_worker_client_idle(conn);
}

/*
 * Bytes read from a client: borrow a parser state for them (set up at the
 * stream offset of their first byte), let the protocol parse and dispatch,
 * and give the state back when the bytes ended at a request boundary.
 */
static int
sp_client_parse_bytes(struct sp_conn *conn, const uint8_t *data, size_t len,
                      uint64_t offset)
{
    struct sp_client_parse_pool *parses = &conn->worker->parses;
    const struct sp_proto *proto = conn->pool->proto;

    if (conn->parse == NULL) {
        conn->parse = sp_client_parse_get(parses);
        if (conn->parse == NULL) {
            sp_log_error(conn->worker->log, ENOMEM, "pool '%s': no memory "
                         "for a client's request", conn->pool->conf->name);
            conn->pool->stats->client_err++;
            conn->closing = true;
            return -1;
        }
        proto->parse_init(conn->parse, offset);
    }
    int rc = proto->client_data(conn, data, len);
    if (proto->parse_idle(conn->parse)) {
        sp_client_parse_put(parses, conn->parse);
        conn->parse = NULL;
        if (conn->in_base < offset + len
            && !sp_client_held(conn)) {
            /* what is left unconsumed is no request (blank inline lines);
             * held for a split, it is the rest of the read, unparsed */
            sp_conn_consume(conn, offset + len);
        }
    }
    if (rc == 0 && sp_flow_client_full(conn)) {
        return -1;      /* stop reading: the kernel holds the rest */
    }
    return rc;
}

static int
sp_client_data(struct sp_conn *conn, const uint8_t *data, size_t len)
{
    return sp_client_parse_bytes(conn, data, len, conn->in_end - len);
}

/*
 * A client held while its request was split in steps stopped parsing at
 * that request's end: the bytes it sent behind in the same read, [in_base,
 * in_end), are parsed now (they lie in the buffer that read filled; the
 * walk takes a buffer at a time all the same). 0, or -1 when it must stop
 * again (held again, closing).
 */
static int
sp_client_parse_rest(struct sp_conn *conn)
{
    uint64_t at = conn->in_base;

    while (at < conn->in_end) {
        uint64_t base = conn->in_base;
        struct sp_mbuf *m = conn->in.head;

        while (m != NULL && at >= base + sp_mbuf_length(m)) {
            base += sp_mbuf_length(m);
            m = m->next;
        }
        if (m == NULL) {
            break;
        }
        size_t len = (size_t)(base + sp_mbuf_length(m) - at);
        if (sp_client_parse_bytes(conn, m->pos + (at - base), len, at) != 0
            || conn->closing) {
            return -1;
        }
        at += len;
    }
    return 0;
}

/* Read what the socket holds (unless the window is full). -1: the
 * connection was closed (and is freed). */
static int
sp_client_read(struct sp_conn *conn, uint32_t ready)
{
    if (conn->closing || conn->read_paused) {
        return 0;
    }
    if (conn->parse == NULL && conn->in_base != conn->in_end
        && sp_client_parse_rest(conn) != 0) {
        return 0;
    }
    ssize_t n = sp_conn_read(conn, ready, sp_client_data);

    if (n < 0) {
        conn->pool->stats->client_err++;
        sp_client_close(conn);
        return -1;
    }
    sp_client_over_buffer_limit(conn);
    if (conn->eof) {
        conn->pool->stats->client_eof++;
    }
    return 0;
}

void
sp_client_on_event(struct sp_conn *conn, uint32_t ready)
{
    if (conn->lingering) {
        sp_client_linger(conn);
        return;
    }
    if (ready & SP_EV_WRITE) {
        conn->write_ready = true;
        sp_conn_want_flush(conn);
    }
    if ((conn->read_paused & SP_FLOW_BLOCKED)
        && (ready & (SP_EV_ERROR | SP_EV_RDHUP))) {
        /* it left while blocked (not read meanwhile, but the hang-up is
         * news): as Redis, it goes at once, and its lent connection is
         * closed with it (the protocol's client_free) */
        conn->pool->stats->client_eof++;
        sp_client_close(conn);
        return;
    }
    if ((ready & (SP_EV_READ | SP_EV_ERROR | SP_EV_RDHUP))
        && sp_client_read(conn, ready) != 0) {
        return;
    }
    if (conn->eof || conn->closing || conn->worker->draining) {
        sp_conn_want_flush(conn);   /* finish owed replies, then close */
    }
}

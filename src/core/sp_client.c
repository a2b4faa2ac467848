/*
 * sp_client.c — client connections (see sp_client.h).
 *
 *   accept4 ─► client ─(readable: read until EAGAIN)─► parse ─► request
 *   (sp_redis_request routes it) ─► ... ─► reply ready ─► flush: one writev
 *   of every finished reply at the head of the queue, in request order.
 *
 * A protocol error gets its "-ERR Protocol error: ..." reply after the
 * replies already owed, then the connection closes; reading stops at once.
 * A client that closes keeps nothing alive: requests still at servers become
 * orphans, freed when their replies arrive.
 */
#include "sp_client.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sp_net.h"
#include "sp_pool.h"
#include "sp_worker.h"

#define SP_IOV_MAX              1024
#define SP_ACCEPT_RETRY_MS      100     /* after EMFILE / ENFILE */

int sp_redis_request(struct sp_conn *client);

static void
sp_listener_resume(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_conn *listener = timer->data;

    sp_event_modify(loop, listener->fd, SP_EV_READ | SP_EV_LEVEL);
}

/* Out of descriptors: stop accepting for a moment instead of spinning. */
static void
sp_listener_pause(struct sp_conn *listener, int err)
{
    struct sp_worker *worker = listener->worker;

    sp_log_error(worker->log, err, "pool '%s': accept4() failed; pausing "
                 "accepts for %d ms", listener->pool->conf->name,
                 SP_ACCEPT_RETRY_MS);
    sp_event_modify(worker->loop, listener->fd, 0);
    sp_timer_add(worker->loop, &listener->timer, SP_ACCEPT_RETRY_MS,
                 sp_listener_resume, listener);
}

static void
sp_client_refuse(struct sp_pool *pool, int fd)
{
    static const char full[] = "-ERR max number of clients reached\r\n";

    if (pool->conf->redis && write(fd, full, sizeof(full) - 1) < 0) {
        /* the client goes anyway */
    }
    close(fd);
    pool->stats.client_err++;
}

static void
sp_client_init_parser(struct sp_conn *conn)
{
    sp_redis_req_init(&conn->parser.req, conn->in_end, conn->keys,
                      SP_CONN_KEYS);
}

void
sp_client_accept(struct sp_conn *listener)
{
    struct sp_pool *pool = listener->pool;
    struct sp_worker *worker = listener->worker;

    for (;;) {
        int fd = accept4(listener->fd, NULL, NULL,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS
                || errno == ENOMEM) {
                sp_listener_pause(listener, errno);
            } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                sp_log_error(worker->log, errno, "pool '%s': accept4() "
                             "failed", pool->conf->name);
            }
            return;
        }
        if (pool->conf->client_connections > 0
            && pool->nclients >= (uint32_t)pool->conf->client_connections) {
            sp_client_refuse(pool, fd);
            continue;
        }
        struct sp_conn *conn = sp_conn_new(worker, fd, SP_CONN_CLIENT);
        if (conn == NULL) {
            close(fd);
            pool->stats.client_err++;
            continue;
        }
        conn->pool = pool;
        conn->write_ready = true;
        conn->authenticated = pool->conf->redis_auth == NULL;
        if (!pool->conf->listen.is_unix) {
            sp_net_set_nodelay(fd);
        }
        if (pool->conf->tcpkeepalive) {
            sp_net_set_keepalive(fd);
        }
        sp_client_init_parser(conn);
        if (sp_conn_register(conn) != 0) {
            sp_log_error(worker->log, errno, "pool '%s': cannot watch a new "
                         "client", pool->conf->name);
            sp_conn_free(conn);
            continue;
        }
        TAILQ_INSERT_TAIL(&pool->clients, conn, link);
        pool->nclients++;
        pool->stats.client_connections++;
    }
}

void
sp_client_close(struct sp_conn *conn)
{
    struct sp_worker *worker = conn->worker;
    struct sp_pool *pool = conn->pool;
    struct sp_msg *msg;

    while ((msg = TAILQ_FIRST(&conn->queue)) != NULL) {
        TAILQ_REMOVE(&conn->queue, msg, clink);
        msg->client = NULL;
        if (msg->pending == 0) {
            sp_msg_put(worker, msg);
        }
        /* else an orphan: freed when its last server part answers */
    }
    TAILQ_REMOVE(&pool->clients, conn, link);
    pool->nclients--;
    pool->stats.client_connections--;
    sp_conn_free(conn);
}

/* A framing error: answer it after what is owed, then close. */
static int
sp_client_protocol_error(struct sp_conn *conn)
{
    struct sp_worker *worker = conn->worker;
    struct sp_msg *msg = sp_msg_get(worker);
    const char *why = conn->parser.req.error;
    char text[160];
    int n = snprintf(text, sizeof(text), "-ERR Protocol error: %s\r\n",
                     why != NULL ? why : "malformed request");

    conn->closing = true;
    conn->pool->stats.client_err++;
    if (msg == NULL || n < 0) {
        return -1;
    }
    if ((size_t)n >= sizeof(text)) {
        n = sizeof(text) - 1;
    }
    msg->client = conn;
    msg->quit = true;
    if (sp_msg_gen_reserve(msg, (uint32_t)n) != 0
        || sp_msg_gen_push(msg, &msg->rsp, text, (uint32_t)n) != 0) {
        sp_msg_put(worker, msg);
        return -1;
    }
    msg->done = true;
    TAILQ_INSERT_TAIL(&conn->queue, msg, clink);
    sp_conn_want_flush(conn);
    return -1;
}

static int
sp_client_on_data(struct sp_conn *conn, const uint8_t *data, size_t len)
{
    while (len > 0) {
        size_t consumed = 0;
        sp_parse_status_t status = sp_redis_req_parse(&conn->parser.req, data,
                                                      len, &consumed);
        if (status == SP_PARSE_ERROR) {
            return sp_client_protocol_error(conn);
        }
        data += consumed;
        len -= consumed;
        if (status == SP_PARSE_DONE) {
            if (sp_redis_request(conn) != 0) {
                conn->closing = true;
                return -1;
            }
            if (conn->closing) {
                return -1;      /* QUIT: read no further */
            }
        }
    }
    return 0;
}

void
sp_client_reply_ready(struct sp_msg *msg)
{
    struct sp_conn *client = msg->client;

    if (client != NULL && TAILQ_FIRST(&client->queue) == msg) {
        sp_conn_want_flush(client);
    }
}

/* Close when asked to, once every owed reply is written. */
static bool
sp_client_finished(struct sp_conn *conn)
{
    return (conn->closing || conn->eof) && TAILQ_EMPTY(&conn->queue);
}

void
sp_client_flush(struct sp_conn *conn)
{
    struct sp_worker *worker = conn->worker;
    struct iovec iov[SP_IOV_MAX];
    struct sp_msg *msg;

    while (conn->write_ready) {
        int niov = 0;

        TAILQ_FOREACH(msg, &conn->queue, clink) {
            if (!msg->done || niov == SP_IOV_MAX) {
                break;
            }
            niov += sp_seglist_iov(&msg->rsp, msg->out_seg, msg->out_off,
                                   iov + niov, SP_IOV_MAX - niov);
            if (msg->quit) {
                break;
            }
        }
        if (niov == 0) {
            break;
        }
        ssize_t n = writev(conn->fd, iov, niov);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                conn->write_ready = false;
                break;
            }
            conn->pool->stats.client_err++;
            sp_client_close(conn);
            return;
        }
        size_t left = (size_t)n;
        while ((msg = TAILQ_FIRST(&conn->queue)) != NULL && msg->done) {
            left = sp_seglist_advance(&msg->rsp, &msg->out_seg, &msg->out_off,
                                      left);
            if (msg->out_seg < msg->rsp.n) {
                break;
            }
            TAILQ_REMOVE(&conn->queue, msg, clink);
            bool quit = msg->quit;
            sp_msg_put(worker, msg);
            if (quit) {
                sp_client_close(conn);
                return;
            }
        }
    }
    if (sp_client_finished(conn)) {
        sp_client_close(conn);
    }
}

void
sp_client_on_event(struct sp_conn *conn, uint32_t ready)
{
    if (ready & SP_EV_WRITE) {
        conn->write_ready = true;
        sp_conn_want_flush(conn);
    }
    if ((ready & (SP_EV_READ | SP_EV_ERROR | SP_EV_RDHUP)) && !conn->closing) {
        ssize_t n = sp_conn_read(conn, sp_client_on_data);

        if (n < 0) {
            conn->pool->stats.client_err++;
            sp_client_close(conn);
            return;
        }
        if (conn->eof) {
            conn->pool->stats.client_eof++;
        }
    }
    if (conn->eof || conn->closing) {
        sp_conn_want_flush(conn);   /* finish owed replies, then close */
    }
}

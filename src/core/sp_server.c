/*
 * sp_server.c — server connections (see sp_server.h).
 *
 *   sp_server_connect ─► connecting ─(writable, SO_ERROR 0)─► connected
 *   enqueue: msg ─► queue ─(flush: writev)─► inflight ─(reply)─► part done
 *   error / EOF / timeout / bad reply: sp_server_close fails every queued
 *   and in-flight request with an error reply, counts a server failure.
 *
 * Replies are matched to requests by order, so when one request times out
 * the connection is closed: the replies after it could no longer be matched
 * (nutcracker does the same; README says so). One timer per connection
 * covers the oldest in-flight request; it is checked when it fires rather
 * than re-armed per request.
 */
#include "sp_server.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sp_client.h"
#include "sp_net.h"
#include "sp_worker.h"

#define SP_IOV_MAX      1024
#define SP_RSTACK_MIN   16

const char *
sp_server_error_text(int err)
{
    switch (err) {
    case ECONNREFUSED:
        return "-ERR Connection refused\r\n";
    case ETIMEDOUT:
        return "-ERR Connection timed out\r\n";
    case ECONNRESET:
        return "-ERR Connection reset by peer\r\n";
    case EPIPE:
        return "-ERR Broken pipe\r\n";
    case EHOSTUNREACH:
        return "-ERR No route to host\r\n";
    case ENETUNREACH:
        return "-ERR Network is unreachable\r\n";
    case ENOENT:
        return "-ERR No such file or directory\r\n";
    case ENOMEM:
        return "-ERR Cannot allocate memory\r\n";
    case EPROTO:
        return "-ERR Protocol error from server\r\n";
    default:
        return "-ERR Connection failed\r\n";
    }
}

/* ---- completing requests ------------------------------------------------- */

void sp_redis_complete(struct sp_worker *worker, struct sp_msg *msg);

void
sp_msg_part_done(struct sp_worker *worker, struct sp_msg *msg)
{
    struct sp_msg *top = msg->parent != NULL ? msg->parent : msg;

    msg->sconn = NULL;
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
    sp_redis_complete(worker, top);
    if (top->client == NULL) {
        sp_msg_put(worker, top);       /* orphan: its client left */
        return;
    }
    sp_client_reply_ready(top);
}

/* ---- connecting ------------------------------------------------------------ */

static void sp_server_timeout(struct sp_event_loop *loop, struct sp_timer *timer);

static void
sp_server_arm_timer(struct sp_conn *conn)
{
    int timeout = conn->pool->conf->timeout;

    if (timeout > 0 && !conn->timer.armed) {
        sp_timer_add(conn->worker->loop, &conn->timer, (uint64_t)timeout,
                     sp_server_timeout, conn);
    }
}

/* An internal request sent first on a new connection (AUTH, SELECT). */
static int
sp_server_internal(struct sp_conn *conn, const char *verb, const char *arg)
{
    struct sp_worker *worker = conn->worker;
    struct sp_msg *msg = sp_msg_get(worker);
    char head[64];
    size_t vlen = strlen(verb), alen = strlen(arg);
    int n;

    if (msg == NULL) {
        return -1;
    }
    n = snprintf(head, sizeof(head), "*2\r\n$%zu\r\n%s\r\n$%zu\r\n", vlen,
                 verb, alen);
    if (n < 0 || (size_t)n >= sizeof(head)
        || sp_msg_gen_reserve(msg, (uint32_t)(n + alen + 2)) != 0
        || sp_msg_gen_push(msg, &msg->req, head, (uint32_t)n) != 0
        || sp_msg_gen_push(msg, &msg->req, arg, (uint32_t)alen) != 0
        || sp_msg_gen_push(msg, &msg->req, "\r\n", 2) != 0) {
        sp_msg_put(worker, msg);
        return -1;
    }
    msg->internal = true;
    sp_server_enqueue(conn, msg);
    return 0;
}

struct sp_conn *
sp_server_connect(struct sp_server *server)
{
    struct sp_pool *pool = server->pool;
    struct sp_worker *worker = pool->worker;
    const struct sp_conf_pool *conf = pool->conf;
    struct sp_conn *conn;
    int fd;

    fd = sp_net_connect(&server->conf->addr);
    if (fd < 0) {
        int err = errno;
        sp_log_warn(worker->log, err, "pool '%s': connect to server '%s' "
                    "failed", conf->name, server->conf->name);
        errno = err;
        return NULL;
    }
    conn = sp_conn_new(worker, fd, SP_CONN_SERVER);
    if (conn == NULL) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    conn->pool = pool;
    conn->server = server;
    conn->connecting = true;
    if (!server->conf->addr.is_unix) {
        sp_net_set_nodelay(fd);
    }
    if (conf->tcpkeepalive) {
        sp_net_set_keepalive(fd);
    }
    if (sp_conn_register(conn) != 0) {
        int err = errno;
        sp_conn_free(conn);
        errno = err;
        return NULL;
    }
    TAILQ_INSERT_TAIL(&server->conns, conn, link);
    server->nconns++;
    server->stats.server_connections++;
    sp_server_arm_timer(conn);

    char db[16];
    snprintf(db, sizeof(db), "%d", conf->redis_db);
    if ((conf->redis && conf->redis_auth != NULL
         && sp_server_internal(conn, "AUTH", conf->redis_auth) != 0)
        || (conf->redis && conf->redis_db > 0
            && sp_server_internal(conn, "SELECT", db) != 0)) {
        sp_server_close(conn, sp_server_error_text(ENOMEM));
        errno = ENOMEM;
        return NULL;
    }
    return conn;
}

struct sp_conn *
sp_server_conn(struct sp_server *server)
{
    uint32_t limit = (uint32_t)server->pool->conf->server_connections;
    struct sp_conn *conn;

    if (server->nconns < limit) {
        return sp_server_connect(server);
    }
    uint32_t pick = server->next_conn++ % server->nconns;
    TAILQ_FOREACH(conn, &server->conns, link) {
        if (pick-- == 0) {
            return conn;
        }
    }
    return TAILQ_FIRST(&server->conns);
}

/* ---- queueing and writing ---------------------------------------------- */

void
sp_server_enqueue(struct sp_conn *sconn, struct sp_msg *msg)
{
    struct sp_stats_server *st = &sconn->server->stats;

    msg->sconn = sconn;
    msg->send_seg = msg->send_off = 0;
    TAILQ_INSERT_TAIL(&sconn->queue, msg, slink);
    sconn->nqueued++;
    st->in_queue++;
    st->in_queue_bytes += (int64_t)msg->req.bytes;
    if (!msg->internal) {
        st->requests++;
        st->request_bytes += (int64_t)msg->req.bytes;
    }
    sp_conn_want_flush(sconn);
}

static void
sp_server_sent(struct sp_conn *conn, struct sp_msg *msg)
{
    struct sp_stats_server *st = &conn->server->stats;

    TAILQ_REMOVE(&conn->queue, msg, slink);
    conn->nqueued--;
    st->in_queue--;
    st->in_queue_bytes -= (int64_t)msg->req.bytes;
    TAILQ_INSERT_TAIL(&conn->inflight, msg, slink);
    msg->in_flight = true;
    msg->sent_ms = sp_event_now_ms(conn->worker->loop);
    st->out_queue++;
    st->out_queue_bytes += (int64_t)msg->req.bytes;
    sp_server_arm_timer(conn);
}

void
sp_server_flush(struct sp_conn *conn)
{
    struct iovec iov[SP_IOV_MAX];

    while (!conn->connecting && conn->write_ready
           && !TAILQ_EMPTY(&conn->queue)) {
        int niov = 0;
        struct sp_msg *msg;

        TAILQ_FOREACH(msg, &conn->queue, slink) {
            niov += sp_seglist_iov(&msg->req, msg->send_seg, msg->send_off,
                                   iov + niov, SP_IOV_MAX - niov);
            if (niov == SP_IOV_MAX) {
                break;
            }
        }
        ssize_t n = writev(conn->fd, iov, niov);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                conn->write_ready = false;
                return;
            }
            conn->server->stats.server_err++;
            sp_server_failed(conn->server);
            sp_server_close(conn, sp_server_error_text(errno));
            return;
        }
        size_t left = (size_t)n;
        while (left > 0 && (msg = TAILQ_FIRST(&conn->queue)) != NULL) {
            left = sp_seglist_advance(&msg->req, &msg->send_seg, &msg->send_off,
                                      left);
            if (msg->send_seg < msg->req.n) {
                break;
            }
            sp_server_sent(conn, msg);
        }
        /* a fully written message with nothing left over may remain */
        while ((msg = TAILQ_FIRST(&conn->queue)) != NULL
               && msg->send_seg >= msg->req.n) {
            sp_server_sent(conn, msg);
        }
    }
}

/* ---- closing ------------------------------------------------------------------ */

static void
sp_server_fail_queue(struct sp_conn *conn, struct sp_msg_queue *queue,
                     bool inflight, const char *error)
{
    struct sp_stats_server *st = &conn->server->stats;
    struct sp_msg *msg;

    while ((msg = TAILQ_FIRST(queue)) != NULL) {
        TAILQ_REMOVE(queue, msg, slink);
        if (inflight) {
            st->out_queue--;
            st->out_queue_bytes -= (int64_t)msg->req.bytes;
        } else {
            conn->nqueued--;
            st->in_queue--;
            st->in_queue_bytes -= (int64_t)msg->req.bytes;
        }
        msg->in_flight = false;
        msg->error = error;
        if (!msg->internal && conn->pool != NULL) {
            conn->pool->stats.forward_error++;
        }
        sp_msg_part_done(conn->worker, msg);
    }
}

void
sp_server_close(struct sp_conn *conn, const char *error)
{
    struct sp_server *server = conn->server;

    sp_server_fail_queue(conn, &conn->inflight, true, error);
    sp_server_fail_queue(conn, &conn->queue, false, error);
    TAILQ_REMOVE(&server->conns, conn, link);
    server->nconns--;
    server->stats.server_connections--;
    sp_conn_free(conn);
}

static void
sp_server_timeout(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_conn *conn = timer->data;
    int timeout = conn->pool->conf->timeout;
    uint64_t now = sp_event_now_ms(loop);
    struct sp_msg *head = TAILQ_FIRST(&conn->inflight);

    if (!conn->connecting) {
        if (head == NULL) {
            return;                     /* nothing waits: stay disarmed */
        }
        if (now < head->sent_ms + (uint64_t)timeout) {
            sp_timer_add(loop, &conn->timer,
                         head->sent_ms + (uint64_t)timeout - now,
                         sp_server_timeout, conn);
            return;
        }
    }
    sp_log_warn(conn->worker->log, 0, "pool '%s': server '%s' timed out "
                "after %d ms%s; closing the connection", conn->pool->conf->name,
                conn->server->conf->name, timeout,
                conn->connecting ? " connecting" : "");
    conn->server->stats.server_timedout++;
    sp_server_failed(conn->server);
    sp_server_close(conn, sp_server_error_text(ETIMEDOUT));
}

/* ---- replies -------------------------------------------------------------------- */

static int
sp_server_grow(void **array, uint32_t *cap, uint32_t need, size_t size)
{
    if (*cap >= need) {
        return 0;
    }
    uint32_t ncap = *cap == 0 ? SP_RSTACK_MIN : *cap;
    while (ncap < need) {
        ncap *= 2;
    }
    void *grown = realloc(*array, (size_t)ncap * size);
    if (grown == NULL) {
        return -1;
    }
    *array = grown;
    *cap = ncap;
    return 0;
}

/* Start parsing the reply of the oldest in-flight request at `offset`. */
static int
sp_server_reply_start(struct sp_conn *conn, uint64_t offset)
{
    struct sp_msg *head = TAILQ_FIRST(&conn->inflight);
    uint32_t elems = head != NULL && head->parent != NULL ? head->nkeys : 0;

    if (sp_server_grow((void **)&conn->rstack, &conn->rstack_cap,
                       SP_RSTACK_MIN, sizeof(*conn->rstack)) != 0
        || sp_server_grow((void **)&conn->relems, &conn->relems_cap,
                          elems, sizeof(*conn->relems)) != 0) {
        return -1;
    }
    sp_redis_reply_init(&conn->parser.rsp, offset, conn->rstack,
                        conn->rstack_cap, conn->relems, elems);
    conn->rsp_fresh = false;
    return 0;
}

static int
sp_server_reply(struct sp_conn *conn)
{
    struct sp_redis_reply_parser *p = &conn->parser.rsp;
    struct sp_stats_server *st = &conn->server->stats;
    struct sp_msg *msg = TAILQ_FIRST(&conn->inflight);

    if (msg == NULL) {
        sp_log_error(conn->worker->log, 0, "pool '%s': server '%s' sent a "
                     "reply nobody asked for", conn->pool->conf->name,
                     conn->server->conf->name);
        return -1;
    }
    TAILQ_REMOVE(&conn->inflight, msg, slink);
    msg->in_flight = false;
    st->out_queue--;
    st->out_queue_bytes -= (int64_t)msg->req.bytes;
    if (!msg->internal) {
        st->responses++;
        st->response_bytes += (int64_t)(p->end - p->start);
    }
    if (sp_seglist_from_chain(&msg->rsp, &conn->in, conn->in_base, p->start,
                              p->end) != 0) {
        msg->error = sp_server_error_text(ENOMEM);
    }
    if (msg->internal && p->type == SP_REDIS_REPLY_ERROR) {
        sp_log_error(conn->worker->log, 0, "pool '%s': server '%s' refused "
                     "redis_auth or redis_db", conn->pool->conf->name,
                     conn->server->conf->name);
    }
    if (msg->parent != NULL) {
        /* a fragment: keep what the merge needs */
        msg->sum = p->type == SP_REDIS_REPLY_INTEGER ? p->integer : 0;
        msg->rsp_error = p->type == SP_REDIS_REPLY_ERROR;
        msg->rsp_array = p->type == SP_REDIS_REPLY_ARRAY && !p->nil;
        if (p->type == SP_REDIS_REPLY_ARRAY && !p->nil) {
            if (sp_server_grow((void **)&msg->elems, &msg->elems_cap,
                               p->nelements, sizeof(*msg->elems)) != 0) {
                msg->error = sp_server_error_text(ENOMEM);
            } else {
                for (uint32_t i = 0; i < p->nelements; i++) {
                    msg->elems[i].offset = p->elements[i].offset - p->start;
                    msg->elems[i].len = p->elements[i].len;
                }
                msg->nelems = p->nelements;
            }
        }
    }
    sp_conn_consume(conn, p->end);
    conn->rsp_fresh = true;
    sp_server_ok(conn->server);
    sp_msg_part_done(conn->worker, msg);
    return 0;
}

static int
sp_server_on_data(struct sp_conn *conn, const uint8_t *data, size_t len)
{
    uint64_t offset = conn->in_end - len;

    while (len > 0) {
        size_t consumed = 0;

        if (conn->rsp_fresh && sp_server_reply_start(conn, offset) != 0) {
            conn->closing = true;
            return -1;
        }
        sp_parse_status_t status = sp_redis_reply_parse(&conn->parser.rsp,
                                                        data, len, &consumed);
        if (status == SP_PARSE_ERROR) {
            sp_log_error(conn->worker->log, 0, "pool '%s': server '%s' sent "
                         "a malformed reply: %s", conn->pool->conf->name,
                         conn->server->conf->name, conn->parser.rsp.error);
            conn->closing = true;
            return -1;
        }
        data += consumed;
        len -= consumed;
        offset += consumed;
        if (status == SP_PARSE_DONE && sp_server_reply(conn) != 0) {
            conn->closing = true;
            return -1;
        }
    }
    return 0;
}

void
sp_server_on_event(struct sp_conn *conn, uint32_t ready)
{
    struct sp_server *server = conn->server;

    if (conn->connecting && (ready & (SP_EV_WRITE | SP_EV_ERROR))) {
        int err = sp_net_socket_error(conn->fd);
        if (err != 0) {
            sp_log_warn(conn->worker->log, err, "pool '%s': connect to "
                        "server '%s' failed", conn->pool->conf->name,
                        server->conf->name);
            server->stats.server_err++;
            sp_server_failed(server);
            sp_server_close(conn, sp_server_error_text(err));
            return;
        }
        conn->connecting = false;
        sp_timer_del(conn->worker->loop, &conn->timer);
        if (!TAILQ_EMPTY(&conn->inflight)) {
            sp_server_arm_timer(conn);
        }
    }
    if (ready & SP_EV_WRITE) {
        conn->write_ready = true;
        if (!TAILQ_EMPTY(&conn->queue)) {
            sp_conn_want_flush(conn);
        }
    }
    if (ready & (SP_EV_READ | SP_EV_ERROR | SP_EV_RDHUP)) {
        ssize_t n = sp_conn_read(conn, sp_server_on_data);

        if (conn->closing) {
            server->stats.server_err++;
            sp_server_failed(server);
            sp_server_close(conn, sp_server_error_text(EPROTO));
        } else if (n < 0) {
            int err = errno;
            server->stats.server_err++;
            sp_server_failed(server);
            sp_server_close(conn, sp_server_error_text(err));
        } else if (conn->eof) {
            server->stats.server_eof++;
            sp_server_close(conn, sp_server_error_text(ECONNRESET));
        }
    }
}

/*
 * sp_conn.c — connection objects: life, reading into buffers, consuming
 * input, key access, flush requests (see sp_conn.h). What a connection does
 * with its bytes lives in sp_client.c and sp_server.c.
 */
#include "sp_conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sp_defer.h"
#include "sp_pool.h"
#include "sp_proto.h"
#include "sp_shared.h"
#include "sp_worker.h"


struct sp_conn *
sp_conn_new(struct sp_worker *worker, int fd, sp_conn_kind_t kind)
{
    struct sp_conn *conn;

    if (kind == SP_CONN_SERVER) {
        struct sp_sconn *sc = calloc(1, sizeof(*sc) + sp_proto_server_size());
        if (sc == NULL) {
            return NULL;
        }
        SP_MSGQ_INIT(&sc->inflight);
        sc->rsp_fresh = true;
        conn = &sc->conn;
    } else {
        conn = calloc(1, sizeof(*conn));
        if (conn == NULL) {
            return NULL;
        }
    }
    conn->fd = fd;
    conn->kind = kind;
    /* on an io_uring loop the sends of a turn go out together */
    conn->io = worker->ring_sends && (kind == SP_CONN_CLIENT
                                      || kind == SP_CONN_SERVER)
               ? &sp_io_ring : &sp_io_plain;
    conn->worker = worker;
    sp_mbuf_chain_init(&conn->in);
    SP_MSGQ_INIT(&conn->queue);
    worker->slot->total_connections++;
    worker->slot->curr_connections++;
    return conn;
}

int
sp_conn_register(struct sp_conn *conn)
{
    uint32_t interest = SP_EV_READ | SP_EV_WRITE;

    if (conn->kind == SP_CONN_LISTENER || conn->kind == SP_CONN_STATS
        || conn->kind == SP_CONN_CHANNEL) {
        interest = SP_EV_READ | SP_EV_LEVEL;
    }
    return sp_event_add(conn->worker->loop, conn->fd, interest,
                        sp_worker_on_event, conn);
}

void
sp_conn_free(struct sp_conn *conn)
{
    struct sp_worker *worker = conn->worker;

    if (conn->in_flush) {
        struct sp_conn_list *list = conn->kind == SP_CONN_SERVER
                                    ? &worker->flush_servers
                                    : &worker->flush_clients;
        TAILQ_REMOVE(list, conn, flush_link);
        conn->in_flush = false;
    }
    if (conn->read_later) {
        sp_defer_read_cancel(conn);
    }
    sp_timer_del(worker->loop, &conn->timer);
    if (conn->fd >= 0) {
        if ((conn->kind == SP_CONN_CLIENT || conn->kind == SP_CONN_SERVER)
            && !conn->fd_shared) {
            /* ours alone: close() takes it out of epoll, no epoll_ctl */
            sp_event_forget(worker->loop, conn->fd);
        } else {
            sp_event_del(worker->loop, conn->fd);   /* listeners, channel,
                                                       handed-over clients */
        }
        conn->io->close(conn);      /* the transport's state, then fd */
        conn->fd = -1;
    }
    sp_mbuf_chain_release(&worker->mbufs, &conn->in);
    if (conn->parse != NULL) {
        sp_client_parse_put(&worker->parses, conn->parse);
    }
    if (conn->kind == SP_CONN_SERVER && conn->pool != NULL) {
        conn->pool->proto->server_free(conn);
    }
    worker->slot->curr_connections--;
    free(conn);
}

void
sp_conn_io_wait(struct sp_conn *conn, bool wait)
{
    if (conn->io_wait == wait || conn->fd < 0) {
        return;
    }
    conn->io_wait = wait;
    /* registered (the transport is set up after sp_conn_register), so this
     * cannot fail; the plain path's handler stays untouched */
    (void)sp_event_set_handler(conn->worker->loop, conn->fd,
                               wait ? sp_worker_io_event : sp_worker_on_event);
}

void
sp_conn_input_idle(struct sp_conn *conn)
{
    struct sp_mbuf *head = conn->in.head;

    if (head != NULL && head == conn->in.tail && sp_mbuf_length(head) == 0
        && head->refs == 1) {
        sp_mbuf_unref(&conn->worker->mbufs, sp_mbuf_chain_pop(&conn->in));
    }
}

ssize_t
sp_conn_read(struct sp_conn *conn, uint32_t ready, sp_conn_data_fn on_data)
{
    /* the peer's FIN came with this event: read on to see the EOF */
    bool pending_eof = (ready & (SP_EV_RDHUP | SP_EV_ERROR)) != 0;
    struct sp_worker *worker = conn->worker;
    ssize_t total = 0;

    for (;;) {
        struct sp_mbuf *tail = conn->in.tail;
        bool spare = false;

        if (tail == NULL || sp_mbuf_room(tail) == 0) {
            /*
             * No room of its own: read into the worker's spare, which
             * becomes the connection's only if bytes come. An EOF or an
             * EAGAIN takes no buffer (10,000 idle clients leaving at once
             * used to take 10,000), and the bytes are not copied.
             */
            if (worker->read_spare == NULL) {
                worker->read_spare = sp_mbuf_get(&worker->mbufs);
                if (worker->read_spare == NULL) {
                    errno = ENOMEM;
                    return -1;
                }
            }
            tail = worker->read_spare;
            spare = true;
        }

        size_t room = sp_mbuf_room(tail);
        ssize_t n = conn->io->recv(conn, tail->last, room);
        if (n > 0) {
            if (spare) {
                worker->read_spare = NULL;
                sp_mbuf_chain_append(&conn->in, tail);
            }
            const uint8_t *data = tail->last;
            tail->last += n;
            conn->in_end += (uint64_t)n;
            total += n;
            /* the handler never frees conn; it sets conn->closing to stop */
            if (on_data(conn, data, (size_t)n) != 0 || conn->closing) {
                return total;
            }
            /*
             * Edge-triggered: a short read drained the socket, and bytes
             * (or a FIN) arriving later raise a new edge, so the read that
             * would only say EAGAIN is skipped (nginx does the same).
             */
            if ((size_t)n < room && !pending_eof) {
                sp_conn_input_idle(conn);
                return total;
            }
            if (total >= SP_CONN_READ_TURN && sp_defer_read(conn)) {
                return total;               /* the others first */
            }
            continue;
        }
        if (n == 0) {
            conn->eof = true;
            return total;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            sp_conn_input_idle(conn);
            return total;
        }
        return -1;
    }
}

void
sp_conn_consume(struct sp_conn *conn, uint64_t upto)
{
    struct sp_worker *worker = conn->worker;

    while (conn->in_base < upto && conn->in.head != NULL) {
        struct sp_mbuf *head = conn->in.head;
        uint64_t have = sp_mbuf_length(head);
        uint64_t take = upto - conn->in_base;

        if (take < have) {
            head->pos += take;
            conn->in_base += take;
            return;
        }
        head->pos += have;
        conn->in_base += have;
        /* keep the tail buffer while it has room: reads continue into it */
        if (head == conn->in.tail && sp_mbuf_room(head) > 0) {
            return;
        }
        sp_mbuf_unref(&worker->mbufs, sp_mbuf_chain_pop(&conn->in));
    }
}

const uint8_t *
sp_conn_key(struct sp_conn *conn, const struct sp_span *key)
{
    uint64_t at = conn->in_base;

    for (struct sp_mbuf *m = conn->in.head; m != NULL; m = m->next) {
        uint64_t len = sp_mbuf_length(m);

        if (key->offset < at + len) {
            uint64_t skip = key->offset - at;
            if (skip + key->len <= len) {
                return m->pos + skip;       /* in place */
            }
            break;
        }
        at += len;
    }
    uint8_t *copy = sp_worker_scratch(conn->worker, key->len);
    if (copy == NULL) {
        return NULL;
    }
    sp_mbuf_chain_copy(&conn->in, key->offset - conn->in_base, copy, key->len);
    return copy;
}

void
sp_conn_want_flush(struct sp_conn *conn)
{
    struct sp_worker *worker = conn->worker;

    if (conn->in_flush || conn->fd < 0) {
        return;
    }
    conn->in_flush = true;
    if (conn->kind == SP_CONN_SERVER) {
        TAILQ_INSERT_TAIL(&worker->flush_servers, conn, flush_link);
    } else {
        TAILQ_INSERT_TAIL(&worker->flush_clients, conn, flush_link);
    }
}

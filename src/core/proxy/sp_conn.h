/*
 * sp_conn.h — connections of a worker: pool listeners, clients, servers,
 * and the stats listener, with their input buffers and queues.
 *
 * Every socket is non-blocking and registered once with the event loop,
 * edge-triggered for read and write. The owner reads until EAGAIN into the
 * tail buffer of `in` and writes until EAGAIN; `write_ready` remembers that
 * the socket can take more, so output produced later in the same wake-up is
 * written by the worker's flush, one writev per connection per wake-up.
 *
 * Stream offsets: `in_base` is the stream offset of in.head->pos (what was
 * consumed before it is gone), `in_end` the offset one past the last byte
 * read. Parsers report offsets in this stream.
 */
#ifndef SP_CONN_H
#define SP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "sp_event.h"
#include "sp_io.h"
#include "sp_mbuf.h"
#include "sp_msg.h"

struct sp_client_parse;
struct sp_pool;
struct sp_server;
struct sp_worker;

typedef enum sp_conn_kind {
    SP_CONN_LISTENER,       /* a pool's listening socket */
    SP_CONN_CLIENT,
    SP_CONN_SERVER,
    SP_CONN_STATS,          /* the stats port's listening socket */
    SP_CONN_CHANNEL         /* the worker's end of the master's channel */
} sp_conn_kind_t;

/*
 * A connection of any kind, and all a client needs. A client is the one
 * connection there are many of (10,000 idle app-server connections per
 * worker are normal), so it carries nothing it does not always use: its
 * request parser is lent only while a request is partly read
 * (sp_client_parse.h), its input buffer only while it holds unconsumed
 * bytes (sp_conn_read), and what only server connections need lives in
 * struct sp_sconn around it.
 */
struct sp_conn {
    int                  fd;
    sp_conn_kind_t       kind;
    struct sp_worker    *worker;
    struct sp_pool      *pool;      /* listener, client, server */
    const struct sp_io  *io;        /* its transport (sp_io.h): plain
                                       sockets unless it speaks TLS */
    void                *io_data;   /* the transport's own state */

    struct sp_mbuf_chain in;
    uint64_t             in_base;
    uint64_t             in_end;

    struct sp_msg_queue  queue;     /* client: requests in order;
                                       server: to be sent */
    struct sp_client_parse *parse;  /* client: parser state while a request
                                       is partly read, else NULL */
    uint64_t             req_held;      /* client: bytes of requests in the proxy */
    uint64_t             rsp_held;      /* client: bytes of replies to write */
    uint64_t             progress_ms;   /* client: last whole request (loop clock) */

    bool                 write_ready;
    bool                 eof;           /* peer closed its side */
    bool                 closing;       /* close once output is written */
    bool                 authenticated; /* client passed AUTH (redis_auth) */
    bool                 lingering;     /* refused client: drain, then close */
    bool                 overflow;      /* client went over client_output_limit */
    bool                 in_flush;      /* on the worker's flush list */
    bool                 fd_shared;     /* another descriptor refers to the
                                           socket (handed over) */
    bool                 read_later;    /* read on at the next turn
                                           (sp_defer_read) */
    bool                 io_wait;       /* the transport sees readiness
                                           first (sp_io.h: a handshake) */
    uint8_t              read_paused;   /* client: not read (SP_FLOW_*:
                                           its window, the budget) */
    uint8_t              variant;       /* client: the server connection
                                           set its requests use (the
                                           protocol's: RESP2 or RESP3) */
    uint32_t             nreqs;         /* client: requests in its queue */
    uint64_t             id;            /* client: unique in the proxy */
    uint64_t             opened_ms;     /* client: accepted (loop clock) */
    void                *session;       /* client: the protocol's session
                                           state (name, protocol, ...),
                                           NULL until it has any */

    TAILQ_ENTRY(sp_conn) link;      /* pool's clients / server's conns */
    TAILQ_ENTRY(sp_conn) flush_link;
    struct sp_timer      timer;     /* client: client_timeout or linger;
                                       server: connect / reply deadline;
                                       listener: accept retry */
};

/*
 * A server connection: a connection, and its reply side. The reply parser
 * is the protocol's (sp_proto.h: server_size bytes, inline at the end, so
 * reaching it costs no pointer chase); the core only knows whether one is
 * started.
 */
struct sp_sconn {
    struct sp_conn       conn;      /* first: sp_sconn() converts */
    struct sp_server    *server;
    struct sp_msg_queue  inflight;  /* sent, awaiting replies in order */
    struct sp_conn      *owner;     /* pinned: the client it is lent to */
    int                  timeout;   /* ms a reply may take (the pool's
                                       timeout; a blocking call's own
                                       plus the pool's); <= 0: none */
    uint8_t              variant;   /* its handshake (sp_pool.h) */
    bool                 pinned;    /* lent to one client, never shared */
    bool                 dedicated; /* the protocol's own: never shared,
                                       its replies not matched to requests
                                       once the handshake is answered */
    bool                 blocking;  /* of the set for blocking calls: lent
                                       (owner) or idle (sp_server_lend) */
    bool                 connecting;    /* connect() in progress */
    bool                 rsp_fresh;     /* reply parser not started */
    _Alignas(max_align_t) unsigned char state[];  /* the protocol's */
};

/* The pool a message belongs to: its client's, or its own (sp_msg.h). */
static inline struct sp_pool *
sp_msg_pool(const struct sp_msg *msg)
{
    return msg->by_client ? msg->owner.client->pool : msg->owner.pool;
}

/* The server connection around conn (conn->kind == SP_CONN_SERVER). */
static inline struct sp_sconn *
sp_sconn(struct sp_conn *conn)
{
    return (struct sp_sconn *)conn;
}

/* The protocol's reply state of a server connection. */
static inline void *
sp_sconn_state(struct sp_conn *conn)
{
    return sp_sconn(conn)->state;
}

TAILQ_HEAD(sp_conn_list, sp_conn);

/* A connection object for fd (not yet registered), a struct sp_sconn for
 * SP_CONN_SERVER. NULL: ENOMEM. */
struct sp_conn *sp_conn_new(struct sp_worker *worker, int fd,
                            sp_conn_kind_t kind);

/* The transport must see readiness first (true: its `event` op filters
 * every event, sp_io.h) or no longer (false). Registered connections only. */
void sp_conn_io_wait(struct sp_conn *conn, bool wait);

/* Unregister, close the socket, release buffers; the object is freed. */
void sp_conn_free(struct sp_conn *conn);

/* Register with the loop (edge-triggered, or level for listeners). */
int sp_conn_register(struct sp_conn *conn);

/*
 * Read until the socket is drained (EAGAIN, or a short read: with
 * edge-triggered events a later arrival raises a new edge; but with
 * SP_EV_RDHUP or SP_EV_ERROR in `ready`, on to the EOF), EOF or error into
 * the input chain; for each newly
 * filled span call on_data(conn, data, len), which must not free conn and
 * stops the reading by returning -1 or setting conn->closing. After
 * SP_CONN_READ_TURN bytes it stops and reads on at the loop's next turn
 * (sp_defer_read), so a peer that sends megabytes at once (a wide MGET, or
 * its replies) takes its turn like the others. Returns the bytes read;
 * sets conn->eof on EOF; -1 on a read error (errno kept) or ENOMEM.
 * A connection with no room left reads into the worker's spare buffer,
 * which joins its chain only when bytes arrive: an EOF costs no buffer.
 */
#define SP_CONN_READ_TURN   (256 * 1024)

typedef int (*sp_conn_data_fn)(struct sp_conn *conn, const uint8_t *data,
                               size_t len);
ssize_t sp_conn_read(struct sp_conn *conn, uint32_t ready,
                     sp_conn_data_fn on_data);

/*
 * Give the input buffer back to the free list when it holds no unconsumed
 * byte and no message refers to it any more (called when a read drains the
 * socket, and when a client's last reply is written). An idle connection
 * then holds no buffer: 10,000 idle clients cost their connection objects,
 * not 10,000 buffers, and the next read takes one from the free list, where
 * the same few buffers circulate. A buffer that a message still refers to
 * stays with the connection, so later reads go on filling it (requests in
 * flight share buffers instead of holding one each).
 */
void sp_conn_input_idle(struct sp_conn *conn);

/* Drop input bytes before stream offset `upto` (they belong to messages). */
void sp_conn_consume(struct sp_conn *conn, uint64_t upto);

/* Key bytes at (offset, len) of the input stream: in place when they sit in
 * one buffer, else copied into the worker's scratch. NULL: ENOMEM. */
const uint8_t *sp_conn_key(struct sp_conn *conn, const struct sp_span *key);

/* Put on the worker's flush list (output to write at the end of the wake-up). */
void sp_conn_want_flush(struct sp_conn *conn);

#endif /* SP_CONN_H */

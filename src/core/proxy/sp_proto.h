/*
 * sp_proto.h — what the connection code asks of a protocol (Redis,
 * Memcached): a small table of operations chosen per pool, so client and
 * server connections stay protocol-free (as the event backend sits behind
 * its own table).
 *
 * The arrow runs one way: src/proto includes the core's headers, never the
 * reverse (CMakeLists.txt fails the build if a core header includes one of
 * src/proto). A protocol hangs its state on the core's objects through this
 * table: a client's request parser (parse_size bytes at the end of struct
 * sp_client_parse), a server connection's reply parser and what it owns
 * (server_size bytes at the end of struct sp_sconn, released by
 * server_free), a message's command row (msg->cmd, opaque to the core).
 */
#ifndef SP_PROTO_H
#define SP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sp_client_parse;
struct sp_conn;
struct sp_msg;
struct sp_pool;
struct sp_worker;

struct sp_proto {
    const char *name;

    size_t parse_size;      /* a client's request parser state */
    size_t server_size;     /* a server connection's reply state */

    /* Set up a client's request parser state at stream offset `offset`
     * (the state is lent per request: sp_client_parse.h). */
    void (*parse_init)(struct sp_client_parse *ps, uint64_t offset);

    /* The parser is at a request boundary (its state can be handed back). */
    bool (*parse_idle)(const struct sp_client_parse *ps);

    /* Bytes read from a client (client->parse is set): parse and dispatch
     * every whole request. Returns -1 (and may set client->closing) to stop
     * reading. */
    int (*client_data)(struct sp_conn *client, const uint8_t *data,
                       size_t len);

    /* Release what a server connection's reply state holds (not the state
     * itself, which lives in the connection object). */
    void (*server_free)(struct sp_conn *server);

    /* The name of msg's command ("?" when unknown), and in *first_key the
     * argument index of its first key (0: none), for the slow log. */
    const char *(*command_name)(const struct sp_msg *msg, int *first_key);

    /* A new server connection: queue what must precede requests (AUTH,
     * SELECT). 0 / -1. */
    int (*server_init)(struct sp_conn *server);

    /* Bytes read from a server: parse replies and match them to requests.
     * Returns -1 (and sets server->closing) when the stream is broken. */
    int (*server_data)(struct sp_conn *server, const uint8_t *data,
                       size_t len);

    /* Every server part of a request is done: build its reply. False when
     * that goes on in steps (the protocol passed msg to sp_defer_add). */
    bool (*complete)(struct sp_worker *worker, struct sp_msg *msg);

    /* The next step of a request passed to sp_defer_add (a bounded piece of
     * its split or merge, msg->step_phase says which). True when the
     * steps are over: its fragments are sent, or its reply is done, or it
     * was passed to sp_defer_add again for the next phase. NULL: the
     * protocol never defers. */
    bool (*step)(struct sp_worker *worker, struct sp_msg *msg);

    /* The static error reply for an errno ("-ERR Connection refused\r\n"). */
    const char *(*error_reply)(int err);

    /* A client closes: release its session state (client->session).
     * NULL: the protocol keeps none. */
    void (*client_free)(struct sp_conn *client);

    /* A client is handed to another worker (reload, upgrade): its session
     * as bytes into buf (cap bytes): their length (0: nothing to keep), or
     * -1 when it cannot move now (mid-transaction: asked again at its next
     * request boundary). NULL: nothing to keep. */
    int (*session_save)(const struct sp_conn *client, char *buf, size_t cap);

    /* ... and given to the client on the worker that adopts it. */
    void (*session_restore)(struct sp_conn *client, const char *buf,
                            size_t len);

    /* The client waits for output it did not ask for (a Redis subscriber):
     * client_timeout spares it, as redis-server's timeout spares
     * subscribers. NULL: never. */
    bool (*client_waits)(const struct sp_conn *client);

    /* The pool goes away: release pool->proto_state (its connections
     * close after this; the protocol must not reopen any). NULL: it keeps
     * none. */
    void (*pool_free)(struct sp_pool *pool);

    /* A connection pinned to client closes (server failure, shutdown):
     * the client's session forgets it. NULL: the protocol never pins. */
    void (*pin_lost)(struct sp_conn *client, struct sp_conn *server);

    /* Its commands' numbers for the refusal counters (sp_refused.h):
     * 0 .. refused_ids - 1, named by refused_name; counted from
     * sp_proto_refused_base(proto) on. 0: it numbers none. */
    uint32_t refused_ids;
    const char *(*refused_name)(uint32_t id);

    /* Another worker's question about this protocol's clients (sp_ask.h),
     * kind and its bytes as the asking worker's protocol wrote them:
     * answer it from this worker's clients with a number, and bulk bytes
     * in *out (malloc'd, *outlen of them; NULL: none). NULL: it asks
     * none. */
    int64_t (*answer)(struct sp_worker *worker, uint32_t kind,
                      const void *question, size_t len, char **out,
                      size_t *outlen);
};

/* The error reply for a server failure errno, in either protocol. */
const char *sp_proto_error_text(int err, bool redis);

extern const struct sp_proto sp_proto_redis;
extern const struct sp_proto sp_proto_memcache;

/* Where a protocol's command numbers begin among the refusal counters
 * (the protocols' numbers follow each other in a fixed order). */
uint32_t sp_proto_refused_base(const struct sp_proto *proto);

/* The name of refusal counter id (a command of some protocol), or NULL. */
const char *sp_proto_refused_name(uint32_t id);

/* The largest parse_size and server_size of the protocols (objects are
 * sized for any pool, so the free lists are shared). */
size_t sp_proto_parse_size(void);

/* The protocol called name (sp_proto.name), or NULL. */
const struct sp_proto *sp_proto_named(const char *name);
size_t sp_proto_server_size(void);

#endif /* SP_PROTO_H */

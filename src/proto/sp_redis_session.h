/*
 * sp_redis_session.h — what the proxy keeps of one Redis client beyond its
 * connection (DESIGN.md section 8, client session state), and the one
 * writer of the replies the proxy makes itself, which knows the client's
 * protocol.
 *
 * A client that never says HELLO, CLIENT SETNAME, MULTI or WATCH has no
 * session (client->session is NULL: 10,000 idle RESP2 clients cost nothing
 * more); the first command that needs one makes it.
 *
 * Private to src/proto/sp_redis_*.c.
 */
#ifndef SP_REDIS_SESSION_H
#define SP_REDIS_SESSION_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sp_conn.h"
#include "sp_msg.h"
#include "sp_redis.h"

/* The Redis version the proxy answers as (HELLO), whose commands its table
 * holds. */
#define SP_REDIS_COMPAT_VERSION "7.0.15"

enum sp_redis_reply_mode {
    SP_REPLY_ON,
    SP_REPLY_OFF,           /* CLIENT REPLY OFF: no reply at all */
    SP_REPLY_SKIP           /* CLIENT REPLY SKIP: none for the next command */
};

struct sp_redis_session {
    uint8_t             resp;           /* 2 or 3 */
    uint8_t             reply_mode;
    bool                skip_next;      /* SKIP given: the next reply goes */
    bool                no_evict, no_touch;

    /* MULTI ... EXEC: commands queued here (msgs holding their bytes),
     * sent together at EXEC (sp_redis_txn.c) */
    bool                multi;
    bool                txn_failed;     /* a command was refused: EXECABORT */
    int32_t             txn_server;     /* -1: no key seen yet */
    struct sp_msg_queue txn;
    uint32_t            ntxn;

    /* WATCH: a server connection lent to this client until EXEC, DISCARD,
     * UNWATCH or RESET */
    struct sp_conn     *pinned;
    int32_t             pinned_server;

    /* BLPOP ...: the connection lent to this client for the call it waits
     * in (sp_redis_block.c); NULL when it waits for nothing */
    struct sp_conn     *lent;

    char               *name;           /* CLIENT SETNAME / HELLO SETNAME */
    char               *lib_name;       /* CLIENT SETINFO */
    char               *lib_ver;
    char               *user;           /* AUTH user; NULL: "default" */

    /* SUBSCRIBE and kin: its memberships and counts (sp_redis_pubsub.c) */
    void               *pubsub;
};

/* The client's session (NULL: none yet). */
static inline struct sp_redis_session *
sp_redis_session(const struct sp_conn *client)
{
    return client->session;
}

/* The client's session, made if it has none. NULL: out of memory. */
struct sp_redis_session *sp_redis_session_get(struct sp_conn *client);

/* The protocol the client speaks (2 or 3). */
static inline int
sp_redis_resp(const struct sp_conn *client)
{
    const struct sp_redis_session *s = client->session;

    return s != NULL ? s->resp : 2;
}

/* Release a client's session (sp_proto.client_free). */
void sp_redis_session_free(struct sp_conn *client);

/* A connection pinned or lent to client is no longer its: closed, or its
 * blocking call answered (sp_proto.pin_lost). */
void sp_redis_session_pin_lost(struct sp_conn *client, struct sp_conn *server);

/*
 * A client moves to another worker (reload, upgrade): its protocol, name,
 * library and user as bytes (sp_proto.session_save / session_restore).
 * -1 while it is in a transaction, watches keys, waits in a blocking call
 * or is subscribed: it moves at a later request boundary, once that is
 * over (a subscriber that stays subscribed, or a call that waits for ever,
 * stays with its worker until worker_shutdown_timeout).
 */
int sp_redis_session_save(const struct sp_conn *client, char *buf, size_t cap);
void sp_redis_session_restore(struct sp_conn *client, const char *buf,
                              size_t len);

/* Back to a new connection's state (RESET): RESP2, no name, no
 * transaction, nothing watched, no subscription. */
void sp_redis_session_reset(struct sp_conn *client);

/* ---- the reply writer ------------------------------------------------------ */

/*
 * A reply built in a growing buffer, then given to the msg at once
 * (sp_rw_finish). Types RESP3 adds are written in RESP2's shapes for a
 * RESP2 client, as redis-server writes them: a map as an array of 2N, a set
 * as an array, null as $-1, a verbatim string as a bulk.
 */
struct sp_rw {
    char   *buf;
    size_t  len, cap;
    int     resp;
    bool    failed;         /* out of memory: sp_rw_finish fails */
};

void sp_rw_init(struct sp_rw *w, int resp);
void sp_rw_raw(struct sp_rw *w, const void *bytes, size_t len);
void sp_rw_fmt(struct sp_rw *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sp_rw_array(struct sp_rw *w, uint64_t n);
void sp_rw_map(struct sp_rw *w, uint64_t npairs);
void sp_rw_set(struct sp_rw *w, uint64_t n);
void sp_rw_bulk(struct sp_rw *w, const void *bytes, size_t len);
void sp_rw_str(struct sp_rw *w, const char *text);     /* a bulk */
void sp_rw_int(struct sp_rw *w, int64_t n);
void sp_rw_null(struct sp_rw *w);
void sp_rw_status(struct sp_rw *w, const char *text);  /* +text */
void sp_rw_verbatim(struct sp_rw *w, const char *text, size_t len);

/* The built reply becomes msg's (done). 0, or -1 out of memory. The
 * buffer is released either way. */
int sp_rw_finish(struct sp_rw *w, struct sp_msg *msg);

#endif /* SP_REDIS_SESSION_H */

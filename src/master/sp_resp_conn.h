/*
 * sp_resp_conn.h — a small non-blocking RESP client on the master's event
 * loop: connect to host:port, send commands (arrays of bulk strings), read
 * replies one by one. What the master's Sentinel follower (sp_sentinel.h)
 * talks to sentinels and servers with; not a data path.
 *
 * A reply is handed over flat: its type and text or number, and for an
 * array the first SP_RESP_ITEMS elements (a nested array as its type and
 * count only), and its whole bytes for a caller that walks deeper (the
 * Sentinel follower's SENTINEL REPLICAS, the cluster follower's CLUSTER
 * SHARDS). Replies and pushes longer than the connection's in_max
 * (SP_RESP_IN unless sp_resp_set_input says more) are a protocol error.
 * The buffer is allocated while the connection is open, and grows as a
 * reply needs it.
 *
 * Every step has a deadline while a reply is awaited (the connect too); a
 * subscriber's connection waits for pushes without one once its replies
 * came. Any failure closes the connection and then calls on_fail once; the
 * callbacks may close or reopen the connection.
 */
#ifndef SP_RESP_CONN_H
#define SP_RESP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sp_event.h"
#include "sp_resp_walk.h"

#define SP_RESP_OUT   2048
#define SP_RESP_IN    8192
#define SP_RESP_ITEMS 6

struct sp_resp_reply {
    const char         *raw;    /* the whole reply's bytes */
    size_t              raw_len;
    struct sp_resp_elem top;
    uint32_t            nitems; /* of top's elements, at most SP_RESP_ITEMS */
    struct sp_resp_elem items[SP_RESP_ITEMS];
};

struct sp_resp_conn;
typedef void (*sp_resp_reply_fn)(struct sp_resp_conn *c,
                                 const struct sp_resp_reply *reply,
                                 void *data);
typedef void (*sp_resp_fail_fn)(struct sp_resp_conn *c, const char *why,
                                void *data);

struct sp_resp_conn {
    struct sp_event_loop *loop;
    int                   fd;           /* -1: closed */
    bool                  connecting;
    uint64_t              serial;       /* +1 at each open and close */
    int                   timeout_ms;
    uint32_t              expect;       /* replies awaited */
    struct sp_timer       timer;
    sp_resp_reply_fn      on_reply;
    sp_resp_fail_fn       on_fail;
    void                 *data;
    char                  peer[80];     /* "host:port", for messages */
    size_t                out_len, out_sent;
    size_t                in_len;
    size_t                in_cap;
    size_t                in_max;       /* the longest reply taken */
    char                 *in;           /* while open */
    char                  out[SP_RESP_OUT];
};

/* A closed connection (fd -1), to be opened. */
void sp_resp_init(struct sp_resp_conn *c, struct sp_event_loop *loop);

/* The longest reply the connection takes (the buffer grows to it as
 * needed). */
void sp_resp_set_input(struct sp_resp_conn *c, size_t bytes);

/* Start connecting; commands may be queued at once. 0, or -1 (closed;
 * on_fail is not called). */
int sp_resp_open(struct sp_resp_conn *c, const char *host, uint16_t port,
                 int timeout_ms, sp_resp_reply_fn on_reply,
                 sp_resp_fail_fn on_fail, void *data);

/* Queue one command; its reply is awaited. 0, or -1 (no room). */
int sp_resp_command(struct sp_resp_conn *c, int argc, const char *const *argv);

void sp_resp_close(struct sp_resp_conn *c);

/* In a forked child: close the descriptor without touching the event
 * loop (not the child's), and free the buffer. */
void sp_resp_forget(struct sp_resp_conn *c);

static inline bool
sp_resp_is_open(const struct sp_resp_conn *c)
{
    return c->fd >= 0;
}

/* Whether item is a string equal to s (any case). */
bool sp_resp_item_is(const struct sp_resp_elem *item, const char *s);

/*
 * Parse one reply at buf: returns the bytes it takes, 0 when it is not
 * whole yet, -1 when it is no RESP.
 */
long sp_resp_parse(const char *buf, size_t len, struct sp_resp_reply *out);

#endif /* SP_RESP_CONN_H */

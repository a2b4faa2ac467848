/*
 * sp_redis_pubsub_int.h — what the files of pub/sub share (see
 * sp_redis_pubsub.h): the table of names a worker's clients subscribe to,
 * each client's memberships, the subscriber connections' confirmation
 * queues. Private to sp_redis_pubsub*.c and sp_redis_subscribe.c.
 *
 *   sp_redis_pubsub_table.c  the table, the pool's state, the counters
 *   sp_redis_pubsub.c        subscriber connections, what they read,
 *                            SUBSCRIBEs waiting for confirmations
 *   sp_redis_subscribe.c     the commands of a client (SUBSCRIBE ...)
 *   sp_redis_pubsub_info.c   PUBSUB, over every worker
 */
#ifndef SP_REDIS_PUBSUB_INT_H
#define SP_REDIS_PUBSUB_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "sp_event.h"
#include "sp_redis_pubsub.h"

enum sp_ps_kind {
    SP_PS_CHANNEL,          /* SUBSCRIBE, message */
    SP_PS_PATTERN,          /* PSUBSCRIBE, pmessage */
    SP_PS_SHARD,            /* SSUBSCRIBE, smessage */
    SP_PS_KINDS
};

/* The words of each kind's commands and frames. */
struct sp_ps_words {
    const char *subscribe, *unsubscribe, *message;
};
extern const struct sp_ps_words sp_ps_words[SP_PS_KINDS];

struct sp_ps_entry;

/* One client subscribed to one name: in the entry's list and the
 * client's. */
struct sp_ps_member {
    TAILQ_ENTRY(sp_ps_member) by_entry;
    TAILQ_ENTRY(sp_ps_member) by_client;
    struct sp_ps_entry       *entry;
    struct sp_conn           *client;
};
TAILQ_HEAD(sp_ps_members, sp_ps_member);

/* A name the worker's clients subscribe to. */
struct sp_ps_entry {
    struct sp_ps_entry   *next;         /* hash chain */
    struct sp_ps_members  members;
    uint32_t              nmembers;
    uint32_t              unconfirmed;  /* (un)subscribes sent, not yet
                                           confirmed by their servers */
    bool                  subscribed;   /* wanted on its server(s) */
    uint8_t               kind;
    int32_t               server;       /* -1: every server */
    uint32_t              hash;
    uint32_t              len;
    char                  name[];
};

/* A client's side: its memberships and counts (session->pubsub). */
struct sp_ps_client {
    struct sp_ps_members  subs;
    uint32_t              count[SP_PS_KINDS];
};

/* A server's subscriber connection and the names whose (un)subscribe
 * confirmations it waits for, in the order they were sent. */
struct sp_ps_conn {
    struct sp_conn       *conn;
    struct sp_ps_entry  **fifo;
    uint32_t              head;
    uint32_t              count;
    uint32_t              cap;
};

/* The pool's (pool->proto_state). */
struct sp_ps_pool {
    struct sp_pool       *pool;
    struct sp_ps_entry  **buckets;
    uint32_t              nbuckets;
    uint32_t              nentries;
    struct sp_ps_conn    *conns;        /* per server */
    struct sp_msg_queue   waiting;      /* SUBSCRIBEs waiting (slink) */
    struct sp_timer       retry;        /* subscriber connections again */
    uint32_t              nclients;     /* clients with a subscription */
    uint32_t              nwanted[SP_PS_KINDS]; /* entries with members */
};

#define SP_PS_RETRY_MS 200


#define SP_PS_RETRY_MS 200

/* sp_redis_pubsub_table.c */
struct sp_ps_entry *sp_ps_find(const struct sp_ps_pool *ps, uint8_t kind,
                               const char *name, uint32_t len);
/* A new entry (no member, not subscribed); NULL: out of memory. */
struct sp_ps_entry *sp_ps_add(struct sp_ps_pool *ps, uint8_t kind,
                              const char *name, uint32_t len);
/* Free e if nobody wants it and no server owes a confirmation for it. */
void sp_ps_maybe_free(struct sp_ps_pool *ps, struct sp_ps_entry *e);

/* Where a name of that kind lives now: its server, or -1 for every one. */
int32_t sp_ps_place(struct sp_pool *pool, uint8_t kind, const char *name,
                    uint32_t len);
/* A member came to or left e: its kind's count of wanted names. */
void sp_ps_members_changed(struct sp_ps_pool *ps, const struct sp_ps_entry *e,
                           bool joined);
/* The worker's pub/sub counters, summed over its pools' (a handful). */
void sp_ps_count(struct sp_ps_pool *ps);
/* The pool's state, made on first use (NULL: out of memory). */
struct sp_ps_pool *sp_ps_pool(struct sp_pool *pool);

/* sp_redis_pubsub.c */
/* (Un)subscribe e on its server(s). */
void sp_ps_send_all(struct sp_ps_pool *ps, struct sp_ps_entry *e,
                    bool subscribe);
/* Which kind a SUBSCRIBE-family request is about. */
uint8_t sp_ps_kind_of(const struct sp_msg *msg);
/* Release the SUBSCRIBEs no longer waiting for a confirmation. */
void sp_ps_wake(struct sp_ps_pool *ps);

/* sp_redis_subscribe.c */
/* The client's memberships (made when asked to; NULL: none, or no
 * memory). */
struct sp_ps_client *sp_ps_client(struct sp_conn *client, bool make);

#endif /* SP_REDIS_PUBSUB_INT_H */

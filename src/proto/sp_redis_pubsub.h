/*
 * sp_redis_pubsub.h — publish/subscribe over a sharded pool, multiplexed.
 *
 * A channel lives on the server its name maps to, as a key would (the
 * pool's hash, distribution and hash_tag), so PUBLISH and every SUBSCRIBE
 * of a channel meet there; a pattern (PSUBSCRIBE) lives on every server,
 * and so does every channel of a `random` pool. Each worker holds at most
 * one subscriber connection per server (RESP2, dedicated: sp_server.h),
 * subscribes a name there once however many of its clients want it, and
 * unsubscribes when the last one leaves. A message read there goes to each
 * subscribed client of the worker by reference to the bytes read (no
 * copy), in the client's protocol: the array as read for RESP2, a push
 * frame for RESP3.
 *
 * A SUBSCRIBE is confirmed to its client once the server has confirmed
 * every name it waits for (a message published after the client saw its
 * confirmation reaches it), with the client's own counts, as redis-server
 * gives them. A lost subscriber connection is made again and its names
 * subscribed again (what was published meanwhile is lost, as for any Redis
 * subscriber whose connection drops).
 *
 * Private to src/proto.
 */
#ifndef SP_REDIS_PUBSUB_H
#define SP_REDIS_PUBSUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sp_conn.h"
#include "sp_msg.h"
#include "sp_pool.h"
#include "sp_redis.h"

/* SUBSCRIBE PSUBSCRIBE SSUBSCRIBE UNSUBSCRIBE PUNSUBSCRIBE SUNSUBSCRIBE
 * (which one: msg->cmd). 0, or -1 when out of memory. */
int sp_redis_pubsub_command(struct sp_conn *client, struct sp_msg *msg);

/* PUBLISH / SPUBLISH: to the channel's server. */
int sp_redis_pubsub_publish(struct sp_conn *client, struct sp_msg *msg);

/* PUBSUB CHANNELS|NUMSUB|NUMPAT|SHARDCHANNELS|SHARDNUMSUB: about the
 * clients subscribed through this proxy, every worker's. */
int sp_redis_pubsub_info(struct sp_conn *client, struct sp_msg *msg);

/* Subscriptions the client holds (all kinds): it is in subscribed mode. */
uint32_t sp_redis_pubsub_count(const struct sp_conn *client);

/* sp_proto.client_waits: a subscriber waits for messages. */
bool sp_redis_pubsub_waits(const struct sp_conn *client);

/* PING of a RESP2 client in subscribed mode: ["pong", arg or ""]. */
int sp_redis_pubsub_ping(struct sp_conn *client, struct sp_msg *msg);

/* The client leaves (close) or RESETs: every subscription dropped. */
void sp_redis_pubsub_client_gone(struct sp_conn *client);

/* sp_proto.pool_free. */
void sp_redis_pubsub_pool_free(struct sp_pool *pool);

/* A subscriber connection read a whole frame: the parser's last reply
 * (its elements recorded). Consumes it. 0, or -1: the stream is broken. */
int sp_redis_pubsub_frame(struct sp_conn *sconn,
                          const struct sp_redis_reply_parser *p);

/* Top-level elements a subscriber connection's frames need recorded. */
#define SP_REDIS_PUBSUB_ELEMS 4

/* A subscriber connection is being freed (closed, failed). */
void sp_redis_pubsub_conn_lost(struct sp_conn *sconn);

/* The answer to another worker's PUBSUB question (sp_ask.h). */
int64_t sp_redis_pubsub_answer(struct sp_worker *worker, const void *question,
                               size_t len, char **out, size_t *outlen);

/* Redis's glob (stringmatchlen): * ? [set] [^set] [a-z] and \ escapes. */
bool sp_redis_glob(const char *pattern, size_t plen, const char *string,
                   size_t slen);

#endif /* SP_REDIS_PUBSUB_H */

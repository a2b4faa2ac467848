/*
 * sp_forward.h — sending requests to servers, for both protocols: a whole
 * request routed by its key, or a multi-key request split into one
 * fragment per server. What differs by protocol (the bytes of a fragment,
 * how replies merge) stays in src/proto; the routing, the connection, the
 * accounting and the "fails at once" path are here, once.
 */
#ifndef SP_FORWARD_H
#define SP_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "sp_msg.h"
#include "sp_pool.h"

/*
 * Queue msg (a request, or a fragment of one) on a connection to server.
 * When server is NULL or no connection can be had, the part fails at once
 * with the pool protocol's error reply (a fragment through
 * sp_msg_part_done, a request as its own reply), counted as a forward error.
 */
void sp_forward_to(struct sp_pool *pool, struct sp_msg *msg,
                   struct sp_server *server);

/* Queue msg on that very connection (a pinned one, or one chosen by
 * sp_forward_conn for requests that must follow each other on one). */
void sp_forward_on(struct sp_conn *sconn, struct sp_msg *msg);

/* A shared connection to server for msg's client (counted as a failure
 * when none can be had: NULL, errno set). */
struct sp_conn *sp_forward_conn(struct sp_pool *pool, const struct sp_msg *msg,
                                struct sp_server *server);

/* The server owning a key held in the request at `key` (offsets relative
 * to the request): in place when it lies in one segment, else a copy. */
struct sp_server *sp_forward_route(struct sp_pool *pool,
                                   const struct sp_msg *msg,
                                   const struct sp_span *key);

/*
 * Split msg by its keys [first, first + n) of msg->ext->nkeys (keys[0],
 * keys[stride], ...; offsets relative to the request): one new fragment
 * per server involved, appended to msg->ext->frags at its first key (with its
 * parent, pool, command and server), its key count raised per key;
 * msg->ext->key_frag tells each key's fragment. A request split in steps
 * (sp_defer.h) calls this once a step, with rising `first`, and sends each
 * step's fragments at once: the servers work while the proxy splits on.
 * The fragments' bytes are the caller's to build. 0, or an errno (ENOMEM;
 * EHOSTUNREACH when a key has no server).
 */
int sp_forward_split(struct sp_pool *pool, struct sp_msg *msg, uint32_t first,
                     const struct sp_span *keys, uint32_t n, uint32_t stride);

/*
 * Send msg to every server of its pool (memcached's flush_all): one
 * fragment per server, each holding the request's own bytes and its
 * noreply, sent at once; msg completes when every one is answered (the
 * protocol's `complete` merges). 0, or ENOMEM (no fragment is left).
 */
int sp_forward_every_server(struct sp_pool *pool, struct sp_msg *msg);

/*
 * Split msg into one fragment per server of the pool, in the pool's order,
 * each to carry the whole request (a command for every server: SCRIPT
 * LOAD, FUNCTION LOAD), each expecting a reply array of nelems elements
 * (its nkeys; 0: no elements recorded). The fragments' bytes are the
 * caller's to build; send them with sp_forward_fragments, between
 * sp_forward_split_begin and _end as a split. 0, or ENOMEM.
 */
int sp_forward_every(struct sp_pool *pool, struct sp_msg *msg,
                     uint32_t nelems);

/* Send the fragments of msg from index `first` on (counted in the pool's
 * `fragments`, and in msg->pending before any is sent). */
void sp_forward_fragments(struct sp_pool *pool, struct sp_msg *msg,
                          uint32_t first);

/*
 * A split counts as one part of its own request (msg->pending) from begin
 * to end, so fragments that are answered (or fail at once) while later
 * ones are still being built never complete it early; end may complete it
 * (sp_msg_part_done). A split that fails sets msg->error and ends: the
 * request gets that error once its fragments in flight are answered.
 */
void sp_forward_split_begin(struct sp_msg *msg);
void sp_forward_split_end(struct sp_worker *worker, struct sp_msg *msg);

/*
 * The first failed fragment decides the reply, as in nutcracker: its error
 * text, or its server's error reply. Returns true (reply set) if one failed.
 */
bool sp_forward_failed_part(struct sp_msg *msg);

/*
 * Send msg (a request or a fragment that was answered with a redirection
 * and has left its server's queues) again, to server (NULL: it fails as a
 * lost key would), after `pre` (len bytes, e.g. ASKING) on the same
 * connection when pre is set. Its reply so far is dropped.
 */
void sp_forward_again(struct sp_pool *pool, struct sp_msg *msg,
                      struct sp_server *server, const void *pre,
                      uint32_t len);

/* sp_forward_route, and the key's cluster slot in *slot (a cluster pool). */
struct sp_server *sp_forward_route_slot(struct sp_pool *pool,
                                        const struct sp_msg *msg,
                                        const struct sp_span *key,
                                        uint16_t *slot);

/* Whether a fan-out to every server includes server (a cluster pool: its
 * primaries only). */
bool sp_forward_member(struct sp_pool *pool, const struct sp_server *server);

#endif /* SP_FORWARD_H */

/*
 * sp_redis_proxy.h — what the Redis proxy's files share (inside src/proto):
 * the request's arguments, reply builders, and the handlers beside the
 * dispatch in sp_redis_proxy.c: routing by every key (sp_redis_route.c),
 * every-server commands (sp_redis_fanout_all.c), refusals
 * (sp_redis_refuse.c) and the COMMAND family (sp_redis_command.c).
 */
#ifndef SP_REDIS_PROXY_H
#define SP_REDIS_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include "sp_conn.h"
#include "sp_msg.h"
#include "sp_parse.h"
#include "sp_redis.h"

struct sp_pool;
struct sp_server;
struct sp_worker;

/* A formatted reply (at most 255 bytes) as msg's whole reply. 0 / -1. */
int sp_reply_text(struct sp_msg *msg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- the request's arguments (sp_redis_args.c) ----------------------------- */

/*
 * The spans of n arguments from request offset *off (at a '$'); *off moves
 * past them. -1: the bytes are not the multibulk the parser passed.
 */
int sp_redis_scan_args(const struct sp_msg *msg, uint64_t *off,
                       struct sp_span *args, uint32_t n);

/* The offset of the first argument after the command name. -1: as above. */
int sp_redis_first_arg(const struct sp_msg *msg, uint64_t *off);

/* The spans of every argument of the request (nargs, the name first),
 * relative to its start. 0 / -1. */
int sp_redis_request_args(const struct sp_msg *msg, uint32_t nargs,
                          struct sp_span *argv);

/* The same for a request whose count the caller does not know: the spans
 * of its first `cap` arguments into argv, and args made a reader over
 * them (sp_redis_arg_*). Returns the request's number of arguments (may
 * exceed cap; args->argc does not), -1 when it is not a multibulk. */
int64_t sp_redis_args_read(const struct sp_msg *msg, struct sp_span *argv,
                           uint32_t cap, struct sp_redis_args *args);

/* Every argument of the request, in the worker's argument array (grown
 * as needed; valid until the next use of it). The count, -1 as above or
 * out of memory. */
int64_t sp_redis_args_all(struct sp_worker *worker, const struct sp_msg *msg,
                          struct sp_redis_args *args);

/* ---- routing by every key (sp_redis_route.c) ------------------------------ */

/*
 * A FORWARD request whose row is MULTIKEY, BLOCK_OPTION, BLOCKING or
 * NOKEY_FIRST: its keys found from the key specs, sent to the server they
 * all map to (a call that may block: on a connection lent to the client,
 * sp_redis_block.c), refused with -CROSSSERVER when they map to several
 * (nothing is sent); no key (or keys Redis would refuse to find): the
 * pool's first server (NOKEY_FIRST) or the empty key's. 0 / -1.
 */
/*
 * The one server every key of the request maps to: SP_ROUTE_OK with *out
 * (NULL when it has no key), SP_ROUTE_CROSS when its keys map to more than
 * one, SP_ROUTE_LOST when a key has no server, SP_ROUTE_REPLIED when msg
 * got its reply here (refused, out of memory).
 */
enum { SP_ROUTE_OK, SP_ROUTE_CROSS, SP_ROUTE_LOST, SP_ROUTE_REPLIED };
int sp_redis_route_keys(struct sp_conn *client, struct sp_msg *msg,
                        const struct sp_redis_req_parser *p,
                        struct sp_server **out);

/* Where a request with no key goes (the first server, or the empty key's). */
struct sp_server *sp_redis_route_keyless(struct sp_pool *pool,
                                         const struct sp_redis_command *cmd);

/* Send msg to server, or on the client's pinned connection when that is
 * the server it is pinned to (WATCH). */
void sp_redis_forward_to(struct sp_conn *client, struct sp_msg *msg,
                         struct sp_server *server);

int sp_redis_forward_keys(struct sp_conn *client, struct sp_msg *msg,
                          const struct sp_redis_req_parser *p);

/* ---- every server (sp_redis_fanout_all.c) --------------------------------- */

/* An ALL request: the whole request to every server of the pool. 0 / -1. */
int sp_redis_fanout_all(struct sp_conn *client, struct sp_msg *msg,
                        const struct sp_redis_req_parser *p);

/* Merge the replies of an ALL request by its row's FIRST or AND merge (no
 * part failed). True: the reply is done. */
bool sp_redis_merge_all(struct sp_worker *worker, struct sp_msg *msg);

/* ---- the whole keyspace (sp_redis_keyspace.c) ------------------------------ */

/* SCAN: one server's part of the walk, by the cursor. 0 / -1. */
int sp_redis_scan(struct sp_conn *client, struct sp_msg *msg,
                  const struct sp_redis_req_parser *p);

/* The reply of SCAN, KEYS (merge CONCAT) or RANDOMKEY (merge RANDOM) from
 * its servers' (no part failed). True: done. */
bool sp_redis_merge_keyspace(struct sp_msg *msg);

/* ---- refusals (sp_redis_refuse.c) ------------------------------------------ */

#define SP_REDIS_CROSSSERVER \
    "-CROSSSERVER Keys in request don't hash to the same server\r\n"

/* Whether the parsed request is refused (unknown command or subcommand, a
 * row the proxy does not serve). */
bool sp_redis_is_refused(const struct sp_redis_req_parser *p);

/* Refuse it: the reply that says why, counted. 0 / -1. */
int sp_redis_refuse(struct sp_conn *client, struct sp_msg *msg,
                    const struct sp_redis_req_parser *p);

/* Refuse a request whose keys map to several servers, counted. 0 / -1. */
int sp_redis_refuse_crossserver(struct sp_conn *client, struct sp_msg *msg,
                                const struct sp_redis_command *cmd);

/* The name of refusal number id (sp_proto's refused_name). */
const char *sp_redis_refused_name(uint32_t id);

/* ---- COMMAND (sp_redis_command.c) ------------------------------------------ */

/*
 * COMMAND [COUNT | INFO [name ...] | DOCS [name ...] | GETKEYS cmd args... |
 * LIST [FILTERBY ...]] answered from the table, in the client's protocol
 * (2 or 3): for the commands the proxy serves, the bytes redis-server
 * answers. 0 / -1.
 */
int sp_redis_command_reply(struct sp_conn *client, struct sp_msg *msg,
                           const struct sp_redis_req_parser *p, int proto);

#endif /* SP_REDIS_PROXY_H */

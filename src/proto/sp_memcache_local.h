/*
 * sp_memcache_local.h — what the proxy answers a memcached client itself:
 * quit, mn, version, stats and verbosity; and its refusal of a client that
 * speaks the binary protocol.
 */
#ifndef SP_MEMCACHE_LOCAL_H
#define SP_MEMCACHE_LOCAL_H

#include <stddef.h>
#include <stdint.h>

struct sp_conn;
struct sp_memcache_req_parser;
struct sp_msg;

/*
 * Answer msg, a command of kind SP_MEMCACHE_LOCAL whose line the parser
 * found sound (p->error NULL). 0, or -1 when out of memory (close the
 * client).
 */
int sp_memcache_local(struct sp_conn *client, struct sp_msg *msg,
                      const struct sp_memcache_req_parser *p);

/*
 * The client sent a binary-protocol request, req[0..len) from its magic on
 * (as much as this read holds): log it once, answer it in binary
 * ("Unknown command", its opcode and opaque echoed) after every reply owed,
 * and close. Returns -1 (stop reading the client).
 */
int sp_memcache_refuse_binary(struct sp_conn *client, const uint8_t *req,
                              size_t len);

#endif /* SP_MEMCACHE_LOCAL_H */

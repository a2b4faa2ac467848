/*
 * sp_route.h — from a key to the index of the server that owns it.
 *
 * A router joins what placement needs of one pool: the hash function, the
 * optional two-character hash tag, and the distribution table. It follows
 * nutcracker 0.5's server_pool_idx step for step:
 *   1. hash_tag "XY": if the key holds X, and after it Y with at least one
 *      byte between them, only the bytes between are hashed;
 *   2. a pool of one server, or an empty key, hashes to 0 without calling
 *      the hash function;
 *   3. the distribution maps the hash to a server index.
 * Random pools draw from the router's own xorshift state.
 */
#ifndef SP_ROUTE_H
#define SP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sp_dist.h"
#include "sp_hash.h"

struct sp_router {
    sp_hash_fn     hash;
    uint8_t        tag[2];
    bool           has_tag;
    uint32_t       nservers;    /* configured, live or not */
    uint64_t       rng;         /* xorshift64 state for SP_DIST_RANDOM */
    struct sp_dist dist;
};

/*
 * Set up a router for n servers; tag is NULL or two bytes. The distribution
 * table starts empty: call sp_router_rebuild before routing.
 */
void sp_router_init(struct sp_router *router, sp_hash_type_t hash,
                    sp_dist_type_t dist, const char *tag, uint32_t nservers,
                    uint64_t seed);
void sp_router_free(struct sp_router *router);

/* Rebuild the distribution from the servers' current liveness. */
int sp_router_rebuild(struct sp_router *router,
                      const struct sp_dist_server *servers);

/* The slice of the key that is hashed (the tag's contents, or all of it). */
void sp_router_hash_input(const struct sp_router *router, const uint8_t *key,
                          size_t len, const uint8_t **in, size_t *in_len);

/* The hash nutcracker computes for this key in this pool. */
uint32_t sp_router_hash(const struct sp_router *router, const uint8_t *key,
                        size_t len);

/*
 * The owning server's index, or -1 when no server is live. Not const:
 * random pools advance the router's PRNG.
 */
int64_t sp_router_route(struct sp_router *router, const uint8_t *key,
                        size_t len);

#endif /* SP_ROUTE_H */

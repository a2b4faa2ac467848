/*
 * sp_route.c — key -> server index for one pool (see sp_route.h).
 */
#include "sp_route.h"

#include <string.h>

void
sp_router_init(struct sp_router *router, sp_hash_type_t hash,
               sp_dist_type_t dist, const char *tag, uint32_t nservers,
               uint64_t seed)
{
    memset(router, 0, sizeof(*router));
    router->hash = sp_hash_function(hash);
    if (tag != NULL) {
        router->tag[0] = (uint8_t)tag[0];
        router->tag[1] = (uint8_t)tag[1];
        router->has_tag = true;
    }
    router->nservers = nservers;
    router->rng = seed != 0 ? seed : UINT64_C(0x9e3779b97f4a7c15);
    sp_dist_init(&router->dist, dist);
}

void
sp_router_free(struct sp_router *router)
{
    sp_dist_free(&router->dist);
}

int
sp_router_rebuild(struct sp_router *router, const struct sp_dist_server *servers)
{
    return sp_dist_build(&router->dist, servers, router->nservers);
}

void
sp_router_hash_input(const struct sp_router *router, const uint8_t *key,
                     size_t len, const uint8_t **in, size_t *in_len)
{
    *in = key;
    *in_len = len;
    if (!router->has_tag) {
        return;
    }

    const uint8_t *start = memchr(key, router->tag[0], len);
    if (start == NULL) {
        return;
    }
    const uint8_t *after = start + 1;
    const uint8_t *end = memchr(after, router->tag[1],
                                len - (size_t)(after - key));
    if (end != NULL && end > after) {
        *in = after;
        *in_len = (size_t)(end - after);
    }
}

uint32_t
sp_router_hash(const struct sp_router *router, const uint8_t *key, size_t len)
{
    const uint8_t *in;
    size_t in_len;

    if (router->nservers == 1) {
        return 0;
    }
    sp_router_hash_input(router, key, len, &in, &in_len);
    if (in_len == 0) {
        return 0;
    }
    return router->hash(in, in_len);
}

static uint32_t
sp_router_random(struct sp_router *router)
{
    uint64_t x = router->rng;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    router->rng = x;
    return (uint32_t)(x >> 32);
}

int64_t
sp_router_route(struct sp_router *router, const uint8_t *key, size_t len)
{
    uint32_t hash;

    if (sp_dist_empty(&router->dist)) {
        return -1;
    }
    if (router->dist.type == SP_DIST_RANDOM) {
        hash = sp_router_random(router);
    } else {
        hash = sp_router_hash(router, key, len);
    }
    return sp_dist_dispatch(&router->dist, hash);
}

/*
 * sp_client_parse.h — a client's request parser state, lent by the worker
 * only while a request is partly read.
 *
 * Parser state is ~300 bytes (the parser and the key positions it records)
 * and a client needs it only between the first and the last byte of a
 * request. At a request boundary the state is nothing but the stream
 * offset, so the client hands it back (sp_client.c) and an idle client
 * holds none: 10,000 idle app-server connections cost their connection
 * objects alone. The states recycle through a free list trimmed like the
 * buffers' (sp_trim.h), so steady state allocates nothing.
 */
#ifndef SP_CLIENT_PARSE_H
#define SP_CLIENT_PARSE_H

#include <stdint.h>

#include "sp_memcache.h"
#include "sp_redis.h"
#include "sp_trim.h"

#define SP_CLIENT_PARSE_KEYS 4      /* keys the parser records (routing) */

struct sp_client_parse {
    union {
        struct sp_redis_req_parser      req;    /* redis pools */
        struct sp_memcache_req_parser   mreq;   /* memcache pools */
    } parser;
    struct sp_span keys[SP_CLIENT_PARSE_KEYS];
    struct sp_client_parse *free_next;
};

struct sp_client_parse_pool {
    struct sp_client_parse *free;
    uint32_t                nfree;
    uint32_t                nused;      /* lent to clients now */
    uint64_t                nalloc;     /* states ever allocated */
    struct sp_trim          trim;       /* what stayed unused */
};

void sp_client_parse_pool_init(struct sp_client_parse_pool *pool);

/* A state from the free list (or a new one). NULL: ENOMEM. */
struct sp_client_parse *sp_client_parse_get(struct sp_client_parse_pool *pool);

void sp_client_parse_put(struct sp_client_parse_pool *pool,
                         struct sp_client_parse *ps);

/* End a trim period (the worker's tick): free what stayed unused, less keep. */
void sp_client_parse_trim(struct sp_client_parse_pool *pool, uint32_t keep);

/* Free every state on the free list (worker exit). */
void sp_client_parse_free_all(struct sp_client_parse_pool *pool);

#endif /* SP_CLIENT_PARSE_H */
